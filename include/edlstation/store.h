/*
 * The results store: every run the station makes, recorded durably in SQLite and
 * keyed by the unit's chip serial, plus the queries behind `edlstation report`
 * and `edlstation history`.
 *
 * Two ways in. The station writes through a struct edl_store_writer: one thread
 * that owns the write connection, takes operations from a queue, commits them in
 * batches (one transaction, one fsync per batch) and hands each operation's
 * outcome back on the caller's side, either on a libuv loop (uv_async_t wakeup)
 * or from edl_store_writer_flush()/edl_store_writer_wait() for the CLI and tests.
 * Enqueueing never blocks on the disk, so the loop never waits for SQLite. A run
 * is recorded when its session starts (result "running") and completed at the
 * end; the completion callback of edl_store_writer_run_finish() is the moment a
 * result is durable (synchronous=FULL), and the only moment a station may show
 * PASS. Opening a writer marks runs left "running" by a killed station as
 * "interrupted"; a flock() on the database file keeps a second writer off it.
 * A commit that fails (disk full, I/O error) drops nothing: the operations are
 * kept in memory and in the journal <db>.pending and committed once the store
 * can write again; until then completions say kept and the writer's state is
 * not writable.
 *
 * Readers (reports, history) open their own read-only connection with
 * edl_store_open() and work while a station writes (WAL journal).
 *
 * Times are integer milliseconds since the epoch, UTC. Strings are stored as
 * given (bound, never pasted into SQL); output formatters make them safe.
 */
#ifndef EDLSTATION_STORE_H
#define EDLSTATION_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "edlstation/error.h"
#include "edlstation/plan.h"

/* The schema version this program writes (PRAGMA user_version). */
#define EDL_STORE_SCHEMA_VERSION 6

/* ---- results ---------------------------------------------------------------------------- */

enum edl_store_result {
	EDL_RESULT_RUNNING = 0,     /* session started, no result yet */
	EDL_RESULT_PASS = 1,        /* every step done and verified */
	EDL_RESULT_FAIL = 2,        /* failed at a stage with an error code */
	EDL_RESULT_INTERRUPTED = 3, /* the station stopped (or was killed) mid-run */
};

/* "running", "pass", "fail", "interrupted". */
const char *edl_store_result_name(enum edl_store_result result);

enum edl_store_step_result {
	EDL_STEP_RESULT_PASS = 0,    /* the step completed */
	EDL_STEP_RESULT_FAIL = 1,    /* the step failed; the run failed there */
	EDL_STEP_RESULT_SKIPPED = 2, /* not reached because an earlier step failed */
};

/* ---- records the station fills; every string may be NULL unless noted --------------- */

struct edl_store_station {
	const char *name; /* required; unique per database */
	const char *host;
};

struct edl_store_package {
	const char *manifest_hash; /* required; the package's identity (hex) */
	const char *path;          /* directory the package was loaded from */
	const char *name;          /* from contents.xml when it gives one */
	const char *version;
	const char *storage; /* "emmc", "ufs", "nand" */
	uint64_t bytes;      /* bytes programmed by the plan */
};

struct edl_store_device {
	const char *serial;     /* required: chip serial, 8 hex digits */
	const char *usb_serial; /* the USB descriptor's iSerial string */
	const char *hw_id;
	const char *msm_id;
	const char *oem_id;
	const char *model_id;
	const char *pk_hash; /* hex */
	int64_t seen_ms;     /* updates first/last seen */
};

struct edl_store_run_start {
	const char *serial;       /* chip serial if known at attach, else NULL (see run_identify) */
	const char *station;      /* required: a name recorded with edl_store_writer_station() */
	const char *package_hash; /* manifest hash recorded with edl_store_writer_package() */
	int slot;                 /* station slot number */
	const char *slot_label;   /* the port map's label ("A3"); NULL: the port path (v4) */
	const char *port;         /* USB port path, e.g. "1-1.3" */
	int attempt;              /* 1 for the first try of this unit in this session */
	int64_t retry_of;         /* run id this run retries, 0 when none */
	int64_t start_ms;
	const char *transcript; /* path of the session's transcript file */
	const char *capture;    /* path of the run's USB capture (run --record), NULL none (v5) */
	/* v6 */
	const char *kind;    /* "flash" (NULL), "dump", "backup", "restore" */
	const char *product; /* the [route] entry that chose the package (issue 15) */
	const char *lot;     /* from the MES before_unit hook (issue 13) */
	const char *work_order;
	const char *operator_name;
};

