/*
 * The device profiles: one entry per real Qualcomm family, every value with the
 * public source it comes from (see ../shared/REAL-DEVICES.md for the digest).
 * edl_profile_apply() turns an entry into the emulated target's configuration;
 * the behaviours themselves live in pbl.c (boot ROM) and programmer.c.
 */
#include "edlstation/profile.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The SDX55 banner (QFirehose RM500Q/RG500Q logs, EDLTests): 15 functions. */
static const char *const sdx55_functions[] = {
        "program",
        "read",
        "nop",
        "patch",
        "configure",
        "setbootablestoragedrive",
        "erase",
        "power",
        "firmwarewrite",
        "getstorageinfo",
        "benchmark",
        "emmc",
        "ufs",
        "fixgpt",
        "getsha256digest",
        NULL,
};

static const struct edl_device_profile profiles[] = {
        {
                .name = "sdx55",
                .summary = "RM502Q/RM500Q/RG500Q 5G modem: NAND 4K pages, SHA-384 PK hash, "
                           "8 KiB payload",
                .storage = EDL_STORAGE_NAND,
                .sector_size = 4096, /* rawprogram_nand_p4K_b256K (shared/samples) */
                .luns = 1,
                .pages_per_block = 64,
                .sahara_version = 2,
                .hwid = 0x000cf0e1000098a9ull,
                .pk_hash_len = 48,   /* edl #701: 48-byte hash + 96 zero bytes */
                .image_id = 0x0d,    /* QFirehose logs: image 13 */
                .max_payload = 8192, /* configure ACK MaxPayloadSizeToTargetInBytesSupported */
                .write_rate_bps = 5u * 1000 * 1000,
                .pbl =
                        {
                                .pk_hash_zero_padded = true,
                                .read_piece = 4096,
                        },
                .prog =
                        {
                                .functions = sdx55_functions,
                                .chip_serial_log = "Chip serial num: 0 (0x0)",
                                .vendor_erase = true,
                        },
        },
};

const struct edl_device_profile *edl_profile_at(size_t i)
{
	return i < sizeof(profiles) / sizeof(profiles[0]) ? &profiles[i] : NULL;
}

const struct edl_device_profile *edl_profile_find(const char *name)
{
	for (size_t i = 0; name != NULL && edl_profile_at(i) != NULL; i++)
		if (strcasecmp(profiles[i].name, name) == 0)
			return &profiles[i];
	return NULL;
}

const char *edl_profile_names(void)
{
	static char names[256];

	if (names[0] == '\0') {
		size_t off = 0;
		for (size_t i = 0; edl_profile_at(i) != NULL && off < sizeof(names); i++)
			off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s",
			                        i ? ", " : "", profiles[i].name);
	}
	return names;
}

void edl_profile_apply(const struct edl_device_profile *p, struct edl_target_config *cfg)
{
	cfg->storage.kind = p->storage;
	cfg->storage.sector_size = p->sector_size;
	cfg->storage.luns = p->luns;
	cfg->storage.pages_per_block = p->pages_per_block;
	cfg->pbl.sahara_version = p->sahara_version;
	cfg->pbl.hwid = p->hwid;
	if (p->pk_hash_len != 0 && p->pk_hash_len <= sizeof(cfg->pbl.pk_hash)) {
		/* A hash of the profile's length, deterministic per profile. */
		for (size_t i = cfg->pbl.pk_hash_len; i < p->pk_hash_len; i++)
			cfg->pbl.pk_hash[i] = (uint8_t)(0x5a ^ (i * 37));
		cfg->pbl.pk_hash_len = p->pk_hash_len;
	}
	cfg->pbl.image_id = p->image_id;
	cfg->pbl.quirks = p->pbl;
	cfg->max_payload = p->max_payload;
	cfg->prog = p->prog;
}
