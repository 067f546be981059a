/*
 * Tests of the emulated device's storage models: eMMC/UFS bounds and erase,
 * sparse backing files, NAND page states (program only into erased pages, erase
 * by whole block, erased pages read 0xFF), the bad-block skip mapping, and the
 * page states surviving a re-open of the same directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "target/storage_model.h"

/* A fresh directory under $TMPDIR, removed with its files by rm_dir(). */
static char *make_dir(void)
{
	const char *tmp = getenv("TMPDIR");
	char *path = NULL;

	assert_true(asprintf(&path, "%s/edl-storage-XXXXXX", tmp && tmp[0] ? tmp : "/tmp") > 0);
	assert_non_null(mkdtemp(path));
	return path;
}

static void rm_dir(char *dir)
{
	char path[4096];
	for (int i = 0; i < EDL_TARGET_MAX_LUNS; i++) {
		snprintf(path, sizeof(path), "%s/lun%d.img", dir, i);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/lun0.pages", dir);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
	free(dir);
}

static void fill_pattern(uint8_t *buf, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (uint8_t)(seed >> 16);
	}
}

static struct edl_target_storage *open_small(enum edl_storage_kind kind, const uint32_t *bad,
                                             size_t n_bad, const char *dir)
{
	struct edl_storage_config cfg;
	struct edl_target_storage *s = NULL;
	struct edl_error err;

	edl_storage_config_default(&cfg, kind);
	if (kind == EDL_STORAGE_NAND) {
		cfg.sector_size = 2048;
		cfg.sectors = 64; /* 16 blocks of 4 pages */
		cfg.pages_per_block = 4;
		cfg.bad_blocks = bad;
		cfg.n_bad_blocks = n_bad;
	} else {
		cfg.sectors = 256;
	}
	cfg.dir = dir;
	assert_int_equal(edl_target_storage_open(&s, &cfg, &err), EDL_OK);
	return s;
}

static void test_storage_defaults_have_sensible_sizes(void **state)
{
	(void)state;
	struct edl_storage_config cfg;

	edl_storage_config_default(&cfg, EDL_STORAGE_EMMC);
	assert_int_equal(cfg.sector_size, 512);
	assert_int_equal(cfg.sectors * cfg.sector_size, 8ull << 30);
	assert_int_equal(cfg.luns, 1);
	edl_storage_config_default(&cfg, EDL_STORAGE_UFS);
	assert_int_equal(cfg.luns, 6);
	assert_int_equal(cfg.sectors * cfg.sector_size, 4ull << 30);
	edl_storage_config_default(&cfg, EDL_STORAGE_NAND);
	assert_int_equal(cfg.sector_size, 4096);
	assert_int_equal(cfg.pages_per_block, 64);
	assert_int_equal(cfg.sectors * cfg.sector_size, 256ull << 20);
}

static void test_storage_emmc_writes_and_reads_back(void **state)
{
	(void)state;
	struct edl_target_storage *s = open_small(EDL_STORAGE_EMMC, NULL, 0, NULL);
	struct edl_target_range r = {.lun = 0, .start = 10, .count = 4, .last = UINT64_MAX};
	struct edl_error err;
	uint8_t in[4 * 512], out[4 * 512];

	fill_pattern(in, sizeof(in), 1);
	assert_int_equal(edl_target_storage_check(s, &r, &err), EDL_OK);
	assert_int_equal(edl_target_storage_write(s, &r, 1, in, 3, &err), EDL_OK);
	assert_int_equal(edl_target_storage_read_raw(s, 0, 11, 3, out, &err), EDL_OK);
	assert_memory_equal(in, out, 3 * 512);
	assert_int_equal(edl_target_storage_read(s, &r, 0, out, 4, &err), EDL_OK);
	for (int i = 0; i < 512; i++)
		assert_int_equal(out[i], 0); /* never written: zeros */
	assert_memory_equal(in, out + 512, 3 * 512);
	assert_null(edl_target_storage_file(s, 0));
	edl_target_storage_close(s);
}

