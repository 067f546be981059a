/*
 * The Sahara host engine, sans-I/O (io.h). One engine per attached device:
 *
 *   WAIT_FIRST --HELLO--> (identify) WAIT_CMD_READY -> EXECUTE/RESP/DATA ... ->
 *       SWITCH_MODE(0) -> WAIT_HELLO --HELLO--> TRANSFER -> WAIT_DONE_RESP -> done
 *   WAIT_FIRST --"<?xml"--> done, a programmer is already running
 *   WAIT_FIRST --silence--> probe (Firehose <nop/>) -> WAIT_PROBE:
 *       XML -> programmer running; HELLO -> as above; any other Sahara packet ->
 *       RESET_STATE_MACHINE -> WAIT_HELLO; silence -> WAIT_FLUSH: zero filler
 *       up to flush_max_bytes for a programmer stuck mid-<program>; XML ->
 *       programmer running; silence -> the unit needs a power cycle.
 *   HELLO mode 2 (memory debug), with a dump sink: HELLO_RESP mode 2 ->
 *       WAIT_MEM_DEBUG --MEMORY_DEBUG(64)--> DUMP: MEMORY_READ(64) of the
 *       table, then of every region in 512 KiB pieces (dump.c) -> RESET, done
 *       (DUMPED); without a sink: failed, EDL_E_MEMORY_DUMP.
 *   WAIT_HELLO --END_OF_IMAGE--> RESET, re-enumerate: after SWITCH_MODE (XBL
 *       accepts only RESET after a refused EXECUTE) or after
 *       RESET_STATE_MACHINE (a ROM with no handler for it).
 *
 * The probe is what the field report asked for: a unit whose programmer was
 * loaded by an interrupted run sends no HELLO and answers XML; a boot ROM whose
 * HELLO was consumed earlier answers END_OF_IMAGE to anything, or (Qualcomm
 * boot_sahara.c, waiting for HELLO_RESP) sends its HELLO again. Every wait is a
 * deadline the driver watches; one function changes state and sets it.
 *
 * Real-device behaviours this file follows (../shared/REAL-DEVICES.md):
 * DONE_RESP "pending" after the last image (#1), PK hash padding (#7), a
 * programmer mid-raw-data (#8), no ZLP in Sahara (#9), repeated HELLO (#10),
 * RESET_STATE_MACHINE missing (#11), any programmer image id (#14), command
 * mode refusals (#16).
 */
#include "edlstation/sahara.h"

#include "dump_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUT_SLOTS 16
#define MAX_EXEC_DATA 4096 /* no command-mode answer is anywhere near this */
#define MAX_EXEC_STEPS 4
/* A ROM re-sends HELLO on junk while it waits for HELLO_RESP (boot_sahara.c);
 * more than this many in a row is a ROM that never takes our answer. */
#define MAX_HELLO_REPEATS 4
#define FLUSH_CHUNK ((size_t)1 << 20)

/* Filler for a programmer stuck mid-raw-data: zeros, never written, so one
 * buffer serves every engine (and stays in .bss). */
static uint8_t flush_filler[FLUSH_CHUNK];

struct out_slot {
	uint8_t buf[EDL_SAHARA_MAX_PKT];
	struct edl_chunk chunk;
};

/* Why WAIT_HELLO waits: decides what an END_OF_IMAGE there means. */
enum hello_reason {
	HELLO_AFTER_SWITCH, /* SWITCH_MODE(0) after command mode */
	HELLO_AFTER_RSM,    /* RESET_STATE_MACHINE after a stray packet */
	HELLO_AFTER_DONE,   /* DONE_RESP pending: another image is wanted */
};

struct edl_sahara_host {
	struct edl_sahara_host_config cfg;
	enum edl_sahara_host_state state;
	enum edl_engine_status status;
	enum edl_sahara_outcome outcome;
	struct edl_error err;
	struct edl_sahara_identity id;
	struct edl_log *log;
	uint64_t deadline;
	uint32_t wait_ms; /* length of the wait behind the deadline, for messages */

	/* Output: a ring of chunks; packets live in the slot, image data in the image. */
	struct out_slot out[OUT_SLOTS];
	size_t out_head;
	size_t out_count;

	/* Command mode. */
	bool identified; /* command mode done, SWITCH_MODE(0) sent */
	uint32_t exec_seq[MAX_EXEC_STEPS];
	size_t n_exec;
	size_t exec_idx;
	uint32_t exec_len; /* data_length announced by EXECUTE_RESP */

	/* HELLO and image transfer. */
	enum hello_reason hello_reason;
	unsigned hello_repeats; /* HELLOs answered again since the last progress */
	bool any_read;          /* a READ_DATA came since the last HELLO_RESP */
	bool *image_done;       /* END_OF_IMAGE success per configured image */

	/* Probe, flush and discarded bytes. */
	bool probe_sent;
	uint64_t flushed;   /* filler bytes handed out */
	bool flush_stamped; /* final wait armed after the last filler chunk */
	uint64_t discarded; /* bytes neither Sahara nor XML, while classifying */
	char junk_hex[64];  /* the first such transfer, for the failure */
	size_t junk_len;
	char junk_why[160];
	uint8_t *leftover;
	size_t leftover_len;

	/* Memory dump (cfg.dump). */
	struct edl_sahara_dumper *dumper;
	bool dump_fresh; /* no byte of the outstanding read has come yet */
	uint64_t now;    /* of the transfer being fed */
};

static const char *const state_names[] = {
#define EDL_XX_STATE_NAME(sym, name) name,
        EDL_SAHARA_HOST_STATE_TABLE(EDL_XX_STATE_NAME)
#undef EDL_XX_STATE_NAME
};

const char *edl_sahara_host_state_name(enum edl_sahara_host_state state)
{
	if ((size_t)state < sizeof(state_names) / sizeof(state_names[0]))
		return state_names[state];
	return "unknown state";
}

void edl_sahara_host_config_default(struct edl_sahara_host_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->identify = true;
	cfg->upload = true;
	cfg->hello_wait_ms = 500;
	cfg->probe_wait_ms = 1000;
	cfg->packet_timeout_ms = 5000;
	cfg->hello_version = 2;
	cfg->flush_max_bytes = EDL_SAHARA_FLUSH_DEFAULT;
}

int edl_sahara_host_new(struct edl_sahara_host **out, const struct edl_sahara_host_config *cfg)
{
	struct edl_sahara_host *h;
	size_t i;

	*out = NULL;
	if (cfg->upload && cfg->n_images == 0)
		return EDL_E_INVAL;
	for (i = 0; i < cfg->n_images; i++)
		if (cfg->images[i].data == NULL && cfg->images[i].len > 0)
			return EDL_E_INVAL;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return EDL_E_NOMEM;
	if (cfg->n_images > 0) {
		h->image_done = calloc(cfg->n_images, sizeof(*h->image_done));
		if (h->image_done == NULL) {
			free(h);
			return EDL_E_NOMEM;
		}
	}
	h->cfg = *cfg;
	if (h->cfg.hello_wait_ms == 0)
		h->cfg.hello_wait_ms = 500;
	if (h->cfg.probe_wait_ms == 0)
		h->cfg.probe_wait_ms = 1000;
	if (h->cfg.packet_timeout_ms == 0)
		h->cfg.packet_timeout_ms = 5000;
	if (h->cfg.hello_version == 0)
		h->cfg.hello_version = 2;
	h->state = EDL_SAHARA_HOST_IDLE;
	h->status = EDL_ENGINE_RUNNING;
	edl_error_clear(&h->err);
	*out = h;
	return EDL_OK;
}

