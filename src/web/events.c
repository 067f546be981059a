/*
 * The event stream, GET /api/v1/events (Server-Sent Events): every station
 * event (the same members as a `--log-format json` line) and every slot
 * change (the tile's JSON, at most 4 a second per slot) gets the next
 * sequence number, goes on the ring (ring.c) and to every connected client
 * as "id: SEQ" + "data: JSON". A client resumes with Last-Event-ID or
 * ?after=SEQ and gets every event after it exactly once; one asking for a
 * position older than the ring gets {"type":"gap"} first (re-read /state).
 *
 * Flow control: h2o takes one write at a time per response; what comes
 * meanwhile waits in the client's pending buffer. A client whose pending
 * bytes pass [web] sse_buffer_kb is not reading: it is dropped (its
 * connection closed), so a stuck client costs a bounded amount of memory.
 * A client struct lives in its request's pool: freed with the request.
 */
#include "web_internal.h"

#include <string.h>

#define WEB_SSE_KEEPALIVE_MS 15000 /* a comment line this often keeps proxies and clients calm */

struct web_sse {
	h2o_generator_t super;
	struct web_server *srv;
	h2o_req_t *req;
	struct web_sse *next;
	struct edl_buf pending;  /* waits for the write in flight */
	struct edl_buf inflight; /* handed to h2o, untouched until proceed */
	bool sending;
	bool done;    /* FINAL or ERROR sent, or the client went away */
	bool closing; /* send FINAL once the write in flight is done */
	bool drop;    /* send ERROR (close) once the write in flight is done */
	uint64_t last_write_ms;
};

static void sse_unlink(struct web_sse *c)
{
	struct web_server *srv = c->srv;
	for (struct web_sse **pp = &srv->sse; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			srv->n_sse--;
			return;
		}
	}
}

static void sse_dispose(void *p)
{
	struct web_sse *c = p;

	sse_unlink(c);
	edl_buf_free(&c->pending);
	edl_buf_free(&c->inflight);
}

static void sse_flush(struct web_sse *c)
{
	if (c->sending || c->done)
		return;
	if (c->drop || (c->closing && edl_buf_size(&c->pending) == 0)) {
		c->done = true;
		sse_unlink(c);
		h2o_send(c->req, NULL, 0, c->drop ? H2O_SEND_STATE_ERROR : H2O_SEND_STATE_FINAL);
		return;
	}
	if (edl_buf_size(&c->pending) == 0)
		return;
	struct edl_buf t = c->inflight;
	c->inflight = c->pending;
	c->pending = t;
	edl_buf_reset(&c->pending);
	h2o_iovec_t buf = h2o_iovec_init(edl_buf_head(&c->inflight), edl_buf_size(&c->inflight));
	c->sending = true;
	c->last_write_ms = edl_clock_ms();
	h2o_send(c->req, &buf, 1, H2O_SEND_STATE_IN_PROGRESS);
}

static void sse_proceed(h2o_generator_t *g, h2o_req_t *req)
{
	struct web_sse *c = (struct web_sse *)g;
	(void)req;
	c->sending = false;
	edl_buf_reset(&c->inflight);
	sse_flush(c);
}

static void sse_stop(h2o_generator_t *g, h2o_req_t *req)
{
	struct web_sse *c = (struct web_sse *)g;
	(void)req;
	/* The client went away: the request is being closed. */
	c->done = true;
	sse_unlink(c);
}

/* The client reads nothing (or memory ran out): dropped once the write in
 * flight is done; it reconnects and resumes from its last id. */
static void sse_drop(struct web_sse *c)
{
	c->drop = true;
	c->srv->sse_dropped++;
	edl_buf_reset(&c->pending);
	sse_flush(c);
}

static bool sse_fits(const struct web_sse *c, size_t more)
{
	return edl_buf_size(&c->pending) + more <= (size_t)c->srv->cfg->sse_buffer_kb * 1024;
}

