/*
 * End-to-end tests of the flash job over the in-memory link against the
 * emulated device: what the device stores must equal the images byte for byte,
 * on every storage model, however the link cuts the device's bytes; and every
 * fault ends in the right stage with the right error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "edlstation/elf_image.h"
#include "edlstation/flash.h"
#include "edlstation/memlink.h"
#include "edlstation/profile.h"
#include "edlstation/target.h"
#include "testplan.h"

struct rig {
	struct testplan tp;
	uint8_t *programmer;
	size_t programmer_len;
	struct edl_sahara_image image;
	struct edl_target_config tcfg;
	struct edl_flash_options fopt;
	struct edl_memlink_options lopt;
	struct edl_target *target;
	struct edl_flash_job *job;
	struct edl_memlink_stats stats;
};

static void rig_init(struct rig *r, enum edl_storage_kind kind)
{
	memset(r, 0, sizeof(*r));
	testplan_build(&r->tp, kind, 7 + (uint32_t)kind);
	assert_int_equal(edl_elf_make_programmer(&r->programmer, &r->programmer_len, 96 * 1024, 3),
	                 EDL_OK);
	r->image.id = 0x0d;
	r->image.data = r->programmer;
	r->image.len = r->programmer_len;
	edl_target_config_default(&r->tcfg, kind);
	r->tcfg.pbl.serial = 0x1a2b3c4d;
	r->tcfg.pbl.hwid = 0x000cf0e1000098a9ull;
	edl_flash_options_default(&r->fopt);
	r->fopt.sahara.images = &r->image;
	r->fopt.sahara.n_images = 1;
	r->fopt.plan = &r->tp.plan;
	edl_memlink_options_default(&r->lopt);
}

/* Builds both sides and runs the link; returns the link's own result. */
static int rig_run(struct rig *r)
{
	struct edl_error err;

	assert_int_equal(edl_target_new(&r->target, &r->tcfg, &err), EDL_OK);
	assert_int_equal(edl_flash_job_new(&r->job, &r->fopt), EDL_OK);
	int rc = edl_memlink_run(r->job, r->target, &r->lopt, &r->stats, &err);
	if (rc != EDL_OK)
		print_error("link: %s\n", err.detail);
	return rc;
}

static void rig_free(struct rig *r)
{
	edl_flash_job_free(r->job);
	edl_target_free(r->target);
	free(r->programmer);
	testplan_free(&r->tp);
}

static void assert_passed(struct rig *r)
{
	if (edl_flash_job_status(r->job) != EDL_ENGINE_DONE) {
		char buf[700];
		print_error("job failed in %s: %s\n",
		            edl_flash_stage_name(edl_flash_job_failed_stage(r->job)),
		            edl_error_format(edl_flash_job_error(r->job), buf, sizeof(buf)));
	}
	assert_int_equal(edl_flash_job_status(r->job), EDL_ENGINE_DONE);
	assert_int_equal(edl_flash_job_outcome(r->job), EDL_FLASH_OUTCOME_FLASHED);
}

/* The stored bytes of every image, read back from the device's storage, and
 * the zero padding of the last sector (eMMC/UFS; NAND pads with zeros too). */
static void assert_images_stored(struct rig *r)
{
	struct testplan *tp = &r->tp;
	uint32_t sector = tp->steps[0].sector_size;

	for (size_t i = 0; i < tp->n_images; i++) {
		uint64_t num = (tp->image_len[i] + sector - 1) / sector;
		uint8_t *buf = malloc(num * sector);
		assert_int_equal(edl_target_read_storage(r->target, tp->image_lun[i],
		                                         tp->image_sector[i], num, buf),
		                 EDL_OK);
		assert_memory_equal(buf, tp->images[i], tp->image_len[i]);
		for (uint64_t k = tp->image_len[i]; k < num * sector; k++)
			assert_int_equal(buf[k], 0);
		free(buf);
	}
}

static void assert_programmer_received(struct rig *r)
{
	uint8_t want[32], got[32];
	testplan_sha256(r->programmer, r->programmer_len, r->programmer_len, want);
	edl_target_programmer_sha256(r->target, got);
	assert_memory_equal(want, got, 32);
}

static void flash_storage(enum edl_storage_kind kind)
{
	struct rig r;

	rig_init(&r, kind);
	assert_int_equal(rig_run(&r), EDL_OK);
	assert_passed(&r);
	assert_images_stored(&r);
	assert_programmer_received(&r);
	assert_int_equal(edl_target_state(r.target), EDL_TARGET_RESET);
	/* Every programmed range was verified by the device's own digest; NAND only
	 * when asked for (verify = auto leaves NAND alone). */
	assert_int_equal(edl_target_commands_seen(r.target, "getsha256digest"),
	                 kind == EDL_STORAGE_NAND ? 0 : 3);
	const struct edl_sahara_identity *id = edl_flash_job_identity(r.job);
	assert_non_null(id);
	assert_string_equal(id->serial_hex, "1a2b3c4d");
	rig_free(&r);
}

static void test_flash_writes_three_images_to_emmc(void **state)
{
	(void)state;
	flash_storage(EDL_STORAGE_EMMC);
}

static void test_flash_writes_three_images_to_ufs_luns(void **state)
{
	(void)state;
	flash_storage(EDL_STORAGE_UFS);
}

static void test_flash_writes_three_images_to_nand(void **state)
{
	(void)state;
	flash_storage(EDL_STORAGE_NAND);
}

static void test_flash_same_result_for_any_fragmentation(void **state)
{
	(void)state;
	const struct {
		enum edl_memlink_fragment mode;
		size_t size;
	} cuts[] = {
	        {EDL_MEMLINK_WHOLE, 0},    {EDL_MEMLINK_FIXED, 1},     {EDL_MEMLINK_FIXED, 7},
	        {EDL_MEMLINK_RANDOM, 300}, {EDL_MEMLINK_RANDOM, 5000},
	};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		struct rig r;
		rig_init(&r, EDL_STORAGE_EMMC);
		r.lopt.fragment = cuts[i].mode;
		r.lopt.fragment_size = cuts[i].size;
		r.lopt.seed = 42 + (uint32_t)i;
		assert_int_equal(rig_run(&r), EDL_OK);
		assert_passed(&r);
		assert_images_stored(&r);
		rig_free(&r);
	}
}

