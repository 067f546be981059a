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
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

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
 * Version 5: the run's USB capture.
 * Version 6: run kind, product, lot/work order/operator and commit order;
 * archived files; the MES outbox; the factory sync cursor.
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

        /* v6 (issues 13, 14, 15): what kind of run (flash, dump, backup,
         * restore), the product [route] chose, the MES's lot, work order and
         * operator, the order finished runs committed in (the factory sync's
         * cursor), the files a run archived (preserved partitions, memory
         * dumps), the after_unit hook's durable outbox, and each factory
         * database's sync position. */
        "ALTER TABLE run ADD COLUMN kind TEXT NOT NULL DEFAULT 'flash';"
        "ALTER TABLE run ADD COLUMN product TEXT;"
        "ALTER TABLE run ADD COLUMN lot TEXT;"
        "ALTER TABLE run ADD COLUMN work_order TEXT;"
        "ALTER TABLE run ADD COLUMN operator TEXT;"
        "ALTER TABLE run ADD COLUMN commit_seq INTEGER;"
        "UPDATE run SET commit_seq = id WHERE result <> 'running';"
        "CREATE UNIQUE INDEX run_by_commit ON run(commit_seq);"
        "CREATE TABLE archive ("
        " id INTEGER PRIMARY KEY,"
        " run_id INTEGER NOT NULL REFERENCES run(id),"
        " serial TEXT NOT NULL,"
        " kind TEXT NOT NULL,"  /* 'preserve' or 'dump' */
        " label TEXT NOT NULL," /* partition label or dump region name */
        " path TEXT NOT NULL,"
        " bytes INTEGER NOT NULL,"
        " sha256 TEXT NOT NULL,"
        " restored INTEGER," /* preserve: 1 written back and verified, 0 untouched */
        " created_ms INTEGER NOT NULL);"
        "CREATE INDEX archive_by_serial ON archive(serial, created_ms);"
        "CREATE INDEX archive_by_run ON archive(run_id);"
        "CREATE TABLE mes_outbox ("
        " run_id INTEGER PRIMARY KEY REFERENCES run(id),"
        " payload TEXT NOT NULL,"
        " attempts INTEGER NOT NULL DEFAULT 0,"
        " next_ms INTEGER NOT NULL,"
        " delivered_ms INTEGER,"
        " last_error TEXT);"
        "CREATE INDEX mes_outbox_due ON mes_outbox(next_ms) WHERE delivered_ms IS NULL;"
        "CREATE TABLE sync_state ("
        " target TEXT PRIMARY KEY," /* the factory database, password removed */
        " last_seq INTEGER NOT NULL DEFAULT 0,"
        " last_ok_ms INTEGER,"
        " last_error TEXT);",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == EDL_STORE_SCHEMA_VERSION + 1,
               "one migration per schema version");

