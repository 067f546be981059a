/*
 * A memory-dump run's record (issue 15): the run's kind and its archive rows
 * come with the run's finish (struct edl_store_run_end kind / archives), are
 * committed in its transaction, and survive the journal (a finish kept while
 * the store could not write is replayed with them).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "edlstation/store.h"
#include "fixture.h"
#include "store/store_internal.h"

#define T0 1764606000000LL

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

static const struct edl_store_archive rows[] = {
        {.serial = "1a2b3c4d",
         .kind = "dump",
         .label = "DDRCS0_0.BIN",
         .path = "/d/1a2b3c4d/t/DDRCS0_0.BIN",
         .bytes = 2097152,
         .sha256 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         .restored = -1,
         .created_ms = T0 + 1},
        {.serial = "1a2b3c4d",
         .kind = "dump",
         .label = "RST_STAT.BIN",
         .path = "/d/1a2b3c4d/t/RST_STAT.BIN",
         .bytes = 4,
         .sha256 = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
         .restored = -1,
         .created_ms = T0 + 2},
};

static void test_store_dump_run_records_kind_and_archive_rows(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_writer *w = NULL;
	struct outcomes out = {0};
	struct edl_error err;
	struct edl_store_run_start start = {.serial = "1a2b3c4d",
	                                    .station = "line-1",
	                                    .package_hash = "pkg-hash-0001",
	                                    .slot = 1,
	                                    .port = "1-1.1",
	                                    .start_ms = T0};
	struct edl_store_run_end end = {.result = EDL_RESULT_PASS,
	                                .end_ms = T0 + 1000,
	                                .duration_ms = 1000,
	                                .kind = "dump",
	                                .archives = rows,
	                                .n_archives = 2};
	sqlite3 *db;
	sqlite3_stmt *st;

	edl_error_clear(&err);
	assert_int_equal(edl_store_writer_open(&w, fx->db, NULL, &err), EDL_OK);
	fixture_station_and_package(w);
	assert_int_equal(edl_store_writer_run_start(&end.run_id, w, &start, count_done, &out),
	                 EDL_OK);
	assert_int_equal(edl_store_writer_run_finish(w, &end, count_done, &out), EDL_OK);
	assert_int_equal(edl_store_writer_flush(w), EDL_OK);
	assert_int_equal(out.failed, 0);
	edl_store_writer_close(w);

	assert_int_equal(sqlite3_open_v2(fx->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "SELECT r.kind, a.serial, a.kind, a.label, a.path, "
	                                    "a.bytes, a.sha256, a.created_ms FROM archive a JOIN "
	                                    "run r ON r.id = a.run_id ORDER BY a.id",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(st, 0), "dump");
		assert_string_equal((const char *)sqlite3_column_text(st, 1), rows[i].serial);
		assert_string_equal((const char *)sqlite3_column_text(st, 2), "dump");
		assert_string_equal((const char *)sqlite3_column_text(st, 3), rows[i].label);
		assert_string_equal((const char *)sqlite3_column_text(st, 4), rows[i].path);
		assert_int_equal(sqlite3_column_int64(st, 5), (int64_t)rows[i].bytes);
		assert_string_equal((const char *)sqlite3_column_text(st, 6), rows[i].sha256);
		assert_int_equal(sqlite3_column_int64(st, 7), rows[i].created_ms);
	}
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void test_journal_keeps_a_dump_runs_kind_and_archives(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_journal j;
	struct edl_store_oprec *ops = NULL, *op;
	struct edl_store_run_end end = {.run_id = 9,
	                                .result = EDL_RESULT_FAIL,
	                                .stage = "probe",
	                                .error_code = EDL_E_USB_GONE,
	                                .message = "unplugged",
	                                .end_ms = T0,
	                                .kind = "dump",
	                                .archives = rows,
	                                .n_archives = 2};
	struct edl_error err;
	int64_t max_id = 0;

	edl_error_clear(&err);
	assert_int_equal(edl_store_journal_open(&j, fx->db, &ops, &max_id, &err), EDL_OK);
	ops = edl_store_oprec_run_end(&end);
	assert_non_null(ops);
	assert_int_equal(edl_store_journal_append(&j, ops, &err), EDL_OK);
	edl_store_oprec_free(ops);
	edl_store_journal_close(&j);

	assert_int_equal(edl_store_journal_open(&j, fx->db, &ops, &max_id, &err), EDL_OK);
	assert_non_null(ops);
	assert_int_equal(ops->kind, EDL_STORE_OP_RUN_FINISH);
	assert_string_equal(ops->u.end.kind, "dump");
	assert_int_equal(ops->u.end.n_archives, 2);
	for (size_t i = 0; i < 2; i++) {
		const struct edl_store_archive *a = &ops->u.end.archives[i];
		assert_string_equal(a->label, rows[i].label);
		assert_string_equal(a->path, rows[i].path);
		assert_string_equal(a->sha256, rows[i].sha256);
		assert_int_equal(a->bytes, rows[i].bytes);
		assert_int_equal(a->created_ms, rows[i].created_ms);
	}
	while (ops != NULL) {
		op = ops->next;
		edl_store_oprec_free(ops);
		ops = op;
	}
	edl_store_journal_close(&j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_store_dump_run_records_kind_and_archive_rows,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_journal_keeps_a_dump_runs_kind_and_archives,
	                                        setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
