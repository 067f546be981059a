/*
 * Making stored strings safe to print. Serials, messages and log lines come
 * from USB descriptors and device replies, so they may hold quotes, control
 * characters (a terminal escape sequence is a control character), 4 KB of text
 * or bytes that are not UTF-8. Text and CSV each get one function here that
 * takes any bytes and writes only what that format's reader can take safely;
 * JSON has the project's one writer (include/edlstation/json.h).
 */
#include "store_internal.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "edlstation/json.h"

static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */

/* Steps through a string one scalar value at a time; an invalid byte comes
 * out alone as cp = INVALID_CP so that the next byte is tried afresh. */
#define INVALID_CP UINT32_MAX

struct cp_iter {
	const uint8_t *p;
	size_t left;
};

static bool next_cp(struct cp_iter *it, uint32_t *cp, const uint8_t **bytes, size_t *n)
{
	if (it->left == 0)
		return false;
	*bytes = it->p;
	*n = edl_json_utf8_decode(cp, it->p, it->left);
	if (*n == 0) {
		*cp = INVALID_CP;
		*n = 1;
	}
	it->p += *n;
	it->left -= *n;
	return true;
}

/* C0 controls, DEL and the C1 controls (which some terminals obey too). */
static bool is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

int edl_store_put_text(struct edl_buf *b, const char *s)
{
	int rc = EDL_OK;

	if (s == NULL)
		return EDL_OK;
	struct cp_iter it = {(const uint8_t *)s, strlen(s)};
	const uint8_t *bytes;
	uint32_t cp;
	size_t n;

	while (rc == EDL_OK && next_cp(&it, &cp, &bytes, &n)) {
		if (cp == INVALID_CP)
			rc = edl_buf_append(b, replacement, 3);
		else if (cp == '\t' || cp == '\n' || cp == '\r')
			rc = edl_buf_append(b, " ", 1);
		else if (is_control(cp))
			rc = edl_buf_append(b, "?", 1);
		else
			rc = edl_buf_append(b, bytes, n);
	}
	return rc;
}

int edl_store_put_csv_field(struct edl_buf *b, const char *s)
{
	struct edl_buf clean;
	bool quote;
	int rc;

	if (s == NULL || s[0] == '\0')
		return EDL_OK;
	edl_buf_init(&clean);
	if (strchr("=+-@", s[0]) != NULL)
		rc = edl_buf_append(&clean, "'", 1);
	else
		rc = EDL_OK;
	if (rc == EDL_OK)
		rc = edl_store_put_text(&clean, s);
	if (rc != EDL_OK)
		goto out;
	quote = memchr(edl_buf_head(&clean), ',', edl_buf_size(&clean)) != NULL ||
	        memchr(edl_buf_head(&clean), '"', edl_buf_size(&clean)) != NULL ||
	        edl_buf_head(&clean)[0] == ' ' ||
	        edl_buf_head(&clean)[edl_buf_size(&clean) - 1] == ' ';
	if (!quote) {
		rc = edl_buf_append(b, edl_buf_head(&clean), edl_buf_size(&clean));
		goto out;
	}
	rc = edl_buf_append(b, "\"", 1);
	for (size_t i = 0; rc == EDL_OK && i < edl_buf_size(&clean); i++) {
		uint8_t c = edl_buf_head(&clean)[i];
		rc = c == '"' ? edl_buf_append(b, "\"\"", 2) : edl_buf_append(b, &c, 1);
	}
	if (rc == EDL_OK)
		rc = edl_buf_append(b, "\"", 1);
out:
	edl_buf_free(&clean);
	return rc;
}

int edl_store_put_double(struct edl_buf *b, double v, int decimals, const char *nan_text)
{
	if (isnan(v) || isinf(v))
		return edl_buf_append(b, nan_text, strlen(nan_text));
	return edl_buf_printf(b, "%.*f", decimals, v);
}

