/*
 * libFuzzer target for Sahara: arbitrary bytes go to the decoder, and to a host
 * engine driven by a scripted device into each of its states (waiting for
 * HELLO, for the probe answer, flushing, for a fresh HELLO, in command mode,
 * transferring, waiting for DONE_RESP, finished). Input is fed once as one transfer and once
 * cut into transfers by length bytes (0xff = let the deadline pass). Chunks the
 * engine queues are read in full so the sanitizers see any bad pointer.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "edlstation/sahara.h"

static uint8_t image[4096];
static const struct edl_sahara_image images[] = {
        {0x0d, image, sizeof(image)},
        {0x0e, image, 100},
};

static unsigned drain(struct edl_sahara_host *h)
{
	struct edl_chunk c;
	unsigned sum = 0;
	size_t i;

	while (edl_sahara_host_next_out(h, &c))
		for (i = 0; i < c.len; i++)
			sum += c.data[i];
	return sum;
}

static void dev(struct edl_sahara_host *h, uint64_t *now, const uint8_t *pkt, size_t len)
{
	*now += 1;
	edl_sahara_host_feed(h, pkt, len, *now);
	drain(h);
}

#define DEV(call)                               \
	do {                                    \
		uint8_t p_[EDL_SAHARA_MAX_PKT]; \
		dev(h, &now, p_, call);         \
	} while (0)

/* Builds an engine and a scripted device history that leaves it in script s. */
static struct edl_sahara_host *prepare(int s, uint64_t *out_now)
{
	struct edl_sahara_host_config cfg;
	struct edl_sahara_host *h;
	uint64_t now = 1000;
	uint8_t serial[4] = {1, 2, 3, 4};

	edl_sahara_host_config_default(&cfg);
	cfg.images = images;
	cfg.n_images = 2;
	cfg.identify = s >= 3 && s <= 7;
	cfg.upload = s != 7;
	/* A short flush (one chunk): drain() reads every filler byte. */
	cfg.flush_max_bytes = 5000;
	if (edl_sahara_host_new(&h, &cfg) != EDL_OK)
		return NULL;
	edl_sahara_host_start(h, now);
	switch (s) {
	case 0: /* waiting for the first transfer */
		break;
	case 1: /* probe sent */
		now += 500;
		edl_sahara_host_timeout(h, now);
		drain(h);
		break;
	case 12: /* probe unanswered: filler sent, waiting for an answer */
		now += 500;
		edl_sahara_host_timeout(h, now);
		drain(h);
		now += 1000;
		edl_sahara_host_timeout(h, now);
		drain(h);
		break;
	case 2: /* RESET_STATE_MACHINE sent, waiting for a fresh HELLO */
		now += 500;
		edl_sahara_host_timeout(h, now);
		drain(h);
		DEV(edl_sahara_encode_end_of_image(p_, sizeof(p_), 0x0d, 1));
		break;
	case 3: /* waiting for CMD_READY */
		DEV(edl_sahara_encode_hello(p_, sizeof(p_), 2, 1, 0x400, 0));
		break;
	case 4: /* waiting for EXECUTE_RESP */
	case 5: /* waiting for the serial's raw bytes */
	case 6: /* v3: waiting for the chip id's raw bytes */
	case 7: /* identify-only: waiting for the fresh HELLO after SWITCH_MODE */
		DEV(edl_sahara_encode_hello(p_, sizeof(p_), s == 6 ? 3 : 2, 1, 0x400, 0));
		DEV(edl_sahara_encode_cmd_ready(p_, sizeof(p_)));
		if (s == 4)
			break;
		DEV(edl_sahara_encode_execute_resp(p_, sizeof(p_), 1, 4));
		if (s == 5)
			break;
		dev(h, &now, serial, 4);
		if (s == 6) {
			DEV(edl_sahara_encode_execute_resp(p_, sizeof(p_), 0x0a, 64));
			break;
		}
		/* A refusal ends command mode: SWITCH_MODE(0) follows at once. */
		DEV(edl_sahara_encode_execute_resp(p_, sizeof(p_), 0x02, 0));
		break;
	case 8:  /* transferring */
	case 9:  /* waiting for DONE_RESP */
	case 10: /* waiting for the next image's HELLO */
	case 11: /* finished */
		DEV(edl_sahara_encode_hello(p_, sizeof(p_), 2, 1, 0x400, 0));
		DEV(edl_sahara_encode_read_data(p_, sizeof(p_), 0x0d, 0, 64));
		if (s == 8)
			break;
		DEV(edl_sahara_encode_end_of_image(p_, sizeof(p_), 0x0d, 0));
		if (s == 9)
			break;
		DEV(edl_sahara_encode_done_resp(p_, sizeof(p_), s == 10 ? 0 : 1));
		break;
	}
	*out_now = now;
	return h;
}

#define N_SCRIPTS 13

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct edl_sahara_pkt pkt;
	struct edl_error err;
	struct edl_sahara_host *h;
	const uint8_t *left;
	uint64_t now;
	size_t i, n, llen;
	int s;

	edl_sahara_decode(&pkt, data, size, &err);
	(void)edl_sahara_cmd_name(pkt.cmd);
	if (size >= 8)
		(void)edl_sahara_status_name(edl_sahara_get_le32(data + 4));

	for (s = 0; s < N_SCRIPTS; s++) {
		/* The whole input as one transfer. */
		h = prepare(s, &now);
		if (h == NULL)
			return 0;
		edl_sahara_host_feed(h, data, size, now + 1);
		drain(h);
		edl_sahara_host_timeout(h, edl_sahara_host_deadline(h));
		drain(h);
		left = edl_sahara_host_leftover(h, &llen);
		if (left != NULL && llen > 0 && left[llen - 1] == 0xff)
			(void)edl_sahara_host_identity(h);
		edl_sahara_host_free(h);

		/* The input cut into transfers: [len][bytes...]; 0xff lets time pass. */
		h = prepare(s, &now);
		if (h == NULL)
			return 0;
		for (i = 0; i < size;) {
			n = data[i++];
			if (n == 0xff) {
				now = edl_sahara_host_deadline(h) ? edl_sahara_host_deadline(h)
				                                  : now;
				edl_sahara_host_timeout(h, now);
				drain(h);
				continue;
			}
			if (n > size - i)
				n = size - i;
			now += 1;
			edl_sahara_host_feed(h, data + i, n, now);
			drain(h);
			i += n;
		}
		if (edl_sahara_host_status(h) == EDL_ENGINE_RUNNING)
			edl_sahara_host_reset(h);
		drain(h);
		edl_sahara_host_free(h);
	}
	return 0;
}
