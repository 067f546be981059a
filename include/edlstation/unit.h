/*
 * The unit core: one unit's whole life on the station as a sans-I/O state
 * machine (src/station/unit.c). It owns the attempts and their retry policy,
 * the per-serial lock decision, the running-programmer policy, the flash job's
 * options (built here and nowhere else), the per-step records and the device
 * log lines the job reports, and the rule that a unit is shown PASS only once
 * its result is committed.
 *
 * The driver feeds it events (attached, product string read, bytes in, an OUT
 * transfer done, the timer, a commit done, detached, stop requested) and
 * carries out the actions it asks for through one callback (submit an OUT
 * chunk, post an IN transfer, arm the deadline, cancel the transfers, record a
 * run's start/identity/finish, show an event or progress, close). Two drivers
 * exist: the libusb/libuv session (src/station/session.c) and the in-memory
 * line (src/station/memline.c) that `edlstation memflash` and the unit tests
 * run on a virtual clock. Both drive this very core.
 *
 * Rule for the action callback: it must not call an edl_unit_* event function
 * (completions arrive later, as events); what an action points to is valid
 * only during the call.
 */
#ifndef EDLSTATION_UNIT_H
#define EDLSTATION_UNIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "edlstation/error.h"
#include "edlstation/flash.h"
#include "edlstation/io.h"
#include "edlstation/log.h"
#include "edlstation/station.h"
#include "edlstation/store.h"

struct edl_unit;
struct edl_target;

enum edl_unit_action_kind {
	EDL_UNIT_ACT_SUBMIT_OUT,   /* chunk: return EDL_OK, EDL_E_AGAIN (budget: the unit
	                              waits for edl_unit_budget_freed) or an error code */
	EDL_UNIT_ACT_POST_IN,      /* post one IN transfer: return EDL_OK or an error */
	EDL_UNIT_ACT_ARM,          /* (re)arm the one timer at `at` (0: disarm); reason */
	EDL_UNIT_ACT_CANCEL,       /* cancel every transfer in flight; each still completes */
	EDL_UNIT_ACT_RUN_START,    /* run_start: queue it, set run_id (0: not recorded);
	                              the driver may set run_start->transcript. Return
	                              an error when the writer refused it: the unit then
	                              fails before a byte goes out (station fault) */
	EDL_UNIT_ACT_RUN_IDENTIFY, /* device: the run's unit is now known */
	EDL_UNIT_ACT_RUN_ROUTE,    /* product, package_hash: the identity gate's decision,
	                              recorded with the run (run_id) */
	EDL_UNIT_ACT_RUN_FINISH,   /* run_end: commit it; if commit, report the outcome
	                              with edl_unit_commit_done() (never from this call) */
	EDL_UNIT_ACT_SHOW,         /* event (a word), text: what the operator sees */
	EDL_UNIT_ACT_PROGRESS,     /* stage, bytes_done, bytes_total */
	EDL_UNIT_ACT_FINISHED,     /* the unit's result is final (committed when a store is
	                              used): result, code, cls, stage, text (the reason),
	                              flashed, kept, verified; counted by the station */
	EDL_UNIT_ACT_CLOSE,        /* the unit is over: close the device, then free the unit */
	EDL_UNIT_ACT_ARCHIVE,      /* archive: record a file the run archived (issue 15) */
};

struct edl_unit_action {
	enum edl_unit_action_kind kind;
	struct edl_chunk chunk;
	uint64_t at;
	const char *reason; /* ARM: edl_flash_wait_name() or "retry"/"drain" */
	struct edl_store_run_start *run_start;
	int64_t run_id; /* RUN_START: set by the driver */
	const struct edl_store_device *device;
	const struct edl_store_run_end *run_end;
	bool commit; /* RUN_FINISH: the unit waits for edl_unit_commit_done() */
	const char *event;
	const char *text;
	const char *stage;
	const char *product, *package_hash; /* RUN_ROUTE */
	uint64_t bytes_done, bytes_total;
	enum edl_store_result result;
	/* FINISHED: the final code (EDL_OK on a pass; EDL_E_NOT_RECORDED when the
	 * result could not be committed, then result is FAIL and flashed says what
	 * the unit came to), its class, the stage it failed in (stage, NULL on a
	 * pass) and the reason in words (text, NULL on a pass). kept: a result not
	 * committed is kept by the store and committed once it can write again.
	 * verified: a pass whose writes were read back or digested. */
	int code;
	enum edl_error_class cls;
	enum edl_store_result flashed;
	bool kept;
	bool verified;
	bool dumped; /* FINISHED: a pass that collected a memory dump, nothing flashed */
	const struct edl_store_archive *archive; /* ARCHIVE */
};

