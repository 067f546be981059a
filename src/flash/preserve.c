/*
 * Keeping a unit's own data across a flash (issue 15, `[rma] preserve`): the
 * preserve stage runs after storage-info, before the plan's first erase, and
 * the write-back stage after the plan's last step, before set-bootable/reset.
 *
 * preserve:   locate every label on the unit, then read each whole
 *   eMMC/UFS  PV_GPT_HEADER (LBA 1) -> PV_GPT_ENTRIES, for each LUN the
 *             package uses; a header or array that is unreadable or fails its
 *             CRC -> PV_GPT_BACKUP (NUM_DISK_SECTORS-1, which the programmer
 *             evaluates) -> PV_GPT_ENTRIES of the backup
 *   NAND      PV_NAND_PROBE of the MIBIB candidates (the package's mibib
 *             partition, then pages 0x280, 0x400, 0x800 as linux-msm/qdl
 *             probes) -> PV_NAND_TABLE (the page after an MBN header)
 *   then      PV_READ_LABEL for each label found -> PV_LOCATED -> the plan
 * write-back: for each preserved label the plan erased or programmed over:
 *             [NAND: WB_ERASE] -> WB_PROGRAM -> WB_DIGEST (or WB_READBACK when
 *             the programmer has no digest, on NAND, or the digest fails) ->
 *             next label -> WB_DONE -> set-bootable/reset
 *
 * Where the unit and the package disagree on a label's place, the unit's
 * table wins (its data is where its table says) and a warning is recorded. A
 * label the unit does not have is a warning. When no table can be read at
 * all, the package's entry for the label is used, with a warning. A label
 * that cannot be read fails the job before anything is written
 * (EDL_E_PRESERVE_READ, class rma); a write-back that fails leaves the archive
 * and names the restore command (EDL_E_PRESERVE_WRITE).
 *
 * Data is kept in memory (at most JOB_PRESERVE_MAX_BYTES a label) between the
 * read and the write-back, and on disk in the archive (archive.c).
 */
#include "flash/job_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "edlstation/expr.h"

static const uint64_t mibib_guesses[] = {0x280, 0x400, 0x800}; /* qdl read.c */

static void pv_set(struct edl_flash_job *job, enum job_pv_state st)
{
	job->pv.state = st;
	job->pv.seq++;
	job->command_pending = false;
}

static bool pv_nand(const struct edl_flash_job *job)
{
	return job->opt.plan->storage == EDL_STORAGE_NAND;
}

static size_t pv_n_luns(const struct edl_flash_job *job)
{
	return job->opt.plan->n_luns > 0 ? job->opt.plan->n_luns : 1;
}

static uint32_t pv_lun_at(const struct edl_flash_job *job, size_t i)
{
	return job->opt.plan->n_luns > 0 ? job->opt.plan->luns[i].lun : 0;
}

static uint32_t pv_sector_size(const struct edl_flash_job *job, uint32_t lun)
{
	const struct edl_plan *plan = job->opt.plan;

	for (size_t i = 0; i < plan->n_steps; i++)
		if (plan->steps[i].lun == lun && plan->steps[i].sector_size != 0)
			return plan->steps[i].sector_size;
	return plan->storage == EDL_STORAGE_EMMC ? 512 : 4096;
}

static uint32_t pv_ppb(const struct edl_flash_job *job)
{
	const struct edl_plan *plan = job->opt.plan;

	for (size_t i = 0; i < plan->n_steps; i++)
		if (plan->steps[i].pages_per_block != 0)
			return plan->steps[i].pages_per_block;
	return 64;
}

static void to_hex(const uint8_t *d, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * n] = '\0';
}

static const char *pv_serial(const struct edl_flash_job *job)
{
	if (job->have_identity)
		return job->identity.serial_hex;
	return job->opt.archive_serial != NULL ? job->opt.archive_serial : "unidentified";
}

/* The archive's run folder: this run's, or (restore) the one written back from. */
static const char *pv_run(const struct edl_flash_job *job)
{
	if (job->opt.restore_dir != NULL) {
		const char *slash = strrchr(job->opt.restore_dir, '/');
		return slash != NULL ? slash + 1 : job->opt.restore_dir;
	}
	return job->opt.archive_run != NULL ? job->opt.archive_run : "0";
}

