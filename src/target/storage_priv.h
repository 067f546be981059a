/*
 * The layout of struct edl_target_storage, shared by storage.c (files, eMMC and
 * UFS) and storage_nand.c (page states, bad blocks, the skip mapping). Nothing
 * outside those two files includes this.
 */
#ifndef EDL_TARGET_STORAGE_PRIV_H
#define EDL_TARGET_STORAGE_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "target/storage_model.h"

struct edl_target_lun {
	int fd;
	uint64_t sectors;
	char *path; /* NULL for an unlinked temporary file */
};

struct edl_target_storage {
	enum edl_storage_kind kind;
	uint32_t sector_size;
	uint32_t luns;
	struct edl_target_lun lun[EDL_TARGET_MAX_LUNS];

	/* NAND only (one LUN) */
	uint32_t pages_per_block;
	uint64_t blocks;
	uint8_t *bad;        /* one bit per erase block: 1 = bad */
	uint8_t *programmed; /* one bit per page: 1 = programmed, 0 = erased */
	int pages_fd;        /* page-state file beside the image when dir is set, else -1 */
	char *pages_path;
};

static inline int edl_bit_get(const uint8_t *map, uint64_t i)
{
	return (map[i / 8] >> (i % 8)) & 1;
}
static inline void edl_bit_set(uint8_t *map, uint64_t i)
{
	map[i / 8] |= (uint8_t)(1u << (i % 8));
}
static inline void edl_bit_clear(uint8_t *map, uint64_t i)
{
	map[i / 8] &= (uint8_t) ~(1u << (i % 8));
}

/* Whole-buffer file I/O at an offset (retries short transfers and EINTR). */
int edl_target_file_read(int fd, uint64_t off, uint8_t *buf, uint64_t n, const char *what,
                         struct edl_error *err);
int edl_target_file_write(int fd, uint64_t off, const uint8_t *data, uint64_t n, const char *what,
                          struct edl_error *err);
/* Makes [off, off+n) read as zeros, punching a hole when the file system can. */
int edl_target_file_zero(int fd, uint64_t off, uint64_t n, const char *what, struct edl_error *err);

/* storage_nand.c */
int edl_target_nand_open(struct edl_target_storage *s, const struct edl_storage_config *cfg,
                         struct edl_error *err);
void edl_target_nand_close(struct edl_target_storage *s);
int edl_target_nand_check(const struct edl_target_storage *s, const struct edl_target_range *r,
                          struct edl_error *err);
int edl_target_nand_check_erased(const struct edl_target_storage *s,
                                 const struct edl_target_range *r, struct edl_error *err);
int edl_target_nand_write(struct edl_target_storage *s, const struct edl_target_range *r,
                          uint64_t index, const uint8_t *data, uint64_t n, struct edl_error *err);
int edl_target_nand_read(const struct edl_target_storage *s, const struct edl_target_range *r,
                         uint64_t index, uint8_t *buf, uint64_t n, struct edl_error *err);
int edl_target_nand_erase(struct edl_target_storage *s, const struct edl_target_range *r,
                          struct edl_error *err);
int edl_target_nand_read_pages(const struct edl_target_storage *s, uint64_t page, uint64_t count,
                               uint8_t *buf, struct edl_error *err);

#endif
