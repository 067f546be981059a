/*
 * Internals of the web module shared by server.c (the listener, connections,
 * routing, lifetime), static.c (the board's files), api.c (the JSON API and
 * control), events.c (the event stream), work.c (store reads on the thread
 * pool) and metrics.c (/metrics). Everything here runs on the station's loop
 * thread, except the body of a work item (work.c), which touches only its own
 * store connection and its own buffers.
 *
 * Ownership: the station owns one struct web_server (station->web), created
 * by web_start() and freed by the server itself once its last handle is
 * closed after web_stop().
 */
#ifndef EDLSTATION_WEB_INTERNAL_H
#define EDLSTATION_WEB_INTERNAL_H

#ifndef H2O_USE_LIBUV
#define H2O_USE_LIBUV 1
#endif
#include <h2o.h>
#include <uv.h>

#include "../station/station_internal.h"
#include "edlstation/json.h"
#include "edlstation/web.h"

/* Buckets of the flashing-duration histogram (seconds, +Inf added). */
#define WEB_DURATION_BUCKETS 10
/* Hours of the shift series kept for the chart. */
#define WEB_SERIES_HOURS 24

struct web_sse;

struct web_server {
	struct station *st;
	const struct edl_web_config *cfg;
	h2o_globalconf_t config;
	h2o_context_t ctx;
	h2o_accept_ctx_t accept_ctx;
	uv_tcp_t listener;
	bool listening;
	unsigned clients;       /* connections open */
	struct web_conn *conns; /* ... listed, to shut them when stopping takes long */
	uint64_t refused;       /* connections closed at accept (max_clients) */
	char token[256];        /* "" = read-only */
	char static_dir[1024];
	struct edl_web_ring ring;
	struct web_sse *sse; /* event clients */
	unsigned n_sse;
	uint64_t sse_dropped;  /* event clients dropped for not reading */
	uv_timer_t tick;       /* progress events and keep-alives */
	unsigned pending_work; /* store reads on the thread pool */
	bool stopping;
	bool disposed;
	/* Counters for /metrics (since the station started). */
	uint64_t units_by_result[4]; /* pass, fail, interrupted, not recorded */
	uint64_t failures_by_class[16];
	uint64_t duration_in[WEB_DURATION_BUCKETS + 1]; /* per bucket; summed at render */
	double duration_sum_s;
	uint64_t duration_count;
	uint64_t bytes_written;
	uint64_t slot_failures[EDL_STATION_MAX_PORTS]; /* by the index in station->slots */
	int64_t line_since_ms; /* wall time of the last line change (0: since start) */
	size_t series_next;    /* the series slot the next hour takes */
	uint64_t requests;
	/* The shift series: one bucket per wall-clock hour (UTC). */
	struct {
		int64_t hour_ms; /* start of the hour; 0 = unused */
		unsigned finished, passed, first_pass;
	} series[WEB_SERIES_HOURS];
	/* Per slot: what was last sent on the stream, to send changes only. */
	struct {
		enum slot_state state;
		uint64_t bytes_done;
		char stage[24];
	} sent[EDL_STATION_MAX_PORTS];
};

/* One connection (the accept side): counts clients and frees itself when
 * h2o closes the socket. */
struct web_conn {
	uv_tcp_t tcp;
	struct web_server *srv;
	struct web_conn *prev, *next; /* the server's open connections */
};

/* server.c */
/* Sends a JSON error {"error": error, "detail": detail} with status. */
void web_send_error(h2o_req_t *req, int status, const char *reason, const char *error,
                    const char *detail);
/* Sends body (owned by the caller; copied into the request's pool) as JSON. */
void web_send_json(h2o_req_t *req, int status, const char *body, size_t len);
void web_send_body(h2o_req_t *req, int status, const char *content_type, const char *body,
                   size_t len);
/* The server may be freed now (stopping, no connection, no work). */
void web_maybe_dispose(struct web_server *srv);
struct web_server *web_of(h2o_req_t *req);

/* static.c: GET of a file under static_dir (path "/..." already normalized). */
int web_static(struct web_server *srv, h2o_req_t *req);

/* api.c */
int web_api(struct web_server *srv, h2o_req_t *req, const char *path, size_t len);
/* The JSON of a slot tile (used by /state and by events). */
void web_json_slot(struct edl_json *j, const struct station *st, const struct slot_view *v);
const char *web_slot_state_name(enum slot_state s);

/* events.c */
int web_events_open(struct web_server *srv, h2o_req_t *req, const char *query, size_t qlen);
/* What was last sent for slot i (so the tick sends changes only). */
void web_slot_sent(struct web_server *srv, size_t i);
/* A new event on the ring: sent to every client. */
void web_events_broadcast(struct web_server *srv, uint64_t seq);
void web_events_close_all(struct web_server *srv);
/* Adds an event (object members written by fill) to the ring and sends it. */
void web_event_emit(struct web_server *srv, const char *type,
                    void (*fill)(struct edl_json *j, void *data), void *data);
void web_tick(uv_timer_t *t);

/* query.c: the report's filters from a query string (the station, package,
 * slot and serial strings go to the buffers given). 0, or -1 with why. */
/* The storage of a report filter's strings (the filter points into it). */
struct web_report_text {
	char station[128], package[256], slot[64], serial[128];
	char product[128], lot[128], work_order[128], operator_name[128];
};
int web_report_query(struct edl_store_filter *f, const char *query, size_t qlen,
                     struct web_report_text *t, int64_t now_ms, char *why, size_t why_cap);

/* backlog.c: other queues' backlogs; -1 = not wired. */
int64_t web_backlog_mes(const struct station *st);
int64_t web_backlog_factory(const struct station *st);

/* work.c: report and unit history on the thread pool. */
int web_work_report(struct web_server *srv, h2o_req_t *req, const char *query, size_t qlen);
int web_work_unit(struct web_server *srv, h2o_req_t *req, const char *serial, size_t len);

/* metrics.c */
int web_metrics(struct web_server *srv, h2o_req_t *req);
/* A unit finished on slot (index in station->slots; EDL_STATION_MAX_PORTS:
 * none): counted for /metrics and the shift series. first: on its first attempt. */
void web_metrics_unit(struct web_server *srv, size_t slot, enum edl_store_result r, int code,
                      uint64_t start_ms, uint64_t end_ms, uint64_t bytes, bool first);

#endif