struct edl_store_step {
	enum edl_plan_step_kind kind;
	const char *label;
	uint32_t lun;
	const char *start_sector; /* as sent: a number or an expression */
	uint64_t sectors;
	uint64_t bytes;
	int64_t duration_ms;
	enum edl_store_step_result result;
};

/* issue 15: a file a run archived, a row of table `archive` (schema v6): a
 * preserved partition or a memory-dump region. Recording the
 * same (run, kind, label) again updates that row (path, bytes, sha256,
 * restored): a preserved partition is recorded when it was read (restored 0)
 * and again once it was written back and verified (restored 1). */
struct edl_store_archive {
	int64_t run_id;
	const char *serial; /* required */
	const char *kind;   /* required: "preserve" or "dump" */
	const char *label;  /* required: partition label or dump region name */
	const char *path;   /* required */
	uint64_t bytes;
	const char *sha256; /* required: 64 hex digits */
	int restored;       /* 1, 0, or -1 for NULL (dumps) */
	int64_t created_ms;
};

struct edl_store_run_end {
	int64_t run_id;
	enum edl_store_result result; /* PASS, FAIL or INTERRUPTED */
	const char *stage;            /* session state where it failed, NULL on pass */
	int error_code;               /* an EDL_E_* code; stored by name; 0 on pass. Its
	                                 class (edl_error_class) is stored beside it (v4) */
	const char *message;          /* the human sentence for a failure */
	int64_t end_ms;
	uint64_t bytes_written;
	int64_t duration_ms;
	double avg_mbps;  /* 0: computed from bytes_written and duration_ms */
	uint32_t payload; /* negotiated MaxPayloadSizeToTargetInBytes */
	const struct edl_store_step *steps;
	size_t n_steps;
	const char *const *log_lines; /* the device's <log> lines; kept unless the run passed */
	size_t n_log_lines;
	const char *functions; /* the programmer's banner list, space-separated; NULL: none seen */
	const char *warnings;  /* the run's warnings, one a line; NULL: none */
	/* Memory dumps (issue 15): the run's kind as it turned out ("dump" for a
	 * unit found in memory-debug mode; NULL: as started), and the files it
	 * archived, recorded in the same transaction. */
	const char *kind;
	const struct edl_store_archive *archives;
	size_t n_archives;
	/* issue 13: the after_unit hook's payload (JSON); queued in mes_outbox in
	 * the same transaction as the finish. NULL: no [mes] after_unit. */
	const char *mes_payload;
};

/* ---- the writer ------------------------------------------------------------------------- */

struct edl_store_writer;
struct uv_loop_s;

enum edl_store_op {
	EDL_STORE_OP_STATION,
	EDL_STORE_OP_PACKAGE,
	EDL_STORE_OP_DEVICE,
	EDL_STORE_OP_RUN_START,
	EDL_STORE_OP_RUN_IDENTIFY,
	EDL_STORE_OP_RUN_FINISH,
	EDL_STORE_OP_RUN_PROGRESS,
	EDL_STORE_OP_RUN_ROUTE, /* issue 15: the product and package [route] chose */
	EDL_STORE_OP_RUN_MES,   /* issue 13: lot, work order, operator of a run */
	EDL_STORE_OP_MES_MARK,  /* issue 13: an after_unit delivery's outcome */
	EDL_STORE_OP_ARCHIVE,   /* issue 15: a file a run archived (edl_store_writer_archive) */
};

/* The outcome of one queued operation, valid during the callback only. */
struct edl_store_done {
	enum edl_store_op op;
	int64_t run_id;     /* the run the operation recorded, 0 for others */
	int code;           /* EDL_OK: committed durably */
	const char *detail; /* sentence for a failure, "" on success */
	/* code != EDL_OK but the operation is kept (in memory and in the journal
	 * <db>.pending, fsynced) and will be committed once the store can write
	 * again: nothing is lost, but it is NOT RECORDED yet. A kept operation's
	 * callback is not called again; on_state with writable = true and
	 * `recovered` says when the kept operations have committed. */
	bool kept;
};