/* ---- reads ---- */

static int on_pv_data(const uint8_t *data, size_t len, void *user)
{
	struct edl_flash_job *job = user;

	if (job->pv.buf_have + len > job->pv.buf_len)
		return EDL_E_FH_PROTOCOL;
	memcpy(job->pv.buf + job->pv.buf_have, data, len);
	job->pv.buf_have += len;
	return 0;
}

/* Starts a <read> of count sectors at start_text (a number or an expression)
 * into pv.buf; NAND ranges end at last_page (inclusive). */
static void pv_read(struct edl_flash_job *job, uint32_t lun, uint32_t sector_size, uint64_t count,
                    uint64_t last_page, uint64_t now)
{
	struct job_preserve *pv = &job->pv;
	struct edl_fh_range r;

	free(pv->buf);
	pv->buf_len = count * sector_size;
	pv->buf_have = 0;
	pv->buf = malloc(pv->buf_len > 0 ? pv->buf_len : 1);
	if (pv->buf == NULL) {
		job_fail_with(job, EDL_E_NOMEM, "no memory for a read of %" PRIu64 " bytes",
		              pv->buf_len);
		return;
	}
	memset(&r, 0, sizeof(r));
	r.lun = lun;
	r.sector_size = sector_size;
	r.start_sector = pv->start_text;
	r.num_sectors = count;
	if (pv_nand(job)) {
		r.pages_per_block = pv_ppb(job);
		snprintf(pv->last_text, sizeof(pv->last_text), "%" PRIu64, last_page);
		r.last_sector = pv->last_text;
	}
	job_issue(job, edl_fh_host_read(job->fh, &r, on_pv_data, job, now), "read");
}

/* -1: still running; 0: failed (the engine's error says why); 1: done. */
static int pv_read_result(const struct edl_flash_job *job)
{
	switch (edl_fh_host_status(job->fh)) {
	case EDL_ENGINE_RUNNING:
		return -1;
	case EDL_ENGINE_FAILED:
		return 0;
	case EDL_ENGINE_DONE:
		break;
	}
	return job->pv.buf_have == job->pv.buf_len ? 1 : 0;
}

/* ---- locating ---- */

/* The package's entry for a label (program or erase), with a plain number start. */
static const struct edl_plan_step *package_entry(const struct edl_flash_job *job, const char *label,
                                                 uint64_t *start)
{
	const struct edl_plan *plan = job->opt.plan;

	for (size_t i = 0; i < plan->n_steps; i++) {
		const struct edl_plan_step *s = &plan->steps[i];
		if ((s->kind == EDL_STEP_PROGRAM || s->kind == EDL_STEP_ERASE) &&
		    strcasecmp(s->label, label) == 0 && s->num_sectors > 0 &&
		    edl_expr_parse_number(start, s->start_sector) == EDL_OK)
			return s;
	}
	return NULL;
}

/* Labels of a table just read (of LUN lun) take their place from it. */
static void assign_from_table(struct edl_flash_job *job, uint32_t lun, uint32_t sector_size)
{
	struct job_preserve *pv = &job->pv;

	pv->table_read = true;
	for (size_t i = 0; i < pv->n; i++) {
		struct job_preserved *it = &pv->items[i];
		const struct edl_ptable_entry *e =
		        edl_ptable_find(pv->table, pv->n_table, it->label);
		if (it->found || e == NULL)
			continue;
		it->found = true;
		it->lun = lun;
		it->sector_size = sector_size;
		it->first = e->first;
		it->count = e->last - e->first + 1;
	}
}

static void start_reading(struct edl_flash_job *job);

