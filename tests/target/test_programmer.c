/*
 * Tests of the emulated Firehose programmer, driven with hand-written host
 * documents, asserting the real programmers' texts (REAL-DEVICES.md §2): the
 * start-up banner, unlisted commands as ignored tags, configure negotiation in
 * the SDX55 and SDM855 shapes and the MemoryName texts, erase forms (ranged,
 * whole LUN, Quectel vendor), the old-code quirks, late logs, getstorageinfo
 * and getsha256digest shapes, a programmer busy in a raw phase; then program
 * with raw data in odd-sized transfers (read back byte for byte), read in raw
 * mode, getsha256digest against a SHA-256 computed here, patch with CRC32 and
 * NUM_DISK_SECTORS expressions, NAND rules through the programmer, answers to
 * garbage, and every fault the programmer applies (injected NAK, small payload,
 * corruption, unplug, slow and rate-limited final ACKs, power delays, stale
 * output).
 *
 * Every answer chunk is parsed back with libxml2 into a transcript of
 * "LOG <text>" and "RESP <value> <attr>=<v> ..." lines, so the tests also show
 * that each answer is one well-formed document.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#include "edlstation/buf.h"
#include "target/programmer.h"
#include "target/storage_model.h"

struct rig {
	struct edl_target_storage *st;
	struct edl_target_prog *p;
	struct edl_buf transcript;
	unsigned chunks;
};

/* eMMC rig size in sectors (a test may enlarge it; the files are sparse). */
static uint64_t rig_emmc_sectors = 4096;

/* A rig whose programmer has these quirks and this maximum payload (0 = 1 MiB). */
static struct rig *rig_new_q(enum edl_storage_kind kind, const struct edl_target_faults *faults,
                             const struct edl_prog_quirks *quirks, uint64_t max_payload);

static struct rig *rig_new(enum edl_storage_kind kind, const struct edl_target_faults *faults)
{
	return rig_new_q(kind, faults, NULL, 0);
}

static struct rig *rig_new_q(enum edl_storage_kind kind, const struct edl_target_faults *faults,
                             const struct edl_prog_quirks *quirks, uint64_t max_payload)
{
	static const uint32_t bad[] = {1};
	struct edl_storage_config cfg;
	struct edl_target_faults none = {0};
	struct edl_error err;
	struct rig *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	edl_storage_config_default(&cfg, kind);
	if (kind == EDL_STORAGE_NAND) {
		cfg.sector_size = 2048;
		cfg.sectors = 64;
		cfg.pages_per_block = 4;
		cfg.bad_blocks = bad;
		cfg.n_bad_blocks = 1;
	} else if (kind == EDL_STORAGE_EMMC) {
		cfg.sectors = rig_emmc_sectors; /* 2 MiB unless a test enlarges it */
	} else {
		cfg.sectors = 256;
	}
	assert_int_equal(edl_target_storage_open(&r->st, &cfg, &err), EDL_OK);
	assert_int_equal(edl_target_prog_new(&r->p, r->st, max_payload, 0x48494241, quirks,
	                                     faults ? faults : &none),
	                 EDL_OK);
	edl_buf_init(&r->transcript);
	return r;
}

static void rig_free(struct rig *r)
{
	edl_target_prog_free(r->p);
	edl_target_storage_close(r->st);
	edl_buf_free(&r->transcript);
	free(r);
}

static void send(struct rig *r, const char *xml, uint64_t now)
{
	assert_int_equal(edl_target_prog_feed(r->p, (const uint8_t *)xml, strlen(xml), now),
	                 EDL_OK);
}

static void send_raw(struct rig *r, const uint8_t *data, size_t len, uint64_t now)
{
	assert_int_equal(edl_target_prog_feed(r->p, data, len, now), EDL_OK);
}

/* Appends one answer document to the transcript; it must parse. */
static void transcribe(struct rig *r, const uint8_t *data, size_t len)
{
	assert_true(len > 5 && memcmp(data, "<?xml", 5) == 0);
	xmlDocPtr doc = xmlReadMemory((const char *)data, (int)len, NULL, NULL,
	                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	assert_non_null(doc);
	xmlNodePtr root = xmlDocGetRootElement(doc);
	assert_string_equal((const char *)root->name, "data");
	for (xmlNodePtr n = root->children; n != NULL; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		xmlChar *v = xmlGetProp(n, (const xmlChar *)"value");
		if (strcmp((const char *)n->name, "log") == 0) {
			edl_buf_printf(&r->transcript, "LOG %s\n", (const char *)v);
		} else {
			assert_string_equal((const char *)n->name, "response");
			edl_buf_printf(&r->transcript, "RESP %s", (const char *)v);
			for (xmlAttrPtr a = n->properties; a != NULL; a = a->next) {
				xmlChar *av = xmlNodeGetContent((xmlNodePtr)a);
				if (strcmp((const char *)a->name, "value") != 0)
					edl_buf_printf(&r->transcript, " %s=%s",
					               (const char *)a->name, (const char *)av);
				xmlFree(av);
			}
			edl_buf_printf(&r->transcript, "\n");
		}
		xmlFree(v);
	}
	xmlFreeDoc(doc);
}

/* The transcript so far, without pulling anything. */
static const char *text(struct rig *r)
{
	edl_buf_append(&r->transcript, "", 1);
	r->transcript.len--;
	return (const char *)edl_buf_head(&r->transcript);
}

/* Pulls every answer due at `now` into the transcript and returns it. */
static const char *drain(struct rig *r, uint64_t now)
{
	struct edl_chunk c;

	while (edl_target_prog_next_out(r->p, &c, now)) {
		r->chunks++;
		transcribe(r, c.data, c.len);
	}
	return text(r);
}

static void forget(struct rig *r)
{
	edl_buf_reset(&r->transcript);
	r->chunks = 0;
}

static void fill_pattern(uint8_t *buf, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (uint8_t)(seed >> 16);
	}
}

static void sha256_hex(const uint8_t *data, size_t len, char hex[65])
{
	uint8_t md[32];
	unsigned int n = 0;

	assert_int_equal(EVP_Digest(data, len, md, &n, EVP_sha256(), NULL), 1);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02X", md[i]);
}

/* The reference CRC-32 (reflected 0xEDB88320), bit by bit. */
static uint32_t crc32_ref(const uint8_t *p, size_t n)
{
	uint32_t crc = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
	}
	return ~crc;
}

