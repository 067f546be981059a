/*
 * The yield report over the factory database (PostgreSQL), with the same
 * definitions and the same struct as src/store/report.c, aggregated on the
 * server so only small results cross the wire. Three queries inside one
 * REPEATABLE READ READ ONLY transaction (one snapshot):
 *
 *   groups     runs per (station, slot, port, label, package, result, stage,
 *              error, class) with their bytes, durations, first start, last
 *              end and latest run: totals, slots, Pareto, packages and the
 *              window all fold from these few rows here;
 *   durations  passed runs per duration: the exact nearest-rank p50/p95;
 *   units      units per (hour, station) of their first finished run, with
 *              first-pass, passed, retested and retests; then the failed units
 *              (last run not passed), newest first, with their last run's words.
 *
 * With no filter the three read the summaries the server keeps (schema v2:
 * report_group, report_duration, report_unit_hour, report_unit); any filter
 * or bound groups the runs themselves (run_by_start, run_by_station_start,
 * run_by_serial). Either way the folding below is the same code.
 *
 * Slots are keyed by (station, slot): two stations' slot 3 are two slots,
 * tested against all the others. A unit's first and last runs are ordered by
 * (start, station id, the station's run id), as SQLite orders by (start, id).
 */
#include "edlstation/factory_report.h"
#include "read_internal.h"

#include "../store/store_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define HOUR_MS 3600000LL
#define BUCKETS_MAX 200000 /* as src/store/report.c: a window of decades is not cut up */

struct station_row {
	int64_t id;
	const char *name, *line;
	struct edl_store_station_stat *stat; /* by_station: its section, else NULL */
};

struct slot_acc {
	int64_t station_id;
	int slot;
	const char *port, *label; /* the latest run's ("" stored for NULL) */
	int64_t latest_start, latest_local;
	uint64_t passes, failures, interrupted;
};

struct package_acc {
	const char *hash; /* "" for runs with no package */
	uint64_t runs, passes, failures;
};

struct fold {
	struct edl_arena *arena;
	struct station_row *stations;
	size_t n_stations;
	struct edl_keymap slot_map, package_map;
	struct slot_acc *slots;
	size_t n_slots, cap_slots;
	struct package_acc *packages;
	size_t n_packages, cap_packages;
	struct edl_store_pareto_entry *pareto;
	size_t n_pareto, cap_pareto;
	int64_t min_start, max_end;
	bool any;
	uint64_t pass_duration_ms;
};