/* Every table was read (or could not be): fall back, cross-check, size-check. */
static void finish_locating(struct edl_flash_job *job)
{
	struct job_preserve *pv = &job->pv;

	if (!pv->table_read)
		job_warn(job,
		         "no partition table could be read from the unit (%s): the "
		         "package's entries locate the preserved partitions",
		         pv_nand(job) ? "MIBIB" : "GPT");
	for (size_t i = 0; i < pv->n; i++) {
		struct job_preserved *it = &pv->items[i];
		uint64_t start = 0;
		const struct edl_plan_step *s = package_entry(job, it->label, &start);

		if (!it->found && !pv->table_read && s != NULL) {
			it->found = true;
			it->lun = s->lun;
			it->sector_size = s->sector_size;
			it->first = start;
			it->count = s->num_sectors;
		} else if (!it->found) {
			job_warn(job, "the unit has no partition '%s': nothing preserved for it",
			         it->label);
			continue;
		} else if (s != NULL && (s->lun != it->lun || start != it->first ||
		                         s->num_sectors != it->count)) {
			job_warn(job,
			         "'%s' is at LUN %" PRIu32 " sectors %" PRIu64 "+%" PRIu64
			         " on the unit but at LUN %" PRIu32 " sectors %" PRIu64 "+%" PRIu64
			         " in the package (%s): the unit's place is preserved",
			         it->label, it->lun, it->first, it->count, s->lun, start,
			         s->num_sectors, s->source);
		}
		if (it->count * (uint64_t)it->sector_size > JOB_PRESERVE_MAX_BYTES ||
		    it->count > JOB_PRESERVE_MAX_BYTES) {
			job_fail_with(job, EDL_E_PRESERVE_READ,
			              "'%s' is %" PRIu64 " sectors of %" PRIu32
			              " bytes on the unit, more than the %llu MiB a preserved "
			              "partition may have: the unit was not flashed",
			              it->label, it->count, it->sector_size,
			              JOB_PRESERVE_MAX_BYTES >> 20);
			return;
		}
	}
	start_reading(job);
}

static bool all_found(const struct edl_flash_job *job)
{
	for (size_t i = 0; i < job->pv.n; i++)
		if (!job->pv.items[i].found)
			return false;
	return true;
}

static void next_lun(struct edl_flash_job *job)
{
	job->pv.lun_idx++;
	if (all_found(job)) { /* the other LUNs have nothing to tell */
		finish_locating(job);
		return;
	}
	job->pv.backup_gpt = false;
	if (job->pv.lun_idx < pv_n_luns(job))
		pv_set(job, PV_GPT_HEADER);
	else
		finish_locating(job);
}

/* The primary copy is no good: the backup, or the next LUN after the backup. */
static void gpt_give_up_copy(struct edl_flash_job *job, const char *why)
{
	uint32_t lun = pv_lun_at(job, job->pv.lun_idx);

	if (!job->pv.backup_gpt) {
		job_warn(job, "LUN %" PRIu32 ": primary GPT unusable (%s): reading the backup GPT",
		         lun, why);
		job->pv.backup_gpt = true;
		pv_set(job, PV_GPT_HEADER);
		return;
	}
	job_warn(job, "LUN %" PRIu32 ": backup GPT unusable too (%s)", lun, why);
	next_lun(job);
}

static void run_gpt(struct edl_flash_job *job, uint64_t now)
{
	struct job_preserve *pv = &job->pv;
	uint32_t lun = pv_lun_at(job, pv->lun_idx);
	uint32_t ss = pv_sector_size(job, lun);
	char why[EDL_ERROR_DETAIL_MAX];

	if (!job->command_pending) {
		if (pv->state == PV_GPT_HEADER) {
			snprintf(pv->start_text, sizeof(pv->start_text), "%s",
			         pv->backup_gpt ? "NUM_DISK_SECTORS-1." : "1");
			pv_read(job, lun, ss, 1, 0, now);
		} else {
			snprintf(pv->start_text, sizeof(pv->start_text), "%" PRIu64,
			         pv->hdr.entries_lba);
			pv_read(job, lun, ss, edl_gpt_entries_sectors(&pv->hdr, ss), 0, now);
		}
		return;
	}
	int r = pv_read_result(job);
	if (r < 0)
		return;
	if (r == 0) {
		snprintf(why, sizeof(why), "read failed: %.400s",
		         edl_fh_host_error(job->fh)->detail);
		gpt_give_up_copy(job, why);
		return;
	}
	if (pv->state == PV_GPT_HEADER) {
		uint64_t lba = pv->backup_gpt ? UINT64_MAX : 1;
		if (!edl_gpt_parse_header(pv->buf, ss, lba, &pv->hdr, why, sizeof(why))) {
			gpt_give_up_copy(job, why);
			return;
		}
		pv_set(job, PV_GPT_ENTRIES);
		return;
	}
	if (!edl_gpt_parse_entries(&pv->hdr, pv->buf, pv->buf_len, pv->table, JOB_PTABLE_MAX,
	                           &pv->n_table, why, sizeof(why))) {
		gpt_give_up_copy(job, why);
		return;
	}
	assign_from_table(job, lun, ss);
	next_lun(job);
}

