/*
 * Firmware packages: discovery, parsing, validation, integrity and the flashing
 * plan. A package is loaded once per station start: its rawprogram/patch XML is
 * parsed (hardened libxml2), every file is hashed once (MD5 + SHA-256 in one
 * read pass, on worker threads, with a cache keyed by path, size, mtime, ctime and
 * inode), manifests (Quectel md5.txt, md5sum/sha256sum files) are checked, and
 * the plan (include/edlstation/plan.h) is built with its images mapped read-only
 * and shared by every session.
 *
 * Layouts understood:
 *  - Quectel/modem: md5.txt, contents.xml, update/NAME.mbn|ubi|img,
 *    update/firehose/prog_*.mbn, update/firehose/rawprogram_nand_p4K_b256K_update.xml
 *    (+ _factory: a choice), update/firehose/patch_p4K_b256K.xml.
 *  - Board/phone (eMMC/UFS): prog_*.elf|mbn, rawprogram0..N.xml (N = LUN),
 *    patch0..N.xml, images beside them.
 *  - Explicit: a programmer and a list of rawprogram (and patch) files.
 * A choice (several rawprogram sets, several programmers, several patch files)
 * is never made by directory order: the options name it, otherwise loading
 * fails with EDL_E_PKG_CHOICE and a detail listing the choices.
 *
 * Decisions (see also the README section of the package module):
 *  - start_sector, last_sector and patch values that use NUM_DISK_SECTORS (or
 *    NUM_DISK_BLOCKS, CRC32) are passed through to the programmer as written,
 *    as qdl does: the programmer knows the geometry. Constant expressions are
 *    sent as plain decimals. edl_plan_resolve() evaluates them against one
 *    device's geometry to check ranges and overlaps before flashing it.
 *  - Patches: filename="DISK" patches become PATCH steps (value passed
 *    through). A patch aimed at a file (gpt_main0.bin, partition_complete_*.mbn)
 *    is not applied: when a DISK patch with the same LUN, byte_offset,
 *    size_in_bytes and `what` (or value) exists it is redundant and dropped; when
 *    none exists (the NAND MIBIB patches of Quectel packages) a warning says it
 *    is not applied and the image is flashed as built (qdl likewise only sends
 *    DISK patches). A file patch whose target is not in the package, or a
 *    DISK patch with a size not in 1..8 or outside its sector, is an error.
 *  - Sparse FILL chunks become PROGRAM steps with fill=true, never erases:
 *    erased eMMC reads as 0 or 1 depending on the part (EXT_CSD ERASED_MEM_CONT)
 *    and NAND erases to 0xFF, so an erase is not a write of zeros. The engine
 *    streams the pattern from one constant buffer. DONT_CARE chunks are skipped.
 *  - A program step writes ceil(image/sector) sectors (like qdl), not the
 *    whole partition; an image larger than num_partition_sectors is an error,
 *    never truncated. num_partition_sectors="0" means "as large as the image".
 *  - Erases: an <erase> without a range (num_partition_sectors absent or 0) is
 *    an error (EDL_E_PKG_PARSE, file:line): older programmers' handleErase
 *    erases the whole physical partition whatever the range (Qualcomm
 *    deviceprogrammer_firehose.c for MSM8909, qdl #193/#244). Erases the XML
 *    gives are kept on every storage.
 *  - Vendor entries: an element with a vendor= attribute (Quectel RG500Q:
 *    <erase a_rawdata_start_sector="6528" ... vendor="quectel"/>) is not
 *    validated as a plain erase: it becomes an EDL_STEP_VENDOR step holding the
 *    element name and every attribute in file order, verbatim (values as
 *    libxml2 decodes them), source = file:line; nothing is synthesized for it
 *    and it is never merged with or turned into a plain erase (fwupd PR #9204).
 *    Only <erase> is seen with vendor= in public packages; any element is
 *    accepted. edl_plan_resolve and the overlap checks skip vendor steps.
 *  - Ordering: boot loader (label or file name starting sbl or xbl, or NAND
 *    sector 0) erases of the XML first, on NAND plus one synthesized for a boot
 *    loader program no erase covers (QFirehose erases the SBL first only on
 *    NAND; on eMMC/UFS a synthesized erase could wipe the whole LUN with the
 *    calibration/IMEI partitions, so none is added there); then vendor steps in
 *    file order (where QFirehose sends them: after the start-sector-0 erase,
 *    before the other erases); then erases and programs in file order (NAND:
 *    every erase before any program; a NAND program with no erase of its range
 *    gets one); then DISK patches; then the boot loader programs (last on every
 *    storage); then SET_BOOTABLE (eMMC/UFS, the boot loader's LUN).
 */
