/*
 * Tests of the Sahara wire codec and of the host engine fed by hand: every
 * packet round-trips, malformed transfers get their own code and a detail
 * naming the numbers, and the engine's probe, image serving, command mode and
 * failures end in the outcome, code and sentence the station relies on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "edlstation/log.h"
#include "edlstation/sahara.h"

/* ---- codec ---- */

static size_t enc_hello(uint8_t *b, size_t c)
{
	return edl_sahara_encode_hello(b, c, 3, 1, 0x400, 3);
}
static size_t enc_hello_resp(uint8_t *b, size_t c)
{
	return edl_sahara_encode_hello_resp(b, c, 2, 1, 0, 3);
}
static size_t enc_read_data(uint8_t *b, size_t c)
{
	return edl_sahara_encode_read_data(b, c, 0x0d, 0x1000, 0x400);
}
static size_t enc_read_data64(uint8_t *b, size_t c)
{
	return edl_sahara_encode_read_data64(b, c, 0x0d, 0x123456789aull, 0x100000);
}
static size_t enc_end(uint8_t *b, size_t c)
{
	return edl_sahara_encode_end_of_image(b, c, 0x0d, 0x14);
}
static size_t enc_done(uint8_t *b, size_t c)
{
	return edl_sahara_encode_done(b, c);
}
static size_t enc_done_resp(uint8_t *b, size_t c)
{
	return edl_sahara_encode_done_resp(b, c, 1);
}
static size_t enc_reset(uint8_t *b, size_t c)
{
	return edl_sahara_encode_reset(b, c);
}
static size_t enc_reset_resp(uint8_t *b, size_t c)
{
	return edl_sahara_encode_reset_resp(b, c);
}
static size_t enc_mem_debug(uint8_t *b, size_t c)
{
	return edl_sahara_encode_memory_debug(b, c, 0x87654321, 0x200);
}
static size_t enc_mem_read(uint8_t *b, size_t c)
{
	return edl_sahara_encode_memory_read(b, c, 0x80000000, 0x1000);
}
static size_t enc_cmd_ready(uint8_t *b, size_t c)
{
	return edl_sahara_encode_cmd_ready(b, c);
}
static size_t enc_switch(uint8_t *b, size_t c)
{
	return edl_sahara_encode_switch_mode(b, c, 0);
}
static size_t enc_execute(uint8_t *b, size_t c)
{
	return edl_sahara_encode_execute(b, c, 0x0a);
}
static size_t enc_execute_resp(uint8_t *b, size_t c)
{
	return edl_sahara_encode_execute_resp(b, c, 0x03, 96);
}
static size_t enc_execute_data(uint8_t *b, size_t c)
{
	return edl_sahara_encode_execute_data(b, c, 0x07);
}
static size_t enc_mem_debug64(uint8_t *b, size_t c)
{
	return edl_sahara_encode_memory_debug64(b, c, 0x1ffff0000ull, 0x1a0);
}
static size_t enc_mem_read64(uint8_t *b, size_t c)
{
	return edl_sahara_encode_memory_read64(b, c, 0x100000000ull, 0x2000);
}
static size_t enc_rsm(uint8_t *b, size_t c)
{
	return edl_sahara_encode_reset_state_machine(b, c);
}

struct codec_case {
	const char *name;
	uint32_t cmd;
	uint32_t len;
	size_t (*enc)(uint8_t *, size_t);
	uint64_t f[4]; /* expected fields in wire order */
};

static const struct codec_case codec_cases[] = {
        {"HELLO", 0x01, 0x30, enc_hello, {3, 1, 0x400, 3}},
        {"HELLO_RESP", 0x02, 0x30, enc_hello_resp, {2, 1, 0, 3}},
        {"READ_DATA", 0x03, 0x14, enc_read_data, {0x0d, 0x1000, 0x400}},
        {"END_OF_IMAGE", 0x04, 0x10, enc_end, {0x0d, 0x14}},
        {"DONE", 0x05, 0x08, enc_done, {0}},
        {"DONE_RESP", 0x06, 0x0c, enc_done_resp, {1}},
        {"RESET", 0x07, 0x08, enc_reset, {0}},
        {"RESET_RESP", 0x08, 0x08, enc_reset_resp, {0}},
        {"MEMORY_DEBUG", 0x09, 0x10, enc_mem_debug, {0x87654321, 0x200}},
        {"MEMORY_READ", 0x0a, 0x10, enc_mem_read, {0x80000000, 0x1000}},
        {"CMD_READY", 0x0b, 0x08, enc_cmd_ready, {0}},
        {"SWITCH_MODE", 0x0c, 0x0c, enc_switch, {0}},
        {"EXECUTE", 0x0d, 0x0c, enc_execute, {0x0a}},
        {"EXECUTE_RESP", 0x0e, 0x10, enc_execute_resp, {0x03, 96}},
        {"EXECUTE_DATA", 0x0f, 0x0c, enc_execute_data, {0x07}},
        {"MEMORY_DEBUG64", 0x10, 0x18, enc_mem_debug64, {0x1ffff0000ull, 0x1a0}},
        {"MEMORY_READ64", 0x11, 0x18, enc_mem_read64, {0x100000000ull, 0x2000}},
        {"READ_DATA64", 0x12, 0x20, enc_read_data64, {0x0d, 0x123456789aull, 0x100000}},
        {"RESET_STATE_MACHINE", 0x13, 0x08, enc_rsm, {0}},
};

/* The decoded fields of a packet, in wire order. */
static void fields_of(const struct edl_sahara_pkt *p, uint64_t f[4])
{
	memset(f, 0, 4 * sizeof(f[0]));
	switch (p->cmd) {
	case 0x01:
		f[0] = p->u.hello.version, f[1] = p->u.hello.version_compatible;
		f[2] = p->u.hello.max_cmd_len, f[3] = p->u.hello.mode;
		break;
	case 0x02:
		f[0] = p->u.hello_resp.version, f[1] = p->u.hello_resp.version_compatible;
		f[2] = p->u.hello_resp.status, f[3] = p->u.hello_resp.mode;
		break;
	case 0x03:
	case 0x12:
		f[0] = p->u.read_data.image_id, f[1] = p->u.read_data.offset;
		f[2] = p->u.read_data.length;
		break;
	case 0x04:
		f[0] = p->u.end_of_image.image_id, f[1] = p->u.end_of_image.status;
		break;
	case 0x06:
		f[0] = p->u.done_resp.status;
		break;
	case 0x09:
	case 0x0a:
	case 0x10:
	case 0x11:
		f[0] = p->u.mem.addr, f[1] = p->u.mem.len;
		break;
	case 0x0c:
		f[0] = p->u.switch_mode.mode;
		break;
	case 0x0d:
	case 0x0f:
		f[0] = p->u.exec.client_cmd;
		break;
	case 0x0e:
		f[0] = p->u.exec.client_cmd, f[1] = p->u.exec.data_length;
		break;
	}
}

static void test_sahara_encodes_and_decodes_every_packet(void **state)
{
	(void)state;
	uint8_t buf[64];
	struct edl_sahara_pkt pkt;
	struct edl_error err;
	uint64_t f[4];
	size_t i, n;

	for (i = 0; i < sizeof(codec_cases) / sizeof(codec_cases[0]); i++) {
		const struct codec_case *c = &codec_cases[i];

		memset(buf, 0xee, sizeof(buf));
		n = c->enc(buf, sizeof(buf));
		assert_int_equal(n, c->len);
		assert_int_equal(edl_sahara_get_le32(buf), c->cmd);
		assert_int_equal(edl_sahara_get_le32(buf + 4), c->len);
		assert_int_equal(c->enc(buf, c->len - 1), 0); /* too small a buffer */
		edl_error_clear(&err);
		assert_int_equal(edl_sahara_decode(&pkt, buf, n, &err), EDL_OK);
		assert_int_equal(pkt.cmd, c->cmd);
		assert_int_equal(pkt.length, c->len);
		fields_of(&pkt, f);
		assert_memory_equal(f, c->f, sizeof(f));
		assert_string_equal(edl_sahara_cmd_name(c->cmd), c->name);
	}
}

static void test_sahara_encodes_little_endian_bytes(void **state)
{
	(void)state;
	uint8_t buf[32];
	static const uint8_t want[] = {0x03, 0, 0, 0,    0x14, 0, 0,    0,    0x0d, 0,
	                               0,    0, 0, 0x10, 0,    0, 0x00, 0x04, 0,    0};

	assert_int_equal(edl_sahara_encode_read_data(buf, sizeof(buf), 0x0d, 0x1000, 0x400), 20);
	assert_memory_equal(buf, want, sizeof(want));
}

static void test_sahara_rejects_length_mismatch(void **state)
{
	(void)state;
	uint8_t buf[32];
	struct edl_sahara_pkt pkt;
	struct edl_error err;

	edl_sahara_encode_read_data(buf, sizeof(buf), 0x0d, 0, 64);
	edl_sahara_put_le32(buf + 4, 0x18);
	assert_int_equal(edl_sahara_decode(&pkt, buf, 20, &err), EDL_E_SAHARA_LENGTH);
	assert_int_equal(err.code, EDL_E_SAHARA_LENGTH);
	assert_string_equal(err.detail,
	                    "READ_DATA (0x03) length field says 24 bytes, 20 bytes were read");
}

static void test_sahara_rejects_truncated_packets(void **state)
{
	(void)state;
	uint8_t buf[64];
	struct edl_sahara_pkt pkt;
	struct edl_error err;

	assert_int_equal(edl_sahara_encode_hello(buf, sizeof(buf), 2, 1, 0x400, 0), 48);
	assert_int_equal(edl_sahara_decode(&pkt, buf, 5, &err), EDL_E_SAHARA_TRUNCATED);
	assert_string_equal(err.detail, "5 bytes read, a Sahara packet header needs 8");

	/* A READ_DATA whose length field agrees with a 12-byte read lacks its body. */
	edl_sahara_encode_read_data(buf, sizeof(buf), 0x0d, 0, 64);
	edl_sahara_put_le32(buf + 4, 12);
	assert_int_equal(edl_sahara_decode(&pkt, buf, 12, &err), EDL_E_SAHARA_TRUNCATED);
	assert_string_equal(err.detail, "READ_DATA (0x03) is 12 bytes, it needs at least 20");
}

