/*
 * The flash job: one device's way from its first bytes to a verified, reset
 * unit, as a sans-I/O state machine over the Sahara and Firehose host engines.
 *
 * Shaped after curl's multi_runsingle: job_set_stage() is the one place the
 * stage changes (traced, and told to the driver as an event); advance() runs one
 * function per stage and keeps stepping while a stage finishes without waiting
 * for the device; the deadline is the engines' or the job's own progress
 * deadline, whichever comes first, and is checked before the stage runs.
 *
 * Stages and their transitions (every stage may also fail -> DONE):
 *
 *   PROBE -> SAHARA           the device spoke
 *   PROBE|SAHARA -> DRAIN     programmer loaded (banner) or found running (reuse)
 *   PROBE|SAHARA -> RESET     programmer found running, not to be reused
 *   PROBE|SAHARA -> DONE      identified only, or the ROM needs a reset (re-enumerate)
 *   DRAIN -> CONFIGURE        banner read (or a running programmer drained)
 *   DRAIN -> DONE             identify-only on a running programmer
 *   CONFIGURE -> STORAGE_INFO payload agreed
 *   STORAGE_INFO -> plan      geometry checked, or not available (a warning)
 *   plan step -> next step    ERASE, PROGRAM (-> VERIFY), PATCH, SET_BOOTABLE
 *   last step -> SET_BOOTABLE (eMMC/UFS without one in the plan) -> RESET -> DONE
 *
 * Real devices shape several of these (../shared/REAL-DEVICES.md): the banner
 * is read before configure and configure is re-sent on silence (#2); storage
 * info is best effort and, when it comes, the plan is checked against it before
 * the first erase (#5); a programmer that refuses the package's storage type is
 * a wrong package, not a protocol error; verify uses the programmer's digest
 * where it has one and reads the range back where it does not (#6). Those
 * two decisions live in fit.c and verify.c (see job_internal.h).
 */
#include "flash/job_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const stage_names[] = {
#define EDL_XX_STAGE_NAME(sym, name) name,
        EDL_FLASH_STAGE_TABLE(EDL_XX_STAGE_NAME)
#undef EDL_XX_STAGE_NAME
};

static const char *const wait_names[] = {
#define EDL_XX_WAIT_NAME(sym, name) name,
        EDL_FLASH_WAIT_TABLE(EDL_XX_WAIT_NAME)
#undef EDL_XX_WAIT_NAME
};

const char *edl_flash_stage_name(enum edl_flash_stage stage)
{
	if ((size_t)stage >= sizeof(stage_names) / sizeof(stage_names[0]))
		return "?";
	return stage_names[stage];
}

const char *edl_flash_wait_name(enum edl_flash_wait wait)
{
	if ((size_t)wait >= sizeof(wait_names) / sizeof(wait_names[0]))
		return "?";
	return wait_names[wait];
}

void edl_flash_options_default(struct edl_flash_options *opt)
{
	memset(opt, 0, sizeof(*opt));
	edl_sahara_host_config_default(&opt->sahara);
	edl_fh_config_default(&opt->firehose);
	opt->max_payload = 1024 * 1024;
	opt->zlp_aware = true;
	opt->identify = true;
	opt->verify = EDL_VERIFY_AUTO;
	opt->reuse_running_programmer = true;
	opt->set_bootable = true;
	opt->final_power = "reset";
	opt->banner_quiet_ms = 300;
	opt->configure_window_ms = 5000;
	opt->progress_timeout_ms = 10000;
	opt->hold_timeout_ms = 60000;
}

/* ---- events ---- */

void job_emit(struct edl_flash_job *job, struct edl_flash_event *ev)
{
	if (job->opt.on_event == NULL)
		return;
	ev->now = job->now;
	if (ev->kind != EDL_FLASH_EV_STAGE)
		ev->stage = job->stage;
	job->opt.on_event(ev, job->opt.event_data);
}

static void job_emit_text(struct edl_flash_job *job, enum edl_flash_event_kind kind,
                          const char *text)
{
	struct edl_flash_event ev = {.kind = kind, .text = text};
	job_emit(job, &ev);
}

