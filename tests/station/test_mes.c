/*
 * Tests of the MES hooks without a USB device (include/edlstation/mes.h): the
 * command splitting, the runner on a real libuv loop with real processes
 * (exit codes, stderr in the reason, the timeout's kill of the whole process
 * group, the stdout bound, a hook that ignores its stdin, cancel), what a
 * before_unit answer means (and every way it can be garbage), the provisioned
 * plan, the after_unit payload, the backoff, and the outbox's table on a real
 * database (queued with the finish, due in run order, marks replayed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "edlstation/mes.h"
#include "edlstation/station.h"
#include "edlstation/store.h"
#include "store/store_internal.h"

/* ---- commands ---------------------------------------------------------------------- */

static void test_mes_split_command_like_a_shell(void **state)
{
	char **argv = NULL;
	char why[256];

	(void)state;
	assert_int_equal(
	        edl_mes_split_command(&argv, "/bin/hook 'a b' c\\ d \"e f\"", why, sizeof(why)),
	        EDL_OK);
	assert_string_equal(argv[0], "/bin/hook");
	assert_string_equal(argv[1], "a b");
	assert_string_equal(argv[2], "c d");
	assert_string_equal(argv[3], "e f");
	assert_null(argv[4]);
	edl_mes_argv_free(argv);
	assert_int_equal(edl_mes_split_command(&argv, "/bin/hook 'open", why, sizeof(why)),
	                 EDL_E_CONFIG);
	assert_null(argv);
	assert_non_null(strstr(why, "without a shell"));
	assert_int_equal(edl_mes_check_program("/nonexistent/hook", why, sizeof(why)), EDL_E_NOENT);
	assert_non_null(strstr(why, "does not exist"));
	assert_int_equal(edl_mes_check_program("sh", why, sizeof(why)), EDL_OK);
	assert_int_equal(edl_mes_check_program("no-such-program-xyz", why, sizeof(why)),
	                 EDL_E_NOENT);
}

static void test_mes_config_keys(void **state)
{
	static struct edl_station_config cfg;
	struct edl_error err;
	const char *good = "[mes]\nbefore_unit = /usr/bin/python3 '/srv/mes/ask me.py' --line 3\n"
	                   "after_unit = /srv/mes/tell\ntimeout_ms = 2500\nretry_min_ms = 50\n"
	                   "retry_max_ms = 9000\n";
	(void)state;

	edl_station_config_default(&cfg);
	assert_int_equal(cfg.mes.timeout_ms, 10000);
	assert_int_equal(cfg.mes.retry_min_ms, 1000);
	assert_int_equal(cfg.mes.retry_max_ms, 300000);
	assert_string_equal(cfg.mes.before_unit, "");
	assert_int_equal(
	        edl_station_config_parse(&cfg, "t.ini", good, strlen(good), NULL, NULL, &err),
	        EDL_OK);
	assert_string_equal(cfg.mes.before_unit, "/usr/bin/python3 '/srv/mes/ask me.py' --line 3");
	assert_string_equal(cfg.mes.after_unit, "/srv/mes/tell");
	assert_int_equal(cfg.mes.timeout_ms, 2500);
	assert_int_equal(cfg.mes.retry_min_ms, 50);
	assert_int_equal(cfg.mes.retry_max_ms, 9000);
	assert_int_equal(edl_station_config_line(&cfg, "mes", "after_unit"), 3);

	static const struct {
		const char *text, *says;
	} bad[] = {
	        {"[mes]\nbefore_unit = /bin/hook 'open\n",
	         "t.ini:2: [mes] before_unit: '/bin/hook 'open' is not accepted — cannot split it "
	         "into words"},
	        {"[mes]\ntimeout_ms = 5\n",
	         "t.ini:2: [mes] timeout_ms: '5' is not accepted — set a whole number from 100"},
	        {"[mes]\nretry_max_ms = soon\n", "[mes] retry_max_ms: 'soon' is not accepted"},
	        {"[mes]\nbefor_unit = /bin/x\n",
	         "[mes] befor_unit: unknown key — did you mean before_unit?"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		edl_station_config_default(&cfg);
		assert_int_equal(edl_station_config_parse(&cfg, "t.ini", bad[i].text,
		                                          strlen(bad[i].text), NULL, NULL, &err),
		                 EDL_E_CONFIG);
		if (strstr(err.detail, bad[i].says) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i, err.detail, bad[i].says);
	}
}

/* ---- the runner -------------------------------------------------------------------- */

struct outcome {
	int calls;
	struct edl_mes_run_result r;
	char out[80000];
	char tail[256];
};

static void on_done(const struct edl_mes_run_result *r, void *data)
{
	struct outcome *o = data;
	o->calls++;
	o->r = *r;
	memcpy(o->out, r->out, r->out_len < sizeof(o->out) - 1 ? r->out_len : sizeof(o->out) - 1);
	o->out[r->out_len < sizeof(o->out) - 1 ? r->out_len : sizeof(o->out) - 1] = '\0';
	snprintf(o->tail, sizeof(o->tail), "%s", r->err_tail);
	o->r.out = o->out;
	o->r.err_tail = o->tail;
}

/* Runs a shell script as a hook to its end; returns the start's code. */
static int run_sh(struct outcome *o, const char *script, const char *input, size_t input_len,
                  uint32_t timeout_ms, size_t max_output)
{
	uv_loop_t loop;
	struct edl_mes_run *run;
	struct edl_error err;
	char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
	struct edl_mes_run_options opt = {
	        .name = "test",
	        .argv = argv,
	        .input = input,
	        .input_len = input_len,
	        .timeout_ms = timeout_ms,
	        .kill_grace_ms = 200,
	        .max_output = max_output,
	};

	memset(o, 0, sizeof(*o));
	uv_loop_init(&loop);
	int rc = edl_mes_run_start(&run, &loop, &opt, on_done, o, &err);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0); /* every handle closed */
	return rc;
}