static void test_sahara_rejects_unknown_command_with_firehose_hint(void **state)
{
	(void)state;
	static const char xml[] = "<?xml version=\"1.0\" ?><data><log value=\"x\"/></data>";
	uint8_t buf[16] = {0x99, 0, 0, 0, 0x10, 0, 0, 0};
	struct edl_sahara_pkt pkt;
	struct edl_error err;

	assert_int_equal(edl_sahara_decode(&pkt, buf, 16, &err), EDL_E_SAHARA_UNKNOWN_CMD);
	assert_string_equal(err.detail, "command 0x00000099 (length field 16, 16 bytes read)");
	assert_null(strstr(err.detail, "Firehose"));

	assert_int_equal(edl_sahara_decode(&pkt, (const uint8_t *)xml, sizeof(xml) - 1, &err),
	                 EDL_E_SAHARA_UNKNOWN_CMD);
	assert_int_equal(pkt.cmd, 0x6d783f3c);
	assert_non_null(strstr(err.detail, "0x6d783f3c"));
	assert_non_null(strstr(err.detail, "looks like Firehose XML"));
}

static void test_sahara_names_statuses_by_number(void **state)
{
	(void)state;
	assert_string_equal(edl_sahara_status_name(0), "success");
	assert_string_equal(edl_sahara_status_name(1), "invalid command");
	assert_string_equal(edl_sahara_status_name(2), "protocol mismatch");
	assert_string_equal(edl_sahara_status_name(5), "invalid packet size");
	assert_string_equal(edl_sahara_status_name(0x0b), "invalid rx length");
	assert_string_equal(edl_sahara_status_name(0x14), "invalid ELF header");
	assert_string_equal(edl_sahara_status_name(0x28), "hardware bulk transfer error");
	assert_string_equal(edl_sahara_status_name(0x29), "unknown status");
	assert_string_equal(edl_sahara_status_name(0xffffffffu), "unknown status");
	assert_string_equal(edl_sahara_cmd_name(0), "unknown");
	assert_string_equal(edl_sahara_cmd_name(0x14), "unknown");
	assert_string_equal(edl_sahara_mode_name(3), "command");
}

/* ---- host engine, fed by hand ---- */

static uint8_t image_a[2048];
static uint8_t image_b[300];
static const struct edl_sahara_image images[] = {
        {0x0d, image_a, sizeof(image_a)},
        {0x0e, image_b, sizeof(image_b)},
};

static struct edl_sahara_host *new_host_flush(bool identify, bool upload, size_t n_images,
                                              uint64_t flush_max)
{
	struct edl_sahara_host_config cfg;
	struct edl_sahara_host *h;
	size_t i;

	for (i = 0; i < sizeof(image_a); i++)
		image_a[i] = (uint8_t)(i * 7);
	for (i = 0; i < sizeof(image_b); i++)
		image_b[i] = (uint8_t)(i * 13 + 1);
	edl_sahara_host_config_default(&cfg);
	cfg.identify = identify;
	cfg.upload = upload;
	cfg.images = images;
	cfg.n_images = n_images;
	cfg.flush_max_bytes = flush_max;
	assert_int_equal(edl_sahara_host_new(&h, &cfg), EDL_OK);
	return h;
}

static struct edl_sahara_host *new_host(bool identify, bool upload, size_t n_images)
{
	return new_host_flush(identify, upload, n_images, EDL_SAHARA_FLUSH_DEFAULT);
}

/* Pulls the next chunk and decodes it as a packet of the given command. */
static struct edl_sahara_pkt expect_out(struct edl_sahara_host *h, uint32_t cmd)
{
	struct edl_chunk c;
	struct edl_sahara_pkt pkt;

	assert_true(edl_sahara_host_next_out(h, &c));
	assert_int_equal(edl_sahara_decode(&pkt, c.data, c.len, NULL), EDL_OK);
	assert_int_equal(pkt.cmd, cmd);
	return pkt;
}

static void expect_nothing_out(struct edl_sahara_host *h)
{
	struct edl_chunk c;

	assert_false(edl_sahara_host_next_out(h, &c));
}

#define FEED(h, now, encode_call)                           \
	do {                                                \
		uint8_t pkt_[64];                           \
		size_t n_ = encode_call;                    \
		assert_true(n_ > 0);                        \
		edl_sahara_host_feed((h), pkt_, n_, (now)); \
	} while (0)

static void hello_to_transfer(struct edl_sahara_host *h, uint64_t now, uint32_t version)
{
	struct edl_sahara_pkt p;

	FEED(h, now, edl_sahara_encode_hello(pkt_, sizeof(pkt_), version, 1, 0x400, 0));
	p = expect_out(h, EDL_SAHARA_HELLO_RESP);
	assert_int_equal(p.u.hello_resp.mode, EDL_SAHARA_MODE_IMAGE_TX_PENDING);
	assert_int_equal(p.u.hello_resp.version, 2);
	assert_int_equal(p.u.hello_resp.status, 0);
	assert_int_equal(edl_sahara_host_state(h), EDL_SAHARA_HOST_TRANSFER);
}

static void test_sahara_host_serves_read_data_zero_copy(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(false, true, 1);
	struct edl_chunk c;

	edl_sahara_host_start(h, 0);
	hello_to_transfer(h, 10, 2);
	FEED(h, 20, edl_sahara_encode_read_data(pkt_, sizeof(pkt_), 0x0d, 0x100, 0x40));
	assert_true(edl_sahara_host_next_out(h, &c));
	assert_ptr_equal(c.data, image_a + 0x100);
	assert_int_equal(c.len, 0x40);
	assert_int_equal(edl_sahara_host_deadline(h), 20 + 5000);
	FEED(h, 30, edl_sahara_encode_read_data64(pkt_, sizeof(pkt_), 0x0d, 0, 2048));
	assert_true(edl_sahara_host_next_out(h, &c));
	assert_ptr_equal(c.data, image_a);
	assert_int_equal(c.len, 2048);
	edl_sahara_host_free(h);
}

static void test_sahara_host_rejects_read_outside_image(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(false, true, 1);

	edl_sahara_host_start(h, 0);
	hello_to_transfer(h, 10, 2);
	FEED(h, 20, edl_sahara_encode_read_data(pkt_, sizeof(pkt_), 0x0d, 0x7f0, 0x20));
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_FAILED);
	assert_int_equal(edl_sahara_host_error(h)->code, EDL_E_SAHARA_READ_RANGE);
	assert_string_equal(
	        edl_sahara_host_error(h)->detail,
	        "READ_DATA offset 0x7f0 length 0x20 is outside image 0x0d of 2048 bytes");
	expect_out(h, EDL_SAHARA_RESET); /* the device is told to give up */
	expect_nothing_out(h);
	assert_int_equal(edl_sahara_host_deadline(h), 0);
	edl_sahara_host_free(h);
}

static void test_sahara_host_rejects_read_that_overflows(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(false, true, 1);

	edl_sahara_host_start(h, 0);
	hello_to_transfer(h, 10, 3);
	FEED(h, 20,
	     edl_sahara_encode_read_data64(pkt_, sizeof(pkt_), 0x0d, 0xffffffffffffff00ull, 0x200));
	assert_int_equal(edl_sahara_host_error(h)->code, EDL_E_SAHARA_READ_RANGE);
	assert_string_equal(edl_sahara_host_error(h)->detail,
	                    "READ_DATA64 offset 0xffffffffffffff00 length 0x200 is outside image "
	                    "0x0d of 2048 bytes");
	edl_sahara_host_free(h);
}

static void test_sahara_host_rejects_unknown_image(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(false, true, 2);

	edl_sahara_host_start(h, 0);
	hello_to_transfer(h, 10, 2);
	FEED(h, 20, edl_sahara_encode_read_data(pkt_, sizeof(pkt_), 0x07, 0, 0x40));
	assert_int_equal(edl_sahara_host_error(h)->code, EDL_E_SAHARA_NO_IMAGE);
	assert_string_equal(edl_sahara_host_error(h)->detail,
	                    "READ_DATA asks for image 0x07; the host has image(s) 0x0d, 0x0e");
	edl_sahara_host_free(h);
}

static void test_sahara_host_transfers_two_images_by_id(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(false, true, 2);
	struct edl_chunk c;
	struct edl_sahara_pkt p;

	edl_sahara_host_start(h, 0);
	hello_to_transfer(h, 1, 2);
	FEED(h, 2, edl_sahara_encode_read_data(pkt_, sizeof(pkt_), 0x0d, 0, 16));
	assert_true(edl_sahara_host_next_out(h, &c));
	assert_ptr_equal(c.data, image_a);
	FEED(h, 3, edl_sahara_encode_end_of_image(pkt_, sizeof(pkt_), 0x0d, 0));
	expect_out(h, EDL_SAHARA_DONE);
	FEED(h, 4, edl_sahara_encode_done_resp(pkt_, sizeof(pkt_), 0)); /* pending */
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_RUNNING);
	assert_int_equal(edl_sahara_host_state(h), EDL_SAHARA_HOST_WAIT_HELLO);
	expect_nothing_out(h);

	FEED(h, 5, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 2, 1, 0x400, 0));
	p = expect_out(h, EDL_SAHARA_HELLO_RESP);
	assert_int_equal(p.u.hello_resp.mode, 0);
	FEED(h, 6, edl_sahara_encode_read_data(pkt_, sizeof(pkt_), 0x0e, 4, 8));
	assert_true(edl_sahara_host_next_out(h, &c));
	assert_ptr_equal(c.data, image_b + 4);
	assert_int_equal(c.len, 8);
	FEED(h, 7, edl_sahara_encode_end_of_image(pkt_, sizeof(pkt_), 0x0e, 0));
	expect_out(h, EDL_SAHARA_DONE);
	FEED(h, 8, edl_sahara_encode_done_resp(pkt_, sizeof(pkt_), 1));
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_DONE);
	assert_int_equal(edl_sahara_host_outcome(h), EDL_SAHARA_OUTCOME_PROGRAMMER_LOADED);
	assert_int_equal(edl_sahara_host_error(h)->code, EDL_OK);
	edl_sahara_host_free(h);
}

static void test_sahara_host_fails_on_end_of_image_error(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(false, true, 1);

	edl_sahara_host_start(h, 0);
	hello_to_transfer(h, 1, 2);
	FEED(h, 2, edl_sahara_encode_end_of_image(pkt_, sizeof(pkt_), 0x0d, 0x14));
	assert_int_equal(edl_sahara_host_error(h)->code, EDL_E_SAHARA_END_STATUS);
	assert_string_equal(edl_sahara_host_error(h)->detail,
	                    "device ended image 0x0d with status 0x14 (invalid ELF header)");
	edl_sahara_host_free(h);
}