typedef int (*edl_unit_act_fn)(struct edl_unit *u, struct edl_unit_action *a, void *data);

/*
 * The identity gate. With env->identified set, each unit's job holds after
 * Sahara command mode (edl_flash_options.hold_at_identity): nothing is sent
 * to the unit until the driver decides what it gets (src/station/route.c:
 * its product's package and programmer; the MES hook after it) or refuses it
 * (the unit fails before a byte of any programmer went out; the run is
 * recorded with the code and message). A decision is taken once per unit: a
 * retry reuses it, without holding again.
 */
struct edl_unit_identity {
	const char *port;
	const char *usb_serial; /* the iProduct _SN: token as the descriptor has it; "" none */
	const char *serial;     /* the chip serial (8 hex digits); "" when not told */
	const struct edl_sahara_identity *sahara; /* NULL: command mode told no serial */
	int64_t run_id;                           /* the attempt's run; 0 when not recorded */
};

struct edl_unit_decision {
	bool refuse; /* fail the unit now with code (its class applies) and message */
	int code;
	char message[EDL_ERROR_DETAIL_MAX];
	/* The routed package: NULL keeps the env's. Kept by pointer: alive until the
	 * unit is freed (the station's route table). */
	const struct edl_plan *plan;
	const struct edl_sahara_image *image;
	const char *package_hash; /* recorded with the run (RUN_ROUTE); NULL: the env's */
	const char *product;      /* recorded with the run (run.product); NULL: none */
	const char *route;        /* the route's name, shown; NULL: none */
	/* Reserved for the MES helper: a per-unit extra its hook fills (carried to
	 * edl_flash_release.extra; the job does not interpret it today). */
	const void *extra;
};

/* Returns EDL_OK with *out filled (decided now), EDL_E_AGAIN (the decision comes
 * later through edl_unit_release(); the unit waits, bounded by [route]
 * hold_timeout_ms), or another code: the unit fails with it (a station fault).
 * Called from inside the unit: it must not call an edl_unit_* function. */
typedef int (*edl_unit_identified_fn)(struct edl_unit *u, const struct edl_unit_identity *id,
                                      struct edl_unit_decision *out, void *data);

/* What the station gives a unit; kept by pointer: keep it alive until free. */
struct edl_unit_env {
	const struct edl_station_config *cfg; /* retries, verify, running, timeouts, ... */
	const struct edl_plan *plan;          /* NULL: identify only */
	const struct edl_sahara_image *image; /* the programmer */
	const char *package_hash;             /* recorded with each run; may be NULL */
	bool store;                           /* runs are recorded and commits awaited */
	int64_t wall_offset_ms;               /* wall clock (epoch ms) = now + this */
	/* The per-serial lock: the port of another unit holding serial, or NULL. */
	const char *(*serial_owner)(const char *serial, const struct edl_unit *self, void *data);
	/* Bytes of OUT transfers this unit may keep in flight (its fair share of the
	 * station's budget); NULL: no limit but `inflight`. */
	uint64_t (*out_share)(void *data);
	/* Command-mode requests not to ask a unit with this iProduct serial (bit n =
	 * client command n): ones its ROM refused before it had to be reset (XBL:
	 * after a refusal only RESET is accepted). NULL: ask everything. */
	uint32_t (*skip_exec)(const char *usb_serial, void *data);
	edl_unit_act_fn act;
	void *data;
	/* The identity gate (above); NULL: no gate, every unit gets plan and image. */
	edl_unit_identified_fn identified;
	void *identified_data;
	uint32_t hold_timeout_ms; /* bound on a held unit's wait; 0 = the job's 60 s */
	/* Every line of the job and of the unit (the transcript); NULL: none. */
	edl_log_sink_fn log_sink;
	void *log_data;
};

