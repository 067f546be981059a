/*
 * The emulated EDL device: a composite of the boot ROM (pbl.h), a Firehose
 * programmer and a storage model (eMMC, UFS LUNs, or NAND pages and erase blocks
 * with bad blocks), with faults selectable per device. The station's tests, the
 * emulated production line and the benchmarks drive it; a host that talks to it
 * cannot tell it from a unit on the bench.
 *
 * It is sans-I/O like the host engines (io.h): edl_target_feed() takes one
 * host->device USB transfer, edl_target_next_out() yields the device->host
 * transfers in order, and edl_target_deadline()/edl_target_timeout() give it
 * time (slow final ACKs, the storage write-rate model, power-command delays).
 * A chunk returned by edl_target_next_out() stays valid until the next
 * edl_target_feed() or edl_target_free(); while a <read> streams raw data, only
 * the last EDL_TARGET_READ_RING data chunks stay valid.
 *
 * Storage lives in sparse files, so an 8 GiB device costs no disk and memory
 * does not depend on the storage or image size (only the NAND page-state
 * bitmap scales: one bit per page).
 */
#ifndef EDLSTATION_TARGET_H
#define EDLSTATION_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edlstation/error.h"
#include "edlstation/io.h"
#include "edlstation/pbl.h"
#include "edlstation/storage.h"

/* Data chunks of a <read> that stay valid at once (a ring of buffers). */
#define EDL_TARGET_READ_RING 4

/* Default largest raw transfer the programmer takes (MaxPayloadSizeToTargetInBytes). */
#define EDL_TARGET_DEFAULT_PAYLOAD (1024 * 1024)

struct edl_target;

struct edl_storage_config {
	enum edl_storage_kind kind;
	uint32_t sector_size; /* emmc 512, ufs 4096, nand page size 2048 or 4096 */
	uint64_t sectors;     /* per LUN (nand: pages) */
	uint32_t luns;        /* emmc 1, ufs 6, nand 1 */
	/* Optional: sectors of each LUN (luns entries), overriding `sectors`. This and
	 * bad_blocks are only read during edl_target_new(). */
	const uint64_t *lun_sectors;
	uint32_t pages_per_block;   /* nand, 64 */
	const uint32_t *bad_blocks; /* nand: numbers of the bad erase blocks */
	size_t n_bad_blocks;
	/* Backing files dir/lun<N>.img (created sparse and kept; NAND adds its page-state
	 * file dir/lun0.pages); NULL = unlinked temporary files in $TMPDIR. */
	const char *dir;
};

/* Sensible sizes: emmc 8 GiB of 512-byte sectors; ufs 6 LUNs x 4 GiB of 4096-byte
 * sectors; nand 256 MiB of 4096-byte pages, 64 pages per block, no bad blocks. */
void edl_storage_config_default(struct edl_storage_config *cfg, enum edl_storage_kind kind);

