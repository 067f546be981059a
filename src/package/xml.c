/*
 * Hardened loading of package XML (rawprogram, patch, contents, partition
 * layouts). These files come from vendors and users: they are untrusted bytes.
 * The rules: a size cap; any DTD or entity declaration refused before libxml2
 * sees the bytes (no billion laughs, no external entities); libxml2 runs with
 * NONET and without NOENT/DTDLOAD; errors carry libxml2's message and line.
 * Real files start with a UTF-8 BOM or blank lines before `<?xml`, which libxml2
 * rejects ("XML declaration allowed only at the start"): those are skipped and
 * the number of skipped lines is returned so messages keep the file's own line
 * numbers.
 */
#include "internal.h"

#include <errno.h>
#include <libxml/parser.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

int pkg_read_small_file(char **out, size_t *len, int fd, size_t max, struct edl_error *err)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int rc = EDL_OK;

	*out = NULL;
	*len = 0;
	if (fstat(fd, &st) != 0)
		return edl_error_set(err, edl_error_from_errno(errno), "stat: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return edl_error_set(err, EDL_E_PKG_PARSE, "not a regular file");
	if ((uint64_t)st.st_size > max)
		return edl_error_set(err, EDL_E_PKG_PARSE,
		                     "file of %llu bytes exceeds the %zu-byte limit",
		                     (unsigned long long)st.st_size, max);
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "no memory for %llu bytes",
		                     (unsigned long long)st.st_size);
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = edl_error_set(err, EDL_E_IO, "read: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break; /* shrank meanwhile: parse what is there */
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
out:
	free(buf);
	return rc;
}

/* Case-insensitive search for needle in the first len bytes of hay. */
static bool contains_nocase(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; i + n <= len; i++) {
		if (hay[i] == '<' && strncasecmp(hay + i, needle, n) == 0)
			return true;
	}
	return false;
}

int pkg_xml_read_mem(xmlDocPtr *out, unsigned *line_offset, const char *data, size_t len,
                     struct edl_error *err)
{
	xmlParserCtxtPtr ctxt = NULL;
	xmlDocPtr doc = NULL;
	size_t skip = 0;
	unsigned lines = 0;
	int rc = EDL_OK;

	*out = NULL;
	*line_offset = 0;
	if (len > PKG_XML_MAX)
		return edl_error_set(err, EDL_E_PKG_PARSE,
		                     "XML of %zu bytes exceeds the %u-byte limit", len,
		                     PKG_XML_MAX);
	if (contains_nocase(data, len, "<!DOCTYPE") || contains_nocase(data, len, "<!ENTITY"))
		return edl_error_set(err, EDL_E_PKG_XML_UNSAFE,
		                     "document declares a DTD or entities, which are refused");
	if (len >= 3 && (uint8_t)data[0] == 0xEF && (uint8_t)data[1] == 0xBB &&
	    (uint8_t)data[2] == 0xBF)
		skip = 3;
	while (skip < len && (data[skip] == ' ' || data[skip] == '\t' || data[skip] == '\r' ||
	                      data[skip] == '\n')) {
		if (data[skip] == '\n')
			lines++;
		skip++;
	}
	if (skip == len)
		return edl_error_set(err, EDL_E_PKG_PARSE, "document is empty");
	if (len - skip > (size_t)INT32_MAX)
		return edl_error_set(err, EDL_E_PKG_PARSE, "document too large");

	ctxt = xmlNewParserCtxt();
	if (ctxt == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "no memory for the XML parser");
	doc = xmlCtxtReadMemory(ctxt, data + skip, (int)(len - skip), NULL, NULL,
	                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
	                                XML_PARSE_BIG_LINES | XML_PARSE_NOCDATA);
	if (doc == NULL) {
		const xmlError *xe = xmlCtxtGetLastError(ctxt);
		char msg[256] = "unknown error";
		if (xe != NULL && xe->message != NULL) {
			snprintf(msg, sizeof(msg), "%s", xe->message);
			size_t n = strlen(msg);
			while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
				msg[--n] = '\0';
		}
		rc = edl_error_set(err, EDL_E_PKG_PARSE, "line %u: %s",
		                   (xe != NULL ? (unsigned)xe->line : 0) + lines, msg);
		goto out;
	}
	if (xmlDocGetRootElement(doc) == NULL) {
		rc = edl_error_set(err, EDL_E_PKG_PARSE, "document has no root element");
		goto out;
	}
	*out = doc;
	*line_offset = lines;
	doc = NULL;
out:
	if (doc != NULL)
		xmlFreeDoc(doc);
	xmlFreeParserCtxt(ctxt);
	return rc;
}

int pkg_xml_read_fd(xmlDocPtr *out, unsigned *line_offset, int fd, struct edl_error *err)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	rc = pkg_read_small_file(&buf, &len, fd, PKG_XML_MAX, err);
	if (rc != EDL_OK)
		return rc;
	rc = pkg_xml_read_mem(out, line_offset, buf, len, err);
	free(buf);
	return rc;
}

const char *pkg_xml_kind_name(enum pkg_xml_kind kind)
{
	switch (kind) {
	case PKG_XML_RAWPROGRAM:
		return "rawprogram";
	case PKG_XML_PATCH:
		return "patch";
	case PKG_XML_CONTENTS:
		return "contents";
	case PKG_XML_PTOOL:
		return "ptool-partition";
	case PKG_XML_NANDBOOT:
		return "nand-partition";
	case PKG_XML_UNKNOWN:
		break;
	}
	return "unknown";
}

enum pkg_xml_kind pkg_xml_classify(xmlDocPtr doc)
{
	xmlNodePtr root = xmlDocGetRootElement(doc);

	if (root == NULL || root->name == NULL)
		return PKG_XML_UNKNOWN;
	if (xmlStrcmp(root->name, BAD_CAST "data") == 0)
		return PKG_XML_RAWPROGRAM;
	if (xmlStrcmp(root->name, BAD_CAST "patches") == 0)
		return PKG_XML_PATCH;
	if (xmlStrcmp(root->name, BAD_CAST "contents") == 0)
		return PKG_XML_CONTENTS;
	if (xmlStrcmp(root->name, BAD_CAST "configuration") == 0)
		return PKG_XML_PTOOL;
	if (xmlStrcmp(root->name, BAD_CAST "nandboot") == 0)
		return PKG_XML_NANDBOOT;
	return PKG_XML_UNKNOWN;
}
