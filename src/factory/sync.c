/*
 * The factory sync worker: one thread per station that keeps the factory's
 * PostgreSQL database caught up with the station's SQLite store.
 *
 * The thread's life, in states:
 *   IDLE      nothing waiting; sleeps until notified (a run committed) or the
 *             poll interval passes, then DRAIN.
 *   CONNECT   no server connection: libpq's non-blocking connect, polled here
 *             with the wake pipe so a stop is never held up by a dead network
 *             (deadline: connect_timeout); then migrations and the cursor check.
 *   DRAIN     batches (ship.c) until SQLite has nothing after the cursor.
 *   BACKOFF   an attempt failed (the connection is dropped when it is broken):
 *             waits edl_factory_backoff_ms(), refreshing the backlog count
 *             when notified; then CONNECT or DRAIN again.
 *   STOP      edl_factory_sync_stop(): one last DRAIN, bounded by
 *             stop_flush_ms, then the thread is joined.
 * libpq's calls on a connected socket block without a client-side timeout (a
 * server that hangs, or a network that drops packets silently, is waited for
 * forever: statement_timeout is the server's own), so a watchdog thread
 * guards every server operation with a deadline (statement_timeout plus a
 * margin; on stop, the stop bound) and past it shuts the socket down, which
 * makes the blocking call fail at once: the attempt fails and backs off.
 * Flashing never waits for any of this: the loop only writes a byte to the
 * wake pipe (notify) and copies the status under a mutex (backlog).
 */
#include "edlstation/factory.h"
#include "edlstation/store.h"
#include "factory_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct edl_factory_sync {
	pthread_t thread;
	pthread_t watchdog;
	pthread_mutex_t lock;      /* guards status, stopping, exited, pg_fd, op_deadline, cut */
	pthread_cond_t watch_cond; /* wakes the watchdog: a deadline changed, the worker exited */
	int wake[2];               /* the pipe: notify and stop write, the worker polls */
	bool stopping;
	bool exited;
	int64_t stop_deadline; /* monotonic ms */
	int pg_fd;             /* the server socket while connected, else -1 */
	int64_t op_deadline;   /* monotonic ms a server operation must end by; 0 none */
	bool cut;              /* the watchdog shut the socket down */
	struct edl_factory_sync_status status;

	/* The worker's own (no lock). */
	char *sqlite_path;
	char *conninfo;
	char masked[512];
	struct edl_factory_sync_opts opts;
	char line[64];
	char host[128];
	struct edl_factory_shipper sh;
	bool sqlite_open;
	bool schema_ready;
	int failures;
	uint32_t seed;
	struct edl_factory_event_limit events;
	char last_recorded_error[512];
};

/* A server operation may take statement_timeout plus this before the
 * watchdog cuts it. */
#define OP_MARGIN_MS 2000

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void apply_defaults(struct edl_factory_sync_opts *o)
{
	if (o->batch_runs <= 0)
		o->batch_runs = 1000;
	if (o->poll_ms <= 0)
		o->poll_ms = 2000;
	if (o->retry_min_ms <= 0)
		o->retry_min_ms = 500;
	if (o->retry_max_ms <= 0)
		o->retry_max_ms = 30000;
	if (o->retry_max_ms < o->retry_min_ms)
		o->retry_max_ms = o->retry_min_ms;
	if (o->connect_timeout_s <= 0)
		o->connect_timeout_s = 5;
	if (o->statement_timeout_ms <= 0)
		o->statement_timeout_ms = 30000;
	if (o->stop_flush_ms <= 0)
		o->stop_flush_ms = 1500;
}

static bool is_stopping(struct edl_factory_sync *s, int64_t *deadline);

/*
 * Connects without blocking past the deadline or a stop: libpq's
 * PQconnectStartParams/PQconnectPoll, the socket polled here. Our settings
 * come first and the user's conninfo (dbname, expanded) last, so what the
 * user wrote wins.
 */