static uint64_t le_get(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* Programs data (len bytes, a multiple of 512) at sector start of the eMMC rig. */
static void program_emmc(struct rig *r, uint64_t start, const uint8_t *data, size_t len)
{
	char xml[512];

	snprintf(xml, sizeof(xml),
	         "<?xml version=\"1.0\" ?><data><program SECTOR_SIZE_IN_BYTES=\"512\" "
	         "num_partition_sectors=\"%zu\" physical_partition_number=\"0\" "
	         "start_sector=\"%llu\" filename=\"x.img\" /></data>",
	         len / 512, (unsigned long long)start);
	send(r, xml, 0);
	assert_non_null(strstr(drain(r, 0), "RESP ACK rawmode=true"));
	for (size_t off = 0; off < len; off += 65536)
		send_raw(r, data + off, len - off < 65536 ? len - off : 65536, 0);
}

static void test_programmer_configure_acks_with_supported_size(void **state)
{
	(void)state;
	struct rig *r = rig_new(EDL_STORAGE_EMMC, NULL);

	send(r,
	     "<?xml version=\"1.0\" ?><data><configure MemoryName=\"emmc\" "
	     "MaxPayloadSizeToTargetInBytes=\"524288\" ZlpAwareHost=\"1\" SkipStorageInit=\"0\" "
	     "/></data>",
	     0);
	/* The SDX55's answer shape (REAL-DEVICES.md §2): no rawmode, no TargetName. */
	assert_string_equal(drain(r, 0),
	                    "LOG INFO: Calling handler for configure\n"
	                    "LOG INFO: Storage type set to value eMMC\n"
	                    "RESP ACK MemoryName=eMMC MinVersionSupported=1 Version=1 "
	                    "MaxPayloadSizeToTargetInBytes=524288 "
	                    "MaxPayloadSizeToTargetInBytesSupported=1048576 "
	                    "MaxXMLSizeInBytes=4096 DateTime=Apr 19 2020 - 17:49:11\n");
	assert_int_equal(r->chunks, 3);
	assert_int_equal(edl_target_prog_payload(r->p), 524288);
	assert_int_equal(edl_target_prog_commands_seen(r->p, "configure"), 1);
	rig_free(r);
}

static void test_programmer_configure_answers_like_the_sdx55(void **state)
{
	(void)state;
	struct edl_prog_quirks q = {.target_name = "SDX55", .payload_ack_own_size = true};
	struct rig *r = rig_new_q(EDL_STORAGE_NAND, NULL, &q, 8192);

	send(r,
	     "<?xml version=\"1.0\" encoding=\"UTF-8\" ?><data><configure MemoryName=\"nand\" "
	     "Verbose=\"0\" AlwaysValidate=\"0\" MaxDigestTableSizeInBytes=\"2048\" "
	     "MaxPayloadSizeToTargetInBytes=\"1048576\" ZLPAwareHost=\"1\" SkipStorageInit=\"0\" "
	     "/></data>",
	     0);
	/* Above the maximum: the SDX55 ACKs with its own size. */
	assert_string_equal(drain(r, 0), "LOG INFO: Calling handler for configure\n"
	                                 "LOG INFO: Storage type set to value nand\n"
	                                 "RESP ACK MemoryName=nand MinVersionSupported=1 Version=1 "
	                                 "MaxPayloadSizeToTargetInBytes=8192 "
	                                 "MaxPayloadSizeToTargetInBytesSupported=8192 "
	                                 "MaxXMLSizeInBytes=4096 DateTime=Apr 19 2020 - 17:49:11 "
	                                 "TargetName=SDX55\n");
	assert_int_equal(edl_target_prog_payload(r->p), 8192);
	rig_free(r);
}

/* ZlpAwareHost="0": the programmer stops ending packet-sized answers with a
 * ZLP (handleConfigure: qusb_al_bulk_set_zlp_mode(FALSE)). */
static void test_programmer_configure_zlp_aware_host_zero_turns_zlps_off(void **state)
{
	(void)state;
	struct rig *r = rig_new(EDL_STORAGE_EMMC, NULL);
	struct edl_chunk c;

	send(r, "<data><nop/></data>", 0);
	assert_true(edl_target_prog_next_out(r->p, &c, 0));
	assert_true(c.zlp);
	drain(r, 0);
	send(r, "<data><configure MemoryName=\"eMMC\" ZlpAwareHost=\"0\"/></data>", 0);
	drain(r, 0);
	send(r, "<data><nop/></data>", 0);
	assert_true(edl_target_prog_next_out(r->p, &c, 0));
	assert_false(c.zlp);
	rig_free(r);
}

static void test_programmer_configure_naks_a_payload_above_its_max(void **state)
{
	(void)state;
	struct edl_target_faults f = {.payload_max = 16384};
	struct rig *r = rig_new(EDL_STORAGE_UFS, &f);

	send(r,
	     "<?xml version=\"1.0\" ?><data><configure MemoryName=\"UFS\" "
	     "MaxPayloadSizeToTargetInBytes=\"1048576\" /></data>",
	     0);
	/* The SDM855's words (EDLTests log), each log its own document. */
	assert_string_equal(drain(r, 0),
	                    "LOG INFO: Calling handler for configure\n"
	                    "LOG INFO: Storage type set to value UFS\n"
	                    "LOG WARN: NAK: MaxPayloadSizeToTargetInBytes sent by host 1048576 "
	                    "larger than supported 16384\n"
	                    "RESP NAK MemoryName=UFS MinVersionSupported=1 Version=1 "
	                    "MaxPayloadSizeToTargetInBytes=16384 "
	                    "MaxPayloadSizeToTargetInBytesSupported=16384 MaxXMLSizeInBytes=4096 "
	                    "DateTime=Apr 19 2020 - 17:49:11\n");
	assert_int_equal(r->chunks, 4);
	assert_int_equal(edl_target_prog_payload(r->p), 16384);
	forget(r);
	send(r,
	     "<?xml version=\"1.0\" ?><data><configure MemoryName=\"ufs\" "
	     "MaxPayloadSizeToTargetInBytes=\"16384\" /></data>",
	     0);
	assert_non_null(strstr(drain(r, 0), "RESP ACK MemoryName=UFS MinVersionSupported=1 "
	                                    "Version=1 MaxPayloadSizeToTargetInBytes=16384 "
	                                    "MaxPayloadSizeToTargetInBytesSupported=16384"));
	assert_int_equal(edl_target_prog_payload(r->p), 16384);
	rig_free(r);
}

static void test_programmer_configure_naks_another_memory(void **state)
{
	(void)state;
	struct rig *r = rig_new(EDL_STORAGE_EMMC, NULL);

	send(r, "<?xml version=\"1.0\" ?><data><configure MemoryName=\"ufs\" /></data>", 0);
	/* A text bkerler/edl recognises (it then tries the next memory type). */
	assert_string_equal(drain(r, 0), "LOG INFO: Calling handler for configure\n"
	                                 "LOG ERROR: Not support configure MemoryName ufs\n"
	                                 "RESP NAK rawmode=false\n");
	rig_free(r);
}

/* memory_name_lenient: the old code ACKs any MemoryName as "eMMC"; the storage
 * driver then refuses every access with its own texts, until a configure names
 * the right storage. */
static void test_programmer_lenient_memory_name_fails_storage_access(void **state)
{
	(void)state;
	struct edl_prog_quirks q = {.memory_name_lenient = true};
	struct rig *r = rig_new_q(EDL_STORAGE_EMMC, NULL, &q, 0);
	const char *t;
	const char *read_cmd =
	        "<data><read SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"1\" "
	        "physical_partition_number=\"0\" start_sector=\"0\"/></data>";

	send(r, "<data><configure MemoryName=\"ufs\" /></data>", 0);
	assert_non_null(strstr(drain(r, 0), "LOG INFO: Storage type set to value eMMC\n"
	                                    "RESP ACK MemoryName=eMMC "));
	forget(r);
	send(r, read_cmd, 0);
	assert_string_equal(drain(r, 0), "LOG INFO: Calling handler for read\n"
	                                 "LOG ERROR: Failed to initialize (open whole lun) UFS "
	                                 "Device slot 0 partition 0\n"
	                                 "LOG ERROR: Failed to set the IO options\n"
	                                 "RESP NAK rawmode=false\n");
	forget(r);
	send(r,
	     "<data><program SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"1\" "
	     "physical_partition_number=\"0\" start_sector=\"0\"/></data>",
	     0);
	assert_non_null(strstr(drain(r, 0), "Failed to set the IO options\nRESP NAK"));
	assert_int_equal(edl_target_prog_in_raw(r->p), false);
	forget(r);
	send(r, "<data><configure MemoryName=\"emmc\" /></data>", 0);
	drain(r, 0);
	forget(r);
	send(r, "<data><getstorageinfo physical_partition_number=\"0\"/></data>", 0);
	t = drain(r, 0);
	assert_null(strstr(t, "Failed"));
	assert_non_null(strstr(t, "RESP ACK rawmode=false\n"));
	rig_free(r);

	r = rig_new_q(EDL_STORAGE_UFS, NULL, &q, 0);
	send(r, "<data><configure MemoryName=\"eMMC\" /></data>", 0);
	drain(r, 0);
	forget(r);
	send(r, "<data><getstorageinfo physical_partition_number=\"0\"/></data>", 0);
	assert_string_equal(drain(r, 0), "LOG INFO: Calling handler for getstorageinfo\n"
	                                 "LOG ERROR: Failed to open the SDCC Device slot 0 "
	                                 "partition 0\n"
	                                 "LOG ERROR: Failed to set the IO options\n"
	                                 "RESP NAK rawmode=false\n");
	rig_free(r);
}

static void test_programmer_program_takes_odd_sized_transfers(void **state)
{
	(void)state;
	struct rig *r = rig_new(EDL_STORAGE_EMMC, NULL);
	uint8_t data[10 * 512], back[10 * 512];
	const size_t pieces[] = {1, 511, 513, 1000, 3095};
	size_t off = 0;

	fill_pattern(data, sizeof(data), 11);
	send(r,
	     "<?xml version=\"1.0\" ?><data><program SECTOR_SIZE_IN_BYTES=\"512\" "
	     "num_partition_sectors=\"10\" physical_partition_number=\"0\" start_sector=\"5\" "
	     "label=\"boot\" /></data>",
	     0);
	assert_string_equal(drain(r, 0), "LOG INFO: Calling handler for program\n"
	                                 "RESP ACK rawmode=true\n");
	forget(r);
	for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		send_raw(r, data + off, pieces[i], 0);
		off += pieces[i];
		if (off < sizeof(data))
			assert_string_equal(drain(r, 0), ""); /* nothing until the last byte */
	}
	assert_int_equal(off, sizeof(data));
	assert_string_equal(drain(r, 0), "LOG INFO: Finished sector address 15\n"
	                                 "RESP ACK rawmode=false\n");
	assert_int_equal(edl_target_storage_read_raw(r->st, 0, 5, 10, back, NULL), EDL_OK);
	assert_memory_equal(data, back, sizeof(data));
	assert_int_equal(edl_target_prog_raw_bytes(r->p), sizeof(data));
	assert_int_equal(edl_target_prog_commands_seen(r->p, "program"), 1);
	rig_free(r);
}

static void test_programmer_program_evaluates_num_disk_sectors(void **state)
{
	(void)state;
	struct rig *r = rig_new(EDL_STORAGE_EMMC, NULL);
	uint8_t data[33 * 512], back[33 * 512];

	fill_pattern(data, sizeof(data), 12);
	send(r,
	     "<?xml version=\"1.0\" ?><data><program SECTOR_SIZE_IN_BYTES=\"512\" "
	     "num_partition_sectors=\"33\" physical_partition_number=\"0\" "
	     "start_sector=\"NUM_DISK_SECTORS-33.\" /></data>",
	     0);
	assert_string_equal(drain(r, 0), "LOG INFO: Calling handler for program\n"
	                                 "RESP ACK rawmode=true\n");
	send_raw(r, data, sizeof(data), 0);
	assert_non_null(strstr(drain(r, 0), "Finished sector address 4096"));
	assert_int_equal(edl_target_storage_read_raw(r->st, 0, 4096 - 33, 33, back, NULL), EDL_OK);
	assert_memory_equal(data, back, sizeof(data));
	rig_free(r);
}

