/*
 * One device's session on the station: the USB pump that carries the flash
 * job's bytes (one IN transfer always posted, up to `inflight` OUT transfers
 * within the station's budget, a uv timer for the job's deadline), the attempts
 * and their retry policy, the per-serial lock check once the unit is
 * identified, and the run records. A session never touches another device's
 * state; its failure is its own.
 */
#include "station_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void start_attempt(struct session *s);
static void finish_attempt(struct session *s);
static void close_session(struct session *s);
static void record(struct session *s, enum edl_store_result result, const char *stage,
                   const struct edl_error *e, bool final);
static void refuse_serial(struct session *s, const struct session *owner);

static uint64_t now_ms(const struct session *s)
{
	return edl_clock_ms();
}

static void keep_device_log(struct session *s, const char *line)
{
	size_t i = (s->device_log_head + s->n_device_logs) % SESSION_LOG_KEEP;
	if (s->n_device_logs == SESSION_LOG_KEEP) {
		i = s->device_log_head;
		s->device_log_head = (s->device_log_head + 1) % SESSION_LOG_KEEP;
		free(s->device_logs[i]);
	} else {
		s->n_device_logs++;
	}
	s->device_logs[i] = strdup(line);
}

static void clear_device_logs(struct session *s)
{
	for (size_t i = 0; i < SESSION_LOG_KEEP; i++) {
		free(s->device_logs[i]);
		s->device_logs[i] = NULL;
	}
	s->n_device_logs = s->device_log_head = 0;
}

/* Every line of the job goes to the transcript; the device's own lines are
 * also kept for the run record. */
static void log_sink(enum edl_log_level level, const char *prefix, const char *line, void *data)
{
	struct session *s = data;
	if (s->transcript != NULL) {
		fprintf(s->transcript, "%" PRIu64 " %s %s %s\n", now_ms(s) - s->st->start_ms,
		        prefix, edl_log_level_name(level), line);
	}
	if (strncmp(line, "device: ", 8) == 0)
		keep_device_log(s, line + 8);
	else if (level <= EDL_LOG_WARN || (s->st->cfg->verbose && level <= EDL_LOG_INFO))
		view_event(s->st, s, "log", "%s", line);
}

static void open_transcript(struct session *s)
{
	const char *dir = s->st->cfg->log_dir;
	if (dir[0] == '\0')
		return;
	/* mkdir -p: the log directory may be new, several levels deep. */
	char path[sizeof(s->transcript_path)];
	snprintf(path, sizeof(path), "%s", dir);
	for (char *p = path + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0755);
			*p = '/';
		}
	}
	mkdir(path, 0755);
	snprintf(s->transcript_path, sizeof(s->transcript_path), "%s/%s-%" PRId64 "-%d.log", dir,
	         s->serial[0] ? s->serial : s->port, (int64_t)s->attempt_start_wall, s->attempt);
	s->transcript = fopen(s->transcript_path, "a");
	if (s->transcript == NULL) {
		view_event(s->st, s, "warning", "cannot write the transcript %s",
		           s->transcript_path);
		s->transcript_path[0] = '\0';
	} else {
		setvbuf(s->transcript, NULL, _IOLBF, 0);
	}
}

static void close_transcript(struct session *s)
{
	if (s->transcript != NULL)
		fclose(s->transcript);
	s->transcript = NULL;
}

static void on_in(struct edl_usb_dev *dev, int status, size_t n, void *user);
static void on_out(struct edl_usb_dev *dev, int status, size_t n, void *user);

static void post_in(struct session *s)
{
	if (s->in_pending || s->gone || s->phase != SESSION_RUNNING)
		return;
	int rc = edl_usb_dev_submit_in(s->dev, s->inbuf, SESSION_IN_BUF, 0, on_in, s);
	if (rc == EDL_OK)
		s->in_pending = true;
	else if (rc == EDL_E_USB_GONE)
		s->gone = true;
}

