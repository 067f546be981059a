/*
 * Tests of what the operator is shown, without a terminal: escaping of every
 * string from a device or a package, the slots in the port map's order, the
 * state a result puts a slot in (PASS, FAIL, OPERATOR, NOT RECORDED) with its
 * action, a failure kept until the slot's next unit, first-pass counting,
 * the failure list behind the board's sticky list, and the end summary that
 * names every failed unit (src/station/view.c, view_text.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "station/station_internal.h"

struct view_rig {
	struct edl_station_config cfg;
	struct station st;
	uv_loop_t loop;
};

static void add_port(struct edl_station_config *cfg, const char *port, const char *label)
{
	struct edl_station_port *p = &cfg->ports[cfg->n_ports++];
	snprintf(p->port, sizeof(p->port), "%s", port);
	snprintf(p->label, sizeof(p->label), "%s", label);
	p->slot = (int)cfg->n_ports;
}

static int rig_setup(void **state)
{
	struct view_rig *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	edl_station_config_default(&r->cfg);
	r->cfg.log_format = EDL_LOGFMT_TEXT;
	/* Not in port order: the board follows the map. */
	add_port(&r->cfg, "1-2.1", "B1");
	add_port(&r->cfg, "1-1.1", "A1");
	add_port(&r->cfg, "1-1.3", "A3");
	uv_loop_init(&r->loop);
	r->st.cfg = &r->cfg;
	r->st.loop = &r->loop;
	r->st.start_ms = edl_clock_ms();
	view_init(&r->st);
	*state = r;
	return 0;
}

static int rig_teardown(void **state)
{
	struct view_rig *r = *state;
	view_close(&r->st, NULL);
	uv_run(&r->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&r->loop), 0);
	free(r);
	return 0;
}

static void unit_on(struct session *s, const char *port, const char *label, const char *serial,
                    int attempt, const char *stage)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->port, sizeof(s->port), "%s", port);
	snprintf(s->slot_label, sizeof(s->slot_label), "%s", label);
	snprintf(s->serial, sizeof(s->serial), "%s", serial);
	snprintf(s->stage, sizeof(s->stage), "%s", stage);
	s->attempt = attempt;
}

/* Runs fn with stdout going to a buffer; returns what it printed (caller frees). */
static char *stdout_of(void (*fn)(void *), void *arg)
{
	FILE *tmp = tmpfile();
	int saved = dup(STDOUT_FILENO);
	assert_non_null(tmp);
	fflush(stdout);
	dup2(fileno(tmp), STDOUT_FILENO);
	fn(arg);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	long n = ftell(tmp);
	char *text = calloc(1, (size_t)n + 1);
	rewind(tmp);
	assert_int_equal(fread(text, 1, (size_t)n, tmp), (size_t)n);
	fclose(tmp);
	return text;
}

static char *summary_of(struct station *st)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	view_text_summary(st, f);
	fclose(f);
	return text;
}

static void test_view_escape_writes_controls_as_hex(void **state)
{
	char out[128];
	(void)state;

	assert_string_equal(view_escape(out, sizeof(out), "A\nB\x1b[31m\\x\x7f"),
	                    "A\\x0aB\\x1b[31m\\\\x\\x7f");
	assert_string_equal(view_escape(out, sizeof(out), "\r\t"), "\\x0d\\x09");
	/* Bytes that are not UTF-8, and C1 controls, are escaped; characters stay. */
	assert_string_equal(view_escape(out, sizeof(out), "\xff\xc2\x85"), "\\xff\\xc2\\x85");
	assert_string_equal(view_escape(out, sizeof(out), "Ä1 — ok"), "Ä1 — ok");
	/* The board draws ASCII only. */
	assert_string_equal(view_escape_ascii(out, sizeof(out), "Ä1 — \n"), "?1 - \\x0a");
	/* Cut short at a whole escape, never inside one. */
	assert_string_equal(view_escape(out, 5, "abcdefgh"), "abcd");
	assert_string_equal(view_escape(out, 6, "ab\ncd"), "ab");
	assert_string_equal(view_escape(out, sizeof(out), NULL), "");
}

static void test_view_slots_follow_the_port_map(void **state)
{
	struct view_rig *r = *state;

	assert_int_equal(r->st.n_slots, 3);
	assert_string_equal(r->st.slots[0].label, "B1");
	assert_string_equal(r->st.slots[1].label, "A1");
	assert_string_equal(r->st.slots[2].label, "A3");
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(r->st.slots[i].state, SLOT_IDLE);
	/* An unmapped port is appended, named by its port. */
	struct slot_view *v = view_slot(&r->st, "1-4.7", NULL);
	assert_non_null(v);
	assert_int_equal(r->st.n_slots, 4);
	assert_string_equal(v->label, "1-4.7");
	assert_ptr_equal(view_slot(&r->st, "1-1.1", NULL), &r->st.slots[1]);
}

