/*
 * Unit-specific data of emulated units (issue 15, RMA): the partitions that
 * carry a modem's own RF calibration, IMEI and NV items (modemst1, modemst2,
 * fsg, fsc, persist on Qualcomm modems), filled with bytes derived from the
 * unit's serial, and the partition table that locates them: a GPT on eMMC/UFS
 * LUN 0, Qualcomm's MIBIB on NAND (src/target/cal_seed.c).
 *
 * The same layout is what `edlstation mkpackage --rma` lays its packages out
 * around (and programs over), so a test can flash a full package over seeded
 * units and check that every seeded byte came back.
 *
 * Seed bytes: byte o of partition LABEL of unit SERIAL is byte o % 32 of
 * SHA-256("%08x:%s:%llu" % (SERIAL, LABEL, o / 32)) — easy to recompute in a
 * test (Python's hashlib).
 */
#ifndef EDLSTATION_CAL_SEED_H
#define EDLSTATION_CAL_SEED_H

#include <stddef.h>
#include <stdint.h>

#include "edlstation/error.h"
#include "edlstation/storage.h"

#define EDL_CAL_BLOCK_BYTES (256u * 1024u)  /* one NAND erase block (64 pages of 4 KiB) */
#define EDL_CAL_REGION_BYTE (1024u * 1024u) /* eMMC/UFS: LUN 0 byte offset of the region */
#define EDL_CAL_NAND_SBL_BLOCKS 10u         /* NAND: sbl blocks 0-9 ... */
#define EDL_CAL_NAND_MIBIB_BLOCK 10u /* ... MIBIB blocks 10-11 (page 0x280, qdl's first guess) */
#define EDL_CAL_NAND_MIBIB_BLOCKS 2u
#define EDL_CAL_NAND_REGION_BLOCK 12u /* NAND: first block of the region */
#define EDL_CAL_N 5
#define EDL_CAL_REGION_BLOCKS 6u /* blocks of every partition of the region together */

struct edl_cal_partition {
	const char *label;
	uint32_t block; /* first block, counted from the region's start */
	uint32_t blocks;
};

/* modemst1, modemst2, fsg, fsc, persist: in region order. */
extern const struct edl_cal_partition edl_cal_layout[EDL_CAL_N];

/* Seed bytes of [offset, offset + n) of `label` on unit `serial` into buf. */
void edl_cal_seed_bytes(uint32_t serial, const char *label, uint64_t offset, uint8_t *buf,
                        size_t n);

/* One NAND partition table entry for edl_cal_mibib_build(). */
struct edl_cal_nand_part {
	const char *name; /* as stored, e.g. "0:MODEMST1" (at most 16 bytes) */
	uint32_t block;
	uint32_t blocks;
};

/*
 * The two MIBIB pages (2 * page_size bytes into out): the MBN header page,
 * then a SMEM flash partition table v4 of the n parts. Returns EDL_OK or
 * EDL_E_INVAL (n above what a page holds, a name over 16 bytes).
 */
int edl_cal_mibib_build(const struct edl_cal_nand_part *parts, size_t n, uint32_t page_size,
                        uint8_t *out);

#endif
