/*
 * The web module's decisions without a socket: what a listen address, a
 * query string, a control body and a resume position mean, what the event
 * ring holds after it wrapped, and how metric label values are escaped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "web/web_internal.h"

static void test_listen_accepts_ipv4_and_bracketed_ipv6(void **state)
{
	struct sockaddr_storage a;
	char why[256];
	(void)state;

	assert_int_equal(edl_web_parse_listen("127.0.0.1:8080", &a, why, sizeof(why)), 0);
	assert_int_equal(a.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&a)->sin_port), 8080);
	assert_int_equal(edl_web_parse_listen("[::1]:9", &a, why, sizeof(why)), 0);
	assert_int_equal(a.ss_family, AF_INET6);
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&a)->sin6_port), 9);
	assert_int_equal(edl_web_parse_listen("0.0.0.0:65535", &a, why, sizeof(why)), 0);
}

static void test_listen_refuses_what_it_cannot_bind_with_a_reason(void **state)
{
	struct sockaddr_storage a;
	char why[256];
	(void)state;
	static const char *const bad[] = {
	        "8080",     "localhost:8080", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:80x",
	        "::1:8080", "[::1]8080",      "[zz]:80",     "127.0.0.1:",      ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		assert_int_equal(edl_web_parse_listen(bad[i], &a, why, sizeof(why)), -1);
		assert_true(strlen(why) > 10);
	}
	edl_web_parse_listen("localhost:8080", &a, why, sizeof(why));
	assert_non_null(strstr(why, "not looked up"));
}

static void test_query_decodes_and_bounds_values(void **state)
{
	char v[16];
	const char *q = "since=24h&slot=A%203&serial=1a2b+3&empty=&flag";
	(void)state;

	assert_int_equal(edl_web_query_get(q, strlen(q), "since", v, sizeof(v)), 1);
	assert_string_equal(v, "24h");
	assert_int_equal(edl_web_query_get(q, strlen(q), "slot", v, sizeof(v)), 1);
	assert_string_equal(v, "A 3");
	assert_int_equal(edl_web_query_get(q, strlen(q), "serial", v, sizeof(v)), 1);
	assert_string_equal(v, "1a2b 3");
	assert_int_equal(edl_web_query_get(q, strlen(q), "empty", v, sizeof(v)), 1);
	assert_string_equal(v, "");
	assert_int_equal(edl_web_query_get(q, strlen(q), "flag", v, sizeof(v)), 1);
	assert_int_equal(edl_web_query_get(q, strlen(q), "sinc", v, sizeof(v)), 0);
	assert_int_equal(edl_web_query_get(q, strlen(q), "until", v, sizeof(v)), 0);
	/* Malformed escapes, a NUL, and a value longer than the buffer. */
	static const char *const bad[] = {"a=%", "a=%4", "a=%zz", "a=%00", "a=0123456789abcdef"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(edl_web_query_get(bad[i], strlen(bad[i]), "a", v, sizeof(v)), -1);
	/* Only the length given is read: "b" past it does not exist. */
	assert_int_equal(edl_web_query_get("a=1&b=2", 3, "b", v, sizeof(v)), 0);
}

static void test_query_names_the_first_unknown_key(void **state)
{
	static const char *const keys[] = {"since", "until", NULL};
	const char *bad = NULL;
	size_t bad_len = 0;
	const char *q = "since=1h&&until=now&sinse=2h";
	(void)state;

	assert_true(edl_web_query_keys_known("since=1&until=2", 15, keys, &bad, &bad_len));
	assert_true(edl_web_query_keys_known("", 0, keys, &bad, &bad_len));
	assert_false(edl_web_query_keys_known(q, strlen(q), keys, &bad, &bad_len));
	assert_int_equal(bad_len, 5);
	assert_memory_equal(bad, "sinse", 5);
}

