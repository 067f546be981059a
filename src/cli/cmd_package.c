/*
 * `edlstation package check DIR ...`: loads, validates and verifies a firmware
 * package and prints its plan (a table, or JSON with --json). Exit 0 when the
 * package is valid, 2 when it is not (or on a usage error), 1 on another
 * failure (out of memory). The work is done by src/package; this file only
 * parses arguments.
 */
#include "edlstation/cli.h"
#include "edlstation/package.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILES 64

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: edlstation package check DIR [OPTIONS]\n"
	        "\n"
	        "Loads the firmware package in DIR (Quectel update/firehose layout or\n"
	        "rawprogram0..N.xml), validates it, verifies every file once (md5.txt,\n"
	        "md5sum/sha256sum files; hashes cached) and prints the flashing plan.\n"
	        "Exit status: 0 valid, 2 invalid or usage error, 1 other failure.\n"
	        "\n"
	        "options:\n"
	        "  --storage emmc|ufs|nand  storage type (default: inferred from the XML)\n"
	        "  --rawprogram FILE...     rawprogram files to flash, relative to DIR\n"
	        "                           (needed when the package holds a choice)\n"
	        "  --patch FILE...          patch files (default: the ones beside them)\n"
	        "  --programmer FILE        Firehose programmer, relative to DIR\n"
	        "  --sectors [LUN:]N        NUM_DISK_SECTORS of the device, for all LUNs or one:\n"
	        "                           evaluates expressions and checks ranges\n"
	        "  --cache-dir DIR          hash cache directory\n"
	        "                           (default ${XDG_CACHE_HOME:-$HOME/.cache}/edlstation)\n"
	        "  --no-cache               neither read nor write the hash cache\n"
	        "  --threads N              hashing threads (default: CPUs)\n"
	        "  --link-rate MBPS         link rate for the time estimate (default 35)\n"
	        "  --strict                 a flashed file the manifest does not list is an\n"
	        "                           error (default: a warning)\n"
	        "  --json                   print one JSON document with every step\n");
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_sectors(const char *s, uint64_t *sectors)
{
	const char *colon = strchr(s, ':');
	uint64_t lun, n;

	if (colon == NULL) {
		if (parse_u64(s, UINT64_MAX, &n) != 0 || n == 0)
			return -1;
		for (int i = 0; i < EDL_PLAN_MAX_LUNS; i++)
			sectors[i] = n;
		return 0;
	}
	{
		char buf[32];
		size_t len = (size_t)(colon - s);
		if (len == 0 || len >= sizeof(buf))
			return -1;
		memcpy(buf, s, len);
		buf[len] = '\0';
		if (parse_u64(buf, EDL_PLAN_MAX_LUNS - 1, &lun) != 0 ||
		    parse_u64(colon + 1, UINT64_MAX, &n) != 0 || n == 0)
			return -1;
	}
	sectors[lun] = n;
	return 0;
}

