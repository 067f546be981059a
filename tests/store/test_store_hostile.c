/*
 * The store under hostile conditions (issue 10): a second writer through a
 * deleted lock file or a hard link, results kept while the database cannot be
 * written (free-space reserve) and replayed after a kill, a damaged file
 * refused before anything is written, and a running run's progress persisted
 * so that an interrupted run says where it stopped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include "edlstation/cli.h"
#include "edlstation/store.h"
#include "fixture.h"
#include "../../src/store/store_internal.h"

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL || fixture_init(fx) != 0)
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char path[400];

	snprintf(path, sizeof(path), "%s/linked.db", fx->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/copy.db", fx->dir);
	unlink(path);
	fixture_cleanup(fx);
	free(fx);
	return 0;
}

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

static struct edl_store_writer *open_writer(const char *path,
                                            const struct edl_store_writer_options *opts)
{
	struct edl_store_writer *w = NULL;
	struct edl_error err;

	edl_error_clear(&err);
	assert_int_equal(edl_store_writer_open(&w, path, opts, &err), EDL_OK);
	return w;
}

/* Tries to open a writer in a child process (a second station) and returns
 * its result code; the detail goes to *detail. */
static int open_in_child(const char *path, char *detail, size_t len)
{
	int fds[2], status = 0;
	pid_t pid;
	ssize_t n;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct edl_store_writer *w = NULL;
		struct edl_error err;
		int rc;

		close(fds[0]);
		edl_error_clear(&err);
		rc = edl_store_writer_open(&w, path, NULL, &err);
		if (write(fds[1], err.detail, strlen(err.detail)) < 0)
			_exit(100);
		if (rc == EDL_OK)
			edl_store_writer_close(w);
		_exit(rc == EDL_OK ? 0 : rc == EDL_E_DB_LOCKED ? 1 : 2);
	}
	close(fds[1]);
	n = read(fds[0], detail, len - 1);
	detail[n > 0 ? n : 0] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status) == 0   ? EDL_OK
	       : WEXITSTATUS(status) == 1 ? EDL_E_DB_LOCKED
	                                  : EDL_E_DB;
}

static void test_second_writer_refused_without_lock_file_and_through_hard_link(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_writer *w = open_writer(fx->db, NULL);
	struct edl_store_run_start start = {.serial = "0000abcd",
	                                    .station = "line-1",
	                                    .package_hash = "pkg-hash-0001",
	                                    .slot = 1,
	                                    .port = "1-1",
	                                    .start_ms = 1000};
	char detail[600], linked[400], lock[400], expect[64];
	int64_t live = 0, done;

	fixture_station_and_package(w);
	done = fixture_run(w, "00000001", 0, 500, 100, EDL_RESULT_PASS, 0);
	assert_int_equal(edl_store_writer_run_start(&live, w, &start, NULL, NULL), EDL_OK);
	edl_store_writer_flush(w);

	snprintf(lock, sizeof(lock), "%s.lock", fx->db);
	unlink(lock);
	assert_int_equal(open_in_child(fx->db, detail, sizeof(detail)), EDL_E_DB_LOCKED);
	assert_non_null(strstr(detail, "in use by another station"));
	assert_non_null(strstr(detail, fx->db));
	snprintf(expect, sizeof(expect), "(pid %ld)", (long)getpid());
	assert_non_null(strstr(detail, expect));

	snprintf(linked, sizeof(linked), "%s/linked.db", fx->dir);
	assert_int_equal(link(fx->db, linked), 0);
	assert_int_equal(open_in_child(linked, detail, sizeof(detail)), EDL_E_DB_LOCKED);
	assert_non_null(strstr(detail, "give this station its own [results] database"));

	/* The first station's rows are untouched: its live run is still running. */
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM run WHERE result = 'running'"), 1);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM run WHERE result = 'pass'"), 1);
	assert_true(live == done + 1);
	edl_store_writer_close(w);
	/* Released with the writer. */
	assert_int_equal(open_in_child(linked, detail, sizeof(detail)), EDL_OK);
}

struct states {
	unsigned calls;
	bool writable;
	int code;
	size_t kept;
	uint64_t recovered;
	char detail[1200];
};

static void on_state(const struct edl_store_state *s, void *data)
{
	struct states *st = data;

	st->calls++;
	st->writable = s->writable;
	st->code = s->code;
	st->kept = s->kept;
	st->recovered = s->recovered;
	snprintf(st->detail, sizeof(st->detail), "%s", s->detail);
}

