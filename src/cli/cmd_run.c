/*
 * `edlstation run`: the station. Reads the INI config (if any), lays the
 * command-line options over it, checks the paths it names (so a missing
 * directory is reported with its key and line), and runs until the unit count
 * is reached or a signal stops it. Exit 0 when every finished unit passed, 3
 * when some failed, 2 for a usage, config or package error. `--dry-run` loads
 * the config and the package, opens the store and closes it, and lists the EDL
 * devices the station would take or refuse: nothing is flashed.
 */
#include "edlstation/cli.h"
#include "edlstation/package.h"
#include "edlstation/route.h"
#include "edlstation/station.h"
#include "edlstation/store.h"
#include "edlstation/store_cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUN_USAGE "[--config FILE] [--package DIR] [--db FILE] [--dry-run] [options...]"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: edlstation run " RUN_USAGE "\n"
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
	        "  --log-format FMT       auto (board on a terminal, journal under systemd) | text "
	        "|\n"
	        "                         json | journal\n"
	        "  --retries N            extra attempts after a failure (default 1)\n"
	        "  --running POLICY       a programmer found running: auto | reuse | reset\n"
	        "  --no-verify            skip the read-back digest ([flash] verify = off)\n"
	        "  --reset-delay SECONDS  DelayInSeconds of the final reset (default 10)\n"
	        "  --inflight N           OUT transfers in flight per device (1-8, default 4)\n"
	        "  --grace SECONDS        after SIGINT/SIGTERM, time running units get (default "
	        "30)\n"
	        "  --cache-dir DIR        package hash cache\n"
	        "  --dry-run              load config and package, open the database, list the\n"
	        "                         devices it would take or refuse; flash nothing\n"
	        "  -v, --verbose          more events\n"
	        "  Exit: 0 every finished unit passed (or the dry run found nothing wrong), 1\n"
	        "  runtime failure, 2 usage, config or package error, 3 some units failed,\n"
	        "  4 results not recorded.\n",
	        EDL_STORE_DEFAULT_DB);
}

static int number(const char *opt, const char *v, unsigned long min, unsigned long max,
                  unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long x = strtoul(v, &end, 10);
	if (*v == '-' || *v == '\0' || errno || *end || x < min || x > max) {
		edl_cli_usage_error("run", RUN_USAGE, "%s wants a number from %lu to %lu, not '%s'",
		                    opt, min, max, v);
		return -1;
	}
	*out = (unsigned)x;
	return 0;
}

