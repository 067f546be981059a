/*
 * `edlstation report`: the yield report over the results database, for the line
 * lead (units and good units per hour, pass/fail now, which units failed and
 * what to do with them), the yield engineer (first-pass and final yield per
 * hour or shift, failure Pareto with classes, the slot that fails more than
 * the others) and scripts (--format json|csv). Slots are named by the port
 * map's labels, packages by name and version. It reads through its own
 * read-only connection, so it can run while a station is writing.
 */
#include "edlstation/cli.h"
#include "edlstation/factory_report.h"
#include "edlstation/station.h"
#include "edlstation/store.h"
#include "edlstation/store_cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHORT_USAGE                                                                       \
	"usage: edlstation report [--db FILE] [--since T] [--until T] [--station S] "     \
	"[--package P] [--product N] [--slot L] [--serial X] [--lot L] [--work-order W] " \
	"[--operator O] [--failed N] [--by hour|shift] [--format F] [--line N] "          \
	"[--by-station] [--config FILE]"

/* Failed units listed in text unless --failed says otherwise. */
#define TEXT_FAILED_DEFAULT 20

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: edlstation report [--db FILE] [--since T] [--until T] [--station S]\n"
	        "                         [--package P] [--product N] [--slot L] [--serial X]\n"
	        "                         [--lot L] [--work-order W] [--operator O] [--failed N]\n"
	        "                         [--by hour|shift] [--format text|csv|json]\n"
	        "  Yield report: units, runs, first-pass and final yield, retests, units and\n"
	        "  good units per hour, flashing time p50/p95, throughput, failures by slot\n"
	        "  (with a flag on a slot failing significantly more than the others), the\n"
	        "  failure Pareto with each failure's class, the failed units with what to do,\n"
	        "  the runs by package, units by product (the product [route] recorded), and\n"
	        "  units, passes and yield per hour or shift.\n"
	        "  --db FILE        results database (default $EDLSTATION_DB or %s)\n"
	        "  --since T        runs started at or after T: ISO-8601 (2024-05-01,\n"
	        "                   2024-05-01T08:00:00Z; no zone means UTC) or a span back\n"
	        "                   from now (90s, 30m, 24h, 7d, 2w)\n"
	        "  --until T        runs started before T (same forms)\n"
	        "  --station S      only runs of station S\n"
	        "  --package P      only runs of package P: name (any case), version,\n"
	        "                   name-version, path or manifest hash prefix (6+ digits)\n"
	        "  --product N      only runs of product N (any case), as [route] recorded it\n"
	        "  --slot L         only runs on slot L: its label (A3, any case) or USB port\n"
	        "  --serial X       only runs of one unit (chip or USB serial, any case, 0x,\n"
	        "                   or a unique start, as in history)\n"
	        "  --lot L, --work-order W, --operator O\n"
	        "                   only runs the MES's before_unit hook gave that lot,\n"
	        "                   work order or operator (exact text, as recorded)\n"
	        "  --failed N       list at most N failed units (text default %d; csv and\n"
	        "                   json list all; 0: all)\n"
	        "  --by hour|shift  buckets of one UTC hour (default) or 8 h shifts from\n"
	        "                   06:00, 14:00, 22:00 UTC; text shows them when the window\n"
	        "                   spans more than one\n"
	        "  --format F       text (default), csv or json\n"
	        "  Factory database (--db postgresql://user@host/db, or postgres://): the\n"
	        "  runs every station synced, the same figures; slots are per station.\n"
	        "  --line N         only runs of the stations of line N (factory only)\n"
	        "  --by-station     add a section per station (factory only)\n"
	        "  --config FILE    read the database a station config names: [factory]\n"
	        "                   database, else [results] database (--db wins)\n",
	        EDL_STORE_DEFAULT_DB, TEXT_FAILED_DEFAULT);
}

/* One line saying what was wrong, then one line of usage. */
static int usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "edlstation report: %s%s%s%s\n", what, arg != NULL ? " '" : "",
	        arg != NULL ? arg : "", arg != NULL ? "'" : "");
	fprintf(stderr, SHORT_USAGE " (see --help)\n");
	return EDL_EXIT_USAGE;
}

