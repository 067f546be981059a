/*
 * Loading a package: the order of the work and the accessors. Discovery names
 * the files; the XML is parsed into entries; every named file is opened inside
 * the root and mapped; the plan is built (which registers the digests to
 * compute); the hash cache serves unchanged files; the hashing pass does the
 * rest on worker threads; manifests are compared; the digests go into the
 * plan. Every problem becomes a diagnostic with file and line, so one load lists
 * them all; the first error is also returned as the load's result.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void check_stable(struct edl_package *pkg);

void (*pkg_test_after_hash)(struct edl_package *pkg);
static void set_name(struct edl_package *pkg);

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void edl_package_options_init(struct edl_package_options *opt)
{
	memset(opt, 0, sizeof(*opt));
}

const char *edl_package_layout_name(enum edl_package_layout layout)
{
	switch (layout) {
	case EDL_LAYOUT_QUECTEL:
		return "quectel";
	case EDL_LAYOUT_BOARD:
		return "board";
	case EDL_LAYOUT_EXPLICIT:
		return "explicit";
	case EDL_LAYOUT_UNKNOWN:
		break;
	}
	return "unknown";
}

static void vdiag(struct edl_package *pkg, enum edl_diag_severity sev, int code, const char *file,
                  unsigned line, const char *fmt, va_list ap)
{
	struct edl_package_diag *d;

	if (pkg->n_diags == pkg->cap_diags) {
		size_t cap = pkg->cap_diags ? pkg->cap_diags * 2 : 16;
		struct edl_package_diag *n = realloc(pkg->diags, cap * sizeof(*n));
		if (n == NULL) {
			/* Keep counting errors even when their text cannot be kept. */
			if (sev == EDL_DIAG_ERROR)
				pkg->n_errors++;
			return;
		}
		pkg->diags = n;
		pkg->cap_diags = cap;
	}
	d = &pkg->diags[pkg->n_diags++];
	memset(d, 0, sizeof(*d));
	d->severity = sev;
	d->code = code;
	d->line = line;
	snprintf(d->file, sizeof(d->file), "%s", file != NULL ? file : "");
	vsnprintf(d->message, sizeof(d->message), fmt, ap);
	if (sev == EDL_DIAG_ERROR)
		pkg->n_errors++;
}

void pkg_fmt(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
}

void pkg_diag(struct edl_package *pkg, enum edl_diag_severity sev, int code, const char *file,
              unsigned line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(pkg, sev, code, file, line, fmt, ap);
	va_end(ap);
}

void pkg_entry_diag(struct edl_package *pkg, const struct pkg_entry *e, enum edl_diag_severity sev,
                    int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(pkg, sev, code, pkg->xmls[e->xml].path, e->line, fmt, ap);
	va_end(ap);
}

long pkg_add_xml(struct edl_package *pkg, const char *path, const char *role)
{
	struct pkg_xml *n = realloc(pkg->xmls, (pkg->n_xmls + 1) * sizeof(*n));

	if (n == NULL)
		return -1;
	pkg->xmls = n;
	snprintf(n[pkg->n_xmls].path, sizeof(n[0].path), "%s", path);
	n[pkg->n_xmls].role = role;
	return (long)pkg->n_xmls++;
}

/* Manifest diagnostics carry the manifest's name. */
struct manifest_diag {
	struct edl_package *pkg;
	const char *file;
};

static void manifest_diag(void *data, int code, unsigned line, const char *fmt, ...)
{
	struct manifest_diag *md = data;
	va_list ap;

	va_start(ap, fmt);
	vdiag(md->pkg, EDL_DIAG_ERROR, code, md->file, line, fmt, ap);
	va_end(ap);
}

