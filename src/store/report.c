/*
 * The yield report: one pass over the selected runs, inside one read
 * transaction so every figure comes from the same snapshot while a station
 * keeps writing.
 *
 * SQLite selects the rows (bounds, station, package); the aggregation is done
 * here, because the per-unit figures need each unit's first and last finished
 * run, and a hash map over the rows in table order beats sorting a million runs
 * by serial. The same pass collects the per-slot counts, the failure Pareto and
 * the durations of passed runs for the percentiles; the slot flag is computed
 * at the end from the slot totals.
 *
 * After the pass: the failed units' words (one lookup by run id per listed
 * unit), the packages' names, and the hour or shift buckets, from the per-unit
 * figures already gathered.
 *
 * Definitions (also in the README): runs whose unit never identified itself
 * (no serial) count in runs, slots and the Pareto but not in units. A unit's
 * first and last runs are its earliest and latest finished runs in the
 * selection; interrupted runs count as not passed.
 */
#include "store_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct unit_agg {
	int64_t first_start, first_id;
	int64_t last_start, last_id;
	uint32_t runs;
	uint32_t last_product; /* issue 15: index into products of the last run's */
	uint8_t first_result, last_result;
};

/* issue 15: one product (run.product) of the selection; index 0 is "none". */
struct product_agg {
	const char *product;
	uint64_t runs, passes, failures;
};

struct slot_agg {
	int64_t station_id;
	int slot;
	const char *port;
	const char *label; /* the latest run's slot label; NULL: none */
	int64_t port_start;
	uint64_t passes, failures, interrupted;
};

struct pareto_agg {
	const char *stage;
	const char *error;
	const char *error_class; /* static */
	uint64_t count;
};

struct package_agg {
	int64_t package_id; /* 0: runs with no package */
	uint64_t runs, passes, failures;
};

/* A growable array of fixed-size items. */
struct vec {
	void *items;
	size_t n, cap, size;
};

static void *vec_push(struct vec *v)
{
	if (v->n == v->cap) {
		size_t cap = v->cap == 0 ? 64 : v->cap * 2;
		void *items = realloc(v->items, cap * v->size);
		if (items == NULL)
			return NULL;
		v->items = items;
		v->cap = cap;
	}
	return (char *)memset((char *)v->items + v->n++ * v->size, 0, v->size);
}

struct report_owner {
	struct edl_store_report pub;
	struct edl_arena arena;
};

struct station_name {
	int64_t id;
	const char *name;
};

struct scan {
	struct edl_arena *arena;
	struct edl_keymap units_map, slots_map, pareto_map;
	struct vec units, slots, pareto, durations, stations, packages;
	struct edl_keymap products_map; /* issue 15 */
	struct vec products;
	bool any_product;
	size_t last_package; /* index of the last package seen: runs come in runs of one */
	int64_t min_start, max_end;
	uint64_t pass_duration_ms;
	bool any;
};

static const char *station_name_of(const struct scan *sc, int64_t id)
{
	const struct station_name *names = sc->stations.items;

	for (size_t i = 0; i < sc->stations.n; i++) {
		if (names[i].id == id)
			return names[i].name;
	}
	return "?";
}

static int load_station_names(struct scan *sc, sqlite3 *db, struct edl_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT id, name FROM station", -1, &st, NULL);

	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct station_name *s = vec_push(&sc->stations);
		if (s == NULL) {
			sqlite3_finalize(st);
			return edl_error_set(err, EDL_E_NOMEM, "loading station names");
		}
		s->id = sqlite3_column_int64(st, 0);
		s->name = edl_arena_strdup(sc->arena, (const char *)sqlite3_column_text(st, 1));
		if (s->name == NULL)
			s->name = "";
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return edl_store_sqlite_error(err, db, rc, "loading station names");
	return EDL_OK;
}

/* The selection. Fixed fragments only: the filter values are bound. */
static int prepare_selection(sqlite3_stmt **out, sqlite3 *db, const struct edl_store_filter *f,
                             struct edl_error *err)
{
	char sql[2048];
	bool bounded = f->since_ms != INT64_MIN || f->until_ms != INT64_MAX;
	int rc;

