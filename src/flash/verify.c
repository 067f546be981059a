/*
 * Checking what a program step wrote (REAL-DEVICES.md #6): the programmer's
 * getsha256digest where it lists one (or lists nothing), else reading the
 * range back with <read> and hashing it on the host; a digest NAK or an ACK
 * without a digest falls back to the read-back. NAND is verified only when
 * asked (spare bytes and bad-block skipping differ between programmers). The
 * verify stage of the job (job.c) runs here.
 */
#include "flash/job_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* How this program step is checked, from the options, the storage and what
 * the programmer lists. */
enum edl_flash_checked job_verify_method(const struct edl_flash_job *job,
                                         const struct edl_plan_step *s)
{
	if (!s->verify)
		return EDL_CHECKED_NONE;
	switch (job->opt.verify) {
	case EDL_VERIFY_OFF:
		return EDL_CHECKED_NONE;
	case EDL_VERIFY_READBACK:
		return EDL_CHECKED_READBACK;
	case EDL_VERIFY_DIGEST:
		return EDL_CHECKED_DIGEST;
	case EDL_VERIFY_AUTO:
		break;
	}
	/* NAND pages carry spare bytes and programs skip bad blocks inside a range in
	 * ways that differ between programmers (qdl excludes NAND from its checks;
	 * QFirehose and fwupd never verify NAND): on NAND verify is asked for. */
	if (job->opt.plan->storage == EDL_STORAGE_NAND)
		return EDL_CHECKED_NONE;
	return job_programmer_lists(job, "getsha256digest") == 0 ? EDL_CHECKED_READBACK
	                                                         : EDL_CHECKED_DIGEST;
}

static void hex(const uint8_t *d, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * n] = '\0';
}

static int on_readback(const uint8_t *data, size_t len, void *user)
{
	struct edl_flash_job *job = user;
	return EVP_DigestUpdate(job->readback, data, len) == 1 ? 0 : EDL_E_INTERNAL;
}

static bool start_verify(struct edl_flash_job *job, const struct edl_plan_step *s, uint64_t now)
{
	struct edl_fh_range r;

	job_step_range(s, &r);
	if (job->verify_method == EDL_CHECKED_DIGEST)
		return job_issue(job, edl_fh_host_getsha256digest(job->fh, &r, now),
		                 "getsha256digest");
	if (job->readback == NULL)
		job->readback = EVP_MD_CTX_new();
	if (job->readback == NULL || EVP_DigestInit_ex(job->readback, EVP_sha256(), NULL) != 1) {
		job_fail_with(job, EDL_E_NOMEM, "no memory to hash the read-back of '%s'",
		              s->label);
		return false;
	}
	return job_issue(job, edl_fh_host_read(job->fh, &r, on_readback, job, now), "read");
}

void job_run_verify(struct edl_flash_job *job, uint64_t now)
{
	const struct edl_plan_step *s = job_current_step(job);
	uint8_t digest[32];
	const uint8_t *got = NULL;

	if (!job->command_pending) {
		start_verify(job, s, now);
		return;
	}
	enum edl_engine_status st = edl_fh_host_status(job->fh);
	if (st == EDL_ENGINE_RUNNING)
		return;
	if (job->verify_method == EDL_CHECKED_DIGEST) {
		got = st == EDL_ENGINE_DONE ? edl_fh_host_digest(job->fh) : NULL;
		int code =
		        st == EDL_ENGINE_DONE ? EDL_E_FH_DIGEST : edl_fh_host_error(job->fh)->code;
		/* A programmer that cannot digest (NAK, or an ACK without one) is read
		 * back instead, unless the options insist on the digest. */
		if (got == NULL && (code == EDL_E_FH_NAK || code == EDL_E_FH_DIGEST) &&
		    job->opt.verify != EDL_VERIFY_DIGEST) {
			job_warn(job,
			         "getsha256digest of '%s' gave no digest (%s): reading the range "
			         "back "
			         "instead",
			         s->label, edl_strerror(code));
			job->verify_method = EDL_CHECKED_READBACK;
			start_verify(job, s, now);
			return;
		}
		if (got == NULL) {
			if (st == EDL_ENGINE_FAILED)
				job_fail_fh(job);
			else
				job_fail_with(job, EDL_E_FH_DIGEST,
				              "no digest for '%s' (LUN %u sector %s)", s->label,
				              s->lun, s->start_sector);
			return;
		}
	} else {
		if (st == EDL_ENGINE_FAILED) {
			job_fail_fh(job);
			return;
		}
		unsigned int n = 0;
		if (EVP_DigestFinal_ex(job->readback, digest, &n) != 1 || n != 32) {
			job_fail_with(job, EDL_E_INTERNAL, "hashing the read-back of '%s' failed",
			              s->label);
			return;
		}
		got = digest;
	}
	job->command_pending = false;
	if (memcmp(got, s->sha256, 32) != 0) {
		char want_hex[65], got_hex[65];
		hex(s->sha256, 32, want_hex);
		hex(got, 32, got_hex);
		job_fail_with(job, EDL_E_VERIFY_MISMATCH,
		              "'%s' (%s) LUN %u sector %s, %" PRIu64
		              " sectors: %s has sha256 %s, image has %s",
		              s->label, s->filename, s->lun, s->start_sector, s->num_sectors,
		              job->verify_method == EDL_CHECKED_DIGEST ? "device" : "read-back",
		              got_hex, want_hex);
		return;
	}
	job->step_checked = job->verify_method;
	job_next_step(job);
}