struct kept_count {
	unsigned kept, ok, other;
	int code;
	char detail[1200];
};

static void on_done(const struct edl_store_done *d, void *data)
{
	struct kept_count *k = data;

	if (d->code == EDL_OK)
		k->ok++;
	else if (d->kept)
		k->kept++;
	else
		k->other++;
	if (d->code != EDL_OK) {
		k->code = d->code;
		snprintf(k->detail, sizeof(k->detail), "%s", d->detail);
	}
}

/* Starts and finishes `n` runs (serials from `first`), every outcome to k. */
static void record_runs(struct edl_store_writer *w, unsigned first, unsigned n,
                        struct kept_count *k)
{
	for (unsigned i = first; i < first + n; i++) {
		char serial[16];
		int64_t id = 0;
		struct edl_store_run_start start = {.serial = serial,
		                                    .station = "line-1",
		                                    .package_hash = "pkg-hash-0001",
		                                    .slot = (int)i % 8,
		                                    .slot_label = "A1",
		                                    .port = "1-1",
		                                    .start_ms = 1000 + i};
		struct edl_store_run_end end = {.result = EDL_RESULT_PASS,
		                                .end_ms = 2000 + i,
		                                .bytes_written = 4096,
		                                .duration_ms = 1000};
		snprintf(serial, sizeof(serial), "%08x", i);
		assert_int_equal(edl_store_writer_run_start(&id, w, &start, on_done, k), EDL_OK);
		end.run_id = id;
		assert_int_equal(edl_store_writer_run_finish(w, &end, on_done, k), EDL_OK);
	}
}

static void test_reserve_keeps_results_and_reports_not_writable(void **state)
{
	struct fixture *fx = *state;
	struct states st = {0};
	struct kept_count k = {0};
	struct edl_store_writer_options opts = {.min_free_bytes = UINT64_MAX / 2,
	                                        .retry_ms = 50,
	                                        .on_state = on_state,
	                                        .state_data = &st};
	struct edl_store_writer *w = open_writer(fx->db, &opts);
	struct edl_store_state now;
	struct edl_error err;
	uint64_t free_bytes = 0;
	bool above = true;
	char pending[400];

	edl_error_clear(&err);
	assert_int_equal(edl_store_writer_space(w, &free_bytes, &above, &err), EDL_OK);
	assert_false(above);
	assert_true(free_bytes > 0);
	fixture_station_and_package(w);
	record_runs(w, 1, 5, &k);
	edl_store_writer_flush(w);
	assert_true(st.calls >= 1);
	assert_false(st.writable);
	assert_int_equal(st.code, EDL_E_DB_FULL);
	assert_non_null(strstr(st.detail, "reserve ([store] min_free_mb)"));
	assert_non_null(strstr(st.detail, fx->db));
	/* Every run start and finish kept, none failed, none committed. */
	assert_int_equal(k.kept, 10);
	assert_int_equal(k.ok, 0);
	assert_int_equal(k.other, 0);
	assert_int_equal(k.code, EDL_E_DB_FULL);
	snprintf(pending, sizeof(pending), "%s.pending", fx->db);
	assert_non_null(strstr(k.detail, pending));
	assert_non_null(strstr(k.detail, "committed once it can write"));
	edl_store_writer_state(w, &now);
	assert_false(now.writable);
	assert_int_equal(now.kept, 12); /* station, package and 5 x (start, finish) */
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM run"), 0);
	edl_store_writer_close(w);

	/* Without the reserve the journal commits at open, once. */
	w = open_writer(fx->db, NULL);
	edl_store_writer_state(w, &now);
	assert_true(now.writable);
	edl_store_writer_close(w);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM run WHERE result = 'pass'"), 5);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM run"), 5);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM run WHERE slot_label = 'A1'"), 5);
	assert_int_equal(access(pending, F_OK), -1); /* nothing kept: removed */
}

/* issue 15: an archived file recorded while the store cannot write is kept in
 * the journal and committed at the next open, its restored flag included. */
