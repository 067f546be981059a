/*
 * Tests of the station's own policies, on the very unit core `edlstation run`
 * drives (src/station/unit.c), over the in-memory line (src/station/memline.c)
 * with emulated devices and a virtual clock; no umockdev. Each test asserts on
 * outcomes: the run records (results, steps, retry_of, messages, device logs),
 * what the operator was shown, when a unit finished, and the bytes on the
 * emulated storage.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "edlstation/elf_image.h"
#include "edlstation/target.h"
#include "edlstation/unit.h"
#include "testplan.h"
#include "usb/usb_internal.h"

#define MAX_RIG_UNITS 8

struct rig {
	struct testplan tp;
	uint8_t *programmer;
	size_t programmer_len;
	struct edl_sahara_image image;
	struct edl_station_config cfg;
	struct edl_unit_env env;
	struct edl_target_config tcfg[MAX_RIG_UNITS];
	struct edl_target *targets[MAX_RIG_UNITS];
	struct edl_memline_unit units[MAX_RIG_UNITS];
	size_t n;
	struct edl_memline_options opt;
	struct edl_memline_result *res;
};

static void rig_init(struct rig *r, enum edl_storage_kind kind, size_t n)
{
	memset(r, 0, sizeof(*r));
	testplan_build(&r->tp, kind, 11 + (uint32_t)kind);
	assert_int_equal(edl_elf_make_programmer(&r->programmer, &r->programmer_len, 64 * 1024, 3),
	                 EDL_OK);
	r->image.id = 0x0d;
	r->image.data = r->programmer;
	r->image.len = r->programmer_len;
	edl_station_config_default(&r->cfg);
	snprintf(r->cfg.name, sizeof(r->cfg.name), "test");
	r->cfg.reset_delay_s = 0;
	r->env.cfg = &r->cfg;
	r->env.plan = &r->tp.plan;
	r->env.image = &r->image;
	r->env.package_hash = "feedface";
	r->env.store = true;
	r->n = n;
	for (size_t i = 0; i < n; i++) {
		edl_target_config_default(&r->tcfg[i], kind);
		r->tcfg[i].pbl.serial = 0x1a2b3c4du + (uint32_t)i;
		r->tcfg[i].pbl.hwid = 0x000cf0e1000098a9ull;
		snprintf(r->units[i].port, sizeof(r->units[i].port), "1-1.%zu", i + 1);
		snprintf(r->units[i].product, sizeof(r->units[i].product), "QUSB__BULK_SN:%08X",
		         r->tcfg[i].pbl.serial);
	}
	edl_memline_options_default(&r->opt);
	r->res = calloc(1, sizeof(*r->res));
	assert_non_null(r->res);
}

static void rig_run(struct rig *r)
{
	struct edl_error err;

	for (size_t i = 0; i < r->n; i++) {
		assert_int_equal(edl_target_new(&r->targets[i], &r->tcfg[i], &err), EDL_OK);
		r->units[i].target = r->targets[i];
	}
	int rc = edl_memline_run(&r->env, r->units, r->n, &r->opt, r->res, &err);
	if (rc != EDL_OK)
		print_error("line: %s\n%s", err.detail, r->res->show_log);
	assert_int_equal(rc, EDL_OK);
}

static void rig_free(struct rig *r)
{
	for (size_t i = 0; i < r->n; i++)
		edl_target_free(r->targets[i]);
	free(r->programmer);
	testplan_free(&r->tp);
	free(r->res);
}

/* The runs recorded for a port, in order. */
static size_t runs_of(const struct rig *r, const char *port, const struct edl_memline_run **out,
                      size_t max)
{
	size_t k = 0;
	for (size_t i = 0; i < r->res->n_runs && k < max; i++)
		if (strcmp(r->res->runs[i].port, port) == 0)
			out[k++] = &r->res->runs[i];
	return k;
}

static void assert_images_stored(struct rig *r, size_t unit)
{
	struct testplan *tp = &r->tp;
	uint32_t ss = tp->steps[0].sector_size;
	for (size_t i = 0; i < tp->n_images; i++) {
		uint64_t sectors = (tp->image_len[i] + ss - 1) / ss;
		uint8_t *buf = calloc(sectors, ss);
		assert_non_null(buf);
		assert_int_equal(edl_target_read_storage(r->targets[unit], tp->image_lun[i],
		                                         tp->image_sector[i], sectors, buf),
		                 EDL_OK);
		assert_memory_equal(buf, tp->images[i], tp->image_len[i]);
		free(buf);
	}
}

static void assert_shown(const struct rig *r, const char *needle)
{
	if (strstr(r->res->show_log, needle) == NULL) {
		print_error("not shown: %s\n---\n%s", needle, r->res->show_log);
		fail();
	}
}

/* ---- PASS only after the commit --------------------------------------------------- */

static void test_station_pass_shown_only_after_commit(void **state)
{
	struct rig r;
	(void)state;
	rig_init(&r, EDL_STORAGE_EMMC, 1);
	r.opt.commit_delay_ms = 5000;
	rig_run(&r);
	assert_true(r.units[0].finished);
	assert_int_equal(r.units[0].result, EDL_RESULT_PASS);
	assert_int_equal(r.res->n_runs, 1);
	assert_int_equal(r.res->runs[0].result, EDL_RESULT_PASS);
	/* Finished exactly when the commit completed, not when the job ended. */
	assert_int_equal(r.units[0].finished_ms, r.res->runs[0].end_ms + 5000);
	assert_int_equal(r.res->passed, 1);
	assert_images_stored(&r, 0);
	rig_free(&r);
}

static void test_station_failed_commit_is_a_failure_not_pass(void **state)
{
	struct rig r;
	(void)state;
	rig_init(&r, EDL_STORAGE_EMMC, 1);
	r.opt.commit_fail = EDL_E_DB;
	rig_run(&r);
	assert_true(r.units[0].finished);
	assert_int_equal(r.units[0].result, EDL_RESULT_FAIL);
	assert_int_equal(r.units[0].code, EDL_E_NOT_RECORDED);
	assert_int_equal(r.res->passed, 0);
	assert_int_equal(r.res->failed, 1);
	assert_int_equal(r.res->not_recorded, 1);
	assert_shown(&r, "not-recorded: flashed, NOT RECORDED: the result (pass) could not be "
	                 "recorded: injected commit failure; set the unit aside");
	assert_null(strstr(r.res->show_log, "pass:"));
	rig_free(&r);
}

