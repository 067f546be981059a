/*
 * The flash job's insides (internal to src/flash): the job's state, and the
 * helpers its files share. job.c runs the stages and the deadlines; fit.c
 * decides whether the package fits the unit and its programmer (storage
 * refusals, the function list, geometry); verify.c checks programmed ranges
 * (the programmer's digest, or a read-back hashed on the host).
 */
#ifndef EDL_FLASH_JOB_INTERNAL_H
#define EDL_FLASH_JOB_INTERNAL_H

#include <openssl/evp.h>

#include "edlstation/flash.h"
#include "edlstation/ptable.h"

/* issue 15: the largest partition kept in memory for preserving (modemst1/2
 * and fsg are 2-3 MiB on phones, persist up to 32 MiB). */
#define JOB_PRESERVE_MAX_BYTES (64ull * 1024 * 1024)
#define JOB_PTABLE_MAX 256

/* One label of [rma] preserve, as found on the unit (preserve.c). */
struct job_preserved {
	const char *label;
	bool found;    /* located on the unit (or, failing a table, in the package) */
	bool saved;    /* read and archived */
	bool touched;  /* the plan erased or programmed over it */
	bool restored; /* written back and verified */
	uint32_t lun;
	uint32_t sector_size;
	uint64_t first, count; /* sectors (NAND: pages) */
	uint8_t *data;         /* count * sector_size bytes once saved */
	uint64_t have;
	uint8_t sha256[32];
	char sha_hex[65];
	char path[4096];
};

/* The preserve and write-back stages' own progress (preserve.c). */
enum job_pv_state {
	PV_START = 0,
	PV_GPT_HEADER,  /* reading LBA 1 of LUN luns[lun_idx] */
	PV_GPT_ENTRIES, /* reading the entry array the header names */
	PV_GPT_BACKUP,  /* reading the backup header, NUM_DISK_SECTORS-1 */
	PV_NAND_PROBE,  /* reading a MIBIB candidate page */
	PV_NAND_TABLE,  /* reading the page after an MBN header */
	PV_READ_LABEL,  /* reading item[item] whole */
	PV_LOCATED,     /* done: plan (or write-back) next */
	WB_ERASE,       /* NAND: erase item[item]'s blocks before the program */
	WB_PROGRAM,     /* program item[item] from its saved bytes */
	WB_DIGEST,      /* getsha256digest of it */
	WB_READBACK,    /* read it back and hash */
	WB_DONE,
};

struct job_preserve {
	struct job_preserved *items;
	size_t n;
	enum job_pv_state state;
	bool backup_gpt; /* reading the backup copy of this LUN's GPT */
	unsigned seq;    /* bumped on every change: advance() keeps stepping */
	size_t lun_idx;  /* index into the LUNs the package uses */
	size_t cand;     /* NAND: MIBIB candidate tried */
	uint64_t cand_page;
	size_t item;  /* label being read or written back */
	uint8_t *buf; /* current read */
	uint64_t buf_len, buf_have;
	struct edl_gpt_header hdr;
	struct edl_ptable_entry table[JOB_PTABLE_MAX];
	size_t n_table;
	bool table_read; /* a table was found on the unit */
	char start_text[32], last_text[32];
};

struct edl_flash_job {
	struct edl_flash_options opt;
	enum edl_flash_stage stage;
	enum edl_flash_stage failed_stage;
	enum edl_engine_status status;
	enum edl_flash_outcome outcome;
	struct edl_error err;
	uint64_t now; /* latest time the driver told us */

	struct edl_sahara_host *sahara;
	struct edl_fh_host *fh;
	bool in_firehose;
	bool found_running;
	bool command_pending;   /* a Firehose command of the current stage was issued */
	bool device_spoke;      /* any byte received: the probe is over */
	unsigned sahara_rounds; /* image transfers: a ROM may ask again after DONE_RESP 0 */
	bool wrote;             /* an erase, program, patch or vendor step was issued */

	size_t step; /* index into plan->steps */
	bool step_open;
	uint64_t step_start_ms;
	enum edl_flash_checked step_checked;
	uint64_t bytes_total;
	uint64_t bytes_done; /* raw bytes of finished program steps */
	struct edl_sahara_identity identity;
	bool have_identity;
	struct edl_fh_storage_info storage;
	size_t si_lun; /* index into plan->luns of the getstorageinfo in progress */

