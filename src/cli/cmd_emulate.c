/*
 * `edlstation emulate [OPTIONS] -- COMMAND [ARGS...]`: runs COMMAND with an
 * emulated line of EDL devices visible to it (libusb, libudev and raw usbdevfs
 * programs such as lsusb and qdl, unmodified), and exits with COMMAND's status.
 * This file parses the options and prints the usage; the line and its run loop
 * (testbed, COMMAND under libumockdev-preload, signals, dump) are
 * src/emulator's, edl_emu_run().
 */
#include "edlstation/cli.h"
#include "edlstation/profile.h"
#include "edlstation/emulator.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <glib.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FAULTS 64
#define MAX_EVENTS 64
#define MAX_BAD_BLOCKS 256

#define MAX_PROFILES EDL_EMU_MAX_PORTS

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: edlstation emulate [OPTIONS] [-- COMMAND [ARGS...]]\n"
	        "\n"
	        "Runs COMMAND with emulated EDL devices (05c6:9008) that libusb and usbdevfs\n"
	        "programs see as real ones, and exits with its status. Ports are 1-H.P (hubs\n"
	        "1-1, 1-2, ...). Without COMMAND, prints the environment a host program needs\n"
	        "(UMOCKDEV_DIR, LD_PRELOAD) and runs until interrupted.\n"
	        "\n"
	        "devices:\n"
	        "  --devices N            ports, one unit each at start (default 1, max %d)\n"
	        "  --profile NAME         every unit is that real device family (its ROM,\n"
	        "                         programmer and storage; list below)\n"
	        "  --profile PORT:NAME    the units of one port (repeatable; wins over NAME)\n"
	        "                         Without a profile a unit is the generic target of\n"
	        "                         --storage. With one, an explicit --storage,\n"
	        "                         --sahara-version, --max-payload or geometry option\n"
	        "                         wins over the profile's value (another --storage kind\n"
	        "                         takes that kind's default geometry).\n"
	        "  --hub-ports N          ports per hub (default 7)\n"
	        "  --serial HEX           serial of the first unit, +1 for each next (default "
	        "1a2b3c4d)\n"
	        "  --storage emmc|ufs|nand  storage kind (default ufs)\n"
	        "  --sector-size N, --sectors N, --luns N, --pages-per-block N\n"
	        "                         storage geometry (sectors per LUN; NAND: pages)\n"
	        "  --bad-blocks B[,B...]  NAND bad erase blocks of every unit\n"
	        "  --cal                  seed each unit's modemst1, modemst2, fsg, fsc and\n"
	        "                         persist with data derived from its serial, and a GPT\n"
	        "                         (eMMC/UFS LUN 0) or MIBIB (NAND) locating them\n"
	        "  --sahara-version 2|3   boot ROM's Sahara version (default 2)\n"
	        "  --max-payload BYTES    programmer's largest raw transfer (default 1M)\n"
	        "  --fault PORT:KIND[=ARG]  fault of the first unit on PORT (repeatable); PORT\n"
	        "                         1-H.P or a port number; kinds:\n"
	        "                         %s\n"
	        "  --empty PORT           leave PORT empty at start (repeatable)\n"
	        "  --at SECS:plug:PORT, --at SECS:unplug:PORT\n"
	        "                         plug a fresh unit in / pull the unit out at a time\n"
	        "line:\n"
	        "  --units N              production line: N units pass through the ports\n"
	        "  --swap-delay SECONDS   a port gets its next unit this long after one left "
	        "(0.5)\n"
	        "  --fail-hold SECONDS    a touched unit left idle this long is taken off (5)\n"
	        "  --reboot-delay SECONDS a unit reset to EDL comes back after this (0.2)\n"
	        "rates (MB = 10^6 bytes, 0 = unlimited):\n"
	        "  --rate MBPS            each device's link\n"
	        "  --hub-rate MBPS        shared by the devices of one hub\n"
	        "  --write-rate MBPS      storage speed (a program's final ACK waits for it)\n"
	        "command:\n"
	        "  --grace SECONDS        after SIGINT/SIGTERM/SIGHUP, COMMAND gets this long to\n"
	        "                         exit, then it is killed with SIGKILL (default 10)\n"
	        "host:\n"
	        "  --usbfs-memory-mb N    transfer memory in flight over all devices, as Linux's\n"
	        "                         usbfs_memory_mb: a submit beyond it fails with ENOMEM\n"
	        "                         (default 16, 0 = no limit)\n"
	        "  --max-address N        highest USB device address (default 127, as Linux);\n"
	        "                         lower makes addresses come round sooner (tests)\n"
	        "output:\n"
	        "  --dump DIR             each unit's storage DIR/<serial>/lun<N>.img (sparse) "
	        "and\n"
	        "                         DIR/<serial>/unit.json; serial as 8 lower-case hex "
	        "digits\n"
	        "  -v, --verbose          one line per unit event on stderr, a summary at exit\n"
	        "  --product-suffix TEXT  appended to every unit's iProduct (hostile-descriptor "
	        "tests)\n"
	        "replay:\n"
	        "  --replay FILE[,FILE...]  one unit per capture (pcapng/pcap, usbmon: run "
	        "--record\n"
	        "                         files or tcpdump -i usbmonN), on ports 1, 2, ...: it\n"
	        "                         answers the host as recorded (any chunking; raw data\n"
	        "                         of the same length matches), keeps the host's data in\n"
	        "                         its storage, and stops at the first departure with a\n"
	        "                         report on stderr (expected, came, offsets)\n",
	        EDL_EMU_MAX_PORTS, edl_emu_fault_kinds());
	fprintf(f, "\nprofiles (%s):\n", edl_profile_names());
	for (size_t i = 0; edl_profile_at(i) != NULL; i++) {
		const struct edl_device_profile *p = edl_profile_at(i);

		/* "write-rate" is machine-read by scripts/bench/station.py. */
		fprintf(f, "  %-9s %s; %s, %u-byte sectors, write-rate %.1f MB/s\n", p->name,
		        p->summary, edl_storage_name(p->storage), p->sector_size,
		        (double)p->write_rate_bps / 1e6);
	}
}

