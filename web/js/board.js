/*
 * The line board (/): every slot of the port map as a tile, the totals (FPY
 * so far, good units per hour), the last failures and a units-per-hour and
 * yield chart over the shift. The chart is the report's hourly buckets since
 * the shift began (8 h shifts from 06:00, 14:00, 22:00 UTC, as `report --by
 * shift`), this station only, so it survives a station restart; it is
 * re-read when units finish (at most every 3 s) and every minute, and falls
 * back to /state's own per-hour series when the report cannot be read.
 *
 * It reads /api/v1/state, then follows /api/v1/events: every event that carries a slot's tile
 * (station events and slot changes, at most 4 a second per slot) redraws that tile at once; a
 * station event also asks for a fresh /state (at most one request in flight,
 * at most ~3 a second) for the totals, the failures and the chart. A /state
 * older than a tile's last event (its seq) leaves that tile alone. Elapsed
 * time ticks locally between events; /state is re-read every 10 s as a net.
 * Tiles are built once and patched in place (only what changed), so a DOM
 * mutation on a tile means the slot changed.
 */
import {getJSON, withQuery} from './api.js';
import {comboChart, legend} from './charts.js';
import {clear, clock, duration, h, isNum, num, pct, setClass, setText, str} from './dom.js';
import {connect} from './live.js';
import {normalizeSlot, STATES, stateWords} from './slots.js';

const $ = (id) => document.getElementById(id);
const tiles = new Map(); /* slot key (port) -> {node, parts, slot, baseAt} */
let lastState = null;
let refreshPending = null, refreshInFlight = false, refreshAgain = false;
let stateSeq = 0, appliedSeq = 0;
let live = null;

/* ---- tiles --------------------------------------------------------------------------- */

function newTile(slot) {
	const parts = {
		label: h('span', {class: 'label'}),
		port: h('span', {class: 'port'}),
		icon: h('span', {class: 'icon', 'aria-hidden': 'true'}),
		word: h('span', {class: 'word'}),
		serial: h('a', {class: 'serial'}),
		stage: h('div', {class: 'stage'}),
		fill: h('div', {class: 'fill'}),
		mbps: h('span', {class: 'mbps'}),
		elapsed: h('span', {class: 'elapsed'}),
		detail: h('div', {class: 'detail'}),
		reason: h('div', {class: 'reason'}),
		action: h('div', {class: 'action'}),
	};
	parts.bar = h('div', {class: 'bar'}, parts.fill);
	parts.nums = h('div', {class: 'nums'}, parts.mbps, parts.elapsed);
	const node =
	        h('article', {class: 'tile idle', 'data-port': slot.port, 'data-label': slot.label},
	          h('header', {}, parts.label, parts.port),
	          h('div', {class: 'state'}, parts.icon, parts.word),
	          h('div', {class: 'who'}, parts.serial, parts.stage), parts.bar, parts.nums,
	          parts.detail, parts.reason, parts.action);
	return {node, parts, slot, baseAt: performance.now()};
}

function elapsedNow(t) {
	const ms = t.slot.elapsed_ms;
	if (!isNum(ms))
		return null;
	return t.slot.state === 'running' ? ms + (performance.now() - t.baseAt) : ms;
}

function drawTile(t) {
	const v = t.slot, p = t.parts, st = STATES[v.state];
	setClass(t.node, `tile ${st.cls}`);
	t.node.dataset.state = v.state;
	t.node.dataset.serial = v.serial;
	setText(p.label, v.label);
	setText(p.port, v.port !== v.label ? v.port : '');
	setText(p.icon, st.icon);
	const words = stateWords(v);
	setText(p.word, words);
	/* The state block as big as the tile's width allows for its words. */
	const chars =
	        String(v.state === 'idle' ? 16 : Math.max(words.length + (st.icon ? 1.6 : 0), 5));
	if (t.node.style.getPropertyValue('--chars') !== chars)
		t.node.style.setProperty('--chars', chars);
	setText(p.serial, v.serial ? `SN ${v.serial}` : v.state === 'idle' ? 'no unit' : '');
	if (v.serial)
		p.serial.setAttribute('href', `/unit/${encodeURIComponent(v.serial)}`);
	else
		p.serial.removeAttribute('href');
	setText(p.stage, v.stage && v.state !== 'idle' ? v.stage : '');
	const running = v.state === 'running';
	p.bar.hidden = !running;
	p.nums.hidden = !running;
	if (running) {
		const w = `${Math.max(0, Math.min(100, v.percent || 0)).toFixed(1)}%`;
		if (p.fill.style.width !== w)
			p.fill.style.width = w;
		setText(p.mbps, isNum(v.mbps) ? `${v.mbps.toFixed(1)} MB/s` : '- MB/s');
		setText(p.elapsed, duration(elapsedNow(t)));
	}
	let detail = '';
	if (v.state === 'pass')
		detail = 'passed in ' + duration(v.elapsed_ms); /* verified or not: as configured */
	else if (st.failed)
		detail = [v.cls, v.error].filter(Boolean).join(' \u00b7 ');
	setText(p.detail, detail);
	setText(p.reason, st.failed ? v.message || 'failed' : '');
	setText(p.action, st.failed && v.action ? `do: ${v.action}` : '');
	p.reason.hidden = !st.failed;
	p.action.hidden = !(st.failed && v.action);
}

