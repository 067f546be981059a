/*
 * GET /metrics: the station in the Prometheus text format 0.0.4, for the
 * factory's dashboards. Counters (units by result, failures by class and by
 * slot, bytes written), the flashing-duration histogram, gauges (units in
 * flight, line stopped, store backlog, event clients) and the MES and
 * factory-sync backlogs once their owners wire web_backlog_mes() /
 * web_backlog_factory() (backlog.c). Every series has HELP and TYPE; label
 * values are escaped (edl_web_prom_label). The counts are this station
 * process's (since it started), as Prometheus counters are.
 */
#include "web_internal.h"

#include <string.h>

/* Upper bounds of the duration buckets, seconds (+Inf follows). */
static const double duration_bounds[WEB_DURATION_BUCKETS] = {1,  2,  5,   10,  20,
                                                             30, 60, 120, 300, 600};

int edl_web_prom_label(struct edl_buf *b, const char *value)
{
	for (const char *p = value; *p; p++) {
		int rc = *p == '\\'   ? edl_buf_append(b, "\\\\", 2)
		         : *p == '"'  ? edl_buf_append(b, "\\\"", 2)
		         : *p == '\n' ? edl_buf_append(b, "\\n", 2)
		                      : edl_buf_append(b, p, 1);
		if (rc != EDL_OK)
			return rc;
	}
	return EDL_OK;
}

void web_metrics_unit(struct web_server *srv, size_t slot, enum edl_store_result r, int code,
                      uint64_t start_ms, uint64_t end_ms, uint64_t bytes, bool first)
{
	int idx = code == EDL_E_NOT_RECORDED    ? 3
	          : r == EDL_RESULT_PASS        ? 0
	          : r == EDL_RESULT_INTERRUPTED ? 2
	                                        : 1;
	srv->units_by_result[idx]++;
	if (r == EDL_RESULT_INTERRUPTED)
		return;
	if (r != EDL_RESULT_PASS) {
		enum edl_error_class cls = edl_error_class(code);
		if ((unsigned)cls <
		    sizeof(srv->failures_by_class) / sizeof(srv->failures_by_class[0]))
			srv->failures_by_class[cls]++;
		if (slot < EDL_STATION_MAX_PORTS)
			srv->slot_failures[slot]++;
	}
	double secs = end_ms > start_ms ? (double)(end_ms - start_ms) / 1000.0 : 0;
	size_t b = 0;
	while (b < WEB_DURATION_BUCKETS && secs > duration_bounds[b])
		b++;
	srv->duration_in[b]++;
	srv->duration_sum_s += secs;
	srv->duration_count++;
	srv->bytes_written += bytes;

	/* The shift series: this wall-clock hour's bucket. */
	int64_t now = edl_store_time_now_ms();
	int64_t hour = now - now % 3600000;
	size_t cur = (srv->series_next + WEB_SERIES_HOURS - 1) % WEB_SERIES_HOURS;
	if (srv->series[cur].hour_ms != hour) {
		cur = srv->series_next;
		srv->series_next = (srv->series_next + 1) % WEB_SERIES_HOURS;
		memset(&srv->series[cur], 0, sizeof(srv->series[cur]));
		srv->series[cur].hour_ms = hour;
	}
	srv->series[cur].finished++;
	if (r == EDL_RESULT_PASS)
		srv->series[cur].passed++;
	if (r == EDL_RESULT_PASS && first)
		srv->series[cur].first_pass++;
}