static void test_sahara_host_rejects_unexpected_packet(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(false, true, 1);

	edl_sahara_host_start(h, 0);
	hello_to_transfer(h, 1, 2);
	FEED(h, 2, edl_sahara_encode_cmd_ready(pkt_, sizeof(pkt_)));
	assert_int_equal(edl_sahara_host_error(h)->code, EDL_E_SAHARA_UNEXPECTED);
	assert_string_equal(edl_sahara_host_error(h)->detail,
	                    "CMD_READY (0x0b) not expected while transferring the image");
	edl_sahara_host_free(h);
}

static void test_sahara_host_reports_decode_errors_mid_protocol(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(false, true, 1);
	uint8_t pkt[32];

	edl_sahara_host_start(h, 0);
	hello_to_transfer(h, 1, 2);
	edl_sahara_encode_read_data(pkt, sizeof(pkt), 0x0d, 0, 64);
	assert_int_equal(edl_sahara_host_feed(h, pkt, 19, 2), EDL_E_SAHARA_LENGTH);
	assert_string_equal(edl_sahara_host_error(h)->detail,
	                    "READ_DATA (0x03) length field says 20 bytes, 19 bytes were read, "
	                    "while transferring the image");
	edl_sahara_host_free(h);
}

static void test_sahara_host_times_out_naming_the_state(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(false, true, 1);

	edl_sahara_host_start(h, 0);
	hello_to_transfer(h, 100, 2);
	assert_int_equal(edl_sahara_host_deadline(h), 5100);
	edl_sahara_host_timeout(h, 5099); /* early: ignored */
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_RUNNING);
	edl_sahara_host_timeout(h, 5100);
	assert_int_equal(edl_sahara_host_error(h)->code, EDL_E_SAHARA_TIMEOUT);
	assert_string_equal(edl_sahara_host_error(h)->detail,
	                    "no answer within 5000 ms while transferring the image");
	edl_sahara_host_free(h);
}

/* ---- the probe ---- */

static void test_sahara_probe_xml_first_means_firehose_running(void **state)
{
	(void)state;
	static const char xml[] = "<?xml version=\"1.0\" encoding=\"UTF-8\" ?><data><log "
	                          "value=\"ERROR: Only nop and sig tag can be recevied before "
	                          "authentication.\"/></data>";
	struct edl_sahara_host *h = new_host(true, true, 1);
	const uint8_t *left;
	size_t n;

	edl_sahara_host_start(h, 1000);
	assert_int_equal(edl_sahara_host_deadline(h), 1500);
	assert_int_equal(edl_sahara_host_feed(h, (const uint8_t *)xml, sizeof(xml) - 1, 1003),
	                 EDL_OK);
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_DONE);
	assert_int_equal(edl_sahara_host_outcome(h), EDL_SAHARA_OUTCOME_FIREHOSE_RUNNING);
	assert_false(edl_sahara_host_probe_sent(h));
	left = edl_sahara_host_leftover(h, &n);
	assert_int_equal(n, sizeof(xml) - 1);
	assert_memory_equal(left, xml, n);
	expect_nothing_out(h);
	edl_sahara_host_free(h);
}

static void test_sahara_probe_silence_then_xml_answer(void **state)
{
	(void)state;
	static const char answer[] =
	        "<?xml version=\"1.0\" encoding=\"UTF-8\" ?><data><response value=\"ACK\" "
	        "/></data>";
	struct edl_sahara_host *h = new_host(true, true, 1);
	struct edl_chunk c;
	const uint8_t *left;
	size_t n;
	uint64_t start = 7000, now;

	edl_sahara_host_start(h, start);
	now = edl_sahara_host_deadline(h);
	assert_int_equal(now, start + 500);
	edl_sahara_host_timeout(h, now);
	assert_true(edl_sahara_host_probe_sent(h));
	assert_true(edl_sahara_host_next_out(h, &c));
	assert_int_equal(c.len, strlen(EDL_SAHARA_PROBE_XML));
	assert_memory_equal(c.data, "<?xml version=\"1.0\" ?><data><nop /></data>", c.len);
	assert_int_equal(edl_sahara_host_deadline(h), now + 1000);

	now += 30; /* the programmer answers within 30 ms */
	edl_sahara_host_feed(h, (const uint8_t *)answer, sizeof(answer) - 1, now);
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_DONE);
	assert_int_equal(edl_sahara_host_outcome(h), EDL_SAHARA_OUTCOME_FIREHOSE_RUNNING);
	assert_true(now <= start + 500 + 30);
	left = edl_sahara_host_leftover(h, &n);
	assert_int_equal(n, sizeof(answer) - 1);
	assert_memory_equal(left, answer, n);
	edl_sahara_host_free(h);
}

/* flush_max_bytes 0: no filler, silence after the probe is a power cycle at once. */
static void test_sahara_probe_total_silence_asks_for_power_cycle(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host_flush(true, true, 1, 0);
	struct edl_chunk c;
	uint64_t start = 1000;

	edl_sahara_host_start(h, start);
	edl_sahara_host_timeout(h, edl_sahara_host_deadline(h));
	assert_true(edl_sahara_host_next_out(h, &c));
	assert_int_equal(edl_sahara_host_deadline(h), start + 500 + 1000);
	edl_sahara_host_timeout(h, edl_sahara_host_deadline(h));
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_FAILED);
	assert_int_equal(edl_sahara_host_error(h)->code, EDL_E_POWER_CYCLE);
	assert_string_equal(edl_sahara_host_error(h)->detail,
	                    "no HELLO within 500 ms and no answer to a probe within 1000 ms: "
	                    "power-cycle the unit");
	assert_int_equal(edl_sahara_host_deadline(h), 0);
	edl_sahara_host_free(h);
}

static void test_sahara_probe_sahara_answer_restarts_state_machine(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(false, true, 1);
	struct edl_chunk c;

	edl_sahara_host_start(h, 0);
	edl_sahara_host_timeout(h, 500);
	assert_true(edl_sahara_host_next_out(h, &c)); /* the probe */
	FEED(h, 510, edl_sahara_encode_end_of_image(pkt_, sizeof(pkt_), 0x0d, 1));
	expect_out(h, EDL_SAHARA_RESET_STATE_MACHINE);
	assert_int_equal(edl_sahara_host_state(h), EDL_SAHARA_HOST_WAIT_HELLO);
	assert_int_equal(edl_sahara_host_deadline(h), 5510);
	hello_to_transfer(h, 520, 2);
	edl_sahara_host_free(h);
}

/* flush_max_bytes 0 tolerates no stray bytes: the first garbage fails at once. */
static void test_sahara_probe_garbage_is_unknown_mode(void **state)
{
	(void)state;
	static const uint8_t junk[] = {0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05};
	struct edl_sahara_host *h = new_host_flush(true, true, 1, 0);

	edl_sahara_host_start(h, 0);
	assert_int_equal(edl_sahara_host_feed(h, junk, sizeof(junk), 5), EDL_E_UNKNOWN_MODE);
	assert_non_null(strstr(edl_sahara_host_error(h)->detail,
	                       "first 10 bytes from the device are neither Sahara nor XML: de ad "
	                       "be ef 00 01 02 03 04 05"));
	edl_sahara_host_free(h);
}

static void test_sahara_host_refuses_memory_dump_mode(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(true, true, 1);

	edl_sahara_host_start(h, 0);
	FEED(h, 5, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 2, 1, 0x400, 2));
	assert_int_equal(edl_sahara_host_error(h)->code, EDL_E_MEMORY_DUMP);
	assert_string_equal(edl_strerror(EDL_E_MEMORY_DUMP), "unit is in memory-dump mode");
	assert_non_null(strstr(edl_sahara_host_error(h)->detail, "unit is in memory-dump mode"));
	expect_nothing_out(h);
	edl_sahara_host_free(h);

	h = new_host(false, true, 1);
	edl_sahara_host_start(h, 0);
	hello_to_transfer(h, 1, 3);
	FEED(h, 2, edl_sahara_encode_memory_debug64(pkt_, sizeof(pkt_), 0x1000, 0x100));
	assert_int_equal(edl_sahara_host_error(h)->code, EDL_E_MEMORY_DUMP);
	edl_sahara_host_free(h);
}

/* ---- command mode by hand: the answers real ROMs give that the emulated one does not ---- */

static void exec_answer(struct edl_sahara_host *h, uint64_t now, uint32_t cmd, const uint8_t *data,
                        size_t len)
{
	struct edl_sahara_pkt p = expect_out(h, EDL_SAHARA_EXECUTE);

	assert_int_equal(p.u.exec.client_cmd, cmd);
	FEED(h, now, edl_sahara_encode_execute_resp(pkt_, sizeof(pkt_), cmd, (uint32_t)len));
	if (len == 0)
		return;
	p = expect_out(h, EDL_SAHARA_EXECUTE_DATA);
	assert_int_equal(p.u.exec.client_cmd, cmd);
	edl_sahara_host_feed(h, data, len, now);
}

static void test_sahara_host_identifies_v3_chip_with_refusals(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(true, false, 0);
	const struct edl_sahara_identity *id;
	uint8_t serial[4], chip[56];
	struct edl_sahara_pkt p;

	edl_sahara_host_start(h, 0);
	FEED(h, 1, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 3, 3, 0x400, 0));
	p = expect_out(h, EDL_SAHARA_HELLO_RESP);
	assert_int_equal(p.u.hello_resp.mode, EDL_SAHARA_MODE_COMMAND);
	assert_int_equal(p.u.hello_resp.version, 3); /* the device accepts nothing older */
	FEED(h, 2, edl_sahara_encode_cmd_ready(pkt_, sizeof(pkt_)));

	edl_sahara_put_le32(serial, 0xcafe0042);
	exec_answer(h, 3, EDL_SAHARA_EXEC_SERIAL, serial, 4);
	memset(chip, 0, sizeof(chip));
	edl_sahara_put_le32(chip + 36, 0x001b80e1);
	edl_sahara_put_le16(chip + 40, 0);      /* oem at 40 is zero ... */
	edl_sahara_put_le16(chip + 42, 0x1234); /* model */
	edl_sahara_put_le16(chip + 44, 0x0051); /* ... so it is taken from 44 */
	exec_answer(h, 4, EDL_SAHARA_EXEC_CHIP_ID_V3, chip, sizeof(chip));
	/* PK hash refused with END_OF_IMAGE (edl #663): command mode ends there,
	 * no SBL version is asked. */
	p = expect_out(h, EDL_SAHARA_EXECUTE);
	assert_int_equal(p.u.exec.client_cmd, EDL_SAHARA_EXEC_PK_HASH);
	FEED(h, 5, edl_sahara_encode_end_of_image(pkt_, sizeof(pkt_), 0x0d, 0x1f));
	p = expect_out(h, EDL_SAHARA_SWITCH_MODE);
	assert_int_equal(p.u.switch_mode.mode, 0);
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_RUNNING);
	FEED(h, 7, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 3, 3, 0x400, 0));
	expect_nothing_out(h); /* identify-only: the fresh HELLO is left for the next job */

	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_DONE);
	assert_int_equal(edl_sahara_host_outcome(h), EDL_SAHARA_OUTCOME_IDENTIFIED);
	id = edl_sahara_host_identity(h);
	assert_int_equal(id->sahara_version, 3);
	assert_true(id->have_serial);
	assert_string_equal(id->serial_hex, "cafe0042");
	assert_true(id->have_hwid);
	assert_int_equal(id->msm_id, 0x001b80e1);
	assert_int_equal(id->oem_id, 0x0051);
	assert_int_equal(id->model_id, 0x1234);
	assert_int_equal(id->hwid, 0x001b80e100511234ull);
	assert_int_equal(id->pk_hash_len, 0);
	assert_false(id->have_sbl_version);
	edl_sahara_host_free(h);
}

