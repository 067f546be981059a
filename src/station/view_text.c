/*
 * What the station prints when there is no board: one line per event (a log
 * file, a pipe, `--log-format text`), or one JSON object per event for
 * machines (`--log-format json`), and in every format the end summary that
 * names each failed unit with its slot, serial, stage, reason and the
 * operator's action. Every string that came from a device or a package (a
 * serial, a slot label, a stage, a message) goes through view_escape() first,
 * so a newline in a label can never start a line of its own ("pass: ...").
 */
#include "station_internal.h"

#include <string.h>
#include <time.h>

#include "edlstation/json.h"

static char *escape(char *out, size_t cap, const char *in, bool ascii_only)
{
	size_t o = 0;
	const uint8_t *p = (const uint8_t *)(in ? in : "");
	size_t len = strlen((const char *)p);

	if (cap == 0)
		return out;
	for (size_t i = 0; i < len;) {
		char piece[16];
		size_t n = 0;
		uint32_t cp = 0;
		size_t seq = p[i] >= 0x80 ? edl_json_utf8_decode(&cp, p + i, len - i) : 0;

		if (p[i] == '\\') {
			n = (size_t)snprintf(piece, sizeof(piece), "\\\\");
			i++;
		} else if (p[i] < 0x20 || p[i] == 0x7f ||
		           (p[i] >= 0x80 && (seq == 0 || cp < 0xa0))) {
			/* C0/C1 controls, DEL and bytes that are not UTF-8. */
			n = (size_t)snprintf(piece, sizeof(piece), "\\x%02x", p[i]);
			i++;
		} else if (p[i] >= 0x80 && ascii_only) {
			/* A character the board cannot promise to draw: dashes read as
			 * dashes, anything else as '?'. */
			piece[0] = cp == 0x2013 || cp == 0x2014 ? '-' : '?';
			n = 1;
			i += seq;
		} else if (p[i] >= 0x80) {
			memcpy(piece, p + i, seq);
			n = seq;
			i += seq;
		} else {
			piece[0] = (char)p[i];
			n = 1;
			i++;
		}
		if (o + n >= cap)
			break;
		memcpy(out + o, piece, n);
		o += n;
	}
	out[o] = '\0';
	return out;
}

char *view_escape(char *out, size_t cap, const char *in)
{
	return escape(out, cap, in, false);
}

/* The board draws bytes, not characters: anything outside printable ASCII is
 * escaped there (a terminal without UTF-8 would show garbage). */
char *view_escape_ascii(char *out, size_t cap, const char *in)
{
	return escape(out, cap, in, true);
}

void view_wall_time(char *out, size_t cap)
{
	/* The store's ISO-8601 form, so events and reports read the same. */
	edl_store_time_format(out, cap, edl_store_time_now_ms());
}

void view_text_event(struct station *st, struct session *s, const char *event, const char *msg)
{
	double t = (double)(edl_clock_ms() - st->start_ms) / 1000.0;
	char m[2048], label[160], port[160], serial[80];

	view_escape(m, sizeof(m), msg);
	if (s == NULL) {
		printf("%7.3f %s: %s\n", t, event, m);
		return;
	}
	view_escape(label, sizeof(label), s->slot_label);
	view_escape(port, sizeof(port), s->port);
	view_escape(serial, sizeof(serial), s->serial);
	if (strcmp(s->slot_label, s->port) == 0)
		printf("%7.3f [%s%s%s] %s: %s\n", t, port, serial[0] ? " SN:" : "", serial, event,
		       m);
	else
		printf("%7.3f [%s %s%s%s] %s: %s\n", t, label, port, serial[0] ? " SN:" : "",
		       serial, event, m);
}

static void json_escaped(struct edl_json *j, const char *key, const char *value)
{
	char buf[2048];

	edl_json_key(j, key);
	edl_json_string(j, view_escape(buf, sizeof(buf), value));
}

static void json_failure_keys(struct edl_json *j, int code)
{
	edl_json_key(j, "error");
	edl_json_string(j, edl_error_name(code));
	edl_json_key(j, "class");
	edl_json_string(j, edl_error_class_name(edl_error_class(code)));
	edl_json_key(j, "action");
	edl_json_string(j, edl_error_action(code));
}