static void on_timer(uv_timer_t *t)
{
	struct session *s = t->data;

	if (s->phase == SESSION_RETRY_WAIT) {
		start_attempt(s);
		return;
	}
	if (s->phase != SESSION_RUNNING || s->job == NULL)
		return;
	edl_flash_job_timeout(s->job, now_ms(s));
	session_pump(s);
}

static void arm_deadline(struct session *s)
{
	uint64_t d = s->job ? edl_flash_job_deadline(s->job) : 0;
	if (d == 0) {
		uv_timer_stop(&s->timer);
		return;
	}
	uint64_t now = now_ms(s);
	uv_timer_start(&s->timer, on_timer, d > now ? d - now : 0, 0);
}

/* Checks the per-serial lock once the unit's serial is known. */
static bool check_serial_lock(struct session *s)
{
	const struct edl_sahara_identity *id = edl_flash_job_identity(s->job);

	if (s->identity_checked || id == NULL)
		return true;
	s->identity_checked = true;
	if (s->usb_serial[0] && strcmp(s->usb_serial, id->serial_hex) != 0)
		edl_log_warn(&s->log, "chip serial %s differs from the USB descriptor's %s",
		             id->serial_hex, s->usb_serial);
	snprintf(s->serial, sizeof(s->serial), "%s", id->serial_hex);
	edl_log_set_serial(&s->log, s->serial);
	struct session *owner = station_serial_owner(s->st, s->serial, s);
	if (owner != NULL) {
		refuse_serial(s, owner);
		return false;
	}
	char pk[129] = "";
	for (size_t i = 0; i < id->pk_hash_len && i < 64; i++)
		snprintf(pk + 2 * i, 3, "%02x", id->pk_hash[i]);
	char hwid[20], msm[12], oem[8], model[8];
	snprintf(hwid, sizeof(hwid), "%016" PRIx64, id->hwid);
	snprintf(msm, sizeof(msm), "%08x", id->msm_id);
	snprintf(oem, sizeof(oem), "%04x", id->oem_id);
	snprintf(model, sizeof(model), "%04x", id->model_id);
	struct edl_store_device d = {
	        .serial = s->serial,
	        .usb_serial = s->usb_descriptor_serial[0] ? s->usb_descriptor_serial : NULL,
	        .hw_id = id->have_hwid ? hwid : NULL,
	        .msm_id = id->have_hwid ? msm : NULL,
	        .oem_id = id->have_hwid ? oem : NULL,
	        .model_id = id->have_hwid ? model : NULL,
	        .pk_hash = id->pk_hash_len ? pk : NULL,
	        .seen_ms = edl_store_time_now_ms(),
	};
	if (s->st->store != NULL)
		edl_store_writer_run_identify(s->st->store, s->run_id, &d, NULL, NULL);
	view_event(s->st, s, "identified",
	           "serial %s, HW id %016" PRIx64 " (msm %s oem %s model %s), PK hash %s",
	           s->serial, id->hwid, msm, oem, model, pk[0] ? pk : "-");
	return true;
}

static bool plan_stage(enum edl_flash_stage stage)
{
	return stage >= EDL_STAGE_ERASE && stage <= EDL_STAGE_SET_BOOTABLE;
}

/* Notes when each plan step ends, for the run's step records. */
static void track_steps(struct session *s, const struct edl_flash_progress *p,
                        enum edl_flash_stage stage)
{
	uint64_t now = now_ms(s);

	if (s->step_end_ms == NULL || p->n_steps == 0)
		return;
	if (s->plan_start_ms == 0 && plan_stage(stage))
		s->plan_start_ms = now;
	size_t done = stage == EDL_STAGE_RESET || stage == EDL_STAGE_DONE ? p->n_steps : p->step;
	if (!plan_stage(stage) && stage != EDL_STAGE_RESET && stage != EDL_STAGE_DONE)
		done = 0;
	if (stage == EDL_STAGE_DONE && edl_flash_job_status(s->job) != EDL_ENGINE_DONE)
		done = s->step_seen;
	while (s->step_seen < done && s->step_seen < p->n_steps)
		s->step_end_ms[s->step_seen++] = now;
}

