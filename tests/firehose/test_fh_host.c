/*
 * Tests of the Firehose host engine driven with hand-written device answers:
 * configure negotiation, program's raw phase (zero copy, padding, fill, final
 * ACK, NAK, timeout), read's raw phase under any fragmentation, storage info,
 * digest, drain, log ownership and failure sentences.
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

static struct edl_fh_host *host_new(void)
{
	struct edl_fh_host *h = NULL;
	assert_int_equal(edl_fh_host_new(&h, NULL), EDL_OK);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
	return h;
}

static int dev(struct edl_fh_host *h, const char *s, uint64_t now)
{
	return edl_fh_host_feed(h, (const uint8_t *)s, strlen(s), now);
}

/* Pulls the command document and checks its element name; returns the parsed
 * document (free it) and the element in *node. */
static xmlDocPtr pull_cmd(struct edl_fh_host *h, const char *name, xmlNodePtr *node)
{
	struct edl_chunk c;
	xmlDocPtr doc;

	assert_true(edl_fh_host_next_out(h, &c));
	assert_true(c.zlp);
	*node = fh_parse_cmd(c.data, c.len, &doc);
	assert_non_null(*node);
	assert_string_equal((const char *)(*node)->name, name);
	return doc;
}

static void pull_and_drop(struct edl_fh_host *h, const char *name)
{
	xmlNodePtr n;
	xmlFreeDoc(pull_cmd(h, name, &n));
}

/* ---- simple commands, logs, errors ---- */

static void test_fh_host_nop_ack_keeps_logs(void **state)
{
	(void)state;
	struct edl_fh_host *h = host_new();

	assert_int_equal(edl_fh_host_nop(h, T0), EDL_OK);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_RUNNING);
	assert_int_equal(edl_fh_host_deadline(h), T0 + 10000);
	assert_int_equal(edl_fh_host_nop(h, T0), EDL_E_BUSY);
	/* A response before the command was even sent answers something else. */
	assert_int_equal(dev(h, FH_NAK, T0), EDL_OK);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_RUNNING);
	pull_and_drop(h, "nop");
	struct edl_chunk c;
	assert_false(edl_fh_host_next_out(h, &c));
	assert_int_equal(dev(h, FH_LOG("INFO: nop") FH_LOG("INFO: still here"), T0 + 1), EDL_OK);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_RUNNING);
	assert_int_equal(dev(h, FH_ACK, T0 + 2), EDL_OK);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
	assert_int_equal(edl_fh_host_error(h)->code, EDL_OK);
	assert_int_equal(edl_fh_host_deadline(h), 0);
	assert_int_equal(edl_fh_host_log_count(h), 2);
	assert_string_equal(edl_fh_host_log(h, 0), "INFO: nop");
	assert_string_equal(edl_fh_host_log(h, 1), "INFO: still here");
	assert_null(edl_fh_host_log(h, 2));
	edl_fh_host_free(h);
}

static void test_fh_host_logs_after_response_belong_to_next_command(void **state)
{
	(void)state;
	struct edl_fh_host *h = host_new();

	assert_int_equal(edl_fh_host_setbootable(h, 1, T0), EDL_OK);
	xmlNodePtr n;
	xmlDocPtr d = pull_cmd(h, "setbootablestoragedrive", &n);
	assert_string_equal(fh_attr(n, "value"), "1");
	xmlFreeDoc(d);
	/* One transfer: a log, the ACK, then a late log in the same document and
	 * one more document. */
	assert_int_equal(dev(h,
	                     FH_LOG("before") FH_HDR
	                     "<data><response value=\"ACK\"/>"
	                     "<log value=\"late 1\"/></data>" FH_LOG("late 2"),
	                     T0 + 1),
	                 EDL_OK);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
	assert_int_equal(edl_fh_host_log_count(h), 1);
	assert_string_equal(edl_fh_host_log(h, 0), "before");

	assert_int_equal(edl_fh_host_nop(h, T0 + 2), EDL_OK);
	assert_int_equal(edl_fh_host_log_count(h), 2);
	assert_string_equal(edl_fh_host_log(h, 0), "late 1");
	assert_string_equal(edl_fh_host_log(h, 1), "late 2");
	pull_and_drop(h, "nop");
	dev(h, FH_ACK, T0 + 3);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
	assert_int_equal(edl_fh_host_log_count(h), 2);
	edl_fh_host_free(h);
}

static void test_fh_host_nak_names_command_and_device_logs(void **state)
{
	(void)state;
	struct edl_fh_host *h = host_new();
	struct edl_fh_range r = {.lun = 0,
	                         .sector_size = 512,
	                         .start_sector = "256",
	                         .num_sectors = 8,
	                         .label = "system"};

	assert_int_equal(edl_fh_host_erase(h, &r, T0), EDL_OK);
	assert_int_equal(edl_fh_host_deadline(h), T0 + 30000);
	pull_and_drop(h, "erase");
	assert_int_equal(dev(h, FH_LOG("INFO: one") FH_LOG("ERROR: bad block") FH_NAK, T0 + 5),
	                 EDL_E_FH_NAK);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_FAILED);
	assert_int_equal(edl_fh_host_error(h)->code, EDL_E_FH_NAK);
	assert_string_equal(edl_fh_host_error(h)->detail,
	                    "erase LUN 0 sector 256 (system): NAK: INFO: one | ERROR: bad block");
	/* A new command starts a fresh result. */
	assert_int_equal(edl_fh_host_nop(h, T0 + 6), EDL_OK);
	assert_int_equal(edl_fh_host_error(h)->code, EDL_OK);
	edl_fh_host_free(h);
}