int edl_store_sqlite_error(struct edl_error *err, sqlite3 *db, int rc, const char *what)
{
	int code = edl_error_from_sqlite(rc);

	if (code == EDL_OK)
		code = EDL_E_DB;
	/* The writer keeps results on a full disk; it must tell that from I/O errors. */
	if ((rc & 0xff) == SQLITE_FULL)
		code = EDL_E_DB_FULL;
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

/* The after_unit payload of a run the station never finished, built in SQL
 * with the keys edl_mes_after_payload() gives a finished one. */
static const char recover_outbox_sql[] =
        "INSERT OR IGNORE INTO mes_outbox (run_id, payload, next_ms)"
        " SELECT r.id, json_object('event', 'after_unit', 'run_id', r.id, 'station', s.name,"
        "  'serial', r.serial, 'slot', r.slot, 'slot_label', r.slot_label, 'port', r.port,"
        "  'attempt', r.attempt, 'retry_of', r.retry_of, 'final', json('true'),"
        "  'result', r.result, 'stage', r.stage, 'error', r.error, 'class', r.error_class,"
        "  'message', r.message,"
        "  'start', strftime('%Y-%m-%dT%H:%M:%fZ', r.start_ms / 1000.0, 'unixepoch'),"
        "  'end', strftime('%Y-%m-%dT%H:%M:%fZ', r.end_ms / 1000.0, 'unixepoch'),"
        "  'bytes_written', r.bytes_written, 'package', p.manifest_hash, 'product', r.product,"
        "  'lot', r.lot, 'work_order', r.work_order, 'operator', r.operator), ?1"
        " FROM run r JOIN station s ON s.id = r.station_id"
        " LEFT JOIN package p ON p.id = r.package_id"
        " WHERE r.result = 'interrupted' AND r.commit_seq > ?2";

int edl_store_recover(uint64_t *out_count, sqlite3 *db, int64_t now_ms, bool mes_outbox,
                      struct edl_error *err)
{
	int64_t seq_before = 0;
	sqlite3_stmt *st = NULL;
	char when[32];
	char message[160];
	int rc;

	edl_store_time_format(when, sizeof(when), now_ms);
	snprintf(message, sizeof(message),
	         "the station stopped before this run finished (found when it started again at %s)",
	         when);
	/* Stage and bytes stay as the last progress left them: they say where it stopped. */
	rc = sqlite3_prepare_v2(db, "SELECT coalesce(max(commit_seq), 0) FROM run", -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		seq_before = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc != SQLITE_OK)
		goto out;
	rc = sqlite3_prepare_v2(db,
	                        "UPDATE run SET result = 'interrupted', error = ?1, message = ?2,"
	                        " error_class = ?3, end_ms = coalesce(progress_ms, ?4),"
	                        " commit_seq = m.base + m.n"
	                        " FROM (SELECT id, row_number() OVER (ORDER BY id) AS n,"
	                        "  (SELECT coalesce(max(commit_seq), 0) FROM run) AS base"
	                        "  FROM run WHERE result = 'running') AS m"
	                        " WHERE run.id = m.id",
	                        -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, edl_error_name(EDL_E_INTERRUPTED), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, message, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, edl_error_class_name(edl_error_class(EDL_E_INTERRUPTED)), -1,
	                  SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now_ms);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		*out_count = (uint64_t)sqlite3_changes(db);
		rc = SQLITE_OK;
	}
	if (rc == SQLITE_OK && mes_outbox && *out_count > 0) {
		sqlite3_finalize(st);
		rc = sqlite3_prepare_v2(db, recover_outbox_sql, -1, &st, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_int64(st, 1, now_ms);
			sqlite3_bind_int64(st, 2, seq_before);
			rc = sqlite3_step(st);
			rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
		}
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
	int persist_wal = 1;
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
	/* Keep -wal and -shm after close: a writer restarted on a full disk can
	 * then still read the database (creating -shm needs space) and reuses the
	 * WAL's blocks for its first commits. */
	sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist_wal);
	rc = edl_store_exec(db, "PRAGMA synchronous = FULL", err);
out:
	sqlite3_finalize(st);
	return rc;
}

/* Prefixes err's detail with the database file, so every store error names it. */
static int name_file(struct edl_error *err, int rc, const char *path)
{
	char detail[EDL_ERROR_DETAIL_MAX];

	if (err == NULL || strncmp(err->detail, "results database ", 17) == 0)
		return rc;
	snprintf(detail, sizeof(detail), "%s", err->detail);
	return edl_error_set(err, rc, "results database %s: %s", path, detail);
}

static int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int past_deadline(void *data)
{
	return monotonic_ms() >= *(const int64_t *)data;
}

int edl_store_check(sqlite3 *db, bool full, int64_t budget_ms, bool *timed_out, char *problems,
                    size_t len, struct edl_error *err)
{
	sqlite3_stmt *st = NULL;
	int64_t deadline = monotonic_ms() + budget_ms;
	size_t used = 0;
	bool sound = false;
	int rc;

	*timed_out = false;
	if (len > 0)
		problems[0] = '\0';
	if (budget_ms > 0)
		sqlite3_progress_handler(db, 1000, past_deadline, &deadline);
	rc = sqlite3_prepare_v2(db, full ? "PRAGMA integrity_check(20)" : "PRAGMA quick_check(20)",
	                        -1, &st, NULL);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		if ((rc = sqlite3_step(st)) != SQLITE_ROW)
			break;
		const char *line = (const char *)sqlite3_column_text(st, 0);
		if (line == NULL)
			continue;
		if (strcmp(line, "ok") == 0) {
			sound = true;
			continue;
		}
		if (used + 3 < len) {
			int n = snprintf(problems + used, len - used, "%s%s", used > 0 ? "; " : "",
			                 line);
			used = n > 0 && used + (size_t)n < len ? used + (size_t)n : len - 1;
		}
	}
	sqlite3_finalize(st);
	sqlite3_progress_handler(db, 0, NULL, NULL);
	if ((rc & 0xff) == SQLITE_INTERRUPT) {
		*timed_out = true;
		return EDL_OK;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_OK) {
		int code = edl_error_from_sqlite(rc);
		if (code != EDL_E_DB_CORRUPT)
			return edl_store_sqlite_error(err, db, rc,
			                              full ? "integrity_check" : "quick_check");
		snprintf(problems, len, "%s", sqlite3_errmsg(db));
		sound = false;
	}
	if (sound && used == 0)
		return EDL_OK;
	return edl_error_set(err, EDL_E_DB_CORRUPT, "%s", problems);
}

