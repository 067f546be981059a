/*
 * JSON output of the report and the history, for scripts and dashboards. The
 * keys are stable and documented in the README; numbers that do not exist (a
 * yield with no units, a slot too small to test) are null, never NaN. Strings
 * go through edl_store_put_json_string(), so hostile device text cannot break
 * the document.
 */
#include "store_internal.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

/* The output is built in a buffer; the first failed append is kept and the
 * rest become no-ops, so the writers below read straight through. */
struct out {
	struct edl_buf *b;
	int rc;
};

static void raw(struct out *o, const char *s)
{
	if (o->rc == EDL_OK)
		o->rc = edl_buf_append(o->b, s, strlen(s));
}

static void str(struct out *o, const char *s)
{
	if (o->rc == EDL_OK)
		o->rc = edl_store_put_json_string(o->b, s);
}

static void key(struct out *o, const char *k)
{
	raw(o, "\"");
	raw(o, k);
	raw(o, "\": ");
}

static void u64(struct out *o, uint64_t v)
{
	if (o->rc == EDL_OK)
		o->rc = edl_buf_printf(o->b, "%" PRIu64, v);
}

static void i64(struct out *o, int64_t v)
{
	if (o->rc == EDL_OK)
		o->rc = edl_buf_printf(o->b, "%" PRId64, v);
}

static void num(struct out *o, double v)
{
	if (o->rc != EDL_OK)
		return;
	if (isnan(v) || isinf(v))
		o->rc = edl_buf_append(o->b, "null", 4);
	else
		o->rc = edl_buf_printf(o->b, "%.6g", v);
}

static void ms_or_null(struct out *o, int64_t ms)
{
	if (ms < 0)
		raw(o, "null");
	else
		i64(o, ms);
}

static void time_or_null(struct out *o, int64_t ms, bool present)
{
	if (o->rc == EDL_OK && !present)
		o->rc = edl_buf_append(o->b, "null", 4);
	else if (o->rc == EDL_OK) {
		raw(o, "\"");
		o->rc = edl_store_put_time(o->b, ms, true, "");
		raw(o, "\"");
	}
}

