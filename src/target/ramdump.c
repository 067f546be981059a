/*
 * The memory of an emulated unit that crashed into the boot ROM's memory-debug
 * mode (pbl.c serves it): the region table the ROM announces in MEMORY_DEBUG
 * (or MEMORY_DEBUG64) and the bytes of each region, for MEMORY_READ(64).
 *
 * The table's entries are laid out as real ROMs give them (bkerler/edl
 * sahara_defs.py parttbl / parttbl_64bit, Linaro qdl struct
 * sahara_debug_region64): save_pref, mem_base, length (u32 each on 32-bit
 * targets, 52 bytes an entry; u64 each on 64-bit ones, 64 bytes), then a
 * 20-byte description and a 20-byte file name, NUL-padded but not always
 * NUL-terminated (a 20-character description fills its field). The names are
 * the ones real dumps carry (DDRCS0_0.BIN for DDR at 0x80000000, OCIMEM.BIN,
 * CODERAM.BIN, RST_STAT.BIN), with sizes chosen to exercise a host: one region
 * spans several 512 KiB reads, one is not a multiple of them, one is 4 bytes.
 *
 * Contents are deterministic, so a test can recompute what was served: block k
 * (32 bytes) of a region is SHA-256("edlstation ramdump" || serial (u32 LE) ||
 * the entry's 20 file-name bytes || k (u64 LE)); the region is those blocks
 * concatenated, cut to its length.
 */
#include "edlstation/pbl.h"
#include "edlstation/sahara.h"

#include <openssl/evp.h>
#include <string.h>

#define RAMDUMP_SEED "edlstation ramdump"

/* The regions of a healthy table (variant EDL_PBL_DUMP_REAL). */
static const struct edl_pbl_region real_regions[] = {
        {1, 0x80000000u, 2u << 20, "DDR CS0 part0 Memory", "DDRCS0_0.BIN"},
        {1, 0x14680000u, 256u << 10, "OCIMEM", "OCIMEM.BIN"},
        {1, 0x01b00000u, 614437u, "RPM Code RAM region", "CODERAM.BIN"},
        {1, 0x0c264000u, 4u, "Reset Status Region", "RST_STAT.BIN"},
};

/* Names a hostile or broken ROM could give: a path, a name with no NUL, an
 * empty name, a name the file system would take for something else. */
static const struct edl_pbl_region hostile_names[] = {
        {1, 0x80000000u, 64u << 10, "path up", "../../escaped.bin"},
        {1, 0x80010000u, 4096u, "no NUL", "AAAAAAAAAAAAAAAAAAAA"},
        {1, 0x80020000u, 100u, "empty name", ""},
        {1, 0x80030000u, 100u, "absolute", "/etc/passwd"},
        {1, 0x80040000u, 10u, "same name again", "../../escaped.bin"},
};

/* A table no host may follow: a region that wraps past the end of memory. */
static const struct edl_pbl_region bad_table[] = {
        {1, 0x80000000u, 4096u, "DDR CS0 part0 Memory", "DDRCS0_0.BIN"},
        {1, 0xfffff000u, 0x10000u, "wraps", "WRAP.BIN"},
};

size_t edl_pbl_dump_regions(const struct edl_pbl_config *cfg, const struct edl_pbl_region **out)
{
	switch (cfg->dump_table) {
	case EDL_PBL_DUMP_HOSTILE_NAMES:
		*out = hostile_names;
		return sizeof(hostile_names) / sizeof(hostile_names[0]);
	case EDL_PBL_DUMP_BAD_TABLE:
		*out = bad_table;
		return sizeof(bad_table) / sizeof(bad_table[0]);
	default:
		*out = real_regions;
		return sizeof(real_regions) / sizeof(real_regions[0]);
	}
}

size_t edl_pbl_dump_entry_size(bool is64)
{
	return is64 ? 64 : 52;
}

/* Copies a name into its fixed 20-byte field: NUL-padded, and not terminated
 * when it fills the field, as real tables do. */
static void put_name(uint8_t *field, const char *name)
{
	size_t n = strnlen(name, 20);

	memset(field, 0, 20);
	memcpy(field, name, n);
}

void edl_pbl_dump_table_bytes(const struct edl_pbl_region *r, size_t n, bool is64, uint8_t *out)
{
	size_t es = edl_pbl_dump_entry_size(is64);

	for (size_t i = 0; i < n; i++) {
		uint8_t *e = out + i * es;

		if (is64) {
			edl_sahara_put_le64(e, r[i].save_pref);
			edl_sahara_put_le64(e + 8, r[i].base);
			edl_sahara_put_le64(e + 16, r[i].length);
		} else {
			edl_sahara_put_le32(e, (uint32_t)r[i].save_pref);
			edl_sahara_put_le32(e + 4, (uint32_t)r[i].base);
			edl_sahara_put_le32(e + 8, (uint32_t)r[i].length);
		}
		put_name(e + es - 40, r[i].desc);
		put_name(e + es - 20, r[i].filename);
	}
}

void edl_pbl_dump_fill(uint32_t serial, const char *filename, uint64_t offset, uint8_t *out,
                       size_t len)
{
	uint8_t in[sizeof(RAMDUMP_SEED) - 1 + 4 + 20 + 8], block[32];
	size_t seed = sizeof(RAMDUMP_SEED) - 1;
	uint64_t k = offset / 32;
	size_t skip = (size_t)(offset % 32), done = 0;
	unsigned int hn;

	memcpy(in, RAMDUMP_SEED, seed);
	edl_sahara_put_le32(in + seed, serial);
	put_name(in + seed + 4, filename);
	while (done < len) {
		size_t take;

		edl_sahara_put_le64(in + seed + 24, k);
		hn = sizeof(block);
		if (EVP_Digest(in, sizeof(in), block, &hn, EVP_sha256(), NULL) != 1)
			memset(block, 0, sizeof(block));
		take = sizeof(block) - skip;
		if (take > len - done)
			take = len - done;
		memcpy(out + done, block + skip, take);
		done += take;
		skip = 0;
		k++;
	}
}
