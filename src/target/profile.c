/*
 * The device profiles: one entry per real Qualcomm family, every value with the
 * public source it comes from (see ../shared/REAL-DEVICES.md for the digest),
 * or "guess:" with the reasoning where no public sample was found.
 * edl_profile_apply() turns an entry into the emulated target's configuration;
 * the behaviours themselves live in pbl.c (boot ROM) and programmer.c.
 *
 * Sources named below: "boot_sahara.c" is Qualcomm's 2019-22 XBL Sahara target
 * code; "edl #N" are bkerler/edl issues with pasted device dumps; "msmids" is
 * bkerler/edl's Library/Config/qualcomm_config.py table of MSM HW ids; "qdl" is
 * linux-msm/qdl; "QFirehose" is nippynetworks/qfirehose with its device logs.
 * An OEM/model id of 0 is what unfused Quectel modules report (edl on an EC25-E:
 * "HWID 0x000480e100000000 (MSM_ID:0x000480e1,OEM_ID:0x0000,MODEL_ID:0x0000)").
 */
#include "edlstation/profile.h"
#include "edlstation/sahara.h"

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

/* Client commands an SDX7x ROM refuses: all but the serial (edl #663 shows only
 * the serial; boot_sahara.c serves only the serial among the ones hosts ask). */
#define SDX7X_REFUSED                                                         \
	((1u << EDL_SAHARA_EXEC_MSM_HWID) | (1u << EDL_SAHARA_EXEC_PK_HASH) | \
	 (1u << EDL_SAHARA_EXEC_SBL_VERSION) | (1u << EDL_SAHARA_EXEC_CHIP_ID_V3))

