/*
 * The station's policies that do not depend on USB: which arriving device gets
 * a unit (the port map and the concurrency limit) and how the station-wide
 * budget of in-flight OUT bytes is shared. station.c (libusb) and memline.c
 * (the in-memory line) apply the same functions, so the unit tests test what
 * the station does.
 */
#include "edlstation/unit.h"

enum edl_station_admission edl_station_admit(const struct edl_station_config *cfg, const char *port,
                                             unsigned active)
{
	if (edl_station_config_port(cfg, port) == NULL && !cfg->accept_unmapped)
		return EDL_ADMIT_UNMAPPED;
	if (cfg->concurrency && active >= cfg->concurrency)
		return EDL_ADMIT_WAIT;
	return EDL_ADMIT_START;
}

uint64_t edl_station_budget_share(uint64_t budget, unsigned active)
{
	/* Each running unit may keep budget/active bytes in flight (one transfer
	 * always, even above its share): the first units to submit cannot keep
	 * the whole budget while the others, behind other hubs, starve. */
	return budget / (active ? active : 1);
}

size_t edl_station_budget_first(size_t *rr, size_t n)
{
	/* Round robin: start after the unit served first last time, so that no
	 * unit waits behind the same neighbours every time budget frees up. */
	if (n == 0)
		return 0;
	return (*rr)++ % n;
}
