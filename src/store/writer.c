/*
 * The writer: one thread that owns the database's write connection, so that no
 * fsync ever runs on the station's loop.
 *
 * Callers queue operations (record.c copies them) and get a run id at once.
 * The thread takes everything queued, up to max_batch operations, and commits
 * it as one transaction: under load many runs share one fsync, and a quiet
 * station still commits each result as soon as it is queued. A transaction that
 * records a result uses synchronous=FULL; one that only records starts and
 * identities uses NORMAL (a later FULL commit makes it durable too). If any
 * operation of a batch fails, the batch is rolled back and every operation is
 * replayed in its own transaction, so one bad operation fails alone.
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
#include <unistd.h>
#include <uv.h>

#define DEFAULT_MAX_BATCH 2048

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

struct edl_store_writer {
	pthread_mutex_t lock;
	pthread_cond_t work;    /* signalled when operations are queued or close begins */
	pthread_cond_t settled; /* signalled when a batch is done */
	struct edl_store_oprec *queue_head, *queue_tail; /* waiting for the thread */
	struct edl_store_oprec *done_head, *done_tail;   /* waiting for their callbacks */
	size_t pending;                                  /* queued or being written */
	bool closing;
	int64_t next_run_id;

	/* Owned by the thread once it runs. */
	sqlite3 *db;
	struct edl_store_recorder recorder;
	int synchronous; /* 2 FULL, 1 NORMAL, as last set */
	unsigned max_batch;

	pthread_t thread;
	bool thread_started;
	int lock_fd;
	uint64_t recovered;
	uv_loop_t *loop;
	uv_async_t async;
};

/* ---- the thread ------------------------------------------------------------------------- */

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

/* Applies ops [first, stop) in one transaction. Returns EDL_OK when committed;
 * on failure everything is rolled back and *failed names the operation at fault
 * (NULL when BEGIN or COMMIT failed). */
static int write_transaction(struct edl_store_writer *w, struct edl_store_oprec *first,
                             struct edl_store_oprec *stop, struct edl_store_oprec **failed,
                             struct edl_error *err)
{
	int level = 1;
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
	for (struct edl_store_oprec *op = first; op != stop; op = op->next) {
		rc = edl_store_recorder_apply(&w->recorder, op, err);
		if (rc != EDL_OK) {
			*failed = op;
			goto rollback;
		}
	}
	rc = edl_store_exec(w->db, "COMMIT", err);
	if (rc == EDL_OK)
		return EDL_OK;
rollback:
	sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
	edl_store_recorder_forget(&w->recorder);
	return rc;
}

static void write_batch(struct edl_store_writer *w, struct edl_store_oprec *batch)
{
	struct edl_store_oprec *failed;
	struct edl_error err;

	edl_error_clear(&err);
	if (write_transaction(w, batch, NULL, &failed, &err) == EDL_OK)
		return;
	/* Replay one by one so that only the operations at fault fail. */
	for (struct edl_store_oprec *op = batch; op != NULL; op = op->next) {
		edl_error_clear(&err);
		if (write_transaction(w, op, op->next, &failed, &err) != EDL_OK)
			fail_op(op, &err);
	}
}

static void *writer_main(void *arg)
{
	struct edl_store_writer *w = arg;

	for (;;) {
		struct edl_store_oprec *batch, *last;
		size_t n = 1;

		pthread_mutex_lock(&w->lock);
		while (w->queue_head == NULL && !w->closing)
			pthread_cond_wait(&w->work, &w->lock);
		if (w->queue_head == NULL) {
			pthread_mutex_unlock(&w->lock);
			break;
		}
		batch = last = w->queue_head;
		while (last->next != NULL && n < w->max_batch) {
			last = last->next;
			n++;
		}
		w->queue_head = last->next;
		if (w->queue_head == NULL)
			w->queue_tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&w->lock);

		write_batch(w, batch);

		pthread_mutex_lock(&w->lock);
		if (w->done_tail != NULL)
			w->done_tail->next = batch;
		else
			w->done_head = batch;
		w->done_tail = last;
		w->pending -= n;
		pthread_cond_broadcast(&w->settled);
		pthread_mutex_unlock(&w->lock);
		if (w->loop != NULL)
			uv_async_send(&w->async);
	}
	return NULL;
}

