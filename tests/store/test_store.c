/*
 * Tests of the results store: the schema and its migrations, the writer thread
 * (ids, batching, per-operation failures, recovery, libuv delivery), each report
 * figure on hand-built data with known answers (yields, retests, percentiles,
 * Pareto, the slot flag on a bad slot and on noise), the history, the output
 * formats with hostile strings, the time forms and the CLI commands.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "edlstation/cli.h"
#include "edlstation/store.h"
#include "edlstation/store_cli.h"
#include "edlstation/json.h"
#include "fixture.h"
#include "jsoncheck.h"
#include "store/store_internal.h"

#define T0 1714550400000LL /* 2024-05-01T08:00:00Z */
#define MIN_MS 60000LL

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

/* One integer from a query on a fresh connection (fixed SQL from the test). */
static int64_t sql_int(const char *db_path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = -999;

	assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* One text value, copied into buf. */
static const char *sql_text(const char *db_path, const char *sql, char *buf, size_t len)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	buf[0] = '\0';
	assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
		snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return buf;
}

static struct edl_store_writer *open_writer(const char *path)
{
	struct edl_store_writer *w = NULL;
	struct edl_error err;

	edl_error_clear(&err);
	assert_int_equal(edl_store_writer_open(&w, path, NULL, &err), EDL_OK);
	return w;
}

static struct edl_store_report *report_of(const char *path, const struct edl_store_filter *f)
{
	struct edl_store *s = NULL;
	struct edl_store_report *r = NULL;
	struct edl_store_filter all;
	struct edl_error err;

	edl_error_clear(&err);
	edl_store_filter_init(&all);
	assert_int_equal(edl_store_open(&s, path, &err), EDL_OK);
	assert_int_equal(edl_store_report(&r, s, f != NULL ? f : &all, &err), EDL_OK);
	edl_store_close(s);
	return r;
}

/* Output of a formatter as a NUL-terminated string (caller frees). */
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

/* ---- schema and migrations -------------------------------------------------------------- */

static void test_store_creates_schema_in_wal_at_current_version(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_writer *w = open_writer(fx->db);
	struct edl_store *s = NULL;
	struct edl_error err;
	char buf[32];

	edl_store_writer_close(w);
	assert_int_equal(sql_int(fx->db, "PRAGMA user_version"), EDL_STORE_SCHEMA_VERSION);
	assert_string_equal(sql_text(fx->db, "PRAGMA journal_mode", buf, sizeof(buf)), "wal");
	assert_int_equal(sql_int(fx->db,
	                         "SELECT count(*) FROM sqlite_schema WHERE name IN "
	                         "('station','package','device','run','run_step','run_log')"),
	                 6);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM sqlite_schema WHERE type = 'index'"
	                                 " AND name IN ('run_by_serial', 'run_by_start')"),
	                 2);
	assert_int_equal(edl_store_open(&s, fx->db, &err), EDL_OK);
	edl_store_close(s);
}