static void test_journal_keeps_archived_files(void **state)
{
	struct fixture *fx = *state;
	struct kept_count k = {0};
	struct edl_store_writer_options opts = {.min_free_bytes = UINT64_MAX / 2};
	struct edl_store_writer *w = NULL;
	struct edl_error err;
	int64_t id = 0;
	struct edl_store_run_start start = {
	        .serial = "1a2b3c4d", .station = "line-1", .slot = 1, .start_ms = 5000};
	struct edl_store_archive a = {.serial = "1a2b3c4d",
	                              .kind = "preserve",
	                              .label = "persist",
	                              .path = "/rma/1a2b3c4d/1/persist.bin",
	                              .bytes = 524288,
	                              .sha256 = "acf444d5b3c90f10",
	                              .restored = 1,
	                              .created_ms = 5100};

	assert_int_equal(edl_store_writer_open(&w, fx->db, &opts, &err), EDL_OK);
	fixture_station_and_package(w);
	assert_int_equal(edl_store_writer_run_start(&id, w, &start, on_done, &k), EDL_OK);
	a.run_id = id;
	assert_int_equal(edl_store_writer_archive(w, &a, on_done, &k), EDL_OK);
	edl_store_writer_flush(w);
	assert_int_equal(k.ok, 0);
	assert_int_equal(k.kept, 2);
	edl_store_writer_close(w);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM archive"), 0);

	w = open_writer(fx->db, NULL);
	edl_store_writer_close(w);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM archive WHERE label = 'persist' AND "
	                                 "restored = 1 AND bytes = 524288 AND created_ms = 5100"),
	                 1);
}

static void test_journal_replayed_once_after_a_kill(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_writer *w = open_writer(fx->db, NULL);
	int status = 0;
	int64_t before;
	pid_t pid;

	fixture_station_and_package(w);
	before = fixture_run(w, "00000099", 0, 500, 100, EDL_RESULT_PASS, 0);
	edl_store_writer_close(w);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* A station whose results are all kept, killed before it can commit. */
		struct kept_count k = {0};
		struct edl_store_writer_options opts = {.min_free_bytes = UINT64_MAX / 2};
		struct edl_error err;
		int64_t id = 0;
		struct edl_store_run_start start = {.serial = "00000777",
		                                    .station = "line-1",
		                                    .package_hash = "pkg-hash-0001",
		                                    .slot = 3,
		                                    .port = "1-3",
		                                    .start_ms = 5000};

		if (edl_store_writer_open(&w, fx->db, &opts, &err) != EDL_OK)
			_exit(10);
		record_runs(w, 100, 20, &k);
		/* Left running: marked interrupted after the replay. */
		edl_store_writer_run_start(&id, w, &start, on_done, &k);
		/* issue 15: its routed product, kept in the journal with it. */
		edl_store_writer_run_route(w, id, "Alpha", "pkg-hash-0001", on_done, &k);
		edl_store_writer_flush(w);
		_exit(k.kept == 42 && k.ok == 0 ? 0 : 11);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM run"), 1);

	w = open_writer(fx->db, NULL);
	assert_int_equal(edl_store_writer_recovered(w), 1);
	/* New ids continue after the journal's. */
	assert_int_equal(fixture_run(w, "00000100", 0, 9000, 100, EDL_RESULT_PASS, 0), before + 22);
	edl_store_writer_close(w);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM run WHERE result = 'pass'"), 22);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM run WHERE result = 'interrupted'"),
	                 1);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM run WHERE result = 'running'"), 0);
	assert_int_equal(sql_int(fx->db, "SELECT count(DISTINCT serial) FROM run"), 23);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM run WHERE serial = '00000777'"
	                                 " AND product = 'Alpha' AND package_id IS NOT NULL"),
	                 1);

	/* Opening again replays nothing twice. */
	w = open_writer(fx->db, NULL);
	edl_store_writer_close(w);
	assert_int_equal(sql_int(fx->db, "SELECT count(*) FROM run"), 23);
}

/* Overwrites pages 3 and 4 with a fixed pattern, as `dd ... seek=3 count=2` would. */
static void damage(const char *path)
{
	unsigned char junk[8192];
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 131u + 7u);
	assert_int_equal(pwrite(fd, junk, sizeof(junk), 3 * 4096), (ssize_t)sizeof(junk));
	close(fd);
}

static unsigned char *slurp(const char *path, size_t *len)
{
	struct stat sb;
	unsigned char *buf;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	buf = malloc((size_t)sb.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)sb.st_size), sb.st_size);
	close(fd);
	*len = (size_t)sb.st_size;
	return buf;
}

