/* Scratch databases and record helpers for the store's tests (see fixture.h). */
#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int fixture_init(struct fixture *fx)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(fx->dir, sizeof(fx->dir), "%s/edl-store-XXXXXX",
	         tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	snprintf(fx->db, sizeof(fx->db), "%s/results.db", fx->dir);
	return 0;
}

void fixture_cleanup(struct fixture *fx)
{
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal", ".lock", ".pending"};
	char path[400];

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", fx->db, suffixes[i]);
		unlink(path);
	}
	rmdir(fx->dir);
}

void count_done(const struct edl_store_done *done, void *data)
{
	struct outcomes *o = data;

	if (done->code == EDL_OK)
		o->ok++;
	else
		o->failed++;
	o->last_code = done->code;
	o->last_run_id = done->run_id;
	snprintf(o->last_detail, sizeof(o->last_detail), "%s", done->detail);
}

void fixture_station_and_package(struct edl_store_writer *w)
{
	struct edl_store_station st = {.name = "line-1", .host = "bench-host"};
	struct edl_store_package pkg = {
	        .manifest_hash = "pkg-hash-0001",
	        .path = "/srv/firmware/demo",
	        .name = "demo",
	        .version = "1.0",
	        .storage = "ufs",
	        .bytes = 64u << 20,
	};

	edl_store_writer_station(w, &st, NULL, NULL);
	edl_store_writer_package(w, &pkg, NULL, NULL);
}

int64_t fixture_run(struct edl_store_writer *w, const char *serial, int slot, int64_t start_ms,
                    int64_t duration_ms, enum edl_store_result result, int64_t retry_of)
{
	char port[32];
	int64_t id = 0;
	struct edl_store_run_start start = {
	        .serial = serial,
	        .station = "line-1",
	        .package_hash = "pkg-hash-0001",
	        .slot = slot,
	        .port = port,
	        .attempt = retry_of > 0 ? 2 : 1,
	        .retry_of = retry_of,
	        .start_ms = start_ms,
	};
	struct edl_store_run_end end = {
	        .result = result,
	        .end_ms = start_ms + duration_ms,
	        .bytes_written = result == EDL_RESULT_PASS ? 64u << 20 : 1u << 20,
	        .duration_ms = duration_ms,
	        .payload = 1048576,
	};

	snprintf(port, sizeof(port), "1-1.%d", slot);
	if (result != EDL_RESULT_PASS) {
		end.stage = "firehose";
		end.error_code = EDL_E_FH_NAK;
		end.message = "program of LUN 0 refused";
	}
	if (edl_store_writer_run_start(&id, w, &start, NULL, NULL) != EDL_OK)
		return 0;
	end.run_id = id;
	if (edl_store_writer_run_finish(w, &end, NULL, NULL) != EDL_OK)
		return 0;
	return id;
}
