/*
 * Tests of whole package loads: packages built around every real sample (the
 * tests generate the images they name) give a plan whose boot loader is
 * programmed last (and, on NAND only, erased first: no erase is ever added on
 * eMMC/UFS); a Quectel vendor erase becomes a verbatim vendor step right after
 * the boot loader erase; an erase without a range is refused; discovery never
 * picks by directory order; every
 * validation error has a hostile package and its message asserted; the hash
 * cache serves unchanged files, rehashes changed ones and survives a corrupt
 * cache; step digests cover exactly the written bytes; edl_plan_resolve checks a
 * device's geometry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "package/internal.h"
#include "pkgtest.h"

struct fixture {
	char *dir;
	char *cache;
	struct edl_package *pkg;
	struct edl_error err;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	fx->dir = pt_mkdtemp();
	fx->cache = pt_mkdtemp();
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	edl_package_free(fx->pkg);
	pt_rmtree(fx->dir);
	pt_rmtree(fx->cache);
	free(fx->dir);
	free(fx->cache);
	free(fx);
	return 0;
}

static int load(struct fixture *fx, struct edl_package_options *opt)
{
	edl_package_free(fx->pkg);
	fx->pkg = NULL;
	edl_error_clear(&fx->err);
	return pt_load(&fx->pkg, fx->dir, fx->cache, opt, &fx->err);
}

static int load_ok(struct fixture *fx, struct edl_package_options *opt)
{
	int rc = load(fx, opt);

	if (rc != EDL_OK) {
		pt_dump_diags(fx->pkg);
		fail_msg("load failed: %s", fx->err.detail);
	}
	return rc;
}

/* The error diagnostic containing text, with its file and line checked. */
static void expect_error(struct fixture *fx, int code, const char *file, unsigned line,
                         const char *text)
{
	const struct edl_package_diag *d = pt_find_diag(fx->pkg, EDL_DIAG_ERROR, text);

	if (d == NULL) {
		pt_dump_diags(fx->pkg);
		fail_msg("no error containing '%s'", text);
	}
	assert_int_equal(d->code, code);
	if (file != NULL)
		assert_string_equal(d->file, file);
	assert_int_equal(d->line, line);
	assert_false(edl_package_valid(fx->pkg));
}

static void quectel_package(const char *dir, const char *raw_sample, const char *raw_name,
                            const char *patch_sample, const char *patch_name, uint32_t seed)
{
	char rel[512];

	snprintf(rel, sizeof(rel), "update/firehose/%s", raw_name);
	pt_copy_sample(dir, rel, raw_sample);
	snprintf(rel, sizeof(rel), "update/firehose/%s", patch_name);
	pt_copy_sample(dir, rel, patch_sample);
	pt_copy_sample(dir, "contents.xml", "eg25g-biktorgj_contents.xml");
	pt_copy_sample(dir, "update/partition_nand.xml", "eg25g-biktorgj_partition_nand.xml");
	pt_write_random(dir, "update/firehose/prog_nand_firehose_9x07.mbn", 70000, seed);
	snprintf(rel, sizeof(rel), "update/firehose/%s", raw_name);
	pt_make_images(dir, rel, 48 * 1024, seed + 1);
	pt_write_quectel_md5(dir);
}

static void db410c_package(const char *dir)
{
	pt_copy_sample(dir, "rawprogram0.xml", "db410c-ptool_rawprogram0.xml");
	pt_copy_sample(dir, "patch0.xml", "db410c-ptool_patch0.xml");
	pt_copy_sample(dir, "partition.xml", "db410c-ptool_partition.xml");
	pt_write_random(dir, "prog_emmc_firehose_8916.mbn", 90000, 3);
	pt_write_sparse(dir, "system.img", 10);
	pt_write_sparse(dir, "cache.img", 20);
	pt_write_sparse(dir, "persist.img", 30);
	pt_write_sparse(dir, "userdata.img", 40);
	pt_make_images(dir, "rawprogram0.xml", 40 * 1024, 50);
}

static const struct edl_plan_step *last_of_kind(const struct edl_plan *plan,
                                                enum edl_plan_step_kind kind)
{
	for (size_t i = plan->n_steps; i-- > 0;) {
		if (plan->steps[i].kind == kind)
			return &plan->steps[i];
	}
	return NULL;
}

/* The plan's order keeps the unit recoverable: on NAND the boot loader is
 * erased first; on every storage it is programmed after every other write. */
static void assert_recoverable_order(const struct edl_plan *plan, const char *sbl_file)
{
	const struct edl_plan_step *first = &plan->steps[0];
	const struct edl_plan_step *lastp = last_of_kind(plan, EDL_STEP_PROGRAM);
	bool boot_started = false;

	if (plan->storage == EDL_STORAGE_NAND) {
		assert_int_equal(first->kind, EDL_STEP_ERASE);
		assert_true(first->bootloader);
	}
	assert_non_null(lastp);
	assert_true(lastp->bootloader);
	assert_non_null(strstr(lastp->filename, sbl_file));
	for (size_t i = 0; i < plan->n_steps; i++) {
		const struct edl_plan_step *s = &plan->steps[i];
		if (s->kind == EDL_STEP_PROGRAM && s->bootloader)
			boot_started = true;
		else if (boot_started)
			assert_int_equal(s->kind, EDL_STEP_SET_BOOTABLE);
		if (s->kind == EDL_STEP_ERASE && s->bootloader) {
			/* Every boot loader erase precedes every non-boot step. */
			for (size_t k = 0; k < i; k++)
				assert_true(plan->steps[k].bootloader);
		}
	}
}

/* eMMC/UFS: no erase the XML does not have (REAL-DEVICES #3: an old
 * programmer's handleErase wipes the whole LUN). */
static void assert_no_synthesized_erase(const struct edl_plan *plan)
{
	for (size_t i = 0; i < plan->n_steps; i++) {
		if (plan->steps[i].kind == EDL_STEP_ERASE)
			assert_false(plan->steps[i].synthesized);
	}
}

static void test_package_eg25g_quectel_layout_plans_sbl_erase_first_program_last(void **state)
{
	struct fixture *fx = *state;
	const struct edl_plan *plan;
	struct edl_package_stats st;
	size_t last_erase = 0, first_program = SIZE_MAX;

	quectel_package(fx->dir, "eg25g-biktorgj_rawprogram_nand_p2K_b128K_update.xml",
	                "rawprogram_nand_p2K_b128K_update.xml",
	                "eg25g-biktorgj_patch_p2K_b128K.xml", "patch_p2K_b128K.xml", 100);
	load_ok(fx, NULL);
	plan = edl_package_plan(fx->pkg);
	assert_int_equal(edl_package_layout(fx->pkg), EDL_LAYOUT_QUECTEL);
	assert_int_equal(plan->storage, EDL_STORAGE_NAND);
	assert_true(edl_package_storage_inferred(fx->pkg));
	assert_string_equal(edl_package_programmer(fx->pkg),
	                    "update/firehose/prog_nand_firehose_9x07.mbn");
	assert_string_equal(edl_package_product(fx->pkg), "MDM9607.LE.1.0");
	assert_recoverable_order(plan, "update/sbl1.mbn");
	assert_string_equal(plan->steps[0].start_sector, "0");
	assert_int_equal(plan->steps[0].num_sectors, 640);
	assert_int_equal(plan->steps[0].pages_per_block, 64);
	/* NAND: every erase precedes every program, whatever the file order (the
	 * file programs tz at 13184 and erases it 16 lines later). */
	for (size_t i = 0; i < plan->n_steps; i++) {
		if (plan->steps[i].kind == EDL_STEP_ERASE)
			last_erase = i;
		if (plan->steps[i].kind == EDL_STEP_PROGRAM && first_program == SIZE_MAX)
			first_program = i;
	}
	assert_true(last_erase < first_program);
	/* 11 erases, 11 programs, no DISK patch, no setbootable on NAND. */
	assert_int_equal(plan->n_steps, 22);
	assert_null(last_of_kind(plan, EDL_STEP_SET_BOOTABLE));
	/* The MIBIB file patches have no DISK twin: warned, not applied. */
	assert_non_null(pt_find_diag(fx->pkg, EDL_DIAG_WARNING, "has no DISK counterpart"));
	/* md5.txt checked in full. */
	edl_package_stats(fx->pkg, &st);
	assert_true(st.manifest_entries >= 15);
	assert_int_equal(st.manifest_checked, st.manifest_entries);
	assert_int_equal(plan->n_luns, 1);
	assert_true(plan->total_bytes > 0);
	assert_true(plan->est_ms > 0);
}

