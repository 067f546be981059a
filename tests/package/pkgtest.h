/*
 * Helpers for the package tests: temporary package directories, files of
 * seeded pseudo-random bytes, the real samples (EDL_SAMPLES), loading with a
 * private hash cache, and looking up diagnostics.
 */
#ifndef EDLSTATION_PKGTEST_H
#define EDLSTATION_PKGTEST_H

#include <stddef.h>
#include <stdint.h>

#include "edlstation/package.h"

/* A fresh directory under $TMPDIR (or /tmp); the caller removes it with pt_rmtree. */
char *pt_mkdtemp(void);
void pt_rmtree(const char *dir);

/* mkdir -p of dir/rel's parent, then writes len bytes. */
void pt_write(const char *dir, const char *rel, const void *data, size_t len);
void pt_write_str(const char *dir, const char *rel, const char *text);
/* len bytes of a seeded xorshift stream. */
void pt_write_random(const char *dir, const char *rel, size_t len, uint32_t seed);
void pt_random(uint8_t *out, size_t len, uint32_t seed);
/* Reads a whole file (malloc'd, NUL-terminated); NULL when absent. */
char *pt_read(const char *path, size_t *len);

/* Path of a sample in EDL_SAMPLES (static buffer of the caller). */
void pt_sample(char *out, size_t cap, const char *name);
/* Copies a sample to dir/rel. */
void pt_copy_sample(const char *dir, const char *rel, const char *sample);

/* Creates every image a rawprogram file names (sizes: a fraction of the partition,
 * at most max_bytes, seeded), relative to the XML's folder. */
void pt_make_images(const char *dir, const char *xml_rel, size_t max_bytes, uint32_t seed);

/* Loads dir with a private cache directory (cache_dir may be NULL: no cache) and
 * the given options (NULL: defaults). Returns the load's code. */
int pt_load(struct edl_package **out, const char *dir, const char *cache_dir,
            struct edl_package_options *opt, struct edl_error *err);

/* The first diagnostic of severity sev whose message contains text, or NULL. */
const struct edl_package_diag *pt_find_diag(const struct edl_package *pkg, int sev,
                                            const char *text);
/* Prints every diagnostic (for failing tests). */
void pt_dump_diags(const struct edl_package *pkg);

void pt_sha256(const void *data, size_t len, uint8_t out[32]);
void pt_md5(const void *data, size_t len, uint8_t out[16]);

/* Writes dir/md5.txt in Quectel's format (VERSION, FILE:START, FILE:\\path:HEX,
 * FILE:END, CRLF) over every file under dir. */
void pt_write_quectel_md5(const char *dir);

/* Writes a small Android sparse image (4096-byte blocks): RAW 2, DONT_CARE 3,
 * FILL 0x55555555 2, RAW 1 = 8 blocks, 32 KiB expanded. */
void pt_write_sparse(const char *dir, const char *rel, uint32_t seed);

#endif