void edl_sahara_host_free(struct edl_sahara_host *h)
{
	if (h == NULL)
		return;
	free(h->image_done);
	free(h->leftover);
	edl_sahara_dumper_free(h->dumper);
	free(h);
}

void edl_sahara_host_set_log(struct edl_sahara_host *h, struct edl_log *log)
{
	h->log = log;
}

/* The one place the state changes; wait_ms 0 = no deadline. */
static void set_state(struct edl_sahara_host *h, enum edl_sahara_host_state state, uint64_t now,
                      uint32_t wait_ms)
{
	if (state != h->state && state != EDL_SAHARA_HOST_FINISHED)
		edl_log_debug(h->log, "sahara: -> %s", edl_sahara_host_state_name(state));
	h->state = state;
	h->wait_ms = wait_ms;
	h->deadline = wait_ms ? now + wait_ms : 0;
}

__attribute__((format(printf, 3, 4))) static int fail(struct edl_sahara_host *h, int code,
                                                      const char *fmt, ...)
{
	va_list ap;

	h->status = EDL_ENGINE_FAILED;
	h->err.code = code;
	va_start(ap, fmt);
	vsnprintf(h->err.detail, sizeof(h->err.detail), fmt, ap);
	va_end(ap);
	set_state(h, EDL_SAHARA_HOST_FINISHED, 0, 0);
	edl_log_debug(h->log, "sahara: failed: %s", h->err.detail);
	return code;
}

static int finish(struct edl_sahara_host *h, enum edl_sahara_outcome outcome)
{
	h->outcome = outcome;
	h->status = EDL_ENGINE_DONE;
	set_state(h, EDL_SAHARA_HOST_FINISHED, 0, 0);
	return EDL_OK;
}

static const char *state_name(const struct edl_sahara_host *h)
{
	return edl_sahara_host_state_name(h->state);
}

/* Queues a chunk pointing at data (an image or a constant): no copy. No chunk
 * asks for a ZLP: nothing in Sahara needs one, and a ZLP after a READ_DATA
 * answer stalls the endpoint on QCS8550 (qdl #320; QFirehose sahara_tx_data
 * "need_zlp = 0"). */
static int send_ref(struct edl_sahara_host *h, const uint8_t *data, size_t len)
{
	struct out_slot *s;

	if (h->out_count == OUT_SLOTS)
		return fail(h, EDL_E_INTERNAL,
		            "%d chunks queued and none taken: the driver must drain "
		            "edl_sahara_host_next_out()",
		            OUT_SLOTS);
	s = &h->out[(h->out_head + h->out_count) % OUT_SLOTS];
	s->chunk.data = data;
	s->chunk.len = len;
	s->chunk.zlp = false;
	h->out_count++;
	return EDL_OK;
}

/* Queues a copy of an encoded packet. */
static int send_pkt(struct edl_sahara_host *h, const uint8_t *pkt, size_t len)
{
	struct out_slot *s;
	int rc;

	if (len == 0 || len > EDL_SAHARA_MAX_PKT)
		return fail(h, EDL_E_INTERNAL, "encoded packet of %zu bytes", len);
	s = &h->out[(h->out_head + h->out_count) % OUT_SLOTS];
	rc = send_ref(h, s->buf, len);
	if (rc != EDL_OK)
		return rc;
	memcpy(s->buf, pkt, len);
	return EDL_OK;
}

static int send_hello_resp(struct edl_sahara_host *h, uint32_t mode, uint32_t dev_compatible,
                           uint32_t dev_version)
{
	uint8_t pkt[EDL_SAHARA_MAX_PKT];
	uint32_t version = h->cfg.hello_version;

	/* A device that cannot talk below its compatible version gets that one. */
	if (dev_compatible > version && dev_compatible <= dev_version)
		version = dev_compatible;
	return send_pkt(h, pkt,
	                edl_sahara_encode_hello_resp(pkt, sizeof(pkt), version, 1, 0, mode));
}

/* RESET, then the outcome that tells the station the unit comes back as a new
 * device: the ROM accepts nothing else now (XBL boot_sahara.c). */
static int reset_and_reenumerate(struct edl_sahara_host *h)
{
	uint8_t pkt[EDL_SAHARA_MAX_PKT];
	int rc = send_pkt(h, pkt, edl_sahara_encode_reset(pkt, sizeof(pkt)));

	if (rc != EDL_OK)
		return rc;
	return finish(h, EDL_SAHARA_OUTCOME_REENUMERATE);
}

static void hex_prefix(char *out, size_t cap, const uint8_t *data, size_t len)
{
	size_t i, n = len < 16 ? len : 16;

	out[0] = '\0';
	for (i = 0; i < n && 3 * i + 3 < cap; i++)
		snprintf(out + 3 * i, cap - 3 * i, "%02x%s", data[i], i + 1 < n ? " " : "");
}

static bool looks_like_xml(const uint8_t *data, size_t len)
{
	size_t i = 0;

	if (len >= 3 && data[0] == 0xef && data[1] == 0xbb && data[2] == 0xbf)
		i = 3; /* UTF-8 byte order mark */
	while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
		i++;
	return i < len && data[i] == '<';
}

/* Where "<?xml" starts inside data, or len: a programmer finishing an
 * interrupted <read> may put the tail of its sectors and its final response
 * in one transfer. */
static size_t find_xml(const uint8_t *data, size_t len)
{
	static const char tag[] = "<?xml";
	size_t i;

	for (i = 0; i + sizeof(tag) - 1 <= len; i++)
		if (data[i] == '<' && memcmp(data + i, tag, sizeof(tag) - 1) == 0)
			return i;
	return len;
}

/* RESET, then the failure: a unit in memory-debug mode takes RESET at any
 * point (boot_sahara), and a dump that cannot go on should not leave it
 * waiting. */
static int dump_fail(struct edl_sahara_host *h, const struct edl_error *e)
{
	uint8_t pkt[EDL_SAHARA_MAX_PKT];
	int rc = send_pkt(h, pkt, edl_sahara_encode_reset(pkt, sizeof(pkt)));

	if (rc != EDL_OK)
		return rc;
	return fail(h, e->code != EDL_OK ? e->code : EDL_E_MEMORY_DUMP, "%s", e->detail);
}