/* The grid's columns: the biggest tiles that fit the board's box for n slots. */
function layoutTiles() {
	const box = $('tiles');
	const n = Math.max(1, tiles.size);
	const W = box.clientWidth || 1200, H = box.clientHeight || 800;
	let best = 1, bestSize = 0;
	for (let cols = 1; cols <= n; cols++) {
		const rows = Math.ceil(n / cols);
		const w = W / cols, hh = H / rows;
		const size = Math.min(w, hh); /* squarish tiles read best */
		if (size > bestSize) {
			bestSize = size;
			best = cols;
		}
	}
	box.style.setProperty('--cols', best);
	box.style.setProperty('--rows', Math.ceil(n / best));
}

function applySlots(list, stateSeqOf) {
	const box = $('tiles');
	const seen = new Set();
	let changedSet = false;
	list.forEach((raw, i) => {
		const slot = normalizeSlot(raw);
		seen.add(slot.key);
		let t = tiles.get(slot.key);
		if (t === undefined) {
			t = newTile(slot);
			tiles.set(slot.key, t);
			changedSet = true;
		}
		/* A tile event newer than this state wins (the state was read before it). */
		if (!(isNum(stateSeqOf) && t.seq > stateSeqOf)) {
			t.slot = slot;
			t.baseAt = performance.now();
		}
		if (box.children[i] !== t.node)
			box.insertBefore(t.node, box.children[i] || null);
		drawTile(t);
	});
	for (const [key, t] of tiles) {
		if (!seen.has(key)) {
			t.node.remove();
			tiles.delete(key);
			changedSet = true;
		}
	}
	if (changedSet)
		layoutTiles();
}

/* An event's tile (the slot's whole JSON, as in /state): that tile now. */
function applyTile(tile, seq) {
	const slot = normalizeSlot(tile);
	const t = tiles.get(slot.key);
	if (t === undefined) {
		scheduleRefresh(0); /* a slot the board has not seen: read them all */
		return;
	}
	if (isNum(seq) && isNum(t.seq) && seq < t.seq)
		return; /* a replayed older event */
	t.slot = slot;
	t.seq = isNum(seq) ? seq : t.seq;
	t.baseAt = performance.now();
	drawTile(t);
}

function tick() {
	for (const t of tiles.values())
		if (t.slot.state === 'running')
			setText(t.parts.elapsed, duration(elapsedNow(t)));
	setText($('clock'), new Date().toLocaleTimeString());
}

/* ---- header, totals, failures, chart ------------------------------------------------- */

function packageText(p) {
	if (!p)
		return '-';
	if (typeof p === 'string')
		return p;
	const name = p.name || (p.path ? String(p.path).replace(/\/+$/, '').split('/').pop() : '');
	return [name, p.version].filter(Boolean).join(' ') || '-';
}

function drawHeader(d) {
	const station =
	        typeof d.station === 'object' && d.station !== null ? d.station.name : d.station;
	setText($('station'), str(station, 'edlstation'));
	setText($('package'), packageText(d.package));
	document.title = `${str(station, 'edlstation')} \u2014 line board`;
	const line = d.line || {};
	const stopped = line.state === 'stopped' || line.stopped === true;
	$('line-stop').hidden = !stopped;
	if (stopped) {
		setText($('line-reason'), `LINE STOPPED: ${str(line.reason, 'stopped')}`);
		setText($('line-check'), `check: ${str(line.check, 'the failures listed')}`);
	}
	document.body.classList.toggle('stopped', stopped);
	/* As the terminal board's "(stopping)": the station ends once its units are done. */
	setText($('line-note'), line.state === 'stopping' ? 'stopping: taking no new units' : '');
}

