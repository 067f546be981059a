/*
 * Storage models of the emulated device: the backing files and the eMMC/UFS
 * model (a flat array of sectors per LUN, erase = zeros). Every LUN is a sparse
 * file (ftruncate to its size, holes punched on erase), either dir/lun<N>.img
 * when the caller wants to look at or keep the bytes, or an unlinked temporary
 * file. NAND's page states, bad blocks and skip mapping are in storage_nand.c;
 * the functions here dispatch to it.
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

void edl_storage_config_default(struct edl_storage_config *cfg, enum edl_storage_kind kind)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->kind = kind;
	switch (kind) {
	case EDL_STORAGE_EMMC:
		cfg->sector_size = 512;
		cfg->sectors = (8ull << 30) / 512;
		cfg->luns = 1;
		break;
	case EDL_STORAGE_UFS:
		cfg->sector_size = 4096;
		cfg->sectors = (4ull << 30) / 4096;
		cfg->luns = 6;
		break;
	case EDL_STORAGE_NAND:
		cfg->sector_size = 4096;
		cfg->sectors = (256ull << 20) / 4096;
		cfg->luns = 1;
		cfg->pages_per_block = 64;
		break;
	}
}

int edl_target_file_read(int fd, uint64_t off, uint8_t *buf, uint64_t n, const char *what,
                         struct edl_error *err)
{
	while (n > 0) {
		size_t want = n > (1u << 30) ? (1u << 30) : (size_t)n;
		ssize_t got = pread(fd, buf, want, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return edl_error_set(err, edl_error_from_errno(errno),
			                     "reading %s at byte 0x%" PRIx64 ": %s", what, off,
			                     strerror(errno));
		if (got == 0) {
			/* Past the end of a file that is shorter than it should be: zeros. */
			memset(buf, 0, (size_t)n);
			return EDL_OK;
		}
		buf += got;
		off += (uint64_t)got;
		n -= (uint64_t)got;
	}
	return EDL_OK;
}

int edl_target_file_write(int fd, uint64_t off, const uint8_t *data, uint64_t n, const char *what,
                          struct edl_error *err)
{
	while (n > 0) {
		size_t want = n > (1u << 30) ? (1u << 30) : (size_t)n;
		ssize_t put = pwrite(fd, data, want, (off_t)off);
		if (put < 0 && errno == EINTR)
			continue;
		if (put <= 0)
			return edl_error_set(err, put < 0 ? edl_error_from_errno(errno) : EDL_E_IO,
			                     "writing %s at byte 0x%" PRIx64 ": %s", what, off,
			                     put < 0 ? strerror(errno) : "no progress");
		data += put;
		off += (uint64_t)put;
		n -= (uint64_t)put;
	}
	return EDL_OK;
}

int edl_target_file_zero(int fd, uint64_t off, uint64_t n, const char *what, struct edl_error *err)
{
	static const uint8_t zeros[65536];

	if (n == 0)
		return EDL_OK;
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)n) == 0)
		return EDL_OK;
	/* No hole punching here (an old file system): write the zeros. */
	while (n > 0) {
		uint64_t part = n > sizeof(zeros) ? sizeof(zeros) : n;
		int rc = edl_target_file_write(fd, off, zeros, part, what, err);
		if (rc != EDL_OK)
			return rc;
		off += part;
		n -= part;
	}
	return EDL_OK;
}

/* An unlinked file in $TMPDIR (or /tmp). */
static int open_temp(struct edl_error *err)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];

	if (dir == NULL || dir[0] == '\0')
		dir = "/tmp";
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	if ((size_t)snprintf(path, sizeof(path), "%s/edl-target-XXXXXX", dir) >= sizeof(path))
		return edl_error_set(err, EDL_E_CONFIG, "TMPDIR '%s' is too long", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return edl_error_set(err, edl_error_from_errno(errno),
		                     "cannot create a temporary backing file in %s: %s", dir,
		                     strerror(errno));
	unlink(path);
	return fd;
}

static int open_lun(struct edl_target_lun *l, const char *dir, uint32_t n, uint64_t bytes,
                    struct edl_error *err)
{
	struct stat st;
	int rc;

