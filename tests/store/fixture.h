/*
 * Helpers shared by the store's tests and its benchmark: a scratch directory
 * per test holding the database, a writer opened on it in synchronous mode,
 * records with sensible defaults, and a callback that counts outcomes.
 */
#ifndef EDL_TEST_STORE_FIXTURE_H
#define EDL_TEST_STORE_FIXTURE_H

#include <stdint.h>

#include "edlstation/store.h"

struct fixture {
	char dir[256];
	char db[300];
};

/* Makes a fresh scratch directory; returns 0 or -1. */
int fixture_init(struct fixture *fx);
/* Removes the database, its -wal/-shm/.lock files and the directory. */
void fixture_cleanup(struct fixture *fx);

/* Outcomes counted by count_done(). */
struct outcomes {
	unsigned ok, failed;
	int last_code;
	char last_detail[600];
	int64_t last_run_id;
};

void count_done(const struct edl_store_done *done, void *data);

/* Records station "line-1" on host "bench-host" and package "pkg-hash-0001". */
void fixture_station_and_package(struct edl_store_writer *w);

/* Starts and finishes one run; returns its id. result PASS or FAIL (stage
 * "firehose", EDL_E_FH_NAK) with the given times. */
int64_t fixture_run(struct edl_store_writer *w, const char *serial, int slot, int64_t start_ms,
                    int64_t duration_ms, enum edl_store_result result, int64_t retry_of);

#endif