/*
 * Creates a unit on port/slot (label: what the operator reads; slot: number
 * recorded). *out is the caller's, freed with edl_unit_free() after the CLOSE
 * action (or at any time when the driver is torn down). Returns EDL_OK or
 * EDL_E_NOMEM.
 */
int edl_unit_new(struct edl_unit **out, const struct edl_unit_env *env, const char *port,
                 const char *label, int slot);
void edl_unit_free(struct edl_unit *u);

/* Events. `now` is the driver's monotonic clock in ms. */
void edl_unit_attached(struct edl_unit *u, uint64_t now);
/* The iProduct string read (status EDL_OK) or not (text may then be ""). */
void edl_unit_product(struct edl_unit *u, int status, const char *text, uint64_t now);
/* An IN transfer completed: status EDL_OK with n bytes, or an error. */
void edl_unit_in(struct edl_unit *u, int status, const uint8_t *data, size_t n, uint64_t now);
/* The oldest OUT transfer completed: status EDL_OK with n bytes, or an error
 * (EDL_E_INTERRUPTED when cancelled, EDL_E_USB_GONE). */
void edl_unit_out_done(struct edl_unit *u, int status, size_t n, uint64_t now);
void edl_unit_timer(struct edl_unit *u, uint64_t now);
/* The RUN_FINISH record committed (EDL_OK) or failed (detail says why; kept:
 * the store keeps it and commits it later). A failed commit is never a PASS:
 * the unit finishes as FAIL with EDL_E_NOT_RECORDED ("flashed, NOT RECORDED"). */
void edl_unit_commit_done(struct edl_unit *u, int code, const char *detail, bool kept,
                          uint64_t now);
/* Budget was released station-wide: a unit waiting on EDL_E_AGAIN goes on. */
void edl_unit_budget_freed(struct edl_unit *u, uint64_t now);
void edl_unit_detached(struct edl_unit *u, uint64_t now);
/* The station stops: the attempt ends now and is recorded interrupted. */
void edl_unit_stop(struct edl_unit *u, uint64_t now);
/* The decision for a unit held at identity (env->identified returned
 * EDL_E_AGAIN); copied. Ignored when the unit is not waiting for one (it left,
 * stopped or timed out meanwhile): a driver with a decision pending must drop
 * it when the unit closes. */
void edl_unit_release(struct edl_unit *u, const struct edl_unit_decision *d, uint64_t now);
/* True while the unit waits at the identity gate for its decision. */
bool edl_unit_held(const struct edl_unit *u);
/* The product its decision named; "" when none. */
const char *edl_unit_product_name(const struct edl_unit *u);
/* Someone (the web API) aborts this unit: the attempt fails now with reason
 * as its recorded detail (EDL_E_ABORTED, class reseat), no retry (in a retry pause, the
 * last attempt's failure stands). False when the unit is not flashing
 * (opening, committing, closed) or is stopping already. */
bool edl_unit_abort(struct edl_unit *u, uint64_t now, const char *reason);

/* Queries for the station's policies and view. */
const char *edl_unit_serial(const struct edl_unit *u); /* "" until known */
const char *edl_unit_port(const struct edl_unit *u);
const char *edl_unit_label(const struct edl_unit *u);
bool edl_unit_waits_budget(const struct edl_unit *u);
/* True while the unit holds its serial for the per-serial lock (an attempt,
 * a retry pause or the final commit; a refused unit never holds it). */
bool edl_unit_holds_serial(const struct edl_unit *u);
bool edl_unit_closed(const struct edl_unit *u);
/* True when the unit closed because it was reset to come back in EDL (a
 * running programmer sent reset_to_edl, or a ROM that takes only a reset): the
 * station expects the serial back. */
bool edl_unit_reset_to_edl(const struct edl_unit *u);
/* The command-mode requests its ROM refused before that reset (bit n = n). */
uint32_t edl_unit_refused_exec(const struct edl_unit *u);
/* The current (or last) run's id; 0 before the first. */
int64_t edl_unit_run_id(const struct edl_unit *u);
int edl_unit_attempts(const struct edl_unit *u);
/* The plan's bytes the unit took this attempt (handed out less never accepted). */
uint64_t edl_unit_bytes_accepted(const struct edl_unit *u);
/* The current (or last) attempt's job; NULL between attempts. */
const struct edl_flash_job *edl_unit_job(const struct edl_unit *u);
const char *edl_unit_state_name(const struct edl_unit *u);

