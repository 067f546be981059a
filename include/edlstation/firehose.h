/*
 * The Firehose host engine: talks to a Qualcomm Firehose programmer once
 * Sahara has started it (or once a running one was found). Sans-I/O, see
 * include/edlstation/io.h: the driver feeds device bytes, pulls the chunks to
 * send, and calls timeout() when deadline() passes.
 *
 * One command runs at a time. A command is the XML document sent to the device
 * (built with libxml2) and what the device answers: any number of <log>
 * documents and exactly one <response value="ACK|NAK"> (program and read also
 * have a raw data phase between a rawmode ACK and the final response).
 *
 * Logs belong to the command that is running when they arrive. Logs that arrive
 * after a command's response (some programmers log after the ACK), or while no
 * command runs, are kept and become the first logs of the next command. A
 * <response> that arrives while no command runs is dropped (drain() exists to
 * swallow the answer to an earlier probe).
 *
 * Every log, whenever it arrives, is also read for the programmer's list of
 * functions (its start-up banner): "Supported Functions (15):", one log per
 * function, "End of supported functions 15" (Quectel SDX55 and SDX24 logs in
 * nippynetworks/qfirehose, EDLTests), or one line "Supported Functions: program
 * read nop ..." (fwupd's qc-firehose plugin parses both forms).
 *
 * The byte stream from the device is framed from "<?xml" to the first "</data>"
 * after it; bytes outside documents are skipped, and the sequence f0 e9 88 14
 * is removed wherever it occurs (bkerler/edl xmlparser.py strips it, qdl.js
 * tests it). A document that does not parse is skipped (logged at DEBUG and
 * counted) unless it contains "<response": then it fails the command that
 * waits for an answer, since the answer itself was lost. During a read's raw
 * phase the framing is off: the raw data starts at the byte right after the
 * "</data>" of the rawmode ACK document (the device must not send anything in
 * between).
 */
#ifndef EDLSTATION_FIREHOSE_H
#define EDLSTATION_FIREHOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edlstation/error.h"
#include "edlstation/io.h"
#include "edlstation/log.h"
#include "edlstation/storage.h"

struct edl_fh_host;

struct edl_fh_config {
	uint32_t timeout_ms;           /* default wait for a response, 10000 */
	uint32_t erase_timeout_ms;     /* 30000 */
	uint32_t final_ack_timeout_ms; /* wait for the final ACK after raw data, 120000 */
	uint32_t digest_timeout_ms;    /* 60000 */
	uint32_t drain_quiet_ms;       /* drain ends after this much silence, 200 */
	/* After the ACK of getsha256digest without a digest, logs are still read
	 * until this much silence, 100: qdl firehose_read waits 100 ms because on
	 * MSM8916 <log/> messages can arrive after the <response/>. */
	uint32_t digest_quiet_ms;
	size_t max_doc_bytes; /* 65536 */
	size_t max_logs;      /* logs kept per command, 256 (older dropped, count kept) */
	/* Every <log> line of the device as it arrives, whatever the log level. */
	void (*on_device_log)(const char *line, void *data);
	void *device_log_data;
};

void edl_fh_config_default(struct edl_fh_config *cfg);

struct edl_fh_configure {
	enum edl_storage_kind storage;
	uint64_t max_payload; /* offer, default (0) 1048576 */
	/* Sent as ZlpAwareHost, and from this configure on every chunk the engine
	 * hands out carries zlp = zlp_aware (before any configure: true): Qualcomm
	 * handleConfigure posts its reads rounded to the packet size, so a transfer
	 * of an exact multiple only completes with a zero-length packet. */
	bool zlp_aware;
	uint32_t pages_per_block; /* NAND */
	bool skip_storage_init;
	/* Re-sending on silence: a programmer that is still starting may lose the
	 * first document (QFirehose firehose_main waits for its first logs; qdl
	 * firehose_detect_and_configure re-sends configure in a 5 s loop). With
	 * window_ms 0 one document is sent and timeout_ms waited, as before.
	 * Otherwise each attempt waits resend_ms (0 = 1000); with no response the
	 * same document is sent again while less than window_ms has passed since
	 * the round's first send, then EDL_E_FH_TIMEOUT names the attempts and the
	 * last log. A late answer to any earlier copy counts; the answers to the
	 * other copies, when they come, are recognised by their payload attribute
	 * and dropped. A NAK with a smaller payload starts a new round (its own
	 * window), not a resend. */
	uint32_t resend_ms;
	uint32_t window_ms;
};

