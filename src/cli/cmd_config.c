/*
 * `edlstation config check [--config FILE]`: a technician's check of a station
 * config before the line starts. Every key is validated by the loader (each
 * problem with its file:line), then the paths the config names are tried as the
 * station would use them: the package loads, the database directory exists and
 * is writable, the log and cache directories are writable or can be created.
 * Prints every problem as "FILE:LINE: [section] key: problem — fix", then
 * "config ok" (exit 0) or the count (exit 2). The path checks are shared with
 * `run` (edl_cli_config_check_paths), which makes the cheap ones before it
 * starts so a missing directory is named by its key, not by a later open.
 */
#include "edlstation/cli.h"
#include "edlstation/package.h"
#include "edlstation/route.h"
#include "edlstation/mes.h"
#include "edlstation/station.h"
#include "edlstation/store_cli.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_USAGE "check [--config FILE]"

struct checker {
	const struct edl_station_config *cfg;
	edl_cli_problem_fn problem;
	void *data;
	unsigned problems;
};

static void report(struct checker *c, const char *section, const char *key, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* "WHERE: what — fix", WHERE naming the key's line or option. */
static void report(struct checker *c, const char *section, const char *key, const char *fmt, ...)
{
	char where[640], what[1536], msg[2304];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	edl_station_config_where(c->cfg, section, key, where, sizeof(where));
	snprintf(msg, sizeof(msg), "%s: %s", where, what);
	c->problems++;
	if (c->problem != NULL)
		c->problem(msg, c->data);
}

/* The fix's second half: the option that set it, else the key. */
static const char *or_set(const struct edl_station_config *cfg, const char *section,
                          const char *key, char *buf, size_t len)
{
	char where[640];
	edl_station_config_where(cfg, section, key, where, sizeof(where));
	if (where[0] == '-')
		snprintf(buf, len, "give another %.40s", where);
	else
		snprintf(buf, len, "set [%s] %s", section, key);
	return buf;
}

/* The directory part of a file path ("." for a bare name). */
static void parent_of(const char *path, char *out, size_t len)
{
	char tmp[1024];
	snprintf(tmp, sizeof(tmp), "%s", path);
	snprintf(out, len, "%s", dirname(tmp));
}

static void check_package(struct checker *c, bool thorough)
{
	const struct edl_station_config *cfg = c->cfg;
	struct stat st;
	char alt[96];

	or_set(cfg, "package", "dir", alt, sizeof(alt));
	if (stat(cfg->package, &st) != 0) {
		report(c, "package", "dir", "%s %s — copy the package there or %s", cfg->package,
		       errno == ENOENT ? "does not exist" : strerror(errno), alt);
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		report(c, "package", "dir",
		       "%s is not a directory — give the package's root "
		       "directory, or %s",
		       cfg->package, alt);
		return;
	}
	if (access(cfg->package, R_OK | X_OK) != 0) {
		report(c, "package", "dir",
		       "%s cannot be read by this user (uid %u) — make it readable (chmod -R a+rX) "
		       "or %s",
		       cfg->package, (unsigned)geteuid(), alt);
		return;
	}
	if (!thorough)
		return;
	struct edl_package_options popt;
	const char *raw[EDL_STATION_MAX_LIST];
	struct edl_package *pkg = NULL;
	struct edl_error err;

	edl_station_package_options(cfg, &popt, raw);
	if (edl_package_load(&pkg, &popt, &err) != EDL_OK) {
		/* A named rawprogram or programmer is the likelier culprit. */
		const char *key = "dir";
		if (cfg->n_rawprogram > 0 && strstr(err.detail, "rawprogram") != NULL)
			key = "rawprogram";
		else if (cfg->programmer[0] && strstr(err.detail, cfg->programmer) != NULL)
			key = "programmer";
		report(c, "package", key,
		       "the package %s does not load: %s — fix it (edlstation package check %s "
		       "lists every problem) or %s",
		       cfg->package, err.detail, cfg->package, alt);
	}
	edl_package_free(pkg);
}

/* A directory the station writes into: it exists and is writable. */
static void check_dir_writable(struct checker *c, const char *section, const char *key,
                               const char *dir, const char *what, const char *alt)
{
	struct stat st;

	if (stat(dir, &st) != 0) {
		report(c, section, key,
		       "%sdirectory %s does not exist — create it (install -d -o edlstation %s) or "
		       "%s",
		       what, dir, dir, alt);
	} else if (!S_ISDIR(st.st_mode)) {
		report(c, section, key, "%s%s is not a directory — %s", what, dir, alt);
	} else if (access(dir, W_OK | X_OK) != 0) {
		report(c, section, key,
		       "%sdirectory %s is not writable by this user (uid %u) — chown it to the "
		       "station's user (chown edlstation %s) or %s",
		       what, dir, (unsigned)geteuid(), dir, alt);
	}
}

/* A directory the station creates when missing: it exists and is writable, or
 * its nearest existing ancestor is. */
static void check_dir_creatable(struct checker *c, const char *section, const char *key,
                                const char *dir)
{
	char alt[96], up[1024];
	struct stat st;

	or_set(c->cfg, section, key, alt, sizeof(alt));
	if (stat(dir, &st) == 0) {
		check_dir_writable(c, section, key, dir, "", alt);
		return;
	}
	snprintf(up, sizeof(up), "%s", dir);
	for (;;) {
		char next[1024];
		parent_of(up, next, sizeof(next));
		if (!strcmp(next, up))
			break;
		snprintf(up, sizeof(up), "%s", next);
		if (stat(up, &st) == 0)
			break;
	}
	if (stat(up, &st) != 0 || !S_ISDIR(st.st_mode) || access(up, W_OK | X_OK) != 0)
		report(c, section, key,
		       "%s does not exist and cannot be created (%s is not writable by uid %u) — "
		       "create it (install -d -o edlstation %s) or %s",
		       dir, up, (unsigned)geteuid(), dir, alt);
}

static void check_database(struct checker *c, bool thorough)
{
	const char *db = c->cfg->db[0] ? c->cfg->db : edl_store_default_db();
	char dir[1024], alt[96];
	struct stat st;

	or_set(c->cfg, "results", "database", alt, sizeof(alt));
	parent_of(db, dir, sizeof(dir));
	unsigned before = c->problems;
	check_dir_writable(c, "results", "database", dir, "", alt);
	if (c->problems != before || !thorough)
		return;
	if (stat(db, &st) == 0) {
		if (!S_ISREG(st.st_mode))
			report(c, "results", "database", "%s is not a file — %s", db, alt);
		else if (access(db, R_OK | W_OK) != 0)
			report(c, "results", "database",
			       "%s is not writable by this user (uid %u) — chown it to the "
			       "station's user (chown edlstation %s) or %s",
			       db, (unsigned)geteuid(), db, alt);
	}
}

/* issue 13: the MES hooks' programs exist and can be run. */
static void check_mes(struct checker *c)
{
	const char *keys[2] = {"before_unit", "after_unit"};
	const char *cmds[2] = {c->cfg->mes.before_unit, c->cfg->mes.after_unit};
	char why[300];

	for (int i = 0; i < 2; i++) {
		char **argv = NULL;
		if (cmds[i][0] == '\0')
			continue;
		if (edl_mes_split_command(&argv, cmds[i], why, sizeof(why)) == EDL_OK &&
		    edl_mes_check_program(argv[0], why, sizeof(why)) != EDL_OK)
			report(c, "mes", keys[i], "%s — install it, or fix the path", why);
		edl_mes_argv_free(argv);
	}
	if (c->cfg->mes.retry_min_ms > c->cfg->mes.retry_max_ms)
		report(c, "mes", "retry_max_ms",
		       "%u ms is below retry_min_ms (%u ms) — set it at least as large",
		       c->cfg->mes.retry_max_ms, c->cfg->mes.retry_min_ms);
}

unsigned edl_cli_config_check_paths(const struct edl_station_config *cfg, bool thorough,
                                    edl_cli_problem_fn problem, void *data)
{
	struct checker c = {.cfg = cfg, .problem = problem, .data = data};

	/* Before the run, only a package directory the file names is checked
	 * here: one given by --package is the station's to report. */
	if (cfg->package[0] && (thorough || edl_station_config_line(cfg, "package", "dir") > 0))
		check_package(&c, thorough);
	/* issue 15: every routed package loads (as the single one does). */
	for (size_t i = 0; thorough && i < cfg->n_routes; i++) {
		if (cfg->routes[i].package[0] == '\0')
			continue; /* said by the loader: no package */
		struct edl_error err;
		char section[48];
		snprintf(section, sizeof(section), "route %s", cfg->routes[i].name);
		if (edl_route_check_package(cfg, i, &err) != EDL_OK)
			report(&c, section, "package",
			       "the package %s does not load: %s — fix it (edlstation package "
			       "check %s lists every problem)",
			       cfg->routes[i].package, err.detail, cfg->routes[i].package);
	}
	check_database(&c, thorough);
	/* Directories the station writes while it runs: checked before "ready"
	 * too (a stat and an access each), so that an unwritable one stops the
	 * start with the fix instead of a warning per unit later. */
	if (cfg->log_dir[0])
		check_dir_creatable(&c, "results", "log_dir", cfg->log_dir);
	if (cfg->cache_dir[0])
		check_dir_creatable(&c, "package", "cache_dir", cfg->cache_dir);
	if (cfg->record_dir[0])
		check_dir_creatable(&c, "station", "record", cfg->record_dir);
	check_mes(&c);
	/* issue 15: the units' own data needs a place before a unit is touched. */
	if (cfg->n_rma_preserve > 0 && !cfg->rma_archive_dir[0])
		report(&c, "rma", "preserve",
		       "labels to preserve but no archive directory — set [rma] archive_dir "
		       "(e.g. /var/lib/edlstation/rma)");
	if (cfg->n_rma_preserve > 0 && cfg->rma_archive_dir[0])
		check_dir_creatable(&c, "rma", "archive_dir", cfg->rma_archive_dir);
	return c.problems;
}

static void print_problem(const char *message, void *data)
{
	unsigned *n = data;
	(*n)++;
	printf("%s\n", message);
}

static void help(void)
{
	printf("usage: edlstation config " CONFIG_USAGE "\n"
	       "  Checks a station config without starting the line: every key (its value\n"
	       "  and the INI syntax), the package (it loads: hashes are checked), the\n"
	       "  database directory (exists, writable), log_dir and cache_dir (writable or\n"
	       "  creatable) and the port map (port paths, labels used once). Prints each\n"
	       "  problem as FILE:LINE: [section] key: problem — fix.\n"
	       "  --config FILE   the INI file; without it, the defaults `run` uses without\n"
	       "                  --config (database edlstation.db here, or $EDLSTATION_DB)\n"
	       "  Exit: 0 config ok, 2 problems found (or a usage error).\n");
}

int edl_cli_config(int argc, char **argv)
{
	const char *path = NULL;
	int i = 1;

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		help();
		return EDL_EXIT_OK;
	}
	if (argc < 2)
		return edl_cli_usage_error("config", CONFIG_USAGE, "no subcommand given");
	if (strcmp(argv[1], "check") != 0)
		return edl_cli_usage_error("config", CONFIG_USAGE, "unknown subcommand '%s'",
		                           argv[1]);
	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			help();
			return EDL_EXIT_OK;
		} else if (!strcmp(argv[i], "--config")) {
			if (i + 1 >= argc)
				return edl_cli_usage_error("config", CONFIG_USAGE,
				                           "--config needs a file");
			path = argv[++i];
		} else if (!strncmp(argv[i], "--config=", 9)) {
			path = argv[i] + 9;
		} else if (argv[i][0] == '-') {
			return edl_cli_usage_error("config", CONFIG_USAGE, "unknown option '%s'",
			                           argv[i]);
		} else {
			return edl_cli_usage_error("config", CONFIG_USAGE,
			                           "unexpected argument '%s'", argv[i]);
		}
	}
	struct edl_station_config *cfg = malloc(sizeof(*cfg));
	struct edl_error err;
	unsigned problems = 0;

	if (cfg == NULL) {
		fprintf(stderr, "edlstation config: out of memory\n");
		return EDL_EXIT_FAILURE;
	}
	edl_station_config_default(cfg);
	int rc = path != NULL
	                 ? edl_station_config_load_all(cfg, path, print_problem, &problems, &err)
	                 : EDL_OK;
	/* A file that cannot be read has no paths worth trying. */
	if (rc == EDL_OK || cfg->source.path[0])
		edl_cli_config_check_paths(cfg, true, print_problem, &problems);
	if (path == NULL)
		path = "the defaults (no --config)";
	if (!cfg->package[0] && cfg->n_routes == 0)
		printf("note: %s set no [package] dir: run needs --package DIR\n", path);
	free(cfg);
	if (problems > 0) {
		printf("config check: %u problem(s) in %s — fix them and run edlstation config "
		       "check again\n",
		       problems, path);
		return EDL_EXIT_USAGE;
	}
	printf("config ok: %s\n", path);
	return EDL_EXIT_OK;
}
