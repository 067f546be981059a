/*
 * Rows in PostgreSQL's COPY text format (the sync's bulk path: one COPY per
 * table per batch instead of a round trip per row). Fields are separated by
 * tabs, rows end with a newline, NULL is \N, and a backslash, tab, newline or
 * carriage return inside a value is written as its backslash escape
 * (PostgreSQL documentation, COPY, "Text Format"). The server checks that
 * text is valid in its encoding: a station's string that is not UTF-8 (a
 * device's log line) would fail the whole batch forever, so invalid bytes are
 * replaced here with U+FFFD.
 *
 * The same buffer also builds array literals ({"a","b",NULL} and {1,2}) for
 * the small upserts passed as parameters (unnest($1::text[], ...)): elements
 * double-quoted with backslash and quote escaped (PostgreSQL documentation,
 * Arrays, "Array Value Input").
 */
#include "factory_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void edl_copy_init(struct edl_copy_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void edl_copy_free(struct edl_copy_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void edl_copy_reset(struct edl_copy_buf *b)
{
	b->len = 0;
	b->failed = false;
}

/* Room for n more bytes; false (and failed) when memory runs out. */
static bool reserve(struct edl_copy_buf *b, size_t n)
{
	if (b->failed)
		return false;
	if (b->len + n <= b->cap)
		return true;
	size_t cap = b->cap > 0 ? b->cap : 64 * 1024;
	while (cap < b->len + n)
		cap *= 2;
	char *p = realloc(b->data, cap);
	if (p == NULL) {
		b->failed = true;
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t cp;

	if (c < 0xc2 || c > 0xf4)
		return 0; /* continuation byte, overlong 2-byte lead, or past U+10FFFF */
	len = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	if (n < len)
		return 0;
	cp = c & (0x7fu >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3fu);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void edl_copy_text(struct edl_copy_buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	if (s == NULL) {
		edl_copy_null(b);
		return;
	}
	/* Worst case: every byte becomes U+FFFD (3 bytes). */
	if (!reserve(b, 3 * n + 1))
		return;
	char *o = b->data + b->len;
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		if (c >= 0x80) {
			size_t len = utf8_len(p + i, n - i);
			if (len == 0) {
				memcpy(o, "\xef\xbf\xbd", 3);
				o += 3;
				i++;
			} else {
				memcpy(o, p + i, len);
				o += len;
				i += len;
			}
			continue;
		}
		switch (c) {
		case '\\':
			*o++ = '\\', *o++ = '\\';
			break;
		case '\t':
			*o++ = '\\', *o++ = 't';
			break;
		case '\n':
			*o++ = '\\', *o++ = 'n';
			break;
		case '\r':
			*o++ = '\\', *o++ = 'r';
			break;
		case '\0':
			memcpy(o, "\xef\xbf\xbd", 3); /* the server refuses NUL in text */
			o += 3;
			break;
		default:
			*o++ = (char)c;
		}
		i++;
	}
	b->len = (size_t)(o - b->data);
}

void edl_copy_int(struct edl_copy_buf *b, int64_t v)
{
	if (!reserve(b, 24))
		return;
	b->len += (size_t)snprintf(b->data + b->len, 24, "%" PRId64, v);
}

void edl_copy_real(struct edl_copy_buf *b, double v)
{
	if (!isfinite(v)) {
		edl_copy_null(b);
		return;
	}
	if (!reserve(b, 32))
		return;
	/* 17 significant digits: the same double on the server. */
	b->len += (size_t)snprintf(b->data + b->len, 32, "%.17g", v);
}

void edl_copy_null(struct edl_copy_buf *b)
{
	if (!reserve(b, 2))
		return;
	b->data[b->len++] = '\\';
	b->data[b->len++] = 'N';
}

void edl_copy_sep(struct edl_copy_buf *b)
{
	if (reserve(b, 1))
		b->data[b->len++] = '\t';
}

void edl_copy_eol(struct edl_copy_buf *b)
{
	if (reserve(b, 1))
		b->data[b->len++] = '\n';
}

/* Writes text with invalid UTF-8 and NUL replaced by U+FFFD; escape(c) says
 * which ASCII bytes get a backslash before them. */
static void put_sanitized(struct edl_copy_buf *b, const unsigned char *p, size_t n,
                          bool (*escape)(unsigned char))
{
	if (!reserve(b, 3 * n + 2))
		return;
	char *o = b->data + b->len;
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		size_t len = c >= 0x80 ? utf8_len(p + i, n - i) : 1;
		if (len == 0 || c == '\0') {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
			continue;
		}
		if (len == 1 && escape(c))
			*o++ = '\\';
		memcpy(o, p + i, len);
		o += len;
		i += len;
	}
	b->len = (size_t)(o - b->data);
}

static bool array_escape(unsigned char c)
{
	return c == '"' || c == '\\';
}

void edl_copy_char(struct edl_copy_buf *b, char c)
{
	if (reserve(b, 1))
		b->data[b->len++] = c;
}

void edl_array_text(struct edl_copy_buf *b, const char *s, size_t n)
{
	if (s == NULL) {
		if (reserve(b, 4)) {
			memcpy(b->data + b->len, "NULL", 4);
			b->len += 4;
		}
		return;
	}
	edl_copy_char(b, '"');
	put_sanitized(b, (const unsigned char *)s, n, array_escape);
	edl_copy_char(b, '"');
}
