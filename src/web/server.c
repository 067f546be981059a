/*
 * The station's HTTP server: libh2o (Debian's build, on libuv) runs on the
 * station's own loop, so a request is answered between two USB completions
 * and no thread touches the station's state. This file owns the listener,
 * the connection count (beyond [web] max_clients a connection is closed at
 * accept), the request limits (headers 431, body 413: h2o's
 * max_request_entity_size), routing to static.c, api.c, events.c and
 * metrics.c, JSON errors, and the server's lifetime: web_start() from the
 * station's start, web_stop() when the station stops (listener closed, event
 * streams ended, connections asked to close), freed once its last
 * connection and work item are gone.
 */
#include "web_internal.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#ifndef EDL_WEB_DIR
#define EDL_WEB_DIR "/usr/share/edlstation/web"
#endif

#define WEB_IDLE_MS 5000 /* a keep-alive connection with no request is closed after this */
/* After the station stops, connections still open this long (a client that
 * reads nothing of its answer) are shut, so the station can end. */
#define WEB_STOP_GRACE_MS 2000

struct web_handler {
	h2o_handler_t super;
	struct web_server *srv;
};

struct web_server *web_of(h2o_req_t *req)
{
	/* The context is the server's own (one per server). */
	return (struct web_server *)((char *)req->conn->ctx - offsetof(struct web_server, ctx));
}

void web_send_body(h2o_req_t *req, int status, const char *content_type, const char *body,
                   size_t len)
{
	req->res.status = status;
	req->res.reason = status == 200   ? "OK"
	                  : status == 202 ? "Accepted"
	                  : status == 400 ? "Bad Request"
	                  : status == 401 ? "Unauthorized"
	                  : status == 403 ? "Forbidden"
	                  : status == 404 ? "Not Found"
	                  : status == 405 ? "Method Not Allowed"
	                  : status == 409 ? "Conflict"
	                  : status == 413 ? "Payload Too Large"
	                  : status == 431 ? "Request Header Fields Too Large"
	                  : status == 503 ? "Service Unavailable"
	                                  : "Error";
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
	               strlen(content_type));
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
	               H2O_STRLIT("no-store"));
	if (web_of(req)->stopping)
		req->http1_is_persistent = 0;
	char *copy = h2o_mem_alloc_pool(&req->pool, len + 1);
	memcpy(copy, body, len);
	copy[len] = '\0';
	req->res.content_length = len;
	h2o_send_inline(req, copy, len);
}

void web_send_json(h2o_req_t *req, int status, const char *body, size_t len)
{
	web_send_body(req, status, "application/json; charset=utf-8", body, len);
}

void web_send_error(h2o_req_t *req, int status, const char *reason, const char *error,
                    const char *detail)
{
	struct edl_buf b;
	struct edl_json j;
	(void)reason;

	edl_buf_init(&b);
	edl_json_init_buf(&j, &b, EDL_JSON_COMPACT);
	edl_json_object_begin(&j);
	edl_json_key(&j, "error");
	edl_json_string(&j, error);
	edl_json_key(&j, "detail");
	edl_json_string(&j, detail ? detail : "");
	edl_json_object_end(&j);
	if (edl_json_finish(&j) != EDL_OK) {
		edl_buf_free(&b);
		static const char oom[] = "{\"error\":\"out of memory\",\"detail\":\"\"}";
		web_send_json(req, 503, oom, sizeof(oom) - 1);
		return;
	}
	web_send_json(req, status, (const char *)edl_buf_head(&b), edl_buf_size(&b));
	edl_buf_free(&b);
}

