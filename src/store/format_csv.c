/*
 * CSV output for spreadsheets. The history is one table, one row per run. The
 * report has six tables (summary, slots, Pareto, failed units, buckets,
 * packages) separated by a blank line,
 * each with its own header and a first column naming the table, so
 * `grep '^slot,'` pulls one table out. Fields follow RFC 4180 and are cleaned
 * by edl_store_put_csv_field() (no control characters, no formula injection).
 */
#include "store_internal.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

struct out {
	struct edl_buf *b;
	int rc;
};

static void raw(struct out *o, const char *s)
{
	if (o->rc == EDL_OK)
		o->rc = edl_buf_append(o->b, s, strlen(s));
}

static void field(struct out *o, const char *s)
{
	if (o->rc == EDL_OK)
		o->rc = edl_store_put_csv_field(o->b, s);
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

/* Empty for a number that does not exist. */
static void num(struct out *o, double v)
{
	if (o->rc == EDL_OK)
		o->rc = edl_store_put_double(o->b, v, 6, "");
}

static void when(struct out *o, int64_t ms, bool present)
{
	if (o->rc == EDL_OK)
		o->rc = edl_store_put_time(o->b, ms, present, "");
}

static void metric_u64(struct out *o, const char *name, uint64_t v)
{
	raw(o, "summary,");
	raw(o, name);
	raw(o, ",");
	u64(o, v);
	raw(o, "\n");
}

static void metric_num(struct out *o, const char *name, double v)
{
	raw(o, "summary,");
	raw(o, name);
	raw(o, ",");
	num(o, v);
	raw(o, "\n");
}

/* Empty for a duration that does not exist (-1). */
static void metric_ms(struct out *o, const char *name, int64_t ms)
{
	raw(o, "summary,");
	raw(o, name);
	raw(o, ",");
	if (ms >= 0)
		i64(o, ms);
	raw(o, "\n");
}

static void report_failed(struct out *o, const struct edl_store_report *r)
{
	raw(o,
	    "\ntable,serial,run_id,start,station,slot,result,stage,error,class,message,action\n");
	for (size_t i = 0; i < r->n_failed; i++) {
		const struct edl_store_failed_unit *f = &r->failed[i];
		raw(o, "failed,");
		field(o, f->serial);
		raw(o, ",");
		i64(o, f->run_id);
		raw(o, ",");
		when(o, f->start_ms, true);
		raw(o, ",");
		field(o, f->station);
		raw(o, ",");
		field(o, f->slot_label);
		raw(o, ",");
		field(o, f->result);
		raw(o, ",");
		field(o, f->stage);
		raw(o, ",");
		field(o, f->error);
		raw(o, ",");
		field(o, f->error_class);
		raw(o, ",");
		field(o, f->message);
		raw(o, ",");
		field(o, f->action);
		raw(o, "\n");
	}
}

static void report_buckets(struct out *o, const struct edl_store_report *r)
{
	raw(o, "\ntable,by,start,end,units,passed_units,first_pass_units,first_pass_yield,"
	       "units_per_hour,good_units_per_hour\n");
	for (size_t i = 0; i < r->n_buckets; i++) {
		const struct edl_store_bucket_stat *b = &r->buckets[i];
		raw(o,
		    r->filter.bucket == EDL_STORE_BUCKET_SHIFT ? "bucket,shift," : "bucket,hour,");
		when(o, b->start_ms, true);
		raw(o, ",");
		when(o, b->end_ms, true);
		raw(o, ",");
		u64(o, b->units);
		raw(o, ",");
		u64(o, b->passed_units);
		raw(o, ",");
		u64(o, b->first_pass_units);
		raw(o, ",");
		num(o, b->first_pass_yield);
		raw(o, ",");
		num(o, b->units_per_hour);
		raw(o, ",");
		num(o, b->good_units_per_hour);
		raw(o, "\n");
	}
}

static void report_packages(struct out *o, const struct edl_store_report *r)
{
	raw(o, "\ntable,name,version,path,manifest_hash,runs,passes,failures\n");
	for (size_t i = 0; i < r->n_packages; i++) {
		const struct edl_store_package_stat *p = &r->packages[i];
		raw(o, "package,");
		field(o, p->name);
		raw(o, ",");
		field(o, p->version);
		raw(o, ",");
		field(o, p->path);
		raw(o, ",");
		field(o, p->manifest_hash);
		raw(o, ",");
		u64(o, p->runs);
		raw(o, ",");
		u64(o, p->passes);
		raw(o, ",");
		u64(o, p->failures);
		raw(o, "\n");
	}
}

/* issue 15: units by product; the table is left out when no run has one. */
static void report_products(struct out *o, const struct edl_store_report *r)
{
	if (r->n_products == 0)
		return;
	raw(o, "\ntable,product,units,passed_units,failed_units,first_pass_yield,final_yield,"
	       "runs\n");
	for (size_t i = 0; i < r->n_products; i++) {
		const struct edl_store_product_stat *p = &r->products[i];
		raw(o, "product,");
		field(o, p->product);
		raw(o, ",");
		u64(o, p->units);
		raw(o, ",");
		u64(o, p->passed_units);
		raw(o, ",");
		u64(o, p->failed_units);
		raw(o, ",");
		num(o, p->first_pass_yield);
		raw(o, ",");
		num(o, p->final_yield);
		raw(o, ",");
		u64(o, p->runs);
		raw(o, "\n");
	}
}

/* Factory reports (--by-station): a table of stations. */
static void report_stations(struct out *o, const struct edl_store_report *r)
{
	if (!r->filter.by_station)
		return;
	raw(o, "\ntable,station,line,runs,passed_runs,failed_runs,interrupted_runs,units,"
	       "passed_units,first_pass_units,first_pass_yield,final_yield,flagged_slots\n");
	for (size_t i = 0; i < r->n_stations; i++) {
		const struct edl_store_station_stat *s = &r->stations[i];
		raw(o, "station,");
		field(o, s->station);
		raw(o, ",");
		field(o, s->line);
		raw(o, ",");
		u64(o, s->runs);
		raw(o, ",");
		u64(o, s->passed_runs);
		raw(o, ",");
		u64(o, s->failed_runs);
		raw(o, ",");
		u64(o, s->interrupted_runs);
		raw(o, ",");
		u64(o, s->units);
		raw(o, ",");
		u64(o, s->passed_units);
		raw(o, ",");
		u64(o, s->first_pass_units);
		raw(o, ",");
		num(o, s->first_pass_yield);
		raw(o, ",");
		num(o, s->final_yield);
		raw(o, ",");
		u64(o, s->flagged_slots);
		raw(o, "\n");
	}
}

int edl_store_report_csv(struct edl_buf *b, const struct edl_store_report *r)
{
	struct out o = {b, EDL_OK};

	raw(&o, "table,metric,value\n");
	raw(&o, "summary,window_start,");
	when(&o, r->window_start_ms, true);
	raw(&o, "\nsummary,window_end,");
	when(&o, r->window_end_ms, true);
	raw(&o, "\nsummary,station,");
	field(&o, r->filter.station);
	raw(&o, "\nsummary,package,");
	field(&o, r->filter.package);
	raw(&o, "\nsummary,slot,");
	field(&o, r->filter.slot);
	raw(&o, "\nsummary,serial,");
	field(&o, r->filter.serial);
	raw(&o, "\nsummary,product,");
	field(&o, r->filter.product);
	raw(&o, "\n");
	metric_u64(&o, "units", r->units);
	metric_u64(&o, "runs", r->runs);
	metric_u64(&o, "passed_units", r->passed_units);
	metric_u64(&o, "failed_units", r->failed_units);
	metric_u64(&o, "running", r->running);
	metric_u64(&o, "passed_runs", r->passed_runs);
	metric_u64(&o, "failed_runs", r->failed_runs);
	metric_u64(&o, "interrupted_runs", r->interrupted_runs);
	metric_u64(&o, "first_pass_units", r->first_pass_units);
	metric_num(&o, "first_pass_yield", r->first_pass_yield);
	metric_num(&o, "final_yield", r->final_yield);
	metric_u64(&o, "retests", r->retests);
	metric_u64(&o, "retested_units", r->retested_units);
	metric_num(&o, "units_per_hour", r->units_per_hour);
	metric_num(&o, "good_units_per_hour", r->good_units_per_hour);
	metric_ms(&o, "duration_p50_ms", r->duration_p50_ms);
	metric_ms(&o, "duration_p95_ms", r->duration_p95_ms);
	metric_u64(&o, "bytes_written", r->bytes_written);
	metric_num(&o, "throughput_mbps", r->throughput_mbps);
	metric_num(&o, "slot_threshold", r->slot_threshold);

	raw(&o, "\ntable,station,slot,port,runs,passes,failures,interrupted,failure_rate,p_value,"
	        "flagged,label\n");
	for (size_t i = 0; i < r->n_slots; i++) {
		const struct edl_store_slot_stat *s = &r->slots[i];
		raw(&o, "slot,");
		field(&o, s->station);
		raw(&o, ",");
		i64(&o, s->slot);
		raw(&o, ",");
		field(&o, s->port);
		raw(&o, ",");
		u64(&o, s->runs);
		raw(&o, ",");
		u64(&o, s->passes);
		raw(&o, ",");
		u64(&o, s->failures);
		raw(&o, ",");
		u64(&o, s->interrupted);
		raw(&o, ",");
		num(&o, s->failure_rate);
		raw(&o, ",");
		if (o.rc == EDL_OK && !isnan(s->p_value))
			o.rc = edl_buf_printf(o.b, "%.6g", s->p_value);
		raw(&o, s->flagged ? ",1," : ",0,");
		field(&o, s->label);
		raw(&o, "\n");
	}

	raw(&o, "\ntable,stage,error,count,share,cumulative_share,class\n");
	for (size_t i = 0; i < r->n_pareto; i++) {
		const struct edl_store_pareto_entry *p = &r->pareto[i];
		raw(&o, "pareto,");
		field(&o, p->stage);
		raw(&o, ",");
		field(&o, p->error);
		raw(&o, ",");
		u64(&o, p->count);
		raw(&o, ",");
		num(&o, p->share);
		raw(&o, ",");
		num(&o, p->cumulative);
		raw(&o, ",");
		field(&o, p->error_class);
		raw(&o, "\n");
	}
	report_failed(&o, r);
	report_buckets(&o, r);
	report_packages(&o, r);
	report_products(&o, r);
	report_stations(&o, r);
	return o.rc;
}

int edl_store_history_csv(struct edl_buf *b, const struct edl_store_history *h)
{
	struct out o = {b, EDL_OK};

	raw(&o, "serial,run_id,start,end,result,station,slot,port,package,version,manifest_hash,"
	        "attempt,retry_of,stage,error,message,bytes_written,duration_ms,avg_mbps,payload,"
	        "transcript,functions,warnings,slot_label,class,action,kind,product\n");
	for (size_t i = 0; i < h->n_runs; i++) {
		const struct edl_store_history_run *run = &h->runs[i];
		field(&o, h->serial);
		raw(&o, ",");
		i64(&o, run->id);
		raw(&o, ",");
		when(&o, run->start_ms, true);
		raw(&o, ",");
		when(&o, run->end_ms, run->end_ms >= 0);
		raw(&o, ",");
		raw(&o, edl_store_result_name(run->result));
		raw(&o, ",");
		field(&o, run->station);
		raw(&o, ",");
		i64(&o, run->slot);
		raw(&o, ",");
		field(&o, run->port);
		raw(&o, ",");
		field(&o, run->package_name);
		raw(&o, ",");
		field(&o, run->package_version);
		raw(&o, ",");
		field(&o, run->package_hash);
		raw(&o, ",");
		i64(&o, run->attempt);
		raw(&o, ",");
		if (run->retry_of > 0)
			i64(&o, run->retry_of);
		raw(&o, ",");
		field(&o, run->stage);
		raw(&o, ",");
		field(&o, run->error);
		raw(&o, ",");
		field(&o, run->message);
		raw(&o, ",");
		u64(&o, run->bytes_written);
		raw(&o, ",");
		if (run->duration_ms >= 0)
			i64(&o, run->duration_ms);
		raw(&o, ",");
		num(&o, run->avg_mbps);
		raw(&o, ",");
		u64(&o, run->payload);
		raw(&o, ",");
		field(&o, run->transcript);
		raw(&o, ",");
		field(&o, run->functions);
		raw(&o, ",");
		field(&o, run->warnings);
		raw(&o, ",");
		field(&o, run->slot_label);
		raw(&o, ",");
		field(&o, run->error_class);
		raw(&o, ",");
		field(&o, run->action);
		raw(&o, ",");
		field(&o, run->kind);
		raw(&o, ",");
		field(&o, run->product);
		raw(&o, "\n");
	}
	/* issue 15: the unit's archives, a second table after a blank line (only
	 * when there are any). */
	if (h->n_archives > 0)
		raw(&o, "\narchive,run_id,kind,label,path,bytes,sha256,restored,created\n");
	for (size_t i = 0; i < h->n_archives; i++) {
		const struct edl_store_history_archive *a = &h->archives[i];
		raw(&o, "archive,");
		i64(&o, a->run_id);
		raw(&o, ",");
		field(&o, a->kind);
		raw(&o, ",");
		field(&o, a->label);
		raw(&o, ",");
		field(&o, a->path);
		raw(&o, ",");
		u64(&o, a->bytes);
		raw(&o, ",");
		field(&o, a->sha256);
		raw(&o, ",");
		if (a->restored >= 0)
			i64(&o, a->restored);
		raw(&o, ",");
		when(&o, a->created_ms, true);
		raw(&o, "\n");
	}
	return o.rc;
}
