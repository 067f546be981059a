/*
 * The station's side of the factory sync (issue 14): when [factory] database
 * is set, the station starts the sync worker (src/factory/sync.c) on its
 * results database, wakes it each time a run's result is committed, shows its
 * failures and recoveries as event lines ("sync-failed", "sync-ok": the
 * worker rate-limits them), and stops it after the store has written its last
 * results. The worker runs on its own thread; its events reach the loop
 * through a uv_async_t, so the view is only ever touched on the loop.
 */
#include "station_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "edlstation/factory.h"

#define FACTORY_EVENTS 8 /* events kept between two turns of the loop */

struct factory_event {
	bool ok;
	char text[1024];
};

struct station_factory {
	struct station *st;
	struct edl_factory_sync *sync;
	uv_async_t async;     /* data: this struct */
	pthread_mutex_t lock; /* guards the events below */
	struct factory_event events[FACTORY_EVENTS];
	size_t n_events;
};

/* On the worker's thread. */
static void on_sync_event(void *data, bool ok, const char *text)
{
	struct station_factory *f = data;

	pthread_mutex_lock(&f->lock);
	if (f->n_events < FACTORY_EVENTS) {
		f->events[f->n_events].ok = ok;
		snprintf(f->events[f->n_events].text, sizeof(f->events[0].text), "%s", text);
		f->n_events++;
	}
	pthread_mutex_unlock(&f->lock);
	uv_async_send(&f->async);
}

/* On the loop. */
static void on_async(uv_async_t *a)
{
	struct station_factory *f = a->data;
	struct factory_event *copy = malloc(sizeof(f->events));
	size_t n;

	if (copy == NULL)
		return;
	pthread_mutex_lock(&f->lock);
	n = f->n_events;
	memcpy(copy, f->events, n * sizeof(f->events[0]));
	f->n_events = 0;
	pthread_mutex_unlock(&f->lock);
	for (size_t i = 0; i < n; i++)
		view_event(f->st, NULL, copy[i].ok ? "sync-ok" : "sync-failed", "%s", copy[i].text);
	free(copy);
}

static void on_async_closed(uv_handle_t *h)
{
	struct station_factory *f = h->data;
	pthread_mutex_destroy(&f->lock);
	free(f);
}

int station_factory_start(struct station *st, const char *db_path, struct edl_error *err)
{
	const struct edl_station_config *cfg = st->cfg;
	struct station_factory *f;
	int rc;

	if (cfg->factory_database[0] == '\0' || cfg->identify_only || cfg->dry_run)
		return EDL_OK;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "out of memory starting the factory sync");
	f->st = st;
	pthread_mutex_init(&f->lock, NULL);
	uv_async_init(st->loop, &f->async, on_async);
	f->async.data = f;
	struct edl_factory_sync_opts opts = {
	        .line = cfg->factory_line[0] ? cfg->factory_line : NULL,
	        .batch_runs = (int)cfg->factory_batch,
	        .retry_max_ms = (int)cfg->factory_retry_max_s * 1000,
	        .connect_timeout_s = (int)cfg->factory_timeout_s,
	        .statement_timeout_ms = (int)cfg->factory_timeout_s * 1000,
	        .on_event = on_sync_event,
	        .data = f,
	};
	rc = edl_factory_sync_start(&f->sync, db_path, cfg->factory_database, &opts, err);
	if (rc != EDL_OK) {
		uv_close((uv_handle_t *)&f->async, on_async_closed);
		return rc;
	}
	st->factory = f;
	return EDL_OK;
}

void station_factory_notify(struct station *st)
{
	if (st->factory != NULL)
		edl_factory_sync_notify(st->factory->sync);
}

const struct edl_factory_sync *station_factory_sync(const struct station *st)
{
	return st->factory != NULL ? st->factory->sync : NULL;
}

void station_factory_stop(struct station *st)
{
	struct station_factory *f = st->factory;

	if (f == NULL)
		return;
	st->factory = NULL;
	/* Bounded (stop_flush_ms): a server that is down never holds the exit. */
	edl_factory_sync_stop(f->sync);
	f->sync = NULL;
	uv_close((uv_handle_t *)&f->async, on_async_closed);
}
