/*
 * Tests of the Firehose wire pieces without the engine: every command document
 * parsed back with libxml2, the framer under any fragmentation, the document
 * parser on good, malformed and hostile input, and the parsers of storage info
 * and digest logs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edlstation/buf.h"
#include "edlstation/error.h"
#include "edlstation/firehose.h"
#include "fh_test.h"
#include "firehose/fh_internal.h"

/* ---- commands ---- */

struct cmd {
	struct edl_buf buf;
	xmlDocPtr doc;
	xmlNodePtr node;
};

static void cmd_parse(struct cmd *c, const char *name)
{
	c->node = fh_parse_cmd(edl_buf_head(&c->buf), edl_buf_size(&c->buf), &c->doc);
	assert_non_null(c->node);
	assert_string_equal((const char *)c->node->name, name);
	assert_memory_equal(edl_buf_head(&c->buf), "<?xml version=\"1.0\"?>", 21);
}

static void cmd_done(struct cmd *c)
{
	xmlFreeDoc(c->doc);
	edl_buf_free(&c->buf);
}

static void test_fh_configure_document_has_protocol_attributes(void **state)
{
	(void)state;
	struct cmd c;
	struct edl_error err;
	struct edl_fh_configure conf = {.storage = EDL_STORAGE_NAND,
	                                .zlp_aware = true,
	                                .pages_per_block = 64,
	                                .skip_storage_init = false};

	edl_buf_init(&c.buf);
	assert_int_equal(edl_fh_cmd_configure(&c.buf, &conf, 1048576, &err), EDL_OK);
	cmd_parse(&c, "configure");
	assert_string_equal(fh_attr(c.node, "MemoryName"), "nand");
	assert_string_equal(fh_attr(c.node, "MaxPayloadSizeToTargetInBytes"), "1048576");
	assert_string_equal(fh_attr(c.node, "ZlpAwareHost"), "1");
	assert_string_equal(fh_attr(c.node, "SkipStorageInit"), "0");
	assert_string_equal(fh_attr(c.node, "Verbose"), "0");
	assert_string_equal(fh_attr(c.node, "AlwaysValidate"), "0");
	assert_string_equal(fh_attr(c.node, "PAGES_PER_BLOCK"), "64");
	cmd_done(&c);

	conf.storage = EDL_STORAGE_UFS;
	conf.zlp_aware = false;
	conf.skip_storage_init = true;
	edl_buf_init(&c.buf);
	assert_int_equal(edl_fh_cmd_configure(&c.buf, &conf, 16384, &err), EDL_OK);
	cmd_parse(&c, "configure");
	assert_string_equal(fh_attr(c.node, "MemoryName"), "ufs");
	assert_string_equal(fh_attr(c.node, "MaxPayloadSizeToTargetInBytes"), "16384");
	assert_string_equal(fh_attr(c.node, "ZlpAwareHost"), "0");
	assert_string_equal(fh_attr(c.node, "SkipStorageInit"), "1");
	assert_null(fh_attr(c.node, "PAGES_PER_BLOCK"));
	cmd_done(&c);

	edl_buf_init(&c.buf);
	assert_int_equal(edl_fh_cmd_configure(&c.buf, &conf, 100, &err), EDL_E_INVAL);
	assert_non_null(strstr(err.detail, "payload 100"));
	edl_buf_free(&c.buf);
}

static void test_fh_range_commands_carry_addressing(void **state)
{
	(void)state;
	struct cmd c;
	struct edl_error err;
	struct edl_fh_range r = {.lun = 4,
	                         .sector_size = 4096,
	                         .start_sector = "NUM_DISK_SECTORS-33.",
	                         .num_sectors = 33,
	                         .label = "backup_gpt"};
	static const char *const names[] = {"program", "erase", "read"};

	for (int i = 0; i < 3; i++) {
		edl_buf_init(&c.buf);
		int rc = i == 0   ? edl_fh_cmd_program(&c.buf, &r, &err)
		         : i == 1 ? edl_fh_cmd_erase(&c.buf, &r, &err)
		                  : edl_fh_cmd_read(&c.buf, &r, &err);
		assert_int_equal(rc, EDL_OK);
		cmd_parse(&c, names[i]);
		assert_string_equal(fh_attr(c.node, "SECTOR_SIZE_IN_BYTES"), "4096");
		assert_string_equal(fh_attr(c.node, "num_partition_sectors"), "33");
		assert_string_equal(fh_attr(c.node, "physical_partition_number"), "4");
		assert_string_equal(fh_attr(c.node, "start_sector"), "NUM_DISK_SECTORS-33.");
		assert_string_equal(fh_attr(c.node, "label"), "backup_gpt");
		assert_null(fh_attr(c.node, "PAGES_PER_BLOCK"));
		assert_null(fh_attr(c.node, "last_sector"));
		cmd_done(&c);
	}

	/* NAND partitions carry their block geometry and end. */
	r.pages_per_block = 64;
	r.last_sector = "1279";
	r.label = NULL;
	edl_buf_init(&c.buf);
	assert_int_equal(edl_fh_cmd_erase(&c.buf, &r, &err), EDL_OK);
	cmd_parse(&c, "erase");
	assert_string_equal(fh_attr(c.node, "PAGES_PER_BLOCK"), "64");
	assert_string_equal(fh_attr(c.node, "last_sector"), "1279");
	assert_null(fh_attr(c.node, "label"));
	cmd_done(&c);

	r.start_sector = "";
	edl_buf_init(&c.buf);
	assert_int_equal(edl_fh_cmd_program(&c.buf, &r, &err), EDL_E_INVAL);
	assert_non_null(strstr(err.detail, "no start sector"));
	edl_buf_free(&c.buf);
}

