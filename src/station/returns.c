/*
 * Units the station reset to come back in EDL (a running programmer sent
 * reset_to_edl, or a boot ROM that took only a reset) and waits for: each is
 * expected back, by serial, within reset_delay_s + reenumerate_ms. A unit that
 * does not come back is failed and says why: older programmers know only a
 * plain reset (Qualcomm handlePower matches "reset" as a prefix, so
 * reset_to_edl reboots the unit into its firmware; REAL-DEVICES.md #12), or
 * the unit is dead. Without this, the unit would just vanish from the line.
 */
#include "station_internal.h"

#include <inttypes.h>
#include <string.h>

#define RETURNS_TICK_MS 500

static void on_tick(uv_timer_t *t);

void returns_init(struct station *st)
{
	uv_timer_init(st->loop, &st->returns_timer);
	st->returns_timer.data = st;
}

void returns_close(struct station *st, uv_close_cb cb)
{
	for (size_t i = 0; i < st->n_returns; i++)
		view_event(st, NULL, "warning",
		           "unit %s (slot %s) was reset to EDL and is not back yet; the station "
		           "stopped before its time ran out",
		           st->returns[i].serial, st->returns[i].label);
	st->n_returns = 0;
	uv_timer_stop(&st->returns_timer);
	uv_close((uv_handle_t *)&st->returns_timer, cb);
}

void returns_expect(struct station *st, const char *serial, const char *port, const char *label,
                    int slot, int64_t run_id, uint32_t refused_exec)
{
	struct station_return *r;

	if (serial == NULL || serial[0] == '\0' || st->stopping)
		return; /* nothing to recognise it by */
	if (st->n_returns == sizeof(st->returns) / sizeof(st->returns[0]))
		return;
	r = &st->returns[st->n_returns++];
	memset(r, 0, sizeof(*r));
	snprintf(r->serial, sizeof(r->serial), "%s", serial);
	snprintf(r->port, sizeof(r->port), "%s", port);
	snprintf(r->label, sizeof(r->label), "%s", label);
	r->slot = slot;
	r->run_id = run_id;
	r->refused_exec = refused_exec;
	r->deadline =
	        edl_clock_ms() + (uint64_t)st->cfg->reset_delay_s * 1000 + st->cfg->reenumerate_ms;
	if (!uv_is_active((uv_handle_t *)&st->returns_timer))
		uv_timer_start(&st->returns_timer, on_tick, RETURNS_TICK_MS, RETURNS_TICK_MS);
}

/* The request that made the ROM take only a reset is not asked again, or the
 * unit would be reset for ever. */
uint32_t returns_skip_exec(const char *usb_serial, void *data)
{
	struct session *me = data;

	for (size_t i = 0; i < me->st->n_returns; i++)
		if (strcmp(me->st->returns[i].serial, usb_serial) == 0)
			return me->st->returns[i].refused_exec;
	for (size_t i = 0; i < me->st->n_refusals; i++)
		if (strcmp(me->st->refusals[i].serial, usb_serial) == 0)
			return me->st->refusals[i].mask;
	return 0;
}

/* Remembers a returned unit's refusals (a ring: the oldest is forgotten). */
static void keep_refusal(struct station *st, const struct station_return *r)
{
	const size_t cap = sizeof(st->refusals) / sizeof(st->refusals[0]);

	if (r->refused_exec == 0)
		return;
	for (size_t i = 0; i < st->n_refusals; i++) {
		if (strcmp(st->refusals[i].serial, r->serial) == 0) {
			st->refusals[i].mask |= r->refused_exec;
			return;
		}
	}
	size_t i = st->n_refusals < cap ? st->n_refusals++ : st->refusals_next++ % cap;
	snprintf(st->refusals[i].serial, sizeof(st->refusals[i].serial), "%s", r->serial);
	st->refusals[i].mask = r->refused_exec;
}

bool returns_arrived(struct station *st, const char *serial)
{
	for (size_t i = 0; i < st->n_returns; i++) {
		if (strcmp(st->returns[i].serial, serial) != 0)
			continue;
		keep_refusal(st, &st->returns[i]);
		st->returns[i] = st->returns[--st->n_returns];
		return true;
	}
	return false;
}

/* Records the unit that did not come back as a failed run of its own, retrying
 * the interrupted one, and counts it as a finished unit. */
static void give_up(struct station *st, const struct station_return *r)
{
	struct edl_error e;
	char msg[EDL_ERROR_DETAIL_MAX + 64];

	edl_error_set(&e, EDL_E_POWER_CYCLE,
	              "the unit did not come back in EDL within %" PRIu32
	              " s of its reset to EDL: its programmer may know only a plain reset "
	              "(it booted its firmware), or the unit is dead; put it back into EDL "
	              "(EDL button or test point) on slot %s, or set it aside",
	              st->cfg->reset_delay_s + st->cfg->reenumerate_ms / 1000, r->label);
	view_event(st, NULL, "fail", "%s: %s", r->serial, e.detail);
	if (st->store != NULL) {
		int64_t id = 0;
		struct edl_store_run_start rs = {
		        .serial = r->serial,
		        .station = st->cfg->name,
		        .package_hash = st->package_hash,
		        .slot = r->slot,
		        .slot_label = strcmp(r->label, r->port) != 0 ? r->label : NULL,
		        .port = r->port,
		        .attempt = 1,
		        .retry_of = r->run_id,
		        .start_ms = edl_store_time_now_ms(),
		};
		if (edl_store_writer_run_start(&id, st->store, &rs, NULL, NULL) == EDL_OK) {
			struct edl_store_run_end re = {
			        .run_id = id,
			        .result = EDL_RESULT_FAIL,
			        .stage = "reset",
			        .error_code = e.code,
			        .message = edl_error_format(&e, msg, sizeof(msg)),
			        .end_ms = edl_store_time_now_ms(),
			        .duration_ms = 0,
			};
			edl_store_writer_run_finish(st->store, &re, NULL, NULL);
		}
	}
	station_count_finished(st, EDL_RESULT_FAIL);
}

static void on_tick(uv_timer_t *t)
{
	struct station *st = t->data;
	uint64_t now = edl_clock_ms();

	for (size_t i = 0; i < st->n_returns;) {
		if (now < st->returns[i].deadline) {
			i++;
			continue;
		}
		struct station_return r = st->returns[i];
		st->returns[i] = st->returns[--st->n_returns];
		give_up(st, &r);
	}
	if (st->n_returns == 0)
		uv_timer_stop(&st->returns_timer);
}
