/*
 * Unit tests of the factory sync's decisions, without a server: the password
 * never shown (a URI's user:password@ and ?password=, key=value pairs quoted
 * or not, a nested dbname, strings libpq refuses, libpq's own reason), the
 * sync target without it, the cursor (forward only on a confirmed commit,
 * back only to what the server holds), the backoff (doubling, capped,
 * jittered within bounds), the event rate limit, the COPY text encoding
 * (escapes, invalid UTF-8), and the [factory] config keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "edlstation/factory.h"
#include "edlstation/station.h"
#include "factory/factory_internal.h"

static const char *mask(const char *s)
{
	static char out[512];
	return edl_factory_conninfo_mask(out, sizeof(out), s);
}

static const char *target(const char *s)
{
	static char out[512];
	return edl_factory_conninfo_target(out, sizeof(out), s);
}

static void test_mask_uri_password(void **state)
{
	(void)state;
	assert_string_equal(mask("postgresql://edl:s3cret@db.factory:5432/runs"),
	                    "postgresql://edl:***@db.factory:5432/runs");
	assert_string_equal(mask("postgres://edl:s3cret@db/runs?sslmode=require&password=two"),
	                    "postgres://edl:***@db/runs?sslmode=require&password=***");
	/* No password: shown as written. */
	assert_string_equal(mask("postgresql://edl@db:5432/runs"), "postgresql://edl@db:5432/runs");
	assert_string_equal(mask("postgresql://db:5432/runs"), "postgresql://db:5432/runs");
	/* A hostile password holding '/' or '@' (not percent-encoded). */
	assert_null(strstr(mask("postgresql://u:se/cr@et@h/db"), "se/cr"));
	assert_null(strstr(mask("postgresql://u:se/cr@et@h/db"), "et@h"));
	assert_string_equal(mask("postgresql://u:se/cr@et@h/db"), "postgresql://u:***@h/db");
}

static void test_mask_pairs_password(void **state)
{
	(void)state;
	assert_string_equal(mask("host=db password=s3cret dbname=runs"),
	                    "host=db password=*** dbname=runs");
	assert_string_equal(mask("host=db password = 'se cr\\'et' dbname=runs"),
	                    "host=db password=*** dbname=runs");
	/* dbname may be a whole connection string: masked inside. */
	assert_string_equal(mask("dbname='postgresql://u:pw@h/d' host=x"),
	                    "dbname='postgresql://u:***@h/d' host=x");
	assert_string_equal(mask("dbname='user=u password=pw'"), "dbname='user=u password=***'");
	/* Broken strings libpq refuses: whatever might be the secret is hidden. */
	assert_null(strstr(mask("host=a password secret"), "secret"));
	assert_null(strstr(mask("host=a password=b c"), " c"));
	assert_null(strstr(mask("host=x password = 'abc"), "abc"));
	assert_string_equal(mask(""), "");
}

static void test_mask_truncates_safely(void **state)
{
	char small[12];
	(void)state;
	edl_factory_conninfo_mask(small, sizeof(small), "postgresql://edl:s3cret@db/runs");
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_null(strstr(small, "s3c"));
	edl_factory_conninfo_mask(small, 0, "x"); /* nothing written, no crash */
}

static void test_target_drops_password(void **state)
{
	(void)state;
	assert_string_equal(
	        target("postgresql://edl:s3cret@db:5432/runs?password=x&sslmode=require"),
	        "postgresql://edl@db:5432/runs?sslmode=require");
	assert_string_equal(target("host=db password=s3cret dbname=runs"), "host=db dbname=runs");
	assert_string_equal(target("password=s3cret host=db"), "host=db");
	/* A new password keeps the same cursor. */
	assert_string_equal(target("postgresql://edl:one@db/runs"),
	                    target("postgresql://edl:two@db/runs"));
}

