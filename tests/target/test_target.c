/*
 * Tests of the composite emulated device: power-on behaviour per fault (HELLO,
 * a programmer already running with or without stale output, a lost HELLO,
 * silence), the switch from the boot ROM to the programmer after a real upload
 * by the Sahara host engine, the host's probe against each start state, the
 * session-ending states (Sahara RESET, <power>, unplug), the programmer's banner
 * after the upload, a programmer busy in a raw phase at power-on, the stall
 * fault, and the storage accessors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "edlstation/elf_image.h"
#include "edlstation/sahara.h"
#include "edlstation/target.h"

/* An image for host engines that never get as far as uploading. */
static const uint8_t dummy_bytes[4] = {0x7f, 'E', 'L', 'F'};
static const struct edl_sahara_image dummy_image = {.id = 0x0d, .data = dummy_bytes, .len = 4};

static struct edl_target *make(enum edl_storage_kind kind, const struct edl_target_faults *faults)
{
	struct edl_target_config cfg;
	struct edl_target *t = NULL;
	struct edl_error err;

	edl_target_config_default(&cfg, kind);
	cfg.storage.sectors = kind == EDL_STORAGE_NAND ? 256 : 1024;
	if (faults != NULL)
		cfg.faults = *faults;
	assert_int_equal(edl_target_new(&t, &cfg, &err), EDL_OK);
	return t;
}

static void feed_text(struct edl_target *t, const char *xml, uint64_t now)
{
	assert_int_equal(edl_target_feed(t, (const uint8_t *)xml, strlen(xml), now), EDL_OK);
}

/* Concatenates every chunk due at now into buf (NUL-terminated); returns the count. */
static unsigned pull_text(struct edl_target *t, char *buf, size_t cap, uint64_t now)
{
	struct edl_chunk c;
	unsigned n = 0;
	size_t len = 0;

	buf[0] = '\0';
	while (edl_target_next_out(t, &c, now)) {
		assert_true(len + c.len < cap);
		memcpy(buf + len, c.data, c.len);
		len += c.len;
		buf[len] = '\0';
		n++;
	}
	return n;
}

/* Moves transfers between a Sahara host engine and the device on a fake clock
 * until the host finishes. */
static void pump(struct edl_sahara_host *h, struct edl_target *t, uint64_t *now)
{
	for (int i = 0; i < 100000 && edl_sahara_host_status(h) == EDL_ENGINE_RUNNING; i++) {
		struct edl_chunk c;
		bool moved = false;
		/* Once the host is done, the rest (the programmer's banner) stays queued. */
		while (edl_sahara_host_status(h) == EDL_ENGINE_RUNNING &&
		       edl_target_next_out(t, &c, *now)) {
			edl_sahara_host_feed(h, c.data, c.len, *now);
			moved = true;
		}
		while (edl_sahara_host_next_out(h, &c)) {
			assert_int_equal(edl_target_feed(t, c.data, c.len, *now), EDL_OK);
			moved = true;
		}
		if (!moved) {
			uint64_t d = edl_sahara_host_deadline(h);
			if (d == 0)
				break;
			*now = d > *now ? d : *now;
			edl_sahara_host_timeout(h, *now);
		}
	}
}

static void test_target_start_sends_hello(void **state)
{
	(void)state;
	struct edl_target *t = make(EDL_STORAGE_EMMC, NULL);
	struct edl_chunk c;
	struct edl_sahara_pkt pkt;

	assert_int_equal(edl_target_state(t), EDL_TARGET_SAHARA);
	assert_false(edl_target_next_out(t, &c, 0));
	edl_target_start(t, 0);
	assert_true(edl_target_next_out(t, &c, 0));
	assert_int_equal(c.len, 0x30);
	assert_int_equal(edl_sahara_get_le32(c.data), 0x01);     /* HELLO */
	assert_int_equal(edl_sahara_get_le32(c.data + 4), 0x30); /* length */
	assert_int_equal(edl_sahara_decode(&pkt, c.data, c.len, NULL), EDL_OK);
	assert_int_equal(pkt.u.hello.mode, 0);
	assert_false(edl_target_next_out(t, &c, 0));
	assert_int_equal(edl_target_deadline(t), 0);
	edl_target_free(t);
}

