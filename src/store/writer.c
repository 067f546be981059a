/*
 * The writer: one thread that owns the database's write connection, so that no
 * fsync ever runs on the station's loop.
 *
 * Callers queue operations (record.c copies them) and get a run id at once.
 * The thread takes everything queued, up to max_batch operations, and commits
 * it as one transaction: under load many runs share one fsync, and a quiet
 * station still commits each result as soon as it is queued. A transaction that
 * records a result uses synchronous=FULL; one that only records starts and
 * identities uses NORMAL (a later FULL commit makes it durable too). If an
 * operation of a batch fails on its own (a run that does not exist), the batch
 * is rolled back and replayed one operation per transaction, so that it fails
 * alone.
 *
 * When the database cannot be written (disk full, I/O error, or free space
 * below the reserve), nothing is dropped: the batch is rolled back and its
 * operations are KEPT, in memory and appended to the journal <db>.pending
 * (journal.c, fsynced), and each is reported with kept = true. Everything
 * queued after joins the kept list in order, and the list is retried every
 * retry_ms as one transaction; once it commits the journal is rewound and
 * on_state says writable again. A writer opened on a journal with entries
 * replays it first; replay is idempotent (a start already recorded, a run
 * already finished, are skipped), so a station killed between a commit and the
 * rewind records nothing twice.
 *
 * The states, reported through on_state on the caller's side:
 *   WRITABLE      nothing kept; batches commit as they come.
 *   NOT WRITABLE  operations kept (or the reserve is short); every batch
 *                 joins the kept list; a retry every retry_ms.
 * WRITABLE -> NOT WRITABLE on a storage failure or a short reserve; back when
 * the kept list commits and the reserve is met.
 *
 * Exclusion: the writer takes flock(LOCK_EX) on the database file's own
 * descriptor before it writes anything (before runs are marked interrupted),
 * and holds it until the connection is closed. A hard link reaches the same
 * inode, so it finds the lock taken; no side file can be deleted to get
 * around it. flock() and SQLite's fcntl() byte-range locks are independent on
 * Linux (not on NFS, where flock is emulated with fcntl: keep the database on a
 * local disk). The descriptor is closed only after sqlite3_close(), because
 * closing any descriptor of a file drops the process's fcntl locks on it.
 *
 * Run ids: with the lock, no other writer can insert into this database, so
 * the next id is read from it once at open (max(id) + 1, raised past any run
 * the journal keeps) and handed out in order: edl_store_writer_run_start()
 * gives the id at once, and it can never collide.
 *
 * Finished operations go to a done list that the caller's side drains: the
 * thread wakes a libuv loop through a uv_async_t, or a CLI/test thread blocked
 * in edl_store_writer_wait() on a condition variable. Callbacks therefore
 * always run on the caller's thread, never on the writer's.
 */
#include "store_internal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define DEFAULT_MAX_BATCH 2048
#define DEFAULT_RETRY_MS 1000
#define CHECK_BUDGET_MS 2000
#define STATE_DETAIL_MAX 2200

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

struct oplist {
	struct edl_store_oprec *head, *tail;
	size_t n;
};

struct edl_store_writer {
	pthread_mutex_t lock;
	pthread_cond_t work;    /* signalled when operations are queued or close begins */
	pthread_cond_t settled; /* signalled when a batch is done */
	struct edl_store_oprec *queue_head, *queue_tail; /* waiting for the thread */
	struct edl_store_oprec *done_head, *done_tail;   /* waiting for their callbacks */
	size_t pending;                                  /* queued or being written */
	bool closing;
	int64_t next_run_id;
	/* The state as last decided by the thread (under lock); dirty: not yet
	 * reported through on_state. */
	struct edl_store_state state;
	char state_detail[STATE_DETAIL_MAX];
	bool state_dirty;

	/* Owned by the thread once it runs. */
	sqlite3 *db;
	struct edl_store_recorder recorder;
	int synchronous; /* 2 FULL, 1 NORMAL, as last set */
	unsigned max_batch;
	struct edl_store_journal journal;
	struct oplist kept;    /* in the order queued */
	size_t kept_results;   /* of the kept, how many are run results (finishes) */
	size_t kept_journaled; /* of the kept, how many the journal holds */
	size_t kept_from_open; /* the first ones, read from the journal at open */
	bool recover_pending;  /* runs left running by a dead station not marked yet */
	int64_t recover_ms;
	bool short_of_space; /* below the reserve at the last check */
	int fault_code;      /* why not writable */
	char fault[700];     /* the reason, without the kept clause */
	char journal_fault[600];
	int64_t next_retry_ms; /* monotonic */

