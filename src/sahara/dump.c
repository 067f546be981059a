/*
 * Memory dumps, the host's side (sahara_dump.h): the memory-table parser and
 * the reader that walks table and regions in MEMORY_READ pieces.
 *
 * The table comes from a crashed unit, so nothing in it is trusted. Its
 * length is bounded before anything is allocated (64 KiB, qdl's limit), it
 * must be a whole number of entries (bkerler/edl checks the same), each
 * region's range must fit the target's address space, and each file name
 * becomes a safe name: the 20-byte field may hold no NUL (qdl terminates it
 * by force), a path ("../x", "/etc/passwd"), nothing, or a name used twice;
 * qdl refuses names with a separator, we rename them instead, so the dump is
 * still collected and no byte lands outside the unit's directory. The names
 * the table gave are kept (escaped) for the manifest.
 */
#include "dump_internal.h"

#include "edlstation/sahara.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NAME_FIELD 20

enum dump_phase {
	PHASE_TABLE,   /* the table's read is out */
	PHASE_REGIONS, /* reading regions */
	PHASE_DONE,    /* every region read, the sink's end called */
};

struct edl_sahara_dumper {
	const struct edl_sahara_dump_sink *sink;
	bool is64;
	uint64_t table_addr;
	size_t table_len;
	uint32_t read_bytes;
	enum dump_phase phase;

	uint8_t *table; /* as received */
	size_t table_got;

	struct edl_sahara_region *regions;
	size_t n;
	uint64_t total, done;

	/* The read out now: [addr, addr + len), got bytes of it arrived. */
	bool outstanding;
	uint64_t addr, len, got;
	size_t cur;      /* region being read */
	uint64_t offset; /* offset of the outstanding read in it */
};

/* A name is taken when an earlier region has it, or it is the manifest's. */
static bool name_taken(const struct edl_sahara_region *r, size_t n, const char *name)
{
	if (strcasecmp(name, "manifest.json") == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(r[i].name, name) == 0)
			return true;
	return false;
}

/* The table's name field made a file name (struct edl_sahara_region.name). */
static void safe_name(struct edl_sahara_region *r, size_t index,
                      const struct edl_sahara_region *prev, const uint8_t *field)
{
	char base[NAME_FIELD + 1];
	size_t n = 0, i;

	for (i = 0; i < NAME_FIELD && field[i] != '\0'; i++) {
		unsigned char c = field[i];

		base[n++] = (char)(isalnum(c) || c == '.' || c == '_' || c == '-' ? c : '_');
	}
	base[n] = '\0';
	/* No hidden files, no "." or "..": leading dots become '_'. */
	for (i = 0; i < n && base[i] == '.'; i++)
		base[i] = '_';
	if (n == 0)
		snprintf(base, sizeof(base), "region%zu.bin", index);
	snprintf(r->name, sizeof(r->name), "%s", base);
	for (unsigned k = 2; name_taken(prev, index, r->name) && k < 100000; k++) {
		const char *dot = strrchr(base, '.');
		int stem = dot && dot != base ? (int)(dot - base) : (int)strlen(base);

		snprintf(r->name, sizeof(r->name), "%.*s-%u%s", stem, base, k, base + stem);
	}
}

/* A name field for people: printable ASCII kept, other bytes escaped as \xNN
 * (escape) or shown as '?'. */
static void printable(char *out, size_t cap, const uint8_t *field, bool escape)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < NAME_FIELD && field[i] != '\0'; i++) {
		unsigned char c = field[i];
		bool plain = c >= 0x20 && c < 0x7f && c != '\\';
		size_t need = plain || !escape ? 1 : 4;

		if (o + need >= cap)
			break;
		if (plain)
			out[o++] = (char)c;
		else if (escape)
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
		else
			out[o++] = '?';
		out[o] = '\0';
	}
}

