/*
 * The emulated boot ROM (PBL) of a Qualcomm device in EDL mode: the device side
 * of Sahara, sans-I/O. It sends HELLO, answers command-mode requests (serial,
 * HW id / chip id v3, OEM PK hash, SBL version) from its configuration, and
 * pulls a programmer the way a real ROM does: the ELF header first, then the
 * program header table, then each loadable segment in pieces of at most 1 MiB
 * (or the profile's piece size). How real ROMs differ is in struct
 * edl_pbl_quirks.
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

/*
 * Behaviours that differ between real boot ROMs (a device profile, profile.h,
 * selects them; each value there names its public source). Zero is the common
 * case. What every real ROM does is not a quirk and is always on (Qualcomm
 * boot_sahara.c, boot_sahara_process_packets / _handle_cmd_switch_mode):
 * SWITCH_MODE is answered with a fresh HELLO carrying the new mode, and
 * anything but a HELLO_RESP while waiting for one (an XML probe, a stray
 * packet) makes the ROM send its HELLO again, also when its first HELLO was
 * never read (hello_consumed).
 */
struct edl_pbl_quirks {
	/* DONE_RESP image_tx_status after the programmer: false = 1 (complete,
	 * SDX24/SDX55), true = 0 ("pending": MSM8916, MDM9x07; qdl's
	 * sahara_has_done_pending_quirk, QFirehose's image ids 7/13/21). */
	bool done_resp_pending;
	/* Largest READ_DATA piece after the ELF headers; 0 = 1 MiB. Real ROMs ask
	 * in 4 KiB pieces (QFirehose SDX24 log). */
	uint32_t read_piece;
	/* PK hash answer: false = the hash twice (SHA-256 parts); true = the hash
	 * followed by zeros up to 144 bytes (SHA-384 parts: edl #701, #816, #477). */
	bool pk_hash_zero_padded;
	uint32_t serial_len; /* serial answer: 4, or 8 on SDX7x v3 (serial + chip id, edl #663); 0 =
	                        4 */
	uint32_t chip_id;    /* with serial_len 8: the second word (SDX7x 0x443, edl #764) */
	uint32_t hwid_len;   /* MSM HW id answer: 8, or 24 on SDM845 (edl #398); 0 = 8 */
	/* RESET_STATE_MACHINE (0x13) has no handler (XBL boot_sahara.c 2019-22):
	 * answered END_OF_IMAGE invalid command, like any unknown packet. */
	bool no_reset_state_machine;
	/* XBL: a refused EXECUTE (or any invalid packet in command mode) is answered
	 * END_OF_IMAGE, after which only RESET is accepted (state WAIT_RESET). Every
	 * other END_OF_IMAGE with an error status leads there too, as
	 * boot_sahara_handle_end_image_tx does. */
	bool refusal_needs_reset;
	/* Client commands the ROM refuses in command mode (bit n = command n),
	 * e.g. v3 parts that answer only the serial (edl #663). Answered as
	 * boot_sahara_handle_cmd_exec does: no EXECUTE_RESP, END_OF_IMAGE "command
	 * unsupported" (0x1f); not EXECUTE_RESP with length 0, which that code sends
	 * only for a supported command with an empty answer. (An MSM8909 PBL was
	 * seen answering 0x01 instead, openpst/sahara #6; hosts treat both alike.) */
	uint32_t refuse_exec_mask;
	/* SM8550 (qdl #320): a ZLP while the image is transferred breaks the
	 * transfer: the ROM stops answering (state HUNG). */
	bool zlp_breaks_transfer;
};

struct edl_pbl_config {
	uint32_t sahara_version; /* 2 or 3 */
	uint32_t serial;
	uint64_t hwid; /* msm<<32 | oem<<16 | model, e.g. SDX55 0x000cf0e1000098a9 */
	uint8_t pk_hash[64];
	size_t pk_hash_len; /* returned twice, or zero-padded (quirks.pk_hash_zero_padded) */
	uint32_t sbl_version;
	uint32_t image_id;   /* programmer id it asks for, default 0x0d */
	bool memory_dump;    /* starts in memory-debug mode (HELLO mode 2), serving a memory
	                        table (ramdump.c) and its regions */
	uint32_t dump_table; /* with memory_dump: enum edl_pbl_dump_table */
	bool hello_consumed; /* fault: its HELLO was sent before anyone listened: it waits silently
	                        until a packet arrives, then says HELLO again */
	size_t max_image;    /* refuse images larger than this (default 16 MiB) */
	struct edl_pbl_quirks quirks;
};

