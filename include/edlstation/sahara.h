/*
 * Sahara, the boot ROM's protocol (PROTOCOL.md §2): the wire codec shared by
 * both sides, and the host engine that classifies a freshly attached unit (the
 * probe), identifies it in command mode and uploads the programmer.
 *
 * The codec decodes one packet from one USB transfer and encodes every packet
 * of the table into a caller's buffer, little-endian field by field. The host
 * engine is sans-I/O (io.h): the driver feeds received transfers, pulls chunks
 * to send, and calls edl_sahara_host_timeout() when the engine's deadline
 * passes. The device side (the emulated boot ROM) is in pbl.h.
 */
#ifndef EDLSTATION_SAHARA_H
#define EDLSTATION_SAHARA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edlstation/error.h"
#include "edlstation/io.h"
#include "edlstation/log.h"
#include "edlstation/sahara_dump.h"

/* Command ids; every packet starts with u32 cmd, u32 length (whole packet). */
enum edl_sahara_cmd {
	EDL_SAHARA_HELLO = 0x01,          /* dev->host: version, compatible, max_cmd_len, mode */
	EDL_SAHARA_HELLO_RESP = 0x02,     /* host->dev: version, compatible, status, mode */
	EDL_SAHARA_READ_DATA = 0x03,      /* dev->host: image_id, offset, length (u32) */
	EDL_SAHARA_END_OF_IMAGE = 0x04,   /* dev->host: image_id, status */
	EDL_SAHARA_DONE = 0x05,           /* host->dev: image transfer finished */
	EDL_SAHARA_DONE_RESP = 0x06,      /* dev->host: image_tx_status (0 pending, 1 complete) */
	EDL_SAHARA_RESET = 0x07,          /* host->dev: reboot */
	EDL_SAHARA_RESET_RESP = 0x08,     /* dev->host: reboot acknowledged */
	EDL_SAHARA_MEMORY_DEBUG = 0x09,   /* dev->host: table_addr, table_len (u32) */
	EDL_SAHARA_MEMORY_READ = 0x0a,    /* host->dev: addr, len (u32) */
	EDL_SAHARA_CMD_READY = 0x0b,      /* dev->host: command mode entered */
	EDL_SAHARA_SWITCH_MODE = 0x0c,    /* host->dev: mode */
	EDL_SAHARA_EXECUTE = 0x0d,        /* host->dev: client_cmd */
	EDL_SAHARA_EXECUTE_RESP = 0x0e,   /* dev->host: client_cmd, data_length */
	EDL_SAHARA_EXECUTE_DATA = 0x0f,   /* host->dev: client_cmd; raw answer follows */
	EDL_SAHARA_MEMORY_DEBUG64 = 0x10, /* dev->host: table_addr, table_len (u64) */
	EDL_SAHARA_MEMORY_READ64 = 0x11,  /* host->dev: addr, len (u64) */
	EDL_SAHARA_READ_DATA64 = 0x12,    /* dev->host: image_id, offset, length (u64) */
	EDL_SAHARA_RESET_STATE_MACHINE = 0x13, /* host->dev: back to a fresh HELLO */
};

/* Modes of HELLO, HELLO_RESP and SWITCH_MODE. */
enum edl_sahara_mode {
	EDL_SAHARA_MODE_IMAGE_TX_PENDING = 0,
	EDL_SAHARA_MODE_IMAGE_TX_COMPLETE = 1,
	EDL_SAHARA_MODE_MEMORY_DEBUG = 2,
	EDL_SAHARA_MODE_COMMAND = 3,
};

/* Command-mode client commands (EXECUTE). */
enum edl_sahara_exec {
	EDL_SAHARA_EXEC_SERIAL = 0x01,      /* u32 chip serial */
	EDL_SAHARA_EXEC_MSM_HWID = 0x02,    /* u64 msm<<32 | oem<<16 | model (Sahara < 3) */
	EDL_SAHARA_EXEC_PK_HASH = 0x03,     /* OEM PK hash, often repeated */
	EDL_SAHARA_EXEC_SBL_VERSION = 0x07, /* u32 */
	EDL_SAHARA_EXEC_CHIP_ID_V3 = 0x0a,  /* msm u32 @36, oem u16 @40 (or @44), model u16 @42 */
};

