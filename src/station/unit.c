/*
 * The unit core (include/edlstation/unit.h): one unit's life on the station,
 * events in, actions out, no I/O. session.c carries its actions over libusb and
 * libuv; memline.c over emulated devices on a virtual clock.
 *
 * States and the legal transitions (as SQLite's pager.c lists its own):
 *
 *   NEW         created, the device not yet attached.
 *               -> OPENING     attached: the driver reads iProduct.
 *               -> CLOSED      detached or stopped before that.
 *   OPENING     waiting for the iProduct string.
 *               -> RUNNING     product read (or unreadable): attempt 1 starts.
 *               -> COMMITTING  the iProduct serial is held by another unit: the
 *                              refusal is recorded as a failed run.
 *               -> CLOSED      detached or stopped (no run was started).
 *   RUNNING     an attempt's flash job runs: OUT chunks within `inflight` and
 *               the budget share, one IN posted, the job's deadline armed.
 *               -> DRAINING    the job ended (done or failed), the unit stalled,
 *                              the Sahara serial is held by another unit, the
 *                              unit left, or the station stops.
 *   DRAINING    the attempt is over; its transfers are finished or cancelled
 *               (a failed, stalled, gone or stopped attempt cancels at once, a
 *               passed one lets the final power command go out first).
 *               -> RETRY_WAIT  nothing in flight, a retryable failure with
 *                              attempts left: recorded (not final).
 *               -> COMMITTING  nothing in flight, the result is final.
 *               -> CLOSED      nothing in flight and no store, or the unit was
 *                              reset to EDL to come back as a new device.
 *   RETRY_WAIT  the pause before the next attempt.
 *               -> RUNNING     the timer: attempt n+1 (retry_of = attempt n).
 *               -> CLOSED      detached or stopped: the last failure stands.
 *   COMMITTING  the final run record is being committed.
 *               -> CLOSED      committed: FINISHED(result) and CLOSE. A failed
 *                              commit is FINISHED(FAIL) with EDL_E_NOT_RECORDED
 *                              ("flashed, NOT RECORDED"), never PASS.
 *
 * A run start the store refuses ends the attempt before its job starts: a unit
 * is never flashed unrecorded. Which failures are retried is decided by their
 * class (edl_error_class): a wrong package or programmer, a station fault and
 * a unit that needs a power cycle fail the same way again.
 *   CLOSED      the driver closes the device and frees the unit.
 *
 * One function changes the state and traces it (set_state); one function per
 * state (state_*); step() keeps running them while the state changes, then
 * arms the one timer for the earliest deadline (curl's multi_runsingle).
 */
#include "edlstation/unit.h"
#include "edlstation/dump_writer.h"
#include "edlstation/usb.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define UNIT_LOG_KEEP 64     /* device log lines kept for a failed run's record */
#define UNIT_MAX_INFLIGHT 16 /* OUT transfers tracked (cfg->inflight is 1..8) */
#define UNIT_RETRY_PAUSE_MS 200

#define UNIT_STATE_TABLE(XX)                                                   \
	XX(UNIT_NEW, "new")               /* created, not attached */          \
	XX(UNIT_OPENING, "opening")       /* reading iProduct */               \
	XX(UNIT_RUNNING, "running")       /* an attempt's job runs */          \
	XX(UNIT_DRAINING, "draining")     /* attempt over, transfers back */   \
	XX(UNIT_RETRY_WAIT, "retry-wait") /* pause before the next attempt */  \
	XX(UNIT_COMMITTING, "committing") /* the final record is committing */ \
	XX(UNIT_CLOSED, "closed")         /* over: the driver closes it */

enum unit_state {
#define UNIT_XX_ENUM(sym, name) sym,
	UNIT_STATE_TABLE(UNIT_XX_ENUM)
#undef UNIT_XX_ENUM
};

static const char *const state_names[] = {
#define UNIT_XX_NAME(sym, name) name,
        UNIT_STATE_TABLE(UNIT_XX_NAME)
#undef UNIT_XX_NAME
};

struct unit_step {
	bool started, ended;
	uint64_t start_ms;
	uint64_t accepted_at_start; /* unit's accepted OUT bytes when it started */
	struct edl_store_step rec;
};

struct edl_unit {
	const struct edl_unit_env *env;
	const struct edl_station_config *cfg;
	enum unit_state state;
	char port[32];
	char label[32];
	int slot;
	char usb_serial[16]; /* from iProduct _SN:, lower-case hex; "" when absent */
	char usb_token[128]; /* the _SN: token as the descriptor has it */
	char serial[16];     /* chip serial (Sahara) or usb_serial; "" until known */
	struct edl_log log;

	struct edl_flash_job *job;
	int attempt;

	/* What the unit gets: the env's package, or the identity gate's decision. */
	const struct edl_plan *plan;
	const struct edl_sahara_image *image;
	const char *package_hash;
	char product[64];
	bool held;           /* the job waits at the identity gate */
	bool decision_ready; /* ... and the decision is here, applied by state_running */
	bool decided;        /* taken once per unit: a retry does not hold again */
	bool gate_refused;   /* the decision refused the unit: not retried */
	struct edl_unit_decision decision;
	int64_t run_id, prev_run_id;
	bool reset_to_edl;     /* closed to come back as a new device */
	uint32_t refused_exec; /* before that reset, its ROM refused these (bit n = n) */
	uint64_t attempt_start;

	/* Transfers. OUT transfers complete in submission order (one endpoint). */
	bool in_pending;
	unsigned out_inflight;
	uint64_t out_bytes;
	size_t out_len[UNIT_MAX_INFLIGHT];
	unsigned out_head, out_tail;
	struct edl_chunk pending; /* pulled from the job, refused by the budget */
	bool have_pending;
	bool waits_budget;
	uint64_t accepted;    /* OUT bytes the device accepted this attempt */
	uint64_t submitted;   /* OUT bytes handed to the driver this attempt */
	bool verified;        /* a VERIFY stage ran this attempt */
	uint64_t last_accept; /* when an OUT transfer last completed (or one was first sent) */
	bool cancelled;       /* CANCEL asked this attempt */
	uint64_t drain_deadline;
	uint64_t retry_at;

	/* Why the attempt ends when it is not (only) the job's own failure. */
	bool gone, stopping, stalled, refused;
	bool aborted; /* edl_unit_abort: fails now, no retry */
	struct edl_error why;
	enum edl_flash_stage stage;          /* last STAGE event */
	enum edl_flash_stage shown;          /* last stage shown */
	enum edl_flash_stage progress_stage; /* stage of the last PROGRESS */
	enum edl_flash_wait timed_out;       /* the wait whose timeout ended the job */
	bool identified;                     /* IDENTITY handled this attempt */

	/* What the job's events said, for the run record. */
	struct unit_step *steps;
	size_t n_steps, cur_step;
	bool in_step;
	char *device_logs[UNIT_LOG_KEEP];
	/* This attempt's programmer function list and warnings, for its record. */
	char functions[512];
	char warnings[2048];
	size_t n_logs, log_head;
	uint64_t payload;
	uint64_t bytes_done, bytes_total;

	/* The final result while it commits, and what FINISHED says of it. */
	enum edl_store_result final_result;
	int final_code;
	char final_stage[24];
	char final_detail[EDL_ERROR_DETAIL_MAX + 64];

	uint64_t armed_at;
	bool close_sent;

	/* Records built for actions (valid during the action call). */
	struct edl_store_run_start rs;
	struct edl_store_run_end re;
	struct edl_store_device dev;
	char dev_hwid[20], dev_msm[12], dev_oem[8], dev_model[8], dev_pk[129];
	const char *log_lines[UNIT_LOG_KEEP];
	char msg[EDL_ERROR_DETAIL_MAX + 64];
	char text[EDL_ERROR_DETAIL_MAX + 256];

	/* Memory dump ([rma] dump_dir, issue 15): this attempt's writer, and the
	 * archive rows of its run record. */
	struct edl_dump_writer *dump;
	struct edl_store_archive *dump_rows;
	char dump_serial[24];
	bool dumped; /* the attempt's dump completed */
	/* issue 15: [rma] preserve labels and the run id as the archive's folder. */
	const char *rma_labels[EDL_RMA_MAX_LABELS];
	char rma_run[24];
	char rma_source[1200]; /* the first attempt's archive folder: a retry's source */
};

