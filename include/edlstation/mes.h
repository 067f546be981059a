/*
 * MES hooks (issue 13): the station asks the factory's manufacturing execution
 * system about each unit and tells it every result, through two commands of
 * the station config ([mes] before_unit, after_unit).
 *
 * Three parts, each testable without a USB device:
 *  - the runner (src/station/mes_hook.c): runs one command off the loop with
 *    uv_spawn, the JSON document on its stdin, stdout read up to a bound,
 *    stderr's tail kept for the reason, killed (SIGTERM to its process group,
 *    SIGKILL after a grace) when it outlives its timeout;
 *  - the policy (src/station/mes.c): what before_unit's answer means, the
 *    after_unit payload, the redelivery backoff, the per-unit provisioned plan;
 *  - the outbox (src/station/mes_outbox.c): delivers the durable queue of
 *    results (SQLite table mes_outbox, filled in the run's own finishing
 *    transaction) in run order, retried with bounded exponential backoff.
 *
 * Ownership: every out parameter is the caller's and freed with the function
 * named beside it.
 */
#ifndef EDLSTATION_MES_H
#define EDLSTATION_MES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "edlstation/buf.h"
#include "edlstation/error.h"
#include "edlstation/plan.h"

#define EDL_MES_OUTPUT_MAX (64 * 1024) /* a hook printing more has failed */
#define EDL_MES_KILL_GRACE_MS 1000     /* SIGTERM, then this long, then SIGKILL */
#define EDL_MES_TEXT_MAX 128           /* lot, work order, operator */

/* ---- commands ---------------------------------------------------------------------- */

/* Splits cmd into argv the way a POSIX shell splits words (quotes and
 * backslashes; no expansion, no pipes, no redirection): GLib's
 * g_shell_parse_argv. *argv is the caller's (edl_mes_argv_free). On failure
 * returns EDL_E_CONFIG with why (len bytes) saying what to fix. */
int edl_mes_split_command(char ***argv, const char *cmd, char *why, size_t len);
void edl_mes_argv_free(char **argv);
/* edl_mes_split_command() without keeping the result. */
int edl_mes_check_command(const char *cmd, char *why, size_t len);
/* The program argv[0] names can be executed (a path, or found in PATH).
 * EDL_OK, or EDL_E_NOENT / EDL_E_PERM with why saying which. */
int edl_mes_check_program(const char *program, char *why, size_t len);

/* ---- the runner -------------------------------------------------------------------- */

struct edl_mes_run;

struct edl_mes_run_options {
	const char *name;  /* "before_unit", for messages */
	char *const *argv; /* argv[0] is exec'd (PATH searched); copied */
	const char *input; /* written to stdin, then stdin is closed; copied */
	size_t input_len;
	uint32_t timeout_ms;    /* 0: 10000 */
	uint32_t kill_grace_ms; /* 0: EDL_MES_KILL_GRACE_MS */
	size_t max_output;      /* stdout bytes kept; 0: EDL_MES_OUTPUT_MAX */
};

struct edl_mes_run_result {
	/* EDL_OK: exited 0 with at most max_output bytes on stdout. Else
	 * EDL_E_MES_HOOK: could not start, exited non-zero, killed by a signal,
	 * timed out (timed_out), or printed too much (overflow); detail says
	 * which in a sentence naming the hook ("before_unit hook: exited 1:
	 * <stderr's last line>"). */
	int code;
	int exit_status; /* -1: none (killed or not started) */
	int term_signal; /* 0: none */
	bool timed_out, overflow;
	const char *out; /* stdout, NUL-terminated; valid during the callback */
	size_t out_len;
	const char *err_tail; /* stderr's last line (at most 200 bytes), "" when none */
	uint64_t duration_ms;
	char detail[600];
};

/* Told once, when the process has exited and its pipes are closed (or it was
 * killed). The run frees itself after the callback returns. */
typedef void (*edl_mes_run_fn)(const struct edl_mes_run_result *r, void *data);

/*
 * Starts o->argv with o->input on stdin, in its own process group. *out
 * identifies the run until its callback (then it is gone). Returns EDL_OK, or
 * EDL_E_MES_HOOK (the program could not be started: err says why, done is not
 * called), EDL_E_NOMEM.
 */
int edl_mes_run_start(struct edl_mes_run **out, uv_loop_t *loop,
                      const struct edl_mes_run_options *o, edl_mes_run_fn done, void *data,
                      struct edl_error *err);
/* The caller no longer wants the answer: the process group is killed, done is
 * never called, the run frees itself once its handles are closed. */
void edl_mes_run_cancel(struct edl_mes_run *r);

/* ---- before_unit: the question and the answer -------------------------------------- */

/* What the station knows of a unit when it asks (strings may be NULL). */
struct edl_mes_unit {
	const char *station;
	const char *slot_label;
	const char *port;
	int slot;
	const char *serial; /* chip serial, 8 hex digits */
	const char *usb_serial;
	const char *hw_id, *msm_id, *oem_id, *model_id, *pk_hash;
	const char *package_hash;
	const char *product; /* the [route] that chose the package, when routed */
	int attempt;
	int64_t run_id;
};

/* The JSON document before_unit reads on stdin into b:
 * {"event":"before_unit","station":..,"slot":..,"serial":..,...}. */
