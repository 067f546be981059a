/*
 * Tests of the emulated boot ROM and the ELF helpers it uses: the synthetic
 * programmer is a valid ELF whose loadable segments cover the file, the parser
 * refuses malformed headers, and the ROM behaves as real ones do (Qualcomm
 * boot_sahara.c, device logs in edl / qdl / QFirehose issues): it says HELLO,
 * says it again for anything but a HELLO_RESP while waiting for one and after
 * SWITCH_MODE, serves command mode, pulls a programmer header first and in
 * pieces, answers anything unexpected in other states with END_OF_IMAGE
 * "invalid command", and each quirk of struct edl_pbl_quirks changes exactly
 * the packets its source shows.
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

/* ---- ELF ---- */

struct range {
	uint64_t off, len;
};

static int cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

static void test_elf_generator_builds_covering_programmer(void **state)
{
	(void)state;
	static const size_t sizes[] = {10, 5000, 70001};
	struct edl_elf_header eh;
	struct edl_elf_phdr ph[8];
	struct range r[8];
	uint8_t *f, *g;
	size_t len, glen, n, i, s, nr, loads;
	uint32_t seed;

	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (seed = 1; seed <= 6; seed++) {
			assert_int_equal(edl_elf_make_programmer(&f, &len, sizes[s], seed), EDL_OK);
			assert_true(len >= sizes[s]);
			assert_int_equal(edl_elf_parse_file(&eh, ph, 8, &n, f, len, NULL), EDL_OK);
			assert_true(eh.is64);
			assert_int_equal(eh.phoff, 64);
			assert_int_equal(ph[0].type, EDL_ELF_PT_NULL);
			nr = 0;
			r[nr].off = 0;
			r[nr++].len = eh.phoff + edl_elf_phdr_table_size(&eh);
			for (i = 0, loads = 0; i < n; i++) {
				if (ph[i].type != EDL_ELF_PT_LOAD || ph[i].filesz == 0)
					continue;
				loads++;
				r[nr].off = ph[i].offset;
				r[nr++].len = ph[i].filesz;
			}
			assert_true(loads == 2 || loads == 3);
			/* Listed out of file order: a ROM reads non-sequentially. */
			assert_true(ph[1].offset > ph[2].offset);
			qsort(r, nr, sizeof(r[0]), cmp_range);
			for (i = 1; i < nr; i++)
				assert_int_equal(r[i].off, r[i - 1].off + r[i - 1].len);
			assert_int_equal(r[nr - 1].off + r[nr - 1].len, len);

			/* Deterministic per seed, different across seeds. */
			assert_int_equal(edl_elf_make_programmer(&g, &glen, sizes[s], seed),
			                 EDL_OK);
			assert_int_equal(glen, len);
			assert_memory_equal(f, g, len);
			free(g);
			assert_int_equal(edl_elf_make_programmer(&g, &glen, sizes[s], seed + 100),
			                 EDL_OK);
			assert_true(glen != len || memcmp(f + glen - 8, g + glen - 8, 8) != 0);
			free(g);
			free(f);
		}
	}
	assert_int_equal(edl_elf_make_programmer(&f, &len, (size_t)2 << 30, 1), EDL_E_INVAL);
}

static void test_elf_parser_rejects_malformed_headers(void **state)
{
	(void)state;
	struct edl_elf_header eh;
	struct edl_elf_phdr ph[8];
	struct edl_error err;
	uint8_t *f, *m;
	size_t len, n;

	assert_int_equal(edl_elf_make_programmer(&f, &len, 4096, 3), EDL_OK);
	m = malloc(len);

	memcpy(m, f, len);
	m[1] = 'X';
	assert_int_equal(edl_elf_parse_header(&eh, m, len, &err), EDL_E_ELF);
	assert_string_equal(err.detail, "no ELF magic in the first 4096 bytes");

	memcpy(m, f, len);
	m[4] = 3;
	assert_int_equal(edl_elf_parse_header(&eh, m, len, &err), EDL_E_ELF);
	assert_string_equal(err.detail, "ELF class 3 is neither 32 nor 64 bit");

	memcpy(m, f, len);
	m[5] = 2;
	assert_int_equal(edl_elf_parse_header(&eh, m, len, &err), EDL_E_ELF);

	assert_int_equal(edl_elf_parse_header(&eh, f, 60, &err), EDL_E_ELF);
	assert_string_equal(err.detail, "ELF64 header needs 64 bytes, 60 given");

	memcpy(m, f, len);
	edl_sahara_put_le16(m + 54, 32);
	assert_int_equal(edl_elf_parse_header(&eh, m, len, &err), EDL_E_ELF);
	assert_string_equal(err.detail, "program header size 32, ELF64 needs 56");

	memcpy(m, f, len);
	edl_sahara_put_le16(m + 56, 0);
	assert_int_equal(edl_elf_parse_header(&eh, m, len, &err), EDL_E_ELF);
	assert_string_equal(err.detail, "0 program headers (1 to 128 accepted)");

	memcpy(m, f, len);
	edl_sahara_put_le16(m + 56, 200);
	assert_int_equal(edl_elf_parse_header(&eh, m, len, &err), EDL_E_ELF);

	memcpy(m, f, len);
	edl_sahara_put_le64(m + 32, 0xfffffffffffffff0ull);
	assert_int_equal(edl_elf_parse_header(&eh, m, len, &err), EDL_E_ELF);

	/* A segment running past the end of the file. */
	memcpy(m, f, len);
	edl_sahara_put_le64(m + 64 + 56 + 32, len);
	assert_int_equal(edl_elf_parse_file(&eh, ph, 8, &n, m, len, &err), EDL_E_ELF);
	assert_non_null(strstr(err.detail, "is outside the 4096-byte file"));

	/* offset + filesz overflowing. */
	memcpy(m, f, len);
	edl_sahara_put_le64(m + 64 + 56 + 8, 0xffffffffffffff00ull);
	assert_int_equal(edl_elf_parse_file(&eh, ph, 8, &n, m, len, &err), EDL_E_ELF);

	assert_int_equal(edl_elf_parse_file(&eh, ph, 1, &n, f, len, &err), EDL_E_RANGE);
	free(m);
	free(f);
}

static void test_elf_parser_reads_elf32(void **state)
{
	(void)state;
	uint8_t f[200];
	struct edl_elf_header eh;
	struct edl_elf_phdr ph[2];
	size_t n;

	memset(f, 0, sizeof(f));
	memcpy(f,
	       "\x7f"
	       "ELF\x01\x01\x01",
	       7);
	edl_sahara_put_le16(f + 18, 40); /* ARM */
	edl_sahara_put_le32(f + 24, 0x8000);
	edl_sahara_put_le32(f + 28, 52);
	edl_sahara_put_le16(f + 42, 32);
	edl_sahara_put_le16(f + 44, 1);
	edl_sahara_put_le32(f + 52, EDL_ELF_PT_LOAD);
	edl_sahara_put_le32(f + 56, 84);
	edl_sahara_put_le32(f + 60, 0x8000);
	edl_sahara_put_le32(f + 68, 116);
	edl_sahara_put_le32(f + 72, 0x200);
	edl_sahara_put_le32(f + 76, 5);
	assert_int_equal(edl_elf_parse_file(&eh, ph, 2, &n, f, sizeof(f), NULL), EDL_OK);
	assert_false(eh.is64);
	assert_int_equal(eh.entry, 0x8000);
	assert_int_equal(n, 1);
	assert_int_equal(ph[0].offset, 84);
	assert_int_equal(ph[0].filesz, 116);
	assert_int_equal(ph[0].memsz, 0x200);
	assert_int_equal(ph[0].flags, 5);
}

