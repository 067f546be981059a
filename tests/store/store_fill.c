/*
 * Driver for tests/store/full_disk.sh: fills the small filesystem holding the
 * database through the real writer, the way a station records units (start,
 * then finish), until the writer says it cannot write; records more units while
 * full; closes and reopens the writer on the still-full disk (it must open,
 * not writable); then frees space by deleting the filler file the script made
 * and waits for the kept results to commit. Exit 0 only when every run it
 * recorded is a pass row, none is running, and no run was reported committed
 * that is not. Prints its figures on one line.
 *
 * usage: store_fill DB FILLER
 */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "edlstation/store.h"

#define MAX_RUNS 20000

struct tally {
	unsigned committed, kept, failed;
	bool writable;
	unsigned state_calls;
	char state_detail[1200];
	char kept_detail[1200];
	bool committed_ids[MAX_RUNS + 64];
};

static void on_state(const struct edl_store_state *s, void *data)
{
	struct tally *t = data;

	t->state_calls++;
	t->writable = s->writable;
	snprintf(t->state_detail, sizeof(t->state_detail), "%s", s->detail);
}

static void on_finish(const struct edl_store_done *d, void *data)
{
	struct tally *t = data;

	if (d->code == EDL_OK) {
		t->committed++;
		if (d->run_id > 0 && d->run_id < MAX_RUNS + 64)
			t->committed_ids[d->run_id] = true;
	} else if (d->kept) {
		t->kept++;
		snprintf(t->kept_detail, sizeof(t->kept_detail), "%s", d->detail);
	} else {
		t->failed++;
		fprintf(stderr, "store_fill: finish failed: %s\n", d->detail);
	}
}

static int record(struct edl_store_writer *w, unsigned n, struct tally *t)
{
	static char warnings[2049];
	char serial[16];
	int64_t id = 0;
	struct edl_store_run_start start = {.serial = serial,
	                                    .station = "fill",
	                                    .package_hash = "fill-pkg",
	                                    .slot = (int)(n % 8),
	                                    .port = "1-1",
	                                    .start_ms = 1000 + n};
	struct edl_store_run_end end = {.result = EDL_RESULT_PASS,
	                                .end_ms = 2000 + n,
	                                .bytes_written = 4096,
	                                .duration_ms = 1000,
	                                .warnings = warnings};

	if (warnings[0] == '\0')
		memset(warnings, 'w', sizeof(warnings) - 1);
	snprintf(serial, sizeof(serial), "%08x", n);
	if (edl_store_writer_run_start(&id, w, &start, NULL, NULL) != EDL_OK)
		return -1;
	end.run_id = id;
	return edl_store_writer_run_finish(w, &end, on_finish, t) == EDL_OK ? 0 : -1;
}

static struct edl_store_writer *open_writer(const char *db, struct tally *t)
{
	struct edl_store_writer_options opts = {
	        .retry_ms = 100, .on_state = on_state, .state_data = t};
	struct edl_store_writer *w = NULL;
	struct edl_error err;
	struct edl_store_station st = {.name = "fill"};
	struct edl_store_package pkg = {.manifest_hash = "fill-pkg"};

	edl_error_clear(&err);
	if (edl_store_writer_open(&w, db, &opts, &err) != EDL_OK) {
		fprintf(stderr, "store_fill: open failed: %s\n", err.detail);
		return NULL;
	}
	edl_store_writer_station(w, &st, NULL, NULL);
	edl_store_writer_package(w, &pkg, NULL, NULL);
	return w;
}

static int64_t query(const char *db_path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

int main(int argc, char **argv)
{
	static struct tally t;
	struct edl_store_writer *w;
	struct edl_store_state state;
	unsigned n = 0, full_at = 0;
	int64_t passes, running, id_ok = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: store_fill DB FILLER\n");
		return 2;
	}
	w = open_writer(argv[1], &t);
	if (w == NULL)
		return 1;
	t.writable = true;
	while (n < MAX_RUNS) {
		if (record(w, ++n, &t) != 0)
			return 1;
		if (n % 10 == 0) {
			edl_store_writer_flush(w);
			if (!t.writable)
				break;
		}
	}
	if (t.writable) {
		fprintf(stderr, "store_fill: the disk never filled in %u runs\n", n);
		return 1;
	}
	full_at = n;
	for (unsigned i = 0; i < 20; i++)
		record(w, ++n, &t);
	edl_store_writer_flush(w);
	/* Shown committed exactly when a pass row exists. */
	passes = query(argv[1], "SELECT count(*) FROM run WHERE result = 'pass'");
	if (passes != (int64_t)t.committed) {
		fprintf(stderr, "store_fill: %u reported committed, %" PRId64 " pass rows\n",
		        t.committed, passes);
		return 1;
	}
	printf("not writable after %u runs: %s\n", full_at, t.state_detail);
	printf("a kept result says: %s\n", t.kept_detail);
	edl_store_writer_close(w);

	/* Restart on the still-full disk: it opens, and keeps what it cannot write. */
	w = open_writer(argv[1], &t);
	if (w == NULL)
		return 1;
	edl_store_writer_state(w, &state);
	printf("reopened on the full disk: %s (%s)\n", state.writable ? "writable" : "not writable",
	       state.detail);
	for (unsigned i = 0; i < 5; i++)
		record(w, ++n, &t);
	edl_store_writer_flush(w);

	if (unlink(argv[2]) != 0) {
		perror("store_fill: removing the filler");
		return 1;
	}
	for (int i = 0; i < 200; i++) {
		struct timespec ts = {0, 50 * 1000000};
		edl_store_writer_flush(w);
		edl_store_writer_state(w, &state);
		if (state.writable && state.kept == 0)
			break;
		nanosleep(&ts, NULL);
	}
	edl_store_writer_state(w, &state);
	edl_store_writer_close(w);
	if (!state.writable) {
		fprintf(stderr, "store_fill: still not writable after space was freed: %s\n",
		        state.detail);
		return 1;
	}
	passes = query(argv[1], "SELECT count(*) FROM run WHERE result = 'pass'");
	running = query(argv[1], "SELECT count(*) FROM run WHERE result = 'running'");
	for (int64_t id = 1; id < MAX_RUNS + 64; id++) {
		if (t.committed_ids[id])
			id_ok++;
	}
	printf("runs %u, committed at once %u, kept %u, failed %u; rows: %" PRId64 " pass, %" PRId64
	       " running\n",
	       n, t.committed, t.kept, t.failed, passes, running);
	if (passes != (int64_t)n || running != 0 || t.failed != 0 || t.committed + t.kept != n ||
	    id_ok != (int64_t)t.committed || t.kept == 0) {
		fprintf(stderr, "store_fill: results lost or wrong\n");
		return 1;
	}
	return 0;
}
