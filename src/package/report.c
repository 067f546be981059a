/*
 * `edlstation package check` output: a human report (what was loaded, the
 * problems with file and line, the plan as a table, per-LUN totals and the time
 * estimate) or one JSON document holding the same with every step. Only reads
 * the loaded package. Every string that comes from the package (paths, labels,
 * file names, product, values, and the diagnostics that quote them) is escaped:
 * control bytes and DEL are written \xNN in text, so a newline in a label
 * cannot fake a line; edl_json_string escapes them in JSON.
 */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "edlstation/json.h"

static const char *severity_name(enum edl_diag_severity s)
{
	switch (s) {
	case EDL_DIAG_ERROR:
		return "error";
	case EDL_DIAG_WARNING:
		return "warning";
	case EDL_DIAG_NOTE:
		return "note";
	}
	return "?";
}

static const char *human(char *buf, size_t cap, uint64_t bytes)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024.0 && u < 4) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, cap, "%" PRIu64 " B", bytes);
	else
		snprintf(buf, cap, "%.1f %s", v, unit[u]);
	return buf;
}

/* s with every control byte (< 0x20) and DEL written \xNN, into out (cap
 * bytes; cut short when long). Returns out. */
static const char *esc(char *out, size_t cap, const char *s)
{
	size_t n = 0;

	for (; *s != '\0' && n + 5 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f)
			n += (size_t)snprintf(out + n, cap - n, "\\x%02x", c);
		else
			out[n++] = (char)c;
	}
	out[n] = '\0';
	return out;
}

#define ESC_MAX (2 * EDL_ERROR_DETAIL_MAX)

static void print_diag_line(FILE *f, const struct edl_package_diag *d)
{
	char e[ESC_MAX];

	fprintf(f, "  %-7s ", severity_name(d->severity));
	if (d->file[0] != '\0' && d->line != 0)
		fprintf(f, "%s:%u: ", esc(e, sizeof(e), d->file), d->line);
	else if (d->file[0] != '\0')
		fprintf(f, "%s: ", esc(e, sizeof(e), d->file));
	fprintf(f, "%s", esc(e, sizeof(e), d->message));
	if (d->code != EDL_OK)
		fprintf(f, " [%s]", edl_error_name(d->code));
	fputc('\n', f);
}

/* A vendor step as it goes to the programmer: <erase a="1" ... vendor="quectel"/>
 * (values as parsed; the sender escapes them). Truncated with "..." when long. */
static void vendor_text(char *out, size_t cap, const struct edl_plan_step *s)
{
	size_t n = (size_t)snprintf(out, cap, "<%s", s->element);

	for (size_t i = 0; i < s->n_vendor_attrs && n < cap; i++)
		n += (size_t)snprintf(out + n, cap - n, " %s=\"%s\"", s->vendor_attrs[2 * i],
		                      s->vendor_attrs[2 * i + 1]);
	if (n < cap)
		n += (size_t)snprintf(out + n, cap - n, "/>");
	if (n >= cap && cap > 4)
		memcpy(out + cap - 4, "...", 4);
}