/* A disk full: the store keeps the result, the unit is a station fault (NOT
 * RECORDED, counted failed and not_recorded), never PASS, on every unit. */
static void test_station_kept_commit_is_not_recorded_station_fault(void **state)
{
	struct rig r;
	(void)state;
	rig_init(&r, EDL_STORAGE_UFS, 3);
	r.opt.commit_fail = EDL_E_DB_FULL;
	r.opt.commit_kept = true;
	rig_run(&r);
	for (size_t i = 0; i < 3; i++) {
		assert_true(r.units[i].finished);
		assert_int_equal(r.units[i].result, EDL_RESULT_FAIL);
		assert_int_equal(r.units[i].code, EDL_E_NOT_RECORDED);
		assert_int_equal(r.units[i].cls, EDL_CLASS_STATION);
		assert_images_stored(&r, i); /* flashed all the same */
	}
	assert_int_equal(r.res->passed, 0);
	assert_int_equal(r.res->failed, 3);
	assert_int_equal(r.res->not_recorded, 3);
	assert_shown(&r, "it is kept and will be recorded once the database can write again");
	rig_free(&r);
}

/* The writer refuses the run's start: the unit fails before any byte goes
 * out, as a station fault, not retried. */
static void test_station_refused_run_start_flashes_nothing(void **state)
{
	struct rig r;
	(void)state;
	rig_init(&r, EDL_STORAGE_EMMC, 1);
	r.cfg.retries = 2;
	r.opt.run_start_fail = EDL_E_DB_FULL;
	rig_run(&r);
	assert_true(r.units[0].finished);
	assert_int_equal(r.units[0].result, EDL_RESULT_FAIL);
	assert_int_equal(r.units[0].code, EDL_E_NOT_RECORDED);
	assert_int_equal(r.units[0].cls, EDL_CLASS_STATION);
	assert_int_equal(r.res->n_runs, 0);
	assert_int_equal(r.res->max_inflight_bytes, 0); /* not one byte went out */
	assert_int_equal(r.res->failed, 1);
	assert_shown(&r, "the results database refused to record the run (database disk is "
	                 "full): the unit was not flashed");
	assert_null(strstr(r.res->show_log, "retry:"));
	rig_free(&r);
}

/* A NAND package on UFS units: the programmer refuses the storage type at
 * configure; a wrong package, named, not retried. */
static void test_station_wrong_package_not_retried(void **state)
{
	struct rig r;
	(void)state;
	rig_init(&r, EDL_STORAGE_NAND, 2);
	r.cfg.retries = 3;
	for (size_t i = 0; i < r.n; i++) {
		uint32_t serial = r.tcfg[i].pbl.serial;
		edl_target_config_default(&r.tcfg[i], EDL_STORAGE_UFS);
		r.tcfg[i].pbl.serial = serial;
	}
	rig_run(&r);
	for (size_t i = 0; i < r.n; i++) {
		const struct edl_memline_run *runs[4];
		assert_int_equal(runs_of(&r, r.units[i].port, runs, 4), 1);
		assert_int_equal(runs[0]->attempt, 1);
		assert_int_equal(runs[0]->error_code, EDL_E_WRONG_PACKAGE);
		assert_int_equal(r.units[i].code, EDL_E_WRONG_PACKAGE);
		assert_int_equal(r.units[i].cls, EDL_CLASS_WRONG_PACKAGE);
	}
	assert_shown(&r, "this package is for nand units");
	assert_null(strstr(r.res->show_log, "retry:"));
	rig_free(&r);
}

/* A programmer whose payload is below the package's sector size cannot send
 * one sector: a wrong package at configure, not an invalid argument retried. */
static void test_station_payload_below_sector_is_wrong_package(void **state)
{
	struct rig r;
	(void)state;
	rig_init(&r, EDL_STORAGE_NAND, 1);
	r.cfg.retries = 2;
	r.tcfg[0].faults.payload_max = 512;
	rig_run(&r);
	const struct edl_memline_run *runs[4];
	assert_int_equal(runs_of(&r, "1-1.1", runs, 4), 1);
	assert_int_equal(runs[0]->error_code, EDL_E_WRONG_PACKAGE);
	assert_string_equal(runs[0]->stage, "configure");
	assert_shown(&r, "takes at most 512 bytes per transfer, less than one 4096-byte sector");
	rig_free(&r);
}

/* ---- the line guard ----------------------------------------------------------------- */

static void guard_cfg(struct edl_station_config *cfg, unsigned after, unsigned slots,
                      uint32_t window_s)
{
	edl_station_config_default(cfg);
	cfg->stop_after = after;
	cfg->stop_slots = slots;
	cfg->stop_window_s = window_s;
}

static void test_line_guard_stops_after_same_class_in_a_row(void **state)
{
	struct edl_station_config cfg;
	struct edl_line_guard g;
	struct edl_line_verdict v;
	(void)state;
	guard_cfg(&cfg, 3, 0, 60);
	edl_line_guard_init(&g, &cfg);
	assert_false(edl_line_guard_feed(&g, 1, EDL_E_WRONG_PACKAGE, 1000, &v));
	assert_false(edl_line_guard_feed(&g, 1, EDL_E_WRONG_PACKAGE, 2000, &v));
	assert_true(edl_line_guard_feed(&g, 1, EDL_E_WRONG_PACKAGE, 3000, &v));
	assert_true(v.stop);
	assert_int_equal(v.cls, EDL_CLASS_WRONG_PACKAGE);
	assert_string_equal(v.reason, "3 units in a row failed: wrong package");
	assert_string_equal(v.check, "check the package matches the units (storage type, product)");
}

