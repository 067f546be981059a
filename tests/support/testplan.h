/*
 * Test support: synthetic flashing plans (images of seeded random bytes with
 * their padded SHA-256) and a synthetic programmer, for the flash job and
 * in-memory link tests and for `edlstation memflash`.
 */
#ifndef EDLSTATION_TESTPLAN_H
#define EDLSTATION_TESTPLAN_H

#include <stddef.h>
#include <stdint.h>

#include "edlstation/plan.h"

struct testplan {
	struct edl_plan plan;
	struct edl_plan_step steps[16];
	uint8_t *images[8];
	size_t image_len[8];
	uint64_t image_sector[8]; /* start sector of image i */
	uint32_t image_lun[8];
	size_t n_images;
};

/* Three images on `kind` storage: sizes chosen so the last sector needs padding;
 * UFS spreads them over LUNs 0, 1 and 4; NAND erases each range first. */
void testplan_build(struct testplan *tp, enum edl_storage_kind kind, uint32_t seed);
/* The same with another sector (NAND page) size, e.g. 2048 for MDM9607 NAND. */
void testplan_build_sector(struct testplan *tp, enum edl_storage_kind kind, uint32_t sector,
                           uint32_t seed);
void testplan_free(struct testplan *tp);

void testplan_sha256(const uint8_t *data, size_t len, uint64_t padded_len, uint8_t out[32]);

#endif
