/*
 * The emulated device's storage, as its Firehose programmer sees it (internal to
 * src/target). eMMC and UFS are arrays of sectors per LUN; NAND is pages grouped
 * in erase blocks, where a page must be erased before it is programmed and bad
 * blocks inside a partition are skipped. Every LUN lives in a sparse backing
 * file, so a large device costs neither disk nor memory; only NAND keeps state in
 * memory (one bit per page, one bit per block).
 *
 * Commands address storage with a range (LUN, first sector, count and, on NAND,
 * the partition's last page). On NAND the sectors of a range are mapped onto the
 * good pages from start to last in order, so data meant for a bad block goes to
 * the next good block; program, read and getsha256digest use the same mapping,
 * so a host's read-back verify sees what it wrote.
 */
#ifndef EDL_TARGET_STORAGE_MODEL_H
#define EDL_TARGET_STORAGE_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "edlstation/error.h"
#include "edlstation/storage.h"
#include "edlstation/target.h"

#define EDL_TARGET_MAX_LUNS 8

struct edl_target_storage;

/* A range as a Firehose command names it. */
struct edl_target_range {
	uint32_t lun;
	uint64_t start; /* first sector (NAND: page) */
	uint64_t count; /* sectors (pages) */
	uint64_t last;  /* NAND: the partition's last page, inclusive; UINT64_MAX = end of device.
	                   Ignored on eMMC/UFS. */
};

/* Opens (creating sparse when needed) the backing files. Returns EDL_OK,
 * EDL_E_CONFIG (bad geometry; detail names the field), EDL_E_IO or EDL_E_NOMEM. */
int edl_target_storage_open(struct edl_target_storage **out, const struct edl_storage_config *cfg,
                            struct edl_error *err);
void edl_target_storage_close(struct edl_target_storage *s);

enum edl_storage_kind edl_target_storage_kind(const struct edl_target_storage *s);
uint32_t edl_target_storage_sector_size(const struct edl_target_storage *s);
uint32_t edl_target_storage_luns(const struct edl_target_storage *s);
uint64_t edl_target_storage_sectors(const struct edl_target_storage *s, uint32_t lun);
uint32_t edl_target_storage_pages_per_block(const struct edl_target_storage *s);
/* Path of a LUN's backing file; NULL for temporary files or a bad LUN. */
const char *edl_target_storage_file(const struct edl_target_storage *s, uint32_t lun);

/* Checks that the range exists and fits (NAND: that start..last holds enough good
 * pages). EDL_E_RANGE or EDL_E_TARGET_BAD_BLOCKS with a detail naming LUN, range
 * and size. */
int edl_target_storage_check(const struct edl_target_storage *s, const struct edl_target_range *r,
                             struct edl_error *err);

/* NAND: EDL_E_TARGET_NOT_ERASED naming the first page of the range that is
 * programmed. eMMC/UFS: always EDL_OK. The range must have passed check(). */
int edl_target_storage_check_erased(const struct edl_target_storage *s,
                                    const struct edl_target_range *r, struct edl_error *err);

/* Writes (programs) n sectors at sector index `index` of the range (0 = the
 * range's first sector). NAND refuses pages that are not erased. */
int edl_target_storage_write(struct edl_target_storage *s, const struct edl_target_range *r,
                             uint64_t index, const uint8_t *data, uint64_t n,
                             struct edl_error *err);

/* Reads n sectors at sector index `index` of the range; NAND erased pages read 0xFF. */
int edl_target_storage_read(const struct edl_target_storage *s, const struct edl_target_range *r,
                            uint64_t index, uint8_t *buf, uint64_t n, struct edl_error *err);

/* eMMC/UFS: zeroes the sectors (punching holes, so the file stays sparse). NAND:
 * erases every good block that pages start..start+count-1 touch (bad blocks are
 * never erased; r->last is not used). */
int edl_target_storage_erase(struct edl_target_storage *s, const struct edl_target_range *r,
                             struct edl_error *err);

/* Unmapped access for dumps: eMMC/UFS sectors, NAND physical pages (erased 0xFF). */
int edl_target_storage_read_raw(const struct edl_target_storage *s, uint32_t lun, uint64_t sector,
                                uint64_t count, uint8_t *buf, struct edl_error *err);

/* Byte-level access for <patch> and CRC32 (eMMC/UFS only: EDL_E_UNSUPPORTED on
 * NAND). EDL_E_RANGE when [off, off+n) is outside the LUN. */
int edl_target_storage_pread(const struct edl_target_storage *s, uint32_t lun, uint64_t off,
                             uint8_t *buf, uint64_t n, struct edl_error *err);
int edl_target_storage_pwrite(struct edl_target_storage *s, uint32_t lun, uint64_t off,
                              const uint8_t *data, uint64_t n, struct edl_error *err);

/* NAND: whether erase block `block` is bad; false on eMMC/UFS. */
bool edl_target_storage_block_bad(const struct edl_target_storage *s, uint64_t block);

/* cal_seed.c: the unit's calibration partitions and their table (GPT on
 * eMMC/UFS LUN 0, MIBIB on NAND), filled from serial (edlstation/cal_seed.h). */
int edl_target_seed_cal(struct edl_target_storage *s, uint32_t serial, struct edl_error *err);

#endif
