/*
 * Tests of the Android sparse reader: chunks and their file offsets, hostile
 * images (truncated, lying sizes, unknown chunks), CRC32 chunks (ours and
 * libsparse's own when the library is available), and the round trip that
 * matters: the bytes the plan writes for a sparse image equal the image that
 * simg2img (Debian's android-sdk-libsparse-utils) expands, for images written
 * by our test writer and by img2simg.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "edlstation/expr.h"
#include "edlstation/package.h"
#include "edlstation/sparse.h"
#include "pkgtest.h"

#ifdef EDL_HAVE_LIBSPARSE
#include <sparse/sparse.h>
#endif

/* A sparse image writer for tests: chunks appended in order. */
struct sw {
	uint8_t *buf;
	size_t len, cap;
	uint32_t blk;
	uint32_t blocks;
	uint32_t chunks;
	uint32_t crc; /* of the expanded image so far */
};

static void sw_put(struct sw *w, const void *d, size_t n)
{
	if (w->len + n > w->cap) {
		w->cap = (w->len + n) * 2 + 64;
		w->buf = realloc(w->buf, w->cap);
		assert_non_null(w->buf);
	}
	memcpy(w->buf + w->len, d, n);
	w->len += n;
}

static void sw_le16(struct sw *w, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	sw_put(w, b, 2);
}

static void sw_le32(struct sw *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	sw_put(w, b, 4);
}

static void sw_init(struct sw *w, uint32_t blk)
{
	memset(w, 0, sizeof(*w));
	w->blk = blk;
	sw_put(w, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 28);
}

static void sw_chunk(struct sw *w, uint16_t type, uint32_t blocks, uint32_t total)
{
	sw_le16(w, type);
	sw_le16(w, 0);
	sw_le32(w, blocks);
	sw_le32(w, total);
	w->blocks += blocks;
	w->chunks++;
}

static void sw_raw(struct sw *w, const uint8_t *data, uint32_t blocks)
{
	sw_chunk(w, EDL_SPARSE_RAW, blocks, 12 + blocks * w->blk);
	sw_put(w, data, (size_t)blocks * w->blk);
	w->crc = edl_crc32(w->crc, data, (size_t)blocks * w->blk);
}

static void sw_fill(struct sw *w, uint32_t value, uint32_t blocks)
{
	sw_chunk(w, EDL_SPARSE_FILL, blocks, 16);
	sw_le32(w, value);
	for (uint32_t i = 0; i < blocks * w->blk / 4; i++) {
		uint8_t b[4] = {(uint8_t)value, (uint8_t)(value >> 8), (uint8_t)(value >> 16),
		                (uint8_t)(value >> 24)};
		w->crc = edl_crc32(w->crc, b, 4);
	}
}

static void sw_skip(struct sw *w, uint32_t blocks)
{
	sw_chunk(w, EDL_SPARSE_DONT_CARE, blocks, 12);
	w->crc = edl_crc32_zeros(w->crc, (uint64_t)blocks * w->blk);
}

static void sw_crc(struct sw *w, uint32_t value)
{
	sw_chunk(w, EDL_SPARSE_CRC32, 0, 16);
	sw_le32(w, value);
}

/* Writes the header (magic, v1.0, sizes, counts). */
static void sw_finish(struct sw *w, uint32_t checksum)
{
	uint8_t *h = w->buf;

	h[0] = 0x3a, h[1] = 0xff, h[2] = 0x26, h[3] = 0xed;
	h[4] = 1, h[5] = 0, h[6] = 0, h[7] = 0;
	h[8] = 28, h[9] = 0, h[10] = 12, h[11] = 0;
	for (int i = 0; i < 4; i++) {
		h[12 + i] = (uint8_t)(w->blk >> (8 * i));
		h[16 + i] = (uint8_t)(w->blocks >> (8 * i));
		h[20 + i] = (uint8_t)(w->chunks >> (8 * i));
		h[24 + i] = (uint8_t)(checksum >> (8 * i));
	}
}

