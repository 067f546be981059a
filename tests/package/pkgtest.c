/*
 * Helpers for the package tests (see pkgtest.h). Failures here abort the test:
 * they mean the test environment is broken, not the code under test.
 */
#include "pkgtest.h"

#include "package/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libxml/parser.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void die(const char *what, const char *path)
{
	fprintf(stderr, "pkgtest: %s %s: %s\n", what, path, strerror(errno));
	abort();
}

char *pt_mkdtemp(void)
{
	const char *tmp = getenv("TMPDIR");
	char buf[4096];
	char *dir;

	snprintf(buf, sizeof(buf), "%s/edlpkgXXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
	dir = strdup(buf);
	if (dir == NULL || mkdtemp(dir) == NULL)
		die("mkdtemp", buf);
	return dir;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0) {
		/* Directories made read-only by a test: allow and retry. */
		chmod(path, 0700);
		remove(path);
	}
	return 0;
}

static int unlock_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_D || flag == FTW_DP || S_ISDIR(st->st_mode))
		chmod(path, 0700);
	return 0;
}

void pt_rmtree(const char *dir)
{
	nftw(dir, unlock_one, 16, FTW_PHYS);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void mkdirs_for(const char *path)
{
	char buf[4096];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			die("mkdir", buf);
		*p = '/';
	}
}

void pt_write(const char *dir, const char *rel, const void *data, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	mkdirs_for(path);
	f = fopen(path, "wb");
	if (f == NULL)
		die("fopen", path);
	if (len > 0 && fwrite(data, 1, len, f) != len)
		die("fwrite", path);
	if (fclose(f) != 0)
		die("fclose", path);
}

void pt_write_str(const char *dir, const char *rel, const char *text)
{
	pt_write(dir, rel, text, strlen(text));
}

void pt_random(uint8_t *out, size_t len, uint32_t seed)
{
	uint64_t x = 0x9E3779B97F4A7C15ull ^ seed;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		out[i] = (uint8_t)(x >> 24);
	}
}

void pt_write_random(const char *dir, const char *rel, size_t len, uint32_t seed)
{
	uint8_t *buf = malloc(len + 1);

	if (buf == NULL)
		abort();
	pt_random(buf, len, seed);
	pt_write(dir, rel, buf, len);
	free(buf);
}

char *pt_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n)
		abort();
	buf[n] = '\0';
	fclose(f);
	if (len != NULL)
		*len = (size_t)n;
	return buf;
}

void pt_sample(char *out, size_t cap, const char *name)
{
	const char *dir = getenv("EDL_SAMPLES");

	snprintf(out, cap, "%s/%s", dir != NULL ? dir : "/work/shared/samples", name);
}

void pt_copy_sample(const char *dir, const char *rel, const char *sample)
{
	char path[4096];
	size_t len;
	char *data;

	pt_sample(path, sizeof(path), sample);
	data = pt_read(path, &len);
	if (data == NULL)
		die("read sample", path);
	pt_write(dir, rel, data, len);
	free(data);
}

void pt_make_images(const char *dir, const char *xml_rel, size_t max_bytes, uint32_t seed)
{
	char path[4096], xdir[PKG_PATH_MAX + 1], rel[PKG_PATH_MAX + 1];
	xmlDocPtr doc = NULL;
	unsigned off;
	size_t len;
	char *data;

	snprintf(path, sizeof(path), "%s/%s", dir, xml_rel);
	data = pt_read(path, &len);
	if (data == NULL || pkg_xml_read_mem(&doc, &off, data, len, NULL) != EDL_OK)
		die("parse", path);
	pkg_path_dirname(xdir, sizeof(xdir), xml_rel);
	for (xmlNodePtr n = xmlDocGetRootElement(doc)->children; n != NULL; n = n->next) {
		xmlChar *fn, *ss, *num;
		if (n->type != XML_ELEMENT_NODE || xmlStrcmp(n->name, BAD_CAST "program") != 0)
			continue;
		fn = xmlGetProp(n, BAD_CAST "filename");
		ss = xmlGetProp(n, BAD_CAST "SECTOR_SIZE_IN_BYTES");
		num = xmlGetProp(n, BAD_CAST "num_partition_sectors");
		if (fn != NULL && fn[0] != '\0' &&
		    pkg_path_join(rel, sizeof(rel), xdir, (const char *)fn, NULL) == EDL_OK) {
			uint64_t part = strtoull((const char *)ss, NULL, 10) *
			                strtoull((const char *)num, NULL, 10);
			size_t size = part == 0 || part / 3 > max_bytes ? max_bytes : part / 3;
			char full[4096];
			snprintf(full, sizeof(full), "%s/%s", dir, rel);
			if (access(full, F_OK) != 0)
				pt_write_random(dir, rel, size + (seed % 7), seed);
			seed++;
		}
		xmlFree(fn);
		xmlFree(ss);
		xmlFree(num);
	}
	xmlFreeDoc(doc);
	free(data);
}

