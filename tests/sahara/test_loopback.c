/*
 * Host engine against the emulated boot ROM over an in-memory pump on a fake
 * clock: identity in Sahara v2 and v3, programmer upload verified by the ROM's
 * SHA-256 of what it received, the probe finding a ROM whose HELLO was
 * consumed, and the failures a station meets (memory dump, short programmer,
 * non-ELF programmer).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "edlstation/elf_image.h"
#include "edlstation/pbl.h"
#include "edlstation/sahara.h"

#define MAX_REQS 256

struct pump {
	struct edl_sahara_host *h;
	struct edl_pbl *p;
	uint64_t now;
	struct {
		uint64_t off, len;
	} req[MAX_REQS]; /* READ_DATA(64) requests the ROM made, in order */
	size_t n_req;
	size_t n_probe; /* XML documents the host sent */
};

/* Moves transfers both ways until the host finishes; when both sides are
 * quiet, jumps the clock to the host's deadline. Each device transfer takes 1 ms. */
static void run(struct pump *x)
{
	struct edl_chunk c;
	struct edl_sahara_pkt pkt;
	int guard;

	for (guard = 0; guard < 100000; guard++) {
		bool moved = false;

		while (edl_sahara_host_next_out(x->h, &c)) {
			if (c.len > 0 && c.data[0] == '<')
				x->n_probe++;
			edl_pbl_feed(x->p, c.data, c.len);
			moved = true;
		}
		if (edl_sahara_host_status(x->h) != EDL_ENGINE_RUNNING)
			return;
		while (edl_pbl_next_out(x->p, &c)) {
			if (edl_sahara_decode(&pkt, c.data, c.len, NULL) == EDL_OK &&
			    (pkt.cmd == EDL_SAHARA_READ_DATA ||
			     pkt.cmd == EDL_SAHARA_READ_DATA64) &&
			    x->n_req < MAX_REQS) {
				x->req[x->n_req].off = pkt.u.read_data.offset;
				x->req[x->n_req++].len = pkt.u.read_data.length;
			}
			x->now += 1;
			edl_sahara_host_feed(x->h, c.data, c.len, x->now);
			moved = true;
		}
		if (!moved) {
			uint64_t d = edl_sahara_host_deadline(x->h);

			assert_true(d != 0);
			x->now = d > x->now ? d : x->now;
			edl_sahara_host_timeout(x->h, x->now);
		}
	}
	fail_msg("pump did not finish");
}

static void setup(struct pump *x, const struct edl_pbl_config *pc,
                  const struct edl_sahara_host_config *hc)
{
	memset(x, 0, sizeof(*x));
	x->now = 10000;
	assert_int_equal(edl_pbl_new(&x->p, pc), EDL_OK);
	assert_int_equal(edl_sahara_host_new(&x->h, hc), EDL_OK);
	edl_pbl_start(x->p);
	edl_sahara_host_start(x->h, x->now);
}

static void teardown(struct pump *x)
{
	edl_sahara_host_free(x->h);
	edl_pbl_free(x->p);
}

static void pbl_config(struct edl_pbl_config *pc, uint32_t version)
{
	size_t i;

	edl_pbl_config_default(pc);
	pc->sahara_version = version;
	pc->serial = 0x0badf00d;
	pc->hwid = 0x000cf0e1005198a9ull;
	for (i = 0; i < 48; i++)
		pc->pk_hash[i] = (uint8_t)(0xa0 + i);
	pc->pk_hash_len = 48;
	pc->sbl_version = 0x00020003;
}

static void sha256(const uint8_t *d, size_t n, uint8_t out[32])
{
	unsigned int len = 32;

	assert_int_equal(EVP_Digest(d, n, out, &len, EVP_sha256(), NULL), 1);
}

