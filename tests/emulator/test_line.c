/*
 * Tests of the production line (line.c, dump.c) in one process: fault and
 * port parsing, configuration checks, and the rules a line follows with a
 * libusb host touching its units (fail-hold, swapping, operator plug/unplug,
 * the dump's unit.json, device profiles per line and per port), asserted on
 * what the line reports and writes and on the HELLO the units send.
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
	assert_non_null(strstr(err.detail, "'silent'"));
	assert_non_null(strstr(err.detail, "PORT:KIND"));
	assert_non_null(strstr(err.detail, "1-H.P"));
	/* Beyond the bus (15 hubs of 15 ports, 105 ports): not a port. */
	assert_int_equal(edl_emu_fault_parse(&f, "1-16.1:silent", 7, &err), EDL_E_USAGE);
	assert_non_null(strstr(err.detail, "'1-16.1:silent'"));
	assert_non_null(strstr(err.detail, "1-H.P"));
	assert_int_equal(edl_emu_fault_parse(&f, "1-1.x:silent", 7, &err), EDL_E_USAGE);
	assert_int_equal(edl_emu_fault_parse(&f, "0:silent", 7, &err), EDL_E_USAGE);
	assert_int_equal(edl_emu_fault_parse(&f, "106:silent", 7, &err), EDL_E_USAGE);
	assert_int_equal(edl_emu_fault_parse(&f, "1:melt", 7, &err), EDL_E_USAGE);
	assert_non_null(strstr(err.detail, "'1:melt'"));
	assert_non_null(strstr(err.detail, "unplug-ms=MS"));
	assert_int_equal(edl_emu_fault_parse(&f, "1:unplug-at=lots", 7, &err), EDL_E_USAGE);
	assert_non_null(strstr(err.detail, "'1:unplug-at=lots'"));
	assert_non_null(strstr(err.detail, "=BYTES"));
	assert_int_equal(edl_emu_fault_parse(&f, "1:silent=3", 7, &err), EDL_E_USAGE);
	assert_non_null(strstr(err.detail, "no argument"));
	assert_int_equal(edl_emu_fault_parse(&f, "1:unplug-ms=soon", 7, &err), EDL_E_USAGE);
	assert_non_null(strstr(err.detail, "=MS"));
}