/* ---- PBL ---- */

static struct edl_pbl *new_pbl(uint32_t version, size_t max_image)
{
	struct edl_pbl_config cfg;
	struct edl_pbl *p;

	edl_pbl_config_default(&cfg);
	cfg.sahara_version = version;
	if (max_image)
		cfg.max_image = max_image;
	assert_int_equal(edl_pbl_new(&p, &cfg), EDL_OK);
	return p;
}

static struct edl_sahara_pkt pbl_expect(struct edl_pbl *p, uint32_t cmd)
{
	struct edl_chunk c;
	struct edl_sahara_pkt pkt;

	assert_true(edl_pbl_next_out(p, &c));
	assert_int_equal(edl_sahara_decode(&pkt, c.data, c.len, NULL), EDL_OK);
	assert_int_equal(pkt.cmd, cmd);
	return pkt;
}

static void pbl_expect_end(struct edl_pbl *p, uint32_t status)
{
	struct edl_sahara_pkt pkt = pbl_expect(p, EDL_SAHARA_END_OF_IMAGE);

	assert_int_equal(pkt.u.end_of_image.image_id, 0x0d);
	assert_int_equal(pkt.u.end_of_image.status, status);
}

static void pbl_expect_nothing(struct edl_pbl *p)
{
	struct edl_chunk c;

	assert_false(edl_pbl_next_out(p, &c));
}

static void exec(struct edl_pbl *p, uint32_t cmd, uint8_t *data, size_t *len);

#define PFEED(p, encode_call)                                          \
	do {                                                           \
		uint8_t pkt_[64];                                      \
		size_t n_ = encode_call;                               \
		assert_true(n_ > 0);                                   \
		assert_int_equal(edl_pbl_feed((p), pkt_, n_), EDL_OK); \
	} while (0)

static void test_pbl_says_hello_unless_consumed(void **state)
{
	(void)state;
	struct edl_pbl_config cfg;
	struct edl_pbl *p = new_pbl(3, 0);
	struct edl_sahara_pkt pkt;

	edl_pbl_start(p);
	pkt = pbl_expect(p, EDL_SAHARA_HELLO);
	assert_int_equal(pkt.u.hello.version, 3);
	assert_int_equal(pkt.u.hello.mode, EDL_SAHARA_MODE_IMAGE_TX_PENDING);
	pbl_expect_nothing(p);
	assert_int_equal(edl_pbl_state(p), EDL_PBL_WAIT_HELLO_RESP);
	edl_pbl_free(p);

	edl_pbl_config_default(&cfg);
	cfg.hello_consumed = true;
	assert_int_equal(edl_pbl_new(&p, &cfg), EDL_OK);
	edl_pbl_start(p);
	pbl_expect_nothing(p);
	edl_pbl_free(p);

	edl_pbl_config_default(&cfg);
	cfg.memory_dump = true;
	assert_int_equal(edl_pbl_new(&p, &cfg), EDL_OK);
	edl_pbl_start(p);
	pkt = pbl_expect(p, EDL_SAHARA_HELLO);
	assert_int_equal(pkt.u.hello.mode, EDL_SAHARA_MODE_MEMORY_DEBUG);
	edl_pbl_free(p);

	edl_pbl_config_default(&cfg);
	cfg.sahara_version = 4;
	assert_int_equal(edl_pbl_new(&p, &cfg), EDL_E_INVAL);
	edl_pbl_config_default(&cfg);
	cfg.quirks.serial_len = 5;
	assert_int_equal(edl_pbl_new(&p, &cfg), EDL_E_INVAL);
	edl_pbl_config_default(&cfg);
	cfg.quirks.hwid_len = 16;
	assert_int_equal(edl_pbl_new(&p, &cfg), EDL_E_INVAL);
	edl_pbl_config_default(&cfg);
	cfg.quirks.read_piece = 1;
	assert_int_equal(edl_pbl_new(&p, &cfg), EDL_E_INVAL);
	assert_null(p);
}

/* The HELLO a v2/v3 ROM sends, built field by field (edl #398 raw dump:
 * 01 00 00 00 30 00 00 00 | version | 1 | 0x400 | mode | six zero words). */
static void hello_bytes(uint8_t out[48], uint32_t version, uint32_t mode)
{
	memset(out, 0, 48);
	out[0] = 0x01;
	out[4] = 0x30;
	out[8] = (uint8_t)version;
	out[12] = 0x01;
	out[17] = 0x04;
	out[20] = (uint8_t)mode;
}

static void pbl_expect_bytes(struct edl_pbl *p, const uint8_t *want, size_t n)
{
	struct edl_chunk c;

	assert_true(edl_pbl_next_out(p, &c));
	assert_int_equal(c.len, n);
	assert_memory_equal(c.data, want, n);
}

static void pbl_expect_hello(struct edl_pbl *p, uint32_t version, uint32_t mode)
{
	uint8_t want[48];

	hello_bytes(want, version, mode);
	pbl_expect_bytes(p, want, sizeof(want));
}

/* Was: the XML probe answered END_OF_IMAGE "invalid command". Real ROMs waiting
 * for HELLO_RESP send their HELLO again instead (boot_sahara_process_packets). */
static void test_pbl_answers_xml_probe_with_hello_while_waiting(void **state)
{
	(void)state;
	struct edl_pbl_config cfg;
	struct edl_pbl *p = new_pbl(2, 0);
	const char *xml = EDL_SAHARA_PROBE_XML;
	size_t i;

	edl_pbl_start(p);
	pbl_expect_hello(p, 2, 0);
	assert_int_equal(edl_pbl_feed(p, (const uint8_t *)xml, strlen(xml)), EDL_OK);
	pbl_expect_hello(p, 2, 0);
	pbl_expect_nothing(p);
	/* The same document in 1-byte transfers: every transfer is a packet to the
	 * ROM, every one is answered with a HELLO, none breaks the handshake. */
	for (i = 0; i < strlen(xml); i++) {
		assert_int_equal(edl_pbl_feed(p, (const uint8_t *)xml + i, 1), EDL_OK);
		pbl_expect_hello(p, 2, 0);
	}
	/* Stray host packets of other states are junk here too. */
	PFEED(p, edl_sahara_encode_done(pkt_, sizeof(pkt_)));
	pbl_expect_hello(p, 2, 0);
	PFEED(p, edl_sahara_encode_execute(pkt_, sizeof(pkt_), EDL_SAHARA_EXEC_SERIAL));
	pbl_expect_hello(p, 2, 0);
	pbl_expect_nothing(p);
	assert_int_equal(edl_pbl_state(p), EDL_PBL_WAIT_HELLO_RESP);
	PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 0));
	pbl_expect(p, EDL_SAHARA_READ_DATA);
	edl_pbl_free(p);

	/* A ROM whose HELLO nobody read is in the same state: the probe gets the HELLO. */
	edl_pbl_config_default(&cfg);
	cfg.hello_consumed = true;
	cfg.sahara_version = 3;
	assert_int_equal(edl_pbl_new(&p, &cfg), EDL_OK);
	edl_pbl_start(p);
	pbl_expect_nothing(p);
	assert_int_equal(edl_pbl_feed(p, (const uint8_t *)xml, strlen(xml)), EDL_OK);
	pbl_expect_hello(p, 3, 0);
	pbl_expect_nothing(p);
	PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 0));
	pbl_expect(p, EDL_SAHARA_READ_DATA64);
	edl_pbl_free(p);
}

