/*
 * `edlstation package check` output: a human report (what was loaded, the
 * problems with file and line, the plan as a table, per-LUN totals and the time
 * estimate) or one JSON document holding the same with every step. Only reads
 * the loaded package.
 */
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

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

static void print_diag_line(FILE *f, const struct edl_package_diag *d)
{
	fprintf(f, "  %-7s ", severity_name(d->severity));
	if (d->file[0] != '\0' && d->line != 0)
		fprintf(f, "%s:%u: ", d->file, d->line);
	else if (d->file[0] != '\0')
		fprintf(f, "%s: ", d->file);
	fprintf(f, "%s", d->message);
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
	char a[32], b[32];

	fprintf(f, "package    %s\n", edl_package_root(pkg));
	fprintf(f, "layout     %s; storage %s%s\n", edl_package_layout_name(pkg->layout),
	        edl_storage_name(pkg->storage),
	        pkg->storage_inferred ? " (inferred from the XML; --storage names it)" : "");
	if (pkg->programmer_file >= 0)
		fprintf(f, "programmer %s (%s)\n", pkg->programmer,
		        human(a, sizeof(a), pkg->files[pkg->programmer_file].size));
	for (size_t i = 0; i < pkg->n_xmls; i++) {
		const struct pkg_xml *x = &pkg->xmls[i];
		fprintf(f, "%-10s %s", x->role, x->path);
		if (strcmp(x->role, "contents") == 0 && pkg->have_contents &&
		    pkg->contents.product[0] != '\0')
			fprintf(f, " (%s)", pkg->contents.product);
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
			fprintf(f, "  %4zu %3u %-13s %-24s %10s %10s  %-28s %s\n", i + 1, s->lun,
			        kind, s->start_sector, sectors,
			        s->kind == EDL_STEP_PROGRAM || s->kind == EDL_STEP_ERASE
			                ? human(a, sizeof(a), s->num_sectors * s->sector_size)
			                : "",
			        what, s->source);
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

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

static void json_kv_str(FILE *f, const char *k, const char *v, bool comma)
{
	json_str(f, k);
	fputc(':', f);
	json_str(f, v);
	if (comma)
		fputc(',', f);
}

void edl_package_print_json(FILE *f, const struct edl_package *pkg)
{
	const struct edl_plan *plan = &pkg->plan;
	const struct edl_package_stats *st = &pkg->stats;
	char hex[65];

	fprintf(f, "{\"valid\":%s,", pkg->n_errors == 0 ? "true" : "false");
	fprintf(f, "\"errors\":%zu,", pkg->n_errors);
	fputs("\"package\":{", f);
	json_kv_str(f, "root", edl_package_root(pkg), true);
	json_kv_str(f, "layout", edl_package_layout_name(pkg->layout), true);
	json_kv_str(f, "storage", edl_storage_name(pkg->storage), true);
	fprintf(f, "\"storage_inferred\":%s,", pkg->storage_inferred ? "true" : "false");
	json_kv_str(f, "programmer", pkg->programmer, true);
	json_kv_str(f, "product", edl_package_product(pkg), true);
	fputs("\"xml\":[", f);
	for (size_t i = 0; i < pkg->n_xmls; i++) {
		fprintf(f, "%s{", i ? "," : "");
		json_kv_str(f, "path", pkg->xmls[i].path, true);
		json_kv_str(f, "role", pkg->xmls[i].role, false);
		fputc('}', f);
	}
	fputs("],\"files\":[", f);
	for (size_t i = 0; i < pkg->n_files; i++) {
		const struct pkg_file *pf = &pkg->files[i];
		fprintf(f, "%s{", i ? "," : "");
		json_kv_str(f, "path", pf->path, true);
		fprintf(f, "\"size\":%" PRIu64 ",\"hashed\":%s,\"from_cache\":%s,\"checked\":%s",
		        pf->size, pf->hashed ? "true" : "false", pf->from_cache ? "true" : "false",
		        pf->checked ? "true" : "false");
		if (pf->hashed) {
			pkg_hex(hex, pf->md5, 16);
			fprintf(f, ",\"md5\":\"%s\"", hex);
			pkg_hex(hex, pf->sha256, 32);
			fprintf(f, ",\"sha256\":\"%s\"", hex);
		}
		fputc('}', f);
	}
	fprintf(f,
	        "],\"stats\":{\"files\":%zu,\"files_hashed\":%zu,\"files_cached\":%zu,"
	        "\"bytes_total\":%" PRIu64 ",\"bytes_hashed\":%" PRIu64 ",\"hash_ms\":%" PRIu64
	        ",\"load_ms\":%" PRIu64 ",\"threads\":%u,\"manifest_entries\":%zu,"
	        "\"manifest_checked\":%zu,\"cache_used\":%s,\"cache_written\":%s}},",
	        st->files, st->files_hashed, st->files_cached, st->bytes_total, st->bytes_hashed,
	        st->hash_ms, st->load_ms, st->threads, st->manifest_entries, st->manifest_checked,
	        st->cache_used ? "true" : "false", st->cache_written ? "true" : "false");

	fputs("\"problems\":[", f);
	for (size_t i = 0; i < pkg->n_diags; i++) {
		const struct edl_package_diag *d = &pkg->diags[i];
		fprintf(f, "%s{", i ? "," : "");
		json_kv_str(f, "severity", severity_name(d->severity), true);
		json_kv_str(f, "code", d->code != EDL_OK ? edl_error_name(d->code) : "", true);
		json_kv_str(f, "file", d->file, true);
		fprintf(f, "\"line\":%u,", d->line);
		json_kv_str(f, "message", d->message, false);
		fputc('}', f);
	}
	fputs("],\"plan\":{", f);
	json_kv_str(f, "storage", edl_storage_name(plan->storage), true);
	fprintf(f,
	        "\"total_bytes\":%" PRIu64 ",\"bootable_lun\":%u,\"link_rate\":%" PRIu64
	        ",\"estimated_ms\":%" PRIu64 ",\"luns\":[",
	        plan->total_bytes, plan->bootable_lun, plan->link_rate, plan->est_ms);
	for (size_t i = 0; i < plan->n_luns; i++) {
		const struct edl_plan_lun *l = &plan->luns[i];
		fprintf(f,
		        "%s{\"lun\":%u,\"steps\":%zu,\"program_bytes\":%" PRIu64
		        ",\"fill_bytes\":%" PRIu64 ",\"erase_bytes\":%" PRIu64
		        ",\"estimated_ms\":%" PRIu64 "}",
		        i ? "," : "", l->lun, l->n_steps, l->program_bytes, l->fill_bytes,
		        l->erase_bytes, l->est_ms);
	}
	fputs("],\"steps\":[", f);
	for (size_t i = 0; i < plan->n_steps; i++) {
		const struct edl_plan_step *s = &plan->steps[i];
		fprintf(f, "%s{", i ? "," : "");
		json_kv_str(f, "kind", edl_plan_step_kind_name(s->kind), true);
		if (s->kind == EDL_STEP_VENDOR) {
			/* The element and its attributes in file order, nothing else:
			 * the host interprets none of them. */
			json_kv_str(f, "element", s->element, true);
			fputs("\"attributes\":{", f);
			for (size_t k = 0; k < s->n_vendor_attrs; k++) {
				if (k > 0)
					fputc(',', f);
				json_kv_str(f, s->vendor_attrs[2 * k], s->vendor_attrs[2 * k + 1],
				            false);
			}
			fputs("},", f);
			json_kv_str(f, "source", s->source, true);
			fprintf(f, "\"lun\":%u,\"bootloader\":false,\"synthesized\":false}",
			        s->lun);
			continue;
		}
		fprintf(f, "\"lun\":%u,\"sector_size\":%u,", s->lun, s->sector_size);
		json_kv_str(f, "start_sector", s->start_sector, true);
		fprintf(f, "\"num_sectors\":%" PRIu64 ",\"pages_per_block\":%u,", s->num_sectors,
		        s->pages_per_block);
		json_kv_str(f, "last_sector", s->last_sector, true);
		json_kv_str(f, "label", s->label, true);
		json_kv_str(f, "filename", s->filename, true);
		json_kv_str(f, "source", s->source, true);
		fprintf(f, "\"bootloader\":%s,\"synthesized\":%s", s->bootloader ? "true" : "false",
		        s->synthesized ? "true" : "false");
		if (s->kind == EDL_STEP_PROGRAM) {
			fprintf(f,
			        ",\"bytes\":%" PRIu64 ",\"data_len\":%" PRIu64
			        ",\"file_offset\":%" PRIu64 ",\"fill\":%s",
			        s->num_sectors * s->sector_size, s->data_len, s->file_offset,
			        s->fill ? "true" : "false");
			if (s->fill)
				fprintf(f, ",\"fill_value\":%u", s->fill_value);
			fprintf(f, ",\"verify\":%s", s->verify ? "true" : "false");
			if (s->verify) {
				pkg_hex(hex, s->sha256, 32);
				fprintf(f, ",\"sha256\":\"%s\"", hex);
			}
		} else if (s->kind == EDL_STEP_PATCH) {
			fprintf(f, ",\"byte_offset\":%" PRIu64 ",\"size_in_bytes\":%" PRIu64 ",",
			        s->byte_offset, s->size_in_bytes);
			json_kv_str(f, "value", s->value, false);
		}
		fputc('}', f);
	}
	fputs("]}}\n", f);
}
