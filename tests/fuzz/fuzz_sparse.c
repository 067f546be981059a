/*
 * libFuzzer target for the Android sparse reader: arbitrary bytes are walked
 * (with the default ceiling and with a 1 MiB partition bound), every chunk the
 * walk reports is checked against the input (a RAW chunk's data must lie inside
 * it, and is read in full so the sanitizers see any bad offset), and the CRC
 * check runs over the same bytes. A hang shows as libFuzzer's timeout: the walk
 * and the check must end quickly whatever the header claims.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "edlstation/sparse.h"

struct seen {
	const uint8_t *data;
	size_t size;
	uint64_t out_end;
	unsigned sum;
};

static int on_chunk(const struct edl_sparse_chunk *c, void *user)
{
	struct seen *s = user;

	if (c->out_offset < s->out_end)
		abort(); /* chunks must follow each other in the output */
	s->out_end = c->out_offset + c->out_len;
	if (c->type == EDL_SPARSE_RAW) {
		if (c->file_offset > s->size || c->out_len > s->size - c->file_offset)
			abort();
		for (uint64_t i = 0; i < c->out_len; i += 512)
			s->sum += s->data[c->file_offset + i];
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct edl_sparse_info info;
	struct edl_error err;
	struct seen s = {.data = data, .size = size};

	if (edl_sparse_walk(&info, data, size, on_chunk, &s, &err) == EDL_OK &&
	    info.expanded_size > EDL_SPARSE_MAX_EXPANDED)
		abort();
	s.out_end = 0;
	if (edl_sparse_walk_bounded(&info, data, size, 1u << 20, on_chunk, &s, &err) == EDL_OK &&
	    info.expanded_size > (1u << 20))
		abort();
	(void)edl_sparse_check_crc(data, size, &err);
	return (int)(s.sum & 0);
}
