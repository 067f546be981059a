/*
 * libFuzzer target for everything the Firehose host does with device bytes:
 * the framer (whole input versus fragments chosen by the input itself must
 * yield the same documents and strip the same junk sequences), the document
 * parser, the storage-info and digest log parsers, and host engines waiting
 * for a response (nop, configure with and without re-sending, getstorageinfo,
 * getsha256digest, a read in raw mode, a program, a vendor entry, a drain)
 * fed the bytes in arbitrary fragments; the function list is read from every
 * log. Any crash, leak, sanitizer report or framing mismatch
 * is a finding. Input: 4 bytes of fragmentation seed, then the device stream.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edlstation/firehose.h"
#include "firehose/fh_internal.h"

static uint32_t next_rand(uint32_t *s)
{
	uint32_t x = *s ? *s : 0x9e3779b9u;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

/* FNV-1a over the documents framed, with their count and the skipped bytes. */
struct summary {
	uint64_t hash;
	uint64_t docs;
	uint64_t too_large;
	uint64_t skipped;
	uint64_t stripped;
};

static void mix(struct summary *s, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		s->hash ^= b[i];
		s->hash *= 0x100000001b3ull;
	}
}

static void frame(struct summary *out, const uint8_t *data, size_t len, uint32_t seed, bool parse)
{
	struct edl_fh_framer fr;
	size_t off = 0;

	memset(out, 0, sizeof(*out));
	out->hash = 0xcbf29ce484222325ull;
	edl_fh_framer_init(&fr, 1024);
	while (off < len) {
		size_t piece = seed != 0 ? 1 + next_rand(&seed) % 64 : len - off;
		if (piece > len - off)
			piece = len - off;
		const uint8_t *p = data + off;
		size_t left = piece;
		while (left > 0) {
			size_t used = 0;
			int r = edl_fh_framer_push(&fr, p, left, &used);
			p += used;
			left -= used;
			if (r == 1) {
				size_t dl;
				const char *d = edl_fh_framer_doc(&fr, &dl);
				mix(out, d, dl);
				mix(out, "|", 1);
				out->docs++;
				if (parse) {
					struct edl_fh_doc doc;
					struct edl_error err;
					edl_fh_doc_parse(&doc, d, dl, 1024, &err);
					edl_fh_doc_free(&doc);
				}
			} else if (r == EDL_E_FH_TOO_LARGE) {
				out->too_large++;
			} else if (r != 0) {
				abort();
			} else if (left != 0) {
				abort(); /* 0 means everything was consumed */
			}
		}
		off += piece;
	}
	out->skipped = fr.skipped;
	out->stripped = fr.stripped;
	edl_fh_framer_free(&fr);
}

static int sink(const uint8_t *data, size_t len, void *user)
{
	uint64_t *n = user;
	(void)data;
	*n += len;
	return 0;
}

static void touch_chunk(const struct edl_chunk *c)
{
	volatile uint8_t sum = 0;
	if (c->len == 0 || c->data == NULL)
		abort();
	for (size_t i = 0; i < c->len; i++)
		sum ^= c->data[i];
	(void)sum;
}

static void feed(struct edl_fh_host *h, const uint8_t *data, size_t len, uint32_t seed)
{
	size_t off = 0;
	uint64_t now = 1000;
	struct edl_chunk c;

	while (off < len) {
		size_t piece = 1 + next_rand(&seed) % 97;
		if (piece > len - off)
			piece = len - off;
		edl_fh_host_feed(h, data + off, piece, now);
		/* Pull what the engine wants to send (configure rounds, raw chunks)
		 * and read every byte so the sanitizers see a bad pointer. */
		while (edl_fh_host_next_out(h, &c))
			touch_chunk(&c);
		off += piece;
		now += 7;
	}
	edl_fh_host_timeout(h, now + 1000000);
	edl_fh_host_timeout(h, now + 2000000);
	if (edl_fh_host_status(h) == EDL_ENGINE_RUNNING && edl_fh_host_deadline(h) == 0)
		abort();
}

static void run_host(int which, const uint8_t *data, size_t len, uint32_t seed)
{
	struct edl_fh_config cfg;
	struct edl_fh_host *h;
	struct edl_chunk c;
	uint64_t got = 0;
	static const uint8_t image[3000];
	struct edl_fh_range r = {
	        .lun = 0, .sector_size = 512, .start_sector = "0", .num_sectors = 8, .label = "x"};
	struct edl_fh_configure conf = {.storage = EDL_STORAGE_UFS, .zlp_aware = true};
	struct edl_fh_source src = {.data = image, .len = sizeof(image)};
	struct edl_fh_configure resend = {
	        .storage = EDL_STORAGE_NAND, .zlp_aware = true, .resend_ms = 50, .window_ms = 200};
	static const char *const vendor_attrs[] = {"a_rawdata_start_sector", "6528", "vendor",
	                                           "quectel"};

	edl_fh_config_default(&cfg);
	cfg.max_doc_bytes = 1024;
	cfg.max_logs = 8;
	if (edl_fh_host_new(&h, &cfg) != EDL_OK)
		return;
	switch (which) {
	case 0:
		edl_fh_host_nop(h, 1000);
		break;
	case 1:
		edl_fh_host_configure(h, &conf, 1000);
		break;
	case 2:
		edl_fh_host_getstorageinfo(h, 0, 1000);
		break;
	case 3:
		edl_fh_host_getsha256digest(h, &r, 1000);
		break;
	case 4:
		edl_fh_host_read(h, &r, sink, &got, 1000);
		break;
	case 5:
		edl_fh_host_program(h, &r, &src, 1000);
		break;
	case 6:
		edl_fh_host_configure(h, &resend, 1000);
		break;
	case 7:
		edl_fh_host_vendor(h, "erase", vendor_attrs, 2, 1000);
		break;
	default:
		edl_fh_host_drain(h, 1000);
		break;
	}
	while (edl_fh_host_next_out(h, &c))
		touch_chunk(&c);
	feed(h, data, len, seed);
	if (got > 8 * 512)
		abort();
	const char *fns = edl_fh_host_functions(h);
	if (fns != NULL && fns[0] != '\0' && edl_fh_host_supports(h, fns) == EDL_FH_SUPPORT_UNKNOWN)
		abort();
	for (size_t i = 0; i < edl_fh_host_log_count(h); i++)
		if (edl_fh_host_log(h, i) == NULL)
			abort();
	edl_fh_host_free(h);
}

/* The log parsers straight on the input, split into lines. */
static void run_log_parsers(const uint8_t *data, size_t len)
{
	char *text = malloc(len + 1);
	const char *logs[16];
	size_t n = 0;
	struct edl_fh_storage_info si;
	uint8_t digest[32];

	if (text == NULL)
		return;
	memcpy(text, data, len);
	text[len] = '\0';
	char *p = text;
	while (n < 16) {
		logs[n++] = p;
		char *nl = strchr(p, '\n');
		if (nl == NULL)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	edl_fh_storage_info_parse(&si, logs, n);
	edl_fh_digest_parse(digest, logs, n);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct summary whole, split;
	uint32_t seed;

	if (size < 4)
		return 0;
	seed = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
	       (uint32_t)data[3] << 24;
	seed |= 1; /* never 0: 0 means "whole" in frame() */
	data += 4;
	size -= 4;

	frame(&whole, data, size, 0, true);
	frame(&split, data, size, seed, false);
	if (memcmp(&whole, &split, sizeof(whole)) != 0)
		abort();
	run_log_parsers(data, size);
	for (int which = 0; which < 9; which++)
		run_host(which, data, size, seed);
	return 0;
}