static void test_storage_rejects_ranges_outside_the_lun(void **state)
{
	(void)state;
	struct edl_target_storage *s = open_small(EDL_STORAGE_EMMC, NULL, 0, NULL);
	struct edl_target_range r = {.lun = 0, .start = 250, .count = 10, .last = UINT64_MAX};
	struct edl_error err;
	uint8_t buf[512];

	assert_int_equal(edl_target_storage_check(s, &r, &err), EDL_E_RANGE);
	assert_non_null(strstr(err.detail, "LUN 0 sectors 250..259"));
	assert_non_null(strstr(err.detail, "256 sectors"));
	r.lun = 1;
	r.start = 0;
	r.count = 1;
	assert_int_equal(edl_target_storage_check(s, &r, &err), EDL_E_RANGE);
	assert_non_null(strstr(err.detail, "LUN 1 does not exist"));
	assert_int_equal(edl_target_storage_read_raw(s, 0, 256, 1, buf, &err), EDL_E_RANGE);
	assert_int_equal(edl_target_storage_pwrite(s, 0, 256 * 512 - 2, buf, 4, &err), EDL_E_RANGE);
	assert_non_null(strstr(err.detail, "outside the LUN"));
	edl_target_storage_close(s);
}

static void test_storage_erase_zeroes_emmc_sectors(void **state)
{
	(void)state;
	struct edl_target_storage *s = open_small(EDL_STORAGE_EMMC, NULL, 0, NULL);
	struct edl_target_range all = {.lun = 0, .start = 0, .count = 8, .last = UINT64_MAX};
	struct edl_target_range mid = {.lun = 0, .start = 2, .count = 3, .last = UINT64_MAX};
	struct edl_error err;
	uint8_t in[8 * 512], out[8 * 512];

	fill_pattern(in, sizeof(in), 2);
	assert_int_equal(edl_target_storage_write(s, &all, 0, in, 8, &err), EDL_OK);
	assert_int_equal(edl_target_storage_erase(s, &mid, &err), EDL_OK);
	assert_int_equal(edl_target_storage_read(s, &all, 0, out, 8, &err), EDL_OK);
	assert_memory_equal(out, in, 2 * 512);
	for (int i = 2 * 512; i < 5 * 512; i++)
		assert_int_equal(out[i], 0);
	assert_memory_equal(out + 5 * 512, in + 5 * 512, 3 * 512);
	edl_target_storage_close(s);
}

static void test_storage_backing_file_is_sparse(void **state)
{
	(void)state;
	struct edl_storage_config cfg;
	struct edl_target_storage *s = NULL;
	struct edl_error err;
	char *dir = make_dir();
	struct stat st;
	uint8_t sector[512];

	edl_storage_config_default(&cfg, EDL_STORAGE_EMMC); /* 8 GiB */
	cfg.dir = dir;
	assert_int_equal(edl_target_storage_open(&s, &cfg, &err), EDL_OK);
	const char *path = edl_target_storage_file(s, 0);
	assert_non_null(path);
	assert_non_null(strstr(path, "lun0.img"));
	fill_pattern(sector, sizeof(sector), 3);
	struct edl_target_range r = {.lun = 0, .start = cfg.sectors - 1, .count = 1};
	assert_int_equal(edl_target_storage_write(s, &r, 0, sector, 1, &err), EDL_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal((uint64_t)st.st_size, 8ull << 30);
	assert_true((uint64_t)st.st_blocks * 512 < (1u << 20)); /* a few KiB, not 8 GiB */
	edl_target_storage_close(s);
	rm_dir(dir);
}

static void test_storage_ufs_luns_are_separate_and_sizable(void **state)
{
	(void)state;
	struct edl_storage_config cfg;
	struct edl_target_storage *s = NULL;
	struct edl_error err;
	uint64_t sizes[6] = {16, 8, 8, 32, 4, 64};
	uint8_t in[4096], out[4096];

	edl_storage_config_default(&cfg, EDL_STORAGE_UFS);
	cfg.lun_sectors = sizes;
	assert_int_equal(edl_target_storage_open(&s, &cfg, &err), EDL_OK);
	assert_int_equal(edl_target_storage_luns(s), 6);
	assert_int_equal(edl_target_storage_sectors(s, 3), 32);
	assert_int_equal(edl_target_storage_sectors(s, 5), 64);
	fill_pattern(in, sizeof(in), 4);
	struct edl_target_range r = {.lun = 3, .start = 31, .count = 1};
	assert_int_equal(edl_target_storage_write(s, &r, 0, in, 1, &err), EDL_OK);
	assert_int_equal(edl_target_storage_read_raw(s, 3, 31, 1, out, &err), EDL_OK);
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(edl_target_storage_read_raw(s, 5, 31, 1, out, &err), EDL_OK);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 0);
	r.lun = 4;
	r.start = 4;
	assert_int_equal(edl_target_storage_check(s, &r, &err), EDL_E_RANGE);
	assert_non_null(strstr(err.detail, "LUN 4"));
	r.lun = 6;
	assert_int_equal(edl_target_storage_check(s, &r, &err), EDL_E_RANGE);
	edl_target_storage_close(s);
}

