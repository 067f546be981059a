/*
 * The JSON API under /api/v1/: GET state (the board's model: station,
 * package, line, totals, slots in the port map's order, last failures,
 * backlogs, the shift's per-hour series), GET package, GET events
 * (events.c), GET report and GET units/SERIAL (work.c, on the thread pool),
 * and control: POST line/pause, line/resume and slots/LABEL/abort with the
 * bearer token ([web] token or token_file; without one the API is read-only
 * and control answers 403). Everything here answers from the station's
 * in-memory state: nothing blocks the loop.
 */
#include "web_internal.h"

#include <string.h>
#include <strings.h>

const char *web_slot_state_name(enum slot_state s)
{
	switch (s) {
	case SLOT_IDLE:
		return "idle";
	case SLOT_RUNNING:
		return "running";
	case SLOT_PASS:
		return "pass";
	case SLOT_FAIL:
		return "fail";
	case SLOT_OPERATOR:
		return "operator";
	case SLOT_NOT_RECORDED:
		return "not-recorded";
	}
	return "idle";
}

static int64_t wall_ms(const struct station *st, uint64_t mono)
{
	return st->env.wall_offset_ms + (int64_t)mono;
}

static void key_str(struct edl_json *j, const char *key, const char *value)
{
	edl_json_key(j, key);
	if (value == NULL || value[0] == '\0')
		edl_json_null(j);
	else
		edl_json_string(j, value);
}

static void key_time(struct edl_json *j, const char *key, int64_t ms)
{
	char when[40];
	edl_json_key(j, key);
	if (ms <= 0)
		edl_json_null(j);
	else
		edl_json_string(j, edl_store_time_format(when, sizeof(when), ms));
}

void web_json_slot(struct edl_json *j, const struct station *st, const struct slot_view *v)
{
	uint64_t now = edl_clock_ms();
	uint64_t end = v->state == SLOT_RUNNING || v->end_ms == 0 ? now : v->end_ms;
	uint64_t elapsed = v->start_ms && end > v->start_ms ? end - v->start_ms : 0;
	bool shown = v->start_ms != 0 && v->state != SLOT_IDLE;

	edl_json_object_begin(j);
	edl_json_key(j, "slot");
	edl_json_uint(j, (uint64_t)(v - st->slots) + 1);
	key_str(j, "label", v->label);
	key_str(j, "port", v->port);
	key_str(j, "state", web_slot_state_name(v->state));
	key_str(j, "serial", v->serial);
	key_str(j, "stage", v->stage);
	edl_json_key(j, "percent");
	if (v->bytes_total > 0)
		edl_json_fixed(j, 100.0 * (double)v->bytes_done / (double)v->bytes_total, 1);
	else
		edl_json_null(j);
	edl_json_key(j, "mb_s");
	if (shown && elapsed > 0 && v->bytes_done > 0)
		edl_json_fixed(j, (double)v->bytes_done / 1e6 / ((double)elapsed / 1000.0), 2);
	else
		edl_json_null(j);
	edl_json_key(j, "bytes_done");
	edl_json_uint(j, v->bytes_done);
	edl_json_key(j, "bytes_total");
	edl_json_uint(j, v->bytes_total);
	edl_json_key(j, "elapsed_ms");
	if (shown)
		edl_json_uint(j, elapsed);
	else
		edl_json_null(j);
	key_time(j, "started", shown ? wall_ms(st, v->start_ms) : 0);
	edl_json_key(j, "attempt");
	edl_json_int(j, v->attempt);
	key_str(j, "result", v->state == SLOT_RUNNING ? NULL : v->result);
	if (v->error_code != 0) {
		key_str(j, "error", edl_error_name(v->error_code));
		key_str(j, "class", edl_error_class_name(v->cls));
	} else {
		key_str(j, "error", NULL);
		key_str(j, "class", NULL);
	}
	key_str(j, "message", v->reason);
	key_str(j, "action", v->action);
	edl_json_key(j, "run_id");
	if (v->run_id > 0)
		edl_json_int(j, v->run_id);
	else
		edl_json_null(j);
	edl_json_object_end(j);
}

static const struct view_failure *failure_at(const struct station *st, size_t i)
{
	size_t first = st->failures_total > VIEW_FAILURES ? st->failures_total % VIEW_FAILURES : 0;
	return &st->failures[(first + i) % VIEW_FAILURES];
}

