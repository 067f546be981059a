/*
 * The flash job's insides (internal to src/flash): the job's state, and the
 * helpers its files share. job.c runs the stages and the deadlines; fit.c
 * decides whether the package fits the unit and its programmer (storage
 * refusals, the function list, geometry); verify.c checks programmed ranges
 * (the programmer's digest, or a read-back hashed on the host).
 */
#ifndef EDL_FLASH_JOB_INTERNAL_H
#define EDL_FLASH_JOB_INTERNAL_H

#include <openssl/evp.h>

#include "edlstation/flash.h"

struct edl_flash_job {
	struct edl_flash_options opt;
	enum edl_flash_stage stage;
	enum edl_flash_stage failed_stage;
	enum edl_engine_status status;
	enum edl_flash_outcome outcome;
	struct edl_error err;
	uint64_t now; /* latest time the driver told us */

	struct edl_sahara_host *sahara;
	struct edl_fh_host *fh;
	bool in_firehose;
	bool found_running;
	bool command_pending;   /* a Firehose command of the current stage was issued */
	bool device_spoke;      /* any byte received: the probe is over */
	unsigned sahara_rounds; /* image transfers: a ROM may ask again after DONE_RESP 0 */
	bool wrote;             /* an erase, program, patch or vendor step was issued */

	size_t step; /* index into plan->steps */
	bool step_open;
	uint64_t step_start_ms;
	enum edl_flash_checked step_checked;
	uint64_t bytes_total;
	uint64_t bytes_done; /* raw bytes of finished program steps */
	struct edl_sahara_identity identity;
	bool have_identity;
	struct edl_fh_storage_info storage;
	size_t si_lun; /* index into plan->luns of the getstorageinfo in progress */

	/* Verify of the current program step. */
	enum edl_flash_checked verify_method;
	EVP_MD_CTX *readback;

	/* Progress deadline: bytes handed to the transport and accepted by it. */
	bool tracks_out; /* the driver reports accepted bytes */
	uint64_t out_handed;
	uint64_t out_accepted;
	uint64_t progress_at; /* last acceptance, or when bytes became outstanding */

	/* The identity gate (hold_at_identity). */
	bool held;
	bool set_bootable_asked; /* the options' set_bootable, before any plan's step */
	uint64_t held_since;
	uint8_t last_hello[EDL_SAHARA_MAX_PKT]; /* the ROM's latest HELLO, answered on release */
	bool have_hello;
	const void *release_extra; /* edl_flash_release.extra, for the MES helper */
};

/* job.c: events, stages, failures, commands. */
void job_emit(struct edl_flash_job *job, struct edl_flash_event *ev);
/* Logged at WARN and told as a WARNING event (the run record keeps it). */
void job_warn(struct edl_flash_job *job, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
void job_set_stage(struct edl_flash_job *job, enum edl_flash_stage stage);
void job_fail(struct edl_flash_job *job, const struct edl_error *cause);
void job_fail_with(struct edl_flash_job *job, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
const struct edl_plan_step *job_current_step(const struct edl_flash_job *job);
void job_step_range(const struct edl_plan_step *s, struct edl_fh_range *r);
/* Starting a command: a refusal by the engine is a bug or bad input, never a wait. */
bool job_issue(struct edl_flash_job *job, int rc, const char *what);
/* Whether the programmer's banner listed fn: 1 yes, 0 no, -1 no list seen. */
int job_programmer_lists(const struct edl_flash_job *job, const char *fn);
void job_next_step(struct edl_flash_job *job);
void job_start_plan(struct edl_flash_job *job);

/* fit.c */
/* Fails with the Firehose engine's error; a storage refusal is a wrong package. */
void job_fail_fh(struct edl_flash_job *job);
/* False (after failing the job) when the programmer lacks a command the plan needs. */
bool job_plan_commands_listed(struct edl_flash_job *job);
/* The agreed payload carries at least one sector of every program step; false
 * after failing the job (a wrong package or programmer, not retried). */
bool job_payload_fits(struct edl_flash_job *job, uint64_t payload);
void job_run_storage_info(struct edl_flash_job *job, uint64_t now);

/* verify.c */
enum edl_flash_checked job_verify_method(const struct edl_flash_job *job,
                                         const struct edl_plan_step *s);
void job_run_verify(struct edl_flash_job *job, uint64_t now);

#endif
