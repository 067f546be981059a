/*
 * The station's INI configuration, parsed with inih: defaults, then the file,
 * then the command line (the CLI writes its options over the loaded struct).
 * Every error names the file, the line and the key.
 */
#include "edlstation/station.h"

#include <errno.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void edl_station_config_default(struct edl_station_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->name, sizeof(cfg->name), "station");
	cfg->accept_unmapped = true;
	cfg->retries = 1;
	cfg->verify = EDL_VERIFY_AUTO;
	cfg->reset_delay_s = 10; /* qdl and QFirehose send DelayInSeconds="10" */
	cfg->flush_max_mb = 16;
	cfg->progress_timeout_ms = 10000;
	cfg->reenumerate_ms = 20000;
	cfg->running = EDL_RUNNING_AUTO;
	cfg->inflight = 4;
	cfg->zlp = true;
	cfg->usbfs_budget = 12u * 1024 * 1024;
	cfg->max_payload = 1024 * 1024;
	cfg->hello_wait_ms = 500;
	cfg->probe_wait_ms = 1000;
	cfg->packet_timeout_ms = 5000;
	cfg->command_timeout_ms = 10000;
	cfg->erase_timeout_ms = 30000;
	cfg->final_ack_timeout_ms = 120000;
	cfg->digest_timeout_ms = 60000;
	cfg->grace_s = 30;
	cfg->min_free_mb = 64;
	cfg->record_max_mb = 8; /* issue 16 */
	cfg->store_retry_ms = 1000;
	cfg->stop_after = 3;
	cfg->stop_slots = 4;
	cfg->stop_window_s = 60;
	cfg->resume_auto = true;
}

const struct edl_station_port *edl_station_config_port(const struct edl_station_config *cfg,
                                                       const char *port)
{
	for (size_t i = 0; i < cfg->n_ports; i++) {
		if (strcmp(cfg->ports[i].port, port) == 0)
			return &cfg->ports[i];
	}
	return NULL;
}

struct load {
	struct edl_station_config *cfg;
	const char *path;
	struct edl_error *err;
};

static int bad(struct load *l, const char *section, const char *key, const char *why)
{
	/* Keep the first error: inih goes on after one. Its line is added by the
	 * caller: ini_parse_file returns the line of the first refused key. */
	if (l->err->code == EDL_OK)
		edl_error_set(l->err, EDL_E_CONFIG, "[%s] %s: %s", section, key, why);
	return 0;
}

static int get_bool(const char *v, bool *out)
{
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1") ||
	    !strcasecmp(v, "on"))
		*out = true;
	else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0") ||
	         !strcasecmp(v, "off"))
		*out = false;
	else
		return -1;
	return 0;
}

static int get_u64(const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	if (*v == '-' || *v == '\0')
		return -1;
	errno = 0;
	uint64_t x = strtoull(v, &end, 10);
	if (errno || *end || x < min || x > max)
		return -1;
	*out = x;
	return 0;
}

