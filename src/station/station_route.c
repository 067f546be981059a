/*
 * The station's side of route by identity (issue 15) at start: every
 * [route NAME] package loaded and verified before the first unit (a bad one
 * stops the start, naming its route), each recorded in the store as the
 * single package is, and the routes told in the "ready" event. Deciding at
 * identity is route.c's (edl_route_identified, the units' env->identified).
 */
#include "station_internal.h"

#include <inttypes.h>
#include <string.h>

int station_routes_load(struct station *st, struct edl_error *err)
{
	const struct edl_station_config *cfg = st->cfg;

	if (cfg->package[0] != '\0')
		return edl_error_set(err, EDL_E_USAGE,
		                     "a package (%s) and [route] sections both given: with routes "
		                     "every package is a route's — drop --package or [package] dir",
		                     cfg->package);
	return edl_route_table_load(&st->routes, cfg, err);
}

void station_routes_record(struct station *st)
{
	for (size_t i = 0; i < edl_route_table_count(st->routes); i++) {
		const struct edl_route_entry *e = edl_route_table_entry(st->routes, i);
		const struct edl_package *pkg = edl_route_table_package(st->routes, i);
		struct edl_store_package spk = {
		        .manifest_hash = e->package_hash,
		        .path = e->cfg->package,
		        .name = edl_package_name(pkg)[0] ? edl_package_name(pkg) : NULL,
		        .version = edl_package_version(pkg)[0] ? edl_package_version(pkg) : NULL,
		        .storage = edl_storage_name(e->plan->storage),
		        .bytes = e->plan->total_bytes,
		};
		edl_store_writer_package(st->store, &spk, NULL, NULL);
	}
}

void station_routes_ready(struct station *st)
{
	size_t n = edl_route_table_count(st->routes);

	for (size_t i = 0; i < n; i++) {
		const struct edl_route_entry *e = edl_route_table_entry(st->routes, i);
		const struct edl_station_route *r = e->cfg;
		char match[160] = "";
		size_t o = 0;
		if (r->have_msm)
			o += (size_t)snprintf(match + o, sizeof(match) - o, " msm %08" PRIx32,
			                      r->msm_id);
		if (r->have_oem && o < sizeof(match))
			o += (size_t)snprintf(match + o, sizeof(match) - o, " oem %04x", r->oem_id);
		if (r->have_model && o < sizeof(match))
			o += (size_t)snprintf(match + o, sizeof(match) - o, " model %04x",
			                      r->model_id);
		if (r->usb_serial[0] && o < sizeof(match))
			o += (size_t)snprintf(match + o, sizeof(match) - o, " usb_serial %s*",
			                      r->usb_serial);
		char key[40] = "any (unfused units)";
		if (!r->pk_any) {
			size_t k = 0;
			for (size_t b = 0; b < r->pk_hash_len && b < 8; b++)
				k += (size_t)snprintf(key + k, sizeof(key) - k, "%02x",
				                      r->pk_hash[b]);
			snprintf(key + k, sizeof(key) - k, "%s", r->pk_hash_len > 8 ? "..." : "");
		}
		view_event(st, NULL, "route",
		           "route %s (product %s):%s%s OEM key %s -> package %s (%s, %zu steps, "
		           "%" PRIu64 " bytes)",
		           r->name, r->product[0] ? r->product : r->name, match[0] ? match : "",
		           match[0] ? "," : " any unit,", key, r->package,
		           edl_storage_name(e->plan->storage), e->plan->n_steps,
		           e->plan->total_bytes);
	}
	view_event(st, NULL, "ready",
	           "station %s: %zu routes, every package verified, waiting for EDL devices",
	           st->cfg->name, n);
}
