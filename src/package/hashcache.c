/*
 * The hash cache: lets an unchanged package reload without reading its images.
 * One text file per package (keyed by the package's real path), outside the
 * package, which may be read-only:
 *
 *   edlstation-hashcache 2
 *   F <size> <mtime_ns> <ctime_ns> <inode> <md5> <sha256> <crc_ok> <path>
 *   S <offset> <length> <total> <sha256>     (step digests of the F above)
 *   L <fill value, 8 hex> <total> <sha256>   (digests of sparse FILL steps)
 *   E <sha256 of every byte above this line>
 *
 * A file is served from the cache only when its path, size, mtime (ns), ctime
 * (ns) and inode all match (ctime because an in-place edit of the same size
 * with the mtime put back by touch -d / utimensat still moves the ctime, which
 * no unprivileged user can set; version 1 caches, without it, are ignored) and every digest the
 * plan needs is present; anything else is rehashed. A cache that is corrupt or truncated (the E
 * trailer is missing or wrong, a line does not parse) is ignored as a whole: the load rehashes and
 * rewrites it. Writes go to a temporary file renamed over the old one, so a
 * crash leaves the old cache or the new one, never half of one.
 */
#include "internal.h"

#include "edlstation/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAGIC "edlstation-hashcache 2\n"

static int sha256(const void *data, size_t len, uint8_t out[32])
{
	unsigned int n = 0;

	return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 ? EDL_OK : EDL_E_INTERNAL;
}

int pkg_cache_default_dir(char *out, size_t cap)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	int n;

	if (xdg != NULL && xdg[0] == '/')
		n = snprintf(out, cap, "%s/edlstation", xdg);
	else if (home != NULL && home[0] == '/')
		n = snprintf(out, cap, "%s/.cache/edlstation", home);
	else
		return EDL_E_NOENT;
	return n > 0 && (size_t)n < cap ? EDL_OK : EDL_E_RANGE;
}

int pkg_cache_path(char *out, size_t cap, const char *cache_dir, const char *root_real)
{
	uint8_t d[32];
	char hex[65];
	int n;

	if (sha256(root_real, strlen(root_real), d) != EDL_OK)
		return EDL_E_INTERNAL;
	pkg_hex(hex, d, 32);
	hex[16] = '\0';
	n = snprintf(out, cap, "%s/hashcache-%s", cache_dir, hex);
	return n > 0 && (size_t)n < cap ? EDL_OK : EDL_E_RANGE;
}

void pkg_cache_free(struct pkg_cache *c)
{
	for (size_t i = 0; i < c->n_files; i++) {
		free(c->files[i].path);
		free(c->files[i].segs);
	}
	free(c->files);
	free(c->fills);
	memset(c, 0, sizeof(*c));
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Reads one space- or end-terminated unsigned number token. */
static bool tok_u64(char **p, int base, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!(base == 16 ? is_hex(**p) : (**p >= '0' && **p <= '9')))
		return false;
	errno = 0;
	v = strtoull(*p, &end, base);
	if (errno != 0 || end == *p || (*end != ' ' && *end != '\0'))
		return false;
	*out = v;
	*p = *end == ' ' ? end + 1 : end;
	return true;
}

/* Reads a token of exactly 2n hex digits. */
static bool tok_hex(char **p, uint8_t *out, size_t n)
{
	char *s = *p;

	for (size_t i = 0; i < 2 * n; i++) {
		if (!is_hex(s[i]))
			return false;
	}
	if (s[2 * n] != ' ' && s[2 * n] != '\0')
		return false;
	pkg_unhex(out, s, n);
	*p = s[2 * n] == ' ' ? s + 2 * n + 1 : s + 2 * n;
	return true;
}

static int cmp_seg(const void *a, const void *b)
{
	const struct pkg_cache_seg *x = a, *y = b;

	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	if (x->total != y->total)
		return x->total < y->total ? -1 : 1;
	return 0;
}

static int cmp_file(const void *a, const void *b)
{
	const struct pkg_cache_file *x = a, *y = b;

	return strcmp(x->path, y->path);
}

