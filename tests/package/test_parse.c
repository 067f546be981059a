/*
 * Tests of parsing: every real sample in EDL_SAMPLES parses (rawprogram, patch,
 * contents.xml, partition layouts, md5.txt) with the entries and attributes it
 * holds; what real files contain is tolerated (BOM, blank lines before the
 * declaration, comments, vendor attributes, Windows paths); hostile XML is
 * refused (DTD, entities, size) and malformed files are reported with file,
 * line and attribute.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "package/internal.h"
#include "pkgtest.h"

/* A package shell for parsing one XML text as if it were file `name`. */
static struct edl_package *parse_text(const char *name, const char *text, int *rc_out)
{
	struct edl_package *pkg = calloc(1, sizeof(*pkg));
	struct edl_error err;
	xmlDocPtr doc = NULL;
	unsigned off = 0;
	long xi;
	int rc;

	assert_non_null(pkg);
	pkg->programmer_file = -1;
	xi = pkg_add_xml(pkg, name, "rawprogram");
	assert_true(xi >= 0);
	edl_error_clear(&err);
	rc = pkg_xml_read_mem(&doc, &off, text, strlen(text), &err);
	if (rc == EDL_OK) {
		rc = pkg_rawprogram_collect(pkg, (size_t)xi, doc, off);
		xmlFreeDoc(doc);
	} else {
		pkg_diag(pkg, EDL_DIAG_ERROR, rc, name, 0, "%s", err.detail);
	}
	*rc_out = rc;
	return pkg;
}

static struct edl_package *parse_sample(const char *sample, int *rc)
{
	char path[4096];
	char *text;
	struct edl_package *pkg;

	pt_sample(path, sizeof(path), sample);
	text = pt_read(path, NULL);
	if (text == NULL)
		fail_msg("sample %s is missing (EDL_SAMPLES)", path);
	pkg = parse_text(sample, text, rc);
	free(text);
	return pkg;
}

static size_t count_kind(const struct edl_package *pkg, enum pkg_entry_kind kind)
{
	size_t n = 0;

	for (size_t i = 0; i < pkg->n_entries; i++)
		n += pkg->entries[i].kind == kind;
	return n;
}

struct sample_case {
	const char *name;
	size_t programs, erases, patches;
};

static const struct sample_case rawprogram_samples[] = {
        {"db410c-ptool_rawprogram0.xml", 31, 0, 0},
        {"db410c-ptool_patch0.xml", 0, 0, 26},
        {"eg25g-biktorgj_rawprogram_nand_p2K_b128K_update.xml", 11, 11, 0},
        {"eg25g-biktorgj_patch_p2K_b128K.xml", 0, 0, 2},
        {"em12g-msft_rawprogram_nand_p4K_b256K_update.xml", 12, 12, 0},
        {"em12g-msft_patch_p4K_b256K.xml", 0, 0, 2},
};

static void test_parse_every_rawprogram_and_patch_sample(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rawprogram_samples) / sizeof(rawprogram_samples[0]); i++) {
		const struct sample_case *c = &rawprogram_samples[i];
		int rc;
		struct edl_package *pkg = parse_sample(c->name, &rc);

		assert_int_equal(rc, EDL_OK);
		if (pkg->n_errors != 0 || pkg->n_diags != 0) {
			pt_dump_diags(pkg);
			fail_msg("%s: %zu diagnostics", c->name, pkg->n_diags);
		}
		assert_int_equal(count_kind(pkg, PKG_PROGRAM), c->programs);
		assert_int_equal(count_kind(pkg, PKG_ERASE), c->erases);
		assert_int_equal(count_kind(pkg, PKG_PATCH), c->patches);
		for (size_t k = 0; k < pkg->n_entries; k++)
			assert_true(pkg->entries[k].ok);
		edl_package_free(pkg);
	}
}