function total(tt, ...keys) {
	for (const k of keys)
		if (tt && isNum(tt[k]))
			return tt[k];
	return null;
}

function drawTotals(d) {
	const tt = d.totals || {};
	const set = (id, v) => setText($(id), v);
	set('t-passed', num(total(tt, 'passed')));
	set('t-failed', num(total(tt, 'failed')));
	set('t-finished', num(total(tt, 'finished')));
	set('t-running', num(total(tt, 'in_flight', 'running')));
	set('t-fpy', pct(total(tt, 'first_pass_yield', 'fpy')));
	set('t-goodh', num(total(tt, 'good_units_per_hour', 'good_per_hour'), 0));
	const nr = total(tt, 'not_recorded');
	set('t-notrec', num(nr));
	$('t-notrec-box').hidden = !(nr > 0);
	/* Results not yet where they belong: kept by the store, owed to the MES or
	 * the factory database. Shown only when there are some. */
	const backlog = d.backlog || {};
	const names = {
		store_kept: 'results kept, not yet committed',
		mes_pending: 'results owed to the MES',
		factory_sync_pending: 'runs not yet synced to the factory'
	};
	const parts = [];
	for (const [k, v] of Object.entries(backlog))
		if (isNum(v) && v > 0)
			parts.push(`${v} ${names[k] || k.replace(/_/g, ' ')}`);
	setText($('backlogs'), parts.join(' \u00b7 '));
}

function failureItem(f) {
	const serial = str(f.serial, '');
	const href = `/unit/${encodeURIComponent(serial)}`;
	const who = serial ? h('a', {class: 'f-serial', href}, serial)
	                   : h('span', {class: 'f-serial'}, '-');
	return h('li', {class: 'failure'},
	         h('span', {class: 'f-when'}, f.time ? clock(f.time) : ''),
	         h('span', {class: 'f-slot'}, str(f.slot)), who,
	         h('span', {class: 'f-class'}, str(f.class)),
	         h('div', {class: 'f-reason'}, str(f.message, '')),
	         h('div', {class: 'f-action'}, f.action ? `do: ${f.action}` : ''));
}

function drawFailures(d) {
	const list = d.failures || [];
	const ul = $('failures');
	clear(ul);
	setText($('failures-title'), list.length ? 'last failures' : 'failures: none');
	for (const f of list.slice(0, 8))
		ul.append(failureItem(f));
}

function hourBar(b) {
	const what = `${num(b.units)} units, ${num(b.passed)} passed`;
	const fpy = `first-pass yield ${pct(b.first_pass_yield)}`;
	const value = isNum(b.units) ? b.units : 0;
	return {
		label: clock(b.hour),
		value,
		title: `${clock(b.hour)}: ${what}, ${fpy}`,
		cls: 'units'
	};
}

/* The start of the shift now runs in: 06:00, 14:00 or 22:00 UTC. */
export function shiftStart(now) {
	const h = now.getUTCHours();
	const start = h >= 22 ? 22 : h >= 14 ? 14 : h >= 6 ? 6 : -2; /* -2: 22:00 the day before */
	return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), start));
}

let shiftChart = null; /* {buckets, at}: the report's hours of this shift */
let chartReadAt = -1e9, chartFinished = -1, chartReading = false;

async function readShift(station) {
	chartReading = true;
	chartReadAt = performance.now();
	const since = shiftStart(new Date()).toISOString().slice(0, 16) + 'Z';
	const r = await getJSON(withQuery('/api/v1/report', {since, station, by: 'hour'}), 15000);
	chartReading = false;
	shiftChart = r.ok && r.data && Array.isArray(r.data.buckets)
	                     ? {buckets: r.data.buckets, since}
	                     : null;
	if (lastState)
		drawChart(lastState);
}

/* Re-reads the shift when units finished since the last read (at most every
 * 3 s) or a minute has passed. */
let shiftTimer = null;