/* Whether the writer can commit, reported on the caller's side (as completions)
 * each time it changes, and once at open. */
struct edl_store_state {
	bool writable;      /* commits succeed and free space is above the reserve */
	int code;           /* EDL_OK, or why not (EDL_E_DB_FULL, EDL_E_IO, ...) */
	const char *detail; /* names the file and the remedy ("free space on /var/...") */
	size_t kept;        /* operations kept uncommitted (memory + journal) */
	uint64_t recovered; /* kept operations committed by this change (writable again) */
};

typedef void (*edl_store_state_fn)(const struct edl_store_state *state, void *data);

/* Called on the caller's side (see the options) once the operation's transaction
 * has committed or failed. May enqueue more operations; must not close the writer. */
typedef void (*edl_store_done_fn)(const struct edl_store_done *done, void *data);

struct edl_store_writer_options {
	/* When set, completions are delivered on this loop through a uv_async_t the
	 * writer owns; open and close must then be called on the loop's thread and the
	 * loop run after close until the handle is closed. NULL: completions are
	 * delivered by edl_store_writer_flush() and edl_store_writer_wait(). */
	struct uv_loop_s *loop;
	unsigned max_batch; /* operations per transaction; 0: 2048 */
	int64_t now_ms;     /* wall clock used for recovery; 0: the real clock */
	/* Free space the database's filesystem must keep ([store] min_free_mb); the
	 * writer is not writable below it. 0: no reserve. */
	uint64_t min_free_bytes;
	uint32_t retry_ms; /* retry kept operations this often; 0: 1000 */
	/* issue 13: runs marked interrupted at open are queued for the MES's
	 * after_unit hook too (table mes_outbox, in the same transaction), so the
	 * MES hears of every run, also one a killed station left running. */
	bool mes_outbox;
	edl_store_state_fn on_state; /* NULL: not told */
	void *state_data;
};

/*
 * Opens (creating and migrating as needed) the database at path for writing,
 * takes the writer lock, marks runs left "running" as "interrupted", and starts
 * the writer thread. opts may be NULL. On success *out is owned by the caller
 * and released with edl_store_writer_close().
 *
 * Before anything is written the writer takes flock() on the database file
 * itself (a hard link or a deleted side file cannot let a second writer in)
 * and runs PRAGMA quick_check (bounded to about 2 s; a larger file is not
 * checked, with a note on stderr). Then the journal <path>.pending is replayed
 * and runs left "running" are marked "interrupted". When that cannot be
 * written (disk full), the writer still opens, not writable, with the work
 * kept: edl_store_writer_state() and the first on_state say so.
 * Errors (every detail names the file): EDL_E_DB_LOCKED (another station
 * writes it), EDL_E_DB_CORRUPT (damaged or not a database; the detail gives
 * the recovery command), EDL_E_DB_SCHEMA (newer schema), EDL_E_CONFIG (the
 * directory does not exist), EDL_E_DB_FULL, EDL_E_DB, EDL_E_IO, EDL_E_NOMEM.
 */
int edl_store_writer_open(struct edl_store_writer **out, const char *path,
                          const struct edl_store_writer_options *opts, struct edl_error *err);

/* Runs marked interrupted when this writer opened. */
uint64_t edl_store_writer_recovered(const struct edl_store_writer *w);

/*
 * Queue operations. Each copies what it needs from its arguments (the caller may
 * free them on return), returns EDL_OK once queued, and reports the outcome to
 * cb (may be NULL) later. EDL_E_INVAL for a missing required field, EDL_E_BUSY
 * after close began, EDL_E_NOMEM. Operations commit in the order queued.
 */
int edl_store_writer_station(struct edl_store_writer *w, const struct edl_store_station *st,
                             edl_store_done_fn cb, void *data);
int edl_store_writer_package(struct edl_store_writer *w, const struct edl_store_package *pkg,
                             edl_store_done_fn cb, void *data);
