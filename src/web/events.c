/*
 * The event stream, GET /api/v1/events (Server-Sent Events): every station
 * event (the same members as a `--log-format json` line) and every slot
 * change (the tile's JSON, at most 4 a second per slot) gets the next
 * sequence number and goes on the ring (ring.c); each connected client has a
 * cursor into the ring and is sent "id: SEQ" + "data: JSON" from it. A client
 * resumes with Last-Event-ID or ?after=SEQ and gets every event after it
 * exactly once; one asking for a position the ring no longer holds (or that
 * this station run never had) gets {"type":"gap"} first (re-read /state).
 *
 * Flow control: h2o takes one write at a time per response; a client is sent
 * the next chunk (at most WEB_SSE_CHUNK bytes of events, packed from the
 * ring) when its last write is done. So a slow client costs one chunk of
 * memory, never a copy of what it has not read; one whose unsent events pass
 * [web] sse_buffer_kb (it reads nothing, or far slower than the line makes
 * events) is dropped, its connection closed, and resumes when it reconnects.
 * A client struct lives in its request's pool: freed with the request.
 */
#include "web_internal.h"

#include <string.h>
#include <sys/socket.h>

#define WEB_SSE_KEEPALIVE_MS 15000 /* a comment line this often keeps proxies and clients calm */
#define WEB_SSE_CHUNK (8 * 1024)   /* bytes of events per write */
#define WEB_SSE_SNDBUF 4096        /* SO_SNDBUF of a stream (Linux doubles it) */

struct web_sse {
	h2o_generator_t super;
	struct web_server *srv;
	h2o_req_t *req;
	struct web_sse *next;
	struct edl_buf chunk; /* handed to h2o, untouched until proceed */
	uint64_t cursor;      /* the seq to send next */
	char preface[512];    /* sent before the next events ("retry:", gaps) */
	int fd;               /* the connection's socket (-1: unknown) */
	bool keepalive;       /* send a comment line with the next write */
	bool sending;
	bool done;    /* FINAL or ERROR sent, or the client went away */
	bool closing; /* send what is left, then FINAL */
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
	edl_buf_free(&c->chunk);
}

/* Events the client has not been sent, in bytes of JSON. */
static uint64_t sse_backlog(const struct web_sse *c)
{
	const struct edl_web_ring *r = &c->srv->ring;
	const struct edl_web_event *e = edl_web_ring_get(r, c->cursor);
	if (c->cursor >= r->next_seq)
		return 0;
	return e != NULL ? r->bytes_total - e->offset : UINT64_MAX;
}

static void sse_gap(struct web_sse *c, uint64_t after)
{
	uint64_t first = edl_web_ring_first(&c->srv->ring);
	size_t n = strlen(c->preface);
	snprintf(c->preface + n, sizeof(c->preface) - n,
	         "data: {\"type\":\"gap\",\"after\":%llu,\"first\":%llu,"
	         "\"detail\":\"events lost: re-read /api/v1/state\"}\n\n",
	         (unsigned long long)after, (unsigned long long)first);
}

/* Packs the next chunk (preface, events from the cursor, keep-alive). */
static void sse_pack(struct web_sse *c)
{
	const struct edl_web_ring *r = &c->srv->ring;
	struct edl_buf *b = &c->chunk;
	char head[40];

	edl_buf_reset(b);
	if (c->cursor < edl_web_ring_first(r) && c->cursor < r->next_seq) {
		/* Fell out of the ring while it was away (or too slow). */
		sse_gap(c, c->cursor - 1);
		c->cursor = edl_web_ring_first(r);
	}
	if (c->preface[0]) {
		edl_buf_append(b, c->preface, strlen(c->preface));
		c->preface[0] = '\0';
	}
	while (c->cursor < r->next_seq && edl_buf_size(b) < WEB_SSE_CHUNK) {
		const struct edl_web_event *e = edl_web_ring_get(r, c->cursor++);
		if (e == NULL)
			continue; /* lost to memory: the client sees the hole in seq */
		int n = snprintf(head, sizeof(head),
		                 "id: %llu\ndata: ", (unsigned long long)e->seq);
		edl_buf_append(b, head, (size_t)n);
		edl_buf_append(b, e->json, e->len);
		edl_buf_append(b, "\n\n", 2);
	}
	if (c->keepalive && edl_buf_size(b) == 0)
		edl_buf_append(b, ":\n\n", 3);
	c->keepalive = false;
}

