/*
 * Memory dumps: the table parser against hostile and broken tables, and the
 * host engine reading the emulated crashed ROM's table and regions over an
 * in-memory pump (what it hands the sink equals what the ROM serves, pieces
 * no larger than 512 KiB, RESET at the end; a sink that refuses, a damaged
 * table, and a host without a sink).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "edlstation/pbl.h"
#include "edlstation/sahara.h"
#include "edlstation/sahara_dump.h"

/* One 64- or 32-bit entry with a raw 20-byte name field. */
static void entry(uint8_t *e, bool is64, uint64_t base, uint64_t len, const char *desc,
                  const uint8_t name[20])
{
	size_t es = is64 ? 64 : 52;

	memset(e, 0, es);
	if (is64) {
		edl_sahara_put_le64(e, 1);
		edl_sahara_put_le64(e + 8, base);
		edl_sahara_put_le64(e + 16, len);
	} else {
		edl_sahara_put_le32(e, 1);
		edl_sahara_put_le32(e + 4, (uint32_t)base);
		edl_sahara_put_le32(e + 8, (uint32_t)len);
	}
	memcpy(e + es - 40, desc, strnlen(desc, 20));
	memcpy(e + es - 20, name, 20);
}

static void name20(uint8_t out[20], const char *s)
{
	memset(out, 0, 20);
	memcpy(out, s, strnlen(s, 20));
}

static void test_dump_parses_real_table_32_and_64(void **state)
{
	(void)state;
	uint8_t t[3 * 64], n[20];
	struct edl_sahara_region *r;
	size_t count;
	struct edl_error err;

	for (int is64 = 0; is64 < 2; is64++) {
		size_t es = is64 ? 64 : 52;

		name20(n, "DDRCS0_0.BIN");
		entry(t, is64, 0x80000000u, 2u << 20, "DDR CS0 part0 Memory", n);
		name20(n, "OCIMEM.BIN");
		entry(t + es, is64, 0x14680000u, 0x40000, "OCIMEM", n);
		name20(n, "RST_STAT.BIN");
		entry(t + 2 * es, is64, 0x0c264000u, 4, "Reset Status Region", n);
		assert_int_equal(edl_sahara_dump_parse_table(&r, &count, t, 3 * es, is64, &err),
		                 EDL_OK);
		assert_int_equal(count, 3);
		assert_string_equal(r[0].name, "DDRCS0_0.BIN");
		/* A 20-character description fills its field: no NUL, kept whole. */
		assert_string_equal(r[0].desc, "DDR CS0 part0 Memory");
		assert_int_equal(r[0].base, 0x80000000u);
		assert_int_equal(r[0].length, 2u << 20);
		assert_string_equal(r[2].name, "RST_STAT.BIN");
		assert_int_equal(r[2].length, 4);
		free(r);
	}
}

static void test_dump_hostile_names_become_safe_unique_names(void **state)
{
	(void)state;
	static const char *const raw[] = {"../../escaped.bin", "/etc/passwd",      "", ".",
	                                  "manifest.json",     "../../escaped.bin"};
	uint8_t t[8 * 64], n[20];
	struct edl_sahara_region *r;
	size_t count, k = sizeof(raw) / sizeof(raw[0]);
	struct edl_error err;

	for (size_t i = 0; i < k; i++) {
		name20(n, raw[i]);
		entry(t + i * 64, true, 0x1000 * i, 16, "x", n);
	}
	/* No NUL anywhere in the name field, and bytes no file name should have. */
	memset(n, 'A', 20);
	entry(t + k * 64, true, 0x9000, 16, "no NUL", n);
	memcpy(n, "a\nb\x01\xff", 5);
	entry(t + (k + 1) * 64, true, 0xa000, 16, "ctl", n);
	assert_int_equal(edl_sahara_dump_parse_table(&r, &count, t, (k + 2) * 64, true, &err),
	                 EDL_OK);
	assert_int_equal(count, k + 2);
	for (size_t i = 0; i < count; i++) {
		/* Only safe characters, no leading dot, never empty. */
		assert_true(r[i].name[0] != '\0' && r[i].name[0] != '.');
		assert_null(strchr(r[i].name, '/'));
		assert_int_equal(strspn(r[i].name,
		                        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		                        "0123456789._-"),
		                 strlen(r[i].name));
		assert_true(strcmp(r[i].name, "manifest.json") != 0);
		for (size_t j = 0; j < i; j++)
			assert_true(strcmp(r[i].name, r[j].name) != 0);
	}
	assert_string_equal(r[0].name, "___.._escaped.bin");
	assert_string_equal(r[0].raw_name, "../../escaped.bin");
	assert_string_equal(r[1].name, "_etc_passwd");
	assert_string_equal(r[2].name, "region2.bin");
	assert_string_equal(r[3].name, "_");
	assert_string_equal(r[4].name, "manifest-2.json");
	assert_string_equal(r[5].name, "___.._escaped-2.bin");
	assert_string_equal(r[6].name, "AAAAAAAAAAAAAAAAAAAA");
	assert_string_equal(r[7].raw_name, "a\\x0ab\\x01\\xffAAAAAAAAAAAAAAA");
	free(r);
}

