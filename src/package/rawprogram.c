/*
 * <program>, <erase> and <patch> elements of rawprogram*.xml and patch*.xml, in
 * file order, with every attribute kept (unknown and vendor attributes such as
 * start_byte_hex, size_in_KB, Sha256 or force_erase are kept, never fatal) and
 * the ones of PROTOCOL.md section 4 parsed and checked: numbers with strtoull
 * rules and a range, sector expressions parsed once. A malformed attribute is a
 * diagnostic naming file, line, attribute and text; the entry is then marked
 * not ok and left out of the plan, and parsing goes on so that one load lists
 * every problem.
 *
 * Two rules keep a package safe on real programmers:
 *  - An <erase> must carry a range (num_partition_sectors > 0). Older Qualcomm
 *    programmers' handleErase reads only physical_partition_number and erases
 *    the whole physical partition (deviceprogrammer_firehose.c for MSM8909;
 *    Sony's Firehose doc: <erase StorageDrive="0"/> erases partition 0; qdl
 *    issues #193 and #244), so a range-less erase is refused, never sent.
 *  - An element with a vendor= attribute (Quectel RG500Q:
 *    <erase a_rawdata_start_sector="6528" ... vendor="quectel"/>) is a vendor
 *    entry: QFirehose recognises it by vendor="quectel" and sends the line as it
 *    is (firehose_protocol.c fh_parse_xml_line); fwupd calls these attributes
 *    Quectel-specific and PR #9204 shows that turning them into a plain erase
 *    erased whole devices. So none of its attributes is interpreted or checked
 *    here; they are kept verbatim for a VENDOR plan step. Only <erase> is seen
 *    with vendor= in public packages; any element name is accepted as its kin.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void pkg_entry_clear(struct pkg_entry *e)
{
	for (size_t i = 0; i < e->n_attrs; i++) {
		free(e->attrs[i].name);
		free(e->attrs[i].value);
	}
	free(e->attrs);
	e->attrs = NULL;
	e->n_attrs = 0;
}

const char *pkg_entry_attr(const struct pkg_entry *e, const char *name)
{
	for (size_t i = 0; i < e->n_attrs; i++) {
		if (strcmp(e->attrs[i].name, name) == 0)
			return e->attrs[i].value;
	}
	return NULL;
}

static int keep_attrs(struct pkg_entry *e, xmlNodePtr node)
{
	size_t n = 0;

	for (xmlAttrPtr a = node->properties; a != NULL; a = a->next)
		n++;
	if (n == 0)
		return EDL_OK;
	e->attrs = calloc(n, sizeof(*e->attrs));
	if (e->attrs == NULL)
		return EDL_E_NOMEM;
	for (xmlAttrPtr a = node->properties; a != NULL; a = a->next) {
		xmlChar *v = xmlNodeListGetString(node->doc, a->children, 1);
		char *name = strdup((const char *)a->name);
		char *value = strdup(v != NULL ? (const char *)v : "");
		xmlFree(v);
		if (name == NULL || value == NULL) {
			free(name);
			free(value);
			return EDL_E_NOMEM;
		}
		e->attrs[e->n_attrs].name = name;
		e->attrs[e->n_attrs].value = value;
		e->n_attrs++;
	}
	return EDL_OK;
}

/* Parses a required (or optional) number attribute in [min, max]. */
static bool attr_number(struct edl_package *pkg, struct pkg_entry *e, const char *name,
                        bool required, uint64_t min, uint64_t max, uint64_t *out)
{
	const char *v = pkg_entry_attr(e, name);
	uint64_t n;

	if (v == NULL) {
		if (required)
			pkg_entry_diag(pkg, e, EDL_DIAG_ERROR, EDL_E_PKG_PARSE,
			               "<%s> lacks the %s attribute",
			               e->kind == PKG_PATCH   ? "patch"
			               : e->kind == PKG_ERASE ? "erase"
			                                      : "program",
			               name);
		return !required;
	}
	if (edl_expr_parse_number(&n, v) != EDL_OK) {
		pkg_entry_diag(pkg, e, EDL_DIAG_ERROR, EDL_E_PKG_EXPR, "%s '%s' is not a number",
		               name, v);
		return false;
	}
	if (n < min || n > max) {
		pkg_entry_diag(pkg, e, EDL_DIAG_ERROR, EDL_E_PKG_EXPR,
		               "%s %llu is outside %llu..%llu", name, (unsigned long long)n,
		               (unsigned long long)min, (unsigned long long)max);
		return false;
	}
	*out = n;
	return true;
}