/* Bytes of the request line and headers, as h2o parsed them. */
static size_t header_bytes(const h2o_req_t *req)
{
	size_t n = req->method.len + req->path.len + 16;
	for (size_t i = 0; i < req->headers.size; i++)
		n += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
	return n;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct web_server *srv = ((struct web_handler *)self)->srv;
	const char *path = req->path_normalized.base;
	size_t len = req->path_normalized.len;

	srv->requests++;
	if (header_bytes(req) > srv->cfg->max_header_bytes) {
		char detail[160];
		snprintf(detail, sizeof(detail),
		         "the request line and headers exceed %u bytes ([web] max_header_bytes)",
		         srv->cfg->max_header_bytes);
		req->http1_is_persistent = 0;
		web_send_error(req, 431, NULL, "request headers too large", detail);
		return 0;
	}
	if (req->entity.base != NULL && req->entity.len > srv->cfg->max_body_bytes) {
		char detail[160];
		snprintf(detail, sizeof(detail),
		         "the request body exceeds %u bytes ([web] max_body_bytes)",
		         srv->cfg->max_body_bytes);
		req->http1_is_persistent = 0;
		web_send_error(req, 413, NULL, "request body too large", detail);
		return 0;
	}
	if (len >= 8 && memcmp(path, "/api/v1/", 8) == 0)
		return web_api(srv, req, path + 7, len - 7);
	if (len == 7 && memcmp(path, "/api/v1", 7) == 0)
		return web_api(srv, req, "/", 1);
	if (len == 8 && memcmp(path, "/metrics", 8) == 0) {
		if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
		    !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
			web_send_error(req, 405, NULL, "method not allowed", "/metrics takes GET");
			return 0;
		}
		return web_metrics(srv, req);
	}
	if (len >= 4 && memcmp(path, "/api", 4) == 0 && (len == 4 || path[4] == '/')) {
		web_send_error(req, 404, NULL, "unknown API version",
		               "the API is under /api/v1/ (see the README, section Web API)");
		return 0;
	}
	return web_static(srv, req);
}

static void on_conn_closed(uv_handle_t *h)
{
	struct web_conn *c = (struct web_conn *)h;
	struct web_server *srv = c->srv;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c);
	srv->clients--;
	web_maybe_dispose(srv);
}

static void on_refused_closed(uv_handle_t *h)
{
	free(h);
}

static void on_accept(uv_stream_t *listener, int status)
{
	struct web_server *srv = listener->data;

	if (status != 0)
		return;
	struct web_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	c->srv = srv;
	uv_tcp_init(listener->loop, &c->tcp);
	if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
		uv_close((uv_handle_t *)&c->tcp, on_refused_closed);
		return;
	}
	if (srv->stopping || srv->clients >= srv->cfg->max_clients) {
		/* Beyond the bound: closed at once, costing nothing but the accept. */
		srv->refused++;
		uv_close((uv_handle_t *)&c->tcp, on_refused_closed);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	srv->clients++;
	c->next = srv->conns;
	if (c->next != NULL)
		c->next->prev = c;
	srv->conns = c;
	h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_conn_closed);
	h2o_accept(&srv->accept_ctx, sock);
}

/* The token from [web] token or the first line of [web] token_file. */
static int load_token(struct web_server *srv, struct edl_error *err)
{
	const struct edl_web_config *c = srv->cfg;

	snprintf(srv->token, sizeof(srv->token), "%s", c->token);
	if (c->token_file[0] == '\0')
		return EDL_OK;
	FILE *f = fopen(c->token_file, "r");
	if (f == NULL)
		return edl_error_set(
		        err, EDL_E_CONFIG,
		        "[web] token_file %s: cannot read it: %s — give a readable file "
		        "holding the bearer token on its first line",
		        c->token_file, strerror(errno));
	char line[sizeof(srv->token) + 8] = "";
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	if (strlen(line) >= sizeof(srv->token) - 1 || strlen(line) < 8)
		return edl_error_set(
		        err, EDL_E_CONFIG,
		        "[web] token_file %s: the first line must hold a token of 8 to "
		        "254 characters",
		        c->token_file);
	memcpy(srv->token, line, strlen(line) + 1);
	return EDL_OK;
}