static const struct edl_device_profile profiles[] = {
        {
                .name = "sdx55",
                .summary = "RM502Q/RM500Q/RG500Q 5G modem: NAND 4K pages, SHA-384 PK hash, "
                           "8 KiB payload",
                .storage = EDL_STORAGE_NAND,
                .sector_size = 4096,   /* rawprogram_nand_p4K_b256K (shared/samples) */
                .luns = 1,             /* NAND has one LUN */
                .pages_per_block = 64, /* the same file name: 256 KiB blocks of 4 KiB */
                .sahara_version = 2,   /* 32-bit READ_DATA as its SDX24 sibling (QFirehose) */
                .hwid = 0x000cf0e100000000ull, /* SDX55 MSM id 0x000cf0e1; Quectel OEM 0 */
                .pk_hash_len = 48,             /* edl #701: 48-byte hash + 96 zero bytes */
                .image_id = 0x0d,              /* QFirehose logs: image 13 */
                .max_payload = 8192, /* configure ACK MaxPayloadSizeToTargetInBytesSupported */
                /* ~5 MB/s NAND program: the project's device notes; no public log timed. */
                .write_rate_bps = 5u * 1000 * 1000,
                .pbl =
                        {
                                /* DONE_RESP 1 on SDX24/SDX55 (REAL-DEVICES #1). */
                                .done_resp_pending = false,
                                .pk_hash_zero_padded = true, /* edl #701 */
                                /* QFirehose SDX24 log: 4 KiB READ_DATA pieces; the
                                 * SDX55 is the same Quectel 5G line's next chip. */
                                .read_piece = 4096,
                        },
                .prog =
                        {
                                .functions = sdx55_functions,
                                .chip_serial_log = "Chip serial num: 0 (0x0)", /* QFirehose */
                                /* xhikarishii/openwrt-ipq #3: an RG500Q ACKs the
                                 * Quectel vendor erase. */
                                .vendor_erase = true,
                        },
        },
        {
                .name = "mdm9607",
                .summary = "EG25/EC25 LTE modem (MDM9x07): NAND 2K pages, DONE_RESP pending, "
                           "image 13",
                .storage = EDL_STORAGE_NAND,
                .sector_size = 2048,   /* 2 KiB NAND pages (rawprogram_nand_p2K_b128K) */
                .luns = 1,             /* NAND has one LUN */
                .pages_per_block = 64, /* 128 KiB erase blocks of 2 KiB pages */
                /* guess: v2 as every pre-SDX6x part in the public dumps (edl #398, #732). */
                .sahara_version = 2,
                /* edl on an EC25-E: MSM_ID 0x000480e1 (msmids: the MDM9x07 family's
                 * MDM9207 id; MDM9607 proper is 0x0004a0e1), OEM 0, MODEL 0. */
                .hwid = 0x000480e100000000ull,
                .pk_hash_len = 32,   /* the same EC25-E dump: a 32-byte SHA-256 PK hash */
                .image_id = 0x0d,    /* QFirehose: prog_nand_firehose_9x07.mbn is image 13 */
                .max_payload = 8192, /* QFirehose hard-codes 8192 for NAND; 9x55 NAK: 8192 */
                /* guess: 2 KiB-page SLC NAND in 8 KiB transfers, below the SDX55's 5 MB/s. */
                .write_rate_bps = 2u * 1000 * 1000,
                .pbl =
                        {
                                /* qdl sahara_has_done_pending_quirk; QFirehose accepts
                                 * status 0 for image 13; fwupd requires it. */
                                .done_resp_pending = true,
                        },
                .prog =
                        {
                                /* MDM9607: "start_sector unaligned" + NAK (REAL-DEVICES §2). */
                                .erase_needs_alignment = true,
                        },
        },
        {
                .name = "msm8916",
                .summary = "MSM8916 phone/tablet: eMMC, DONE_RESP pending, MSM8909-era "
                           "programmer",
                .storage = EDL_STORAGE_EMMC,
                .sector_size = 512, /* eMMC (SECTOR_SIZE_IN_BYTES=512, REAL-DEVICES §2) */
                .luns = 1,          /* the user area; boot partitions are not modelled */
                .pages_per_block = 0,
                /* edl #621, a unit taking prog_emmc_firehose_8916.mbn: "Protocol
                 * version: 2", a 32-byte PK hash. */
                .sahara_version = 2,
                .hwid = 0x007050e100000000ull, /* msmids: 0x007050E1 MSM8916 */
                .pk_hash_len = 32,             /* SHA-256 era (edl #621) */
                .image_id = 0x0d,              /* prog_emmc_firehose_8916.mbn (edl #621) */
                .max_payload = 1024 * 1024,    /* guess: edl's default 0x100000, ACKed on eMMC */
                .write_rate_bps = 15u * 1000 * 1000, /* guess: eMMC 4.5 sequential write */
                .pbl =
                        {
                                /* qdl: "E.g MSM8916 EDL reports done = pending". */
                                .done_resp_pending = true,
                        },
                .prog =
                        {
                                /* deviceprogrammer_firehose.c (2016, "Updated for 8909"):
                                 * handleErase erases the whole physical partition. */
                                .erase_whole_lun = true,
                                .nop_bare_ack = true,      /* the same code: bare ACK */
                                .power_prefix_only = true, /* handlePower: "reset"/"off" */
                                /* qdl firehose_read: "on MSM8916 ... <log/> messages can
                                 * arrive after the <response/>". */
                                .late_logs = true,
                                .patch_file_silent = true, /* handlePatch of a file: silent */
                        },
        },
        {
                .name = "sdm845",
                .summary = "SDM845 phone (OnePlus 6 class): UFS, 6 LUNs, 24-byte HW id answer",
                .storage = EDL_STORAGE_UFS,
                .sector_size = 4096, /* UFS logical blocks */
                .luns = 6,           /* UFS LUNs 0-5 (rawprogram0..5) */
                .pages_per_block = 0,
                .sahara_version = 2, /* edl #398 raw HELLO: version 2, compatible 1, 0x400 */
                .hwid = 0x0008b0e100000000ull, /* msmids: 0x0008B0E1 SDM845 */
                .pk_hash_len = 32,             /* SHA-256: the hash twice (pre-SHA-384 parts) */
                .image_id = 0x0d,              /* edl accepts any id >= 0x0c as Firehose */
                .max_payload = 1024 * 1024,    /* guess: 1 MiB, as UFS programmers ACK */
                .write_rate_bps = 150u * 1000 * 1000, /* guess: UFS 2.1 sequential write */
                .pbl =
                        {
                                /* edl #398: EXECUTE_RESP 0e000000 10000000 02000000
                                 * 18000000; edl #635: the 8 bytes three times. */
                                .hwid_len = 24,
                        },
        },
        {
                .name = "sm8550",
                .summary = "SM8550/QCS8550: UFS, SHA-384 PK hash, a ZLP after a Sahara read "
                           "breaks the transfer",
                .storage = EDL_STORAGE_UFS,
                .sector_size = 4096, /* UFS logical blocks */
                .luns = 6,           /* guess: UFS LUNs 0-5 as the family's rawprogram0..5 */
                .pages_per_block = 0,
                /* guess: v3 as the later SM8750 (edl #799 "Sahara V3"); v3 changes only
                 * READ_DATA64 and the chip id v3 command. */
                .sahara_version = 3,
                /* SM8550 MSM id 0x001ca0e1 in the public EDL tools' msm-id tables. */
                .hwid = 0x001ca0e100000000ull,
                .pk_hash_len = 48,                    /* SHA-384 on SM8xxx (REAL-DEVICES #7) */
                .image_id = 0x0d,                     /* edl accepts any id >= 0x0c as Firehose */
                .max_payload = 1024 * 1024,           /* guess: 1 MiB, as UFS programmers ACK */
                .write_rate_bps = 400u * 1000 * 1000, /* guess: UFS 4.0, link-bound anyway */
                .pbl =
                        {
                                .pk_hash_zero_padded = true, /* SHA-384: 48 + 96 zeros */
                                /* qdl #320: a ZLP after a Sahara read response causes an
                                 * endpoint timeout on QCS8550. */
                                .zlp_breaks_transfer = true,
                        },
        },
        {
                .name = "sdx7x",
                .summary = "SDX72/SDX75 5G modem: Sahara v3, 8-byte serial, HW id and PK hash "
                           "refused",
                .storage = EDL_STORAGE_NAND,
                .sector_size = 4096,           /* guess: NAND 4 KiB pages as the SDX55 line */
                .luns = 1,                     /* NAND has one LUN */
                .pages_per_block = 64,         /* guess: 256 KiB blocks as the SDX55 line */
                .sahara_version = 3,           /* edl #663: version 3, "64-Bit mode detected" */
                .hwid = 0x001f50e101580000ull, /* edl #764 (SDX72): HW_ID 001f50e101580000 */
                .pk_hash_len = 48,             /* edl #764: a 48-byte (SHA-384) OEM PK hash */
                .image_id = 0x0d,              /* as the SDX55 line (QFirehose image 13) */
                .max_payload = 8192,           /* guess: NAND programmers take 8 KiB (QFirehose) */
                .write_rate_bps = 5u * 1000 * 1000, /* guess: as the SDX55's NAND */
                .pbl =
                        {
                                /* edl #663 / #764: 8-byte serial, chip id 0x443 in the
                                 * upper word ("Chip ID (0x443)" in the banner). */
                                .serial_len = 8,
                                .chip_id = 0x443,
                                .pk_hash_zero_padded = true, /* SHA-384 parts */
                                .refuse_exec_mask = SDX7X_REFUSED,
                        },
        },
        {
                .name = "generic",
                .summary = "a current programmer without family quirks: UFS, 1 MiB payload "
                           "(benchmarks)",
                .storage = EDL_STORAGE_UFS,
                .sector_size = 4096, /* UFS logical blocks */
                .luns = 6,           /* UFS LUNs 0-5 */
                .pages_per_block = 0,
                .sahara_version = 2,           /* the common HELLO (edl #398, EDLTests) */
                .hwid = 0x000cf0e1000098a9ull, /* the emulator's default identity */
                .pk_hash_len = 32,             /* SHA-256, the hash twice */
                .image_id = 0x0d,              /* the usual Firehose image id */
                .max_payload = 1024 * 1024,    /* 1 MiB, the host's first offer */
                /* 0: instant storage, so a benchmark measures the host and the link. */
                .write_rate_bps = 0,
        },
};

