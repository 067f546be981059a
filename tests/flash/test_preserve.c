/*
 * Issue 15, preserving a unit's own data: the partition-table parsers
 * (src/flash/gpt.c) on good, damaged and hostile tables, and the flash job's
 * preserve and write-back stages (src/flash/preserve.c) over the in-memory link
 * against an emulated unit seeded with calibration data (src/target/cal_seed.c).
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
#include <sys/stat.h>
#include <unistd.h>

#include "edlstation/cal_seed.h"
#include "edlstation/elf_image.h"
#include "edlstation/expr.h"
#include "edlstation/flash.h"
#include "edlstation/memlink.h"
#include "edlstation/ptable.h"
#include "edlstation/target.h"

/* ---- a GPT built here ---- */

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

struct gpt {
	uint8_t header[512];
	uint8_t entries[128 * 128];
};

static void gpt_seal(struct gpt *g)
{
	put32(g->header + 88, edl_crc32(0, g->entries, sizeof(g->entries)));
	put32(g->header + 16, 0);
	put32(g->header + 16, edl_crc32(0, g->header, 92));
}

/* A primary GPT at LBA 1 (entries at LBA 2) of a disk of 1 Mi 512-byte
 * sectors with "modemst1" at 2048..2559 and "fsg" at 3072..3583. */
static void gpt_build(struct gpt *g)
{
	memset(g, 0, sizeof(*g));
	memcpy(g->header, "EFI PART", 8);
	put32(g->header + 8, 0x10000);
	put32(g->header + 12, 92);
	put64(g->header + 24, 1);
	put64(g->header + 32, (1u << 20) - 1);
	put64(g->header + 40, 34);
	put64(g->header + 48, (1u << 20) - 34);
	put64(g->header + 72, 2);
	put32(g->header + 80, 128);
	put32(g->header + 84, 128);
	static const char *const names[] = {"modemst1", "fsg"};
	static const uint64_t first[] = {2048, 3072};
	for (int i = 0; i < 2; i++) {
		uint8_t *e = g->entries + i * 128;
		e[0] = 0xa5; /* type GUID not zero */
		put64(e + 32, first[i]);
		put64(e + 40, first[i] + 511);
		for (size_t k = 0; names[i][k]; k++)
			e[56 + 2 * k] = (uint8_t)names[i][k];
	}
	gpt_seal(g);
}

static void test_gpt_parses_a_good_table(void **state)
{
	struct gpt g;
	struct edl_gpt_header h;
	struct edl_ptable_entry e[8];
	size_t n = 0;
	char why[256];

	(void)state;
	gpt_build(&g);
	assert_true(edl_gpt_parse_header(g.header, 512, 1, &h, why, sizeof(why)));
	assert_int_equal(h.entries_lba, 2);
	assert_int_equal(edl_gpt_entries_sectors(&h, 512), 32);
	assert_true(edl_gpt_parse_entries(&h, g.entries, sizeof(g.entries), e, 8, &n, why,
	                                  sizeof(why)));
	assert_int_equal(n, 2);
	const struct edl_ptable_entry *m = edl_ptable_find(e, n, "MODEMST1");
	assert_non_null(m);
	assert_int_equal(m->first, 2048);
	assert_int_equal(m->last, 2559);
	assert_null(edl_ptable_find(e, n, "persist"));
}

static void test_gpt_refuses_bad_crcs(void **state)
{
	struct gpt g;
	struct edl_gpt_header h;
	struct edl_ptable_entry e[8];
	size_t n = 0;
	char why[256];

	(void)state;
	gpt_build(&g);
	g.header[40] ^= 1; /* first usable LBA changed after the CRC */
	assert_false(edl_gpt_parse_header(g.header, 512, 1, &h, why, sizeof(why)));
	assert_non_null(strstr(why, "CRC"));
	gpt_build(&g);
	g.entries[32] ^= 1; /* an entry changed after the array's CRC */
	assert_true(edl_gpt_parse_header(g.header, 512, 1, &h, why, sizeof(why)));
	assert_false(edl_gpt_parse_entries(&h, g.entries, sizeof(g.entries), e, 8, &n, why,
	                                   sizeof(why)));
	assert_non_null(strstr(why, "CRC"));
	memset(g.header, 0, 8);
	assert_false(edl_gpt_parse_header(g.header, 512, 1, &h, why, sizeof(why)));
	assert_non_null(strstr(why, "signature"));
}