void edl_package_print_text(FILE *f, const struct edl_package *pkg)
{
	const struct edl_plan *plan = &pkg->plan;
	const struct edl_package_stats *st = &pkg->stats;
	char a[32], b[32], e[ESC_MAX], e2[ESC_MAX];

	fprintf(f, "package    %s\n", esc(e, sizeof(e), edl_package_root(pkg)));
	fprintf(f, "name       %s", esc(e, sizeof(e), edl_package_name(pkg)));
	if (edl_package_version(pkg)[0] != '\0')
		fprintf(f, "; version %s", esc(e, sizeof(e), edl_package_version(pkg)));
	fputc('\n', f);
	fprintf(f, "layout     %s; storage %s%s\n", edl_package_layout_name(pkg->layout),
	        edl_storage_name(pkg->storage),
	        pkg->storage_inferred ? " (inferred from the XML; --storage names it)" : "");
	if (pkg->programmer_file >= 0)
		fprintf(f, "programmer %s (%s)\n", esc(e, sizeof(e), pkg->programmer),
		        human(a, sizeof(a), pkg->files[pkg->programmer_file].size));
	for (size_t i = 0; i < pkg->n_xmls; i++) {
		const struct pkg_xml *x = &pkg->xmls[i];
		fprintf(f, "%-10s %s", x->role, esc(e, sizeof(e), x->path));
		if (strcmp(x->role, "contents") == 0 && pkg->have_contents &&
		    pkg->contents.product[0] != '\0')
			fprintf(f, " (%s)", esc(e, sizeof(e), pkg->contents.product));
		fputc('\n', f);
	}
	if (st->manifest_entries > 0)
		fprintf(f, "manifest   %zu entries, %zu match\n", st->manifest_entries,
		        st->manifest_checked);
	fprintf(f, "files      %zu files, %s: %zu hashed (%s) in %" PRIu64 " ms on %u threads",
	        st->files, human(a, sizeof(a), st->bytes_total), st->files_hashed,
	        human(b, sizeof(b), st->bytes_hashed), st->hash_ms, st->threads);
	if (st->hash_ms > 0 && st->bytes_hashed > 0)
		fprintf(f, " (%.0f MB/s)", (double)st->bytes_hashed / 1e3 / (double)st->hash_ms);
	fprintf(f, ", %zu from the hash cache\n", st->files_cached);
	fprintf(f, "load       %" PRIu64 " ms\n", st->load_ms);

	if (pkg->n_diags > 0) {
		fprintf(f, "\nproblems:\n");
		for (int sev = EDL_DIAG_ERROR; sev <= EDL_DIAG_NOTE; sev++) {
			for (size_t i = 0; i < pkg->n_diags; i++) {
				if ((int)pkg->diags[i].severity == sev)
					print_diag_line(f, &pkg->diags[i]);
			}
		}
	}

	if (plan->n_steps > 0) {
		fprintf(f,
		        "\nplan: %zu steps on %s (* boot loader, + added by the ordering rules)\n",
		        plan->n_steps, edl_storage_name(plan->storage));
		fprintf(f, "  %4s %3s %-13s %-24s %10s %10s  %-28s %s\n", "#", "LUN", "step",
		        "start_sector", "sectors", "bytes", "label / file / value", "source");
		for (size_t i = 0; i < plan->n_steps; i++) {
			const struct edl_plan_step *s = &plan->steps[i];
			char kind[24], what[400], sectors[24] = "";
			snprintf(kind, sizeof(kind), "%s%s%s%s", edl_plan_step_kind_name(s->kind),
			         s->fill ? "(fill)" : "", s->bootloader ? "*" : "",
			         s->synthesized ? "+" : "");
			if (s->kind != EDL_STEP_VENDOR)
				snprintf(sectors, sizeof(sectors), "%" PRIu64, s->num_sectors);
			if (s->kind == EDL_STEP_VENDOR)
				vendor_text(what, sizeof(what), s);
			else if (s->kind == EDL_STEP_PATCH)
				snprintf(what, sizeof(what), "%" PRIu64 "@%" PRIu64 " = %s",
				         s->size_in_bytes, s->byte_offset, s->value);
			else if (s->kind == EDL_STEP_SET_BOOTABLE)
				snprintf(what, sizeof(what), "boot LUN %u", s->lun);
			else if (s->label[0] != '\0' && s->filename[0] != '\0')
				snprintf(what, sizeof(what), "%s (%s)", s->label, s->filename);
			else
				snprintf(what, sizeof(what), "%s",
				         s->label[0] ? s->label : s->filename);
			char start[ESC_MAX], src[ESC_MAX];
			fprintf(f, "  %4zu %3u %-13s %-24s %10s %10s  %-28s %s\n", i + 1, s->lun,
			        kind, esc(start, sizeof(start), s->start_sector), sectors,
			        s->kind == EDL_STEP_PROGRAM || s->kind == EDL_STEP_ERASE
			                ? human(a, sizeof(a), s->num_sectors * s->sector_size)
			                : "",
			        esc(e2, sizeof(e2), what), esc(src, sizeof(src), s->source));
		}
		fputc('\n', f);
		for (size_t i = 0; i < plan->n_luns; i++) {
			const struct edl_plan_lun *l = &plan->luns[i];
			char c[32];
			fprintf(f,
			        "LUN %u: %zu steps, program %s (fill %s), erase %s, about %.1f s\n",
			        l->lun, l->n_steps, human(a, sizeof(a), l->program_bytes),
			        human(b, sizeof(b), l->fill_bytes),
			        human(c, sizeof(c), l->erase_bytes), (double)l->est_ms / 1000.0);
		}
		fprintf(f, "total: program %s; about %.1f s at %.1f MB/s\n",
		        human(a, sizeof(a), plan->total_bytes), (double)plan->est_ms / 1000.0,
		        (double)plan->link_rate / 1e6);
	}
	if (pkg->n_errors == 0)
		fprintf(f, "\npackage is valid\n");
	else
		fprintf(f, "\npackage is INVALID: %zu error%s\n", pkg->n_errors,
		        pkg->n_errors == 1 ? "" : "s");
}

