/*
 * The production line: ports on emulated hubs, units (emulated EDL targets)
 * that come and go on them, faults per port, the rate model's settings, and
 * the dump. The USB side is testbed.c/usbfs.c; this file decides what is
 * plugged where and when, following the rules in include/edlstation/emulator.h.
 *
 * The units' devices run on umockdev's worker thread; everything here runs on
 * the caller's thread, reads the devices' state under the bed lock in
 * edl_emu_line_tick() and acts on it outside the lock. A unit's target is only
 * freed after its USB device is unplugged (usbfs.c never calls a model again
 * after that).
 */
#include "edlstation/emulator.h"

#include <dirent.h>
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include "edlstation/clock.h"
#include "emu.h"
#include "line.h"
#include "replay.h"

struct unit;

struct port {
	unsigned hub, portno;
	char name[16];
	struct unit *unit;                        /* on the port, or away rebooting into EDL */
	uint64_t swap_at;                         /* plug the next unit then (ms); 0 = no */
	bool fault_used;                          /* the port's faults went to its first unit */
	const struct edl_device_profile *profile; /* of every unit on the port; NULL generic */
	struct edl_target_faults faults;
	bool unplug_timed;  /* the unplug-ms fault: its first unit is pulled ... */
	uint32_t unplug_ms; /* ... this long after it was plugged */
	char fault_specs[256];
};

struct unit {
	struct edl_emu_line *line;
	struct port *port;
	uint32_t serial;
	char dir[PATH_MAX];
	const struct edl_device_profile *profile; /* NULL: the generic target */
	struct edl_storage_config storage;        /* as configured, for the report */
	struct edl_target *target;                /* NULL while rebooting and after it left */
	struct edl_emu_dev *dev;                  /* NULL while not on the bus */
	struct edl_target_faults faults;
	uint64_t unplug_at; /* the unplug-ms fault: pulled then (ms); 0 = not */
	char fault_specs[256];
	enum edl_target_state state;
	bool woke;          /* the wake callback fired for the current end of session */
	uint64_t ended_at;  /* when a terminal state was first seen */
	uint64_t replug_at; /* rebooting into EDL until then */
	uint64_t plugged_at, left_at;
	unsigned enumerations;
	bool have_sha;
	uint8_t sha[32];
	unsigned commands[EDL_EMU_N_COMMANDS];
	uint64_t raw_bytes, bytes_out, bytes_in;
	const char *end;               /* NULL while on the line */
	struct edl_emu_replay *replay; /* issue 16: answers from a capture; NULL none */
};

struct edl_emu_line {
	struct edl_emu_line_config cfg;
	uint32_t *bad_blocks;
	char **replay; /* issue 16: capture file per port (owned copies), n_replay of them */
	char *dump_dir;
	char *tmp_dir; /* units' storage when there is no dump */
	struct edl_emu_bed *bed;
	struct port ports[EDL_EMU_MAX_PORTS];
	unsigned n_ports;
	GPtrArray *units; /* on the line (or rebooting into EDL): a unit that left is freed */
	uint32_t next_serial;
	unsigned plugged, finished, failed;
	uint64_t left_bytes_out, left_bytes_in; /* USB traffic of the units that left */
	uint64_t t0;
};

static const char *const command_names[EDL_EMU_N_COMMANDS] = {EDL_EMU_COMMANDS};

void edl_emu_line_config_default(struct edl_emu_line_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->devices = 1;
	cfg->hub_ports = 7;
	cfg->first_serial = 0x1a2b3c4d;
	cfg->storage = EDL_STORAGE_UFS;
	cfg->sahara_version = 2;
	cfg->swap_delay = 0.5;
	cfg->fail_hold = 5.0;
	cfg->reboot_delay = 0.2;
	cfg->usbfs_memory_mb = 16;
}

void edl_emu_port_name(char out[16], unsigned n, unsigned hub_ports)
{
	snprintf(out, 16, "1-%u.%u", n / hub_ports + 1, n % hub_ports + 1);
}

/* The forms of a port, for messages. */
#define PORT_FORMS                                                                    \
	"1-H.P (hub H 1..15, port P 1..15, as the kernel names USB ports) or a port " \
	"number 1..105 (the N-th port of the line)"

/*
 * A port as written: "1-H.P" (*hub, *port set, *number 0) or a 1-based port
 * number (*number set). Only the form and the bus's limits are checked here:
 * whether a line has that port depends on its --devices and --hub-ports.
 * Returns 0 or -1.
 */
static int port_parse(const char *s, unsigned *hub, unsigned *port, unsigned *number)
{
	char *end;
	unsigned long h, p, n;

	*hub = *port = *number = 0;
	if (s[0] == '1' && s[1] == '-') {
		if (s[2] < '0' || s[2] > '9')
			return -1;
		errno = 0;
		h = strtoul(s + 2, &end, 10);
		if (errno || *end != '.' || h < 1 || h > EDL_EMU_MAX_HUBS)
			return -1;
		s = end + 1;
		if (*s < '0' || *s > '9')
			return -1;
		p = strtoul(s, &end, 10);
		if (errno || *end || p < 1 || p > EDL_EMU_MAX_HUB_PORTS)
			return -1;
		*hub = (unsigned)h;
		*port = (unsigned)p;
		return 0;
	}
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || *end || n < 1 || n > EDL_EMU_MAX_PORTS)
		return -1;
	*number = (unsigned)n;
	return 0;
}

