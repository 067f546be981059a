/*
 * Tests of the production line (line.c, dump.c) in one process: fault and
 * port parsing, configuration checks, and the rules a line follows with a
 * libusb host touching its units (fail-hold, swapping, operator plug/unplug,
 * the dump's unit.json), asserted on what the line reports and writes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <libusb.h>
#include <stdio.h>
#include <string.h>

#include "edlstation/clock.h"
#include "edlstation/emulator.h"

static void test_fault_parse_maps_kinds_onto_target_faults(void **state)
{
	struct edl_emu_fault f;
	struct edl_error err;

	(void)state;
	assert_int_equal(edl_emu_fault_parse(&f, "1-2.3:nak=program:2", 7, &err), EDL_OK);
	assert_string_equal(f.port, "1-2.3");
	assert_string_equal(f.faults.nak_command, "program");
	assert_int_equal(f.faults.nak_nth, 2);
	assert_string_equal(f.spec, "nak=program:2");
	assert_int_equal(edl_emu_fault_parse(&f, "4:unplug-at=3M", 7, &err), EDL_OK);
	assert_string_equal(f.port, "4");
	assert_int_equal(f.faults.unplug_at_bytes, 3u * 1024 * 1024);
	assert_int_equal(edl_emu_fault_parse(&f, "1-1.1:firehose-running", 7, &err), EDL_OK);
	assert_true(f.faults.firehose_running);
}

static void test_fault_parse_rejects_bad_ports_and_kinds(void **state)
{
	struct edl_emu_fault f;
	struct edl_error err;

	(void)state;
	assert_int_equal(edl_emu_fault_parse(&f, "silent", 7, &err), EDL_E_USAGE);
	assert_non_null(strstr(err.detail, "PORT:KIND"));
	assert_int_equal(edl_emu_fault_parse(&f, "1-1.8:silent", 7, &err), EDL_E_USAGE);
	assert_non_null(strstr(err.detail, "1-1.8"));
	assert_int_equal(edl_emu_fault_parse(&f, "0:silent", 7, &err), EDL_E_USAGE);
	assert_int_equal(edl_emu_fault_parse(&f, "1:melt", 7, &err), EDL_E_USAGE);
	assert_non_null(strstr(err.detail, "melt"));
	assert_int_equal(edl_emu_fault_parse(&f, "1:unplug-at=lots", 7, &err), EDL_E_USAGE);
}

static void test_port_names_fill_hubs_in_order(void **state)
{
	char name[16];

	(void)state;
	edl_emu_port_name(name, 0, 7);
	assert_string_equal(name, "1-1.1");
	edl_emu_port_name(name, 6, 7);
	assert_string_equal(name, "1-1.7");
	edl_emu_port_name(name, 7, 7);
	assert_string_equal(name, "1-2.1");
	edl_emu_port_name(name, 31, 4);
	assert_string_equal(name, "1-8.4");
}

static void test_line_rejects_bad_configuration(void **state)
{
	struct edl_emu_line_config cfg;
	struct edl_emu_line *line;
	struct edl_emu_fault f;
	struct edl_error err;

	(void)state;
	edl_emu_line_config_default(&cfg);
	cfg.devices = 0;
	assert_int_equal(edl_emu_line_new(&line, &cfg, &err), EDL_E_USAGE);
	assert_null(line);
	edl_emu_line_config_default(&cfg);
	cfg.sahara_version = 4;
	assert_int_equal(edl_emu_line_new(&line, &cfg, &err), EDL_E_USAGE);
	edl_emu_line_config_default(&cfg);
	cfg.devices = 2;
	assert_int_equal(edl_emu_fault_parse(&f, "5:silent", 7, &err), EDL_OK);
	cfg.faults = &f;
	cfg.n_faults = 1;
	assert_int_equal(edl_emu_line_new(&line, &cfg, &err), EDL_E_USAGE);
	assert_non_null(strstr(err.detail, "port 5"));
}

/* Opens the EDL device at port and claims it; NULL when absent. */
static libusb_device_handle *open_port(libusb_context *usb, const char *want)
{
	libusb_device **list;
	libusb_device_handle *h = NULL;
	ssize_t n = libusb_get_device_list(usb, &list);

	for (ssize_t i = 0; i < n && !h; i++) {
		struct libusb_device_descriptor dd;
		uint8_t ports[8];
		char path[32];
		int k = libusb_get_port_numbers(list[i], ports, 8);

		libusb_get_device_descriptor(list[i], &dd);
		if (dd.idVendor != 0x05c6 || k != 2)
			continue;
		snprintf(path, sizeof(path), "1-%d.%d", ports[0], ports[1]);
		if (strcmp(path, want) == 0 && libusb_open(list[i], &h) == 0 &&
		    libusb_claim_interface(h, 0) != 0) {
			libusb_close(h);
			h = NULL;
		}
	}
	libusb_free_device_list(list, 1);
	return h;
}