static int copy_options(struct edl_package *pkg, const struct edl_package_options *opt)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	pkg->dir = strdup(opt->dir);
	if (pkg->dir == NULL)
		return EDL_E_NOMEM;
	if (opt->cache_dir != NULL) {
		pkg->cache_dir = strdup(opt->cache_dir);
		if (pkg->cache_dir == NULL)
			return EDL_E_NOMEM;
	}
	pkg->no_cache = opt->no_cache;
	pkg->strict = opt->strict;
	pkg->threads = opt->threads;
	if (pkg->threads == 0)
		pkg->threads = cpus > 0 ? (unsigned)cpus : 1;
	if (pkg->threads > 16)
		pkg->threads = 16;
	pkg->link_rate = opt->link_rate ? opt->link_rate : EDL_PACKAGE_DEFAULT_LINK_RATE;
	memcpy(pkg->disk_sectors, opt->disk_sectors, sizeof(pkg->disk_sectors));
	pkg->storage_set = opt->storage_set;
	pkg->storage = opt->storage;
	pkg->programmer_file = -1;
	return EDL_OK;
}

/* Opens, parses and collects one rawprogram or patch file. */
static void load_xml(struct edl_package *pkg, const char *rel, const char *role)
{
	struct edl_error err;
	xmlDocPtr doc = NULL;
	unsigned off = 0;
	char found[PKG_PATH_MAX + 1] = "";
	long xi, fi;
	int rc;

	edl_error_clear(&err);
	rc = pkg_file_open(pkg, rel, &fi, found, sizeof(found), &err);
	xi = pkg_add_xml(pkg, found[0] ? found : rel, role);
	if (xi < 0) {
		pkg_diag(pkg, EDL_DIAG_ERROR, EDL_E_NOMEM, rel, 0, "no memory");
		return;
	}
	if (rc != EDL_OK) {
		pkg_diag(pkg, EDL_DIAG_ERROR, rc, rel, 0, "%s file: %s", role, err.detail);
		return;
	}
	rc = pkg_xml_read_fd(&doc, &off, pkg->files[fi].fd, &err);
	if (rc != EDL_OK) {
		unsigned line = 0;
		const char *msg = err.detail;
		if (strncmp(msg, "line ", 5) == 0) {
			char *end;
			line = (unsigned)strtoul(msg + 5, &end, 10);
			if (end[0] == ':' && end[1] == ' ')
				msg = end + 2;
		}
		pkg_diag(pkg, EDL_DIAG_ERROR, rc, pkg->xmls[xi].path, line, "%s", msg);
		return;
	}
	switch (pkg_xml_classify(doc)) {
	case PKG_XML_RAWPROGRAM:
	case PKG_XML_PATCH:
		rc = pkg_rawprogram_collect(pkg, (size_t)xi, doc, off);
		if (rc == EDL_E_NOMEM)
			pkg_diag(pkg, EDL_DIAG_ERROR, rc, pkg->xmls[xi].path, 0, "no memory");
		break;
	default:
		pkg_diag(pkg, EDL_DIAG_ERROR, EDL_E_PKG_PARSE, pkg->xmls[xi].path,
		         (unsigned)xmlGetLineNo(xmlDocGetRootElement(doc)) + off,
		         "root element <%s> is neither <data> nor <patches>",
		         (const char *)xmlDocGetRootElement(doc)->name);
		break;
	}
	xmlFreeDoc(doc);
}

static void load_contents(struct edl_package *pkg, const char *rel)
{
	struct edl_error err;
	xmlDocPtr doc = NULL;
	unsigned off = 0;
	long xi, fi;

	edl_error_clear(&err);
	xi = pkg_add_xml(pkg, rel, "contents");
	if (xi < 0 || pkg_file_open(pkg, rel, &fi, NULL, 0, &err) != EDL_OK ||
	    pkg_xml_read_fd(&doc, &off, pkg->files[fi].fd, &err) != EDL_OK ||
	    pkg_contents_read(&pkg->contents, doc, &err) != EDL_OK) {
		pkg_diag(pkg, EDL_DIAG_WARNING, err.code ? err.code : EDL_E_PKG_PARSE, rel, 0,
		         "contents.xml not used: %s", err.detail);
	} else {
		pkg->have_contents = true;
	}
	if (doc != NULL)
		xmlFreeDoc(doc);
}