static double ratio(uint64_t num, uint64_t den)
{
	return den == 0 ? NAN : (double)num / den;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static void *grow(void *items, size_t *cap, size_t n, size_t size)
{
	void *more;

	if (n < *cap)
		return items;
	more = realloc(items, (*cap == 0 ? 64 : *cap * 2) * size);
	if (more != NULL)
		*cap = *cap == 0 ? 64 : *cap * 2;
	return more;
}

static struct station_row *station_of(struct fold *f, int64_t id)
{
	/* Loaded ordered by id: a binary search. */
	size_t lo = 0, hi = f->n_stations;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (f->stations[mid].id == id)
			return &f->stations[mid];
		if (f->stations[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static const char *station_name(struct fold *f, int64_t id)
{
	struct station_row *s = station_of(f, id);
	return s != NULL ? s->name : "?";
}

static int load_stations(struct fold *f, struct edl_store_report *r, struct edl_factory_db *db,
                         struct edl_error *err)
{
	struct edl_factory_sql q;
	PGresult *res;
	int rc, n;

	edl_factory_sql_init(&q);
	edl_factory_sql_add(&q, "SELECT id, name, line FROM station ORDER BY id");
	rc = edl_factory_read_query(&res, db, &q, "reading the stations", err);
	if (rc != EDL_OK)
		return rc;
	n = PQntuples(res);
	f->stations = edl_arena_alloc(f->arena, ((size_t)n + 1) * sizeof(*f->stations));
	if (r->filter.by_station)
		r->stations = edl_arena_alloc(f->arena, ((size_t)n + 1) * sizeof(*r->stations));
	if (f->stations == NULL || (r->filter.by_station && r->stations == NULL)) {
		PQclear(res);
		return edl_error_set(err, EDL_E_NOMEM, "reading the stations");
	}
	for (int i = 0; i < n; i++) {
		struct station_row *s = &f->stations[i];
		s->id = edl_factory_col_i64(res, i, 0);
		s->name = edl_arena_strdup(f->arena, edl_factory_col(res, i, 1));
		s->line = edl_arena_strdup(f->arena, edl_factory_col(res, i, 2));
		s->stat = NULL;
		if (s->name == NULL)
			s->name = "";
	}
	f->n_stations = (size_t)n;
	PQclear(res);
	return EDL_OK;
}

/* The station's section, made when it first has runs in the selection. */
static struct edl_store_station_stat *station_stat(struct fold *f, struct edl_store_report *r,
                                                   int64_t id)
{
	struct station_row *s;

	if (!r->filter.by_station || (s = station_of(f, id)) == NULL)
		return NULL;
	if (s->stat == NULL) {
		s->stat = &r->stations[r->n_stations++];
		memset(s->stat, 0, sizeof(*s->stat));
		s->stat->station = s->name;
		s->stat->line = s->line;
	}
	return s->stat;
}

static int add_slot(struct fold *f, const PGresult *res, int row, int result, uint64_t n)
{
	uint8_t key[12];
	int64_t station_id = edl_factory_col_i64(res, row, 0);
	int slot = (int)edl_factory_col_i64(res, row, 1);
	int64_t latest_start = edl_factory_col_i64(res, row, 15);
	int64_t latest_local = edl_factory_col_i64(res, row, 16);
	struct slot_acc *s;
	size_t idx;
	bool added;

	memcpy(key, &station_id, 8);
	memcpy(key + 8, &slot, 4);
	if (edl_keymap_intern(&idx, &added, &f->slot_map, key, sizeof(key)) != EDL_OK)
		return EDL_E_NOMEM;
	if (added) {
		struct slot_acc *more = grow(f->slots, &f->cap_slots, f->n_slots, sizeof(*more));
		if (more == NULL)
			return EDL_E_NOMEM;
		f->slots = more;
		s = &f->slots[f->n_slots++];
		memset(s, 0, sizeof(*s));
		s->station_id = station_id;
		s->slot = slot;
		s->latest_start = INT64_MIN;
	}
	s = &f->slots[idx];
	if (result == EDL_RESULT_PASS)
		s->passes += n;
	else if (result == EDL_RESULT_FAIL)
		s->failures += n;
	else
		s->interrupted += n;
	if (latest_start > s->latest_start ||
	    (latest_start == s->latest_start && latest_local > s->latest_local)) {
		s->latest_start = latest_start;
		s->latest_local = latest_local;
		s->port = edl_arena_strdup(f->arena, PQgetvalue(res, row, 2));
		s->label = edl_arena_strdup(f->arena, PQgetvalue(res, row, 3));
		if (s->port == NULL || s->label == NULL)
			return EDL_E_NOMEM;
	}
	return EDL_OK;
}

static int add_package(struct fold *f, const char *hash, int result, uint64_t n)
{
	struct package_acc *p;
	size_t idx;
	bool added;

	if (edl_keymap_intern(&idx, &added, &f->package_map, hash, strlen(hash)) != EDL_OK)
		return EDL_E_NOMEM;
	if (added) {
		struct package_acc *more =
		        grow(f->packages, &f->cap_packages, f->n_packages, sizeof(*more));
		if (more == NULL)
			return EDL_E_NOMEM;
		f->packages = more;
		p = &f->packages[f->n_packages++];
		memset(p, 0, sizeof(*p));
		p->hash = edl_arena_strdup(f->arena, hash);
		if (p->hash == NULL)
			return EDL_E_NOMEM;
	}
	p = &f->packages[idx];
	p->runs += n;
	if (result == EDL_RESULT_PASS)
		p->passes += n;
	else if (result == EDL_RESULT_FAIL)
		p->failures += n;
	return EDL_OK;
}

static int add_failure(struct fold *f, const PGresult *res, int row, uint64_t n)
{
	const char *stage = PQgetvalue(res, row, 6);
	const char *error = PQgetvalue(res, row, 7);
	const char *cls = PQgetvalue(res, row, 8);
	struct edl_store_pareto_entry *e, *more;
	const char *action;

	more = grow(f->pareto, &f->cap_pareto, f->n_pareto, sizeof(*more));
	if (more == NULL)
		return EDL_E_NOMEM;
	f->pareto = more;
	e = &f->pareto[f->n_pareto++];
	memset(e, 0, sizeof(*e));
	e->stage = edl_arena_strdup(f->arena, stage);
	e->error = edl_arena_strdup(f->arena, error);
	if (e->stage == NULL || e->error == NULL)
		return EDL_E_NOMEM;
	edl_store_failure_words(error[0] != '\0' ? error : NULL, cls, &e->error_class, &action);
	e->count = n;
	return EDL_OK;
}

/* The groups' query: the summary table, or the selected runs grouped alike. */
static void groups_sql(struct edl_factory_sql *q, const struct edl_store_filter *filter,
                       bool summaries)
{
	if (summaries) {
		edl_factory_sql_add(
		        q, "SELECT station_id, slot, port, slot_label, package_hash, result,"
		           " stage, error, error_class, runs, bytes_written, duration_sum,"
		           " durations, min_start, max_end, latest_start, latest_local"
		           " FROM report_group WHERE runs <> 0");
		return;
	}
	edl_factory_sql_add(q,
	                    "SELECT r.station_id, r.slot, coalesce(r.port, ''),"
	                    " coalesce(r.slot_label, ''), coalesce(r.package_hash, ''), r.result,"
	                    " coalesce(r.stage, ''), coalesce(r.error, ''),"
	                    " coalesce(r.error_class, ''), count(*),"
	                    " coalesce(sum(r.bytes_written), 0), coalesce(sum(r.duration_ms), 0),"
	                    " count(r.duration_ms), min(r.start_ms),"
	                    " max(greatest(r.start_ms, r.end_ms)),"
	                    " (max(ARRAY[r.start_ms, r.local_id]))[1],"
	                    " (max(ARRAY[r.start_ms, r.local_id]))[2]"
	                    " FROM run r WHERE true");
	edl_factory_sql_filter(q, filter);
	edl_factory_sql_add(q, " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9");
}

static int fold_groups(struct fold *f, struct edl_store_report *r, struct edl_factory_db *db,
                       bool summaries, struct edl_error *err)
{
	struct edl_factory_sql q;
	PGresult *res;
	int rc;

	edl_factory_sql_init(&q);
	groups_sql(&q, &r->filter, summaries);
	rc = edl_factory_read_query(&res, db, &q, "grouping the runs for the report", err);
	if (rc != EDL_OK)
		return rc;
	for (int i = 0; rc == EDL_OK && i < PQntuples(res); i++) {
		int result = edl_store_result_parse(PQgetvalue(res, i, 5));
		uint64_t n = (uint64_t)edl_factory_col_i64(res, i, 9);
		int64_t min_start = edl_factory_col_i64(res, i, 13);
		int64_t max_end = edl_factory_col_i64(res, i, 14);
		struct edl_store_station_stat *st =
		        station_stat(f, r, edl_factory_col_i64(res, i, 0));

		r->runs += n;
		if (!f->any || min_start < f->min_start)
			f->min_start = min_start;
		if (!f->any || max_end > f->max_end)
			f->max_end = max_end;
		f->any = true;
		if (st != NULL)
			st->runs += n;
		rc = add_package(f, PQgetvalue(res, i, 4), result, n);
		if (rc != EDL_OK)
			break;
		switch (result) {
		case EDL_RESULT_PASS:
			r->passed_runs += n;
			r->bytes_written += (uint64_t)edl_factory_col_i64(res, i, 10);
			f->pass_duration_ms += (uint64_t)edl_factory_col_i64(res, i, 11);
			if (st != NULL)
				st->passed_runs += n;
			break;
		case EDL_RESULT_FAIL:
			r->failed_runs += n;
			if (st != NULL)
				st->failed_runs += n;
			break;
		case EDL_RESULT_INTERRUPTED:
			r->interrupted_runs += n;
			if (st != NULL)
				st->interrupted_runs += n;
			break;
		default:
			r->running += n;
			continue;
		}
		rc = add_slot(f, res, i, result, n);
		if (rc == EDL_OK && result != EDL_RESULT_PASS)
			rc = add_failure(f, res, i, n);
	}
	PQclear(res);
	if (rc != EDL_OK)
		return edl_error_set(err, rc, "summing the report's groups");
	return EDL_OK;
}

/* Nearest rank over (duration, count) rows in ascending order, as edl_store_percentile. */
static int64_t percentile(const PGresult *res, uint64_t total, unsigned pct)
{
	uint64_t rank, seen = 0;

	if (total == 0)
		return -1;
	rank = (uint64_t)ceil((double)pct / 100.0 * (double)total);
	if (rank == 0)
		rank = 1;
	for (int i = 0; i < PQntuples(res); i++) {
		seen += (uint64_t)edl_factory_col_i64(res, i, 1);
		if (seen >= rank)
			return edl_factory_col_i64(res, i, 0);
	}
	return edl_factory_col_i64(res, PQntuples(res) - 1, 0);
}

static int fold_durations(struct fold *f, struct edl_store_report *r, struct edl_factory_db *db,
                          bool summaries, struct edl_error *err)
{
	struct edl_factory_sql q;
	PGresult *res;
	uint64_t total = 0;
	int rc;

	edl_factory_sql_init(&q);
	if (summaries) {
		edl_factory_sql_add(&q, "SELECT duration_ms, passes FROM report_duration"
		                        " WHERE passes > 0 ORDER BY 1");
	} else {
		edl_factory_sql_add(&q, "SELECT r.duration_ms, count(*) FROM run r"
		                        " WHERE r.result = 'pass' AND r.duration_ms IS NOT NULL");
		edl_factory_sql_filter(&q, &r->filter);
		edl_factory_sql_add(&q, " GROUP BY 1 ORDER BY 1");
	}
	rc = edl_factory_read_query(&res, db, &q, "reading the flashing times", err);
	if (rc != EDL_OK)
		return rc;
	for (int i = 0; i < PQntuples(res); i++)
		total += (uint64_t)edl_factory_col_i64(res, i, 1);
	r->duration_p50_ms = percentile(res, total, 50);
	r->duration_p95_ms = percentile(res, total, 95);
	PQclear(res);
	r->throughput_mbps =
	        f->pass_duration_ms == 0
	                ? NAN
	                : (double)r->bytes_written / 1e6 / ((double)f->pass_duration_ms / 1000.0);
	return EDL_OK;
}

static void finish_window(struct fold *f, struct edl_store_report *r)
{
	if (!f->any)
		f->min_start = f->max_end =
		        r->filter.since_ms != INT64_MIN ? r->filter.since_ms : 0;
	r->window_start_ms = r->filter.since_ms != INT64_MIN ? r->filter.since_ms : f->min_start;
	r->window_end_ms = r->filter.until_ms != INT64_MAX ? r->filter.until_ms : f->max_end;
	if (r->window_end_ms < r->window_start_ms)
		r->window_end_ms = r->window_start_ms;
}

/* Units per (hour, station) (kind 0) then the failed units, newest first (kind 1):
 *   0: kind, hour, station, units, first_pass, passed, retested, retests
 *   1: kind, last start, station, local id, result code, -, -, -, slot, serial,
 *      port, label, stage, error, class, message */
static void units_sql(struct edl_factory_sql *q, const struct edl_store_filter *filter,
                      bool summaries)
{
	int limit;

	if (summaries) {
		/* report_unit keeps the words of a failed unit's last run. */
		edl_factory_sql_add(
		        q, "(SELECT 0, hour_ms, station_id, units, first_pass_units,"
		           " passed_units, retested_units, retests, NULL::bigint, NULL::text,"
		           " NULL::text, NULL::text, NULL::text, NULL::text, NULL::text,"
		           " NULL::text FROM report_unit_hour WHERE units <> 0)"
		           " UNION ALL (SELECT 1, last_start, last_station, last_local,"
		           " last_result, 0, 0, 0, last_slot, serial, last_port, last_label,"
		           " last_stage, last_error, last_class, last_message"
		           " FROM report_unit WHERE last_result <> 1"
		           " ORDER BY last_start DESC, last_station DESC, last_local DESC"
		           " LIMIT ");
		limit = filter->failed_max > 0
		                ? edl_factory_sql_param_i64(q, (int64_t)filter->failed_max)
		                : edl_factory_sql_param(q, NULL);
		edl_factory_sql_ref(q, limit, "::bigint");
		edl_factory_sql_add(q, ")");
		return;
	}
	/* From the runs, the failed units' words: one lookup by key per listed
	 * unit (LATERAL, kept a nested loop by its LIMIT 1), after the LIMIT,
	 * never a join over all runs. */

	edl_factory_sql_add(q, "WITH u AS MATERIALIZED (SELECT r.serial, count(*) AS n,"
	                       " min(ARRAY[r.start_ms, r.station_id, r.local_id, CASE r.result"
	                       " WHEN 'pass' THEN 1 WHEN 'fail' THEN 2 ELSE 3 END]) AS f,"
	                       " max(ARRAY[r.start_ms, r.station_id, r.local_id, CASE r.result"
	                       " WHEN 'pass' THEN 1 WHEN 'fail' THEN 2 ELSE 3 END]) AS l"
	                       " FROM run r WHERE r.serial IS NOT NULL");
	edl_factory_sql_filter(q, filter);
	edl_factory_sql_add(q, " GROUP BY r.serial)"
	                       " (SELECT 0, f[1] - ((f[1] % 3600000) + 3600000) % 3600000, f[2],"
	                       " count(*), count(*) FILTER (WHERE f[4] = 1),"
	                       " count(*) FILTER (WHERE l[4] = 1), count(*) FILTER (WHERE n > 1),"
	                       " sum(n - 1)::bigint, NULL::bigint, NULL::text, NULL::text,"
	                       " NULL::text, NULL::text, NULL::text, NULL::text, NULL::text"
	                       " FROM u GROUP BY 2, 3)"
	                       " UNION ALL (SELECT 1, u.last_start, u.last_station, u.last_local,"
	                       " u.last_result, 0, 0, 0, r.slot, u.serial, r.port, r.slot_label,"
	                       " r.stage, r.error, r.error_class, r.message FROM (SELECT serial,"
	                       " l[1] AS last_start, l[2] AS last_station, l[3] AS last_local,"
	                       " l[4] AS last_result FROM u WHERE l[4] <> 1 ORDER BY l DESC"
	                       " LIMIT ");
	limit = filter->failed_max > 0 ? edl_factory_sql_param_i64(q, (int64_t)filter->failed_max)
	                               : edl_factory_sql_param(q, NULL);
	edl_factory_sql_ref(q, limit, "::bigint");
	edl_factory_sql_add(q,
	                    ") u CROSS JOIN LATERAL (SELECT slot, port, slot_label, stage, error,"
	                    " error_class, message FROM run WHERE station_id = u.last_station"
	                    " AND local_id = u.last_local LIMIT 1) r"
	                    " ORDER BY u.last_start DESC, u.last_station DESC, u.last_local DESC)");
}

static int add_failed(struct fold *f, struct edl_store_report *r, const PGresult *res, int i)
{
	struct edl_store_failed_unit *u = &r->failed[r->n_failed];
	const char *label = edl_factory_col(res, i, 11);
	const char *port = edl_factory_col(res, i, 10);

	memset(u, 0, sizeof(*u));
	u->start_ms = edl_factory_col_i64(res, i, 1);
	u->station = station_name(f, edl_factory_col_i64(res, i, 2));
	u->run_id = edl_factory_col_i64(res, i, 3);
	u->result = edl_factory_col_i64(res, i, 4) == EDL_RESULT_FAIL ? "fail" : "interrupted";
	u->serial = edl_arena_strdup(f->arena, edl_factory_col(res, i, 9));
	if (label == NULL || label[0] == '\0')
		label = port;
	if (label == NULL || label[0] == '\0') {
		char number[24];
		snprintf(number, sizeof(number), "#%d", (int)edl_factory_col_i64(res, i, 8));
		u->slot_label = edl_arena_strdup(f->arena, number);
	} else {
		u->slot_label = edl_arena_strdup(f->arena, label);
	}
	u->stage = edl_arena_strdup(f->arena, edl_factory_col(res, i, 12));
	u->error = edl_arena_strdup(f->arena, edl_factory_col(res, i, 13));
	edl_store_failure_words(u->error, edl_factory_col(res, i, 14), &u->error_class, &u->action);
	u->message = edl_arena_strdup(f->arena, edl_factory_col(res, i, 15));
	if (u->serial == NULL || u->slot_label == NULL ||
	    (u->stage == NULL && !PQgetisnull(res, i, 12)) ||
	    (u->error == NULL && !PQgetisnull(res, i, 13)) ||
	    (u->message == NULL && !PQgetisnull(res, i, 15)))
		return EDL_E_NOMEM;
	r->n_failed++;
	return EDL_OK;
}

static int fold_units(struct fold *f, struct edl_store_report *r, struct edl_factory_db *db,
                      bool summaries, struct edl_error *err)
{
	int64_t width = r->filter.bucket == EDL_STORE_BUCKET_SHIFT ? 8 * HOUR_MS : HOUR_MS;
	int64_t offset = r->filter.bucket == EDL_STORE_BUCKET_SHIFT ? 6 * HOUR_MS : 0;
	int64_t first = 0;
	uint64_t n_buckets = 0;
	struct edl_factory_sql q;
	PGresult *res;
	int rc, n;

	edl_factory_sql_init(&q);
	units_sql(&q, &r->filter, summaries);
	rc = edl_factory_read_query(&res, db, &q, "counting the units for the report", err);
	if (rc != EDL_OK)
		return rc;
	n = PQntuples(res);
	r->failed = edl_arena_alloc(f->arena, ((size_t)n + 1) * sizeof(*r->failed));
	if (r->failed == NULL) {
		PQclear(res);
		return edl_error_set(err, EDL_E_NOMEM, "listing failed units");
	}
	/* The totals first: the buckets need to know whether there are units. */
	for (int i = 0; i < n; i++) {
		struct edl_store_station_stat *st;
		if (edl_factory_col_i64(res, i, 0) != 0)
			continue;
		r->units += (uint64_t)edl_factory_col_i64(res, i, 3);
		r->first_pass_units += (uint64_t)edl_factory_col_i64(res, i, 4);
		r->passed_units += (uint64_t)edl_factory_col_i64(res, i, 5);
		r->retested_units += (uint64_t)edl_factory_col_i64(res, i, 6);
		r->retests += (uint64_t)edl_factory_col_i64(res, i, 7);
		st = station_stat(f, r, edl_factory_col_i64(res, i, 2));
		if (st != NULL) {
			st->units += (uint64_t)edl_factory_col_i64(res, i, 3);
			st->first_pass_units += (uint64_t)edl_factory_col_i64(res, i, 4);
			st->passed_units += (uint64_t)edl_factory_col_i64(res, i, 5);
		}
	}
	r->failed_units = r->units - r->passed_units;
	r->first_pass_yield = ratio(r->first_pass_units, r->units);
	r->final_yield = ratio(r->passed_units, r->units);
	if (r->window_end_ms > r->window_start_ms) {
		double hours = (double)(r->window_end_ms - r->window_start_ms) / 3600000.0;
		r->units_per_hour = (double)r->units / hours;
		r->good_units_per_hour = (double)r->passed_units / hours;
	} else {
		r->units_per_hour = r->good_units_per_hour = NAN;
	}
	if (f->any && r->units > 0) {
		int64_t lo = f->min_start > r->window_start_ms ? f->min_start : r->window_start_ms;
		int64_t hi = f->max_end < r->window_end_ms ? f->max_end : r->window_end_ms;
		if (hi < lo)
			hi = lo;
		first = floor_div(lo - offset, width) * width + offset;
		n_buckets = (uint64_t)((hi - first) / width) + 1;
		if (n_buckets > BUCKETS_MAX)
			n_buckets = 0;
	}
	if (n_buckets > 0) {
		r->buckets = edl_arena_alloc(f->arena, n_buckets * sizeof(*r->buckets));
		if (r->buckets == NULL) {
			PQclear(res);
			return edl_error_set(err, EDL_E_NOMEM, "cutting the window into buckets");
		}
		memset(r->buckets, 0, n_buckets * sizeof(*r->buckets));
		r->n_buckets = (size_t)n_buckets;
	}
	for (int i = 0; i < n; i++) {
		if (edl_factory_col_i64(res, i, 0) == 1) {
			if (add_failed(f, r, res, i) != EDL_OK) {
				PQclear(res);
				return edl_error_set(err, EDL_E_NOMEM, "listing failed units");
			}
		} else if (n_buckets > 0) {
			int64_t k = floor_div(edl_factory_col_i64(res, i, 1) - first, width);
			struct edl_store_bucket_stat *b;
			if (k < 0)
				k = 0;
			if ((uint64_t)k >= n_buckets)
				k = (int64_t)n_buckets - 1;
			b = &r->buckets[k];
			b->units += (uint64_t)edl_factory_col_i64(res, i, 3);
			b->first_pass_units += (uint64_t)edl_factory_col_i64(res, i, 4);
			b->passed_units += (uint64_t)edl_factory_col_i64(res, i, 5);
		}
	}
	PQclear(res);
	edl_store_buckets_finish(r, first, width);
	return EDL_OK;
}

static int cmp_slot(const void *a, const void *b)
{
	const struct edl_store_slot_stat *x = a, *y = b;
	int c = strcmp(x->station, y->station);
	return c != 0 ? c : (x->slot > y->slot) - (x->slot < y->slot);
}

/* The slot test as src/store/report.c: each (station, slot) against all others. */
static int finish_slots(struct fold *f, struct edl_store_report *r)
{
	uint64_t all_fail = 0, all_pass = 0;

	r->slots = edl_arena_alloc(f->arena, (f->n_slots + 1) * sizeof(*r->slots));
	if (r->slots == NULL)
		return EDL_E_NOMEM;
	memset(r->slots, 0, (f->n_slots + 1) * sizeof(*r->slots));
	r->n_slots = f->n_slots;
	for (size_t i = 0; i < f->n_slots; i++) {
		all_fail += f->slots[i].failures;
		all_pass += f->slots[i].passes;
	}
	for (size_t i = 0; i < f->n_slots; i++) {
		const struct slot_acc *a = &f->slots[i];
		struct edl_store_slot_stat *s = &r->slots[i];
		uint64_t decided = a->passes + a->failures;
		uint64_t others = all_fail + all_pass - decided;

		s->station = station_name(f, a->station_id);
		s->slot = a->slot;
		s->port = a->port[0] != '\0' ? a->port : NULL;
		s->label = a->label[0] != '\0' ? a->label : s->port;
		if (s->label == NULL) {
			char number[24];
			snprintf(number, sizeof(number), "#%d", a->slot);
			s->label = edl_arena_strdup(f->arena, number);
			if (s->label == NULL)
				return EDL_E_NOMEM;
		}
		s->passes = a->passes;
		s->failures = a->failures;
		s->interrupted = a->interrupted;
		s->runs = decided + a->interrupted;
		s->failure_rate = ratio(a->failures, decided);
		s->p_value = NAN;
		if (decided >= EDL_STORE_SLOT_MIN_RUNS && others > 0) {
			s->p_value = edl_store_fisher_greater(a->failures, a->passes,
			                                      all_fail - a->failures,
			                                      all_pass - a->passes);
			r->slots_tested++;
		}
	}
	r->slot_threshold = EDL_STORE_SLOT_ALPHA / (r->slots_tested > 0 ? r->slots_tested : 1);
	for (size_t i = 0; i < r->n_slots; i++) {
		struct edl_store_slot_stat *s = &r->slots[i];
		uint64_t of = all_fail - s->failures, op = all_pass - s->passes;
		if (!isnan(s->p_value) && s->p_value < r->slot_threshold &&
		    s->failure_rate > ratio(of, of + op)) {
			s->flagged = true;
			if (r->filter.by_station) {
				struct station_row *st = station_of(f, f->slots[i].station_id);
				if (st != NULL && st->stat != NULL)
					st->stat->flagged_slots++;
			}
		}
	}
	qsort(r->slots, r->n_slots, sizeof(*r->slots), cmp_slot);
	return EDL_OK;
}

static int finish_pareto(struct fold *f, struct edl_store_report *r)
{
	uint64_t total = 0;

	r->pareto = edl_arena_alloc(f->arena, (f->n_pareto + 1) * sizeof(*r->pareto));
	if (r->pareto == NULL)
		return EDL_E_NOMEM;
	if (f->n_pareto > 0)
		memcpy(r->pareto, f->pareto, f->n_pareto * sizeof(*r->pareto));
	for (size_t i = 0; i < f->n_pareto; i++)
		total += f->pareto[i].count;
	/* Groups differ by slot and package too: merge rows of the same words. */
	r->n_pareto = f->n_pareto;
	edl_store_pareto_finish(r, total);
	return EDL_OK;
}

static int cmp_package(const void *a, const void *b)
{
	const struct edl_store_package_stat *x = a, *y = b;

	if (x->runs != y->runs)
		return x->runs < y->runs ? 1 : -1;
	return strcmp(x->manifest_hash != NULL ? x->manifest_hash : "",
	              y->manifest_hash != NULL ? y->manifest_hash : "");
}

static int finish_packages(struct fold *f, struct edl_store_report *r, struct edl_factory_db *db,
                           struct edl_error *err)
{
	struct edl_factory_sql q;
	PGresult *res;
	int rc;

	r->packages = edl_arena_alloc(f->arena, (f->n_packages + 1) * sizeof(*r->packages));
	if (r->packages == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "listing packages");
	edl_factory_sql_init(&q);
	edl_factory_sql_add(&q, "SELECT manifest_hash, name, version FROM package");
	rc = edl_factory_read_query(&res, db, &q, "reading the packages", err);
	if (rc != EDL_OK)
		return rc;
	for (size_t i = 0; i < f->n_packages; i++) {
		struct edl_store_package_stat *p = &r->packages[r->n_packages++];
		memset(p, 0, sizeof(*p));
		p->runs = f->packages[i].runs;
		p->passes = f->packages[i].passes;
		p->failures = f->packages[i].failures;
		if (f->packages[i].hash[0] == '\0')
			continue;
		p->manifest_hash = f->packages[i].hash;
		for (int k = 0; k < PQntuples(res); k++) {
			if (strcmp(PQgetvalue(res, k, 0), p->manifest_hash) != 0)
				continue;
			p->name = edl_arena_strdup(f->arena, edl_factory_col(res, k, 1));
			p->version = edl_arena_strdup(f->arena, edl_factory_col(res, k, 2));
			break;
		}
	}
	PQclear(res);
	qsort(r->packages, r->n_packages, sizeof(*r->packages), cmp_package);
	return EDL_OK;
}

static int cmp_product(const void *a, const void *b)
{
	const struct edl_store_product_stat *x = a, *y = b;

	if (x->units != y->units)
		return x->units < y->units ? 1 : -1;
	if ((x->product == NULL) != (y->product == NULL))
		return x->product == NULL ? 1 : -1;
	return x->product ? strcmp(x->product, y->product) : 0;
}

/* issue 15: units by the product of their last run, as src/store/report.c
 * counts them; only when some run of the selection has a product. The
 * unfiltered factory pays one index probe (run_with_product, v3) when no
 * run has one. */
static int fold_products(struct fold *f, struct edl_store_report *r, struct edl_factory_db *db,
                         struct edl_error *err)
{
	struct edl_factory_sql q;
	PGresult *res;
	int rc, n;

	edl_factory_sql_init(&q);
	edl_factory_sql_add(&q, "WITH sel AS (SELECT r.serial, nullif(r.product, '') AS product, "
	                        "r.result, r.start_ms,"
	                        " r.station_id, r.local_id FROM run r WHERE true");
	edl_factory_sql_filter(&q, &r->filter);
	edl_factory_sql_add(
	        &q,
	        "), byrun AS (SELECT product, count(*) AS runs,"
	        " count(*) FILTER (WHERE result = 'pass') AS passes,"
	        " count(*) FILTER (WHERE result = 'fail') AS failures FROM sel GROUP BY product),"
	        " unit AS (SELECT (array_agg(product ORDER BY start_ms DESC, station_id DESC,"
	        "  local_id DESC))[1] AS product,"
	        "  (array_agg(result ORDER BY start_ms DESC, station_id DESC, local_id DESC))[1]"
	        "  AS last_result,"
	        "  (array_agg(result ORDER BY start_ms, station_id, local_id))[1] AS first_result"
	        "  FROM sel WHERE serial IS NOT NULL GROUP BY serial),"
	        " byunit AS (SELECT product, count(*) AS units,"
	        "  count(*) FILTER (WHERE last_result = 'pass') AS passed,"
	        "  count(*) FILTER (WHERE first_result = 'pass') AS first_pass FROM unit"
	        "  GROUP BY product)"
	        " SELECT coalesce(b.product, u.product), coalesce(b.runs, 0),"
	        " coalesce(b.passes, 0), coalesce(b.failures, 0), coalesce(u.units, 0),"
	        " coalesce(u.passed, 0), coalesce(u.first_pass, 0)"
	        " FROM byrun b FULL JOIN byunit u ON coalesce(b.product, '') = coalesce(u.product, "
	        "'')"
	        " WHERE EXISTS (SELECT 1 FROM run WHERE product IS NOT NULL)"
	        "  AND EXISTS (SELECT 1 FROM sel WHERE product IS NOT NULL)");
	rc = edl_factory_read_query(&res, db, &q, "counting units by product", err);
	if (rc != EDL_OK)
		return rc;
	n = PQntuples(res);
	r->products = edl_arena_alloc(f->arena, ((size_t)n + 1) * sizeof(*r->products));
	if (r->products == NULL) {
		PQclear(res);
		return edl_error_set(err, EDL_E_NOMEM, "counting units by product");
	}
	for (int i = 0; i < n; i++) {
		struct edl_store_product_stat *p = &r->products[r->n_products++];
		const char *name = edl_factory_col(res, i, 0);

		memset(p, 0, sizeof(*p));
		p->product = name != NULL ? edl_arena_strdup(f->arena, name) : NULL;
		p->runs = (uint64_t)edl_factory_col_i64(res, i, 1);
		p->passes = (uint64_t)edl_factory_col_i64(res, i, 2);
		p->failures = (uint64_t)edl_factory_col_i64(res, i, 3);
		p->units = (uint64_t)edl_factory_col_i64(res, i, 4);
		p->passed_units = (uint64_t)edl_factory_col_i64(res, i, 5);
		p->first_pass_units = (uint64_t)edl_factory_col_i64(res, i, 6);
		p->failed_units = p->units - p->passed_units;
		p->first_pass_yield = ratio(p->first_pass_units, p->units);
		p->final_yield = ratio(p->passed_units, p->units);
	}
	PQclear(res);
	qsort(r->products, r->n_products, sizeof(*r->products), cmp_product);
	return EDL_OK;
}

static int cmp_station(const void *a, const void *b)
{
	const struct edl_store_station_stat *x = a, *y = b;
	return strcmp(x->station, y->station);
}

static void finish_stations(struct edl_store_report *r)
{
	for (size_t i = 0; i < r->n_stations; i++) {
		struct edl_store_station_stat *s = &r->stations[i];
		s->first_pass_yield = ratio(s->first_pass_units, s->units);
		s->final_yield = ratio(s->passed_units, s->units);
	}
	if (r->n_stations > 0)
		qsort(r->stations, r->n_stations, sizeof(*r->stations), cmp_station);
}

static int copy_filter(struct edl_store_report *r, struct edl_arena *arena,
                       const struct edl_store_filter *filter)
{
	r->filter = *filter;
	r->filter.station = edl_arena_strdup(arena, filter->station);
	r->filter.package = edl_arena_strdup(arena, filter->package);
	r->filter.slot = edl_arena_strdup(arena, filter->slot);
	r->filter.serial = edl_arena_strdup(arena, filter->serial);
	r->filter.line = edl_arena_strdup(arena, filter->line);
	if ((filter->station != NULL && r->filter.station == NULL) ||
	    (filter->package != NULL && r->filter.package == NULL) ||
	    (filter->slot != NULL && r->filter.slot == NULL) ||
	    (filter->serial != NULL && r->filter.serial == NULL) ||
	    (filter->line != NULL && r->filter.line == NULL))
		return EDL_E_NOMEM;
	return EDL_OK;
}

int edl_factory_report(struct edl_store_report **out, struct edl_factory_db *db,
                       const struct edl_store_filter *filter, struct edl_error *err)
{
	struct edl_arena *arena = NULL;
	struct edl_store_report *r = edl_store_report_new(&arena);
	struct fold f = {0};
	bool summaries = edl_factory_filter_is_all(filter);
	int rc;

	*out = NULL;
	if (r == NULL || copy_filter(r, arena, filter) != EDL_OK) {
		edl_store_report_free(r);
		return edl_error_set(err, EDL_E_NOMEM, "allocating the report");
	}
	f.arena = arena;
	edl_keymap_init(&f.slot_map);
	edl_keymap_init(&f.package_map);
	rc = edl_factory_read_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
	                           "starting the report", err);
	if (rc == EDL_OK)
		rc = load_stations(&f, r, db, err);
	if (rc == EDL_OK)
		rc = fold_groups(&f, r, db, summaries, err);
	if (rc == EDL_OK)
		rc = fold_durations(&f, r, db, summaries, err);
	if (rc == EDL_OK) {
		finish_window(&f, r);
		rc = fold_units(&f, r, db, summaries, err);
	}
	if (rc == EDL_OK)
		rc = finish_packages(&f, r, db, err);
	if (rc == EDL_OK)
		rc = fold_products(&f, r, db, err);
	PQclear(PQexec(db->conn, "COMMIT"));
	if (rc == EDL_OK && (finish_slots(&f, r) != EDL_OK || finish_pareto(&f, r) != EDL_OK))
		rc = edl_error_set(err, EDL_E_NOMEM, "summarising the report");
	if (rc == EDL_OK)
		finish_stations(r);
	edl_keymap_free(&f.slot_map);
	edl_keymap_free(&f.package_map);
	free(f.slots);
	free(f.packages);
	free(f.pareto);
	if (rc != EDL_OK) {
		edl_store_report_free(r);
		return rc;
	}
	*out = r;
	return EDL_OK;
}
