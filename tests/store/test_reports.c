/*
 * Tests of the reports in the line's words (issue 11): finding a unit the way
 * people type its serial (case, 0x, USB serial, unique prefix, "did you
 * mean"), slot labels in history and report, the package filter by name,
 * version, name-version, path and hash prefix, the failed units with their
 * class and action, hour and shift buckets with good units per hour, the
 * classes in the Pareto, the new keys in text, CSV and JSON, and the one-line
 * usage errors of `report` and `history`.
 *
 * The line is built through the writer, then the v4 columns the station fills
 * (run.slot_label, run.error_class) are set with plain SQL, so these tests do
 * not depend on who records them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edlstation/cli.h"
#include "edlstation/store.h"
#include "edlstation/store_cli.h"
#include "fixture.h"
#include "jsoncheck.h"
#include "store/store_internal.h"

#define T0 1714550400000LL /* 2024-05-01T08:00:00Z */
#define MIN_MS 60000LL
#define HOUR_MS 3600000LL

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL || fixture_init(fx) != 0) {
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	fixture_cleanup(*state);
	free(*state);
	return 0;
}

/* Runs fixed SQL from the test on a fresh connection. */
static void sql_exec(const char *db_path, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(db);
}

static struct edl_store_writer *open_writer(const char *path)
{
	struct edl_store_writer *w = NULL;
	struct edl_error err;

	assert_int_equal(edl_store_writer_open(&w, path, NULL, &err), EDL_OK);
	fixture_station_and_package(w);
	return w;
}

static void device(struct edl_store_writer *w, const char *serial, const char *usb)
{
	struct edl_store_device dev = {.serial = serial, .usb_serial = usb, .seen_ms = T0};
	assert_int_equal(edl_store_writer_device(w, &dev, NULL, NULL), EDL_OK);
}

/* One finished run with the package, error and message given. */
static int64_t run(struct edl_store_writer *w, const char *serial, int slot, const char *package,
                   int64_t start_ms, enum edl_store_result result, int error_code)
{
	char port[32];
	int64_t id = 0;
	struct edl_store_run_start start = {
	        .serial = serial,
	        .station = "line-1",
	        .package_hash = package,
	        .slot = slot,
	        .port = port,
	        .attempt = 1,
	        .start_ms = start_ms,
	};
	struct edl_store_run_end end = {
	        .result = result,
	        .end_ms = start_ms + 2 * MIN_MS,
	        .bytes_written = 64u << 20,
	        .duration_ms = 2 * MIN_MS,
	};

	snprintf(port, sizeof(port), "1-1.%d", slot);
	if (result != EDL_RESULT_PASS) {
		end.stage = "firehose";
		end.error_code = error_code;
		end.message = "program of LUN 0 refused";
	}
	assert_int_equal(edl_store_writer_run_start(&id, w, &start, NULL, NULL), EDL_OK);
	end.run_id = id;
	assert_int_equal(edl_store_writer_run_finish(w, &end, NULL, NULL), EDL_OK);
	return id;
}

#define PKG2 "abcdef0123456789abcdef0123456789"

/*
 * Eight units on four labelled slots (A1 A2 A3 B1 = slots 1..4) of two packages:
 *   1a2b3c52 (usb USB-0001) slot A3, demo: fails FH_NAK at 08:00, passes at 08:30
 *   1a2b3c53                slot A3, demo: fails FH_NAK at 08:10 (class stored rma)
 *   cafe0001 (usb SN-XYZ-77) slot B1, RM502: fails WRONG_PACKAGE at 09:05, class
 *                            stored "wrong-package"
 *   beef0001..beef0004      slot A1/A2, RM502: pass at 09:10 .. 10:40 (every 30 min)
 *   dead0001                slot 5 with no label and no port: fails POWER_CYCLE 10:50
 */