static void test_pbl_answers_junk_past_hello_with_end_of_image(void **state)
{
	(void)state;
	struct edl_pbl *p = new_pbl(2, 0);
	static const uint8_t end_invalid[16] = {0x04, 0, 0, 0, 0x10, 0, 0, 0,
	                                        0x0d, 0, 0, 0, 0x01, 0, 0, 0};
	uint8_t d[256];
	size_t n;

	edl_pbl_start(p);
	pbl_expect(p, EDL_SAHARA_HELLO);
	PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 3));
	pbl_expect(p, EDL_SAHARA_CMD_READY);
	/* A Firehose host's XML to a unit in command mode: 04 00 00 00 10 00 00 00 ... */
	assert_int_equal(edl_pbl_feed(p, (const uint8_t *)EDL_SAHARA_PROBE_XML,
	                              strlen(EDL_SAHARA_PROBE_XML)),
	                 EDL_OK);
	pbl_expect_bytes(p, end_invalid, sizeof(end_invalid));
	PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 0));
	pbl_expect_bytes(p, end_invalid, sizeof(end_invalid));
	pbl_expect_nothing(p);
	/* A plain ROM keeps its command mode after refusing. */
	assert_int_equal(edl_pbl_state(p), EDL_PBL_COMMAND);
	exec(p, EDL_SAHARA_EXEC_SERIAL, d, &n);
	assert_int_equal(n, 4);
	edl_pbl_free(p);
}

static void test_pbl_with_reset_state_machine_starts_over(void **state)
{
	(void)state;
	struct edl_pbl *p = new_pbl(2, 0);

	edl_pbl_start(p);
	pbl_expect(p, EDL_SAHARA_HELLO);
	PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 3));
	pbl_expect(p, EDL_SAHARA_CMD_READY);
	PFEED(p, edl_sahara_encode_reset_state_machine(pkt_, sizeof(pkt_)));
	pbl_expect_hello(p, 2, 0); /* the power-on mode, not command mode */
	assert_int_equal(edl_pbl_state(p), EDL_PBL_WAIT_HELLO_RESP);
	edl_pbl_free(p);
}

static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void test_pbl_survives_garbage_in_every_state(void **state)
{
	(void)state;
	uint8_t buf[128];
	struct edl_chunk c;
	struct edl_sahara_pkt pkt;
	uint32_t seed = 12345;
	int st, i;
	size_t j, n;

	/* States 0-2 on a plain ROM, 3-5 on one with every quirk (a ZLP, n == 0, may
	 * hang it; garbage must still never crash it or make it send non-Sahara). */
	for (st = 0; st < 6; st++) {
		struct edl_pbl_config cfg;
		struct edl_pbl *p;

		edl_pbl_config_default(&cfg);
		cfg.sahara_version = 2 + (st & 1);
		if (st >= 3)
			cfg.quirks = (struct edl_pbl_quirks){
			        .done_resp_pending = true,
			        .read_piece = 4096,
			        .pk_hash_zero_padded = true,
			        .serial_len = 8,
			        .chip_id = 0x443,
			        .hwid_len = 24,
			        .no_reset_state_machine = true,
			        .refusal_needs_reset = true,
			        .refuse_exec_mask = 1u << EDL_SAHARA_EXEC_SBL_VERSION,
			        .zlp_breaks_transfer = st == 5,
			};
		assert_int_equal(edl_pbl_new(&p, &cfg), EDL_OK);

		edl_pbl_start(p);
		if (st % 3 == 1)
			PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 3));
		if (st % 3 == 2)
			PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 0));
		for (i = 0; i < 2000; i++) {
			n = rnd(&seed) % sizeof(buf);
			for (j = 0; j < n; j++)
				buf[j] = (uint8_t)rnd(&seed);
			if (n >= 8 && (i & 3) == 0) { /* a plausible header, body garbage */
				edl_sahara_put_le32(buf, 1 + rnd(&seed) % 0x13);
				edl_sahara_put_le32(buf + 4, (uint32_t)n);
			}
			edl_pbl_feed(p, buf, n);
			while (edl_pbl_next_out(p,
			                        &c)) /* every answer is a Sahara packet or data */
				if (edl_sahara_decode(&pkt, c.data, c.len, NULL) == EDL_OK)
					assert_true(pkt.cmd >= 1 && pkt.cmd <= 0x13);
		}
		edl_pbl_free(p);
	}
}

static void exec(struct edl_pbl *p, uint32_t cmd, uint8_t *data, size_t *len)
{
	struct edl_sahara_pkt pkt;
	struct edl_chunk c;

	PFEED(p, edl_sahara_encode_execute(pkt_, sizeof(pkt_), cmd));
	pkt = pbl_expect(p, EDL_SAHARA_EXECUTE_RESP);
	assert_int_equal(pkt.u.exec.client_cmd, cmd);
	PFEED(p, edl_sahara_encode_execute_data(pkt_, sizeof(pkt_), cmd));
	assert_true(edl_pbl_next_out(p, &c));
	assert_int_equal(c.len, pkt.u.exec.data_length);
	memcpy(data, c.data, c.len);
	*len = c.len;
}

static void test_pbl_serves_command_mode_v2(void **state)
{
	(void)state;
	struct edl_pbl_config cfg;
	struct edl_pbl *p = new_pbl(2, 0);
	uint8_t d[256];
	size_t n;

	edl_pbl_config_default(&cfg);
	edl_pbl_start(p);
	pbl_expect(p, EDL_SAHARA_HELLO);
	PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 3));
	pbl_expect(p, EDL_SAHARA_CMD_READY);
	assert_int_equal(edl_pbl_state(p), EDL_PBL_COMMAND);

	exec(p, EDL_SAHARA_EXEC_SERIAL, d, &n);
	assert_int_equal(n, 4);
	assert_int_equal(edl_sahara_get_le32(d), 0x1a2b3c4d);
	exec(p, EDL_SAHARA_EXEC_MSM_HWID, d, &n);
	assert_int_equal(n, 8);
	assert_int_equal(edl_sahara_get_le64(d), 0x000cf0e1000098a9ull);
	exec(p, EDL_SAHARA_EXEC_PK_HASH, d, &n);
	assert_int_equal(n, 2 * cfg.pk_hash_len); /* repeated, as real ROMs do */
	assert_memory_equal(d, cfg.pk_hash, cfg.pk_hash_len);
	assert_memory_equal(d + cfg.pk_hash_len, cfg.pk_hash, cfg.pk_hash_len);
	exec(p, EDL_SAHARA_EXEC_SBL_VERSION, d, &n);
	assert_int_equal(n, 4);

	PFEED(p, edl_sahara_encode_execute(pkt_, sizeof(pkt_), EDL_SAHARA_EXEC_CHIP_ID_V3));
	pbl_expect_end(p, EDL_SAHARA_STATUS_EXEC_CMD_UNSUPPORTED);
	pbl_expect_nothing(p); /* no EXECUTE_RESP for a refused command */
	/* EXECUTE_DATA for another command than the one announced. Was also expected
	 * without any EXECUTE before; boot_sahara takes EXECUTE_DATA only in its
	 * WAIT_CMD_EXEC_DATA state, so that one is an invalid command now. */
	PFEED(p, edl_sahara_encode_execute(pkt_, sizeof(pkt_), EDL_SAHARA_EXEC_SERIAL));
	pbl_expect(p, EDL_SAHARA_EXECUTE_RESP);
	PFEED(p, edl_sahara_encode_execute_data(pkt_, sizeof(pkt_), EDL_SAHARA_EXEC_PK_HASH));
	pbl_expect_end(p, EDL_SAHARA_STATUS_EXEC_DATA_INVALID_CLIENT_CMD);
	PFEED(p, edl_sahara_encode_execute_data(pkt_, sizeof(pkt_), EDL_SAHARA_EXEC_SERIAL));
	pbl_expect_end(p, EDL_SAHARA_STATUS_INVALID_CMD);
	/* With data announced, only EXECUTE_DATA is valid. */
	PFEED(p, edl_sahara_encode_execute(pkt_, sizeof(pkt_), EDL_SAHARA_EXEC_SERIAL));
	pbl_expect(p, EDL_SAHARA_EXECUTE_RESP);
	PFEED(p, edl_sahara_encode_switch_mode(pkt_, sizeof(pkt_), 0));
	pbl_expect_end(p, EDL_SAHARA_STATUS_INVALID_CMD);
	PFEED(p, edl_sahara_encode_done(pkt_, sizeof(pkt_)));
	pbl_expect_end(p, EDL_SAHARA_STATUS_INVALID_CMD);

	PFEED(p, edl_sahara_encode_switch_mode(pkt_, sizeof(pkt_), 0));
	pbl_expect_hello(p, 2, 0);
	assert_int_equal(edl_pbl_state(p), EDL_PBL_WAIT_HELLO_RESP);
	edl_pbl_free(p);
}

