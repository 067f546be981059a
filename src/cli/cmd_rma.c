/*
 * `edlstation backup SERIAL... [--config F]` and `edlstation restore SERIAL
 * [--run ID] [--config F]` (issue 15): the [rma] preserve labels of a unit,
 * read into the archive or written back from it, on demand. They run the
 * station itself (same config, ports, package, database and view) with the
 * flash job in its backup or restore mode (src/flash/preserve.c): the
 * package's plan is not run, only its storage kind and LUNs say where to look.
 * Each unit is a run of kind 'backup' or 'restore'; a unit whose serial was
 * not named is refused untouched (EDL_E_USAGE, recorded). The station stops
 * after as many units as serials were named.
 *
 * restore without --run takes the newest archive of the serial: the highest
 * numbered folder under archive_dir/SERIAL/ that holds a .bin file.
 */
#include "edlstation/cli.h"
#include "edlstation/flash.h"
#include "edlstation/station.h"
#include "edlstation/store.h"
#include "edlstation/store_cli.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKUP_USAGE                                                               \
	"SERIAL... [--config FILE] [--package DIR] [--db FILE] [--cache-dir DIR] " \
	"[--log-format auto|text|json|journal]"
#define RESTORE_USAGE                                                                 \
	"SERIAL [--run ID] [--config FILE] [--package DIR] [--db FILE] [--cache-dir " \
	"DIR] [--log-format auto|text|json|journal]"

static void print_problem(const char *message, void *data)
{
	(void)data;
	fprintf(stderr, "%s\n", message);
}

/* 8 hex digits, as the station names a unit ("1a2b3c4d"); lower-cased. */
static bool serial_ok(const char *s, char out[16])
{
	size_t n = strlen(s);

	if (n == 0 || n > 8)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
		out[i] = c;
	}
	out[n] = '\0';
	return true;
}

/* Whether dir holds a regular *.bin file. */
static bool has_bin(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool found = false;

	if (d == NULL)
		return false;
	while (!found && (de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		found = n > 4 && strcmp(de->d_name + n - 4, ".bin") == 0;
	}
	closedir(d);
	return found;
}

/* The newest run folder of serial under the archive; 0 when none. */
static uint64_t newest_run(const char *archive, const char *serial)
{
	char dir[2048], sub[2400];
	DIR *d;
	struct dirent *de;
	uint64_t best = 0;

	snprintf(dir, sizeof(dir), "%s/%s", archive, serial);
	d = opendir(dir);
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char *end;
		errno = 0;
		uint64_t v = strtoull(de->d_name, &end, 10);
		if (errno != 0 || *end != '\0' || end == de->d_name || v <= best)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		if (has_bin(sub))
			best = v;
	}
	closedir(d);
	return best;
}

