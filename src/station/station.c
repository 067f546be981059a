/*
 * The station: loads the package once, opens the results store, watches the USB
 * bus on the libuv loop and gives every EDL device that appears its own session;
 * keeps the per-serial lock, the concurrency limit and the unit count; and stops
 * cleanly on SIGINT/SIGTERM (no new units, a grace period for running ones,
 * the rest recorded as interrupted).
 *
 * The line stop: the station takes no new unit while results cannot be
 * written (the store's on_state, the free-space reserve checked before each
 * unit), while the package changed under it, or after failures alike (the line
 * guard, policy.c). Devices that arrive meanwhile wait, neither flashed nor
 * refused. A store stop resumes by itself once the store writes again
 * ([line] resume = auto); every other stop waits for the operator (a key on the
 * terminal, or SIGUSR1).
 */
#include "station_internal.h"
#include "mes_station.h"
#include "edlstation/store_cli.h"

#include <openssl/evp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static void maybe_start_waiting(struct station *st);
static void begin_stop(struct station *st, const char *why);

#define LINE_POLL_MS 250 /* how often a stopped line looks for the resume key */

static const char *db_path(const struct station *st)
{
	return st->cfg->db[0] ? st->cfg->db : EDL_STORE_DEFAULT_DB;
}

/* ---- the line stop ------------------------------------------------------------------ */

/* Stops taking new units. by_store: only because results cannot be written
 * (may resume by itself); any other reason needs the operator. */
static void line_stop(struct station *st, bool by_store, const char *reason, const char *check)
{
	if (st->line_stopped && (by_store || !st->line_stop_by_store))
		return; /* already stopped, for a reason at least as strong */
	st->line_stop_by_store = by_store;
	/* Cut to the fields (a store detail can be longer): the board shows a line. */
	snprintf(st->line_reason, sizeof(st->line_reason), "%.*s", (int)sizeof(st->line_reason) - 1,
	         reason);
	snprintf(st->line_check, sizeof(st->line_check), "%.*s", (int)sizeof(st->line_check) - 1,
	         check ? check : "");
	st->line_stopped = true;
	if (st->line_ready)
		view_line(st);
}

static void line_resume(struct station *st, const char *how)
{
	if (!st->line_stopped)
		return;
	st->line_stopped = st->line_stop_by_store = false;
	st->line_reason[0] = st->line_check[0] = '\0';
	edl_line_guard_reset(&st->guard);
	view_event(st, NULL, "resume", "%s", how);
	view_line(st);
	maybe_start_waiting(st);
}

/* Whether results can be written now, from the writer's state and the reserve;
 * *why gets the reason when not. */
static bool store_can_write(struct station *st, char *why, size_t n)
{
	struct edl_store_state state;
	struct edl_error err;
	uint64_t free_bytes = 0;
	bool above = true;

	if (st->store == NULL)
		return true;
	edl_store_writer_state(st->store, &state);
	if (!state.writable) {
		snprintf(why, n, "%s",
		         state.detail && state.detail[0] ? state.detail : edl_strerror(state.code));
		return false;
	}
	if (edl_store_writer_space(st->store, &free_bytes, &above, &err) == EDL_OK && !above) {
		snprintf(why, n,
		         "results database disk nearly full: %llu MiB free on the filesystem of "
		         "%.100s, below the reserve of %llu MiB ([store] min_free_mb)",
		         (unsigned long long)(free_bytes >> 20), db_path(st),
		         (unsigned long long)st->cfg->min_free_mb);
		return false;
	}
	return true;
}