	/* Fixed at open. */
	char path[4096];
	char dir[4096];
	uint64_t min_free_bytes;
	bool mes_outbox; /* recovered runs are queued for the MES too */
	uint32_t retry_ms;
	edl_store_state_fn on_state;
	void *state_data;
	char state_out_detail[STATE_DETAIL_MAX]; /* caller's copy for edl_store_writer_state */

	pthread_t thread;
	bool thread_started;
	int db_fd; /* holds the flock */
	uint64_t recovered;
	uv_loop_t *loop;
	uv_async_t async;
};

static int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void list_push(struct oplist *l, struct edl_store_oprec *op)
{
	op->next = NULL;
	if (l->tail != NULL)
		l->tail->next = op;
	else
		l->head = op;
	l->tail = op;
	l->n++;
}

static void list_free(struct oplist *l)
{
	while (l->head != NULL) {
		struct edl_store_oprec *next = l->head->next;
		edl_store_oprec_free(l->head);
		l->head = next;
	}
	l->tail = NULL;
	l->n = 0;
}

/* ---- free space ------------------------------------------------------------------------- */

static int free_space(const struct edl_store_writer *w, uint64_t *out, struct edl_error *err)
{
	struct statvfs sv;

	if (statvfs(w->dir, &sv) != 0)
		return edl_error_set(err, EDL_E_IO, "results database %s: free space on %s: %s",
		                     w->path, w->dir, strerror(errno));
	*out = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	return EDL_OK;
}

/* Re-checks the reserve; when short, makes it the fault. Returns whether short. */
static bool check_reserve(struct edl_store_writer *w)
{
	uint64_t avail = 0;

	if (w->min_free_bytes == 0 || free_space(w, &avail, NULL) != EDL_OK)
		return w->short_of_space = false;
	w->short_of_space = avail < w->min_free_bytes;
	if (w->short_of_space) {
		w->fault_code = EDL_E_DB_FULL;
		snprintf(w->fault, sizeof(w->fault),
		         "free space on %.400s is %" PRIu64 " MiB, below the %" PRIu64
		         " MiB reserve ([store] min_free_mb)",
		         w->dir, avail >> 20, (w->min_free_bytes + (1u << 20) - 1) >> 20);
	}
	return w->short_of_space;
}

/* ---- the state -------------------------------------------------------------------------- */

/* "results database X: <fault>; N result(s) kept in X.pending, committed once it can write". */
static void compose_detail(const struct edl_store_writer *w, char *out, size_t len)
{
	int n = snprintf(out, len, "results database %.400s: %s", w->path, w->fault);

	if (n < 0 || (size_t)n >= len)
		return;
	if (w->kept.n > 0 && w->journal_fault[0] == '\0')
		snprintf(out + n, len - (size_t)n,
		         "; %zu result(s) (%zu record(s)) kept in %.400s, committed once it can "
		         "write",
		         w->kept_results, w->kept.n, w->journal.path);
	else if (w->kept.n > 0)
		snprintf(out + n, len - (size_t)n,
		         "; %zu result(s) (%zu record(s)) kept in memory only (%s), committed once "
		         "it can write, lost if the station stops",
		         w->kept_results, w->kept.n, w->journal_fault);
}

/* Records the state for the caller's side; a change of writable or code is
 * reported through on_state at the next delivery. */
static void set_state(struct edl_store_writer *w, bool writable, uint64_t recovered)
{
	pthread_mutex_lock(&w->lock);
	if (w->state.writable != writable || (!writable && w->state.code != w->fault_code) ||
	    recovered > 0)
		w->state_dirty = true;
	w->state.writable = writable;
	w->state.code = writable ? EDL_OK : w->fault_code;
	w->state.kept = w->kept.n;
	w->state.recovered = recovered;
	if (writable)
		w->state_detail[0] = '\0';
	else
		compose_detail(w, w->state_detail, sizeof(w->state_detail));
	pthread_mutex_unlock(&w->lock);
}

/* ---- the thread ------------------------------------------------------------------------- */

/* Failures of the store, not of the operation: the operation is kept. */
static bool storage_fault(int code)
{
	switch (code) {
	case EDL_E_DB_FULL:
	case EDL_E_IO:
	case EDL_E_DB_BUSY:
	case EDL_E_PERM:
	case EDL_E_NOMEM:
	case EDL_E_DB_CORRUPT:
	case EDL_E_INTERRUPTED:
		return true;
	default:
		return false;
	}
}

static int set_synchronous(struct edl_store_writer *w, int level, struct edl_error *err)
{
	int rc;

	if (w->synchronous == level)
		return EDL_OK;
	rc = edl_store_exec(
	        w->db, level == 2 ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
	        err);
	if (rc == EDL_OK)
		w->synchronous = level;
	return rc;
}

