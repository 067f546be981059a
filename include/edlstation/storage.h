/*
 * Storage kinds and geometry shared by the package plan, the Firehose host
 * (configure's MemoryName) and the emulated device.
 */
#ifndef EDLSTATION_STORAGE_H
#define EDLSTATION_STORAGE_H

#include <stdint.h>

enum edl_storage_kind {
	EDL_STORAGE_EMMC = 0, /* one LUN, 512-byte sectors */
	EDL_STORAGE_UFS = 1,  /* LUNs 0-5, 4096-byte sectors */
	EDL_STORAGE_NAND = 2, /* pages (sectors) grouped in erase blocks */
};

/* "emmc", "ufs", "nand": the names Firehose's configure MemoryName uses. */
const char *edl_storage_name(enum edl_storage_kind kind);

/* Parses "emmc"/"ufs"/"nand" (case-insensitive); returns EDL_OK or EDL_E_INVAL. */
int edl_storage_parse(const char *name, enum edl_storage_kind *out);

#endif
