/*
 * Tests of the core module: the error table, the foreign-code mappings, the
 * per-device logger prefix and the framing buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <libusb.h>
#include <sqlite3.h>
#include <string.h>

#include "edlstation/buf.h"
#include "edlstation/error.h"
#include "edlstation/log.h"

static void test_error_table_names_and_messages(void **state)
{
	(void)state;
	assert_string_equal(edl_error_name(EDL_E_SAHARA_LENGTH), "EDL_E_SAHARA_LENGTH");
	assert_string_equal(edl_strerror(EDL_E_POWER_CYCLE),
	                    "device does not answer: it needs a power cycle");
	assert_string_equal(edl_error_name(12345), "EDL_E_UNKNOWN");
	assert_string_equal(edl_strerror(EDL_OK), "success");
}

static void test_error_set_formats_detail(void **state)
{
	(void)state;
	struct edl_error err;
	char buf[256];

	edl_error_clear(&err);
	assert_int_equal(edl_error_set(&err, EDL_E_FH_NAK, "program of LUN %d refused", 2),
	                 EDL_E_FH_NAK);
	assert_string_equal(edl_error_format(&err, buf, sizeof(buf)),
	                    "Firehose command refused (NAK): program of LUN 2 refused");
	edl_error_clear(&err);
	assert_int_equal(err.code, EDL_OK);
	assert_string_equal(edl_error_format(&err, buf, sizeof(buf)), "success");
}

static void test_error_maps_foreign_codes(void **state)
{
	(void)state;
	assert_int_equal(edl_error_from_errno(ENOMEM), EDL_E_NOMEM);
	assert_int_equal(edl_error_from_errno(ENODEV), EDL_E_USB_GONE);
	assert_int_equal(edl_error_from_libusb(LIBUSB_ERROR_NO_MEM), EDL_E_USB_NOMEM);
	assert_int_equal(edl_error_from_libusb(LIBUSB_ERROR_NO_DEVICE), EDL_E_USB_GONE);
	assert_int_equal(edl_error_from_libusb(LIBUSB_ERROR_TIMEOUT), EDL_E_TIMEOUT);
	assert_int_equal(edl_error_from_sqlite(SQLITE_BUSY_SNAPSHOT), EDL_E_DB_BUSY);
	assert_int_equal(edl_error_from_sqlite(SQLITE_CORRUPT), EDL_E_DB_CORRUPT);
	assert_int_equal(edl_error_from_xml(0), EDL_OK);
	assert_int_equal(edl_error_from_xml(4), EDL_E_FH_XML);
}

struct captured {
	char prefix[80];
	char line[256];
	int count;
};

static void capture_sink(enum edl_log_level level, const char *prefix, const char *line, void *data)
{
	struct captured *c = data;
	(void)level;
	snprintf(c->prefix, sizeof(c->prefix), "%s", prefix);
	snprintf(c->line, sizeof(c->line), "%s", line);
	c->count++;
}

static void test_log_prefix_carries_port_then_serial(void **state)
{
	(void)state;
	struct edl_log log;
	struct captured c = {0};

	edl_log_init(&log);
	log.sink = capture_sink;
	log.sink_data = &c;
	edl_log_set_port(&log, "1-1.3");
	edl_log_info(&log, "hello %d", 1);
	assert_string_equal(c.prefix, "[1-1.3]");
	assert_string_equal(c.line, "hello 1");
	edl_log_set_serial(&log, "1a2b3c4d");
	edl_log_info(&log, "identified");
	assert_string_equal(c.prefix, "[1-1.3 SN:1a2b3c4d]");
	edl_log_debug(&log, "dropped at INFO");
	assert_int_equal(c.count, 2);
}

static void test_buf_appends_and_consumes(void **state)
{
	(void)state;
	struct edl_buf b;

	edl_buf_init(&b);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(edl_buf_printf(&b, "%04d", i), EDL_OK);
	assert_int_equal(edl_buf_size(&b), 4000);
	edl_buf_consume(&b, 3996);
	assert_memory_equal(edl_buf_head(&b), "0999", 4);
	assert_int_equal(edl_buf_append(&b, "x", 1), EDL_OK);
	assert_memory_equal(edl_buf_head(&b), "0999x", 5);
	edl_buf_consume(&b, 5);
	assert_int_equal(edl_buf_size(&b), 0);
	edl_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_error_table_names_and_messages),
	        cmocka_unit_test(test_error_set_formats_detail),
	        cmocka_unit_test(test_error_maps_foreign_codes),
	        cmocka_unit_test(test_log_prefix_carries_port_then_serial),
	        cmocka_unit_test(test_buf_appends_and_consumes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
