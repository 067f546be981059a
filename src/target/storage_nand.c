/*
 * The NAND storage model: pages grouped in erase blocks, some blocks bad.
 *
 * - A page is programmed only when erased; erased pages read 0xFF. Page states
 *   are a bitmap in memory (one bit per page: 256 MiB of 4 KiB pages is 8 KiB),
 *   written through to dir/lun0.pages when the storage has a directory, so a
 *   unit that is re-plugged (a new target on the same files) keeps its state.
 * - Erase works on whole blocks: an erase of a page range erases every good
 *   block the range touches. Bad blocks are never erased or programmed.
 * - Bad-block skipping: a command's range runs from start_sector to the
 *   partition's last_sector. Its sectors are laid onto the good pages of
 *   start..last in order, skipping every bad block, so data meant for a bad
 *   block lands in the next good block; when the good pages run out before
 *   last_sector the command fails (the programmer NAKs). Without last_sector the
 *   partition is taken to run to the end of the device. This is the skip-block
 *   scheme of NAND boot partitions (U-Boot's `nand write`, Linux MTD's
 *   skip-block readers). Qualcomm's NAND rawprogram files give every partition
 *   a last_sector, and Firehose's <read> schema carries last_sector and
 *   skip_bad_block attributes, which is this scheme; a real NAND programmer also
 *   insists that PAGES_PER_BLOCK equals the chip's. read and getsha256digest use
 *   the same mapping, so a host's verify reads back what it programmed. A range
 *   as large as its partition has no room for a bad block: it fails, as it would
 *   on a real chip, so hosts send the image's size, not the partition's.
 */
#include "target/storage_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t nand_pages(const struct edl_target_storage *s)
{
	return s->lun[0].sectors;
}

int edl_target_nand_open(struct edl_target_storage *s, const struct edl_storage_config *cfg,
                         struct edl_error *err)
{
	uint64_t pages = nand_pages(s);
	struct stat st;

	if (cfg->pages_per_block == 0 || pages % cfg->pages_per_block != 0)
		return edl_error_set(err, EDL_E_CONFIG,
		                     "NAND of %" PRIu64
		                     " pages cannot be split in blocks of %" PRIu32 " pages",
		                     pages, cfg->pages_per_block);
	s->pages_per_block = cfg->pages_per_block;
	s->blocks = pages / cfg->pages_per_block;
	s->bad = calloc((size_t)((s->blocks + 7) / 8), 1);
	s->programmed = calloc((size_t)((pages + 7) / 8), 1);
	if (s->bad == NULL || s->programmed == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "NAND page-state bitmap");
	for (size_t i = 0; i < cfg->n_bad_blocks; i++) {
		if (cfg->bad_blocks[i] >= s->blocks)
			return edl_error_set(err, EDL_E_CONFIG,
			                     "bad block %" PRIu32 " is outside the %" PRIu64
			                     " blocks of the NAND",
			                     cfg->bad_blocks[i], s->blocks);
		edl_bit_set(s->bad, cfg->bad_blocks[i]);
	}
	if (cfg->dir == NULL)
		return EDL_OK;

