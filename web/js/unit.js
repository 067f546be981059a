/*
 * The unit page (/unit/SERIAL): one unit's history from /api/v1/units/SERIAL
 * (`edlstation history SERIAL --format json`): the device's identity, every
 * run with its result, slot, package, stage, error, class and the operator's
 * action, its steps, the device's own log lines, and the unit's archives
 * (preserved partitions, memory dumps) when the station kept any. The serial
 * is typed as people type it (any case, 0x, a USB serial, a unique prefix):
 * the station resolves it and answers 404 with "did you mean" when it cannot.
 */
import {getJSON} from './api.js';
import {bytes, clear, duration, h, isNum, num, setText, str, when} from './dom.js';

const $ = (id) => document.getElementById(id);

function serialFromURL() {
	const m = location.pathname.match(/\/unit\/(.+)$/);
	if (m) {
		try {
			return decodeURIComponent(m[1]);
		} catch (e) {
			return m[1];
		}
	}
	return new URLSearchParams(location.search).get('serial') || '';
}

function dl(pairs) {
	const node = h('dl');
	for (const [k, v] of pairs)
		if (v !== undefined && v !== null && v !== '' && v !== '-')
			node.append(h('dt', {}, k), h('dd', {}, v));
	return node;
}

function row(cells) {
	return h('tr', {}, cells.map((c) => (c instanceof Node ? c : h('td', {}, c))));
}

function table(heads, rows, cls = 'data') {
	const head = h('thead', {}, h('tr', {}, heads.map((x) => h('th', {}, x))));
	return h('table', {class: cls}, head, h('tbody', {}, rows.map(row)));
}

function drawDevice(d) {
	const box = $('device');
	clear(box);
	const dev = d.device;
	if (!dev) {
		box.append(h('p', {class: 'note'}, 'No identity recorded for this unit.'));
		return;
	}
	const facts = [
		['USB serial', str(dev.usb_serial)],
		['HW id', str(dev.hw_id)],
		['MSM id', str(dev.msm_id)],
		['OEM id', str(dev.oem_id)],
		['model id', str(dev.model_id)],
		['PK hash', str(dev.pk_hash)],
		['first seen', when(dev.first_seen)],
		['last seen', when(dev.last_seen)],
	];
	box.append(h('h2', {}, 'device'), dl(facts));
}

function restoredText(a) {
	if (a.restored === true || a.restored === 1)
		return 'restored';
	return a.restored === false || a.restored === 0 ? 'not yet' : '';
}

/* An archive row: what the station kept of the unit (schema v6 table archive). */
function archiveRow(a) {
	return [
		h('td', {}, str(a.kind)),
		h('td', {}, str(a.label)),
		h('td', {class: 'n'}, bytes(a.bytes)),
		h('td', {class: 'mono'}, str(a.sha256, '').slice(0, 16)),
		h('td', {class: 'mono'}, str(a.path)),
		h('td', {}, a.run_id !== undefined ? str(a.run_id) : ''),
		h('td', {}, restoredText(a)),
		h('td', {}, when(a.created || a.created_at)),
	];
}

const ARCHIVE_HEADS = ['kind', 'label', 'bytes', 'sha256', 'path', 'run', 'restored', 'kept'];
const STEP_HEADS = ['kind', 'label', 'LUN', 'start sector', 'sectors', 'bytes', 'time', 'result'];

function drawArchives(d) {
	const box = $('archives');
	clear(box);
	const list = Array.isArray(d.archives) ? d.archives : [];
	if (list.length === 0)
		return;
	box.append(h('h2', {}, `archives (${list.length})`),
		   table(ARCHIVE_HEADS, list.map(archiveRow)));
}

function stepRow(st) {
	const result = str(st.result, '');
	return [
		h('td', {}, str(st.kind)),
		h('td', {}, str(st.label)),
		h('td', {class: 'n'}, num(st.lun)),
		h('td', {class: 'mono'}, str(st.start_sector)),
		h('td', {class: 'n'}, num(st.sectors)),
		h('td', {class: 'n'}, bytes(st.bytes)),
		h('td', {class: 'n'}, duration(st.duration_ms)),
		h('td', {}, h('span', {class: `result ${result}`}, result)),
	];
}