/* A usage error: what was wrong on one line, the usage on the next, exit 2. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("edlstation emulate: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nusage: edlstation emulate [OPTIONS] [-- COMMAND [ARGS...]] (see edlstation "
	      "emulate --help)\n",
	      stderr);
	return EDL_EXIT_USAGE;
}

/* What an option takes, for the message of a bad value. */
static const char *option_wants(int opt)
{
	switch (opt) {
	case 'n':
		return "a number of ports, 1..105";
	case 'H':
		return "a number of ports per hub, 1..15";
	case 's':
		return "a serial of up to 8 hex digits";
	case 'S':
		return "emmc, ufs or nand";
	case 'z':
		return "a sector size in bytes, 512..65536";
	case 'c':
		return "a number of sectors per LUN, 1..2^40";
	case 'l':
		return "a number of LUNs, 1..8";
	case 'p':
		return "a number of pages per erase block, 1..4096";
	case 'b':
		return "erase block numbers B[,B...], at most 256";
	case 'V':
		return "2 or 3";
	case 'm':
		return "a byte count 512..64M (K/M/G suffixes)";
	case 'u':
		return "a number of units, 0..1000000";
	case 'w':
	case 'F':
	case 'B':
		return "seconds, 0..1000000";
	case 'r':
	case 'R':
	case 'W':
		return "MB/s (10^6 bytes), 0 = unlimited";
	case 'M':
		return "MiB, 0..1048576 (0 = no limit)";
	case 'A':
		return "a USB device address, 2..127";
	case 'g':
		return "seconds, 0..3600";
	case 'Y':
		return "capture files, at most 64 --replay options and 105 files";
	case 'f':
		return "at most 64 --fault options";
	case 'e':
		return "at most 105 --empty options";
	case 'a':
		return "at most 64 --at options";
	case 'o':
		return "at most 105 --profile options";
	default:
		return "a valid value (see edlstation emulate --help)";
	}
}

