/*
 * The factory report's SQL builder (see report_sql.h): the text is only ever
 * this file's literals and "$n" references; every value a person gave
 * (station, line, package, slot, serial, times) becomes a parameter.
 */
#include "report_sql.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void edl_factory_sql_init(struct edl_factory_sql *q)
{
	memset(q, 0, sizeof(*q));
}

void edl_factory_sql_add(struct edl_factory_sql *q, const char *fixed)
{
	size_t n = strlen(fixed);

	if (q->overflow || q->len + n >= sizeof(q->text)) {
		q->overflow = true;
		return;
	}
	memcpy(q->text + q->len, fixed, n + 1);
	q->len += n;
}

int edl_factory_sql_param(struct edl_factory_sql *q, const char *value)
{
	if (q->n_params >= EDL_FACTORY_SQL_PARAMS) {
		q->overflow = true;
		return 0;
	}
	q->values[q->n_params++] = value;
	return q->n_params;
}

int edl_factory_sql_param_i64(struct edl_factory_sql *q, int64_t value)
{
	int n = edl_factory_sql_param(q, NULL);

	if (n == 0)
		return 0;
	snprintf(q->numbers[n - 1], sizeof(q->numbers[n - 1]), "%" PRId64, value);
	q->values[n - 1] = q->numbers[n - 1];
	return n;
}

void edl_factory_sql_ref(struct edl_factory_sql *q, int n, const char *cast)
{
	char ref[48];

	if (n <= 0) {
		q->overflow = true;
		return;
	}
	snprintf(ref, sizeof(ref), "$%d%s", n, cast != NULL ? cast : "");
	edl_factory_sql_add(q, ref);
}

void edl_factory_sql_filter(struct edl_factory_sql *q, const struct edl_store_filter *f)
{
	int n;

	/* Flashing runs only, as on SQLite (src/store/report.c). */
	edl_factory_sql_add(q, " AND r.kind = 'flash'");

	if (f->since_ms != INT64_MIN) {
		edl_factory_sql_add(q, " AND r.start_ms >= ");
		edl_factory_sql_ref(q, edl_factory_sql_param_i64(q, f->since_ms), "::bigint");
	}
	if (f->until_ms != INT64_MAX) {
		edl_factory_sql_add(q, " AND r.start_ms < ");
		edl_factory_sql_ref(q, edl_factory_sql_param_i64(q, f->until_ms), "::bigint");
	}
	if (f->station != NULL) {
		edl_factory_sql_add(q,
		                    " AND r.station_id IN (SELECT id FROM station WHERE name = ");
		edl_factory_sql_ref(q, edl_factory_sql_param(q, f->station), "::text");
		edl_factory_sql_add(q, ")");
	}
	if (f->line != NULL) {
		edl_factory_sql_add(q,
		                    " AND r.station_id IN (SELECT id FROM station WHERE line = ");
		edl_factory_sql_ref(q, edl_factory_sql_param(q, f->line), "::text");
		edl_factory_sql_add(q, ")");
	}
	if (f->package != NULL) {
		n = edl_factory_sql_param(q, f->package);
		edl_factory_sql_add(q, " AND r.package_hash IN (SELECT manifest_hash FROM package"
		                       " WHERE lower(name) = lower(");
		edl_factory_sql_ref(q, n, "::text");
		edl_factory_sql_add(q, ") OR version = ");
		edl_factory_sql_ref(q, n, "::text");
		edl_factory_sql_add(q, " OR lower(name || '-' || version) = lower(");
		edl_factory_sql_ref(q, n, "::text");
		edl_factory_sql_add(q, ") OR lower(name || ' ' || version) = lower(");
		edl_factory_sql_ref(q, n, "::text");
		edl_factory_sql_add(q, ") OR (length(");
		edl_factory_sql_ref(q, n, "::text");
		edl_factory_sql_add(q, ") >= 6 AND left(manifest_hash, length(");
		edl_factory_sql_ref(q, n, "::text");
		edl_factory_sql_add(q, ")) IN (");
		edl_factory_sql_ref(q, n, "::text");
		edl_factory_sql_add(q, ", lower(");
		edl_factory_sql_ref(q, n, "::text");
		edl_factory_sql_add(q, "))))");
	}
	if (f->slot != NULL) {
		n = edl_factory_sql_param(q, f->slot);
		edl_factory_sql_add(q, " AND (lower(r.slot_label) = lower(");
		edl_factory_sql_ref(q, n, "::text");
		edl_factory_sql_add(q, ") OR r.port = ");
		edl_factory_sql_ref(q, n, "::text");
		edl_factory_sql_add(q, ")");
	}
	if (f->serial != NULL) {
		edl_factory_sql_add(q, " AND r.serial = ");
		edl_factory_sql_ref(q, edl_factory_sql_param(q, f->serial), "::text");
	}
	if (f->product != NULL) { /* issue 15: as on SQLite, any case */
		edl_factory_sql_add(q, " AND lower(r.product) = lower(");
		edl_factory_sql_ref(q, edl_factory_sql_param(q, f->product), "::text");
		edl_factory_sql_add(q, ")");
	}
	/* issue 13: the MES's per-unit data, as recorded */
	if (f->lot != NULL) {
		edl_factory_sql_add(q, " AND r.lot = ");
		edl_factory_sql_ref(q, edl_factory_sql_param(q, f->lot), "::text");
	}
	if (f->work_order != NULL) {
		edl_factory_sql_add(q, " AND r.work_order = ");
		edl_factory_sql_ref(q, edl_factory_sql_param(q, f->work_order), "::text");
	}
	if (f->operator_name != NULL) {
		edl_factory_sql_add(q, " AND r.operator = ");
		edl_factory_sql_ref(q, edl_factory_sql_param(q, f->operator_name), "::text");
	}
}

bool edl_factory_filter_is_all(const struct edl_store_filter *f)
{
	return f->since_ms == INT64_MIN && f->until_ms == INT64_MAX && f->station == NULL &&
	       f->line == NULL && f->package == NULL && f->slot == NULL && f->serial == NULL &&
	       f->product == NULL && f->lot == NULL && f->work_order == NULL &&
	       f->operator_name == NULL;
}