static void test_conninfo_check(void **state)
{
	struct edl_error err;
	(void)state;
	assert_int_equal(edl_factory_conninfo_check("postgresql://edl:pw@127.0.0.1:5432/f", &err),
	                 EDL_OK);
	assert_int_equal(edl_factory_conninfo_check("host=127.0.0.1 dbname=f", &err), EDL_OK);
	assert_int_equal(edl_factory_conninfo_check("", &err), EDL_E_CONFIG);
	assert_int_equal(edl_factory_conninfo_check("host=a password=hunter2 junk", &err),
	                 EDL_E_CONFIG);
	assert_null(strstr(err.detail, "hunter2"));
	assert_null(strstr(err.detail, "junk")); /* libpq quotes it: a piece of the password? */
	assert_non_null(strstr(err.detail, "host=a"));
	assert_int_equal(edl_factory_conninfo_check("postgresql://u:hunter2@h/db?nosuch=1", &err),
	                 EDL_E_CONFIG);
	assert_null(strstr(err.detail, "hunter2"));
	assert_int_equal(edl_factory_conninfo_check("nosuchkey=1", &err), EDL_E_CONFIG);
	assert_non_null(strstr(err.detail, "nosuchkey"));
}

static void test_redact_messages(void **state)
{
	char out[256];
	(void)state;
	edl_factory_redact(out, sizeof(out), "FATAL: bad login hunter2 for edl",
	                   "postgresql://edl:hunter2@h/db");
	assert_string_equal(out, "FATAL: bad login *** for edl");
	edl_factory_redact(out, sizeof(out), "x 'se cret' y se cret", "host=h password='se cret'");
	assert_string_equal(out, "x '***' y ***");
	/* Percent-encoded in the URI: libpq's decoded form is what a message shows. */
	edl_factory_redact(out, sizeof(out), "p@ss here", "postgresql://u:p%40ss@h/db");
	assert_string_equal(out, "*** here");
	edl_factory_redact(out, sizeof(out), "no secret", "host=h");
	assert_string_equal(out, "no secret");
}

static void test_cursor_moves_only_forward_on_commit(void **state)
{
	(void)state;
	assert_int_equal(edl_factory_cursor_after(10, 20, true), 20);
	assert_int_equal(edl_factory_cursor_after(10, 20, false), 10); /* lost answer: resend */
	assert_int_equal(edl_factory_cursor_after(30, 20, true), 30);  /* never backwards */
	/* Connected: the server holds the run at the cursor: kept. */
	assert_int_equal(edl_factory_cursor_verified(40, true, 0), 40);
	/* It lost what it confirmed: back to what it holds, never forward. */
	assert_int_equal(edl_factory_cursor_verified(40, false, 25), 25);
	assert_int_equal(edl_factory_cursor_verified(40, false, 0), 0);
	assert_int_equal(edl_factory_cursor_verified(40, false, 99), 40);
	assert_int_equal(edl_factory_cursor_verified(0, false, 0), 0);
}

static void test_backoff_doubles_to_the_cap(void **state)
{
	(void)state;
	assert_int_equal(edl_factory_backoff_ms(1, 500, 30000, NULL), 500);
	assert_int_equal(edl_factory_backoff_ms(2, 500, 30000, NULL), 1000);
	assert_int_equal(edl_factory_backoff_ms(3, 500, 30000, NULL), 2000);
	assert_int_equal(edl_factory_backoff_ms(7, 500, 30000, NULL), 30000);
	assert_int_equal(edl_factory_backoff_ms(1000, 500, 30000, NULL), 30000);
	assert_int_equal(edl_factory_backoff_ms(1, 500, 100, NULL), 500); /* cap below min */
	uint32_t seed = 12345;
	bool varied = false;
	int64_t first = -1;
	for (int i = 0; i < 200; i++) {
		int64_t w = edl_factory_backoff_ms(3, 500, 30000, &seed);
		assert_true(w >= 1500 && w <= 2500);
		if (first < 0)
			first = w;
		else if (w != first)
			varied = true;
		assert_true(edl_factory_backoff_ms(50, 500, 30000, &seed) <= 30000);
	}
	assert_true(varied);
}