static void test_flash_recovers_silent_running_programmer_in_one_probe(void **state)
{
	(void)state;
	struct rig r;

	rig_init(&r, EDL_STORAGE_NAND);
	r.tcfg.faults.firehose_running = true;
	assert_int_equal(rig_run(&r), EDL_OK);
	assert_passed(&r);
	assert_true(edl_flash_job_found_running(r.job));
	assert_images_stored(&r);
	/* No HELLO wait of 5 s: one silence window and one probe answer. */
	assert_true(r.stats.end_ms - r.lopt.start_ms < 2000);
	/* The programmer was reused: nothing was uploaded. */
	assert_int_equal(edl_target_commands_seen(r.target, "configure") >= 1, 1);
	rig_free(&r);
}

static void test_flash_recovers_programmer_with_stale_output_without_probe(void **state)
{
	(void)state;
	struct rig r;

	rig_init(&r, EDL_STORAGE_NAND);
	r.tcfg.faults.firehose_running = true;
	r.tcfg.faults.firehose_stale_output = true;
	assert_int_equal(rig_run(&r), EDL_OK);
	assert_passed(&r);
	assert_true(edl_flash_job_found_running(r.job));
	assert_int_equal(edl_target_commands_seen(r.target, "nop"), 0);
	assert_images_stored(&r);
	rig_free(&r);
}

static void test_flash_running_programmer_reset_to_edl_when_not_reused(void **state)
{
	(void)state;
	struct rig r;

	rig_init(&r, EDL_STORAGE_EMMC);
	r.tcfg.faults.firehose_running = true;
	r.fopt.reuse_running_programmer = false;
	assert_int_equal(rig_run(&r), EDL_OK);
	assert_int_equal(edl_flash_job_status(r.job), EDL_ENGINE_DONE);
	assert_int_equal(edl_flash_job_outcome(r.job), EDL_FLASH_OUTCOME_REENUMERATE);
	assert_int_equal(edl_target_state(r.target), EDL_TARGET_RESET_TO_EDL);
	assert_int_equal(edl_target_commands_seen(r.target, "program"), 0);
	rig_free(&r);
}

static void test_flash_silent_device_needs_power_cycle(void **state)
{
	(void)state;
	struct rig r;

	rig_init(&r, EDL_STORAGE_EMMC);
	r.tcfg.faults.silent = true;
	assert_int_equal(rig_run(&r), EDL_OK);
	assert_int_equal(edl_flash_job_status(r.job), EDL_ENGINE_FAILED);
	assert_int_equal(edl_flash_job_error(r.job)->code, EDL_E_POWER_CYCLE);
	assert_int_equal(edl_flash_job_failed_stage(r.job), EDL_STAGE_PROBE);
	assert_non_null(strstr(edl_flash_job_error(r.job)->detail, "power"));
	assert_true(r.stats.end_ms - r.lopt.start_ms < 5000);
	rig_free(&r);
}

static void test_flash_negotiates_payload_down_to_device_max(void **state)
{
	(void)state;
	struct rig r;
	struct edl_flash_progress p;

	rig_init(&r, EDL_STORAGE_UFS);
	r.tcfg.faults.payload_max = 16384;
	assert_int_equal(rig_run(&r), EDL_OK);
	assert_passed(&r);
	edl_flash_job_progress(r.job, &p);
	assert_int_equal(p.payload, 16384);
	assert_int_equal(p.configure_rounds, 2);
	assert_images_stored(&r);
	rig_free(&r);
}

static void test_flash_negotiates_payload_up_to_device_max(void **state)
{
	(void)state;
	struct rig r;
	struct edl_flash_progress p;

	rig_init(&r, EDL_STORAGE_EMMC);
	r.fopt.max_payload = 65536;
	r.tcfg.faults.payload_max = 1024 * 1024;
	assert_int_equal(rig_run(&r), EDL_OK);
	assert_passed(&r);
	edl_flash_job_progress(r.job, &p);
	assert_int_equal(p.payload, 1024 * 1024);
	assert_int_equal(p.configure_rounds, 2);
	rig_free(&r);
}

static void test_flash_nak_mid_plan_surfaces_device_log(void **state)
{
	(void)state;
	struct rig r;

	rig_init(&r, EDL_STORAGE_EMMC);
	snprintf(r.tcfg.faults.nak_command, sizeof(r.tcfg.faults.nak_command), "program");
	r.tcfg.faults.nak_nth = 2;
	assert_int_equal(rig_run(&r), EDL_OK);
	assert_int_equal(edl_flash_job_status(r.job), EDL_ENGINE_FAILED);
	assert_int_equal(edl_flash_job_failed_stage(r.job), EDL_STAGE_PROGRAM);
	assert_int_equal(edl_flash_job_error(r.job)->code, EDL_E_FH_NAK);
	assert_non_null(strstr(edl_flash_job_error(r.job)->detail, "injected"));
	rig_free(&r);
}

static void test_flash_verify_catches_corrupted_storage(void **state)
{
	(void)state;
	struct rig r;

	rig_init(&r, EDL_STORAGE_EMMC);
	r.tcfg.faults.corrupt = true;
	assert_int_equal(rig_run(&r), EDL_OK);
	assert_int_equal(edl_flash_job_status(r.job), EDL_ENGINE_FAILED);
	assert_int_equal(edl_flash_job_failed_stage(r.job), EDL_STAGE_VERIFY);
	assert_int_equal(edl_flash_job_error(r.job)->code, EDL_E_VERIFY_MISMATCH);
	assert_non_null(strstr(edl_flash_job_error(r.job)->detail, "sbl"));
	rig_free(&r);
}

static void test_flash_device_gone_mid_write_fails_in_program(void **state)
{
	(void)state;
	struct rig r;

	rig_init(&r, EDL_STORAGE_EMMC);
	r.tcfg.faults.unplug_at_bytes = 40000;
	assert_int_equal(rig_run(&r), EDL_OK);
	assert_int_equal(edl_flash_job_status(r.job), EDL_ENGINE_FAILED);
	assert_int_equal(edl_flash_job_failed_stage(r.job), EDL_STAGE_PROGRAM);
	assert_int_equal(edl_flash_job_error(r.job)->code, EDL_E_FH_TIMEOUT);
	rig_free(&r);
}