static void test_line_guard_pass_or_other_class_resets_the_run(void **state)
{
	struct edl_station_config cfg;
	struct edl_line_guard g;
	struct edl_line_verdict v;
	(void)state;
	guard_cfg(&cfg, 3, 0, 60);
	edl_line_guard_init(&g, &cfg);
	assert_false(edl_line_guard_feed(&g, 1, EDL_E_WRONG_PACKAGE, 1000, &v));
	assert_false(edl_line_guard_feed(&g, 2, EDL_E_WRONG_PACKAGE, 1000, &v));
	assert_false(edl_line_guard_feed(&g, 3, EDL_OK, 1000, &v)); /* a pass */
	assert_false(v.stop);
	assert_false(edl_line_guard_feed(&g, 1, EDL_E_WRONG_PACKAGE, 1000, &v));
	assert_false(edl_line_guard_feed(&g, 2, EDL_E_WRONG_PACKAGE, 1000, &v));
	/* Another class breaks the run too: re-seat is not a wrong package. */
	assert_false(edl_line_guard_feed(&g, 3, EDL_E_USB_GONE, 1000, &v));
	assert_false(edl_line_guard_feed(&g, 1, EDL_E_WRONG_PACKAGE, 1000, &v));
	assert_false(edl_line_guard_feed(&g, 2, EDL_E_WRONG_PACKAGE, 1000, &v));
	assert_true(edl_line_guard_feed(&g, 2, EDL_E_PKG_GEOMETRY, 1000, &v)); /* same class */
	/* After a resume nothing before counts. */
	edl_line_guard_reset(&g);
	assert_false(edl_line_guard_feed(&g, 1, EDL_E_WRONG_PACKAGE, 2000, &v));
	assert_false(edl_line_guard_feed(&g, 1, EDL_E_WRONG_PACKAGE, 2000, &v));
}

static void test_line_guard_stops_on_slots_within_window(void **state)
{
	struct edl_station_config cfg;
	struct edl_line_guard g;
	struct edl_line_verdict v;
	(void)state;
	guard_cfg(&cfg, 0, 3, 60); /* in a row: off */
	edl_line_guard_init(&g, &cfg);
	assert_false(edl_line_guard_feed(&g, 1, EDL_E_USB_GONE, 1000, &v));
	assert_false(edl_line_guard_feed(&g, 1, EDL_E_USB_GONE, 2000, &v)); /* same slot */
	assert_false(edl_line_guard_feed(&g, 2, EDL_E_USB_GONE, 3000, &v));
	assert_false(edl_line_guard_feed(&g, 9, EDL_OK, 3500, &v));
	/* A different class on a third slot does not count for this one. */
	assert_false(edl_line_guard_feed(&g, 3, EDL_E_POWER_CYCLE, 4000, &v));
	assert_true(edl_line_guard_feed(&g, 4, EDL_E_STALLED, 5000, &v));
	assert_int_equal(v.cls, EDL_CLASS_RESEAT);
	assert_string_equal(v.reason, "3 slots failed within 60 s: cable or contact (re-seat)");
	assert_string_equal(v.check, "check the cables, the hub and its power supply");

	/* Outside the window the old failures no longer count. */
	edl_line_guard_init(&g, &cfg);
	assert_false(edl_line_guard_feed(&g, 1, EDL_E_USB_GONE, 1000, &v));
	assert_false(edl_line_guard_feed(&g, 2, EDL_E_USB_GONE, 2000, &v));
	assert_false(edl_line_guard_feed(&g, 3, EDL_E_USB_GONE, 70000, &v));
	assert_false(edl_line_guard_feed(&g, 4, EDL_E_USB_GONE, 71000, &v));
	assert_true(edl_line_guard_feed(&g, 5, EDL_E_USB_GONE, 72000, &v));
}

static void test_line_guard_off_never_stops(void **state)
{
	struct edl_station_config cfg;
	struct edl_line_guard g;
	struct edl_line_verdict v;
	(void)state;
	guard_cfg(&cfg, 0, 0, 60);
	edl_line_guard_init(&g, &cfg);
	for (int i = 0; i < 1000; i++)
		assert_false(edl_line_guard_feed(&g, i % 32, EDL_E_WRONG_PACKAGE, (uint64_t)i, &v));
	/* Every class has words and something to check. */
	for (int c = EDL_CLASS_RESEAT; c < EDL_CLASS_COUNT; c++) {
		assert_string_not_equal(edl_line_guard_class_words((enum edl_error_class)c),
		                        "unknown");
		assert_string_not_equal(edl_line_guard_check((enum edl_error_class)c),
		                        "check the line");
	}
}

/* ---- per-step records and device logs, from the job's events ------------------------ */

static void test_station_records_every_step_of_a_pass(void **state)
{
	struct rig r;
	(void)state;
	rig_init(&r, EDL_STORAGE_NAND, 1);
	/* 1-byte Firehose reads: the records do not depend on the framing. */
	r.opt.fragment = EDL_MEMLINE_FIXED;
	r.opt.fragment_size = 1;
	rig_run(&r);
	const struct edl_memline_run *run = &r.res->runs[0];
	assert_int_equal(run->result, EDL_RESULT_PASS);
	assert_int_equal(run->n_steps, r.tp.plan.n_steps);
	uint64_t programmed = 0;
	for (size_t i = 0; i < run->n_steps; i++) {
		const struct edl_plan_step *ps = &r.tp.plan.steps[i];
		assert_int_equal(run->steps[i].result, EDL_STEP_RESULT_PASS);
		assert_int_equal(run->steps[i].kind, ps->kind);
		assert_string_equal(run->steps[i].label, ps->label);
		assert_true(run->steps[i].duration_ms >= 0);
		if (ps->kind == EDL_STEP_PROGRAM) {
			/* Raw bytes the job sent for the step, as its STEP_END said. */
			assert_int_equal(run->steps[i].bytes, ps->num_sectors * ps->sector_size);
			programmed += run->steps[i].bytes;
		}
	}
	assert_int_equal(programmed, r.tp.plan.total_bytes);
	assert_images_stored(&r, 0);
	rig_free(&r);
}