static void head(struct edl_buf *b, const char *name, const char *type, const char *help)
{
	edl_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample_label(struct edl_buf *b, const char *name, const char *label, const char *value,
                         uint64_t n)
{
	edl_buf_printf(b, "%s{%s=\"", name, label);
	edl_web_prom_label(b, value);
	edl_buf_printf(b, "\"} %llu\n", (unsigned long long)n);
}

static void render(struct web_server *srv, struct edl_buf *b)
{
	const struct station *st = srv->st;
	static const char *const results[4] = {"pass", "fail", "interrupted", "not_recorded"};

	head(b, "edlstation_info", "gauge", "The station and the package in use (value 1).");
	edl_buf_printf(b, "edlstation_info{station=\"");
	edl_web_prom_label(b, st->cfg->name);
	edl_buf_printf(b, "\",package=\"");
	edl_web_prom_label(b, st->pkg ? edl_package_name(st->pkg) : "");
	edl_buf_printf(b, "\",version=\"");
	edl_web_prom_label(b, st->pkg ? edl_package_version(st->pkg) : "");
	edl_buf_printf(b, "\",manifest_hash=\"%s\"} 1\n", st->package_hash);

	head(b, "edlstation_units_total", "counter",
	     "Units finished by result (a unit's final result, retries included).");
	for (int i = 0; i < 4; i++)
		sample_label(b, "edlstation_units_total", "result", results[i],
		             srv->units_by_result[i]);

	head(b, "edlstation_unit_failures_total", "counter",
	     "Failed units by failure class (what the operator does).");
	for (int c = EDL_CLASS_NONE; c <= EDL_CLASS_STATION; c++)
		sample_label(b, "edlstation_unit_failures_total", "class",
		             edl_error_class_name((enum edl_error_class)c),
		             srv->failures_by_class[c]);

	head(b, "edlstation_slot_failures_total", "counter", "Failed units by slot label.");
	for (size_t i = 0; i < st->n_slots; i++) {
		const struct edl_station_port *p =
		        edl_station_config_port(st->cfg, st->slots[i].port);
		uint64_t n = p != NULL && p->slot >= 1 ? srv->slot_failures[p->slot - 1] : 0;
		sample_label(b, "edlstation_slot_failures_total", "slot", st->slots[i].label, n);
	}

	head(b, "edlstation_flash_duration_seconds", "histogram",
	     "Time from a unit's arrival to its result (passed and failed units).");
	uint64_t cum = 0;
	for (size_t i = 0; i <= WEB_DURATION_BUCKETS; i++) {
		cum += srv->duration_in[i];
		if (i < WEB_DURATION_BUCKETS)
			edl_buf_printf(b,
			               "edlstation_flash_duration_seconds_bucket{le=\"%g\"} %llu\n",
			               duration_bounds[i], (unsigned long long)cum);
		else
			edl_buf_printf(
			        b, "edlstation_flash_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
			        (unsigned long long)cum);
	}
	edl_buf_printf(b, "edlstation_flash_duration_seconds_sum %.3f\n", srv->duration_sum_s);
	edl_buf_printf(b, "edlstation_flash_duration_seconds_count %llu\n",
	               (unsigned long long)srv->duration_count);

	head(b, "edlstation_bytes_written_total", "counter",
	     "Image bytes the units accepted (passed and failed units).");
	edl_buf_printf(b, "edlstation_bytes_written_total %llu\n",
	               (unsigned long long)srv->bytes_written);

	head(b, "edlstation_units_in_flight", "gauge", "Units being flashed now.");
	edl_buf_printf(b, "edlstation_units_in_flight %u\n", st->active);
	head(b, "edlstation_line_stopped", "gauge",
	     "1 while the line takes no new units (line stop, pause), else 0.");
	edl_buf_printf(b, "edlstation_line_stopped %d\n", st->line_stopped ? 1 : 0);

	size_t kept = 0;
	if (st->store != NULL) {
		struct edl_store_state state;
		edl_store_writer_state(st->store, &state);
		kept = state.kept;
	}
	head(b, "edlstation_store_backlog", "gauge",
	     "Results kept uncommitted (written once the database can write).");
	edl_buf_printf(b, "edlstation_store_backlog %zu\n", kept);
	int64_t mes = web_backlog_mes(st), fac = web_backlog_factory(st);
	if (mes >= 0) {
		head(b, "edlstation_mes_backlog", "gauge", "MES deliveries not yet acknowledged.");
		edl_buf_printf(b, "edlstation_mes_backlog %lld\n", (long long)mes);
	}
	if (fac >= 0) {
		head(b, "edlstation_factory_sync_backlog", "gauge",
		     "Finished runs not yet copied to the factory database.");
		edl_buf_printf(b, "edlstation_factory_sync_backlog %lld\n", (long long)fac);
	}
	head(b, "edlstation_web_clients", "gauge", "HTTP connections open.");
	edl_buf_printf(b, "edlstation_web_clients %u\n", srv->clients);
	head(b, "edlstation_web_refused_total", "counter",
	     "Connections closed at accept ([web] max_clients reached).");
	edl_buf_printf(b, "edlstation_web_refused_total %llu\n", (unsigned long long)srv->refused);
	head(b, "edlstation_web_event_clients_dropped_total", "counter",
	     "Event clients dropped for not reading ([web] sse_buffer_kb).");
	edl_buf_printf(b, "edlstation_web_event_clients_dropped_total %llu\n",
	               (unsigned long long)srv->sse_dropped);
}

int web_metrics(struct web_server *srv, h2o_req_t *req)
{
	struct edl_buf b;

	edl_buf_init(&b);
	render(srv, &b);
	web_send_body(req, 200, "text/plain; version=0.0.4; charset=utf-8",
	              (const char *)edl_buf_head(&b), edl_buf_size(&b));
	edl_buf_free(&b);
	return 0;
}

void web_on_result(struct station *st, struct session *s, enum edl_store_result r, int code)
{
	struct web_server *srv = st->web;
	struct slot_view *v = NULL;

	if (srv == NULL)
		return;
	for (size_t i = 0; i < st->n_slots && v == NULL; i++)
		if (strcmp(st->slots[i].port, s->port) == 0)
			v = &st->slots[i];
	uint64_t now = edl_clock_ms();
	web_metrics_unit(srv, v ? (size_t)(v - st->slots) : EDL_STATION_MAX_PORTS, r, code,
	                 v ? v->start_ms : now, now, s->bytes_done, s->attempt <= 1);
}