static void json_package(struct edl_json *j, const struct station *st)
{
	edl_json_object_begin(j);
	if (st->pkg != NULL) {
		key_str(j, "name", edl_package_name(st->pkg));
		key_str(j, "version", edl_package_version(st->pkg));
		key_str(j, "manifest_hash", st->package_hash);
		key_str(j, "storage", edl_storage_name(st->plan->storage));
		key_str(j, "path", st->cfg->package);
		edl_json_key(j, "bytes");
		edl_json_uint(j, st->plan->total_bytes);
		edl_json_key(j, "steps");
		edl_json_uint(j, st->plan->n_steps);
		edl_json_key(j, "files");
		edl_json_uint(j, edl_package_file_count(st->pkg));
	}
	edl_json_object_end(j);
}

static void key_backlog(struct edl_json *j, const char *key, int64_t n)
{
	edl_json_key(j, key);
	if (n < 0)
		edl_json_null(j);
	else
		edl_json_int(j, n);
}

static void json_state(struct edl_json *j, struct web_server *srv)
{
	const struct station *st = srv->st;
	unsigned units = st->passed + st->failed;
	double hours = (double)(edl_clock_ms() - st->start_ms) / 3.6e6;

	edl_json_object_begin(j);
	key_str(j, "station", st->cfg->name);
	key_time(j, "time", edl_store_time_now_ms());
	key_time(j, "started", wall_ms(st, st->start_ms));
	edl_json_key(j, "seq");
	edl_json_uint(j, srv->ring.next_seq - 1);
	edl_json_key(j, "package");
	json_package(j, st);

	edl_json_key(j, "line");
	edl_json_object_begin(j);
	key_str(j, "state", st->stopping ? "stopping" : st->line_stopped ? "stopped" : "running");
	key_str(j, "reason", st->line_stopped ? st->line_reason : NULL);
	key_str(j, "check", st->line_stopped ? st->line_check : NULL);
	key_time(j, "since", srv->line_since_ms);
	edl_json_key(j, "control");
	edl_json_bool(j, srv->token[0] != '\0');
	edl_json_object_end(j);

	edl_json_key(j, "totals");
	edl_json_object_begin(j);
	edl_json_key(j, "finished");
	edl_json_uint(j, st->finished);
	edl_json_key(j, "passed");
	edl_json_uint(j, st->passed);
	edl_json_key(j, "failed");
	edl_json_uint(j, st->failed);
	edl_json_key(j, "interrupted");
	edl_json_uint(j, st->interrupted);
	edl_json_key(j, "not_recorded");
	edl_json_uint(j, st->not_recorded);
	edl_json_key(j, "in_flight");
	edl_json_uint(j, st->active);
	edl_json_key(j, "first_pass_yield");
	if (units > 0)
		edl_json_fixed(j, (double)st->first_pass / units, 3);
	else
		edl_json_null(j);
	edl_json_key(j, "good_units_per_hour");
	edl_json_fixed(j, hours > 0 ? st->passed / hours : 0, 1);
	edl_json_key(j, "units_per_hour");
	edl_json_fixed(j, hours > 0 ? st->finished / hours : 0, 1);
	edl_json_object_end(j);

	edl_json_key(j, "slots");
	edl_json_array_begin(j);
	for (size_t i = 0; i < st->n_slots; i++)
		web_json_slot(j, st, &st->slots[i]);
	edl_json_array_end(j);

	edl_json_key(j, "failures");
	edl_json_array_begin(j);
	for (size_t k = 0; k < st->n_failures && k < 20; k++) {
		const struct view_failure *f = failure_at(st, st->n_failures - 1 - k);
		edl_json_object_begin(j);
		key_time(j, "time", wall_ms(st, f->at_ms));
		key_str(j, "slot", f->label);
		key_str(j, "serial", f->serial);
		key_str(j, "stage", f->stage);
		key_str(j, "error", edl_error_name(f->error_code));
		key_str(j, "class", edl_error_class_name(f->cls));
		key_str(j, "message", f->reason);
		key_str(j, "action", f->action);
		edl_json_key(j, "run_id");
		if (f->run_id > 0)
			edl_json_int(j, f->run_id);
		else
			edl_json_null(j);
		edl_json_object_end(j);
	}
	edl_json_array_end(j);

	edl_json_key(j, "backlog");
	edl_json_object_begin(j);
	int64_t kept = -1;
	if (st->store != NULL) {
		struct edl_store_state state;
		edl_store_writer_state(st->store, &state);
		kept = (int64_t)state.kept;
	}
	key_backlog(j, "store_kept", kept);
	key_backlog(j, "mes_pending", web_backlog_mes(st));
	key_backlog(j, "factory_sync_pending", web_backlog_factory(st));
	edl_json_object_end(j);

	edl_json_key(j, "series");
	edl_json_array_begin(j);
	for (size_t k = 0; k < WEB_SERIES_HOURS; k++) {
		/* Oldest first: the slot after the newest is the oldest. */
		size_t i = (srv->series_next + k) % WEB_SERIES_HOURS;
		if (srv->series[i].hour_ms == 0)
			continue;
		edl_json_object_begin(j);
		key_time(j, "hour", srv->series[i].hour_ms);
		edl_json_key(j, "units");
		edl_json_uint(j, srv->series[i].finished);
		edl_json_key(j, "passed");
		edl_json_uint(j, srv->series[i].passed);
		edl_json_key(j, "yield");
		if (srv->series[i].finished > 0)
			edl_json_fixed(j, (double)srv->series[i].passed / srv->series[i].finished,
			               3);
		else
			edl_json_null(j);
		edl_json_key(j, "first_pass_yield");
		if (srv->series[i].finished > 0)
			edl_json_fixed(
			        j, (double)srv->series[i].first_pass / srv->series[i].finished, 3);
		else
			edl_json_null(j);
		edl_json_object_end(j);
	}
	edl_json_array_end(j);
	edl_json_object_end(j);
}