/* Each hostile field, CRCs recomputed so that only the field's check can refuse it. */
static void test_gpt_refuses_hostile_sizes(void **state)
{
	static const struct {
		size_t off;
		int width;
		uint64_t value;
		const char *why;
	} cases[] = {
	        {12, 4, 4096, "claims 4096 bytes"},             /* header size */
	        {24, 8, 7, "says it is at LBA 7"},              /* MyLBA */
	        {80, 4, 0x7fffffff, "entries"},                 /* entry count */
	        {80, 4, 0, "entries"},                          /* no entries */
	        {84, 4, 64, "entry size 64"},                   /* entry size */
	        {84, 4, 132, "entry size 132"},                 /* not a multiple of 8 */
	        {72, 8, 1, "overlaps the header"},              /* array on the header */
	        {72, 8, UINT64_MAX - 3, "overlaps the header"}, /* array wraps */
	        {40, 8, UINT64_MAX, "after last usable"},       /* first usable > last */
	};
	struct gpt g;
	struct edl_gpt_header h;
	char why[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		gpt_build(&g);
		if (cases[i].width == 4)
			put32(g.header + cases[i].off, (uint32_t)cases[i].value);
		else
			put64(g.header + cases[i].off, cases[i].value);
		if (cases[i].off == 12)
			put32(g.header + 16,
			      0); /* a header size over 512 is refused before its CRC */
		else
			gpt_seal(&g);
		why[0] = '\0';
		assert_false(edl_gpt_parse_header(g.header, 512, 1, &h, why, sizeof(why)));
		if (strstr(why, cases[i].why) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i, why, cases[i].why);
	}
	/* More than 1024 entries, however small. */
	gpt_build(&g);
	put32(g.header + 84, 512);
	put32(g.header + 80, 1025);
	gpt_seal(&g);
	assert_false(edl_gpt_parse_header(g.header, 512, 1, &h, why, sizeof(why)));
}

static void test_gpt_refuses_entries_outside_the_disk(void **state)
{
	struct gpt g;
	struct edl_gpt_header h;
	struct edl_ptable_entry e[1];
	size_t n = 0;
	char why[256];

	(void)state;
	gpt_build(&g);
	put64(g.entries + 40, UINT64_MAX); /* modemst1 claims the whole address space */
	gpt_seal(&g);
	assert_true(edl_gpt_parse_header(g.header, 512, 1, &h, why, sizeof(why)));
	assert_false(edl_gpt_parse_entries(&h, g.entries, sizeof(g.entries), e, 1, &n, why,
	                                   sizeof(why)));
	assert_non_null(strstr(why, "outside"));
	gpt_build(&g);
	put64(g.entries + 40, 100); /* last < first */
	gpt_seal(&g);
	assert_true(edl_gpt_parse_header(g.header, 512, 1, &h, why, sizeof(why)));
	assert_false(edl_gpt_parse_entries(&h, g.entries, sizeof(g.entries), e, 1, &n, why,
	                                   sizeof(why)));
	/* More partitions than the caller keeps: refused, not cut. */
	gpt_build(&g);
	assert_true(edl_gpt_parse_header(g.header, 512, 1, &h, why, sizeof(why)));
	assert_false(edl_gpt_parse_entries(&h, g.entries, sizeof(g.entries), e, 1, &n, why,
	                                   sizeof(why)));
	/* An array shorter than the header says. */
	assert_false(edl_gpt_parse_entries(&h, g.entries, 1000, e, 1, &n, why, sizeof(why)));
}

static void test_gpt_backup_header_is_taken_where_it_says_it_is(void **state)
{
	struct gpt g;
	struct edl_gpt_header h;
	char why[256];

	(void)state;
	gpt_build(&g);
	put64(g.header + 24, (1u << 20) - 1);
	put64(g.header + 32, 1);
	put64(g.header + 72, (1u << 20) - 33);
	gpt_seal(&g);
	assert_false(edl_gpt_parse_header(g.header, 512, 1, &h, why, sizeof(why)));
	assert_true(edl_gpt_parse_header(g.header, 512, UINT64_MAX, &h, why, sizeof(why)));
	assert_int_equal(h.my_lba, (1u << 20) - 1);
}

