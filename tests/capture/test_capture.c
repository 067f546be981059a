/*
 * Tests of the capture module (src/capture): the pcapng writer and the
 * reader round trip (every usbmon field, interface names, comments), the
 * size bound (raw data elided and marked, Sahara and XML kept), truncation at
 * every byte (an error naming the offset, or a clean end at a block
 * boundary), classic pcap of link type 189 in both byte orders, and the
 * replay matcher: any chunking of the recorded bytes, raw data of other
 * content, answers held until their writes came, ZLPs, the serial, and the
 * report of the first departure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "edlstation/capture.h"
#include "edlstation/sahara.h"

static char tmp_path[64];

static void tmp_name(void)
{
	snprintf(tmp_path, sizeof(tmp_path), "/tmp/test_capture.%d.pcapng", (int)getpid());
}

static struct edl_capture *open_capture(uint64_t max_bytes)
{
	struct edl_capture *c = NULL;
	struct edl_capture_options o = {
	        .if_name = "usbmon1",
	        .if_description = "edlstation station T1, port 1-1.3, slot A3",
	        .max_bytes = max_bytes,
	};
	struct edl_error err;

	tmp_name();
	assert_int_equal(edl_capture_open(&c, tmp_path, &o, &err), EDL_OK);
	return c;
}

static uint8_t *close_and_load(struct edl_capture *c, size_t *len)
{
	struct edl_error err;
	uint8_t *buf;

	assert_int_equal(edl_capture_close(c, &err), EDL_OK);
	assert_int_equal(edl_capture_load(tmp_path, &buf, len, &err), EDL_OK);
	unlink(tmp_path);
	return buf;
}

static uint64_t next_id = 0x1000;

/* One bulk transfer as the transport records it: submission then completion. */
static void bulk(struct edl_capture *c, bool in, const void *data, uint32_t len, uint32_t req)
{
	struct edl_capture_event s = {.urb_id = next_id,
	                              .type = 'S',
	                              .xfer_type = EDL_CAPTURE_BULK,
	                              .endpoint = in ? 0x81 : 0x01,
	                              .devnum = 7,
	                              .bus = 1,
	                              .status = -115,
	                              .length = in ? req : len,
	                              .ts_us = 1700000000000000ll + (int64_t)next_id};
	struct edl_capture_event e = s;

	if (!in) {
		s.data = data;
		s.data_len = len;
	}
	edl_capture_write(c, &s);
	e.type = 'C';
	e.status = 0;
	e.length = len;
	e.ts_us += 5;
	if (in) {
		e.data = data;
		e.data_len = len;
	}
	edl_capture_write(c, &e);
	next_id += 0x40;
}

static void sahara(struct edl_capture *c, bool in, uint32_t cmd, uint32_t a, uint32_t b, uint32_t d)
{
	uint8_t p[0x30] = {0};
	uint32_t len = cmd == EDL_SAHARA_HELLO || cmd == EDL_SAHARA_HELLO_RESP ? 0x30
	               : cmd == EDL_SAHARA_READ_DATA                           ? 20
	               : cmd == EDL_SAHARA_END_OF_IMAGE || cmd == EDL_SAHARA_DONE_RESP
	                       ? (cmd == EDL_SAHARA_DONE_RESP ? 12 : 16)
	                       : 8;

	edl_sahara_put_le32(p, cmd);
	edl_sahara_put_le32(p + 4, len);
	edl_sahara_put_le32(p + 8, a);
	edl_sahara_put_le32(p + 12, b);
	edl_sahara_put_le32(p + 16, d);
	bulk(c, in, p, len, 4096);
}

