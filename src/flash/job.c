/*
 * The flash job: one device's way from its first bytes to a verified, reset
 * unit, as a sans-I/O state machine over the Sahara and Firehose host engines.
 *
 * Shaped after curl's multi_runsingle: set_stage() is the one place the stage
 * changes (and is traced); advance() runs one function per stage and keeps
 * stepping while a stage finishes without waiting for the device; the engines'
 * deadlines are the job's deadlines.
 */
#include "edlstation/flash.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct edl_flash_job {
	struct edl_flash_options opt;
	enum edl_flash_stage stage;
	enum edl_flash_stage failed_stage;
	enum edl_engine_status status;
	enum edl_flash_outcome outcome;
	struct edl_error err;

	struct edl_sahara_host *sahara;
	struct edl_fh_host *fh;
	bool in_firehose;
	bool found_running;
	bool command_pending; /* a Firehose command of the current stage was issued */
	bool device_spoke;    /* any byte received: the probe is over */

	size_t step; /* index into plan->steps */
	uint64_t bytes_total;
	uint64_t bytes_done; /* raw bytes of finished program steps */
	struct edl_sahara_identity identity;
	bool have_identity;
	struct edl_fh_storage_info storage;
};

static const char *const stage_names[] = {
#define EDL_XX_STAGE_NAME(sym, name) name,
        EDL_FLASH_STAGE_TABLE(EDL_XX_STAGE_NAME)
#undef EDL_XX_STAGE_NAME
};

const char *edl_flash_stage_name(enum edl_flash_stage stage)
{
	if ((size_t)stage >= sizeof(stage_names) / sizeof(stage_names[0]))
		return "?";
	return stage_names[stage];
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
	opt->banner_quiet_ms = 300;
	opt->configure_window_ms = 5000;
	opt->progress_timeout_ms = 10000;
	opt->reuse_running_programmer = true;
	opt->set_bootable = true;
	opt->final_power = "reset";
}

static void set_stage(struct edl_flash_job *job, enum edl_flash_stage stage)
{
	if (job->stage == stage)
		return;
	edl_log_debug(job->opt.log, "stage %s -> %s", edl_flash_stage_name(job->stage),
	              edl_flash_stage_name(stage));
	job->stage = stage;
	job->command_pending = false;
}

static void finish(struct edl_flash_job *job, enum edl_flash_outcome outcome)
{
	job->outcome = outcome;
	job->status = EDL_ENGINE_DONE;
	set_stage(job, EDL_STAGE_DONE);
}

static void fail(struct edl_flash_job *job, const struct edl_error *cause)
{
	char msg[EDL_ERROR_DETAIL_MAX + 64];

	job->err = *cause;
	job->failed_stage = job->stage;
	job->status = EDL_ENGINE_FAILED;
	edl_log_error(job->opt.log, "failed in %s: %s", edl_flash_stage_name(job->stage),
	              edl_error_format(&job->err, msg, sizeof(msg)));
	set_stage(job, EDL_STAGE_DONE);
}