static void build_labelled_line(const char *path)
{
	struct edl_store_writer *w = open_writer(path);
	struct edl_store_package pkg2 = {
	        .manifest_hash = PKG2,
	        .path = "/srv/firmware/RM502QAEAAR13A03M4G",
	        .name = "RM502QAEAAR13A03M4G",
	        .version = "R13A03",
	        .storage = "nand",
	};
	char serial[16];

	assert_int_equal(edl_store_writer_package(w, &pkg2, NULL, NULL), EDL_OK);
	device(w, "1a2b3c52", "USB-0001");
	device(w, "1a2b3c53", NULL);
	device(w, "cafe0001", "SN-XYZ-77");
	run(w, "1a2b3c52", 3, "pkg-hash-0001", T0, EDL_RESULT_FAIL, EDL_E_FH_NAK);
	run(w, "1a2b3c53", 3, "pkg-hash-0001", T0 + 10 * MIN_MS, EDL_RESULT_FAIL, EDL_E_FH_NAK);
	run(w, "1a2b3c52", 3, "pkg-hash-0001", T0 + 30 * MIN_MS, EDL_RESULT_PASS, 0);
	run(w, "cafe0001", 4, PKG2, T0 + 65 * MIN_MS, EDL_RESULT_FAIL, EDL_E_WRONG_PACKAGE);
	for (int i = 0; i < 4; i++) {
		snprintf(serial, sizeof(serial), "beef%04d", i + 1);
		run(w, serial, 1 + i % 2, PKG2, T0 + (70 + 30 * i) * MIN_MS, EDL_RESULT_PASS, 0);
	}
	run(w, "dead0001", 5, PKG2, T0 + 170 * MIN_MS, EDL_RESULT_FAIL, EDL_E_POWER_CYCLE);
	assert_int_equal(edl_store_writer_flush(w), EDL_OK);
	edl_store_writer_close(w);
	sql_exec(path, "UPDATE run SET slot_label = CASE slot WHEN 1 THEN 'A1' WHEN 2 THEN 'A2'"
	               " WHEN 3 THEN 'A3' WHEN 4 THEN 'B1' END;"
	               "UPDATE run SET port = NULL WHERE slot = 5;"
	               "UPDATE run SET error_class = 'rma' WHERE serial = '1a2b3c53';"
	               "UPDATE run SET error_class = 'wrong-package' WHERE serial = 'cafe0001';");
}

static struct edl_store *open_store(const char *path)
{
	struct edl_store *s = NULL;
	struct edl_error err;

	assert_int_equal(edl_store_open(&s, path, &err), EDL_OK);
	return s;
}

static struct edl_store_report *report_of(const char *path, const struct edl_store_filter *f)
{
	struct edl_store *s = open_store(path);
	struct edl_store_filter all;
	struct edl_store_report *r = NULL;
	struct edl_error err;

	edl_store_filter_init(&all);
	assert_int_equal(edl_store_report(&r, s, f != NULL ? f : &all, &err), EDL_OK);
	edl_store_close(s);
	return r;
}

static char *render_report(const struct edl_store_report *r, enum edl_store_format fmt)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	assert_int_equal(edl_store_report_write(f, r, fmt), EDL_OK);
	fclose(f);
	return text;
}

static char *render_history(const struct edl_store_history *h, enum edl_store_format fmt)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	assert_int_equal(edl_store_history_write(f, h, fmt), EDL_OK);
	fclose(f);
	return text;
}

static void assert_has(const char *text, const char *needle)
{
	if (strstr(text, needle) == NULL)
		fail_msg("missing \"%s\" in:\n%s", needle, text);
}

/* ---- finding a unit ------------------------------------------------------------------- */

static int find(char *out, size_t len, const char *db, const char *text, struct edl_error *err)
{
	struct edl_store *s = open_store(db);
	int rc = edl_store_find_unit(out, len, s, text, err);

	edl_store_close(s);
	return rc;
}

static void test_find_unit_takes_serials_as_people_type_them(void **state)
{
	struct fixture *fx = *state;
	static const struct {
		const char *typed, *serial;
	} cases[] = {
	        {"1a2b3c52", "1a2b3c52"},   {"1A2B3C52", "1a2b3c52"},
	        {"0x1A2B3C52", "1a2b3c52"}, {"0X1a2b3c52", "1a2b3c52"},
	        {" 1a2b3c52 ", "1a2b3c52"}, {"usb-0001", "1a2b3c52"}, /* the USB serial, any case */
	        {"SN-XYZ-77", "cafe0001"},  {"CAFE", "cafe0001"},     /* a unique prefix */
	        {"0xcafe", "cafe0001"},     {"sn-xyz", "cafe0001"},   /* USB serial prefix */
	};
	struct edl_error err;
	char serial[32];

	build_labelled_line(fx->db);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		edl_error_clear(&err);
		if (find(serial, sizeof(serial), fx->db, cases[i].typed, &err) != EDL_OK)
			fail_msg("'%s' not found: %s", cases[i].typed, err.detail);
		assert_string_equal(serial, cases[i].serial);
	}
	/* Too small a buffer is said, not overrun. */
	assert_int_equal(find(serial, 4, fx->db, "cafe0001", &err), EDL_E_RANGE);
}

