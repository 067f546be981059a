/*
 * What the operator sees: the state behind it. One slot per port of the port
 * map in the map's order (unmapped ports appended as they appear), each with
 * its state (idle, running, PASS, FAIL, needs the operator, not recorded), the
 * running unit's stage, % and MB/s, and a failure's reason and action kept
 * until the slot's next unit; the list of failures for the sticky list and
 * the end summary; the line stop. On a terminal (format auto, stdout a TTY)
 * view_board.c draws it with ncurses; otherwise view_text.c prints one line
 * (or one JSON object) per event. Both end with the summary naming every
 * failed unit.
 */
#include "station_internal.h"
#include "journal.h"

#include <stdarg.h>
#include <string.h>
#include <unistd.h>

/* Copies src into dst (cap bytes), cut short when it does not fit. */
static void copy(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void on_view_timer(uv_timer_t *t)
{
	struct station *st = t->data;
	bool running = false;

	for (size_t i = 0; i < st->n_slots && !running; i++)
		running = st->slots[i].state == SLOT_RUNNING;
	/* At most 4 draws a second: on change, and while units run (%, MB/s). */
	if (st->board != NULL && (st->view_dirty || running))
		board_draw(st);
}

static void add_slot(struct station *st, const char *port, const char *label)
{
	struct slot_view *v = &st->slots[st->n_slots++];

	memset(v, 0, sizeof(*v));
	snprintf(v->port, sizeof(v->port), "%s", port);
	snprintf(v->label, sizeof(v->label), "%s", label);
	v->state = SLOT_IDLE;
}

void view_init(struct station *st)
{
	const struct edl_station_config *cfg = st->cfg;

	st->format = cfg->log_format;
	st->tty = false;
	for (size_t i = 0; i < cfg->n_ports && st->n_slots < EDL_STATION_MAX_PORTS; i++)
		add_slot(st, cfg->ports[i].port, cfg->ports[i].label);
	uv_timer_init(st->loop, &st->view_timer);
	st->view_timer.data = st;
	/* Under systemd (stdout is the journal's stream) events become structured
	 * entries: journalctl -u edlstation EDL_SERIAL=... finds a unit. */
	if (st->format == EDL_LOGFMT_AUTO && station_journal_stdout())
		st->format = EDL_LOGFMT_JOURNAL;
	if (st->format == EDL_LOGFMT_AUTO && isatty(STDOUT_FILENO) && board_open(st)) {
		st->tty = true;
		st->view_dirty = true;
		board_draw(st);
		uv_timer_start(&st->view_timer, on_view_timer, 250, 250);
	}
}

void view_close(struct station *st, uv_close_cb cb)
{
	uv_timer_stop(&st->view_timer);
	uv_close((uv_handle_t *)&st->view_timer, cb);
	if (st->board != NULL)
		board_close_handles(st, cb);
}

void view_refresh_slot(struct slot_view *v)
{
	if (v->active && v->start_ms != v->result_of_start && v->state != SLOT_RUNNING) {
		v->state = SLOT_RUNNING;
		v->error_code = 0;
		v->cls = EDL_CLASS_NONE;
		v->reason[0] = v->action[0] = v->fail_stage[0] = '\0';
		v->run_id = 0;
	} else if (!v->active && v->state == SLOT_RUNNING) {
		v->state = SLOT_IDLE; /* left before a result (ignored, unplugged early) */
	}
}

struct slot_view *view_slot(struct station *st, const char *port, const char *label)
{
	for (size_t i = 0; i < st->n_slots; i++) {
		if (strcmp(st->slots[i].port, port) == 0)
			return &st->slots[i];
	}
	if (st->n_slots == EDL_STATION_MAX_PORTS)
		return NULL;
	const struct edl_station_port *p = edl_station_config_port(st->cfg, port);
	add_slot(st, port, p ? p->label : (label ? label : port));
	st->view_dirty = true;
	return &st->slots[st->n_slots - 1];
}

void view_progress(struct station *st, struct session *s)
{
	struct slot_view *v = view_slot(st, s->port, s->slot_label);
	if (v == NULL)
		return;
	view_refresh_slot(v);
	snprintf(v->serial, sizeof(v->serial), "%s", s->serial);
	if (s->stage[0])
		snprintf(v->stage, sizeof(v->stage), "%s", s->stage);
	v->bytes_done = s->bytes_done;
	v->bytes_total = s->bytes_total;
	v->attempt = s->attempt;
	st->view_dirty = true;
}

/* The stage a failure happened in: the unit says "program: NAK ..." (the
 * session's stage may already read "done"). */
static void fail_stage(struct slot_view *v, const struct session *s, const char *msg)
{
	size_t n = strspn(msg, "abcdefghijklmnopqrstuvwxyz-_");

	if (n > 0 && n < sizeof(v->fail_stage) && msg[n] == ':' && msg[n + 1] == ' ') {
		memcpy(v->fail_stage, msg, n);
		v->fail_stage[n] = '\0';
	} else {
		copy(v->fail_stage, sizeof(v->fail_stage), s->stage);
	}
}

/* The failing unit's code, while its job is there (0: unknown). */
static void journal_event(struct session *s, const char *event, const char *msg, int code);

static int session_code(const struct session *s)
{
	const struct edl_flash_job *job = s->unit != NULL ? edl_unit_job(s->unit) : NULL;
	const struct edl_error *e = job != NULL ? edl_flash_job_error(job) : NULL;
	return e != NULL ? e->code : 0;
}

void view_event(struct station *st, struct session *s, const char *event, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s != NULL) {
		struct slot_view *v = view_slot(st, s->port, s->slot_label);
		if (v != NULL) {
			view_refresh_slot(v);
			if (s->serial[0])
				snprintf(v->serial, sizeof(v->serial), "%s", s->serial);
			/* The unit's own words for its failure, until the result says more. */
			if (strcmp(event, "fail") == 0) {
				copy(v->reason, sizeof(v->reason), msg);
				fail_stage(v, s, msg);
			}
		}
	}
	st->view_dirty = true;
	if (st->web != NULL)
		web_on_event(st, s, event, msg,
		             s != NULL && strcmp(event, "fail") == 0 ? session_code(s) : 0);
	if (st->format == EDL_LOGFMT_JSON) {
		int code = s != NULL && strcmp(event, "fail") == 0 ? session_code(s) : 0;
		view_json_event(st, s, event, msg, code);
		return;
	}
	if (st->format == EDL_LOGFMT_JOURNAL) {
		int code = s != NULL && strcmp(event, "fail") == 0 ? session_code(s) : 0;
		journal_event(s, event, msg, code);
		return;
	}
	if (st->board != NULL) {
		/* The board shows stages and results; it keeps the latest event line. */
		char where[64] = "";
		if (s != NULL)
			snprintf(where, sizeof(where), "[%s] ", s->slot_label);
		char line[1200];
		snprintf(line, sizeof(line), "%s%s: %s", where, event, msg);
		copy(st->view_last_event, sizeof(st->view_last_event), line);
		return;
	}
	view_text_event(st, s, event, msg);
	fflush(stdout);
}

