/*
 * A unit's memory dump on disk (dump_writer.h): the limit and free-space
 * checks before anything is read, the region files, their SHA-256 while they
 * are written, and the manifest. Names come from the table parser, which has
 * already made them safe file names; the directory names are ours (the serial
 * is sanitized again, the time is formatted here), region files are created
 * with O_EXCL | O_NOFOLLOW, so nothing a unit says can put a byte outside
 * DIR/<serial>/<time>/.
 */
#include "edlstation/dump_writer.h"
#include "edlstation/json.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_RESERVE ((uint64_t)16 << 20)
#define MIB ((uint64_t)1 << 20)

struct dump_file {
	struct edl_dump_file pub;
	char name[40];
	char raw_name[81];
	char desc[21];
	char sha256[65];
	char *path;
	int fd;
	EVP_MD_CTX *md;
};

struct edl_dump_writer {
	struct edl_dump_writer_options o;
	char *dir_opt;
	char serial[64];
	struct edl_sahara_dump_sink sink;
	char dir[4096]; /* DIR/<serial>/<time>, "" until created */
	struct dump_file *files;
	size_t n;
	bool is64;
	uint64_t total, written;
	bool complete;      /* every region written, manifest written */
	bool manifest_done; /* a manifest (complete or not) is on disk */
};

/* A directory name from a serial: [A-Za-z0-9_-] only, "unknown" when empty. */
static void safe_serial(char *out, size_t cap, const char *serial)
{
	size_t n = 0;

	for (const char *p = serial ? serial : ""; *p && n + 1 < cap; p++) {
		unsigned char c = (unsigned char)*p;

		out[n++] = (char)((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		                                  (c >= 'A' && c <= 'Z') || c == '-' || c == '_'
		                          ? c
		                          : '_');
	}
	out[n] = '\0';
	if (n == 0)
		snprintf(out, cap, "unknown");
}

int edl_dump_writer_new(struct edl_dump_writer **out, const struct edl_dump_writer_options *o)
{
	struct edl_dump_writer *w = calloc(1, sizeof(*w));

	*out = NULL;
	if (w == NULL)
		return EDL_E_NOMEM;
	w->o = *o;
	w->dir_opt = strdup(o->dir ? o->dir : "");
	if (w->dir_opt == NULL) {
		free(w);
		return EDL_E_NOMEM;
	}
	w->o.dir = w->dir_opt;
	w->o.serial = NULL;
	if (w->o.reserve_bytes == 0)
		w->o.reserve_bytes = DEFAULT_RESERVE;
	safe_serial(w->serial, sizeof(w->serial), o->serial);
	*out = w;
	return EDL_OK;
}

void edl_dump_writer_free(struct edl_dump_writer *w)
{
	if (w == NULL)
		return;
	for (size_t i = 0; i < w->n; i++) {
		if (w->files[i].fd >= 0)
			close(w->files[i].fd);
		EVP_MD_CTX_free(w->files[i].md);
		free(w->files[i].path);
	}
	free(w->files);
	free(w->dir_opt);
	free(w);
}

/* mkdir -p of an existing-or-new directory. */
static int make_dirs(const char *path, struct edl_error *err)
{
	char buf[4096];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return edl_error_set(err, EDL_E_CONFIG,
		                     "[rma] dump_dir '%.200s' is not a usable directory path",
		                     path);
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return edl_error_set(err, EDL_E_IO,
			                     "creating %s for the memory dump: %s; check [rma] "
			                     "dump_dir",
			                     buf, strerror(errno));
		buf[i] = c;
	}
	return EDL_OK;
}

static void size_mib(char *out, size_t cap, uint64_t bytes)
{
	snprintf(out, cap, "%" PRIu64 " MiB", (bytes + MIB - 1) / MIB);
}

/* The dump's own directory: DIR/<serial>/<UTC time>[-N]. */
static int make_dump_dir(struct edl_dump_writer *w, struct edl_error *err)
{
	char base[3900], stamp[32];
	time_t t = (time_t)(w->o.wall_ms / 1000);
	struct tm tm;
	int rc;

	snprintf(base, sizeof(base), "%s/%s", w->o.dir, w->serial);
	rc = make_dirs(base, err);
	if (rc != EDL_OK)
		return rc;
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (unsigned k = 1; k < 1000; k++) {
		if (k == 1)
			snprintf(w->dir, sizeof(w->dir), "%s/%s", base, stamp);
		else
			snprintf(w->dir, sizeof(w->dir), "%s/%s-%u", base, stamp, k);
		if (mkdir(w->dir, 0755) == 0)
			return EDL_OK;
		if (errno != EEXIST)
			break;
	}
	rc = edl_error_set(err, EDL_E_IO, "creating %s for the memory dump: %s", w->dir,
	                   strerror(errno));
	w->dir[0] = '\0';
	return rc;
}