static void test_sahara_host_checks_execute_data_length(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(true, true, 1);
	uint8_t serial[4] = {1, 2, 3, 4};

	edl_sahara_host_start(h, 0);
	FEED(h, 1, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 2, 1, 0x400, 0));
	expect_out(h, EDL_SAHARA_HELLO_RESP);
	FEED(h, 2, edl_sahara_encode_cmd_ready(pkt_, sizeof(pkt_)));
	expect_out(h, EDL_SAHARA_EXECUTE);
	FEED(h, 3, edl_sahara_encode_execute_resp(pkt_, sizeof(pkt_), 1, 8));
	expect_out(h, EDL_SAHARA_EXECUTE_DATA);
	assert_int_equal(edl_sahara_host_feed(h, serial, 4, 4), EDL_E_SAHARA_LENGTH);
	assert_string_equal(edl_sahara_host_error(h)->detail,
	                    "answer to EXECUTE 0x01 is 4 bytes, EXECUTE_RESP announced 8");
	edl_sahara_host_free(h);
}

static void test_sahara_host_reset_aborts(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(false, true, 1);

	edl_sahara_host_start(h, 0);
	hello_to_transfer(h, 1, 2);
	assert_int_equal(edl_sahara_host_reset(h), EDL_OK);
	expect_out(h, EDL_SAHARA_RESET);
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_FAILED);
	assert_int_equal(edl_sahara_host_error(h)->code, EDL_E_INTERRUPTED);
	assert_string_equal(edl_sahara_host_error(h)->detail,
	                    "host sent RESET while transferring the image");
	/* The RESET_RESP that follows is ignored. */
	FEED(h, 2, edl_sahara_encode_reset_resp(pkt_, sizeof(pkt_)));
	assert_int_equal(edl_sahara_host_error(h)->code, EDL_E_INTERRUPTED);
	edl_sahara_host_free(h);
}

static void test_sahara_host_new_validates_config(void **state)
{
	(void)state;
	struct edl_sahara_host_config cfg;
	struct edl_sahara_host *h = (struct edl_sahara_host *)&cfg;

	edl_sahara_host_config_default(&cfg);
	assert_true(cfg.identify && cfg.upload);
	assert_int_equal(cfg.hello_wait_ms, 500);
	assert_int_equal(cfg.probe_wait_ms, 1000);
	assert_int_equal(cfg.packet_timeout_ms, 5000);
	assert_int_equal(edl_sahara_host_new(&h, &cfg), EDL_E_INVAL); /* upload, no image */
	assert_null(h);
	assert_string_equal(edl_sahara_host_state_name(EDL_SAHARA_HOST_WAIT_PROBE),
	                    "waiting for the probe answer");
}

/* ---- real-device behaviours (REAL-DEVICES.md) ---- */

/* Lines the engine logged, for the tests that check what it says. */
struct log_capture {
	char text[4096];
};

static void capture_sink(enum edl_log_level level, const char *prefix, const char *line, void *data)
{
	struct log_capture *c = data;
	size_t used = strlen(c->text);

	(void)level;
	(void)prefix;
	snprintf(c->text + used, sizeof(c->text) - used, "%s\n", line);
}

static void attach_log(struct edl_sahara_host *h, struct edl_log *log, struct log_capture *cap)
{
	memset(cap, 0, sizeof(*cap));
	edl_log_init(log);
	log->level = EDL_LOG_DEBUG;
	log->sink = capture_sink;
	log->sink_data = cap;
	edl_sahara_host_set_log(h, log);
}

/* Drives a one-image upload to END_OF_IMAGE success and DONE; returns at WAIT_DONE_RESP. */
static void upload_to_done(struct edl_sahara_host *h, uint64_t now, uint32_t image_id)
{
	struct edl_chunk c;

	hello_to_transfer(h, now, 2);
	FEED(h, now + 1, edl_sahara_encode_read_data(pkt_, sizeof(pkt_), image_id, 0, 0x34));
	assert_true(edl_sahara_host_next_out(h, &c));
	assert_ptr_equal(c.data, image_a);
	FEED(h, now + 2, edl_sahara_encode_end_of_image(pkt_, sizeof(pkt_), image_id, 0));
	expect_out(h, EDL_SAHARA_DONE);
	assert_int_equal(edl_sahara_host_state(h), EDL_SAHARA_HOST_WAIT_DONE_RESP);
}

/* #1: MSM8916 / MDM9x07 answer DONE with "pending" after their only image. */
static void test_sahara_done_pending_after_last_image_is_loaded(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(false, true, 1);

	edl_sahara_host_start(h, 0);
	upload_to_done(h, 10, 0x0d);
	FEED(h, 20, edl_sahara_encode_done_resp(pkt_, sizeof(pkt_), 0));
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_DONE);
	assert_int_equal(edl_sahara_host_outcome(h), EDL_SAHARA_OUTCOME_PROGRAMMER_LOADED);
	assert_int_equal(edl_sahara_host_deadline(h), 0);
	expect_nothing_out(h);
	edl_sahara_host_free(h);
}

/* #1: with two images, pending after the first means "the next HELLO"; after both it
 * means the programmer runs. */
static void test_sahara_done_pending_waits_only_while_images_remain(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(false, true, 2);
	struct edl_chunk c;

	edl_sahara_host_start(h, 0);
	upload_to_done(h, 10, 0x0d);
	FEED(h, 20, edl_sahara_encode_done_resp(pkt_, sizeof(pkt_), 0));
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_RUNNING);
	assert_int_equal(edl_sahara_host_state(h), EDL_SAHARA_HOST_WAIT_HELLO);
	hello_to_transfer(h, 30, 2);
	FEED(h, 31, edl_sahara_encode_read_data(pkt_, sizeof(pkt_), 0x0e, 0, 300));
	assert_true(edl_sahara_host_next_out(h, &c));
	assert_ptr_equal(c.data, image_b);
	FEED(h, 32, edl_sahara_encode_end_of_image(pkt_, sizeof(pkt_), 0x0e, 0));
	expect_out(h, EDL_SAHARA_DONE);
	FEED(h, 33, edl_sahara_encode_done_resp(pkt_, sizeof(pkt_), 0));
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_DONE);
	assert_int_equal(edl_sahara_host_outcome(h), EDL_SAHARA_OUTCOME_PROGRAMMER_LOADED);
	edl_sahara_host_free(h);
}

/* Runs command mode on a v2 ROM answering serial and HW id, then the PK hash with
 * the given bytes; returns the engine after SWITCH_MODE. */
static struct edl_sahara_host *identify_with_pk_answer(const uint8_t *pk, size_t len)
{
	struct edl_sahara_host *h = new_host(true, false, 0);
	uint8_t serial[4], hwid[8];
	struct edl_sahara_pkt p;

	edl_sahara_host_start(h, 0);
	FEED(h, 1, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 2, 1, 0x400, 0));
	p = expect_out(h, EDL_SAHARA_HELLO_RESP);
	assert_int_equal(p.u.hello_resp.mode, EDL_SAHARA_MODE_COMMAND);
	FEED(h, 2, edl_sahara_encode_cmd_ready(pkt_, sizeof(pkt_)));
	edl_sahara_put_le32(serial, 0x7d0f093b); /* edl #732 */
	exec_answer(h, 3, EDL_SAHARA_EXEC_SERIAL, serial, sizeof(serial));
	edl_sahara_put_le64(hwid, 0x000cf0e1000098a9ull);
	exec_answer(h, 4, EDL_SAHARA_EXEC_MSM_HWID, hwid, sizeof(hwid));
	exec_answer(h, 5, EDL_SAHARA_EXEC_PK_HASH, pk, len);
	p = expect_out(h, EDL_SAHARA_SWITCH_MODE); /* no EXECUTE 0x07 */
	assert_int_equal(p.u.switch_mode.mode, 0);
	expect_nothing_out(h);
	return h;
}

static void check_pk(const uint8_t *answer, size_t len, const uint8_t *want, size_t want_len)
{
	struct edl_sahara_host *h = identify_with_pk_answer(answer, len);
	const struct edl_sahara_identity *id = edl_sahara_host_identity(h);
	uint8_t zeros[64] = {0};

	assert_int_equal(id->pk_hash_len, want_len);
	assert_memory_equal(id->pk_hash, want, want_len);
	assert_memory_equal(id->pk_hash + want_len, zeros, sizeof(id->pk_hash) - want_len);
	assert_true(id->have_serial);
	assert_string_equal(id->serial_hex, "7d0f093b");
	assert_int_equal(id->hwid, 0x000cf0e1000098a9ull);
	edl_sahara_host_free(h);
}

/* #7: the shapes real ROMs answer the PK hash with. */
static void test_sahara_pk_hash_shapes_of_real_roms(void **state)
{
	(void)state;
	uint8_t hash[64], ans[144];
	size_t i;

	for (i = 0; i < sizeof(hash); i++)
		hash[i] = (uint8_t)(0x31 + 7 * i);

	/* SDX55 (edl #701): 48 bytes and 96 zeros = 144. */
	memset(ans, 0, sizeof(ans));
	memcpy(ans, hash, 48);
	check_pk(ans, 144, hash, 48);
	/* SHA-256 parts: the hash twice (64). */
	memcpy(ans, hash, 32);
	memcpy(ans + 32, hash, 32);
	check_pk(ans, 64, hash, 32);
	/* SHA-384 twice (96). */
	memcpy(ans, hash, 48);
	memcpy(ans + 48, hash, 48);
	check_pk(ans, 96, hash, 48);
	/* 32 bytes and zeros. */
	memset(ans, 0, sizeof(ans));
	memcpy(ans, hash, 32);
	check_pk(ans, 64, hash, 32);
	check_pk(ans, 144, hash, 32);
	/* SHA-512 twice (128). */
	memcpy(ans, hash, 64);
	memcpy(ans + 64, hash, 64);
	check_pk(ans, 128, hash, 64);
}

