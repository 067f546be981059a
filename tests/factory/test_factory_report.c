/*
 * The factory report's SQL building without a server: every filter value a
 * person gives (station, line, package, slot, serial, times) becomes a
 * numbered parameter and never appears in the SQL text, hostile or not; a
 * package matched several ways reuses one parameter; an empty filter selects
 * everything (and may read the server's summaries); an overflowing statement
 * is marked and never run; the connection string test for --db.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "edlstation/factory_report.h"
#include "factory/report_sql.h"

static void test_empty_filter_selects_all(void **state)
{
	struct edl_store_filter f;
	struct edl_factory_sql q;

	(void)state;
	edl_store_filter_init(&f);
	assert_true(edl_factory_filter_is_all(&f));
	edl_factory_sql_init(&q);
	edl_factory_sql_add(&q, "SELECT 1 FROM run r WHERE true");
	edl_factory_sql_filter(&q, &f);
	assert_string_equal(q.text, "SELECT 1 FROM run r WHERE true AND r.kind = 'flash'");
	assert_int_equal(q.n_params, 0);
	assert_false(q.overflow);
	/* failed_max, the bucket and by_station do not select runs. */
	f.failed_max = 3;
	f.bucket = EDL_STORE_BUCKET_SHIFT;
	f.by_station = true;
	assert_true(edl_factory_filter_is_all(&f));
}

static void test_values_are_parameters(void **state)
{
	static const char hostile[] = "x'); DROP TABLE run; --";
	struct edl_store_filter f;
	struct edl_factory_sql q;

	(void)state;
	edl_store_filter_init(&f);
	f.since_ms = 1700000000000;
	f.until_ms = 1700003600000;
	f.station = hostile;
	f.line = "L'2";
	f.package = "fw-1.2";
	f.slot = "A3";
	f.serial = "1a2b3c4d";
	assert_false(edl_factory_filter_is_all(&f));
	edl_factory_sql_init(&q);
	edl_factory_sql_filter(&q, &f);
	assert_false(q.overflow);
	assert_int_equal(q.n_params, 7);
	assert_string_equal(q.values[0], "1700000000000");
	assert_string_equal(q.values[1], "1700003600000");
	assert_ptr_equal(q.values[2], hostile);
	assert_string_equal(q.values[3], "L'2");
	assert_string_equal(q.values[4], "fw-1.2");
	assert_string_equal(q.values[5], "A3");
	assert_string_equal(q.values[6], "1a2b3c4d");
	assert_null(strstr(q.text, "DROP"));
	assert_null(strstr(q.text, "L'2"));
	assert_null(strstr(q.text, "fw-1.2"));
	assert_null(strstr(q.text, "1a2b3c4d"));
	assert_non_null(
	        strstr(q.text, " AND r.start_ms >= $1::bigint AND r.start_ms < $2::bigint"));
	assert_non_null(strstr(q.text, "WHERE name = $3::text"));
	assert_non_null(strstr(q.text, "WHERE line = $4::text"));
	assert_non_null(
	        strstr(q.text, "(lower(r.slot_label) = lower($6::text) OR r.port = $6::text)"));
	assert_non_null(strstr(q.text, " AND r.serial = $7::text"));
	/* The package's eight uses share $5; no other number appears. */
	{
		size_t uses = 0;
		for (const char *p = q.text; (p = strstr(p, "$5::text")) != NULL; p++)
			uses++;
		assert_int_equal(uses, 8);
		assert_null(strstr(q.text, "$8"));
	}
}

static void test_only_given_filters(void **state)
{
	struct edl_store_filter f;
	struct edl_factory_sql q;

	(void)state;
	edl_store_filter_init(&f);
	f.until_ms = 5;
	f.slot = "1-1.2";
	edl_factory_sql_init(&q);
	edl_factory_sql_filter(&q, &f);
	assert_int_equal(q.n_params, 2);
	assert_string_equal(q.text, " AND r.kind = 'flash' AND r.start_ms < $1::bigint AND "
	                            "(lower(r.slot_label) = lower($2::text) OR r.port = $2::text)");
	assert_false(edl_factory_filter_is_all(&f));
}

static void test_null_and_negative_parameters(void **state)
{
	struct edl_factory_sql q;

	(void)state;
	edl_factory_sql_init(&q);
	assert_int_equal(edl_factory_sql_param(&q, NULL), 1);
	assert_int_equal(edl_factory_sql_param_i64(&q, INT64_MIN), 2);
	assert_null(q.values[0]);
	assert_string_equal(q.values[1], "-9223372036854775808");
	edl_factory_sql_ref(&q, 2, NULL);
	assert_string_equal(q.text, "$2");
}

static void test_overflow_is_marked(void **state)
{
	struct edl_factory_sql q;
	char big[EDL_FACTORY_SQL_MAX / 2 + 1];

	(void)state;
	edl_factory_sql_init(&q);
	for (int i = 0; i < EDL_FACTORY_SQL_PARAMS; i++)
		assert_int_equal(edl_factory_sql_param(&q, "v"), i + 1);
	assert_false(q.overflow);
	assert_int_equal(edl_factory_sql_param(&q, "one too many"), 0);
	assert_true(q.overflow);
	edl_factory_sql_init(&q);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	edl_factory_sql_add(&q, big);
	assert_false(q.overflow);
	edl_factory_sql_add(&q, big);
	assert_true(q.overflow);
	assert_int_equal(strlen(q.text), sizeof(big) - 1); /* never cut mid-fragment */
	edl_factory_sql_init(&q);
	edl_factory_sql_ref(&q, 0, NULL);
	assert_true(q.overflow);
}

static void test_is_uri(void **state)
{
	(void)state;
	assert_true(edl_factory_is_uri("postgresql://edl@127.0.0.1/factory"));
	assert_true(edl_factory_is_uri("postgres://h/db"));
	assert_false(edl_factory_is_uri("results.db"));
	assert_false(edl_factory_is_uri("postgresql:/x"));
	assert_false(edl_factory_is_uri("./postgresql://x"));
	assert_false(edl_factory_is_uri(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_empty_filter_selects_all),
	        cmocka_unit_test(test_values_are_parameters),
	        cmocka_unit_test(test_only_given_filters),
	        cmocka_unit_test(test_null_and_negative_parameters),
	        cmocka_unit_test(test_overflow_is_marked),
	        cmocka_unit_test(test_is_uri),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
