/*
 * Shared inside src/factory/: the PostgreSQL schema's migrations.
 */
#ifndef EDLSTATION_FACTORY_INTERNAL_H
#define EDLSTATION_FACTORY_INTERNAL_H

/* edl_factory_pg_migrations[v] moves the server from version v-1 to v; [0] is NULL. */
extern const char *const edl_factory_pg_migrations[];
extern const int edl_factory_pg_schema_version;

#endif
