/*
 * Bringing the factory database's schema up to date (edl_factory_migrate).
 *
 * The server-side twin of src/store/schema.c's migrations: pg_schema.c lists
 * them, this file applies them. Several stations may start at once against one
 * server, so each version is applied in its own transaction that first takes a
 * transaction-level advisory lock, then re-reads the version under it: the
 * first station migrates, the others wait on the lock and find nothing to do.
 * The version reached is max(version) of the table edl_schema (one row per
 * applied migration, with its time). A server at a newer version than this
 * program knows is refused and never written to.
 */
#include "edlstation/factory.h"
#include "factory_internal.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The advisory lock every station's migration takes: "edls" in ASCII. */
#define MIGRATION_LOCK_KEY "1701080179"

int edl_factory_schema_version(void)
{
	return edl_factory_pg_schema_version;
}

int edl_factory_pg_error(struct edl_error *err, struct pg_conn *conn, const struct pg_result *res,
                         const char *what)
{
	const char *msg = res != NULL ? PQresultErrorMessage(res) : "";
	char line[EDL_ERROR_DETAIL_MAX];
	size_t o = 0;

	if (msg == NULL || msg[0] == '\0')
		msg = PQerrorMessage(conn);
	if (msg == NULL || msg[0] == '\0')
		msg = "no message from libpq";
	/* libpq's messages run over lines ("...failed: Connection refused\n\tIs
	 * the server running..."): one line for an event or a status. */
	for (const char *p = msg; *p != '\0' && o + 1 < sizeof(line); p++) {
		if (*p == '\n' || *p == '\t' || *p == '\r') {
			if (o > 0 && line[o - 1] != ' ')
				line[o++] = ' ';
			continue;
		}
		line[o++] = *p;
	}
	while (o > 0 && line[o - 1] == ' ')
		o--;
	line[o] = '\0';
	return edl_error_set(err, EDL_E_DB, "%s: %s", what, line);
}

int edl_factory_pg_exec(struct pg_conn *conn, const char *sql, const char *what,
                        struct edl_error *err)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);
	int rc = EDL_OK;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		rc = edl_factory_pg_error(err, conn, res, what);
	PQclear(res);
	return rc;
}

static void rollback(PGconn *conn)
{
	PQclear(PQexec(conn, "ROLLBACK"));
}

/* Inside the locked transaction: the version the server is at. */
static int read_version(int *out, PGconn *conn, struct edl_error *err)
{
	PGresult *res;
	int rc;

	rc = edl_factory_pg_exec(conn,
	                         "CREATE TABLE IF NOT EXISTS edl_schema ("
	                         " version integer PRIMARY KEY,"
	                         " applied_at timestamptz NOT NULL DEFAULT now())",
	                         "creating edl_schema", err);
	if (rc != EDL_OK)
		return rc;
	res = PQexec(conn, "SELECT coalesce(max(version), 0) FROM edl_schema");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		rc = edl_factory_pg_error(err, conn, res, "reading the schema version");
		PQclear(res);
		return rc;
	}
	const char *text = PQgetvalue(res, 0, 0);
	char *end = NULL;
	long v = strtol(text, &end, 10);
	if (end == text || *end != '\0' || v < 0 || v > 1000000) {
		rc = edl_error_set(err, EDL_E_DB, "factory database: edl_schema holds version '%s'",
		                   text);
		PQclear(res);
		return rc;
	}
	*out = (int)v;
	PQclear(res);
	return EDL_OK;
}

int edl_factory_migrate(struct pg_conn *conn, struct edl_error *err)
{
	const int known = edl_factory_pg_schema_version;
	char what[64];
	char sql[96];
	int version = 0;
	int rc;

	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
		return edl_error_set(err, EDL_E_INVAL, "factory database: not connected");
	if (PQtransactionStatus(conn) != PQTRANS_IDLE)
		return edl_error_set(err, EDL_E_INVAL,
		                     "factory database: migration needs an idle connection");
	for (;;) {
		rc = edl_factory_pg_exec(conn, "BEGIN", "starting the migration", err);
		if (rc != EDL_OK)
			return rc;
		rc = edl_factory_pg_exec(conn,
		                         "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK_KEY ")",
		                         "taking the migration lock", err);
		/* CREATE TABLE IF NOT EXISTS notices "already exists" on every start. */
		if (rc == EDL_OK)
			rc = edl_factory_pg_exec(conn, "SET LOCAL client_min_messages = warning",
			                         "starting the migration", err);
		if (rc == EDL_OK)
			rc = read_version(&version, conn, err);
		if (rc != EDL_OK)
			goto fail;
		if (version > known) {
			rc = edl_error_set(err, EDL_E_DB_SCHEMA,
			                   "factory database schema version %d, this program knows "
			                   "up to %d: upgrade edlstation on this station",
			                   version, known);
			goto fail;
		}
		if (version == known)
			return edl_factory_pg_exec(conn, "COMMIT", "ending the migration", err);
		snprintf(what, sizeof(what), "migrating the factory schema to version %d",
		         version + 1);
		rc = edl_factory_pg_exec(conn, edl_factory_pg_migrations[version + 1], what, err);
		if (rc != EDL_OK)
			goto fail;
		snprintf(sql, sizeof(sql), "INSERT INTO edl_schema (version) VALUES (%d)",
		         version + 1);
		rc = edl_factory_pg_exec(conn, sql, what, err);
		if (rc != EDL_OK)
			goto fail;
		rc = edl_factory_pg_exec(conn, "COMMIT", what, err);
		if (rc != EDL_OK)
			return rc;
	}
fail:
	rollback(conn);
	return rc;
}
