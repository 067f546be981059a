/*
 * Structured journal entries for the station's events (journal.h), through
 * libsystemd's sd_journal_send: MESSAGE plus EDL_* fields. Strings from
 * devices are passed as field values, which the journal stores as given
 * (binary-safe), never pasted into a format.
 */
#include "journal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "edlstation/error.h"

bool station_journal_stdout(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (e == NULL || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDOUT_FILENO, &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static int priority_of(const struct station_journal_event *ev)
{
	if (ev->error_code != 0 && edl_error_class(ev->error_code) == EDL_CLASS_STATION)
		return LOG_ERR;
	if (strcmp(ev->event, "line-stopped") == 0)
		return LOG_ERR;
	if (ev->error_code != 0 || strcmp(ev->event, "fail") == 0 ||
	    strcmp(ev->event, "warning") == 0)
		return LOG_WARNING;
	return LOG_INFO;
}

int station_journal_send(const struct station_journal_event *ev)
{
	char run_id[32], attempt[16];
	const char *error = ev->error_code ? edl_error_name(ev->error_code) : "";
	const char *cls =
	        ev->error_code ? edl_error_class_name(edl_error_class(ev->error_code)) : "";

	snprintf(run_id, sizeof(run_id), "%" PRId64, ev->run_id);
	snprintf(attempt, sizeof(attempt), "%d", ev->attempt);
	return sd_journal_send(
	        "MESSAGE=%s", ev->message, "PRIORITY=%d", priority_of(ev),
	        "SYSLOG_IDENTIFIER=edlstation", "EDL_EVENT=%s", ev->event, "EDL_SLOT=%s",
	        ev->slot ? ev->slot : "", "EDL_PORT=%s", ev->port ? ev->port : "", "EDL_SERIAL=%s",
	        ev->serial ? ev->serial : "", "EDL_RUN_ID=%s", ev->run_id ? run_id : "",
	        "EDL_ATTEMPT=%s", ev->attempt ? attempt : "", "EDL_RESULT=%s",
	        ev->result ? ev->result : "", "EDL_ERROR=%s", error, "EDL_CLASS=%s", cls, NULL);
}