/* Queues text for the client; past the bound, the client is dropped. */
static void sse_queue(struct web_sse *c, const char *text, size_t len)
{
	if (c->done || c->drop)
		return;
	if (!sse_fits(c, len) || edl_buf_append(&c->pending, text, len) != EDL_OK) {
		sse_drop(c);
		return;
	}
	sse_flush(c);
}

static void sse_queue_event(struct web_sse *c, const struct edl_web_event *e)
{
	char head[40];
	int n = snprintf(head, sizeof(head), "id: %llu\ndata: ", (unsigned long long)e->seq);
	if (c->done || c->drop)
		return;
	/* The whole event or nothing: a drop never leaves half an event. */
	if (!sse_fits(c, (size_t)n + e->len + 2) ||
	    edl_buf_append(&c->pending, head, (size_t)n) != EDL_OK ||
	    edl_buf_append(&c->pending, e->json, e->len) != EDL_OK ||
	    edl_buf_append(&c->pending, "\n\n", 2) != EDL_OK) {
		sse_drop(c);
		return;
	}
	sse_flush(c);
}

/* The position the client asks to resume after: 0 = from now. Returns -1 when
 * malformed (answered 400). */
static int resume_position(h2o_req_t *req, const char *query, size_t qlen, uint64_t *after,
                           bool *given)
{
	char text[32];
	*after = 0;
	*given = false;
	ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("last-event-id"), -1);
	if (i >= 0) {
		h2o_iovec_t v = req->headers.entries[i].value;
		if (edl_web_parse_u64(v.base, v.len, after) != 0)
			return -1;
		*given = true;
		return 0;
	}
	int r = edl_web_query_get(query, qlen, "after", text, sizeof(text));
	if (r < 0 || (r == 1 && edl_web_parse_u64(text, strlen(text), after) != 0))
		return -1;
	*given = r == 1;
	return 0;
}

int web_events_open(struct web_server *srv, h2o_req_t *req, const char *query, size_t qlen)
{
	static const char *const keys[] = {"after", NULL};
	const char *bad;
	size_t bad_len;
	uint64_t after;
	bool given;

	if (!edl_web_query_keys_known(query, qlen, keys, &bad, &bad_len)) {
		char detail[160];
		snprintf(detail, sizeof(detail), "unknown parameter '%.*s': events take ?after=SEQ",
		         (int)(bad_len > 40 ? 40 : bad_len), bad);
		web_send_error(req, 400, NULL, "bad query", detail);
		return 0;
	}
	if (resume_position(req, query, qlen, &after, &given) != 0) {
		web_send_error(req, 400, NULL, "bad resume position",
		               "Last-Event-ID and ?after= take the decimal seq of the last event "
		               "seen");
		return 0;
	}
	if (srv->stopping) {
		web_send_error(req, 503, NULL, "station stopping", "no new event streams");
		return 0;
	}
	struct web_sse *c = h2o_mem_alloc_shared(&req->pool, sizeof(*c), sse_dispose);
	memset(c, 0, sizeof(*c));
	c->super.proceed = sse_proceed;
	c->super.stop = sse_stop;
	c->srv = srv;
	c->req = req;
	edl_buf_init(&c->pending);
	edl_buf_init(&c->inflight);
	c->next = srv->sse;
	srv->sse = c;
	srv->n_sse++;

	req->res.status = 200;
	req->res.reason = "OK";
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
	               H2O_STRLIT("text/event-stream; charset=utf-8"));
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
	               H2O_STRLIT("no-store"));
	h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-accel-buffering"), 0,
	                      NULL, H2O_STRLIT("no"));
	/* A stream's connection is not reused: it closes when the stream ends
	 * (the station stops), so clients see the end at once. */
	req->http1_is_persistent = 0;
	h2o_start_response(req, &c->super);

	/* The browser reconnects after a second; then what was missed. */
	edl_buf_append(&c->pending, "retry: 1000\n\n", 13);
	if (given) {
		uint64_t first = edl_web_ring_first(&srv->ring);
		uint64_t from = after + 1;
		if (after >= srv->ring.next_seq) {
			/* A position from the future: another station run's numbers. */
			from = srv->ring.next_seq;
		}
		if (from < first || after >= srv->ring.next_seq) {
			char gap[200];
			int n = snprintf(gap, sizeof(gap),
			                 "data: {\"type\":\"gap\",\"after\":%llu,\"first\":%llu,"
			                 "\"detail\":\"events lost: re-read /api/v1/state\"}\n\n",
			                 (unsigned long long)after, (unsigned long long)first);
			edl_buf_append(&c->pending, gap, (size_t)n);
			if (from < first)
				from = first;
		}
		for (uint64_t s = from; s < srv->ring.next_seq; s++) {
			const struct edl_web_event *e = edl_web_ring_get(&srv->ring, s);
			if (e != NULL)
				sse_queue_event(c, e);
		}
	}
	sse_flush(c);
	return 0;
}

