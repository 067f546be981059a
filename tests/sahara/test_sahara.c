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

static struct edl_sahara_host *new_host(bool identify, bool upload, size_t n_images)
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
	assert_int_equal(edl_sahara_host_new(&h, &cfg), EDL_OK);
	return h;
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

static void test_sahara_probe_total_silence_asks_for_power_cycle(void **state)
{
	(void)state;
	struct edl_sahara_host *h = new_host(true, true, 1);
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

static void test_sahara_probe_garbage_is_unknown_mode(void **state)
{
	(void)state;
	static const uint8_t junk[] = {0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05};
	struct edl_sahara_host *h = new_host(true, true, 1);

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
	/* PK hash refused with END_OF_IMAGE, SBL version answered with length 0. */
	p = expect_out(h, EDL_SAHARA_EXECUTE);
	assert_int_equal(p.u.exec.client_cmd, EDL_SAHARA_EXEC_PK_HASH);
	FEED(h, 5, edl_sahara_encode_end_of_image(pkt_, sizeof(pkt_), 0x0d, 0x1f));
	exec_answer(h, 6, EDL_SAHARA_EXEC_SBL_VERSION, NULL, 0);
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
