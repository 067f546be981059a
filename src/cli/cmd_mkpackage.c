/*
 * `edlstation mkpackage DIR [--storage emmc|ufs|nand]`: writes a synthetic
 * firmware package. The default storage is UFS, as `edlstation emulate`'s, so
 * the first obvious pair of commands works. The demo, tests and benchmarks flash
 * it onto emulated units; nothing here is a real firmware. DIR must be empty or
 * absent unless --force (then files of the same names are replaced, others kept).
 *
 *  - nand: shaped like the field report's Quectel RM502Q update (SDX55, NAND
 *    4 KiB pages, 256 KiB blocks): update/firehose/prog_firehose_sdx55.mbn (a
 *    valid ELF programmer the emulated boot ROM accepts),
 *    update/firehose/rawprogram_nand_p4K_b256K_update.xml,
 *    update/firehose/patch_p4K_b256K.xml, images of seeded random bytes under
 *    update/, and md5.txt in Quectel's format.
 *  - emmc (512-byte sectors) / ufs (4096-byte sectors): a board layout as
 *    phones ship it, the same partitions at the same byte offsets:
 *    prog_firehose_KIND.elf, rawprogram0.xml + patch0.xml, images beside them,
 *    md5.txt; UFS puts the boot loader alone on LUN 1 (rawprogram1.xml,
 *    patch1.xml), the boot LUN of UFS boards (as tests/e2e/mkpkg.py does).
 *
 * --vendor-erase adds the Quectel vendor entry RG500Q packages carry, as
 * QFirehose sends it to an RG500Q-EA (xhikarishii/openwrt-ipq issue #3):
 * <erase a_rawdata_start_sector=".." b_rawdata_num_sector=".." c_project_name=
 * "RG500QEA_VH" d_project_type="STD" vendor="quectel"/>. Its range points at the
 * efs2 partition of this layout (the real one names 6528/640, the RG500Q's
 * rawdata, which this miniature layout has no room for). It is written after the
 * efs2 erase, so the plan's reordering (vendor entries right after the boot
 * loader erase, as QFirehose does) is exercised. Not verified that RM502Q
 * packages carry one; RG500Q ones do.
 */
#include "edlstation/cal_seed.h"
#include "edlstation/cli.h"
#include "edlstation/elf_image.h"
#include "edlstation/error.h"
#include "edlstation/storage.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PAGE 4096u
#define PAGES_PER_BLOCK 64u

struct partition {
	const char *label;
	const char *file;      /* under update/, NULL: erased only */
	uint32_t blocks;       /* partition size in 256 KiB blocks */
	uint32_t image_permil; /* image size as a share of the partition, per mille */
};

/* A modem's NAND layout in miniature; sizes scale with --size. */
static const struct partition layout[] = {
        {"sbl", "sbl1.mbn", 10, 300},
        {"mibib", "firehose/partition_complete_p4K_b256K.mbn", 10, 50},
        {"efs2", NULL, 12, 0},
        {"tz", "tz.mbn", 12, 600},
        {"rpm", "rpm.mbn", 4, 500},
        {"aboot", "appsboot.mbn", 4, 400},
        {"boot", "sdxprairie-boot.img", 40, 800},
        {"modem", "NON-HLOS.ubi", 160, 900},
        {"system", "sdxprairie-sysfs.ubi", 200, 850},
        {"usrdata", NULL, 40, 0},
};

static int mkdirs(const char *path)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	}
	if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

static int write_file(const char *path, const uint8_t *data, size_t len, uint8_t md5[16])
{
	FILE *f = fopen(path, "wb");
	unsigned int n = 16;

	if (f == NULL)
		return -1;
	if (len > 0 && fwrite(data, 1, len, f) != len) {
		fclose(f);
		return -1;
	}
	if (fclose(f) != 0)
		return -1;
	EVP_Digest(data, len, md5, &n, EVP_md5(), NULL);
	return 0;
}

static void fill_random(uint8_t *p, size_t n, uint32_t *state)
{
	uint32_t x = *state;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)(x >> 7);
	}
	*state = x;
}