static void test_station_records_failed_step_skipped_rest_and_device_log(void **state)
{
	struct rig r;
	(void)state;
	rig_init(&r, EDL_STORAGE_EMMC, 1);
	r.cfg.retries = 0;
	snprintf(r.tcfg[0].faults.nak_command, sizeof(r.tcfg[0].faults.nak_command), "program");
	r.tcfg[0].faults.nak_nth = 2;
	rig_run(&r);
	const struct edl_memline_run *run = &r.res->runs[0];
	assert_int_equal(r.res->n_runs, 1);
	assert_int_equal(run->result, EDL_RESULT_FAIL);
	assert_string_equal(run->stage, "program");
	assert_int_equal(run->error_code, EDL_E_FH_NAK);
	size_t programs = 0, failed = 0, skipped = 0, passed = 0;
	for (size_t i = 0; i < run->n_steps; i++) {
		if (r.tp.plan.steps[i].kind == EDL_STEP_PROGRAM && ++programs == 2)
			assert_int_equal(run->steps[i].result, EDL_STEP_RESULT_FAIL);
		failed += run->steps[i].result == EDL_STEP_RESULT_FAIL;
		skipped += run->steps[i].result == EDL_STEP_RESULT_SKIPPED;
		passed += run->steps[i].result == EDL_STEP_RESULT_PASS;
		/* Nothing after the failed step ran. */
		if (failed > 0 && run->steps[i].result != EDL_STEP_RESULT_FAIL)
			assert_int_equal(run->steps[i].result, EDL_STEP_RESULT_SKIPPED);
	}
	assert_int_equal(failed, 1);
	assert_true(passed >= 1);
	assert_true(skipped >= 1);
	/* The device's own words are kept with the failed run. */
	bool found = false;
	for (size_t i = 0; i < run->n_logs; i++)
		found = found || strstr(run->logs[i], "injected failure") != NULL;
	assert_true(found);
	rig_free(&r);
}

/* ---- retries ------------------------------------------------------------------------ */

static void test_station_retry_counts_attempts_and_links_retry_of(void **state)
{
	struct rig r;
	(void)state;
	rig_init(&r, EDL_STORAGE_EMMC, 1);
	r.cfg.retries = 2;
	/* The first program command of the unit's life is refused; the retry's
	 * first program is its second and passes. */
	snprintf(r.tcfg[0].faults.nak_command, sizeof(r.tcfg[0].faults.nak_command), "program");
	r.tcfg[0].faults.nak_nth = 1;
	rig_run(&r);
	const struct edl_memline_run *runs[4];
	assert_int_equal(runs_of(&r, "1-1.1", runs, 4), 2);
	assert_int_equal(runs[0]->attempt, 1);
	assert_int_equal(runs[0]->retry_of, 0);
	assert_int_equal(runs[0]->result, EDL_RESULT_FAIL);
	assert_int_equal(runs[1]->attempt, 2);
	assert_int_equal(runs[1]->retry_of, runs[0]->id);
	assert_int_equal(runs[1]->result, EDL_RESULT_PASS);
	assert_int_equal(r.units[0].result, EDL_RESULT_PASS);
	assert_int_equal(r.res->passed, 1);
	assert_int_equal(r.res->failed, 0);
	assert_shown(&r, "(attempt 1 of 3)");
	assert_images_stored(&r, 0);
	rig_free(&r);
}

static void test_station_power_cycle_is_not_retried(void **state)
{
	struct rig r;
	(void)state;
	rig_init(&r, EDL_STORAGE_EMMC, 1);
	r.cfg.retries = 3;
	r.tcfg[0].faults.silent = true; /* answers nothing: only a power cycle helps */
	rig_run(&r);
	const struct edl_memline_run *runs[4];
	assert_int_equal(runs_of(&r, "1-1.1", runs, 4), 1);
	assert_int_equal(runs[0]->error_code, EDL_E_POWER_CYCLE);
	assert_int_equal(r.units[0].result, EDL_RESULT_FAIL);
	assert_shown(&r, "power-cycle the unit on slot 1-1.1");
	rig_free(&r);
}

static void test_station_unplugged_unit_fails_once_neighbours_pass(void **state)
{
	struct rig r;
	(void)state;
	rig_init(&r, EDL_STORAGE_EMMC, 3);
	r.cfg.retries = 2;
	r.tcfg[1].faults.unplug_at_bytes = 30 * 1024; /* raw data of the plan */
	rig_run(&r);
	assert_int_equal(r.units[0].result, EDL_RESULT_PASS);
	assert_int_equal(r.units[2].result, EDL_RESULT_PASS);
	assert_int_equal(r.units[1].result, EDL_RESULT_FAIL);
	const struct edl_memline_run *runs[4];
	assert_int_equal(runs_of(&r, "1-1.2", runs, 4), 1); /* a unit that left is not retried */
	assert_int_equal(runs[0]->error_code, EDL_E_USB_GONE);
	assert_non_null(strstr(runs[0]->message, "unplugged during program"));
	assert_images_stored(&r, 0);
	assert_images_stored(&r, 2);
	rig_free(&r);
}

/* ---- the per-serial lock ------------------------------------------------------------ */