static void fail_with(struct edl_flash_job *job, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void fail_with(struct edl_flash_job *job, int code, const char *fmt, ...)
{
	struct edl_error e;
	va_list ap;

	e.code = code;
	va_start(ap, fmt);
	vsnprintf(e.detail, sizeof(e.detail), fmt, ap);
	va_end(ap);
	fail(job, &e);
}

int edl_flash_job_new(struct edl_flash_job **out, const struct edl_flash_options *opt)
{
	struct edl_flash_job *job = calloc(1, sizeof(*job));
	int rc;

	if (job == NULL)
		return EDL_E_NOMEM;
	job->opt = *opt;
	job->opt.sahara.identify = opt->identify;
	job->opt.sahara.upload = opt->plan != NULL;
	if (opt->plan != NULL) {
		for (size_t i = 0; i < opt->plan->n_steps; i++) {
			const struct edl_plan_step *s = &opt->plan->steps[i];
			if (s->kind == EDL_STEP_PROGRAM)
				job->bytes_total += s->num_sectors * s->sector_size;
			/* A plan that sets the boot drive itself needs no second one. */
			if (s->kind == EDL_STEP_SET_BOOTABLE)
				job->opt.set_bootable = false;
		}
	}
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
	free(job);
}

/* Ranges and commands are built from plan steps for the Firehose engine. */
static void step_range(const struct edl_plan_step *s, struct edl_fh_range *r)
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
static bool issue(struct edl_flash_job *job, int rc, const char *what)
{
	if (rc == EDL_OK) {
		job->command_pending = true;
		return true;
	}
	fail_with(job, rc, "could not issue %s: %s", what, edl_strerror(rc));
	return false;
}

/* Whether the pending Firehose command finished: true = go on, false = wait
 * (or failed: the job status says which). */
static bool fh_finished(struct edl_flash_job *job)
{
	switch (edl_fh_host_status(job->fh)) {
	case EDL_ENGINE_RUNNING:
		return false;
	case EDL_ENGINE_FAILED:
		fail(job, edl_fh_host_error(job->fh));
		return false;
	case EDL_ENGINE_DONE:
		break;
	}
	job->command_pending = false;
	return true;
}

static const struct edl_plan_step *current_step(const struct edl_flash_job *job)
{
	const struct edl_plan *plan = job->opt.plan;

	if (plan == NULL || job->step >= plan->n_steps)
		return NULL;
	return &plan->steps[job->step];
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
	const struct edl_plan_step *s = current_step(job);

	/* A new step of the same kind must still issue its command. */
	job->command_pending = false;
	if (s != NULL)
		set_stage(job, stage_of_step(s));
	else if (job->opt.set_bootable)
		set_stage(job, EDL_STAGE_SET_BOOTABLE);
	else
		set_stage(job, EDL_STAGE_RESET);
}

static void next_step(struct edl_flash_job *job)
{
	job->step++;
	enter_step(job);
}

static void start_plan(struct edl_flash_job *job)
{
	job->step = 0;
	enter_step(job);
}

static void run_sahara(struct edl_flash_job *job, uint64_t now)
{
	switch (edl_sahara_host_status(job->sahara)) {
	case EDL_ENGINE_RUNNING:
		return;
	case EDL_ENGINE_FAILED:
		fail(job, edl_sahara_host_error(job->sahara));
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
	}
	switch (edl_sahara_host_outcome(job->sahara)) {
	case EDL_SAHARA_OUTCOME_IDENTIFIED:
		finish(job, EDL_FLASH_OUTCOME_IDENTIFIED);
		return;
	case EDL_SAHARA_OUTCOME_PROGRAMMER_LOADED:
		job->in_firehose = true;
		edl_log_info(job->opt.log, "programmer uploaded");
		set_stage(job, EDL_STAGE_CONFIGURE);
		return;
	case EDL_SAHARA_OUTCOME_FIREHOSE_RUNNING: {
		size_t n = 0;
		const uint8_t *left = edl_sahara_host_leftover(job->sahara, &n);
		job->in_firehose = true;
		job->found_running = true;
		edl_log_info(job->opt.log,
		             "programmer already running (an earlier session loaded it): %s",
		             job->opt.reuse_running_programmer ? "reusing it"
		                                               : "resetting the unit to EDL");
		if (n > 0 && edl_fh_host_feed(job->fh, left, n, now) != EDL_OK &&
		    edl_fh_host_status(job->fh) == EDL_ENGINE_FAILED) {
			fail(job, edl_fh_host_error(job->fh));
			return;
		}
		if (job->opt.reuse_running_programmer || job->opt.plan == NULL)
			set_stage(job, EDL_STAGE_DRAIN);
		else
			set_stage(job, EDL_STAGE_RESET);
		return;
	}
	case EDL_SAHARA_OUTCOME_REENUMERATE:
		/* The ROM accepts only RESET (XBL); it was sent: the unit comes back new. */
		finish(job, EDL_FLASH_OUTCOME_REENUMERATE);
		return;
	case EDL_SAHARA_OUTCOME_NONE:
		break;
	}
	fail_with(job, EDL_E_INTERNAL, "Sahara engine finished without an outcome");
}

static void run_drain(struct edl_flash_job *job, uint64_t now)
{
	if (!job->command_pending) {
		issue(job, edl_fh_host_drain(job->fh, now), "drain");
		return;
	}
	if (!fh_finished(job))
		return;
	if (job->opt.plan == NULL) {
		/* Identify-only on a running programmer: nothing Sahara could tell. */
		finish(job, EDL_FLASH_OUTCOME_IDENTIFIED);
		return;
	}
	set_stage(job, EDL_STAGE_CONFIGURE);
}

static void run_configure(struct edl_flash_job *job, uint64_t now)
{
	if (!job->command_pending) {
		struct edl_fh_configure c;
		memset(&c, 0, sizeof(c));
		c.storage = job->opt.plan->storage;
		c.max_payload = job->opt.max_payload;
		c.zlp_aware = job->opt.zlp_aware;
		for (size_t i = 0; i < job->opt.plan->n_steps; i++) {
			if (job->opt.plan->steps[i].pages_per_block) {
				c.pages_per_block = job->opt.plan->steps[i].pages_per_block;
				break;
			}
		}
		issue(job, edl_fh_host_configure(job->fh, &c, now), "configure");
		return;
	}
	if (!fh_finished(job))
		return;
	edl_log_info(job->opt.log, "configured: payload %" PRIu64 " bytes after %u round(s)",
	             edl_fh_host_payload(job->fh), edl_fh_host_configure_rounds(job->fh));
	set_stage(job, EDL_STAGE_STORAGE_INFO);
}

static void run_storage_info(struct edl_flash_job *job, uint64_t now)
{
	if (!job->command_pending) {
		issue(job, edl_fh_host_getstorageinfo(job->fh, 0, now), "getstorageinfo");
		return;
	}
	if (!fh_finished(job))
		return;
	const struct edl_fh_storage_info *si = edl_fh_host_storage_info(job->fh);
	if (si != NULL)
		job->storage = *si;
	start_plan(job);
}

static void run_simple_step(struct edl_flash_job *job, uint64_t now)
{
	const struct edl_plan_step *s = current_step(job);
	struct edl_fh_range r;

	if (!job->command_pending) {
		step_range(s, &r);
		if (s->kind == EDL_STEP_ERASE) {
			issue(job, edl_fh_host_erase(job->fh, &r, now), "erase");
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
			issue(job, edl_fh_host_patch(job->fh, &p, now), "patch");
		} else {
			issue(job, edl_fh_host_setbootable(job->fh, s->lun, now),
			      "setbootablestoragedrive");
		}
		return;
	}
	if (!fh_finished(job))
		return;
	next_step(job);
}

static void run_program(struct edl_flash_job *job, uint64_t now)
{
	const struct edl_plan_step *s = current_step(job);
	struct edl_fh_range r;

	if (!job->command_pending) {
		struct edl_fh_source src = {
		        .data = s->data,
		        .len = s->data_len,
		        .fill = s->fill,
		        .fill_value = s->fill_value,
		};
		step_range(s, &r);
		issue(job, edl_fh_host_program(job->fh, &r, &src, now), "program");
		return;
	}
	if (!fh_finished(job))
		return;
	job->bytes_done += s->num_sectors * s->sector_size;
	if (job->opt.verify != EDL_VERIFY_OFF && s->verify) {
		set_stage(job, EDL_STAGE_VERIFY);
		return;
	}
	next_step(job);
}

static void hex(const uint8_t *d, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * n] = '\0';
}

