/*
 * One device's session on the station: the libusb/libuv plumbing of one unit.
 * The unit core (src/station/unit.c) decides what happens; this file carries
 * its actions out (bulk transfers on the device, the uv timer, the results
 * store's writer, the transcript, the view) and hands it every completion as
 * an event. Completions that would arrive inside an action (a store operation
 * refused at once) are deferred to the loop: the unit core never re-enters.
 *
 * Following one unit from USB bytes to SQLite: libusb completes the IN
 * transfer (on_in) -> edl_unit_in() -> the flash job's feed -> the job's
 * events (step ended, device log line) are kept by the unit -> the job ends ->
 * the unit asks RUN_FINISH -> edl_store_writer_run_finish() here -> the
 * writer thread commits -> on_recorded() -> edl_unit_commit_done() -> the unit
 * says FINISHED (PASS shown only now) and CLOSE.
 */
#include "station_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "edlstation/capture.h"
#include "mes_station.h"

static void close_session(struct session *s);

/* ---- issue 16: the session's USB capture ([station] record = DIR) --------------------- */

static void mkdir_p(const char *dir)
{
	char path[1100];
	snprintf(path, sizeof(path), "%s", dir);
	for (char *p = path + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0755);
			*p = '/';
		}
	}
	mkdir(path, 0755);
}

/* Opens a capture for the traffic from now on, named after the port until a
 * run names it (capture_for_run). A capture that cannot be written is a
 * warning: recording never fails a unit. */
static void capture_open(struct session *s)
{
	const struct edl_station_config *cfg = s->st->cfg;
	struct edl_capture_options o = {0};
	char path[1200], ifname[32], desc[256];
	struct edl_error err;

	if (cfg->record_dir[0] == '\0' || s->dev == NULL)
		return;
	mkdir_p(cfg->record_dir);
	snprintf(path, sizeof(path), "%s/port-%s-%" PRIu64 ".pcapng", cfg->record_dir, s->port,
	         (uint64_t)(edl_capture_now_us() / 1000));
	snprintf(ifname, sizeof(ifname), "usbmon%.8s", s->port);
	for (char *c = ifname + 6; *c; c++)
		if (*c == '-') {
			*c = '\0';
			break;
		}
	snprintf(desc, sizeof(desc), "edlstation station %s, port %s, slot %s", cfg->name, s->port,
	         s->slot_label);
	o.if_name = ifname;
	o.if_description = desc;
	o.max_bytes = (uint64_t)cfg->record_max_mb * 1024 * 1024;
	if (edl_capture_open(&s->capture, path, &o, &err) != EDL_OK) {
		view_event(s->st, s, "warning", "not recording: %s", err.detail);
		return;
	}
	s->capture_has_run = false;
	edl_usb_dev_set_capture(s->dev, s->capture);
}

static void capture_close(struct session *s)
{
	struct edl_error err;

	if (s->capture == NULL)
		return;
	if (s->dev != NULL)
		edl_usb_dev_set_capture(s->dev, NULL);
	if (edl_capture_close(s->capture, &err) != EDL_OK)
		view_event(s->st, s, "warning", "%s", err.detail);
	s->capture = NULL;
}

/* A run starts: its capture is DIR/SERIAL-RUNID.pcapng, the traffic since the
 * session opened included for the first run; a retry gets a fresh file. */
static const char *capture_for_run(struct session *s, const struct edl_store_run_start *rs)
{
	struct edl_store_writer *w = s->st->store;
	char path[1200];
	struct edl_error err;

	if (s->st->cfg->record_dir[0] == '\0' || w == NULL)
		return NULL;
	if (s->capture != NULL && s->capture_has_run) {
		capture_close(s);
		capture_open(s);
	}
	if (s->capture == NULL)
		return NULL;
	snprintf(path, sizeof(path), "%s/%s-%" PRId64 ".pcapng", s->st->cfg->record_dir,
	         rs->serial     ? rs->serial
	         : s->serial[0] ? s->serial
	                        : s->port,
	         edl_store_writer_next_run_id(w));
	if (edl_capture_rename(s->capture, path, &err) != EDL_OK)
		view_event(s->st, s, "warning", "%s", err.detail);
	s->capture_has_run = true;
	return edl_capture_path(s->capture);
}