/* Opens every image the program entries name, relative to their XML file. */
static void resolve_images(struct edl_package *pkg)
{
	for (size_t i = 0; i < pkg->n_entries; i++) {
		struct pkg_entry *e = &pkg->entries[i];
		char dir[PKG_PATH_MAX + 1], found[PKG_PATH_MAX + 1] = "";
		struct edl_error err;
		long fi;
		int rc;

		if (e->kind != PKG_PROGRAM || !e->ok || e->filename[0] == '\0')
			continue;
		edl_error_clear(&err);
		pkg_path_dirname(dir, sizeof(dir), pkg->xmls[e->xml].path);
		rc = pkg_path_join(e->path, sizeof(e->path), dir, e->filename, &err);
		if (rc != EDL_OK) {
			pkg_entry_diag(pkg, e, EDL_DIAG_ERROR, rc, "filename %s", err.detail);
			e->path[0] = '\0';
			continue;
		}
		rc = pkg_file_open(pkg, e->path, &fi, found, sizeof(found), &err);
		if (rc == EDL_E_PKG_MISSING) {
			pkg_entry_diag(pkg, e, EDL_DIAG_ERROR, rc, "image '%s'%s%s%s is missing",
			               e->filename, strcmp(e->filename, e->path) ? " (" : "",
			               strcmp(e->filename, e->path) ? e->path : "",
			               strcmp(e->filename, e->path) ? ")" : "");
			continue;
		}
		if (rc != EDL_OK) {
			pkg_entry_diag(pkg, e, EDL_DIAG_ERROR, rc, "image %s", err.detail);
			continue;
		}
		if (found[0] != '\0') {
			pkg_entry_diag(pkg, e, EDL_DIAG_WARNING, EDL_OK,
			               "image '%s' found as '%s' (letter case differs)", e->path,
			               found);
			snprintf(e->path, sizeof(e->path), "%s", found);
		}
		e->file = fi;
	}
}

static void load_manifest(struct edl_package *pkg, const char *rel)
{
	struct manifest_diag md = {.pkg = pkg, .file = rel};
	struct pkg_manifest m;
	struct edl_error err;
	char dir[PKG_PATH_MAX + 1];
	char *text = NULL;
	size_t len = 0;
	long fi;

	edl_error_clear(&err);
	if (pkg_add_xml(pkg, rel, "manifest") < 0)
		return;
	if (pkg_file_open(pkg, rel, &fi, NULL, 0, &err) != EDL_OK ||
	    pkg_read_small_file(&text, &len, pkg->files[fi].fd, PKG_MANIFEST_MAX, &err) != EDL_OK) {
		pkg_diag(pkg, EDL_DIAG_ERROR, err.code, rel, 0, "%s", err.detail);
		return;
	}
	pkg_path_dirname(dir, sizeof(dir), rel);
	if (pkg_manifest_parse(&m, text, len, dir, manifest_diag, &md) != EDL_OK) {
		pkg_diag(pkg, EDL_DIAG_ERROR, EDL_E_NOMEM, rel, 0, "no memory");
		free(text);
		return;
	}
	free(text);
	for (size_t i = 0; i < m.n; i++) {
		struct pkg_manifest_entry *me = &m.entries[i];
		struct pkg_manifest_entry *keep;
		char found[PKG_PATH_MAX + 1] = "";
		int rc;

		me->list = pkg->n_xmls - 1;
		edl_error_clear(&err);
		rc = pkg_file_open(pkg, me->path, &me->file, found, sizeof(found), &err);
		if (rc == EDL_E_PKG_MISSING) {
			pkg_diag(pkg, EDL_DIAG_WARNING, rc, rel, me->line,
			         "'%s' is listed but absent: not checked", me->path);
			me->file = -1;
		} else if (rc != EDL_OK) {
			pkg_diag(pkg, EDL_DIAG_ERROR, rc, rel, me->line, "%s", err.detail);
			me->file = -1;
		}
		keep = realloc(pkg->manifest, (pkg->n_manifest + 1) * sizeof(*keep));
		if (keep == NULL)
			break;
		pkg->manifest = keep;
		pkg->manifest[pkg->n_manifest++] = *me;
	}
	pkg_manifest_free(&m);
}

