/*
 * Tests of the Firehose host engine against what real programmers send
 * (/work/shared/REAL-DEVICES.md section 2): the start-up banner and its
 * function list in both forms, configure sent again while a programmer is
 * still starting, getstorageinfo answered without geometry, digests that come
 * after the ACK or in response attributes, junk bytes and broken logs in the
 * stream, vendor entries, commands the programmer does not list, ZLP flags,
 * and reads in payload-sized and 1-byte pieces. Device documents have the real
 * shape `<?xml version="1.0" encoding="UTF-8" ?>\n<data>\n<log value="..." /></data>`,
 * one per transfer, and every stream is also fed a byte at a time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edlstation/error.h"
#include "edlstation/firehose.h"
#include "fh_test.h"

#define T0 1000

/* One document as a real programmer writes it. */
#define RLOG(text) FH_HDR "\n<data>\n<log value=\"" text "\" /></data>"
#define RRESP(attrs) FH_HDR "\n<data>\n<response " attrs " /></data>"
#define RACK RRESP("value=\"ACK\"")
#define RNAK RRESP("value=\"NAK\"")

#define DIGEST_HEX "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"

/* The SDX55 banner (QFirehose logs of an RG500Q/RM502Q; EDLTests), one log
 * per line. (clang-format is kept off these macros: it reflows them
 * differently on every run.) */
/* clang-format off */
#define SDX55_FUNCTIONS \
	RLOG("INFO: program") RLOG("INFO: read") RLOG("INFO: nop") RLOG("INFO: patch") \
	RLOG("INFO: configure") RLOG("INFO: setbootablestoragedrive") RLOG("INFO: erase") \
	RLOG("INFO: power") RLOG("INFO: firmwarewrite") RLOG("INFO: getstorageinfo") \
	RLOG("INFO: benchmark") RLOG("INFO: emmc") RLOG("INFO: ufs") RLOG("INFO: fixgpt") \
	RLOG("INFO: getsha256digest")
#define SDX55_BANNER_HEAD \
	RLOG("INFO: Binary build date: Apr 19 2020 @ 17:49:11") \
	RLOG("INFO: Binary build date: Apr 19 2020 @ 17:49:11") \
	RLOG("INFO: Chip serial num: 0 (0x0)") \
	RLOG("INFO: Supported Functions (15):") \
	SDX55_FUNCTIONS
#define SDX55_BANNER_END RLOG("INFO: End of supported functions 15")
#define SDX55_LIST \
	"program read nop patch configure setbootablestoragedrive erase power firmwarewrite " \
	"getstorageinfo benchmark emmc ufs fixgpt getsha256digest"

/* The SDX55 answer to configure (QFirehose log). */
#define SDX55_CONFIGURE_ACK \
	RLOG("INFO: Calling handler for configure") \
	RLOG("INFO: Storage type set to value nand") \
	RRESP("value=\"ACK\" MemoryName=\"nand\" MinVersionSupported=\"1\" Version=\"1\" " \
	      "MaxPayloadSizeToTargetInBytes=\"8192\" " \
	      "MaxPayloadSizeToTargetInBytesSupported=\"8192\" MaxXMLSizeInBytes=\"4096\" " \
	      "DateTime=\"Apr 19 2020 - 17:49:11\"")
/* clang-format on */

static struct edl_fh_host *host_new(void)
{
	struct edl_fh_host *h = NULL;
	assert_int_equal(edl_fh_host_new(&h, NULL), EDL_OK);
	return h;
}

/* Feeds s in pieces of the given kind; returns the first error a piece gave. */
static int feed(struct edl_fh_host *h, const char *s, size_t len, enum fh_split how, uint64_t now)
{
	uint32_t seed = 7;
	int first = EDL_OK;

	for (size_t off = 0; off < len;) {
		size_t piece = fh_piece(how, &seed, len - off);
		int rc = edl_fh_host_feed(h, (const uint8_t *)s + off, piece, now);
		if (first == EDL_OK)
			first = rc;
		off += piece;
	}
	return first;
}

static int dev(struct edl_fh_host *h, const char *s, uint64_t now)
{
	return feed(h, s, strlen(s), FH_SPLIT_WHOLE, now);
}

/* Pulls the next chunk and checks it is a document with that element. */
static xmlDocPtr pull_cmd(struct edl_fh_host *h, const char *name, xmlNodePtr *node,
                          struct edl_chunk *c)
{
	xmlDocPtr doc;

	assert_true(edl_fh_host_next_out(h, c));
	*node = fh_parse_cmd(c->data, c->len, &doc);
	assert_non_null(*node);
	assert_string_equal((const char *)(*node)->name, name);
	return doc;
}

static void pull(struct edl_fh_host *h, const char *name)
{
	struct edl_chunk c;
	xmlNodePtr n;
	xmlFreeDoc(pull_cmd(h, name, &n, &c));
}

/* ---- 1. the function list ---- */