/* Which memory table a memory-debug ROM serves (ramdump.c). */
enum edl_pbl_dump_table {
	EDL_PBL_DUMP_REAL = 0,      /* DDRCS0_0.BIN, OCIMEM.BIN, CODERAM.BIN, RST_STAT.BIN */
	EDL_PBL_DUMP_HOSTILE_NAMES, /* file names "../../x", "/etc/passwd", "", 20 bytes no NUL */
	EDL_PBL_DUMP_BAD_TABLE,     /* a region that wraps past the end of the address space */
};

/* One entry of the memory table (bkerler/edl parttbl: save_pref, mem_base,
 * length, desc[20], filename[20]; the strings here hold up to 20 characters). */
struct edl_pbl_region {
	uint64_t save_pref;
	uint64_t base;
	uint64_t length;
	char desc[21];
	char filename[21];
};

/* The table a memory-debug ROM with this config serves: *out points to static
 * entries (the 32-bit table keeps the low 32 bits of each number). */
size_t edl_pbl_dump_regions(const struct edl_pbl_config *cfg, const struct edl_pbl_region **out);
/* Bytes of one table entry: 64 on 64-bit targets (MEMORY_DEBUG64), 52 on 32-bit ones. */
size_t edl_pbl_dump_entry_size(bool is64);
/* Encodes n entries into out (n * edl_pbl_dump_entry_size(is64) bytes). */
void edl_pbl_dump_table_bytes(const struct edl_pbl_region *r, size_t n, bool is64, uint8_t *out);
/* The bytes [offset, offset+len) of the region named filename of the unit with
 * this chip serial, as the ROM serves them (ramdump.c says how they are made). */
void edl_pbl_dump_fill(uint32_t serial, const char *filename, uint64_t offset, uint8_t *out,
                       size_t len);

enum edl_pbl_state {
	EDL_PBL_WAIT_HELLO_RESP, /* HELLO sent (or consumed), waiting for HELLO_RESP */
	EDL_PBL_COMMAND,         /* in command mode: EXECUTE / EXECUTE_DATA / SWITCH_MODE */
	EDL_PBL_TRANSFER,        /* requesting the programmer with READ_DATA(64) */
	EDL_PBL_LOADED,       /* programmer received, DONE_RESP sent: the caller now switches to the
	                         programmer */
	EDL_PBL_RESET,        /* host sent RESET */
	EDL_PBL_WAIT_RESET,   /* refusal_needs_reset: an error END_OF_IMAGE went out, only RESET is
	                         accepted */
	EDL_PBL_HUNG,         /* zlp_breaks_transfer: a ZLP arrived mid-transfer; answers nothing */
	EDL_PBL_MEMORY_DEBUG, /* memory_dump: MEMORY_DEBUG(64) sent, serving MEMORY_READ(64) of the
	                         table and the regions until RESET */
};

/* Fills cfg with an SDX55-like v2 device: serial 0x1a2b3c4d, hwid 0x000cf0e1000098a9,
 * a 32-byte PK hash, image id 0x0d, max_image 16 MiB. */
void edl_pbl_config_default(struct edl_pbl_config *cfg);

/* Creates a ROM; *out is owned by the caller (edl_pbl_free). Returns EDL_OK,
 * EDL_E_INVAL (bad version or PK hash length; a serial_len other than 0/4/8, a
 * hwid_len other than 0/8/24, a read_piece below 64) or EDL_E_NOMEM. */
int edl_pbl_new(struct edl_pbl **out, const struct edl_pbl_config *cfg);
void edl_pbl_free(struct edl_pbl *p);

/* Queues the HELLO unless hello_consumed. */
void edl_pbl_start(struct edl_pbl *p);

/* One host->device transfer; len 0 is a zero-length packet (ignored unless
 * zlp_breaks_transfer). Anything but a HELLO_RESP while waiting for one is
 * answered with a fresh HELLO; anything unexpected in another state with
 * END_OF_IMAGE(image_id, status 1), a malformed programmer or HELLO_RESP with
 * the status naming the fault; feeds after RESET or LOADED, or while HUNG, are
 * ignored. Returns EDL_OK, EDL_E_NOMEM, or EDL_E_BUSY when 32 answers are
 * queued and none was taken. */
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