/* True when dir, or the nearest of its ancestors that exists, lies inside the root. */
static bool inside_root(const char *dir, const char *root_real)
{
	char work[PATH_MAX], real[PATH_MAX];
	size_t rootlen = strlen(root_real);

	snprintf(work, sizeof(work), "%s", dir);
	for (;;) {
		char *slash;
		if (realpath(work[0] ? work : "/", real) != NULL)
			return strncmp(real, root_real, rootlen) == 0 &&
			       (real[rootlen] == '/' || real[rootlen] == '\0');
		slash = strrchr(work, '/');
		if (slash == NULL) {
			/* A relative path with no existing part: relative to the cwd. */
			return getcwd(real, sizeof(real)) != NULL &&
			       strncmp(real, root_real, rootlen) == 0 &&
			       (real[rootlen] == '/' || real[rootlen] == '\0');
		}
		*slash = '\0';
	}
}

static void use_cache(struct edl_package *pkg, char *path, size_t cap)
{
	char dir[PATH_MAX];
	struct pkg_cache c;
	struct edl_error err;

	path[0] = '\0';
	if (pkg->no_cache)
		return;
	if (pkg->cache_dir != NULL)
		snprintf(dir, sizeof(dir), "%s", pkg->cache_dir);
	else if (pkg_cache_default_dir(dir, sizeof(dir)) != EDL_OK) {
		pkg_diag(pkg, EDL_DIAG_NOTE, EDL_E_PKG_CACHE, NULL, 0,
		         "no cache directory (HOME and XDG_CACHE_HOME unset): hash cache off");
		return;
	}
	/* Never write inside the package: it may be read-only, and it is the input. */
	if (inside_root(dir, pkg->root_real)) {
		pkg_diag(pkg, EDL_DIAG_WARNING, EDL_E_PKG_CACHE, NULL, 0,
		         "cache directory %s is inside the package: hash cache off", dir);
		return;
	}
	if (pkg_cache_path(path, cap, dir, pkg->root_real) != EDL_OK) {
		path[0] = '\0';
		return;
	}
	edl_error_clear(&err);
	if (pkg_cache_read(&c, path, &err) != EDL_OK) {
		pkg_diag(pkg, EDL_DIAG_NOTE, EDL_E_PKG_CACHE, NULL, 0,
		         "hash cache ignored, files rehashed: %s", err.detail);
		return;
	}
	pkg->stats.cache_used = c.n_files > 0;
	pkg->stats.files_cached = pkg_cache_apply(pkg, &c);
	pkg_cache_free(&c);
}

static void compare_manifests(struct edl_package *pkg)
{
	for (size_t i = 0; i < pkg->n_manifest; i++) {
		const struct pkg_manifest_entry *me = &pkg->manifest[i];
		struct pkg_file *f;
		const uint8_t *have;
		char want_hex[65], have_hex[65];

		if (me->file < 0)
			continue;
		f = &pkg->files[me->file];
		if (!f->hashed)
			continue;
		have = me->kind == PKG_DIGEST_MD5 ? f->md5 : f->sha256;
		if (memcmp(have, me->digest, me->kind) == 0) {
			f->checked = true;
			pkg->stats.manifest_checked++;
			continue;
		}
		pkg_hex(want_hex, me->digest, me->kind);
		pkg_hex(have_hex, have, me->kind);
		pkg_diag(pkg, EDL_DIAG_ERROR, EDL_E_PKG_HASH, pkg->xmls[me->list].path, me->line,
		         "%s: %s is %s but the manifest says %s", f->path,
		         me->kind == PKG_DIGEST_MD5 ? "MD5" : "SHA-256", have_hex, want_hex);
	}
}

/* Every file a program step flashes must be listed by the manifest when the
 * package has one: an unlisted image is checked against nothing. */
