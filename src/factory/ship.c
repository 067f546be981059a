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

/* The SQL of each read; ?1 = cursor, ?2 = the batch size (stations, runs)
 * or the batch's last commit_seq (the others). */
static const char *const sql_stations =
        "SELECT DISTINCT s.id, s.name, s.host FROM (SELECT station_id FROM run"
        "  WHERE commit_seq > ?1 AND result <> 'running' ORDER BY commit_seq LIMIT ?2) r"
        " JOIN station s ON s.id = r.station_id";
static const char *const sql_runs =
        "SELECT r.station_id, r.id, r.commit_seq, r.serial, r.slot, r.slot_label, r.port,"
        " p.manifest_hash, r.attempt, r.retry_of, r.kind, r.product, r.lot, r.work_order,"
        " r.operator, r.start_ms, r.end_ms, r.result, r.stage, r.error, r.error_class, r.message,"
        " r.bytes_written, r.bytes_total, r.duration_ms, r.avg_mbps, r.payload, r.functions,"
        " r.warnings"
        " FROM run r LEFT JOIN package p ON p.id = r.package_id"
        " WHERE r.commit_seq > ?1 AND r.result <> 'running'"
        " ORDER BY r.commit_seq LIMIT ?2";
static const char *const sql_steps =
        "SELECT r.station_id, t.run_id, t.idx, t.kind, t.label, t.lun, t.start_sector, t.sectors,"
        " t.bytes, t.duration_ms, t.result"
        " FROM run r JOIN run_step t ON t.run_id = r.id"
        " WHERE r.commit_seq > ?1 AND r.commit_seq <= ?2 AND r.result <> 'running'";
static const char *const sql_logs =
        "SELECT r.station_id, l.run_id, l.seq, l.text"
        " FROM run r JOIN run_log l ON l.run_id = r.id"
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

/* The server's columns, in the order of the COPY rows built here. */
#define RUN_COLS                                                                                   \
	"station_id, local_id, commit_seq, serial, slot, slot_label, port, package_hash, attempt," \
	" retry_of, kind, product, lot, work_order, operator, start_ms, end_ms, result, stage,"    \
	" error, error_class, message, bytes_written, bytes_total, duration_ms, avg_mbps,"         \
	" payload, functions, warnings"
#define STEP_COLS                                                                    \
	"station_id, local_id, idx, kind, label, lun, start_sector, sectors, bytes," \
	" duration_ms, result"
#define LOG_COLS "station_id, local_id, seq, text"

/*
 * The batch's runs are new to the server almost always: they are copied
 * straight into run, run_step and run_log (one COPY each). A resend (the
 * cursor did not move after a lost answer, a station killed mid-batch, two
 * pushes at once) is found first, by key, and takes the slow path instead:
 * COPY into temporary tables of the same columns, then INSERT ... ON
 * CONFLICT. A run is an upsert; its steps and log lines are written in the
 * same transaction as the run and never change after it, so a resent run
 * finds them all there already (DO NOTHING).
 */
/* One probe of run's key per run of the batch (LATERAL ... LIMIT 1 keeps the
 * planner from scanning run: the server may hold millions). */
static const char *const sql_conflicts =
        "SELECT count(*) FROM unnest($1::bigint[], $2::bigint[]) AS k(sid, lid),"
        " LATERAL (SELECT 1 FROM run r WHERE r.station_id = k.sid AND r.local_id = k.lid"
        "  LIMIT 1) AS found";
static const char *const pg_temp_tables =
        "SET LOCAL client_min_messages = warning;"
        "CREATE TEMP TABLE IF NOT EXISTS edl_sync_run AS SELECT " RUN_COLS " FROM run WITH NO DATA;"
        "CREATE TEMP TABLE IF NOT EXISTS edl_sync_step AS SELECT " STEP_COLS
        " FROM run_step WITH NO DATA;"
        "CREATE TEMP TABLE IF NOT EXISTS edl_sync_log AS SELECT " LOG_COLS
        " FROM run_log WITH NO DATA;"
        "TRUNCATE edl_sync_run, edl_sync_step, edl_sync_log";