static void test_mes_run_exit_zero_gives_stdout(void **state)
{
	struct outcome o;
	(void)state;
	assert_int_equal(run_sh(&o, "cat; echo done >&2", "{\"a\":1}", 7, 5000, 0), EDL_OK);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.r.code, EDL_OK);
	assert_int_equal(o.r.exit_status, 0);
	assert_string_equal(o.out, "{\"a\":1}");
	assert_string_equal(o.tail, "done");
}

static void test_mes_run_exit_code_and_stderr_in_reason(void **state)
{
	struct outcome o;
	(void)state;
	run_sh(&o, "echo first >&2; echo 'MES unreachable: connection refused' >&2; exit 3", "", 0,
	       5000, 0);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.r.code, EDL_E_MES_HOOK);
	assert_int_equal(o.r.exit_status, 3);
	assert_false(o.r.timed_out);
	assert_non_null(strstr(o.r.detail, "exited with status 3"));
	assert_non_null(strstr(o.r.detail, "MES unreachable: connection refused"));
	assert_null(strstr(o.r.detail, "first"));
}

static void test_mes_run_timeout_kills_the_process_group(void **state)
{
	struct outcome o;
	(void)state;
	/* The shell's child keeps stdout open: only killing the group ends it. */
	run_sh(&o, "sleep 30 & sleep 30; echo never", "", 0, 300, 0);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.r.code, EDL_E_MES_HOOK);
	assert_true(o.r.timed_out);
	assert_int_equal(o.r.exit_status, -1);
	assert_non_null(strstr(o.r.detail, "did not finish within 300 ms"));
	assert_null(strstr(o.out, "never"));
}

static void test_mes_run_timeout_of_a_hook_ignoring_sigterm(void **state)
{
	struct outcome o;
	(void)state;
	run_sh(&o, "trap '' TERM; while :; do sleep 1; done", "", 0, 300, 0);
	assert_int_equal(o.calls, 1);
	assert_true(o.r.timed_out);
	assert_int_equal(o.r.term_signal, 9);
}

static void test_mes_run_stdout_is_bounded(void **state)
{
	struct outcome o;
	(void)state;
	run_sh(&o, "head -c 200000 /dev/zero | tr '\\0' x", "", 0, 5000, 1000);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.r.code, EDL_E_MES_HOOK);
	assert_true(o.r.overflow);
	assert_true(o.r.out_len <= 1000);
	assert_non_null(strstr(o.r.detail, "more than 1000 bytes"));
	/* Exactly the bound is fine. */
	run_sh(&o, "head -c 1000 /dev/zero | tr '\\0' x", "", 0, 5000, 1000);
	assert_int_equal(o.r.code, EDL_OK);
	assert_int_equal(o.r.out_len, 1000);
}