static void test_fh_banner_lists_functions_and_ends_the_drain(void **state)
{
	(void)state;
	static const char head[] = SDX55_BANNER_HEAD;
	static const char tail[] = SDX55_BANNER_END RLOG("INFO: after the banner");

	for (int how = 0; how < 3; how++) {
		struct edl_fh_host *h = host_new();
		assert_null(edl_fh_host_functions(h));
		assert_int_equal(edl_fh_host_supports(h, "program"), EDL_FH_SUPPORT_UNKNOWN);
		assert_int_equal(edl_fh_host_drain(h, T0), EDL_OK);
		assert_int_equal(feed(h, head, sizeof(head) - 1, (enum fh_split)how, T0 + 10),
		                 EDL_OK);
		/* Not complete yet: nothing is known, the drain goes on. */
		assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_RUNNING);
		assert_null(edl_fh_host_functions(h));
		assert_int_equal(edl_fh_host_supports(h, "program"), EDL_FH_SUPPORT_UNKNOWN);
		/* The end line ends the drain at once, no quiet period needed. */
		assert_int_equal(feed(h, tail, sizeof(tail) - 1, (enum fh_split)how, T0 + 20),
		                 EDL_OK);
		assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
		assert_int_equal(edl_fh_host_deadline(h), 0);
		assert_string_equal(edl_fh_host_functions(h), SDX55_LIST);
		assert_int_equal(edl_fh_host_supports(h, "getsha256digest"), EDL_FH_SUPPORT_YES);
		assert_int_equal(edl_fh_host_supports(h, "GetStorageInfo"), EDL_FH_SUPPORT_YES);
		assert_int_equal(edl_fh_host_supports(h, "program"), EDL_FH_SUPPORT_YES);
		assert_int_equal(edl_fh_host_supports(h, "peek"), EDL_FH_SUPPORT_NO);
		assert_int_equal(edl_fh_host_supports(h, "prog"), EDL_FH_SUPPORT_NO);
		assert_int_equal(edl_fh_host_supports(h, ""), EDL_FH_SUPPORT_NO);
		assert_int_equal(edl_fh_host_log_count(h), 20);
		assert_string_equal(edl_fh_host_log(h, 19), "INFO: End of supported functions 15");
		/* What came after the banner is the next command's. */
		assert_int_equal(edl_fh_host_nop(h, T0 + 30), EDL_OK);
		assert_int_equal(edl_fh_host_log_count(h), 1);
		assert_string_equal(edl_fh_host_log(h, 0), "INFO: after the banner");
		edl_fh_host_free(h);
	}
}

static void test_fh_function_list_one_line_form_at_any_time(void **state)
{
	(void)state;
	static const char s[] =
	        RLOG("INFO: Supported Functions: program read nop configure erase power "
	             "getstorageinfo") RACK;

	for (int how = 0; how < 3; how++) {
		struct edl_fh_host *h = host_new();
		edl_fh_host_nop(h, T0);
		pull(h, "nop");
		assert_int_equal(feed(h, s, sizeof(s) - 1, (enum fh_split)how, T0 + 1), EDL_OK);
		assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
		assert_string_equal(edl_fh_host_functions(h),
		                    "program read nop configure erase power getstorageinfo");
		assert_int_equal(edl_fh_host_supports(h, "ERASE"), EDL_FH_SUPPORT_YES);
		assert_int_equal(edl_fh_host_supports(h, "getsha256digest"), EDL_FH_SUPPORT_NO);
		edl_fh_host_free(h);
	}

	/* A drain is not ended by the one-line form (no end line): it waits for
	 * silence as before. */
	struct edl_fh_host *h = host_new();
	edl_fh_host_drain(h, T0);
	dev(h, RLOG("INFO: Supported Functions: program read nop"), T0 + 5);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_RUNNING);
	assert_int_equal(edl_fh_host_supports(h, "read"), EDL_FH_SUPPORT_YES);
	edl_fh_host_timeout(h, T0 + 205);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
	edl_fh_host_free(h);
}

/* A second list replaces the first only once it is complete; a log that is
 * not a function name inside the list is not taken for one. */
static void test_fh_function_list_is_replaced_when_complete(void **state)
{
	(void)state;
	struct edl_fh_host *h = host_new();

	dev(h, RLOG("INFO: Supported Functions: program nop"), T0);
	assert_string_equal(edl_fh_host_functions(h), "program nop");
	dev(h,
	    RLOG("INFO: Supported Functions (3):") RLOG("INFO: program")
	            RLOG("WARN: a log in between, not a function") RLOG("WARN: two words.")
	                    RLOG("INFO: ufs."),
	    T0);
	assert_string_equal(edl_fh_host_functions(h), "program nop");
	assert_int_equal(edl_fh_host_supports(h, "nop"), EDL_FH_SUPPORT_YES);
	dev(h, RLOG("INFO: read") RLOG("INFO: erase") RLOG("INFO: End of supported functions 3"),
	    T0);
	assert_string_equal(edl_fh_host_functions(h), "program read erase");
	assert_int_equal(edl_fh_host_supports(h, "nop"), EDL_FH_SUPPORT_NO);
	/* An end line with no list before it, or an empty list, changes nothing. */
	dev(h, RLOG("INFO: End of supported functions 3"), T0);
	assert_string_equal(edl_fh_host_functions(h), "program read erase");
	dev(h, RLOG("INFO: Supported Functions (0):") RLOG("INFO: End of supported functions 0"),
	    T0);
	assert_string_equal(edl_fh_host_functions(h), "program read erase");
	edl_fh_host_free(h);
}

/* ---- 2. configure sent again on silence ---- */