function maybeReadShift(d) {
	const finished = d.totals && isNum(d.totals.finished) ? d.totals.finished : 0;
	const age = performance.now() - chartReadAt;
	const changed = finished !== chartFinished;
	if (chartReading || shiftTimer !== null || !(age > 60000 || changed))
		return;
	/* At most one report every 3 s: a burst of results costs one read. */
	shiftTimer = setTimeout(() => {
		shiftTimer = null;
		chartFinished = finished;
		readShift(typeof d.station === 'string' ? d.station : '');
	}, Math.max(0, 3000 - age));
}

/* A report bucket in the shape of /state's series. */
function bucketHour(b) {
	return {
		hour: b.start,
		units: b.units,
		passed: b.passed_units,
		first_pass_yield: b.first_pass_yield
	};
}

function drawChart(d) {
	const fromReport = shiftChart !== null;
	const series = fromReport ? shiftChart.buckets.map(bucketHour) : d.series || [];
	const box = $('chart');
	setText($('chart-title'),
	        fromReport ? 'units per hour and first-pass yield, this shift'
	                   : 'units per hour and first-pass yield since the station started');
	const bars = series.map(hourBar);
	const key = JSON.stringify(series);
	if (box.dataset.key === key)
		return;
	box.dataset.key = key;
	clear(box);
	box.append(comboChart({
		bars,
		line: series.map((b) => b.first_pass_yield),
		title: 'units per hour and first-pass yield over the shift',
		yLabel: 'units',
		y2Label: 'yield',
		width: 480,
		height: 210,
		cls: 'small',
		lineClass: 'yield',
		maxLabels: 12,
		whole: true,
		empty: 'no units finished yet this shift'
	}));
	box.append(legend([
		{cls: 'units', text: 'units per hour'},
		{cls: 'yield', text: 'first-pass yield', line: true}
	]));
}

function applyState(d) {
	lastState = d;
	drawHeader(d);
	applySlots(d.slots || [], d.seq);
	drawTotals(d);
	drawFailures(d);
	drawChart(d);
	maybeReadShift(d);
	$('error').hidden = true;
	document.body.dataset.loaded = 'yes';
}

/* ---- reading the state --------------------------------------------------------------- */

async function refresh() {
	refreshPending = null;
	if (refreshInFlight) {
		refreshAgain = true;
		return;
	}
	refreshInFlight = true;
	const mine = ++stateSeq;
	const r = await getJSON('/api/v1/state', 4000);
	refreshInFlight = false;
	if (r.ok && r.data && mine > appliedSeq) {
		appliedSeq = mine;
		applyState(r.data);
	} else if (!r.ok) {
		setText($('error-text'), r.error);
		$('error').hidden = false;
	}
	if (refreshAgain) {
		refreshAgain = false;
		scheduleRefresh(0);
	}
}

let lastRefreshAt = -1e9;

/* At most one /state every 300 ms: a burst of events costs one read. */
function scheduleRefresh(delayMs) {
	if (refreshPending !== null)
		return;
	const wait = Math.max(delayMs, lastRefreshAt + 300 - performance.now());
	refreshPending = setTimeout(() => {
		lastRefreshAt = performance.now();
		refresh();
	}, wait);
}

function onEvent(type, data) {
	if (!data)
		return;
	if (data.tile && typeof data.tile === 'object')
		applyTile(data.tile, data.seq);
	/* Progress alone (a slot event) changes no total; a station event may. */
	if (data.type !== 'slot')
		scheduleRefresh(0);
}

/* A new connection, or events lost: a restarted station counts from 1 again,
 * so the tiles forget their event positions and the whole state is read. */
function restart() {
	for (const t of tiles.values())
		t.seq = undefined;
	scheduleRefresh(0);
}

function start() {
	live = connect({
		url: '/api/v1/events',
		onEvent,
		onOpen: restart,
		onGap: restart,
		banner: $('offline'),
		bannerText: $('offline-text'),
	});
	scheduleRefresh(0);
	setInterval(tick, 1000);
	/* The events carry every change; this read is only a safety net. */
	setInterval(() => scheduleRefresh(0), 10000);
	window.addEventListener('resize', layoutTiles);
	window.edlBoard = {
		state: () => lastState,
		refresh: () => scheduleRefresh(0),
		live: () => live
	};
	tick();
}

start();
