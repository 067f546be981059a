/*
 * The flashing plan: turns the package's entries (file order) into the ordered
 * steps a session executes (include/edlstation/plan.h), and checks it.
 *
 * Ordering keeps a unit recoverable whatever happens mid-way:
 *   phase 0  boot loader erases (SBL/XBL: label or file name sbl..., xbl..., or
 *            NAND sector 0) the XML has; on NAND also one synthesized for a boot
 *            loader program no XML erase covers
 *   phase 1  vendor entries (<erase ... vendor="quectel"/>), in file order,
 *            verbatim: QFirehose sends them right after the start-sector-0
 *            erase and before the other erases (firehose_protocol.c firehose_main)
 *   phase 2  eMMC/UFS: erases and programs in file order;
 *            NAND: every other erase (plus one synthesized for a program whose
 *            range no erase covers)
 *   phase 3  NAND: the programs, in file order (erased before programmed,
 *            whatever the file order)
 *   phase 4  DISK patches, in file order
 *   phase 5  boot loader programs
 *   phase 6  SET_BOOTABLE (eMMC/UFS), on the boot loader's LUN
 * A unit stopped at any point has no boot loader until the very end, so its
 * boot ROM falls back to EDL and the station can flash it again.
 *
 * No erase is synthesized on eMMC/UFS: an older programmer's handleErase
 * ignores the range and erases the whole physical partition (Qualcomm
 * deviceprogrammer_firehose.c for MSM8909; qdl #193/#244), which would destroy
 * the calibration and IMEI partitions (modemst1/2, fsg, persist) a package
 * leaves alone. QFirehose likewise erases the boot loader first only on NAND
 * (first_earse_and_last_programm_SBL when the device type is nand); there
 * "program the boot loader last" alone keeps the unit in EDL until the end.
 * Erases the XML itself gives are kept on every storage (they carry a range,
 * rawprogram.c refuses one without).
 *
 * Checks here: an image larger than its partition, sparse images, overlapping
 * program ranges within a LUN (partition ranges, for constant start sectors;
 * expression starts are checked by edl_plan_resolve once the geometry is
 * known), patches that cannot be applied, and, with a geometry, ranges. Vendor
 * steps have no range the host can interpret and are left out of every check.
 */
#include "internal.h"

#include "edlstation/sparse.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum phase {
	PHASE_BOOT_ERASE = 0,
	PHASE_VENDOR = 1,
	PHASE_MAIN = 2,
	PHASE_NAND_PROGRAM = 3,
	PHASE_PATCH = 4,
	PHASE_BOOT_PROGRAM = 5,
	PHASE_BOOTABLE = 6,
};

struct tmp_step {
	struct edl_plan_step step;
	struct pkg_step_digest dig;
	enum phase phase;
	size_t seq;
};

/* A program's partition range, for the overlap check. */
struct range {
	uint32_t lun;
	uint64_t start, len;
	size_t entry;
};

struct builder {
	struct edl_package *pkg;
	struct tmp_step *t;
	size_t n, cap;
	struct range *ranges;
	size_t n_ranges, cap_ranges;
	struct range *erases; /* NAND erase coverage */
	size_t n_erases, cap_erases;
	bool nand;
	bool nomem;
};

static void *grow(void *arr, size_t *cap, size_t n, size_t size, bool *nomem)
{
	if (n < *cap)
		return arr;
	size_t c = *cap ? *cap * 2 : 64;
	void *p = realloc(arr, c * size);
	if (p == NULL) {
		*nomem = true;
		return NULL;
	}
	*cap = c;
	return p;
}

static struct tmp_step *add_step(struct builder *b, enum phase phase)
{
	struct tmp_step *t = grow(b->t, &b->cap, b->n, sizeof(*t), &b->nomem);

	if (t == NULL)
		return NULL;
	b->t = t;
	t = &b->t[b->n];
	memset(t, 0, sizeof(*t));
	t->phase = phase;
	t->seq = b->n++;
	t->dig.file = -2; /* no digest */
	return t;
}

static void add_range(struct builder *b, struct range **arr, size_t *n, size_t *cap, struct range r)
{
	struct range *p = grow(*arr, cap, *n, sizeof(r), &b->nomem);

	if (p == NULL)
		return;
	*arr = p;
	(*arr)[(*n)++] = r;
}

/* The text sent to the programmer: a constant as plain decimal, else as written. */
static void expr_text(char *out, size_t cap, const char *text, const struct edl_expr *e)
{
	uint64_t v;
	struct edl_expr_env env = {0};

	if (edl_expr_is_const(e) && edl_expr_eval(&v, e, &env, NULL) == EDL_OK)
		snprintf(out, cap, "%llu", (unsigned long long)v);
	else
		snprintf(out, cap, "%s", text);
}

static bool const_value(const struct edl_expr *e, uint64_t *out)
{
	struct edl_expr_env env = {0};

	return edl_expr_is_const(e) && edl_expr_eval(out, e, &env, NULL) == EDL_OK;
}