static void identify_and_upload(uint32_t version, size_t size)
{
	struct edl_pbl_config pc;
	struct edl_sahara_host_config hc;
	struct edl_sahara_image img;
	const struct edl_sahara_identity *id;
	struct pump x;
	uint8_t *f, want[32], got[32];
	size_t len, i;
	bool backwards = false;

	assert_int_equal(edl_elf_make_programmer(&f, &len, size, version), EDL_OK);
	img.id = 0x0d;
	img.data = f;
	img.len = len;
	pbl_config(&pc, version);
	edl_sahara_host_config_default(&hc);
	hc.images = &img;
	hc.n_images = 1;
	setup(&x, &pc, &hc);
	run(&x);

	assert_int_equal(edl_sahara_host_status(x.h), EDL_ENGINE_DONE);
	assert_int_equal(edl_sahara_host_outcome(x.h), EDL_SAHARA_OUTCOME_PROGRAMMER_LOADED);
	assert_int_equal(edl_pbl_state(x.p), EDL_PBL_LOADED);
	assert_false(edl_sahara_host_probe_sent(x.h));
	assert_int_equal(x.n_probe, 0);

	id = edl_sahara_host_identity(x.h);
	assert_int_equal(id->sahara_version, version);
	assert_true(id->have_serial);
	assert_int_equal(id->serial, 0x0badf00d);
	assert_string_equal(id->serial_hex, "0badf00d");
	assert_true(id->have_hwid);
	assert_int_equal(id->hwid, 0x000cf0e1005198a9ull);
	assert_int_equal(id->msm_id, 0x000cf0e1);
	assert_int_equal(id->oem_id, 0x0051);
	assert_int_equal(id->model_id, 0x98a9);
	assert_int_equal(id->pk_hash_len, 48); /* the ROM sent 96: cut at the repeat */
	assert_memory_equal(id->pk_hash, pc.pk_hash, 48);
	/* SBL version (0x07) is not asked: XBL refuses it and then takes only RESET. */
	assert_false(id->have_sbl_version);

	/* What the ROM received is the programmer, requested header first. */
	sha256(f, len, want);
	edl_pbl_image_sha256(x.p, got);
	assert_memory_equal(got, want, 32);
	assert_true(x.n_req >= 4);
	assert_int_equal(x.req[0].off, 0);
	assert_int_equal(x.req[0].len, 64);
	assert_int_equal(x.req[1].off, 64);
	for (i = 1; i < x.n_req; i++)
		if (x.req[i].off < x.req[i - 1].off)
			backwards = true;
	assert_true(backwards); /* not a sequential read */
	teardown(&x);
	free(f);
}

static void test_loopback_v2_identifies_and_uploads(void **state)
{
	(void)state;
	identify_and_upload(2, 200000);
}

static void test_loopback_v3_identifies_and_uploads_in_pieces(void **state)
{
	(void)state;
	identify_and_upload(3, (size_t)2500000);
}

static void test_loopback_identify_only_leaves_rom_waiting(void **state)
{
	(void)state;
	struct edl_pbl_config pc;
	struct edl_sahara_host_config hc;
	struct pump x;

	pbl_config(&pc, 3);
	edl_sahara_host_config_default(&hc);
	hc.upload = false;
	setup(&x, &pc, &hc);
	run(&x);
	assert_int_equal(edl_sahara_host_status(x.h), EDL_ENGINE_DONE);
	assert_int_equal(edl_sahara_host_outcome(x.h), EDL_SAHARA_OUTCOME_IDENTIFIED);
	assert_string_equal(edl_sahara_host_identity(x.h)->serial_hex, "0badf00d");
	assert_int_equal(edl_pbl_state(x.p), EDL_PBL_WAIT_HELLO_RESP);
	assert_int_equal(x.n_req, 0);
	teardown(&x);
}

static void test_loopback_probe_revives_rom_whose_hello_was_consumed(void **state)
{
	(void)state;
	struct edl_pbl_config pc;
	struct edl_sahara_host_config hc;
	struct edl_sahara_image img;
	struct pump x;
	uint8_t *f, want[32], got[32];
	size_t len;
	uint64_t start;

	assert_int_equal(edl_elf_make_programmer(&f, &len, 50000, 11), EDL_OK);
	img.id = 0x0d;
	img.data = f;
	img.len = len;
	pbl_config(&pc, 2);
	pc.hello_consumed = true;
	edl_sahara_host_config_default(&hc);
	hc.identify = false;
	hc.images = &img;
	hc.n_images = 1;
	setup(&x, &pc, &hc);
	start = x.now;
	run(&x);
	assert_int_equal(edl_sahara_host_status(x.h), EDL_ENGINE_DONE);
	assert_int_equal(edl_sahara_host_outcome(x.h), EDL_SAHARA_OUTCOME_PROGRAMMER_LOADED);
	assert_true(edl_sahara_host_probe_sent(x.h));
	assert_int_equal(x.n_probe, 1);
	assert_true(x.now >= start + 500 && x.now < start + 500 + 1000);
	sha256(f, len, want);
	edl_pbl_image_sha256(x.p, got);
	assert_memory_equal(got, want, 32);
	teardown(&x);
	free(f);
}

static void test_loopback_memory_dump_rom_is_refused(void **state)
{
	(void)state;
	struct edl_pbl_config pc;
	struct edl_sahara_host_config hc;
	struct edl_sahara_image img = {0x0d, (const uint8_t *)"x", 1};
	struct pump x;

	pbl_config(&pc, 2);
	pc.memory_dump = true;
	edl_sahara_host_config_default(&hc);
	hc.images = &img;
	hc.n_images = 1;
	setup(&x, &pc, &hc);
	run(&x);
	assert_int_equal(edl_sahara_host_status(x.h), EDL_ENGINE_FAILED);
	assert_int_equal(edl_sahara_host_error(x.h)->code, EDL_E_MEMORY_DUMP);
	teardown(&x);
}

