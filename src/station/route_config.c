/*
 * The `[route NAME]` sections of the station config (issue 15, route by
 * identity): one section per route, its keys parsed here into
 * cfg->routes[] (config.c hands over every key of such a section and prefixes
 * the messages with FILE:LINE: [route NAME] key). The form:
 *
 *   [route alpha]
 *   msm = 0x007050e1        ; match keys, each optional: MSM id, OEM id,
 *   oem = 0x0000            ; model id (hex), a prefix of the iProduct serial
 *   usb_serial = 1A2B
 *   pk_hash = 7be49b72...   ; the OEM key its programmer is signed for (required):
 *                           ; whole, or its first 16+ hex digits; "any" = no check
 *   package = /srv/pkg/alpha
 *   programmer = prog_firehose_ddr.elf   ; optional, as [package] programmer
 *   rawprogram = rawprogram0.xml         ; optional, repeatable
 *   storage = emmc                       ; optional
 *   product = Alpha-1                    ; recorded as run.product (default: NAME)
 */
#include "edlstation/route.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const edl_route_config_keys[] = {
        "product", "msm",        "oem",        "model",   "usb_serial", "pk_hash",
        "package", "programmer", "rawprogram", "storage", NULL,
};

static bool name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= sizeof(((struct edl_station_route *)0)->name))
		return false;
	for (const char *c = name; *c; c++) {
		if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.')
			return false;
	}
	return true;
}

static struct edl_station_route *route_of(struct edl_station_config *cfg, const char *name,
                                          unsigned line, char *msg, size_t len)
{
	for (size_t i = 0; i < cfg->n_routes; i++) {
		if (strcmp(cfg->routes[i].name, name) == 0)
			return &cfg->routes[i];
	}
	if (!name_ok(name)) {
		snprintf(msg, len,
		         "'%.40s' is not a route name — name it with 1 to 31 letters, digits, '-', "
		         "'_' or '.', as [route alpha]",
		         name);
		return NULL;
	}
	if (cfg->n_routes == EDL_STATION_MAX_ROUTES) {
		snprintf(msg, len, "more than %d routes — merge routes or run a second station",
		         EDL_STATION_MAX_ROUTES);
		return NULL;
	}
	struct edl_station_route *r = &cfg->routes[cfg->n_routes++];
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->line = line;
	return r;
}

/* Hex with an optional 0x, at most max_digits digits. */
static int get_hex(const char *v, unsigned max_digits, uint32_t *out)
{
	char *end;

	if (v[0] == '0' && (v[1] == 'x' || v[1] == 'X'))
		v += 2;
	size_t n = strlen(v);
	if (n == 0 || n > max_digits)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)v[i]))
			return -1;
	errno = 0;
	unsigned long x = strtoul(v, &end, 16);
	if (errno || *end)
		return -1;
	*out = (uint32_t)x;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	return tolower((unsigned char)c) - 'a' + 10;
}

static int get_pk(struct edl_station_route *r, const char *v)
{
	if (!strcasecmp(v, "any")) {
		r->pk_any = true;
		r->pk_hash_len = 0;
		return 0;
	}
	if (v[0] == '0' && (v[1] == 'x' || v[1] == 'X'))
		v += 2;
	size_t n = strlen(v);
	if (n < 16 || n > 2 * sizeof(r->pk_hash) || n % 2 != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)v[i]))
			return -1;
	for (size_t i = 0; i < n / 2; i++)
		r->pk_hash[i] = (uint8_t)(hexval(v[2 * i]) << 4 | hexval(v[2 * i + 1]));
	r->pk_hash_len = n / 2;
	r->pk_any = false;
	return 0;
}

