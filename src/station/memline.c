/*
 * The in-memory line (include/edlstation/unit.h): units of the real unit core
 * over emulated devices (struct edl_target), without USB, on a virtual clock.
 * It is the unit core's second driver, next to session.c: `edlstation
 * memflash` and the station's unit tests run on it.
 *
 * It models what the unit core relies on in a USB stack: OUT transfers
 * complete in order once the device took their bytes, and a device whose OUT
 * endpoint stopped draining (edl_target_stalled) leaves them pending until
 * cancelled; one IN transfer is posted at a time and completes with what the
 * device sent (a whole device transfer during Sahara, cut at will once the job
 * speaks Firehose); cancelling completes every transfer with
 * EDL_E_INTERRUPTED; commits complete later (commit_delay_ms) and may fail.
 * Completions are delivered from the loop, never from inside an action. Time
 * jumps to the next deadline when nothing else can happen.
 */
#include "edlstation/buf.h"
#include "edlstation/target.h"
#include "edlstation/unit.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_UNITS 64
#define LINE_OUT_MAX 16

struct line;

struct lunit {
	struct line *line;
	struct edl_memline_unit *spec;
	struct edl_unit *u;
	bool admitted, waiting, refused_port, done;
	struct edl_chunk out[LINE_OUT_MAX];
	size_t out_head, out_count;
	bool in_posted, cancel, detach_sent, close_req;
	uint64_t armed_at;
	struct edl_buf stream; /* device->host bytes not yet read */
	size_t bounds[256];    /* lengths of the device transfers queued, in order */
	size_t n_bounds, bound_head, bound_used;
	uint64_t taken; /* OUT bytes the device took, for stall_at_bytes */
	bool commit_pending;
	uint64_t commit_at;
	size_t run;            /* index of the run being finished */
	bool unplugged;        /* detach_at_ms passed: the device is gone */
	bool decision_pending; /* the identity gate's decision, delivered at decision_at */
	uint64_t decision_at;
	struct edl_unit_decision decision;
	uint8_t inbuf[64 * 1024];
};

struct line {
	struct edl_unit_env env;
	const struct edl_unit_env *caller; /* its identified callback and data */
	const struct edl_memline_options *opt;
	struct edl_memline_result *res;
	struct lunit units[LINE_MAX_UNITS];
	size_t n;
	unsigned active;
	uint64_t inflight_bytes;
	size_t budget_rr;
	uint64_t now;
	uint32_t rng;
};

void edl_memline_options_default(struct edl_memline_options *opt)
{
	memset(opt, 0, sizeof(*opt));
	opt->fragment = EDL_MEMLINE_WHOLE;
	opt->fragment_size = 1;
	opt->seed = 1;
	opt->start_ms = 1000;
	opt->max_ms = 3600 * 1000;
}

static struct lunit *lunit_of(struct line *l, const struct edl_unit *u)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->units[i].u == u)
			return &l->units[i];
	return NULL;
}

static const char *line_serial_owner(const char *serial, const struct edl_unit *self, void *data)
{
	struct line *l = data;
	for (size_t i = 0; i < l->n; i++) {
		struct edl_unit *o = l->units[i].u;
		if (o != NULL && o != self && edl_unit_holds_serial(o) &&
		    strcmp(edl_unit_serial(o), serial) == 0)
			return edl_unit_port(o);
	}
	return NULL;
}

/* The identity gate over the caller's callback; a decision it gives at once
 * is delivered decision_delay_ms later, as an asynchronous hook would. */
static int line_identified(struct edl_unit *u, const struct edl_unit_identity *id,
                           struct edl_unit_decision *out, void *data)
{
	struct line *l = data;
	struct lunit *lu = lunit_of(l, u);
	int rc = l->caller->identified(u, id, out, l->caller->identified_data);

	if (rc != EDL_OK || l->opt->decision_delay_ms == 0 || lu == NULL)
		return rc;
	lu->decision = *out;
	lu->decision_pending = true;
	lu->decision_at = l->now + l->opt->decision_delay_ms;
	return EDL_E_AGAIN;
}

static bool target_gone(const struct lunit *lu)
{
	return lu->unplugged || edl_target_state(lu->spec->target) == EDL_TARGET_GONE;
}

