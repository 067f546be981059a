/*
 * Error codes of edlstation: one X-macro table gives every code its value, its
 * stable name (recorded in the database and printed in reports) and a short
 * human message. Codes are negative; 0 is success. Modules map the codes of the
 * libraries they call (errno, libusb, libxml2, SQLite) to these at their boundary,
 * and pair a code with a sentence naming what went wrong in a struct edl_error.
 */
#ifndef EDLSTATION_ERROR_H
#define EDLSTATION_ERROR_H

#include <stddef.h>

/* XX(symbol, value, message). Values are stable: never renumber, only append. */
#define EDL_ERROR_TABLE(XX)                                                                       \
	/* general */                                                                             \
	XX(EDL_OK, 0, "success")                                                                  \
	XX(EDL_E_NOMEM, -1, "out of memory")                                                      \
	XX(EDL_E_INVAL, -2, "invalid argument")                                                   \
	XX(EDL_E_IO, -3, "input/output error")                                                    \
	XX(EDL_E_NOENT, -4, "no such file or object")                                             \
	XX(EDL_E_EXISTS, -5, "already exists")                                                    \
	XX(EDL_E_BUSY, -6, "resource busy")                                                       \
	XX(EDL_E_TIMEOUT, -7, "timed out")                                                        \
	XX(EDL_E_AGAIN, -8, "try again")                                                          \
	XX(EDL_E_RANGE, -9, "value out of range")                                                 \
	XX(EDL_E_PERM, -10, "permission denied")                                                  \
	XX(EDL_E_INTERNAL, -11, "internal error")                                                 \
	XX(EDL_E_INTERRUPTED, -12, "interrupted")                                                 \
	XX(EDL_E_UNSUPPORTED, -13, "not supported")                                               \
	XX(EDL_E_CONFIG, -14, "configuration error")                                              \
	XX(EDL_E_USAGE, -15, "usage error")                                                       \
	/* device classification (the probe) */                                                   \
	XX(EDL_E_POWER_CYCLE, -100, "device does not answer: it needs a power cycle")             \
	XX(EDL_E_MEMORY_DUMP, -101, "unit is in memory-dump mode")                                \
	XX(EDL_E_UNKNOWN_MODE, -102, "device answered in no protocol we know")                    \
	XX(EDL_E_STALLED, -103, "unit stopped accepting data")                                    \
	XX(EDL_E_WRONG_PACKAGE, -104, "package does not fit this unit")                           \
	XX(EDL_E_NOT_RECORDED, -105, "unit flashed, but its result is NOT RECORDED")              \
	/* issue 15, route by identity (values apart from other helpers' additions) */            \
	XX(EDL_E_PK_MISMATCH, -120, "no programmer for this unit's secure-boot key")              \
	XX(EDL_E_NO_ROUTE, -121, "no route matches this unit")                                    \
	XX(EDL_E_MES_REFUSED, -130, "the MES refused the unit (before_unit hook)")                \
	XX(EDL_E_MES_HOOK, -131, "the MES hook gave no usable answer")                            \
	/* issue 13: an operator aborted the unit (POST /api/v1/slots/LABEL/abort) */             \
	XX(EDL_E_ABORTED, -140, "aborted by the operator")                                        \
	/* issue 15: the unit's own data ([rma] preserve) */                                      \
	XX(EDL_E_PRESERVE_READ, -110, "unit's own data cannot be read: not flashed")              \
	XX(EDL_E_PRESERVE_WRITE, -111, "unit's own data was not written back")                    \
	XX(EDL_E_ARCHIVE, -112, "archive of the unit's own data cannot be written")               \
	/* Sahara */                                                                              \
	XX(EDL_E_SAHARA_TRUNCATED, -200, "Sahara packet truncated")                               \
	XX(EDL_E_SAHARA_LENGTH, -201, "Sahara packet length field does not match the bytes read") \
	XX(EDL_E_SAHARA_UNKNOWN_CMD, -202, "unknown Sahara command")                              \
	XX(EDL_E_SAHARA_UNEXPECTED, -203, "Sahara command not expected in this state")            \
	XX(EDL_E_SAHARA_READ_RANGE, -204, "device asked for data outside the image")              \
	XX(EDL_E_SAHARA_NO_IMAGE, -205, "device asked for an image the host does not have")       \
	XX(EDL_E_SAHARA_END_STATUS, -206, "device ended the image transfer with an error status") \
	XX(EDL_E_SAHARA_VERSION, -207, "unsupported Sahara version")                              \
	XX(EDL_E_SAHARA_EXEC, -208, "Sahara command-mode request failed")                         \
	XX(EDL_E_SAHARA_TIMEOUT, -209, "Sahara device stopped answering")                         \
	XX(EDL_E_ELF, -210, "programmer is not a valid ELF image")                                \
	/* Firehose */                                                                            \
	XX(EDL_E_FH_NAK, -300, "Firehose command refused (NAK)")                                  \
	XX(EDL_E_FH_XML, -301, "Firehose reply is not well-formed XML")                           \
	XX(EDL_E_FH_TOO_LARGE, -302, "Firehose reply larger than the limit")                      \
	XX(EDL_E_FH_PROTOCOL, -303, "Firehose reply does not follow the protocol")                \
	XX(EDL_E_FH_TIMEOUT, -304, "Firehose command timed out")                                  \
	XX(EDL_E_FH_NEGOTIATE, -305, "Firehose payload size negotiation failed")                  \
	XX(EDL_E_FH_STORAGE_INFO, -306, "storage information missing or malformed")               \
	XX(EDL_E_FH_DIGEST, -307, "digest missing or malformed")                                  \
	XX(EDL_E_VERIFY_MISMATCH, -308, "read-back digest differs from the image")                \
	/* package */                                                                             \
	XX(EDL_E_PKG_MISSING, -400, "package file missing")                                       \
	XX(EDL_E_PKG_PARSE, -401, "package file malformed")                                       \
	XX(EDL_E_PKG_CHOICE, -402, "package holds a choice that must be named")                   \
	XX(EDL_E_PKG_ESCAPE, -403, "package path escapes the package directory")                  \
	XX(EDL_E_PKG_TOO_LARGE, -404, "image larger than its partition")                          \
	XX(EDL_E_PKG_OVERLAP, -405, "writes overlap")                                             \
	XX(EDL_E_PKG_HASH, -406, "file hash does not match the manifest")                         \
	XX(EDL_E_PKG_EXPR, -407, "malformed expression or number")                                \
	XX(EDL_E_PKG_SPARSE, -408, "malformed sparse image")                                      \
	XX(EDL_E_PKG_PATCH, -409, "patch cannot be applied")                                      \
	XX(EDL_E_PKG_GEOMETRY, -410, "sectors outside the device geometry")                       \
	XX(EDL_E_PKG_CACHE, -411, "hash cache unreadable or unwritable")                          \
	XX(EDL_E_PKG_XML_UNSAFE, -412, "XML with a DTD or entities refused")                      \
	XX(EDL_E_PKG_CHANGED, -413, "package changed under the station")                          \
	/* USB and station */                                                                     \
	XX(EDL_E_USB, -500, "USB error")                                                          \
	XX(EDL_E_USB_GONE, -501, "device was unplugged")                                          \
	XX(EDL_E_USB_NOMEM, -502, "usbfs refused the transfer memory (usbfs_memory_mb)")          \
	XX(EDL_E_USB_ACCESS, -503, "no permission to open the USB device")                        \
	XX(EDL_E_SERIAL_BUSY, -504, "a session for this serial is already running")               \
	XX(EDL_E_SERIAL_MISMATCH, -505, "chip serial differs from the USB descriptor's serial")   \
	/* store */                                                                               \
	XX(EDL_E_DB, -600, "database error")                                                      \
	XX(EDL_E_DB_BUSY, -601, "database is busy")                                               \
	XX(EDL_E_DB_CORRUPT, -602, "database is corrupt")                                         \
	XX(EDL_E_DB_SCHEMA, -603, "database schema is newer than this program")                   \
	XX(EDL_E_DB_OLD, -604, "database schema is older than this program")                      \
	XX(EDL_E_DB_FULL, -605, "database disk is full")                                          \
	XX(EDL_E_DB_LOCKED, -606, "database is another station's")                                \
	/* emulated target */                                                                     \
	XX(EDL_E_TARGET, -700, "emulated device error")                                           \
	XX(EDL_E_TARGET_NOT_ERASED, -701, "NAND page is not erased")                              \
	XX(EDL_E_TARGET_BAD_BLOCKS, -702, "NAND partition has too few good blocks")

