/*
 * Failure classes: which of a handful of operator actions each error code
 * calls for (re-seat, power-cycle, set aside for RMA, wrong package, wrong
 * programmer, station fault), and the sentence shown live, recorded with the
 * run and printed by `history` and `report`. The switch names every code of
 * EDL_ERROR_TABLE, so a new code without a class is a compile warning
 * (-Wswitch-enum) and a unit-test failure.
 */
#include "edlstation/error.h"

#include <string.h>

/* A code of EDL_ERROR_TABLE missing from the switch below is an error, not a
 * silent "station fault". */
#pragma GCC diagnostic error "-Wswitch-enum"

static const char *const class_names[] = {
#define EDL_XX_CLASS_NAME(sym, name, action) name,
        EDL_ERROR_CLASS_TABLE(EDL_XX_CLASS_NAME)
#undef EDL_XX_CLASS_NAME
};

static const char *const class_actions[] = {
#define EDL_XX_CLASS_ACTION(sym, name, action) action,
        EDL_ERROR_CLASS_TABLE(EDL_XX_CLASS_ACTION)
#undef EDL_XX_CLASS_ACTION
};

enum edl_error_class edl_error_class(int code)
{
	switch ((enum edl_error_code)code) {
	case EDL_OK:
		return EDL_CLASS_NONE;

	/* The link: the unit left, stalled, or its bytes came garbled. */
	case EDL_E_TIMEOUT:
	case EDL_E_AGAIN:
	case EDL_E_STALLED:
	case EDL_E_SAHARA_TRUNCATED:
	case EDL_E_SAHARA_LENGTH:
	case EDL_E_SAHARA_UNKNOWN_CMD:
	case EDL_E_SAHARA_UNEXPECTED:
	case EDL_E_SAHARA_TIMEOUT:
	case EDL_E_FH_XML:
	case EDL_E_FH_TOO_LARGE:
	case EDL_E_FH_PROTOCOL:
	case EDL_E_FH_TIMEOUT:
	case EDL_E_USB:
	case EDL_E_USB_GONE:
	case EDL_E_ABORTED: /* on purpose: the unit itself is fine, put it back */
		return EDL_CLASS_RESEAT;

	/* The unit answers nothing we can use until it restarts. */
	case EDL_E_POWER_CYCLE:
	case EDL_E_UNKNOWN_MODE:
		return EDL_CLASS_POWER_CYCLE;

	/* The unit itself is suspect. */
	case EDL_E_MEMORY_DUMP:
	case EDL_E_FH_NAK:
	case EDL_E_FH_STORAGE_INFO:
	case EDL_E_FH_DIGEST:
	case EDL_E_VERIFY_MISMATCH:
	case EDL_E_SERIAL_BUSY:
	case EDL_E_SERIAL_MISMATCH:
	case EDL_E_TARGET_NOT_ERASED:
	case EDL_E_TARGET_BAD_BLOCKS:
	case EDL_E_MES_REFUSED: /* the MES said no: set aside, the reason says why */
	case EDL_E_PRESERVE_READ:
	case EDL_E_PRESERVE_WRITE:
		return EDL_CLASS_RMA;

	/* The package does not fit the unit (or is not a package). */
	case EDL_E_NO_ROUTE:
	case EDL_E_WRONG_PACKAGE:
	case EDL_E_FH_NEGOTIATE:
	case EDL_E_PKG_MISSING:
	case EDL_E_PKG_PARSE:
	case EDL_E_PKG_CHOICE:
	case EDL_E_PKG_ESCAPE:
	case EDL_E_PKG_TOO_LARGE:
	case EDL_E_PKG_OVERLAP:
	case EDL_E_PKG_HASH:
	case EDL_E_PKG_EXPR:
	case EDL_E_PKG_SPARSE:
	case EDL_E_PKG_PATCH:
	case EDL_E_PKG_GEOMETRY:
	case EDL_E_PKG_XML_UNSAFE:
		return EDL_CLASS_WRONG_PACKAGE;

	/* The boot ROM refused the programmer, or speaks what it cannot. */
	case EDL_E_SAHARA_READ_RANGE:
	case EDL_E_SAHARA_NO_IMAGE:
	case EDL_E_SAHARA_END_STATUS:
	case EDL_E_SAHARA_VERSION:
	case EDL_E_SAHARA_EXEC:
	case EDL_E_ELF:
	case EDL_E_PK_MISMATCH:
		return EDL_CLASS_WRONG_PROGRAMMER;

	/* The station: memory, disk, database, configuration, its own package. */
	case EDL_E_NOMEM:
	case EDL_E_INVAL:
	case EDL_E_IO:
	case EDL_E_NOENT:
	case EDL_E_EXISTS:
	case EDL_E_BUSY:
	case EDL_E_RANGE:
	case EDL_E_PERM:
	case EDL_E_INTERNAL:
	case EDL_E_INTERRUPTED:
	case EDL_E_UNSUPPORTED:
	case EDL_E_CONFIG:
	case EDL_E_USAGE:
	case EDL_E_NOT_RECORDED:
	case EDL_E_MES_HOOK: /* the MES link, not the unit */
	case EDL_E_ARCHIVE:
	case EDL_E_PKG_CACHE:
	case EDL_E_PKG_CHANGED:
	case EDL_E_USB_NOMEM:
	case EDL_E_USB_ACCESS:
	case EDL_E_DB:
	case EDL_E_DB_BUSY:
	case EDL_E_DB_CORRUPT:
	case EDL_E_DB_SCHEMA:
	case EDL_E_DB_OLD:
	case EDL_E_DB_FULL:
	case EDL_E_DB_LOCKED:
	case EDL_E_TARGET:
		return EDL_CLASS_STATION;
	}
	return EDL_CLASS_STATION;
}