	if (dir == NULL) {
		rc = open_temp(err);
		if (rc < 0)
			return rc;
		l->fd = rc;
	} else {
		if (asprintf(&l->path, "%s/lun%" PRIu32 ".img", dir, n) < 0) {
			l->path = NULL;
			return edl_error_set(err, EDL_E_NOMEM, "backing file name");
		}
		l->fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (l->fd < 0)
			return edl_error_set(err, edl_error_from_errno(errno),
			                     "cannot open backing file %s: %s", l->path,
			                     strerror(errno));
	}
	if (fstat(l->fd, &st) != 0)
		return edl_error_set(err, edl_error_from_errno(errno),
		                     "stat of LUN %" PRIu32 ": %s", n, strerror(errno));
	if ((uint64_t)st.st_size != bytes && ftruncate(l->fd, (off_t)bytes) != 0)
		return edl_error_set(err, edl_error_from_errno(errno),
		                     "cannot size LUN %" PRIu32 " backing file to %" PRIu64
		                     " bytes: %s",
		                     n, bytes, strerror(errno));
	return EDL_OK;
}

static int check_config(const struct edl_storage_config *cfg, struct edl_error *err)
{
	if (cfg->kind != EDL_STORAGE_EMMC && cfg->kind != EDL_STORAGE_UFS &&
	    cfg->kind != EDL_STORAGE_NAND)
		return edl_error_set(err, EDL_E_CONFIG, "unknown storage kind %d", (int)cfg->kind);
	if (cfg->sector_size < 512 || cfg->sector_size > 65536 ||
	    (cfg->sector_size & (cfg->sector_size - 1)) != 0)
		return edl_error_set(err, EDL_E_CONFIG,
		                     "sector_size %" PRIu32 " is not a power of two in 512..65536",
		                     cfg->sector_size);
	if (cfg->luns == 0 || cfg->luns > EDL_TARGET_MAX_LUNS)
		return edl_error_set(err, EDL_E_CONFIG, "luns %" PRIu32 " is not in 1..%d",
		                     cfg->luns, EDL_TARGET_MAX_LUNS);
	if (cfg->kind == EDL_STORAGE_NAND && cfg->luns != 1)
		return edl_error_set(err, EDL_E_CONFIG, "NAND has one LUN, not %" PRIu32,
		                     cfg->luns);
	for (uint32_t i = 0; i < cfg->luns; i++) {
		uint64_t n = cfg->lun_sectors ? cfg->lun_sectors[i] : cfg->sectors;
		if (n == 0 || n > (uint64_t)INT64_MAX / cfg->sector_size)
			return edl_error_set(err, EDL_E_CONFIG,
			                     "LUN %" PRIu32 " has %" PRIu64
			                     " sectors: not in 1..%" PRIu64,
			                     i, n, (uint64_t)INT64_MAX / cfg->sector_size);
	}
	return EDL_OK;
}

int edl_target_storage_open(struct edl_target_storage **out, const struct edl_storage_config *cfg,
                            struct edl_error *err)
{
	struct edl_target_storage *s;
	int rc;

	*out = NULL;
	rc = check_config(cfg, err);
	if (rc != EDL_OK)
		return rc;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "storage model");
	s->kind = cfg->kind;
	s->sector_size = cfg->sector_size;
	s->luns = cfg->luns;
	s->pages_fd = -1;
	for (uint32_t i = 0; i < EDL_TARGET_MAX_LUNS; i++)
		s->lun[i].fd = -1;
	for (uint32_t i = 0; i < s->luns; i++) {
		s->lun[i].sectors = cfg->lun_sectors ? cfg->lun_sectors[i] : cfg->sectors;
		rc = open_lun(&s->lun[i], cfg->dir, i, s->lun[i].sectors * s->sector_size, err);
		if (rc != EDL_OK)
			goto out;
	}
	if (s->kind == EDL_STORAGE_NAND) {
		rc = edl_target_nand_open(s, cfg, err);
		if (rc != EDL_OK)
			goto out;
	}
	*out = s;
	return EDL_OK;
out:
	edl_target_storage_close(s);
	return rc;
}