static void test_package_em12g_layout_plans_sbl_erase_first_program_last(void **state)
{
	struct fixture *fx = *state;
	const struct edl_plan *plan;

	quectel_package(fx->dir, "em12g-msft_rawprogram_nand_p4K_b256K_update.xml",
	                "rawprogram_nand_p4K_b256K_update.xml", "em12g-msft_patch_p4K_b256K.xml",
	                "patch_p4K_b256K.xml", 200);
	load_ok(fx, NULL);
	plan = edl_package_plan(fx->pkg);
	assert_recoverable_order(plan, "update/sbl1.mbn");
	assert_string_equal(plan->steps[0].label, "SBL");
	assert_string_equal(plan->steps[0].last_sector, "639");
	assert_false(plan->steps[0].synthesized);
	assert_string_equal(last_of_kind(plan, EDL_STEP_PROGRAM)->label, "SBL");
	assert_int_equal(plan->n_steps, 24);
}

static void test_package_db410c_board_layout_plans_patches_and_bootable(void **state)
{
	struct fixture *fx = *state;
	struct edl_package_options opt;
	const struct edl_plan *plan;
	const struct edl_plan_step *s;
	size_t patches = 0, erases = 0;
	uint64_t *resolved;

	db410c_package(fx->dir);
	load_ok(fx, NULL);
	plan = edl_package_plan(fx->pkg);
	assert_int_equal(edl_package_layout(fx->pkg), EDL_LAYOUT_BOARD);
	assert_int_equal(plan->storage, EDL_STORAGE_EMMC);
	assert_recoverable_order(plan, "sbl1.mbn");
	assert_no_synthesized_erase(plan);
	for (size_t i = 0; i < plan->n_steps; i++) {
		s = &plan->steps[i];
		if (s->kind == EDL_STEP_PATCH) {
			patches++;
			assert_string_equal(s->filename, "DISK");
		}
		if (s->kind == EDL_STEP_ERASE)
			erases++;
	}
	/* 13 DISK patches; the 13 file patches have DISK twins and are dropped. */
	assert_int_equal(patches, 13);
	assert_non_null(pt_find_diag(fx->pkg, EDL_DIAG_NOTE, "13 patches aimed at files"));
	/* The XML has no erase, so the plan has none: no "erase*+ sbl1" (it used to
	 * erase sbl1 and sbl1bak first, which an MSM8916-era programmer turns into
	 * an erase of the whole eMMC user area). */
	assert_int_equal(erases, 0);
	assert_string_equal(plan->steps[0].label, "modem"); /* file order */
	assert_int_equal(plan->steps[0].kind, EDL_STEP_PROGRAM);
	s = last_of_kind(plan, EDL_STEP_SET_BOOTABLE);
	assert_ptr_equal(s, &plan->steps[plan->n_steps - 1]);
	assert_int_equal(s->lun, 0);
	/* Expressions pass through to the programmer as written. */
	for (size_t i = 0; i < plan->n_steps; i++) {
		s = &plan->steps[i];
		if (s->kind == EDL_STEP_PROGRAM && strcmp(s->label, "BackupGPT") == 0)
			assert_string_equal(s->start_sector, "NUM_DISK_SECTORS-33.");
		if (s->kind == EDL_STEP_PATCH &&
		    strcmp(s->value, "CRC32(NUM_DISK_SECTORS-33.,4096)") == 0)
			assert_string_equal(s->start_sector, "NUM_DISK_SECTORS-1.");
	}
	/* Sparse images become several steps (RAW, FILL, RAW), DONT_CARE skipped. */
	{
		size_t chunks = 0, fills = 0;
		for (size_t i = 0; i < plan->n_steps; i++) {
			s = &plan->steps[i];
			if (strcmp(s->filename, "system.img") == 0) {
				chunks++;
				fills += s->fill;
			}
		}
		assert_int_equal(chunks, 3);
		assert_int_equal(fills, 1);
	}

	/* The geometry of an 8 GB eMMC: every expression evaluates in range. */
	resolved = calloc(plan->n_steps, sizeof(*resolved));
	assert_non_null(resolved);
	assert_int_equal(edl_plan_resolve(plan, 0, 15269888, resolved, &fx->err), EDL_OK);
	for (size_t i = 0; i < plan->n_steps; i++) {
		if (strcmp(plan->steps[i].label, "BackupGPT") == 0)
			assert_int_equal(resolved[i], 15269888 - 33);
	}
	free(resolved);
	/* A device too small for the layout is refused, naming the step. */
	assert_int_equal(edl_plan_resolve(plan, 0, 1000000, NULL, &fx->err), EDL_E_PKG_GEOMETRY);
	assert_non_null(strstr(fx->err.detail, "rawprogram0.xml:"));
	assert_non_null(strstr(fx->err.detail, "beyond the device's 1000000 sectors"));

	/* package check --sectors: the same through the load. */
	edl_package_options_init(&opt);
	for (int i = 0; i < EDL_PLAN_MAX_LUNS; i++)
		opt.disk_sectors[i] = 15269888;
	load_ok(fx, &opt);
	opt.disk_sectors[0] = 3000000;
	assert_int_equal(load(fx, &opt), EDL_E_PKG_GEOMETRY);
	expect_error(fx, EDL_E_PKG_GEOMETRY, "rawprogram0.xml", 54,
	             "program of 'cache' (rawprogram0.xml:54): sectors 3145728..3145743 are beyond "
	             "the device's 3000000 sectors");
	/* cache, persist and userdata: one error each, not one per sparse chunk. */
	assert_int_equal(edl_package_error_count(fx->pkg), 3);
}

static void test_package_ufs_luns_infer_storage_and_bootable_lun(void **state)
{
	struct fixture *fx = *state;
	const struct edl_plan *plan;
	const struct edl_plan_step *s;
	const char *fmt = "<?xml version=\"1.0\" ?>\n<data>\n"
	                  "<program SECTOR_SIZE_IN_BYTES=\"4096\" filename=\"%s\" label=\"%s\" "
	                  "num_partition_sectors=\"64\" physical_partition_number=\"%d\" "
	                  "start_sector=\"6\"/>\n</data>\n";
	char xml[1024];

	snprintf(xml, sizeof(xml), fmt, "gpt_main0.bin", "PrimaryGPT", 0);
	pt_write_str(fx->dir, "rawprogram0.xml", xml);
	snprintf(xml, sizeof(xml), fmt, "xbl.elf", "xbl_a", 1);
	pt_write_str(fx->dir, "rawprogram1.xml", xml);
	snprintf(xml, sizeof(xml), fmt, "modem.img", "modem", 4);
	pt_write_str(fx->dir, "rawprogram4.xml", xml);
	pt_write_random(fx->dir, "gpt_main0.bin", 5000, 1);
	pt_write_random(fx->dir, "xbl.elf", 9000, 2);
	pt_write_random(fx->dir, "modem.img", 20000, 3);
	pt_write_random(fx->dir, "prog_firehose_ddr.elf", 2000, 4);
	load_ok(fx, NULL);
	plan = edl_package_plan(fx->pkg);
	assert_int_equal(plan->storage, EDL_STORAGE_UFS);
	assert_int_equal(plan->bootable_lun, 1);
	assert_int_equal(plan->n_luns, 3);
	assert_int_equal(plan->luns[0].lun, 0);
	assert_int_equal(plan->luns[1].lun, 1);
	assert_int_equal(plan->luns[2].lun, 4);
	assert_int_equal(plan->luns[2].program_bytes, 5 * 4096);
	assert_int_equal(plan->total_bytes, (2 + 3 + 5) * 4096);
	s = &plan->steps[plan->n_steps - 1];
	assert_int_equal(s->kind, EDL_STEP_SET_BOOTABLE);
	assert_int_equal(s->lun, 1);
	/* No synthesized xbl erase: file order, then xbl last, then setbootable. */
	assert_no_synthesized_erase(plan);
	assert_int_equal(plan->n_steps, 4);
	s = &plan->steps[0];
	assert_int_equal(s->kind, EDL_STEP_PROGRAM);
	assert_string_equal(s->label, "PrimaryGPT");
	assert_string_equal(plan->steps[1].label, "modem");
	s = &plan->steps[2];
	assert_int_equal(s->kind, EDL_STEP_PROGRAM);
	assert_string_equal(s->label, "xbl_a");
	assert_true(s->bootloader);
	assert_int_equal(plan->luns[1].est_ms + plan->luns[0].est_ms + plan->luns[2].est_ms,
	                 plan->est_ms);
}

