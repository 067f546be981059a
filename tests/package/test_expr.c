/*
 * Tests of the sector expression language and CRC-32: table-driven parse and
 * evaluation (every form the real samples use, trailing-dot decimals, hex,
 * precedence, errors with their offsets), checked arithmetic, CRC32(start,len)
 * through a callback over a buffer, and the CRC-32 of zero runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "edlstation/expr.h"

struct eval_case {
	const char *text;
	uint64_t sectors; /* NUM_DISK_SECTORS */
	uint64_t blocks;  /* NUM_DISK_BLOCKS */
	uint64_t want;
	unsigned uses;
};

static const struct eval_case eval_cases[] = {
        {"0", 1000, 0, 0, 0},
        {"131072", 1000, 0, 131072, 0},
        {"33.", 1000, 0, 33, 0},
        {"0x4000000", 0, 0, 0x4000000, 0},
        {"0X1f", 0, 0, 31, 0},
        {"NUM_DISK_SECTORS-33.", 15269888, 0, 15269855, EDL_EXPR_USES_SECTORS},
        {"NUM_DISK_SECTORS-1.", 15269888, 0, 15269887, EDL_EXPR_USES_SECTORS},
        {"NUM_DISK_SECTORS-1", 15269888, 0, 15269887, EDL_EXPR_USES_SECTORS},
        {"NUM_DISK_SECTORS+5", 100, 0, 105, EDL_EXPR_USES_SECTORS},
        {"(4096*NUM_DISK_SECTORS)-20480.", 1000, 0, 4096000 - 20480, EDL_EXPR_USES_SECTORS},
        {"(512*NUM_DISK_SECTORS)-16896.", 15269888, 0, 512ull * 15269888 - 16896,
         EDL_EXPR_USES_SECTORS},
        {"NUM_DISK_BLOCKS-1458.", 0, 2048, 590, EDL_EXPR_USES_BLOCKS},
        {"NUM_DISK_BLOCKS-1904.", 0, 2048, 144, EDL_EXPR_USES_BLOCKS},
        {" NUM_DISK_SECTORS - 34. ", 100, 0, 66, EDL_EXPR_USES_SECTORS},
        {"2+3*4", 0, 0, 14, 0},
        {"(2+3)*4", 0, 0, 20, 0},
        {"100/7", 0, 0, 14, 0},
        {"10-2-3", 0, 0, 5, 0},
        {"((((1))))", 0, 0, 1, 0},
        {"18446744073709551615", 0, 0, UINT64_MAX, 0},
};

static void test_expr_evaluates_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(eval_cases) / sizeof(eval_cases[0]); i++) {
		const struct eval_case *c = &eval_cases[i];
		struct edl_expr e;
		struct edl_error err;
		struct edl_expr_env env = {.have_sectors = true,
		                           .num_disk_sectors = c->sectors,
		                           .have_blocks = true,
		                           .num_disk_blocks = c->blocks};
		uint64_t v = 0;

		edl_error_clear(&err);
		if (edl_expr_parse(&e, c->text, &err) != EDL_OK)
			fail_msg("'%s' did not parse: %s", c->text, err.detail);
		assert_int_equal(e.uses, c->uses);
		assert_true(edl_expr_is_const(&e) == (c->uses == 0));
		if (edl_expr_eval(&v, &e, &env, &err) != EDL_OK)
			fail_msg("'%s' did not evaluate: %s", c->text, err.detail);
		if (v != c->want)
			fail_msg("'%s' gave %llu, want %llu", c->text, (unsigned long long)v,
			         (unsigned long long)c->want);
	}
}

struct bad_case {
	const char *text;
	const char *detail; /* substring of the error */
};

static const struct bad_case bad_cases[] = {
        {"", "ends where a number"},
        {"NUM_DISK_SECTORS-", "ends where a number"},
        {"NUM_DISK_SECTORS--33.", "expected at offset 17"},
        {"-5", "expected at offset 0, found '-'"},
        {"12abc", "an operator or the end expected at offset 2"},
        {"1.5", "expected at offset 2"},
        {"NUM_DISK_SECTOR-1", "expected at offset 0"},
        {"num_disk_sectors-1", "expected at offset 0"},
        {"(1+2", "ends where ')' was expected"},
        {"CRC32(1)", "',' expected"},
        {"CRC32 1,2", "'(' after CRC32 expected"},
        {"99999999999999999999", "number too large"},
        {"0x", "a number expected at offset 0"},
        {"((((((((((((((((((1))))))))))))))))))", "nests too deeply"},
        {"1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1+1", "too long an expression"},
};