static void test_target_uploads_a_programmer_then_speaks_firehose(void **state)
{
	(void)state;
	struct edl_target *t = make(EDL_STORAGE_UFS, NULL);
	struct edl_sahara_host_config hc;
	struct edl_sahara_host *h = NULL;
	uint8_t *elf = NULL, sha[32], want[32];
	unsigned int n = 0;
	size_t elf_len = 0;
	uint64_t now = 0;
	char out[4096];

	assert_int_equal(edl_elf_make_programmer(&elf, &elf_len, 300000, 7), EDL_OK);
	struct edl_sahara_image img = {.id = 0x0d, .data = elf, .len = elf_len};
	edl_sahara_host_config_default(&hc);
	hc.images = &img;
	hc.n_images = 1;
	assert_int_equal(edl_sahara_host_new(&h, &hc), EDL_OK);
	edl_target_programmer_sha256(t, sha);
	memset(want, 0, sizeof(want));
	assert_memory_equal(sha, want, 32); /* nothing received yet */

	edl_target_start(t, now);
	edl_sahara_host_start(h, now);
	pump(h, t, &now);
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_DONE);
	assert_int_equal(edl_sahara_host_outcome(h), EDL_SAHARA_OUTCOME_PROGRAMMER_LOADED);
	assert_false(edl_sahara_host_probe_sent(h));
	assert_int_equal(edl_sahara_host_identity(h)->serial, 0x1a2b3c4d);
	assert_int_equal(edl_target_state(t), EDL_TARGET_FIREHOSE);

	assert_int_equal(EVP_Digest(elf, elf_len, want, &n, EVP_sha256(), NULL), 1);
	edl_target_programmer_sha256(t, sha);
	assert_memory_equal(sha, want, 32);

	/* The programmer announces itself, one document per transfer, before any
	 * command: build date twice, chip serial, 10 functions, the end line. */
	assert_int_equal(pull_text(t, out, sizeof(out), now), 15);
	assert_memory_equal(out, "<?xml", 5);
	assert_non_null(
	        strstr(out, "<log value=\"INFO: Chip serial num: 439041101 (0x1a2b3c4d)\" />"));
	assert_non_null(strstr(out, "<log value=\"INFO: Supported Functions (10):\" />"));
	assert_non_null(strstr(out, "<log value=\"INFO: End of supported functions 10\" />"));
	assert_null(strstr(out, "<response"));

	feed_text(t, "<?xml version=\"1.0\" ?><data><nop /></data>", now);
	pull_text(t, out, sizeof(out), now);
	assert_memory_equal(out, "<?xml", 5);
	assert_non_null(strstr(out, "<response value=\"ACK\""));
	assert_int_equal(edl_target_commands_seen(t, "nop"), 1);
	edl_sahara_host_free(h);
	free(elf);
	edl_target_free(t);
}

static void test_target_with_programmer_running_answers_xml_without_hello(void **state)
{
	(void)state;
	struct edl_target_faults f = {.firehose_running = true};
	struct edl_target *t = make(EDL_STORAGE_EMMC, &f);
	struct edl_chunk c;
	uint8_t sha[32], zero[32] = {0};
	char out[4096];

	edl_target_start(t, 0);
	assert_false(edl_target_next_out(t, &c, 0)); /* no HELLO, and no banner: printed long ago */
	assert_int_equal(edl_target_state(t), EDL_TARGET_FIREHOSE);
	feed_text(t, "<?xml version=\"1.0\" ?><data><nop /></data>", 0);
	assert_true(pull_text(t, out, sizeof(out), 0) >= 1);
	assert_memory_equal(out, "<?xml", 5);
	assert_non_null(strstr(out, "<response value=\"ACK\""));
	edl_target_programmer_sha256(t, sha);
	assert_memory_equal(sha, zero, 32);

	/* A Sahara HELLO_RESP sent to it gets an XML NAK, not silence. */
	uint8_t resp[0x30];
	size_t len = edl_sahara_encode_hello_resp(resp, sizeof(resp), 2, 1, 0, 0);
	assert_int_equal(edl_target_feed(t, resp, len, 0), EDL_OK);
	pull_text(t, out, sizeof(out), 0);
	assert_memory_equal(out, "<?xml", 5);
	assert_non_null(strstr(out, "XML not formed correctly"));
	assert_non_null(strstr(out, "<response value=\"NAK\""));
	edl_target_free(t);
}

