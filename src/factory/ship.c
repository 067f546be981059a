/*
 * One batch of the factory sync: the committed runs after the cursor, read
 * from the station's SQLite store, written to PostgreSQL in one transaction,
 * then the cursor advanced in SQLite. Shared by the worker thread (sync.c) and
 * `edlstation sync push` (edl_factory_sync_drain).
 *
 * A batch is read in one SQLite read transaction (a consistent snapshot: the
 * runs with commit_seq in (cursor, last], their steps, failure logs, devices,
 * packages and stations), turned into COPY text rows, copied into temporary
 * tables on the server, and merged from there with INSERT ... ON CONFLICT:
 * a run is keyed by (station, local id), so a batch sent again (the cursor
 * not advanced because the answer was lost, the station killed) changes
 * nothing. Rows are merged in key order so two stations sharing a device or a
 * package cannot deadlock each other. Only once the server's COMMIT is
 * confirmed does the cursor move: it may lag the server, never lead it.
 *
 * The station's name must be unique in the factory: it is the key.
 */
#include "edlstation/factory.h"
#include "edlstation/store.h"
#include "factory_internal.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUSY_TIMEOUT_MS 5000
#define COPY_CHUNK (256 * 1024)

static int sqlite_fail(struct edl_error *err, sqlite3 *db, int rc, const char *what)
{
	return edl_error_set(err, rc == SQLITE_BUSY ? EDL_E_DB_BUSY : EDL_E_DB, "%s: %s", what,
	                     db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

/* The SQL of each read; ?1 = cursor, ?2 = the batch's last commit_seq (or
 * the batch size for q_runs). */
static const char *const sql_runs =
        "SELECT s.name, s.host, r.id, r.commit_seq, r.serial, r.slot, r.slot_label, r.port,"
        " p.manifest_hash, r.attempt, r.retry_of, r.kind, r.product, r.lot, r.work_order,"
        " r.operator, r.start_ms, r.end_ms, r.result, r.stage, r.error, r.error_class, r.message,"
        " r.bytes_written, r.bytes_total, r.duration_ms, r.avg_mbps, r.payload, r.functions,"
        " r.warnings"
        " FROM run r JOIN station s ON s.id = r.station_id"
        " LEFT JOIN package p ON p.id = r.package_id"
        " WHERE r.commit_seq > ?1 AND r.result <> 'running'"
        " ORDER BY r.commit_seq LIMIT ?2";
static const char *const sql_steps =
        "SELECT s.name, t.run_id, t.idx, t.kind, t.label, t.lun, t.start_sector, t.sectors,"
        " t.bytes, t.duration_ms, t.result"
        " FROM run r JOIN station s ON s.id = r.station_id JOIN run_step t ON t.run_id = r.id"
        " WHERE r.commit_seq > ?1 AND r.commit_seq <= ?2 AND r.result <> 'running'";
static const char *const sql_logs =
        "SELECT s.name, l.run_id, l.seq, l.text"
        " FROM run r JOIN station s ON s.id = r.station_id JOIN run_log l ON l.run_id = r.id"
        " WHERE r.commit_seq > ?1 AND r.commit_seq <= ?2 AND r.result <> 'running'";
static const char *const sql_devices =
        "SELECT serial, usb_serial, hw_id, msm_id, oem_id, model_id, pk_hash, first_seen_ms,"
        " last_seen_ms FROM device WHERE serial IN (SELECT serial FROM run"
        "  WHERE commit_seq > ?1 AND commit_seq <= ?2)";
static const char *const sql_packages =
        "SELECT manifest_hash, name, version, storage, bytes FROM package"
        " WHERE id IN (SELECT package_id FROM run WHERE commit_seq > ?1 AND commit_seq <= ?2)";
static const char *const sql_cursor_read = "SELECT last_seq FROM sync_state WHERE target = ?1";
static const char *const sql_cursor_write =
        "INSERT INTO sync_state (target, last_seq, last_ok_ms, last_error) VALUES (?1, ?2, ?3, "
        "NULL) ON CONFLICT (target) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq),"
        " last_ok_ms = excluded.last_ok_ms, last_error = NULL";
static const char *const sql_cursor_rewind =
        "UPDATE sync_state SET last_seq = ?2 WHERE target = ?1";
static const char *const sql_error_write =
        "INSERT INTO sync_state (target, last_seq, last_error) VALUES (?1, 0, ?2)"
        " ON CONFLICT (target) DO UPDATE SET last_error = excluded.last_error";
static const char *const sql_counts = "SELECT (SELECT coalesce(max(commit_seq), 0) FROM run),"
                                      " (SELECT count(*) FROM run WHERE commit_seq > ?1)";

/* The temporary tables a batch is copied into (one set per connection,
 * emptied at each commit), and the merge from them. */
static const char *const pg_temp_tables =
        "SET client_min_messages = warning;"
        "CREATE TEMP TABLE IF NOT EXISTS edl_sync_package (manifest_hash text, name text,"
        " version text, storage text, bytes bigint) ON COMMIT DELETE ROWS;"
        "CREATE TEMP TABLE IF NOT EXISTS edl_sync_device (serial text, usb_serial text,"
        " hw_id text, msm_id text, oem_id text, model_id text, pk_hash text,"
        " first_seen_ms bigint, last_seen_ms bigint) ON COMMIT DELETE ROWS;"
        "CREATE TEMP TABLE IF NOT EXISTS edl_sync_run (station text, local_id bigint,"
        " commit_seq bigint, serial text, slot integer, slot_label text, port text,"
        " package_hash text, attempt integer, retry_of bigint, kind text, product text,"
        " lot text, work_order text, operator text, start_ms bigint, end_ms bigint,"
        " result text, stage text, error text, error_class text, message text,"
        " bytes_written bigint, bytes_total bigint, duration_ms bigint,"
        " avg_mbps double precision, payload integer, functions text, warnings text)"
        " ON COMMIT DELETE ROWS;"
        "CREATE TEMP TABLE IF NOT EXISTS edl_sync_step (station text, local_id bigint,"
        " idx integer, kind text, label text, lun integer, start_sector text, sectors bigint,"
        " bytes bigint, duration_ms bigint, result text) ON COMMIT DELETE ROWS;"
        "CREATE TEMP TABLE IF NOT EXISTS edl_sync_log (station text, local_id bigint,"
        " seq integer, text text) ON COMMIT DELETE ROWS;";

static const char *const pg_merge =
        "INSERT INTO package (manifest_hash, name, version, storage, bytes)"
        " SELECT manifest_hash, name, version, storage, coalesce(bytes, 0)"
        " FROM edl_sync_package ORDER BY manifest_hash"
        " ON CONFLICT (manifest_hash) DO NOTHING;"
        "INSERT INTO device (serial, usb_serial, hw_id, msm_id, oem_id, model_id, pk_hash,"
        " first_seen_ms, last_seen_ms)"
        " SELECT * FROM edl_sync_device ORDER BY serial"
        " ON CONFLICT (serial) DO UPDATE SET"
        "  usb_serial = coalesce(EXCLUDED.usb_serial, device.usb_serial),"
        "  hw_id = coalesce(EXCLUDED.hw_id, device.hw_id),"
        "  msm_id = coalesce(EXCLUDED.msm_id, device.msm_id),"
        "  oem_id = coalesce(EXCLUDED.oem_id, device.oem_id),"
        "  model_id = coalesce(EXCLUDED.model_id, device.model_id),"
        "  pk_hash = coalesce(EXCLUDED.pk_hash, device.pk_hash),"
        "  first_seen_ms = least(device.first_seen_ms, EXCLUDED.first_seen_ms),"
        "  last_seen_ms = greatest(device.last_seen_ms, EXCLUDED.last_seen_ms);"
        "INSERT INTO run (station_id, local_id, commit_seq, serial, slot, slot_label, port,"
        " package_hash, attempt, retry_of, kind, product, lot, work_order, operator, start_ms,"
        " end_ms, result, stage, error, error_class, message, bytes_written, bytes_total,"
        " duration_ms, avg_mbps, payload, functions, warnings)"
        " SELECT s.id, t.local_id, t.commit_seq, t.serial, t.slot, t.slot_label, t.port,"
        " t.package_hash, t.attempt, t.retry_of, t.kind, t.product, t.lot, t.work_order,"
        " t.operator, t.start_ms, t.end_ms, t.result, t.stage, t.error, t.error_class,"
        " t.message, t.bytes_written, t.bytes_total, t.duration_ms, t.avg_mbps, t.payload,"
        " t.functions, t.warnings"
        " FROM edl_sync_run t JOIN station s ON s.name = t.station"
        " ON CONFLICT (station_id, local_id) DO UPDATE SET"
        "  commit_seq = EXCLUDED.commit_seq, serial = EXCLUDED.serial, slot = EXCLUDED.slot,"
        "  slot_label = EXCLUDED.slot_label, port = EXCLUDED.port,"
        "  package_hash = EXCLUDED.package_hash, attempt = EXCLUDED.attempt,"
        "  retry_of = EXCLUDED.retry_of, kind = EXCLUDED.kind, product = EXCLUDED.product,"
        "  lot = EXCLUDED.lot, work_order = EXCLUDED.work_order,"
        "  operator = EXCLUDED.operator, start_ms = EXCLUDED.start_ms,"
        "  end_ms = EXCLUDED.end_ms, result = EXCLUDED.result, stage = EXCLUDED.stage,"
        "  error = EXCLUDED.error, error_class = EXCLUDED.error_class,"
        "  message = EXCLUDED.message, bytes_written = EXCLUDED.bytes_written,"
        "  bytes_total = EXCLUDED.bytes_total, duration_ms = EXCLUDED.duration_ms,"
        "  avg_mbps = EXCLUDED.avg_mbps, payload = EXCLUDED.payload,"
        "  functions = EXCLUDED.functions, warnings = EXCLUDED.warnings;"
        "INSERT INTO run_step (station_id, local_id, idx, kind, label, lun, start_sector,"
        " sectors, bytes, duration_ms, result)"
        " SELECT s.id, t.local_id, t.idx, t.kind, t.label, t.lun, t.start_sector, t.sectors,"
        " t.bytes, t.duration_ms, t.result"
        " FROM edl_sync_step t JOIN station s ON s.name = t.station"
        " ON CONFLICT (station_id, local_id, idx) DO UPDATE SET kind = EXCLUDED.kind,"
        "  label = EXCLUDED.label, lun = EXCLUDED.lun, start_sector = EXCLUDED.start_sector,"
        "  sectors = EXCLUDED.sectors, bytes = EXCLUDED.bytes,"
        "  duration_ms = EXCLUDED.duration_ms, result = EXCLUDED.result;"
        "INSERT INTO run_log (station_id, local_id, seq, text)"
        " SELECT s.id, t.local_id, t.seq, t.text"
        " FROM edl_sync_log t JOIN station s ON s.name = t.station"
        " ON CONFLICT (station_id, local_id, seq) DO UPDATE SET text = EXCLUDED.text;";

static void finalize_all(struct edl_factory_shipper *sh)
{
	sqlite3_stmt **all[] = {&sh->q_runs,         &sh->q_steps,         &sh->q_logs,
	                        &sh->q_devices,      &sh->q_packages,      &sh->q_cursor_read,
	                        &sh->q_cursor_write, &sh->q_cursor_rewind, &sh->q_error_write,
	                        &sh->q_counts};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		sqlite3_finalize(*all[i]);
		*all[i] = NULL;
	}
}

void edl_factory_shipper_init(struct edl_factory_shipper *sh)
{
	memset(sh, 0, sizeof(*sh));
	edl_copy_init(&sh->runs);
	edl_copy_init(&sh->steps);
	edl_copy_init(&sh->logs);
	edl_copy_init(&sh->devices);
	edl_copy_init(&sh->packages);
	sh->batch_runs = 1000;
}

int edl_factory_shipper_open(struct edl_factory_shipper *sh, const char *sqlite_path,
                             const char *target, struct edl_error *err)
{
	struct {
		sqlite3_stmt **st;
		const char *sql;
	} stmts[] = {
	        {&sh->q_runs, sql_runs},
	        {&sh->q_steps, sql_steps},
	        {&sh->q_logs, sql_logs},
	        {&sh->q_devices, sql_devices},
	        {&sh->q_packages, sql_packages},
	        {&sh->q_cursor_read, sql_cursor_read},
	        {&sh->q_cursor_write, sql_cursor_write},
	        {&sh->q_cursor_rewind, sql_cursor_rewind},
	        {&sh->q_error_write, sql_error_write},
	        {&sh->q_counts, sql_counts},
	};
	sqlite3_stmt *v = NULL;
	int version = -1;
	int rc;

	snprintf(sh->target, sizeof(sh->target), "%s", target);
	rc = sqlite3_open_v2(sqlite_path, &sh->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
	                     NULL);
	if (rc != SQLITE_OK) {
		edl_error_set(err, rc == SQLITE_CANTOPEN ? EDL_E_NOENT : EDL_E_DB,
		              "results database %s: %s", sqlite_path,
		              sh->db != NULL ? sqlite3_errmsg(sh->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(sh->db, BUSY_TIMEOUT_MS);
	rc = sqlite3_prepare_v2(sh->db, "PRAGMA user_version", -1, &v, NULL);
	if (rc == SQLITE_OK && sqlite3_step(v) == SQLITE_ROW)
		version = sqlite3_column_int(v, 0);
	sqlite3_finalize(v);
	if (version != EDL_STORE_SCHEMA_VERSION) {
		if (version < 0)
			sqlite_fail(err, sh->db, sqlite3_errcode(sh->db),
			            "reading the schema version");
		else
			edl_error_set(
			        err,
			        version > EDL_STORE_SCHEMA_VERSION ? EDL_E_DB_SCHEMA : EDL_E_DB_OLD,
			        "results database %s: schema version %d, the factory sync reads "
			        "version %d (a station run upgrades an older one)",
			        sqlite_path, version, EDL_STORE_SCHEMA_VERSION);
		goto fail;
	}
	for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
		rc = sqlite3_prepare_v2(sh->db, stmts[i].sql, -1, stmts[i].st, NULL);
		if (rc != SQLITE_OK) {
			sqlite_fail(err, sh->db, rc, "preparing the factory sync's queries");
			goto fail;
		}
	}
	return edl_factory_shipper_load_cursor(sh, err);
fail:
	finalize_all(sh);
	sqlite3_close(sh->db);
	sh->db = NULL;
	return err != NULL && err->code != EDL_OK ? err->code : EDL_E_DB;
}

int edl_factory_shipper_load_cursor(struct edl_factory_shipper *sh, struct edl_error *err)
{
	sqlite3_stmt *st = sh->q_cursor_read;
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, sh->target, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		sh->cursor = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_DONE)
		sh->cursor = 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sqlite_fail(err, sh->db, rc, "reading the sync cursor");
	return EDL_OK;
}

int edl_factory_shipper_counts(struct edl_factory_shipper *sh, int64_t *head, int64_t *waiting,
                               struct edl_error *err)
{
	sqlite3_stmt *st = sh->q_counts;
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, sh->cursor);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*head = sqlite3_column_int64(st, 0);
		*waiting = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return sqlite_fail(err, sh->db, rc, "counting the runs waiting");
	return EDL_OK;
}

int edl_factory_shipper_record_error(struct edl_factory_shipper *sh, const char *text)
{
	sqlite3_stmt *st = sh->q_error_write;
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, sh->target, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? EDL_OK : EDL_E_DB;
}

/* Columns of a row into COPY fields: text, integer (NULL kept) or real. */
static void col_text(struct edl_copy_buf *b, sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	edl_copy_text(b, s, s != NULL ? (size_t)sqlite3_column_bytes(st, i) : 0);
}

static void col_int(struct edl_copy_buf *b, sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		edl_copy_null(b);
	else
		edl_copy_int(b, sqlite3_column_int64(st, i));
}

static void col_real(struct edl_copy_buf *b, sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		edl_copy_null(b);
	else
		edl_copy_real(b, sqlite3_column_double(st, i));
}

/* kinds: 't' text, 'i' integer, 'r' real, one per column from first. */
static void row(struct edl_copy_buf *b, sqlite3_stmt *st, int first, const char *kinds)
{
	for (int i = 0; kinds[i] != '\0'; i++) {
		if (i > 0)
			edl_copy_sep(b);
		switch (kinds[i]) {
		case 'i':
			col_int(b, st, first + i);
			break;
		case 'r':
			col_real(b, st, first + i);
			break;
		default:
			col_text(b, st, first + i);
		}
	}
	edl_copy_eol(b);
}

/* Runs a range query (?1 cursor, ?2 last) into COPY rows. */
static int read_range(struct edl_factory_shipper *sh, sqlite3_stmt *st, int64_t last,
                      struct edl_copy_buf *b, const char *kinds, const char *what,
                      struct edl_error *err)
{
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, sh->cursor);
	sqlite3_bind_int64(st, 2, last);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		row(b, st, 0, kinds);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sqlite_fail(err, sh->db, rc, what);
	return EDL_OK;
}

