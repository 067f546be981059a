/*
 * The one JSON writer of edlstation. Every JSON document or line the project
 * prints (run events with --log-format json, report and history --format json,
 * package check --json, the emulator's unit.json) is written through it, so the
 * rules for hostile text (USB descriptors, device log lines, file names) live in
 * one place: quotes, backslash and control characters escaped, valid UTF-8
 * passed through, each invalid byte written as \ufffd.
 *
 * It streams: values go straight to a FILE or an edl_buf as they are given, so
 * a document of a million rows never exists as a tree. The writer tracks
 * nesting and separators itself; misuse (a value where a key is due, closing
 * what is not open) is a programming error, reported as EDL_E_INVAL by
 * edl_json_finish(). The first failure is kept and makes every later call a
 * no-op, so a caller writes straight through and checks once at the end.
 */
#ifndef EDLSTATION_JSON_H
#define EDLSTATION_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "edlstation/buf.h"

/* Deepest nesting a writer accepts; deeper opens fail with EDL_E_INVAL. */
#define EDL_JSON_MAX_DEPTH 16

/* Layout: EDL_JSON_COMPACT writes one line with no spaces ({"a":1,"b":[2]});
 * a positive wrap N puts each member of the N outermost levels on its own
 * line, indented two spaces a level, and writes deeper levels on one line as
 * {"a": 1, "b": [2]}. The layout never changes what a parser reads. */
#define EDL_JSON_COMPACT 0u

struct edl_json {
	FILE *f;                         /* sink: a stream ... */
	struct edl_buf *b;               /* ... or a buffer (exactly one is set) */
	int rc;                          /* first failure, EDL_OK until then */
	unsigned wrap;                   /* see EDL_JSON_COMPACT */
	unsigned depth;                  /* containers open */
	bool key_due;                    /* inside an object, a key comes next */
	bool object[EDL_JSON_MAX_DEPTH]; /* level i is an object (else an array) */
	bool empty[EDL_JSON_MAX_DEPTH];  /* level i has no member yet */
	bool done;                       /* the top-level value is complete */
};

/* Starts a writer on a stream or a buffer (not owned). */
void edl_json_init_file(struct edl_json *j, FILE *f, unsigned wrap);
void edl_json_init_buf(struct edl_json *j, struct edl_buf *b, unsigned wrap);

/* Containers. Inside an object every value needs edl_json_key() first. */
void edl_json_object_begin(struct edl_json *j);
void edl_json_object_end(struct edl_json *j);
void edl_json_array_begin(struct edl_json *j);
void edl_json_array_end(struct edl_json *j);

/* The next member's name; escaped like any string. */
void edl_json_key(struct edl_json *j, const char *key);

/* A string value, escaped (see the file comment); NULL writes null. */
void edl_json_string(struct edl_json *j, const char *s);
/* The first n bytes of s as a string value (s may lack a NUL). */
void edl_json_string_len(struct edl_json *j, const char *s, size_t n);
/* A printf-formatted string value (for hex digests, times, serials). */
void edl_json_stringf(struct edl_json *j, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

void edl_json_int(struct edl_json *j, int64_t v);
void edl_json_uint(struct edl_json *j, uint64_t v);
/* A number with `significant` digits (%.*g), or with `decimals` digits after
 * the point (%.*f). JSON has no NaN or infinity: those write null. */
void edl_json_double(struct edl_json *j, double v, int significant);
void edl_json_fixed(struct edl_json *j, double v, int decimals);
void edl_json_bool(struct edl_json *j, bool v);
void edl_json_null(struct edl_json *j);

/* Ends the document: checks it is complete, writes a newline and, for a
 * stream, flushes it. Returns EDL_OK, the first failure (EDL_E_NOMEM for a
 * buffer, EDL_E_IO for a stream), or EDL_E_INVAL for misuse or an unfinished
 * document. */
int edl_json_finish(struct edl_json *j);

/* Decodes one UTF-8 scalar value at s (len > 0): returns the bytes it takes
 * and sets *cp, or returns 0 for an invalid sequence (overlong, surrogate,
 * beyond U+10FFFF, truncated, stray continuation byte). */
size_t edl_json_utf8_decode(uint32_t *cp, const uint8_t *s, size_t len);

#endif
