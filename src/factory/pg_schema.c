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
 * The report's summaries count flashing runs only (kind 'flash'), as the
 * SQLite report does: a memory dump, a backup or a restore is not a flash
 * outcome.
 *
 * Migrations run in order inside one transaction each, under an advisory lock
 * (several stations may start at once); edl_schema holds the version reached.
 */
#include "factory_internal.h"

#include <stddef.h>

/*
 * Version 2: the factory report's summaries (src/factory/report.c), kept by
 * statement-level triggers on run so that the sync stays a plain upsert and a
 * report over the whole database reads a few hundred thousand summary rows
 * instead of every run. Each trigger works per statement on its transition
 * tables (one set-based pass per batch the sync sends, not one per row):
 *
 *   report_group     the runs per (station, slot, port, label, package, result,
 *                    stage, error, class): counts, bytes, summed durations,
 *                    first start, last end, the latest run (for the slot's port)
 *   report_duration  passed runs per duration in ms (exact nearest-rank p50/p95)
 *   report_unit      per serial: run count, first and last run (start, station,
 *                    local id, result 1 pass / 2 fail / 3 interrupted), ordered
 *                    by (start_ms, station_id, local_id)
 *   report_unit_hour units per (hour of the first run, station of the first
 *                    run): units, first-pass, passed, retested, retests
 *
 * Inserts add, deletes subtract, updates (a resend) subtract the old rows and
 * add the new; new runs merge into their units' rows (first and last run
 * compared), a unit touched by an update or delete is recomputed from its
 * runs (run_by_serial). Counts are exact; a group's first start, last end and
 * latest run only grow (an update that moves a run earlier leaves them as
 * they were; report_summaries_rebuild() recomputes everything). Rows are
 * upserted in key order so that two stations' batches wait for, never
 * deadlock on, a shared row. Also the indexes the filtered report uses.
 */
/* clang-format off */
#define GROUP_KEYS                                                                       \
	"station_id, slot, coalesce(port, ''), coalesce(slot_label, ''),"                \
	" coalesce(package_hash, ''), result, coalesce(stage, ''), coalesce(error, '')," \
	" coalesce(error_class, '')"
#define GROUP_COLS \
	"station_id, slot, port, slot_label, package_hash, result, stage, error, error_class"
#define GROUP_UPSERT(src, sign, on_conflict)                                                  \
	"INSERT INTO report_group AS g (" GROUP_COLS ", runs, bytes_written, duration_sum,"   \
	" durations, min_start, max_end, latest_start, latest_local)"                         \
	" SELECT " GROUP_KEYS ", " sign "count(*), " sign "coalesce(sum(bytes_written), 0),"  \
	" " sign "coalesce(sum(duration_ms), 0), " sign "count(duration_ms), min(start_ms),"  \
	" max(greatest(start_ms, end_ms)), (max(ARRAY[start_ms, local_id]))[1],"              \
	" (max(ARRAY[start_ms, local_id]))[2]"                                                \
	" FROM " src " WHERE kind = 'flash'"                                                   \
	" GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9"             \
	" ON CONFLICT (" GROUP_COLS ") DO UPDATE SET runs = g.runs + EXCLUDED.runs,"          \
	" bytes_written = g.bytes_written + EXCLUDED.bytes_written,"                          \
	" duration_sum = g.duration_sum + EXCLUDED.duration_sum,"                             \
	" durations = g.durations + EXCLUDED.durations" on_conflict ";"
#define GROUP_GROW                                                                      \
	", min_start = least(g.min_start, EXCLUDED.min_start),"                         \
	" max_end = greatest(g.max_end, EXCLUDED.max_end),"                             \
	" latest_start = CASE WHEN ARRAY[EXCLUDED.latest_start, EXCLUDED.latest_local]" \
	" > ARRAY[g.latest_start, g.latest_local] THEN EXCLUDED.latest_start"           \
	" ELSE g.latest_start END,"                                                     \
	" latest_local = CASE WHEN ARRAY[EXCLUDED.latest_start, EXCLUDED.latest_local]" \
	" > ARRAY[g.latest_start, g.latest_local] THEN EXCLUDED.latest_local"           \
	" ELSE g.latest_local END"