/* The 0-based index of a port on a line of n_ports ports, hub_ports per hub;
 * -1 when the line has no such port (or the text is no port). */
static int port_index(const char *s, unsigned hub_ports, unsigned n_ports)
{
	unsigned hub, port, number, n;

	if (port_parse(s, &hub, &port, &number) < 0)
		return -1;
	if (number)
		n = number - 1;
	else if (port > hub_ports)
		return -1;
	else
		n = (hub - 1) * hub_ports + (port - 1);
	return n < n_ports ? (int)n : -1;
}

/* "this line's 8 ports are 1-1.1..1-2.1" */
static void line_ports_text(char *out, size_t len, unsigned n_ports, unsigned hub_ports)
{
	char first[16], last[16];

	edl_emu_port_name(first, 0, hub_ports);
	edl_emu_port_name(last, n_ports - 1, hub_ports);
	if (n_ports == 1)
		snprintf(out, len, "this line's one port is %s", first);
	else
		snprintf(out, len, "this line's %u ports are %s..%s (%u per hub)", n_ports, first,
		         last, hub_ports);
}

const char *edl_emu_fault_kinds(void)
{
	return "unplug-ms=MS (the unit is pulled MS ms after it was plugged), "
	       "unplug-at=BYTES (pulled once the host sent BYTES), firehose-running, "
	       "firehose-stale, firehose-busy[=BYTES] (programmer running inside a program's "
	       "raw data, BYTES still due, default 8M), silent, hello-consumed, stall-at=BYTES "
	       "(OUT endpoint stops draining after BYTES), nak=COMMAND[:N], corrupt, "
	       "payload-max=BYTES, slow-ack=MS, write-rate=BYTES_PER_S, xbl-refuse=CMD (the ROM "
	       "refuses command-mode request CMD, then takes only RESET and reboots into EDL), "
	       "memory-dump[=real|hostile-names|bad-table] (crashed into the boot ROM's "
	       "memory-debug mode: serves a memory table and its regions, then takes RESET)";
}

/* The kinds' forms alone, for messages that must fit an edl_error. */
#define FAULT_FORMS                                                                           \
	"unplug-ms=MS, unplug-at=BYTES, stall-at=BYTES, silent, hello-consumed, "             \
	"firehose-running, firehose-stale, firehose-busy[=BYTES], nak=COMMAND[:N], corrupt, " \
	"payload-max=BYTES, slow-ack=MS, write-rate=BYTES_PER_S, xbl-refuse=CMD, "            \
	"memory-dump[=VARIANT]"

/* "unplug-ms=MS": the line's own fault (a time), not the target's. */
static int unplug_ms_parse(struct edl_emu_fault *f, const char *spec, const char *arg,
                           struct edl_error *err)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = arg[0] >= '0' && arg[0] <= '9' ? strtoull(arg, &end, 10) : 0;
	if (arg[0] < '0' || arg[0] > '9' || errno || *end || v > 3600ull * 1000)
		return edl_error_set(err, EDL_E_USAGE,
		                     "fault '%s': bad argument '%s': unplug-ms takes =MS "
		                     "(milliseconds after the unit was plugged, 0..3600000)",
		                     spec, arg);
	f->unplug_timed = true;
	f->unplug_ms = (uint32_t)v;
	return EDL_OK;
}

int edl_emu_fault_parse(struct edl_emu_fault *f, const char *spec, unsigned hub_ports,
                        struct edl_error *err)
{
	const char *colon = strchr(spec, ':'), *kind;
	struct edl_error inner;
	unsigned hub, port, number;
	size_t plen;

	(void)hub_ports; /* a port the line lacks is the line's to report */
	memset(f, 0, sizeof(*f));
	if (!colon || colon == spec || !colon[1])
		return edl_error_set(err, EDL_E_USAGE,
		                     "fault '%s': expected PORT:KIND[=ARG], PORT " PORT_FORMS
		                     ", KIND one of " FAULT_FORMS,
		                     spec);
	plen = (size_t)(colon - spec);
	if (plen >= sizeof(f->port) || (memcpy(f->port, spec, plen), f->port[plen] = '\0',
	                                port_parse(f->port, &hub, &port, &number) < 0))
		return edl_error_set(err, EDL_E_USAGE,
		                     "fault '%s': port '%.*s' is not a port: PORT is " PORT_FORMS,
		                     spec, (int)plen, spec);
	kind = colon + 1;
	snprintf(f->spec, sizeof(f->spec), "%s", kind);
	if (strncmp(kind, "unplug-ms", 9) == 0 && (kind[9] == '=' || kind[9] == '\0'))
		return unplug_ms_parse(f, spec, kind[9] ? kind + 10 : "", err);
	if (edl_target_fault_parse(&f->faults, kind, &inner) != EDL_OK) {
		char prefix[sizeof(f->spec) + 16];
		const char *why = inner.detail;

		if (strstr(inner.detail, "no such fault"))
			return edl_error_set(err, EDL_E_USAGE,
			                     "fault '%s': no such fault kind '%.*s'; expected "
			                     "PORT:KIND[=ARG], KIND one of " FAULT_FORMS,
			                     spec, (int)strcspn(kind, "="), kind);
		/* The target's "fault 'KIND=ARG': " is said once, with the port. */
		snprintf(prefix, sizeof(prefix), "fault '%s': ", kind);
		if (strncmp(why, prefix, strlen(prefix)) == 0)
			why += strlen(prefix);
		return edl_error_set(err, EDL_E_USAGE, "fault '%s': %s", spec, why);
	}
	return EDL_OK;
}