static void test_flash_waits_for_slow_final_ack(void **state)
{
	(void)state;
	struct rig r;

	rig_init(&r, EDL_STORAGE_EMMC);
	r.tcfg.faults.slow_final_ack_ms = 20000;
	assert_int_equal(rig_run(&r), EDL_OK);
	assert_passed(&r);
	assert_true(r.stats.end_ms - r.lopt.start_ms >= 3 * 20000);
	rig_free(&r);
}

static void identify_version(uint32_t version)
{
	struct rig r;

	rig_init(&r, EDL_STORAGE_EMMC);
	r.tcfg.pbl.sahara_version = version;
	r.fopt.plan = NULL; /* identify only */
	assert_int_equal(rig_run(&r), EDL_OK);
	assert_int_equal(edl_flash_job_status(r.job), EDL_ENGINE_DONE);
	assert_int_equal(edl_flash_job_outcome(r.job), EDL_FLASH_OUTCOME_IDENTIFIED);
	const struct edl_sahara_identity *id = edl_flash_job_identity(r.job);
	assert_non_null(id);
	assert_int_equal(id->sahara_version, version);
	assert_int_equal(id->serial, 0x1a2b3c4d);
	assert_int_equal(id->msm_id, 0x000cf0e1);
	assert_int_equal(id->oem_id, 0x0000);
	assert_int_equal(id->model_id, 0x98a9);
	assert_true(id->pk_hash_len == 32 || id->pk_hash_len == 48 || id->pk_hash_len == 64);
	/* Nothing was written. */
	assert_int_equal(edl_target_commands_seen(r.target, "program"), 0);
	rig_free(&r);
}

static void test_flash_identifies_sahara_v2_unit(void **state)
{
	(void)state;
	identify_version(2);
}

static void test_flash_identifies_sahara_v3_unit(void **state)
{
	(void)state;
	identify_version(3);
}

/* ---- events, stalls, verify methods, wrong packages ---- */

struct seen {
	unsigned stages, identities, payloads, starts, ends, passes, fails, logs, warnings, helds;
	unsigned checked[3];
	size_t last_end_step;
	char last_warning[256];
	uint64_t program_bytes;
	uint64_t drain_at; /* when the programmer was first talked to */
};

static void on_event(const struct edl_flash_event *ev, void *data)
{
	struct seen *s = data;
	switch (ev->kind) {
	case EDL_FLASH_EV_STAGE:
		s->stages++;
		if (ev->stage == EDL_STAGE_DRAIN && s->drain_at == 0)
			s->drain_at = ev->now;
		break;
	case EDL_FLASH_EV_IDENTITY:
		assert_non_null(ev->identity);
		s->identities++;
		break;
	case EDL_FLASH_EV_FUNCTIONS:
		break;
	case EDL_FLASH_EV_HELD:
		s->helds++;
		break;
	case EDL_FLASH_EV_PAYLOAD:
		assert_true(ev->payload > 0);
		s->payloads++;
		break;
	case EDL_FLASH_EV_STEP_START:
		assert_non_null(ev->plan_step);
		assert_int_equal(ev->step, s->starts);
		s->starts++;
		break;
	case EDL_FLASH_EV_STEP_END:
		assert_non_null(ev->plan_step);
		s->ends++;
		s->last_end_step = ev->step;
		if (ev->result == EDL_FLASH_STEP_PASS)
			s->passes++;
		else
			s->fails++;
		s->checked[ev->checked]++;
		if (ev->plan_step->kind == EDL_STEP_PROGRAM && ev->result == EDL_FLASH_STEP_PASS)
			s->program_bytes += ev->bytes;
		break;
	case EDL_FLASH_EV_DEVICE_LOG:
		assert_non_null(ev->text);
		s->logs++;
		break;
	case EDL_FLASH_EV_WARNING:
		s->warnings++;
		snprintf(s->last_warning, sizeof(s->last_warning), "%s", ev->text);
		break;
	case EDL_FLASH_EV_PRESERVED: /* issue 15: tests/flash/test_preserve.c */
	case EDL_FLASH_EV_RESTORED:
		break;
	}
}

static void test_flash_tells_every_step_as_an_event(void **state)
{
	(void)state;
	struct rig r;
	struct seen seen;

	memset(&seen, 0, sizeof(seen));
	rig_init(&r, EDL_STORAGE_UFS);
	r.fopt.on_event = on_event;
	r.fopt.event_data = &seen;
	assert_int_equal(rig_run(&r), EDL_OK);
	assert_passed(&r);
	assert_int_equal(seen.identities, 1);
	assert_int_equal(seen.payloads, 1);
	assert_int_equal(seen.starts, r.tp.plan.n_steps);
	assert_int_equal(seen.ends, r.tp.plan.n_steps);
	assert_int_equal(seen.passes, r.tp.plan.n_steps);
	assert_int_equal(seen.fails, 0);
	/* Every program step was checked by the device's digest. */
	assert_int_equal(seen.checked[EDL_CHECKED_DIGEST], 3);
	assert_int_equal(seen.program_bytes, r.tp.plan.total_bytes);
	assert_true(seen.logs > 0);
	assert_true(seen.stages >= 6);
	rig_free(&r);
}

static void test_flash_failed_step_is_told_as_failed(void **state)
{
	(void)state;
	struct rig r;
	struct seen seen;

	memset(&seen, 0, sizeof(seen));
	rig_init(&r, EDL_STORAGE_EMMC);
	r.fopt.on_event = on_event;
	r.fopt.event_data = &seen;
	snprintf(r.tcfg.faults.nak_command, sizeof(r.tcfg.faults.nak_command), "program");
	r.tcfg.faults.nak_nth = 2;
	assert_int_equal(rig_run(&r), EDL_OK);
	assert_int_equal(edl_flash_job_status(r.job), EDL_ENGINE_FAILED);
	assert_int_equal(seen.fails, 1);
	assert_int_equal(seen.ends, seen.starts);
	assert_int_equal(r.tp.plan.steps[seen.last_end_step].kind, EDL_STEP_PROGRAM);
	rig_free(&r);
}

/* Drives job and target like the in-memory link, but the "transport" stops
 * taking host bytes once stall_after bytes went through: the OUT transfers of
 * a unit that stopped draining its endpoint. */