static void test_package_choice_is_never_by_directory_order(void **state)
{
	struct fixture *fx = *state;
	struct edl_package_options opt;
	const char *raw[] = {"update/firehose/rawprogram_nand_p4K_b256K_factory.xml"};

	quectel_package(fx->dir, "em12g-msft_rawprogram_nand_p4K_b256K_update.xml",
	                "rawprogram_nand_p4K_b256K_update.xml", "em12g-msft_patch_p4K_b256K.xml",
	                "patch_p4K_b256K.xml", 300);
	pt_copy_sample(fx->dir, "update/firehose/rawprogram_nand_p4K_b256K_factory.xml",
	               "em12g-msft_rawprogram_nand_p4K_b256K_update.xml");
	assert_int_equal(load(fx, NULL), EDL_E_PKG_CHOICE);
	assert_non_null(strstr(fx->err.detail,
	                       "update/firehose/rawprogram_nand_p4K_b256K_factory.xml, "
	                       "update/firehose/rawprogram_nand_p4K_b256K_update.xml"));
	assert_non_null(strstr(fx->err.detail, "--rawprogram FILE"));

	edl_package_options_init(&opt);
	opt.rawprogram = raw;
	opt.n_rawprogram = 1;
	load_ok(fx, &opt);
	assert_int_equal(edl_package_layout(fx->pkg), EDL_LAYOUT_EXPLICIT);
	assert_string_equal(edl_package_xml(fx->pkg, 0, NULL), raw[0]);
	/* Its patch file is still found beside it (same p4K_b256K key). */
	assert_string_equal(edl_package_xml(fx->pkg, 1, NULL),
	                    "update/firehose/patch_p4K_b256K.xml");

	/* Two programmers: a choice too. */
	pt_write_random(fx->dir, "update/firehose/prog_nand_firehose_sdx20.mbn", 1000, 9);
	assert_int_equal(load(fx, &opt), EDL_E_PKG_CHOICE);
	assert_non_null(strstr(fx->err.detail, "2 programmers"));
	assert_non_null(strstr(fx->err.detail, "--programmer FILE"));
	opt.programmer = "update/firehose/prog_nand_firehose_sdx20.mbn";
	load_ok(fx, &opt);
	assert_string_equal(edl_package_programmer(fx->pkg), opt.programmer);
}

static const char *const one_program =
        "<?xml version=\"1.0\" ?>\n<data>\n"
        "  <program SECTOR_SIZE_IN_BYTES=\"512\" filename=\"%s\" label=\"boot\" "
        "num_partition_sectors=\"%s\" physical_partition_number=\"0\" start_sector=\"%s\"/>\n"
        "</data>\n";

static void write_one(struct fixture *fx, const char *file, const char *num, const char *start)
{
	char xml[1024];

	snprintf(xml, sizeof(xml), one_program, file, num, start);
	pt_write_str(fx->dir, "rawprogram0.xml", xml);
	pt_write_random(fx->dir, "prog_firehose.mbn", 100, 1);
}

static void test_package_missing_image_is_an_error(void **state)
{
	struct fixture *fx = *state;

	write_one(fx, "..\\images\\boot.img", "64", "100");
	assert_int_equal(load(fx, NULL), EDL_E_PKG_ESCAPE);
	write_one(fx, "images\\boot.img", "64", "100");
	assert_int_equal(load(fx, NULL), EDL_E_PKG_MISSING);
	expect_error(fx, EDL_E_PKG_MISSING, "rawprogram0.xml", 3,
	             "image 'images\\boot.img' (images/boot.img) is missing");
	assert_string_equal(fx->err.detail,
	                    "rawprogram0.xml:3: image 'images\\boot.img' (images/boot.img) is "
	                    "missing");
}

static void test_package_image_larger_than_partition_is_an_error(void **state)
{
	struct fixture *fx = *state;

	write_one(fx, "boot.img", "8", "100");
	pt_write_random(fx->dir, "boot.img", 8 * 512 + 1, 5);
	assert_int_equal(load(fx, NULL), EDL_E_PKG_TOO_LARGE);
	expect_error(fx, EDL_E_PKG_TOO_LARGE, "rawprogram0.xml", 3,
	             "image 'boot.img' of 4097 bytes is larger than its partition 'boot' of "
	             "4096 bytes (8 sectors of 512)");
	/* Exactly the partition size is fine. */
	pt_write_random(fx->dir, "boot.img", 8 * 512, 5);
	load_ok(fx, NULL);
}

static void test_package_paths_escaping_the_root_are_errors(void **state)
{
	struct fixture *fx = *state;
	char outside[4096];

	write_one(fx, "../../etc/passwd", "64", "100");
	assert_int_equal(load(fx, NULL), EDL_E_PKG_ESCAPE);
	expect_error(fx, EDL_E_PKG_ESCAPE, "rawprogram0.xml", 3,
	             "'../../etc/passwd' leads outside the package directory");

	write_one(fx, "/etc/passwd", "64", "100");
	assert_int_equal(load(fx, NULL), EDL_E_PKG_ESCAPE);
	expect_error(fx, EDL_E_PKG_ESCAPE, "rawprogram0.xml", 3,
	             "'/etc/passwd' is an absolute path");

	write_one(fx, "C:\\Windows\\boot.img", "64", "100");
	assert_int_equal(load(fx, NULL), EDL_E_PKG_ESCAPE);

	/* A link inside the package that leads outside it. */
	snprintf(outside, sizeof(outside), "%s/secret.img", fx->cache);
	pt_write_random(fx->cache, "secret.img", 100, 1);
	write_one(fx, "boot.img", "64", "100");
	{
		char link[4096];
		snprintf(link, sizeof(link), "%s/boot.img", fx->dir);
		assert_int_equal(symlink(outside, link), 0);
	}
	assert_int_equal(load(fx, NULL), EDL_E_PKG_ESCAPE);
	expect_error(fx, EDL_E_PKG_ESCAPE, "rawprogram0.xml", 3, "is a link to");
	/* A link that stays inside is fine. */
	{
		char link[4096];
		snprintf(link, sizeof(link), "%s/boot.img", fx->dir);
		unlink(link);
		pt_write_random(fx->dir, "real/boot.bin", 100, 2);
		assert_int_equal(symlink("real/boot.bin", link), 0);
	}
	load_ok(fx, NULL);
	/* An option naming a file outside is refused too. */
	{
		struct edl_package_options opt;
		edl_package_options_init(&opt);
		opt.programmer = "../x.mbn";
		assert_int_equal(load(fx, &opt), EDL_E_PKG_ESCAPE);
	}
}