struct edl_target_faults {
	bool firehose_running;      /* starts with the programmer already running: no HELLO */
	bool firehose_stale_output; /* ... with stale <log>+<response> documents queued */
	bool silent;                /* answers nothing, ever (state SILENT) */
	bool hello_consumed;        /* the PBL's HELLO was lost (passed to the PBL config) */
	char nak_command[32];       /* NAK the nak_nth (1-based) command of this kind ... */
	uint32_t nak_nth;           /* ... with a log "ERROR: injected failure ..." */
	uint64_t payload_max;       /* programmer's max payload (0 = the config's max_payload) */
	bool corrupt;               /* flip one bit in the data of the first program */
	uint64_t unplug_at_bytes;   /* after this many raw bytes received in total: state GONE */
	/* After this many bytes received in total (Sahara upload, commands and raw
	 * data alike): the OUT endpoint stops draining (edl_target_stalled()); the
	 * unit stays attached and answers control requests. 0 = never. */
	uint64_t stall_at_bytes;
	/* The programmer was interrupted inside a <program>'s raw data: it runs from
	 * power-on and takes every byte as raw data until the rest of that range
	 * has arrived (Sony's Firehose doc), then answers it. */
	bool firehose_busy;
	uint64_t firehose_busy_bytes; /* raw bytes still due under firehose_busy; 0 = 8 MiB */
	/* An XBL-like ROM (boot_sahara.c 2019-22) that refuses command-mode request
	 * xbl_refuse (a client command id, 0 = none) with END_OF_IMAGE, then accepts
	 * only RESET, after which the unit reboots into EDL. A property of the ROM:
	 * the emulated line keeps it across reboots. */
	uint32_t xbl_refuse;
	uint32_t slow_final_ack_ms; /* delay every final ACK of program by this much */
	/* Storage speed in bytes/s (0 = instant): the final ACK of a program comes no
	 * earlier than bytes/rate after the program command arrived. */
	uint64_t write_rate_bps;
	/* The unit crashed into memory-debug mode (PBL HELLO mode 2): it serves a
	 * memory table and its regions (pbl.h); dump_table is enum
	 * edl_pbl_dump_table (a real table, hostile names, a broken table). */
	bool memory_dump;
	uint32_t dump_table;
	/* issue 15 (preserve-read): a <read> touching the seeded modemst1 partition
	 * (cal_seed.h layout) is NAKed with a storage read error, as a real
	 * programmer answers a read the storage fails. */
	bool preserve_read;
};

/*
 * Behaviours that differ between real Firehose programmers (a device profile,
 * profile.h, selects them; each value there names its public source). Zero is
 * a current programmer. Every programmer prints a start-up banner (build date,
 * chip serial, the supported functions, "End of supported functions N") before
 * its first command: that is not a quirk.
 */
struct edl_prog_quirks {
	/* Supported functions, as the banner lists them; a command not in the list
	 * is answered as an unknown tag. NULL = every command the emulator knows. */
	const char *const *functions;
	bool banner_one_line;        /* "Supported Functions: a b c" (fwupd parses both forms) */
	const char *chip_serial_log; /* banner line, e.g. "Chip serial num: 0 (0x0)" (SDX55); NULL =
	                                derived */
	const char *target_name;     /* TargetName in configure answers; NULL = none */
	/* configure with another MemoryName is ACKed (old code answers
	 * MemoryName="eMMC"); the first storage access then fails with the real texts
	 * ("Failed to open the SDCC Device slot 0 partition 0", ...). */
	bool memory_name_lenient;
	/* Old deviceprogrammer (MSM8909-era handleErase): <erase> ignores the range
	 * and erases the whole physical partition. */
	bool erase_whole_lun;
	bool erase_needs_alignment; /* MDM9607: "start_sector unaligned" + NAK on a NAND erase */
	bool nop_bare_ack;          /* old code: <nop/> answers a bare ACK, no log */
	/* Old handlePower: only the "reset"/"off" prefixes (reset_to_edl resets
	 * normally); unknown values get no answer at all. */
	bool power_prefix_only;
	bool late_logs;         /* MSM8916: some <log> documents come after the <response> */
	bool patch_file_silent; /* a <patch> aimed at a file gets no response at all */
	bool vendor_erase;      /* Quectel programmers ACK <erase ... vendor="quectel"/> */
	/* configure offering more than the maximum: ACK with the programmer's own
	 * size (SDX55) instead of the NAK "WARN: NAK: MaxPayloadSizeToTargetInBytes
	 * sent by host N larger than supported M" (SDM855, EDLTests log). */
	bool payload_ack_own_size;
};

struct edl_target_config {
	struct edl_pbl_config pbl;
	struct edl_storage_config storage;
	uint64_t max_payload; /* programmer's largest raw transfer, default 1 MiB */
	struct edl_prog_quirks prog;
	struct edl_target_faults faults;
	/* Seed the calibration partitions and their table from pbl.serial when the
	 * device is created (edlstation/cal_seed.h; the emulated line sets it on a
	 * unit's first power-on only). */
	bool seed_cal;
};