/* The store writes again: say what it recorded, and resume when allowed. */
static void store_writable_again(struct station *st, uint64_t recovered, size_t kept)
{
	if (recovered > 0)
		view_event(st, NULL, "recorded", "%llu kept result(s) recorded",
		           (unsigned long long)recovered);
	if (kept == 0)
		st->unrecorded_kept = 0;
	if (!st->line_stopped || !st->line_stop_by_store)
		return;
	char why[256];
	if (!store_can_write(st, why, sizeof(why)))
		return;
	if (st->cfg->resume_auto) {
		line_resume(st, "results database writable again: taking new units");
	} else if (strstr(st->line_check, "writable again") == NULL) {
		snprintf(st->line_check, sizeof(st->line_check),
		         "results database writable again: press a key or send SIGUSR1 to resume");
		view_line(st);
	}
}

static void on_store_state(const struct edl_store_state *state, void *data)
{
	struct station *st = data;

	if (!state->writable) {
		line_stop(st, true,
		          state->detail && state->detail[0] ? state->detail
		                                            : edl_strerror(state->code),
		          "free space on the results disk (or fix the database); kept results are "
		          "recorded by themselves");
		return;
	}
	store_writable_again(st, state->recovered, state->kept);
}

/* Before each new unit: the store can take its result and the package is the
 * one loaded. False stops the line (the unit waits). */
static bool line_takes_unit(struct station *st)
{
	char why[256];
	struct edl_error err;

	if (st->line_stopped || st->stopping)
		return false;
	if (!store_can_write(st, why, sizeof(why))) {
		line_stop(st, true, why,
		          "free space on the results disk; the line resumes once it can write");
		return false;
	}
	if (st->pkg != NULL && edl_package_unchanged(st->pkg, &err) != EDL_OK) {
		line_stop(st, false, err.detail,
		          "put the package back as it was loaded, or restart the station to load "
		          "the new one");
		return false;
	}
	return true;
}

/* The operator asked to resume (a key, SIGUSR1). */
static void operator_resume(struct station *st)
{
	char why[256];

	if (!st->line_stopped || st->stopping)
		return;
	if (!store_can_write(st, why, sizeof(why))) {
		view_event(st, NULL, "line-stopped", "cannot resume yet: %s", why);
		return;
	}
	line_resume(st, "resumed by the operator: taking new units");
}

void station_pause(struct station *st, const char *reason)
{
	if (st->stopping)
		return;
	line_stop(st, false, reason,
	          "resume with POST /api/v1/line/resume, a key on the terminal or SIGUSR1");
}

int station_resume(struct station *st, char *why, size_t n)
{
	if (st->stopping) {
		snprintf(why, n, "the station is stopping");
		return -1;
	}
	if (!st->line_stopped) {
		snprintf(why, n, "the line is not stopped");
		return -1;
	}
	if (!store_can_write(st, why, n))
		return -1;
	line_resume(st, "resumed by API: taking new units");
	return 0;
}

int station_abort_slot(struct station *st, const char *label, const char *reason, char *why,
                       size_t n)
{
	bool known = false;

	for (size_t i = 0; i < st->n_slots && !known; i++)
		known = strcasecmp(st->slots[i].label, label) == 0;
	for (struct session *s = st->sessions; s != NULL; s = s->next) {
		if (strcasecmp(s->slot_label, label) != 0)
			continue;
		if (s->unit == NULL || s->closing ||
		    !edl_unit_abort(s->unit, edl_clock_ms(), reason))
			break;
		return 0;
	}
	snprintf(why, n,
	         known ? "no unit is being flashed on slot %.40s" : "no slot labelled %.40s",
	         label);
	return known ? -2 : -1;
}

static void on_sigusr1(uv_signal_t *h, int signum)
{
	(void)signum;
	operator_resume(h->data);
}

static void on_line_timer(uv_timer_t *t)
{
	struct station *st = t->data;
	uint64_t now = edl_clock_ms();
	uint64_t every = st->cfg->store_retry_ms ? st->cfg->store_retry_ms : 1000;

	if (view_take_resume(st))
		operator_resume(st);
	/* A store stop is also lifted by looking: the state callback may come only
	 * with the next commit, and the reserve is not the writer's to report. */
	if (st->line_stopped && st->line_stop_by_store && now - st->line_checked_ms >= every) {
		struct edl_store_state state;
		st->line_checked_ms = now;
		edl_store_writer_state(st->store, &state);
		store_writable_again(st, 0, state.kept);
	}
}

