/*
 * The edlstation binary: dispatches to one subcommand per file in src/cli/.
 * This file only wires; the work is done in the modules.
 */
#include "edlstation/cli.h"
#include "edlstation/station.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
        {"run", edl_cli_run, "flash every EDL device that appears with a package"},
        {"list", edl_cli_list, "list the EDL devices attached (port, slot, USB serial)"},
        {"identify", edl_cli_identify, "read serial, HW id and PK hash of every EDL device"},
        {"config", edl_cli_config, "check a station config: keys, paths, permissions, port map"},
        {"report", edl_cli_report, "yield report: units, yields, slots, failure Pareto"},
        {"history", edl_cli_history, "every run of one unit, by serial"},
        {"db", edl_cli_db, "db check [--full]: is the results database sound"},
        {"sync", edl_cli_sync, "sync status|push: the factory database sync (PostgreSQL)"},
        {"package", edl_cli_package,
         "load, validate and verify a firmware package; print its plan"},
        {"emulate", edl_cli_emulate, "run a command with emulated EDL devices on emulated USB"},
        {"memflash", edl_cli_memflash, "flash one emulated unit over the in-memory link (no USB)"},
        {"mkpackage", edl_cli_mkpackage,
         "write a synthetic package (ufs, emmc or nand) for demos and tests"},
        {"capture", edl_cli_capture, "decode a unit's USB capture (pcapng/pcap, usbmon)"},
        {"udev-rule", edl_cli_udev_rule,
         "print the udev rule that lets the station's user at EDL devices"},
};

int edl_cli_station_exit(int rc, const struct edl_station_summary *sum)
{
	if (rc == EDL_OK)
		return sum->not_recorded > 0 ? EDL_EXIT_NOT_RECORDED
		       : sum->failed > 0     ? EDL_EXIT_UNITS_FAILED
		                             : EDL_EXIT_OK;
	/* What the operator must fix before the station can run. */
	if (rc == EDL_E_USAGE || rc == EDL_E_CONFIG || rc == EDL_E_BUSY || rc == EDL_E_DB_LOCKED ||
	    (rc <= EDL_E_PKG_MISSING && rc >= EDL_E_PKG_XML_UNSAFE))
		return EDL_EXIT_USAGE;
	return EDL_EXIT_FAILURE;
}

int edl_cli_usage_error(const char *command, const char *usage, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "edlstation %s: ", command);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: edlstation %s %s (see edlstation %s --help)\n", command, usage,
	        command);
	return EDL_EXIT_USAGE;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: edlstation COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'edlstation COMMAND --help' describes a command.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "edlstation: no command given\nusage: edlstation COMMAND [ARGS...] "
		                "(see edlstation --help)\n");
		return EDL_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return EDL_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("edlstation %s\n", EDL_VERSION);
		return EDL_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	}
	fprintf(stderr,
	        "edlstation: unknown command '%s'\nusage: edlstation COMMAND [ARGS...] (see "
	        "edlstation --help)\n",
	        argv[1]);
	return EDL_EXIT_USAGE;
}
