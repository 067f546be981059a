/*
 * Inline SVG charts, drawn from numbers with no library: bars on a left axis
 * (counts, units per hour, failure rates) and an optional line on a right axis
 * of 0..100% (cumulative share, yield). Used by the board (units per hour and
 * yield over the shift) and the report (failure Pareto, per-slot failure
 * rates). The SVG scales to its box (viewBox), labels are text nodes, and a
 * bar can be marked (hatched and labelled, for flagged slots) so that the
 * mark does not rely on colour. Every bar is a <rect class="bar ..."> with
 * data-index, so a test can count them.
 */
import {isNum, s} from './dom.js';

let patternSeq = 0;

/* An axis maximum of 4 round steps (1, 2, 2.5 or 5 x 10^n) at or above v;
 * counts get whole steps (4 failures: 1, 2, 3, 4, never 0.25). */
function niceMax(v, whole) {
	if (!isNum(v) || v <= 0)
		return whole ? 4 : 1;
	const raw = v / 4;
	const p = Math.pow(10, Math.floor(Math.log10(raw)));
	for (const m of [1, 2, 2.5, 5, 10]) {
		const step = m * p;
		if (step >= raw && (!whole || Number.isInteger(step)))
			return 4 * step;
	}
	return 40 * p;
}

function fmtTick(v) {
	if (v >= 100 || Number.isInteger(v))
		return String(Math.round(v));
	return v.toFixed(v < 1 ? 2 : 1);
}

/*
 * opts: {
 *   bars: [{label, value, title, cls, mark}]  value >= 0; mark: a word drawn over the bar
 *   line: [fraction 0..1 | null] aligned with bars (optional)
 *   yLabel, y2Label, title (the SVG's accessible name), width, height,
 *   yFormat: v -> tick text, yMax (optional fixed axis maximum),
 *   lineClass, empty: the sentence when there are no bars
 * }
 */