/* "r.db" -> "r-recovered.db", for the recovery command in the message. */
static void recovered_name(char *out, size_t len, const char *path)
{
	size_t n = strlen(path);

	if (n > 3 && strcmp(path + n - 3, ".db") == 0)
		snprintf(out, len, "%.*s-recovered.db", (int)(n - 3), path);
	else
		snprintf(out, len, "%s-recovered", path);
}

/* Tells a missing directory (a configuration error) from a missing file. */
static int explain_missing(const char *path, struct edl_error *err)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	struct stat sb;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return edl_error_set(err, EDL_E_CONFIG,
		                     "results database %s: directory %s does not exist: create it "
		                     "or set [results] database",
		                     path, dir);
	return edl_error_set(err, EDL_E_NOENT,
	                     "results database %s: no such file (no station has written it "
	                     "yet, or [results] database names another file)",
	                     path);
}

/* Opens and reads the schema version: the first read tells a database from
 * any other file. */
static int open_connection(sqlite3 **out, const char *name, int flags, int *version,
                           struct edl_error *err)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(name, &db, flags | SQLITE_OPEN_NOFOLLOW, NULL);

	*out = NULL;
	if (rc != SQLITE_OK) {
		rc = edl_store_sqlite_error(err, db, rc, "opening");
		sqlite3_close(db);
		return rc;
	}
	sqlite3_extended_result_codes(db, 1);
	rc = edl_store_schema_version(version, db, err);
	if (rc != EDL_OK) {
		sqlite3_close(db);
		return rc;
	}
	*out = db;
	return EDL_OK;
}

/* "file:/a%20b/r.db?immutable=1" for a database on read-only media. */
static void immutable_uri(char *out, size_t len, const char *path)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	n += (size_t)snprintf(out, len, "file:");
	for (const unsigned char *p = (const unsigned char *)path; *p && n + 4 < len; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("/-._~", *p) != NULL) {
			out[n++] = (char)*p;
		} else {
			out[n++] = '%';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 15];
		}
	}
	snprintf(out + n, len - n, "?immutable=1");
}

static int open_reader(sqlite3 **out, const char *path, struct edl_error *err)
{
	sqlite3 *db = NULL;
	struct stat sb;
	int version = 0;
	int rc;

	*out = NULL;
	if (stat(path, &sb) != 0)
		return explain_missing(path, err);
	rc = open_connection(&db, path, SQLITE_OPEN_READONLY, &version, err);
	if (rc != EDL_OK && rc != EDL_E_DB_CORRUPT && rc != EDL_E_DB_BUSY) {
		/* A WAL database on read-only media: no -shm can be made, but
		 * nothing can be writing it either. */
		char uri[8192];
		immutable_uri(uri, sizeof(uri), path);
		rc = open_connection(&db, uri, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, &version,
		                     err);
	}
	if (rc == EDL_E_DB_CORRUPT) {
		rc = edl_error_set(err, rc, "results database %s is not an SQLite database", path);
		goto out;
	}
	if (rc != EDL_OK)
		goto out;
	rc = configure(db, false, path, err);
	if (rc != EDL_OK)
		goto out;
	if (version > EDL_STORE_SCHEMA_VERSION) {
		rc = edl_error_set(
		        err, EDL_E_DB_SCHEMA,
		        "results database %s has schema version %d, this program knows up "
		        "to %d: use a newer edlstation",
		        path, version, EDL_STORE_SCHEMA_VERSION);
	} else if (version == 0) {
		rc = edl_error_set(err, EDL_E_DB, "results database %s holds no edlstation results",
		                   path);
	} else if (version < EDL_STORE_SCHEMA_VERSION) {
		rc = edl_error_set(
		        err, EDL_E_DB_OLD,
		        "results database %s has schema version %d, this program reads %d: "
		        "start the station on it once to upgrade it",
		        path, version, EDL_STORE_SCHEMA_VERSION);
	}
out:
	if (rc != EDL_OK) {
		sqlite3_close(db);
		return name_file(err, rc, path);
	}
	*out = db;
	return EDL_OK;
}

