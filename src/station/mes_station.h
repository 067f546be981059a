/*
 * The MES hooks on the station (src/station/mes_station.c): what station.c
 * and session.c call. Internal to src/station.
 */
#ifndef EDLSTATION_MES_STATION_H
#define EDLSTATION_MES_STATION_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include "station_internal.h"

/* At start, after the store opened: splits and checks the [mes] commands (a
 * missing program stops the start: EDL_E_CONFIG naming the key and line),
 * starts the outbox, and puts the gate on (env->identified) when no [route]
 * did. EDL_OK when [mes] is empty. */
int station_mes_open(struct station *st, const char *db_path, struct edl_error *err);
/* At stop, before the writer closes: true when the outbox is stopped; else
 * its delivery in flight ends first and resume(st) is called then. */
bool station_mes_stop(struct station *st, void (*resume)(struct station *st));
/* After the loop ended. */
void station_mes_free(struct station *st);
/* Results not yet delivered to after_unit (the board's and metrics' backlog). */
size_t station_mes_pending(const struct station *st);
/* A run finish with a payload was committed: the outbox looks again. */
void station_mes_queued(struct station *st);

/* The identity gate's MES step, after [route]'s decision (station_mes_gate is
 * env->identified when before_unit is set: routing, then this): d holds the
 * decision so far. EDL_OK: nothing to ask (d as it is, or refused now);
 * EDL_E_AGAIN: the hook runs, edl_unit_release() follows. */
int station_mes_identified(struct session *s, const struct edl_unit_identity *id,
                           struct edl_unit_decision *d);
int station_mes_gate(struct edl_unit *u, const struct edl_unit_identity *id,
                     struct edl_unit_decision *out, void *data);

/* RUN_START: remembers the run for its payload; a retry of an accepted unit
 * gets the MES's lot, work order and operator in rs. */
void session_mes_run_start(struct session *s, struct edl_store_run_start *rs);
/* RUN_FINISH: the run's after_unit payload (valid until the next call), or
 * NULL without after_unit. */
const char *session_mes_payload(struct session *s, const struct edl_store_run_end *re, bool final);
/* session_free, after the unit is freed (its plan may be the session's). */
void session_mes_free(struct session *s);

#endif