static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return EDL_OK;
	size_t c = *cap ? *cap * 2 : 16;
	void *p = realloc(*arr, c * size);
	if (p == NULL)
		return EDL_E_NOMEM;
	*arr = p;
	*cap = c;
	return EDL_OK;
}

static int parse(struct pkg_cache *c, char *text, size_t len, struct edl_error *err)
{
	size_t cap_files = 0, cap_fills = 0, cap_segs = 0;
	struct pkg_cache_file *cur = NULL;
	char *line = text + strlen(CACHE_MAGIC);
	unsigned lineno = 1;

	while (line < text + len) {
		char *nl = memchr(line, '\n', (size_t)(text + len - line));
		char *p;

		lineno++;
		if (nl == NULL)
			return edl_error_set(err, EDL_E_PKG_CACHE, "line %u has no end", lineno);
		*nl = '\0';
		p = line + 2;
		if (line[0] == '\0' || line[1] != ' ')
			return edl_error_set(err, EDL_E_PKG_CACHE, "line %u is malformed", lineno);
		switch (line[0]) {
		case 'F': {
			struct pkg_cache_file f;
			uint64_t crc;
			memset(&f, 0, sizeof(f));
			if (!tok_u64(&p, 10, &f.size) || !tok_u64(&p, 10, &f.mtime_ns) ||
			    !tok_u64(&p, 10, &f.ctime_ns) || !tok_u64(&p, 10, &f.ino) ||
			    !tok_hex(&p, f.md5, 16) || !tok_hex(&p, f.sha256, 32) ||
			    !tok_u64(&p, 10, &crc) || crc > 1 || *p == '\0')
				return edl_error_set(err, EDL_E_PKG_CACHE, "line %u is malformed",
				                     lineno);
			f.crc_ok = crc == 1;
			if (grow((void **)&c->files, &cap_files, c->n_files, sizeof(f)) != EDL_OK)
				return edl_error_set(err, EDL_E_NOMEM, "no memory for the cache");
			f.path = strdup(p);
			if (f.path == NULL)
				return edl_error_set(err, EDL_E_NOMEM, "no memory for the cache");
			c->files[c->n_files++] = f;
			cur = &c->files[c->n_files - 1];
			cap_segs = 0;
			break;
		}
		case 'S': {
			struct pkg_cache_seg s;
			if (cur == NULL || !tok_u64(&p, 10, &s.off) || !tok_u64(&p, 10, &s.len) ||
			    !tok_u64(&p, 10, &s.total) || !tok_hex(&p, s.sha256, 32) || *p != '\0')
				return edl_error_set(err, EDL_E_PKG_CACHE, "line %u is malformed",
				                     lineno);
			if (grow((void **)&cur->segs, &cap_segs, cur->n_segs, sizeof(s)) != EDL_OK)
				return edl_error_set(err, EDL_E_NOMEM, "no memory for the cache");
			cur->segs[cur->n_segs++] = s;
			break;
		}
		case 'L': {
			struct pkg_cache_fill fl;
			uint64_t v;
			if (!tok_u64(&p, 16, &v) || v > UINT32_MAX || !tok_u64(&p, 10, &fl.total) ||
			    !tok_hex(&p, fl.sha256, 32) || *p != '\0')
				return edl_error_set(err, EDL_E_PKG_CACHE, "line %u is malformed",
				                     lineno);
			fl.value = (uint32_t)v;
			if (grow((void **)&c->fills, &cap_fills, c->n_fills, sizeof(fl)) != EDL_OK)
				return edl_error_set(err, EDL_E_NOMEM, "no memory for the cache");
			c->fills[c->n_fills++] = fl;
			break;
		}
		default:
			return edl_error_set(err, EDL_E_PKG_CACHE, "line %u has unknown tag '%c'",
			                     lineno, line[0]);
		}
		line = nl + 1;
	}
	for (size_t i = 0; i < c->n_files; i++) {
		if (c->files[i].n_segs > 1)
			qsort(c->files[i].segs, c->files[i].n_segs, sizeof(struct pkg_cache_seg),
			      cmp_seg);
	}
	if (c->n_files > 1)
		qsort(c->files, c->n_files, sizeof(struct pkg_cache_file), cmp_file);
	return EDL_OK;
}