static void test_damaged_database_refused_untouched(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_writer *w = open_writer(fx->db, NULL);
	struct edl_error err;
	unsigned char *before, *after;
	size_t n_before, n_after;

	fixture_station_and_package(w);
	for (int i = 0; i < 400; i++) {
		char serial[16];
		snprintf(serial, sizeof(serial), "%08x", i);
		fixture_run(w, serial, i % 8, 1000 + i, 100,
		            i % 3 ? EDL_RESULT_PASS : EDL_RESULT_FAIL, 0);
	}
	edl_store_writer_close(w);
	assert_true(sql_int(fx->db, "PRAGMA page_count") > 8);
	edl_error_clear(&err);
	assert_int_equal(edl_store_check_file(fx->db, true, &err), EDL_OK);

	damage(fx->db);
	before = slurp(fx->db, &n_before);
	edl_error_clear(&err);
	assert_int_equal(edl_store_writer_open(&w, fx->db, NULL, &err), EDL_E_DB_CORRUPT);
	assert_null(w);
	assert_non_null(strstr(err.detail, "is damaged (quick_check:"));
	assert_non_null(strstr(err.detail, ".recover | sqlite3 "));
	assert_non_null(strstr(err.detail, "results-recovered.db"));
	assert_non_null(strstr(err.detail, fx->db));
	after = slurp(fx->db, &n_after);
	assert_int_equal(n_before, n_after);
	assert_memory_equal(before, after, n_before);
	free(before);
	free(after);
	edl_error_clear(&err);
	assert_int_equal(edl_store_check_file(fx->db, true, &err), EDL_E_DB_CORRUPT);
	assert_non_null(strstr(err.detail, "integrity_check"));
}

static void test_progress_persisted_and_kept_by_an_interrupted_run(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_writer *w = open_writer(fx->db, NULL);
	struct edl_store_run_start start = {.serial = "0000beef",
	                                    .station = "line-1",
	                                    .package_hash = "pkg-hash-0001",
	                                    .slot = 2,
	                                    .slot_label = "B2",
	                                    .port = "1-2",
	                                    .start_ms = 1000};
	struct edl_store_progress p1 = {0, "sahara", 0, 5000, 1500};
	struct edl_store_progress p2 = {0, "program", 3000, 5000, 4200};
	char text[64];
	int64_t id = 0, failed;

	fixture_station_and_package(w);
	assert_int_equal(edl_store_writer_run_start(&id, w, &start, NULL, NULL), EDL_OK);
	p1.run_id = p2.run_id = id;
	assert_int_equal(edl_store_writer_run_progress(w, &p1, NULL, NULL), EDL_OK);
	assert_int_equal(edl_store_writer_run_progress(w, &p2, NULL, NULL), EDL_OK);
	failed = fixture_run(w, "0000f00d", 1, 1000, 50, EDL_RESULT_FAIL, 0);
	edl_store_writer_flush(w);
	assert_string_equal(sql_text(fx->db, "SELECT stage FROM run WHERE serial = '0000beef'",
	                             text, sizeof(text)),
	                    "program");
	assert_int_equal(sql_int(fx->db, "SELECT bytes_written FROM run WHERE serial = '0000beef'"),
	                 3000);
	assert_int_equal(sql_int(fx->db, "SELECT bytes_total FROM run WHERE serial = '0000beef'"),
	                 5000);
	assert_int_equal(sql_int(fx->db, "SELECT progress_ms FROM run WHERE serial = '0000beef'"),
	                 4200);
	assert_string_equal(sql_text(fx->db, "SELECT slot_label FROM run WHERE serial = '0000beef'",
	                             text, sizeof(text)),
	                    "B2");
	assert_string_equal(sql_text(fx->db,
	                             "SELECT error_class FROM run WHERE serial = '0000f00d'", text,
	                             sizeof(text)),
	                    edl_error_class_name(edl_error_class(EDL_E_FH_NAK)));
	assert_true(failed > id);
	/* A progress after the finish changes nothing. */
	p2.run_id = failed;
	assert_int_equal(edl_store_writer_run_progress(w, &p2, NULL, NULL), EDL_OK);
	edl_store_writer_close(w);
	assert_string_equal(sql_text(fx->db, "SELECT stage FROM run WHERE serial = '0000f00d'",
	                             text, sizeof(text)),
	                    "firehose");

	/* The station died: the run is interrupted where it stopped. */
	w = open_writer(fx->db, NULL);
	edl_store_writer_close(w);
	assert_string_equal(sql_text(fx->db, "SELECT result FROM run WHERE serial = '0000beef'",
	                             text, sizeof(text)),
	                    "interrupted");
	assert_string_equal(sql_text(fx->db, "SELECT stage FROM run WHERE serial = '0000beef'",
	                             text, sizeof(text)),
	                    "program");
	assert_int_equal(sql_int(fx->db, "SELECT end_ms FROM run WHERE serial = '0000beef'"), 4200);
	assert_int_equal(sql_int(fx->db, "SELECT bytes_written FROM run WHERE serial = '0000beef'"),
	                 3000);
	assert_string_equal(sql_text(fx->db,
	                             "SELECT error_class FROM run WHERE serial = '0000beef'", text,
	                             sizeof(text)),
	                    edl_error_class_name(edl_error_class(EDL_E_INTERRUPTED)));
}

