/*
 * Paths inside the package. Every name a package file gives (rawprogram
 * filename, md5.txt entry, option) is resolved here: Windows separators
 * accepted (`..\tz.mbn`), resolved relative to the naming file's folder, and
 * refused when it is absolute or climbs out of the package root, lexically
 * (`../../etc/passwd`) or through a symbolic link that leads outside. A package
 * built on Windows may name files in another case than the disk holds: a
 * missing file is looked up case-insensitively before it is declared missing.
 */
#include "internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_COMPONENTS 64

int pkg_path_join(char *out, size_t cap, const char *base_dir, const char *name,
                  struct edl_error *err)
{
	char buf[2 * (PKG_PATH_MAX + 1) + 2];
	const char *comp[MAX_COMPONENTS];
	size_t ncomp = 0, len = 0;
	char *save = NULL;

	if (name == NULL || name[0] == '\0')
		return edl_error_set(err, EDL_E_PKG_PARSE, "empty file name");
	if (name[0] == '/' || name[0] == '\\')
		return edl_error_set(err, EDL_E_PKG_ESCAPE,
		                     "'%s' is an absolute path: files must be inside the package",
		                     name);
	if (isalpha((unsigned char)name[0]) && name[1] == ':')
		return edl_error_set(err, EDL_E_PKG_ESCAPE,
		                     "'%s' is a drive path: files must be inside the package",
		                     name);
	if (strlen(base_dir) + strlen(name) + 2 > sizeof(buf))
		return edl_error_set(err, EDL_E_PKG_PARSE, "path '%s' is too long", name);
	if (snprintf(buf, sizeof(buf), "%s%s%s", base_dir, base_dir[0] ? "/" : "", name) >=
	    (int)sizeof(buf))
		return edl_error_set(err, EDL_E_PKG_PARSE, "path '%s' is too long", name);
	for (char *p = buf; *p; p++) {
		if (*p == '\\')
			*p = '/';
	}
	for (char *tok = strtok_r(buf, "/", &save); tok != NULL; tok = strtok_r(NULL, "/", &save)) {
		if (strcmp(tok, ".") == 0)
			continue;
		if (strcmp(tok, "..") == 0) {
			if (ncomp == 0)
				return edl_error_set(err, EDL_E_PKG_ESCAPE,
				                     "'%s' leads outside the package directory",
				                     name);
			ncomp--;
			continue;
		}
		if (ncomp == MAX_COMPONENTS)
			return edl_error_set(err, EDL_E_PKG_PARSE, "path '%s' is too deep", name);
		comp[ncomp++] = tok;
	}
	if (ncomp == 0)
		return edl_error_set(err, EDL_E_PKG_PARSE,
		                     "'%s' names the package directory itself", name);
	for (size_t i = 0; i < ncomp; i++) {
		size_t n = strlen(comp[i]);
		if (len + n + (i ? 1 : 0) + 1 > cap)
			return edl_error_set(err, EDL_E_PKG_PARSE, "path '%s' is too long", name);
		if (i)
			out[len++] = '/';
		memcpy(out + len, comp[i], n);
		len += n;
	}
	out[len] = '\0';
	return EDL_OK;
}

void pkg_path_dirname(char *out, size_t cap, const char *rel)
{
	const char *slash = strrchr(rel, '/');
	size_t n = slash != NULL ? (size_t)(slash - rel) : 0;

	if (n >= cap)
		n = cap - 1;
	memcpy(out, rel, n);
	out[n] = '\0';
}

/* Finds rel under root with case-insensitive component matching; each component
 * must match exactly one directory entry. */
static bool find_nocase(const char *root_real, const char *rel, char *out, size_t cap)
{
	char work[PKG_PATH_MAX + 1];
	char dir[PATH_MAX];
	char *save = NULL;
	size_t len = 0;

	if (strlen(rel) >= sizeof(work))
		return false;
	memcpy(work, rel, strlen(rel) + 1);
	out[0] = '\0';
	for (char *tok = strtok_r(work, "/", &save); tok != NULL;
	     tok = strtok_r(NULL, "/", &save)) {
		char match[NAME_MAX + 1] = "";
		unsigned matches = 0;
		DIR *d;
		struct dirent *de;

		if (snprintf(dir, sizeof(dir), "%s/%s", root_real, out) >= (int)sizeof(dir))
			return false;
		d = opendir(dir);
		if (d == NULL)
			return false;
		while ((de = readdir(d)) != NULL) {
			if (strcasecmp(de->d_name, tok) == 0) {
				matches++;
				snprintf(match, sizeof(match), "%s", de->d_name);
			}
		}
		closedir(d);
		if (matches != 1)
			return false;
		if (len + strlen(match) + 2 > cap)
			return false;
		len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? "/" : "", match);
	}
	return true;
}

int pkg_path_open(int *fd, const char *root_real, const char *rel, char *found, size_t cap,
                  struct edl_error *err)
{
	char full[PATH_MAX];
	char real[PATH_MAX];
	char alt[PKG_PATH_MAX + 1];
	const char *use = rel;
	size_t rootlen = strlen(root_real);
	struct stat st;
	int f;

	*fd = -1;
	if (found != NULL && cap > 0)
		found[0] = '\0';
	if (snprintf(full, sizeof(full), "%s/%s", root_real, rel) >= (int)sizeof(full))
		return edl_error_set(err, EDL_E_PKG_PARSE, "path '%s' is too long", rel);
	if (realpath(full, real) == NULL) {
		int e = errno;
		if (e == ENOENT && find_nocase(root_real, rel, alt, sizeof(alt))) {
			use = alt;
			snprintf(full, sizeof(full), "%s/%s", root_real, alt);
			if (realpath(full, real) == NULL)
				e = errno;
			else
				e = 0;
			if (e == 0 && found != NULL)
				snprintf(found, cap, "%s", alt);
		}
		if (e == ENOENT || e == ENOTDIR)
			return edl_error_set(err, EDL_E_PKG_MISSING, "'%s' does not exist", rel);
		if (e != 0)
			return edl_error_set(err, edl_error_from_errno(e), "'%s': %s", rel,
			                     strerror(e));
	}
	/* The resolved path must lie strictly below the root. */
	if (!(strncmp(real, root_real, rootlen) == 0 &&
	      (real[rootlen] == '/' || (rootlen == 1 && root_real[0] == '/')) &&
	      real[rootlen + (rootlen == 1 ? 0 : 1)] != '\0'))
		return edl_error_set(err, EDL_E_PKG_ESCAPE,
		                     "'%s' is a link to '%s', outside the package directory", use,
		                     real);
	f = open(real, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (f < 0) {
		int e = errno;
		return edl_error_set(err, e == ENOENT ? EDL_E_PKG_MISSING : edl_error_from_errno(e),
		                     "'%s': %s", use, strerror(e));
	}
	if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(f);
		return edl_error_set(err, EDL_E_PKG_MISSING, "'%s' is not a regular file", use);
	}
	*fd = f;
	return EDL_OK;
}