static const char *const merge_runs =
        "INSERT INTO run (" RUN_COLS ") SELECT " RUN_COLS " FROM edl_sync_run"
        " ON CONFLICT (station_id, local_id) DO UPDATE SET"
        " commit_seq = EXCLUDED.commit_seq, serial = EXCLUDED.serial, slot = EXCLUDED.slot,"
        " slot_label = EXCLUDED.slot_label, port = EXCLUDED.port,"
        " package_hash = EXCLUDED.package_hash, attempt = EXCLUDED.attempt,"
        " retry_of = EXCLUDED.retry_of, kind = EXCLUDED.kind, product = EXCLUDED.product,"
        " lot = EXCLUDED.lot, work_order = EXCLUDED.work_order, operator = EXCLUDED.operator,"
        " start_ms = EXCLUDED.start_ms, end_ms = EXCLUDED.end_ms, result = EXCLUDED.result,"
        " stage = EXCLUDED.stage, error = EXCLUDED.error, error_class = EXCLUDED.error_class,"
        " message = EXCLUDED.message, bytes_written = EXCLUDED.bytes_written,"
        " bytes_total = EXCLUDED.bytes_total, duration_ms = EXCLUDED.duration_ms,"
        " avg_mbps = EXCLUDED.avg_mbps, payload = EXCLUDED.payload,"
        " functions = EXCLUDED.functions, warnings = EXCLUDED.warnings";
static const char *const merge_steps =
        "INSERT INTO run_step (" STEP_COLS ") SELECT " STEP_COLS " FROM edl_sync_step"
        " ON CONFLICT (station_id, local_id, idx) DO NOTHING";
static const char *const merge_logs =
        "INSERT INTO run_log (" LOG_COLS ") SELECT " LOG_COLS " FROM edl_sync_log"
        " ON CONFLICT (station_id, local_id, seq) DO NOTHING";

/* Devices and packages (a few per batch) as array parameters. Rows merged in
 * key order: two stations sharing a device or a package cannot deadlock. */
static const char *const merge_packages =
        "INSERT INTO package (manifest_hash, name, version, storage, bytes)"
        " SELECT h, n, v, s, coalesce(b, 0)"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])"
        "  AS p(h, n, v, s, b) ORDER BY h"
        " ON CONFLICT (manifest_hash) DO NOTHING";
static const char *const merge_devices =
        "INSERT INTO device (serial, usb_serial, hw_id, msm_id, oem_id, model_id, pk_hash,"
        " first_seen_ms, last_seen_ms)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
        "  $6::text[], $7::text[], $8::bigint[], $9::bigint[]) AS d ORDER BY 1"
        " ON CONFLICT (serial) DO UPDATE SET"
        " usb_serial = coalesce(EXCLUDED.usb_serial, device.usb_serial),"
        " hw_id = coalesce(EXCLUDED.hw_id, device.hw_id),"
        " msm_id = coalesce(EXCLUDED.msm_id, device.msm_id),"
        " oem_id = coalesce(EXCLUDED.oem_id, device.oem_id),"
        " model_id = coalesce(EXCLUDED.model_id, device.model_id),"
        " pk_hash = coalesce(EXCLUDED.pk_hash, device.pk_hash),"
        " first_seen_ms = least(device.first_seen_ms, EXCLUDED.first_seen_ms),"
        " last_seen_ms = greatest(device.last_seen_ms, EXCLUDED.last_seen_ms)";

static void finalize_all(struct edl_factory_shipper *sh)
{
	sqlite3_stmt **all[] = {&sh->q_stations,    &sh->q_runs,         &sh->q_steps,
	                        &sh->q_logs,        &sh->q_devices,      &sh->q_packages,
	                        &sh->q_cursor_read, &sh->q_cursor_write, &sh->q_cursor_rewind,
	                        &sh->q_error_write, &sh->q_counts};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		sqlite3_finalize(*all[i]);
		*all[i] = NULL;
	}
}

/* Every buffer of a batch, for init, reset and free. */
static size_t batch_buffers(struct edl_factory_shipper *sh, struct edl_copy_buf **out)
{
	size_t n = 0;
	out[n++] = &sh->runs;
	out[n++] = &sh->steps;
	out[n++] = &sh->logs;
	out[n++] = &sh->key_station;
	out[n++] = &sh->key_local;
	for (size_t i = 0; i < 9; i++)
		out[n++] = &sh->devices[i];
	for (size_t i = 0; i < 5; i++)
		out[n++] = &sh->packages[i];
	return n;
}

void edl_factory_shipper_init(struct edl_factory_shipper *sh)
{
	struct edl_copy_buf *bufs[32];

	memset(sh, 0, sizeof(*sh));
	for (size_t i = 0, n = batch_buffers(sh, bufs); i < n; i++)
		edl_copy_init(bufs[i]);
	sh->batch_runs = 1000;
}

