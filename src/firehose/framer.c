/*
 * Framing of the device's byte stream into Firehose documents. A document runs
 * from "<?xml" to the first "</data>" after it; a USB transfer may hold several
 * documents, part of one, or garbage between them. The framer is a byte-level
 * state machine (the two patterns have no self-overlap, so a one-counter
 * matcher is exact), which is why it yields the same documents whether the
 * stream arrives a byte at a time or whole. It stops consuming at the end of
 * each document so the engine can take the bytes after a rawmode ACK as data.
 *
 * Some programmers put the bytes f0 e9 88 14 into their XML stream; bkerler/edl
 * (edl/Library/xmlparser.py) removes them wherever they occur and commaai/qdl.js
 * has a test for the same sequence. A filter in front of the framer drops them
 * (also when split over pushes), so documents holding them still parse. The
 * raw phase of a read never reaches the framer, so data bytes are untouched.
 */
#include "firehose/fh_internal.h"

#include <assert.h>
#include <string.h>

static const char DOC_START[] = "<?xml"; /* 5 bytes */
static const char DOC_END[] = "</data>"; /* 7 bytes */
#define START_LEN (sizeof(DOC_START) - 1)
#define END_LEN (sizeof(DOC_END) - 1)

void edl_fh_framer_init(struct edl_fh_framer *f, size_t max_doc_bytes)
{
	memset(f, 0, sizeof(*f));
	edl_buf_init(&f->doc);
	f->max = max_doc_bytes < 64 ? 64 : max_doc_bytes;
	f->state = EDL_FH_FRAMER_SCAN;
}

void edl_fh_framer_free(struct edl_fh_framer *f)
{
	edl_buf_free(&f->doc);
}

/* One step of a matcher for a pattern whose only '<' is its first byte. */
static unsigned match_step(const char *pat, unsigned match, uint8_t b)
{
	if ((char)b == pat[match])
		return match + 1;
	return b == '<' ? 1 : 0;
}

/* Outside documents: skip to "<?xml". Returns bytes consumed; sets DOC state
 * when the start pattern completes. */
static size_t scan(struct edl_fh_framer *f, const uint8_t *data, size_t len)
{
	size_t i = 0;

	while (i < len) {
		if (f->match == 0) {
			const uint8_t *lt = memchr(data + i, '<', len - i);
			size_t skip = lt != NULL ? (size_t)(lt - (data + i)) : len - i;
			f->skipped += skip;
			i += skip;
			if (lt == NULL)
				break;
		}
		unsigned prev = f->match;
		f->match = match_step(DOC_START, f->match, data[i]);
		i++;
		if (f->match <= prev) {
			/* The bytes matched so far were garbage; a '<' that
			 * restarted the match is still pending. */
			f->skipped += prev + (f->match == 0 ? 1 : 0);
		}
		if (f->match == START_LEN) {
			f->state = EDL_FH_FRAMER_DOC;
			f->match = 0;
			edl_buf_reset(&f->doc);
			f->search_from = START_LEN;
			break;
		}
	}
	return i;
}

/* Dropping an oversized document: everything up to its "</data>". */
static size_t skip_large(struct edl_fh_framer *f, const uint8_t *data, size_t len)
{
	size_t i = 0;

	while (i < len) {
		f->match = match_step(DOC_END, f->match, data[i]);
		i++;
		f->skipped++;
		if (f->match == END_LEN) {
			f->state = EDL_FH_FRAMER_SCAN;
			f->match = 0;
			break;
		}
	}
	return i;
}

/* Where "</data>" starts in doc at or after from, or SIZE_MAX. */
static size_t find_end(const struct edl_buf *doc, size_t from)
{
	size_t n = edl_buf_size(doc);
	if (n < END_LEN || from > n - END_LEN)
		return SIZE_MAX;
	const uint8_t *h = edl_buf_head(doc);
	const uint8_t *p = memmem(h + from, n - from, DOC_END, END_LEN);
	return p != NULL ? (size_t)(p - h) : SIZE_MAX;
}

/* Enters SKIP with the matcher primed by the tail of the dropped document, so
 * a "</data>" straddling the cut is still seen. */
static void start_skip(struct edl_fh_framer *f)
{
	size_t n = edl_buf_size(&f->doc);
	const uint8_t *h = edl_buf_head(&f->doc);
	size_t from = n > END_LEN ? n - END_LEN : 0;

	f->match = 0;
	for (size_t i = from; i < n; i++)
		f->match = match_step(DOC_END, f->match, h[i]);
	f->skipped += n;
	edl_buf_reset(&f->doc);
	f->state = EDL_FH_FRAMER_SKIP;
}