static void test_find_unit_says_ambiguous_and_did_you_mean(void **state)
{
	struct fixture *fx = *state;
	struct edl_error err;
	char serial[32];

	build_labelled_line(fx->db);
	assert_int_equal(find(serial, sizeof(serial), fx->db, "1A2B3C5", &err), EDL_E_AGAIN);
	assert_string_equal(err.detail, "ambiguous: 2 units start with 1A2B3C5: 1a2b3c52, "
	                                "1a2b3c53; type more of the serial");
	assert_int_equal(find(serial, sizeof(serial), fx->db, "beef", &err), EDL_E_AGAIN);
	assert_has(err.detail, "ambiguous: 4 units start with beef: beef0001, beef0002");
	assert_int_equal(find(serial, sizeof(serial), fx->db, "1A2B3C5X", &err), EDL_E_NOENT);
	assert_string_equal(err.detail, "no unit 1A2B3C5X; did you mean 1a2b3c52?");
	assert_int_equal(find(serial, sizeof(serial), fx->db, "cafe0010", &err), EDL_E_NOENT);
	assert_string_equal(err.detail, "no unit cafe0010; did you mean cafe0001?");
	assert_int_equal(find(serial, sizeof(serial), fx->db, "ZZZZZZZZ", &err), EDL_E_NOENT);
	assert_has(err.detail, "no unit ZZZZZZZZ in the database");
	/* A typed escape sequence is never echoed raw. */
	assert_int_equal(find(serial, sizeof(serial), fx->db, "\x1b[31mX", &err), EDL_E_NOENT);
	assert_null(strchr(err.detail, '\x1b'));
	assert_int_equal(find(serial, sizeof(serial), fx->db, "  ", &err), EDL_E_INVAL);
	assert_int_equal(find(serial, sizeof(serial), fx->db, "0x", &err), EDL_E_NOENT);
}

/* ---- history ------------------------------------------------------------------------- */

static void test_history_shows_slot_label_class_and_action(void **state)
{
	struct fixture *fx = *state;
	struct edl_store *s;
	struct edl_store_history *h = NULL;
	struct edl_error err;
	char *text;

	build_labelled_line(fx->db);
	s = open_store(fx->db);
	assert_int_equal(edl_store_history(&h, s, "1a2b3c52", 0, &err), EDL_OK);
	assert_int_equal(h->n_runs, 2);
	assert_string_equal(h->runs[0].slot_label, "A3");
	assert_string_equal(h->runs[0].error_class, "rma");
	assert_string_equal(h->runs[0].action, edl_error_action(EDL_E_FH_NAK));
	assert_null(h->runs[1].error_class); /* passed */
	assert_null(h->runs[1].action);
	text = render_history(h, EDL_STORE_FORMAT_TEXT);
	assert_has(text, "station line-1 slot A3 (1-1.3)");
	assert_has(text, "stage firehose, error EDL_E_FH_NAK, class rma\n");
	assert_has(text, "    action: set the unit aside for RMA");
	assert_has(text, "package demo 1.0 (/srv/firmware/demo)");
	free(text);
	text = render_history(h, EDL_STORE_FORMAT_CSV);
	assert_has(text, ",warnings,slot_label,class,action,kind,product\n");
	assert_has(text, ",A3,rma,set the unit aside for RMA");
	free(text);
	text = render_history(h, EDL_STORE_FORMAT_JSON);
	if (edl_test_have_python())
		assert_true(edl_test_json_check(
		        text, strlen(text), false,
		        "r = d['runs'][0]\n"
		        "assert r['slot_label'] == 'A3' and r['class'] == 'rma', r\n"
		        "assert r['action'].startswith('set the unit aside'), r\n"
		        "assert d['runs'][1]['class'] is None and d['runs'][1]['action'] is "
		        "None\n"));
	free(text);
	edl_store_history_free(h);

	/* The stored class wins over the code's, and brings its own action. */
	assert_int_equal(edl_store_history(&h, s, "cafe0001", 0, &err), EDL_OK);
	assert_string_equal(h->runs[0].slot_label, "B1");
	assert_string_equal(h->runs[0].error_class, "wrong-package");
	assert_has(h->runs[0].action, "check the package");
	edl_store_history_free(h);

	/* No label and no port: the slot number, marked, never a bare "slot 5". */
	assert_int_equal(edl_store_history(&h, s, "dead0001", 0, &err), EDL_OK);
	assert_string_equal(h->runs[0].slot_label, "#5");
	assert_string_equal(h->runs[0].error_class, "power-cycle");
	edl_store_history_free(h);
	edl_store_close(s);
}

/* ---- report ------------------------------------------------------------------------- */