/* The next MIBIB page to try, false when none is left. */
static bool next_candidate(struct edl_flash_job *job, uint64_t *page)
{
	uint64_t pkg = 0;
	bool have_pkg = package_entry(job, "mibib", &pkg) != NULL;
	size_t n = sizeof(mibib_guesses) / sizeof(mibib_guesses[0]);

	while (job->pv.cand < n + 1) {
		size_t c = job->pv.cand;
		if (c == 0 && have_pkg) {
			*page = pkg;
			return true;
		}
		if (c > 0 && !(have_pkg && mibib_guesses[c - 1] == pkg)) {
			*page = mibib_guesses[c - 1];
			return true;
		}
		job->pv.cand++;
	}
	return false;
}

static void run_nand(struct edl_flash_job *job, uint64_t now)
{
	struct job_preserve *pv = &job->pv;
	uint32_t ss = pv_sector_size(job, 0), ppb = pv_ppb(job);
	char why[EDL_ERROR_DETAIL_MAX];

	if (!job->command_pending) {
		uint64_t page = pv->cand_page;
		if (pv->state == PV_NAND_PROBE && !next_candidate(job, &page)) {
			finish_locating(job);
			return;
		}
		if (pv->state == PV_NAND_PROBE)
			pv->cand_page = page;
		else
			page = pv->cand_page + 1;
		snprintf(pv->start_text, sizeof(pv->start_text), "%" PRIu64, page);
		pv_read(job, 0, ss, 1, (page / ppb + 1) * ppb - 1, now);
		return;
	}
	int r = pv_read_result(job);
	if (r < 0)
		return;
	enum edl_mibib_page kind =
	        r == 1 ? edl_mibib_classify(pv->buf, pv->buf_len) : EDL_MIBIB_NONE;
	if (pv->state == PV_NAND_PROBE && kind == EDL_MIBIB_HEADER) {
		pv_set(job, PV_NAND_TABLE);
		return;
	}
	if (kind == EDL_MIBIB_TABLE) {
		if (edl_mibib_parse(pv->buf, pv->buf_len, ppb, pv->table, JOB_PTABLE_MAX,
		                    &pv->n_table, why, sizeof(why))) {
			assign_from_table(job, 0, ss);
			finish_locating(job);
			return;
		}
		job_warn(job, "NAND page %s: %s", pv->start_text, why);
	} else if (pv->state == PV_NAND_TABLE) {
		job_warn(job, "NAND page %s: an MBN header without a partition table after it",
		         pv->start_text);
	}
	pv->cand++;
	pv_set(job, PV_NAND_PROBE);
}

/* RESTORE, or a retry (PLAN with restore_dir: an earlier attempt of this unit
 * archived its data, and its plan may have written over the partitions since):
 * the saved bytes come from that archive, not from the unit. */
static bool load_archive(struct edl_flash_job *job)
{
	struct job_preserve *pv = &job->pv;

	for (size_t i = 0; i < pv->n; i++) {
		struct job_preserved *it = &pv->items[i];
		struct edl_error err;
		uint8_t *data = NULL, digest[32];
		size_t len = 0;
		unsigned int dl = 32;
		char want[65];

		if (!it->found)
			continue;
		if (job_archive_read(job->opt.restore_dir, it->label, &data, &len, want, it->path,
		                     sizeof(it->path), &err) != EDL_OK) {
			job_warn(job, "'%s' not restored: %s", it->label, err.detail);
			continue;
		}
		EVP_Digest(data, len, digest, &dl, EVP_sha256(), NULL);
		to_hex(digest, 32, it->sha_hex);
		if (strcmp(it->sha_hex, want) != 0 || len != it->count * it->sector_size) {
			job_fail_with(
			        job, EDL_E_ARCHIVE,
			        "%s: %zu bytes with sha256 %s, but its .sha256 says %s and the "
			        "unit's '%s' is %" PRIu64 " bytes: nothing was written",
			        it->path, len, it->sha_hex, want, it->label,
			        it->count * it->sector_size);
			free(data);
			return false;
		}
		memcpy(it->sha256, digest, 32);
		it->data = data;
		it->have = len;
		it->saved = true;
		it->touched = job->opt.preserve_mode == EDL_PRESERVE_RESTORE;
		if (job->opt.preserve_mode == EDL_PRESERVE_PLAN) {
			struct edl_flash_event ev = {.kind = EDL_FLASH_EV_PRESERVED,
			                             .label = it->label,
			                             .path = it->path,
			                             .bytes = it->have,
			                             .sha256 = it->sha_hex};
			job_emit(job, &ev);
		}
	}
	return true;
}

