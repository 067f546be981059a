/*
 * Text output of the report and the history, for people at the line and at the
 * RMA bench. Every stored string passes through edl_store_put_text(), so a
 * serial or message holding escape sequences or broken UTF-8 prints as
 * harmless characters instead of steering the terminal.
 */
#include "store_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct out {
	struct edl_buf *b;
	int rc;
};

static void printf_out(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void printf_out(struct out *o, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	if (o->rc != EDL_OK)
		return;
	/* Only our own formats and numbers come through here, never stored text. */
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		o->rc = EDL_E_INTERNAL;
	else
		o->rc = edl_buf_append(o->b, line,
		                       (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* A stored string, made safe, padded with spaces to width bytes (0: none). */
static void text(struct out *o, const char *s, size_t width, const char *absent)
{
	size_t before = edl_buf_size(o->b);

	if (o->rc != EDL_OK)
		return;
	if (s == NULL || s[0] == '\0')
		o->rc = edl_buf_append(o->b, absent, strlen(absent));
	else
		o->rc = edl_store_put_text(o->b, s);
	while (o->rc == EDL_OK && edl_buf_size(o->b) - before < width)
		o->rc = edl_buf_append(o->b, " ", 1);
}

static void time_text(struct out *o, int64_t ms, bool present)
{
	if (o->rc == EDL_OK)
		o->rc = edl_store_put_time(o->b, ms, present, "-");
}

static void percent(struct out *o, double v)
{
	if (isnan(v))
		printf_out(o, "     -");
	else
		printf_out(o, "%5.1f%%", v * 100.0);
}

/* Bytes with a decimal unit: "1.23 GB". */
static void bytes_text(struct out *o, uint64_t n)
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
	double v = (double)n;
	size_t u = 0;

	while (v >= 1000.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1000.0;
		u++;
	}
	if (u == 0)
		printf_out(o, "%" PRIu64 " B", n);
	else
		printf_out(o, "%.2f %s", v, units[u]);
}

static void seconds(struct out *o, int64_t ms)
{
	if (ms < 0)
		printf_out(o, "-");
	else
		printf_out(o, "%.1f s", (double)ms / 1000.0);
}

/* Units whose last run did not pass, each with what to do about it. */
static void report_failed(struct out *o, const struct edl_store_report *r)
{
	printf_out(o, "\nfailed units (%zu of %" PRIu64 " listed, newest first)\n", r->n_failed,
	           r->failed_units);
	if (r->n_failed > 0)
		printf_out(o, "  %-20s %-10s %-12s %-16s %-24s %s\n", "started", "slot", "unit",
		           "stage", "class", "message");
	for (size_t i = 0; i < r->n_failed; i++) {
		const struct edl_store_failed_unit *f = &r->failed[i];
		char when[40];

		edl_store_time_format(when, sizeof(when), f->start_ms);
		/* Seconds are enough here: "2024-05-01T08:00:15Z". */
		if (strlen(when) > 20 && when[19] == '.')
			memcpy(when + 19, "Z", 2);
		printf_out(o, "  %-20s ", when);
		text(o, f->slot_label, 10, "-");
		printf_out(o, " ");
		text(o, f->serial, 12, "-");
		printf_out(o, " ");
		text(o, f->stage, 16, f->result);
		printf_out(o, " ");
		text(o, f->error_class, 24, "-");
		printf_out(o, " ");
		text(o, f->message, 0, "-");
		printf_out(o, "\n    action: ");
		text(o, f->action, 0, "-");
		printf_out(o, "\n");
	}
	if (r->n_failed < r->failed_units)
		printf_out(o, "  ... %" PRIu64 " more (--failed N, or --format csv|json for all)\n",
		           r->failed_units - r->n_failed);
	if (r->failed_units == 0)
		printf_out(o, "  (none)\n");
}

static void report_packages(struct out *o, const struct edl_store_report *r)
{
	printf_out(o, "\nby package\n");
	printf_out(o, "  %-28s %-16s %6s %6s %6s  %-12s %s\n", "name", "version", "runs", "pass",
	           "fail", "hash", "path");
	for (size_t i = 0; i < r->n_packages; i++) {
		const struct edl_store_package_stat *p = &r->packages[i];
		char hash[13] = "-";

		if (p->manifest_hash != NULL)
			snprintf(hash, sizeof(hash), "%.12s", p->manifest_hash);
		printf_out(o, "  ");
		text(o, p->name, 28, "-");
		printf_out(o, " ");
		text(o, p->version, 16, "-");
		printf_out(o, " %6" PRIu64 " %6" PRIu64 " %6" PRIu64 "  ", p->runs, p->passes,
		           p->failures);
		text(o, hash, 12, "-");
		printf_out(o, " ");
		text(o, p->path, 0, "-");
		printf_out(o, "\n");
	}
	if (r->n_packages == 0)
		printf_out(o, "  (no runs)\n");
}

/* issue 15: units by the product [route] recorded; only when runs have one. */
static void report_products(struct out *o, const struct edl_store_report *r)
{
	if (r->n_products == 0)
		return;
	printf_out(o, "\nby product\n");
	printf_out(o, "  %-24s %6s %6s %6s %8s %8s %6s\n", "product", "units", "pass", "fail",
	           "fpy", "yield", "runs");
	for (size_t i = 0; i < r->n_products; i++) {
		const struct edl_store_product_stat *p = &r->products[i];
		printf_out(o, "  ");
		text(o, p->product, 24, "(no route)");
		printf_out(o, " %6" PRIu64 " %6" PRIu64 " %6" PRIu64 " ", p->units, p->passed_units,
		           p->failed_units);
		percent(o, p->first_pass_yield);
		printf_out(o, " ");
		percent(o, p->final_yield);
		printf_out(o, " %6" PRIu64 "\n", p->runs);
	}
}

/* Shown only when the window spans more than one bucket. */
/* Factory reports (--by-station): a line per station. */
static void report_stations(struct out *o, const struct edl_store_report *r)
{
	if (!r->filter.by_station)
		return;
	printf_out(o, "\nby station (units count at the station of their first run)\n");
	printf_out(o, "  %-12s %-8s %8s %8s %8s %8s %7s %7s %7s\n", "station", "line", "runs",
	           "fail", "intr", "units", "fpy", "final", "flagged");
	for (size_t i = 0; i < r->n_stations; i++) {
		const struct edl_store_station_stat *s = &r->stations[i];
		printf_out(o, "  ");
		text(o, s->station, 12, "-");
		printf_out(o, " ");
		text(o, s->line, 8, "-");
		printf_out(o, " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " ", s->runs,
		           s->failed_runs, s->interrupted_runs, s->units);
		percent(o, s->first_pass_yield);
		printf_out(o, " ");
		percent(o, s->final_yield);
		printf_out(o, " %7u\n", s->flagged_slots);
	}
	if (r->n_stations == 0)
		printf_out(o, "  (no runs)\n");
}

static void report_buckets(struct out *o, const struct edl_store_report *r)
{
	if (r->n_buckets < 2)
		return;
	printf_out(o, "\nby %s (units counted where their first run started)\n",
	           r->filter.bucket == EDL_STORE_BUCKET_SHIFT ? "shift" : "hour");
	printf_out(o, "  %-17s %6s %6s %7s %9s %9s\n", "from (UTC)", "units", "passed", "FPY",
	           "units/h", "good/h");
	for (size_t i = 0; i < r->n_buckets; i++) {
		const struct edl_store_bucket_stat *b = &r->buckets[i];
		char when[40];

		edl_store_time_format(when, sizeof(when), b->start_ms);
		printf_out(o, "  %.10s %.5s  %6" PRIu64 " %6" PRIu64 " ", when, when + 11, b->units,
		           b->passed_units);
		percent(o, b->first_pass_yield);
		if (isnan(b->units_per_hour))
			printf_out(o, " %9s %9s\n", "-", "-");
		else
			printf_out(o, " %9.1f %9.1f\n", b->units_per_hour, b->good_units_per_hour);
	}
}

int edl_store_report_text(struct edl_buf *b, const struct edl_store_report *r)
{
	struct out o = {b, EDL_OK};

	printf_out(&o, "edlstation report, ");
	time_text(&o, r->window_start_ms, true);
	printf_out(&o, " .. ");
	time_text(&o, r->window_end_ms, true);
	printf_out(&o, " (%.1f h)\n", (double)(r->window_end_ms - r->window_start_ms) / 3600000.0);
	if (r->filter.line != NULL)
		printf_out(&o, "line: %s\n", r->filter.line);
	if (r->filter.station != NULL || r->filter.package != NULL || r->filter.slot != NULL ||
	    r->filter.serial != NULL || r->filter.product != NULL) {
		printf_out(&o, "filter: station ");
		text(&o, r->filter.station, 0, "any");
		printf_out(&o, ", package ");
		text(&o, r->filter.package, 0, "any");
		printf_out(&o, ", slot ");
		text(&o, r->filter.slot, 0, "any");
		printf_out(&o, ", unit ");
		text(&o, r->filter.serial, 0, "any");
		printf_out(&o, "\n");
	}
	if (r->filter.lot != NULL || r->filter.work_order != NULL ||
	    r->filter.operator_name != NULL) { /* issue 13 */
		printf_out(&o, "filter: lot ");
		text(&o, r->filter.lot, 0, "any");
		printf_out(&o, ", work order ");
		text(&o, r->filter.work_order, 0, "any");
		printf_out(&o, ", operator ");
		text(&o, r->filter.operator_name, 0, "any");
		printf_out(&o, "\n");
	}
	printf_out(&o,
	           "\nunits             %8" PRIu64 "   passed %" PRIu64 ", failed %" PRIu64 "\n",
	           r->units, r->passed_units, r->failed_units);
	printf_out(&o,
	           "runs              %8" PRIu64 "   passed %" PRIu64 ", failed %" PRIu64
	           ", interrupted %" PRIu64 ", running %" PRIu64 "\n",
	           r->runs, r->passed_runs, r->failed_runs, r->interrupted_runs, r->running);
	printf_out(&o, "first-pass yield    ");
	percent(&o, r->first_pass_yield);
	printf_out(&o, "   %" PRIu64 " of %" PRIu64 " units passed their first run\n",
	           r->first_pass_units, r->units);
	printf_out(&o, "final yield         ");
	percent(&o, r->final_yield);
	printf_out(&o, "   %" PRIu64 " of %" PRIu64 " units passed their last run\n",
	           r->passed_units, r->units);
	printf_out(&o, "retests           %8" PRIu64 "   runs, on %" PRIu64 " units\n", r->retests,
	           r->retested_units);
	if (isnan(r->units_per_hour))
		printf_out(&o, "units per hour           -\n");
	else
		printf_out(&o, "units per hour    %8.1f\n", r->units_per_hour);
	if (isnan(r->good_units_per_hour))
		printf_out(&o, "good units per hour      -\n");
	else
		printf_out(&o, "good units per hour %6.1f   units whose last run passed\n",
		           r->good_units_per_hour);
	printf_out(&o, "flashing time        p50 ");
	seconds(&o, r->duration_p50_ms);
	printf_out(&o, ", p95 ");
	seconds(&o, r->duration_p95_ms);
	printf_out(&o, " (passed runs)\n");
	if (isnan(r->throughput_mbps))
		printf_out(&o, "throughput               -\n");
	else
		printf_out(&o, "throughput        %8.1f MB/s, ", r->throughput_mbps);
	if (!isnan(r->throughput_mbps)) {
		bytes_text(&o, r->bytes_written);
		printf_out(&o, " written by passed runs\n");
	}

	printf_out(&o,
	           "\nby slot (flag: one-sided Fisher exact test against the other slots, "
	           "p < %.2g, slots with >= %d pass/fail runs)\n",
	           r->slot_threshold, EDL_STORE_SLOT_MIN_RUNS);
	printf_out(&o, "  %-12s %-10s %-10s %6s %6s %6s %6s %7s %9s\n", "station", "slot", "port",
	           "runs", "pass", "fail", "intr", "fail%", "p-value");
	for (size_t i = 0; i < r->n_slots; i++) {
		const struct edl_store_slot_stat *s = &r->slots[i];
		printf_out(&o, "  ");
		text(&o, s->station, 12, "-");
		printf_out(&o, " ");
		text(&o, s->label, 10, "-");
		printf_out(&o, " ");
		text(&o, s->port, 10, "-");
		printf_out(&o, " %6" PRIu64 " %6" PRIu64 " %6" PRIu64 " %6" PRIu64 " ", s->runs,
		           s->passes, s->failures, s->interrupted);
		percent(&o, s->failure_rate);
		if (isnan(s->p_value))
			printf_out(&o, " %9s", "-");
		else if (s->p_value < 1e-300)
			printf_out(&o, " %9s", "<1e-300"); /* beyond what a double holds */
		else
			printf_out(&o, " %9.2g", s->p_value);
		printf_out(&o, "%s\n",
		           s->flagged ? "  <-- FLAGGED: fails more than the other slots" : "");
	}
	if (r->n_slots == 0)
		printf_out(&o, "  (no finished runs)\n");

	printf_out(&o, "\nfailure Pareto (failed and interrupted runs)\n");
	printf_out(&o, "  %-20s %-28s %-16s %7s %7s %7s\n", "stage", "error", "class", "count",
	           "share", "cum");
	for (size_t i = 0; i < r->n_pareto; i++) {
		const struct edl_store_pareto_entry *p = &r->pareto[i];
		printf_out(&o, "  ");
		text(&o, p->stage, 20, "-");
		printf_out(&o, " ");
		text(&o, p->error, 28, "-");
		printf_out(&o, " ");
		text(&o, p->error_class, 16, "-");
		printf_out(&o, " %7" PRIu64 " ", p->count);
		percent(&o, p->share);
		printf_out(&o, "  ");
		percent(&o, p->cumulative);
		printf_out(&o, "\n");
	}
	if (r->n_pareto == 0)
		printf_out(&o, "  (no failures)\n");
	report_stations(&o, r);
	report_failed(&o, r);
	report_packages(&o, r);
	report_products(&o, r);
	report_buckets(&o, r);
	return o.rc;
}

/* issue 15: one preserved partition or dump region. */
static void archive_line(struct out *o, const struct edl_store_history_archive *a)
{
	printf_out(o, "    %-9s ",
	           a->kind != NULL && !strcmp(a->kind, "dump") ? "dump" : "preserved");
	text(o, a->label, 16, "-");
	printf_out(o, " ");
	bytes_text(o, a->bytes);
	printf_out(o, ", sha256 ");
	text(o, a->sha256, 0, "-");
	if (a->restored >= 0)
		printf_out(o, ", %s", a->restored ? "restored" : "not restored");
	printf_out(o, "\n      ");
	text(o, a->path, 0, "-");
	printf_out(o, "\n");
}

static void history_archives(struct out *o, const struct edl_store_history *h, int64_t run_id)
{
	for (size_t i = 0; i < h->n_archives; i++)
		if (h->archives[i].run_id == run_id)
			archive_line(o, &h->archives[i]);
}

/* Archives whose run is not among the unit's (kept after its runs were pruned). */
static void history_orphan_archives(struct out *o, const struct edl_store_history *h)
{
	bool said = false;

	for (size_t i = 0; i < h->n_archives; i++) {
		bool found = false;
		for (size_t k = 0; k < h->n_runs && !found; k++)
			found = h->runs[k].id == h->archives[i].run_id;
		if (found)
			continue;
		if (!said)
			printf_out(o, "\narchives of runs not listed\n");
		said = true;
		archive_line(o, &h->archives[i]);
	}
}

int edl_store_history_text(struct edl_buf *b, const struct edl_store_history *h)
{
	struct out o = {b, EDL_OK};

	printf_out(&o, "unit ");
	text(&o, h->serial, 0, "-");
	if (h->have_device) {
		printf_out(&o, "\n  usb serial ");
		text(&o, h->usb_serial, 0, "-");
		printf_out(&o, ", hw id ");
		text(&o, h->hw_id, 0, "-");
		printf_out(&o, ", msm ");
		text(&o, h->msm_id, 0, "-");
		printf_out(&o, ", oem ");
		text(&o, h->oem_id, 0, "-");
		printf_out(&o, ", model ");
		text(&o, h->model_id, 0, "-");
		printf_out(&o, "\n  pk hash ");
		text(&o, h->pk_hash, 0, "-");
		printf_out(&o, "\n  first seen ");
		time_text(&o, h->first_seen_ms, true);
		printf_out(&o, ", last seen ");
		time_text(&o, h->last_seen_ms, true);
	}
	printf_out(&o, "\n%zu run%s, oldest first\n", h->n_runs, h->n_runs == 1 ? "" : "s");
	for (size_t i = 0; i < h->n_runs; i++) {
		const struct edl_store_history_run *run = &h->runs[i];
		const char *result = edl_store_result_name(run->result);

		printf_out(&o, "\nrun %" PRId64 "  ", run->id);
		time_text(&o, run->start_ms, true);
		printf_out(&o, "  %-11s station ", result);
		text(&o, run->station, 0, "-");
		printf_out(&o, " slot ");
		text(&o, run->slot_label, 0, "-");
		printf_out(&o, " (");
		text(&o, run->port, 0, "-");
		printf_out(&o, ")  attempt %d", run->attempt);
		if (run->retry_of > 0)
			printf_out(&o, ", retry of run %" PRId64, run->retry_of);
		/* issue 15: a run that is not a plain flash, and the routed product. */
		if (run->kind != NULL && strcmp(run->kind, "flash") != 0) {
			printf_out(&o, ", kind ");
			text(&o, run->kind, 0, "-");
		}
		if (run->product != NULL) {
			printf_out(&o, ", product ");
			text(&o, run->product, 0, "-");
		}
		printf_out(&o, "\n    package ");
		text(&o, run->package_name, 0, "-");
		printf_out(&o, " ");
		text(&o, run->package_version, 0, "");
		printf_out(&o, " (");
		text(&o, run->package_path, 0, "-");
		printf_out(&o, ")\n    ended ");
		time_text(&o, run->end_ms, run->end_ms >= 0);
		printf_out(&o, ", ");
		seconds(&o, run->duration_ms);
		printf_out(&o, ", ");
		bytes_text(&o, run->bytes_written);
		if (!isnan(run->avg_mbps))
			printf_out(&o, ", %.1f MB/s", run->avg_mbps);
		if (run->payload > 0)
			printf_out(&o, ", payload %" PRIu32, run->payload);
		printf_out(&o, "\n");
		if (run->result != EDL_RESULT_PASS && run->result != EDL_RESULT_RUNNING) {
			printf_out(&o, "    stage ");
			text(&o, run->stage, 0, "-");
			printf_out(&o, ", error ");
			text(&o, run->error, 0, "-");
			printf_out(&o, ", class ");
			text(&o, run->error_class, 0, "-");
			printf_out(&o, "\n    message: ");
			text(&o, run->message, 0, "-");
			printf_out(&o, "\n    action: ");
			text(&o, run->action, 0, "-");
			printf_out(&o, "\n");
		}
		for (size_t j = 0; j < run->n_log_lines; j++) {
			printf_out(&o, "    log: ");
			text(&o, run->log_lines[j], 0, "");
			printf_out(&o, "\n");
		}
		for (size_t j = 0; j < run->n_steps; j++) {
			const struct edl_store_history_step *s = &run->steps[j];
			printf_out(&o, "    step %2zu ", j);
			text(&o, s->kind, 12, "-");
			text(&o, s->label, 16, "-");
			printf_out(&o, " LUN %" PRIu32 " at ", s->lun);
			text(&o, s->start_sector, 0, "-");
			printf_out(&o, ", %" PRIu64 " sectors, ", s->sectors);
			bytes_text(&o, s->bytes);
			printf_out(&o, ", ");
			seconds(&o, s->duration_ms);
			printf_out(&o, ", ");
			text(&o, s->result, 0, "-");
			printf_out(&o, "\n");
		}
		if (run->functions != NULL) {
			printf_out(&o, "    programmer lists ");
			text(&o, run->functions, 0, "-");
			printf_out(&o, "\n");
		}
		for (const char *w = run->warnings; w != NULL && *w != '\0';) {
			/* One warning a line, each printed safely. */
			const char *nl = strchr(w, '\n');
			size_t n = nl != NULL ? (size_t)(nl - w) : strlen(w);
			char line[512];
			snprintf(line, sizeof(line), "%.*s",
			         (int)(n < sizeof(line) ? n : sizeof(line) - 1), w);
			printf_out(&o, "    warning: ");
			text(&o, line, 0, "-");
			printf_out(&o, "\n");
			w = nl != NULL ? nl + 1 : NULL;
		}
		if (run->transcript != NULL) {
			printf_out(&o, "    transcript ");
			text(&o, run->transcript, 0, "-");
			printf_out(&o, "\n");
		}
		if (run->lot != NULL || run->work_order != NULL ||
		    run->operator_name != NULL) { /* issue 13: the MES's data */
			printf_out(&o, "    lot ");
			text(&o, run->lot, 0, "-");
			printf_out(&o, ", work order ");
			text(&o, run->work_order, 0, "-");
			printf_out(&o, ", operator ");
			text(&o, run->operator_name, 0, "-");
			printf_out(&o, "\n");
		}
		if (run->capture != NULL) { /* issue 16: run --record */
			printf_out(&o, "    capture ");
			text(&o, run->capture, 0, "-");
			printf_out(&o, "\n");
		}
		history_archives(&o, h, run->id);
	}
	history_orphan_archives(&o, h);
	return o.rc;
}
