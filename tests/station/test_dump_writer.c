/*
 * The station's memory-dump writer (dump_writer.h) driven through its sink as
 * the Sahara host drives it: files and manifest of a complete dump, the size
 * limit and the free-space check refusing before anything is created, a dump
 * abandoned midway (partial files kept, manifest incomplete with the reason),
 * a hostile serial kept inside the dump directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "edlstation/dump_writer.h"

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void regions(struct edl_sahara_region r[2])
{
	memset(r, 0, 2 * sizeof(*r));
	r[0] = (struct edl_sahara_region){.base = 0x80000000u, .length = 1000};
	snprintf(r[0].name, sizeof(r[0].name), "DDRCS0_0.BIN");
	snprintf(r[0].raw_name, sizeof(r[0].raw_name), "DDRCS0_0.BIN");
	snprintf(r[0].desc, sizeof(r[0].desc), "DDR CS0 part0 Memory");
	r[1] = (struct edl_sahara_region){.base = 0x0c264000u, .length = 4};
	snprintf(r[1].name, sizeof(r[1].name), "RST_STAT.BIN");
	snprintf(r[1].raw_name, sizeof(r[1].raw_name), "RST_STAT.BIN");
	snprintf(r[1].desc, sizeof(r[1].desc), "Reset Status Region");
}

static char *tmpdir(void)
{
	char tmpl[] = "/tmp/edl-dumpw.XXXXXX";
	char *d = mkdtemp(tmpl);

	assert_non_null(d);
	return strdup(d);
}

static void rm_rf(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_dump_writer_writes_regions_and_manifest(void **state)
{
	(void)state;
	char *top = tmpdir(), path[1024];
	struct edl_dump_writer_options o = {
	        .serial = "1a2b3c4d", .max_bytes = 1 << 20, .wall_ms = 1764606000000LL};
	struct edl_dump_writer *w;
	const struct edl_sahara_dump_sink *s;
	struct edl_sahara_region r[2];
	struct edl_error err;
	uint8_t data[1000];
	char *text;
	size_t len;

	snprintf(path, sizeof(path), "%s/dumps", top);
	o.dir = path;
	regions(r);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	assert_int_equal(edl_dump_writer_new(&w, &o), EDL_OK);
	s = edl_dump_writer_sink(w);
	assert_int_equal(s->begin(s->data, r, 2, 1004, true, &err), EDL_OK);
	assert_int_equal(s->region_data(s->data, 0, 0, data, 600, &err), EDL_OK);
	assert_int_equal(s->region_data(s->data, 0, 600, data + 600, 400, &err), EDL_OK);
	assert_int_equal(
	        s->region_data(s->data, 1, 0, (const uint8_t *)"\x01\x02\x03\x04", 4, &err),
	        EDL_OK);
	assert_int_equal(s->end(s->data, &err), EDL_OK);
	assert_true(edl_dump_writer_complete(w));
	/* 2025-12-01 16:20:00 UTC. */
	snprintf(path, sizeof(path), "%s/dumps/1a2b3c4d/20251201T162000Z", top);
	assert_string_equal(edl_dump_writer_dir(w), path);
	snprintf(path, sizeof(path), "%s/dumps/1a2b3c4d/20251201T162000Z/DDRCS0_0.BIN", top);
	text = read_all(path, &len);
	assert_int_equal(len, 1000);
	assert_memory_equal(text, data, 1000);
	free(text);
	assert_int_equal(edl_dump_writer_files(w), 2);
	assert_true(edl_dump_writer_file(w, 1)->complete);
	/* SHA-256 of 01 02 03 04. */
	assert_string_equal(edl_dump_writer_file(w, 1)->sha256,
	                    "9f64a747e1b97f131fabb6b447296c9b6f0201e79fb3c5356e6c77e89b6a806a");
	snprintf(path, sizeof(path), "%s/dumps/1a2b3c4d/20251201T162000Z/manifest.json", top);
	text = read_all(path, &len);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"complete\": true"));
	assert_non_null(strstr(text, "\"base\": \"0x80000000\""));
	assert_non_null(strstr(text, "\"description\": \"DDR CS0 part0 Memory\""));
	assert_non_null(
	        strstr(text, "9f64a747e1b97f131fabb6b447296c9b6f0201e79fb3c5356e6c77e89b6a806a"));
	free(text);
	/* A complete dump is not abandoned afterwards. */
	assert_int_equal(edl_dump_writer_abandon(w, "late", &err), EDL_OK);
	text = read_all(path, &len);
	assert_non_null(strstr(text, "\"complete\": true"));
	free(text);
	edl_dump_writer_free(w);
	rm_rf(top);
	free(top);
}