static int copy(char *dst, size_t len, const char *v)
{
	if (strlen(v) >= len)
		return -1;
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

int edl_route_config_key(struct edl_station_config *cfg, const char *name, unsigned line,
                         const char *key, const char *value, char *msg, size_t len)
{
	struct edl_station_route *r = route_of(cfg, name, line, msg, len);
	uint32_t x;

	if (r == NULL)
		return -1;
	if (!strcmp(key, "product")) {
		if (copy(r->product, sizeof(r->product), value) || !value[0]) {
			snprintf(msg, len, "'%.40s' is not accepted — give 1 to 63 characters",
			         value);
			return -1;
		}
	} else if (!strcmp(key, "msm")) {
		if (get_hex(value, 8, &x)) {
			snprintf(msg, len,
			         "'%.40s' is not accepted — give the MSM id in hex as `edlstation "
			         "identify` shows it (msm ...), e.g. 0x007050e1",
			         value);
			return -1;
		}
		r->msm_id = x;
		r->have_msm = true;
	} else if (!strcmp(key, "oem") || !strcmp(key, "model")) {
		if (get_hex(value, 4, &x)) {
			snprintf(msg, len,
			         "'%.40s' is not accepted — give the %s id in hex (at most 4 "
			         "digits), "
			         "e.g. 0x0000",
			         value, key);
			return -1;
		}
		if (!strcmp(key, "oem")) {
			r->oem_id = (uint16_t)x;
			r->have_oem = true;
		} else {
			r->model_id = (uint16_t)x;
			r->have_model = true;
		}
	} else if (!strcmp(key, "usb_serial")) {
		if (copy(r->usb_serial, sizeof(r->usb_serial), value) || !value[0]) {
			snprintf(msg, len,
			         "'%.40s' is not accepted — give a prefix of the iProduct serial "
			         "(1 to 63 characters)",
			         value);
			return -1;
		}
	} else if (!strcmp(key, "pk_hash")) {
		if (get_pk(r, value)) {
			snprintf(msg, len,
			         "'%.40s%s' is not accepted — give the OEM key hash the route's "
			         "programmer is signed for, in hex as `edlstation identify` shows "
			         "it (PK hash ...): all of it, or its first 16 or more digits (an "
			         "even number); or any for unfused units",
			         value, strlen(value) > 40 ? "..." : "");
			return -1;
		}
	} else if (!strcmp(key, "package")) {
		if (copy(r->package, sizeof(r->package), value) || !value[0]) {
			snprintf(msg, len, "path empty or too long — give the package directory");
			return -1;
		}
	} else if (!strcmp(key, "programmer")) {
		if (copy(r->programmer, sizeof(r->programmer), value)) {
			snprintf(msg, len, "path too long — use a shorter one");
			return -1;
		}
	} else if (!strcmp(key, "rawprogram")) {
		if (r->n_rawprogram == EDL_ROUTE_MAX_RAWPROGRAM ||
		    copy(r->rawprogram[r->n_rawprogram], sizeof(r->rawprogram[0]), value)) {
			snprintf(msg, len,
			         "at most %d rawprogram files a route, each path shorter than 256 "
			         "bytes",
			         EDL_ROUTE_MAX_RAWPROGRAM);
			return -1;
		}
		r->n_rawprogram++;
	} else if (!strcmp(key, "storage")) {
		if (edl_storage_parse(value, &r->storage) != EDL_OK) {
			snprintf(msg, len, "'%.40s' is not accepted — set emmc, ufs or nand",
			         value);
			return -1;
		}
		r->storage_set = true;
	} else {
		size_t n = 0;
		n += (size_t)snprintf(msg, len, "unknown key — the keys of a route are");
		for (size_t i = 0; edl_route_config_keys[i] && n < len; i++)
			n += (size_t)snprintf(msg + n, len - n, "%s %s", i ? "," : "",
			                      edl_route_config_keys[i]);
		return -1;
	}
	return 0;
}

size_t edl_route_config_check(const struct edl_station_config *cfg,
                              void (*report)(unsigned line, const char *msg, void *data),
                              void *data)
{
	char msg[EDL_ERROR_DETAIL_MAX];
	size_t problems = 0;

	for (size_t i = 0; i < cfg->n_routes; i++) {
		const struct edl_station_route *r = &cfg->routes[i];
		if (!r->package[0]) {
			snprintf(
			        msg, sizeof(msg),
			        "[route %s]: no package — add package = DIR (the package its units "
			        "get)",
			        r->name);
			report(r->line, msg, data);
			problems++;
		}
		if (!r->pk_any && r->pk_hash_len == 0) {
			snprintf(msg, sizeof(msg),
			         "[route %s]: no pk_hash — add pk_hash = the OEM key hash its "
			         "programmer is signed for (`edlstation identify` shows a unit's); "
			         "a "
			         "unit of another key would refuse the programmer, so none is sent "
			         "blind (pk_hash = any only for unfused units)",
			         r->name);
			report(r->line, msg, data);
			problems++;
		}
	}
	if (cfg->n_routes > 0 && cfg->package[0]) {
		unsigned line = edl_station_config_line(cfg, "package", "dir");
		snprintf(msg, sizeof(msg),
		         "[package] dir and [route] sections both given — with routes every "
		         "package is a route's: move [package] into a [route NAME] section");
		report(line ? line : cfg->routes[0].line, msg, data);
		problems++;
	}
	return problems;
}