static void test_parse_keeps_sample_attributes_in_file_order(void **state)
{
	int rc;
	struct edl_package *pkg;
	const struct pkg_entry *e;

	(void)state;
	/* eMMC: expressions, sparse, vendor attributes kept. */
	pkg = parse_sample("db410c-ptool_rawprogram0.xml", &rc);
	e = &pkg->entries[30];
	assert_string_equal(e->label, "BackupGPT");
	assert_string_equal(e->start_text, "NUM_DISK_SECTORS-33.");
	assert_true(e->start.uses & EDL_EXPR_USES_SECTORS);
	assert_string_equal(pkg_entry_attr(e, "start_byte_hex"), "(512*NUM_DISK_SECTORS)-16896.");
	assert_string_equal(pkg_entry_attr(e, "size_in_KB"), "16.5");
	assert_int_equal(e->line, 62);
	e = &pkg->entries[28];
	assert_string_equal(e->label, "userdata");
	assert_true(e->sparse);
	assert_int_equal(e->num_sectors, 0);
	e = &pkg->entries[0];
	assert_string_equal(e->filename, "NON-HLOS.bin");
	assert_int_equal(e->sector_size, 512);
	assert_int_equal(e->num_sectors, 131072);
	assert_int_equal(e->n_attrs, 10);
	edl_package_free(pkg);

	/* NAND: PAGES_PER_BLOCK, last_sector, labels, Windows paths, file order. */
	pkg = parse_sample("em12g-msft_rawprogram_nand_p4K_b256K_update.xml", &rc);
	e = &pkg->entries[0];
	assert_int_equal(e->kind, PKG_ERASE);
	assert_string_equal(e->label, "SBL");
	assert_int_equal(e->pages_per_block, 64);
	assert_string_equal(e->last_text, "639");
	assert_int_equal(e->line, 7);
	e = &pkg->entries[23];
	assert_int_equal(e->kind, PKG_PROGRAM);
	assert_string_equal(e->filename, "..\\sbl1.mbn");
	assert_int_equal(e->sector_size, 4096);
	edl_package_free(pkg);

	/* Patches: DISK and file targets, expression values. */
	pkg = parse_sample("db410c-ptool_patch0.xml", &rc);
	e = &pkg->entries[3];
	assert_string_equal(e->filename, "DISK");
	assert_string_equal(e->start_text, "NUM_DISK_SECTORS-26.");
	assert_string_equal(e->value_text, "NUM_DISK_SECTORS-34.");
	assert_int_equal(e->byte_offset, 40);
	assert_int_equal(e->size_in_bytes, 8);
	e = &pkg->entries[17];
	assert_string_equal(e->value_text, "CRC32(NUM_DISK_SECTORS-33.,4096)");
	assert_true(e->value.uses & EDL_EXPR_USES_CRC32);
	edl_package_free(pkg);
	pkg = parse_sample("eg25g-biktorgj_patch_p2K_b128K.xml", &rc);
	assert_string_equal(pkg->entries[0].value_text, "NUM_DISK_BLOCKS-1458.");
	assert_true(pkg->entries[0].value.uses & EDL_EXPR_USES_BLOCKS);
	assert_string_equal(pkg->entries[1].value_text, "CRC32(0,4096)");
	edl_package_free(pkg);
}