/* #7: a hash whose own last bytes are zero keeps them. */
static void test_sahara_pk_hash_ending_in_zero_keeps_its_length(void **state)
{
	(void)state;
	uint8_t hash[48], ans[144];
	size_t i;

	for (i = 0; i < sizeof(hash); i++)
		hash[i] = (uint8_t)(0x80 + i);
	hash[31] = 0; /* SHA-256 hash ending in one zero byte */
	memset(ans, 0, sizeof(ans));
	memcpy(ans, hash, 32);
	memcpy(ans + 32, hash, 32);
	check_pk(ans, 64, hash, 32);
	memset(ans, 0, sizeof(ans));
	memcpy(ans, hash, 32);
	check_pk(ans, 64, hash, 32);

	hash[46] = 0; /* SHA-384 hash ending in two zero bytes, SDX55 shape */
	hash[47] = 0;
	hash[31] = 0x55;
	memset(ans, 0, sizeof(ans));
	memcpy(ans, hash, 48);
	check_pk(ans, 144, hash, 48);
	memcpy(ans + 48, hash, 48); /* and twice */
	check_pk(ans, 96, hash, 48);
}

/* #9: no chunk of a whole session asks for a ZLP, not even 4 KiB READ_DATA answers. */
static void test_sahara_no_chunk_asks_for_zlp(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(true, true, 1);
	uint8_t serial[4] = {1, 2, 3, 4};
	struct edl_chunk c;
	size_t n = 0;

	edl_sahara_host_start(h, 0);
	edl_sahara_host_timeout(h, 500);
	assert_true(edl_sahara_host_next_out(h, &c)); /* the probe */
	assert_false(c.zlp);
	FEED(h, 501, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 2, 1, 0x400, 0));
	assert_true(edl_sahara_host_next_out(h, &c));
	assert_false(c.zlp);
	FEED(h, 502, edl_sahara_encode_cmd_ready(pkt_, sizeof(pkt_)));
	assert_true(edl_sahara_host_next_out(h, &c));
	assert_false(c.zlp);
	FEED(h, 503, edl_sahara_encode_execute_resp(pkt_, sizeof(pkt_), 1, 4));
	assert_true(edl_sahara_host_next_out(h, &c));
	assert_false(c.zlp);
	edl_sahara_host_feed(h, serial, 4, 504);
	FEED(h, 505, edl_sahara_encode_end_of_image(pkt_, sizeof(pkt_), 0x0d, 0x1f));
	while (edl_sahara_host_next_out(h, &c)) /* SWITCH_MODE */
		assert_false(c.zlp);
	FEED(h, 506, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 2, 1, 0x400, 0));
	FEED(h, 507, edl_sahara_encode_read_data(pkt_, sizeof(pkt_), 0x0d, 0, 0x34));
	FEED(h, 508, edl_sahara_encode_read_data(pkt_, sizeof(pkt_), 0x0d, 0x400, 0x400));
	FEED(h, 509, edl_sahara_encode_end_of_image(pkt_, sizeof(pkt_), 0x0d, 0));
	while (edl_sahara_host_next_out(h, &c)) {
		assert_false(c.zlp);
		n++;
	}
	assert_int_equal(n, 4); /* HELLO_RESP, two answers, DONE */
	FEED(h, 510, edl_sahara_encode_done_resp(pkt_, sizeof(pkt_), 1));
	assert_int_equal(edl_sahara_host_outcome(h), EDL_SAHARA_OUTCOME_PROGRAMMER_LOADED);
	edl_sahara_host_free(h);
}

/* #10: the probe crossed the ROM's HELLO; the ROM takes it as junk and says HELLO
 * again while we wait for CMD_READY: a fresh HELLO_RESP, then command mode goes on. */
static void test_sahara_repeated_hello_after_probe_gets_fresh_resp(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(true, true, 1);
	struct edl_log log;
	struct log_capture cap;
	struct edl_sahara_pkt p;
	struct edl_chunk c;

	attach_log(h, &log, &cap);
	edl_sahara_host_start(h, 0);
	edl_sahara_host_timeout(h, 500);
	assert_true(edl_sahara_host_next_out(h, &c)); /* probe */
	FEED(h, 501, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 2, 1, 0x400, 0));
	p = expect_out(h, EDL_SAHARA_HELLO_RESP);
	assert_int_equal(p.u.hello_resp.mode, EDL_SAHARA_MODE_COMMAND);
	assert_int_equal(edl_sahara_host_state(h), EDL_SAHARA_HOST_WAIT_CMD_READY);
	FEED(h, 502, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 2, 1, 0x400, 0));
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_RUNNING);
	p = expect_out(h, EDL_SAHARA_HELLO_RESP);
	assert_int_equal(p.u.hello_resp.mode, EDL_SAHARA_MODE_COMMAND);
	assert_int_equal(p.u.hello_resp.version, 2);
	assert_int_equal(edl_sahara_host_deadline(h), 502 + 5000);
	assert_non_null(strstr(cap.text, "HELLO again while waiting for CMD_READY"));
	FEED(h, 503, edl_sahara_encode_cmd_ready(pkt_, sizeof(pkt_)));
	p = expect_out(h, EDL_SAHARA_EXECUTE);
	assert_int_equal(p.u.exec.client_cmd, EDL_SAHARA_EXEC_SERIAL);
	edl_sahara_host_free(h);
}

/* #10: the same while waiting for the first READ_DATA; after it a HELLO is stale. */
static void test_sahara_repeated_hello_before_first_read_then_discarded(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(false, true, 1);
	struct edl_log log;
	struct log_capture cap;
	struct edl_sahara_pkt p;
	struct edl_chunk c;

	attach_log(h, &log, &cap);
	edl_sahara_host_start(h, 0);
	hello_to_transfer(h, 10, 2);
	FEED(h, 11, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 2, 1, 0x400, 0));
	p = expect_out(h, EDL_SAHARA_HELLO_RESP);
	assert_int_equal(p.u.hello_resp.mode, EDL_SAHARA_MODE_IMAGE_TX_PENDING);
	FEED(h, 12, edl_sahara_encode_read_data(pkt_, sizeof(pkt_), 0x0d, 0, 0x34));
	assert_true(edl_sahara_host_next_out(h, &c));
	assert_ptr_equal(c.data, image_a);
	FEED(h, 13, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 2, 1, 0x400, 0));
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_RUNNING);
	assert_int_equal(edl_sahara_host_state(h), EDL_SAHARA_HOST_TRANSFER);
	expect_nothing_out(h);
	assert_int_equal(edl_sahara_host_deadline(h), 12 + 5000); /* unchanged */
	assert_non_null(
	        strstr(cap.text, "HELLO out of sequence while transferring the image: discarded"));
	FEED(h, 14, edl_sahara_encode_end_of_image(pkt_, sizeof(pkt_), 0x0d, 0));
	expect_out(h, EDL_SAHARA_DONE);
	FEED(h, 15, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 2, 1, 0x400, 0));
	expect_nothing_out(h);
	FEED(h, 16, edl_sahara_encode_done_resp(pkt_, sizeof(pkt_), 1));
	assert_int_equal(edl_sahara_host_outcome(h), EDL_SAHARA_OUTCOME_PROGRAMMER_LOADED);
	edl_sahara_host_free(h);
}

/* #10: a HELLO while an EXECUTE is answered is discarded, command mode goes on. */
static void test_sahara_hello_during_execute_is_discarded(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(true, true, 1);
	uint8_t serial[4] = {0x3b, 0x09, 0x0f, 0x7d};
	struct edl_sahara_pkt p;

	edl_sahara_host_start(h, 0);
	FEED(h, 1, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 2, 1, 0x400, 0));
	expect_out(h, EDL_SAHARA_HELLO_RESP);
	FEED(h, 2, edl_sahara_encode_cmd_ready(pkt_, sizeof(pkt_)));
	expect_out(h, EDL_SAHARA_EXECUTE);
	FEED(h, 3, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 2, 1, 0x400, 0));
	expect_nothing_out(h);
	assert_int_equal(edl_sahara_host_state(h), EDL_SAHARA_HOST_WAIT_EXEC_RESP);
	FEED(h, 4, edl_sahara_encode_execute_resp(pkt_, sizeof(pkt_), 1, 4));
	expect_out(h, EDL_SAHARA_EXECUTE_DATA);
	FEED(h, 5, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 2, 1, 0x400, 0));
	expect_nothing_out(h);
	assert_int_equal(edl_sahara_host_state(h), EDL_SAHARA_HOST_WAIT_EXEC_DATA);
	edl_sahara_host_feed(h, serial, 4, 6);
	p = expect_out(h, EDL_SAHARA_EXECUTE);
	assert_int_equal(p.u.exec.client_cmd, EDL_SAHARA_EXEC_MSM_HWID);
	assert_string_equal(edl_sahara_host_identity(h)->serial_hex, "7d0f093b");
	edl_sahara_host_free(h);
}

/* #10: a ROM that never takes our HELLO_RESP is given up after 4 fresh answers. */
static void test_sahara_repeated_hello_is_bounded(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(false, true, 1);
	int i;

	edl_sahara_host_start(h, 0);
	hello_to_transfer(h, 1, 2);
	for (i = 0; i < 4; i++) {
		FEED(h, 2 + i, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 2, 1, 0x400, 0));
		expect_out(h, EDL_SAHARA_HELLO_RESP);
		assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_RUNNING);
	}
	FEED(h, 9, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 2, 1, 0x400, 0));
	expect_nothing_out(h);
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_FAILED);
	assert_int_equal(edl_sahara_host_error(h)->code, EDL_E_SAHARA_UNEXPECTED);
	assert_string_equal(edl_sahara_host_error(h)->detail,
	                    "device sent HELLO 5 times in a row while transferring the image: "
	                    "it never takes our HELLO_RESP");
	edl_sahara_host_free(h);
}

