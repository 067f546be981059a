/*
 * `edlstation sync status|push`: the station's factory sync (issue 14) seen
 * from the command line, without the station.
 *
 *   sync status  where the sync cursor is (SQLite's sync_state: the target,
 *                the last run the server confirmed and when, the last error)
 *                and how many committed runs wait; reads SQLite only, safe
 *                while a station runs. Exit 0 in sync, 1 runs waiting or the
 *                last attempt failed, 2 usage or no such database/target.
 *   sync push    ships the backlog now, on this thread (a station that is
 *                off, a backlog to drain, the benchmark), then prints the
 *                status. Exit 0 in sync, 1 the server refused or is down, 2 usage.
 *
 * The database and the target come from --config FILE ([results] database,
 * [factory] database and line), or --db FILE and --database CONNINFO; an
 * option overrides the file. Passwords are never printed.
 */
#include "edlstation/cli.h"
#include "edlstation/factory.h"
#include "edlstation/json.h"
#include "edlstation/station.h"
#include "edlstation/store.h"
#include "edlstation/store_cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const synopsis =
        "status|push [--config FILE] [--db FILE] [--database CONNINFO] [--format "
        "text|json]";

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: edlstation sync %s\n"
	        "  The station's factory sync to PostgreSQL ([factory] database).\n"
	        "  status  the sync cursor and the committed runs still waiting (reads the\n"
	        "          results database only); exit 0 in sync, 1 runs waiting or the last\n"
	        "          attempt failed, 2 usage or no such database\n"
	        "  push    ship the waiting runs now, then print the status; exit 0 in sync,\n"
	        "          1 the factory database refused or is unreachable\n"
	        "  --config FILE       station config: [results] database, [factory] database, "
	        "line\n"
	        "  --db FILE           results database (default $EDLSTATION_DB or %s)\n"
	        "  --database CONNINFO factory database: postgresql://user@host/db or key=value\n"
	        "  --format text|json  status output (default text)\n",
	        synopsis, EDL_STORE_DEFAULT_DB);
}

static void print_status(const struct edl_factory_sync_status *s, const char *db, bool json)
{
	char when[40] = "never";
	char target[512];

	/* The target is stored without its password; masked again for safety. */
	edl_factory_conninfo_mask(target, sizeof(target), s->target);
	if (s->last_ok_ms > 0)
		edl_store_time_format(when, sizeof(when), s->last_ok_ms);
	if (json) {
		struct edl_json j;
		edl_json_init_file(&j, stdout, EDL_JSON_COMPACT);
		edl_json_object_begin(&j);
		edl_json_key(&j, "target");
		edl_json_string(&j, target);
		edl_json_key(&j, "db");
		edl_json_string(&j, db);
		edl_json_key(&j, "in_sync");
		edl_json_bool(&j, s->in_sync);
		edl_json_key(&j, "last_seq");
		edl_json_int(&j, s->last_seq);
		edl_json_key(&j, "head_seq");
		edl_json_int(&j, s->head_seq);
		edl_json_key(&j, "waiting");
		edl_json_int(&j, s->waiting);
		edl_json_key(&j, "last_ok");
		if (s->last_ok_ms > 0)
			edl_json_string(&j, when);
		else
			edl_json_null(&j);
		edl_json_key(&j, "last_error");
		if (s->last_error[0])
			edl_json_string(&j, s->last_error);
		else
			edl_json_null(&j);
		edl_json_object_end(&j);
		edl_json_finish(&j);
		putchar('\n');
		return;
	}
	printf("factory database %s\n", target);
	printf("  results database  %s\n", db);
	printf("  state             %s\n", s->in_sync       ? "in sync"
	                                   : s->waiting > 0 ? "behind"
	                                                    : "last attempt failed");
	printf("  last synced run   %" PRId64 " (commit order; the station is at %" PRId64 ")\n",
	       s->last_seq, s->head_seq);
	printf("  last synced at    %s\n", when);
	printf("  runs waiting      %" PRId64 "\n", s->waiting);
	if (s->last_error[0])
		printf("  last error        %s\n", s->last_error);
}