#ifndef EDLSTATION_PACKAGE_H
#define EDLSTATION_PACKAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "edlstation/error.h"
#include "edlstation/plan.h"
#include "edlstation/storage.h"

#define EDL_PACKAGE_DEFAULT_LINK_RATE (35u * 1000u * 1000u) /* bytes/s: USB 2.0 in practice */

struct edl_package_options {
	const char *dir; /* package root; every file must stay inside it */
	bool storage_set;
	enum edl_storage_kind storage; /* when storage_set; else inferred from the XML */
	const char *programmer;        /* relative to dir; NULL: discovered */
	const char *const *rawprogram; /* relative to dir; n_rawprogram == 0: discovered */
	size_t n_rawprogram;
	const char *const *patch; /* relative to dir; n_patch == 0: discovered */
	size_t n_patch;
	const char *cache_dir; /* NULL: ${XDG_CACHE_HOME:-$HOME/.cache}/edlstation */
	bool no_cache;         /* neither read nor write the hash cache */
	unsigned threads;      /* hashing threads; 0: online CPUs (at most 16) */
	uint64_t link_rate;    /* bytes/s for the estimate; 0: EDL_PACKAGE_DEFAULT_LINK_RATE */
	/* A file the plan flashes that the package's manifest (md5.txt, md5sum or
	 * sha256sum file) does not list: a warning, or an error when strict
	 * (`package check --strict`). Nothing is said when there is no manifest. */
	bool strict;
	/* Geometry for `package check --sectors`: NUM_DISK_SECTORS per LUN, 0 = unknown. */
	uint64_t disk_sectors[EDL_PLAN_MAX_LUNS];
};

void edl_package_options_init(struct edl_package_options *opt);

enum edl_package_layout {
	EDL_LAYOUT_UNKNOWN = 0,
	EDL_LAYOUT_QUECTEL = 1,  /* update/firehose/rawprogram_nand_*.xml, md5.txt */
	EDL_LAYOUT_BOARD = 2,    /* rawprogram0..N.xml */
	EDL_LAYOUT_EXPLICIT = 3, /* rawprogram files named by the options */
};

const char *edl_package_layout_name(enum edl_package_layout layout);

enum edl_diag_severity {
	EDL_DIAG_ERROR = 0,   /* the package is invalid */
	EDL_DIAG_WARNING = 1, /* loaded, but look at it */
	EDL_DIAG_NOTE = 2,    /* information (cache ignored, patch dropped as redundant) */
};

/* One problem found while loading, with the file and line it comes from. */
struct edl_package_diag {
	enum edl_diag_severity severity;
	int code;       /* EDL_E_PKG_* */
	char file[256]; /* relative to the package root; "" when none */
	unsigned line;  /* 0 when none */
	char message[EDL_ERROR_DETAIL_MAX];
};

/* A file of the package with its hashes. */
struct edl_package_file {
	const char *path; /* relative to the root, '/' separators */
	uint64_t size;
	uint8_t md5[16];
	uint8_t sha256[32];
	bool hashed;     /* md5/sha256 valid */
	bool from_cache; /* taken from the hash cache, not rehashed */
	bool checked;    /* a manifest lists it and its digest matched */
};

struct edl_package_stats {
	size_t files;          /* files opened (programmer, XML, images, manifest entries) */
	size_t files_hashed;   /* hashed in this load */
	size_t files_cached;   /* taken from the cache */
	uint64_t bytes_hashed; /* bytes read for hashing in this load */
	uint64_t bytes_total;  /* size of all files */
	uint64_t hash_ms;      /* wall time of the hashing pass */
	uint64_t load_ms;      /* wall time of the whole load */
	size_t manifest_entries;
	size_t manifest_checked;
	bool cache_used;    /* a valid cache file was read */
	bool cache_written; /* the cache file was (re)written */
	unsigned threads;
};

struct edl_package;

