/*
 * Internals of the Firehose module shared by its files, its tests and its fuzz
 * target: the command builders (command.c), the stream framer (framer.c), the
 * document parser (response.c) and the parsers of getstorageinfo and
 * getsha256digest logs (storage_info.c). The engine (host.c) composes them.
 */
#ifndef EDLSTATION_FH_INTERNAL_H
#define EDLSTATION_FH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edlstation/buf.h"
#include "edlstation/error.h"
#include "edlstation/firehose.h"

#define EDL_FH_DEFAULT_PAYLOAD 1048576u
#define EDL_FH_PAYLOAD_MIN 512u
#define EDL_FH_PAYLOAD_MAX (64u * 1024u * 1024u)
#define EDL_FH_PAYLOAD_UP_MAX (16u * 1024u * 1024u) /* never negotiate upwards past this */

/*
 * Command documents. Each replaces the contents of out with one complete
 * document `<?xml version="1.0"?>\n<data><CMD .../></data>\n`. Returns EDL_OK,
 * EDL_E_INVAL (bad argument, detail in err) or EDL_E_NOMEM.
 */
int edl_fh_cmd_configure(struct edl_buf *out, const struct edl_fh_configure *c, uint64_t payload,
                         struct edl_error *err);
int edl_fh_cmd_program(struct edl_buf *out, const struct edl_fh_range *r, struct edl_error *err);
int edl_fh_cmd_erase(struct edl_buf *out, const struct edl_fh_range *r, struct edl_error *err);
int edl_fh_cmd_read(struct edl_buf *out, const struct edl_fh_range *r, struct edl_error *err);
int edl_fh_cmd_patch(struct edl_buf *out, const struct edl_fh_patch *p, struct edl_error *err);
int edl_fh_cmd_getstorageinfo(struct edl_buf *out, uint32_t lun, struct edl_error *err);
int edl_fh_cmd_getsha256digest(struct edl_buf *out, const struct edl_fh_range *r,
                               struct edl_error *err);
int edl_fh_cmd_setbootable(struct edl_buf *out, uint32_t lun, struct edl_error *err);
int edl_fh_cmd_nop(struct edl_buf *out, struct edl_error *err);
int edl_fh_cmd_power(struct edl_buf *out, const char *value, uint32_t delay_s,
                     struct edl_error *err);
/* A vendor entry: element with the n_pairs (name, value) pairs of attrs, in
 * order, nothing added. EDL_E_INVAL for a name that is not an XML name, a
 * NULL value, a repeated attribute or more than 64 pairs. */
int edl_fh_cmd_vendor(struct edl_buf *out, const char *element, const char *const *attrs,
                      size_t n_pairs, struct edl_error *err);

/*
 * The framer: cuts the device's byte stream into documents, from "<?xml" to
 * the first "</data>" after it. It consumes input only up to the end of the
 * document it completes, so the caller can switch framing off (raw data) right
 * after any document. Results do not depend on how the stream is fragmented.
 */
enum edl_fh_framer_state {
	EDL_FH_FRAMER_SCAN = 0, /* outside documents, looking for "<?xml" */
	EDL_FH_FRAMER_DOC = 1,  /* inside a document, looking for "</data>" */
	EDL_FH_FRAMER_SKIP = 2, /* dropping an oversized document up to its "</data>" */
};

struct edl_fh_framer {
	struct edl_buf doc; /* the document being collected */
	size_t max;         /* largest document accepted */
	enum edl_fh_framer_state state;
	unsigned match;      /* bytes of the pattern matched so far (SCAN, SKIP) */
	size_t search_from;  /* where to resume looking for "</data>" in doc (DOC) */
	bool ready;          /* doc holds a complete document */
	uint64_t skipped;    /* bytes dropped outside documents (and of oversized ones) */
	uint64_t docs;       /* documents completed */
	unsigned junk_match; /* bytes of f0 e9 88 14 held back (split over pushes) */
	uint64_t stripped;   /* bytes of f0 e9 88 14 sequences removed */
};

void edl_fh_framer_init(struct edl_fh_framer *f, size_t max_doc_bytes);
void edl_fh_framer_free(struct edl_fh_framer *f);

/* Consumes bytes from data; *used says how many. The sequence f0 e9 88 14 is
 * removed wherever it occurs, before framing. Returns 0 when all were
 * consumed without completing a document, 1 when a document is complete (read
 * it with edl_fh_framer_doc() before the next push), EDL_E_FH_TOO_LARGE when a
 * document grew past the limit (it is dropped; framing goes on after its
 * "</data>"), EDL_E_NOMEM. */
int edl_fh_framer_push(struct edl_fh_framer *f, const uint8_t *data, size_t len, size_t *used);

/* The completed document (not NUL-terminated). */
const char *edl_fh_framer_doc(const struct edl_fh_framer *f, size_t *len);

/* One parsed document: its <log> and <response> elements, in order. */
enum edl_fh_item_kind {
	EDL_FH_ITEM_LOG = 0,
	EDL_FH_ITEM_RESPONSE = 1,
};

struct edl_fh_attr {
	char *name;
	char *value;
};

struct edl_fh_item {
	enum edl_fh_item_kind kind;
	char *text; /* log: its value; response: its value ("ACK", "NAK") */
	struct edl_fh_attr *attrs;
	size_t n_attrs; /* every attribute of the element, value included */
};

struct edl_fh_doc {
	struct edl_fh_item *items;
	size_t n_items;
};

/* Parses one document with hardened libxml2 (no network, no entities, no DTD:
 * a document holding "<!DOCTYPE" or "<!ENTITY" is refused). Returns EDL_OK,
 * EDL_E_FH_XML (malformed, detail carries libxml2's message), EDL_E_FH_TOO_LARGE,
 * EDL_E_FH_PROTOCOL (root is not <data>) or EDL_E_NOMEM. Free with
 * edl_fh_doc_free() whatever the result. */
int edl_fh_doc_parse(struct edl_fh_doc *out, const char *xml, size_t len, size_t max,
                     struct edl_error *err);
void edl_fh_doc_free(struct edl_fh_doc *d);
const char *edl_fh_item_attr(const struct edl_fh_item *it, const char *name);

/* Parses a decimal (or 0x-prefixed hexadecimal) number filling the whole
 * string, within [min, max]. */
bool edl_fh_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* getstorageinfo: the JSON-in-log form, the "Device Total Logical Blocks: 0x..."
 * lines and eMMC's SECTOR_SIZE_IN_BYTES= / num_physical_partitions= / MFR_ID=
 * lines (see struct edl_fh_storage_info). Returns EDL_OK with out->valid set,
 * or EDL_E_FH_STORAGE_INFO (out then holds whatever fields were found). */
int edl_fh_storage_info_parse(struct edl_fh_storage_info *out, const char *const *logs, size_t n);

/* getsha256digest: the first run of exactly 64 hex digits, preferring logs
 * that mention a digest; a run of fewer than 64 digits ending a log is joined
 * with a log of hex digits right after it when together they make 64.
 * Returns EDL_OK or EDL_E_FH_DIGEST. */
int edl_fh_digest_parse(uint8_t out[32], const char *const *logs, size_t n);

#endif
