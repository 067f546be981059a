/*
 * Shared inside src/factory/: the PostgreSQL schema's migrations and the
 * helpers every file that talks to the server uses. Not part of the contract
 * in include/edlstation/factory.h.
 */
#ifndef EDLSTATION_FACTORY_INTERNAL_H
#define EDLSTATION_FACTORY_INTERNAL_H

#include "edlstation/error.h"

struct pg_conn;
struct pg_result;

/* edl_factory_pg_migrations[v] moves the server from version v-1 to v; [0] is NULL. */
extern const char *const edl_factory_pg_migrations[];
extern const int edl_factory_pg_schema_version;

/* Fills err with EDL_E_DB and "what: <the server's or libpq's message>" (res
 * may be NULL: the connection's message); returns EDL_E_DB. */
int edl_factory_pg_error(struct edl_error *err, struct pg_conn *conn, const struct pg_result *res,
                         const char *what);

/* Runs fixed SQL without parameters (several statements allowed); EDL_E_DB
 * with the server's message on failure. */
int edl_factory_pg_exec(struct pg_conn *conn, const char *sql, const char *what,
                        struct edl_error *err);

#endif