/* END_OF_IMAGE status codes (Qualcomm's numbering). */
enum edl_sahara_status {
	EDL_SAHARA_STATUS_SUCCESS = 0x00,
	EDL_SAHARA_STATUS_INVALID_CMD = 0x01,
	EDL_SAHARA_STATUS_PROTOCOL_MISMATCH = 0x02,
	EDL_SAHARA_STATUS_INVALID_TARGET_PROTOCOL = 0x03,
	EDL_SAHARA_STATUS_INVALID_HOST_PROTOCOL = 0x04,
	EDL_SAHARA_STATUS_INVALID_PACKET_SIZE = 0x05,
	EDL_SAHARA_STATUS_UNEXPECTED_IMAGE_ID = 0x06,
	EDL_SAHARA_STATUS_INVALID_HEADER_SIZE = 0x07,
	EDL_SAHARA_STATUS_INVALID_DATA_SIZE = 0x08,
	EDL_SAHARA_STATUS_INVALID_IMAGE_TYPE = 0x09,
	EDL_SAHARA_STATUS_INVALID_TX_LENGTH = 0x0a,
	EDL_SAHARA_STATUS_INVALID_RX_LENGTH = 0x0b,
	EDL_SAHARA_STATUS_GENERAL_TX_RX_ERROR = 0x0c,
	EDL_SAHARA_STATUS_READ_DATA_ERROR = 0x0d,
	EDL_SAHARA_STATUS_UNSUPPORTED_NUM_PHDRS = 0x0e,
	EDL_SAHARA_STATUS_INVALID_PHDR_SIZE = 0x0f,
	EDL_SAHARA_STATUS_MULTIPLE_SHARED_SEG = 0x10,
	EDL_SAHARA_STATUS_UNINIT_PHDR_LOC = 0x11,
	EDL_SAHARA_STATUS_INVALID_DEST_ADDR = 0x12,
	EDL_SAHARA_STATUS_INVALID_IMG_HDR_DATA_SIZE = 0x13,
	EDL_SAHARA_STATUS_INVALID_ELF_HDR = 0x14,
	EDL_SAHARA_STATUS_UNKNOWN_HOST_ERROR = 0x15,
	EDL_SAHARA_STATUS_TIMEOUT_RX = 0x16,
	EDL_SAHARA_STATUS_TIMEOUT_TX = 0x17,
	EDL_SAHARA_STATUS_INVALID_HOST_MODE = 0x18,
	EDL_SAHARA_STATUS_INVALID_MEMORY_READ = 0x19,
	EDL_SAHARA_STATUS_INVALID_DATA_SIZE_REQUEST = 0x1a,
	EDL_SAHARA_STATUS_MEMORY_DEBUG_NOT_SUPPORTED = 0x1b,
	EDL_SAHARA_STATUS_INVALID_MODE_SWITCH = 0x1c,
	EDL_SAHARA_STATUS_CMD_EXEC_FAILURE = 0x1d,
	EDL_SAHARA_STATUS_EXEC_CMD_INVALID_PARAM = 0x1e,
	EDL_SAHARA_STATUS_EXEC_CMD_UNSUPPORTED = 0x1f,
	EDL_SAHARA_STATUS_EXEC_DATA_INVALID_CLIENT_CMD = 0x20,
	EDL_SAHARA_STATUS_HASH_TABLE_AUTH_FAILURE = 0x21,
	EDL_SAHARA_STATUS_HASH_VERIFICATION_FAILURE = 0x22,
	EDL_SAHARA_STATUS_HASH_TABLE_NOT_FOUND = 0x23,
	EDL_SAHARA_STATUS_TARGET_INIT_FAILURE = 0x24,
	EDL_SAHARA_STATUS_IMAGE_AUTH_FAILURE = 0x25,
	EDL_SAHARA_STATUS_INVALID_IMG_HASH_TABLE_SIZE = 0x26,
	EDL_SAHARA_STATUS_ENUMERATION_FAILURE = 0x27,
	EDL_SAHARA_STATUS_HW_BULK_TRANSFER_ERROR = 0x28,
};

/* Largest packet of the table (HELLO / HELLO_RESP). */
#define EDL_SAHARA_MAX_PKT 0x30

/* One decoded packet. Which member of u is valid depends on cmd; READ_DATA and
 * READ_DATA64 both fill read_data, MEMORY_DEBUG(64) / MEMORY_READ(64) fill mem,
 * EXECUTE / EXECUTE_RESP / EXECUTE_DATA fill exec (data_length only for RESP). */