static void test_events_rate_limited(void **state)
{
	struct edl_factory_event_limit l = {0};
	(void)state;
	assert_false(edl_factory_event_due(&l, true, 0)); /* fine from the start: silent */
	assert_true(edl_factory_event_due(&l, false, 1000));
	assert_false(edl_factory_event_due(&l, false, 2000));
	assert_false(edl_factory_event_due(&l, false, 1000 + EDL_FACTORY_EVENT_REPEAT_MS - 1));
	assert_true(edl_factory_event_due(&l, false, 1000 + EDL_FACTORY_EVENT_REPEAT_MS));
	assert_true(edl_factory_event_due(&l, true, 90000)); /* recovered: said once */
	assert_false(edl_factory_event_due(&l, true, 91000));
	assert_true(edl_factory_event_due(&l, false, 92000)); /* a new outage: said at once */
}

static void test_copy_text_escapes(void **state)
{
	struct edl_copy_buf b;
	(void)state;
	edl_copy_init(&b);
	edl_copy_text(&b, "a\tb\nc\\d\re", 9);
	edl_copy_sep(&b);
	edl_copy_text(&b, NULL, 0);
	edl_copy_sep(&b);
	edl_copy_int(&b, -42);
	edl_copy_sep(&b);
	edl_copy_real(&b, 0.1);
	edl_copy_eol(&b);
	const char want[] = "a\\tb\\nc\\\\d\\re\t\\N\t-42\t0.10000000000000001\n";
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.data, want, b.len);
	edl_copy_reset(&b);
	/* Valid UTF-8 passes; invalid bytes, overlongs and surrogates become U+FFFD. */
	const char in[] = "\xc3\xa9|\xff|\xc0\xaf|\xed\xa0\x80|\xf0\x9f\x98\x80|\xe2\x82";
	edl_copy_text(&b, in, sizeof(in) - 1);
	const char out[] = "\xc3\xa9|\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd|"
	                   "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|\xf0\x9f\x98\x80|"
	                   "\xef\xbf\xbd\xef\xbf\xbd";
	assert_int_equal(b.len, sizeof(out) - 1);
	assert_memory_equal(b.data, out, b.len);
	edl_copy_free(&b);
}

static void test_config_factory_keys(void **state)
{
	static struct edl_station_config cfg;
	struct edl_error err;
	const char ok[] = "[factory]\ndatabase = postgresql://edl:pw@10.0.0.5/factory\n"
	                  "line = L3\nbatch = 500\nretry_max_s = 60\ntimeout_s = 5\n";
	const char bad[] = "[factory]\ndatabase = host=a password=hunter2 oops\n";
	const char bad_batch[] = "[factory]\nbatch = 0\n";
	(void)state;
	edl_station_config_default(&cfg);
	assert_int_equal(
	        edl_station_config_parse(&cfg, "t.ini", ok, sizeof(ok) - 1, NULL, NULL, &err),
	        EDL_OK);
	assert_string_equal(cfg.factory_database, "postgresql://edl:pw@10.0.0.5/factory");
	assert_string_equal(cfg.factory_line, "L3");
	assert_int_equal(cfg.factory_batch, 500);
	assert_int_equal(cfg.factory_retry_max_s, 60);
	assert_int_equal(cfg.factory_timeout_s, 5);
	edl_station_config_default(&cfg);
	assert_int_equal(
	        edl_station_config_parse(&cfg, "t.ini", bad, sizeof(bad) - 1, NULL, NULL, &err),
	        EDL_E_CONFIG);
	assert_non_null(strstr(err.detail, "t.ini:2: [factory] database"));
	assert_null(strstr(err.detail, "hunter2"));
	edl_station_config_default(&cfg);
	assert_int_equal(edl_station_config_parse(&cfg, "t.ini", bad_batch, sizeof(bad_batch) - 1,
	                                          NULL, NULL, &err),
	                 EDL_E_CONFIG);
	assert_non_null(strstr(err.detail, "[factory] batch"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_mask_uri_password),
	        cmocka_unit_test(test_mask_pairs_password),
	        cmocka_unit_test(test_mask_truncates_safely),
	        cmocka_unit_test(test_target_drops_password),
	        cmocka_unit_test(test_conninfo_check),
	        cmocka_unit_test(test_redact_messages),
	        cmocka_unit_test(test_cursor_moves_only_forward_on_commit),
	        cmocka_unit_test(test_backoff_doubles_to_the_cap),
	        cmocka_unit_test(test_events_rate_limited),
	        cmocka_unit_test(test_copy_text_escapes),
	        cmocka_unit_test(test_config_factory_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