int edl_store_report_json(struct edl_buf *b, const struct edl_store_report *r)
{
	struct out o = {b, EDL_OK};
	bool since = r->filter.since_ms != INT64_MIN, until = r->filter.until_ms != INT64_MAX;

	raw(&o, "{\n  ");
	key(&o, "window");
	raw(&o, "{\"since\": ");
	time_or_null(&o, r->filter.since_ms, since);
	raw(&o, ", \"until\": ");
	time_or_null(&o, r->filter.until_ms, until);
	raw(&o, ", \"start\": ");
	time_or_null(&o, r->window_start_ms, true);
	raw(&o, ", \"end\": ");
	time_or_null(&o, r->window_end_ms, true);
	raw(&o, ", \"hours\": ");
	num(&o, (double)(r->window_end_ms - r->window_start_ms) / 3600000.0);
	raw(&o, "},\n  ");
	key(&o, "filter");
	raw(&o, "{\"station\": ");
	str(&o, r->filter.station);
	raw(&o, ", \"package\": ");
	str(&o, r->filter.package);
	raw(&o, "},\n");

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
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		raw(&o, "  ");
		key(&o, counts[i].name);
		u64(&o, *(const uint64_t *)((const char *)r + counts[i].offset));
		raw(&o, ",\n");
	}
	raw(&o, "  ");
	key(&o, "first_pass_yield");
	num(&o, r->first_pass_yield);
	raw(&o, ",\n  ");
	key(&o, "final_yield");
	num(&o, r->final_yield);
	raw(&o, ",\n  ");
	key(&o, "units_per_hour");
	num(&o, r->units_per_hour);
	raw(&o, ",\n  ");
	key(&o, "duration_ms");
	raw(&o, "{\"p50\": ");
	ms_or_null(&o, r->duration_p50_ms);
	raw(&o, ", \"p95\": ");
	ms_or_null(&o, r->duration_p95_ms);
	raw(&o, "},\n  ");
	key(&o, "throughput_mbps");
	num(&o, r->throughput_mbps);
	raw(&o, ",\n  ");
	key(&o, "slot_test");
	raw(&o, "{\"method\": \"fisher_exact_one_sided\", \"alpha\": ");
	num(&o, EDL_STORE_SLOT_ALPHA);
	raw(&o, ", \"min_runs\": ");
	u64(&o, EDL_STORE_SLOT_MIN_RUNS);
	raw(&o, ", \"slots_tested\": ");
	u64(&o, r->slots_tested);
	raw(&o, ", \"threshold\": ");
	num(&o, r->slot_threshold);
	raw(&o, "},\n  ");
	key(&o, "by_slot");
	raw(&o, "[");
	for (size_t i = 0; i < r->n_slots; i++) {
		const struct edl_store_slot_stat *s = &r->slots[i];
		raw(&o, i == 0 ? "\n    {" : ",\n    {");
		key(&o, "station");
		str(&o, s->station);
		raw(&o, ", ");
		key(&o, "slot");
		i64(&o, s->slot);
		raw(&o, ", ");
		key(&o, "port");
		str(&o, s->port);
		raw(&o, ", ");
		key(&o, "runs");
		u64(&o, s->runs);
		raw(&o, ", ");
		key(&o, "passes");
		u64(&o, s->passes);
		raw(&o, ", ");
		key(&o, "failures");
		u64(&o, s->failures);
		raw(&o, ", ");
		key(&o, "interrupted");
		u64(&o, s->interrupted);
		raw(&o, ", ");
		key(&o, "failure_rate");
		num(&o, s->failure_rate);
		raw(&o, ", ");
		key(&o, "p_value");
		num(&o, s->p_value);
		raw(&o, ", ");
		key(&o, "flagged");
		raw(&o, s->flagged ? "true}" : "false}");
	}
	raw(&o, r->n_slots > 0 ? "\n  ],\n  " : "],\n  ");
	key(&o, "failure_pareto");
	raw(&o, "[");
	for (size_t i = 0; i < r->n_pareto; i++) {
		const struct edl_store_pareto_entry *p = &r->pareto[i];
		raw(&o, i == 0 ? "\n    {" : ",\n    {");
		key(&o, "stage");
		str(&o, p->stage);
		raw(&o, ", ");
		key(&o, "error");
		str(&o, p->error);
		raw(&o, ", ");
		key(&o, "count");
		u64(&o, p->count);
		raw(&o, ", ");
		key(&o, "share");
		num(&o, p->share);
		raw(&o, ", ");
		key(&o, "cumulative_share");
		num(&o, p->cumulative);
		raw(&o, "}");
	}
	raw(&o, r->n_pareto > 0 ? "\n  ]\n}\n" : "]\n}\n");
	return o.rc;
}