static void test_fh_host_times_out_naming_the_command(void **state)
{
	(void)state;
	struct edl_fh_host *h = host_new();

	assert_int_equal(edl_fh_host_power(h, "reset", 1, T0), EDL_OK);
	xmlNodePtr n;
	xmlDocPtr d = pull_cmd(h, "power", &n);
	assert_string_equal(fh_attr(n, "value"), "reset");
	assert_string_equal(fh_attr(n, "DelayInSeconds"), "1");
	xmlFreeDoc(d);
	dev(h, FH_LOG("INFO: going down"), T0 + 10);
	edl_fh_host_timeout(h, T0 + 9999);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_RUNNING);
	edl_fh_host_timeout(h, T0 + 10000);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_FAILED);
	assert_int_equal(edl_fh_host_error(h)->code, EDL_E_FH_TIMEOUT);
	assert_string_equal(edl_fh_host_error(h)->detail,
	                    "no response to power reset within 10000 ms (last log: INFO: going "
	                    "down)");

	/* Bad arguments fail at once with a sentence. */
	assert_int_equal(edl_fh_host_power(h, "sideways", 0, T0), EDL_E_INVAL);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_FAILED);
	assert_non_null(strstr(edl_fh_host_error(h)->detail, "sideways"));
	edl_fh_host_free(h);
}

/* A broken response is the answer lost: the command fails with libxml2's
 * words. (A broken log is skipped: test_fh_real.c,
 * test_fh_junk_sequence_and_broken_logs_do_not_fail_a_command.) */
static void test_fh_host_malformed_response_fails_with_libxml2_message(void **state)
{
	(void)state;
	struct edl_fh_host *h = host_new();

	edl_fh_host_nop(h, T0);
	pull_and_drop(h, "nop");
	assert_int_equal(dev(h, "junk\n" FH_HDR "<data><response value=\"ACK></data>", T0 + 1),
	                 EDL_E_FH_XML);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_FAILED);
	assert_non_null(strstr(edl_fh_host_error(h)->detail, "nop: malformed XML at line 1: "));
	assert_int_equal(edl_fh_host_skipped(h), 5);
	assert_int_equal(edl_fh_host_bad_docs(h), 0);

	/* A response that is neither ACK nor NAK. */
	edl_fh_host_nop(h, T0 + 2);
	pull_and_drop(h, "nop");
	assert_int_equal(dev(h, FH_RESP("value=\"MAYBE\""), T0 + 3), EDL_E_FH_PROTOCOL);

	/* An oversized document. */
	struct edl_fh_config cfg;
	struct edl_fh_host *small;
	edl_fh_config_default(&cfg);
	cfg.max_doc_bytes = 256;
	assert_int_equal(edl_fh_host_new(&small, &cfg), EDL_OK);
	edl_fh_host_nop(small, T0);
	pull_and_drop(small, "nop");
	char big[600] = FH_HDR "<data><log value=\"";
	size_t at = strlen(big);
	memset(big + at, '7', 400);
	strcpy(big + at + 400, "\"/></data>");
	assert_int_equal(dev(small, big, T0 + 1), EDL_E_FH_TOO_LARGE);
	edl_fh_host_free(small);
	edl_fh_host_free(h);
}

static void test_fh_host_keeps_only_max_logs(void **state)
{
	(void)state;
	struct edl_fh_config cfg;
	struct edl_fh_host *h;
	char line[128];

	edl_fh_config_default(&cfg);
	cfg.max_logs = 4;
	assert_int_equal(edl_fh_host_new(&h, &cfg), EDL_OK);
	edl_fh_host_nop(h, T0);
	pull_and_drop(h, "nop");
	for (int i = 0; i < 10; i++) {
		snprintf(line, sizeof(line), FH_HDR "<data><log value=\"line %d\"/></data>", i);
		dev(h, line, T0 + 1);
	}
	dev(h, FH_ACK, T0 + 2);
	assert_int_equal(edl_fh_host_log_count(h), 4);
	assert_int_equal(edl_fh_host_logs_dropped(h), 6);
	assert_string_equal(edl_fh_host_log(h, 0), "line 6");
	assert_string_equal(edl_fh_host_log(h, 3), "line 9");
	edl_fh_host_free(h);
}

