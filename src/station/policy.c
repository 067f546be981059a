/*
 * The station's policies that do not depend on USB: which arriving device gets
 * a unit (the port map and the concurrency limit) and how the station-wide
 * budget of in-flight OUT bytes is shared. station.c (libusb) and memline.c
 * (the in-memory line) apply the same functions, so the unit tests test what
 * the station does. The line guard decides when failures that look alike stop
 * the line (the same class in a row, or on many slots at once).
 */
#include "edlstation/unit.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

enum edl_station_admission edl_station_admit(const struct edl_station_config *cfg, const char *port,
                                             unsigned active)
{
	if (edl_station_config_port(cfg, port) == NULL && !cfg->accept_unmapped)
		return EDL_ADMIT_UNMAPPED;
	if (cfg->concurrency && active >= cfg->concurrency)
		return EDL_ADMIT_WAIT;
	return EDL_ADMIT_START;
}

uint64_t edl_station_budget_share(uint64_t budget, unsigned active)
{
	/* Each running unit may keep budget/active bytes in flight (one transfer
	 * always, even above its share): the first units to submit cannot keep
	 * the whole budget while the others, behind other hubs, starve. */
	return budget / (active ? active : 1);
}

size_t edl_station_budget_first(size_t *rr, size_t n)
{
	/* Round robin: start after the unit served first last time, so that no
	 * unit waits behind the same neighbours every time budget frees up. */
	if (n == 0)
		return 0;
	return (*rr)++ % n;
}

/* ---- the line guard ------------------------------------------------------------------ */

void edl_line_guard_init(struct edl_line_guard *g, const struct edl_station_config *cfg)
{
	memset(g, 0, sizeof(*g));
	g->stop_after = cfg->stop_after;
	g->stop_slots = cfg->stop_slots;
	g->window_ms = (uint64_t)cfg->stop_window_s * 1000;
}

void edl_line_guard_reset(struct edl_line_guard *g)
{
	g->run_cls = EDL_CLASS_NONE;
	g->run_len = 0;
	g->n_recent = g->recent_next = 0;
}

const char *edl_line_guard_class_words(enum edl_error_class cls)
{
	switch (cls) {
	case EDL_CLASS_NONE:
		return "no failure";
	case EDL_CLASS_RESEAT:
		return "cable or contact (re-seat)";
	case EDL_CLASS_POWER_CYCLE:
		return "unit needs a power cycle";
	case EDL_CLASS_RMA:
		return "unit fault (RMA)";
	case EDL_CLASS_WRONG_PACKAGE:
		return "wrong package";
	case EDL_CLASS_WRONG_PROGRAMMER:
		return "wrong programmer";
	case EDL_CLASS_STATION:
		return "station fault";
	case EDL_CLASS_COUNT:
		break;
	}
	return "unknown";
}

const char *edl_line_guard_check(enum edl_error_class cls)
{
	/* What is common to all the units that failed alike: the line, not them. */
	switch (cls) {
	case EDL_CLASS_RESEAT:
		return "check the cables, the hub and its power supply";
	case EDL_CLASS_POWER_CYCLE:
		return "check the units' power supply and the fixture's power switching";
	case EDL_CLASS_RMA:
		return "check the incoming batch of units and the fixture";
	case EDL_CLASS_WRONG_PACKAGE:
		return "check the package matches the units (storage type, product)";
	case EDL_CLASS_WRONG_PROGRAMMER:
		return "check the programmer matches the units' chip and secure-boot key";
	case EDL_CLASS_STATION:
		return "check the station: its disk, results database and log";
	case EDL_CLASS_NONE:
	case EDL_CLASS_COUNT:
		break;
	}
	return "check the line";
}

static void verdict(struct edl_line_verdict *out, enum edl_error_class cls)
{
	out->stop = true;
	out->cls = cls;
	snprintf(out->check, sizeof(out->check), "%s", edl_line_guard_check(cls));
}

bool edl_line_guard_feed(struct edl_line_guard *g, int slot, int code, uint64_t now_ms,
                         struct edl_line_verdict *out)
{
	enum edl_error_class cls = edl_error_class(code);

	memset(out, 0, sizeof(*out));
	if (code == EDL_OK) {
		g->run_cls = EDL_CLASS_NONE;
		g->run_len = 0;
		return false;
	}
	/* In a row: a different class starts a new run. */
	if (cls == g->run_cls) {
		g->run_len++;
	} else {
		g->run_cls = cls;
		g->run_len = 1;
	}
	if (g->stop_after && g->run_len >= g->stop_after) {
		verdict(out, cls);
		snprintf(out->reason, sizeof(out->reason), "%u units in a row failed: %s",
		         g->run_len, edl_line_guard_class_words(cls));
		return true;
	}
	/* At once: this class on that many different slots within the window. */
	g->recent[g->recent_next].slot = slot;
	g->recent[g->recent_next].cls = cls;
	g->recent[g->recent_next].at_ms = now_ms;
	g->recent_next = (g->recent_next + 1) % EDL_LINE_GUARD_RECENT;
	if (g->n_recent < EDL_LINE_GUARD_RECENT)
		g->n_recent++;
	if (!g->stop_slots)
		return false;
	int slots[EDL_LINE_GUARD_RECENT];
	unsigned n_slots = 0;
	for (size_t i = 0; i < g->n_recent; i++) {
		if (g->recent[i].cls != cls || now_ms - g->recent[i].at_ms > g->window_ms)
			continue;
		bool seen = false;
		for (unsigned k = 0; k < n_slots && !seen; k++)
			seen = slots[k] == g->recent[i].slot;
		if (!seen)
			slots[n_slots++] = g->recent[i].slot;
	}
	if (n_slots >= g->stop_slots) {
		verdict(out, cls);
		snprintf(out->reason, sizeof(out->reason),
		         "%u slots failed within %" PRIu64 " s: %s", n_slots, g->window_ms / 1000,
		         edl_line_guard_class_words(cls));
		return true;
	}
	return false;
}