#define N_PROFILES (sizeof(profiles) / sizeof(profiles[0]))

const struct edl_device_profile *edl_profile_at(size_t i)
{
	return i < N_PROFILES ? &profiles[i] : NULL;
}

const struct edl_device_profile *edl_profile_find(const char *name)
{
	for (size_t i = 0; name != NULL && i < N_PROFILES; i++)
		if (strcasecmp(profiles[i].name, name) == 0)
			return &profiles[i];
	return NULL;
}

const char *edl_profile_names(void)
{
	static char names[256];

	if (names[0] == '\0') {
		size_t off = 0;
		for (size_t i = 0; i < N_PROFILES && off < sizeof(names); i++)
			off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s",
			                        i ? ", " : "", profiles[i].name);
	}
	return names;
}

/* Sectors of the profile's size that hold the bytes `sectors` sectors of old_size
 * did, in whole erase blocks on NAND and never fewer than one block or sector. */
static uint64_t same_bytes(uint64_t sectors, uint32_t old_size, const struct edl_device_profile *p)
{
	uint64_t unit =
	        p->storage == EDL_STORAGE_NAND && p->pages_per_block ? p->pages_per_block : 1;
	uint64_t bytes = old_size != 0 && sectors > UINT64_MAX / old_size
	                         ? UINT64_MAX
	                         : sectors * (old_size ? old_size : p->sector_size);
	uint64_t n = bytes / p->sector_size;

	n -= n % unit;
	return n ? n : unit;
}

void edl_profile_apply(const struct edl_device_profile *p, struct edl_target_config *cfg)
{
	/* The storage keeps its size in bytes: the sector count follows the
	 * profile's sector size (lun_sectors, when set, is the caller's to match). */
	if (cfg->storage.sector_size != p->sector_size)
		cfg->storage.sectors =
		        same_bytes(cfg->storage.sectors, cfg->storage.sector_size, p);
	else if (p->storage == EDL_STORAGE_NAND)
		cfg->storage.sectors = same_bytes(cfg->storage.sectors, p->sector_size, p);
	cfg->storage.kind = p->storage;
	cfg->storage.sector_size = p->sector_size;
	cfg->storage.luns = p->luns;
	cfg->storage.pages_per_block = p->pages_per_block;
	cfg->pbl.sahara_version = p->sahara_version;
	cfg->pbl.hwid = p->hwid;
	if (p->pk_hash_len != 0 && p->pk_hash_len <= sizeof(cfg->pbl.pk_hash)) {
		/* A hash of the profile's length: the configured one, extended
		 * deterministically where it is shorter. */
		for (size_t i = cfg->pbl.pk_hash_len; i < p->pk_hash_len; i++)
			cfg->pbl.pk_hash[i] = (uint8_t)(0x5a ^ (i * 37));
		cfg->pbl.pk_hash_len = p->pk_hash_len;
	}
	cfg->pbl.image_id = p->image_id;
	cfg->pbl.quirks = p->pbl;
	cfg->max_payload = p->max_payload;
	cfg->prog = p->prog;
}