static void test_fh_host_drain_swallows_stray_response_until_quiet(void **state)
{
	(void)state;
	struct edl_fh_host *h = host_new();
	struct edl_chunk c;

	/* Bytes the probe left over, fed before the drain: kept for it. */
	dev(h, FH_LOG("stale log") FH_NAK, T0);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
	assert_int_equal(edl_fh_host_drain(h, T0 + 1), EDL_OK);
	assert_false(edl_fh_host_next_out(h, &c));
	assert_int_equal(edl_fh_host_deadline(h), T0 + 1 + 200);
	dev(h, FH_LOG("more") FH_ACK "garbage" FH_HDR "<data><log value=\"bad></data>", T0 + 150);
	assert_int_equal(edl_fh_host_deadline(h), T0 + 150 + 200);
	edl_fh_host_timeout(h, T0 + 300);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_RUNNING);
	edl_fh_host_timeout(h, T0 + 350);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
	assert_int_equal(edl_fh_host_log_count(h), 2);
	assert_string_equal(edl_fh_host_log(h, 0), "stale log");
	assert_string_equal(edl_fh_host_log(h, 1), "more");

	/* A device that never goes quiet ends the drain after timeout_ms. */
	assert_int_equal(edl_fh_host_drain(h, T0), EDL_OK);
	for (uint64_t t = T0; t < T0 + 20000; t += 100) {
		edl_fh_host_timeout(h, t);
		if (edl_fh_host_status(h) != EDL_ENGINE_RUNNING)
			break;
		assert_true(edl_fh_host_deadline(h) <= T0 + 10000);
		dev(h, FH_LOG("chatter"), t);
	}
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
	assert_int_equal(edl_fh_host_log_count(h), 100);

	/* The next command is not confused by what was drained. */
	edl_fh_host_nop(h, T0 + 400);
	pull_and_drop(h, "nop");
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_RUNNING);
	dev(h, FH_ACK, T0 + 401);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
	edl_fh_host_free(h);
}

/* ---- configure ---- */

static void configure(struct edl_fh_host *h, uint64_t offer)
{
	struct edl_fh_configure c = {
	        .storage = EDL_STORAGE_UFS, .max_payload = offer, .zlp_aware = true};
	assert_int_equal(edl_fh_host_configure(h, &c, T0), EDL_OK);
}

static void expect_configure(struct edl_fh_host *h, const char *payload)
{
	xmlNodePtr n;
	xmlDocPtr d = pull_cmd(h, "configure", &n);
	assert_string_equal(fh_attr(n, "MaxPayloadSizeToTargetInBytes"), payload);
	assert_string_equal(fh_attr(n, "MemoryName"), "ufs");
	xmlFreeDoc(d);
}

static void test_fh_configure_ack_takes_the_offer(void **state)
{
	(void)state;
	struct edl_fh_host *h = host_new();

	assert_int_equal(edl_fh_host_payload(h), 0);
	configure(h, 0);
	expect_configure(h, "1048576");
	dev(h,
	    FH_RESP("value=\"ACK\" MaxPayloadSizeToTargetInBytes=\"1048576\" "
	            "MaxPayloadSizeToTargetInBytesSupported=\"1048576\""),
	    T0 + 1);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
	assert_int_equal(edl_fh_host_payload(h), 1048576);
	assert_int_equal(edl_fh_host_configure_rounds(h), 1);
	edl_fh_host_free(h);
}

static void test_fh_configure_nak_with_size_negotiates_down(void **state)
{
	(void)state;
	struct edl_fh_host *h = host_new();

	configure(h, 0);
	expect_configure(h, "1048576");
	dev(h,
	    FH_LOG("ERROR: MaxPayloadSizeToTargetInBytes too large")
	            FH_RESP("value=\"NAK\" MaxPayloadSizeToTargetInBytes=\"16384\""),
	    T0 + 1);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_RUNNING);
	expect_configure(h, "16384");
	dev(h, FH_RESP("value=\"ACK\" MaxPayloadSizeToTargetInBytes=\"16384\""), T0 + 2);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
	assert_int_equal(edl_fh_host_payload(h), 16384);
	assert_int_equal(edl_fh_host_configure_rounds(h), 2);
	edl_fh_host_free(h);
}

static void test_fh_configure_ack_with_larger_supported_goes_up(void **state)
{
	(void)state;
	struct edl_fh_host *h = host_new();

	configure(h, 0);
	expect_configure(h, "1048576");
	dev(h, FH_RESP("value=\"ACK\" MaxPayloadSizeToTargetInBytesSupported=\"4194304\""), T0 + 1);
	expect_configure(h, "4194304");
	dev(h, FH_RESP("value=\"ACK\" MaxPayloadSizeToTargetInBytesSupported=\"4194304\""), T0 + 2);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
	assert_int_equal(edl_fh_host_payload(h), 4194304);
	assert_int_equal(edl_fh_host_configure_rounds(h), 2);

	/* Upwards is bounded at 16 MiB. */
	configure(h, 0);
	expect_configure(h, "1048576");
	dev(h, FH_RESP("value=\"ACK\" MaxPayloadSizeToTargetInBytesSupported=\"67108864\""),
	    T0 + 1);
	expect_configure(h, "16777216");
	dev(h, FH_RESP("value=\"ACK\" MaxPayloadSizeToTargetInBytesSupported=\"67108864\""),
	    T0 + 2);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
	assert_int_equal(edl_fh_host_payload(h), 16777216);

	/* An ACK with a smaller supported size configures again with it. */
	configure(h, 0);
	expect_configure(h, "1048576");
	dev(h, FH_RESP("value=\"ACK\" MaxPayloadSizeToTargetInBytesSupported=\"65536\""), T0 + 1);
	expect_configure(h, "65536");
	dev(h, FH_ACK, T0 + 2);
	assert_int_equal(edl_fh_host_payload(h), 65536);
	edl_fh_host_free(h);
}