/* The batch from SQLite: *n runs, the last one's commit_seq in *last. */
static int read_batch(struct edl_factory_shipper *sh, int64_t *n, int64_t *last,
                      struct edl_error *err)
{
	sqlite3_stmt *st = sh->q_runs;
	int rc;

	*n = 0;
	*last = sh->cursor;
	sh->n_stations = 0;
	edl_copy_reset(&sh->runs);
	edl_copy_reset(&sh->steps);
	edl_copy_reset(&sh->logs);
	edl_copy_reset(&sh->devices);
	edl_copy_reset(&sh->packages);
	rc = sqlite3_exec(sh->db, "BEGIN", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return sqlite_fail(err, sh->db, rc, "reading the runs to sync");
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, sh->cursor);
	sqlite3_bind_int64(st, 2, sh->batch_runs);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *host = (const char *)sqlite3_column_text(st, 1);
		size_t k;
		for (k = 0; k < sh->n_stations; k++)
			if (strcmp(sh->stations[k].name, name != NULL ? name : "") == 0)
				break;
		if (k == sh->n_stations && k < EDL_FACTORY_MAX_STATIONS) {
			snprintf(sh->stations[k].name, sizeof(sh->stations[k].name), "%s",
			         name != NULL ? name : "");
			snprintf(sh->stations[k].host, sizeof(sh->stations[k].host), "%s",
			         host != NULL ? host : "");
			sh->n_stations++;
		}
		edl_copy_text(&sh->runs, name, name != NULL ? strlen(name) : 0);
		edl_copy_sep(&sh->runs);
		/* id .. warnings: 28 columns after name and host */
		row(&sh->runs, st, 2, "iititttiitttttiitttttiiiritt");
		*last = sqlite3_column_int64(st, 3);
		(*n)++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		rc = sqlite_fail(err, sh->db, rc, "reading the runs to sync");
		goto out;
	}
	if (*n == 0) {
		rc = EDL_OK;
		goto out;
	}
	rc = read_range(sh, sh->q_steps, *last, &sh->steps, "tiittitiiit", "reading run steps",
	                err);
	if (rc == EDL_OK)
		rc = read_range(sh, sh->q_logs, *last, &sh->logs, "tiit", "reading run logs", err);
	if (rc == EDL_OK)
		rc = read_range(sh, sh->q_devices, *last, &sh->devices, "tttttttii",
		                "reading devices", err);
	if (rc == EDL_OK)
		rc = read_range(sh, sh->q_packages, *last, &sh->packages, "tttti",
		                "reading packages", err);
	if (rc == EDL_OK && (sh->runs.failed || sh->steps.failed || sh->logs.failed ||
	                     sh->devices.failed || sh->packages.failed))
		rc = edl_error_set(err, EDL_E_NOMEM,
		                   "out of memory building a sync batch of %" PRId64 " runs", *n);