#define DURATION_UPSERT(src, sign)                                                 \
	"INSERT INTO report_duration AS d (duration_ms, passes)"                   \
	" SELECT duration_ms, " sign "count(*) FROM " src                          \
	" WHERE kind = 'flash' AND result = 'pass' AND duration_ms IS NOT NULL"    \
	" GROUP BY 1 ORDER BY 1"                                                   \
	" ON CONFLICT (duration_ms) DO UPDATE SET passes = d.passes + EXCLUDED.passes;"
/* The units named by affected (a query of serials), folded into or out of report_unit_hour. */
#define UNIT_HOUR_UPSERT(affected, sign)                                                      \
	"WITH a AS (" affected ")"                                                            \
	" INSERT INTO report_unit_hour AS h (hour_ms, station_id, units, first_pass_units,"   \
	" passed_units, retested_units, retests)"                                             \
	" SELECT first_start - ((first_start % 3600000) + 3600000) % 3600000, first_station," \
	" " sign "count(*), " sign "count(*) FILTER (WHERE first_result = 1),"                \
	" " sign "count(*) FILTER (WHERE last_result = 1),"                                   \
	" " sign "count(*) FILTER (WHERE runs > 1), " sign "sum(runs - 1)"                    \
	" FROM report_unit WHERE serial IN (SELECT serial FROM a)"                            \
	" GROUP BY 1, 2 ORDER BY 1, 2"                                                        \
	" ON CONFLICT (hour_ms, station_id) DO UPDATE SET units = h.units + EXCLUDED.units,"  \
	" first_pass_units = h.first_pass_units + EXCLUDED.first_pass_units,"                 \
	" passed_units = h.passed_units + EXCLUDED.passed_units,"                             \
	" retested_units = h.retested_units + EXCLUDED.retested_units,"                       \
	" retests = h.retests + EXCLUDED.retests;"
#define RUN_ORDER                               \
	"ARRAY[start_ms, station_id, local_id," \
	" CASE result WHEN 'pass' THEN 1 WHEN 'fail' THEN 2 ELSE 3 END]"
#define UNIT_REFRESH(affected)                                                                     \
	UNIT_HOUR_UPSERT(affected, "-")                                                            \
	"WITH a AS (" affected ") DELETE FROM report_unit WHERE serial IN (SELECT serial FROM a);" \
	"WITH a AS (" affected ")"                                                                 \
	UNIT_INSERT("serial IN (SELECT serial FROM a)") UNIT_HOUR_UPSERT(affected, "")
/* report_unit's rows for the runs matching cond, with the words of the last run
 * when it did not pass (the failed units' list reads them without a join). */
#define UNIT_INSERT(cond)                                                                          \
	" INSERT INTO report_unit (serial, runs, first_start, first_station, first_local,"         \
	" first_result, last_start, last_station, last_local, last_result, last_slot, last_port,"  \
	" last_label, last_stage, last_error, last_class, last_message)"                           \
	" SELECT x.serial, x.n, f[1], f[2], f[3], f[4], l[1], l[2], l[3], l[4], r.slot, r.port,"   \
	" r.slot_label, r.stage, r.error, r.error_class, r.message FROM ("                         \
	"  SELECT serial, count(*) AS n, min(" RUN_ORDER ") AS f, max(" RUN_ORDER ") AS l"         \
	"  FROM run WHERE kind = 'flash' AND (" cond ") GROUP BY serial) x"                        \
	" LEFT JOIN run r ON x.l[4] <> 1 AND r.station_id = x.l[2] AND r.local_id = x.l[3]"        \
	" ORDER BY x.serial;"
/* New runs only (the INSERT trigger): each unit's row merged with the batch's
 * runs, no reading of the run table: runs added, the earlier first run and
 * the later last run (with its words) kept. */