static void test_target_stale_output_is_waiting_at_power_on(void **state)
{
	(void)state;
	struct edl_target_faults f = {.firehose_running = true, .firehose_stale_output = true};
	struct edl_target *t = make(EDL_STORAGE_EMMC, &f);
	char out[4096];

	edl_target_start(t, 0);
	assert_int_equal(pull_text(t, out, sizeof(out), 0), 1);
	assert_memory_equal(out, "<?xml", 5);
	assert_non_null(strstr(out, "<log value="));
	assert_non_null(strstr(out, "<response value=\"ACK\" rawmode=\"false\""));
	edl_target_free(t);
}

static void test_target_silent_answers_nothing(void **state)
{
	(void)state;
	struct edl_target_faults f = {.silent = true};
	struct edl_target *t = make(EDL_STORAGE_EMMC, &f);
	struct edl_sahara_host_config hc;
	struct edl_sahara_host *h = NULL;
	struct edl_chunk c;
	uint64_t now = 0;

	edl_target_start(t, 0);
	assert_false(edl_target_next_out(t, &c, 0));
	feed_text(t, "<?xml version=\"1.0\" ?><data><nop /></data>", 0);
	assert_false(edl_target_next_out(t, &c, 0));
	assert_int_equal(edl_target_state(t), EDL_TARGET_SILENT);
	assert_int_equal(edl_target_deadline(t), 0);

	/* The host's probe finds nothing and asks for a power cycle. */
	edl_sahara_host_config_default(&hc);
	hc.images = &dummy_image;
	hc.n_images = 1;
	assert_int_equal(edl_sahara_host_new(&h, &hc), EDL_OK);
	edl_sahara_host_start(h, now);
	pump(h, t, &now);
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_FAILED);
	assert_int_equal(edl_sahara_host_error(h)->code, EDL_E_POWER_CYCLE);
	edl_sahara_host_free(h);
	edl_target_free(t);
}

static void test_target_probe_finds_a_running_programmer(void **state)
{
	(void)state;
	struct edl_target_faults f = {.firehose_running = true};
	struct edl_target *t = make(EDL_STORAGE_EMMC, &f);
	struct edl_sahara_host_config hc;
	struct edl_sahara_host *h = NULL;
	uint64_t now = 0;

	edl_sahara_host_config_default(&hc);
	hc.images = &dummy_image;
	hc.n_images = 1;
	assert_int_equal(edl_sahara_host_new(&h, &hc), EDL_OK);
	edl_target_start(t, now);
	edl_sahara_host_start(h, now);
	pump(h, t, &now);
	assert_int_equal(edl_sahara_host_status(h), EDL_ENGINE_DONE);
	assert_int_equal(edl_sahara_host_outcome(h), EDL_SAHARA_OUTCOME_FIREHOSE_RUNNING);
	assert_true(edl_sahara_host_probe_sent(h));
	assert_int_equal(edl_target_commands_seen(t, "nop"), 1);
	edl_sahara_host_free(h);
	edl_target_free(t);
}

/* Was: the probe answered END_OF_IMAGE. A ROM waiting for HELLO_RESP answers
 * anything else with its HELLO again (Qualcomm boot_sahara_process_packets). */
static void test_target_lost_hello_answers_a_probe_with_hello(void **state)
{
	(void)state;
	struct edl_target_faults f = {.hello_consumed = true};
	struct edl_target *t = make(EDL_STORAGE_EMMC, &f);
	struct edl_chunk c;
	struct edl_sahara_pkt pkt;

	edl_target_start(t, 0);
	assert_false(edl_target_next_out(t, &c, 0)); /* the HELLO went to nobody */
	feed_text(t, EDL_SAHARA_PROBE_XML, 500);
	assert_true(edl_target_next_out(t, &c, 500));
	assert_int_equal(edl_sahara_decode(&pkt, c.data, c.len, NULL), EDL_OK);
	assert_int_equal(pkt.cmd, 0x01); /* HELLO */
	assert_int_equal(pkt.u.hello.mode, 0);
	assert_int_equal(edl_target_state(t), EDL_TARGET_SAHARA);
	edl_target_free(t);
}