static enum slot_state failed_state(int code, enum edl_error_class cls)
{
	if (code == EDL_E_NOT_RECORDED || code == EDL_E_DB || code == EDL_E_DB_BUSY ||
	    code == EDL_E_DB_FULL || code == EDL_E_DB_LOCKED)
		return SLOT_NOT_RECORDED;
	/* Stopped on purpose: shown as the failure it is recorded as, with its reason. */
	if (code == EDL_E_ABORTED)
		return SLOT_FAIL;
	/* The unit is on the slot and needs a hand before it can pass. */
	if (cls == EDL_CLASS_POWER_CYCLE || cls == EDL_CLASS_RESEAT)
		return SLOT_OPERATOR;
	return SLOT_FAIL;
}

void view_unit_result(struct station *st, struct session *s, enum edl_store_result r, int code,
                      const char *stage, const char *reason)
{
	struct slot_view *v = view_slot(st, s->port, s->slot_label);

	st->view_dirty = true;
	if (stage == NULL || stage[0] == '\0')
		stage = v != NULL && v->fail_stage[0] ? v->fail_stage : s->stage;
	if (r == EDL_RESULT_PASS && s->attempt <= 1)
		st->first_pass++;
	if (v != NULL) {
		v->result_of_start = v->start_ms;
		v->attempt = s->attempt;
		if (s->serial[0])
			snprintf(v->serial, sizeof(v->serial), "%s", s->serial);
		if (stage != NULL && stage[0])
			snprintf(v->stage, sizeof(v->stage), "%s", stage);
		v->run_id = s->unit != NULL ? edl_unit_run_id(s->unit) : 0;
	}
	if (r == EDL_RESULT_INTERRUPTED) {
		if (v != NULL)
			v->state = SLOT_IDLE;
		return;
	}
	if (r == EDL_RESULT_PASS || code == 0) {
		if (v != NULL) {
			v->state = r == EDL_RESULT_PASS ? SLOT_PASS : SLOT_FAIL;
			v->error_code = 0;
			v->cls = EDL_CLASS_NONE;
			v->reason[0] = v->action[0] = '\0';
			if (r != EDL_RESULT_PASS)
				snprintf(v->reason, sizeof(v->reason), "%s",
				         reason ? reason : "failed");
		}
		if (r == EDL_RESULT_PASS)
			return;
	}
	enum edl_error_class cls = edl_error_class(code);
	const char *why = reason != NULL && reason[0] ? reason
	                  : v != NULL && v->reason[0] ? v->reason
	                                              : edl_strerror(code);
	struct view_failure *f = &st->failures[st->failures_total % VIEW_FAILURES];

	memset(f, 0, sizeof(*f));
	snprintf(f->label, sizeof(f->label), "%s", s->slot_label);
	snprintf(f->serial, sizeof(f->serial), "%s", s->serial);
	snprintf(f->stage, sizeof(f->stage), "%s", stage ? stage : s->stage);
	snprintf(f->reason, sizeof(f->reason), "%s", why);
	snprintf(f->action, sizeof(f->action), "%s", edl_error_action(code));
	f->cls = cls;
	f->error_code = code;
	f->run_id = s->unit != NULL ? edl_unit_run_id(s->unit) : 0;
	f->at_ms = edl_clock_ms();
	st->failures_total++;
	if (st->n_failures < VIEW_FAILURES)
		st->n_failures++;
	if (v != NULL) {
		v->state = failed_state(code, cls);
		v->error_code = code;
		v->cls = cls;
		if (v->reason != why)
			snprintf(v->reason, sizeof(v->reason), "%s", why);
		snprintf(v->action, sizeof(v->action), "%s", f->action);
	}
	if (st->web != NULL)
		web_on_event(st, s, "action", f->action, code);
	if (st->format == EDL_LOGFMT_JSON)
		view_json_event(st, s, "action", f->action, code);
	else if (st->format == EDL_LOGFMT_JOURNAL)
		journal_event(s, "action", f->action, code);
	else if (st->board == NULL) {
		view_text_event(st, s, "action", f->action);
		fflush(stdout);
	}
}