out:
	sqlite3_exec(sh->db, "COMMIT", NULL, NULL, NULL);
	return rc;
}

/* COPY table FROM STDIN with the rows in b. */
static int copy_in(PGconn *pg, const char *table, const struct edl_copy_buf *b,
                   struct edl_error *err)
{
	char sql[96];
	char what[96];
	PGresult *res;
	int rc = EDL_OK;

	if (b->len == 0)
		return EDL_OK;
	snprintf(sql, sizeof(sql), "COPY %s FROM STDIN", table);
	snprintf(what, sizeof(what), "copying into %s", table);
	res = PQexec(pg, sql);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		rc = edl_factory_pg_error(err, pg, res, what);
		PQclear(res);
		return rc;
	}
	PQclear(res);
	for (size_t off = 0; off < b->len;) {
		size_t n = b->len - off < COPY_CHUNK ? b->len - off : COPY_CHUNK;
		if (PQputCopyData(pg, b->data + off, (int)n) != 1) {
			rc = edl_factory_pg_error(err, pg, NULL, what);
			break;
		}
		off += n;
	}
	if (PQputCopyEnd(pg, rc == EDL_OK ? NULL : "edlstation: batch abandoned") != 1 &&
	    rc == EDL_OK)
		rc = edl_factory_pg_error(err, pg, NULL, what);
	while ((res = PQgetResult(pg)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == EDL_OK)
			rc = edl_factory_pg_error(err, pg, res, what);
		PQclear(res);
	}
	return rc;
}

