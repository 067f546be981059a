/*
 * The database schema, its versioned migrations and opening a connection.
 *
 * The schema version lives in PRAGMA user_version. Each migration moves the
 * database one version up inside its own transaction, so a program killed
 * mid-upgrade leaves a database at the previous version that the next start
 * upgrades again. A database newer than this program is refused, never touched.
 * Every connection runs in WAL mode (readers never block the writer), with
 * foreign keys on and a busy timeout; the writer commits results with
 * synchronous=FULL.
 */
#include "store_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BUSY_TIMEOUT_MS 5000

/*
 * Version 1: stations, packages, devices, runs and their steps.
 * Version 2: the device's log lines for runs that did not pass, and the path of
 * each run's transcript file.
 * Version 3: the programmer's function list as its banner gave it, and the
 * run's warnings (no storage geometry, a read-back instead of a digest, ...).
 * Version 4: the slot's label as the line names it, the failure's class (what
 * the operator does), and how far a running run has come (stage, bytes,
 * last progress), so that an interrupted run says where it stopped.
 */
static const char *const migrations[] = {
        NULL, /* version 0: the empty database */
        "CREATE TABLE station ("
        " id INTEGER PRIMARY KEY,"
        " name TEXT NOT NULL UNIQUE,"
        " host TEXT,"
        " first_seen_ms INTEGER NOT NULL,"
        " last_seen_ms INTEGER NOT NULL);"
        "CREATE TABLE package ("
        " id INTEGER PRIMARY KEY,"
        " manifest_hash TEXT NOT NULL UNIQUE,"
        " path TEXT,"
        " name TEXT,"
        " version TEXT,"
        " storage TEXT,"
        " bytes INTEGER NOT NULL DEFAULT 0,"
        " first_seen_ms INTEGER NOT NULL);"
        "CREATE TABLE device ("
        " serial TEXT PRIMARY KEY,"
        " usb_serial TEXT,"
        " hw_id TEXT,"
        " msm_id TEXT,"
        " oem_id TEXT,"
        " model_id TEXT,"
        " pk_hash TEXT,"
        " first_seen_ms INTEGER NOT NULL,"
        " last_seen_ms INTEGER NOT NULL) WITHOUT ROWID;"
        "CREATE TABLE run ("
        " id INTEGER PRIMARY KEY,"
        " serial TEXT REFERENCES device(serial),"
        " station_id INTEGER NOT NULL REFERENCES station(id),"
        " slot INTEGER NOT NULL,"
        " port TEXT,"
        " package_id INTEGER REFERENCES package(id),"
        " attempt INTEGER NOT NULL DEFAULT 1,"
        " retry_of INTEGER REFERENCES run(id),"
        " start_ms INTEGER NOT NULL,"
        " end_ms INTEGER,"
        " result TEXT NOT NULL DEFAULT 'running'"
        "  CHECK (result IN ('running', 'pass', 'fail', 'interrupted')),"
        " stage TEXT,"
        " error TEXT,"
        " message TEXT,"
        " bytes_written INTEGER NOT NULL DEFAULT 0,"
        " duration_ms INTEGER,"
        " avg_mbps REAL,"
        " payload INTEGER);"
        "CREATE INDEX run_by_serial ON run(serial, start_ms);"
        "CREATE INDEX run_by_start ON run(start_ms);"
        "CREATE TABLE run_step ("
        " run_id INTEGER NOT NULL REFERENCES run(id),"
        " idx INTEGER NOT NULL,"
        " kind TEXT NOT NULL,"
        " label TEXT,"
        " lun INTEGER,"
        " start_sector TEXT,"
        " sectors INTEGER,"
        " bytes INTEGER,"
        " duration_ms INTEGER,"
        " result TEXT NOT NULL CHECK (result IN ('pass', 'fail', 'skipped')),"
        " PRIMARY KEY (run_id, idx)) WITHOUT ROWID;",

        "ALTER TABLE run ADD COLUMN transcript TEXT;"
        "CREATE TABLE run_log ("
        " run_id INTEGER NOT NULL REFERENCES run(id),"
        " seq INTEGER NOT NULL,"
        " text TEXT NOT NULL,"
        " PRIMARY KEY (run_id, seq)) WITHOUT ROWID;",

        "ALTER TABLE run ADD COLUMN functions TEXT;"
        "ALTER TABLE run ADD COLUMN warnings TEXT;",

        "ALTER TABLE run ADD COLUMN slot_label TEXT;"
        "ALTER TABLE run ADD COLUMN error_class TEXT;"
        "ALTER TABLE run ADD COLUMN bytes_total INTEGER;"
        "ALTER TABLE run ADD COLUMN progress_ms INTEGER;"
        "CREATE INDEX run_by_result ON run(result, start_ms);",

        /* v5 (issue 16): the run's USB capture (run --record), NULL when none. */
        "ALTER TABLE run ADD COLUMN capture TEXT;",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == EDL_STORE_SCHEMA_VERSION + 1,
               "one migration per schema version");