void session_pump(struct session *s)
{
	struct edl_chunk c;

	if (s->phase != SESSION_RUNNING || s->job == NULL)
		return;
	if (!check_serial_lock(s))
		return;
	/* A fair share of the station's in-flight budget: without it the devices that
	 * got budget first keep it, and the others (behind other hubs) starve. */
	uint64_t share = s->st->cfg->usbfs_budget / (s->st->active ? s->st->active : 1);
	while (!s->gone && s->out_inflight < s->st->cfg->inflight) {
		if (!s->have_pending) {
			if (!edl_flash_job_next_out(s->job, &c))
				break;
			if (c.len == 0)
				continue;
			s->pending = c;
			s->have_pending = true;
		}
		if (s->out_inflight > 0 && s->out_bytes + s->pending.len > share)
			break; /* the budget callback pumps us again */
		int rc = edl_usb_dev_submit_out(s->dev, s->pending.data, s->pending.len,
		                                s->pending.zlp && s->st->cfg->zlp, on_out, s);
		if (rc == EDL_E_AGAIN)
			break; /* the station's budget callback pumps us again */
		if (rc != EDL_OK) {
			s->gone = true;
			if (rc == EDL_E_USB_NOMEM)
				edl_error_set(
				        &s->usb_err, rc,
				        "%zu bytes refused: raise "
				        "/sys/module/usbcore/parameters/usbfs_memory_mb (e.g. echo "
				        "256 > it) or lower [flash] usbfs_budget_mb or inflight",
				        s->pending.len);
			else if (rc != EDL_E_USB_GONE)
				edl_error_set(&s->usb_err, rc,
				              "USB transfer of %zu bytes refused: %s",
				              s->pending.len, edl_strerror(rc));
			break;
		}
		s->have_pending = false;
		s->out_inflight++;
		s->out_bytes += s->pending.len;
		s->out_len[s->out_head] = s->pending.len;
		s->out_head = (s->out_head + 1) % 16;
	}
	post_in(s);

	enum edl_flash_stage stage = edl_flash_job_stage(s->job);
	if (stage != s->last_stage) {
		/* Plan steps alternate program/verify: one event when the plan starts,
		 * each step only when verbose (the live view shows them all). */
		bool in_plan = stage >= EDL_STAGE_ERASE && stage <= EDL_STAGE_VERIFY;
		bool was_in_plan =
		        s->last_stage >= EDL_STAGE_ERASE && s->last_stage <= EDL_STAGE_VERIFY;
		s->last_stage = stage;
		if (stage == EDL_STAGE_DRAIN)
			view_event(s->st, s, "programmer-running",
			           "the unit's programmer was still running from an earlier "
			           "attempt; not a fault: reusing it");
		else if (in_plan && !was_in_plan && !s->st->cfg->verbose)
			view_event(s->st, s, "stage", "flashing %zu steps, %" PRIu64 " bytes",
			           s->st->plan ? s->st->plan->n_steps : 0,
			           s->st->plan ? s->st->plan->total_bytes : 0);
		else if (stage != EDL_STAGE_DONE && (!in_plan || s->st->cfg->verbose))
			view_event(s->st, s, "stage", "%s", edl_flash_stage_name(stage));
	}
	struct edl_flash_progress p;
	edl_flash_job_progress(s->job, &p);
	track_steps(s, &p, stage);
	s->bytes_done = p.bytes_done;
	s->bytes_total = p.bytes_total;
	view_progress(s->st, s);

	if (edl_flash_job_status(s->job) != EDL_ENGINE_RUNNING) {
		if (s->out_inflight == 0 && !s->have_pending)
			finish_attempt(s);
		return;
	}
	if (s->gone) {
		/* Wait for the transfers to come back (they fail with NO_DEVICE). */
		if (s->out_inflight == 0 && !s->in_pending)
			finish_attempt(s);
		return;
	}
	arm_deadline(s);
}