static bool parse_count(size_t *out, const char *text)
{
	char *end;
	unsigned long long v;

	if (text[0] < '0' || text[0] > '9')
		return false;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || v > SIZE_MAX)
		return false;
	*out = (size_t)v;
	return true;
}

/* --config FILE (report and history; declared in edlstation/store_cli.h). */
int edl_cli_config_database(char *out, size_t len, bool *factory, const char *path, const char *cmd)
{
	struct edl_station_config *cfg = malloc(sizeof(*cfg));
	struct edl_error err;
	int rc = EDL_EXIT_OK;

	edl_error_clear(&err);
	if (cfg == NULL)
		return EDL_EXIT_FAILURE;
	edl_station_config_default(cfg);
	if (edl_station_config_load(cfg, path, &err) != EDL_OK) {
		fprintf(stderr, "edlstation %s: %s\n", cmd, err.detail);
		rc = EDL_EXIT_USAGE;
	} else {
		*factory = cfg->factory_database[0] != '\0';
		snprintf(out, len, "%s", *factory ? cfg->factory_database : cfg->db);
	}
	free(cfg);
	return rc;
}

/* The report over the factory database (PostgreSQL): the same filters and
 * formats; a server that cannot be reached or a schema it cannot read is exit
 * 1, a connection string libpq cannot parse exit 2, each with the server named
 * (password masked) and what to do. */
static int report_factory(const char *conninfo, struct edl_store_filter *filter,
                          const char *serial_text, enum edl_store_format format)
{
	struct edl_factory_db *fdb = NULL;
	struct edl_store_report *report = NULL;
	struct edl_error err;
	char msg[EDL_ERROR_DETAIL_MAX + 128];
	char serial[128];
	int rc;

	edl_error_clear(&err);
	rc = edl_factory_read_open(&fdb, conninfo, &err);
	if (rc == EDL_OK && serial_text != NULL) {
		rc = edl_factory_find_unit(serial, sizeof(serial), fdb, serial_text, &err);
		if (rc == EDL_E_NOENT || rc == EDL_E_AGAIN || rc == EDL_E_INVAL) {
			fprintf(stderr, "edlstation report: --serial: %s\n", err.detail);
			edl_factory_read_close(fdb);
			return rc == EDL_E_NOENT ? EDL_EXIT_FAILURE : EDL_EXIT_USAGE;
		}
		filter->serial = serial;
	}
	if (rc == EDL_OK)
		rc = edl_factory_report(&report, fdb, filter, &err);
	if (rc != EDL_OK) {
		fprintf(stderr, "edlstation report: %s\n",
		        edl_error_format(&err, msg, sizeof(msg)));
		edl_factory_read_close(fdb);
		return rc == EDL_E_CONFIG ? EDL_EXIT_USAGE : EDL_EXIT_FAILURE;
	}
	rc = EDL_EXIT_OK;
	if (edl_store_report_write(stdout, report, format) != EDL_OK) {
		fprintf(stderr, "edlstation report: writing the report failed\n");
		rc = EDL_EXIT_FAILURE;
	}
	edl_store_report_free(report);
	edl_factory_read_close(fdb);
	return rc;
}