int pkg_cache_read(struct pkg_cache *out, const char *path, struct edl_error *err)
{
	char *text = NULL;
	size_t len = 0, body;
	uint8_t want[32], got[32];
	char *trailer;
	int fd, rc;

	memset(out, 0, sizeof(*out));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return EDL_OK;
		return edl_error_set(err, EDL_E_PKG_CACHE, "cannot open %s: %s", path,
		                     strerror(errno));
	}
	rc = pkg_read_small_file(&text, &len, fd, PKG_CACHE_MAX, err);
	close(fd);
	if (rc != EDL_OK) {
		rc = edl_error_set(err, EDL_E_PKG_CACHE, "cannot read %s: %s", path, err->detail);
		goto out;
	}
	/* Header, then the trailer "E <64 hex>\n" over everything before it. */
	if (len < strlen(CACHE_MAGIC) + 67 || memcmp(text, CACHE_MAGIC, strlen(CACHE_MAGIC)) != 0) {
		rc = edl_error_set(err, EDL_E_PKG_CACHE, "%s has no cache header", path);
		goto out;
	}
	body = len - 67;
	trailer = text + body;
	if (trailer[-1] != '\n' || trailer[0] != 'E' || trailer[1] != ' ' || trailer[66] != '\n' ||
	    !pkg_unhex(want, trailer + 2, 32)) {
		rc = edl_error_set(err, EDL_E_PKG_CACHE, "%s is truncated (no checksum trailer)",
		                   path);
		goto out;
	}
	if (sha256(text, body, got) != EDL_OK || memcmp(want, got, 32) != 0) {
		rc = edl_error_set(err, EDL_E_PKG_CACHE, "%s is corrupt (checksum differs)", path);
		goto out;
	}
	rc = parse(out, text, body, err);
	if (rc != EDL_OK)
		pkg_cache_free(out);
out:
	free(text);
	return rc;
}

/* mkdir -p with mode 0700 (the cache is the user's own). */
static int mkdir_p(const char *dir)
{
	char buf[4096];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(buf))
		return errno = EINVAL, -1;
	memcpy(buf, dir, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, 0700) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