static int copy(char *dst, size_t len, const char *v)
{
	if (strlen(v) >= len)
		return -1;
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

#define U32(field, min, max)                                                       \
	do {                                                                       \
		uint64_t x_;                                                       \
		if (get_u64(value, (min), (max), &x_) != 0)                        \
			return bad(l, section, name,                               \
			           "wants a whole number from " #min " to " #max); \
		cfg->field = (uint32_t)x_;                                         \
	} while (0)

static int on_key(void *data, const char *section, const char *name, const char *value)
{
	struct load *l = data;
	struct edl_station_config *cfg = l->cfg;
	bool b;
	uint64_t x;

	if (!strcmp(section, "station")) {
		if (!strcmp(name, "name")) {
			if (copy(cfg->name, sizeof(cfg->name), value) || !*value)
				return bad(l, section, name, "wants 1 to 63 characters");
		} else if (!strcmp(name, "concurrency")) {
			U32(concurrency, 0, 1024);
		} else if (!strcmp(name, "accept_unmapped")) {
			if (get_bool(value, &b))
				return bad(l, section, name, "wants yes or no");
			cfg->accept_unmapped = b;
		} else if (!strcmp(name, "count")) {
			U32(count, 0, 100000000);
		} else if (!strcmp(name, "grace_seconds")) {
			U32(grace_s, 0, 3600);
		} else if (!strcmp(name, "record")) { /* issue 16 */
			if (copy(cfg->record_dir, sizeof(cfg->record_dir), value))
				return bad(l, section, name, "path too long");
		} else if (!strcmp(name, "record_max_mb")) {
			U32(record_max_mb, 0, 1048576);
		} else {
			return bad(l, section, name, "unknown key");
		}
	} else if (!strcmp(section, "package")) {
		if (!strcmp(name, "dir")) {
			if (copy(cfg->package, sizeof(cfg->package), value))
				return bad(l, section, name, "path too long");
		} else if (!strcmp(name, "rawprogram")) {
			if (cfg->n_rawprogram == EDL_STATION_MAX_LIST ||
			    copy(cfg->rawprogram[cfg->n_rawprogram], 256, value))
				return bad(l, section, name, "too many files or path too long");
			cfg->n_rawprogram++;
		} else if (!strcmp(name, "programmer")) {
			if (copy(cfg->programmer, sizeof(cfg->programmer), value))
				return bad(l, section, name, "path too long");
		} else if (!strcmp(name, "storage")) {
			if (edl_storage_parse(value, &cfg->storage) != EDL_OK)
				return bad(l, section, name, "wants emmc, ufs or nand");
			cfg->storage_set = true;
		} else if (!strcmp(name, "cache_dir")) {
			if (copy(cfg->cache_dir, sizeof(cfg->cache_dir), value))
				return bad(l, section, name, "path too long");
		} else {
			return bad(l, section, name, "unknown key");
		}
	} else if (!strcmp(section, "results")) {
		if (!strcmp(name, "database")) {
			if (copy(cfg->db, sizeof(cfg->db), value))
				return bad(l, section, name, "path too long");
		} else if (!strcmp(name, "log_dir")) {
			if (copy(cfg->log_dir, sizeof(cfg->log_dir), value))
				return bad(l, section, name, "path too long");
		} else {
			return bad(l, section, name, "unknown key");
		}
	} else if (!strcmp(section, "ports")) {
		/* port path = slot label */
		if (cfg->n_ports == EDL_STATION_MAX_PORTS)
			return bad(l, section, name, "too many ports");
		if (edl_station_config_port(cfg, name) != NULL)
			return bad(l, section, name, "port listed twice");
		struct edl_station_port *p = &cfg->ports[cfg->n_ports];
		if (copy(p->port, sizeof(p->port), name) ||
		    copy(p->label, sizeof(p->label), value) || !*value)
			return bad(l, section, name, "port path or slot label too long or empty");
		for (size_t i = 0; i < cfg->n_ports; i++) {
			if (!strcmp(cfg->ports[i].label, value))
				return bad(l, section, name, "slot label used twice");
		}
		p->slot = (int)cfg->n_ports + 1;
		cfg->n_ports++;
	} else if (!strcmp(section, "flash")) {
		if (!strcmp(name, "verify")) {
			/* yes/no stay as aliases of auto/off (configs written before the
			 * verify modes). */
			if (!strcmp(value, "auto") || !strcasecmp(value, "yes"))
				cfg->verify = EDL_VERIFY_AUTO;
			else if (!strcmp(value, "digest"))
				cfg->verify = EDL_VERIFY_DIGEST;
			else if (!strcmp(value, "readback"))
				cfg->verify = EDL_VERIFY_READBACK;
			else if (!strcmp(value, "off") || !strcasecmp(value, "no"))
				cfg->verify = EDL_VERIFY_OFF;
			else
				return bad(l, section, name, "wants auto, digest, readback or off");
		} else if (!strcmp(name, "reset_delay_s")) {
			U32(reset_delay_s, 0, 600);
		} else if (!strcmp(name, "flush_max_mb")) {
			U32(flush_max_mb, 0, 4096);
		} else if (!strcmp(name, "retries")) {
			U32(retries, 0, 10);
		} else if (!strcmp(name, "running_programmer")) {
			if (!strcmp(value, "auto"))
				cfg->running = EDL_RUNNING_AUTO;
			else if (!strcmp(value, "reuse"))
				cfg->running = EDL_RUNNING_REUSE;
			else if (!strcmp(value, "reset"))
				cfg->running = EDL_RUNNING_RESET;
			else
				return bad(l, section, name, "wants auto, reuse or reset");
		} else if (!strcmp(name, "zlp")) {
			if (get_bool(value, &b))
				return bad(l, section, name, "wants yes or no");
			cfg->zlp = b;
		} else if (!strcmp(name, "inflight")) {
			U32(inflight, 1, 8);
		} else if (!strcmp(name, "max_payload")) {
			if (get_u64(value, 4096, 16u * 1024 * 1024, &x))
				return bad(l, section, name, "wants 4096 to 16777216 bytes");
			cfg->max_payload = x;
		} else if (!strcmp(name, "usbfs_budget_mb")) {
			if (get_u64(value, 1, 1024, &x))
				return bad(l, section, name, "wants 1 to 1024 MB");
			cfg->usbfs_budget = x * 1024 * 1024;
		} else {
			return bad(l, section, name, "unknown key");
		}
	} else if (!strcmp(section, "timeouts")) {
		if (!strcmp(name, "hello_ms"))
			U32(hello_wait_ms, 10, 600000);
		else if (!strcmp(name, "probe_ms"))
			U32(probe_wait_ms, 10, 600000);
		else if (!strcmp(name, "sahara_ms"))
			U32(packet_timeout_ms, 10, 600000);
		else if (!strcmp(name, "command_ms"))
			U32(command_timeout_ms, 10, 3600000);
		else if (!strcmp(name, "erase_ms"))
			U32(erase_timeout_ms, 10, 3600000);
		else if (!strcmp(name, "final_ack_ms"))
			U32(final_ack_timeout_ms, 10, 3600000);
		else if (!strcmp(name, "digest_ms"))
			U32(digest_timeout_ms, 10, 3600000);
		else if (!strcmp(name, "progress_ms"))
			U32(progress_timeout_ms, 100, 3600000);
		else if (!strcmp(name, "reenumerate_ms"))
			U32(reenumerate_ms, 100, 3600000);
		else
			return bad(l, section, name, "unknown key");
	} else if (!strcmp(section, "store")) {
		if (!strcmp(name, "min_free_mb")) {
			if (get_u64(value, 0, 1u << 30, &x) != 0)
				return bad(l, section, name, "wants a whole number of MiB");
			cfg->min_free_mb = x;
		} else if (!strcmp(name, "retry_ms")) {
			U32(store_retry_ms, 10, 600000);
		} else {
			return bad(l, section, name, "unknown key");
		}
	} else if (!strcmp(section, "line")) {
		if (!strcmp(name, "stop_after"))
			U32(stop_after, 0, 100000);
		else if (!strcmp(name, "stop_slots"))
			U32(stop_slots, 0, 1024);
		else if (!strcmp(name, "stop_window_s"))
			U32(stop_window_s, 1, 86400);
		else if (!strcmp(name, "resume")) {
			if (!strcmp(value, "auto"))
				cfg->resume_auto = true;
			else if (!strcmp(value, "operator"))
				cfg->resume_auto = false;
			else
				return bad(l, section, name, "wants auto or operator");
		} else
			return bad(l, section, name, "unknown key");
	} else {
		return bad(l, section, name, "unknown section");
	}
	return 1;
}

int edl_station_config_load(struct edl_station_config *cfg, const char *path, struct edl_error *err)
{
	struct load l = {.cfg = cfg, .path = path, .err = err};
	FILE *f = fopen(path, "r");

	edl_error_clear(err);
	if (f == NULL)
		return edl_error_set(err, EDL_E_CONFIG, "cannot read %s: %s", path,
		                     strerror(errno));
	int rc = ini_parse_file(f, on_key, &l);
	fclose(f);
	if (err->code != EDL_OK) {
		char detail[EDL_ERROR_DETAIL_MAX];
		snprintf(detail, sizeof(detail), "%s", err->detail);
		return edl_error_set(err, EDL_E_CONFIG, "%s:%d: %s", path, rc, detail);
	}
	if (rc > 0)
		return edl_error_set(err, EDL_E_CONFIG, "%s:%d: not INI syntax", path, rc);
	if (rc < 0)
		return edl_error_set(err, EDL_E_CONFIG, "cannot parse %s", path);
	return EDL_OK;
}