static void test_dump_rejects_broken_tables(void **state)
{
	(void)state;
	uint8_t t[2 * 64], n[20];
	struct edl_sahara_region *r = NULL;
	size_t count = 7;
	struct edl_error err;

	name20(n, "X.BIN");
	entry(t, true, 0x1000, 16, "x", n);
	/* Empty, ragged, too long. */
	assert_int_equal(edl_sahara_dump_parse_table(&r, &count, t, 0, true, &err),
	                 EDL_E_MEMORY_DUMP);
	assert_non_null(strstr(err.detail, "empty"));
	assert_int_equal(edl_sahara_dump_parse_table(&r, &count, t, 63, true, &err),
	                 EDL_E_MEMORY_DUMP);
	assert_non_null(strstr(err.detail, "not a whole number of 64-byte"));
	assert_int_equal(edl_sahara_dump_parse_table(&r, &count, t, 70000, true, &err),
	                 EDL_E_MEMORY_DUMP);
	assert_non_null(strstr(err.detail, "more than the 65536"));
	/* A region past the end of the address space, 64- and 32-bit. */
	entry(t + 64, true, UINT64_MAX - 0xfff, 0x2000, "wraps", n);
	assert_int_equal(edl_sahara_dump_parse_table(&r, &count, t, 128, true, &err),
	                 EDL_E_MEMORY_DUMP);
	assert_non_null(strstr(err.detail, "entry 1 (\"X.BIN\")"));
	assert_non_null(strstr(err.detail, "runs past the end of the 64-bit address space"));
	entry(t + 52, false, 0xfffff000u, 0x2000, "wraps", n);
	entry(t, false, 0x1000, 16, "x", n);
	assert_int_equal(edl_sahara_dump_parse_table(&r, &count, t, 104, false, &err),
	                 EDL_E_MEMORY_DUMP);
	assert_non_null(strstr(err.detail, "32-bit address space"));
	/* Up to the last byte is fine. */
	entry(t + 52, false, 0xfffff000u, 0x1000, "top", n);
	assert_int_equal(edl_sahara_dump_parse_table(&r, &count, t, 104, false, &err), EDL_OK);
	assert_int_equal(count, 2);
	free(r);
}

/* ---- host engine against the emulated ROM ---- */

struct sink_state {
	const struct edl_sahara_region *regions; /* valid in begin only */
	size_t n;
	char names[8][40];
	uint64_t lengths[8];
	uint8_t *bytes[8];
	uint64_t total;
	bool is64, ended;
	uint64_t refuse_above; /* begin refuses a dump larger than this (0: never) */
	size_t max_piece;
};

static int sink_begin(void *data, const struct edl_sahara_region *r, size_t n, uint64_t total,
                      bool is64, struct edl_error *err)
{
	struct sink_state *s = data;

	if (s->refuse_above && total > s->refuse_above)
		return edl_error_set(err, EDL_E_MEMORY_DUMP, "dump of %llu bytes is too large",
		                     (unsigned long long)total);
	assert_true(n <= 8);
	s->n = n;
	s->total = total;
	s->is64 = is64;
	for (size_t i = 0; i < n; i++) {
		snprintf(s->names[i], sizeof(s->names[i]), "%s", r[i].name);
		s->lengths[i] = r[i].length;
		s->bytes[i] = calloc(1, r[i].length ? r[i].length : 1);
	}
	return EDL_OK;
}

static int sink_data(void *data, size_t i, uint64_t off, const uint8_t *b, size_t len,
                     struct edl_error *err)
{
	struct sink_state *s = data;