static PGconn *connect_server(const char *conninfo, const struct edl_factory_sync_opts *o,
                              struct edl_factory_sync *s, int64_t deadline, struct edl_error *err)
{
	int wake_fd = s != NULL ? s->wake[0] : -1;
	char connect_timeout[16], user_timeout[16];
	snprintf(connect_timeout, sizeof(connect_timeout), "%d", o->connect_timeout_s);
	snprintf(user_timeout, sizeof(user_timeout), "%d", o->statement_timeout_ms);
	const char *keys[] = {"connect_timeout",
	                      "tcp_user_timeout",
	                      "keepalives",
	                      "keepalives_idle",
	                      "keepalives_interval",
	                      "keepalives_count",
	                      "application_name",
	                      "client_encoding",
	                      "dbname",
	                      NULL};
	const char *values[] = {connect_timeout,   user_timeout, "1",      "10", "5", "3",
	                        "edlstation-sync", "UTF8",       conninfo, NULL};
	PGconn *c = PQconnectStartParams(keys, values, 1);
	PostgresPollingStatusType ps = PGRES_POLLING_WRITING;

	if (c == NULL) {
		edl_error_set(err, EDL_E_NOMEM, "out of memory starting a connection");
		return NULL;
	}
	while (PQstatus(c) != CONNECTION_BAD) {
		if (ps == PGRES_POLLING_OK)
			return c;
		if (ps == PGRES_POLLING_FAILED)
			break;
		int64_t stop_deadline = 0;
		int64_t now = mono_ms();
		bool stopping = s != NULL && is_stopping(s, &stop_deadline);
		if (stopping && stop_deadline <= now) {
			edl_error_set(err, EDL_E_INTERRUPTED,
			              "the station stopped while connecting");
			PQfinish(c);
			return NULL;
		}
		int64_t left = deadline - now;
		if (left <= 0) {
			edl_error_set(err, EDL_E_TIMEOUT, "no answer within %d s (connect_timeout)",
			              o->connect_timeout_s);
			PQfinish(c);
			return NULL;
		}
		/* A stop wakes the poll (the pipe); its deadline bounds the wait. */
		if (stopping && stop_deadline - now < left)
			left = stop_deadline - now;
		struct pollfd fds[2] = {
		        {.fd = PQsocket(c),
		         .events = ps == PGRES_POLLING_READING ? POLLIN : POLLOUT},
		        {.fd = wake_fd, .events = POLLIN},
		};
		int n = poll(fds, wake_fd >= 0 ? 2 : 1, left > 60000 ? 60000 : (int)left);
		if (n < 0 && errno != EINTR)
			break;
		if (wake_fd >= 0 && (fds[1].revents & POLLIN)) {
			char drain[64];
			while (read(wake_fd, drain, sizeof(drain)) > 0)
				;
		}
		if (n > 0 && fds[0].revents != 0)
			ps = PQconnectPoll(c);
	}
	edl_factory_pg_error(err, c, NULL, "cannot connect");
	PQfinish(c);
	return NULL;
}

/* ---- the worker --------------------------------------------------------------------------- */

static bool is_stopping(struct edl_factory_sync *s, int64_t *deadline)
{
	pthread_mutex_lock(&s->lock);
	bool stop = s->stopping;
	if (deadline != NULL)
		*deadline = s->stop_deadline;
	pthread_mutex_unlock(&s->lock);
	return stop;
}

/* Sleeps until woken (notify, stop) or ms pass; true when woken. */
static bool wait_wake(struct edl_factory_sync *s, int64_t ms)
{
	struct pollfd p = {.fd = s->wake[0], .events = POLLIN};
	char drain[64];

	if (ms < 0)
		ms = 0;
	int n = poll(&p, 1, ms > 60000 ? 60000 : (int)ms);
	if (n > 0) {
		while (read(s->wake[0], drain, sizeof(drain)) > 0)
			;
		return true;
	}
	return false;
}

/* Arms (ms > 0) or disarms the watchdog for the server operation that follows. */
static void guard(struct edl_factory_sync *s, int64_t ms)
{
	pthread_mutex_lock(&s->lock);
	s->op_deadline = ms > 0 ? mono_ms() + ms : 0;
	pthread_cond_signal(&s->watch_cond);
	pthread_mutex_unlock(&s->lock);
}