static void fail_op(struct edl_store_oprec *op, const struct edl_error *err)
{
	char detail[EDL_ERROR_DETAIL_MAX + 32], named[32];

	op->code = err->code;
	/* The record functions' own messages may name the run already ("run 7
	 * does not exist"): say it once. */
	snprintf(named, sizeof(named), "run %" PRId64 " ", op->run_id);
	if (op->run_id != 0 && strncmp(err->detail, named, strlen(named)) != 0)
		snprintf(detail, sizeof(detail), "run %" PRId64 ": %s", op->run_id, err->detail);
	else
		snprintf(detail, sizeof(detail), "%s", err->detail);
	free(op->detail);
	op->detail = strdup(detail);
}

/* Makes a storage failure the fault: "disk full (free space on /x)" or the error. */
static void note_fault(struct edl_store_writer *w, const struct edl_error *err)
{
	w->fault_code = err->code;
	if (err->code == EDL_E_DB_FULL)
		snprintf(w->fault, sizeof(w->fault), "disk full (free space on %.400s)", w->dir);
	else
		snprintf(w->fault, sizeof(w->fault), "%s", err->detail);
}

/* Applies ops [first, stop) in one transaction; with recover_after set, marks
 * dead runs interrupted after that many operations (the journal's, which a
 * dead station left). Returns EDL_OK when committed; on failure everything is
 * rolled back and *failed names the operation at fault (NULL when BEGIN,
 * COMMIT or the recovery failed). */
static int write_transaction(struct edl_store_writer *w, struct edl_store_oprec *first,
                             struct edl_store_oprec *stop, bool recover, size_t recover_after,
                             struct edl_store_oprec **failed, struct edl_error *err)
{
	uint64_t marked = 0;
	size_t i = 0;
	int level = recover ? 2 : 1;
	int rc;

	*failed = NULL;
	for (struct edl_store_oprec *op = first; op != stop; op = op->next) {
		if (op->kind == EDL_STORE_OP_RUN_FINISH)
			level = 2;
	}
	rc = set_synchronous(w, level, err);
	if (rc == EDL_OK)
		rc = edl_store_exec(w->db, "BEGIN IMMEDIATE", err);
	if (rc != EDL_OK)
		return rc;
	for (struct edl_store_oprec *op = first;; op = op->next, i++) {
		if (recover && i == recover_after) {
			rc = edl_store_recover(&marked, w->db, w->recover_ms, w->mes_outbox, err);
			if (rc != EDL_OK)
				goto rollback;
		}
		if (op == stop)
			break;
		rc = edl_store_recorder_apply(&w->recorder, op, err);
		if (rc != EDL_OK) {
			*failed = op;
			goto rollback;
		}
	}
	rc = edl_store_exec(w->db, "COMMIT", err);
	if (rc == EDL_OK) {
		if (recover)
			w->recovered = marked;
		return EDL_OK;
	}
rollback:
	sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
	edl_store_recorder_forget(&w->recorder);
	return rc;
}

/* Keeps the list from `from` on: journal, notices for the callbacks (into out),
 * the operations themselves onto the kept list. */
static void keep_ops(struct edl_store_writer *w, struct edl_store_oprec *from, struct oplist *out)
{
	struct edl_error err;
	char detail[STATE_DETAIL_MAX];
	size_t n = 0;

	for (struct edl_store_oprec *op = from; op != NULL; op = op->next)
		n++;
	edl_error_clear(&err);
	if (edl_store_journal_append(&w->journal, from, &err) != EDL_OK)
		snprintf(w->journal_fault, sizeof(w->journal_fault), "%s", err.detail);
	else
		w->kept_journaled += n;
	while (from != NULL) {
		struct edl_store_oprec *op = from, *notice;
		from = from->next;
		list_push(&w->kept, op);
		if (op->kind == EDL_STORE_OP_RUN_FINISH)
			w->kept_results++;
		compose_detail(w, detail, sizeof(detail));
		op->code = w->fault_code;
		op->kept = true;
		free(op->detail);
		op->detail = strdup(detail);
		notice = edl_store_oprec_notice(op);
		if (notice != NULL)
			list_push(out, notice);
		free(op->detail);
		op->detail = NULL;
		op->cb = NULL; /* told once, now */
		op->replay = true;
	}
	set_state(w, false, 0);
}

static void write_batch(struct edl_store_writer *w, struct edl_store_oprec *batch,
                        struct oplist *out)
{
	struct edl_store_oprec *failed;
	struct edl_error err;
	int rc;

