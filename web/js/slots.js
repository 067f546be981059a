/*
 * A slot's state in the board's words: the same words and colours as the
 * terminal board (src/station/view_board.c): idle, RUN nn%, PASS, FAIL,
 * OPERATOR, NOT RECORDED. Each state has a word, a symbol and a CSS class, so
 * that the result never rests on colour alone (PASS/FAIL are read, and FAIL
 * tiles are also hatched). normalizeSlot() takes a slot from /api/v1/state or
 * from a slot event and gives the fields the tile draws, whatever is missing.
 */
import {isNum} from './dom.js';

export const STATES = {
	idle: {word: 'idle', icon: '', cls: 'idle', failed: false},
	running: {word: 'RUN', icon: '\u25b6', cls: 'running', failed: false},
	pass: {word: 'PASS', icon: '\u2714', cls: 'pass', failed: false},
	fail: {word: 'FAIL', icon: '\u2716', cls: 'fail', failed: true},
	operator: {word: 'OPERATOR', icon: '\u26a0', cls: 'operator', failed: true},
	not_recorded: {word: 'NOT RECORDED', icon: '\u26a0', cls: 'not-recorded', failed: true},
};

/* "NOT RECORDED", "not-recorded", "Not recorded" -> "not_recorded". */
export function stateKey(v) {
	const k = String(v || 'idle').trim().toLowerCase().replace(/[\s-]+/g, '_');
	if (k === 'run')
		return 'running';
	if (k === 'oper')
		return 'operator';
	return STATES[k] ? k : 'idle';
}

function text(v) {
	return v === undefined || v === null ? '' : String(v);
}

function number(v) {
	const n = typeof v === 'string' ? Number(v) : v;
	return isNum(n) ? n : null;
}

export function normalizeSlot(raw) {
	const r = raw || {};
	const label = text(r.label !== undefined        ? r.label
	                   : r.slot_label !== undefined ? r.slot_label
	                                                : r.slot);
	return {
		key: text(r.port) || label,
		label: label || text(r.port),
		port: text(r.port),
		state: stateKey(r.state),
		serial: text(r.serial),
		stage: text(r.stage),
		percent: number(r.percent),
		mbps: number(r.mb_s !== undefined ? r.mb_s : r.mbps),
		elapsed_ms: number(r.elapsed_ms),
		result: text(r.result),
		error: text(r.error),
		cls: text(r.class),
		message: text(r.message !== undefined && r.message !== null ? r.message : r.reason),
		action: text(r.action),
		run_id: number(r.run_id),
		attempt: number(r.attempt),
	};
}

/* The state block's words: "RUN 42%" while running, else the state's word. */
export function stateWords(slot) {
	const st = STATES[slot.state];
	if (slot.state === 'running')
		return `RUN ${isNum(slot.percent) ? Math.floor(slot.percent) : 0}%`;
	return st.word;
}
