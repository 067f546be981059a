/*
 * The edlstation subcommands. Each lives in its own file in src/cli/ and takes
 * the arguments after its name (argv[0] is the subcommand). Exit codes: 0 success,
 * 2 usage/config/package error, 3 some units failed, 1 other failure.
 */
#ifndef EDLSTATION_CLI_H
#define EDLSTATION_CLI_H

enum {
	EDL_EXIT_OK = 0,
	EDL_EXIT_FAILURE = 1,
	EDL_EXIT_USAGE = 2,
	EDL_EXIT_UNITS_FAILED = 3,
};

struct edl_station_summary;
/* The exit code of a station run (main.c): 0 all finished units passed, 3 some
 * failed, 2 usage/config/package error or a database held by another station,
 * 1 another failure. */
int edl_cli_station_exit(int rc, const struct edl_station_summary *sum);

int edl_cli_package(int argc, char **argv);
int edl_cli_run(int argc, char **argv);
int edl_cli_list(int argc, char **argv);
int edl_cli_identify(int argc, char **argv);
int edl_cli_report(int argc, char **argv);
int edl_cli_history(int argc, char **argv);
int edl_cli_emulate(int argc, char **argv);
int edl_cli_memflash(int argc, char **argv);
int edl_cli_mkpackage(int argc, char **argv);
int edl_cli_udev_rule(int argc, char **argv);
int edl_cli_capture(int argc, char **argv); /* cmd_capture.c */

#endif