static void test_parse_contents_and_partition_layout_samples(void **state)
{
	static const char *const names[] = {"eg25g-biktorgj_contents.xml",
	                                    "eg25g-biktorgj_partition_nand.xml",
	                                    "db410c-ptool_partition.xml"};
	static const enum pkg_xml_kind kinds[] = {PKG_XML_CONTENTS, PKG_XML_NANDBOOT,
	                                          PKG_XML_PTOOL};

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		char path[4096];
		size_t len;
		char *text;
		xmlDocPtr doc = NULL;
		unsigned off;
		struct edl_error err;
		struct pkg_contents c;

		pt_sample(path, sizeof(path), names[i]);
		text = pt_read(path, &len);
		assert_non_null(text);
		edl_error_clear(&err);
		if (pkg_xml_read_mem(&doc, &off, text, len, &err) != EDL_OK)
			fail_msg("%s: %s", names[i], err.detail);
		assert_int_equal(pkg_xml_classify(doc), kinds[i]);
		assert_int_equal(pkg_contents_read(&c, doc, &err), EDL_OK);
		if (kinds[i] == PKG_XML_CONTENTS) {
			/* The file starts with a UTF-8 BOM. */
			assert_true((uint8_t)text[0] == 0xEF);
			assert_string_equal(c.product, "MDM9607.LE.1.0");
			assert_string_equal(c.chipid, "MDM9607");
			assert_string_equal(c.programmer, "update/NPRG9x07.mbn");
			assert_int_equal(c.n_download_files, 4);
		} else {
			/* 17 NAND partitions; 29 ptool partitions. */
			if (c.n_partitions != (kinds[i] == PKG_XML_NANDBOOT ? 17u : 29u))
				fail_msg("%s: %zu partitions", names[i], c.n_partitions);
		}
		xmlFreeDoc(doc);
		free(text);
	}
}

struct mdiag {
	unsigned lines[16];
	char msg[16][256];
	int codes[16];
	size_t n;
};

static void collect_diag(void *data, int code, unsigned line, const char *fmt, ...)
{
	struct mdiag *d = data;
	va_list ap;

	if (d->n >= 16)
		return;
	d->lines[d->n] = line;
	d->codes[d->n] = code;
	va_start(ap, fmt);
	vsnprintf(d->msg[d->n], sizeof(d->msg[0]), fmt, ap);
	va_end(ap);
	d->n++;
}

static void test_parse_quectel_md5_sample(void **state)
{
	char path[4096];
	size_t len;
	char *text;
	struct pkg_manifest m;
	struct mdiag d = {0};
	uint8_t want[16];

	(void)state;
	pt_sample(path, sizeof(path), "eg25g-biktorgj_md5.txt");
	text = pt_read(path, &len);
	assert_non_null(text);
	assert_int_equal(pkg_manifest_parse(&m, text, len, "", collect_diag, &d), EDL_OK);
	assert_int_equal(d.n, 0);
	assert_true(m.quectel);
	assert_int_equal(m.n, 19);
	assert_string_equal(m.entries[0].path, "contents.xml");
	assert_int_equal(m.entries[0].line, 3);
	assert_int_equal(m.entries[0].kind, PKG_DIGEST_MD5);
	assert_true(pkg_unhex(want, "5B15ED398BC0F9612B6BFB1FC8B844C8", 16));
	assert_memory_equal(m.entries[0].digest, want, 16);
	assert_string_equal(m.entries[3].path, "update/firehose/partition_complete_p2K_b128K.mbn");
	assert_string_equal(m.entries[18].path, "upgrade/targetfiles.zip");
	pkg_manifest_free(&m);
	free(text);
}

static void test_parse_md5sum_and_sha256sum_manifests(void **state)
{
	const char *text = "# comment\n"
	                   "d41d8cd98f00b204e9800998ecf8427e  empty.bin\n"
	                   "0123456789abcdef0123456789abcdef *bin/mode.img\n"
	                   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  "
	                   "sub/x.img\n"
	                   "MD5 (bsd.img) = d41d8cd98f00b204e9800998ecf8427e\n"
	                   "not a line\n"
	                   "abcd  short.img\n"
	                   "d41d8cd98f00b204e9800998ecf8427e  ../../etc/passwd\n"
	                   "FILE:\\update\\x.mbn:XYZ\n";
	struct pkg_manifest m;
	struct mdiag d = {0};

	(void)state;
	assert_int_equal(pkg_manifest_parse(&m, text, strlen(text), "pkg", collect_diag, &d),
	                 EDL_OK);
	assert_int_equal(m.n, 4);
	assert_string_equal(m.entries[0].path, "pkg/empty.bin");
	assert_string_equal(m.entries[1].path, "pkg/bin/mode.img");
	assert_int_equal(m.entries[2].kind, PKG_DIGEST_SHA256);
	assert_string_equal(m.entries[2].path, "pkg/sub/x.img");
	assert_string_equal(m.entries[3].path, "pkg/bsd.img");
	assert_int_equal(d.n, 4);
	assert_int_equal(d.lines[0], 6);
	assert_non_null(strstr(d.msg[0], "is not a manifest line"));
	assert_int_equal(d.lines[1], 7);
	assert_non_null(strstr(d.msg[1], "neither MD5 (32) nor SHA-256 (64)"));
	assert_int_equal(d.lines[2], 8);
	assert_int_equal(d.codes[2], EDL_E_PKG_ESCAPE);
	assert_int_equal(d.lines[3], 9);
	assert_non_null(strstr(d.msg[3], "'XYZ' is not a hex digest"));
	pkg_manifest_free(&m);
}