static void run_stalling_in(struct rig *r, uint64_t stall_after, enum edl_flash_stage stall_stage,
                            uint64_t *end_ms)
{
	struct edl_error err;
	struct edl_chunk c;
	uint64_t now = 1000, sent = 0;
	bool holding = false;

	assert_int_equal(edl_target_new(&r->target, &r->tcfg, &err), EDL_OK);
	assert_int_equal(edl_flash_job_new(&r->job, &r->fopt), EDL_OK);
	edl_target_start(r->target, now);
	edl_flash_job_start(r->job, now);
	for (int guard = 0; guard < 10000000 && edl_flash_job_status(r->job) == EDL_ENGINE_RUNNING;
	     guard++) {
		bool progress = false;
		while (!holding && edl_flash_job_next_out(r->job, &c)) {
			if (sent + c.len > stall_after ||
			    edl_flash_job_stage(r->job) == stall_stage) {
				holding = true; /* handed to the transport, never completed */
				break;
			}
			sent += c.len;
			edl_target_feed(r->target, c.data, c.len, now);
			edl_flash_job_out_done(r->job, c.len, now);
			progress = true;
		}
		while (edl_target_next_out(r->target, &c, now)) {
			edl_flash_job_feed(r->job, c.data, c.len, now);
			progress = true;
		}
		if (progress)
			continue;
		uint64_t jd = edl_flash_job_deadline(r->job), td = edl_target_deadline(r->target);
		uint64_t next = jd == 0 ? td : (td == 0 || jd < td ? jd : td);
		assert_true(next != 0);
		if (next > now)
			now = next;
		if (td != 0 && td <= now)
			edl_target_timeout(r->target, now);
		if (jd != 0 && jd <= now)
			edl_flash_job_timeout(r->job, now);
	}
	*end_ms = now;
}

static void run_stalling(struct rig *r, uint64_t stall_after, uint64_t *end_ms)
{
	run_stalling_in(r, stall_after, EDL_STAGE_DONE, end_ms);
}

static void test_flash_stalled_unit_fails_within_progress_deadline(void **state)
{
	(void)state;
	struct rig r;
	uint64_t end = 0;

	rig_init(&r, EDL_STORAGE_EMMC);
	r.fopt.progress_timeout_ms = 3000;
	/* Past the programmer upload (96 KiB), inside the first image. */
	run_stalling(&r, r.programmer_len + 20 * 1024, &end);
	assert_int_equal(edl_flash_job_status(r.job), EDL_ENGINE_FAILED);
	assert_int_equal(edl_flash_job_error(r.job)->code, EDL_E_STALLED);
	assert_int_equal(edl_flash_job_failed_stage(r.job), EDL_STAGE_PROGRAM);
	char msg[EDL_ERROR_DETAIL_MAX + 64];
	const char *d = edl_error_format(edl_flash_job_error(r.job), msg, sizeof(msg));
	assert_non_null(strstr(d, "unit stopped accepting data: at byte "));
	/* The whole of boot.img was one chunk handed out and never taken. */
	assert_non_null(
	        strstr(d, "at byte 0 of 22,528 of boot.img (LUN 0 sector 1280), nothing taken for "
	                  "3000 ms; re-seat the cable or set the unit aside"));
	assert_non_null(strstr(d, "re-seat the cable or set the unit aside"));
	/* Failed on the progress deadline, not after the 120 s final-ACK wait. */
	assert_true(end - 1000 < 60000);
	rig_free(&r);
}

static void test_flash_stall_during_verify_names_the_range(void **state)
{
	(void)state;
	struct rig r;
	uint64_t end = 0;

	/* The unit takes the first image, then not the getsha256digest command. */
	rig_init(&r, EDL_STORAGE_EMMC);
	r.fopt.progress_timeout_ms = 2500;
	run_stalling_in(&r, UINT64_MAX, EDL_STAGE_VERIFY, &end);
	assert_int_equal(edl_flash_job_error(r.job)->code, EDL_E_STALLED);
	assert_int_equal(edl_flash_job_failed_stage(r.job), EDL_STAGE_VERIFY);
	assert_non_null(strstr(edl_flash_job_error(r.job)->detail,
	                       "while verifying sbl, nothing taken for 2500 ms"));
	assert_true(end - 1000 < 30000);
	rig_free(&r);
}

static void test_flash_stall_during_upload_names_the_upload(void **state)
{
	(void)state;
	struct rig r;
	uint64_t end = 0;

	rig_init(&r, EDL_STORAGE_EMMC);
	r.fopt.progress_timeout_ms = 2000;
	run_stalling(&r, 20 * 1024, &end);
	assert_int_equal(edl_flash_job_error(r.job)->code, EDL_E_STALLED);
	assert_non_null(strstr(edl_flash_job_error(r.job)->detail, "of the programmer upload"));
	rig_free(&r);
}

static void test_flash_readback_verify_hashes_on_the_host(void **state)
{
	(void)state;
	struct rig r;
	struct seen seen;

	memset(&seen, 0, sizeof(seen));
	rig_init(&r, EDL_STORAGE_EMMC);
	r.fopt.verify = EDL_VERIFY_READBACK;
	r.fopt.on_event = on_event;
	r.fopt.event_data = &seen;
	assert_int_equal(rig_run(&r), EDL_OK);
	assert_passed(&r);
	assert_int_equal(edl_target_commands_seen(r.target, "getsha256digest"), 0);
	assert_int_equal(edl_target_commands_seen(r.target, "read"), 3);
	assert_int_equal(seen.checked[EDL_CHECKED_READBACK], 3);
	rig_free(&r);
}

static void test_flash_readback_catches_corrupted_storage(void **state)
{
	(void)state;
	struct rig r;

	rig_init(&r, EDL_STORAGE_UFS);
	r.fopt.verify = EDL_VERIFY_READBACK;
	r.tcfg.faults.corrupt = true;
	assert_int_equal(rig_run(&r), EDL_OK);
	assert_int_equal(edl_flash_job_error(r.job)->code, EDL_E_VERIFY_MISMATCH);
	assert_non_null(strstr(edl_flash_job_error(r.job)->detail, "read-back has sha256"));
	rig_free(&r);
}

static void test_flash_digest_nak_falls_back_to_readback(void **state)
{
	(void)state;
	struct rig r;
	struct seen seen;

	memset(&seen, 0, sizeof(seen));
	rig_init(&r, EDL_STORAGE_EMMC);
	r.fopt.on_event = on_event;
	r.fopt.event_data = &seen;
	snprintf(r.tcfg.faults.nak_command, sizeof(r.tcfg.faults.nak_command), "getsha256digest");
	r.tcfg.faults.nak_nth = 1;
	assert_int_equal(rig_run(&r), EDL_OK);
	assert_passed(&r);
	assert_int_equal(edl_target_commands_seen(r.target, "read"), 1);
	assert_int_equal(seen.checked[EDL_CHECKED_READBACK], 1);
	assert_int_equal(seen.checked[EDL_CHECKED_DIGEST], 2);
	assert_non_null(strstr(seen.last_warning, "reading the range back"));
	rig_free(&r);
}