	uint64_t bytes = (pages + 7) / 8;
	if (asprintf(&s->pages_path, "%s/lun0.pages", cfg->dir) < 0) {
		s->pages_path = NULL;
		return edl_error_set(err, EDL_E_NOMEM, "page-state file name");
	}
	s->pages_fd = open(s->pages_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (s->pages_fd < 0 || fstat(s->pages_fd, &st) != 0)
		return edl_error_set(err, edl_error_from_errno(errno), "page-state file %s: %s",
		                     s->pages_path, strerror(errno));
	if ((uint64_t)st.st_size == bytes)
		return edl_target_file_read(s->pages_fd, 0, s->programmed, bytes, s->pages_path,
		                            err);
	/* New, or of another geometry: every page erased. */
	if (ftruncate(s->pages_fd, 0) != 0 || ftruncate(s->pages_fd, (off_t)bytes) != 0)
		return edl_error_set(err, edl_error_from_errno(errno), "page-state file %s: %s",
		                     s->pages_path, strerror(errno));
	return EDL_OK;
}

void edl_target_nand_close(struct edl_target_storage *s)
{
	free(s->bad);
	free(s->programmed);
	if (s->pages_fd >= 0)
		close(s->pages_fd);
	free(s->pages_path);
	s->bad = s->programmed = NULL;
	s->pages_fd = -1;
	s->pages_path = NULL;
}

/* Writes the bitmap bytes holding pages first..last through to the state file. */
static int persist(struct edl_target_storage *s, uint64_t first, uint64_t last,
                   struct edl_error *err)
{
	if (s->pages_fd < 0)
		return EDL_OK;
	return edl_target_file_write(s->pages_fd, first / 8, s->programmed + first / 8,
	                             last / 8 - first / 8 + 1, s->pages_path, err);
}

static uint64_t range_limit(const struct edl_target_storage *s, const struct edl_target_range *r)
{
	uint64_t end = nand_pages(s) - 1;
	return r->last < end ? r->last : end;
}

static uint64_t bad_blocks_between(const struct edl_target_storage *s, uint64_t first,
                                   uint64_t last)
{
	uint64_t n = 0;
	for (uint64_t b = first / s->pages_per_block; b <= last / s->pages_per_block; b++)
		n += (uint64_t)edl_bit_get(s->bad, b);
	return n;
}

/*
 * Where sector `index` of the range lives: its physical page, and how many pages
 * from there on are contiguous and good (to the end of its block or the limit).
 */
static int nand_map(const struct edl_target_storage *s, const struct edl_target_range *r,
                    uint64_t index, uint64_t *phys, uint64_t *run, struct edl_error *err)
{
	uint64_t ppb = s->pages_per_block;
	uint64_t limit = range_limit(s, r);
	uint64_t p = r->start;
	uint64_t remaining = index;

	/* Defined on every path: the compiler cannot see that edl_error_set() never
	 * returns EDL_OK, so callers' loops would use them uninitialised (Release
	 * builds warn with -Wmaybe-uninitialized). */
	*phys = 0;
	*run = 0;
	while (p <= limit) {
		uint64_t b = p / ppb;
		uint64_t block_end = (b + 1) * ppb - 1;
		if (block_end > limit)
			block_end = limit;
		if (edl_bit_get(s->bad, b)) {
			p = block_end + 1;
			continue;
		}
		uint64_t avail = block_end - p + 1;
		if (remaining < avail) {
			*phys = p + remaining;
			*run = avail - remaining;
			return EDL_OK;
		}
		remaining -= avail;
		p = block_end + 1;
	}
	return edl_error_set(
	        err, EDL_E_TARGET_BAD_BLOCKS,
	        "NAND partition pages %" PRIu64 "..%" PRIu64 " (%" PRIu64
	        " bad block%s in it) has no good page left for sector %" PRIu64 " of %" PRIu64,
	        r->start, limit, bad_blocks_between(s, r->start, limit),
	        bad_blocks_between(s, r->start, limit) == 1 ? "" : "s", index, r->count);
}

int edl_target_nand_check(const struct edl_target_storage *s, const struct edl_target_range *r,
                          struct edl_error *err)
{
	uint64_t pages = nand_pages(s), phys, run;