static void configure_resending(struct edl_fh_host *h, uint64_t now)
{
	struct edl_fh_configure c = {.storage = EDL_STORAGE_NAND,
	                             .zlp_aware = true,
	                             .resend_ms = 1000,
	                             .window_ms = 5000};
	assert_int_equal(edl_fh_host_configure(h, &c, now), EDL_OK);
}

/* The same bytes as the first copy. */
static void pull_same(struct edl_fh_host *h, const uint8_t *first, size_t len)
{
	struct edl_chunk c;
	assert_true(edl_fh_host_next_out(h, &c));
	assert_int_equal(c.len, len);
	assert_memory_equal(c.data, first, len);
}

static void test_fh_configure_resent_until_the_window_closes(void **state)
{
	(void)state;
	struct edl_fh_host *h = host_new();
	struct edl_chunk c;
	xmlNodePtr n;
	uint8_t first[1024];
	size_t first_len;

	configure_resending(h, T0);
	xmlDocPtr d = pull_cmd(h, "configure", &n, &c);
	assert_string_equal(fh_attr(n, "MemoryName"), "nand");
	assert_true(c.len < sizeof(first));
	memcpy(first, c.data, c.len);
	first_len = c.len;
	xmlFreeDoc(d);
	assert_int_equal(edl_fh_host_deadline(h), T0 + 1000);
	assert_false(edl_fh_host_next_out(h, &c));
	/* The programmer is still starting: banner logs, no answer. */
	dev(h, RLOG("INFO: Binary build date: Apr 19 2020 @ 17:49:11"), T0 + 300);
	for (unsigned k = 1; k < 5; k++) {
		edl_fh_host_timeout(h, T0 + 1000 * k - 1);
		assert_false(edl_fh_host_next_out(h, &c));
		edl_fh_host_timeout(h, T0 + 1000 * k);
		assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_RUNNING);
		pull_same(h, first, first_len);
		assert_false(edl_fh_host_next_out(h, &c));
		assert_int_equal(edl_fh_host_deadline(h), T0 + 1000 * (k + 1));
	}
	dev(h, RLOG("INFO: Chip serial num: 0 (0x0)"), T0 + 4500);
	edl_fh_host_timeout(h, T0 + 5000);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_FAILED);
	assert_int_equal(edl_fh_host_error(h)->code, EDL_E_FH_TIMEOUT);
	assert_string_equal(edl_fh_host_error(h)->detail,
	                    "no response to configure (nand, payload 1048576, round 1) within 5000 "
	                    "ms (5 attempts, 1000 ms each) (last log: INFO: Chip serial num: 0 "
	                    "(0x0))");
	assert_false(edl_fh_host_next_out(h, &c));
	assert_int_equal(edl_fh_host_configure_rounds(h), 1);
	edl_fh_host_free(h);
}

/* The #2 field case: the first document is lost while the SDX55 programmer
 * starts; the second copy is answered, in one piece or a byte at a time. */
static void test_fh_configure_first_copy_lost_second_answered(void **state)
{
	(void)state;
	static const char answer[] = SDX55_BANNER_HEAD SDX55_BANNER_END SDX55_CONFIGURE_ACK;

	for (int how = 0; how < 3; how++) {
		struct edl_fh_host *h = host_new();
		configure_resending(h, T0);
		pull(h, "configure");
		edl_fh_host_timeout(h, T0 + 1000);
		pull(h, "configure");
		assert_int_equal(feed(h, answer, sizeof(answer) - 1, (enum fh_split)how, T0 + 1200),
		                 EDL_OK);
		assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
		assert_int_equal(edl_fh_host_payload(h), 8192);
		assert_int_equal(edl_fh_host_configure_rounds(h), 1);
		assert_string_equal(edl_fh_host_functions(h), SDX55_LIST);
		edl_fh_host_free(h);
	}
}

static void test_fh_configure_late_answer_to_an_earlier_copy_counts(void **state)
{
	(void)state;
	struct edl_fh_host *h = host_new();
	struct edl_chunk c;

	/* The answer to copy 1 arrives after copy 2 was queued, before it went
	 * out: copy 2 is not sent at all. */
	configure_resending(h, T0);
	pull(h, "configure");
	edl_fh_host_timeout(h, T0 + 1000);
	assert_int_equal(dev(h, SDX55_CONFIGURE_ACK, T0 + 1001), EDL_OK);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
	assert_int_equal(edl_fh_host_payload(h), 8192);
	assert_false(edl_fh_host_next_out(h, &c));

	/* Both copies went out and the programmer answers both: the second
	 * answer is not taken for the next command's. */
	configure_resending(h, T0 + 2000);
	pull(h, "configure");
	edl_fh_host_timeout(h, T0 + 3000);
	pull(h, "configure");
	dev(h, SDX55_CONFIGURE_ACK, T0 + 3100);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
	edl_fh_host_getstorageinfo(h, 0, T0 + 3200);
	pull(h, "getstorageinfo");
	assert_int_equal(dev(h, SDX55_CONFIGURE_ACK, T0 + 3210), EDL_OK);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_RUNNING);
	dev(h,
	    RLOG("INFO: Device Total Logical Blocks: 0x800")
	            RLOG("INFO: Device Block Size in Bytes: 0x1000") RACK,
	    T0 + 3300);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
	assert_true(edl_fh_host_storage_info(h)->valid);
	assert_int_equal(edl_fh_host_storage_info(h)->num_sectors, 0x800);
	/* Only the copies owed are dropped: a third identical ACK is an answer. */
	edl_fh_host_nop(h, T0 + 3400);
	pull(h, "nop");
	dev(h, SDX55_CONFIGURE_ACK, T0 + 3410);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
	edl_fh_host_free(h);
}

