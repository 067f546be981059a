/*
 * Internals shared by the files of the store module: opening a connection with
 * our pragmas, the schema and its migrations, SQLite error mapping, a string
 * arena and a small hash map for the report's aggregation, the statistics, and
 * the escaping used by the output formats. Nothing here is part of the
 * contract in include/edlstation/store.h; tests include it to reach the pieces.
 */
#ifndef EDLSTATION_STORE_INTERNAL_H
#define EDLSTATION_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edlstation/buf.h"
#include "edlstation/error.h"
#include "edlstation/store.h"

struct edl_store {
	sqlite3 *db;
};

/* ---- schema.c ---- */

/* Opens path with our pragmas (WAL, foreign keys, busy timeout, synchronous=FULL).
 * Writable: created if missing, checked with PRAGMA quick_check (at most
 * check_budget_ms; past it the check is skipped and *check_note says so) before
 * anything is written, then migrated to EDL_STORE_SCHEMA_VERSION; a damaged file
 * is EDL_E_DB_CORRUPT. Read-only: must exist at exactly that version; opened
 * immutable when the medium is read-only. Every error names the file. */
int edl_store_db_open(sqlite3 **out, const char *path, bool writable, struct edl_error *err);
int edl_store_db_open_writer(sqlite3 **out, const char *path, int64_t check_budget_ms,
                             char *check_note, size_t note_len, struct edl_error *err);

/* Runs PRAGMA quick_check (full: integrity_check) for at most budget_ms (<= 0:
 * no bound). EDL_OK with *problems empty when the file is sound; EDL_OK with
 * *timed_out when the budget ran out; EDL_E_DB_CORRUPT with the first problems
 * in *problems (and err) when it is not. */
int edl_store_check(sqlite3 *db, bool full, int64_t budget_ms, bool *timed_out, char *problems,
                    size_t len, struct edl_error *err);

/* Applies the migrations after the database's user_version up to target
 * (<= EDL_STORE_SCHEMA_VERSION), each in its own transaction. Tests use a lower
 * target to build a database as an older program left it. */
int edl_store_schema_migrate(sqlite3 *db, int target, struct edl_error *err);

/* Reads PRAGMA user_version. */
int edl_store_schema_version(int *out, sqlite3 *db, struct edl_error *err);

/* Marks every "running" run "interrupted", keeping its stage and bytes, with
 * end_ms its last progress (or now_ms); *out_count gets how many. */
/* Marks runs left "running" interrupted; with mes_outbox also queues each
 * for the after_unit hook (the payload keys of edl_mes_after_payload()). */
int edl_store_recover(uint64_t *out_count, sqlite3 *db, int64_t now_ms, bool mes_outbox,
                      struct edl_error *err);

/* Maps an SQLite result to our code and fills err with "what: sqlite message". */
int edl_store_sqlite_error(struct edl_error *err, sqlite3 *db, int rc, const char *what);

/* Runs one statement without parameters (fixed SQL only). */
int edl_store_exec(sqlite3 *db, const char *sql, struct edl_error *err);

/* Binds a string (NULL binds NULL) without copying it: it must stay valid
 * until the statement is reset. Bytes are stored as given. */
int edl_store_bind_text(sqlite3_stmt *st, int idx, const char *s);

/* Names the plan's step kinds and results as stored. */
const char *edl_store_step_kind_name(enum edl_plan_step_kind kind);
const char *edl_store_step_result_name(enum edl_store_step_result result);
/* Parses a stored run result; -1 for an unknown word. */
int edl_store_result_parse(const char *s);

/* ---- record.c: the writer's operations and the SQL that applies them ---- */

/* One queued operation: a deep copy of what the caller passed, in one
 * allocation (arrays and strings follow the struct), plus its outcome. */
struct edl_store_oprec {
	struct edl_store_oprec *next;
	enum edl_store_op kind;
	edl_store_done_fn cb;
	void *data;
	int64_t run_id;
	int64_t at_ms; /* when it was queued: first/last seen of stations and packages */
	int code;
	char *detail;    /* malloc'd sentence on failure, else NULL */
	bool kept;       /* not committed, kept for a retry (in the journal) */
	bool replay;     /* applied again after a failure: skip what is already there */
	bool superseded; /* a progress replaced by a newer one for the same run */
	union {
		struct edl_store_station station;
		struct edl_store_package package;
		struct edl_store_device device; /* DEVICE and RUN_IDENTIFY */
		struct edl_store_run_start start;
		struct edl_store_run_end end;
		struct edl_store_progress progress;
		struct edl_store_run_route route;
		struct edl_store_run_mes mes;       /* issue 13 */
		struct edl_store_mes_mark mes_mark; /* issue 13 */
		struct edl_store_archive archive;
	} u;
};