static void test_readers_name_the_file(void **state)
{
	struct fixture *fx = *state;
	struct edl_store *s = NULL;
	struct edl_store_writer *w = NULL;
	struct edl_error err;
	char missing[400];

	snprintf(missing, sizeof(missing), "%s/no-such-dir/r.db", fx->dir);
	edl_error_clear(&err);
	assert_int_equal(edl_store_open(&s, missing, &err), EDL_E_CONFIG);
	assert_non_null(strstr(err.detail, "no-such-dir does not exist: create it or set"));
	edl_error_clear(&err);
	assert_int_equal(edl_store_writer_open(&w, missing, NULL, &err), EDL_E_CONFIG);
	assert_non_null(strstr(err.detail, "no-such-dir does not exist"));
	assert_null(strstr(err.detail, ".lock"));
	edl_error_clear(&err);
	assert_int_equal(edl_store_open(&s, fx->db, &err), EDL_E_NOENT);
	assert_non_null(strstr(err.detail, fx->db));
}

/* With a loop, the state at open and the kept completions arrive on the loop. */
struct loop_watch {
	struct states st;
	struct kept_count k;
	uv_loop_t *loop;
};

static void on_loop_state(const struct edl_store_state *s, void *data)
{
	struct loop_watch *lw = data;

	on_state(s, &lw->st);
}

static void on_loop_kept(const struct edl_store_done *d, void *data)
{
	struct loop_watch *lw = data;

	on_done(d, &lw->k);
	if (lw->k.kept == 2)
		uv_stop(lw->loop);
}

static void on_loop_timeout(uv_timer_t *t)
{
	uv_stop(t->loop);
}