/* The sample image of these tests: RAW, FILL, DONT_CARE, RAW, CRC32, FILL 0. */
static void build_sample(struct sw *w, uint8_t *raw1, uint8_t *raw2)
{
	sw_init(w, 4096);
	pt_random(raw1, 3 * 4096, 11);
	pt_random(raw2, 2 * 4096, 12);
	sw_raw(w, raw1, 3);
	sw_fill(w, 0xdeadbeef, 2);
	sw_skip(w, 5);
	sw_raw(w, raw2, 2);
	sw_crc(w, w->crc);
	sw_fill(w, 0, 4);
	sw_finish(w, 0);
}

struct seen {
	struct edl_sparse_chunk c[16];
	size_t n;
};

static int collect(const struct edl_sparse_chunk *c, void *user)
{
	struct seen *s = user;

	if (s->n < 16)
		s->c[s->n++] = *c;
	return 0;
}

static void test_sparse_walk_reports_chunks_with_offsets(void **state)
{
	static uint8_t raw1[3 * 4096], raw2[2 * 4096];
	struct sw w;
	struct seen s = {0};
	struct edl_sparse_info info;
	struct edl_error err;

	(void)state;
	build_sample(&w, raw1, raw2);
	assert_true(edl_sparse_detect(w.buf, w.len));
	assert_int_equal(edl_sparse_walk(&info, w.buf, w.len, collect, &s, &err), EDL_OK);
	assert_int_equal(info.block_size, 4096);
	assert_int_equal(info.total_blocks, 16);
	assert_int_equal(info.expanded_size, 16 * 4096);
	assert_int_equal(info.n_raw, 2);
	assert_int_equal(info.n_fill, 2);
	assert_int_equal(info.n_dont_care, 1);
	assert_int_equal(info.n_crc, 1);
	assert_int_equal(s.n, 6);
	assert_int_equal(s.c[0].type, EDL_SPARSE_RAW);
	assert_int_equal(s.c[0].out_offset, 0);
	assert_int_equal(s.c[0].file_offset, 28 + 12);
	assert_memory_equal(w.buf + s.c[0].file_offset, raw1, sizeof(raw1));
	assert_int_equal(s.c[1].type, EDL_SPARSE_FILL);
	assert_int_equal(s.c[1].value, 0xdeadbeef);
	assert_int_equal(s.c[1].out_offset, 3 * 4096);
	assert_int_equal(s.c[2].type, EDL_SPARSE_DONT_CARE);
	assert_int_equal(s.c[3].type, EDL_SPARSE_RAW);
	assert_int_equal(s.c[3].out_offset, 10 * 4096);
	assert_memory_equal(w.buf + s.c[3].file_offset, raw2, sizeof(raw2));
	assert_int_equal(s.c[4].type, EDL_SPARSE_CRC32);
	assert_int_equal(s.c[5].out_offset, 12 * 4096);
	assert_int_equal(s.c[5].out_len, 4 * 4096);
	assert_int_equal(edl_sparse_check_crc(w.buf, w.len, &err), EDL_OK);
	free(w.buf);
}

static void expect_bad(const uint8_t *data, size_t len, const char *detail)
{
	struct edl_sparse_info info;
	struct edl_error err;

	edl_error_clear(&err);
	assert_int_equal(edl_sparse_walk(&info, data, len, NULL, NULL, &err), EDL_E_PKG_SPARSE);
	if (strstr(err.detail, detail) == NULL)
		fail_msg("detail '%s' lacks '%s'", err.detail, detail);
}

static void set_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16),
	p[3] = (uint8_t)(v >> 24);
}