int edl_emu_profile_parse(struct edl_emu_port_profile *pp, bool *every, const char *spec,
                          unsigned hub_ports, struct edl_error *err)
{
	const char *colon = strchr(spec, ':'), *name = colon ? colon + 1 : spec;
	size_t plen = colon ? (size_t)(colon - spec) : 0;

	memset(pp, 0, sizeof(*pp));
	*every = colon == NULL;
	(void)hub_ports; /* a port the line lacks is the line's to report */
	if (colon) {
		unsigned hub, port, number;

		if (plen == 0 || plen >= sizeof(pp->port) ||
		    (memcpy(pp->port, spec, plen), port_parse(pp->port, &hub, &port, &number) < 0))
			return edl_error_set(
			        err, EDL_E_USAGE,
			        "profile '%s': port '%.*s' is not a port: expected NAME "
			        "or PORT:NAME, PORT " PORT_FORMS,
			        spec, (int)plen, spec);
	}
	pp->profile = edl_profile_find(name);
	if (!pp->profile)
		return edl_error_set(err, EDL_E_USAGE, "unknown profile '%s'; known: %s", name,
		                     edl_profile_names());
	return EDL_OK;
}

/* Adds what src sets to dst. */
static void merge_faults(struct edl_target_faults *dst, const struct edl_target_faults *src)
{
	dst->firehose_running |= src->firehose_running;
	dst->firehose_stale_output |= src->firehose_stale_output;
	dst->silent |= src->silent;
	dst->hello_consumed |= src->hello_consumed;
	if (src->memory_dump) {
		dst->memory_dump = true;
		dst->dump_table = src->dump_table;
	}
	if (src->xbl_refuse)
		dst->xbl_refuse = src->xbl_refuse;
	dst->corrupt |= src->corrupt;
	dst->preserve_read |= src->preserve_read; /* issue 15 */
	if (src->nak_command[0]) {
		memcpy(dst->nak_command, src->nak_command, sizeof(dst->nak_command));
		dst->nak_nth = src->nak_nth;
	}
	if (src->payload_max)
		dst->payload_max = src->payload_max;
	if (src->unplug_at_bytes)
		dst->unplug_at_bytes = src->unplug_at_bytes;
	if (src->stall_at_bytes)
		dst->stall_at_bytes = src->stall_at_bytes;
	dst->firehose_busy |= src->firehose_busy;
	if (src->slow_final_ack_ms)
		dst->slow_final_ack_ms = src->slow_final_ack_ms;
	if (src->write_rate_bps)
		dst->write_rate_bps = src->write_rate_bps;
}

