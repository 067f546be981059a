/*
 * Tests of the station's INI loader (src/station/config.c) on text in memory:
 * what is written is what is read. Comments of any length stay comments (the
 * bug: a 199-byte comment's tail "verify = no" was read as a key), key lines
 * longer than inih's buffer, NULs, control characters and text that is no
 * line of INI are refused at their line; CRLF and a BOM are accepted; every
 * key's line is kept so later checks can name it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "edlstation/station.h"

struct problems {
	unsigned n;
	char first[EDL_ERROR_DETAIL_MAX];
};

static void on_problem(const char *message, void *data)
{
	struct problems *p = data;
	if (p->n++ == 0)
		snprintf(p->first, sizeof(p->first), "%s", message);
}

static struct edl_station_config cfg;

static int parse(const char *text, size_t len, struct problems *p, struct edl_error *err)
{
	memset(p, 0, sizeof(*p));
	edl_station_config_default(&cfg);
	return edl_station_config_parse(&cfg, "t.ini", text, len, on_problem, p, err);
}

/* "[flash]\n" + a comment line of n bytes + "\nverify = off\n" */
static char *comment_then_verify(size_t n, size_t *len)
{
	const char *tail = " verify = no";
	char *t = malloc(n + 64);
	size_t o = (size_t)sprintf(t, "[flash]\n;");
	size_t fill = n > strlen(tail) + 1 ? n - 1 - strlen(tail) : 0;
	memset(t + o, 'x', fill);
	o += fill;
	if (n > strlen(tail) + 1) {
		memcpy(t + o, tail, strlen(tail));
		o += strlen(tail);
	}
	o += (size_t)sprintf(t + o, "\nverify = digest\n");
	*len = o;
	return t;
}

static void test_config_long_comments_stay_comments(void **state)
{
	(void)state;
	static const size_t sizes[] = {1, 200, 4000, 100000};
	for (size_t i = 0; i < 4; i++) {
		struct problems p;
		struct edl_error err;
		size_t len;
		char *t = comment_then_verify(sizes[i], &len);
		assert_int_equal(parse(t, len, &p, &err), EDL_OK);
		assert_int_equal(p.n, 0);
		assert_int_equal(cfg.verify, EDL_VERIFY_DIGEST);
		assert_int_equal(edl_station_config_line(&cfg, "flash", "verify"), 3);
		free(t);
	}
}

static void test_config_long_key_lines_refused_at_their_line(void **state)
{
	(void)state;
	static const size_t sizes[] = {200, 4000, 100000};
	for (size_t i = 0; i < 3; i++) {
		struct problems p;
		struct edl_error err;
		char *t = malloc(sizes[i] + 64);
		size_t o = (size_t)sprintf(t, "[station]\nname = ");
		memset(t + o, 'v', sizes[i]);
		o += sizes[i];
		o += (size_t)sprintf(t + o, "\n[flash]\nverify = off\n");
		assert_int_equal(parse(t, o, &p, &err), EDL_E_CONFIG);
		char want[128];
		snprintf(want, sizeof(want),
		         "t.ini:2: line is %zu bytes, the longest a key line may be is 197",
		         sizes[i] + 7);
		assert_non_null(strstr(err.detail, want));
		assert_int_equal(p.n, 1);
		/* The rest of the file is still read as written. */
		assert_int_equal(cfg.verify, EDL_VERIFY_OFF);
		assert_string_equal(cfg.name, "station");
		free(t);
	}
}

static void test_config_nul_refused_with_line_and_column(void **state)
{
	(void)state;
	static const char t[] = "[station]\n\nname = ab\0cd\n";
	struct problems p;
	struct edl_error err;
	assert_int_equal(parse(t, sizeof(t) - 1, &p, &err), EDL_E_CONFIG);
	assert_non_null(strstr(err.detail, "t.ini:3: NUL byte at column 10"));
	assert_string_equal(cfg.name, "station");
}

static void test_config_crlf_and_bom_read_as_written(void **state)
{
	(void)state;
	static const char t[] = "\xef\xbb\xbf[station]\r\nname = line-2 ; a comment\r\n"
	                        "[ports]\r\n1-1.1 = A1\r\n[flash]\r\nverify = a;b\r\n";
	struct problems p;
	struct edl_error err;
	assert_int_equal(parse(t, sizeof(t) - 1, &p, &err), EDL_E_CONFIG);
	/* "a;b": the ';' is inside the value, which verify does not take. */
	assert_non_null(strstr(err.detail, "t.ini:6: [flash] verify: 'a;b' is not accepted"));
	assert_string_equal(cfg.name, "line-2");
	assert_int_equal(cfg.n_ports, 1);
	assert_string_equal(cfg.ports[0].label, "A1");
	assert_int_equal(edl_station_config_line(&cfg, "ports", "1-1.1"), 4);
}

