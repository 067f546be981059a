/*
 * Route by identity (include/edlstation/route.h): the station's decision at
 * the identity gate, and the table of routed packages it decides over.
 *
 * The key rule comes from how real devices take a programmer: a fused unit's
 * boot ROM checks the programmer's signature against the OEM key whose hash it
 * reports in command mode (PK hash), and refuses any other. bkerler/edl names
 * its loaders HWID_PKHASH_... and picks one by the unit's HW id and the first
 * 16 hex digits of its PK hash (edlclient/Tools/fhloaderparse: the hash of the
 * root certificate of the loader's signature; ../shared/REAL-DEVICES.md). So a
 * route names the key its programmer is signed for and a unit of another key
 * is refused before upload, never sent a programmer it would refuse (or, on an
 * unfused unit, run a wrong one).
 */
#include "edlstation/route.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "edlstation/package.h"

bool edl_route_pk_matches(const struct edl_station_route *r, const uint8_t *pk, size_t pk_len)
{
	if (r->pk_any)
		return true;
	if (r->pk_hash_len == 0 || pk_len == 0 || r->pk_hash_len > pk_len)
		return false;
	/* A whole hash (32 bytes or more: a SHA-256 or SHA-384 digest) must be the
	 * unit's whole hash; a shorter one is a prefix (edl's 8-byte loader key). */
	if (r->pk_hash_len >= 32 && r->pk_hash_len != pk_len)
		return false;
	return memcmp(r->pk_hash, pk, r->pk_hash_len) == 0;
}

static bool ids_match(const struct edl_station_route *r, const struct edl_unit_identity *id)
{
	const struct edl_sahara_identity *s = id->sahara;

	if ((r->have_msm || r->have_oem || r->have_model) && (s == NULL || !s->have_hwid))
		return false;
	if (r->have_msm && s->msm_id != r->msm_id)
		return false;
	if (r->have_oem && s->oem_id != r->oem_id)
		return false;
	if (r->have_model && s->model_id != r->model_id)
		return false;
	if (r->usb_serial[0] &&
	    (id->usb_serial == NULL ||
	     strncasecmp(id->usb_serial, r->usb_serial, strlen(r->usb_serial)) != 0))
		return false;
	return true;
}

/* "7be49b72f9e43372... (SHA-384)": the first 16 digits, as edl names loaders
 * by them, and the digest the length says. */
static const char *key_words(const uint8_t *pk, size_t pk_len, char *buf, size_t len)
{
	size_t o = 0;

	if (pk_len == 0) {
		snprintf(buf, len, "not reported");
		return buf;
	}
	for (size_t i = 0; i < pk_len && i < 8 && o + 3 <= len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%02x", pk[i]);
	if (o < len)
		snprintf(buf + o, len - o, "%s%s", pk_len > 8 ? "..." : "",
		         pk_len == 32   ? " (SHA-256)"
		         : pk_len == 48 ? " (SHA-384)"
		         : pk_len < 32  ? " (prefix)"
		                        : "");
	return buf;
}

static const char *pk_words(const struct edl_sahara_identity *s, char *buf, size_t len)
{
	return key_words(s ? s->pk_hash : NULL, s ? s->pk_hash_len : 0, buf, len);
}

void edl_route_decide(const struct edl_route_entry *routes, size_t n,
                      const struct edl_unit_identity *id, struct edl_unit_decision *out)
{
	const struct edl_sahara_identity *s = id->sahara;
	const uint8_t *pk = s != NULL ? s->pk_hash : NULL;
	size_t pk_len = s != NULL ? s->pk_hash_len : 0;
	char keys[256] = "", pkw[32];
	const char *same_key = NULL;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		const struct edl_station_route *r = routes[i].cfg;
		if (!edl_route_pk_matches(r, pk, pk_len)) {
			size_t k = strlen(keys);
			if (!r->pk_any && k + 64 < sizeof(keys)) {
				char kw[48];
				snprintf(keys + k, sizeof(keys) - k, "%s%s %s", k ? ", " : "",
				         r->name,
				         key_words(r->pk_hash, r->pk_hash_len, kw, sizeof(kw)));
			}
			continue;
		}
		if (same_key == NULL)
			same_key = r->name;
		if (!ids_match(r, id))
			continue;
		out->plan = routes[i].plan;
		out->image = routes[i].image;
		out->package_hash = routes[i].package_hash;
		out->product = r->product[0] ? r->product : r->name;
		out->route = r->name;
		return;
	}
	out->refuse = true;
	if (same_key == NULL) {
		out->code = EDL_E_PK_MISMATCH;
		snprintf(
		        out->message, sizeof(out->message),
		        "secure-boot key mismatch: this unit's OEM key is %s, no programmer for it "
		        "(the routes' programmers are signed for: %s); not uploaded",
		        pk_words(s, pkw, sizeof(pkw)), keys[0] ? keys : "no key");
		return;
	}
	out->code = EDL_E_NO_ROUTE;
	snprintf(out->message, sizeof(out->message),
	         "no route for this unit: msm %08" PRIx32 " oem %04x model %04x, USB serial %s, "
	         "OEM key %s (the key of route %s, whose other match keys differ) — check the "
	         "[route] match keys",
	         s && s->have_hwid ? s->msm_id : 0, s && s->have_hwid ? s->oem_id : 0,
	         s && s->have_hwid ? s->model_id : 0,
	         id->usb_serial && id->usb_serial[0] ? id->usb_serial : "-",
	         pk_words(s, pkw, sizeof(pkw)), same_key);
}

