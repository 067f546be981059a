/*
 * The factory database's schema (PostgreSQL), as versioned migrations: the
 * server-side twin of src/store/schema.c. Every station ships its committed
 * runs here (src/factory/sync.c); reports read it (src/factory/report.c).
 *
 * A run is keyed by (station, local_id): the station's name and the run's id
 * in that station's SQLite store, so a resend after a crash or a lost answer
 * is an upsert, never a second row. commit_seq is the station's order of
 * commit (run.commit_seq in SQLite) and the sync cursor's unit.
 *
 * Migrations run in order inside one transaction each, under an advisory lock
 * (several stations may start at once); edl_schema holds the version reached.
 */
#include "factory_internal.h"

const char *const edl_factory_pg_migrations[] = {
        NULL, /* version 0: the empty database */
        "CREATE TABLE station ("
        " id bigserial PRIMARY KEY,"
        " name text NOT NULL UNIQUE,"
        " line text,"
        " host text,"
        " first_sync_ms bigint NOT NULL,"
        " last_sync_ms bigint NOT NULL);"
        "CREATE TABLE package ("
        " manifest_hash text PRIMARY KEY,"
        " name text, version text, storage text,"
        " bytes bigint NOT NULL DEFAULT 0);"
        "CREATE TABLE device ("
        " serial text PRIMARY KEY,"
        " usb_serial text, hw_id text, msm_id text, oem_id text, model_id text, pk_hash text,"
        " first_seen_ms bigint NOT NULL, last_seen_ms bigint NOT NULL);"
        "CREATE TABLE run ("
        " station_id bigint NOT NULL REFERENCES station(id),"
        " local_id bigint NOT NULL,"
        " commit_seq bigint NOT NULL,"
        " serial text,"
        " slot integer NOT NULL,"
        " slot_label text,"
        " port text,"
        " package_hash text,"
        " attempt integer NOT NULL DEFAULT 1,"
        " retry_of bigint," /* local_id of the run it retried, same station */
        " kind text NOT NULL DEFAULT 'flash',"
        " product text, lot text, work_order text, operator text,"
        " start_ms bigint NOT NULL,"
        " end_ms bigint,"
        " result text NOT NULL CHECK (result IN ('pass', 'fail', 'interrupted')),"
        " stage text, error text, error_class text, message text,"
        " bytes_written bigint NOT NULL DEFAULT 0,"
        " bytes_total bigint,"
        " duration_ms bigint,"
        " avg_mbps double precision,"
        " payload integer,"
        " functions text, warnings text,"
        " PRIMARY KEY (station_id, local_id));"
        "CREATE INDEX run_by_start ON run (start_ms);"
        "CREATE INDEX run_by_serial ON run (serial, start_ms);"
        "CREATE TABLE run_step ("
        " station_id bigint NOT NULL,"
        " local_id bigint NOT NULL,"
        " idx integer NOT NULL,"
        " kind text NOT NULL, label text, lun integer, start_sector text,"
        " sectors bigint, bytes bigint, duration_ms bigint,"
        " result text NOT NULL,"
        " PRIMARY KEY (station_id, local_id, idx),"
        " FOREIGN KEY (station_id, local_id) REFERENCES run ON DELETE CASCADE);"
        "CREATE TABLE run_log ("
        " station_id bigint NOT NULL,"
        " local_id bigint NOT NULL,"
        " seq integer NOT NULL,"
        " text text NOT NULL,"
        " PRIMARY KEY (station_id, local_id, seq),"
        " FOREIGN KEY (station_id, local_id) REFERENCES run ON DELETE CASCADE);",
};

const int edl_factory_pg_schema_version =
        (int)(sizeof(edl_factory_pg_migrations) / sizeof(edl_factory_pg_migrations[0])) - 1;
