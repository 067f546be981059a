/*
 * Tests of "package files are read-only for the station's lifetime" and of
 * package truth: a file truncated under a mapping is read as zeros through the
 * package API (no SIGBUS death) and edl_package_unchanged() names it; rewrites,
 * size changes, replacement and deletion are reported; the programmer is a copy
 * that truncation cannot touch; the hash cache misses on a same-size in-place
 * edit whose mtime was put back (ctime); the package's name and version. Also
 * prints the cost of edl_package_unchanged() for a 100-file package.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "edlstation/package.h"
#include "package/internal.h"
#include "pkgtest.h"

struct fixture {
	char *dir;
	char *cache;
	struct edl_package *pkg;
	struct edl_error err;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	fx->dir = pt_mkdtemp();
	fx->cache = pt_mkdtemp();
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	edl_package_free(fx->pkg);
	pt_rmtree(fx->dir);
	pt_rmtree(fx->cache);
	free(fx->dir);
	free(fx->cache);
	free(fx);
	return 0;
}

/* A package of n images img<i>.bin of size bytes each, one program each, and
 * a programmer of 70000 bytes. */
static void make_package(const char *dir, unsigned n, size_t size)
{
	size_t cap = 256 + (size_t)n * 256;
	char *xml = malloc(cap);
	size_t len;

	assert_non_null(xml);
	len = (size_t)snprintf(xml, cap, "<?xml version=\"1.0\" ?>\n<data>\n");
	for (unsigned i = 0; i < n; i++) {
		char name[32];
		snprintf(name, sizeof(name), "img%u.bin", i);
		pt_write_random(dir, name, size, 100 + i);
		len += (size_t)snprintf(xml + len, cap - len,
		                        "<program SECTOR_SIZE_IN_BYTES=\"4096\" filename=\"%s\" "
		                        "label=\"part%u\" num_partition_sectors=\"%zu\" "
		                        "physical_partition_number=\"0\" start_sector=\"%u\"/>\n",
		                        name, i, (size + 4095) / 4096 + 1, 1000 + i * 1000);
	}
	snprintf(xml + len, cap - len, "</data>\n");
	pt_write_str(dir, "rawprogram0.xml", xml);
	pt_write_random(dir, "prog_firehose_test.elf", 70000, 7);
	free(xml);
}

static int load(struct fixture *fx)
{
	edl_package_free(fx->pkg);
	fx->pkg = NULL;
	edl_error_clear(&fx->err);
	return pt_load(&fx->pkg, fx->dir, fx->cache, NULL, &fx->err);
}

static void load_ok(struct fixture *fx)
{
	if (load(fx) != EDL_OK) {
		pt_dump_diags(fx->pkg);
		fail_msg("load failed: %s", fx->err.detail);
	}
}

static const struct edl_plan_step *step_of(const struct edl_package *pkg, const char *label)
{
	const struct edl_plan *plan = edl_package_plan(pkg);

	for (size_t i = 0; i < plan->n_steps; i++) {
		if (plan->steps[i].kind == EDL_STEP_PROGRAM &&
		    strcmp(plan->steps[i].label, label) == 0)
			return &plan->steps[i];
	}
	fail_msg("no program step '%s'", label);
	return NULL;
}

static void expect_changed(struct fixture *fx, const char *text)
{
	struct edl_error err;

	assert_int_equal(edl_package_unchanged(fx->pkg, &err), EDL_E_PKG_CHANGED);
	if (strstr(err.detail, text) == NULL ||
	    strstr(err.detail, "package changed under the station: ") == NULL)
		fail_msg("detail '%s' lacks '%s'", err.detail, text);
}

static void path_of(char *out, size_t cap, const struct fixture *fx, const char *rel)
{
	snprintf(out, cap, "%s/%s", fx->dir, rel);
}

/* Truncated under the mapping: reading the step's bytes gives zeros instead of
 * killing the process, and the package says which file was truncated. */
