/*
 * The host engine's dump reader (dump.c), sans-I/O: given the MEMORY_DEBUG
 * announcement it says which MEMORY_READ to send next, takes the raw bytes
 * that answer it, parses the table and hands regions to the sink. host.c
 * sends the packets, watches the deadlines and sends RESET at the end.
 */
#ifndef EDLSTATION_SAHARA_DUMP_INTERNAL_H
#define EDLSTATION_SAHARA_DUMP_INTERNAL_H

#include "edlstation/sahara_dump.h"

struct edl_sahara_dumper;

/* Checks the announcement (table address and length) and creates the reader;
 * *out is the caller's (edl_sahara_dumper_free). read_bytes 0 = 512 KiB.
 * EDL_E_MEMORY_DUMP (with a detail) for an empty or oversized or ragged
 * table, EDL_E_NOMEM. */
int edl_sahara_dumper_new(struct edl_sahara_dumper **out, const struct edl_sahara_dump_sink *sink,
                          bool is64, uint64_t table_addr, uint64_t table_len, uint32_t read_bytes,
                          struct edl_error *err);
void edl_sahara_dumper_free(struct edl_sahara_dumper *d);

/* The read to send now; false when every region has been read. */
bool edl_sahara_dumper_next_read(struct edl_sahara_dumper *d, uint64_t *addr, uint64_t *len);

/* Raw bytes answering the outstanding read (never more than it asked).
 * Returns EDL_OK, or the sink's or the parser's failure (err set). */
int edl_sahara_dumper_feed(struct edl_sahara_dumper *d, const uint8_t *data, size_t len,
                           struct edl_error *err);

/* Bytes still due for the outstanding read (0: none outstanding). */
uint64_t edl_sahara_dumper_due(const struct edl_sahara_dumper *d);
/* Whether the table has been read (then regions are being read). */
bool edl_sahara_dumper_in_regions(const struct edl_sahara_dumper *d);
/* What is being read, for messages: "the memory table" or "region 2 (OCIMEM.BIN)". */
void edl_sahara_dumper_what(const struct edl_sahara_dumper *d, char *out, size_t cap);
/* Region bytes read so far, and in all. */
uint64_t edl_sahara_dumper_done_bytes(const struct edl_sahara_dumper *d);
uint64_t edl_sahara_dumper_total_bytes(const struct edl_sahara_dumper *d);
size_t edl_sahara_dumper_regions(const struct edl_sahara_dumper *d);
/* Whether the table is 64-bit (MEMORY_DEBUG64): reads are then MEMORY_READ64. */
bool edl_sahara_dumper_is64(const struct edl_sahara_dumper *d);

#endif