static void serial_lock(bool product_names_serial)
{
	struct rig r;
	rig_init(&r, EDL_STORAGE_EMMC, 2);
	/* The same chip serial on two ports: a clone, or one unit seen twice. */
	r.tcfg[1].pbl.serial = r.tcfg[0].pbl.serial;
	r.tcfg[0].faults.write_rate_bps = 32 * 1024; /* still flashing when the second comes */
	r.units[1].attach_ms = r.opt.start_ms + 50;
	for (size_t i = 0; i < 2; i++) {
		if (product_names_serial)
			snprintf(r.units[i].product, sizeof(r.units[i].product),
			         "QUSB__BULK_SN:%08X", r.tcfg[0].pbl.serial);
		else
			snprintf(r.units[i].product, sizeof(r.units[i].product), "QUSB__BULK");
	}
	rig_run(&r);
	assert_int_equal(r.units[0].result, EDL_RESULT_PASS);
	assert_int_equal(r.units[1].result, EDL_RESULT_FAIL);
	const struct edl_memline_run *runs[4];
	/* One policy either way: the refusal is a recorded, failed run. */
	assert_int_equal(runs_of(&r, "1-1.2", runs, 4), 1);
	assert_int_equal(runs[0]->result, EDL_RESULT_FAIL);
	assert_int_equal(runs[0]->error_code, EDL_E_SERIAL_BUSY);
	assert_string_equal(runs[0]->serial, "1a2b3c4d");
	assert_non_null(strstr(runs[0]->message, "already being flashed on port 1-1.1"));
	/* The refused unit never reached the programmer. */
	assert_int_equal(edl_target_commands_seen(r.targets[1], "program"), 0);
	assert_images_stored(&r, 0);
	rig_free(&r);
}

static void test_station_serial_lock_refuses_second_unit_by_usb_serial(void **state)
{
	(void)state;
	serial_lock(true);
}

static void test_station_serial_lock_refuses_second_unit_by_chip_serial(void **state)
{
	(void)state;
	serial_lock(false);
}

static void test_station_serial_free_again_after_unit_closed(void **state)
{
	struct rig r;
	(void)state;
	rig_init(&r, EDL_STORAGE_EMMC, 2);
	r.tcfg[1].pbl.serial = r.tcfg[0].pbl.serial;
	snprintf(r.units[1].product, sizeof(r.units[1].product), "%s", r.units[0].product);
	r.units[1].attach_ms = r.opt.start_ms + 600000; /* long after the first closed */
	rig_run(&r);
	assert_int_equal(r.units[0].result, EDL_RESULT_PASS);
	assert_int_equal(r.units[1].result, EDL_RESULT_PASS);
	rig_free(&r);
}

/* ---- admission: concurrency limit, unmapped ports --------------------------------- */

static void test_station_concurrency_limit_holds_units_back(void **state)
{
	struct rig r;
	(void)state;
	rig_init(&r, EDL_STORAGE_EMMC, 4);
	r.cfg.concurrency = 2;
	rig_run(&r);
	assert_int_equal(r.res->max_active, 2);
	assert_int_equal(r.res->passed, 4);
	for (size_t i = 0; i < 4; i++)
		assert_images_stored(&r, i);
	/* The held-back units started only when a slot was freed. */
	uint64_t first_close = r.units[0].closed_ms < r.units[1].closed_ms ? r.units[0].closed_ms
	                                                                   : r.units[1].closed_ms;
	assert_true(r.res->runs[2].start_ms >= first_close);
	rig_free(&r);
}

static void test_station_policy_admit(void **state)
{
	struct edl_station_config cfg;
	(void)state;
	edl_station_config_default(&cfg);
	snprintf(cfg.ports[0].port, sizeof(cfg.ports[0].port), "1-1.1");
	snprintf(cfg.ports[0].label, sizeof(cfg.ports[0].label), "A1");
	cfg.ports[0].slot = 1;
	cfg.n_ports = 1;
	cfg.concurrency = 3;
	assert_int_equal(edl_station_admit(&cfg, "1-1.1", 2), EDL_ADMIT_START);
	assert_int_equal(edl_station_admit(&cfg, "1-1.1", 3), EDL_ADMIT_WAIT);
	assert_int_equal(edl_station_admit(&cfg, "1-9", 0), EDL_ADMIT_START);
	cfg.accept_unmapped = false;
	assert_int_equal(edl_station_admit(&cfg, "1-9", 0), EDL_ADMIT_UNMAPPED);
	assert_int_equal(edl_station_admit(&cfg, "1-1.1", 0), EDL_ADMIT_START);
	cfg.concurrency = 0;
	assert_int_equal(edl_station_admit(&cfg, "1-1.1", 1000), EDL_ADMIT_START);
}

static void test_station_unmapped_port_refused(void **state)
{
	struct rig r;
	(void)state;
	rig_init(&r, EDL_STORAGE_EMMC, 2);
	snprintf(r.cfg.ports[0].port, sizeof(r.cfg.ports[0].port), "1-1.1");
	snprintf(r.cfg.ports[0].label, sizeof(r.cfg.ports[0].label), "A1");
	r.cfg.ports[0].slot = 1;
	r.cfg.n_ports = 1;
	r.cfg.accept_unmapped = false;
	snprintf(r.units[1].port, sizeof(r.units[1].port), "3-4");
	rig_run(&r);
	assert_int_equal(r.units[0].result, EDL_RESULT_PASS);
	assert_true(r.units[1].refused);
	assert_false(r.units[1].finished);
	const struct edl_memline_run *runs[2];
	assert_int_equal(runs_of(&r, "3-4", runs, 2), 0);
	/* Not a byte was sent to it: its programmer was never uploaded. */
	uint8_t sha[32], zero[32] = {0};
	edl_target_programmer_sha256(r.targets[1], sha);
	assert_memory_equal(sha, zero, 32);
	rig_free(&r);
}

/* ---- the in-flight budget ------------------------------------------------------------ */

static void test_station_budget_fair_share(void **state)
{
	(void)state;
	assert_int_equal(edl_station_budget_share(12u << 20, 3), 4u << 20);
	assert_int_equal(edl_station_budget_share(12u << 20, 1), 12u << 20);
	assert_int_equal(edl_station_budget_share(12u << 20, 0), 12u << 20);
	assert_int_equal(edl_station_budget_share(1000, 8), 125);
}

static void test_station_budget_round_robin(void **state)
{
	size_t rr = 0;
	size_t got[6];
	(void)state;
	for (size_t i = 0; i < 6; i++)
		got[i] = edl_station_budget_first(&rr, 3);
	/* Every waiting unit is served first in turn, none twice in a row. */
	size_t want[6] = {0, 1, 2, 0, 1, 2};
	assert_memory_equal(got, want, sizeof(want));
	assert_int_equal(edl_station_budget_first(&rr, 0), 0);
}