static void note(struct edl_emu_line *line, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void note(struct edl_emu_line *line, const char *fmt, ...)
{
	va_list ap;

	if (!line->cfg.verbose)
		return;
	fprintf(stderr, "emulate: %7.3f ", (double)(edl_clock_ms() - line->t0) / 1000.0);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- the model behind each USB device: the unit's emulated target ---- */

static bool terminal(enum edl_target_state s)
{
	return s == EDL_TARGET_RESET || s == EDL_TARGET_OFF || s == EDL_TARGET_RESET_TO_EDL ||
	       s == EDL_TARGET_GONE;
}

static void check_wake(struct unit *u)
{
	if (!u->woke && terminal(edl_target_state(u->target))) {
		u->woke = true;
		if (u->line->cfg.wake)
			u->line->cfg.wake(u->line->cfg.wake_data);
	}
}

static int unit_feed(void *model, const uint8_t *data, size_t len, uint64_t now)
{
	struct unit *u = model;
	int rc = edl_target_feed(u->target, data, len, now);

	check_wake(u);
	return rc;
}

static bool unit_next_in(void *model, struct edl_chunk *out, uint64_t now)
{
	struct unit *u = model;
	bool got = edl_target_next_out(u->target, out, now);

	check_wake(u);
	return got;
}

static uint64_t unit_deadline(void *model)
{
	return edl_target_deadline(((struct unit *)model)->target);
}

static void unit_timeout(void *model, uint64_t now)
{
	struct unit *u = model;

	edl_target_timeout(u->target, now);
	check_wake(u);
}

static bool unit_stalled(void *model)
{
	return edl_target_stalled(((struct unit *)model)->target);
}

static const struct edl_emu_model_ops unit_ops = {unit_feed, unit_next_in, unit_deadline,
                                                  unit_timeout, unit_stalled};

/* ---- units ---- */

static void unit_report(struct edl_emu_line *line, struct unit *u, struct edl_emu_unit_report *r,
                        char *product, size_t plen)
{
	snprintf(product, plen, "QUSB__BULK_SN:%08X%s", u->serial,
	         line->cfg.product_suffix ? line->cfg.product_suffix : "");
	memset(r, 0, sizeof(*r));
	r->serial = u->serial;
	r->port = u->port->name;
	r->product = product;
	r->profile = u->profile ? u->profile->name : NULL;
	r->storage = u->storage.kind;
	r->sector_size = u->storage.sector_size;
	r->luns = u->storage.luns;
	r->sectors = u->storage.sectors;
	r->have_programmer = u->have_sha;
	memcpy(r->programmer_sha256, u->sha, 32);
	memcpy(r->commands, u->commands, sizeof(r->commands));
	r->raw_bytes = u->raw_bytes;
	r->bytes_out = u->bytes_out;
	r->bytes_in = u->bytes_in;
	r->final_state = edl_target_state_name(u->state);
	r->end = u->end ? u->end : "present";
	r->enumerations = u->enumerations;
	r->faults = u->fault_specs;
	r->plugged_s = (double)(u->plugged_at - line->t0) / 1000.0;
	r->left_s = u->end ? (double)(u->left_at - line->t0) / 1000.0 : -1.0;
}

static void dump_unit(struct edl_emu_line *line, struct unit *u)
{
	struct edl_emu_unit_report r;
	struct edl_error err;
	char product[128];

	if (!line->dump_dir)
		return;
	unit_report(line, u, &r, product, sizeof(product));
	if (edl_emu_dump_unit(u->dir, &r, &err) != EDL_OK)
		fprintf(stderr, "emulate: %s\n", err.detail);
}

/*
 * A unit's target: its profile's (or the generic target of the line's
 * storage), then the options given explicitly, then the unit's serial,
 * storage directory and faults. A --storage other than the profile's kind
 * takes that kind's default geometry: the profile's NAND page size means
 * nothing on eMMC.
 */
static void unit_config(struct edl_emu_line *line, struct unit *u, struct edl_target_config *tc)
{
	const struct edl_emu_line_config *c = &line->cfg;
	const struct edl_device_profile *pr = u->profile;
	bool own_kind = !pr || (c->explicit_set & EDL_EMU_SET_STORAGE);

	edl_target_config_default(tc, own_kind ? c->storage : pr->storage);
	if (pr) {
		edl_profile_apply(pr, tc);
		if (own_kind && c->storage != pr->storage) {
			struct edl_storage_config sc;

			edl_storage_config_default(&sc, c->storage);
			tc->storage.kind = sc.kind;
			tc->storage.sector_size = sc.sector_size;
			tc->storage.luns = sc.luns;
			tc->storage.pages_per_block = sc.pages_per_block;
		}
	}
	if (!pr || (c->explicit_set & EDL_EMU_SET_SAHARA))
		tc->pbl.sahara_version = c->sahara_version;
	if (c->sector_size)
		tc->storage.sector_size = c->sector_size;
	if (c->sectors)
		tc->storage.sectors = c->sectors;
	if (c->luns)
		tc->storage.luns = c->luns;
	if (c->pages_per_block)
		tc->storage.pages_per_block = c->pages_per_block;
	tc->storage.bad_blocks = line->bad_blocks;
	tc->storage.n_bad_blocks = c->n_bad_blocks;
	tc->storage.dir = u->dir;
	tc->pbl.serial = u->serial;
	if (c->max_payload)
		tc->max_payload = c->max_payload;
	tc->faults = u->faults;
	/* Seeded once: a unit that comes back (reset to EDL) keeps what it has. */
	tc->seed_cal = c->seed_cal && u->enumerations == 0;
	if (c->write_rate_mbps > 0)
		tc->faults.write_rate_bps = (uint64_t)(c->write_rate_mbps * 1e6);
}

/* Powers a unit on and plugs it into its port. */
static int unit_power_on(struct edl_emu_line *line, struct unit *u, uint64_t now,
                         struct edl_error *err)
{
	struct edl_target_config tc;
	struct edl_emu_dev_config dc;
	int rc;

	unit_config(line, u, &tc);
	u->storage = tc.storage;
	u->storage.bad_blocks = NULL;
	u->storage.lun_sectors = NULL;
	u->storage.dir = NULL;

	rc = edl_target_new(&u->target, &tc, err);
	if (rc != EDL_OK)
		return rc;
	edl_target_start(u->target, now);
	u->state = edl_target_state(u->target);
	u->woke = false;
	u->ended_at = 0;
	u->replug_at = 0;

	memset(&dc, 0, sizeof(dc));
	dc.hub = u->port->hub;
	dc.port = u->port->portno;
	dc.serial = u->serial;
	dc.product_suffix = line->cfg.product_suffix;
	/* A unit crashed into memory-debug mode enumerates as 05c6:900e (PROTOCOL.md §2). */
	dc.pid = u->faults.memory_dump ? 0x900e : 0x9008;
	dc.ops = &unit_ops;
	dc.model = u;
	if (u->replay) { /* issue 16: the capture answers, the unit keeps the storage */
		edl_emu_replay_wrap(u->replay, &unit_ops, u);
		dc.ops = &edl_emu_replay_ops;
		dc.model = u->replay;
	}
	dc.link_rate = (uint64_t)(line->cfg.rate_mbps * 1e6);
	rc = edl_emu_dev_plug(&u->dev, line->bed, &dc, err);
	if (rc != EDL_OK) {
		edl_target_free(u->target);
		u->target = NULL;
		u->dev = NULL;
		return rc;
	}
	u->enumerations++;
	note(line, "%s: unit %08x plugged (%s)", u->port->name, u->serial,
	     edl_target_state_name(u->state));
	return EDL_OK;
}

/* Takes a unit off the bus and folds its session into its record. */
static void unit_power_off(struct edl_emu_line *line, struct unit *u)
{
	if (u->dev) {
		edl_emu_dev_unplug(u->dev);
		edl_emu_bed_lock(line->bed);
		u->bytes_out += u->dev->bytes_out;
		u->bytes_in += u->dev->bytes_in;
		edl_emu_bed_unlock(line->bed);
		edl_emu_dev_forget(u->dev);
		u->dev = NULL;
	}
	if (u->target) {
		uint8_t sha[32], zero[32] = {0};

		u->state = edl_target_state(u->target);
		for (int i = 0; i < EDL_EMU_N_COMMANDS; i++)
			u->commands[i] += edl_target_commands_seen(u->target, command_names[i]);
		u->raw_bytes += edl_target_raw_bytes(u->target);
		edl_target_programmer_sha256(u->target, sha);
		if (memcmp(sha, zero, 32) != 0) {
			memcpy(u->sha, sha, 32);
			u->have_sha = true;
		}
		edl_target_free(u->target);
		u->target = NULL;
	}
}

static int unit_new(struct edl_emu_line *line, struct port *p, uint64_t now, struct edl_error *err)
{
	struct unit *u = g_new0(struct unit, 1);
	const char *base = line->dump_dir ? line->dump_dir : line->tmp_dir;
	int rc;

	u->line = line;
	u->port = p;
	u->profile = p->profile;
	u->serial = line->next_serial++;
	u->plugged_at = now;
	if ((size_t)(p - line->ports) < line->cfg.n_replay) { /* issue 16: --replay */
		rc = edl_emu_replay_open(&u->replay, line->replay[p - line->ports], err);
		if (rc != EDL_OK) {
			g_free(u);
			return rc;
		}
		edl_emu_replay_serial(u->replay, &u->serial);
	}
	snprintf(u->dir, sizeof(u->dir), "%s/%08x", base, u->serial);
	if (g_mkdir_with_parents(u->dir, 0755) < 0) {
		rc = edl_error_set(err, EDL_E_IO, "creating %s: %s", u->dir, g_strerror(errno));
		edl_emu_replay_free(u->replay);
		g_free(u);
		return rc;
	}
	if (!p->fault_used) {
		p->fault_used = true;
		u->faults = p->faults;
		snprintf(u->fault_specs, sizeof(u->fault_specs), "%s", p->fault_specs);
	}
	g_ptr_array_add(line->units, u);
	line->plugged++;
	p->unit = u;
	rc = unit_power_on(line, u, now, err);
	/* Timed from the moment the unit is on the bus (plugging takes a while). */
	if (rc == EDL_OK && p->unplug_timed && u->fault_specs[0])
		u->unplug_at = edl_clock_ms() + p->unplug_ms;
	if (rc != EDL_OK) {
		u->end = "plug-failed";
		u->left_at = now;
		p->unit = NULL;
	}
	return rc;
}

static void remove_flat_dir(const char *dir);

/* A unit that left is folded into the line's totals and freed, its temporary
 * storage removed (a dump keeps it): a long line costs neither memory nor disk
 * per unit that went through it. */
static void unit_forget(struct edl_emu_line *line, struct unit *u)
{
	line->left_bytes_out += u->bytes_out;
	line->left_bytes_in += u->bytes_in;
	if (line->tmp_dir)
		remove_flat_dir(u->dir);
	g_ptr_array_remove_fast(line->units, u);
	edl_emu_replay_free(u->replay);
	g_free(u);
}

/* The unit leaves the line for good. */
static void unit_leave(struct edl_emu_line *line, struct unit *u, uint64_t now, const char *end)
{
	struct port *p = u->port;

	unit_power_off(line, u);
	u->end = end;
	u->left_at = now;
	if (!strcmp(end, "reset") || !strcmp(end, "off"))
		line->finished++;
	else
		line->failed++;
	note(line, "%s: unit %08x left (%s, %s)", p->name, u->serial, end,
	     edl_target_state_name(u->state));
	dump_unit(line, u);
	p->unit = NULL;
	if (line->cfg.units && line->plugged < line->cfg.units)
		p->swap_at = now + (uint64_t)(line->cfg.swap_delay * 1000.0) + 1;
	unit_forget(line, u);
}

/* A unit reset to EDL reboots: off the bus now, back with a fresh HELLO later. */
static void unit_reboot(struct edl_emu_line *line, struct unit *u, uint64_t now)
{
	uint32_t xbl_refuse = u->faults.xbl_refuse; /* the ROM's, not a passing fault */

	unit_power_off(line, u);
	memset(&u->faults, 0, sizeof(u->faults));
	u->faults.xbl_refuse = xbl_refuse;
	u->unplug_at = 0;
	u->replug_at = now + (uint64_t)(line->cfg.reboot_delay * 1000.0) + 1;
	note(line, "%s: unit %08x reboots into EDL", u->port->name, u->serial);
}

/* ---- the line ---- */

static int make_tmp_dir(struct edl_emu_line *line, struct edl_error *err)
{
	GError *gerr = NULL;

	line->tmp_dir = g_dir_make_tmp("edlemu-units.XXXXXX", &gerr);
	if (!line->tmp_dir) {
		int rc = edl_error_set(err, EDL_E_IO, "creating a temporary directory: %s",
		                       gerr->message);

		g_error_free(gerr);
		return rc;
	}
	return EDL_OK;
}

/* Removes a directory of plain files (a unit's storage) and the directory. */
static void remove_flat_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[PATH_MAX + 256];

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		(void)unlink(path);
	}
	closedir(d);
	(void)rmdir(dir);
}

