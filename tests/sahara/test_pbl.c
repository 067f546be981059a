/*
 * Tests of the emulated boot ROM and the ELF helpers it uses: the synthetic
 * programmer is a valid ELF whose loadable segments cover the file, the parser
 * refuses malformed headers, and the ROM says HELLO, serves command mode, pulls
 * a programmer header first and in pieces of at most 1 MiB, and answers
 * anything unexpected (garbage, XML) with END_OF_IMAGE "invalid command".
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
}

static void test_pbl_answers_xml_probe_with_invalid_command(void **state)
{
	(void)state;
	struct edl_pbl *p = new_pbl(2, 0);

	/* hello_consumed or not: the ROM waits for HELLO_RESP and gets XML. */
	assert_int_equal(edl_pbl_feed(p, (const uint8_t *)EDL_SAHARA_PROBE_XML,
	                              strlen(EDL_SAHARA_PROBE_XML)),
	                 EDL_OK);
	pbl_expect_end(p, EDL_SAHARA_STATUS_INVALID_CMD);
	PFEED(p, edl_sahara_encode_reset_state_machine(pkt_, sizeof(pkt_)));
	pbl_expect(p, EDL_SAHARA_HELLO);
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

	for (st = 0; st < 3; st++) {
		struct edl_pbl *p = new_pbl(2 + (st & 1), 0);

		edl_pbl_start(p);
		if (st == 1)
			PFEED(p, edl_sahara_encode_hello_resp(pkt_, sizeof(pkt_), 2, 1, 0, 3));
		if (st == 2)
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
	PFEED(p, edl_sahara_encode_execute_data(pkt_, sizeof(pkt_), EDL_SAHARA_EXEC_SERIAL));
	pbl_expect_end(p, EDL_SAHARA_STATUS_EXEC_DATA_INVALID_CLIENT_CMD);
	PFEED(p, edl_sahara_encode_done(pkt_, sizeof(pkt_)));
	pbl_expect_end(p, EDL_SAHARA_STATUS_INVALID_CMD);

	PFEED(p, edl_sahara_encode_switch_mode(pkt_, sizeof(pkt_), 0));
	pbl_expect(p, EDL_SAHARA_HELLO);
	assert_int_equal(edl_pbl_state(p), EDL_PBL_WAIT_HELLO_RESP);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_elf_generator_builds_covering_programmer),
	        cmocka_unit_test(test_elf_parser_rejects_malformed_headers),
	        cmocka_unit_test(test_elf_parser_reads_elf32),
	        cmocka_unit_test(test_pbl_says_hello_unless_consumed),
	        cmocka_unit_test(test_pbl_answers_xml_probe_with_invalid_command),
	        cmocka_unit_test(test_pbl_survives_garbage_in_every_state),
	        cmocka_unit_test(test_pbl_serves_command_mode_v2),
	        cmocka_unit_test(test_pbl_serves_chip_id_v3),
	        cmocka_unit_test(test_pbl_pulls_programmer_header_first_in_pieces),
	        cmocka_unit_test(test_pbl_v2_reads_with_read_data_and_split_transfers),
	        cmocka_unit_test(test_pbl_rejects_non_elf_and_waits_again),
	        cmocka_unit_test(test_pbl_refuses_image_above_its_limit),
	        cmocka_unit_test(test_pbl_rejects_data_overrun),
	        cmocka_unit_test(test_pbl_resets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
