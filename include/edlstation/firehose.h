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
 * The byte stream from the device is framed from "<?xml" to the first "</data>"
 * after it; bytes outside documents are skipped. During a read's raw phase the
 * framing is off: the raw data starts at the byte right after the "</data>" of
 * the rawmode ACK document (the device must not send anything in between).
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
	size_t max_doc_bytes;          /* 65536 */
	size_t max_logs;               /* logs kept per command, 256 (older dropped, count kept) */
	/* Every <log> line of the device as it arrives, whatever the log level. */
	void (*on_device_log)(const char *line, void *data);
	void *device_log_data;
};

void edl_fh_config_default(struct edl_fh_config *cfg);

struct edl_fh_configure {
	enum edl_storage_kind storage;
	uint64_t max_payload; /* offer, default (0) 1048576 */
	bool zlp_aware;
	uint32_t pages_per_block; /* NAND */
	bool skip_storage_init;
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

struct edl_fh_storage_info {
	uint64_t total_blocks;
	uint32_t block_size;
	uint32_t page_size;
	uint32_t num_physical;
	uint64_t num_sectors; /* total_blocks*... or sectors as reported */
	uint32_t sector_size;
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
 * chunks. Chunk memory stays valid until the command ends. */
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
 * for a device that never goes quiet); a stray <response> (e.g. to an earlier
 * probe) is swallowed, malformed documents are skipped. Ends DONE. */
int edl_fh_host_drain(struct edl_fh_host *h, uint64_t now);
/* Payload negotiation, at most 3 rounds (EDL_E_FH_NEGOTIATE). */
int edl_fh_host_configure(struct edl_fh_host *h, const struct edl_fh_configure *c, uint64_t now);
int edl_fh_host_program(struct edl_fh_host *h, const struct edl_fh_range *r,
                        const struct edl_fh_source *src, uint64_t now);
int edl_fh_host_erase(struct edl_fh_host *h, const struct edl_fh_range *r, uint64_t now);
int edl_fh_host_patch(struct edl_fh_host *h, const struct edl_fh_patch *p, uint64_t now);
/* fn receives exactly num_sectors * sector_size bytes before the command ends DONE. */
int edl_fh_host_read(struct edl_fh_host *h, const struct edl_fh_range *r, edl_fh_data_fn fn,
                     void *user, uint64_t now);
int edl_fh_host_getstorageinfo(struct edl_fh_host *h, uint32_t lun, uint64_t now);
int edl_fh_host_getsha256digest(struct edl_fh_host *h, const struct edl_fh_range *r, uint64_t now);
int edl_fh_host_setbootable(struct edl_fh_host *h, uint32_t lun, uint64_t now);
int edl_fh_host_nop(struct edl_fh_host *h, uint64_t now);
/* value: "reset", "off" or "reset_to_edl". */
int edl_fh_host_power(struct edl_fh_host *h, const char *value, uint32_t delay_s, uint64_t now);

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
/* Bytes the framer skipped outside documents since the engine was created. */
uint64_t edl_fh_host_skipped(const struct edl_fh_host *h);
/* Optional: mirror device logs and engine events at DEBUG. log must outlive h. */
void edl_fh_host_set_log(struct edl_fh_host *h, struct edl_log *log);

#endif