int edl_store_writer_device(struct edl_store_writer *w, const struct edl_store_device *dev,
                            edl_store_done_fn cb, void *data);

/* The id the next edl_store_writer_run_start() will give (same thread, no
 * other run start in between): for files named after their run before it is
 * queued, such as the run's capture (issue 16). */
int64_t edl_store_writer_next_run_id(struct edl_store_writer *w);

/* Records a run as "running" and gives its id at once in *out_run_id, so that
 * finish, identify and a retry's retry_of can be queued before this commits.
 * Ids come from the database: the writer reads max(id) once at open, under the
 * flock that keeps every other writer off the file, and hands them out in
 * order (past any run its journal keeps), so no two runs can share one. */
int edl_store_writer_run_start(int64_t *out_run_id, struct edl_store_writer *w,
                               const struct edl_store_run_start *run, edl_store_done_fn cb,
                               void *data);

/* Records the device (as edl_store_writer_device) and makes it the run's unit:
 * for sessions that learn the chip serial after they started. */
int edl_store_writer_run_identify(struct edl_store_writer *w, int64_t run_id,
                                  const struct edl_store_device *dev, edl_store_done_fn cb,
                                  void *data);

/* Completes a run with its result, steps and (unless it passed) log lines. The
 * callback with code EDL_OK means the result is on disk. */
int edl_store_writer_run_finish(struct edl_store_writer *w, const struct edl_store_run_end *end,
                                edl_store_done_fn cb, void *data);

/* Persists how far a running run has come (stage, bytes so far, time of the
 * last progress), so that an interrupted run says where it stopped. Cheap: the
 * station calls it on a stage change and at most every few seconds per unit;
 * a later progress for the same run replaces a queued one. */
struct edl_store_progress {
	int64_t run_id;
	const char *stage;
	uint64_t bytes_done;
	uint64_t bytes_total;
	int64_t at_ms;
};
int edl_store_writer_run_progress(struct edl_store_writer *w, const struct edl_store_progress *p,
                                  edl_store_done_fn cb, void *data);

/* The identity gate's decision for a run started before the unit was known
 * (issue 15, route by identity): sets run.product and, when package_hash names
 * a recorded package, run.package_id. NULL leaves that column as it is. */
struct edl_store_run_route {
	int64_t run_id;
	const char *product;
	const char *package_hash;
};
int edl_store_writer_run_route(struct edl_store_writer *w, int64_t run_id, const char *product,
                               const char *package_hash, edl_store_done_fn cb, void *data);
/* ---- issue 13: the MES hooks' records ---------------------------------------------- */

/* The before_unit hook's per-unit data, recorded on the run (it answers after
 * the run started). NULL strings leave a column as it is. */
struct edl_store_run_mes {
	int64_t run_id;
	const char *lot;
	const char *work_order;
	const char *operator_name;
};
int edl_store_writer_run_mes(struct edl_store_writer *w, const struct edl_store_run_mes *m,
                             edl_store_done_fn cb, void *data);

/* One after_unit delivery's outcome: delivered (delivered_ms = at_ms), or
 * failed (attempts + 1, next_ms, last_error). */
struct edl_store_mes_mark {
	int64_t run_id;
	bool delivered;
	int64_t at_ms;
	int64_t next_ms;   /* failed: when to try again */
	const char *error; /* failed: why, a sentence */
};
int edl_store_writer_mes_mark(struct edl_store_writer *w, const struct edl_store_mes_mark *m,
                              edl_store_done_fn cb, void *data);

struct edl_store;

/* An undelivered outbox entry (strings owned by the entry). */
struct edl_store_mes_entry {
	int64_t run_id;
	char *payload;
	unsigned attempts;
	int64_t next_ms;
};

/*
 * The lowest run id whose delivery is due at now_ms (next_ms <= now_ms) into
 * *out (found), else *found false and *next_due_ms the earliest next_ms of
 * any undelivered entry (INT64_MAX: none). *pending: undelivered entries.
 * Read-only; callable from any one thread at a time for s. EDL_OK or EDL_E_DB.
 */
int edl_store_mes_due(struct edl_store *s, int64_t now_ms, struct edl_store_mes_entry *out,
                      bool *found, int64_t *next_due_ms, uint64_t *pending, struct edl_error *err);