/* The per-serial lock, asked by a unit that learned its serial: the port of
 * another unit holding it, or NULL. */
static const char *serial_owner(const char *serial, const struct edl_unit *self, void *data)
{
	struct session *me = data;

	if (serial == NULL || serial[0] == '\0')
		return NULL;
	if (returns_arrived(me->st, serial))
		view_event(me->st, me, "back", "unit %s is back after its reset to EDL", serial);
	for (struct session *s = me->st->sessions; s != NULL; s = s->next) {
		if (s->unit != NULL && s->unit != self && edl_unit_holds_serial(s->unit) &&
		    strcmp(edl_unit_serial(s->unit), serial) == 0)
			return s->port;
	}
	return NULL;
}

static uint64_t out_share(void *data)
{
	struct session *me = data;
	return edl_station_budget_share(me->st->cfg->usbfs_budget, me->st->active);
}

static void on_handle_closed(uv_handle_t *h)
{
	(void)h;
}

static void finish_stop(struct station *st)
{
	if (st->stop_done)
		return;
	/* issue 13: an after_unit delivery in flight is marked before the writer closes. */
	if (!station_mes_stop(st, finish_stop))
		return;
	st->stop_done = true;
	uv_timer_stop(&st->grace);
	uv_close((uv_handle_t *)&st->grace, on_handle_closed);
	uv_close((uv_handle_t *)&st->sigint, on_handle_closed);
	uv_close((uv_handle_t *)&st->sigterm, on_handle_closed);
	view_close(st, on_handle_closed);
	web_stop(st);
	uv_close((uv_handle_t *)&st->sigusr1, on_handle_closed);
	uv_timer_stop(&st->line_timer);
	uv_close((uv_handle_t *)&st->line_timer, on_handle_closed);
	returns_close(st, on_handle_closed);
	for (size_t i = 0; i < st->n_waiting; i++)
		libusb_unref_device(st->waiting[i]);
	st->n_waiting = 0;
	edl_usb_close(st->usb);
	st->usb = NULL;
	if (st->store != NULL) {
		struct edl_store_state state;
		edl_store_writer_state(st->store, &state);
		if (state.kept == 0)
			st->unrecorded_kept = 0;
	}
	edl_store_writer_close(st->store);
	st->store = NULL;
	station_factory_stop(st); /* issue 14: after the last results are committed */
}