static void test_report_keys_slots_by_label_and_filters_by_slot(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_filter f;
	struct edl_store_report *r;
	char *text;

	build_labelled_line(fx->db);
	r = report_of(fx->db, NULL);
	assert_int_equal(r->n_slots, 5);
	assert_string_equal(r->slots[0].label, "A1");
	assert_string_equal(r->slots[2].label, "A3");
	assert_string_equal(r->slots[3].label, "B1");
	assert_string_equal(r->slots[4].label, "#5");
	text = render_report(r, EDL_STORE_FORMAT_TEXT);
	assert_has(text, "  line-1       A3         1-1.3           3");
	assert_null(strstr(text, "slot 3"));
	free(text);
	edl_store_report_free(r);

	static const char *const a3[] = {"A3", "a3", "1-1.3"};
	for (size_t i = 0; i < 3; i++) {
		edl_store_filter_init(&f);
		f.slot = a3[i];
		r = report_of(fx->db, &f);
		assert_int_equal(r->runs, 3);
		assert_int_equal(r->units, 2);
		assert_int_equal(r->n_slots, 1);
		assert_string_equal(r->slots[0].label, "A3");
		edl_store_report_free(r);
	}
	edl_store_filter_init(&f);
	f.slot = "C9";
	r = report_of(fx->db, &f);
	assert_int_equal(r->runs, 0);
	edl_store_report_free(r);
}

static void test_report_filters_package_by_name_version_path_and_hash(void **state)
{
	struct fixture *fx = *state;
	static const char *const rm502[] = {
	        "RM502QAEAAR13A03M4G",
	        "rm502qaeaar13a03m4g",
	        "R13A03",
	        "RM502QAEAAR13A03M4G-R13A03",
	        "rm502qaeaar13a03m4g r13a03",
	        "/srv/firmware/RM502QAEAAR13A03M4G",
	        "abcdef",
	        "ABCDEF0123",
	};
	struct edl_store_filter f;
	struct edl_store_report *r;
	char *text;

	build_labelled_line(fx->db);
	for (size_t i = 0; i < sizeof(rm502) / sizeof(rm502[0]); i++) {
		edl_store_filter_init(&f);
		f.package = rm502[i];
		r = report_of(fx->db, &f);
		if (r->runs != 6)
			fail_msg("--package %s selected %llu runs, not 6", rm502[i],
			         (unsigned long long)r->runs);
		assert_int_equal(r->n_packages, 1);
		assert_string_equal(r->packages[0].name, "RM502QAEAAR13A03M4G");
		assert_string_equal(r->packages[0].version, "R13A03");
		assert_int_equal(r->packages[0].passes, 4);
		assert_int_equal(r->packages[0].failures, 2);
		edl_store_report_free(r);
	}
	edl_store_filter_init(&f);
	f.package = "abc"; /* too short a hash prefix to mean anything */
	r = report_of(fx->db, &f);
	assert_int_equal(r->runs, 0);
	edl_store_report_free(r);

	r = report_of(fx->db, NULL);
	assert_int_equal(r->n_packages, 2);
	assert_string_equal(r->packages[0].name, "RM502QAEAAR13A03M4G"); /* most runs first */
	assert_string_equal(r->packages[1].name, "demo");
	text = render_report(r, EDL_STORE_FORMAT_TEXT);
	assert_has(text, "\nby package\n");
	assert_has(text, "  RM502QAEAAR13A03M4G          R13A03                6      4      2  "
	                 "abcdef012345 /srv/firmware/RM502QAEAAR13A03M4G\n");
	free(text);
	edl_store_report_free(r);
}