static void check_listed(struct edl_package *pkg)
{
	const char *manifest = NULL;

	for (size_t i = 0; i < pkg->n_xmls && manifest == NULL; i++) {
		if (strcmp(pkg->xmls[i].role, "manifest") == 0)
			manifest = pkg->xmls[i].path;
	}
	if (manifest == NULL)
		return;
	for (size_t i = 0; i < pkg->n_entries; i++) {
		const struct pkg_entry *e = &pkg->entries[i];
		bool listed = false, seen = false;

		if (e->kind != PKG_PROGRAM || e->file < 0)
			continue;
		for (size_t k = 0; k < i && !seen; k++)
			seen = pkg->entries[k].kind == PKG_PROGRAM &&
			       pkg->entries[k].file == e->file;
		for (size_t m = 0; m < pkg->n_manifest && !listed; m++)
			listed = pkg->manifest[m].file == e->file;
		if (seen || listed)
			continue;
		pkg_entry_diag(pkg, e, pkg->strict ? EDL_DIAG_ERROR : EDL_DIAG_WARNING,
		               EDL_E_PKG_HASH,
		               "'%s' is flashed but %s does not list it: its bytes are checked "
		               "against nothing; add it to the manifest%s",
		               pkg->files[e->file].path, manifest,
		               pkg->strict ? " (an error with --strict)" : "");
	}
}

static int first_error(const struct edl_package *pkg, struct edl_error *err)
{
	for (size_t i = 0; i < pkg->n_diags; i++) {
		const struct edl_package_diag *d = &pkg->diags[i];
		if (d->severity != EDL_DIAG_ERROR)
			continue;
		if (d->file[0] != '\0' && d->line != 0)
			return edl_error_set(err, d->code, "%s:%u: %s", d->file, d->line,
			                     d->message);
		if (d->file[0] != '\0')
			return edl_error_set(err, d->code, "%s: %s", d->file, d->message);
		return edl_error_set(err, d->code, "%s", d->message);
	}
	return edl_error_set(err, EDL_E_PKG_PARSE, "%zu errors", pkg->n_errors);
}

int edl_package_load(struct edl_package **out, const struct edl_package_options *opt,
                     struct edl_error *err)
{
	struct edl_package *pkg;
	struct pkg_found found;
	struct edl_error e;
	char cache_path[PATH_MAX];
	char real[PATH_MAX];
	struct stat st;
	uint64_t t0 = now_ms();
	int rc;

	*out = NULL;
	memset(&found, 0, sizeof(found));
	if (opt == NULL || opt->dir == NULL)
		return edl_error_set(err, EDL_E_INVAL, "no package directory given");
	pkg = calloc(1, sizeof(*pkg));
	if (pkg == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "no memory for the package");
	if (copy_options(pkg, opt) != EDL_OK) {
		edl_package_free(pkg);
		return edl_error_set(err, EDL_E_NOMEM, "no memory for the package");
	}
	*out = pkg;
	if (realpath(opt->dir, real) == NULL || stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
		pkg_diag(pkg, EDL_DIAG_ERROR, EDL_E_PKG_MISSING, NULL, 0,
		         "package directory '%s' does not exist or is not a directory", opt->dir);
		goto done;
	}
	pkg->root_real = strdup(real);
	if (pkg->root_real == NULL) {
		pkg_diag(pkg, EDL_DIAG_ERROR, EDL_E_NOMEM, NULL, 0, "no memory");
		goto done;
	}

	edl_error_clear(&e);
	rc = pkg_discover(&found, pkg->root_real, opt, &e);
	if (rc != EDL_OK) {
		pkg_diag(pkg, EDL_DIAG_ERROR, rc, NULL, 0, "%s", e.detail);
		goto done;
	}
	pkg->layout = found.layout;
	for (size_t i = 0; i < found.n_rawprogram; i++)
		load_xml(pkg, found.rawprogram[i], "rawprogram");
	for (size_t i = 0; i < found.n_patch; i++)
		load_xml(pkg, found.patch[i], "patch");
	if (found.contents[0] != '\0')
		load_contents(pkg, found.contents);