static void on_in(struct edl_usb_dev *dev, int status, size_t n, void *user)
{
	struct session *s = user;
	(void)dev;
	s->in_pending = false;
	if (status == EDL_E_USB_GONE) {
		s->gone = true;
	} else if (status == EDL_OK && s->phase == SESSION_RUNNING && s->job != NULL) {
		edl_flash_job_feed(s->job, s->inbuf, n, now_ms(s));
	}
	if (s->phase == SESSION_RUNNING)
		session_pump(s);
}

static void on_out(struct edl_usb_dev *dev, int status, size_t n, void *user)
{
	struct session *s = user;
	(void)dev;
	s->out_inflight--;
	s->out_bytes -= s->out_len[s->out_tail];
	s->out_tail = (s->out_tail + 1) % 16;
	if (status == EDL_E_USB_GONE)
		s->gone = true;
	else if (status == EDL_OK && s->job != NULL)
		edl_flash_job_out_done(s->job, n, now_ms(s));
	if (s->phase == SESSION_RUNNING)
		session_pump(s);
}

static struct edl_flash_options job_options(struct session *s)
{
	const struct edl_station_config *cfg = s->st->cfg;
	struct edl_flash_options o;

	edl_flash_options_default(&o);
	o.sahara.images = &s->st->image;
	o.sahara.n_images = 1;
	o.sahara.hello_wait_ms = cfg->hello_wait_ms;
	/* A retry finds the programmer of the failed attempt running, silent until
	 * asked: probe it at once instead of waiting for a HELLO that will not come. */
	if (s->attempt > 1 && o.sahara.hello_wait_ms > 100)
		o.sahara.hello_wait_ms = 100;
	o.sahara.probe_wait_ms = cfg->probe_wait_ms;
	o.sahara.packet_timeout_ms = cfg->packet_timeout_ms;
	o.firehose.timeout_ms = cfg->command_timeout_ms;
	o.firehose.erase_timeout_ms = cfg->erase_timeout_ms;
	o.firehose.final_ack_timeout_ms = cfg->final_ack_timeout_ms;
	o.firehose.digest_timeout_ms = cfg->digest_timeout_ms;
	o.plan = cfg->identify_only ? NULL : s->st->plan;
	o.max_payload = cfg->max_payload;
	o.zlp_aware = cfg->zlp;
	o.verify = cfg->verify;
	if (o.plan != NULL) {
		o.bootable_lun = o.plan->bootable_lun;
		o.set_bootable = o.plan->storage != EDL_STORAGE_NAND;
	}
	/* A programmer found running is reused when we know whose it is. */
	switch (cfg->running) {
	case EDL_RUNNING_REUSE:
		o.reuse_running_programmer = true;
		break;
	case EDL_RUNNING_RESET:
		o.reuse_running_programmer = s->attempt > 1;
		break;
	case EDL_RUNNING_AUTO:
		o.reuse_running_programmer = s->usb_serial[0] != '\0' || s->attempt > 1;
		break;
	}
	o.log = &s->log;
	return o;
}

static void start_attempt(struct session *s)
{
	struct edl_store_run_start r;

	s->attempt++;
	s->phase = SESSION_RUNNING;
	s->identity_checked = s->attempt > 1 && s->serial[0];
	s->last_stage = EDL_STAGE_PROBE;
	s->attempt_start_ms = now_ms(s);
	s->attempt_start_wall = edl_store_time_now_ms();
	clear_device_logs(s);
	edl_error_clear(&s->usb_err);
	free(s->step_end_ms);
	s->step_end_ms = NULL;
	s->step_seen = 0;
	s->plan_start_ms = 0;
	if (s->st->plan != NULL && !s->st->cfg->identify_only)
		s->step_end_ms = calloc(s->st->plan->n_steps + 1, sizeof(*s->step_end_ms));
	memset(&r, 0, sizeof(r));
	r.serial = s->serial[0] ? s->serial : NULL;
	r.station = s->st->cfg->name;
	r.package_hash = s->st->package_hash;
	r.slot = s->slot;
	r.port = s->port;
	r.attempt = s->attempt;
	r.retry_of = s->prev_run_id;
	r.start_ms = s->attempt_start_wall;
	open_transcript(s);
	r.transcript = s->transcript_path[0] ? s->transcript_path : NULL;
	if (s->st->store == NULL ||
	    edl_store_writer_run_start(&s->run_id, s->st->store, &r, NULL, NULL) != EDL_OK)
		s->run_id = 0;
	struct edl_flash_options o = job_options(s);
	if (edl_flash_job_new(&s->job, &o) != EDL_OK) {
		struct edl_error e;
		edl_error_set(&e, EDL_E_NOMEM, "no memory for the flash job");
		view_event(s->st, s, "fail", "%s", e.detail);
		s->phase = SESSION_RECORDING;
		record(s, EDL_RESULT_FAIL, edl_flash_stage_name(EDL_STAGE_PROBE), &e, true);
		return;
	}
	view_event(s->st, s, "start", "attempt %d", s->attempt);
	edl_flash_job_start(s->job, now_ms(s));
	session_pump(s);
}