static void test_mes_run_killed_by_a_signal(void **state)
{
	struct outcome o;
	(void)state;
	run_sh(&o, "kill -SEGV $$", "", 0, 5000, 0);
	assert_int_equal(o.r.code, EDL_E_MES_HOOK);
	assert_int_equal(o.r.term_signal, 11);
	assert_non_null(strstr(o.r.detail, "killed by signal 11"));
}

static void test_mes_run_hook_that_ignores_stdin(void **state)
{
	struct outcome o;
	size_t n = 4u << 20;
	char *big = malloc(n);
	(void)state;
	memset(big, 'j', n);
	/* More than a pipe holds, never read: no SIGPIPE for the station. */
	run_sh(&o, "echo '{\"accept\": true}'", big, n, 5000, 0);
	free(big);
	assert_int_equal(o.r.code, EDL_OK);
	assert_string_equal(o.out, "{\"accept\": true}\n");
}

static void test_mes_run_program_missing(void **state)
{
	uv_loop_t loop;
	struct edl_mes_run *run;
	struct edl_error err;
	struct outcome o = {0};
	char *argv[] = {"/nonexistent/hook", NULL};
	struct edl_mes_run_options opt = {.name = "before_unit", .argv = argv};
	(void)state;

	uv_loop_init(&loop);
	assert_int_equal(edl_mes_run_start(&run, &loop, &opt, on_done, &o, &err), EDL_E_MES_HOOK);
	assert_non_null(strstr(err.detail, "before_unit hook: cannot run /nonexistent/hook"));
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(o.calls, 0);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void on_cancel_timer(uv_timer_t *t)
{
	edl_mes_run_cancel(t->data);
	uv_close((uv_handle_t *)t, NULL);
}

static void test_mes_run_cancel_tells_nothing(void **state)
{
	uv_loop_t loop;
	uv_timer_t t;
	struct edl_mes_run *run;
	struct edl_error err;
	struct outcome o = {0};
	char *argv[] = {"/bin/sh", "-c", "sleep 30 & sleep 30", NULL};
	struct edl_mes_run_options opt = {.name = "test", .argv = argv, .timeout_ms = 60000};
	(void)state;

	uv_loop_init(&loop);
	assert_int_equal(edl_mes_run_start(&run, &loop, &opt, on_done, &o, &err), EDL_OK);
	uv_timer_init(&loop, &t);
	t.data = run;
	uv_timer_start(&t, on_cancel_timer, 100, 0);
	uv_run(&loop, UV_RUN_DEFAULT); /* ends: the group was killed, handles closed */
	assert_int_equal(o.calls, 0);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- before_unit's answer ---------------------------------------------------------- */

static int parse(struct edl_mes_answer *a, const char *text, struct edl_error *err)
{
	return edl_mes_parse_answer(a, text, strlen(text), err);
}

static void test_mes_answer_accept_with_unit_data(void **state)
{
	struct edl_mes_answer a;
	struct edl_error err;
	(void)state;
	assert_int_equal(parse(&a, "  {\"accept\": true}\n", &err), EDL_OK);
	assert_true(a.accept);
	assert_false(a.provision);
	assert_int_equal(
	        parse(&a,
	              "{\"accept\":true,\"lot\":\"L-7\",\"work_order\":\"WO 12\",\"operator\":"
	              "\"Zoë\",\"future\":[1,2],\"provision\":{\"label\":\"rpm\",\"file\":\"/p/"
	              "key.bin\"}}",
	              &err),
	        EDL_OK);
	assert_string_equal(a.lot, "L-7");
	assert_string_equal(a.work_order, "WO 12");
	assert_string_equal(a.operator_name, "Zoë");
	assert_true(a.provision);
	assert_string_equal(a.provision_label, "rpm");
	assert_string_equal(a.provision_file, "/p/key.bin");
}

static void test_mes_answer_refusal_keeps_the_reason(void **state)
{
	struct edl_mes_answer a;
	struct edl_error err;
	(void)state;
	assert_int_equal(parse(&a, "{\"accept\": false, \"reason\": \"work order closed\"}", &err),
	                 EDL_OK);
	assert_false(a.accept);
	assert_string_equal(a.reason, "work order closed");
	assert_int_equal(parse(&a, "{\"accept\": false}", &err), EDL_OK);
	assert_false(a.accept);
	assert_non_null(strstr(a.reason, "no reason given"));
}

static void test_mes_answer_garbage_is_refused(void **state)
{
	static const struct {
		const char *text, *says;
	} cases[] = {
	        {"", "printed nothing"},
	        {"   \n", "printed nothing"},
	        {"OK", "no valid JSON"},
	        {"{\"accept\": true", "no valid JSON"},
	        {"{\"accept\": true} trailing", "no valid JSON"},
	        {"[true]", "not an object"},
	        {"{}", "without \"accept\""},
	        {"{\"accept\": \"yes\"}", "non-boolean \"accept\""},
	        {"{\"accept\": 1}", "non-boolean \"accept\""},
	        {"{\"accept\": true, \"accept\": false}", "no valid JSON"},
	        {"{\"accept\": true, \"lot\": 7}", "\"lot\" that is not a string"},
	        {"{\"accept\": true, \"lot\": \"a\\nb\"}", "control character 0x0a"},
	        {"{\"accept\": true, \"operator\": "
	         "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
	         "at most 127"},
	        {"{\"accept\": true, \"provision\": \"rpm\"}", "not an object"},
	        {"{\"accept\": true, \"provision\": {\"label\": \"rpm\"}}", "without \"file\""},
	        {"{\"accept\": true, \"provision\": {\"label\": \"rpm\", \"file\": \"key.bin\"}}",
	         "not absolute"},
	        {"{\"accept\": true, \"provision\": {\"file\": \"/k\"}}", "without \"label\""},
	};
	struct edl_mes_answer a;
	struct edl_error err;
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		edl_error_clear(&err);
		assert_int_equal(parse(&a, cases[i].text, &err), EDL_E_MES_HOOK);
		assert_false(a.accept); /* never through by accident */
		if (strstr(err.detail, cases[i].says) == NULL)
			fail_msg("case %zu '%s': '%s' lacks '%s'", i, cases[i].text, err.detail,
			         cases[i].says);
	}
	/* A NUL inside the output is not JSON either. */
	assert_int_equal(edl_mes_parse_answer(&a, "{\"accept\": true}\0x", 18, &err),
	                 EDL_E_MES_HOOK);
}

/* ---- provisioning ------------------------------------------------------------------ */

static void test_mes_plan_provision_replaces_one_partition(void **state)
{
	static const uint8_t image[8192] = {1};
	struct edl_plan_step steps[3] = {
	        {.kind = EDL_STEP_ERASE, .label = "rpm", .sector_size = 4096, .num_sectors = 2},
	        {.kind = EDL_STEP_PROGRAM,
	         .label = "rpm",
	         .sector_size = 4096,
	         .num_sectors = 2,
	         .data = image,
	         .data_len = sizeof(image),
	         .verify = true},
	        {.kind = EDL_STEP_PROGRAM,
	         .label = "modem",
	         .sector_size = 4096,
	         .num_sectors = 2,
	         .data = image,
	         .data_len = sizeof(image)},
	};
	struct edl_plan base = {.steps = steps, .n_steps = 3, .total_bytes = 16384};
	struct edl_plan *p = NULL;
	struct edl_error err;
	uint8_t data[5000], padded[8192] = {0}, md[32];
	unsigned mdlen;
	(void)state;

	memset(data, 0xa5, sizeof(data));
	memcpy(padded, data, sizeof(data));
	assert_int_equal(edl_mes_plan_provision(&p, &base, "rpm", data, sizeof(data), "/k", &err),
	                 EDL_OK);
	assert_ptr_equal(p->steps[1].data, data);
	assert_int_equal(p->steps[1].data_len, sizeof(data));
	assert_true(p->steps[1].verify);
	EVP_Digest(padded, sizeof(padded), md, &mdlen, EVP_sha256(), NULL);
	assert_memory_equal(p->steps[1].sha256, md, 32);
	assert_ptr_equal(p->steps[2].data, image); /* the others stay */
	assert_int_equal(p->n_steps, 3);
	assert_ptr_equal(base.steps[1].data, image); /* the base is untouched */
	edl_mes_plan_free(p);

	uint8_t big[8193] = {0};
	assert_int_equal(edl_mes_plan_provision(&p, &base, "rpm", big, sizeof(big), "/big", &err),
	                 EDL_E_RANGE);
	assert_null(p);
	assert_non_null(strstr(err.detail, "8193 bytes do not fit partition 'rpm' (8192 bytes"));
	assert_int_equal(edl_mes_plan_provision(&p, &base, "persist", data, 1, "/k", &err),
	                 EDL_E_NOENT);
	assert_non_null(strstr(err.detail, "no partition labelled 'persist'"));
	/* A partition larger than the package's image: the file may fill it. */
	steps[1].partition_sectors = 4;
	static uint8_t more[12000];
	memset(more, 0x5a, sizeof(more));
	assert_int_equal(edl_mes_plan_provision(&p, &base, "rpm", more, sizeof(more), "/m", &err),
	                 EDL_OK);
	assert_int_equal(p->steps[1].num_sectors, 3);
	assert_int_equal(p->total_bytes, 16384 + 4096);
	static uint8_t padded3[12288];
	memcpy(padded3, more, sizeof(more));
	EVP_Digest(padded3, sizeof(padded3), md, &mdlen, EVP_sha256(), NULL);
	assert_memory_equal(p->steps[1].sha256, md, 32);
	edl_mes_plan_free(p);
	static uint8_t huge[16385];
	assert_int_equal(edl_mes_plan_provision(&p, &base, "rpm", huge, sizeof(huge), "/h", &err),
	                 EDL_E_RANGE);
	assert_non_null(strstr(err.detail, "(16384 bytes, 4 sectors of 4096)"));
	snprintf(steps[2].label, sizeof(steps[2].label), "rpm");
	assert_int_equal(edl_mes_plan_provision(&p, &base, "rpm", data, 1, "/k", &err),
	                 EDL_E_INVAL);
	assert_non_null(strstr(err.detail, "2 pieces"));
}

/* ---- after_unit -------------------------------------------------------------------- */

static void test_mes_payload_carries_the_run_id(void **state)
{
	struct edl_buf b;
	struct edl_mes_result r = {
	        .run_id = 42,
	        .station = "line-1",
	        .serial = "1a2b3c4d",
	        .slot_label = "A1",
	        .attempt = 2,
	        .retry_of = 41,
	        .final = true,
	        .result = "fail",
	        .stage = "program",
	        .error_code = EDL_E_VERIFY_MISMATCH,
	        .message = "tz: digest \"differs\"\n",
	        .start_ms = 1000,
	        .end_ms = 2000,
	        .lot = "L7",
	};
	json_error_t jerr;
	(void)state;
	edl_buf_init(&b);
	assert_int_equal(edl_mes_after_payload(&b, &r), EDL_OK);
	json_t *j = json_loadb((const char *)edl_buf_head(&b), edl_buf_size(&b), 0, &jerr);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "run_id")), 42);
	assert_string_equal(json_string_value(json_object_get(j, "event")), "after_unit");
	assert_string_equal(json_string_value(json_object_get(j, "error")),
	                    "EDL_E_VERIFY_MISMATCH");
	assert_string_equal(json_string_value(json_object_get(j, "message")),
	                    "tz: digest \"differs\"\n");
	assert_string_equal(json_string_value(json_object_get(j, "lot")), "L7");
	assert_true(json_is_true(json_object_get(j, "final")));
	assert_null(json_object_get(j, "work_order"));
	json_decref(j);
	edl_buf_free(&b);
}