const char *edl_error_class_name(enum edl_error_class cls)
{
	if ((unsigned)cls >= EDL_CLASS_COUNT)
		return "station";
	return class_names[cls];
}

int edl_error_class_parse(const char *name)
{
	for (unsigned i = 0; name != NULL && i < EDL_CLASS_COUNT; i++) {
		if (strcmp(class_names[i], name) == 0)
			return (int)i;
	}
	return -1;
}

const char *edl_error_action(int code)
{
	switch (code) {
	case EDL_E_NOT_RECORDED:
	case EDL_E_DB_FULL:
		return "station fault: free space on the results disk; the line resumes by itself "
		       "once results can be written (the unit is flashed, keep it)";
	case EDL_E_PKG_CHANGED:
		return "station fault: the package files changed while the line ran; restore them "
		       "or restart the station with the new package";
	case EDL_E_USB_NOMEM:
		return "station fault: raise usbfs_memory_mb (or lower usbfs_budget_mb)";
	case EDL_E_USB_ACCESS:
		return "station fault: the station may not open USB devices (udev rule, plugdev "
		       "group)";
	case EDL_E_SERIAL_BUSY:
		return "set the unit aside: its serial is being flashed on another slot (a cloned "
		       "serial?)";
	case EDL_E_MEMORY_DUMP:
		return "set the unit aside for RMA: it crashed into memory-dump mode";
	case EDL_E_STALLED:
		return "re-seat the cable; if it stalls again, set the unit aside";
	case EDL_E_ABORTED:
		return "aborted on purpose (the reason says who and why): put the unit back to "
		       "flash "
		       "it again";
	case EDL_E_MES_REFUSED:
		return "set the unit aside: the MES refused it (the reason says why); ask the line "
		       "lead";
	case EDL_E_MES_HOOK:
		return "station fault: the MES hook gave no answer (the reason says why); check "
		       "the "
		       "MES link, then put the unit back (it was not flashed)";
	case EDL_E_PRESERVE_READ:
		return "set the unit aside: its own data (calibration, IMEI) could not be read, so "
		       "it was not flashed";
	case EDL_E_PRESERVE_WRITE:
		return "set the unit aside and restore its own data: edlstation restore SERIAL "
		       "--run ID";
	case EDL_E_ARCHIVE:
		return "station fault: the [rma] archive_dir cannot be written (free space, "
		       "permissions); the unit was not flashed";
	default:
		return class_actions[edl_error_class(code)];
	}
}