static void test_sparse_rejects_hostile_images(void **state)
{
	static uint8_t raw1[3 * 4096], raw2[2 * 4096];
	struct sw w;
	uint8_t *copy;

	(void)state;
	build_sample(&w, raw1, raw2);
	copy = malloc(w.len);
	assert_non_null(copy);

	expect_bad(w.buf, 10, "no sparse header");
	/* Truncated inside the first RAW chunk's data. */
	expect_bad(w.buf, 28 + 12 + 100,
	           "chunk 0 at offset 0x1c: total size 12300 runs past the end");
	/* Truncated inside a chunk header. */
	expect_bad(w.buf, 28 + 12 + 3 * 4096 + 5,
	           "chunk 1 at offset 0x3028: file ends inside its header");
	/* RAW total_sz that lies about its data. */
	memcpy(copy, w.buf, w.len);
	set_le32(copy + 28 + 8, 12 + 2 * 4096);
	expect_bad(copy, w.len, "RAW chunk of 3 blocks has 8192 data bytes, expected 12288");
	/* More blocks than the header's total. */
	memcpy(copy, w.buf, w.len);
	set_le32(copy + 16, 10);
	expect_bad(copy, w.len, "exceed the image's 10 blocks");
	/* Fewer blocks than the header's total. */
	memcpy(copy, w.buf, w.len);
	set_le32(copy + 16, 40);
	expect_bad(copy, w.len, "chunks cover 16 blocks but the header says 40");
	/* Unknown chunk type. */
	memcpy(copy, w.buf, w.len);
	copy[28] = 0x99;
	expect_bad(copy, w.len, "unknown chunk type 0xca99");
	/* Block size not a multiple of 4, and zero. */
	memcpy(copy, w.buf, w.len);
	set_le32(copy + 12, 4097);
	expect_bad(copy, w.len, "block size 4097");
	set_le32(copy + 12, 0);
	expect_bad(copy, w.len, "block size 0");
	/* Header claims more chunks than the file holds. */
	memcpy(copy, w.buf, w.len);
	set_le32(copy + 20, 7);
	expect_bad(copy, w.len, "chunk 6 at offset");
	/* Major version 2. */
	memcpy(copy, w.buf, w.len);
	copy[4] = 2;
	expect_bad(copy, w.len, "major version 2");
	/* Huge chunk count with a tiny file: stops at the end, no overread. */
	memcpy(copy, w.buf, w.len);
	set_le32(copy + 20, 0xffffffffu);
	expect_bad(copy, w.len, "header claims 4294967295 chunks but the");
	free(copy);
	free(w.buf);
}

static void test_sparse_crc_mismatch_names_chunk(void **state)
{
	static uint8_t raw1[3 * 4096], raw2[2 * 4096];
	struct sw w;
	struct edl_error err;

	(void)state;
	build_sample(&w, raw1, raw2);
	/* Flip a data byte before the CRC chunk. */
	w.buf[28 + 12 + 5] ^= 1;
	edl_error_clear(&err);
	assert_int_equal(edl_sparse_check_crc(w.buf, w.len, &err), EDL_E_PKG_HASH);
	assert_non_null(strstr(err.detail, "CRC32 chunk 4 says 0x"));
	w.buf[28 + 12 + 5] ^= 1;
	/* A wrong header checksum is caught too. */
	set_le32(w.buf + 24, 0x12345678);
	assert_int_equal(edl_sparse_check_crc(w.buf, w.len, &err), EDL_E_PKG_HASH);
	assert_non_null(strstr(err.detail, "sparse header checksum 0x12345678"));
	free(w.buf);
}

#ifdef EDL_HAVE_LIBSPARSE
static struct sparse_file *libsparse_import(const char *path)
{
	int fd = open(path, O_RDONLY);
	struct sparse_file *s;

	assert_true(fd >= 0);
	s = sparse_file_import(fd, false, true);
	close(fd);
	return s;
}

/*
 * libsparse as the reference: its reader (sparse_file_import with crc) accepts
 * our CRC semantics (every output byte, DONT_CARE as zeros) and rejects the
 * image once a byte changes, as our check does; and an image written by
 * libsparse's writer with a CRC chunk passes our check.
 */