static void test_fh_label_is_escaped_by_libxml2(void **state)
{
	(void)state;
	struct cmd c;
	struct edl_error err;
	const char *label = "a\"b'<c>&d";
	struct edl_fh_range r = {.lun = 0,
	                         .sector_size = 512,
	                         .start_sector = "0",
	                         .num_sectors = 1,
	                         .label = label};

	edl_buf_init(&c.buf);
	assert_int_equal(edl_fh_cmd_program(&c.buf, &r, &err), EDL_OK);
	const char *raw = (const char *)edl_buf_head(&c.buf);
	/* No raw quote, angle bracket or ampersand of the label reaches the wire. */
	assert_null(memmem(raw, edl_buf_size(&c.buf), "a\"b", 3));
	assert_null(memmem(raw, edl_buf_size(&c.buf), "<c>", 3));
	assert_null(memmem(raw, edl_buf_size(&c.buf), "&d", 2));
	cmd_parse(&c, "program");
	assert_string_equal(fh_attr(c.node, "label"), label);
	cmd_done(&c);
}

static void test_fh_other_commands_documents(void **state)
{
	(void)state;
	struct cmd c;
	struct edl_error err;
	struct edl_fh_patch p = {.lun = 0,
	                         .sector_size = 512,
	                         .byte_offset = 16,
	                         .filename = "DISK",
	                         .size_in_bytes = 4,
	                         .start_sector = "NUM_DISK_SECTORS-1.",
	                         .value = "CRC32(NUM_DISK_SECTORS-33.,4096)"};
	struct edl_fh_range r = {
	        .lun = 1, .sector_size = 4096, .start_sector = "6", .num_sectors = 256};

	edl_buf_init(&c.buf);
	assert_int_equal(edl_fh_cmd_patch(&c.buf, &p, &err), EDL_OK);
	cmd_parse(&c, "patch");
	assert_string_equal(fh_attr(c.node, "SECTOR_SIZE_IN_BYTES"), "512");
	assert_string_equal(fh_attr(c.node, "byte_offset"), "16");
	assert_string_equal(fh_attr(c.node, "filename"), "DISK");
	assert_string_equal(fh_attr(c.node, "physical_partition_number"), "0");
	assert_string_equal(fh_attr(c.node, "size_in_bytes"), "4");
	assert_string_equal(fh_attr(c.node, "start_sector"), "NUM_DISK_SECTORS-1.");
	assert_string_equal(fh_attr(c.node, "value"), "CRC32(NUM_DISK_SECTORS-33.,4096)");
	cmd_done(&c);

	edl_buf_init(&c.buf);
	assert_int_equal(edl_fh_cmd_getstorageinfo(&c.buf, 3, &err), EDL_OK);
	cmd_parse(&c, "getstorageinfo");
	assert_string_equal(fh_attr(c.node, "physical_partition_number"), "3");
	assert_int_equal(fh_attr_count(c.node), 1);
	cmd_done(&c);

	edl_buf_init(&c.buf);
	assert_int_equal(edl_fh_cmd_getsha256digest(&c.buf, &r, &err), EDL_OK);
	cmd_parse(&c, "getsha256digest");
	assert_string_equal(fh_attr(c.node, "SECTOR_SIZE_IN_BYTES"), "4096");
	assert_string_equal(fh_attr(c.node, "num_partition_sectors"), "256");
	assert_string_equal(fh_attr(c.node, "physical_partition_number"), "1");
	assert_string_equal(fh_attr(c.node, "start_sector"), "6");
	assert_int_equal(fh_attr_count(c.node), 4);
	cmd_done(&c);

	edl_buf_init(&c.buf);
	assert_int_equal(edl_fh_cmd_setbootable(&c.buf, 1, &err), EDL_OK);
	cmd_parse(&c, "setbootablestoragedrive");
	assert_string_equal(fh_attr(c.node, "value"), "1");
	cmd_done(&c);

	edl_buf_init(&c.buf);
	assert_int_equal(edl_fh_cmd_nop(&c.buf, &err), EDL_OK);
	cmd_parse(&c, "nop");
	assert_int_equal(fh_attr_count(c.node), 0);
	cmd_done(&c);

	edl_buf_init(&c.buf);
	assert_int_equal(edl_fh_cmd_power(&c.buf, "reset_to_edl", 2, &err), EDL_OK);
	cmd_parse(&c, "power");
	assert_string_equal(fh_attr(c.node, "value"), "reset_to_edl");
	assert_string_equal(fh_attr(c.node, "DelayInSeconds"), "2");
	cmd_done(&c);

	edl_buf_init(&c.buf);
	assert_int_equal(edl_fh_cmd_power(&c.buf, "explode", 0, &err), EDL_E_INVAL);
	assert_non_null(strstr(err.detail, "explode"));
	edl_buf_free(&c.buf);
}

