/*
 * The emulated Firehose programmer (internal to src/target): takes each
 * host->device transfer as one XML command document (or, after an ACK with
 * rawmode="true", as raw sector data), acts on the storage model, and queues the
 * device->host documents: <log> documents first, then the <response>. Sans-I/O
 * like the rest of the target; the composite (target.c) switches to it once the
 * PBL has loaded a programmer, or starts with it under the firehose_running fault.
 *
 * Chunks from edl_target_prog_next_out() stay valid until the next feed or free;
 * raw <read> data chunks come from a ring of EDL_TARGET_READ_RING buffers.
 */
#ifndef EDL_TARGET_PROGRAMMER_H
#define EDL_TARGET_PROGRAMMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edlstation/io.h"
#include "edlstation/target.h"
#include "target/storage_model.h"

struct edl_target_prog;

/* How the programmer's session ended, if it did. */
enum edl_target_prog_end {
	EDL_TARGET_PROG_RUNNING = 0,
	EDL_TARGET_PROG_RESET, /* <power value="reset"/> acknowledged (after DelayInSeconds) */
	EDL_TARGET_PROG_OFF,   /* <power value="off"/> */
	EDL_TARGET_PROG_RESET_TO_EDL, /* <power value="reset_to_edl"/> */
	EDL_TARGET_PROG_GONE,         /* unplug fault: stopped answering */
};

/* storage is not owned and must outlive the programmer. max_payload is its largest
 * raw transfer (faults->payload_max, when non-zero, overrides it). serial is the
 * chip serial its banner and getstorageinfo derive from. quirks (NULL = a current
 * programmer) and faults are copied; quirks->functions and the strings it points
 * to are borrowed and must outlive the programmer. */
int edl_target_prog_new(struct edl_target_prog **out, struct edl_target_storage *storage,
                        uint64_t max_payload, uint32_t serial, const struct edl_prog_quirks *quirks,
                        const struct edl_target_faults *faults);
void edl_target_prog_free(struct edl_target_prog *p);

/* Queues the stale output of an interrupted earlier session: one transfer that
 * holds a <log> document and a <response value="ACK"> document. */
int edl_target_prog_queue_stale(struct edl_target_prog *p);

/* Queues the start-up banner a programmer prints once the boot ROM has jumped to
 * it: build date twice, the chip serial, the supported functions, "End of
 * supported functions N" (one <log> document per transfer). */
int edl_target_prog_banner(struct edl_target_prog *p);

/* Starts the programmer inside an interrupted <program>'s raw phase with `bytes`
 * still due (firehose_busy): every byte fed is raw data until they have all
 * arrived, then the final ACK follows. */
int edl_target_prog_start_busy(struct edl_target_prog *p, uint64_t bytes);

/* True while a <program>'s raw data phase is taking bytes. */
bool edl_target_prog_in_raw(const struct edl_target_prog *p);

/* One host->device transfer. Returns EDL_OK or EDL_E_NOMEM/EDL_E_IO; protocol
 * errors are answered with NAKs. */
int edl_target_prog_feed(struct edl_target_prog *p, const uint8_t *data, size_t len, uint64_t now);
bool edl_target_prog_next_out(struct edl_target_prog *p, struct edl_chunk *out, uint64_t now);
uint64_t edl_target_prog_deadline(const struct edl_target_prog *p);
void edl_target_prog_timeout(struct edl_target_prog *p, uint64_t now);

enum edl_target_prog_end edl_target_prog_end(const struct edl_target_prog *p);
unsigned edl_target_prog_commands_seen(const struct edl_target_prog *p, const char *command);
uint64_t edl_target_prog_raw_bytes(const struct edl_target_prog *p);
/* The payload size in force (configure's accepted value, else the maximum). */
uint64_t edl_target_prog_payload(const struct edl_target_prog *p);
/* The LUN set by setbootablestoragedrive; -1 before any. */
int edl_target_prog_bootable(const struct edl_target_prog *p);

#endif