static void test_sparse_crc_matches_libsparse(void **state)
{
	static uint8_t raw1[3 * 4096], raw2[2 * 4096];
	static uint8_t data[8 * 4096];
	char *dir = pt_mkdtemp();
	char path[4096];
	struct sparse_file *s;
	struct edl_error err;
	struct sw w;
	size_t len;
	uint8_t *img;
	int fd;

	(void)state;
	build_sample(&w, raw1, raw2);
	snprintf(path, sizeof(path), "%s/ours.img", dir);
	pt_write(dir, "ours.img", w.buf, w.len);
	s = libsparse_import(path);
	assert_non_null(s);
	sparse_file_destroy(s);
	assert_int_equal(edl_sparse_check_crc(w.buf, w.len, &err), EDL_OK);
	w.buf[28 + 12 + 3 * 4096 + 12 + 4 + 12 + 100] ^= 1; /* in raw2 */
	pt_write(dir, "ours.img", w.buf, w.len);
	s = libsparse_import(path);
	assert_null(s);
	assert_int_equal(edl_sparse_check_crc(w.buf, w.len, &err), EDL_E_PKG_HASH);
	free(w.buf);

	pt_random(data, sizeof(data), 5);
	s = sparse_file_new(4096, 12 * 4096);
	assert_non_null(s);
	assert_int_equal(sparse_file_add_data(s, data, sizeof(data), 0), 0);
	assert_int_equal(sparse_file_add_fill(s, 0x01020304, 4 * 4096, 8), 0);
	snprintf(path, sizeof(path), "%s/theirs.img", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(sparse_file_write(s, fd, false, true, true), 0);
	close(fd);
	sparse_file_destroy(s);
	img = (uint8_t *)pt_read(path, &len);
	assert_non_null(img);
	{
		struct edl_sparse_info info;
		assert_int_equal(edl_sparse_walk(&info, img, len, NULL, NULL, &err), EDL_OK);
		assert_true(edl_sparse_has_crc(&info));
	}
	assert_int_equal(edl_sparse_check_crc(img, len, &err), EDL_OK);
	img[28 + 12 + 7] ^= 0x80;
	assert_int_equal(edl_sparse_check_crc(img, len, &err), EDL_E_PKG_HASH);
	free(img);
	pt_rmtree(dir);
	free(dir);
}
#else
static void test_sparse_crc_matches_libsparse(void **state)
{
	(void)state;
	skip(); /* libsparse (android-libsparse-dev) not found at configure time */
}
#endif

static bool have_tool(const char *name)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
	return system(cmd) == 0;
}

/* Expands the plan's program steps whose filename is file into an image of size bytes
 * starting at sector base. */
static uint8_t *expand_plan(const struct edl_plan *plan, const char *file, uint64_t base,
                            size_t size)
{
	uint8_t *out = calloc(1, size);

	assert_non_null(out);
	for (size_t i = 0; i < plan->n_steps; i++) {
		const struct edl_plan_step *s = &plan->steps[i];
		uint64_t start = strtoull(s->start_sector, NULL, 10);
		uint64_t off = (start - base) * s->sector_size;
		uint64_t n = s->num_sectors * s->sector_size;
		uint8_t digest[32];

		if (s->kind != EDL_STEP_PROGRAM || strcmp(s->filename, file) != 0)
			continue;
		assert_true(off + n <= size);
		if (s->fill) {
			for (uint64_t k = 0; k < n; k += 4) {
				out[off + k] = (uint8_t)s->fill_value;
				out[off + k + 1] = (uint8_t)(s->fill_value >> 8);
				out[off + k + 2] = (uint8_t)(s->fill_value >> 16);
				out[off + k + 3] = (uint8_t)(s->fill_value >> 24);
			}
		} else {
			assert_true(s->data_len <= n);
			memcpy(out + off, s->data, s->data_len);
		}
		/* The verify digest covers exactly the bytes the step writes. */
		assert_true(s->verify);
		pt_sha256(out + off, n, digest);
		assert_memory_equal(digest, s->sha256, 32);
	}
	return out;
}

static const char *const sparse_rawprogram =
        "<?xml version=\"1.0\" ?>\n"
        "<data>\n"
        "  <program SECTOR_SIZE_IN_BYTES=\"512\" file_sector_offset=\"0\" filename=\"system.img\" "
        "label=\"system\" num_partition_sectors=\"4096\" physical_partition_number=\"0\" "
        "sparse=\"true\" start_sector=\"1000\"/>\n"
        "  <program SECTOR_SIZE_IN_BYTES=\"512\" filename=\"userdata.img\" label=\"userdata\" "
        "num_partition_sectors=\"0\" physical_partition_number=\"0\" sparse=\"true\" "
        "start_sector=\"8000\"/>\n"
        "</data>\n";