static void sse_flush(struct web_sse *c)
{
	if (c->sending || c->done)
		return;
	if (!c->drop) {
		sse_pack(c);
		if (edl_buf_size(&c->chunk) > 0) {
			h2o_iovec_t buf =
			        h2o_iovec_init(edl_buf_head(&c->chunk), edl_buf_size(&c->chunk));
			c->sending = true;
			c->last_write_ms = edl_clock_ms();
			h2o_send(c->req, &buf, 1, H2O_SEND_STATE_IN_PROGRESS);
			return;
		}
	}
	if (c->drop || c->closing) {
		c->done = true;
		sse_unlink(c);
		h2o_send(c->req, NULL, 0, c->drop ? H2O_SEND_STATE_ERROR : H2O_SEND_STATE_FINAL);
	}
}

static void sse_proceed(h2o_generator_t *g, h2o_req_t *req)
{
	struct web_sse *c = (struct web_sse *)g;
	(void)req;
	c->sending = false;
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

/* New events are on the ring: each client is sent them, or dropped when it
 * lags past the bound. */
static void sse_kick(struct web_sse *c)
{
	if (c->done || c->drop)
		return;
	if (c->sending && sse_backlog(c) > (uint64_t)c->srv->cfg->sse_buffer_kb * 1024) {
		c->drop = true;
		c->srv->sse_dropped++;
		/* Its write may never finish: the socket is shut, the write fails,
		 * h2o closes the connection and stops the stream (sse_stop). */
		if (c->fd >= 0)
			(void)shutdown(c->fd, SHUT_RDWR);
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
	edl_buf_init(&c->chunk);
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
	/* Little in the kernel: what a client has not read stays in its backlog
	 * (in the ring, not copied), where [web] sse_buffer_kb drops it. */
	h2o_socket_t *sock = req->conn->callbacks->get_socket != NULL
	                             ? req->conn->callbacks->get_socket(req->conn)
	                             : NULL;
	int sndbuf = WEB_SSE_SNDBUF;
	c->fd = sock != NULL ? h2o_socket_get_fd(sock) : -1;
	if (c->fd >= 0)
		(void)setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	h2o_start_response(req, &c->super);

	/* The browser reconnects after a second; then what was missed. */
	snprintf(c->preface, sizeof(c->preface), "retry: 1000\n\n");
	c->cursor = srv->ring.next_seq;
	if (given) {
		uint64_t first = edl_web_ring_first(&srv->ring);
		uint64_t limit = (uint64_t)srv->cfg->sse_buffer_kb * 1024;
		if (after >= srv->ring.next_seq) {
			/* A position from the future: another station run's numbers. */
			sse_gap(c, after);
		} else if (after + 1 < first) {
			sse_gap(c, after);
			c->cursor = first;
		} else {
			c->cursor = after + 1;
		}
		/* More than the bound behind: what fits, after a gap. */
		while (c->cursor < srv->ring.next_seq && sse_backlog(c) > limit)
			c->cursor++;
		if (c->cursor > after + 1 && after + 1 >= first)
			sse_gap(c, after);
	}
	sse_flush(c);
	return 0;
}

void web_events_broadcast(struct web_server *srv, uint64_t seq)
{
	struct web_sse *next;
	(void)seq;

	for (struct web_sse *c = srv->sse; c != NULL; c = next) {
		next = c->next; /* a dropped client unlinks itself */
		sse_kick(c);
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
		if (!c->sending && now - c->last_write_ms >= WEB_SSE_KEEPALIVE_MS) {
			c->keepalive = true;
			sse_flush(c);
		}
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