	(void)err;
	assert_true(i < s->n);
	assert_true(off + len <= s->lengths[i]);
	memcpy(s->bytes[i] + off, b, len);
	if (len > s->max_piece)
		s->max_piece = len;
	return EDL_OK;
}

static int sink_end(void *data, struct edl_error *err)
{
	(void)err;
	((struct sink_state *)data)->ended = true;
	return EDL_OK;
}

/* Runs host and ROM until the host finishes; returns whether RESET reached the ROM. */
static bool pump(struct edl_sahara_host *h, struct edl_pbl *p)
{
	struct edl_chunk c;
	uint64_t now = 1000;

	for (int guard = 0; guard < 100000; guard++) {
		bool moved = false;

		while (edl_sahara_host_next_out(h, &c)) {
			edl_pbl_feed(p, c.data, c.len);
			moved = true;
		}
		if (edl_sahara_host_status(h) != EDL_ENGINE_RUNNING)
			return edl_pbl_state(p) == EDL_PBL_RESET;
		while (edl_pbl_next_out(p, &c)) {
			/* The USB layer splits a long answer into transfers. */
			for (size_t off = 0; off < c.len; off += 16384) {
				size_t n = c.len - off < 16384 ? c.len - off : 16384;

				edl_sahara_host_feed(h, c.data + off, n, ++now);
			}
			moved = true;
		}
		if (!moved) {
			now = edl_sahara_host_deadline(h);
			assert_true(now != 0);
			edl_sahara_host_timeout(h, now);
		}
	}
	fail_msg("pump did not finish");
	return false;
}

static void run_dump(uint32_t version, uint32_t table, struct sink_state *s,
                     struct edl_sahara_host **out_h, struct edl_pbl **out_p, bool with_sink)
{
	static struct edl_sahara_dump_sink sink = {sink_begin, sink_data, sink_end, NULL};
	static const struct edl_sahara_image img = {0x0d, (const uint8_t *)"x", 1};
	struct edl_pbl_config pc;
	struct edl_sahara_host_config hc;

	edl_pbl_config_default(&pc);
	pc.sahara_version = version;
	pc.serial = 0xc0ffee01;
	pc.memory_dump = true;
	pc.dump_table = table;
	edl_sahara_host_config_default(&hc);
	hc.images = &img;
	hc.n_images = 1;
	sink.data = s;
	hc.dump = with_sink ? &sink : NULL;
	assert_int_equal(edl_pbl_new(out_p, &pc), EDL_OK);
	assert_int_equal(edl_sahara_host_new(out_h, &hc), EDL_OK);
	edl_pbl_start(*out_p);
	edl_sahara_host_start(*out_h, 1000);
}

static void free_sink(struct sink_state *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->bytes[i]);
}

static void test_dump_host_reads_every_region_then_resets(void **state)
{
	(void)state;
	for (uint32_t v = 2; v <= 3; v++) {
		struct sink_state s = {0};
		struct edl_sahara_host *h;
		struct edl_pbl *p;
		const struct edl_pbl_region *r;
		struct edl_pbl_config pc;
		size_t n;

		run_dump(v, EDL_PBL_DUMP_REAL, &s, &h, &p, true);
		assert_true(pump(h, p));
		assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_DONE);
		assert_int_equal(edl_sahara_host_outcome(h), EDL_SAHARA_OUTCOME_DUMPED);
		assert_true(s.ended);
		assert_int_equal(s.is64, v >= 3);
		assert_true(s.max_piece <= EDL_SAHARA_DUMP_READ);
		edl_pbl_config_default(&pc);
		n = edl_pbl_dump_regions(&pc, &r);
		assert_int_equal(s.n, n);
		for (size_t i = 0; i < n; i++) {
			uint8_t *want = malloc(r[i].length);

			assert_string_equal(s.names[i], r[i].filename);
			assert_int_equal(s.lengths[i], r[i].length);
			edl_pbl_dump_fill(0xc0ffee01, r[i].filename, 0, want, r[i].length);
			assert_memory_equal(s.bytes[i], want, r[i].length);
			free(want);
		}
		free_sink(&s);
		edl_sahara_host_free(h);
		edl_pbl_free(p);
	}
}

static void test_dump_host_resets_a_unit_the_sink_refuses(void **state)
{
	(void)state;
	struct sink_state s = {.refuse_above = 1024};
	struct edl_sahara_host *h;
	struct edl_pbl *p;

	run_dump(3, EDL_PBL_DUMP_REAL, &s, &h, &p, true);
	assert_true(pump(h, p));
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_FAILED);
	assert_int_equal(edl_sahara_host_error(h)->code, EDL_E_MEMORY_DUMP);
	assert_non_null(strstr(edl_sahara_host_error(h)->detail, "too large"));
	assert_false(s.ended);
	edl_sahara_host_free(h);
	edl_pbl_free(p);
}

