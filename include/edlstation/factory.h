/*
 * The factory database (issue 14): every station keeps its SQLite store as the
 * source of truth and, when `[factory] database` is set, ships each committed
 * run to one PostgreSQL database the whole factory shares.
 *
 * This header is the contract of src/factory/: the server schema's migrations
 * (pg_schema.c, migrate.c), the connection string's password masking
 * (conninfo.c), and the sync worker (sync.c): a thread of its own that reads
 * finished runs from SQLite in commit order (run.commit_seq), upserts them into
 * PostgreSQL keyed by (station, local run id), then advances a durable cursor
 * (SQLite's sync_state). The worker never runs on the station's loop; the
 * station only starts it, notifies it when a run commits, reads its backlog,
 * and stops it.
 */
#ifndef EDLSTATION_FACTORY_H
#define EDLSTATION_FACTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edlstation/error.h"

/* libpq's connection (PGconn is a typedef of it); callers include libpq-fe.h. */
struct pg_conn;

/* The server schema version this program knows (edl_factory_pg_migrations). */
int edl_factory_schema_version(void);

/*
 * Brings the server's schema up to the version this program knows: one
 * transaction per version, each under pg_advisory_xact_lock (several stations
 * starting at once migrate once), the version reached kept in the table
 * edl_schema(version). A server whose schema is newer than this program's is
 * refused with EDL_E_DB_SCHEMA and left untouched; a failed statement is
 * EDL_E_DB with the server's message. The connection must be idle (no open
 * transaction); it is left idle.
 */
int edl_factory_migrate(struct pg_conn *conn, struct edl_error *err);

/*
 * Connection strings: a URI (postgresql://user:secret@host:port/db?...) or
 * libpq's key=value form (host=... password=...).
 */

/* EDL_OK when libpq can parse conninfo (PQconninfoParse; nothing connects),
 * else EDL_E_CONFIG with libpq's reason, the password masked. */
int edl_factory_conninfo_check(const char *conninfo, struct edl_error *err);

/*
 * conninfo with every password replaced by "***" (a URI's user:password@ and
 * ?password=, a key=value password=...), for messages, logs and status; into
 * out (always NUL-terminated, truncated to len). Works on strings libpq would
 * refuse too, so an error about a bad string never shows its password.
 * Returns out.
 */
char *edl_factory_conninfo_mask(char *out, size_t len, const char *conninfo);

/* conninfo with the password removed altogether: the sync target's name in
 * SQLite's sync_state (stable when only the password changes). Returns out. */
char *edl_factory_conninfo_target(char *out, size_t len, const char *conninfo);

/* The worker's settings; zero fields take the defaults in brackets. */
struct edl_factory_sync_opts {
	const char *line;         /* the station's line, recorded with the station [NULL] */
	const char *host;         /* the station's host name [gethostname()] */
	int batch_runs;           /* runs per PostgreSQL transaction [1000] */
	int poll_ms;              /* look for new runs at least this often [2000] */
	int retry_min_ms;         /* first wait after a failure [500] */
	int retry_max_ms;         /* the backoff's cap [30000] */
	int connect_timeout_s;    /* libpq connect_timeout [5] */
	int statement_timeout_ms; /* server statement_timeout and tcp_user_timeout [30000] */
	int stop_flush_ms;        /* how long stop may spend flushing [1500] */
	/*
	 * Called on the worker's thread when syncing fails after having worked (or
	 * for the first time) and when it recovers, rate-limited (one failure
	 * report a minute while it keeps failing); text names the target (password
	 * masked) and the reason. NULL: no events.
	 */
	void (*on_event)(void *data, bool ok, const char *text);
	void *data;
};

/* What the worker knows; a snapshot, copied out under its lock. */
struct edl_factory_sync_status {
	char target[256];   /* the database, password removed */
	bool running;       /* a worker is attached (false when read from SQLite only) */
	bool connected;     /* the last attempt reached the server */
	bool in_sync;       /* nothing waiting and the last attempt succeeded */
	int64_t last_seq;   /* the cursor: every run with commit_seq <= last_seq is on the server */
	int64_t head_seq;   /* the highest commit_seq in SQLite */
	int64_t waiting;    /* committed runs not yet on the server */
	int64_t last_ok_ms; /* wall clock of the last successful batch; 0 = never */
	int64_t synced;     /* runs this worker shipped since it started */
	int failures;       /* consecutive failed attempts (0 when fine) */
	char last_error[512]; /* the last failure, empty once one succeeded */
	int last_code;        /* its EDL_E_* code; EDL_OK once one succeeded */
	int64_t attempts;     /* attempts finished (connect + drain), ok or not */
};

struct edl_factory_sync;

/*
 * Starts the worker: it opens its own connections (SQLite read/write with a
 * busy timeout, PostgreSQL lazily, retried with backoff) and ships every run
 * committed after its cursor. sqlite_path is the station's results database;
 * conninfo the factory database (checked here, not connected: a server that
 * is down is not an error). The caller owns *out and frees it with
 * edl_factory_sync_stop. EDL_E_CONFIG for a bad conninfo.
 */
int edl_factory_sync_start(struct edl_factory_sync **out, const char *sqlite_path,
                           const char *conninfo, const struct edl_factory_sync_opts *opts,
                           struct edl_error *err);

/* A run committed: look now rather than at the next poll. Thread-safe, cheap,
 * callable from the loop. */
void edl_factory_sync_notify(struct edl_factory_sync *s);

/* Thread-safe snapshot of the worker's position and backlog (for the board,
 * metrics and status). */
void edl_factory_sync_backlog(const struct edl_factory_sync *s,
                              struct edl_factory_sync_status *out);

/* Flushes what it can within opts.stop_flush_ms (nothing when the server is
 * down: libpq calls are cut short), stops and joins the thread, frees s. NULL
 * is a no-op. */
void edl_factory_sync_stop(struct edl_factory_sync *s);

/*
 * Drains the backlog once and returns (`edlstation sync push`, the
 * benchmark): a worker that makes one attempt (ships batches until SQLite has
 * nothing after the cursor, or one fails) and is stopped, so a server that
 * hangs is cut off as in the station. *out_shipped (may be NULL) counts the
 * runs shipped; err holds the failure (password removed).
 */
int edl_factory_sync_drain(int64_t *out_shipped, const char *sqlite_path, const char *conninfo,
                           const struct edl_factory_sync_opts *opts, struct edl_error *err);

/*
 * The sync position as SQLite records it, without a worker or a server
 * (`edlstation sync status`): sync_state's row for conninfo's target and the
 * runs committed after it. conninfo may be NULL: the database's only target
 * (EDL_E_NOENT when it has none or several).
 */
int edl_factory_sync_status_read(struct edl_factory_sync_status *out, const char *sqlite_path,
                                 const char *conninfo, struct edl_error *err);

#endif