struct edl_sahara_pkt {
	uint32_t cmd;
	uint32_t length;
	union {
		struct {
			uint32_t version, version_compatible, max_cmd_len, mode;
		} hello;
		struct {
			uint32_t version, version_compatible, status, mode;
		} hello_resp;
		struct {
			uint64_t image_id, offset, length;
		} read_data;
		struct {
			uint32_t image_id, status;
		} end_of_image;
		struct {
			uint32_t status;
		} done_resp;
		struct {
			uint64_t addr, len;
		} mem;
		struct {
			uint32_t mode;
		} switch_mode;
		struct {
			uint32_t client_cmd, data_length;
		} exec;
	} u;
};

/*
 * Decodes ONE packet from ONE received transfer of len bytes (either direction).
 * Returns EDL_OK, or with a detail in err: EDL_E_SAHARA_TRUNCATED (fewer than 8
 * bytes, or fewer than the command's body), EDL_E_SAHARA_UNKNOWN_CMD (names the
 * id; says "looks like Firehose XML" for "<?xm"), EDL_E_SAHARA_LENGTH (length
 * field differs from len; names both and the command). err may be NULL.
 */
int edl_sahara_decode(struct edl_sahara_pkt *out, const uint8_t *buf, size_t len,
                      struct edl_error *err);

/* Encoders: write one packet into buf and return its size, or 0 if cap is too small. */
/* host -> device */
size_t edl_sahara_encode_hello_resp(uint8_t *buf, size_t cap, uint32_t version,
                                    uint32_t version_compatible, uint32_t status, uint32_t mode);
size_t edl_sahara_encode_done(uint8_t *buf, size_t cap);
size_t edl_sahara_encode_reset(uint8_t *buf, size_t cap);
size_t edl_sahara_encode_switch_mode(uint8_t *buf, size_t cap, uint32_t mode);
size_t edl_sahara_encode_execute(uint8_t *buf, size_t cap, uint32_t client_cmd);
size_t edl_sahara_encode_execute_data(uint8_t *buf, size_t cap, uint32_t client_cmd);
size_t edl_sahara_encode_memory_read(uint8_t *buf, size_t cap, uint32_t addr, uint32_t len);
size_t edl_sahara_encode_memory_read64(uint8_t *buf, size_t cap, uint64_t addr, uint64_t len);
size_t edl_sahara_encode_reset_state_machine(uint8_t *buf, size_t cap);
/* device -> host */
size_t edl_sahara_encode_hello(uint8_t *buf, size_t cap, uint32_t version,
                               uint32_t version_compatible, uint32_t max_cmd_len, uint32_t mode);
size_t edl_sahara_encode_read_data(uint8_t *buf, size_t cap, uint32_t image_id, uint32_t offset,
                                   uint32_t length);
size_t edl_sahara_encode_read_data64(uint8_t *buf, size_t cap, uint64_t image_id, uint64_t offset,
                                     uint64_t length);
size_t edl_sahara_encode_end_of_image(uint8_t *buf, size_t cap, uint32_t image_id, uint32_t status);
size_t edl_sahara_encode_done_resp(uint8_t *buf, size_t cap, uint32_t image_tx_status);
size_t edl_sahara_encode_cmd_ready(uint8_t *buf, size_t cap);
size_t edl_sahara_encode_execute_resp(uint8_t *buf, size_t cap, uint32_t client_cmd,
                                      uint32_t data_length);
size_t edl_sahara_encode_reset_resp(uint8_t *buf, size_t cap);
size_t edl_sahara_encode_memory_debug(uint8_t *buf, size_t cap, uint32_t table_addr,
                                      uint32_t table_len);
size_t edl_sahara_encode_memory_debug64(uint8_t *buf, size_t cap, uint64_t table_addr,
                                        uint64_t table_len);

/* "READ_DATA" etc.; "unknown" for ids outside the table. Never NULL. */
const char *edl_sahara_cmd_name(uint32_t cmd);
/* "invalid command", "invalid ELF header" ...; "unknown status" past the table. Never NULL. */
const char *edl_sahara_status_name(uint32_t status);
/* "image transfer pending", "command" ...; "unknown mode" otherwise. Never NULL. */
const char *edl_sahara_mode_name(uint32_t mode);