static void test_store_migrates_a_version_1_database_keeping_its_runs(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_writer *w;
	struct edl_store_history *h = NULL;
	struct edl_store *s = NULL;
	struct edl_error err;
	sqlite3 *db = NULL;
	const char *log[] = {"ERROR: LUN 0 write protected"};
	struct edl_store_run_end end = {
	        .result = EDL_RESULT_FAIL,
	        .stage = "program",
	        .error_code = EDL_E_FH_NAK,
	        .message = "program refused",
	        .end_ms = T0 + 2 * MIN_MS,
	        .duration_ms = 60000,
	        .log_lines = log,
	        .n_log_lines = 1,
	        .functions = "program read nop configure erase power",
	        .warnings = "getstorageinfo LUN 0 failed\nreading the range back",
	};
	struct edl_store_run_start start = {
	        .serial = "0badf00d",
	        .station = "old-line",
	        .slot = 2,
	        .start_ms = T0 + MIN_MS,
	        .transcript = "/var/log/edl/run-2.log",
	};
	struct outcomes out = {0};

	/* The database as version 1 of the program left it. */
	assert_int_equal(sqlite3_open(fx->db, &db), SQLITE_OK);
	assert_int_equal(edl_store_schema_migrate(db, 1, &err), EDL_OK);
	assert_int_equal(
	        sqlite3_exec(db,
	                     "INSERT INTO station VALUES (1, 'old-line', 'h', 0, 0);"
	                     "INSERT INTO device (serial, first_seen_ms, last_seen_ms)"
	                     " VALUES ('0badf00d', 0, 0);"
	                     "INSERT INTO run (id, serial, station_id, slot, start_ms, end_ms,"
	                     " result, duration_ms) VALUES (1, '0badf00d', 1, 2,"
	                     " 1714550400000, 1714550430000, 'pass', 30000);",
	                     NULL, NULL, NULL),
	        SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(sql_int(fx->db, "PRAGMA user_version"), 1);

	/* A reader does not upgrade; it says what to do. */
	assert_int_equal(edl_store_open(&s, fx->db, &err), EDL_E_DB_OLD);
	assert_non_null(strstr(err.detail, "schema version 1"));

	w = open_writer(fx->db);
	assert_int_equal(sql_int(fx->db, "PRAGMA user_version"), EDL_STORE_SCHEMA_VERSION);
	end.run_id = 0;
	assert_int_equal(edl_store_writer_run_start(&end.run_id, w, &start, count_done, &out),
	                 EDL_OK);
	assert_int_equal(end.run_id, 2); /* after the migrated run */
	assert_int_equal(edl_store_writer_run_finish(w, &end, count_done, &out), EDL_OK);
	edl_store_writer_flush(w);
	assert_int_equal(out.ok, 2);
	edl_store_writer_close(w);

	assert_int_equal(edl_store_open(&s, fx->db, &err), EDL_OK);
	assert_int_equal(edl_store_history(&h, s, "0badf00d", 0, &err), EDL_OK);
	assert_int_equal(h->n_runs, 2);
	assert_int_equal(h->runs[0].result, EDL_RESULT_PASS);
	assert_null(h->runs[0].transcript);
	assert_int_equal(h->runs[1].result, EDL_RESULT_FAIL);
	assert_string_equal(h->runs[1].transcript, "/var/log/edl/run-2.log");
	assert_int_equal(h->runs[1].n_log_lines, 1);
	assert_string_equal(h->runs[1].log_lines[0], "ERROR: LUN 0 write protected");
	/* Version 3: the programmer's function list and the run's warnings. */
	assert_null(h->runs[0].functions);
	assert_string_equal(h->runs[1].functions, "program read nop configure erase power");
	assert_string_equal(h->runs[1].warnings,
	                    "getstorageinfo LUN 0 failed\nreading the range back");
	edl_store_history_free(h);
	edl_store_close(s);
}

static void test_store_refuses_a_newer_schema_untouched(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_writer *w = open_writer(fx->db);
	struct edl_store *s = NULL;
	struct edl_error err;
	sqlite3 *db = NULL;

	edl_store_writer_close(w);
	assert_int_equal(sqlite3_open(fx->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	w = NULL;
	assert_int_equal(edl_store_writer_open(&w, fx->db, NULL, &err), EDL_E_DB_SCHEMA);
	assert_null(w);
	assert_non_null(strstr(err.detail, "99"));
	assert_int_equal(edl_store_open(&s, fx->db, &err), EDL_E_DB_SCHEMA);
	assert_int_equal(sql_int(fx->db, "PRAGMA user_version"), 99);
}

static void test_store_rejects_missing_and_foreign_files(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_writer *w = NULL;
	struct edl_store *s = NULL;
	struct edl_error err;
	FILE *f;

	assert_int_equal(edl_store_open(&s, fx->db, &err), EDL_E_NOENT);
	assert_non_null(strstr(err.detail, "no such file"));
	assert_non_null(strstr(err.detail, fx->db));
	f = fopen(fx->db, "w");
	assert_non_null(f);
	for (int i = 0; i < 256; i++)
		fputs("this is a text file, not a database\n", f);
	fclose(f);
	assert_int_equal(edl_store_open(&s, fx->db, &err), EDL_E_DB_CORRUPT);
	assert_int_equal(edl_store_writer_open(&w, fx->db, NULL, &err), EDL_E_DB_CORRUPT);
	assert_non_null(strstr(err.detail, "not an SQLite database"));
}

static void test_store_refuses_a_second_writer(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_writer *w = open_writer(fx->db);
	struct edl_store_writer *w2 = NULL;
	struct edl_error err;

	assert_int_equal(edl_store_writer_open(&w2, fx->db, NULL, &err), EDL_E_DB_LOCKED);
	assert_non_null(strstr(err.detail, "another station"));
	edl_store_writer_close(w);
	w2 = open_writer(fx->db);
	edl_store_writer_close(w2);
}

/* ---- the writer ------------------------------------------------------------------------- */

static void test_writer_records_a_failed_run_with_steps_and_log(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_writer *w = open_writer(fx->db);
	struct outcomes out = {0};
	struct edl_store_device dev = {
	        .serial = "1a2b3c4d",
	        .usb_serial = "QUSB__BULK_SN:1A2B3C4D",
	        .hw_id = "0x000c30e100000000",
	        .msm_id = "0x000c30e1",
	        .oem_id = "0x0000",
	        .model_id = "0x0000",
	        .pk_hash = "c0ffee",
	        .seen_ms = T0,
	};
	struct edl_store_step steps[] = {
	        {EDL_STEP_ERASE, "xbl", 1, "0", 1024, 0, 10, EDL_STEP_RESULT_PASS},
	        {EDL_STEP_PROGRAM, "system", 0, "NUM_DISK_SECTORS-33.", 2048, 8u << 20, 900,
	         EDL_STEP_RESULT_FAIL},
	        {EDL_STEP_PATCH, "gpt", 0, "1", 0, 0, 0, EDL_STEP_RESULT_SKIPPED},
	};
	const char *log[] = {"INFO: Calling handler for program", "ERROR: Failed to write"};
	struct edl_store_run_start start = {
	        .serial = "1a2b3c4d",
	        .station = "line-1",
	        .package_hash = "pkg-hash-0001",
	        .slot = 3,
	        .port = "1-1.3",
	        .start_ms = T0,
	};
	struct edl_store_run_end end = {
	        .result = EDL_RESULT_FAIL,
	        .stage = "program",
	        .error_code = EDL_E_FH_NAK,
	        .message = "program of system refused",
	        .end_ms = T0 + 2000,
	        .bytes_written = 8u << 20,
	        .duration_ms = 2000,
	        .payload = 1048576,
	        .steps = steps,
	        .n_steps = 3,
	        .log_lines = log,
	        .n_log_lines = 2,
	};
	char buf[128];

	fixture_station_and_package(w);
	assert_int_equal(edl_store_writer_device(w, &dev, count_done, &out), EDL_OK);
	assert_int_equal(edl_store_writer_run_start(&end.run_id, w, &start, count_done, &out),
	                 EDL_OK);
	assert_int_equal(end.run_id, 1);
	assert_int_equal(edl_store_writer_run_finish(w, &end, count_done, &out), EDL_OK);
	assert_int_equal(edl_store_writer_flush(w), EDL_OK);
	assert_int_equal(out.ok, 3);
	assert_int_equal(out.failed, 0);
	assert_int_equal(out.last_run_id, 1);
	assert_int_equal(edl_store_writer_pending(w), 0);
	edl_store_writer_close(w);

	assert_string_equal(sql_text(fx->db, "SELECT result FROM run WHERE id = 1", buf, 128),
	                    "fail");
	assert_string_equal(sql_text(fx->db, "SELECT error FROM run WHERE id = 1", buf, 128),
	                    "EDL_E_FH_NAK");
	assert_string_equal(sql_text(fx->db, "SELECT stage FROM run WHERE id = 1", buf, 128),
	                    "program");
	assert_int_equal(sql_int(fx->db, "SELECT payload FROM run WHERE id = 1"), 1048576);
	/* 8 MiB in 2 s is 4.194304 MB/s. */
	assert_int_equal(sql_int(fx->db, "SELECT round(avg_mbps * 1000000) FROM run"), 4194304);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM run_step WHERE run_id = 1"), 3);
	assert_string_equal(
	        sql_text(fx->db, "SELECT start_sector FROM run_step WHERE idx = 1", buf, 128),
	        "NUM_DISK_SECTORS-33.");
	assert_string_equal(sql_text(fx->db, "SELECT result FROM run_step WHERE idx = 2", buf, 128),
	                    "skipped");
	assert_string_equal(sql_text(fx->db, "SELECT kind FROM run_step WHERE idx = 0", buf, 128),
	                    "erase");
	assert_string_equal(sql_text(fx->db, "SELECT text FROM run_log WHERE seq = 1", buf, 128),
	                    "ERROR: Failed to write");
	assert_string_equal(sql_text(fx->db, "SELECT hw_id FROM device", buf, 128),
	                    "0x000c30e100000000");
	assert_string_equal(sql_text(fx->db, "SELECT usb_serial FROM device", buf, 128),
	                    "QUSB__BULK_SN:1A2B3C4D");
	assert_string_equal(sql_text(fx->db, "SELECT host FROM station", buf, 128), "bench-host");
	assert_string_equal(sql_text(fx->db, "SELECT version FROM package", buf, 128), "1.0");
}

static void test_writer_keeps_log_lines_only_for_runs_that_did_not_pass(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_writer *w = open_writer(fx->db);
	const char *log[] = {"INFO: all good"};
	struct edl_store_run_start start = {.serial = "00000001", .station = "line-1"};
	struct edl_store_run_end end = {
	        .result = EDL_RESULT_PASS, .end_ms = 1, .log_lines = log, .n_log_lines = 1};

	fixture_station_and_package(w);
	edl_store_writer_run_start(&end.run_id, w, &start, NULL, NULL);
	edl_store_writer_run_finish(w, &end, NULL, NULL);
	edl_store_writer_close(w);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM run_log"), 0);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM run WHERE result = 'pass'"), 1);
}

static void test_writer_fails_a_bad_operation_alone(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_writer *w = open_writer(fx->db);
	struct outcomes bad = {0}, good = {0}, unknown = {0}, twice = {0};
	struct edl_store_run_start start = {.serial = "00000002", .station = "nowhere"};
	struct edl_store_run_end end = {.run_id = 999, .result = EDL_RESULT_PASS};
	int64_t id;

	fixture_station_and_package(w);
	/* Three bad operations among good ones, in one batch or several. */
	assert_int_equal(edl_store_writer_run_start(&id, w, &start, count_done, &bad), EDL_OK);
	assert_int_equal(edl_store_writer_run_finish(w, &end, count_done, &unknown), EDL_OK);
	id = fixture_run(w, "00000003", 1, T0, 1000, EDL_RESULT_PASS, 0);
	end.run_id = id;
	assert_int_equal(edl_store_writer_run_finish(w, &end, count_done, &twice), EDL_OK);
	start.station = "line-1";
	start.serial = "00000004";
	assert_int_equal(edl_store_writer_run_start(&id, w, &start, count_done, &good), EDL_OK);
	edl_store_writer_flush(w);

	assert_int_equal(bad.failed, 1);
	assert_int_equal(bad.last_code, EDL_E_NOENT);
	assert_non_null(strstr(bad.last_detail, "station 'nowhere' is not recorded"));
	assert_int_equal(unknown.last_code, EDL_E_NOENT);
	assert_string_equal(unknown.last_detail, "run 999 does not exist"); /* said once */
	assert_int_equal(twice.last_code, EDL_E_INVAL);
	assert_non_null(strstr(twice.last_detail, "already finished (pass)"));
	assert_int_equal(good.ok, 1);
	edl_store_writer_close(w);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM run"), 2);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM run WHERE result = 'pass'"), 1);
}

static void test_writer_rejects_invalid_records_at_once(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_writer *w = open_writer(fx->db);
	struct edl_store_station st = {0};
	struct edl_store_package pkg = {0};
	struct edl_store_device dev = {0};
	struct edl_store_run_start start = {0};
	struct edl_store_run_end end = {.run_id = 1, .result = EDL_RESULT_RUNNING};
	int64_t id;

	assert_int_equal(edl_store_writer_station(w, &st, NULL, NULL), EDL_E_INVAL);
	assert_int_equal(edl_store_writer_package(w, &pkg, NULL, NULL), EDL_E_INVAL);
	assert_int_equal(edl_store_writer_device(w, &dev, NULL, NULL), EDL_E_INVAL);
	assert_int_equal(edl_store_writer_run_start(&id, w, &start, NULL, NULL), EDL_E_INVAL);
	assert_int_equal(edl_store_writer_run_finish(w, &end, NULL, NULL), EDL_E_INVAL);
	end.result = EDL_RESULT_PASS;
	end.n_steps = 2;
	assert_int_equal(edl_store_writer_run_finish(w, &end, NULL, NULL), EDL_E_INVAL);
	assert_int_equal(edl_store_writer_pending(w), 0);
	edl_store_writer_close(w);
}

