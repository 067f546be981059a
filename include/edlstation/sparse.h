/*
 * Reader of Android sparse images (sparse="true" in rawprogram files), over a
 * read-only mapping of the file: it walks the chunk headers and reports each
 * chunk with the file offset of its data, so a RAW chunk becomes a program step
 * pointing into the mapping and nothing is ever expanded in memory.
 *
 * Why our own reader and not Debian's libsparse (android-libsparse-dev): its
 * public API cannot give a RAW chunk's file offset. sparse_file_import() keeps
 * the offsets in private backed_block structures and hands data out only through
 * sparse_file_callback()/foreach_chunk(), which read it into buffers of their
 * own; sparse_file_import_buf() takes a buffer without a length, so a truncated
 * or hostile image is read out of bounds; errors are printed to stderr rather
 * than returned with a place. The format is small and documented (libsparse's
 * sparse_format.h): a 28-byte file header, then chunks of a 12-byte header and
 * their data. The tests compare our expansion with simg2img's, and check the
 * CRC32 semantics against images written by libsparse itself.
 *
 * Format (all little-endian): file header { u32 magic 0xed26ff3a; u16 major 1;
 * u16 minor; u16 file_hdr_sz (28); u16 chunk_hdr_sz (12); u32 blk_sz (multiple
 * of 4); u32 total_blks; u32 total_chunks; u32 image_checksum }, chunk header
 * { u16 type; u16 reserved; u32 chunk_sz (output blocks); u32 total_sz (bytes of
 * header and data) }. RAW: chunk_sz*blk_sz data bytes. FILL: a u32 pattern.
 * DONT_CARE: nothing. CRC32: a u32, the CRC-32 of every output byte so far
 * (DONT_CARE counted as zeros).
 */
#ifndef EDLSTATION_SPARSE_H
#define EDLSTATION_SPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edlstation/error.h"

#define EDL_SPARSE_MAGIC 0xed26ff3au
#define EDL_SPARSE_HEADER_LEN 28
#define EDL_SPARSE_CHUNK_HEADER_LEN 12

/*
 * The largest expanded image accepted, whatever partition it goes to: 256 GiB,
 * above any sparse image of a real factory package, far below the 16 TiB a
 * 44-byte header can claim (2^32-1 blocks of 4 KiB). FILL chunks are hashed for
 * verification at load, so this also bounds the work a hostile image can cause.
 * A smaller bound (the partition) is passed to edl_sparse_walk_bounded().
 */
#define EDL_SPARSE_MAX_EXPANDED (256ull << 30)

enum edl_sparse_chunk_type {
	EDL_SPARSE_RAW = 0xCAC1,       /* data follows in the file */
	EDL_SPARSE_FILL = 0xCAC2,      /* a 32-bit pattern repeated over the blocks */
	EDL_SPARSE_DONT_CARE = 0xCAC3, /* nothing to write: skipped */
	EDL_SPARSE_CRC32 = 0xCAC4,     /* CRC-32 of the output so far; no blocks */
};

struct edl_sparse_info {
	uint32_t block_size;
	uint32_t total_blocks;
	uint32_t total_chunks;
	uint32_t image_checksum;
	uint64_t expanded_size; /* total_blocks * block_size */
	uint32_t n_raw, n_fill, n_dont_care, n_crc;
};

struct edl_sparse_chunk {
	enum edl_sparse_chunk_type type;
	uint32_t index;       /* 0-based chunk number, for messages */
	uint64_t out_offset;  /* byte offset in the expanded image */
	uint64_t out_len;     /* bytes of output (0 for CRC32) */
	uint64_t file_offset; /* RAW: offset of the data in the sparse file */
	uint32_t value;       /* FILL: the pattern (little-endian word); CRC32: the CRC */
};

/* True when data starts with a sparse file header's magic. */
bool edl_sparse_detect(const uint8_t *data, uint64_t len);

/* Called for each chunk in file order; a non-zero return stops the walk and is
 * returned by edl_sparse_walk. */
typedef int (*edl_sparse_chunk_fn)(const struct edl_sparse_chunk *chunk, void *user);

/*
 * Validates the header and every chunk header against the file length and
 * calls fn (may be NULL) per chunk. Only headers are read. Returns EDL_OK or
 * EDL_E_PKG_SPARSE with err naming the chunk and its file offset ("chunk 3 at
 * offset 0x1040: RAW total_sz 4108 does not match 1 block of 4096").
 * Bounded: the chunk count must fit the file (12 bytes each at least) and the
 * expanded size must not exceed EDL_SPARSE_MAX_EXPANDED, both checked before
 * any chunk is read; every iteration advances by at least one chunk header.
 */
int edl_sparse_walk(struct edl_sparse_info *info, const uint8_t *data, uint64_t len,
                    edl_sparse_chunk_fn fn, void *user, struct edl_error *err);

/* edl_sparse_walk with a tighter bound on the expanded size (the partition the
 * image is programmed to): max_bytes 0 means EDL_SPARSE_MAX_EXPANDED. */
int edl_sparse_walk_bounded(struct edl_sparse_info *info, const uint8_t *data, uint64_t len,
                            uint64_t max_bytes, edl_sparse_chunk_fn fn, void *user,
                            struct edl_error *err);

/*
 * Checks the image's CRC32 chunks (and the header's image_checksum when it is
 * not 0) against the expanded contents. Reads every RAW byte: call it once per
 * package load, off the event loop. Returns EDL_OK, EDL_E_PKG_SPARSE (malformed)
 * or EDL_E_PKG_HASH (a CRC differs; err names the chunk and both values).
 */
int edl_sparse_check_crc(const uint8_t *data, uint64_t len, struct edl_error *err);

/* True when the image has at least one CRC32 chunk or a non-zero image_checksum. */
bool edl_sparse_has_crc(const struct edl_sparse_info *info);

#endif