static void test_station_budget_bounds_bytes_in_flight(void **state)
{
	struct rig r;
	(void)state;
	rig_init(&r, EDL_STORAGE_EMMC, 4);
	r.cfg.inflight = 8;
	r.cfg.max_payload = 256 * 1024;
	r.opt.budget = 512 * 1024;
	rig_run(&r);
	assert_int_equal(r.res->passed, 4);
	assert_true(r.res->max_inflight_bytes <= 512 * 1024);
	assert_true(r.res->max_inflight_bytes > 0);
	for (size_t i = 0; i < 4; i++)
		assert_images_stored(&r, i);
	rig_free(&r);
}

static unsigned budget_calls;
static void on_budget(struct edl_usb *usb, void *data)
{
	(void)usb;
	(void)data;
	budget_calls++;
}

/* src/usb's budget: a transfer is refused (EDL_E_AGAIN) above the budget, one
 * alone may exceed it, and releasing wakes the waiting sessions. */
static void test_usb_budget_take_and_release(void **state)
{
	struct edl_usb usb;
	(void)state;
	memset(&usb, 0, sizeof(usb));
	usb.budget = 100;
	usb.budget_cb = on_budget;
	budget_calls = 0;
	assert_true(edl_usb_budget_take(&usb, 60));
	assert_false(edl_usb_budget_take(&usb, 60));
	assert_true(edl_usb_budget_take(&usb, 40));
	assert_int_equal(usb.budget_used, 100);
	edl_usb_budget_release(&usb, 60, false);
	assert_int_equal(budget_calls, 0);
	edl_usb_budget_release(&usb, 40, true);
	assert_int_equal(budget_calls, 1);
	assert_int_equal(usb.budget_used, 0);
	assert_true(edl_usb_budget_take(&usb, 500)); /* alone, above the budget */
	assert_false(edl_usb_budget_take(&usb, 1));
}

/* ---- shutdown --------------------------------------------------------------------- */

static void test_station_stop_records_running_unit_interrupted(void **state)
{
	struct rig r;
	(void)state;
	rig_init(&r, EDL_STORAGE_EMMC, 1);
	/* Slow storage: the stop comes in the middle of the plan. */
	r.tcfg[0].faults.write_rate_bps = 16 * 1024;
	r.opt.stop_at_ms = r.opt.start_ms + 1500;
	rig_run(&r);
	assert_int_equal(r.units[0].result, EDL_RESULT_INTERRUPTED);
	assert_int_equal(r.res->interrupted, 1);
	assert_int_equal(r.res->n_runs, 1);
	assert_int_equal(r.res->runs[0].result, EDL_RESULT_INTERRUPTED);
	assert_int_equal(r.res->runs[0].error_code, EDL_E_INTERRUPTED);
	assert_non_null(strstr(r.res->runs[0].message, "station stopped during"));
	/* Stopped at once, not after the plan. */
	assert_true(r.units[0].finished_ms < r.opt.start_ms + 1500 + 100);
	rig_free(&r);
}

/* ---- a unit that stops taking data ------------------------------------------------- */

/* Stalls unit 2 of 3 after `bytes` OUT bytes past the programmer's size
 * (negative: inside the upload). */
static void stall_at(int64_t bytes, const char *where, bool device_fault)
{
	struct rig r;
	rig_init(&r, EDL_STORAGE_EMMC, 3);
	r.cfg.retries = 1; /* a stall is not retried */
	r.cfg.progress_timeout_ms = 2000;
	/* The transport stops completing OUT, or the device's stall-at fault does. */
	if (device_fault)
		r.tcfg[1].faults.stall_at_bytes = (uint64_t)((int64_t)r.programmer_len + bytes);
	else
		r.units[1].stall_at_bytes = (uint64_t)((int64_t)r.programmer_len + bytes);
	rig_run(&r);
	assert_int_equal(r.units[0].result, EDL_RESULT_PASS);
	assert_int_equal(r.units[2].result, EDL_RESULT_PASS);
	assert_images_stored(&r, 0);
	assert_images_stored(&r, 2);
	assert_int_equal(r.units[1].result, EDL_RESULT_FAIL);
	assert_true(r.units[1].cancels >= 1); /* its transfers were cancelled */
	assert_true(r.units[1].closed);       /* its slot was freed */
	const struct edl_memline_run *runs[4];
	assert_int_equal(runs_of(&r, "1-1.2", runs, 4), 1); /* not retried */
	assert_int_equal(runs[0]->error_code, EDL_E_STALLED);
	if (strstr(runs[0]->message, "stopped accepting data") == NULL ||
	    strstr(runs[0]->message, where) == NULL) {
		print_error("message: %s\n", runs[0]->message);
		fail();
	}
	/* Failed within the progress deadline (plus the time the pass took before
	 * the stall), while the neighbours did not wait for it. */
	assert_true(r.units[1].finished_ms - r.opt.start_ms < 2000 + 3000);
	rig_free(&r);
}

static void test_station_stall_in_sahara_upload_fails_unit(void **state)
{
	(void)state;
	stall_at(-40 * 1024, "of the programmer upload", false);
	/* The device took the transfer that tripped it: first a silent device,
	 * then, with our next bytes pending, a stall. */
	stall_at(-40 * 1024, "of the programmer upload", true);
}

static void test_station_stall_in_program_fails_unit(void **state)
{
	(void)state;
	/* Inside the second image (after the first and a few commands). */
	stall_at(8000, "of 22,528 of boot.img", false);
	stall_at(8000, "of 22,528 of boot.img", true);
}

/* ---- the job's options: one place -------------------------------------------------- */