static void test_target_recovers_from_a_lost_hello_through_the_probe(void **state)
{
	(void)state;
	struct edl_target_faults f = {.hello_consumed = true};
	struct edl_target *t = make(EDL_STORAGE_NAND, &f);
	struct edl_sahara_host_config hc;
	struct edl_sahara_host *h = NULL;
	uint8_t *elf = NULL;
	size_t elf_len = 0;
	uint64_t now = 0;

	assert_int_equal(edl_elf_make_programmer(&elf, &elf_len, 100000, 3), EDL_OK);
	struct edl_sahara_image img = {.id = 0x0d, .data = elf, .len = elf_len};
	edl_sahara_host_config_default(&hc);
	hc.identify = false;
	hc.images = &img;
	hc.n_images = 1;
	assert_int_equal(edl_sahara_host_new(&h, &hc), EDL_OK);
	edl_target_start(t, now);
	edl_sahara_host_start(h, now);
	pump(h, t, &now);
	assert_int_equal(edl_sahara_host_outcome(h), EDL_SAHARA_OUTCOME_PROGRAMMER_LOADED);
	assert_true(edl_sahara_host_probe_sent(h));
	assert_int_equal(edl_target_state(t), EDL_TARGET_FIREHOSE);
	edl_sahara_host_free(h);
	free(elf);
	edl_target_free(t);
}

static void test_target_sahara_reset_ends_the_session_after_its_answer(void **state)
{
	(void)state;
	struct edl_target *t = make(EDL_STORAGE_EMMC, NULL);
	struct edl_chunk c;
	struct edl_sahara_pkt pkt;
	uint8_t buf[16];

	edl_target_start(t, 0);
	assert_true(edl_target_next_out(t, &c, 0)); /* HELLO */
	size_t len = edl_sahara_encode_reset(buf, sizeof(buf));
	assert_int_equal(edl_target_feed(t, buf, len, 0), EDL_OK);
	assert_int_equal(edl_target_state(t), EDL_TARGET_SAHARA);
	assert_true(edl_target_next_out(t, &c, 0));
	assert_int_equal(edl_sahara_decode(&pkt, c.data, c.len, NULL), EDL_OK);
	assert_int_equal(pkt.cmd, 0x08); /* RESET_RESP */
	assert_false(edl_target_next_out(t, &c, 0));
	assert_int_equal(edl_target_state(t), EDL_TARGET_RESET);
	edl_target_free(t);
}

static void test_target_power_commands_set_the_end_state(void **state)
{
	(void)state;
	struct edl_target_faults f = {.firehose_running = true};
	struct edl_target *t = make(EDL_STORAGE_UFS, &f);
	struct edl_chunk c;
	char out[4096];

	feed_text(t, "<data><power value=\"reset_to_edl\" DelayInSeconds=\"1\"/></data>", 100);
	assert_int_equal(edl_target_state(t), EDL_TARGET_FIREHOSE);
	pull_text(t, out, sizeof(out), 100);
	assert_non_null(strstr(out, "<response value=\"ACK\""));
	assert_int_equal(edl_target_deadline(t), 1100);
	edl_target_timeout(t, 1100);
	assert_int_equal(edl_target_state(t), EDL_TARGET_RESET_TO_EDL);
	assert_string_equal(edl_target_state_name(edl_target_state(t)), "RESET_TO_EDL");
	feed_text(t, "<data><nop/></data>", 1200);
	assert_false(edl_target_next_out(t, &c, 1200));
	edl_target_free(t);

	t = make(EDL_STORAGE_UFS, &f);
	feed_text(t, "<data><power value=\"off\"/></data>", 0);
	pull_text(t, out, sizeof(out), 0);
	assert_int_equal(edl_target_state(t), EDL_TARGET_OFF);
	edl_target_free(t);

	t = make(EDL_STORAGE_UFS, &f);
	feed_text(t, "<data><power value=\"reset\"/></data>", 0);
	pull_text(t, out, sizeof(out), 0);
	assert_int_equal(edl_target_state(t), EDL_TARGET_RESET);
	edl_target_free(t);
}

static void test_target_unplug_fault_goes_gone(void **state)
{
	(void)state;
	struct edl_target_faults f = {.firehose_running = true, .unplug_at_bytes = 4096 + 100};
	struct edl_target *t = make(EDL_STORAGE_UFS, &f);
	uint8_t data[8192] = {0};
	struct edl_chunk c;
	char out[4096];

	feed_text(t,
	          "<data><program SECTOR_SIZE_IN_BYTES=\"4096\" num_partition_sectors=\"2\" "
	          "physical_partition_number=\"2\" start_sector=\"0\"/></data>",
	          0);
	pull_text(t, out, sizeof(out), 0);
	assert_non_null(strstr(out, "rawmode=\"true\""));
	assert_int_equal(edl_target_feed(t, data, 4096, 0), EDL_OK);
	assert_int_equal(edl_target_state(t), EDL_TARGET_FIREHOSE);
	assert_int_equal(edl_target_feed(t, data + 4096, 4096, 0), EDL_OK);
	assert_int_equal(edl_target_state(t), EDL_TARGET_GONE);
	assert_int_equal(edl_target_raw_bytes(t), 4196);
	assert_false(edl_target_next_out(t, &c, 0));
	assert_int_equal(edl_target_commands_seen(t, "program"), 1);
	edl_target_free(t);
}

