/*
 * The package's files: each one opened once (however many steps, manifests or
 * XML files name it), its identity taken from fstat (size, mtime in ns, inode:
 * the hash cache key) and its bytes mapped read-only for the plan's program
 * steps (MAP_PRIVATE, guarded against truncation by guard.c; the programmer,
 * small, is copied instead: pkg_file_copy). A mapping costs no memory until the flash engine reads
 * it, and then only page cache shared by every session. The digests the hashing pass must compute
 * for a file (whole-file MD5/SHA-256 and one SHA-256 per program step, "segments") are registered
 * here.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int pkg_file_open(struct edl_package *pkg, const char *rel, long *index, char *found,
                  size_t found_cap, struct edl_error *err)
{
	struct pkg_file *f;
	struct stat st;
	char alt[PKG_PATH_MAX + 1];
	const char *name = rel;
	int fd, rc;

	for (size_t i = 0; i < pkg->n_files; i++) {
		if (strcmp(pkg->files[i].path, rel) == 0) {
			*index = (long)i;
			return EDL_OK;
		}
	}
	rc = pkg_path_open(&fd, pkg->root_real, rel, alt, sizeof(alt), err);
	if (rc != EDL_OK)
		return rc;
	if (alt[0] != '\0') {
		name = alt;
		if (found != NULL)
			snprintf(found, found_cap, "%s", alt);
		/* The same file may already be open under its real name. */
		for (size_t i = 0; i < pkg->n_files; i++) {
			if (strcmp(pkg->files[i].path, alt) == 0) {
				close(fd);
				*index = (long)i;
				return EDL_OK;
			}
		}
	}
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return edl_error_set(err, edl_error_from_errno(e), "stat '%s': %s", name,
		                     strerror(e));
	}
	if (pkg->n_files == pkg->cap_files) {
		size_t cap = pkg->cap_files ? pkg->cap_files * 2 : 32;
		struct pkg_file *n = realloc(pkg->files, cap * sizeof(*n));
		if (n == NULL) {
			close(fd);
			return edl_error_set(err, EDL_E_NOMEM, "no memory for file '%s'", name);
		}
		pkg->files = n;
		pkg->cap_files = cap;
	}
	f = &pkg->files[pkg->n_files];
	memset(f, 0, sizeof(*f));
	snprintf(f->path, sizeof(f->path), "%s", name);
	f->fd = fd;
	f->size = (uint64_t)st.st_size;
	f->mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
	f->ctime_ns = (uint64_t)st.st_ctim.tv_sec * 1000000000ull + (uint64_t)st.st_ctim.tv_nsec;
	f->ino = (uint64_t)st.st_ino;
	f->dev = (uint64_t)st.st_dev;
	if (f->size > 0) {
		void *m = mmap(NULL, (size_t)f->size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED) {
			int e = errno;
			close(fd);
			return edl_error_set(err, edl_error_from_errno(e), "mmap '%s': %s", name,
			                     strerror(e));
		}
		f->map = m;
		f->mapped = true;
		f->guard = pkg_guard_add(m, (size_t)f->size);
	}
	*index = (long)pkg->n_files++;
	return EDL_OK;
}

int pkg_file_add_segment(struct pkg_file *f, uint64_t off, uint64_t len, uint64_t total,
                         size_t *index)
{
	if (off > f->size || len > f->size - off || total < len)
		return EDL_E_INTERNAL;
	for (size_t i = 0; i < f->n_segs; i++) {
		if (f->segs[i].off == off && f->segs[i].len == len && f->segs[i].total == total) {
			*index = i;
			return EDL_OK;
		}
	}
	if (f->n_segs == f->cap_segs) {
		size_t cap = f->cap_segs ? f->cap_segs * 2 : 4;
		struct pkg_segment *n = realloc(f->segs, cap * sizeof(*n));
		if (n == NULL)
			return EDL_E_NOMEM;
		f->segs = n;
		f->cap_segs = cap;
	}
	memset(&f->segs[f->n_segs], 0, sizeof(f->segs[0]));
	f->segs[f->n_segs].off = off;
	f->segs[f->n_segs].len = len;
	f->segs[f->n_segs].total = total;
	*index = f->n_segs++;
	return EDL_OK;
}

int pkg_fill_add(struct edl_package *pkg, uint32_t value, uint64_t total, size_t *index)
{
	for (size_t i = 0; i < pkg->n_fills; i++) {
		if (pkg->fills[i].value == value && pkg->fills[i].total == total) {
			*index = i;
			return EDL_OK;
		}
	}
	if (pkg->n_fills == pkg->cap_fills) {
		size_t cap = pkg->cap_fills ? pkg->cap_fills * 2 : 8;
		struct pkg_fill *n = realloc(pkg->fills, cap * sizeof(*n));
		if (n == NULL)
			return EDL_E_NOMEM;
		pkg->fills = n;
		pkg->cap_fills = cap;
	}
	memset(&pkg->fills[pkg->n_fills], 0, sizeof(pkg->fills[0]));
	pkg->fills[pkg->n_fills].value = value;
	pkg->fills[pkg->n_fills].total = total;
	*index = pkg->n_fills++;
	return EDL_OK;
}

int pkg_file_copy(struct pkg_file *f, struct edl_error *err)
{
	uint8_t *copy;
	uint64_t got = 0;

	if (!f->mapped || f->size > PKG_COPY_MAX || f->fd < 0)
		return EDL_OK;
	copy = malloc((size_t)f->size);
	if (copy == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "no memory to copy '%s'", f->path);
	while (got < f->size) {
		ssize_t n = pread(f->fd, copy + got, (size_t)(f->size - got), (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : 0;
			free(copy);
			if (n == 0)
				return edl_error_set(
				        err, EDL_E_PKG_CHANGED,
				        "package changed under the station: %s ends at "
				        "%llu bytes while it was loaded, was %llu",
				        f->path, (unsigned long long)got,
				        (unsigned long long)f->size);
			return edl_error_set(err, edl_error_from_errno(e), "reading '%s': %s",
			                     f->path, strerror(e));
		}
		got += (uint64_t)n;
	}
	pkg_guard_remove(f->guard);
	f->guard = NULL;
	munmap((void *)f->map, (size_t)f->size);
	f->map = copy;
	f->mapped = false;
	f->copied = true;
	return EDL_OK;
}

void pkg_file_close(struct pkg_file *f)
{
	if (f->mapped) {
		pkg_guard_remove(f->guard);
		f->guard = NULL;
		munmap((void *)f->map, (size_t)f->size);
	}
	if (f->copied)
		free((void *)f->map);
	f->copied = false;
	f->map = NULL;
	f->mapped = false;
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	free(f->segs);
	f->segs = NULL;
	f->n_segs = f->cap_segs = 0;
}