static void test_parse_tolerates_bom_blank_lines_comments_vendor_attributes(void **state)
{
	const char *text = "\xEF\xBB\xBF\r\n\n  \n<?xml version=\"1.0\" ?>\n"
	                   "<!-- a comment -->\n"
	                   "<data>\n"
	                   "  <!-- another -->\n"
	                   "  <program SECTOR_SIZE_IN_BYTES=\"4096\" filename=\"a.img\" "
	                   "num_partition_sectors=\"10\" physical_partition_number=\"2\" "
	                   "start_sector=\"6.\" Sha256=\"abc\" force_erase=\"true\" "
	                   "FileOffsetInSrc=\"0\" readbackverify=\"false\"/>\n"
	                   "  <nop/>\n"
	                   "  <erase SECTOR_SIZE_IN_BYTES=\"4096\" num_partition_sectors=\"8\" "
	                   "physical_partition_number=\"2\" start_sector=\"0x10\"/>\n"
	                   "</data>\n";
	int rc;
	struct edl_package *pkg = parse_text("rawprogram2.xml", text, &rc);
	const struct pkg_entry *e;
	const struct edl_package_diag *d;

	(void)state;
	assert_int_equal(rc, EDL_OK);
	assert_int_equal(pkg->n_errors, 0);
	assert_int_equal(pkg->n_entries, 2);
	e = &pkg->entries[0];
	assert_true(e->ok);
	assert_int_equal(e->line, 8);
	assert_int_equal(e->lun, 2);
	assert_string_equal(pkg_entry_attr(e, "Sha256"), "abc");
	assert_string_equal(pkg_entry_attr(e, "force_erase"), "true");
	assert_string_equal(pkg_entry_attr(e, "FileOffsetInSrc"), "0");
	assert_int_equal(e->n_attrs, 9);
	assert_int_equal(pkg->entries[1].line, 10);
	d = pt_find_diag(pkg, EDL_DIAG_WARNING, "element <nop> is not a program");
	assert_non_null(d);
	assert_int_equal(d->line, 9);
	edl_package_free(pkg);
}

struct bad_xml {
	const char *text;
	int code;
	unsigned line;
	const char *message;
};

