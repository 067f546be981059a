/*
 * Whether the package fits the unit and its programmer, decided before a byte
 * is written: a programmer that refuses the package's storage type (the real
 * texts), one that lacks a command the plan needs (its banner's function
 * list), and a geometry from getstorageinfo that the plan does not fit are a
 * wrong package, named with both sides and not retried; getstorageinfo itself
 * is best effort (REAL-DEVICES.md #5). The storage-info stage of the job runs
 * here.
 */
#include "flash/job_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "edlstation/package.h"

/*
 * The texts with which real programmers refuse a storage type they do not
 * have: a NAK of configure (edl recognises "Not support configure MemoryName"),
 * or, from programmers that accept any MemoryName, the first storage access
 * (REAL-DEVICES.md §5.3; edl retries the next memory type on exactly these).
 */
static const char *job_storage_refusal(const char *text)
{
	static const char *const texts[] = {
	        "Not support configure MemoryName",
	        "Failed to open the SDCC Device",
	        "Failed to initialize (open whole lun) UFS Device",
	        "Failed to set the IO options",
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		const char *hit = strstr(text, texts[i]);
		if (hit != NULL)
			return hit;
	}
	return NULL;
}

/* A wrong package: not retried, and says what the unit has against what the
 * package is for. */
static void fail_wrong_package(struct edl_flash_job *job, const char *unit_side)
{
	job_fail_with(
	        job, EDL_E_WRONG_PACKAGE,
	        "this package is for %s units, but %s; %s — check the package chosen for this "
	        "line",
	        edl_storage_name(job->opt.plan->storage), unit_side,
	        job->wrote ? "steps already ran on the unit" : "no byte was written");
}

/* A failed Firehose command: a storage refusal becomes a wrong package. */
void job_fail_fh(struct edl_flash_job *job)
{
	const struct edl_error *e = edl_fh_host_error(job->fh);
	const char *refusal = job->opt.plan != NULL ? job_storage_refusal(e->detail) : NULL;

	if (refusal != NULL) {
		char unit_side[EDL_ERROR_DETAIL_MAX];
		snprintf(unit_side, sizeof(unit_side),
		         "the unit's programmer refuses that storage (\"%.160s\")", refusal);
		fail_wrong_package(job, unit_side);
		return;
	}
	job_fail(job, e);
}

/* The Firehose element each plan step sends: the step kind's name, but for
 * the boot-drive step and the vendor entries (their own element). */
static const char *step_command(const struct edl_plan_step *s)
{
	if (s->kind == EDL_STEP_VENDOR)
		return s->element;
	if (s->kind == EDL_STEP_SET_BOOTABLE)
		return "setbootablestoragedrive";
	return edl_plan_step_kind_name(s->kind);
}

/*
 * A programmer that lists its functions and lacks one the plan needs cannot
 * flash the package: real programmers ACK an unknown tag and do nothing
 * (Qualcomm processNextXMLTag: "Ignoring unrecognized tag"), so sending it
 * anyway would "pass" a unit that was never written. Returns false after
 * failing the job. A missing setbootablestoragedrive only skips that step.
 */
bool job_plan_commands_listed(struct edl_flash_job *job)
{
	const struct edl_plan *plan = job->opt.plan;

	for (size_t i = 0; i < plan->n_steps; i++) {
		const char *cmd = step_command(&plan->steps[i]);
		if (plan->steps[i].kind == EDL_STEP_SET_BOOTABLE ||
		    job_programmer_lists(job, cmd) != 0)
			continue;
		job_fail_with(
		        job, EDL_E_WRONG_PACKAGE,
		        "the unit's programmer does not list '%s', which step %zu (%s) needs "
		        "(it lists: %.200s); no byte was written — check the programmer chosen "
		        "for this package",
		        cmd, i + 1,
		        plan->steps[i].source[0] ? plan->steps[i].source : plan->steps[i].label,
		        edl_fh_host_functions(job->fh));
		return false;
	}
	if (job->opt.set_bootable && job_programmer_lists(job, "setbootablestoragedrive") == 0) {
		job_warn(job,
		         "the programmer does not list setbootablestoragedrive: the boot drive is "
		         "left as it is");
		job->opt.set_bootable = false;
	}
	return true;
}

bool job_payload_fits(struct edl_flash_job *job, uint64_t payload)
{
	const struct edl_plan *plan = job->opt.plan;

	if (plan == NULL || payload == 0)
		return true;
	for (size_t i = 0; i < plan->n_steps; i++) {
		const struct edl_plan_step *s = &plan->steps[i];
		if (s->kind != EDL_STEP_PROGRAM || s->sector_size == 0 || payload >= s->sector_size)
			continue;
		/* Raw data goes in whole sectors: nothing of this package can be sent. */
		job_fail_with(job, EDL_E_WRONG_PACKAGE,
		              "the unit's programmer takes at most %" PRIu64
		              " bytes per transfer, less than one %" PRIu32
		              "-byte sector of this package (step %zu, %s); no byte was written "
		              "— check the programmer and the package chosen for this line",
		              payload, s->sector_size, i + 1, s->label);
		return false;
	}
	return true;
}