/* ---- framing ---- */

struct frames {
	char *docs[32];
	size_t n;
	int too_large;
	uint64_t skipped;
};

static void frames_free(struct frames *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->docs[i]);
}

static void frame_stream(struct frames *out, const char *stream, size_t len, size_t max,
                         enum fh_split how, uint32_t seed)
{
	struct edl_fh_framer fr;
	size_t off = 0;

	memset(out, 0, sizeof(*out));
	edl_fh_framer_init(&fr, max);
	while (off < len) {
		size_t piece = fh_piece(how, &seed, len - off);
		const uint8_t *p = (const uint8_t *)stream + off;
		size_t left = piece;
		while (left > 0) {
			size_t used = 0;
			int r = edl_fh_framer_push(&fr, p, left, &used);
			p += used;
			left -= used;
			if (r == 1) {
				size_t dl;
				const char *d = edl_fh_framer_doc(&fr, &dl);
				assert_true(out->n < 32);
				out->docs[out->n] = strndup(d, dl);
				out->n++;
			} else if (r == EDL_E_FH_TOO_LARGE) {
				out->too_large++;
			} else {
				assert_int_equal(r, 0);
				assert_int_equal(left, 0);
			}
		}
		off += piece;
	}
	out->skipped = fr.skipped;
	edl_fh_framer_free(&fr);
}

static const char STREAM[] = "garbage\x01\xff<?xm<<?x" /* junk */
        FH_LOG("INFO: Binary build date") "\r\n  "     /* a log */
        FH_HDR "<data><log value=\"two\" /><response value=\"ACK\" "
                                          "rawmode=\"false\" /></data>" /* log + response */
                                          "<?XML nope </data>"          /* not a start */
        FH_LOG("after the response") FH_LOG("</dat a") "tail<?xml";

static void test_fh_framer_same_documents_for_any_fragmentation(void **state)
{
	(void)state;
	struct frames whole, bytes, rnd;

	frame_stream(&whole, STREAM, sizeof(STREAM) - 1, 65536, FH_SPLIT_WHOLE, 0);
	assert_int_equal(whole.n, 4);
	assert_string_equal(whole.docs[0], FH_LOG("INFO: Binary build date"));
	assert_string_equal(whole.docs[3], FH_LOG("</dat a"));
	assert_int_equal(whole.too_large, 0);
	/* Garbage, the blank line, the false start and the tail, but not the
	 * dangling "<?xml" which may still start a document. */
	assert_int_equal(whole.skipped,
	                 strlen("garbage\x01\xff<?xm<<?x") + 4 + strlen("<?XML nope </data>") + 4);

	frame_stream(&bytes, STREAM, sizeof(STREAM) - 1, 65536, FH_SPLIT_BYTES, 0);
	assert_int_equal(bytes.n, whole.n);
	assert_int_equal(bytes.skipped, whole.skipped);
	for (size_t i = 0; i < whole.n; i++)
		assert_string_equal(bytes.docs[i], whole.docs[i]);
	frames_free(&bytes);

	for (uint32_t seed = 1; seed < 200; seed++) {
		frame_stream(&rnd, STREAM, sizeof(STREAM) - 1, 65536, FH_SPLIT_RANDOM, seed);
		assert_int_equal(rnd.n, whole.n);
		assert_int_equal(rnd.skipped, whole.skipped);
		for (size_t i = 0; i < whole.n; i++)
			assert_string_equal(rnd.docs[i], whole.docs[i]);
		frames_free(&rnd);
	}
	frames_free(&whole);
}