/* A sector range of one LUN. Strings are not copied: keep them alive until the
 * command has been started (the document is built at once). */
struct edl_fh_range {
	uint32_t lun;
	uint32_t sector_size;
	const char *start_sector; /* number or expression */
	uint64_t num_sectors;
	uint32_t pages_per_block; /* NAND; 0 = absent */
	const char *last_sector;  /* NULL/"" absent */
	const char *label;        /* NULL/"" absent */
};

/* The bytes of a program (see plan.h): data (len bytes) then zeros up to the
 * range's size; or, when fill is set, every 32-bit little-endian word is
 * fill_value (data ignored). The data is not copied: it must stay valid until
 * the program command ends. */
struct edl_fh_source {
	const uint8_t *data;
	uint64_t len;
	bool fill;
	uint32_t fill_value;
};

struct edl_fh_patch {
	uint32_t lun;
	uint32_t sector_size;
	uint64_t byte_offset;
	const char *filename; /* "DISK" */
	uint64_t size_in_bytes;
	const char *start_sector;
	const char *value;
};

/*
 * What getstorageinfo reported, from the shapes real programmers log
 * (Qualcomm devprg storage code; bkerler/edl and edl-ng logs):
 *   {"storage_info": {"total_blocks":30119936, "block_size":4096,
 *    "page_size":4096, "num_physical":6, "manufacturer_id"|"mfr_id":462,
 *    "serial_num":1234, "fw_version":"0300", "mem_type":"UFS"|"eMMC",
 *    "prod_name":"..."}}                              (one log, JSON)
 *   "Device Total Logical Blocks: 0x1cb9800", "Device Block Size in Bytes:
 *   0x1000", "Device Total Physical Partitions: 0x6" (also "Paritions"),
 *   "Device Manufacturer ID: 0x198", "Device Serial Number: 0x48494241"
 *   SECTOR_SIZE_IN_BYTES=512, num_physical_partitions=3, MFR_ID=0x15 (eMMC)
 * JSON fields win over line fields. valid is set when a size was found.
 */
struct edl_fh_storage_info {
	uint64_t total_blocks;
	uint32_t block_size;
	uint32_t page_size;
	uint32_t num_physical;
	uint64_t num_sectors; /* total_blocks, or pages on NAND */
	uint32_t sector_size;
	uint32_t manufacturer_id; /* 0 = not reported */
	uint64_t serial_num;      /* 0 = not reported */
	char fw_version[32];
	char mem_type[16];
	char prod_name[32];
	bool valid;
};

/* Receives the raw bytes of a <read> in order, in pieces of any size. A
 * negative return aborts the read: the command fails with that code. */
typedef int (*edl_fh_data_fn)(const uint8_t *data, size_t len, void *user);

/* Returns EDL_OK, EDL_E_NOMEM or EDL_E_INVAL (bad config). cfg NULL = defaults.
 * Free with edl_fh_host_free(). */
int edl_fh_host_new(struct edl_fh_host **out, const struct edl_fh_config *cfg);
void edl_fh_host_free(struct edl_fh_host *h);

/* Bytes the device sent (any fragment of the stream). Returns EDL_OK, or the
 * error code when this feed made the running command fail. */
