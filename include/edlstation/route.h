/*
 * Route by identity (issue 15): one bench serves several products. Each
 * `[route NAME]` section of the station config maps a unit's identity (MSM id,
 * OEM id, model id, a prefix of its USB serial) to a package and a programmer,
 * and names the OEM key (PK hash) that programmer is signed for. At identity
 * (the unit core's gate, include/edlstation/unit.h) the station routes the
 * unit: the first route, in file order, whose match keys all match and whose
 * key is the unit's. A unit whose key no route's programmer carries is refused
 * before upload (EDL_E_PK_MISMATCH, class wrong programmer): never a blind
 * upload. A unit whose key is known but whose ids match no route of that key is
 * refused with EDL_E_NO_ROUTE (class wrong package).
 *
 * route_config.c parses the sections (config.c calls it for every key of a
 * `[route NAME]` section); route.c loads every routed package at start and
 * decides. Ownership: a table owns its packages; decisions point into it, so
 * the table must outlive every unit it routed.
 */
#ifndef EDLSTATION_ROUTE_H
#define EDLSTATION_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edlstation/error.h"
#include "edlstation/station.h"
#include "edlstation/unit.h"

/* ---- the INI form (route_config.c) ---- */

/* The keys of a [route NAME] section, NULL-terminated (for messages and docs). */
extern const char *const edl_route_config_keys[];

/*
 * One key of section "route NAME" (name: what follows "route "), read on
 * `line`. The route is created at its first key. Returns 0, or -1 with msg
 * holding "what is wrong — the fix" (config.c prefixes FILE:LINE: [route NAME]
 * key).
 */
int edl_route_config_key(struct edl_station_config *cfg, const char *name, unsigned line,
                         const char *key, const char *value, char *msg, size_t len);

/* What every route needs once the whole file is read (a package, an OEM key,
 * a name of its own); report is told each problem with the route's line.
 * Returns the number of problems. */
size_t edl_route_config_check(const struct edl_station_config *cfg,
                              void (*report)(unsigned line, const char *msg, void *data),
                              void *data);

/* ---- deciding (route.c) ---- */

/* One route as the decision sees it: its config and, once loaded, its package. */
struct edl_route_entry {
	const struct edl_station_route *cfg;
	const struct edl_plan *plan;          /* NULL until loaded */
	const struct edl_sahara_image *image; /* the route's programmer */
	const char *package_hash;
};

/*
 * The decision for a unit of identity id over routes[0..n): a release naming
 * the route's plan, programmer, package hash and product, or a refusal with
 * EDL_E_PK_MISMATCH ("secure-boot key mismatch: this unit's OEM key is ...,
 * no programmer for it") or EDL_E_NO_ROUTE. Pure: no I/O.
 */
void edl_route_decide(const struct edl_route_entry *routes, size_t n,
                      const struct edl_unit_identity *id, struct edl_unit_decision *out);

/* Whether route r's key is the unit's (bkerler/edl's loader naming: the first
 * 16 hex digits suffice). */
bool edl_route_pk_matches(const struct edl_station_route *r, const uint8_t *pk, size_t pk_len);

struct edl_route_table;

/*
 * Loads and verifies every route's package (as the single [package] is:
 * hashes checked, plan built). Returns EDL_OK, or the package error with err
 * naming the route ("[route NAME] package DIR: ..."). *out is the caller's.
 */
int edl_route_table_load(struct edl_route_table **out, const struct edl_station_config *cfg,
                         struct edl_error *err);
void edl_route_table_free(struct edl_route_table *t);
/* Loads route i's package and frees it again: `config check`. EDL_OK or the
 * package's own error (the caller names the route's key). */
int edl_route_check_package(const struct edl_station_config *cfg, size_t i, struct edl_error *err);
size_t edl_route_table_count(const struct edl_route_table *t);
const struct edl_route_entry *edl_route_table_entry(const struct edl_route_table *t, size_t i);
/* The loaded package of route i (for its name, version and storage). */
const struct edl_package *edl_route_table_package(const struct edl_route_table *t, size_t i);

/* The station's one entry point at identity (the unit core's env->identified):
 * data is the route table, or NULL (no routes: the env's package). Routes
 * first and decides at once (EDL_OK); the MES before_unit hook chains after
 * the routing, in this function. */
int edl_route_identified(struct edl_unit *u, const struct edl_unit_identity *id,
                         struct edl_unit_decision *out, void *data);

/* The package's identity recorded with each run: SHA-256 over the (path,
 * sha256) of its files, 64 hex digits and a NUL into out. */
struct edl_package;
void edl_route_package_hash(const struct edl_package *pkg, char out[65]);

#endif