static void test_flash_nand_verified_only_when_asked(void **state)
{
	(void)state;
	struct rig r;

	rig_init(&r, EDL_STORAGE_NAND);
	r.fopt.verify = EDL_VERIFY_DIGEST;
	assert_int_equal(rig_run(&r), EDL_OK);
	assert_passed(&r);
	assert_int_equal(edl_target_commands_seen(r.target, "getsha256digest"), 3);
	rig_free(&r);
}

static void test_flash_package_larger_than_the_unit_is_a_wrong_package(void **state)
{
	(void)state;
	struct rig r;

	struct seen seen;
	memset(&seen, 0, sizeof(seen));
	rig_init(&r, EDL_STORAGE_EMMC);
	r.fopt.on_event = on_event;
	r.fopt.event_data = &seen;
	/* 64 sectors of 512 bytes: the images start far beyond. */
	r.tcfg.storage.sectors = 64;
	assert_int_equal(rig_run(&r), EDL_OK);
	assert_int_equal(edl_flash_job_status(r.job), EDL_ENGINE_FAILED);
	assert_int_equal(edl_flash_job_error(r.job)->code, EDL_E_WRONG_PACKAGE);
	assert_int_equal(edl_flash_job_failed_stage(r.job), EDL_STAGE_STORAGE_INFO);
	const char *d = edl_flash_job_error(r.job)->detail;
	assert_non_null(strstr(d, "no byte was written"));
	assert_non_null(strstr(d, "64 sectors"));
	assert_int_equal(edl_target_commands_seen(r.target, "erase"), 0);
	assert_int_equal(edl_target_commands_seen(r.target, "program"), 0);
	rig_free(&r);
}

/* ---- device profiles: the whole job against each real family's behaviour ---- */

static void rig_init_profile(struct rig *r, const struct edl_device_profile *p, uint32_t seed)
{
	rig_init(r, p->storage);
	testplan_free(&r->tp);
	testplan_build_sector(&r->tp, p->storage, p->sector_size, seed);
	r->fopt.plan = &r->tp.plan;
	edl_profile_apply(p, &r->tcfg);
	r->tcfg.storage.sectors = p->storage == EDL_STORAGE_NAND ? 64 * 64 : 1u << 16;
}

static void flash_profile(const struct edl_device_profile *p, enum edl_memlink_fragment frag)
{
	struct rig r;
	struct seen seen;

	memset(&seen, 0, sizeof(seen));
	rig_init_profile(&r, p, 11);
	r.fopt.on_event = on_event;
	r.fopt.event_data = &seen;
	r.lopt.fragment = frag;
	r.lopt.fragment_size = 7;
	assert_int_equal(rig_run(&r), EDL_OK);
	if (edl_flash_job_status(r.job) != EDL_ENGINE_DONE)
		print_error("profile %s: %s\n", p->name, edl_flash_job_error(r.job)->detail);
	assert_passed(&r);
	assert_images_stored(&r);
	assert_programmer_received(&r);
	assert_int_equal(seen.ends, r.tp.plan.n_steps);
	const struct edl_sahara_identity *id = edl_flash_job_identity(r.job);
	assert_non_null(id);
	assert_string_equal(id->serial_hex, "1a2b3c4d");
	/* The PK hash as long as the chip's own: 48 bytes on SHA-384 parts. */
	if (!(p->pbl.refuse_exec_mask & (1u << EDL_SAHARA_EXEC_PK_HASH)))
		assert_int_equal(id->pk_hash_len, p->pk_hash_len);
	/* NAND is verified only when asked; elsewhere by digest or read-back. */
	if (p->storage == EDL_STORAGE_NAND)
		assert_int_equal(seen.checked[EDL_CHECKED_NONE], r.tp.plan.n_steps);
	else
		assert_int_equal(
		        seen.checked[EDL_CHECKED_DIGEST] + seen.checked[EDL_CHECKED_READBACK], 3);
	rig_free(&r);
}

static void test_flash_every_profile_flashes_byte_exact(void **state)
{
	(void)state;
	for (size_t i = 0; edl_profile_at(i) != NULL; i++) {
		flash_profile(edl_profile_at(i), EDL_MEMLINK_WHOLE);
		flash_profile(edl_profile_at(i), EDL_MEMLINK_RANDOM);
	}
}

static void test_flash_reads_the_banner_before_configure(void **state)
{
	(void)state;
	struct rig r;

	rig_init_profile(&r, edl_profile_find("sdx55"), 3);
	assert_int_equal(rig_run(&r), EDL_OK);
	assert_passed(&r);
	/* One configure per negotiation round, none re-sent: nothing was lost to
	 * a programmer still printing its banner. */
	struct edl_flash_progress pr;
	edl_flash_job_progress(r.job, &pr);
	assert_int_equal(edl_target_commands_seen(r.target, "configure"), pr.configure_rounds);
	assert_int_equal(pr.payload, 8192);
	rig_free(&r);
}

static void test_flash_wrong_storage_is_a_wrong_package_before_any_write(void **state)
{
	(void)state;
	struct rig r;

	/* A NAND package on a UFS unit: its programmer refuses MemoryName nand. */
	rig_init(&r, EDL_STORAGE_NAND);
	edl_profile_apply(edl_profile_find("sdm845"), &r.tcfg);
	assert_int_equal(rig_run(&r), EDL_OK);
	assert_int_equal(edl_flash_job_status(r.job), EDL_ENGINE_FAILED);
	assert_int_equal(edl_flash_job_error(r.job)->code, EDL_E_WRONG_PACKAGE);
	const char *d = edl_flash_job_error(r.job)->detail;
	assert_non_null(strstr(d, "this package is for nand units"));
	assert_non_null(strstr(d, "no byte was written"));
	assert_int_equal(edl_target_commands_seen(r.target, "erase"), 0);
	assert_int_equal(edl_target_commands_seen(r.target, "program"), 0);
	rig_free(&r);
}