	snprintf(pkg->programmer, sizeof(pkg->programmer), "%s", found.programmer);
	if (pkg->programmer[0] == '\0') {
		pkg_diag(pkg, EDL_DIAG_ERROR, EDL_E_PKG_MISSING, NULL, 0,
		         "no Firehose programmer (prog_*.mbn|elf) in the package; name one with "
		         "--programmer FILE");
	} else {
		char alt[PKG_PATH_MAX + 1] = "";
		edl_error_clear(&e);
		rc = pkg_file_open(pkg, pkg->programmer, &pkg->programmer_file, alt, sizeof(alt),
		                   &e);
		if (rc != EDL_OK) {
			pkg_diag(pkg, EDL_DIAG_ERROR, rc, NULL, 0, "programmer %s", e.detail);
			pkg->programmer_file = -1;
		} else {
			if (alt[0] != '\0')
				snprintf(pkg->programmer, sizeof(pkg->programmer), "%s", alt);
			/* Small: copied, so truncating it cannot change what is sent. */
			edl_error_clear(&e);
			rc = pkg_file_copy(&pkg->files[pkg->programmer_file], &e);
			if (rc != EDL_OK)
				pkg_diag(pkg, EDL_DIAG_ERROR, rc, pkg->programmer, 0,
				         "programmer: %s", e.detail);
		}
	}

	resolve_images(pkg);
	for (size_t i = 0; i < found.n_manifests; i++)
		load_manifest(pkg, found.manifests[i]);

	if (pkg_plan_build(pkg) != EDL_OK) {
		pkg_diag(pkg, EDL_DIAG_ERROR, EDL_E_NOMEM, NULL, 0, "no memory for the plan");
		goto done;
	}

	use_cache(pkg, cache_path, sizeof(cache_path));
	edl_error_clear(&e);
	if (pkg_verify_run(pkg, pkg->threads, &e) != EDL_OK)
		pkg_diag(pkg, EDL_DIAG_ERROR, e.code, NULL, 0, "hashing: %s", e.detail);
	if (cache_path[0] != '\0' &&
	    (pkg->stats.files_hashed > 0 || pkg->stats.files_cached != pkg->n_files)) {
		edl_error_clear(&e);
		if (pkg_cache_write(pkg, cache_path, &e) != EDL_OK)
			pkg_diag(pkg, EDL_DIAG_WARNING, EDL_E_PKG_CACHE, NULL, 0,
			         "hash cache not written: %s", e.detail);
		else
			pkg->stats.cache_written = true;
	}
	for (size_t i = 0; i < pkg->n_files; i++) {
		const struct pkg_file *f = &pkg->files[i];
		if (f->sparse_crc && !f->from_cache && f->crc_rc != EDL_OK)
			pkg_diag(pkg, EDL_DIAG_ERROR, f->crc_rc, f->path, 0, "sparse image: %s",
			         f->crc_detail);
	}
	if (pkg_test_after_hash != NULL)
		pkg_test_after_hash(pkg);
	check_stable(pkg);
	compare_manifests(pkg);
	check_listed(pkg);
	pkg_plan_set_digests(pkg);

done:
	set_name(pkg);
	for (size_t i = 0; i < pkg->n_files; i++) {
		if (pkg->files[i].fd >= 0) {
			close(pkg->files[i].fd);
			pkg->files[i].fd = -1;
		}
		pkg->stats.bytes_total += pkg->files[i].size;
	}
	pkg->stats.files = pkg->n_files;
	pkg->stats.manifest_entries = pkg->n_manifest;
	pkg->stats.load_ms = now_ms() - t0;
	pkg_found_free(&found);
	if (pkg->n_errors > 0)
		return first_error(pkg, err);
	edl_error_clear(err);
	return EDL_OK;
}