static void test_capture_round_trip_keeps_every_field(void **state)
{
	(void)state;
	struct edl_capture *c = open_capture(0);
	struct edl_capture_event ev = {.urb_id = 0xffff8880deadbeefull,
	                               .type = 'S',
	                               .xfer_type = EDL_CAPTURE_CONTROL,
	                               .endpoint = 0x80,
	                               .devnum = 42,
	                               .bus = 3,
	                               .status = -115,
	                               .length = 255,
	                               .has_setup = true,
	                               .setup = {0x80, 6, 2, 3, 9, 4, 255, 0},
	                               .ts_us = 1764590000123456ll,
	                               .comment = "a note"};
	uint8_t payload[1001];
	struct edl_capture_reader r;
	struct edl_capture_packet p = {0};
	struct edl_error err;
	size_t len;

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7);
	edl_capture_write(c, &ev);
	struct edl_capture_event out = {.urb_id = 77,
	                                .type = 'C',
	                                .xfer_type = EDL_CAPTURE_BULK,
	                                .endpoint = 0x01,
	                                .devnum = 42,
	                                .bus = 3,
	                                .status = -104,
	                                .length = 1001,
	                                .ts_us = 1764590000999999ll,
	                                .xfer_flags = 0x40,
	                                .data = payload,
	                                .data_len = 1001};
	edl_capture_write(c, &out);
	uint8_t *buf = close_and_load(c, &len);

	assert_int_equal(edl_capture_reader_init(&r, buf, len, "mem", &err), EDL_OK);
	assert_int_equal(edl_capture_reader_next(&r, &p, &err), 1);
	assert_true(r.pcapng);
	assert_int_equal(r.n_if, 1);
	assert_int_equal(r.ifs[0].linktype, 220);
	assert_string_equal(r.ifs[0].name, "usbmon1");
	assert_string_equal(r.ifs[0].description, "edlstation station T1, port 1-1.3, slot A3");
	assert_int_equal(p.index, 1);
	assert_true(p.ev.urb_id == 0xffff8880deadbeefull);
	assert_int_equal(p.ev.type, 'S');
	assert_int_equal(p.ev.xfer_type, EDL_CAPTURE_CONTROL);
	assert_int_equal(p.ev.endpoint, 0x80);
	assert_int_equal(p.ev.devnum, 42);
	assert_int_equal(p.ev.bus, 3);
	assert_int_equal(p.ev.status, -115);
	assert_int_equal(p.ev.length, 255);
	assert_true(p.ev.has_setup);
	assert_memory_equal(p.ev.setup, ev.setup, 8);
	assert_true(p.ev.ts_us == ev.ts_us);
	assert_int_equal(p.ev.data_len, 0);
	assert_int_equal(p.ev.comment_len, 6);
	assert_memory_equal(p.ev.comment, "a note", 6);

	assert_int_equal(edl_capture_reader_next(&r, &p, &err), 1);
	assert_int_equal(p.index, 2);
	assert_true(p.ev.urb_id == 77);
	assert_int_equal(p.ev.type, 'C');
	assert_false(p.ev.has_setup);
	assert_int_equal(p.ev.status, -104);
	assert_int_equal(p.ev.length, 1001);
	assert_int_equal(p.ev.data_len, 1001);
	assert_int_equal(p.ev.xfer_flags, 0x40);
	assert_memory_equal(p.ev.data, payload, 1001);
	assert_null(p.ev.comment);
	assert_int_equal(edl_capture_reader_next(&r, &p, &err), 0);
	free(buf);
}