/*
 * The flash job's options for attempt `attempt` (1-based) of a unit whose
 * iProduct named its serial (usb_serial_known): the one place they are built.
 * opt->on_event and opt->log are left for the unit to set.
 */
void edl_unit_job_options(struct edl_flash_options *opt, const struct edl_station_config *cfg,
                          const struct edl_plan *plan, const struct edl_sahara_image *image,
                          int attempt, bool usb_serial_known);

/* issue 15 (src/station/rma.c): the [rma] preserve options of the job (none
 * when cfg preserves nothing, or identifies only): labels holds the label
 * pointers (EDL_RMA_MAX_LABELS), run gets the run id as the archive's folder
 * name; both must outlive the job. */
void edl_unit_rma_options(struct edl_flash_options *opt, const struct edl_station_config *cfg,
                          const char **labels, char *run, size_t run_len, int64_t run_id);
/* The run kind recorded: NULL ('flash'), "backup" or "restore". */
const char *edl_unit_rma_kind(const struct edl_station_config *cfg);
/* Whether backup/restore was asked for this serial (always true for `run`). */
bool edl_unit_rma_wanted(const struct edl_station_config *cfg, const char *serial);

/* ---- the in-memory line: units over emulated devices on a virtual clock ------------- */

/* A run as the in-memory line recorded it (strings owned by the line). */
struct edl_memline_run {
	int64_t id;
	char serial[16];
	char port[32];
	int attempt;
	int64_t retry_of;
	enum edl_store_result result; /* RUNNING until finished */
	char stage[24];
	int error_code;
	char message[EDL_ERROR_DETAIL_MAX + 64];
	uint64_t bytes_written;
	struct edl_store_step steps[64]; /* label points into step_labels */
	char step_labels[64][40];
	size_t n_steps;
	char logs[16][160]; /* the last device log lines */
	char product[64];   /* RUN_ROUTE */
	char package_hash[72];
	size_t n_logs;
	uint64_t start_ms, end_ms; /* virtual */
};

struct edl_memline_unit {
	struct edl_target *target; /* the emulated device (the caller's) */
	char port[32];
	uint64_t attach_ms; /* virtual time it appears; 0 = at start */
	char product[64];   /* iProduct, e.g. "QUSB__BULK_SN:1A2B3C4D"; "" = none */
	/* After this many bytes taken (all OUT bytes of all attempts), the OUT
	 * endpoint stops draining: transfers stay pending until cancelled, the unit
	 * stays attached (what the target's stall-at fault does, at the transport). */
	uint64_t stall_at_bytes;
	uint64_t detach_at_ms; /* virtual time the unit is unplugged; 0 = never */
	/* Filled by the run: */
	enum edl_store_result result; /* RUNNING: never finished */
	int code;                     /* FINISHED's code (EDL_OK on a pass) */
	enum edl_error_class cls;     /* ... and its class */
	bool finished, refused, closed;
	uint64_t finished_ms, closed_ms;
	unsigned cancels; /* CANCEL actions the unit asked for */
};

struct edl_memline_options {
	enum edl_memline_fragment {
		EDL_MEMLINE_WHOLE = 0,  /* one read = one device transfer */
		EDL_MEMLINE_FIXED = 1,  /* Firehose reads of fragment_size bytes */
		EDL_MEMLINE_RANDOM = 2, /* Firehose reads of 1..fragment_size bytes, seeded */
	} fragment;                     /* Sahara reads are always whole transfers */
	size_t fragment_size;
	uint32_t seed;
	uint64_t start_ms;        /* default 1000 */
	uint64_t max_ms;          /* give up after this much virtual time; default 1 hour */
	uint64_t stop_at_ms;      /* edl_unit_stop every unit at this time; 0 = never */
	uint64_t commit_delay_ms; /* a commit completes this long after RUN_FINISH */
	int commit_fail;          /* 0, or the code every commit fails with */
	bool commit_kept;         /* ... and the store says it keeps them */
	int run_start_fail;       /* 0, or the code every run start is refused with */
	uint64_t budget;          /* station-wide in-flight OUT bytes; 0 = none */
	FILE *show;               /* SHOW events printed here ("PORT event: text"); NULL */
	FILE *transcript;         /* every log line here; NULL */
	/* The identity gate: a decision env->identified gave at once is delivered
	 * this much later through edl_unit_release() (an asynchronous hook); 0 =
	 * at once. */
	uint64_t decision_delay_ms;
};