static void step_from_entry(struct edl_plan_step *s, const struct edl_package *pkg,
                            const struct pkg_entry *e, enum edl_plan_step_kind kind)
{
	s->kind = kind;
	s->lun = e->lun;
	s->sector_size = e->sector_size;
	expr_text(s->start_sector, sizeof(s->start_sector), e->start_text, &e->start);
	s->num_sectors = e->num_sectors;
	s->pages_per_block = e->pages_per_block;
	if (e->last_text[0] != '\0')
		expr_text(s->last_sector, sizeof(s->last_sector), e->last_text, &e->last);
	snprintf(s->label, sizeof(s->label), "%s", e->label);
	snprintf(s->filename, sizeof(s->filename), "%s", e->path[0] ? e->path : e->filename);
	pkg_fmt(s->source, sizeof(s->source), "%s:%u", pkg->xmls[e->xml].path, e->line);
}

static bool starts_with_nocase(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* SBL/XBL by label, else by file name; on NAND the range at sector 0 too. */
static bool is_bootloader(const struct pkg_entry *e, bool nand)
{
	uint64_t start;

	if (e->label[0] != '\0') {
		if (starts_with_nocase(e->label, "sbl") || starts_with_nocase(e->label, "xbl"))
			return true;
	} else if (e->filename[0] != '\0') {
		const char *base = e->filename;
		for (const char *p = e->filename; *p; p++) {
			if (*p == '/' || *p == '\\')
				base = p + 1;
		}
		if (starts_with_nocase(base, "sbl") || starts_with_nocase(base, "xbl"))
			return true;
	}
	return nand && e->lun == 0 && const_value(&e->start, &start) && start == 0;
}

struct sparse_ctx {
	struct builder *b;
	const struct pkg_entry *e;
	long file;
	uint64_t start;
	enum phase phase;
	bool bootloader;
	int rc;
};

static int sparse_chunk(const struct edl_sparse_chunk *c, void *user)
{
	struct sparse_ctx *sc = user;
	struct builder *b = sc->b;
	struct pkg_file *f = &b->pkg->files[sc->file];
	struct tmp_step *t;
	uint32_t ss = sc->e->sector_size;

	if (c->out_len == 0 || (c->type != EDL_SPARSE_RAW && c->type != EDL_SPARSE_FILL))
		return 0;
	t = add_step(b, sc->phase);
	if (t == NULL)
		return EDL_E_NOMEM;
	step_from_entry(&t->step, b->pkg, sc->e, EDL_STEP_PROGRAM);
	snprintf(t->step.start_sector, sizeof(t->step.start_sector), "%llu",
	         (unsigned long long)(sc->start + c->out_offset / ss));
	t->step.num_sectors = c->out_len / ss;
	t->step.bootloader = sc->bootloader;
	t->step.verify = true;
	if (c->type == EDL_SPARSE_RAW) {
		size_t seg;
		t->step.data = f->map + c->file_offset;
		t->step.data_len = c->out_len;
		t->step.file_offset = c->file_offset;
		if (pkg_file_add_segment(f, c->file_offset, c->out_len, c->out_len, &seg) != EDL_OK)
			return EDL_E_NOMEM;
		t->dig.file = sc->file;
		t->dig.index = seg;
	} else {
		size_t fill;
		t->step.fill = true;
		t->step.fill_value = c->value;
		if (pkg_fill_add(b->pkg, c->value, c->out_len, &fill) != EDL_OK)
			return EDL_E_NOMEM;
		t->dig.file = -1;
		t->dig.index = fill;
	}
	return 0;
}

/* Builds the program steps of one entry; returns the sectors its range covers
 * (0 when nothing is written). */
static uint64_t build_program(struct builder *b, size_t ei, enum phase phase, bool bootloader)
{
	struct edl_package *pkg = b->pkg;
	const struct pkg_entry *e = &pkg->entries[ei];
	struct pkg_file *f = &pkg->files[e->file];
	uint32_t ss = e->sector_size;
	uint64_t off, avail, data_len, sectors;
	struct tmp_step *t;
	size_t seg;

	if (e->sparse && edl_sparse_detect(f->map, f->size)) {
		struct edl_sparse_info info;
		struct edl_error err;
		struct sparse_ctx sc = {
		        .b = b, .e = e, .file = e->file, .phase = phase, .bootloader = bootloader};
		int rc;

		edl_error_clear(&err);
		rc = edl_sparse_walk(&info, f->map, f->size, NULL, NULL, &err);
		if (rc != EDL_OK) {
			pkg_entry_diag(pkg, e, EDL_DIAG_ERROR, rc, "sparse image '%s': %s", e->path,
			               err.detail);
			return 0;
		}
		if (info.block_size % ss != 0) {
			pkg_entry_diag(
			        pkg, e, EDL_DIAG_ERROR, EDL_E_PKG_SPARSE,
			        "sparse image '%s' has %u-byte blocks, not a multiple of the "
			        "%u-byte sector",
			        e->path, info.block_size, ss);
			return 0;
		}
		uint64_t part_bytes;
		if (__builtin_mul_overflow(e->num_sectors, (uint64_t)ss, &part_bytes))
			part_bytes = UINT64_MAX;
		if (e->num_sectors > 0 && info.expanded_size > part_bytes) {
			pkg_entry_diag(pkg, e, EDL_DIAG_ERROR, EDL_E_PKG_TOO_LARGE,
			               "sparse image '%s' expands to %llu bytes, larger than its "
			               "partition%s%s%s of %llu bytes (%llu sectors of %u)",
			               e->path, (unsigned long long)info.expanded_size,
			               e->label[0] ? " '" : "", e->label, e->label[0] ? "'" : "",
			               (unsigned long long)part_bytes,
			               (unsigned long long)e->num_sectors, ss);
			return 0;
		}
		if (!const_value(&e->start, &sc.start)) {
			pkg_entry_diag(pkg, e, EDL_DIAG_ERROR, EDL_E_PKG_SPARSE,
			               "sparse image '%s' at start_sector '%s': chunks need a "
			               "constant start sector",
			               e->path, e->start_text);
			return 0;
		}
		f->sparse_crc = f->sparse_crc || edl_sparse_has_crc(&info);
		rc = edl_sparse_walk(&info, f->map, f->size, sparse_chunk, &sc, &err);
		if (rc != EDL_OK) {
			b->nomem = true;
			return 0;
		}
		return e->num_sectors > 0 ? e->num_sectors : info.expanded_size / ss;
	}
	if (e->sparse)
		pkg_entry_diag(pkg, e, EDL_DIAG_WARNING, EDL_E_PKG_SPARSE,
		               "'%s' is marked sparse but has no sparse header: written as it is",
		               e->path);

	if (__builtin_mul_overflow(e->file_sector_offset, (uint64_t)ss, &off) || off > f->size) {
		pkg_entry_diag(pkg, e, EDL_DIAG_ERROR, EDL_E_PKG_TOO_LARGE,
		               "file_sector_offset %llu lies beyond the end of '%s' (%llu bytes)",
		               (unsigned long long)e->file_sector_offset, e->path,
		               (unsigned long long)f->size);
		return 0;
	}
	avail = f->size - off;
	data_len = avail;
	if (e->num_sectors > 0) {
		uint64_t part = e->num_sectors * ss;
		if (e->partofsingleimage || e->file_sector_offset > 0) {
			data_len = avail < part ? avail : part;
		} else if (avail > part) {
			pkg_entry_diag(
			        pkg, e, EDL_DIAG_ERROR, EDL_E_PKG_TOO_LARGE,
			        "image '%s' of %llu bytes is larger than its partition%s%s%s "
			        "of %llu bytes (%llu sectors of %u)",
			        e->path, (unsigned long long)avail, e->label[0] ? " '" : "",
			        e->label, e->label[0] ? "'" : "", (unsigned long long)part,
			        (unsigned long long)e->num_sectors, ss);
			return 0;
		}
	}
	if (data_len == 0) {
		pkg_entry_diag(pkg, e, EDL_DIAG_WARNING, EDL_E_PKG_MISSING,
		               "image '%s' is empty: nothing to write", e->path);
		return 0;
	}
	sectors = (data_len + ss - 1) / ss;
	t = add_step(b, phase);
	if (t == NULL)
		return 0;
	step_from_entry(&t->step, pkg, e, EDL_STEP_PROGRAM);
	t->step.num_sectors = sectors;
	t->step.partition_sectors = e->num_sectors; /* issue 13 */
	t->step.data = f->map + off;
	t->step.data_len = data_len;
	t->step.file_offset = off;
	t->step.verify = true;
	t->step.bootloader = bootloader;
	if (pkg_file_add_segment(f, off, data_len, sectors * ss, &seg) != EDL_OK) {
		b->nomem = true;
		return 0;
	}
	t->dig.file = e->file;
	t->dig.index = seg;
	return e->num_sectors > 0 ? e->num_sectors : sectors;
}

/* True when [start, start+len) of lun is covered by the recorded erases. */
static bool erased(const struct builder *b, uint32_t lun, uint64_t start, uint64_t len)
{
	uint64_t pos = start, end = start + len;
	bool progress = true;

	while (pos < end && progress) {
		progress = false;
		for (size_t i = 0; i < b->n_erases; i++) {
			const struct range *r = &b->erases[i];
			if (r->lun == lun && r->start <= pos && r->start + r->len > pos) {
				pos = r->start + r->len;
				progress = true;
			}
		}
	}
	return pos >= end;
}

static void add_erase_for(struct builder *b, size_t ei, enum phase phase, uint64_t len)
{
	const struct pkg_entry *e = &b->pkg->entries[ei];
	struct tmp_step *t = add_step(b, phase);

	if (t == NULL)
		return;
	step_from_entry(&t->step, b->pkg, e, EDL_STEP_ERASE);
	t->step.num_sectors = len;
	t->step.synthesized = true;
	t->step.bootloader = phase == PHASE_BOOT_ERASE;
	snprintf(t->step.filename, sizeof(t->step.filename), "%s", "");
}

/*
 * A VENDOR step: the element name and every attribute, names and values as the
 * XML gave them, in file order, in one allocation (vendor_attrs and the strings
 * it points to) that the plan owns. Nothing is added, parsed or merged: fwupd PR
 * #9204 shows that copying these attributes into a plain erase erased whole
 * devices. LUN 0 is only where the step is counted in the per-LUN totals.
 */
static void build_vendor(struct builder *b, size_t ei)
{
	const struct pkg_entry *e = &b->pkg->entries[ei];
	struct tmp_step *t;
	size_t bytes = 2 * e->n_attrs * sizeof(char *);
	char **attrs, *p;

	for (size_t i = 0; i < e->n_attrs; i++)
		bytes += strlen(e->attrs[i].name) + strlen(e->attrs[i].value) + 2;
	attrs = malloc(bytes > 0 ? bytes : 1);
	if (attrs == NULL) {
		b->nomem = true;
		return;
	}
	t = add_step(b, PHASE_VENDOR);
	if (t == NULL) {
		free(attrs);
		return;
	}
	p = (char *)(attrs + 2 * e->n_attrs);
	for (size_t i = 0; i < e->n_attrs; i++) {
		const char *kv[2] = {e->attrs[i].name, e->attrs[i].value};
		for (int k = 0; k < 2; k++) {
			size_t n = strlen(kv[k]) + 1;
			memcpy(p, kv[k], n);
			attrs[2 * i + (size_t)k] = p;
			p += n;
		}
	}
	t->step.kind = EDL_STEP_VENDOR;
	snprintf(t->step.element, sizeof(t->step.element), "%s", e->element);
	t->step.vendor_attrs = attrs;
	t->step.n_vendor_attrs = e->n_attrs;
	pkg_fmt(t->step.source, sizeof(t->step.source), "%s:%u", b->pkg->xmls[e->xml].path,
	        e->line);
}

static bool is_disk(const char *filename)
{
	return strcmp(filename, "DISK") == 0;
}

/* A DISK patch that does what the file patch e does. */
static bool has_disk_twin(const struct edl_package *pkg, const struct pkg_entry *e)
{
	for (size_t i = 0; i < pkg->n_entries; i++) {
		const struct pkg_entry *d = &pkg->entries[i];
		if (d->kind != PKG_PATCH || !d->ok || !is_disk(d->filename) || d->lun != e->lun ||
		    d->byte_offset != e->byte_offset || d->size_in_bytes != e->size_in_bytes)
			continue;
		if (e->what[0] != '\0' && d->what[0] != '\0') {
			if (strcmp(e->what, d->what) == 0)
				return true;
		} else if (strcmp(e->value_text, d->value_text) == 0) {
			return true;
		}
	}
	return false;
}

static void build_patch(struct builder *b, size_t ei, size_t *dropped)
{
	struct edl_package *pkg = b->pkg;
	const struct pkg_entry *e = &pkg->entries[ei];
	struct tmp_step *t;

	if (e->size_in_bytes < 1 || e->size_in_bytes > 8) {
		pkg_entry_diag(pkg, e, EDL_DIAG_ERROR, EDL_E_PKG_PATCH,
		               "patch of %llu bytes cannot be applied: size_in_bytes must be 1..8",
		               (unsigned long long)e->size_in_bytes);
		return;
	}
	if (e->byte_offset + e->size_in_bytes > e->sector_size) {
		pkg_entry_diag(pkg, e, EDL_DIAG_ERROR, EDL_E_PKG_PATCH,
		               "patch at byte_offset %llu of %llu bytes runs past its %u-byte "
		               "sector",
		               (unsigned long long)e->byte_offset,
		               (unsigned long long)e->size_in_bytes, e->sector_size);
		return;
	}
	if (!is_disk(e->filename)) {
		char dir[PKG_PATH_MAX + 1], rel[PKG_PATH_MAX + 1];
		struct edl_error err;
		bool present = false;
		int fd;

		edl_error_clear(&err);
		pkg_path_dirname(dir, sizeof(dir), pkg->xmls[e->xml].path);
		if (pkg_path_join(rel, sizeof(rel), dir, e->filename, &err) != EDL_OK) {
			pkg_entry_diag(pkg, e, EDL_DIAG_ERROR,
			               err.code == EDL_E_PKG_ESCAPE ? EDL_E_PKG_ESCAPE
			                                            : EDL_E_PKG_PATCH,
			               "patch target: %s", err.detail);
			return;
		}
		for (size_t i = 0; i < pkg->n_files && !present; i++)
			present = strcmp(pkg->files[i].path, rel) == 0;
		if (!present && pkg_path_open(&fd, pkg->root_real, rel, NULL, 0, &err) == EDL_OK) {
			close(fd);
			present = true;
		}
		if (!present) {
			pkg_entry_diag(pkg, e, EDL_DIAG_ERROR, EDL_E_PKG_PATCH,
			               "patch cannot be applied: its target '%s' is not in the "
			               "package (%s)",
			               rel, err.detail);
			return;
		}
		if (has_disk_twin(pkg, e)) {
			(*dropped)++;
			return;
		}
		pkg_entry_diag(pkg, e, EDL_DIAG_WARNING, EDL_E_PKG_PATCH,
		               "patch of '%s' (%s = %s) has no DISK counterpart: not applied, the "
		               "file is flashed as built",
		               rel, e->what[0] ? e->what : "value", e->value_text);
		return;
	}
	t = add_step(b, PHASE_PATCH);
	if (t == NULL)
		return;
	step_from_entry(&t->step, pkg, e, EDL_STEP_PATCH);
	t->step.num_sectors = 0;
	t->step.byte_offset = e->byte_offset;
	t->step.size_in_bytes = e->size_in_bytes;
	expr_text(t->step.value, sizeof(t->step.value), e->value_text, &e->value);
	snprintf(t->step.filename, sizeof(t->step.filename), "DISK");
	snprintf(t->step.label, sizeof(t->step.label), "%.63s", e->what);
}

static int cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	if (x->lun != y->lun)
		return x->lun < y->lun ? -1 : 1;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->entry < y->entry ? -1 : x->entry > y->entry;
}