static void test_report_lists_failed_units_newest_first_with_actions(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_filter f;
	struct edl_store_report *r;
	char *text;

	build_labelled_line(fx->db);
	r = report_of(fx->db, NULL);
	/* 1a2b3c52 passed its retest: not listed. */
	assert_int_equal(r->failed_units, 3);
	assert_int_equal(r->n_failed, 3);
	assert_string_equal(r->failed[0].serial, "dead0001");
	assert_string_equal(r->failed[0].slot_label, "#5");
	assert_string_equal(r->failed[0].error_class, "power-cycle");
	assert_string_equal(r->failed[0].action, edl_error_action(EDL_E_POWER_CYCLE));
	assert_string_equal(r->failed[1].serial, "cafe0001");
	assert_string_equal(r->failed[1].slot_label, "B1");
	assert_string_equal(r->failed[1].stage, "firehose");
	assert_string_equal(r->failed[1].error, "EDL_E_WRONG_PACKAGE");
	assert_string_equal(r->failed[1].error_class, "wrong-package");
	assert_string_equal(r->failed[1].message, "program of LUN 0 refused");
	assert_string_equal(r->failed[1].result, "fail");
	assert_string_equal(r->failed[2].serial, "1a2b3c53");
	assert_string_equal(r->failed[2].slot_label, "A3");
	edl_store_report_free(r);

	edl_store_filter_init(&f);
	f.failed_max = 1;
	r = report_of(fx->db, &f);
	assert_int_equal(r->failed_units, 3);
	assert_int_equal(r->n_failed, 1);
	text = render_report(r, EDL_STORE_FORMAT_TEXT);
	assert_has(text, "\nfailed units (1 of 3 listed, newest first)\n");
	assert_has(text, "  2024-05-01T10:50:00Z #5         dead0001     firehose         "
	                 "power-cycle              program of LUN 0 refused\n"
	                 "    action: ");
	assert_has(text, "  ... 2 more (--failed N");
	free(text);
	edl_store_report_free(r);

	/* The Pareto carries the class. */
	r = report_of(fx->db, NULL);
	for (size_t i = 0; i < r->n_pareto; i++) {
		if (strcmp(r->pareto[i].error, "EDL_E_WRONG_PACKAGE") == 0)
			assert_string_equal(r->pareto[i].error_class, "wrong-package");
		if (strcmp(r->pareto[i].error, "EDL_E_FH_NAK") == 0) {
			assert_string_equal(r->pareto[i].error_class, "rma");
			assert_int_equal(r->pareto[i].count, 2);
		}
	}
	text = render_report(r, EDL_STORE_FORMAT_TEXT);
	assert_has(text,
	           "  firehose             EDL_E_FH_NAK                 rma                    "
	           "2");
	free(text);
	edl_store_report_free(r);
}

static void test_report_buckets_by_hour_and_shift(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_filter f;
	struct edl_store_report *r;
	char *text;

	build_labelled_line(fx->db);
	r = report_of(fx->db, NULL);
	/* 08:00 .. 10:52: hours 08, 09, 10. First runs: 08:00 52, 08:10 53; 09:05 cafe,
	 * 09:10 beef1, 09:40 beef2; 10:10 beef3, 10:40 beef4, 10:50 dead. */
	assert_int_equal(r->n_buckets, 3);
	assert_int_equal(r->buckets[0].start_ms, T0);
	assert_int_equal(r->buckets[0].units, 2);
	assert_int_equal(r->buckets[0].passed_units, 1);
	assert_int_equal(r->buckets[0].first_pass_units, 0);
	assert_float_equal(r->buckets[0].first_pass_yield, 0.0, 1e-12);
	assert_float_equal(r->buckets[0].units_per_hour, 2.0, 1e-9);
	assert_float_equal(r->buckets[0].good_units_per_hour, 1.0, 1e-9);
	assert_int_equal(r->buckets[1].units, 3);
	assert_int_equal(r->buckets[1].passed_units, 2);
	assert_float_equal(r->buckets[1].first_pass_yield, 2.0 / 3.0, 1e-12);
	assert_int_equal(r->buckets[2].units, 3);
	assert_int_equal(r->buckets[2].end_ms, T0 + 172 * MIN_MS); /* clipped to the window */
	assert_float_equal(r->buckets[2].units_per_hour, 3.0 / (52.0 / 60.0), 1e-9);
	text = render_report(r, EDL_STORE_FORMAT_TEXT);
	assert_has(text, "\nby hour (units counted where their first run started)\n");
	assert_has(text, "  2024-05-01 09:00       3      2  66.7%       3.0       2.0\n");
	free(text);
	edl_store_report_free(r);

	edl_store_filter_init(&f);
	f.bucket = EDL_STORE_BUCKET_SHIFT;
	r = report_of(fx->db, &f);
	assert_int_equal(r->n_buckets, 1); /* all inside 06:00 .. 14:00 */
	assert_int_equal(r->buckets[0].units, 8);
	text = render_report(r, EDL_STORE_FORMAT_TEXT);
	assert_null(strstr(text, "\nby shift"));
	free(text);
	edl_store_report_free(r);

	/* Across 14:00: two shifts, and a window from 13:00 clips the first. */
	{
		struct edl_store_writer *w = NULL;
		struct edl_error err;
		assert_int_equal(edl_store_writer_open(&w, fx->db, NULL, &err), EDL_OK);
		run(w, "f0000001", 1, "pkg-hash-0001", T0 + 5 * HOUR_MS + 30 * MIN_MS,
		    EDL_RESULT_PASS, 0);
		run(w, "f0000002", 1, "pkg-hash-0001", T0 + 6 * HOUR_MS + 30 * MIN_MS,
		    EDL_RESULT_PASS, 0);
		assert_int_equal(edl_store_writer_flush(w), EDL_OK);
		edl_store_writer_close(w);
	}
	edl_store_filter_init(&f);
	f.bucket = EDL_STORE_BUCKET_SHIFT;
	f.since_ms = T0 + 5 * HOUR_MS;
	r = report_of(fx->db, &f);
	assert_int_equal(r->n_buckets, 2);
	assert_int_equal(r->buckets[0].start_ms, T0 + 5 * HOUR_MS);
	assert_int_equal(r->buckets[0].end_ms, T0 + 6 * HOUR_MS);
	assert_int_equal(r->buckets[1].start_ms, T0 + 6 * HOUR_MS); /* 14:00 */
	assert_int_equal(r->buckets[0].units, 1);
	assert_int_equal(r->buckets[1].units, 1);
	text = render_report(r, EDL_STORE_FORMAT_TEXT);
	assert_has(text, "\nby shift (units");
	assert_has(text, "  2024-05-01 14:00       1      1 100.0%");
	free(text);
	edl_store_report_free(r);
}