static void test_fh_framer_drops_oversized_document_and_goes_on(void **state)
{
	(void)state;
	char stream[2048];
	char big[700];
	struct frames whole, f;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	/* The "</data>" of the big document straddles the limit in some splits. */
	snprintf(stream, sizeof(stream), "%s%s<data><log value=\"%s\"/></data>%s", FH_LOG("before"),
	         FH_HDR, big, FH_LOG("after"));
	frame_stream(&whole, stream, strlen(stream), 256, FH_SPLIT_WHOLE, 0);
	assert_int_equal(whole.too_large, 1);
	assert_int_equal(whole.n, 2);
	assert_string_equal(whole.docs[0], FH_LOG("before"));
	assert_string_equal(whole.docs[1], FH_LOG("after"));
	for (uint32_t seed = 0; seed < 50; seed++) {
		frame_stream(&f, stream, strlen(stream), 256,
		             seed ? FH_SPLIT_RANDOM : FH_SPLIT_BYTES, seed);
		assert_int_equal(f.too_large, 1);
		assert_int_equal(f.n, 2);
		assert_int_equal(f.skipped, whole.skipped);
		assert_string_equal(f.docs[1], FH_LOG("after"));
		frames_free(&f);
	}
	frames_free(&whole);

	/* A document of exactly the limit passes. */
	char exact[256 + 1];
	const char *head = FH_HDR "<data><log value=\"";
	const char *foot = "\"/></data>";
	size_t pad = 256 - strlen(head) - strlen(foot);
	memcpy(exact, head, strlen(head));
	memset(exact + strlen(head), 'y', pad);
	memcpy(exact + strlen(head) + pad, foot, strlen(foot) + 1);
	assert_int_equal(strlen(exact), 256);
	frame_stream(&f, exact, 256, 256, FH_SPLIT_BYTES, 0);
	assert_int_equal(f.too_large, 0);
	assert_int_equal(f.n, 1);
	frames_free(&f);
}

/* edl's xmlparser strips f0 e9 88 14 wherever it occurs; so does the framer,
 * also when the sequence is split over pushes, while a partial sequence is
 * data and kept. */
static const char JUNK_STREAM[] =
        "\xf0\xe9\x88\x14" /* before a document */
        "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n<log value=\"INFO: "
        "\xf0\xe9\x88\x14"
        "Binary build date: Apr 19 2020 @ 17:49:11\" /></data>" /* inside a value */
        "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n<response value=\"ACK\" "
        "/>\xf0\xe9\x88\x14</data>"         /* inside the closing tag's reach */
        "\xf0\xe9\x88" FH_LOG("x\xf0\xe9y") /* partial sequences are kept */
        "\xf0\xe9\x88\x14\xf0\xe9\x88\x14"; /* back to back, at the end */

static void test_fh_framer_strips_the_f0e98814_sequence(void **state)
{
	(void)state;
	struct frames whole, f;

	frame_stream(&whole, JUNK_STREAM, sizeof(JUNK_STREAM) - 1, 65536, FH_SPLIT_WHOLE, 0);
	assert_int_equal(whole.n, 3);
	assert_string_equal(whole.docs[0],
	                    FH_HDR "\n<data>\n<log value=\"INFO: Binary build date: Apr 19 2020 @ "
	                           "17:49:11\" /></data>");
	assert_string_equal(whole.docs[1], FH_HDR "\n<data>\n<response value=\"ACK\" /></data>");
	assert_string_equal(whole.docs[2], FH_LOG("x\xf0\xe9y"));
	/* Only the partial "f0 e9 88" between documents was skipped. */
	assert_int_equal(whole.skipped, 3);
	for (uint32_t seed = 0; seed < 100; seed++) {
		frame_stream(&f, JUNK_STREAM, sizeof(JUNK_STREAM) - 1, 65536,
		             seed ? FH_SPLIT_RANDOM : FH_SPLIT_BYTES, seed);
		assert_int_equal(f.n, whole.n);
		assert_int_equal(f.skipped, whole.skipped);
		for (size_t i = 0; i < whole.n; i++)
			assert_string_equal(f.docs[i], whole.docs[i]);
		frames_free(&f);
	}
	frames_free(&whole);

	/* The documents parse once stripped. */
	struct edl_fh_doc d;
	struct edl_error err;
	frame_stream(&whole, JUNK_STREAM, sizeof(JUNK_STREAM) - 1, 65536, FH_SPLIT_WHOLE, 0);
	assert_int_equal(edl_fh_doc_parse(&d, whole.docs[0], strlen(whole.docs[0]), 65536, &err),
	                 EDL_OK);
	assert_int_equal(d.n_items, 1);
	assert_string_equal(d.items[0].text, "INFO: Binary build date: Apr 19 2020 @ 17:49:11");
	edl_fh_doc_free(&d);
	frames_free(&whole);
}

/* ---- parsing ---- */

