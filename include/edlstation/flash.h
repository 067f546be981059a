/*
 * The flash job: everything one device goes through, as one sans-I/O state
 * machine (include/edlstation/io.h contract). It composes the Sahara host engine
 * (probe, identify, programmer upload) and the Firehose host engine (configure,
 * storage info, the plan's steps, read-back verify, set bootable, reset).
 *
 * The station's session (src/station) drives a job over libusb and adds what
 * needs the outside world (retries, recording, the live view); tests and
 * `edlstation memflash` drive the very same job over the in-memory link.
 *
 * The stages are the session states of DESIGN.md. A failed job names the stage
 * it failed in and a struct edl_error whose detail carries the device's words.
 */
#ifndef EDLSTATION_FLASH_H
#define EDLSTATION_FLASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edlstation/error.h"
#include "edlstation/firehose.h"
#include "edlstation/io.h"
#include "edlstation/log.h"
#include "edlstation/plan.h"
#include "edlstation/sahara.h"

/* XX(symbol, name). One line per stage, in the order a job passes them. */
#define EDL_FLASH_STAGE_TABLE(XX)                                                                 \
	XX(EDL_STAGE_PROBE, "probe")               /* HELLO? programmer running? silence? */      \
	XX(EDL_STAGE_SAHARA, "sahara")             /* identify and upload the programmer */       \
	XX(EDL_STAGE_DRAIN, "drain")               /* read what a running programmer still had */ \
	XX(EDL_STAGE_CONFIGURE, "configure")       /* payload size negotiation */                 \
	XX(EDL_STAGE_STORAGE_INFO, "storage-info") /* geometry of the storage */                  \
	XX(EDL_STAGE_PRESERVE, "preserve")         /* read the unit's own partitions ([rma]) */   \
	XX(EDL_STAGE_ERASE, "erase")               /* a plan erase step */                        \
	XX(EDL_STAGE_PROGRAM, "program")           /* a plan program step */                      \
	XX(EDL_STAGE_PATCH, "patch")               /* a plan patch step */                        \
	XX(EDL_STAGE_VERIFY, "verify")             /* getsha256digest of each programmed range */ \
	XX(EDL_STAGE_WRITE_BACK, "write-back")     /* put preserved partitions back, verified */  \
	XX(EDL_STAGE_SET_BOOTABLE, "set-bootable") /* setbootablestoragedrive */                  \
	XX(EDL_STAGE_RESET, "reset")               /* power reset (or reset_to_edl) */            \
	XX(EDL_STAGE_DONE, "done")                 /* finished: see status */

enum edl_flash_stage {
#define EDL_XX_STAGE(sym, name) sym,
	EDL_FLASH_STAGE_TABLE(EDL_XX_STAGE)
#undef EDL_XX_STAGE
};

const char *edl_flash_stage_name(enum edl_flash_stage stage);

enum edl_flash_outcome {
	EDL_FLASH_OUTCOME_NONE = 0,
	EDL_FLASH_OUTCOME_FLASHED,     /* plan executed, verified, device reset */
	EDL_FLASH_OUTCOME_IDENTIFIED,  /* identify-only job finished */
	EDL_FLASH_OUTCOME_REENUMERATE, /* sent reset_to_edl: the device comes back as a new one */
	EDL_FLASH_OUTCOME_DUMPED,      /* memory-debug mode: the dump went to opt.sahara.dump, the
	                                  unit was reset; nothing was flashed */
};

/* How a programmed range is checked (`[flash] verify`). */
enum edl_flash_verify {
	EDL_VERIFY_AUTO = 0, /* digest where the programmer lists getsha256digest (or lists
	                        nothing), else read back; NAND: off (spare bytes and bad-block
	                        skipping differ between programmers; QFirehose and fwupd never
	                        verify NAND) */
	EDL_VERIFY_DIGEST,   /* getsha256digest, falling back to read-back on a NAK */
	EDL_VERIFY_READBACK, /* <read> the range back (rawmode) and hash it on the host */
	EDL_VERIFY_OFF,
};