static uint64_t now_ms(void)
{
	return edl_clock_ms();
}

/* Every line of the unit and its job goes to the run's transcript. */
static void log_sink(enum edl_log_level level, const char *prefix, const char *line, void *data)
{
	struct session *s = data;
	if (s->transcript != NULL)
		fprintf(s->transcript, "%" PRIu64 " %s %s %s\n", now_ms() - s->st->start_ms, prefix,
		        edl_log_level_name(level), line);
}

static void open_transcript(struct session *s, int attempt, int64_t wall_ms)
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
	         s->serial[0] ? s->serial : s->port, wall_ms, attempt);
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
	s->transcript_path[0] = '\0';
}

/* ---- completions -> unit events ------------------------------------------------------ */

static void on_in(struct edl_usb_dev *dev, int status, size_t n, void *user)
{
	struct session *s = user;
	(void)dev;
	if (s->unit != NULL)
		edl_unit_in(s->unit, status, s->inbuf, n, now_ms());
}

static void on_out(struct edl_usb_dev *dev, int status, size_t n, void *user)
{
	struct session *s = user;
	(void)dev;
	if (s->unit != NULL)
		edl_unit_out_done(s->unit, status, n, now_ms());
}

static void on_timer(uv_timer_t *t)
{
	struct session *s = t->data;
	if (s->unit != NULL)
		edl_unit_timer(s->unit, now_ms());
}

static void on_defer(uv_timer_t *t)
{
	struct session *s = t->data;
	if (s->defer_pending && s->unit != NULL) {
		s->defer_pending = false;
		edl_unit_commit_done(s->unit, s->defer_commit, "the results writer refused it",
		                     false, now_ms());
	}
}

/* The store's completion of the final record: the only moment a result is on
 * disk. The session itself is the context (nothing allocated per record). */
/* A retry's (not final) finish committed: the MES's outbox has it (issue 13).
 * The station is the context: the session may be gone by then. */
static void on_mes_queued(const struct edl_store_done *done, void *data)
{
	if (done->code == EDL_OK)
		station_mes_queued(data);
}

static void on_recorded(const struct edl_store_done *done, void *data)
{
	struct session *s = data;
	if (done->code == EDL_OK)
		station_mes_queued(s->st); /* issue 13 */
	if (s->unit != NULL)
		edl_unit_commit_done(s->unit, done->code, done->detail, done->kept, now_ms());
}

static void on_product(struct edl_usb_dev *dev, int status, const char *text, void *user)
{
	struct session *s = user;
	(void)dev;
	if (s->unit != NULL)
		edl_unit_product(s->unit, status, text ? text : "", now_ms());
}

/* ---- unit actions ------------------------------------------------------------------- */