static const struct bad_xml bad_xml_cases[] = {
        /* A malformed number names the attribute and the text. */
        {"<?xml version=\"1.0\"?>\n<data>\n<program SECTOR_SIZE_IN_BYTES=\"512\" filename=\"a\" "
         "num_partition_sectors=\"12x\" physical_partition_number=\"0\" start_sector=\"0\"/>\n"
         "</data>\n",
         EDL_E_PKG_EXPR, 3, "num_partition_sectors '12x' is not a number"},
        {"<?xml version=\"1.0\"?>\n<data>\n\n<program SECTOR_SIZE_IN_BYTES=\"500\" filename=\"a\" "
         "num_partition_sectors=\"1\" physical_partition_number=\"0\" start_sector=\"0\"/>\n"
         "</data>\n",
         EDL_E_PKG_EXPR, 4, "SECTOR_SIZE_IN_BYTES 500 is not a power of two"},
        {"<?xml version=\"1.0\"?>\n<data>\n<erase SECTOR_SIZE_IN_BYTES=\"512\" "
         "num_partition_sectors=\"1\" physical_partition_number=\"9\" start_sector=\"0\"/>\n"
         "</data>\n",
         EDL_E_PKG_EXPR, 3, "physical_partition_number 9 is outside 0..7"},
        {"<?xml version=\"1.0\"?>\n<data>\n<erase SECTOR_SIZE_IN_BYTES=\"512\" "
         "num_partition_sectors=\"1\" physical_partition_number=\"0\" "
         "start_sector=\"NUM_DISK_SECTORS-\"/>\n</data>\n",
         EDL_E_PKG_EXPR, 3, "start_sector: 'NUM_DISK_SECTORS-' ends where a number"},
        {"<?xml version=\"1.0\"?>\n<data>\n<erase SECTOR_SIZE_IN_BYTES=\"512\" "
         "physical_partition_number=\"0\" start_sector=\"0\"/>\n</data>\n",
         EDL_E_PKG_PARSE, 3,
         "<erase> lacks num_partition_sectors: refused, an erase without a range erases the "
         "whole LUN on real programmers"},
        /* A zero range is no range: old handleErase erases the whole LUN (qdl #193). */
        {"<?xml version=\"1.0\"?>\n<data>\n<!-- x -->\n<erase SECTOR_SIZE_IN_BYTES=\"4096\" "
         "num_partition_sectors=\"0\" physical_partition_number=\"1\" start_sector=\"6\"/>\n"
         "</data>\n",
         EDL_E_PKG_PARSE, 4,
         "<erase> with num_partition_sectors 0: refused, an erase without a range erases the "
         "whole LUN on real programmers"},
        {"<?xml version=\"1.0\"?>\n<data>\n<erase SECTOR_SIZE_IN_BYTES=\"512\" "
         "num_partition_sectors=\"0x0\" physical_partition_number=\"0\" start_sector=\"0\"/>\n"
         "</data>\n",
         EDL_E_PKG_PARSE, 3, "<erase> with num_partition_sectors 0: refused"},
        {"<?xml version=\"1.0\"?>\n<patches>\n<patch SECTOR_SIZE_IN_BYTES=\"512\" "
         "byte_offset=\"16\" filename=\"DISK\" physical_partition_number=\"0\" "
         "size_in_bytes=\"4\" start_sector=\"1\" value=\"CRC32(1,\"/>\n</patches>\n",
         EDL_E_PKG_EXPR, 3, "value: 'CRC32(1,' ends where"},
        {"<?xml version=\"1.0\"?>\n<data>\n<program SECTOR_SIZE_IN_BYTES=\"512\" filename=\"a\" "
         "num_partition_sectors=\"1\" physical_partition_number=\"0\" start_sector=\"0\" "
         "sparse=\"maybe\"/>\n</data>\n",
         EDL_E_PKG_PARSE, 3, "sparse 'maybe' is neither true nor false"},
};

static void test_parse_reports_malformed_attributes_with_line(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_xml_cases) / sizeof(bad_xml_cases[0]); i++) {
		const struct bad_xml *c = &bad_xml_cases[i];
		int rc;
		struct edl_package *pkg = parse_text("rawprogram0.xml", c->text, &rc);
		const struct edl_package_diag *d = pt_find_diag(pkg, EDL_DIAG_ERROR, c->message);

		if (d == NULL) {
			pt_dump_diags(pkg);
			fail_msg("case %zu: no error '%s'", i, c->message);
		}
		assert_int_equal(d->code, c->code);
		assert_int_equal(d->line, c->line);
		assert_string_equal(d->file, "rawprogram0.xml");
		assert_false(pkg->entries[0].ok);
		edl_package_free(pkg);
	}
}

/* The erase QFirehose sends to an RG500Q-EA (xhikarishii/openwrt-ipq issue #3),
 * between the start-sector-0 erase and the others, as in RG500Q packages. */