/* bkerler/edl reads the chip info, sends SWITCH_MODE(3) and waits for a HELLO
 * (REAL-DEVICES §5.1: TX 0c0000000c00000003000000; the old ROM answered CMD_READY
 * 0b00000008000000 and edl quit). boot_sahara_handle_cmd_switch_mode: any mode
 * below SAHARA_MODE_LAST is taken, the HELLO announces it. */
static void test_pbl_switch_mode_answers_a_fresh_hello(void **state)
{
	(void)state;
	static const uint8_t switch_cmd[12] = {0x0c, 0, 0, 0, 0x0c, 0, 0, 0, 0x03, 0, 0, 0};
	static const uint8_t cmd_ready[8] = {0x0b, 0, 0, 0, 0x08, 0, 0, 0};
	struct edl_pbl *p = new_pbl(2, 0);
	uint8_t d[256];
	size_t n;

	edl_pbl_start(p);
	pbl_expect_hello(p, 2, 0);
	PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 3));
	pbl_expect_bytes(p, cmd_ready, sizeof(cmd_ready));
	exec(p, EDL_SAHARA_EXEC_SERIAL, d, &n);
	assert_int_equal(edl_pbl_feed(p, switch_cmd, sizeof(switch_cmd)), EDL_OK);
	pbl_expect_hello(p, 2, 3);
	pbl_expect_nothing(p);
	assert_int_equal(edl_pbl_state(p), EDL_PBL_WAIT_HELLO_RESP);
	/* edl answers the HELLO with HELLO_RESP mode 3 and is back in command mode. */
	PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 3));
	pbl_expect_bytes(p, cmd_ready, sizeof(cmd_ready));
	/* A mode past the table leaves the mode as it was, still with a HELLO. */
	PFEED(p, edl_sahara_encode_switch_mode(pkt_, sizeof(pkt_), 7));
	pbl_expect_hello(p, 2, 3);
	PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 3));
	pbl_expect(p, EDL_SAHARA_CMD_READY);
	PFEED(p, edl_sahara_encode_switch_mode(pkt_, sizeof(pkt_), 0));
	pbl_expect_hello(p, 2, 0);
	PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 0));
	pbl_expect(p, EDL_SAHARA_READ_DATA);
	assert_int_equal(edl_pbl_state(p), EDL_PBL_TRANSFER);
	edl_pbl_free(p);
}

/* boot_sahara_handle_hello_resp checks the host's status, version and mode. */
static void test_pbl_checks_hello_resp(void **state)
{
	(void)state;
	static const struct {
		uint32_t version, compatible, status, mode, want;
	} cases[] = {
	        {2, 1, 0x0c, 0, 0x0c},                                 /* host error, echoed */
	        {2, 1, 0x77, 0, EDL_SAHARA_STATUS_UNKNOWN_HOST_ERROR}, /* past the table */
	        {1, 2, 0, 0, EDL_SAHARA_STATUS_INVALID_HOST_PROTOCOL}, /* version < compatible */
	        {3, 1, 0, 0, EDL_SAHARA_STATUS_PROTOCOL_MISMATCH},     /* above the ROM's 2 */
	        {0, 0, 0, 0, EDL_SAHARA_STATUS_PROTOCOL_MISMATCH},     /* below its 1 */
	        {2, 1, 0, 4, EDL_SAHARA_STATUS_INVALID_HOST_MODE},     /* SAHARA_MODE_LAST */
	        {2, 1, 0, 2, EDL_SAHARA_STATUS_MEMORY_DEBUG_NOT_SUPPORTED}, /* not crashed */
	};
	struct edl_pbl *p = new_pbl(2, 0);
	struct edl_sahara_pkt pkt;
	uint8_t short_resp[12];
	size_t i;

	edl_pbl_start(p);
	pbl_expect(p, EDL_SAHARA_HELLO);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), cases[i].version,
		                                      cases[i].compatible, cases[i].status,
		                                      cases[i].mode));
		pbl_expect_end(p, cases[i].want);
		pbl_expect_nothing(p);
		assert_int_equal(edl_pbl_state(p), EDL_PBL_WAIT_HELLO_RESP);
	}
	/* A HELLO_RESP of the wrong size is refused, not taken as junk. */
	memset(short_resp, 0, sizeof(short_resp));
	short_resp[0] = EDL_SAHARA_HELLO_RESP;
	short_resp[4] = sizeof(short_resp);
	assert_int_equal(edl_pbl_feed(p, short_resp, sizeof(short_resp)), EDL_OK);
	pbl_expect_end(p, EDL_SAHARA_STATUS_INVALID_PACKET_SIZE);
	/* Mode 1 (image transfer complete) reads the image like mode 0. */
	PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 1));
	pkt = pbl_expect(p, EDL_SAHARA_READ_DATA);
	assert_int_equal(pkt.u.read_data.offset, 0);
	edl_pbl_free(p);
}

static void test_pbl_serves_chip_id_v3(void **state)
{
	(void)state;
	struct edl_pbl *p = new_pbl(3, 0);
	uint8_t d[256];
	size_t n;

	edl_pbl_start(p);
	pbl_expect(p, EDL_SAHARA_HELLO);
	PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 3));
	pbl_expect(p, EDL_SAHARA_CMD_READY);
	exec(p, EDL_SAHARA_EXEC_CHIP_ID_V3, d, &n);
	assert_true(n >= 44);
	assert_int_equal(edl_sahara_get_le32(d + 36), 0x000cf0e1);
	assert_int_equal(edl_sahara_get_le16(d + 40), 0x0000);
	assert_int_equal(edl_sahara_get_le16(d + 42), 0x98a9);
	PFEED(p, edl_sahara_encode_execute(pkt_, sizeof(pkt_), EDL_SAHARA_EXEC_MSM_HWID));
	pbl_expect_end(p, EDL_SAHARA_STATUS_EXEC_CMD_UNSUPPORTED);
	edl_pbl_free(p);
}

struct served {
	struct range req[64];
	size_t n;
};

/* Plays the host: answers READ_DATA(64) from file in pieces of at most `split` bytes until
 * the ROM sends something else, which is returned. */