/* ---- MIBIB ---- */

static void test_mibib_parses_the_table_and_drops_the_prefix(void **state)
{
	struct edl_cal_nand_part parts[] = {
	        {"0:SBL", 0, 10}, {"0:MIBIB", 10, 2}, {"0:MODEMST1", 12, 1}};
	uint8_t pages[2 * 4096];
	struct edl_ptable_entry e[8];
	size_t n = 0;
	char why[256];

	(void)state;
	assert_int_equal(edl_cal_mibib_build(parts, 3, 4096, pages), EDL_OK);
	assert_int_equal(edl_mibib_classify(pages, 4096), EDL_MIBIB_HEADER);
	assert_int_equal(edl_mibib_classify(pages + 4096, 4096), EDL_MIBIB_TABLE);
	assert_true(edl_mibib_parse(pages + 4096, 4096, 64, e, 8, &n, why, sizeof(why)));
	assert_int_equal(n, 3);
	const struct edl_ptable_entry *m = edl_ptable_find(e, n, "modemst1");
	assert_non_null(m);
	assert_int_equal(m->first, 12 * 64);
	assert_int_equal(m->last, 13 * 64 - 1);
	assert_false(edl_mibib_parse(pages, 4096, 64, e, 8, &n, why, sizeof(why)));
	assert_int_equal(edl_mibib_classify(pages, 4), EDL_MIBIB_NONE);
}

static void test_mibib_refuses_hostile_tables(void **state)
{
	struct edl_cal_nand_part parts[] = {{"0:FSG", 12, 1}};
	uint8_t pages[2 * 2048];
	uint8_t *t = pages + 2048;
	struct edl_ptable_entry e[8];
	size_t n = 0;
	char why[256];

	(void)state;
	assert_int_equal(edl_cal_mibib_build(parts, 1, 2048, pages), EDL_OK);
	put32(t + 12, 129); /* more than v4's 128 */
	assert_false(edl_mibib_parse(t, 2048, 64, e, 8, &n, why, sizeof(why)));
	put32(t + 12, 100); /* within v4, beyond the page */
	assert_false(edl_mibib_parse(t, 2048, 64, e, 8, &n, why, sizeof(why)));
	put32(t + 12, 1);
	put32(t + 8, 9); /* unknown version */
	assert_false(edl_mibib_parse(t, 2048, 64, e, 8, &n, why, sizeof(why)));
	assert_non_null(strstr(why, "version 9"));
	put32(t + 8, 4);
	put32(t + 16 + 20, 0); /* zero blocks */
	assert_false(edl_mibib_parse(t, 2048, 64, e, 8, &n, why, sizeof(why)));
	put32(t + 16 + 20, 1);
	put32(t + 16 + 16, 0xffffffffu); /* past 32-bit blocks */
	assert_false(edl_mibib_parse(t, 2048, 64, e, 8, &n, why, sizeof(why)));
	put32(t + 16 + 16, 12);
	assert_false(edl_mibib_parse(t, 2048, 0, e, 8, &n, why, sizeof(why)));
	assert_true(edl_mibib_parse(t, 2048, 64, e, 8, &n, why, sizeof(why)));
}

/* ---- the job's stages over the in-memory link ---- */

struct pv_rig {
	char dir[64], archive[96], storage[96];
	uint8_t *programmer;
	size_t programmer_len;
	struct edl_sahara_image image;
	struct edl_plan plan;
	struct edl_plan_step step;
	uint8_t *data;
	struct edl_target_config tcfg;
	struct edl_flash_options fopt;
	struct edl_target *target;
	struct edl_flash_job *job;
	const char *labels[3];
	unsigned preserved, restored, warnings;
	char warning[1024];
	char restored_labels[128];
};

static void pv_event(const struct edl_flash_event *ev, void *data)
{
	struct pv_rig *r = data;

	if (ev->kind == EDL_FLASH_EV_PRESERVED)
		r->preserved++;
	if (ev->kind == EDL_FLASH_EV_RESTORED) {
		r->restored++;
		strncat(r->restored_labels, ev->label,
		        sizeof(r->restored_labels) - strlen(r->restored_labels) - 2);
		strcat(r->restored_labels, " ");
	}
	if (ev->kind == EDL_FLASH_EV_WARNING) {
		r->warnings++;
		strncat(r->warning, ev->text, sizeof(r->warning) - strlen(r->warning) - 2);
		strcat(r->warning, "\n");
	}
}