static void test_package_overlapping_writes_are_an_error(void **state)
{
	struct fixture *fx = *state;

	pt_write_str(fx->dir, "rawprogram0.xml",
	             "<?xml version=\"1.0\" ?>\n<data>\n"
	             "<program SECTOR_SIZE_IN_BYTES=\"512\" filename=\"a.img\" label=\"a\" "
	             "num_partition_sectors=\"100\" physical_partition_number=\"0\" "
	             "start_sector=\"1000\"/>\n"
	             "<program SECTOR_SIZE_IN_BYTES=\"512\" filename=\"b.img\" label=\"b\" "
	             "num_partition_sectors=\"100\" physical_partition_number=\"1\" "
	             "start_sector=\"1050\"/>\n"
	             "<program SECTOR_SIZE_IN_BYTES=\"512\" filename=\"c.img\" label=\"c\" "
	             "num_partition_sectors=\"100\" physical_partition_number=\"0\" "
	             "start_sector=\"1099\"/>\n"
	             "</data>\n");
	pt_write_random(fx->dir, "prog_firehose.mbn", 100, 1);
	pt_write_random(fx->dir, "a.img", 1000, 1);
	pt_write_random(fx->dir, "b.img", 1000, 2);
	pt_write_random(fx->dir, "c.img", 1000, 3);
	assert_int_equal(load(fx, NULL), EDL_E_PKG_OVERLAP);
	/* b is on another LUN: only c overlaps a. */
	expect_error(fx, EDL_E_PKG_OVERLAP, "rawprogram0.xml", 5,
	             "program of 'c' (LUN 0 sectors 1099..1198) overlaps program of 'a' "
	             "(rawprogram0.xml:3, sectors 1000..1099)");
	assert_int_equal(edl_package_error_count(fx->pkg), 1);
}

static void test_package_overlap_of_expression_starts_found_with_geometry(void **state)
{
	struct fixture *fx = *state;
	const struct edl_plan *plan;

	pt_write_str(fx->dir, "rawprogram0.xml",
	             "<?xml version=\"1.0\" ?>\n<data>\n"
	             "<program SECTOR_SIZE_IN_BYTES=\"512\" filename=\"a.img\" label=\"a\" "
	             "num_partition_sectors=\"100\" physical_partition_number=\"0\" "
	             "start_sector=\"900\"/>\n"
	             "<program SECTOR_SIZE_IN_BYTES=\"512\" filename=\"b.img\" label=\"b\" "
	             "num_partition_sectors=\"33\" physical_partition_number=\"0\" "
	             "start_sector=\"NUM_DISK_SECTORS-33.\"/>\n"
	             "</data>\n");
	pt_write_random(fx->dir, "prog_firehose.mbn", 100, 1);
	pt_write_random(fx->dir, "a.img", 512 * 10, 1);
	pt_write_random(fx->dir, "b.img", 512 * 33, 2);
	load_ok(fx, NULL);
	plan = edl_package_plan(fx->pkg);
	assert_int_equal(edl_plan_resolve(plan, 0, 100000, NULL, &fx->err), EDL_OK);
	assert_int_equal(edl_plan_resolve(plan, 0, 940, NULL, &fx->err), EDL_E_PKG_OVERLAP);
	assert_string_equal(
	        fx->err.detail,
	        "program of 'b' (rawprogram0.xml:4, sectors 907..939) overlaps program of "
	        "'a' (rawprogram0.xml:3, sectors 900..909) with 940 sectors");
	assert_int_equal(edl_plan_resolve(plan, 0, 20, NULL, &fx->err), EDL_E_PKG_GEOMETRY);
	assert_string_equal(fx->err.detail, "program of 'a' (rawprogram0.xml:3): sectors 900..909 "
	                                    "are beyond the device's 20 sectors");
}

static void test_package_malformed_number_is_an_error(void **state)
{
	struct fixture *fx = *state;

	write_one(fx, "boot.img", "0x", "100");
	pt_write_random(fx->dir, "boot.img", 100, 1);
	assert_int_equal(load(fx, NULL), EDL_E_PKG_EXPR);
	assert_string_equal(fx->err.detail,
	                    "rawprogram0.xml:3: num_partition_sectors '0x' is not a number");
	write_one(fx, "boot.img", "64", "NUM_DISK_SECTORS-33.5");
	assert_int_equal(load(fx, NULL), EDL_E_PKG_EXPR);
	expect_error(fx, EDL_E_PKG_EXPR, "rawprogram0.xml", 3,
	             "start_sector: 'NUM_DISK_SECTORS-33.5'");
}

static void test_package_patches_the_plan_cannot_apply_are_errors(void **state)
{
	struct fixture *fx = *state;

	write_one(fx, "gpt_main0.bin", "34", "0");
	pt_write_random(fx->dir, "gpt_main0.bin", 34 * 512, 1);
	pt_write_str(fx->dir, "patch0.xml",
	             "<?xml version=\"1.0\" ?>\n<patches>\n"
	             "<patch SECTOR_SIZE_IN_BYTES=\"512\" byte_offset=\"16\" filename=\"DISK\" "
	             "physical_partition_number=\"0\" size_in_bytes=\"16\" start_sector=\"1\" "
	             "value=\"0\" what=\"too wide\"/>\n"
	             "<patch SECTOR_SIZE_IN_BYTES=\"512\" byte_offset=\"510\" filename=\"DISK\" "
	             "physical_partition_number=\"0\" size_in_bytes=\"4\" start_sector=\"1\" "
	             "value=\"0\" what=\"past the sector\"/>\n"
	             "<patch SECTOR_SIZE_IN_BYTES=\"512\" byte_offset=\"16\" "
	             "filename=\"gpt_missing.bin\" physical_partition_number=\"0\" "
	             "size_in_bytes=\"4\" start_sector=\"1\" value=\"0\" what=\"no file\"/>\n"
	             "<patch SECTOR_SIZE_IN_BYTES=\"512\" byte_offset=\"16\" filename=\"DISK\" "
	             "physical_partition_number=\"0\" size_in_bytes=\"4\" "
	             "start_sector=\"NUM_DISK_SECTORS-1.\" value=\"CRC32(NUM_DISK_SECTORS-1.,92)\" "
	             "what=\"fine\"/>\n"
	             "</patches>\n");
	assert_int_equal(load(fx, NULL), EDL_E_PKG_PATCH);
	expect_error(fx, EDL_E_PKG_PATCH, "patch0.xml", 3,
	             "patch of 16 bytes cannot be applied: size_in_bytes must be 1..8");
	expect_error(fx, EDL_E_PKG_PATCH, "patch0.xml", 4,
	             "patch at byte_offset 510 of 4 bytes runs past its 512-byte sector");
	expect_error(fx, EDL_E_PKG_PATCH, "patch0.xml", 5,
	             "patch cannot be applied: its target 'gpt_missing.bin' is not in the package");
	assert_int_equal(edl_package_error_count(fx->pkg), 3);
	{
		const struct edl_plan_step *s =
		        last_of_kind(edl_package_plan(fx->pkg), EDL_STEP_PATCH);
		assert_non_null(s);
		assert_string_equal(s->value, "CRC32(NUM_DISK_SECTORS-1.,92)");
		assert_string_equal(s->source, "patch0.xml:6");
	}
}

static void test_package_manifest_mismatch_names_file_and_both_hashes(void **state)
{
	struct fixture *fx = *state;
	char want[33], have[33];
	uint8_t d[16];
	char msg[256];

	write_one(fx, "boot.img", "64", "100");
	pt_write_random(fx->dir, "boot.img", 3000, 7);
	pt_write_quectel_md5(fx->dir);
	load_ok(fx, NULL);
	/* Change the image after the manifest was written (same size). */
	{
		uint8_t buf[3000];
		pt_random(buf, sizeof(buf), 8);
		pt_write(fx->dir, "boot.img", buf, sizeof(buf));
		pt_md5(buf, sizeof(buf), d);
		for (int i = 0; i < 16; i++)
			snprintf(have + 2 * i, 3, "%02x", d[i]);
		pt_random(buf, sizeof(buf), 7);
		pt_md5(buf, sizeof(buf), d);
		for (int i = 0; i < 16; i++)
			snprintf(want + 2 * i, 3, "%02x", d[i]);
	}
	assert_int_equal(load(fx, NULL), EDL_E_PKG_HASH);
	snprintf(msg, sizeof(msg), "boot.img: MD5 is %s but the manifest says %s", have, want);
	{
		const struct edl_package_diag *dg = pt_find_diag(fx->pkg, EDL_DIAG_ERROR, msg);
		assert_non_null(dg);
		assert_string_equal(dg->file, "md5.txt");
		assert_true(dg->line >= 3);
	}
	/* A sha256sum file works the same way. */
	{
		uint8_t buf[3000], s[32];
		char hex[65], text[200];
		pt_random(buf, sizeof(buf), 8);
		pt_sha256(buf, sizeof(buf), s);
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", s[i]);
		unlink(strcat(strcpy(text, fx->dir), "/md5.txt"));
		snprintf(text, sizeof(text), "%s  boot.img\n", hex);
		pt_write_str(fx->dir, "SHA256SUMS", text);
		load_ok(fx, NULL);
		hex[0] = hex[0] == '0' ? '1' : '0';
		snprintf(text, sizeof(text), "%s *boot.img\n", hex);
		pt_write_str(fx->dir, "SHA256SUMS", text);
		assert_int_equal(load(fx, NULL), EDL_E_PKG_HASH);
		assert_non_null(pt_find_diag(fx->pkg, EDL_DIAG_ERROR, "boot.img: SHA-256 is "));
	}
}