void view_json_event(struct station *st, struct session *s, const char *event, const char *msg,
                     int code)
{
	struct edl_json j;
	char when[40];

	view_wall_time(when, sizeof(when));
	edl_json_init_file(&j, stdout, EDL_JSON_COMPACT);
	edl_json_object_begin(&j);
	edl_json_key(&j, "time");
	edl_json_string(&j, when);
	edl_json_key(&j, "t_ms");
	edl_json_uint(&j, edl_clock_ms() - st->start_ms);
	edl_json_key(&j, "event");
	edl_json_string(&j, event);
	if (s != NULL) {
		json_escaped(&j, "slot", s->slot_label);
		json_escaped(&j, "port", s->port);
		json_escaped(&j, "serial", s->serial);
		edl_json_key(&j, "attempt");
		edl_json_int(&j, s->attempt);
		int64_t run_id = s->unit != NULL ? edl_unit_run_id(s->unit) : 0;
		if (run_id > 0) {
			edl_json_key(&j, "run_id");
			edl_json_int(&j, run_id);
		}
	}
	json_escaped(&j, "message", msg);
	if (code != 0)
		json_failure_keys(&j, code);
	edl_json_object_end(&j);
	(void)edl_json_finish(&j); /* stdout gone: nothing to tell anyone */
}

/* The failures kept, oldest first (the ring drops the oldest past VIEW_FAILURES). */
static const struct view_failure *failure_at(const struct station *st, size_t i)
{
	size_t first = st->failures_total > VIEW_FAILURES ? st->failures_total % VIEW_FAILURES : 0;
	return &st->failures[(first + i) % VIEW_FAILURES];
}

static double per_hour(const struct station *st, unsigned n)
{
	double hours = (double)(edl_clock_ms() - st->start_ms) / 3.6e6;
	return hours > 0 ? n / hours : 0;
}

void view_text_summary(struct station *st, FILE *out)
{
	unsigned units = st->passed + st->failed;

	fprintf(out,
	        "summary: %u unit(s) finished: %u passed, %u failed; %u interrupted; first pass "
	        "yield %.1f%%; %.0f good units/hour, %.0f units/hour\n",
	        st->finished, st->passed, st->failed, st->interrupted,
	        units ? 100.0 * st->first_pass / units : 0.0, per_hour(st, st->passed),
	        per_hour(st, st->finished));
	if (st->n_failures == 0)
		return;
	fprintf(out, "failed units (%zu):\n", st->failures_total);
	if (st->failures_total > st->n_failures)
		fprintf(out, "  (%zu earlier failure(s) not shown: see edlstation report)\n",
		        st->failures_total - st->n_failures);
	for (size_t i = 0; i < st->n_failures; i++) {
		const struct view_failure *f = failure_at(st, i);
		char label[160], serial[80], stage[120], reason[1100];

		view_escape(label, sizeof(label), f->label);
		view_escape(serial, sizeof(serial), f->serial[0] ? f->serial : "-");
		view_escape(stage, sizeof(stage), f->stage[0] ? f->stage : "-");
		view_escape(reason, sizeof(reason), f->reason);
		fprintf(out, "  slot %s  serial %s  stage %s  %s (%s)\n    action: %s\n", label,
		        serial, stage, reason, edl_error_class_name(f->cls), f->action);
	}
}

void view_json_summary(struct station *st)
{
	struct edl_json j;
	char when[40];
	unsigned units = st->passed + st->failed;

	view_wall_time(when, sizeof(when));
	edl_json_init_file(&j, stdout, EDL_JSON_COMPACT);
	edl_json_object_begin(&j);
	edl_json_key(&j, "time");
	edl_json_string(&j, when);
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
	edl_json_key(&j, "first_pass_yield");
	edl_json_fixed(&j, units ? (double)st->first_pass / units : 0, 3);
	edl_json_key(&j, "good_units_per_hour");
	edl_json_fixed(&j, per_hour(st, st->passed), 1);
	edl_json_key(&j, "units_per_hour");
	edl_json_fixed(&j, per_hour(st, st->finished), 1);
	edl_json_key(&j, "failures_total");
	edl_json_uint(&j, st->failures_total);
	edl_json_key(&j, "failed_units");
	edl_json_array_begin(&j);
	for (size_t i = 0; i < st->n_failures; i++) {
		const struct view_failure *f = failure_at(st, i);
		edl_json_object_begin(&j);
		json_escaped(&j, "slot", f->label);
		json_escaped(&j, "serial", f->serial);
		json_escaped(&j, "stage", f->stage);
		json_escaped(&j, "reason", f->reason);
		if (f->run_id > 0) {
			edl_json_key(&j, "run_id");
			edl_json_int(&j, f->run_id);
		}
		json_failure_keys(&j, f->error_code);
		edl_json_object_end(&j);
	}
	edl_json_array_end(&j);
	edl_json_object_end(&j);
	(void)edl_json_finish(&j);
}
