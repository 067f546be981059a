/*
 * The hooks through which the station's other queues show their backlog on
 * /api/v1/state (backlog.mes_pending, backlog.factory_sync_pending) and
 * /metrics (edlstation_mes_backlog, edlstation_factory_sync_backlog): each
 * its module's in-memory count (never a store query: this runs on the loop),
 * or -1 when that queue is not configured: null in the JSON and no series in
 * /metrics.
 */
#include "web_internal.h"

#include "../station/mes_station.h"
#include "edlstation/factory.h"

int64_t web_backlog_mes(const struct station *st)
{
	if (st->mes == NULL || st->cfg->mes.after_unit[0] == '\0')
		return -1;
	return (int64_t)station_mes_pending(st);
}

int64_t web_backlog_factory(const struct station *st)
{
	const struct edl_factory_sync *sync = station_factory_sync(st);
	struct edl_factory_sync_status status;

	if (sync == NULL)
		return -1;
	edl_factory_sync_backlog(sync, &status); /* a copy under the worker's mutex */
	return status.waiting > 0 ? status.waiting : 0;
}