void edl_store_mes_entry_clear(struct edl_store_mes_entry *e);

int edl_store_writer_archive(struct edl_store_writer *w, const struct edl_store_archive *a,
                             edl_store_done_fn cb, void *data);

/* Free bytes on the database's filesystem now (statvfs, cheap: call before each
 * unit), and whether that is above the reserve. EDL_OK or EDL_E_IO. */
int edl_store_writer_space(struct edl_store_writer *w, uint64_t *free_bytes, bool *above_reserve,
                           struct edl_error *err);

/* The current state (as on_state last reported it). */
void edl_store_writer_state(struct edl_store_writer *w, struct edl_store_state *out);

/* Blocks until at most max_pending operations are queued or being written, then
 * delivers the completions that are ready on the calling thread. For the CLI,
 * tests and the benchmark, never for the loop. Returns EDL_OK. */
int edl_store_writer_wait(struct edl_store_writer *w, size_t max_pending);

/* edl_store_writer_wait(w, 0): everything queued so far is committed (or failed)
 * and its callbacks have run when this returns. */
int edl_store_writer_flush(struct edl_store_writer *w);

/* Operations queued or being written. */
size_t edl_store_writer_pending(struct edl_store_writer *w);

/*
 * Writes everything still queued, stops the thread, delivers the last
 * completions, and closes the database and the lock. With a loop, the memory is
 * released when the loop has closed the async handle. NULL is ignored.
 */
void edl_store_writer_close(struct edl_store_writer *w);

/* ---- readers ---------------------------------------------------------------------------- */

struct edl_store;

/*
 * Opens an existing database read-only for queries (immutable when the medium
 * is read-only and no WAL index can be made). Every error names the file.
 * Errors: EDL_E_CONFIG (the directory does not exist), EDL_E_NOENT (no file),
 * EDL_E_DB_CORRUPT (not a database), EDL_E_DB_SCHEMA (newer schema),
 * EDL_E_DB_OLD (older schema: a writer upgrades it), EDL_E_DB.
 */
int edl_store_open(struct edl_store **out, const char *path, struct edl_error *err);
void edl_store_close(struct edl_store *s);

/*
 * Checks the file at path read-only: PRAGMA quick_check, or with full the
 * slower integrity_check (which also reads every index against its table).
 * EDL_OK: sound. EDL_E_DB_CORRUPT: damaged, err names the file, the first
 * problems and the recovery command. EDL_E_CONFIG (no such directory),
 * EDL_E_NOENT (no such file), EDL_E_DB, EDL_E_IO: could not be checked.
 */
int edl_store_check_file(const char *path, bool full, struct edl_error *err);

/* How the report cuts its window into buckets (--by). */
enum edl_store_bucket {
	EDL_STORE_BUCKET_HOUR = 0, /* whole UTC hours */
	EDL_STORE_BUCKET_SHIFT,    /* 8 h shifts starting 06:00, 14:00 and 22:00 UTC */
};

struct edl_store_filter {
	int64_t since_ms;    /* runs started at or after; INT64_MIN: no bound */
	int64_t until_ms;    /* runs started before; INT64_MAX: no bound */
	const char *station; /* station name, or NULL */
	/* Package: name (any case), version, "name-version", path, or a manifest hash
	 * prefix of at least 6 digits; NULL: any. */
	const char *package;
	/* Slot: the slot label (any case, "A3") or the USB port path ("1-1.3"); NULL: any. */
	const char *slot;
	/* Unit: a chip or USB serial as edl_store_find_unit() takes it, resolved by
	 * the caller to the chip serial stored with the runs; NULL: any. */
	const char *serial;
	/* issue 15: product (run.product, any case) as [route] recorded it; NULL: any. */
	const char *product;
	/* issue 13: the MES's lot, work order and operator as recorded (exact);
	 * NULL: any. */
	const char *lot;
	const char *work_order;
	const char *operator_name;
	size_t failed_max;            /* failed units listed, newest first; 0: all */
	enum edl_store_bucket bucket; /* the buckets' width */
	/* Factory database only (src/factory/): runs of the stations of this line;
	 * NULL: any. by_station: fill the report's per-station section. */
	const char *line;
	bool by_station;
};

