/*
 * Manifests: Quectel's md5.txt and plain md5sum / sha256sum output.
 *
 * Quectel: "VERSION:1.0", "FILE:START", then "FILE:\update\sbl1.mbn:HEX" with
 * Windows separators and a leading backslash meaning the manifest's folder,
 * then "FILE:END"; CRLF line ends. QFirehose compared only the first 16 hex
 * digits; every digit is compared here. md5sum/sha256sum: "HEX  path" or
 * "HEX *path" (binary mode); BSD tags "MD5 (path) = HEX" too. A 32-digit digest
 * is MD5, a 64-digit one SHA-256. Each line's problem is reported with its line
 * number and parsing goes on.
 */
#include "internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void pkg_hex(char *out, const uint8_t *d, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool pkg_unhex(uint8_t *out, const char *hex, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(hex[2 * i]), lo;
		if (hi < 0)
			return false;
		lo = hexval(hex[2 * i + 1]);
		if (lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

/* Length of the run of hex digits at s. */
static size_t hex_run(const char *s)
{
	size_t n = 0;

	while (hexval(s[n]) >= 0)
		n++;
	return n;
}

static int add(struct pkg_manifest *m, size_t *cap)
{
	if (m->n == *cap) {
		size_t c = *cap ? *cap * 2 : 32;
		struct pkg_manifest_entry *e = realloc(m->entries, c * sizeof(*e));
		if (e == NULL)
			return EDL_E_NOMEM;
		m->entries = e;
		*cap = c;
	}
	memset(&m->entries[m->n], 0, sizeof(m->entries[0]));
	m->entries[m->n].file = -1;
	return EDL_OK;
}

/* Records one (path, hex digest) pair of line `line`. */
static int record(struct pkg_manifest *m, size_t *cap, unsigned line, const char *path,
                  const char *hex, size_t hexlen, const char *base_dir, pkg_diag_fn diag,
                  void *data)
{
	struct pkg_manifest_entry *e;
	struct edl_error err;
	int rc;

	if (hexlen != 32 && hexlen != 64) {
		diag(data, EDL_E_PKG_PARSE, line,
		     "digest of %zu hex digits is neither MD5 (32) nor SHA-256 (64)", hexlen);
		return EDL_OK;
	}
	rc = add(m, cap);
	if (rc != EDL_OK)
		return rc;
	e = &m->entries[m->n];
	e->line = line;
	e->kind = hexlen == 32 ? PKG_DIGEST_MD5 : PKG_DIGEST_SHA256;
	pkg_unhex(e->digest, hex, hexlen / 2);
	edl_error_clear(&err);
	if (pkg_path_join(e->path, sizeof(e->path), base_dir, path, &err) != EDL_OK) {
		diag(data, err.code, line, "%s", err.detail);
		return EDL_OK;
	}
	m->n++;
	return EDL_OK;
}

static int parse_line(struct pkg_manifest *m, size_t *cap, unsigned line, char *s,
                      const char *base_dir, pkg_diag_fn diag, void *data)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	if (n == 0 || s[0] == '#')
		return EDL_OK;

	if (strncmp(s, "VERSION:", 8) == 0 || strcmp(s, "FILE:START") == 0 ||
	    strcmp(s, "FILE:END") == 0) {
		m->quectel = true;
		return EDL_OK;
	}
	if (strncmp(s, "FILE:", 5) == 0) {
		char *colon = strrchr(s + 5, ':');
		char *path = s + 5;
		size_t hexlen;
		m->quectel = true;
		if (colon == NULL || colon == path) {
			diag(data, EDL_E_PKG_PARSE, line, "'%s' is not FILE:path:digest", s);
			return EDL_OK;
		}
		*colon = '\0';
		hexlen = hex_run(colon + 1);
		if (colon[1 + hexlen] != '\0' || hexlen == 0) {
			diag(data, EDL_E_PKG_PARSE, line, "'%s' is not a hex digest", colon + 1);
			return EDL_OK;
		}
		/* "\update\x": the leading separator means the manifest's own folder. */
		if (path[0] == '\\' || path[0] == '/')
			path++;
		return record(m, cap, line, path, colon + 1, hexlen, base_dir, diag, data);
	}
	if ((strncasecmp(s, "MD5 (", 5) == 0 || strncasecmp(s, "SHA256 (", 8) == 0)) {
		char *open = strchr(s, '(');
		char *close = strstr(s, ") = ");
		size_t hexlen;
		if (close == NULL || close < open) {
			diag(data, EDL_E_PKG_PARSE, line, "'%s' is not TAG (path) = digest", s);
			return EDL_OK;
		}
		*close = '\0';
		hexlen = hex_run(close + 4);
		if (close[4 + hexlen] != '\0') {
			diag(data, EDL_E_PKG_PARSE, line, "'%s' is not a hex digest", close + 4);
			return EDL_OK;
		}
		return record(m, cap, line, open + 1, close + 4, hexlen, base_dir, diag, data);
	}
	n = hex_run(s);
	if (n > 0 && (s[n] == ' ' || s[n] == '\t')) {
		char *path = s + n;
		while (*path == ' ' || *path == '\t')
			path++;
		if (*path == '*')
			path++;
		if (*path == '\0') {
			diag(data, EDL_E_PKG_PARSE, line, "digest without a file name");
			return EDL_OK;
		}
		return record(m, cap, line, path, s, n, base_dir, diag, data);
	}
	diag(data, EDL_E_PKG_PARSE, line, "'%.80s' is not a manifest line", s);
	return EDL_OK;
}

int pkg_manifest_parse(struct pkg_manifest *out, const char *text, size_t len, const char *base_dir,
                       pkg_diag_fn diag, void *diag_data)
{
	size_t cap = 0;
	unsigned line = 0;
	size_t pos = 0;
	char buf[2048];

	memset(out, 0, sizeof(*out));
	/* A UTF-8 BOM is tolerated. */
	if (len >= 3 && (uint8_t)text[0] == 0xEF && (uint8_t)text[1] == 0xBB &&
	    (uint8_t)text[2] == 0xBF)
		pos = 3;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - (text + pos)) : len - pos;
		int rc;

		line++;
		if (n >= sizeof(buf)) {
			diag(diag_data, EDL_E_PKG_PARSE, line, "line of %zu bytes is too long", n);
		} else if (memchr(text + pos, '\0', n) != NULL) {
			diag(diag_data, EDL_E_PKG_PARSE, line, "line contains a NUL byte");
		} else {
			memcpy(buf, text + pos, n);
			buf[n] = '\0';
			rc = parse_line(out, &cap, line, buf, base_dir, diag, diag_data);
			if (rc != EDL_OK) {
				pkg_manifest_free(out);
				return rc;
			}
		}
		pos += n + 1;
	}
	return EDL_OK;
}

void pkg_manifest_free(struct pkg_manifest *m)
{
	free(m->entries);
	m->entries = NULL;
	m->n = 0;
}