/* The framer proper, on bytes the filter passed. */
static int push_filtered(struct edl_fh_framer *f, const uint8_t *data, size_t len, size_t *used)
{
	size_t i = 0;

	while (i < len) {
		switch (f->state) {
		case EDL_FH_FRAMER_SCAN:
			i += scan(f, data + i, len - i);
			if (f->state == EDL_FH_FRAMER_DOC) {
				int rc = edl_buf_append(&f->doc, DOC_START, START_LEN);
				if (rc != EDL_OK) {
					*used = i;
					return rc;
				}
			}
			break;
		case EDL_FH_FRAMER_SKIP:
			i += skip_large(f, data + i, len - i);
			break;
		case EDL_FH_FRAMER_DOC: {
			size_t have = edl_buf_size(&f->doc);
			size_t room = f->max - have;
			size_t take = len - i < room ? len - i : room;
			if (take == 0) {
				/* A byte beyond the limit with no end in sight. */
				start_skip(f);
				*used = i;
				return EDL_E_FH_TOO_LARGE;
			}
			int rc = edl_buf_append(&f->doc, data + i, take);
			if (rc != EDL_OK) {
				*used = i;
				return rc;
			}
			size_t end = find_end(&f->doc, f->search_from);
			if (end == SIZE_MAX) {
				size_t n = edl_buf_size(&f->doc);
				f->search_from = n >= END_LEN ? n - END_LEN + 1 : 0;
				i += take;
				break;
			}
			size_t doc_len = end + END_LEN;
			assert(doc_len > have && doc_len <= have + take);
			/* Give back what followed the document. */
			f->doc.len = f->doc.off + doc_len;
			i += doc_len - have;
			f->state = EDL_FH_FRAMER_SCAN;
			f->match = 0;
			f->ready = true;
			f->docs++;
			*used = i;
			return 1;
		}
		}
	}
	*used = i;
	return 0;
}

static const uint8_t JUNK[4] = {0xf0, 0xe9, 0x88, 0x14};

/* Hands the held-back start of a junk sequence that turned out to be data to
 * the framer. It cannot complete a document (a document ends with '>'), but it
 * can make one too large. */
static int release_held(struct edl_fh_framer *f, unsigned held)
{
	const uint8_t *p = JUNK;
	size_t n = held;
	int result = 0;

	while (n > 0) {
		size_t u = 0;
		int rc = push_filtered(f, p, n, &u);
		assert(rc != 1);
		if (rc == EDL_E_FH_TOO_LARGE)
			result = rc;
		else if (rc < 0)
			return rc;
		p += u;
		n -= u;
	}
	return result;
}

int edl_fh_framer_push(struct edl_fh_framer *f, const uint8_t *data, size_t len, size_t *used)
{
	size_t i = 0;

	if (f->ready) {
		f->ready = false;
		edl_buf_reset(&f->doc);
	}
	while (i < len) {
		if (f->junk_match > 0) {
			if (data[i] == JUNK[f->junk_match]) {
				i++;
				if (++f->junk_match == sizeof(JUNK)) {
					f->junk_match = 0;
					f->stripped += sizeof(JUNK);
				}
				continue;
			}
			/* Not the sequence: the held bytes were data. JUNK has no
			 * self-overlap, so data[i] is matched afresh below. */
			unsigned held = f->junk_match;
			f->junk_match = 0;
			int rc = release_held(f, held);
			if (rc != 0) {
				*used = i;
				return rc;
			}
			continue;
		}
		const uint8_t *j = memchr(data + i, JUNK[0], len - i);
		size_t seg = j != NULL ? (size_t)(j - (data + i)) : len - i;
		if (seg == 0) {
			f->junk_match = 1;
			i++;
			continue;
		}
		size_t u = 0;
		int rc = push_filtered(f, data + i, seg, &u);
		i += u;
		if (rc != 0) {
			*used = i;
			return rc;
		}
	}
	*used = i;
	return 0;
}

const char *edl_fh_framer_doc(const struct edl_fh_framer *f, size_t *len)
{
	assert(f->ready);
	*len = edl_buf_size(&f->doc);
	return (const char *)edl_buf_head(&f->doc);
}
