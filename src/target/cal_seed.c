/*
 * Seeds an emulated unit with its own calibration data (include/edlstation/
 * cal_seed.h): on eMMC/UFS a protective MBR, a primary and a backup GPT on LUN
 * 0 listing the calibration partitions, on NAND a MIBIB (MBN header page +
 * SMEM partition table v4, the layout linux-msm/qdl's read.c parses) listing
 * sbl, mibib and the calibration partitions; then every calibration partition
 * filled with the unit's seed bytes. Called once per unit, on its first power
 * on (target.c, when the emulated line is asked for seeded units).
 */
#include "edlstation/cal_seed.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "target/storage_model.h"

const struct edl_cal_partition edl_cal_layout[EDL_CAL_N] = {
        {"modemst1", 0, 1}, {"modemst2", 1, 1}, {"fsg", 2, 1}, {"fsc", 3, 1}, {"persist", 4, 2},
};

void edl_cal_seed_bytes(uint32_t serial, const char *label, uint64_t offset, uint8_t *buf, size_t n)
{
	uint8_t d[32];
	uint64_t have = UINT64_MAX;

	for (size_t i = 0; i < n; i++) {
		uint64_t o = offset + i;
		if (o / 32 != have) {
			char text[96];
			unsigned int len = 32;
			int tl = snprintf(text, sizeof(text), "%08x:%s:%llu", serial, label,
			                  (unsigned long long)(o / 32));
			EVP_Digest(text, (size_t)tl, d, &len, EVP_sha256(), NULL);
			have = o / 32;
		}
		buf[i] = d[o % 32];
	}
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

int edl_cal_mibib_build(const struct edl_cal_nand_part *parts, size_t n, uint32_t page_size,
                        uint8_t *out)
{
	if (page_size < 512 || 16 + n * 28 > page_size || n > 128)
		return EDL_E_INVAL;
	memset(out, 0xff, 2 * (size_t)page_size);
	memset(out, 0, 16);
	put32(out, 0xFE569FACu);
	put32(out + 4, 0xCD7F127Au);
	put32(out + 8, 4); /* header version */
	uint8_t *t = out + page_size;
	memset(t, 0, 16 + n * 28);
	put32(t, 0x55EE73AAu);
	put32(t + 4, 0xE35EBDDBu);
	put32(t + 8, 4);
	put32(t + 12, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		uint8_t *e = t + 16 + i * 28;
		size_t len = strlen(parts[i].name);
		if (len > 16)
			return EDL_E_INVAL;
		memcpy(e, parts[i].name, len);
		put32(e + 16, parts[i].block);
		put32(e + 20, parts[i].blocks);
		e[24] = 0xff; /* attributes: as the tables qdl prints them (feffffff) */
		e[25] = 0xff;
		e[26] = 0xff;
		e[27] = 0xfe;
	}
	return EDL_OK;
}

/* eMMC/UFS: protective MBR, then primary and backup GPT of the calibration
 * partitions on LUN 0 (128 entries of 128 bytes, UEFI's minimum array). */
static int write_gpt(struct edl_target_storage *st, uint32_t serial, struct edl_error *err)
{
	uint32_t ss = edl_target_storage_sector_size(st);
	uint64_t disk = edl_target_storage_sectors(st, 0);
	const uint32_t n_entries = 128, esize = 128;
	uint64_t array_sectors = (uint64_t)n_entries * esize / ss;
	uint8_t *array = calloc(n_entries, esize), *hdr = calloc(1, ss), *mbr = calloc(1, ss);
	int rc = EDL_E_NOMEM;
	/* A Qualcomm modem partition type (modemst1's, as QPST layouts carry it). */
	static const uint8_t type_guid[16] = {0x01, 0x4b, 0xd9, 0xeb, 0xf6, 0x91, 0xd7, 0x4a,
	                                      0xa5, 0x85, 0x73, 0x2e, 0xd0, 0xe8, 0xa0, 0x12};

	if (array == NULL || hdr == NULL || mbr == NULL)
		goto out;
	for (size_t i = 0; i < EDL_CAL_N; i++) {
		uint8_t *e = array + i * esize;
		uint64_t first = (EDL_CAL_REGION_BYTE +
		                  (uint64_t)edl_cal_layout[i].block * EDL_CAL_BLOCK_BYTES) /
		                 ss;
		uint64_t count = (uint64_t)edl_cal_layout[i].blocks * EDL_CAL_BLOCK_BYTES / ss;
		memcpy(e, type_guid, 16);
		put32(e + 16, serial);
		put32(e + 20, (uint32_t)i + 1);
		put64(e + 32, first);
		put64(e + 40, first + count - 1);
		for (size_t k = 0; edl_cal_layout[i].label[k]; k++)
			e[56 + 2 * k] = (uint8_t)edl_cal_layout[i].label[k];
	}
	uint32_t array_crc = (uint32_t)crc32(0, array, n_entries * esize);
	/* Protective MBR: one partition of type 0xEE over the disk. */
	mbr[446 + 4] = 0xee;
	put32(mbr + 446 + 8, 1);
	put32(mbr + 446 + 12, disk - 1 > 0xffffffffu ? 0xffffffffu : (uint32_t)(disk - 1));
	mbr[510] = 0x55;
	mbr[511] = 0xaa;
	struct edl_target_range r = {.lun = 0, .start = 0, .count = 1, .last = UINT64_MAX};
	rc = edl_target_storage_write(st, &r, 0, mbr, 1, err);
	for (int backup = 0; rc == EDL_OK && backup < 2; backup++) {
		uint64_t my = backup ? disk - 1 : 1, alt = backup ? 1 : disk - 1;
		uint64_t entries = backup ? disk - 1 - array_sectors : 2;
		memset(hdr, 0, ss);
		memcpy(hdr, "EFI PART", 8);
		put32(hdr + 8, 0x00010000u);
		put32(hdr + 12, 92);
		put64(hdr + 24, my);
		put64(hdr + 32, alt);
		put64(hdr + 40, 2 + array_sectors);
		put64(hdr + 48, disk - 2 - array_sectors);
		put32(hdr + 56, serial); /* disk GUID */
		put64(hdr + 72, entries);
		put32(hdr + 80, n_entries);
		put32(hdr + 84, esize);
		put32(hdr + 88, array_crc);
		put32(hdr + 16, (uint32_t)crc32(0, hdr, 92));
		r.start = entries;
		r.count = array_sectors;
		rc = edl_target_storage_write(st, &r, 0, array, array_sectors, err);
		r.start = my;
		r.count = 1;
		if (rc == EDL_OK)
			rc = edl_target_storage_write(st, &r, 0, hdr, 1, err);
	}
out:
	if (rc == EDL_E_NOMEM)
		edl_error_set(err, rc, "seeding the GPT");
	free(array);
	free(hdr);
	free(mbr);
	return rc;
}

static int write_mibib(struct edl_target_storage *st, struct edl_error *err)
{
	uint32_t ps = edl_target_storage_sector_size(st);
	uint32_t ppb = edl_target_storage_pages_per_block(st);
	struct edl_cal_nand_part parts[2 + EDL_CAL_N] = {
	        {"0:SBL", 0, EDL_CAL_NAND_SBL_BLOCKS},
	        {"0:MIBIB", EDL_CAL_NAND_MIBIB_BLOCK, EDL_CAL_NAND_MIBIB_BLOCKS},
	};
	static const char *const upper[EDL_CAL_N] = {"0:MODEMST1", "0:MODEMST2", "0:FSG", "0:FSC",
	                                             "0:PERSIST"};
	uint8_t *pages = malloc(2 * (size_t)ps);
	int rc;

	if (pages == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "seeding the MIBIB");
	for (size_t i = 0; i < EDL_CAL_N; i++) {
		parts[2 + i].name = upper[i];
		parts[2 + i].block = EDL_CAL_NAND_REGION_BLOCK + edl_cal_layout[i].block;
		parts[2 + i].blocks = edl_cal_layout[i].blocks;
	}
	rc = edl_cal_mibib_build(parts, 2 + EDL_CAL_N, ps, pages);
	if (rc != EDL_OK) {
		free(pages);
		return edl_error_set(err, rc, "MIBIB of %u-byte pages", ps);
	}
	struct edl_target_range r = {.lun = 0,
	                             .start = (uint64_t)EDL_CAL_NAND_MIBIB_BLOCK * ppb,
	                             .count = (uint64_t)EDL_CAL_NAND_MIBIB_BLOCKS * ppb,
	                             .last = UINT64_MAX};
	rc = edl_target_storage_erase(st, &r, err);
	r.count = 2;
	if (rc == EDL_OK)
		rc = edl_target_storage_write(st, &r, 0, pages, 2, err);
	free(pages);
	return rc;
}

/* Seeds the calibration partitions and their table; see the top of the file. */
int edl_target_seed_cal(struct edl_target_storage *st, uint32_t serial, struct edl_error *err)
{
	enum edl_storage_kind kind = edl_target_storage_kind(st);
	uint32_t ss = edl_target_storage_sector_size(st);
	bool nand = kind == EDL_STORAGE_NAND;
	uint8_t *buf = malloc(EDL_CAL_BLOCK_BYTES);
	int rc;

	if (buf == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "seeding calibration data");
	rc = nand ? write_mibib(st, err) : write_gpt(st, serial, err);
	for (size_t i = 0; rc == EDL_OK && i < EDL_CAL_N; i++) {
		const struct edl_cal_partition *c = &edl_cal_layout[i];
		uint64_t per_block = EDL_CAL_BLOCK_BYTES / ss;
		uint64_t first =
		        nand ? (uint64_t)(EDL_CAL_NAND_REGION_BLOCK + c->block) * per_block
		             : (EDL_CAL_REGION_BYTE + (uint64_t)c->block * EDL_CAL_BLOCK_BYTES) /
		                        ss;
		struct edl_target_range r = {.lun = 0,
		                             .start = first,
		                             .count = c->blocks * per_block,
		                             .last = first + c->blocks * per_block - 1};
		if (nand)
			rc = edl_target_storage_erase(st, &r, err);
		for (uint32_t b = 0; rc == EDL_OK && b < c->blocks; b++) {
			edl_cal_seed_bytes(serial, c->label, (uint64_t)b * EDL_CAL_BLOCK_BYTES, buf,
			                   EDL_CAL_BLOCK_BYTES);
			rc = edl_target_storage_write(st, &r, b * per_block, buf, per_block, err);
		}
	}
	free(buf);
	return rc;
}
