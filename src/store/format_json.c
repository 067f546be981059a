/*
 * JSON output of the report and the history, for scripts and dashboards. The
 * keys are stable and documented in the README; numbers that do not exist (a
 * yield with no units, a slot too small to test) are null, never NaN. Written
 * with the project's one JSON writer (include/edlstation/json.h), so hostile
 * device text cannot break the document.
 */
#include "store_internal.h"

#include <string.h>

#include "edlstation/json.h"

/* A report wraps its top level and its lists (one slot or Pareto row a line);
 * a history also wraps each run. Deeper values stay on one line. */
#define REPORT_WRAP 2u
#define HISTORY_WRAP 3u

static void key_str(struct edl_json *j, const char *k, const char *v)
{
	edl_json_key(j, k);
	edl_json_string(j, v);
}

static void key_u64(struct edl_json *j, const char *k, uint64_t v)
{
	edl_json_key(j, k);
	edl_json_uint(j, v);
}

static void key_i64(struct edl_json *j, const char *k, int64_t v)
{
	edl_json_key(j, k);
	edl_json_int(j, v);
}

/* Ratios and rates: six significant digits, null when they do not exist. */
static void key_num(struct edl_json *j, const char *k, double v)
{
	edl_json_key(j, k);
	edl_json_double(j, v, 6);
}

/* A duration, null when negative (none measured). */
static void key_ms(struct edl_json *j, const char *k, int64_t ms)
{
	edl_json_key(j, k);
	if (ms < 0)
		edl_json_null(j);
	else
		edl_json_int(j, ms);
}

static void key_time(struct edl_json *j, const char *k, int64_t ms, bool present)
{
	char when[40];

	edl_json_key(j, k);
	if (!present) {
		edl_json_null(j);
		return;
	}
	edl_store_time_format(when, sizeof(when), ms);
	edl_json_string(j, when);
}

/* The document ends with a newline, as the hand-written one did. */
static int finish(struct edl_json *j)
{
	int rc = edl_json_finish(j);

	/* A misuse here is a bug in this file, not a failed write. */
	return rc == EDL_E_INVAL ? EDL_E_INTERNAL : rc;
}

static void report_failed(struct edl_json *j, const struct edl_store_report *r)
{
	edl_json_key(j, "failed");
	edl_json_array_begin(j);
	for (size_t i = 0; i < r->n_failed; i++) {
		const struct edl_store_failed_unit *f = &r->failed[i];
		edl_json_object_begin(j);
		key_str(j, "serial", f->serial);
		key_i64(j, "run_id", f->run_id);
		key_time(j, "start", f->start_ms, true);
		key_str(j, "station", f->station);
		key_str(j, "slot", f->slot_label);
		key_str(j, "result", f->result);
		key_str(j, "stage", f->stage);
		key_str(j, "error", f->error);
		key_str(j, "class", f->error_class);
		key_str(j, "message", f->message);
		key_str(j, "action", f->action);
		edl_json_object_end(j);
	}
	edl_json_array_end(j);
}

static void report_buckets(struct edl_json *j, const struct edl_store_report *r)
{
	key_str(j, "bucket", r->filter.bucket == EDL_STORE_BUCKET_SHIFT ? "shift" : "hour");
	edl_json_key(j, "buckets");
	edl_json_array_begin(j);
	for (size_t i = 0; i < r->n_buckets; i++) {
		const struct edl_store_bucket_stat *b = &r->buckets[i];
		edl_json_object_begin(j);
		key_time(j, "start", b->start_ms, true);
		key_time(j, "end", b->end_ms, true);
		key_u64(j, "units", b->units);
		key_u64(j, "passed_units", b->passed_units);
		key_u64(j, "first_pass_units", b->first_pass_units);
		key_num(j, "first_pass_yield", b->first_pass_yield);
		key_num(j, "units_per_hour", b->units_per_hour);
		key_num(j, "good_units_per_hour", b->good_units_per_hour);
		edl_json_object_end(j);
	}
	edl_json_array_end(j);
}