void web_events_broadcast(struct web_server *srv, uint64_t seq)
{
	const struct edl_web_event *e = edl_web_ring_get(&srv->ring, seq);
	struct web_sse *next;

	if (e == NULL)
		return;
	for (struct web_sse *c = srv->sse; c != NULL; c = next) {
		next = c->next; /* a dropped client unlinks itself */
		sse_queue_event(c, e);
	}
}

void web_events_close_all(struct web_server *srv)
{
	struct web_sse *next;

	for (struct web_sse *c = srv->sse; c != NULL; c = next) {
		next = c->next;
		c->closing = true;
		sse_flush(c);
	}
}

void web_event_emit(struct web_server *srv, const char *type,
                    void (*fill)(struct edl_json *j, void *data), void *data)
{
	struct edl_buf b;
	struct edl_json j;
	char when[40];

	if (srv == NULL || srv->stopping)
		return;
	edl_buf_init(&b);
	edl_json_init_buf(&j, &b, EDL_JSON_COMPACT);
	edl_json_object_begin(&j);
	edl_json_key(&j, "seq");
	edl_json_uint(&j, srv->ring.next_seq);
	edl_json_key(&j, "type");
	edl_json_string(&j, type);
	edl_json_key(&j, "time");
	edl_json_string(&j, edl_store_time_format(when, sizeof(when), edl_store_time_now_ms()));
	if (fill != NULL)
		fill(&j, data);
	edl_json_object_end(&j);
	if (edl_json_finish(&j) == EDL_OK) {
		size_t len = edl_buf_size(&b);
		const char *text = (const char *)edl_buf_head(&b);
		while (len > 0 && text[len - 1] == '\n')
			len--; /* one line: the stream's framing adds the blank line */
		uint64_t seq = edl_web_ring_push(&srv->ring, text, len);
		if (seq != 0)
			web_events_broadcast(srv, seq);
	} else {
		srv->ring.next_seq++; /* lost: clients see the hole as a gap in seq */
	}
	edl_buf_free(&b);
}

struct slot_fill {
	struct station *st;
	const struct slot_view *v;
};

static void fill_slot(struct edl_json *j, void *data)
{
	struct slot_fill *f = data;
	edl_json_key(j, "tile");
	web_json_slot(j, f->st, f->v);
}

/* Slot changes the events did not carry (progress, stage, state). */
static void send_slot_changes(struct web_server *srv)
{
	struct station *st = srv->st;

	for (size_t i = 0; i < st->n_slots; i++) {
		const struct slot_view *v = &st->slots[i];
		if (v->state == srv->sent[i].state && v->bytes_done == srv->sent[i].bytes_done &&
		    strcmp(v->stage, srv->sent[i].stage) == 0)
			continue;
		struct slot_fill f = {.st = st, .v = v};
		web_event_emit(srv, "slot", fill_slot, &f);
		web_slot_sent(srv, i);
	}
}