int edl_store_sqlite_error(struct edl_error *err, sqlite3 *db, int rc, const char *what)
{
	int code = edl_error_from_sqlite(rc);

	if (code == EDL_OK)
		code = EDL_E_DB;
	return edl_error_set(err, code, "%s: %s", what,
	                     db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

int edl_store_exec(sqlite3 *db, const char *sql, struct edl_error *err)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return edl_store_sqlite_error(err, db, rc, sql);
	return EDL_OK;
}

int edl_store_bind_text(sqlite3_stmt *st, int idx, const char *s)
{
	if (s == NULL)
		return sqlite3_bind_null(st, idx);
	return sqlite3_bind_text(st, idx, s, (int)strnlen(s, 0x7fffffff), SQLITE_STATIC);
}

int edl_store_schema_version(int *out, sqlite3 *db, struct edl_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rc = edl_store_sqlite_error(err, db, rc, "reading the schema version");
		sqlite3_finalize(st);
		return rc;
	}
	*out = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return EDL_OK;
}

int edl_store_schema_migrate(sqlite3 *db, int target, struct edl_error *err)
{
	char sql[64];
	int version = 0;
	int rc;

	assert(target >= 0 && target <= EDL_STORE_SCHEMA_VERSION);
	rc = edl_store_schema_version(&version, db, err);
	if (rc != EDL_OK)
		return rc;
	if (version > EDL_STORE_SCHEMA_VERSION)
		return edl_error_set(err, EDL_E_DB_SCHEMA,
		                     "database schema version %d, this program knows up to %d",
		                     version, EDL_STORE_SCHEMA_VERSION);
	while (version < target) {
		rc = edl_store_exec(db, "BEGIN IMMEDIATE", err);
		if (rc != EDL_OK)
			return rc;
		/* Re-read inside the write lock: another writer may have migrated. */
		rc = edl_store_schema_version(&version, db, err);
		if (rc != EDL_OK || version >= target)
			goto done;
		rc = edl_store_exec(db, migrations[version + 1], err);
		if (rc != EDL_OK)
			goto done;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version + 1);
		rc = edl_store_exec(db, sql, err);
	done:
		if (rc != EDL_OK) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return rc;
		}
		rc = edl_store_exec(db, "COMMIT", err);
		if (rc != EDL_OK)
			return rc;
		rc = edl_store_schema_version(&version, db, err);
		if (rc != EDL_OK)
			return rc;
	}
	return EDL_OK;
}

int edl_store_recover(uint64_t *out_count, sqlite3 *db, int64_t now_ms, struct edl_error *err)
{
	sqlite3_stmt *st = NULL;
	char when[32];
	char message[160];
	int rc;

	edl_store_time_format(when, sizeof(when), now_ms);
	snprintf(message, sizeof(message),
	         "the station stopped before this run finished (found when it started again at %s)",
	         when);
	rc = sqlite3_prepare_v2(db,
	                        "UPDATE run SET result = 'interrupted', error = ?1, message = ?2"
	                        " WHERE result = 'running'",
	                        -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, edl_error_name(EDL_E_INTERRUPTED), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, message, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		*out_count = (uint64_t)sqlite3_changes(db);
		rc = SQLITE_OK;
	}
out:
	sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		return edl_store_sqlite_error(err, db, rc, "marking unfinished runs interrupted");
	return EDL_OK;
}

/* Pragmas that hold per connection. journal_mode=WAL is stored in the file;
 * setting it needs write access, so a reader only checks it. */