static void test_writer_identify_gives_a_run_its_unit(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_writer *w = open_writer(fx->db);
	struct outcomes out = {0};
	struct edl_store_run_start start = {.station = "line-1", .slot = 1, .start_ms = T0};
	struct edl_store_device dev = {.serial = "cafe0001", .pk_hash = "aa55", .seen_ms = T0 + 5};
	int64_t id;
	char buf[64];

	fixture_station_and_package(w);
	assert_int_equal(edl_store_writer_run_start(&id, w, &start, NULL, NULL), EDL_OK);
	assert_int_equal(edl_store_writer_run_identify(w, id, &dev, count_done, &out), EDL_OK);
	assert_int_equal(edl_store_writer_run_identify(w, 4242, &dev, count_done, &out), EDL_OK);
	edl_store_writer_flush(w);
	assert_int_equal(out.ok, 1);
	assert_int_equal(out.failed, 1);
	assert_int_equal(out.last_code, EDL_E_NOENT);
	edl_store_writer_close(w);
	assert_string_equal(sql_text(fx->db, "SELECT serial FROM run", buf, 64), "cafe0001");
	assert_string_equal(sql_text(fx->db, "SELECT pk_hash FROM device", buf, 64), "aa55");
	assert_int_equal(sql_int(fx->db, "SELECT first_seen_ms FROM device"), T0 + 5);
}

/* issue 15: a run started before its unit was routed gets its product and
 * package afterwards; an unknown package hash leaves the package as it was. */
static void test_writer_route_records_product_and_package(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_writer *w = open_writer(fx->db);
	struct outcomes out = {0};
	struct edl_store_run_start start = {.station = "line-1", .slot = 1, .start_ms = T0};
	int64_t id, id2;
	char buf[64];

	fixture_station_and_package(w);
	assert_int_equal(edl_store_writer_run_start(&id, w, &start, NULL, NULL), EDL_OK);
	assert_int_equal(edl_store_writer_run_start(&id2, w, &start, NULL, NULL), EDL_OK);
	assert_int_equal(
	        edl_store_writer_run_route(w, id, "Alpha", "pkg-hash-0001", count_done, &out),
	        EDL_OK);
	assert_int_equal(
	        edl_store_writer_run_route(w, id2, "Beta", "no-such-package", count_done, &out),
	        EDL_OK);
	assert_int_equal(edl_store_writer_run_route(w, 4242, "Gamma", NULL, count_done, &out),
	                 EDL_OK);
	assert_int_equal(edl_store_writer_run_route(w, id, NULL, NULL, NULL, NULL), EDL_E_INVAL);
	edl_store_writer_flush(w);
	assert_int_equal(out.ok, 2);
	assert_int_equal(out.failed, 1); /* run 4242 does not exist */
	assert_int_equal(out.last_code, EDL_E_NOENT);
	edl_store_writer_close(w);
	assert_string_equal(sql_text(fx->db, "SELECT product FROM run WHERE id = 1", buf, 64),
	                    "Alpha");
	assert_string_equal(sql_text(fx->db,
	                             "SELECT p.manifest_hash FROM run r JOIN package p ON p.id = "
	                             "r.package_id WHERE r.id = 1",
	                             buf, 64),
	                    "pkg-hash-0001");
	assert_string_equal(sql_text(fx->db, "SELECT product FROM run WHERE id = 2", buf, 64),
	                    "Beta");
	assert_int_equal(
	        sql_int(fx->db, "SELECT count(*) FROM run WHERE id = 2 AND package_id IS NULL"), 1);
}

static void test_writer_marks_runs_left_running_interrupted(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_writer *w = open_writer(fx->db);
	struct edl_store_run_start start = {.serial = "deadbeef", .station = "line-1", .slot = 5};
	int64_t a, b;
	char buf[160];

	fixture_station_and_package(w);
	assert_int_equal(edl_store_writer_recovered(w), 0);
	edl_store_writer_run_start(&a, w, &start, NULL, NULL);
	edl_store_writer_run_start(&b, w, &start, NULL, NULL);
	fixture_run(w, "feedf00d", 1, T0, 1000, EDL_RESULT_PASS, 0);
	edl_store_writer_close(w); /* as if the station died: two runs never finished */
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM run WHERE result = 'running'"), 2);

	w = open_writer(fx->db);
	assert_int_equal(edl_store_writer_recovered(w), 2);
	edl_store_writer_close(w);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM run WHERE result = 'running'"), 0);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM run WHERE result = 'interrupted'"),
	                 2);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM run WHERE result = 'pass'"), 1);
	assert_string_equal(sql_text(fx->db, "SELECT error FROM run WHERE id = 1", buf, 160),
	                    "EDL_E_INTERRUPTED");
	assert_non_null(strstr(sql_text(fx->db, "SELECT message FROM run WHERE id = 2", buf, 160),
	                       "the station stopped before this run finished"));
}

/* Runs marked interrupted at open get distinct commit orders after every
 * finished run's (the factory sync's cursor), and with mes_outbox each is
 * queued for the MES's after_unit hook in the same transaction (issue 13:
 * the MES hears of every run, also one a killed station left running). */
static void test_writer_recovery_orders_and_queues_interrupted_runs(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_writer *w = open_writer(fx->db);
	struct edl_store_run_start start = {.serial = "deadbeef", .station = "line-1", .slot = 5};
	struct edl_store_writer_options opt = {.mes_outbox = true};
	struct edl_error err;
	int64_t a, b;
	char buf[512];

	fixture_station_and_package(w);
	edl_store_writer_run_start(&a, w, &start, NULL, NULL);
	edl_store_writer_run_start(&b, w, &start, NULL, NULL);
	fixture_run(w, "feedf00d", 1, T0, 1000, EDL_RESULT_PASS, 0);
	edl_store_writer_close(w);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM run WHERE commit_seq IS NULL"), 2);

	edl_error_clear(&err);
	assert_int_equal(edl_store_writer_open(&w, fx->db, &opt, &err), EDL_OK);
	assert_int_equal(edl_store_writer_recovered(w), 2);
	edl_store_writer_close(w);
	assert_int_equal(sql_int(fx->db, "SELECT count(DISTINCT commit_seq) FROM run"), 3);
	assert_int_equal(sql_int(fx->db,
	                         "SELECT min(commit_seq) FROM run WHERE result = "
	                         "'interrupted'") > sql_int(fx->db, "SELECT commit_seq FROM "
	                                                            "run WHERE result = "
	                                                            "'pass'"),
	                 1);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM mes_outbox"), 2);
	sql_text(fx->db, "SELECT payload FROM mes_outbox WHERE run_id = 2", buf, sizeof(buf));
	assert_non_null(strstr(buf, "\"event\":\"after_unit\""));
	assert_non_null(strstr(buf, "\"run_id\":2"));
	assert_non_null(strstr(buf, "\"result\":\"interrupted\""));
	assert_non_null(strstr(buf, "\"error\":\"EDL_E_INTERRUPTED\""));
	assert_non_null(strstr(buf, "\"serial\":\"deadbeef\""));

	/* A second open finds nothing left running and queues nothing twice. */
	assert_int_equal(edl_store_writer_open(&w, fx->db, &opt, &err), EDL_OK);
	assert_int_equal(edl_store_writer_recovered(w), 0);
	edl_store_writer_close(w);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM mes_outbox"), 2);
}

struct loop_state {
	unsigned done;
	unsigned wanted;
	bool on_loop_thread;
	pthread_t loop_thread;
	uv_loop_t *loop;
};

static void on_loop_done(const struct edl_store_done *done, void *data)
{
	struct loop_state *ls = data;

	if (done->code == EDL_OK)
		ls->done++;
	if (!pthread_equal(pthread_self(), ls->loop_thread))
		ls->on_loop_thread = false;
	if (ls->done == ls->wanted)
		uv_stop(ls->loop);
}

static void on_loop_timeout(uv_timer_t *t)
{
	uv_stop(t->loop);
}