/* A filter with no bounds. */
void edl_store_filter_init(struct edl_store_filter *f);

struct edl_store_slot_stat {
	const char *station;
	int slot;
	const char *port;  /* port of the slot's latest run */
	const char *label; /* the port map's label of the latest run, else its port, else
	                      "#<slot>"; never NULL */
	uint64_t runs;     /* finished runs */
	uint64_t passes;
	uint64_t failures;    /* result fail */
	uint64_t interrupted; /* not counted in the failure rate */
	double failure_rate;  /* failures / (passes + failures); NaN when none */
	double p_value;       /* one-sided Fisher exact vs all other slots; NaN: not tested */
	bool flagged;         /* failing significantly more than the other slots */
};

struct edl_store_pareto_entry {
	const char *stage;       /* "" when the run never reached a named stage */
	const char *error;       /* error code name */
	const char *error_class; /* "reseat", "rma", ... (edl_error_class_name) */
	uint64_t count;
	double share;      /* of all failed and interrupted runs */
	double cumulative; /* running total of share, Pareto order */
};

/* Slot flag: one-sided Fisher's exact test of a slot's failures/passes against
 * all other slots' taken together, for slots with at least
 * EDL_STORE_SLOT_MIN_RUNS decided (pass or fail) runs; flagged when
 * p < EDL_STORE_SLOT_ALPHA / (number of slots tested) (Bonferroni). */
#define EDL_STORE_SLOT_MIN_RUNS 10
#define EDL_STORE_SLOT_ALPHA 0.01

/* A unit whose last finished run in the selection did not pass. */
struct edl_store_failed_unit {
	const char *serial;
	int64_t run_id;   /* that last run */
	int64_t start_ms; /* its start; the list is newest first */
	const char *station;
	const char *slot_label; /* label, else port, else "#<slot>"; never NULL */
	const char *result;     /* "fail" or "interrupted" */
	const char *stage;      /* may be NULL */
	const char *error;      /* code name; may be NULL */
	const char *error_class;
	const char *message; /* may be NULL */
	const char *action;  /* what the operator does (edl_error_action); never NULL */
};

/* One hour or shift of the window. A unit counts in the bucket where its first
 * finished run of the selection started. */
struct edl_store_bucket_stat {
	int64_t start_ms, end_ms; /* the bucket clipped to the window */
	uint64_t units;
	uint64_t passed_units;     /* of those, units whose last run passed */
	uint64_t first_pass_units; /* of those, units whose first run passed */
	double first_pass_yield;   /* NaN when no units */
	double units_per_hour;     /* over the clipped bucket; NaN when it is empty */
	double good_units_per_hour;
};

/* One station of a factory report (--by-station). Runs are the station's own;
 * a unit counts at the station of its first finished run in the selection,
 * with its outcome wherever its last run was. */
struct edl_store_station_stat {
	const char *station;
	const char *line; /* NULL: none recorded */
	uint64_t runs, passed_runs, failed_runs, interrupted_runs;
	uint64_t units, passed_units, first_pass_units;
	double first_pass_yield; /* NaN when no units */
	double final_yield;
	unsigned flagged_slots; /* slots of this station flagged by the slot test */
};

/* The runs of one package in the selection. */
struct edl_store_package_stat {
	const char *name; /* NULL when unknown */
	const char *version;
	const char *path;
	const char *manifest_hash; /* NULL for runs with no package */
	uint64_t runs, passes, failures;
};

/* issue 15: units by product. A unit counts under the product of its last
 * finished run in the selection (a unit rerouted counts once); product NULL:
 * runs no [route] named. */
struct edl_store_product_stat {
	const char *product;
	uint64_t runs, passes, failures; /* finished runs of the product */
	uint64_t units, passed_units, failed_units, first_pass_units;
	double first_pass_yield, final_yield; /* NaN when no units */
};