/* Little-endian helpers used by the codec, the engines and the emulated ROM. */
static inline uint16_t edl_sahara_get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t edl_sahara_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}
static inline uint64_t edl_sahara_get_le64(const uint8_t *p)
{
	return (uint64_t)edl_sahara_get_le32(p) | ((uint64_t)edl_sahara_get_le32(p + 4) << 32);
}
static inline void edl_sahara_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void edl_sahara_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}
static inline void edl_sahara_put_le64(uint8_t *p, uint64_t v)
{
	edl_sahara_put_le32(p, (uint32_t)v);
	edl_sahara_put_le32(p + 4, (uint32_t)(v >> 32));
}

/* ---- host engine ---- */

struct edl_sahara_host;

struct edl_sahara_image {
	uint32_t id;
	const uint8_t *data;
	size_t len;
};

struct edl_sahara_host_config {
	bool identify; /* command mode first: serial, HW id (chip id on v3), PK hash; a refusal
	                  ends it with what was learnt */
	bool upload;   /* transfer images; false = after identify, SWITCH_MODE(0), wait for the
	                  fresh HELLO, stop (outcome IDENTIFIED) */
	const struct edl_sahara_image *images; /* not copied: caller keeps them alive */
	size_t n_images;
	/* Waits in milliseconds; 0 = the default. */
	uint32_t hello_wait_ms;     /* silence before probing, default 500 */
	uint32_t probe_wait_ms;     /* wait for an answer to the probe, default 1000 */
	uint32_t packet_timeout_ms; /* any other wait for the device, default 5000 */
	uint32_t hello_version;     /* version we answer in HELLO_RESP; 0 = 2 */
	/* Zero filler sent when the probe gets no answer, for a programmer left
	 * mid-<program> that takes every byte as raw data; also the most bytes of
	 * neither Sahara nor XML (a programmer left mid-<read>) dropped while
	 * waiting for XML. Default EDL_SAHARA_FLUSH_DEFAULT; 0 = no flush, and the
	 * first such bytes fail the engine. */
	uint64_t flush_max_bytes;
	/* Client commands not to ask in command mode (bit n = command n), e.g. the
	 * one a ROM refused on an earlier attempt (identity.refused_exec): an XBL
	 * ROM that refuses one takes only RESET, so asking it again on the
	 * re-enumerated unit would only re-enumerate it again. The serial (bit 1)
	 * is always asked. 0 = ask everything. */
	uint32_t skip_exec_mask;
	/* Memory dumps (sahara_dump.h): a unit in memory-debug mode (HELLO mode 2,
	 * or MEMORY_DEBUG at once) has its table and regions read into this sink,
	 * then RESET (outcome DUMPED). NULL: such a unit fails with
	 * EDL_E_MEMORY_DUMP, nothing read. Not copied: the caller keeps it alive. */
	const struct edl_sahara_dump_sink *dump;
	uint32_t dump_read_bytes; /* bytes per MEMORY_READ; 0 = EDL_SAHARA_DUMP_READ (512 KiB) */
};

#define EDL_SAHARA_FLUSH_DEFAULT ((uint64_t)16 << 20)

/* identify and upload on, no images, the default waits, hello_version 2, 16 MiB flush. */
void edl_sahara_host_config_default(struct edl_sahara_host_config *cfg);

enum edl_sahara_outcome {
	EDL_SAHARA_OUTCOME_NONE = 0,
	EDL_SAHARA_OUTCOME_PROGRAMMER_LOADED, /* image(s) transferred, DONE_RESP complete (or
	                                         pending after the last image, MSM8916 and
	                                         MDM9x07): Firehose now runs */
	EDL_SAHARA_OUTCOME_FIREHOSE_RUNNING,  /* found a programmer already running (the field
	                                         report), idle or after a flush or its
	                                         streamed sectors */
	EDL_SAHARA_OUTCOME_IDENTIFIED,  /* identify-only job finished; device back in image-transfer
	                                   mode */
	EDL_SAHARA_OUTCOME_DUMPED,      /* memory-debug mode: every region of the memory table
	                                   went to the dump sink, RESET was queued */
	EDL_SAHARA_OUTCOME_REENUMERATE, /* the ROM answered SWITCH_MODE or RESET_STATE_MACHINE
	                                   with END_OF_IMAGE (XBL: only RESET is accepted then):
	                                   RESET was queued, the unit reboots into EDL and comes
	                                   back as a new device; the identity learnt is kept */
};