/* Deep copies; NULL when out of memory. */
struct edl_store_oprec *edl_store_oprec_station(const struct edl_store_station *st);
struct edl_store_oprec *edl_store_oprec_package(const struct edl_store_package *pkg);
struct edl_store_oprec *edl_store_oprec_device(enum edl_store_op kind,
                                               const struct edl_store_device *dev);
struct edl_store_oprec *edl_store_oprec_run_start(const struct edl_store_run_start *run);
struct edl_store_oprec *edl_store_oprec_run_end(const struct edl_store_run_end *end);
struct edl_store_oprec *edl_store_oprec_progress(const struct edl_store_progress *p);
struct edl_store_oprec *edl_store_oprec_route(const struct edl_store_run_route *rt);
/* issue 13 (src/store/mes.c): the MES records' copies and how they apply. */
struct edl_store_oprec *edl_store_oprec_run_mes(const struct edl_store_run_mes *m);
struct edl_store_oprec *edl_store_oprec_mes_mark(const struct edl_store_mes_mark *m);
int edl_store_mes_apply(sqlite3 *db, const struct edl_store_oprec *op, struct edl_error *err);
/* Queues a finished run's payload (INSERT OR IGNORE: a replay adds nothing). */
int edl_store_mes_enqueue(sqlite3 *db, int64_t run_id, const char *payload, int64_t next_ms,
                          struct edl_error *err);

struct edl_store_oprec *edl_store_oprec_archive(const struct edl_store_archive *a);
/* A bare copy of op's kind, callback, run id and outcome (no record), for
 * delivering the outcome while op itself is kept. */
struct edl_store_oprec *edl_store_oprec_notice(const struct edl_store_oprec *op);
void edl_store_oprec_free(struct edl_store_oprec *op);

/* The writer connection's prepared statements and its small id caches. */
struct edl_store_recorder {
	sqlite3 *db;
	sqlite3_stmt *station_upsert, *station_id, *package_upsert, *package_id;
	sqlite3_stmt *device_upsert, *run_insert, *run_identify, *run_finish, *run_result;
	sqlite3_stmt *step_insert, *log_insert, *run_progress;
	sqlite3_stmt *run_route;
	sqlite3_stmt *archive_update, *archive_insert; /* issue 15 */
	char *station_name;                            /* cache of the last station looked up */
	int64_t station_id_cached;
	char *package_hash; /* cache of the last package looked up */
	int64_t package_id_cached;
};

int edl_store_recorder_init(struct edl_store_recorder *r, sqlite3 *db, struct edl_error *err);
void edl_store_recorder_free(struct edl_store_recorder *r);

/* Forgets cached ids: after a rollback they may name rows that were undone. */
void edl_store_recorder_forget(struct edl_store_recorder *r);

/* Applies one operation inside the caller's transaction. On failure the
 * transaction must be rolled back: earlier statements of the op may stand. */
int edl_store_recorder_apply(struct edl_store_recorder *r, const struct edl_store_oprec *op,
                             struct edl_error *err);

/* ---- journal.c: the operations kept while the database cannot be written ---- */

struct edl_store_journal {
	int fd; /* -1: none (could not be created); kept operations live in memory only */
	char path[4096];
	uint64_t generation; /* records of other generations are stale */
	uint64_t write_at;   /* offset of the next record */
	uint64_t allocated;  /* bytes the file owns (preallocated) */
	size_t entries;      /* records of this generation */
};

/* Opens (creating and preallocating) <db_path>.pending and reads the operations
 * it keeps into *out_ops (a list the caller owns, in the order kept); raises
 * *max_run_id to the largest run id they start. EDL_E_DB_FULL when the file
 * cannot even be created (j->fd is then -1, the writer goes on without it). */
int edl_store_journal_open(struct edl_store_journal *j, const char *db_path,
                           struct edl_store_oprec **out_ops, int64_t *max_run_id,
                           struct edl_error *err);
/* Appends the list starting at first, fdatasync'ed before it returns EDL_OK. */
int edl_store_journal_append(struct edl_store_journal *j, const struct edl_store_oprec *first,
                             struct edl_error *err);
/* Forgets every record (they are committed): one header write and sync. */
int edl_store_journal_rewind(struct edl_store_journal *j, struct edl_error *err);
/* Closes; removes the file when it keeps nothing. */
void edl_store_journal_close(struct edl_store_journal *j);

/* ---- arena.c: strings and small arrays freed all at once ---- */

struct edl_arena_block;
struct edl_arena {
	struct edl_arena_block *head;
};

/* For another backend filling the same structs (src/factory/, PostgreSQL): an
 * empty report or history whose strings and arrays go in *arena_out; freed
 * with edl_store_report_free() / edl_store_history_free(). NULL: no memory. */
struct edl_store_report *edl_store_report_new(struct edl_arena **arena_out);
struct edl_store_history *edl_store_history_new(struct edl_arena **arena_out);