static void test_capture_bound_elides_raw_keeps_sahara_and_xml(void **state)
{
	(void)state;
	struct edl_capture *c = open_capture(64 * 1024);
	static uint8_t raw[16384];
	const char *xml =
	        "<?xml version=\"1.0\" ?><data><program SECTOR_SIZE_IN_BYTES=\"4096\"/></data>";
	struct edl_capture_reader r;
	struct edl_capture_packet p = {0};
	struct edl_error err;
	size_t len, raw_kept = 0, raw_elided = 0, sahara_seen = 0, xml_seen = 0;

	memset(raw, 0xa5, sizeof(raw));
	for (int i = 0; i < 20; i++) {
		bulk(c, false, raw, sizeof(raw), 0);
		sahara(c, true, EDL_SAHARA_READ_DATA, 13, (uint32_t)i * 100, 100);
		bulk(c, false, xml, (uint32_t)strlen(xml), 0);
	}
	assert_true(edl_capture_elided(c) >= 16 * sizeof(raw));
	uint8_t *buf = close_and_load(c, &len);
	assert_true(len < 64 * 1024 + 20 * 400);

	assert_int_equal(edl_capture_reader_init(&r, buf, len, "mem", &err), EDL_OK);
	while (edl_capture_reader_next(&r, &p, &err) == 1) {
		if (p.ev.type == 'S' && p.ev.endpoint == 0x01 && p.ev.length == sizeof(raw)) {
			if (p.ev.data_len == sizeof(raw)) {
				raw_kept++;
			} else {
				assert_int_equal(p.ev.data_len, 0);
				assert_non_null(p.ev.comment);
				assert_non_null(strstr(p.ev.comment, "elided"));
				raw_elided++;
			}
		} else if (p.ev.type == 'C' && p.ev.endpoint == 0x81) {
			assert_int_equal(p.ev.data_len, 20);
			assert_int_equal(
			        edl_capture_classify(p.ev.data, p.ev.data_len, p.ev.length),
			        EDL_CAPTURE_KIND_SAHARA);
			sahara_seen++;
		} else if (p.ev.type == 'S' && p.ev.endpoint == 0x01) {
			assert_int_equal(p.ev.data_len, strlen(xml));
			assert_memory_equal(p.ev.data, xml, strlen(xml));
			xml_seen++;
		}
	}
	assert_true(raw_kept >= 1 && raw_kept <= 4);
	assert_int_equal(raw_kept + raw_elided, 20);
	assert_int_equal(sahara_seen, 20);
	assert_int_equal(xml_seen, 20);
	free(buf);
}

static void test_capture_truncated_anywhere_names_the_offset(void **state)
{
	(void)state;
	struct edl_capture *c = open_capture(0);
	uint8_t data[300];
	size_t len, blocks[64], n_blocks = 0;
	struct edl_capture_reader r;
	struct edl_capture_packet p = {0};
	struct edl_error err;

	memset(data, 1, sizeof(data));
	sahara(c, true, EDL_SAHARA_HELLO, 2, 1, 1024);
	bulk(c, false, data, sizeof(data), 0);
	uint8_t *buf = close_and_load(c, &len);

	/* Where blocks end: there a cut file is merely shorter. */
	for (size_t off = 0; off + 8 <= len; off += buf[off + 4] | buf[off + 5] << 8)
		blocks[n_blocks++] = off;
	assert_int_equal(n_blocks, 2 + 4); /* SHB, IDB, two transfers */
	for (size_t cut = 0; cut < len; cut++) {
		bool boundary = false;
		char want[64];
		int rc;

		for (size_t i = 0; i < n_blocks; i++)
			boundary |= blocks[i] == cut;
		if (edl_capture_reader_init(&r, buf, cut, "cut.pcapng", &err) != EDL_OK) {
			assert_true(cut < 4);
			continue;
		}
		memset(&p, 0, sizeof(p));
		while ((rc = edl_capture_reader_next(&r, &p, &err)) == 1)
			;
		if (boundary || cut == 0) {
			assert_int_equal(rc, 0);
		} else {
			assert_int_equal(rc, EDL_E_IO);
			snprintf(want, sizeof(want), "truncated at byte %zu", cut);
			assert_non_null(strstr(err.detail, want));
			assert_non_null(strstr(err.detail, "cut.pcapng"));
		}
	}
	free(buf);
}

/* A classic pcap record of link type 189 (48-byte header), in either order. */
static size_t pcap189(uint8_t *out, bool be, char type, uint8_t ep, const uint8_t *d, uint32_t n)
{
	uint8_t h[48] = {0};
	size_t k = 0;
#define W32(p, v)                                                          \
	do {                                                               \
		uint32_t v_ = (v);                                         \
		for (int i_ = 0; i_ < 4; i_++)                             \
			(p)[be ? 3 - i_ : i_] = (uint8_t)(v_ >> (8 * i_)); \
	} while (0)
	for (int i = 0; i < 8; i++)
		h[be ? 7 - i : i] = (uint8_t)(0x55 + i);
	h[8] = (uint8_t)type;
	h[9] = 3;
	h[10] = ep;
	h[11] = 9;
	h[be ? 13 : 12] = 2;
	h[14] = '-';
	h[15] = d ? 0 : '<';
	W32(h + (be ? 20 : 16), 1700000000); /* ts_sec: the low half of an s64 */
	W32(h + 24, 250);
	W32(h + 28, type == 'S' ? (uint32_t)-115 : 0);
	W32(h + 32, n);
	W32(h + 36, d ? n : 0);
	W32(out, 1700000000);
	W32(out + 4, 250);
	W32(out + 8, 48 + (d ? n : 0));
	W32(out + 12, 48 + (d ? n : 0));
	k = 16;
	memcpy(out + k, h, 48);
	k += 48;
	if (d) {
		memcpy(out + k, d, n);
		k += n;
	}
#undef W32
	return k;
}