/* A NAK with a smaller size is a new round with its own window, not a resend;
 * without a window there is one attempt of timeout_ms, as before. */
static void test_fh_configure_negotiation_round_is_not_a_resend(void **state)
{
	(void)state;
	struct edl_fh_host *h = host_new();
	struct edl_chunk c;
	xmlNodePtr n;

	configure_resending(h, T0);
	pull(h, "configure");
	dev(h,
	    RLOG("WARN: NAK: MaxPayloadSizeToTargetInBytes sent by host 1048576 larger than "
	         "supported 16384") RRESP("value=\"NAK\" MaxPayloadSizeToTargetInBytes=\"16384\""),
	    T0 + 2500);
	assert_int_equal(edl_fh_host_configure_rounds(h), 2);
	assert_int_equal(edl_fh_host_deadline(h), T0 + 3500);
	xmlDocPtr d = pull_cmd(h, "configure", &n, &c);
	assert_string_equal(fh_attr(n, "MaxPayloadSizeToTargetInBytes"), "16384");
	xmlFreeDoc(d);
	/* Round 2's own window runs from T0 + 2500. */
	edl_fh_host_timeout(h, T0 + 3500);
	d = pull_cmd(h, "configure", &n, &c);
	assert_string_equal(fh_attr(n, "MaxPayloadSizeToTargetInBytes"), "16384");
	xmlFreeDoc(d);
	dev(h, RRESP("value=\"ACK\" MaxPayloadSizeToTargetInBytes=\"16384\""), T0 + 3600);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
	assert_int_equal(edl_fh_host_payload(h), 16384);

	struct edl_fh_configure once = {.storage = EDL_STORAGE_UFS, .zlp_aware = true};
	edl_fh_host_configure(h, &once, T0);
	pull(h, "configure");
	assert_int_equal(edl_fh_host_deadline(h), T0 + 10000);
	edl_fh_host_timeout(h, T0 + 10000);
	assert_false(edl_fh_host_next_out(h, &c));
	assert_int_equal(edl_fh_host_error(h)->code, EDL_E_FH_TIMEOUT);
	assert_string_equal(edl_fh_host_error(h)->detail,
	                    "no response to configure (ufs, payload 1048576, round 1) within 10000 "
	                    "ms");
	edl_fh_host_free(h);
}

/* ---- 3. getstorageinfo best effort ---- */

static void test_fh_getstorageinfo_ack_without_geometry_is_a_warning(void **state)
{
	(void)state;
	/* edl-ng #25: an eMMC programmer logs an error and ACKs. */
	static const char s[] = RLOG("INFO: Calling handler for getstorageinfo")
	        RLOG("ERROR: Invalid physical partition 3") RACK;

	for (int how = 0; how < 3; how++) {
		struct edl_fh_host *h = host_new();
		edl_fh_host_getstorageinfo(h, 3, T0);
		pull(h, "getstorageinfo");
		assert_int_equal(feed(h, s, sizeof(s) - 1, (enum fh_split)how, T0 + 1), EDL_OK);
		assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
		assert_int_equal(edl_fh_host_error(h)->code, EDL_OK);
		assert_false(edl_fh_host_storage_info(h)->valid);
		assert_string_equal(
		        edl_fh_host_warning(h),
		        "getstorageinfo LUN 3: ACK but no storage size in the 2 device "
		        "logs: INFO: Calling handler for getstorageinfo | ERROR: Invalid "
		        "physical partition 3");
		/* The next command starts without it. */
		edl_fh_host_nop(h, T0 + 2);
		assert_null(edl_fh_host_warning(h));
		edl_fh_host_free(h);
	}

	/* Older Qualcomm code NAKs instead: that stays a failure. */
	struct edl_fh_host *h = host_new();
	edl_fh_host_getstorageinfo(h, 0, T0);
	pull(h, "getstorageinfo");
	assert_int_equal(dev(h, RLOG("ERROR: Failed to get storage info") RNAK, T0 + 1),
	                 EDL_E_FH_NAK);
	assert_string_equal(edl_fh_host_error(h)->detail,
	                    "getstorageinfo LUN 0: NAK: ERROR: Failed to get storage info");
	assert_null(edl_fh_host_warning(h));
	edl_fh_host_free(h);
}

