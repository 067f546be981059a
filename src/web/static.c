/*
 * The board's static files from [web] static_dir (default: the installed
 * web/ directory): "/" is index.html, "/NAME" is NAME or NAME.html, and
 * "/unit/SERIAL" is unit.html (the page reads the serial from its address).
 * Only plain names are served (letters, digits, '.', '_', '-', '/'; no
 * segment starting with '.'), only regular files up to WEB_STATIC_MAX bytes:
 * the files are the page's own, small and local, read whole on the loop.
 */
#include "web_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WEB_STATIC_MAX (8u * 1024 * 1024)

static const char *mime_of(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
	        {".html", "text/html; charset=utf-8"},
	        {".js", "text/javascript; charset=utf-8"},
	        {".css", "text/css; charset=utf-8"},
	        {".svg", "image/svg+xml"},
	        {".json", "application/json; charset=utf-8"},
	        {".png", "image/png"},
	        {".ico", "image/x-icon"},
	        {".txt", "text/plain; charset=utf-8"},
	        {".woff2", "font/woff2"},
	};
	const char *dot = strrchr(path, '.');
	for (size_t i = 0; dot != NULL && i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	}
	return "application/octet-stream";
}

static bool plain_path(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = p[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == '/';
		if (!ok || (c == '.' && i > 0 && p[i - 1] == '/'))
			return false;
	}
	return true;
}

/* Reads a regular file whole; 0, or -errno (-EFBIG past the bound). */
static int read_file(const char *path, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat sb;
	int rc = 0;

	*out = NULL;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return -ENOENT;
	}
	if ((uint64_t)sb.st_size > WEB_STATIC_MAX) {
		close(fd);
		return -EFBIG;
	}
	char *buf = malloc((size_t)sb.st_size + 1);
	size_t got = 0;
	while (buf != NULL && got < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (buf == NULL)
		return -ENOMEM;
	if (rc != 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	*len = got;
	return 0;
}

int web_static(struct web_server *srv, h2o_req_t *req)
{
	const char *p = req->path_normalized.base;
	size_t len = req->path_normalized.len;
	char path[1400];
	char *body = NULL;
	size_t blen = 0;
	int rc;

	if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
	    !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
		web_send_error(req, 405, NULL, "method not allowed", "pages take GET");
		return 0;
	}
	if (len == 1)
		p = "/index.html", len = 11;
	else if (len > 6 && memcmp(p, "/unit/", 6) == 0)
		p = "/unit.html", len = 10;
	if (len > 256 || !plain_path(p, len)) {
		web_send_error(req, 404, NULL, "no such page",
		               "page names are letters, digits, '.', '_', '-' and '/'");
		return 0;
	}
	snprintf(path, sizeof(path), "%s%.*s", srv->static_dir, (int)len, p);
	rc = read_file(path, &body, &blen);
	if (rc == -ENOENT && strchr(strrchr(path, '/'), '.') == NULL) {
		strncat(path, ".html", sizeof(path) - strlen(path) - 1);
		rc = read_file(path, &body, &blen);
	}
	if (rc != 0) {
		char detail[1500];
		snprintf(detail, sizeof(detail), "%.*s: %s", (int)len, p,
		         rc == -ENOENT || rc == -ENOTDIR || rc == -ELOOP ? "no such file"
		         : rc == -EFBIG                                  ? "file too large to serve"
		                                                         : strerror(-rc));
		web_send_error(
		        req, rc == -ENOENT || rc == -ENOTDIR || rc == -ELOOP ? 404 : 503, NULL,
		        rc == -ENOENT || rc == -ENOTDIR || rc == -ELOOP ? "no such page"
		                                                        : "cannot read the page",
		        detail);
		return 0;
	}
	web_send_body(req, 200, mime_of(path), body, blen);
	free(body);
	return 0;
}