static void step(struct edl_unit *u, uint64_t now);
static uint64_t accepted_data(const struct edl_unit *u);
static void build_steps(struct edl_unit *u, const struct edl_plan *plan);

const char *edl_unit_state_name(const struct edl_unit *u)
{
	return state_names[u->state];
}

static void set_state(struct edl_unit *u, enum unit_state to)
{
	if (u->state == to)
		return;
	edl_log_debug(&u->log, "unit %s -> [%s]", state_names[u->state], state_names[to]);
	u->state = to;
}

static int act(struct edl_unit *u, struct edl_unit_action *a)
{
	return u->env->act(u, a, u->env->data);
}

static void show(struct edl_unit *u, const char *event, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void show(struct edl_unit *u, const char *event, const char *fmt, ...)
{
	struct edl_unit_action a = {.kind = EDL_UNIT_ACT_SHOW, .event = event};
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(u->text, sizeof(u->text), fmt, ap);
	va_end(ap);
	a.text = u->text;
	edl_log_debug(&u->log, "%s: %s", event, u->text);
	act(u, &a);
}

static int64_t wall(const struct edl_unit *u, uint64_t now)
{
	return (int64_t)now + u->env->wall_offset_ms;
}

/* ---- device logs ------------------------------------------------------------------ */

static void keep_device_log(struct edl_unit *u, const char *line)
{
	size_t i = (u->log_head + u->n_logs) % UNIT_LOG_KEEP;
	char *copy = strdup(line);

	if (copy == NULL)
		return; /* the evidence is lost, the unit is not */
	if (u->n_logs == UNIT_LOG_KEEP) {
		i = u->log_head;
		u->log_head = (u->log_head + 1) % UNIT_LOG_KEEP;
		free(u->device_logs[i]);
	} else {
		u->n_logs++;
	}
	u->device_logs[i] = copy;
}

static void clear_device_logs(struct edl_unit *u)
{
	for (size_t i = 0; i < UNIT_LOG_KEEP; i++) {
		free(u->device_logs[i]);
		u->device_logs[i] = NULL;
	}
	u->n_logs = u->log_head = 0;
	u->functions[0] = u->warnings[0] = '\0';
}

/* Keeps a warning for the run record, one a line; what does not fit is said. */
static void keep_warning(struct edl_unit *u, const char *text)
{
	static const char more[] = "(more warnings not kept)";
	size_t used = strlen(u->warnings), need = strlen(text) + 1;

	if (strstr(u->warnings, more) != NULL)
		return;
	if (used + need + sizeof(more) + 1 > sizeof(u->warnings))
		text = more;
	snprintf(u->warnings + used, sizeof(u->warnings) - used, "%s%s", used ? "\n" : "", text);
}

/* The job's and the unit's lines go to the driver's transcript; the job's
 * warnings (and, verbose, its information lines) are shown. Nothing is parsed
 * out of them: the device's evidence arrives as DEVICE_LOG events. What the
 * unit shows itself is logged at debug level, so it is not shown twice. */
static void log_sink(enum edl_log_level level, const char *prefix, const char *line, void *data)
{
	struct edl_unit *u = data;
	if (u->env->log_sink != NULL)
		u->env->log_sink(level, prefix, line, u->env->log_data);
	if (level <= EDL_LOG_WARN || (u->cfg->verbose && level == EDL_LOG_INFO)) {
		struct edl_unit_action a = {
		        .kind = EDL_UNIT_ACT_SHOW, .event = "log", .text = line};
		act(u, &a);
	}
}

/* ---- the job's options: the one place they are built -------------------------------- */

void edl_unit_job_options(struct edl_flash_options *o, const struct edl_station_config *cfg,
                          const struct edl_plan *plan, const struct edl_sahara_image *image,
                          int attempt, bool usb_serial_known)
{
	edl_flash_options_default(o);
	o->sahara.images = image;
	o->sahara.n_images = image != NULL ? 1 : 0;
	o->sahara.hello_wait_ms = cfg->hello_wait_ms;
	/* A retry finds the programmer of the failed attempt running, silent until
	 * asked: probe it at once instead of waiting for a HELLO that will not come. */
	if (attempt > 1 && o->sahara.hello_wait_ms > 100)
		o->sahara.hello_wait_ms = 100;
	o->sahara.probe_wait_ms = cfg->probe_wait_ms;
	o->sahara.packet_timeout_ms = cfg->packet_timeout_ms;
	o->firehose.timeout_ms = cfg->command_timeout_ms;
	o->firehose.erase_timeout_ms = cfg->erase_timeout_ms;
	o->firehose.final_ack_timeout_ms = cfg->final_ack_timeout_ms;
	o->firehose.digest_timeout_ms = cfg->digest_timeout_ms;
	o->plan = cfg->identify_only ? NULL : plan;
	o->max_payload = cfg->max_payload;
	o->zlp_aware = cfg->zlp;
	o->verify = cfg->verify;
	if (o->plan != NULL) {
		o->bootable_lun = o->plan->bootable_lun;
		/* Every storage kind, NAND included (value 0): QFirehose, the tool made
		 * for Quectel's NAND modems, sends setbootablestoragedrive with value
		 * 0 unless the device is UFS (firehose_protocol.c, its "ufs" ? 1 : 0). */
		o->set_bootable = true;
	}
	/* A programmer found running is reused when we know whose it is. */
	switch (cfg->running) {
	case EDL_RUNNING_REUSE:
		o->reuse_running_programmer = true;
		break;
	case EDL_RUNNING_RESET:
		o->reuse_running_programmer = attempt > 1;
		break;
	case EDL_RUNNING_AUTO:
		o->reuse_running_programmer = usb_serial_known || attempt > 1;
		break;
	}
	/* DelayInSeconds of the final power command: qdl and QFirehose send 10
	 * ("Add a delay to prevent reboot fail", QFirehose firehose_protocol.c). */
	o->final_power_delay_s = cfg->reset_delay_s;
	o->sahara.flush_max_bytes = (uint64_t)cfg->flush_max_mb << 20;
	if (cfg->progress_timeout_ms)
		o->progress_timeout_ms = cfg->progress_timeout_ms;
}

/* ---- job events --------------------------------------------------------------------- */

static bool plan_stage(enum edl_flash_stage stage)
{
	return stage >= EDL_STAGE_ERASE && stage <= EDL_STAGE_VERIFY;
}

static void on_stage(struct edl_unit *u, enum edl_flash_stage stage)
{
	const struct edl_plan *plan = u->plan;
	bool in_plan = plan_stage(stage), was_in_plan = plan_stage(u->shown);

	u->stage = stage;
	if (stage == EDL_STAGE_VERIFY)
		u->verified = true;
	if (stage == u->shown)
		return;
	u->shown = stage;
	/* Plan steps alternate program/verify: one event when the plan starts, each
	 * step only when verbose (the live view shows them all). */
	if (stage == EDL_STAGE_DRAIN && u->job != NULL && edl_flash_job_found_running(u->job))
		show(u, "programmer-running",
		     "the unit's programmer was still running from an earlier attempt; not a "
		     "fault: reusing it");
	else if (in_plan && !was_in_plan && !u->cfg->verbose)
		show(u, "stage", "flashing %zu steps, %" PRIu64 " bytes", plan ? plan->n_steps : 0,
		     plan ? plan->total_bytes : 0);
	else if (stage != EDL_STAGE_DONE && stage != EDL_STAGE_DRAIN &&
	         (!in_plan || u->cfg->verbose))
		show(u, "stage", "%s", edl_flash_stage_name(stage));
}

static void on_identity(struct edl_unit *u, const struct edl_sahara_identity *id)
{
	struct edl_unit_action a = {.kind = EDL_UNIT_ACT_RUN_IDENTIFY};

	if (u->identified)
		return;
	u->identified = true;
	if (u->usb_serial[0] && strcmp(u->usb_serial, id->serial_hex) != 0)
		edl_log_warn(&u->log, "chip serial %s differs from the USB descriptor's %s",
		             id->serial_hex, u->usb_serial);
	snprintf(u->serial, sizeof(u->serial), "%s", id->serial_hex);
	edl_log_set_serial(&u->log, u->serial);
	const char *owner =
	        u->env->serial_owner ? u->env->serial_owner(u->serial, u, u->env->data) : NULL;
	if (owner != NULL) {
		/* The run is this serial's (a clone's or a second sighting), so it is
		 * identified like any other; the job cannot be stopped from inside
		 * its callback: step() ends the attempt when the job returns. */
		u->dev = (struct edl_store_device){.serial = u->serial,
		                                   .seen_ms = wall(u, u->attempt_start)};
		a.run_id = u->run_id;
		a.device = &u->dev;
		if (u->env->store && u->run_id != 0)
			act(u, &a);
		u->refused = true;
		edl_error_set(&u->why, EDL_E_SERIAL_BUSY,
		              "serial %s is already being flashed on port %s: a cloned serial, or "
		              "the same unit re-enumerated",
		              u->serial, owner);
		return;
	}
	if (!edl_unit_rma_wanted(u->cfg, u->serial)) { /* issue 15: backup/restore SERIAL */
		u->refused = true;
		edl_error_set(&u->why, EDL_E_USAGE,
		              "serial %s was not named on the command line: not touched",
		              u->serial);
	}
	u->dev_pk[0] = '\0';
	for (size_t i = 0; i < id->pk_hash_len && i < 64; i++)
		snprintf(u->dev_pk + 2 * i, 3, "%02x", id->pk_hash[i]);
	snprintf(u->dev_hwid, sizeof(u->dev_hwid), "%016" PRIx64, id->hwid);
	snprintf(u->dev_msm, sizeof(u->dev_msm), "%08x", id->msm_id);
	snprintf(u->dev_oem, sizeof(u->dev_oem), "%04x", id->oem_id);
	snprintf(u->dev_model, sizeof(u->dev_model), "%04x", id->model_id);
	u->dev = (struct edl_store_device){
	        .serial = u->serial,
	        .usb_serial = u->usb_token[0] ? u->usb_token : NULL,
	        .hw_id = id->have_hwid ? u->dev_hwid : NULL,
	        .msm_id = id->have_hwid ? u->dev_msm : NULL,
	        .oem_id = id->have_hwid ? u->dev_oem : NULL,
	        .model_id = id->have_hwid ? u->dev_model : NULL,
	        .pk_hash = id->pk_hash_len ? u->dev_pk : NULL,
	        .seen_ms = wall(u, u->attempt_start),
	};
	a.run_id = u->run_id;
	a.device = &u->dev;
	if (u->env->store && u->run_id != 0)
		act(u, &a);
	show(u, "identified",
	     "serial %s, HW id %016" PRIx64 " (msm %s oem %s model %s), PK hash %s, Sahara v%u",
	     u->serial, id->hwid, u->dev_msm, u->dev_oem, u->dev_model,
	     u->dev_pk[0] ? u->dev_pk : "-", (unsigned)id->sahara_version);
}

/* The job waits at the identity gate: ask the driver what the unit gets. */
static void on_held(struct edl_unit *u, const struct edl_sahara_identity *sid)
{
	struct edl_unit_identity id = {
	        .port = u->port,
	        .usb_serial = u->usb_token,
	        .serial = u->serial,
	        .sahara = sid,
	        .run_id = u->run_id,
	};

	u->held = true;
	if (u->refused || u->why.code != EDL_OK)
		return; /* the attempt ends anyway (serial busy): nothing to decide */
	memset(&u->decision, 0, sizeof(u->decision));
	int rc = u->env->identified(u, &id, &u->decision, u->env->identified_data);
	if (rc == EDL_OK) {
		u->decision_ready = true;
	} else if (rc == EDL_E_AGAIN) {
		show(u, "held", "identified; waiting for the decision on what it gets");
	} else {
		u->gate_refused = true;
		edl_error_set(&u->why, rc, "no decision for this unit at identity: %s",
		              edl_strerror(rc));
	}
}

/* The decision is here (from inside the job's callback or later): the job is
 * released or refused from state_running, outside any job callback. */
static void apply_decision(struct edl_unit *u, uint64_t now)
{
	struct edl_unit_decision *d = &u->decision;

	u->held = u->decision_ready = false;
	u->decided = true;
	if (!d->refuse && !u->cfg->identify_only && d->plan == NULL && u->plan == NULL) {
		/* Released with nothing to flash: never a pass for an unflashed unit. */
		d->refuse = true;
		d->code = EDL_E_NO_ROUTE;
		snprintf(d->message, sizeof(d->message),
		         "released at identity without a package (no route gave one): not flashed");
	}
	if (d->refuse) {
		u->gate_refused = true;
		show(u, "refused", "%s", d->message[0] ? d->message : "refused at identity");
		edl_flash_job_refuse(u->job, d->code, d->message, now);
		return;
	}
	if (d->plan != NULL && d->plan != u->plan) {
		u->plan = d->plan;
		if (!u->cfg->identify_only)
			build_steps(u, u->plan);
	}
	if (d->image != NULL)
		u->image = d->image;
	if (d->package_hash != NULL)
		u->package_hash = d->package_hash;
	snprintf(u->product, sizeof(u->product), "%s", d->product ? d->product : "");
	if (u->env->store && u->run_id != 0 && (d->product != NULL || d->package_hash != NULL)) {
		struct edl_unit_action a = {.kind = EDL_UNIT_ACT_RUN_ROUTE,
		                            .run_id = u->run_id,
		                            .product = d->product,
		                            .package_hash = u->package_hash};
		act(u, &a);
	}
	if (d->route != NULL || d->product != NULL)
		show(u, "routed", "route %s: product %s", d->route ? d->route : "-",
		     d->product ? d->product : "-");
	struct edl_flash_release r = {
	        .plan = u->cfg->identify_only ? NULL : u->plan,
	        .images = u->image,
	        .n_images = u->image != NULL ? 1 : 0,
	        .extra = d->extra,
	};
	int rc = edl_flash_job_release(u->job, &r, now);
	if (rc != EDL_OK && edl_flash_job_status(u->job) == EDL_ENGINE_RUNNING)
		edl_error_set(&u->why, rc, "could not release the unit at identity: %s",
		              edl_strerror(rc));
}

/* issue 15: a preserved partition was archived (restored 0) or written back
 * and verified (restored 1): its row in the store's archive table. */
static void on_archived(struct edl_unit *u, const struct edl_flash_event *ev, bool restored)
{
	struct edl_store_archive rec = {
	        .run_id = u->run_id,
	        .serial = u->serial[0] ? u->serial : "unidentified",
	        .kind = "preserve",
	        .label = ev->label,
	        .path = ev->path,
	        .bytes = ev->bytes,
	        .sha256 = ev->sha256,
	        .restored = restored ? 1 : 0,
	        .created_ms = wall(u, ev->now),
	};
	struct edl_unit_action a = {.kind = EDL_UNIT_ACT_ARCHIVE, .archive = &rec};
	const char *slash = strrchr(ev->path, '/');

	/* A retry must not read back what this attempt's plan wrote over. */
	if (!restored && !u->rma_source[0] && slash != NULL &&
	    (size_t)(slash - ev->path) < sizeof(u->rma_source))
		snprintf(u->rma_source, sizeof(u->rma_source), "%.*s", (int)(slash - ev->path),
		         ev->path);

	show(u, restored ? "restored" : "preserved", "%s: %" PRIu64 " bytes, sha256 %.16s… (%s)",
	     ev->label, ev->bytes, ev->sha256, ev->path);
	if (u->env->store && u->run_id != 0)
		act(u, &a);
}

static void on_job_event(const struct edl_flash_event *ev, void *data)
{
	struct edl_unit *u = data;
	struct unit_step *s = NULL;

	if (u->steps != NULL && ev->step < u->n_steps)
		s = &u->steps[ev->step];
	switch (ev->kind) {
	case EDL_FLASH_EV_STAGE:
		on_stage(u, ev->stage);
		break;
	case EDL_FLASH_EV_IDENTITY:
		if (ev->identity != NULL)
			on_identity(u, ev->identity);
		break;
	case EDL_FLASH_EV_FUNCTIONS:
		edl_log_debug(&u->log, "programmer functions: %s", ev->text ? ev->text : "");
		snprintf(u->functions, sizeof(u->functions), "%s", ev->text ? ev->text : "");
		break;
	case EDL_FLASH_EV_PAYLOAD:
		u->payload = ev->payload;
		break;
	case EDL_FLASH_EV_STEP_START:
		if (s != NULL) {
			s->started = true;
			s->start_ms = ev->now;
			s->accepted_at_start = u->accepted;
			u->cur_step = ev->step;
			u->in_step = true;
		}
		break;
	case EDL_FLASH_EV_STEP_END:
		if (s != NULL) {
			s->started = s->ended = true;
			s->rec.result = ev->result == EDL_FLASH_STEP_PASS ? EDL_STEP_RESULT_PASS
			                                                  : EDL_STEP_RESULT_FAIL;
			s->rec.duration_ms = (int64_t)ev->duration_ms;
			s->rec.bytes = ev->bytes;
			u->in_step = false;
		}
		break;
	case EDL_FLASH_EV_DEVICE_LOG:
		if (ev->text != NULL)
			keep_device_log(u, ev->text);
		break;
	case EDL_FLASH_EV_WARNING:
		if (ev->text != NULL) {
			show(u, "warning", "%s", ev->text);
			keep_warning(u, ev->text);
		}
		break;
	case EDL_FLASH_EV_HELD:
		on_held(u, ev->identity);
		break;
	case EDL_FLASH_EV_PRESERVED: /* issue 15 */
	case EDL_FLASH_EV_RESTORED:
		on_archived(u, ev, ev->kind == EDL_FLASH_EV_RESTORED);
		break;
	}
}

/* ---- transfers ---------------------------------------------------------------------- */

static void post_in(struct edl_unit *u)
{
	struct edl_unit_action a = {.kind = EDL_UNIT_ACT_POST_IN};

	if (u->in_pending || u->gone)
		return;
	int rc = act(u, &a);
	if (rc == EDL_OK)
		u->in_pending = true;
	else if (rc == EDL_E_USB_GONE)
		u->gone = true;
	else if (u->why.code == EDL_OK)
		edl_error_set(&u->why, rc, "IN transfer refused: %s", edl_strerror(rc));
}

static void pump_out(struct edl_unit *u, uint64_t now)
{
	uint64_t share = u->env->out_share ? u->env->out_share(u->env->data) : UINT64_MAX;
	unsigned max = u->cfg->inflight ? u->cfg->inflight : 1;
	struct edl_chunk c;

	if (max > UNIT_MAX_INFLIGHT)
		max = UNIT_MAX_INFLIGHT;
	u->waits_budget = false;
	while (!u->gone && u->out_inflight < max && u->why.code == EDL_OK) {
		if (!u->have_pending) {
			if (u->job == NULL || !edl_flash_job_next_out(u->job, &c))
				break;
			if (c.len == 0)
				continue;
			u->pending = c;
			u->have_pending = true;
		}
		/* A fair share of the station's budget: without it the units that got
		 * budget first keep it and the others starve. */
		if (u->out_inflight > 0 && u->out_bytes + u->pending.len > share) {
			u->waits_budget = true;
			break;
		}
		struct edl_unit_action a = {.kind = EDL_UNIT_ACT_SUBMIT_OUT, .chunk = u->pending};
		a.chunk.zlp = u->pending.zlp && u->cfg->zlp;
		int rc = act(u, &a);
		if (rc == EDL_E_AGAIN) {
			u->waits_budget = true;
			break;
		}
		if (rc != EDL_OK) {
			if (rc == EDL_E_USB_GONE)
				u->gone = true;
			else if (rc == EDL_E_USB_NOMEM)
				edl_error_set(
				        &u->why, rc,
				        "%zu bytes refused: raise "
				        "/sys/module/usbcore/parameters/usbfs_memory_mb (e.g. "
				        "echo 256 > it) or lower [flash] usbfs_budget_mb or "
				        "inflight",
				        u->pending.len);
			else
				edl_error_set(&u->why, rc, "USB transfer of %zu bytes refused: %s",
				              u->pending.len, edl_strerror(rc));
			break;
		}
		if (u->out_inflight == 0)
			u->last_accept =
			        now; /* the progress clock starts with the first byte out */
		u->have_pending = false;
		u->submitted += u->pending.len;
		u->out_inflight++;
		u->out_bytes += u->pending.len;
		u->out_len[u->out_head] = u->pending.len;
		u->out_head = (u->out_head + 1) % UNIT_MAX_INFLIGHT;
	}
}

static void cancel(struct edl_unit *u)
{
	struct edl_unit_action a = {.kind = EDL_UNIT_ACT_CANCEL};

	if (u->cancelled || (u->out_inflight == 0 && !u->in_pending))
		return;
	u->cancelled = true;
	act(u, &a);
}

static void progress(struct edl_unit *u)
{
	struct edl_unit_action a = {.kind = EDL_UNIT_ACT_PROGRESS};
	struct edl_flash_progress p;

	if (u->job == NULL)
		return;
	edl_flash_job_progress(u->job, &p);
	if (p.bytes_done == u->bytes_done && p.bytes_total == u->bytes_total &&
	    u->stage == u->progress_stage)
		return;
	u->progress_stage = u->stage;
	u->bytes_done = p.bytes_done;
	u->bytes_total = p.bytes_total;
	a.stage = edl_flash_stage_name(u->stage);
	a.bytes_done = p.bytes_done;
	a.bytes_total = p.bytes_total;
	act(u, &a);
}

/* ---- records -------------------------------------------------------------------- */

/* Records the attempt's run; false when the store refused it (u->why says so). */
static bool record_start(struct edl_unit *u, uint64_t now)
{
	struct edl_unit_action a = {.kind = EDL_UNIT_ACT_RUN_START};

	u->run_id = 0;
	if (!u->env->store)
		return true;
	memset(&u->rs, 0, sizeof(u->rs));
	u->rs.serial = u->serial[0] ? u->serial : NULL;
	u->rs.station = u->cfg->name;
	u->rs.package_hash = u->package_hash;
	/* A retry of a routed unit is that product's from its start. */
	u->rs.product = u->product[0] ? u->product : NULL;
	u->rs.slot = u->slot;
	/* The port map's label; an unmapped port's label is its path: none. */
	u->rs.slot_label = strcmp(u->label, u->port) != 0 ? u->label : NULL;
	u->rs.port = u->port;
	u->rs.attempt = u->attempt;
	u->rs.retry_of = u->prev_run_id;
	u->rs.start_ms = wall(u, now);
	u->rs.kind = edl_unit_rma_kind(u->cfg); /* issue 15: backup, restore */
	a.run_start = &u->rs;
	int rc = act(u, &a);
	u->run_id = rc == EDL_OK ? a.run_id : 0;
	if (rc != EDL_OK) {
		/* Flashing it now would give a unit no record: not one byte goes out. */
		edl_error_set(&u->why, EDL_E_NOT_RECORDED,
		              "the results database refused to record the run (%s): the unit was "
		              "not flashed",
		              edl_strerror(rc));
		return false;
	}
	return true;
}

/* ---- memory dumps ([rma] dump_dir) ------------------------------------------------- */

/* Whether this attempt met a unit in memory-debug mode. */
static bool dump_attempt(const struct edl_unit *u)
{
	const struct edl_error *e = u->job ? edl_flash_job_error(u->job) : NULL;

	if (u->dump == NULL)
		return false;
	return edl_dump_writer_dir(u->dump)[0] != '\0' ||
	       (u->job && edl_flash_job_outcome(u->job) == EDL_FLASH_OUTCOME_DUMPED) ||
	       (e != NULL && e->code == EDL_E_MEMORY_DUMP) || u->why.code == EDL_E_MEMORY_DUMP;
}

/* The job failed during a memory dump (refused, too large, a damaged table,
 * a write error): the engine queued RESET, which must still go out, as a
 * pass's power command does. */
static bool dump_refused(const struct edl_unit *u)
{
	return u->job != NULL && edl_flash_job_status(u->job) == EDL_ENGINE_FAILED &&
	       dump_attempt(u) && u->why.code == EDL_OK && !u->gone && !u->stopping && !u->stalled;
}

/* A dump run's record: kind "dump", each region written whole an archive row. */
static void dump_record(struct edl_unit *u, uint64_t now)
{
	size_t n, k = 0;

	if (!dump_attempt(u))
		return;
	u->re.kind = "dump";
	n = edl_dump_writer_files(u->dump);
	free(u->dump_rows);
	u->dump_rows = n ? calloc(n, sizeof(*u->dump_rows)) : NULL;
	for (size_t i = 0; u->dump_rows != NULL && i < n; i++) {
		const struct edl_dump_file *f = edl_dump_writer_file(u->dump, i);

		if (!f->complete)
			continue;
		u->dump_rows[k++] = (struct edl_store_archive){.serial = u->dump_serial,
		                                               .kind = "dump",
		                                               .label = f->name,
		                                               .path = f->path,
		                                               .bytes = f->written,
		                                               .sha256 = f->sha256,
		                                               .restored = -1,
		                                               .created_ms = wall(u, now)};
	}
	u->re.archives = u->dump_rows;
	u->re.n_archives = k;
}

/* The attempt's dump writer, when [rma] dump_dir is set: named by the USB
 * serial (iProduct's SN:, the chip serial on real units) since a unit in
 * memory-debug mode cannot be asked in command mode. */
static void dump_prepare(struct edl_unit *u, struct edl_flash_options *o, uint64_t now)
{
	struct edl_dump_writer_options d = {0};

	edl_dump_writer_free(u->dump);
	u->dump = NULL;
	/* identify only reads identities: a crashed unit is reported, not dumped. */
	if (u->cfg->dump_dir[0] == '\0' || u->cfg->identify_only)
		return;
	if (u->usb_serial[0])
		snprintf(u->dump_serial, sizeof(u->dump_serial), "%s", u->usb_serial);
	else
		snprintf(u->dump_serial, sizeof(u->dump_serial), "unknown-slot%d", u->slot);
	d.dir = u->cfg->dump_dir;
	d.serial = u->dump_serial;
	d.max_bytes = u->cfg->dump_max_mb << 20;
	d.wall_ms = wall(u, now);
	if (edl_dump_writer_new(&u->dump, &d) == EDL_OK)
		o->sahara.dump = edl_dump_writer_sink(u->dump);
}

/* The attempt is over: a dump that did not complete says so in its manifest;
 * the run gets the USB serial as its unit. */
static void dump_over(struct edl_unit *u, const char *why)
{
	struct edl_unit_action a = {.kind = EDL_UNIT_ACT_RUN_IDENTIFY};
	struct edl_error err;

	if (!dump_attempt(u))
		return;
	if (!edl_dump_writer_complete(u->dump) &&
	    edl_dump_writer_abandon(u->dump, why, &err) != EDL_OK)
		show(u, "warning", "%s", err.detail);
	if (u->serial[0] == '\0' && u->usb_serial[0] != '\0' && u->env->store && u->run_id != 0) {
		snprintf(u->serial, sizeof(u->serial), "%s", u->usb_serial);
		u->dev = (struct edl_store_device){.serial = u->serial,
		                                   .usb_serial =
		                                           u->usb_token[0] ? u->usb_token : NULL,
		                                   .seen_ms = wall(u, u->attempt_start)};
		a.run_id = u->run_id;
		a.device = &u->dev;
		act(u, &a);
	}
}

/* Emits the run's end; returns whether the unit must wait for the commit. */
static bool record_finish(struct edl_unit *u, enum edl_store_result result, const char *stage,
                          const struct edl_error *e, bool final, uint64_t now)
{
	struct edl_unit_action a = {.kind = EDL_UNIT_ACT_RUN_FINISH};
	struct edl_store_step steps[64];
	size_t n = 0;
	bool any = false;

	if (!u->env->store || u->run_id == 0)
		return false;
	memset(&u->re, 0, sizeof(u->re));
	for (size_t i = 0; i < u->n_logs; i++)
		u->log_lines[i] = u->device_logs[(u->log_head + i) % UNIT_LOG_KEEP];
	u->re.run_id = u->run_id;
	u->re.result = result;
	u->re.stage = stage;
	u->re.error_code = e ? e->code : 0;
	u->re.message = e ? edl_error_format(e, u->msg, sizeof(u->msg)) : NULL;
	u->re.end_ms = wall(u, now);
	u->re.bytes_written = accepted_data(u); /* what the unit took */
	u->re.duration_ms = (int64_t)(now - u->attempt_start);
	u->re.payload = (uint32_t)u->payload;
	u->re.log_lines = u->log_lines;
	u->re.n_log_lines = u->n_logs;
	u->re.functions = u->functions[0] ? u->functions : NULL;
	u->re.warnings = u->warnings[0] ? u->warnings : NULL;
	/* One record per plan step, as the job's STEP events said; a step that
	 * started and never ended is where the run failed. */
	for (size_t i = 0; i < u->n_steps; i++)
		any = any || u->steps[i].started;
	struct edl_store_step *heap = NULL;
	struct edl_store_step *out = steps;
	if (any && u->n_steps > sizeof(steps) / sizeof(steps[0])) {
		heap = calloc(u->n_steps, sizeof(*heap));
		out = heap;
	}
	if (any && out != NULL) {
		for (size_t i = 0; i < u->n_steps; i++) {
			struct unit_step *s = &u->steps[i];
			out[i] = s->rec;
			if (!s->started) {
				out[i].result = EDL_STEP_RESULT_SKIPPED;
				out[i].duration_ms = 0;
			} else if (!s->ended) {
				out[i].result = result == EDL_RESULT_PASS ? EDL_STEP_RESULT_PASS
				                                          : EDL_STEP_RESULT_FAIL;
				out[i].duration_ms = (int64_t)(now - s->start_ms);
			}
		}
		n = u->n_steps;
		u->re.steps = out;
		u->re.n_steps = n;
	}
	dump_record(u, now);
	a.run_id = u->run_id;
	a.run_end = &u->re;
	a.commit = final;
	act(u, &a);
	free(heap);
	return final;
}

/* The unit's result is final: FINISHED with the code, class, stage and reason
 * kept by conclude() (code overrides them: EDL_E_NOT_RECORDED). */
static void finished(struct edl_unit *u, enum edl_store_result result, int code, bool kept)
{
	struct edl_unit_action a = {.kind = EDL_UNIT_ACT_FINISHED, .result = result};

	a.code = code;
	a.cls = edl_error_class(code);
	a.flashed = u->final_result;
	a.kept = kept;
	a.verified = u->verified;
	a.dumped = u->dumped;
	a.stage = code != EDL_OK && u->final_stage[0] ? u->final_stage : NULL;
	a.text = code != EDL_OK && u->final_detail[0] ? u->final_detail : NULL;
	act(u, &a);
	set_state(u, UNIT_CLOSED);
}

/* The result is final: recorded, then (once committed) FINISHED. */
static void conclude(struct edl_unit *u, enum edl_store_result result, const char *stage,
                     const struct edl_error *e, uint64_t now)
{
	u->final_result = result;
	u->final_code = e != NULL ? e->code : EDL_OK;
	if (result == EDL_RESULT_PASS)
		u->final_code = EDL_OK;
	snprintf(u->final_stage, sizeof(u->final_stage), "%s", stage ? stage : "");
	if (e != NULL && e->code != EDL_OK)
		edl_error_format(e, u->final_detail, sizeof(u->final_detail));
	else
		u->final_detail[0] = '\0';
	if (record_finish(u, result, stage, e, true, now))
		set_state(u, UNIT_COMMITTING);
	else
		finished(u, result, u->final_code, false);
}

/* ---- attempts -------------------------------------------------------------------- */

static void reset_attempt(struct edl_unit *u)
{
	clear_device_logs(u);
	edl_error_clear(&u->why);
	free(u->steps);
	u->steps = NULL;
	u->n_steps = 0;
	u->in_step = false;
	u->stalled = u->refused = u->cancelled = u->identified = false;
	u->held = u->decision_ready = false;
	u->timed_out = EDL_WAIT_NONE;
	u->have_pending = u->waits_budget = false;
	u->accepted = u->submitted = 0;
	u->verified = false;
	u->payload = u->bytes_done = u->bytes_total = 0;
	u->stage = u->shown = u->progress_stage = EDL_STAGE_PROBE;
	u->drain_deadline = 0;
}

/* One record per plan step, filled as the job's STEP events come. */
static void build_steps(struct edl_unit *u, const struct edl_plan *plan)
{
	free(u->steps);
	u->steps = NULL;
	u->n_steps = 0;
	if (plan == NULL || plan->n_steps == 0)
		return;
	u->steps = calloc(plan->n_steps, sizeof(*u->steps));
	if (u->steps == NULL)
		return;
	u->n_steps = plan->n_steps;
	for (size_t i = 0; i < plan->n_steps; i++) {
		const struct edl_plan_step *ps = &plan->steps[i];
		struct edl_store_step *r = &u->steps[i].rec;
		r->kind = ps->kind;
		r->label = ps->label;
		r->lun = ps->lun;
		r->start_sector = ps->start_sector;
		r->sectors = ps->num_sectors;
		r->bytes = ps->kind == EDL_STEP_PROGRAM ? ps->num_sectors * ps->sector_size : 0;
		r->result = EDL_STEP_RESULT_SKIPPED;
	}
}

static void start_attempt(struct edl_unit *u, uint64_t now)
{
	struct edl_flash_options o;
	const struct edl_plan *plan = u->cfg->identify_only ? NULL : u->plan;
	bool hold = u->env->identified != NULL && !u->decided && !u->cfg->identify_only;

	u->attempt++;
	reset_attempt(u);
	u->attempt_start = now;
	build_steps(u, plan);
	if (!record_start(u, now)) {
		set_state(u, UNIT_DRAINING);
		return;
	}
	edl_unit_job_options(&o, u->cfg, plan, u->image, u->attempt, u->usb_serial[0] != '\0');
	edl_unit_rma_options(&o, u->cfg, u->rma_labels, u->rma_run, sizeof(u->rma_run), u->run_id);
	o.archive_serial = u->serial[0] ? u->serial : NULL;
	if (o.n_preserve > 0 && o.preserve_mode == EDL_PRESERVE_PLAN && u->rma_source[0])
		o.restore_dir = u->rma_source;
	if (hold) {
		/* The gate: identity first, the decision names the package. */
		o.hold_at_identity = true;
		o.identify = true;
		if (u->env->hold_timeout_ms)
			o.hold_timeout_ms = u->env->hold_timeout_ms;
		/* Whose programmer a running one is shows only after a reset. */
		if (u->attempt == 1)
			o.reuse_running_programmer = false;
	}
	if (u->env->skip_exec != NULL && u->usb_serial[0] != '\0')
		o.sahara.skip_exec_mask = u->env->skip_exec(u->usb_serial, u->env->data);
	o.on_event = on_job_event;
	o.event_data = u;
	o.log = &u->log;
	dump_prepare(u, &o, now);
	set_state(u, UNIT_RUNNING);
	if (edl_flash_job_new(&u->job, &o) != EDL_OK) {
		u->job = NULL;
		edl_error_set(&u->why, EDL_E_NOMEM, "no memory for the flash job");
		set_state(u, UNIT_DRAINING);
		return;
	}
	show(u, "start", "attempt %d", u->attempt);
	edl_flash_job_start(u->job, now);
}

static bool retryable(const struct edl_unit *u, int code)
{
	if (u->gone || u->stopping || u->stalled || u->refused || u->gate_refused || u->aborted)
		return false;
	if ((unsigned)u->attempt > u->cfg->retries)
		return false;
	/* The same package, programmer or station fails the same way again, and a
	 * unit that needs a power cycle answers nothing until it has one. */
	switch (edl_error_class(code)) {
	case EDL_CLASS_WRONG_PACKAGE:
	case EDL_CLASS_WRONG_PROGRAMMER:
	case EDL_CLASS_STATION:
	case EDL_CLASS_POWER_CYCLE:
		return false;
	default:
		break;
	}
	switch (code) {
	case EDL_E_MEMORY_DUMP:
	case EDL_E_USB_GONE:
	case EDL_E_SERIAL_BUSY:
	case EDL_E_STALLED:       /* a hung unit hangs again: re-seat or set aside */
	case EDL_E_PRESERVE_READ: /* issue 15: its own data first, by a person */
	case EDL_E_PRESERVE_WRITE:
		return false;
	default:
		return true;
	}
}

/* The sentence for a unit that stopped taking data, when the unit's own
 * progress watch (not the job's) saw it. */
static void stall_error(struct edl_unit *u, uint64_t now)
{
	const char *what = u->stage == EDL_STAGE_PROBE ? "the probe" : "the programmer upload";
	uint64_t at = u->accepted;

	if (u->in_step && u->cur_step < u->n_steps) {
		what = u->steps[u->cur_step].rec.label;
		at = u->accepted - u->steps[u->cur_step].accepted_at_start;
	} else if (edl_flash_job_in_firehose(u->job)) {
		what = edl_flash_stage_name(u->stage);
	}
	edl_error_set(&u->why, EDL_E_STALLED,
	              "at byte %" PRIu64 " of %s (no byte accepted "
	              "for %" PRIu64 " ms); re-seat the cable or set the unit aside",
	              at, what, now - u->last_accept);
}

/* The plan's bytes the unit took: what the job handed out, less what the
 * unit never accepted (transfers cancelled or failed when it left). */
static uint64_t accepted_data(const struct edl_unit *u)
{
	uint64_t lost = u->submitted > u->accepted ? u->submitted - u->accepted : 0;
	return u->bytes_done > lost ? u->bytes_done - lost : 0;
}

/* The attempt is over and nothing is in flight: decide what it was. */
static void attempt_over(struct edl_unit *u, uint64_t now)
{
	struct edl_flash_job *job = u->job;
	enum { RUN, DONE, FAIL } st = RUN;
	const char *stage = edl_flash_stage_name(u->stage);
	const struct edl_error *e = &u->why;

	if (job != NULL) {
		enum edl_engine_status s = edl_flash_job_status(job);
		st = s == EDL_ENGINE_DONE ? DONE : s == EDL_ENGINE_FAILED ? FAIL : RUN;
	}
	if (u->refused) {
		show(u, "fail", "%s", u->why.detail);
		conclude(u, EDL_RESULT_FAIL, stage, &u->why, now);
		return;
	}
	if (st == DONE && u->why.code == EDL_OK) {
		if (edl_flash_job_outcome(job) == EDL_FLASH_OUTCOME_REENUMERATE) {
			struct edl_error why;
			if (edl_flash_job_found_running(job))
				edl_error_set(
				        &why, EDL_E_INTERRUPTED,
				        "programmer was already running; unit reset to EDL to be "
				        "identified on its fresh HELLO (continues as a new "
				        "session)");
			else
				edl_error_set(
				        &why, EDL_E_INTERRUPTED,
				        "the boot ROM takes only a reset now (it refused a "
				        "command-mode request); unit reset to come back in EDL "
				        "(continues as a new session)");
			u->reset_to_edl = true;
			const struct edl_sahara_identity *id = edl_flash_job_identity(job);
			if (id != NULL && id->refused_exec != 0 && id->refused_exec < 32)
				u->refused_exec = 1u << id->refused_exec;
			show(u, "reset-to-edl", "%s", why.detail);
			/* Not a unit result: the unit comes back and is flashed then. */
			record_finish(u, EDL_RESULT_INTERRUPTED, "probe", &why, false, now);
			set_state(u, UNIT_CLOSED);
			return;
		}
		if (edl_flash_job_outcome(job) == EDL_FLASH_OUTCOME_DUMPED) {
			dump_over(u, NULL);
			u->dumped = true;
			show(u, "dumped",
			     "memory dump collected: %zu regions, %" PRIu64
			     " bytes in %s; the unit was reset",
			     edl_dump_writer_files(u->dump), edl_dump_writer_bytes(u->dump),
			     edl_dump_writer_dir(u->dump));
			conclude(u, EDL_RESULT_PASS, NULL, NULL, now);
			return;
		}
		if (edl_flash_job_outcome(job) == EDL_FLASH_OUTCOME_IDENTIFIED &&
		    edl_flash_job_identity(job) == NULL)
			show(u, "identified",
			     "a programmer is already running: Sahara identity not available "
			     "without "
			     "a reset (USB serial %s)",
			     u->usb_serial[0] ? u->usb_serial : "unknown");
		conclude(u, EDL_RESULT_PASS, NULL, NULL, now);
		return;
	}
	if (st == FAIL)
		stage = edl_flash_stage_name(edl_flash_job_failed_stage(job));
	if (st == FAIL && u->why.code == EDL_OK) {
		e = edl_flash_job_error(job);
		/* The job's progress deadline: the unit stopped draining OUT. */
		if (u->timed_out == EDL_WAIT_PROGRESS || e->code == EDL_E_STALLED)
			u->stalled = true;
	} else if (u->why.code == EDL_OK) {
		if (u->gone) {
			edl_error_set(&u->why, EDL_E_USB_GONE,
			              "unplugged during %s after %" PRIu64 " of %" PRIu64
			              " bytes taken by the unit",
			              stage, accepted_data(u), u->bytes_total);
		} else {
			edl_error_set(&u->why, EDL_E_INTERRUPTED, "station stopped during %s",
			              stage);
			show(u, "interrupted", "during %s", stage);
			conclude(u, EDL_RESULT_INTERRUPTED, stage, &u->why, now);
			return;
		}
	}
	edl_error_format(e, u->final_detail, sizeof(u->final_detail));
	dump_over(u, u->final_detail);
	if (u->stopping && e->code != EDL_E_USB_GONE && !u->stalled) {
		show(u, "interrupted", "during %s", stage);
		conclude(u, EDL_RESULT_INTERRUPTED, stage, e, now);
		return;
	}
	if (retryable(u, e->code)) {
		show(u, "retry", "%s: %s (attempt %d of %u)", stage, u->final_detail, u->attempt,
		     u->cfg->retries + 1);
		record_finish(u, EDL_RESULT_FAIL, stage, e, false, now);
		/* Should the unit leave before the next attempt, this failure stands. */
		u->final_code = e->code;
		snprintf(u->final_stage, sizeof(u->final_stage), "%s", stage);
		u->prev_run_id = u->run_id;
		edl_flash_job_free(u->job);
		u->job = NULL;
		u->retry_at = now + UNIT_RETRY_PAUSE_MS;
		set_state(u, UNIT_RETRY_WAIT);
		return;
	}
	if (e->code == EDL_E_POWER_CYCLE)
		show(u, "fail", "%s — power-cycle the unit on slot %s", u->final_detail, u->label);
	else
		show(u, "fail", "%s: %s", stage, u->final_detail);
	conclude(u, EDL_RESULT_FAIL, stage, e, now);
}

/* ---- one function per state --------------------------------------------------------- */

static void state_running(struct edl_unit *u, uint64_t now)
{
	if (u->held && u->decision_ready && u->job != NULL && !u->gone && !u->stopping &&
	    edl_flash_job_held(u->job))
		apply_decision(u, now);
	bool over = u->job == NULL || edl_flash_job_status(u->job) != EDL_ENGINE_RUNNING ||
	            u->gone || u->stopping || u->stalled || u->refused || u->why.code != EDL_OK;

	if (!over) {
		pump_out(u, now);
		over = u->gone || u->why.code != EDL_OK;
		if (!over)
			post_in(u);
		progress(u);
		over = over || u->gone || u->why.code != EDL_OK;
	}
	if (!over)
		return;
	set_state(u, UNIT_DRAINING);
	/* A finished job may still have its last bytes (the power command, or
	 * the RESET after a memory dump that was refused). */
	if (u->job != NULL &&
	    (edl_flash_job_status(u->job) == EDL_ENGINE_DONE || dump_refused(u)) && !u->gone) {
		pump_out(u, now);
		u->drain_deadline =
		        now + (u->cfg->progress_timeout_ms ? u->cfg->progress_timeout_ms : 10000);
	}
}

static void state_draining(struct edl_unit *u, uint64_t now)
{
	bool passed = (u->job != NULL && edl_flash_job_status(u->job) == EDL_ENGINE_DONE &&
	               u->why.code == EDL_OK && !u->gone && !u->stopping) ||
	              dump_refused(u);

	progress(u);
	/* A failed, stalled, gone or stopped attempt's transfers will not all come
	 * back by themselves (a stalled OUT never does): cancel them. A passed one
	 * lets its power command go out, within the drain deadline. */
	if (!passed || u->out_inflight == 0 || (u->drain_deadline && now >= u->drain_deadline))
		cancel(u);
	if (u->out_inflight > 0 || u->in_pending)
		return;
	attempt_over(u, now);
}

static void state_retry_wait(struct edl_unit *u, uint64_t now)
{
	if (u->gone || u->stopping || u->aborted) {
		/* The failure recorded for the last attempt stands. */
		if (u->gone)
			show(u, "gone", "unplugged before attempt %d", u->attempt + 1);
		u->final_result = EDL_RESULT_FAIL;
		finished(u, EDL_RESULT_FAIL, u->final_code, false);
		return;
	}
	if (now >= u->retry_at)
		start_attempt(u, now);
}

static void state_closed(struct edl_unit *u)
{
	struct edl_unit_action a = {.kind = EDL_UNIT_ACT_CLOSE};

	if (u->close_sent)
		return;
	u->close_sent = true;
	if (u->armed_at != 0) {
		struct edl_unit_action d = {.kind = EDL_UNIT_ACT_ARM, .at = 0, .reason = "none"};
		u->armed_at = 0;
		act(u, &d);
	}
	act(u, &a);
}

/* The unit's own no-progress watch: OUT bytes are out and none came back. */
static uint64_t progress_deadline(const struct edl_unit *u)
{
	uint64_t ms = u->cfg->progress_timeout_ms ? u->cfg->progress_timeout_ms : 10000;
	if (u->state != UNIT_RUNNING || u->out_inflight == 0)
		return 0;
	/* A little after the job's own deadline for the same wait, so the job's
	 * sentence (step, label, offset) wins when it has one. */
	return u->last_accept + ms + 500;
}

static void arm(struct edl_unit *u)
{
	uint64_t at = 0;
	const char *reason = "none";

	switch (u->state) {
	case UNIT_RUNNING:
		if (u->job != NULL && edl_flash_job_status(u->job) == EDL_ENGINE_RUNNING) {
			at = edl_flash_job_deadline(u->job);
			reason = edl_flash_wait_name(edl_flash_job_deadline_reason(u->job));
		}
		if (progress_deadline(u) != 0 && (at == 0 || progress_deadline(u) < at)) {
			at = progress_deadline(u);
			reason = "progress";
		}
		break;
	case UNIT_DRAINING:
		at = u->drain_deadline;
		reason = "drain";
		break;
	case UNIT_RETRY_WAIT:
		at = u->retry_at;
		reason = "retry";
		break;
	default:
		break;
	}
	if (at == u->armed_at)
		return;
	u->armed_at = at;
	struct edl_unit_action a = {.kind = EDL_UNIT_ACT_ARM, .at = at, .reason = reason};
	act(u, &a);
}

static void step(struct edl_unit *u, uint64_t now)
{
	if (u->state == UNIT_CLOSED) {
		state_closed(u);
		return;
	}
	for (;;) {
		enum unit_state before = u->state;
		switch (u->state) {
		case UNIT_NEW:
		case UNIT_OPENING:
		case UNIT_COMMITTING:
			break;
		case UNIT_RUNNING:
			state_running(u, now);
			break;
		case UNIT_DRAINING:
			state_draining(u, now);
			break;
		case UNIT_RETRY_WAIT:
			state_retry_wait(u, now);
			break;
		case UNIT_CLOSED:
			break;
		}
		if (u->state == before)
			break;
		if (u->state == UNIT_CLOSED) {
			state_closed(u);
			return;
		}
	}
	arm(u);
}

/* ---- events ------------------------------------------------------------------------- */

int edl_unit_new(struct edl_unit **out, const struct edl_unit_env *env, const char *port,
                 const char *label, int slot)
{
	struct edl_unit *u = calloc(1, sizeof(*u));

	*out = NULL;
	if (u == NULL)
		return EDL_E_NOMEM;
	u->env = env;
	u->cfg = env->cfg;
	u->plan = env->plan;
	u->image = env->image;
	u->package_hash = env->package_hash;
	snprintf(u->port, sizeof(u->port), "%s", port);
	snprintf(u->label, sizeof(u->label), "%s", label ? label : port);
	u->slot = slot;
	edl_log_init(&u->log);
	u->log.level = EDL_LOG_DEBUG;
	u->log.sink = log_sink;
	u->log.sink_data = u;
	edl_log_set_port(&u->log, u->port);
	*out = u;
	return EDL_OK;
}

void edl_unit_free(struct edl_unit *u)
{
	if (u == NULL)
		return;
	edl_flash_job_free(u->job);
	clear_device_logs(u);
	free(u->steps);
	edl_dump_writer_free(u->dump);
	free(u->dump_rows);
	free(u);
}

void edl_unit_attached(struct edl_unit *u, uint64_t now)
{
	(void)now;
	if (u->state == UNIT_NEW)
		set_state(u, UNIT_OPENING);
}

/* A unit refused before any attempt (its iProduct serial is busy): recorded
 * as a failed run like the refusal after Sahara, so both look the same in the
 * database and the operator sees a failure on that slot. */
static void refuse_at_open(struct edl_unit *u, const char *owner, uint64_t now)
{
	u->attempt = 1;
	u->attempt_start = now;
	u->refused = true;
	edl_error_set(&u->why, EDL_E_SERIAL_BUSY,
	              "serial %s is already being flashed on port %s: a cloned serial, or the "
	              "same unit re-enumerated",
	              u->serial, owner);
	(void)record_start(u, now); /* refused either way: u->why says why */
	show(u, "fail", "%s", u->why.detail);
	conclude(u, EDL_RESULT_FAIL, edl_flash_stage_name(EDL_STAGE_PROBE), &u->why, now);
}

void edl_unit_product(struct edl_unit *u, int status, const char *text, uint64_t now)
{
	if (u->state != UNIT_OPENING)
		return;
	if (status == EDL_OK && text != NULL) {
		/* The whole _SN: token is recorded as the descriptor said it (the USB
		 * serial); only 8 hex digits are trusted as the unit's serial. */
		const char *token = NULL;
		edl_usb_product_serial(text, u->usb_serial, &token);
		if (token != NULL)
			snprintf(u->usb_token, sizeof(u->usb_token), "%s", token);
	}
	show(u, "attach", "%s", text && text[0] ? text : "(no iProduct)");
	if (u->usb_serial[0]) {
		snprintf(u->serial, sizeof(u->serial), "%s", u->usb_serial);
		edl_log_set_serial(&u->log, u->serial);
		const char *owner = u->env->serial_owner
		                            ? u->env->serial_owner(u->serial, u, u->env->data)
		                            : NULL;
		if (owner != NULL) {
			refuse_at_open(u, owner, now);
			step(u, now);
			return;
		}
	}
	start_attempt(u, now);
	step(u, now);
}

void edl_unit_in(struct edl_unit *u, int status, const uint8_t *data, size_t n, uint64_t now)
{
	u->in_pending = false;
	if (status == EDL_E_USB_GONE)
		u->gone = true;
	else if (status == EDL_OK && u->state == UNIT_RUNNING && u->job != NULL && n > 0)
		edl_flash_job_feed(u->job, data, n, now);
	step(u, now);
}

void edl_unit_out_done(struct edl_unit *u, int status, size_t n, uint64_t now)
{
	if (u->out_inflight == 0)
		return;
	u->out_inflight--;
	u->out_bytes -= u->out_len[u->out_tail];
	u->out_tail = (u->out_tail + 1) % UNIT_MAX_INFLIGHT;
	if (status == EDL_OK) {
		u->accepted += n;
		u->last_accept = now;
		if (u->job != NULL)
			edl_flash_job_out_done(u->job, n, now);
	} else if (status == EDL_E_USB_GONE) {
		u->gone = true;
	} else if (status != EDL_E_INTERRUPTED && u->state == UNIT_RUNNING &&
	           u->why.code == EDL_OK) {
		edl_error_set(&u->why, status, "OUT transfer failed: %s", edl_strerror(status));
	}
	step(u, now);
}

void edl_unit_timer(struct edl_unit *u, uint64_t now)
{
	if (u->state == UNIT_RUNNING && u->job != NULL &&
	    edl_flash_job_status(u->job) == EDL_ENGINE_RUNNING) {
		uint64_t d = edl_flash_job_deadline(u->job);
		if (d != 0 && d <= now) {
			enum edl_flash_wait w = edl_flash_job_deadline_reason(u->job);
			edl_flash_job_timeout(u->job, now);
			if (edl_flash_job_status(u->job) == EDL_ENGINE_FAILED) {
				u->timed_out = w;
				/* Our bytes are still not taken: the device could not
				 * answer because it stopped draining OUT (a stall inside
				 * the Sahara upload shows first as a silent device). */
				if (u->out_inflight > 0 && now - u->last_accept >= 1000 &&
				    edl_flash_job_error(u->job)->code != EDL_E_STALLED) {
					u->stalled = true;
					stall_error(u, now);
				}
			}
		}
		uint64_t p = progress_deadline(u);
		if (edl_flash_job_status(u->job) == EDL_ENGINE_RUNNING && p != 0 && p <= now) {
			u->stalled = true;
			stall_error(u, now);
		}
	}
	u->armed_at = 0; /* the timer fired: whatever is due next is armed anew */
	step(u, now);
}

void edl_unit_commit_done(struct edl_unit *u, int code, const char *detail, bool kept, uint64_t now)
{
	if (u->state != UNIT_COMMITTING)
		return;
	if (code == EDL_OK) {
		finished(u, u->final_result, u->final_code, false);
	} else if (u->final_result == EDL_RESULT_INTERRUPTED) {
		/* The station stops: the run stays interrupted either way. */
		finished(u, EDL_RESULT_INTERRUPTED, u->final_code, kept);
	} else {
		/* Not on disk: never shown as PASS. A station fault, not the unit's. */
		snprintf(u->final_stage, sizeof(u->final_stage), "record");
		snprintf(u->final_detail, sizeof(u->final_detail),
		         "flashed, NOT RECORDED: the result (%s) could not be recorded: %s; %s",
		         edl_store_result_name(u->final_result),
		         detail && detail[0] ? detail : edl_strerror(code),
		         kept ? "it is kept and will be recorded once the database can write "
		                "again"
		              : "set the unit aside and flash it again");
		show(u, "not-recorded", "%s", u->final_detail);
		finished(u, EDL_RESULT_FAIL, EDL_E_NOT_RECORDED, kept);
	}
	step(u, now);
}

void edl_unit_budget_freed(struct edl_unit *u, uint64_t now)
{
	if (u->state == UNIT_RUNNING && u->waits_budget)
		step(u, now);
}

void edl_unit_detached(struct edl_unit *u, uint64_t now)
{
	u->gone = true;
	switch (u->state) {
	case UNIT_NEW:
	case UNIT_OPENING:
		show(u, "gone", "unplugged");
		set_state(u, UNIT_CLOSED);
		state_closed(u);
		return;
	default:
		break;
	}
	step(u, now);
}

void edl_unit_stop(struct edl_unit *u, uint64_t now)
{
	u->stopping = true;
	switch (u->state) {
	case UNIT_NEW:
	case UNIT_OPENING:
		set_state(u, UNIT_CLOSED);
		state_closed(u);
		return;
	default:
		break;
	}
	step(u, now);
}

void edl_unit_release(struct edl_unit *u, const struct edl_unit_decision *d, uint64_t now)
{
	if (u->state != UNIT_RUNNING || !u->held || u->decision_ready || d == NULL ||
	    u->job == NULL || !edl_flash_job_held(u->job))
		return;
	u->decision = *d;
	u->decision.message[sizeof(u->decision.message) - 1] = '\0';
	u->decision_ready = true;
	step(u, now);
}

bool edl_unit_held(const struct edl_unit *u)
{
	return u->state == UNIT_RUNNING && u->held && u->job != NULL && edl_flash_job_held(u->job);
}

const char *edl_unit_product_name(const struct edl_unit *u)
{
	return u->product;
}

bool edl_unit_abort(struct edl_unit *u, uint64_t now, const char *reason)
{
	if (u->aborted || u->stopping || u->gone ||
	    (u->state != UNIT_RUNNING && u->state != UNIT_RETRY_WAIT))
		return false;
	u->aborted = true;
	if (u->state == UNIT_RUNNING && u->why.code == EDL_OK)
		edl_error_set(&u->why, EDL_E_ABORTED, "%s", reason);
	step(u, now);
	return true;
}

const char *edl_unit_serial(const struct edl_unit *u)
{
	return u->serial;
}
const char *edl_unit_port(const struct edl_unit *u)
{
	return u->port;
}
const char *edl_unit_label(const struct edl_unit *u)
{
	return u->label;
}
bool edl_unit_waits_budget(const struct edl_unit *u)
{
	return u->waits_budget;
}
bool edl_unit_holds_serial(const struct edl_unit *u)
{
	return u->serial[0] != '\0' && !u->refused && u->state >= UNIT_RUNNING &&
	       u->state <= UNIT_COMMITTING;
}
bool edl_unit_reset_to_edl(const struct edl_unit *u)
{
	return u->reset_to_edl;
}
int64_t edl_unit_run_id(const struct edl_unit *u)
{
	return u->run_id;
}
uint32_t edl_unit_refused_exec(const struct edl_unit *u)
{
	return u->refused_exec;
}
bool edl_unit_closed(const struct edl_unit *u)
{
	return u->state == UNIT_CLOSED;
}
int edl_unit_attempts(const struct edl_unit *u)
{
	return u->attempt;
}
uint64_t edl_unit_bytes_accepted(const struct edl_unit *u)
{
	return accepted_data(u);
}
const struct edl_flash_job *edl_unit_job(const struct edl_unit *u)
{
	return u->job;
}