static const char rg500q_xml[] =
        "<?xml version=\"1.0\" ?>\n<data>\n"
        "  <erase PAGES_PER_BLOCK=\"64\" SECTOR_SIZE_IN_BYTES=\"4096\" label=\"sbl\" "
        "last_sector=\"639\" num_partition_sectors=\"640\" physical_partition_number=\"0\" "
        "start_sector=\"0\"/>\n"
        "  <erase a_rawdata_start_sector=\"6528\" b_rawdata_num_sector=\"640\" "
        "c_project_name=\"RG500QEA_VH\" d_project_type=\"STD\" vendor=\"quectel\"/>\n"
        "  <program PAGES_PER_BLOCK=\"64\" SECTOR_SIZE_IN_BYTES=\"4096\" filename=\"x\" "
        "label=\"tz\" num_partition_sectors=\"64\" physical_partition_number=\"0\" "
        "start_sector=\"640\" Vendor=\"acme\"/>\n"
        "</data>\n";

static void test_parse_vendor_entries_kept_verbatim_not_as_erases(void **state)
{
	static const char *const want[][2] = {{"a_rawdata_start_sector", "6528"},
	                                      {"b_rawdata_num_sector", "640"},
	                                      {"c_project_name", "RG500QEA_VH"},
	                                      {"d_project_type", "STD"},
	                                      {"vendor", "quectel"}};
	int rc;
	struct edl_package *pkg =
	        parse_text("rawprogram_nand_p4K_b256K_update.xml", rg500q_xml, &rc);
	const struct pkg_entry *e;
	const struct edl_package_diag *d;

	(void)state;
	assert_int_equal(rc, EDL_OK);
	/* Neither the missing SECTOR_SIZE_IN_BYTES nor the missing range is an
	 * error: none of a vendor entry's attributes is interpreted. */
	assert_int_equal(pkg->n_errors, 0);
	assert_int_equal(pkg->n_entries, 3);
	assert_int_equal(pkg->entries[0].kind, PKG_ERASE);
	e = &pkg->entries[1];
	assert_int_equal(e->kind, PKG_VENDOR);
	assert_true(e->ok);
	assert_int_equal(e->line, 4);
	assert_string_equal(e->element, "erase");
	assert_int_equal(e->n_attrs, 5);
	for (size_t i = 0; i < 5; i++) {
		assert_string_equal(e->attrs[i].name, want[i][0]);
		assert_string_equal(e->attrs[i].value, want[i][1]);
	}
	d = pt_find_diag(
	        pkg, EDL_DIAG_NOTE,
	        "vendor entry <erase vendor=\"quectel\"> is sent as written (5 attributes)");
	assert_non_null(d);
	assert_int_equal(d->line, 4);
	/* Any element with vendor= (any letter case) is a vendor entry; an unknown
	 * vendor is warned about. */
	e = &pkg->entries[2];
	assert_int_equal(e->kind, PKG_VENDOR);
	assert_string_equal(e->element, "program");
	d = pt_find_diag(pkg, EDL_DIAG_WARNING, "vendor entry <program vendor=\"acme\">");
	assert_non_null(d);
	assert_int_equal(d->line, 5);
	edl_package_free(pkg);
}