	edl_error_clear(&err);
	rc = write_transaction(w, batch, NULL, false, 0, &failed, &err);
	if (rc == EDL_OK) {
		while (batch != NULL) {
			struct edl_store_oprec *next = batch->next;
			list_push(out, batch);
			batch = next;
		}
		return;
	}
	if (storage_fault(rc)) {
		note_fault(w, &err);
		keep_ops(w, batch, out);
		return;
	}
	/* Replay one by one so that only the operations at fault fail. */
	while (batch != NULL) {
		struct edl_store_oprec *op = batch;
		edl_error_clear(&err);
		rc = write_transaction(w, op, op->next, false, 0, &failed, &err);
		if (rc != EDL_OK && storage_fault(rc)) {
			note_fault(w, &err);
			keep_ops(w, op, out);
			return;
		}
		if (rc != EDL_OK)
			fail_op(op, &err);
		batch = op->next;
		list_push(out, op);
	}
}

/* Commits the kept operations (and the pending recovery) as one transaction.
 * An operation that fails on its own is dropped (it would fail forever).
 * Returns whether the writer is writable now. */
static bool commit_kept(struct edl_store_writer *w)
{
	struct edl_store_oprec *failed;
	struct edl_error err;
	uint64_t committed;
	int rc;

	if (check_reserve(w)) {
		set_state(w, false, 0);
		return false;
	}
	for (;;) {
		edl_error_clear(&err);
		rc = write_transaction(w, w->kept.head, NULL, w->recover_pending, w->kept_from_open,
		                       &failed, &err);
		if (rc == EDL_OK || storage_fault(rc) || failed == NULL)
			break;
		/* Unlink the operation at fault and try again without it. */
		size_t index = 0;
		for (struct edl_store_oprec **at = &w->kept.head; *at != NULL;
		     at = &(*at)->next, index++) {
			if (*at != failed)
				continue;
			*at = failed->next;
			break;
		}
		if (index < w->kept_from_open)
			w->kept_from_open--;
		w->kept.tail = NULL;
		for (struct edl_store_oprec *op = w->kept.head; op != NULL; op = op->next)
			w->kept.tail = op;
		w->kept.n--;
		if (failed->kind == EDL_STORE_OP_RUN_FINISH)
			w->kept_results--;
		edl_store_oprec_free(failed);
	}
	if (rc != EDL_OK) {
		note_fault(w, &err);
		set_state(w, false, 0);
		return false;
	}
	committed = w->kept.n;
	list_free(&w->kept);
	w->kept_results = 0;
	w->kept_journaled = w->kept_from_open = 0;
	w->recover_pending = false;
	w->journal_fault[0] = '\0';
	edl_error_clear(&err);
	/* Committed: a journal that cannot be rewound only replays idempotently. */
	edl_store_journal_rewind(&w->journal, &err);
	set_state(w, true, committed);
	return true;
}

static bool kept_anything(const struct edl_store_writer *w)
{
	return w->kept.n > 0 || w->recover_pending;
}

static void *writer_main(void *arg)
{
	struct edl_store_writer *w = arg;

	for (;;) {
		struct edl_store_oprec *batch = NULL, *last;
		struct oplist out = {0};
		size_t n = 0;
		bool writable, wake;

		pthread_mutex_lock(&w->lock);
		while (w->queue_head == NULL && !w->closing) {
			struct timespec until;
			int64_t ms = w->retry_ms;

			if (!kept_anything(w) && !w->short_of_space && w->min_free_bytes == 0) {
				pthread_cond_wait(&w->work, &w->lock);
				continue;
			}
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += ms / 1000;
			until.tv_nsec += (ms % 1000) * 1000000;
			if (until.tv_nsec >= 1000000000) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000;
			}
			if (pthread_cond_timedwait(&w->work, &w->lock, &until) == ETIMEDOUT)
				break; /* a retry tick */
		}
		if (w->queue_head == NULL && w->closing) {
			pthread_mutex_unlock(&w->lock);
			break;
		}
		if (w->queue_head != NULL) {
			batch = last = w->queue_head;
			n = 1;
			while (last->next != NULL && n < w->max_batch) {
				last = last->next;
				n++;
			}
			w->queue_head = last->next;
			if (w->queue_head == NULL)
				w->queue_tail = NULL;
			last->next = NULL;
		}
		pthread_mutex_unlock(&w->lock);

		if (kept_anything(w)) {
			writable = false;
			if (monotonic_ms() >= w->next_retry_ms) {
				writable = commit_kept(w);
				w->next_retry_ms = monotonic_ms() + w->retry_ms;
			}
		} else {
			bool was_short = w->short_of_space;
			writable = !check_reserve(w);
			if (writable != !was_short)
				set_state(w, writable, 0);
		}
		if (batch != NULL && writable)
			write_batch(w, batch, &out);
		else if (batch != NULL)
			keep_ops(w, batch, &out);

		pthread_mutex_lock(&w->lock);
		if (out.head != NULL) {
			if (w->done_tail != NULL)
				w->done_tail->next = out.head;
			else
				w->done_head = out.head;
			w->done_tail = out.tail;
		}
		w->pending -= n;
		wake = out.head != NULL || w->state_dirty;
		pthread_cond_broadcast(&w->settled);
		pthread_mutex_unlock(&w->lock);
		if (w->loop != NULL && wake)
			uv_async_send(&w->async);
	}
	/* A last try; what still cannot be written stays in the journal. */
	if (kept_anything(w))
		commit_kept(w);
	return NULL;
}