static int open_file(struct edl_dump_writer *w, struct dump_file *f, struct edl_error *err)
{
	f->fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (f->fd < 0)
		return edl_error_set(err, EDL_E_IO, "creating %s: %s", f->path, strerror(errno));
	f->md = EVP_MD_CTX_new();
	if (f->md == NULL || EVP_DigestInit_ex(f->md, EVP_sha256(), NULL) != 1)
		return edl_error_set(err, EDL_E_NOMEM, "SHA-256 of %s", f->path);
	(void)w;
	return EDL_OK;
}

static int close_file(struct dump_file *f, struct edl_error *err)
{
	uint8_t md[32];
	unsigned int n = 32;
	int rc = EDL_OK;

	if (EVP_DigestFinal_ex(f->md, md, &n) != 1)
		memset(md, 0, sizeof(md));
	for (int i = 0; i < 32; i++)
		snprintf(f->sha256 + 2 * i, 3, "%02x", md[i]);
	if (fsync(f->fd) != 0 || close(f->fd) != 0)
		rc = edl_error_set(err, EDL_E_IO, "writing %s: %s", f->path, strerror(errno));
	f->fd = -1;
	f->pub.complete = rc == EDL_OK;
	f->pub.sha256 = f->sha256;
	return rc;
}

static int sink_begin(void *data, const struct edl_sahara_region *r, size_t n, uint64_t total,
                      bool is64, struct edl_error *err)
{
	struct edl_dump_writer *w = data;
	struct statvfs sv;
	char need[32], lim[32], have[32];
	int rc;

	w->is64 = is64;
	w->total = total;
	size_mib(need, sizeof(need), total);
	if (total > w->o.max_bytes) {
		size_mib(lim, sizeof(lim), w->o.max_bytes);
		return edl_error_set(err, EDL_E_MEMORY_DUMP,
		                     "memory dump not collected: the unit's memory table lists %zu "
		                     "regions, %" PRIu64 " bytes (%s), more than [rma] dump_max_mb "
		                     "= %" PRIu64 "; raise dump_max_mb to at least %" PRIu64
		                     " to collect it; the unit was reset",
		                     n, total, need, w->o.max_bytes / MIB, (total + MIB - 1) / MIB);
	}
	rc = make_dirs(w->o.dir, err);
	if (rc != EDL_OK)
		return rc;
	if (statvfs(w->o.dir, &sv) != 0)
		return edl_error_set(err, EDL_E_IO, "checking the free space of %s: %s", w->o.dir,
		                     strerror(errno));
	uint64_t avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	if (avail < total || avail - total < w->o.reserve_bytes) {
		size_mib(have, sizeof(have), avail);
		return edl_error_set(err, EDL_E_MEMORY_DUMP,
		                     "memory dump not collected: %s has %s free, the dump needs %s "
		                     "and %" PRIu64
		                     " MiB to spare; free space there or point [rma] "
		                     "dump_dir elsewhere; the unit was reset",
		                     w->o.dir, have, need, w->o.reserve_bytes / MIB);
	}
	rc = make_dump_dir(w, err);
	if (rc != EDL_OK)
		return rc;
	w->files = calloc(n ? n : 1, sizeof(*w->files));
	if (w->files == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "memory dump of %zu regions", n);
	w->n = n;
	for (size_t i = 0; i < n; i++) {
		struct dump_file *f = &w->files[i];
		size_t plen = strlen(w->dir) + strlen(r[i].name) + 2;

		f->fd = -1;
		snprintf(f->name, sizeof(f->name), "%s", r[i].name);
		snprintf(f->raw_name, sizeof(f->raw_name), "%s", r[i].raw_name);
		snprintf(f->desc, sizeof(f->desc), "%s", r[i].desc);
		f->path = malloc(plen);
		if (f->path == NULL)
			return edl_error_set(err, EDL_E_NOMEM, "memory dump paths");
		snprintf(f->path, plen, "%s/%s", w->dir, r[i].name);
		f->pub = (struct edl_dump_file){.name = f->name,
		                                .path = f->path,
		                                .desc = f->desc,
		                                .base = r[i].base,
		                                .size = r[i].length};
		if (r[i].length == 0) {
			/* Nothing to read: the file exists, empty. */
			rc = open_file(w, f, err);
			if (rc == EDL_OK)
				rc = close_file(f, err);
			if (rc != EDL_OK)
				return rc;
		}
	}
	return EDL_OK;
}

static int sink_data(void *data, size_t i, uint64_t offset, const uint8_t *bytes, size_t len,
                     struct edl_error *err)
{
	struct edl_dump_writer *w = data;
	struct dump_file *f;
	int rc;

