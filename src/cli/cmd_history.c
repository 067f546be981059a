/*
 * `edlstation history SERIAL`: every run of one unit, across packages and
 * stations, oldest first, with the stage, error, message and the device's log
 * lines of each failure: what the RMA bench asks ("failed twice at the same
 * stage last month"). The serial is matched exactly and only ever bound as a
 * value, whatever it holds.
 */
#include "edlstation/cli.h"
#include "edlstation/store.h"
#include "edlstation/store_cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: edlstation history [--db FILE] [--format text|csv|json] [--steps] SERIAL\n"
	        "  Every run of the unit with chip serial SERIAL, oldest first.\n"
	        "  --db FILE        results database (default $EDLSTATION_DB or %s)\n"
	        "  --format F       text (default), csv or json\n"
	        "  --steps          also list each run's plan steps (text and json)\n",
	        EDL_STORE_DEFAULT_DB);
}

int edl_cli_history(int argc, char **argv)
{
	static const struct option options[] = {
	        {"db", required_argument, NULL, 'd'},
	        {"format", required_argument, NULL, 'f'},
	        {"steps", no_argument, NULL, 's'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *db = edl_store_default_db();
	enum edl_store_format format = EDL_STORE_FORMAT_TEXT;
	struct edl_store_history *history = NULL;
	struct edl_store *store = NULL;
	struct edl_error err;
	unsigned flags = 0;
	char msg[EDL_ERROR_DETAIL_MAX + 128];
	int c, rc;

	edl_error_clear(&err);
	optind = 0; /* GNU: start afresh, the binary may have parsed before */
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'd':
			db = optarg;
			break;
		case 'f':
			if (edl_store_format_parse(&format, optarg) != EDL_OK) {
				fprintf(stderr, "edlstation history: unknown format '%s'\n",
				        optarg);
				return EDL_EXIT_USAGE;
			}
			break;
		case 's':
			flags |= EDL_STORE_HISTORY_STEPS;
			break;
		case 'h':
			usage(stdout);
			return EDL_EXIT_OK;
		default:
			usage(stderr);
			return EDL_EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		usage(stderr);
		return EDL_EXIT_USAGE;
	}

	rc = edl_store_open(&store, db, &err);
	if (rc == EDL_OK)
		rc = edl_store_history(&history, store, argv[optind], flags, &err);
	if (rc != EDL_OK) {
		/* The serial is not echoed: it may hold anything, terminal escapes too. */
		fprintf(stderr, "edlstation history: %s\n",
		        edl_error_format(&err, msg, sizeof(msg)));
		rc = EDL_EXIT_FAILURE;
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
