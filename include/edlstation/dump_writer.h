/*
 * Where a unit's memory dump goes on the station (issue 15): the Sahara
 * host's dump sink (sahara_dump.h) writing DIR/<serial>/<time>/<region>
 * files and DIR/<serial>/<time>/manifest.json (each region's name as the
 * table gives it and as stored, description, base, size, bytes written,
 * SHA-256; "complete": false with the reason when the dump stopped short).
 *
 * Before a byte is read the writer decides whether the unit is dumped at
 * all: a table larger than the limit ([rma] dump_max_mb) or a dump_dir
 * without room for it (statvfs) refuses the dump with a sentence that says
 * how much, where, and what to change; the host then resets the unit.
 *
 * One writer per attempt; the unit owns it. Files are written synchronously
 * on the caller's thread (a region piece at a time, 512 KiB).
 */
#ifndef EDLSTATION_DUMP_WRITER_H
#define EDLSTATION_DUMP_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edlstation/error.h"
#include "edlstation/sahara_dump.h"

struct edl_dump_writer;

struct edl_dump_writer_options {
	const char *dir;    /* [rma] dump_dir; created when missing */
	const char *serial; /* the unit's directory name (sanitized again here) */
	uint64_t max_bytes; /* [rma] dump_max_mb in bytes */
	int64_t wall_ms;    /* names the <time> directory (UTC) and dates the files */
	/* Room the file system must keep beyond the dump; 0 = 16 MiB. */
	uint64_t reserve_bytes;
};

/* One region's file, for the run's archive rows. */
struct edl_dump_file {
	const char *name;    /* file name in the dump's directory */
	const char *path;    /* full path */
	const char *desc;    /* the table's description */
	uint64_t base, size; /* from the table */
	uint64_t written;    /* bytes on disk */
	bool complete;       /* written == size, file closed */
	const char *sha256;  /* of what was written, 64 hex digits (when complete) */
};

/* Creates a writer; *out is the caller's (edl_dump_writer_free). EDL_OK or
 * EDL_E_NOMEM. Nothing is created on disk until the table has been read. */
int edl_dump_writer_new(struct edl_dump_writer **out, const struct edl_dump_writer_options *o);
void edl_dump_writer_free(struct edl_dump_writer *w);

/* The sink to put in edl_sahara_host_config.dump; valid while w lives. */
const struct edl_sahara_dump_sink *edl_dump_writer_sink(struct edl_dump_writer *w);

/* Writes the manifest if the dump has not ended complete: "complete": false
 * and why (reason), keeping every partial file. Does nothing when no
 * directory was created (the dump was refused or never started) or the
 * manifest of a complete dump is already written. EDL_OK or EDL_E_IO. */
int edl_dump_writer_abandon(struct edl_dump_writer *w, const char *reason, struct edl_error *err);

/* The dump's directory ("" until created), whether it completed, its files. */
const char *edl_dump_writer_dir(const struct edl_dump_writer *w);
bool edl_dump_writer_complete(const struct edl_dump_writer *w);
size_t edl_dump_writer_files(const struct edl_dump_writer *w);
const struct edl_dump_file *edl_dump_writer_file(const struct edl_dump_writer *w, size_t i);
uint64_t edl_dump_writer_bytes(const struct edl_dump_writer *w);

#endif