static void test_capture_reads_tcpdump_pcap_189_in_both_byte_orders(void **state)
{
	(void)state;
	for (int be = 0; be < 2; be++) {
		uint8_t buf[1024] = {0};
		uint8_t hello[0x30] = {0};
		size_t k = 24;
		struct edl_capture_reader r;
		struct edl_capture_packet p = {0};
		struct edl_error err;

		edl_sahara_put_le32(hello, 1);
		edl_sahara_put_le32(hello + 4, 0x30);
		uint32_t magic = 0xa1b2c3d4;
		for (int i = 0; i < 4; i++)
			buf[be ? 3 - i : i] = (uint8_t)(magic >> (8 * i));
		buf[be ? 23 : 20] = 189;
		k += pcap189(buf + k, be, 'S', 0x81, NULL, 4096);
		k += pcap189(buf + k, be, 'C', 0x81, hello, sizeof(hello));
		assert_int_equal(edl_capture_reader_init(&r, buf, k, "tcpdump.pcap", &err), EDL_OK);
		assert_false(r.pcapng);
		assert_int_equal(r.swapped, be);
		assert_int_equal(edl_capture_reader_next(&r, &p, &err), 1);
		assert_int_equal(p.ev.type, 'S');
		assert_int_equal(p.ev.length, 4096);
		assert_int_equal(p.ev.data_len, 0);
		assert_int_equal(p.ev.bus, 2);
		assert_int_equal(p.ev.devnum, 9);
		assert_int_equal(p.ev.status, -115);
		assert_true(p.ev.ts_us == 1700000000ll * 1000000 + 250);
		assert_int_equal(edl_capture_reader_next(&r, &p, &err), 1);
		assert_int_equal(p.ev.type, 'C');
		assert_int_equal(p.ev.endpoint, 0x81);
		assert_int_equal(p.ev.data_len, 0x30);
		assert_memory_equal(p.ev.data, hello, 0x30);
		assert_int_equal(edl_capture_reader_next(&r, &p, &err), 0);

		/* The same as a replay script: one answer, the HELLO. */
		struct edl_replay *rp;
		struct edl_chunk ch;
		assert_int_equal(edl_replay_new(&rp, buf, k, "tcpdump.pcap", &err), EDL_OK);
		assert_true(edl_replay_next_in(rp, &ch));
		assert_int_equal(ch.len, 0x30);
		assert_memory_equal(ch.data, hello, 0x30);
		assert_true(edl_replay_finished(rp));
		edl_replay_free(rp);
	}
}

static void test_capture_rejects_other_link_types_and_files(void **state)
{
	(void)state;
	uint8_t buf[64] = {0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0};
	struct edl_capture_reader r;
	struct edl_capture_packet p = {0};
	struct edl_error err;

	buf[20] = 1; /* Ethernet */
	buf[24 + 8] = 8;
	buf[24 + 12] = 8;
	assert_int_equal(edl_capture_reader_init(&r, buf, 24 + 16 + 8, "eth.pcap", &err), EDL_OK);
	assert_int_equal(edl_capture_reader_next(&r, &p, &err), EDL_E_UNSUPPORTED);
	assert_non_null(strstr(err.detail, "link type 1"));
	assert_int_equal(edl_capture_reader_init(&r, (const uint8_t *)"hello world, not pcap....",
	                                         25, "text", &err),
	                 EDL_E_IO);
	assert_non_null(strstr(err.detail, "not a capture file"));
}

/*
 * A conversation: HELLO / HELLO_RESP / READ_DATA / 1000 image bytes /
 * END_OF_IMAGE / DONE / DONE_RESP / XML configure / ACK / 5000 raw bytes in
 * two transfers / ACK ending with a ZLP. Returns the file in *buf.
 */