/* ---- the caller's side ------------------------------------------------------------------ */

/* Runs the callbacks of every finished operation, in the order queued. */
static void deliver(struct edl_store_writer *w)
{
	struct edl_store_oprec *op;
	struct edl_store_state state;
	char detail[STATE_DETAIL_MAX];
	bool report;

	pthread_mutex_lock(&w->lock);
	op = w->done_head;
	w->done_head = w->done_tail = NULL;
	report = w->state_dirty && w->on_state != NULL;
	w->state_dirty = false;
	state = w->state;
	snprintf(detail, sizeof(detail), "%s", w->state_detail);
	pthread_mutex_unlock(&w->lock);
	/* The state first: a station stops its line before it hears of kept results. */
	if (report) {
		state.detail = detail;
		w->on_state(&state, w->state_data);
	}
	while (op != NULL) {
		struct edl_store_oprec *next = op->next;
		if (op->cb != NULL) {
			struct edl_store_done done = {
			        .op = op->kind,
			        .run_id = op->run_id,
			        .code = op->code,
			        .detail = op->detail != NULL ? op->detail : "",
			        .kept = op->kept,
			};
			op->cb(&done, op->data);
		}
		edl_store_oprec_free(op);
		op = next;
	}
}

static void on_async(uv_async_t *handle)
{
	deliver(container_of(handle, struct edl_store_writer, async));
}

int64_t edl_store_writer_next_run_id(struct edl_store_writer *w)
{
	int64_t id;

	pthread_mutex_lock(&w->lock);
	id = w->next_run_id;
	pthread_mutex_unlock(&w->lock);
	return id;
}

static int enqueue(struct edl_store_writer *w, struct edl_store_oprec *op, edl_store_done_fn cb,
                   void *data, int64_t *out_run_id)
{
	if (op == NULL)
		return EDL_E_NOMEM;
	op->cb = cb;
	op->data = data;
	op->at_ms = edl_store_time_now_ms();
	pthread_mutex_lock(&w->lock);
	if (w->closing) {
		pthread_mutex_unlock(&w->lock);
		edl_store_oprec_free(op);
		return EDL_E_BUSY;
	}
	if (out_run_id != NULL) {
		op->run_id = w->next_run_id++;
		*out_run_id = op->run_id;
	}
	if (op->kind == EDL_STORE_OP_RUN_PROGRESS) {
		/* Coalesce: a newer progress replaces the one still queued. */
		for (struct edl_store_oprec *q = w->queue_head; q != NULL; q = q->next) {
			if (q->kind == EDL_STORE_OP_RUN_PROGRESS && q->run_id == op->run_id)
				q->superseded = true;
		}
	}
	if (w->queue_tail != NULL)
		w->queue_tail->next = op;
	else
		w->queue_head = op;
	w->queue_tail = op;
	w->pending++;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->lock);
	return EDL_OK;
}

int edl_store_writer_station(struct edl_store_writer *w, const struct edl_store_station *st,
                             edl_store_done_fn cb, void *data)
{
	if (st->name == NULL || st->name[0] == '\0')
		return EDL_E_INVAL;
	return enqueue(w, edl_store_oprec_station(st), cb, data, NULL);
}

int edl_store_writer_package(struct edl_store_writer *w, const struct edl_store_package *pkg,
                             edl_store_done_fn cb, void *data)
{
	if (pkg->manifest_hash == NULL || pkg->manifest_hash[0] == '\0')
		return EDL_E_INVAL;
	return enqueue(w, edl_store_oprec_package(pkg), cb, data, NULL);
}