static void test_writer_delivers_completions_on_the_libuv_loop(void **state)
{
	struct fixture *fx = *state;
	uv_timer_t timeout;
	uv_loop_t loop;
	struct edl_store_writer *w = NULL;
	struct edl_store_writer_options opts = {.loop = &loop};
	struct loop_state ls = {.wanted = 41, .on_loop_thread = true, .loop = &loop};
	struct edl_store_station st = {.name = "line-1"};
	struct edl_error err;

	assert_int_equal(uv_loop_init(&loop), 0);
	ls.loop_thread = pthread_self();
	assert_int_equal(edl_store_writer_open(&w, fx->db, &opts, &err), EDL_OK);
	edl_store_writer_station(w, &st, on_loop_done, &ls);
	for (int i = 0; i < 20; i++) {
		struct edl_store_run_start start = {
		        .serial = "0000abcd", .station = "line-1", .slot = i, .start_ms = T0 + i};
		struct edl_store_run_end end = {.result = EDL_RESULT_PASS, .end_ms = T0 + i + 1};
		edl_store_writer_run_start(&end.run_id, w, &start, on_loop_done, &ls);
		edl_store_writer_run_finish(w, &end, on_loop_done, &ls);
	}
	/* Nothing is delivered until the loop runs. */
	assert_int_equal(ls.done, 0);
	uv_timer_init(&loop, &timeout);
	uv_timer_start(&timeout, on_loop_timeout, 20000, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&timeout, NULL);
	assert_int_equal(ls.done, 41);
	assert_true(ls.on_loop_thread);
	edl_store_writer_close(w);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM run WHERE result = 'pass'"), 20);
}

static void test_reports_read_while_the_writer_commits(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_writer *w = open_writer(fx->db);
	struct edl_store *s = NULL;
	struct edl_store_filter f;
	struct edl_error err;
	uint64_t seen = 0;
	char serial[16];

	edl_store_filter_init(&f);
	fixture_station_and_package(w);
	edl_store_writer_flush(w);
	assert_int_equal(edl_store_open(&s, fx->db, &err), EDL_OK);
	for (int round = 0; round < 20; round++) {
		struct edl_store_report *r = NULL;
		for (int i = 0; i < 100; i++) {
			snprintf(serial, sizeof(serial), "%08x", round * 100 + i);
			fixture_run(w, serial, i % 8, T0 + (round * 100 + i) * 1000, 500,
			            EDL_RESULT_PASS, 0);
		}
		/* The writer thread is committing now; the reader must not wait or fail. */
		assert_int_equal(edl_store_report(&r, s, &f, &err), EDL_OK);
		assert_true(r->runs >= seen);
		seen = r->runs;
		edl_store_report_free(r);
	}
	edl_store_writer_flush(w);
	{
		struct edl_store_report *r = NULL;
		assert_int_equal(edl_store_report(&r, s, &f, &err), EDL_OK);
		assert_int_equal(r->runs, 2000);
		assert_int_equal(r->units, 2000);
		edl_store_report_free(r);
	}
	edl_store_close(s);
	edl_store_writer_close(w);
}

/* ---- report figures --------------------------------------------------------------------- */

/* A run with an explicit stage and error (or a running one with end_ms < 0). */
static int64_t custom_run(struct edl_store_writer *w, const char *serial, int slot,
                          int64_t start_ms, int64_t duration_ms, enum edl_store_result result,
                          const char *stage, int error_code, int64_t retry_of)
{
	struct edl_store_run_start start = {
	        .serial = serial,
	        .station = "line-1",
	        .package_hash = "pkg-hash-0001",
	        .slot = slot,
	        .port = "1-1.9",
	        .retry_of = retry_of,
	        .start_ms = start_ms,
	};
	struct edl_store_run_end end = {
	        .result = result,
	        .stage = stage,
	        .error_code = error_code,
	        .end_ms = start_ms + duration_ms,
	        .duration_ms = duration_ms,
	        .bytes_written = 64u << 20,
	};

	assert_int_equal(edl_store_writer_run_start(&end.run_id, w, &start, NULL, NULL), EDL_OK);
	if (result != EDL_RESULT_RUNNING)
		assert_int_equal(edl_store_writer_run_finish(w, &end, NULL, NULL), EDL_OK);
	return end.run_id;
}

/*
 * Fifteen runs on four slots with known answers:
 *  U01 U02 U03 U05 U06 U07 U09 pass first time; U04 fails then passes; U08 fails
 *  twice; U10 is interrupted then passes; one unit never identified fails at
 *  probe; U11 is still running.
 */
static void build_known_line(const char *path)
{
	struct edl_store_writer *w = open_writer(path);
	const int64_t s = 1000;
	int64_t u04, u08, u10;

	fixture_station_and_package(w);
	custom_run(w, "U01", 1, T0, 40 * s, EDL_RESULT_PASS, NULL, 0, 0);
	custom_run(w, "U02", 2, T0, 50 * s, EDL_RESULT_PASS, NULL, 0, 0);
	custom_run(w, "U03", 3, T0, 60 * s, EDL_RESULT_PASS, NULL, 0, 0);
	u04 = custom_run(w, "U04", 4, T0, 70 * s, EDL_RESULT_FAIL, "firehose", EDL_E_FH_NAK, 0);
	custom_run(w, "U05", 1, T0 + 10 * MIN_MS, 80 * s, EDL_RESULT_PASS, NULL, 0, 0);
	custom_run(w, "U06", 2, T0 + 10 * MIN_MS, 90 * s, EDL_RESULT_PASS, NULL, 0, 0);
	custom_run(w, "U07", 3, T0 + 10 * MIN_MS, 100 * s, EDL_RESULT_PASS, NULL, 0, 0);
	custom_run(w, "U04", 1, T0 + 20 * MIN_MS, 45 * s, EDL_RESULT_PASS, NULL, 0, u04);
	u08 = custom_run(w, "U08", 4, T0 + 20 * MIN_MS, 30 * s, EDL_RESULT_FAIL, "firehose",
	                 EDL_E_FH_NAK, 0);
	custom_run(w, "U08", 2, T0 + 30 * MIN_MS, 30 * s, EDL_RESULT_FAIL, "firehose", EDL_E_FH_NAK,
	           u08);
	custom_run(w, "U09", 3, T0 + 30 * MIN_MS, 55 * s, EDL_RESULT_PASS, NULL, 0, 0);
	u10 = custom_run(w, "U10", 4, T0 + 30 * MIN_MS, 20 * s, EDL_RESULT_INTERRUPTED, "program",
	                 EDL_E_INTERRUPTED, 0);
	custom_run(w, "U10", 1, T0 + 40 * MIN_MS, 65 * s, EDL_RESULT_PASS, NULL, 0, u10);
	custom_run(w, NULL, 4, T0 + 40 * MIN_MS, 5 * s, EDL_RESULT_FAIL, "probe", EDL_E_POWER_CYCLE,
	           0);
	custom_run(w, "U11", 2, T0 + 50 * MIN_MS, 0, EDL_RESULT_RUNNING, NULL, 0, 0);
	edl_store_writer_close(w);
}

static void test_report_figures_on_a_known_line(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_report *r;

	build_known_line(fx->db);
	r = report_of(fx->db, NULL);
	assert_int_equal(r->runs, 15);
	assert_int_equal(r->passed_runs, 9);
	assert_int_equal(r->failed_runs, 4);
	assert_int_equal(r->interrupted_runs, 1);
	assert_int_equal(r->running, 1);
	assert_int_equal(r->units, 10);
	assert_int_equal(r->first_pass_units, 7);
	assert_int_equal(r->passed_units, 9);
	assert_int_equal(r->failed_units, 1);
	assert_float_equal(r->first_pass_yield, 0.7, 1e-12);
	assert_float_equal(r->final_yield, 0.9, 1e-12);
	assert_int_equal(r->retests, 3);
	assert_int_equal(r->retested_units, 3);
	/* Passed durations 40 45 50 55 60 65 80 90 100 s: nearest rank 5 and 9. */
	assert_int_equal(r->duration_p50_ms, 60000);
	assert_int_equal(r->duration_p95_ms, 100000);
	assert_int_equal(r->bytes_written, 9ull * (64u << 20));
	assert_float_equal(r->throughput_mbps, 9.0 * (64 << 20) / 1e6 / 585.0, 1e-9);
	/* No bounds: from the first start to the last activity (U11's start, 50 min). */
	assert_int_equal(r->window_start_ms, T0);
	assert_int_equal(r->window_end_ms, T0 + 50 * MIN_MS);
	assert_float_equal(r->units_per_hour, 12.0, 1e-9);

	assert_int_equal(r->n_pareto, 3);
	assert_string_equal(r->pareto[0].stage, "firehose");
	assert_string_equal(r->pareto[0].error, "EDL_E_FH_NAK");
	assert_int_equal(r->pareto[0].count, 3);
	assert_float_equal(r->pareto[0].share, 0.6, 1e-12);
	assert_string_equal(r->pareto[1].stage, "probe");
	assert_string_equal(r->pareto[1].error, "EDL_E_POWER_CYCLE");
	assert_float_equal(r->pareto[1].cumulative, 0.8, 1e-12);
	assert_string_equal(r->pareto[2].error, "EDL_E_INTERRUPTED");
	assert_float_equal(r->pareto[2].cumulative, 1.0, 1e-12);

	assert_int_equal(r->n_slots, 4);
	assert_int_equal(r->slots[0].slot, 1);
	assert_int_equal(r->slots[0].passes, 4);
	assert_int_equal(r->slots[1].passes, 2);
	assert_int_equal(r->slots[1].failures, 1);
	assert_float_equal(r->slots[1].failure_rate, 1.0 / 3.0, 1e-12);
	assert_int_equal(r->slots[3].slot, 4);
	assert_int_equal(r->slots[3].runs, 4);
	assert_int_equal(r->slots[3].failures, 3);
	assert_int_equal(r->slots[3].interrupted, 1);
	assert_string_equal(r->slots[3].station, "line-1");
	assert_string_equal(r->slots[3].port, "1-1.9");
	/* Too few runs per slot for the test: nothing tested, nothing flagged. */
	assert_int_equal(r->slots_tested, 0);
	for (size_t i = 0; i < r->n_slots; i++) {
		assert_true(isnan(r->slots[i].p_value));
		assert_false(r->slots[i].flagged);
	}
	edl_store_report_free(r);
}