/* Program partition ranges with constant starts must not overlap within a LUN. */
static void check_overlaps(struct builder *b)
{
	struct edl_package *pkg = b->pkg;
	size_t widest = 0;

	if (b->n_ranges < 2)
		return;
	qsort(b->ranges, b->n_ranges, sizeof(*b->ranges), cmp_range);
	for (size_t i = 1; i < b->n_ranges; i++) {
		const struct range *w = &b->ranges[widest], *r = &b->ranges[i];
		const struct pkg_entry *we = &pkg->entries[w->entry], *re = &pkg->entries[r->entry];

		if (r->lun != w->lun) {
			widest = i;
			continue;
		}
		if (r->start < w->start + w->len) {
			pkg_entry_diag(
			        pkg, re, EDL_DIAG_ERROR, EDL_E_PKG_OVERLAP,
			        "program of '%s' (LUN %u sectors %llu..%llu) overlaps program "
			        "of '%s' (%s:%u, sectors %llu..%llu)",
			        re->label[0] ? re->label : re->path, r->lun,
			        (unsigned long long)r->start,
			        (unsigned long long)(r->start + r->len - 1),
			        we->label[0] ? we->label : we->path, pkg->xmls[we->xml].path,
			        we->line, (unsigned long long)w->start,
			        (unsigned long long)(w->start + w->len - 1));
		}
		if (r->start + r->len > w->start + w->len)
			widest = i;
	}
}