static void results(void *arg)
{
	struct station *st = arg;
	struct session s;

	unit_on(&s, "1-1.3", "A3", "1a2b3c4f", 1, "probe");
	view_unit_result(st, &s, EDL_RESULT_FAIL, EDL_E_POWER_CYCLE, NULL,
	                 "device does not answer");
	unit_on(&s, "1-2.1", "B1", "1a2b3c51", 1, "program");
	view_unit_result(st, &s, EDL_RESULT_FAIL, EDL_E_FH_NAK, "program", "NAK on program");
	unit_on(&s, "1-1.1", "A1", "1a2b3c4d", 1, "done");
	view_unit_result(st, &s, EDL_RESULT_PASS, 0, NULL, NULL);
	unit_on(&s, "1-4.1", "D1", "1a2b3c60", 2, "done");
	view_unit_result(st, &s, EDL_RESULT_PASS, 0, NULL, NULL);
	unit_on(&s, "1-4.2", "D2", "1a2b3c61", 1, "done");
	view_unit_result(st, &s, EDL_RESULT_FAIL, EDL_E_NOT_RECORDED, "commit", "not recorded");
}

static void test_view_result_sets_state_action_and_list(void **state)
{
	struct view_rig *r = *state;
	struct station *st = &r->st;
	char *out = stdout_of(results, st);

	assert_int_equal(st->slots[2].state, SLOT_OPERATOR);
	assert_string_equal(st->slots[2].reason, "device does not answer");
	assert_string_equal(st->slots[2].action, edl_error_action(EDL_E_POWER_CYCLE));
	assert_string_equal(st->slots[2].stage, "probe");
	assert_int_equal(st->slots[2].cls, EDL_CLASS_POWER_CYCLE);
	assert_int_equal(st->slots[0].state, SLOT_FAIL);
	assert_int_equal(st->slots[0].cls, EDL_CLASS_RMA);
	assert_int_equal(st->slots[1].state, SLOT_PASS);
	assert_int_equal(view_slot(st, "1-4.2", NULL)->state, SLOT_NOT_RECORDED);
	/* Only the unit that passed on its first attempt counts for FPY. */
	assert_int_equal(st->first_pass, 1);
	assert_int_equal(st->failures_total, 3);
	assert_int_equal(st->n_failures, 3);
	assert_string_equal(st->failures[0].label, "A3");
	assert_string_equal(st->failures[0].serial, "1a2b3c4f");
	assert_string_equal(st->failures[0].stage, "probe");
	assert_int_equal(st->failures[1].error_code, EDL_E_FH_NAK);
	assert_string_equal(st->failures[1].action, "set the unit aside for RMA");
	/* Each failure's action is a line of its own. */
	assert_non_null(strstr(out, "[B1 1-2.1 SN:1a2b3c51] action: set the unit aside for RMA\n"));
	free(out);
}

static void test_view_failure_kept_until_the_next_unit(void **state)
{
	struct view_rig *r = *state;
	struct station *st = &r->st;
	struct slot_view *v = &st->slots[2];
	struct session s;

	free(stdout_of(results, st));
	/* The failed unit is still there, then taken away: the failure stays. */
	v->active = false;
	unit_on(&s, "1-1.3", "A3", "1a2b3c4f", 1, "probe");
	view_progress(st, &s);
	assert_int_equal(v->state, SLOT_OPERATOR);
	assert_string_equal(v->action, edl_error_action(EDL_E_POWER_CYCLE));
	/* The slot's next unit (station.c marks it active with a new start). */
	v->active = true;
	v->start_ms = v->result_of_start + 1000;
	unit_on(&s, "1-1.3", "A3", "1a2b3c70", 1, "sahara");
	view_progress(st, &s);
	assert_int_equal(v->state, SLOT_RUNNING);
	assert_string_equal(v->reason, "");
	assert_string_equal(v->action, "");
	assert_string_equal(v->serial, "1a2b3c70");
	/* The failure list keeps it. */
	assert_int_equal(st->failures_total, 3);
}

