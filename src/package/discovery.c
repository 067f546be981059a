/*
 * Discovery: which files of a directory make the package. Both field layouts
 * are recognised by file names, wherever they sit (at most four levels deep,
 * symbolic links to directories not followed):
 *  - board/phone: rawprogram0.xml .. rawprogramN.xml (one per LUN) as a set,
 *    patchN.xml beside each, a prog_* programmer;
 *  - Quectel/modem: update/firehose/rawprogram_nand_p4K_b256K_update.xml, the
 *    patch_p4K_b256K.xml beside it, prog_*firehose*.mbn, md5.txt at the root.
 * Where the directory offers a choice (an _update and a _factory rawprogram,
 * two programmers, several unrelated patch files) nothing is picked by
 * directory order: the options must name it, else EDL_E_PKG_CHOICE lists the
 * candidates and the option to use. Lists are sorted so results never depend on
 * readdir order.
 */
#include "internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

struct list {
	char **v;
	size_t n, cap;
};

static int list_add(struct list *l, const char *s)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		char **v = realloc(l->v, cap * sizeof(*v));
		if (v == NULL)
			return EDL_E_NOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n] = strdup(s);
	if (l->v[l->n] == NULL)
		return EDL_E_NOMEM;
	l->n++;
	return EDL_OK;
}

static void list_free(struct list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_sort(struct list *l)
{
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(char *), cmp_str);
}

static const char *base_of(const char *path)
{
	const char *s = strrchr(path, '/');

	return s != NULL ? s + 1 : path;
}

static bool ends_with_nocase(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static bool is_programmer_name(const char *base)
{
	bool ext = ends_with_nocase(base, ".mbn") || ends_with_nocase(base, ".elf") ||
	           ends_with_nocase(base, ".melf");

	if (!ext && !ends_with_nocase(base, ".bin"))
		return false;
	if (strncasecmp(base, "prog_", 5) == 0)
		return true;
	return ext && (strcasestr(base, "firehose") != NULL || strcasestr(base, "devprg") != NULL);
}

static bool is_manifest_name(const char *base)
{
	static const char *const names[] = {"md5.txt",        "md5sum.txt",    "md5sums",
	                                    "md5sums.txt",    "sha256sum.txt", "sha256sums",
	                                    "sha256sums.txt", "checksums.md5", "checksums.sha256"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(base, names[i]) == 0)
			return true;
	}
	return false;
}

/* rawprogramN.xml: returns N, or -1. */
static long numbered(const char *base, const char *prefix)
{
	size_t n = strlen(prefix);
	const char *p;
	char *end;
	long v;

	if (strncasecmp(base, prefix, n) != 0 || !isdigit((unsigned char)base[n]))
		return -1;
	p = base + n;
	v = strtol(p, &end, 10);
	if (end == p || strcasecmp(end, ".xml") != 0 || v < 0 || v > 1000)
		return -1;
	return v;
}

struct scan {
	struct list raw, patch, prog, manifest, contents;
	size_t seen;
	bool truncated;
};