static void start_reading(struct edl_flash_job *job)
{
	job->pv.item = 0;
	if (job->opt.preserve_mode == EDL_PRESERVE_PLAN && job->opt.restore_dir != NULL)
		job_warn(job,
		         "an earlier attempt archived this unit's own data: it is taken from %s, "
		         "not read again (the unit may hold the package's bytes by now)",
		         job->opt.restore_dir);
	if (job->opt.preserve_mode == EDL_PRESERVE_RESTORE || job->opt.restore_dir != NULL) {
		if (!load_archive(job))
			return;
		pv_set(job, PV_LOCATED);
		job_start_plan(job);
		return;
	}
	pv_set(job, PV_READ_LABEL);
}

/* What the unit holds is byte for byte the package's image of the label: if
 * the unit ever had its own data there, an earlier flash (without [rma], or
 * interrupted) wrote over it. Not a failure (a package may ship a partition's
 * default), but the operator is told where older archives are. */
static void warn_if_package_image(struct edl_flash_job *job, const struct job_preserved *it)
{
	const struct edl_plan *plan = job->opt.plan;

	for (size_t i = 0; i < plan->n_steps; i++) {
		const struct edl_plan_step *s = &plan->steps[i];
		uint64_t start = 0;
		if (s->kind != EDL_STEP_PROGRAM || !s->verify || s->lun != it->lun ||
		    s->num_sectors != it->count || strcasecmp(s->label, it->label) != 0 ||
		    edl_expr_parse_number(&start, s->start_sector) != EDL_OK ||
		    start != it->first || memcmp(s->sha256, it->sha256, 32) != 0)
			continue;
		job_warn(job,
		         "'%s' on the unit is exactly the package's %s: if the unit had its own "
		         "data there, an earlier flash wrote over it (older archives: %s/%s/)",
		         it->label, s->filename, job->opt.archive_dir, pv_serial(job));
		return;
	}
}

static void run_read_label(struct edl_flash_job *job, uint64_t now)
{
	struct job_preserve *pv = &job->pv;
	struct job_preserved *it;

	while (pv->item < pv->n && !pv->items[pv->item].found)
		pv->item++;
	if (pv->item == pv->n) {
		pv_set(job, PV_LOCATED);
		job_start_plan(job);
		return;
	}
	it = &pv->items[pv->item];
	if (!job->command_pending) {
		snprintf(pv->start_text, sizeof(pv->start_text), "%" PRIu64, it->first);
		pv_read(job, it->lun, it->sector_size, it->count, it->first + it->count - 1, now);
		return;
	}
	int r = pv_read_result(job);
	if (r < 0)
		return;
	if (r == 0) {
		char kept[1200];
		if (pv->item > 0)
			snprintf(kept, sizeof(kept), "; what was read before it is in %s/%s/%s",
			         job->opt.archive_dir, pv_serial(job), pv_run(job));
		else
			snprintf(kept, sizeof(kept), "; nothing archived in %s",
			         job->opt.archive_dir);
		job_fail_with(job, EDL_E_PRESERVE_READ,
		              "'%s' (LUN %" PRIu32 " sectors %" PRIu64 "+%" PRIu64
		              ") could not be read (%.200s); the unit was NOT flashed, nothing "
		              "written%s",
		              it->label, it->lun, it->first, it->count,
		              edl_fh_host_error(job->fh)->detail, kept);
		return;
	}
	unsigned int dl = 32;
	struct edl_error err;
	EVP_Digest(pv->buf, pv->buf_len, it->sha256, &dl, EVP_sha256(), NULL);
	to_hex(it->sha256, 32, it->sha_hex);
	if (job_archive_write(job->opt.archive_dir, pv_serial(job), pv_run(job), it->label, pv->buf,
	                      pv->buf_len, it->sha_hex, it->path, sizeof(it->path),
	                      &err) != EDL_OK) {
		job_fail_with(job, EDL_E_ARCHIVE, "%s: '%s' not archived, the unit was NOT flashed",
		              err.detail, it->label);
		return;
	}
	warn_if_package_image(job, it);
	it->data = pv->buf;
	it->have = pv->buf_len;
	it->saved = true;
	pv->buf = NULL;
	pv->buf_len = pv->buf_have = 0;
	struct edl_flash_event ev = {.kind = EDL_FLASH_EV_PRESERVED,
	                             .label = it->label,
	                             .path = it->path,
	                             .bytes = it->have,
	                             .sha256 = it->sha_hex};
	job_emit(job, &ev);
	edl_log_info(job->opt.log, "preserved '%s': %" PRIu64 " bytes in %s", it->label, it->have,
	             it->path);
	pv->item++;
	pv->seq++;
	job->command_pending = false;
}