int edl_store_put_time(struct edl_buf *b, int64_t ms, bool present, const char *absent)
{
	char when[40];

	if (!present)
		return edl_buf_append(b, absent, strlen(absent));
	edl_store_time_format(when, sizeof(when), ms);
	return edl_buf_append(b, when, strlen(when));
}

int edl_store_error_code(const char *name)
{
	static const struct {
		const char *name;
		int code;
	} codes[] = {
#define EDL_XX_NAME_CODE(sym, val, msg) {#sym, val},
	        EDL_ERROR_TABLE(EDL_XX_NAME_CODE)
#undef EDL_XX_NAME_CODE
	};

	if (name == NULL)
		return INT_MIN;
	if (strcmp(name, "EDL_OK") == 0)
		return EDL_OK;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		if (strcmp(codes[i].name, name) == 0)
			return codes[i].code;
	}
	return INT_MIN;
}

void edl_store_failure_words(const char *error, const char *stored_class, const char **class_out,
                             const char **action_out)
{
	static const char *const class_actions[] = {
#define EDL_XX_CLASS_ACTION(sym, name, action) action,
	        EDL_ERROR_CLASS_TABLE(EDL_XX_CLASS_ACTION)
#undef EDL_XX_CLASS_ACTION
	};
	int code = edl_store_error_code(error);
	enum edl_error_class cls = edl_error_class(code);
	int stored = edl_error_class_parse(stored_class);

	/* A run with no error recorded still failed: never "nothing to do". */
	if (code == EDL_OK || code == INT_MIN)
		cls = EDL_CLASS_STATION;
	if (stored >= 0 && stored != EDL_CLASS_NONE && (enum edl_error_class)stored != cls) {
		*class_out = edl_error_class_name((enum edl_error_class)stored);
		*action_out = class_actions[stored];
		return;
	}
	*class_out = edl_error_class_name(cls);
	*action_out =
	        code == EDL_OK || code == INT_MIN ? class_actions[cls] : edl_error_action(code);
}

int edl_store_flush_buf(FILE *f, struct edl_buf *b, int rc)
{
	if (rc == EDL_OK && edl_buf_size(b) > 0 &&
	    fwrite(edl_buf_head(b), 1, edl_buf_size(b), f) != edl_buf_size(b))
		rc = EDL_E_IO;
	if (rc == EDL_OK && fflush(f) != 0)
		rc = EDL_E_IO;
	edl_buf_free(b);
	return rc;
}

int edl_store_format_parse(enum edl_store_format *out, const char *name)
{
	if (name == NULL)
		return EDL_E_INVAL;
	if (strcmp(name, "text") == 0)
		*out = EDL_STORE_FORMAT_TEXT;
	else if (strcmp(name, "csv") == 0)
		*out = EDL_STORE_FORMAT_CSV;
	else if (strcmp(name, "json") == 0)
		*out = EDL_STORE_FORMAT_JSON;
	else
		return EDL_E_INVAL;
	return EDL_OK;
}

int edl_store_report_write(FILE *f, const struct edl_store_report *r, enum edl_store_format fmt)
{
	struct edl_buf b;
	int rc;

	edl_buf_init(&b);
	switch (fmt) {
	case EDL_STORE_FORMAT_CSV:
		rc = edl_store_report_csv(&b, r);
		break;
	case EDL_STORE_FORMAT_JSON:
		rc = edl_store_report_json(&b, r);
		break;
	default:
		rc = edl_store_report_text(&b, r);
	}
	return edl_store_flush_buf(f, &b, rc);
}

int edl_store_history_write(FILE *f, const struct edl_store_history *h, enum edl_store_format fmt)
{
	struct edl_buf b;
	int rc;

	edl_buf_init(&b);
	switch (fmt) {
	case EDL_STORE_FORMAT_CSV:
		rc = edl_store_history_csv(&b, h);
		break;
	case EDL_STORE_FORMAT_JSON:
		rc = edl_store_history_json(&b, h);
		break;
	default:
		rc = edl_store_history_text(&b, h);
	}
	return edl_store_flush_buf(f, &b, rc);
}