struct edl_sahara_identity {
	uint32_t sahara_version; /* from the device's HELLO */
	bool have_serial;
	uint32_t serial;
	char serial_hex[9]; /* 8 lower-case hex digits */
	bool have_hwid;
	uint64_t hwid; /* msm<<32 | oem<<16 | model (composed for chip id v3) */
	uint32_t msm_id;
	uint16_t oem_id;
	uint16_t model_id;
	uint8_t pk_hash[64];
	size_t pk_hash_len;    /* 0 = not reported */
	bool have_sbl_version; /* never asked any more (XBL refuses 0x07): stays false */
	uint32_t sbl_version;
	uint32_t refused_exec;   /* client command the ROM refused, ending command mode; 0 none */
	uint32_t refused_status; /* its END_OF_IMAGE status (0x1f for a zero-length answer) */
};

/* The engine's states, one line each; names from edl_sahara_host_state_name(). */
#define EDL_SAHARA_HOST_STATE_TABLE(XX)                                                           \
	XX(IDLE, "idle")                                     /* created, not started */           \
	XX(WAIT_FIRST, "waiting for HELLO")                  /* first transfer, hello_wait_ms */  \
	XX(WAIT_PROBE, "waiting for the probe answer")       /* probe sent, probe_wait_ms */      \
	XX(WAIT_FLUSH, "flushing a programmer mid-raw-data") /* filler out, probe_wait_ms */      \
	XX(WAIT_HELLO, "waiting for a fresh HELLO")          /* SWITCH_MODE, RESET_STATE_MACHINE, \
	                                                        DONE_RESP pending; END_OF_IMAGE   \
	                                                        after the first two: RESET */     \
	XX(WAIT_CMD_READY, "waiting for CMD_READY")          /* HELLO_RESP mode 3 sent; a HELLO   \
	                                                        gets a fresh HELLO_RESP */        \
	XX(WAIT_EXEC_RESP, "waiting for EXECUTE_RESP")       /* EXECUTE sent */                   \
	XX(WAIT_EXEC_DATA, "waiting for EXECUTE data") /* EXECUTE_DATA sent, raw bytes due */     \
	XX(TRANSFER, "transferring the image")         /* READ_DATA / END_OF_IMAGE; a HELLO       \
	                                                  before the first READ_DATA gets a       \
	                                                  fresh HELLO_RESP */                     \
	XX(WAIT_DONE_RESP, "waiting for DONE_RESP")    /* DONE sent */                            \
	XX(WAIT_MEM_DEBUG, "waiting for MEMORY_DEBUG") /* HELLO_RESP mode 2 sent (dump sink) */   \
	XX(DUMP, "reading the memory dump")            /* MEMORY_READ(64) out, raw bytes due */   \
	XX(FINISHED, "finished")                       /* DONE or FAILED: see status */

enum edl_sahara_host_state {
#define EDL_XX_HOST_STATE(sym, name) EDL_SAHARA_HOST_##sym,
	EDL_SAHARA_HOST_STATE_TABLE(EDL_XX_HOST_STATE)
#undef EDL_XX_HOST_STATE
};

/*
 * Creates an engine for one device; *out is the caller's (edl_sahara_host_free).
 * The config is copied, the images it points to are not. Returns EDL_OK,
 * EDL_E_INVAL (upload without images) or EDL_E_NOMEM.
 */
int edl_sahara_host_new(struct edl_sahara_host **out, const struct edl_sahara_host_config *cfg);
void edl_sahara_host_free(struct edl_sahara_host *h);

/* Arms the hello wait: the first transfer is expected before now + hello_wait_ms,
 * after that the engine sends the probe. */
void edl_sahara_host_start(struct edl_sahara_host *h, uint64_t now);