static void test_flash_lenient_programmer_wrong_storage_is_a_wrong_package(void **state)
{
	(void)state;
	struct rig r;

	/* An old programmer ACKs any MemoryName and fails the first storage access. */
	rig_init(&r, EDL_STORAGE_UFS);
	r.tcfg.storage.kind = EDL_STORAGE_EMMC;
	r.tcfg.storage.sector_size = 512;
	r.tcfg.storage.luns = 1;
	r.tcfg.prog.memory_name_lenient = true;
	assert_int_equal(rig_run(&r), EDL_OK);
	assert_int_equal(edl_flash_job_error(r.job)->code, EDL_E_WRONG_PACKAGE);
	assert_non_null(strstr(edl_flash_job_error(r.job)->detail, "refuses that storage"));
	assert_int_equal(edl_target_commands_seen(r.target, "program"), 0);
	rig_free(&r);
}

static void test_flash_recovers_programmer_left_mid_raw_data(void **state)
{
	(void)state;
	struct rig r;
	struct seen seen;

	memset(&seen, 0, sizeof(seen));
	rig_init(&r, EDL_STORAGE_EMMC);
	r.fopt.on_event = on_event;
	r.fopt.event_data = &seen;
	r.tcfg.faults.firehose_busy = true;
	r.tcfg.faults.firehose_busy_bytes = 3u << 20;
	assert_int_equal(rig_run(&r), EDL_OK);
	assert_passed(&r);
	assert_images_stored(&r);
	assert_true(edl_flash_job_found_running(r.job));
	assert_non_null(strstr(seen.last_warning, "bytes of filler completed it"));
	/* Recognised within 2 s of power-on (virtual time from 1000). */
	assert_true(seen.drain_at != 0 && seen.drain_at - 1000 <= 2000);
	rig_free(&r);
}

static void test_flash_quectel_vendor_erase_sent_verbatim(void **state)
{
	(void)state;
	struct rig r;
	static const char *attrs_src[] = {
	        "a_rawdata_start_sector",
	        "64",
	        "b_rawdata_num_sector",
	        "64",
	        "c_project_name",
	        "RG500QEA_VH",
	        "d_project_type",
	        "STD",
	        "vendor",
	        "quectel",
	};
	char *attrs[10];

	rig_init_profile(&r, edl_profile_find("sdx55"), 5);
	for (size_t i = 0; i < 10; i++)
		attrs[i] = (char *)attrs_src[i];
	/* The vendor step goes right after the first erase, as QFirehose orders it. */
	struct edl_plan_step *st = r.tp.steps;
	memmove(st + 2, st + 1, (r.tp.plan.n_steps - 1) * sizeof(*st));
	memset(&st[1], 0, sizeof(st[1]));
	st[1].kind = EDL_STEP_VENDOR;
	snprintf(st[1].element, sizeof(st[1].element), "erase");
	st[1].vendor_attrs = attrs;
	st[1].n_vendor_attrs = 5;
	snprintf(st[1].source, sizeof(st[1].source), "rawprogram_nand_p4K_b256K_update.xml:3");
	r.tp.plan.n_steps++;
	assert_int_equal(rig_run(&r), EDL_OK);
	assert_passed(&r);
	assert_images_stored(&r);
	/* Three plain erases and the vendor one. */
	assert_int_equal(edl_target_commands_seen(r.target, "erase"), 4);
	rig_free(&r);
}

static const char *const no_digest_functions[] = {
        "program", "read",      "nop",
        "patch",   "configure", "setbootablestoragedrive",
        "erase",   "power",     "getstorageinfo",
        NULL,
};

static const char *const no_erase_functions[] = {
        "program", "read", "nop", "configure", "power", NULL,
};

static void test_flash_programmer_without_digest_is_read_back(void **state)
{
	(void)state;
	struct rig r;
	struct seen seen;

	memset(&seen, 0, sizeof(seen));
	rig_init(&r, EDL_STORAGE_EMMC);
	r.fopt.on_event = on_event;
	r.fopt.event_data = &seen;
	r.tcfg.prog.functions = no_digest_functions;
	assert_int_equal(rig_run(&r), EDL_OK);
	assert_passed(&r);
	/* Not even tried: a programmer ACKs a tag it does not know and does nothing. */
	assert_int_equal(edl_target_commands_seen(r.target, "getsha256digest"), 0);
	assert_int_equal(seen.checked[EDL_CHECKED_READBACK], 3);
	rig_free(&r);
}

static void test_flash_programmer_lacking_a_plan_command_is_refused(void **state)
{
	(void)state;
	struct rig r;

	rig_init(&r, EDL_STORAGE_NAND);
	r.tcfg.prog.functions = no_erase_functions;
	assert_int_equal(rig_run(&r), EDL_OK);
	assert_int_equal(edl_flash_job_error(r.job)->code, EDL_E_WRONG_PACKAGE);
	const char *d = edl_flash_job_error(r.job)->detail;
	assert_non_null(strstr(d, "does not list 'erase'"));
	assert_non_null(strstr(d, "no byte was written"));
	assert_int_equal(edl_target_commands_seen(r.target, "program"), 0);
	assert_int_equal(edl_target_commands_seen(r.target, "configure"), 0);
	rig_free(&r);
}

/* NAND verify semantics: a range is what the programmer maps it to — bad
 * blocks inside it are skipped on write, read and digest alike, and only the
 * main data of each page counts (no spare bytes). */
static void nand_verify_over_bad_block(enum edl_flash_verify mode)
{
	struct rig r;
	struct seen seen;
	static const uint32_t bad[] = {4}; /* the first block of image 1's range */

	memset(&seen, 0, sizeof(seen));
	rig_init(&r, EDL_STORAGE_NAND);
	r.fopt.verify = mode;
	r.fopt.on_event = on_event;
	r.fopt.event_data = &seen;
	r.tcfg.storage.bad_blocks = bad;
	r.tcfg.storage.n_bad_blocks = 1;
	assert_int_equal(rig_run(&r), EDL_OK);
	assert_passed(&r);
	assert_int_equal(
	        seen.checked[mode == EDL_VERIFY_DIGEST ? EDL_CHECKED_DIGEST : EDL_CHECKED_READBACK],
	        3);
	/* Image 1 landed one block further on, past the bad block. */
	struct testplan *tp = &r.tp;
	uint8_t *buf = malloc(tp->image_len[1] + 4096);
	assert_int_equal(edl_target_read_storage(r.target, 0, tp->image_sector[1] + 64,
	                                         (tp->image_len[1] + 4095) / 4096, buf),
	                 EDL_OK);
	assert_memory_equal(buf, tp->images[1], tp->image_len[1]);
	free(buf);
	rig_free(&r);
}