static int check(int argc, char **argv)
{
	struct edl_package_options opt;
	struct edl_package *pkg = NULL;
	struct edl_error err;
	const char *raw[MAX_FILES], *patch[MAX_FILES];
	enum { LIST_NONE, LIST_RAW, LIST_PATCH } list = LIST_NONE;
	bool json = false;
	uint64_t v;
	int rc, exit_code;

	edl_package_options_init(&opt);
	opt.rawprogram = raw;
	opt.patch = patch;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return EDL_EXIT_OK;
		}
		if (strncmp(a, "--", 2) != 0) {
			if (list == LIST_RAW && opt.n_rawprogram < MAX_FILES) {
				raw[opt.n_rawprogram++] = a;
			} else if (list == LIST_PATCH && opt.n_patch < MAX_FILES) {
				patch[opt.n_patch++] = a;
			} else if (opt.dir == NULL) {
				opt.dir = a;
			} else {
				fprintf(stderr, "edlstation package check: unexpected '%s'\n", a);
				return EDL_EXIT_USAGE;
			}
			continue;
		}
		list = LIST_NONE;
		if (strcmp(a, "--json") == 0) {
			json = true;
			continue;
		}
		if (strcmp(a, "--strict") == 0) {
			opt.strict = true;
			continue;
		}
		if (strcmp(a, "--no-cache") == 0) {
			opt.no_cache = true;
			continue;
		}
		if (next == NULL) {
			fprintf(stderr, "edlstation package check: %s needs a value\n", a);
			return EDL_EXIT_USAGE;
		}
		i++;
		if (strcmp(a, "--storage") == 0) {
			if (edl_storage_parse(next, &opt.storage) != EDL_OK) {
				fprintf(stderr,
				        "edlstation package check: --storage '%s' is not emmc, "
				        "ufs or nand\n",
				        next);
				return EDL_EXIT_USAGE;
			}
			opt.storage_set = true;
		} else if (strcmp(a, "--rawprogram") == 0 || strcmp(a, "--patch") == 0) {
			bool is_raw = a[2] == 'r';
			size_t *n = is_raw ? &opt.n_rawprogram : &opt.n_patch;
			if (*n >= MAX_FILES) {
				fprintf(stderr, "edlstation package check: too many %s files\n", a);
				return EDL_EXIT_USAGE;
			}
			(is_raw ? raw : patch)[(*n)++] = next;
			list = is_raw ? LIST_RAW : LIST_PATCH;
		} else if (strcmp(a, "--programmer") == 0) {
			opt.programmer = next;
		} else if (strcmp(a, "--sectors") == 0) {
			if (parse_sectors(next, opt.disk_sectors) != 0) {
				fprintf(stderr,
				        "edlstation package check: --sectors '%s' is not N or "
				        "LUN:N\n",
				        next);
				return EDL_EXIT_USAGE;
			}
		} else if (strcmp(a, "--cache-dir") == 0) {
			opt.cache_dir = next;
		} else if (strcmp(a, "--threads") == 0) {
			if (parse_u64(next, 16, &v) != 0 || v == 0) {
				fprintf(stderr,
				        "edlstation package check: --threads must be 1..16\n");
				return EDL_EXIT_USAGE;
			}
			opt.threads = (unsigned)v;
		} else if (strcmp(a, "--link-rate") == 0) {
			if (parse_u64(next, 100000, &v) != 0 || v == 0) {
				fprintf(stderr, "edlstation package check: --link-rate is MB/s, "
				                "1..100000\n");
				return EDL_EXIT_USAGE;
			}
			opt.link_rate = v * 1000u * 1000u;
		} else {
			fprintf(stderr, "edlstation package check: unknown option '%s'\n\n", a);
			usage(stderr);
			return EDL_EXIT_USAGE;
		}
	}
	if (opt.dir == NULL) {
		usage(stderr);
		return EDL_EXIT_USAGE;
	}

	edl_error_clear(&err);
	rc = edl_package_load(&pkg, &opt, &err);
	if (pkg == NULL) {
		char buf[EDL_ERROR_DETAIL_MAX + 64];
		fprintf(stderr, "edlstation package check: %s\n",
		        edl_error_format(&err, buf, sizeof(buf)));
		return rc == EDL_E_NOMEM ? EDL_EXIT_FAILURE : EDL_EXIT_USAGE;
	}
	if (json)
		edl_package_print_json(stdout, pkg);
	else
		edl_package_print_text(stdout, pkg);
	fflush(stdout);
	if (rc == EDL_OK)
		exit_code = EDL_EXIT_OK;
	else if (rc == EDL_E_NOMEM || rc == EDL_E_INTERNAL)
		exit_code = EDL_EXIT_FAILURE;
	else
		exit_code = EDL_EXIT_USAGE;
	edl_package_free(pkg);
	return exit_code;
}

int edl_cli_package(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EDL_EXIT_USAGE : EDL_EXIT_OK;
	}
	if (strcmp(argv[1], "check") == 0)
		return check(argc - 1, argv + 1);
	fprintf(stderr, "edlstation package: unknown subcommand '%s' (try 'check')\n", argv[1]);
	return EDL_EXIT_USAGE;
}