/* The next MEMORY_READ(64), or RESET and DUMPED when every region is read. */
static int dump_next(struct edl_sahara_host *h, uint64_t now)
{
	uint8_t pkt[EDL_SAHARA_MAX_PKT];
	uint64_t addr, len;
	size_t n;
	int rc;

	if (!edl_sahara_dumper_next_read(h->dumper, &addr, &len)) {
		edl_log_info(h->log, "sahara: memory dump complete: %zu regions, %" PRIu64 " bytes",
		             edl_sahara_dumper_regions(h->dumper),
		             edl_sahara_dumper_done_bytes(h->dumper));
		rc = send_pkt(h, pkt, edl_sahara_encode_reset(pkt, sizeof(pkt)));
		return rc == EDL_OK ? finish(h, EDL_SAHARA_OUTCOME_DUMPED) : rc;
	}
	if (edl_sahara_dumper_is64(h->dumper))
		n = edl_sahara_encode_memory_read64(pkt, sizeof(pkt), addr, len);
	else
		n = edl_sahara_encode_memory_read(pkt, sizeof(pkt), (uint32_t)addr, (uint32_t)len);
	rc = send_pkt(h, pkt, n);
	if (rc == EDL_OK) {
		h->dump_fresh = true;
		set_state(h, EDL_SAHARA_HOST_DUMP, now, h->cfg.packet_timeout_ms);
	}
	return rc;
}

/* MEMORY_DEBUG(64): the table's address and length; the dump starts. */
static int dump_start(struct edl_sahara_host *h, const struct edl_sahara_pkt *pkt, uint64_t now)
{
	struct edl_error e;
	bool is64 = pkt->cmd == EDL_SAHARA_MEMORY_DEBUG64;

	edl_error_clear(&e);
	edl_log_info(h->log,
	             "sahara: memory-dump mode: %s table at 0x%" PRIx64 ", %" PRIu64 " bytes",
	             edl_sahara_cmd_name(pkt->cmd), pkt->u.mem.addr, pkt->u.mem.len);
	edl_sahara_dumper_free(h->dumper);
	h->dumper = NULL;
	if (edl_sahara_dumper_new(&h->dumper, h->cfg.dump, is64, pkt->u.mem.addr, pkt->u.mem.len,
	                          h->cfg.dump_read_bytes, &e) != EDL_OK)
		return dump_fail(h, &e);
	return dump_next(h, now);
}

/* Raw bytes answering the outstanding MEMORY_READ, or the ROM's refusal. */
static int on_dump_data(struct edl_sahara_host *h, const uint8_t *data, size_t len, uint64_t now)
{
	struct edl_sahara_pkt pkt;
	struct edl_error e;
	char what[96];

	edl_error_clear(&e);
	edl_sahara_dumper_what(h->dumper, what, sizeof(what));
	/* A refused read is answered END_OF_IMAGE instead of the bytes. */
	if (h->dump_fresh && len == 16 && edl_sahara_decode(&pkt, data, len, NULL) == EDL_OK &&
	    pkt.cmd == EDL_SAHARA_END_OF_IMAGE && pkt.u.end_of_image.status != 0) {
		edl_error_set(&e, EDL_E_MEMORY_DUMP,
		              "the unit refused to read %s: status 0x%02x (%s)", what,
		              pkt.u.end_of_image.status,
		              edl_sahara_status_name(pkt.u.end_of_image.status));
		return dump_fail(h, &e);
	}
	h->dump_fresh = false;
	if (edl_sahara_dumper_feed(h->dumper, data, len, &e) != EDL_OK)
		return dump_fail(h, &e);
	if (edl_sahara_dumper_due(h->dumper) > 0) {
		set_state(h, EDL_SAHARA_HOST_DUMP, now, h->cfg.packet_timeout_ms);
		return EDL_OK;
	}
	return dump_next(h, now);
}

static int memory_dump(struct edl_sahara_host *h, const struct edl_sahara_pkt *pkt)
{
	int rc;

	if (h->cfg.dump != NULL && pkt->cmd == EDL_SAHARA_HELLO) {
		/* Answer in the ROM's mode, as qdl does (it echoes the HELLO's mode). */
		if (h->state == EDL_SAHARA_HOST_WAIT_MEM_DEBUG &&
		    ++h->hello_repeats > MAX_HELLO_REPEATS)
			return fail(h, EDL_E_SAHARA_UNEXPECTED,
			            "device sent HELLO %u times in a row while %s: it never takes "
			            "our HELLO_RESP",
			            h->hello_repeats, state_name(h));
		h->id.sahara_version = pkt->u.hello.version;
		rc = send_hello_resp(h, EDL_SAHARA_MODE_MEMORY_DEBUG,
		                     pkt->u.hello.version_compatible, pkt->u.hello.version);
		if (rc == EDL_OK)
			set_state(h, EDL_SAHARA_HOST_WAIT_MEM_DEBUG, h->now,
			          h->cfg.packet_timeout_ms);
		return rc;
	}
	if (h->cfg.dump != NULL &&
	    (pkt->cmd == EDL_SAHARA_MEMORY_DEBUG || pkt->cmd == EDL_SAHARA_MEMORY_DEBUG64))
		return dump_start(h, pkt, h->now);
	if (pkt->cmd == EDL_SAHARA_HELLO)
		return fail(h, EDL_E_MEMORY_DUMP,
		            "unit is in memory-dump mode: HELLO mode 2 (memory debug), Sahara "
		            "version %u; not collected: no dump directory ([rma] dump_dir)",
		            pkt->u.hello.version);
	return fail(h, EDL_E_MEMORY_DUMP,
	            "unit is in memory-dump mode: %s with a region table at 0x%llx (%llu bytes); "
	            "not collected: no dump directory ([rma] dump_dir)",
	            edl_sahara_cmd_name(pkt->cmd), (unsigned long long)pkt->u.mem.addr,
	            (unsigned long long)pkt->u.mem.len);
}

static int unexpected(struct edl_sahara_host *h, const struct edl_sahara_pkt *pkt)
{
	if (pkt->cmd == EDL_SAHARA_MEMORY_DEBUG || pkt->cmd == EDL_SAHARA_MEMORY_DEBUG64)
		return memory_dump(h, pkt);
	if (pkt->cmd == EDL_SAHARA_END_OF_IMAGE && pkt->u.end_of_image.status != 0)
		return fail(h, EDL_E_SAHARA_END_STATUS,
		            "device sent END_OF_IMAGE for image 0x%02x with status 0x%02x (%s) "
		            "while %s",
		            pkt->u.end_of_image.image_id, pkt->u.end_of_image.status,
		            edl_sahara_status_name(pkt->u.end_of_image.status), state_name(h));
	return fail(h, EDL_E_SAHARA_UNEXPECTED, "%s (0x%02x) not expected while %s",
	            edl_sahara_cmd_name(pkt->cmd), pkt->cmd, state_name(h));
}

/* ---- command mode ---- */