static void test_fh_getstorageinfo_real_ufs_lines(void **state)
{
	(void)state;
	/* One log per line, the JSON as the device escapes it. */
	/* clang-format off */
	static const char s[] =
		RLOG("INFO: Device Total Logical Blocks: 0x1cb9800")
		RLOG("INFO: Device Block Size in Bytes: 0x1000")
		RLOG("INFO: Device Total Physical Partitions: 0x6")
		RLOG("INFO: Device Manufacturer ID: 0x198")
		RLOG("INFO: Device Serial Number: 0x48494241")
		RLOG("INFO: {&quot;storage_info&quot;: {&quot;total_blocks&quot;:30119936, "
		     "&quot;block_size&quot;:4096, &quot;page_size&quot;:4096, "
		     "&quot;num_physical&quot;:6, &quot;manufacturer_id&quot;:408, "
		     "&quot;serial_num&quot;:1212760641, &quot;fw_version&quot;:&quot;A002&quot;, "
		     "&quot;mem_type&quot;:&quot;UFS&quot;, "
		     "&quot;prod_name&quot;:&quot;KM5V7001DM-B622&quot;}}")
		RACK;
	/* clang-format on */

	for (int how = 0; how < 3; how++) {
		struct edl_fh_host *h = host_new();
		edl_fh_host_getstorageinfo(h, 0, T0);
		pull(h, "getstorageinfo");
		assert_int_equal(feed(h, s, sizeof(s) - 1, (enum fh_split)how, T0 + 1), EDL_OK);
		assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
		const struct edl_fh_storage_info *si = edl_fh_host_storage_info(h);
		assert_true(si->valid);
		assert_int_equal(si->num_sectors, 30119936);
		assert_int_equal(si->sector_size, 4096);
		assert_int_equal(si->num_physical, 6);
		assert_int_equal(si->manufacturer_id, 408);
		assert_int_equal(si->serial_num, 1212760641);
		assert_string_equal(si->fw_version, "A002");
		assert_string_equal(si->mem_type, "UFS");
		assert_string_equal(si->prod_name, "KM5V7001DM-B622");
		assert_null(edl_fh_host_warning(h));
		edl_fh_host_free(h);
	}
}

/* ---- 4. digests ---- */

static const struct edl_fh_range DIGEST_RANGE = {
        .sector_size = 4096, .start_sector = "256", .num_sectors = 65536, .label = "system"};

static void expect_digest(struct edl_fh_host *h)
{
	const uint8_t *d = edl_fh_host_digest(h);
	assert_non_null(d);
	assert_int_equal(d[0], 0x9f);
	assert_int_equal(d[1], 0x86);
	assert_int_equal(d[31], 0x08);
}

/* qdl: on MSM8916 logs arrive after the response. */
static void test_fh_digest_log_after_the_ack(void **state)
{
	(void)state;
	static const char before[] = RLOG("INFO: Hash start sector 256 num sectors 65536")
	        RLOG("INFO: 49152 sectors more to hash") RLOG("INFO: 32768 sectors more to hash")
	                RLOG("INFO: 16384 sectors more to hash") RACK;
	static const char after[] = RLOG("INFO: Digest " DIGEST_HEX);

	for (int how = 0; how < 3; how++) {
		struct edl_fh_host *h = host_new();
		edl_fh_host_getsha256digest(h, &DIGEST_RANGE, T0);
		pull(h, "getsha256digest");
		assert_int_equal(feed(h, before, sizeof(before) - 1, (enum fh_split)how, T0 + 10),
		                 EDL_OK);
		assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_RUNNING);
		assert_int_equal(edl_fh_host_deadline(h), T0 + 10 + 100);
		assert_null(edl_fh_host_digest(h));
		/* A log without the digest re-arms the quiet period. */
		dev(h, RLOG("INFO: Finished hashing"), T0 + 60);
		assert_int_equal(edl_fh_host_deadline(h), T0 + 160);
		edl_fh_host_timeout(h, T0 + 150);
		assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_RUNNING);
		assert_int_equal(feed(h, after, sizeof(after) - 1, (enum fh_split)how, T0 + 155),
		                 EDL_OK);
		assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
		assert_int_equal(edl_fh_host_deadline(h), 0);
		expect_digest(h);
		edl_fh_host_free(h);
	}
}

static void test_fh_digest_from_response_attributes(void **state)
{
	(void)state;
	static const char *answers[] = {
	        RRESP("value=\"ACK\" Digest=\"" DIGEST_HEX "\""),
	        RRESP("value=\"ACK\" SHA256=\"" DIGEST_HEX "\""),
	        RRESP("value=\"ACK\" digest=\"" DIGEST_HEX "\" rawmode=\"false\""),
	};

	for (size_t i = 0; i < 3; i++) {
		for (int how = 0; how < 2; how++) {
			struct edl_fh_host *h = host_new();
			edl_fh_host_getsha256digest(h, &DIGEST_RANGE, T0);
			pull(h, "getsha256digest");
			assert_int_equal(
			        feed(h, answers[i], strlen(answers[i]), (enum fh_split)how, T0 + 1),
			        EDL_OK);
			assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
			expect_digest(h);
			edl_fh_host_free(h);
		}
	}
}

static void test_fh_digest_split_over_two_logs_and_late_response(void **state)
{
	(void)state;
	static const char s[] = RLOG("INFO: Digest 9F86D081884C7D659A2FEAA0C55AD015")
	        RLOG("A3BF4F1B2B0B822CD15D6C15B0F00A08") RACK;

	for (int how = 0; how < 3; how++) {
		struct edl_fh_host *h = host_new();
		edl_fh_host_getsha256digest(h, &DIGEST_RANGE, T0);
		pull(h, "getsha256digest");
		assert_int_equal(feed(h, s, sizeof(s) - 1, (enum fh_split)how, T0 + 1), EDL_OK);
		assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
		expect_digest(h);
		edl_fh_host_free(h);
	}

	/* A second response while waiting for late logs changes nothing. */
	struct edl_fh_host *h = host_new();
	edl_fh_host_getsha256digest(h, &DIGEST_RANGE, T0);
	pull(h, "getsha256digest");
	dev(h, RACK RACK, T0 + 1);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_RUNNING);
	edl_fh_host_timeout(h, T0 + 101);
	assert_int_equal(edl_fh_host_error(h)->code, EDL_E_FH_DIGEST);
	edl_fh_host_free(h);
}