/* Factory reports (--by-station): one object per station. */
static void report_stations(struct edl_json *j, const struct edl_store_report *r)
{
	if (!r->filter.by_station)
		return;
	edl_json_key(j, "by_station");
	edl_json_array_begin(j);
	for (size_t i = 0; i < r->n_stations; i++) {
		const struct edl_store_station_stat *s = &r->stations[i];
		edl_json_object_begin(j);
		key_str(j, "station", s->station);
		key_str(j, "line", s->line);
		key_u64(j, "runs", s->runs);
		key_u64(j, "passed_runs", s->passed_runs);
		key_u64(j, "failed_runs", s->failed_runs);
		key_u64(j, "interrupted_runs", s->interrupted_runs);
		key_u64(j, "units", s->units);
		key_u64(j, "passed_units", s->passed_units);
		key_u64(j, "first_pass_units", s->first_pass_units);
		key_num(j, "first_pass_yield", s->first_pass_yield);
		key_num(j, "final_yield", s->final_yield);
		key_u64(j, "flagged_slots", s->flagged_slots);
		edl_json_object_end(j);
	}
	edl_json_array_end(j);
}

static void report_packages(struct edl_json *j, const struct edl_store_report *r)
{
	edl_json_key(j, "packages");
	edl_json_array_begin(j);
	for (size_t i = 0; i < r->n_packages; i++) {
		const struct edl_store_package_stat *p = &r->packages[i];
		edl_json_object_begin(j);
		key_str(j, "name", p->name);
		key_str(j, "version", p->version);
		key_str(j, "path", p->path);
		key_str(j, "manifest_hash", p->manifest_hash);
		key_u64(j, "runs", p->runs);
		key_u64(j, "passes", p->passes);
		key_u64(j, "failures", p->failures);
		edl_json_object_end(j);
	}
	edl_json_array_end(j);
}

/* issue 15: units by product; [] when no run has one. */
static void report_products(struct edl_json *j, const struct edl_store_report *r)
{
	edl_json_key(j, "products");
	edl_json_array_begin(j);
	for (size_t i = 0; i < r->n_products; i++) {
		const struct edl_store_product_stat *p = &r->products[i];
		edl_json_object_begin(j);
		key_str(j, "product", p->product);
		key_u64(j, "units", p->units);
		key_u64(j, "passed_units", p->passed_units);
		key_u64(j, "failed_units", p->failed_units);
		key_u64(j, "first_pass_units", p->first_pass_units);
		key_num(j, "first_pass_yield", p->first_pass_yield);
		key_num(j, "final_yield", p->final_yield);
		key_u64(j, "runs", p->runs);
		key_u64(j, "passes", p->passes);
		key_u64(j, "failures", p->failures);
		edl_json_object_end(j);
	}
	edl_json_array_end(j);
}

