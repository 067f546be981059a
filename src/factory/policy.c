/*
 * The sync worker's decisions, kept pure so tests can walk them: how long to
 * wait after a failure (exponential backoff with jitter, so a factory's
 * stations do not all knock at once when the server comes back), where the
 * cursor goes after a batch (forward only to what the server committed), and
 * when a failure or a recovery is worth a line on the station's output (the
 * first failure, then at most one reminder a minute while it lasts; a
 * recovery once).
 */
#include "factory_internal.h"

int64_t edl_factory_backoff_ms(int failures, int min_ms, int max_ms, uint32_t *seed)
{
	int64_t wait = min_ms > 0 ? min_ms : 1;

	if (max_ms < min_ms)
		max_ms = min_ms;
	for (int i = 1; i < failures && wait < max_ms; i++)
		wait *= 2;
	if (wait > max_ms)
		wait = max_ms;
	if (seed != NULL && wait >= 4) {
		/* xorshift32; jitter in [-wait/4, +wait/4], never past the cap. */
		uint32_t x = *seed != 0 ? *seed : 0x9e3779b9u;
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		*seed = x;
		int64_t quarter = wait / 4;
		wait += (int64_t)(x % (uint32_t)(2 * quarter + 1)) - quarter;
		if (wait > max_ms)
			wait = max_ms;
	}
	return wait;
}

int64_t edl_factory_cursor_after(int64_t cursor, int64_t batch_last_seq, bool committed)
{
	/* A batch the server did not confirm moves nothing: resending is an upsert,
	 * skipping would lose runs. A cursor never goes back by itself. */
	if (!committed || batch_last_seq <= cursor)
		return cursor;
	return batch_last_seq;
}

int64_t edl_factory_cursor_verified(int64_t cursor, bool server_has_cursor_run,
                                    int64_t server_max_seq)
{
	/* The server lost runs it had confirmed (restored from an older backup, or a
	 * new database under the same name): start again from what it holds. */
	if (cursor <= 0 || server_has_cursor_run)
		return cursor;
	if (server_max_seq < 0)
		server_max_seq = 0;
	return server_max_seq < cursor ? server_max_seq : cursor;
}

bool edl_factory_event_due(struct edl_factory_event_limit *l, bool ok, int64_t now_ms)
{
	if (ok) {
		bool was_failing = l->failing;
		l->failing = false;
		return was_failing;
	}
	if (!l->failing) {
		l->failing = true;
		l->last_failure_report_ms = now_ms;
		return true;
	}
	if (now_ms - l->last_failure_report_ms >= EDL_FACTORY_EVENT_REPEAT_MS) {
		l->last_failure_report_ms = now_ms;
		return true;
	}
	return false;
}
