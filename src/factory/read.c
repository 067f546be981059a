/*
 * The factory database's read connection for `report` and `history`: connect
 * with a bounded timeout, refuse a schema this program cannot read (an empty
 * database, an older or a newer schema) with what to do, and run built
 * statements with their parameters apart from the text. Every message names
 * the server with its password masked (edl_factory_conninfo_mask).
 */
#include "edlstation/factory.h"
#include "factory_internal.h"
#include "read_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool edl_factory_is_uri(const char *text)
{
	return text != NULL &&
	       (strncmp(text, "postgresql://", 13) == 0 || strncmp(text, "postgres://", 11) == 0);
}

/* libpq's message on one line, without its trailing newline. */
static void one_line(char *out, size_t len, const char *msg)
{
	size_t n = 0;

	for (; msg != NULL && *msg != '\0' && n + 1 < len; msg++)
		out[n++] = (*msg == '\n' || *msg == '\r' || *msg == '\t') ? ' ' : *msg;
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

static int schema_check(struct edl_factory_db *db, struct edl_error *err)
{
	PGresult *res = PQexec(db->conn, "SELECT to_regclass('edl_schema') IS NOT NULL");
	int known = edl_factory_schema_version(), version;
	int rc = EDL_OK;

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = edl_factory_pg_error(err, db->conn, res, "reading the factory schema");
		PQclear(res);
		return rc;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		PQclear(res);
		return edl_error_set(err, EDL_E_NOENT,
		                     "factory database %s has no edlstation schema: no station has "
		                     "synced to it yet (set [factory] database on a station)",
		                     db->shown);
	}
	PQclear(res);
	res = PQexec(db->conn, "SELECT coalesce(max(version), 0) FROM edl_schema");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = edl_factory_pg_error(err, db->conn, res, "reading the factory schema");
		PQclear(res);
		return rc;
	}
	version = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (version > known)
		return edl_error_set(err, EDL_E_DB_SCHEMA,
		                     "factory database %s has schema version %d, newer than this "
		                     "edlstation's %d: upgrade edlstation to read it",
		                     db->shown, version, known);
	if (version < known)
		return edl_error_set(
		        err, EDL_E_DB_OLD,
		        "factory database %s has schema version %d, older than this "
		        "edlstation's %d: a station of this version upgrades it when it "
		        "syncs (edlstation sync)",
		        db->shown, version, known);
	return EDL_OK;
}

int edl_factory_read_open(struct edl_factory_db **out, const char *conninfo, struct edl_error *err)
{
	/* Defaults first: what the string itself sets (expanded from dbname) wins.
	 * A server that goes away mid-report is noticed (keepalives, unacknowledged
	 * data for 30 s) rather than waited for; a report runs at most 5 minutes.
	 * No JIT: it cost 0.7-1 s per query in the benchmark; these plans are cheap. */
	static const char *const keys[] = {"connect_timeout",
	                                   "application_name",
	                                   "keepalives_idle",
	                                   "keepalives_interval",
	                                   "keepalives_count",
	                                   "tcp_user_timeout",
	                                   "options",
	                                   "dbname",
	                                   NULL};
	const char *values[] = {"5",
	                        "edlstation-report",
	                        "10",
	                        "5",
	                        "3",
	                        "30000",
	                        "-c statement_timeout=300000 -c jit=off",
	                        conninfo,
	                        NULL};
	struct edl_factory_db *db;
	char why[512];
	int rc;

	*out = NULL;
	rc = edl_factory_conninfo_check(conninfo, err);
	if (rc != EDL_OK)
		return rc;
	db = calloc(1, sizeof(*db));
	if (db == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "connecting to the factory database");
	edl_factory_conninfo_mask(db->shown, sizeof(db->shown), conninfo);
	db->conn = PQconnectdbParams(keys, values, 1);
	if (db->conn == NULL) {
		free(db);
		return edl_error_set(err, EDL_E_NOMEM, "connecting to the factory database");
	}
	if (PQstatus(db->conn) != CONNECTION_OK) {
		one_line(why, sizeof(why), PQerrorMessage(db->conn));
		rc = edl_error_set(err, EDL_E_IO,
		                   "cannot reach the factory database %s: %s (is the server up and "
		                   "the address, user and password right?)",
		                   db->shown, why);
		edl_factory_read_close(db);
		return rc;
	}
	rc = schema_check(db, err);
	if (rc != EDL_OK) {
		edl_factory_read_close(db);
		return rc;
	}
	*out = db;
	return EDL_OK;
}

void edl_factory_read_close(struct edl_factory_db *db)
{
	if (db == NULL)
		return;
	PQfinish(db->conn);
	free(db);
}

int edl_factory_read_query(PGresult **out, struct edl_factory_db *db, struct edl_factory_sql *q,
                           const char *what, struct edl_error *err)
{
	PGresult *res;
	char why[512];

	*out = NULL;
	if (q->overflow)
		return edl_error_set(err, EDL_E_INTERNAL, "%s: the query outgrew its buffer", what);
	res = PQexecParams(db->conn, q->text, q->n_params, NULL, q->values, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		one_line(why, sizeof(why),
		         res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(db->conn));
		if (why[0] == '\0')
			one_line(why, sizeof(why), PQerrorMessage(db->conn));
		PQclear(res);
		return edl_error_set(err, PQstatus(db->conn) == CONNECTION_OK ? EDL_E_DB : EDL_E_IO,
		                     "%s on the factory database %s: %s", what, db->shown, why);
	}
	*out = res;
	return EDL_OK;
}

int edl_factory_read_exec(struct edl_factory_db *db, const char *sql, const char *what,
                          struct edl_error *err)
{
	PGresult *res = PQexec(db->conn, sql);
	char why[512];
	int rc = EDL_OK;

	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		one_line(why, sizeof(why),
		         res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(db->conn));
		rc = edl_error_set(err, PQstatus(db->conn) == CONNECTION_OK ? EDL_E_DB : EDL_E_IO,
		                   "%s on the factory database %s: %s", what, db->shown, why);
	}
	PQclear(res);
	return rc;
}

const char *edl_factory_col(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

int64_t edl_factory_col_i64(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}