void edl_target_storage_close(struct edl_target_storage *s)
{
	if (s == NULL)
		return;
	edl_target_nand_close(s);
	for (uint32_t i = 0; i < EDL_TARGET_MAX_LUNS; i++) {
		if (s->lun[i].fd >= 0)
			close(s->lun[i].fd);
		free(s->lun[i].path);
	}
	free(s);
}

enum edl_storage_kind edl_target_storage_kind(const struct edl_target_storage *s)
{
	return s->kind;
}

uint32_t edl_target_storage_sector_size(const struct edl_target_storage *s)
{
	return s->sector_size;
}

uint32_t edl_target_storage_luns(const struct edl_target_storage *s)
{
	return s->luns;
}

uint64_t edl_target_storage_sectors(const struct edl_target_storage *s, uint32_t lun)
{
	return lun < s->luns ? s->lun[lun].sectors : 0;
}

uint32_t edl_target_storage_pages_per_block(const struct edl_target_storage *s)
{
	return s->pages_per_block;
}

const char *edl_target_storage_file(const struct edl_target_storage *s, uint32_t lun)
{
	return lun < s->luns ? s->lun[lun].path : NULL;
}

bool edl_target_storage_block_bad(const struct edl_target_storage *s, uint64_t block)
{
	return s->kind == EDL_STORAGE_NAND && block < s->blocks && edl_bit_get(s->bad, block);
}

/* Bounds of a flat (unmapped) sector range. */
static int check_flat(const struct edl_target_storage *s, uint32_t lun, uint64_t start,
                      uint64_t count, struct edl_error *err)
{
	if (lun >= s->luns)
		return edl_error_set(err, EDL_E_RANGE,
		                     "LUN %" PRIu32 " does not exist (the device has %" PRIu32
		                     " LUN%s)",
		                     lun, s->luns, s->luns == 1 ? "" : "s");
	uint64_t n = s->lun[lun].sectors;
	if (count == 0)
		return edl_error_set(err, EDL_E_RANGE,
		                     "empty range at sector %" PRIu64 " of LUN %" PRIu32, start,
		                     lun);
	if (start >= n || count > n - start)
		return edl_error_set(err, EDL_E_RANGE,
		                     "LUN %" PRIu32 " sectors %" PRIu64 "..%" PRIu64
		                     " are outside the LUN of %" PRIu64 " sectors",
		                     lun, start, start + count - 1, n);
	return EDL_OK;
}

int edl_target_storage_check(const struct edl_target_storage *s, const struct edl_target_range *r,
                             struct edl_error *err)
{
	if (s->kind == EDL_STORAGE_NAND)
		return edl_target_nand_check(s, r, err);
	return check_flat(s, r->lun, r->start, r->count, err);
}

int edl_target_storage_check_erased(const struct edl_target_storage *s,
                                    const struct edl_target_range *r, struct edl_error *err)
{
	if (s->kind == EDL_STORAGE_NAND)
		return edl_target_nand_check_erased(s, r, err);
	return EDL_OK;
}

/* Checks that n sectors at index lie inside a (checked) flat range. */
static int check_index(const struct edl_target_range *r, uint64_t index, uint64_t n,
                       struct edl_error *err)
{
	if (index > r->count || n > r->count - index)
		return edl_error_set(err, EDL_E_RANGE,
		                     "sectors %" PRIu64 "+%" PRIu64
		                     " are outside a range of %" PRIu64 " sectors",
		                     index, n, r->count);
	return EDL_OK;
}

int edl_target_storage_write(struct edl_target_storage *s, const struct edl_target_range *r,
                             uint64_t index, const uint8_t *data, uint64_t n, struct edl_error *err)
{
	char what[48];
	int rc;

	if (s->kind == EDL_STORAGE_NAND)
		return edl_target_nand_write(s, r, index, data, n, err);
	rc = check_flat(s, r->lun, r->start, r->count, err);
	if (rc == EDL_OK)
		rc = check_index(r, index, n, err);
	if (rc != EDL_OK || n == 0)
		return rc;
	snprintf(what, sizeof(what), "LUN %" PRIu32, r->lun);
	return edl_target_file_write(s->lun[r->lun].fd, (r->start + index) * s->sector_size, data,
	                             n * s->sector_size, what, err);
}