static void test_sparse_plan_round_trips_through_simg2img(void **state)
{
	static uint8_t raw1[3 * 4096], raw2[2 * 4096];
	char *dir, *cache;
	char cmd[8192], path[4096];
	struct sw w;
	struct edl_package *pkg = NULL;
	struct edl_error err;
	uint8_t *mine, *theirs, *orig;
	size_t len = 0, olen = 0;
	int rc;

	(void)state;
	if (!have_tool("simg2img"))
		skip(); /* simg2img (android-sdk-libsparse-utils) is not installed */
	dir = pt_mkdtemp();
	cache = pt_mkdtemp();
	pt_write_str(dir, "rawprogram0.xml", sparse_rawprogram);
	pt_write_random(dir, "prog_firehose_test.mbn", 1000, 1);
	build_sample(&w, raw1, raw2);
	pt_write(dir, "system.img", w.buf, w.len);
	free(w.buf);

	/* A raw image with zero runs and a repeated word, sparsed by img2simg. */
	orig = calloc(1, 64 * 4096);
	assert_non_null(orig);
	pt_random(orig, 8 * 4096, 77);
	for (size_t i = 20 * 4096; i < 30 * 4096; i += 4)
		memcpy(orig + i, "\x11\x22\x33\x44", 4);
	pt_random(orig + 50 * 4096, 3 * 4096, 78);
	pt_write(dir, "userdata.raw", orig, 64 * 4096);
	if (have_tool("img2simg")) {
		snprintf(cmd, sizeof(cmd),
		         "img2simg '%s/userdata.raw' '%s/userdata.img' >/dev/null", dir, dir);
		assert_int_equal(system(cmd), 0);
	} else {
		/* Same content written by our writer. */
		sw_init(&w, 4096);
		sw_raw(&w, orig, 8);
		sw_skip(&w, 12);
		sw_fill(&w, 0x44332211, 10);
		sw_skip(&w, 20);
		sw_raw(&w, orig + 50 * 4096, 3);
		sw_skip(&w, 11);
		sw_finish(&w, 0);
		pt_write(dir, "userdata.img", w.buf, w.len);
		free(w.buf);
	}

	rc = pt_load(&pkg, dir, cache, NULL, &err);
	if (rc != EDL_OK)
		pt_dump_diags(pkg);
	assert_int_equal(rc, EDL_OK);

	/* system.img: our writer's image. */
	snprintf(cmd, sizeof(cmd), "simg2img '%s/system.img' '%s/system.raw'", dir, dir);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/system.raw", dir);
	theirs = (uint8_t *)pt_read(path, &len);
	assert_non_null(theirs);
	assert_int_equal(len, 16 * 4096);
	mine = expand_plan(edl_package_plan(pkg), "system.img", 1000, len);
	assert_memory_equal(mine, theirs, len);
	free(mine);
	free(theirs);

	/* userdata.img: img2simg's image, equal to simg2img's output and the original. */
	snprintf(cmd, sizeof(cmd), "simg2img '%s/userdata.img' '%s/userdata.out'", dir, dir);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/userdata.out", dir);
	theirs = (uint8_t *)pt_read(path, &olen);
	assert_non_null(theirs);
	assert_int_equal(olen, 64 * 4096);
	mine = expand_plan(edl_package_plan(pkg), "userdata.img", 8000, olen);
	assert_memory_equal(mine, theirs, olen);
	assert_memory_equal(mine, orig, olen);
	free(mine);
	free(theirs);
	free(orig);

	/* DONT_CARE is skipped: no step covers system.img's blocks 5..9. */
	{
		const struct edl_plan *plan = edl_package_plan(pkg);
		for (size_t i = 0; i < plan->n_steps; i++) {
			const struct edl_plan_step *s = &plan->steps[i];
			uint64_t start = strtoull(s->start_sector, NULL, 10);
			if (strcmp(s->filename, "system.img") != 0)
				continue;
			assert_true(start + s->num_sectors <= 1000 + 5 * 8 ||
			            start >= 1000 + 10 * 8);
		}
	}
	edl_package_free(pkg);
	pt_rmtree(dir);
	pt_rmtree(cache);
	free(dir);
	free(cache);
}

