/*
 * `edlstation memflash`: flashes one emulated unit with a package over the
 * in-memory line — the station's own unit core (retries, serial lock, records,
 * the flash job's options) driving the real Sahara and Firehose engines
 * against the emulated device, with no USB in between and on a virtual clock.
 * It is how the engines are shown working before the USB station exists, and a
 * quick way to see how a package and a fault play out.
 */
#include "edlstation/cli.h"
#include "edlstation/flash.h"
#include "edlstation/station.h"
#include "edlstation/unit.h"
#include "edlstation/package.h"
#include "edlstation/profile.h"
#include "edlstation/target.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LIST 32

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: edlstation memflash --package DIR [options]\n"
	        "  Flashes one emulated unit over the in-memory link (no USB, virtual clock).\n"
	        "  --package DIR        the firmware package\n"
	        "  --rawprogram FILE    rawprogram XML to use (repeatable; relative to DIR)\n"
	        "  --programmer FILE    programmer to use (relative to DIR)\n"
	        "  --storage KIND       emmc|ufs|nand (default: from the package)\n"
	        "  --serial HEX         the unit's chip serial (default 1a2b3c4d)\n"
	        "  --sahara-version N   2 or 3 (default 2)\n"
	        "  --profile NAME       a real device family (see edlstation emulate --help);\n"
	        "                       --sahara-version given explicitly wins over it\n"
	        "  --fault SPEC         inject a fault (repeatable): %s\n"
	        "  --fragment MODE      whole | N (fixed N-byte reads) | random:N\n"
	        "  --dump DIR           keep the unit's storage as DIR/lun<N>.img\n"
	        "  --no-verify          skip the getsha256digest read-back\n"
	        "  --reset-running      reset a running programmer to EDL instead of reusing it\n"
	        "  --cache-dir DIR      the package hash cache directory\n"
	        "  -v, --verbose        log every stage change and the device's log lines\n",
	        edl_target_fault_kinds());
}

static int parse_u64(const char *s, int base, uint64_t *out)
{
	char *end;
	errno = 0;
	if (*s == '-' || *s == '\0')
		return -1;
	*out = strtoull(s, &end, base);
	return errno || *end ? -1 : 0;
}