static enum edl_storage_kind infer_storage(struct edl_package *pkg)
{
	bool ufs = false;

	for (size_t i = 0; i < pkg->n_entries; i++) {
		const struct pkg_entry *e = &pkg->entries[i];
		if (e->pages_per_block != 0 || pkg_entry_attr(e, "last_sector") != NULL)
			return EDL_STORAGE_NAND;
		if (e->sector_size == 4096)
			ufs = true;
	}
	for (size_t i = 0; i < pkg->n_xmls; i++) {
		if (strcmp(pkg->xmls[i].role, "rawprogram") == 0 &&
		    strcasestr(pkg->xmls[i].path, "nand") != NULL)
			return EDL_STORAGE_NAND;
	}
	return ufs ? EDL_STORAGE_UFS : EDL_STORAGE_EMMC;
}

static int cmp_tmp(const void *a, const void *b)
{
	const struct tmp_step *x = a, *y = b;

	if (x->phase != y->phase)
		return x->phase < y->phase ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Reports a geometry problem of one step. */
typedef void (*problem_fn)(void *data, int code, const struct edl_plan_step *s, const char *msg);

static bool eval_text(const char *text, uint64_t n, uint64_t *out, char *why, size_t cap)
{
	struct edl_expr e;
	struct edl_expr_env env = {.have_sectors = true, .num_disk_sectors = n};
	struct edl_error err;

	edl_error_clear(&err);
	if (edl_expr_parse(&e, text, &err) != EDL_OK ||
	    edl_expr_eval(out, &e, &env, &err) != EDL_OK) {
		pkg_fmt(why, cap, "%s", err.detail);
		return false;
	}
	return true;
}

struct wrange {
	uint64_t start, end;
	size_t step;
};

static int cmp_wrange(const void *a, const void *b)
{
	const struct wrange *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->step < y->step ? -1 : x->step > y->step;
}

static const char *step_name(const struct edl_plan_step *s)
{
	if (s->label[0] != '\0')
		return s->label;
	if (s->filename[0] != '\0')
		return s->filename;
	return s->start_sector;
}

/* Evaluates and checks every step of lun against n sectors; returns problems found. */
static size_t check_lun(const struct edl_plan *plan, uint32_t lun, uint64_t n, uint64_t *resolved,
                        problem_fn report, void *data)
{
	struct wrange *w = calloc(plan->n_steps + 1, sizeof(*w));
	size_t nw = 0, problems = 0;
	char msg[EDL_ERROR_DETAIL_MAX], why[256];

	if (w == NULL) {
		report(data, EDL_E_NOMEM, NULL, "no memory for the geometry check");
		return 1;
	}
	for (size_t i = 0; i < plan->n_steps; i++) {
		const struct edl_plan_step *s = &plan->steps[i];
		uint64_t start, last;

		if (s->lun != lun || s->kind == EDL_STEP_SET_BOOTABLE || s->kind == EDL_STEP_VENDOR)
			continue;
		if (!eval_text(s->start_sector, n, &start, why, sizeof(why))) {
			pkg_fmt(msg, sizeof(msg),
			        "%s of '%s' (%s): start_sector '%s': %s with %llu sectors",
			        edl_plan_step_kind_name(s->kind), step_name(s), s->source,
			        s->start_sector, why, (unsigned long long)n);
			report(data, EDL_E_PKG_GEOMETRY, s, msg);
			problems++;
			continue;
		}
		if (resolved != NULL)
			resolved[i] = start;
		if (s->kind == EDL_STEP_PATCH) {
			if (start >= n) {
				pkg_fmt(msg, sizeof(msg),
				        "patch '%s' (%s) at sector %llu is beyond the device's "
				        "%llu "
				        "sectors",
				        step_name(s), s->source, (unsigned long long)start,
				        (unsigned long long)n);
				report(data, EDL_E_PKG_GEOMETRY, s, msg);
				problems++;
			}
			continue;
		}
		if (start > n || s->num_sectors > n - start) {
			pkg_fmt(msg, sizeof(msg),
			        "%s of '%s' (%s): sectors %llu..%llu are beyond the device's %llu "
			        "sectors",
			        edl_plan_step_kind_name(s->kind), step_name(s), s->source,
			        (unsigned long long)start,
			        (unsigned long long)(start + s->num_sectors - 1),
			        (unsigned long long)n);
			report(data, EDL_E_PKG_GEOMETRY, s, msg);
			problems++;
			continue;
		}
		if (s->last_sector[0] != '\0') {
			if (!eval_text(s->last_sector, n, &last, why, sizeof(why)) ||
			    last < start || last >= n) {
				pkg_fmt(msg, sizeof(msg),
				        "%s of '%s' (%s): last_sector '%s' is not within "
				        "%llu..%llu",
				        edl_plan_step_kind_name(s->kind), step_name(s), s->source,
				        s->last_sector, (unsigned long long)start,
				        (unsigned long long)(n - 1));
				report(data, EDL_E_PKG_GEOMETRY, s, msg);
				problems++;
				continue;
			}
		}
		if (s->kind == EDL_STEP_PROGRAM && s->num_sectors > 0)
			w[nw++] = (struct wrange){start, start + s->num_sectors, i};
	}
	if (nw > 1)
		qsort(w, nw, sizeof(*w), cmp_wrange);
	for (size_t i = 1, widest = 0; i < nw; i++) {
		if (w[i].start < w[widest].end) {
			const struct edl_plan_step *a = &plan->steps[w[widest].step];
			const struct edl_plan_step *s = &plan->steps[w[i].step];
			pkg_fmt(msg, sizeof(msg),
			        "program of '%s' (%s, sectors %llu..%llu) overlaps program of '%s' "
			        "(%s, sectors %llu..%llu) with %llu sectors",
			        step_name(s), s->source, (unsigned long long)w[i].start,
			        (unsigned long long)(w[i].end - 1), step_name(a), a->source,
			        (unsigned long long)w[widest].start,
			        (unsigned long long)(w[widest].end - 1), (unsigned long long)n);
			report(data, EDL_E_PKG_OVERLAP, s, msg);
			problems++;
		}
		if (w[i].end > w[widest].end)
			widest = i;
	}
	free(w);
	return problems;
}

struct first_err {
	struct edl_error *err;
	int code;
};

static void first_problem(void *data, int code, const struct edl_plan_step *s, const char *msg)
{
	struct first_err *fe = data;

	(void)s;
	if (fe->code == EDL_OK) {
		fe->code = code;
		edl_error_set(fe->err, code, "%s", msg);
	}
}

int edl_plan_resolve(const struct edl_plan *plan, uint32_t lun, uint64_t num_disk_sectors,
                     uint64_t *resolved, struct edl_error *err)
{
	struct first_err fe = {.err = err, .code = EDL_OK};

	if (num_disk_sectors == 0)
		return edl_error_set(err, EDL_E_PKG_GEOMETRY, "LUN %u has no sectors", lun);
	check_lun(plan, lun, num_disk_sectors, resolved, first_problem, &fe);
	return fe.code;
}

static void diag_problem(void *data, int code, const struct edl_plan_step *s, const char *msg)
{
	struct edl_package *pkg = data;
	char file[256] = "";
	unsigned line = 0;

	if (s != NULL && s->source[0] != '\0') {
		const char *colon = strrchr(s->source, ':');
		if (colon != NULL && (size_t)(colon - s->source) < sizeof(file)) {
			memcpy(file, s->source, (size_t)(colon - s->source));
			file[colon - s->source] = '\0';
			line = (unsigned)strtoul(colon + 1, NULL, 10);
		}
	}
	/* One problem per source line: the chunks of a sparse image share it. */
	for (size_t i = 0; line != 0 && i < pkg->n_diags; i++) {
		const struct edl_package_diag *d = &pkg->diags[i];
		if (d->code == code && d->line == line && strcmp(d->file, file) == 0)
			return;
	}
	pkg_diag(pkg, EDL_DIAG_ERROR, code, file, line, "%s", msg);
}

const char *edl_plan_step_kind_name(enum edl_plan_step_kind kind)
{
	switch (kind) {
	case EDL_STEP_ERASE:
		return "erase";
	case EDL_STEP_PROGRAM:
		return "program";
	case EDL_STEP_PATCH:
		return "patch";
	case EDL_STEP_SET_BOOTABLE:
		return "setbootable";
	case EDL_STEP_VENDOR:
		return "vendor";
	}
	return "?";
}

/* Rough model: transfer at the link rate plus a per-command cost; NAND erases
 * cost per block. It excludes the device's own write speed beyond the link. */
#define CMD_MS 10
#define ERASE_MS 50
#define NAND_BLOCK_ERASE_MS 2

static uint64_t step_ms(const struct edl_plan *plan, const struct edl_plan_step *s, uint64_t rate)
{
	switch (s->kind) {
	case EDL_STEP_PROGRAM:
		return CMD_MS + s->num_sectors * s->sector_size * 1000u / rate;
	case EDL_STEP_ERASE:
		if (plan->storage == EDL_STORAGE_NAND) {
			uint64_t ppb = s->pages_per_block ? s->pages_per_block : 64;
			return CMD_MS + (s->num_sectors + ppb - 1) / ppb * NAND_BLOCK_ERASE_MS;
		}
		return CMD_MS + ERASE_MS;
	default:
		return CMD_MS;
	}
}

uint64_t edl_plan_estimate_ms(const struct edl_plan *plan, uint64_t link_rate)
{
	uint64_t ms = 0;

	if (link_rate == 0)
		link_rate = plan->link_rate ? plan->link_rate : EDL_PACKAGE_DEFAULT_LINK_RATE;
	for (size_t i = 0; i < plan->n_steps; i++)
		ms += step_ms(plan, &plan->steps[i], link_rate);
	return ms;
}

static void totals(struct edl_plan *plan)
{
	uint64_t rate = plan->link_rate;

	plan->n_luns = 0;
	plan->total_bytes = 0;
	for (uint32_t lun = 0; lun < EDL_PLAN_MAX_LUNS; lun++) {
		struct edl_plan_lun l = {.lun = lun};
		for (size_t i = 0; i < plan->n_steps; i++) {
			const struct edl_plan_step *s = &plan->steps[i];
			if (s->lun != lun)
				continue;
			l.n_steps++;
			l.est_ms += step_ms(plan, s, rate);
			if (s->kind == EDL_STEP_PROGRAM) {
				l.program_bytes += s->num_sectors * s->sector_size;
				if (s->fill)
					l.fill_bytes += s->num_sectors * s->sector_size;
			} else if (s->kind == EDL_STEP_ERASE) {
				l.erase_bytes += s->num_sectors * s->sector_size;
			}
		}
		if (l.n_steps == 0)
			continue;
		plan->luns[plan->n_luns++] = l;
		plan->total_bytes += l.program_bytes;
	}
	plan->est_ms = edl_plan_estimate_ms(plan, rate);
}

int pkg_plan_build(struct edl_package *pkg)
{
	struct builder b = {.pkg = pkg};
	size_t dropped = 0, empty = 0;
	bool have_boot_lun = false;
	uint32_t boot_lun = 0;
	int rc = EDL_OK;

	if (!pkg->storage_set) {
		pkg->storage = infer_storage(pkg);
		pkg->storage_inferred = true;
	}
	b.nand = pkg->storage == EDL_STORAGE_NAND;

	/* NAND: which ranges the XML erases (for the coverage check below). */
	for (size_t i = 0; b.nand && i < pkg->n_entries; i++) {
		const struct pkg_entry *e = &pkg->entries[i];
		uint64_t start;
		if (e->kind == PKG_ERASE && e->ok && const_value(&e->start, &start))
			add_range(&b, &b.erases, &b.n_erases, &b.cap_erases,
			          (struct range){e->lun, start, e->num_sectors, i});
	}

	for (size_t i = 0; i < pkg->n_entries && !b.nomem; i++) {
		const struct pkg_entry *e = &pkg->entries[i];
		bool boot;

		if (!e->ok)
			continue;
		switch (e->kind) {
		case PKG_ERASE: {
			struct tmp_step *t;
			boot = is_bootloader(e, b.nand);
			t = add_step(&b, boot ? PHASE_BOOT_ERASE : PHASE_MAIN);
			if (t == NULL)
				break;
			step_from_entry(&t->step, pkg, e, EDL_STEP_ERASE);
			t->step.bootloader = boot;
			t->step.filename[0] = '\0';
			break;
		}
		case PKG_PROGRAM: {
			enum phase phase;
			uint64_t len, start;
			size_t before = b.n;

			if (e->filename[0] == '\0') {
				empty++;
				break;
			}
			if (e->file < 0)
				break; /* missing or refused: already reported */
			boot = is_bootloader(e, b.nand);
			phase = boot     ? PHASE_BOOT_PROGRAM
			        : b.nand ? PHASE_NAND_PROGRAM
			                 : PHASE_MAIN;
			len = build_program(&b, i, phase, boot);
			if (len == 0 || b.n == before)
				break;
			if (boot && !have_boot_lun) {
				have_boot_lun = true;
				boot_lun = e->lun;
			}
			if (const_value(&e->start, &start)) {
				add_range(&b, &b.ranges, &b.n_ranges, &b.cap_ranges,
				          (struct range){e->lun, start, len, i});
				if (b.nand && !erased(&b, e->lun, start, len)) {
					add_erase_for(&b, i, boot ? PHASE_BOOT_ERASE : PHASE_MAIN,
					              len);
					pkg_entry_diag(
					        pkg, e, EDL_DIAG_NOTE, EDL_OK,
					        "NAND range %llu..%llu is programmed without "
					        "an erase: erase added",
					        (unsigned long long)start,
					        (unsigned long long)(start + len - 1));
				}
			}
			break;
		}
		case PKG_PATCH:
			build_patch(&b, i, &dropped);
			break;
		case PKG_VENDOR:
			build_vendor(&b, i);
			break;
		}
	}
	if (b.nomem) {
		rc = EDL_E_NOMEM;
		goto out;
	}
	check_overlaps(&b);
	if (dropped > 0)
		pkg_diag(
		        pkg, EDL_DIAG_NOTE, EDL_OK, NULL, 0,
		        "%zu patches aimed at files were dropped: the same patch is given for DISK",
		        dropped);
	(void)empty;

	if (pkg->storage != EDL_STORAGE_NAND) {
		if (have_boot_lun || pkg->storage == EDL_STORAGE_EMMC) {
			struct tmp_step *t = add_step(&b, PHASE_BOOTABLE);
			if (t == NULL) {
				rc = EDL_E_NOMEM;
				goto out;
			}
			t->step.kind = EDL_STEP_SET_BOOTABLE;
			t->step.lun = have_boot_lun ? boot_lun : 0;
			t->step.synthesized = true;
		} else {
			pkg_diag(pkg, EDL_DIAG_NOTE, EDL_OK, NULL, 0,
			         "no boot loader in the plan: no setbootablestoragedrive step");
		}
	}

	if (b.n > 1)
		qsort(b.t, b.n, sizeof(*b.t), cmp_tmp);
	pkg->plan.steps = calloc(b.n + 1, sizeof(*pkg->plan.steps));
	pkg->step_digest = calloc(b.n + 1, sizeof(*pkg->step_digest));
	if (pkg->plan.steps == NULL || pkg->step_digest == NULL) {
		rc = EDL_E_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < b.n; i++) {
		pkg->plan.steps[i] = b.t[i].step;
		pkg->step_digest[i] = b.t[i].dig;
	}
	pkg->plan.n_steps = b.n;
	b.n = 0; /* the plan owns the vendor attributes now */
	pkg->plan.storage = pkg->storage;
	pkg->plan.bootable_lun = have_boot_lun ? boot_lun : 0;
	pkg->plan.link_rate = pkg->link_rate;
	totals(&pkg->plan);

	for (uint32_t lun = 0; lun < EDL_PLAN_MAX_LUNS; lun++) {
		if (pkg->disk_sectors[lun] != 0)
			check_lun(&pkg->plan, lun, pkg->disk_sectors[lun], NULL, diag_problem, pkg);
	}
out:
	for (size_t i = 0; i < b.n; i++)
		free(b.t[i].step.vendor_attrs);
	free(b.t);
	free(b.ranges);
	free(b.erases);
	return rc;
}

void pkg_plan_set_digests(struct edl_package *pkg)
{
	for (size_t i = 0; i < pkg->plan.n_steps; i++) {
		struct edl_plan_step *s = &pkg->plan.steps[i];
		const struct pkg_step_digest *d = &pkg->step_digest[i];
		bool done = false;

		if (d->file >= 0) {
			const struct pkg_segment *seg = &pkg->files[d->file].segs[d->index];
			if (seg->done) {
				memcpy(s->sha256, seg->sha256, 32);
				done = true;
			}
		} else if (d->file == -1) {
			const struct pkg_fill *fl = &pkg->fills[d->index];
			if (fl->done) {
				memcpy(s->sha256, fl->sha256, 32);
				done = true;
			}
		}
		if (s->kind == EDL_STEP_PROGRAM)
			s->verify = done;
	}
}
