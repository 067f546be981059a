/*
 * The station's JSON API as the pages read it (/api/v1/...; the keys are the
 * README's). getJSON never throws: it gives {ok, status, data, error} with an
 * error sentence that says what failed and what to check, so a page can show
 * it instead of going blank. A request that takes longer than its timeout is
 * aborted (a station that hangs must not leave the page waiting forever).
 */

/* The station's error body is {error, detail}: both, else the HTTP reason. */
function errorText(data, res) {
	if (!data || typeof data.error !== 'string')
		return res.statusText;
	return typeof data.detail === 'string' && data.detail ? `${data.error}: ${data.detail}`
			                                      : data.error;
}

export async function getJSON(path, timeoutMs = 5000) {
	const abort = new AbortController();
	const timer = setTimeout(() => abort.abort(), timeoutMs);
	try {
		const res = await fetch(path, {
			headers: {Accept: 'application/json'},
			cache: 'no-store',
			signal: abort.signal,
		});
		const text = await res.text();
		let data = null;
		try {
			data = text === '' ? null : JSON.parse(text);
		} catch (e) {
			const error =
			        `${path}: the station answered ${res.status} with text that ` +
				`is not JSON (${text.slice(0, 80)})`;
			return {ok: false, status: res.status, data: null, error};
		}
		if (!res.ok) {
			return {
				ok: false,
				status: res.status,
				data,
				error: `${path}: ${res.status} ${errorText(data, res)}`
			};
		}
		return {ok: true, status: res.status, data, error: null};
	} catch (e) {
		const why = e && e.name === 'AbortError' ? `no answer in ${timeoutMs / 1000} s`
			                                 : 'the station does not answer';
		return {
			ok: false,
			status: 0,
			data: null,
			error: `${path}: ${why}; is edlstation running with [web] listen set?`
		};
	} finally {
		clearTimeout(timer);
	}
}

/* Appends the set values of params to path as a query string. */
export function withQuery(path, params) {
	const q = new URLSearchParams();
	for (const [k, v] of Object.entries(params))
		if (v !== undefined && v !== null && String(v).trim() !== '')
			q.set(k, String(v).trim());
	const qs = q.toString();
	return qs ? `${path}?${qs}` : path;
}