/* A port given for an option that the line does not have: the option is
 * taken (its form is right) and does nothing, which the user is told. */
static void warn_absent_port(const struct edl_emu_line *line, const char *option, const char *port,
                             const char *what)
{
	char ports[96];

	line_ports_text(ports, sizeof(ports), line->n_ports, line->cfg.hub_ports);
	fprintf(stderr,
	        "edlstation emulate: warning: %s %s%s%s: no port %s on this line, so it applies to "
	        "no unit (%s; --devices and --hub-ports shape the line)\n",
	        option, port, what ? ":" : "", what ? what : "", port, ports);
}

static int check_config(const struct edl_emu_line_config *cfg, struct edl_error *err)
{
	unsigned hubs;

	if (cfg->hub_ports < 1 || cfg->hub_ports > EDL_EMU_MAX_HUB_PORTS)
		return edl_error_set(err, EDL_E_USAGE, "--hub-ports %u: must be 1..%d",
		                     cfg->hub_ports, EDL_EMU_MAX_HUB_PORTS);
	hubs = (cfg->devices + cfg->hub_ports - 1) / cfg->hub_ports;
	if (cfg->devices < 1 || cfg->devices > EDL_EMU_MAX_PORTS || hubs > EDL_EMU_MAX_HUBS)
		return edl_error_set(err, EDL_E_USAGE,
		                     "--devices %u: must be 1..%d, on at most %d hubs of %u ports",
		                     cfg->devices, EDL_EMU_MAX_PORTS, EDL_EMU_MAX_HUBS,
		                     cfg->hub_ports);
	if (cfg->max_address && (cfg->max_address < 2 + hubs || cfg->max_address > 127 ||
	                         cfg->max_address < 1 + hubs + cfg->devices))
		return edl_error_set(
		        err, EDL_E_USAGE,
		        "--max-address %u: must be 2..127 and leave an address for the "
		        "root hub, each of the %u hubs and each of the %u ports",
		        cfg->max_address, hubs, cfg->devices);
	if (cfg->sahara_version != 2 && cfg->sahara_version != 3)
		return edl_error_set(err, EDL_E_USAGE, "Sahara version %u: must be 2 or 3",
		                     cfg->sahara_version);
	if (cfg->swap_delay < 0 || cfg->fail_hold < 0 || cfg->reboot_delay < 0 ||
	    cfg->rate_mbps < 0 || cfg->hub_rate_mbps < 0 || cfg->write_rate_mbps < 0)
		return edl_error_set(err, EDL_E_USAGE, "delays and rates must not be negative");
	if ((uint64_t)(cfg->first_serial) +
	            (cfg->units > cfg->devices ? cfg->units : cfg->devices) >
	    0xffffffffull + 1)
		return edl_error_set(err, EDL_E_USAGE, "serials from %08x overflow 32 bits",
		                     cfg->first_serial);
	return EDL_OK;
}