/* Helpers for the JSON document: one member each. */
static void kv_str(struct edl_json *j, const char *k, const char *v)
{
	edl_json_key(j, k);
	edl_json_string(j, v);
}

static void kv_u64(struct edl_json *j, const char *k, uint64_t v)
{
	edl_json_key(j, k);
	edl_json_uint(j, v);
}

static void kv_bool(struct edl_json *j, const char *k, bool v)
{
	edl_json_key(j, k);
	edl_json_bool(j, v);
}

static void kv_hex(struct edl_json *j, const char *k, const uint8_t *bytes, size_t n)
{
	char hex[65];

	pkg_hex(hex, bytes, n);
	kv_str(j, k, hex);
}

void edl_package_print_json(FILE *f, const struct edl_package *pkg)
{
	const struct edl_plan *plan = &pkg->plan;
	const struct edl_package_stats *st = &pkg->stats;
	struct edl_json j;

	/* One line: scripts and tests/package/test_check.sh grep it. */
	edl_json_init_file(&j, f, EDL_JSON_COMPACT);
	edl_json_object_begin(&j);
	kv_bool(&j, "valid", pkg->n_errors == 0);
	kv_u64(&j, "errors", pkg->n_errors);
	edl_json_key(&j, "package");
	edl_json_object_begin(&j);
	kv_str(&j, "root", edl_package_root(pkg));
	kv_str(&j, "layout", edl_package_layout_name(pkg->layout));
	kv_str(&j, "storage", edl_storage_name(pkg->storage));
	kv_bool(&j, "storage_inferred", pkg->storage_inferred);
	kv_str(&j, "programmer", pkg->programmer);
	kv_str(&j, "product", edl_package_product(pkg));
	kv_str(&j, "name", edl_package_name(pkg));
	kv_str(&j, "version", edl_package_version(pkg));
	edl_json_key(&j, "xml");
	edl_json_array_begin(&j);
	for (size_t i = 0; i < pkg->n_xmls; i++) {
		edl_json_object_begin(&j);
		kv_str(&j, "path", pkg->xmls[i].path);
		kv_str(&j, "role", pkg->xmls[i].role);
		edl_json_object_end(&j);
	}
	edl_json_array_end(&j);
	edl_json_key(&j, "files");
	edl_json_array_begin(&j);
	for (size_t i = 0; i < pkg->n_files; i++) {
		const struct pkg_file *pf = &pkg->files[i];
		edl_json_object_begin(&j);
		kv_str(&j, "path", pf->path);
		kv_u64(&j, "size", pf->size);
		kv_bool(&j, "hashed", pf->hashed);
		kv_bool(&j, "from_cache", pf->from_cache);
		kv_bool(&j, "checked", pf->checked);
		if (pf->hashed) {
			kv_hex(&j, "md5", pf->md5, 16);
			kv_hex(&j, "sha256", pf->sha256, 32);
		}
		edl_json_object_end(&j);
	}
	edl_json_array_end(&j);
	edl_json_key(&j, "stats");
	edl_json_object_begin(&j);
	kv_u64(&j, "files", st->files);
	kv_u64(&j, "files_hashed", st->files_hashed);
	kv_u64(&j, "files_cached", st->files_cached);
	kv_u64(&j, "bytes_total", st->bytes_total);
	kv_u64(&j, "bytes_hashed", st->bytes_hashed);
	kv_u64(&j, "hash_ms", st->hash_ms);
	kv_u64(&j, "load_ms", st->load_ms);
	kv_u64(&j, "threads", st->threads);
	kv_u64(&j, "manifest_entries", st->manifest_entries);
	kv_u64(&j, "manifest_checked", st->manifest_checked);
	kv_bool(&j, "cache_used", st->cache_used);
	kv_bool(&j, "cache_written", st->cache_written);
	edl_json_object_end(&j);
	edl_json_object_end(&j); /* package */

	edl_json_key(&j, "problems");
	edl_json_array_begin(&j);
	for (size_t i = 0; i < pkg->n_diags; i++) {
		const struct edl_package_diag *d = &pkg->diags[i];
		edl_json_object_begin(&j);
		kv_str(&j, "severity", severity_name(d->severity));
		kv_str(&j, "code", d->code != EDL_OK ? edl_error_name(d->code) : "");
		kv_str(&j, "file", d->file);
		kv_u64(&j, "line", d->line);
		kv_str(&j, "message", d->message);
		edl_json_object_end(&j);
	}
	edl_json_array_end(&j);
	edl_json_key(&j, "plan");
	edl_json_object_begin(&j);
	kv_str(&j, "storage", edl_storage_name(plan->storage));
	kv_u64(&j, "total_bytes", plan->total_bytes);
	kv_u64(&j, "bootable_lun", plan->bootable_lun);
	kv_u64(&j, "link_rate", plan->link_rate);
	kv_u64(&j, "estimated_ms", plan->est_ms);
	edl_json_key(&j, "luns");
	edl_json_array_begin(&j);
	for (size_t i = 0; i < plan->n_luns; i++) {
		const struct edl_plan_lun *l = &plan->luns[i];
		edl_json_object_begin(&j);
		kv_u64(&j, "lun", l->lun);
		kv_u64(&j, "steps", l->n_steps);
		kv_u64(&j, "program_bytes", l->program_bytes);
		kv_u64(&j, "fill_bytes", l->fill_bytes);
		kv_u64(&j, "erase_bytes", l->erase_bytes);
		kv_u64(&j, "estimated_ms", l->est_ms);
		edl_json_object_end(&j);
	}
	edl_json_array_end(&j);
	edl_json_key(&j, "steps");
	edl_json_array_begin(&j);
	for (size_t i = 0; i < plan->n_steps; i++) {
		const struct edl_plan_step *s = &plan->steps[i];
		edl_json_object_begin(&j);
		kv_str(&j, "kind", edl_plan_step_kind_name(s->kind));
		if (s->kind == EDL_STEP_VENDOR) {
			/* The element and its attributes in file order, nothing else:
			 * the host interprets none of them. */
			kv_str(&j, "element", s->element);
			edl_json_key(&j, "attributes");
			edl_json_object_begin(&j);
			for (size_t k = 0; k < s->n_vendor_attrs; k++)
				kv_str(&j, s->vendor_attrs[2 * k], s->vendor_attrs[2 * k + 1]);
			edl_json_object_end(&j);
			kv_str(&j, "source", s->source);
			kv_u64(&j, "lun", s->lun);
			kv_bool(&j, "bootloader", false);
			kv_bool(&j, "synthesized", false);
			edl_json_object_end(&j);
			continue;
		}
		kv_u64(&j, "lun", s->lun);
		kv_u64(&j, "sector_size", s->sector_size);
		kv_str(&j, "start_sector", s->start_sector);
		kv_u64(&j, "num_sectors", s->num_sectors);
		kv_u64(&j, "pages_per_block", s->pages_per_block);
		kv_str(&j, "last_sector", s->last_sector);
		kv_str(&j, "label", s->label);
		kv_str(&j, "filename", s->filename);
		kv_str(&j, "source", s->source);
		kv_bool(&j, "bootloader", s->bootloader);
		kv_bool(&j, "synthesized", s->synthesized);
		if (s->kind == EDL_STEP_PROGRAM) {
			kv_u64(&j, "bytes", s->num_sectors * s->sector_size);
			kv_u64(&j, "data_len", s->data_len);
			kv_u64(&j, "file_offset", s->file_offset);
			kv_bool(&j, "fill", s->fill);
			if (s->fill)
				kv_u64(&j, "fill_value", s->fill_value);
			kv_bool(&j, "verify", s->verify);
			if (s->verify)
				kv_hex(&j, "sha256", s->sha256, 32);
		} else if (s->kind == EDL_STEP_PATCH) {
			kv_u64(&j, "byte_offset", s->byte_offset);
			kv_u64(&j, "size_in_bytes", s->size_in_bytes);
			kv_str(&j, "value", s->value);
		}
		edl_json_object_end(&j);
	}
	edl_json_array_end(&j);
	edl_json_object_end(&j); /* plan */
	edl_json_object_end(&j);
	(void)edl_json_finish(&j);
}