/* Parses a sector expression attribute; copies its trimmed text to text. */
static bool attr_expr(struct edl_package *pkg, struct pkg_entry *e, const char *name, bool required,
                      char *text, size_t cap, struct edl_expr *out)
{
	const char *v = pkg_entry_attr(e, name);
	struct edl_error err;
	size_t n;

	text[0] = '\0';
	if (v == NULL) {
		if (required)
			pkg_entry_diag(pkg, e, EDL_DIAG_ERROR, EDL_E_PKG_PARSE,
			               "<%s> lacks the %s attribute",
			               e->kind == PKG_PATCH   ? "patch"
			               : e->kind == PKG_ERASE ? "erase"
			                                      : "program",
			               name);
		return !required;
	}
	while (*v == ' ' || *v == '\t')
		v++;
	n = strlen(v);
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n >= cap) {
		pkg_entry_diag(pkg, e, EDL_DIAG_ERROR, EDL_E_PKG_EXPR,
		               "%s of %zu characters is too long", name, n);
		return false;
	}
	memcpy(text, v, n);
	text[n] = '\0';
	edl_error_clear(&err);
	if (edl_expr_parse(out, text, &err) != EDL_OK) {
		pkg_entry_diag(pkg, e, EDL_DIAG_ERROR, EDL_E_PKG_EXPR, "%s: %s", name, err.detail);
		return false;
	}
	return true;
}

static bool attr_bool(struct edl_package *pkg, struct pkg_entry *e, const char *name, bool *out)
{
	const char *v = pkg_entry_attr(e, name);

	*out = false;
	if (v == NULL || v[0] == '\0')
		return true;
	if (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0) {
		*out = true;
		return true;
	}
	if (strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0)
		return true;
	pkg_entry_diag(pkg, e, EDL_DIAG_ERROR, EDL_E_PKG_PARSE, "%s '%s' is neither true nor false",
	               name, v);
	return false;
}

static bool attr_string(struct edl_package *pkg, struct pkg_entry *e, const char *name, char *out,
                        size_t cap)
{
	const char *v = pkg_entry_attr(e, name);

	out[0] = '\0';
	if (v == NULL)
		return true;
	if (strlen(v) >= cap) {
		pkg_entry_diag(pkg, e, EDL_DIAG_ERROR, EDL_E_PKG_PARSE,
		               "%s of %zu characters is longer than %zu", name, strlen(v), cap - 1);
		return false;
	}
	memcpy(out, v, strlen(v) + 1);
	return true;
}

static bool parse_common(struct edl_package *pkg, struct pkg_entry *e)
{
	uint64_t v = 0;
	bool ok = true;

	if (attr_number(pkg, e, "SECTOR_SIZE_IN_BYTES", true, 1, 1u << 20, &v)) {
		if ((v & (v - 1)) != 0 || v < 512 || v > 65536) {
			pkg_entry_diag(
			        pkg, e, EDL_DIAG_ERROR, EDL_E_PKG_EXPR,
			        "SECTOR_SIZE_IN_BYTES %llu is not a power of two in 512..65536",
			        (unsigned long long)v);
			ok = false;
		}
		e->sector_size = (uint32_t)v;
	} else {
		ok = false;
	}
	v = 0;
	if (attr_number(pkg, e, "physical_partition_number", true, 0, EDL_PLAN_MAX_LUNS - 1, &v))
		e->lun = (uint32_t)v;
	else
		ok = false;
	ok &= attr_expr(pkg, e, "start_sector", true, e->start_text, sizeof(e->start_text),
	                &e->start);
	return ok;
}