static struct edl_sahara_pkt serve(struct edl_pbl *p, const uint8_t *file, size_t len, size_t split,
                                   struct served *sv)
{
	struct edl_chunk c;
	struct edl_sahara_pkt pkt;
	uint64_t off, n, k;

	for (;;) {
		assert_true(edl_pbl_next_out(p, &c));
		assert_int_equal(edl_sahara_decode(&pkt, c.data, c.len, NULL), EDL_OK);
		if (pkt.cmd != EDL_SAHARA_READ_DATA && pkt.cmd != EDL_SAHARA_READ_DATA64)
			return pkt;
		assert_int_equal(pkt.u.read_data.image_id, 0x0d);
		off = pkt.u.read_data.offset;
		n = pkt.u.read_data.length;
		if (sv && sv->n < 64) {
			sv->req[sv->n].off = off;
			sv->req[sv->n++].len = n;
		}
		assert_true(off + n <= len);
		for (k = 0; k < n; k += split)
			assert_int_equal(edl_pbl_feed(p, file + off + k,
			                              (size_t)(n - k < split ? n - k : split)),
			                 EDL_OK);
	}
}

static void sha256(const uint8_t *d, size_t n, uint8_t out[32])
{
	unsigned int len = 32;

	assert_int_equal(EVP_Digest(d, n, out, &len, EVP_sha256(), NULL), 1);
}

static void test_pbl_pulls_programmer_header_first_in_pieces(void **state)
{
	(void)state;
	struct edl_pbl *p = new_pbl(3, 0);
	struct edl_sahara_pkt pkt;
	struct served sv = {0};
	uint8_t *f, want[32], got[32];
	const uint8_t *img;
	size_t len, n, i, total = 0;

	assert_int_equal(edl_elf_make_programmer(&f, &len, (size_t)5 << 19, 7), EDL_OK);
	edl_pbl_start(p);
	pbl_expect(p, EDL_SAHARA_HELLO);
	PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 0));
	assert_int_equal(edl_pbl_state(p), EDL_PBL_TRANSFER);
	pkt = serve(p, f, len, (size_t)1 << 20, &sv);
	assert_int_equal(pkt.cmd, EDL_SAHARA_END_OF_IMAGE);
	assert_int_equal(pkt.u.end_of_image.status, 0);
	/* The ELF header, then the program header table, then the segments. */
	assert_int_equal(sv.req[0].off, 0);
	assert_int_equal(sv.req[0].len, 64);
	assert_int_equal(sv.req[1].off, 64);
	assert_int_equal(sv.req[1].len, (2 + 7 % 2 + 1) * 56);
	for (i = 0; i < sv.n; i++) {
		assert_true(sv.req[i].len <= (1u << 20));
		total += (size_t)sv.req[i].len;
	}
	assert_int_equal(total, len);                      /* every byte exactly once */
	assert_true(sv.req[2].off > sv.req[sv.n - 1].off); /* not sequential */

	PFEED(p, edl_sahara_encode_done(pkt_, sizeof(pkt_)));
	pkt = pbl_expect(p, EDL_SAHARA_DONE_RESP);
	assert_int_equal(pkt.u.done_resp.status, 1);
	assert_int_equal(edl_pbl_state(p), EDL_PBL_LOADED);
	img = edl_pbl_image(p, &n);
	assert_int_equal(n, len);
	assert_memory_equal(img, f, len);
	sha256(f, len, want);
	edl_pbl_image_sha256(p, got);
	assert_memory_equal(got, want, 32);
	free(f);
	edl_pbl_free(p);
}

static void test_pbl_v2_reads_with_read_data_and_split_transfers(void **state)
{
	(void)state;
	struct edl_pbl *p = new_pbl(2, 0);
	struct edl_chunk c;
	struct edl_sahara_pkt pkt;
	uint8_t *f;
	const uint8_t *img;
	size_t len, n;

	assert_int_equal(edl_elf_make_programmer(&f, &len, 3000, 2), EDL_OK);
	edl_pbl_start(p);
	pbl_expect(p, EDL_SAHARA_HELLO);
	PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 0));
	assert_true(edl_pbl_next_out(p, &c));
	assert_int_equal(edl_sahara_decode(&pkt, c.data, c.len, NULL), EDL_OK);
	assert_int_equal(pkt.cmd, EDL_SAHARA_READ_DATA); /* 32-bit requests on v2 */
	/* Serve the header in 7-byte transfers, the rest likewise. */
	assert_int_equal(edl_pbl_feed(p, f, 7), EDL_OK);
	pbl_expect_nothing(p);
	assert_int_equal(edl_pbl_feed(p, f + 7, 57), EDL_OK);
	pkt = serve(p, f, len, 7, NULL);
	assert_int_equal(pkt.cmd, EDL_SAHARA_END_OF_IMAGE);
	assert_int_equal(pkt.u.end_of_image.status, 0);
	img = edl_pbl_image(p, &n);
	assert_int_equal(n, len);
	assert_memory_equal(img, f, len);
	free(f);
	edl_pbl_free(p);
}

static void test_pbl_rejects_non_elf_and_waits_again(void **state)
{
	(void)state;
	struct edl_pbl *p = new_pbl(2, 0);
	uint8_t junk[64];
	struct edl_sahara_pkt pkt;

	memset(junk, 0x5a, sizeof(junk));
	edl_pbl_start(p);
	pbl_expect(p, EDL_SAHARA_HELLO);
	PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 0));
	pbl_expect(p, EDL_SAHARA_READ_DATA);
	assert_int_equal(edl_pbl_feed(p, junk, sizeof(junk)), EDL_OK);
	pbl_expect_end(p, EDL_SAHARA_STATUS_INVALID_ELF_HDR);
	assert_int_equal(edl_pbl_state(p), EDL_PBL_WAIT_HELLO_RESP);
	/* It starts over when asked. */
	PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 0));
	pkt = pbl_expect(p, EDL_SAHARA_READ_DATA);
	assert_int_equal(pkt.u.read_data.offset, 0);
	edl_pbl_free(p);
}

static void test_pbl_refuses_image_above_its_limit(void **state)
{
	(void)state;
	struct edl_pbl *p = new_pbl(2, 4096);
	struct edl_sahara_pkt pkt;
	uint8_t *f;
	size_t len;

	assert_int_equal(edl_elf_make_programmer(&f, &len, 20000, 5), EDL_OK);
	edl_pbl_start(p);
	pbl_expect(p, EDL_SAHARA_HELLO);
	PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 0));
	pkt = serve(p, f, len, 1 << 20, NULL);
	assert_int_equal(pkt.cmd, EDL_SAHARA_END_OF_IMAGE);
	assert_int_equal(pkt.u.end_of_image.status, EDL_SAHARA_STATUS_INVALID_DATA_SIZE);
	assert_int_equal(edl_pbl_state(p), EDL_PBL_WAIT_HELLO_RESP);
	free(f);
	edl_pbl_free(p);
}

static void test_pbl_rejects_data_overrun(void **state)
{
	(void)state;
	struct edl_pbl *p = new_pbl(2, 0);
	uint8_t *f;
	size_t len;

	assert_int_equal(edl_elf_make_programmer(&f, &len, 3000, 2), EDL_OK);
	edl_pbl_start(p);
	pbl_expect(p, EDL_SAHARA_HELLO);
	PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 0));
	pbl_expect(p, EDL_SAHARA_READ_DATA);
	assert_int_equal(edl_pbl_feed(p, f, 65), EDL_OK);
	pbl_expect_end(p, EDL_SAHARA_STATUS_INVALID_RX_LENGTH);
	free(f);
	edl_pbl_free(p);
}