static void test_package_malformed_sparse_image_is_an_error(void **state)
{
	struct fixture *fx = *state;
	char path[4096];
	size_t len;
	uint8_t *img;

	pt_write_str(
	        fx->dir, "rawprogram0.xml",
	        "<?xml version=\"1.0\" ?>\n<data>\n"
	        "<program SECTOR_SIZE_IN_BYTES=\"512\" filename=\"system.img\" label=\"system\" "
	        "num_partition_sectors=\"1000\" physical_partition_number=\"0\" "
	        "sparse=\"true\" start_sector=\"100\"/>\n</data>\n");
	pt_write_random(fx->dir, "prog_firehose.mbn", 100, 1);
	pt_write_sparse(fx->dir, "system.img", 1);
	load_ok(fx, NULL);
	snprintf(path, sizeof(path), "%s/system.img", fx->dir);
	img = (uint8_t *)pt_read(path, &len);
	pt_write(fx->dir, "system.img", img, len - 100); /* truncated */
	assert_int_equal(load(fx, NULL), EDL_E_PKG_SPARSE);
	expect_error(fx, EDL_E_PKG_SPARSE, "rawprogram0.xml", 3,
	             "sparse image 'system.img': chunk 3 at offset");
	free(img);
}

/* Step digests are SHA-256 of exactly the written bytes, whole files use lanes on
 * two threads or one, with the same results as one-shot hashing. */
static void test_package_step_digests_cover_padded_bytes(void **state)
{
	struct fixture *fx = *state;
	struct edl_package_options opt;
	const size_t big = 9 * 1024 * 1024 + 123;
	uint8_t want[32];
	uint8_t *buf = malloc(big + 512);

	assert_non_null(buf);
	pt_write_str(fx->dir, "rawprogram0.xml",
	             "<?xml version=\"1.0\" ?>\n<data>\n"
	             "<program SECTOR_SIZE_IN_BYTES=\"512\" filename=\"big.img\" label=\"big\" "
	             "num_partition_sectors=\"0\" physical_partition_number=\"0\" "
	             "start_sector=\"100\"/>\n"
	             "<program SECTOR_SIZE_IN_BYTES=\"512\" filename=\"big.img\" label=\"slice\" "
	             "num_partition_sectors=\"8\" file_sector_offset=\"3\" "
	             "physical_partition_number=\"0\" start_sector=\"50000\"/>\n"
	             "<program SECTOR_SIZE_IN_BYTES=\"512\" filename=\"small.img\" label=\"small\" "
	             "num_partition_sectors=\"10\" physical_partition_number=\"0\" "
	             "start_sector=\"60000\"/>\n"
	             "<program SECTOR_SIZE_IN_BYTES=\"512\" filename=\"big2.img\" label=\"big2\" "
	             "num_partition_sectors=\"0\" physical_partition_number=\"0\" "
	             "start_sector=\"70000\"/>\n"
	             "</data>\n");
	pt_write_random(fx->dir, "prog_firehose.mbn", 100, 1);
	pt_write_random(fx->dir, "big.img", big, 42);
	pt_write_random(fx->dir, "small.img", 777, 43);
	pt_write_random(fx->dir, "big2.img", 5 * 1024 * 1024 + 7, 44);
	for (unsigned threads = 1; threads <= 4; threads++) {
		const struct edl_plan *plan;
		struct edl_package_file f;
		edl_package_options_init(&opt);
		opt.threads = threads;
		edl_package_free(fx->pkg);
		fx->pkg = NULL;
		assert_int_equal(pt_load(&fx->pkg, fx->dir, NULL, &opt, &fx->err), EDL_OK);
		plan = edl_package_plan(fx->pkg);
		for (size_t i = 0; i < plan->n_steps; i++) {
			const struct edl_plan_step *s = &plan->steps[i];
			uint64_t n = s->num_sectors * s->sector_size;
			if (s->kind != EDL_STEP_PROGRAM)
				continue;
			assert_true(s->verify);
			memset(buf, 0, big + 512);
			memcpy(buf, s->data, s->data_len);
			assert_true(n >= s->data_len && n - s->data_len < 512);
			pt_sha256(buf, n, want);
			assert_memory_equal(s->sha256, want, 32);
		}
		/* The slice: 8 sectors from byte 1536 of big.img. */
		for (size_t i = 0; i < plan->n_steps; i++) {
			if (strcmp(plan->steps[i].label, "slice") == 0) {
				assert_int_equal(plan->steps[i].file_offset, 1536);
				assert_int_equal(plan->steps[i].data_len, 4096);
			}
		}
		/* Whole-file digests equal one-shot OpenSSL. */
		for (size_t i = 0; i < edl_package_file_count(fx->pkg); i++) {
			edl_package_file(fx->pkg, i, &f);
			if (strcmp(f.path, "big.img") == 0) {
				uint8_t m[16];
				pt_random(buf, big, 42);
				pt_sha256(buf, big, want);
				pt_md5(buf, big, m);
				assert_true(f.hashed);
				assert_memory_equal(f.sha256, want, 32);
				assert_memory_equal(f.md5, m, 16);
			}
		}
	}
	free(buf);
}

/* The package's cache file in the fixture's cache directory. */
static void cache_file(struct fixture *fx, char *out, size_t cap)
{
	DIR *d = opendir(fx->cache);
	struct dirent *de;

	out[0] = '\0';
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "hashcache-", 10) == 0 &&
		    strstr(de->d_name, ".tmp") == NULL)
			snprintf(out, cap, "%s/%s", fx->cache, de->d_name);
	}
	closedir(d);
	assert_true(out[0] != '\0');
}

static const struct edl_plan_step *step_labelled(const struct edl_package *pkg, const char *label)
{
	const struct edl_plan *plan = edl_package_plan(pkg);

	for (size_t i = 0; i < plan->n_steps; i++) {
		if (plan->steps[i].kind == EDL_STEP_PROGRAM &&
		    strcmp(plan->steps[i].label, label) == 0)
			return &plan->steps[i];
	}
	return NULL;
}