static int walk(struct scan *sc, const char *root, const char *rel, int depth)
{
	char path[PATH_MAX];
	DIR *d;
	struct dirent *de;
	int rc = EDL_OK;

	if (snprintf(path, sizeof(path), "%s%s%s", root, rel[0] ? "/" : "", rel) >=
	    (int)sizeof(path))
		return EDL_OK;
	d = opendir(path);
	if (d == NULL)
		return EDL_OK;
	while (rc == EDL_OK && (de = readdir(d)) != NULL) {
		char child[PKG_PATH_MAX + 1];
		char full[PATH_MAX];
		struct stat st;

		if (de->d_name[0] == '.')
			continue; /* ".", "..", hidden files and folders */
		if (++sc->seen > PKG_DISCOVERY_MAX_FILES) {
			sc->truncated = true;
			break;
		}
		if (snprintf(child, sizeof(child), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name) >=
		    (int)sizeof(child))
			continue;
		if (snprintf(full, sizeof(full), "%s/%s", root, child) >= (int)sizeof(full) ||
		    lstat(full, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (depth < PKG_DISCOVERY_MAX_DEPTH)
				rc = walk(sc, root, child, depth + 1);
			continue;
		}
		if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
			continue;
		if (strncasecmp(de->d_name, "rawprogram", 10) == 0 &&
		    ends_with_nocase(de->d_name, ".xml"))
			rc = list_add(&sc->raw, child);
		else if (strncasecmp(de->d_name, "patch", 5) == 0 &&
		         ends_with_nocase(de->d_name, ".xml"))
			rc = list_add(&sc->patch, child);
		else if (is_programmer_name(de->d_name))
			rc = list_add(&sc->prog, child);
		else if (is_manifest_name(de->d_name))
			rc = list_add(&sc->manifest, child);
		else if (strcasecmp(de->d_name, "contents.xml") == 0)
			rc = list_add(&sc->contents, child);
	}
	closedir(d);
	return rc;
}

static void join_list(char *out, size_t cap, char *const *v, size_t n)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && len + 1 < cap; i++)
		len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? ", " : "", v[i]);
}

/* True when every candidate is rawprogramN.xml in one directory. */
static bool one_numbered_set(const struct list *raw)
{
	char dir0[PKG_PATH_MAX + 1], dir[PKG_PATH_MAX + 1];

	if (raw->n == 0)
		return false;
	pkg_path_dirname(dir0, sizeof(dir0), raw->v[0]);
	for (size_t i = 0; i < raw->n; i++) {
		pkg_path_dirname(dir, sizeof(dir), raw->v[i]);
		if (strcmp(dir, dir0) != 0 || numbered(base_of(raw->v[i]), "rawprogram") < 0)
			return false;
	}
	return true;
}

static int cmp_numbered(const void *a, const void *b)
{
	long x = numbered(base_of(*(char *const *)a), "rawprogram");
	long y = numbered(base_of(*(char *const *)b), "rawprogram");

	return x < y ? -1 : x > y;
}

/* The key shared by a rawprogram file and its patch file:
 * rawprogram_nand_p4K_b256K_update.xml -> _p4K_b256K. */
static void patch_key(char *out, size_t cap, const char *rawbase)
{
	const char *p = rawbase + strlen("rawprogram");
	size_t n;

	if (strncasecmp(p, "_nand", 5) == 0)
		p += 5;
	snprintf(out, cap, "%s", p);
	n = strlen(out);
	if (n >= 4 && strcasecmp(out + n - 4, ".xml") == 0)
		out[n -= 4] = '\0';
	if (n >= 7 && strcasecmp(out + n - 7, "_update") == 0)
		out[n - 7] = '\0';
	else if (n >= 8 && strcasecmp(out + n - 8, "_factory") == 0)
		out[n - 8] = '\0';
}

static int add_unique(struct list *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->v[i], s) == 0)
			return EDL_OK;
	}
	return list_add(l, s);
}

static int find_patches(struct list *out, const struct list *raw, const struct list *patches,
                        struct edl_error *err)
{
	char dir[PKG_PATH_MAX + 1], pdir[PKG_PATH_MAX + 1], key[PKG_PATH_MAX + 1];
	char want[PKG_PATH_MAX + 16];
	char listed[1024];