/*
 * The partitions in the order they are laid out, each with its first 4 KiB
 * page. Without --rma: the layout scaled to --size, from page 0. With --rma
 * the calibration partitions sit where `emulate --cal` seeds them
 * (edlstation/cal_seed.h): on NAND sbl takes blocks 0-9 and mibib 10-11 (page
 * 0x280: where qdl looks for the MIBIB first), the calibration partitions
 * follow, then the rest; on eMMC/UFS LUN 0 keeps its first MiB for the unit's
 * GPT, the calibration partitions follow, then the rest.
 */
static size_t plan_layout(struct partition *plan, uint64_t *first_page, double scale, bool nand,
                          bool rma)
{
	static const char *const files[EDL_CAL_N] = {"modemst1.bin", "modemst2.bin", "fsg.bin",
	                                             "fsc.bin", "persist.img"};
	size_t n = 0;
	uint64_t page = 0;

	for (size_t i = 0; i < sizeof(layout) / sizeof(layout[0]); i++) {
		struct partition p = layout[i];
		uint32_t blocks = (uint32_t)(p.blocks * scale);
		p.blocks = blocks == 0 ? 1 : blocks;
		if (rma && nand && strcmp(p.label, "sbl") == 0)
			p.blocks = EDL_CAL_NAND_SBL_BLOCKS;
		if (rma && nand && strcmp(p.label, "mibib") == 0)
			p.blocks = EDL_CAL_NAND_MIBIB_BLOCKS;
		bool cal_here = rma && (nand ? strcmp(p.label, "efs2") == 0 : i == 0);
		if (cal_here) {
			if (!nand)
				page = EDL_CAL_REGION_BYTE / PAGE;
			for (size_t k = 0; k < EDL_CAL_N; k++) {
				plan[n] = (struct partition){edl_cal_layout[k].label, files[k],
				                             edl_cal_layout[k].blocks, 1000};
				first_page[n++] = page;
				page += (uint64_t)edl_cal_layout[k].blocks * PAGES_PER_BLOCK;
			}
		}
		plan[n] = p;
		first_page[n++] = page;
		page += (uint64_t)p.blocks * PAGES_PER_BLOCK;
	}
	return n;
}

/* --rma on NAND: the mibib image is the package's own MIBIB (MBN header page,
 * SMEM partition table v4), as real NAND packages' partition mbn is. */
static int mibib_image(const struct partition *plan, const uint64_t *first_page, size_t n,
                       uint8_t *buf, size_t len)
{
	struct edl_cal_nand_part parts[sizeof(layout) / sizeof(layout[0]) + EDL_CAL_N];
	char names[sizeof(parts) / sizeof(parts[0])][17];

	if (len < 2 * PAGE)
		return EDL_E_INVAL;
	for (size_t i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "0:%s", plan[i].label);
		for (char *c = names[i]; *c; c++)
			if (*c >= 'a' && *c <= 'z')
				*c = (char)(*c - 'a' + 'A');
		parts[i] = (struct edl_cal_nand_part){
		        names[i], (uint32_t)(first_page[i] / PAGES_PER_BLOCK), plan[i].blocks};
	}
	return edl_cal_mibib_build(parts, n, PAGE, buf);
}

struct manifest_line {
	char path[256]; /* Windows form, as Quectel writes it */
	uint8_t md5[16];
};

static void usage_line(FILE *f)
{
	fprintf(f, "usage: edlstation mkpackage DIR [--storage emmc|ufs|nand] [--size MIB] "
	           "[--seed N] [--vendor-erase] [--force]\n");
}