static void test_package_hash_cache_serves_unchanged_and_rehashes_changed(void **state)
{
	struct fixture *fx = *state;
	struct edl_package_stats st;
	uint8_t boot[32], sys[32];
	char path[4096];
	size_t len;
	char *text;

	db410c_package(fx->dir);
	load_ok(fx, NULL);
	edl_package_stats(fx->pkg, &st);
	assert_int_equal(st.files_hashed, st.files);
	assert_int_equal(st.files_cached, 0);
	assert_true(st.cache_written);
	memcpy(boot, step_labelled(fx->pkg, "boot")->sha256, 32);
	memcpy(sys, step_labelled(fx->pkg, "system")->sha256, 32);

	/* Unchanged: nothing is read again, digests identical. */
	load_ok(fx, NULL);
	edl_package_stats(fx->pkg, &st);
	assert_int_equal(st.files_hashed, 0);
	assert_int_equal(st.files_cached, st.files);
	assert_false(st.cache_written);
	assert_memory_equal(step_labelled(fx->pkg, "boot")->sha256, boot, 32);
	assert_memory_equal(step_labelled(fx->pkg, "system")->sha256, sys, 32);
	assert_true(step_labelled(fx->pkg, "system")->verify);

	/* One file changed (same size, new mtime): only it is rehashed. */
	{
		struct stat sb;
		struct timespec ts[2];
		snprintf(path, sizeof(path), "%s/boot.img", fx->dir);
		assert_int_equal(stat(path, &sb), 0);
		pt_write_random(fx->dir, "boot.img", (size_t)sb.st_size, 999);
		ts[0] = sb.st_atim;
		ts[1] = sb.st_mtim;
		ts[1].tv_sec += 10;
		assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	}
	load_ok(fx, NULL);
	edl_package_stats(fx->pkg, &st);
	assert_int_equal(st.files_hashed, 1);
	assert_int_equal(st.files_cached, st.files - 1);
	assert_memory_not_equal(step_labelled(fx->pkg, "boot")->sha256, boot, 32);
	memcpy(boot, step_labelled(fx->pkg, "boot")->sha256, 32);

	/* A corrupt cache (one byte changed) is ignored as a whole and rewritten. */
	cache_file(fx, path, sizeof(path));
	text = pt_read(path, &len);
	assert_non_null(text);
	text[len / 2] = text[len / 2] == '0' ? '1' : '0';
	pt_write(fx->cache, strrchr(path, '/') + 1, text, len);
	load_ok(fx, NULL);
	edl_package_stats(fx->pkg, &st);
	assert_non_null(pt_find_diag(fx->pkg, EDL_DIAG_NOTE, "is corrupt (checksum differs)"));
	assert_int_equal(st.files_hashed, st.files);
	assert_true(st.cache_written);
	assert_memory_equal(step_labelled(fx->pkg, "boot")->sha256, boot, 32);

	/* Truncated: ignored too. */
	pt_write(fx->cache, strrchr(path, '/') + 1, text, len / 3);
	load_ok(fx, NULL);
	assert_non_null(pt_find_diag(fx->pkg, EDL_DIAG_NOTE, "truncated"));
	edl_package_stats(fx->pkg, &st);
	assert_int_equal(st.files_hashed, st.files);

	/* Garbage, and an empty file. */
	pt_write_random(fx->cache, strrchr(path, '/') + 1, 5000, 3);
	load_ok(fx, NULL);
	assert_non_null(pt_find_diag(fx->pkg, EDL_DIAG_NOTE, "hash cache ignored"));
	pt_write(fx->cache, strrchr(path, '/') + 1, "", 0);
	load_ok(fx, NULL);
	assert_non_null(pt_find_diag(fx->pkg, EDL_DIAG_NOTE, "hash cache ignored"));
	/* And after a rewrite, all from the cache again. */
	load_ok(fx, NULL);
	edl_package_stats(fx->pkg, &st);
	assert_int_equal(st.files_hashed, 0);
	free(text);
}

static void test_package_cache_never_written_inside_package(void **state)
{
	struct fixture *fx = *state;
	struct edl_package_options opt;
	char inside[4096], path[4096];

	write_one(fx, "boot.img", "64", "100");
	pt_write_random(fx->dir, "boot.img", 1000, 1);
	snprintf(inside, sizeof(inside), "%s/cache", fx->dir);
	edl_package_options_init(&opt);
	opt.dir = fx->dir;
	opt.cache_dir = inside;
	edl_package_free(fx->pkg);
	assert_int_equal(edl_package_load(&fx->pkg, &opt, &fx->err), EDL_OK);
	assert_non_null(pt_find_diag(fx->pkg, EDL_DIAG_WARNING, "is inside the package"));
	snprintf(path, sizeof(path), "%s/cache", fx->dir);
	assert_int_not_equal(access(path, F_OK), 0);

	/* A read-only package loads, its cache goes elsewhere. */
	assert_int_equal(chmod(fx->dir, 0555), 0);
	load_ok(fx, NULL);
	assert_true(fx->pkg->stats.cache_written);
	chmod(fx->dir, 0755);
}

static void test_package_finds_files_case_insensitively_with_warning(void **state)
{
	struct fixture *fx = *state;

	write_one(fx, "Images\\BOOT.IMG", "64", "100");
	pt_write_random(fx->dir, "images/boot.img", 1000, 1);
	load_ok(fx, NULL);
	assert_non_null(pt_find_diag(fx->pkg, EDL_DIAG_WARNING,
	                             "image 'Images/BOOT.IMG' found as 'images/boot.img'"));
	assert_string_equal(step_labelled(fx->pkg, "boot")->filename, "images/boot.img");
}

static void test_package_explicit_programmer_and_xml_list(void **state)
{
	struct fixture *fx = *state;
	struct edl_package_options opt;
	const char *raw[] = {"meta/a.xml", "meta/b.xml"};
	const char *patch[] = {"meta/p.xml"};

	pt_write_str(fx->dir, "meta/a.xml",
	             "<?xml version=\"1.0\" ?>\n<data>\n<program SECTOR_SIZE_IN_BYTES=\"512\" "
	             "filename=\"../img/a.bin\" label=\"a\" num_partition_sectors=\"8\" "
	             "physical_partition_number=\"0\" start_sector=\"10\"/>\n</data>\n");
	pt_write_str(fx->dir, "meta/b.xml",
	             "<?xml version=\"1.0\" ?>\n<data>\n<program SECTOR_SIZE_IN_BYTES=\"512\" "
	             "filename=\"../img/b.bin\" label=\"b\" num_partition_sectors=\"8\" "
	             "physical_partition_number=\"0\" start_sector=\"20\"/>\n</data>\n");
	pt_write_str(fx->dir, "meta/p.xml",
	             "<?xml version=\"1.0\" ?>\n<patches>\n<patch SECTOR_SIZE_IN_BYTES=\"512\" "
	             "byte_offset=\"0\" filename=\"DISK\" physical_partition_number=\"0\" "
	             "size_in_bytes=\"8\" start_sector=\"NUM_DISK_SECTORS-1.\" "
	             "value=\"NUM_DISK_SECTORS-34.\"/>\n</patches>\n");
	pt_write_random(fx->dir, "img/a.bin", 100, 1);
	pt_write_random(fx->dir, "img/b.bin", 200, 2);
	pt_write_random(fx->dir, "tools/loader.elf", 300, 3);
	edl_package_options_init(&opt);
	opt.rawprogram = raw;
	opt.n_rawprogram = 2;
	opt.patch = patch;
	opt.n_patch = 1;
	opt.programmer = "tools/loader.elf";
	opt.storage_set = true;
	opt.storage = EDL_STORAGE_EMMC;
	load_ok(fx, &opt);
	assert_int_equal(edl_package_layout(fx->pkg), EDL_LAYOUT_EXPLICIT);
	assert_false(edl_package_storage_inferred(fx->pkg));
	assert_string_equal(step_labelled(fx->pkg, "a")->filename, "img/a.bin");
	assert_string_equal(step_labelled(fx->pkg, "b")->filename, "img/b.bin");
	{
		size_t len;
		const uint8_t *p = edl_package_programmer_data(fx->pkg, &len);
		uint8_t want[300];
		pt_random(want, sizeof(want), 3);
		assert_int_equal(len, 300);
		assert_memory_equal(p, want, 300);
	}
	/* An absolute option path is fine when it lies inside the package. */
	{
		char real[4096], abs_prog[4200];
		assert_non_null(realpath(fx->dir, real));
		snprintf(abs_prog, sizeof(abs_prog), "%s/tools/loader.elf", real);
		opt.programmer = abs_prog;
		load_ok(fx, &opt);
		assert_string_equal(edl_package_programmer(fx->pkg), "tools/loader.elf");
		opt.programmer = "/etc/hostname";
		assert_int_equal(load(fx, &opt), EDL_E_PKG_ESCAPE);
		opt.programmer = "tools/loader.elf";
	}
	/* Without any rawprogram the error says how to name them. */
	opt.n_rawprogram = 0;
	opt.n_patch = 0;
	assert_int_equal(load(fx, &opt), EDL_E_PKG_MISSING);
	assert_non_null(strstr(fx->err.detail, "no rawprogram*.xml in the package"));
}