/*
 * Loads, validates and verifies the package named by opt. Returns EDL_OK when
 * the package is valid and its plan may be flashed. Otherwise returns the code
 * of the first error, with err describing it ("rawprogram0.xml:12: image
 * boot.img of 40960 bytes is larger than its partition of 32768 bytes"); *out is
 * still set when the package could be read far enough to list its problems
 * (edl_package_diag), and must then be freed, but its plan must not be flashed.
 * The caller owns *out (edl_package_free). Never writes inside opt->dir.
 */
int edl_package_load(struct edl_package **out, const struct edl_package_options *opt,
                     struct edl_error *err);

/* Unmaps the images and frees everything; NULL is fine. Plans obtained from the
 * package become invalid. */
void edl_package_free(struct edl_package *pkg);

/* True when the load found no error. */
bool edl_package_valid(const struct edl_package *pkg);

/* The plan (valid while the package lives; read-only, shared by sessions). */
const struct edl_plan *edl_package_plan(const struct edl_package *pkg);

/* The programmer: path relative to the root ("" when none) and its mapped bytes. */
const char *edl_package_programmer(const struct edl_package *pkg);
const uint8_t *edl_package_programmer_data(const struct edl_package *pkg, size_t *len);

const char *edl_package_root(const struct edl_package *pkg);
enum edl_package_layout edl_package_layout(const struct edl_package *pkg);
bool edl_package_storage_inferred(const struct edl_package *pkg);

/* The rawprogram, patch, manifest and contents files used, relative to the root. */
size_t edl_package_xml_count(const struct edl_package *pkg);
const char *edl_package_xml(const struct edl_package *pkg, size_t i, const char **kind);

size_t edl_package_diag_count(const struct edl_package *pkg);
const struct edl_package_diag *edl_package_diag(const struct edl_package *pkg, size_t i);
size_t edl_package_error_count(const struct edl_package *pkg);

size_t edl_package_file_count(const struct edl_package *pkg);
void edl_package_file(const struct edl_package *pkg, size_t i, struct edl_package_file *out);

void edl_package_stats(const struct edl_package *pkg, struct edl_package_stats *out);

/* contents.xml facts when present ("" otherwise). */
const char *edl_package_product(const struct edl_package *pkg);

/* The package's name and version for the records: contents.xml's product and
 * build id when it gives them, else the directory's name and "" (never NULL). */
const char *edl_package_name(const struct edl_package *pkg);
const char *edl_package_version(const struct edl_package *pkg);

/*
 * Checks that no file the plan uses changed since load (size, mtime, ctime,
 * inode, device: one stat each, cheap: the station calls it before each unit).
 * EDL_OK, or EDL_E_PKG_CHANGED with a detail naming the file and what changed
 * ("package changed under the station: images/boot.img is 4096 bytes, was
 * 8192"); a mapping whose file was truncated is never touched again.
 */
int edl_package_unchanged(const struct edl_package *pkg, struct edl_error *err);

/*
 * Checks the plan against one device's geometry: evaluates the start_sector,
 * last_sector and patch start expressions of LUN `lun` with NUM_DISK_SECTORS =
 * num_disk_sectors, and checks that every range lies inside the device and
 * that no two programs overlap. Does not modify the plan (it is shared).
 * resolved (optional, plan->n_steps entries) receives each step's absolute start
 * sector; entries of other LUNs are left untouched. Returns EDL_OK,
 * EDL_E_PKG_GEOMETRY (out of range) or EDL_E_PKG_OVERLAP with err naming the
 * step(s) and their source lines.
 */
int edl_plan_resolve(const struct edl_plan *plan, uint32_t lun, uint64_t num_disk_sectors,
                     uint64_t *resolved, struct edl_error *err);

/* Estimated flashing time of plan at link_rate bytes/s (0: the plan's rate). */
uint64_t edl_plan_estimate_ms(const struct edl_plan *plan, uint64_t link_rate);

/* "erase", "program", "patch", "setbootable", "vendor". */
const char *edl_plan_step_kind_name(enum edl_plan_step_kind kind);

/* `package check` output: a human report (problems, files, plan table, totals)
 * or one JSON document with every step. A vendor step shows as kind "vendor"
 * with the element as it is sent (text), or as "kind":"vendor","element":"erase",
 * "attributes":{...} in file order (JSON). */
void edl_package_print_text(FILE *f, const struct edl_package *pkg);
void edl_package_print_json(FILE *f, const struct edl_package *pkg);

#endif
