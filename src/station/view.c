/*
 * What the operator sees. On a terminal: one line per slot (slot, port, serial,
 * stage, % done, MB/s, elapsed, result) redrawn at most 4 times a second under
 * the scrolling events, and a totals line (passed, failed, units per hour).
 * Elsewhere: one line per event, or one JSON object per event with
 * --log-format json, for machines.
 */
#include "station_internal.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "edlstation/json.h"

static void erase_table(struct station *st)
{
	if (!st->tty || st->lines_drawn == 0)
		return;
	printf("\033[%uA\033[J", st->lines_drawn);
	st->lines_drawn = 0;
}

static void draw_table(struct station *st)
{
	uint64_t now = edl_clock_ms();

	erase_table(st);
	printf("%-6s %-10s %-9s %-13s %5s %7s %7s %s\n", "SLOT", "PORT", "SERIAL", "STAGE", "DONE",
	       "MB/s", "ELAPSED", "RESULT");
	st->lines_drawn = 1;
	for (size_t i = 0; i < st->n_slots; i++) {
		struct slot_view *v = &st->slots[i];
		uint64_t end = v->end_ms ? v->end_ms : now;
		double secs = v->start_ms ? (double)(end - v->start_ms) / 1000.0 : 0;
		double pct =
		        v->bytes_total ? 100.0 * (double)v->bytes_done / (double)v->bytes_total : 0;
		double mbps = secs > 0 ? (double)v->bytes_done / 1e6 / secs : 0;
		printf("%-6s %-10s %-9s %-13s %4.0f%% %7.1f %6.1fs %s\n", v->label, v->port,
		       v->serial[0] ? v->serial : "-", v->stage[0] ? v->stage : "-", pct, mbps,
		       secs, v->result[0] ? v->result : (v->active ? "..." : ""));
		st->lines_drawn++;
	}
	double hours = (double)(now - st->start_ms) / 3.6e6;
	printf("passed %u  failed %u  interrupted %u  running %u  units/hour %.0f\n", st->passed,
	       st->failed, st->interrupted, st->active, hours > 0 ? st->finished / hours : 0);
	st->lines_drawn++;
	fflush(stdout);
}

static void on_view_timer(uv_timer_t *t)
{
	struct station *st = t->data;
	if (st->tty)
		draw_table(st);
}

void view_init(struct station *st)
{
	st->format = st->cfg->log_format;
	st->tty = st->format == EDL_LOGFMT_AUTO && isatty(STDOUT_FILENO);
	uv_timer_init(st->loop, &st->view_timer);
	st->view_timer.data = st;
	if (st->tty)
		uv_timer_start(&st->view_timer, on_view_timer, 250, 250);
}

struct slot_view *view_slot(struct station *st, const char *port, const char *label)
{
	for (size_t i = 0; i < st->n_slots; i++) {
		if (strcmp(st->slots[i].port, port) == 0)
			return &st->slots[i];
	}
	if (st->n_slots == EDL_STATION_MAX_PORTS)
		return NULL;
	struct slot_view *v = &st->slots[st->n_slots++];
	memset(v, 0, sizeof(*v));
	snprintf(v->port, sizeof(v->port), "%s", port);
	const struct edl_station_port *p = edl_station_config_port(st->cfg, port);
	snprintf(v->label, sizeof(v->label), "%s", p ? p->label : (label ? label : port));
	return v;
}

void view_progress(struct station *st, struct session *s)
{
	struct slot_view *v = view_slot(st, s->port, s->slot_label);
	if (v == NULL)
		return;
	snprintf(v->serial, sizeof(v->serial), "%s", s->serial);
	if (s->stage[0])
		snprintf(v->stage, sizeof(v->stage), "%s", s->stage);
	v->bytes_done = s->bytes_done;
	v->bytes_total = s->bytes_total;
}