static int next_exec(struct edl_sahara_host *h, uint64_t now)
{
	uint8_t pkt[EDL_SAHARA_MAX_PKT];
	int rc;

	if (h->exec_idx < h->n_exec) {
		rc = send_pkt(
		        h, pkt,
		        edl_sahara_encode_execute(pkt, sizeof(pkt), h->exec_seq[h->exec_idx]));
		if (rc == EDL_OK)
			set_state(h, EDL_SAHARA_HOST_WAIT_EXEC_RESP, now, h->cfg.packet_timeout_ms);
		return rc;
	}
	/* Identity read: back to image transfer; the device answers with a fresh HELLO. */
	rc = send_pkt(
	        h, pkt,
	        edl_sahara_encode_switch_mode(pkt, sizeof(pkt), EDL_SAHARA_MODE_IMAGE_TX_PENDING));
	if (rc == EDL_OK) {
		h->identified = true;
		h->hello_reason = HELLO_AFTER_SWITCH;
		set_state(h, EDL_SAHARA_HOST_WAIT_HELLO, now, h->cfg.packet_timeout_ms);
	}
	return rc;
}

/*
 * Keeps the hash itself out of what the ROM answers: SHA-256 parts repeat the
 * 32-byte hash, SHA-384 parts send 48 bytes and 96 zeros (edl #701 SDX55, #816,
 * #477). As qdl's sahara_pkhash_trim: trailing zeros go, then a repeat, then the
 * length is rounded up to a digest size so a hash ending in zero bytes keeps them.
 */
static void store_pk_hash(struct edl_sahara_host *h, const uint8_t *data, size_t len)
{
	static const size_t blocks[] = {32, 48, 64};
	size_t i, t = len, keep;

	while (t > 0 && data[t - 1] == 0)
		t--;
	if (t == 0) {
		/* Nothing but zeros: an answer all the same (no OEM key fused). */
		keep = len < 32 ? len : 32;
		memset(h->id.pk_hash, 0, sizeof(h->id.pk_hash));
		h->id.pk_hash_len = keep;
		return;
	}
	for (i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++) {
		size_t b = blocks[i];

		/* The second copy may have lost its own trailing zeros to the trim. */
		if (t > b && t <= 2 * b && memcmp(data, data + b, t - b) == 0) {
			t = b;
			break;
		}
	}
	keep = t;
	for (i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++) {
		if (t <= blocks[i]) {
			keep = blocks[i];
			break;
		}
	}
	if (keep > sizeof(h->id.pk_hash))
		keep = sizeof(h->id.pk_hash);
	if (keep > len)
		keep = len;
	memset(h->id.pk_hash, 0, sizeof(h->id.pk_hash));
	memcpy(h->id.pk_hash, data, keep);
	h->id.pk_hash_len = keep;
}

static void store_hwid(struct edl_sahara_host *h, uint32_t msm, uint16_t oem, uint16_t model)
{
	h->id.have_hwid = true;
	h->id.msm_id = msm;
	h->id.oem_id = oem;
	h->id.model_id = model;
	h->id.hwid = ((uint64_t)msm << 32) | ((uint64_t)oem << 16) | model;
}

/* Records one command-mode answer. Only a serial too short to read stops the
 * job: the other items are informative, a short answer leaves them "not
 * present". Longer answers are real: the serial is 8 bytes on SDX7x v3 (serial
 * and chip id, edl #663), the HW id 24 bytes on SDM845 (edl #398); the first
 * bytes carry the value either way. */
static int store_exec(struct edl_sahara_host *h, uint32_t cmd, const uint8_t *d, size_t len)
{
	uint16_t oem;

	switch (cmd) {
	case EDL_SAHARA_EXEC_SERIAL:
		if (len < 4)
			return fail(h, EDL_E_SAHARA_EXEC,
			            "serial number answer is %zu bytes, 4 are needed", len);
		h->id.have_serial = true;
		h->id.serial = edl_sahara_get_le32(d);
		snprintf(h->id.serial_hex, sizeof(h->id.serial_hex), "%08x", h->id.serial);
		break;
	case EDL_SAHARA_EXEC_MSM_HWID:
		if (len >= 8) {
			uint64_t v = edl_sahara_get_le64(d);

			store_hwid(h, (uint32_t)(v >> 32), (uint16_t)(v >> 16), (uint16_t)v);
		}
		break;
	case EDL_SAHARA_EXEC_CHIP_ID_V3:
		if (len >= 44) {
			oem = edl_sahara_get_le16(d + 40);
			if (oem == 0 && len >= 46)
				oem = edl_sahara_get_le16(d + 44);
			store_hwid(h, edl_sahara_get_le32(d + 36), oem,
			           edl_sahara_get_le16(d + 42));
		}
		break;
	case EDL_SAHARA_EXEC_PK_HASH:
		store_pk_hash(h, d, len);
		break;
	case EDL_SAHARA_EXEC_SBL_VERSION:
		if (len >= 4) {
			h->id.have_sbl_version = true;
			h->id.sbl_version = edl_sahara_get_le32(d);
		}
		break;
	}
	return EDL_OK;
}

/*
 * The device refused the current EXECUTE (END_OF_IMAGE or a zero-length
 * answer). Identification ends with what was learnt (a refused serial fails, as
 * before): on XBL an unsupported
 * EXECUTE leaves the ROM accepting only RESET (boot_sahara.c), so asking the
 * next item would only collect more refusals; SWITCH_MODE(0) follows, and an
 * END_OF_IMAGE to that too means RESET (WAIT_HELLO).
 */
static int exec_refused(struct edl_sahara_host *h, uint32_t status, uint64_t now)
{
	uint32_t cmd = h->exec_seq[h->exec_idx];

	/* No serial, no unit to record: and re-enumerating would meet the same refusal. */
	if (cmd == EDL_SAHARA_EXEC_SERIAL)
		return fail(h, EDL_E_SAHARA_EXEC,
		            "device refused EXECUTE 0x01 (serial number): status 0x%02x (%s)",
		            status, edl_sahara_status_name(status));
	h->id.refused_exec = cmd;
	h->id.refused_status = status;
	edl_log_debug(h->log,
	              "sahara: device refused EXECUTE 0x%02x: status 0x%02x (%s); ending "
	              "command mode",
	              cmd, status, edl_sahara_status_name(status));
	h->exec_idx = h->n_exec;
	return next_exec(h, now);
}

