/*
 * Shared by the factory database's readers (src/factory/read.c, report.c,
 * history.c): the read connection and running one built statement.
 */
#ifndef EDLSTATION_FACTORY_READ_INTERNAL_H
#define EDLSTATION_FACTORY_READ_INTERNAL_H

#include <libpq-fe.h>

#include "edlstation/factory_report.h"
#include "report_sql.h"

struct edl_factory_db {
	PGconn *conn;
	char shown[256]; /* the connection string, password masked, for messages */
};

/* Runs q (its parameters as text) and expects rows; EDL_E_DB naming what and
 * the server on failure, EDL_E_INTERNAL when q overflowed. *out is the caller's. */
int edl_factory_read_query(PGresult **out, struct edl_factory_db *db, struct edl_factory_sql *q,
                           const char *what, struct edl_error *err);

/* Runs fixed SQL without rows (BEGIN, COMMIT). */
int edl_factory_read_exec(struct edl_factory_db *db, const char *sql, const char *what,
                          struct edl_error *err);

/* A column as a string (NULL for SQL NULL) and as a number (0 for NULL). */
const char *edl_factory_col(const PGresult *res, int row, int col);
int64_t edl_factory_col_i64(const PGresult *res, int row, int col);

#endif