	for (size_t r = 0; r < raw->n; r++) {
		const char *rb = base_of(raw->v[r]);
		long num = numbered(rb, "rawprogram");
		struct list here = {0};
		int rc = EDL_OK;

		pkg_path_dirname(dir, sizeof(dir), raw->v[r]);
		for (size_t p = 0; p < patches->n && rc == EDL_OK; p++) {
			pkg_path_dirname(pdir, sizeof(pdir), patches->v[p]);
			if (strcmp(pdir, dir) == 0)
				rc = list_add(&here, patches->v[p]);
		}
		if (rc != EDL_OK) {
			list_free(&here);
			return edl_error_set(err, rc, "no memory");
		}
		if (num >= 0) {
			for (size_t p = 0; p < here.n && rc == EDL_OK; p++) {
				if (numbered(base_of(here.v[p]), "patch") == num)
					rc = add_unique(out, here.v[p]);
			}
		} else if (here.n == 1) {
			rc = add_unique(out, here.v[0]);
		} else if (here.n > 1) {
			size_t match = 0, idx = 0;
			patch_key(key, sizeof(key), rb);
			snprintf(want, sizeof(want), "patch%s.xml", key);
			for (size_t p = 0; p < here.n; p++) {
				if (strcasecmp(base_of(here.v[p]), want) == 0) {
					match++;
					idx = p;
				}
			}
			if (match == 1) {
				rc = add_unique(out, here.v[idx]);
			} else {
				join_list(listed, sizeof(listed), here.v, here.n);
				rc = edl_error_set(err, EDL_E_PKG_CHOICE,
				                   "%zu patch files could go with %s: %s; name one "
				                   "with --patch FILE",
				                   here.n, raw->v[r], listed);
			}
		}
		list_free(&here);
		if (rc != EDL_OK)
			return rc == EDL_E_NOMEM ? edl_error_set(err, rc, "no memory") : rc;
	}
	return EDL_OK;
}

/* An option's file name: relative to the root, or absolute but inside it. */
static int option_path(char *rel, size_t cap, const char *root_real, const char *name,
                       struct edl_error *err)
{
	size_t n = strlen(root_real);

	if (name[0] == '/' && strncmp(name, root_real, n) == 0 && name[n] == '/')
		name += n + 1;
	return pkg_path_join(rel, cap, "", name, err);
}

static int normalise_into(struct list *l, const char *root_real, const char *name, const char *what,
                          struct edl_error *err)
{
	char rel[PKG_PATH_MAX + 1];
	struct edl_error e;
	int rc;

	edl_error_clear(&e);
	rc = option_path(rel, sizeof(rel), root_real, name, &e);
	if (rc != EDL_OK)
		return edl_error_set(err, rc, "%s: %s", what, e.detail);
	rc = add_unique(l, rel);
	return rc == EDL_OK ? EDL_OK : edl_error_set(err, rc, "no memory");
}

static char **take(struct list *l, size_t *n)
{
	char **v = l->v;

	*n = l->n;
	memset(l, 0, sizeof(*l));
	return v;
}

