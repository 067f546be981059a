/*
 * The streaming JSON writer (include/edlstation/json.h). A small writer of our
 * own rather than libjansson: jansson builds a tree of every value before it
 * dumps it, and a report or a history may carry a million rows; and its
 * json_string() refuses bytes that are not UTF-8, while USB descriptors and
 * device log lines are exactly where such bytes turn up, so a sanitising pass
 * of our own would be needed anyway. What a writer must get right is small and
 * fixed by RFC 8259 section 7: this file does only that.
 *
 * String rules (the README's Results section: stored strings are "escaped
 * (JSON)"): '"' and '\' get a backslash; \n \r \t \b \f get their short forms;
 * every other C0 control, DEL and the C1 controls (U+0080..U+009F, which some
 * terminals obey) are written \u00XX; U+2028 and U+2029 are valid JSON but end
 * a line in JavaScript, so they are written \u2028 and \u2029; any other valid
 * UTF-8 passes through unchanged; each byte that does not start a valid UTF-8
 * sequence (stray continuation, overlong form, surrogate half, beyond
 * U+10FFFF, cut short) is written \ufffd on its own, and decoding resumes at
 * the next byte, so valid text after a broken byte survives. Output is always
 * plain ASCII plus valid UTF-8. A C string cannot hold a NUL; a NUL given
 * through edl_json_string_len() is written \u0000.
 */
#include "edlstation/json.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "edlstation/error.h"

void edl_json_init_file(struct edl_json *j, FILE *f, unsigned wrap)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->wrap = wrap;
}

void edl_json_init_buf(struct edl_json *j, struct edl_buf *b, unsigned wrap)
{
	memset(j, 0, sizeof(*j));
	j->b = b;
	j->wrap = wrap;
}

static void out(struct edl_json *j, const void *data, size_t n)
{
	if (j->rc != EDL_OK || n == 0)
		return;
	if (j->f != NULL) {
		if (fwrite(data, 1, n, j->f) != n)
			j->rc = EDL_E_IO;
	} else {
		j->rc = edl_buf_append(j->b, data, n);
	}
}

static void out_str(struct edl_json *j, const char *s)
{
	out(j, s, strlen(s));
}

static void misuse(struct edl_json *j)
{
	if (j->rc == EDL_OK)
		j->rc = EDL_E_INVAL;
}

/* Level d (1-based) puts each member on its own line. */
static bool wrapped(const struct edl_json *j, unsigned d)
{
	return d >= 1 && d <= j->wrap;
}

static void newline_indent(struct edl_json *j, unsigned levels)
{
	static const char spaces[] = "                                ";

	out(j, "\n", 1);
	for (unsigned i = 0; i < levels; i++)
		out(j, spaces, 2);
}

/* Whatever must precede a new member of the innermost container (a key in an
 * object, a value in an array): the comma and the line break or space. */
static void member_prefix(struct edl_json *j)
{
	unsigned d = j->depth;

	if (!j->empty[d - 1])
		out(j, ",", 1);
	if (wrapped(j, d))
		newline_indent(j, d);
	else if (j->wrap != EDL_JSON_COMPACT && !j->empty[d - 1])
		out(j, " ", 1);
	j->empty[d - 1] = false;
}

/* Called before any value: checks a value may come here. */
static bool value_begin(struct edl_json *j)
{
	if (j->rc != EDL_OK)
		return false;
	if (j->depth == 0) {
		if (j->done) {
			misuse(j); /* a second top-level value */
			return false;
		}
		return true;
	}
	if (j->object[j->depth - 1]) {
		if (j->key_due) {
			misuse(j); /* a value with no key */
			return false;
		}
		return true;
	}
	member_prefix(j);
	return true;
}

static void value_end(struct edl_json *j)
{
	if (j->depth == 0)
		j->done = true;
	else if (j->object[j->depth - 1])
		j->key_due = true;
}

static void begin(struct edl_json *j, bool object)
{
	if (!value_begin(j))
		return;
	if (j->depth == EDL_JSON_MAX_DEPTH) {
		misuse(j);
		return;
	}
	out(j, object ? "{" : "[", 1);
	j->object[j->depth] = object;
	j->empty[j->depth] = true;
	j->depth++;
	j->key_due = object;
}

static void end(struct edl_json *j, bool object)
{
	if (j->rc != EDL_OK)
		return;
	if (j->depth == 0 || j->object[j->depth - 1] != object || (object && !j->key_due)) {
		misuse(j); /* nothing open, the other kind open, or a key left without value */
		return;
	}
	if (wrapped(j, j->depth) && !j->empty[j->depth - 1])
		newline_indent(j, j->depth - 1);
	out(j, object ? "}" : "]", 1);
	j->depth--;
	j->key_due = false;
	value_end(j);
}

void edl_json_object_begin(struct edl_json *j)
{
	begin(j, true);
}

void edl_json_object_end(struct edl_json *j)
{
	end(j, true);
}

void edl_json_array_begin(struct edl_json *j)
{
	begin(j, false);
}

void edl_json_array_end(struct edl_json *j)
{
	end(j, false);
}

