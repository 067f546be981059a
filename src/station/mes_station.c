/*
 * The MES hooks on the station (issue 13): where the runner, the policy and
 * the outbox of include/edlstation/mes.h meet the station's units.
 *
 *  - before_unit: at the identity gate (unit.h: env->identified; route.c
 *    decides the package first and chains here), the hook is run with the
 *    unit's identity; the unit waits, held, sending nothing. Its answer
 *    refuses the unit (EDL_E_MES_REFUSED: not flashed, recorded with the
 *    reason), or accepts it with lot, work order, operator (recorded on the
 *    run) and a provisioning file: read in the threadpool and programmed
 *    into the named partition of this unit's own copy of the plan. A hook
 *    that fails, times out or answers garbage refuses the unit too
 *    (EDL_E_MES_HOOK, a station fault): no unit goes through unasked.
 *  - after_unit: every run's finish carries its payload into the store,
 *    queued in mes_outbox in the finish's own transaction; the outbox
 *    (mes_outbox.c) delivers it. The station's stop waits for a delivery in
 *    flight before the writer closes.
 *
 * Ownership: the station owns struct station_mes (st->mes), each session its
 * struct session_mes (s->mes), freed with them; a provisioning read still in
 * the threadpool when its session goes frees its state itself.
 */
#include "mes_station.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "edlstation/mes.h"
#include "edlstation/route.h"

struct station_mes {
	char **before_argv; /* NULL: no before_unit */
	char **after_argv;  /* NULL: no after_unit */
	struct edl_mes_outbox *outbox;
	bool stop_asked, stopped;
	void (*resume_stop)(struct station *st);
};

struct session_mes {
	struct session *s; /* NULL: the session is gone (a read in flight frees this) */
	struct edl_mes_run *run;
	struct edl_unit_decision decision; /* routing's decision, the MES's added */
	bool answered;
	struct edl_mes_answer answer;
	/* Provisioning: the file's bytes and the unit's plan (alive with the unit). */
	uv_work_t work;
	bool reading;
	int read_rc;
	char read_error[EDL_ERROR_DETAIL_MAX];
	uint8_t *data;
	size_t len;
	const struct edl_plan *base;
	struct edl_plan *plan;
	/* The current run, for its after_unit payload. */
	int64_t retry_of, start_ms;
	char package_hash[72];
	struct edl_buf payload;
	char hw_id[20], msm_id[12], oem_id[8], model_id[8], pk_hash[129];
};

static uint64_t now_ms(void)
{
	return edl_clock_ms();
}

/* ---- the station ------------------------------------------------------------------- */

static int split(char ***argv, const struct station *st, const char *key, const char *cmd,
                 struct edl_error *err)
{
	char why[300], where[600];

	edl_station_config_where(st->cfg, "mes", key, where, sizeof(where));
	if (edl_mes_split_command(argv, cmd, why, sizeof(why)) != EDL_OK)
		return edl_error_set(err, EDL_E_CONFIG, "%s: %s", where, why);
	if (edl_mes_check_program((*argv)[0], why, sizeof(why)) != EDL_OK) {
		edl_mes_argv_free(*argv);
		*argv = NULL;
		return edl_error_set(err, EDL_E_CONFIG, "%s: %s", where, why);
	}
	return EDL_OK;
}

int station_mes_open(struct station *st, const char *db_path, struct edl_error *err)
{
	const struct edl_station_mes *c = &st->cfg->mes;
	struct station_mes *m;
	int rc;

	if (st->cfg->identify_only || (c->before_unit[0] == '\0' && c->after_unit[0] == '\0'))
		return EDL_OK;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "[mes]: out of memory");
	st->mes = m;
	if (c->before_unit[0] != '\0') {
		rc = split(&m->before_argv, st, "before_unit", c->before_unit, err);
		if (rc != EDL_OK)
			return rc;
		/* The unit waits for the hook: the gate's bound must outlast it. */
		uint32_t need = c->timeout_ms + 2 * EDL_MES_KILL_GRACE_MS + 5000;
		if (st->env.hold_timeout_ms != 0 && st->env.hold_timeout_ms < need)
			st->env.hold_timeout_ms = need;
		if (st->env.hold_timeout_ms == 0 && need > 60000)
			st->env.hold_timeout_ms = need;
		/* At identity: [route] first (when configured), then the MES. */
		st->env.identified = station_mes_gate;
	}
	if (c->after_unit[0] != '\0') {
		rc = split(&m->after_argv, st, "after_unit", c->after_unit, err);
		if (rc != EDL_OK)
			return rc;
		struct edl_mes_outbox_options o = {
		        .argv = m->after_argv,
		        .timeout_ms = c->timeout_ms,
		        .retry_min_ms = c->retry_min_ms,
		        .retry_max_ms = c->retry_max_ms,
		        .db_path = db_path,
		        .writer = st->store,
		};
		rc = edl_mes_outbox_start(&m->outbox, st->loop, &o, err);
		if (rc != EDL_OK)
			return rc;
	}
	return EDL_OK;
}

