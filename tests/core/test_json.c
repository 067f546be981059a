/*
 * Tests of the JSON writer (src/core/json.c): exact bytes for every escaping
 * rule (each control character, quote, backslash, DEL, the C1 controls, valid
 * 2/3/4-byte UTF-8, every kind of invalid UTF-8), layout, numbers, misuse, the
 * stream sink, and a check by Python's json module that the writer's output of
 * every 1- and 2-byte string and of many random hostile strings parses and
 * carries valid UTF-8 unchanged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edlstation/error.h"
#include "edlstation/json.h"
#include "jsoncheck.h"

/* The writer's output for one string value of n bytes. */
static char *json_of_len(const char *s, size_t n)
{
	struct edl_buf b;
	struct edl_json j;
	char *out;

	edl_buf_init(&b);
	edl_json_init_buf(&j, &b, EDL_JSON_COMPACT);
	edl_json_string_len(&j, s, n);
	assert_int_equal(edl_json_finish(&j), EDL_OK);
	out = strndup((const char *)edl_buf_head(&b), edl_buf_size(&b));
	edl_buf_free(&b);
	return out;
}

static void assert_json_of(const char *s, const char *want)
{
	char *got = json_of_len(s, strlen(s));
	assert_string_equal(got, want);
	free(got);
}

static void test_json_escapes_every_control_character(void **state)
{
	(void)state;
	static const char *const shortform[0x20] = {
	        ['\b'] = "\\b", ['\t'] = "\\t", ['\n'] = "\\n", ['\f'] = "\\f", ['\r'] = "\\r"};

	for (unsigned c = 0; c < 0x20; c++) {
		char in[3] = {'a', (char)c, 'z'}, want[16];
		snprintf(want, sizeof(want), "\"a%sz\"\n", shortform[c] ? shortform[c] : "");
		if (!shortform[c])
			snprintf(want, sizeof(want), "\"a\\u%04xz\"\n", c);
		char *got = json_of_len(in, sizeof(in)); /* c == 0: an embedded NUL */
		assert_string_equal(got, want);
		free(got);
	}
	/* DEL and the C1 controls (U+0080..U+009F, UTF-8 c2 80..c2 9f), which some
	 * terminals obey, are escaped too. */
	assert_json_of("\x7f", "\"\\u007f\"\n");
	for (unsigned c = 0x80; c <= 0x9f; c++) {
		char in[3] = {(char)0xc2, (char)c, 0}, want[16];
		snprintf(want, sizeof(want), "\"\\u%04x\"\n", c);
		assert_json_of(in, want);
	}
	/* U+00A0 is the first character after C1: it passes. */
	assert_json_of("\xc2\xa0", "\"\xc2\xa0\"\n");
}

static void test_json_escapes_quote_and_backslash_in_values_and_keys(void **state)
{
	(void)state;
	struct edl_buf b;
	struct edl_json j;

	assert_json_of("say \"hi\" \\o/", "\"say \\\"hi\\\" \\\\o/\"\n");
	assert_json_of("\\\"", "\"\\\\\\\"\"\n");
	assert_json_of("", "\"\"\n");
	edl_buf_init(&b);
	edl_json_init_buf(&j, &b, EDL_JSON_COMPACT);
	edl_json_object_begin(&j);
	edl_json_key(&j, "k\"\\\n");
	edl_json_string(&j, NULL);
	edl_json_object_end(&j);
	assert_int_equal(edl_json_finish(&j), EDL_OK);
	assert_int_equal(edl_buf_size(&b), strlen("{\"k\\\"\\\\\\n\":null}\n"));
	assert_memory_equal(edl_buf_head(&b), "{\"k\\\"\\\\\\n\":null}\n", edl_buf_size(&b));
	edl_buf_free(&b);
}

