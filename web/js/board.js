/*
 * The line board (/): every slot of the port map as a tile, the totals (FPY
 * so far, good units per hour), the last failures and a units-per-hour and
 * yield chart over the shift. It reads /api/v1/state once, then follows
 * /api/v1/events: a slot event patches its tile at once, and any event also
 * asks for a fresh /state (coalesced, at most one request in flight) for the
 * totals and the failures list. While units run, /state is re-read every
 * second for %, MB/s and elapsed time; elapsed also ticks locally between
 * reads. Tiles are built once and patched in place (only what changed), so a
 * DOM mutation on a tile means the slot changed.
 */
import {h, setText, setClass, clear, pct, num, duration, clock, str, isNum} from './dom.js';
import {getJSON} from './api.js';
import {connect} from './live.js';
import {STATES, normalizeSlot, stateWords} from './slots.js';
import {comboChart, legend} from './charts.js';

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
	const node = h('article', {class: 'tile idle', 'data-port': slot.port, 'data-label': slot.label},
	               h('header', {}, parts.label, parts.port),
	               h('div', {class: 'state'}, parts.icon, parts.word),
	               h('div', {class: 'who'}, parts.serial, parts.stage),
	               parts.bar, parts.nums, parts.detail, parts.reason, parts.action);
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
	const chars = String(v.state === 'idle' ? 10 : Math.max(words.length + (st.icon ? 1.6 : 0), 5));
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
		detail = `written and verified in ${duration(v.elapsed_ms)}`;
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

function applySlots(list) {
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
		t.slot = slot;
		t.baseAt = performance.now();
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

/* A slot event: that tile now, before the /state that follows. */
function applySlotEvent(data) {
	const raw = data && typeof data.slot === 'object' && data.slot !== null ? data.slot : data;
	if (!raw || raw.state === undefined)
		return false;
	const slot = normalizeSlot(raw);
	const t = tiles.get(slot.key);
	if (t === undefined)
		return false;
	/* A slot event may carry only what changed: keep the rest. */
	for (const [k, v] of Object.entries(slot))
		if (v !== '' && v !== null)
			t.slot[k] = v;
	t.slot.state = slot.state;
	if (!STATES[slot.state].failed) {
		for (const k of ['message', 'action', 'error', 'cls'])
			if (raw[k === 'cls' ? 'class' : k] === undefined)
				t.slot[k] = '';
	}
	t.baseAt = performance.now();
	drawTile(t);
	return true;
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
	const station = typeof d.station === 'object' && d.station !== null ? d.station.name : d.station;
	setText($('station'), str(station, 'edlstation'));
	setText($('package'), packageText(d.package));
	document.title = `${str(station, 'edlstation')} \u2014 line board`;
	const line = d.line || {};
	const stopped = !!line.stopped;
	$('line-stop').hidden = !stopped;
	if (stopped) {
		setText($('line-reason'), `LINE STOPPED: ${str(line.reason, 'stopped')}`);
		setText($('line-check'), `check: ${str(line.check, 'the failures listed')}`);
	}
	document.body.classList.toggle('stopped', stopped);
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
	set('t-fpy', pct(total(tt, 'fpy', 'first_pass_yield')));
	set('t-goodh', num(total(tt, 'good_units_per_hour', 'good_per_hour'), 0));
	const nr = total(tt, 'not_recorded');
	set('t-notrec', num(nr));
	$('t-notrec-box').hidden = !(nr > 0);
	const backlog = d.backlogs || d.backlog || {};
	const parts = [];
	for (const [k, v] of Object.entries(backlog))
		if (isNum(v) && v > 0)
			parts.push(`${k.replace(/_/g, ' ')} ${v}`);
	setText($('backlogs'), parts.length ? `backlog: ${parts.join(', ')}` : '');
}

function drawFailures(d) {
	const list = d.last_failures || d.failures || [];
	const ul = $('failures');
	clear(ul);
	setText($('failures-title'), list.length ? 'last failures' : 'failures: none');
	for (const f of list.slice(0, 8)) {
		const serial = str(f.serial, '');
		ul.append(h('li', {class: 'failure'},
		            h('span', {class: 'f-when'}, f.time ? clock(f.time) : ''),
		            h('span', {class: 'f-slot'}, str(f.slot_label || f.slot || f.label)),
		            serial ? h('a', {class: 'f-serial', href: `/unit/${encodeURIComponent(serial)}`},
		                       serial)
		                   : h('span', {class: 'f-serial'}, '-'),
		            h('span', {class: 'f-class'}, str(f.class)),
		            h('div', {class: 'f-reason'}, str(f.reason || f.message, '')),
		            h('div', {class: 'f-action'}, f.action ? `do: ${f.action}` : '')));
	}
}

function drawChart(d) {
	const series = d.series || d.per_hour || d.hours || d.buckets || [];
	const box = $('chart');
	const bars = series.map((b) => ({
		label: clock(b.start),
		value: isNum(b.units) ? b.units : 0,
		title: `${clock(b.start)}: ${num(b.units)} units, ${num(b.passed_units)} passed, ` +
		       `first-pass yield ${pct(b.first_pass_yield)}`,
		cls: 'units',
	}));
	const key = JSON.stringify(series);
	if (box.dataset.key === key)
		return;
	box.dataset.key = key;
	clear(box);
	box.append(comboChart({bars, line: series.map((b) => b.first_pass_yield), title:
	                       'units per hour and first-pass yield over the shift',
	                       yLabel: 'units', y2Label: 'yield', width: 640, height: 250,
	                       lineClass: 'yield', maxLabels: 12, whole: true,
	                       empty: 'no units finished yet this shift'}));
	box.append(legend([{cls: 'units', text: 'units per hour'},
	                   {cls: 'yield', text: 'first-pass yield', line: true}]));
}

function applyState(d) {
	lastState = d;
	drawHeader(d);
	applySlots(d.slots || []);
	drawTotals(d);
	drawFailures(d);
	drawChart(d);
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

function scheduleRefresh(delayMs) {
	if (refreshPending === null)
		refreshPending = setTimeout(refresh, delayMs);
}

function anyRunning() {
	for (const t of tiles.values())
		if (t.slot.state === 'running')
			return true;
	return false;
}

function onEvent(type, data) {
	if (type === 'slot' || (data && (data.event === 'slot' || data.event === 'slot-state')))
		applySlotEvent(data);
	scheduleRefresh(50);
}

function start() {
	live = connect({
		url: '/api/v1/events',
		onEvent,
		onOpen: () => scheduleRefresh(0),
		onGap: () => scheduleRefresh(0),
		banner: $('offline'),
		bannerText: $('offline-text'),
	});
	scheduleRefresh(0);
	setInterval(tick, 1000);
	/* Progress (%, MB/s) while units run; otherwise a slow safety read. */
	let lastPoll = 0;
	setInterval(() => {
		const now = performance.now();
		const every = anyRunning() ? 1000 : 10000;
		if (now - lastPoll >= every) {
			lastPoll = now;
			scheduleRefresh(0);
		}
	}, 500);
	window.addEventListener('resize', layoutTiles);
	window.edlBoard = {state: () => lastState, refresh: () => scheduleRefresh(0),
	                   live: () => live};
	tick();
}

start();