/* An image larger than its partition once expanded is refused. */
static void test_sparse_larger_than_partition_is_an_error(void **state)
{
	static uint8_t raw1[3 * 4096], raw2[2 * 4096];
	char *dir = pt_mkdtemp();
	struct sw w;
	struct edl_package *pkg = NULL;
	struct edl_error err;
	const struct edl_package_diag *d;

	(void)state;
	pt_write_str(
	        dir, "rawprogram0.xml",
	        "<?xml version=\"1.0\" ?>\n<data>\n"
	        "<program SECTOR_SIZE_IN_BYTES=\"512\" filename=\"system.img\" label=\"system\" "
	        "num_partition_sectors=\"100\" physical_partition_number=\"0\" sparse=\"true\" "
	        "start_sector=\"1000\"/>\n</data>\n");
	pt_write_random(dir, "prog_firehose_test.mbn", 1000, 1);
	build_sample(&w, raw1, raw2);
	pt_write(dir, "system.img", w.buf, w.len);
	free(w.buf);
	assert_int_equal(pt_load(&pkg, dir, NULL, NULL, &err), EDL_E_PKG_TOO_LARGE);
	d = pt_find_diag(pkg, EDL_DIAG_ERROR, "expands to 65536 bytes, larger than its partition");
	assert_non_null(d);
	assert_string_equal(d->file, "rawprogram0.xml");
	assert_int_equal(d->line, 3);
	edl_package_free(pkg);
	pt_rmtree(dir);
	free(dir);
}

/* CPU time of the process (every thread), in ms: a hang shows as hours of it,
 * and a machine shared with other jobs does not make a quick image look slow. */
static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The 44-byte image of issue 10: one FILL chunk of 2^32-1 blocks of 4 KiB. */
static void make_44(uint8_t img[44])
{
	struct sw w;

	sw_init(&w, 4096);
	sw_fill(&w, 0x11223344u, 0); /* the CRC of 16 TiB is not computed here */
	w.blocks = 0xffffffffu;
	sw_finish(&w, 0);
	set_le32(w.buf + 28 + 4, 0xffffffffu);
	assert_int_equal(w.len, 44);
	memcpy(img, w.buf, 44);
	free(w.buf);
}

/* Loads a one-image package: system.img (data) at num_partition_sectors
 * sectors of 4096; returns the load code; *pkg for diagnostics. */
static int load_sparse_pkg(struct edl_package **pkg, const char *dir, const uint8_t *data,
                           size_t len, const char *num_sectors, struct edl_error *err)
{
	char xml[512];

	snprintf(xml, sizeof(xml),
	         "<?xml version=\"1.0\" ?>\n<data>\n"
	         "<program SECTOR_SIZE_IN_BYTES=\"4096\" filename=\"system.img\" label=\"system\" "
	         "num_partition_sectors=\"%s\" physical_partition_number=\"0\" sparse=\"true\" "
	         "start_sector=\"1000\"/>\n</data>\n",
	         num_sectors);
	pt_write_str(dir, "rawprogram0.xml", xml);
	pt_write_random(dir, "prog_firehose_test.elf", 1000, 1);
	pt_write(dir, "system.img", data, len);
	*pkg = NULL;
	return pt_load(pkg, dir, NULL, NULL, err);
}

/* 44 bytes claiming 16 TiB: refused at once by the walk, the CRC check and a
 * package load with a partition of 0 ("as large as the image") or huge. */
