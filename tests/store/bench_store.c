/*
 * The store benchmark (run by scripts/bench/store.sh, never as a test): inserts
 * N synthetic runs with their steps through the same writer the station uses
 * (two stations of 24 slots, 8% of units failing once and retried, one bad slot,
 * six plan steps per run, device log lines for failures), then times the report
 * over the whole database and over its last 24 hours, and the history of a
 * retried unit. Prints a table and writes the figures as JSON.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "edlstation/store.h"

#define SLOTS_PER_STATION 24
#define STATIONS 2
#define T0 1714550400000LL /* 2024-05-01T08:00:00Z */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_store [--runs N] [--db FILE] [--json FILE]\n");
}

static int parse_count(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	*out = strtoull(s, &end, 10);
	return errno != 0 || *end != '\0' || *out == 0 || *out > 100000000 ? -1 : 0;
}

static void remove_db(const char *path)
{
	static const char *const suffixes[] = {"", "-wal", "-shm", ".lock"};
	char p[4200];

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffixes[i]);
		unlink(p);
	}
}

static uint64_t file_size(const char *path, const char *suffix)
{
	char p[4200];
	struct stat sb;

	snprintf(p, sizeof(p), "%s%s", path, suffix);
	return stat(p, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

struct line {
	struct edl_store_writer *w;
	uint64_t rng;
	int64_t slot_time[STATIONS * SLOTS_PER_STATION];
	uint64_t next_unit;
	uint64_t runs, rows;
	int64_t last_start;
	char retried_serial[16];
};

static const char *const station_names[STATIONS] = {"line-1", "line-2"};
static const char *const package_hashes[2] = {
        "9f2c41d07a5be3c1e0aa77b3d1c2f00e1b6a2f7d4c3b9e8a1f0d2c4b6a8e0f1a",
        "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9",
};

/* One run of `serial` on slot `k`, starting when the slot is free and not before
 * not_before; a first attempt fails with the slot's rate. Returns its id and
 * sets *ended to its end time. */
static int64_t flash_one(struct line *ln, int k, const char *serial, int64_t retry_of,
                         int64_t not_before, bool *failed, int64_t *ended)
{
	static const struct edl_store_step plan[] = {
	        {EDL_STEP_ERASE, "xbl", 1, "0", 2048, 0, 0, EDL_STEP_RESULT_PASS},
	        {EDL_STEP_PROGRAM, "xbl", 1, "0", 896, 3670016, 0, EDL_STEP_RESULT_PASS},
	        {EDL_STEP_PROGRAM, "boot", 4, "6", 16384, 67108864, 0, EDL_STEP_RESULT_PASS},
	        {EDL_STEP_PROGRAM, "system", 0, "4096", 786432, 3221225472u, 0,
	         EDL_STEP_RESULT_PASS},
	        {EDL_STEP_PATCH, "gpt", 0, "NUM_DISK_SECTORS-5.", 0, 0, 0, EDL_STEP_RESULT_PASS},
	        {EDL_STEP_SET_BOOTABLE, "", 1, "0", 0, 0, 0, EDL_STEP_RESULT_PASS},
	};
	struct edl_store_step steps[sizeof(plan) / sizeof(plan[0])];
	const char *log[] = {"INFO: Calling handler for program",
	                     "ERROR: Failed to write 786432 sectors at 4096: device error 0x5",
	                     "INFO: Finished with status 0x5"};
	char port[32], transcript[64];
	int station = k / SLOTS_PER_STATION, slot = k % SLOTS_PER_STATION + 1;
	double rate = (station == 0 && slot == 7) ? 0.20 : 0.08;
	int64_t duration = 60000 + (int64_t)(next_rand(&ln->rng) % 60000);
	int64_t start = ln->slot_time[k] > not_before ? ln->slot_time[k] : not_before;
	struct edl_store_run_start rs = {
	        .serial = serial,
	        .station = station_names[station],
	        .package_hash = package_hashes[(ln->runs / 500000) % 2],
	        .slot = slot,
	        .port = port,
	        .attempt = retry_of > 0 ? 2 : 1,
	        .retry_of = retry_of,
	        .start_ms = start,
	        .transcript = transcript,
	};
	struct edl_store_run_end end = {
	        .result = EDL_RESULT_PASS,
	        .end_ms = start + duration,
	        .bytes_written = 3291996160u,
	        .duration_ms = duration,
	        .payload = 1048576,
	        .steps = steps,
	        .n_steps = sizeof(plan) / sizeof(plan[0]),
	};

	*failed = retry_of == 0 && (double)(next_rand(&ln->rng) % 1000000) / 1e6 < rate;
	snprintf(port, sizeof(port), "%d-1.%d", station + 1, slot);
	snprintf(transcript, sizeof(transcript), "transcripts/%s-%" PRIu64 ".log", serial,
	         ln->runs);
	memcpy(steps, plan, sizeof(plan));
	for (size_t i = 0; i < end.n_steps; i++)
		steps[i].duration_ms = duration / (int64_t)end.n_steps;
	if (*failed) {
		end.result = EDL_RESULT_FAIL;
		end.stage = "program";
		end.error_code = (ln->runs % 3) == 0 ? EDL_E_VERIFY_MISMATCH : EDL_E_FH_NAK;
		end.message = "program of system (LUN 0, 786432 sectors at 4096) refused";
		end.bytes_written = 70778880;
		end.log_lines = log;
		end.n_log_lines = 3;
		steps[3].result = EDL_STEP_RESULT_FAIL;
		steps[4].result = steps[5].result = EDL_STEP_RESULT_SKIPPED;
	}
	if (edl_store_writer_run_start(&end.run_id, ln->w, &rs, NULL, NULL) != EDL_OK ||
	    edl_store_writer_run_finish(ln->w, &end, NULL, NULL) != EDL_OK) {
		fprintf(stderr, "bench_store: queueing run %" PRIu64 " failed\n", ln->runs);
		exit(1);
	}
	*ended = start + duration;
	ln->slot_time[k] = start + duration + 4000 + (int64_t)(next_rand(&ln->rng) % 8000);
	if (start > ln->last_start)
		ln->last_start = start;
	ln->runs++;
	ln->rows += 1 + end.n_steps + end.n_log_lines;
	/* Keep the queue bounded: the producer is far faster than any disk. */
	if ((ln->runs & 1023) == 0)
		edl_store_writer_wait(ln->w, 16384);
	return end.run_id;
}

static void count_failure(const struct edl_store_done *done, void *data)
{
	if (done->code != EDL_OK)
		++*(uint64_t *)data;
}

int main(int argc, char **argv)
{
	const char *db = "build/bench/store.db";
	const char *json = NULL;
	uint64_t want = 1000000, failures = 0;
	struct line ln = {.rng = 0x9e3779b97f4a7c15ull};
	struct edl_store_writer *w = NULL;
	struct edl_store *s = NULL;
	struct edl_error err;
	struct edl_store_filter all, day;
	double t_insert, t_report_all[3], t_report_day[3], t_hist[50], t_hist_steps[50];
	uint64_t bytes, units, report_runs;
	double fpy;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
			if (parse_count(argv[++i], &want) != 0) {
				usage();
				return 2;
			}
		} else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
			db = argv[++i];
		} else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc) {
			json = argv[++i];
		} else {
			usage();
			return 2;
		}
	}
	remove_db(db);
	if (edl_store_writer_open(&w, db, NULL, &err) != EDL_OK) {
		fprintf(stderr, "bench_store: %s\n", err.detail);
		return 1;
	}
	ln.w = w;
	for (int k = 0; k < STATIONS * SLOTS_PER_STATION; k++)
		ln.slot_time[k] = T0 + k * 2500;
	for (int i = 0; i < STATIONS; i++) {
		struct edl_store_station st = {.name = station_names[i], .host = "bench-host"};
		edl_store_writer_station(w, &st, count_failure, &failures);
	}
	for (int i = 0; i < 2; i++) {
		struct edl_store_package pkg = {
		        .manifest_hash = package_hashes[i],
		        .path = i == 0 ? "/srv/firmware/product-a/v1"
		                       : "/srv/firmware/product-a/v2",
		        .name = "product-a",
		        .version = i == 0 ? "1.0" : "2.0",
		        .storage = "ufs",
		        .bytes = 3291996160u,
		};
		edl_store_writer_package(w, &pkg, count_failure, &failures);
	}

	t_insert = now_s();
	while (ln.runs < want) {
		int k = (int)(ln.runs % (STATIONS * SLOTS_PER_STATION));
		char serial[16];
		bool failed;
		int64_t id, ended;

		snprintf(serial, sizeof(serial), "%08" PRIx64, 0x10000000u + ln.next_unit++);
		id = flash_one(&ln, k, serial, 0, 0, &failed, &ended);
		if (failed && ln.runs < want) {
			/* The retry goes to the next slot, as an operator would move it. */
			flash_one(&ln, (k + 1) % (STATIONS * SLOTS_PER_STATION), serial, id,
			          ended + 5000, &failed, &ended);
			snprintf(ln.retried_serial, sizeof(ln.retried_serial), "%s", serial);
		}
	}
	edl_store_writer_flush(w);
	t_insert = now_s() - t_insert;
	edl_store_writer_close(w);
	if (failures != 0) {
		fprintf(stderr, "bench_store: %" PRIu64 " records failed\n", failures);
		return 1;
	}
	bytes = file_size(db, "") + file_size(db, "-wal");

	if (edl_store_open(&s, db, &err) != EDL_OK) {
		fprintf(stderr, "bench_store: %s\n", err.detail);
		return 1;
	}
	edl_store_filter_init(&all);
	edl_store_filter_init(&day);
	day.since_ms = ln.last_start - 86400000LL;
	for (int i = 0; i < 3; i++) {
		struct edl_store_report *r = NULL;
		double t = now_s();
		if (edl_store_report(&r, s, &all, &err) != EDL_OK) {
			fprintf(stderr, "bench_store: report: %s\n", err.detail);
			return 1;
		}
		t_report_all[i] = now_s() - t;
		units = r->units;
		report_runs = r->runs;
		fpy = r->first_pass_yield;
		edl_store_report_free(r);
		t = now_s();
		if (edl_store_report(&r, s, &day, &err) != EDL_OK)
			return 1;
		t_report_day[i] = now_s() - t;
		edl_store_report_free(r);
	}
	for (int i = 0; i < 50; i++) {
		struct edl_store_history *h = NULL;
		double t = now_s();
		if (edl_store_history(&h, s, ln.retried_serial, 0, &err) != EDL_OK ||
		    h->n_runs != 2) {
			fprintf(stderr, "bench_store: history of %s failed\n", ln.retried_serial);
			return 1;
		}
		t_hist[i] = now_s() - t;
		edl_store_history_free(h);
		t = now_s();
		if (edl_store_history(&h, s, ln.retried_serial, EDL_STORE_HISTORY_STEPS, &err) !=
		    EDL_OK)
			return 1;
		t_hist_steps[i] = now_s() - t;
		edl_store_history_free(h);
	}
	edl_store_close(s);

	{
		double runs_per_s = (double)ln.runs / t_insert;
		double rows_per_s = (double)ln.rows / t_insert;
		double rep_all = median(t_report_all, 3), rep_day = median(t_report_day, 3);
		double hist = median(t_hist, 50), hist_steps = median(t_hist_steps, 50);

		printf("store benchmark: %" PRIu64 " runs (%" PRIu64 " units, first-pass yield "
		       "%.1f%%), %" PRIu64 " rows with steps and logs\n",
		       report_runs, units, fpy * 100.0, ln.rows);
		printf("  %-34s %14s\n", "figure", "value");
		printf("  %-34s %14.0f\n", "runs written per second", runs_per_s);
		printf("  %-34s %14.0f\n", "rows written per second", rows_per_s);
		printf("  %-34s %14.2f\n", "insert time (s)", t_insert);
		printf("  %-34s %14.3f\n", "report, whole database (s)", rep_all);
		printf("  %-34s %14.3f\n", "report, last 24 h (s)", rep_day);
		printf("  %-34s %14.3f\n", "history of one unit (ms)", hist * 1000);
		printf("  %-34s %14.3f\n", "history with steps (ms)", hist_steps * 1000);
		printf("  %-34s %14.1f\n", "database bytes per run", (double)bytes / ln.runs);
		printf("  %-34s %14.1f\n", "database size (MB)", (double)bytes / 1e6);
		printf("  targets: report < 2 s, history < 10 ms\n");
		if (json != NULL) {
			FILE *f = fopen(json, "w");
			if (f == NULL) {
				fprintf(stderr, "bench_store: cannot write %s\n", json);
				return 1;
			}
			fprintf(f,
			        "{\n  \"runs\": %" PRIu64 ",\n  \"units\": %" PRIu64
			        ",\n  \"rows\": %" PRIu64 ",\n  \"insert_seconds\": %.3f,\n"
			        "  \"runs_per_second\": %.0f,\n  \"rows_per_second\": %.0f,\n"
			        "  \"report_seconds\": %.4f,\n  \"report_24h_seconds\": %.4f,\n"
			        "  \"history_ms\": %.4f,\n  \"history_steps_ms\": %.4f,\n"
			        "  \"bytes_per_run\": %.1f,\n  \"database_bytes\": %" PRIu64 ",\n"
			        "  \"targets\": {\"report_seconds\": 2, \"history_ms\": 10},\n"
			        "  \"report_ok\": %s,\n  \"history_ok\": %s\n}\n",
			        ln.runs, units, ln.rows, t_insert, runs_per_s, rows_per_s, rep_all,
			        rep_day, hist * 1000, hist_steps * 1000, (double)bytes / ln.runs,
			        bytes, rep_all < 2.0 ? "true" : "false",
			        hist * 1000 < 10.0 ? "true" : "false");
			fclose(f);
		}
	}
	return 0;
}