int edl_store_db_open_writer(sqlite3 **out, const char *path, int64_t check_budget_ms,
                             char *check_note, size_t note_len, struct edl_error *err)
{
	sqlite3 *db = NULL;
	char problems[400], copy[4200];
	bool timed_out = false;
	int version = 0;
	int rc;

	*out = NULL;
	if (note_len > 0)
		check_note[0] = '\0';
	rc = open_connection(&db, path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &version, err);
	if (rc == EDL_E_DB_CORRUPT) {
		rc = edl_error_set(err, rc,
		                   "results database %s is not an SQLite database: point [results] "
		                   "database at another file",
		                   path);
		goto out;
	}
	if (rc != EDL_OK)
		goto out;
	if (version > EDL_STORE_SCHEMA_VERSION) {
		rc = edl_error_set(
		        err, EDL_E_DB_SCHEMA,
		        "results database %s has schema version %d, this program knows up "
		        "to %d: use a newer edlstation, or point [results] database at "
		        "another file",
		        path, version, EDL_STORE_SCHEMA_VERSION);
		goto out;
	}
	/* Before anything is written: a damaged file is never written into. */
	rc = edl_store_check(db, false, check_budget_ms, &timed_out, problems, sizeof(problems),
	                     err);
	if (rc == EDL_E_DB_CORRUPT) {
		recovered_name(copy, sizeof(copy), path);
		rc = edl_error_set(
		        err, rc,
		        "results database %s is damaged (quick_check: %.200s): recover it "
		        "with `sqlite3 %s .recover | sqlite3 %s` and point [results] "
		        "database at the copy",
		        path, problems, path, copy);
		goto out;
	}
	if (rc != EDL_OK)
		goto out;
	if (timed_out)
		snprintf(check_note, note_len,
		         "results database %s: quick_check skipped after %" PRId64
		         " ms (a large file); run `edlstation db check --full --db %s` offline",
		         path, check_budget_ms, path);
	rc = configure(db, true, path, err);
	if (rc == EDL_OK)
		rc = edl_store_schema_migrate(db, EDL_STORE_SCHEMA_VERSION, err);
out:
	if (rc != EDL_OK) {
		sqlite3_close(db);
		return name_file(err, rc, path);
	}
	*out = db;
	return EDL_OK;
}

int edl_store_db_open(sqlite3 **out, const char *path, bool writable, struct edl_error *err)
{
	char note[4400];

	if (writable)
		return edl_store_db_open_writer(out, path, 2000, note, sizeof(note), err);
	return open_reader(out, path, err);
}

int edl_store_check_file(const char *path, bool full, struct edl_error *err)
{
	sqlite3 *db = NULL;
	struct stat sb;
	char problems[400], copy[4200];
	bool timed_out;
	int version = 0;
	int rc;

	if (stat(path, &sb) != 0)
		return explain_missing(path, err);
	rc = open_connection(&db, path, SQLITE_OPEN_READONLY, &version, err);
	if (rc != EDL_OK && rc != EDL_E_DB_CORRUPT && rc != EDL_E_DB_BUSY) {
		char uri[8192];
		immutable_uri(uri, sizeof(uri), path);
		rc = open_connection(&db, uri, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, &version,
		                     err);
	}
	if (rc == EDL_OK)
		rc = edl_store_check(db, full, 0, &timed_out, problems, sizeof(problems), err);
	else if (rc == EDL_E_DB_CORRUPT)
		snprintf(problems, sizeof(problems), "not an SQLite database");
	sqlite3_close(db);
	if (rc == EDL_E_DB_CORRUPT) {
		recovered_name(copy, sizeof(copy), path);
		return edl_error_set(err, rc,
		                     "results database %s is damaged (%s: %.200s): recover it with "
		                     "`sqlite3 %s .recover | sqlite3 %s` and point [results] "
		                     "database at the copy",
		                     path, full ? "integrity_check" : "quick_check", problems, path,
		                     copy);
	}
	return rc != EDL_OK ? name_file(err, rc, path) : EDL_OK;
}

int edl_store_open(struct edl_store **out, const char *path, struct edl_error *err)
{
	struct edl_store *s;
	int rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "opening results database %s", path);
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