int edl_emu_line_new(struct edl_emu_line **out, const struct edl_emu_line_config *cfg,
                     struct edl_error *err)
{
	struct edl_emu_line *line;
	unsigned hubs;
	uint64_t now = edl_clock_ms();
	int rc;

	*out = NULL;
	rc = check_config(cfg, err);
	if (rc != EDL_OK)
		return rc;
	line = g_new0(struct edl_emu_line, 1);
	line->cfg = *cfg;
	line->cfg.faults = NULL;
	line->cfg.n_faults = 0;
	line->cfg.empty_ports = NULL;
	line->cfg.n_empty_ports = 0;
	line->cfg.port_profiles = NULL;
	line->cfg.n_port_profiles = 0;
	line->cfg.dump_dir = NULL;
	line->replay = g_new0(char *, cfg->n_replay + 1); /* issue 16 */
	for (size_t i = 0; i < cfg->n_replay; i++)
		line->replay[i] = g_strdup(cfg->replay[i]);
	line->cfg.replay = NULL;
	line->units = g_ptr_array_new();
	line->next_serial = cfg->first_serial;
	line->t0 = now;
	line->n_ports = cfg->devices;
	if (cfg->n_bad_blocks) {
		line->bad_blocks = g_memdup2(cfg->bad_blocks, cfg->n_bad_blocks * sizeof(uint32_t));
		line->cfg.bad_blocks = line->bad_blocks;
	}
	if (cfg->dump_dir) {
		line->dump_dir = g_strdup(cfg->dump_dir);
		if (g_mkdir_with_parents(line->dump_dir, 0755) < 0) {
			rc = edl_error_set(err, EDL_E_IO, "creating the dump directory %s: %s",
			                   line->dump_dir, g_strerror(errno));
			goto fail;
		}
	} else {
		rc = make_tmp_dir(line, err);
		if (rc != EDL_OK)
			goto fail;
	}

	for (unsigned i = 0; i < line->n_ports; i++) {
		struct port *p = &line->ports[i];

		p->hub = i / cfg->hub_ports + 1;
		p->portno = i % cfg->hub_ports + 1;
		edl_emu_port_name(p->name, i, cfg->hub_ports);
		p->profile = cfg->profile;
	}
	for (size_t i = 0; i < cfg->n_port_profiles; i++) {
		const struct edl_emu_port_profile *pp = &cfg->port_profiles[i];
		int n = port_index(pp->port, cfg->hub_ports, line->n_ports);

		if (n < 0)
			warn_absent_port(line, "--profile", pp->port,
			                 pp->profile ? pp->profile->name : "?");
		else
			line->ports[n].profile = pp->profile;
	}
	for (size_t i = 0; i < cfg->n_faults; i++) {
		const struct edl_emu_fault *f = &cfg->faults[i];
		int n = port_index(f->port, cfg->hub_ports, line->n_ports);
		struct port *p;

		if (n < 0) {
			warn_absent_port(line, "--fault", f->port, f->spec);
			continue;
		}
		p = &line->ports[n];
		merge_faults(&p->faults, &f->faults);
		if (f->unplug_timed) {
			p->unplug_timed = true;
			p->unplug_ms = f->unplug_ms;
		}
		snprintf(p->fault_specs + strlen(p->fault_specs),
		         sizeof(p->fault_specs) - strlen(p->fault_specs), "%s%s",
		         p->fault_specs[0] ? "," : "", f->spec);
	}
	for (size_t k = 0; k < cfg->n_empty_ports; k++)
		if (port_index(cfg->empty_ports[k], cfg->hub_ports, line->n_ports) < 0)
			warn_absent_port(line, "--empty", cfg->empty_ports[k], NULL);