static void test_fh_configure_nak_forever_fails_after_three_rounds(void **state)
{
	(void)state;
	struct edl_fh_host *h = host_new();

	configure(h, 0);
	expect_configure(h, "1048576");
	dev(h, FH_RESP("value=\"NAK\" MaxPayloadSizeToTargetInBytes=\"65536\""), T0 + 1);
	expect_configure(h, "65536");
	dev(h, FH_RESP("value=\"NAK\" MaxPayloadSizeToTargetInBytes=\"16384\""), T0 + 2);
	expect_configure(h, "16384");
	assert_int_equal(dev(h,
	                     FH_LOG("ERROR: no") FH_RESP(
	                             "value=\"NAK\" MaxPayloadSizeToTargetInBytes=\"8192\""),
	                     T0 + 3),
	                 EDL_E_FH_NEGOTIATE);
	assert_int_equal(edl_fh_host_configure_rounds(h), 3);
	assert_int_equal(edl_fh_host_payload(h), 0);
	assert_non_null(strstr(edl_fh_host_error(h)->detail, "after 3 rounds"));
	assert_non_null(strstr(edl_fh_host_error(h)->detail, "ERROR: no"));
	struct edl_chunk c;
	assert_false(edl_fh_host_next_out(h, &c));

	/* A NAK without a usable size is not a negotiation. */
	configure(h, 0);
	expect_configure(h, "1048576");
	assert_int_equal(dev(h, FH_LOG("ERROR: MemoryName mismatch") FH_NAK, T0 + 1),
	                 EDL_E_FH_NEGOTIATE);
	assert_non_null(strstr(edl_fh_host_error(h)->detail, "ERROR: MemoryName mismatch"));
	assert_int_equal(edl_fh_host_configure_rounds(h), 1);

	configure(h, 0);
	expect_configure(h, "1048576");
	assert_int_equal(
	        dev(h, FH_RESP("value=\"NAK\" MaxPayloadSizeToTargetInBytes=\"12abc\""), T0 + 1),
	        EDL_E_FH_NEGOTIATE);
	assert_non_null(strstr(edl_fh_host_error(h)->detail, "(12abc)"));
	edl_fh_host_free(h);
}

/* ---- program ---- */

static void negotiate(struct edl_fh_host *h, const char *payload)
{
	char ack[256];
	configure(h, strtoull(payload, NULL, 10));
	expect_configure(h, payload);
	snprintf(ack, sizeof(ack), FH_RESP("value=\"ACK\" MaxPayloadSizeToTargetInBytes=\"%s\""),
	         payload);
	dev(h, ack, T0);
	assert_int_equal(edl_fh_host_payload(h), strtoull(payload, NULL, 10));
}

#define RAWMODE_ACK FH_RESP("value=\"ACK\" rawmode=\"true\"")

static void test_fh_program_chunks_point_into_source_and_pad_the_tail(void **state)
{
	(void)state;
	struct edl_fh_host *h = host_new();
	uint8_t *img = malloc(10000);
	struct edl_chunk c[16];
	size_t n = 0;

	for (int i = 0; i < 10000; i++)
		img[i] = (uint8_t)(i * 7 + 1);
	negotiate(h, "4000"); /* not a multiple of the sector: chunks of 3584 */
	struct edl_fh_range r = {.lun = 0,
	                         .sector_size = 512,
	                         .start_sector = "256",
	                         .num_sectors = 40,
	                         .label = "system"};
	struct edl_fh_source src = {.data = img, .len = 10000};
	assert_int_equal(edl_fh_host_program(h, &r, &src, T0), EDL_OK);
	xmlNodePtr node;
	xmlDocPtr d = pull_cmd(h, "program", &node);
	assert_string_equal(fh_attr(node, "num_partition_sectors"), "40");
	xmlFreeDoc(d);
	/* No raw data before the rawmode ACK. */
	assert_false(edl_fh_host_next_out(h, &c[0]));
	dev(h, FH_LOG("INFO: start") RAWMODE_ACK, T0 + 1);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_RUNNING);
	/* The driver may pull every chunk before any completes. */
	while (n < 16 && edl_fh_host_next_out(h, &c[n]))
		n++;
	assert_int_equal(n, 6); /* 20480 bytes in chunks of 3584 */
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++) {
		assert_true(c[i].len <= 4000);
		assert_int_equal(c[i].len % 512, 0);
		assert_true(c[i].zlp);
		total += c[i].len;
	}
	assert_int_equal(total, 40 * 512);
	assert_int_equal(edl_fh_host_raw_sent(h), 40 * 512);
	/* Chunks 0 and 1 lie inside the image: zero copy. */
	assert_ptr_equal(c[0].data, img);
	assert_ptr_equal(c[1].data, img + 3584);
	/* Chunk 2 holds the end of the data (7168..10000) and zero padding. */
	assert_true(c[2].data < img || c[2].data >= img + 10000);
	assert_memory_equal(c[2].data, img + 7168, 10000 - 7168);
	for (size_t i = 10000 - 7168; i < c[2].len; i++)
		assert_int_equal(c[2].data[i], 0);
	/* Chunks past the data are zeros, from one engine buffer. */
	for (size_t k = 3; k < n; k++) {
		assert_true(c[k].data < img || c[k].data >= img + 10000);
		for (size_t i = 0; i < c[k].len; i++)
			assert_int_equal(c[k].data[i], 0);
	}
	assert_ptr_equal(c[3].data, c[4].data);
	assert_int_equal(c[5].len, 20480 - 5 * 3584);
	/* Memory is still valid (content unchanged) until the final ACK. */
	assert_memory_equal(c[2].data, img + 7168, 10000 - 7168);
	dev(h,
	    FH_LOG("INFO: Finished sector address 296") FH_RESP("value=\"ACK\" rawmode=\"false\""),
	    T0 + 2);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
	assert_int_equal(edl_fh_host_log_count(h), 2);
	edl_fh_host_free(h);
	free(img);
}

