/*
 * The station's half of issue 15's "preserve unit data": the [rma] keys turned
 * into the flash job's preserve options (the job reads, archives and writes
 * back the partitions, src/flash/preserve.c). `run` preserves around the
 * plan; `edlstation backup` and `restore` (src/cli/cmd_rma.c) set the mode.
 */
#include "edlstation/unit.h"

#include <inttypes.h>
#include <stdio.h>
#include <strings.h>

void edl_unit_rma_options(struct edl_flash_options *opt, const struct edl_station_config *cfg,
                          const char **labels, char *run, size_t run_len, int64_t run_id)
{
	if (cfg->n_rma_preserve == 0 || opt->plan == NULL)
		return;
	for (size_t i = 0; i < cfg->n_rma_preserve && i < EDL_RMA_MAX_LABELS; i++)
		labels[i] = cfg->rma_preserve[i];
	snprintf(run, run_len, "%" PRId64, run_id);
	opt->preserve_labels = labels;
	opt->n_preserve = cfg->n_rma_preserve;
	opt->archive_dir = cfg->rma_archive_dir[0] ? cfg->rma_archive_dir : NULL;
	opt->archive_run = run;
	opt->preserve_mode = (enum edl_preserve_mode)cfg->rma_mode;
	opt->restore_dir = cfg->rma_restore_dir[0] ? cfg->rma_restore_dir : NULL;
}

const char *edl_unit_rma_kind(const struct edl_station_config *cfg)
{
	switch ((enum edl_preserve_mode)cfg->rma_mode) {
	case EDL_PRESERVE_BACKUP:
		return "backup";
	case EDL_PRESERVE_RESTORE:
		return "restore";
	case EDL_PRESERVE_PLAN:
		break;
	}
	return NULL;
}

bool edl_unit_rma_wanted(const struct edl_station_config *cfg, const char *serial)
{
	if (cfg->n_rma_serials == 0)
		return true;
	for (size_t i = 0; i < cfg->n_rma_serials; i++)
		if (strcasecmp(cfg->rma_serials[i], serial) == 0)
			return true;
	return false;
}
