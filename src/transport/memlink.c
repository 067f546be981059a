/*
 * The in-memory link between a flash job and an emulated device, on a virtual
 * clock (see include/edlstation/memlink.h). Device output is queued as one
 * byte stream that remembers transfer boundaries, so reads can be whole
 * transfers (Sahara, and real USB short packets) or cut and merged at will
 * (Firehose framing tests).
 */
#include "edlstation/memlink.h"
#include "edlstation/buf.h"
#include "edlstation/flash.h"
#include "edlstation/target.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Transfer boundaries inside the device->host stream, as offsets from the
 * stream's start (monotonic, never reset while bytes are queued). */
struct boundaries {
	uint64_t *end;
	size_t head, count, cap;
};

struct link {
	struct edl_buf stream;    /* device->host bytes not yet read */
	uint64_t consumed;        /* stream bytes read so far, in total */
	struct boundaries bounds; /* ends of device transfers still queued */
	uint32_t rng;
	const struct edl_memlink_options *opt;
};

static int push_boundary(struct boundaries *b, uint64_t end)
{
	if (b->head > 0 && b->head == b->count) {
		b->head = b->count = 0;
	}
	if (b->count == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		uint64_t *p = realloc(b->end, cap * sizeof(*p));
		if (p == NULL)
			return EDL_E_NOMEM;
		b->end = p;
		b->cap = cap;
	}
	b->end[b->count++] = end;
	return EDL_OK;
}

static uint32_t next_random(struct link *l)
{
	/* xorshift32: deterministic, seeded per run. */
	uint32_t x = l->rng ? l->rng : 0x9e3779b9u;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	l->rng = x;
	return x;
}

/* Size of the next read the host makes, given what is queued. */
static size_t read_size(struct link *l, bool framed)
{
	size_t avail = edl_buf_size(&l->stream);
	size_t n;

	/* Up to the end of the current device transfer. */
	while (l->bounds.head < l->bounds.count && l->bounds.end[l->bounds.head] <= l->consumed)
		l->bounds.head++;
	size_t to_boundary = avail;
	if (l->bounds.head < l->bounds.count)
		to_boundary = (size_t)(l->bounds.end[l->bounds.head] - l->consumed);

	if (!framed || l->opt->fragment == EDL_MEMLINK_WHOLE)
		return to_boundary;
	size_t fs = l->opt->fragment_size ? l->opt->fragment_size : 1;
	if (l->opt->fragment == EDL_MEMLINK_FIXED)
		n = fs;
	else
		n = 1 + next_random(l) % fs;
	return n < avail ? n : avail;
}

void edl_memlink_options_default(struct edl_memlink_options *opt)
{
	memset(opt, 0, sizeof(*opt));
	opt->fragment = EDL_MEMLINK_WHOLE;
	opt->fragment_size = 1;
	opt->seed = 1;
	opt->start_ms = 1000;
	opt->max_ms = 3600 * 1000;
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
	if (a == 0)
		return b;
	if (b == 0)
		return a;
	return a < b ? a : b;
}

int edl_memlink_run(struct edl_flash_job *job, struct edl_target *target,
                    const struct edl_memlink_options *opt, struct edl_memlink_stats *stats,
                    struct edl_error *err)
{
	struct edl_memlink_options defaults;
	struct edl_memlink_stats local;
	struct link l;
	struct edl_chunk c;
	int rc = EDL_OK;

	if (opt == NULL) {
		edl_memlink_options_default(&defaults);
		opt = &defaults;
	}
	if (stats == NULL)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	memset(&l, 0, sizeof(l));
	edl_buf_init(&l.stream);
	l.opt = opt;
	l.rng = opt->seed;

	uint64_t now = opt->start_ms ? opt->start_ms : 1000;
	uint64_t limit = now + (opt->max_ms ? opt->max_ms : 3600 * 1000);

	edl_target_start(target, now);
	edl_flash_job_start(job, now);

	while (edl_flash_job_status(job) == EDL_ENGINE_RUNNING) {
		bool progress = false;

		/* A stalled device takes nothing more: the chunk it did not take stays
		 * "in flight" for good, as an OUT transfer that never completes. */
		while (!edl_target_stalled(target) && edl_flash_job_next_out(job, &c)) {
			stats->host_transfers++;
			stats->bytes_to_device += c.len;
			edl_target_feed(target, c.data, c.len, now);
			edl_flash_job_out_done(job, c.len, now);
			progress = true;
		}
		while (edl_target_next_out(target, &c, now)) {
			rc = edl_buf_append(&l.stream, c.data, c.len);
			if (rc == EDL_OK)
				rc = push_boundary(&l.bounds, l.consumed + edl_buf_size(&l.stream));
			if (rc != EDL_OK) {
				edl_error_set(err, rc, "in-memory link: out of memory");
				goto out;
			}
		}
		if (edl_buf_size(&l.stream) > 0) {
			size_t n = read_size(&l, edl_flash_job_in_firehose(job));
			const uint8_t *p = edl_buf_head(&l.stream);
			stats->device_reads++;
			edl_flash_job_feed(job, p, n, now);
			edl_buf_consume(&l.stream, n);
			l.consumed += n;
			progress = true;
		}
		if (progress)
			continue;

		uint64_t next = earliest(edl_flash_job_deadline(job), edl_target_deadline(target));
		if (next == 0) {
			rc = edl_error_set(err, EDL_E_INTERNAL,
			                   "in-memory link stalled in stage %s: neither side waits "
			                   "for anything",
			                   edl_flash_stage_name(edl_flash_job_stage(job)));
			goto out;
		}
		if (next > limit) {
			rc = edl_error_set(err, EDL_E_TIMEOUT,
			                   "in-memory link: job still running after %" PRIu64
			                   " ms of virtual time",
			                   limit - (opt->start_ms ? opt->start_ms : 1000));
			goto out;
		}
		if (next > now)
			now = next;
		if (edl_target_deadline(target) != 0 && edl_target_deadline(target) <= now)
			edl_target_timeout(target, now);
		if (edl_flash_job_deadline(job) != 0 && edl_flash_job_deadline(job) <= now)
			edl_flash_job_timeout(job, now);
	}
	/* Let the device see what the job sent last (the power command's effect). */
	while (!edl_target_stalled(target) && edl_flash_job_next_out(job, &c))
		edl_target_feed(target, c.data, c.len, now);
	stats->end_ms = now;
out:
	edl_buf_free(&l.stream);
	free(l.bounds.end);
	return rc;
}