static void test_target_slow_final_ack_shows_as_a_deadline(void **state)
{
	(void)state;
	struct edl_target_faults f = {.firehose_running = true, .slow_final_ack_ms = 250};
	struct edl_target *t = make(EDL_STORAGE_EMMC, &f);
	uint8_t data[512] = {0};
	char out[4096];

	feed_text(t,
	          "<data><program SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"1\" "
	          "start_sector=\"0\"/></data>",
	          0);
	pull_text(t, out, sizeof(out), 0);
	assert_int_equal(edl_target_feed(t, data, sizeof(data), 10), EDL_OK);
	assert_int_equal(edl_target_deadline(t), 260);
	assert_int_equal(pull_text(t, out, sizeof(out), 259), 0);
	edl_target_timeout(t, 260);
	assert_int_equal(edl_target_deadline(t), 0);
	assert_int_equal(pull_text(t, out, sizeof(out), 260), 2);
	assert_non_null(strstr(out, "<response value=\"ACK\" rawmode=\"false\""));
	edl_target_free(t);
}

static void test_target_storage_is_readable_and_kept_in_its_dir(void **state)
{
	(void)state;
	struct edl_target_config cfg;
	struct edl_target *t = NULL;
	struct edl_error err;
	struct edl_target_faults f = {.firehose_running = true};
	const char *tmp = getenv("TMPDIR");
	char dir[2048], out[4096];
	uint8_t data[512], back[512];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/edl-target-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
	edl_target_config_default(&cfg, EDL_STORAGE_EMMC);
	cfg.storage.dir = dir;
	cfg.faults = f;
	assert_int_equal(edl_target_new(&t, &cfg, &err), EDL_OK);
	const char *path = edl_target_storage_path(t, 0);
	assert_non_null(path);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal((uint64_t)st.st_size, 8ull << 30);
	assert_null(edl_target_storage_path(t, 1));

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	feed_text(t,
	          "<data><program SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"1\" "
	          "start_sector=\"NUM_DISK_SECTORS-1.\"/></data>",
	          0);
	pull_text(t, out, sizeof(out), 0);
	assert_int_equal(edl_target_feed(t, data, sizeof(data), 0), EDL_OK);
	pull_text(t, out, sizeof(out), 0);
	assert_non_null(strstr(out, "rawmode=\"false\""));
	assert_int_equal(edl_target_read_storage(t, 0, cfg.storage.sectors - 1, 1, back), EDL_OK);
	assert_memory_equal(data, back, sizeof(data));
	assert_int_equal(edl_target_read_storage(t, 0, cfg.storage.sectors, 1, back), EDL_E_RANGE);
	edl_target_free(t);

	/* A new device on the same directory sees the same bytes. */
	assert_int_equal(edl_target_new(&t, &cfg, &err), EDL_OK);
	assert_int_equal(edl_target_read_storage(t, 0, cfg.storage.sectors - 1, 1, back), EDL_OK);
	assert_memory_equal(data, back, sizeof(data));
	edl_target_free(t);
	snprintf(out, sizeof(out), "%s/lun0.img", dir);
	assert_int_equal(unlink(out), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* firehose_busy: at power-on the programmer is inside a program's raw phase;
 * the host's probe is swallowed as data, and the answer comes only once the
 * bytes due have all arrived. */
static void test_target_busy_programmer_swallows_the_probe(void **state)
{
	(void)state;
	struct edl_target_faults f = {.firehose_busy = true, .firehose_busy_bytes = 4096};
	struct edl_target *t = make(EDL_STORAGE_EMMC, &f);
	const char *probe = "<?xml version=\"1.0\" ?><data><nop /></data>";
	uint8_t rest[4096] = {0}, back[4096];
	char out[4096];

	edl_target_start(t, 0);
	assert_int_equal(edl_target_state(t), EDL_TARGET_FIREHOSE);
	assert_int_equal(pull_text(t, out, sizeof(out), 0), 0);
	feed_text(t, probe, 0);
	assert_int_equal(pull_text(t, out, sizeof(out), 0), 0);
	memset(rest, 0x5a, sizeof(rest));
	assert_int_equal(edl_target_feed(t, rest, 4096 - strlen(probe), 0), EDL_OK);
	assert_int_equal(pull_text(t, out, sizeof(out), 0), 2);
	assert_non_null(strstr(out, "<response value=\"ACK\" rawmode=\"false\" />"));
	assert_int_equal(edl_target_raw_bytes(t), 4096);
	assert_int_equal(edl_target_read_storage(t, 0, 0, 8, back), EDL_OK);
	assert_memory_equal(back, probe, strlen(probe));
	assert_int_equal(back[4095], 0x5a);
	edl_target_free(t);
}

static void test_target_stall_fault_stops_taking_bytes(void **state)
{
	(void)state;
	const char *nop = "<?xml version=\"1.0\" ?><data><nop /></data>";
	const char *program =
	        "<data><program SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"8\" "
	        "physical_partition_number=\"0\" start_sector=\"0\"/></data>";
	struct edl_target_faults f = {.firehose_running = true,
	                              .stall_at_bytes = strlen(nop) + strlen(program) + 1000};
	struct edl_target *t = make(EDL_STORAGE_EMMC, &f);
	uint8_t data[4096];
	char out[8192];

	memset(data, 0xa5, sizeof(data));
	edl_target_start(t, 0);
	feed_text(t, nop, 0);
	assert_non_null(strstr((pull_text(t, out, sizeof(out), 0), out), "ACK"));
	feed_text(t, program, 0);
	pull_text(t, out, sizeof(out), 0);
	assert_non_null(strstr(out, "rawmode=\"true\""));
	assert_false(edl_target_stalled(t));
	/* Raw data is taken up to the limit, then nothing more. */
	assert_int_equal(edl_target_feed(t, data, sizeof(data), 0), EDL_OK);
	assert_true(edl_target_stalled(t));
	assert_int_equal(edl_target_raw_bytes(t), 1000);
	assert_int_equal(edl_target_feed(t, data, sizeof(data), 0), EDL_OK);
	assert_int_equal(edl_target_raw_bytes(t), 1000);
	assert_int_equal(pull_text(t, out, sizeof(out), 0), 0);
	assert_int_equal(edl_target_state(t), EDL_TARGET_FIREHOSE);
	edl_target_free(t);

	/* A command that does not fit is never taken at all. */
	f.stall_at_bytes = strlen(nop) + 10;
	t = make(EDL_STORAGE_EMMC, &f);
	edl_target_start(t, 0);
	feed_text(t, nop, 0);
	assert_int_equal(pull_text(t, out, sizeof(out), 0), 3);
	assert_false(edl_target_stalled(t));
	feed_text(t, nop, 0);
	assert_true(edl_target_stalled(t));
	assert_int_equal(pull_text(t, out, sizeof(out), 0), 0);
	assert_int_equal(edl_target_commands_seen(t, "nop"), 1);
	edl_target_free(t);

	/* Sahara bytes count too: the upload stops part-way. */
	struct edl_target_faults g = {.stall_at_bytes = 100000};
	t = make(EDL_STORAGE_UFS, &g);
	struct edl_sahara_host_config hc;
	struct edl_sahara_host *h = NULL;
	uint8_t *elf = NULL;
	size_t elf_len = 0;
	uint64_t now = 0;
	assert_int_equal(edl_elf_make_programmer(&elf, &elf_len, 300000, 7), EDL_OK);
	struct edl_sahara_image img = {.id = 0x0d, .data = elf, .len = elf_len};
	edl_sahara_host_config_default(&hc);
	hc.images = &img;
	hc.n_images = 1;
	assert_int_equal(edl_sahara_host_new(&h, &hc), EDL_OK);
	edl_target_start(t, now);
	edl_sahara_host_start(h, now);
	pump(h, t, &now);
	assert_true(edl_target_stalled(t));
	assert_int_equal(edl_target_state(t), EDL_TARGET_SAHARA);
	assert_int_not_equal(edl_sahara_host_status(h), EDL_ENGINE_DONE);
	edl_sahara_host_free(h);
	free(elf);
	edl_target_free(t);
}

static void test_target_fault_specs_busy_and_stall(void **state)
{
	(void)state;
	struct edl_target_faults f = {0};
	struct edl_error err;

	assert_int_equal(edl_target_fault_parse(&f, "firehose-busy", &err), EDL_OK);
	assert_true(f.firehose_busy);
	assert_int_equal(f.firehose_busy_bytes, 8 * 1024 * 1024);
	assert_int_equal(edl_target_fault_parse(&f, "firehose-busy=64K", &err), EDL_OK);
	assert_int_equal(f.firehose_busy_bytes, 65536);
	assert_int_equal(edl_target_fault_parse(&f, "stall-at=1M", &err), EDL_OK);
	assert_int_equal(f.stall_at_bytes, 1024 * 1024);
	assert_int_equal(edl_target_fault_parse(&f, "stall-at", &err), EDL_E_INVAL);
	assert_int_equal(edl_target_fault_parse(&f, "stall-at=0", &err), EDL_E_INVAL);
	assert_int_equal(edl_target_fault_parse(&f, "firehose-busy=x", &err), EDL_E_INVAL);
	assert_non_null(strstr(err.detail, "firehose-busy=x"));
	assert_non_null(strstr(edl_target_fault_kinds(), "firehose-busy[=BYTES]"));
	assert_non_null(strstr(edl_target_fault_kinds(), "stall-at=BYTES"));
	assert_int_equal(edl_target_fault_parse(&f, "xbl-refuse=3", &err), EDL_OK);
	assert_int_equal(f.xbl_refuse, 3);
	assert_int_equal(edl_target_fault_parse(&f, "xbl-refuse=0", &err), EDL_E_INVAL);
	assert_int_equal(edl_target_fault_parse(&f, "xbl-refuse=32", &err), EDL_E_INVAL);
	assert_non_null(strstr(edl_target_fault_kinds(), "xbl-refuse=CMD"));
}

static void test_target_rejects_bad_configuration(void **state)
{
	(void)state;
	struct edl_target_config cfg;
	struct edl_target *t = (struct edl_target *)&cfg; /* must be reset to NULL */
	struct edl_error err;

	edl_target_config_default(&cfg, EDL_STORAGE_UFS);
	cfg.storage.sector_size = 3000;
	assert_int_equal(edl_target_new(&t, &cfg, &err), EDL_E_CONFIG);
	assert_null(t);
	assert_non_null(strstr(err.detail, "sector_size 3000"));
	edl_target_config_default(&cfg, EDL_STORAGE_UFS);
	cfg.pbl.sahara_version = 9;
	assert_int_equal(edl_target_new(&t, &cfg, &err), EDL_E_CONFIG);
	assert_non_null(strstr(err.detail, "Sahara version 9"));
	assert_string_equal(edl_target_state_name(EDL_TARGET_SILENT), "SILENT");
	assert_string_equal(edl_target_state_name(EDL_TARGET_GONE), "GONE");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_target_start_sends_hello),
	        cmocka_unit_test(test_target_uploads_a_programmer_then_speaks_firehose),
	        cmocka_unit_test(test_target_with_programmer_running_answers_xml_without_hello),
	        cmocka_unit_test(test_target_stale_output_is_waiting_at_power_on),
	        cmocka_unit_test(test_target_silent_answers_nothing),
	        cmocka_unit_test(test_target_probe_finds_a_running_programmer),
	        cmocka_unit_test(test_target_lost_hello_answers_a_probe_with_hello),
	        cmocka_unit_test(test_target_recovers_from_a_lost_hello_through_the_probe),
	        cmocka_unit_test(test_target_sahara_reset_ends_the_session_after_its_answer),
	        cmocka_unit_test(test_target_power_commands_set_the_end_state),
	        cmocka_unit_test(test_target_unplug_fault_goes_gone),
	        cmocka_unit_test(test_target_slow_final_ack_shows_as_a_deadline),
	        cmocka_unit_test(test_target_storage_is_readable_and_kept_in_its_dir),
	        cmocka_unit_test(test_target_busy_programmer_swallows_the_probe),
	        cmocka_unit_test(test_target_stall_fault_stops_taking_bytes),
	        cmocka_unit_test(test_target_fault_specs_busy_and_stall),
	        cmocka_unit_test(test_target_rejects_bad_configuration),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