int edl_store_writer_device(struct edl_store_writer *w, const struct edl_store_device *dev,
                            edl_store_done_fn cb, void *data)
{
	if (dev->serial == NULL)
		return EDL_E_INVAL;
	return enqueue(w, edl_store_oprec_device(EDL_STORE_OP_DEVICE, dev), cb, data, NULL);
}

int edl_store_writer_run_start(int64_t *out_run_id, struct edl_store_writer *w,
                               const struct edl_store_run_start *run, edl_store_done_fn cb,
                               void *data)
{
	*out_run_id = 0;
	if (run->station == NULL)
		return EDL_E_INVAL;
	return enqueue(w, edl_store_oprec_run_start(run), cb, data, out_run_id);
}

int edl_store_writer_run_identify(struct edl_store_writer *w, int64_t run_id,
                                  const struct edl_store_device *dev, edl_store_done_fn cb,
                                  void *data)
{
	struct edl_store_oprec *op;

	if (dev->serial == NULL || run_id <= 0)
		return EDL_E_INVAL;
	op = edl_store_oprec_device(EDL_STORE_OP_RUN_IDENTIFY, dev);
	if (op != NULL)
		op->run_id = run_id;
	return enqueue(w, op, cb, data, NULL);
}

int edl_store_writer_run_finish(struct edl_store_writer *w, const struct edl_store_run_end *end,
                                edl_store_done_fn cb, void *data)
{
	if (end->run_id <= 0 || end->result == EDL_RESULT_RUNNING ||
	    (unsigned)end->result > EDL_RESULT_INTERRUPTED || (end->n_steps > 0 && !end->steps) ||
	    (end->n_log_lines > 0 && !end->log_lines))
		return EDL_E_INVAL;
	return enqueue(w, edl_store_oprec_run_end(end), cb, data, NULL);
}

int edl_store_writer_run_route(struct edl_store_writer *w, int64_t run_id, const char *product,
                               const char *package_hash, edl_store_done_fn cb, void *data)
{
	struct edl_store_run_route rt = {
	        .run_id = run_id, .product = product, .package_hash = package_hash};

	if (run_id <= 0 || (product == NULL && package_hash == NULL))
		return EDL_E_INVAL;
	return enqueue(w, edl_store_oprec_route(&rt), cb, data, NULL);
}

int edl_store_writer_run_progress(struct edl_store_writer *w, const struct edl_store_progress *p,
                                  edl_store_done_fn cb, void *data)
{
	if (p->run_id <= 0)
		return EDL_E_INVAL;
	return enqueue(w, edl_store_oprec_progress(p), cb, data, NULL);
}

/* issue 13: the MES records (src/store/mes.c copies and applies them). */
int edl_store_writer_run_mes(struct edl_store_writer *w, const struct edl_store_run_mes *m,
                             edl_store_done_fn cb, void *data)
{
	if (m->run_id <= 0)
		return EDL_E_INVAL;
	return enqueue(w, edl_store_oprec_run_mes(m), cb, data, NULL);
}

int edl_store_writer_mes_mark(struct edl_store_writer *w, const struct edl_store_mes_mark *m,
                              edl_store_done_fn cb, void *data)
{
	if (m->run_id <= 0)
		return EDL_E_INVAL;
	return enqueue(w, edl_store_oprec_mes_mark(m), cb, data, NULL);
}

int edl_store_writer_archive(struct edl_store_writer *w, const struct edl_store_archive *a,
                             edl_store_done_fn cb, void *data)
{
	if (a->run_id <= 0 || a->serial == NULL || a->kind == NULL || a->label == NULL ||
	    a->path == NULL || a->sha256 == NULL || a->restored < -1 || a->restored > 1 ||
	    a->bytes > INT64_MAX)
		return EDL_E_INVAL;
	return enqueue(w, edl_store_oprec_archive(a), cb, data, NULL);
}

int edl_store_writer_space(struct edl_store_writer *w, uint64_t *free_bytes, bool *above_reserve,
                           struct edl_error *err)
{
	int rc = free_space(w, free_bytes, err);

	*above_reserve = rc != EDL_OK || *free_bytes >= w->min_free_bytes;
	if (rc != EDL_OK)
		*free_bytes = 0;
	return rc;
}

void edl_store_writer_state(struct edl_store_writer *w, struct edl_store_state *out)
{
	pthread_mutex_lock(&w->lock);
	*out = w->state;
	snprintf(w->state_out_detail, sizeof(w->state_out_detail), "%s", w->state_detail);
	pthread_mutex_unlock(&w->lock);
	out->detail = w->state_out_detail;
}