static void run_verify(struct edl_flash_job *job, uint64_t now)
{
	const struct edl_plan_step *s = current_step(job);
	struct edl_fh_range r;

	if (!job->command_pending) {
		step_range(s, &r);
		issue(job, edl_fh_host_getsha256digest(job->fh, &r, now), "getsha256digest");
		return;
	}
	if (!fh_finished(job))
		return;
	const uint8_t *got = edl_fh_host_digest(job->fh);
	if (got == NULL) {
		fail_with(job, EDL_E_FH_DIGEST, "no digest for '%s' (LUN %u sector %s)", s->label,
		          s->lun, s->start_sector);
		return;
	}
	if (memcmp(got, s->sha256, 32) != 0) {
		char want_hex[65], got_hex[65];
		hex(s->sha256, 32, want_hex);
		hex(got, 32, got_hex);
		fail_with(job, EDL_E_VERIFY_MISMATCH,
		          "'%s' (%s) LUN %u sector %s, %" PRIu64
		          " sectors: device has sha256 %s, image has %s",
		          s->label, s->filename, s->lun, s->start_sector, s->num_sectors, got_hex,
		          want_hex);
		return;
	}
	next_step(job);
}

static void run_set_bootable(struct edl_flash_job *job, uint64_t now)
{
	if (!job->command_pending) {
		issue(job, edl_fh_host_setbootable(job->fh, job->opt.bootable_lun, now),
		      "setbootablestoragedrive");
		return;
	}
	if (!fh_finished(job))
		return;
	set_stage(job, EDL_STAGE_RESET);
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
		issue(job, edl_fh_host_power(job->fh, power, job->opt.final_power_delay_s, now),
		      "power");
		return;
	}
	if (edl_fh_host_status(job->fh) == EDL_ENGINE_RUNNING)
		return;
	if (edl_fh_host_status(job->fh) == EDL_ENGINE_FAILED) {
		const struct edl_error *e = edl_fh_host_error(job->fh);
		/* A device that resets before its ACK reaches us has still done its work. */
		if (e->code != EDL_E_FH_TIMEOUT) {
			fail(job, e);
			return;
		}
		edl_log_warn(job->opt.log, "no answer to power %s; the unit is resetting", power);
	}
	finish(job, restart ? EDL_FLASH_OUTCOME_REENUMERATE : EDL_FLASH_OUTCOME_FLASHED);
}