static void outbox_stopped(void *data)
{
	struct station *st = data;
	struct station_mes *m = st->mes;

	m->outbox = NULL;
	m->stopped = true;
	if (m->resume_stop != NULL)
		m->resume_stop(st);
}

bool station_mes_stop(struct station *st, void (*resume)(struct station *st))
{
	struct station_mes *m = st->mes;

	if (m == NULL || m->outbox == NULL || m->stopped)
		return true;
	if (!m->stop_asked) {
		m->stop_asked = true;
		m->resume_stop = resume;
		edl_mes_outbox_stop(m->outbox, outbox_stopped, st);
	}
	return m->stopped;
}

void station_mes_free(struct station *st)
{
	struct station_mes *m = st->mes;

	if (m == NULL)
		return;
	edl_mes_argv_free(m->before_argv);
	edl_mes_argv_free(m->after_argv);
	free(m);
	st->mes = NULL;
}

size_t station_mes_pending(const struct station *st)
{
	return st->mes != NULL ? edl_mes_outbox_pending(st->mes->outbox) : 0;
}

/* ---- before_unit ------------------------------------------------------------------- */

static struct session_mes *session_state(struct session *s)
{
	if (s->mes == NULL) {
		s->mes = calloc(1, sizeof(*s->mes));
		if (s->mes != NULL) {
			s->mes->s = s;
			edl_buf_init(&s->mes->payload);
		}
	}
	return s->mes;
}

static void state_free(struct session_mes *sm)
{
	edl_mes_plan_free(sm->plan);
	free(sm->data);
	edl_buf_free(&sm->payload);
	free(sm);
}

