/*
 * Building the factory report's SQL (src/factory/report_sql.c): fixed text
 * fragments plus numbered parameters ($1, $2, ...) whose values travel apart
 * (PQexecParams), so nothing a person typed is ever pasted into SQL. Pure:
 * no server needed, unit-tested in tests/factory/test_factory_sql.c.
 */
#ifndef EDLSTATION_FACTORY_REPORT_SQL_H
#define EDLSTATION_FACTORY_REPORT_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edlstation/store.h"

#define EDL_FACTORY_SQL_MAX 8192
#define EDL_FACTORY_SQL_PARAMS 16

/* One statement being built; the values point at the caller's strings or at
 * numbers[] inside the struct (do not copy the struct once values are set). */
struct edl_factory_sql {
	char text[EDL_FACTORY_SQL_MAX];
	size_t len;
	bool overflow; /* text or parameters ran out: do not run it */
	int n_params;
	const char *values[EDL_FACTORY_SQL_PARAMS];
	char numbers[EDL_FACTORY_SQL_PARAMS][24];
};

void edl_factory_sql_init(struct edl_factory_sql *q);

/* Appends fixed SQL (a literal of this program, never input). */
void edl_factory_sql_add(struct edl_factory_sql *q, const char *fixed);

/* Adds a parameter and returns its number (0 on overflow); a NULL value is SQL NULL. */
int edl_factory_sql_param(struct edl_factory_sql *q, const char *value);
int edl_factory_sql_param_i64(struct edl_factory_sql *q, int64_t value);

/* Appends "$n" (and a cast, e.g. "::bigint"; NULL: none). */
void edl_factory_sql_ref(struct edl_factory_sql *q, int n, const char *cast);

/* Appends the selection's conditions on the runs (alias r), each "AND ...":
 * the bounds, station, line, package (name in any case, version,
 * name-version, name version, or a manifest hash prefix of 6+ digits), slot
 * (label in any case or port) and serial. */
void edl_factory_sql_filter(struct edl_factory_sql *q, const struct edl_store_filter *f);

/* True when the filter selects every run (no bound, no station, line,
 * package, slot or serial): the report may read the server's summaries. */
bool edl_factory_filter_is_all(const struct edl_store_filter *f);

#endif