static void test_pbl_resets(void **state)
{
	(void)state;
	struct edl_pbl *p = new_pbl(2, 0);

	edl_pbl_start(p);
	pbl_expect(p, EDL_SAHARA_HELLO);
	PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 0));
	pbl_expect(p, EDL_SAHARA_READ_DATA);
	/* A host that gives up sends RESET instead of the data. */
	PFEED(p, edl_sahara_encode_reset(pkt_, sizeof(pkt_)));
	pbl_expect(p, EDL_SAHARA_RESET_RESP);
	assert_int_equal(edl_pbl_state(p), EDL_PBL_RESET);
	PFEED(p, edl_sahara_encode_reset_state_machine(pkt_, sizeof(pkt_)));
	pbl_expect_nothing(p); /* rebooting: deaf */
	edl_pbl_free(p);
}

/* ---- quirks ---- */

static struct edl_pbl *new_quirky(uint32_t version, const struct edl_pbl_quirks *q)
{
	struct edl_pbl_config cfg;
	struct edl_pbl *p;

	edl_pbl_config_default(&cfg);
	cfg.sahara_version = version;
	cfg.quirks = *q;
	assert_int_equal(edl_pbl_new(&p, &cfg), EDL_OK);
	return p;
}

static void to_command_mode(struct edl_pbl *p)
{
	edl_pbl_start(p);
	pbl_expect(p, EDL_SAHARA_HELLO);
	PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 3));
	pbl_expect(p, EDL_SAHARA_CMD_READY);
}

/* Expects the EXECUTE_RESP bytes exactly, then returns the answer. */
static size_t exec_exact(struct edl_pbl *p, uint32_t cmd, uint32_t want_len, uint8_t *data)
{
	uint8_t resp[16] = {0x0e, 0, 0, 0, 0x10, 0, 0, 0};
	struct edl_chunk c;

	edl_sahara_put_le32(resp + 8, cmd);
	edl_sahara_put_le32(resp + 12, want_len);
	PFEED(p, edl_sahara_encode_execute(pkt_, sizeof(pkt_), cmd));
	pbl_expect_bytes(p, resp, sizeof(resp));
	PFEED(p, edl_sahara_encode_execute_data(pkt_, sizeof(pkt_), cmd));
	assert_true(edl_pbl_next_out(p, &c));
	assert_int_equal(c.len, want_len);
	memcpy(data, c.data, c.len);
	return c.len;
}

/* MSM8916 / MDM9x07 report "pending" after their only programmer (qdl
 * sahara_has_done_pending_quirk; QFirehose image 13; boot_sahara_handle_done_resp). */
static void test_pbl_done_resp_pending(void **state)
{
	(void)state;
	static const uint8_t done_pending[12] = {0x06, 0, 0, 0, 0x0c, 0, 0, 0, 0, 0, 0, 0};
	static const uint8_t done_complete[12] = {0x06, 0, 0, 0, 0x0c, 0, 0, 0, 1, 0, 0, 0};
	struct edl_pbl_quirks q = {.done_resp_pending = true};
	struct edl_sahara_pkt pkt;
	uint8_t *f;
	size_t len;
	int i;

	assert_int_equal(edl_elf_make_programmer(&f, &len, 9000, 3), EDL_OK);
	for (i = 0; i < 2; i++) {
		struct edl_pbl *p = new_quirky(2, &q);

		edl_pbl_start(p);
		pbl_expect(p, EDL_SAHARA_HELLO);
		PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 0));
		pkt = serve(p, f, len, 1 << 20, NULL);
		assert_int_equal(pkt.cmd, EDL_SAHARA_END_OF_IMAGE);
		assert_int_equal(pkt.u.end_of_image.status, 0);
		PFEED(p, edl_sahara_encode_done(pkt_, sizeof(pkt_)));
		pbl_expect_bytes(p, i == 0 ? done_pending : done_complete, 12);
		assert_int_equal(edl_pbl_state(p), EDL_PBL_LOADED);
		edl_pbl_free(p);
		q.done_resp_pending = false;
	}
	free(f);
}

/* SDX24 (QFirehose log): after the ELF headers, READ_DATA asks 4 KiB at a time. */
static void test_pbl_read_piece_asks_small_pieces(void **state)
{
	(void)state;
	struct edl_pbl_quirks q = {.read_piece = 4096};
	struct edl_pbl *p = new_quirky(2, &q);
	struct edl_elf_header eh;
	struct edl_elf_phdr ph[8];
	struct edl_sahara_pkt pkt;
	struct edl_chunk c;
	uint8_t *f;
	const uint8_t *img;
	size_t len, n, i, k, pieces = 0, total = 0;
	uint64_t off, plen;

	assert_int_equal(edl_elf_make_programmer(&f, &len, 30000, 5), EDL_OK);
	assert_int_equal(edl_elf_parse_file(&eh, ph, 8, &n, f, len, NULL), EDL_OK);
	for (i = 0; i < n; i++)
		if (ph[i].type == EDL_ELF_PT_LOAD && ph[i].filesz > 0)
			pieces += (size_t)((ph[i].filesz + 4095) / 4096);
	edl_pbl_start(p);
	pbl_expect(p, EDL_SAHARA_HELLO);
	PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 0));
	pkt = pbl_expect(p, EDL_SAHARA_READ_DATA);
	assert_int_equal(pkt.u.read_data.offset, 0);
	assert_int_equal(pkt.u.read_data.length, 64);
	assert_int_equal(edl_pbl_feed(p, f, 64), EDL_OK);
	pkt = pbl_expect(p, EDL_SAHARA_READ_DATA);
	assert_int_equal(pkt.u.read_data.offset, 64);
	assert_int_equal(pkt.u.read_data.length, edl_elf_phdr_table_size(&eh));
	assert_int_equal(edl_pbl_feed(p, f + 64, (size_t)pkt.u.read_data.length), EDL_OK);
	for (i = 0;; i++) {
		assert_true(edl_pbl_next_out(p, &c));
		assert_int_equal(edl_sahara_decode(&pkt, c.data, c.len, NULL), EDL_OK);
		if (pkt.cmd == EDL_SAHARA_END_OF_IMAGE)
			break;
		assert_int_equal(pkt.cmd, EDL_SAHARA_READ_DATA);
		off = pkt.u.read_data.offset;
		plen = pkt.u.read_data.length;
		assert_true(plen > 0 && plen <= 4096);
		total += (size_t)plen;
		if (i == 0) {
			/* The first piece in 1-byte transfers: no answer until it is whole. */
			for (k = 0; k + 1 < plen; k++) {
				assert_int_equal(edl_pbl_feed(p, f + off + k, 1), EDL_OK);
				pbl_expect_nothing(p);
			}
			assert_int_equal(edl_pbl_feed(p, f + off + k, 1), EDL_OK);
		} else {
			assert_int_equal(edl_pbl_feed(p, f + off, (size_t)plen), EDL_OK);
		}
	}
	assert_int_equal(pkt.u.end_of_image.status, 0);
	assert_int_equal(i, pieces);
	assert_int_equal(total + 64 + edl_elf_phdr_table_size(&eh), len);
	img = edl_pbl_image(p, &n);
	assert_int_equal(n, len);
	assert_memory_equal(img, f, len);
	free(f);
	edl_pbl_free(p);
}

/* SHA-384 parts answer the 48-byte hash and 96 zeros: EXECUTE_RESP
 * 0e000000 10000000 03000000 90000000 (edl #585), the hash then zeros (#701). */