bool job_preserve_before_plan(struct edl_flash_job *job)
{
	struct job_preserve *pv = &job->pv;

	if (job->opt.n_preserve == 0)
		return false;
	if (pv->state == PV_START) {
		/* A programmer that lists its functions without read cannot give the
		 * unit's data: refused before the first write. */
		job_set_stage(job, EDL_STAGE_PRESERVE);
		if (job_programmer_lists(job, "read") == 0) {
			job_fail_with(job, EDL_E_PRESERVE_READ,
			              "the programmer does not list read: the unit's own data (%s, "
			              "...) cannot be preserved; the unit was NOT flashed",
			              job->opt.preserve_labels[0]);
			return true;
		}
		pv->items = calloc(job->opt.n_preserve, sizeof(*pv->items));
		if (pv->items == NULL) {
			job_fail_with(job, EDL_E_NOMEM, "no memory for the preserved partitions");
			return true;
		}
		pv->n = job->opt.n_preserve;
		for (size_t i = 0; i < pv->n; i++)
			pv->items[i].label = job->opt.preserve_labels[i];
		job_set_stage(job, EDL_STAGE_PRESERVE);
		pv_set(job, pv_nand(job) ? PV_NAND_PROBE : PV_GPT_HEADER);
		return true;
	}
	if (pv->state == PV_LOCATED && job->opt.preserve_mode == EDL_PRESERVE_BACKUP) {
		pv_set(job, WB_DONE);
		job_after_plan(job);
		return true;
	}
	if (pv->state == PV_LOCATED && job->opt.preserve_mode == EDL_PRESERVE_RESTORE) {
		if (!job_preserve_after_plan(job)) {
			pv_set(job, WB_DONE);
			job_after_plan(job);
		}
		return true;
	}
	return false;
}

void job_run_preserve(struct edl_flash_job *job, uint64_t now)
{
	switch (job->pv.state) {
	case PV_GPT_HEADER:
	case PV_GPT_ENTRIES:
		run_gpt(job, now);
		return;
	case PV_NAND_PROBE:
	case PV_NAND_TABLE:
		run_nand(job, now);
		return;
	case PV_READ_LABEL:
		run_read_label(job, now);
		return;
	default:
		break;
	}
	job_fail_with(job, EDL_E_INTERNAL, "preserve stage in state %d", (int)job->pv.state);
}

/* ---- write-back ---- */

/* Whether plan step s writes anywhere inside the item's range. Ranges that
 * are expressions the host cannot evaluate, whole-LUN erases and vendor
 * entries count as touching (writing back is harmless, losing data is not). */