static int on_exec_resp(struct edl_sahara_host *h, const struct edl_sahara_pkt *pkt, uint64_t now)
{
	uint8_t out[EDL_SAHARA_MAX_PKT];
	uint32_t cmd = h->exec_seq[h->exec_idx];
	int rc;

	if (pkt->cmd == EDL_SAHARA_END_OF_IMAGE)
		return exec_refused(h, pkt->u.end_of_image.status, now);
	if (pkt->cmd != EDL_SAHARA_EXECUTE_RESP)
		return unexpected(h, pkt);
	if (pkt->u.exec.client_cmd != cmd)
		return fail(h, EDL_E_SAHARA_UNEXPECTED,
		            "EXECUTE_RESP for client command 0x%02x while waiting for the answer "
		            "to 0x%02x",
		            pkt->u.exec.client_cmd, cmd);
	if (pkt->u.exec.data_length == 0)
		return exec_refused(h, EDL_SAHARA_STATUS_EXEC_CMD_UNSUPPORTED, now);
	if (pkt->u.exec.data_length > MAX_EXEC_DATA)
		return fail(h, EDL_E_SAHARA_EXEC,
		            "EXECUTE_RESP for client command 0x%02x announces %u bytes, more than "
		            "%d",
		            cmd, pkt->u.exec.data_length, MAX_EXEC_DATA);
	h->exec_len = pkt->u.exec.data_length;
	rc = send_pkt(h, out, edl_sahara_encode_execute_data(out, sizeof(out), cmd));
	if (rc == EDL_OK)
		set_state(h, EDL_SAHARA_HOST_WAIT_EXEC_DATA, now, h->cfg.packet_timeout_ms);
	return rc;
}

static int on_exec_data(struct edl_sahara_host *h, const uint8_t *data, size_t len, uint64_t now)
{
	uint32_t cmd = h->exec_seq[h->exec_idx];
	struct edl_sahara_pkt pkt;
	int rc;

	if (len != h->exec_len) {
		if (edl_sahara_decode(&pkt, data, len, NULL) == EDL_OK) {
			/* A ROM that changed its mind answers END_OF_IMAGE instead of the data. */
			if (pkt.cmd == EDL_SAHARA_END_OF_IMAGE)
				return exec_refused(h, pkt.u.end_of_image.status, now);
			if (pkt.cmd == EDL_SAHARA_HELLO) {
				edl_log_debug(h->log,
				              "sahara: HELLO out of sequence while %s: "
				              "discarded",
				              state_name(h));
				return EDL_OK;
			}
		}
		return fail(h, EDL_E_SAHARA_LENGTH,
		            "answer to EXECUTE 0x%02x is %zu bytes, EXECUTE_RESP announced %u", cmd,
		            len, h->exec_len);
	}
	rc = store_exec(h, cmd, data, len);
	if (rc != EDL_OK)
		return rc;
	h->exec_idx++;
	return next_exec(h, now);
}

/* ---- HELLO, probe, image transfer ---- */

static bool skip_exec(const struct edl_sahara_host *h, uint32_t cmd)
{
	return cmd < 32 && (h->cfg.skip_exec_mask & (UINT32_C(1) << cmd)) != 0;
}

static int on_hello(struct edl_sahara_host *h, const struct edl_sahara_pkt *pkt, uint64_t now)
{
	int rc;

	if (pkt->u.hello.mode == EDL_SAHARA_MODE_MEMORY_DEBUG)
		return memory_dump(h, pkt);
	h->id.sahara_version = pkt->u.hello.version;
	h->any_read = false;
	if (h->cfg.identify && !h->identified) {
		/* Serial, HW id (chip id on v3), PK hash, as edl asks. Not the SBL
		 * version (0x07): edl has it commented out, and on XBL an unsupported
		 * EXECUTE leaves only RESET. */
		uint32_t hwid = pkt->u.hello.version >= 3 ? EDL_SAHARA_EXEC_CHIP_ID_V3
		                                          : EDL_SAHARA_EXEC_MSM_HWID;

		h->n_exec = 0;
		h->exec_idx = 0;
		h->exec_seq[h->n_exec++] = EDL_SAHARA_EXEC_SERIAL;
		if (!skip_exec(h, hwid))
			h->exec_seq[h->n_exec++] = hwid;
		if (!skip_exec(h, EDL_SAHARA_EXEC_PK_HASH))
			h->exec_seq[h->n_exec++] = EDL_SAHARA_EXEC_PK_HASH;
		rc = send_hello_resp(h, EDL_SAHARA_MODE_COMMAND, pkt->u.hello.version_compatible,
		                     pkt->u.hello.version);
		if (rc == EDL_OK)
			set_state(h, EDL_SAHARA_HOST_WAIT_CMD_READY, now, h->cfg.packet_timeout_ms);
		return rc;
	}
	if (!h->cfg.upload)
		return finish(h, EDL_SAHARA_OUTCOME_IDENTIFIED);
	rc = send_hello_resp(h, EDL_SAHARA_MODE_IMAGE_TX_PENDING, pkt->u.hello.version_compatible,
	                     pkt->u.hello.version);
	if (rc == EDL_OK)
		set_state(h, EDL_SAHARA_HOST_TRANSFER, now, h->cfg.packet_timeout_ms);
	return rc;
}

/* A HELLO after our HELLO_RESP, before the ROM's next packet: the ROM took
 * something of ours as junk while waiting for HELLO_RESP (typically the probe
 * crossing its HELLO) and said HELLO again (boot_sahara.c process_packets). */
static int on_repeated_hello(struct edl_sahara_host *h, const struct edl_sahara_pkt *pkt,
                             uint64_t now)
{
	if (pkt->u.hello.mode == EDL_SAHARA_MODE_MEMORY_DEBUG)
		return memory_dump(h, pkt);
	if (h->hello_repeats >= MAX_HELLO_REPEATS)
		return fail(h, EDL_E_SAHARA_UNEXPECTED,
		            "device sent HELLO %u times in a row while %s: it never takes our "
		            "HELLO_RESP",
		            h->hello_repeats + 1, state_name(h));
	h->hello_repeats++;
	edl_log_debug(h->log, "sahara: HELLO again while %s: answering with a fresh HELLO_RESP",
	              state_name(h));
	return on_hello(h, pkt, now);
}

/* Keeps the XML (from offset at) for the Firehose engine: a programmer runs. */
static int firehose_running(struct edl_sahara_host *h, const uint8_t *data, size_t len)
{
	h->leftover = malloc(len);
	if (h->leftover == NULL)
		return fail(h, EDL_E_NOMEM, "keeping %zu bytes of Firehose XML", len);
	memcpy(h->leftover, data, len);
	h->leftover_len = len;
	if (h->discarded > 0 || h->flushed > 0)
		edl_log_debug(h->log,
		              "sahara: programmer answered after %" PRIu64
		              " bytes of filler, %" PRIu64 " bytes discarded",
		              h->flushed, h->discarded);
	return finish(h, EDL_SAHARA_OUTCOME_FIREHOSE_RUNNING);
}

static int unknown_mode(struct edl_sahara_host *h, const char *after)
{
	return fail(h, EDL_E_UNKNOWN_MODE,
	            "first %zu bytes from the device are neither Sahara nor XML: %s (%s); %" PRIu64
	            " bytes in all, %s",
	            h->junk_len, h->junk_hex, h->junk_why, h->discarded, after);
}