int edl_cli_memflash(int argc, char **argv)
{
	enum {
		OPT_PACKAGE = 256,
		OPT_RAWPROGRAM,
		OPT_PROGRAMMER,
		OPT_STORAGE,
		OPT_SERIAL,
		OPT_SAHARA,
		OPT_PROFILE,
		OPT_FAULT,
		OPT_FRAGMENT,
		OPT_DUMP,
		OPT_NO_VERIFY,
		OPT_RESET_RUNNING,
		OPT_CACHE_DIR,
	};
	static const struct option longopts[] = {
	        {"package", required_argument, NULL, OPT_PACKAGE},
	        {"rawprogram", required_argument, NULL, OPT_RAWPROGRAM},
	        {"programmer", required_argument, NULL, OPT_PROGRAMMER},
	        {"storage", required_argument, NULL, OPT_STORAGE},
	        {"serial", required_argument, NULL, OPT_SERIAL},
	        {"sahara-version", required_argument, NULL, OPT_SAHARA},
	        {"profile", required_argument, NULL, OPT_PROFILE},
	        {"fault", required_argument, NULL, OPT_FAULT},
	        {"fragment", required_argument, NULL, OPT_FRAGMENT},
	        {"dump", required_argument, NULL, OPT_DUMP},
	        {"no-verify", no_argument, NULL, OPT_NO_VERIFY},
	        {"reset-running", no_argument, NULL, OPT_RESET_RUNNING},
	        {"cache-dir", required_argument, NULL, OPT_CACHE_DIR},
	        {"verbose", no_argument, NULL, 'v'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	struct edl_package_options popt;
	struct edl_target_config tcfg;
	struct edl_station_config scfg;
	struct edl_memline_options lopt;
	struct edl_error err;
	const char *rawprogram[MAX_LIST];
	size_t n_rawprogram = 0;
	struct edl_target_faults faults;
	bool storage_set = false, verbose = false, sahara_set = false;
	const struct edl_device_profile *profile = NULL;
	enum edl_storage_kind storage = EDL_STORAGE_NAND;
	uint64_t serial = 0x1a2b3c4d, sahara_version = 2;
	const char *dump = NULL;
	struct edl_package *pkg = NULL;
	struct edl_target *target = NULL;
	int rc = EDL_EXIT_USAGE, c;

	edl_package_options_init(&popt);
	edl_memline_options_default(&lopt);
	edl_station_config_default(&scfg);
	snprintf(scfg.name, sizeof(scfg.name), "memflash");
	scfg.retries = 0;
	memset(&faults, 0, sizeof(faults));
	edl_error_clear(&err);
	optind = 1;
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		uint64_t v;
		switch (c) {
		case OPT_PACKAGE:
			popt.dir = optarg;
			break;
		case OPT_RAWPROGRAM:
			if (n_rawprogram == MAX_LIST) {
				fprintf(stderr, "memflash: at most %d --rawprogram files\n",
				        MAX_LIST);
				return EDL_EXIT_USAGE;
			}
			rawprogram[n_rawprogram++] = optarg;
			break;
		case OPT_PROGRAMMER:
			popt.programmer = optarg;
			break;
		case OPT_STORAGE:
			if (edl_storage_parse(optarg, &storage) != EDL_OK) {
				fprintf(stderr,
				        "memflash: --storage wants emmc, ufs or nand, not '%s'\n",
				        optarg);
				return EDL_EXIT_USAGE;
			}
			storage_set = true;
			break;
		case OPT_SERIAL:
			if (parse_u64(optarg, 16, &serial) != 0 || serial > UINT32_MAX) {
				fprintf(stderr,
				        "memflash: --serial wants up to 8 hex digits, not '%s'\n",
				        optarg);
				return EDL_EXIT_USAGE;
			}
			break;
		case OPT_SAHARA:
			if (parse_u64(optarg, 10, &sahara_version) != 0 ||
			    (sahara_version != 2 && sahara_version != 3)) {
				fprintf(stderr, "memflash: --sahara-version wants 2 or 3\n");
				return EDL_EXIT_USAGE;
			}
			sahara_set = true;
			break;
		case OPT_PROFILE:
			profile = edl_profile_find(optarg);
			if (profile == NULL) {
				fprintf(stderr, "memflash: unknown profile '%s'; known: %s\n",
				        optarg, edl_profile_names());
				return EDL_EXIT_USAGE;
			}
			break;
		case OPT_FAULT:
			if (edl_target_fault_parse(&faults, optarg, &err) != EDL_OK) {
				fprintf(stderr, "memflash: %s\n", err.detail);
				return EDL_EXIT_USAGE;
			}
			break;
		case OPT_FRAGMENT:
			if (strcmp(optarg, "whole") == 0) {
				lopt.fragment = EDL_MEMLINE_WHOLE;
			} else if (strncmp(optarg, "random:", 7) == 0 &&
			           parse_u64(optarg + 7, 10, &v) == 0 && v > 0) {
				lopt.fragment = EDL_MEMLINE_RANDOM;
				lopt.fragment_size = (size_t)v;
			} else if (parse_u64(optarg, 10, &v) == 0 && v > 0) {
				lopt.fragment = EDL_MEMLINE_FIXED;
				lopt.fragment_size = (size_t)v;
			} else {
				fprintf(stderr,
				        "memflash: --fragment wants whole, N or random:N\n");
				return EDL_EXIT_USAGE;
			}
			break;
		case OPT_DUMP:
			dump = optarg;
			break;
		case OPT_NO_VERIFY:
			scfg.verify = EDL_VERIFY_OFF;
			break;
		case OPT_RESET_RUNNING:
			scfg.running = EDL_RUNNING_RESET;
			break;
		case OPT_CACHE_DIR:
			popt.cache_dir = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return EDL_EXIT_OK;
		default:
			usage(stderr);
			return EDL_EXIT_USAGE;
		}
	}
	if (popt.dir == NULL || optind != argc) {
		usage(stderr);
		return EDL_EXIT_USAGE;
	}
	popt.rawprogram = rawprogram;
	popt.n_rawprogram = n_rawprogram;
	popt.storage_set = storage_set;
	popt.storage = storage;

	if (edl_package_load(&pkg, &popt, &err) != EDL_OK) {
		char buf[EDL_ERROR_DETAIL_MAX + 64];
		fprintf(stderr, "memflash: package %s is not usable: %s\n", popt.dir,
		        edl_error_format(&err, buf, sizeof(buf)));
		rc = EDL_EXIT_USAGE;
		goto out;
	}
	const struct edl_plan *plan = edl_package_plan(pkg);
	size_t prog_len = 0;
	const uint8_t *prog = edl_package_programmer_data(pkg, &prog_len);
	struct edl_sahara_image image = {.id = 0x0d, .data = prog, .len = prog_len};

	scfg.verbose = verbose;

	edl_target_config_default(&tcfg, plan->storage);
	if (profile != NULL) {
		if (profile->storage != plan->storage)
			fprintf(stderr,
			        "memflash: note: profile %s has %s storage, the package is for %s "
			        "(expect a wrong-package failure)\n",
			        profile->name, edl_storage_name(profile->storage),
			        edl_storage_name(plan->storage));
		edl_profile_apply(profile, &tcfg);
	}
	tcfg.pbl.serial = (uint32_t)serial;
	if (profile == NULL || sahara_set)
		tcfg.pbl.sahara_version = (uint32_t)sahara_version;
	tcfg.faults = faults;
	tcfg.pbl.hello_consumed = faults.hello_consumed;
	tcfg.storage.dir = dump;
	if (edl_target_new(&target, &tcfg, &err) != EDL_OK) {
		fprintf(stderr, "memflash: cannot build the emulated unit: %s\n", err.detail);
		rc = EDL_EXIT_FAILURE;
		goto out;
	}

	/* The very unit core `edlstation run` drives, with the station's own
	 * defaults: the job's options are built in one place (unit.c). */
	struct edl_unit_env env = {
	        .cfg = &scfg,
	        .plan = plan,
	        .image = &image,
	        .package_hash = NULL,
	        .store = true,
	};
	struct edl_memline_unit unit;
	memset(&unit, 0, sizeof(unit));
	unit.target = target;
	snprintf(unit.port, sizeof(unit.port), "mem");
	/* What a real EDL device's iProduct says (QUSB__BULK_SN:<chip serial>). */
	snprintf(unit.product, sizeof(unit.product), "QUSB__BULK_SN:%08" PRIX64, serial);
	lopt.show = stdout;
	lopt.transcript = verbose ? stdout : NULL;
	struct edl_memline_result *res = calloc(1, sizeof(*res));
	if (res == NULL) {
		fprintf(stderr, "memflash: out of memory\n");
		rc = EDL_EXIT_FAILURE;
		goto out;
	}
	printf("memflash: one emulated %s unit (serial %08" PRIx64
	       ") over the in-memory line, no USB; package %s, %zu steps, %" PRIu64 " bytes\n",
	       edl_storage_name(plan->storage), serial, popt.dir, plan->n_steps, plan->total_bytes);
	if (edl_memline_run(&env, &unit, 1, &lopt, res, &err) != EDL_OK) {
		fprintf(stderr, "memflash: the in-memory line failed: %s\n", err.detail);
		free(res);
		rc = EDL_EXIT_FAILURE;
		goto out;
	}
	const struct edl_memline_run *last = res->n_runs ? &res->runs[res->n_runs - 1] : NULL;
	double secs = (double)(unit.finished_ms - lopt.start_ms) / 1000.0;
	if (unit.finished && unit.result == EDL_RESULT_PASS) {
		printf("memflash: PASS  serial %08" PRIx64 "  %" PRIu64
		       " bytes written, %.1f s of device time, %zu run(s); unit state %s\n",
		       serial, last ? last->bytes_written : 0, secs, res->n_runs,
		       edl_target_state_name(edl_target_state(target)));
		rc = EDL_EXIT_OK;
	} else if (!unit.finished) {
		/* reset_to_edl: on a real line the unit comes back as a new device. */
		printf("memflash: RESET TO EDL  serial %08" PRIx64
		       "  the running programmer was reset to EDL (--reset-running); the unit "
		       "would "
		       "now enumerate anew and be flashed as a new session\n",
		       serial);
		rc = EDL_EXIT_OK;
	} else {
		printf("memflash: FAIL  serial %08" PRIx64 "  stage %s  %s: %s\n", serial,
		       last ? last->stage : "-", last ? edl_error_name(last->error_code) : "-",
		       last ? last->message : "never finished");
		rc = EDL_EXIT_UNITS_FAILED;
	}
	free(res);
out:
	edl_target_free(target);
	edl_package_free(pkg);
	return rc;
}
