/*
 * `edlstation run`: the station. Reads the INI config (if any), lays the
 * command-line options over it, and runs until the unit count is reached or a
 * signal stops it. Exit 0 when every finished unit passed, 3 when some failed,
 * 2 for a usage, config or package error.
 */
#include "edlstation/cli.h"
#include "edlstation/station.h"
#include "edlstation/store_cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: edlstation run --package DIR [options]\n"
	        "  Flashes every EDL device (05c6:9008) that appears, each in its own session.\n"
	        "  --package DIR          firmware package (or [package] dir in the config)\n"
	        "  --config FILE          station INI file (see config/station.ini)\n"
	        "  --db FILE              results database (default $EDLSTATION_DB or ./%s)\n"
	        "  --count N              stop after N units finished (pass or fail)\n"
	        "  --rawprogram FILE      rawprogram XML to use (repeatable)\n"
	        "  --programmer FILE      programmer to use\n"
	        "  --storage KIND         emmc|ufs|nand\n"
	        "  --station NAME         station name recorded with each run\n"
	        "  --log-dir DIR          keep a transcript per run\n"
	        "  --record DIR           keep each run's USB traffic as DIR/SERIAL-RUNID.pcapng\n"
	        "  --log-format FMT       auto (live view on a terminal) | text | json\n"
	        "  --retries N            extra attempts after a failure (default 1)\n"
	        "  --running POLICY       a programmer found running: auto | reuse | reset\n"
	        "  --no-verify            skip the read-back digest ([flash] verify = off)\n"
	        "  --reset-delay SECONDS  DelayInSeconds of the final reset (default 10)\n"
	        "  --inflight N           OUT transfers in flight per device (1-8, default 4)\n"
	        "  --grace SECONDS        after SIGINT/SIGTERM, time running units get (default "
	        "30)\n"
	        "  --cache-dir DIR        package hash cache\n"
	        "  -v, --verbose          more events\n",
	        EDL_STORE_DEFAULT_DB);
}

static int number(const char *opt, const char *v, unsigned long max, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long x = strtoul(v, &end, 10);
	if (*v == '-' || errno || *end || x > max) {
		fprintf(stderr, "edlstation run: %s wants a number from 0 to %lu, not '%s'\n", opt,
		        max, v);
		return -1;
	}
	*out = (unsigned)x;
	return 0;
}