struct edl_store_report {
	struct edl_store_filter filter; /* as asked; strings owned by the report */
	int64_t window_start_ms;        /* since, or the first run's start */
	int64_t window_end_ms;          /* until, or the last run's end */
	uint64_t runs;                  /* every run in the selection, running included */
	uint64_t passed_runs, failed_runs, interrupted_runs, running;
	uint64_t units;             /* serials with a finished run in the selection */
	uint64_t passed_units;      /* units whose last finished run passed */
	uint64_t failed_units;      /* units - passed_units */
	uint64_t first_pass_units;  /* units whose first finished run passed */
	uint64_t retests;           /* finished runs of identified units beyond each unit's first */
	uint64_t retested_units;    /* units with more than one finished run */
	double first_pass_yield;    /* first_pass_units / units; NaN when no units */
	double final_yield;         /* passed_units / units; NaN when no units */
	double units_per_hour;      /* units / window hours; NaN for an empty window */
	double good_units_per_hour; /* passed_units / window hours: 0 with no pass */
	int64_t duration_p50_ms;    /* nearest-rank percentiles of passed runs; -1: none */
	int64_t duration_p95_ms;
	uint64_t bytes_written; /* by passed runs */
	double throughput_mbps; /* bytes_written / summed duration of passed runs, MB/s */
	unsigned slots_tested;  /* slots with enough runs for the flag test */
	double slot_threshold;  /* the p-value a slot must be under to be flagged */
	struct edl_store_slot_stat *slots; /* by station name, then slot */
	size_t n_slots;
	struct edl_store_pareto_entry *pareto; /* most frequent first */
	size_t n_pareto;
	struct edl_store_failed_unit *failed;  /* newest first, at most filter.failed_max */
	size_t n_failed;                       /* listed; failed_units is the total */
	struct edl_store_bucket_stat *buckets; /* oldest first, every bucket of the window */
	size_t n_buckets;
	struct edl_store_package_stat *packages; /* most runs first */
	size_t n_packages;
	struct edl_store_product_stat *products; /* most units first; none without products */
	size_t n_products;
	struct edl_store_station_stat *stations; /* filter.by_station: by name; else NULL */
	size_t n_stations;
};

/* Computes the report over one consistent snapshot. *out is freed with
 * edl_store_report_free(). An unknown station or package gives an empty report. */
int edl_store_report(struct edl_store_report **out, struct edl_store *s,
                     const struct edl_store_filter *filter, struct edl_error *err);
void edl_store_report_free(struct edl_store_report *r);

struct edl_store_history_step {
	const char *kind; /* "erase", "program", "patch", "setbootable" */
	const char *label;
	uint32_t lun;
	const char *start_sector;
	uint64_t sectors;
	uint64_t bytes;
	int64_t duration_ms;
	const char *result; /* "pass", "fail", "skipped" */
};

struct edl_store_history_run {
	int64_t id;
	const char *station;
	int slot;
	const char *port;
	const char *slot_label;   /* label, else port, else "#<slot>"; never NULL */
	const char *package_name; /* NULL when unknown */
	const char *package_version;
	const char *package_path;
	const char *package_hash;
	int attempt;
	int64_t retry_of; /* 0: none */
	int64_t start_ms;
	int64_t end_ms; /* -1: none */
	enum edl_store_result result;
	const char *stage; /* failures and interruptions; NULL otherwise */
	const char *error;
	const char *error_class; /* failures: stored class, else the code's; NULL otherwise */
	const char *action;      /* failures: what the operator does; NULL otherwise */
	const char *message;
	uint64_t bytes_written;
	int64_t duration_ms; /* -1: none */
	double avg_mbps;     /* NaN: none */
	uint32_t payload;
	const char *transcript;
	const char *capture; /* the run's USB capture file; NULL: none (v5) */
	/* issue 13: the MES's before_unit data; NULL: none */
	const char *lot, *work_order, *operator_name;
	const char *functions; /* the programmer's function list; NULL: none seen */
	const char *warnings;  /* one a line; NULL: none */
	const char **log_lines;
	size_t n_log_lines;
	struct edl_store_history_step *steps; /* only with EDL_STORE_HISTORY_STEPS */
	size_t n_steps;
	const char *kind;    /* issue 15: "flash", "dump", "backup", "restore" (v6) */
	const char *product; /* the product [route] chose; NULL: none */
};