static void test_loopback_short_programmer_fails_read_range(void **state)
{
	(void)state;
	struct edl_pbl_config pc;
	struct edl_sahara_host_config hc;
	struct edl_sahara_image img;
	struct pump x;
	uint8_t *f;
	size_t len;

	assert_int_equal(edl_elf_make_programmer(&f, &len, 8000, 4), EDL_OK);
	img.id = 0x0d;
	img.data = f;
	img.len = len / 2; /* a truncated file */
	pbl_config(&pc, 2);
	edl_sahara_host_config_default(&hc);
	hc.identify = false;
	hc.images = &img;
	hc.n_images = 1;
	setup(&x, &pc, &hc);
	run(&x);
	assert_int_equal(edl_sahara_host_error(x.h)->code, EDL_E_SAHARA_READ_RANGE);
	assert_non_null(strstr(edl_sahara_host_error(x.h)->detail, "is outside image 0x0d of"));
	/* The RESET queued before failing reached the ROM. */
	assert_int_equal(edl_pbl_state(x.p), EDL_PBL_RESET);
	teardown(&x);
	free(f);
}

static void test_loopback_non_elf_programmer_ends_with_status(void **state)
{
	(void)state;
	struct edl_pbl_config pc;
	struct edl_sahara_host_config hc;
	static uint8_t junk[4096];
	struct edl_sahara_image img = {0x0d, junk, sizeof(junk)};
	struct pump x;

	memset(junk, 0x33, sizeof(junk));
	pbl_config(&pc, 3);
	edl_sahara_host_config_default(&hc);
	hc.images = &img;
	hc.n_images = 1;
	setup(&x, &pc, &hc);
	run(&x);
	assert_int_equal(edl_sahara_host_error(x.h)->code, EDL_E_SAHARA_END_STATUS);
	assert_string_equal(edl_sahara_host_error(x.h)->detail,
	                    "device ended image 0x0d with status 0x14 (invalid ELF header)");
	/* Identity was read before the upload failed. */
	assert_true(edl_sahara_host_identity(x.h)->have_serial);
	teardown(&x);
}

/* The shapes of real ROMs (REAL-DEVICES.md §2), each an answer the emulated ROM of
 * either generation gives or may give: DONE_RESP pending after the only image
 * (MDM9x07), 4 KiB READ_DATA pieces (SDX24), PK hash 48 + zeros (SDX55), 8-byte
 * serial (SDX7x), 24-byte HW id (SDM845), programmer id 7 (NPRG9x55). The host
 * ends with the programmer loaded and the hash and ids as the ROM holds them. */
static void test_loopback_real_rom_shapes_load_the_programmer(void **state)
{
	(void)state;
	struct edl_pbl_config pc;
	struct edl_sahara_host_config hc;
	struct edl_sahara_image img;
	const struct edl_sahara_identity *id;
	struct pump x;
	uint8_t *f, want[32], got[32];
	size_t len;

	assert_int_equal(edl_elf_make_programmer(&f, &len, 100000, 2), EDL_OK);
	img.id = 0x0d; /* the station's id; the ROM asks for 7 */
	img.data = f;
	img.len = len;
	pbl_config(&pc, 2);
	pc.image_id = 0x07;
	pc.quirks.done_resp_pending = true;
	pc.quirks.read_piece = 4096;
	pc.quirks.pk_hash_zero_padded = true;
	pc.quirks.serial_len = 8;
	pc.quirks.hwid_len = 24;
	edl_sahara_host_config_default(&hc);
	hc.images = &img;
	hc.n_images = 1;
	setup(&x, &pc, &hc);
	run(&x);

	assert_int_equal(edl_sahara_host_status(x.h), EDL_ENGINE_DONE);
	assert_int_equal(edl_sahara_host_outcome(x.h), EDL_SAHARA_OUTCOME_PROGRAMMER_LOADED);
	assert_int_equal(edl_pbl_state(x.p), EDL_PBL_LOADED);
	id = edl_sahara_host_identity(x.h);
	assert_string_equal(id->serial_hex, "0badf00d");
	assert_int_equal(id->hwid, 0x000cf0e1005198a9ull);
	assert_int_equal(id->pk_hash_len, 48);
	assert_memory_equal(id->pk_hash, pc.pk_hash, 48);
	sha256(f, len, want);
	edl_pbl_image_sha256(x.p, got);
	assert_memory_equal(got, want, 32);
	teardown(&x);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_loopback_v2_identifies_and_uploads),
	        cmocka_unit_test(test_loopback_v3_identifies_and_uploads_in_pieces),
	        cmocka_unit_test(test_loopback_identify_only_leaves_rom_waiting),
	        cmocka_unit_test(test_loopback_probe_revives_rom_whose_hello_was_consumed),
	        cmocka_unit_test(test_loopback_memory_dump_rom_is_refused),
	        cmocka_unit_test(test_loopback_short_programmer_fails_read_range),
	        cmocka_unit_test(test_loopback_non_elf_programmer_ends_with_status),
	        cmocka_unit_test(test_loopback_real_rom_shapes_load_the_programmer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