static void refuse(struct session_mes *sm, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void refuse(struct session_mes *sm, int code, const char *fmt, ...)
{
	struct edl_unit_decision d;
	va_list ap;

	memset(&d, 0, sizeof(d));
	d.refuse = true;
	d.code = code;
	va_start(ap, fmt);
	vsnprintf(d.message, sizeof(d.message), fmt, ap);
	va_end(ap);
	edl_unit_release(sm->s->unit, &d, now_ms());
}

/* The unit goes on with routing's decision, the provisioned plan in it. */
static void accept_unit(struct session_mes *sm)
{
	struct session *s = sm->s;
	const struct edl_mes_answer *a = &sm->answer;
	int64_t run_id = edl_unit_run_id(s->unit);

	if (a->lot[0] || a->work_order[0] || a->operator_name[0]) {
		view_event(s->st, s, "mes", "lot %s, work order %s, operator %s",
		           a->lot[0] ? a->lot : "-", a->work_order[0] ? a->work_order : "-",
		           a->operator_name[0] ? a->operator_name : "-");
		if (s->st->store != NULL && run_id > 0) {
			struct edl_store_run_mes r = {
			        .run_id = run_id,
			        .lot = a->lot[0] ? a->lot : NULL,
			        .work_order = a->work_order[0] ? a->work_order : NULL,
			        .operator_name = a->operator_name[0] ? a->operator_name : NULL,
			};
			(void)edl_store_writer_run_mes(s->st->store, &r, NULL, NULL);
		}
	}
	if (sm->plan != NULL) {
		sm->decision.plan = sm->plan;
		view_event(s->st, s, "mes", "provisioning %s (%zu bytes) into partition %s",
		           a->provision_file, sm->len, a->provision_label);
	}
	edl_unit_release(s->unit, &sm->decision, now_ms());
}

/* Threadpool: the provisioning file, bounded by a sane size. */
static void read_work(uv_work_t *w)
{
	struct session_mes *sm = w->data;
	const char *path = sm->answer.provision_file;
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	sm->read_rc = EDL_OK;
	if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		snprintf(sm->read_error, sizeof(sm->read_error), "provisioning file %.300s: %s",
		         path, fd < 0 ? strerror(errno) : "not a regular file");
		sm->read_rc = EDL_E_NOENT;
		goto out;
	}
	if ((uint64_t)sb.st_size > (1ull << 30)) {
		snprintf(sm->read_error, sizeof(sm->read_error),
		         "provisioning file %.300s is %lld bytes: larger than any partition it may "
		         "be "
		         "for (1 GiB)",
		         path, (long long)sb.st_size);
		sm->read_rc = EDL_E_RANGE;
		goto out;
	}
	sm->len = (size_t)sb.st_size;
	sm->data = malloc(sm->len ? sm->len : 1);
	size_t got = 0;
	while (sm->data != NULL && got < sm->len) {
		ssize_t n = read(fd, sm->data + got, sm->len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (sm->data == NULL || got != sm->len) {
		snprintf(sm->read_error, sizeof(sm->read_error),
		         "provisioning file %.300s could not be read (%zu of %zu bytes)", path, got,
		         sm->len);
		sm->read_rc = EDL_E_IO;
		goto out;
	}
	struct edl_error err;
	sm->read_rc = edl_mes_plan_provision(&sm->plan, sm->base, sm->answer.provision_label,
	                                     sm->data, sm->len, path, &err);
	if (sm->read_rc != EDL_OK)
		snprintf(sm->read_error, sizeof(sm->read_error), "%s", err.detail);
out:
	if (fd >= 0)
		close(fd);
}

static void read_done(uv_work_t *w, int status)
{
	struct session_mes *sm = w->data;

	sm->reading = false;
	if (sm->s == NULL) {
		state_free(sm); /* the session left meanwhile */
		return;
	}
	if (status != 0 || sm->read_rc != EDL_OK)
		refuse(sm, EDL_E_MES_REFUSED, "its provisioning cannot be done: %s",
		       sm->read_error[0] ? sm->read_error : "cancelled");
	else
		accept_unit(sm);
}

static void on_answer(const struct edl_mes_run_result *r, void *data)
{
	struct session_mes *sm = data;
	struct session *s = sm->s;
	struct edl_error err;

	sm->run = NULL;
	if (s == NULL || s->unit == NULL)
		return;
	if (r->code != EDL_OK) {
		refuse(sm, EDL_E_MES_HOOK, "%s; the unit was not flashed", r->detail);
		return;
	}
	if (edl_mes_parse_answer(&sm->answer, r->out, r->out_len, &err) != EDL_OK) {
		refuse(sm, EDL_E_MES_HOOK, "%.480s; the unit was not flashed", err.detail);
		return;
	}
	sm->answered = true;
	if (!sm->answer.accept) {
		refuse(sm, EDL_E_MES_REFUSED, "%s", sm->answer.reason);
		return;
	}
	if (!sm->answer.provision) {
		accept_unit(sm);
		return;
	}
	sm->base = sm->decision.plan != NULL ? sm->decision.plan : s->st->plan;
	if (sm->base == NULL) {
		refuse(sm, EDL_E_MES_REFUSED, "no package plan to provision %s into",
		       sm->answer.provision_label);
		return;
	}
	sm->reading = true;
	sm->work.data = sm;
	if (uv_queue_work(s->st->loop, &sm->work, read_work, read_done) != 0) {
		sm->reading = false;
		refuse(sm, EDL_E_MES_HOOK,
		       "the provisioning file could not be read; the unit was "
		       "not flashed");
	}
}

int station_mes_identified(struct session *s, const struct edl_unit_identity *id,
                           struct edl_unit_decision *d)
{
	struct station_mes *m = s->st->mes;
	struct session_mes *sm;
	struct edl_buf in;
	struct edl_error err;
	const struct edl_sahara_identity *si = id->sahara;

	if (m == NULL || m->before_argv == NULL || d->refuse)
		return EDL_OK; /* no hook, or routing refused it already */
	sm = session_state(s);
	if (sm == NULL)
		return EDL_E_NOMEM;
	sm->decision = *d;
	if (si != NULL && si->have_hwid) {
		snprintf(sm->hw_id, sizeof(sm->hw_id), "%016" PRIx64, si->hwid);
		snprintf(sm->msm_id, sizeof(sm->msm_id), "%08x", si->msm_id);
		snprintf(sm->oem_id, sizeof(sm->oem_id), "%04x", si->oem_id);
		snprintf(sm->model_id, sizeof(sm->model_id), "%04x", si->model_id);
	}
	sm->pk_hash[0] = '\0';
	for (size_t i = 0; si != NULL && i < si->pk_hash_len && i < 64; i++)
		snprintf(sm->pk_hash + 2 * i, 3, "%02x", si->pk_hash[i]);
	struct edl_mes_unit u = {
	        .station = s->st->cfg->name,
	        .slot_label = s->slot_label,
	        .port = s->port,
	        .slot = s->slot,
	        .serial = id->serial && id->serial[0] ? id->serial : NULL,
	        .usb_serial = id->usb_serial && id->usb_serial[0] ? id->usb_serial : NULL,
	        .hw_id = sm->hw_id[0] ? sm->hw_id : NULL,
	        .msm_id = sm->msm_id[0] ? sm->msm_id : NULL,
	        .oem_id = sm->oem_id[0] ? sm->oem_id : NULL,
	        .model_id = sm->model_id[0] ? sm->model_id : NULL,
	        .pk_hash = sm->pk_hash[0] ? sm->pk_hash : NULL,
	        .package_hash = d->package_hash ? d->package_hash : s->st->package_hash,
	        .product = d->product,
	        .attempt = edl_unit_attempts(s->unit),
	        .run_id = id->run_id,
	};
	edl_buf_init(&in);
	if (edl_mes_before_input(&in, &u) != EDL_OK) {
		edl_buf_free(&in);
		return EDL_E_NOMEM;
	}
	struct edl_mes_run_options o = {
	        .name = "before_unit",
	        .argv = m->before_argv,
	        .input = (const char *)edl_buf_head(&in),
	        .input_len = edl_buf_size(&in),
	        .timeout_ms = s->st->cfg->mes.timeout_ms,
	};
	int rc = edl_mes_run_start(&sm->run, s->st->loop, &o, on_answer, sm, &err);
	edl_buf_free(&in);
	if (rc != EDL_OK) {
		/* Could not even start: refused now, with the reason. */
		memset(d, 0, sizeof(*d));
		d->refuse = true;
		d->code = EDL_E_MES_HOOK;
		snprintf(d->message, sizeof(d->message), "%.450s; the unit was not flashed",
		         err.detail);
		return EDL_OK;
	}
	view_event(s->st, s, "mes", "asking the MES (before_unit) about %s",
	           u.serial ? u.serial : s->port);
	return EDL_E_AGAIN;
}

int station_mes_gate(struct edl_unit *u, const struct edl_unit_identity *id,
                     struct edl_unit_decision *out, void *data)
{
	struct session *s = data;

	memset(out, 0, sizeof(*out));
	if (s->st->routes != NULL) {
		int rc = edl_route_identified(u, id, out, s->st->routes);
		if (rc != EDL_OK)
			return rc;
	}
	return station_mes_identified(s, id, out);
}

/* ---- the runs ---------------------------------------------------------------------- */

void session_mes_run_start(struct session *s, struct edl_store_run_start *rs)
{
	struct session_mes *sm = s->mes;

	if (s->st->mes == NULL)
		return;
	if (sm == NULL)
		sm = session_state(s);
	if (sm == NULL)
		return;
	sm->retry_of = rs->retry_of;
	sm->start_ms = rs->start_ms;
	snprintf(sm->package_hash, sizeof(sm->package_hash), "%s",
	         rs->package_hash ? rs->package_hash : "");
	/* A retry of an accepted unit carries the MES's data too. */
	if (sm->answered && sm->answer.accept) {
		rs->lot = sm->answer.lot[0] ? sm->answer.lot : NULL;
		rs->work_order = sm->answer.work_order[0] ? sm->answer.work_order : NULL;
		rs->operator_name = sm->answer.operator_name[0] ? sm->answer.operator_name : NULL;
	}
}

const char *session_mes_payload(struct session *s, const struct edl_store_run_end *re, bool final)
{
	struct session_mes *sm = s->mes;
	const char *product;

	if (s->st->mes == NULL || s->st->mes->outbox == NULL || sm == NULL)
		return NULL;
	product = s->unit != NULL ? edl_unit_product_name(s->unit) : "";
	struct edl_mes_result r = {
	        .run_id = re->run_id,
	        .station = s->st->cfg->name,
	        .serial = s->serial[0] ? s->serial : NULL,
	        .slot_label = s->slot_label,
	        .port = s->port,
	        .slot = s->slot,
	        .attempt = s->attempt,
	        .retry_of = sm->retry_of,
	        .final = final,
	        .result = edl_store_result_name(re->result),
	        .stage = re->stage,
	        .error_code = re->error_code,
	        .message = re->message,
	        .start_ms = sm->start_ms,
	        .end_ms = re->end_ms,
	        .bytes_written = re->bytes_written,
	        .package_hash = sm->package_hash[0] ? sm->package_hash : NULL,
	        .product = product[0] ? product : NULL,
	};
	if (sm->answered && sm->answer.accept) {
		r.lot = sm->answer.lot[0] ? sm->answer.lot : NULL;
		r.work_order = sm->answer.work_order[0] ? sm->answer.work_order : NULL;
		r.operator_name = sm->answer.operator_name[0] ? sm->answer.operator_name : NULL;
	}
	sm->payload.off = sm->payload.len = 0;
	if (edl_mes_after_payload(&sm->payload, &r) != EDL_OK ||
	    edl_buf_append(&sm->payload, "", 1) != EDL_OK)
		return NULL;
	return (const char *)edl_buf_head(&sm->payload);
}

void station_mes_queued(struct station *st)
{
	if (st->mes != NULL)
		edl_mes_outbox_kick(st->mes->outbox);
}

void session_mes_free(struct session *s)
{
	struct session_mes *sm = s->mes;

	if (sm == NULL)
		return;
	s->mes = NULL;
	if (sm->run != NULL)
		edl_mes_run_cancel(sm->run);
	sm->run = NULL;
	sm->s = NULL;
	if (!sm->reading)
		state_free(sm);
}
