/*
 * A unit's history from the factory database: every run of one serial on
 * every station, oldest first (start, station id, the station's run id), with
 * the device's log lines of runs that did not pass and, on request, the plan
 * steps; the same struct as src/store/history.c fills, so the same formatters
 * write it. A run's id is the station's own run id (history shows the station
 * beside it). Three indexed queries (run_by_serial, the log and step keys) in
 * one read-only snapshot.
 *
 * Also finding the unit from what a person typed: the chip or USB serial in
 * any case, with or without 0x, or a start that names one unit.
 */
#include "edlstation/factory_report.h"
#include "read_internal.h"

#include "../store/store_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COPY(dst, res, row, col)                                       \
	do {                                                           \
		const char *v_ = edl_factory_col((res), (row), (col)); \
		(dst) = edl_arena_strdup(arena, v_);                   \
		if (v_ != NULL && (dst) == NULL)                       \
			goto nomem;                                    \
	} while (0)

static int read_device(struct edl_store_history *h, struct edl_arena *arena,
                       struct edl_factory_db *db, struct edl_error *err)
{
	struct edl_factory_sql q;
	PGresult *res;
	int rc;

	edl_factory_sql_init(&q);
	edl_factory_sql_add(&q, "SELECT usb_serial, hw_id, msm_id, oem_id, model_id, pk_hash,"
	                        " first_seen_ms, last_seen_ms FROM device WHERE serial = ");
	edl_factory_sql_ref(&q, edl_factory_sql_param(&q, h->serial), "::text");
	rc = edl_factory_read_query(&res, db, &q, "reading the device", err);
	if (rc != EDL_OK)
		return rc;
	if (PQntuples(res) == 1) {
		h->have_device = true;
		COPY(h->usb_serial, res, 0, 0);
		COPY(h->hw_id, res, 0, 1);
		COPY(h->msm_id, res, 0, 2);
		COPY(h->oem_id, res, 0, 3);
		COPY(h->model_id, res, 0, 4);
		COPY(h->pk_hash, res, 0, 5);
		h->first_seen_ms = edl_factory_col_i64(res, 0, 6);
		h->last_seen_ms = edl_factory_col_i64(res, 0, 7);
	}
	PQclear(res);
	return EDL_OK;
nomem:
	PQclear(res);
	return edl_error_set(err, EDL_E_NOMEM, "reading the device");
}

static int read_runs(struct edl_store_history *h, struct edl_arena *arena, int64_t **station_ids,
                     struct edl_factory_db *db, struct edl_error *err)
{
	struct edl_factory_sql q;
	PGresult *res;
	int rc, n;