int edl_store_report_json(struct edl_buf *b, const struct edl_store_report *r)
{
	struct edl_json j;
	bool since = r->filter.since_ms != INT64_MIN, until = r->filter.until_ms != INT64_MAX;

	edl_json_init_buf(&j, b, REPORT_WRAP);
	edl_json_object_begin(&j);
	edl_json_key(&j, "window");
	edl_json_object_begin(&j);
	key_time(&j, "since", r->filter.since_ms, since);
	key_time(&j, "until", r->filter.until_ms, until);
	key_time(&j, "start", r->window_start_ms, true);
	key_time(&j, "end", r->window_end_ms, true);
	key_num(&j, "hours", (double)(r->window_end_ms - r->window_start_ms) / 3600000.0);
	edl_json_object_end(&j);
	edl_json_key(&j, "filter");
	edl_json_object_begin(&j);
	key_str(&j, "station", r->filter.station);
	key_str(&j, "package", r->filter.package);
	key_str(&j, "slot", r->filter.slot);
	key_str(&j, "serial", r->filter.serial);
	key_str(&j, "product", r->filter.product);
	key_str(&j, "lot", r->filter.lot); /* issue 13 */
	key_str(&j, "work_order", r->filter.work_order);
	key_str(&j, "operator", r->filter.operator_name);
	if (r->filter.line != NULL)
		key_str(&j, "line", r->filter.line); /* factory reports only */
	edl_json_object_end(&j);

	static const struct {
		const char *name;
		size_t offset;
	} counts[] = {
#define C(f) {#f, offsetof(struct edl_store_report, f)}
	        C(units),
	        C(runs),
	        C(passed_units),
	        C(failed_units),
	        C(running),
	        C(passed_runs),
	        C(failed_runs),
	        C(interrupted_runs),
	        C(first_pass_units),
	        C(retests),
	        C(retested_units),
	        C(bytes_written),
#undef C
	};
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		key_u64(&j, counts[i].name,
		        *(const uint64_t *)((const char *)r + counts[i].offset));
	key_num(&j, "first_pass_yield", r->first_pass_yield);
	key_num(&j, "final_yield", r->final_yield);
	key_num(&j, "units_per_hour", r->units_per_hour);
	key_num(&j, "good_units_per_hour", r->good_units_per_hour);
	edl_json_key(&j, "duration_ms");
	edl_json_object_begin(&j);
	key_ms(&j, "p50", r->duration_p50_ms);
	key_ms(&j, "p95", r->duration_p95_ms);
	edl_json_object_end(&j);
	key_num(&j, "throughput_mbps", r->throughput_mbps);
	edl_json_key(&j, "slot_test");
	edl_json_object_begin(&j);
	key_str(&j, "method", "fisher_exact_one_sided");
	key_num(&j, "alpha", EDL_STORE_SLOT_ALPHA);
	key_u64(&j, "min_runs", EDL_STORE_SLOT_MIN_RUNS);
	key_u64(&j, "slots_tested", r->slots_tested);
	key_num(&j, "threshold", r->slot_threshold);
	edl_json_object_end(&j);
	edl_json_key(&j, "by_slot");
	edl_json_array_begin(&j);
	for (size_t i = 0; i < r->n_slots; i++) {
		const struct edl_store_slot_stat *s = &r->slots[i];
		edl_json_object_begin(&j);
		key_str(&j, "station", s->station);
		key_i64(&j, "slot", s->slot);
		key_str(&j, "label", s->label);
		key_str(&j, "port", s->port);
		key_u64(&j, "runs", s->runs);
		key_u64(&j, "passes", s->passes);
		key_u64(&j, "failures", s->failures);
		key_u64(&j, "interrupted", s->interrupted);
		key_num(&j, "failure_rate", s->failure_rate);
		key_num(&j, "p_value", s->p_value);
		edl_json_key(&j, "flagged");
		edl_json_bool(&j, s->flagged);
		edl_json_object_end(&j);
	}
	edl_json_array_end(&j);
	edl_json_key(&j, "failure_pareto");
	edl_json_array_begin(&j);
	for (size_t i = 0; i < r->n_pareto; i++) {
		const struct edl_store_pareto_entry *p = &r->pareto[i];
		edl_json_object_begin(&j);
		key_str(&j, "stage", p->stage);
		key_str(&j, "error", p->error);
		key_str(&j, "class", p->error_class);
		key_u64(&j, "count", p->count);
		key_num(&j, "share", p->share);
		key_num(&j, "cumulative_share", p->cumulative);
		edl_json_object_end(&j);
	}
	edl_json_array_end(&j);
	report_failed(&j, r);
	report_buckets(&j, r);
	report_packages(&j, r);
	report_products(&j, r);
	report_stations(&j, r);
	edl_json_object_end(&j);
	return finish(&j);
}