/* The package's report (text or JSON) as a string the caller frees. */
static char *report(const struct edl_package *pkg, bool json)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	if (json)
		edl_package_print_json(f, pkg);
	else
		edl_package_print_text(f, pkg);
	assert_int_equal(fclose(f), 0);
	return buf;
}

/* Inserts text before the closing </data> of dir/rel; returns the line the
 * text starts on. */
static unsigned insert_before_end(const char *dir, const char *rel, const char *text)
{
	char path[4096], *data, *end, *out;
	unsigned line = 1;
	size_t len, head;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	data = pt_read(path, &len);
	assert_non_null(data);
	end = strstr(data, "</data>");
	assert_non_null(end);
	head = (size_t)(end - data);
	for (size_t i = 0; i < head; i++)
		line += data[i] == '\n';
	out = malloc(len + strlen(text) + 1);
	assert_non_null(out);
	memcpy(out, data, head);
	memcpy(out + head, text, strlen(text));
	memcpy(out + head + strlen(text), end, len - head + 1);
	pt_write_str(dir, rel, out);
	free(out);
	free(data);
	return line;
}

/* RG500Q's vendor erase (xhikarishii/openwrt-ipq issue #3), written after every
 * other entry, and a second one to check that vendor steps keep file order. */
#define RG500Q_VENDOR_ERASE                                                    \
	"<erase a_rawdata_start_sector=\"6528\" b_rawdata_num_sector=\"640\" " \
	"c_project_name=\"RG500QEA_VH\" d_project_type=\"STD\" vendor=\"quectel\"/>"
#define RG500Q_VENDOR_JSON                                                      \
	"\"kind\":\"vendor\",\"element\":\"erase\",\"attributes\":{"            \
	"\"a_rawdata_start_sector\":\"6528\",\"b_rawdata_num_sector\":\"640\"," \
	"\"c_project_name\":\"RG500QEA_VH\",\"d_project_type\":\"STD\",\"vendor\":\"quectel\"}"

static void test_package_quectel_vendor_erase_is_a_verbatim_step(void **state)
{
	static const char *const want[][2] = {{"a_rawdata_start_sector", "6528"},
	                                      {"b_rawdata_num_sector", "640"},
	                                      {"c_project_name", "RG500QEA_VH"},
	                                      {"d_project_type", "STD"},
	                                      {"vendor", "quectel"}};
	const char *raw = "update/firehose/rawprogram_nand_p4K_b256K_update.xml";
	struct fixture *fx = *state;
	const struct edl_plan *plan;
	const struct edl_plan_step *s;
	char source[256], *text;
	unsigned line;
	size_t vendors = 0;

	quectel_package(fx->dir, "em12g-msft_rawprogram_nand_p4K_b256K_update.xml",
	                "rawprogram_nand_p4K_b256K_update.xml", "em12g-msft_patch_p4K_b256K.xml",
	                "patch_p4K_b256K.xml", 300);
	line = insert_before_end(fx->dir, raw,
	                         "  " RG500Q_VENDOR_ERASE "\n"
	                         "  <erase c_project_name=\"second\" vendor=\"quectel\"/>\n");
	pt_write_quectel_md5(fx->dir);
	load_ok(fx, NULL);
	plan = edl_package_plan(fx->pkg);
	assert_int_equal(plan->storage, EDL_STORAGE_NAND);
	assert_recoverable_order(plan, "update/sbl1.mbn");
	/* 24 steps of the sample plus the two vendor entries, nothing synthesized. */
	assert_int_equal(plan->n_steps, 26);

	/* Where QFirehose sends it: after the start-sector-0 (SBL) erase, before
	 * the other erases, whatever its file position. */
	assert_int_equal(plan->steps[0].kind, EDL_STEP_ERASE);
	assert_string_equal(plan->steps[0].start_sector, "0");
	s = &plan->steps[1];
	assert_int_equal(s->kind, EDL_STEP_VENDOR);
	assert_string_equal(s->element, "erase");
	assert_int_equal(s->n_vendor_attrs, 5);
	for (size_t i = 0; i < 5; i++) {
		assert_string_equal(s->vendor_attrs[2 * i], want[i][0]);
		assert_string_equal(s->vendor_attrs[2 * i + 1], want[i][1]);
	}
	snprintf(source, sizeof(source), "%s:%u", raw, line);
	assert_string_equal(s->source, source);
	/* Not a plain erase: no range, nothing made up, not the boot loader. */
	assert_int_equal(s->num_sectors, 0);
	assert_int_equal(s->sector_size, 0);
	assert_string_equal(s->start_sector, "");
	assert_false(s->synthesized);
	assert_false(s->bootloader);
	s = &plan->steps[2];
	assert_int_equal(s->kind, EDL_STEP_VENDOR);
	assert_int_equal(s->n_vendor_attrs, 2);
	assert_string_equal(s->vendor_attrs[1], "second");
	snprintf(source, sizeof(source), "%s:%u", raw, line + 1);
	assert_string_equal(s->source, source);
	assert_int_equal(plan->steps[3].kind, EDL_STEP_ERASE);
	assert_false(plan->steps[3].bootloader);
	for (size_t i = 0; i < plan->n_steps; i++)
		vendors += plan->steps[i].kind == EDL_STEP_VENDOR;
	assert_int_equal(vendors, 2);
	assert_non_null(
	        pt_find_diag(fx->pkg, EDL_DIAG_NOTE, "only a Quectel programmer understands it"));
	/* The geometry check skips it (it has no range to check). */
	assert_int_equal(edl_plan_resolve(plan, 0, 1u << 20, NULL, &fx->err), EDL_OK);

	/* package check: kind "vendor" with the element and attributes. */
	text = report(fx->pkg, false);
	snprintf(source, sizeof(source), "%s:%u", raw, line);
	assert_non_null(strstr(text, "   2   0 vendor "));
	assert_non_null(strstr(text, RG500Q_VENDOR_ERASE));
	assert_non_null(strstr(text, source));
	assert_non_null(strstr(text, "package is valid"));
	free(text);
	text = report(fx->pkg, true);
	assert_non_null(strstr(text, "{" RG500Q_VENDOR_JSON ",\"source\":\""));
	assert_non_null(strstr(text, "\"kind\":\"vendor\",\"element\":\"erase\",\"attributes\":"
	                             "{\"c_project_name\":\"second\",\"vendor\":\"quectel\"}"));
	free(text);
}

/* One small layout on each storage: a boot loader program with no erase in the
 * XML gets a synthesized erase on NAND only. */
