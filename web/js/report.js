/*
 * The report page (/report): /api/v1/report with the same filters as
 * `edlstation report` (since, until, package, slot, by), kept in the URL so
 * a report can be bookmarked or sent. Draws the figures (units, yields,
 * rates, flashing time), the failure Pareto (a bar per entry, most first,
 * and the cumulative share as a line on the right axis), the failure rate of
 * each slot (flagged slots hatched and labelled FLAGGED, the test named
 * below), units and first-pass yield per bucket, the failed units (each a
 * link to its unit page) and the packages.
 */
import {getJSON, withQuery} from './api.js';
import {comboChart, legend} from './charts.js';
import {bytes, clear, duration, h, isNum, num, pct, setText, str, when} from './dom.js';

const $ = (id) => document.getElementById(id);
const FILTERS = ['since', 'until', 'package', 'slot', 'by'];

function filtersFromURL() {
	const q = new URLSearchParams(location.search);
	const f = {};
	for (const k of FILTERS)
		f[k] = q.get(k) || '';
	return f;
}

function fillForm(f) {
	const form = $('filters');
	for (const k of FILTERS)
		form.elements[k].value = f[k];
}

function figure(value, key) {
	return h('div', {class: 'figure'}, h('span', {class: 'n'}, value),
	         h('span', {class: 'k'}, key));
}

function drawFigures(r) {
	const box = $('figures');
	clear(box);
	const d = r.duration_ms || {};
	box.append(figure(num(r.units), 'units'), figure(num(r.passed_units), 'passed units'),
	           figure(num(r.failed_units), 'failed units'),
	           figure(pct(r.first_pass_yield), 'first-pass yield'),
	           figure(pct(r.final_yield), 'final yield'),
	           figure(num(r.good_units_per_hour, 1), 'good units per hour'),
	           figure(num(r.units_per_hour, 1), 'units per hour'),
	           figure(num(r.retests), 'retests'),
	           figure(`${duration(d.p50)} / ${duration(d.p95)}`, 'flashing time p50 / p95'),
		   figure(isNum(r.throughput_mbps) ? `${r.throughput_mbps.toFixed(1)} MB/s` : '-',
			  'throughput'));
	const w = r.window || {};
	setText($('window'),
	        `window ${when(w.start)} \u2013 ${when(w.end)} (${num(w.hours, 1)} h)`);
}

function shortError(e) {
	return str(e, '').replace(/^EDL_E_/, '').toLowerCase().replace(/_/g, ' ');
}

function paretoBar(p) {
	const what = `${str(p.stage)} ${str(p.error)} (${str(p.class)})`;
	const share = `${pct(p.share)} of failures, ${pct(p.cumulative_share)} cumulative`;
	return {
		label: `${str(p.stage, '?')}: ${shortError(p.error) || '?'}`,
		value: isNum(p.count) ? p.count : 0,
		cls: 'failure pareto-bar',
		title: `${what}: ${num(p.count)} runs, ${share}`,
	};
}

function drawPareto(r) {
	const list = r.failure_pareto || [];
	const box = $('pareto');
	clear(box);
	box.append(comboChart({
		bars: list.map(paretoBar),
		line: list.map((p) => p.cumulative_share),
		lineClass: 'cumulative',
		title: 'failure Pareto: runs per failure, most first, and the cumulative share',
		yLabel: 'failed runs',
		y2Label: 'cumulative share',
		rotate: true,
		height: 460,
		whole: true,
		cls: 'pareto',
		empty: 'no failures in this window',
	}));
	box.append(legend([
		{cls: 'failure', text: 'failed runs'},
		{cls: 'cumulative', text: 'cumulative share', line: true}
	]));
}

function slotBar(x) {
	const label = str(x.label || x.port || (isNum(x.slot) ? `#${x.slot}` : ''), '?');
	const p = isNum(x.p_value) ? x.p_value.toPrecision(3) : '-';
	const what = `${num(x.failures)} of ${num(x.runs)} runs failed (${pct(x.failure_rate)})`;
	return {
		label,
		value: isNum(x.failure_rate) ? x.failure_rate : 0,
		valueText: pct(x.failure_rate, 0),
		cls: 'rate slot-bar' + (x.flagged ? ' flagged' : ''),
		mark: x.flagged ? 'FLAGGED' : undefined,
		title: `${label} (${str(x.port)}): ${what}, p = ${p}` +
			       (x.flagged ? ', FLAGGED' : ''),
	};
}

function drawSlots(r) {
	const list = r.by_slot || [];
	const box = $('slots');
	clear(box);
	const maxRate =
	        Math.max(0, ...list.map((x) => (isNum(x.failure_rate) ? x.failure_rate : 0)));
	const yMax = maxRate <= 0 ? 0.1 : Math.min(1, Math.ceil(maxRate * 10) / 10);
	box.append(comboChart({
		bars: list.map(slotBar),
		yMax,
		yFormat: (v) => `${Math.round(100 * v)}%`,
		title: 'failure rate per slot; flagged slots fail significantly more than the others',
		yLabel: 'failure rate',
		height: 460,
		rotate: list.length > 12,
		cls: 'slots',
		empty: 'no slot has runs in this window',
	}));
	const t = r.slot_test || {};
	const flagged = list.filter((x) => x.flagged).map((x) => x.label || x.port);
	const threshold = isNum(t.threshold) ? t.threshold.toPrecision(2) : '-';
	const tested = `${num(t.min_runs)} runs (${num(t.slots_tested)} tested)`;
	const verdict = flagged.length ? `FLAGGED: ${flagged.join(', ')}.` : 'No slot is flagged.';
	const test = 'Flag: one-sided Fisher\'s exact test of a slot against all others';
	setText($('slot-test'),
	        `${test}, slots with at least ${tested}, flagged when p < ${threshold}. ` +
			verdict);
}