static void *watchdog(void *arg)
{
	struct edl_factory_sync *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->exited) {
		int64_t now = mono_ms();
		int64_t dl = s->op_deadline;
		if (s->stopping && dl > 0 && s->stop_deadline < dl)
			dl = s->stop_deadline;
		if (dl > 0 && now >= dl && s->pg_fd >= 0 && !s->cut) {
			shutdown(s->pg_fd, SHUT_RDWR);
			s->cut = true;
		}
		int64_t next = dl > now ? dl : now + 1000;
		struct timespec until = {.tv_sec = (time_t)(next / 1000),
		                         .tv_nsec = (long)(next % 1000) * 1000000L};
		pthread_cond_timedwait(&s->watch_cond, &s->lock, &until);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void set_connection(struct edl_factory_sync *s, PGconn *c)
{
	pthread_mutex_lock(&s->lock);
	s->cut = false;
	if (s->sh.pg != NULL && c == NULL)
		PQfinish(s->sh.pg); /* under the lock: the watchdog never shuts a reused fd */
	s->sh.pg = c;
	s->pg_fd = c != NULL ? PQsocket(c) : -1;
	s->status.connected = c != NULL;
	pthread_mutex_unlock(&s->lock);
}

static void refresh_counts(struct edl_factory_sync *s)
{
	int64_t head = 0, waiting = 0;
	struct edl_error e;

	if (!s->sqlite_open || edl_factory_shipper_counts(&s->sh, &head, &waiting, &e) != EDL_OK)
		return;
	pthread_mutex_lock(&s->lock);
	s->status.head_seq = head;
	s->status.waiting = waiting;
	s->status.last_seq = s->sh.cursor;
	s->status.in_sync = waiting == 0 && s->failures == 0;
	pthread_mutex_unlock(&s->lock);
}

static void emit(struct edl_factory_sync *s, bool ok, const char *text)
{
	if (s->opts.on_event != NULL)
		s->opts.on_event(s->opts.data, ok, text);
}

static void attempt_failed(struct edl_factory_sync *s, const struct edl_error *e)
{
	struct edl_error cut_err;
	char text[1024];
	char reason[EDL_ERROR_DETAIL_MAX];

	s->failures++;
	pthread_mutex_lock(&s->lock);
	bool cut = s->cut;
	pthread_mutex_unlock(&s->lock);
	if (cut) {
		e = &cut_err;
		edl_error_set(&cut_err, EDL_E_TIMEOUT,
		              "no answer within %d s: connection cut (the server hangs or the "
		              "network drops packets)",
		              (s->opts.statement_timeout_ms + OP_MARGIN_MS) / 1000);
	}
	/* A failed statement may leave the connection usable; a broken one is
	 * dropped (and reconnected after the backoff). */
	if (s->sh.pg != NULL && (PQstatus(s->sh.pg) != CONNECTION_OK ||
	                         PQtransactionStatus(s->sh.pg) != PQTRANS_IDLE)) {
		set_connection(s, NULL);
		s->schema_ready = false;
	}
	/* libpq's messages do not hold the password; one that quoted it would
	 * still not show it. */
	edl_factory_redact(reason, sizeof(reason), e->detail, s->conninfo);
	pthread_mutex_lock(&s->lock);
	s->status.failures = s->failures;
	s->status.in_sync = false;
	s->status.last_code = e->code != EDL_OK ? e->code : EDL_E_DB;
	s->status.attempts++;
	snprintf(s->status.last_error, sizeof(s->status.last_error), "%s", reason);
	int64_t waiting = s->status.waiting;
	pthread_mutex_unlock(&s->lock);
	if (s->sqlite_open && strcmp(reason, s->last_recorded_error) != 0) {
		edl_factory_shipper_record_error(&s->sh, reason);
		snprintf(s->last_recorded_error, sizeof(s->last_recorded_error), "%s", reason);
	}
	if (edl_factory_event_due(&s->events, false, edl_store_time_now_ms())) {
		snprintf(text, sizeof(text),
		         "factory database %.300s: %.400s; flashing goes on, %" PRId64
		         " run(s) waiting",
		         s->masked, reason, waiting);
		emit(s, false, text);
	}
}

static void attempt_ok(struct edl_factory_sync *s, int64_t shipped_now)
{
	char text[1024];

	s->failures = 0;
	s->last_recorded_error[0] = '\0';
	pthread_mutex_lock(&s->lock);
	s->status.failures = 0;
	s->status.last_error[0] = '\0';
	if (s->sh.last_ok_ms != 0)
		s->status.last_ok_ms = s->sh.last_ok_ms;
	pthread_mutex_unlock(&s->lock);
	refresh_counts(s);
	pthread_mutex_lock(&s->lock);
	s->status.last_code = EDL_OK;
	s->status.attempts++; /* after the counts: a reader sees them with it */
	pthread_mutex_unlock(&s->lock);
	if (edl_factory_event_due(&s->events, true, edl_store_time_now_ms())) {
		snprintf(text, sizeof(text),
		         "factory database %.300s reachable again: %" PRId64
		         " run(s) shipped, in sync at run %" PRId64,
		         s->masked, shipped_now, s->sh.cursor);
		emit(s, true, text);
	}
}

/* CONNECT if needed, then DRAIN until nothing waits (or the stop deadline). */
static int attempt(struct edl_factory_sync *s, int64_t *shipped, struct edl_error *err)
{
	int64_t stop_deadline = 0;
	bool stopping = is_stopping(s, &stop_deadline);
	int rc;

	*shipped = 0;
	if (!s->sqlite_open) {
		rc = edl_factory_shipper_open(&s->sh, s->sqlite_path, s->status.target, err);
		if (rc != EDL_OK)
			return rc;
		s->sqlite_open = true;
	}
	if (s->sh.pg == NULL) {
		int64_t deadline = mono_ms() + (int64_t)s->opts.connect_timeout_s * 1000;
		if (stopping && stop_deadline < deadline)
			deadline = stop_deadline;
		PGconn *c = connect_server(s->conninfo, &s->opts, s, deadline, err);
		if (c == NULL)
			return err->code != EDL_OK ? err->code : EDL_E_DB;
		set_connection(s, c);
		s->schema_ready = false;
	}
	const int64_t op_ms = (int64_t)s->opts.statement_timeout_ms + OP_MARGIN_MS;
	if (!s->schema_ready) {
		guard(s, op_ms);
		rc = edl_factory_shipper_connected(&s->sh, s->opts.statement_timeout_ms, err);
		guard(s, 0);
		if (rc != EDL_OK)
			return rc;
		s->schema_ready = true;
		refresh_counts(s);
	}
	for (;;) {
		int64_t n = 0;
		guard(s, op_ms);
		rc = edl_factory_shipper_batch(&s->sh, &n, err);
		guard(s, 0);
		if (rc != EDL_OK)
			return rc;
		if (n == 0)
			return EDL_OK;
		*shipped += n;
		pthread_mutex_lock(&s->lock);
		s->status.synced += n;
		s->status.last_seq = s->sh.cursor;
		s->status.last_ok_ms = s->sh.last_ok_ms;
		s->status.waiting = s->status.waiting > n ? s->status.waiting - n : 0;
		pthread_mutex_unlock(&s->lock);
		if (is_stopping(s, &stop_deadline) && mono_ms() >= stop_deadline)
			return EDL_OK;
	}
}

static void *worker(void *arg)
{
	struct edl_factory_sync *s = arg;
	int64_t next_attempt = 0;

	for (;;) {
		int64_t stop_deadline = 0;
		bool stopping = is_stopping(s, &stop_deadline);
		int64_t now = mono_ms();

		if (!stopping && now < next_attempt) {
			/* BACKOFF: a notify only refreshes the backlog shown. */
			if (wait_wake(s, next_attempt - now))
				refresh_counts(s);
			continue;
		}
		struct edl_error e;
		int64_t shipped = 0;
		edl_error_clear(&e);
		int rc = attempt(s, &shipped, &e);
		if (rc == EDL_OK) {
			attempt_ok(s, shipped);
			next_attempt = 0;
		} else {
			attempt_failed(s, &e);
			next_attempt = mono_ms() +
			               edl_factory_backoff_ms(s->failures, s->opts.retry_min_ms,
			                                      s->opts.retry_max_ms, &s->seed);
		}
		if (stopping)
			break;
		if (rc == EDL_OK)
			wait_wake(s, s->opts.poll_ms); /* IDLE */
	}
	set_connection(s, NULL);
	pthread_mutex_lock(&s->lock);
	s->exited = true;
	pthread_cond_signal(&s->watch_cond);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* ---- the API -------------------------------------------------------------------------------- */

static void free_sync(struct edl_factory_sync *s)
{
	if (s == NULL)
		return;
	edl_factory_shipper_close(&s->sh);
	if (s->wake[0] >= 0)
		close(s->wake[0]);
	if (s->wake[1] >= 0)
		close(s->wake[1]);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->watch_cond);
	free(s->sqlite_path);
	free(s->conninfo);
	free(s);
}

int edl_factory_sync_start(struct edl_factory_sync **out, const char *sqlite_path,
                           const char *conninfo, const struct edl_factory_sync_opts *opts,
                           struct edl_error *err)
{
	struct edl_factory_sync *s;
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	rc = edl_factory_conninfo_check(conninfo, err);
	if (rc != EDL_OK)
		return rc;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "out of memory starting the factory sync");
	s->wake[0] = s->wake[1] = -1;
	s->pg_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->watch_cond, &ca);
	pthread_condattr_destroy(&ca);
	edl_factory_shipper_init(&s->sh);
	if (opts != NULL)
		s->opts = *opts;
	apply_defaults(&s->opts);
	snprintf(s->line, sizeof(s->line), "%s", s->opts.line != NULL ? s->opts.line : "");
	if (s->opts.host != NULL)
		snprintf(s->host, sizeof(s->host), "%s", s->opts.host);
	else
		gethostname(s->host, sizeof(s->host) - 1);
	s->opts.line = s->line;
	s->opts.host = s->host;
	snprintf(s->sh.line, sizeof(s->sh.line), "%s", s->line);
	snprintf(s->sh.host, sizeof(s->sh.host), "%s", s->host);
	s->sh.batch_runs = s->opts.batch_runs;
	s->seed = (uint32_t)getpid() ^ (uint32_t)mono_ms();
	s->sqlite_path = strdup(sqlite_path);
	s->conninfo = strdup(conninfo);
	if (s->sqlite_path == NULL || s->conninfo == NULL ||
	    pipe2(s->wake, O_CLOEXEC | O_NONBLOCK)) {
		free_sync(s);
		return edl_error_set(err, EDL_E_NOMEM, "cannot start the factory sync: %s",
		                     strerror(errno));
	}
	edl_factory_conninfo_mask(s->masked, sizeof(s->masked), conninfo);
	edl_factory_conninfo_target(s->status.target, sizeof(s->status.target), conninfo);
	s->status.running = true;
	rc = pthread_create(&s->thread, NULL, worker, s);
	if (rc == 0) {
		rc = pthread_create(&s->watchdog, NULL, watchdog, s);
		if (rc != 0) {
			/* No guard: stop the worker before anything blocks. */
			pthread_mutex_lock(&s->lock);
			s->stopping = true;
			pthread_mutex_unlock(&s->lock);
			edl_factory_sync_notify(s);
			pthread_join(s->thread, NULL);
		}
	}
	if (rc != 0) {
		free_sync(s);
		return edl_error_set(err, EDL_E_NOMEM, "cannot start the factory sync thread: %s",
		                     strerror(rc));
	}
	*out = s;
	return EDL_OK;
}

