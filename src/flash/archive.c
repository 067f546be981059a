/*
 * The files of an RMA archive (issue 15): DIR/<serial>/<run>/<label>.bin with
 * a sha256sum-style <label>.bin.sha256 beside it, written by the preserve
 * stage of the flash job and read back by `edlstation restore`. A file is
 * written to a temporary name, fsynced and renamed, so a crash never leaves a
 * half archive under the final name. Names from outside (serial, run, label)
 * are checked to be one plain path component each.
 */
#include "flash/job_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One path component of letters, digits, '-', '_' and '.', not "." or "..". */
bool job_archive_name_ok(const char *s)
{
	if (s == NULL || s[0] == '\0' || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 ||
	    strlen(s) > 64)
		return false;
	for (const char *p = s; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

static int mkdir_p(char *path, struct edl_error *err)
{
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST) {
			int e = errno;
			*p = saved;
			return edl_error_set(err, EDL_E_ARCHIVE, "cannot create %s: %s", path,
			                     strerror(e));
		}
		*p = saved;
		if (saved == '\0')
			return EDL_OK;
	}
}

static int write_whole(const char *path, const uint8_t *data, size_t len, struct edl_error *err)
{
	char tmp[4200];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.part", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return edl_error_set(err, EDL_E_ARCHIVE, "cannot create %s: %s", tmp,
		                     strerror(errno));
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : ENOSPC;
			close(fd);
			unlink(tmp);
			return edl_error_set(err, EDL_E_ARCHIVE, "writing %s: %s", tmp,
			                     strerror(e));
		}
		off += (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		return edl_error_set(err, EDL_E_ARCHIVE, "writing %s: %s", path, strerror(e));
	}
	return EDL_OK;
}

int job_archive_write(const char *dir, const char *serial, const char *run, const char *label,
                      const uint8_t *data, size_t len, const char *sha_hex, char *path,
                      size_t path_len, struct edl_error *err)
{
	char folder[4096], line[160];
	int n;

	if (!job_archive_name_ok(serial) || !job_archive_name_ok(run) ||
	    !job_archive_name_ok(label))
		return edl_error_set(err, EDL_E_ARCHIVE,
		                     "archive name '%s/%s/%s' is not plain path components", serial,
		                     run, label);
	n = snprintf(folder, sizeof(folder), "%s/%s/%s", dir, serial, run);
	if (n < 0 || (size_t)n >= sizeof(folder) ||
	    (size_t)snprintf(path, path_len, "%s/%s.bin", folder, label) >= path_len)
		return edl_error_set(err, EDL_E_ARCHIVE, "archive path under %s is too long", dir);
	int rc = mkdir_p(folder, err);
	if (rc != EDL_OK)
		return rc;
	rc = write_whole(path, data, len, err);
	if (rc != EDL_OK)
		return rc;
	n = snprintf(line, sizeof(line), "%s  %s.bin\n", sha_hex, label);
	char sum[4200];
	snprintf(sum, sizeof(sum), "%s.sha256", path);
	return write_whole(sum, (const uint8_t *)line, (size_t)n, err);
}

int job_archive_read(const char *dir, const char *label, uint8_t **out, size_t *len,
                     char sha_hex[65], char *path, size_t path_len, struct edl_error *err)
{
	char sum[4200], line[160];
	struct stat st;
	FILE *f;

	*out = NULL;
	*len = 0;
	if (!job_archive_name_ok(label))
		return edl_error_set(err, EDL_E_ARCHIVE, "label '%s' is not a file name", label);
	if ((size_t)snprintf(path, path_len, "%s/%s.bin", dir, label) >= path_len)
		return edl_error_set(err, EDL_E_ARCHIVE, "archive path under %s is too long", dir);
	snprintf(sum, sizeof(sum), "%s.sha256", path);
	f = fopen(sum, "r");
	if (f == NULL)
		return edl_error_set(err, EDL_E_ARCHIVE, "cannot open %s: %s", sum,
		                     strerror(errno));
	bool ok = fgets(line, sizeof(line), f) != NULL;
	fclose(f);
	size_t hex = ok ? strspn(line, "0123456789abcdef") : 0;
	if (hex != 64)
		return edl_error_set(err, EDL_E_ARCHIVE, "%s holds no SHA-256 (64 hex digits)",
		                     sum);
	memcpy(sha_hex, line, 64);
	sha_hex[64] = '\0';
	f = fopen(path, "rb");
	if (f == NULL)
		return edl_error_set(err, EDL_E_ARCHIVE, "cannot open %s: %s", path,
		                     strerror(errno));
	if (fstat(fileno(f), &st) != 0 || st.st_size <= 0 ||
	    (uint64_t)st.st_size > JOB_PRESERVE_MAX_BYTES) {
		fclose(f);
		return edl_error_set(err, EDL_E_ARCHIVE, "%s: empty or over %u MiB", path,
		                     (unsigned)(JOB_PRESERVE_MAX_BYTES >> 20));
	}
	*out = malloc((size_t)st.st_size);
	if (*out == NULL || fread(*out, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		fclose(f);
		free(*out);
		*out = NULL;
		return edl_error_set(err, EDL_E_ARCHIVE, "reading %s failed", path);
	}
	fclose(f);
	*len = (size_t)st.st_size;
	return EDL_OK;
}