static void test_dump_writer_refuses_too_large_or_no_space(void **state)
{
	(void)state;
	char *top = tmpdir(), path[1024];
	struct edl_dump_writer_options o = {.serial = "1a2b3c4d", .max_bytes = 1000, .wall_ms = 1};
	struct edl_dump_writer *w;
	const struct edl_sahara_dump_sink *s;
	struct edl_sahara_region r[2];
	struct edl_error err;
	struct stat sb;

	snprintf(path, sizeof(path), "%s/dumps", top);
	o.dir = path;
	regions(r);
	assert_int_equal(edl_dump_writer_new(&w, &o), EDL_OK);
	s = edl_dump_writer_sink(w);
	assert_int_equal(s->begin(s->data, r, 2, 1004, false, &err), EDL_E_MEMORY_DUMP);
	assert_non_null(strstr(err.detail, "more than [rma] dump_max_mb"));
	assert_non_null(strstr(err.detail, "raise dump_max_mb to at least 1"));
	assert_int_equal(stat(path, &sb), -1); /* nothing created */
	assert_int_equal(edl_dump_writer_abandon(w, "refused", &err), EDL_OK);
	edl_dump_writer_free(w);

	/* Room the file system cannot have. */
	o.max_bytes = 1 << 20;
	o.reserve_bytes = UINT64_MAX / 2;
	assert_int_equal(edl_dump_writer_new(&w, &o), EDL_OK);
	s = edl_dump_writer_sink(w);
	assert_int_equal(s->begin(s->data, r, 2, 1004, false, &err), EDL_E_MEMORY_DUMP);
	assert_non_null(strstr(err.detail, "free, the dump needs 1 MiB"));
	assert_non_null(strstr(err.detail, "point [rma] dump_dir elsewhere"));
	snprintf(path, sizeof(path), "%s/dumps/1a2b3c4d", top);
	assert_int_equal(stat(path, &sb), -1);
	edl_dump_writer_free(w);
	rm_rf(top);
	free(top);
}

static void test_dump_writer_abandoned_dump_keeps_partial_files(void **state)
{
	(void)state;
	char *top = tmpdir(), path[1024];
	struct edl_dump_writer_options o = {
	        .serial = "../../evil", .max_bytes = 1 << 20, .wall_ms = 1};
	struct edl_dump_writer *w;
	const struct edl_sahara_dump_sink *s;
	struct edl_sahara_region r[2];
	struct edl_error err;
	uint8_t data[300] = {0};
	char *text;
	size_t len;

	o.dir = top;
	regions(r);
	assert_int_equal(edl_dump_writer_new(&w, &o), EDL_OK);
	s = edl_dump_writer_sink(w);
	assert_int_equal(s->begin(s->data, r, 2, 1004, false, &err), EDL_OK);
	assert_int_equal(s->region_data(s->data, 0, 0, data, 300, &err), EDL_OK);
	/* A hostile serial stays one directory below dump_dir. */
	snprintf(path, sizeof(path), "%s/______evil/19700101T000000Z", top);
	assert_string_equal(edl_dump_writer_dir(w), path);
	assert_int_equal(edl_dump_writer_abandon(w, "unplugged during probe", &err), EDL_OK);
	assert_false(edl_dump_writer_complete(w));
	assert_false(edl_dump_writer_file(w, 0)->complete);
	snprintf(path, sizeof(path), "%s/______evil/19700101T000000Z/manifest.json", top);
	text = read_all(path, &len);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"complete\": false"));
	assert_non_null(strstr(text, "\"reason\": \"unplugged during probe\""));
	assert_non_null(strstr(text, "\"written\": 300"));
	free(text);
	snprintf(path, sizeof(path), "%s/______evil/19700101T000000Z/DDRCS0_0.BIN", top);
	text = read_all(path, &len);
	assert_int_equal(len, 300);
	free(text);
	edl_dump_writer_free(w);
	rm_rf(top);
	free(top);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_dump_writer_writes_regions_and_manifest),
	        cmocka_unit_test(test_dump_writer_refuses_too_large_or_no_space),
	        cmocka_unit_test(test_dump_writer_abandoned_dump_keeps_partial_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
