/*
 * The emulated boot ROM (PBL) of a Qualcomm device in EDL mode: the device side
 * of Sahara, sans-I/O. It sends HELLO, answers command-mode requests (serial,
 * HW id / chip id v3, OEM PK hash, SBL version) from its configuration, and
 * pulls a programmer the way a real ROM does: the ELF header first, then the
 * program header table, then each loadable segment in pieces of at most 1 MiB.
 * The emulated line and the tests run it over in-memory transports; the host
 * engine (sahara.h) talks to it exactly as it talks to a real unit.
 *
 * Contract as in io.h: edl_pbl_feed() takes one host->device transfer,
 * edl_pbl_next_out() yields device->host transfers in order. A chunk's memory
 * stays valid until the next edl_pbl_feed() or edl_pbl_free().
 */
#ifndef EDLSTATION_PBL_H
#define EDLSTATION_PBL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edlstation/io.h"

struct edl_pbl;

struct edl_pbl_config {
	uint32_t sahara_version; /* 2 or 3 */
	uint32_t serial;
	uint64_t hwid; /* msm<<32 | oem<<16 | model, e.g. SDX55 0x000cf0e1000098a9 */
	uint8_t pk_hash[64];
	size_t pk_hash_len; /* the ROM returns it repeated twice, as real ones do */
	uint32_t sbl_version;
	uint32_t image_id;   /* programmer id it asks for, default 0x0d */
	bool memory_dump;    /* starts in memory-debug mode (HELLO mode 2) */
	bool hello_consumed; /* fault: its HELLO was sent before anyone listened: it waits silently
	                      */
	size_t max_image;    /* refuse images larger than this (default 16 MiB) */
};

enum edl_pbl_state {
	EDL_PBL_WAIT_HELLO_RESP, /* HELLO sent (or consumed), waiting for HELLO_RESP */
	EDL_PBL_COMMAND,         /* in command mode: EXECUTE / EXECUTE_DATA / SWITCH_MODE */
	EDL_PBL_TRANSFER,        /* requesting the programmer with READ_DATA(64) */
	EDL_PBL_LOADED, /* programmer received, DONE_RESP sent: the caller now switches to the
	                   programmer */
	EDL_PBL_RESET,  /* host sent RESET */
};

/* Fills cfg with an SDX55-like v2 device: serial 0x1a2b3c4d, hwid 0x000cf0e1000098a9,
 * a 32-byte PK hash, image id 0x0d, max_image 16 MiB. */
void edl_pbl_config_default(struct edl_pbl_config *cfg);

/* Creates a ROM; *out is owned by the caller (edl_pbl_free). Returns EDL_OK,
 * EDL_E_INVAL (bad version or PK hash length) or EDL_E_NOMEM. */
int edl_pbl_new(struct edl_pbl **out, const struct edl_pbl_config *cfg);
void edl_pbl_free(struct edl_pbl *p);

/* Queues the HELLO unless hello_consumed. */
void edl_pbl_start(struct edl_pbl *p);

/* One host->device transfer. Anything unexpected is answered with
 * END_OF_IMAGE(image_id, status 1), a malformed programmer with an error
 * status; feeds after RESET or LOADED are ignored. Returns EDL_OK, EDL_E_NOMEM,
 * or EDL_E_BUSY when 32 answers are queued and none was taken. */
int edl_pbl_feed(struct edl_pbl *p, const uint8_t *data, size_t len);

/* Next device->host transfer, in order; false when none is queued. */
bool edl_pbl_next_out(struct edl_pbl *p, struct edl_chunk *out);

enum edl_pbl_state edl_pbl_state(const struct edl_pbl *p);

/* The programmer as received (a buffer as large as the highest offset+length
 * requested); NULL with *len 0 before any data. Owned by the ROM. */
const uint8_t *edl_pbl_image(const struct edl_pbl *p, size_t *len);

/* SHA-256 of edl_pbl_image(). */
void edl_pbl_image_sha256(const struct edl_pbl *p, uint8_t out[32]);

#endif