static void test_u64_whole_numbers_only(void **state)
{
	uint64_t v;
	(void)state;

	assert_int_equal(edl_web_parse_u64("0", 1, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(edl_web_parse_u64("18446744073709551615", 20, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(edl_web_parse_u64("18446744073709551616", 20, &v), -1);
	assert_int_equal(edl_web_parse_u64("", 0, &v), -1);
	assert_int_equal(edl_web_parse_u64("-1", 2, &v), -1);
	assert_int_equal(edl_web_parse_u64("12 ", 3, &v), -1);
	assert_int_equal(edl_web_parse_u64("0x10", 4, &v), -1);
}

static void test_token_compare_needs_every_byte(void **state)
{
	(void)state;
	assert_true(edl_web_token_equal("secret-1", 8, "secret-1"));
	assert_false(edl_web_token_equal("secret-2", 8, "secret-1"));
	assert_false(edl_web_token_equal("secret-", 7, "secret-1"));
	assert_false(edl_web_token_equal("secret-11", 9, "secret-1"));
	assert_false(edl_web_token_equal("", 0, ""));
	/* A NUL inside the given token cannot end the comparison early. */
	assert_false(edl_web_token_equal("secret-1\0x", 10, "secret-1"));
}

static void test_ring_keeps_the_last_events_after_wrapping(void **state)
{
	struct edl_web_ring r;
	char text[32];
	(void)state;

	assert_int_equal(edl_web_ring_init(&r, 4), 0);
	assert_int_equal(edl_web_ring_first(&r), 1);
	assert_null(edl_web_ring_get(&r, 1));
	for (int i = 1; i <= 10; i++) {
		int n = snprintf(text, sizeof(text), "{\"n\":%d}", i);
		assert_int_equal(edl_web_ring_push(&r, text, (size_t)n), (uint64_t)i);
	}
	assert_int_equal(edl_web_ring_first(&r), 7);
	assert_null(edl_web_ring_get(&r, 6));
	assert_null(edl_web_ring_get(&r, 11));
	assert_null(edl_web_ring_get(&r, 0));
	for (uint64_t s = 7; s <= 10; s++) {
		const struct edl_web_event *e = edl_web_ring_get(&r, s);
		assert_non_null(e);
		assert_int_equal(e->seq, s);
		snprintf(text, sizeof(text), "{\"n\":%d}", (int)s);
		assert_string_equal(e->json, text);
		assert_int_equal(e->len, strlen(text));
	}
	/* Offsets count every byte pushed before the event: "{"n":1}".."{"n":9}"
	 * are 7 bytes each, so event 10 starts at 63 and the total is 71. */
	assert_int_equal(edl_web_ring_get(&r, 7)->offset, 42);
	assert_int_equal(edl_web_ring_get(&r, 10)->offset, 63);
	assert_int_equal(r.bytes_total, 71);
	edl_web_ring_free(&r);
}

static void test_prom_label_escapes_backslash_quote_newline(void **state)
{
	struct edl_buf b;
	(void)state;

	edl_buf_init(&b);
	assert_int_equal(edl_web_prom_label(&b, "A\\1 \"x\"\nB"), EDL_OK);
	assert_int_equal(edl_buf_size(&b), strlen("A\\\\1 \\\"x\\\"\\nB"));
	assert_memory_equal(edl_buf_head(&b), "A\\\\1 \\\"x\\\"\\nB", edl_buf_size(&b));
	edl_buf_free(&b);
}

static void test_control_body_is_an_object_with_a_reason(void **state)
{
	char r[32];
	(void)state;

	assert_int_equal(edl_web_json_reason("{}", 2, r, sizeof(r)), 0);
	assert_string_equal(r, "");
	const char *ok = " { \"reason\" : \"re-seat \\\"A3\\\"\\u0021\" } \n";
	assert_int_equal(edl_web_json_reason(ok, strlen(ok), r, sizeof(r)), 0);
	assert_string_equal(r, "re-seat \"A3\"!");
	static const char *const bad[] = {
	        "",
	        "{",
	        "{\"reason\":",
	        "{\"reason\":\"x\"",
	        "{\"reason\":1}",
	        "{\"other\":\"x\"}",
	        "{\"reason\":\"x\"} trailing",
	        "[\"reason\"]",
	        "{\"reason\":\"\\u0007\"}",
	        "{\"reason\":\"\\q\"}",
	        "{\"reason\":\"0123456789012345678901234567890123456789\"}",
	        "{\"reason\":\"a\nb\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(edl_web_json_reason(bad[i], strlen(bad[i]), r, sizeof(r)), -1);
}

static int report_query(struct edl_store_filter *f, const char *q, char *why, size_t n)
{
	static struct web_report_text text;
	edl_store_filter_init(f);
	return web_report_query(f, q, strlen(q), &text, 1700000000000, why, n);
}

static void test_report_query_takes_the_commands_filters(void **state)
{
	struct edl_store_filter f;
	char why[256];
	(void)state;

	assert_int_equal(report_query(&f, "since=24h&slot=a3&package=pkg-1.2&failed=5&by=shift",
	                              why, sizeof(why)),
	                 0);
	assert_true(f.since_ms == 1700000000000 - 24 * 3600000LL);
	assert_string_equal(f.slot, "a3");
	assert_string_equal(f.package, "pkg-1.2");
	assert_null(f.station);
	assert_int_equal(f.failed_max, 5);
	assert_int_equal(f.bucket, EDL_STORE_BUCKET_SHIFT);
	assert_int_equal(report_query(&f, "since=2024-05-01&until=2024-05-02", why, sizeof(why)),
	                 0);
	assert_true(f.until_ms - f.since_ms == 24 * 3600000LL);
	/* The product (issue 15) and the MES's per-unit data (issue 13). */
	assert_int_equal(report_query(&f, "product=Alpha&lot=L7&work_order=WO%2042&operator=ann",
	                              why, sizeof(why)),
	                 0);
	assert_string_equal(f.product, "Alpha");
	assert_string_equal(f.lot, "L7");
	assert_string_equal(f.work_order, "WO 42");
	assert_string_equal(f.operator_name, "ann");
}

static void test_report_query_refuses_what_the_command_refuses(void **state)
{
	struct edl_store_filter f;
	char why[256];
	(void)state;
	static const struct {
		const char *q, *says;
	} bad[] = {
	        {"sinse=1h", "unknown parameter 'sinse'"},
	        {"since=yesterday", "since"},
	        {"since=2024-05-02&until=2024-05-01", "until must be after since"},
	        {"failed=-1", "failed wants a count"},
	        {"by=day", "by wants hour or shift"},
	        {"slot=", "slot: empty"},
	        {"format=csv", "json only"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		assert_int_equal(report_query(&f, bad[i].q, why, sizeof(why)), -1);
		if (strstr(why, bad[i].says) == NULL)
			fail_msg("%s: '%s' does not say '%s'", bad[i].q, why, bad[i].says);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_listen_accepts_ipv4_and_bracketed_ipv6),
	        cmocka_unit_test(test_listen_refuses_what_it_cannot_bind_with_a_reason),
	        cmocka_unit_test(test_query_decodes_and_bounds_values),
	        cmocka_unit_test(test_query_names_the_first_unknown_key),
	        cmocka_unit_test(test_u64_whole_numbers_only),
	        cmocka_unit_test(test_token_compare_needs_every_byte),
	        cmocka_unit_test(test_ring_keeps_the_last_events_after_wrapping),
	        cmocka_unit_test(test_prom_label_escapes_backslash_quote_newline),
	        cmocka_unit_test(test_control_body_is_an_object_with_a_reason),
	        cmocka_unit_test(test_report_query_takes_the_commands_filters),
	        cmocka_unit_test(test_report_query_refuses_what_the_command_refuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