static void test_loop_hears_not_writable_before_kept_results(void **state)
{
	struct fixture *fx = *state;
	struct loop_watch lw = {0};
	uv_loop_t loop;
	uv_timer_t timeout;
	struct edl_store_writer_options opts = {.loop = &loop,
	                                        .min_free_bytes = UINT64_MAX / 2,
	                                        .on_state = on_loop_state,
	                                        .state_data = &lw};
	struct edl_store_writer *w = NULL;
	struct edl_store_run_start start = {.serial = "0000abcd",
	                                    .station = "line-1",
	                                    .package_hash = "pkg-hash-0001",
	                                    .slot = 1,
	                                    .port = "1-1",
	                                    .start_ms = 1000};
	struct edl_store_run_end end = {.result = EDL_RESULT_PASS, .end_ms = 2000};
	struct edl_error err;

	assert_int_equal(uv_loop_init(&loop), 0);
	lw.loop = &loop;
	edl_error_clear(&err);
	assert_int_equal(edl_store_writer_open(&w, fx->db, &opts, &err), EDL_OK);
	fixture_station_and_package(w);
	assert_int_equal(edl_store_writer_run_start(&end.run_id, w, &start, on_loop_kept, &lw),
	                 EDL_OK);
	assert_int_equal(edl_store_writer_run_finish(w, &end, on_loop_kept, &lw), EDL_OK);
	assert_int_equal(lw.st.calls, 0); /* nothing before the loop runs */
	uv_timer_init(&loop, &timeout);
	uv_timer_start(&timeout, on_loop_timeout, 20000, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&timeout, NULL);
	assert_int_equal(lw.k.kept, 2);
	assert_true(lw.st.calls >= 1);
	assert_false(lw.st.writable);
	assert_int_equal(lw.st.code, EDL_E_DB_FULL);
	edl_store_writer_close(w);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_db_check_command_exit_codes(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_writer *w = open_writer(fx->db, NULL);
	char missing[400];
	char *ok_argv[] = {"db", "check", "--db", fx->db, NULL};
	char *full_argv[] = {"db", "check", "--full", "--db", fx->db, NULL};
	char *missing_argv[] = {"db", "check", "--db", missing, NULL};
	char *usage_argv[] = {"db", "frobnicate", NULL};

	fixture_station_and_package(w);
	for (int i = 0; i < 400; i++) {
		char serial[16];
		snprintf(serial, sizeof(serial), "%08x", i);
		fixture_run(w, serial, i % 8, 1000 + i, 100, EDL_RESULT_FAIL, 0);
	}
	edl_store_writer_close(w);
	snprintf(missing, sizeof(missing), "%s/nothing-here.db", fx->dir);
	assert_int_equal(edl_cli_db(4, ok_argv), EDL_EXIT_OK);
	assert_int_equal(edl_cli_db(5, full_argv), EDL_EXIT_OK);
	assert_int_equal(edl_cli_db(4, missing_argv), EDL_EXIT_USAGE);
	assert_int_equal(edl_cli_db(2, usage_argv), EDL_EXIT_USAGE);
	damage(fx->db);
	assert_int_equal(edl_cli_db(5, full_argv), EDL_EXIT_FAILURE);
	assert_int_equal(edl_cli_db(4, ok_argv), EDL_EXIT_FAILURE);
}

/* A station killed in the middle of an append leaves a torn record: replay
 * keeps the whole records before it and ignores the rest; a rewound journal
 * replays nothing of its older generation. */
static void test_journal_ignores_a_torn_tail_and_rewound_records(void **state)
{
	struct fixture *fx = *state;
	struct edl_store_journal j;
	struct edl_store_oprec *ops = NULL, *op;
	struct edl_store_station st = {.name = "line-1", .host = "h"};
	struct edl_store_progress p = {7, "program", 100, 200, 300};
	struct edl_error err;
	int64_t max_id = 0;
	uint64_t torn_at;
	size_t n = 0;
	int fd;

	edl_error_clear(&err);
	assert_int_equal(edl_store_journal_open(&j, fx->db, &ops, &max_id, &err), EDL_OK);
	assert_null(ops);
	ops = edl_store_oprec_station(&st);
	ops->next = edl_store_oprec_progress(&p);
	assert_int_equal(edl_store_journal_append(&j, ops, &err), EDL_OK);
	torn_at = j.write_at;
	edl_store_oprec_free(ops->next);
	edl_store_oprec_free(ops);
	ops = edl_store_oprec_progress(&p);
	assert_int_equal(edl_store_journal_append(&j, ops, &err), EDL_OK);
	edl_store_oprec_free(ops);
	edl_store_journal_close(&j);

	/* Tear the third record. */
	fd = open(j.path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "XXXX", 4, (off_t)torn_at + 20), 4);
	close(fd);

	assert_int_equal(edl_store_journal_open(&j, fx->db, &ops, &max_id, &err), EDL_OK);
	for (op = ops; op != NULL; op = op->next)
		n++;
	assert_int_equal(n, 2);
	assert_int_equal(ops->kind, EDL_STORE_OP_STATION);
	assert_string_equal(ops->u.station.name, "line-1");
	assert_int_equal(ops->next->kind, EDL_STORE_OP_RUN_PROGRESS);
	assert_int_equal(ops->next->run_id, 7);
	assert_string_equal(ops->next->u.progress.stage, "program");
	assert_int_equal(ops->next->u.progress.bytes_total, 200);
	while (ops != NULL) {
		op = ops->next;
		edl_store_oprec_free(ops);
		ops = op;
	}
	assert_int_equal(j.allocated >= (4u << 20), 1); /* preallocated */
	assert_int_equal(edl_store_journal_rewind(&j, &err), EDL_OK);
	edl_store_journal_close(&j);
	assert_int_equal(edl_store_journal_open(&j, fx->db, &ops, &max_id, &err), EDL_OK);
	assert_null(ops);
	edl_store_journal_close(&j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(
	                test_second_writer_refused_without_lock_file_and_through_hard_link, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(test_reserve_keeps_results_and_reports_not_writable,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_journal_keeps_archived_files, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_journal_replayed_once_after_a_kill, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_damaged_database_refused_untouched, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(
	                test_progress_persisted_and_kept_by_an_interrupted_run, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_readers_name_the_file, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_loop_hears_not_writable_before_kept_results,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_db_check_command_exit_codes, setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                test_journal_ignores_a_torn_tail_and_rewound_records, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