static int do_record(struct session *s, struct edl_unit_action *a)
{
	struct edl_store_writer *w = s->st->store;

	switch (a->kind) {
	case EDL_UNIT_ACT_RUN_START:
		close_transcript(s);
		open_transcript(s, a->run_start->attempt, a->run_start->start_ms);
		a->run_start->transcript = s->transcript_path[0] ? s->transcript_path : NULL;
		a->run_id = 0;
		s->progress_stage[0] = '\0';
		a->run_start->capture = capture_for_run(s, a->run_start);
		session_mes_run_start(s, a->run_start); /* issue 13 */
		if (w == NULL)
			return EDL_OK;
		/* Refused: the unit fails before a byte goes out (never flashed
		 * unrecorded). A store that cannot write keeps the op and says OK. */
		return edl_store_writer_run_start(&a->run_id, w, a->run_start, NULL, NULL);
	case EDL_UNIT_ACT_RUN_IDENTIFY:
		if (w != NULL)
			edl_store_writer_run_identify(w, a->run_id, a->device, NULL, NULL);
		return EDL_OK;
	case EDL_UNIT_ACT_RUN_ROUTE:
		if (w != NULL)
			edl_store_writer_run_route(w, a->run_id, a->product, a->package_hash, NULL,
			                           NULL);
		return EDL_OK;
	case EDL_UNIT_ACT_ARCHIVE: /* issue 15 */
		if (w != NULL)
			edl_store_writer_archive(w, a->archive, NULL, NULL);
		return EDL_OK;
	case EDL_UNIT_ACT_RUN_FINISH: {
		/* issue 13: the after_unit payload rides in the finish's transaction. */
		struct edl_store_run_end end = *a->run_end;
		end.mes_payload = session_mes_payload(s, a->run_end, a->commit);
		int rc = w == NULL ? EDL_E_DB
		         : a->commit
		                 ? edl_store_writer_run_finish(w, &end, on_recorded, s)
		                 : edl_store_writer_run_finish(
		                           w, &end, end.mes_payload ? on_mes_queued : NULL, s->st);
		close_transcript(s);
		if (rc != EDL_OK && a->commit) {
			s->defer_commit = rc;
			s->defer_pending = true;
			uv_timer_start(&s->defer, on_defer, 0, 0);
		}
		return EDL_OK;
	}
	default:
		return EDL_E_INTERNAL;
	}
}

/* How far the running run has come, persisted on each stage change and at
 * most every SESSION_PROGRESS_MS: an interrupted run then says where it
 * stopped. The bytes are those the unit took, not those handed out. */
static void persist_progress(struct session *s, const struct edl_unit_action *a)
{
	uint64_t now = now_ms();
	int64_t run_id = edl_unit_run_id(s->unit);
	bool stage_changed = strcmp(s->progress_stage, a->stage) != 0;

	if (s->st->store == NULL || run_id == 0 ||
	    (!stage_changed && now - s->progress_at < SESSION_PROGRESS_MS))
		return;
	snprintf(s->progress_stage, sizeof(s->progress_stage), "%s", a->stage);
	s->progress_at = now;
	struct edl_store_progress p = {
	        .run_id = run_id,
	        .stage = a->stage,
	        .bytes_done = edl_unit_bytes_accepted(s->unit),
	        .bytes_total = a->bytes_total,
	        .at_ms = (int64_t)now + s->env.wall_offset_ms,
	};
	(void)edl_store_writer_run_progress(s->st->store, &p, NULL, NULL);
}

static int session_act(struct edl_unit *u, struct edl_unit_action *a, void *data)
{
	struct session *s = data;
	uint64_t now;

	snprintf(s->serial, sizeof(s->serial), "%s", edl_unit_serial(u));
	s->attempt = edl_unit_attempts(u);
	switch (a->kind) {
	case EDL_UNIT_ACT_SUBMIT_OUT:
		return edl_usb_dev_submit_out(s->dev, a->chunk.data, a->chunk.len, a->chunk.zlp,
		                              on_out, s);
	case EDL_UNIT_ACT_POST_IN:
		/* No timeout: the job's deadlines decide (and cancel). */
		return edl_usb_dev_submit_in(s->dev, s->inbuf, SESSION_IN_BUF, 0, on_in, s);
	case EDL_UNIT_ACT_ARM:
		if (a->at == 0) {
			uv_timer_stop(&s->timer);
		} else {
			now = now_ms();
			uv_timer_start(&s->timer, on_timer, a->at > now ? a->at - now : 0, 0);
		}
		return EDL_OK;
	case EDL_UNIT_ACT_CANCEL:
		edl_usb_dev_cancel(s->dev);
		return EDL_OK;
	case EDL_UNIT_ACT_RUN_START:
	case EDL_UNIT_ACT_RUN_IDENTIFY:
	case EDL_UNIT_ACT_RUN_ROUTE:
	case EDL_UNIT_ACT_RUN_FINISH:
	case EDL_UNIT_ACT_ARCHIVE:
		return do_record(s, a);
	case EDL_UNIT_ACT_SHOW:
		view_event(s->st, s, a->event, "%s", a->text);
		return EDL_OK;
	case EDL_UNIT_ACT_PROGRESS:
		snprintf(s->stage, sizeof(s->stage), "%s", a->stage);
		s->bytes_done = a->bytes_done;
		s->bytes_total = a->bytes_total;
		persist_progress(s, a);
		view_progress(s->st, s);
		return EDL_OK;
	case EDL_UNIT_ACT_FINISHED:
		station_unit_finished(s->st, s, a);
		return EDL_OK;
	case EDL_UNIT_ACT_CLOSE:
		/* Asynchronous: the unit is freed after its timers and the device
		 * have closed, never inside this call. */
		close_session(s);
		return EDL_OK;
	}
	return EDL_E_INTERNAL;
}