/* Runs stages until one has to wait for the device or time. */
static void advance(struct edl_flash_job *job, uint64_t now)
{
	for (;;) {
		enum edl_flash_stage before = job->stage;
		bool pending_before = job->command_pending;
		size_t step_before = job->step;

		if (job->status != EDL_ENGINE_RUNNING)
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
			run_storage_info(job, now);
			break;
		case EDL_STAGE_ERASE:
		case EDL_STAGE_PATCH:
			run_simple_step(job, now);
			break;
		case EDL_STAGE_PROGRAM:
			run_program(job, now);
			break;
		case EDL_STAGE_VERIFY:
			run_verify(job, now);
			break;
		case EDL_STAGE_SET_BOOTABLE:
			if (current_step(job) != NULL)
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
		    job->step == step_before)
			return;
	}
}

void edl_flash_job_start(struct edl_flash_job *job, uint64_t now)
{
	job->status = EDL_ENGINE_RUNNING;
	edl_sahara_host_start(job->sahara, now);
	advance(job, now);
}

int edl_flash_job_feed(struct edl_flash_job *job, const uint8_t *data, size_t len, uint64_t now)
{
	if (job->status != EDL_ENGINE_RUNNING)
		return EDL_OK;
	if (len > 0 && !job->device_spoke) {
		job->device_spoke = true;
		if (job->stage == EDL_STAGE_PROBE)
			set_stage(job, EDL_STAGE_SAHARA);
	}
	if (job->in_firehose)
		edl_fh_host_feed(job->fh, data, len, now);
	else
		edl_sahara_host_feed(job->sahara, data, len, now);
	advance(job, now);
	return job->status == EDL_ENGINE_FAILED ? job->err.code : EDL_OK;
}

void edl_flash_job_timeout(struct edl_flash_job *job, uint64_t now)
{
	if (job->status != EDL_ENGINE_RUNNING)
		return;
	if (job->in_firehose)
		edl_fh_host_timeout(job->fh, now);
	else
		edl_sahara_host_timeout(job->sahara, now);
	advance(job, now);
}

bool edl_flash_job_next_out(struct edl_flash_job *job, struct edl_chunk *out)
{
	/* The engines may still have bytes to send after the job finished (a RESET). */
	if (job->in_firehose)
		return edl_fh_host_next_out(job->fh, out);
	return edl_sahara_host_next_out(job->sahara, out);
}

static const char *const wait_names[] = {
#define EDL_XX_WAIT_NAME(sym, name) name,
        EDL_FLASH_WAIT_TABLE(EDL_XX_WAIT_NAME)
#undef EDL_XX_WAIT_NAME
};

const char *edl_flash_wait_name(enum edl_flash_wait wait)
{
	if ((size_t)wait >= sizeof(wait_names) / sizeof(wait_names[0]))
		return "?";
	return wait_names[wait];
}

enum edl_flash_wait edl_flash_job_deadline_reason(const struct edl_flash_job *job)
{
	if (edl_flash_job_deadline(job) == 0)
		return EDL_WAIT_NONE;
	return job->in_firehose ? EDL_WAIT_COMMAND : EDL_WAIT_SAHARA;
}

void edl_flash_job_out_done(struct edl_flash_job *job, size_t n, uint64_t now)
{
	(void)job;
	(void)n;
	(void)now;
}

uint64_t edl_flash_job_deadline(const struct edl_flash_job *job)
{
	if (job->status != EDL_ENGINE_RUNNING)
		return 0;
	if (job->in_firehose)
		return edl_fh_host_deadline(job->fh);
	return edl_sahara_host_deadline(job->sahara);
}

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
}

const struct edl_fh_storage_info *edl_flash_job_storage_info(const struct edl_flash_job *job)
{
	return job->storage.valid ? &job->storage : NULL;
}