/* Ticks the line for ms milliseconds. */
static void run_line(struct edl_emu_line *line, unsigned ms)
{
	uint64_t end = edl_clock_ms() + ms;

	while (edl_clock_ms() < end) {
		edl_emu_line_tick(line, edl_clock_ms());
		g_usleep(10000);
	}
}

static void test_line_takes_idle_units_off_and_swaps_in_the_next(void **state)
{
	struct edl_emu_line_config cfg;
	struct edl_emu_line_stats st;
	struct edl_emu_line *line;
	struct edl_error err;
	libusb_context *usb;
	libusb_device_handle *h;
	char *dump = g_dir_make_tmp("edl-line-XXXXXX", NULL), *json = NULL, path[512];
	uint8_t hello[512];
	int got;

	(void)state;
	edl_emu_line_config_default(&cfg);
	cfg.devices = 2;
	cfg.units = 3;
	cfg.fail_hold = 0.2;
	cfg.swap_delay = 0.1;
	cfg.storage = EDL_STORAGE_EMMC;
	cfg.sectors = 2048;
	cfg.dump_dir = dump;
	assert_int_equal(edl_emu_line_new(&line, &cfg, &err), EDL_OK);
	assert_int_equal(libusb_init(&usb), 0);

	/* The host reads 1-1.1's HELLO and walks away: a failed unit. */
	h = open_port(usb, "1-1.1");
	assert_non_null(h);
	assert_int_equal(libusb_bulk_transfer(h, 0x81, hello, sizeof(hello), &got, 1000), 0);
	assert_int_equal(got, 48);
	libusb_release_interface(h, 0);
	libusb_close(h);
	run_line(line, 500);
	edl_emu_line_stats(line, &st);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.plugged, 3);
	assert_int_equal(st.present, 2);

	/* 1-1.2 was never touched: still there. The operator pulls it. */
	assert_int_equal(edl_emu_line_unplug(line, "1-1.2", &err), EDL_OK);
	assert_int_equal(edl_emu_line_unplug(line, "1-1.2", &err), EDL_E_BUSY);
	assert_int_equal(edl_emu_line_plug(line, "1-1.1", &err), EDL_E_BUSY);
	assert_int_equal(edl_emu_line_plug(line, "1-3.1", &err), EDL_E_USAGE);

	snprintf(path, sizeof(path), "%s/1a2b3c4d/unit.json", dump);
	assert_true(g_file_get_contents(path, &json, NULL, NULL));
	assert_non_null(strstr(json, "\"end\": \"fail-hold\""));
	assert_non_null(strstr(json, "\"final_state\": \"SAHARA\""));
	assert_non_null(strstr(json, "\"port\": \"1-1.1\""));
	g_free(json);
	snprintf(path, sizeof(path), "%s/1a2b3c4e/unit.json", dump);
	assert_true(g_file_get_contents(path, &json, NULL, NULL));
	assert_non_null(strstr(json, "\"end\": \"unplugged\""));
	g_free(json);

	libusb_exit(usb);
	edl_emu_line_free(line);
	/* The third unit was still on the line: its record says so. */
	snprintf(path, sizeof(path), "%s/1a2b3c4f/unit.json", dump);
	assert_true(g_file_get_contents(path, &json, NULL, NULL));
	assert_non_null(strstr(json, "\"end\": \"present\""));
	assert_non_null(strstr(json, "\"port\": \"1-1.1\""));
	g_free(json);
	for (int i = 0; i < 3; i++) {
		char dir[256];

		snprintf(dir, sizeof(dir), "%s/%08x", dump, 0x1a2b3c4d + i);
		snprintf(path, sizeof(path), "%s/unit.json", dir);
		g_unlink(path);
		snprintf(path, sizeof(path), "%s/lun0.img", dir);
		g_unlink(path);
		g_rmdir(dir);
	}
	g_rmdir(dump);
	g_free(dump);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_fault_parse_maps_kinds_onto_target_faults),
	        cmocka_unit_test(test_fault_parse_rejects_bad_ports_and_kinds),
	        cmocka_unit_test(test_port_names_fill_hubs_in_order),
	        cmocka_unit_test(test_line_rejects_bad_configuration),
	        cmocka_unit_test(test_line_takes_idle_units_off_and_swaps_in_the_next),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
