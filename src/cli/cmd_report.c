/*
 * `edlstation report`: the yield report over the results database, for the line
 * lead (units per hour, pass/fail now), the yield engineer (first-pass and
 * final yield, failure Pareto, the slot that fails more than the others) and
 * scripts (--format json|csv). It reads through its own read-only connection,
 * so it can run while a station is writing.
 */
#include "edlstation/cli.h"
#include "edlstation/store.h"
#include "edlstation/store_cli.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: edlstation report [--db FILE] [--since T] [--until T] [--station S]\n"
	        "                         [--package P] [--format text|csv|json]\n"
	        "  Yield report: units, runs, first-pass and final yield, retests, units per\n"
	        "  hour, flashing time p50/p95, throughput, failures by slot (with a flag on a\n"
	        "  slot failing significantly more than the others) and the failure Pareto.\n"
	        "  --db FILE        results database (default $EDLSTATION_DB or %s)\n"
	        "  --since T        runs started at or after T: ISO-8601 (2024-05-01,\n"
	        "                   2024-05-01T08:00:00Z; no zone means UTC) or a span back\n"
	        "                   from now (90s, 30m, 24h, 7d, 2w)\n"
	        "  --until T        runs started before T (same forms)\n"
	        "  --station S      only runs of station S\n"
	        "  --package P      only runs of package P (name, path or manifest hash prefix)\n"
	        "  --format F       text (default), csv or json\n",
	        EDL_STORE_DEFAULT_DB);
}

int edl_cli_report(int argc, char **argv)
{
	static const struct option options[] = {
	        {"db", required_argument, NULL, 'd'},
	        {"since", required_argument, NULL, 's'},
	        {"until", required_argument, NULL, 'u'},
	        {"station", required_argument, NULL, 'S'},
	        {"package", required_argument, NULL, 'P'},
	        {"format", required_argument, NULL, 'f'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *db = edl_store_default_db();
	enum edl_store_format format = EDL_STORE_FORMAT_TEXT;
	struct edl_store_filter filter;
	struct edl_store_report *report = NULL;
	struct edl_store *store = NULL;
	struct edl_error err;
	int64_t now = edl_store_time_now_ms();
	char msg[EDL_ERROR_DETAIL_MAX + 128];
	int c, rc;

	edl_error_clear(&err);
	edl_store_filter_init(&filter);
	optind = 0; /* GNU: start afresh, the binary may have parsed before */
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case 'd':
			db = optarg;
			break;
		case 's':
		case 'u':
			rc = edl_store_time_parse(c == 's' ? &filter.since_ms : &filter.until_ms,
			                          optarg, now, &err);
			if (rc != EDL_OK) {
				fprintf(stderr, "edlstation report: --%s: %s\n",
				        c == 's' ? "since" : "until", err.detail);
				return EDL_EXIT_USAGE;
			}
			break;
		case 'S':
			filter.station = optarg;
			break;
		case 'P':
			filter.package = optarg;
			break;
		case 'f':
			if (edl_store_format_parse(&format, optarg) != EDL_OK) {
				fprintf(stderr, "edlstation report: unknown format '%s'\n", optarg);
				return EDL_EXIT_USAGE;
			}
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
		fprintf(stderr, "edlstation report: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EDL_EXIT_USAGE;
	}
	if (filter.until_ms <= filter.since_ms) {
		fprintf(stderr, "edlstation report: --until must be after --since\n");
		return EDL_EXIT_USAGE;
	}

	rc = edl_store_open(&store, db, &err);
	if (rc == EDL_OK)
		rc = edl_store_report(&report, store, &filter, &err);
	if (rc != EDL_OK) {
		fprintf(stderr, "edlstation report: %s\n",
		        edl_error_format(&err, msg, sizeof(msg)));
		rc = EDL_EXIT_FAILURE;
		goto out;
	}
	if (edl_store_report_write(stdout, report, format) != EDL_OK) {
		fprintf(stderr, "edlstation report: writing the report failed\n");
		rc = EDL_EXIT_FAILURE;
		goto out;
	}
	rc = EDL_EXIT_OK;
out:
	edl_store_report_free(report);
	edl_store_close(store);
	return rc;
}
