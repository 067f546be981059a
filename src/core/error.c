/*
 * The error table's lookups and struct edl_error helpers. The table itself lives
 * in include/edlstation/error.h so that names, values and messages never drift.
 */
#include "edlstation/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *edl_strerror(int code)
{
	switch (code) {
#define EDL_XX_MSG(sym, val, msg) \
	case sym:                 \
		return msg;
		EDL_ERROR_TABLE(EDL_XX_MSG)
#undef EDL_XX_MSG
	}
	return "unknown error";
}

const char *edl_error_name(int code)
{
	switch (code) {
#define EDL_XX_NAME(sym, val, msg) \
	case sym:                  \
		return #sym;
		EDL_ERROR_TABLE(EDL_XX_NAME)
#undef EDL_XX_NAME
	}
	return "EDL_E_UNKNOWN";
}

int edl_error_set(struct edl_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	err->code = code;
	if (fmt == NULL) {
		err->detail[0] = '\0';
		return code;
	}
	va_start(ap, fmt);
	vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
	va_end(ap);
	return code;
}

void edl_error_clear(struct edl_error *err)
{
	if (err == NULL)
		return;
	err->code = EDL_OK;
	err->detail[0] = '\0';
}

const char *edl_error_format(const struct edl_error *err, char *buf, size_t len)
{
	if (len == 0)
		return buf;
	if (err->detail[0] != '\0')
		snprintf(buf, len, "%s: %s", edl_strerror(err->code), err->detail);
	else
		snprintf(buf, len, "%s", edl_strerror(err->code));
	return buf;
}