void edl_arena_init(struct edl_arena *a);
void edl_arena_free(struct edl_arena *a);
void *edl_arena_alloc(struct edl_arena *a, size_t n);
/* Copies n bytes and a NUL. NULL in gives NULL out; check s != NULL to tell
 * that from running out of memory. */
char *edl_arena_strndup(struct edl_arena *a, const char *s, size_t n);
char *edl_arena_strdup(struct edl_arena *a, const char *s);

/* A hash map from byte strings to dense indexes 0, 1, 2, ... in insertion order. */
struct edl_keymap {
	uint32_t *slots; /* index + 1; 0 is empty */
	size_t cap;      /* power of two */
	size_t n;
	const uint8_t **keys;
	size_t *key_lens;
	uint32_t *hashes;
	struct edl_arena arena;
};

void edl_keymap_init(struct edl_keymap *m);
void edl_keymap_free(struct edl_keymap *m);
/* Finds key or adds it; *out_index gets its index, *out_added whether it is new.
 * Returns EDL_OK or EDL_E_NOMEM. */
int edl_keymap_intern(size_t *out_index, bool *out_added, struct edl_keymap *m, const void *key,
                      size_t len);

/* ---- stats.c ---- */

/*
 * One-sided Fisher's exact test for a 2x2 table [a b; c d] (a = this slot's
 * failures, b = its passes, c and d the same for all other slots): the
 * probability, with every margin fixed, of a table whose top-left cell is at
 * least a. Small p means this slot fails more than the others.
 */
double edl_store_fisher_greater(uint64_t a, uint64_t b, uint64_t c, uint64_t d);

/* Nearest-rank percentile (pct in 1..100) of n ascending values; -1 when n is 0. */
int64_t edl_store_percentile(const int64_t *sorted, size_t n, unsigned pct);

/* ---- format_util.c ---- */

/* Appends s (NULL: nothing) as terminal-safe text: invalid UTF-8 becomes
 * U+FFFD, tabs and newlines a space, other control characters '?'. */
int edl_store_put_text(struct edl_buf *b, const char *s);

/* Appends s as one CSV field (RFC 4180 quoting when needed), cleaned as
 * edl_store_put_text() does, with a leading ' when it would start with = + - @
 * so spreadsheets do not run it as a formula. NULL gives an empty field. */
int edl_store_put_csv_field(struct edl_buf *b, const char *s);

/* Appends a number with %.*f, or the given text for NaN. */
int edl_store_put_double(struct edl_buf *b, double v, int decimals, const char *nan_text);

/* Appends an ISO-8601 time, or the given text for a negative/absent time. */
int edl_store_put_time(struct edl_buf *b, int64_t ms, bool present, const char *absent);

/* The code of a stored error name ("EDL_E_FH_NAK"); INT_MIN for a name no
 * code has (its class is then "station"). */
int edl_store_error_code(const char *name);

/* A failed run's class name and the operator's action: the stored class when
 * it names one, else the class of the stored error; the action is the code's
 * own sentence unless the stored class says otherwise. Never NULL. */
void edl_store_failure_words(const char *error, const char *stored_class, const char **class_out,
                             const char **action_out);

/* Writes the buffer to f; EDL_E_IO when the stream fails. */
int edl_store_flush_buf(FILE *f, struct edl_buf *b, int rc);

/* ---- format_*.c ---- */

int edl_store_report_text(struct edl_buf *b, const struct edl_store_report *r);
int edl_store_report_csv(struct edl_buf *b, const struct edl_store_report *r);
int edl_store_report_json(struct edl_buf *b, const struct edl_store_report *r);
int edl_store_history_text(struct edl_buf *b, const struct edl_store_history *h);
int edl_store_history_csv(struct edl_buf *b, const struct edl_store_history *h);
int edl_store_history_json(struct edl_buf *b, const struct edl_store_history *h);

/* Merges the report's Pareto rows of the same stage, error and class, orders
 * them (most first) and fills share and cumulative of total failed runs: the
 * one place SQLite's and the factory's reports (src/factory/report.c) do it. */
struct edl_store_report;
void edl_store_pareto_finish(struct edl_store_report *r, uint64_t total);

/* The buckets' clipped bounds and rates once their counts are in (r->n_buckets
 * buckets of width ms from first), for SQLite's and the factory's reports. */
void edl_store_buckets_finish(struct edl_store_report *r, int64_t first, int64_t width);

/* What a person typed as a serial, trimmed of blanks (and of a leading 0x with
 * strip_hex), into out; its length. And text cut to printable ASCII for a
 * message. Shared by `history` on SQLite and on the factory database. */
size_t edl_store_typed_serial(char *out, size_t cap, const char *text, bool strip_hex);
void edl_store_printable(char *out, size_t cap, const char *s);

#endif