static void test_guard_truncation_under_mapping_is_reported_not_fatal(void **state)
{
	struct fixture *fx = *state;
	const struct edl_plan_step *s;
	char path[4096];
	unsigned sum = 0;
	struct edl_error err;

	make_package(fx->dir, 3, 5 * 4096 + 100);
	load_ok(fx);
	assert_int_equal(edl_package_unchanged(fx->pkg, &err), EDL_OK);
	s = step_of(fx->pkg, "part1");
	assert_int_equal(s->data_len, 5 * 4096 + 100);
	for (uint64_t i = 0; i < s->data_len; i++)
		sum += s->data[i]; /* pages now in the page cache, mapped */
	assert_int_not_equal(sum, 0);
	path_of(path, sizeof(path), fx, "img1.bin");
	assert_int_equal(truncate(path, 4096), 0);
	sum = 0;
	for (uint64_t i = 4096; i < s->data_len; i++)
		sum += s->data[i]; /* past the new end: SIGBUS without the guard */
	assert_int_equal(sum, 0);
	expect_changed(fx, "img1.bin was truncated");
	/* Other mappings are intact. */
	s = step_of(fx->pkg, "part2");
	sum = 0;
	for (uint64_t i = 0; i < s->data_len; i++)
		sum += s->data[i];
	assert_int_not_equal(sum, 0);
}

/* The programmer is a copy: truncating its file changes nothing sent. */
static void test_guard_programmer_is_copied(void **state)
{
	struct fixture *fx = *state;
	uint8_t expect[70000];
	const uint8_t *data;
	size_t len;
	char path[4096];

	make_package(fx->dir, 1, 4096);
	load_ok(fx);
	pt_random(expect, sizeof(expect), 7);
	path_of(path, sizeof(path), fx, "prog_firehose_test.elf");
	assert_int_equal(truncate(path, 0), 0);
	data = edl_package_programmer_data(fx->pkg, &len);
	assert_int_equal(len, sizeof(expect));
	assert_memory_equal(data, expect, sizeof(expect));
	expect_changed(fx, "prog_firehose_test.elf is 0 bytes, was 70000");
}

/* Rewrites, size changes, replacement and deletion since load. */
static void test_guard_rewrite_replace_delete_detected(void **state)
{
	struct fixture *fx = *state;
	char path[4096], other[4096];
	struct stat sb;
	struct timespec ts[2];
	int fd;

	make_package(fx->dir, 4, 8192);
	/* In place, same size, mtime put back: the ctime still moves. */
	load_ok(fx);
	path_of(path, sizeof(path), fx, "img0.bin");
	assert_int_equal(stat(path, &sb), 0);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, 10), 1);
	close(fd);
	ts[0] = sb.st_atim;
	ts[1] = sb.st_mtim;
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	expect_changed(fx, "img0.bin was changed (ctime changed");
	/* Appended to. */
	load_ok(fx);
	path_of(path, sizeof(path), fx, "img1.bin");
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "more", 4), 4);
	close(fd);
	expect_changed(fx, "img1.bin is 8196 bytes, was 8192");
	/* Replaced by rename (a new copy of the package unpacked over it). */
	load_ok(fx);
	pt_write_random(fx->dir, "new.bin", 8192, 5);
	path_of(path, sizeof(path), fx, "img2.bin");
	path_of(other, sizeof(other), fx, "new.bin");
	assert_int_equal(rename(other, path), 0);
	expect_changed(fx, "img2.bin was replaced");
	/* Deleted. */
	load_ok(fx);
	path_of(path, sizeof(path), fx, "img3.bin");
	assert_int_equal(unlink(path), 0);
	expect_changed(fx, "img3.bin was deleted");
	/* Modified with a new mtime. */
	pt_write_random(fx->dir, "img3.bin", 8192, 103);
	load_ok(fx);
	assert_int_equal(edl_package_unchanged(fx->pkg, &fx->err), EDL_OK);
	path_of(path, sizeof(path), fx, "img3.bin");
	assert_int_equal(stat(path, &sb), 0);
	ts[0] = sb.st_atim;
	ts[1] = sb.st_mtim;
	ts[1].tv_sec += 5;
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	expect_changed(fx, "img3.bin was modified (mtime changed)");
}

/* A same-size in-place edit with the mtime put back is a cache miss (ctime). */
static void test_guard_cache_misses_on_ctime(void **state)
{
	struct fixture *fx = *state;
	struct edl_package_stats st;
	uint8_t before[32];
	char path[4096];
	struct stat sb;
	struct timespec ts[2];
	int fd;

	make_package(fx->dir, 2, 3 * 4096);
	load_ok(fx);
	load_ok(fx);
	edl_package_stats(fx->pkg, &st);
	assert_int_equal(st.files_hashed, 0);
	memcpy(before, step_of(fx->pkg, "part0")->sha256, 32);
	path_of(path, sizeof(path), fx, "img0.bin");
	assert_int_equal(stat(path, &sb), 0);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "edited", 6, 100), 6);
	close(fd);
	ts[0] = sb.st_atim;
	ts[1] = sb.st_mtim;
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	assert_int_equal(stat(path, &sb), 0);
	load_ok(fx);
	edl_package_stats(fx->pkg, &st);
	assert_int_equal(st.files_hashed, 1);
	assert_memory_not_equal(step_of(fx->pkg, "part0")->sha256, before, 32);
}