/* Defaults: edl_pbl_config_default(), edl_storage_config_default(kind), 1 MiB, no faults. */
void edl_target_config_default(struct edl_target_config *cfg, enum edl_storage_kind kind);

/* Creates a device and opens (creating when needed) its storage. *out is owned by
 * the caller (edl_target_free). Returns EDL_OK, EDL_E_CONFIG (bad geometry, with
 * a detail naming the field), EDL_E_IO (backing file) or EDL_E_NOMEM. */
int edl_target_new(struct edl_target **out, const struct edl_target_config *cfg,
                   struct edl_error *err);
void edl_target_free(struct edl_target *t);

/* Powers the device on: the PBL sends HELLO (or the faults' start state applies). */
void edl_target_start(struct edl_target *t, uint64_t now);

/* One host->device transfer (a zero-length one is a ZLP and is ignored). Protocol
 * problems are answered on the wire, never returned. Returns EDL_OK, EDL_E_NOMEM,
 * or EDL_E_IO when a backing file failed. */
int edl_target_feed(struct edl_target *t, const uint8_t *data, size_t len, uint64_t now);

/* Next device->host transfer whose time has come; false when none. */
bool edl_target_next_out(struct edl_target *t, struct edl_chunk *out, uint64_t now);

/* Earliest time a delayed answer or a state change is due (slow ACK, write rate,
 * power delay); 0 when none. */
uint64_t edl_target_deadline(const struct edl_target *t);

/* Call when the deadline has passed: releases what is due. */
void edl_target_timeout(struct edl_target *t, uint64_t now);

enum edl_target_state {
	EDL_TARGET_SAHARA,       /* the boot ROM speaks Sahara */
	EDL_TARGET_FIREHOSE,     /* the programmer runs */
	EDL_TARGET_RESET,        /* Sahara RESET or <power value="reset">: the session ended */
	EDL_TARGET_OFF,          /* <power value="off"> */
	EDL_TARGET_RESET_TO_EDL, /* <power value="reset_to_edl">: comes back with a fresh HELLO */
	EDL_TARGET_GONE,         /* unplugged / stopped answering */
	EDL_TARGET_SILENT,       /* the silent fault: never answered anything */
};

enum edl_target_state edl_target_state(const struct edl_target *t);

/* True once the stall fault has tripped: the transport must stop completing OUT
 * transfers (they stay pending until cancelled) and must not call feed(). */
bool edl_target_stalled(const struct edl_target *t);
const char *edl_target_state_name(enum edl_target_state s);

/* SHA-256 of the programmer the PBL received; zeros if none was received. */
void edl_target_programmer_sha256(const struct edl_target *t, uint8_t out[32]);

/* How many Firehose commands of this kind ("program", "configure", ...) arrived,
 * NAKed ones included. */
unsigned edl_target_commands_seen(const struct edl_target *t, const char *command);

/* Raw data bytes received in total (program data phases). */
uint64_t edl_target_raw_bytes(const struct edl_target *t);

/* Reads stored bytes, for tests and the emulator's dump: eMMC/UFS sectors as the
 * host sees them; NAND raw pages (erased pages read 0xFF, no bad-block mapping).
 * buf holds count * sector_size bytes. Returns EDL_OK, EDL_E_RANGE or EDL_E_IO. */
int edl_target_read_storage(struct edl_target *t, uint32_t lun, uint64_t sector, uint64_t count,
                            uint8_t *buf);

/* Path of LUN lun's backing file when the storage has a dir; NULL otherwise. */
const char *edl_target_storage_path(struct edl_target *t, uint32_t lun);

/*
 * Parses one fault as operators write it ("firehose-running", "nak=program:2",
 * "unplug-at=4M", "payload-max=16384", ...) onto f (src/target/fault_spec.c).
 * Returns EDL_OK or EDL_E_INVAL with err naming the spec and the known kinds.
 */
int edl_target_fault_parse(struct edl_target_faults *f, const char *spec, struct edl_error *err);

/* The fault kinds edl_target_fault_parse knows, for usage texts. */
const char *edl_target_fault_kinds(void);

#endif