	edl_factory_sql_init(&q);
	edl_factory_sql_add(
	        &q,
	        "SELECT r.local_id, s.name, r.slot, r.port, p.name, p.version,"
	        " r.package_hash, r.attempt, r.retry_of, r.start_ms, r.end_ms, r.result,"
	        " r.stage, r.error, r.message, r.bytes_written, r.duration_ms, r.avg_mbps,"
	        " r.payload, r.functions, r.warnings, r.slot_label, r.error_class, r.station_id,"
	        " r.kind, r.product, r.lot, r.work_order, r.operator"
	        " FROM run r JOIN station s ON s.id = r.station_id"
	        " LEFT JOIN package p ON p.manifest_hash = r.package_hash WHERE r.serial = ");
	edl_factory_sql_ref(&q, edl_factory_sql_param(&q, h->serial), "::text");
	edl_factory_sql_add(&q, " ORDER BY r.start_ms, r.station_id, r.local_id");
	rc = edl_factory_read_query(&res, db, &q, "reading the unit's runs", err);
	if (rc != EDL_OK)
		return rc;
	n = PQntuples(res);
	h->runs = edl_arena_alloc(arena, ((size_t)n + 1) * sizeof(*h->runs));
	*station_ids = calloc((size_t)n + 1, sizeof(**station_ids));
	if (h->runs == NULL || *station_ids == NULL)
		goto nomem;
	for (int i = 0; i < n; i++) {
		struct edl_store_history_run *run = &h->runs[i];
		int result;

		memset(run, 0, sizeof(*run));
		h->n_runs = (size_t)i + 1;
		run->id = edl_factory_col_i64(res, i, 0);
		COPY(run->station, res, i, 1);
		run->slot = (int)edl_factory_col_i64(res, i, 2);
		COPY(run->port, res, i, 3);
		COPY(run->package_name, res, i, 4);
		COPY(run->package_version, res, i, 5);
		COPY(run->package_hash, res, i, 6);
		run->attempt = (int)edl_factory_col_i64(res, i, 7);
		run->retry_of = edl_factory_col_i64(res, i, 8);
		run->start_ms = edl_factory_col_i64(res, i, 9);
		run->end_ms = PQgetisnull(res, i, 10) ? -1 : edl_factory_col_i64(res, i, 10);
		result = edl_store_result_parse(PQgetvalue(res, i, 11));
		run->result = result < 0 ? EDL_RESULT_RUNNING : (enum edl_store_result)result;
		COPY(run->stage, res, i, 12);
		COPY(run->error, res, i, 13);
		COPY(run->message, res, i, 14);
		run->bytes_written = (uint64_t)edl_factory_col_i64(res, i, 15);
		run->duration_ms = PQgetisnull(res, i, 16) ? -1 : edl_factory_col_i64(res, i, 16);
		run->avg_mbps =
		        PQgetisnull(res, i, 17) ? NAN : strtod(PQgetvalue(res, i, 17), NULL);
		run->payload = (uint32_t)edl_factory_col_i64(res, i, 18);
		COPY(run->functions, res, i, 19);
		COPY(run->warnings, res, i, 20);
		COPY(run->slot_label, res, i, 21);
		COPY(run->kind, res, i, 24); /* v6: issue 15 */
		COPY(run->product, res, i, 25);
		COPY(run->lot, res, i, 26); /* issue 13 */
		COPY(run->work_order, res, i, 27);
		COPY(run->operator_name, res, i, 28);
		if (run->slot_label == NULL || run->slot_label[0] == '\0')
			run->slot_label = run->port;
		if (run->slot_label == NULL || run->slot_label[0] == '\0') {
			char number[24];
			snprintf(number, sizeof(number), "#%d", run->slot);
			run->slot_label = edl_arena_strdup(arena, number);
			if (run->slot_label == NULL)
				goto nomem;
		}
		if (run->result == EDL_RESULT_FAIL || run->result == EDL_RESULT_INTERRUPTED)
			edl_store_failure_words(run->error, edl_factory_col(res, i, 22),
			                        &run->error_class, &run->action);
		(*station_ids)[i] = edl_factory_col_i64(res, i, 23);
	}
	PQclear(res);
	return EDL_OK;
nomem:
	PQclear(res);
	return edl_error_set(err, EDL_E_NOMEM, "reading the unit's runs");
}

static struct edl_store_history_run *run_of(struct edl_store_history *h, const int64_t *stations,
                                            int64_t station, int64_t local)
{
	for (size_t i = 0; i < h->n_runs; i++) {
		if (stations[i] == station && h->runs[i].id == local)
			return &h->runs[i];
	}
	return NULL;
}

/* Log lines (runs not passed) or steps (all runs) of the unit's runs, in order. */
static int read_details(struct edl_store_history *h, struct edl_arena *arena,
                        const int64_t *stations, bool steps, struct edl_factory_db *db,
                        struct edl_error *err)
{
	struct edl_factory_sql q;
	PGresult *res;
	int rc, n;
	size_t *counts = NULL;