static void test_expr_rejects_malformed_with_offset(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct edl_expr e;
		struct edl_error err;

		edl_error_clear(&err);
		if (edl_expr_parse(&e, bad_cases[i].text, &err) != EDL_E_PKG_EXPR)
			fail_msg("'%s' parsed", bad_cases[i].text);
		if (strstr(err.detail, bad_cases[i].detail) == NULL)
			fail_msg("'%s': detail '%s' lacks '%s'", bad_cases[i].text, err.detail,
			         bad_cases[i].detail);
	}
}

static void test_expr_checks_arithmetic(void **state)
{
	struct edl_expr e;
	struct edl_error err;
	struct edl_expr_env env = {.have_sectors = true, .num_disk_sectors = 10};
	uint64_t v;

	(void)state;
	assert_int_equal(edl_expr_parse(&e, "NUM_DISK_SECTORS-33.", &err), EDL_OK);
	assert_int_equal(edl_expr_eval(&v, &e, &env, &err), EDL_E_PKG_GEOMETRY);
	assert_string_equal(err.detail, "10-33 is negative");

	assert_int_equal(edl_expr_parse(&e, "NUM_DISK_SECTORS*4294967296*4294967296", &err),
	                 EDL_OK);
	assert_int_equal(edl_expr_eval(&v, &e, &env, &err), EDL_E_PKG_GEOMETRY);
	assert_non_null(strstr(err.detail, "overflows"));

	assert_int_equal(edl_expr_parse(&e, "18446744073709551615+1", &err), EDL_OK);
	assert_int_equal(edl_expr_eval(&v, &e, &env, &err), EDL_E_PKG_GEOMETRY);

	assert_int_equal(edl_expr_parse(&e, "5/(NUM_DISK_SECTORS-10)", &err), EDL_OK);
	assert_int_equal(edl_expr_eval(&v, &e, &env, &err), EDL_E_PKG_EXPR);
	assert_string_equal(err.detail, "division by zero");

	/* Variables must be known. */
	env.have_sectors = false;
	assert_int_equal(edl_expr_parse(&e, "NUM_DISK_SECTORS-1.", &err), EDL_OK);
	assert_int_equal(edl_expr_eval(&v, &e, &env, &err), EDL_E_PKG_EXPR);
	assert_string_equal(err.detail, "NUM_DISK_SECTORS is not known yet");
	assert_int_equal(edl_expr_parse(&e, "NUM_DISK_BLOCKS-1.", &err), EDL_OK);
	assert_int_equal(edl_expr_eval(&v, &e, &env, &err), EDL_E_PKG_EXPR);
	assert_string_equal(err.detail, "NUM_DISK_BLOCKS is not known yet");
}

static void test_expr_parses_plain_numbers_only(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(edl_expr_parse_number(&v, "131072"), EDL_OK);
	assert_int_equal(v, 131072);
	assert_int_equal(edl_expr_parse_number(&v, " 33. "), EDL_OK);
	assert_int_equal(v, 33);
	assert_int_equal(edl_expr_parse_number(&v, "0x400"), EDL_OK);
	assert_int_equal(v, 1024);
	assert_int_equal(edl_expr_parse_number(&v, "65536.0"), EDL_E_PKG_EXPR);
	assert_int_equal(edl_expr_parse_number(&v, "1+1"), EDL_E_PKG_EXPR);
	assert_int_equal(edl_expr_parse_number(&v, "-1"), EDL_E_PKG_EXPR);
	assert_int_equal(edl_expr_parse_number(&v, "abc"), EDL_E_PKG_EXPR);
	assert_int_equal(edl_expr_parse_number(&v, ""), EDL_E_PKG_EXPR);
	assert_int_equal(edl_expr_parse_number(&v, "18446744073709551616"), EDL_E_PKG_EXPR);
}

/* A 64-sector "disk" of 512-byte sectors for CRC32(start,len). */
struct disk {
	uint8_t bytes[64 * 512];
	unsigned calls;
};