int edl_fh_host_feed(struct edl_fh_host *h, const uint8_t *data, size_t len, uint64_t now);
void edl_fh_host_timeout(struct edl_fh_host *h, uint64_t now);
/* The next transfer to send: first the command document, then (program) the raw
 * chunks; a configure re-sent on silence is handed out again as the same
 * document. Chunk memory stays valid until the command ends. */
bool edl_fh_host_next_out(struct edl_fh_host *h, struct edl_chunk *out);
/* Absolute deadline, 0 = none. While a program's raw data is still being pulled
 * the deadline only re-arms (stalled transfers are the transport's to time out);
 * the final-ACK wait counts from the first call with a time after the last chunk
 * was pulled. */
uint64_t edl_fh_host_deadline(const struct edl_fh_host *h);
/* RUNNING while a command is in progress; DONE when the last command got its ACK
 * (and before any command); FAILED otherwise. */
enum edl_engine_status edl_fh_host_status(const struct edl_fh_host *h);
/* Code EDL_OK unless the last command failed; never NULL. */
const struct edl_error *edl_fh_host_error(const struct edl_fh_host *h);

/*
 * Commands: one at a time; EDL_E_BUSY if one is in progress (that command goes
 * on). Each starts a fresh result. Bad arguments return EDL_E_INVAL and leave
 * the engine FAILED with a detail; otherwise EDL_OK and the engine is RUNNING.
 */
/* Reads and keeps logs until drain_quiet_ms of silence (or timeout_ms in all,
 * for a device that never goes quiet), or until "End of supported functions"
 * arrives (the banner is complete; what follows is kept for the next command);
 * a stray <response> (e.g. to an earlier probe) is swallowed, malformed
 * documents are skipped. Ends DONE. */
int edl_fh_host_drain(struct edl_fh_host *h, uint64_t now);
/* Payload negotiation, at most 3 rounds (EDL_E_FH_NEGOTIATE). */
int edl_fh_host_configure(struct edl_fh_host *h, const struct edl_fh_configure *c, uint64_t now);
int edl_fh_host_program(struct edl_fh_host *h, const struct edl_fh_range *r,
                        const struct edl_fh_source *src, uint64_t now);
int edl_fh_host_erase(struct edl_fh_host *h, const struct edl_fh_range *r, uint64_t now);
int edl_fh_host_patch(struct edl_fh_host *h, const struct edl_fh_patch *p, uint64_t now);
/* fn receives exactly num_sectors * sector_size bytes before the command ends DONE,
 * in pieces of any size (raw data is never framed, even when it looks like
 * XML). A NAK instead of the rawmode ACK or as the final response fails with
 * EDL_E_FH_NAK and the device's logs; data that stops short fails with
 * EDL_E_FH_TIMEOUT naming the bytes received (and saying so when the data
 * ends like a Firehose response: the programmer ended the read early). */
int edl_fh_host_read(struct edl_fh_host *h, const struct edl_fh_range *r, edl_fh_data_fn fn,
                     void *user, uint64_t now);
/* Best effort, as real programmers differ (edl treats a failure as "not
 * supported" and goes on; edl-ng #25 shows an ACK with no storage info): an ACK
 * without a parseable size ends DONE with storage_info()->valid false and a
 * warning(); a NAK ends FAILED with EDL_E_FH_NAK (the caller may treat it as a
 * warning). */
int edl_fh_host_getstorageinfo(struct edl_fh_host *h, uint32_t lun, uint64_t now);
/* The digest is taken from a Digest="..." or SHA256="..." attribute of the
 * response (qdl firehose_sha256_parser) or from the logs ("Digest <64 hex>",
 * Qualcomm handleGetDigest; a digest split over two logs is joined). With none
 * by the ACK, logs are read for digest_quiet_ms more; still none:
 * EDL_E_FH_DIGEST. */