/* ---- lifetime ----------------------------------------------------------------------- */

static void on_closed(void *user)
{
	struct session *s = user;
	s->dev = NULL;
	station_session_ended(s->st, s);
}

static void on_timer_closed(uv_handle_t *h)
{
	struct session *s = h->data;
	if (--s->open_timers > 0)
		return;
	if (s->dev != NULL)
		edl_usb_dev_close(s->dev, on_closed, s);
	else
		station_session_ended(s->st, s);
}

static void close_session(struct session *s)
{
	if (s->closing)
		return;
	s->closing = true;
	close_transcript(s);
	capture_close(s);
	uv_timer_stop(&s->timer);
	uv_timer_stop(&s->defer);
	uv_close((uv_handle_t *)&s->timer, on_timer_closed);
	uv_close((uv_handle_t *)&s->defer, on_timer_closed);
}

void session_abort(struct session *s)
{
	if (s->unit != NULL && !s->closing)
		edl_unit_stop(s->unit, now_ms());
}

void session_on_leave(struct session *s)
{
	if (s->unit != NULL && !s->closing)
		edl_unit_detached(s->unit, now_ms());
}

void session_budget_freed(struct session *s)
{
	if (s->unit != NULL && !s->closing)
		edl_unit_budget_freed(s->unit, now_ms());
}

int session_new(struct station *st, libusb_device *udev, const struct edl_usb_device_info *info)
{
	struct session *s = calloc(1, sizeof(*s));
	struct edl_error err;
	const struct edl_station_port *p = edl_station_config_port(st->cfg, info->port);

	if (s == NULL)
		return EDL_E_NOMEM;
	s->st = st;
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
	s->env = st->env;
	s->env.act = session_act;
	s->env.data = s;
	if (s->env.identified == station_mes_gate)
		s->env.identified_data = s; /* issue 13: the MES asks about this session */
	s->env.log_sink = log_sink;
	s->env.log_data = s;
	s->inbuf = malloc(SESSION_IN_BUF);
	if (s->inbuf == NULL ||
	    edl_unit_new(&s->unit, &s->env, s->port, s->slot_label, s->slot) != EDL_OK) {
		free(s->inbuf);
		free(s);
		return EDL_E_NOMEM;
	}
	s->udev = libusb_ref_device(udev);
	uv_timer_init(st->loop, &s->timer);
	uv_timer_init(st->loop, &s->defer);
	s->timer.data = s->defer.data = s;
	s->open_timers = 2;
	s->next = st->sessions;
	st->sessions = s;
	st->active++;
	edl_unit_attached(s->unit, now_ms());
	if (edl_usb_dev_open(st->usb, udev, &s->dev, &err) != EDL_OK) {
		s->dev = NULL;
		view_event(st, s, "fail", "%s", err.detail);
		edl_unit_detached(s->unit, now_ms());
		return EDL_OK;
	}
	capture_open(s);
	if (edl_usb_dev_read_product(s->dev, on_product, s) != EDL_OK)
		edl_unit_product(s->unit, EDL_E_USB, "", now_ms());
	return EDL_OK;
}

void session_free(struct session *s)
{
	edl_unit_free(s->unit);
	session_mes_free(s); /* issue 13: after the unit (its plan may be the session's) */
	close_transcript(s);
	capture_close(s);
	libusb_unref_device(s->udev);
	free(s->inbuf);
	free(s);
}