static void test_fh_program_exact_image_needs_no_copy(void **state)
{
	(void)state;
	struct edl_fh_host *h = host_new();
	static uint8_t img[8192];
	struct edl_chunk c;
	size_t n = 0;

	negotiate(h, "4096");
	struct edl_fh_range r = {.sector_size = 512, .start_sector = "0", .num_sectors = 16};
	struct edl_fh_source src = {.data = img, .len = sizeof(img)};
	edl_fh_host_program(h, &r, &src, T0);
	pull_and_drop(h, "program");
	dev(h, RAWMODE_ACK, T0);
	while (edl_fh_host_next_out(h, &c)) {
		assert_ptr_equal(c.data, img + n * 4096);
		assert_int_equal(c.len, 4096);
		n++;
	}
	assert_int_equal(n, 2);
	dev(h, FH_ACK, T0 + 1);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
	edl_fh_host_free(h);
}

static void test_fh_program_fill_source_reuses_one_buffer(void **state)
{
	(void)state;
	struct edl_fh_host *h = host_new();
	struct edl_chunk c;
	const uint8_t *first = NULL;
	uint64_t total = 0;

	negotiate(h, "16384");
	struct edl_fh_range r = {.sector_size = 4096, .start_sector = "10", .num_sectors = 1000};
	struct edl_fh_source src = {.fill = true, .fill_value = 0xdeadbeef};
	edl_fh_host_program(h, &r, &src, T0);
	pull_and_drop(h, "program");
	dev(h, RAWMODE_ACK, T0);
	while (edl_fh_host_next_out(h, &c)) {
		if (first == NULL) {
			first = c.data;
			static const uint8_t word[4] = {0xef, 0xbe, 0xad, 0xde};
			for (size_t i = 0; i < c.len; i += 4)
				assert_memory_equal(c.data + i, word, 4);
		}
		assert_ptr_equal(c.data, first);
		assert_true(c.len <= 16384);
		total += c.len;
	}
	assert_int_equal(total, 1000 * 4096);
	dev(h, FH_ACK, T0 + 1);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
	edl_fh_host_free(h);
}

static void test_fh_program_nak_after_raw_data_surfaces_log_text(void **state)
{
	(void)state;
	struct edl_fh_host *h = host_new();
	static uint8_t img[4096];
	struct edl_chunk c;

	negotiate(h, "1048576");
	struct edl_fh_range r = {.lun = 0,
	                         .sector_size = 512,
	                         .start_sector = "256",
	                         .num_sectors = 8,
	                         .label = "system"};
	struct edl_fh_source src = {.data = img, .len = sizeof(img)};
	edl_fh_host_program(h, &r, &src, T0);
	pull_and_drop(h, "program");
	dev(h, RAWMODE_ACK, T0);
	while (edl_fh_host_next_out(h, &c))
		;
	assert_int_equal(dev(h, FH_LOG("ERROR: Failed to write") FH_NAK, T0 + 5), EDL_E_FH_NAK);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_FAILED);
	assert_string_equal(edl_fh_host_error(h)->detail,
	                    "program LUN 0 sector 256 (system): NAK: ERROR: Failed to write "
	                    "(after 4096 of 4096 bytes)");

	/* A NAK instead of the rawmode ACK. */
	edl_fh_host_program(h, &r, &src, T0 + 10);
	pull_and_drop(h, "program");
	assert_int_equal(dev(h, FH_LOG("ERROR: sector out of range") FH_NAK, T0 + 11),
	                 EDL_E_FH_NAK);
	assert_string_equal(edl_fh_host_error(h)->detail,
	                    "program LUN 0 sector 256 (system): NAK: ERROR: sector out of range");
	assert_false(edl_fh_host_next_out(h, &c));

	/* An ACK without rawmode. */
	edl_fh_host_program(h, &r, &src, T0 + 20);
	pull_and_drop(h, "program");
	assert_int_equal(dev(h, FH_ACK, T0 + 21), EDL_E_FH_PROTOCOL);
	assert_non_null(strstr(edl_fh_host_error(h)->detail, "without rawmode"));
	edl_fh_host_free(h);
}

