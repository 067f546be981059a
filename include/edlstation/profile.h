/*
 * Device profiles of the emulated target: each is a real Qualcomm family as
 * the public record shows it (../shared/REAL-DEVICES.md) — its boot ROM's
 * Sahara behaviour, its programmer's banner and answers, its storage and
 * speeds — so that `edlstation emulate --profile NAME` is at least as strict as
 * that family. Every value in src/target/profile.c names its public source.
 */
#ifndef EDLSTATION_PROFILE_H
#define EDLSTATION_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "edlstation/pbl.h"
#include "edlstation/storage.h"
#include "edlstation/target.h"

struct edl_device_profile {
	const char *name;    /* "sdx55" */
	const char *summary; /* "RM502Q/RM500Q 5G modem: NAND, SHA-384 PK hash, 8 KiB payload" */
	enum edl_storage_kind storage;
	uint32_t sector_size;     /* emmc 512, ufs 4096, nand page size */
	uint32_t luns;            /* ufs 6, else 1 */
	uint32_t pages_per_block; /* nand */
	uint32_t sahara_version;
	uint64_t hwid;           /* msm<<32 | oem<<16 | model */
	size_t pk_hash_len;      /* 32 or 48 */
	uint32_t image_id;       /* programmer image id the ROM asks for */
	uint64_t max_payload;    /* programmer's MaxPayloadSizeToTargetInBytes */
	uint64_t write_rate_bps; /* typical storage write speed (benchmarks), 0 = not known */
	struct edl_pbl_quirks pbl;
	struct edl_prog_quirks prog;
};

/* The profile named name (case-insensitive), or NULL. */
const struct edl_device_profile *edl_profile_find(const char *name);
/* Profiles in table order; NULL past the end. */
const struct edl_device_profile *edl_profile_at(size_t i);
/* "sdx55, mdm9607, ...", for usage texts. */
const char *edl_profile_names(void);

/* Applies a profile to a target configuration: storage kind and geometry, the
 * ROM's version, HW id, PK hash length, image id and quirks, the programmer's
 * payload and quirks. The serial, the faults (write_rate_bps included: take it
 * from the profile if wanted) and the storage size in bytes are left as they
 * are: `sectors` is recomputed for the profile's sector size (whole erase
 * blocks on NAND); `lun_sectors`, when set, is the caller's to match. */
void edl_profile_apply(const struct edl_device_profile *p, struct edl_target_config *cfg);

#endif
