/*
 * The in-memory transport: joins a host-side flash job and an emulated device
 * (struct edl_target) in one process, without USB, on a virtual clock. It is
 * what unit tests and `edlstation memflash` run on.
 *
 * Host->device: every chunk the job emits is one transfer fed to the device,
 * and reported to the job as accepted (edl_flash_job_out_done); a device that
 * has stalled (edl_target_stalled) is fed nothing more, so the job sees its
 * bytes never accepted.
 * Device->host: what the device emits is a byte stream with transfer
 * boundaries. During Sahara every read returns exactly one device transfer (a
 * real 48-byte HELLO never arrives split). Once the job speaks Firehose, the
 * link can cut and merge what the device sent at will (fixed sizes, seeded
 * random sizes across transfer boundaries) to prove the framing.
 *
 * Time is virtual: when neither side can make progress the clock jumps to the
 * nearest deadline, so a 500 ms silence costs nothing in a test.
 */
#ifndef EDLSTATION_MEMLINK_H
#define EDLSTATION_MEMLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edlstation/error.h"

struct edl_flash_job;
struct edl_target;

enum edl_memlink_fragment {
	EDL_MEMLINK_WHOLE = 0, /* one read = one device transfer */
	EDL_MEMLINK_FIXED = 1, /* reads of exactly fragment_size bytes (less at the end of data) */
	EDL_MEMLINK_RANDOM =
	        2, /* reads of 1..fragment_size bytes, seeded, across transfer boundaries */
};

struct edl_memlink_options {
	enum edl_memlink_fragment fragment;
	size_t fragment_size; /* FIXED/RANDOM; default 1 */
	uint32_t seed;        /* RANDOM */
	uint64_t start_ms;    /* virtual clock at start (default 1000) */
	uint64_t max_ms;      /* give up after this much virtual time (default 1 hour) */
};

struct edl_memlink_stats {
	uint64_t end_ms;          /* virtual time when the job finished */
	uint64_t host_transfers;  /* host->device transfers */
	uint64_t device_reads;    /* reads the host made */
	uint64_t bytes_to_device; /* all host->device bytes */
};

void edl_memlink_options_default(struct edl_memlink_options *opt);

/*
 * Starts target and job and pumps bytes and time between them until the job
 * finishes. Returns EDL_OK when the job ran to an end (check the job's own
 * status for pass/fail), or an error when the link itself could not go on
 * (EDL_E_TIMEOUT past max_ms, EDL_E_INTERNAL when both sides wait with no
 * deadline). stats may be NULL.
 */
int edl_memlink_run(struct edl_flash_job *job, struct edl_target *target,
                    const struct edl_memlink_options *opt, struct edl_memlink_stats *stats,
                    struct edl_error *err);

#endif