static bool retryable(const struct session *s, int code)
{
	if (s->gone || s->aborted || s->st->stopping)
		return false;
	if ((unsigned)s->attempt > s->st->cfg->retries)
		return false;
	switch (code) {
	case EDL_E_POWER_CYCLE:
	case EDL_E_MEMORY_DUMP:
	case EDL_E_USB_GONE:
	case EDL_E_SERIAL_BUSY:
	case EDL_E_USB_ACCESS:
	case EDL_E_WRONG_PACKAGE: /* the same package fails the same way again */
	case EDL_E_STALLED:       /* a hung unit hangs again: re-seat or set aside */
		return false;
	default:
		return true;
	}
}

struct record_ctx {
	struct session *s;
	enum edl_store_result result;
	bool final;
};

static void on_recorded(const struct edl_store_done *done, void *data)
{
	struct record_ctx *rc = data;
	struct session *s = rc->s;

	if (done->code != EDL_OK)
		view_event(s->st, s, "warning", "the result could not be recorded: %s",
		           done->detail);
	if (rc->final) {
		/* PASS is shown only now that the result is on disk. */
		station_unit_finished(s->st, s, rc->result);
		close_session(s);
	}
	free(rc);
}

static void record(struct session *s, enum edl_store_result result, const char *stage,
                   const struct edl_error *e, bool final)
{
	struct edl_store_run_end end;
	struct edl_flash_progress p;
	const char *lines[SESSION_LOG_KEEP];
	char msg[EDL_ERROR_DETAIL_MAX + 64];
	struct record_ctx *rc = calloc(1, sizeof(*rc));

	memset(&end, 0, sizeof(end));
	if (s->job != NULL)
		edl_flash_job_progress(s->job, &p);
	else
		memset(&p, 0, sizeof(p));
	for (size_t i = 0; i < s->n_device_logs; i++)
		lines[i] = s->device_logs[(s->device_log_head + i) % SESSION_LOG_KEEP];
	end.run_id = s->run_id;
	end.result = result;
	end.stage = stage;
	end.error_code = e ? e->code : 0;
	end.message = e ? edl_error_format(e, msg, sizeof(msg)) : NULL;
	end.end_ms = edl_store_time_now_ms();
	end.bytes_written = p.bytes_done;
	end.duration_ms = (int64_t)(now_ms(s) - s->attempt_start_ms);
	end.payload = (uint32_t)p.payload;
	end.log_lines = lines;
	end.n_log_lines = s->n_device_logs;
	struct edl_store_step *steps = NULL;
	const struct edl_plan *plan = s->st->plan;
	if (plan != NULL && s->step_end_ms != NULL && s->plan_start_ms != 0 &&
	    (steps = calloc(plan->n_steps, sizeof(*steps))) != NULL) {
		uint64_t prev = s->plan_start_ms;
		for (size_t i = 0; i < plan->n_steps; i++) {
			const struct edl_plan_step *ps = &plan->steps[i];
			struct edl_store_step *st = &steps[i];
			st->kind = ps->kind;
			st->label = ps->label;
			st->lun = ps->lun;
			st->start_sector = ps->start_sector;
			st->sectors = ps->num_sectors;
			st->bytes = ps->kind == EDL_STEP_PROGRAM ? ps->num_sectors * ps->sector_size
			                                         : 0;
			if (i < s->step_seen) {
				st->result = EDL_STEP_RESULT_PASS;
				st->duration_ms = (int64_t)(s->step_end_ms[i] - prev);
				prev = s->step_end_ms[i];
			} else if (i == s->step_seen && result != EDL_RESULT_PASS) {
				st->result = EDL_STEP_RESULT_FAIL;
				st->duration_ms = (int64_t)(now_ms(s) - prev);
			} else {
				st->result = EDL_STEP_RESULT_SKIPPED;
			}
		}
		end.steps = steps;
		end.n_steps = plan->n_steps;
	}
	if (rc != NULL) {
		rc->s = s;
		rc->result = result;
		rc->final = final;
	}
	if (s->st->store == NULL) {
		struct edl_store_done d = {.code = EDL_OK, .detail = ""};
		if (rc != NULL)
			on_recorded(&d, rc);
	} else if (s->run_id == 0 ||
	           edl_store_writer_run_finish(s->st->store, &end, on_recorded, rc) != EDL_OK) {
		struct edl_store_done d = {.code = EDL_E_DB, .detail = "the writer refused it"};
		if (rc != NULL)
			on_recorded(&d, rc);
	}
	free(steps);
}