static int upsert_stations(struct edl_factory_shipper *sh, int64_t now_ms, struct edl_error *err)
{
	for (size_t i = 0; i < sh->n_stations; i++) {
		char now[24];
		const char *host = sh->stations[i].host[0] ? sh->stations[i].host : sh->host;
		const char *values[4] = {sh->stations[i].name, sh->line[0] ? sh->line : NULL,
		                         host[0] ? host : NULL, now};
		snprintf(now, sizeof(now), "%" PRId64, now_ms);
		PGresult *res = PQexecParams(
		        sh->pg,
		        "INSERT INTO station (name, line, host, first_sync_ms, last_sync_ms)"
		        " VALUES ($1, $2, $3, $4, $4) ON CONFLICT (name) DO UPDATE SET"
		        " line = coalesce(EXCLUDED.line, station.line),"
		        " host = coalesce(EXCLUDED.host, station.host),"
		        " last_sync_ms = EXCLUDED.last_sync_ms",
		        4, NULL, values, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			int rc = edl_factory_pg_error(err, sh->pg, res, "recording the station");
			PQclear(res);
			return rc;
		}
		PQclear(res);
	}
	return EDL_OK;
}

int edl_factory_shipper_connected(struct edl_factory_shipper *sh, int statement_timeout_ms,
                                  struct edl_error *err)
{
	char sql[160];
	int rc;