size_t edl_json_utf8_decode(uint32_t *cp, const uint8_t *s, size_t len)
{
	uint8_t c = s[0];
	size_t n;
	uint32_t v, min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		v = c & 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		v = c & 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		v = c & 0x07;
		min = 0x10000;
	} else {
		return 0; /* continuation byte, overlong lead (c0, c1) or beyond f4 */
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

/* The escape for code point cp (0 when it passes through as is). */
static size_t escape_of(char esc[8], uint32_t cp)
{
	switch (cp) {
	case '"':
		return (size_t)snprintf(esc, 8, "\\\"");
	case '\\':
		return (size_t)snprintf(esc, 8, "\\\\");
	case '\b':
		return (size_t)snprintf(esc, 8, "\\b");
	case '\f':
		return (size_t)snprintf(esc, 8, "\\f");
	case '\n':
		return (size_t)snprintf(esc, 8, "\\n");
	case '\r':
		return (size_t)snprintf(esc, 8, "\\r");
	case '\t':
		return (size_t)snprintf(esc, 8, "\\t");
	default:
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029)
			return (size_t)snprintf(esc, 8, "\\u%04" PRIx32, cp);
		return 0;
	}
}

/* s[0..n) as a quoted string; runs of bytes that need no escape are written
 * in one piece. */
static void quoted(struct edl_json *j, const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s, *run = p, *stop = p + n;
	char esc[8];

	out(j, "\"", 1);
	while (p < stop) {
		uint32_t cp;
		size_t len = edl_json_utf8_decode(&cp, p, (size_t)(stop - p));
		size_t elen;

		if (len == 0) {
			len = 1;
			elen = (size_t)snprintf(esc, sizeof(esc), "\\ufffd");
		} else {
			elen = escape_of(esc, cp);
		}
		if (elen > 0) {
			out(j, run, (size_t)(p - run));
			out(j, esc, elen);
			run = p + len;
		}
		p += len;
	}
	out(j, run, (size_t)(p - run));
	out(j, "\"", 1);
}

void edl_json_key(struct edl_json *j, const char *key)
{
	if (j->rc != EDL_OK)
		return;
	if (j->depth == 0 || !j->object[j->depth - 1] || !j->key_due || key == NULL) {
		misuse(j);
		return;
	}
	member_prefix(j);
	quoted(j, key, strlen(key));
	out_str(j, j->wrap == EDL_JSON_COMPACT ? ":" : ": ");
	j->key_due = false;
}

void edl_json_string_len(struct edl_json *j, const char *s, size_t n)
{
	if (!value_begin(j))
		return;
	quoted(j, s, n);
	value_end(j);
}

void edl_json_string(struct edl_json *j, const char *s)
{
	if (s == NULL)
		edl_json_null(j);
	else
		edl_json_string_len(j, s, strlen(s));
}

void edl_json_stringf(struct edl_json *j, const char *fmt, ...)
{
	char small[256], *text = small;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		misuse(j);
		return;
	}
	if ((size_t)n >= sizeof(small)) {
		text = malloc((size_t)n + 1);
		if (text == NULL) {
			if (j->rc == EDL_OK)
				j->rc = EDL_E_NOMEM;
			return;
		}
		va_start(ap, fmt);
		vsnprintf(text, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	edl_json_string_len(j, text, (size_t)n);
	if (text != small)
		free(text);
}

/* A bare token (number, true, false, null) as a value. */
static void token(struct edl_json *j, const char *t)
{
	if (!value_begin(j))
		return;
	out_str(j, t);
	value_end(j);
}

void edl_json_int(struct edl_json *j, int64_t v)
{
	char t[24];

	snprintf(t, sizeof(t), "%" PRId64, v);
	token(j, t);
}

void edl_json_uint(struct edl_json *j, uint64_t v)
{
	char t[24];

	snprintf(t, sizeof(t), "%" PRIu64, v);
	token(j, t);
}

/* The project never calls setlocale(), so printf's decimal point is '.'. */
static void real(struct edl_json *j, bool fixed, double v, int digits)
{
	char t[512]; /* %.*f of 1e308 is 309 digits before the point */

	if (isnan(v) || isinf(v)) {
		token(j, "null");
		return;
	}
	if (digits < 0)
		digits = 0;
	if (digits > 17)
		digits = 17;
	if (fixed)
		snprintf(t, sizeof(t), "%.*f", digits, v);
	else
		snprintf(t, sizeof(t), "%.*g", digits, v);
	token(j, t);
}

void edl_json_double(struct edl_json *j, double v, int significant)
{
	real(j, false, v, significant < 1 ? 1 : significant);
}

void edl_json_fixed(struct edl_json *j, double v, int decimals)
{
	real(j, true, v, decimals);
}

void edl_json_bool(struct edl_json *j, bool v)
{
	token(j, v ? "true" : "false");
}

void edl_json_null(struct edl_json *j)
{
	token(j, "null");
}

int edl_json_finish(struct edl_json *j)
{
	if (j->rc == EDL_OK && (j->depth != 0 || !j->done))
		misuse(j);
	out(j, "\n", 1);
	if (j->rc == EDL_OK && j->f != NULL && (fflush(j->f) != 0 || ferror(j->f)))
		j->rc = EDL_E_IO;
	return j->rc;
}