static uint64_t line_out_share(void *data)
{
	struct line *l = data;
	if (l->opt->budget == 0)
		return UINT64_MAX;
	return edl_station_budget_share(l->opt->budget, l->active);
}

static void line_log(enum edl_log_level level, const char *prefix, const char *line, void *data)
{
	struct line *l = data;
	if (l->opt->transcript != NULL)
		fprintf(l->opt->transcript, "%" PRIu64 " %s %s %s\n", l->now, prefix,
		        edl_log_level_name(level), line);
}

static void copy_str(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

static void record_finish(struct line *l, struct lunit *lu, const struct edl_store_run_end *e)
{
	struct edl_memline_result *res = l->res;
	if (e->run_id <= 0 || (size_t)e->run_id > res->n_runs)
		return;
	struct edl_memline_run *r = &res->runs[e->run_id - 1];
	r->result = e->result;
	copy_str(r->stage, sizeof(r->stage), e->stage);
	r->error_code = e->error_code;
	copy_str(r->message, sizeof(r->message), e->message);
	r->bytes_written = e->bytes_written;
	r->end_ms = l->now;
	r->n_steps = 0;
	for (size_t i = 0; i < e->n_steps && i < 64; i++) {
		r->steps[i] = e->steps[i];
		copy_str(r->step_labels[i], sizeof(r->step_labels[i]), e->steps[i].label);
		r->steps[i].label = r->step_labels[i];
		r->steps[i].start_sector = NULL;
		r->n_steps++;
	}
	/* The last lines: where the run failed. */
	r->n_logs = 0;
	size_t first = e->n_log_lines > 16 ? e->n_log_lines - 16 : 0;
	for (size_t i = first; i < e->n_log_lines; i++)
		copy_str(r->logs[r->n_logs++], sizeof(r->logs[0]), e->log_lines[i]);
	(void)lu;
}

static int line_act(struct edl_unit *u, struct edl_unit_action *a, void *data)
{
	struct line *l = data;
	struct lunit *lu = lunit_of(l, u);
	struct edl_memline_result *res = l->res;

	if (lu == NULL)
		return EDL_E_INTERNAL;
	switch (a->kind) {
	case EDL_UNIT_ACT_SUBMIT_OUT:
		if (lu->out_count == LINE_OUT_MAX)
			return EDL_E_AGAIN;
		if (l->opt->budget && l->inflight_bytes > 0 &&
		    l->inflight_bytes + a->chunk.len > l->opt->budget)
			return EDL_E_AGAIN;
		if (target_gone(lu))
			return EDL_E_USB_GONE;
		lu->out[(lu->out_head + lu->out_count++) % LINE_OUT_MAX] = a->chunk;
		l->inflight_bytes += a->chunk.len;
		if (l->inflight_bytes > res->max_inflight_bytes)
			res->max_inflight_bytes = l->inflight_bytes;
		return EDL_OK;
	case EDL_UNIT_ACT_POST_IN:
		if (target_gone(lu))
			return EDL_E_USB_GONE;
		lu->in_posted = true;
		return EDL_OK;
	case EDL_UNIT_ACT_ARM:
		lu->armed_at = a->at;
		return EDL_OK;
	case EDL_UNIT_ACT_CANCEL:
		lu->cancel = true;
		lu->spec->cancels++;
		return EDL_OK;
	case EDL_UNIT_ACT_RUN_START:
		if (l->opt->run_start_fail)
			return l->opt->run_start_fail;
		if (res->n_runs == sizeof(res->runs) / sizeof(res->runs[0])) {
			a->run_id = 0;
			return EDL_OK;
		} else {
			struct edl_memline_run *r = &res->runs[res->n_runs++];
			memset(r, 0, sizeof(*r));
			r->id = (int64_t)res->n_runs;
			copy_str(r->serial, sizeof(r->serial), a->run_start->serial);
			copy_str(r->port, sizeof(r->port), a->run_start->port);
			r->attempt = a->run_start->attempt;
			r->retry_of = a->run_start->retry_of;
			copy_str(r->product, sizeof(r->product), a->run_start->product);
			r->result = EDL_RESULT_RUNNING;
			r->start_ms = l->now;
			a->run_id = r->id;
		}
		return EDL_OK;
	case EDL_UNIT_ACT_ARCHIVE: /* issue 15: not kept by the in-memory line */
		return EDL_OK;
	case EDL_UNIT_ACT_RUN_IDENTIFY:
		if (a->run_id > 0 && (size_t)a->run_id <= res->n_runs)
			copy_str(res->runs[a->run_id - 1].serial, sizeof(res->runs[0].serial),
			         a->device->serial);
		return EDL_OK;
	case EDL_UNIT_ACT_RUN_ROUTE:
		if (a->run_id > 0 && (size_t)a->run_id <= res->n_runs) {
			copy_str(res->runs[a->run_id - 1].product, sizeof(res->runs[0].product),
			         a->product);
			copy_str(res->runs[a->run_id - 1].package_hash,
			         sizeof(res->runs[0].package_hash), a->package_hash);
		}
		return EDL_OK;
	case EDL_UNIT_ACT_RUN_FINISH:
		record_finish(l, lu, a->run_end);
		if (a->commit) {
			lu->commit_pending = true;
			lu->commit_at = l->now + l->opt->commit_delay_ms;
		}
		return EDL_OK;
	case EDL_UNIT_ACT_SHOW: {
		size_t len = strlen(res->show_log);
		res->shows++;
		if (len + 1 < sizeof(res->show_log))
			snprintf(res->show_log + len, sizeof(res->show_log) - len, "%s %s: %s\n",
			         edl_unit_port(u), a->event, a->text);
		if (l->opt->show != NULL)
			fprintf(l->opt->show, "%s %s: %s\n", edl_unit_label(u), a->event, a->text);
		return EDL_OK;
	}
	case EDL_UNIT_ACT_PROGRESS:
		return EDL_OK;
	case EDL_UNIT_ACT_FINISHED:
		lu->spec->finished = true;
		lu->spec->result = a->result;
		lu->spec->code = a->code;
		lu->spec->cls = a->cls;
		lu->spec->finished_ms = l->now;
		if (a->code == EDL_E_NOT_RECORDED)
			res->not_recorded++;
		if (a->result == EDL_RESULT_PASS)
			res->passed++;
		else if (a->result == EDL_RESULT_FAIL)
			res->failed++;
		else
			res->interrupted++;
		return EDL_OK;
	case EDL_UNIT_ACT_CLOSE:
		lu->close_req = true;
		return EDL_OK;
	}
	return EDL_E_INTERNAL;
}

static size_t read_size(struct line *l, struct lunit *lu, bool framed)
{
	size_t avail = edl_buf_size(&lu->stream);
	size_t to_boundary = avail;
	size_t n;

	if (lu->bound_head < lu->n_bounds)
		to_boundary = lu->bounds[lu->bound_head] - lu->bound_used;
	if (!framed || l->opt->fragment == EDL_MEMLINE_WHOLE)
		n = to_boundary;
	else if (l->opt->fragment == EDL_MEMLINE_FIXED)
		n = l->opt->fragment_size ? l->opt->fragment_size : 1;
	else {
		uint32_t x = l->rng ? l->rng : 0x9e3779b9u;
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		l->rng = x;
		n = 1 + x % (l->opt->fragment_size ? l->opt->fragment_size : 1);
	}
	if (n > avail)
		n = avail;
	if (n > sizeof(lu->inbuf))
		n = sizeof(lu->inbuf);
	return n;
}

/* Accounts n bytes read against the queued transfer boundaries. */
static void consume_bounds(struct lunit *lu, size_t n)
{
	while (n > 0 && lu->bound_head < lu->n_bounds) {
		size_t left = lu->bounds[lu->bound_head] - lu->bound_used;
		size_t k = n < left ? n : left;
		lu->bound_used += k;
		n -= k;
		if (lu->bound_used == lu->bounds[lu->bound_head]) {
			lu->bound_head++;
			lu->bound_used = 0;
		}
	}
	if (lu->bound_head == lu->n_bounds)
		lu->bound_head = lu->n_bounds = lu->bound_used = 0;
}

static void admit(struct line *l, struct lunit *lu)
{
	const struct edl_station_config *cfg = l->env.cfg;
	struct edl_memline_unit *spec = lu->spec;
	const struct edl_station_port *p = edl_station_config_port(cfg, spec->port);

	switch (edl_station_admit(cfg, spec->port, l->active)) {
	case EDL_ADMIT_UNMAPPED:
		lu->admitted = lu->done = lu->refused_port = true;
		spec->refused = true;
		spec->closed = true;
		if (l->opt->show != NULL)
			fprintf(l->opt->show,
			        "EDL device on unmapped port %s (accept_unmapped=no)\n",
			        spec->port);
		return;
	case EDL_ADMIT_WAIT:
		lu->waiting = true;
		return;
	case EDL_ADMIT_START:
		break;
	}
	lu->waiting = false;
	if (edl_unit_new(&lu->u, &l->env, spec->port, p ? p->label : spec->port, p ? p->slot : 0) !=
	    EDL_OK)
		return;
	lu->admitted = true;
	l->active++;
	if (l->active > l->res->max_active)
		l->res->max_active = l->active;
	edl_target_start(spec->target, l->now);
	edl_unit_attached(lu->u, l->now);
	edl_unit_product(lu->u, EDL_OK, spec->product, l->now);
}

static void close_unit(struct line *l, struct lunit *lu)
{
	/* Every transfer is back (the unit drained before closing). */
	edl_unit_free(lu->u);
	lu->u = NULL;
	lu->close_req = false;
	l->active--;
	lu->in_posted = lu->cancel = false;
	lu->decision_pending = false; /* a decision for a closed unit is dropped */
	lu->armed_at = 0;
	lu->out_count = 0;
	edl_buf_consume(&lu->stream, edl_buf_size(&lu->stream));
	lu->n_bounds = lu->bound_head = lu->bound_used = 0;
	/* A unit reset to EDL would come back as a new device: the line leaves
	 * that to its caller (the emulator builds a fresh unit, faults cleared). */
	lu->done = true;
	lu->spec->closed = true;
	lu->spec->closed_ms = l->now;
}

/* One thing that can happen for this unit now; true when something did. */
static bool unit_work(struct line *l, struct lunit *lu)
{
	struct edl_unit *u = lu->u;
	struct edl_target *t = lu->spec->target;
	struct edl_chunk c;
	uint64_t now = l->now;

	if (lu->close_req) {
		close_unit(l, lu);
		return true;
	}
	if (lu->cancel) {
		lu->cancel = false;
		while (lu->out_count > 0 && lu->u != NULL && !lu->close_req) {
			struct edl_chunk *o = &lu->out[lu->out_head];
			l->inflight_bytes -= o->len;
			lu->out_head = (lu->out_head + 1) % LINE_OUT_MAX;
			lu->out_count--;
			edl_unit_out_done(u, EDL_E_INTERRUPTED, 0, now);
		}
		if (lu->in_posted && !lu->close_req) {
			lu->in_posted = false;
			edl_unit_in(u, EDL_E_INTERRUPTED, NULL, 0, now);
		}
		return true;
	}
	if (lu->spec->detach_at_ms != 0 && now >= lu->spec->detach_at_ms)
		lu->unplugged = true;
	if (target_gone(lu) && !lu->detach_sent) {
		lu->detach_sent = true;
		while (lu->out_count > 0 && !lu->close_req) {
			l->inflight_bytes -= lu->out[lu->out_head].len;
			lu->out_head = (lu->out_head + 1) % LINE_OUT_MAX;
			lu->out_count--;
			edl_unit_out_done(u, EDL_E_USB_GONE, 0, now);
		}
		if (lu->in_posted && !lu->close_req) {
			lu->in_posted = false;
			edl_unit_in(u, EDL_E_USB_GONE, NULL, 0, now);
		}
		if (!lu->close_req)
			edl_unit_detached(u, now);
		return true;
	}
	uint64_t stall = lu->spec->stall_at_bytes;
	if (lu->out_count > 0 && !edl_target_stalled(t) && !target_gone(lu) &&
	    (stall == 0 || lu->taken < stall)) {
		struct edl_chunk o = lu->out[lu->out_head];
		if (stall != 0 && lu->taken + o.len > stall) {
			/* The endpoint takes part of this transfer and then no more. */
			size_t part = (size_t)(stall - lu->taken);
			edl_target_feed(t, o.data, part, now);
			lu->taken = stall;
			return true;
		}
		lu->taken += o.len;
		lu->out_head = (lu->out_head + 1) % LINE_OUT_MAX;
		lu->out_count--;
		l->inflight_bytes -= o.len;
		edl_target_feed(t, o.data, o.len, now);
		/* The stall fault trips inside this transfer: the device took part of
		 * it and the transfer never completes (it is put back, pending). */
		if (edl_target_stalled(t)) {
			lu->out_head = (lu->out_head + LINE_OUT_MAX - 1) % LINE_OUT_MAX;
			lu->out[lu->out_head] = o;
			lu->out_count++;
			l->inflight_bytes += o.len;
			return true;
		}
		edl_unit_out_done(u, EDL_OK, o.len, now);
		return true;
	}
	while (edl_target_next_out(t, &c, now)) {
		if (c.len == 0 || lu->n_bounds == sizeof(lu->bounds) / sizeof(lu->bounds[0]))
			continue;
		if (edl_buf_append(&lu->stream, c.data, c.len) == EDL_OK)
			lu->bounds[lu->n_bounds++] = c.len;
	}
	if (lu->in_posted && edl_buf_size(&lu->stream) > 0) {
		const struct edl_flash_job *job = edl_unit_job(u);
		size_t n = read_size(l, lu, job != NULL && edl_flash_job_in_firehose(job));
		memcpy(lu->inbuf, edl_buf_head(&lu->stream), n);
		edl_buf_consume(&lu->stream, n);
		consume_bounds(lu, n);
		lu->in_posted = false;
		edl_unit_in(u, EDL_OK, lu->inbuf, n, now);
		return true;
	}
	if (lu->commit_pending && lu->commit_at <= now) {
		lu->commit_pending = false;
		edl_unit_commit_done(u, l->opt->commit_fail,
		                     l->opt->commit_fail ? "injected commit failure" : "",
		                     l->opt->commit_fail && l->opt->commit_kept, now);
		return true;
	}
	if (lu->decision_pending && lu->decision_at <= now) {
		lu->decision_pending = false;
		edl_unit_release(u, &lu->decision, now);
		return true;
	}
	if (lu->armed_at != 0 && lu->armed_at <= now) {
		lu->armed_at = 0;
		edl_unit_timer(u, now);
		return true;
	}
	return false;
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
	if (a == 0)
		return b;
	if (b == 0)
		return a;
	return a < b ? a : b;
}

int edl_memline_run(const struct edl_unit_env *env, struct edl_memline_unit *units, size_t n,
                    const struct edl_memline_options *opt, struct edl_memline_result *res,
                    struct edl_error *err)
{
	struct edl_memline_options defaults;
	struct line *l;
	int rc = EDL_OK;
	bool stopped = false;

	if (opt == NULL) {
		edl_memline_options_default(&defaults);
		opt = &defaults;
	}
	if (n > LINE_MAX_UNITS)
		return edl_error_set(err, EDL_E_RANGE, "at most %d units on the in-memory line",
		                     LINE_MAX_UNITS);
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "in-memory line: out of memory");
	memset(res, 0, sizeof(*res));
	l->env = *env;
	l->caller = env;
	if (env->identified != NULL) {
		l->env.identified = line_identified;
		l->env.identified_data = l;
	}
	l->env.serial_owner = line_serial_owner;
	l->env.out_share = line_out_share;
	l->env.act = line_act;
	l->env.data = l;
	l->env.log_sink = line_log;
	l->env.log_data = l;
	l->opt = opt;
	l->res = res;
	l->n = n;
	l->rng = opt->seed;
	l->now = opt->start_ms ? opt->start_ms : 1000;
	uint64_t limit = l->now + (opt->max_ms ? opt->max_ms : 3600 * 1000);
	for (size_t i = 0; i < n; i++) {
		l->units[i].line = l;
		l->units[i].spec = &units[i];
		edl_buf_init(&l->units[i].stream);
		units[i].result = EDL_RESULT_RUNNING;
		units[i].finished = units[i].refused = units[i].closed = false;
		units[i].cancels = 0;
	}

	for (;;) {
		bool progress = false, open = false;

		if (!stopped && opt->stop_at_ms && l->now >= opt->stop_at_ms) {
			stopped = true;
			for (size_t i = 0; i < n; i++) {
				if (l->units[i].u != NULL)
					edl_unit_stop(l->units[i].u, l->now);
				else if (!l->units[i].done)
					l->units[i].done = units[i].closed = true;
			}
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			struct lunit *lu = &l->units[i];
			if (lu->done)
				continue;
			open = true;
			if (lu->u == NULL) {
				if (!stopped && units[i].attach_ms <= l->now && !lu->admitted) {
					unsigned before = l->active;
					admit(l, lu);
					progress = progress || l->active != before || lu->done;
				}
				continue;
			}
			while (lu->u != NULL && unit_work(l, lu))
				progress = true;
		}
		/* Budget freed: the units waiting for it go on, round robin. */
		size_t waiting[LINE_MAX_UNITS], nw = 0;
		for (size_t i = 0; i < n; i++)
			if (l->units[i].u != NULL && edl_unit_waits_budget(l->units[i].u))
				waiting[nw++] = i;
		if (nw > 0 && (!opt->budget || l->inflight_bytes < opt->budget)) {
			size_t first = edl_station_budget_first(&l->budget_rr, nw);
			for (size_t k = 0; k < nw; k++) {
				struct lunit *lu = &l->units[waiting[(first + k) % nw]];
				if (lu->u != NULL) {
					uint64_t before = l->inflight_bytes;
					edl_unit_budget_freed(lu->u, l->now);
					progress = progress || l->inflight_bytes != before;
				}
			}
		}
		if (!open)
			break;
		if (progress)
			continue;

		uint64_t next = 0;
		for (size_t i = 0; i < n; i++) {
			struct lunit *lu = &l->units[i];
			if (lu->done)
				continue;
			if (lu->u == NULL) {
				if (!stopped && !lu->waiting && units[i].attach_ms > l->now)
					next = earliest(next, units[i].attach_ms);
				continue;
			}
			next = earliest(next, lu->armed_at);
			next = earliest(next, edl_target_deadline(units[i].target));
			if (lu->commit_pending)
				next = earliest(next, lu->commit_at);
			if (lu->decision_pending)
				next = earliest(next, lu->decision_at);
			if (units[i].detach_at_ms > l->now && !lu->detach_sent)
				next = earliest(next, units[i].detach_at_ms);
		}
		if (!stopped && opt->stop_at_ms)
			next = earliest(next, opt->stop_at_ms);
		if (next == 0) {
			rc = edl_error_set(err, EDL_E_INTERNAL,
			                   "in-memory line stalled: no unit waits for anything");
			break;
		}
		if (next > limit) {
			rc = edl_error_set(err, EDL_E_TIMEOUT,
			                   "in-memory line: a unit still open after %" PRIu64
			                   " ms of virtual time",
			                   limit - (opt->start_ms ? opt->start_ms : 1000));
			break;
		}
		if (next > l->now)
			l->now = next;
		for (size_t i = 0; i < n; i++) {
			uint64_t d = edl_target_deadline(units[i].target);
			if (l->units[i].u != NULL && d != 0 && d <= l->now)
				edl_target_timeout(units[i].target, l->now);
		}
	}
	res->end_ms = l->now;
	/* The devices go on without the host: a reset with DelayInSeconds
	 * happens after the unit was closed. */
	for (size_t i = 0; i < n && rc == EDL_OK; i++) {
		uint64_t t = l->now, d;
		for (int k = 0; k < 100 && (d = edl_target_deadline(units[i].target)) != 0; k++) {
			if (d > t)
				t = d;
			edl_target_timeout(units[i].target, t);
		}
	}
	for (size_t i = 0; i < n; i++) {
		edl_unit_free(l->units[i].u);
		edl_buf_free(&l->units[i].stream);
	}
	free(l);
	return rc;
}