static void test_fh_program_final_ack_timeout(void **state)
{
	(void)state;
	struct edl_fh_host *h = host_new();
	uint8_t *img = calloc(1, 33554432);
	struct edl_chunk c;

	negotiate(h, "1048576");
	struct edl_fh_range r = {.sector_size = 4096,
	                         .start_sector = "1024",
	                         .num_sectors = 33554432 / 4096,
	                         .label = "system"};
	struct edl_fh_source src = {.data = img, .len = 33554432};
	edl_fh_host_program(h, &r, &src, T0);
	pull_and_drop(h, "program");
	dev(h, RAWMODE_ACK, T0 + 1);
	/* While chunks are being sent the deadline only re-arms. */
	assert_true(edl_fh_host_next_out(h, &c));
	edl_fh_host_timeout(h, T0 + 500000);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_RUNNING);
	while (edl_fh_host_next_out(h, &c))
		;
	assert_int_equal(edl_fh_host_raw_sent(h), 33554432);
	/* The final-ACK wait starts with the first time after the last chunk. */
	edl_fh_host_timeout(h, T0 + 600000);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_RUNNING);
	assert_int_equal(edl_fh_host_deadline(h), T0 + 600000 + 120000);
	edl_fh_host_timeout(h, T0 + 600000 + 119999);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_RUNNING);
	edl_fh_host_timeout(h, T0 + 600000 + 120000);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_FAILED);
	assert_int_equal(edl_fh_host_error(h)->code, EDL_E_FH_TIMEOUT);
	assert_string_equal(edl_fh_host_error(h)->detail,
	                    "no final ACK for program of 'system' within 120000 ms after 33554432 "
	                    "bytes");
	edl_fh_host_free(h);
	free(img);
}

static void test_fh_program_rejects_bad_sources(void **state)
{
	(void)state;
	struct edl_fh_host *h = host_new();
	static uint8_t img[8192];
	struct edl_fh_range r = {.sector_size = 512, .start_sector = "0", .num_sectors = 8};
	struct edl_fh_source src = {.data = img, .len = sizeof(img)};

	assert_int_equal(edl_fh_host_program(h, &r, &src, T0), EDL_E_INVAL);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_FAILED);
	assert_non_null(strstr(edl_fh_host_error(h)->detail, "exceed the range of 4096 bytes"));
	r.num_sectors = 0;
	assert_int_equal(edl_fh_host_program(h, &r, &src, T0), EDL_E_INVAL);
	edl_fh_host_free(h);
}

/* ---- read ---- */

struct sink {
	uint8_t data[70000];
	size_t len;
};

static int sink_fn(const uint8_t *data, size_t len, void *user)
{
	struct sink *s = user;
	assert_true(s->len + len <= sizeof(s->data));
	memcpy(s->data + s->len, data, len);
	s->len += len;
	return 0;
}

static void test_fh_read_rawmode_data_in_same_transfer_and_split(void **state)
{
	(void)state;
	static uint8_t expect[8192];
	static char stream[20000];
	size_t slen = 0;

	for (size_t i = 0; i < sizeof(expect); i++)
		expect[i] = (uint8_t)(i * 13 + 5);
	/* Data that looks like XML must not be framed. */
	memcpy(expect + 100, "<?xml version=\"1.0\" ?><data><response value=\"NAK\"/></data>", 58);
	const char *pre = FH_LOG("INFO: reading") RAWMODE_ACK;
	const char *post = FH_LOG("INFO: read done") FH_RESP("value=\"ACK\" rawmode=\"false\"");
	memcpy(stream, pre, strlen(pre));
	slen += strlen(pre);
	memcpy(stream + slen, expect, sizeof(expect));
	slen += sizeof(expect);
	memcpy(stream + slen, post, strlen(post));
	slen += strlen(post);

	for (int how = 0; how < 3; how++) {
		for (uint32_t seed = 1; seed < (how == FH_SPLIT_RANDOM ? 20u : 2u); seed++) {
			struct edl_fh_host *h = host_new();
			struct sink *s = calloc(1, sizeof(*s));
			struct edl_fh_range r = {.lun = 2,
			                         .sector_size = 4096,
			                         .start_sector = "6",
			                         .num_sectors = 2};
			uint32_t sd = seed;
			assert_int_equal(edl_fh_host_read(h, &r, sink_fn, s, T0), EDL_OK);
			xmlNodePtr n;
			xmlDocPtr d = pull_cmd(h, "read", &n);
			assert_string_equal(fh_attr(n, "physical_partition_number"), "2");
			xmlFreeDoc(d);
			for (size_t off = 0; off < slen;) {
				size_t piece = fh_piece((enum fh_split)how, &sd, slen - off);
				assert_int_equal(edl_fh_host_feed(h, (const uint8_t *)stream + off,
				                                  piece, T0 + 1),
				                 EDL_OK);
				off += piece;
			}
			assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
			assert_int_equal(s->len, sizeof(expect));
			assert_memory_equal(s->data, expect, sizeof(expect));
			assert_int_equal(edl_fh_host_log_count(h), 2);
			assert_int_equal(edl_fh_host_skipped(h), 0);
			edl_fh_host_free(h);
			free(s);
		}
	}
}