#define UNIT_WIN(col, cmp, side)                                                                   \
	" " col " = CASE WHEN ARRAY[EXCLUDED." side "_start, EXCLUDED." side "_station,"           \
	" EXCLUDED." side "_local] " cmp " ARRAY[u." side "_start, u." side "_station, u." side    \
	"_local] THEN EXCLUDED." col " ELSE u." col " END"
#define UNIT_MERGE(src)                                                                            \
	"WITH b AS (SELECT serial, count(*) AS n, min(" RUN_ORDER ") AS f, max(" RUN_ORDER ") AS l" \
	" FROM " src " WHERE serial IS NOT NULL AND kind = 'flash' GROUP BY serial)"               \
	" INSERT INTO report_unit AS u (serial, runs, first_start, first_station, first_local,"    \
	" first_result, last_start, last_station, last_local, last_result, last_slot, last_port,"  \
	" last_label, last_stage, last_error, last_class, last_message)"                           \
	" SELECT b.serial, b.n, f[1], f[2], f[3], f[4], l[1], l[2], l[3], l[4], r.slot, r.port,"   \
	" r.slot_label, r.stage, r.error, r.error_class, r.message FROM b LEFT JOIN " src " r"      \
	" ON b.l[4] <> 1 AND r.station_id = b.l[2] AND r.local_id = b.l[3] ORDER BY b.serial"      \
	" ON CONFLICT (serial) DO UPDATE SET runs = u.runs + EXCLUDED.runs,"                       \
	UNIT_WIN("first_result", "<", "first") ","                                                 \
	UNIT_WIN("last_result", ">", "last") "," UNIT_WIN("last_slot", ">", "last") ","            \
	UNIT_WIN("last_port", ">", "last") "," UNIT_WIN("last_label", ">", "last") ","             \
	UNIT_WIN("last_stage", ">", "last") "," UNIT_WIN("last_error", ">", "last") ","            \
	UNIT_WIN("last_class", ">", "last") "," UNIT_WIN("last_message", ">", "last") ","          \
	/* (every SET expression reads the old row, whatever the order) */                       \
	UNIT_WIN("first_station", "<", "first") "," UNIT_WIN("first_local", "<", "first") ","     \
	UNIT_WIN("first_start", "<", "first") "," UNIT_WIN("last_station", ">", "last") ","        \
	UNIT_WIN("last_local", ">", "last") "," UNIT_WIN("last_start", ">", "last") ";"
#define SERIALS_OF(t) "SELECT DISTINCT serial FROM " t " WHERE serial IS NOT NULL AND kind = 'flash'"