void job_warn(struct edl_flash_job *job, const char *fmt, ...)
{
	char text[EDL_ERROR_DETAIL_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	edl_log_warn(job->opt.log, "%s", text);
	job_emit_text(job, EDL_FLASH_EV_WARNING, text);
}

static void on_device_log(const char *line, void *data)
{
	struct edl_flash_job *job = data;
	job_emit_text(job, EDL_FLASH_EV_DEVICE_LOG, line);
}

/* ---- stages ---- */

const struct edl_plan_step *job_current_step(const struct edl_flash_job *job)
{
	const struct edl_plan *plan = job->opt.plan;

	if (plan == NULL || job->step >= plan->n_steps)
		return NULL;
	return &plan->steps[job->step];
}

void job_set_stage(struct edl_flash_job *job, enum edl_flash_stage stage)
{
	if (job->stage == stage)
		return;
	edl_log_debug(job->opt.log, "stage %s -> %s", edl_flash_stage_name(job->stage),
	              edl_flash_stage_name(stage));
	job->stage = stage;
	job->command_pending = false;
	struct edl_flash_event ev = {.kind = EDL_FLASH_EV_STAGE, .stage = stage};
	job_emit(job, &ev);
}

static uint64_t job_step_bytes(const struct edl_plan_step *s)
{
	return s->kind == EDL_STEP_PROGRAM ? s->num_sectors * s->sector_size : 0;
}

/* The end of the open plan step, told to the driver once. */
static void end_step(struct edl_flash_job *job, enum edl_flash_step_result result)
{
	const struct edl_plan_step *s = job_current_step(job);

	if (!job->step_open || s == NULL)
		return;
	job->step_open = false;
	struct edl_flash_event ev = {
	        .kind = EDL_FLASH_EV_STEP_END,
	        .step = job->step,
	        .plan_step = s,
	        .result = result,
	        .checked = result == EDL_FLASH_STEP_PASS ? job->step_checked : EDL_CHECKED_NONE,
	        .duration_ms = job->now - job->step_start_ms,
	        .bytes = s->kind == EDL_STEP_PROGRAM
	                         ? (result == EDL_FLASH_STEP_PASS ? job_step_bytes(s)
	                                                          : edl_fh_host_raw_sent(job->fh))
	                         : 0,
	};
	job_emit(job, &ev);
}

static void finish(struct edl_flash_job *job, enum edl_flash_outcome outcome)
{
	job->outcome = outcome;
	job->status = EDL_ENGINE_DONE;
	job_set_stage(job, EDL_STAGE_DONE);
}

void job_fail(struct edl_flash_job *job, const struct edl_error *cause)
{
	char msg[EDL_ERROR_DETAIL_MAX + 64];

	job_preserve_failed(job, cause); /* issue 15: where the unit's own data is */
	job->err = *cause;
	job->failed_stage = job->stage;
	job->status = EDL_ENGINE_FAILED;
	edl_log_error(job->opt.log, "failed in %s: %s", edl_flash_stage_name(job->stage),
	              edl_error_format(&job->err, msg, sizeof(msg)));
	end_step(job, EDL_FLASH_STEP_FAIL);
	job_set_stage(job, EDL_STAGE_DONE);
}

void job_fail_with(struct edl_flash_job *job, int code, const char *fmt, ...)
{
	struct edl_error e;
	va_list ap;

	e.code = code;
	va_start(ap, fmt);
	vsnprintf(e.detail, sizeof(e.detail), fmt, ap);
	va_end(ap);
	job_fail(job, &e);
}

/* The plan's totals, and whether it sets the boot drive itself. */
static void take_plan(struct edl_flash_job *job, const struct edl_plan *plan)
{
	job->opt.plan = plan;
	job->opt.set_bootable = job->set_bootable_asked;
	job->bytes_total = 0;
	if (plan == NULL)
		return;
	for (size_t i = 0; i < plan->n_steps; i++) {
		const struct edl_plan_step *s = &plan->steps[i];
		job->bytes_total += job_step_bytes(s);
		/* A plan that sets the boot drive itself needs no second one. */
		if (s->kind == EDL_STEP_SET_BOOTABLE)
			job->opt.set_bootable = false;
	}
}

int edl_flash_job_new(struct edl_flash_job **out, const struct edl_flash_options *opt)
{
	struct edl_flash_job *job = calloc(1, sizeof(*job));
	int rc;

	if (job == NULL)
		return EDL_E_NOMEM;
	/* issue 15: preserving needs a plan (its storage and LUNs) and a place. */
	if (opt->n_preserve > 0 &&
	    (opt->preserve_labels == NULL || opt->plan == NULL ||
	     (opt->preserve_mode != EDL_PRESERVE_RESTORE && opt->archive_dir == NULL) ||
	     (opt->preserve_mode == EDL_PRESERVE_RESTORE && opt->restore_dir == NULL))) {
		free(job);
		return EDL_E_INVAL;
	}
	job->opt = *opt;
	job->set_bootable_asked = opt->set_bootable;
	job->opt.sahara.identify = opt->identify;
	job->opt.sahara.upload = opt->plan != NULL;
	/* The gate needs an identity to hold on; the upload waits for the release. */
	if (opt->hold_at_identity) {
		if (!opt->identify) {
			free(job);
			return EDL_E_INVAL;
		}
		job->opt.sahara.upload = false;
		if (job->opt.hold_timeout_ms == 0)
			job->opt.hold_timeout_ms = 60000;
	}
	if (job->opt.banner_quiet_ms != 0)
		job->opt.firehose.drain_quiet_ms = job->opt.banner_quiet_ms;
	job->opt.firehose.on_device_log = on_device_log;
	job->opt.firehose.device_log_data = job;
	take_plan(job, opt->plan);
	rc = edl_sahara_host_new(&job->sahara, &job->opt.sahara);
	if (rc != EDL_OK)
		goto err;
	edl_sahara_host_set_log(job->sahara, opt->log);
	rc = edl_fh_host_new(&job->fh, &job->opt.firehose);
	if (rc != EDL_OK)
		goto err;
	if (opt->log != NULL && opt->log->level >= EDL_LOG_DEBUG)
		edl_fh_host_set_log(job->fh, opt->log);
	edl_error_clear(&job->err);
	job->stage = EDL_STAGE_PROBE;
	*out = job;
	return EDL_OK;
err:
	edl_flash_job_free(job);
	return rc;
}

void edl_flash_job_free(struct edl_flash_job *job)
{
	if (job == NULL)
		return;
	edl_sahara_host_free(job->sahara);
	edl_fh_host_free(job->fh);
	EVP_MD_CTX_free(job->readback);
	job_preserve_free(job);
	free(job);
}

/* Ranges and commands are built from plan steps for the Firehose engine. */
void job_step_range(const struct edl_plan_step *s, struct edl_fh_range *r)
{
	memset(r, 0, sizeof(*r));
	r->lun = s->lun;
	r->sector_size = s->sector_size;
	r->start_sector = s->start_sector;
	r->num_sectors = s->num_sectors;
	r->pages_per_block = s->pages_per_block;
	r->last_sector = s->last_sector[0] ? s->last_sector : NULL;
	r->label = s->label[0] ? s->label : NULL;
}

/* Starting a command: a refusal by the engine is a bug or bad input, never a wait. */
bool job_issue(struct edl_flash_job *job, int rc, const char *what)
{
	if (rc == EDL_OK) {
		job->command_pending = true;
		return true;
	}
	if (edl_fh_host_status(job->fh) == EDL_ENGINE_FAILED &&
	    edl_fh_host_error(job->fh)->code == rc)
		job_fail(job, edl_fh_host_error(job->fh));
	else
		job_fail_with(job, rc, "could not issue %s: %s", what, edl_strerror(rc));
	return false;
}

/* Whether the pending Firehose command finished: true = go on, false = wait
 * (or failed: the job status says which). */
static bool job_fh_finished(struct edl_flash_job *job)
{
	switch (edl_fh_host_status(job->fh)) {
	case EDL_ENGINE_RUNNING:
		return false;
	case EDL_ENGINE_FAILED:
		job_fail_fh(job);
		return false;
	case EDL_ENGINE_DONE:
		break;
	}
	job->command_pending = false;
	return true;
}

/* Whether the programmer's banner listed fn: 1 yes, 0 no, -1 no list seen. */
int job_programmer_lists(const struct edl_flash_job *job, const char *fn)
{
	switch (edl_fh_host_supports(job->fh, fn)) {
	case EDL_FH_SUPPORT_YES:
		return 1;
	case EDL_FH_SUPPORT_NO:
		return 0;
	case EDL_FH_SUPPORT_UNKNOWN:
		break;
	}
	return -1;
}

static enum edl_flash_stage stage_of_step(const struct edl_plan_step *s)
{
	switch (s->kind) {
	case EDL_STEP_ERASE:
	case EDL_STEP_VENDOR:
		return EDL_STAGE_ERASE;
	case EDL_STEP_PROGRAM:
		return EDL_STAGE_PROGRAM;
	case EDL_STEP_PATCH:
		return EDL_STAGE_PATCH;
	case EDL_STEP_SET_BOOTABLE:
		return EDL_STAGE_SET_BOOTABLE;
	}
	return EDL_STAGE_PROGRAM;
}

/* Enters plan step job->step, or what follows the plan when there is none left. */
static void enter_step(struct edl_flash_job *job)
{
	const struct edl_plan_step *s = job_current_step(job);

	/* A new step of the same kind must still issue its command. */
	job->command_pending = false;
	if (s == NULL) {
		if (!job_preserve_after_plan(job))
			job_after_plan(job);
		return;
	}
	job_set_stage(job, stage_of_step(s));
	job->step_open = true;
	job->step_start_ms = job->now;
	job->step_checked = EDL_CHECKED_NONE;
	struct edl_flash_event ev = {
	        .kind = EDL_FLASH_EV_STEP_START, .step = job->step, .plan_step = s};
	job_emit(job, &ev);
}

void job_after_plan(struct edl_flash_job *job)
{
	bool bootable = job->opt.set_bootable && job->opt.preserve_mode == EDL_PRESERVE_PLAN;
	job_set_stage(job, bootable ? EDL_STAGE_SET_BOOTABLE : EDL_STAGE_RESET);
}

void job_next_step(struct edl_flash_job *job)
{
	end_step(job, EDL_FLASH_STEP_PASS);
	job->step++;
	enter_step(job);
}

void job_start_plan(struct edl_flash_job *job)
{
	if (job_preserve_before_plan(job))
		return;
	job->step = 0;
	enter_step(job);
}

static void run_sahara(struct edl_flash_job *job, uint64_t now)
{
	switch (edl_sahara_host_status(job->sahara)) {
	case EDL_ENGINE_RUNNING:
		return;
	case EDL_ENGINE_FAILED:
		job_fail(job, edl_sahara_host_error(job->sahara));
		return;
	case EDL_ENGINE_DONE:
		break;
	}
	const struct edl_sahara_identity *id = edl_sahara_host_identity(job->sahara);
	if (id != NULL && id->have_serial) {
		job->identity = *id;
		job->have_identity = true;
		if (job->opt.log != NULL)
			edl_log_set_serial(job->opt.log, id->serial_hex);
		struct edl_flash_event ev = {.kind = EDL_FLASH_EV_IDENTITY,
		                             .identity = &job->identity};
		job_emit(job, &ev);
	}
	switch (edl_sahara_host_outcome(job->sahara)) {
	case EDL_SAHARA_OUTCOME_IDENTIFIED:
		if (job->opt.hold_at_identity && !job->held && job->have_hello) {
			/* The ROM said its fresh HELLO and waits for our HELLO_RESP. */
			job->held = true;
			job->held_since = now;
			edl_log_info(job->opt.log, "held at identity: waiting for the decision");
			struct edl_flash_event ev = {.kind = EDL_FLASH_EV_HELD,
			                             .identity = job->have_identity ? &job->identity
			                                                            : NULL};
			job_emit(job, &ev);
			return;
		}
		if (job->held)
			return;
		finish(job, EDL_FLASH_OUTCOME_IDENTIFIED);
		return;
	case EDL_SAHARA_OUTCOME_PROGRAMMER_LOADED:
		job->in_firehose = true;
		edl_log_info(job->opt.log, "programmer uploaded");
		/* Its banner first: configure sent into a programmer that is still
		 * starting is lost (QFirehose firehose_main, fwupd, qdl). */
		job_set_stage(job, EDL_STAGE_DRAIN);
		return;
	case EDL_SAHARA_OUTCOME_FIREHOSE_RUNNING: {
		size_t n = 0;
		const uint8_t *left = edl_sahara_host_leftover(job->sahara, &n);
		job->in_firehose = true;
		job->found_running = true;
		if (edl_sahara_host_flushed(job->sahara) > 0)
			job_warn(job,
			         "the programmer was inside an interrupted transfer: %" PRIu64
			         " bytes of filler completed it",
			         edl_sahara_host_flushed(job->sahara));
		edl_log_info(job->opt.log,
		             "programmer already running (an earlier session loaded it): %s",
		             job->opt.reuse_running_programmer ? "reusing it"
		                                               : "resetting the unit to EDL");
		if (n > 0 && edl_fh_host_feed(job->fh, left, n, now) != EDL_OK &&
		    edl_fh_host_status(job->fh) == EDL_ENGINE_FAILED) {
			job_fail(job, edl_fh_host_error(job->fh));
			return;
		}
		/* At the gate, an unknown programmer is not reused: whose unit it is
		 * shows only on the fresh HELLO after reset_to_edl. */
		if (job->opt.hold_at_identity && !job->opt.reuse_running_programmer)
			job_set_stage(job, EDL_STAGE_RESET);
		else if (job->opt.reuse_running_programmer || job->opt.plan == NULL)
			job_set_stage(job, EDL_STAGE_DRAIN);
		else
			job_set_stage(job, EDL_STAGE_RESET);
		return;
	}
	case EDL_SAHARA_OUTCOME_DUMPED:
		/* A crashed unit's memory was collected and RESET sent: nothing to flash. */
		finish(job, EDL_FLASH_OUTCOME_DUMPED);
		return;
	case EDL_SAHARA_OUTCOME_REENUMERATE:
		/* The ROM accepts only RESET (XBL); it was sent: the unit comes back new. */
		finish(job, EDL_FLASH_OUTCOME_REENUMERATE);
		return;
	case EDL_SAHARA_OUTCOME_NONE:
		break;
	}
	job_fail_with(job, EDL_E_INTERNAL, "Sahara engine finished without an outcome");
}

static void run_drain(struct edl_flash_job *job, uint64_t now)
{
	if (!job->command_pending) {
		job_issue(job, edl_fh_host_drain(job->fh, now), "drain");
		return;
	}
	if (!job_fh_finished(job))
		return;
	const char *functions = edl_fh_host_functions(job->fh);
	if (functions != NULL) {
		edl_log_info(job->opt.log, "programmer lists: %s", functions);
		job_emit_text(job, EDL_FLASH_EV_FUNCTIONS, functions);
	}
	if (job->opt.plan == NULL) {
		/* Identify-only on a running programmer: nothing Sahara could tell. */
		finish(job, EDL_FLASH_OUTCOME_IDENTIFIED);
		return;
	}
	if (!job_plan_commands_listed(job))
		return;
	job_set_stage(job, EDL_STAGE_CONFIGURE);
}

static void run_configure(struct edl_flash_job *job, uint64_t now)
{
	if (!job->command_pending) {
		struct edl_fh_configure c;
		memset(&c, 0, sizeof(c));
		c.storage = job->opt.plan->storage;
		c.max_payload = job->opt.max_payload;
		c.zlp_aware = job->opt.zlp_aware;
		/* Re-sent on silence for configure_window_ms: a programmer still
		 * starting loses the first document (qdl resends for 5 s). */
		c.resend_ms = 1000;
		c.window_ms = job->opt.configure_window_ms;
		for (size_t i = 0; i < job->opt.plan->n_steps; i++) {
			if (job->opt.plan->steps[i].pages_per_block) {
				c.pages_per_block = job->opt.plan->steps[i].pages_per_block;
				break;
			}
		}
		job_issue(job, edl_fh_host_configure(job->fh, &c, now), "configure");
		return;
	}
	if (!job_fh_finished(job))
		return;
	struct edl_flash_event ev = {
	        .kind = EDL_FLASH_EV_PAYLOAD,
	        .payload = edl_fh_host_payload(job->fh),
	        .rounds = edl_fh_host_configure_rounds(job->fh),
	};
	edl_log_info(job->opt.log, "configured: payload %" PRIu64 " bytes after %u round(s)",
	             ev.payload, ev.rounds);
	job_emit(job, &ev);
	if (!job_payload_fits(job, ev.payload))
		return;
	job_set_stage(job, EDL_STAGE_STORAGE_INFO);
}

static void run_simple_step(struct edl_flash_job *job, uint64_t now)
{
	const struct edl_plan_step *s = job_current_step(job);
	struct edl_fh_range r;

	if (!job->command_pending) {
		job_step_range(s, &r);
		job->wrote = s->kind != EDL_STEP_SET_BOOTABLE || job->wrote;
		if (s->kind == EDL_STEP_ERASE) {
			job_issue(job, edl_fh_host_erase(job->fh, &r, now), "erase");
		} else if (s->kind == EDL_STEP_VENDOR) {
			/* Verbatim, nothing added: a programmer that does not know these
			 * attributes may erase the whole device (fwupd PR #9204). */
			job_issue(job,
			          edl_fh_host_vendor(job->fh, s->element,
			                             (const char *const *)s->vendor_attrs,
			                             s->n_vendor_attrs, now),
			          "vendor entry");
		} else if (s->kind == EDL_STEP_PATCH) {
			struct edl_fh_patch p = {
			        .lun = s->lun,
			        .sector_size = s->sector_size,
			        .byte_offset = s->byte_offset,
			        .filename = "DISK",
			        .size_in_bytes = s->size_in_bytes,
			        .start_sector = s->start_sector,
			        .value = s->value,
			};
			job_issue(job, edl_fh_host_patch(job->fh, &p, now), "patch");
		} else if (job_programmer_lists(job, "setbootablestoragedrive") == 0) {
			job_warn(job,
			         "the programmer does not list setbootablestoragedrive: step %zu "
			         "(%s) skipped",
			         job->step + 1, s->source);
			job_next_step(job);
		} else {
			job_issue(job, edl_fh_host_setbootable(job->fh, s->lun, now),
			          "setbootablestoragedrive");
		}
		return;
	}
	if (!job_fh_finished(job))
		return;
	job_next_step(job);
}

static void run_program(struct edl_flash_job *job, uint64_t now)
{
	const struct edl_plan_step *s = job_current_step(job);
	struct edl_fh_range r;

	if (!job->command_pending) {
		struct edl_fh_source src = {
		        .data = s->data,
		        .len = s->data_len,
		        .fill = s->fill,
		        .fill_value = s->fill_value,
		};
		job_step_range(s, &r);
		job->wrote = true;
		job_issue(job, edl_fh_host_program(job->fh, &r, &src, now), "program");
		return;
	}
	if (!job_fh_finished(job))
		return;
	job->bytes_done += job_step_bytes(s);
	job->verify_method = job_verify_method(job, s);
	if (job->verify_method != EDL_CHECKED_NONE) {
		job_set_stage(job, EDL_STAGE_VERIFY);
		return;
	}
	job_next_step(job);
}

static void run_set_bootable(struct edl_flash_job *job, uint64_t now)
{
	if (!job->command_pending) {
		job_issue(job, edl_fh_host_setbootable(job->fh, job->opt.bootable_lun, now),
		          "setbootablestoragedrive");
		return;
	}
	if (!job_fh_finished(job))
		return;
	job_set_stage(job, EDL_STAGE_RESET);
}

static void run_reset(struct edl_flash_job *job, uint64_t now)
{
	/* A running programmer we may not reuse is sent back to EDL to start over. */
	bool restart = job->found_running && !job->opt.reuse_running_programmer;
	const char *power = restart ? "reset_to_edl" : job->opt.final_power;

	if (power == NULL) {
		finish(job, EDL_FLASH_OUTCOME_FLASHED);
		return;
	}
	if (!job->command_pending) {
		job_issue(job, edl_fh_host_power(job->fh, power, job->opt.final_power_delay_s, now),
		          "power");
		return;
	}
	if (edl_fh_host_status(job->fh) == EDL_ENGINE_RUNNING)
		return;
	if (edl_fh_host_status(job->fh) == EDL_ENGINE_FAILED) {
		const struct edl_error *e = edl_fh_host_error(job->fh);
		/* A device that resets before its ACK reaches us has still done its work;
		 * old programmers do not answer a power value they do not know at all. */
		if (e->code != EDL_E_FH_TIMEOUT) {
			job_fail(job, e);
			return;
		}
		job_warn(job, "no answer to power %s; the unit is resetting", power);
	}
	finish(job, restart ? EDL_FLASH_OUTCOME_REENUMERATE : EDL_FLASH_OUTCOME_FLASHED);
}

/* ---- deadlines ---- */

static uint64_t progress_deadline(const struct edl_flash_job *job)
{
	if (job->held)
		return 0;
	if (!job->tracks_out || job->opt.progress_timeout_ms == 0 ||
	    job->out_handed <= job->out_accepted)
		return 0;
	return job->progress_at + job->opt.progress_timeout_ms;
}

static uint64_t engine_deadline(const struct edl_flash_job *job)
{
	return job->in_firehose ? edl_fh_host_deadline(job->fh)
	                        : edl_sahara_host_deadline(job->sahara);
}

/* "3,145,728" */
static const char *thousands(uint64_t v, char *buf, size_t len)
{
	char digits[24];
	int n = snprintf(digits, sizeof(digits), "%" PRIu64, v);
	size_t o = 0;

	for (int i = 0; i < n && o + 2 < len; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	return buf;
}

/* The unit took no byte for progress_timeout_ms: say where it stopped. */
static void fail_stalled(struct edl_flash_job *job)
{
	const struct edl_plan_step *s = job_current_step(job);
	uint64_t outstanding = job->out_handed - job->out_accepted;
	char where[EDL_ERROR_DETAIL_MAX], n1[32], n2[32];

	if (job->stage == EDL_STAGE_PROGRAM && s != NULL) {
		uint64_t raw = edl_fh_host_raw_sent(job->fh);
		uint64_t at = raw > outstanding ? raw - outstanding : 0;
		snprintf(where, sizeof(where), "at byte %s of %s of %s (LUN %" PRIu32 " sector %s)",
		         thousands(at, n1, sizeof(n1)),
		         thousands(job_step_bytes(s), n2, sizeof(n2)),
		         s->filename[0] ? s->filename : s->label, s->lun, s->start_sector);
	} else if (!job->in_firehose) {
		snprintf(where, sizeof(where), "at byte %s of the programmer upload",
		         thousands(job->out_accepted, n1, sizeof(n1)));
	} else if (s != NULL && job->stage == EDL_STAGE_VERIFY) {
		snprintf(where, sizeof(where), "while verifying %s", s->label);
	} else {
		snprintf(where, sizeof(where), "during %s", edl_flash_stage_name(job->stage));
	}
	/* Formatted with the code's message: "unit stopped accepting data: at byte
	 * 3,145,728 of 4,194,304 of NON-HLOS.ubi (...), nothing taken for ..." */
	job_fail_with(job, EDL_E_STALLED,
	              "%s, nothing taken for %" PRIu32
	              " ms; re-seat the cable or set the unit aside",
	              where, job->opt.progress_timeout_ms);
}

/* Runs stages until one has to wait for the device or time. */
static void advance(struct edl_flash_job *job, uint64_t now)
{
	for (;;) {
		enum edl_flash_stage before = job->stage;
		bool pending_before = job->command_pending;
		size_t step_before = job->step, lun_before = job->si_lun;
		enum edl_flash_checked method_before = job->verify_method;
		unsigned pv_before = job->pv.seq;

		if (job->status != EDL_ENGINE_RUNNING || job->held)
			return;
		switch (job->stage) {
		case EDL_STAGE_PROBE:
		case EDL_STAGE_SAHARA:
			run_sahara(job, now);
			break;
		case EDL_STAGE_DRAIN:
			run_drain(job, now);
			break;
		case EDL_STAGE_CONFIGURE:
			run_configure(job, now);
			break;
		case EDL_STAGE_STORAGE_INFO:
			job_run_storage_info(job, now);
			break;
		case EDL_STAGE_ERASE:
		case EDL_STAGE_PATCH:
			run_simple_step(job, now);
			break;
		case EDL_STAGE_PROGRAM:
			run_program(job, now);
			break;
		case EDL_STAGE_VERIFY:
			job_run_verify(job, now);
			break;
		case EDL_STAGE_PRESERVE:
			job_run_preserve(job, now);
			break;
		case EDL_STAGE_WRITE_BACK:
			job_run_write_back(job, now);
			break;
		case EDL_STAGE_SET_BOOTABLE:
			if (job_current_step(job) != NULL)
				run_simple_step(job, now);
			else
				run_set_bootable(job, now);
			break;
		case EDL_STAGE_RESET:
			run_reset(job, now);
			break;
		case EDL_STAGE_DONE:
			return;
		}
		if (job->stage == before && job->command_pending == pending_before &&
		    job->step == step_before && job->si_lun == lun_before &&
		    job->verify_method == method_before && job->pv.seq == pv_before)
			return;
	}
}

void edl_flash_job_start(struct edl_flash_job *job, uint64_t now)
{
	job->now = now;
	job->status = EDL_ENGINE_RUNNING;
	edl_sahara_host_start(job->sahara, now);
	advance(job, now);
}

/* One whole Sahara HELLO packet (48 bytes, command 1, length 0x30). */
static bool is_sahara_hello(const uint8_t *data, size_t len)
{
	return len == EDL_SAHARA_MAX_PKT && edl_sahara_get_le32(data) == EDL_SAHARA_HELLO &&
	       edl_sahara_get_le32(data + 4) == EDL_SAHARA_MAX_PKT;
}

/*
 * A ROM that answered DONE_RESP "pending" after our only image and then says
 * HELLO again wants another transfer (REAL-DEVICES #1: "then a HELLO, XML or
 * silence are all handled"): a fresh Sahara engine serves it, once; a third
 * round is a ROM that wants an image the package does not have.
 */
static void sahara_again(struct edl_flash_job *job, const uint8_t *hello, size_t len, uint64_t now)
{
	struct edl_sahara_host_config cfg = job->opt.sahara;
	struct edl_sahara_host *h = NULL;
	struct edl_fh_host *fh = NULL;

	if (++job->sahara_rounds > 1) {
		job_fail_with(
		        job, EDL_E_SAHARA_NO_IMAGE,
		        "the boot ROM asked for another image after the programmer (DONE_RESP "
		        "pending, then HELLO, %u times): the package's programmer is not all "
		        "this unit loads",
		        job->sahara_rounds);
		return;
	}
	cfg.identify = false;
	cfg.upload = true;
	/* The programmer that was draining is not running after all: a fresh
	 * Firehose engine waits for the next one. */
	if (edl_sahara_host_new(&h, &cfg) != EDL_OK ||
	    edl_fh_host_new(&fh, &job->opt.firehose) != EDL_OK) {
		edl_sahara_host_free(h);
		job_fail_with(job, EDL_E_NOMEM, "no memory for a second image transfer");
		return;
	}
	edl_fh_host_free(job->fh);
	job->fh = fh;
	if (job->opt.log != NULL && job->opt.log->level >= EDL_LOG_DEBUG)
		edl_fh_host_set_log(fh, job->opt.log);
	job_warn(job, "the boot ROM said HELLO again after the programmer: serving its request");
	edl_sahara_host_free(job->sahara);
	job->sahara = h;
	if (job->opt.log != NULL)
		edl_sahara_host_set_log(h, job->opt.log);
	edl_sahara_host_start(h, now);
	job->in_firehose = false;
	job_set_stage(job, EDL_STAGE_SAHARA);
	edl_sahara_host_feed(h, hello, len, now);
}

int edl_flash_job_feed(struct edl_flash_job *job, const uint8_t *data, size_t len, uint64_t now)
{
	job->now = now;
	if (job->status != EDL_ENGINE_RUNNING)
		return EDL_OK;
	if (len > 0 && !job->device_spoke) {
		job->device_spoke = true;
		if (job->stage == EDL_STAGE_PROBE)
			job_set_stage(job, EDL_STAGE_SAHARA);
	}
	if (!job->in_firehose && is_sahara_hello(data, len)) {
		/* Kept for the gate: the HELLO answered once the unit is released. */
		memcpy(job->last_hello, data, len);
		job->have_hello = true;
	}
	if (job->held) {
		/* A ROM repeating its HELLO while it waits: the newest is answered. */
		if (!is_sahara_hello(data, len))
			edl_log_debug(job->opt.log, "held at identity: %zu bytes dropped", len);
		return EDL_OK;
	}
	if (job->in_firehose && job->stage == EDL_STAGE_DRAIN && !job->found_running &&
	    is_sahara_hello(data, len)) {
		sahara_again(job, data, len, now);
	} else if (job->in_firehose) {
		edl_fh_host_feed(job->fh, data, len, now);
	} else {
		edl_sahara_host_feed(job->sahara, data, len, now);
	}
	advance(job, now);
	return job->status == EDL_ENGINE_FAILED ? job->err.code : EDL_OK;
}

void edl_flash_job_timeout(struct edl_flash_job *job, uint64_t now)
{
	job->now = now;
	if (job->status != EDL_ENGINE_RUNNING)
		return;
	if (job->held) {
		if (now >= job->held_since + job->opt.hold_timeout_ms) {
			job->held = false;
			job_fail_with(job, EDL_E_TIMEOUT,
			              "held at identity for %" PRIu32
			              " ms and no decision came (routing or the MES hook did not "
			              "answer); the unit was not flashed",
			              job->opt.hold_timeout_ms);
		}
		return;
	}
	uint64_t p = progress_deadline(job);
	if (p != 0 && now >= p) {
		fail_stalled(job);
		return;
	}
	if (job->in_firehose)
		edl_fh_host_timeout(job->fh, now);
	else
		edl_sahara_host_timeout(job->sahara, now);
	advance(job, now);
}

bool edl_flash_job_next_out(struct edl_flash_job *job, struct edl_chunk *out)
{
	/* The engines may still have bytes to send after the job finished (a RESET). */
	bool got = job->in_firehose ? edl_fh_host_next_out(job->fh, out)
	                            : edl_sahara_host_next_out(job->sahara, out);
	if (got && out->len > 0) {
		if (job->out_handed == job->out_accepted)
			job->progress_at = job->now;
		job->out_handed += out->len;
	}
	return got;
}

void edl_flash_job_out_done(struct edl_flash_job *job, size_t n, uint64_t now)
{
	job->now = now;
	job->tracks_out = true;
	job->out_accepted += n;
	if (job->out_accepted > job->out_handed)
		job->out_accepted = job->out_handed;
	job->progress_at = now;
}

uint64_t edl_flash_job_deadline(const struct edl_flash_job *job)
{
	if (job->status != EDL_ENGINE_RUNNING)
		return 0;
	if (job->held)
		return job->held_since + job->opt.hold_timeout_ms;
	uint64_t e = engine_deadline(job), p = progress_deadline(job);
	if (e == 0 || (p != 0 && p < e))
		return p;
	return e;
}

enum edl_flash_wait edl_flash_job_deadline_reason(const struct edl_flash_job *job)
{
	uint64_t d = edl_flash_job_deadline(job);

	if (d == 0)
		return EDL_WAIT_NONE;
	if (job->held)
		return EDL_WAIT_DECISION;
	if (d == progress_deadline(job))
		return EDL_WAIT_PROGRESS;
	if (!job->in_firehose) {
		enum edl_sahara_host_state st = edl_sahara_host_state(job->sahara);
		return st == EDL_SAHARA_HOST_WAIT_FIRST || st == EDL_SAHARA_HOST_WAIT_PROBE
		               ? EDL_WAIT_HELLO
		               : EDL_WAIT_SAHARA;
	}
	if (job->stage == EDL_STAGE_DRAIN)
		return EDL_WAIT_BANNER;
	const struct edl_plan_step *s = job_current_step(job);
	if (job->stage == EDL_STAGE_PROGRAM && s != NULL &&
	    edl_fh_host_raw_sent(job->fh) == job_step_bytes(s))
		return EDL_WAIT_FINAL_ACK;
	return EDL_WAIT_COMMAND;
}

/* ---- results ---- */

enum edl_engine_status edl_flash_job_status(const struct edl_flash_job *job)
{
	return job->status;
}
enum edl_flash_stage edl_flash_job_stage(const struct edl_flash_job *job)
{
	return job->stage;
}

enum edl_flash_stage edl_flash_job_failed_stage(const struct edl_flash_job *job)
{
	return job->failed_stage;
}

const struct edl_error *edl_flash_job_error(const struct edl_flash_job *job)
{
	return &job->err;
}

enum edl_flash_outcome edl_flash_job_outcome(const struct edl_flash_job *job)
{
	return job->outcome;
}

bool edl_flash_job_in_firehose(const struct edl_flash_job *job)
{
	return job->in_firehose;
}
bool edl_flash_job_found_running(const struct edl_flash_job *job)
{
	return job->found_running;
}

const struct edl_sahara_identity *edl_flash_job_identity(const struct edl_flash_job *job)
{
	return job->have_identity ? &job->identity : NULL;
}

void edl_flash_job_progress(const struct edl_flash_job *job, struct edl_flash_progress *out)
{
	memset(out, 0, sizeof(*out));
	out->bytes_total = job->bytes_total;
	out->bytes_done = job->bytes_done;
	if (job->stage == EDL_STAGE_PROGRAM && job->command_pending)
		out->bytes_done += edl_fh_host_raw_sent(job->fh);
	out->step = job->step;
	out->n_steps = job->opt.plan ? job->opt.plan->n_steps : 0;
	out->payload = edl_fh_host_payload(job->fh);
	out->configure_rounds = edl_fh_host_configure_rounds(job->fh);
	if (!job->in_firehose && job->sahara != NULL) {
		uint64_t done, total;

		/* A memory dump's bytes are the job's progress while it lasts. */
		edl_sahara_host_dump_progress(job->sahara, &done, &total);
		if (total > 0) {
			out->bytes_done = done;
			out->bytes_total = total;
		}
	}
}

const struct edl_fh_storage_info *edl_flash_job_storage_info(const struct edl_flash_job *job)
{
	return job->storage.valid ? &job->storage : NULL;
}

/* ---- the identity gate ---- */

bool edl_flash_job_held(const struct edl_flash_job *job)
{
	return job->held && job->status == EDL_ENGINE_RUNNING;
}

int edl_flash_job_release(struct edl_flash_job *job, const struct edl_flash_release *r,
                          uint64_t now)
{
	struct edl_sahara_host_config cfg;
	struct edl_sahara_host *h = NULL;
	int rc;

	job->now = now;
	if (!edl_flash_job_held(job))
		return EDL_E_INVAL;
	job->held = false;
	if (r != NULL) {
		if (r->plan != NULL)
			take_plan(job, r->plan);
		if (r->images != NULL) {
			job->opt.sahara.images = r->images;
			job->opt.sahara.n_images = r->n_images;
		}
		job->release_extra = r->extra;
	}
	if (job->opt.plan == NULL) {
		finish(job, EDL_FLASH_OUTCOME_IDENTIFIED);
		return EDL_OK;
	}
	/* A fresh engine answers the kept HELLO in image-transfer mode, as for a
	 * ROM that asks again (sahara_again). */
	cfg = job->opt.sahara;
	cfg.identify = false;
	cfg.upload = true;
	rc = edl_sahara_host_new(&h, &cfg);
	if (rc != EDL_OK) {
		job_fail_with(job, rc == EDL_E_INVAL ? EDL_E_CONFIG : rc,
		              "released at identity, but the upload cannot start: %s",
		              rc == EDL_E_INVAL ? "no programmer image given" : edl_strerror(rc));
		return rc;
	}
	edl_sahara_host_free(job->sahara);
	job->sahara = h;
	if (job->opt.log != NULL)
		edl_sahara_host_set_log(h, job->opt.log);
	edl_log_info(job->opt.log, "released at identity: uploading the programmer");
	edl_sahara_host_start(h, now);
	edl_sahara_host_feed(h, job->last_hello, sizeof(job->last_hello), now);
	advance(job, now);
	return EDL_OK;
}

int edl_flash_job_refuse(struct edl_flash_job *job, int code, const char *message, uint64_t now)
{
	job->now = now;
	if (!edl_flash_job_held(job))
		return EDL_E_INVAL;
	job->held = false;
	job_fail_with(job, code != EDL_OK ? code : EDL_E_INTERNAL, "%s",
	              message && message[0] ? message : "refused at identity");
	return EDL_OK;
}