/* One structured entry; the journal stores device text as given (binary-safe). */
static void journal_event(struct session *s, const char *event, const char *msg, int code)
{
	struct station_journal_event ev = {.event = event, .message = msg, .error_code = code};

	if (s != NULL) {
		ev.slot = s->slot_label;
		ev.port = s->port;
		ev.serial = s->serial;
		ev.attempt = s->attempt;
		ev.run_id = s->unit != NULL ? edl_unit_run_id(s->unit) : 0;
		if (strcmp(event, "pass") == 0 || strcmp(event, "fail") == 0)
			ev.result = event;
	}
	(void)station_journal_send(&ev);
}

void view_line(struct station *st)
{
	st->view_dirty = true;
	if (!st->line_stopped)
		st->view_resume = false;
	if (st->line_stopped)
		view_event(st, NULL, "line-stopped",
		           "%s; check: %s; press any key or send SIGUSR1 to resume",
		           st->line_reason,
		           st->line_check[0] ? st->line_check : "the failures listed");
	else
		view_event(st, NULL, "line-resumed", "taking new units again");
	if (st->board != NULL)
		board_draw(st);
}

bool view_take_resume(struct station *st)
{
	bool asked = st->view_resume;
	st->view_resume = false;
	return asked;
}

void view_final(struct station *st)
{
	if (st->board != NULL) {
		board_draw(st);
		board_end(st);
	}
	if (st->format == EDL_LOGFMT_JSON)
		view_json_summary(st);
	else
		view_text_summary(st, stdout);
	fflush(stdout);
}