void station_session_ended(struct station *st, struct session *s)
{
	for (struct session **pp = &st->sessions; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	st->active--;
	if (s->unit != NULL && edl_unit_reset_to_edl(s->unit))
		returns_expect(st, edl_unit_serial(s->unit), s->port, s->slot_label, s->slot,
		               edl_unit_run_id(s->unit), edl_unit_refused_exec(s->unit));
	struct slot_view *v = view_slot(st, s->port, s->slot_label);
	if (v != NULL)
		v->active = false;
	session_free(s);
	if (st->stopping) {
		if (st->active == 0)
			finish_stop(st);
		return;
	}
	maybe_start_waiting(st);
}

void station_unit_finished(struct station *st, struct session *s, const struct edl_unit_action *a)
{
	enum edl_store_result r = a->result;
	struct slot_view *v = view_slot(st, s->port, s->slot_label);
	struct edl_line_verdict verdict;
	const char *word = r == EDL_RESULT_PASS   ? "PASS"
	                   : r == EDL_RESULT_FAIL ? "FAIL"
	                                          : "STOPPED";

	if (v != NULL) {
		snprintf(v->result, sizeof(v->result), "%s", word);
		v->end_ms = edl_clock_ms();
	}
	view_unit_result(st, s, r, a->code, a->stage, a->text);
	web_on_result(st, s, r, a->code);
	station_factory_notify(st); /* issue 14: a result was committed */
	if (r == EDL_RESULT_INTERRUPTED) {
		st->interrupted++;
		view_event(st, s, "interrupted",
		           a->kept ? "interrupted (kept: recorded once the database can write)"
		                   : "recorded as interrupted");
		return;
	}
	if (r == EDL_RESULT_PASS) {
		if (st->cfg->identify_only)
			view_event(st, s, "done", "left in EDL, ready for flashing");
		else if (a->dumped)
			view_event(st, s, "pass", "%s memory dump collected, result committed",
			           s->serial[0] ? s->serial : s->port);
		else if (edl_unit_rma_kind(st->cfg) != NULL) /* issue 15: backup, restore */
			view_event(st, s, "pass", "%s %s, result committed",
			           s->serial[0] ? s->serial : s->port,
			           st->cfg->rma_mode == EDL_PRESERVE_BACKUP
			                   ? "backed up ([rma] preserve partitions archived)"
			                   : "restored (archived partitions written back and "
			                     "verified)");
		else
			view_event(st, s, "pass", "%s %s, result committed",
			           s->serial[0] ? s->serial : s->port,
			           a->verified                         ? "written and verified"
			           : st->cfg->verify == EDL_VERIFY_OFF ? "written (verify off)"
			                                               : "written (not verified)");
	} else if (a->code == EDL_E_NOT_RECORDED) {
		/* A station fault: the line stops at once (the store's state says so
		 * too, but maybe later); the unit counts as failed, never passed. */
		st->not_recorded++;
		if (a->kept)
			st->unrecorded_kept++;
		else
			st->unrecorded_lost++;
		char why[256];
		if (store_can_write(st, why, sizeof(why)))
			snprintf(why, sizeof(why),
			         "results database cannot record: the result of the unit on %s "
			         "was not committed",
			         s->slot_label);
		line_stop(st, true, why,
		          "free space on the results disk (or fix the database); kept results are "
		          "recorded by themselves");
	} else {
		view_event(st, s, "recorded", "failure committed (%s: %s)",
		           edl_error_class_name(a->cls), edl_error_action(a->code));
	}
	station_count_finished(st, r);
	/* A deliberate abort says nothing about the line: not fed to the guard. */
	if (!st->cfg->identify_only && a->code != EDL_E_NOT_RECORDED && a->code != EDL_E_ABORTED &&
	    edl_line_guard_feed(&st->guard, s->slot, a->code, edl_clock_ms(), &verdict))
		line_stop(st, false, verdict.reason, verdict.check);
}

void station_count_finished(struct station *st, enum edl_store_result r)
{
	st->finished++;
	if (r == EDL_RESULT_PASS)
		st->passed++;
	else
		st->failed++;
	if (st->cfg->count && st->finished >= st->cfg->count)
		begin_stop(st, "unit count reached");
}

static void start_session(struct station *st, libusb_device *dev,
                          const struct edl_usb_device_info *info)
{
	struct slot_view *v = view_slot(st, info->port, NULL);
	if (v != NULL) {
		v->active = true;
		v->serial[0] = v->result[0] = v->stage[0] = '\0';
		v->bytes_done = v->bytes_total = 0;
		v->start_ms = edl_clock_ms();
		v->end_ms = 0;
	}
	if (session_new(st, dev, info) != EDL_OK)
		view_event(st, NULL, "warning", "no memory for a session on %s", info->port);
}

static void on_arrive(struct edl_usb *usb, libusb_device *dev,
                      const struct edl_usb_device_info *info, void *data)
{
	struct station *st = data;
	(void)usb;
	if (st->stopping)
		return;
	switch (edl_station_admit(st->cfg, info->port, st->active)) {
	case EDL_ADMIT_UNMAPPED:
		view_event(st, NULL, "ignored",
		           "EDL device on unmapped port %s (accept_unmapped=no)", info->port);
		return;
	case EDL_ADMIT_WAIT:
		if (st->n_waiting < EDL_STATION_MAX_PORTS)
			st->waiting[st->n_waiting++] = libusb_ref_device(dev);
		return;
	case EDL_ADMIT_START:
		if (!line_takes_unit(st)) {
			/* Not flashed, not refused: it starts when the line resumes. */
			view_event(st, NULL, "waiting",
			           "unit on %s waits: the line is stopped (%s)", info->port,
			           st->line_reason);
			if (st->n_waiting < EDL_STATION_MAX_PORTS)
				st->waiting[st->n_waiting++] = libusb_ref_device(dev);
			return;
		}
		start_session(st, dev, info);
		return;
	}
}

static void on_leave(struct edl_usb *usb, libusb_device *dev, void *data)
{
	struct station *st = data;
	(void)usb;
	for (size_t i = 0; i < st->n_waiting; i++) {
		if (st->waiting[i] == dev) {
			libusb_unref_device(dev);
			st->waiting[i] = st->waiting[--st->n_waiting];
			return;
		}
	}
	for (struct session *s = st->sessions; s != NULL; s = s->next) {
		if (s->udev == dev) {
			session_on_leave(s);
			return;
		}
	}
}

static void maybe_start_waiting(struct station *st)
{
	while (st->n_waiting > 0 && !st->stopping) {
		libusb_device *dev = st->waiting[0];
		struct edl_usb_device_info info;
		edl_usb_fill_info(dev, &info);
		if (edl_station_admit(st->cfg, info.port, st->active) == EDL_ADMIT_WAIT ||
		    !line_takes_unit(st))
			break;
		memmove(st->waiting, st->waiting + 1, (st->n_waiting - 1) * sizeof(st->waiting[0]));
		st->n_waiting--;
		start_session(st, dev, &info);
		libusb_unref_device(dev);
	}
}

static void on_budget(struct edl_usb *usb, void *data)
{
	struct station *st = data;
	struct session *waiting[EDL_STATION_MAX_PORTS * 2];
	size_t n = 0;
	(void)usb;
	/* Round robin: start after the session served first last time, so that no
	 * device waits behind the same neighbours every time budget frees up. */
	for (struct session *s = st->sessions;
	     s != NULL && n < sizeof(waiting) / sizeof(waiting[0]); s = s->next) {
		if (s->unit != NULL && !s->closing && edl_unit_waits_budget(s->unit))
			waiting[n++] = s;
	}
	if (n == 0)
		return;
	size_t first = edl_station_budget_first(&st->budget_rr, n);
	for (size_t i = 0; i < n; i++)
		session_budget_freed(waiting[(first + i) % n]);
}

static void on_grace_over(uv_timer_t *t)
{
	struct station *st = t->data;
	struct session *next;

	view_event(st, NULL, "stopping", "grace period over: interrupting %u running session(s)",
	           st->active);
	for (struct session *s = st->sessions; s != NULL; s = next) {
		next = s->next;
		session_abort(s);
	}
}

static void begin_stop(struct station *st, const char *why)
{
	if (st->stopping)
		return;
	st->stopping = true;
	view_event(st, NULL, "stopping", "%s: taking no new units, %u running", why, st->active);
	if (st->active == 0) {
		finish_stop(st);
		return;
	}
	uv_timer_start(&st->grace, on_grace_over, (uint64_t)st->cfg->grace_s * 1000, 0);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct station *st = h->data;
	if (st->stopping) {
		/* A second signal: stop now. */
		on_grace_over(&st->grace);
		return;
	}
	begin_stop(st, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

static int load_package(struct station *st, struct edl_error *err)
{
	const struct edl_station_config *cfg = st->cfg;
	struct edl_package_options popt;
	const char *raw[EDL_STATION_MAX_LIST];

	edl_station_package_options(cfg, &popt, raw);
	int rc = edl_package_load(&st->pkg, &popt, err);
	if (rc != EDL_OK)
		return rc;
	st->plan = edl_package_plan(st->pkg);
	size_t len = 0;
	st->image.id = 0x0d;
	st->image.data = edl_package_programmer_data(st->pkg, &len);
	st->image.len = len;

	/* The package's identity: SHA-256 over the (path, sha256) of its files. */
	edl_route_package_hash(st->pkg, st->package_hash);
	return EDL_OK;
}

/* Opens the results store on the loop and records the station and the package. */
static int open_store(struct station *st, uv_loop_t *loop, struct edl_error *err)
{
	const struct edl_station_config *cfg = st->cfg;
	struct edl_store_writer_options wopt = {
	        .loop = loop,
	        .min_free_bytes = cfg->min_free_mb << 20,
	        .retry_ms = cfg->store_retry_ms,
	        .on_state = on_store_state,
	        .state_data = st,
	        .mes_outbox = cfg->mes.after_unit[0] != '\0', /* issue 13: interrupted runs too */
	};
	char host[128] = "";

	int rc = edl_store_writer_open(&st->store, db_path(st), &wopt, err);
	if (rc != EDL_OK)
		return rc;
	gethostname(host, sizeof(host) - 1);
	struct edl_store_station sst = {.name = cfg->name, .host = host};
	edl_store_writer_station(st->store, &sst, NULL, NULL);
	if (st->routes != NULL) {
		station_routes_record(st);
		return EDL_OK;
	}
	struct edl_store_package spk = {
	        .manifest_hash = st->package_hash,
	        .path = cfg->package,
	        .name = edl_package_name(st->pkg)[0] ? edl_package_name(st->pkg) : NULL,
	        .version = edl_package_version(st->pkg)[0] ? edl_package_version(st->pkg) : NULL,
	        .storage = edl_storage_name(st->plan->storage),
	        .bytes = st->plan->total_bytes,
	};
	edl_store_writer_package(st->store, &spk, NULL, NULL);
	return EDL_OK;
}

int edl_station_run(const struct edl_station_config *cfg, struct edl_station_summary *sum,
                    struct edl_error *err)
{
	struct station st;
	uv_loop_t loop;
	int rc;

	memset(sum, 0, sizeof(*sum));
	memset(&st, 0, sizeof(st));
	st.cfg = cfg;
	st.loop = &loop;
	edl_error_clear(err);
	if (!cfg->identify_only && cfg->n_routes > 0) {
		/* issue 15: every routed package, loaded and verified now. */
		rc = station_routes_load(&st, err);
		if (rc != EDL_OK)
			return rc;
	} else if (!cfg->identify_only) {
		if (cfg->package[0] == '\0') {
			return edl_error_set(err, EDL_E_USAGE,
			                     "no package: give --package DIR or [package] dir");
		}
		rc = load_package(&st, err);
		if (rc != EDL_OK) {
			edl_package_free(st.pkg);
			return rc;
		}
	}
	st.env.cfg = cfg;
	st.env.plan = st.plan;
	st.env.image = &st.image;
	st.env.package_hash = st.package_hash;
	st.env.store = !cfg->identify_only;
	st.env.wall_offset_ms = edl_store_time_now_ms() - (int64_t)edl_clock_ms();
	st.env.serial_owner = serial_owner;
	st.env.out_share = out_share;
	st.env.skip_exec = returns_skip_exec;
	/* The identity gate: with routes (the MES hook joins here too), every unit
	 * is held at identity for edl_route_identified's decision. */
	if (st.routes != NULL) {
		st.env.package_hash = NULL; /* the route's, at identity (RUN_ROUTE) */
		st.env.identified = edl_route_identified;
		st.env.identified_data = st.routes;
		st.env.hold_timeout_ms = cfg->route_hold_ms;
	}
	uv_loop_init(&loop);
	st.start_ms = edl_clock_ms();
	if (!cfg->identify_only) {
		rc = open_store(&st, &loop, err);
		if (rc == EDL_OK &&
		    (rc = station_factory_start(&st, db_path(&st), err)) != EDL_OK) {
			edl_store_writer_close(st.store); /* issue 14: the sync could not start */
			uv_run(&loop, UV_RUN_DEFAULT);
		}
		if (rc != EDL_OK) {
			edl_package_free(st.pkg);
			edl_route_table_free(st.routes);
			uv_loop_close(&loop);
			return rc;
		}
		rc = station_mes_open(&st, db_path(&st), err); /* issue 13 */
		if (rc != EDL_OK) {
			station_mes_free(&st);
			edl_store_writer_close(st.store);
			uv_run(&loop, UV_RUN_DEFAULT);
			edl_package_free(st.pkg);
			uv_loop_close(&loop);
			return rc;
		}
	}
	uv_timer_init(&loop, &st.grace);
	st.grace.data = &st;
	returns_init(&st);
	uv_signal_init(&loop, &st.sigint);
	uv_signal_init(&loop, &st.sigterm);
	st.sigint.data = st.sigterm.data = &st;
	uv_signal_start(&st.sigint, on_signal, SIGINT);
	uv_signal_start(&st.sigterm, on_signal, SIGTERM);
	uv_signal_init(&loop, &st.sigusr1);
	st.sigusr1.data = &st;
	uv_signal_start(&st.sigusr1, on_sigusr1, SIGUSR1);
	edl_line_guard_init(&st.guard, cfg);
	uv_timer_init(&loop, &st.line_timer);
	st.line_timer.data = &st;
	uv_timer_start(&st.line_timer, on_line_timer, LINE_POLL_MS, LINE_POLL_MS);
	view_init(&st);
	st.line_ready = true;
	if (!cfg->identify_only) {
		if (st.routes != NULL)
			station_routes_ready(&st);
		else
			view_event(&st, NULL, "ready",
			           "station %s: package %s (%s, %zu steps, %llu bytes), waiting "
			           "for EDL devices",
			           cfg->name, cfg->package, edl_storage_name(st.plan->storage),
			           st.plan->n_steps, (unsigned long long)st.plan->total_bytes);
		if (edl_store_writer_recovered(st.store) > 0)
			view_event(&st, NULL, "recovered",
			           "%llu run(s) left running by an earlier station marked "
			           "interrupted",
			           (unsigned long long)edl_store_writer_recovered(st.store));
		/* A restart on a full disk starts stopped: the writer opened
		 * not writable (its state may have come before the view). */
		char why[256];
		if (!st.line_stopped && !store_can_write(&st, why, sizeof(why)))
			line_stop(&st, true, why,
			          "free space on the results disk; the line starts once it can "
			          "write");
		else if (st.line_stopped)
			view_line(&st);
	}
	rc = web_start(&st, err); /* [web] listen: the HTTP server on this loop (issue 13) */
	if (rc == EDL_OK)
		rc = edl_usb_new(&st.usb, &loop, cfg->usbfs_budget, err);
	if (rc == EDL_OK)
		rc = edl_usb_watch(st.usb, on_arrive, on_leave, on_budget, &st, err);
	if (rc != EDL_OK) {
		st.exit_code = rc;
		st.stopping = true;
		finish_stop(&st);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	unsigned unrecorded = st.unrecorded_kept + st.unrecorded_lost;
	if (unrecorded > 0)
		view_event(&st, NULL, "not-recorded",
		           "%u flashed but NOT RECORDED (kept in %s.pending; recorded at the next "
		           "start)%s",
		           unrecorded, db_path(&st),
		           st.unrecorded_lost ? "; some were refused by the writer and are lost: "
		                                "flash those units again"
		                              : "");
	view_final(&st);
	station_mes_free(&st); /* issue 13 */
	uv_loop_close(&loop);
	edl_package_free(st.pkg);
	edl_route_table_free(st.routes);
	sum->finished = st.finished;
	sum->passed = st.passed;
	sum->failed = st.failed;
	sum->interrupted = st.interrupted;
	sum->not_recorded = unrecorded;
	return st.exit_code;
}