static void test_fh_parser_keeps_logs_and_response_in_order(void **state)
{
	(void)state;
	struct edl_fh_doc d;
	struct edl_error err;
	const char *xml = FH_HDR "<data><log value=\"first &amp; foremost\"/>"
	                         "<response value=\"ACK\" rawmode=\"true\" "
	                         "MaxPayloadSizeToTargetInBytes=\"1048576\" "
	                         "MaxPayloadSizeToTargetInBytesSupported=\"16384\"/>"
	                         "<unknown x=\"1\"/><log value=\"late\"/></data>";

	assert_int_equal(edl_fh_doc_parse(&d, xml, strlen(xml), 65536, &err), EDL_OK);
	assert_int_equal(d.n_items, 3);
	assert_int_equal(d.items[0].kind, EDL_FH_ITEM_LOG);
	assert_string_equal(d.items[0].text, "first & foremost");
	assert_int_equal(d.items[1].kind, EDL_FH_ITEM_RESPONSE);
	assert_string_equal(d.items[1].text, "ACK");
	assert_int_equal(d.items[1].n_attrs, 4);
	assert_string_equal(edl_fh_item_attr(&d.items[1], "rawmode"), "true");
	assert_string_equal(edl_fh_item_attr(&d.items[1], "MaxPayloadSizeToTargetInBytes"),
	                    "1048576");
	assert_string_equal(edl_fh_item_attr(&d.items[1], "MaxPayloadSizeToTargetInBytesSupported"),
	                    "16384");
	assert_null(edl_fh_item_attr(&d.items[1], "absent"));
	assert_string_equal(d.items[2].text, "late");
	edl_fh_doc_free(&d);
}

static void test_fh_parser_rejects_malformed_and_hostile_xml(void **state)
{
	(void)state;
	struct edl_fh_doc d;
	struct edl_error err;
	const char *bad = FH_HDR "<data><log value=\"unterminated /></data>";
	const char *dtd = FH_HDR "<!DOCTYPE data [<!ENTITY x \"boom\">]><data><log value=\"&x;\"/>"
	                         "</data>";
	const char *root = FH_HDR "<html><log value=\"x\"/></html>";
	const char *nul = FH_HDR "<data>\0</data>";

	edl_error_clear(&err);
	assert_int_equal(edl_fh_doc_parse(&d, bad, strlen(bad), 65536, &err), EDL_E_FH_XML);
	assert_non_null(strstr(err.detail, "malformed XML at line 1"));
	/* libxml2's own words are kept. */
	assert_true(strlen(err.detail) > strlen("malformed XML at line 1: "));
	edl_fh_doc_free(&d);

	assert_int_equal(edl_fh_doc_parse(&d, dtd, strlen(dtd), 65536, &err), EDL_E_FH_XML);
	assert_non_null(strstr(err.detail, "DTD"));
	edl_fh_doc_free(&d);

	assert_int_equal(edl_fh_doc_parse(&d, root, strlen(root), 65536, &err), EDL_E_FH_PROTOCOL);
	assert_non_null(strstr(err.detail, "<html>"));
	edl_fh_doc_free(&d);

	assert_int_equal(edl_fh_doc_parse(&d, nul, strlen(FH_HDR) + 14, 65536, &err), EDL_E_FH_XML);
	edl_fh_doc_free(&d);

	assert_int_equal(edl_fh_doc_parse(&d, root, strlen(root), 16, &err), EDL_E_FH_TOO_LARGE);
	edl_fh_doc_free(&d);
}

/* The Quectel vendor erase of RG500Q packages (xhikarishii/openwrt-ipq#3),
 * exactly as written: these attributes, this order, nothing added. */
static void test_fh_vendor_entry_is_verbatim(void **state)
{
	(void)state;
	struct cmd c;
	struct edl_error err;
	const char *attrs[] = {"a_rawdata_start_sector",
	                       "6528",
	                       "b_rawdata_num_sector",
	                       "640",
	                       "c_project_name",
	                       "RG500QEA_VH",
	                       "d_project_type",
	                       "STD",
	                       "vendor",
	                       "quectel"};

	edl_buf_init(&c.buf);
	assert_int_equal(edl_fh_cmd_vendor(&c.buf, "erase", attrs, 5, &err), EDL_OK);
	cmd_parse(&c, "erase");
	assert_int_equal(fh_attr_count(c.node), 5);
	size_t i = 0;
	for (xmlAttrPtr a = c.node->properties; a != NULL; a = a->next, i++) {
		assert_string_equal((const char *)a->name, attrs[2 * i]);
		assert_string_equal(fh_attr(c.node, (const char *)a->name), attrs[2 * i + 1]);
	}
	static const char body[] = "<data><erase a_rawdata_start_sector=\"6528\" "
	                           "b_rawdata_num_sector=\"640\" c_project_name=\"RG500QEA_VH\" "
	                           "d_project_type=\"STD\" vendor=\"quectel\"/></data>";
	assert_non_null(memmem(edl_buf_head(&c.buf), edl_buf_size(&c.buf), body, sizeof(body) - 1));
	cmd_done(&c);

	/* Values are escaped by libxml2. */
	const char *odd[] = {"note", "a<b & \"c\""};
	edl_buf_init(&c.buf);
	assert_int_equal(edl_fh_cmd_vendor(&c.buf, "harden", odd, 1, &err), EDL_OK);
	cmd_parse(&c, "harden");
	assert_string_equal(fh_attr(c.node, "note"), "a<b & \"c\"");
	cmd_done(&c);

	/* Names that are not XML names, a missing value, a repeated attribute. */
	struct edl_buf b;
	edl_buf_init(&b);
	const char *bad_name[] = {"a b", "1"};
	const char *no_value[] = {"a", NULL};
	const char *twice[] = {"vendor", "quectel", "vendor", "other"};
	assert_int_equal(edl_fh_cmd_vendor(&b, "erase x", attrs, 1, &err), EDL_E_INVAL);
	assert_int_equal(edl_fh_cmd_vendor(&b, NULL, attrs, 1, &err), EDL_E_INVAL);
	assert_int_equal(edl_fh_cmd_vendor(&b, "erase", bad_name, 1, &err), EDL_E_INVAL);
	assert_non_null(strstr(err.detail, "'a b'"));
	assert_int_equal(edl_fh_cmd_vendor(&b, "erase", no_value, 1, &err), EDL_E_INVAL);
	assert_int_equal(edl_fh_cmd_vendor(&b, "erase", twice, 2, &err), EDL_E_INVAL);
	assert_non_null(strstr(err.detail, "'vendor' given twice"));
	edl_buf_free(&b);
}