	rc = edl_emu_bed_new(&line->bed, err);
	if (rc != EDL_OK)
		goto fail;
	/* The targets hash with OpenSSL on the worker thread, which umockdev never
	 * joins: free OpenSSL's state of that thread before the line goes. */
	edl_emu_bed_set_worker_cleanup(line->bed, OPENSSL_thread_stop);
	edl_emu_bed_set_usbfs_limit(line->bed, (uint64_t)cfg->usbfs_memory_mb * 1024 * 1024);
	if (cfg->max_address)
		edl_emu_bed_set_max_devnum(line->bed, (int)cfg->max_address);
	if (strlen(edl_emu_bed_root(line->bed)) + sizeof("/ioctl/dev/bus/usb/001/001") > 108) {
		rc = edl_error_set(err, EDL_E_USAGE,
		                   "the testbed directory %s is too long for its sockets (108 "
		                   "bytes): set TMPDIR to a short directory such as /tmp",
		                   edl_emu_bed_root(line->bed));
		goto fail;
	}
	hubs = (line->n_ports + cfg->hub_ports - 1) / cfg->hub_ports;
	for (unsigned h = 1; h <= hubs; h++) {
		rc = edl_emu_bed_add_hub(line->bed, h, cfg->hub_ports,
		                         (uint64_t)(cfg->hub_rate_mbps * 1e6), err);
		if (rc != EDL_OK)
			goto fail;
	}
	for (unsigned i = 0; i < line->n_ports; i++) {
		bool empty = false;

		for (size_t k = 0; k < cfg->n_empty_ports; k++)
			if (port_index(cfg->empty_ports[k], cfg->hub_ports, line->n_ports) ==
			    (int)i)
				empty = true;
		if (empty || (cfg->units && line->plugged >= cfg->units))
			continue;
		rc = unit_new(line, &line->ports[i], now, err);
		if (rc != EDL_OK)
			goto fail;
	}
	*out = line;
	return EDL_OK;
fail:
	edl_emu_line_free(line);
	return rc;
}

const char *edl_emu_line_root(const struct edl_emu_line *line)
{
	return edl_emu_bed_root(line->bed);
}

/*
 * Real hosts ask for the power change after a delay (<power value="reset"
 * DelayInSeconds="10"/>: qdl's firehose_reset, QFirehose's reset command), so
 * the unit stays enumerated that long after its ACK. On a line the operator
 * does not wait for it: once the host has released the unit (its ACK read,
 * every handle closed) the unit is pulled, which is what the delay was for.
 * True for such a unit; bed lock held.
 */
static bool power_pending_and_released(struct unit *u)
{
	/* Data still queued for the host (the logs after the ACK) is left unread
	 * by a host that closed the device: it does not keep the unit. */
	return u->dev->claimed && u->dev->clients == NULL &&
	       edl_target_state(u->target) == EDL_TARGET_FIREHOSE &&
	       edl_target_commands_seen(u->target, "power") > 0;
}

/* Lets the model's pending deadlines pass at once: the armed power change
 * happens now (the unit leaves as after the delay). Bed lock held. */
static void power_now(struct edl_emu_line *line, struct unit *u)
{
	struct edl_chunk c;
	uint64_t dl;

	/* The logs a programmer prints after its power ACK (nobody reads them
	 * once the host let go) go out first: the change is armed by the last. */
	for (int i = 0; i < 64 && edl_target_next_out(u->target, &c, UINT64_MAX / 2); i++)
		;
	for (int i = 0; i < 64 && edl_target_state(u->target) == EDL_TARGET_FIREHOSE &&
	                (dl = edl_target_deadline(u->target)) != 0;
	     i++)
		edl_target_timeout(u->target, dl);
	note(line, "%s: unit %08x released during its power delay: pulled (%s)", u->port->name,
	     u->serial, edl_target_state_name(edl_target_state(u->target)));
}