/* What a finished plan step's check was. */
enum edl_flash_checked {
	EDL_CHECKED_NONE = 0, /* not a program step, or verify off for it */
	EDL_CHECKED_DIGEST,
	EDL_CHECKED_READBACK,
};

enum edl_flash_step_result {
	EDL_FLASH_STEP_PASS = 0,
	EDL_FLASH_STEP_FAIL,
};

/*
 * Events: the job tells its driver what happened, as it happens (nghttp2's
 * callbacks), so the driver never polls. Pointers in an event are valid only
 * during the call. The callback must not call back into the job.
 */
enum edl_flash_event_kind {
	EDL_FLASH_EV_STAGE,      /* a stage was entered: stage */
	EDL_FLASH_EV_IDENTITY,   /* Sahara command mode answered: identity */
	EDL_FLASH_EV_FUNCTIONS,  /* the programmer's banner listed its functions: text
	                            (space-separated, as listed) */
	EDL_FLASH_EV_PAYLOAD,    /* configure agreed: payload, rounds */
	EDL_FLASH_EV_STEP_START, /* plan step `step` started: plan_step */
	EDL_FLASH_EV_STEP_END,   /* plan step `step` ended: plan_step, result, checked,
	                            duration_ms, bytes (raw bytes sent for it) */
	EDL_FLASH_EV_DEVICE_LOG, /* one <log> line of the programmer: text */
	EDL_FLASH_EV_WARNING,    /* something the run record should keep: text (no storage
	                            geometry, a command the programmer does not list, ...) */
	EDL_FLASH_EV_HELD,       /* hold_at_identity: the job waits at the identity gate
	                            for edl_flash_job_release() or _refuse(): identity
	                            (NULL when command mode told no serial) */
	EDL_FLASH_EV_PRESERVED,  /* issue 15: a label was read and archived: label, path,
	                            bytes, sha256 (hex) */
	EDL_FLASH_EV_RESTORED,   /* issue 15: a preserved label was written back and
	                            verified: label, path, bytes, sha256 */
};

struct edl_flash_event {
	enum edl_flash_event_kind kind;
	uint64_t now;
	enum edl_flash_stage stage;
	size_t step;
	const struct edl_plan_step *plan_step;
	enum edl_flash_step_result result;
	enum edl_flash_checked checked;
	uint64_t duration_ms;
	uint64_t bytes;
	const struct edl_sahara_identity *identity;
	const char *text;
	uint64_t payload;
	unsigned rounds;
	const char *label;  /* PRESERVED, RESTORED */
	const char *path;   /* the archive file */
	const char *sha256; /* 64 hex digits */
};

typedef void (*edl_flash_event_fn)(const struct edl_flash_event *ev, void *data);

/* Why the job waits (curl's EXPIRE_* list); edl_flash_job_deadline_reason(). */
#define EDL_FLASH_WAIT_TABLE(XX)                                                               \
	XX(EDL_WAIT_NONE, "none")           /* no deadline */                                  \
	XX(EDL_WAIT_HELLO, "hello")         /* the boot ROM's HELLO, the probe's answer */     \
	XX(EDL_WAIT_SAHARA, "sahara")       /* any other Sahara packet */                      \
	XX(EDL_WAIT_BANNER, "banner")       /* the programmer's start-up logs */               \
	XX(EDL_WAIT_COMMAND, "command")     /* the response to a Firehose command */           \
	XX(EDL_WAIT_PROGRESS, "progress")   /* bytes handed to the transport, none accepted */ \
	XX(EDL_WAIT_FINAL_ACK, "final-ack") /* the response after a program's raw data */      \
	XX(EDL_WAIT_DECISION, "decision")   /* held at identity: the driver's decision */

enum edl_flash_wait {
#define EDL_XX_WAIT(sym, name) sym,
	EDL_FLASH_WAIT_TABLE(EDL_XX_WAIT)
#undef EDL_XX_WAIT
};

const char *edl_flash_wait_name(enum edl_flash_wait wait);

