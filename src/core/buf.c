/*
 * struct edl_buf: append at the end, consume from the front. Consumed space is
 * reclaimed by sliding the live bytes down before growing, so a framer that
 * consumes as fast as it appends never grows.
 */
#include "edlstation/buf.h"
#include "edlstation/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void edl_buf_init(struct edl_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void edl_buf_free(struct edl_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static int reserve(struct edl_buf *b, size_t n)
{
	if (b->off > 0 && b->len + n > b->cap) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (b->len + n <= b->cap)
		return EDL_OK;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + n) {
		if (cap > SIZE_MAX / 2)
			return EDL_E_NOMEM;
		cap *= 2;
	}
	uint8_t *p = realloc(b->data, cap);
	if (p == NULL)
		return EDL_E_NOMEM;
	b->data = p;
	b->cap = cap;
	return EDL_OK;
}

int edl_buf_append(struct edl_buf *b, const void *data, size_t n)
{
	if (n == 0)
		return EDL_OK;
	int rc = reserve(b, n);
	if (rc != EDL_OK)
		return rc;
	memcpy(b->data + b->len, data, n);
	b->len += n;
	return EDL_OK;
}

int edl_buf_printf(struct edl_buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];

	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return EDL_E_INVAL;
	if ((size_t)n < sizeof(small))
		return edl_buf_append(b, small, (size_t)n);
	int rc = reserve(b, (size_t)n + 1);
	if (rc != EDL_OK)
		return rc;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return EDL_OK;
}

void edl_buf_consume(struct edl_buf *b, size_t n)
{
	if (n >= b->len - b->off) {
		b->off = b->len = 0;
		return;
	}
	b->off += n;
}

void edl_buf_reset(struct edl_buf *b)
{
	b->off = b->len = 0;
}