static void finish_attempt(struct session *s)
{
	struct edl_flash_job *job = s->job;
	const struct edl_error *e = edl_flash_job_error(job);
	char msg[EDL_ERROR_DETAIL_MAX + 64];

	uv_timer_stop(&s->timer);
	if (s->phase != SESSION_RUNNING)
		return;
	s->phase = SESSION_RECORDING;
	if (edl_flash_job_status(job) == EDL_ENGINE_RUNNING) {
		/* Unplugged or aborted while the job still ran. */
		struct edl_error gone;
		if (s->usb_err.code != EDL_OK) {
			view_event(s->st, s, "fail", "%s: %s",
			           edl_flash_stage_name(edl_flash_job_stage(job)),
			           edl_error_format(&s->usb_err, msg, sizeof(msg)));
			record(s, EDL_RESULT_FAIL, edl_flash_stage_name(edl_flash_job_stage(job)),
			       &s->usb_err, true);
		} else if (s->gone) {
			struct edl_flash_progress p;
			edl_flash_job_progress(job, &p);
			edl_error_set(&gone, EDL_E_USB_GONE,
			              "unplugged during %s after %" PRIu64 " of %" PRIu64 " bytes",
			              edl_flash_stage_name(edl_flash_job_stage(job)), p.bytes_done,
			              p.bytes_total);
			view_event(s->st, s, "fail", "%s: %s",
			           edl_flash_stage_name(edl_flash_job_stage(job)),
			           edl_error_format(&gone, msg, sizeof(msg)));
			record(s, EDL_RESULT_FAIL, edl_flash_stage_name(edl_flash_job_stage(job)),
			       &gone, true);
		} else {
			edl_error_set(&gone, EDL_E_INTERRUPTED, "station stopped during %s",
			              edl_flash_stage_name(edl_flash_job_stage(job)));
			view_event(s->st, s, "interrupted", "during %s",
			           edl_flash_stage_name(edl_flash_job_stage(job)));
			record(s, EDL_RESULT_INTERRUPTED,
			       edl_flash_stage_name(edl_flash_job_stage(job)), &gone, true);
		}
		return;
	}
	if (edl_flash_job_status(job) == EDL_ENGINE_DONE) {
		switch (edl_flash_job_outcome(job)) {
		case EDL_FLASH_OUTCOME_REENUMERATE: {
			struct edl_error why;
			edl_error_set(&why, EDL_E_INTERRUPTED,
			              "programmer was already running; unit reset to EDL to be "
			              "identified on its fresh HELLO (continues as a new session)");
			view_event(s->st, s, "reset-to-edl", "%s", why.detail);
			/* Not a unit result: the unit comes back and is flashed then. */
			s->aborted = true;
			record(s, EDL_RESULT_INTERRUPTED, "probe", &why, false);
			close_session(s);
			return;
		}
		case EDL_FLASH_OUTCOME_IDENTIFIED:
			if (edl_flash_job_identity(job) == NULL)
				view_event(s->st, s, "identified",
				           "a programmer is already running: Sahara identity not "
				           "available without a reset (USB serial %s)",
				           s->usb_serial[0] ? s->usb_serial : "unknown");
			record(s, EDL_RESULT_PASS, NULL, NULL, true);
			return;
		default:
			record(s, EDL_RESULT_PASS, NULL, NULL, true);
			return;
		}
	}
	const char *stage = edl_flash_stage_name(edl_flash_job_failed_stage(job));
	edl_error_format(e, msg, sizeof(msg));
	if (e->code == EDL_E_SERIAL_BUSY || s->aborted) {
		record(s, s->aborted ? EDL_RESULT_INTERRUPTED : EDL_RESULT_FAIL, stage, e, true);
		return;
	}
	if (retryable(s, e->code)) {
		view_event(s->st, s, "retry", "%s: %s (attempt %d of %u)", stage, msg, s->attempt,
		           s->st->cfg->retries + 1);
		record(s, EDL_RESULT_FAIL, stage, e, false);
		s->prev_run_id = s->run_id;
		edl_flash_job_free(s->job);
		s->job = NULL;
		close_transcript(s);
		s->phase = SESSION_RETRY_WAIT;
		uv_timer_start(&s->timer, on_timer, 200, 0);
		return;
	}
	if (e->code == EDL_E_POWER_CYCLE)
		view_event(s->st, s, "fail", "%s — power-cycle the unit on slot %s", msg,
		           s->slot_label);
	else
		view_event(s->st, s, "fail", "%s: %s", stage, msg);
	record(s, EDL_RESULT_FAIL, stage, e, true);
}