struct edl_flash_options {
	struct edl_sahara_host_config sahara; /* images, probe timing; identify is set from below */
	struct edl_fh_config firehose;
	const struct edl_plan *plan;  /* NULL: identify only */
	uint64_t max_payload;         /* offered in configure; default 1 MiB */
	bool zlp_aware;               /* default true */
	bool identify;                /* Sahara command mode before the upload; default true */
	enum edl_flash_verify verify; /* default EDL_VERIFY_AUTO */
	/* A programmer found already running: true = reuse it (drain, configure,
	 * go on); false = send reset_to_edl and end with outcome REENUMERATE so the
	 * caller identifies the unit on its fresh HELLO. Default true. */
	bool reuse_running_programmer;
	bool set_bootable;       /* default true */
	uint32_t bootable_lun;   /* default 0 (eMMC/NAND), usually 1 or 0 for UFS */
	const char *final_power; /* "reset" (default), "off", "reset_to_edl", or NULL for none */
	uint32_t final_power_delay_s; /* DelayInSeconds; default 0 */
	/* After the upload: read the programmer's banner until "End of supported
	 * functions" or banner_quiet_ms of silence (default 300; QFirehose waits for
	 * the first log, fwupd 2 s). configure is then re-sent on silence until
	 * configure_window_ms has passed (default 5000, as qdl). */
	uint32_t banner_quiet_ms;
	uint32_t configure_window_ms;
	/* No byte accepted by the device for this long while bytes are handed to the
	 * transport: the unit stalled (default 10000). See edl_flash_job_out_done(). */
	uint32_t progress_timeout_ms;
	/* The identity gate: after Sahara command mode told the unit's identity the
	 * job sends nothing (the ROM waits in image-transfer mode, its fresh HELLO
	 * kept) until edl_flash_job_release() names what to upload, or
	 * edl_flash_job_refuse() fails the unit before any programmer byte. The
	 * progress and Sahara timers do not run while held; hold_timeout_ms
	 * (default 60000) bounds the wait (then EDL_E_TIMEOUT). A programmer found
	 * already running cannot be identified: with the gate on it is sent
	 * reset_to_edl (outcome REENUMERATE) so its identity is read on the fresh
	 * HELLO, unless reuse_running_programmer (a retry of a decided unit: the
	 * caller then starts the job without the gate). A ROM that refuses a
	 * command-mode request still re-enumerates (outcome REENUMERATE). */
	bool hold_at_identity;
	uint32_t hold_timeout_ms;
	/*
	 * issue 15, [rma] preserve: partitions that carry the unit's own data
	 * (src/flash/preserve.c). With n_preserve > 0 the job locates each label
	 * on the unit (GPT on eMMC/UFS, MIBIB on NAND; the package's entries are
	 * the cross-check), reads it whole into
	 * archive_dir/<serial>/<archive_run>/<label>.bin (+ .sha256) before the
	 * plan's first step, and after the plan writes back and verifies every
	 * label the plan erased or programmed over. Labels and strings are not
	 * copied: keep them alive until the free.
	 */
	const char *const *preserve_labels;
	size_t n_preserve;
	const char *archive_dir;
	const char *archive_run;    /* a directory name: the run id */
	const char *archive_serial; /* the unit's serial when Sahara did not tell it */
	/* PLAN (default): around the plan. BACKUP: read the labels, run no plan
	 * step, reset. RESTORE: run no plan step, write every label back from
	 * restore_dir/<label>.bin (checked against its .sha256), reset. PLAN with
	 * restore_dir (a retry of a unit an earlier attempt archived): the saved
	 * bytes come from restore_dir instead of the unit. */
	enum edl_preserve_mode {
		EDL_PRESERVE_PLAN = 0,
		EDL_PRESERVE_BACKUP,
		EDL_PRESERVE_RESTORE,
	} preserve_mode;
	const char *restore_dir;
	edl_flash_event_fn on_event; /* NULL: no events */
	void *event_data;
	struct edl_log *log; /* NULL: silent */
};

void edl_flash_options_default(struct edl_flash_options *opt);

struct edl_flash_progress {
	uint64_t bytes_total; /* bytes the plan programs */
	uint64_t bytes_done;  /* bytes of raw data handed to the transport */
	size_t step;          /* current plan step (0-based) */
	size_t n_steps;
	uint64_t payload; /* negotiated payload, 0 before configure */
	unsigned configure_rounds;
};