struct edl_memline_result {
	struct edl_memline_run runs[64];
	size_t n_runs;
	unsigned passed, failed, interrupted;
	unsigned not_recorded; /* FINISHED with EDL_E_NOT_RECORDED (in failed too) */
	uint64_t end_ms;
	unsigned max_active;         /* most units running at once */
	size_t shows;                /* SHOW actions */
	char show_log[16384];        /* "PORT event: text\n" of every SHOW (truncated) */
	uint64_t max_inflight_bytes; /* most OUT bytes in flight station-wide */
};

void edl_memline_options_default(struct edl_memline_options *opt);

/*
 * Runs units[0..n) through the unit core against their emulated devices until
 * every unit has closed (applying cfg's concurrency limit and unmapped-port
 * refusal, edl_station_admit()). env gives plan, image and package hash; its
 * callbacks are the line's own. Returns EDL_OK when the line ran to an end,
 * EDL_E_TIMEOUT past max_ms (a unit never closed), EDL_E_NOMEM.
 */
int edl_memline_run(const struct edl_unit_env *env, struct edl_memline_unit *units, size_t n,
                    const struct edl_memline_options *opt, struct edl_memline_result *res,
                    struct edl_error *err);

/* ---- station policies (src/station/policy.c), shared by both drivers ---------------- */

enum edl_station_admission {
	EDL_ADMIT_START = 0,    /* give it a unit now */
	EDL_ADMIT_WAIT = 1,     /* the concurrency limit is reached: queue it */
	EDL_ADMIT_UNMAPPED = 2, /* port not in [ports] and accept_unmapped=no: refuse */
};

enum edl_station_admission edl_station_admit(const struct edl_station_config *cfg, const char *port,
                                             unsigned active);
/* A unit's share of the station's in-flight budget with `active` units. */
uint64_t edl_station_budget_share(uint64_t budget, unsigned active);
/* Round robin over n waiting units: the index to serve first; advances *rr. */
size_t edl_station_budget_first(size_t *rr, size_t n);

/*
 * The line guard: when to stop taking new units because failures look like
 * the line's fault rather than the units' (issue 11). Fed every final result
 * with its slot and code, it answers "stop now", why, and what to check: the
 * same failure class on `stop_after` units in a row, or on `stop_slots`
 * different slots within `stop_window_s`. A pass ends the run of failures in a
 * row. Pure: no clock of its own, no I/O; station.c applies its verdicts and
 * never resumes by itself after one.
 */
#define EDL_LINE_GUARD_RECENT 256 /* failures remembered for the slot window */

struct edl_line_guard {
	unsigned stop_after, stop_slots; /* 0: that rule is off */
	uint64_t window_ms;
	enum edl_error_class run_cls; /* the class of the current run of failures */
	unsigned run_len;             /* units in a row that failed with it */
	struct {
		int slot;
		enum edl_error_class cls;
		uint64_t at_ms;
	} recent[EDL_LINE_GUARD_RECENT]; /* a ring, oldest overwritten */
	size_t n_recent, recent_next;
};

struct edl_line_verdict {
	bool stop;
	enum edl_error_class cls;
	char reason[256]; /* "3 units in a row failed: wrong package" */
	char check[256];  /* "check the package matches the units (storage type, product)" */
};

/* From cfg's [line] stop_after, stop_slots and stop_window_s. */
void edl_line_guard_init(struct edl_line_guard *g, const struct edl_station_config *cfg);
/* The line resumed: what came before no longer counts. */
void edl_line_guard_reset(struct edl_line_guard *g);
/*
 * One unit's final result: code EDL_OK for a pass, else its failure code (an
 * interrupted unit is not fed). Fills *out; returns out->stop.
 */
bool edl_line_guard_feed(struct edl_line_guard *g, int slot, int code, uint64_t now_ms,
                         struct edl_line_verdict *out);
/* What to check before resuming after failures of this class. */
const char *edl_line_guard_check(enum edl_error_class cls);
/* The class in the operator's words ("wrong package"). */
const char *edl_line_guard_class_words(enum edl_error_class cls);

#endif