static void test_flash_nand_readback_skips_bad_blocks_like_the_write(void **state)
{
	(void)state;
	nand_verify_over_bad_block(EDL_VERIFY_READBACK);
}

static void test_flash_nand_digest_skips_bad_blocks_like_the_write(void **state)
{
	(void)state;
	nand_verify_over_bad_block(EDL_VERIFY_DIGEST);
}

/* A ROM that says DONE_RESP "pending" after the only image and then HELLO again
 * wants another transfer: the job answers it in Sahara, not as Firehose bytes. */
static void test_flash_hello_after_done_resp_pending_is_answered(void **state)
{
	(void)state;
	struct rig r;
	struct edl_error err;
	struct edl_chunk c;
	uint64_t now = 1000;
	uint8_t hello[EDL_SAHARA_MAX_PKT];

	rig_init_profile(&r, edl_profile_find("mdm9607"), 13);
	assert_int_equal(edl_target_new(&r.target, &r.tcfg, &err), EDL_OK);
	assert_int_equal(edl_flash_job_new(&r.job, &r.fopt), EDL_OK);
	edl_target_start(r.target, now);
	edl_flash_job_start(r.job, now);
	/* Run until the job reads the programmer's banner. */
	for (int i = 0; i < 100000 && edl_flash_job_stage(r.job) != EDL_STAGE_DRAIN; i++) {
		while (edl_flash_job_next_out(r.job, &c)) {
			edl_target_feed(r.target, c.data, c.len, now);
			edl_flash_job_out_done(r.job, c.len, now);
		}
		if (edl_target_next_out(r.target, &c, now))
			edl_flash_job_feed(r.job, c.data, c.len, now);
		else
			now += 1;
	}
	assert_int_equal(edl_flash_job_stage(r.job), EDL_STAGE_DRAIN);
	assert_true(edl_flash_job_in_firehose(r.job));
	assert_int_equal(edl_sahara_encode_hello(hello, sizeof(hello), 2, 1, 0x400, 0),
	                 sizeof(hello));
	assert_int_equal(edl_flash_job_feed(r.job, hello, sizeof(hello), now), EDL_OK);
	assert_false(edl_flash_job_in_firehose(r.job));
	assert_int_equal(edl_flash_job_stage(r.job), EDL_STAGE_SAHARA);
	assert_true(edl_flash_job_next_out(r.job, &c));
	assert_int_equal(c.len, EDL_SAHARA_MAX_PKT);
	assert_int_equal(edl_sahara_get_le32(c.data), EDL_SAHARA_HELLO_RESP);
	rig_free(&r);
}

/* ---- the identity gate (issue 15) ---- */

/* Pumps bytes and time between job and target by hand (memlink cannot release
 * a held job): until the job is held (until_held) or over. Returns the bytes
 * the job sent. */
static uint64_t pump(struct rig *r, uint64_t *now, bool until_held, uint64_t until_ms)
{
	uint64_t sent = 0;

	for (int guard = 0; guard < 200000; guard++) {
		struct edl_chunk c;
		bool progress = false;

		if (edl_flash_job_status(r->job) != EDL_ENGINE_RUNNING)
			break;
		if (until_held && edl_flash_job_held(r->job))
			break;
		while (edl_flash_job_next_out(r->job, &c)) {
			if (c.len == 0)
				continue;
			edl_target_feed(r->target, c.data, c.len, *now);
			edl_flash_job_out_done(r->job, c.len, *now);
			sent += c.len;
			progress = true;
		}
		while (edl_target_next_out(r->target, &c, *now)) {
			edl_flash_job_feed(r->job, c.data, c.len, *now);
			progress = true;
		}
		if (progress)
			continue;
		uint64_t d = edl_flash_job_deadline(r->job), t = edl_target_deadline(r->target);
		uint64_t next = d == 0 ? t : (t == 0 || d < t ? d : t);
		if (next == 0 || (until_ms != 0 && next > until_ms))
			break;
		if (next > *now)
			*now = next;
		if (t != 0 && t <= *now)
			edl_target_timeout(r->target, *now);
		if (d != 0 && d <= *now)
			edl_flash_job_timeout(r->job, *now);
	}
	return sent;
}

static void gate_start(struct rig *r, struct seen *s, uint64_t *now)
{
	struct edl_error err;

	r->fopt.plan = NULL; /* what the unit gets is decided at the gate */
	r->fopt.sahara.images = NULL;
	r->fopt.sahara.n_images = 0;
	r->fopt.hold_at_identity = true;
	r->fopt.hold_timeout_ms = 20000;
	r->fopt.on_event = on_event;
	r->fopt.event_data = s;
	assert_int_equal(edl_target_new(&r->target, &r->tcfg, &err), EDL_OK);
	assert_int_equal(edl_flash_job_new(&r->job, &r->fopt), EDL_OK);
	*now = 1000;
	edl_target_start(r->target, *now);
	edl_flash_job_start(r->job, *now);
	pump(r, now, true, 0);
	assert_true(edl_flash_job_held(r->job));
	assert_int_equal(s->identities, 1);
	assert_int_equal(s->helds, 1);
	assert_int_equal(edl_flash_job_deadline_reason(r->job), EDL_WAIT_DECISION);
	assert_int_equal(edl_flash_job_deadline(r->job), *now + 20000);
}

static void test_flash_gate_holds_then_uploads_the_released_package(void **state)
{
	struct rig r;
	struct seen s = {0};
	uint64_t now, held_at;
	(void)state;
	rig_init(&r, EDL_STORAGE_UFS);
	gate_start(&r, &s, &now);
	held_at = now;
	/* Held: nothing goes out, and no Sahara or progress timer fires for 15 s. */
	assert_int_equal(pump(&r, &now, false, held_at + 15000), 0);
	assert_true(edl_flash_job_held(r.job));
	assert_int_equal(edl_flash_job_status(r.job), EDL_ENGINE_RUNNING);
	now = held_at + 15000;
	struct edl_flash_release rel = {
	        .plan = &r.tp.plan, .images = &r.image, .n_images = 1, .extra = &rel};
	assert_int_equal(edl_flash_job_release(r.job, &rel, now), EDL_OK);
	assert_false(edl_flash_job_held(r.job));
	assert_int_equal(edl_flash_job_release(r.job, &rel, now), EDL_E_INVAL); /* once */
	pump(&r, &now, false, 0);
	assert_passed(&r);
	assert_images_stored(&r);
	assert_programmer_received(&r);
	assert_int_equal(s.identities, 1); /* the second engine does not identify again */
	rig_free(&r);
}