static void test_storage_rejects_bad_geometry(void **state)
{
	(void)state;
	struct edl_storage_config cfg;
	struct edl_target_storage *s = NULL;
	struct edl_error err;
	uint32_t bad = 99;

	edl_storage_config_default(&cfg, EDL_STORAGE_EMMC);
	cfg.sector_size = 1000;
	assert_int_equal(edl_target_storage_open(&s, &cfg, &err), EDL_E_CONFIG);
	assert_non_null(strstr(err.detail, "sector_size 1000"));
	assert_null(s);
	edl_storage_config_default(&cfg, EDL_STORAGE_NAND);
	cfg.sectors = 64;
	cfg.pages_per_block = 4;
	cfg.bad_blocks = &bad;
	cfg.n_bad_blocks = 1;
	assert_int_equal(edl_target_storage_open(&s, &cfg, &err), EDL_E_CONFIG);
	assert_non_null(strstr(err.detail, "bad block 99"));
	cfg.n_bad_blocks = 0;
	cfg.pages_per_block = 5;
	assert_int_equal(edl_target_storage_open(&s, &cfg, &err), EDL_E_CONFIG);
	edl_storage_config_default(&cfg, EDL_STORAGE_NAND);
	cfg.luns = 2;
	assert_int_equal(edl_target_storage_open(&s, &cfg, &err), EDL_E_CONFIG);
}

static void test_storage_nand_erased_pages_read_ff(void **state)
{
	(void)state;
	struct edl_target_storage *s = open_small(EDL_STORAGE_NAND, NULL, 0, NULL);
	struct edl_error err;
	uint8_t out[2 * 2048];

	assert_int_equal(edl_target_storage_read_raw(s, 0, 5, 2, out, &err), EDL_OK);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 0xff);
	assert_int_equal(edl_target_storage_pwrite(s, 0, 0, out, 4, &err), EDL_E_UNSUPPORTED);
	edl_target_storage_close(s);
}

static void test_storage_nand_refuses_programming_a_programmed_page(void **state)
{
	(void)state;
	struct edl_target_storage *s = open_small(EDL_STORAGE_NAND, NULL, 0, NULL);
	struct edl_target_range r = {.lun = 0, .start = 8, .count = 2, .last = UINT64_MAX};
	struct edl_error err;
	uint8_t in[2 * 2048];

	fill_pattern(in, sizeof(in), 5);
	assert_int_equal(edl_target_storage_check_erased(s, &r, &err), EDL_OK);
	assert_int_equal(edl_target_storage_write(s, &r, 1, in, 1, &err), EDL_OK);
	assert_int_equal(edl_target_storage_check_erased(s, &r, &err), EDL_E_TARGET_NOT_ERASED);
	assert_non_null(strstr(err.detail, "page 9 (block 2)"));
	assert_int_equal(edl_target_storage_write(s, &r, 0, in, 2, &err), EDL_E_TARGET_NOT_ERASED);
	assert_non_null(strstr(err.detail, "page 9"));
	edl_target_storage_close(s);
}

