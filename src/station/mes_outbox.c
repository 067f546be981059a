/*
 * The after_unit deliverer (include/edlstation/mes.h): takes the results the
 * mes_outbox table holds (each queued by its run's finishing transaction, so
 * a station killed at any instant loses none) and hands them to the hook one
 * at a time, in run order among those due, until the hook exits 0.
 *
 * States (one delivery at a time; the loop only waits):
 *   IDLE      nothing due: the timer waits for the earliest next_ms, or a
 *             kick (a run finish committed) looks again at once.
 *   READING   the threadpool reads the next due entry (a read-only
 *             connection of its own: no SQLite on the loop).
 *   RUNNING   the hook runs with the payload on its stdin (mes_hook.c).
 *   MARKING   the outcome is queued on the writer: delivered, or attempts+1
 *             and next_ms = now + backoff(attempts). Until the writer has
 *             committed it, nothing is read again (a mark kept by a full disk
 *             is committed before the writer is writable again), so an entry
 *             is never handed out twice by one station.
 *   STOPPED   the station stops: what is due is still delivered while the
 *             MES answers and within one hook timeout, so the last unit's
 *             result need not wait for the next start; a failure, or the
 *             deadline, ends it (the rest waits in the table).
 *
 * A failure also pauses every delivery (consecutive failures back off as one
 * entry's do): a MES that is down for an hour costs one hook run per backoff
 * period, not one per waiting result. The first success ends the pause. The
 * delivery is at-least-once: a station killed between the hook's exit and the
 * mark's commit hands that result over again after its restart, with the same
 * run_id for the MES to drop.
 */
#include "edlstation/mes.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edlstation/store.h"

#define OUTBOX_IDLE_LOOK_MS 60000 /* nothing queued: look again this often anyway */

enum outbox_state {
	OUTBOX_IDLE,
	OUTBOX_READING,
	OUTBOX_RUNNING,
	OUTBOX_MARKING,
	OUTBOX_STOPPED,
};

struct edl_mes_outbox {
	uv_loop_t *loop;
	enum outbox_state state;
	char **argv;
	uint32_t timeout_ms, retry_min_ms, retry_max_ms;
	char db_path[4096];
	struct edl_store_writer *writer;
	struct edl_store *reader; /* used by the threadpool only, one work at a time */
	uv_timer_t timer;
	uv_work_t work;
	bool again; /* a kick came while busy: look again after */
	/* READING's answer */
	int read_rc;
	char read_error[EDL_ERROR_DETAIL_MAX];
	bool found;
	struct edl_store_mes_entry entry;
	int64_t next_due_ms;
	uint64_t read_pending;
	/* the schedule */
	int64_t pause_until_ms;
	unsigned consecutive_failures;
	size_t pending; /* as last read, plus kicks since */
	uint64_t delivered, failures;
	uint64_t jitter_state; /* xorshift: stations that lost the MES together spread out */
	bool stopping;
	int64_t stop_deadline_ms; /* no delivery starts after it once stopping */
	void (*stopped)(void *data);
	void *stopped_data;
};

static void look(struct edl_mes_outbox *ob);

static uint32_t jitter(struct edl_mes_outbox *ob)
{
	uint64_t x = ob->jitter_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	ob->jitter_state = x;
	return (uint32_t)(x >> 32);
}

static int64_t wall_ms(void)
{
	return edl_store_time_now_ms();
}

static void on_timer(uv_timer_t *t)
{
	look(t->data);
}

static void arm_at(struct edl_mes_outbox *ob, int64_t at_ms)
{
	int64_t now = wall_ms();
	uint64_t in = at_ms > now ? (uint64_t)(at_ms - now) : 0;

	/* Wall clock steps (NTP) are bounded by looking again at least hourly. */
	if (in > 3600000)
		in = 3600000;
	uv_timer_start(&ob->timer, on_timer, in, 0);
}

static void on_timer_closed(uv_handle_t *h)
{
	struct edl_mes_outbox *ob = h->data;
	void (*stopped)(void *) = ob->stopped;
	void *data = ob->stopped_data;

	edl_store_close(ob->reader);
	edl_store_mes_entry_clear(&ob->entry);
	edl_mes_argv_free(ob->argv);
	free(ob);
	if (stopped != NULL)
		stopped(data);
}

/* Called whenever the outbox goes idle: a pending stop completes now, unless
 * it drains what is due (each delivery succeeding, within its deadline). */