static void test_good_units_per_hour_is_zero_without_passes(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_writer *w = open_writer(fx->db);
	struct edl_store_report *r;
	char serial[16];
	char *text;

	for (int i = 0; i < 24; i++) {
		snprintf(serial, sizeof(serial), "0000%04d", i);
		run(w, serial, 1 + i % 8, "pkg-hash-0001", T0 + i * 10000, EDL_RESULT_FAIL,
		    EDL_E_WRONG_PACKAGE);
	}
	assert_int_equal(edl_store_writer_flush(w), EDL_OK);
	edl_store_writer_close(w);
	r = report_of(fx->db, NULL);
	assert_true(r->units_per_hour > 100.0);
	assert_float_equal(r->good_units_per_hour, 0.0, 0.0);
	assert_int_equal(r->n_buckets, 1);
	assert_float_equal(r->buckets[0].good_units_per_hour, 0.0, 0.0);
	text = render_report(r, EDL_STORE_FORMAT_TEXT);
	assert_has(text, "good units per hour    0.0   units whose last run passed\n");
	free(text);
	text = render_report(r, EDL_STORE_FORMAT_CSV);
	assert_has(text, "\nsummary,good_units_per_hour,0.000000\n");
	free(text);
	edl_store_report_free(r);
}

static void test_report_formats_carry_the_new_keys(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_filter f;
	struct edl_store_report *r;
	char *text;

	build_labelled_line(fx->db);
	edl_store_filter_init(&f);
	f.slot = "B1";
	f.package = "RM502QAEAAR13A03M4G";
	r = report_of(fx->db, &f);
	text = render_report(r, EDL_STORE_FORMAT_TEXT);
	assert_has(text, "filter: station any, package RM502QAEAAR13A03M4G, slot B1, unit any\n");
	free(text);
	text = render_report(r, EDL_STORE_FORMAT_CSV);
	assert_has(text, "\nsummary,slot,B1\n");
	assert_has(text, "\ntable,serial,run_id,start,station,slot,result,stage,error,class,"
	                 "message,action\n");
	assert_has(text, "\nfailed,cafe0001,4,2024-05-01T09:05:00.000Z,line-1,B1,fail,firehose,"
	                 "EDL_E_WRONG_PACKAGE,wrong-package,program of LUN 0 refused,check the "
	                 "package");
	assert_has(text, "\ntable,by,start,end,units,passed_units,first_pass_units,"
	                 "first_pass_yield,units_per_hour,good_units_per_hour\n"
	                 "bucket,hour,2024-05-01T09:05:00.000Z,2024-05-01T09:07:00.000Z,1,0,0,");
	assert_has(text,
	           "\ntable,name,version,path,manifest_hash,runs,passes,failures\n"
	           "package,RM502QAEAAR13A03M4G,R13A03,/srv/firmware/RM502QAEAAR13A03M4G," PKG2
	           ",1,0,1\n");
	assert_has(text, "\nslot,line-1,4,1-1.4,1,0,1,0,1.000000,,0,B1\n");
	assert_has(text,
	           "\npareto,firehose,EDL_E_WRONG_PACKAGE,1,1.000000,1.000000,wrong-package\n");
	free(text);
	edl_store_report_free(r);

	r = report_of(fx->db, NULL);
	text = render_report(r, EDL_STORE_FORMAT_JSON);
	assert_has(text, "\"good_units_per_hour\": ");
	if (edl_test_have_python())
		assert_true(edl_test_json_check(
		        text, strlen(text), false,
		        "assert d['filter']['slot'] is None and d['filter']['serial'] is None\n"
		        "assert [s['label'] for s in d['by_slot']] == ['A1','A2','A3','B1','#5']\n"
		        "assert d['failure_pareto'][0]['class'] == 'rma', d['failure_pareto']\n"
		        "f = d['failed']\n"
		        "assert [u['serial'] for u in f] == ['dead0001','cafe0001','1a2b3c53'], f\n"
		        "assert f[1]['slot'] == 'B1' and f[1]['class'] == 'wrong-package'\n"
		        "assert f[1]['action'].startswith('check the package') and f[1]['run_id'] "
		        "== 4\n"
		        "assert f[1]['start'] == '2024-05-01T09:05:00.000Z' and f[1]['station'] == "
		        "'line-1'\n"
		        "assert d['bucket'] == 'hour' and len(d['buckets']) == 3\n"
		        "b = d['buckets'][1]\n"
		        "assert b['start'] == '2024-05-01T09:00:00.000Z' and b['units'] == 3\n"
		        "assert b['passed_units'] == 2 and b['first_pass_units'] == 2\n"
		        "assert abs(b['first_pass_yield'] - 2/3) < 1e-5 and "
		        "b['good_units_per_hour'] == 2\n"
		        "p = d['packages']\n"
		        "assert p[0]['name'] == 'RM502QAEAAR13A03M4G' and p[0]['version'] == "
		        "'R13A03'\n"
		        "assert p[1]['manifest_hash'] == 'pkg-hash-0001' and p[1]['runs'] == 3\n"
		        "assert d['good_units_per_hour'] > 0\n"));
	free(text);
	edl_store_report_free(r);
}