void view_event(struct station *st, struct session *s, const char *event, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	uint64_t t = edl_clock_ms() - st->start_ms;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s != NULL) {
		struct slot_view *v = view_slot(st, s->port, s->slot_label);
		if (v != NULL && s->serial[0])
			snprintf(v->serial, sizeof(v->serial), "%s", s->serial);
	}
	if (st->format == EDL_LOGFMT_JSON) {
		/* One compact object a line; serials and messages carry device text. */
		struct edl_json j;

		edl_json_init_file(&j, stdout, EDL_JSON_COMPACT);
		edl_json_object_begin(&j);
		edl_json_key(&j, "t_ms");
		edl_json_uint(&j, t);
		edl_json_key(&j, "event");
		edl_json_string(&j, event);
		if (s != NULL) {
			edl_json_key(&j, "slot");
			edl_json_string(&j, s->slot_label);
			edl_json_key(&j, "port");
			edl_json_string(&j, s->port);
			edl_json_key(&j, "serial");
			edl_json_string(&j, s->serial);
			edl_json_key(&j, "attempt");
			edl_json_int(&j, s->attempt);
		}
		edl_json_key(&j, "message");
		edl_json_string(&j, msg);
		edl_json_object_end(&j);
		(void)edl_json_finish(&j); /* stdout gone: nothing to tell anyone */
		return;
	}
	/* On a terminal the table shows stages: keep the scrolling lines for events. */
	if (st->tty && (strcmp(event, "stage") == 0 || strcmp(event, "start") == 0))
		return;
	erase_table(st);
	if (s != NULL && strcmp(s->slot_label, s->port) == 0)
		printf("%7.3f [%s%s%s] %s: %s\n", (double)t / 1000.0, s->port,
		       s->serial[0] ? " SN:" : "", s->serial, event, msg);
	else if (s != NULL)
		printf("%7.3f [%s %s%s%s] %s: %s\n", (double)t / 1000.0, s->slot_label, s->port,
		       s->serial[0] ? " SN:" : "", s->serial, event, msg);
	else
		printf("%7.3f %s: %s\n", (double)t / 1000.0, event, msg);
	fflush(stdout);
}

void view_final(struct station *st)
{
	uint64_t now = edl_clock_ms();
	double hours = (double)(now - st->start_ms) / 3.6e6;

	if (st->tty)
		draw_table(st);
	if (st->format == EDL_LOGFMT_JSON) {
		struct edl_json j;

		edl_json_init_file(&j, stdout, EDL_JSON_COMPACT);
		edl_json_object_begin(&j);
		edl_json_key(&j, "event");
		edl_json_string(&j, "summary");
		edl_json_key(&j, "finished");
		edl_json_uint(&j, st->finished);
		edl_json_key(&j, "passed");
		edl_json_uint(&j, st->passed);
		edl_json_key(&j, "failed");
		edl_json_uint(&j, st->failed);
		edl_json_key(&j, "interrupted");
		edl_json_uint(&j, st->interrupted);
		edl_json_key(&j, "units_per_hour");
		edl_json_fixed(&j, hours > 0 ? st->finished / hours : 0, 1);
		edl_json_object_end(&j);
		(void)edl_json_finish(&j);
	} else {
		printf("summary: %u unit(s) finished: %u passed, %u failed; %u interrupted; "
		       "%.0f units/hour\n",
		       st->finished, st->passed, st->failed, st->interrupted,
		       hours > 0 ? st->finished / hours : 0);
	}
	fflush(stdout);
}

/* Contract stubs: the board (issue 11) replaces these. */
void view_unit_result(struct station *st, struct session *s, enum edl_store_result r, int code,
                      const char *stage, const char *reason)
{
	(void)st, (void)s, (void)r, (void)code, (void)stage, (void)reason;
}

void view_line(struct station *st)
{
	view_event(st, NULL, st->line_stopped ? "line-stopped" : "line-resumed", "%s",
	           st->line_stopped ? st->line_reason : "taking new units again");
}

bool view_take_resume(struct station *st)
{
	(void)st;
	return false;
}