	edl_factory_sql_init(&q);
	if (steps)
		edl_factory_sql_add(&q,
		                    "SELECT t.station_id, t.local_id, t.kind, t.label, t.lun,"
		                    " t.start_sector, t.sectors, t.bytes, t.duration_ms, t.result"
		                    " FROM run_step t JOIN run r USING (station_id, local_id)"
		                    " WHERE r.serial = ");
	else
		edl_factory_sql_add(
		        &q, "SELECT t.station_id, t.local_id, t.text FROM run_log t"
		            " JOIN run r USING (station_id, local_id) WHERE r.result <> 'pass'"
		            " AND r.serial = ");
	edl_factory_sql_ref(&q, edl_factory_sql_param(&q, h->serial), "::text");
	edl_factory_sql_add(&q, steps ? " ORDER BY 1, 2, t.idx" : " ORDER BY 1, 2, t.seq");
	rc = edl_factory_read_query(
	        &res, db, &q, steps ? "reading the runs' steps" : "reading the runs' logs", err);
	if (rc != EDL_OK)
		return rc;
	n = PQntuples(res);
	counts = calloc(h->n_runs + 1, sizeof(*counts));
	if (counts == NULL)
		goto nomem;
	/* Count per run, then place: each run's lines are contiguous (ORDER BY). */
	for (int i = 0; i < n; i++) {
		struct edl_store_history_run *run =
		        run_of(h, stations, edl_factory_col_i64(res, i, 0),
		               edl_factory_col_i64(res, i, 1));
		if (run != NULL)
			counts[run - h->runs]++;
	}
	for (size_t k = 0; k < h->n_runs; k++) {
		if (counts[k] == 0)
			continue;
		if (steps)
			h->runs[k].steps =
			        edl_arena_alloc(arena, counts[k] * sizeof(*h->runs[k].steps));
		else
			h->runs[k].log_lines =
			        edl_arena_alloc(arena, counts[k] * sizeof(*h->runs[k].log_lines));
		if (steps ? h->runs[k].steps == NULL : h->runs[k].log_lines == NULL)
			goto nomem;
	}
	for (int i = 0; i < n; i++) {
		struct edl_store_history_run *run =
		        run_of(h, stations, edl_factory_col_i64(res, i, 0),
		               edl_factory_col_i64(res, i, 1));
		if (run == NULL)
			continue;
		if (steps) {
			struct edl_store_history_step *s = &run->steps[run->n_steps++];
			memset(s, 0, sizeof(*s));
			COPY(s->kind, res, i, 2);
			COPY(s->label, res, i, 3);
			s->lun = (uint32_t)edl_factory_col_i64(res, i, 4);
			COPY(s->start_sector, res, i, 5);
			s->sectors = (uint64_t)edl_factory_col_i64(res, i, 6);
			s->bytes = (uint64_t)edl_factory_col_i64(res, i, 7);
			s->duration_ms = edl_factory_col_i64(res, i, 8);
			COPY(s->result, res, i, 9);
		} else {
			COPY(run->log_lines[run->n_log_lines], res, i, 2);
			run->n_log_lines++;
		}
	}
	free(counts);
	PQclear(res);
	return EDL_OK;
nomem:
	free(counts);
	PQclear(res);
	return edl_error_set(err, EDL_E_NOMEM, "reading the runs' details");
}

int edl_factory_history(struct edl_store_history **out, struct edl_factory_db *db,
                        const char *serial, unsigned flags, struct edl_error *err)
{
	struct edl_arena *arena = NULL;
	struct edl_store_history *h = edl_store_history_new(&arena);
	int64_t *stations = NULL;
	int rc;

	*out = NULL;
	if (h == NULL || (h->serial = edl_arena_strdup(arena, serial)) == NULL) {
		edl_store_history_free(h);
		return edl_error_set(err, EDL_E_NOMEM, "allocating the history");
	}
	rc = edl_factory_read_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
	                           "starting the history", err);
	if (rc == EDL_OK)
		rc = read_device(h, arena, db, err);
	if (rc == EDL_OK)
		rc = read_runs(h, arena, &stations, db, err);
	if (rc == EDL_OK && h->n_runs > 0)
		rc = read_details(h, arena, stations, false, db, err);
	if (rc == EDL_OK && h->n_runs > 0 && (flags & EDL_STORE_HISTORY_STEPS))
		rc = read_details(h, arena, stations, true, db, err);
	PQclear(PQexec(db->conn, "COMMIT"));
	free(stations);
	if (rc == EDL_OK && !h->have_device && h->n_runs == 0)
		rc = edl_error_set(err, EDL_E_NOENT,
		                   "no unit with this serial in the factory database");
	if (rc != EDL_OK) {
		edl_store_history_free(h);
		return rc;
	}
	*out = h;
	return EDL_OK;
}

/* ---- finding a unit ---- */

#define FIND_TEXT_MAX 128

static int found(char *serial_out, size_t len, const char *serial, struct edl_error *err)
{
	if (strlen(serial) >= len)
		return edl_error_set(err, EDL_E_RANGE, "serial longer than %zu bytes", len - 1);
	memcpy(serial_out, serial, strlen(serial) + 1);
	return EDL_OK;
}

/* The serial as stored in its three cases ($a: normalised) or as typed ($b),
 * the inside of "serial IN (...)"; both bound, never pasted. */
static void serial_choices(struct edl_factory_sql *q, int a, int b)
{
	edl_factory_sql_ref(q, a, "::text");
	edl_factory_sql_add(q, ", lower(");
	edl_factory_sql_ref(q, a, "::text");
	edl_factory_sql_add(q, "), upper(");
	edl_factory_sql_ref(q, a, "::text");
	edl_factory_sql_add(q, "), ");
	edl_factory_sql_ref(q, b, "::text");
}