/* ---- 5. junk bytes and broken logs ---- */

static void test_fh_junk_sequence_and_broken_logs_do_not_fail_a_command(void **state)
{
	(void)state;
	static const char s[] =
	        "\xf0\xe9\x88\x14" RLOG("INFO: Calling \xf0\xe9\x88\x14handler for nop") FH_HDR
	        "\n<data>\n<log value=\"INFO: cut short /></data>"   /* broken log */
	        FH_HDR "\n<data>\n<log value=\"\xff\xfe\" /></data>" /* not UTF-8 */
	        "\xf0\xe9\x88\x14" RACK;

	for (int how = 0; how < 3; how++) {
		struct edl_fh_host *h = host_new();
		edl_fh_host_nop(h, T0);
		pull(h, "nop");
		assert_int_equal(feed(h, s, sizeof(s) - 1, (enum fh_split)how, T0 + 1), EDL_OK);
		assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
		assert_int_equal(edl_fh_host_bad_docs(h), 2);
		assert_int_equal(edl_fh_host_skipped(h), 0);
		assert_int_equal(edl_fh_host_log_count(h), 1);
		assert_string_equal(edl_fh_host_log(h, 0), "INFO: Calling handler for nop");
		edl_fh_host_free(h);
	}

	/* A broken response is the answer lost: the command fails. */
	struct edl_fh_host *h = host_new();
	edl_fh_host_nop(h, T0);
	pull(h, "nop");
	assert_int_equal(dev(h, FH_HDR "\n<data>\n<response value=\"ACK /></data>", T0 + 1),
	                 EDL_E_FH_XML);
	assert_int_equal(edl_fh_host_bad_docs(h), 0);
	assert_non_null(strstr(edl_fh_host_error(h)->detail, "nop: malformed XML"));
	edl_fh_host_free(h);
}

/* ---- 6. vendor entries ---- */

static void test_fh_vendor_entry_needs_an_ack(void **state)
{
	(void)state;
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
	struct edl_fh_host *h = host_new();
	struct edl_chunk c;
	xmlNodePtr n;

	assert_int_equal(edl_fh_host_vendor(h, "erase", attrs, 5, T0), EDL_OK);
	assert_int_equal(edl_fh_host_deadline(h), T0 + 30000);
	xmlDocPtr d = pull_cmd(h, "erase", &n, &c);
	assert_int_equal(fh_attr_count(n), 5);
	assert_string_equal(fh_attr(n, "c_project_name"), "RG500QEA_VH");
	assert_string_equal(fh_attr(n, "vendor"), "quectel");
	assert_null(fh_attr(n, "SECTOR_SIZE_IN_BYTES"));
	xmlFreeDoc(d);
	static const char ack[] = RLOG("INFO: Calling handler for erase") RACK;
	assert_int_equal(feed(h, ack, sizeof(ack) - 1, FH_SPLIT_BYTES, T0 + 400), EDL_OK);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
	assert_int_equal(edl_fh_host_log_count(h), 1);

	edl_fh_host_vendor(h, "erase", attrs, 5, T0 + 500);
	pull(h, "erase");
	assert_int_equal(dev(h, RLOG("ERROR: project name mismatch") RNAK, T0 + 501), EDL_E_FH_NAK);
	assert_string_equal(edl_fh_host_error(h)->detail,
	                    "vendor entry <erase>: NAK: ERROR: project name mismatch");

	edl_fh_host_vendor(h, "erase", attrs, 5, T0 + 600);
	pull(h, "erase");
	edl_fh_host_timeout(h, T0 + 600 + 30000);
	assert_int_equal(edl_fh_host_error(h)->code, EDL_E_FH_TIMEOUT);
	assert_string_equal(edl_fh_host_error(h)->detail,
	                    "no response to vendor entry <erase> within 30000 ms");

	const char *twice[] = {"vendor", "a", "vendor", "b"};
	assert_int_equal(edl_fh_host_vendor(h, "erase", twice, 2, T0), EDL_E_INVAL);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_FAILED);
	assert_false(edl_fh_host_next_out(h, &c));
	edl_fh_host_free(h);
}

/* ---- 7. commands the programmer does not list ---- */