/* #10 / edl: SWITCH_MODE(0) is answered with a fresh HELLO, and the upload follows. */
static void test_sahara_identify_then_upload_after_switch_mode_hello(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(true, true, 1);
	uint8_t serial[4] = {0x0d, 0xf0, 0xad, 0x0b}, hwid[8], pk[64];
	struct edl_sahara_pkt p;
	struct edl_chunk c;

	memset(pk, 0x5a, sizeof(pk));
	edl_sahara_put_le64(hwid, 0x009600e100000000ull);
	edl_sahara_host_start(h, 0);
	FEED(h, 1, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 2, 1, 0x400, 0));
	expect_out(h, EDL_SAHARA_HELLO_RESP);
	FEED(h, 2, edl_sahara_encode_cmd_ready(pkt_, sizeof(pkt_)));
	exec_answer(h, 3, EDL_SAHARA_EXEC_SERIAL, serial, 4);
	exec_answer(h, 4, EDL_SAHARA_EXEC_MSM_HWID, hwid, 8);
	exec_answer(h, 5, EDL_SAHARA_EXEC_PK_HASH, pk, 64);
	p = expect_out(h, EDL_SAHARA_SWITCH_MODE);
	assert_int_equal(p.u.switch_mode.mode, EDL_SAHARA_MODE_IMAGE_TX_PENDING);
	FEED(h, 6, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 2, 1, 0x400, 0));
	p = expect_out(h, EDL_SAHARA_HELLO_RESP);
	assert_int_equal(p.u.hello_resp.mode, EDL_SAHARA_MODE_IMAGE_TX_PENDING);
	/* The ROM repeats its HELLO once more before reading: answered again, in mode 0. */
	FEED(h, 7, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 2, 1, 0x400, 0));
	p = expect_out(h, EDL_SAHARA_HELLO_RESP);
	assert_int_equal(p.u.hello_resp.mode, EDL_SAHARA_MODE_IMAGE_TX_PENDING);
	FEED(h, 8, edl_sahara_encode_read_data(pkt_, sizeof(pkt_), 0x0d, 0, 0x34));
	assert_true(edl_sahara_host_next_out(h, &c));
	assert_ptr_equal(c.data, image_a);
	FEED(h, 9, edl_sahara_encode_end_of_image(pkt_, sizeof(pkt_), 0x0d, 0));
	expect_out(h, EDL_SAHARA_DONE);
	FEED(h, 10, edl_sahara_encode_done_resp(pkt_, sizeof(pkt_), 1));
	assert_int_equal(edl_sahara_host_outcome(h), EDL_SAHARA_OUTCOME_PROGRAMMER_LOADED);
	assert_string_equal(edl_sahara_host_identity(h)->serial_hex, "0badf00d");
	assert_int_equal(edl_sahara_host_identity(h)->msm_id, 0x009600e1);
	assert_int_equal(edl_sahara_host_identity(h)->pk_hash_len, 32);
	edl_sahara_host_free(h);
}

/* #16: SDX7x v3 answers the serial in 8 bytes (serial + chip id, edl #663). */
static void test_sahara_serial_of_eight_bytes(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(true, false, 0);
	static const uint8_t serial8[8] = {0x58, 0x7a, 0x6b, 0x6a, 0x43, 0x04, 0x00, 0x00};
	struct edl_sahara_pkt p;

	edl_sahara_host_start(h, 0);
	FEED(h, 1, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 3, 1, 0x400, 0));
	expect_out(h, EDL_SAHARA_HELLO_RESP);
	FEED(h, 2, edl_sahara_encode_cmd_ready(pkt_, sizeof(pkt_)));
	exec_answer(h, 3, EDL_SAHARA_EXEC_SERIAL, serial8, sizeof(serial8));
	p = expect_out(h, EDL_SAHARA_EXECUTE);
	assert_int_equal(p.u.exec.client_cmd, EDL_SAHARA_EXEC_CHIP_ID_V3);
	assert_true(edl_sahara_host_identity(h)->have_serial);
	assert_string_equal(edl_sahara_host_identity(h)->serial_hex, "6a6b7a58");
	edl_sahara_host_free(h);
}

/* #16: SDM845 answers the HW id in 24 bytes (edl #398 EXECUTE_RESP ...02000000 18000000). */
static void test_sahara_hwid_of_twenty_four_bytes(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(true, false, 0);
	static const uint8_t resp[16] = {0x0e, 0, 0, 0, 0x10, 0, 0, 0,
	                                 0x02, 0, 0, 0, 0x18, 0, 0, 0};
	uint8_t serial[4] = {1, 2, 3, 4}, hwid[24];
	struct edl_sahara_pkt p;

	memset(hwid, 0, sizeof(hwid));
	edl_sahara_put_le64(hwid, 0x0008b0e100000000ull);
	memset(hwid + 8, 0xab, 16);
	edl_sahara_host_start(h, 0);
	FEED(h, 1, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 2, 1, 0x400, 0));
	expect_out(h, EDL_SAHARA_HELLO_RESP);
	FEED(h, 2, edl_sahara_encode_cmd_ready(pkt_, sizeof(pkt_)));
	exec_answer(h, 3, EDL_SAHARA_EXEC_SERIAL, serial, 4);
	p = expect_out(h, EDL_SAHARA_EXECUTE);
	assert_int_equal(p.u.exec.client_cmd, EDL_SAHARA_EXEC_MSM_HWID);
	edl_sahara_host_feed(h, resp, sizeof(resp), 4);
	expect_out(h, EDL_SAHARA_EXECUTE_DATA);
	edl_sahara_host_feed(h, hwid, sizeof(hwid), 5);
	p = expect_out(h, EDL_SAHARA_EXECUTE);
	assert_int_equal(p.u.exec.client_cmd, EDL_SAHARA_EXEC_PK_HASH);
	assert_true(edl_sahara_host_identity(h)->have_hwid);
	assert_int_equal(edl_sahara_host_identity(h)->msm_id, 0x0008b0e1);
	assert_int_equal(edl_sahara_host_identity(h)->hwid, 0x0008b0e100000000ull);
	edl_sahara_host_free(h);
}

/* #16: an EXECUTE_RESP of length 0 ends command mode at once with what was learnt. */
static void test_sahara_zero_length_refusal_ends_command_mode(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(true, false, 0);
	uint8_t serial[4] = {0x44, 0x33, 0x22, 0x11};
	struct edl_sahara_pkt p;

	edl_sahara_host_start(h, 0);
	FEED(h, 1, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 2, 1, 0x400, 0));
	expect_out(h, EDL_SAHARA_HELLO_RESP);
	FEED(h, 2, edl_sahara_encode_cmd_ready(pkt_, sizeof(pkt_)));
	exec_answer(h, 3, EDL_SAHARA_EXEC_SERIAL, serial, 4);
	exec_answer(h, 4, EDL_SAHARA_EXEC_MSM_HWID, NULL, 0); /* refused */
	p = expect_out(h, EDL_SAHARA_SWITCH_MODE);            /* no PK hash asked */
	assert_int_equal(p.u.switch_mode.mode, 0);
	expect_nothing_out(h);
	FEED(h, 5, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 2, 1, 0x400, 0));
	assert_int_equal(edl_sahara_host_outcome(h), EDL_SAHARA_OUTCOME_IDENTIFIED);
	assert_string_equal(edl_sahara_host_identity(h)->serial_hex, "11223344");
	assert_false(edl_sahara_host_identity(h)->have_hwid);
	edl_sahara_host_free(h);
}

/* #16 XBL: a refused EXECUTE leaves only RESET; SWITCH_MODE gets END_OF_IMAGE too:
 * RESET and REENUMERATE, identity kept. */
static void test_sahara_xbl_refusal_resets_and_reenumerates(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(true, true, 1);
	struct edl_log log;
	struct log_capture cap;
	uint8_t serial[4] = {0x78, 0x56, 0x34, 0x12};

	attach_log(h, &log, &cap);
	edl_sahara_host_start(h, 0);
	FEED(h, 1, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 2, 1, 0x400, 0));
	expect_out(h, EDL_SAHARA_HELLO_RESP);
	FEED(h, 2, edl_sahara_encode_cmd_ready(pkt_, sizeof(pkt_)));
	exec_answer(h, 3, EDL_SAHARA_EXEC_SERIAL, serial, 4);
	expect_out(h, EDL_SAHARA_EXECUTE); /* HW id */
	FEED(h, 4, edl_sahara_encode_end_of_image(pkt_, sizeof(pkt_), 0, 0x1f));
	expect_out(h, EDL_SAHARA_SWITCH_MODE);
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_RUNNING);
	FEED(h, 5, edl_sahara_encode_end_of_image(pkt_, sizeof(pkt_), 0, 0x01));
	expect_out(h, EDL_SAHARA_RESET);
	expect_nothing_out(h);
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_DONE);
	assert_int_equal(edl_sahara_host_outcome(h), EDL_SAHARA_OUTCOME_REENUMERATE);
	assert_int_equal(edl_sahara_host_error(h)->code, EDL_OK);
	assert_string_equal(edl_sahara_host_identity(h)->serial_hex, "12345678");
	assert_non_null(strstr(cap.text, "refused EXECUTE 0x02: status 0x1f"));
	assert_non_null(strstr(cap.text, "answered SWITCH_MODE with END_OF_IMAGE"));
	edl_sahara_host_free(h);
}

/* #11: a ROM without a RESET_STATE_MACHINE handler answers it END_OF_IMAGE. */
static void test_sahara_no_reset_state_machine_handler_reenumerates(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(true, true, 1);
	struct edl_log log;
	struct log_capture cap;
	struct edl_chunk c;

	attach_log(h, &log, &cap);
	edl_sahara_host_start(h, 0);
	edl_sahara_host_timeout(h, 500);
	assert_true(edl_sahara_host_next_out(h, &c)); /* probe */
	/* The real ROM's answer to a Firehose host: 04 00 00 00 10 00 00 00 ... */
	FEED(h, 501, edl_sahara_encode_end_of_image(pkt_, sizeof(pkt_), 0, 0x01));
	expect_out(h, EDL_SAHARA_RESET_STATE_MACHINE);
	FEED(h, 502, edl_sahara_encode_end_of_image(pkt_, sizeof(pkt_), 0, 0x01));
	expect_out(h, EDL_SAHARA_RESET);
	expect_nothing_out(h);
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_DONE);
	assert_int_equal(edl_sahara_host_outcome(h), EDL_SAHARA_OUTCOME_REENUMERATE);
	assert_non_null(strstr(cap.text, "the ROM has no RESET_STATE_MACHINE handler"));
	edl_sahara_host_free(h);
}