static const char *configure =
        "<?xml version=\"1.0\" ?><data><configure MemoryName=\"ufs\" /></data>";
static const char *ack = "<?xml version=\"1.0\" ?><data><response value=\"ACK\" /></data>";

static uint8_t *conversation(size_t *len, uint8_t *image, uint8_t *raw)
{
	struct edl_capture *c = open_capture(0);
	static const uint8_t product[] = {28,  3, 'Q', 0, '_', 0, 'S', 0, 'N', 0, ':', 0, '1', 0,
	                                  'A', 0, '2', 0, 'B', 0, '3', 0, 'C', 0, '4', 0, 'D', 0};
	struct edl_capture_event ctl = {.urb_id = 1,
	                                .type = 'C',
	                                .xfer_type = EDL_CAPTURE_CONTROL,
	                                .endpoint = 0x80,
	                                .devnum = 7,
	                                .bus = 1,
	                                .length = sizeof(product),
	                                .data = product,
	                                .data_len = sizeof(product)};
	static uint8_t ack512[512];

	for (int i = 0; i < 1000; i++)
		image[i] = (uint8_t)(i * 3 + 1);
	for (int i = 0; i < 5000; i++)
		raw[i] = (uint8_t)(i * 5 + 2);
	edl_capture_write(c, &ctl);
	sahara(c, true, EDL_SAHARA_HELLO, 2, 1, 1024);
	sahara(c, false, EDL_SAHARA_HELLO_RESP, 2, 1, 0);
	sahara(c, true, EDL_SAHARA_READ_DATA, 13, 0, 1000);
	bulk(c, false, image, 1000, 0);
	sahara(c, true, EDL_SAHARA_END_OF_IMAGE, 13, 0, 0);
	sahara(c, false, EDL_SAHARA_DONE, 0, 0, 0);
	sahara(c, true, EDL_SAHARA_DONE_RESP, 1, 0, 0);
	bulk(c, false, configure, (uint32_t)strlen(configure), 0);
	bulk(c, true, ack, (uint32_t)strlen(ack), 4096);
	bulk(c, false, raw, 4096, 0);
	bulk(c, false, raw + 4096, 904, 0);
	memset(ack512, ' ', sizeof(ack512));
	memcpy(ack512, ack, strlen(ack));
	bulk(c, true, ack512, 512, 4096); /* ended by a ZLP: shorter than asked */
	return close_and_load(c, len);
}

/* The host side of the conversation as one stream. */
static size_t host_stream(uint8_t *out, const uint8_t *image, const uint8_t *raw)
{
	size_t k = 0;
	uint8_t p[0x30] = {0};

	edl_sahara_put_le32(p, EDL_SAHARA_HELLO_RESP);
	edl_sahara_put_le32(p + 4, 0x30);
	edl_sahara_put_le32(p + 8, 2);
	edl_sahara_put_le32(p + 12, 1);
	memcpy(out + k, p, 0x30);
	k += 0x30;
	memcpy(out + k, image, 1000);
	k += 1000;
	memset(p, 0, sizeof(p));
	edl_sahara_put_le32(p, EDL_SAHARA_DONE);
	edl_sahara_put_le32(p + 4, 8);
	memcpy(out + k, p, 8);
	k += 8;
	memcpy(out + k, configure, strlen(configure));
	k += strlen(configure);
	memcpy(out + k, raw, 5000);
	k += 5000;
	return k;
}

static size_t answers(struct edl_replay *r, struct edl_chunk *got, size_t max)
{
	size_t n = 0;

	while (n < max && edl_replay_next_in(r, &got[n]))
		n++;
	return n;
}