	snprintf(sql, sizeof(sql),
	         /* ifnull(): one column call per value where NULL has a stand-in. */
	         "SELECT serial, station_id, slot, port, start_ms, ifnull(end_ms, -1), result,"
	         " stage, error, bytes_written, ifnull(duration_ms, -1), id, slot_label,"
	         " error_class, ifnull(package_id, 0), product"
	         /* Flashing runs only: a memory dump, a backup or a restore
	          * (issue 15) is not a flash outcome and must not move the
	          * yield; `history` shows those runs. */
	         " FROM run WHERE kind = 'flash' AND %s%s%s%s%s%s%s%s%s",
	         bounded ? "start_ms >= ?1 AND start_ms < ?2" : "1",
	         f->station != NULL ? " AND station_id IN (SELECT id FROM station WHERE name = ?3)"
	                            : "",
	         f->package != NULL
	                 ? " AND package_id IN (SELECT id FROM package WHERE name = ?4 COLLATE "
	                   "NOCASE"
	                   " OR version = ?4 OR path = ?4"
	                   " OR (name || '-' || version) = ?4 COLLATE NOCASE"
	                   " OR (name || ' ' || version) = ?4 COLLATE NOCASE"
	                   " OR (length(?4) >= 6"
	                   "     AND substr(manifest_hash, 1, length(?4)) IN (?4, lower(?4))))"
	                 : "",
	         f->slot != NULL ? " AND (slot_label = ?5 COLLATE NOCASE OR port = ?5)" : "",
	         f->serial != NULL ? " AND serial = ?6" : "",
	         f->product != NULL ? " AND product = ?7 COLLATE NOCASE" : "",
	         /* issue 13: the MES's per-unit data, as recorded */
	         f->lot != NULL ? " AND lot = ?10" : "",
	         f->work_order != NULL ? " AND work_order = ?11" : "",
	         f->operator_name != NULL ? " AND operator = ?12" : "");
	rc = sqlite3_prepare_v2(db, sql, -1, out, NULL);
	if (rc != SQLITE_OK)
		return edl_store_sqlite_error(err, db, rc, "preparing the report query");
	if (bounded) {
		sqlite3_bind_int64(*out, 1, f->since_ms);
		sqlite3_bind_int64(*out, 2, f->until_ms);
	}
	if (f->station != NULL)
		edl_store_bind_text(*out, 3, f->station);
	if (f->package != NULL)
		edl_store_bind_text(*out, 4, f->package);
	if (f->slot != NULL)
		edl_store_bind_text(*out, 5, f->slot);
	if (f->serial != NULL)
		edl_store_bind_text(*out, 6, f->serial);
	if (f->product != NULL)
		edl_store_bind_text(*out, 7, f->product);
	if (f->lot != NULL)
		edl_store_bind_text(*out, 10, f->lot);
	if (f->work_order != NULL)
		edl_store_bind_text(*out, 11, f->work_order);
	if (f->operator_name != NULL)
		edl_store_bind_text(*out, 12, f->operator_name);
	return EDL_OK;
}

/* issue 15: the row's product, interned; index 0 stands for "none". */
static int product_index(struct scan *sc, sqlite3_stmt *st, uint32_t *out)
{
	const char *product = (const char *)sqlite3_column_text(st, 15);
	size_t idx;
	bool added;

	if (sc->products.n == 0 && vec_push(&sc->products) == NULL) /* "none" */
		return EDL_E_NOMEM;
	if (product == NULL || product[0] == '\0') {
		*out = 0;
		return EDL_OK;
	}
	sc->any_product = true;
	if (edl_keymap_intern(&idx, &added, &sc->products_map, product, strlen(product)) != EDL_OK)
		return EDL_E_NOMEM;
	if (added) {
		struct product_agg *p = vec_push(&sc->products);
		if (p == NULL)
			return EDL_E_NOMEM;
		p->product = edl_arena_strdup(sc->arena, product);
		if (p->product == NULL)
			return EDL_E_NOMEM;
	}
	*out = (uint32_t)idx + 1;
	return EDL_OK;
}

static int add_unit(struct scan *sc, sqlite3_stmt *st, int result, int64_t start, int64_t id,
                    uint32_t product)
{
	const void *serial = sqlite3_column_blob(st, 0);
	size_t len = (size_t)sqlite3_column_bytes(st, 0);
	struct unit_agg *u;
	size_t idx;
	bool added;

	if (edl_keymap_intern(&idx, &added, &sc->units_map, serial != NULL ? serial : "", len) !=
	    EDL_OK)
		return EDL_E_NOMEM;
	if (added) {
		u = vec_push(&sc->units);
		if (u == NULL)
			return EDL_E_NOMEM;
		u->first_start = u->last_start = start;
		u->first_id = u->last_id = id;
		u->first_result = u->last_result = (uint8_t)result;
		u->last_product = product;
		u->runs = 1;
		return EDL_OK;
	}
	u = (struct unit_agg *)sc->units.items + idx;
	u->runs++;
	if (start < u->first_start || (start == u->first_start && id < u->first_id)) {
		u->first_start = start;
		u->first_id = id;
		u->first_result = (uint8_t)result;
	}
	if (start > u->last_start || (start == u->last_start && id > u->last_id)) {
		u->last_start = start;
		u->last_id = id;
		u->last_result = (uint8_t)result;
		u->last_product = product;
	}
	return EDL_OK;
}