function bucketBar(b) {
	const what = `${num(b.units)} units, ${num(b.passed_units)} passed`;
	return {
		label: when(b.start).slice(5, 16),
		value: isNum(b.units) ? b.units : 0,
		cls: 'units',
		title: `${when(b.start)}: ${what}, FPY ${pct(b.first_pass_yield)}`,
	};
}

function drawBuckets(r) {
	const list = r.buckets || [];
	const box = $('buckets');
	clear(box);
	setText($('buckets-title'),
	        `units and first-pass yield per ${r.bucket === 'shift' ? 'shift' : 'hour'}`);
	box.append(comboChart({
		bars: list.map(bucketBar),
		line: list.map((b) => b.first_pass_yield),
		lineClass: 'yield',
		width: 1600,
		height: 320,
		title: 'units and first-pass yield per bucket',
		yLabel: 'units',
		y2Label: 'first-pass yield',
		whole: true,
		empty: 'no units in this window',
	}));
	box.append(legend([
		{cls: 'units', text: 'units'}, {cls: 'yield', text: 'first-pass yield', line: true}
	]));
}

function table(node, heads, rows) {
	clear(node);
	node.append(h('thead', {}, h('tr', {}, heads.map((x) => h('th', {}, x)))));
	const body = h('tbody');
	for (const cells of rows)
		body.append(h('tr', {}, cells));
	if (rows.length === 0)
		body.append(h('tr', {}, h('td', {class: 'note', colspan: heads.length}, 'none')));
	node.append(body);
}

const FAILED_SHOWN = 200; /* more is a job for `edlstation report --format csv` */

function failedRow(f) {
	const serial = str(f.serial, '');
	const result = str(f.result, '');
	const link = h('a', {href: `/unit/${encodeURIComponent(serial)}`}, str(f.serial));
	return [
		h('td', {class: 'mono nw'}, link),
		h('td', {class: 'nw'}, when(f.start)),
		h('td', {class: 'nw'}, str(f.slot)),
		h('td', {class: 'nw'},
		  h('span', {class: `result ${result}`}, result.toUpperCase())),
		h('td', {}, str(f.stage)),
		h('td', {class: 'mono'}, str(f.error)),
		h('td', {}, str(f.class)),
		h('td', {class: 'msg'}, str(f.message)),
		h('td', {class: 'action-cell'}, str(f.action)),
	];
}

function drawFailed(r) {
	const list = r.failed || [];
	const heads = ['serial', 'started', 'slot', 'result', 'stage', 'error', 'class', 'message'];
	table($('failed'), [...heads, 'action'], list.slice(0, FAILED_SHOWN).map(failedRow));
	const more = list.length - FAILED_SHOWN;
	setText($('failed-more'),
	        more > 0 ? `${more} more not shown: edlstation report --format csv lists them all`
		         : '');
}

function packageRow(p) {
	return [
		h('td', {}, str(p.name)),
		h('td', {}, str(p.version)),
		h('td', {class: 'mono'}, str(p.path)),
		h('td', {class: 'mono'}, str(p.manifest_hash, '').slice(0, 12)),
		h('td', {class: 'n'}, num(p.runs)),
		h('td', {class: 'n'}, num(p.passes)),
		h('td', {class: 'n'}, num(p.failures)),
	];
}

function drawPackages(r) {
	const heads = ['name', 'version', 'path', 'manifest hash', 'runs', 'passes', 'failures'];
	table($('packages'), heads, (r.packages || []).map(packageRow));
}

function productRow(p) {
	return [
		h('td', {}, str(p.product)),
		h('td', {class: 'n'}, num(p.units)),
		h('td', {class: 'n'}, num(p.passed_units)),
		h('td', {class: 'n'}, num(p.failed_units)),
		h('td', {class: 'n'}, pct(p.first_pass_yield)),
		h('td', {class: 'n'}, pct(p.final_yield)),
		h('td', {class: 'n'}, num(p.runs)),
	];
}

/* Per product, when the report gives them (stations that record a product). */
function drawProducts(r) {
	const list = Array.isArray(r.products) ? r.products : [];
	$('products-box').hidden = list.length === 0;
	const heads =
	        ['product', 'units', 'passed', 'failed', 'first-pass yield', 'final yield', 'runs'];
	table($('products'), heads, list.map(productRow));
}

async function load() {
	const f = filtersFromURL();
	fillForm(f);
	document.body.dataset.loaded = 'loading';
	const r = await getJSON(withQuery('/api/v1/report', f), 15000);
	if (!r.ok) {
		setText($('error-text'), r.error);
		$('error').hidden = false;
		document.body.dataset.loaded = 'error';
		return;
	}
	$('error').hidden = true;
	const d = r.data || {};
	drawFigures(d);
	drawPareto(d);
	drawSlots(d);
	drawBuckets(d);
	drawFailed(d);
	drawPackages(d);
	drawProducts(d);
	window.edlReport = d;
	document.body.dataset.loaded = 'yes';
}

$('filters').addEventListener('submit', (ev) => {
	ev.preventDefault();
	const form = ev.target, f = {};
	for (const k of FILTERS)
		f[k] = form.elements[k].value;
	history.pushState(null, '', withQuery('/report', f));
	load();
});
window.addEventListener('popstate', load);
load();