int edl_target_storage_read(const struct edl_target_storage *s, const struct edl_target_range *r,
                            uint64_t index, uint8_t *buf, uint64_t n, struct edl_error *err)
{
	char what[48];
	int rc;

	if (s->kind == EDL_STORAGE_NAND)
		return edl_target_nand_read(s, r, index, buf, n, err);
	rc = check_flat(s, r->lun, r->start, r->count, err);
	if (rc == EDL_OK)
		rc = check_index(r, index, n, err);
	if (rc != EDL_OK || n == 0)
		return rc;
	snprintf(what, sizeof(what), "LUN %" PRIu32, r->lun);
	return edl_target_file_read(s->lun[r->lun].fd, (r->start + index) * s->sector_size, buf,
	                            n * s->sector_size, what, err);
}

int edl_target_storage_erase(struct edl_target_storage *s, const struct edl_target_range *r,
                             struct edl_error *err)
{
	char what[48];
	int rc;

	if (s->kind == EDL_STORAGE_NAND)
		return edl_target_nand_erase(s, r, err);
	rc = check_flat(s, r->lun, r->start, r->count, err);
	if (rc != EDL_OK)
		return rc;
	snprintf(what, sizeof(what), "LUN %" PRIu32, r->lun);
	return edl_target_file_zero(s->lun[r->lun].fd, r->start * s->sector_size,
	                            r->count * s->sector_size, what, err);
}

int edl_target_storage_read_raw(const struct edl_target_storage *s, uint32_t lun, uint64_t sector,
                                uint64_t count, uint8_t *buf, struct edl_error *err)
{
	char what[48];
	int rc = check_flat(s, lun, sector, count, err);

	if (rc != EDL_OK)
		return rc;
	if (s->kind == EDL_STORAGE_NAND)
		return edl_target_nand_read_pages(s, sector, count, buf, err);
	snprintf(what, sizeof(what), "LUN %" PRIu32, lun);
	return edl_target_file_read(s->lun[lun].fd, sector * s->sector_size, buf,
	                            count * s->sector_size, what, err);
}

/* Bounds of a byte range of a LUN, for patch and CRC32. */
static int check_bytes(const struct edl_target_storage *s, uint32_t lun, uint64_t off, uint64_t n,
                       struct edl_error *err)
{
	if (s->kind == EDL_STORAGE_NAND)
		return edl_error_set(err, EDL_E_UNSUPPORTED,
		                     "byte-level access to NAND (pages must be programmed whole)");
	if (lun >= s->luns)
		return edl_error_set(err, EDL_E_RANGE,
		                     "LUN %" PRIu32 " does not exist (the device has %" PRIu32
		                     " LUN%s)",
		                     lun, s->luns, s->luns == 1 ? "" : "s");
	uint64_t size = s->lun[lun].sectors * s->sector_size;
	if (off > size || n > size - off)
		return edl_error_set(err, EDL_E_RANGE,
		                     "LUN %" PRIu32 " bytes 0x%" PRIx64 "+%" PRIu64
		                     " are outside the LUN of %" PRIu64 " bytes",
		                     lun, off, n, size);
	return EDL_OK;
}

int edl_target_storage_pread(const struct edl_target_storage *s, uint32_t lun, uint64_t off,
                             uint8_t *buf, uint64_t n, struct edl_error *err)
{
	char what[48];
	int rc = check_bytes(s, lun, off, n, err);

	if (rc != EDL_OK)
		return rc;
	snprintf(what, sizeof(what), "LUN %" PRIu32, lun);
	return edl_target_file_read(s->lun[lun].fd, off, buf, n, what, err);
}

int edl_target_storage_pwrite(struct edl_target_storage *s, uint32_t lun, uint64_t off,
                              const uint8_t *data, uint64_t n, struct edl_error *err)
{
	char what[48];
	int rc = check_bytes(s, lun, off, n, err);

	if (rc != EDL_OK)
		return rc;
	snprintf(what, sizeof(what), "LUN %" PRIu32, lun);
	return edl_target_file_write(s->lun[lun].fd, off, data, n, what, err);
}