int web_start(struct station *st, struct edl_error *err)
{
	const struct edl_web_config *c = &st->cfg->web;
	struct sockaddr_storage addr;
	char why[256];
	int rc;

	if (c->listen[0] == '\0')
		return EDL_OK;
	if (edl_web_parse_listen(c->listen, &addr, why, sizeof(why)) != 0)
		return edl_error_set(err, EDL_E_CONFIG, "[web] listen %s: %s", c->listen, why);
	struct web_server *srv = calloc(1, sizeof(*srv));
	if (srv == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "no memory for the web server");
	srv->st = st;
	srv->cfg = c;
	rc = load_token(srv, err);
	if (rc == EDL_OK && edl_web_ring_init(&srv->ring, EDL_WEB_RING_DEFAULT) != 0)
		rc = edl_error_set(err, EDL_E_NOMEM, "no memory for the event ring");
	if (rc != EDL_OK) {
		free(srv);
		return rc;
	}
	snprintf(srv->static_dir, sizeof(srv->static_dir), "%s",
	         c->static_dir[0] ? c->static_dir : EDL_WEB_DIR);

	h2o_config_init(&srv->config);
	/* h2o refuses (413, its own text) bodies far past the bound; the ones just
	 * past it get our JSON 413 (on_req). */
	srv->config.max_request_entity_size = (size_t)c->max_body_bytes * 2 + 1024;
	srv->config.http1.req_timeout = WEB_IDLE_MS;
	srv->config.server_name = h2o_iovec_init(H2O_STRLIT("edlstation"));
	h2o_hostconf_t *host = h2o_config_register_host(
	        &srv->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
	struct web_handler *h = (struct web_handler *)h2o_create_handler(path, sizeof(*h));
	h->super.on_req = on_req;
	h->srv = srv;
	h2o_context_init(&srv->ctx, st->loop, &srv->config);
	srv->accept_ctx.ctx = &srv->ctx;
	srv->accept_ctx.hosts = srv->config.hosts;

	uv_tcp_init(st->loop, &srv->listener);
	srv->listener.data = srv;
	int e = uv_tcp_bind(&srv->listener, (const struct sockaddr *)&addr, 0);
	if (e == 0)
		e = uv_listen((uv_stream_t *)&srv->listener, 128, on_accept);
	uv_timer_init(st->loop, &srv->tick);
	srv->tick.data = srv;
	st->web = srv;
	if (e != 0) {
		rc = edl_error_set(err, EDL_E_CONFIG,
		                   "[web] listen %s: cannot listen: %s — choose a free port (or "
		                   "stop what holds it), or leave [web] listen unset",
		                   c->listen, uv_strerror(e));
		web_stop(st);
		return rc;
	}
	srv->listening = true;
	srv->line_since_ms = edl_store_time_now_ms();
	/* A client that closes while we write must cost an EPIPE, not the
	 * process (libuv and h2o write with write(2), no MSG_NOSIGNAL). */
	signal(SIGPIPE, SIG_IGN);
	uv_timer_start(&srv->tick, web_tick, 250, 250);
	return EDL_OK;
}

static void on_server_handle_closed(uv_handle_t *h)
{
	struct web_server *srv = h->data;

	/* The listener (closed at stop) and the tick timer (closed at dispose):
	 * the second to close frees. */
	if (srv->disposed) {
		edl_web_ring_free(&srv->ring);
		free(srv);
		return;
	}
	srv->disposed = true;
}

void web_maybe_dispose(struct web_server *srv)
{
	if (!srv->stopping || srv->clients > 0 || srv->pending_work > 0 || srv->n_sse > 0)
		return;
	if (srv->ctx.loop == NULL)
		return; /* disposed already */
	if (srv->st->web == srv)
		srv->st->web = NULL;
	/* request_shutdown armed HTTP/2's graceful-shutdown timer: no
	 * connection is left for it to act on. */
	if (h2o_timeout_is_linked(&srv->ctx.http2._graceful_shutdown_timeout))
		h2o_timeout_unlink(&srv->ctx.http2._graceful_shutdown_timeout);
	h2o_context_dispose(&srv->ctx);
	srv->ctx.loop = NULL;
	h2o_config_dispose(&srv->config);
	uv_close((uv_handle_t *)&srv->tick, on_server_handle_closed);
}

/* Stopping took too long: whatever is still open is shut (its pending write
 * fails, h2o closes it, on_conn_closed counts it gone). */
static void on_stop_grace_over(uv_timer_t *t)
{
	struct web_server *srv = t->data;
	uv_os_fd_t fd;

	for (struct web_conn *c = srv->conns; c != NULL; c = c->next) {
		if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
			(void)shutdown(fd, SHUT_RDWR);
	}
}

void web_stop(struct station *st)
{
	struct web_server *srv = st->web;

	if (srv == NULL || srv->stopping)
		return;
	srv->stopping = true;
	uv_timer_stop(&srv->tick);
	uv_timer_start(&srv->tick, on_stop_grace_over, WEB_STOP_GRACE_MS, 0);
	/* No new connections; the tick timer closes with the context. */
	uv_close((uv_handle_t *)&srv->listener, on_server_handle_closed);
	web_events_close_all(srv);
	h2o_context_request_shutdown(&srv->ctx);
	web_maybe_dispose(srv);
}