int pkg_discover(struct pkg_found *out, const char *root_real,
                 const struct edl_package_options *opt, struct edl_error *err)
{
	struct scan sc;
	struct list raw = {0}, patch = {0};
	char listed[1024];
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&sc, 0, sizeof(sc));
	rc = walk(&sc, root_real, "", 1);
	if (rc != EDL_OK) {
		rc = edl_error_set(err, rc, "no memory while scanning the package");
		goto out;
	}
	list_sort(&sc.raw);
	list_sort(&sc.patch);
	list_sort(&sc.prog);
	list_sort(&sc.manifest);
	list_sort(&sc.contents);

	/* rawprogram files */
	if (opt->n_rawprogram > 0) {
		for (size_t i = 0; i < opt->n_rawprogram && rc == EDL_OK; i++)
			rc = normalise_into(&raw, root_real, opt->rawprogram[i], "--rawprogram",
			                    err);
		if (rc != EDL_OK)
			goto out;
		out->layout = EDL_LAYOUT_EXPLICIT;
	} else if (sc.raw.n == 0) {
		rc = edl_error_set(err, EDL_E_PKG_MISSING,
		                   "no rawprogram*.xml in the package%s; name the files with "
		                   "--rawprogram FILE",
		                   sc.truncated ? " (scan stopped: too many files)" : "");
		goto out;
	} else if (one_numbered_set(&sc.raw)) {
		qsort(sc.raw.v, sc.raw.n, sizeof(char *), cmp_numbered);
		raw = sc.raw;
		memset(&sc.raw, 0, sizeof(sc.raw));
		out->layout = EDL_LAYOUT_BOARD;
	} else if (sc.raw.n == 1) {
		raw = sc.raw;
		memset(&sc.raw, 0, sizeof(sc.raw));
		out->layout = strstr(raw.v[0], "firehose/") != NULL ||
		                              strcasestr(base_of(raw.v[0]), "_nand") != NULL
		                      ? EDL_LAYOUT_QUECTEL
		                      : EDL_LAYOUT_BOARD;
	} else {
		join_list(listed, sizeof(listed), sc.raw.v, sc.raw.n);
		rc = edl_error_set(
		        err, EDL_E_PKG_CHOICE,
		        "the package holds %zu rawprogram files that are not one "
		        "rawprogram0..N set: %s; name the ones to flash with --rawprogram FILE",
		        sc.raw.n, listed);
		goto out;
	}

	/* patch files */
	if (opt->n_patch > 0) {
		for (size_t i = 0; i < opt->n_patch && rc == EDL_OK; i++)
			rc = normalise_into(&patch, root_real, opt->patch[i], "--patch", err);
	} else {
		rc = find_patches(&patch, &raw, &sc.patch, err);
	}
	if (rc != EDL_OK)
		goto out;

	/* programmer */
	if (opt->programmer != NULL) {
		struct edl_error e;
		edl_error_clear(&e);
		rc = option_path(out->programmer, sizeof(out->programmer), root_real,
		                 opt->programmer, &e);
		if (rc != EDL_OK) {
			rc = edl_error_set(err, rc, "--programmer: %s", e.detail);
			goto out;
		}
	} else if (sc.prog.n > 0) {
		char dir[PKG_PATH_MAX + 1], pdir[PKG_PATH_MAX + 1];
		size_t near = 0, idx = 0;
		pkg_path_dirname(dir, sizeof(dir), raw.v[0]);
		for (size_t i = 0; i < sc.prog.n; i++) {
			pkg_path_dirname(pdir, sizeof(pdir), sc.prog.v[i]);
			if (strcmp(pdir, dir) == 0) {
				near++;
				idx = i;
			}
		}
		if (near == 1 || sc.prog.n == 1) {
			snprintf(out->programmer, sizeof(out->programmer), "%s",
			         sc.prog.v[near == 1 ? idx : 0]);
		} else {
			join_list(listed, sizeof(listed), sc.prog.v, sc.prog.n);
			rc = edl_error_set(err, EDL_E_PKG_CHOICE,
			                   "the package holds %zu programmers: %s; name one with "
			                   "--programmer FILE",
			                   sc.prog.n, listed);
			goto out;
		}
	}

	/* Manifests: all of them are checked; contents.xml: the shallowest. */
	out->manifests = take(&sc.manifest, &out->n_manifests);
	if (sc.contents.n > 0) {
		size_t best = 0;
		for (size_t i = 1; i < sc.contents.n; i++) {
			if (strchr(sc.contents.v[i], '/') == NULL &&
			    strchr(sc.contents.v[best], '/'))
				best = i;
		}
		snprintf(out->contents, sizeof(out->contents), "%s", sc.contents.v[best]);
	}
	out->rawprogram = take(&raw, &out->n_rawprogram);
	out->patch = take(&patch, &out->n_patch);
	rc = EDL_OK;
out:
	list_free(&raw);
	list_free(&patch);
	list_free(&sc.raw);
	list_free(&sc.patch);
	list_free(&sc.prog);
	list_free(&sc.manifest);
	list_free(&sc.contents);
	if (rc != EDL_OK)
		pkg_found_free(out);
	return rc;
}

void pkg_found_free(struct pkg_found *f)
{
	for (size_t i = 0; i < f->n_rawprogram; i++)
		free(f->rawprogram[i]);
	for (size_t i = 0; i < f->n_patch; i++)
		free(f->patch[i]);
	for (size_t i = 0; i < f->n_manifests; i++)
		free(f->manifests[i]);
	free(f->rawprogram);
	free(f->patch);
	free(f->manifests);
	f->rawprogram = f->patch = f->manifests = NULL;
	f->n_rawprogram = f->n_patch = f->n_manifests = 0;
}