static void test_report_filters_by_window_station_and_package(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_filter f;
	struct edl_store_report *r;

	build_known_line(fx->db);
	edl_store_filter_init(&f);
	f.since_ms = T0;
	f.until_ms = T0 + 60 * MIN_MS;
	r = report_of(fx->db, &f);
	assert_int_equal(r->units, 10);
	assert_float_equal(r->units_per_hour, 10.0, 1e-9);
	edl_store_report_free(r);

	f.since_ms = T0 + 25 * MIN_MS;
	r = report_of(fx->db, &f);
	assert_int_equal(r->runs, 6);
	assert_int_equal(r->units, 3); /* U08, U09, U10 */
	assert_float_equal(r->first_pass_yield, 1.0 / 3.0, 1e-12);
	assert_float_equal(r->final_yield, 2.0 / 3.0, 1e-12);
	edl_store_report_free(r);

	edl_store_filter_init(&f);
	f.package = "demo";
	r = report_of(fx->db, &f);
	assert_int_equal(r->runs, 15);
	edl_store_report_free(r);
	f.package = "pkg-hash"; /* manifest hash prefix */
	r = report_of(fx->db, &f);
	assert_int_equal(r->runs, 15);
	edl_store_report_free(r);
	f.package = "other";
	r = report_of(fx->db, &f);
	assert_int_equal(r->runs, 0);
	edl_store_report_free(r);

	edl_store_filter_init(&f);
	f.station = "line-2";
	r = report_of(fx->db, &f);
	assert_int_equal(r->runs, 0);
	assert_int_equal(r->units, 0);
	assert_true(isnan(r->first_pass_yield));
	assert_true(isnan(r->units_per_hour));
	assert_int_equal(r->duration_p50_ms, -1);
	edl_store_report_free(r);
	f.station = "line-1";
	r = report_of(fx->db, &f);
	assert_int_equal(r->runs, 15);
	edl_store_report_free(r);
}

/* xorshift64: reproducible line noise. */
static double next_uniform(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (double)(*s >> 11) / 9007199254740992.0;
}

/* 24 slots with 50 runs each; every run fails with the slot's rate. */
static void build_slot_line(const char *path, uint64_t seed, int bad_slot, double bad_rate)
{
	struct edl_store_writer *w = open_writer(path);
	char serial[16];
	int n = 0;

	fixture_station_and_package(w);
	for (int round = 0; round < 50; round++) {
		for (int slot = 1; slot <= 24; slot++) {
			double rate = slot == bad_slot ? bad_rate : 0.05;
			snprintf(serial, sizeof(serial), "%08x", n++);
			fixture_run(w, serial, slot, T0 + n * 1000, 30000,
			            next_uniform(&seed) < rate ? EDL_RESULT_FAIL : EDL_RESULT_PASS,
			            0);
		}
	}
	edl_store_writer_close(w);
}

static void test_report_flags_a_clearly_bad_slot(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_report *r;

	build_slot_line(fx->db, 0x5eed, 7, 0.30);
	r = report_of(fx->db, NULL);
	assert_int_equal(r->n_slots, 24);
	assert_int_equal(r->slots_tested, 24);
	assert_float_equal(r->slot_threshold, 0.01 / 24, 1e-15);
	for (size_t i = 0; i < r->n_slots; i++) {
		if (r->slots[i].slot == 7) {
			assert_true(r->slots[i].flagged);
			assert_true(r->slots[i].p_value < 1e-5);
			assert_true(r->slots[i].failures >= 10);
		} else {
			assert_false(r->slots[i].flagged);
		}
	}
	edl_store_report_free(r);
}

static void test_report_does_not_flag_noise(void **state)
{
	struct fixture *fx = *state;

	/* Same rate everywhere: several lines, no slot may be flagged in any. */
	for (uint64_t seed = 1; seed <= 4; seed++) {
		struct edl_store_report *r;
		unsigned worst_failures = 0;

		build_slot_line(fx->db, seed * 0x9e3779b97f4a7c15ull, 0, 0.0);
		r = report_of(fx->db, NULL);
		assert_int_equal(r->slots_tested, 24);
		for (size_t i = 0; i < r->n_slots; i++) {
			assert_false(r->slots[i].flagged);
			if (r->slots[i].failures > worst_failures)
				worst_failures = (unsigned)r->slots[i].failures;
		}
		/* The noise did put some slot well above the 5% rate. */
		assert_true(worst_failures >= 4);
		edl_store_report_free(r);
		fixture_cleanup(fx);
		assert_int_equal(fixture_init(fx), 0);
	}
}

static void test_report_does_not_test_a_slot_with_few_runs(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_writer *w = open_writer(fx->db);
	struct edl_store_report *r;
	char serial[16];

	fixture_station_and_package(w);
	for (int i = 0; i < 40; i++) {
		snprintf(serial, sizeof(serial), "a%07d", i);
		fixture_run(w, serial, 1 + i % 4, T0 + i, 1000, EDL_RESULT_PASS, 0);
	}
	for (int i = 0; i < 6; i++) {
		snprintf(serial, sizeof(serial), "b%07d", i);
		fixture_run(w, serial, 9, T0 + 100 + i, 1000, EDL_RESULT_FAIL, 0);
	}
	edl_store_writer_close(w);
	r = report_of(fx->db, NULL);
	assert_int_equal(r->n_slots, 5);
	assert_int_equal(r->slots_tested, 4);
	assert_int_equal(r->slots[4].slot, 9);
	assert_int_equal(r->slots[4].failures, 6);
	assert_true(isnan(r->slots[4].p_value));
	assert_false(r->slots[4].flagged);
	edl_store_report_free(r);
}

static void test_fisher_exact_matches_known_values(void **state)
{
	(void)state;
	/* Fisher's tea-tasting table: P(X >= 3) = 17/70. */
	assert_float_equal(edl_store_fisher_greater(3, 1, 1, 3), 17.0 / 70.0, 1e-12);
	/* All ten failures on one slot of two with ten runs each: 1 / C(20,10). */
	assert_float_equal(edl_store_fisher_greater(10, 0, 0, 10), 1.0 / 184756.0, 1e-15);
	/* No failures on the slot: certainly not worse than the others. */
	assert_float_equal(edl_store_fisher_greater(0, 10, 5, 5), 1.0, 1e-12);
	/* A slot failing less than the others gets a large p. */
	assert_true(edl_store_fisher_greater(1, 49, 100, 1000) > 0.5);
	/* Large counts stay finite and small. */
	assert_true(edl_store_fisher_greater(5000, 5000, 50000, 950000) < 1e-100);
}

static void test_percentile_is_nearest_rank(void **state)
{
	(void)state;
	const int64_t v[] = {10, 20, 30, 40, 50, 60, 70, 80, 90, 100};

	assert_int_equal(edl_store_percentile(v, 10, 50), 50);
	assert_int_equal(edl_store_percentile(v, 10, 95), 100);
	assert_int_equal(edl_store_percentile(v, 10, 90), 90);
	assert_int_equal(edl_store_percentile(v, 1, 95), 10);
	assert_int_equal(edl_store_percentile(v, 0, 50), -1);
}

/* ---- history ---------------------------------------------------------------------------- */