static void test_programmer_program_validates_attributes(void **state)
{
	(void)state;
	struct rig *r = rig_new(EDL_STORAGE_EMMC, NULL);
	static const struct {
		const char *xml;
		const char *log;
	} cases[] = {
	        {"<data><program SECTOR_SIZE_IN_BYTES=\"4096\" num_partition_sectors=\"1\" "
	         "start_sector=\"0\"/></data>",
	         "SECTOR_SIZE_IN_BYTES 4096 does not match the emmc sector size 512"},
	        {"<data><program SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"1\" "
	         "start_sector=\"12abc\"/></data>",
	         "start_sector='12abc' is not a number or NUM_DISK_SECTORS-N."},
	        {"<data><program SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"1\" "
	         "start_sector=\"NUM_DISK_SECTORS*2\"/></data>",
	         "start_sector='NUM_DISK_SECTORS*2' is not a number"},
	        {"<data><program SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"1\" "
	         "start_sector=\"NUM_DISK_SECTORS+0\"/></data>",
	         "LUN 0 sectors 4096..4096 are outside the LUN of 4096 sectors"},
	        {"<data><program SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"-1\" "
	         "start_sector=\"0\"/></data>",
	         "num_partition_sectors='-1' is not a number"},
	        {"<data><program SECTOR_SIZE_IN_BYTES=\"512\" "
	         "num_partition_sectors=\"99999999999999999999\" "
	         "start_sector=\"0\"/></data>",
	         "is not a number"},
	        {"<data><program SECTOR_SIZE_IN_BYTES=\"512\" start_sector=\"0\"/></data>",
	         "attribute 'num_partition_sectors' is missing"},
	        {"<data><program SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"1\" "
	         "physical_partition_number=\"3\" start_sector=\"0\"/></data>",
	         "physical_partition_number 3 does not exist (the emmc has 1 LUN)"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		forget(r);
		send(r, cases[i].xml, 0);
		const char *t = drain(r, 0);
		if (strstr(t, cases[i].log) == NULL || strstr(t, "RESP NAK rawmode=false") == NULL)
			fail_msg("case %zu: transcript '%s' lacks '%s'", i, t, cases[i].log);
	}
	/* Nothing was taken as raw data: a nop still gets an ACK. */
	forget(r);
	send(r, "<data><nop/></data>", 0);
	assert_non_null(strstr(drain(r, 0), "RESP ACK"));
	assert_int_equal(edl_target_prog_commands_seen(r->p, "program"), 8);
	rig_free(r);
}

/* A host transfer larger than the payload is split by USB over the
 * programmer's payload-sized reads: it is taken whole, never NAKed. */
static void test_programmer_takes_a_raw_transfer_above_the_payload(void **state)
{
	(void)state;
	struct edl_target_faults f = {.payload_max = 4096};
	struct rig *r = rig_new(EDL_STORAGE_EMMC, &f);
	uint8_t data[8192], back[8192];

	fill_pattern(data, sizeof(data), 21);
	send(r,
	     "<data><program SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"16\" "
	     "physical_partition_number=\"0\" start_sector=\"3\"/></data>",
	     0);
	assert_non_null(strstr(drain(r, 0), "RESP ACK rawmode=true\n"));
	forget(r);
	send_raw(r, data, sizeof(data), 0);
	assert_string_equal(drain(r, 0), "LOG INFO: Finished sector address 19\n"
	                                 "RESP ACK rawmode=false\n");
	assert_int_equal(edl_target_storage_read_raw(r->st, 0, 3, 16, back, NULL), EDL_OK);
	assert_memory_equal(data, back, sizeof(data));
	rig_free(r);
}

static void test_programmer_read_streams_raw_data(void **state)
{
	(void)state;
	struct rig *r = rig_new(EDL_STORAGE_EMMC, NULL);
	uint8_t data[10 * 512], back[10 * 512];
	struct edl_chunk c;
	size_t got = 0;

	fill_pattern(data, sizeof(data), 13);
	program_emmc(r, 100, data, sizeof(data));
	send(r,
	     "<data><configure MemoryName=\"emmc\" MaxPayloadSizeToTargetInBytes=\"2048\"/></data>",
	     0);
	forget(r);
	drain(r, 0);
	forget(r);
	send(r,
	     "<data><read SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"10\" "
	     "physical_partition_number=\"0\" start_sector=\"100\"/></data>",
	     0);
	/* The handler's log and the rawmode ACK, then the data. */
	for (int i = 0; i < 2; i++) {
		assert_true(edl_target_prog_next_out(r->p, &c, 0));
		transcribe(r, c.data, c.len);
	}
	assert_string_equal(text(r), "LOG INFO: Calling handler for read\nRESP ACK rawmode=true\n");
	while (got < sizeof(back)) {
		assert_true(edl_target_prog_next_out(r->p, &c, 0));
		assert_true(c.len <= 2048);
		assert_true(got + c.len <= sizeof(back));
		memcpy(back + got, c.data, c.len);
		got += c.len;
	}
	assert_memory_equal(data, back, sizeof(data));
	forget(r);
	assert_string_equal(drain(r, 0), "LOG INFO: Finished sector address 110\n"
	                                 "RESP ACK rawmode=false\n");
	rig_free(r);
}

static void test_programmer_digest_equals_sha256_of_the_range(void **state)
{
	(void)state;
	struct rig *r = rig_new(EDL_STORAGE_EMMC, NULL);
	size_t len = 3000 * 512; /* more than one hashing chunk */
	uint8_t *data = malloc(len);
	char hex[65], want[256];

	fill_pattern(data, len, 14);
	program_emmc(r, 7, data, len);
	forget(r);
	send(r,
	     "<data><getsha256digest SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"3000\" "
	     "physical_partition_number=\"0\" start_sector=\"7\"/></data>",
	     0);
	const char *t = drain(r, 0);
	sha256_hex(data, len, hex);
	/* handleGetDigest's order: the range, then the digest, then the ACK. */
	snprintf(want, sizeof(want),
	         "LOG INFO: Hash start sector 7 num sectors 3000\nLOG INFO: Digest %s\nRESP ACK",
	         hex);
	assert_non_null(strstr(t, want));
	free(data);
	rig_free(r);
}

static void test_programmer_patches_disk_with_expressions_and_crc32(void **state)
{
	(void)state;
	struct rig *r = rig_new(EDL_STORAGE_EMMC, NULL);
	uint8_t data[4 * 512], sec[512];

	fill_pattern(data, sizeof(data), 15);
	program_emmc(r, 0, data, sizeof(data));
	forget(r);
	send(r,
	     "<data><patch SECTOR_SIZE_IN_BYTES=\"512\" byte_offset=\"48\" filename=\"DISK\" "
	     "physical_partition_number=\"0\" size_in_bytes=\"8\" "
	     "start_sector=\"NUM_DISK_SECTORS-1.\" "
	     "value=\"NUM_DISK_SECTORS-34.\" what=\"LastUseableLBA\"/></data>",
	     0);
	assert_non_null(strstr(drain(r, 0), "RESP ACK"));
	assert_int_equal(edl_target_storage_read_raw(r->st, 0, 4095, 1, sec, NULL), EDL_OK);
	assert_int_equal(le_get(sec + 48, 8), 4096 - 34);

	/* CRC32(2,1024) of sectors 2-3, written into sector 1 at byte 88. */
	uint32_t crc = crc32_ref(data + 2 * 512, 1024);
	forget(r);
	send(r,
	     "<data><patch SECTOR_SIZE_IN_BYTES=\"512\" byte_offset=\"88\" filename=\"DISK\" "
	     "physical_partition_number=\"0\" size_in_bytes=\"4\" start_sector=\"1\" "
	     "value=\"CRC32(2,1024)\"/></data>",
	     0);
	assert_non_null(strstr(drain(r, 0), "RESP ACK"));
	assert_int_equal(edl_target_storage_read_raw(r->st, 0, 1, 1, sec, NULL), EDL_OK);
	assert_int_equal(le_get(sec + 88, 4), crc);
	assert_memory_equal(sec, data + 512, 88); /* nothing else moved */

	/* CRC over a range that contains the patched field: computed before writing. */
	uint8_t before[512];
	memcpy(before, sec, sizeof(before));
	memset(before + 16, 0, 4);
	assert_int_equal(edl_target_storage_pwrite(r->st, 0, 512 + 16, before + 16, 4, NULL),
	                 EDL_OK);
	forget(r);
	send(r,
	     "<data><patch SECTOR_SIZE_IN_BYTES=\"512\" byte_offset=\"16\" filename=\"DISK\" "
	     "physical_partition_number=\"0\" size_in_bytes=\"4\" start_sector=\"1\" "
	     "value=\"CRC32(1,92)\"/></data>",
	     0);
	assert_non_null(strstr(drain(r, 0), "RESP ACK"));
	assert_int_equal(edl_target_storage_read_raw(r->st, 0, 1, 1, sec, NULL), EDL_OK);
	assert_int_equal(le_get(sec + 16, 4), crc32_ref(before, 92));

	/* CRC32 whose start is an expression. */
	forget(r);
	send(r,
	     "<data><patch SECTOR_SIZE_IN_BYTES=\"512\" byte_offset=\"0\" filename=\"DISK\" "
	     "physical_partition_number=\"0\" size_in_bytes=\"4\" start_sector=\"10\" "
	     "value=\"CRC32(NUM_DISK_SECTORS-1.,92)\"/></data>",
	     0);
	assert_non_null(strstr(drain(r, 0), "RESP ACK"));
	uint8_t last[512];
	assert_int_equal(edl_target_storage_read_raw(r->st, 0, 4095, 1, last, NULL), EDL_OK);
	assert_int_equal(edl_target_storage_read_raw(r->st, 0, 10, 1, sec, NULL), EDL_OK);
	assert_int_equal(le_get(sec, 4), crc32_ref(last, 92));
	rig_free(r);
}

static void test_programmer_patch_of_a_file_is_ignored_and_bad_values_naked(void **state)
{
	(void)state;
	struct rig *r = rig_new(EDL_STORAGE_EMMC, NULL);
	uint8_t sec[512];

	send(r,
	     "<data><patch SECTOR_SIZE_IN_BYTES=\"512\" byte_offset=\"40\" "
	     "filename=\"gpt_main0.bin\" "
	     "physical_partition_number=\"0\" size_in_bytes=\"8\" start_sector=\"9\" "
	     "value=\"NUM_DISK_SECTORS-34.\"/></data>",
	     0);
	const char *t = drain(r, 0);
	assert_non_null(strstr(t, "LOG INFO: patch of file 'gpt_main0.bin' ignored"));
	assert_non_null(strstr(t, "RESP ACK"));
	assert_int_equal(edl_target_storage_read_raw(r->st, 0, 9, 1, sec, NULL), EDL_OK);
	assert_int_equal(le_get(sec + 40, 8), 0);
	forget(r);
	send(r,
	     "<data><patch SECTOR_SIZE_IN_BYTES=\"512\" byte_offset=\"0\" filename=\"DISK\" "
	     "size_in_bytes=\"2\" start_sector=\"0\" value=\"70000\"/></data>",
	     0);
	assert_non_null(strstr(drain(r, 0), "value 0x11170 does not fit in 2 bytes"));
	forget(r);
	send(r,
	     "<data><patch SECTOR_SIZE_IN_BYTES=\"512\" byte_offset=\"0\" filename=\"DISK\" "
	     "size_in_bytes=\"4\" start_sector=\"0\" value=\"CRC32(0,)\"/></data>",
	     0);
	assert_non_null(strstr(drain(r, 0), "is not CRC32(start,len)"));
	rig_free(r);
}

static void test_programmer_answers_garbage_with_an_xml_nak(void **state)
{
	(void)state;
	struct rig *r = rig_new(EDL_STORAGE_EMMC, NULL);
	uint8_t hello[48] = {0x01, 0, 0, 0, 0x30, 0, 0, 0, 2, 0, 0, 0, 1};
	struct edl_chunk c;

	send_raw(r, hello, sizeof(hello), 0);
	assert_true(edl_target_prog_next_out(r->p, &c, 0));
	assert_memory_equal(c.data, "<?xml", 5);
	transcribe(r, c.data, c.len);
	const char *t = drain(r, 0);
	assert_non_null(strstr(t, "LOG ERROR: XML not formed correctly (transfer of 48 bytes "
	                          "starting 01 00 00 00 30 00 00 00)"));
	assert_non_null(strstr(t, "RESP NAK rawmode=false"));
	forget(r);
	send_raw(r, (const uint8_t *)"x", 1, 0);
	assert_non_null(strstr(drain(r, 0), "XML not formed correctly (transfer of 1 bytes"));
	forget(r);
	send(r, "<?xml version=\"1.0\"?><!DOCTYPE data [<!ENTITY e \"x\">]><data><nop/></data>", 0);
	assert_non_null(strstr(drain(r, 0), "document type declarations are not accepted"));
	forget(r);
	send(r, "<?xml version=\"1.0\"?><resp><nop/></resp>", 0);
	assert_non_null(strstr(drain(r, 0), "the root element is <resp>, not <data>"));
	forget(r);
	/* processNextXMLTag: an unknown tag is logged and ACKed. */
	send(r, "<data><frobnicate/></data>", 0);
	assert_string_equal(drain(r, 0),
	                    "LOG WARNING: Ignoring unrecognized tag 'frobnicate'. Continuing.\n"
	                    "RESP ACK rawmode=false\n");
	forget(r);
	char *big = malloc(5000);
	memset(big, ' ', 5000);
	memcpy(big, "<data>", 6);
	send_raw(r, (const uint8_t *)big, 5000, 0);
	free(big);
	assert_non_null(strstr(drain(r, 0), "larger than MaxXMLSizeInBytes 4096"));
	/* A zero-length transfer (a ZLP) is no command at all. */
	forget(r);
	send_raw(r, (const uint8_t *)"", 0, 0);
	assert_string_equal(drain(r, 0), "");
	rig_free(r);
}

static void test_programmer_reports_storage_info(void **state)
{
	(void)state;
	struct rig *r = rig_new(EDL_STORAGE_UFS, NULL);

	/* The SDM855 UFS programmer's lines and JSON (EDLTests log); no invented
	 * TOTAL_BLOCKS= lines. */
	send(r, "<data><getstorageinfo physical_partition_number=\"0\"/></data>", 0);
	assert_string_equal(
	        drain(r, 0),
	        "LOG INFO: Calling handler for getstorageinfo\n"
	        "LOG INFO: Device Total Logical Blocks: 0x100\n"
	        "LOG INFO: Device Block Size in Bytes: 0x1000\n"
	        "LOG INFO: Device Total Physical Partitions: 0x6\n"
	        "LOG INFO: Device Manufacturer ID: 0x198\n"
	        "LOG INFO: Device Serial Number: 0x48494241\n"
	        "LOG INFO: {\"storage_info\": {\"total_blocks\":256, \"block_size\":4096, "
	        "\"page_size\":4096, \"num_physical\":6, \"manufacturer_id\":408, "
	        "\"serial_num\":1212760641, \"fw_version\":\"300\",\"mem_type\":\"UFS\","
	        "\"prod_name\":\"THGAF8T0T43BAIRB0300\"}}\n"
	        "RESP ACK rawmode=false\n");
	forget(r);
	/* An invalid LUN: a log and an ACK (edl-ng #25). */
	send(r, "<data><getstorageinfo physical_partition_number=\"7\"/></data>", 0);
	assert_string_equal(drain(r, 0), "LOG INFO: Calling handler for getstorageinfo\n"
	                                 "LOG ERROR: Invalid physical partition 7\n"
	                                 "RESP ACK rawmode=false\n");
	rig_free(r);

	r = rig_new(EDL_STORAGE_EMMC, NULL);
	send(r, "<data><getstorageinfo physical_partition_number=\"0\"/></data>", 0);
	const char *t = drain(r, 0);
	assert_non_null(strstr(t, "LOG INFO: Device Total Logical Blocks: 0x1000\n"
	                          "LOG INFO: Device Block Size in Bytes: 0x200\n"));
	assert_non_null(strstr(t, "\"mem_type\":\"eMMC\""));
	assert_non_null(strstr(t, "}}\nLOG SECTOR_SIZE_IN_BYTES=512\n"
	                          "LOG num_physical_partitions=1\nRESP ACK rawmode=false\n"));
	assert_null(strstr(t, "TOTAL_BLOCKS="));
	rig_free(r);

	r = rig_new(EDL_STORAGE_NAND, NULL);
	send(r, "<data><getstorageinfo/></data>", 0);
	t = drain(r, 0);
	assert_non_null(strstr(t, "\"total_blocks\":16, \"block_size\":8192, \"page_size\":2048"));
	assert_non_null(strstr(t, "\"mem_type\":\"NAND\""));
	rig_free(r);
}

static void test_programmer_nand_program_skips_bad_blocks_and_verifies(void **state)
{
	(void)state;
	struct rig *r = rig_new(EDL_STORAGE_NAND, NULL); /* block 1 (pages 4-7) is bad */
	uint8_t data[8 * 2048], raw[12 * 2048];
	char hex[65], want[128];

	fill_pattern(data, sizeof(data), 16);
	send(r,
	     "<data><program PAGES_PER_BLOCK=\"4\" SECTOR_SIZE_IN_BYTES=\"2048\" "
	     "num_partition_sectors=\"8\" physical_partition_number=\"0\" start_sector=\"0\" "
	     "last_sector=\"15\"/></data>",
	     0);
	assert_string_equal(drain(r, 0), "LOG INFO: Calling handler for program\n"
	                                 "RESP ACK rawmode=true\n");
	send_raw(r, data, 5000, 0);
	send_raw(r, data + 5000, sizeof(data) - 5000, 0);
	assert_non_null(strstr(drain(r, 0), "RESP ACK rawmode=false"));
	assert_int_equal(edl_target_storage_read_raw(r->st, 0, 0, 12, raw, NULL), EDL_OK);
	assert_memory_equal(raw, data, 4 * 2048);
	for (size_t i = 4 * 2048; i < 8 * 2048; i++)
		assert_int_equal(raw[i], 0xff);
	assert_memory_equal(raw + 8 * 2048, data + 4 * 2048, 4 * 2048);

	forget(r);
	send(r,
	     "<data><getsha256digest PAGES_PER_BLOCK=\"4\" SECTOR_SIZE_IN_BYTES=\"2048\" "
	     "num_partition_sectors=\"8\" physical_partition_number=\"0\" start_sector=\"0\" "
	     "last_sector=\"15\"/></data>",
	     0);
	sha256_hex(data, sizeof(data), hex);
	snprintf(want, sizeof(want), "LOG INFO: Digest %s", hex);
	assert_non_null(strstr(drain(r, 0), want));

	/* Programming it again without an erase is refused up front. */
	forget(r);
	send(r,
	     "<data><program PAGES_PER_BLOCK=\"4\" SECTOR_SIZE_IN_BYTES=\"2048\" "
	     "num_partition_sectors=\"2\" start_sector=\"2\" last_sector=\"15\"/></data>",
	     0);
	const char *t = drain(r, 0);
	assert_non_null(strstr(t, "page 2 (block 0) is already programmed"));
	assert_non_null(strstr(t, "RESP NAK"));
	/* After an erase it works. */
	forget(r);
	send(r,
	     "<data><erase PAGES_PER_BLOCK=\"4\" SECTOR_SIZE_IN_BYTES=\"2048\" "
	     "num_partition_sectors=\"16\" start_sector=\"0\" last_sector=\"15\"/></data>",
	     0);
	assert_non_null(strstr(drain(r, 0), "RESP ACK"));
	forget(r);
	send(r,
	     "<data><program PAGES_PER_BLOCK=\"4\" SECTOR_SIZE_IN_BYTES=\"2048\" "
	     "num_partition_sectors=\"2\" start_sector=\"2\" last_sector=\"15\"/></data>",
	     0);
	assert_string_equal(drain(r, 0), "LOG INFO: Calling handler for program\n"
	                                 "RESP ACK rawmode=true\n");
	rig_free(r);
}

static void test_programmer_nand_naks_geometry_mismatch_and_full_partitions(void **state)
{
	(void)state;
	struct rig *r = rig_new(EDL_STORAGE_NAND, NULL);

	send(r,
	     "<data><program PAGES_PER_BLOCK=\"64\" SECTOR_SIZE_IN_BYTES=\"2048\" "
	     "num_partition_sectors=\"1\" start_sector=\"0\"/></data>",
	     0);
	assert_non_null(strstr(drain(r, 0), "attribute 'PAGES_PER_BLOCK'=64 must be equal to disk "
	                                    "pages per block 4"));
	forget(r);
	send(r,
	     "<data><program PAGES_PER_BLOCK=\"4\" SECTOR_SIZE_IN_BYTES=\"2048\" "
	     "num_partition_sectors=\"8\" start_sector=\"0\" last_sector=\"7\"/></data>",
	     0);
	const char *t = drain(r, 0);
	assert_non_null(
	        strstr(t, "NAND partition pages 0..7 (1 bad block in it) has no good page"));
	assert_non_null(strstr(t, "RESP NAK"));
	forget(r);
	send(r,
	     "<data><patch SECTOR_SIZE_IN_BYTES=\"2048\" byte_offset=\"0\" filename=\"DISK\" "
	     "size_in_bytes=\"4\" start_sector=\"0\" value=\"1\"/></data>",
	     0);
	assert_non_null(strstr(drain(r, 0), "patching DISK is not supported on NAND"));
	rig_free(r);
}

static void test_programmer_fault_naks_the_nth_command(void **state)
{
	(void)state;
	struct edl_target_faults f = {.nak_command = "getsha256digest", .nak_nth = 2};
	struct rig *r = rig_new(EDL_STORAGE_EMMC, &f);
	const char *cmd = "<data><getsha256digest SECTOR_SIZE_IN_BYTES=\"512\" "
	                  "num_partition_sectors=\"1\" start_sector=\"0\"/></data>";

	send(r, cmd, 0);
	assert_non_null(strstr(drain(r, 0), "RESP ACK"));
	forget(r);
	send(r, cmd, 0);
	assert_string_equal(drain(r, 0), "LOG INFO: Calling handler for getsha256digest\n"
	                                 "LOG ERROR: injected failure on getsha256digest #2\n"
	                                 "RESP NAK rawmode=false\n");
	forget(r);
	send(r, cmd, 0);
	assert_non_null(strstr(drain(r, 0), "RESP ACK"));
	assert_int_equal(edl_target_prog_commands_seen(r->p, "getsha256digest"), 3);
	assert_int_equal(edl_target_prog_commands_seen(r->p, "program"), 0);
	rig_free(r);
}

static void test_programmer_fault_corrupts_the_first_program(void **state)
{
	(void)state;
	struct edl_target_faults f = {.corrupt = true};
	struct rig *r = rig_new(EDL_STORAGE_EMMC, &f);
	uint8_t data[4 * 512], back[4 * 512];

	fill_pattern(data, sizeof(data), 17);
	program_emmc(r, 0, data, sizeof(data));
	program_emmc(r, 8, data, sizeof(data));
	assert_int_equal(edl_target_storage_read_raw(r->st, 0, 0, 4, back, NULL), EDL_OK);
	assert_int_equal(back[0], data[0] ^ 0x01);
	assert_memory_equal(back + 1, data + 1, sizeof(data) - 1);
	assert_int_equal(edl_target_storage_read_raw(r->st, 0, 8, 4, back, NULL), EDL_OK);
	assert_memory_equal(back, data, sizeof(data)); /* only the first program */
	rig_free(r);
}

static void test_programmer_fault_unplugs_after_n_raw_bytes(void **state)
{
	(void)state;
	struct edl_target_faults f = {.unplug_at_bytes = 1000};
	struct rig *r = rig_new(EDL_STORAGE_EMMC, &f);
	uint8_t data[4 * 512], back[512];
	struct edl_chunk c;

	fill_pattern(data, sizeof(data), 18);
	send(r,
	     "<data><program SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"4\" "
	     "start_sector=\"0\"/></data>",
	     0);
	drain(r, 0);
	send_raw(r, data, 512, 0);
	assert_int_equal(edl_target_prog_end(r->p), EDL_TARGET_PROG_RUNNING);
	send_raw(r, data + 512, 1536, 0);
	assert_int_equal(edl_target_prog_end(r->p), EDL_TARGET_PROG_GONE);
	assert_int_equal(edl_target_prog_raw_bytes(r->p), 1000);
	assert_false(edl_target_prog_next_out(r->p, &c, 0));
	send(r, "<data><nop/></data>", 0);
	assert_false(edl_target_prog_next_out(r->p, &c, 0));
	assert_int_equal(edl_target_prog_deadline(r->p), 0);
	assert_int_equal(edl_target_storage_read_raw(r->st, 0, 0, 1, back, NULL), EDL_OK);
	assert_memory_equal(back, data, 512);
	rig_free(r);
}

static void test_programmer_fault_delays_the_final_ack(void **state)
{
	(void)state;
	struct edl_target_faults f = {.slow_final_ack_ms = 500};
	struct rig *r = rig_new(EDL_STORAGE_EMMC, &f);
	uint8_t data[512] = {1};

	send(r,
	     "<data><program SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"1\" "
	     "start_sector=\"0\"/></data>",
	     1000);
	assert_string_equal(drain(r, 1000), "LOG INFO: Calling handler for program\n"
	                                    "RESP ACK rawmode=true\n");
	assert_int_equal(edl_target_prog_deadline(r->p), 0);
	forget(r);
	send_raw(r, data, sizeof(data), 1000);
	assert_int_equal(edl_target_prog_deadline(r->p), 1500);
	assert_string_equal(drain(r, 1499), "");
	edl_target_prog_timeout(r->p, 1500);
	assert_int_equal(edl_target_prog_deadline(r->p), 0);
	assert_string_equal(drain(r, 1500), "LOG INFO: Finished sector address 1\n"
	                                    "RESP ACK rawmode=false\n");
	rig_free(r);
}

static void test_programmer_fault_write_rate_paces_the_final_ack(void **state)
{
	(void)state;
	struct edl_target_faults f = {.write_rate_bps = 1 << 20}; /* 1 MiB/s */
	struct rig *r = rig_new(EDL_STORAGE_EMMC, &f);
	uint8_t *data = calloc(1, 1 << 20);

	send(r,
	     "<data><program SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"2048\" "
	     "start_sector=\"0\"/></data>",
	     10000);
	drain(r, 10000);
	forget(r);
	send_raw(r, data, 1 << 20, 10100); /* the link took 100 ms; the storage needs 1 s */
	assert_int_equal(edl_target_prog_deadline(r->p), 11000);
	assert_string_equal(drain(r, 10999), "");
	edl_target_prog_timeout(r->p, 11000);
	assert_non_null(strstr(drain(r, 11000), "RESP ACK rawmode=false"));
	/* A later program that arrives slower than the storage: no extra wait. */
	forget(r);
	send(r,
	     "<data><program SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"8\" "
	     "start_sector=\"0\"/></data>",
	     20000);
	drain(r, 20000);
	forget(r);
	send_raw(r, data, 4096, 20500);
	assert_int_equal(edl_target_prog_deadline(r->p), 0);
	assert_non_null(strstr(drain(r, 20500), "RESP ACK rawmode=false"));
	free(data);
	rig_free(r);
}

static void test_programmer_power_ends_the_session_after_its_ack(void **state)
{
	(void)state;
	struct rig *r = rig_new(EDL_STORAGE_UFS, NULL);
	struct edl_chunk c;

	send(r, "<data><power value=\"reset\" DelayInSeconds=\"2\"/></data>", 0);
	assert_int_equal(edl_target_prog_end(r->p), EDL_TARGET_PROG_RUNNING);
	assert_non_null(strstr(drain(r, 100), "RESP ACK"));
	assert_int_equal(edl_target_prog_end(r->p), EDL_TARGET_PROG_RUNNING);
	assert_int_equal(edl_target_prog_deadline(r->p), 2100);
	edl_target_prog_timeout(r->p, 2099);
	assert_int_equal(edl_target_prog_end(r->p), EDL_TARGET_PROG_RUNNING);
	edl_target_prog_timeout(r->p, 2100);
	assert_int_equal(edl_target_prog_end(r->p), EDL_TARGET_PROG_RESET);
	rig_free(r);

	r = rig_new(EDL_STORAGE_UFS, NULL);
	send(r, "<data><power value=\"off\"/></data>", 0);
	assert_non_null(strstr(drain(r, 0), "RESP ACK"));
	assert_int_equal(edl_target_prog_end(r->p), EDL_TARGET_PROG_OFF);
	send(r, "<data><nop/></data>", 0);
	assert_false(edl_target_prog_next_out(r->p, &c, 0));
	rig_free(r);

	r = rig_new(EDL_STORAGE_UFS, NULL);
	send(r, "<data><power value=\"reboot\"/></data>", 0);
	assert_non_null(strstr(drain(r, 0), "value 'reboot' is not reset, off or reset_to_edl"));
	forget(r);
	send(r, "<data><power value=\"reset_to_edl\"/></data>", 0);
	drain(r, 0);
	assert_int_equal(edl_target_prog_end(r->p), EDL_TARGET_PROG_RESET_TO_EDL);
	rig_free(r);
}

static void test_programmer_sets_bootable_drive_and_answers_nop(void **state)
{
	(void)state;
	struct rig *r = rig_new(EDL_STORAGE_UFS, NULL);

	send(r, "<data><setbootablestoragedrive value=\"1\"/></data>", 0);
	assert_non_null(strstr(drain(r, 0), "LOG INFO: Set bootable drive to 1.\nRESP ACK"));
	assert_int_equal(edl_target_prog_bootable(r->p), 1);
	forget(r);
	send(r, "<data><setbootablestoragedrive value=\"6\"/></data>", 0);
	assert_non_null(strstr(drain(r, 0), "drive 6 does not exist (6 LUNs)"));
	forget(r);
	send(r, "<?xml version=\"1.0\" ?><data><nop /></data>", 0);
	assert_non_null(strstr(drain(r, 0), "RESP ACK rawmode=false"));
	assert_int_equal(edl_target_prog_commands_seen(r->p, "nop"), 1);
	assert_int_equal(edl_target_prog_commands_seen(r->p, "setbootablestoragedrive"), 2);
	rig_free(r);
}

static void test_programmer_stale_output_is_one_transfer_of_two_documents(void **state)
{
	(void)state;
	struct rig *r = rig_new(EDL_STORAGE_EMMC, NULL);
	struct edl_chunk c;

	assert_int_equal(edl_target_prog_queue_stale(r->p), EDL_OK);
	assert_true(edl_target_prog_next_out(r->p, &c, 0));
	char *text = strndup((const char *)c.data, c.len);
	char *second = strstr(text + 1, "<?xml");
	assert_non_null(second);
	assert_non_null(strstr(text, "<log value="));
	assert_true(strstr(text, "<log value=") < second);
	assert_non_null(strstr(second, "<response value=\"ACK\""));
	transcribe(r, (const uint8_t *)text, (size_t)(second - text));
	transcribe(r, (const uint8_t *)second, strlen(second));
	free(text);
	assert_false(edl_target_prog_next_out(r->p, &c, 0));
	rig_free(r);
}

static const char build_date[] = "LOG INFO: Binary build date: Apr 19 2020 @ 17:49:11\n";

static void test_programmer_banner_lists_its_functions(void **state)
{
	(void)state;
	struct rig *r = rig_new(EDL_STORAGE_NAND, NULL);
	char want[2048];

	assert_int_equal(edl_target_prog_banner(r->p), EDL_OK);
	/* The SDX55 banner (qfirehose logs), one document per transfer, listing
	 * what the emulator implements. */
	snprintf(want, sizeof(want),
	         "%s%sLOG INFO: Chip serial num: 1212760641 (0x48494241)\n"
	         "LOG INFO: Supported Functions (10):\n"
	         "LOG INFO: program\nLOG INFO: read\nLOG INFO: nop\nLOG INFO: patch\n"
	         "LOG INFO: configure\nLOG INFO: setbootablestoragedrive\nLOG INFO: erase\n"
	         "LOG INFO: power\nLOG INFO: getstorageinfo\nLOG INFO: getsha256digest\n"
	         "LOG INFO: End of supported functions 10\n",
	         build_date, build_date);
	assert_string_equal(drain(r, 0), want);
	assert_int_equal(r->chunks, 15);
	rig_free(r);

	static const char *const few[] = {"program", "read", "configure", NULL};
	struct edl_prog_quirks q = {.functions = few,
	                            .banner_one_line = true,
	                            .chip_serial_log = "Chip serial num: 0 (0x0)"};
	r = rig_new_q(EDL_STORAGE_EMMC, NULL, &q, 0);
	assert_int_equal(edl_target_prog_banner(r->p), EDL_OK);
	snprintf(want, sizeof(want),
	         "%s%sLOG INFO: Chip serial num: 0 (0x0)\n"
	         "LOG INFO: Supported Functions: program read configure\n",
	         build_date, build_date);
	assert_string_equal(drain(r, 0), want);
	rig_free(r);
}

/* A command the banner did not list is an unknown tag: logged, ACKed, and
 * nothing done (processNextXMLTag). */
static void test_programmer_unlisted_command_is_an_ignored_tag(void **state)
{
	(void)state;
	static const char *const few[] = {"program", "configure", "getsha256digest", NULL};
	struct edl_prog_quirks q = {.functions = few};
	struct rig *r = rig_new_q(EDL_STORAGE_EMMC, NULL, &q, 0);
	uint8_t data[1024], back[1024];

	fill_pattern(data, sizeof(data), 31);
	program_emmc(r, 10, data, sizeof(data));
	assert_non_null(strstr(drain(r, 0), "RESP ACK rawmode=false"));
	forget(r);
	send(r,
	     "<data><erase SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"2\" "
	     "physical_partition_number=\"0\" start_sector=\"10\"/></data>",
	     0);
	assert_string_equal(drain(r, 0),
	                    "LOG WARNING: Ignoring unrecognized tag 'erase'. Continuing.\n"
	                    "RESP ACK rawmode=false\n");
	assert_int_equal(edl_target_storage_read_raw(r->st, 0, 10, 2, back, NULL), EDL_OK);
	assert_memory_equal(back, data, sizeof(data));
	assert_int_equal(edl_target_prog_commands_seen(r->p, "erase"), 1);
	rig_free(r);
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static void test_programmer_erase_without_a_range_wipes_the_lun(void **state)
{
	(void)state;
	struct rig *r = rig_new(EDL_STORAGE_EMMC, NULL);
	uint8_t data[2048], back[2048];

	fill_pattern(data, sizeof(data), 32);
	program_emmc(r, 100, data, sizeof(data));
	assert_non_null(strstr(drain(r, 0), "RESP ACK rawmode=false"));
	forget(r);
	/* A ranged erase leaves the rest alone. */
	send(r,
	     "<data><erase SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"2\" "
	     "physical_partition_number=\"0\" start_sector=\"100\"/></data>",
	     0);
	assert_string_equal(drain(r, 0), "LOG INFO: Calling handler for erase\n"
	                                 "LOG INFO: Erasing start sector 100, num sectors 2\n"
	                                 "RESP ACK rawmode=false\n");
	assert_int_equal(edl_target_storage_read_raw(r->st, 0, 100, 4, back, NULL), EDL_OK);
	assert_true(all_bytes(back, 1024, 0));
	assert_memory_equal(back + 1024, data + 1024, 1024);
	forget(r);
	/* No num_partition_sectors: the whole LUN (Sony's doc, qdl #193/#244). */
	send(r, "<data><erase physical_partition_number=\"0\"/></data>", 0);
	assert_string_equal(drain(r, 0), "LOG INFO: Calling handler for erase\n"
	                                 "LOG INFO: Erasing start sector 0, num sectors 4096\n"
	                                 "RESP ACK rawmode=false\n");
	assert_int_equal(edl_target_storage_read_raw(r->st, 0, 100, 4, back, NULL), EDL_OK);
	assert_true(all_bytes(back, sizeof(back), 0));
	rig_free(r);

	/* erase_whole_lun: the old handleErase ignores the range. */
	struct edl_prog_quirks q = {.erase_whole_lun = true};
	r = rig_new_q(EDL_STORAGE_EMMC, NULL, &q, 0);
	program_emmc(r, 100, data, sizeof(data));
	assert_non_null(strstr(drain(r, 0), "RESP ACK rawmode=false"));
	forget(r);
	send(r,
	     "<data><erase SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"1\" "
	     "physical_partition_number=\"0\" start_sector=\"0\"/></data>",
	     0);
	assert_non_null(strstr(drain(r, 0), "Erasing start sector 0, num sectors 4096\nRESP ACK"));
	assert_int_equal(edl_target_storage_read_raw(r->st, 0, 100, 4, back, NULL), EDL_OK);
	assert_true(all_bytes(back, sizeof(back), 0));
	rig_free(r);
}

/* Programs pages start..start+n-1 of the NAND rig (partition up to page 63). */
static void program_nand(struct rig *r, uint64_t start, const uint8_t *data, size_t pages)
{
	char xml[512];

	snprintf(xml, sizeof(xml),
	         "<data><program PAGES_PER_BLOCK=\"4\" SECTOR_SIZE_IN_BYTES=\"2048\" "
	         "num_partition_sectors=\"%zu\" physical_partition_number=\"0\" "
	         "start_sector=\"%llu\" last_sector=\"63\"/></data>",
	         pages, (unsigned long long)start);
	send(r, xml, 0);
	assert_non_null(strstr(drain(r, 0), "RESP ACK rawmode=true"));
	send_raw(r, data, pages * 2048, 0);
	assert_non_null(strstr(drain(r, 0), "RESP ACK rawmode=false"));
	forget(r);
}

static void test_programmer_nand_erase_alignment_is_a_quirk(void **state)
{
	(void)state;
	struct edl_prog_quirks q = {.erase_needs_alignment = true};
	struct rig *r = rig_new_q(EDL_STORAGE_NAND, NULL, &q, 0);
	const char *unaligned = "<data><erase PAGES_PER_BLOCK=\"4\" SECTOR_SIZE_IN_BYTES=\"2048\" "
	                        "num_partition_sectors=\"4\" physical_partition_number=\"0\" "
	                        "start_sector=\"10\"/></data>";

	send(r, unaligned, 0);
	/* MDM9607 (REAL-DEVICES.md §2). */
	assert_string_equal(drain(r, 0), "LOG INFO: Calling handler for erase\n"
	                                 "LOG ERROR: start_sector unaligned\n"
	                                 "RESP NAK rawmode=false\n");
	rig_free(r);
	r = rig_new(EDL_STORAGE_NAND, NULL);
	send(r, unaligned, 0);
	assert_non_null(strstr(drain(r, 0), "Erasing start sector 10, num sectors 4\nRESP ACK"));
	rig_free(r);
}

static void test_programmer_quectel_vendor_erase(void **state)
{
	(void)state;
	struct edl_prog_quirks q = {.vendor_erase = true};
	struct rig *r = rig_new_q(EDL_STORAGE_NAND, NULL, &q, 0);
	const char *vendor =
	        "<data><erase a_rawdata_start_sector=\"12\" b_rawdata_num_sector=\"4\" "
	        "c_project_name=\"RG500QEA_VH\" d_project_type=\"STD\" "
	        "vendor=\"quectel\"/></data>";
	uint8_t data[8 * 2048], back[8 * 2048];

	fill_pattern(data, sizeof(data), 33);
	program_nand(r, 8, data, 8); /* blocks 2 and 3 */
	send(r, vendor, 0);
	/* A Quectel programmer erases exactly the raw range (openwrt-ipq #3). */
	assert_string_equal(drain(r, 0),
	                    "LOG INFO: Calling handler for erase\n"
	                    "LOG INFO: [harden] project RG500QEA_VH type STD erase raw "
	                    "data start 12 num 4\n"
	                    "LOG INFO: Erasing start sector 12, num sectors 4\n"
	                    "RESP ACK rawmode=false\n");
	assert_int_equal(edl_target_storage_read_raw(r->st, 0, 8, 8, back, NULL), EDL_OK);
	assert_memory_equal(back, data, 4 * 2048);
	assert_true(all_bytes(back + 4 * 2048, 4 * 2048, 0xff));
	rig_free(r);

	/* Any other programmer ignores the unknown attributes: a range-less erase
	 * that wipes the whole device (fwupd PR #9204). */
	r = rig_new(EDL_STORAGE_NAND, NULL);
	program_nand(r, 8, data, 8);
	send(r, vendor, 0);
	assert_string_equal(drain(r, 0), "LOG INFO: Calling handler for erase\n"
	                                 "LOG INFO: Erasing start sector 0, num sectors 64\n"
	                                 "RESP ACK rawmode=false\n");
	assert_int_equal(edl_target_storage_read_raw(r->st, 0, 8, 8, back, NULL), EDL_OK);
	assert_true(all_bytes(back, sizeof(back), 0xff));
	rig_free(r);
}

static void test_programmer_old_code_quirks(void **state)
{
	(void)state;
	struct edl_prog_quirks q = {
	        .nop_bare_ack = true, .power_prefix_only = true, .patch_file_silent = true};
	struct rig *r = rig_new_q(EDL_STORAGE_EMMC, NULL, &q, 0);

	/* handleNop: a bare ACK. */
	send(r, "<data><nop/></data>", 0);
	assert_string_equal(drain(r, 0), "RESP ACK rawmode=false\n");
	forget(r);
	/* handlePatch: a file patch, or one missing attributes, gets nothing. */
	send(r,
	     "<data><patch SECTOR_SIZE_IN_BYTES=\"512\" byte_offset=\"16\" "
	     "filename=\"gpt_main0.bin\" "
	     "physical_partition_number=\"0\" size_in_bytes=\"4\" start_sector=\"1\" "
	     "value=\"0\"/></data>",
	     0);
	assert_string_equal(drain(r, 0), "");
	send(r, "<data><patch SECTOR_SIZE_IN_BYTES=\"512\" filename=\"DISK\"/></data>", 0);
	assert_string_equal(drain(r, 0), "");
	/* handlePower: unknown values get no answer ... */
	send(r, "<data><power value=\"reboot\"/></data>", 0);
	assert_string_equal(drain(r, 0), "");
	assert_int_equal(edl_target_prog_end(r->p), EDL_TARGET_PROG_RUNNING);
	/* ... and reset_to_edl matches the "reset" prefix: a plain reset. */
	send(r, "<data><power value=\"reset_to_edl\"/></data>", 0);
	assert_string_equal(
	        drain(r, 0),
	        "LOG INFO: Calling handler for power\n"
	        "RESP ACK rawmode=false\n"
	        "LOG INFO: Will issue reset/power off 100 useconds, if this hangs check "
	        "if watchdog is enabled\n"
	        "LOG INFO: bsp_target_reset() 1\n");
	assert_int_equal(edl_target_prog_end(r->p), EDL_TARGET_PROG_RESET);
	rig_free(r);

	/* A current programmer: nop logs, a file patch is ACKed, reset_to_edl honoured. */
	r = rig_new(EDL_STORAGE_EMMC, NULL);
	send(r, "<data><nop/></data>", 0);
	assert_string_equal(drain(r, 0), "LOG INFO: Calling handler for nop\n"
	                                 "LOG INFO: Binary build date: Apr 19 2020 @ 17:49:11\n"
	                                 "RESP ACK rawmode=false\n");
	forget(r);
	send(r, "<data><power value=\"reset_to_edl\"/></data>", 0);
	assert_non_null(strstr(drain(r, 0), "RESP ACK rawmode=false\nLOG INFO: Will issue"));
	assert_int_equal(edl_target_prog_end(r->p), EDL_TARGET_PROG_RESET_TO_EDL);
	rig_free(r);
}

/* late_logs (MSM8916, qdl firehose_read): the last log comes after the response. */
static void test_programmer_late_logs_follow_the_response(void **state)
{
	(void)state;
	struct edl_prog_quirks q = {.late_logs = true};
	struct rig *r = rig_new_q(EDL_STORAGE_UFS, NULL, &q, 0);

	send(r, "<data><setbootablestoragedrive value=\"1\"/></data>", 0);
	assert_string_equal(drain(r, 0), "LOG INFO: Calling handler for setbootablestoragedrive\n"
	                                 "RESP ACK rawmode=false\n"
	                                 "LOG INFO: Set bootable drive to 1.\n");
	forget(r);
	/* A rawmode ACK keeps its logs ahead of it: the data follows it. */
	send(r,
	     "<data><program SECTOR_SIZE_IN_BYTES=\"4096\" num_partition_sectors=\"1\" "
	     "physical_partition_number=\"0\" start_sector=\"0\"/></data>",
	     0);
	assert_string_equal(drain(r, 0), "LOG INFO: Calling handler for program\n"
	                                 "RESP ACK rawmode=true\n");
	rig_free(r);
}

static void test_programmer_digest_failures_answer_like_handle_get_digest(void **state)
{
	(void)state;
	struct rig *r = rig_new(EDL_STORAGE_EMMC, NULL);

	/* The range runs off the end: the read fails, the ACK carries no digest. */
	send(r,
	     "<data><getsha256digest SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"200\" "
	     "physical_partition_number=\"0\" start_sector=\"4000\"/></data>",
	     0);
	assert_string_equal(drain(r, 0), "LOG INFO: Calling handler for getsha256digest\n"
	                                 "LOG ERROR: emmc read failed\n"
	                                 "RESP ACK rawmode=false\n");
	forget(r);
	/* A start beyond the partition fails its parse. */
	send(r,
	     "<data><getsha256digest SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"1\" "
	     "physical_partition_number=\"0\" start_sector=\"5000\"/></data>",
	     0);
	assert_string_equal(drain(r, 0), "LOG INFO: Calling handler for getsha256digest\n"
	                                 "LOG ERROR: Parsed value exceeds size of partition in "
	                                 "sectors\n"
	                                 "LOG ERROR: Failed to parse start sector\n"
	                                 "RESP NAK rawmode=false\n");
	rig_free(r);
}

/* handleGetDigest logs "N sectors more to hash" after every 16384 sectors
 * hashed, while more remain. */
static void test_programmer_long_digest_reports_progress(void **state)
{
	(void)state;
	rig_emmc_sectors = 40000;
	struct rig *r = rig_new(EDL_STORAGE_EMMC, NULL);
	rig_emmc_sectors = 4096;
	uint8_t *zeros = calloc(40000, 512);
	char hex[65], want[512];

	assert_non_null(zeros);
	send(r,
	     "<data><getsha256digest SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"40000\" "
	     "physical_partition_number=\"0\" start_sector=\"0\"/></data>",
	     0);
	sha256_hex(zeros, (size_t)40000 * 512, hex);
	/* 1 MiB reads of 2048 sectors: the counter passes 16384 after 8 and 16 reads. */
	snprintf(want, sizeof(want),
	         "LOG INFO: Calling handler for getsha256digest\n"
	         "LOG INFO: 23616 sectors more to hash\n"
	         "LOG INFO: 7232 sectors more to hash\n"
	         "LOG INFO: Hash start sector 0 num sectors 40000\n"
	         "LOG INFO: Digest %s\nRESP ACK rawmode=false\n",
	         hex);
	assert_string_equal(drain(r, 0), want);
	free(zeros);
	rig_free(r);
}

/* firehose_busy: the programmer sits in a program's raw phase; everything is
 * raw data until the bytes due have arrived (Sony's Firehose doc), fed here
 * one byte per transfer after a host's <nop/> probe. */
static void test_programmer_busy_takes_everything_as_raw_data(void **state)
{
	(void)state;
	struct rig *r = rig_new(EDL_STORAGE_EMMC, NULL);
	const char *probe = "<?xml version=\"1.0\" ?><data><nop /></data>";
	size_t plen = strlen(probe);
	uint8_t rest[1000], back[1024];

	assert_int_equal(edl_target_prog_start_busy(r->p, 1000), EDL_OK);
	assert_true(edl_target_prog_in_raw(r->p));
	send(r, probe, 0);
	assert_string_equal(drain(r, 0), ""); /* swallowed */
	fill_pattern(rest, sizeof(rest), 34);
	for (size_t i = 0; i < 1000 - plen; i++) {
		send_raw(r, rest + i, 1, 0);
		if (i + 1 < 1000 - plen)
			assert_string_equal(drain(r, 0), "");
	}
	assert_string_equal(drain(r, 0), "LOG INFO: Finished sector address 2\n"
	                                 "RESP ACK rawmode=false\n");
	assert_false(edl_target_prog_in_raw(r->p));
	/* Written where the interrupted range was: 24 bytes received before the
	 * power-on (zeros here), then the probe, then the rest. */
	assert_int_equal(edl_target_storage_read_raw(r->st, 0, 0, 2, back, NULL), EDL_OK);
	assert_true(all_bytes(back, 24, 0));
	assert_memory_equal(back + 24, probe, plen);
	assert_memory_equal(back + 24 + plen, rest, 1000 - plen);
	forget(r);
	/* Then idle: commands are commands again. */
	send(r, probe, 0);
	assert_non_null(strstr(drain(r, 0), "RESP ACK rawmode=false\n"));
	assert_int_equal(edl_target_prog_commands_seen(r->p, "nop"), 1);
	rig_free(r);
}

static uint32_t next_rand(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 16;
}

/* Seeded random transfers: junk, random pieces of documents, and commands with
 * random attributes. Every answer must be one well-formed document; nothing may
 * crash or leak, and the commands themselves must be reached. */
static void test_programmer_survives_random_transfers(void **state)
{
	(void)state;
	static const char *const junk[] = {"<?xml version=\"1.0\" ?>",
	                                   "<data>",
	                                   "</data>",
	                                   "<program ",
	                                   "/>",
	                                   "\xff\xfe",
	                                   "<\xc3",
	                                   "&amp;",
	                                   "<!--",
	                                   "\"",
	                                   "<frob\xc3\xa9",
	                                   "<read SECTOR_SIZE_IN_BYTES=\"512\""};
	static const char *const cmds[] = {"program",        "read",      "patch",
	                                   "erase",          "configure", "getsha256digest",
	                                   "getstorageinfo", "nop",       "setbootablestoragedrive",
	                                   "power",          "fr\xc3\xa9"};
	static const char *const attrs[] = {"SECTOR_SIZE_IN_BYTES=\"512\"",
	                                    "SECTOR_SIZE_IN_BYTES=\"4096\"",
	                                    "num_partition_sectors=\"3\"",
	                                    "num_partition_sectors=\"0\"",
	                                    "start_sector=\"NUM_DISK_SECTORS-3.\"",
	                                    "start_sector=\"4095\"",
	                                    "start_sector=\"NUM_DISK_SECTORS+7\"",
	                                    "value=\"CRC32(0,512)\"",
	                                    "value=\"CRC32(NUM_DISK_SECTORS-1.,9999999999)\"",
	                                    "value=\"1\"",
	                                    "value=\"standby\"",
	                                    "filename=\"DISK\"",
	                                    "size_in_bytes=\"4\"",
	                                    "byte_offset=\"7\"",
	                                    "byte_offset=\"18446744073709551615\"",
	                                    "MaxPayloadSizeToTargetInBytes=\"0\"",
	                                    "MaxPayloadSizeToTargetInBytes=\"1024\"",
	                                    "MemoryName=\"emmc\"",
	                                    "physical_partition_number=\"9\"",
	                                    "label=\"a&lt;b\xc3\xa9\""};
	struct rig *r = rig_new(EDL_STORAGE_EMMC, NULL);
	uint32_t seed = 12345;
	char buf[2048];
	unsigned acks = 0, naks = 0;

#define PICK(table) (table)[next_rand(&seed) % (sizeof(table) / sizeof((table)[0]))]
	for (int round = 0; round < 3000; round++) {
		size_t len = 0;
		seed = seed * 1103515245u + 12345u;
		unsigned mode = (seed >> 16) % 4;
		if (mode == 0) {
			len = 1 + (seed >> 8) % sizeof(buf);
			fill_pattern((uint8_t *)buf, len, seed);
		} else if (mode == 1) {
			for (unsigned i = 0, n = 1 + (seed >> 20) % 8; i < n; i++)
				len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s",
				                        PICK(junk));
		} else {
			len = (size_t)snprintf(buf, sizeof(buf),
			                       "<?xml version=\"1.0\" ?><data><%s", PICK(cmds));
			for (unsigned i = 0, n = (seed >> 20) % 7; i < n; i++)
				len += (size_t)snprintf(buf + len, sizeof(buf) - len, " %s",
				                        PICK(attrs));
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, " /></data>");
		}
		assert_true(len < sizeof(buf));
		assert_int_equal(
		        edl_target_prog_feed(r->p, (const uint8_t *)buf, len, (uint64_t)round),
		        EDL_OK);
		struct edl_chunk c;
		while (edl_target_prog_next_out(r->p, &c, (uint64_t)round)) {
			if (c.len > 5 && memcmp(c.data, "<?xml", 5) == 0)
				transcribe(r, c.data, c.len);
			/* else raw <read> data */
		}
		acks += strstr(text(r), "RESP ACK") != NULL;
		naks += strstr(text(r), "RESP NAK") != NULL;
		forget(r);
	}
#undef PICK
	assert_int_equal(edl_target_prog_end(r->p), EDL_TARGET_PROG_RUNNING);
	assert_true(acks > 100); /* the commands were reached, not only the parser */
	assert_true(naks > 1000);
	rig_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_programmer_configure_acks_with_supported_size),
	        cmocka_unit_test(test_programmer_configure_answers_like_the_sdx55),
	        cmocka_unit_test(test_programmer_configure_zlp_aware_host_zero_turns_zlps_off),
	        cmocka_unit_test(test_programmer_configure_naks_a_payload_above_its_max),
	        cmocka_unit_test(test_programmer_lenient_memory_name_fails_storage_access),
	        cmocka_unit_test(test_programmer_configure_naks_another_memory),
	        cmocka_unit_test(test_programmer_program_takes_odd_sized_transfers),
	        cmocka_unit_test(test_programmer_program_evaluates_num_disk_sectors),
	        cmocka_unit_test(test_programmer_program_validates_attributes),
	        cmocka_unit_test(test_programmer_takes_a_raw_transfer_above_the_payload),
	        cmocka_unit_test(test_programmer_read_streams_raw_data),
	        cmocka_unit_test(test_programmer_digest_equals_sha256_of_the_range),
	        cmocka_unit_test(test_programmer_patches_disk_with_expressions_and_crc32),
	        cmocka_unit_test(test_programmer_patch_of_a_file_is_ignored_and_bad_values_naked),
	        cmocka_unit_test(test_programmer_answers_garbage_with_an_xml_nak),
	        cmocka_unit_test(test_programmer_reports_storage_info),
	        cmocka_unit_test(test_programmer_nand_program_skips_bad_blocks_and_verifies),
	        cmocka_unit_test(test_programmer_nand_naks_geometry_mismatch_and_full_partitions),
	        cmocka_unit_test(test_programmer_fault_naks_the_nth_command),
	        cmocka_unit_test(test_programmer_fault_corrupts_the_first_program),
	        cmocka_unit_test(test_programmer_fault_unplugs_after_n_raw_bytes),
	        cmocka_unit_test(test_programmer_fault_delays_the_final_ack),
	        cmocka_unit_test(test_programmer_fault_write_rate_paces_the_final_ack),
	        cmocka_unit_test(test_programmer_power_ends_the_session_after_its_ack),
	        cmocka_unit_test(test_programmer_sets_bootable_drive_and_answers_nop),
	        cmocka_unit_test(test_programmer_stale_output_is_one_transfer_of_two_documents),
	        cmocka_unit_test(test_programmer_banner_lists_its_functions),
	        cmocka_unit_test(test_programmer_unlisted_command_is_an_ignored_tag),
	        cmocka_unit_test(test_programmer_erase_without_a_range_wipes_the_lun),
	        cmocka_unit_test(test_programmer_nand_erase_alignment_is_a_quirk),
	        cmocka_unit_test(test_programmer_quectel_vendor_erase),
	        cmocka_unit_test(test_programmer_old_code_quirks),
	        cmocka_unit_test(test_programmer_late_logs_follow_the_response),
	        cmocka_unit_test(test_programmer_digest_failures_answer_like_handle_get_digest),
	        cmocka_unit_test(test_programmer_long_digest_reports_progress),
	        cmocka_unit_test(test_programmer_busy_takes_everything_as_raw_data),
	        cmocka_unit_test(test_programmer_survives_random_transfers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