/* #14: with one image the ROM's id does not matter: 7 (NPRG9x55), 21 (AG35 sbl1). */
static void test_sahara_single_image_served_for_any_id(void **state)
{
	(void)state;
	static const uint32_t ids[] = {0x07, 0x15, 0x0d, 0x0c};
	struct edl_sahara_host *h;
	struct edl_log log;
	struct log_capture cap;
	struct edl_chunk c;
	char want[64];
	size_t i;

	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		h = new_host(false, true, 1);
		attach_log(h, &log, &cap);
		edl_sahara_host_start(h, 0);
		hello_to_transfer(h, 1, 2);
		FEED(h, 2, edl_sahara_encode_read_data(pkt_, sizeof(pkt_), ids[i], 0x10, 0x20));
		assert_true(edl_sahara_host_next_out(h, &c));
		assert_ptr_equal(c.data, image_a + 0x10);
		assert_int_equal(c.len, 0x20);
		snprintf(want, sizeof(want), "device asks for image id 0x%02x", ids[i]);
		assert_non_null(strstr(cap.text, want));
		FEED(h, 3, edl_sahara_encode_end_of_image(pkt_, sizeof(pkt_), ids[i], 0));
		expect_out(h, EDL_SAHARA_DONE);
		FEED(h, 4, edl_sahara_encode_done_resp(pkt_, sizeof(pkt_), 0)); /* MDM9x07 */
		assert_int_equal(edl_sahara_host_outcome(h), EDL_SAHARA_OUTCOME_PROGRAMMER_LOADED);
		edl_sahara_host_free(h);
	}
}

/* Probe sent at 500 and unanswered at 1500: the engine is flushing. */
static struct edl_sahara_host *to_flush(uint64_t flush_max)
{
	struct edl_sahara_host *h = new_host_flush(true, true, 1, flush_max);
	struct edl_chunk c;

	edl_sahara_host_start(h, 0);
	edl_sahara_host_timeout(h, 500);
	assert_true(edl_sahara_host_next_out(h, &c));
	assert_memory_equal(c.data, EDL_SAHARA_PROBE_XML, c.len);
	assert_false(edl_sahara_host_next_out(h, &c)); /* no filler before the probe times out */
	edl_sahara_host_timeout(h, 1500);
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_RUNNING);
	assert_int_equal(edl_sahara_host_state(h), EDL_SAHARA_HOST_WAIT_FLUSH);
	return h;
}

static void check_filler(const struct edl_chunk *c, size_t len)
{
	static const uint8_t zeros[4096];
	size_t off;

	assert_int_equal(c->len, len);
	assert_false(c->zlp);
	for (off = 0; off < len; off += sizeof(zeros))
		assert_memory_equal(c->data + off, zeros,
		                    len - off < sizeof(zeros) ? len - off : sizeof(zeros));
}

/* #8: a programmer mid-<program> swallowed the probe; filler completes its range and
 * its XML answer means FIREHOSE_RUNNING. */
static void test_sahara_flush_finds_programmer_mid_raw_data(void **state)
{
	(void)state;
	static const char ack[] = "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n<response "
	                          "value=\"ACK\" rawmode=\"false\" /></data>";
	struct edl_sahara_host *h = to_flush(EDL_SAHARA_FLUSH_DEFAULT);
	struct edl_chunk c[3];
	const uint8_t *left;
	size_t n;

	/* The driver keeps three chunks in flight. */
	assert_true(edl_sahara_host_next_out(h, &c[0]));
	assert_true(edl_sahara_host_next_out(h, &c[1]));
	assert_true(edl_sahara_host_next_out(h, &c[2]));
	check_filler(&c[0], 1 << 20);
	check_filler(&c[2], 1 << 20);
	assert_ptr_equal(c[0].data, c[1].data); /* one buffer */
	assert_int_equal(edl_sahara_host_flushed(h), 3 << 20);
	edl_sahara_host_feed(h, (const uint8_t *)ack, sizeof(ack) - 1, 1700);
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_DONE);
	assert_int_equal(edl_sahara_host_outcome(h), EDL_SAHARA_OUTCOME_FIREHOSE_RUNNING);
	left = edl_sahara_host_leftover(h, &n);
	assert_int_equal(n, sizeof(ack) - 1);
	assert_memory_equal(left, ack, n);
	assert_false(edl_sahara_host_next_out(h, &c[0])); /* no more filler */
	assert_int_equal(edl_sahara_host_flushed(h), 3 << 20);
	edl_sahara_host_free(h);
}

/* #8: the deadline does not fire while filler is still to be pulled; after the last
 * chunk, silence for probe_wait_ms is a power cycle naming what was tried. */
static void test_sahara_flush_silence_asks_for_power_cycle(void **state)
{
	(void)state;
	struct edl_sahara_host *h = to_flush(EDL_SAHARA_FLUSH_DEFAULT);
	struct edl_chunk c;
	uint64_t now = 1500;
	size_t chunks = 0;

	assert_int_equal(edl_sahara_host_deadline(h), 2500);
	/* A slow driver: the deadline passes before anything was pulled. */
	edl_sahara_host_timeout(h, 2500);
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_RUNNING);
	assert_int_equal(edl_sahara_host_deadline(h), 3500);
	now = 3500;
	while (edl_sahara_host_next_out(h, &c)) {
		check_filler(&c, 1 << 20);
		chunks++;
		now += 1000; /* each transfer takes as long as the wait */
		edl_sahara_host_timeout(h, now);
		assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_RUNNING);
	}
	assert_int_equal(chunks, 16);
	assert_int_equal(edl_sahara_host_flushed(h), 16 << 20);
	/* The answer wait counts from the call after the last chunk was pulled. */
	assert_int_equal(edl_sahara_host_deadline(h), now + 1000);
	edl_sahara_host_timeout(h, now + 999);
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_RUNNING);
	edl_sahara_host_timeout(h, now + 1000);
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_FAILED);
	assert_int_equal(edl_sahara_host_error(h)->code, EDL_E_POWER_CYCLE);
	assert_string_equal(edl_sahara_host_error(h)->detail,
	                    "no HELLO within 500 ms, no answer to the probe or to 16 MiB of "
	                    "filler within 1000 ms: power-cycle the unit");
	edl_sahara_host_free(h);
}

/* #8: a smaller flush ends in a short last chunk. */
static void test_sahara_flush_last_chunk_is_short(void **state)
{
	(void)state;
	struct edl_sahara_host *h = to_flush((1 << 20) + 1000);
	struct edl_chunk c;

	assert_true(edl_sahara_host_next_out(h, &c));
	check_filler(&c, 1 << 20);
	assert_true(edl_sahara_host_next_out(h, &c));
	check_filler(&c, 1000);
	assert_false(edl_sahara_host_next_out(h, &c));
	edl_sahara_host_timeout(h, 2000); /* stamps the answer wait */
	edl_sahara_host_timeout(h, 3000);
	assert_int_equal(edl_sahara_host_error(h)->code, EDL_E_POWER_CYCLE);
	assert_non_null(strstr(edl_sahara_host_error(h)->detail, "to 1049576 bytes of filler"));
	edl_sahara_host_free(h);
}

/* #8 / #10: a boot ROM waiting for HELLO_RESP takes the filler as junk and says HELLO. */
static void test_sahara_flush_answered_by_hello(void **state)
{
	(void)state;
	struct edl_sahara_host *h = to_flush(EDL_SAHARA_FLUSH_DEFAULT);
	struct edl_sahara_pkt p;
	struct edl_chunk c;

	assert_true(edl_sahara_host_next_out(h, &c));
	FEED(h, 1600, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 2, 1, 0x400, 0));
	p = expect_out(h, EDL_SAHARA_HELLO_RESP);
	assert_int_equal(p.u.hello_resp.mode, EDL_SAHARA_MODE_COMMAND);
	expect_nothing_out(h); /* filler stops */
	assert_int_equal(edl_sahara_host_flushed(h), 1 << 20);
	FEED(h, 1601, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 2, 1, 0x400, 0));
	expect_out(h, EDL_SAHARA_HELLO_RESP);
	FEED(h, 1602, edl_sahara_encode_cmd_ready(pkt_, sizeof(pkt_)));
	expect_out(h, EDL_SAHARA_EXECUTE);
	edl_sahara_host_free(h);
}

/* #8: a programmer left mid-<read> streams sector bytes, then its final response. The
 * bytes arrive whole and in 1-byte pieces; the response may share their last transfer. */
static void test_sahara_mid_read_sectors_then_xml_is_firehose(void **state)
{
	(void)state;
	static const char nak[] = "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n<response "
	                          "value=\"NAK\" rawmode=\"false\" /></data>";
	uint8_t sectors[4096], tail[600];
	struct edl_sahara_host *h;
	const uint8_t *left;
	struct edl_chunk c;
	size_t i, n;

	for (i = 0; i < sizeof(sectors); i++)
		sectors[i] = (uint8_t)(0x90 ^ i);
	/* Whole transfers, before and after the probe. */
	h = new_host(true, true, 1);
	edl_sahara_host_start(h, 0);
	assert_int_equal(edl_sahara_host_feed(h, sectors, sizeof(sectors), 10), EDL_OK);
	edl_sahara_host_timeout(h, 500);
	assert_true(edl_sahara_host_next_out(h, &c)); /* the probe still goes out */
	assert_int_equal(edl_sahara_host_feed(h, sectors, sizeof(sectors), 510), EDL_OK);
	assert_int_equal(edl_sahara_host_discarded(h), 8192);
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_RUNNING);
	edl_sahara_host_feed(h, (const uint8_t *)nak, sizeof(nak) - 1, 520);
	assert_int_equal(edl_sahara_host_outcome(h), EDL_SAHARA_OUTCOME_FIREHOSE_RUNNING);
	left = edl_sahara_host_leftover(h, &n);
	assert_int_equal(n, sizeof(nak) - 1);
	assert_memory_equal(left, nak, n);
	edl_sahara_host_free(h);

	/* 1-byte pieces (byte 172 is a lone '<', not XML), then the last sectors and the
	 * response in one transfer. */
	h = new_host(true, true, 1);
	edl_sahara_host_start(h, 0);
	for (i = 0; i < 300; i++)
		assert_int_equal(edl_sahara_host_feed(h, sectors + i, 1, 10 + i / 100), EDL_OK);
	memcpy(tail, sectors, 200);
	memcpy(tail + 200, nak, sizeof(nak) - 1);
	edl_sahara_host_feed(h, tail, 200 + sizeof(nak) - 1, 20);
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_DONE);
	assert_int_equal(edl_sahara_host_outcome(h), EDL_SAHARA_OUTCOME_FIREHOSE_RUNNING);
	assert_int_equal(edl_sahara_host_discarded(h), 500);
	left = edl_sahara_host_leftover(h, &n);
	assert_int_equal(n, sizeof(nak) - 1);
	assert_memory_equal(left, nak, n);
	edl_sahara_host_free(h);
}