void edl_package_free(struct edl_package *pkg)
{
	if (pkg == NULL)
		return;
	for (size_t i = 0; i < pkg->n_entries; i++)
		pkg_entry_clear(&pkg->entries[i]);
	for (size_t i = 0; i < pkg->n_files; i++)
		pkg_file_close(&pkg->files[i]);
	free(pkg->entries);
	free(pkg->files);
	free(pkg->fills);
	free(pkg->manifest);
	free(pkg->diags);
	free(pkg->xmls);
	for (size_t i = 0; i < pkg->plan.n_steps; i++)
		free(pkg->plan.steps[i].vendor_attrs);
	free(pkg->plan.steps);
	free(pkg->step_digest);
	free(pkg->dir);
	free(pkg->root_real);
	free(pkg->cache_dir);
	free(pkg);
}

bool edl_package_valid(const struct edl_package *pkg)
{
	return pkg->n_errors == 0;
}

const struct edl_plan *edl_package_plan(const struct edl_package *pkg)
{
	return &pkg->plan;
}

const char *edl_package_programmer(const struct edl_package *pkg)
{
	return pkg->programmer;
}

const uint8_t *edl_package_programmer_data(const struct edl_package *pkg, size_t *len)
{
	if (pkg->programmer_file < 0) {
		*len = 0;
		return NULL;
	}
	*len = (size_t)pkg->files[pkg->programmer_file].size;
	return pkg->files[pkg->programmer_file].map;
}

const char *edl_package_root(const struct edl_package *pkg)
{
	return pkg->root_real != NULL ? pkg->root_real : pkg->dir;
}

enum edl_package_layout edl_package_layout(const struct edl_package *pkg)
{
	return pkg->layout;
}

bool edl_package_storage_inferred(const struct edl_package *pkg)
{
	return pkg->storage_inferred;
}

size_t edl_package_xml_count(const struct edl_package *pkg)
{
	return pkg->n_xmls;
}

const char *edl_package_xml(const struct edl_package *pkg, size_t i, const char **kind)
{
	if (i >= pkg->n_xmls)
		return NULL;
	if (kind != NULL)
		*kind = pkg->xmls[i].role;
	return pkg->xmls[i].path;
}

size_t edl_package_diag_count(const struct edl_package *pkg)
{
	return pkg->n_diags;
}

const struct edl_package_diag *edl_package_diag(const struct edl_package *pkg, size_t i)
{
	return i < pkg->n_diags ? &pkg->diags[i] : NULL;
}

size_t edl_package_error_count(const struct edl_package *pkg)
{
	return pkg->n_errors;
}

size_t edl_package_file_count(const struct edl_package *pkg)
{
	return pkg->n_files;
}

void edl_package_file(const struct edl_package *pkg, size_t i, struct edl_package_file *out)
{
	const struct pkg_file *f = &pkg->files[i];

	memset(out, 0, sizeof(*out));
	out->path = f->path;
	out->size = f->size;
	memcpy(out->md5, f->md5, 16);
	memcpy(out->sha256, f->sha256, 32);
	out->hashed = f->hashed;
	out->from_cache = f->from_cache;
	out->checked = f->checked;
}

void edl_package_stats(const struct edl_package *pkg, struct edl_package_stats *out)
{
	*out = pkg->stats;
}

const char *edl_package_product(const struct edl_package *pkg)
{
	return pkg->have_contents ? pkg->contents.product : "";
}

const char *edl_package_name(const struct edl_package *pkg)
{
	return pkg->name;
}

const char *edl_package_version(const struct edl_package *pkg)
{
	return pkg->version;
}

/* The name and version for the records (contract in package.h): contents.xml's
 * product and build id when it gives both; else the directory's name (Quectel
 * packages are named after the firmware: RM502QAEAAR13A03M4G) and "". */