/*
 * Bytes that are neither a Sahara packet nor XML while classifying: a
 * programmer left mid-<read> streams the rest of its sectors before its final
 * response. They are counted and dropped, bounded by flush_max_bytes (0: none
 * tolerated) and by the probe deadline.
 */
static int discard(struct edl_sahara_host *h, const uint8_t *data, size_t len,
                   const struct edl_error *derr)
{
	if (h->discarded == 0) {
		hex_prefix(h->junk_hex, sizeof(h->junk_hex), data, len);
		h->junk_len = len;
		snprintf(h->junk_why, sizeof(h->junk_why), "%.150s", derr->detail);
	}
	h->discarded += len;
	if (h->discarded > h->cfg.flush_max_bytes) {
		char after[96];

		snprintf(after, sizeof(after), "more than the %" PRIu64 " tolerated",
		         h->cfg.flush_max_bytes);
		return unknown_mode(h, after);
	}
	return EDL_OK;
}

/* The first answer of the device (to silence, the probe or the filler) classifies it. */
static int on_first(struct edl_sahara_host *h, const uint8_t *data, size_t len, uint64_t now)
{
	struct edl_sahara_pkt pkt;
	struct edl_error derr;
	uint8_t out[EDL_SAHARA_MAX_PKT];
	size_t at;
	int rc;

	/* Once raw sector bytes came, a '<' may be one of them: only "<?xml" counts. */
	if (h->discarded == 0 && looks_like_xml(data, len))
		return firehose_running(h, data, len);
	if (edl_sahara_decode(&pkt, data, len, &derr) != EDL_OK) {
		at = find_xml(data, len);
		if (at < len && h->cfg.flush_max_bytes > 0) {
			h->discarded += at;
			return firehose_running(h, data + at, len - at);
		}
		return discard(h, data, len, &derr);
	}
	if (pkt.cmd == EDL_SAHARA_HELLO)
		return on_hello(h, &pkt, now);
	if (pkt.cmd == EDL_SAHARA_MEMORY_DEBUG || pkt.cmd == EDL_SAHARA_MEMORY_DEBUG64)
		return memory_dump(h, &pkt);
	/* A boot ROM alive past its HELLO (typically END_OF_IMAGE "invalid command" to the
	 * probe): restart its state machine and take the fresh HELLO. */
	rc = send_pkt(h, out, edl_sahara_encode_reset_state_machine(out, sizeof(out)));
	if (rc == EDL_OK) {
		h->hello_reason = HELLO_AFTER_RSM;
		set_state(h, EDL_SAHARA_HOST_WAIT_HELLO, now, h->cfg.packet_timeout_ms);
	}
	return rc;
}

/* With one image it is the programmer whatever id the ROM gives it: 13 on
 * SDX55/SDX24/MDM9x07, 7 for NPRG9x55 and 21 for the AG35 sbl1 (QFirehose);
 * edl takes any id >= 0x0c as Firehose. With several, the id chooses. */
static const struct edl_sahara_image *find_image(const struct edl_sahara_host *h, uint64_t id,
                                                 size_t *index)
{
	size_t i;

	if (h->cfg.n_images == 1) {
		*index = 0;
		return &h->cfg.images[0];
	}
	for (i = 0; i < h->cfg.n_images; i++) {
		if (h->cfg.images[i].id == id) {
			*index = i;
			return &h->cfg.images[i];
		}
	}
	return NULL;
}

static int on_read_data(struct edl_sahara_host *h, const struct edl_sahara_pkt *pkt, uint64_t now)
{
	size_t idx = 0;
	const struct edl_sahara_image *img = find_image(h, pkt->u.read_data.image_id, &idx);
	uint64_t off = pkt->u.read_data.offset, n = pkt->u.read_data.length;
	uint8_t out[EDL_SAHARA_MAX_PKT];
	char have[128];
	size_t i, used = 0;
	int rc;

	if (img == NULL) {
		have[0] = '\0';
		for (i = 0; i < h->cfg.n_images && used + 8 < sizeof(have); i++)
			used += (size_t)snprintf(have + used, sizeof(have) - used, "%s0x%02x",
			                         i ? ", " : "", h->cfg.images[i].id);
		return fail(h, EDL_E_SAHARA_NO_IMAGE,
		            "%s asks for image 0x%02llx; the host has image(s) %s",
		            edl_sahara_cmd_name(pkt->cmd),
		            (unsigned long long)pkt->u.read_data.image_id, used ? have : "none");
	}
	if (!h->any_read)
		edl_log_info(h->log, "sahara: device asks for image id 0x%02llx%s",
		             (unsigned long long)pkt->u.read_data.image_id,
		             pkt->u.read_data.image_id != img->id ? "; serving the one programmer"
		                                                  : "");
	h->any_read = true;
	h->hello_repeats = 0;
	if (n == 0 || off > img->len || n > img->len - off) {
		/* Tell the device to give up before failing: it reboots into EDL. */
		rc = send_pkt(h, out, edl_sahara_encode_reset(out, sizeof(out)));
		if (rc != EDL_OK)
			return rc;
		return fail(h, EDL_E_SAHARA_READ_RANGE,
		            "%s offset 0x%llx length 0x%llx is outside image 0x%02x of %zu bytes",
		            edl_sahara_cmd_name(pkt->cmd), (unsigned long long)off,
		            (unsigned long long)n, img->id, img->len);
	}
	rc = send_ref(h, img->data + off, (size_t)n);
	if (rc == EDL_OK)
		set_state(h, EDL_SAHARA_HOST_TRANSFER, now, h->cfg.packet_timeout_ms);
	return rc;
}

static int on_transfer(struct edl_sahara_host *h, const struct edl_sahara_pkt *pkt, uint64_t now)
{
	uint8_t out[EDL_SAHARA_MAX_PKT];
	size_t idx;
	int rc;

	switch (pkt->cmd) {
	case EDL_SAHARA_READ_DATA:
	case EDL_SAHARA_READ_DATA64:
		return on_read_data(h, pkt, now);
	case EDL_SAHARA_END_OF_IMAGE:
		if (pkt->u.end_of_image.status != 0)
			return fail(h, EDL_E_SAHARA_END_STATUS,
			            "device ended image 0x%02x with status 0x%02x (%s)",
			            pkt->u.end_of_image.image_id, pkt->u.end_of_image.status,
			            edl_sahara_status_name(pkt->u.end_of_image.status));
		if (find_image(h, pkt->u.end_of_image.image_id, &idx) != NULL)
			h->image_done[idx] = true;
		rc = send_pkt(h, out, edl_sahara_encode_done(out, sizeof(out)));
		if (rc == EDL_OK)
			set_state(h, EDL_SAHARA_HOST_WAIT_DONE_RESP, now, h->cfg.packet_timeout_ms);
		return rc;
	}
	return unexpected(h, pkt);
}

static bool all_images_done(const struct edl_sahara_host *h)
{
	size_t i;

	for (i = 0; i < h->cfg.n_images; i++)
		if (!h->image_done[i])
			return false;
	return true;
}

