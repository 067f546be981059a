/*
 * Facts from the descriptive XML files a package may carry: contents.xml
 * (product, chip, the flash programmer QPST would use, the download files) and
 * the partition layout sources (ptool's partition.xml, partition_nand.xml).
 * None of them drives the plan, which comes from rawprogram/patch files only:
 * they are read for the report and to make sure they parse.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

/* The trimmed text of the first descendant element named `name`, or NULL. */
static xmlNodePtr find_elem(xmlNodePtr node, const char *name)
{
	for (xmlNodePtr n = node; n != NULL; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (xmlStrcmp(n->name, BAD_CAST name) == 0)
			return n;
		xmlNodePtr c = find_elem(n->children, name);
		if (c != NULL)
			return c;
	}
	return NULL;
}

static void text_of(char *out, size_t cap, xmlNodePtr node)
{
	xmlChar *t = node != NULL ? xmlNodeGetContent(node) : NULL;
	const char *s = t != NULL ? (const char *)t : "";
	size_t n;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	n = strlen(s);
	while (n > 0 &&
	       (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		n--;
	if (n >= cap)
		n = cap - 1;
	memcpy(out, s, n);
	out[n] = '\0';
	xmlFree(t);
}

/* The build id of the <build> named "common", else the first non-empty one. */
static void find_build_id(char *out, size_t cap, xmlNodePtr node)
{
	for (xmlNodePtr n = node; n != NULL; n = n->next) {
		char name[64], id[64];

		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (xmlStrcmp(n->name, BAD_CAST "build") != 0) {
			find_build_id(out, cap, n->children);
			continue;
		}
		text_of(name, sizeof(name), find_elem(n->children, "name"));
		text_of(id, sizeof(id), find_elem(n->children, "build_id"));
		if (id[0] != '\0' && (out[0] == '\0' || strcmp(name, "common") == 0))
			snprintf(out, cap, "%s", id);
	}
}

static size_t count_elems(xmlNodePtr node, const char *name)
{
	size_t count = 0;

	for (xmlNodePtr n = node; n != NULL; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (xmlStrcmp(n->name, BAD_CAST name) == 0)
			count++;
		count += count_elems(n->children, name);
	}
	return count;
}

int pkg_contents_read(struct pkg_contents *out, xmlDocPtr doc, struct edl_error *err)
{
	xmlNodePtr root = xmlDocGetRootElement(doc);

	memset(out, 0, sizeof(*out));
	switch (pkg_xml_classify(doc)) {
	case PKG_XML_CONTENTS: {
		xmlNodePtr prog = find_elem(root->children, "flash_programmer");
		text_of(out->product, sizeof(out->product),
		        find_elem(root->children, "product_name"));
		text_of(out->chipid, sizeof(out->chipid), find_elem(root->children, "chipid"));
		if (prog != NULL) {
			char name[128], dir[128];
			text_of(name, sizeof(name), find_elem(prog->children, "file_name"));
			text_of(dir, sizeof(dir), find_elem(prog->children, "file_path"));
			snprintf(out->programmer, sizeof(out->programmer), "%s%s", dir, name);
		}
		find_build_id(out->build_id, sizeof(out->build_id), root->children);
		out->n_download_files = count_elems(root->children, "download_file");
		return EDL_OK;
	}
	case PKG_XML_PTOOL:
	case PKG_XML_NANDBOOT:
		out->n_partitions = count_elems(root->children, "partition");
		return EDL_OK;
	default:
		return edl_error_set(err, EDL_E_PKG_PARSE,
		                     "root element <%s> is not contents, configuration or nandboot",
		                     root != NULL ? (const char *)root->name : "");
	}
}