int pt_load(struct edl_package **out, const char *dir, const char *cache_dir,
            struct edl_package_options *opt, struct edl_error *err)
{
	struct edl_package_options o;

	if (opt == NULL) {
		edl_package_options_init(&o);
		opt = &o;
	}
	opt->dir = dir;
	opt->cache_dir = cache_dir;
	opt->no_cache = cache_dir == NULL;
	return edl_package_load(out, opt, err);
}

const struct edl_package_diag *pt_find_diag(const struct edl_package *pkg, int sev,
                                            const char *text)
{
	for (size_t i = 0; i < edl_package_diag_count(pkg); i++) {
		const struct edl_package_diag *d = edl_package_diag(pkg, i);
		if ((int)d->severity == sev && strstr(d->message, text) != NULL)
			return d;
	}
	return NULL;
}

void pt_dump_diags(const struct edl_package *pkg)
{
	for (size_t i = 0; i < edl_package_diag_count(pkg); i++) {
		const struct edl_package_diag *d = edl_package_diag(pkg, i);
		fprintf(stderr, "  [%d] %s:%u: %s (%s)\n", d->severity, d->file, d->line,
		        d->message, edl_error_name(d->code));
	}
}

void pt_sha256(const void *data, size_t len, uint8_t out[32])
{
	unsigned int n = 0;

	EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

void pt_md5(const void *data, size_t len, uint8_t out[16])
{
	unsigned int n = 0;

	EVP_Digest(data, len, out, &n, EVP_md5(), NULL);
}

/* Appends the Quectel md5.txt lines of every file under dir/rel to *out. */
static void md5_walk(const char *dir, const char *rel, char **out, size_t *len)
{
	char path[4096];
	DIR *d;
	struct dirent *de;

	snprintf(path, sizeof(path), "%s%s%s", dir, rel[0] ? "/" : "", rel);
	d = opendir(path);
	if (d == NULL)
		die("opendir", path);
	while ((de = readdir(d)) != NULL) {
		char child[4096], full[4200], line[4300];
		struct stat st;
		uint8_t md[16];
		size_t n;
		char *data;
		int k;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(child, sizeof(child), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
		snprintf(full, sizeof(full), "%s/%s", dir, child);
		if (lstat(full, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			md5_walk(dir, child, out, len);
			continue;
		}
		if (!S_ISREG(st.st_mode) || strcmp(child, "md5.txt") == 0)
			continue;
		data = pt_read(full, &n);
		if (data == NULL)
			continue;
		pt_md5(data, n, md);
		free(data);
		k = snprintf(line, sizeof(line), "FILE:\\%s:", child);
		for (char *p = line; *p; p++) {
			if (*p == '/')
				*p = '\\';
		}
		for (int i = 0; i < 16; i++)
			k += snprintf(line + k, sizeof(line) - (size_t)k, "%02X", md[i]);
		k += snprintf(line + k, sizeof(line) - (size_t)k, "\r\n");
		*out = realloc(*out, *len + (size_t)k + 1);
		if (*out == NULL)
			abort();
		memcpy(*out + *len, line, (size_t)k + 1);
		*len += (size_t)k;
	}
	closedir(d);
}

void pt_write_quectel_md5(const char *dir)
{
	const char *head = "VERSION:1.0\r\nFILE:START\r\n";
	const char *tail = "FILE:END\r\n";
	size_t len = strlen(head);
	char *all = strdup(head);

	if (all == NULL)
		abort();
	md5_walk(dir, "", &all, &len);
	all = realloc(all, len + strlen(tail) + 1);
	if (all == NULL)
		abort();
	memcpy(all + len, tail, strlen(tail) + 1);
	pt_write(dir, "md5.txt", all, len + strlen(tail));
	free(all);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void pt_write_sparse(const char *dir, const char *rel, uint32_t seed)
{
	enum { BLK = 4096 };
	size_t len = 28 + (12 + 2 * BLK) + 12 + (12 + 4) + (12 + BLK);
	uint8_t *b = calloc(1, len), *p;

	if (b == NULL)
		abort();
	put32(b, 0xed26ff3au);
	put16(b + 4, 1);
	put16(b + 8, 28);
	put16(b + 10, 12);
	put32(b + 12, BLK);
	put32(b + 16, 8);
	put32(b + 20, 4);
	p = b + 28;
	put16(p, 0xCAC1), put32(p + 4, 2), put32(p + 8, 12 + 2 * BLK);
	pt_random(p + 12, 2 * BLK, seed);
	p += 12 + 2 * BLK;
	put16(p, 0xCAC3), put32(p + 4, 3), put32(p + 8, 12);
	p += 12;
	put16(p, 0xCAC2), put32(p + 4, 2), put32(p + 8, 16), put32(p + 12, 0x55555555u);
	p += 16;
	put16(p, 0xCAC1), put32(p + 4, 1), put32(p + 8, 12 + BLK);
	pt_random(p + 12, BLK, seed + 1);
	pt_write(dir, rel, b, len);
	free(b);
}