static void test_config_unknown_text_is_an_error_never_a_key(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        "[flash]\nverify off\n",
	        "[flash]\nverify: off\n",
	        "[flash\nverify = off\n",
	        "[flash]\n= off\n",
	        "[flash]\nx\n",
	        "[flash]\nverify = o\x01"
	        "ff\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct problems p;
		struct edl_error err;
		assert_int_equal(parse(bad[i], strlen(bad[i]), &p, &err), EDL_E_CONFIG);
		assert_int_equal(cfg.verify, EDL_VERIFY_AUTO);
		assert_true(strncmp(err.detail, "t.ini:", 6) == 0);
	}
}

static void test_config_every_problem_reported_with_its_fix(void **state)
{
	(void)state;
	static const char t[] = "[flash]\nverfy = off\ninflight = 9\ninflight = 2\n"
	                        "[timeout]\nhello_ms = 1\n[ports]\n1-1.1 = A1\n1-1.2 = A1\n";
	struct problems p;
	struct edl_error err;
	assert_int_equal(parse(t, sizeof(t) - 1, &p, &err), EDL_E_CONFIG);
	assert_int_equal(p.n, 4);
	assert_string_equal(err.detail,
	                    "t.ini:2: [flash] verfy: unknown key — did you mean verify?");
}

static void test_config_where_names_line_or_option(void **state)
{
	(void)state;
	static const char t[] = "[results]\n\ndatabase = /x/r.db\n";
	struct problems p;
	struct edl_error err;
	char buf[256];
	assert_int_equal(parse(t, sizeof(t) - 1, &p, &err), EDL_OK);
	assert_string_equal(edl_station_config_where(&cfg, "results", "database", buf, sizeof(buf)),
	                    "t.ini:3: [results] database");
	assert_string_equal(edl_station_config_where(&cfg, "results", "log_dir", buf, sizeof(buf)),
	                    "[results] log_dir");
	edl_station_config_set_by(&cfg, "results", "database", "--db");
	assert_string_equal(edl_station_config_where(&cfg, "results", "database", buf, sizeof(buf)),
	                    "--db");
}

/* [web] (issue 13): defaults, values read, hostile values refused with the
 * line and the fix, and a token never echoed in a message. */
static void test_config_web_keys_and_refusals(void **state)
{
	(void)state;
	static const char ok[] = "[web]\nlisten = [::1]:8080\ntoken = 0123456789abcdef\n"
	                         "max_clients = 8\nstatic_dir = /srv/web\nmax_body_bytes = 0\n";
	struct problems p;
	struct edl_error err;
	assert_int_equal(parse("", 0, &p, &err), EDL_OK);
	assert_string_equal(cfg.web.listen, "");
	assert_int_equal(cfg.web.max_clients, EDL_WEB_MAX_CLIENTS_DEFAULT);
	assert_int_equal(parse(ok, sizeof(ok) - 1, &p, &err), EDL_OK);
	assert_string_equal(cfg.web.listen, "[::1]:8080");
	assert_string_equal(cfg.web.token, "0123456789abcdef");
	assert_int_equal(cfg.web.max_clients, 8);
	assert_string_equal(cfg.web.static_dir, "/srv/web");
	assert_int_equal(cfg.web.max_body_bytes, 0);
	assert_int_equal(cfg.web.max_header_bytes, EDL_WEB_MAX_HEADER_DEFAULT);

	static const struct {
		const char *text, *says;
	} bad[] = {
	        {"[web]\nlisten = localhost:8080\n", "t.ini:2: [web] listen"},
	        {"[web]\nlisten = 127.0.0.1:99999\n", "the port must be a number from 1 to 65535"},
	        {"[web]\nlisten = localhost:8080\n", "host names are not looked up"},
	        {"[web]\nmax_clients = 0\n", "1 to 4096"},
	        {"[web]\nmax_header_bytes = 10\n", "1024 to 1048576"},
	        {"[web]\nlisten_on = x\n", "the keys of [web] are listen, token"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i].text, strlen(bad[i].text), &p, &err), EDL_E_CONFIG);
		if (strstr(err.detail, bad[i].says) == NULL)
			fail_msg("'%s' does not say '%s'", err.detail, bad[i].says);
	}
	static const char short_token[] = "[web]\ntoken = secret7\n";
	assert_int_equal(parse(short_token, sizeof(short_token) - 1, &p, &err), EDL_E_CONFIG);
	assert_non_null(strstr(err.detail, "8 to 255 characters"));
	assert_null(strstr(err.detail, "secret7"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_config_long_comments_stay_comments),
	        cmocka_unit_test(test_config_long_key_lines_refused_at_their_line),
	        cmocka_unit_test(test_config_nul_refused_with_line_and_column),
	        cmocka_unit_test(test_config_crlf_and_bom_read_as_written),
	        cmocka_unit_test(test_config_unknown_text_is_an_error_never_a_key),
	        cmocka_unit_test(test_config_every_problem_reported_with_its_fix),
	        cmocka_unit_test(test_config_where_names_line_or_option),
	        cmocka_unit_test(test_config_web_keys_and_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