static void test_flash_gate_refusal_fails_before_any_programmer_byte(void **state)
{
	struct rig r;
	struct seen s = {0};
	uint64_t now;
	uint8_t zero[32] = {0}, got[32];
	(void)state;
	rig_init(&r, EDL_STORAGE_EMMC);
	gate_start(&r, &s, &now);
	assert_int_equal(
	        edl_flash_job_refuse(r.job, EDL_E_PK_MISMATCH, "secure-boot key mismatch", now),
	        EDL_OK);
	assert_int_equal(edl_flash_job_status(r.job), EDL_ENGINE_FAILED);
	assert_int_equal(edl_flash_job_error(r.job)->code, EDL_E_PK_MISMATCH);
	assert_string_equal(edl_flash_job_error(r.job)->detail, "secure-boot key mismatch");
	assert_int_equal(edl_flash_job_failed_stage(r.job), EDL_STAGE_SAHARA);
	assert_int_equal(pump(&r, &now, false, 0), 0);
	edl_target_programmer_sha256(r.target, got);
	assert_memory_equal(got, zero, 32);
	assert_int_equal(edl_flash_job_refuse(r.job, EDL_E_PK_MISMATCH, "again", now), EDL_E_INVAL);
	rig_free(&r);
}

static void test_flash_gate_hold_is_bounded(void **state)
{
	struct rig r;
	struct seen s = {0};
	uint64_t now, held_at;
	(void)state;
	rig_init(&r, EDL_STORAGE_NAND);
	gate_start(&r, &s, &now);
	held_at = now;
	pump(&r, &now, false, 0);
	assert_int_equal(edl_flash_job_status(r.job), EDL_ENGINE_FAILED);
	assert_int_equal(edl_flash_job_error(r.job)->code, EDL_E_TIMEOUT);
	assert_non_null(
	        strstr(edl_flash_job_error(r.job)->detail, "held at identity for 20000 ms"));
	assert_int_equal(now, held_at + 20000);
	rig_free(&r);
}

/* Without an identity to hold on, the gate makes no sense: refused at creation. */
static void test_flash_gate_needs_identify(void **state)
{
	struct edl_flash_options o;
	struct edl_flash_job *job = NULL;
	(void)state;
	edl_flash_options_default(&o);
	o.hold_at_identity = true;
	o.identify = false;
	assert_int_equal(edl_flash_job_new(&job, &o), EDL_E_INVAL);
	assert_null(job);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_flash_writes_three_images_to_emmc),
	        cmocka_unit_test(test_flash_writes_three_images_to_ufs_luns),
	        cmocka_unit_test(test_flash_writes_three_images_to_nand),
	        cmocka_unit_test(test_flash_same_result_for_any_fragmentation),
	        cmocka_unit_test(test_flash_recovers_silent_running_programmer_in_one_probe),
	        cmocka_unit_test(test_flash_recovers_programmer_with_stale_output_without_probe),
	        cmocka_unit_test(test_flash_running_programmer_reset_to_edl_when_not_reused),
	        cmocka_unit_test(test_flash_silent_device_needs_power_cycle),
	        cmocka_unit_test(test_flash_negotiates_payload_down_to_device_max),
	        cmocka_unit_test(test_flash_negotiates_payload_up_to_device_max),
	        cmocka_unit_test(test_flash_nak_mid_plan_surfaces_device_log),
	        cmocka_unit_test(test_flash_verify_catches_corrupted_storage),
	        cmocka_unit_test(test_flash_device_gone_mid_write_fails_in_program),
	        cmocka_unit_test(test_flash_waits_for_slow_final_ack),
	        cmocka_unit_test(test_flash_identifies_sahara_v2_unit),
	        cmocka_unit_test(test_flash_identifies_sahara_v3_unit),
	        cmocka_unit_test(test_flash_tells_every_step_as_an_event),
	        cmocka_unit_test(test_flash_failed_step_is_told_as_failed),
	        cmocka_unit_test(test_flash_stalled_unit_fails_within_progress_deadline),
	        cmocka_unit_test(test_flash_stall_during_upload_names_the_upload),
	        cmocka_unit_test(test_flash_stall_during_verify_names_the_range),
	        cmocka_unit_test(test_flash_readback_verify_hashes_on_the_host),
	        cmocka_unit_test(test_flash_readback_catches_corrupted_storage),
	        cmocka_unit_test(test_flash_digest_nak_falls_back_to_readback),
	        cmocka_unit_test(test_flash_nand_verified_only_when_asked),
	        cmocka_unit_test(test_flash_package_larger_than_the_unit_is_a_wrong_package),
	        cmocka_unit_test(test_flash_every_profile_flashes_byte_exact),
	        cmocka_unit_test(test_flash_reads_the_banner_before_configure),
	        cmocka_unit_test(test_flash_wrong_storage_is_a_wrong_package_before_any_write),
	        cmocka_unit_test(test_flash_lenient_programmer_wrong_storage_is_a_wrong_package),
	        cmocka_unit_test(test_flash_recovers_programmer_left_mid_raw_data),
	        cmocka_unit_test(test_flash_gate_holds_then_uploads_the_released_package),
	        cmocka_unit_test(test_flash_gate_refusal_fails_before_any_programmer_byte),
	        cmocka_unit_test(test_flash_gate_hold_is_bounded),
	        cmocka_unit_test(test_flash_gate_needs_identify),
	        cmocka_unit_test(test_flash_quectel_vendor_erase_sent_verbatim),
	        cmocka_unit_test(test_flash_programmer_without_digest_is_read_back),
	        cmocka_unit_test(test_flash_programmer_lacking_a_plan_command_is_refused),
	        cmocka_unit_test(test_flash_nand_readback_skips_bad_blocks_like_the_write),
	        cmocka_unit_test(test_flash_nand_digest_skips_bad_blocks_like_the_write),
	        cmocka_unit_test(test_flash_hello_after_done_resp_pending_is_answered),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
