/*
 * The event ring: the last N events of the station, each with its sequence
 * number, so that an event client that reconnects (Last-Event-ID, ?after=)
 * gets exactly what it missed. Pure: no loop, no station (events.c feeds and
 * reads it; tests/web/test_web.c drives it past wrap-around).
 */
#include "edlstation/web.h"

#include <stdlib.h>
#include <string.h>

int edl_web_ring_init(struct edl_web_ring *r, size_t cap)
{
	memset(r, 0, sizeof(*r));
	r->ev = calloc(cap, sizeof(*r->ev));
	if (r->ev == NULL)
		return -1;
	r->cap = cap;
	r->next_seq = 1;
	return 0;
}

void edl_web_ring_free(struct edl_web_ring *r)
{
	for (size_t i = 0; r->ev != NULL && i < r->cap; i++)
		free(r->ev[i].json);
	free(r->ev);
	memset(r, 0, sizeof(*r));
}

uint64_t edl_web_ring_push(struct edl_web_ring *r, const char *json, size_t len)
{
	uint64_t seq = r->next_seq++;
	struct edl_web_event *e = &r->ev[seq % r->cap];

	free(e->json);
	e->json = malloc(len + 1);
	if (e->json == NULL) {
		e->seq = 0;
		e->len = 0;
		return 0;
	}
	memcpy(e->json, json, len);
	e->json[len] = '\0';
	e->len = len;
	e->seq = seq;
	e->offset = r->bytes_total;
	r->bytes_total += len;
	return seq;
}

uint64_t edl_web_ring_first(const struct edl_web_ring *r)
{
	uint64_t held = r->next_seq - 1;
	return held > r->cap ? r->next_seq - r->cap : 1;
}

const struct edl_web_event *edl_web_ring_get(const struct edl_web_ring *r, uint64_t seq)
{
	if (seq == 0 || seq >= r->next_seq || seq < edl_web_ring_first(r))
		return NULL;
	const struct edl_web_event *e = &r->ev[seq % r->cap];
	return e->seq == seq ? e : NULL;
}