static void test_mes_backoff_doubles_within_bounds(void **state)
{
	(void)state;
	assert_int_equal(edl_mes_backoff_ms(1, 1000, 60000, 0), 1000);
	assert_int_equal(edl_mes_backoff_ms(2, 1000, 60000, 0), 2000);
	assert_int_equal(edl_mes_backoff_ms(3, 1000, 60000, 0), 4000);
	assert_int_equal(edl_mes_backoff_ms(7, 1000, 60000, 0), 60000);
	assert_int_equal(edl_mes_backoff_ms(1000, 1000, 60000, 0), 60000); /* no overflow */
	assert_int_equal(edl_mes_backoff_ms(UINT32_MAX, 1000, 60000, UINT32_MAX), 60000);
	for (uint32_t r = 0; r < 5000; r += 7) {
		uint64_t d = edl_mes_backoff_ms(3, 1000, 60000, r * 2654435761u);
		assert_true(d >= 4000 && d <= 5000); /* a quarter of jitter at most */
		d = edl_mes_backoff_ms(9, 1000, 60000, r * 2654435761u);
		assert_true(d >= 60000 && d <= 60000);
		d = edl_mes_backoff_ms(1, 1000, 1100, r * 2654435761u);
		assert_true(d >= 1000 && d <= 1100);
	}
	assert_int_equal(edl_mes_backoff_ms(3, 5000, 100, 0), 5000); /* max below min */
}