static void test_history_lists_a_units_runs_oldest_first(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_history *h = NULL;
	struct edl_store *s = NULL;
	struct edl_error err;
	char *text;

	build_known_line(fx->db);
	assert_int_equal(edl_store_open(&s, fx->db, &err), EDL_OK);
	assert_int_equal(edl_store_history(&h, s, "U08", EDL_STORE_HISTORY_STEPS, &err), EDL_OK);
	assert_int_equal(h->n_runs, 2);
	assert_true(h->have_device);
	assert_true(h->runs[0].start_ms < h->runs[1].start_ms);
	assert_int_equal(h->runs[1].retry_of, h->runs[0].id);
	assert_string_equal(h->runs[0].stage, "firehose");
	assert_string_equal(h->runs[0].error, "EDL_E_FH_NAK");
	assert_string_equal(h->runs[1].station, "line-1");
	assert_string_equal(h->runs[1].package_name, "demo");
	assert_int_equal(h->runs[0].slot, 4);
	assert_int_equal(h->runs[1].slot, 2);
	text = render_history(h, EDL_STORE_FORMAT_TEXT);
	assert_non_null(strstr(text, "2 runs, oldest first"));
	assert_non_null(strstr(text, "stage firehose, error EDL_E_FH_NAK"));
	assert_non_null(strstr(text, "retry of run"));
	free(text);
	text = render_history(h, EDL_STORE_FORMAT_CSV);
	assert_non_null(strstr(text, "\nU08,"));
	assert_non_null(strstr(text, ",fail,line-1,4,"));
	free(text);
	text = render_history(h, EDL_STORE_FORMAT_JSON);
	assert_non_null(strstr(text, "\"serial\": \"U08\""));
	assert_non_null(strstr(text, "\"result\": \"fail\""));
	assert_non_null(strstr(text, "\"retry_of\": null"));
	free(text);
	edl_store_history_free(h);

	h = NULL;
	assert_int_equal(edl_store_history(&h, s, "U99", 0, &err), EDL_E_NOENT);
	assert_null(h);
	edl_store_close(s);
}

/* ---- output safety ---------------------------------------------------------------------- */

/* One string through the project's JSON writer, which the JSON formats use;
 * its own tests are in tests/core/test_json.c. */
static char *json_of(const char *s)
{
	struct edl_buf b;
	struct edl_json j;
	char *out;

	edl_buf_init(&b);
	edl_json_init_buf(&j, &b, EDL_JSON_COMPACT);
	edl_json_string(&j, s);
	assert_int_equal(edl_json_finish(&j), EDL_OK);
	out = strndup((const char *)edl_buf_head(&b), edl_buf_size(&b) - 1); /* no newline */
	edl_buf_free(&b);
	return out;
}

static void test_json_escapes_controls_and_replaces_invalid_utf8(void **state)
{
	(void)state;
	char *j;

	j = json_of("a\"b\\c\n\t\r\x01\x1b[31m\x7f");
	assert_string_equal(j, "\"a\\\"b\\\\c\\n\\t\\r\\u0001\\u001b[31m\\u007f\"");
	free(j);
	/* Stray byte, overlong '/', surrogate half, beyond U+10FFFF, truncated: each
	 * invalid byte becomes one U+FFFD, the valid characters around stay. */
	j = json_of("\xff|\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xe2\x82");
	assert_string_equal(j,
	                    "\"\\ufffd|\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd"
	                    "\\ufffd|\\ufffd\\ufffd\"");
	free(j);
	j = json_of("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xc2\x9b \xe2\x80\xa8");
	assert_string_equal(j, "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \\u009b \\u2028\"");
	free(j);
	j = json_of(NULL);
	assert_string_equal(j, "null");
	free(j);
}

static char *put_with(int (*fn)(struct edl_buf *, const char *), const char *s)
{
	struct edl_buf b;
	char *out;

	edl_buf_init(&b);
	assert_int_equal(fn(&b, s), EDL_OK);
	out = strndup((const char *)edl_buf_head(&b), edl_buf_size(&b));
	edl_buf_free(&b);
	return out;
}

static void test_text_and_csv_output_are_sanitised(void **state)
{
	(void)state;
	char *t;

	t = put_with(edl_store_put_text, "ok\x1b]0;pwned\x07 line\nnext \xff\xc3\xa9");
	assert_string_equal(t, "ok?]0;pwned? line next \xef\xbf\xbd\xc3\xa9");
	free(t);
	t = put_with(edl_store_put_csv_field, "plain");
	assert_string_equal(t, "plain");
	free(t);
	t = put_with(edl_store_put_csv_field, "a,b \"quoted\"");
	assert_string_equal(t, "\"a,b \"\"quoted\"\"\"");
	free(t);
	t = put_with(edl_store_put_csv_field, "=HYPERLINK(\"x\")");
	assert_string_equal(t, "\"'=HYPERLINK(\"\"x\"\")\"");
	free(t);
	t = put_with(edl_store_put_csv_field, "two\nlines");
	assert_string_equal(t, "two lines");
	free(t);
}

/* True when every byte sequence is valid UTF-8 and no raw control character
 * other than newline appears. */
static bool output_is_clean(const char *s)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t left = strlen(s);

	while (left > 0) {
		uint32_t cp;
		size_t n = edl_json_utf8_decode(&cp, p, left);
		if (n == 0)
			return false;
		if ((cp < 0x20 && cp != '\n') || (cp >= 0x7f && cp <= 0x9f))
			return false;
		p += n;
		left -= n;
	}
	return true;
}

static void test_hostile_serial_is_stored_and_reported_safely(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_writer *w = open_writer(fx->db);
	struct edl_store_history *h = NULL;
	struct edl_store_report *r;
	struct edl_store *s = NULL;
	struct edl_error err;
	struct outcomes out = {0};
	static char serial[4200], message[4200];
	const char *log[] = {"ERROR: \x1b[2J\xff\xfe injected", message};
	struct edl_store_device dev = {0};
	struct edl_store_run_start start = {.station = "line-1", .slot = 1, .start_ms = T0};
	struct edl_store_run_end end = {.result = EDL_RESULT_FAIL,
	                                .stage = "identify",
	                                .error_code = EDL_E_SERIAL_MISMATCH,
	                                .message = message,
	                                .end_ms = T0 + 1,
	                                .log_lines = log,
	                                .n_log_lines = 2};
	enum edl_store_format fmts[] = {EDL_STORE_FORMAT_TEXT, EDL_STORE_FORMAT_CSV,
	                                EDL_STORE_FORMAT_JSON};

	/* Quotes, SQL, 4 KB of text, invalid UTF-8 and a terminal escape. */
	strcpy(serial, "'); DROP TABLE run; --\"");
	memset(serial + strlen(serial), 'A', 4096);
	strcat(serial, "\xff\xc0\x1b[31m\xe2\x80\xa8");
	strcpy(message, "bad serial '\"; DELETE FROM device; --");
	memset(message + strlen(message), 'x', 4096);
	start.serial = serial;
	dev.serial = serial;
	dev.usb_serial = serial;
	fixture_station_and_package(w);
	edl_store_writer_run_start(&end.run_id, w, &start, count_done, &out);
	edl_store_writer_device(w, &dev, count_done, &out);
	edl_store_writer_run_finish(w, &end, count_done, &out);
	edl_store_writer_flush(w);
	assert_int_equal(out.ok, 3);
	edl_store_writer_close(w);

	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM run"), 1);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM device"), 1);
	assert_int_equal(sql_int(fx->db, "SELECT length(CAST(serial AS BLOB)) FROM run"),
	                 (int64_t)strlen(serial));

	assert_int_equal(edl_store_open(&s, fx->db, &err), EDL_OK);
	assert_int_equal(edl_store_history(&h, s, serial, 0, &err), EDL_OK);
	assert_int_equal(h->n_runs, 1);
	assert_string_equal(h->runs[0].message, message);
	assert_string_equal(h->usb_serial, serial);
	{
		struct edl_store_history *none = NULL;
		assert_int_equal(edl_store_history(&none, s, "' OR '1'='1", 0, &err), EDL_E_NOENT);
		assert_null(none);
	}
	r = report_of(fx->db, NULL);
	assert_int_equal(r->units, 1);
	for (size_t i = 0; i < 3; i++) {
		char *text = render_history(h, fmts[i]);
		char *rep = render_report(r, fmts[i]);
		assert_true(output_is_clean(text));
		assert_true(output_is_clean(rep));
		assert_null(strchr(text, '\x1b'));
		assert_true(strlen(text) > 8000); /* the 4 KB strings are all there */
		free(text);
		free(rep);
	}
	{
		char *json = render_history(h, EDL_STORE_FORMAT_JSON);
		assert_non_null(strstr(json, "\\\"AAAA"));
		assert_non_null(strstr(json, "\\ufffd\\ufffd\\u001b[31m\\u2028\""));
		free(json);
	}
	edl_store_report_free(r);
	edl_store_history_free(h);
	edl_store_close(s);
}