static void test_fh_nak_names_a_function_the_programmer_does_not_list(void **state)
{
	(void)state;
	struct edl_fh_host *h = host_new();

	/* Without a list there is nothing to say. */
	edl_fh_host_getsha256digest(h, &DIGEST_RANGE, T0);
	pull(h, "getsha256digest");
	dev(h, RLOG("ERROR: Unrecognized command") RNAK, T0 + 1);
	assert_string_equal(edl_fh_host_error(h)->detail,
	                    "getsha256digest LUN 0 sector 256 (system): NAK: ERROR: Unrecognized "
	                    "command");

	edl_fh_host_drain(h, T0 + 2);
	dev(h,
	    RLOG("INFO: Supported Functions (4):") RLOG("INFO: program") RLOG("INFO: nop")
	            RLOG("INFO: configure") RLOG("INFO: power")
	                    RLOG("INFO: End of supported functions 4"),
	    T0 + 2);
	edl_fh_host_getsha256digest(h, &DIGEST_RANGE, T0 + 3);
	pull(h, "getsha256digest");
	assert_int_equal(dev(h, RLOG("ERROR: Unrecognized command") RNAK, T0 + 4), EDL_E_FH_NAK);
	assert_string_equal(edl_fh_host_error(h)->detail,
	                    "getsha256digest LUN 0 sector 256 (system): NAK: ERROR: Unrecognized "
	                    "command (the programmer does not list getsha256digest)");

	/* Or no answer at all. */
	edl_fh_host_setbootable(h, 0, T0 + 5);
	pull(h, "setbootablestoragedrive");
	edl_fh_host_timeout(h, T0 + 5 + 10000);
	assert_string_equal(edl_fh_host_error(h)->detail,
	                    "no response to setbootablestoragedrive 0 within 10000 ms (the "
	                    "programmer does not list setbootablestoragedrive)");

	/* A listed command that is refused gets no such note. */
	edl_fh_host_power(h, "reset", 10, T0 + 6);
	pull(h, "power");
	dev(h, RNAK, T0 + 7);
	assert_string_equal(edl_fh_host_error(h)->detail,
	                    "power reset: NAK: (the device gave no log)");
	edl_fh_host_free(h);
}

/* ---- 8. ZLP flags ---- */

static void test_fh_chunks_carry_zlp_as_configured(void **state)
{
	(void)state;
	static uint8_t img[8192];
	struct edl_fh_host *h = host_new();
	struct edl_chunk c;

	/* Before any configure: ZLPs on (exact multiples must complete). */
	edl_fh_host_nop(h, T0);
	assert_true(edl_fh_host_next_out(h, &c));
	assert_true(c.zlp);
	dev(h, RACK, T0);

	for (int aware = 0; aware < 2; aware++) {
		struct edl_fh_configure conf = {
		        .storage = EDL_STORAGE_EMMC, .max_payload = 4096, .zlp_aware = aware != 0};
		edl_fh_host_configure(h, &conf, T0);
		xmlNodePtr n;
		xmlDocPtr d = pull_cmd(h, "configure", &n, &c);
		assert_string_equal(fh_attr(n, "ZlpAwareHost"), aware ? "1" : "0");
		assert_int_equal(c.zlp, aware != 0);
		xmlFreeDoc(d);
		dev(h, RRESP("value=\"ACK\" MaxPayloadSizeToTargetInBytes=\"4096\""), T0);
		assert_int_equal(edl_fh_host_payload(h), 4096);

		struct edl_fh_range r = {
		        .sector_size = 512, .start_sector = "0", .num_sectors = 16};
		struct edl_fh_source src = {.data = img, .len = sizeof(img)};
		edl_fh_host_program(h, &r, &src, T0);
		assert_true(edl_fh_host_next_out(h, &c));
		assert_int_equal(c.zlp, aware != 0);
		dev(h, RRESP("value=\"ACK\" rawmode=\"true\""), T0);
		size_t chunks = 0;
		while (edl_fh_host_next_out(h, &c)) {
			assert_int_equal(c.len, 4096); /* exact packet multiples */
			assert_int_equal(c.zlp, aware != 0);
			chunks++;
		}
		assert_int_equal(chunks, 2);
		dev(h, RRESP("value=\"ACK\" rawmode=\"false\""), T0 + 1);
		assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
		edl_fh_host_nop(h, T0 + 2);
		assert_true(edl_fh_host_next_out(h, &c));
		assert_int_equal(c.zlp, aware != 0);
		dev(h, RACK, T0 + 3);
	}
	edl_fh_host_free(h);
}

/* ---- 9. reads for read-back verify ---- */

struct sink {
	uint8_t data[16384];
	size_t len;
	size_t calls;
};

static int sink_fn(const uint8_t *data, size_t len, void *user)
{
	struct sink *s = user;
	assert_true(s->len + len <= sizeof(s->data));
	memcpy(s->data + s->len, data, len);
	s->len += len;
	s->calls++;
	return 0;
}

static void start_read(struct edl_fh_host *h, struct sink *s, uint64_t sectors)
{
	struct edl_fh_range r = {
	        .lun = 0, .sector_size = 4096, .start_sector = "1024", .num_sectors = sectors};
	memset(s, 0, sizeof(*s));
	assert_int_equal(edl_fh_host_read(h, &r, sink_fn, s, T0), EDL_OK);
	pull(h, "read");
}