static void test_fault_parse_takes_every_port_form_of_the_bus(void **state)
{
	struct edl_emu_fault f;
	struct edl_error err;

	(void)state;
	/* A valid port path whatever the line: hub 9 port 9 exists with 9+ ports a hub. */
	assert_int_equal(edl_emu_fault_parse(&f, "1-9.9:silent", 7, &err), EDL_OK);
	assert_string_equal(f.port, "1-9.9");
	assert_true(f.faults.silent);
	assert_int_equal(edl_emu_fault_parse(&f, "1-15.15:corrupt", 7, &err), EDL_OK);
	assert_int_equal(edl_emu_fault_parse(&f, "105:corrupt", 7, &err), EDL_OK);
	assert_int_equal(edl_emu_fault_parse(&f, "1-1.3:unplug-ms=40", 7, &err), EDL_OK);
	assert_true(f.unplug_timed);
	assert_int_equal(f.unplug_ms, 40);
	assert_int_equal(edl_emu_fault_parse(&f, "1-1.3:unplug-ms=0", 7, &err), EDL_OK);
	assert_true(f.unplug_timed);
	assert_int_equal(f.unplug_ms, 0);
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
	cfg.max_address = 3; /* root hub, hub 1-1, one unit: the second has none */
	assert_int_equal(edl_emu_line_new(&line, &cfg, &err), EDL_E_USAGE);
	assert_non_null(strstr(err.detail, "--max-address 3"));
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

static void test_profile_parse_takes_names_and_ports(void **state)
{
	struct edl_emu_port_profile pp;
	struct edl_error err;
	bool every;

	(void)state;
	assert_int_equal(edl_emu_profile_parse(&pp, &every, "SDX55", 7, &err), EDL_OK);
	assert_true(every);
	assert_string_equal(pp.profile->name, "sdx55");
	assert_int_equal(edl_emu_profile_parse(&pp, &every, "1-2.3:sdx55", 7, &err), EDL_OK);
	assert_false(every);
	assert_string_equal(pp.port, "1-2.3");
	assert_ptr_equal(pp.profile, edl_profile_find("sdx55"));
	assert_int_equal(edl_emu_profile_parse(&pp, &every, "4:sdx55", 7, &err), EDL_OK);
	assert_string_equal(pp.port, "4");
	/* Unknown names list the known ones. */
	assert_int_equal(edl_emu_profile_parse(&pp, &every, "msm0000", 7, &err), EDL_E_USAGE);
	assert_non_null(strstr(err.detail, "msm0000"));
	assert_non_null(strstr(err.detail, edl_profile_names()));
	assert_int_equal(edl_emu_profile_parse(&pp, &every, "1-1.16:sdx55", 7, &err), EDL_E_USAGE);
	assert_non_null(strstr(err.detail, "1-H.P"));
	assert_int_equal(edl_emu_profile_parse(&pp, &every, ":sdx55", 7, &err), EDL_E_USAGE);
	assert_int_equal(edl_emu_profile_parse(&pp, &every, "1-1.9:sdx55", 7, &err), EDL_OK);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Reads the HELLO of the unit at port and returns its Sahara version; the
 * host then closes the device. A fresh libusb context each time: it
 * enumerates the bus as it is now. */
static uint32_t hello_version(const char *port)
{
	libusb_device_handle *h = NULL;
	libusb_context *usb;
	uint8_t hello[512];
	int got = 0;

	assert_int_equal(libusb_init(&usb), 0);
	for (int i = 0; i < 300 && !h; i++) {
		h = open_port(usb, port);
		if (!h)
			g_usleep(10000);
	}
	assert_non_null(h);
	assert_int_equal(libusb_bulk_transfer(h, 0x81, hello, sizeof(hello), &got, 1000), 0);
	assert_int_equal(got, 48);
	assert_int_equal(le32(hello), 1); /* HELLO */
	libusb_release_interface(h, 0);
	libusb_close(h);
	libusb_exit(usb);
	return le32(hello + 8);
}

static char *unit_json(const char *dump, uint32_t serial)
{
	char path[512], *json = NULL;

	snprintf(path, sizeof(path), "%s/%08x/unit.json", dump, serial);
	assert_true(g_file_get_contents(path, &json, NULL, NULL));
	return json;
}

/* Removes a dump of flat unit directories. */
static void remove_dump(char *dump)
{
	GDir *d = g_dir_open(dump, 0, NULL);
	const char *name;

	while (d && (name = g_dir_read_name(d))) {
		char *sub = g_build_filename(dump, name, NULL);
		GDir *s = g_dir_open(sub, 0, NULL);
		const char *f;

		while (s && (f = g_dir_read_name(s))) {
			char *file = g_build_filename(sub, f, NULL);

			g_unlink(file);
			g_free(file);
		}
		if (s)
			g_dir_close(s);
		g_rmdir(sub);
		g_free(sub);
	}
	if (d)
		g_dir_close(d);
	g_rmdir(dump);
	g_free(dump);
}

static void assert_json_has(const char *json, const char *want)
{
	if (!strstr(json, want))
		fail_msg("unit.json lacks %s:\n%s", want, json);
}

static void test_ports_take_profiles_and_explicit_options_win(void **state)
{
	const struct edl_device_profile *sdx55 = edl_profile_find("sdx55");
	struct edl_emu_port_profile pp = {"2", NULL};
	struct edl_emu_line_config cfg;
	struct edl_emu_line *line;
	struct edl_error err;
	char *dump = g_dir_make_tmp("edl-prof-XXXXXX", NULL), *json;

	(void)state;
	assert_non_null(sdx55);
	pp.profile = sdx55;

	/* Port 1 generic eMMC, port 2 the SDX55 (NAND, 4 KiB pages). */
	edl_emu_line_config_default(&cfg);
	cfg.devices = 2;
	cfg.storage = EDL_STORAGE_EMMC;
	cfg.sectors = 2048;
	cfg.sahara_version = 3;
	cfg.port_profiles = &pp;
	cfg.n_port_profiles = 1;
	cfg.dump_dir = dump;
	assert_int_equal(edl_emu_line_new(&line, &cfg, &err), EDL_OK);
	assert_int_equal(hello_version("1-1.1"), 3);
	/* The profile's ROM speaks Sahara 2: a default option does not override it. */
	assert_int_equal(hello_version("1-1.2"), sdx55->sahara_version);
	edl_emu_line_free(line);
	json = unit_json(dump, 0x1a2b3c4d);
	assert_json_has(json, "\"profile\": null");
	assert_json_has(json, "\"kind\": \"emmc\", \"sector_size\": 512");
	g_free(json);
	json = unit_json(dump, 0x1a2b3c4e);
	assert_json_has(json, "\"profile\": \"sdx55\"");
	assert_json_has(json, "\"kind\": \"nand\", \"sector_size\": 4096");
	g_free(json);

	/* Every port SDX55, with an explicit --sahara-version 3 and --storage ufs:
	 * the options win, and UFS takes its own geometry, not 4 KiB NAND pages. */
	edl_emu_line_config_default(&cfg);
	cfg.profile = sdx55;
	cfg.storage = EDL_STORAGE_UFS;
	cfg.sahara_version = 3;
	cfg.explicit_set = EDL_EMU_SET_STORAGE | EDL_EMU_SET_SAHARA;
	cfg.sectors = 1024;
	cfg.first_serial = 0x100;
	cfg.dump_dir = dump;
	assert_int_equal(edl_emu_line_new(&line, &cfg, &err), EDL_OK);
	assert_int_equal(hello_version("1-1.1"), 3);
	edl_emu_line_free(line);
	json = unit_json(dump, 0x100);
	assert_json_has(json, "\"profile\": \"sdx55\"");
	assert_json_has(json, "\"kind\": \"ufs\", \"sector_size\": 4096, \"luns\": 6");
	g_free(json);

	/* A profile for a port the line does not have applies to no unit (the
	 * line warns on stderr): both units are the generic target. */
	edl_emu_line_config_default(&cfg);
	strcpy(pp.port, "3");
	cfg.devices = 2;
	cfg.first_serial = 0x200;
	cfg.port_profiles = &pp;
	cfg.n_port_profiles = 1;
	cfg.dump_dir = dump;
	assert_int_equal(edl_emu_line_new(&line, &cfg, &err), EDL_OK);
	edl_emu_line_free(line);
	for (uint32_t serial = 0x200; serial <= 0x201; serial++) {
		json = unit_json(dump, serial);
		assert_json_has(json, "\"profile\": null");
		g_free(json);
	}

	remove_dump(dump);
}

static void test_line_mode_keeps_the_port_profile_for_the_next_units(void **state)
{
	struct edl_emu_port_profile pp = {"1-1.1", NULL};
	struct edl_emu_line_config cfg;
	struct edl_emu_line_stats st;
	struct edl_emu_line *line;
	struct edl_error err;
	char *dump = g_dir_make_tmp("edl-prof-XXXXXX", NULL), *json;

	(void)state;
	pp.profile = edl_profile_find("sdx55");
	edl_emu_line_config_default(&cfg);
	cfg.units = 3;
	cfg.fail_hold = 0.1;
	cfg.swap_delay = 0.05;
	cfg.storage = EDL_STORAGE_EMMC;
	cfg.port_profiles = &pp;
	cfg.n_port_profiles = 1;
	cfg.dump_dir = dump;
	assert_int_equal(edl_emu_line_new(&line, &cfg, &err), EDL_OK);
	/* Each unit is touched and left: off after fail-hold, the next swapped in. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(hello_version("1-1.1"), 2);
		for (int k = 0; k < 100; k++) {
			edl_emu_line_stats(line, &st);
			if (st.failed == (unsigned)i + 1)
				break;
			run_line(line, 20);
		}
		edl_emu_line_stats(line, &st);
		assert_int_equal(st.failed, i + 1);
		run_line(line, 150);
	}
	edl_emu_line_free(line);
	for (uint32_t s = 0x1a2b3c4d; s < 0x1a2b3c4d + 3; s++) {
		json = unit_json(dump, s);
		assert_json_has(json, "\"profile\": \"sdx55\"");
		assert_json_has(json, "\"kind\": \"nand\"");
		assert_json_has(json, "\"end\": \"fail-hold\"");
		g_free(json);
	}
	remove_dump(dump);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_fault_parse_maps_kinds_onto_target_faults),
	        cmocka_unit_test(test_fault_parse_rejects_bad_ports_and_kinds),
	        cmocka_unit_test(test_fault_parse_takes_every_port_form_of_the_bus),
	        cmocka_unit_test(test_port_names_fill_hubs_in_order),
	        cmocka_unit_test(test_line_rejects_bad_configuration),
	        cmocka_unit_test(test_line_takes_idle_units_off_and_swaps_in_the_next),
	        cmocka_unit_test(test_profile_parse_takes_names_and_ports),
	        cmocka_unit_test(test_ports_take_profiles_and_explicit_options_win),
	        cmocka_unit_test(test_line_mode_keeps_the_port_profile_for_the_next_units),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