/* ---- the outbox's table ------------------------------------------------------------ */

static void finish_run(struct edl_store_writer *w, int64_t *id, int64_t start, const char *payload)
{
	struct edl_store_run_start rs = {.station = "s", .port = "1-1", .start_ms = start};
	assert_int_equal(edl_store_writer_run_start(id, w, &rs, NULL, NULL), EDL_OK);
	struct edl_store_run_end re = {.run_id = *id,
	                               .result = EDL_RESULT_PASS,
	                               .end_ms = start + 10,
	                               .mes_payload = payload};
	assert_int_equal(edl_store_writer_run_finish(w, &re, NULL, NULL), EDL_OK);
}

static void test_mes_outbox_table_in_run_order(void **state)
{
	char dir[] = "/tmp/edl-mes-XXXXXX", path[64];
	struct edl_store_writer *w;
	struct edl_store *s;
	struct edl_error err;
	struct edl_store_mes_entry e;
	int64_t ids[3], next;
	uint64_t pending;
	bool found;
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/r.db", dir);
	assert_int_equal(edl_store_writer_open(&w, path, NULL, &err), EDL_OK);
	struct edl_store_station st = {.name = "s"};
	edl_store_writer_station(w, &st, NULL, NULL);
	finish_run(w, &ids[0], 1000, "{\"run_id\":1}\n");
	finish_run(w, &ids[1], 2000, "{\"run_id\":2}\n");
	finish_run(w, &ids[2], 3000, NULL); /* no after_unit for it */
	struct edl_store_run_mes m = {.run_id = ids[1], .lot = "L7", .operator_name = "ann"};
	assert_int_equal(edl_store_writer_run_mes(w, &m, NULL, NULL), EDL_OK);
	edl_store_writer_flush(w);
	assert_int_equal(edl_store_open(&s, path, &err), EDL_OK);

	assert_int_equal(edl_store_mes_due(s, 500, &e, &found, &next, &pending, &err), EDL_OK);
	assert_false(found); /* none due yet */
	assert_int_equal(next, 1010);
	assert_int_equal(pending, 2);
	assert_int_equal(edl_store_mes_due(s, 5000, &e, &found, &next, &pending, &err), EDL_OK);
	assert_true(found);
	assert_int_equal(e.run_id, ids[0]);
	assert_string_equal(e.payload, "{\"run_id\":1}\n");
	edl_store_mes_entry_clear(&e);

	/* The first fails: it waits; the second is due first now. */
	struct edl_store_mes_mark fail = {
	        .run_id = ids[0], .at_ms = 5000, .next_ms = 9000, .error = "exit 1"};
	edl_store_writer_mes_mark(w, &fail, NULL, NULL);
	edl_store_writer_flush(w);
	assert_int_equal(edl_store_mes_due(s, 5000, &e, &found, &next, &pending, &err), EDL_OK);
	assert_int_equal(e.run_id, ids[1]);
	edl_store_mes_entry_clear(&e);
	struct edl_store_mes_mark ok = {.run_id = ids[1], .delivered = true, .at_ms = 5001};
	edl_store_writer_mes_mark(w, &ok, NULL, NULL);
	edl_store_writer_mes_mark(w, &ok, NULL, NULL); /* a replayed mark changes nothing */
	edl_store_writer_mes_mark(w, &fail, NULL, NULL);
	struct edl_store_mes_mark late = {.run_id = ids[1], .at_ms = 6000, .next_ms = 7000};
	edl_store_writer_mes_mark(w, &late, NULL, NULL); /* never undoes a delivery */
	edl_store_writer_flush(w);
	assert_int_equal(edl_store_mes_due(s, 5000, &e, &found, &next, &pending, &err), EDL_OK);
	assert_false(found);
	assert_int_equal(pending, 1);
	assert_int_equal(next, 9000);
	assert_int_equal(edl_store_mes_due(s, 9000, &e, &found, &next, &pending, &err), EDL_OK);
	assert_int_equal(e.run_id, ids[0]);
	assert_int_equal(e.attempts, 2);
	edl_store_mes_entry_clear(&e);
	edl_store_close(s);
	edl_store_writer_close(w);

	/* What the database says, as the board and reports read it. */
	char cmd[256];
	snprintf(cmd, sizeof(cmd),
	         "test \"$(sqlite3 %s \"select attempts, delivered_ms from mes_outbox where "
	         "run_id = %lld; select lot, operator, work_order is null from run where id = "
	         "%lld\" | tr '\\n' ' ')\" = '1|5001 L7|ann|1 '",
	         path, (long long)ids[1], (long long)ids[1]);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* A station killed while its results are kept (disk full) keeps the payload,
 * the MES data and the marks in <db>.pending: they come back as they went. */
static void test_mes_records_survive_the_journal(void **state)
{
	char dir[] = "/tmp/edl-mes-XXXXXX", path[64];
	struct edl_store_journal j = {.fd = -1};
	struct edl_store_oprec *ops = NULL, *op;
	struct edl_error err;
	int64_t max_id = 0;
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/r.db", dir);
	assert_int_equal(edl_store_journal_open(&j, path, &ops, &max_id, &err), EDL_OK);
	struct edl_store_run_end re = {.run_id = 9,
	                               .result = EDL_RESULT_FAIL,
	                               .error_code = EDL_E_MES_REFUSED,
	                               .end_ms = 5,
	                               .mes_payload = "{\"run_id\":9}\n"};
	struct edl_store_run_mes rm = {.run_id = 9, .lot = "L7", .operator_name = "ann"};
	struct edl_store_mes_mark mk = {.run_id = 8, .at_ms = 3, .next_ms = 4, .error = "down"};
	ops = edl_store_oprec_run_end(&re);
	ops->next = edl_store_oprec_run_mes(&rm);
	ops->next->next = edl_store_oprec_mes_mark(&mk);
	assert_int_equal(edl_store_journal_append(&j, ops, &err), EDL_OK);
	while (ops != NULL) {
		op = ops->next;
		edl_store_oprec_free(ops);
		ops = op;
	}
	edl_store_journal_close(&j);
	assert_int_equal(edl_store_journal_open(&j, path, &ops, &max_id, &err), EDL_OK);
	assert_non_null(ops);
	assert_int_equal(ops->kind, EDL_STORE_OP_RUN_FINISH);
	assert_string_equal(ops->u.end.mes_payload, "{\"run_id\":9}\n");
	op = ops->next;
	assert_int_equal(op->kind, EDL_STORE_OP_RUN_MES);
	assert_int_equal(op->run_id, 9);
	assert_string_equal(op->u.mes.lot, "L7");
	assert_null(op->u.mes.work_order);
	assert_string_equal(op->u.mes.operator_name, "ann");
	op = op->next;
	assert_int_equal(op->kind, EDL_STORE_OP_MES_MARK);
	assert_int_equal(op->run_id, 8);
	assert_false(op->u.mes_mark.delivered);
	assert_int_equal(op->u.mes_mark.next_ms, 4);
	assert_string_equal(op->u.mes_mark.error, "down");
	assert_null(op->next);
	while (ops != NULL) {
		op = ops->next;
		edl_store_oprec_free(ops);
		ops = op;
	}
	edl_store_journal_rewind(&j, &err);
	edl_store_journal_close(&j);
	char cmd[96];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* ---- the deliverer on a real loop and writer --------------------------------------- */

struct deliver_watch {
	struct edl_mes_outbox *ob;
	uv_timer_t t;
	bool stopped;
	int ticks;
};

static void on_outbox_stopped(void *data)
{
	((struct deliver_watch *)data)->stopped = true;
}

static void on_watch(uv_timer_t *t)
{
	struct deliver_watch *dw = t->data;
	if (edl_mes_outbox_delivered(dw->ob) < 3 && ++dw->ticks < 500)
		return; /* at most 10 s */
	uv_timer_stop(t);
	uv_close((uv_handle_t *)t, NULL);
	edl_mes_outbox_stop(dw->ob, on_outbox_stopped, dw);
}

static void test_mes_outbox_delivers_each_run_once_after_failures(void **state)
{
	char dir[] = "/tmp/edl-mes-XXXXXX", path[64], script[512], cmd[256];
	struct edl_store_writer *w;
	struct edl_error err;
	struct deliver_watch dw = {0};
	uv_loop_t loop;
	int64_t ids[3];
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/r.db", dir);
	/* Fails its first two calls (the MES "down"), then records each run id. */
	snprintf(script, sizeof(script),
	         "n=$(cat %s/calls 2>/dev/null || echo 0); echo $((n + 1)) >%s/calls; "
	         "[ $n -ge 2 ] || { echo down >&2; exit 1; }; "
	         "sed -n 's/.*\"run_id\":\\([0-9]*\\).*/\\1/p' >>%s/got",
	         dir, dir, dir);
	uv_loop_init(&loop);
	struct edl_store_writer_options wo = {.loop = &loop};
	assert_int_equal(edl_store_writer_open(&w, path, &wo, &err), EDL_OK);
	struct edl_store_station st = {.name = "s"};
	edl_store_writer_station(w, &st, NULL, NULL);
	int64_t now = edl_store_time_now_ms();
	char payload[3][64];
	for (int i = 0; i < 3; i++) {
		snprintf(payload[i], sizeof(payload[i]), "{\"run_id\":%lld}\n",
		         (long long)edl_store_writer_next_run_id(w));
		finish_run(w, &ids[i], now - 1000 + i, payload[i]);
	}
	edl_store_writer_flush(w); /* committed: the station kicks on each commit */
	char *argv[] = {"/bin/sh", "-c", script, NULL};
	struct edl_mes_outbox_options o = {.argv = argv,
	                                   .timeout_ms = 5000,
	                                   .retry_min_ms = 20,
	                                   .retry_max_ms = 60,
	                                   .db_path = path,
	                                   .writer = w};
	assert_int_equal(edl_mes_outbox_start(&dw.ob, &loop, &o, &err), EDL_OK);
	uv_timer_init(&loop, &dw.t);
	dw.t.data = &dw;
	uv_timer_start(&dw.t, on_watch, 20, 20);
	while (!dw.stopped)
		uv_run(&loop, UV_RUN_ONCE);
	edl_store_writer_close(w);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);

	snprintf(cmd, sizeof(cmd), "test \"$(sort -n %s/got | tr '\\n' ' ')\" = '%lld %lld %lld '",
	         dir, (long long)ids[0], (long long)ids[1], (long long)ids[2]);
	assert_int_equal(system(cmd), 0); /* each run id exactly once */
	snprintf(cmd, sizeof(cmd), "test \"$(cat %s/calls)\" = 5", dir);
	assert_int_equal(system(cmd), 0); /* 2 failures, 3 deliveries, nothing more */
	snprintf(cmd, sizeof(cmd),
	         "test \"$(sqlite3 %s 'select count(*), sum(attempts) from mes_outbox where "
	         "delivered_ms is not null')\" = '3|5'",
	         path);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_mes_split_command_like_a_shell),
	        cmocka_unit_test(test_mes_config_keys),
	        cmocka_unit_test(test_mes_run_exit_zero_gives_stdout),
	        cmocka_unit_test(test_mes_run_exit_code_and_stderr_in_reason),
	        cmocka_unit_test(test_mes_run_timeout_kills_the_process_group),
	        cmocka_unit_test(test_mes_run_timeout_of_a_hook_ignoring_sigterm),
	        cmocka_unit_test(test_mes_run_stdout_is_bounded),
	        cmocka_unit_test(test_mes_run_killed_by_a_signal),
	        cmocka_unit_test(test_mes_run_hook_that_ignores_stdin),
	        cmocka_unit_test(test_mes_run_program_missing),
	        cmocka_unit_test(test_mes_run_cancel_tells_nothing),
	        cmocka_unit_test(test_mes_answer_accept_with_unit_data),
	        cmocka_unit_test(test_mes_answer_refusal_keeps_the_reason),
	        cmocka_unit_test(test_mes_answer_garbage_is_refused),
	        cmocka_unit_test(test_mes_plan_provision_replaces_one_partition),
	        cmocka_unit_test(test_mes_payload_carries_the_run_id),
	        cmocka_unit_test(test_mes_backoff_doubles_within_bounds),
	        cmocka_unit_test(test_mes_outbox_table_in_run_order),
	        cmocka_unit_test(test_mes_records_survive_the_journal),
	        cmocka_unit_test(test_mes_outbox_delivers_each_run_once_after_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