/* ---- the CLI -------------------------------------------------------------------------- */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text;
	long len;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)len + 1);
	assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	return text;
}

/* Runs a subcommand with stdout and stderr sent to files; returns its exit code. */
static int run_cli(int (*cmd)(int, char **), char **argv, char **out, char **errs)
{
	char opath[] = "/tmp/edl-reports-out-XXXXXX", epath[] = "/tmp/edl-reports-err-XXXXXX";
	int ofd = mkstemp(opath), efd = mkstemp(epath);
	int saved_out, saved_err, rc, argc = 0;

	assert_true(ofd >= 0 && efd >= 0);
	while (argv[argc] != NULL)
		argc++;
	fflush(stdout);
	fflush(stderr);
	saved_out = dup(1);
	saved_err = dup(2);
	dup2(ofd, 1);
	dup2(efd, 2);
	rc = cmd(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	close(ofd);
	close(efd);
	*out = slurp(opath);
	*errs = slurp(epath);
	unlink(opath);
	unlink(epath);
	return rc;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* Exit 2 with exactly two lines: what was wrong (containing what), then usage. */
static void expect_usage_error(int (*cmd)(int, char **), char **argv, const char *what)
{
	char *out, *errs;

	assert_int_equal(run_cli(cmd, argv, &out, &errs), EDL_EXIT_USAGE);
	if (count_lines(errs) != 2 || strstr(errs, what) == NULL ||
	    strstr(strchr(errs, '\n'), "\nusage: edlstation ") == NULL)
		fail_msg("expected '%s' then one usage line, got:\n%s", what, errs);
	assert_string_equal(out, "");
	free(out);
	free(errs);
}

static void test_cli_usage_errors_say_what_then_one_usage_line(void **state)
{
	struct fixture *fx = *state;

	build_labelled_line(fx->db);
	{
		char *argv[] = {"history", "--db", fx->db, "A", "B", NULL};
		expect_usage_error(edl_cli_history, argv,
		                   "edlstation history: one SERIAL only; unexpected 'B'");
	}
	{
		char *argv[] = {"history", "--db", fx->db, NULL};
		expect_usage_error(edl_cli_history, argv, "edlstation history: no SERIAL given");
	}
	{
		char *argv[] = {"history", "--bogus", "x", NULL};
		expect_usage_error(edl_cli_history, argv,
		                   "edlstation history: unknown option '--bogus'");
	}
	{
		char *argv[] = {"history", "--db", fx->db, "--format", "xml", "x", NULL};
		expect_usage_error(edl_cli_history, argv,
		                   "unknown format (text, csv or json) 'xml'");
	}
	{
		char *argv[] = {"report", "--bogus", NULL};
		expect_usage_error(edl_cli_report, argv,
		                   "edlstation report: unknown option '--bogus'");
	}
	{
		char *argv[] = {"report", "--db", NULL};
		expect_usage_error(edl_cli_report, argv, "option needs a value: '--db'");
	}
	{
		char *argv[] = {"report", "--db", fx->db, "extra", NULL};
		expect_usage_error(edl_cli_report, argv, "unexpected argument 'extra'");
	}
	{
		char *argv[] = {"report", "--db", fx->db, "--by", "day", NULL};
		expect_usage_error(edl_cli_report, argv, "--by wants hour or shift, not 'day'");
	}
	{
		char *argv[] = {"report", "--db", fx->db, "--failed", "-1", NULL};
		expect_usage_error(edl_cli_report, argv, "--failed wants a count, not '-1'");
	}
	{
		char *argv[] = {"report", "--since", "yesterday", NULL};
		expect_usage_error(edl_cli_report, argv, "--since: 'yesterday' is not a time");
	}
}

static void test_cli_history_and_report_find_units_as_typed(void **state)
{
	struct fixture *fx = *state;
	char *out, *errs;

	build_labelled_line(fx->db);
	{
		char *argv[] = {"history", "--db", fx->db, "0x1A2B3C52", NULL};
		assert_int_equal(run_cli(edl_cli_history, argv, &out, &errs), EDL_EXIT_OK);
		assert_has(out, "unit 1a2b3c52\n");
		assert_has(out, "2 runs, oldest first");
		free(out);
		free(errs);
	}
	{
		char *argv[] = {"history", "--db", fx->db, "1A2B3C5", NULL};
		assert_int_equal(run_cli(edl_cli_history, argv, &out, &errs), EDL_EXIT_USAGE);
		assert_string_equal(errs,
		                    "edlstation history: ambiguous: 2 units start with 1A2B3C5: "
		                    "1a2b3c52, 1a2b3c53; type more of the serial\n");
		free(out);
		free(errs);
	}
	{
		char *argv[] = {"history", "--db", fx->db, "1A2B3C5X", NULL};
		assert_int_equal(run_cli(edl_cli_history, argv, &out, &errs), EDL_EXIT_FAILURE);
		assert_string_equal(
		        errs, "edlstation history: no unit 1A2B3C5X; did you mean 1a2b3c52?\n");
		free(out);
		free(errs);
	}
	{
		char *argv[] = {"report",    "--db",     fx->db, "--serial",
		                "SN-XYZ-77", "--format", "json", NULL};
		assert_int_equal(run_cli(edl_cli_report, argv, &out, &errs), EDL_EXIT_OK);
		assert_has(out, "\"serial\": \"cafe0001\"");
		assert_has(out, "\"runs\": 1,");
		free(out);
		free(errs);
	}
	{
		char *argv[] = {"report", "--db", fx->db, "--serial", "beef", NULL};
		assert_int_equal(run_cli(edl_cli_report, argv, &out, &errs), EDL_EXIT_USAGE);
		assert_has(errs, "edlstation report: --serial: ambiguous: 4 units");
		free(out);
		free(errs);
	}
	{
		/* Text lists 20 failed units by default, --failed N fewer; CSV all. */
		char *argv[] = {"report", "--db", fx->db, "--failed", "2", "--slot", "a3", NULL};
		assert_int_equal(run_cli(edl_cli_report, argv, &out, &errs), EDL_EXIT_OK);
		assert_has(out, "failed units (1 of 1 listed, newest first)");
		assert_has(out, "filter: station any, package any, slot a3, unit any");
		free(out);
		free(errs);
	}
	{
		char *argv[] = {"report", "--db", fx->db, "--by", "shift", "--format", "csv", NULL};
		assert_int_equal(run_cli(edl_cli_report, argv, &out, &errs), EDL_EXIT_OK);
		assert_has(out, "\nbucket,shift,2024-05-01T08:00:00.000Z,");
		assert_has(out, "\nfailed,1a2b3c53,");
		free(out);
		free(errs);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_find_unit_takes_serials_as_people_type_them,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_find_unit_says_ambiguous_and_did_you_mean,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_history_shows_slot_label_class_and_action,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_report_keys_slots_by_label_and_filters_by_slot,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_report_filters_package_by_name_version_path_and_hash, setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_report_lists_failed_units_newest_first_with_actions, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_report_buckets_by_hour_and_shift, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_good_units_per_hour_is_zero_without_passes,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_report_formats_carry_the_new_keys, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_cli_usage_errors_say_what_then_one_usage_line,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_cli_history_and_report_find_units_as_typed,
	                                        setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