static void history_run(struct edl_json *j, const struct edl_store_history_run *run)
{
	edl_json_object_begin(j);
	key_i64(j, "id", run->id);
	key_time(j, "start", run->start_ms, true);
	key_time(j, "end", run->end_ms, run->end_ms >= 0);
	key_str(j, "result", edl_store_result_name(run->result));
	key_str(j, "station", run->station);
	key_i64(j, "slot", run->slot);
	key_str(j, "slot_label", run->slot_label);
	key_str(j, "port", run->port);
	key_i64(j, "attempt", run->attempt);
	edl_json_key(j, "retry_of");
	if (run->retry_of > 0)
		edl_json_int(j, run->retry_of);
	else
		edl_json_null(j);
	edl_json_key(j, "package");
	edl_json_object_begin(j);
	key_str(j, "name", run->package_name);
	key_str(j, "version", run->package_version);
	key_str(j, "path", run->package_path);
	key_str(j, "manifest_hash", run->package_hash);
	edl_json_object_end(j);
	key_str(j, "stage", run->stage);
	key_str(j, "error", run->error);
	key_str(j, "class", run->error_class);
	key_str(j, "action", run->action);
	key_str(j, "message", run->message);
	key_u64(j, "bytes_written", run->bytes_written);
	key_ms(j, "duration_ms", run->duration_ms);
	key_num(j, "avg_mbps", run->avg_mbps);
	key_u64(j, "payload", run->payload);
	key_str(j, "transcript", run->transcript);
	key_str(j, "capture", run->capture); /* issue 16 */
	key_str(j, "kind", run->kind);       /* issue 15 */
	key_str(j, "product", run->product);
	key_str(j, "lot", run->lot); /* issue 13 */
	key_str(j, "work_order", run->work_order);
	key_str(j, "operator", run->operator_name);
	key_str(j, "functions", run->functions);
	key_str(j, "warnings", run->warnings);
	edl_json_key(j, "log");
	edl_json_array_begin(j);
	for (size_t i = 0; i < run->n_log_lines; i++)
		edl_json_string(j, run->log_lines[i]);
	edl_json_array_end(j);
	if (run->steps != NULL) {
		edl_json_key(j, "steps");
		edl_json_array_begin(j);
		for (size_t i = 0; i < run->n_steps; i++) {
			const struct edl_store_history_step *s = &run->steps[i];
			edl_json_object_begin(j);
			key_str(j, "kind", s->kind);
			key_str(j, "label", s->label);
			key_u64(j, "lun", s->lun);
			key_str(j, "start_sector", s->start_sector);
			key_u64(j, "sectors", s->sectors);
			key_u64(j, "bytes", s->bytes);
			key_i64(j, "duration_ms", s->duration_ms);
			key_str(j, "result", s->result);
			edl_json_object_end(j);
		}
		edl_json_array_end(j);
	}
	edl_json_object_end(j);
}

int edl_store_history_json(struct edl_buf *b, const struct edl_store_history *h)
{
	struct edl_json j;

	edl_json_init_buf(&j, b, HISTORY_WRAP);
	edl_json_object_begin(&j);
	key_str(&j, "serial", h->serial);
	edl_json_key(&j, "device");
	if (h->have_device) {
		edl_json_object_begin(&j);
		key_str(&j, "usb_serial", h->usb_serial);
		key_str(&j, "hw_id", h->hw_id);
		key_str(&j, "msm_id", h->msm_id);
		key_str(&j, "oem_id", h->oem_id);
		key_str(&j, "model_id", h->model_id);
		key_str(&j, "pk_hash", h->pk_hash);
		key_time(&j, "first_seen", h->first_seen_ms, true);
		key_time(&j, "last_seen", h->last_seen_ms, true);
		edl_json_object_end(&j);
	} else {
		edl_json_null(&j);
	}
	edl_json_key(&j, "runs");
	edl_json_array_begin(&j);
	for (size_t i = 0; i < h->n_runs; i++)
		history_run(&j, &h->runs[i]);
	edl_json_array_end(&j);
	/* issue 15: preserved partitions and dumps of the unit. */
	edl_json_key(&j, "archives");
	edl_json_array_begin(&j);
	for (size_t i = 0; i < h->n_archives; i++) {
		const struct edl_store_history_archive *a = &h->archives[i];
		edl_json_object_begin(&j);
		key_i64(&j, "run_id", a->run_id);
		key_str(&j, "kind", a->kind);
		key_str(&j, "label", a->label);
		key_str(&j, "path", a->path);
		key_u64(&j, "bytes", a->bytes);
		key_str(&j, "sha256", a->sha256);
		edl_json_key(&j, "restored");
		if (a->restored >= 0)
			edl_json_bool(&j, a->restored != 0);
		else
			edl_json_null(&j);
		key_time(&j, "created", a->created_ms, true);
		edl_json_object_end(&j);
	}
	edl_json_array_end(&j);
	edl_json_object_end(&j);
	return finish(&j);
}
