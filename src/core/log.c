/*
 * The per-device logger. A line is formatted once into a stack buffer and handed
 * to the sink with the prefix; the prefix is rebuilt only when port or serial
 * change, never per line.
 */
#include "edlstation/log.h"

#include <string.h>

static void rebuild_prefix(struct edl_log *log)
{
	if (log->port[0] && log->serial[0])
		snprintf(log->prefix, sizeof(log->prefix), "[%s SN:%s]", log->port, log->serial);
	else if (log->port[0])
		snprintf(log->prefix, sizeof(log->prefix), "[%s]", log->port);
	else if (log->serial[0])
		snprintf(log->prefix, sizeof(log->prefix), "[SN:%s]", log->serial);
	else
		log->prefix[0] = '\0';
}

void edl_log_init(struct edl_log *log)
{
	memset(log, 0, sizeof(*log));
	log->level = EDL_LOG_INFO;
}

void edl_log_set_port(struct edl_log *log, const char *port)
{
	snprintf(log->port, sizeof(log->port), "%s", port ? port : "");
	rebuild_prefix(log);
}

void edl_log_set_serial(struct edl_log *log, const char *serial)
{
	snprintf(log->serial, sizeof(log->serial), "%s", serial ? serial : "");
	rebuild_prefix(log);
}

const char *edl_log_level_name(enum edl_log_level level)
{
	switch (level) {
	case EDL_LOG_ERROR:
		return "error";
	case EDL_LOG_WARN:
		return "warn";
	case EDL_LOG_INFO:
		return "info";
	case EDL_LOG_DEBUG:
		return "debug";
	}
	return "?";
}

void edl_vlogf(struct edl_log *log, enum edl_log_level level, const char *fmt, va_list ap)
{
	char line[1024];

	if (log == NULL || level > log->level)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (log->sink != NULL) {
		log->sink(level, log->prefix, line, log->sink_data);
		return;
	}
	FILE *f = log->file ? log->file : stderr;
	if (log->prefix[0])
		fprintf(f, "%s %s: %s\n", log->prefix, edl_log_level_name(level), line);
	else
		fprintf(f, "%s: %s\n", edl_log_level_name(level), line);
}

void edl_logf(struct edl_log *log, enum edl_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	edl_vlogf(log, level, fmt, ap);
	va_end(ap);
}