static int copy_opt(char *dst, size_t len, const char *v, const char *opt)
{
	if (strlen(v) >= len) {
		edl_cli_usage_error("run", RUN_USAGE, "%s is too long (at most %zu bytes)", opt,
		                    len - 1);
		return -1;
	}
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int one_of(const char *opt, const char *v, const char *const *names, int *out)
{
	for (int i = 0; names[i] != NULL; i++) {
		if (!strcmp(v, names[i])) {
			*out = i;
			return 0;
		}
	}
	char list[128] = "";
	for (int i = 0; names[i] != NULL; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
		         i == 0                 ? ""
		         : names[i + 1] == NULL ? " or "
		                                : ", ",
		         names[i]);
	edl_cli_usage_error("run", RUN_USAGE, "%s wants %s, not '%s'", opt, list, v);
	return -1;
}

static void print_problem(const char *message, void *data)
{
	(void)data;
	fprintf(stderr, "edlstation run: %s\n", message);
}

/* --dry-run: every step of a start but the flashing. */
static int dry_run(const struct edl_station_config *cfg)
{
	struct edl_package_options popt;
	const char *raw[EDL_STATION_MAX_LIST];
	struct edl_package *pkg = NULL;
	struct edl_store_writer *w = NULL;
	struct edl_cli_usb_device *devs = NULL;
	struct edl_station_summary none = {0};
	struct edl_error err;
	char buf[EDL_ERROR_DETAIL_MAX + 64];
	size_t n = 0;
	int rc;

	if (cfg->n_routes > 0) {
		/* issue 15: every routed package, as the station loads them. */
		struct edl_route_table *t = NULL;
		rc = cfg->package[0] ? edl_error_set(&err, EDL_E_USAGE,
		                                     "a package (%s) and [route] sections both "
		                                     "given: drop --package or [package] dir",
		                                     cfg->package)
		                     : edl_route_table_load(&t, cfg, &err);
		if (rc != EDL_OK) {
			fprintf(stderr, "edlstation run: %s\n",
			        edl_error_format(&err, buf, sizeof(buf)));
			goto out;
		}
		for (size_t i = 0; i < edl_route_table_count(t); i++) {
			const struct edl_route_entry *e = edl_route_table_entry(t, i);
			printf("route %s: package %s (%s, %zu steps, %llu bytes)\n", e->cfg->name,
			       e->cfg->package, edl_storage_name(e->plan->storage),
			       e->plan->n_steps, (unsigned long long)e->plan->total_bytes);
		}
		edl_route_table_free(t);
	} else {
		edl_station_package_options(cfg, &popt, raw);
		rc = edl_package_load(&pkg, &popt, &err);
		if (rc != EDL_OK) {
			fprintf(stderr, "edlstation run: %s\n",
			        edl_error_format(&err, buf, sizeof(buf)));
			goto out;
		}
		const struct edl_plan *plan = edl_package_plan(pkg);
		printf("package: %s (%s, %zu steps, %llu bytes)\n", cfg->package,
		       edl_storage_name(plan->storage), plan->n_steps,
		       (unsigned long long)plan->total_bytes);
	}

	struct edl_store_writer_options wopt = {.min_free_bytes = cfg->min_free_mb << 20,
	                                        .retry_ms = cfg->store_retry_ms};
	rc = edl_store_writer_open(&w, cfg->db, &wopt, &err);
	if (rc != EDL_OK) {
		fprintf(stderr, "edlstation run: %s\n", edl_error_format(&err, buf, sizeof(buf)));
		goto out;
	}
	edl_store_writer_close(w);
	printf("database: %s (opened for writing, closed)\n", cfg->db);

	rc = edl_cli_usb_list(&devs, &n, &err);
	if (rc != EDL_OK) {
		fprintf(stderr, "edlstation run: %s\n", err.detail);
		goto out;
	}
	unsigned take = 0, refuse = 0;
	printf("%-10s %-8s %-10s %s\n", "PORT", "SLOT", "USB-SERIAL", "WOULD");
	for (size_t i = 0; i < n; i++) {
		const struct edl_station_port *p = edl_station_config_port(cfg, devs[i].port);
		const char *would = "flash";
		if (p == NULL && !cfg->accept_unmapped) {
			would = "refuse: port not in [ports] and accept_unmapped = no";
			refuse++;
		} else {
			take++;
		}
		printf("%-10s %-8s %-10s %s\n", devs[i].port, p ? p->label : "-", devs[i].serial,
		       would);
	}
	printf("dry run: %u device(s) would be flashed, %u refused; nothing flashed\n", take,
	       refuse);
out:
	free(devs);
	edl_package_free(pkg);
	return edl_cli_station_exit(rc, &none);
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
		O_DRY_RUN,
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
	        {"dry-run", no_argument, NULL, O_DRY_RUN},
	        {"record", required_argument, NULL, O_RECORD},
	        {"verbose", no_argument, NULL, 'v'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	static const char *const logfmts[] = {"auto", "text", "json", "journal", NULL};
	static const char *const runnings[] = {"auto", "reuse", "reset", NULL};
	struct edl_station_config *cfg = malloc(sizeof(*cfg));
	struct edl_error err;
	const char *config = NULL;
	int code = EDL_EXIT_USAGE;
	int c;

	if (cfg == NULL) {
		fprintf(stderr, "edlstation run: out of memory\n");
		return EDL_EXIT_FAILURE;
	}
	/* The config file comes first; the options then override it. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config = argv[i + 1];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			config = argv[i] + 9;
		else if (strcmp(argv[i], "--") == 0)
			break;
	}
	edl_station_config_default(cfg);
	if (config != NULL &&
	    edl_station_config_load_all(cfg, config, print_problem, NULL, &err) != EDL_OK)
		goto out;

	optind = 1;
	opterr = 0; /* the messages below say what was wrong, once */
	while ((c = getopt_long(argc, argv, ":vh", longopts, NULL)) != -1) {
		int bad = 0, pick = 0;
		switch (c) {
		case O_PACKAGE:
			bad = copy_opt(cfg->package, sizeof(cfg->package), optarg, "--package");
			edl_station_config_set_by(cfg, "package", "dir", "--package");
			break;
		case O_CONFIG:
			break;
		case O_DB:
			bad = copy_opt(cfg->db, sizeof(cfg->db), optarg, "--db");
			edl_station_config_set_by(cfg, "results", "database", "--db");
			break;
		case O_COUNT:
			bad = number("--count", optarg, 0, 100000000, &cfg->count);
			break;
		case O_RAW:
			if (cfg->n_rawprogram == EDL_STATION_MAX_LIST) {
				edl_cli_usage_error("run", RUN_USAGE,
				                    "more than %d --rawprogram (and [package] "
				                    "rawprogram) files",
				                    EDL_STATION_MAX_LIST);
				goto out;
			}
			bad = copy_opt(cfg->rawprogram[cfg->n_rawprogram++], 256, optarg,
			               "--rawprogram");
			break;
		case O_PROG:
			bad = copy_opt(cfg->programmer, sizeof(cfg->programmer), optarg,
			               "--programmer");
			break;
		case O_STORAGE:
			if (edl_storage_parse(optarg, &cfg->storage) != EDL_OK) {
				edl_cli_usage_error("run", RUN_USAGE,
				                    "--storage wants emmc, ufs or nand, not '%s'",
				                    optarg);
				goto out;
			}
			cfg->storage_set = true;
			break;
		case O_STATION:
			bad = copy_opt(cfg->name, sizeof(cfg->name), optarg, "--station");
			break;
		case O_LOGDIR:
			bad = copy_opt(cfg->log_dir, sizeof(cfg->log_dir), optarg, "--log-dir");
			edl_station_config_set_by(cfg, "results", "log_dir", "--log-dir");
			break;
		case O_RECORD: /* issue 16 */
			bad = copy_opt(cfg->record_dir, sizeof(cfg->record_dir), optarg,
			               "--record");
			break;
		case O_LOGFMT:
			bad = one_of("--log-format", optarg, logfmts, &pick);
			cfg->log_format = pick == 3   ? EDL_LOGFMT_JOURNAL
			                  : pick == 2 ? EDL_LOGFMT_JSON
			                  : pick == 1 ? EDL_LOGFMT_TEXT
			                              : EDL_LOGFMT_AUTO;
			break;
		case O_RETRIES:
			bad = number("--retries", optarg, 0, 10, &cfg->retries);
			break;
		case O_RUNNING:
			bad = one_of("--running", optarg, runnings, &pick);
			cfg->running = pick == 2   ? EDL_RUNNING_RESET
			               : pick == 1 ? EDL_RUNNING_REUSE
			                           : EDL_RUNNING_AUTO;
			break;
		case O_NOVERIFY:
			cfg->verify = EDL_VERIFY_OFF;
			break;
		case O_RESET_DELAY: {
			unsigned d = 0;
			bad = number("--reset-delay", optarg, 0, 600, &d);
			cfg->reset_delay_s = d;
			break;
		}
		case O_INFLIGHT:
			bad = number("--inflight", optarg, 1, 8, &cfg->inflight);
			break;
		case O_GRACE:
			bad = number("--grace", optarg, 0, 3600, &cfg->grace_s);
			break;
		case O_CACHE:
			bad = copy_opt(cfg->cache_dir, sizeof(cfg->cache_dir), optarg,
			               "--cache-dir");
			edl_station_config_set_by(cfg, "package", "cache_dir", "--cache-dir");
			break;
		case O_DRY_RUN:
			cfg->dry_run = true;
			break;
		case 'v':
			cfg->verbose = true;
			break;
		case 'h':
			usage(stdout);
			code = EDL_EXIT_OK;
			goto out;
		case ':':
			edl_cli_usage_error("run", RUN_USAGE, "%s needs a value", argv[optind - 1]);
			goto out;
		default:
			edl_cli_usage_error("run", RUN_USAGE, "unknown option '%s'",
			                    argv[optind - 1]);
			goto out;
		}
		if (bad)
			goto out;
	}
	if (optind != argc) {
		edl_cli_usage_error("run", RUN_USAGE, "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (cfg->db[0] == '\0')
		snprintf(cfg->db, sizeof(cfg->db), "%s", edl_store_default_db());
	if (cfg->package[0] == '\0' && cfg->n_routes == 0) {
		edl_cli_usage_error("run", RUN_USAGE,
		                    "no package: give --package DIR, set [package] dir in the "
		                    "config, or give [route NAME] sections");
		goto out;
	}
	/* What the file names that does not exist: its key and line, before the
	 * station finds it by a failing open. */
	if (edl_cli_config_check_paths(cfg, false, print_problem, NULL) > 0)
		goto out;
	if (cfg->dry_run) {
		code = dry_run(cfg);
		goto out;
	}
	struct edl_station_summary sum;
	int rc = edl_station_run(cfg, &sum, &err);
	if (err.code != EDL_OK) {
		char buf[EDL_ERROR_DETAIL_MAX + 64];
		fprintf(stderr, "edlstation run: %s\n", edl_error_format(&err, buf, sizeof(buf)));
	}
	code = edl_cli_station_exit(rc, &sum);
out:
	free(cfg);
	return code;
}