static int on_done_resp(struct edl_sahara_host *h, const struct edl_sahara_pkt *pkt, uint64_t now)
{
	if (pkt->cmd != EDL_SAHARA_DONE_RESP)
		return unexpected(h, pkt);
	switch (pkt->u.done_resp.status) {
	case EDL_SAHARA_MODE_IMAGE_TX_COMPLETE:
		return finish(h, EDL_SAHARA_OUTCOME_PROGRAMMER_LOADED);
	case EDL_SAHARA_MODE_IMAGE_TX_PENDING:
		/* MSM8916 and MDM9x07 say "pending" after their only image (qdl
		 * sahara_has_done_pending_quirk; QFirehose ids 7/13/21; boot_sahara.c
		 * sets COMPLETE only for its own last image): with nothing left to
		 * send, the programmer now runs. */
		if (all_images_done(h)) {
			edl_log_debug(h->log,
			              "sahara: DONE_RESP says pending after the last image: "
			              "the programmer runs");
			return finish(h, EDL_SAHARA_OUTCOME_PROGRAMMER_LOADED);
		}
		/* Another image is wanted: the device starts over with a HELLO. */
		h->hello_reason = HELLO_AFTER_DONE;
		set_state(h, EDL_SAHARA_HOST_WAIT_HELLO, now, h->cfg.packet_timeout_ms);
		return EDL_OK;
	}
	return fail(h, EDL_E_SAHARA_UNEXPECTED,
	            "DONE_RESP status %u is neither 0 (more images) nor 1 (complete)",
	            pkt->u.done_resp.status);
}

static int on_wait_hello(struct edl_sahara_host *h, const struct edl_sahara_pkt *pkt, uint64_t now)
{
	if (pkt->cmd == EDL_SAHARA_HELLO)
		return on_hello(h, pkt, now);
	if (pkt->cmd != EDL_SAHARA_END_OF_IMAGE)
		return unexpected(h, pkt);
	switch (h->hello_reason) {
	case HELLO_AFTER_SWITCH:
		edl_log_info(h->log,
		             "sahara: device answered SWITCH_MODE with END_OF_IMAGE status 0x%02x "
		             "(%s): it takes only RESET now; resetting, the unit re-enumerates",
		             pkt->u.end_of_image.status,
		             edl_sahara_status_name(pkt->u.end_of_image.status));
		return reset_and_reenumerate(h);
	case HELLO_AFTER_RSM:
		edl_log_info(h->log,
		             "sahara: device answered RESET_STATE_MACHINE with END_OF_IMAGE status "
		             "0x%02x (%s): the ROM has no RESET_STATE_MACHINE handler; resetting, "
		             "the unit re-enumerates",
		             pkt->u.end_of_image.status,
		             edl_sahara_status_name(pkt->u.end_of_image.status));
		return reset_and_reenumerate(h);
	case HELLO_AFTER_DONE:
		break;
	}
	return unexpected(h, pkt);
}

void edl_sahara_host_start(struct edl_sahara_host *h, uint64_t now)
{
	if (h->state != EDL_SAHARA_HOST_IDLE)
		return;
	set_state(h, EDL_SAHARA_HOST_WAIT_FIRST, now, h->cfg.hello_wait_ms);
}

int edl_sahara_host_feed(struct edl_sahara_host *h, const uint8_t *data, size_t len, uint64_t now)
{
	struct edl_sahara_pkt pkt;
	struct edl_error derr;

	if (h->status != EDL_ENGINE_RUNNING)
		return h->status == EDL_ENGINE_FAILED ? h->err.code : EDL_OK;
	if (len == 0)
		return EDL_OK;
	h->now = now;
	switch (h->state) {
	case EDL_SAHARA_HOST_DUMP:
		return on_dump_data(h, data, len, now);
	case EDL_SAHARA_HOST_IDLE:
		return fail(h, EDL_E_SAHARA_UNEXPECTED, "%zu bytes fed before the engine started",
		            len);
	case EDL_SAHARA_HOST_WAIT_FIRST:
	case EDL_SAHARA_HOST_WAIT_PROBE:
	case EDL_SAHARA_HOST_WAIT_FLUSH:
		return on_first(h, data, len, now);
	case EDL_SAHARA_HOST_WAIT_EXEC_DATA:
		return on_exec_data(h, data, len, now);
	default:
		break;
	}

	if (edl_sahara_decode(&pkt, data, len, &derr) != EDL_OK)
		return fail(h, derr.code, "%s, while %s", derr.detail, state_name(h));
	if (pkt.cmd == EDL_SAHARA_HELLO && h->state != EDL_SAHARA_HOST_WAIT_HELLO) {
		if (h->state == EDL_SAHARA_HOST_WAIT_CMD_READY ||
		    h->state == EDL_SAHARA_HOST_WAIT_MEM_DEBUG ||
		    (h->state == EDL_SAHARA_HOST_TRANSFER && !h->any_read))
			return on_repeated_hello(h, &pkt, now);
		/* Past the handshake a HELLO is stale: QSaharaServer discards it too. */
		edl_log_debug(h->log, "sahara: HELLO out of sequence while %s: discarded",
		              state_name(h));
		return EDL_OK;
	}
	switch (h->state) {
	case EDL_SAHARA_HOST_WAIT_HELLO:
		return on_wait_hello(h, &pkt, now);
	case EDL_SAHARA_HOST_WAIT_CMD_READY:
		if (pkt.cmd == EDL_SAHARA_CMD_READY) {
			h->hello_repeats = 0;
			return next_exec(h, now);
		}
		if (pkt.cmd == EDL_SAHARA_END_OF_IMAGE && pkt.u.end_of_image.status != 0)
			return fail(h, EDL_E_SAHARA_EXEC,
			            "device refused command mode: status 0x%02x (%s)",
			            pkt.u.end_of_image.status,
			            edl_sahara_status_name(pkt.u.end_of_image.status));
		break;
	case EDL_SAHARA_HOST_WAIT_EXEC_RESP:
		return on_exec_resp(h, &pkt, now);
	case EDL_SAHARA_HOST_WAIT_MEM_DEBUG:
		if (pkt.cmd == EDL_SAHARA_END_OF_IMAGE && pkt.u.end_of_image.status != 0)
			return fail(h, EDL_E_MEMORY_DUMP,
			            "the unit refused memory-debug mode: status 0x%02x (%s)",
			            pkt.u.end_of_image.status,
			            edl_sahara_status_name(pkt.u.end_of_image.status));
		break;
	case EDL_SAHARA_HOST_TRANSFER:
		return on_transfer(h, &pkt, now);
	case EDL_SAHARA_HOST_WAIT_DONE_RESP:
		return on_done_resp(h, &pkt, now);
	default:
		break;
	}
	return unexpected(h, &pkt);
}