static bool step_touches(const struct edl_flash_job *job, const struct edl_plan_step *s,
                         const struct job_preserved *it)
{
	uint64_t start, end;

	if (s->kind == EDL_STEP_VENDOR)
		return true;
	if (s->kind == EDL_STEP_SET_BOOTABLE || s->lun != it->lun)
		return false;
	if (edl_expr_parse_number(&start, s->start_sector) != EDL_OK) {
		struct edl_expr e;
		struct edl_expr_env env = {0};
		struct edl_error err;
		const struct edl_fh_storage_info *si = &job->storage;
		if (!si->valid || s->lun != pv_lun_at(job, 0) ||
		    edl_expr_parse(&e, s->start_sector, &err) != EDL_OK)
			return true;
		env.have_sectors = true;
		env.num_disk_sectors = si->num_sectors;
		if (edl_expr_eval(&start, &e, &env, &err) != EDL_OK)
			return true;
	}
	if (s->kind == EDL_STEP_PATCH) {
		uint64_t ss = s->sector_size ? s->sector_size : it->sector_size;
		uint64_t b0 = start * ss + s->byte_offset;
		start = b0 / ss;
		end = (b0 + (s->size_in_bytes ? s->size_in_bytes : 1) + ss - 1) / ss;
	} else {
		if (s->num_sectors == 0)
			return s->kind == EDL_STEP_ERASE;
		end = start + s->num_sectors;
	}
	if (pv_nand(job) && s->kind == EDL_STEP_ERASE) {
		uint64_t ppb = pv_ppb(job);
		start = start / ppb * ppb;
		end = (end + ppb - 1) / ppb * ppb;
	}
	return start < it->first + it->count && end > it->first;
}

bool job_preserve_after_plan(struct edl_flash_job *job)
{
	struct job_preserve *pv = &job->pv;
	bool any = false;

	if (job->opt.n_preserve == 0 || pv->state >= WB_ERASE || pv->items == NULL)
		return false;
	for (size_t i = 0; i < pv->n; i++) {
		struct job_preserved *it = &pv->items[i];
		if (!it->saved)
			continue;
		for (size_t k = 0; !it->touched && k < job->opt.plan->n_steps &&
		                   job->opt.preserve_mode == EDL_PRESERVE_PLAN;
		     k++)
			it->touched = step_touches(job, &job->opt.plan->steps[k], it);
		any = any || it->touched;
	}
	if (!any)
		return false;
	pv->item = 0;
	job_set_stage(job, EDL_STAGE_WRITE_BACK);
	pv_set(job, pv_nand(job) ? WB_ERASE : WB_PROGRAM);
	return true;
}

static void fail_write_back(struct edl_flash_job *job, const struct job_preserved *it,
                            const char *what)
{
	job_fail_with(job, EDL_E_PRESERVE_WRITE,
	              "'%s' was not written back (%s); its archive %s is kept: restore it with "
	              "`edlstation restore %s --run %s`",
	              it->label, what, it->path, pv_serial(job), pv_run(job));
}

static void item_range(struct edl_flash_job *job, const struct job_preserved *it,
                       struct edl_fh_range *r)
{
	struct job_preserve *pv = &job->pv;

	memset(r, 0, sizeof(*r));
	snprintf(pv->start_text, sizeof(pv->start_text), "%" PRIu64, it->first);
	r->lun = it->lun;
	r->sector_size = it->sector_size;
	r->start_sector = pv->start_text;
	r->num_sectors = it->count;
	r->label = it->label;
	if (pv_nand(job)) {
		snprintf(pv->last_text, sizeof(pv->last_text), "%" PRIu64,
		         it->first + it->count - 1);
		r->pages_per_block = pv_ppb(job);
		r->last_sector = pv->last_text;
	}
}

/* The write-back of one item is done and verified. */
static void restored(struct edl_flash_job *job, struct job_preserved *it)
{
	it->restored = true;
	struct edl_flash_event ev = {.kind = EDL_FLASH_EV_RESTORED,
	                             .label = it->label,
	                             .path = it->path,
	                             .bytes = it->have,
	                             .sha256 = it->sha_hex};
	job_emit(job, &ev);
	edl_log_info(job->opt.log, "wrote back '%s' (%" PRIu64 " bytes), verified", it->label,
	             it->have);
	job->pv.item++;
	pv_set(job, pv_nand(job) ? WB_ERASE : WB_PROGRAM);
}