static void usage(FILE *f)
{
	usage_line(f);
	fprintf(f,
	        "  Writes a synthetic package into DIR (empty or absent): programmer,\n"
	        "  rawprogram/patch XML, images of seeded random bytes, md5.txt.\n"
	        "  --storage KIND    ufs (default, as edlstation emulate): board layout,\n"
	        "                    4096-byte sectors, boot loader on LUN 1; emmc: board\n"
	        "                    layout, 512-byte sectors; nand: RM502Q-style Quectel\n"
	        "                    layout (4 KiB pages, 256 KiB blocks)\n"
	        "  --size MIB        total partition space to lay out (default 32)\n"
	        "  --seed N          seed of the image bytes (default 1)\n"
	        "  --vendor-erase    add Quectel's vendor erase (<erase ... vendor=\"quectel\"/>,\n"
	        "                    as RG500Q packages have it; nand only)\n"
	        "  --rma             also program modemst1, modemst2, fsg, fsc and persist\n"
	        "                    where `emulate --cal` seeds them (eMMC/UFS: LUN 0 from\n"
	        "                    1 MiB, after the unit's GPT; NAND: blocks 12-17, after\n"
	        "                    sbl and a real MIBIB at block 10), the rest after them\n"
	        "  --force           write into a non-empty DIR (files of the same names are\n"
	        "                    replaced, others kept)\n");
}

/* A usage error: one line saying what is wrong, then the usage line; exit 2. */
static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "edlstation mkpackage: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	usage_line(stderr);
	return EDL_EXIT_USAGE;
}

/* 1: dir exists and holds something; 0: absent or empty; -1: not a directory
 * or unreadable (errno set). */
static int dir_not_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int found = 0;

	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			found = 1;
			break;
		}
	}
	closedir(d);
	return found;
}

struct lun_xml {
	char *text;
	size_t len;
	FILE *f; /* open_memstream over text; NULL when the LUN has no entry */
};

static int write_text(const char *path, const char *text, size_t len)
{
	uint8_t md5[16];

	return write_file(path, (const uint8_t *)text, len, md5);
}