/* Station, port, serial, stage, message and log lines holding quotes, control
 * characters and invalid UTF-8: the report and the history JSON parse in
 * Python and carry the text, invalid bytes as U+FFFD. */
static void test_report_and_history_json_with_hostile_text_parse_in_python(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_writer *w = open_writer(fx->db);
	struct edl_store_history *h = NULL;
	struct edl_store_report *r;
	struct edl_store *s = NULL;
	struct edl_error err;
	struct outcomes out = {0};
	static const char station[] = "line \"A\"\\\x01\xff";
	static const char serial[] = "SN\"\x1b[2J\xc0\xaf\xe2\x82";
	const char *log[] = {"INFO: \"quoted\" \\ \x7f\x08\xed\xa0\x80", "\xf0\x9f\x98\x80 ok"};
	struct edl_store_station st = {.name = station, .host = "bench-host"};
	struct edl_store_package pkg = {
	        .manifest_hash = "h\"1", .path = "/srv/\xfe", .name = "n\t"};
	struct edl_store_step step = {.kind = EDL_STEP_PROGRAM,
	                              .label = "sys\"tem\x1f\xff",
	                              .start_sector = "NUM_DISK_SECTORS-5.",
	                              .sectors = 1};
	struct edl_store_run_start start = {.serial = serial,
	                                    .station = station,
	                                    .package_hash = "h\"1",
	                                    .slot = 3,
	                                    .port = "1-1.\"\n\x80",
	                                    .attempt = 1,
	                                    .start_ms = T0};
	struct edl_store_run_end end = {.result = EDL_RESULT_FAIL,
	                                .stage = "fire\"hose\r",
	                                .error_code = EDL_E_FH_NAK,
	                                .message = "NAK: \"bad\" \x1b]0;x\x07 \xc3\x28",
	                                .end_ms = T0 + 1000,
	                                .steps = &step,
	                                .n_steps = 1,
	                                .log_lines = log,
	                                .n_log_lines = 2};
	char *text;

	edl_store_writer_station(w, &st, NULL, NULL);
	edl_store_writer_package(w, &pkg, NULL, NULL);
	edl_store_writer_run_start(&end.run_id, w, &start, count_done, &out);
	edl_store_writer_run_finish(w, &end, count_done, &out);
	edl_store_writer_flush(w);
	assert_int_equal(out.ok, 2);
	edl_store_writer_close(w);
	if (!edl_test_have_python())
		skip();

	assert_int_equal(edl_store_open(&s, fx->db, &err), EDL_OK);
	assert_int_equal(edl_store_history(&h, s, serial, EDL_STORE_HISTORY_STEPS, &err), EDL_OK);
	text = render_history(h, EDL_STORE_FORMAT_JSON);
	assert_true(edl_test_json_check(
	        text, strlen(text), false,
	        "r = d['runs'][0]\n"
	        "assert d['serial'] == 'SN\"\\x1b[2J\\ufffd\\ufffd\\ufffd\\ufffd', d['serial']\n"
	        "assert r['station'] == 'line \"A\"\\\\\\x01\\ufffd', r['station']\n"
	        "assert r['port'] == '1-1.\"\\n\\ufffd', r['port']\n"
	        "assert r['stage'] == 'fire\"hose\\r'\n"
	        "assert r['message'] == 'NAK: \"bad\" \\x1b]0;x\\x07 \\ufffd(', r['message']\n"
	        "assert r['log'] == ['INFO: \"quoted\" \\\\ \\x7f\\x08\\ufffd\\ufffd\\ufffd',"
	        " '\\U0001f600 ok'], r['log']\n"
	        "assert r['package']['path'] == '/srv/\\ufffd' and r['package']['name'] == 'n\\t'\n"
	        "assert r['steps'][0]['label'] == 'sys\"tem\\x1f\\ufffd', r['steps']\n"));
	free(text);
	r = report_of(fx->db, NULL);
	text = render_report(r, EDL_STORE_FORMAT_JSON);
	assert_true(edl_test_json_check(
	        text, strlen(text), false,
	        "assert d['units'] == 1 and d['failed_runs'] == 1\n"
	        "assert d['by_slot'][0]['station'] == 'line \"A\"\\\\\\x01\\ufffd', d['by_slot']\n"
	        "assert d['by_slot'][0]['port'] == '1-1.\"\\n\\ufffd'\n"
	        "assert d['failure_pareto'][0]['stage'] == 'fire\"hose\\r'\n"
	        "assert d['failure_pareto'][0]['error'] == 'EDL_E_FH_NAK'\n"
	        "assert d['first_pass_yield'] == 0 and d['duration_ms']['p50'] is None\n"));
	free(text);
	edl_store_report_free(r);
	edl_store_history_free(h);
	edl_store_close(s);
}

static void test_report_formats_carry_the_documented_keys(void **state)
{
	struct fixture *fx = *state;
	static const char *const keys[] = {
	        "\"units\": 10,",        "\"runs\": 15,",           "\"passed_units\": 9,",
	        "\"failed_units\": 1,",  "\"running\": 1,",         "\"first_pass_yield\": 0.7,",
	        "\"final_yield\": 0.9,", "\"units_per_hour\": 12,", "\"retests\": 3,",
	        "\"by_slot\": [",        "\"failure_pareto\": [",   "\"p50\": 60000",
	        "\"flagged\": false",    "\"p_value\": null",       "\"cumulative_share\": 1}",
	};
	struct edl_store_report *r;
	char *text;

	build_known_line(fx->db);
	r = report_of(fx->db, NULL);
	text = render_report(r, EDL_STORE_FORMAT_JSON);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strstr(text, keys[i]) == NULL)
			fail_msg("JSON report lacks %s:\n%s", keys[i], text);
	}
	free(text);
	text = render_report(r, EDL_STORE_FORMAT_CSV);
	assert_non_null(strstr(text, "summary,units,10\n"));
	assert_non_null(strstr(text, "summary,first_pass_yield,0.700000\n"));
	assert_non_null(strstr(text, "\nslot,line-1,4,1-1.9,4,0,3,1,1.000000,,0,1-1.9\n"));
	assert_non_null(strstr(text, "\npareto,firehose,EDL_E_FH_NAK,3,0.600000,0.600000,rma\n"));
	free(text);
	text = render_report(r, EDL_STORE_FORMAT_TEXT);
	assert_non_null(strstr(text, "first-pass yield     70.0%"));
	assert_non_null(strstr(text, "final yield          90.0%"));
	assert_non_null(strstr(text, "EDL_E_POWER_CYCLE"));
	free(text);
	edl_store_report_free(r);
}

/* ---- time ------------------------------------------------------------------------------- */

static void test_time_parses_iso_and_relative_forms(void **state)
{
	(void)state;
	const int64_t now = T0 + 12345;
	struct edl_error err;
	int64_t t;
	char buf[40];

	assert_int_equal(edl_store_time_parse(&t, "2024-05-01", now, &err), EDL_OK);
	assert_int_equal(t, T0 - 8 * 3600000LL);
	assert_int_equal(edl_store_time_parse(&t, "2024-05-01T08:00", now, &err), EDL_OK);
	assert_int_equal(t, T0);
	assert_int_equal(edl_store_time_parse(&t, "2024-05-01T08:00:00.250Z", now, &err), EDL_OK);
	assert_int_equal(t, T0 + 250);
	assert_int_equal(edl_store_time_parse(&t, "2024-05-01 10:00:00+02:00", now, &err), EDL_OK);
	assert_int_equal(t, T0);
	assert_int_equal(edl_store_time_parse(&t, "2024-05-01T03:30:00-0430", now, &err), EDL_OK);
	assert_int_equal(t, T0);
	assert_int_equal(edl_store_time_parse(&t, "24h", now, &err), EDL_OK);
	assert_int_equal(t, now - 86400000LL);
	assert_int_equal(edl_store_time_parse(&t, "7d", now, &err), EDL_OK);
	assert_int_equal(t, now - 7 * 86400000LL);
	assert_int_equal(edl_store_time_parse(&t, "30m", now, &err), EDL_OK);
	assert_int_equal(t, now - 30 * MIN_MS);
	assert_int_equal(edl_store_time_parse(&t, "now", now, &err), EDL_OK);
	assert_int_equal(t, now);
	static const char *const bad[] = {
	        "",    "2024-13-01", "2024-02-30",       "24x",         "-5h",
	        "5",   "24 h",       "2024-05-01T25:00", "2024-05-01Z", "99999999999999999999d",
	        "1e3h"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (edl_store_time_parse(&t, bad[i], now, &err) != EDL_E_INVAL)
			fail_msg("'%s' was accepted as a time", bad[i]);
	}
	assert_non_null(strstr(err.detail, "is not a time"));
	assert_int_equal(edl_store_time_parse(&t, "2024-02-29", now, &err), EDL_OK);
	assert_string_equal(edl_store_time_format(buf, sizeof(buf), T0 + 7),
	                    "2024-05-01T08:00:00.007Z");
}