	if (i >= w->n)
		return edl_error_set(err, EDL_E_INTERNAL, "region %zu of %zu", i, w->n);
	f = &w->files[i];
	if (offset == 0 && f->fd < 0) {
		rc = open_file(w, f, err);
		if (rc != EDL_OK)
			return rc;
	}
	if (f->fd < 0 || offset != f->pub.written)
		return edl_error_set(err, EDL_E_INTERNAL, "%s: bytes at %" PRIu64 " after %" PRIu64,
		                     f->path, offset, f->pub.written);
	for (size_t done = 0; done < len;) {
		ssize_t n = write(f->fd, bytes + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return edl_error_set(err, EDL_E_IO,
			                     "writing %s: %s; the dump stops here (the manifest "
			                     "says incomplete)",
			                     f->path, n < 0 ? strerror(errno) : "nothing written");
		done += (size_t)n;
	}
	EVP_DigestUpdate(f->md, bytes, len);
	f->pub.written += len;
	w->written += len;
	if (f->pub.written == f->pub.size)
		return close_file(f, err);
	return EDL_OK;
}

static int write_manifest(struct edl_dump_writer *w, bool complete, const char *reason,
                          struct edl_error *err)
{
	char path[4200], tmp[4210];
	struct edl_json j;
	FILE *f;

	snprintf(path, sizeof(path), "%s/manifest.json", w->dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (f == NULL)
		return edl_error_set(err, EDL_E_IO, "writing %s: %s", tmp, strerror(errno));
	edl_json_init_file(&j, f, 1);
	edl_json_object_begin(&j);
	edl_json_key(&j, "serial");
	edl_json_string(&j, w->serial);
	edl_json_key(&j, "complete");
	edl_json_bool(&j, complete);
	edl_json_key(&j, "reason");
	edl_json_string(&j, complete ? NULL : reason);
	edl_json_key(&j, "table");
	edl_json_string(&j, w->is64 ? "64-bit" : "32-bit");
	edl_json_key(&j, "created_ms");
	edl_json_int(&j, w->o.wall_ms);
	edl_json_key(&j, "bytes");
	edl_json_uint(&j, w->total);
	edl_json_key(&j, "written");
	edl_json_uint(&j, w->written);
	edl_json_key(&j, "regions");
	edl_json_array_begin(&j);
	for (size_t i = 0; i < w->n; i++) {
		const struct dump_file *d = &w->files[i];

		edl_json_object_begin(&j);
		edl_json_key(&j, "name");
		edl_json_string(&j, d->name);
		edl_json_key(&j, "table_name");
		edl_json_string(&j, d->raw_name);
		edl_json_key(&j, "description");
		edl_json_string(&j, d->desc);
		edl_json_key(&j, "base");
		edl_json_stringf(&j, "0x%" PRIx64, d->pub.base);
		edl_json_key(&j, "size");
		edl_json_uint(&j, d->pub.size);
		edl_json_key(&j, "written");
		edl_json_uint(&j, d->pub.written);
		edl_json_key(&j, "sha256");
		edl_json_string(&j, d->pub.complete ? d->sha256 : NULL);
		edl_json_object_end(&j);
	}
	edl_json_array_end(&j);
	edl_json_object_end(&j);
	if (edl_json_finish(&j) != EDL_OK || fputc('\n', f) == EOF || fflush(f) != 0 ||
	    fsync(fileno(f)) != 0) {
		int e = errno;
		fclose(f);
		unlink(tmp);
		return edl_error_set(err, EDL_E_IO, "writing %s: %s", tmp, strerror(e));
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		return edl_error_set(err, EDL_E_IO, "writing %s: %s", path, strerror(errno));
	w->manifest_done = true;
	return EDL_OK;
}

static int sink_end(void *data, struct edl_error *err)
{
	struct edl_dump_writer *w = data;
	int rc = write_manifest(w, true, NULL, err);

	w->complete = rc == EDL_OK;
	return rc;
}

const struct edl_sahara_dump_sink *edl_dump_writer_sink(struct edl_dump_writer *w)
{
	w->sink = (struct edl_sahara_dump_sink){sink_begin, sink_data, sink_end, w};
	return &w->sink;
}

int edl_dump_writer_abandon(struct edl_dump_writer *w, const char *reason, struct edl_error *err)
{
	if (w->dir[0] == '\0' || w->complete)
		return EDL_OK;
	/* The partial files stay as they are, each says how far it got. */
	for (size_t i = 0; i < w->n; i++) {
		if (w->files[i].fd >= 0) {
			close(w->files[i].fd);
			w->files[i].fd = -1;
		}
	}
	return write_manifest(w, false, reason ? reason : "the dump stopped", err);
}

const char *edl_dump_writer_dir(const struct edl_dump_writer *w)
{
	return w->dir;
}

bool edl_dump_writer_complete(const struct edl_dump_writer *w)
{
	return w->complete;
}

size_t edl_dump_writer_files(const struct edl_dump_writer *w)
{
	return w->n;
}

const struct edl_dump_file *edl_dump_writer_file(const struct edl_dump_writer *w, size_t i)
{
	return i < w->n ? &w->files[i].pub : NULL;
}

uint64_t edl_dump_writer_bytes(const struct edl_dump_writer *w)
{
	return w->written;
}