static int configure(sqlite3 *db, bool writable, const char *path, struct edl_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	rc = edl_store_exec(db, "PRAGMA foreign_keys = ON", err);
	if (rc != EDL_OK)
		return rc;
	if (!writable)
		return edl_store_exec(db, "PRAGMA query_only = ON", err);
	rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rc = edl_store_sqlite_error(err, db, rc, "switching to the WAL journal");
		goto out;
	}
	if (sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
		rc = edl_error_set(err, EDL_E_DB, "%s: the WAL journal is not available", path);
		goto out;
	}
	rc = edl_store_exec(db, "PRAGMA synchronous = FULL", err);
out:
	sqlite3_finalize(st);
	return rc;
}

int edl_store_db_open(sqlite3 **out, const char *path, bool writable, struct edl_error *err)
{
	sqlite3 *db = NULL;
	struct stat sb;
	int flags = writable ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
	int version = 0;
	int rc;

	*out = NULL;
	if (!writable && stat(path, &sb) != 0)
		return edl_error_set(err, EDL_E_NOENT, "no database at %s", path);
	rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		rc = edl_store_sqlite_error(err, db, rc, path);
		goto out;
	}
	sqlite3_extended_result_codes(db, 1);
	/* The first read tells a database from any other file. */
	rc = edl_store_schema_version(&version, db, err);
	if (rc != EDL_OK) {
		if (rc == EDL_E_DB_CORRUPT)
			edl_error_set(err, rc, "%s is not an SQLite database", path);
		goto out;
	}
	rc = configure(db, writable, path, err);
	if (rc != EDL_OK)
		goto out;
	if (writable) {
		rc = edl_store_schema_migrate(db, EDL_STORE_SCHEMA_VERSION, err);
	} else if (version > EDL_STORE_SCHEMA_VERSION) {
		rc = edl_error_set(err, EDL_E_DB_SCHEMA,
		                   "%s has schema version %d, this program knows up to %d", path,
		                   version, EDL_STORE_SCHEMA_VERSION);
	} else if (version == 0) {
		rc = edl_error_set(err, EDL_E_DB, "%s holds no edlstation results", path);
	} else if (version < EDL_STORE_SCHEMA_VERSION) {
		rc = edl_error_set(err, EDL_E_DB_OLD,
		                   "%s has schema version %d, this program reads %d: start the "
		                   "station on it once to upgrade it",
		                   path, version, EDL_STORE_SCHEMA_VERSION);
	}
out:
	if (rc != EDL_OK) {
		sqlite3_close(db);
		return rc;
	}
	*out = db;
	return EDL_OK;
}

int edl_store_open(struct edl_store **out, const char *path, struct edl_error *err)
{
	struct edl_store *s;
	int rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "opening %s", path);
	rc = edl_store_db_open(&s->db, path, false, err);
	if (rc != EDL_OK) {
		free(s);
		return rc;
	}
	*out = s;
	return EDL_OK;
}

void edl_store_close(struct edl_store *s)
{
	if (s == NULL)
		return;
	sqlite3_close(s->db);
	free(s);
}

static const char *const result_names[] = {"running", "pass", "fail", "interrupted"};

const char *edl_store_result_name(enum edl_store_result result)
{
	if ((unsigned)result < sizeof(result_names) / sizeof(result_names[0]))
		return result_names[result];
	return "unknown";
}

int edl_store_result_parse(const char *s)
{
	if (s == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(result_names) / sizeof(result_names[0]); i++) {
		if (strcmp(s, result_names[i]) == 0)
			return (int)i;
	}
	return -1;
}

const char *edl_store_step_kind_name(enum edl_plan_step_kind kind)
{
	switch (kind) {
	case EDL_STEP_ERASE:
		return "erase";
	case EDL_STEP_PROGRAM:
		return "program";
	case EDL_STEP_PATCH:
		return "patch";
	case EDL_STEP_SET_BOOTABLE:
		return "setbootable";
	case EDL_STEP_VENDOR:
		return "vendor";
	}
	return "unknown";
}

const char *edl_store_step_result_name(enum edl_store_step_result result)
{
	switch (result) {
	case EDL_STEP_RESULT_PASS:
		return "pass";
	case EDL_STEP_RESULT_FAIL:
		return "fail";
	case EDL_STEP_RESULT_SKIPPED:
		return "skipped";
	}
	return "unknown";
}