void edl_factory_sync_notify(struct edl_factory_sync *s)
{
	if (s == NULL)
		return;
	ssize_t n = write(s->wake[1], "n", 1);
	(void)n; /* a full pipe is already a pending wake-up */
}

void edl_factory_sync_backlog(const struct edl_factory_sync *cs,
                              struct edl_factory_sync_status *out)
{
	struct edl_factory_sync *s = (struct edl_factory_sync *)cs; /* the lock only */

	memset(out, 0, sizeof(*out));
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	*out = s->status;
	pthread_mutex_unlock(&s->lock);
}

void edl_factory_sync_stop(struct edl_factory_sync *s)
{
	if (s == NULL)
		return;
	/* The last drain is bounded: the watchdog cuts a server operation still
	 * running at stop_deadline, and connect_server gives up by then. */
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	s->stop_deadline = mono_ms() + s->opts.stop_flush_ms;
	pthread_cond_signal(&s->watch_cond);
	pthread_mutex_unlock(&s->lock);
	edl_factory_sync_notify(s);
	pthread_join(s->thread, NULL);
	pthread_join(s->watchdog, NULL);
	free_sync(s);
}

/* ---- without a thread: sync push, sync status ---------------------------------------------- */

int edl_factory_sync_drain(int64_t *out_shipped, const char *sqlite_path, const char *conninfo,
                           const struct edl_factory_sync_opts *opts, struct edl_error *err)
{
	struct edl_factory_sync_opts o = {0};
	struct edl_factory_sync_status st;
	struct edl_factory_sync *s = NULL;
	int rc;

	if (out_shipped != NULL)
		*out_shipped = 0;
	if (opts != NULL)
		o = *opts;
	o.on_event = NULL;
	rc = edl_factory_sync_start(&s, sqlite_path, conninfo, &o, err);
	if (rc != EDL_OK)
		return rc;
	/* The worker's first attempt starts at once and drains everything. */
	do {
		struct timespec nap = {.tv_sec = 0, .tv_nsec = 5 * 1000000L};
		nanosleep(&nap, NULL);
		edl_factory_sync_backlog(s, &st);
	} while (st.attempts == 0);
	edl_factory_sync_stop(s);
	if (out_shipped != NULL)
		*out_shipped = st.synced;
	if (st.failures > 0)
		return edl_error_set(err, st.last_code != EDL_OK ? st.last_code : EDL_E_DB, "%s",
		                     st.last_error);
	return EDL_OK;
}