static bool stop_if_asked(struct edl_mes_outbox *ob, bool draining)
{
	if (!ob->stopping || (draining && wall_ms() < ob->stop_deadline_ms))
		return false;
	ob->state = OUTBOX_STOPPED;
	uv_timer_stop(&ob->timer);
	uv_close((uv_handle_t *)&ob->timer, on_timer_closed);
	return true;
}

/* ---- READING (threadpool) ---------------------------------------------------------- */

static void read_work(uv_work_t *w)
{
	struct edl_mes_outbox *ob = w->data;
	struct edl_error err;

	edl_error_clear(&err);
	ob->read_error[0] = '\0';
	edl_store_mes_entry_clear(&ob->entry);
	ob->read_rc = EDL_OK;
	if (ob->reader == NULL)
		ob->read_rc = edl_store_open(&ob->reader, ob->db_path, &err);
	if (ob->read_rc == EDL_OK)
		ob->read_rc = edl_store_mes_due(ob->reader, wall_ms(), &ob->entry, &ob->found,
		                                &ob->next_due_ms, &ob->read_pending, &err);
	if (ob->read_rc != EDL_OK) {
		snprintf(ob->read_error, sizeof(ob->read_error), "%s", err.detail);
		edl_store_close(ob->reader); /* opened again next time */
		ob->reader = NULL;
	}
}

static void on_hook_done(const struct edl_mes_run_result *r, void *data);

static void read_done(uv_work_t *w, int status)
{
	struct edl_mes_outbox *ob = w->data;
	struct edl_mes_run *run;
	struct edl_error err;
	bool again = ob->again;

	ob->again = false;
	ob->state = OUTBOX_IDLE;
	if (stop_if_asked(ob, status == 0 && ob->read_rc == EDL_OK && ob->found))
		return;
	if (status != 0 || ob->read_rc != EDL_OK) {
		arm_at(ob, wall_ms() + ob->retry_min_ms);
		return;
	}
	ob->pending = (size_t)ob->read_pending;
	if (!ob->found) {
		if (again)
			look(ob);
		else if (ob->next_due_ms != INT64_MAX)
			arm_at(ob, ob->next_due_ms);
		else /* kicks bring new entries; a slow look catches a lost one */
			arm_at(ob, wall_ms() + OUTBOX_IDLE_LOOK_MS);
		return;
	}
	struct edl_mes_run_options o = {
	        .name = "after_unit",
	        .argv = ob->argv,
	        .input = ob->entry.payload,
	        .input_len = strlen(ob->entry.payload),
	        .timeout_ms = ob->timeout_ms,
	};
	ob->state = OUTBOX_RUNNING;
	if (edl_mes_run_start(&run, ob->loop, &o, on_hook_done, ob, &err) != EDL_OK) {
		struct edl_mes_run_result res = {.code = EDL_E_MES_HOOK, .exit_status = -1};
		snprintf(res.detail, sizeof(res.detail), "%s", err.detail);
		on_hook_done(&res, ob);
	}
}

static void look(struct edl_mes_outbox *ob)
{
	struct edl_store_state state;
	int64_t now = wall_ms();

	if (ob->state != OUTBOX_IDLE) {
		ob->again = true;
		return;
	}
	/* Stopping, the outbox drains only while the MES answers. */
	edl_store_writer_state(ob->writer, &state);
	bool can_go = now >= ob->pause_until_ms && state.writable && state.kept == 0;
	if (stop_if_asked(ob, can_go))
		return;
	uv_timer_stop(&ob->timer);
	if (now < ob->pause_until_ms) {
		arm_at(ob, ob->pause_until_ms);
		return;
	}
	/* A mark still kept (disk full) is not in the database yet: wait. */
	if (!can_go) {
		arm_at(ob, now + ob->retry_min_ms);
		return;
	}
	ob->state = OUTBOX_READING;
	ob->work.data = ob;
	if (uv_queue_work(ob->loop, &ob->work, read_work, read_done) != 0) {
		ob->state = OUTBOX_IDLE;
		arm_at(ob, now + ob->retry_min_ms);
	}
}

/* ---- RUNNING and MARKING ----------------------------------------------------------- */

static void on_marked(const struct edl_store_done *done, void *data)
{
	struct edl_mes_outbox *ob = data;

	(void)done; /* kept or not, look() waits for the writer to be writable */
	ob->state = OUTBOX_IDLE;
	look(ob);
}

