/*
 * The MES hooks' records (issue 13): a run's lot, work order and operator
 * (the before_unit hook answers after the run started), the after_unit
 * outbox's entries (queued by the run's finish, in its transaction: see
 * apply_run_finish in record.c) and each delivery's outcome, and the read the
 * deliverer makes for the next due entry. The writer's operations are copied
 * here (one allocation each, strings after the record) and applied on the
 * writer's connection; the table is schema v6's mes_outbox.
 */
#include "store_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Copies s to *at and advances it; NULL stays NULL. */
static const char *put(char **at, const char *s)
{
	size_t n;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	memcpy(*at, s, n);
	*at += n;
	return *at - n;
}

static size_t need(const char *s)
{
	return s != NULL ? strlen(s) + 1 : 0;
}

static struct edl_store_oprec *alloc_op(enum edl_store_op kind, int64_t run_id, size_t strings,
                                        char **at)
{
	size_t head = (sizeof(struct edl_store_oprec) + 7) & ~(size_t)7;
	struct edl_store_oprec *op = calloc(1, head + strings);

	if (op == NULL)
		return NULL;
	op->kind = kind;
	op->run_id = run_id;
	*at = (char *)op + head;
	return op;
}

struct edl_store_oprec *edl_store_oprec_run_mes(const struct edl_store_run_mes *m)
{
	char *at;
	struct edl_store_oprec *op =
	        alloc_op(EDL_STORE_OP_RUN_MES, m->run_id,
	                 need(m->lot) + need(m->work_order) + need(m->operator_name), &at);

	if (op == NULL)
		return NULL;
	op->u.mes.run_id = m->run_id;
	op->u.mes.lot = put(&at, m->lot);
	op->u.mes.work_order = put(&at, m->work_order);
	op->u.mes.operator_name = put(&at, m->operator_name);
	return op;
}

struct edl_store_oprec *edl_store_oprec_mes_mark(const struct edl_store_mes_mark *m)
{
	char *at;
	struct edl_store_oprec *op =
	        alloc_op(EDL_STORE_OP_MES_MARK, m->run_id, need(m->error), &at);

	if (op == NULL)
		return NULL;
	op->u.mes_mark = *m;
	op->u.mes_mark.error = put(&at, m->error);
	return op;
}

/* Prepares, binds through fill, steps once and finalizes (rare operations: no
 * statement cache). */
static int run_sql(sqlite3 *db, const char *sql, const char *what, struct edl_error *err,
                   void (*fill)(sqlite3_stmt *st, const void *arg), const void *arg)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc == SQLITE_OK) {
		fill(st, arg);
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE || rc == SQLITE_ROW)
			rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		return edl_store_sqlite_error(err, db, rc, what);
	return EDL_OK;
}

static void fill_run_mes(sqlite3_stmt *st, const void *arg)
{
	const struct edl_store_run_mes *m = arg;
	sqlite3_bind_int64(st, 1, m->run_id);
	edl_store_bind_text(st, 2, m->lot);
	edl_store_bind_text(st, 3, m->work_order);
	edl_store_bind_text(st, 4, m->operator_name);
}

static void fill_mark(sqlite3_stmt *st, const void *arg)
{
	const struct edl_store_mes_mark *m = arg;
	sqlite3_bind_int64(st, 1, m->run_id);
	sqlite3_bind_int64(st, 2, m->at_ms);
	sqlite3_bind_int64(st, 3, m->next_ms);
	edl_store_bind_text(st, 4, m->error);
}