typedef void (*json_fn)(struct edl_json *j, struct web_server *srv);

static int send_built(h2o_req_t *req, struct web_server *srv, json_fn fn)
{
	struct edl_buf b;
	struct edl_json j;

	edl_buf_init(&b);
	edl_json_init_buf(&j, &b, EDL_JSON_COMPACT);
	fn(&j, srv);
	if (edl_json_finish(&j) != EDL_OK)
		web_send_error(req, 503, NULL, "out of memory", "building the answer");
	else
		web_send_json(req, 200, (const char *)edl_buf_head(&b), edl_buf_size(&b));
	edl_buf_free(&b);
	return 0;
}

static void json_package_only(struct edl_json *j, struct web_server *srv)
{
	json_package(j, srv->st);
}

static bool method_is(const h2o_req_t *req, const char *m)
{
	return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}

/* Control needs the bearer token: false (answered) when it is missing/wrong. */
static bool authorized(struct web_server *srv, h2o_req_t *req)
{
	if (srv->token[0] == '\0') {
		web_send_error(req, 403, NULL, "control disabled",
		               "the API is read-only: set [web] token (or token_file) in the "
		               "station config to enable pause, resume and abort");
		return false;
	}
	ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
	const char *given = NULL;
	size_t glen = 0;
	if (i >= 0) {
		h2o_iovec_t v = req->headers.entries[i].value;
		if (v.len > 7 && strncasecmp(v.base, "Bearer ", 7) == 0) {
			given = v.base + 7;
			glen = v.len - 7;
		}
	}
	if (given == NULL || !edl_web_token_equal(given, glen, srv->token)) {
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
		               H2O_STRLIT("Bearer realm=\"edlstation\""));
		web_send_error(req, 401, NULL, given == NULL ? "token missing" : "token wrong",
		               "send the [web] token as 'Authorization: Bearer TOKEN'");
		return false;
	}
	return true;
}

/* The optional JSON body of a control request: {"reason": "..."}. Returns
 * false (answered 400) when the body is not that. */
static bool body_reason(h2o_req_t *req, char *reason, size_t cap)
{
	reason[0] = '\0';
	if (req->entity.base == NULL || req->entity.len == 0)
		return true;
	if (edl_web_json_reason(req->entity.base, req->entity.len, reason, cap) != 0) {
		web_send_error(
		        req, 400, NULL, "bad JSON body",
		        "send no body, or a JSON object such as {\"reason\": \"re-seat test\"} "
		        "(reason: a string of at most 200 bytes)");
		return false;
	}
	return true;
}