static void test_storage_nand_erases_whole_blocks(void **state)
{
	(void)state;
	struct edl_target_storage *s = open_small(EDL_STORAGE_NAND, NULL, 0, NULL);
	struct edl_target_range all = {.lun = 0, .start = 0, .count = 12, .last = UINT64_MAX};
	struct edl_target_range one = {.lun = 0, .start = 5, .count = 1, .last = UINT64_MAX};
	struct edl_error err;
	uint8_t *in = malloc(12 * 2048), *out = malloc(12 * 2048);

	fill_pattern(in, 12 * 2048, 6);
	assert_int_equal(edl_target_storage_write(s, &all, 0, in, 12, &err), EDL_OK);
	/* Erasing page 5 erases its whole block: pages 4..7. */
	assert_int_equal(edl_target_storage_erase(s, &one, &err), EDL_OK);
	assert_int_equal(edl_target_storage_read_raw(s, 0, 0, 12, out, &err), EDL_OK);
	assert_memory_equal(out, in, 4 * 2048);
	for (size_t i = 4 * 2048; i < 8 * 2048; i++)
		assert_int_equal(out[i], 0xff);
	assert_memory_equal(out + 8 * 2048, in + 8 * 2048, 4 * 2048);
	/* Block 1 is programmable again; block 2 is not. */
	struct edl_target_range b1 = {.lun = 0, .start = 4, .count = 4, .last = UINT64_MAX};
	assert_int_equal(edl_target_storage_write(s, &b1, 0, in, 4, &err), EDL_OK);
	struct edl_target_range b2 = {.lun = 0, .start = 8, .count = 1, .last = UINT64_MAX};
	assert_int_equal(edl_target_storage_write(s, &b2, 0, in, 1, &err), EDL_E_TARGET_NOT_ERASED);
	free(in);
	free(out);
	edl_target_storage_close(s);
}

static void test_storage_nand_skips_bad_blocks_inside_the_partition(void **state)
{
	(void)state;
	const uint32_t bad[] = {1, 3};
	struct edl_target_storage *s = open_small(EDL_STORAGE_NAND, bad, 2, NULL);
	/* Partition pages 0..19 (blocks 0-4), 10 pages of data: blocks 0, 2, 4 hold them. */
	struct edl_target_range r = {.lun = 0, .start = 0, .count = 10, .last = 19};
	struct edl_error err;
	uint8_t *in = malloc(10 * 2048), *out = malloc(20 * 2048);

	fill_pattern(in, 10 * 2048, 7);
	assert_true(edl_target_storage_block_bad(s, 1));
	assert_false(edl_target_storage_block_bad(s, 2));
	assert_int_equal(edl_target_storage_check(s, &r, &err), EDL_OK);
	/* Written in odd pieces: the mapping is the same for every piece. */
	assert_int_equal(edl_target_storage_write(s, &r, 0, in, 3, &err), EDL_OK);
	assert_int_equal(edl_target_storage_write(s, &r, 3, in + 3 * 2048, 6, &err), EDL_OK);
	assert_int_equal(edl_target_storage_write(s, &r, 9, in + 9 * 2048, 1, &err), EDL_OK);
	assert_int_equal(edl_target_storage_read_raw(s, 0, 0, 20, out, &err), EDL_OK);
	assert_memory_equal(out, in, 4 * 2048);      /* block 0 */
	for (size_t i = 4 * 2048; i < 8 * 2048; i++) /* bad block 1: untouched */
		assert_int_equal(out[i], 0xff);
	assert_memory_equal(out + 8 * 2048, in + 4 * 2048, 4 * 2048);  /* block 2 */
	assert_memory_equal(out + 16 * 2048, in + 8 * 2048, 2 * 2048); /* block 4 */
	/* The mapped read gives the host its data back in order. */
	assert_int_equal(edl_target_storage_read(s, &r, 0, out, 10, &err), EDL_OK);
	assert_memory_equal(out, in, 10 * 2048);
	free(in);
	free(out);
	edl_target_storage_close(s);
}