static void test_pbl_pk_hash_zero_padded(void **state)
{
	(void)state;
	struct edl_pbl_config cfg;
	struct edl_pbl *p;
	uint8_t d[256], zeros[144] = {0};
	size_t i;

	edl_pbl_config_default(&cfg);
	for (i = 0; i < 48; i++)
		cfg.pk_hash[i] = (uint8_t)(0x31 + i);
	cfg.pk_hash_len = 48;
	cfg.quirks.pk_hash_zero_padded = true;
	assert_int_equal(edl_pbl_new(&p, &cfg), EDL_OK);
	to_command_mode(p);
	assert_int_equal(exec_exact(p, EDL_SAHARA_EXEC_PK_HASH, 0x90, d), 144);
	assert_memory_equal(d, cfg.pk_hash, 48);
	assert_memory_equal(d + 48, zeros, 96);
	edl_pbl_free(p);

	/* Without the quirk: the hash twice (SHA-256 parts). */
	cfg.quirks.pk_hash_zero_padded = false;
	assert_int_equal(edl_pbl_new(&p, &cfg), EDL_OK);
	to_command_mode(p);
	assert_int_equal(exec_exact(p, EDL_SAHARA_EXEC_PK_HASH, 96, d), 96);
	assert_memory_equal(d, cfg.pk_hash, 48);
	assert_memory_equal(d + 48, cfg.pk_hash, 48);
	edl_pbl_free(p);
}

/* SDX7x (v3): the serial answer is 8 bytes, the chip id in the upper word
 * (edl #764 "Chip Serial Number : 443c5bd45c8"). */
static void test_pbl_serial_of_eight_bytes(void **state)
{
	(void)state;
	static const uint8_t want[8] = {0xc8, 0x45, 0xbd, 0xc5, 0x43, 0x04, 0x00, 0x00};
	struct edl_pbl_config cfg;
	struct edl_pbl *p;
	uint8_t d[256];

	edl_pbl_config_default(&cfg);
	cfg.sahara_version = 3;
	cfg.serial = 0xc5bd45c8;
	cfg.quirks.serial_len = 8;
	cfg.quirks.chip_id = 0x443;
	assert_int_equal(edl_pbl_new(&p, &cfg), EDL_OK);
	to_command_mode(p);
	assert_int_equal(exec_exact(p, EDL_SAHARA_EXEC_SERIAL, 8, d), 8);
	assert_memory_equal(d, want, 8);
	edl_pbl_free(p);

	cfg.quirks.serial_len = 0; /* the common 4 bytes (edl #732: 7d0f093b) */
	assert_int_equal(edl_pbl_new(&p, &cfg), EDL_OK);
	to_command_mode(p);
	assert_int_equal(exec_exact(p, EDL_SAHARA_EXEC_SERIAL, 4, d), 4);
	assert_memory_equal(d, want, 4);
	edl_pbl_free(p);
}

/* SDM845: EXECUTE_RESP 0e000000 10000000 02000000 18000000 (edl #398), the
 * 8-byte HW id three times (edl #635 RX:01bf1700e1508000 x3). */
static void test_pbl_hwid_of_24_bytes(void **state)
{
	(void)state;
	struct edl_pbl_quirks q = {.hwid_len = 24};
	struct edl_pbl *p = new_quirky(2, &q);
	uint8_t d[256], one[8];
	size_t i;

	edl_sahara_put_le64(one, 0x000cf0e1000098a9ull);
	to_command_mode(p);
	assert_int_equal(exec_exact(p, EDL_SAHARA_EXEC_MSM_HWID, 0x18, d), 24);
	for (i = 0; i < 24; i += 8)
		assert_memory_equal(d + i, one, 8);
	edl_pbl_free(p);
}

/* XBL boot_sahara.c has no handler for 0x13: in command mode it is an invalid
 * command; while waiting for HELLO_RESP, junk (a HELLO again). */
static void test_pbl_without_reset_state_machine(void **state)
{
	(void)state;
	struct edl_pbl_quirks q = {.no_reset_state_machine = true};
	struct edl_pbl *p = new_quirky(2, &q);
	uint8_t d[256];
	size_t n;

	to_command_mode(p);
	PFEED(p, edl_sahara_encode_reset_state_machine(pkt_, sizeof(pkt_)));
	pbl_expect_end(p, EDL_SAHARA_STATUS_INVALID_CMD);
	pbl_expect_nothing(p);
	assert_int_equal(edl_pbl_state(p), EDL_PBL_COMMAND);
	exec(p, EDL_SAHARA_EXEC_SERIAL, d, &n);
	PFEED(p, edl_sahara_encode_switch_mode(pkt_, sizeof(pkt_), 0));
	pbl_expect_hello(p, 2, 0);
	PFEED(p, edl_sahara_encode_reset_state_machine(pkt_, sizeof(pkt_)));
	pbl_expect_hello(p, 2, 0);
	pbl_expect_nothing(p);
	edl_pbl_free(p);
}

/* XBL: after a refused EXECUTE (or an invalid packet in command mode) only RESET
 * is accepted (boot_sahara_handle_end_image_tx -> WAIT_RESET). */
static void test_pbl_refusal_needs_reset(void **state)
{
	(void)state;
	struct edl_pbl_quirks q = {.refusal_needs_reset = true, .no_reset_state_machine = true};
	struct edl_pbl *p = new_quirky(2, &q);
	int round;

	for (round = 0; round < 2; round++) {
		p = round == 0 ? p : new_quirky(2, &q);
		to_command_mode(p);
		if (round == 0) {
			PFEED(p, edl_sahara_encode_execute(pkt_, sizeof(pkt_),
			                                   EDL_SAHARA_EXEC_CHIP_ID_V3));
			pbl_expect_end(p, EDL_SAHARA_STATUS_EXEC_CMD_UNSUPPORTED);
		} else {
			PFEED(p, edl_sahara_encode_done(pkt_, sizeof(pkt_)));
			pbl_expect_end(p, EDL_SAHARA_STATUS_INVALID_CMD);
		}
		pbl_expect_nothing(p);
		assert_int_equal(edl_pbl_state(p), EDL_PBL_WAIT_RESET);
		/* What a host that skips refusals sends next: all refused. */
		PFEED(p, edl_sahara_encode_execute(pkt_, sizeof(pkt_), EDL_SAHARA_EXEC_SERIAL));
		pbl_expect_end(p, EDL_SAHARA_STATUS_INVALID_CMD);
		PFEED(p, edl_sahara_encode_switch_mode(pkt_, sizeof(pkt_), 0));
		pbl_expect_end(p, EDL_SAHARA_STATUS_INVALID_CMD);
		PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 0));
		pbl_expect_end(p, EDL_SAHARA_STATUS_INVALID_CMD);
		PFEED(p, edl_sahara_encode_reset_state_machine(pkt_, sizeof(pkt_)));
		pbl_expect_end(p, EDL_SAHARA_STATUS_INVALID_CMD);
		pbl_expect_nothing(p);
		assert_int_equal(edl_pbl_state(p), EDL_PBL_WAIT_RESET);
		PFEED(p, edl_sahara_encode_reset(pkt_, sizeof(pkt_)));
		pbl_expect(p, EDL_SAHARA_RESET_RESP);
		assert_int_equal(edl_pbl_state(p), EDL_PBL_RESET);
		edl_pbl_free(p);
	}
}

