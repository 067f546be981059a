/*
 * Partition tables read from a unit (include/edlstation/ptable.h): the GPT of
 * eMMC/UFS LUNs and the MIBIB of Qualcomm NAND. The preserve stage of the
 * flash job (preserve.c) reads the sectors and asks here where each preserved
 * label lives. Every field is decoded little-endian by hand and range-checked:
 * a table comes from a device that may be damaged or hostile.
 */
#include "edlstation/ptable.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "edlstation/expr.h"

#define MBN_MAGIC1 0xFE569FACu
#define MBN_MAGIC2 0xCD7F127Au
#define SMEM_MAGIC1 0x55EE73AAu
#define SMEM_MAGIC2 0xE35EBDDBu
#define SMEM_ENTRY_BYTES 28u
#define SMEM_HEAD_BYTES 16u

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

#define WHY(...) (snprintf(why, why_len, __VA_ARGS__), false)

bool edl_gpt_parse_header(const uint8_t *sector, size_t sector_size, uint64_t lba,
                          struct edl_gpt_header *out, char *why, size_t why_len)
{
	uint8_t copy[512];

	if (sector_size < 512)
		return WHY("a sector of %zu bytes cannot hold a GPT header", sector_size);
	if (memcmp(sector, "EFI PART", 8) != 0)
		return lba == UINT64_MAX ? WHY("no GPT signature at the last LBA")
		                         : WHY("no GPT signature at LBA %" PRIu64, lba);
	uint32_t hsize = le32(sector + 12);
	if (hsize < 92 || hsize > 512)
		return WHY("GPT header claims %" PRIu32 " bytes (92..512)", hsize);
	memcpy(copy, sector, hsize);
	memset(copy + 16, 0, 4);
	uint32_t want = le32(sector + 16), got = edl_crc32(0, copy, hsize);
	if (want != got)
		return WHY("GPT header has CRC %08" PRIx32 ", computed %08" PRIx32, want, got);
	out->my_lba = le64(sector + 24);
	out->alternate_lba = le64(sector + 32);
	out->first_usable = le64(sector + 40);
	out->last_usable = le64(sector + 48);
	out->entries_lba = le64(sector + 72);
	out->n_entries = le32(sector + 80);
	out->entry_size = le32(sector + 84);
	out->entries_crc = le32(sector + 88);
	uint64_t me = out->my_lba;
	if (lba != UINT64_MAX && me != lba)
		return WHY("GPT header read at LBA %" PRIu64 " says it is at LBA %" PRIu64, lba,
		           me);
	if (out->entry_size < 128 || out->entry_size % 8 != 0 || out->entry_size > sector_size)
		return WHY("GPT header at LBA %" PRIu64 ": entry size %" PRIu32
		           " (a multiple of 8, 128..%zu)",
		           me, out->entry_size, sector_size);
	if (out->n_entries == 0 || out->n_entries > EDL_GPT_MAX_ENTRIES)
		return WHY("GPT header at LBA %" PRIu64 ": %" PRIu32 " entries (1..%d)", me,
		           out->n_entries, EDL_GPT_MAX_ENTRIES);
	if ((uint64_t)out->n_entries * out->entry_size > EDL_GPT_MAX_ARRAY_BYTES)
		return WHY("GPT header at LBA %" PRIu64 ": an entry array of %" PRIu32 " x %" PRIu32
		           " bytes (at most %u)",
		           me, out->n_entries, out->entry_size, EDL_GPT_MAX_ARRAY_BYTES);
	if (out->first_usable > out->last_usable)
		return WHY("GPT header at LBA %" PRIu64 ": first usable LBA %" PRIu64
		           " after last usable %" PRIu64,
		           me, out->first_usable, out->last_usable);
	uint64_t n = edl_gpt_entries_sectors(out, (uint32_t)sector_size);
	if (out->entries_lba > UINT64_MAX - n || out->entries_lba == me ||
	    (out->entries_lba < me && out->entries_lba + n > me))
		return WHY("GPT header at LBA %" PRIu64 ": entry array at LBA %" PRIu64
		           " overlaps the header",
		           me, out->entries_lba);
	return true;
}

uint64_t edl_gpt_entries_sectors(const struct edl_gpt_header *h, uint32_t sector_size)
{
	uint64_t bytes = (uint64_t)h->n_entries * h->entry_size;
	return (bytes + sector_size - 1) / sector_size;
}