/* An eMMC unit seeded with calibration data, and a plan that programs random
 * bytes over modemst1 only; modemst1, fsg and persist preserved. */
static void pv_init(struct pv_rig *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->dir, sizeof(r->dir), "/tmp/edl-test-preserve.XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	snprintf(r->archive, sizeof(r->archive), "%s/archive", r->dir);
	snprintf(r->storage, sizeof(r->storage), "%s/unit", r->dir);
	assert_int_equal(mkdir(r->storage, 0755), 0);
	assert_int_equal(edl_elf_make_programmer(&r->programmer, &r->programmer_len, 64 * 1024, 5),
	                 EDL_OK);
	r->image.id = 0x0d;
	r->image.data = r->programmer;
	r->image.len = r->programmer_len;
	r->data = malloc(EDL_CAL_BLOCK_BYTES);
	assert_non_null(r->data);
	for (size_t i = 0; i < EDL_CAL_BLOCK_BYTES; i++)
		r->data[i] = (uint8_t)(i * 7 + 3);
	r->step.kind = EDL_STEP_PROGRAM;
	r->step.sector_size = 512;
	snprintf(r->step.start_sector, sizeof(r->step.start_sector), "%u",
	         EDL_CAL_REGION_BYTE / 512);
	r->step.num_sectors = EDL_CAL_BLOCK_BYTES / 512;
	snprintf(r->step.label, sizeof(r->step.label), "modemst1");
	snprintf(r->step.filename, sizeof(r->step.filename), "modemst1.bin");
	r->step.data = r->data;
	r->step.data_len = EDL_CAL_BLOCK_BYTES;
	r->plan.storage = EDL_STORAGE_EMMC;
	r->plan.steps = &r->step;
	r->plan.n_steps = 1;
	r->plan.n_luns = 1;
	r->plan.total_bytes = EDL_CAL_BLOCK_BYTES;
	edl_target_config_default(&r->tcfg, EDL_STORAGE_EMMC);
	r->tcfg.pbl.serial = 0x1a2b3c4d;
	r->tcfg.storage.sectors = 1u << 20; /* 512 MiB */
	r->tcfg.storage.dir = r->storage;
	r->tcfg.seed_cal = true;
	edl_flash_options_default(&r->fopt);
	r->fopt.sahara.images = &r->image;
	r->fopt.sahara.n_images = 1;
	r->fopt.plan = &r->plan;
	r->labels[0] = "modemst1";
	r->labels[1] = "fsg";
	r->labels[2] = "persist";
	r->fopt.preserve_labels = r->labels;
	r->fopt.n_preserve = 3;
	r->fopt.archive_dir = r->archive;
	r->fopt.archive_run = "7";
	r->fopt.on_event = pv_event;
	r->fopt.event_data = r;
}

static void pv_run(struct pv_rig *r)
{
	struct edl_memlink_options lopt;
	struct edl_error err;

	edl_memlink_options_default(&lopt);
	if (r->target == NULL)
		assert_int_equal(edl_target_new(&r->target, &r->tcfg, &err), EDL_OK);
	assert_int_equal(edl_flash_job_new(&r->job, &r->fopt), EDL_OK);
	assert_int_equal(edl_memlink_run(r->job, r->target, &lopt, NULL, &err), EDL_OK);
}

static void pv_free(struct pv_rig *r)
{
	char cmd[160];

	edl_flash_job_free(r->job);
	edl_target_free(r->target);
	free(r->programmer);
	free(r->data);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->dir);
	assert_int_equal(system(cmd), 0);
}