/* A transfer failure on such a ROM also leaves only RESET. */
static void test_pbl_refusal_needs_reset_after_a_bad_image(void **state)
{
	(void)state;
	struct edl_pbl_quirks q = {.refusal_needs_reset = true};
	struct edl_pbl *p = new_quirky(2, &q);
	uint8_t junk[64];

	memset(junk, 0x5a, sizeof(junk));
	edl_pbl_start(p);
	pbl_expect(p, EDL_SAHARA_HELLO);
	PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 0));
	pbl_expect(p, EDL_SAHARA_READ_DATA);
	assert_int_equal(edl_pbl_feed(p, junk, sizeof(junk)), EDL_OK);
	pbl_expect_end(p, EDL_SAHARA_STATUS_INVALID_ELF_HDR);
	assert_int_equal(edl_pbl_state(p), EDL_PBL_WAIT_RESET);
	PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 0));
	pbl_expect_end(p, EDL_SAHARA_STATUS_INVALID_CMD);
	edl_pbl_free(p);
}

/* v3 parts that answer only the serial (edl #663): refused commands get no
 * EXECUTE_RESP but END_OF_IMAGE 0x1f (boot_sahara_handle_cmd_exec), the ROM
 * stays in command mode, and SWITCH_MODE brings a fresh HELLO. */
static void test_pbl_refuses_masked_client_commands(void **state)
{
	(void)state;
	static const uint8_t refused[16] = {0x04, 0, 0, 0, 0x10, 0, 0, 0,
	                                    0x0d, 0, 0, 0, 0x1f, 0, 0, 0};
	static const uint32_t masked[] = {EDL_SAHARA_EXEC_CHIP_ID_V3, EDL_SAHARA_EXEC_PK_HASH,
	                                  EDL_SAHARA_EXEC_SBL_VERSION, EDL_SAHARA_EXEC_MSM_HWID};
	struct edl_pbl_quirks q = {.refuse_exec_mask = (1u << EDL_SAHARA_EXEC_MSM_HWID) |
	                                               (1u << EDL_SAHARA_EXEC_PK_HASH) |
	                                               (1u << EDL_SAHARA_EXEC_SBL_VERSION) |
	                                               (1u << EDL_SAHARA_EXEC_CHIP_ID_V3)};
	struct edl_pbl *p = new_quirky(3, &q);
	uint8_t d[256];
	size_t i;

	to_command_mode(p);
	assert_int_equal(exec_exact(p, EDL_SAHARA_EXEC_SERIAL, 4, d), 4);
	assert_int_equal(edl_sahara_get_le32(d), 0x1a2b3c4d);
	for (i = 0; i < sizeof(masked) / sizeof(masked[0]); i++) {
		PFEED(p, edl_sahara_encode_execute(pkt_, sizeof(pkt_), masked[i]));
		pbl_expect_bytes(p, refused, sizeof(refused));
		pbl_expect_nothing(p);
		assert_int_equal(edl_pbl_state(p), EDL_PBL_COMMAND);
	}
	PFEED(p, edl_sahara_encode_switch_mode(pkt_, sizeof(pkt_), 0));
	pbl_expect_hello(p, 3, 0);
	edl_pbl_free(p);
}

/* qdl #320 (QCS8550): a ZLP after a READ_DATA answer and the ROM answers nothing
 * more; other ROMs ignore ZLPs, and this one ignores them outside the transfer. */
static void test_pbl_zlp_breaks_the_transfer(void **state)
{
	(void)state;
	struct edl_pbl_quirks q = {.zlp_breaks_transfer = true};
	struct edl_sahara_pkt pkt;
	uint8_t *f;
	size_t len;
	int quirk;

	assert_int_equal(edl_elf_make_programmer(&f, &len, 20000, 9), EDL_OK);
	for (quirk = 1; quirk >= 0; quirk--) {
		struct edl_pbl *p;

		q.zlp_breaks_transfer = quirk;
		p = new_quirky(2, &q);
		to_command_mode(p);
		assert_int_equal(edl_pbl_feed(p, NULL, 0), EDL_OK); /* command mode: ignored */
		pbl_expect_nothing(p);
		PFEED(p, edl_sahara_encode_switch_mode(pkt_, sizeof(pkt_), 0));
		pbl_expect(p, EDL_SAHARA_HELLO);
		PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 0));
		pbl_expect(p, EDL_SAHARA_READ_DATA);
		assert_int_equal(edl_pbl_feed(p, f, 64), EDL_OK);
		pkt = pbl_expect(p, EDL_SAHARA_READ_DATA);
		assert_int_equal(edl_pbl_feed(p, NULL, 0), EDL_OK);
		if (quirk) {
			assert_int_equal(edl_pbl_state(p), EDL_PBL_HUNG);
			assert_int_equal(edl_pbl_feed(p, f + 64, (size_t)pkt.u.read_data.length),
			                 EDL_OK);
			pbl_expect_nothing(p);
			PFEED(p, edl_sahara_encode_reset(pkt_, sizeof(pkt_)));
			pbl_expect_nothing(p); /* not even RESET: power-cycle */
		} else {
			assert_int_equal(edl_pbl_state(p), EDL_PBL_TRANSFER);
			assert_int_equal(edl_pbl_feed(p, f + 64, (size_t)pkt.u.read_data.length),
			                 EDL_OK);
			pkt = serve(p, f, len, 1 << 20, NULL);
			assert_int_equal(pkt.cmd, EDL_SAHARA_END_OF_IMAGE);
			assert_int_equal(pkt.u.end_of_image.status, 0);
		}
		edl_pbl_free(p);
	}
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_elf_generator_builds_covering_programmer),
	        cmocka_unit_test(test_elf_parser_rejects_malformed_headers),
	        cmocka_unit_test(test_elf_parser_reads_elf32),
	        cmocka_unit_test(test_pbl_says_hello_unless_consumed),
	        cmocka_unit_test(test_pbl_answers_xml_probe_with_hello_while_waiting),
	        cmocka_unit_test(test_pbl_answers_junk_past_hello_with_end_of_image),
	        cmocka_unit_test(test_pbl_with_reset_state_machine_starts_over),
	        cmocka_unit_test(test_pbl_switch_mode_answers_a_fresh_hello),
	        cmocka_unit_test(test_pbl_checks_hello_resp),
	        cmocka_unit_test(test_pbl_survives_garbage_in_every_state),
	        cmocka_unit_test(test_pbl_serves_command_mode_v2),
	        cmocka_unit_test(test_pbl_serves_chip_id_v3),
	        cmocka_unit_test(test_pbl_pulls_programmer_header_first_in_pieces),
	        cmocka_unit_test(test_pbl_v2_reads_with_read_data_and_split_transfers),
	        cmocka_unit_test(test_pbl_rejects_non_elf_and_waits_again),
	        cmocka_unit_test(test_pbl_refuses_image_above_its_limit),
	        cmocka_unit_test(test_pbl_rejects_data_overrun),
	        cmocka_unit_test(test_pbl_resets),
	        cmocka_unit_test(test_pbl_done_resp_pending),
	        cmocka_unit_test(test_pbl_read_piece_asks_small_pieces),
	        cmocka_unit_test(test_pbl_pk_hash_zero_padded),
	        cmocka_unit_test(test_pbl_serial_of_eight_bytes),
	        cmocka_unit_test(test_pbl_hwid_of_24_bytes),
	        cmocka_unit_test(test_pbl_without_reset_state_machine),
	        cmocka_unit_test(test_pbl_refusal_needs_reset),
	        cmocka_unit_test(test_pbl_refusal_needs_reset_after_a_bad_image),
	        cmocka_unit_test(test_pbl_refuses_masked_client_commands),
	        cmocka_unit_test(test_pbl_zlp_breaks_the_transfer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