enum edl_error_code {
#define EDL_XX_ENUM(sym, val, msg) sym = val,
	EDL_ERROR_TABLE(EDL_XX_ENUM)
#undef EDL_XX_ENUM
};

/* Message of a code, e.g. "Sahara packet truncated"; never NULL. */
const char *edl_strerror(int code);

/* Stable name of a code, e.g. "EDL_E_SAHARA_TRUNCATED"; never NULL. */
const char *edl_error_name(int code);

/*
 * Failure classes: every code belongs to exactly one, and each class carries the
 * sentence an operator acts on (src/core/error_class.c; a test walks the whole
 * table). Names are stable: they are recorded with each run and filtered on.
 */
#define EDL_ERROR_CLASS_TABLE(XX)                                                   \
	XX(EDL_CLASS_NONE, "none", "nothing to do")                                 \
	XX(EDL_CLASS_RESEAT, "reseat",                                              \
	   "re-seat the cable (or try another port) and put the unit back")         \
	XX(EDL_CLASS_POWER_CYCLE, "power-cycle",                                    \
	   "power-cycle the unit (unplug it, hold it off for 5 s) and put it back") \
	XX(EDL_CLASS_RMA, "rma", "set the unit aside for RMA")                      \
	XX(EDL_CLASS_WRONG_PACKAGE, "wrong-package",                                \
	   "check the package: it does not fit this unit")                          \
	XX(EDL_CLASS_WRONG_PROGRAMMER, "wrong-programmer",                          \
	   "check the programmer: this unit refused it (secure-boot key or chip)")  \
	XX(EDL_CLASS_STATION, "station",                                            \
	   "station fault: call the line technician (the unit itself may be fine)")