int edl_factory_find_unit(char *serial_out, size_t len, struct edl_factory_db *db, const char *text,
                          struct edl_error *err)
{
	char norm[FIND_TEXT_MAX], typed[FIND_TEXT_MAX], shown[FIND_TEXT_MAX];
	char list[EDL_STORE_FIND_LISTED * (FIND_TEXT_MAX + 2)] = "";
	struct edl_factory_sql q;
	PGresult *res;
	int rc, a, b, n;

	serial_out[0] = '\0';
	if (text == NULL || edl_store_typed_serial(norm, sizeof(norm), text, true) == 0)
		return edl_error_set(err, EDL_E_INVAL, "no serial given");
	edl_store_typed_serial(typed, sizeof(typed), text, false);
	edl_store_printable(shown, sizeof(shown), typed);
	/* An exact chip serial (as stored, lower, upper) through the device key:
	 * the usual case, one index lookup. */
	edl_factory_sql_init(&q);
	a = edl_factory_sql_param(&q, norm);
	b = edl_factory_sql_param(&q, typed);
	edl_factory_sql_add(&q, "SELECT serial FROM device WHERE serial IN (");
	serial_choices(&q, a, b);
	edl_factory_sql_add(&q, ") ORDER BY serial LIMIT 1");
	rc = edl_factory_read_query(&res, db, &q, "looking the serial up", err);
	if (rc != EDL_OK)
		return rc;
	if (PQntuples(res) == 1) {
		rc = found(serial_out, len, PQgetvalue(res, 0, 0), err);
		PQclear(res);
		return rc;
	}
	PQclear(res);
	/* Else an exact USB serial, then a start of either, any case: one pass
	 * over the device table, ranked. */
	edl_factory_sql_init(&q);
	a = edl_factory_sql_param(&q, norm);
	b = edl_factory_sql_param(&q, typed);
	edl_factory_sql_add(&q, "SELECT serial, rank FROM (SELECT serial, CASE WHEN serial IN (");
	serial_choices(&q, a, b);
	edl_factory_sql_add(&q, ") THEN 0 WHEN usb_serial = ");
	edl_factory_sql_ref(&q, b, "::text");
	edl_factory_sql_add(&q, " THEN 1 ELSE 2 END AS rank FROM device WHERE serial IN (");
	serial_choices(&q, a, b);
	edl_factory_sql_add(&q, ") OR usb_serial = ");
	edl_factory_sql_ref(&q, b, "::text");
	edl_factory_sql_add(&q, " OR lower(left(serial, length(");
	edl_factory_sql_ref(&q, a, "::text");
	edl_factory_sql_add(&q, "))) = lower(");
	edl_factory_sql_ref(&q, a, "::text");
	edl_factory_sql_add(&q, ") OR lower(left(usb_serial, length(");
	edl_factory_sql_ref(&q, b, "::text");
	edl_factory_sql_add(&q, "))) = lower(");
	edl_factory_sql_ref(&q, b, "::text");
	edl_factory_sql_add(&q, ")) d ORDER BY rank, serial LIMIT 9");
	rc = edl_factory_read_query(&res, db, &q, "looking the serial up", err);
	if (rc != EDL_OK)
		return rc;
	n = PQntuples(res);
	if (n > 0 && (strcmp(PQgetvalue(res, 0, 1), "2") != 0 || n == 1) &&
	    (n == 1 || strcmp(PQgetvalue(res, 1, 1), PQgetvalue(res, 0, 1)) != 0)) {
		rc = found(serial_out, len, PQgetvalue(res, 0, 0), err);
	} else if (n > 1) {
		size_t at = 0;
		for (int i = 0; i < n && i < EDL_STORE_FIND_LISTED; i++) {
			char one[FIND_TEXT_MAX];
			edl_store_printable(one, sizeof(one), PQgetvalue(res, i, 0));
			at += (size_t)snprintf(list + at, sizeof(list) - at, "%s%s",
			                       i > 0 ? ", " : "", one);
		}
		rc = edl_error_set(
		        err, EDL_E_AGAIN,
		        "ambiguous: %s%d units start with %s: %s%s; type more of the serial",
		        n > EDL_STORE_FIND_LISTED ? "more than " : "",
		        n > EDL_STORE_FIND_LISTED ? EDL_STORE_FIND_LISTED : n, shown, list,
		        n > EDL_STORE_FIND_LISTED ? ", ..." : "");
	} else {
		rc = edl_error_set(err, EDL_E_NOENT,
		                   "no unit %s in the factory database (chip or USB serial, or its "
		                   "start)",
		                   shown);
	}
	PQclear(res);
	return rc;
}