static void test_sparse_44_byte_image_ends_at_once(void **state)
{
	static const char *const parts[] = {"0", "281474976710655", "4294967296"};
	uint8_t img[44];
	struct edl_sparse_info info;
	struct edl_error err;
	uint64_t t0 = mono_ms();
	char *dir = pt_mkdtemp();

	(void)state;
	make_44(img);
	expect_bad(img, sizeof(img), "header claims 4294967295 blocks of 4096 bytes");
	assert_int_equal(edl_sparse_check_crc(img, sizeof(img), &err), EDL_E_PKG_SPARSE);
	assert_int_equal(
	        edl_sparse_walk_bounded(&info, img, sizeof(img), 1u << 20, NULL, NULL, &err),
	        EDL_E_PKG_SPARSE);
	assert_non_null(strstr(err.detail, "of the partition it is programmed to"));
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		struct edl_package *pkg;
		const struct edl_package_diag *d;
		uint64_t t = mono_ms();

		assert_int_equal(load_sparse_pkg(&pkg, dir, img, sizeof(img), parts[i], &err),
		                 EDL_E_PKG_SPARSE);
		d = pt_find_diag(pkg, EDL_DIAG_ERROR, "sparse image 'system.img': header claims");
		if (d == NULL)
			pt_dump_diags(pkg);
		assert_non_null(d);
		assert_string_equal(d->file, "rawprogram0.xml");
		assert_int_equal(d->line, 3);
		edl_package_free(pkg);
		assert_true(mono_ms() - t < 1000);
	}
	assert_true(mono_ms() - t0 < 3000);
	pt_rmtree(dir);
	free(dir);
}

/* Counts and sizes bounded: FILL, RAW and DONT_CARE chunks that claim more
 * blocks than the header or the file holds, a chunk count beyond the file, a
 * FILL that fits the ceiling but not the partition. */
static void test_sparse_bounded_counts(void **state)
{
	struct sw w;
	uint8_t raw[4096] = {1, 2, 3};
	struct edl_error err;
	struct edl_package *pkg;
	char *dir = pt_mkdtemp();

	(void)state;
	/* A FILL of 2^32-1 blocks in an image whose header says 1 block. */
	sw_init(&w, 4096);
	sw_fill(&w, 7, 1);
	sw_finish(&w, 0);
	set_le32(w.buf + 28 + 4, 0xffffffffu);
	expect_bad(w.buf, w.len, "chunk 0 at offset 0x1c: blocks 0..4294967294 exceed");
	free(w.buf);
	/* DONT_CARE, same. */
	sw_init(&w, 4096);
	sw_skip(&w, 1);
	sw_finish(&w, 0);
	set_le32(w.buf + 28 + 4, 0x80000000u);
	expect_bad(w.buf, w.len, "chunk 0 at offset 0x1c: blocks 0..2147483647 exceed");
	free(w.buf);
	/* RAW claiming more blocks than its data. */
	sw_init(&w, 4096);
	sw_raw(&w, raw, 1);
	sw_finish(&w, 0);
	set_le32(w.buf + 28 + 4, 0x100000u);
	expect_bad(w.buf, w.len, "RAW chunk of 1048576 blocks has 4096 data bytes");
	free(w.buf);
	/* Chunk count beyond what the file can hold. */
	sw_init(&w, 4096);
	sw_skip(&w, 1);
	sw_finish(&w, 0);
	set_le32(w.buf + 20, 3);
	expect_bad(w.buf, w.len, "header claims 3 chunks but the 40-byte file holds at most 1");
	free(w.buf);
	/* 64 GiB of FILL: under the ceiling, over the 1 GiB partition: refused
	 * before anything is hashed. */
	sw_init(&w, 4096);
	sw_fill(&w, 0x5a5a5a5au, 0);
	w.blocks = 16u << 20;
	sw_finish(&w, 0);
	set_le32(w.buf + 28 + 4, 16u << 20);
	assert_int_equal(load_sparse_pkg(&pkg, dir, w.buf, w.len, "262144", &err),
	                 EDL_E_PKG_TOO_LARGE);
	assert_non_null(pt_find_diag(pkg, EDL_DIAG_ERROR, "expands to 68719476736 bytes"));
	edl_package_free(pkg);
	/* The CRC of a large FILL costs O(log n): 64 GiB checked at once. */
	{
		uint64_t t = mono_ms();
		assert_int_equal(edl_sparse_check_crc(w.buf, w.len, &err), EDL_OK);
		assert_true(mono_ms() - t < 1000);
	}
	free(w.buf);
	pt_rmtree(dir);
	free(dir);
}

