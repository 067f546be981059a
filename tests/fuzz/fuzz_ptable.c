/*
 * libFuzzer target for the partition tables a unit hands the host (issue 15,
 * src/flash/gpt.c): the first 512 bytes are a GPT header read at LBA 1 (and,
 * again, as a backup of unknown place), the rest its entry array; the whole
 * input is also a MIBIB page. Whatever the header claims, the parsers must
 * stay inside the bytes given, and every partition they return must be a
 * range with first <= last inside the header's usable LBAs.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "edlstation/ptable.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct edl_ptable_entry out[64];
	struct edl_gpt_header h;
	char why[256];
	size_t n = 0;

	if (size >= 512) {
		for (int backup = 0; backup < 2; backup++) {
			if (!edl_gpt_parse_header(data, 512, backup ? UINT64_MAX : 1, &h, why,
			                          sizeof(why)))
				continue;
			if (edl_gpt_entries_sectors(&h, 512) > (1u << 20) / 512 + 1)
				abort(); /* the array is bounded before anything is read */
			if (!edl_gpt_parse_entries(&h, data + 512, size - 512, out, 64, &n, why,
			                           sizeof(why)))
				continue;
			for (size_t i = 0; i < n; i++)
				if (out[i].first > out[i].last || out[i].first < h.first_usable ||
				    out[i].last > h.last_usable)
					abort();
		}
	}
	if (edl_mibib_parse(data, size, 64, out, 64, &n, why, sizeof(why)))
		for (size_t i = 0; i < n; i++)
			if (out[i].first > out[i].last)
				abort();
	return 0;
}