static int parse_uint(const char *s, uint64_t max, int base, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !(v >= 0) || v > 1e6)
		return -1;
	*out = v;
	return 0;
}

static int parse_size(const char *s, uint64_t *out)
{
	uint64_t mult = 1, v;
	size_t n = strlen(s);
	char buf[32];

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n + 1);
	switch (buf[n - 1]) {
	case 'K':
	case 'k':
		mult = 1024;
		break;
	case 'M':
	case 'm':
		mult = 1024 * 1024;
		break;
	case 'G':
	case 'g':
		mult = 1024ull * 1024 * 1024;
		break;
	}
	if (mult > 1)
		buf[n - 1] = '\0';
	if (parse_uint(buf, UINT64_MAX / mult, 10, &v) < 0)
		return -1;
	*out = v * mult;
	return 0;
}

static int parse_bad_blocks(const char *s, uint32_t *out, size_t *n)
{
	char *copy = g_strdup(s), *save = NULL, *tok;
	int rc = 0;

	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint64_t v;

		if (*n >= MAX_BAD_BLOCKS || parse_uint(tok, UINT32_MAX, 10, &v) < 0) {
			rc = -1;
			break;
		}
		out[(*n)++] = (uint32_t)v;
	}
	g_free(copy);
	return rc;
}