static int copy_opt(char *dst, size_t len, const char *v, const char *command, const char *usage,
                    const char *opt)
{
	if (strlen(v) >= len)
		return edl_cli_usage_error(command, usage, "%s: path too long", opt);
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int rma_command(int argc, char **argv, bool restore)
{
	enum { O_CONFIG = 256, O_PACKAGE, O_DB, O_CACHE, O_LOGFMT, O_RUN };
	static const struct option longopts[] = {
	        {"config", required_argument, NULL, O_CONFIG},
	        {"package", required_argument, NULL, O_PACKAGE},
	        {"db", required_argument, NULL, O_DB},
	        {"cache-dir", required_argument, NULL, O_CACHE},
	        {"log-format", required_argument, NULL, O_LOGFMT},
	        {"run", required_argument, NULL, O_RUN},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	static const char *const logfmts[] = {"auto", "text", "json", "journal", NULL};
	const char *command = restore ? "restore" : "backup";
	const char *usage = restore ? RESTORE_USAGE : BACKUP_USAGE;
	struct edl_station_config *cfg = malloc(sizeof(*cfg));
	const char *config = NULL, *run_arg = NULL;
	struct edl_error err;
	int code = EDL_EXIT_USAGE, c;

	if (cfg == NULL) {
		fprintf(stderr, "edlstation %s: out of memory\n", command);
		return EDL_EXIT_FAILURE;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config = argv[i + 1];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			config = argv[i] + 9;
	}
	edl_station_config_default(cfg);
	if (config != NULL &&
	    edl_station_config_load_all(cfg, config, print_problem, NULL, &err) != EDL_OK)
		goto out;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		int bad = 0;
		switch (c) {
		case O_CONFIG:
			break;
		case O_PACKAGE:
			bad = copy_opt(cfg->package, sizeof(cfg->package), optarg, command, usage,
			               "--package");
			edl_station_config_set_by(cfg, "package", "dir", "--package");
			break;
		case O_DB:
			bad = copy_opt(cfg->db, sizeof(cfg->db), optarg, command, usage, "--db");
			edl_station_config_set_by(cfg, "results", "database", "--db");
			break;
		case O_CACHE:
			bad = copy_opt(cfg->cache_dir, sizeof(cfg->cache_dir), optarg, command,
			               usage, "--cache-dir");
			break;
		case O_LOGFMT: {
			size_t k = 0;
			while (logfmts[k] && strcmp(logfmts[k], optarg) != 0)
				k++;
			if (logfmts[k] == NULL) {
				edl_cli_usage_error(
				        command, usage,
				        "--log-format wants auto, text, json or journal");
				goto out;
			}
			cfg->log_format = (enum edl_station_log_format)k;
			break;
		}
		case O_RUN:
			if (!restore) {
				edl_cli_usage_error(
				        command, usage,
				        "--run is restore's: a backup makes a new archive");
				goto out;
			}
			run_arg = optarg;
			break;
		case 'h':
			printf("usage: edlstation %s %s\n", command, usage);
			code = EDL_EXIT_OK;
			goto out;
		case ':':
			edl_cli_usage_error(command, usage, "%s needs a value", argv[optind - 1]);
			goto out;
		default:
			edl_cli_usage_error(command, usage, "unknown option '%s'",
			                    argv[optind - 1]);
			goto out;
		}
		if (bad)
			goto out;
	}
	size_t n = (size_t)(argc - optind);
	if (n == 0 || (restore && n > 1) || n > EDL_RMA_MAX_SERIALS) {
		edl_cli_usage_error(command, usage,
		                    restore ? "name one SERIAL to restore"
		                            : "name 1 to %d SERIALs to back up",
		                    EDL_RMA_MAX_SERIALS);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (!serial_ok(argv[optind + i], cfg->rma_serials[i])) {
			edl_cli_usage_error(command, usage,
			                    "'%s' is not a unit serial (up to 8 hex digits, as "
			                    "`edlstation history` shows them)",
			                    argv[optind + i]);
			goto out;
		}
	}
	cfg->n_rma_serials = n;
	if (cfg->n_rma_preserve == 0 || !cfg->rma_archive_dir[0]) {
		fprintf(stderr,
		        "edlstation %s: nothing to %s: set [rma] preserve (the partition labels) "
		        "and [rma] archive_dir in the config%s%s\n",
		        command, restore ? "restore" : "back up", config ? " " : "",
		        config ? config : "");
		goto out;
	}
	if (cfg->db[0] == '\0')
		snprintf(cfg->db, sizeof(cfg->db), "%s", edl_store_default_db());
	if (cfg->package[0] == '\0') {
		edl_cli_usage_error(command, usage,
		                    "no package: set [package] dir (its storage kind and LUNs say "
		                    "where the partitions are) or give --package DIR");
		goto out;
	}
	cfg->rma_mode = restore ? EDL_PRESERVE_RESTORE : EDL_PRESERVE_BACKUP;
	cfg->count = (unsigned)n;
	cfg->retries = 0;
	if (restore) {
		uint64_t run = 0;
		if (run_arg != NULL) {
			char *end;
			errno = 0;
			run = strtoull(run_arg, &end, 10);
			if (errno != 0 || *end != '\0' || run == 0) {
				edl_cli_usage_error(command, usage,
				                    "--run wants a run id, not '%s'", run_arg);
				goto out;
			}
		} else {
			run = newest_run(cfg->rma_archive_dir, cfg->rma_serials[0]);
		}
		snprintf(cfg->rma_restore_dir, sizeof(cfg->rma_restore_dir), "%s/%s/%" PRIu64,
		         cfg->rma_archive_dir, cfg->rma_serials[0], run);
		if (run == 0 || !has_bin(cfg->rma_restore_dir)) {
			fprintf(stderr,
			        "edlstation restore: no archive of %s in %s%s: back it up first "
			        "(edlstation backup %s) or name the run with --run ID (edlstation "
			        "history %s)\n",
			        cfg->rma_serials[0],
			        run == 0 ? cfg->rma_archive_dir : cfg->rma_restore_dir,
			        run == 0 ? "" : " (no .bin files)", cfg->rma_serials[0],
			        cfg->rma_serials[0]);
			code = EDL_EXIT_FAILURE;
			goto out;
		}
	}
	if (edl_cli_config_check_paths(cfg, false, print_problem, NULL) > 0)
		goto out;
	struct edl_station_summary sum;
	int rc = edl_station_run(cfg, &sum, &err);
	if (err.code != EDL_OK) {
		char buf[EDL_ERROR_DETAIL_MAX + 64];
		fprintf(stderr, "edlstation %s: %s\n", command,
		        edl_error_format(&err, buf, sizeof(buf)));
	}
	code = edl_cli_station_exit(rc, &sum);
out:
	free(cfg);
	return code;
}

int edl_cli_backup(int argc, char **argv)
{
	return rma_command(argc, argv, false);
}

int edl_cli_restore(int argc, char **argv)
{
	return rma_command(argc, argv, true);
}