/* Name and version: the directory's name without contents.xml (or without a
 * build id), contents.xml's product and build id with them. */
static void test_guard_name_and_version(void **state)
{
	struct fixture *fx = *state;
	const char *base = strrchr(fx->dir, '/') + 1;

	make_package(fx->dir, 1, 4096);
	load_ok(fx);
	assert_string_equal(edl_package_name(fx->pkg), base);
	assert_string_equal(edl_package_version(fx->pkg), "");
	pt_write_str(fx->dir, "contents.xml",
	             "<?xml version=\"1.0\"?>\n<contents><product_info><product_name>"
	             "MDM9607.LE.1.0</product_name></product_info><builds_flat>"
	             "<build><name>modem</name><build_id>MPSS.JO.2.0-7</build_id></build>"
	             "<build><name>common</name><build_id>EG25GGBR07A08M2G</build_id></build>"
	             "</builds_flat></contents>\n");
	load_ok(fx);
	assert_string_equal(edl_package_name(fx->pkg), "MDM9607.LE.1.0");
	assert_string_equal(edl_package_version(fx->pkg), "EG25GGBR07A08M2G");
	pt_write_str(fx->dir, "contents.xml",
	             "<?xml version=\"1.0\"?>\n<contents><product_info><product_name>"
	             "MDM9607.LE.1.0</product_name></product_info><builds_flat>"
	             "<build><name>common</name><build_id></build_id></build>"
	             "</builds_flat></contents>\n");
	load_ok(fx);
	assert_string_equal(edl_package_name(fx->pkg), base);
	assert_string_equal(edl_package_version(fx->pkg), "");
}

static char being_written[4096];

/* Plays a copy still in progress: appends to the file after it was hashed. */
static void append_after_hash(struct edl_package *pkg)
{
	int fd = open(being_written, O_WRONLY | O_APPEND);

	(void)pkg;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "tail", 4), 4);
	close(fd);
}

/* A file that grows while the package loads (still being copied) fails the
 * load with EDL_E_PKG_CHANGED naming it. */
static void test_guard_file_written_during_load_is_refused(void **state)
{
	struct fixture *fx = *state;
	const struct edl_package_diag *d;

	make_package(fx->dir, 2, 8192);
	path_of(being_written, sizeof(being_written), fx, "img1.bin");
	pkg_test_after_hash = append_after_hash;
	assert_int_equal(load(fx), EDL_E_PKG_CHANGED);
	pkg_test_after_hash = NULL;
	d = pt_find_diag(fx->pkg, EDL_DIAG_ERROR,
	                 "package changed while it was loaded: img1.bin is 8196 bytes, was 8192; "
	                 "is it still being written?");
	if (d == NULL)
		pt_dump_diags(fx->pkg);
	assert_non_null(d);
	assert_string_equal(d->file, "img1.bin");
	/* Once the copy is complete, it loads. */
	load_ok(fx);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The cost of the check the station makes before each unit: figures only. */
static void test_guard_unchanged_cost_for_100_files(void **state)
{
	struct fixture *fx = *state;
	uint64_t t0;
	struct edl_error err;

	make_package(fx->dir, 100, 4096);
	load_ok(fx);
	assert_true(edl_package_file_count(fx->pkg) >= 101);
	struct timespec c0, c1;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	t0 = mono_ns();
	for (int i = 0; i < 200; i++)
		assert_int_equal(edl_package_unchanged(fx->pkg, &err), EDL_OK);
	t0 = mono_ns() - t0;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	print_message("edl_package_unchanged: %zu files, %.1f us per call (%.1f us of CPU)\n",
	              edl_package_file_count(fx->pkg), (double)t0 / 200 / 1000.0,
	              ((double)(c1.tv_sec - c0.tv_sec) * 1e9 + (double)(c1.tv_nsec - c0.tv_nsec)) /
	                      200 / 1000.0);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
	        T(test_guard_programmer_is_copied),
	        /* After another test's load: the guard is installed again over the
	         * handlers cmocka restores between tests. */
	        T(test_guard_truncation_under_mapping_is_reported_not_fatal),
	        T(test_guard_rewrite_replace_delete_detected),
	        T(test_guard_cache_misses_on_ctime),
	        T(test_guard_name_and_version),
	        T(test_guard_file_written_during_load_is_refused),
	        T(test_guard_unchanged_cost_for_100_files),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