	snprintf(sql, sizeof(sql),
	         "SET statement_timeout = %d; SET lock_timeout = %d;"
	         " SET idle_in_transaction_session_timeout = %d",
	         statement_timeout_ms, statement_timeout_ms, 2 * statement_timeout_ms);
	rc = edl_factory_pg_exec(sh->pg, sql, "setting the session's timeouts", err);
	if (rc == EDL_OK)
		rc = edl_factory_migrate(sh->pg, err);
	if (rc == EDL_OK)
		rc = edl_factory_pg_exec(sh->pg, pg_temp_tables,
		                         "creating the sync's temporary tables", err);
	if (rc == EDL_OK)
		rc = edl_factory_shipper_load_cursor(sh, err);
	if (rc == EDL_OK)
		rc = edl_factory_shipper_verify_cursor(sh, err);
	return rc;
}

int edl_factory_shipper_verify_cursor(struct edl_factory_shipper *sh, struct edl_error *err)
{
	sqlite3_stmt *st = NULL;
	char station[128] = "", local_id[24] = "";
	bool have_local = false, on_server = false;
	int64_t server_max = 0;
	PGresult *res;
	int rc;

	if (sh->cursor <= 0)
		return EDL_OK;
	rc = sqlite3_prepare_v2(
	        sh->db,
	        "SELECT s.name, r.id FROM run r JOIN station s ON s.id = r.station_id"
	        " WHERE r.commit_seq = ?1",
	        -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, sh->cursor);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			snprintf(station, sizeof(station), "%s",
			         (const char *)sqlite3_column_text(st, 0));
			snprintf(local_id, sizeof(local_id), "%" PRId64,
			         (int64_t)sqlite3_column_int64(st, 1));
			have_local = true;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sqlite_fail(err, sh->db, rc, "reading the run at the sync cursor");
	if (!have_local)
		return EDL_OK; /* nothing to compare with: keep the cursor */
	const char *v1[2] = {station, local_id};
	res = PQexecParams(sh->pg,
	                   "SELECT 1 FROM run r JOIN station s ON s.id = r.station_id"
	                   " WHERE s.name = $1 AND r.local_id = $2",
	                   2, NULL, v1, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = edl_factory_pg_error(err, sh->pg, res, "checking the sync cursor");
		PQclear(res);
		return rc;
	}
	on_server = PQntuples(res) > 0;
	PQclear(res);
	if (on_server)
		return EDL_OK;
	const char *v2[1] = {station};
	res = PQexecParams(sh->pg,
	                   "SELECT coalesce(max(r.commit_seq), 0) FROM run r"
	                   " JOIN station s ON s.id = r.station_id WHERE s.name = $1",
	                   1, NULL, v2, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		rc = edl_factory_pg_error(err, sh->pg, res, "reading the server's last run");
		PQclear(res);
		return rc;
	}
	server_max = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	int64_t cursor = edl_factory_cursor_verified(sh->cursor, false, server_max);
	if (cursor == sh->cursor)
		return EDL_OK;
	sqlite3_reset(sh->q_cursor_rewind);
	sqlite3_bind_text(sh->q_cursor_rewind, 1, sh->target, -1, SQLITE_STATIC);
	sqlite3_bind_int64(sh->q_cursor_rewind, 2, cursor);
	rc = sqlite3_step(sh->q_cursor_rewind);
	sqlite3_reset(sh->q_cursor_rewind);
	if (rc != SQLITE_DONE)
		return sqlite_fail(err, sh->db, rc, "moving the sync cursor back");
	sh->rewound_from = sh->cursor;
	sh->cursor = cursor;
	return EDL_OK;
}

