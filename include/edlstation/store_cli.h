/*
 * The store's subcommands, `edlstation report` and `edlstation history`
 * (src/cli/cmd_report.c, src/cli/cmd_history.c). Same contract as the other
 * subcommands in edlstation/cli.h: argv[0] is the subcommand's name; exit codes
 * are the EDL_EXIT_* values. The database is --db FILE, else $EDLSTATION_DB,
 * else ./edlstation.db.
 */
#ifndef EDLSTATION_STORE_CLI_H
#define EDLSTATION_STORE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#define EDL_STORE_DEFAULT_DB "edlstation.db"

/* The database used when --db is not given: $EDLSTATION_DB, else "edlstation.db". */
static inline const char *edl_store_default_db(void)
{
	const char *db = getenv("EDLSTATION_DB");
	return db != NULL && db[0] != '\0' ? db : EDL_STORE_DEFAULT_DB;
}

/* --config FILE of report and history: the database a station's config names,
 * the factory database ([factory] database) first, else its results database
 * ([results] database); into out, *factory saying which. EDL_EXIT_OK, or
 * EDL_EXIT_USAGE with the config's error printed as "edlstation CMD: ...".
 * (src/cli/cmd_report.c) */
int edl_cli_config_database(char *out, size_t len, bool *factory, const char *path,
                            const char *cmd);

#endif
