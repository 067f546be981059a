/*
 * Tests of the failure classes: every code of the error table has exactly one
 * class and an operator sentence, class names round-trip, and the codes an
 * operator meets most land in the class whose action fits them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "edlstation/error.h"

static const int all_codes[] = {
#define EDL_XX_VALUE(sym, val, msg) sym,
        EDL_ERROR_TABLE(EDL_XX_VALUE)
#undef EDL_XX_VALUE
};

static void test_every_code_has_a_class_and_an_action(void **state)
{
	(void)state;
	unsigned per_class[EDL_CLASS_COUNT] = {0};

	for (size_t i = 0; i < sizeof(all_codes) / sizeof(all_codes[0]); i++) {
		int code = all_codes[i];
		enum edl_error_class cls = edl_error_class(code);
		const char *action = edl_error_action(code);

		assert_true((unsigned)cls < EDL_CLASS_COUNT);
		if (code == EDL_OK)
			assert_int_equal(cls, EDL_CLASS_NONE);
		else
			assert_int_not_equal(cls, EDL_CLASS_NONE);
		assert_non_null(action);
		assert_true(strlen(action) > 10);
		per_class[cls]++;
	}
	/* Every class is used by some code. */
	for (unsigned c = 0; c < EDL_CLASS_COUNT; c++)
		assert_true(per_class[c] > 0);
}

static void test_class_names_round_trip(void **state)
{
	(void)state;
	for (unsigned c = 0; c < EDL_CLASS_COUNT; c++) {
		const char *name = edl_error_class_name((enum edl_error_class)c);
		assert_int_equal(edl_error_class_parse(name), (int)c);
	}
	assert_int_equal(edl_error_class_parse("bogus"), -1);
	assert_int_equal(edl_error_class_parse(NULL), -1);
	assert_string_equal(edl_error_class_name((enum edl_error_class)99), "station");
}

static void test_classes_fit_what_the_operator_does(void **state)
{
	(void)state;
	assert_int_equal(edl_error_class(EDL_E_USB_GONE), EDL_CLASS_RESEAT);
	assert_int_equal(edl_error_class(EDL_E_STALLED), EDL_CLASS_RESEAT);
	assert_int_equal(edl_error_class(EDL_E_POWER_CYCLE), EDL_CLASS_POWER_CYCLE);
	assert_int_equal(edl_error_class(EDL_E_VERIFY_MISMATCH), EDL_CLASS_RMA);
	assert_int_equal(edl_error_class(EDL_E_WRONG_PACKAGE), EDL_CLASS_WRONG_PACKAGE);
	assert_int_equal(edl_error_class(EDL_E_SAHARA_END_STATUS), EDL_CLASS_WRONG_PROGRAMMER);
	assert_int_equal(edl_error_class(EDL_E_NOT_RECORDED), EDL_CLASS_STATION);
	assert_int_equal(edl_error_class(EDL_E_DB_FULL), EDL_CLASS_STATION);
	assert_int_equal(edl_error_class(EDL_E_PKG_CHANGED), EDL_CLASS_STATION);
	assert_int_equal(edl_error_class(-99999), EDL_CLASS_STATION);
	assert_non_null(strstr(edl_error_action(EDL_E_POWER_CYCLE), "power-cycle"));
	assert_non_null(strstr(edl_error_action(EDL_E_NOT_RECORDED), "free space"));
	assert_non_null(strstr(edl_error_action(EDL_E_WRONG_PACKAGE), "package"));
	assert_non_null(strstr(edl_error_action(EDL_E_VERIFY_MISMATCH), "RMA"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_every_code_has_a_class_and_an_action),
	        cmocka_unit_test(test_class_names_round_trip),
	        cmocka_unit_test(test_classes_fit_what_the_operator_does),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