static void history_run(struct out *o, const struct edl_store_history_run *run)
{
	raw(o, "{");
	key(o, "id");
	i64(o, run->id);
	raw(o, ", ");
	key(o, "start");
	time_or_null(o, run->start_ms, true);
	raw(o, ", ");
	key(o, "end");
	time_or_null(o, run->end_ms, run->end_ms >= 0);
	raw(o, ", ");
	key(o, "result");
	str(o, edl_store_result_name(run->result));
	raw(o, ",\n     ");
	key(o, "station");
	str(o, run->station);
	raw(o, ", ");
	key(o, "slot");
	i64(o, run->slot);
	raw(o, ", ");
	key(o, "port");
	str(o, run->port);
	raw(o, ", ");
	key(o, "attempt");
	i64(o, run->attempt);
	raw(o, ", ");
	key(o, "retry_of");
	if (run->retry_of > 0)
		i64(o, run->retry_of);
	else
		raw(o, "null");
	raw(o, ",\n     ");
	key(o, "package");
	raw(o, "{");
	key(o, "name");
	str(o, run->package_name);
	raw(o, ", ");
	key(o, "version");
	str(o, run->package_version);
	raw(o, ", ");
	key(o, "path");
	str(o, run->package_path);
	raw(o, ", ");
	key(o, "manifest_hash");
	str(o, run->package_hash);
	raw(o, "},\n     ");
	key(o, "stage");
	str(o, run->stage);
	raw(o, ", ");
	key(o, "error");
	str(o, run->error);
	raw(o, ", ");
	key(o, "message");
	str(o, run->message);
	raw(o, ",\n     ");
	key(o, "bytes_written");
	u64(o, run->bytes_written);
	raw(o, ", ");
	key(o, "duration_ms");
	ms_or_null(o, run->duration_ms);
	raw(o, ", ");
	key(o, "avg_mbps");
	num(o, run->avg_mbps);
	raw(o, ", ");
	key(o, "payload");
	u64(o, run->payload);
	raw(o, ", ");
	key(o, "transcript");
	str(o, run->transcript);
	raw(o, ",\n     ");
	key(o, "log");
	raw(o, "[");
	for (size_t i = 0; i < run->n_log_lines; i++) {
		raw(o, i == 0 ? "" : ", ");
		str(o, run->log_lines[i]);
	}
	raw(o, "]");
	if (run->steps != NULL) {
		raw(o, ",\n     ");
		key(o, "steps");
		raw(o, "[");
		for (size_t i = 0; i < run->n_steps; i++) {
			const struct edl_store_history_step *s = &run->steps[i];
			raw(o, i == 0 ? "\n       {" : ",\n       {");
			key(o, "kind");
			str(o, s->kind);
			raw(o, ", ");
			key(o, "label");
			str(o, s->label);
			raw(o, ", ");
			key(o, "lun");
			u64(o, s->lun);
			raw(o, ", ");
			key(o, "start_sector");
			str(o, s->start_sector);
			raw(o, ", ");
			key(o, "sectors");
			u64(o, s->sectors);
			raw(o, ", ");
			key(o, "bytes");
			u64(o, s->bytes);
			raw(o, ", ");
			key(o, "duration_ms");
			i64(o, s->duration_ms);
			raw(o, ", ");
			key(o, "result");
			str(o, s->result);
			raw(o, "}");
		}
		raw(o, "]");
	}
	raw(o, "}");
}

int edl_store_history_json(struct edl_buf *b, const struct edl_store_history *h)
{
	struct out o = {b, EDL_OK};

	raw(&o, "{\n  ");
	key(&o, "serial");
	str(&o, h->serial);
	raw(&o, ",\n  ");
	key(&o, "device");
	if (h->have_device) {
		raw(&o, "{");
		key(&o, "usb_serial");
		str(&o, h->usb_serial);
		raw(&o, ", ");
		key(&o, "hw_id");
		str(&o, h->hw_id);
		raw(&o, ", ");
		key(&o, "msm_id");
		str(&o, h->msm_id);
		raw(&o, ", ");
		key(&o, "oem_id");
		str(&o, h->oem_id);
		raw(&o, ", ");
		key(&o, "model_id");
		str(&o, h->model_id);
		raw(&o, ", ");
		key(&o, "pk_hash");
		str(&o, h->pk_hash);
		raw(&o, ", ");
		key(&o, "first_seen");
		time_or_null(&o, h->first_seen_ms, true);
		raw(&o, ", ");
		key(&o, "last_seen");
		time_or_null(&o, h->last_seen_ms, true);
		raw(&o, "}");
	} else {
		raw(&o, "null");
	}
	raw(&o, ",\n  ");
	key(&o, "runs");
	raw(&o, "[");
	for (size_t i = 0; i < h->n_runs; i++) {
		raw(&o, i == 0 ? "\n    " : ",\n    ");
		history_run(&o, &h->runs[i]);
	}
	raw(&o, h->n_runs > 0 ? "\n  ]\n}\n" : "]\n}\n");
	return o.rc;
}
