/*
 * `edlstation db check [--db FILE] [--full]`: is the results database sound?
 * PRAGMA quick_check by default (what the station runs at start, without its
 * time bound), PRAGMA integrity_check with --full. Read-only: safe while a
 * station writes. Exit 0 sound, 1 damaged or unreadable, 2 usage or no such
 * file or directory.
 */
#include "edlstation/cli.h"
#include "edlstation/store.h"
#include "edlstation/store_cli.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: edlstation db check [--db FILE] [--full]\n"
	        "  Checks the results database: PRAGMA quick_check, or integrity_check with\n"
	        "  --full. Prints ok or the problems; exit 0 ok, 1 damaged, 2 no such file.\n"
	        "  --db FILE        results database (default $EDLSTATION_DB or %s)\n"
	        "  --full           the full integrity check (slower: reads every index)\n",
	        EDL_STORE_DEFAULT_DB);
}

static int db_check(int argc, char **argv)
{
	static const struct option options[] = {
	        {"db", required_argument, NULL, 'd'},
	        {"full", no_argument, NULL, 'f'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *db = edl_store_default_db();
	struct edl_error err;
	bool full = false;
	int c, rc;

	edl_error_clear(&err);
	optind = 0; /* GNU: start afresh, the binary may have parsed before */
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'd':
			db = optarg;
			break;
		case 'f':
			full = true;
			break;
		case 'h':
			usage(stdout);
			return EDL_EXIT_OK;
		default:
			usage(stderr);
			return EDL_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EDL_EXIT_USAGE;
	}
	rc = edl_store_check_file(db, full, &err);
	if (rc == EDL_OK) {
		printf("results database %s: ok (%s)\n", db,
		       full ? "integrity_check" : "quick_check");
		return EDL_EXIT_OK;
	}
	fprintf(stderr, "edlstation db check: %s\n", err.detail);
	if (rc == EDL_E_NOENT || rc == EDL_E_CONFIG)
		return EDL_EXIT_USAGE;
	return EDL_EXIT_FAILURE;
}

int edl_cli_db(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "check") == 0)
		return db_check(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return EDL_EXIT_OK;
	}
	usage(stderr);
	return EDL_EXIT_USAGE;
}