static bool parse_program_erase(struct edl_package *pkg, struct pkg_entry *e)
{
	bool ok = parse_common(pkg, e);
	uint64_t v = 0;
	char label[256];

	if (e->kind == PKG_ERASE && pkg_entry_attr(e, "num_partition_sectors") == NULL) {
		pkg_entry_diag(pkg, e, EDL_DIAG_ERROR, EDL_E_PKG_PARSE,
		               "<erase> lacks num_partition_sectors: refused, an erase without a "
		               "range erases the whole LUN on real programmers");
		ok = false;
	} else if (!attr_number(pkg, e, "num_partition_sectors", true, 0, UINT64_MAX / 65536,
	                        &e->num_sectors)) {
		ok = false;
	} else if (e->kind == PKG_ERASE && e->num_sectors == 0) {
		pkg_entry_diag(pkg, e, EDL_DIAG_ERROR, EDL_E_PKG_PARSE,
		               "<erase> with num_partition_sectors 0: refused, an erase without a "
		               "range erases the whole LUN on real programmers");
		ok = false;
	}
	v = 0;
	if (attr_number(pkg, e, "PAGES_PER_BLOCK", false, 1, 1u << 16, &v))
		e->pages_per_block = (uint32_t)v;
	else
		ok = false;
	ok &= attr_expr(pkg, e, "last_sector", false, e->last_text, sizeof(e->last_text), &e->last);
	if (attr_string(pkg, e, "label", label, sizeof(label))) {
		if (strlen(label) >= sizeof(e->label)) {
			pkg_entry_diag(pkg, e, EDL_DIAG_WARNING, EDL_E_PKG_PARSE,
			               "label '%s' shortened to %zu characters", label,
			               sizeof(e->label) - 1);
			label[sizeof(e->label) - 1] = '\0';
		}
		memcpy(e->label, label, strlen(label) + 1);
	} else {
		ok = false;
	}
	if (e->kind == PKG_PROGRAM) {
		ok &= attr_string(pkg, e, "filename", e->filename, sizeof(e->filename));
		ok &= attr_number(pkg, e, "file_sector_offset", false, 0, UINT64_MAX / 65536,
		                  &e->file_sector_offset);
		ok &= attr_bool(pkg, e, "sparse", &e->sparse);
		ok &= attr_bool(pkg, e, "partofsingleimage", &e->partofsingleimage);
		if (pkg_entry_attr(e, "filename") == NULL)
			pkg_entry_diag(pkg, e, EDL_DIAG_WARNING, EDL_E_PKG_PARSE,
			               "<program> lacks the filename attribute: nothing to write");
	}
	return ok;
}

static bool parse_patch(struct edl_package *pkg, struct pkg_entry *e)
{
	bool ok = parse_common(pkg, e);

	ok &= attr_number(pkg, e, "byte_offset", true, 0, UINT32_MAX, &e->byte_offset);
	ok &= attr_number(pkg, e, "size_in_bytes", true, 0, UINT32_MAX, &e->size_in_bytes);
	ok &= attr_expr(pkg, e, "value", true, e->value_text, sizeof(e->value_text), &e->value);
	if (pkg_entry_attr(e, "filename") == NULL) {
		pkg_entry_diag(pkg, e, EDL_DIAG_ERROR, EDL_E_PKG_PARSE,
		               "<patch> lacks the filename attribute");
		ok = false;
	} else {
		ok &= attr_string(pkg, e, "filename", e->filename, sizeof(e->filename));
	}
	{
		const char *what = pkg_entry_attr(e, "what");
		snprintf(e->what, sizeof(e->what), "%s", what != NULL ? what : "");
	}
	return ok;
}

static int add_entry(struct edl_package *pkg, struct pkg_entry **out)
{
	if (pkg->n_entries >= PKG_MAX_ENTRIES)
		return EDL_E_RANGE;
	if (pkg->n_entries == pkg->cap_entries) {
		size_t cap = pkg->cap_entries ? pkg->cap_entries * 2 : 64;
		struct pkg_entry *n = realloc(pkg->entries, cap * sizeof(*n));
		if (n == NULL)
			return EDL_E_NOMEM;
		pkg->entries = n;
		pkg->cap_entries = cap;
	}
	*out = &pkg->entries[pkg->n_entries++];
	memset(*out, 0, sizeof(**out));
	(*out)->file = -1;
	return EDL_OK;
}

