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

function table(heads, rows, cls = 'data') {
	return h('table', {class: cls},
	         h('thead', {}, h('tr', {}, heads.map((x) => h('th', {}, x)))),
	         h('tbody', {},
	           rows.map((cells) => h(
	                            'tr', {},
	                            cells.map((c) => (c instanceof Node ? c : h('td', {}, c)))))));
}

function drawDevice(d) {
	const box = $('device');
	clear(box);
	const dev = d.device;
	if (!dev) {
		box.append(h('p', {class: 'note'}, 'No identity recorded for this unit.'));
		return;
	}
	box.append(h('h2', {}, 'device'), dl([
		           ['USB serial', str(dev.usb_serial)], ['HW id', str(dev.hw_id)],
		           ['MSM id', str(dev.msm_id)], ['OEM id', str(dev.oem_id)],
		           ['model id', str(dev.model_id)], ['PK hash', str(dev.pk_hash)],
		           ['first seen', when(dev.first_seen)], ['last seen', when(dev.last_seen)]
	           ]));
}

function archiveRows(list) {
	return list.map((a) => [h('td', {}, str(a.kind)),
	                        h('td', {}, str(a.label)),
	                        h('td', {class: 'n'}, bytes(a.bytes)),
	                        h('td', {class: 'mono'}, str(a.sha256, '').slice(0, 16)),
	                        h('td', {class: 'mono'}, str(a.path)),
	                        h('td', {}, a.run_id !== undefined ? str(a.run_id) : ''),
	                        h('td', {},
	                          a.restored === true || a.restored === 1 ? 'restored'
	                          : a.restored                            ? str(a.restored)
	                                                                  : ''),
	                        h('td', {}, when(a.created || a.created_at)),
	]);
}

const ARCHIVE_HEADS = ['kind', 'label', 'bytes', 'sha256', 'path', 'run', 'restored', 'kept'];

function drawArchives(d) {
	const box = $('archives');
	clear(box);
	const list = Array.isArray(d.archives) ? d.archives : [];
	if (list.length === 0)
		return;
	box.append(h('h2', {}, `archives (${list.length})`),
		   table(ARCHIVE_HEADS, archiveRows(list)));
}

function resultWord(r) {
	return str(r, '?').toUpperCase();
}

function drawRun(run, index, total) {
	const result = str(run.result, '');
	const pkg = run.package || {};
	const node = h('article', {class: `run ${result}`, 'data-run-id': str(run.id, '')});
	node.append(
	        h('h3', {}, `run ${str(run.id)} `,
		  h('span', {class: `result ${result}`}, resultWord(result)),
		  ` \u00b7 ${when(run.start)} \u00b7 slot ${str(run.slot_label || run.slot)}` +
			  (run.port && run.port !== run.slot_label ? ` (${run.port})` : '') +
			  ` \u00b7 attempt ${str(run.attempt)}`),
		dl([
			['kind', run.kind ? str(run.kind) : ''], ['station', str(run.station)],
			[
				'package',
				[pkg.name, pkg.version].filter(Boolean).join(' ') || str(pkg.path)
			],
			['lot', run.lot ? str(run.lot) : ''],
			['work order', run.work_order ? str(run.work_order) : ''],
			['operator', run.operator ? str(run.operator) : ''],
			['ended', when(run.end)], ['stage', str(run.stage)],
			['error', str(run.error)], ['class', str(run.class)],
			['what to do', str(run.action)], ['message', str(run.message)],
			['written', bytes(run.bytes_written)],
			['flashing time', duration(run.duration_ms)],
			['average', isNum(run.avg_mbps) ? `${run.avg_mbps.toFixed(1)} MB/s` : ''],
			['retry of', run.retry_of ? `run ${run.retry_of}` : ''],
			['capture', str(run.capture, '')], ['warnings', str(run.warnings, '')]
		]));
	if (Array.isArray(run.steps) && run.steps.length) {
		node.append(
		        h('h3', {}, `steps (${run.steps.length})`),
			table(
			        [
				        'kind', 'label', 'LUN', 'start sector', 'sectors', 'bytes',
				        'time', 'result'
			        ],
			        run.steps.map(
			                (st) => [h('td', {}, str(st.kind)),
			                         h('td', {}, str(st.label)),
			                         h('td', {class: 'n'}, num(st.lun)),
			                         h('td', {class: 'mono'}, str(st.start_sector)),
			                         h('td', {class: 'n'}, num(st.sectors)),
			                         h('td', {class: 'n'}, bytes(st.bytes)),
			                         h('td', {class: 'n'}, duration(st.duration_ms)),
			                         h('td', {},
			                           h('span',
			                             {class: `result ${str(st.result, '')}`},
				                     str(st.result))),
		]),
				'data steps'));
	}
	if (Array.isArray(run.archives) && run.archives.length)
		node.append(h('h3', {}, `archives (${run.archives.length})`),
			    table(ARCHIVE_HEADS, archiveRows(run.archives)));
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
	list.forEach((run, i) => runs.append(drawRun(run, i, list.length)));
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