void web_slot_sent(struct web_server *srv, size_t i)
{
	const struct slot_view *v = &srv->st->slots[i];
	srv->sent[i].state = v->state;
	srv->sent[i].bytes_done = v->bytes_done;
	snprintf(srv->sent[i].stage, sizeof(srv->sent[i].stage), "%s", v->stage);
}

void web_tick(uv_timer_t *t)
{
	struct web_server *srv = t->data;
	uint64_t now = edl_clock_ms();
	struct web_sse *next;

	send_slot_changes(srv);
	for (struct web_sse *c = srv->sse; c != NULL; c = next) {
		next = c->next;
		if (!c->sending && now - c->last_write_ms >= WEB_SSE_KEEPALIVE_MS)
			sse_queue(c, ":\n\n", 3);
	}
}

/* ---- the station's events ------------------------------------------------------- */

struct station_event {
	struct station *st;
	struct session *s;
	const char *event, *msg;
	int code;
};

static void fill_station_event(struct edl_json *j, void *data)
{
	struct station_event *e = data;
	struct station *st = e->st;
	struct session *s = e->s;
	char buf[2048];

	edl_json_key(j, "t_ms");
	edl_json_uint(j, edl_clock_ms() - st->start_ms);
	edl_json_key(j, "event");
	edl_json_string(j, e->event);
	if (s != NULL) {
		edl_json_key(j, "slot");
		edl_json_string(j, view_escape(buf, sizeof(buf), s->slot_label));
		edl_json_key(j, "port");
		edl_json_string(j, view_escape(buf, sizeof(buf), s->port));
		edl_json_key(j, "serial");
		edl_json_string(j, view_escape(buf, sizeof(buf), s->serial));
		edl_json_key(j, "attempt");
		edl_json_int(j, s->attempt);
		int64_t run_id = s->unit != NULL ? edl_unit_run_id(s->unit) : 0;
		if (run_id > 0) {
			edl_json_key(j, "run_id");
			edl_json_int(j, run_id);
		}
	}
	edl_json_key(j, "message");
	edl_json_string(j, view_escape(buf, sizeof(buf), e->msg));
	if (e->code != 0) {
		edl_json_key(j, "error");
		edl_json_string(j, edl_error_name(e->code));
		edl_json_key(j, "class");
		edl_json_string(j, edl_error_class_name(edl_error_class(e->code)));
		edl_json_key(j, "action");
		edl_json_string(j, edl_error_action(e->code));
	}
	if (s != NULL) {
		for (size_t i = 0; i < st->n_slots; i++) {
			if (strcmp(st->slots[i].port, s->port) == 0) {
				edl_json_key(j, "tile");
				web_json_slot(j, st, &st->slots[i]);
				web_slot_sent(st->web, i);
				break;
			}
		}
	}
	if (strncmp(e->event, "line-", 5) == 0 || strcmp(e->event, "resume") == 0) {
		edl_json_key(j, "line");
		edl_json_object_begin(j);
		edl_json_key(j, "state");
		edl_json_string(j, st->line_stopped ? "stopped" : "running");
		edl_json_key(j, "reason");
		if (st->line_stopped)
			edl_json_string(j, view_escape(buf, sizeof(buf), st->line_reason));
		else
			edl_json_null(j);
		edl_json_object_end(j);
	}
}

void web_on_event(struct station *st, struct session *s, const char *event, const char *msg,
                  int code)
{
	struct web_server *srv = st->web;

	if (srv == NULL || srv->stopping)
		return;
	if (strcmp(event, "line-stopped") == 0 || strcmp(event, "line-resumed") == 0)
		srv->line_since_ms = edl_store_time_now_ms();
	struct station_event e = {.st = st, .s = s, .event = event, .msg = msg, .code = code};
	web_event_emit(srv, "event", fill_station_event, &e);
}
