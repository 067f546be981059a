/*
 * The station's HTTP server (issue 13): the board's static files, the JSON API
 * (/api/v1/...), the event stream (Server-Sent Events) and the Prometheus
 * metrics (/metrics), served by Debian's libh2o on the station's own libuv
 * loop. This header holds the configuration ([web] in the station INI) and
 * the pure parts the server is built from (listen addresses, query strings,
 * the event ring, metric label escaping), so that tests can reach them
 * without a socket. The server itself is started and stopped by the station
 * (src/station/station.c) through src/web/web_internal.h.
 */
#ifndef EDLSTATION_WEB_H
#define EDLSTATION_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "edlstation/buf.h"

#define EDL_WEB_MAX_CLIENTS_DEFAULT 64
#define EDL_WEB_MAX_HEADER_DEFAULT (16u * 1024) /* bytes of request headers (431 past) */
#define EDL_WEB_MAX_BODY_DEFAULT (64u * 1024)   /* bytes of a request body (413 past) */
#define EDL_WEB_RING_DEFAULT 10000              /* events kept for resuming clients */

/* [web] in the station config. listen "" = the server is off. */
struct edl_web_config {
	char listen[96];           /* "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:8080" */
	char token[256];           /* bearer token for control ("" = none: read-only) */
	char token_file[1024];     /* or a file holding it (first line); read at start */
	unsigned max_clients;      /* connections at once; beyond: closed at accept */
	char static_dir[1024];     /* the board's files; "" = the installed web/ */
	uint32_t max_header_bytes; /* request line + headers */
	uint32_t max_body_bytes;   /* request body */
	uint32_t sse_buffer_kb;    /* unsent events past this: the client is dropped (and a
	                              resume further back starts after a gap) */
};

void edl_web_config_default(struct edl_web_config *c);

/* Parses "HOST:PORT" (IPv4 dotted or "[IPv6]") into out. Returns 0, or -1 with
 * why (what is wrong and how to write it) filled. */
int edl_web_parse_listen(const char *text, struct sockaddr_storage *out, char *why, size_t n);

/* Query strings. Finds key in query ("a=1&b=x%20y", no leading '?') and
 * percent-decodes its value into out (cap bytes, terminated). Returns 1 when
 * found, 0 when absent, -1 when the value is malformed (bad %XX, a NUL, or
 * longer than cap - 1). */
int edl_web_query_get(const char *query, size_t len, const char *key, char *out, size_t cap);
/* Whether every key of query is one of keys (NULL-terminated); *bad gets the
 * first unknown key (pointer into query, length in *bad_len). */
bool edl_web_query_keys_known(const char *query, size_t len, const char *const *keys,
                              const char **bad, size_t *bad_len);

/* Parses a whole decimal uint64 ("0".."18446744073709551615"); -1 on anything else. */
int edl_web_parse_u64(const char *text, size_t len, uint64_t *out);

/* Constant-time comparison of a presented token with the configured one. */
bool edl_web_token_equal(const char *given, size_t given_len, const char *expected);

/* The body of a control request: a JSON object with at most a "reason"
 * string (printable ASCII after unescaping, shorter than cap). Returns 0 with
 * reason filled ("" when absent), -1 when the body is anything else. */
int edl_web_json_reason(const char *body, size_t len, char *reason, size_t cap);

/* The event ring: the last `cap` events, each a JSON object with its sequence
 * number. Sequence numbers start at 1 and grow by one per event. The ring owns
 * copies of the payloads. */
struct edl_web_event {
	uint64_t seq;
	char *json; /* one line, no newline */
	size_t len;
	uint64_t offset; /* bytes of every event before this one (ring.bytes_total then) */
};

struct edl_web_ring {
	struct edl_web_event *ev;
	size_t cap;
	uint64_t next_seq;    /* the seq the next event gets */
	uint64_t bytes_total; /* bytes of every event pushed so far */
};

int edl_web_ring_init(struct edl_web_ring *r, size_t cap);
void edl_web_ring_free(struct edl_web_ring *r);
/* Appends a copy of json (len bytes); the oldest event goes when full. Returns
 * the event's seq, or 0 when out of memory (the event is lost; seq still moves
 * so a client sees a gap rather than a silent loss). */
uint64_t edl_web_ring_push(struct edl_web_ring *r, const char *json, size_t len);
/* The oldest seq still held (next_seq when empty). */
uint64_t edl_web_ring_first(const struct edl_web_ring *r);
/* The event with this seq, or NULL when not held. */
const struct edl_web_event *edl_web_ring_get(const struct edl_web_ring *r, uint64_t seq);

/* Prometheus text format 0.0.4: a label value with \, " and newline escaped,
 * appended to b. */
int edl_web_prom_label(struct edl_buf *b, const char *value);

#endif
