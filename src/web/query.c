/*
 * The report's filters from a query string, GET /api/v1/report?since=&until=
 * &station=&package=&slot=&serial=&product=&lot=&work_order=&operator=
 * &failed=&by=: the same names, forms and
 * checks as `edlstation report`'s options (times through
 * edl_store_time_parse, counts whole, by = hour|shift), so the API and the
 * command answer the same question the same way. Unknown parameters are
 * refused rather than ignored: a typo must not widen a report silently.
 */
#include "web_internal.h"

#include <string.h>

int web_report_query(struct edl_store_filter *f, const char *query, size_t qlen,
                     struct web_report_text *t, int64_t now_ms, char *why, size_t why_cap)
{
	static const char *const keys[] = {"since",  "until",   "station", "package",    "slot",
	                                   "serial", "product", "lot",     "work_order", "operator",
	                                   "failed", "by",      "format",  NULL};
	const char *bad;
	size_t bad_len;
	char text[256];
	struct edl_error err;
	int r;

	if (!edl_web_query_keys_known(query, qlen, keys, &bad, &bad_len)) {
		snprintf(why, why_cap,
		         "unknown parameter '%.*s': the report takes since, until, station, "
		         "package, slot, serial, product, lot, work_order, operator, failed, by",
		         (int)(bad_len > 40 ? 40 : bad_len), bad);
		return -1;
	}
	static const char *const times[] = {"since", "until"};
	for (int i = 0; i < 2; i++) {
		r = edl_web_query_get(query, qlen, times[i], text, sizeof(text));
		if (r < 0) {
			snprintf(why, why_cap, "%s: malformed value (percent-encoding, length)",
			         times[i]);
			return -1;
		}
		if (r == 1 && edl_store_time_parse(i == 0 ? &f->since_ms : &f->until_ms, text,
		                                   now_ms, &err) != EDL_OK) {
			snprintf(why, why_cap, "%s: %s", times[i], err.detail);
			return -1;
		}
	}
	if (f->until_ms <= f->since_ms) {
		snprintf(why, why_cap, "until must be after since");
		return -1;
	}
	struct {
		const char *key;
		char *out;
		size_t cap;
		const char **into;
	} strs[] = {
	        {"station", t->station, sizeof(t->station), &f->station},
	        {"package", t->package, sizeof(t->package), &f->package},
	        {"slot", t->slot, sizeof(t->slot), &f->slot},
	        {"serial", t->serial, sizeof(t->serial), NULL},
	        {"product", t->product, sizeof(t->product), &f->product},
	        {"lot", t->lot, sizeof(t->lot), &f->lot},
	        {"work_order", t->work_order, sizeof(t->work_order), &f->work_order},
	        {"operator", t->operator_name, sizeof(t->operator_name), &f->operator_name},
	};
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		strs[i].out[0] = '\0';
		r = edl_web_query_get(query, qlen, strs[i].key, strs[i].out, strs[i].cap);
		if (r < 0 || (r == 1 && strs[i].out[0] == '\0')) {
			snprintf(why, why_cap, "%s: %s", strs[i].key,
			         r < 0 ? "malformed or too long" : "empty (leave it out for any)");
			return -1;
		}
		if (r == 1 && strs[i].into != NULL)
			*strs[i].into = strs[i].out;
	}
	r = edl_web_query_get(query, qlen, "failed", text, sizeof(text));
	if (r == 1) {
		uint64_t n;
		if (edl_web_parse_u64(text, strlen(text), &n) != 0 || n > SIZE_MAX) {
			snprintf(why, why_cap, "failed wants a count, not '%.40s'", text);
			return -1;
		}
		f->failed_max = (size_t)n;
	} else if (r < 0) {
		snprintf(why, why_cap, "failed: malformed value");
		return -1;
	}
	r = edl_web_query_get(query, qlen, "by", text, sizeof(text));
	if (r == 1 && strcmp(text, "hour") == 0)
		f->bucket = EDL_STORE_BUCKET_HOUR;
	else if (r == 1 && strcmp(text, "shift") == 0)
		f->bucket = EDL_STORE_BUCKET_SHIFT;
	else if (r != 0) {
		snprintf(why, why_cap, "by wants hour or shift");
		return -1;
	}
	r = edl_web_query_get(query, qlen, "format", text, sizeof(text));
	if (r != 0 && !(r == 1 && strcmp(text, "json") == 0)) {
		snprintf(why, why_cap,
		         "format: the API answers json only (csv and text: the command)");
		return -1;
	}
	return 0;
}