static void test_fh_parse_u64_is_strict(void **state)
{
	(void)state;
	uint64_t v;
	assert_true(edl_fh_parse_u64("16384", 512, 1 << 26, &v));
	assert_int_equal(v, 16384);
	assert_true(edl_fh_parse_u64("0x4000", 512, 1 << 26, &v));
	assert_int_equal(v, 16384);
	assert_false(edl_fh_parse_u64("-16384", 0, UINT64_MAX, &v));
	assert_false(edl_fh_parse_u64("16384x", 0, UINT64_MAX, &v));
	assert_false(edl_fh_parse_u64("", 0, UINT64_MAX, &v));
	assert_false(edl_fh_parse_u64(NULL, 0, UINT64_MAX, &v));
	assert_false(edl_fh_parse_u64("100", 512, 1 << 26, &v));
	assert_false(edl_fh_parse_u64("99999999999999999999999", 0, UINT64_MAX, &v));
}

/* ---- storage info and digest ---- */

static void test_fh_storage_info_json_form(void **state)
{
	(void)state;
	struct edl_fh_storage_info si;
	const char *logs[] = {
	        "INFO: Calling handler for getstorageinfo",
	        "{\"storage_info\": {\"total_blocks\":15597568, \"block_size\":4096, "
	        "\"page_size\":4096, \"num_physical\":6, \"manufacturer_id\":462, "
	        "\"serial_num\":1234, \"fw_version\":\"0300\", \"nested\": {\"a\": [1, \"}\"]}, "
	        "\"mem_type\":\"UFS\", \"prod_name\":\"KLUDG4UHDB-B2D1\"}}",
	        "INFO: Device Total Logical Blocks: 0x1", /* the JSON wins */
	};

	assert_int_equal(edl_fh_storage_info_parse(&si, logs, 3), EDL_OK);
	assert_true(si.valid);
	assert_int_equal(si.total_blocks, 15597568);
	assert_int_equal(si.block_size, 4096);
	assert_int_equal(si.page_size, 4096);
	assert_int_equal(si.num_physical, 6);
	assert_int_equal(si.sector_size, 4096);
	assert_int_equal(si.num_sectors, 15597568);
	assert_string_equal(si.mem_type, "UFS");
	assert_string_equal(si.prod_name, "KLUDG4UHDB-B2D1");

	/* The object split over two logs, with a sector size and NAND geometry. */
	const char *split[] = {
	        "INFO: {\"storage_info\": {\"total_blocks\": 2048, \"block_size\": 262144,",
	        " \"page_size\": 4096, \"sector_size\": \"4096\", \"mem_type\": \"NAND\"}}",
	};
	assert_int_equal(edl_fh_storage_info_parse(&si, split, 2), EDL_OK);
	assert_int_equal(si.num_sectors, 2048 * 64);
	assert_int_equal(si.sector_size, 4096);

	const char *broken[] = {"{\"storage_info\": {\"total_blocks\": "};
	assert_int_equal(edl_fh_storage_info_parse(&si, broken, 1), EDL_E_FH_STORAGE_INFO);
	assert_false(si.valid);
}

/* The line forms real programmers print (Qualcomm devprg storage code, edl
 * logs); the invented TOTAL_BLOCKS= form is not read. */
