/*
 * Partition tables as a unit stores them, parsed from bytes the host read with
 * Firehose <read> (src/flash/gpt.c). Sans-I/O: the caller reads sectors and
 * hands them in; nothing here trusts a number the device gave without a check.
 *
 * eMMC/UFS: the GUID partition table (UEFI spec §5.3): the primary header at
 * LBA 1, its entry array at the header's PartitionEntryLBA, a backup header at
 * the LUN's last LBA (its entries just before it). Both CRCs are checked; a
 * damaged primary is a reason to read the backup (as qdl and bkerler/edl read
 * the primary at sector 1; the backup follows the UEFI rule).
 *
 * NAND: Qualcomm's MIBIB (linux-msm/qdl read.c, "SMEM Flash Partition Table"):
 * a page with the MBN header magics FE569FAC CD7F127A, the next page the SMEM
 * flash partition table (magics 55EE73AA E35EBDDB, version 3 or 4, a count,
 * then 28-byte entries: name[16], offset and length in erase blocks, 4 attribute
 * bytes). Names often carry a "0:" prefix ("0:MIBIB"): it is dropped.
 */
#ifndef EDLSTATION_PTABLE_H
#define EDLSTATION_PTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EDL_PTABLE_NAME_MAX 73   /* 36 UTF-16 units as UTF-8 (ASCII kept, others '?') */
#define EDL_GPT_MAX_ENTRIES 1024 /* more is a hostile header (qdl caps at 1024 too) */
#define EDL_GPT_MAX_ARRAY_BYTES (1024u * 1024u) /* entries x entry size */

/* One partition: sectors (eMMC/UFS) or pages (NAND) of its LUN, inclusive. */
struct edl_ptable_entry {
	char name[EDL_PTABLE_NAME_MAX];
	uint64_t first;
	uint64_t last;
};

struct edl_gpt_header {
	uint64_t my_lba;
	uint64_t alternate_lba;
	uint64_t first_usable;
	uint64_t last_usable;
	uint64_t entries_lba;
	uint32_t n_entries;
	uint32_t entry_size;
	uint32_t entries_crc;
};

/*
 * Checks and decodes a GPT header from one sector read at LBA `lba`: signature
 * "EFI PART", header size 92..512, header CRC, MyLBA == lba (any when lba is
 * UINT64_MAX: a backup read at "NUM_DISK_SECTORS-1."), entry size
 * a multiple of 8 from 128 up to the sector size, at most EDL_GPT_MAX_ENTRIES
 * entries and EDL_GPT_MAX_ARRAY_BYTES, an entry array that does not overlap
 * the header. Returns true, or
 * false with `why` (a sentence) filled.
 */
bool edl_gpt_parse_header(const uint8_t *sector, size_t sector_size, uint64_t lba,
                          struct edl_gpt_header *out, char *why, size_t why_len);

/* Sectors the entry array of h occupies. */
uint64_t edl_gpt_entries_sectors(const struct edl_gpt_header *h, uint32_t sector_size);

/*
 * Checks the entry array's CRC against the header (buf holds at least
 * n_entries * entry_size bytes) and decodes the used entries (type GUID not
 * zero) into out (max entries; *n set). An entry with last < first, or outside
 * the header's usable range, fails. Returns true, or false with `why`.
 */
bool edl_gpt_parse_entries(const struct edl_gpt_header *h, const uint8_t *buf, size_t len,
                           struct edl_ptable_entry *out, size_t max, size_t *n, char *why,
                           size_t why_len);

enum edl_mibib_page {
	EDL_MIBIB_NONE = 0, /* neither magic */
	EDL_MIBIB_HEADER,   /* the MBN header: the table is on the next page */
	EDL_MIBIB_TABLE,    /* the SMEM partition table itself */
};

enum edl_mibib_page edl_mibib_classify(const uint8_t *page, size_t len);

/*
 * Decodes a SMEM flash partition table page into out, offsets and lengths
 * turned into pages with pages_per_block. A count above the version's maximum
 * (16 for v3, 128 for v4) or beyond the page, a zero-length entry, or a
 * partition past UINT32 blocks fails. Returns true, or false with `why`.
 */
bool edl_mibib_parse(const uint8_t *page, size_t len, uint32_t pages_per_block,
                     struct edl_ptable_entry *out, size_t max, size_t *n, char *why,
                     size_t why_len);

/* The entry named `label` (case-insensitive), or NULL. */
const struct edl_ptable_entry *edl_ptable_find(const struct edl_ptable_entry *e, size_t n,
                                               const char *label);

#endif