static void test_fh_read_data_stall_times_out(void **state)
{
	(void)state;
	struct edl_fh_host *h = host_new();
	struct sink *s = calloc(1, sizeof(*s));
	struct edl_fh_range r = {.sector_size = 512, .start_sector = "0", .num_sectors = 4};
	uint8_t part[1000] = {0};

	edl_fh_host_read(h, &r, sink_fn, s, T0);
	pull_and_drop(h, "read");
	dev(h, RAWMODE_ACK, T0 + 1);
	edl_fh_host_feed(h, part, sizeof(part), T0 + 2);
	edl_fh_host_timeout(h, T0 + 2 + 10000);
	assert_int_equal(edl_fh_host_error(h)->code, EDL_E_FH_TIMEOUT);
	assert_string_equal(edl_fh_host_error(h)->detail,
	                    "read LUN 0 sector 0: raw data stopped after 1000 of 2048 bytes "
	                    "(nothing for 10000 ms)");
	edl_fh_host_free(h);
	free(s);
}

/* ---- storage info and digest ---- */

static void test_fh_getstorageinfo_parses_logs(void **state)
{
	(void)state;
	struct edl_fh_host *h = host_new();

	assert_false(edl_fh_host_storage_info(h)->valid);
	edl_fh_host_getstorageinfo(h, 0, T0);
	pull_and_drop(h, "getstorageinfo");
	dev(h,
	    FH_LOG("{&quot;storage_info&quot;: {&quot;total_blocks&quot;:30777344, "
	           "&quot;block_size&quot;:1, &quot;page_size&quot;:512, "
	           "&quot;num_physical&quot;:1, &quot;mem_type&quot;:&quot;eMMC&quot;, "
	           "&quot;prod_name&quot;:&quot;EDLSTATION-EMU&quot;}}") FH_ACK,
	    T0 + 1);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
	const struct edl_fh_storage_info *si = edl_fh_host_storage_info(h);
	assert_true(si->valid);
	assert_int_equal(si->num_sectors, 30777344);
	assert_int_equal(si->sector_size, 512);
	assert_string_equal(si->prod_name, "EDLSTATION-EMU");

	assert_null(edl_fh_host_warning(h));
	edl_fh_host_free(h);
}

static void test_fh_getsha256digest_parses_logs(void **state)
{
	(void)state;
	struct edl_fh_host *h = host_new();
	struct edl_fh_range r = {.sector_size = 512, .start_sector = "0", .num_sectors = 8};

	assert_null(edl_fh_host_digest(h));
	edl_fh_host_getsha256digest(h, &r, T0);
	assert_int_equal(edl_fh_host_deadline(h), T0 + 60000);
	pull_and_drop(h, "getsha256digest");
	dev(h,
	    FH_LOG("Digest E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855")
	            FH_ACK,
	    T0 + 1);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_DONE);
	const uint8_t *d = edl_fh_host_digest(h);
	assert_non_null(d);
	assert_int_equal(d[0], 0xe3);
	assert_int_equal(d[31], 0x55);

	/* Too short a digest, and nothing more within digest_quiet_ms. */
	edl_fh_host_getsha256digest(h, &r, T0 + 2);
	pull_and_drop(h, "getsha256digest");
	assert_int_equal(dev(h, FH_LOG("Digest E3B0C442") FH_ACK, T0 + 3), EDL_OK);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_RUNNING);
	assert_int_equal(edl_fh_host_deadline(h), T0 + 3 + 100);
	edl_fh_host_timeout(h, T0 + 102);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_RUNNING);
	edl_fh_host_timeout(h, T0 + 103);
	assert_int_equal(edl_fh_host_status(h), EDL_ENGINE_FAILED);
	assert_int_equal(edl_fh_host_error(h)->code, EDL_E_FH_DIGEST);
	assert_string_equal(edl_fh_host_error(h)->detail,
	                    "getsha256digest LUN 0 sector 0: ACK but no 64-hex-digit digest in the "
	                    "1 device logs (none came within 100 ms after the ACK either): Digest "
	                    "E3B0C442");
	assert_null(edl_fh_host_digest(h));
	edl_fh_host_free(h);
}

/* ---- the same session under any fragmentation ---- */

struct outcome {
	int status[4];
	int code[4];
	char logs[512];
	uint64_t payload;
	uint64_t skipped;
	uint64_t bad_docs;
};

static void feed_split(struct edl_fh_host *h, const char *s, enum fh_split how, uint32_t *seed,
                       uint64_t now)
{
	size_t len = strlen(s);
	for (size_t off = 0; off < len;) {
		size_t piece = fh_piece(how, seed, len - off);
		edl_fh_host_feed(h, (const uint8_t *)s + off, piece, now);
		off += piece;
	}
}