struct edl_flash_job;

/* Creates a job; *out is the caller's (edl_flash_job_free). The options are
 * copied; their plan, images and log are not: keep them alive until the free.
 * Returns EDL_OK, EDL_E_INVAL or EDL_E_NOMEM. */
int edl_flash_job_new(struct edl_flash_job **out, const struct edl_flash_options *opt);
void edl_flash_job_free(struct edl_flash_job *job);

void edl_flash_job_start(struct edl_flash_job *job, uint64_t now);
int edl_flash_job_feed(struct edl_flash_job *job, const uint8_t *data, size_t len, uint64_t now);
void edl_flash_job_timeout(struct edl_flash_job *job, uint64_t now);
bool edl_flash_job_next_out(struct edl_flash_job *job, struct edl_chunk *out);
uint64_t edl_flash_job_deadline(const struct edl_flash_job *job);
/* What the deadline waits for. */
enum edl_flash_wait edl_flash_job_deadline_reason(const struct edl_flash_job *job);
/* The driver's transport accepted n bytes of the chunks handed out (an OUT
 * transfer completed): feeds the progress deadline. A driver that never calls
 * it gets no progress deadline (it cannot tell a stall from a slow link); the
 * station, the in-memory link and memflash all call it. */
void edl_flash_job_out_done(struct edl_flash_job *job, size_t n, uint64_t now);

enum edl_engine_status edl_flash_job_status(const struct edl_flash_job *job);
enum edl_flash_stage edl_flash_job_stage(const struct edl_flash_job *job);
/* The stage the job failed in (valid when FAILED). */
enum edl_flash_stage edl_flash_job_failed_stage(const struct edl_flash_job *job);
const struct edl_error *edl_flash_job_error(const struct edl_flash_job *job);
enum edl_flash_outcome edl_flash_job_outcome(const struct edl_flash_job *job);
/* True once the job talks Firehose (byte stream framing applies). */
bool edl_flash_job_in_firehose(const struct edl_flash_job *job);
/* True when the programmer was found already running. */
bool edl_flash_job_found_running(const struct edl_flash_job *job);
/* Identity from Sahara command mode; NULL when the unit was not identified. */
const struct edl_sahara_identity *edl_flash_job_identity(const struct edl_flash_job *job);
void edl_flash_job_progress(const struct edl_flash_job *job, struct edl_flash_progress *out);

/* ---- the identity gate (hold_at_identity) ---- */

/*
 * The driver's decision for a unit held at identity. Every field is optional:
 * NULL / 0 keeps what the job's options had. What it points to is not copied:
 * keep it alive until the job is freed (as the options' plan and images).
 */
struct edl_flash_release {
	const struct edl_plan *plan;           /* the routed package's plan; NULL: keep the options'
	                                          (a job whose plan ends NULL finishes IDENTIFIED) */
	const struct edl_sahara_image *images; /* the routed programmer; NULL: keep */
	size_t n_images;
	/* Reserved for the MES helper's per-unit extra (e.g. extra plan steps, a
	 * unit-specific payload): carried, not interpreted by the job today. */
	const void *extra;
};

/* True while the job waits at the identity gate. */
bool edl_flash_job_held(const struct edl_flash_job *job);
/* Goes on from the gate: the programmer is uploaded (the kept HELLO answered)
 * and the plan runs. Not from inside the job's event callback. Returns EDL_OK,
 * EDL_E_INVAL when the job is not held, EDL_E_NOMEM. */
int edl_flash_job_release(struct edl_flash_job *job, const struct edl_flash_release *r,
                          uint64_t now);
/* Fails the held job with code and message (stage sahara), before a byte of
 * any programmer went out; the ROM is left waiting in image-transfer mode.
 * Returns EDL_OK or EDL_E_INVAL when the job is not held. */
int edl_flash_job_refuse(struct edl_flash_job *job, int code, const char *message, uint64_t now);
const struct edl_fh_storage_info *edl_flash_job_storage_info(const struct edl_flash_job *job);

#endif