/* "16 MiB" or "1000 bytes", for the failure sentence. */
static void size_text(char *out, size_t cap, uint64_t n)
{
	if (n >= FLUSH_CHUNK && n % FLUSH_CHUNK == 0)
		snprintf(out, cap, "%" PRIu64 " MiB", n / FLUSH_CHUNK);
	else
		snprintf(out, cap, "%" PRIu64 " bytes", n);
}

/* The probe got no answer: a programmer taking every byte as raw data until
 * its <program> range is complete swallowed it (Sony's Firehose doc). Zero
 * filler completes such a range; next_out hands it out a chunk at a time. */
static void start_flush(struct edl_sahara_host *h, uint64_t now)
{
	char sz[32];

	size_text(sz, sizeof(sz), h->cfg.flush_max_bytes);
	edl_log_debug(h->log,
	              "sahara: no answer to the probe: sending up to %s of filler for a "
	              "programmer stuck mid-raw-data",
	              sz);
	h->flushed = 0;
	h->flush_stamped = false;
	set_state(h, EDL_SAHARA_HOST_WAIT_FLUSH, now, h->cfg.probe_wait_ms);
}

static void flush_timeout(struct edl_sahara_host *h, uint64_t now)
{
	char sz[32], after[128];

	/* While filler is still to be pulled the wait only re-arms: how fast the
	 * driver sends is the transport's business. The answer wait counts from the
	 * first call after the last chunk was pulled. */
	if (h->flushed < h->cfg.flush_max_bytes || !h->flush_stamped) {
		if (h->flushed >= h->cfg.flush_max_bytes)
			h->flush_stamped = true;
		set_state(h, EDL_SAHARA_HOST_WAIT_FLUSH, now, h->cfg.probe_wait_ms);
		return;
	}
	if (now < h->deadline)
		return;
	size_text(sz, sizeof(sz), h->flushed);
	if (h->discarded > 0) {
		snprintf(after, sizeof(after), "no Firehose XML followed the probe or %s of filler",
		         sz);
		unknown_mode(h, after);
		return;
	}
	fail(h, EDL_E_POWER_CYCLE,
	     "no HELLO within %u ms, no answer to the probe or to %s of filler within %u ms: "
	     "power-cycle the unit",
	     h->cfg.hello_wait_ms, sz, h->cfg.probe_wait_ms);
}

void edl_sahara_host_timeout(struct edl_sahara_host *h, uint64_t now)
{
	char after[96];

	if (h->status != EDL_ENGINE_RUNNING || h->deadline == 0)
		return;
	if (h->state == EDL_SAHARA_HOST_WAIT_FLUSH) {
		flush_timeout(h, now);
		return;
	}
	if (now < h->deadline)
		return;
	switch (h->state) {
	case EDL_SAHARA_HOST_WAIT_FIRST:
		/* Silence: a programmer already running says nothing until spoken to. */
		if (send_ref(h, (const uint8_t *)EDL_SAHARA_PROBE_XML,
		             sizeof(EDL_SAHARA_PROBE_XML) - 1) != EDL_OK)
			return;
		h->probe_sent = true;
		set_state(h, EDL_SAHARA_HOST_WAIT_PROBE, now, h->cfg.probe_wait_ms);
		return;
	case EDL_SAHARA_HOST_WAIT_PROBE:
		if (h->discarded > 0) {
			snprintf(after, sizeof(after),
			         "no Firehose XML followed within %u ms of the probe",
			         h->cfg.probe_wait_ms);
			unknown_mode(h, after);
			return;
		}
		if (h->cfg.flush_max_bytes > 0) {
			start_flush(h, now);
			return;
		}
		fail(h, EDL_E_POWER_CYCLE,
		     "no HELLO within %u ms and no answer to a probe within %u ms: power-cycle "
		     "the unit",
		     h->cfg.hello_wait_ms, h->cfg.probe_wait_ms);
		return;
	default:
		fail(h, EDL_E_SAHARA_TIMEOUT, "no answer within %u ms while %s", h->wait_ms,
		     state_name(h));
		return;
	}
}

bool edl_sahara_host_next_out(struct edl_sahara_host *h, struct edl_chunk *out)
{
	uint64_t left;

	if (h->out_count == 0) {
		if (h->status != EDL_ENGINE_RUNNING || h->state != EDL_SAHARA_HOST_WAIT_FLUSH ||
		    h->flushed >= h->cfg.flush_max_bytes)
			return false;
		left = h->cfg.flush_max_bytes - h->flushed;
		out->data = flush_filler;
		out->len = left < FLUSH_CHUNK ? (size_t)left : FLUSH_CHUNK;
		out->zlp = false;
		h->flushed += out->len;
		return true;
	}
	*out = h->out[h->out_head].chunk;
	h->out_head = (h->out_head + 1) % OUT_SLOTS;
	h->out_count--;
	return true;
}

uint64_t edl_sahara_host_deadline(const struct edl_sahara_host *h)
{
	return h->status == EDL_ENGINE_RUNNING ? h->deadline : 0;
}

enum edl_engine_status edl_sahara_host_status(const struct edl_sahara_host *h)
{
	return h->status;
}

const struct edl_error *edl_sahara_host_error(const struct edl_sahara_host *h)
{
	return &h->err;
}

enum edl_sahara_outcome edl_sahara_host_outcome(const struct edl_sahara_host *h)
{
	return h->outcome;
}

const struct edl_sahara_identity *edl_sahara_host_identity(const struct edl_sahara_host *h)
{
	return &h->id;
}

const uint8_t *edl_sahara_host_leftover(const struct edl_sahara_host *h, size_t *len)
{
	*len = h->leftover_len;
	return h->leftover;
}

void edl_sahara_host_dump_progress(const struct edl_sahara_host *h, uint64_t *done, uint64_t *total)
{
	*done = h->dumper ? edl_sahara_dumper_done_bytes(h->dumper) : 0;
	*total = h->dumper ? edl_sahara_dumper_total_bytes(h->dumper) : 0;
}

bool edl_sahara_host_probe_sent(const struct edl_sahara_host *h)
{
	return h->probe_sent;
}

uint64_t edl_sahara_host_flushed(const struct edl_sahara_host *h)
{
	return h->flushed;
}

uint64_t edl_sahara_host_discarded(const struct edl_sahara_host *h)
{
	return h->discarded;
}

int edl_sahara_host_reset(struct edl_sahara_host *h)
{
	uint8_t pkt[EDL_SAHARA_MAX_PKT];
	enum edl_sahara_host_state was = h->state;
	bool running = h->status == EDL_ENGINE_RUNNING;
	int rc;

	rc = send_pkt(h, pkt, edl_sahara_encode_reset(pkt, sizeof(pkt)));
	if (rc != EDL_OK)
		return rc;
	if (running)
		fail(h, EDL_E_INTERRUPTED, "host sent RESET while %s",
		     edl_sahara_host_state_name(was));
	return EDL_OK;
}

enum edl_sahara_host_state edl_sahara_host_state(const struct edl_sahara_host *h)
{
	return h->state;
}