export function comboChart(opts) {
	const W = opts.width || 960, H = opts.height || 360;
	const left = 70, right = opts.line ? 70 : 20, top = 24, bottom = opts.rotate ? 150 : 40;
	const pw = W - left - right, ph = H - top - bottom;
	const bars = opts.bars || [];
	const id = `hatch${++patternSeq}`;
	const svg = s('svg', {
		viewBox: `0 0 ${W} ${H}`,
		class: 'chart ' + (opts.cls || ''),
		role: 'img',
		'aria-label': opts.title || 'chart',
		preserveAspectRatio: 'xMidYMid meet',
	});
	svg.append(s('title', {text: opts.title || ''}));
	svg.append(s('defs', {},
	             s('pattern', {
		             id,
		             width: 12,
		             height: 12,
		             patternUnits: 'userSpaceOnUse',
		             patternTransform: 'rotate(45)'
	             },
	               s('rect', {width: 12, height: 12, class: 'hatch-bg'}),
	               s('rect', {width: 5, height: 12, class: 'hatch-fg'}))));
	if (bars.length === 0) {
		svg.append(s('text', {
			x: W / 2,
			y: H / 2,
			class: 'chart-empty',
			'text-anchor': 'middle',
			text: opts.empty || 'nothing to show yet'
		}));
		return svg;
	}
	const max = isNum(opts.yMax)
	                    ? opts.yMax
	                    : niceMax(Math.max(...bars.map((b) => b.value || 0)), opts.whole);
	const fmt = opts.yFormat || fmtTick;
	const y = (v) => top + ph - (ph * Math.min(v, max)) / max;
	const step = pw / bars.length;
	const bw = Math.max(2, Math.min(step * 0.7, 120));

	/* Grid and left axis. */
	const axis = s('g', {class: 'axis'});
	for (let i = 0; i <= 4; i++) {
		const v = (max * i) / 4, yy = y(v);
		axis.append(s('line', {x1: left, x2: left + pw, y1: yy, y2: yy, class: 'grid'}));
		axis.append(
		        s('text', {x: left - 8, y: yy + 6, 'text-anchor': 'end', text: fmt(v)}));
		if (opts.line)
			axis.append(s('text', {
				x: left + pw + 8,
				y: yy + 6,
				'text-anchor': 'start',
				text: `${25 * i}%`
			}));
	}
	if (opts.yLabel)
		axis.append(s('text', {
			x: 16,
			y: top + ph / 2,
			class: 'axis-title',
			'text-anchor': 'middle',
			transform: `rotate(-90 16 ${top + ph / 2})`,
			text: opts.yLabel
		}));
	if (opts.y2Label)
		axis.append(s('text', {
			x: W - 12,
			y: top + ph / 2,
			class: 'axis-title',
			'text-anchor': 'middle',
			transform: `rotate(90 ${W - 12} ${top + ph / 2})`,
			text: opts.y2Label
		}));
	svg.append(axis);

	/* Bars, each with its value above and its label below. */
	const labelEvery = Math.max(1, Math.ceil(bars.length / (opts.maxLabels || 24)));
	const g = s('g', {class: 'bars'});
	bars.forEach((b, i) => {
		const x = left + step * i + (step - bw) / 2;
		const v = isNum(b.value) ? b.value : 0;
		const yy = y(v);
		const rect = s('rect', {
			x,
			y: yy,
			width: bw,
			height: Math.max(0, top + ph - yy),
			class: 'bar ' + (b.cls || ''),
			'data-index': i
		});
		if (b.mark)
			rect.style.fill = `url(#${id})`; /* over the class's colour */
		rect.append(s('title', {text: b.title || `${b.label}: ${fmt(v)}`}));
		g.append(rect);
		if (bars.length <= 40)
			g.append(s('text', {
				x: x + bw / 2,
				y: yy - 6,
				'text-anchor': 'middle',
				class: 'bar-value',
				text: b.valueText !== undefined ? b.valueText : fmt(v)
			}));
		if (b.mark)
			g.append(s('text', {
				x: x + bw / 2,
				y: top + 18,
				'text-anchor': 'middle',
				class: 'bar-mark',
				text: b.mark
			}));
		if (i % labelEvery === 0) {
			const lx = x + bw / 2, ly = top + ph + 22;
			const text = String(b.label).length > 26
			                     ? String(b.label).slice(0, 25) + '\u2026'
			                     : String(b.label);
			g.append(s('text', opts.rotate ? {
				x: lx,
				y: ly,
				'text-anchor': 'end',
				class: 'bar-label',
				transform: `rotate(-35 ${lx} ${ly})`,
				text
			}
					               : {
						                 x: lx,
						                 y: ly,
						                 'text-anchor': 'middle',
						                 class: 'bar-label',
						                 text
					                 }));
		}
	});
	svg.append(g);

	/* The line on the 0..100% axis; gaps where a value is missing. */
	if (opts.line) {
		const ly = (f) => top + ph - ph * Math.max(0, Math.min(1, f));
		let d = '', pen = false;
		const dots = s('g', {class: 'line-dots ' + (opts.lineClass || '')});
		opts.line.forEach((f, i) => {
			const x = left + step * i + step / 2;
			if (!isNum(f)) {
				pen = false;
				return;
			}
			d += `${pen ? 'L' : 'M'}${x.toFixed(1)} ${ly(f).toFixed(1)} `;
			pen = true;
			const dot = s('circle',
			              {cx: x, cy: ly(f), r: 6, class: 'dot', 'data-index': i});
			dot.append(s('title', {
				text: `${bars[i] ? bars[i].label : i}: ${(100 * f).toFixed(1)}%`
			}));
			dots.append(dot);
		});
		svg.append(s('path', {d: d.trim(), class: 'line ' + (opts.lineClass || '')}));
		svg.append(dots);
	}
	svg.append(s('line',
	             {x1: left, x2: left + pw, y1: top + ph, y2: top + ph, class: 'baseline'}));
	return svg;
}

/* A legend: [{cls, text}] as small swatches with words. */
export function legend(items) {
	const W = 260 * items.length;
	const svg = s('svg', {viewBox: `0 0 ${W} 28`, class: 'legend', 'aria-hidden': 'true'});
	items.forEach((it, i) => {
		const x = 260 * i;
		if (it.line)
			svg.append(s('line',
			             {x1: x, x2: x + 28, y1: 14, y2: 14, class: 'line ' + it.cls}));
		else
			svg.append(s('rect',
			             {x, y: 4, width: 28, height: 20, class: 'bar ' + it.cls}));
		svg.append(s('text', {x: x + 36, y: 21, text: it.text}));
	});
	return svg;
}
