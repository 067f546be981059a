/*
 * Store reads for the API, off the loop: GET /api/v1/report (the JSON of
 * `edlstation report --format json`, with the same filters) and GET
 * /api/v1/units/SERIAL (`edlstation history SERIAL --steps --format json`).
 * The query is parsed on the loop (a bad one answers 400 at once); the read
 * runs on libuv's thread pool with its own read-only store connection
 * (edl_store_open) and writes its answer into its own buffer; the loop sends
 * it when done. A client that left meanwhile is noticed through its
 * request's pool (on_request_gone) and its answer dropped.
 */
#include "web_internal.h"
#include "edlstation/store_cli.h"

#include <stdlib.h>
#include <string.h>

enum web_work_kind { WORK_REPORT, WORK_UNIT };

struct web_alive;

struct web_work {
	uv_work_t work;
	struct web_server *srv;
	h2o_req_t *req; /* NULL once the client went away */
	enum web_work_kind kind;
	char db[1024];
	struct edl_store_filter filter;
	struct web_report_text text; /* the filter's strings; text.serial as asked */
	char serial[128];
	/* Answer (written on the pool thread). */
	int status;
	char error[64];
	char detail[EDL_ERROR_DETAIL_MAX + 128];
	char *body;
	size_t body_len;
	struct web_alive *alive; /* in the request's pool: tells us it went */
};

struct web_alive {
	struct web_work *w;
};

static void on_request_gone(void *p)
{
	struct web_alive *a = p;
	if (a->w != NULL) {
		a->w->req = NULL;
		a->w->alive = NULL; /* freed with the pool */
	}
}

static void fail(struct web_work *w, int status, const char *error, const char *detail)
{
	w->status = status;
	snprintf(w->error, sizeof(w->error), "%s", error);
	snprintf(w->detail, sizeof(w->detail), "%s", detail);
}

/* Runs on a pool thread: touches only w and its own store connection. */
static void run_work(uv_work_t *req)
{
	struct web_work *w = req->data;
	struct edl_store *store = NULL;
	struct edl_store_report *report = NULL;
	struct edl_store_history *history = NULL;
	struct edl_error err;
	char msg[EDL_ERROR_DETAIL_MAX + 128];
	FILE *f = NULL;

	edl_error_clear(&err);
	int rc = edl_store_open(&store, w->db, &err);
	if (rc != EDL_OK) {
		fail(w, 503, "results database unavailable",
		     edl_error_format(&err, msg, sizeof(msg)));
		goto out;
	}
	if (w->text.serial[0]) {
		rc = edl_store_find_unit(w->serial, sizeof(w->serial), store, w->text.serial, &err);
		if (rc != EDL_OK) {
			bool mine = rc == EDL_E_NOENT || rc == EDL_E_AGAIN || rc == EDL_E_INVAL;
			fail(w,
			     rc == EDL_E_NOENT ? 404
			     : mine            ? 400
			                       : 503,
			     rc == EDL_E_NOENT ? "unknown unit"
			     : mine            ? "ambiguous or malformed serial"
			                       : "results database error",
			     mine ? err.detail : edl_error_format(&err, msg, sizeof(msg)));
			goto out;
		}
		w->filter.serial = w->serial;
	}
	if (w->kind == WORK_REPORT)
		rc = edl_store_report(&report, store, &w->filter, &err);
	else
		rc = edl_store_history(&history, store, w->serial, EDL_STORE_HISTORY_STEPS, &err);
	if (rc != EDL_OK) {
		fail(w, rc == EDL_E_NOENT ? 404 : 503,
		     rc == EDL_E_NOENT ? "unknown unit" : "results database error",
		     rc == EDL_E_NOENT ? err.detail : edl_error_format(&err, msg, sizeof(msg)));
		goto out;
	}
	f = open_memstream(&w->body, &w->body_len);
	if (f == NULL) {
		fail(w, 503, "out of memory", "writing the answer");
		goto out;
	}
	rc = w->kind == WORK_REPORT ? edl_store_report_write(f, report, EDL_STORE_FORMAT_JSON)
	                            : edl_store_history_write(f, history, EDL_STORE_FORMAT_JSON);
	if (fclose(f) != 0 || rc != EDL_OK) {
		free(w->body);
		w->body = NULL;
		fail(w, 503, "out of memory", "writing the answer");
		goto out;
	}
	w->status = 200;
out:
	edl_store_report_free(report);
	edl_store_history_free(history);
	edl_store_close(store);
}

static void after_work(uv_work_t *req, int status)
{
	struct web_work *w = req->data;
	struct web_server *srv = w->srv;

	if (w->req != NULL) {
		if (status != 0)
			web_send_error(w->req, 503, NULL, "cancelled", "the station is stopping");
		else if (w->status == 200)
			web_send_json(w->req, 200, w->body, w->body_len);
		else
			web_send_error(w->req, w->status, NULL, w->error, w->detail);
	}
	if (w->alive != NULL)
		w->alive->w = NULL;
	free(w->body);
	free(w);
	srv->pending_work--;
	web_maybe_dispose(srv);
}

static struct web_work *work_new(struct web_server *srv, h2o_req_t *req, enum web_work_kind kind)
{
	struct web_work *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	w->srv = srv;
	w->req = req;
	w->kind = kind;
	w->work.data = w;
	snprintf(w->db, sizeof(w->db), "%s",
	         srv->st->cfg->db[0] ? srv->st->cfg->db : EDL_STORE_DEFAULT_DB);
	edl_store_filter_init(&w->filter);
	return w;
}

static int work_queue(struct web_server *srv, h2o_req_t *req, struct web_work *w)
{
	w->alive = h2o_mem_alloc_shared(&req->pool, sizeof(*w->alive), on_request_gone);
	w->alive->w = w;
	if (uv_queue_work(srv->st->loop, &w->work, run_work, after_work) != 0) {
		w->alive->w = NULL;
		free(w);
		web_send_error(req, 503, NULL, "cannot queue the read", "try again");
		return 0;
	}
	srv->pending_work++;
	return 0;
}

int web_work_report(struct web_server *srv, h2o_req_t *req, const char *query, size_t qlen)
{
	char detail[400];
	struct web_work *w = work_new(srv, req, WORK_REPORT);

	if (w == NULL) {
		web_send_error(req, 503, NULL, "out of memory", "");
		return 0;
	}
	if (web_report_query(&w->filter, query, qlen, &w->text, edl_store_time_now_ms(), detail,
	                     sizeof(detail)) != 0) {
		free(w);
		web_send_error(req, 400, NULL, "bad query", detail);
		return 0;
	}
	return work_queue(srv, req, w);
}

int web_work_unit(struct web_server *srv, h2o_req_t *req, const char *serial, size_t len)
{
	struct web_work *w = work_new(srv, req, WORK_UNIT);
	char text[128];

	if (w == NULL) {
		web_send_error(req, 503, NULL, "out of memory", "");
		return 0;
	}
	/* The path is percent-decoded by h2o's normalization only for safe
	 * characters: take what is there, bounded and printable. */
	bool ok = len > 0 && len < sizeof(text);
	for (size_t i = 0; ok && i < len; i++)
		ok = serial[i] > 0x20 && serial[i] < 0x7f && serial[i] != '/';
	if (!ok) {
		free(w);
		web_send_error(req, 400, NULL, "bad serial",
		               "give a chip or USB serial (printable ASCII, at most 127 bytes): "
		               "/api/v1/units/SERIAL");
		return 0;
	}
	memcpy(w->text.serial, serial, len);
	w->text.serial[len] = '\0';
	return work_queue(srv, req, w);
}