int edl_cli_sync(int argc, char **argv)
{
	static const struct option options[] = {
	        {"config", required_argument, NULL, 'c'},
	        {"db", required_argument, NULL, 'd'},
	        {"database", required_argument, NULL, 'D'},
	        {"format", required_argument, NULL, 'f'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	struct edl_station_config *cfg = NULL;
	const char *config = NULL, *db = NULL, *database = NULL;
	struct edl_factory_sync_status st;
	struct edl_error err;
	bool json = false, push;
	int c, rc, exit_code = EDL_EXIT_FAILURE;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return EDL_EXIT_OK;
	}
	if (argc < 2 || (strcmp(argv[1], "status") != 0 && strcmp(argv[1], "push") != 0))
		return edl_cli_usage_error("sync", synopsis, "%s",
		                           argc < 2 ? "say status or push"
		                                    : "unknown action: say status or push");
	push = strcmp(argv[1], "push") == 0;
	argc--, argv++;
	edl_error_clear(&err);
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'd':
			db = optarg;
			break;
		case 'D':
			database = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "json") != 0 && strcmp(optarg, "text") != 0)
				return edl_cli_usage_error("sync", synopsis,
				                           "--format: say text or json");
			json = strcmp(optarg, "json") == 0;
			break;
		case 'h':
			usage(stdout);
			return EDL_EXIT_OK;
		default:
			return edl_cli_usage_error("sync", synopsis, "unknown option");
		}
	}
	if (optind != argc)
		return edl_cli_usage_error("sync", synopsis, "unexpected argument '%s'",
		                           argv[optind]);
	cfg = malloc(sizeof(*cfg));
	if (cfg == NULL)
		return EDL_EXIT_FAILURE;
	edl_station_config_default(cfg);
	if (config != NULL) {
		if (edl_station_config_load(cfg, config, &err) != EDL_OK) {
			fprintf(stderr, "edlstation sync: %s\n", err.detail);
			exit_code = EDL_EXIT_USAGE;
			goto out;
		}
		if (db == NULL && cfg->db[0])
			db = cfg->db;
		if (database == NULL && cfg->factory_database[0])
			database = cfg->factory_database;
	}
	if (db == NULL)
		db = edl_store_default_db();
	if (database != NULL && edl_factory_conninfo_check(database, &err) != EDL_OK) {
		fprintf(stderr, "edlstation sync: %s\n", err.detail);
		exit_code = EDL_EXIT_USAGE;
		goto out;
	}
	if (push) {
		if (database == NULL) {
			exit_code =
			        edl_cli_usage_error("sync", synopsis,
			                            "push needs the factory database: --database "
			                            "CONNINFO or [factory] database in --config");
			goto out;
		}
		struct edl_factory_sync_opts opts = {
		        .line = cfg->factory_line[0] ? cfg->factory_line : NULL,
		        .batch_runs = (int)cfg->factory_batch,
		        .connect_timeout_s = (int)cfg->factory_timeout_s,
		        .statement_timeout_ms = (int)cfg->factory_timeout_s * 1000,
		};
		int64_t shipped = 0;
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		rc = edl_factory_sync_drain(&shipped, db, database, &opts, &err);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double secs =
		        (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		if (rc != EDL_OK) {
			char masked[512];
			edl_factory_conninfo_mask(masked, sizeof(masked), database);
			fprintf(stderr,
			        "edlstation sync push: factory database %s: %s (%" PRId64
			        " run(s) shipped before it)\n",
			        masked, err.detail, shipped);
			if (rc == EDL_E_NOENT || rc == EDL_E_CONFIG || rc == EDL_E_DB_SCHEMA ||
			    rc == EDL_E_DB_OLD) {
				exit_code = EDL_EXIT_USAGE;
				goto out;
			}
		} else if (!json) {
			printf("shipped %" PRId64 " run(s) in %.3f s\n", shipped, secs);
		}
	}
	rc = edl_factory_sync_status_read(&st, db, database, &err);
	if (rc != EDL_OK) {
		fprintf(stderr, "edlstation sync: %s\n", err.detail);
		exit_code =
		        rc == EDL_E_NOENT || rc == EDL_E_CONFIG ? EDL_EXIT_USAGE : EDL_EXIT_FAILURE;
		goto out;
	}
	print_status(&st, db, json);
	exit_code = st.in_sync ? EDL_EXIT_OK : EDL_EXIT_FAILURE;
out:
	free(cfg);
	return exit_code;
}