static void set_name(struct edl_package *pkg)
{
	const char *root = pkg->root_real != NULL ? pkg->root_real : pkg->dir;
	const char *base = root;
	size_t n;

	if (pkg->have_contents && pkg->contents.product[0] != '\0' &&
	    pkg->contents.build_id[0] != '\0') {
		snprintf(pkg->name, sizeof(pkg->name), "%s", pkg->contents.product);
		snprintf(pkg->version, sizeof(pkg->version), "%s", pkg->contents.build_id);
		return;
	}
	n = strlen(root);
	while (n > 1 && root[n - 1] == '/')
		n--;
	for (size_t i = 0; i < n; i++) {
		if (root[i] == '/' && i + 1 < n)
			base = root + i + 1;
	}
	snprintf(pkg->name, sizeof(pkg->name), "%.*s", (int)(n - (size_t)(base - root)), base);
	pkg->version[0] = '\0';
}

static uint64_t ns_of(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
}

/* What differs between a file as loaded and st, in words ("" when nothing). */
static void describe_change(char *out, size_t cap, const struct pkg_file *f, const struct stat *st)
{
	if ((uint64_t)st->st_ino != f->ino || (uint64_t)st->st_dev != f->dev)
		pkg_fmt(out, cap, "%s was replaced (another file now has its name)", f->path);
	else if ((uint64_t)st->st_size != f->size)
		pkg_fmt(out, cap, "%s is %llu bytes, was %llu", f->path,
		        (unsigned long long)st->st_size, (unsigned long long)f->size);
	else if (ns_of(&st->st_mtim) != f->mtime_ns)
		pkg_fmt(out, cap, "%s was modified (mtime changed)", f->path);
	else if (ns_of(&st->st_ctim) != f->ctime_ns)
		pkg_fmt(out, cap, "%s was changed (ctime changed: edited or its metadata set)",
		        f->path);
	else
		out[0] = '\0';
}

/* At load, after hashing: a file whose size or times moved since it was opened
 * is still being written (a copy in progress); its digests mean nothing. */
static void check_stable(struct edl_package *pkg)
{
	for (size_t i = 0; i < pkg->n_files; i++) {
		const struct pkg_file *f = &pkg->files[i];
		char what[EDL_ERROR_DETAIL_MAX];
		struct stat st;

		if (pkg_guard_truncated(f->guard)) {
			pkg_diag(
			        pkg, EDL_DIAG_ERROR, EDL_E_PKG_CHANGED, f->path, 0,
			        "package changed while it was loaded: %s was truncated; wait until "
			        "it is written completely and load again",
			        f->path);
			continue;
		}
		if (f->fd < 0 || fstat(f->fd, &st) != 0)
			continue;
		describe_change(what, sizeof(what), f, &st);
		if (what[0] != '\0')
			pkg_diag(pkg, EDL_DIAG_ERROR, EDL_E_PKG_CHANGED, f->path, 0,
			         "package changed while it was loaded: %s; is it still being "
			         "written? "
			         "Wait until the copy is complete and load again",
			         what);
	}
}

int edl_package_unchanged(const struct edl_package *pkg, struct edl_error *err)
{
	char path[PATH_MAX];
	char what[EDL_ERROR_DETAIL_MAX];

	edl_error_clear(err);
	if (pkg == NULL || pkg->root_real == NULL)
		return EDL_OK;
	for (size_t i = 0; i < pkg->n_files; i++) {
		const struct pkg_file *f = &pkg->files[i];
		struct stat st;

		if (pkg_guard_truncated(f->guard))
			return edl_error_set(err, EDL_E_PKG_CHANGED,
			                     "package changed under the station: %s was truncated; "
			                     "restore the package and restart the station",
			                     f->path);
		pkg_fmt(path, sizeof(path), "%s/%s", pkg->root_real, f->path);
		if (stat(path, &st) != 0) {
			int e = errno;
			return edl_error_set(
			        err, EDL_E_PKG_CHANGED,
			        "package changed under the station: %s %s; restore the "
			        "package and restart the station",
			        f->path, e == ENOENT ? "was deleted" : strerror(e));
		}
		describe_change(what, sizeof(what), f, &st);
		if (what[0] != '\0')
			return edl_error_set(err, EDL_E_PKG_CHANGED,
			                     "package changed under the station: %s; restore the "
			                     "package and restart the station",
			                     what);
	}
	return EDL_OK;
}