int edl_store_writer_wait(struct edl_store_writer *w, size_t max_pending)
{
	pthread_mutex_lock(&w->lock);
	while (w->pending > max_pending)
		pthread_cond_wait(&w->settled, &w->lock);
	pthread_mutex_unlock(&w->lock);
	deliver(w);
	return EDL_OK;
}

int edl_store_writer_flush(struct edl_store_writer *w)
{
	return edl_store_writer_wait(w, 0);
}

size_t edl_store_writer_pending(struct edl_store_writer *w)
{
	size_t n;

	pthread_mutex_lock(&w->lock);
	n = w->pending;
	pthread_mutex_unlock(&w->lock);
	return n;
}

uint64_t edl_store_writer_recovered(const struct edl_store_writer *w)
{
	return w->recovered;
}

/* ---- open and close --------------------------------------------------------------------- */

/* The pid holding a flock on the file, from /proc/locks; 0 when unknown. */
static long lock_holder(int fd)
{
	struct stat sb;
	char line[256];
	long pid = 0;
	FILE *f;

	if (fstat(fd, &sb) != 0 || (f = fopen("/proc/locks", "re")) == NULL)
		return 0;
	while (pid == 0 && fgets(line, sizeof(line), f) != NULL) {
		unsigned maj, min;
		unsigned long long ino;
		long p;
		char kind[16];

		if (strstr(line, "->") != NULL)
			continue; /* a waiter, not a holder */
		if (sscanf(line, "%*d: %15s %*s %*s %ld %x:%x:%llu", kind, &p, &maj, &min, &ino) !=
		    5)
			continue;
		if (strcmp(kind, "FLOCK") == 0 && ino == (unsigned long long)sb.st_ino &&
		    maj == major(sb.st_dev) && min == minor(sb.st_dev))
			pid = p;
	}
	fclose(f);
	return pid;
}

/* Takes flock(LOCK_EX) on the database file itself (created empty when
 * missing, which SQLite takes for a new database). */
static int lock_database(int *out_fd, const char *path, const char *dir, struct edl_error *err)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	struct stat sb;

	if (fd < 0) {
		int e = errno;
		if (e == ENOENT || (e == ENOTDIR && (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))))
			return edl_error_set(err, EDL_E_CONFIG,
			                     "results database %s: directory %s does not exist: "
			                     "create it or set [results] database",
			                     path, dir);
		if (e == ENOSPC)
			return edl_error_set(err, EDL_E_DB_FULL,
			                     "results database %s: cannot be created, disk full "
			                     "(free space on %s)",
			                     path, dir);
		return edl_error_set(err, edl_error_from_errno(e),
		                     "results database %s: cannot open it for writing: %s", path,
		                     strerror(e));
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		long pid = e == EWOULDBLOCK ? lock_holder(fd) : 0;
		char who[48] = "";

		close(fd);
		if (e != EWOULDBLOCK)
			return edl_error_set(err, edl_error_from_errno(e),
			                     "results database %s: locking it: %s", path,
			                     strerror(e));
		if (pid > 0)
			snprintf(who, sizeof(who), " (pid %ld)", pid);
		return edl_error_set(err, EDL_E_DB_LOCKED,
		                     "results database %s is in use by another station%s; stop it "
		                     "first, or give this station its own [results] database",
		                     path, who);
	}
	*out_fd = fd;
	return EDL_OK;
}

static int read_next_run_id(int64_t *out, sqlite3 *db, struct edl_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT coalesce(max(id), 0) + 1 FROM run", -1, &st, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		return edl_store_sqlite_error(err, db, rc, "reading the last run id");
	return EDL_OK;
}