static int copy_opt(char *dst, size_t len, const char *v, const char *opt)
{
	if (strlen(v) >= len) {
		fprintf(stderr, "edlstation run: %s is too long\n", opt);
		return -1;
	}
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

int edl_cli_run(int argc, char **argv)
{
	enum {
		O_PACKAGE = 256,
		O_CONFIG,
		O_DB,
		O_COUNT,
		O_RAW,
		O_PROG,
		O_STORAGE,
		O_STATION,
		O_LOGDIR,
		O_LOGFMT,
		O_RETRIES,
		O_RUNNING,
		O_NOVERIFY,
		O_RESET_DELAY,
		O_INFLIGHT,
		O_GRACE,
		O_CACHE,
		O_RECORD,
	};
	static const struct option longopts[] = {
	        {"package", required_argument, NULL, O_PACKAGE},
	        {"config", required_argument, NULL, O_CONFIG},
	        {"db", required_argument, NULL, O_DB},
	        {"count", required_argument, NULL, O_COUNT},
	        {"rawprogram", required_argument, NULL, O_RAW},
	        {"programmer", required_argument, NULL, O_PROG},
	        {"storage", required_argument, NULL, O_STORAGE},
	        {"station", required_argument, NULL, O_STATION},
	        {"log-dir", required_argument, NULL, O_LOGDIR},
	        {"log-format", required_argument, NULL, O_LOGFMT},
	        {"retries", required_argument, NULL, O_RETRIES},
	        {"running", required_argument, NULL, O_RUNNING},
	        {"no-verify", no_argument, NULL, O_NOVERIFY},
	        {"reset-delay", required_argument, NULL, O_RESET_DELAY},
	        {"inflight", required_argument, NULL, O_INFLIGHT},
	        {"grace", required_argument, NULL, O_GRACE},
	        {"cache-dir", required_argument, NULL, O_CACHE},
	        {"record", required_argument, NULL, O_RECORD},
	        {"verbose", no_argument, NULL, 'v'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	struct edl_station_config cfg;
	struct edl_error err;
	const char *config = NULL;
	int c;

	/* The config file comes first; the options then override it. */
	for (int i = 1; i + 1 < argc; i++) {
		if (strcmp(argv[i], "--config") == 0)
			config = argv[i + 1];
	}
	edl_station_config_default(&cfg);
	if (config != NULL && edl_station_config_load(&cfg, config, &err) != EDL_OK) {
		fprintf(stderr, "edlstation run: %s\n", err.detail);
		return EDL_EXIT_USAGE;
	}
	if (cfg.db[0] == '\0')
		snprintf(cfg.db, sizeof(cfg.db), "%s", edl_store_default_db());

	optind = 1;
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		int bad = 0;
		switch (c) {
		case O_PACKAGE:
			bad = copy_opt(cfg.package, sizeof(cfg.package), optarg, "--package");
			break;
		case O_CONFIG:
			break;
		case O_DB:
			bad = copy_opt(cfg.db, sizeof(cfg.db), optarg, "--db");
			break;
		case O_COUNT:
			bad = number("--count", optarg, 100000000, &cfg.count);
			break;
		case O_RAW:
			if (cfg.n_rawprogram == EDL_STATION_MAX_LIST) {
				fprintf(stderr, "edlstation run: too many --rawprogram\n");
				return EDL_EXIT_USAGE;
			}
			bad = copy_opt(cfg.rawprogram[cfg.n_rawprogram++], 256, optarg,
			               "--rawprogram");
			break;
		case O_PROG:
			bad = copy_opt(cfg.programmer, sizeof(cfg.programmer), optarg,
			               "--programmer");
			break;
		case O_STORAGE:
			if (edl_storage_parse(optarg, &cfg.storage) != EDL_OK) {
				fprintf(stderr,
				        "edlstation run: --storage wants emmc, ufs or nand\n");
				return EDL_EXIT_USAGE;
			}
			cfg.storage_set = true;
			break;
		case O_STATION:
			bad = copy_opt(cfg.name, sizeof(cfg.name), optarg, "--station");
			break;
		case O_LOGDIR:
			bad = copy_opt(cfg.log_dir, sizeof(cfg.log_dir), optarg, "--log-dir");
			break;
		case O_RECORD: /* issue 16 */
			bad = copy_opt(cfg.record_dir, sizeof(cfg.record_dir), optarg, "--record");
			break;
		case O_LOGFMT:
			if (!strcmp(optarg, "json"))
				cfg.log_format = EDL_LOGFMT_JSON;
			else if (!strcmp(optarg, "text"))
				cfg.log_format = EDL_LOGFMT_TEXT;
			else if (!strcmp(optarg, "auto"))
				cfg.log_format = EDL_LOGFMT_AUTO;
			else {
				fprintf(stderr,
				        "edlstation run: --log-format wants auto, text or json\n");
				return EDL_EXIT_USAGE;
			}
			break;
		case O_RETRIES:
			bad = number("--retries", optarg, 10, &cfg.retries);
			break;
		case O_RUNNING:
			if (!strcmp(optarg, "auto"))
				cfg.running = EDL_RUNNING_AUTO;
			else if (!strcmp(optarg, "reuse"))
				cfg.running = EDL_RUNNING_REUSE;
			else if (!strcmp(optarg, "reset"))
				cfg.running = EDL_RUNNING_RESET;
			else {
				fprintf(stderr,
				        "edlstation run: --running wants auto, reuse or reset\n");
				return EDL_EXIT_USAGE;
			}
			break;
		case O_NOVERIFY:
			cfg.verify = EDL_VERIFY_OFF;
			break;
		case O_RESET_DELAY: {
			unsigned d = 0;
			bad = number("--reset-delay", optarg, 600, &d);
			cfg.reset_delay_s = d;
			break;
		}
		case O_INFLIGHT:
			bad = number("--inflight", optarg, 8, &cfg.inflight);
			if (!bad && cfg.inflight == 0)
				cfg.inflight = 1;
			break;
		case O_GRACE:
			bad = number("--grace", optarg, 3600, &cfg.grace_s);
			break;
		case O_CACHE:
			bad = copy_opt(cfg.cache_dir, sizeof(cfg.cache_dir), optarg, "--cache-dir");
			break;
		case 'v':
			cfg.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return EDL_EXIT_OK;
		default:
			usage(stderr);
			return EDL_EXIT_USAGE;
		}
		if (bad)
			return EDL_EXIT_USAGE;
	}
	if (optind != argc) {
		usage(stderr);
		return EDL_EXIT_USAGE;
	}
	if (cfg.package[0] == '\0') {
		fprintf(stderr,
		        "edlstation run: no package: give --package DIR or [package] dir in "
		        "the config\n");
		return EDL_EXIT_USAGE;
	}
	struct edl_station_summary sum;
	int rc = edl_station_run(&cfg, &sum, &err);
	if (err.code != EDL_OK) {
		char buf[EDL_ERROR_DETAIL_MAX + 64];
		fprintf(stderr, "edlstation run: %s\n", edl_error_format(&err, buf, sizeof(buf)));
	}
	return edl_cli_station_exit(rc, &sum);
}