/* issue 15: data kept from the unit (the archive table, filled by the
 * preserve and dump helpers): a preserved partition or a dump region. */
struct edl_store_history_archive {
	int64_t run_id;
	const char *kind;  /* "preserve" or "dump" */
	const char *label; /* partition label or dump region name */
	const char *path;
	uint64_t bytes;
	const char *sha256;
	int restored; /* preserve: 1 written back and verified, 0 not; -1: not told (dumps) */
	int64_t created_ms;
};

struct edl_store_history {
	const char *serial;
	bool have_device; /* the fields below are valid */
	const char *usb_serial, *hw_id, *msm_id, *oem_id, *model_id, *pk_hash;
	int64_t first_seen_ms, last_seen_ms;
	struct edl_store_history_run *runs; /* oldest first */
	size_t n_runs;
	struct edl_store_history_archive *archives; /* oldest first, of every run */
	size_t n_archives;
};

#define EDL_STORE_HISTORY_STEPS 0x1u

/* Every run of the unit, across packages and stations, oldest first.
 * EDL_E_NOENT when the database knows no such serial. */
int edl_store_history(struct edl_store_history **out, struct edl_store *s, const char *serial,
                      unsigned flags, struct edl_error *err);
void edl_store_history_free(struct edl_store_history *h);

/* Units edl_store_find_unit() names when the text is ambiguous. */
#define EDL_STORE_FIND_LISTED 8

/*
 * Finds the unit a person means by text, the way serials get typed: any case,
 * with or without "0x", surrounding blanks ignored; the chip serial or the USB
 * serial; a prefix that starts exactly one unit's serial. An exact chip serial
 * wins, then an exact USB serial, then a unique prefix. The chip serial as
 * stored goes to serial_out (len bytes; EDL_E_RANGE when it does not fit).
 * Errors: EDL_E_NOENT "no unit 1A2B3C5X; did you mean 1A2B3C52?" (the closest
 * known serial by edit distance, when one is close); EDL_E_AGAIN "ambiguous: 3
 * units start with 1A2B: 1a2b0001, ..." (at most EDL_STORE_FIND_LISTED named);
 * EDL_E_INVAL for an empty text; EDL_E_DB. Exact and prefix lookups of chip
 * serials use the device table's key; the USB serial and "did you mean" read
 * the device table once, only when the chip serial did not decide.
 */
int edl_store_find_unit(char *serial_out, size_t len, struct edl_store *s, const char *text,
                        struct edl_error *err);

/* ---- output ----------------------------------------------------------------------------- */

enum edl_store_format {
	EDL_STORE_FORMAT_TEXT,
	EDL_STORE_FORMAT_CSV,
	EDL_STORE_FORMAT_JSON,
};

/* "text", "csv", "json"; EDL_OK or EDL_E_INVAL. */
int edl_store_format_parse(enum edl_store_format *out, const char *name);

/* Writes a report or history. Every stored string is made safe for the format:
 * control characters and invalid UTF-8 never reach the terminal, the CSV reader
 * or the JSON parser raw. Returns EDL_OK or EDL_E_IO. */
int edl_store_report_write(FILE *f, const struct edl_store_report *r, enum edl_store_format fmt);
int edl_store_history_write(FILE *f, const struct edl_store_history *h, enum edl_store_format fmt);

/* ---- time ------------------------------------------------------------------------------- */

/* The wall clock in milliseconds since the epoch. */
int64_t edl_store_time_now_ms(void);

/*
 * Parses a time for --since/--until: ISO-8601 "2024-05-01", "2024-05-01T12:30",
 * "2024-05-01T12:30:15.250Z", "2024-05-01 12:30:15+02:00" (no zone means UTC);
 * "now"; or a span before now_ms: "90s", "30m", "24h", "7d", "2w".
 * Returns EDL_OK or EDL_E_INVAL with a detail naming the text.
 */
int edl_store_time_parse(int64_t *out_ms, const char *text, int64_t now_ms, struct edl_error *err);

/* "2024-05-01T12:30:15.250Z" into buf (at least 32 bytes); returns buf. */
const char *edl_store_time_format(char *buf, size_t len, int64_t ms);

#endif