/* The vendor= attribute (any letter case: programmers match attribute names
 * without case, xmlIsAttribute), or NULL. */
static const char *vendor_attr(const struct pkg_entry *e)
{
	for (size_t i = 0; i < e->n_attrs; i++) {
		if (strcasecmp(e->attrs[i].name, "vendor") == 0)
			return e->attrs[i].value;
	}
	return NULL;
}

static bool has_vendor_prop(xmlNodePtr node)
{
	for (xmlAttrPtr a = node->properties; a != NULL; a = a->next) {
		if (strcasecmp((const char *)a->name, "vendor") == 0)
			return true;
	}
	return false;
}

/* A vendor entry: only its element name is checked; the attributes stay as
 * written. Sending it needs that vendor's programmer, hence the note. */
static bool parse_vendor(struct edl_package *pkg, struct pkg_entry *e, const char *name)
{
	const char *vendor = vendor_attr(e);

	if (strlen(name) >= sizeof(e->element)) {
		pkg_entry_diag(pkg, e, EDL_DIAG_ERROR, EDL_E_PKG_PARSE,
		               "vendor element <%.40s...> has a name longer than %zu characters",
		               name, sizeof(e->element) - 1);
		return false;
	}
	memcpy(e->element, name, strlen(name) + 1);
	if (strcasecmp(vendor, "quectel") == 0)
		pkg_entry_diag(pkg, e, EDL_DIAG_NOTE, EDL_OK,
		               "vendor entry <%s vendor=\"%s\"> is sent as written (%zu "
		               "attributes); only a Quectel programmer understands it",
		               e->element, vendor, e->n_attrs);
	else
		pkg_entry_diag(pkg, e, EDL_DIAG_WARNING, EDL_OK,
		               "vendor entry <%s vendor=\"%s\"> is sent as written (%zu "
		               "attributes); only Quectel's are known from public packages",
		               e->element, vendor, e->n_attrs);
	return true;
}

int pkg_rawprogram_collect(struct edl_package *pkg, size_t xml, xmlDocPtr doc, unsigned line_offset)
{
	xmlNodePtr root = xmlDocGetRootElement(doc);

	for (xmlNodePtr n = root->children; n != NULL; n = n->next) {
		struct pkg_entry *e;
		enum pkg_entry_kind kind;
		int rc;

		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (has_vendor_prop(n)) {
			kind = PKG_VENDOR;
		} else if (xmlStrcmp(n->name, BAD_CAST "program") == 0) {
			kind = PKG_PROGRAM;
		} else if (xmlStrcmp(n->name, BAD_CAST "erase") == 0) {
			kind = PKG_ERASE;
		} else if (xmlStrcmp(n->name, BAD_CAST "patch") == 0) {
			kind = PKG_PATCH;
		} else {
			pkg_diag(pkg, EDL_DIAG_WARNING, EDL_E_PKG_PARSE, pkg->xmls[xml].path,
			         (unsigned)xmlGetLineNo(n) + line_offset,
			         "element <%s> is not a program, erase or patch: ignored",
			         (const char *)n->name);
			continue;
		}
		rc = add_entry(pkg, &e);
		if (rc == EDL_E_RANGE) {
			pkg_diag(pkg, EDL_DIAG_ERROR, EDL_E_PKG_PARSE, pkg->xmls[xml].path,
			         (unsigned)xmlGetLineNo(n) + line_offset,
			         "more than %u program/erase/patch elements", PKG_MAX_ENTRIES);
			return EDL_E_PKG_PARSE;
		}
		if (rc != EDL_OK)
			return rc;
		e->kind = kind;
		e->xml = xml;
		e->line = (unsigned)xmlGetLineNo(n) + line_offset;
		if (keep_attrs(e, n) != EDL_OK)
			return EDL_E_NOMEM;
		if (kind == PKG_VENDOR)
			e->ok = parse_vendor(pkg, e, (const char *)n->name);
		else if (kind == PKG_PATCH)
			e->ok = parse_patch(pkg, e);
		else
			e->ok = parse_program_erase(pkg, e);
	}
	return EDL_OK;
}