int edl_factory_shipper_open(struct edl_factory_shipper *sh, const char *sqlite_path,
                             const char *target, struct edl_error *err)
{
	struct {
		sqlite3_stmt **st;
		const char *sql;
	} stmts[] = {
	        {&sh->q_stations, sql_stations},
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
		              "results database %s: %s%s", sqlite_path,
		              sh->db != NULL ? sqlite3_errmsg(sh->db) : sqlite3_errstr(rc),
		              rc == SQLITE_CANTOPEN ? " (no such file, or no permission: give the "
		                                      "station's [results] database)"
		                                    : "");
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

/* The server's id of a station by its SQLite id (-1: not in the batch's list). */
static int64_t server_station(const struct edl_factory_shipper *sh, int64_t local_id)
{
	for (size_t i = 0; i < sh->n_stations; i++)
		if (sh->stations[i].local_id == local_id)
			return sh->stations[i].server_id;
	return -1;
}

/* One COPY row: the server's station id (for SQLite's in column 0), then the
 * columns from 1 on, by kinds: 't' text, 'i' integer, 'r' real. */
static bool copy_row(struct edl_factory_shipper *sh, struct edl_copy_buf *b, sqlite3_stmt *st,
                     const char *kinds)
{
	int64_t station = server_station(sh, sqlite3_column_int64(st, 0));

	if (station < 0)
		return false;
	edl_copy_int(b, station);
	for (int i = 0; kinds[i] != '\0'; i++) {
		edl_copy_sep(b);
		switch (kinds[i]) {
		case 'i':
			col_int(b, st, 1 + i);
			break;
		case 'r':
			col_real(b, st, 1 + i);
			break;
		default:
			col_text(b, st, 1 + i);
		}
	}
	edl_copy_eol(b);
	return true;
}

static void col_array_text(struct edl_copy_buf *b, sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	edl_array_text(b, s, s != NULL ? (size_t)sqlite3_column_bytes(st, i) : 0);
}

/* One row into column arrays (one buffer per column): 't' text, 'i' integer. */
static void array_row(struct edl_copy_buf *cols, sqlite3_stmt *st, const char *kinds)
{
	for (int i = 0; kinds[i] != '\0'; i++) {
		struct edl_copy_buf *b = &cols[i];
		edl_copy_char(b, b->len == 0 ? '{' : ',');
		if (sqlite3_column_type(st, i) == SQLITE_NULL)
			edl_array_text(b, NULL, 0);
		else if (kinds[i] == 'i')
			edl_copy_int(b, sqlite3_column_int64(st, i));
		else
			col_array_text(b, st, i);
	}
}

static void array_end(struct edl_copy_buf *cols, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (cols[i].len == 0)
			edl_copy_char(&cols[i], '{');
		edl_copy_char(&cols[i], '}');
		edl_copy_char(&cols[i], '\0');
	}
}

static void bind_range(sqlite3_stmt *st, int64_t from, int64_t to)
{
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, from);
	sqlite3_bind_int64(st, 2, to);
}

/* Steps or logs of the batch's runs into COPY rows. */
static int read_rows(struct edl_factory_shipper *sh, sqlite3_stmt *st, int64_t last,
                     struct edl_copy_buf *b, const char *kinds, const char *what,
                     struct edl_error *err)
{
	int rc;

	bind_range(st, sh->cursor, last);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		copy_row(sh, b, st, kinds);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sqlite_fail(err, sh->db, rc, what);
	return EDL_OK;
}

/* Devices or packages of the batch into column arrays. */
static int read_arrays(struct edl_factory_shipper *sh, sqlite3_stmt *st, int64_t last,
                       struct edl_copy_buf *cols, const char *kinds, const char *what,
                       struct edl_error *err)
{
	int rc;

	bind_range(st, sh->cursor, last);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		array_row(cols, st, kinds);
	sqlite3_reset(st);
	array_end(cols, strlen(kinds));
	if (rc != SQLITE_DONE)
		return sqlite_fail(err, sh->db, rc, what);
	return EDL_OK;
}