static void test_fh_read_in_payload_sized_pieces_and_bytes(void **state)
{
	(void)state;
	static uint8_t data[3 * 4096];
	static const char pre[] =
	        RLOG("INFO: Calling handler for read") RRESP("value=\"ACK\" rawmode=\"true\"");
	static const char post[] =
	        RLOG("INFO: Finished sector address 1027") RRESP("value=\"ACK\" rawmode=\"false\"");

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 31 + 7);
	memcpy(data + 4096 - 20, FH_HDR, 20); /* data that looks like XML */
	for (int how = 0; how < 2; how++) {
		struct edl_fh_host *h = host_new();
		struct sink *s = malloc(sizeof(*s));
		start_read(h, s, 3);
		assert_int_equal(feed(h, pre, sizeof(pre) - 1, (enum fh_split)how, T0 + 1), EDL_OK);
		/* One transfer per payload-sized piece, as a programmer sends them. */
		for (size_t k = 0; k < 3; k++) {
			assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_RUNNING);
			assert_int_equal(feed(h, (const char *)data + k * 4096, 4096,
			                      how ? FH_SPLIT_BYTES : FH_SPLIT_WHOLE, T0 + 2 + k),
			                 EDL_OK);
			assert_int_equal(s->len, (k + 1) * 4096);
		}
		assert_int_equal(feed(h, post, sizeof(post) - 1, (enum fh_split)how, T0 + 10),
		                 EDL_OK);
		assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
		assert_memory_equal(s->data, data, sizeof(data));
		assert_int_equal(s->calls, how ? sizeof(data) : 3);
		edl_fh_host_free(h);
		free(s);
	}
}

static void test_fh_read_nak_and_short_read_are_clear_failures(void **state)
{
	(void)state;
	static uint8_t data[4096];
	struct edl_fh_host *h = host_new();
	struct sink *s = malloc(sizeof(*s));

	/* NAK instead of the rawmode ACK. */
	start_read(h, s, 2);
	assert_int_equal(dev(h, RLOG("ERROR: Failed to read 2 sectors at 1024") RNAK, T0 + 1),
	                 EDL_E_FH_NAK);
	assert_string_equal(edl_fh_host_error(h)->detail,
	                    "read LUN 0 sector 1024: NAK: ERROR: Failed to read 2 sectors at 1024");
	assert_int_equal(s->len, 0);

	/* The data arrives, the final response is a NAK. */
	start_read(h, s, 1);
	dev(h, RRESP("value=\"ACK\" rawmode=\"true\""), T0 + 1);
	edl_fh_host_feed(h, data, sizeof(data), T0 + 2);
	assert_int_equal(
	        dev(h, RLOG("ERROR: read failed") RRESP("value=\"NAK\" rawmode=\"false\""), T0 + 3),
	        EDL_E_FH_NAK);
	assert_string_equal(edl_fh_host_error(h)->detail,
	                    "read LUN 0 sector 1024: NAK: ERROR: read failed");

	/* The programmer stops after one of two sectors and answers: its answer
	 * is taken as data, and the timeout says what it looks like. */
	start_read(h, s, 2);
	dev(h, RRESP("value=\"ACK\" rawmode=\"true\""), T0 + 1);
	edl_fh_host_feed(h, data, sizeof(data), T0 + 2);
	dev(h, RRESP("value=\"NAK\" rawmode=\"false\""), T0 + 3);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_RUNNING);
	edl_fh_host_timeout(h, T0 + 3 + 10000);
	assert_int_equal(edl_fh_host_error(h)->code, EDL_E_FH_TIMEOUT);
	char expect[256];
	snprintf(expect, sizeof(expect),
	         "read LUN 0 sector 1024: raw data stopped after %zu of 8192 bytes (nothing for "
	         "10000 ms) and the data ends like a Firehose response: the device ended the read "
	         "early",
	         sizeof(data) + strlen(RRESP("value=\"NAK\" rawmode=\"false\"")));
	assert_string_equal(edl_fh_host_error(h)->detail, expect);
	edl_fh_host_free(h);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_fh_banner_lists_functions_and_ends_the_drain),
	        cmocka_unit_test(test_fh_function_list_one_line_form_at_any_time),
	        cmocka_unit_test(test_fh_function_list_is_replaced_when_complete),
	        cmocka_unit_test(test_fh_configure_resent_until_the_window_closes),
	        cmocka_unit_test(test_fh_configure_first_copy_lost_second_answered),
	        cmocka_unit_test(test_fh_configure_late_answer_to_an_earlier_copy_counts),
	        cmocka_unit_test(test_fh_configure_negotiation_round_is_not_a_resend),
	        cmocka_unit_test(test_fh_getstorageinfo_ack_without_geometry_is_a_warning),
	        cmocka_unit_test(test_fh_getstorageinfo_real_ufs_lines),
	        cmocka_unit_test(test_fh_digest_log_after_the_ack),
	        cmocka_unit_test(test_fh_digest_from_response_attributes),
	        cmocka_unit_test(test_fh_digest_split_over_two_logs_and_late_response),
	        cmocka_unit_test(test_fh_junk_sequence_and_broken_logs_do_not_fail_a_command),
	        cmocka_unit_test(test_fh_vendor_entry_needs_an_ack),
	        cmocka_unit_test(test_fh_nak_names_a_function_the_programmer_does_not_list),
	        cmocka_unit_test(test_fh_chunks_carry_zlp_as_configured),
	        cmocka_unit_test(test_fh_read_in_payload_sized_pieces_and_bytes),
	        cmocka_unit_test(test_fh_read_nak_and_short_read_are_clear_failures),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	xmlCleanupParser();
	return rc;
}