/* The unit's `label` equals its seed. */
static void assert_seeded(struct pv_rig *r, const char *label)
{
	size_t i = 0;
	while (strcmp(edl_cal_layout[i].label, label) != 0)
		i++;
	uint64_t n = (uint64_t)edl_cal_layout[i].blocks * EDL_CAL_BLOCK_BYTES;
	uint8_t *got = malloc(n), *want = malloc(n);
	assert_int_equal(
	        edl_target_read_storage(r->target, 0,
	                                (EDL_CAL_REGION_BYTE +
	                                 (uint64_t)edl_cal_layout[i].block * EDL_CAL_BLOCK_BYTES) /
	                                        512,
	                                n / 512, got),
	        EDL_OK);
	edl_cal_seed_bytes(0x1a2b3c4d, label, 0, want, n);
	if (memcmp(got, want, n) != 0)
		fail_msg("%s differs from its seed", label);
	/* The archive holds the same bytes. */
	char path[256];
	snprintf(path, sizeof(path), "%s/1a2b3c4d/7/%s.bin", r->archive, label);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fread(got, 1, n, f), n);
	fclose(f);
	assert_memory_equal(got, want, n);
	free(got);
	free(want);
}

static void test_preserve_writes_back_only_what_the_plan_touched(void **state)
{
	struct pv_rig r;

	(void)state;
	pv_init(&r);
	pv_run(&r);
	assert_int_equal(edl_flash_job_status(r.job), EDL_ENGINE_DONE);
	assert_int_equal(r.preserved, 3);
	assert_int_equal(r.restored, 1);
	assert_string_equal(r.restored_labels, "modemst1 ");
	assert_seeded(&r, "modemst1");
	assert_seeded(&r, "fsg");
	assert_seeded(&r, "persist");
	pv_free(&r);
}

static void test_preserve_reads_the_backup_gpt_when_the_primary_is_damaged(void **state)
{
	struct pv_rig r;
	struct edl_error err;
	char img[128];
	static const uint8_t junk[16] = "not a GPT header";

	(void)state;
	pv_init(&r);
	assert_int_equal(edl_target_new(&r.target, &r.tcfg, &err), EDL_OK);
	snprintf(img, sizeof(img), "%s/lun0.img", r.storage);
	int fd = open(img, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, junk, sizeof(junk), 512 + 40), (ssize_t)sizeof(junk));
	close(fd);
	pv_run(&r);
	assert_int_equal(edl_flash_job_status(r.job), EDL_ENGINE_DONE);
	assert_non_null(strstr(r.warning, "reading the backup GPT"));
	assert_non_null(strstr(r.warning, "CRC"));
	assert_int_equal(r.preserved, 3);
	assert_seeded(&r, "modemst1");
	pv_free(&r);
}

static void test_preserve_read_fault_fails_before_a_write(void **state)
{
	struct pv_rig r;

	(void)state;
	pv_init(&r);
	r.tcfg.faults.preserve_read = true;
	pv_run(&r);
	assert_int_equal(edl_flash_job_status(r.job), EDL_ENGINE_FAILED);
	assert_int_equal(edl_flash_job_error(r.job)->code, EDL_E_PRESERVE_READ);
	assert_int_equal(edl_flash_job_failed_stage(r.job), EDL_STAGE_PRESERVE);
	assert_non_null(strstr(edl_flash_job_error(r.job)->detail, "'modemst1'"));
	assert_non_null(strstr(edl_flash_job_error(r.job)->detail, r.archive));
	assert_int_equal(edl_target_commands_seen(r.target, "program"), 0);
	assert_int_equal(edl_target_commands_seen(r.target, "erase"), 0);
	pv_free(&r);
}

/* The write-back's program is NAKed: the archive stays, the message says how
 * to restore it. */
static void test_preserve_failed_write_back_names_the_restore(void **state)
{
	struct pv_rig r;

	(void)state;
	pv_init(&r);
	snprintf(r.tcfg.faults.nak_command, sizeof(r.tcfg.faults.nak_command), "program");
	r.tcfg.faults.nak_nth = 2; /* the plan's is the first */
	pv_run(&r);
	assert_int_equal(edl_flash_job_status(r.job), EDL_ENGINE_FAILED);
	assert_int_equal(edl_flash_job_error(r.job)->code, EDL_E_PRESERVE_WRITE);
	assert_int_equal(edl_flash_job_failed_stage(r.job), EDL_STAGE_WRITE_BACK);
	const char *d = edl_flash_job_error(r.job)->detail;
	assert_non_null(strstr(d, "'modemst1' was not written back"));
	assert_non_null(strstr(d, "edlstation restore 1a2b3c4d --run 7"));
	char path[256];
	snprintf(path, sizeof(path), "%s/1a2b3c4d/7/modemst1.bin", r.archive);
	assert_int_equal(access(path, R_OK), 0);
	pv_free(&r);
}