/* ---- the CLI commands ------------------------------------------------------------------- */

/* Runs a subcommand with stdout sent to a file; returns its exit code and what it wrote. */
static int run_cli(int (*cmd)(int, char **), char **argv, char **out)
{
	char path[] = "/tmp/edl-store-cli-XXXXXX";
	int fd = mkstemp(path);
	int saved, rc, argc = 0;
	FILE *f;
	long len;

	assert_true(fd >= 0);
	while (argv[argc] != NULL)
		argc++;
	fflush(stdout);
	saved = dup(1);
	dup2(fd, 1);
	rc = cmd(argc, argv);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	close(fd);
	f = fopen(path, "r");
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	*out = calloc(1, (size_t)len + 1);
	assert_int_equal(fread(*out, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	unlink(path);
	return rc;
}

static void test_cli_report_and_history_commands(void **state)
{
	struct fixture *fx = *state;
	char *out;

	build_known_line(fx->db);
	{
		char *argv[] = {"report", "--db", fx->db, "--format", "json", NULL};
		assert_int_equal(run_cli(edl_cli_report, argv, &out), EDL_EXIT_OK);
		assert_non_null(strstr(out, "\"first_pass_yield\": 0.7,"));
		free(out);
	}
	{
		char *argv[] = {"report",
		                "--db",
		                fx->db,
		                "--since",
		                "2024-05-01T08:25:00Z",
		                "--until",
		                "2024-05-01T09:00Z",
		                "--station",
		                "line-1",
		                NULL};
		assert_int_equal(run_cli(edl_cli_report, argv, &out), EDL_EXIT_OK);
		assert_non_null(strstr(out, "units                    3"));
		free(out);
	}
	{
		char *argv[] = {"report", "--db", fx->db, "--since", "yesterday", NULL};
		assert_int_equal(run_cli(edl_cli_report, argv, &out), EDL_EXIT_USAGE);
		free(out);
	}
	{
		char *argv[] = {"report", "--db", fx->db, "--format", "xml", NULL};
		assert_int_equal(run_cli(edl_cli_report, argv, &out), EDL_EXIT_USAGE);
		free(out);
	}
	{
		/* A database in a directory that does not exist: a config error (2). */
		char *argv[] = {"report", "--db", "/nonexistent/results.db", NULL};
		assert_int_equal(run_cli(edl_cli_report, argv, &out), EDL_EXIT_USAGE);
		free(out);
	}
	{
		char *argv[] = {"history", "--db", fx->db, "--format", "csv", "U04", NULL};
		assert_int_equal(run_cli(edl_cli_history, argv, &out), EDL_EXIT_OK);
		assert_non_null(strstr(out, "\nU04,"));
		assert_non_null(strstr(out, ",pass,"));
		assert_non_null(strstr(out, ",fail,"));
		free(out);
	}
	{
		char *argv[] = {"history", "--db", fx->db, "NOPE", NULL};
		assert_int_equal(run_cli(edl_cli_history, argv, &out), EDL_EXIT_FAILURE);
		free(out);
	}
	{
		char *argv[] = {"history", "--db", fx->db, NULL};
		assert_int_equal(run_cli(edl_cli_history, argv, &out), EDL_EXIT_USAGE);
		free(out);
	}
}

/* issue 15: a preserved file is one row per (run, kind, label): recorded when
 * read (restored 0), again once written back (restored 1). */
static void test_writer_records_archived_files(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_writer *w = open_writer(fx->db);
	struct outcomes out = {0};
	struct edl_store_run_start start = {.serial = "1a2b3c4d", .station = "line-1", .slot = 1};
	struct edl_store_archive a = {
	        .serial = "1a2b3c4d",
	        .kind = "preserve",
	        .label = "modemst1",
	        .path = "/rma/1a2b3c4d/1/modemst1.bin",
	        .bytes = 262144,
	        .sha256 = "8461e932845b9e10aa",
	        .restored = 0,
	        .created_ms = T0,
	};
	int64_t id;
	char buf[128];

	fixture_station_and_package(w);
	assert_int_equal(edl_store_writer_run_start(&id, w, &start, NULL, NULL), EDL_OK);
	a.run_id = id;
	assert_int_equal(edl_store_writer_archive(w, &a, count_done, &out), EDL_OK);
	a.label = "fsg";
	assert_int_equal(edl_store_writer_archive(w, &a, count_done, &out), EDL_OK);
	a.label = "modemst1";
	a.restored = 1;
	assert_int_equal(edl_store_writer_archive(w, &a, count_done, &out), EDL_OK);
	/* Missing fields and out-of-range values are refused at once. */
	a.sha256 = NULL;
	assert_int_equal(edl_store_writer_archive(w, &a, NULL, NULL), EDL_E_INVAL);
	a.sha256 = "00";
	a.restored = 2;
	assert_int_equal(edl_store_writer_archive(w, &a, NULL, NULL), EDL_E_INVAL);
	a.restored = 0;
	a.run_id = 0;
	assert_int_equal(edl_store_writer_archive(w, &a, NULL, NULL), EDL_E_INVAL);
	edl_store_writer_flush(w);
	assert_int_equal(out.ok, 3);
	edl_store_writer_close(w);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM archive"), 2);
	assert_int_equal(sql_int(fx->db, "SELECT restored FROM archive WHERE label = 'modemst1'"),
	                 1);
	assert_int_equal(sql_int(fx->db, "SELECT restored FROM archive WHERE label = 'fsg'"), 0);
	assert_string_equal(sql_text(fx->db, "SELECT path FROM archive WHERE label = 'modemst1'",
	                             buf, sizeof(buf)),
	                    "/rma/1a2b3c4d/1/modemst1.bin");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	        T(test_store_creates_schema_in_wal_at_current_version),
	        T(test_store_migrates_a_version_1_database_keeping_its_runs),
	        T(test_store_refuses_a_newer_schema_untouched),
	        T(test_store_rejects_missing_and_foreign_files),
	        T(test_store_refuses_a_second_writer),
	        T(test_writer_records_a_failed_run_with_steps_and_log),
	        T(test_writer_keeps_log_lines_only_for_runs_that_did_not_pass),
	        T(test_writer_fails_a_bad_operation_alone),
	        T(test_writer_rejects_invalid_records_at_once),
	        T(test_writer_identify_gives_a_run_its_unit),
	        T(test_writer_route_records_product_and_package),
	        T(test_writer_records_archived_files),
	        T(test_writer_marks_runs_left_running_interrupted),
	        T(test_writer_recovery_orders_and_queues_interrupted_runs),
	        T(test_writer_delivers_completions_on_the_libuv_loop),
	        T(test_reports_read_while_the_writer_commits),
	        T(test_report_figures_on_a_known_line),
	        T(test_report_filters_by_window_station_and_package),
	        T(test_report_flags_a_clearly_bad_slot),
	        T(test_report_does_not_flag_noise),
	        T(test_report_does_not_test_a_slot_with_few_runs),
	        T(test_history_lists_a_units_runs_oldest_first),
	        T(test_hostile_serial_is_stored_and_reported_safely),
	        T(test_report_and_history_json_with_hostile_text_parse_in_python),
	        T(test_report_formats_carry_the_documented_keys),
	        T(test_cli_report_and_history_commands),
#undef T
	        cmocka_unit_test(test_fisher_exact_matches_known_values),
	        cmocka_unit_test(test_percentile_is_nearest_rank),
	        cmocka_unit_test(test_json_escapes_controls_and_replaces_invalid_utf8),
	        cmocka_unit_test(test_text_and_csv_output_are_sanitised),
	        cmocka_unit_test(test_time_parses_iso_and_relative_forms),
	};

	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