static void test_json_passes_valid_utf8_through(void **state)
{
	(void)state;
	/* 2-byte (U+00E9, U+07FF), 3-byte (U+0800, U+20AC, U+FFFD, U+FFFF),
	 * 4-byte (U+10000, U+1F600, U+10FFFF): bytes unchanged. */
	static const char text[] =
	        "caf\xc3\xa9 \xdf\xbf \xe0\xa0\x80 \xe2\x82\xac \xef\xbf\xbd "
	        "\xef\xbf\xbf \xf0\x90\x80\x80 \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf";
	char want[sizeof(text) + 4];

	snprintf(want, sizeof(want), "\"%s\"\n", text);
	assert_json_of(text, want);
	/* U+2028/U+2029 are valid JSON but end a line in JavaScript. */
	assert_json_of("a\xe2\x80\xa8\xe2\x80\xa9z", "\"a\\u2028\\u2029z\"\n");
	/* Their neighbours are ordinary. */
	assert_json_of("\xe2\x80\xa7\xe2\x80\xaa", "\"\xe2\x80\xa7\xe2\x80\xaa\"\n");
}

static void test_json_writes_each_invalid_utf8_byte_as_replacement(void **state)
{
	(void)state;
	/* Stray continuation bytes and bytes never valid in UTF-8. */
	assert_json_of("\x80|\xbf|\xfe|\xff|\xf5\x80",
	               "\"\\ufffd|\\ufffd|\\ufffd|\\ufffd|\\ufffd\\ufffd\"\n");
	/* Overlong forms of '/' in 2, 3 and 4 bytes: every byte replaced. */
	assert_json_of("\xc0\xaf|\xc1\xbf", "\"\\ufffd\\ufffd|\\ufffd\\ufffd\"\n");
	assert_json_of("\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"\n");
	assert_json_of("\xf0\x80\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"\n");
	/* UTF-16 surrogate halves and a code point beyond U+10FFFF. */
	assert_json_of("\xed\xa0\x80\xed\xbf\xbf",
	               "\"\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\"\n");
	assert_json_of("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"\n");
	/* Truncated at the end, and cut short by an ASCII byte that survives. */
	assert_json_of("ok\xe2\x82", "\"ok\\ufffd\\ufffd\"\n");
	assert_json_of("\xe2\x82"
	               "A\xf0\x9f\x98"
	               "B",
	               "\"\\ufffd\\ufffdA\\ufffd\\ufffd\\ufffdB\"\n");
	/* A broken byte right before a valid character does not eat it. */
	assert_json_of("\xc3\xc3\xa9", "\"\\ufffd\xc3\xa9\"\n");
}

static void test_json_writes_null_for_a_missing_string(void **state)
{
	(void)state;
	struct edl_buf b;
	struct edl_json j;

	edl_buf_init(&b);
	edl_json_init_buf(&j, &b, EDL_JSON_COMPACT);
	edl_json_string(&j, NULL);
	assert_int_equal(edl_json_finish(&j), EDL_OK);
	assert_memory_equal(edl_buf_head(&b), "null\n", 5);
	assert_int_equal(edl_buf_size(&b), 5);
	edl_buf_free(&b);
}

static char *document(unsigned wrap)
{
	struct edl_buf b;
	struct edl_json j;
	char *out;

	edl_buf_init(&b);
	edl_json_init_buf(&j, &b, wrap);
	edl_json_object_begin(&j);
	edl_json_key(&j, "serial");
	edl_json_stringf(&j, "%08x", 0x1a2b3c4du);
	edl_json_key(&j, "n");
	edl_json_int(&j, -3);
	edl_json_key(&j, "ok");
	edl_json_bool(&j, true);
	edl_json_key(&j, "no");
	edl_json_bool(&j, false);
	edl_json_key(&j, "none");
	edl_json_null(&j);
	edl_json_key(&j, "inner");
	edl_json_object_begin(&j);
	edl_json_key(&j, "a");
	edl_json_uint(&j, 1);
	edl_json_key(&j, "b");
	edl_json_array_begin(&j);
	edl_json_uint(&j, 2);
	edl_json_string(&j, "x");
	edl_json_array_end(&j);
	edl_json_object_end(&j);
	edl_json_key(&j, "empty_list");
	edl_json_array_begin(&j);
	edl_json_array_end(&j);
	edl_json_key(&j, "empty_object");
	edl_json_object_begin(&j);
	edl_json_object_end(&j);
	edl_json_object_end(&j);
	assert_int_equal(edl_json_finish(&j), EDL_OK);
	out = strndup((const char *)edl_buf_head(&b), edl_buf_size(&b));
	edl_buf_free(&b);
	return out;
}

static void test_json_layouts_compact_and_wrapped(void **state)
{
	(void)state;
	char *d;

	d = document(EDL_JSON_COMPACT);
	assert_string_equal(d, "{\"serial\":\"1a2b3c4d\",\"n\":-3,\"ok\":true,\"no\":false,"
	                       "\"none\":null,\"inner\":{\"a\":1,\"b\":[2,\"x\"]},"
	                       "\"empty_list\":[],\"empty_object\":{}}\n");
	free(d);
	d = document(1);
	assert_string_equal(d, "{\n  \"serial\": \"1a2b3c4d\",\n  \"n\": -3,\n  \"ok\": true,\n"
	                       "  \"no\": false,\n  \"none\": null,\n"
	                       "  \"inner\": {\"a\": 1, \"b\": [2, \"x\"]},\n"
	                       "  \"empty_list\": [],\n  \"empty_object\": {}\n}\n");
	free(d);
	d = document(2);
	assert_string_equal(d, "{\n  \"serial\": \"1a2b3c4d\",\n  \"n\": -3,\n  \"ok\": true,\n"
	                       "  \"no\": false,\n  \"none\": null,\n"
	                       "  \"inner\": {\n    \"a\": 1,\n    \"b\": [2, \"x\"]\n  },\n"
	                       "  \"empty_list\": [],\n  \"empty_object\": {}\n}\n");
	free(d);
}

static char *numbers(void)
{
	struct edl_buf b;
	struct edl_json j;
	char *out;

	edl_buf_init(&b);
	edl_json_init_buf(&j, &b, EDL_JSON_COMPACT);
	edl_json_array_begin(&j);
	edl_json_int(&j, INT64_MIN);
	edl_json_int(&j, INT64_MAX);
	edl_json_uint(&j, UINT64_MAX);
	edl_json_double(&j, 0.7, 6);
	edl_json_double(&j, 1.0 / 3.0, 6);
	edl_json_double(&j, 1e300, 6);
	edl_json_double(&j, NAN, 6);
	edl_json_double(&j, INFINITY, 6);
	edl_json_fixed(&j, -INFINITY, 3);
	edl_json_fixed(&j, 12.3456, 3);
	edl_json_fixed(&j, DBL_MAX, 1);
	edl_json_array_end(&j);
	assert_int_equal(edl_json_finish(&j), EDL_OK);
	out = strndup((const char *)edl_buf_head(&b), edl_buf_size(&b));
	edl_buf_free(&b);
	return out;
}

static void test_json_numbers_never_write_nan_or_infinity(void **state)
{
	(void)state;
	char *d = numbers();

	assert_int_equal(strncmp(d,
	                         "[-9223372036854775808,9223372036854775807,18446744073709551615,"
	                         "0.7,0.333333,1e+300,null,null,null,12.346,1797693",
	                         strlen("[-9223372036854775808,9223372036854775807,"
	                                "18446744073709551615,0.7,0.333333,1e+300,null,null,"
	                                "null,12.346,1797693")),
	                 0);
	assert_string_equal(d + strlen(d) - 4, ".0]\n");
	if (edl_test_have_python())
		assert_true(
		        edl_test_json_check(d, strlen(d), false,
		                            "assert d[0] == -2**63 and d[2] == 2**64 - 1 and "
		                            "d[6] is None and d[9] == 12.346 and len(d) == 11"));
	free(d);
}

/* Runs one misuse and returns what finish says. */
static int misuse_rc(int which)
{
	struct edl_buf b;
	struct edl_json j;
	int rc;

	edl_buf_init(&b);
	edl_json_init_buf(&j, &b, EDL_JSON_COMPACT);
	switch (which) {
	case 0: /* a value in an object without a key */
		edl_json_object_begin(&j);
		edl_json_int(&j, 1);
		edl_json_object_end(&j);
		break;
	case 1: /* a key in an array */
		edl_json_array_begin(&j);
		edl_json_key(&j, "k");
		edl_json_array_end(&j);
		break;
	case 2: /* closing the wrong kind */
		edl_json_array_begin(&j);
		edl_json_object_end(&j);
		break;
	case 3: /* unfinished */
		edl_json_object_begin(&j);
		break;
	case 4: /* a key left without its value */
		edl_json_object_begin(&j);
		edl_json_key(&j, "k");
		edl_json_object_end(&j);
		break;
	case 5: /* two top-level values */
		edl_json_int(&j, 1);
		edl_json_int(&j, 2);
		break;
	case 6: /* too deep */
		for (int i = 0; i <= EDL_JSON_MAX_DEPTH; i++)
			edl_json_array_begin(&j);
		for (int i = 0; i <= EDL_JSON_MAX_DEPTH; i++)
			edl_json_array_end(&j);
		break;
	case 7: /* nothing at all */
		break;
	case 8: /* closing what is not open */
		edl_json_int(&j, 1);
		edl_json_array_end(&j);
		break;
	default: /* the deepest nesting allowed is fine */
		for (int i = 0; i < EDL_JSON_MAX_DEPTH; i++)
			edl_json_array_begin(&j);
		for (int i = 0; i < EDL_JSON_MAX_DEPTH; i++)
			edl_json_array_end(&j);
	}
	rc = edl_json_finish(&j);
	edl_buf_free(&b);
	return rc;
}

static void test_json_reports_misuse_at_finish(void **state)
{
	(void)state;
	for (int i = 0; i <= 8; i++)
		assert_int_equal(misuse_rc(i), EDL_E_INVAL);
	assert_int_equal(misuse_rc(9), EDL_OK);
}

static void test_json_stream_sink_matches_buffer_and_reports_io_errors(void **state)
{
	(void)state;
	char *want = document(1), got[1024];
	FILE *f = tmpfile();
	struct edl_json j;
	size_t n;

	assert_non_null(f);
	edl_json_init_file(&j, f, 1);
	edl_json_object_begin(&j);
	edl_json_key(&j, "serial");
	edl_json_stringf(&j, "%08x", 0x1a2b3c4du);
	edl_json_key(&j, "n");
	edl_json_int(&j, -3);
	edl_json_key(&j, "ok");
	edl_json_bool(&j, true);
	edl_json_key(&j, "no");
	edl_json_bool(&j, false);
	edl_json_key(&j, "none");
	edl_json_null(&j);
	edl_json_key(&j, "inner");
	edl_json_object_begin(&j);
	edl_json_key(&j, "a");
	edl_json_uint(&j, 1);
	edl_json_key(&j, "b");
	edl_json_array_begin(&j);
	edl_json_uint(&j, 2);
	edl_json_string(&j, "x");
	edl_json_array_end(&j);
	edl_json_object_end(&j);
	edl_json_key(&j, "empty_list");
	edl_json_array_begin(&j);
	edl_json_array_end(&j);
	edl_json_key(&j, "empty_object");
	edl_json_object_begin(&j);
	edl_json_object_end(&j);
	edl_json_object_end(&j);
	assert_int_equal(edl_json_finish(&j), EDL_OK);
	rewind(f);
	n = fread(got, 1, sizeof(got) - 1, f);
	got[n] = '\0';
	assert_string_equal(got, want);
	fclose(f);
	free(want);

	/* A full disk: the writer says so instead of claiming success. */
	f = fopen("/dev/full", "w");
	if (f == NULL)
		skip();
	setvbuf(f, NULL, _IONBF, 0);
	edl_json_init_file(&j, f, EDL_JSON_COMPACT);
	edl_json_string(&j, "lost");
	assert_int_equal(edl_json_finish(&j), EDL_E_IO);
	fclose(f);
}

static void test_json_stringf_takes_long_text(void **state)
{
	(void)state;
	char long_text[1000];
	struct edl_buf b;
	struct edl_json j;

	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	edl_buf_init(&b);
	edl_json_init_buf(&j, &b, EDL_JSON_COMPACT);
	edl_json_stringf(&j, "<%s\"%s>", long_text, long_text);
	assert_int_equal(edl_json_finish(&j), EDL_OK);
	assert_int_equal(edl_buf_size(&b), 1 + 1 + 999 + 2 + 999 + 1 + 1 + 1);
	assert_memory_equal(edl_buf_head(&b), "\"<xxx", 5);
	assert_memory_equal(edl_buf_head(&b) + 1 + 1 + 999, "\\\"x", 3);
	edl_buf_free(&b);
}

/* Every 1- and 2-byte string, and random strings drawn from the bytes that
 * matter (controls, quote, backslash, DEL, continuation bytes, every kind of
 * lead byte), written as [hex of the input, the string] lines: Python must
 * parse every line, find valid UTF-8 unchanged and U+FFFD where it was not. */
static void test_json_output_of_any_bytes_parses_in_python(void **state)
{
	(void)state;
	static const uint8_t alphabet[] = {0x00, 0x01, 0x08, 0x0a, 0x1b, 0x1f, ' ',  '"',
	                                   '\\', 'a',  0x7f, 0x80, 0x8f, 0x9f, 0xa0, 0xa8,
	                                   0xbf, 0xc0, 0xc2, 0xc3, 0xdf, 0xe0, 0xe2, 0xed,
	                                   0xef, 0xf0, 0xf4, 0xf5, 0xff};
	struct edl_buf b;
	struct edl_json j;
	uint8_t in[8];
	char hex[17];

	if (!edl_test_have_python())
		skip();
	edl_buf_init(&b);
	srand(9008);
	for (unsigned i = 0; i < 65536 + 256 + 20000; i++) {
		size_t n;
		if (i < 256) {
			in[0] = (uint8_t)i;
			n = 1;
		} else if (i < 256 + 65536) {
			in[0] = (uint8_t)((i - 256) >> 8);
			in[1] = (uint8_t)(i - 256);
			n = 2;
		} else {
			n = 3 + (size_t)rand() % 6;
			for (size_t k = 0; k < n; k++)
				in[k] = alphabet[(size_t)rand() % sizeof(alphabet)];
		}
		for (size_t k = 0; k < n; k++)
			snprintf(hex + 2 * k, 3, "%02x", in[k]);
		edl_json_init_buf(&j, &b, EDL_JSON_COMPACT);
		edl_json_array_begin(&j);
		edl_json_string_len(&j, hex, 2 * n);
		edl_json_string_len(&j, (const char *)in, n);
		edl_json_array_end(&j);
		assert_int_equal(edl_json_finish(&j), EDL_OK);
	}
	assert_true(edl_test_json_check((const char *)edl_buf_head(&b), edl_buf_size(&b), true,
	                                "assert len(d) == 65536 + 256 + 20000\n"
	                                "for h, s in d:\n"
	                                "    raw = bytes.fromhex(h)\n"
	                                "    try:\n"
	                                "        want = raw.decode('utf-8')\n"
	                                "    except UnicodeDecodeError:\n"
	                                "        want = None\n"
	                                "    if want is not None:\n"
	                                "        assert s == want, (h, s)\n"
	                                "    else:\n"
	                                "        assert '\\ufffd' in s, (h, s)\n"
	                                "        assert s.replace('\\ufffd', '') == "
	                                "raw.decode('utf-8', 'ignore'), (h, s)\n"));
	/* The raw text itself holds no control byte: a log line stays one line. */
	for (size_t k = 0; k < edl_buf_size(&b); k++) {
		uint8_t c = edl_buf_head(&b)[k];
		assert_true(c == '\n' || (c >= 0x20 && c != 0x7f));
	}
	edl_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_json_escapes_every_control_character),
	        cmocka_unit_test(test_json_escapes_quote_and_backslash_in_values_and_keys),
	        cmocka_unit_test(test_json_passes_valid_utf8_through),
	        cmocka_unit_test(test_json_writes_each_invalid_utf8_byte_as_replacement),
	        cmocka_unit_test(test_json_writes_null_for_a_missing_string),
	        cmocka_unit_test(test_json_layouts_compact_and_wrapped),
	        cmocka_unit_test(test_json_numbers_never_write_nan_or_infinity),
	        cmocka_unit_test(test_json_reports_misuse_at_finish),
	        cmocka_unit_test(test_json_stream_sink_matches_buffer_and_reports_io_errors),
	        cmocka_unit_test(test_json_stringf_takes_long_text),
	        cmocka_unit_test(test_json_output_of_any_bytes_parses_in_python),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
