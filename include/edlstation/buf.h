/*
 * A growable byte buffer with a read cursor, for protocol framing: bytes are
 * appended at the end as they arrive and consumed from the front as frames are
 * recognised. Memory is bounded by the caller's limit, never by the peer.
 */
#ifndef EDLSTATION_BUF_H
#define EDLSTATION_BUF_H

#include <stddef.h>
#include <stdint.h>

struct edl_buf {
	uint8_t *data;
	size_t off; /* first unconsumed byte */
	size_t len; /* end of valid bytes */
	size_t cap;
};

void edl_buf_init(struct edl_buf *b);
void edl_buf_free(struct edl_buf *b);

/* Unconsumed bytes and their count. */
static inline const uint8_t *edl_buf_head(const struct edl_buf *b)
{
	return b->data + b->off;
}
static inline size_t edl_buf_size(const struct edl_buf *b)
{
	return b->len - b->off;
}

/* Appends; returns EDL_OK or EDL_E_NOMEM. */
int edl_buf_append(struct edl_buf *b, const void *data, size_t n);

/* Appends a printf-formatted string (without its NUL). */
int edl_buf_printf(struct edl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Drops n bytes from the front (n <= size). */
void edl_buf_consume(struct edl_buf *b, size_t n);

/* Drops everything. */
void edl_buf_reset(struct edl_buf *b);

#endif
