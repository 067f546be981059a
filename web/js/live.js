/*
 * The live feed: an EventSource on /api/v1/events, and the "connection lost"
 * banner while it is down. The browser reconnects an EventSource by itself
 * (sending Last-Event-ID, so the station replays what was missed); when it
 * gives up (the station answered with an error, or was gone long enough that
 * the browser closed it) a new one is opened with a growing delay, up to 5 s.
 * Every (re)connection calls onOpen, where a page re-reads the whole state: a
 * station that restarted has new sequence numbers and new slots. A "gap"
 * event (the station could not replay from our position) calls onGap.
 *
 * For tests and for anyone debugging a slow board, each event's receipt is
 * kept in window.edlLive.received (the last 4000: seq, type, data, the
 * receipt's performance.now() and wall clock).
 */

/* The station sends unnamed events ("message"); its type is in the data. */
const EVENT_TYPES = ['message'];

export function connect({url, onEvent, onOpen, onGap, banner, bannerText}) {
	const debug = (window.edlLive = window.edlLive || {received: [], opens: 0, errors: 0});
	let es = null, retryMs = 500, retryTimer = null, downSince = null;

	function showDown(why) {
		if (downSince === null)
			downSince = new Date();
		if (banner) {
			banner.hidden = false;
			const t = downSince.toLocaleTimeString();
			bannerText.textContent =
			        `CONNECTION LOST to the station since ${t} (${why}); ` +
				'reconnecting by itself. What is shown may be out of date.';
		}
		document.body.classList.add('offline');
	}

	function showUp() {
		downSince = null;
		if (banner)
			banner.hidden = true;
		document.body.classList.remove('offline');
	}

	function handle(type, ev) {
		let data = null;
		try {
			data = ev.data ? JSON.parse(ev.data) : null;
		} catch (e) {
			data = {event: 'unparsed', message: String(ev.data).slice(0, 200)};
		}
		const rec =
		        {seq: ev.lastEventId, type, data, t: performance.now(), wall: Date.now()};
		debug.received.push(rec);
		if (debug.received.length > 4000)
			debug.received.splice(0, debug.received.length - 4000);
		if (data && data.type === 'gap')
			onGap && onGap(data);
		else
			onEvent && onEvent(type, data, rec);
	}

	function open() {
		retryTimer = null;
		es = new EventSource(url);
		for (const type of EVENT_TYPES)
			es.addEventListener(type, (ev) => handle(type, ev));
		es.onopen = () => {
			debug.opens++;
			retryMs = 500;
			showUp();
			onOpen && onOpen();
		};
		es.onerror = () => {
			debug.errors++;
			showDown(es.readyState === EventSource.CLOSED
			                 ? 'the station refused the stream'
			                 : 'no connection');
			if (es.readyState === EventSource.CLOSED && retryTimer === null) {
				es.close();
				retryTimer = setTimeout(open, retryMs);
				retryMs = Math.min(5000, retryMs * 2);
			}
		};
	}

	open();
	return {
		down: (why) => showDown(why),
		isOpen: () => es !== null && es.readyState === EventSource.OPEN,
	};
}