int edl_cli_mkpackage(int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"size", required_argument, NULL, 's'},    {"seed", required_argument, NULL, 'r'},
	        {"storage", required_argument, NULL, 'S'}, {"vendor-erase", no_argument, NULL, 'v'},
	        {"rma", no_argument, NULL, 'R'},           {"force", no_argument, NULL, 'f'},
	        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
	};
	uint64_t size_mib = 32;
	uint32_t seed = 1;
	bool vendor_erase = false, force = false, rma = false;
	enum edl_storage_kind kind = EDL_STORAGE_UFS;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 's':
			errno = 0;
			size_mib = strtoull(optarg, &end, 10);
			if (errno || *end || size_mib < 8 || size_mib > 4096)
				return usage_error("--size wants 8..4096 MiB, got '%s'", optarg);
			break;
		case 'r':
			errno = 0;
			seed = (uint32_t)strtoul(optarg, &end, 0);
			if (errno || *end)
				return usage_error("--seed wants a number, got '%s'", optarg);
			break;
		case 'S':
			if (edl_storage_parse(optarg, &kind) != EDL_OK)
				return usage_error("--storage '%s' is not emmc, ufs or nand",
				                   optarg);
			break;
		case 'v':
			vendor_erase = true;
			break;
		case 'R':
			rma = true;
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			usage(stdout);
			return EDL_EXIT_OK;
		case ':':
			return usage_error("%s needs a value", argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind == argc)
		return usage_error("no output directory given%s", "");
	if (optind + 1 != argc)
		return usage_error("unexpected '%s' after the directory", argv[optind + 1]);
	if (vendor_erase && kind != EDL_STORAGE_NAND)
		return usage_error("--vendor-erase is a Quectel NAND entry: it needs --storage "
		                   "nand, not %s",
		                   edl_storage_name(kind));
	const char *dir = argv[optind];
	int full = dir_not_empty(dir);
	if (full < 0) {
		fprintf(stderr, "edlstation mkpackage: cannot use %s: %s\n", dir, strerror(errno));
		return EDL_EXIT_USAGE;
	}
	if (full > 0 && !force) {
		fprintf(stderr,
		        "edlstation mkpackage: %s is not empty: choose a new directory, empty it, "
		        "or pass --force to write into it\n",
		        dir);
		usage_line(stderr);
		return EDL_EXIT_USAGE;
	}

	const bool nand = kind == EDL_STORAGE_NAND;
	const uint32_t sector = kind == EDL_STORAGE_EMMC ? 512u : PAGE;
	const uint32_t per_page = PAGE / sector; /* sectors per 4 KiB of the layout */
	/* NAND files live under update/ and the XML in update/firehose/; a board
	 * package keeps everything at the root. */
	const char *img_dir = nand ? "update/" : "";
	char path[4096];
	struct manifest_line lines[sizeof(layout) / sizeof(layout[0]) + EDL_CAL_N + 4];
	size_t n_lines = 0;
	uint32_t total_blocks = 0;
	int rc = EDL_EXIT_FAILURE;
	FILE *raw = NULL, *patch = NULL, *md5 = NULL;
	struct lun_xml luns[2] = {{NULL, 0, NULL}, {NULL, 0, NULL}};
	uint8_t *buf = NULL;

	for (size_t i = 0; i < sizeof(layout) / sizeof(layout[0]); i++)
		total_blocks += layout[i].blocks;
	/* Scale so the layout spans size_mib; at least one block a partition. */
	double scale = (double)size_mib * 4.0 / total_blocks;

	snprintf(path, sizeof(path), nand ? "%s/update/firehose" : "%s", dir);
	if (mkdirs(path) != 0) {
		fprintf(stderr, "edlstation mkpackage: cannot create %s: %s\n", path,
		        strerror(errno));
		return EDL_EXIT_FAILURE;
	}

	/* The programmer: an ELF the emulated boot ROM loads segment by segment. */
	size_t prog_len = 0;
	if (edl_elf_make_programmer(&buf, &prog_len, 384 * 1024, seed) != EDL_OK) {
		fprintf(stderr, "edlstation mkpackage: cannot build the programmer\n");
		return EDL_EXIT_FAILURE;
	}
	if (nand) {
		snprintf(path, sizeof(path), "%s/update/firehose/prog_firehose_sdx55.mbn", dir);
		snprintf(lines[n_lines].path, sizeof(lines[n_lines].path),
		         "\\update\\firehose\\prog_firehose_sdx55.mbn");
	} else {
		snprintf(path, sizeof(path), "%s/prog_firehose_%s.elf", dir,
		         edl_storage_name(kind));
		snprintf(lines[n_lines].path, sizeof(lines[n_lines].path), "\\prog_firehose_%s.elf",
		         edl_storage_name(kind));
	}
	if (write_file(path, buf, prog_len, lines[n_lines].md5) != 0)
		goto io_error;
	n_lines++;
	free(buf);
	buf = NULL;

	if (nand) {
		snprintf(path, sizeof(path),
		         "%s/update/firehose/rawprogram_nand_p4K_b256K_update.xml", dir);
		raw = fopen(path, "w");
		if (raw == NULL)
			goto io_error;
		fprintf(raw, "<?xml version=\"1.0\" ?>\n<data>\n"
		             "  <!--NOTE: synthetic package written by edlstation mkpackage-->\n"
		             "  <!--BlockSize = 256 KB-->\n  <!--PageSize  = 4 KB-->\n");
	}

	uint64_t start = 0;
	uint64_t sbl_start = 0, sbl_pages = 0;
	uint32_t state = seed * 2654435761u + 1;
	struct partition plan[sizeof(layout) / sizeof(layout[0]) + EDL_CAL_N];
	uint64_t plan_start[sizeof(plan) / sizeof(plan[0])];
	size_t n_plan = plan_layout(plan, plan_start, scale, nand, rma);
	for (size_t i = 0; i < n_plan; i++) {
		const struct partition *p = &plan[i];
		uint32_t blocks = p->blocks;
		uint64_t pages = (uint64_t)blocks * PAGES_PER_BLOCK;
		start = plan_start[i];
		uint64_t last = start + pages - 1;

		if (nand)
			fprintf(raw,
			        "  <erase PAGES_PER_BLOCK=\"%u\" SECTOR_SIZE_IN_BYTES=\"%u\" "
			        "label=\"%s\" last_sector=\"%" PRIu64
			        "\" num_partition_sectors=\"%" PRIu64
			        "\" physical_partition_number=\"0\" start_sector=\"%" PRIu64
			        "\"/>\n",
			        PAGES_PER_BLOCK, PAGE, p->label, last, pages, start);
		if (vendor_erase && strcmp(p->label, "efs2") == 0)
			fprintf(raw,
			        "  <erase a_rawdata_start_sector=\"%" PRIu64
			        "\" b_rawdata_num_sector=\"%" PRIu64 "\" "
			        "c_project_name=\"RG500QEA_VH\" d_project_type=\"STD\" "
			        "vendor=\"quectel\"/>\n",
			        start, pages);
		if (p->file != NULL && (nand || strcmp(p->label, "mibib") != 0)) {
			/* (MIBIB, the NAND partition table, is not in a board package.)
			 * A board package keeps the base name at the root. */
			const char *base =
			        strrchr(p->file, '/') ? strrchr(p->file, '/') + 1 : p->file;
			const char *file = nand ? p->file : base;
			/* Ragged sizes: the last page needs padding. */
			size_t len = (size_t)(pages * PAGE / 1000 * p->image_permil) + 1234;
			if (len > pages * PAGE)
				len = (size_t)(pages * PAGE);
			buf = malloc(len);
			if (buf == NULL)
				goto io_error;
			fill_random(buf, len, &state);
			if (rma && nand && strcmp(p->label, "mibib") == 0 &&
			    mibib_image(plan, plan_start, n_plan, buf, len) != EDL_OK)
				goto io_error;
			snprintf(path, sizeof(path), "%s/%s%s", dir, img_dir, file);
			struct manifest_line *ml = &lines[n_lines++];
			snprintf(ml->path, sizeof(ml->path), "\\%s%s", img_dir, file);
			for (char *q = ml->path; *q; q++)
				if (*q == '/')
					*q = '\\';
			if (write_file(path, buf, len, ml->md5) != 0)
				goto io_error;
			free(buf);
			buf = NULL;
			if (!nand) {
				/* UFS: the boot loader alone at the start of its boot LUN 1. */
				bool boot = strcmp(p->label, "sbl") == 0;
				unsigned lun = boot && kind == EDL_STORAGE_UFS ? 1 : 0;
				struct lun_xml *x = &luns[lun];
				if (x->f == NULL) {
					x->f = open_memstream(&x->text, &x->len);
					if (x->f == NULL)
						goto io_error;
					fprintf(x->f,
					        "<?xml version=\"1.0\" ?>\n<data>\n"
					        "  <!--NOTE: synthetic %s board package written by "
					        "edlstation mkpackage, LUN %u-->\n",
					        edl_storage_name(kind), lun);
				}
				fprintf(x->f,
				        "  <program SECTOR_SIZE_IN_BYTES=\"%u\" "
				        "file_sector_offset=\"0\" "
				        "filename=\"%s\" label=\"%s\" "
				        "num_partition_sectors=\"%" PRIu64
				        "\" physical_partition_number=\"%u\" sparse=\"false\" "
				        "start_sector=\"%" PRIu64 "\"/>\n",
				        sector, base, p->label, pages * per_page, lun,
				        lun == 1 ? 0 : start * per_page);
			} else {
				/* File names relative to update/firehose/, Windows style. */
				const char *name =
				        strncmp(p->file, "firehose/", 9) == 0 ? p->file + 9 : NULL;
				char xmlname[256];
				if (name != NULL)
					snprintf(xmlname, sizeof(xmlname), "%s", name);
				else
					snprintf(xmlname, sizeof(xmlname), "..\\%s", p->file);
				if (strcmp(p->label, "sbl") == 0) {
					sbl_start = start;
					sbl_pages = pages;
				} else {
					fprintf(raw,
					        "  <program PAGES_PER_BLOCK=\"%u\" "
					        "SECTOR_SIZE_IN_BYTES=\"%u\" "
					        "filename=\"%s\" label=\"%s\" "
					        "last_sector=\"%" PRIu64 "\" "
					        "num_partition_sectors=\"%" PRIu64 "\" "
					        "physical_partition_number=\"0\" "
					        "start_sector=\"%" PRIu64 "\"/>\n",
					        PAGES_PER_BLOCK, PAGE, xmlname, p->label, last,
					        pages, start);
				}
			}
		}
		start += pages;
	}
	if (nand) {
		/* The boot loader last, as Quectel's files have it. */
		fprintf(raw,
		        "  <program PAGES_PER_BLOCK=\"%u\" SECTOR_SIZE_IN_BYTES=\"%u\" "
		        "filename=\"..\\sbl1.mbn\" label=\"sbl\" last_sector=\"%" PRIu64 "\" "
		        "num_partition_sectors=\"%" PRIu64 "\" physical_partition_number=\"0\" "
		        "start_sector=\"%" PRIu64 "\"/>\n</data>\n",
		        PAGES_PER_BLOCK, PAGE, sbl_start + sbl_pages - 1, sbl_pages, sbl_start);
		if (fclose(raw) != 0) {
			raw = NULL;
			goto io_error;
		}
		raw = NULL;

		snprintf(path, sizeof(path), "%s/update/firehose/patch_p4K_b256K.xml", dir);
		patch = fopen(path, "w");
		if (patch == NULL)
			goto io_error;
		fprintf(patch, "<?xml version=\"1.0\" ?>\n<patches>\n"
		               "  <!--NOTE: Patching is in little endian format-->\n"
		               "</patches>\n");
		if (fclose(patch) != 0) {
			patch = NULL;
			goto io_error;
		}
		patch = NULL;
	} else {
		static const char patches[] = "<?xml version=\"1.0\" ?>\n<patches>\n"
		                              "  <!--NOTE: Patching is in little endian format-->\n"
		                              "</patches>\n";
		for (unsigned lun = 0; lun < 2; lun++) {
			struct lun_xml *x = &luns[lun];
			if (x->f == NULL)
				continue;
			fprintf(x->f, "</data>\n");
			if (fclose(x->f) != 0) {
				x->f = NULL;
				goto io_error;
			}
			x->f = NULL;
			snprintf(path, sizeof(path), "%s/rawprogram%u.xml", dir, lun);
			if (write_text(path, x->text, x->len) != 0)
				goto io_error;
			snprintf(path, sizeof(path), "%s/patch%u.xml", dir, lun);
			if (write_text(path, patches, sizeof(patches) - 1) != 0)
				goto io_error;
		}
	}

	snprintf(path, sizeof(path), "%s/md5.txt", dir);
	md5 = fopen(path, "w");
	if (md5 == NULL)
		goto io_error;
	fprintf(md5, "VERSION:1.0\nFILE:START\n");
	for (size_t i = 0; i < n_lines; i++) {
		fprintf(md5, "FILE:%s:", lines[i].path);
		for (int k = 0; k < 16; k++)
			fprintf(md5, "%02X", lines[i].md5[k]);
		fprintf(md5, "\n");
	}
	fprintf(md5, "FILE:END\n");
	if (fclose(md5) != 0) {
		md5 = NULL;
		goto io_error;
	}
	md5 = NULL;
	if (nand)
		printf("mkpackage: wrote a synthetic RM502Q-style NAND package to %s (%" PRIu64
		       " MiB of partitions, %zu files%s)\n",
		       dir, start * PAGE / (1024 * 1024), n_lines,
		       vendor_erase ? ", with a Quectel vendor erase" : "");
	else
		printf("mkpackage: wrote a synthetic %s board package to %s (%u-byte sectors, "
		       "%" PRIu64 " MiB of partitions, %zu files%s)\n",
		       edl_storage_name(kind), dir, sector, start * PAGE / (1024 * 1024), n_lines,
		       kind == EDL_STORAGE_UFS ? ", boot loader on LUN 1" : "");
	rc = EDL_EXIT_OK;
	goto out;

io_error:
	fprintf(stderr, "edlstation mkpackage: cannot write %s: %s\n", path, strerror(errno));
out:
	if (raw)
		fclose(raw);
	if (patch)
		fclose(patch);
	if (md5)
		fclose(md5);
	for (unsigned lun = 0; lun < 2; lun++) {
		if (luns[lun].f != NULL)
			fclose(luns[lun].f);
		free(luns[lun].text);
	}
	free(buf);
	return rc;
}