/* ---- the caller's side ------------------------------------------------------------------ */

/* Runs the callbacks of every finished operation, in the order queued. */
static void deliver(struct edl_store_writer *w)
{
	struct edl_store_oprec *op;

	pthread_mutex_lock(&w->lock);
	op = w->done_head;
	w->done_head = w->done_tail = NULL;
	pthread_mutex_unlock(&w->lock);
	while (op != NULL) {
		struct edl_store_oprec *next = op->next;
		if (op->cb != NULL) {
			struct edl_store_done done = {
			        .op = op->kind,
			        .run_id = op->run_id,
			        .code = op->code,
			        .detail = op->detail != NULL ? op->detail : "",
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

/* Holds <path>.lock with flock() for the writer's life. A separate file, not the
 * database: closing any descriptor of the database file would drop the POSIX
 * locks SQLite holds on it. */
static int take_lock(int *out_fd, const char *path, struct edl_error *err)
{
	char lock_path[4096];
	int fd;

	if (snprintf(lock_path, sizeof(lock_path), "%s.lock", path) >= (int)sizeof(lock_path))
		return edl_error_set(err, EDL_E_INVAL, "database path too long");
	fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return edl_error_set(err, edl_error_from_errno(errno), "opening %s: %s", lock_path,
		                     strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		close(fd);
		if (e == EWOULDBLOCK)
			return edl_error_set(err, EDL_E_BUSY,
			                     "%s is open for writing by another station (%s is "
			                     "locked)",
			                     path, lock_path);
		return edl_error_set(err, edl_error_from_errno(e), "locking %s: %s", lock_path,
		                     strerror(e));
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
	edl_store_recorder_free(&w->recorder);
	sqlite3_close(w->db);
	if (w->lock_fd >= 0)
		close(w->lock_fd);
	pthread_cond_destroy(&w->settled);
	pthread_cond_destroy(&w->work);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

int edl_store_writer_open(struct edl_store_writer **out, const char *path,
                          const struct edl_store_writer_options *opts, struct edl_error *err)
{
	struct edl_store_writer *w;
	int64_t now;
	int rc;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "opening the store writer");
	w->lock_fd = -1;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->work, NULL);
	pthread_cond_init(&w->settled, NULL);
	w->max_batch = opts != NULL && opts->max_batch > 0 ? opts->max_batch : DEFAULT_MAX_BATCH;
	w->loop = opts != NULL ? opts->loop : NULL;
	now = opts != NULL && opts->now_ms != 0 ? opts->now_ms : edl_store_time_now_ms();

	rc = take_lock(&w->lock_fd, path, err);
	if (rc != EDL_OK)
		goto out;
	rc = edl_store_db_open(&w->db, path, true, err);
	if (rc != EDL_OK)
		goto out;
	w->synchronous = 2;
	/* We hold the writer lock, so every "running" run belongs to a dead station. */
	rc = edl_store_recover(&w->recovered, w->db, now, err);
	if (rc != EDL_OK)
		goto out;
	rc = read_next_run_id(&w->next_run_id, w->db, err);
	if (rc != EDL_OK)
		goto out;
	rc = edl_store_recorder_init(&w->recorder, w->db, err);
	if (rc != EDL_OK)
		goto out;
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

/* Contract stubs (issue 10: the store's owner implements them). */
int edl_store_writer_run_progress(struct edl_store_writer *w, const struct edl_store_progress *p,
                                  edl_store_done_fn cb, void *data)
{
	(void)w, (void)p, (void)cb, (void)data;
	return EDL_OK;
}

int edl_store_writer_space(struct edl_store_writer *w, uint64_t *free_bytes, bool *above_reserve,
                           struct edl_error *err)
{
	(void)w;
	*free_bytes = UINT64_MAX;
	*above_reserve = true;
	edl_error_clear(err);
	return EDL_OK;
}

void edl_store_writer_state(struct edl_store_writer *w, struct edl_store_state *out)
{
	(void)w;
	memset(out, 0, sizeof(*out));
	out->writable = true;
	out->detail = "";
}