static void test_package_boot_loader_erase_synthesized_only_on_nand(void **state)
{
	struct fixture *fx = *state;
	const struct {
		enum edl_storage_kind storage;
		const char *attrs; /* storage-specific attributes */
		unsigned sector;
	} cases[] = {
	        {EDL_STORAGE_NAND, "PAGES_PER_BLOCK=\"64\" ", 4096},
	        {EDL_STORAGE_EMMC, "", 512},
	        {EDL_STORAGE_UFS, "", 4096},
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const struct edl_plan *plan;
		const struct edl_plan_step *s;
		char xml[2048], *text;
		bool nand = cases[c].storage == EDL_STORAGE_NAND;

		snprintf(xml, sizeof(xml),
		         "<?xml version=\"1.0\" ?>\n<data>\n"
		         "<program %sSECTOR_SIZE_IN_BYTES=\"%u\" filename=\"sbl1.mbn\" "
		         "label=\"sbl\" "
		         "num_partition_sectors=\"640\" physical_partition_number=\"0\" "
		         "start_sector=\"0\"/>\n"
		         "<erase %sSECTOR_SIZE_IN_BYTES=\"%u\" label=\"tz\" "
		         "num_partition_sectors=\"128\" physical_partition_number=\"0\" "
		         "start_sector=\"640\"/>\n"
		         "<program %sSECTOR_SIZE_IN_BYTES=\"%u\" filename=\"tz.mbn\" label=\"tz\" "
		         "num_partition_sectors=\"128\" physical_partition_number=\"0\" "
		         "start_sector=\"640\"/>\n</data>\n",
		         cases[c].attrs, cases[c].sector, cases[c].attrs, cases[c].sector,
		         cases[c].attrs, cases[c].sector);
		pt_write_str(fx->dir, "rawprogram0.xml", xml);
		pt_write_random(fx->dir, "sbl1.mbn", 9000, 1);
		pt_write_random(fx->dir, "tz.mbn", 7000, 2);
		pt_write_random(fx->dir, "prog_firehose.mbn", 2000, 3);
		load_ok(fx, NULL);
		plan = edl_package_plan(fx->pkg);
		assert_int_equal(plan->storage, cases[c].storage);
		text = report(fx->pkg, false);
		s = &plan->steps[0];
		if (nand) {
			/* QFirehose: first erase and last program the SBL, on NAND. */
			assert_int_equal(plan->n_steps, 4);
			assert_int_equal(s->kind, EDL_STEP_ERASE);
			assert_true(s->synthesized);
			assert_true(s->bootloader);
			assert_int_equal(s->num_sectors, 640);
			assert_non_null(strstr(text, "   1   0 erase*+       0 "));
		} else {
			/* The XML's own tz erase stays; nothing is added; sbl goes last. */
			assert_int_equal(plan->n_steps, 4);
			assert_no_synthesized_erase(plan);
			assert_int_equal(s->kind, EDL_STEP_ERASE);
			assert_string_equal(s->label, "tz");
			assert_false(s->synthesized);
			assert_null(strstr(text, "erase*+"));
			assert_int_equal(plan->steps[3].kind, EDL_STEP_SET_BOOTABLE);
		}
		s = nand ? &plan->steps[3] : &plan->steps[2];
		assert_int_equal(s->kind, EDL_STEP_PROGRAM);
		assert_string_equal(s->label, "sbl");
		free(text);
	}
}

/* An erase without a range is refused, naming file and line, on any storage. */
static void test_package_erase_without_range_is_refused(void **state)
{
	struct fixture *fx = *state;
	const char *const erases[] = {
	        "<erase SECTOR_SIZE_IN_BYTES=\"512\" physical_partition_number=\"0\" "
	        "start_sector=\"0\"/>",
	        "<erase SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"0\" "
	        "physical_partition_number=\"0\" start_sector=\"34\"/>",
	        "<erase PAGES_PER_BLOCK=\"64\" SECTOR_SIZE_IN_BYTES=\"4096\" label=\"efs2\" "
	        "last_sector=\"1279\" num_partition_sectors=\"0\" physical_partition_number=\"0\" "
	        "start_sector=\"640\"/>",
	};

	for (size_t i = 0; i < sizeof(erases) / sizeof(erases[0]); i++) {
		char xml[1024];

		snprintf(xml, sizeof(xml),
		         "<?xml version=\"1.0\" ?>\n<data>\n"
		         "<program SECTOR_SIZE_IN_BYTES=\"512\" filename=\"a.img\" label=\"a\" "
		         "num_partition_sectors=\"0\" physical_partition_number=\"0\" "
		         "start_sector=\"2048\"/>\n%s\n</data>\n",
		         erases[i]);
		pt_write_str(fx->dir, "rawprogram0.xml", xml);
		pt_write_random(fx->dir, "a.img", 3000, 1);
		pt_write_random(fx->dir, "prog_firehose.mbn", 2000, 3);
		assert_int_equal(load(fx, NULL), EDL_E_PKG_PARSE);
		assert_non_null(strstr(fx->err.detail, "rawprogram0.xml:4: <erase> "));
		assert_non_null(strstr(fx->err.detail, "an erase without a range erases the "
		                                       "whole LUN on real programmers"));
		expect_error(fx, EDL_E_PKG_PARSE, "rawprogram0.xml", 4,
		             "refused, an erase without");
		/* The program with num_partition_sectors="0" (as large as the image)
		 * is fine; only the erase is refused. */
		assert_int_equal(edl_package_error_count(fx->pkg), 1);
	}
}

/* Every rawprogram sample (with its patch file) still loads and plans cleanly,
 * named explicitly where its layout puts it. */
static void test_package_every_sample_plans(void **state)
{
	struct fixture *fx = *state;
	const struct {
		const char *raw, *patch, *dir;
		enum edl_storage_kind storage;
		size_t steps;
	} samples[] = {
	        {"eg25g-biktorgj_rawprogram_nand_p2K_b128K_update.xml",
	         "eg25g-biktorgj_patch_p2K_b128K.xml", "update/firehose/", EDL_STORAGE_NAND, 22},
	        {"em12g-msft_rawprogram_nand_p4K_b256K_update.xml",
	         "em12g-msft_patch_p4K_b256K.xml", "update/firehose/", EDL_STORAGE_NAND, 24},
	        {"db410c-ptool_rawprogram0.xml", "db410c-ptool_patch0.xml", "", EDL_STORAGE_EMMC,
	         0},
	};

	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		char raw[256], patch[256];
		const char *rawlist[] = {raw};
		const char *patchlist[] = {patch};
		struct edl_package_options opt;
		const struct edl_plan *plan;

		pt_rmtree(fx->dir);
		assert_int_equal(mkdir(fx->dir, 0700), 0);
		snprintf(raw, sizeof(raw), "%srawprogram0.xml", samples[i].dir);
		snprintf(patch, sizeof(patch), "%spatch0.xml", samples[i].dir);
		pt_copy_sample(fx->dir, raw, samples[i].raw);
		pt_copy_sample(fx->dir, patch, samples[i].patch);
		pt_make_images(fx->dir, raw, 20 * 1024, (uint32_t)i + 7);
		pt_write_random(fx->dir, "prog_firehose.mbn", 2000, 3);
		edl_package_options_init(&opt);
		opt.programmer = "prog_firehose.mbn";
		opt.rawprogram = rawlist;
		opt.n_rawprogram = 1;
		opt.patch = patchlist;
		opt.n_patch = 1;
		load_ok(fx, &opt);
		plan = edl_package_plan(fx->pkg);
		assert_int_equal(plan->storage, samples[i].storage);
		if (samples[i].steps != 0)
			assert_int_equal(plan->n_steps, samples[i].steps);
		if (plan->storage != EDL_STORAGE_NAND)
			assert_no_synthesized_erase(plan);
		for (size_t k = 0; k < plan->n_steps; k++) {
			const struct edl_plan_step *st = &plan->steps[k];
			assert_int_not_equal(st->kind, EDL_STEP_VENDOR);
			if (st->kind != EDL_STEP_SET_BOOTABLE)
				assert_true(strncmp(st->source, raw, strlen(raw)) == 0 ||
				            strncmp(st->source, patch, strlen(patch)) == 0);
		}
	}
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
	        T(test_package_eg25g_quectel_layout_plans_sbl_erase_first_program_last),
	        T(test_package_em12g_layout_plans_sbl_erase_first_program_last),
	        T(test_package_db410c_board_layout_plans_patches_and_bootable),
	        T(test_package_ufs_luns_infer_storage_and_bootable_lun),
	        T(test_package_choice_is_never_by_directory_order),
	        T(test_package_missing_image_is_an_error),
	        T(test_package_image_larger_than_partition_is_an_error),
	        T(test_package_paths_escaping_the_root_are_errors),
	        T(test_package_overlapping_writes_are_an_error),
	        T(test_package_overlap_of_expression_starts_found_with_geometry),
	        T(test_package_malformed_number_is_an_error),
	        T(test_package_patches_the_plan_cannot_apply_are_errors),
	        T(test_package_manifest_mismatch_names_file_and_both_hashes),
	        T(test_package_malformed_sparse_image_is_an_error),
	        T(test_package_step_digests_cover_padded_bytes),
	        T(test_package_hash_cache_serves_unchanged_and_rehashes_changed),
	        T(test_package_cache_never_written_inside_package),
	        T(test_package_finds_files_case_insensitively_with_warning),
	        T(test_package_explicit_programmer_and_xml_list),
	        T(test_package_quectel_vendor_erase_is_a_verbatim_step),
	        T(test_package_boot_loader_erase_synthesized_only_on_nand),
	        T(test_package_erase_without_range_is_refused),
	        T(test_package_every_sample_plans),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