int edl_factory_shipper_batch(struct edl_factory_shipper *sh, int64_t *out_runs,
                              struct edl_error *err)
{
	int64_t n = 0, last = 0;
	int64_t now_ms = edl_store_time_now_ms();
	int rc;

	*out_runs = 0;
	rc = read_batch(sh, &n, &last, err);
	if (rc != EDL_OK || n == 0)
		return rc;
	rc = edl_factory_pg_exec(sh->pg, "BEGIN", "starting the sync transaction", err);
	if (rc != EDL_OK)
		return rc;
	rc = upsert_stations(sh, now_ms, err);
	if (rc == EDL_OK)
		rc = copy_in(sh->pg, "edl_sync_package", &sh->packages, err);
	if (rc == EDL_OK)
		rc = copy_in(sh->pg, "edl_sync_device", &sh->devices, err);
	if (rc == EDL_OK)
		rc = copy_in(sh->pg, "edl_sync_run", &sh->runs, err);
	if (rc == EDL_OK)
		rc = copy_in(sh->pg, "edl_sync_step", &sh->steps, err);
	if (rc == EDL_OK)
		rc = copy_in(sh->pg, "edl_sync_log", &sh->logs, err);
	if (rc == EDL_OK)
		rc = edl_factory_pg_exec(sh->pg, pg_merge, "merging the batch", err);
	if (rc != EDL_OK) {
		PQclear(PQexec(sh->pg, "ROLLBACK"));
		return rc;
	}
	/* The one moment the server holds the batch: only a confirmed COMMIT moves
	 * the cursor. */
	rc = edl_factory_pg_exec(sh->pg, "COMMIT", "committing the batch", err);
	int64_t cursor = edl_factory_cursor_after(sh->cursor, last, rc == EDL_OK);
	if (rc != EDL_OK)
		return rc;
	sqlite3_stmt *st = sh->q_cursor_write;
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, sh->target, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, cursor);
	sqlite3_bind_int64(st, 3, now_ms);
	int src = sqlite3_step(st);
	sqlite3_reset(st);
	/* The server has the batch either way; a cursor that could not be saved
	 * only means a resend (an upsert) after a restart. */
	sh->cursor = cursor;
	sh->last_ok_ms = now_ms;
	*out_runs = n;
	if (src != SQLITE_DONE)
		return sqlite_fail(err, sh->db, src, "saving the sync cursor");
	return EDL_OK;
}

void edl_factory_shipper_close(struct edl_factory_shipper *sh)
{
	if (sh->pg != NULL)
		PQfinish(sh->pg);
	sh->pg = NULL;
	finalize_all(sh);
	if (sh->db != NULL)
		sqlite3_close(sh->db);
	sh->db = NULL;
	edl_copy_free(&sh->runs);
	edl_copy_free(&sh->steps);
	edl_copy_free(&sh->logs);
	edl_copy_free(&sh->devices);
	edl_copy_free(&sh->packages);
}
