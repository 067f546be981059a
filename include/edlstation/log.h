/*
 * Logging with a per-device prefix. Every line a session writes carries the
 * port path and, once known, the chip serial ("[1-1.3 SN:1a2b3c4d] ..."), so a
 * station log of many interleaved devices stays readable. A logger is a value
 * owned by whoever logs (a session, a test, the CLI): there is no global logger.
 * Lines go to a sink callback; the default sink writes to a FILE.
 */
#ifndef EDLSTATION_LOG_H
#define EDLSTATION_LOG_H

#include <stdarg.h>
#include <stdio.h>

enum edl_log_level {
	EDL_LOG_ERROR = 0,
	EDL_LOG_WARN = 1,
	EDL_LOG_INFO = 2,
	EDL_LOG_DEBUG = 3,
};

/* Receives one finished line (no trailing newline) with its level. */
typedef void (*edl_log_sink_fn)(enum edl_log_level level, const char *prefix, const char *line,
                                void *data);

struct edl_log {
	enum edl_log_level level; /* lines above this level are dropped */
	char port[32];            /* USB port path, e.g. "1-1.3"; empty when unknown */
	char serial[32];          /* chip serial as 8 hex digits; empty until known */
	char prefix[80];          /* derived from port and serial */
	edl_log_sink_fn sink;     /* NULL: write to file */
	void *sink_data;
	FILE *file; /* used when sink is NULL; NULL: stderr */
};

/* Initialises a logger writing to stderr at level INFO with no prefix. */
void edl_log_init(struct edl_log *log);

void edl_log_set_port(struct edl_log *log, const char *port);
void edl_log_set_serial(struct edl_log *log, const char *serial);

void edl_logf(struct edl_log *log, enum edl_log_level level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
void edl_vlogf(struct edl_log *log, enum edl_log_level level, const char *fmt, va_list ap);

#define edl_log_error(log, ...) edl_logf((log), EDL_LOG_ERROR, __VA_ARGS__)
#define edl_log_warn(log, ...) edl_logf((log), EDL_LOG_WARN, __VA_ARGS__)
#define edl_log_info(log, ...) edl_logf((log), EDL_LOG_INFO, __VA_ARGS__)
#define edl_log_debug(log, ...) edl_logf((log), EDL_LOG_DEBUG, __VA_ARGS__)

const char *edl_log_level_name(enum edl_log_level level);

#endif
