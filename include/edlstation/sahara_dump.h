/*
 * Memory dumps over Sahara (PROTOCOL.md §2, memory debug): a unit that
 * crashed into the boot ROM's memory-debug mode says HELLO with mode 2, takes
 * a HELLO_RESP in that mode, and announces its memory table with
 * MEMORY_DEBUG (32-bit targets) or MEMORY_DEBUG64. The host reads the table
 * with MEMORY_READ(64), then each region in pieces, then sends RESET.
 *
 * This header is the host's part that does not move bytes: the table parser
 * (bounded, every name made a safe file name) and the sink through which the
 * host engine (sahara.h, edl_sahara_host_config.dump) hands the regions to
 * whoever stores them. The parser is what a hostile or broken table meets
 * first, so it checks everything: the table's size, each region's range, the
 * names.
 */
#ifndef EDLSTATION_SAHARA_DUMP_H
#define EDLSTATION_SAHARA_DUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edlstation/error.h"

/* The largest table a host reads: 64 KiB (Linaro qdl sahara_debug64 refuses
 * a longer one), at most 1260 32-bit entries. */
#define EDL_SAHARA_DUMP_MAX_TABLE (64u * 1024)
/* Bytes one MEMORY_READ asks for: 512 KiB, as qdl (DEBUG_BLOCK_SIZE) and
 * bkerler/edl (read_memory, 0x80000) read. */
#define EDL_SAHARA_DUMP_READ (512u * 1024)
/* Table entry sizes: save_pref, mem_base, length (u32 or u64 each), desc[20],
 * filename[20] (edl sahara_defs.py parttbl / parttbl_64bit). */
#define EDL_SAHARA_DUMP_ENTRY32 52u
#define EDL_SAHARA_DUMP_ENTRY64 64u

/* One region of the table, as the parser leaves it. */
struct edl_sahara_region {
	uint64_t save_pref;
	uint64_t base;
	uint64_t length;
	char desc[21];     /* printable ASCII (others become '?'), cut at the first NUL */
	char raw_name[81]; /* the table's file name, bytes outside printable ASCII as \xNN */
	/* A file name that is safe in a directory: only [A-Za-z0-9._-], no leading
	 * '.', never empty (regionN.bin), unique in the table (a "-N" before the
	 * extension for a second use). Differs from raw_name only when the table's
	 * name was unsafe. */
	char name[40];
};

/*
 * Parses a memory table of len bytes (entries of 52 bytes, or 64 when is64).
 * On success *out is an array of *n regions the caller frees with free().
 * EDL_E_MEMORY_DUMP with a detail (names the entry and what is wrong) when the
 * table is empty, longer than EDL_SAHARA_DUMP_MAX_TABLE, not a whole number of
 * entries, or a region wraps past the end of the 32-bit (or 64-bit) address
 * space; EDL_E_NOMEM. A region of length 0 is kept (nothing to read).
 */
int edl_sahara_dump_parse_table(struct edl_sahara_region **out, size_t *n, const uint8_t *data,
                                size_t len, bool is64, struct edl_error *err);

/*
 * Where the host engine hands a dump. Each callback returns EDL_OK to go on;
 * any other code (with err set) stops the dump: the engine sends RESET and
 * fails with that code and detail.
 */
struct edl_sahara_dump_sink {
	/* The table was read: n regions, total bytes in all. Refusing here is
	 * "not dumped" (a size limit, no space). */
	int (*begin)(void *data, const struct edl_sahara_region *regions, size_t n, uint64_t total,
	             bool is64, struct edl_error *err);
	/* Bytes of region i at offset, in order (offset 0 first, no gaps). */
	int (*region_data)(void *data, size_t i, uint64_t offset, const uint8_t *bytes, size_t len,
	                   struct edl_error *err);
	/* Every region was read; RESET follows. */
	int (*end)(void *data, struct edl_error *err);
	void *data;
};

#endif