/*
 * One received transfer (one Sahara packet, or the raw answer to EXECUTE_DATA,
 * or the first XML of a running programmer). Returns EDL_OK while running or
 * done, else the failure code (also in edl_sahara_host_error()). Zero-length
 * transfers are ignored, so are transfers after the engine finished.
 *
 * HELLO handling follows real ROMs: a HELLO right after our HELLO_RESP (waiting
 * for CMD_READY, or for the first READ_DATA) is the ROM repeating itself after
 * junk and gets a fresh HELLO_RESP, at most 4 times in a row
 * (EDL_E_SAHARA_UNEXPECTED after that); elsewhere a HELLO is stale and dropped.
 * While classifying (before any Sahara packet), bytes that are neither Sahara
 * nor XML are dropped up to flush_max_bytes, waiting for a programmer's final
 * "<?xml" (FIREHOSE_RUNNING, the XML from "<?xml" on is the leftover);
 * EDL_E_UNKNOWN_MODE, naming the first bytes, when no XML follows.
 */
int edl_sahara_host_feed(struct edl_sahara_host *h, const uint8_t *data, size_t len, uint64_t now);

/* The deadline passed (ignored if now is before it). While filler is still to
 * be pulled (WAIT_FLUSH) a call only re-arms the deadline; the wait for an
 * answer to the filler counts from the first call after the last chunk was
 * pulled. No answer then: EDL_E_POWER_CYCLE. */
void edl_sahara_host_timeout(struct edl_sahara_host *h, uint64_t now);

/*
 * Next chunk to send, in order. Drain it even after the engine finished: a
 * failure may leave a RESET queued for the device. READ_DATA answers point
 * into the caller's image (zero copy); packets point into the engine and stay
 * valid for the next 8 chunks the engine queues; filler (WAIT_FLUSH) points to
 * one static zero buffer, 1 MiB a chunk, and stays valid for ever. zlp is false
 * on every chunk: no Sahara transfer needs a ZLP, and one after a READ_DATA
 * answer stalls QCS8550 (qdl #320; QFirehose "need_zlp = 0").
 */
bool edl_sahara_host_next_out(struct edl_sahara_host *h, struct edl_chunk *out);

/* Absolute deadline on the driver's clock; 0 = none (finished or not started). */
uint64_t edl_sahara_host_deadline(const struct edl_sahara_host *h);

enum edl_engine_status edl_sahara_host_status(const struct edl_sahara_host *h);
/* code EDL_OK while running or done. */
const struct edl_error *edl_sahara_host_error(const struct edl_sahara_host *h);
enum edl_sahara_outcome edl_sahara_host_outcome(const struct edl_sahara_host *h);
/* What command mode found; fields not reported stay false / 0. */
const struct edl_sahara_identity *edl_sahara_host_identity(const struct edl_sahara_host *h);

/* FIREHOSE_RUNNING: the XML bytes already received, to hand to the Firehose engine.
 * Owned by the engine; NULL with *len 0 otherwise. */
const uint8_t *edl_sahara_host_leftover(const struct edl_sahara_host *h, size_t *len);

/* A memory dump's progress: region bytes read so far and in the table (0
 * before the table was read). */
void edl_sahara_host_dump_progress(const struct edl_sahara_host *h, uint64_t *done,
                                   uint64_t *total);

/* Whether the engine sent the XML probe (so the Firehose side knows a stray <response> will
 * come). */
bool edl_sahara_host_probe_sent(const struct edl_sahara_host *h);

/* Filler bytes handed out by next_out to flush a programmer mid-raw-data (0 if none). */
uint64_t edl_sahara_host_flushed(const struct edl_sahara_host *h);
/* Bytes dropped while classifying because they were neither Sahara nor XML. */
uint64_t edl_sahara_host_discarded(const struct edl_sahara_host *h);

/* Optional: engine events at DEBUG (the image id asked for and REENUMERATE
 * causes at INFO). log must outlive h; NULL = silent. */
void edl_sahara_host_set_log(struct edl_sahara_host *h, struct edl_log *log);

/*
 * Queues a RESET packet (abort: the device reboots). A running engine finishes
 * FAILED with EDL_E_INTERRUPTED naming the state; a finished one keeps its
 * result. Returns EDL_OK.
 */
int edl_sahara_host_reset(struct edl_sahara_host *h);

enum edl_sahara_host_state edl_sahara_host_state(const struct edl_sahara_host *h);
const char *edl_sahara_host_state_name(enum edl_sahara_host_state state);

/* The document the probe sends: a Firehose no-op. */
#define EDL_SAHARA_PROBE_XML "<?xml version=\"1.0\" ?><data><nop /></data>"

#endif