/* The fast FILL CRC equals the byte-by-byte one (sw_fill computes it slowly). */
static void test_sparse_fill_crc_matches_slow_crc(void **state)
{
	static const uint32_t blocks[] = {1, 2, 3, 5, 8, 13, 64, 100};
	struct sw w;
	struct edl_error err;

	(void)state;
	sw_init(&w, 4096);
	for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++) {
		sw_fill(&w, 0x01020304u * (uint32_t)(i + 1), blocks[i]);
		sw_crc(&w, w.crc);
	}
	sw_finish(&w, w.crc);
	assert_int_equal(edl_sparse_check_crc(w.buf, w.len, &err), EDL_OK);
	free(w.buf);
}

/* A few hundred mutated images (bytes flipped, header and chunk fields set to
 * hostile values), each walked, CRC-checked and loaded as a package with a
 * 1 MiB partition: each ends in under 1 s, none crashes. */
static void test_sparse_fuzzed_corpus_ends_quickly(void **state)
{
	static uint8_t raw1[3 * 4096], raw2[2 * 4096];
	static const uint32_t hostile[] = {
	        0, 1, 3, 4, 12, 0x7fffffffu, 0x80000000u, 0xfffffff0u, 0xffffffffu, 4096, 0x10000};
	struct sw w;
	uint32_t seed = 12345;
	uint8_t *copy;
	char *dir = pt_mkdtemp();
	unsigned errors = 0, slowest = 0;

	(void)state;
	build_sample(&w, raw1, raw2);
	copy = malloc(w.len);
	assert_non_null(copy);
	for (unsigned n = 0; n < 300; n++) {
		struct edl_sparse_info info;
		struct edl_error err;
		struct edl_package *pkg;
		uint64_t t = mono_ms();
		unsigned k;

		memcpy(copy, w.buf, w.len);
		for (k = 0; k < 1 + n % 4; k++) {
			seed ^= seed << 13, seed ^= seed >> 17, seed ^= seed << 5;
			if (seed & 1) {
				/* A 32-bit field of the header or of the first chunks. */
				static const size_t fields[] = {12,
				                                16,
				                                20,
				                                24,
				                                28 + 4,
				                                28 + 8,
				                                28 + 12 + 12288 + 4,
				                                28 + 12 + 12288 + 8,
				                                28 + 12 + 12288 + 12};
				size_t f =
				        fields[(seed >> 1) % (sizeof(fields) / sizeof(fields[0]))];
				set_le32(copy + f, hostile[(seed >> 8) %
				                           (sizeof(hostile) / sizeof(hostile[0]))]);
			} else {
				copy[(seed >> 1) % 64] ^= (uint8_t)(seed >> 24 | 1);
			}
		}
		if (edl_sparse_walk(&info, copy, w.len, NULL, NULL, &err) != EDL_OK)
			errors++;
		(void)edl_sparse_check_crc(copy, w.len, &err);
		(void)load_sparse_pkg(&pkg, dir, copy, w.len, "256", &err);
		edl_package_free(pkg);
		t = mono_ms() - t;
		if (t > slowest)
			slowest = (unsigned)t;
		if (t >= 1000)
			fail_msg("mutation %u took %llu ms", n, (unsigned long long)t);
	}
	/* Most mutations must be refused, or the corpus tests nothing. */
	assert_true(errors > 150);
	print_message("fuzzed corpus: 300 images, %u refused, slowest %u ms\n", errors, slowest);
	free(copy);
	free(w.buf);
	pt_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_sparse_walk_reports_chunks_with_offsets),
	        cmocka_unit_test(test_sparse_rejects_hostile_images),
	        cmocka_unit_test(test_sparse_crc_mismatch_names_chunk),
	        cmocka_unit_test(test_sparse_crc_matches_libsparse),
	        cmocka_unit_test(test_sparse_plan_round_trips_through_simg2img),
	        cmocka_unit_test(test_sparse_larger_than_partition_is_an_error),
	        cmocka_unit_test(test_sparse_44_byte_image_ends_at_once),
	        cmocka_unit_test(test_sparse_bounded_counts),
	        cmocka_unit_test(test_sparse_fill_crc_matches_slow_crc),
	        cmocka_unit_test(test_sparse_fuzzed_corpus_ends_quickly),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