int edl_mes_before_input(struct edl_buf *b, const struct edl_mes_unit *u);

struct edl_mes_answer {
	bool accept;
	char reason[256]; /* accept false: the MES's words (default "refused by the MES") */
	char lot[EDL_MES_TEXT_MAX];
	char work_order[EDL_MES_TEXT_MAX];
	char operator_name[EDL_MES_TEXT_MAX];
	bool provision;            /* a file for this unit's partition */
	char provision_label[64];  /* the partition's label in the package's rawprogram */
	char provision_file[1024]; /* absolute path of the file */
};

/*
 * Parses before_unit's stdout: one JSON object with "accept" (true/false,
 * required), "reason" (string), "lot", "work_order", "operator" (strings of
 * at most 127 bytes of printable text), "provision" ({"label": .., "file":
 * "/abs/path"}). Unknown members are ignored. Anything else (empty output,
 * not JSON, a wrong type, a missing accept) is EDL_E_MES_HOOK with err naming
 * the member and what is wanted: the unit is then not flashed.
 */
int edl_mes_parse_answer(struct edl_mes_answer *a, const char *text, size_t len,
                         struct edl_error *err);

/* ---- provisioning: a plan for one unit --------------------------------------------- */

/*
 * A copy of base whose one PROGRAM step labelled label writes data (len
 * bytes, zero-padded over at least the sectors the package's image covered)
 * instead of that image, with its verify digest recomputed; len may grow the
 * step up to the partition's num_partition_sectors. data is not copied: keep it alive as long as
 * the plan. *out is freed with edl_mes_plan_free() (base is untouched).
 * Errors (err names the label and the file): EDL_E_NOENT (no program step of
 * that label: ship a placeholder image for it in the package), EDL_E_INVAL
 * (the label is written in several pieces, a sparse image), EDL_E_RANGE
 * (bigger than the partition; without a num_partition_sectors, than the
 * package's image), EDL_E_NOMEM.
 */
int edl_mes_plan_provision(struct edl_plan **out, const struct edl_plan *base, const char *label,
                           const uint8_t *data, size_t len, const char *file,
                           struct edl_error *err);
void edl_mes_plan_free(struct edl_plan *p);

/* ---- after_unit: the payload and the schedule -------------------------------------- */

/* What a finished run tells the MES (strings may be NULL). */
struct edl_mes_result {
	int64_t run_id; /* the MES dedupes on it */
	const char *station;
	const char *serial;
	const char *slot_label;
	const char *port;
	int slot;
	int attempt;
	int64_t retry_of;
	bool final;         /* the unit's last word; false: a retry follows */
	const char *result; /* "pass", "fail", "interrupted" */
	const char *stage;
	int error_code;
	const char *message;
	int64_t start_ms, end_ms;
	uint64_t bytes_written;
	const char *package_hash;
	const char *product;
	const char *lot, *work_order, *operator_name;
};

/* {"event":"after_unit","run_id":..,...} into b (one line, no newline). */
int edl_mes_after_payload(struct edl_buf *b, const struct edl_mes_result *r);

/*
 * The wait before redelivery attempt `failures` + 1 after `failures` (>= 1)
 * failed ones: min_ms doubled per failure, capped at max_ms, plus up to a
 * quarter of it as jitter from `random` (any 32-bit number), never more than
 * max_ms and never less than min_ms. Pure.
 */
uint64_t edl_mes_backoff_ms(unsigned failures, uint32_t min_ms, uint32_t max_ms, uint32_t random);

/* ---- the outbox deliverer ---------------------------------------------------------- */

struct edl_mes_outbox;
struct edl_store_writer;

struct edl_mes_outbox_options {
	char *const *argv; /* the after_unit command; copied */
	uint32_t timeout_ms;
	uint32_t retry_min_ms, retry_max_ms;
	const char *db_path; /* read (read-only connection, off the loop) for due entries */
	struct edl_store_writer *writer; /* marks deliveries; must outlive the outbox */
};

/* Starts delivering what the database's outbox holds (entries of earlier
 * stations included). *out is the caller's (edl_mes_outbox_stop). */
int edl_mes_outbox_start(struct edl_mes_outbox **out, uv_loop_t *loop,
                         const struct edl_mes_outbox_options *o, struct edl_error *err);
/* A run finish with a payload committed: look again now. */
void edl_mes_outbox_kick(struct edl_mes_outbox *ob);
/* Results queued and not yet delivered (as last read, plus those kicked in
 * since): the board's and the metrics' backlog. */
size_t edl_mes_outbox_pending(const struct edl_mes_outbox *ob);
/* Deliveries that succeeded / failed since the start. */
uint64_t edl_mes_outbox_delivered(const struct edl_mes_outbox *ob);
uint64_t edl_mes_outbox_failures(const struct edl_mes_outbox *ob);
/*
 * Stops: nothing new is started; a delivery in flight runs to its end (its
 * own timeout bounds it) and is marked; then stopped(data) is called and the
 * outbox frees itself once its handles are closed (the loop must run). The
 * writer must stay open until stopped is called.
 */
void edl_mes_outbox_stop(struct edl_mes_outbox *ob, void (*stopped)(void *data), void *data);

#endif