unsigned edl_emu_line_tick(struct edl_emu_line *line, uint64_t now)
{
	unsigned next = 20;

	for (unsigned i = 0; i < line->n_ports; i++) {
		struct port *p = &line->ports[i];
		struct unit *u = p->unit;
		struct edl_error err;
		enum edl_target_state st;
		bool drained, claimed, held;
		size_t unread;
		int64_t idle_us;

		if (!u) {
			if (p->swap_at && now >= p->swap_at) {
				p->swap_at = 0;
				if (line->cfg.units && line->plugged < line->cfg.units &&
				    unit_new(line, p, now, &err) != EDL_OK)
					fprintf(stderr, "emulate: %s: %s\n", p->name, err.detail);
			}
			continue;
		}
		if (!u->dev) {
			if (u->replug_at && now >= u->replug_at &&
			    unit_power_on(line, u, now, &err) != EDL_OK) {
				fprintf(stderr, "emulate: %s: %s\n", p->name, err.detail);
				unit_leave(line, u, now, "plug-failed");
			}
			continue;
		}

		if (u->unplug_at) {
			if (now >= u->unplug_at) {
				note(line,
				     "%s: unit %08x pulled %u ms after it was plugged (unplug-ms)",
				     p->name, u->serial, p->unplug_ms);
				unit_leave(line, u, now, "unplugged");
				continue;
			}
			if (u->unplug_at - now < next)
				next = (unsigned)(u->unplug_at - now);
		}
		edl_emu_bed_lock(line->bed);
		if (line->cfg.units && power_pending_and_released(u))
			power_now(line, u);
		st = edl_target_state(u->target);
		drained = u->dev->in_q.length == 0;
		unread = u->dev->in_q_bytes;
		claimed = u->dev->claimed;
		held = u->dev->clients != NULL;
		idle_us =
		        g_get_monotonic_time() - MAX(u->dev->last_activity_us, u->dev->plugged_us);
		edl_emu_bed_unlock(line->bed);
		u->state = st;

		if (st == EDL_TARGET_GONE) {
			unit_leave(line, u, now, "gone");
			continue;
		}
		if (terminal(st)) {
			if (!u->ended_at)
				u->ended_at = now;
			/* The answer to the reset goes out before the unit does, to a
			 * host still holding it; one that closed it reads no more. */
			if (!drained && held && now - u->ended_at < 1000)
				continue;
			if (!drained)
				note(line,
				     "%s: unit %08x: the host left %zu bytes unread after the end "
				     "of the session",
				     p->name, u->serial, unread);
			if (st == EDL_TARGET_RESET_TO_EDL)
				unit_reboot(line, u, now);
			else
				unit_leave(line, u, now, st == EDL_TARGET_OFF ? "off" : "reset");
			continue;
		}
		if (line->cfg.units && line->cfg.fail_hold > 0 && claimed &&
		    (double)idle_us >= line->cfg.fail_hold * 1e6)
			unit_leave(line, u, now, "fail-hold");
	}
	return next;
}

static struct port *find_port(struct edl_emu_line *line, const char *name, struct edl_error *err)
{
	int n = port_index(name, line->cfg.hub_ports, line->n_ports);

	if (n < 0) {
		edl_error_set(err, EDL_E_USAGE, "no port '%s' on this line (%u ports)", name,
		              line->n_ports);
		return NULL;
	}
	return &line->ports[n];
}

int edl_emu_line_plug(struct edl_emu_line *line, const char *port, struct edl_error *err)
{
	struct port *p = find_port(line, port, err);

	if (!p)
		return EDL_E_USAGE;
	if (p->unit)
		return edl_error_set(err, EDL_E_BUSY, "port %s already holds unit %08x", p->name,
		                     p->unit->serial);
	p->swap_at = 0;
	return unit_new(line, p, edl_clock_ms(), err);
}

int edl_emu_line_unplug(struct edl_emu_line *line, const char *port, struct edl_error *err)
{
	struct port *p = find_port(line, port, err);

	if (!p)
		return EDL_E_USAGE;
	if (!p->unit)
		return edl_error_set(err, EDL_E_BUSY, "port %s is empty", p->name);
	unit_leave(line, p->unit, edl_clock_ms(), "unplugged");
	return EDL_OK;
}

void edl_emu_line_stats(struct edl_emu_line *line, struct edl_emu_line_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->plugged = line->plugged;
	out->finished = line->finished;
	out->failed = line->failed;
	out->bytes_out = line->left_bytes_out;
	out->bytes_in = line->left_bytes_in;
	edl_emu_bed_lock(line->bed);
	for (guint i = 0; i < line->units->len; i++) {
		struct unit *u = g_ptr_array_index(line->units, i);

		out->bytes_out += u->bytes_out;
		out->bytes_in += u->bytes_in;
		if (u->dev) {
			out->present++;
			out->bytes_out += u->dev->bytes_out;
			out->bytes_in += u->dev->bytes_in;
		}
	}
	edl_emu_bed_unlock(line->bed);
}

void edl_emu_line_free(struct edl_emu_line *line)
{
	if (!line)
		return;
	if (line->units) {
		for (guint i = 0; i < line->units->len; i++) {
			struct unit *u = g_ptr_array_index(line->units, i);

			if (!u->end) {
				/* A session that ended just before the line stops counts as such.
				 */
				unit_power_off(line, u);
				if (u->state == EDL_TARGET_RESET)
					u->end = "reset";
				else if (u->state == EDL_TARGET_OFF)
					u->end = "off";
				else if (u->state == EDL_TARGET_GONE)
					u->end = "gone";
				if (u->end)
					u->left_at = edl_clock_ms();
				dump_unit(line, u);
			}
		}
	}
	edl_emu_bed_free(line->bed);
	if (line->units) {
		for (guint i = 0; i < line->units->len; i++) {
			struct unit *u = g_ptr_array_index(line->units, i);

			if (line->tmp_dir)
				remove_flat_dir(u->dir);
			edl_emu_replay_free(u->replay);
			g_free(u);
		}
		g_ptr_array_free(line->units, TRUE);
	}
	if (line->tmp_dir)
		(void)rmdir(line->tmp_dir);
	g_free(line->tmp_dir);
	g_free(line->dump_dir);
	g_free(line->bad_blocks);
	g_strfreev(line->replay);
	g_free(line);
}