static int add_slot(struct scan *sc, sqlite3_stmt *st, int result, int64_t start)
{
	uint8_t key[12];
	int64_t station_id = sqlite3_column_int64(st, 1);
	int slot = sqlite3_column_int(st, 2);
	struct slot_agg *s;
	size_t idx;
	bool added;

	memcpy(key, &station_id, 8);
	memcpy(key + 8, &slot, 4);
	if (edl_keymap_intern(&idx, &added, &sc->slots_map, key, sizeof(key)) != EDL_OK)
		return EDL_E_NOMEM;
	if (added) {
		s = vec_push(&sc->slots);
		if (s == NULL)
			return EDL_E_NOMEM;
		s->station_id = station_id;
		s->slot = slot;
		s->port_start = INT64_MIN;
	}
	s = (struct slot_agg *)sc->slots.items + idx;
	if (result == EDL_RESULT_PASS)
		s->passes++;
	else if (result == EDL_RESULT_FAIL)
		s->failures++;
	else
		s->interrupted++;
	if (start >= s->port_start) {
		const char *port = (const char *)sqlite3_column_text(st, 3);
		const char *label = (const char *)sqlite3_column_text(st, 12);
		s->port_start = start;
		if (port == NULL) {
			s->port = NULL;
		} else if (s->port == NULL || strcmp(s->port, port) != 0) {
			s->port = edl_arena_strdup(sc->arena, port);
			if (s->port == NULL)
				return EDL_E_NOMEM;
		}
		if (label == NULL || label[0] == '\0') {
			s->label = NULL;
		} else if (s->label == NULL || strcmp(s->label, label) != 0) {
			s->label = edl_arena_strdup(sc->arena, label);
			if (s->label == NULL)
				return EDL_E_NOMEM;
		}
	}
	return EDL_OK;
}

static int add_failure(struct scan *sc, sqlite3_stmt *st)
{
	const char *stage = (const char *)sqlite3_column_text(st, 7);
	const char *error = (const char *)sqlite3_column_text(st, 8);
	const char *cls = (const char *)sqlite3_column_text(st, 13);
	size_t ls, le, lc;
	char *key;
	const char *action;
	struct pareto_agg *p;
	size_t idx;
	bool added;
	int rc;

	/* Keyed by the stored words; the class is worked out once per entry, and
	 * entries whose stored class differs but means the same are merged at the end. */
	stage = stage != NULL ? stage : "";
	error = error != NULL ? error : "";
	cls = cls != NULL ? cls : "";
	ls = strlen(stage);
	le = strlen(error);
	lc = strlen(cls);
	key = malloc(ls + 1 + le + 1 + lc);
	if (key == NULL)
		return EDL_E_NOMEM;
	memcpy(key, stage, ls + 1);
	memcpy(key + ls + 1, error, le + 1);
	memcpy(key + ls + 1 + le + 1, cls, lc);
	rc = edl_keymap_intern(&idx, &added, &sc->pareto_map, key, ls + 1 + le + 1 + lc);
	free(key);
	if (rc != EDL_OK)
		return rc;
	if (added) {
		p = vec_push(&sc->pareto);
		if (p == NULL)
			return EDL_E_NOMEM;
		p->stage = edl_arena_strdup(sc->arena, stage);
		p->error = edl_arena_strdup(sc->arena, error);
		if (p->stage == NULL || p->error == NULL)
			return EDL_E_NOMEM;
		edl_store_failure_words(error[0] != '\0' ? error : NULL, cls, &p->error_class,
		                        &action);
	}
	p = (struct pareto_agg *)sc->pareto.items + idx;
	p->count++;
	return EDL_OK;
}

static int add_package(struct scan *sc, sqlite3_stmt *st, int result)
{
	int64_t id = sqlite3_column_int64(st, 14);
	struct package_agg *p = sc->packages.items;

	if (sc->packages.n == 0 || p[sc->last_package].package_id != id) {
		size_t i;
		for (i = 0; i < sc->packages.n && p[i].package_id != id; i++)
			;
		if (i == sc->packages.n) {
			struct package_agg *added = vec_push(&sc->packages);
			if (added == NULL)
				return EDL_E_NOMEM;
			added->package_id = id;
			p = sc->packages.items;
		}
		sc->last_package = i;
	}
	p = (struct package_agg *)sc->packages.items + sc->last_package;
	p->runs++;
	if (result == EDL_RESULT_PASS)
		p->passes++;
	else if (result == EDL_RESULT_FAIL)
		p->failures++;
	return EDL_OK;
}