static void test_fh_storage_info_line_forms(void **state)
{
	(void)state;
	struct edl_fh_storage_info si;
	const char *ufs[] = {"INFO: Calling handler for getstorageinfo",
	                     "INFO: Device Total Logical Blocks: 0x1cb9800",
	                     "INFO: Device Block Size in Bytes: 0x1000",
	                     "INFO: Device Total Physical Partitions: 0x6",
	                     "INFO: Device Manufacturer ID: 0x198",
	                     "INFO: Device Serial Number: 0x48494241"};
	const char *misspelt[] = {"INFO: Device Total Logical Blocks: 0x1d5a000",
	                          "INFO: Device Block Size in Bytes: 0x200",
	                          "INFO: Device Total Physical Paritions: 0x3"};
	const char *emmc[] = {"INFO: Device Total Logical Blocks: 0x3a3e000",
	                      "INFO: SECTOR_SIZE_IN_BYTES=512", "INFO: num_physical_partitions=3",
	                      "INFO: MFR_ID=0x15"};
	const char *invented[] = {"INFO: TOTAL_BLOCKS=30777344", "BLOCK_SIZE=512 PAGE_SIZE=512",
	                          "NUM_DISK_SECTORS=30777344", "MEM_TYPE=eMMC"};
	const char *none[] = {"INFO: nothing here", "ERROR: unknown command"};

	assert_int_equal(edl_fh_storage_info_parse(&si, ufs, 6), EDL_OK);
	assert_true(si.valid);
	assert_int_equal(si.total_blocks, 0x1cb9800);
	assert_int_equal(si.num_sectors, 0x1cb9800);
	assert_int_equal(si.sector_size, 4096);
	assert_int_equal(si.num_physical, 6);
	assert_int_equal(si.manufacturer_id, 0x198);
	assert_int_equal(si.serial_num, 0x48494241);

	assert_int_equal(edl_fh_storage_info_parse(&si, misspelt, 3), EDL_OK);
	assert_int_equal(si.num_sectors, 0x1d5a000);
	assert_int_equal(si.sector_size, 512);
	assert_int_equal(si.num_physical, 3);

	assert_int_equal(edl_fh_storage_info_parse(&si, emmc, 4), EDL_OK);
	assert_int_equal(si.num_sectors, 0x3a3e000);
	assert_int_equal(si.sector_size, 512);
	assert_int_equal(si.num_physical, 3);
	assert_int_equal(si.manufacturer_id, 0x15);

	assert_int_equal(edl_fh_storage_info_parse(&si, invented, 4), EDL_E_FH_STORAGE_INFO);
	assert_false(si.valid);
	assert_int_equal(si.total_blocks, 0);
	assert_int_equal(si.sector_size, 0);
	assert_int_equal(edl_fh_storage_info_parse(&si, none, 2), EDL_E_FH_STORAGE_INFO);
}

/* Every key of the real JSON object, with mfr_id as the other spelling. */
static void test_fh_storage_info_json_real_keys(void **state)
{
	(void)state;
	struct edl_fh_storage_info si;
	const char *ufs[] = {"{\"storage_info\": {\"total_blocks\":30119936, \"block_size\":4096, "
	                     "\"page_size\":4096, \"num_physical\":6, \"manufacturer_id\":462, "
	                     "\"serial_num\":1094861636, \"fw_version\":\"0300\", "
	                     "\"mem_type\":\"UFS\", \"prod_name\":\"H28U74301AMR\"}}"};
	const char *emmc[] = {"INFO: {\"storage_info\": {\"total_blocks\":30535680, "
	                      "\"block_size\":512, \"page_size\":512, \"num_physical\":4, "
	                      "\"mfr_id\":21, \"serial_num\":305419896, \"fw_version\":\"7\", "
	                      "\"mem_type\":\"eMMC\", \"prod_name\":\"DH6DAB\"}}",
	                      "INFO: num_physical_partitions=9" /* the JSON wins */};

	assert_int_equal(edl_fh_storage_info_parse(&si, ufs, 1), EDL_OK);
	assert_int_equal(si.num_sectors, 30119936);
	assert_int_equal(si.sector_size, 4096);
	assert_int_equal(si.num_physical, 6);
	assert_int_equal(si.manufacturer_id, 462);
	assert_int_equal(si.serial_num, 1094861636);
	assert_string_equal(si.fw_version, "0300");
	assert_string_equal(si.mem_type, "UFS");
	assert_string_equal(si.prod_name, "H28U74301AMR");

	assert_int_equal(edl_fh_storage_info_parse(&si, emmc, 2), EDL_OK);
	assert_int_equal(si.num_sectors, 30535680);
	assert_int_equal(si.sector_size, 512);
	assert_int_equal(si.num_physical, 4);
	assert_int_equal(si.manufacturer_id, 21);
	assert_int_equal(si.serial_num, 305419896);
	assert_string_equal(si.mem_type, "eMMC");
}

