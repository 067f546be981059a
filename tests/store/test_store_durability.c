/*
 * Nothing lost: a child process records runs through the real writer the way a
 * station does (start, then finish; some runs left running across cycles) and
 * reports on a pipe each run whose PASS commit it was told about, which is the
 * moment a station would show PASS. The parent SIGKILLs it at random moments,
 * several times, starting a new child each time on the same database. Then:
 * PRAGMA integrity_check is ok, every run reported committed is there as pass,
 * no run is left running, and the runs the kills cut off are marked
 * interrupted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "edlstation/clock.h"
#include "edlstation/store.h"
#include "fixture.h"

#define ROUNDS 8
#define MAX_COMMITTED 200000

/* Written from the completion callback: the run is durably pass. */
static void report_pass(const struct edl_store_done *done, void *data)
{
	int fd = *(int *)data;
	char line[40];
	int n;

	if (done->code != EDL_OK)
		return;
	n = snprintf(line, sizeof(line), "P %" PRId64 "\n", done->run_id);
	if (write(fd, line, (size_t)n) != n)
		_exit(3);
}

static int64_t start_run(struct edl_store_writer *w, int slot, uint64_t n)
{
	char serial[16];
	int64_t id = 0;
	struct edl_store_run_start start = {
	        .serial = serial,
	        .station = "line-1",
	        .package_hash = "pkg-hash-0001",
	        .slot = slot,
	        .port = "1-1",
	        .start_ms = edl_store_time_now_ms(),
	};

	snprintf(serial, sizeof(serial), "%08" PRIx64, n);
	if (edl_store_writer_run_start(&id, w, &start, NULL, NULL) != EDL_OK)
		_exit(4);
	return id;
}

static void finish_run(struct edl_store_writer *w, int64_t id, enum edl_store_result result,
                       int *fd)
{
	struct edl_store_step steps[2] = {
	        {EDL_STEP_ERASE, "xbl", 1, "0", 64, 0, 1, EDL_STEP_RESULT_PASS},
	        {EDL_STEP_PROGRAM, "system", 0, "0", 2048, 1 << 20, 5,
	         result == EDL_RESULT_PASS ? EDL_STEP_RESULT_PASS : EDL_STEP_RESULT_FAIL},
	};
	const char *log[] = {"ERROR: write failed"};
	struct edl_store_run_end end = {
	        .run_id = id,
	        .result = result,
	        .end_ms = edl_store_time_now_ms(),
	        .bytes_written = 1 << 20,
	        .duration_ms = 6,
	        .steps = steps,
	        .n_steps = 2,
	        .log_lines = log,
	        .n_log_lines = 1,
	};

	if (result == EDL_RESULT_FAIL) {
		end.stage = "program";
		end.error_code = EDL_E_FH_NAK;
	}
	if (edl_store_writer_run_finish(w, &end, result == EDL_RESULT_PASS ? report_pass : NULL,
	                                fd) != EDL_OK)
		_exit(5);
}

/* The station stand-in: runs until killed. */
static void child_main(const char *db, int fd)
{
	struct edl_store_writer *w = NULL;
	struct edl_error err;
	int64_t left_running = 0;
	uint64_t n = (uint64_t)getpid() << 20;
	char line[40];
	int len;

	if (edl_store_writer_open(&w, db, NULL, &err) != EDL_OK)
		_exit(2);
	len = snprintf(line, sizeof(line), "R %" PRIu64 "\n", edl_store_writer_recovered(w));
	if (write(fd, line, (size_t)len) != len)
		_exit(3);
	fixture_station_and_package(w);
	for (;;) {
		int64_t a = start_run(w, 1, n++);
		int64_t b = start_run(w, 2, n++);
		int64_t c = start_run(w, 3, n++);
		int64_t d = start_run(w, 4, n++);

		finish_run(w, a, EDL_RESULT_PASS, &fd);
		finish_run(w, b, EDL_RESULT_FAIL, &fd);
		finish_run(w, c, EDL_RESULT_PASS, &fd);
		if (left_running != 0)
			finish_run(w, left_running, EDL_RESULT_PASS, &fd);
		left_running = d; /* still flashing when the next cycle commits */
		edl_store_writer_flush(w);
	}
}

struct parent_log {
	int64_t *committed;
	size_t n_committed;
	uint64_t recovered_reported;
	char partial[64];
	size_t partial_len;
};