int edl_fh_host_getsha256digest(struct edl_fh_host *h, const struct edl_fh_range *r, uint64_t now);
int edl_fh_host_setbootable(struct edl_fh_host *h, uint32_t lun, uint64_t now);
int edl_fh_host_nop(struct edl_fh_host *h, uint64_t now);
/* value: "reset", "off" or "reset_to_edl". */
int edl_fh_host_power(struct edl_fh_host *h, const char *value, uint32_t delay_s, uint64_t now);
/* A vendor entry sent verbatim: `<?xml ...?><data><element a="v" .../></data>`
 * with exactly the n_pairs attributes of attrs (name, value, name, value, ...)
 * in that order, escaped by libxml2, nothing added (the Quectel <erase
 * a_rawdata_start_sector=... vendor="quectel"/> of RG500Q packages:
 * QFirehose firehose_main sends it as type "vendor" and requires an ACK; a
 * real RG500Q answers with logs and an ACK, xhikarishii/openwrt-ipq#3). Waits
 * erase_timeout_ms; an ACK is required, a NAK is EDL_E_FH_NAK with the logs.
 * Strings are not kept after the call. EDL_E_INVAL for a bad element or
 * attribute name or a repeated attribute. */
int edl_fh_host_vendor(struct edl_fh_host *h, const char *element, const char *const *attrs,
                       size_t n_pairs, uint64_t now);

/* Results */
size_t edl_fh_host_log_count(const struct edl_fh_host *h); /* logs of the last command (kept) */
const char *edl_fh_host_log(const struct edl_fh_host *h,
                            size_t i); /* oldest first; NULL past end */
/* Logs of the last command dropped because more than max_logs arrived. */
size_t edl_fh_host_logs_dropped(const struct edl_fh_host *h);
uint64_t
edl_fh_host_payload(const struct edl_fh_host *h); /* negotiated max payload (0 before configure) */
unsigned edl_fh_host_configure_rounds(const struct edl_fh_host *h);
/* Never NULL; valid is set after a successful getstorageinfo and kept until the
 * next getstorageinfo starts. */
const struct edl_fh_storage_info *edl_fh_host_storage_info(const struct edl_fh_host *h);
/* 32 bytes after a successful getsha256digest (kept until the next one starts), else NULL. */
const uint8_t *edl_fh_host_digest(const struct edl_fh_host *h);
/* Bytes of raw data sent by the current/last program (progress). */
uint64_t edl_fh_host_raw_sent(const struct edl_fh_host *h);
/* Bytes the framer skipped outside documents since the engine was created
 * (f0 e9 88 14 sequences removed from the stream are not counted). */
uint64_t edl_fh_host_skipped(const struct edl_fh_host *h);
/* Documents skipped because they did not parse (and held no "<response"). */
uint64_t edl_fh_host_bad_docs(const struct edl_fh_host *h);
/* Something the last command noticed that did not fail it, e.g.
 * "getstorageinfo LUN 0: ACK but no storage size in the 3 device logs"; NULL
 * when none. Cleared when the next command starts. */
const char *edl_fh_host_warning(const struct edl_fh_host *h);

/* The programmer's function list, from its logs (see the top of this file). */
enum edl_fh_support {
	EDL_FH_SUPPORT_UNKNOWN, /* no complete list seen yet */
	EDL_FH_SUPPORT_YES,
	EDL_FH_SUPPORT_NO,
};
/* Whether the last complete list names function (case-insensitive). */
enum edl_fh_support edl_fh_host_supports(const struct edl_fh_host *h, const char *function);
/* The last complete list, space-separated in the device's order (e.g.
 * "program read nop ..."); NULL before one was seen. Valid until the next
 * feed. A new list replaces it only once it is complete. */
const char *edl_fh_host_functions(const struct edl_fh_host *h);
/* Optional: mirror device logs and engine events at DEBUG. log must outlive h. */
void edl_fh_host_set_log(struct edl_fh_host *h, struct edl_log *log);

#endif