/* The stations of the next batch, from SQLite (inside its read transaction). */
static int read_stations(struct edl_factory_shipper *sh, struct edl_error *err)
{
	sqlite3_stmt *st = sh->q_stations;
	int rc;

	sh->n_stations = 0;
	bind_range(st, sh->cursor, sh->batch_runs);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 1);
		const char *host = (const char *)sqlite3_column_text(st, 2);
		if (sh->n_stations == EDL_FACTORY_MAX_STATIONS) {
			sqlite3_reset(st);
			return edl_error_set(err, EDL_E_RANGE,
			                     "more than %d station names in one sync batch: lower "
			                     "[factory] batch",
			                     EDL_FACTORY_MAX_STATIONS);
		}
		sh->stations[sh->n_stations].local_id = sqlite3_column_int64(st, 0);
		sh->stations[sh->n_stations].server_id = -1;
		snprintf(sh->stations[sh->n_stations].name, sizeof(sh->stations[0].name), "%s",
		         name != NULL ? name : "");
		snprintf(sh->stations[sh->n_stations].host, sizeof(sh->stations[0].host), "%s",
		         host != NULL ? host : "");
		sh->n_stations++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sqlite_fail(err, sh->db, rc, "reading the stations to sync");
	return EDL_OK;
}

/* Records the batch's stations on the server (line, host, last sync) and
 * learns their ids there. */
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
		        " last_sync_ms = EXCLUDED.last_sync_ms RETURNING id",
		        4, NULL, values, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
			int rc = edl_factory_pg_error(err, sh->pg, res, "recording the station");
			PQclear(res);
			return rc;
		}
		sh->stations[i].server_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
	}
	return EDL_OK;
}

/*
 * Reads the batch (runs after the cursor, at most batch_runs, and what goes
 * with them) inside one SQLite read transaction, the stations recorded on the
 * server first (the rows carry the server's station ids). *n runs, the last
 * one's commit_seq in *last. The server transaction is open on return when
 * *n > 0.
 */
static int read_batch(struct edl_factory_shipper *sh, int64_t now_ms, int64_t *n, int64_t *last,
                      struct edl_error *err)
{
	struct edl_copy_buf *bufs[32];
	sqlite3_stmt *st = sh->q_runs;
	int rc;

	*n = 0;
	*last = sh->cursor;
	for (size_t i = 0, nb = batch_buffers(sh, bufs); i < nb; i++)
		edl_copy_reset(bufs[i]);
	rc = sqlite3_exec(sh->db, "BEGIN", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return sqlite_fail(err, sh->db, rc, "reading the runs to sync");
	rc = read_stations(sh, err);
	if (rc != EDL_OK || sh->n_stations == 0)
		goto out;
	rc = edl_factory_pg_exec(sh->pg, "BEGIN", "starting the sync transaction", err);
	if (rc == EDL_OK)
		rc = upsert_stations(sh, now_ms, err);
	if (rc != EDL_OK)
		goto out;
	bind_range(st, sh->cursor, sh->batch_runs);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		/* r.id .. warnings after r.station_id */
		if (!copy_row(sh, &sh->runs, st, "iititttiitttttiitttttiiiritt"))
			break; /* a station the first read did not see: the next batch */
		edl_copy_char(&sh->key_station, sh->key_station.len == 0 ? '{' : ',');
		edl_copy_int(&sh->key_station, server_station(sh, sqlite3_column_int64(st, 0)));
		edl_copy_char(&sh->key_local, sh->key_local.len == 0 ? '{' : ',');
		edl_copy_int(&sh->key_local, sqlite3_column_int64(st, 1));
		*last = sqlite3_column_int64(st, 2);
		(*n)++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		rc = sqlite_fail(err, sh->db, rc, "reading the runs to sync");
		goto out;
	}
	array_end(&sh->key_station, 1);
	array_end(&sh->key_local, 1);
	rc = EDL_OK;
	if (*n == 0)
		goto out;
	rc = read_rows(sh, sh->q_steps, *last, &sh->steps, "iittitiiit", "reading run steps", err);
	if (rc == EDL_OK)
		rc = read_rows(sh, sh->q_logs, *last, &sh->logs, "iit", "reading run logs", err);
	if (rc == EDL_OK)
		rc = read_arrays(sh, sh->q_devices, *last, sh->devices, "tttttttii",
		                 "reading devices", err);
	if (rc == EDL_OK)
		rc = read_arrays(sh, sh->q_packages, *last, sh->packages, "tttti",
		                 "reading packages", err);
	if (rc == EDL_OK) {
		for (size_t i = 0, nb = batch_buffers(sh, bufs); i < nb; i++)
			if (bufs[i]->failed)
				rc = edl_error_set(err, EDL_E_NOMEM,
				                   "out of memory building a sync batch of %" PRId64
				                   " runs",
				                   *n);
	}
out:
	sqlite3_exec(sh->db, "COMMIT", NULL, NULL, NULL);
	return rc;
}