static void test_storage_nand_fails_when_good_blocks_run_out(void **state)
{
	(void)state;
	const uint32_t bad[] = {1};
	struct edl_target_storage *s = open_small(EDL_STORAGE_NAND, bad, 1, NULL);
	struct edl_target_range r = {.lun = 0, .start = 0, .count = 8, .last = 7};
	struct edl_error err;

	assert_int_equal(edl_target_storage_check(s, &r, &err), EDL_E_TARGET_BAD_BLOCKS);
	assert_non_null(strstr(err.detail, "pages 0..7"));
	assert_non_null(strstr(err.detail, "1 bad block"));
	/* The same data fits when the partition has a spare block. */
	r.last = 11;
	assert_int_equal(edl_target_storage_check(s, &r, &err), EDL_OK);
	/* Without last_sector the partition runs to the end of the device. */
	r.last = UINT64_MAX;
	r.start = 56;
	assert_int_equal(edl_target_storage_check(s, &r, &err), EDL_OK);
	r.start = 57;
	assert_int_equal(edl_target_storage_check(s, &r, &err), EDL_E_RANGE);
	r.start = 8;
	r.last = 4;
	assert_int_equal(edl_target_storage_check(s, &r, &err), EDL_E_RANGE);
	assert_non_null(strstr(err.detail, "before start_sector"));
	edl_target_storage_close(s);
}

static void test_storage_nand_never_erases_bad_blocks(void **state)
{
	(void)state;
	const uint32_t bad[] = {2};
	struct edl_target_storage *s = open_small(EDL_STORAGE_NAND, bad, 1, NULL);
	struct edl_target_range part = {.lun = 0, .start = 0, .count = 16, .last = 15};
	struct edl_target_range data = {.lun = 0, .start = 0, .count = 12, .last = 15};
	struct edl_error err;
	uint8_t *in = malloc(12 * 2048);

	fill_pattern(in, 12 * 2048, 8);
	assert_int_equal(edl_target_storage_write(s, &data, 0, in, 12, &err), EDL_OK);
	assert_int_equal(edl_target_storage_check_erased(s, &data, &err), EDL_E_TARGET_NOT_ERASED);
	/* Erasing the whole partition (bad block inside) succeeds and frees every good page. */
	assert_int_equal(edl_target_storage_erase(s, &part, &err), EDL_OK);
	assert_int_equal(edl_target_storage_check_erased(s, &data, &err), EDL_OK);
	free(in);
	edl_target_storage_close(s);
}

static void test_storage_nand_page_states_survive_reopen(void **state)
{
	(void)state;
	char *dir = make_dir();
	struct edl_target_storage *s = open_small(EDL_STORAGE_NAND, NULL, 0, dir);
	struct edl_target_range r = {.lun = 0, .start = 20, .count = 2, .last = UINT64_MAX};
	struct edl_error err;
	uint8_t in[2 * 2048], out[2 * 2048];

	fill_pattern(in, sizeof(in), 9);
	assert_int_equal(edl_target_storage_write(s, &r, 0, in, 2, &err), EDL_OK);
	edl_target_storage_close(s);

	s = open_small(EDL_STORAGE_NAND, NULL, 0, dir);
	assert_int_equal(edl_target_storage_read_raw(s, 0, 20, 2, out, &err), EDL_OK);
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(edl_target_storage_write(s, &r, 0, in, 1, &err), EDL_E_TARGET_NOT_ERASED);
	assert_int_equal(edl_target_storage_read_raw(s, 0, 22, 1, out, &err), EDL_OK);
	assert_int_equal(out[0], 0xff);
	edl_target_storage_close(s);
	rm_dir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_storage_defaults_have_sensible_sizes),
	        cmocka_unit_test(test_storage_emmc_writes_and_reads_back),
	        cmocka_unit_test(test_storage_rejects_ranges_outside_the_lun),
	        cmocka_unit_test(test_storage_erase_zeroes_emmc_sectors),
	        cmocka_unit_test(test_storage_backing_file_is_sparse),
	        cmocka_unit_test(test_storage_ufs_luns_are_separate_and_sizable),
	        cmocka_unit_test(test_storage_rejects_bad_geometry),
	        cmocka_unit_test(test_storage_nand_erased_pages_read_ff),
	        cmocka_unit_test(test_storage_nand_refuses_programming_a_programmed_page),
	        cmocka_unit_test(test_storage_nand_erases_whole_blocks),
	        cmocka_unit_test(test_storage_nand_skips_bad_blocks_inside_the_partition),
	        cmocka_unit_test(test_storage_nand_fails_when_good_blocks_run_out),
	        cmocka_unit_test(test_storage_nand_never_erases_bad_blocks),
	        cmocka_unit_test(test_storage_nand_page_states_survive_reopen),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
