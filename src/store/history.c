/*
 * A unit's history for the RMA bench: every run of one serial, across packages
 * and stations, oldest first, with the stage, error and message of failures and
 * the device's own log lines. One indexed lookup (run_by_serial) plus one small
 * query per failed run, so it stays in milliseconds on a million-run database.
 */
#include "store_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct history_owner {
	struct edl_store_history pub;
	struct edl_arena arena;
	struct edl_store_history_run *runs; /* realloc'd while reading */
	size_t cap;
};

#define COPY(dst, st, col)                                                       \
	do {                                                                     \
		const char *v_ = (const char *)sqlite3_column_text((st), (col)); \
		(dst) = edl_arena_strdup(&o->arena, v_);                         \
		if (v_ != NULL && (dst) == NULL)                                 \
			goto nomem;                                              \
	} while (0)

static int read_device(struct history_owner *o, sqlite3 *db, struct edl_error *err)
{
	struct edl_store_history *h = &o->pub;
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db,
	                            "SELECT usb_serial, hw_id, msm_id, oem_id, model_id, pk_hash,"
	                            " first_seen_ms, last_seen_ms FROM device WHERE serial = ?1",
	                            -1, &st, NULL);

	if (rc != SQLITE_OK)
		goto fail;
	edl_store_bind_text(st, 1, h->serial);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		h->have_device = true;
		COPY(h->usb_serial, st, 0);
		COPY(h->hw_id, st, 1);
		COPY(h->msm_id, st, 2);
		COPY(h->oem_id, st, 3);
		COPY(h->model_id, st, 4);
		COPY(h->pk_hash, st, 5);
		h->first_seen_ms = sqlite3_column_int64(st, 6);
		h->last_seen_ms = sqlite3_column_int64(st, 7);
		rc = SQLITE_DONE;
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	return EDL_OK;
fail:
	rc = edl_store_sqlite_error(err, db, rc, "reading the device");
	sqlite3_finalize(st);
	return rc;
nomem:
	sqlite3_finalize(st);
	return edl_error_set(err, EDL_E_NOMEM, "reading the device");
}

static int read_runs(struct history_owner *o, sqlite3 *db, struct edl_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(
	        db,
	        "SELECT r.id, s.name, r.slot, r.port, p.name, p.version, p.path, p.manifest_hash,"
	        " r.attempt, r.retry_of, r.start_ms, r.end_ms, r.result, r.stage, r.error,"
	        " r.message, r.bytes_written, r.duration_ms, r.avg_mbps, r.payload, r.transcript,"
	        " r.functions, r.warnings, r.capture"
	        " FROM run r JOIN station s ON s.id = r.station_id"
	        " LEFT JOIN package p ON p.id = r.package_id"
	        " WHERE r.serial = ?1 ORDER BY r.start_ms, r.id",
	        -1, &st, NULL);

	if (rc != SQLITE_OK)
		goto fail;
	edl_store_bind_text(st, 1, o->pub.serial);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct edl_store_history_run *run;
		int result;

		if (o->pub.n_runs == o->cap) {
			size_t cap = o->cap == 0 ? 16 : o->cap * 2;
			void *runs = realloc(o->runs, cap * sizeof(*o->runs));
			if (runs == NULL)
				goto nomem;
			o->runs = runs;
			o->cap = cap;
		}
		run = &o->runs[o->pub.n_runs++];
		memset(run, 0, sizeof(*run));
		o->pub.runs = o->runs;
		run->id = sqlite3_column_int64(st, 0);
		COPY(run->station, st, 1);
		run->slot = sqlite3_column_int(st, 2);
		COPY(run->port, st, 3);
		COPY(run->package_name, st, 4);
		COPY(run->package_version, st, 5);
		COPY(run->package_path, st, 6);
		COPY(run->package_hash, st, 7);
		run->attempt = sqlite3_column_int(st, 8);
		run->retry_of = sqlite3_column_int64(st, 9);
		run->start_ms = sqlite3_column_int64(st, 10);
		run->end_ms = sqlite3_column_type(st, 11) == SQLITE_NULL
		                      ? -1
		                      : sqlite3_column_int64(st, 11);
		result = edl_store_result_parse((const char *)sqlite3_column_text(st, 12));
		run->result = result < 0 ? EDL_RESULT_RUNNING : (enum edl_store_result)result;
		COPY(run->stage, st, 13);
		COPY(run->error, st, 14);
		COPY(run->message, st, 15);
		run->bytes_written = (uint64_t)sqlite3_column_int64(st, 16);
		run->duration_ms = sqlite3_column_type(st, 17) == SQLITE_NULL
		                           ? -1
		                           : sqlite3_column_int64(st, 17);
		run->avg_mbps = sqlite3_column_type(st, 18) == SQLITE_NULL
		                        ? NAN
		                        : sqlite3_column_double(st, 18);
		run->payload = (uint32_t)sqlite3_column_int64(st, 19);
		COPY(run->transcript, st, 20);
		COPY(run->functions, st, 21);
		COPY(run->warnings, st, 22);
		COPY(run->capture, st, 23);
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	return EDL_OK;
fail:
	rc = edl_store_sqlite_error(err, db, rc, "reading the unit's runs");
	sqlite3_finalize(st);
	return rc;
nomem:
	sqlite3_finalize(st);
	return edl_error_set(err, EDL_E_NOMEM, "reading the unit's runs");
}

