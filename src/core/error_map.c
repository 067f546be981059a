/*
 * Mapping of the codes of the libraries edlstation stands on (errno, libusb,
 * libxml2, SQLite) to our own table. Each module calls these at its boundary so
 * that nothing above it ever sees a foreign code.
 */
#include "edlstation/error.h"

#include <errno.h>
#include <libusb.h>
#include <libxml/xmlerror.h>
#include <sqlite3.h>

int edl_error_from_errno(int err)
{
	switch (err) {
	case 0:
		return EDL_OK;
	case ENOMEM:
		return EDL_E_NOMEM;
	case EINVAL:
		return EDL_E_INVAL;
	case ENOENT:
		return EDL_E_NOENT;
	case EEXIST:
		return EDL_E_EXISTS;
	case EBUSY:
		return EDL_E_BUSY;
	case ETIMEDOUT:
		return EDL_E_TIMEOUT;
	case EAGAIN:
		return EDL_E_AGAIN;
	case ERANGE:
	case EOVERFLOW:
		return EDL_E_RANGE;
	case EACCES:
	case EPERM:
		return EDL_E_PERM;
	case EINTR:
		return EDL_E_INTERRUPTED;
	case ENODEV:
	case ENXIO:
	case ESHUTDOWN:
		return EDL_E_USB_GONE;
	case ENOTSUP:
		return EDL_E_UNSUPPORTED;
	default:
		return EDL_E_IO;
	}
}

int edl_error_from_libusb(int err)
{
	switch (err) {
	case LIBUSB_SUCCESS:
		return EDL_OK;
	case LIBUSB_ERROR_TIMEOUT:
		return EDL_E_TIMEOUT;
	case LIBUSB_ERROR_NO_DEVICE:
	case LIBUSB_ERROR_NOT_FOUND:
		return EDL_E_USB_GONE;
	case LIBUSB_ERROR_ACCESS:
		return EDL_E_USB_ACCESS;
	case LIBUSB_ERROR_BUSY:
		return EDL_E_BUSY;
	case LIBUSB_ERROR_NO_MEM:
		/* usbfs answers ENOMEM when usbfs_memory_mb is exhausted. */
		return EDL_E_USB_NOMEM;
	case LIBUSB_ERROR_INTERRUPTED:
		return EDL_E_INTERRUPTED;
	case LIBUSB_ERROR_INVALID_PARAM:
		return EDL_E_INVAL;
	case LIBUSB_ERROR_NOT_SUPPORTED:
		return EDL_E_UNSUPPORTED;
	default:
		return EDL_E_USB;
	}
}

int edl_error_from_xml(int err)
{
	switch (err) {
	case XML_ERR_OK:
		return EDL_OK;
	case XML_ERR_NO_MEMORY:
		return EDL_E_NOMEM;
	default:
		return EDL_E_FH_XML;
	}
}

int edl_error_from_sqlite(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return EDL_OK;
	case SQLITE_NOMEM:
		return EDL_E_NOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return EDL_E_DB_BUSY;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return EDL_E_DB_CORRUPT;
	case SQLITE_CANTOPEN:
		return EDL_E_NOENT;
	case SQLITE_PERM:
	case SQLITE_READONLY:
		return EDL_E_PERM;
	case SQLITE_INTERRUPT:
		return EDL_E_INTERRUPTED;
	case SQLITE_IOERR:
	case SQLITE_FULL:
		return EDL_E_IO;
	default:
		return EDL_E_DB;
	}
}
