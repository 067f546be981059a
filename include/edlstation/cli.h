/*
 * The edlstation subcommands. Each lives in its own file in src/cli/ and takes
 * the arguments after its name (argv[0] is the subcommand). Exit codes: 0 success,
 * 2 usage/config/package error, 3 some units failed, 1 other failure.
 */
#ifndef EDLSTATION_CLI_H
#define EDLSTATION_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "edlstation/error.h"

enum {
	EDL_EXIT_OK = 0,
	EDL_EXIT_FAILURE = 1,
	EDL_EXIT_USAGE = 2,
	EDL_EXIT_UNITS_FAILED = 3,
	EDL_EXIT_NOT_RECORDED = 4, /* units flashed whose results are not recorded yet */
};

struct edl_station_summary;
/* The exit code of a station run (main.c): 0 all finished units passed, 3 some
 * failed, 2 usage/config/package error or a database held by another station,
 * 1 another failure. */
int edl_cli_station_exit(int rc, const struct edl_station_summary *sum);

/*
 * A usage error, the same for every command: one line saying what was wrong
 * ("edlstation run: unexpected argument 'extra'"), one line of usage ("usage:
 * edlstation run [--config FILE] ... (see edlstation run --help)"), both on
 * stderr. command is the subcommand ("run"), usage its synopsis without
 * "usage: edlstation". Returns EDL_EXIT_USAGE.
 */
int edl_cli_usage_error(const char *command, const char *usage, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* An EDL device attached now, as `list` and `run --dry-run` show it. */
struct edl_cli_usb_device {
	char port[32];     /* USB port path, "1-1.3" */
	char serial[9];    /* chip serial from iProduct's SN:; "-" when absent */
	char product[128]; /* iProduct; "?" when unreadable */
	bool dump;         /* memory-dump mode (900e), not EDL (9008) */
};

/* Lists the EDL devices attached now (blocking libusb calls: not for the
 * station's loop). *out (caller frees with free()) holds *n devices. Errors:
 * EDL_E_USB when libusb cannot start or list devices (err says why and what
 * to check). */
int edl_cli_usb_list(struct edl_cli_usb_device **out, size_t *n, struct edl_error *err);

struct edl_station_config;
/* Told one finished problem line "WHERE: problem — fix". */
typedef void (*edl_cli_problem_fn)(const char *message, void *data);

/*
 * Tries the paths a config names, each problem naming the key and its line
 * (edl_station_config_where) and the fix: package directory, database
 * directory (exists, writable), log and cache directories (writable or
 * creatable). thorough (config check) also loads the package (hashes it) and
 * tries permissions of files; otherwise only what `run` needs before it
 * starts (package directory when set by the file, database directory). Returns
 * the number of problems.
 */
unsigned edl_cli_config_check_paths(const struct edl_station_config *cfg, bool thorough,
                                    edl_cli_problem_fn problem, void *data);

int edl_cli_config(int argc, char **argv);
int edl_cli_package(int argc, char **argv);
int edl_cli_run(int argc, char **argv);
int edl_cli_list(int argc, char **argv);
int edl_cli_identify(int argc, char **argv);
int edl_cli_report(int argc, char **argv);
int edl_cli_history(int argc, char **argv);
int edl_cli_db(int argc, char **argv);
int edl_cli_sync(int argc, char **argv); /* cmd_sync.c (issue 14) */
int edl_cli_emulate(int argc, char **argv);
int edl_cli_memflash(int argc, char **argv);
int edl_cli_mkpackage(int argc, char **argv);
int edl_cli_udev_rule(int argc, char **argv);
int edl_cli_capture(int argc, char **argv); /* cmd_capture.c */

#endif