#define REPORT_SUMMARIES_V2                                                                        \
	"CREATE INDEX run_by_station_start ON run (station_id, start_ms);"                         \
	"CREATE INDEX run_by_end ON run (end_ms);"                                                 \
	"CREATE TABLE report_group ("                                                              \
	" station_id bigint NOT NULL, slot integer NOT NULL, port text NOT NULL,"                  \
	" slot_label text NOT NULL, package_hash text NOT NULL, result text NOT NULL,"             \
	" stage text NOT NULL, error text NOT NULL, error_class text NOT NULL,"                    \
	" runs bigint NOT NULL, bytes_written bigint NOT NULL, duration_sum bigint NOT NULL,"      \
	" durations bigint NOT NULL, min_start bigint NOT NULL, max_end bigint NOT NULL,"          \
	" latest_start bigint NOT NULL, latest_local bigint NOT NULL,"                             \
	" PRIMARY KEY (" GROUP_COLS "));"                                                          \
	"CREATE TABLE report_duration ("                                                           \
	" duration_ms bigint PRIMARY KEY, passes bigint NOT NULL);"                                \
	"CREATE TABLE report_unit ("                                                               \
	" serial text PRIMARY KEY, runs bigint NOT NULL,"                                          \
	" first_start bigint NOT NULL, first_station bigint NOT NULL,"                             \
	" first_local bigint NOT NULL, first_result smallint NOT NULL,"                            \
	" last_start bigint NOT NULL, last_station bigint NOT NULL,"                               \
	" last_local bigint NOT NULL, last_result smallint NOT NULL,"                              \
	" last_slot integer, last_port text, last_label text, last_stage text, last_error text,"   \
	" last_class text, last_message text);"                                                    \
	"CREATE INDEX report_unit_failed ON report_unit"                                           \
	" (last_start DESC, last_station DESC, last_local DESC) WHERE last_result <> 1;"           \
	"CREATE TABLE report_unit_hour ("                                                          \
	" hour_ms bigint NOT NULL, station_id bigint NOT NULL, units bigint NOT NULL,"             \
	" first_pass_units bigint NOT NULL, passed_units bigint NOT NULL,"                         \
	" retested_units bigint NOT NULL, retests bigint NOT NULL,"                                \
	" PRIMARY KEY (hour_ms, station_id));"                                                     \
	"CREATE FUNCTION report_summaries_fold() RETURNS trigger LANGUAGE plpgsql AS $fold$"       \
	" BEGIN"                                                                                   \
	" IF TG_OP = 'INSERT' THEN "                                                               \
	GROUP_UPSERT("new_rows", "", GROUP_GROW)                                                   \
	DURATION_UPSERT("new_rows", "")                                                            \
	UNIT_HOUR_UPSERT(SERIALS_OF("new_rows"), "-")                                              \
	UNIT_MERGE("new_rows")                                                                     \
	UNIT_HOUR_UPSERT(SERIALS_OF("new_rows"), "")                                               \
	" ELSIF TG_OP = 'UPDATE' THEN "                                                            \
	GROUP_UPSERT("old_rows", "-", "")                                                          \
	DURATION_UPSERT("old_rows", "-")                                                           \
	GROUP_UPSERT("new_rows", "", GROUP_GROW)                                                   \
	DURATION_UPSERT("new_rows", "")                                                            \
	UNIT_REFRESH(SERIALS_OF("new_rows") " UNION " SERIALS_OF("old_rows"))                      \
	" ELSE "                                                                                   \
	GROUP_UPSERT("old_rows", "-", "")                                                          \
	DURATION_UPSERT("old_rows", "-")                                                           \
	UNIT_REFRESH(SERIALS_OF("old_rows"))                                                       \
	" END IF;"                                                                                 \
	" RETURN NULL;"                                                                            \
	" END $fold$;"                                                                             \
	"CREATE TRIGGER run_report_insert AFTER INSERT ON run REFERENCING NEW TABLE AS new_rows"   \
	" FOR EACH STATEMENT EXECUTE FUNCTION report_summaries_fold();"                            \
	"CREATE TRIGGER run_report_update AFTER UPDATE ON run"                                     \
	" REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"                                 \
	" FOR EACH STATEMENT EXECUTE FUNCTION report_summaries_fold();"                            \
	"CREATE TRIGGER run_report_delete AFTER DELETE ON run REFERENCING OLD TABLE AS old_rows"   \
	" FOR EACH STATEMENT EXECUTE FUNCTION report_summaries_fold();"                            \
	/* Everything again from the runs: the backfill, and the repair after a bulk load with */ \
	/* the triggers disabled (the benchmark). */                                              \
	"CREATE FUNCTION report_summaries_rebuild() RETURNS void LANGUAGE plpgsql AS $rebuild$"    \
	" BEGIN"                                                                                   \
	" TRUNCATE report_group, report_duration, report_unit, report_unit_hour;"                  \
	GROUP_UPSERT("run", "", GROUP_GROW)                                                        \
	DURATION_UPSERT("run", "")                                                                 \
	UNIT_INSERT("serial IS NOT NULL")                                                          \
	UNIT_HOUR_UPSERT("SELECT serial FROM report_unit", "")                                     \
	" END $rebuild$;"                                                                          \
	"SELECT report_summaries_rebuild();"
/* clang-format on */

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
        REPORT_SUMMARIES_V2,

        /* v3: the runs a [route] gave a product (issue 15), so the report's
         * "by product" section costs nothing when no run has one. */
        "CREATE INDEX run_with_product ON run (product) WHERE product IS NOT NULL;",
};

const int edl_factory_pg_schema_version =
        (int)(sizeof(edl_factory_pg_migrations) / sizeof(edl_factory_pg_migrations[0])) - 1;