static void test_replay_any_chunking_and_raw_content_match(void **state)
{
	(void)state;
	static uint8_t image[1000], raw[5000], host[8000];
	size_t len, n = 0;
	uint8_t *buf = conversation(&len, image, raw);
	size_t hn = host_stream(host, image, raw);
	const size_t chunkings[] = {1, 7, 48, 512, 4096, 100000};

	for (size_t ci = 0; ci < sizeof(chunkings) / sizeof(chunkings[0]); ci++) {
		struct edl_replay *r;
		struct edl_error err;
		struct edl_chunk got[16];
		uint8_t mine[8000];
		uint32_t serial = 0;

		assert_int_equal(edl_replay_new(&r, buf, len, "conv.pcapng", &err), EDL_OK);
		assert_true(edl_replay_serial(r, &serial));
		assert_int_equal(serial, 0x1a2b3c4d);
		/* Other raw content of the same length: a different image. */
		memcpy(mine, host, hn);
		if (ci % 2) {
			for (size_t i = 0x30; i < 0x30 + 1000; i++)
				mine[i] ^= 0xff;
			for (size_t i = hn - 5000; i < hn; i++)
				mine[i] = (uint8_t)~mine[i];
		}
		/* Only the HELLO before the host writes anything. */
		n = answers(r, got, 16);
		assert_int_equal(n, 1);
		assert_int_equal(edl_sahara_get_le32(got[0].data), EDL_SAHARA_HELLO);
		size_t step = chunkings[ci], off = 0, total = 1;
		while (off < hn) {
			size_t k = hn - off < step ? hn - off : step;
			assert_int_equal(edl_replay_feed(r, mine + off, k), EDL_OK);
			assert_int_equal(edl_replay_feed(r, NULL, 0), EDL_OK); /* a ZLP */
			off += k;
			size_t m = answers(r, got, 16);
			for (size_t i = 0; i < m; i++) {
				/* An answer never comes before the writes recorded before it. */
				uint32_t cmd =
				        got[i].len >= 4 ? edl_sahara_get_le32(got[i].data) : 0;
				if (cmd == EDL_SAHARA_READ_DATA)
					assert_true(off >= 0x30);
				if (cmd == EDL_SAHARA_END_OF_IMAGE)
					assert_true(off >= 0x30 + 1000);
				if (got[i].len == strlen(ack))
					assert_true(off >= 0x30 + 1008 + strlen(configure));
				if (got[i].len == 512) {
					assert_true(off == hn);
					assert_true(got[i].zlp);
				}
			}
			total += m;
		}
		assert_int_equal(total, 6);
		assert_true(edl_replay_finished(r));
		assert_null(edl_replay_report(r));
		edl_replay_free(r);
	}
	free(buf);
}

static void test_replay_reports_the_first_departure(void **state)
{
	(void)state;
	static uint8_t image[1000], raw[5000], host[8000];
	size_t len;
	uint8_t *buf = conversation(&len, image, raw);
	size_t hn = host_stream(host, image, raw);
	struct edl_replay *r;
	struct edl_error err;
	struct edl_chunk ch;
	char want[64];
	size_t bad = 0x30 + 1008 + 40; /* inside the configure document */

	host[bad] = 'X';
	assert_int_equal(edl_replay_new(&r, buf, len, "conv.pcapng", &err), EDL_OK);
	assert_int_equal(edl_replay_feed(r, host, bad - 3), EDL_OK);
	assert_int_equal(edl_replay_feed(r, host + bad - 3, hn - (bad - 3)), EDL_E_INVAL);
	const char *rep = edl_replay_report(r);
	assert_non_null(rep);
	snprintf(want, sizeof(want), "at host byte %zu ", bad);
	assert_non_null(strstr(rep, want));
	assert_non_null(strstr(rep, "conv.pcapng"));
	assert_non_null(strstr(rep, "expected XML"));
	assert_non_null(strstr(rep, "MemoryName=\"ufs\""));
	assert_non_null(strstr(rep, "came "));
	assert_non_null(strstr(rep, "file offset "));
	/* Stopped: no more answers, every later write refused. */
	while (edl_replay_next_in(r, &ch))
		;
	assert_int_equal(edl_replay_feed(r, host, 1), EDL_E_INVAL);
	assert_false(edl_replay_finished(r));
	edl_replay_free(r);

	/* A Sahara packet that differs is named as one. */
	host[bad] = configure[bad - 0x30 - 1008];
	host[8] = 3; /* HELLO_RESP version 3 */
	assert_int_equal(edl_replay_new(&r, buf, len, "conv.pcapng", &err), EDL_OK);
	assert_int_equal(edl_replay_feed(r, host, 0x30), EDL_E_INVAL);
	assert_non_null(strstr(edl_replay_report(r), "at host byte 8 "));
	assert_non_null(strstr(edl_replay_report(r), "expected Sahara HELLO_RESP version 2"));
	assert_non_null(strstr(edl_replay_report(r), "came Sahara HELLO_RESP version 3"));
	edl_replay_free(r);

	/* Writing past the end of the recording. */
	host[8] = 2;
	assert_int_equal(edl_replay_new(&r, buf, len, "conv.pcapng", &err), EDL_OK);
	assert_int_equal(edl_replay_feed(r, host, hn), EDL_OK);
	assert_int_equal(edl_replay_feed(r, (const uint8_t *)"<?xml more", 10), EDL_E_INVAL);
	snprintf(want, sizeof(want), "at host byte %zu: expected nothing more", hn);
	assert_non_null(strstr(edl_replay_report(r), want));
	edl_replay_free(r);
	free(buf);
}