static void test_station_job_options_built_in_one_place(void **state)
{
	struct edl_station_config cfg;
	struct edl_flash_options o;
	struct testplan tp;
	struct edl_sahara_image img = {.id = 0x0d};
	(void)state;
	testplan_build(&tp, EDL_STORAGE_NAND, 3);
	edl_station_config_default(&cfg);
	edl_unit_job_options(&o, &cfg, &tp.plan, &img, 1, true);
	assert_true(o.set_bootable); /* NAND too: QFirehose sends value 0 */
	assert_int_equal(o.bootable_lun, tp.plan.bootable_lun);
	assert_int_equal(o.final_power_delay_s, 10);
	assert_int_equal(o.verify, EDL_VERIFY_AUTO);
	assert_true(o.reuse_running_programmer);
	assert_int_equal(o.progress_timeout_ms, cfg.progress_timeout_ms);
	edl_unit_job_options(&o, &cfg, &tp.plan, &img, 1, false);
	assert_false(o.reuse_running_programmer);
	edl_unit_job_options(&o, &cfg, &tp.plan, &img, 2, false);
	assert_true(o.reuse_running_programmer);
	assert_int_equal(o.sahara.hello_wait_ms, 100);
	cfg.verify = EDL_VERIFY_READBACK;
	cfg.identify_only = true;
	edl_unit_job_options(&o, &cfg, &tp.plan, &img, 1, true);
	assert_int_equal(o.verify, EDL_VERIFY_READBACK);
	assert_null(o.plan);
	testplan_free(&tp);
}

/* ---- the identity gate (issue 15) --------------------------------------------------- */

struct gate {
	int calls;
	int rc;                     /* what the callback returns: EDL_OK or EDL_E_AGAIN */
	struct edl_unit_decision d; /* what it decides when rc is EDL_OK */
	char serial[16];            /* the serial the gate saw */
	bool had_sahara;
	uint32_t msm;
};

static int gate_identified(struct edl_unit *u, const struct edl_unit_identity *id,
                           struct edl_unit_decision *out, void *data)
{
	struct gate *g = data;
	(void)u;
	g->calls++;
	snprintf(g->serial, sizeof(g->serial), "%s", id->serial);
	g->had_sahara = id->sahara != NULL;
	g->msm = id->sahara ? id->sahara->msm_id : 0;
	*out = g->d;
	return g->rc;
}

static void gate_init(struct rig *r, struct gate *g, size_t n)
{
	rig_init(r, EDL_STORAGE_EMMC, n);
	memset(g, 0, sizeof(*g));
	g->rc = EDL_OK;
	r->env.identified = gate_identified;
	r->env.identified_data = g;
}

static bool programmer_received(struct rig *r, size_t unit)
{
	uint8_t sha[32], zero[32] = {0};
	edl_target_programmer_sha256(r->targets[unit], sha);
	return memcmp(sha, zero, sizeof(sha)) != 0;
}

/* Held, then released with the routed package (the env has none: no default
 * route), after an asynchronous wait: flashed, product recorded. */
static void test_gate_held_then_released_with_routed_package(void **state)
{
	struct rig r;
	struct gate g;
	(void)state;
	gate_init(&r, &g, 1);
	r.env.plan = NULL; /* only the decision names a package */
	g.d.plan = &r.tp.plan;
	g.d.image = &r.image;
	g.d.product = "alpha";
	g.d.route = "alpha";
	g.d.package_hash = "a1a1";
	r.opt.decision_delay_ms = 3000; /* longer than any Sahara or progress timer */
	r.cfg.packet_timeout_ms = 1000;
	rig_run(&r);
	assert_int_equal(g.calls, 1);
	assert_string_equal(g.serial, "1a2b3c4d");
	assert_true(g.had_sahara);
	assert_int_equal(g.msm, 0x000cf0e1);
	assert_int_equal(r.units[0].result, EDL_RESULT_PASS);
	assert_images_stored(&r, 0);
	assert_int_equal(r.res->n_runs, 1);
	assert_string_equal(r.res->runs[0].product, "alpha");
	assert_string_equal(r.res->runs[0].package_hash, "a1a1");
	/* The wait did not count against the unit: flashed after the decision. */
	assert_true(r.units[0].finished_ms >= r.opt.start_ms + 3000);
	assert_non_null(strstr(r.res->show_log, "held: identified; waiting for the decision"));
	assert_non_null(strstr(r.res->show_log, "routed: route alpha: product alpha"));
	rig_free(&r);
}

/* Refused at the gate: failed with the decision's code and words, recorded,
 * not retried, and not one programmer byte went out. */
static void test_gate_held_then_refused_before_upload(void **state)
{
	struct rig r;
	struct gate g;
	(void)state;
	gate_init(&r, &g, 2);
	r.cfg.retries = 2;
	g.d.refuse = true;
	g.d.code = EDL_E_PK_MISMATCH;
	snprintf(g.d.message, sizeof(g.d.message),
	         "secure-boot key mismatch: this unit's OEM key is 0123, no programmer for it");
	rig_run(&r);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(r.units[i].result, EDL_RESULT_FAIL);
		assert_int_equal(r.units[i].code, EDL_E_PK_MISMATCH);
		assert_int_equal(r.units[i].cls, EDL_CLASS_WRONG_PROGRAMMER);
		assert_false(programmer_received(&r, i));
		assert_int_equal(edl_target_commands_seen(r.targets[i], "configure"), 0);
	}
	assert_int_equal(r.res->n_runs, 2); /* once each: not retried */
	assert_int_equal(r.res->runs[0].error_code, EDL_E_PK_MISMATCH);
	assert_string_equal(r.res->runs[0].stage, "sahara");
	assert_non_null(strstr(r.res->runs[0].message, "secure-boot key mismatch"));
	rig_free(&r);
}

/* Held with no decision coming, then unplugged: failed as gone, no upload. */
static void test_gate_held_then_detached(void **state)
{
	struct rig r;
	struct gate g;
	(void)state;
	gate_init(&r, &g, 1);
	g.rc = EDL_E_AGAIN;
	r.units[0].detach_at_ms = r.opt.start_ms + 4000;
	rig_run(&r);
	assert_int_equal(g.calls, 1);
	assert_int_equal(r.units[0].result, EDL_RESULT_FAIL);
	assert_int_equal(r.units[0].code, EDL_E_USB_GONE);
	assert_true(r.units[0].finished_ms >= r.opt.start_ms + 4000);
	assert_false(programmer_received(&r, 0));
	assert_int_equal(r.res->n_runs, 1);
	assert_non_null(strstr(r.res->runs[0].message, "unplugged during sahara"));
	rig_free(&r);
}