	if (r->lun != 0)
		return edl_error_set(err, EDL_E_RANGE,
		                     "LUN %" PRIu32 " does not exist (NAND has one)", r->lun);
	if (r->count == 0)
		return edl_error_set(err, EDL_E_RANGE, "empty range at page %" PRIu64, r->start);
	if (r->start >= pages)
		return edl_error_set(err, EDL_E_RANGE,
		                     "page %" PRIu64 " is outside the NAND of %" PRIu64 " pages",
		                     r->start, pages);
	if (r->last < r->start)
		return edl_error_set(err, EDL_E_RANGE,
		                     "last_sector %" PRIu64 " is before start_sector %" PRIu64,
		                     r->last, r->start);
	if (r->last != UINT64_MAX && r->last >= pages)
		return edl_error_set(err, EDL_E_RANGE,
		                     "last_sector %" PRIu64 " is outside the NAND of %" PRIu64
		                     " pages",
		                     r->last, pages);
	if (r->count > range_limit(s, r) - r->start + 1)
		return edl_error_set(err, EDL_E_RANGE,
		                     "pages %" PRIu64 "..%" PRIu64 " are outside the partition "
		                     "%" PRIu64 "..%" PRIu64 " (NAND of %" PRIu64 " pages)",
		                     r->start, r->start + r->count - 1, r->start, range_limit(s, r),
		                     pages);
	return nand_map(s, r, r->count - 1, &phys, &run, err);
}

int edl_target_nand_check_erased(const struct edl_target_storage *s,
                                 const struct edl_target_range *r, struct edl_error *err)
{
	uint64_t index = 0, phys, run;

	while (index < r->count) {
		int rc = nand_map(s, r, index, &phys, &run, err);
		if (rc != EDL_OK)
			return rc;
		if (run > r->count - index)
			run = r->count - index;
		for (uint64_t i = 0; i < run; i++) {
			if (edl_bit_get(s->programmed, phys + i))
				return edl_error_set(err, EDL_E_TARGET_NOT_ERASED,
				                     "page %" PRIu64 " (block %" PRIu64
				                     ") is already programmed: "
				                     "erase the block before programming it",
				                     phys + i, (phys + i) / s->pages_per_block);
		}
		index += run;
	}
	return EDL_OK;
}

int edl_target_nand_write(struct edl_target_storage *s, const struct edl_target_range *r,
                          uint64_t index, const uint8_t *data, uint64_t n, struct edl_error *err)
{
	uint64_t ps = s->sector_size, phys, run;

	if (index > r->count || n > r->count - index)
		return edl_error_set(err, EDL_E_RANGE,
		                     "pages %" PRIu64 "+%" PRIu64 " are outside a range of %" PRIu64
		                     " pages",
		                     index, n, r->count);
	while (n > 0) {
		int rc = nand_map(s, r, index, &phys, &run, err);
		if (rc != EDL_OK)
			return rc;
		if (run > n)
			run = n;
		for (uint64_t i = 0; i < run; i++) {
			if (edl_bit_get(s->programmed, phys + i))
				return edl_error_set(err, EDL_E_TARGET_NOT_ERASED,
				                     "page %" PRIu64 " (block %" PRIu64
				                     ") is already programmed: it must be erased "
				                     "before it is programmed",
				                     phys + i, (phys + i) / s->pages_per_block);
		}
		rc = edl_target_file_write(s->lun[0].fd, phys * ps, data, run * ps, "NAND", err);
		if (rc != EDL_OK)
			return rc;
		for (uint64_t i = 0; i < run; i++)
			edl_bit_set(s->programmed, phys + i);
		rc = persist(s, phys, phys + run - 1, err);
		if (rc != EDL_OK)
			return rc;
		data += run * ps;
		index += run;
		n -= run;
	}
	return EDL_OK;
}

/* Physical pages page..page+count-1: programmed ones from the file, erased 0xFF. */
int edl_target_nand_read_pages(const struct edl_target_storage *s, uint64_t page, uint64_t count,
                               uint8_t *buf, struct edl_error *err)
{
	uint64_t ps = s->sector_size;

	while (count > 0) {
		int state = edl_bit_get(s->programmed, page);
		uint64_t same = 1;
		while (same < count && edl_bit_get(s->programmed, page + same) == state)
			same++;
		if (state) {
			int rc = edl_target_file_read(s->lun[0].fd, page * ps, buf, same * ps,
			                              "NAND", err);
			if (rc != EDL_OK)
				return rc;
		} else {
			memset(buf, 0xff, (size_t)(same * ps));
		}
		buf += same * ps;
		page += same;
		count -= same;
	}
	return EDL_OK;
}

int edl_target_nand_read(const struct edl_target_storage *s, const struct edl_target_range *r,
                         uint64_t index, uint8_t *buf, uint64_t n, struct edl_error *err)
{
	/* nand_map() sets both whenever it returns EDL_OK; gcc -O3 cannot see that
	 * through edl_error_set() and warns (-Wmaybe-uninitialized). */
	uint64_t phys = 0, run = 0;

	if (index > r->count || n > r->count - index)
		return edl_error_set(err, EDL_E_RANGE,
		                     "pages %" PRIu64 "+%" PRIu64 " are outside a range of %" PRIu64
		                     " pages",
		                     index, n, r->count);
	while (n > 0) {
		int rc = nand_map(s, r, index, &phys, &run, err);
		if (rc != EDL_OK)
			return rc;
		if (run > n)
			run = n;
		rc = edl_target_nand_read_pages(s, phys, run, buf, err);
		if (rc != EDL_OK)
			return rc;
		buf += run * s->sector_size;
		index += run;
		n -= run;
	}
	return EDL_OK;
}

int edl_target_nand_erase(struct edl_target_storage *s, const struct edl_target_range *r,
                          struct edl_error *err)
{
	uint64_t pages = nand_pages(s), ppb = s->pages_per_block;

	if (r->lun != 0)
		return edl_error_set(err, EDL_E_RANGE,
		                     "LUN %" PRIu32 " does not exist (NAND has one)", r->lun);
	if (r->count == 0 || r->start >= pages || r->count > pages - r->start)
		return edl_error_set(err, EDL_E_RANGE,
		                     "pages %" PRIu64 "+%" PRIu64
		                     " are outside the NAND of %" PRIu64 " pages",
		                     r->start, r->count, pages);
	uint64_t first = r->start / ppb, last = (r->start + r->count - 1) / ppb;
	for (uint64_t b = first; b <= last; b++) {
		if (edl_bit_get(s->bad, b))
			continue;
		for (uint64_t p = b * ppb; p < (b + 1) * ppb; p++)
			edl_bit_clear(s->programmed, p);
		int rc = edl_target_file_zero(s->lun[0].fd, b * ppb * s->sector_size,
		                              ppb * s->sector_size, "NAND", err);
		if (rc != EDL_OK)
			return rc;
	}
	return persist(s, first * ppb, (last + 1) * ppb - 1, err);
}