static int disk_crc(uint64_t sector, uint64_t len, uint32_t *out, void *data, struct edl_error *err)
{
	struct disk *d = data;

	d->calls++;
	if (sector * 512 + len > sizeof(d->bytes))
		return edl_error_set(err, EDL_E_PKG_GEOMETRY, "CRC32(%llu,%llu) is past the disk",
		                     (unsigned long long)sector, (unsigned long long)len);
	*out = edl_crc32(0, d->bytes + sector * 512, (size_t)len);
	return EDL_OK;
}

struct crc_case {
	const char *text;
	uint64_t start; /* sector the CRC must cover */
	uint64_t len;
};

static const struct crc_case crc_cases[] = {
        {"CRC32(0,4096)", 0, 4096},
        {"CRC32(2,4096)", 2, 4096},
        {"CRC32(1,92)", 1, 92},
        {"CRC32(NUM_DISK_SECTORS-1.,92)", 63, 92},
        {"CRC32(NUM_DISK_SECTORS-33.,4096)", 31, 4096},
        {"CRC32( 32 , 92 )", 32, 92},
};

static void test_expr_evaluates_crc32_over_disk(void **state)
{
	static struct disk d;
	struct edl_expr_env env = {
	        .have_sectors = true, .num_disk_sectors = 64, .crc32 = disk_crc, .crc32_data = &d};

	(void)state;
	for (size_t i = 0; i < sizeof(d.bytes); i++)
		d.bytes[i] = (uint8_t)(i * 7 + 3);
	for (size_t i = 0; i < sizeof(crc_cases) / sizeof(crc_cases[0]); i++) {
		const struct crc_case *c = &crc_cases[i];
		struct edl_expr e;
		struct edl_error err;
		uint64_t v = 0;

		edl_error_clear(&err);
		assert_int_equal(edl_expr_parse(&e, c->text, &err), EDL_OK);
		assert_true(e.uses & EDL_EXPR_USES_CRC32);
		assert_int_equal(edl_expr_eval(&v, &e, &env, &err), EDL_OK);
		assert_int_equal(v, edl_crc32(0, d.bytes + c->start * 512, (size_t)c->len));
	}
	/* Without the callback, CRC32 cannot be evaluated, and says why. */
	{
		struct edl_expr e;
		struct edl_error err;
		struct edl_expr_env none = {0};
		uint64_t v;
		assert_int_equal(edl_expr_parse(&e, "CRC32(1,92)", &err), EDL_OK);
		assert_int_equal(edl_expr_eval(&v, &e, &none, &err), EDL_E_PKG_EXPR);
		assert_string_equal(err.detail, "CRC32(1,92) needs the device's bytes");
		/* The callback's error passes through. */
		assert_int_equal(edl_expr_parse(&e, "CRC32(NUM_DISK_SECTORS,92)", &err), EDL_OK);
		assert_int_equal(edl_expr_eval(&v, &e, &env, &err), EDL_E_PKG_GEOMETRY);
		assert_string_equal(err.detail, "CRC32(64,92) is past the disk");
	}
}

static void test_crc32_matches_known_vectors(void **state)
{
	static uint8_t zeros[100000];
	uint32_t crc;

	(void)state;
	assert_int_equal(edl_crc32(0, "123456789", 9), 0xCBF43926u);
	assert_int_equal(edl_crc32(0, "", 0), 0);
	assert_int_equal(edl_crc32(0, "The quick brown fox jumps over the lazy dog", 43),
	                 0x414FA339u);
	/* Feeding in pieces equals feeding at once. */
	crc = edl_crc32(0, "12345", 5);
	assert_int_equal(edl_crc32(crc, "6789", 4), 0xCBF43926u);
	/* Zero runs: the O(log n) form equals the byte loop. */
	for (size_t n = 0; n < sizeof(zeros); n = n * 3 + 1) {
		uint32_t start = edl_crc32(0, "abc", 3);
		assert_int_equal(edl_crc32_zeros(start, n), edl_crc32(start, zeros, n));
	}
	assert_int_equal(edl_crc32_zeros(0, 4096), edl_crc32(0, zeros, 4096));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_expr_evaluates_table),
	        cmocka_unit_test(test_expr_rejects_malformed_with_offset),
	        cmocka_unit_test(test_expr_checks_arithmetic),
	        cmocka_unit_test(test_expr_parses_plain_numbers_only),
	        cmocka_unit_test(test_expr_evaluates_crc32_over_disk),
	        cmocka_unit_test(test_crc32_matches_known_vectors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