int edl_store_mes_apply(sqlite3 *db, const struct edl_store_oprec *op, struct edl_error *err)
{
	if (op->kind == EDL_STORE_OP_RUN_MES) {
		int rc = run_sql(db,
		                 "UPDATE run SET lot = coalesce(?2, lot),"
		                 " work_order = coalesce(?3, work_order),"
		                 " operator = coalesce(?4, operator) WHERE id = ?1",
		                 "recording the MES's data of the run", err, fill_run_mes,
		                 &op->u.mes);
		if (rc == EDL_OK && sqlite3_changes(db) == 0 && !op->replay)
			return edl_error_set(err, EDL_E_NOENT, "run %" PRId64 " does not exist",
			                     op->run_id);
		return rc;
	}
	/* A replayed mark finds its row already marked: delivered stays delivered
	 * (a delivery is never undone by a failure recorded before it). */
	if (op->u.mes_mark.delivered)
		return run_sql(db,
		               "UPDATE mes_outbox SET delivered_ms = coalesce(delivered_ms, ?2),"
		               " attempts = attempts + (delivered_ms IS NULL), last_error = NULL"
		               " WHERE run_id = ?1",
		               "recording an after_unit delivery", err, fill_mark, &op->u.mes_mark);
	return run_sql(
	        db,
	        "UPDATE mes_outbox SET attempts = attempts + 1, next_ms = ?3, last_error = ?4"
	        " WHERE run_id = ?1 AND delivered_ms IS NULL",
	        "recording a failed after_unit delivery", err, fill_mark, &op->u.mes_mark);
}

struct enqueue_args {
	int64_t run_id;
	const char *payload;
	int64_t next_ms;
};

static void fill_enqueue(sqlite3_stmt *st, const void *arg)
{
	const struct enqueue_args *a = arg;
	sqlite3_bind_int64(st, 1, a->run_id);
	edl_store_bind_text(st, 2, a->payload);
	sqlite3_bind_int64(st, 3, a->next_ms);
}

int edl_store_mes_enqueue(sqlite3 *db, int64_t run_id, const char *payload, int64_t next_ms,
                          struct edl_error *err)
{
	struct enqueue_args a = {run_id, payload, next_ms};

	return run_sql(db,
	               "INSERT OR IGNORE INTO mes_outbox (run_id, payload, attempts, next_ms)"
	               " VALUES (?1, ?2, 0, ?3)",
	               "queueing the run's result for the MES", err, fill_enqueue, &a);
}

/* ---- the deliverer's read ---------------------------------------------------------- */

void edl_store_mes_entry_clear(struct edl_store_mes_entry *e)
{
	free(e->payload);
	memset(e, 0, sizeof(*e));
}

int edl_store_mes_due(struct edl_store *s, int64_t now_ms, struct edl_store_mes_entry *out,
                      bool *found, int64_t *next_due_ms, uint64_t *pending, struct edl_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	*found = false;
	*next_due_ms = INT64_MAX;
	*pending = 0;
	/* One snapshot for both reads. */
	rc = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto out;
	rc = sqlite3_prepare_v2(s->db,
	                        "SELECT count(*), min(next_ms) FROM mes_outbox"
	                        " WHERE delivered_ms IS NULL",
	                        -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		*pending = (uint64_t)sqlite3_column_int64(st, 0);
		if (sqlite3_column_type(st, 1) != SQLITE_NULL)
			*next_due_ms = sqlite3_column_int64(st, 1);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc != SQLITE_OK || *pending == 0)
		goto out;
	rc = sqlite3_prepare_v2(s->db,
	                        "SELECT run_id, payload, attempts, next_ms FROM mes_outbox"
	                        " WHERE delivered_ms IS NULL AND next_ms <= ?1"
	                        " ORDER BY run_id LIMIT 1",
	                        -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, now_ms);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *p = (const char *)sqlite3_column_text(st, 1);
		out->run_id = sqlite3_column_int64(st, 0);
		out->payload = strdup(p != NULL ? p : "");
		out->attempts = (unsigned)sqlite3_column_int64(st, 2);
		out->next_ms = sqlite3_column_int64(st, 3);
		*found = out->payload != NULL;
		rc = out->payload != NULL ? SQLITE_OK : SQLITE_NOMEM;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_OK;
	}
out:
	sqlite3_finalize(st);
	sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return edl_store_sqlite_error(err, s->db, rc, "reading the MES outbox");
	return EDL_OK;
}