enum edl_error_class {
#define EDL_XX_CLASS_ENUM(sym, name, action) sym,
	EDL_ERROR_CLASS_TABLE(EDL_XX_CLASS_ENUM)
#undef EDL_XX_CLASS_ENUM
	        EDL_CLASS_COUNT
};

/* The class of a code (EDL_CLASS_NONE for EDL_OK only; an unknown code is
 * EDL_CLASS_STATION). */
enum edl_error_class edl_error_class(int code);
/* "reseat", "power-cycle", ...; never NULL. */
const char *edl_error_class_name(enum edl_error_class cls);
/* The class of a stored name; -1 when none matches. */
int edl_error_class_parse(const char *name);
/* The operator's sentence for a code: its class's, sharpened for a few codes
 * ("power-cycle the unit", "free space on the results disk"); never NULL. */
const char *edl_error_action(int code);

/* Maps an errno value (positive) to our code. */
int edl_error_from_errno(int err);

/* Maps a libusb error (LIBUSB_ERROR_*, negative) to our code. */
int edl_error_from_libusb(int err);

/* Maps a libxml2 error number (xmlParserErrors) to our code. */
int edl_error_from_xml(int err);

/* Maps an SQLite result code (primary or extended) to our code. */
int edl_error_from_sqlite(int rc);

#define EDL_ERROR_DETAIL_MAX 512

/*
 * A code with the sentence that explains it: "READ_DATA offset 0x1000 length
 * 0x400 outside image 0x0d of 2048 bytes". The detail names what and where;
 * the code is what programs test.
 */
struct edl_error {
	int code;
	char detail[EDL_ERROR_DETAIL_MAX];
};

/* Sets code and a printf-style detail; returns code so callers can write
 * `return edl_error_set(err, EDL_E_X, "...")`. err may be NULL. */
int edl_error_set(struct edl_error *err, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Resets to EDL_OK with an empty detail. */
void edl_error_clear(struct edl_error *err);

/* "message: detail" (or the message alone) into buf; returns buf. */
const char *edl_error_format(const struct edl_error *err, char *buf, size_t len);

#endif
