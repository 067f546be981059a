/*
 * Shared inside src/factory/: the PostgreSQL schema's migrations and the
 * helpers every file that talks to the server uses. Not part of the contract
 * in include/edlstation/factory.h.
 */
#ifndef EDLSTATION_FACTORY_INTERNAL_H
#define EDLSTATION_FACTORY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edlstation/error.h"

struct pg_conn;
struct pg_result;

/* edl_factory_pg_migrations[v] moves the server from version v-1 to v; [0] is NULL. */
extern const char *const edl_factory_pg_migrations[];
extern const int edl_factory_pg_schema_version;

/* Fills err with EDL_E_DB and "what: <the server's or libpq's message>" (res
 * may be NULL: the connection's message); returns EDL_E_DB. */
int edl_factory_pg_error(struct edl_error *err, struct pg_conn *conn, const struct pg_result *res,
                         const char *what);

/* Runs fixed SQL without parameters (several statements allowed); EDL_E_DB
 * with the server's message on failure. */
int edl_factory_pg_exec(struct pg_conn *conn, const char *sql, const char *what,
                        struct edl_error *err);

/* ---- conninfo.c ---- */

/* text with every occurrence of conninfo's password (as libpq parses it)
 * replaced by "***": for messages from libpq or the server, which could
 * quote it. Returns out. */
char *edl_factory_redact(char *out, size_t len, const char *text, const char *conninfo);

/* ---- ship.c: one batch from SQLite to PostgreSQL ---- */

#define EDL_FACTORY_MAX_STATIONS 16 /* station names in one SQLite store */

struct sqlite3;
struct sqlite3_stmt;

/* A copy buffer per table; see copy.c. */
struct edl_copy_buf {
	char *data;
	size_t len, cap;
	bool failed; /* out of memory: the batch is abandoned */
};

/* The state of one sync target: the SQLite connection (its own, read/write
 * for the cursor), the server connection (the caller connects; NULL when not
 * connected), the cursor, and the batch being built. */
struct edl_factory_shipper {
	struct sqlite3 *db;
	struct pg_conn *pg;
	char target[256]; /* sync_state's key: the conninfo without its password */
	char line[64];    /* [factory] line, "" none */
	char host[128];   /* fallback host when SQLite has none */
	int batch_runs;
	int64_t cursor;       /* every run with commit_seq <= cursor is on the server */
	int64_t rewound_from; /* set when verify_cursor moved the cursor back */
	int64_t last_ok_ms;
	int64_t slow_batches; /* batches that found runs already on the server (resends) */
	struct sqlite3_stmt *q_stations, *q_runs, *q_steps, *q_logs, *q_devices, *q_packages;
	struct sqlite3_stmt *q_cursor_read, *q_cursor_write, *q_cursor_rewind, *q_error_write;
	struct sqlite3_stmt *q_counts;
	/* The batch: COPY rows for runs, steps and logs; array literals, one per
	 * column, for devices and packages; the runs' keys for the resend check. */
	struct edl_copy_buf runs, steps, logs;
	struct edl_copy_buf devices[9], packages[5];
	struct edl_copy_buf key_station, key_local;
	struct {
		int64_t local_id;  /* station.id in SQLite */
		int64_t server_id; /* station.id on the server */
		char name[64];
		char host[128];
	} stations[EDL_FACTORY_MAX_STATIONS];
	size_t n_stations;
};

void edl_factory_shipper_init(struct edl_factory_shipper *sh);
/* Opens the SQLite store (must exist, at EDL_STORE_SCHEMA_VERSION) and reads
 * the cursor of target. */
int edl_factory_shipper_open(struct edl_factory_shipper *sh, const char *sqlite_path,
                             const char *target, struct edl_error *err);
int edl_factory_shipper_load_cursor(struct edl_factory_shipper *sh, struct edl_error *err);
/* After sh->pg connected: session timeouts, migrations, temporary tables, the
 * cursor re-read and checked against the server. */
int edl_factory_shipper_connected(struct edl_factory_shipper *sh, int statement_timeout_ms,
                                  struct edl_error *err);
/* Moves the cursor back when the server no longer holds the run at it. */
int edl_factory_shipper_verify_cursor(struct edl_factory_shipper *sh, struct edl_error *err);
/* Ships the next batch; *out_runs = 0 when nothing is waiting. */
int edl_factory_shipper_batch(struct edl_factory_shipper *sh, int64_t *out_runs,
                              struct edl_error *err);
/* The highest commit_seq in SQLite and the runs after the cursor. */
int edl_factory_shipper_counts(struct edl_factory_shipper *sh, int64_t *head, int64_t *waiting,
                               struct edl_error *err);
/* sync_state.last_error for the target (the text already masked). */
int edl_factory_shipper_record_error(struct edl_factory_shipper *sh, const char *text);
/* Closes both connections and frees the buffers. */
void edl_factory_shipper_close(struct edl_factory_shipper *sh);

/* ---- policy.c: the worker's decisions ---- */

/* The wait after the failures-th failure in a row (>= 1): min_ms doubled per
 * failure up to max_ms, +-25% jitter drawn from *seed (NULL: none). */
int64_t edl_factory_backoff_ms(int failures, int min_ms, int max_ms, uint32_t *seed);

/* The cursor after a batch whose last run is batch_last_seq: moved only when
 * the server committed it, never backwards. */
int64_t edl_factory_cursor_after(int64_t cursor, int64_t batch_last_seq, bool committed);

/* The cursor once connected: kept when the server holds the run at the
 * cursor, else back to the highest commit_seq the server holds of this
 * station (it lost what it had confirmed). */
int64_t edl_factory_cursor_verified(int64_t cursor, bool server_has_cursor_run,
                                    int64_t server_max_seq);

/* A failure is reported when it starts and then once a minute; a recovery once. */
#define EDL_FACTORY_EVENT_REPEAT_MS 60000
struct edl_factory_event_limit {
	bool failing;
	int64_t last_failure_report_ms;
};
/* Whether this attempt's outcome (ok or not) is worth a line now. */
bool edl_factory_event_due(struct edl_factory_event_limit *l, bool ok, int64_t now_ms);

/* ---- copy.c: PostgreSQL COPY text format ---- */

void edl_copy_init(struct edl_copy_buf *b);
void edl_copy_free(struct edl_copy_buf *b);
void edl_copy_reset(struct edl_copy_buf *b);
/* A text field: NULL as \N, backslash, newline, CR and tab escaped, invalid
 * UTF-8 replaced by U+FFFD (the server refuses it and the batch would never
 * go), NUL never present (SQLite text bound by length up to its first NUL). */
void edl_copy_text(struct edl_copy_buf *b, const char *s, size_t n);
void edl_copy_int(struct edl_copy_buf *b, int64_t v);
void edl_copy_real(struct edl_copy_buf *b, double v);
void edl_copy_null(struct edl_copy_buf *b);
/* Ends a field (tab) or a row (newline). */
void edl_copy_sep(struct edl_copy_buf *b);
void edl_copy_eol(struct edl_copy_buf *b);
/* One byte as is ('{', ',', '}', the final NUL of a parameter). */
void edl_copy_char(struct edl_copy_buf *b, char c);
/* An array element: NULL, or the text double-quoted with " and \ escaped,
 * invalid UTF-8 and NUL replaced by U+FFFD. Integers: edl_copy_int. */
void edl_array_text(struct edl_copy_buf *b, const char *s, size_t n);

#endif
