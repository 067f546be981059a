/*
 * The hooks through which the station's other queues show their backlog on
 * /api/v1/state (backlog.mes_pending, backlog.factory_sync_pending) and
 * /metrics (edlstation_mes_backlog, edlstation_factory_sync_backlog). Until
 * the MES outbox (issue 13, src/mes) and the factory sync (issue 14,
 * src/factory) are wired here at merge, they answer -1: null in the JSON and
 * no series in /metrics. Their owners replace the body with a call into
 * their module's in-memory count (never a store query: this runs on the loop).
 */
#include "web_internal.h"

int64_t web_backlog_mes(const struct station *st)
{
	(void)st;
	return -1;
}

int64_t web_backlog_factory(const struct station *st)
{
	(void)st;
	return -1;
}