static void parse_lines(struct parent_log *pl, const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (data[i] != '\n') {
			if (pl->partial_len < sizeof(pl->partial) - 1)
				pl->partial[pl->partial_len++] = data[i];
			continue;
		}
		pl->partial[pl->partial_len] = '\0';
		if (pl->partial[0] == 'P' && pl->n_committed < MAX_COMMITTED)
			pl->committed[pl->n_committed++] = strtoll(pl->partial + 2, NULL, 10);
		else if (pl->partial[0] == 'R')
			pl->recovered_reported += strtoull(pl->partial + 2, NULL, 10);
		pl->partial_len = 0;
	}
}

/* Reads what the child writes until the deadline passes (deadline 0: until EOF). */
static void drain_pipe(struct parent_log *pl, int fd, uint64_t deadline)
{
	char buf[4096];

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		uint64_t now = edl_clock_ms();
		int timeout = deadline == 0 ? -1 : (now >= deadline ? 0 : (int)(deadline - now));
		ssize_t n;

		if (deadline != 0 && now >= deadline)
			return;
		if (poll(&p, 1, timeout) <= 0)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			return;
		parse_lines(pl, buf, (size_t)n);
	}
}

static int64_t sql_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void test_sigkilled_writer_loses_no_committed_run(void **state)
{
	struct fixture fx;
	struct parent_log pl = {0};
	struct edl_store_writer *w = NULL;
	struct edl_error err;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	uint64_t seed = 0x2545f4914f6cdd1dull;
	uint64_t final_recovered;
	int64_t interrupted;
	(void)state;

	assert_int_equal(fixture_init(&fx), 0);
	pl.committed = calloc(MAX_COMMITTED, sizeof(*pl.committed));
	assert_non_null(pl.committed);
	for (int round = 0; round < ROUNDS; round++) {
		int fds[2];
		pid_t pid;
		int status;
		unsigned delay;

		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		delay = 40 + (unsigned)(seed % 260); /* 40..299 ms: open, recovery or mid-line */
		assert_int_equal(pipe(fds), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			child_main(fx.db, fds[1]);
			_exit(0);
		}
		close(fds[1]);
		drain_pipe(&pl, fds[0], edl_clock_ms() + delay);
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		/* Killed, not exited on its own: an exit would mean the child failed. */
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGKILL);
		drain_pipe(&pl, fds[0], 0);
		close(fds[0]);
	}

	/* The next station start recovers what the last kill cut off. */
	assert_int_equal(edl_store_writer_open(&w, fx.db, NULL, &err), EDL_OK);
	final_recovered = edl_store_writer_recovered(w);
	edl_store_writer_close(w);

	assert_int_equal(sqlite3_open_v2(fx.db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM run WHERE result = 'running'"), 0);

	assert_true(pl.n_committed > 0);
	assert_int_equal(
	        sqlite3_prepare_v2(db, "SELECT result FROM run WHERE id = ?1", -1, &st, NULL),
	        SQLITE_OK);
	for (size_t i = 0; i < pl.n_committed; i++) {
		sqlite3_bind_int64(st, 1, pl.committed[i]);
		if (sqlite3_step(st) != SQLITE_ROW ||
		    strcmp((const char *)sqlite3_column_text(st, 0), "pass") != 0)
			fail_msg("run %" PRId64 " was reported committed as pass but is not",
			         pl.committed[i]);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);

	/* Every kill left runs running (one is always mid-flash); all are interrupted,
	 * by the recovery of the next start, with the interrupted error. */
	interrupted = sql_int(db, "SELECT count(*) FROM run WHERE result = 'interrupted'");
	assert_true(interrupted >= ROUNDS / 2);
	assert_true((uint64_t)interrupted >= pl.recovered_reported + final_recovered);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM run WHERE result = 'interrupted'"
	                             " AND error <> 'EDL_E_INTERRUPTED'"),
	                 0);
	print_message("%zu runs reported committed, %" PRId64 " interrupted over %d kills\n",
	              pl.n_committed, interrupted, ROUNDS);
	sqlite3_close(db);
	free(pl.committed);
	fixture_cleanup(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_sigkilled_writer_loses_no_committed_run),
	};

	return cmocka_run_group_tests_name("store_durability", tests, NULL, NULL);
}