int edl_factory_sync_status_read(struct edl_factory_sync_status *out, const char *sqlite_path,
                                 const char *conninfo, struct edl_error *err)
{
	struct edl_factory_shipper sh;
	char target[256] = "";
	int rc;

	memset(out, 0, sizeof(*out));
	edl_factory_shipper_init(&sh);
	if (conninfo != NULL)
		edl_factory_conninfo_target(target, sizeof(target), conninfo);
	rc = edl_factory_shipper_open(&sh, sqlite_path, target, err);
	if (rc != EDL_OK)
		goto out;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(sh.db,
	                       "SELECT target, last_seq, coalesce(last_ok_ms, 0), last_error"
	                       " FROM sync_state WHERE ?1 IS NULL OR target = ?1 ORDER BY target",
	                       -1, &st, NULL) != SQLITE_OK) {
		rc = edl_error_set(err, EDL_E_DB, "results database %s: %s", sqlite_path,
		                   sqlite3_errmsg(sh.db));
		goto out;
	}
	if (conninfo != NULL)
		sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
	int rows = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (rows++ > 0)
			continue;
		snprintf(out->target, sizeof(out->target), "%s",
		         (const char *)sqlite3_column_text(st, 0));
		out->last_seq = sqlite3_column_int64(st, 1);
		out->last_ok_ms = sqlite3_column_int64(st, 2);
		const char *e = (const char *)sqlite3_column_text(st, 3);
		snprintf(out->last_error, sizeof(out->last_error), "%s", e != NULL ? e : "");
	}
	sqlite3_finalize(st);
	if (conninfo == NULL && rows != 1) {
		rc = edl_error_set(err, EDL_E_NOENT,
		                   rows == 0 ? "results database %s: no factory sync recorded "
		                               "(set [factory] database, or give --database)"
		                             : "results database %s: several factory databases "
		                               "recorded: name one with --database",
		                   sqlite_path);
		goto out;
	}
	if (rows == 0)
		snprintf(out->target, sizeof(out->target), "%s", target);
	sh.cursor = out->last_seq;
	rc = edl_factory_shipper_counts(&sh, &out->head_seq, &out->waiting, err);
	out->in_sync = rc == EDL_OK && out->waiting == 0 && out->last_error[0] == '\0';
out:
	edl_factory_shipper_close(&sh);
	return rc;
}