static void on_closed(void *user)
{
	struct session *s = user;
	s->dev = NULL;
	station_session_ended(s->st, s);
}

static void on_timer_closed(uv_handle_t *h)
{
	struct session *s = h->data;
	s->timer_open = false;
	if (s->dev != NULL)
		edl_usb_dev_close(s->dev, on_closed, s);
	else
		station_session_ended(s->st, s);
}

static void close_session(struct session *s)
{
	if (s->phase == SESSION_CLOSING)
		return;
	s->phase = SESSION_CLOSING;
	close_transcript(s);
	if (s->timer_open) {
		uv_timer_stop(&s->timer);
		uv_close((uv_handle_t *)&s->timer, on_timer_closed);
	} else if (s->dev != NULL) {
		edl_usb_dev_close(s->dev, on_closed, s);
	} else {
		station_session_ended(s->st, s);
	}
}

/* Refuses a session whose serial another session is flashing; recorded as failed. */
static void refuse_serial(struct session *s, const struct session *owner)
{
	struct edl_error e;

	edl_error_set(&e, EDL_E_SERIAL_BUSY,
	              "serial %s is already being flashed on port %s: a cloned serial, or the "
	              "same unit re-enumerated",
	              s->serial, owner->port);
	view_event(s->st, s, "fail", "%s", e.detail);
	s->phase = SESSION_RECORDING;
	record(s, EDL_RESULT_FAIL, edl_flash_stage_name(s->last_stage), &e, true);
}

void session_abort(struct session *s)
{
	if (s->phase == SESSION_CLOSING || s->phase == SESSION_RECORDING)
		return;
	s->aborted = true;
	if (s->phase == SESSION_RETRY_WAIT || s->phase == SESSION_OPENING) {
		close_session(s);
		return;
	}
	/* Running: the job is stopped where it is and recorded interrupted. */
	finish_attempt(s);
}

