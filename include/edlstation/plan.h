/*
 * The flashing plan: the ordered steps a session executes on one device, built
 * from a package by src/package and consumed by the flash sequencer. A plan is
 * immutable once built and shared read-only by every session; program steps
 * point into the package's read-only image mappings.
 */
#ifndef EDLSTATION_PLAN_H
#define EDLSTATION_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edlstation/storage.h"

enum edl_plan_step_kind {
	EDL_STEP_ERASE = 0,        /* <erase> of a sector range */
	EDL_STEP_PROGRAM = 1,      /* <program> of a sector range from image bytes */
	EDL_STEP_PATCH = 2,        /* <patch> of bytes on the disk (GPT fields) */
	EDL_STEP_SET_BOOTABLE = 3, /* <setbootablestoragedrive> */
	/* A vendor entry (<erase ... vendor="quectel"/>): sent verbatim, element
	 * and every attribute as the XML gave them, nothing added; an ACK is
	 * required. Never turned into a plain erase (fwupd PR #9204). */
	EDL_STEP_VENDOR = 4,
};

#define EDL_PLAN_EXPR_MAX 96

struct edl_plan_step {
	enum edl_plan_step_kind kind;
	uint32_t lun;         /* physical_partition_number */
	uint32_t sector_size; /* SECTOR_SIZE_IN_BYTES */
	/* start_sector as sent to the programmer: a decimal number, or an expression
	 * such as "NUM_DISK_SECTORS-33." that the programmer evaluates. */
	char start_sector[EDL_PLAN_EXPR_MAX];
	uint64_t num_sectors;                /* num_partition_sectors (0 for patch) */
	uint32_t pages_per_block;            /* NAND only, else 0 */
	char last_sector[EDL_PLAN_EXPR_MAX]; /* NAND partition end; "" when absent */
	char label[64];
	char filename[256]; /* image path relative to the package, for messages */

	/* PROGRAM: the bytes to write. The engine sends num_sectors * sector_size
	 * bytes: data (data_len bytes, mapped read-only) then zeros. When fill is
	 * set, data is NULL and every 32-bit word is fill_value (sparse FILL chunk). */
	const uint8_t *data;
	uint64_t data_len;
	bool fill;
	uint32_t fill_value;
	bool verify;        /* read back with getsha256digest and compare */
	uint8_t sha256[32]; /* digest of the padded range, valid when verify */

	/* PATCH */
	uint64_t byte_offset;
	uint64_t size_in_bytes;
	char value[EDL_PLAN_EXPR_MAX]; /* number or expression (CRC32(...), NUM_DISK_SECTORS-6.) */

	/* VENDOR: the element name ("erase") and its attributes in file order as
	 * name/value pairs (vendor_attrs[2i], vendor_attrs[2i+1]); owned by the plan
	 * (one allocation: the array and its strings, freed with the plan). Values
	 * are the decoded attribute text: the sender escapes &, <, " again. The
	 * range fields (lun 0, sector_size 0, start_sector "", num_sectors 0) are
	 * unused; source is file:line. */
	char element[32];
	char **vendor_attrs;
	size_t n_vendor_attrs; /* pairs */

	/* Added by the package module (src/package): where the step comes from. */
	char source[160];     /* "update/firehose/rawprogram_nand_p4K_b256K_update.xml:12" */
	bool bootloader;      /* erases/programs the boot loader (SBL/XBL): see plan ordering */
	bool synthesized;     /* not in the XML: added by the ordering rules (boot loader erase) */
	uint64_t file_offset; /* PROGRAM: offset of data in the image file (sparse RAW chunks) */
	/* PROGRAM: the partition's num_partition_sectors from the rawprogram (0:
	 * none given); num_sectors covers only the image (issue 13: a provisioning
	 * file may fill the rest). */
	uint64_t partition_sectors;
};

#define EDL_PLAN_MAX_LUNS 8

/* Per-LUN totals of a plan (added by the package module). */
struct edl_plan_lun {
	uint32_t lun;
	size_t n_steps;
	uint64_t
	        program_bytes; /* num_sectors * sector_size of every PROGRAM step, fills included */
	uint64_t fill_bytes;   /* of which sparse FILL steps */
	uint64_t erase_bytes;  /* sectors erased, in bytes */
	uint64_t est_ms;       /* estimated time of this LUN's steps at the plan's link rate */
};

struct edl_plan {
	enum edl_storage_kind storage;
	struct edl_plan_step *steps;
	size_t n_steps;
	uint64_t total_bytes; /* bytes programmed, all LUNs */

	/* Added by the package module. */
	struct edl_plan_lun luns[EDL_PLAN_MAX_LUNS]; /* in LUN order, n_luns used */
	size_t n_luns;
	uint32_t bootable_lun; /* LUN of the boot loader: the SET_BOOTABLE step's value */
	uint64_t link_rate;    /* bytes/s the estimate assumes */
	uint64_t est_ms;       /* estimated flashing time of the whole plan */
};

#endif