/*
 * Checks the plan against what getstorageinfo said of one LUN: the storage
 * type, the sector size and every range. Returns false after failing the job.
 */
static bool check_geometry(struct edl_flash_job *job, uint32_t lun,
                           const struct edl_fh_storage_info *si)
{
	const struct edl_plan *plan = job->opt.plan;
	char unit_side[EDL_ERROR_DETAIL_MAX];
	enum edl_storage_kind kind;
	struct edl_error e;

	if (si->mem_type[0] != '\0' && edl_storage_parse(si->mem_type, &kind) == EDL_OK &&
	    kind != plan->storage) {
		snprintf(unit_side, sizeof(unit_side), "the unit reports %s storage", si->mem_type);
		fail_wrong_package(job, unit_side);
		return false;
	}
	uint32_t unit_sector = si->block_size != 0 ? si->block_size : si->sector_size;
	for (size_t i = 0; unit_sector != 0 && i < plan->n_steps; i++) {
		const struct edl_plan_step *s = &plan->steps[i];
		if (s->kind == EDL_STEP_VENDOR || s->lun != lun || s->sector_size == 0 ||
		    s->sector_size == unit_sector)
			continue;
		snprintf(unit_side, sizeof(unit_side),
		         "LUN %" PRIu32 " of the unit has %" PRIu32
		         "-byte sectors and '%s' (%s) is "
		         "laid out for %" PRIu32,
		         lun, unit_sector, s->label, s->source, s->sector_size);
		fail_wrong_package(job, unit_side);
		return false;
	}
	uint64_t sectors = si->num_sectors != 0 ? si->num_sectors : si->total_blocks;
	if (sectors == 0)
		return true;
	edl_error_clear(&e);
	if (edl_plan_resolve(plan, lun, sectors, NULL, &e) != EDL_OK) {
		snprintf(unit_side, sizeof(unit_side),
		         "LUN %" PRIu32 " of the unit has %" PRIu64 " sectors: %.300s", lun,
		         sectors, e.detail);
		fail_wrong_package(job, unit_side);
		return false;
	}
	return true;
}

/* The idx-th distinct LUN the plan's steps write (in step order); false past
 * the last. Computed from the steps: a plan need not carry per-LUN totals. */
static bool plan_lun(const struct edl_plan *plan, size_t idx, uint32_t *lun)
{
	size_t found = 0;

	for (size_t i = 0; i < plan->n_steps; i++) {
		bool seen = false;
		for (size_t k = 0; k < i && !seen; k++)
			seen = plan->steps[k].lun == plan->steps[i].lun;
		if (seen)
			continue;
		if (found++ == idx) {
			*lun = plan->steps[i].lun;
			return true;
		}
	}
	return false;
}

/* getstorageinfo of every LUN the plan writes, best effort (REAL-DEVICES #5):
 * a NAK, silence or an answer without geometry is a warning, never a failure;
 * a geometry that does not fit the plan is a wrong package. */
void job_run_storage_info(struct edl_flash_job *job, uint64_t now)
{
	const struct edl_plan *plan = job->opt.plan;
	uint32_t lun = 0;
	bool more = plan_lun(plan, job->si_lun, &lun);

	if (!job->command_pending) {
		/* QFirehose and fwupd never ask a NAND programmer, and no public
		 * transcript shows a NAND answer: NAND plans go without. */
		if (plan->storage == EDL_STORAGE_NAND || !more) {
			job_start_plan(job);
			return;
		}
		if (job_programmer_lists(job, "getstorageinfo") == 0) {
			job_warn(
			        job,
			        "the programmer does not list getstorageinfo: the package's ranges "
			        "are not checked against the unit's size");
			job_start_plan(job);
			return;
		}
		job_issue(job, edl_fh_host_getstorageinfo(job->fh, lun, now), "getstorageinfo");
		return;
	}
	switch (edl_fh_host_status(job->fh)) {
	case EDL_ENGINE_RUNNING:
		return;
	case EDL_ENGINE_FAILED: {
		const struct edl_error *e = edl_fh_host_error(job->fh);
		if (job_storage_refusal(e->detail) != NULL) {
			job_fail_fh(job);
			return;
		}
		job_warn(job,
		         "getstorageinfo LUN %" PRIu32
		         " failed (%s): ranges not checked against the unit",
		         lun, e->detail);
		break;
	}
	case EDL_ENGINE_DONE: {
		const struct edl_fh_storage_info *si = edl_fh_host_storage_info(job->fh);
		if (si->valid) {
			if (job->si_lun == 0)
				job->storage = *si;
			if (!check_geometry(job, lun, si))
				return;
		} else {
			const char *w = edl_fh_host_warning(job->fh);
			job_warn(job, "%s: ranges not checked against the unit",
			         w != NULL ? w : "getstorageinfo gave no storage size");
		}
		break;
	}
	}
	job->command_pending = false;
	job->si_lun++;
}
