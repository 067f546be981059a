/*
 * The station's events as structured journal entries (systemd-journald), for a
 * station running as a service: one entry per event with the unit's identity
 * as fields (EDL_SERIAL, EDL_SLOT, EDL_PORT, EDL_RUN_ID, EDL_RESULT, EDL_ERROR,
 * EDL_CLASS), so `journalctl -u edlstation EDL_SERIAL=1a2b3c4d` finds a unit.
 * view.c calls it; nothing here keeps state.
 */
#ifndef EDLSTATION_STATION_JOURNAL_H
#define EDLSTATION_STATION_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

/* True when stdout is a journal stream (systemd sets JOURNAL_STREAM to the
 * device and inode of the stream it connected; matched against stdout's). */
bool station_journal_stdout(void);

struct station_journal_event {
	const char *event;                /* "pass", "fail", "line-stopped", ... (required) */
	const char *message;              /* the sentence (required) */
	const char *slot, *port, *serial; /* NULL: not about one unit */
	int64_t run_id;                   /* 0: none */
	int attempt;
	const char *result; /* "pass", "fail", ... or NULL */
	int error_code;     /* 0: none; its name and class become fields */
};

/* Sends one entry; priority from the event (a failure: warning, a station
 * fault or line stop: error, else info). Returns 0 or a negative errno. */
int station_journal_send(const struct station_journal_event *ev);

#endif