void job_run_write_back(struct edl_flash_job *job, uint64_t now)
{
	struct job_preserve *pv = &job->pv;
	struct edl_fh_range r;

	while (pv->item < pv->n && !(pv->items[pv->item].saved && pv->items[pv->item].touched))
		pv->item++;
	if (pv->item == pv->n) {
		pv_set(job, WB_DONE);
		job_after_plan(job);
		return;
	}
	struct job_preserved *it = &pv->items[pv->item];
	if (!job->command_pending) {
		item_range(job, it, &r);
		switch (pv->state) {
		case WB_ERASE:
			job_issue(job, edl_fh_host_erase(job->fh, &r, now), "erase");
			return;
		case WB_PROGRAM: {
			struct edl_fh_source src = {.data = it->data, .len = it->have};
			job_issue(job, edl_fh_host_program(job->fh, &r, &src, now), "program");
			return;
		}
		case WB_DIGEST:
			job_issue(job, edl_fh_host_getsha256digest(job->fh, &r, now),
			          "getsha256digest");
			return;
		case WB_READBACK:
			pv_read(job, it->lun, it->sector_size, it->count, it->first + it->count - 1,
			        now);
			return;
		default:
			job_fail_with(job, EDL_E_INTERNAL, "write-back in state %d",
			              (int)pv->state);
			return;
		}
	}
	enum edl_engine_status st = edl_fh_host_status(job->fh);
	if (st == EDL_ENGINE_RUNNING)
		return;
	const struct edl_error *e = edl_fh_host_error(job->fh);
	switch (pv->state) {
	case WB_ERASE:
	case WB_PROGRAM:
		if (st == EDL_ENGINE_FAILED) {
			fail_write_back(job, it, e->detail);
			return;
		}
		if (pv->state == WB_ERASE)
			pv_set(job, WB_PROGRAM);
		else
			pv_set(job,
			       pv_nand(job) || job_programmer_lists(job, "getsha256digest") == 0
			               ? WB_READBACK
			               : WB_DIGEST);
		return;
	case WB_DIGEST: {
		const uint8_t *got = st == EDL_ENGINE_DONE ? edl_fh_host_digest(job->fh) : NULL;
		if (got == NULL) {
			job_warn(job, "getsha256digest of '%s' gave no digest: reading it back",
			         it->label);
			pv_set(job, WB_READBACK);
			return;
		}
		if (memcmp(got, it->sha256, 32) != 0) {
			fail_write_back(job, it, "the unit's digest differs from the archive's");
			return;
		}
		restored(job, it);
		return;
	}
	case WB_READBACK: {
		uint8_t digest[32];
		unsigned int dl = 32;
		if (pv_read_result(job) != 1) {
			fail_write_back(job, it,
			                st == EDL_ENGINE_FAILED ? e->detail
			                                        : "the read-back stopped short");
			return;
		}
		EVP_Digest(pv->buf, pv->buf_len, digest, &dl, EVP_sha256(), NULL);
		if (memcmp(digest, it->sha256, 32) != 0) {
			fail_write_back(job, it, "the read-back differs from the archive");
			return;
		}
		restored(job, it);
		return;
	}
	default:
		return;
	}
}

void job_preserve_failed(struct edl_flash_job *job, const struct edl_error *cause)
{
	struct job_preserve *pv = &job->pv;
	char labels[256] = "";
	const char *path = NULL;

	if (!job->wrote || cause->code == EDL_E_PRESERVE_WRITE)
		return;
	for (size_t i = 0; i < pv->n; i++) {
		const struct job_preserved *it = &pv->items[i];
		if (!it->saved || it->restored)
			continue;
		size_t o = strlen(labels);
		snprintf(labels + o, sizeof(labels) - o, "%s%s", o ? " " : "", it->label);
		path = it->path;
	}
	if (path == NULL)
		return;
	const char *slash = strrchr(path, '/');
	job_warn(job,
	         "the plan stopped after writing: the unit's own data (%s) is archived in %.*s; "
	         "once the unit is flashed, `edlstation restore %s --run %s` puts it back",
	         labels, slash ? (int)(slash - path) : (int)strlen(path), path, pv_serial(job),
	         pv_run(job));
}

void job_preserve_free(struct edl_flash_job *job)
{
	for (size_t i = 0; i < job->pv.n; i++)
		free(job->pv.items[i].data);
	free(job->pv.items);
	free(job->pv.buf);
	job->pv.items = NULL;
	job->pv.buf = NULL;
	job->pv.n = 0;
}