static void test_dump_host_fails_a_damaged_table_and_resets(void **state)
{
	(void)state;
	struct sink_state s = {0};
	struct edl_sahara_host *h;
	struct edl_pbl *p;

	run_dump(2, EDL_PBL_DUMP_BAD_TABLE, &s, &h, &p, true);
	assert_true(pump(h, p));
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_FAILED);
	assert_int_equal(edl_sahara_host_error(h)->code, EDL_E_MEMORY_DUMP);
	assert_non_null(strstr(edl_sahara_host_error(h)->detail, "WRAP.BIN"));
	assert_non_null(strstr(edl_sahara_host_error(h)->detail, "the unit was not dumped"));
	assert_int_equal(s.n, 0);
	edl_sahara_host_free(h);
	edl_pbl_free(p);
}

static void test_dump_host_without_sink_fails_naming_dump_dir(void **state)
{
	(void)state;
	struct sink_state s = {0};
	struct edl_sahara_host *h;
	struct edl_pbl *p;

	run_dump(2, EDL_PBL_DUMP_REAL, &s, &h, &p, false);
	pump(h, p);
	assert_int_equal(edl_sahara_host_error(h)->code, EDL_E_MEMORY_DUMP);
	assert_non_null(strstr(edl_sahara_host_error(h)->detail, "[rma] dump_dir"));
	edl_sahara_host_free(h);
	edl_pbl_free(p);
}

static void test_dump_rom_refuses_reads_outside_its_memory(void **state)
{
	(void)state;
	struct edl_pbl_config pc;
	struct edl_pbl *p;
	struct edl_chunk c;
	struct edl_sahara_pkt pkt;
	uint8_t buf[EDL_SAHARA_MAX_PKT];

	edl_pbl_config_default(&pc);
	pc.sahara_version = 3;
	pc.memory_dump = true;
	assert_int_equal(edl_pbl_new(&p, &pc), EDL_OK);
	edl_pbl_start(p);
	assert_true(edl_pbl_next_out(p, &c));
	edl_pbl_feed(p, buf, edl_sahara_encode_hello_resp(buf, sizeof(buf), 2, 1, 0, 2));
	assert_true(edl_pbl_next_out(p, &c));
	assert_int_equal(edl_sahara_decode(&pkt, c.data, c.len, NULL), EDL_OK);
	assert_int_equal(pkt.cmd, EDL_SAHARA_MEMORY_DEBUG64);
	assert_int_equal(pkt.u.mem.len, 4 * 64);
	/* Past the end of DDRCS0_0.BIN (2 MiB at 0x80000000). */
	edl_pbl_feed(p, buf,
	             edl_sahara_encode_memory_read64(buf, sizeof(buf), 0x801ff000u, 0x2000));
	assert_true(edl_pbl_next_out(p, &c));
	assert_int_equal(edl_sahara_decode(&pkt, c.data, c.len, NULL), EDL_OK);
	assert_int_equal(pkt.cmd, EDL_SAHARA_END_OF_IMAGE);
	assert_int_equal(pkt.u.end_of_image.status, EDL_SAHARA_STATUS_INVALID_MEMORY_READ);
	assert_int_equal(edl_pbl_state(p), EDL_PBL_MEMORY_DEBUG);
	edl_pbl_feed(p, buf, edl_sahara_encode_reset(buf, sizeof(buf)));
	assert_int_equal(edl_pbl_state(p), EDL_PBL_RESET);
	edl_pbl_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_dump_parses_real_table_32_and_64),
	        cmocka_unit_test(test_dump_hostile_names_become_safe_unique_names),
	        cmocka_unit_test(test_dump_rejects_broken_tables),
	        cmocka_unit_test(test_dump_host_reads_every_region_then_resets),
	        cmocka_unit_test(test_dump_host_resets_a_unit_the_sink_refuses),
	        cmocka_unit_test(test_dump_host_fails_a_damaged_table_and_resets),
	        cmocka_unit_test(test_dump_host_without_sink_fails_naming_dump_dir),
	        cmocka_unit_test(test_dump_rom_refuses_reads_outside_its_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
