/*
 * Parsing of one Firehose document from the device into its <log> texts and
 * its <response> with every attribute, in document order. The bytes come from
 * a device and are untrusted: libxml2 runs with network access, entity
 * substitution and DTD loading off, and documents declaring a DTD or entities
 * are refused before libxml2 sees them. A malformed document is an error with
 * libxml2's own message, never a crash.
 */
#include "firehose/fh_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

void edl_fh_doc_free(struct edl_fh_doc *d)
{
	for (size_t i = 0; i < d->n_items; i++) {
		struct edl_fh_item *it = &d->items[i];
		free(it->text);
		for (size_t j = 0; j < it->n_attrs; j++) {
			free(it->attrs[j].name);
			free(it->attrs[j].value);
		}
		free(it->attrs);
	}
	free(d->items);
	d->items = NULL;
	d->n_items = 0;
}

const char *edl_fh_item_attr(const struct edl_fh_item *it, const char *name)
{
	for (size_t i = 0; i < it->n_attrs; i++)
		if (strcmp(it->attrs[i].name, name) == 0)
			return it->attrs[i].value;
	return NULL;
}

bool edl_fh_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	const char *p = s;
	int base = 10;
	char *end;

	if (s == NULL)
		return false;
	while (*p == ' ' || *p == '\t')
		p++;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	/* strtoull would accept a sign and skip more blanks: allow digits only. */
	if (!(base == 16 ? (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
	                           (*p >= 'A' && *p <= 'F')
	                 : (*p >= '0' && *p <= '9')))
		return false;
	errno = 0;
	unsigned long long v = strtoull(p, &end, base);
	if (errno != 0)
		return false;
	while (*end == ' ' || *end == '\t')
		end++;
	if (*end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* Takes a libxml2 string: copies it with malloc so the item owns plain memory. */
static char *dup_xml(const xmlChar *s)
{
	return strdup(s != NULL ? (const char *)s : "");
}

static int add_item(struct edl_fh_doc *d, xmlNodePtr node, enum edl_fh_item_kind kind)
{
	struct edl_fh_item *items = realloc(d->items, (d->n_items + 1) * sizeof(*items));
	if (items == NULL)
		return EDL_E_NOMEM;
	d->items = items;
	struct edl_fh_item *it = &items[d->n_items];
	memset(it, 0, sizeof(*it));
	it->kind = kind;
	d->n_items++;

	size_t n = 0;
	for (xmlAttrPtr a = node->properties; a != NULL; a = a->next)
		n++;
	if (n > 0) {
		it->attrs = calloc(n, sizeof(*it->attrs));
		if (it->attrs == NULL)
			return EDL_E_NOMEM;
	}
	for (xmlAttrPtr a = node->properties; a != NULL; a = a->next) {
		xmlChar *v = xmlNodeListGetString(node->doc, a->children, 1);
		struct edl_fh_attr *at = &it->attrs[it->n_attrs];
		at->name = dup_xml(a->name);
		at->value = dup_xml(v);
		xmlFree(v);
		if (at->name == NULL || at->value == NULL) {
			free(at->name);
			free(at->value);
			return EDL_E_NOMEM;
		}
		it->n_attrs++;
	}
	const char *value = edl_fh_item_attr(it, "value");
	it->text = strdup(value != NULL ? value : "");
	return it->text != NULL ? EDL_OK : EDL_E_NOMEM;
}

/* Copies at most n bytes of text for a message, replacing control bytes. */
static void excerpt(char *dst, size_t dst_len, const char *src, size_t n)
{
	size_t j = 0;
	for (size_t i = 0; i < n && j + 1 < dst_len; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[j++] = (c < 0x20 || c >= 0x7f) ? '.' : (char)c;
	}
	dst[j] = '\0';
}

int edl_fh_doc_parse(struct edl_fh_doc *out, const char *xml, size_t len, size_t max,
                     struct edl_error *err)
{
	xmlParserCtxtPtr ctxt = NULL;
	xmlDocPtr doc = NULL;
	char start[48];
	int rc = EDL_OK;

	memset(out, 0, sizeof(*out));
	excerpt(start, sizeof(start), xml, len < 40 ? len : 40);
	if (len > max || len > INT32_MAX) {
		rc = edl_error_set(err, EDL_E_FH_TOO_LARGE, "document of %zu bytes (limit %zu)",
		                   len, max);
		goto out;
	}
	if (memmem(xml, len, "<!DOCTYPE", 9) != NULL || memmem(xml, len, "<!ENTITY", 8) != NULL) {
		rc = edl_error_set(err, EDL_E_FH_XML,
		                   "document declares a DTD or entities (refused): '%s'", start);
		goto out;
	}
	ctxt = xmlNewParserCtxt();
	if (ctxt == NULL) {
		rc = EDL_E_NOMEM;
		goto out;
	}
	/* The encoding is forced: Firehose speaks ASCII and a declared exotic
	 * encoding would only widen what untrusted bytes can reach. */
	doc = xmlCtxtReadMemory(ctxt, xml, (int)len, NULL, "UTF-8",
	                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL) {
		xmlErrorPtr e = xmlCtxtGetLastError(ctxt);
		char msg[160] = "unknown error";
		if (e != NULL && e->message != NULL) {
			snprintf(msg, sizeof(msg), "%s", e->message);
			size_t n = strlen(msg);
			while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
				msg[--n] = '\0';
		}
		rc = edl_error_from_xml(e != NULL ? e->code : 1);
		if (rc == EDL_OK)
			rc = EDL_E_FH_XML;
		edl_error_set(err, rc, "malformed XML at line %d: %s (document starts '%s')",
		              e != NULL ? e->line : 0, msg, start);
		goto out;
	}
	xmlNodePtr root = xmlDocGetRootElement(doc);
	if (root == NULL || xmlStrcmp(root->name, BAD_CAST "data") != 0) {
		rc = edl_error_set(err, EDL_E_FH_PROTOCOL, "root element is <%s>, not <data>",
		                   root != NULL ? (const char *)root->name : "");
		goto out;
	}
	for (xmlNodePtr n = root->children; n != NULL; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (xmlStrcmp(n->name, BAD_CAST "log") == 0)
			rc = add_item(out, n, EDL_FH_ITEM_LOG);
		else if (xmlStrcmp(n->name, BAD_CAST "response") == 0)
			rc = add_item(out, n, EDL_FH_ITEM_RESPONSE);
		if (rc != EDL_OK) {
			edl_error_set(err, rc, "out of memory parsing a document");
			goto out;
		}
	}
out:
	if (doc != NULL)
		xmlFreeDoc(doc);
	if (ctxt != NULL)
		xmlFreeParserCtxt(ctxt);
	return rc;
}