/* Held, then the station stops: the run is interrupted, nothing uploaded. */
static void test_gate_held_then_stopped(void **state)
{
	struct rig r;
	struct gate g;
	(void)state;
	gate_init(&r, &g, 1);
	g.rc = EDL_E_AGAIN;
	r.opt.stop_at_ms = r.opt.start_ms + 5000;
	rig_run(&r);
	assert_int_equal(r.units[0].result, EDL_RESULT_INTERRUPTED);
	assert_int_equal(r.res->runs[0].result, EDL_RESULT_INTERRUPTED);
	assert_int_equal(r.res->runs[0].error_code, EDL_E_INTERRUPTED);
	assert_true(r.units[0].finished_ms >= r.opt.start_ms + 5000);
	assert_false(programmer_received(&r, 0));
	rig_free(&r);
}

/* No decision ever: the hold is bounded, the unit fails with words for it. */
static void test_gate_hold_is_bounded(void **state)
{
	struct rig r;
	struct gate g;
	(void)state;
	gate_init(&r, &g, 1);
	g.rc = EDL_E_AGAIN;
	r.cfg.retries = 0;
	r.env.hold_timeout_ms = 7000;
	rig_run(&r);
	assert_int_equal(r.units[0].result, EDL_RESULT_FAIL);
	assert_int_equal(r.units[0].code, EDL_E_TIMEOUT);
	assert_non_null(strstr(r.res->runs[0].message, "held at identity for 7000 ms"));
	assert_true(r.units[0].finished_ms >= r.opt.start_ms + 7000);
	assert_false(programmer_received(&r, 0));
	rig_free(&r);
}

/* Released without any package (no env plan, none in the decision): refused,
 * never a pass for a unit nothing was flashed on. */
static void test_gate_release_without_package_is_refused(void **state)
{
	struct rig r;
	struct gate g;
	(void)state;
	gate_init(&r, &g, 1);
	r.env.plan = NULL;
	rig_run(&r);
	assert_int_equal(r.units[0].result, EDL_RESULT_FAIL);
	assert_int_equal(r.units[0].code, EDL_E_NO_ROUTE);
	assert_false(programmer_received(&r, 0));
	rig_free(&r);
}

/* A decided unit that fails and is retried is not held again. */
static void test_gate_retry_reuses_the_decision(void **state)
{
	struct rig r;
	struct gate g;
	(void)state;
	gate_init(&r, &g, 1);
	r.cfg.retries = 2;
	g.d.product = "alpha";
	r.tcfg[0].faults.unplug_at_bytes = 0;
	snprintf(r.tcfg[0].faults.nak_command, sizeof(r.tcfg[0].faults.nak_command), "program");
	r.tcfg[0].faults.nak_nth = 1;
	rig_run(&r);
	assert_int_equal(g.calls, 1);
	assert_int_equal(r.units[0].result, EDL_RESULT_PASS);
	assert_true(r.res->n_runs >= 2);
	assert_string_equal(r.res->runs[0].product, "alpha");
	assert_string_equal(r.res->runs[1].product, "alpha"); /* recorded at its start */
	rig_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_station_pass_shown_only_after_commit),
	        cmocka_unit_test(test_station_failed_commit_is_a_failure_not_pass),
	        cmocka_unit_test(test_station_kept_commit_is_not_recorded_station_fault),
	        cmocka_unit_test(test_station_refused_run_start_flashes_nothing),
	        cmocka_unit_test(test_station_wrong_package_not_retried),
	        cmocka_unit_test(test_station_payload_below_sector_is_wrong_package),
	        cmocka_unit_test(test_line_guard_stops_after_same_class_in_a_row),
	        cmocka_unit_test(test_line_guard_pass_or_other_class_resets_the_run),
	        cmocka_unit_test(test_line_guard_stops_on_slots_within_window),
	        cmocka_unit_test(test_line_guard_off_never_stops),
	        cmocka_unit_test(test_station_records_every_step_of_a_pass),
	        cmocka_unit_test(test_station_records_failed_step_skipped_rest_and_device_log),
	        cmocka_unit_test(test_station_retry_counts_attempts_and_links_retry_of),
	        cmocka_unit_test(test_station_power_cycle_is_not_retried),
	        cmocka_unit_test(test_station_unplugged_unit_fails_once_neighbours_pass),
	        cmocka_unit_test(test_station_serial_lock_refuses_second_unit_by_usb_serial),
	        cmocka_unit_test(test_station_serial_lock_refuses_second_unit_by_chip_serial),
	        cmocka_unit_test(test_station_serial_free_again_after_unit_closed),
	        cmocka_unit_test(test_station_concurrency_limit_holds_units_back),
	        cmocka_unit_test(test_station_policy_admit),
	        cmocka_unit_test(test_station_unmapped_port_refused),
	        cmocka_unit_test(test_station_budget_fair_share),
	        cmocka_unit_test(test_station_budget_round_robin),
	        cmocka_unit_test(test_station_budget_bounds_bytes_in_flight),
	        cmocka_unit_test(test_usb_budget_take_and_release),
	        cmocka_unit_test(test_station_stop_records_running_unit_interrupted),
	        cmocka_unit_test(test_station_stall_in_sahara_upload_fails_unit),
	        cmocka_unit_test(test_station_stall_in_program_fails_unit),
	        cmocka_unit_test(test_station_job_options_built_in_one_place),
	        cmocka_unit_test(test_gate_held_then_released_with_routed_package),
	        cmocka_unit_test(test_gate_held_then_refused_before_upload),
	        cmocka_unit_test(test_gate_held_then_detached),
	        cmocka_unit_test(test_gate_held_then_stopped),
	        cmocka_unit_test(test_gate_hold_is_bounded),
	        cmocka_unit_test(test_gate_retry_reuses_the_decision),
	        cmocka_unit_test(test_gate_release_without_package_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