int pkg_cache_write(const struct edl_package *pkg, const char *path, struct edl_error *err)
{
	struct edl_buf b;
	char tmp[4096 + 32];
	char dir[4096];
	char md5[33], sha[65];
	uint8_t sum[32];
	int fd = -1, rc = EDL_OK;
	size_t off = 0;

	tmp[0] = '\0';
	edl_buf_init(&b);
	pkg_path_dirname(dir, sizeof(dir), path);
	if (mkdir_p(dir) != 0) {
		rc = edl_error_set(err, EDL_E_PKG_CACHE, "cannot create %s: %s", dir,
		                   strerror(errno));
		goto out;
	}
	rc = edl_buf_append(&b, CACHE_MAGIC, strlen(CACHE_MAGIC));
	for (size_t i = 0; rc == EDL_OK && i < pkg->n_files; i++) {
		const struct pkg_file *f = &pkg->files[i];
		if (!f->hashed || strchr(f->path, '\n') != NULL)
			continue;
		pkg_hex(md5, f->md5, 16);
		pkg_hex(sha, f->sha256, 32);
		rc = edl_buf_printf(&b, "F %llu %llu %llu %llu %s %s %d %s\n",
		                    (unsigned long long)f->size, (unsigned long long)f->mtime_ns,
		                    (unsigned long long)f->ctime_ns, (unsigned long long)f->ino,
		                    md5, sha, f->crc_ok ? 1 : 0, f->path);
		for (size_t s = 0; rc == EDL_OK && s < f->n_segs; s++) {
			if (!f->segs[s].done)
				continue;
			pkg_hex(sha, f->segs[s].sha256, 32);
			rc = edl_buf_printf(&b, "S %llu %llu %llu %s\n",
			                    (unsigned long long)f->segs[s].off,
			                    (unsigned long long)f->segs[s].len,
			                    (unsigned long long)f->segs[s].total, sha);
		}
	}
	for (size_t i = 0; rc == EDL_OK && i < pkg->n_fills; i++) {
		if (!pkg->fills[i].done)
			continue;
		pkg_hex(sha, pkg->fills[i].sha256, 32);
		rc = edl_buf_printf(&b, "L %08x %llu %s\n", pkg->fills[i].value,
		                    (unsigned long long)pkg->fills[i].total, sha);
	}
	if (rc == EDL_OK)
		rc = sha256(edl_buf_head(&b), edl_buf_size(&b), sum);
	if (rc == EDL_OK) {
		pkg_hex(sha, sum, 32);
		rc = edl_buf_printf(&b, "E %s\n", sha);
	}
	if (rc != EDL_OK) {
		rc = edl_error_set(err, rc, "cannot build the cache");
		goto out;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = edl_error_set(err, EDL_E_PKG_CACHE, "cannot create %s: %s", tmp,
		                   strerror(errno));
		goto out;
	}
	while (off < edl_buf_size(&b)) {
		ssize_t n = write(fd, edl_buf_head(&b) + off, edl_buf_size(&b) - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = edl_error_set(err, EDL_E_PKG_CACHE, "cannot write %s: %s", tmp,
			                   strerror(errno));
			goto out;
		}
		off += (size_t)n;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = edl_error_set(err, EDL_E_PKG_CACHE, "cannot write %s: %s", tmp,
		                   strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		rc = edl_error_set(err, EDL_E_PKG_CACHE, "cannot rename %s: %s", tmp,
		                   strerror(errno));
		goto out;
	}
	tmp[0] = '\0';
out:
	if (fd >= 0)
		close(fd);
	if (rc != EDL_OK && tmp[0] != '\0')
		unlink(tmp);
	edl_buf_free(&b);
	return rc;
}

size_t pkg_cache_apply(struct edl_package *pkg, const struct pkg_cache *c)
{
	size_t served = 0;

	for (size_t i = 0; i < pkg->n_files; i++) {
		struct pkg_file *f = &pkg->files[i];
		struct pkg_cache_file key = {.path = f->path};
		const struct pkg_cache_file *cf;
		bool all = true;

		if (c->n_files == 0)
			break;
		cf = bsearch(&key, c->files, c->n_files, sizeof(*c->files), cmp_file);
		if (cf == NULL || cf->size != f->size || cf->mtime_ns != f->mtime_ns ||
		    cf->ctime_ns != f->ctime_ns || cf->ino != f->ino ||
		    (f->sparse_crc && !cf->crc_ok))
			continue;
		for (size_t s = 0; s < f->n_segs && all; s++) {
			struct pkg_cache_seg k = {.off = f->segs[s].off,
			                          .len = f->segs[s].len,
			                          .total = f->segs[s].total};
			all = cf->n_segs > 0 &&
			      bsearch(&k, cf->segs, cf->n_segs, sizeof(k), cmp_seg) != NULL;
		}
		if (!all)
			continue;
		for (size_t s = 0; s < f->n_segs; s++) {
			struct pkg_cache_seg k = {.off = f->segs[s].off,
			                          .len = f->segs[s].len,
			                          .total = f->segs[s].total};
			const struct pkg_cache_seg *cs =
			        bsearch(&k, cf->segs, cf->n_segs, sizeof(k), cmp_seg);
			memcpy(f->segs[s].sha256, cs->sha256, 32);
			f->segs[s].done = true;
		}
		memcpy(f->md5, cf->md5, 16);
		memcpy(f->sha256, cf->sha256, 32);
		f->crc_ok = cf->crc_ok;
		f->hashed = true;
		f->from_cache = true;
		served++;
	}
	for (size_t i = 0; i < pkg->n_fills; i++) {
		for (size_t j = 0; j < c->n_fills; j++) {
			if (c->fills[j].value == pkg->fills[i].value &&
			    c->fills[j].total == pkg->fills[i].total) {
				memcpy(pkg->fills[i].sha256, c->fills[j].sha256, 32);
				pkg->fills[i].done = true;
				break;
			}
		}
	}
	return served;
}