static void on_hook_done(const struct edl_mes_run_result *r, void *data)
{
	struct edl_mes_outbox *ob = data;
	int64_t now = wall_ms();
	struct edl_store_mes_mark m = {.run_id = ob->entry.run_id, .at_ms = now};
	char why[700];

	if (r->code == EDL_OK) {
		m.delivered = true;
		ob->delivered++;
		ob->consecutive_failures = 0;
		ob->pause_until_ms = 0;
		if (ob->pending > 0)
			ob->pending--;
	} else {
		ob->failures++;
		ob->consecutive_failures++;
		m.next_ms =
		        now + (int64_t)edl_mes_backoff_ms(ob->entry.attempts + 1, ob->retry_min_ms,
		                                          ob->retry_max_ms, jitter(ob));
		ob->pause_until_ms = now + (int64_t)edl_mes_backoff_ms(
		                                   ob->consecutive_failures, ob->retry_min_ms,
		                                   ob->retry_max_ms, jitter(ob));
		snprintf(why, sizeof(why), "%s", r->detail);
		m.error = why;
	}
	ob->state = OUTBOX_MARKING;
	if (edl_store_writer_mes_mark(ob->writer, &m, on_marked, ob) != EDL_OK) {
		/* The writer is closing: the entry stays undelivered in the database. */
		ob->state = OUTBOX_IDLE;
		if (!stop_if_asked(ob, false))
			arm_at(ob, now + ob->retry_min_ms);
	}
}

/* ---- the contract ------------------------------------------------------------------ */

int edl_mes_outbox_start(struct edl_mes_outbox **out, uv_loop_t *loop,
                         const struct edl_mes_outbox_options *o, struct edl_error *err)
{
	struct edl_mes_outbox *ob = calloc(1, sizeof(*ob));
	size_t n = 0;

	*out = NULL;
	if (ob == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "after_unit: out of memory");
	while (o->argv[n] != NULL)
		n++;
	ob->argv = calloc(n + 1, sizeof(*ob->argv));
	for (size_t i = 0; ob->argv != NULL && i < n; i++)
		ob->argv[i] = strdup(o->argv[i]);
	if (ob->argv == NULL || (n > 0 && ob->argv[n - 1] == NULL)) {
		edl_mes_argv_free(ob->argv);
		free(ob);
		return edl_error_set(err, EDL_E_NOMEM, "after_unit: out of memory");
	}
	ob->loop = loop;
	ob->timeout_ms = o->timeout_ms;
	ob->retry_min_ms = o->retry_min_ms ? o->retry_min_ms : 1000;
	ob->retry_max_ms = o->retry_max_ms >= ob->retry_min_ms ? o->retry_max_ms : ob->retry_min_ms;
	snprintf(ob->db_path, sizeof(ob->db_path), "%s", o->db_path);
	ob->writer = o->writer;
	ob->jitter_state = (((uint64_t)wall_ms() * 0x9e3779b97f4a7c15ull) ^ (uint64_t)getpid()) | 1;
	uv_timer_init(loop, &ob->timer);
	ob->timer.data = ob;
	/* What an earlier station left undelivered goes first. */
	uv_timer_start(&ob->timer, on_timer, 0, 0);
	*out = ob;
	return EDL_OK;
}

void edl_mes_outbox_kick(struct edl_mes_outbox *ob)
{
	if (ob == NULL || ob->stopping)
		return;
	ob->pending++;
	look(ob);
}

size_t edl_mes_outbox_pending(const struct edl_mes_outbox *ob)
{
	return ob != NULL ? ob->pending : 0;
}

uint64_t edl_mes_outbox_delivered(const struct edl_mes_outbox *ob)
{
	return ob != NULL ? ob->delivered : 0;
}

uint64_t edl_mes_outbox_failures(const struct edl_mes_outbox *ob)
{
	return ob != NULL ? ob->failures : 0;
}

void edl_mes_outbox_stop(struct edl_mes_outbox *ob, void (*stopped)(void *data), void *data)
{
	ob->stopping = true;
	ob->stop_deadline_ms = wall_ms() + ob->timeout_ms;
	ob->stopped = stopped;
	ob->stopped_data = data;
	if (ob->state == OUTBOX_IDLE)
		look(ob);
}
