/*
 * `edlstation history SERIAL`: every run of one unit, across packages and
 * stations, oldest first, with the slot label, stage, error, failure class,
 * the operator's action, the message and the device's log lines of each
 * failure: what the RMA bench asks ("failed twice at the same stage last
 * month"). SERIAL is taken the way people type it (edl_store_find_unit: any
 * case, 0x, the USB serial, a unique prefix); it is only ever bound as a value
 * and echoed in printable ASCII only.
 */
#include "edlstation/cli.h"
#include "edlstation/factory_report.h"
#include "edlstation/station.h"
#include "edlstation/store.h"
#include "edlstation/store_cli.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHORT_USAGE                                                                       \
	"usage: edlstation history [--db FILE] [--config FILE] [--format text|csv|json] " \
	"[--steps] "                                                                      \
	"SERIAL"

static void usage(FILE *f)
{
	fprintf(f,
	        SHORT_USAGE
	        "\n"
	        "  Every run of one unit, oldest first. SERIAL is the chip serial or the\n"
	        "  USB serial, in any case, with or without 0x, or the start of one that\n"
	        "  names a single unit.\n"
	        "  --db FILE        results database (default $EDLSTATION_DB or %s), or the\n"
	        "                   factory database: postgresql://user@host/db (every\n"
	        "                   station's runs; run ids are each station's own)\n"
	        "  --config FILE    read the database a station config names: [factory]\n"
	        "                   database, else [results] database (--db wins)\n"
	        "  --format F       text (default), csv or json\n"
	        "  --steps          also list each run's plan steps (text and json)\n"
	        "  Exit 0 found, 1 no such unit (with the closest serial), 2 usage error or\n"
	        "  several units match.\n",
	        EDL_STORE_DEFAULT_DB);
}

/* One line saying what was wrong, then one line of usage. */
static int usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "edlstation history: %s%s%s%s\n", what, arg != NULL ? " '" : "",
	        arg != NULL ? arg : "", arg != NULL ? "'" : "");
	fprintf(stderr, SHORT_USAGE " (see --help)\n");
	return EDL_EXIT_USAGE;
}

/* The unit's history from the factory database (PostgreSQL). */
static int history_factory(const char *conninfo, const char *typed, unsigned flags,
                           enum edl_store_format format)
{
	struct edl_factory_db *fdb = NULL;
	struct edl_store_history *history = NULL;
	struct edl_error err;
	char msg[EDL_ERROR_DETAIL_MAX + 128];
	char serial[128];
	int rc;

	edl_error_clear(&err);
	rc = edl_factory_read_open(&fdb, conninfo, &err);
	if (rc != EDL_OK) {
		fprintf(stderr, "edlstation history: %s\n",
		        edl_error_format(&err, msg, sizeof(msg)));
		return rc == EDL_E_CONFIG ? EDL_EXIT_USAGE : EDL_EXIT_FAILURE;
	}
	rc = edl_factory_find_unit(serial, sizeof(serial), fdb, typed, &err);
	if (rc == EDL_OK)
		rc = edl_factory_history(&history, fdb, serial, flags, &err);
	if (rc != EDL_OK) {
		fprintf(stderr, "edlstation history: %s\n",
		        rc == EDL_E_NOENT || rc == EDL_E_AGAIN || rc == EDL_E_INVAL
		                ? err.detail
		                : edl_error_format(&err, msg, sizeof(msg)));
		edl_factory_read_close(fdb);
		return rc == EDL_E_AGAIN || rc == EDL_E_INVAL ? EDL_EXIT_USAGE : EDL_EXIT_FAILURE;
	}
	rc = EDL_EXIT_OK;
	if (edl_store_history_write(stdout, history, format) != EDL_OK) {
		fprintf(stderr, "edlstation history: writing the history failed\n");
		rc = EDL_EXIT_FAILURE;
	}
	edl_store_history_free(history);
	edl_factory_read_close(fdb);
	return rc;
}

int edl_cli_history(int argc, char **argv)
{
	static const struct option options[] = {
	        {"db", required_argument, NULL, 'd'}, {"format", required_argument, NULL, 'f'},
	        {"steps", no_argument, NULL, 's'},    {"config", required_argument, NULL, 'c'},
	        {"help", no_argument, NULL, 'h'},     {NULL, 0, NULL, 0},
	};
	const char *db = NULL, *config = NULL;
	char config_db[1024];
	bool config_factory = false;
	enum edl_store_format format = EDL_STORE_FORMAT_TEXT;
	struct edl_store_history *history = NULL;
	struct edl_store *store = NULL;
	struct edl_error err;
	unsigned flags = 0;
	char msg[EDL_ERROR_DETAIL_MAX + 128];
	char serial[128];
	int c, rc;

	edl_error_clear(&err);
	optind = 0; /* GNU: start afresh, the binary may have parsed before */
	opterr = 0; /* our own one-line messages */
	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (c) {
		case 'd':
			db = optarg;
			break;
		case 'f':
			if (edl_store_format_parse(&format, optarg) != EDL_OK)
				return usage_error("unknown format (text, csv or json)", optarg);
			break;
		case 's':
			flags |= EDL_STORE_HISTORY_STEPS;
			break;
		case 'c':
			config = optarg;
			break;
		case 'h':
			usage(stdout);
			return EDL_EXIT_OK;
		case ':':
			return usage_error("option needs a value:", argv[optind - 1]);
		default:
			return usage_error("unknown option", argv[optind - 1]);
		}
	}
	if (argc - optind == 0)
		return usage_error("no SERIAL given", NULL);
	if (argc - optind > 1)
		return usage_error("one SERIAL only; unexpected", argv[optind + 1]);

	if (db == NULL && config != NULL) {
		rc = edl_cli_config_database(config_db, sizeof(config_db), &config_factory, config,
		                             "history");
		if (rc != EDL_EXIT_OK)
			return rc;
		if (config_db[0] != '\0')
			db = config_db;
	}
	if (db == NULL)
		db = edl_store_default_db();
	if (edl_factory_is_uri(db) || (db == config_db && config_factory))
		return history_factory(db, argv[optind], flags, format);
	rc = edl_store_open(&store, db, &err);
	if (rc == EDL_E_CONFIG || rc == EDL_E_NOENT) {
		/* No such database or directory: what the operator typed or configured. */
		fprintf(stderr, "edlstation history: %s\n",
		        edl_error_format(&err, msg, sizeof(msg)));
		rc = EDL_EXIT_USAGE;
		goto out;
	}
	if (rc == EDL_OK)
		rc = edl_store_find_unit(serial, sizeof(serial), store, argv[optind], &err);
	if (rc == EDL_OK)
		rc = edl_store_history(&history, store, serial, flags, &err);
	if (rc != EDL_OK) {
		/* The details echo the serial in printable ASCII only. */
		fprintf(stderr, "edlstation history: %s\n",
		        rc == EDL_E_NOENT || rc == EDL_E_AGAIN || rc == EDL_E_INVAL
		                ? err.detail
		                : edl_error_format(&err, msg, sizeof(msg)));
		rc = rc == EDL_E_AGAIN || rc == EDL_E_INVAL ? EDL_EXIT_USAGE : EDL_EXIT_FAILURE;
		goto out;
	}
	if (edl_store_history_write(stdout, history, format) != EDL_OK) {
		fprintf(stderr, "edlstation history: writing the history failed\n");
		rc = EDL_EXIT_FAILURE;
		goto out;
	}
	rc = EDL_EXIT_OK;
out:
	edl_store_history_free(history);
	edl_store_close(store);
	return rc;
}