	/* Verify of the current program step. */
	enum edl_flash_checked verify_method;
	EVP_MD_CTX *readback;

	struct job_preserve pv; /* issue 15, [rma] preserve (preserve.c) */

	/* Progress deadline: bytes handed to the transport and accepted by it. */
	bool tracks_out; /* the driver reports accepted bytes */
	uint64_t out_handed;
	uint64_t out_accepted;
	uint64_t progress_at; /* last acceptance, or when bytes became outstanding */

	/* The identity gate (hold_at_identity). */
	bool held;
	bool set_bootable_asked; /* the options' set_bootable, before any plan's step */
	uint64_t held_since;
	uint8_t last_hello[EDL_SAHARA_MAX_PKT]; /* the ROM's latest HELLO, answered on release */
	bool have_hello;
	const void *release_extra; /* edl_flash_release.extra, for the MES helper */
};

/* job.c: events, stages, failures, commands. */
void job_emit(struct edl_flash_job *job, struct edl_flash_event *ev);
/* Logged at WARN and told as a WARNING event (the run record keeps it). */
void job_warn(struct edl_flash_job *job, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
void job_set_stage(struct edl_flash_job *job, enum edl_flash_stage stage);
void job_fail(struct edl_flash_job *job, const struct edl_error *cause);
void job_fail_with(struct edl_flash_job *job, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
const struct edl_plan_step *job_current_step(const struct edl_flash_job *job);
void job_step_range(const struct edl_plan_step *s, struct edl_fh_range *r);
/* Starting a command: a refusal by the engine is a bug or bad input, never a wait. */
bool job_issue(struct edl_flash_job *job, int rc, const char *what);
/* Whether the programmer's banner listed fn: 1 yes, 0 no, -1 no list seen. */
int job_programmer_lists(const struct edl_flash_job *job, const char *fn);
void job_next_step(struct edl_flash_job *job);
void job_start_plan(struct edl_flash_job *job);

/* fit.c */
/* Fails with the Firehose engine's error; a storage refusal is a wrong package. */
void job_fail_fh(struct edl_flash_job *job);
/* False (after failing the job) when the programmer lacks a command the plan needs. */
bool job_plan_commands_listed(struct edl_flash_job *job);
/* The agreed payload carries at least one sector of every program step; false
 * after failing the job (a wrong package or programmer, not retried). */
bool job_payload_fits(struct edl_flash_job *job, uint64_t payload);
void job_run_storage_info(struct edl_flash_job *job, uint64_t now);

/* verify.c */
enum edl_flash_checked job_verify_method(const struct edl_flash_job *job,
                                         const struct edl_plan_step *s);
void job_run_verify(struct edl_flash_job *job, uint64_t now);

/* preserve.c (issue 15) */
/* The plan is about to start: true when the preserve stage runs first
 * (job_start_plan() is called again by it when done). */
bool job_preserve_before_plan(struct edl_flash_job *job);
void job_run_preserve(struct edl_flash_job *job, uint64_t now);
/* The plan ended: true when the write-back stage runs first. */
bool job_preserve_after_plan(struct edl_flash_job *job);
void job_run_write_back(struct edl_flash_job *job, uint64_t now);
void job_preserve_free(struct edl_flash_job *job);
/* The job fails (cause): after a write, a warning names the archive of the
 * labels not written back and the restore command. */
void job_preserve_failed(struct edl_flash_job *job, const struct edl_error *cause);
/* What follows the plan (set-bootable or reset). */
void job_after_plan(struct edl_flash_job *job);

/* archive.c (issue 15) */
bool job_archive_name_ok(const char *s);
/* Writes dir/serial/run/label.bin (+ .sha256); *path gets the .bin path.
 * EDL_OK or EDL_E_ARCHIVE with a detail naming the file. */
int job_archive_write(const char *dir, const char *serial, const char *run, const char *label,
                      const uint8_t *data, size_t len, const char *sha_hex, char *path,
                      size_t path_len, struct edl_error *err);
/* Reads dir/label.bin and the digest of dir/label.bin.sha256; *out is the
 * caller's (free). EDL_OK or EDL_E_ARCHIVE. */
int job_archive_read(const char *dir, const char *label, uint8_t **out, size_t *len,
                     char sha_hex[65], char *path, size_t path_len, struct edl_error *err);

#endif