/* An archive that cannot be written stops the unit before any write. */
static void test_preserve_unwritable_archive_fails_before_a_write(void **state)
{
	struct pv_rig r;
	char file[128];

	(void)state;
	pv_init(&r);
	snprintf(file, sizeof(file), "%s/a-file", r.dir);
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(r.archive, sizeof(r.archive), "%s/a-file/archive", r.dir);
	pv_run(&r);
	assert_int_equal(edl_flash_job_status(r.job), EDL_ENGINE_FAILED);
	assert_int_equal(edl_flash_job_error(r.job)->code, EDL_E_ARCHIVE);
	assert_non_null(strstr(edl_flash_job_error(r.job)->detail, "a-file"));
	assert_non_null(strstr(edl_flash_job_error(r.job)->detail, "NOT flashed"));
	assert_int_equal(edl_target_commands_seen(r.target, "program"), 0);
	pv_free(&r);
}

static void test_preserve_needs_a_programmer_that_reads(void **state)
{
	static const char *const functions[] = {"configure", "program",        "erase", "nop",
	                                        "power",     "getstorageinfo", NULL};
	struct pv_rig r;

	(void)state;
	pv_init(&r);
	r.tcfg.prog.functions = functions;
	pv_run(&r);
	assert_int_equal(edl_flash_job_status(r.job), EDL_ENGINE_FAILED);
	assert_int_equal(edl_flash_job_error(r.job)->code, EDL_E_PRESERVE_READ);
	assert_int_equal(edl_flash_job_failed_stage(r.job), EDL_STAGE_PRESERVE);
	assert_non_null(strstr(edl_flash_job_error(r.job)->detail, "does not list read"));
	assert_int_equal(edl_target_commands_seen(r.target, "program"), 0);
	pv_free(&r);
}

/* The unit's table and the package disagree: the unit's place wins, warned. */
static void test_preserve_prefers_the_units_table_over_the_package(void **state)
{
	struct pv_rig r;

	(void)state;
	pv_init(&r);
	snprintf(r.step.start_sector, sizeof(r.step.start_sector), "%u",
	         EDL_CAL_REGION_BYTE / 512 + 8);
	pv_run(&r);
	assert_int_equal(edl_flash_job_status(r.job), EDL_ENGINE_DONE);
	assert_non_null(strstr(r.warning, "the unit's place is preserved"));
	assert_int_equal(r.restored, 1);
	assert_seeded(&r, "modemst1");
	pv_free(&r);
}

static void test_preserve_options_are_checked(void **state)
{
	struct pv_rig r;
	struct edl_flash_job *job = NULL;

	(void)state;
	pv_init(&r);
	r.fopt.archive_dir = NULL;
	assert_int_equal(edl_flash_job_new(&job, &r.fopt), EDL_E_INVAL);
	r.fopt.archive_dir = r.archive;
	r.fopt.plan = NULL;
	assert_int_equal(edl_flash_job_new(&job, &r.fopt), EDL_E_INVAL);
	pv_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_gpt_parses_a_good_table),
	        cmocka_unit_test(test_gpt_refuses_bad_crcs),
	        cmocka_unit_test(test_gpt_refuses_hostile_sizes),
	        cmocka_unit_test(test_gpt_refuses_entries_outside_the_disk),
	        cmocka_unit_test(test_gpt_backup_header_is_taken_where_it_says_it_is),
	        cmocka_unit_test(test_mibib_parses_the_table_and_drops_the_prefix),
	        cmocka_unit_test(test_mibib_refuses_hostile_tables),
	        cmocka_unit_test(test_preserve_writes_back_only_what_the_plan_touched),
	        cmocka_unit_test(test_preserve_reads_the_backup_gpt_when_the_primary_is_damaged),
	        cmocka_unit_test(test_preserve_read_fault_fails_before_a_write),
	        cmocka_unit_test(test_preserve_prefers_the_units_table_over_the_package),
	        cmocka_unit_test(test_preserve_needs_a_programmer_that_reads),
	        cmocka_unit_test(test_preserve_unwritable_archive_fails_before_a_write),
	        cmocka_unit_test(test_preserve_failed_write_back_names_the_restore),
	        cmocka_unit_test(test_preserve_options_are_checked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