/* ---- the table of routed packages ---- */

struct route_loaded {
	struct edl_package *pkg;
	struct edl_sahara_image image;
	char package_hash[65];
};

struct edl_route_table {
	struct edl_route_entry entries[EDL_STATION_MAX_ROUTES];
	struct route_loaded loaded[EDL_STATION_MAX_ROUTES];
	size_t n;
};

void edl_route_package_hash(const struct edl_package *pkg, char out[65])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t md[32];
	unsigned int mdlen = 32;

	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (size_t i = 0; i < edl_package_file_count(pkg); i++) {
		struct edl_package_file f;
		edl_package_file(pkg, i, &f);
		EVP_DigestUpdate(ctx, f.path, strlen(f.path) + 1);
		EVP_DigestUpdate(ctx, f.sha256, sizeof(f.sha256));
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Route i's package, as [package]'s is loaded (hashes checked, plan built). */
static int load_one(const struct edl_station_config *cfg, size_t i, struct edl_package **pkg,
                    bool named, struct edl_error *err)
{
	const struct edl_station_route *r = &cfg->routes[i];
	struct edl_package_options popt;
	const char *raw[EDL_ROUTE_MAX_RAWPROGRAM];
	struct edl_error perr;

	edl_package_options_init(&popt);
	popt.dir = r->package;
	for (size_t k = 0; k < r->n_rawprogram; k++)
		raw[k] = r->rawprogram[k];
	popt.rawprogram = raw;
	popt.n_rawprogram = r->n_rawprogram;
	popt.programmer = r->programmer[0] ? r->programmer : NULL;
	popt.storage_set = r->storage_set;
	popt.storage = r->storage;
	popt.cache_dir = cfg->cache_dir[0] ? cfg->cache_dir : NULL;
	*pkg = NULL;
	int rc = edl_package_load(pkg, &popt, &perr);
	if (rc != EDL_OK) {
		edl_package_free(*pkg);
		*pkg = NULL;
		if (!named)
			return edl_error_set(err, rc, "%s", perr.detail);
		return edl_error_set(err, rc, "[route %s] package %s: %s", r->name, r->package,
		                     perr.detail);
	}
	return EDL_OK;
}

int edl_route_check_package(const struct edl_station_config *cfg, size_t i, struct edl_error *err)
{
	struct edl_package *pkg = NULL;
	int rc = load_one(cfg, i, &pkg, false, err);
	edl_package_free(pkg);
	return rc;
}

int edl_route_table_load(struct edl_route_table **out, const struct edl_station_config *cfg,
                         struct edl_error *err)
{
	struct edl_route_table *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (t == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "no memory for the route table");
	for (size_t i = 0; i < cfg->n_routes; i++) {
		const struct edl_station_route *r = &cfg->routes[i];
		struct route_loaded *ld = &t->loaded[i];
		int rc = load_one(cfg, i, &ld->pkg, true, err);
		if (rc != EDL_OK) {
			t->n = i;
			edl_route_table_free(t);
			return rc;
		}
		size_t len = 0;
		ld->image.id = 0x0d;
		ld->image.data = edl_package_programmer_data(ld->pkg, &len);
		ld->image.len = len;
		edl_route_package_hash(ld->pkg, ld->package_hash);
		t->entries[i] = (struct edl_route_entry){
		        .cfg = r,
		        .plan = edl_package_plan(ld->pkg),
		        .image = &ld->image,
		        .package_hash = ld->package_hash,
		};
	}
	t->n = cfg->n_routes;
	*out = t;
	return EDL_OK;
}

void edl_route_table_free(struct edl_route_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++)
		edl_package_free(t->loaded[i].pkg);
	free(t);
}

size_t edl_route_table_count(const struct edl_route_table *t)
{
	return t->n;
}

const struct edl_route_entry *edl_route_table_entry(const struct edl_route_table *t, size_t i)
{
	return i < t->n ? &t->entries[i] : NULL;
}

const struct edl_package *edl_route_table_package(const struct edl_route_table *t, size_t i)
{
	return i < t->n ? t->loaded[i].pkg : NULL;
}

int edl_route_identified(struct edl_unit *u, const struct edl_unit_identity *id,
                         struct edl_unit_decision *out, void *data)
{
	const struct edl_route_table *t = data;

	(void)u;
	/* Routing first: the unit's package and programmer (none: the env's). */
	if (t != NULL)
		edl_route_decide(t->entries, t->n, id, out);
	else
		memset(out, 0, sizeof(*out));
	if (out->refuse)
		return EDL_OK;
	/* The MES before_unit hook chains here, after routing (wt-mes): it may
	 * refuse the routed unit or add its per-unit data (out->extra), at once
	 * or later (return EDL_E_AGAIN, then edl_unit_release()). */
	return EDL_OK;
}