static void test_parse_refuses_dtd_entities_and_oversize(void **state)
{
	static const char *const hostile[] = {
	        "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\">"
	        "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]>\n<data>&lol2;</data>\n",
	        "<?xml version=\"1.0\"?>\n<!DOCTYPE data [<!ENTITY xxe SYSTEM "
	        "\"file:///etc/passwd\">]>\n<data><program filename=\"&xxe;\"/></data>\n",
	        "<?xml version=\"1.0\"?>\n<!doctype data SYSTEM "
	        "\"http://example.com/x.dtd\">\n<data/>\n",
	        "<?xml version=\"1.0\"?>\n<data><!ENTITY x \"y\"></data>\n",
	};
	xmlDocPtr doc = NULL;
	unsigned off;
	struct edl_error err;
	char *big;

	(void)state;
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		edl_error_clear(&err);
		assert_int_equal(pkg_xml_read_mem(&doc, &off, hostile[i], strlen(hostile[i]), &err),
		                 EDL_E_PKG_XML_UNSAFE);
		assert_null(doc);
	}
	big = malloc(PKG_XML_MAX + 2);
	assert_non_null(big);
	memset(big, ' ', PKG_XML_MAX + 1);
	big[PKG_XML_MAX + 1] = '\0';
	assert_int_equal(pkg_xml_read_mem(&doc, &off, big, PKG_XML_MAX + 1, &err), EDL_E_PKG_PARSE);
	assert_non_null(strstr(err.detail, "exceeds"));
	free(big);

	/* Broken XML: libxml2's message with the file's own line (blank lines skipped). */
	{
		const char *broken = "\n\n<?xml version=\"1.0\"?>\n<data>\n<program\n</data>\n";
		edl_error_clear(&err);
		assert_int_equal(pkg_xml_read_mem(&doc, &off, broken, strlen(broken), &err),
		                 EDL_E_PKG_PARSE);
	}
	assert_non_null(strstr(err.detail, "line 6:"));
	assert_int_equal(pkg_xml_read_mem(&doc, &off, "   ", 3, &err), EDL_E_PKG_PARSE);
	assert_string_equal(err.detail, "document is empty");
}

struct join_case {
	const char *base;
	const char *name;
	int code;
	const char *want;
};

static const struct join_case join_cases[] = {
        {"update/firehose", "..\\tz.mbn", EDL_OK, "update/tz.mbn"},
        {"update/firehose", "partition_complete_p4K_b256K.mbn", EDL_OK,
         "update/firehose/partition_complete_p4K_b256K.mbn"},
        {"", "a/./b//c", EDL_OK, "a/b/c"},
        {"update", "a\\..\\..\\x", EDL_OK, "x"},
        {"", "../../etc/passwd", EDL_E_PKG_ESCAPE, NULL},
        {"update/firehose", "..\\..\\..\\x", EDL_E_PKG_ESCAPE, NULL},
        {"", "/etc/passwd", EDL_E_PKG_ESCAPE, NULL},
        {"", "\\\\server\\share\\x", EDL_E_PKG_ESCAPE, NULL},
        {"", "C:\\images\\x.mbn", EDL_E_PKG_ESCAPE, NULL},
        {"", "", EDL_E_PKG_PARSE, NULL},
        {"a", ".", EDL_OK, "a"},
        {"", ".", EDL_E_PKG_PARSE, NULL},
};

static void test_parse_resolves_windows_paths_inside_root(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(join_cases) / sizeof(join_cases[0]); i++) {
		const struct join_case *c = &join_cases[i];
		char out[PKG_PATH_MAX + 1];
		struct edl_error err;
		int rc;

		edl_error_clear(&err);
		rc = pkg_path_join(out, sizeof(out), c->base, c->name, &err);
		if (rc != c->code)
			fail_msg("'%s' + '%s': %d (%s), want %d", c->base, c->name, rc, err.detail,
			         c->code);
		if (c->want != NULL)
			assert_string_equal(out, c->want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse_every_rawprogram_and_patch_sample),
	        cmocka_unit_test(test_parse_keeps_sample_attributes_in_file_order),
	        cmocka_unit_test(test_parse_contents_and_partition_layout_samples),
	        cmocka_unit_test(test_parse_quectel_md5_sample),
	        cmocka_unit_test(test_parse_md5sum_and_sha256sum_manifests),
	        cmocka_unit_test(test_parse_tolerates_bom_blank_lines_comments_vendor_attributes),
	        cmocka_unit_test(test_parse_reports_malformed_attributes_with_line),
	        cmocka_unit_test(test_parse_vendor_entries_kept_verbatim_not_as_erases),
	        cmocka_unit_test(test_parse_refuses_dtd_entities_and_oversize),
	        cmocka_unit_test(test_parse_resolves_windows_paths_inside_root),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
