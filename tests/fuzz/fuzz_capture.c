/*
 * libFuzzer target for the capture reader and the replay script: arbitrary
 * bytes as a capture file (pcapng or pcap, any link type) are walked packet by
 * packet with every field and byte of data touched, decoded (classification,
 * Sahara names), and built into a replay script that is then fed the input's
 * own tail in pieces while its answers are drained.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "edlstation/capture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct edl_capture_reader r;
	struct edl_capture_packet p = {0};
	struct edl_error err;
	struct edl_replay *rp;
	struct edl_chunk ch;
	volatile unsigned sum = 0;
	char line[256];

	if (edl_capture_reader_init(&r, data, size, "fuzz", &err) == EDL_OK) {
		while (edl_capture_reader_next(&r, &p, &err) == 1) {
			for (uint32_t i = 0; i < p.ev.data_len; i++)
				sum += p.ev.data[i];
			for (size_t i = 0; i < p.ev.comment_len; i++)
				sum += (unsigned char)p.ev.comment[i];
			if (edl_capture_classify(p.ev.data, p.ev.data_len, p.ev.length) ==
			    EDL_CAPTURE_KIND_SAHARA)
				edl_capture_sahara_describe(p.ev.data, p.ev.data_len, line,
				                            sizeof(line));
		}
	}
	if (edl_replay_new(&rp, data, size, "fuzz", &err) == EDL_OK) {
		size_t off = size / 2;
		while (off < size) {
			size_t n = 1 + data[off] % 64;
			if (n > size - off)
				n = size - off;
			edl_replay_feed(rp, data + off, n);
			off += n;
			while (edl_replay_next_in(rp, &ch))
				for (size_t i = 0; i < ch.len; i++)
					sum += ch.data[i];
		}
		edl_replay_progress(rp, line, sizeof(line));
		edl_replay_free(rp);
	}
	(void)sum;
	return 0;
}