static void test_view_summary_names_every_failed_unit(void **state)
{
	struct view_rig *r = *state;
	struct station *st = &r->st;

	free(stdout_of(results, st));
	st->finished = 5, st->passed = 2, st->failed = 3;
	char *text = summary_of(st);
	assert_non_null(strstr(text, "summary: 5 unit(s) finished: 2 passed, 3 failed;"));
	assert_non_null(strstr(text, "first pass yield 20.0%"));
	assert_non_null(strstr(text, "failed units (3):\n"));
	assert_non_null(strstr(text, "  slot A3  serial 1a2b3c4f  stage probe  device does not "
	                             "answer (power-cycle)\n    action: power-cycle the unit"));
	assert_non_null(strstr(text, "  slot B1  serial 1a2b3c51  stage program  NAK on program "
	                             "(rma)\n    action: set the unit aside for RMA\n"));
	free(text);
}

static void hostile(void *arg)
{
	struct station *st = arg;
	struct session s;

	unit_on(&s, "1-1.1", "A1\npass: fake", "1a2b\x1b[2J", 1, "program");
	view_event(st, &s, "fail", "program: %s", "NAK\n1.000 pass: fake");
	view_unit_result(st, &s, EDL_RESULT_FAIL, EDL_E_FH_NAK, "pro\ngram", NULL);
}

static void test_view_device_text_cannot_fake_a_line(void **state)
{
	struct view_rig *r = *state;
	struct station *st = &r->st;
	char *out = stdout_of(hostile, st);
	char *sum = summary_of(st);

	for (const char *text = out; text != NULL; text = text == out ? sum : NULL) {
		assert_null(strchr(text, '\x1b'));
		assert_null(strstr(text, "\npass: fake"));
		assert_null(strstr(text, "\n1.000 pass: fake"));
	}
	assert_non_null(strstr(out, "[A1\\x0apass: fake 1-1.1 SN:1a2b\\x1b[2J] fail: program: "
	                            "NAK\\x0a1.000 pass: fake\n"));
	assert_non_null(strstr(sum, "  slot A1\\x0apass: fake  serial 1a2b\\x1b[2J  stage "
	                            "pro\\x0agram  program: NAK\\x0a1.000 pass: fake (rma)\n"));
	free(out);
	free(sum);
}

static void many_failures(void *arg)
{
	struct station *st = arg;
	struct session s;

	for (int i = 0; i < VIEW_FAILURES + 6; i++) {
		char serial[16];
		snprintf(serial, sizeof(serial), "%08x", 0x1000 + i);
		unit_on(&s, "1-1.1", "A1", serial, 1, "program");
		view_unit_result(st, &s, EDL_RESULT_FAIL, EDL_E_USB_GONE, "program", "gone");
	}
}

static void test_view_failure_list_keeps_the_latest(void **state)
{
	struct view_rig *r = *state;
	struct station *st = &r->st;

	free(stdout_of(many_failures, st));
	assert_int_equal(st->failures_total, VIEW_FAILURES + 6);
	assert_int_equal(st->n_failures, VIEW_FAILURES);
	char *text = summary_of(st);
	assert_non_null(strstr(text, "(6 earlier failure(s) not shown: see edlstation report)"));
	assert_null(strstr(text, "serial 00001005 "));
	char *first = strstr(text, "serial 00001006 ");
	char *last = strstr(text, "serial 00001045 ");
	assert_non_null(first);
	assert_non_null(last);
	assert_true(first < last);
	free(text);
}

static void test_view_key_resume_is_taken_once(void **state)
{
	struct view_rig *r = *state;

	assert_false(view_take_resume(&r->st));
	r->st.view_resume = true;
	assert_true(view_take_resume(&r->st));
	assert_false(view_take_resume(&r->st));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_view_escape_writes_controls_as_hex),
	        cmocka_unit_test_setup_teardown(test_view_slots_follow_the_port_map, rig_setup,
	                                        rig_teardown),
	        cmocka_unit_test_setup_teardown(test_view_result_sets_state_action_and_list,
	                                        rig_setup, rig_teardown),
	        cmocka_unit_test_setup_teardown(test_view_failure_kept_until_the_next_unit,
	                                        rig_setup, rig_teardown),
	        cmocka_unit_test_setup_teardown(test_view_summary_names_every_failed_unit,
	                                        rig_setup, rig_teardown),
	        cmocka_unit_test_setup_teardown(test_view_device_text_cannot_fake_a_line, rig_setup,
	                                        rig_teardown),
	        cmocka_unit_test_setup_teardown(test_view_failure_list_keeps_the_latest, rig_setup,
	                                        rig_teardown),
	        cmocka_unit_test_setup_teardown(test_view_key_resume_is_taken_once, rig_setup,
	                                        rig_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