static int read_logs(struct history_owner *o, sqlite3_stmt *st, struct edl_store_history_run *run)
{
	const char **lines = NULL;
	size_t n = 0, cap = 0;
	int rc;

	sqlite3_bind_int64(st, 1, run->id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap == 0 ? 16 : cap * 2;
			const char **more = edl_arena_alloc(&o->arena, ncap * sizeof(*more));
			if (more == NULL)
				goto nomem;
			if (n > 0)
				memcpy(more, lines, n * sizeof(*more));
			lines = more;
			cap = ncap;
		}
		COPY(lines[n], st, 0);
		n++;
	}
	sqlite3_reset(st);
	run->log_lines = lines;
	run->n_log_lines = n;
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
nomem:
	sqlite3_reset(st);
	return SQLITE_NOMEM;
}

static int read_steps(struct history_owner *o, sqlite3_stmt *st, struct edl_store_history_run *run)
{
	struct edl_store_history_step *steps = NULL;
	size_t n = 0, cap = 0;
	int rc;

	sqlite3_bind_int64(st, 1, run->id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct edl_store_history_step *s;
		if (n == cap) {
			size_t ncap = cap == 0 ? 16 : cap * 2;
			struct edl_store_history_step *more =
			        edl_arena_alloc(&o->arena, ncap * sizeof(*more));
			if (more == NULL)
				goto nomem;
			if (n > 0)
				memcpy(more, steps, n * sizeof(*more));
			steps = more;
			cap = ncap;
		}
		s = &steps[n++];
		COPY(s->kind, st, 0);
		COPY(s->label, st, 1);
		s->lun = (uint32_t)sqlite3_column_int64(st, 2);
		COPY(s->start_sector, st, 3);
		s->sectors = (uint64_t)sqlite3_column_int64(st, 4);
		s->bytes = (uint64_t)sqlite3_column_int64(st, 5);
		s->duration_ms = sqlite3_column_int64(st, 6);
		COPY(s->result, st, 7);
	}
	sqlite3_reset(st);
	run->steps = steps;
	run->n_steps = n;
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
nomem:
	sqlite3_reset(st);
	return SQLITE_NOMEM;
}

static int read_details(struct history_owner *o, sqlite3 *db, unsigned flags, struct edl_error *err)
{
	sqlite3_stmt *logs = NULL, *steps = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT text FROM run_log WHERE run_id = ?1 ORDER BY seq",
	                            -1, &logs, NULL);

	if (rc == SQLITE_OK && (flags & EDL_STORE_HISTORY_STEPS))
		rc = sqlite3_prepare_v2(db,
		                        "SELECT kind, label, lun, start_sector, sectors, bytes,"
		                        " duration_ms, result FROM run_step WHERE run_id = ?1"
		                        " ORDER BY idx",
		                        -1, &steps, NULL);
	for (size_t i = 0; rc == SQLITE_OK && i < o->pub.n_runs; i++) {
		struct edl_store_history_run *run = &o->runs[i];
		if (run->result != EDL_RESULT_PASS)
			rc = read_logs(o, logs, run);
		if (rc == SQLITE_OK && steps != NULL)
			rc = read_steps(o, steps, run);
	}
	if (rc != SQLITE_OK)
		rc = edl_store_sqlite_error(err, db, rc, "reading the runs' logs and steps");
	sqlite3_finalize(logs);
	sqlite3_finalize(steps);
	return rc;
}

int edl_store_history(struct edl_store_history **out, struct edl_store *s, const char *serial,
                      unsigned flags, struct edl_error *err)
{
	struct history_owner *o;
	int rc;

	*out = NULL;
	o = calloc(1, sizeof(*o));
	if (o == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "allocating the history");
	edl_arena_init(&o->arena);
	o->pub.serial = edl_arena_strdup(&o->arena, serial);
	if (o->pub.serial == NULL) {
		rc = edl_error_set(err, EDL_E_NOMEM, "allocating the history");
		goto out;
	}
	/* One read transaction: the runs and their logs from the same snapshot. */
	rc = edl_store_exec(s->db, "BEGIN", err);
	if (rc != EDL_OK)
		goto out;
	rc = read_device(o, s->db, err);
	if (rc == EDL_OK)
		rc = read_runs(o, s->db, err);
	if (rc == EDL_OK)
		rc = read_details(o, s->db, flags, err);
	sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if (rc == EDL_OK && !o->pub.have_device && o->pub.n_runs == 0)
		rc = edl_error_set(err, EDL_E_NOENT, "no unit with this serial in the database");
out:
	if (rc != EDL_OK) {
		edl_store_history_free(&o->pub);
		return rc;
	}
	*out = &o->pub;
	return EDL_OK;
}

void edl_store_history_free(struct edl_store_history *h)
{
	struct history_owner *o;

	if (h == NULL)
		return;
	o = (struct history_owner *)((char *)h - offsetof(struct history_owner, pub));
	free(o->runs);
	edl_arena_free(&o->arena);
	free(o);
}