static int add_row(struct scan *sc, struct edl_store_report *r, sqlite3_stmt *st)
{
	int64_t start = sqlite3_column_int64(st, 4);
	int64_t end = sqlite3_column_int64(st, 5); /* -1: none */
	int64_t id = sqlite3_column_int64(st, 11);
	int result = edl_store_result_parse((const char *)sqlite3_column_text(st, 6));
	uint32_t product = 0;
	int rc;

	r->runs++;
	if (product_index(sc, st, &product) != EDL_OK)
		return EDL_E_NOMEM;
	if (!sc->any || start < sc->min_start)
		sc->min_start = start;
	if (!sc->any || start > sc->max_end)
		sc->max_end = start;
	sc->any = true;
	if (end > sc->max_end)
		sc->max_end = end;
	if (add_package(sc, st, result) != EDL_OK)
		return EDL_E_NOMEM;
	switch (result) {
	case EDL_RESULT_PASS:
		r->passed_runs++;
		break;
	case EDL_RESULT_FAIL:
		r->failed_runs++;
		break;
	case EDL_RESULT_INTERRUPTED:
		r->interrupted_runs++;
		break;
	default:
		r->running++;
		return EDL_OK;
	}
	struct product_agg *pa = (struct product_agg *)sc->products.items + product;
	pa->runs++;
	pa->passes += result == EDL_RESULT_PASS;
	pa->failures += result == EDL_RESULT_FAIL;
	rc = add_slot(sc, st, result, start);
	if (rc == EDL_OK && sqlite3_column_type(st, 0) != SQLITE_NULL)
		rc = add_unit(sc, st, result, start, id, product);
	if (rc == EDL_OK && result != EDL_RESULT_PASS)
		rc = add_failure(sc, st);
	if (rc == EDL_OK && result == EDL_RESULT_PASS) {
		int64_t duration = sqlite3_column_int64(st, 10);
		r->bytes_written += (uint64_t)sqlite3_column_int64(st, 9);
		if (duration >= 0) {
			int64_t *d = vec_push(&sc->durations);
			if (d == NULL)
				return EDL_E_NOMEM;
			*d = duration;
			sc->pass_duration_ms += (uint64_t)duration;
		}
	}
	return rc;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static int cmp_slot(const void *a, const void *b)
{
	const struct edl_store_slot_stat *x = a, *y = b;
	int c = strcmp(x->station, y->station);
	return c != 0 ? c : (x->slot > y->slot) - (x->slot < y->slot);
}

static int cmp_pareto_words(const void *a, const void *b)
{
	const struct edl_store_pareto_entry *x = a, *y = b;
	int c = strcmp(x->stage, y->stage);

	if (c == 0)
		c = strcmp(x->error, y->error);
	return c != 0 ? c : strcmp(x->error_class, y->error_class);
}

static int cmp_pareto(const void *a, const void *b)
{
	const struct edl_store_pareto_entry *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return cmp_pareto_words(a, b);
}

static double ratio(uint64_t num, uint64_t den)
{
	return den == 0 ? NAN : (double)num / den;
}

static void finish_units(struct edl_store_report *r, const struct scan *sc)
{
	const struct unit_agg *units = sc->units.items;

	r->units = sc->units.n;
	for (size_t i = 0; i < sc->units.n; i++) {
		if (units[i].first_result == EDL_RESULT_PASS)
			r->first_pass_units++;
		if (units[i].last_result == EDL_RESULT_PASS)
			r->passed_units++;
		if (units[i].runs > 1)
			r->retested_units++;
		r->retests += units[i].runs - 1;
	}
	r->failed_units = r->units - r->passed_units;
	r->first_pass_yield = ratio(r->first_pass_units, r->units);
	r->final_yield = ratio(r->passed_units, r->units);
}

static int finish_slots(struct edl_store_report *r, struct scan *sc)
{
	const struct slot_agg *agg = sc->slots.items;
	uint64_t all_fail = 0, all_pass = 0;

	r->slots = edl_arena_alloc(sc->arena, (sc->slots.n + 1) * sizeof(*r->slots));
	if (r->slots == NULL)
		return EDL_E_NOMEM;
	memset(r->slots, 0, (sc->slots.n + 1) * sizeof(*r->slots));
	r->n_slots = sc->slots.n;
	for (size_t i = 0; i < sc->slots.n; i++) {
		all_fail += agg[i].failures;
		all_pass += agg[i].passes;
	}
	for (size_t i = 0; i < sc->slots.n; i++) {
		struct edl_store_slot_stat *s = &r->slots[i];
		uint64_t decided = agg[i].passes + agg[i].failures;
		uint64_t others = all_fail + all_pass - decided;

		s->station = station_name_of(sc, agg[i].station_id);
		s->slot = agg[i].slot;
		s->port = agg[i].port;
		s->label = agg[i].label != NULL ? agg[i].label : agg[i].port;
		if (s->label == NULL) {
			char number[24];
			snprintf(number, sizeof(number), "#%d", agg[i].slot);
			s->label = edl_arena_strdup(sc->arena, number);
			if (s->label == NULL)
				return EDL_E_NOMEM;
		}
		s->passes = agg[i].passes;
		s->failures = agg[i].failures;
		s->interrupted = agg[i].interrupted;
		s->runs = decided + agg[i].interrupted;
		s->failure_rate = ratio(agg[i].failures, decided);
		s->p_value = NAN;
		if (decided >= EDL_STORE_SLOT_MIN_RUNS && others > 0) {
			s->p_value = edl_store_fisher_greater(agg[i].failures, agg[i].passes,
			                                      all_fail - agg[i].failures,
			                                      all_pass - agg[i].passes);
			r->slots_tested++;
		}
	}
	r->slot_threshold = EDL_STORE_SLOT_ALPHA / (r->slots_tested > 0 ? r->slots_tested : 1);
	for (size_t i = 0; i < r->n_slots; i++) {
		struct edl_store_slot_stat *s = &r->slots[i];
		uint64_t of = all_fail - s->failures, op = all_pass - s->passes;
		if (!isnan(s->p_value) && s->p_value < r->slot_threshold &&
		    s->failure_rate > ratio(of, of + op))
			s->flagged = true;
	}
	qsort(r->slots, r->n_slots, sizeof(*r->slots), cmp_slot);
	return EDL_OK;
}

void edl_store_pareto_finish(struct edl_store_report *r, uint64_t total)
{
	uint64_t running = 0;
	size_t kept = 0;

	qsort(r->pareto, r->n_pareto, sizeof(*r->pareto), cmp_pareto_words);
	for (size_t i = 0; i < r->n_pareto; i++) {
		if (kept > 0 && cmp_pareto_words(&r->pareto[kept - 1], &r->pareto[i]) == 0)
			r->pareto[kept - 1].count += r->pareto[i].count;
		else
			r->pareto[kept++] = r->pareto[i];
	}
	r->n_pareto = kept;
	qsort(r->pareto, r->n_pareto, sizeof(*r->pareto), cmp_pareto);
	for (size_t i = 0; i < r->n_pareto; i++) {
		running += r->pareto[i].count;
		r->pareto[i].share = ratio(r->pareto[i].count, total);
		r->pareto[i].cumulative = ratio(running, total);
	}
}

static int finish_pareto(struct edl_store_report *r, struct scan *sc)
{
	const struct pareto_agg *agg = sc->pareto.items;
	uint64_t total = 0;

	r->pareto = edl_arena_alloc(sc->arena, (sc->pareto.n + 1) * sizeof(*r->pareto));
	if (r->pareto == NULL)
		return EDL_E_NOMEM;
	r->n_pareto = sc->pareto.n;
	for (size_t i = 0; i < sc->pareto.n; i++) {
		r->pareto[i] = (struct edl_store_pareto_entry){
		        .stage = agg[i].stage,
		        .error = agg[i].error,
		        .error_class = agg[i].error_class,
		        .count = agg[i].count,
		};
		total += agg[i].count;
	}
	/* Merge what only the stored class's spelling told apart (NULL before v4). */
	edl_store_pareto_finish(r, total);
	return EDL_OK;
}

static void finish_times(struct edl_store_report *r, struct scan *sc)
{
	double hours;

	if (sc->durations.n > 0)
		qsort(sc->durations.items, sc->durations.n, sizeof(int64_t), cmp_i64);
	r->duration_p50_ms = edl_store_percentile(sc->durations.items, sc->durations.n, 50);
	r->duration_p95_ms = edl_store_percentile(sc->durations.items, sc->durations.n, 95);
	r->throughput_mbps =
	        sc->pass_duration_ms == 0
	                ? NAN
	                : (double)r->bytes_written / 1e6 / ((double)sc->pass_duration_ms / 1000.0);
	if (!sc->any)
		sc->min_start = sc->max_end =
		        r->filter.since_ms != INT64_MIN ? r->filter.since_ms : 0;
	r->window_start_ms = r->filter.since_ms != INT64_MIN ? r->filter.since_ms : sc->min_start;
	r->window_end_ms = r->filter.until_ms != INT64_MAX ? r->filter.until_ms : sc->max_end;
	if (r->window_end_ms < r->window_start_ms)
		r->window_end_ms = r->window_start_ms;
	hours = (double)(r->window_end_ms - r->window_start_ms) / 3600000.0;
	r->units_per_hour = hours > 0 ? (double)r->units / hours : NAN;
	r->good_units_per_hour = hours > 0 ? (double)r->passed_units / hours : NAN;
}

/* Newest first; the run id breaks ties in start times. */
static int cmp_failed(const void *a, const void *b)
{
	const struct unit_agg *x = *(const struct unit_agg *const *)a;
	const struct unit_agg *y = *(const struct unit_agg *const *)b;

	if (x->last_start != y->last_start)
		return x->last_start < y->last_start ? 1 : -1;
	return (x->last_id < y->last_id) - (x->last_id > y->last_id);
}

#define COPY_COL(dst, st, col)                                                   \
	do {                                                                     \
		const char *v_ = (const char *)sqlite3_column_text((st), (col)); \
		(dst) = edl_arena_strdup(sc->arena, v_);                         \
		if (v_ != NULL && (dst) == NULL) {                               \
			rc = SQLITE_NOMEM;                                       \
			goto out;                                                \
		}                                                                \
	} while (0)

/* The failed units: the aggregation kept each unit's last run id; one indexed
 * lookup per listed unit fills in the words. */
static int finish_failed(struct edl_store_report *r, struct scan *sc, sqlite3 *db,
                         struct edl_error *err)
{
	const struct unit_agg **failed = NULL;
	struct unit_agg *units = sc->units.items;
	sqlite3_stmt *st = NULL;
	size_t n = 0, listed;
	int rc = SQLITE_OK;

	if (r->failed_units == 0)
		return EDL_OK;
	failed = malloc(r->failed_units * sizeof(*failed));
	if (failed == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "listing failed units");
	for (size_t i = 0; i < sc->units.n; i++) {
		if (units[i].last_result != EDL_RESULT_PASS)
			failed[n++] = &units[i];
	}
	qsort(failed, n, sizeof(*failed), cmp_failed);
	listed = r->filter.failed_max > 0 && r->filter.failed_max < n ? r->filter.failed_max : n;
	r->failed = edl_arena_alloc(sc->arena, (listed + 1) * sizeof(*r->failed));
	if (r->failed == NULL) {
		rc = SQLITE_NOMEM;
		goto out;
	}
	rc = sqlite3_prepare_v2(db,
	                        "SELECT r.serial, s.name, r.slot, r.port, r.slot_label, r.result,"
	                        " r.stage, r.error, r.error_class, r.message"
	                        " FROM run r JOIN station s ON s.id = r.station_id WHERE r.id = ?1",
	                        -1, &st, NULL);
	for (size_t i = 0; rc == SQLITE_OK && i < listed; i++) {
		struct edl_store_failed_unit *f = &r->failed[i];
		const char *label, *port;

		memset(f, 0, sizeof(*f));
		sqlite3_bind_int64(st, 1, failed[i]->last_id);
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW)
			break;
		f->run_id = failed[i]->last_id;
		f->start_ms = failed[i]->last_start;
		COPY_COL(f->serial, st, 0);
		COPY_COL(f->station, st, 1);
		port = (const char *)sqlite3_column_text(st, 3);
		label = (const char *)sqlite3_column_text(st, 4);
		if (label == NULL || label[0] == '\0')
			label = port;
		if (label == NULL || label[0] == '\0') {
			char number[24];
			snprintf(number, sizeof(number), "#%d", sqlite3_column_int(st, 2));
			f->slot_label = edl_arena_strdup(sc->arena, number);
		} else {
			f->slot_label = edl_arena_strdup(sc->arena, label);
		}
		if (f->slot_label == NULL) {
			rc = SQLITE_NOMEM;
			goto out;
		}
		f->result = failed[i]->last_result == EDL_RESULT_FAIL ? "fail" : "interrupted";
		COPY_COL(f->stage, st, 6);
		COPY_COL(f->error, st, 7);
		edl_store_failure_words(f->error, (const char *)sqlite3_column_text(st, 8),
		                        &f->error_class, &f->action);
		COPY_COL(f->message, st, 9);
		sqlite3_reset(st);
		rc = SQLITE_OK;
		r->n_failed++;
	}
out:
	sqlite3_finalize(st);
	free(failed);
	if (rc == SQLITE_NOMEM)
		return edl_error_set(err, EDL_E_NOMEM, "listing failed units");
	if (rc != SQLITE_OK)
		return edl_store_sqlite_error(err, db, rc, "listing failed units");
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

static int finish_packages(struct edl_store_report *r, struct scan *sc, sqlite3 *db,
                           struct edl_error *err)
{
	const struct package_agg *agg = sc->packages.items;
	sqlite3_stmt *st = NULL;
	int rc = SQLITE_OK;

	r->packages = edl_arena_alloc(sc->arena, (sc->packages.n + 1) * sizeof(*r->packages));
	if (r->packages == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "listing packages");
	rc = sqlite3_prepare_v2(
	        db, "SELECT name, version, path, manifest_hash FROM package WHERE id = ?1", -1, &st,
	        NULL);
	for (size_t i = 0; rc == SQLITE_OK && i < sc->packages.n; i++) {
		struct edl_store_package_stat *p = &r->packages[r->n_packages++];

		memset(p, 0, sizeof(*p));
		p->runs = agg[i].runs;
		p->passes = agg[i].passes;
		p->failures = agg[i].failures;
		if (agg[i].package_id == 0)
			continue;
		sqlite3_bind_int64(st, 1, agg[i].package_id);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			COPY_COL(p->name, st, 0);
			COPY_COL(p->version, st, 1);
			COPY_COL(p->path, st, 2);
			COPY_COL(p->manifest_hash, st, 3);
			rc = SQLITE_DONE;
		}
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
		sqlite3_reset(st);
	}
out:
	sqlite3_finalize(st);
	if (rc == SQLITE_NOMEM)
		return edl_error_set(err, EDL_E_NOMEM, "listing packages");
	if (rc != SQLITE_OK)
		return edl_store_sqlite_error(err, db, rc, "listing packages");
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

/* issue 15: units by the product of their last run; only when some run has one. */
static int finish_products(struct edl_store_report *r, struct scan *sc, struct edl_error *err)
{
	const struct product_agg *agg = sc->products.items;
	const struct unit_agg *units = sc->units.items;

	if (!sc->any_product)
		return EDL_OK;
	r->products = edl_arena_alloc(sc->arena, sc->products.n * sizeof(*r->products));
	if (r->products == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "counting units by product");
	memset(r->products, 0, sc->products.n * sizeof(*r->products));
	for (size_t i = 0; i < sc->products.n; i++) {
		r->products[i].product = agg[i].product;
		r->products[i].runs = agg[i].runs;
		r->products[i].passes = agg[i].passes;
		r->products[i].failures = agg[i].failures;
	}
	for (size_t i = 0; i < sc->units.n; i++) {
		struct edl_store_product_stat *p = &r->products[units[i].last_product];
		p->units++;
		p->passed_units += units[i].last_result == EDL_RESULT_PASS;
		p->first_pass_units += units[i].first_result == EDL_RESULT_PASS;
	}
	for (size_t i = 0; i < sc->products.n; i++) {
		struct edl_store_product_stat *p = &r->products[i];
		if (p->runs == 0 && p->units == 0)
			continue;
		p->failed_units = p->units - p->passed_units;
		p->first_pass_yield = ratio(p->first_pass_units, p->units);
		p->final_yield = ratio(p->passed_units, p->units);
		r->products[r->n_products++] = *p;
	}
	qsort(r->products, r->n_products, sizeof(*r->products), cmp_product);
	return EDL_OK;
}

#define HOUR_MS 3600000LL
/* More buckets than this (a window of decades) are not listed. */
#define BUCKETS_MAX 200000

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Buckets from the first run's to the last run's, clipped to the window. */
void edl_store_buckets_finish(struct edl_store_report *r, int64_t first, int64_t width)
{
	for (size_t i = 0; i < r->n_buckets; i++) {
		struct edl_store_bucket_stat *b = &r->buckets[i];
		int64_t start = first + (int64_t)i * width, end = start + width;
		double hours;

		b->start_ms = start < r->window_start_ms ? r->window_start_ms : start;
		b->end_ms = end > r->window_end_ms ? r->window_end_ms : end;
		if (b->end_ms < b->start_ms)
			b->end_ms = b->start_ms;
		hours = (double)(b->end_ms - b->start_ms) / (double)HOUR_MS;
		b->first_pass_yield = ratio(b->first_pass_units, b->units);
		b->units_per_hour = hours > 0 ? (double)b->units / hours : NAN;
		b->good_units_per_hour = hours > 0 ? (double)b->passed_units / hours : NAN;
	}
}

static int finish_buckets(struct edl_store_report *r, struct scan *sc, struct edl_error *err)
{
	const struct unit_agg *units = sc->units.items;
	int64_t width = r->filter.bucket == EDL_STORE_BUCKET_SHIFT ? 8 * HOUR_MS : HOUR_MS;
	int64_t offset = r->filter.bucket == EDL_STORE_BUCKET_SHIFT ? 6 * HOUR_MS : 0;
	int64_t lo, hi, first;
	uint64_t n;

	if (!sc->any || sc->units.n == 0)
		return EDL_OK;
	lo = sc->min_start > r->window_start_ms ? sc->min_start : r->window_start_ms;
	hi = sc->max_end < r->window_end_ms ? sc->max_end : r->window_end_ms;
	if (hi < lo)
		hi = lo;
	first = floor_div(lo - offset, width) * width + offset;
	n = (uint64_t)((hi - first) / width) + 1;
	if (n > BUCKETS_MAX)
		return EDL_OK;
	r->buckets = edl_arena_alloc(sc->arena, n * sizeof(*r->buckets));
	if (r->buckets == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "cutting the window into buckets");
	memset(r->buckets, 0, n * sizeof(*r->buckets));
	r->n_buckets = (size_t)n;
	for (size_t i = 0; i < sc->units.n; i++) {
		int64_t at = units[i].first_start;
		struct edl_store_bucket_stat *b;
		int64_t k = floor_div(at - first, width);

		if (k < 0)
			k = 0;
		if ((uint64_t)k >= n)
			k = (int64_t)n - 1;
		b = &r->buckets[k];
		b->units++;
		if (units[i].last_result == EDL_RESULT_PASS)
			b->passed_units++;
		if (units[i].first_result == EDL_RESULT_PASS)
			b->first_pass_units++;
	}
	edl_store_buckets_finish(r, first, width);
	return EDL_OK;
}

static void scan_free(struct scan *sc)
{
	edl_keymap_free(&sc->units_map);
	edl_keymap_free(&sc->slots_map);
	edl_keymap_free(&sc->pareto_map);
	free(sc->units.items);
	free(sc->slots.items);
	free(sc->pareto.items);
	free(sc->durations.items);
	free(sc->stations.items);
	free(sc->packages.items);
	free(sc->products.items);
	edl_keymap_free(&sc->products_map);
}

void edl_store_filter_init(struct edl_store_filter *f)
{
	f->since_ms = INT64_MIN;
	f->until_ms = INT64_MAX;
	f->station = NULL;
	f->package = NULL;
	f->slot = NULL;
	f->serial = NULL;
	f->product = NULL;
	f->lot = f->work_order = f->operator_name = NULL;
	f->failed_max = 0;
	f->bucket = EDL_STORE_BUCKET_HOUR;
	f->line = NULL;
	f->by_station = false;
}

struct edl_store_report *edl_store_report_new(struct edl_arena **arena_out)
{
	struct report_owner *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return NULL;
	edl_arena_init(&o->arena);
	*arena_out = &o->arena;
	return &o->pub;
}

int edl_store_report(struct edl_store_report **out, struct edl_store *s,
                     const struct edl_store_filter *filter, struct edl_error *err)
{
	struct report_owner *o;
	struct edl_store_report *r;
	struct scan sc = {0};
	sqlite3_stmt *st = NULL;
	bool in_txn = false;
	int rc;

	*out = NULL;
	o = calloc(1, sizeof(*o));
	if (o == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "allocating the report");
	edl_arena_init(&o->arena);
	r = &o->pub;
	r->filter = *filter;
	r->filter.station = edl_arena_strdup(&o->arena, filter->station);
	r->filter.package = edl_arena_strdup(&o->arena, filter->package);
	r->filter.slot = edl_arena_strdup(&o->arena, filter->slot);
	r->filter.serial = edl_arena_strdup(&o->arena, filter->serial);
	r->filter.product = edl_arena_strdup(&o->arena, filter->product);
	r->filter.lot = edl_arena_strdup(&o->arena, filter->lot); /* issue 13 */
	r->filter.work_order = edl_arena_strdup(&o->arena, filter->work_order);
	r->filter.operator_name = edl_arena_strdup(&o->arena, filter->operator_name);
	sc.arena = &o->arena;
	sc.units.size = sizeof(struct unit_agg);
	sc.slots.size = sizeof(struct slot_agg);
	sc.pareto.size = sizeof(struct pareto_agg);
	sc.durations.size = sizeof(int64_t);
	sc.stations.size = sizeof(struct station_name);
	sc.packages.size = sizeof(struct package_agg);
	sc.products.size = sizeof(struct product_agg);
	edl_keymap_init(&sc.products_map);
	edl_keymap_init(&sc.units_map);
	edl_keymap_init(&sc.slots_map);
	edl_keymap_init(&sc.pareto_map);
	if ((filter->station != NULL && r->filter.station == NULL) ||
	    (filter->package != NULL && r->filter.package == NULL) ||
	    (filter->slot != NULL && r->filter.slot == NULL) ||
	    (filter->serial != NULL && r->filter.serial == NULL) ||
	    (filter->product != NULL && r->filter.product == NULL) ||
	    (filter->lot != NULL && r->filter.lot == NULL) ||
	    (filter->work_order != NULL && r->filter.work_order == NULL) ||
	    (filter->operator_name != NULL && r->filter.operator_name == NULL)) {
		rc = edl_error_set(err, EDL_E_NOMEM, "allocating the report");
		goto out;
	}

	rc = edl_store_exec(s->db, "BEGIN", err);
	if (rc != EDL_OK)
		goto out;
	in_txn = true;
	rc = load_station_names(&sc, s->db, err);
	if (rc != EDL_OK)
		goto out;
	rc = prepare_selection(&st, s->db, filter, err);
	if (rc != EDL_OK)
		goto out;
	for (;;) {
		int step = sqlite3_step(st);
		if (step == SQLITE_DONE)
			break;
		if (step != SQLITE_ROW) {
			rc = edl_store_sqlite_error(err, s->db, step,
			                            "reading runs for the report");
			goto out;
		}
		rc = add_row(&sc, r, st);
		if (rc != EDL_OK) {
			edl_error_set(err, rc, "aggregating %" PRIu64 " runs for the report",
			              r->runs);
			goto out;
		}
	}
	finish_units(r, &sc);
	finish_times(r, &sc);
	rc = finish_slots(r, &sc);
	if (rc == EDL_OK)
		rc = finish_pareto(r, &sc);
	if (rc != EDL_OK) {
		edl_error_set(err, rc, "summarising the report");
		goto out;
	}
	rc = finish_failed(r, &sc, s->db, err);
	if (rc == EDL_OK)
		rc = finish_packages(r, &sc, s->db, err);
	if (rc == EDL_OK)
		rc = finish_buckets(r, &sc, err);
	if (rc == EDL_OK)
		rc = finish_products(r, &sc, err);
out:
	sqlite3_finalize(st);
	if (in_txn)
		sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	scan_free(&sc);
	if (rc != EDL_OK) {
		edl_store_report_free(r);
		return rc;
	}
	*out = r;
	return EDL_OK;
}

void edl_store_report_free(struct edl_store_report *r)
{
	struct report_owner *o;

	if (r == NULL)
		return;
	o = (struct report_owner *)((char *)r - offsetof(struct report_owner, pub));
	edl_arena_free(&o->arena);
	free(o);
}