int edl_sahara_dump_parse_table(struct edl_sahara_region **out, size_t *n, const uint8_t *data,
                                size_t len, bool is64, struct edl_error *err)
{
	size_t es = is64 ? EDL_SAHARA_DUMP_ENTRY64 : EDL_SAHARA_DUMP_ENTRY32;
	struct edl_sahara_region *r;
	size_t count;

	*out = NULL;
	*n = 0;
	if (len == 0)
		return edl_error_set(err, EDL_E_MEMORY_DUMP,
		                     "the unit announces an empty memory table: nothing to dump");
	if (len > EDL_SAHARA_DUMP_MAX_TABLE)
		return edl_error_set(
		        err, EDL_E_MEMORY_DUMP,
		        "the unit announces a memory table of %zu bytes, more than the "
		        "%u a table can be",
		        len, EDL_SAHARA_DUMP_MAX_TABLE);
	if (len % es != 0)
		return edl_error_set(
		        err, EDL_E_MEMORY_DUMP,
		        "the memory table is %zu bytes, not a whole number of %zu-byte "
		        "%s entries",
		        len, es, is64 ? "64-bit" : "32-bit");
	count = len / es;
	r = calloc(count, sizeof(*r));
	if (r == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "memory table of %zu entries", count);
	for (size_t i = 0; i < count; i++) {
		const uint8_t *e = data + i * es;
		uint64_t limit = is64 ? UINT64_MAX : UINT32_MAX;

		if (is64) {
			r[i].save_pref = edl_sahara_get_le64(e);
			r[i].base = edl_sahara_get_le64(e + 8);
			r[i].length = edl_sahara_get_le64(e + 16);
		} else {
			r[i].save_pref = edl_sahara_get_le32(e);
			r[i].base = edl_sahara_get_le32(e + 4);
			r[i].length = edl_sahara_get_le32(e + 8);
		}
		printable(r[i].desc, sizeof(r[i].desc), e + es - 2 * NAME_FIELD, false);
		printable(r[i].raw_name, sizeof(r[i].raw_name), e + es - NAME_FIELD, true);
		safe_name(&r[i], i, r, e + es - NAME_FIELD);
		/* The last byte is base + length - 1: it must exist. */
		if (r[i].length > 0 && r[i].length - 1 > limit - r[i].base) {
			int rc = edl_error_set(err, EDL_E_MEMORY_DUMP,
			                       "memory table entry %zu (\"%s\") is 0x%" PRIx64
			                       " bytes at 0x%" PRIx64
			                       ": it runs past the end of the %s address space; "
			                       "the table is damaged, the unit was not dumped",
			                       i, r[i].raw_name, r[i].length, r[i].base,
			                       is64 ? "64-bit" : "32-bit");
			free(r);
			return rc;
		}
	}
	*out = r;
	*n = count;
	return EDL_OK;
}

int edl_sahara_dumper_new(struct edl_sahara_dumper **out, const struct edl_sahara_dump_sink *sink,
                          bool is64, uint64_t table_addr, uint64_t table_len, uint32_t read_bytes,
                          struct edl_error *err)
{
	size_t es = is64 ? EDL_SAHARA_DUMP_ENTRY64 : EDL_SAHARA_DUMP_ENTRY32;
	struct edl_sahara_dumper *d;

	*out = NULL;
	if (table_len == 0)
		return edl_error_set(err, EDL_E_MEMORY_DUMP,
		                     "the unit announces an empty memory table at 0x%" PRIx64
		                     ": nothing to dump",
		                     table_addr);
	if (table_len > EDL_SAHARA_DUMP_MAX_TABLE || table_len % es != 0)
		return edl_error_set(err, EDL_E_MEMORY_DUMP,
		                     "the unit announces a memory table of %" PRIu64
		                     " bytes at 0x%" PRIx64
		                     ": a table is a whole number of %zu-byte entries, at most %u "
		                     "bytes; not dumped",
		                     table_len, table_addr, es, EDL_SAHARA_DUMP_MAX_TABLE);
	if (table_len - 1 > (is64 ? UINT64_MAX : UINT32_MAX) - table_addr)
		return edl_error_set(err, EDL_E_MEMORY_DUMP,
		                     "the memory table at 0x%" PRIx64 " (%" PRIu64
		                     " bytes) runs past the end of the address space; not dumped",
		                     table_addr, table_len);
	d = calloc(1, sizeof(*d));
	if (d != NULL)
		d->table = malloc((size_t)table_len);
	if (d == NULL || d->table == NULL) {
		free(d);
		return edl_error_set(err, EDL_E_NOMEM, "memory table of %" PRIu64 " bytes",
		                     table_len);
	}
	d->sink = sink;
	d->is64 = is64;
	d->table_addr = table_addr;
	d->table_len = (size_t)table_len;
	d->read_bytes = read_bytes ? read_bytes : EDL_SAHARA_DUMP_READ;
	d->phase = PHASE_TABLE;
	*out = d;
	return EDL_OK;
}