/* UTF-16LE name to text: ASCII kept, anything else '?', ends at a NUL. */
static void entry_name(const uint8_t *p, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < 36 && o + 1 < EDL_PTABLE_NAME_MAX; i++) {
		uint16_t c = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
		if (c == 0)
			break;
		out[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	out[o] = '\0';
}

bool edl_gpt_parse_entries(const struct edl_gpt_header *h, const uint8_t *buf, size_t len,
                           struct edl_ptable_entry *out, size_t max, size_t *n, char *why,
                           size_t why_len)
{
	static const uint8_t zero[16];
	uint64_t bytes = (uint64_t)h->n_entries * h->entry_size;

	*n = 0;
	if (bytes > len)
		return WHY("GPT entry array needs %" PRIu64 " bytes, %zu were read", bytes, len);
	uint32_t got = edl_crc32(0, buf, (size_t)bytes);
	if (got != h->entries_crc)
		return WHY("GPT entry array at LBA %" PRIu64 " has CRC %08" PRIx32
		           ", header says %08" PRIx32,
		           h->entries_lba, got, h->entries_crc);
	for (uint32_t i = 0; i < h->n_entries; i++) {
		const uint8_t *e = buf + (size_t)i * h->entry_size;
		if (memcmp(e, zero, 16) == 0)
			continue;
		uint64_t first = le64(e + 32), last = le64(e + 40);
		if (last < first || first < h->first_usable || last > h->last_usable)
			return WHY("GPT entry %" PRIu32 " spans LBA %" PRIu64 "..%" PRIu64
			           ", outside the usable %" PRIu64 "..%" PRIu64,
			           i, first, last, h->first_usable, h->last_usable);
		if (*n == max)
			return WHY("GPT holds more than %zu partitions", max);
		entry_name(e + 56, out[*n].name);
		out[*n].first = first;
		out[*n].last = last;
		(*n)++;
	}
	return true;
}

enum edl_mibib_page edl_mibib_classify(const uint8_t *page, size_t len)
{
	if (len < 8)
		return EDL_MIBIB_NONE;
	if (le32(page) == MBN_MAGIC1 && le32(page + 4) == MBN_MAGIC2)
		return EDL_MIBIB_HEADER;
	if (le32(page) == SMEM_MAGIC1 && le32(page + 4) == SMEM_MAGIC2)
		return EDL_MIBIB_TABLE;
	return EDL_MIBIB_NONE;
}

bool edl_mibib_parse(const uint8_t *page, size_t len, uint32_t pages_per_block,
                     struct edl_ptable_entry *out, size_t max, size_t *n, char *why, size_t why_len)
{
	*n = 0;
	if (edl_mibib_classify(page, len) != EDL_MIBIB_TABLE || len < SMEM_HEAD_BYTES)
		return WHY("no SMEM flash partition table (magic 55EE73AA E35EBDDB)");
	if (pages_per_block == 0)
		return WHY("pages per block unknown: the NAND table counts erase blocks");
	uint32_t version = le32(page + 8), count = le32(page + 12);
	uint32_t cap = version == 3 ? 16 : version == 4 ? 128 : 0;
	if (cap == 0)
		return WHY("SMEM partition table version %" PRIu32 " (known: 3, 4)", version);
	if (count > cap || SMEM_HEAD_BYTES + (uint64_t)count * SMEM_ENTRY_BYTES > len)
		return WHY("SMEM partition table v%" PRIu32 " claims %" PRIu32
		           " partitions (at most %" PRIu32 ", and within the page)",
		           version, count, cap);
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *e = page + SMEM_HEAD_BYTES + (size_t)i * SMEM_ENTRY_BYTES;
		uint32_t off = le32(e + 16), blocks = le32(e + 20);
		char name[17];
		size_t k = 0;
		for (size_t j = 0; j < 16 && e[j] != 0; j++)
			name[k++] = e[j] >= 0x20 && e[j] < 0x7f ? (char)e[j] : '?';
		name[k] = '\0';
		if (blocks == 0 || (uint64_t)off + blocks > UINT32_MAX)
			return WHY("SMEM partition %" PRIu32 " '%s': %" PRIu32
			           " blocks at block %" PRIu32,
			           i, name, blocks, off);
		if (*n == max)
			return WHY("SMEM table holds more than %zu partitions", max);
		const char *shown = strncmp(name, "0:", 2) == 0 ? name + 2 : name;
		snprintf(out[*n].name, sizeof(out[*n].name), "%s", shown);
		out[*n].first = (uint64_t)off * pages_per_block;
		out[*n].last = ((uint64_t)off + blocks) * pages_per_block - 1;
		(*n)++;
	}
	return true;
}

const struct edl_ptable_entry *edl_ptable_find(const struct edl_ptable_entry *e, size_t n,
                                               const char *label)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(e[i].name, label) == 0)
			return &e[i];
	return NULL;
}