int edl_cli_emulate(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"devices", required_argument, NULL, 'n'},
	        {"hub-ports", required_argument, NULL, 'H'},
	        {"serial", required_argument, NULL, 's'},
	        {"storage", required_argument, NULL, 'S'},
	        {"sector-size", required_argument, NULL, 'z'},
	        {"sectors", required_argument, NULL, 'c'},
	        {"luns", required_argument, NULL, 'l'},
	        {"pages-per-block", required_argument, NULL, 'p'},
	        {"bad-blocks", required_argument, NULL, 'b'},
	        {"sahara-version", required_argument, NULL, 'V'},
	        {"max-payload", required_argument, NULL, 'm'},
	        {"fault", required_argument, NULL, 'f'},
	        {"empty", required_argument, NULL, 'e'},
	        {"at", required_argument, NULL, 'a'},
	        {"units", required_argument, NULL, 'u'},
	        {"swap-delay", required_argument, NULL, 'w'},
	        {"fail-hold", required_argument, NULL, 'F'},
	        {"reboot-delay", required_argument, NULL, 'B'},
	        {"rate", required_argument, NULL, 'r'},
	        {"hub-rate", required_argument, NULL, 'R'},
	        {"write-rate", required_argument, NULL, 'W'},
	        {"usbfs-memory-mb", required_argument, NULL, 'M'},
	        {"max-address", required_argument, NULL, 'A'},
	        {"dump", required_argument, NULL, 'd'},
	        {"verbose", no_argument, NULL, 'v'},
	        {"cal", no_argument, NULL, 'C'},
	        {"product-suffix", required_argument, NULL, 'P'},
	        {"profile", required_argument, NULL, 'o'},
	        {"grace", required_argument, NULL, 'g'},
	        {"replay", required_argument, NULL, 'Y'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	struct edl_emu_run_config run;
	struct edl_emu_line_config cfg;
	struct edl_emu_fault faults[MAX_FAULTS];
	struct edl_emu_event events[MAX_EVENTS];
	struct edl_emu_port_profile port_profiles[MAX_PROFILES];
	const char *event_specs[MAX_EVENTS];
	const char *empty[EDL_EMU_MAX_PORTS];
	const char *fault_specs[MAX_FAULTS];
	const char *profile_specs[MAX_PROFILES];
	const char *replay[EDL_EMU_MAX_PORTS]; /* issue 16: pointers into argv's copies */
	char *replay_arg[MAX_FAULTS];
	size_t n_replay = 0, n_replay_arg = 0;
	uint32_t bad_blocks[MAX_BAD_BLOCKS];
	size_t n_faults = 0, n_events = 0, n_empty = 0, n_bad = 0, n_profiles = 0;
	size_t n_port_profiles = 0;
	struct edl_error err;
	uint64_t v;
	double d, grace_s = EDL_EMU_DEFAULT_GRACE_S;
	int opt, li = 0, rc;

	edl_emu_line_config_default(&cfg);
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+vh", opts, &li)) != -1) {
		switch (opt) {
		case 'n':
			if (parse_uint(optarg, EDL_EMU_MAX_PORTS, 10, &v) < 0 || v < 1)
				goto bad;
			cfg.devices = (unsigned)v;
			break;
		case 'H':
			if (parse_uint(optarg, 15, 10, &v) < 0 || v < 1)
				goto bad;
			cfg.hub_ports = (unsigned)v;
			break;
		case 's':
			if (parse_uint(optarg, UINT32_MAX, 16, &v) < 0)
				goto bad;
			cfg.first_serial = (uint32_t)v;
			break;
		case 'S':
			if (edl_storage_parse(optarg, &cfg.storage) != EDL_OK)
				goto bad;
			cfg.explicit_set |= EDL_EMU_SET_STORAGE;
			break;
		case 'z':
			if (parse_uint(optarg, 65536, 10, &v) < 0 || v < 512)
				goto bad;
			cfg.sector_size = (uint32_t)v;
			break;
		case 'c':
			if (parse_uint(optarg, 1ull << 40, 10, &v) < 0 || v < 1)
				goto bad;
			cfg.sectors = v;
			break;
		case 'l':
			if (parse_uint(optarg, 8, 10, &v) < 0 || v < 1)
				goto bad;
			cfg.luns = (uint32_t)v;
			break;
		case 'p':
			if (parse_uint(optarg, 4096, 10, &v) < 0 || v < 1)
				goto bad;
			cfg.pages_per_block = (uint32_t)v;
			break;
		case 'b':
			if (parse_bad_blocks(optarg, bad_blocks, &n_bad) < 0)
				goto bad;
			break;
		case 'V':
			if (parse_uint(optarg, 3, 10, &v) < 0 || v < 2)
				goto bad;
			cfg.sahara_version = (uint32_t)v;
			cfg.explicit_set |= EDL_EMU_SET_SAHARA;
			break;
		case 'o':
			if (n_profiles >= MAX_PROFILES)
				goto bad;
			profile_specs[n_profiles++] = optarg; /* parsed once --hub-ports is known */
			break;
		case 'm':
			if (parse_size(optarg, &v) < 0 || v < 512 || v > 64ull * 1024 * 1024)
				goto bad;
			cfg.max_payload = v;
			break;
		case 'f':
			if (n_faults >= MAX_FAULTS)
				goto bad;
			fault_specs[n_faults++] = optarg;
			break;
		case 'e':
			if (n_empty >= EDL_EMU_MAX_PORTS)
				goto bad;
			empty[n_empty++] = optarg;
			break;
		case 'a':
			if (n_events >= MAX_EVENTS)
				goto bad;
			event_specs[n_events++] = optarg; /* parsed once --hub-ports is known */
			break;
		case 'u':
			if (parse_uint(optarg, 1000000, 10, &v) < 0)
				goto bad;
			cfg.units = (unsigned)v;
			break;
		case 'w':
			if (parse_seconds(optarg, &cfg.swap_delay) < 0)
				goto bad;
			break;
		case 'F':
			if (parse_seconds(optarg, &cfg.fail_hold) < 0)
				goto bad;
			break;
		case 'B':
			if (parse_seconds(optarg, &cfg.reboot_delay) < 0)
				goto bad;
			break;
		case 'r':
		case 'R':
		case 'W':
			if (parse_seconds(optarg, &d) < 0)
				goto bad;
			if (opt == 'r')
				cfg.rate_mbps = d;
			else if (opt == 'R')
				cfg.hub_rate_mbps = d;
			else
				cfg.write_rate_mbps = d;
			break;
		case 'A':
			if (parse_uint(optarg, 127, 10, &v) < 0 || v < 2)
				goto bad;
			cfg.max_address = (unsigned)v;
			break;
		case 'M':
			if (parse_uint(optarg, 1u << 20, 10, &v) < 0)
				goto bad;
			cfg.usbfs_memory_mb = (unsigned)v;
			break;
		case 'd':
			cfg.dump_dir = optarg;
			break;
		case 'P':
			if (strlen(optarg) > 80)
				return usage_error(
				        "--product-suffix: %zu bytes, at most 80 (a string "
				        "descriptor holds 126 characters)",
				        strlen(optarg));
			cfg.product_suffix = optarg;
			break;
		case 'v':
			cfg.verbose = true;
			break;
		case 'C': /* issue 15: seeded calibration partitions */
			cfg.seed_cal = true;
			break;
		case 'g':
			if (parse_seconds(optarg, &grace_s) < 0 || grace_s > 3600)
				goto bad;
			break;
		case 'Y': /* issue 16: --replay FILE[,FILE...], repeatable */
			if (n_replay_arg >= MAX_FAULTS)
				goto bad;
			replay_arg[n_replay_arg] = g_strdup(optarg);
			for (char *save = NULL,
			          *tok = strtok_r(replay_arg[n_replay_arg++], ",", &save);
			     tok; tok = strtok_r(NULL, ",", &save)) {
				if (n_replay >= EDL_EMU_MAX_PORTS)
					goto bad;
				replay[n_replay++] = tok;
			}
			break;
		case 'h':
			usage(stdout);
			return EDL_EXIT_OK;
		default:
			if (optopt)
				for (const struct option *o = opts; o->name; o++)
					if (o->val == optopt)
						return usage_error("--%s needs a value: %s",
						                   o->name, option_wants(optopt));
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	for (size_t i = 0; i < n_faults; i++) {
		if (edl_emu_fault_parse(&faults[i], fault_specs[i], cfg.hub_ports, &err) != EDL_OK)
			return usage_error("--%s", err.detail);
	}
	for (size_t i = 0; i < n_events; i++) {
		if (edl_emu_event_parse(&events[i], event_specs[i], cfg.hub_ports, &err) != EDL_OK)
			return usage_error("%s", err.detail);
	}
	/* --profile NAME sets every port (the last one given wins), --profile
	 * PORT:NAME one port, whatever the order. */
	for (size_t i = 0; i < n_profiles; i++) {
		struct edl_emu_port_profile pp;
		bool every;

		if (edl_emu_profile_parse(&pp, &every, profile_specs[i], cfg.hub_ports, &err) !=
		    EDL_OK)
			return usage_error("--profile: %s", err.detail);
		if (every)
			cfg.profile = pp.profile;
		else
			port_profiles[n_port_profiles++] = pp;
	}
	cfg.port_profiles = port_profiles;
	cfg.n_port_profiles = n_port_profiles;
	cfg.faults = faults;
	cfg.n_faults = n_faults;
	cfg.empty_ports = empty;
	cfg.n_empty_ports = n_empty;
	cfg.bad_blocks = bad_blocks;
	cfg.n_bad_blocks = n_bad;
	cfg.replay = replay;
	cfg.n_replay = n_replay;
	if (cfg.devices < n_replay)
		cfg.devices = (unsigned)n_replay;

	memset(&run, 0, sizeof(run));
	run.line = cfg;
	run.events = events;
	run.n_events = n_events;
	run.command = optind < argc ? argv + optind : NULL;
	run.grace_s = grace_s;
	err.detail[0] = '\0';
	rc = edl_emu_run(&run, &err);
	if (rc == EDL_EXIT_USAGE && err.detail[0])
		return usage_error("%s", err.detail);
	if (err.detail[0])
		fprintf(stderr, "edlstation emulate: %s\n", err.detail);
	for (size_t i = 0; i < n_replay_arg; i++)
		g_free(replay_arg[i]);
	return rc;
bad:
	for (const struct option *o = opts; o->name; o++)
		if (o->val == opt && strchr("feao", opt))
			return usage_error("--%s '%s': too many (%s)", o->name, optarg,
			                   option_wants(opt));
		else if (o->val == opt)
			return usage_error("--%s '%s': expected %s", o->name, optarg,
			                   option_wants(opt));
	return usage_error("bad value '%s'", optarg);
}
