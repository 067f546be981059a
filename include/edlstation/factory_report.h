/*
 * Reports over the factory database (issue 14): `edlstation report` and
 * `edlstation history` on PostgreSQL, filling the same structs as the SQLite
 * queries (include/edlstation/store.h) so that one set of formatters writes
 * both. The figures are computed on the server (aggregating SQL; only the
 * small result crosses the wire) inside one read-only REPEATABLE READ
 * transaction, with the same definitions as src/store/report.c: a station's
 * slots are its own (the slot test is per station and slot).
 *
 * A report with no filter reads the summaries the server keeps (schema v2,
 * src/factory/pg_schema.c); any filter or time bound reads the runs through
 * their indexes. What only a station has (package paths, transcripts,
 * captures) is NULL here.
 *
 * Ownership: the connection is the caller's (edl_factory_read_open/close);
 * reports and histories are freed with edl_store_report_free() and
 * edl_store_history_free().
 */
#ifndef EDLSTATION_FACTORY_REPORT_H
#define EDLSTATION_FACTORY_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "edlstation/error.h"
#include "edlstation/store.h"

/* A read connection to the factory database. */
struct edl_factory_db;

/* True when text names a PostgreSQL database (postgresql:// or postgres://). */
bool edl_factory_is_uri(const char *text);

/*
 * Connects (libpq, connect_timeout 5 s unless the string sets one) and checks
 * the schema. Errors name the server with its password masked and say what to
 * do: EDL_E_CONFIG (a string libpq cannot parse), EDL_E_IO (the server cannot
 * be reached or refused the login), EDL_E_NOENT (no edlstation schema: no
 * station has synced there yet), EDL_E_DB_OLD (an older schema: a station of
 * this version migrates it when it syncs), EDL_E_DB_SCHEMA (newer than this
 * program), EDL_E_DB, EDL_E_NOMEM. *out is the caller's.
 */
int edl_factory_read_open(struct edl_factory_db **out, const char *conninfo, struct edl_error *err);
void edl_factory_read_close(struct edl_factory_db *db);

/* The report over the factory database; filter.line and filter.by_station
 * apply here. An unknown station, line or package gives an empty report. */
int edl_factory_report(struct edl_store_report **out, struct edl_factory_db *db,
                       const struct edl_store_filter *filter, struct edl_error *err);

/* Every run of the unit on every station, oldest first (by start, then
 * station, then the station's run id); EDL_E_NOENT when no station shipped it. */
int edl_factory_history(struct edl_store_history **out, struct edl_factory_db *db,
                        const char *serial, unsigned flags, struct edl_error *err);

/*
 * The unit a person means, as edl_store_find_unit() takes it (any case, 0x,
 * the USB serial, a unique start), without "did you mean": EDL_E_NOENT,
 * EDL_E_AGAIN (ambiguous, some named), EDL_E_INVAL (empty), EDL_E_RANGE,
 * EDL_E_DB.
 */
int edl_factory_find_unit(char *serial_out, size_t len, struct edl_factory_db *db, const char *text,
                          struct edl_error *err);

#endif