/* COPY table (columns) FROM STDIN with the rows in b. */
static int copy_in(PGconn *pg, const char *table, const char *columns, const struct edl_copy_buf *b,
                   struct edl_error *err)
{
	char sql[512];
	char what[96];
	PGresult *res;
	int rc = EDL_OK;

	if (b->len == 0)
		return EDL_OK;
	snprintf(sql, sizeof(sql), "COPY %s (%s) FROM STDIN", table, columns);
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

/* A statement with array parameters (NUL-terminated literals in bufs). */
static int exec_arrays(PGconn *pg, const char *sql, struct edl_copy_buf *bufs, int n,
                       const char *what, struct edl_error *err)
{
	const char *values[9];
	PGresult *res;
	int rc = EDL_OK;

	for (int i = 0; i < n; i++)
		values[i] = bufs[i].data;
	res = PQexecParams(pg, sql, n, NULL, values, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = edl_factory_pg_error(err, pg, res, what);
	PQclear(res);
	return rc;
}

/* How many of the batch's runs the server holds already. */
static int count_conflicts(struct edl_factory_shipper *sh, int64_t *out, struct edl_error *err)
{
	const char *values[2] = {sh->key_station.data, sh->key_local.data};
	PGresult *res = PQexecParams(sh->pg, sql_conflicts, 2, NULL, values, NULL, NULL, 0);
	int rc = EDL_OK;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		rc = edl_factory_pg_error(err, sh->pg, res, "looking for runs sent before");
	else
		*out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return rc;
}

/* The rows into the server, inside its open transaction. */
static int write_batch(struct edl_factory_shipper *sh, struct edl_error *err)
{
	int64_t conflicts = 0;
	int rc;

	rc = exec_arrays(sh->pg, merge_packages, sh->packages, 5, "merging packages", err);
	if (rc == EDL_OK)
		rc = exec_arrays(sh->pg, merge_devices, sh->devices, 9, "merging devices", err);
	if (rc == EDL_OK)
		rc = count_conflicts(sh, &conflicts, err);
	if (rc != EDL_OK)
		return rc;
	if (conflicts == 0) {
		rc = copy_in(sh->pg, "run", RUN_COLS, &sh->runs, err);
		if (rc == EDL_OK)
			rc = copy_in(sh->pg, "run_step", STEP_COLS, &sh->steps, err);
		if (rc == EDL_OK)
			rc = copy_in(sh->pg, "run_log", LOG_COLS, &sh->logs, err);
		return rc;
	}
	sh->slow_batches++;
	rc = edl_factory_pg_exec(sh->pg, pg_temp_tables, "preparing the resend", err);
	if (rc == EDL_OK)
		rc = copy_in(sh->pg, "edl_sync_run", RUN_COLS, &sh->runs, err);
	if (rc == EDL_OK)
		rc = copy_in(sh->pg, "edl_sync_step", STEP_COLS, &sh->steps, err);
	if (rc == EDL_OK)
		rc = copy_in(sh->pg, "edl_sync_log", LOG_COLS, &sh->logs, err);
	if (rc == EDL_OK)
		rc = edl_factory_pg_exec(sh->pg, merge_runs, "merging runs", err);
	if (rc == EDL_OK)
		rc = edl_factory_pg_exec(sh->pg, merge_steps, "merging run steps", err);
	if (rc == EDL_OK)
		rc = edl_factory_pg_exec(sh->pg, merge_logs, "merging run logs", err);
	return rc;
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
	rc = read_batch(sh, now_ms, &n, &last, err);
	if (rc == EDL_OK && n > 0)
		rc = write_batch(sh, err);
	if (rc != EDL_OK || n == 0) {
		if (PQtransactionStatus(sh->pg) != PQTRANS_IDLE)
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
	struct edl_copy_buf *bufs[32];

	if (sh->pg != NULL)
		PQfinish(sh->pg);
	sh->pg = NULL;
	finalize_all(sh);
	if (sh->db != NULL)
		sqlite3_close(sh->db);
	sh->db = NULL;
	for (size_t i = 0, n = batch_buffers(sh, bufs); i < n; i++)
		edl_copy_free(bufs[i]);
}