void edl_sahara_dumper_free(struct edl_sahara_dumper *d)
{
	if (d == NULL)
		return;
	free(d->table);
	free(d->regions);
	free(d);
}

/* Past regions with nothing (left) to read; the sink's end once all are read. */
static int advance(struct edl_sahara_dumper *d, struct edl_error *err)
{
	while (d->cur < d->n && d->offset >= d->regions[d->cur].length) {
		d->cur++;
		d->offset = 0;
	}
	if (d->cur < d->n)
		return EDL_OK;
	d->phase = PHASE_DONE;
	return d->sink->end ? d->sink->end(d->sink->data, err) : EDL_OK;
}

bool edl_sahara_dumper_next_read(struct edl_sahara_dumper *d, uint64_t *addr, uint64_t *len)
{
	if (d->outstanding || d->phase == PHASE_DONE)
		return false;
	if (d->phase == PHASE_TABLE) {
		d->addr = d->table_addr;
		d->len = d->table_len;
	} else {
		const struct edl_sahara_region *r = &d->regions[d->cur];
		uint64_t left = r->length - d->offset;

		d->addr = r->base + d->offset;
		d->len = left < d->read_bytes ? left : d->read_bytes;
	}
	d->got = 0;
	d->outstanding = true;
	*addr = d->addr;
	*len = d->len;
	return true;
}

static int table_read(struct edl_sahara_dumper *d, struct edl_error *err)
{
	int rc = edl_sahara_dump_parse_table(&d->regions, &d->n, d->table, d->table_len, d->is64,
	                                     err);

	if (rc != EDL_OK)
		return rc;
	d->total = 0;
	for (size_t i = 0; i < d->n; i++)
		d->total = d->regions[i].length > UINT64_MAX - d->total
		                   ? UINT64_MAX
		                   : d->total + d->regions[i].length;
	d->phase = PHASE_REGIONS;
	d->cur = 0;
	d->offset = 0;
	if (d->sink->begin != NULL) {
		rc = d->sink->begin(d->sink->data, d->regions, d->n, d->total, d->is64, err);
		if (rc != EDL_OK)
			return rc;
	}
	return advance(d, err);
}

int edl_sahara_dumper_feed(struct edl_sahara_dumper *d, const uint8_t *data, size_t len,
                           struct edl_error *err)
{
	int rc;

	if (!d->outstanding || len > d->len - d->got)
		return edl_error_set(err, EDL_E_MEMORY_DUMP,
		                     "the unit sent %zu bytes while %" PRIu64
		                     " were due for the read at 0x%" PRIx64,
		                     len, d->outstanding ? d->len - d->got : 0, d->addr);
	if (d->phase == PHASE_TABLE) {
		memcpy(d->table + d->got, data, len);
		d->got += len;
		if (d->got < d->len)
			return EDL_OK;
		d->outstanding = false;
		return table_read(d, err);
	}
	rc = d->sink->region_data ? d->sink->region_data(d->sink->data, d->cur, d->offset + d->got,
	                                                 data, len, err)
	                          : EDL_OK;
	if (rc != EDL_OK)
		return rc;
	d->got += len;
	d->done += len;
	if (d->got < d->len)
		return EDL_OK;
	d->outstanding = false;
	d->offset += d->len;
	return advance(d, err);
}

uint64_t edl_sahara_dumper_due(const struct edl_sahara_dumper *d)
{
	return d->outstanding ? d->len - d->got : 0;
}

bool edl_sahara_dumper_in_regions(const struct edl_sahara_dumper *d)
{
	return d->phase != PHASE_TABLE;
}

void edl_sahara_dumper_what(const struct edl_sahara_dumper *d, char *out, size_t cap)
{
	if (d->phase == PHASE_TABLE)
		snprintf(out, cap, "the memory table");
	else if (d->cur < d->n)
		snprintf(out, cap, "region %zu (%s) at offset %" PRIu64, d->cur,
		         d->regions[d->cur].name, d->offset + d->got);
	else
		snprintf(out, cap, "the end of the dump");
}

uint64_t edl_sahara_dumper_done_bytes(const struct edl_sahara_dumper *d)
{
	return d->done;
}

uint64_t edl_sahara_dumper_total_bytes(const struct edl_sahara_dumper *d)
{
	return d->total;
}

bool edl_sahara_dumper_is64(const struct edl_sahara_dumper *d)
{
	return d->is64;
}

size_t edl_sahara_dumper_regions(const struct edl_sahara_dumper *d)
{
	return d->n;
}