static void record(struct outcome *o, struct edl_fh_host *h, int i)
{
	o->status[i] = edl_fh_host_status(h);
	o->code[i] = edl_fh_host_error(h)->code;
	for (size_t k = 0; k < edl_fh_host_log_count(h); k++) {
		strncat(o->logs, edl_fh_host_log(h, k), sizeof(o->logs) - strlen(o->logs) - 2);
		strcat(o->logs, ";");
	}
	strcat(o->logs, "/");
}

static void run_session(struct outcome *o, enum fh_split how, uint32_t seed)
{
	struct edl_fh_host *h = host_new();

	memset(o, 0, sizeof(*o));
	configure(h, 0);
	pull_and_drop(h, "configure");
	feed_split(h,
	           "\x01\x13junk" FH_LOG("INFO: cfg") " \n" FH_RESP(
	                   "value=\"NAK\" MaxPayloadSizeToTargetInBytes=\"16384\"") "\r\n",
	           how, &seed, T0);
	pull_and_drop(h, "configure");
	feed_split(h, FH_RESP("value=\"ACK\"") FH_LOG("late"), how, &seed, T0);
	record(o, h, 0);
	edl_fh_host_nop(h, T0);
	pull_and_drop(h, "nop");
	feed_split(h, "xx" FH_LOG("a") "yy" FH_LOG("b") FH_NAK, how, &seed, T0);
	record(o, h, 1);
	edl_fh_host_nop(h, T0);
	pull_and_drop(h, "nop");
	feed_split(h, FH_HDR "<data><log value=\"x\"></data>" FH_ACK, how, &seed, T0);
	record(o, h, 2);
	o->payload = edl_fh_host_payload(h);
	o->skipped = edl_fh_host_skipped(h);
	o->bad_docs = edl_fh_host_bad_docs(h);
	edl_fh_host_free(h);
}

static void test_fh_host_same_results_for_any_fragmentation(void **state)
{
	(void)state;
	struct outcome whole, other;

	run_session(&whole, FH_SPLIT_WHOLE, 0);
	assert_int_equal(whole.status[0], EDL_ENGINE_DONE);
	assert_int_equal(whole.payload, 16384);
	assert_int_equal(whole.status[1], EDL_ENGINE_FAILED);
	assert_int_equal(whole.code[1], EDL_E_FH_NAK);
	/* The broken log is skipped; the ACK after it still ends the nop. */
	assert_int_equal(whole.status[2], EDL_ENGINE_DONE);
	assert_int_equal(whole.code[2], EDL_OK);
	assert_int_equal(whole.bad_docs, 1);
	assert_string_equal(whole.logs, "INFO: cfg;/late;a;b;//");
	run_session(&other, FH_SPLIT_BYTES, 0);
	assert_memory_equal(&other, &whole, sizeof(whole));
	for (uint32_t seed = 1; seed < 100; seed++) {
		run_session(&other, FH_SPLIT_RANDOM, seed);
		assert_memory_equal(&other, &whole, sizeof(whole));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_fh_host_nop_ack_keeps_logs),
	        cmocka_unit_test(test_fh_host_logs_after_response_belong_to_next_command),
	        cmocka_unit_test(test_fh_host_nak_names_command_and_device_logs),
	        cmocka_unit_test(test_fh_host_times_out_naming_the_command),
	        cmocka_unit_test(test_fh_host_malformed_response_fails_with_libxml2_message),
	        cmocka_unit_test(test_fh_host_keeps_only_max_logs),
	        cmocka_unit_test(test_fh_host_drain_swallows_stray_response_until_quiet),
	        cmocka_unit_test(test_fh_configure_ack_takes_the_offer),
	        cmocka_unit_test(test_fh_configure_nak_with_size_negotiates_down),
	        cmocka_unit_test(test_fh_configure_ack_with_larger_supported_goes_up),
	        cmocka_unit_test(test_fh_configure_nak_forever_fails_after_three_rounds),
	        cmocka_unit_test(test_fh_program_chunks_point_into_source_and_pad_the_tail),
	        cmocka_unit_test(test_fh_program_exact_image_needs_no_copy),
	        cmocka_unit_test(test_fh_program_fill_source_reuses_one_buffer),
	        cmocka_unit_test(test_fh_program_nak_after_raw_data_surfaces_log_text),
	        cmocka_unit_test(test_fh_program_final_ack_timeout),
	        cmocka_unit_test(test_fh_program_rejects_bad_sources),
	        cmocka_unit_test(test_fh_read_rawmode_data_in_same_transfer_and_split),
	        cmocka_unit_test(test_fh_read_data_stall_times_out),
	        cmocka_unit_test(test_fh_getstorageinfo_parses_logs),
	        cmocka_unit_test(test_fh_getsha256digest_parses_logs),
	        cmocka_unit_test(test_fh_host_same_results_for_any_fragmentation),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	xmlCleanupParser();
	return rc;
}
