/*
 * DOM and SVG builders shared by the board, report and unit pages. Every
 * string from the API reaches the page as a text node (append(string) or
 * textContent), never as markup: a serial or device log line holding "<img
 * onerror=...>" reads as those characters. Attributes are set one by one with
 * setAttribute (no innerHTML, no string-built markup anywhere in web/).
 */

const SVG_NS = 'http://www.w3.org/2000/svg';

function fill(node, props, children) {
	for (const [key, value] of Object.entries(props || {})) {
		if (value === undefined || value === null || value === false)
			continue;
		if (key === 'class')
			node.setAttribute('class', value);
		else if (key === 'text')
			node.textContent = String(value);
		else if (key.startsWith('on') && typeof value === 'function')
			node.addEventListener(key.slice(2), value);
		else
			node.setAttribute(key, value === true ? '' : String(value));
	}
	for (const child of children.flat(Infinity)) {
		if (child === undefined || child === null || child === false)
			continue;
		node.append(child instanceof Node ? child : String(child));
	}
	return node;
}

/* h('td', {class: 'n'}, 'text', otherNode): an HTML element. */
export function h(tag, props, ...children) {
	return fill(document.createElement(tag), props, children);
}

/* s('rect', {x: 1, ...}): an SVG element. */
export function s(tag, props, ...children) {
	return fill(document.createElementNS(SVG_NS, tag), props, children);
}

/* Sets a node's text only when it changed: the board's tiles are patched in
 * place, and a mutation should mean something changed. */
export function setText(node, text) {
	const t = text === undefined || text === null ? '' : String(text);
	if (node.textContent !== t)
		node.textContent = t;
}

export function setClass(node, cls) {
	if (node.getAttribute('class') !== cls)
		node.setAttribute('class', cls);
}

export function clear(node) {
	while (node.firstChild)
		node.removeChild(node.firstChild);
}

/* ---- numbers and times in the line's words ------------------------------------------- */

export function isNum(v) {
	return typeof v === 'number' && Number.isFinite(v);
}

/* A 0..1 fraction as "97.5%", "-" when there is none (null: no units). */
export function pct(fraction, digits = 1) {
	if (!isNum(fraction))
		return '-';
	return fraction === 1 ? '100%' : (100 * fraction).toFixed(digits) + '%';
}

export function num(v, digits = 0) {
	return isNum(v) ? v.toFixed(digits) : '-';
}

/* Milliseconds as "42 s", "3 m 05 s", "1 h 02 m". */
export function duration(ms) {
	if (!isNum(ms) || ms < 0)
		return '-';
	if (ms < 1000)
		return Math.round(ms) + ' ms';
	if (ms < 10000)
		return (ms / 1000).toFixed(1) + ' s';
	const secs = Math.round(ms / 1000);
	if (secs < 60)
		return secs + ' s';
	const m = Math.floor(secs / 60), sec = secs % 60;
	if (m < 60)
		return m + ' m ' + String(sec).padStart(2, '0') + ' s';
	return Math.floor(m / 60) + ' h ' + String(m % 60).padStart(2, '0') + ' m';
}

export function bytes(n) {
	if (!isNum(n))
		return '-';
	const units = ['B', 'kB', 'MB', 'GB', 'TB'];
	let i = 0, v = n;
	while (v >= 1000 && i < units.length - 1) {
		v /= 1000;
		i++;
	}
	return (i === 0 ? String(v) : v.toFixed(v < 10 ? 2 : 1)) + ' ' + units[i];
}

/* An ISO-8601 time from the API as local "YYYY-MM-DD HH:MM:SS" (the raw text
 * when it does not parse: never "Invalid Date"). */
export function when(iso) {
	if (typeof iso !== 'string' || iso === '')
		return '-';
	const d = new Date(iso);
	if (Number.isNaN(d.getTime()))
		return iso;
	const p = (x) => String(x).padStart(2, '0');
	return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:` +
	       `${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function clock(iso) {
	const d = new Date(iso);
	if (Number.isNaN(d.getTime()))
		return '';
	const p = (x) => String(x).padStart(2, '0');
	return `${p(d.getHours())}:${p(d.getMinutes())}`;
}

/* Text for a value the API may give as a string, number or null. */
export function str(v, empty = '-') {
	return v === undefined || v === null || v === '' ? empty : String(v);
}