void session_on_leave(struct session *s)
{
	s->gone = true;
	switch (s->phase) {
	case SESSION_RUNNING:
		session_pump(s);
		break;
	case SESSION_OPENING:
	case SESSION_RETRY_WAIT:
		view_event(s->st, s, "gone", "unplugged");
		close_session(s);
		break;
	default:
		break;
	}
}

static void on_product(struct edl_usb_dev *dev, int status, const char *text, void *user)
{
	struct session *s = user;
	(void)dev;
	if (s->phase != SESSION_OPENING)
		return;
	if (status == EDL_OK) {
		/* The whole _SN: token is recorded as the descriptor said it (the USB
		 * serial); only 8 hex digits are trusted as the unit's serial. */
		const char *token = NULL;
		edl_usb_product_serial(text, s->usb_serial, &token);
		if (token != NULL)
			snprintf(s->usb_descriptor_serial, sizeof(s->usb_descriptor_serial), "%s",
			         token);
	}
	if (s->usb_serial[0]) {
		snprintf(s->serial, sizeof(s->serial), "%s", s->usb_serial);
		edl_log_set_serial(&s->log, s->serial);
		struct session *owner = station_serial_owner(s->st, s->serial, s);
		if (owner != NULL) {
			view_event(
			        s->st, s, "fail",
			        "serial %s is already being flashed on port %s: a cloned serial, "
			        "or the same unit re-enumerated; not flashing it twice",
			        s->serial, owner->port);
			close_session(s);
			return;
		}
	}
	view_event(s->st, s, "attach", "%s", text[0] ? text : "(no iProduct)");
	start_attempt(s);
}

int session_new(struct station *st, libusb_device *udev, const struct edl_usb_device_info *info)
{
	struct session *s = calloc(1, sizeof(*s));
	struct edl_error err;
	const struct edl_station_port *p = edl_station_config_port(st->cfg, info->port);

	if (s == NULL)
		return EDL_E_NOMEM;
	s->st = st;
	s->udev = libusb_ref_device(udev);
	snprintf(s->port, sizeof(s->port), "%s", info->port);
	if (p != NULL) {
		snprintf(s->slot_label, sizeof(s->slot_label), "%s", p->label);
		s->slot = p->slot;
	} else {
		/* An unmapped port still needs a stable slot number of its own, so that
		 * per-slot yield keeps its ports apart: derived from the port path. */
		unsigned v = 0;
		for (const char *c = info->port; *c; c++) {
			if (*c >= '0' && *c <= '9') {
				unsigned n = 0;
				while (*c >= '0' && *c <= '9')
					n = n * 10 + (unsigned)(*c++ - '0');
				v = (v * 16 + n) & 0xffffu;
				c--;
			}
		}
		snprintf(s->slot_label, sizeof(s->slot_label), "%s", info->port);
		s->slot = 100000 + (int)v;
	}
	edl_log_init(&s->log);
	s->log.level = EDL_LOG_DEBUG;
	s->log.sink = log_sink;
	s->log.sink_data = s;
	edl_log_set_port(&s->log, s->port);
	s->inbuf = malloc(SESSION_IN_BUF);
	uv_timer_init(st->loop, &s->timer);
	s->timer.data = s;
	s->timer_open = true;
	s->phase = SESSION_OPENING;
	s->next = st->sessions;
	st->sessions = s;
	st->active++;
	if (s->inbuf == NULL || edl_usb_dev_open(st->usb, udev, &s->dev, &err) != EDL_OK) {
		view_event(st, s, "fail", "%s", s->inbuf ? err.detail : "out of memory");
		close_session(s);
		return EDL_OK;
	}
	if (edl_usb_dev_read_product(s->dev, on_product, s) != EDL_OK)
		on_product(s->dev, EDL_E_USB, "", s);
	return EDL_OK;
}

void session_free(struct session *s)
{
	edl_flash_job_free(s->job);
	clear_device_logs(s);
	free(s->step_end_ms);
	libusb_unref_device(s->udev);
	free(s->inbuf);
	free(s);
}
