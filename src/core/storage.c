/* Names of the storage kinds, as Firehose's configure spells them. */
#include "edlstation/storage.h"
#include "edlstation/error.h"

#include <strings.h>

const char *edl_storage_name(enum edl_storage_kind kind)
{
	switch (kind) {
	case EDL_STORAGE_EMMC:
		return "emmc";
	case EDL_STORAGE_UFS:
		return "ufs";
	case EDL_STORAGE_NAND:
		return "nand";
	}
	return "?";
}

int edl_storage_parse(const char *name, enum edl_storage_kind *out)
{
	if (name == NULL)
		return EDL_E_INVAL;
	if (strcasecmp(name, "emmc") == 0)
		*out = EDL_STORAGE_EMMC;
	else if (strcasecmp(name, "ufs") == 0)
		*out = EDL_STORAGE_UFS;
	else if (strcasecmp(name, "nand") == 0)
		*out = EDL_STORAGE_NAND;
	else
		return EDL_E_INVAL;
	return EDL_OK;
}