function optional(v) {
	return v ? str(v) : '';
}

function runHeading(run, result) {
	const slot = str(run.slot_label || run.slot);
	const port = run.port && run.port !== run.slot_label ? ` (${run.port})` : '';
	const where = ` \u00b7 ${when(run.start)} \u00b7 slot ${slot}${port}`;
	const word = h('span', {class: `result ${result}`}, str(result, '?').toUpperCase());
	return h('h3', {}, `run ${str(run.id)} `, word,
		 `${where} \u00b7 attempt ${str(run.attempt)}`);
}

function runFacts(run) {
	const pkg = run.package || {};
	const pkgName = [pkg.name, pkg.version].filter(Boolean).join(' ') || str(pkg.path);
	const mbps = isNum(run.avg_mbps) ? `${run.avg_mbps.toFixed(1)} MB/s` : '';
	return dl([
		['kind', optional(run.kind)],
		['station', str(run.station)],
		['package', pkgName],
		['product', optional(run.product)],
		['lot', optional(run.lot)],
		['work order', optional(run.work_order)],
		['operator', optional(run.operator)],
		['ended', when(run.end)],
		['stage', str(run.stage)],
		['error', str(run.error)],
		['class', str(run.class)],
		['what to do', str(run.action)],
		['message', str(run.message)],
		['written', bytes(run.bytes_written)],
		['flashing time', duration(run.duration_ms)],
		['average', mbps],
		['retry of', run.retry_of ? `run ${run.retry_of}` : ''],
		['capture', optional(run.capture)],
		['warnings', optional(run.warnings)],
	]);
}

function drawRun(run) {
	const result = str(run.result, '');
	const node = h('article', {class: `run ${result}`, 'data-run-id': str(run.id, '')});
	node.append(runHeading(run, result), runFacts(run));
	const steps = Array.isArray(run.steps) ? run.steps : [];
	if (steps.length)
		node.append(h('h3', {}, `steps (${steps.length})`),
			    table(STEP_HEADS, steps.map(stepRow), 'data steps'));
	const archives = Array.isArray(run.archives) ? run.archives : [];
	if (archives.length)
		node.append(h('h3', {}, `archives (${archives.length})`),
			    table(ARCHIVE_HEADS, archives.map(archiveRow)));
	const log = Array.isArray(run.log) ? run.log : [];
	if (log.length) {
		const pre = h('pre', {class: 'log'});
		pre.textContent = log.map((l) => String(l)).join('\n');
		node.append(h('h3', {}, `device log (${log.length} lines)`), pre);
	} else if (result !== 'pass') {
		node.append(h('p', {class: 'note'}, 'no device log lines recorded'));
	}
	return node;
}

async function load() {
	const serial = serialFromURL().trim();
	$('find').elements.serial.value = serial;
	const runs = $('runs');
	clear(runs);
	if (!serial) {
		setText($('title'), 'unit: type a serial');
		return;
	}
	setText($('title'), `unit ${serial}`);
	document.title = `edlstation \u2014 unit ${serial}`;
	const r = await getJSON(`/api/v1/units/${encodeURIComponent(serial)}`, 10000);
	if (!r.ok) {
		setText($('error-text'), r.error);
		$('error').hidden = false;
		setText($('runs-title'), 'runs');
		document.body.dataset.loaded = 'error';
		return;
	}
	$('error').hidden = true;
	const d = r.data || {};
	setText($('title'), `unit ${str(d.serial, serial)}`);
	drawDevice(d);
	drawArchives(d);
	const list = Array.isArray(d.runs) ? d.runs : [];
	setText($('runs-title'), `runs (${list.length})`);
	for (const run of list)
		runs.append(drawRun(run));
	window.edlUnit = d;
	document.body.dataset.loaded = 'yes';
}

$('find').addEventListener('submit', (ev) => {
	ev.preventDefault();
	const serial = ev.target.elements.serial.value.trim();
	if (serial) {
		history.pushState(null, '', `/unit/${encodeURIComponent(serial)}`);
		load();
	}
});
window.addEventListener('popstate', load);
load();