static void free_writer(struct edl_store_writer *w)
{
	list_free(&w->kept);
	edl_store_journal_close(&w->journal);
	edl_store_recorder_free(&w->recorder);
	/* The WAL file stays (see configure() in schema.c) but empty: what was
	 * written is in the database file itself, as a copy or a check sees it. */
	if (w->db != NULL)
		sqlite3_exec(w->db, "PRAGMA journal_size_limit = 0", NULL, NULL, NULL);
	sqlite3_close(w->db);
	/* After sqlite3_close: closing it earlier would drop SQLite's fcntl locks. */
	if (w->db_fd >= 0)
		close(w->db_fd);
	pthread_cond_destroy(&w->settled);
	pthread_cond_destroy(&w->work);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

int edl_store_writer_open(struct edl_store_writer **out, const char *path,
                          const struct edl_store_writer_options *opts, struct edl_error *err)
{
	struct edl_store_writer *w;
	struct edl_store_oprec *journaled = NULL;
	struct edl_error jerr;
	char note[STATE_DETAIL_MAX];
	const char *slash;
	int64_t journal_max = 0;
	int rc;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "opening the store writer");
	w->db_fd = -1;
	w->journal.fd = -1;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->work, NULL);
	pthread_cond_init(&w->settled, NULL);
	w->max_batch = opts != NULL && opts->max_batch > 0 ? opts->max_batch : DEFAULT_MAX_BATCH;
	w->loop = opts != NULL ? opts->loop : NULL;
	w->recover_ms = opts != NULL && opts->now_ms != 0 ? opts->now_ms : edl_store_time_now_ms();
	w->min_free_bytes = opts != NULL ? opts->min_free_bytes : 0;
	w->mes_outbox = opts != NULL && opts->mes_outbox;
	w->retry_ms = opts != NULL && opts->retry_ms > 0 ? opts->retry_ms : DEFAULT_RETRY_MS;
	w->on_state = opts != NULL ? opts->on_state : NULL;
	w->state_data = opts != NULL ? opts->state_data : NULL;
	if (snprintf(w->path, sizeof(w->path), "%s", path) >= (int)sizeof(w->path)) {
		rc = edl_error_set(err, EDL_E_INVAL, "results database path too long");
		goto out;
	}
	slash = strrchr(path, '/');
	if (slash == NULL)
		snprintf(w->dir, sizeof(w->dir), ".");
	else
		snprintf(w->dir, sizeof(w->dir), "%.*s", slash == path ? 1 : (int)(slash - path),
		         path);

	/* The lock before anything else: nothing is read or written unlocked. */
	rc = lock_database(&w->db_fd, path, w->dir, err);
	if (rc != EDL_OK)
		goto out;
	rc = edl_store_db_open_writer(&w->db, path, CHECK_BUDGET_MS, note, sizeof(note), err);
	if (rc != EDL_OK)
		goto out;
	if (note[0] != '\0')
		fprintf(stderr, "edlstation: %s\n", note);
	w->synchronous = 2;
	rc = edl_store_recorder_init(&w->recorder, w->db, err);
	if (rc != EDL_OK)
		goto out;
	edl_error_clear(&jerr);
	rc = edl_store_journal_open(&w->journal, path, &journaled, &journal_max, &jerr);
	if (rc == EDL_E_DB_CORRUPT || rc == EDL_E_NOMEM) {
		*err = jerr;
		goto out;
	}
	if (rc != EDL_OK)
		snprintf(w->journal_fault, sizeof(w->journal_fault), "%s", jerr.detail);
	rc = EDL_OK;
	while (journaled != NULL) {
		struct edl_store_oprec *op = journaled;
		journaled = op->next;
		op->replay = true;
		list_push(&w->kept, op);
		if (op->kind == EDL_STORE_OP_RUN_FINISH)
			w->kept_results++;
	}
	w->kept_journaled = w->kept_from_open = w->kept.n;
	/* The journal's operations (a dead station's), then its running runs
	 * marked interrupted: one transaction, or kept and retried when the disk
	 * is full, so that a restart on a full disk starts stopped, not failed. */
	w->recover_pending = true;
	w->state.writable = true;
	w->state_dirty = true; /* reported once at open */
	commit_kept(w);
	w->next_retry_ms = monotonic_ms() + w->retry_ms;
	rc = read_next_run_id(&w->next_run_id, w->db, err);
	if (rc != EDL_OK)
		goto out;
	if (journal_max >= w->next_run_id)
		w->next_run_id = journal_max + 1;
	if (w->loop != NULL && uv_async_init(w->loop, &w->async, on_async) != 0) {
		rc = edl_error_set(err, EDL_E_INTERNAL, "creating the writer's loop wakeup");
		goto out;
	}
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		rc = edl_error_set(err, EDL_E_NOMEM, "starting the writer thread");
		if (w->loop != NULL) {
			/* The handle must be closed through the loop; free then. */
			w->thread_started = false;
			edl_store_writer_close(w);
			return rc;
		}
		goto out;
	}
	w->thread_started = true;
	if (w->loop != NULL)
		uv_async_send(&w->async); /* the state at open */
out:
	if (rc != EDL_OK) {
		free_writer(w);
		return rc;
	}
	*out = w;
	return EDL_OK;
}

static void on_async_closed(uv_handle_t *handle)
{
	free_writer(container_of((uv_async_t *)handle, struct edl_store_writer, async));
}

void edl_store_writer_close(struct edl_store_writer *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->closing = true;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->lock);
	if (w->thread_started)
		pthread_join(w->thread, NULL);
	w->thread_started = false;
	deliver(w);
	if (w->loop != NULL)
		uv_close((uv_handle_t *)&w->async, on_async_closed);
	else
		free_writer(w);
}