static void test_replay_picks_the_edl_device_of_a_bus_capture(void **state)
{
	(void)state;
	struct edl_capture *c = open_capture(0);
	static uint8_t stick[4096];
	struct edl_capture_event other = {.urb_id = 9,
	                                  .type = 'C',
	                                  .xfer_type = EDL_CAPTURE_BULK,
	                                  .endpoint = 0x82,
	                                  .devnum = 5,
	                                  .bus = 1,
	                                  .length = sizeof(stick),
	                                  .data = stick,
	                                  .data_len = sizeof(stick)};
	struct edl_replay *r;
	struct edl_chunk ch;
	struct edl_error err;
	size_t len;

	memset(stick, 0xee, sizeof(stick));
	edl_capture_write(c, &other); /* a USB stick's read on the same bus, first */
	sahara(c, true, EDL_SAHARA_HELLO, 2, 1, 1024);
	edl_capture_write(c, &other);
	uint8_t *buf = close_and_load(c, &len);
	assert_int_equal(edl_replay_new(&r, buf, len, "bus.pcapng", &err), EDL_OK);
	assert_true(edl_replay_next_in(r, &ch));
	assert_int_equal(ch.len, 0x30);
	assert_int_equal(edl_sahara_get_le32(ch.data), EDL_SAHARA_HELLO);
	assert_false(edl_replay_next_in(r, &ch));
	assert_true(edl_replay_finished(r));
	edl_replay_free(r);
	free(buf);
}

static void test_capture_classify_and_describe(void **state)
{
	(void)state;
	uint8_t p[0x30] = {0};
	char out[160];

	edl_sahara_put_le32(p, EDL_SAHARA_READ_DATA64);
	edl_sahara_put_le32(p + 4, 32);
	edl_sahara_put_le64(p + 8, 13);
	edl_sahara_put_le64(p + 16, 4096);
	edl_sahara_put_le64(p + 24, 1 << 20);
	assert_int_equal(edl_capture_classify(p, 32, 32), EDL_CAPTURE_KIND_SAHARA);
	assert_string_equal(edl_capture_sahara_describe(p, 32, out, sizeof(out)),
	                    "READ_DATA64 image 13 offset 4096 length 1048576");
	/* A length field that is not the transfer's: raw. */
	assert_int_equal(edl_capture_classify(p, 32, 33), EDL_CAPTURE_KIND_RAW);
	assert_int_equal(edl_capture_classify((const uint8_t *)"<?xml", 5, 5),
	                 EDL_CAPTURE_KIND_XML);
	assert_int_equal(edl_capture_classify(NULL, 0, 4096), EDL_CAPTURE_KIND_RAW);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_capture_round_trip_keeps_every_field),
	        cmocka_unit_test(test_capture_bound_elides_raw_keeps_sahara_and_xml),
	        cmocka_unit_test(test_capture_truncated_anywhere_names_the_offset),
	        cmocka_unit_test(test_capture_reads_tcpdump_pcap_189_in_both_byte_orders),
	        cmocka_unit_test(test_capture_rejects_other_link_types_and_files),
	        cmocka_unit_test(test_replay_any_chunking_and_raw_content_match),
	        cmocka_unit_test(test_replay_reports_the_first_departure),
	        cmocka_unit_test(test_replay_picks_the_edl_device_of_a_bus_capture),
	        cmocka_unit_test(test_capture_classify_and_describe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