static int control(struct web_server *srv, h2o_req_t *req, const char *path, size_t len)
{
	struct station *st = srv->st;
	char reason[256], msg[400], why[256];

	if (!method_is(req, "POST")) {
		web_send_error(req, 405, NULL, "method not allowed", "control takes POST");
		return 0;
	}
	if (!authorized(srv, req) || !body_reason(req, reason, sizeof(reason)))
		return 0;
	if (len == 11 && memcmp(path, "/line/pause", 11) == 0) {
		snprintf(msg, sizeof(msg), "paused by API%s%s", reason[0] ? ": " : "", reason);
		station_pause(st, msg);
		send_built(req, srv, json_state);
		return 0;
	}
	if (len == 12 && memcmp(path, "/line/resume", 12) == 0) {
		if (station_resume(st, why, sizeof(why)) != 0) {
			web_send_error(req, 409, NULL, "cannot resume", why);
			return 0;
		}
		send_built(req, srv, json_state);
		return 0;
	}
	/* /slots/LABEL/abort */
	if (len > 13 && memcmp(path, "/slots/", 7) == 0 &&
	    memcmp(path + len - 6, "/abort", 6) == 0) {
		char label[64];
		size_t llen = len - 13;
		if (llen == 0 || llen >= sizeof(label)) {
			web_send_error(req, 404, NULL, "no such slot",
			               "slot labels are 1 to 31 bytes");
			return 0;
		}
		memcpy(label, path + 7, llen);
		label[llen] = '\0';
		snprintf(msg, sizeof(msg), "aborted by API%s%s", reason[0] ? ": " : "", reason);
		int rc = station_abort_slot(st, label, msg, why, sizeof(why));
		if (rc != 0) {
			web_send_error(req, rc == -1 ? 404 : 409, NULL,
			               rc == -1 ? "no such slot" : "nothing to abort", why);
			return 0;
		}
		struct edl_buf b;
		struct edl_json j;
		edl_buf_init(&b);
		edl_json_init_buf(&j, &b, EDL_JSON_COMPACT);
		edl_json_object_begin(&j);
		key_str(&j, "slot", label);
		key_str(&j, "aborted", msg);
		edl_json_object_end(&j);
		if (edl_json_finish(&j) == EDL_OK)
			web_send_json(req, 202, (const char *)edl_buf_head(&b), edl_buf_size(&b));
		else
			web_send_error(req, 503, NULL, "out of memory", "");
		edl_buf_free(&b);
		return 0;
	}
	web_send_error(req, 404, NULL, "no such control",
	               "control is POST /api/v1/line/pause, /api/v1/line/resume or "
	               "/api/v1/slots/LABEL/abort");
	return 0;
}

int web_api(struct web_server *srv, h2o_req_t *req, const char *path, size_t len)
{
	const char *query = "";
	size_t qlen = 0;

	if (req->query_at != SIZE_MAX) {
		query = req->path.base + req->query_at + 1;
		qlen = req->path.len - req->query_at - 1;
	}
	if ((len >= 5 && memcmp(path, "/line", 5) == 0 && (len == 5 || path[5] == '/')) ||
	    (len >= 7 && memcmp(path, "/slots/", 7) == 0))
		return control(srv, req, path, len);
	if (!method_is(req, "GET") && !method_is(req, "HEAD")) {
		web_send_error(req, 405, NULL, "method not allowed",
		               "this resource takes GET (control is POST /api/v1/line/... and "
		               "/api/v1/slots/LABEL/abort)");
		return 0;
	}
	if (len == 6 && memcmp(path, "/state", 6) == 0)
		return send_built(req, srv, json_state);
	if (len == 8 && memcmp(path, "/package", 8) == 0)
		return send_built(req, srv, json_package_only);
	if (len == 7 && memcmp(path, "/events", 7) == 0) {
		if (!method_is(req, "GET")) {
			web_send_error(req, 405, NULL, "method not allowed",
			               "the event stream takes GET");
			return 0;
		}
		return web_events_open(srv, req, query, qlen);
	}
	if (len == 7 && memcmp(path, "/report", 7) == 0)
		return web_work_report(srv, req, query, qlen);
	if (len > 7 && memcmp(path, "/units/", 7) == 0)
		return web_work_unit(srv, req, path + 7, len - 7);
	web_send_error(req, 404, NULL, "no such resource",
	               "the API has /api/v1/state, events, report, units/SERIAL, package, "
	               "line/pause, line/resume, slots/LABEL/abort (see the README)");
	return 0;
}