static void test_fh_digest_parse(void **state)
{
	(void)state;
	uint8_t d[32];
	const char *good[] = {"INFO: hashing",
	                      "Digest "
	                      "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C"
	                      "15B0F00A08"};
	const char *lower[] = {"SHA256 digest: "
	                       "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"};
	const char *shorter[] = {"Digest 9F86D081884C7D659A2FEAA0C55AD015"};
	const char *longer[] = {
	        "Digest "
	        "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08AA"};

	assert_int_equal(edl_fh_digest_parse(d, good, 2), EDL_OK);
	assert_int_equal(d[0], 0x9f);
	assert_int_equal(d[1], 0x86);
	assert_int_equal(d[31], 0x08);
	memset(d, 0, sizeof(d));
	assert_int_equal(edl_fh_digest_parse(d, lower, 1), EDL_OK);
	assert_int_equal(d[0], 0x9f);
	assert_int_equal(d[31], 0x08);
	assert_int_equal(edl_fh_digest_parse(d, shorter, 1), EDL_E_FH_DIGEST);
	assert_int_equal(edl_fh_digest_parse(d, longer, 1), EDL_E_FH_DIGEST);
	assert_int_equal(edl_fh_digest_parse(d, NULL, 0), EDL_E_FH_DIGEST);

	/* Qualcomm handleGetDigest's progress lines are not digests. */
	const char *progress[] = {
	        "INFO: Hash start sector 0 num sectors 65536", "INFO: 49152 sectors more to hash",
	        "INFO: 32768 sectors more to hash",
	        "INFO: Digest "
	        "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"};
	memset(d, 0, sizeof(d));
	assert_int_equal(edl_fh_digest_parse(d, progress, 4), EDL_OK);
	assert_int_equal(d[0], 0x9f);
	assert_int_equal(d[31], 0x08);
	assert_int_equal(edl_fh_digest_parse(d, progress, 3), EDL_E_FH_DIGEST);
}

/* A digest cut between two logs is joined when the first has fewer than 64
 * digits and the next is the rest. */
static void test_fh_digest_split_over_two_logs(void **state)
{
	(void)state;
	uint8_t d[32];
	const char *split[] = {"INFO: Digest 9F86D081884C7D659A2FEAA0C55AD015",
	                       "A3BF4F1B2B0B822CD15D6C15B0F00A08"};
	const char *prefixed[] = {"INFO: Digest 9F86D081884C7D659A2FEAA0C5",
	                          "INFO: 5AD015A3BF4F1B2B0B822CD15D6C15B0F00A08 "};
	const char *too_many[] = {"INFO: Digest 9F86D081884C7D659A2FEAA0C55AD015",
	                          "A3BF4F1B2B0B822CD15D6C15B0F00A08FF"};
	const char *not_next[] = {"INFO: Digest 9F86D081884C7D659A2FEAA0C55AD015", "INFO: other",
	                          "A3BF4F1B2B0B822CD15D6C15B0F00A08"};

	memset(d, 0, sizeof(d));
	assert_int_equal(edl_fh_digest_parse(d, split, 2), EDL_OK);
	assert_int_equal(d[0], 0x9f);
	assert_int_equal(d[15], 0x15);
	assert_int_equal(d[16], 0xa3);
	assert_int_equal(d[31], 0x08);
	memset(d, 0, sizeof(d));
	assert_int_equal(edl_fh_digest_parse(d, prefixed, 2), EDL_OK);
	assert_int_equal(d[0], 0x9f);
	assert_int_equal(d[31], 0x08);
	assert_int_equal(edl_fh_digest_parse(d, too_many, 2), EDL_E_FH_DIGEST);
	assert_int_equal(edl_fh_digest_parse(d, not_next, 3), EDL_E_FH_DIGEST);
	assert_int_equal(edl_fh_digest_parse(d, split, 1), EDL_E_FH_DIGEST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_fh_configure_document_has_protocol_attributes),
	        cmocka_unit_test(test_fh_range_commands_carry_addressing),
	        cmocka_unit_test(test_fh_label_is_escaped_by_libxml2),
	        cmocka_unit_test(test_fh_other_commands_documents),
	        cmocka_unit_test(test_fh_framer_same_documents_for_any_fragmentation),
	        cmocka_unit_test(test_fh_framer_drops_oversized_document_and_goes_on),
	        cmocka_unit_test(test_fh_parser_keeps_logs_and_response_in_order),
	        cmocka_unit_test(test_fh_parser_rejects_malformed_and_hostile_xml),
	        cmocka_unit_test(test_fh_parse_u64_is_strict),
	        cmocka_unit_test(test_fh_storage_info_json_form),
	        cmocka_unit_test(test_fh_storage_info_line_forms),
	        cmocka_unit_test(test_fh_storage_info_json_real_keys),
	        cmocka_unit_test(test_fh_digest_parse),
	        cmocka_unit_test(test_fh_digest_split_over_two_logs),
	        cmocka_unit_test(test_fh_framer_strips_the_f0e98814_sequence),
	        cmocka_unit_test(test_fh_vendor_entry_is_verbatim),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	xmlCleanupParser();
	return rc;
}