/* #8: garbage that never turns into XML is UNKNOWN_MODE when the probe wait ends,
 * naming the first bytes. */
static void test_sahara_garbage_without_xml_is_unknown_mode(void **state)
{
	(void)state;
	static const uint8_t junk[] = {0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05};
	struct edl_sahara_host *h = new_host(true, true, 1);
	struct edl_chunk c;

	edl_sahara_host_start(h, 0);
	assert_int_equal(edl_sahara_host_feed(h, junk, sizeof(junk), 5), EDL_OK);
	assert_int_equal(edl_sahara_host_feed(h, junk, 3, 6), EDL_OK);
	edl_sahara_host_timeout(h, 500);
	assert_true(edl_sahara_host_next_out(h, &c));
	edl_sahara_host_timeout(h, 1500);
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_FAILED);
	assert_int_equal(edl_sahara_host_error(h)->code, EDL_E_UNKNOWN_MODE);
	assert_string_equal(edl_sahara_host_error(h)->detail,
	                    "first 10 bytes from the device are neither Sahara nor XML: de ad be "
	                    "ef 00 01 02 03 04 05 (command 0xefbeadde (length field 50462976, 10 "
	                    "bytes read)); 13 bytes in all, no Firehose XML followed within 1000 "
	                    "ms of the probe");
	assert_int_equal(edl_sahara_host_flushed(h), 0); /* not silent: no filler */
	edl_sahara_host_free(h);
}

/* #8: garbage beyond flush_max_bytes fails at once. */
static void test_sahara_garbage_is_bounded_by_flush_max(void **state)
{
	(void)state;
	static uint8_t junk[3000];
	struct edl_sahara_host *h = new_host_flush(true, true, 1, 5000);

	memset(junk, 0xa5, sizeof(junk));
	edl_sahara_host_start(h, 0);
	assert_int_equal(edl_sahara_host_feed(h, junk, sizeof(junk), 5), EDL_OK);
	assert_int_equal(edl_sahara_host_feed(h, junk, sizeof(junk), 6), EDL_E_UNKNOWN_MODE);
	assert_non_null(
	        strstr(edl_sahara_host_error(h)->detail,
	               "first 3000 bytes from the device are neither Sahara nor XML: a5 a5"));
	assert_non_null(
	        strstr(edl_sahara_host_error(h)->detail, "6000 bytes in all, more than the 5000"));
	edl_sahara_host_free(h);
}

/* A refused serial still fails: there is no unit to record, and re-enumerating
 * would only meet the same refusal. */
static void test_sahara_refused_serial_fails(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(true, true, 1);

	edl_sahara_host_start(h, 0);
	FEED(h, 1, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 2, 1, 0x400, 0));
	expect_out(h, EDL_SAHARA_HELLO_RESP);
	FEED(h, 2, edl_sahara_encode_cmd_ready(pkt_, sizeof(pkt_)));
	expect_out(h, EDL_SAHARA_EXECUTE);
	FEED(h, 3, edl_sahara_encode_end_of_image(pkt_, sizeof(pkt_), 0, 0x1f));
	expect_nothing_out(h);
	assert_int_equal(edl_sahara_host_error(h)->code, EDL_E_SAHARA_EXEC);
	assert_string_equal(edl_sahara_host_error(h)->detail,
	                    "device refused EXECUTE 0x01 (serial number): status 0x1f (command not "
	                    "supported)");
	edl_sahara_host_free(h);
}

/* The refusal is recorded, and skip_exec_mask keeps the next attempt from asking it
 * (an XBL unit would otherwise re-enumerate for ever). */
static void test_sahara_refused_item_recorded_and_skipped_next_time(void **state)
{
	(void)state;
	struct edl_sahara_host_config cfg;
	struct edl_sahara_host *h = new_host(true, false, 0);
	uint8_t serial[4] = {1, 0, 0, 0}, chip[48];
	struct edl_sahara_pkt p;

	edl_sahara_host_start(h, 0);
	FEED(h, 1, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 3, 1, 0x400, 0));
	expect_out(h, EDL_SAHARA_HELLO_RESP);
	FEED(h, 2, edl_sahara_encode_cmd_ready(pkt_, sizeof(pkt_)));
	exec_answer(h, 3, EDL_SAHARA_EXEC_SERIAL, serial, 4);
	memset(chip, 0, sizeof(chip));
	exec_answer(h, 4, EDL_SAHARA_EXEC_CHIP_ID_V3, chip, sizeof(chip));
	expect_out(h, EDL_SAHARA_EXECUTE);
	FEED(h, 5, edl_sahara_encode_execute_resp(pkt_, sizeof(pkt_), 3, 0));
	expect_out(h, EDL_SAHARA_SWITCH_MODE);
	assert_int_equal(edl_sahara_host_identity(h)->refused_exec, EDL_SAHARA_EXEC_PK_HASH);
	assert_int_equal(edl_sahara_host_identity(h)->refused_status,
	                 EDL_SAHARA_STATUS_EXEC_CMD_UNSUPPORTED);
	edl_sahara_host_free(h);

	edl_sahara_host_config_default(&cfg);
	cfg.upload = false;
	cfg.skip_exec_mask = (1u << EDL_SAHARA_EXEC_PK_HASH) | (1u << EDL_SAHARA_EXEC_SERIAL);
	assert_int_equal(edl_sahara_host_new(&h, &cfg), EDL_OK);
	edl_sahara_host_start(h, 0);
	FEED(h, 1, edl_sahara_encode_hello(pkt_, sizeof(pkt_), 3, 1, 0x400, 0));
	expect_out(h, EDL_SAHARA_HELLO_RESP);
	FEED(h, 2, edl_sahara_encode_cmd_ready(pkt_, sizeof(pkt_)));
	exec_answer(h, 3, EDL_SAHARA_EXEC_SERIAL, serial, 4); /* the serial is always asked */
	exec_answer(h, 4, EDL_SAHARA_EXEC_CHIP_ID_V3, chip, sizeof(chip));
	p = expect_out(h, EDL_SAHARA_SWITCH_MODE); /* no PK hash */
	assert_int_equal(p.u.switch_mode.mode, 0);
	assert_int_equal(edl_sahara_host_identity(h)->refused_exec, 0);
	edl_sahara_host_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_sahara_encodes_and_decodes_every_packet),
	        cmocka_unit_test(test_sahara_encodes_little_endian_bytes),
	        cmocka_unit_test(test_sahara_rejects_length_mismatch),
	        cmocka_unit_test(test_sahara_rejects_truncated_packets),
	        cmocka_unit_test(test_sahara_rejects_unknown_command_with_firehose_hint),
	        cmocka_unit_test(test_sahara_names_statuses_by_number),
	        cmocka_unit_test(test_sahara_host_serves_read_data_zero_copy),
	        cmocka_unit_test(test_sahara_host_rejects_read_outside_image),
	        cmocka_unit_test(test_sahara_host_rejects_read_that_overflows),
	        cmocka_unit_test(test_sahara_host_rejects_unknown_image),
	        cmocka_unit_test(test_sahara_host_transfers_two_images_by_id),
	        cmocka_unit_test(test_sahara_host_fails_on_end_of_image_error),
	        cmocka_unit_test(test_sahara_host_rejects_unexpected_packet),
	        cmocka_unit_test(test_sahara_host_reports_decode_errors_mid_protocol),
	        cmocka_unit_test(test_sahara_host_times_out_naming_the_state),
	        cmocka_unit_test(test_sahara_probe_xml_first_means_firehose_running),
	        cmocka_unit_test(test_sahara_probe_silence_then_xml_answer),
	        cmocka_unit_test(test_sahara_probe_total_silence_asks_for_power_cycle),
	        cmocka_unit_test(test_sahara_probe_sahara_answer_restarts_state_machine),
	        cmocka_unit_test(test_sahara_probe_garbage_is_unknown_mode),
	        cmocka_unit_test(test_sahara_host_refuses_memory_dump_mode),
	        cmocka_unit_test(test_sahara_host_identifies_v3_chip_with_refusals),
	        cmocka_unit_test(test_sahara_host_checks_execute_data_length),
	        cmocka_unit_test(test_sahara_host_reset_aborts),
	        cmocka_unit_test(test_sahara_host_new_validates_config),
	        cmocka_unit_test(test_sahara_done_pending_after_last_image_is_loaded),
	        cmocka_unit_test(test_sahara_done_pending_waits_only_while_images_remain),
	        cmocka_unit_test(test_sahara_pk_hash_shapes_of_real_roms),
	        cmocka_unit_test(test_sahara_pk_hash_ending_in_zero_keeps_its_length),
	        cmocka_unit_test(test_sahara_no_chunk_asks_for_zlp),
	        cmocka_unit_test(test_sahara_repeated_hello_after_probe_gets_fresh_resp),
	        cmocka_unit_test(test_sahara_repeated_hello_before_first_read_then_discarded),
	        cmocka_unit_test(test_sahara_hello_during_execute_is_discarded),
	        cmocka_unit_test(test_sahara_repeated_hello_is_bounded),
	        cmocka_unit_test(test_sahara_identify_then_upload_after_switch_mode_hello),
	        cmocka_unit_test(test_sahara_serial_of_eight_bytes),
	        cmocka_unit_test(test_sahara_hwid_of_twenty_four_bytes),
	        cmocka_unit_test(test_sahara_zero_length_refusal_ends_command_mode),
	        cmocka_unit_test(test_sahara_xbl_refusal_resets_and_reenumerates),
	        cmocka_unit_test(test_sahara_no_reset_state_machine_handler_reenumerates),
	        cmocka_unit_test(test_sahara_single_image_served_for_any_id),
	        cmocka_unit_test(test_sahara_flush_finds_programmer_mid_raw_data),
	        cmocka_unit_test(test_sahara_flush_silence_asks_for_power_cycle),
	        cmocka_unit_test(test_sahara_flush_last_chunk_is_short),
	        cmocka_unit_test(test_sahara_flush_answered_by_hello),
	        cmocka_unit_test(test_sahara_mid_read_sectors_then_xml_is_firehose),
	        cmocka_unit_test(test_sahara_garbage_without_xml_is_unknown_mode),
	        cmocka_unit_test(test_sahara_garbage_is_bounded_by_flush_max),
	        cmocka_unit_test(test_sahara_refused_serial_fails),
	        cmocka_unit_test(test_sahara_refused_item_recorded_and_skipped_next_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