int edl_cli_report(int argc, char **argv)
{
	static const struct option options[] = {
	        {"db", required_argument, NULL, 'd'},
	        {"since", required_argument, NULL, 's'},
	        {"until", required_argument, NULL, 'u'},
	        {"station", required_argument, NULL, 'S'},
	        {"package", required_argument, NULL, 'P'},
	        {"slot", required_argument, NULL, 'L'},
	        {"product", required_argument, NULL, 'R'},
	        {"serial", required_argument, NULL, 'X'},
	        {"failed", required_argument, NULL, 'F'},
	        {"lot", required_argument, NULL, 'l'}, /* issue 13 */
	        {"work-order", required_argument, NULL, 'w'},
	        {"operator", required_argument, NULL, 'o'},
	        {"by", required_argument, NULL, 'B'},
	        {"format", required_argument, NULL, 'f'},
	        {"line", required_argument, NULL, 'N'},
	        {"by-station", no_argument, NULL, 'G'},
	        {"config", required_argument, NULL, 'c'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *db = NULL, *config = NULL;
	char config_db[1024];
	bool config_factory = false;
	const char *serial_text = NULL;
	enum edl_store_format format = EDL_STORE_FORMAT_TEXT;
	struct edl_store_filter filter;
	struct edl_store_report *report = NULL;
	struct edl_store *store = NULL;
	struct edl_error err;
	int64_t now = edl_store_time_now_ms();
	char msg[EDL_ERROR_DETAIL_MAX + 128];
	char serial[128];
	bool failed_given = false;
	int c, rc;

	edl_error_clear(&err);
	edl_store_filter_init(&filter);
	optind = 0; /* GNU: start afresh, the binary may have parsed before */
	opterr = 0; /* our own one-line messages */
	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
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
				fprintf(stderr, SHORT_USAGE " (see --help)\n");
				return EDL_EXIT_USAGE;
			}
			break;
		case 'S':
			filter.station = optarg;
			break;
		case 'P':
			filter.package = optarg;
			break;
		case 'L':
			filter.slot = optarg;
			break;
		case 'R':
			if (optarg[0] == '\0')
				return usage_error("--product wants a product name, not", optarg);
			filter.product = optarg;
			break;
		case 'X':
			serial_text = optarg;
			break;
		case 'l':
			filter.lot = optarg;
			break;
		case 'w':
			filter.work_order = optarg;
			break;
		case 'o':
			filter.operator_name = optarg;
			break;
		case 'F':
			if (!parse_count(&filter.failed_max, optarg))
				return usage_error("--failed wants a count, not", optarg);
			failed_given = true;
			break;
		case 'B':
			if (strcmp(optarg, "hour") == 0)
				filter.bucket = EDL_STORE_BUCKET_HOUR;
			else if (strcmp(optarg, "shift") == 0)
				filter.bucket = EDL_STORE_BUCKET_SHIFT;
			else
				return usage_error("--by wants hour or shift, not", optarg);
			break;
		case 'f':
			if (edl_store_format_parse(&format, optarg) != EDL_OK)
				return usage_error("unknown format (text, csv or json)", optarg);
			break;
		case 'N':
			filter.line = optarg;
			break;
		case 'G':
			filter.by_station = true;
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
	if (optind != argc)
		return usage_error("unexpected argument", argv[optind]);
	if (filter.until_ms <= filter.since_ms)
		return usage_error("--until must be after --since", NULL);
	if (!failed_given && format == EDL_STORE_FORMAT_TEXT)
		filter.failed_max = TEXT_FAILED_DEFAULT;
	if (db == NULL && config != NULL) {
		rc = edl_cli_config_database(config_db, sizeof(config_db), &config_factory, config,
		                             "report");
		if (rc != EDL_EXIT_OK)
			return rc;
		if (config_db[0] != '\0')
			db = config_db;
	}
	if (db == NULL)
		db = edl_store_default_db();
	if (edl_factory_is_uri(db) || (db == config_db && config_factory))
		return report_factory(db, &filter, serial_text, format);
	if (filter.line != NULL || filter.by_station)
		return usage_error(filter.line != NULL ? "--line needs the factory database (--db "
		                                         "postgresql://...)"
		                                       : "--by-station needs the factory database "
		                                         "(--db postgresql://...)",
		                   NULL);

	rc = edl_store_open(&store, db, &err);
	if (rc == EDL_E_CONFIG || rc == EDL_E_NOENT) {
		/* No such database or directory: what the operator typed or configured. */
		fprintf(stderr, "edlstation report: %s\n",
		        edl_error_format(&err, msg, sizeof(msg)));
		rc = EDL_EXIT_USAGE;
		goto out;
	}
	if (rc == EDL_OK && serial_text != NULL) {
		rc = edl_store_find_unit(serial, sizeof(serial), store, serial_text, &err);
		if (rc == EDL_E_NOENT || rc == EDL_E_AGAIN || rc == EDL_E_INVAL) {
			fprintf(stderr, "edlstation report: --serial: %s\n", err.detail);
			rc = rc == EDL_E_NOENT ? EDL_EXIT_FAILURE : EDL_EXIT_USAGE;
			goto out;
		}
		filter.serial = serial;
	}
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
