/*
 * Recording: what the writer thread does with each queued operation. The
 * constructors deep-copy the caller's records into one allocation so the
 * caller's memory is free again the moment an enqueue returns; the recorder
 * turns an operation into statements on the writer's connection.
 *
 * Every value is bound to a prepared statement: serials, messages and log lines
 * come from devices and are never pasted into SQL. Stations and packages are
 * referred to by their natural keys (name, manifest hash) so the station can
 * queue a run before the rows it refers to are committed; the recorder resolves
 * them to ids and caches the last one of each.
 */
#include "store_internal.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- deep copies ------------------------------------------------------------------------ */

/* Two passes over the same code: with to == NULL it only counts the bytes the
 * strings need, then it copies them into the space that was counted. */
struct packer {
	char *to;
	size_t need;
};

static const char *pack(struct packer *k, const char *s)
{
	size_t n;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	if (k->to == NULL) {
		k->need += n;
		return NULL;
	}
	memcpy(k->to, s, n);
	k->to += n;
	return k->to - n;
}

/* Allocates an operation with room for `arrays` bytes of arrays (8-aligned)
 * then `strings` bytes of text; *arrays_at and *strings_at point at them. */
static struct edl_store_oprec *op_alloc(enum edl_store_op kind, size_t arrays, size_t strings,
                                        void **arrays_at, char **strings_at)
{
	size_t head = (sizeof(struct edl_store_oprec) + 7) & ~(size_t)7;
	struct edl_store_oprec *op;

	if (arrays > SIZE_MAX / 2 || strings > SIZE_MAX / 2)
		return NULL;
	op = calloc(1, head + arrays + strings);
	if (op == NULL)
		return NULL;
	op->kind = kind;
	*arrays_at = (char *)op + head;
	*strings_at = (char *)op + head + arrays;
	return op;
}

static void pack_station(struct edl_store_station *dst, const struct edl_store_station *src,
                         struct packer *k)
{
	dst->name = pack(k, src->name);
	dst->host = pack(k, src->host);
}

struct edl_store_oprec *edl_store_oprec_station(const struct edl_store_station *st)
{
	struct packer k = {0};
	struct edl_store_station tmp;
	struct edl_store_oprec *op;
	void *arrays;

	pack_station(&tmp, st, &k);
	op = op_alloc(EDL_STORE_OP_STATION, 0, k.need, &arrays, &k.to);
	if (op != NULL)
		pack_station(&op->u.station, st, &k);
	return op;
}

static void pack_package(struct edl_store_package *dst, const struct edl_store_package *src,
                         struct packer *k)
{
	*dst = *src;
	dst->manifest_hash = pack(k, src->manifest_hash);
	dst->path = pack(k, src->path);
	dst->name = pack(k, src->name);
	dst->version = pack(k, src->version);
	dst->storage = pack(k, src->storage);
}

struct edl_store_oprec *edl_store_oprec_package(const struct edl_store_package *pkg)
{
	struct packer k = {0};
	struct edl_store_package tmp;
	struct edl_store_oprec *op;
	void *arrays;

	pack_package(&tmp, pkg, &k);
	op = op_alloc(EDL_STORE_OP_PACKAGE, 0, k.need, &arrays, &k.to);
	if (op != NULL)
		pack_package(&op->u.package, pkg, &k);
	return op;
}

static void pack_device(struct edl_store_device *dst, const struct edl_store_device *src,
                        struct packer *k)
{
	*dst = *src;
	dst->serial = pack(k, src->serial);
	dst->usb_serial = pack(k, src->usb_serial);
	dst->hw_id = pack(k, src->hw_id);
	dst->msm_id = pack(k, src->msm_id);
	dst->oem_id = pack(k, src->oem_id);
	dst->model_id = pack(k, src->model_id);
	dst->pk_hash = pack(k, src->pk_hash);
}

struct edl_store_oprec *edl_store_oprec_device(enum edl_store_op kind,
                                               const struct edl_store_device *dev)
{
	struct packer k = {0};
	struct edl_store_device tmp;
	struct edl_store_oprec *op;
	void *arrays;

	assert(kind == EDL_STORE_OP_DEVICE || kind == EDL_STORE_OP_RUN_IDENTIFY);
	pack_device(&tmp, dev, &k);
	op = op_alloc(kind, 0, k.need, &arrays, &k.to);
	if (op != NULL)
		pack_device(&op->u.device, dev, &k);
	return op;
}

static void pack_run_start(struct edl_store_run_start *dst, const struct edl_store_run_start *src,
                           struct packer *k)
{
	*dst = *src;
	dst->serial = pack(k, src->serial);
	dst->station = pack(k, src->station);
	dst->package_hash = pack(k, src->package_hash);
	dst->slot_label = pack(k, src->slot_label);
	dst->port = pack(k, src->port);
	dst->transcript = pack(k, src->transcript);
	dst->capture = pack(k, src->capture);
	dst->kind = pack(k, src->kind);
	dst->product = pack(k, src->product);
	dst->lot = pack(k, src->lot);
	dst->work_order = pack(k, src->work_order);
	dst->operator_name = pack(k, src->operator_name);
}

struct edl_store_oprec *edl_store_oprec_run_start(const struct edl_store_run_start *run)
{
	struct packer k = {0};
	struct edl_store_run_start tmp;
	struct edl_store_oprec *op;
	void *arrays;

	pack_run_start(&tmp, run, &k);
	op = op_alloc(EDL_STORE_OP_RUN_START, 0, k.need, &arrays, &k.to);
	if (op != NULL)
		pack_run_start(&op->u.start, run, &k);
	return op;
}

/* Steps and log-line pointers go in the arrays area; with steps == NULL only
 * the strings are counted. Log lines are kept only for runs that did not pass. */
static void pack_run_end(struct edl_store_run_end *dst, const struct edl_store_run_end *src,
                         struct edl_store_step *steps, const char **lines,
                         struct edl_store_archive *archives, struct packer *k)
{
	*dst = *src;
	dst->kind = pack(k, src->kind);
	for (size_t i = 0; i < src->n_archives; i++) {
		const struct edl_store_archive *a = &src->archives[i];
		struct edl_store_archive c = *a;

		c.serial = pack(k, a->serial);
		c.kind = pack(k, a->kind);
		c.label = pack(k, a->label);
		c.path = pack(k, a->path);
		c.sha256 = pack(k, a->sha256);
		if (archives != NULL)
			archives[i] = c;
	}
	dst->archives = archives;
	dst->stage = pack(k, src->stage);
	dst->message = pack(k, src->message);
	dst->functions = pack(k, src->functions);
	dst->warnings = pack(k, src->warnings);
	dst->mes_payload = pack(k, src->mes_payload); /* issue 13 */
	for (size_t i = 0; i < src->n_steps; i++) {
		const char *label = pack(k, src->steps[i].label);
		const char *start = pack(k, src->steps[i].start_sector);
		if (steps != NULL) {
			steps[i] = src->steps[i];
			steps[i].label = label;
			steps[i].start_sector = start;
		}
	}
	dst->steps = steps;
	if (src->result == EDL_RESULT_PASS)
		dst->n_log_lines = 0;
	for (size_t i = 0; i < dst->n_log_lines; i++) {
		const char *line = pack(k, src->log_lines[i]);
		if (lines != NULL)
			lines[i] = line;
	}
	dst->log_lines = lines;
}

struct edl_store_oprec *edl_store_oprec_run_end(const struct edl_store_run_end *end)
{
	struct packer k = {0};
	struct edl_store_run_end tmp;
	struct edl_store_oprec *op;
	struct edl_store_step *steps;
	const char **lines;
	size_t n_lines = end->result == EDL_RESULT_PASS ? 0 : end->n_log_lines;
	struct edl_store_archive *archives;
	size_t steps_bytes, lines_bytes, arrays;
	void *at;

	if (end->n_steps > SIZE_MAX / 4 / sizeof(*steps) ||
	    n_lines > SIZE_MAX / 4 / sizeof(*lines) ||
	    end->n_archives > SIZE_MAX / 4 / sizeof(*archives))
		return NULL;
	steps_bytes = end->n_steps * sizeof(*steps);
	lines_bytes = n_lines * sizeof(*lines);
	arrays = steps_bytes + lines_bytes + end->n_archives * sizeof(*archives);
	pack_run_end(&tmp, end, NULL, NULL, NULL, &k);
	op = op_alloc(EDL_STORE_OP_RUN_FINISH, arrays, k.need, &at, &k.to);
	if (op == NULL)
		return NULL;
	steps = at;
	lines = (const char **)((char *)at + steps_bytes);
	archives = (struct edl_store_archive *)((char *)at + steps_bytes + lines_bytes);
	pack_run_end(&op->u.end, end, steps, lines, end->n_archives ? archives : NULL, &k);
	op->run_id = end->run_id;
	return op;
}

struct edl_store_oprec *edl_store_oprec_progress(const struct edl_store_progress *p)
{
	struct packer k = {0};
	struct edl_store_oprec *op;
	void *arrays;

	pack(&k, p->stage);
	op = op_alloc(EDL_STORE_OP_RUN_PROGRESS, 0, k.need, &arrays, &k.to);
	if (op == NULL)
		return NULL;
	op->u.progress = *p;
	op->u.progress.stage = pack(&k, p->stage);
	op->run_id = p->run_id;
	return op;
}

struct edl_store_oprec *edl_store_oprec_route(const struct edl_store_run_route *rt)
{
	struct packer k = {0};
	struct edl_store_oprec *op;
	void *arrays;

	pack(&k, rt->product);
	pack(&k, rt->package_hash);
	op = op_alloc(EDL_STORE_OP_RUN_ROUTE, 0, k.need, &arrays, &k.to);
	if (op == NULL)
		return NULL;
	op->u.route.run_id = rt->run_id;
	op->u.route.product = pack(&k, rt->product);
	op->u.route.package_hash = pack(&k, rt->package_hash);
	op->run_id = rt->run_id;
	return op;
}

static void pack_archive(struct edl_store_archive *dst, const struct edl_store_archive *src,
                         struct packer *k)
{
	*dst = *src;
	dst->serial = pack(k, src->serial);
	dst->kind = pack(k, src->kind);
	dst->label = pack(k, src->label);
	dst->path = pack(k, src->path);
	dst->sha256 = pack(k, src->sha256);
}

struct edl_store_oprec *edl_store_oprec_archive(const struct edl_store_archive *a)
{
	struct packer k = {0};
	struct edl_store_archive tmp;
	struct edl_store_oprec *op;
	void *arrays;

	pack_archive(&tmp, a, &k);
	op = op_alloc(EDL_STORE_OP_ARCHIVE, 0, k.need, &arrays, &k.to);
	if (op == NULL)
		return NULL;
	pack_archive(&op->u.archive, a, &k);
	op->run_id = a->run_id;
	return op;
}

struct edl_store_oprec *edl_store_oprec_notice(const struct edl_store_oprec *op)
{
	struct edl_store_oprec *n = calloc(1, sizeof(*n));

	if (n == NULL)
		return NULL;
	n->kind = op->kind;
	n->cb = op->cb;
	n->data = op->data;
	n->run_id = op->run_id;
	n->at_ms = op->at_ms;
	n->code = op->code;
	n->kept = op->kept;
	n->detail = op->detail != NULL ? strdup(op->detail) : NULL;
	return n;
}

void edl_store_oprec_free(struct edl_store_oprec *op)
{
	if (op == NULL)
		return;
	free(op->detail);
	free(op);
}

/* ---- the recorder ----------------------------------------------------------------------- */

static const struct {
	size_t offset;
	const char *sql;
} statements[] = {
#define STMT(field, sql)                                        \
	{                                                       \
		offsetof(struct edl_store_recorder, field), sql \
	}
        STMT(station_upsert,
             "INSERT INTO station (name, host, first_seen_ms, last_seen_ms) VALUES (?1, ?2, ?3, ?3)"
             " ON CONFLICT (name) DO UPDATE SET host = coalesce(excluded.host, host),"
             " last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)"),
        STMT(station_id, "SELECT id FROM station WHERE name = ?1"),
        STMT(package_upsert,
             "INSERT INTO package (manifest_hash, path, name, version, storage, bytes, "
             "first_seen_ms)"
             " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
             " ON CONFLICT (manifest_hash) DO UPDATE SET path = coalesce(excluded.path, path),"
             " name = coalesce(excluded.name, name), version = coalesce(excluded.version, version),"
             " storage = coalesce(excluded.storage, storage), bytes = excluded.bytes"),
        STMT(package_id, "SELECT id FROM package WHERE manifest_hash = ?1"),
        STMT(device_upsert,
             "INSERT INTO device (serial, usb_serial, hw_id, msm_id, oem_id, model_id, pk_hash,"
             " first_seen_ms, last_seen_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)"
             " ON CONFLICT (serial) DO UPDATE SET"
             " usb_serial = coalesce(excluded.usb_serial, usb_serial),"
             " hw_id = coalesce(excluded.hw_id, hw_id), msm_id = coalesce(excluded.msm_id, msm_id),"
             " oem_id = coalesce(excluded.oem_id, oem_id),"
             " model_id = coalesce(excluded.model_id, model_id),"
             " pk_hash = coalesce(excluded.pk_hash, pk_hash),"
             " first_seen_ms = min(first_seen_ms, excluded.first_seen_ms),"
             " last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)"),
        STMT(run_insert,
             "INSERT INTO run (id, serial, station_id, slot, port, package_id, attempt, retry_of,"
             " start_ms, result, transcript, slot_label, capture, kind, product, lot, work_order,"
             " operator) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'running', ?10, ?11, ?12,"
             " coalesce(?13, 'flash'), ?14, ?15, ?16, ?17)"),
        STMT(run_identify, "UPDATE run SET serial = ?2 WHERE id = ?1"),
        STMT(run_route, "UPDATE run SET product = coalesce(?2, product), package_id = "
                        "coalesce((SELECT id FROM package WHERE manifest_hash = ?3), package_id) "
                        "WHERE id = ?1"),
        STMT(run_finish,
             "UPDATE run SET result = ?2, stage = ?3, error = ?4, message = ?5, end_ms = ?6,"
             " bytes_written = ?7, duration_ms = ?8, avg_mbps = ?9, payload = ?10,"
             " functions = ?11, warnings = ?12, error_class = ?13,"
             " commit_seq = (SELECT coalesce(max(commit_seq), 0) + 1 FROM run)"
             " WHERE id = ?1 AND result = 'running'"),
        STMT(run_result, "SELECT result FROM run WHERE id = ?1"),
        STMT(step_insert,
             "INSERT INTO run_step (run_id, idx, kind, label, lun, start_sector, sectors, bytes,"
             " duration_ms, result) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
        STMT(log_insert, "INSERT INTO run_log (run_id, seq, text) VALUES (?1, ?2, ?3)"),
        STMT(run_progress,
             "UPDATE run SET stage = ?2, bytes_written = ?3, bytes_total = ?4, progress_ms = ?5"
             " WHERE id = ?1 AND result = 'running'"),
        /* issue 15: one row per (run, kind, label); recording it again updates it. */
        STMT(archive_update, "UPDATE archive SET path = ?5, bytes = ?6, sha256 = ?7, restored = ?8"
                             " WHERE run_id = ?1 AND kind = ?3 AND label = ?4"),
        STMT(archive_insert,
             "INSERT INTO archive (run_id, serial, kind, label, path, bytes, sha256, restored,"
             " created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
#undef STMT
};

static sqlite3_stmt **stmt_at(struct edl_store_recorder *r, size_t i)
{
	return (sqlite3_stmt **)((char *)r + statements[i].offset);
}

int edl_store_recorder_init(struct edl_store_recorder *r, sqlite3 *db, struct edl_error *err)
{
	memset(r, 0, sizeof(*r));
	r->db = db;
	for (size_t i = 0; i < sizeof(statements) / sizeof(statements[0]); i++) {
		int rc = sqlite3_prepare_v3(db, statements[i].sql, -1, SQLITE_PREPARE_PERSISTENT,
		                            stmt_at(r, i), NULL);
		if (rc != SQLITE_OK) {
			rc = edl_store_sqlite_error(err, db, rc,
			                            "preparing the writer's statements");
			edl_store_recorder_free(r);
			return rc;
		}
	}
	return EDL_OK;
}

void edl_store_recorder_free(struct edl_store_recorder *r)
{
	for (size_t i = 0; i < sizeof(statements) / sizeof(statements[0]); i++) {
		sqlite3_finalize(*stmt_at(r, i));
		*stmt_at(r, i) = NULL;
	}
	edl_store_recorder_forget(r);
}

void edl_store_recorder_forget(struct edl_store_recorder *r)
{
	free(r->station_name);
	free(r->package_hash);
	r->station_name = NULL;
	r->package_hash = NULL;
}

/* Steps a statement that returns no row and makes it ready for the next use. */
static int run_stmt(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

static void bind_optional_int(sqlite3_stmt *st, int idx, int64_t v, bool present)
{
	if (present)
		sqlite3_bind_int64(st, idx, v);
	else
		sqlite3_bind_null(st, idx);
}

/* Looks up the id of a row by its natural key through a one-entry cache.
 * *found is false when there is no such row. */
static int lookup_id(int64_t *out, bool *found, sqlite3_stmt *st, char **cache_key,
                     int64_t *cache_id, const char *key)
{
	int rc;

	*found = false;
	if (*cache_key != NULL && strcmp(*cache_key, key) == 0) {
		*out = *cache_id;
		*found = true;
		return SQLITE_OK;
	}
	edl_store_bind_text(st, 1, key);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		*found = true;
		rc = SQLITE_OK;
		free(*cache_key);
		*cache_key = strdup(key);
		*cache_id = *out;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_OK;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

static int apply_station(struct edl_store_recorder *r, const struct edl_store_oprec *op,
                         struct edl_error *err)
{
	sqlite3_stmt *st = r->station_upsert;
	int rc;

	edl_store_bind_text(st, 1, op->u.station.name);
	edl_store_bind_text(st, 2, op->u.station.host);
	sqlite3_bind_int64(st, 3, op->at_ms);
	rc = run_stmt(st);
	if (rc != SQLITE_OK)
		return edl_store_sqlite_error(err, r->db, rc, "recording the station");
	return EDL_OK;
}

static int apply_package(struct edl_store_recorder *r, const struct edl_store_oprec *op,
                         struct edl_error *err)
{
	const struct edl_store_package *p = &op->u.package;
	sqlite3_stmt *st = r->package_upsert;
	int rc;

	if (p->bytes > INT64_MAX)
		return edl_error_set(err, EDL_E_RANGE, "package of %" PRIu64 " bytes", p->bytes);
	edl_store_bind_text(st, 1, p->manifest_hash);
	edl_store_bind_text(st, 2, p->path);
	edl_store_bind_text(st, 3, p->name);
	edl_store_bind_text(st, 4, p->version);
	edl_store_bind_text(st, 5, p->storage);
	sqlite3_bind_int64(st, 6, (int64_t)p->bytes);
	sqlite3_bind_int64(st, 7, op->at_ms);
	rc = run_stmt(st);
	if (rc != SQLITE_OK)
		return edl_store_sqlite_error(err, r->db, rc, "recording the package");
	return EDL_OK;
}

static int upsert_device(struct edl_store_recorder *r, const struct edl_store_device *d,
                         int64_t seen_ms, struct edl_error *err)
{
	sqlite3_stmt *st = r->device_upsert;
	int rc;

	edl_store_bind_text(st, 1, d->serial);
	edl_store_bind_text(st, 2, d->usb_serial);
	edl_store_bind_text(st, 3, d->hw_id);
	edl_store_bind_text(st, 4, d->msm_id);
	edl_store_bind_text(st, 5, d->oem_id);
	edl_store_bind_text(st, 6, d->model_id);
	edl_store_bind_text(st, 7, d->pk_hash);
	sqlite3_bind_int64(st, 8, seen_ms);
	rc = run_stmt(st);
	if (rc != SQLITE_OK)
		return edl_store_sqlite_error(err, r->db, rc, "recording the device");
	return EDL_OK;
}

static int apply_device(struct edl_store_recorder *r, const struct edl_store_oprec *op,
                        struct edl_error *err)
{
	const struct edl_store_device *d = &op->u.device;
	int rc = upsert_device(r, d, d->seen_ms != 0 ? d->seen_ms : op->at_ms, err);
	sqlite3_stmt *st = r->run_identify;

	if (rc != EDL_OK || op->kind != EDL_STORE_OP_RUN_IDENTIFY)
		return rc;
	sqlite3_bind_int64(st, 1, op->run_id);
	edl_store_bind_text(st, 2, d->serial);
	rc = run_stmt(st);
	if (rc != SQLITE_OK)
		return edl_store_sqlite_error(err, r->db, rc, "recording the unit of a run");
	if (sqlite3_changes(r->db) == 0)
		return edl_error_set(err, EDL_E_NOENT, "run %" PRId64 " does not exist",
		                     op->run_id);
	return EDL_OK;
}

static int apply_run_start(struct edl_store_recorder *r, const struct edl_store_oprec *op,
                           struct edl_error *err)
{
	const struct edl_store_run_start *s = &op->u.start;
	int64_t station_id = 0, package_id = 0;
	sqlite3_stmt *st = r->run_insert;
	bool found;
	int rc;

	if (op->replay) {
		/* Kept and applied again: a start already recorded is skipped. */
		sqlite3_bind_int64(r->run_result, 1, op->run_id);
		rc = sqlite3_step(r->run_result);
		sqlite3_reset(r->run_result);
		sqlite3_clear_bindings(r->run_result);
		if (rc == SQLITE_ROW)
			return EDL_OK;
		if (rc != SQLITE_DONE)
			return edl_store_sqlite_error(err, r->db, rc, "looking up the run");
	}
	rc = lookup_id(&station_id, &found, r->station_id, &r->station_name, &r->station_id_cached,
	               s->station);
	if (rc != SQLITE_OK)
		return edl_store_sqlite_error(err, r->db, rc, "looking up the station");
	if (!found)
		return edl_error_set(err, EDL_E_NOENT, "station '%.64s' is not recorded",
		                     s->station);
	if (s->package_hash != NULL) {
		rc = lookup_id(&package_id, &found, r->package_id, &r->package_hash,
		               &r->package_id_cached, s->package_hash);
		if (rc != SQLITE_OK)
			return edl_store_sqlite_error(err, r->db, rc, "looking up the package");
		if (!found)
			return edl_error_set(err, EDL_E_NOENT, "package %.80s is not recorded",
			                     s->package_hash);
	}
	if (s->serial != NULL) {
		struct edl_store_device d = {.serial = s->serial};
		rc = upsert_device(r, &d, s->start_ms, err);
		if (rc != EDL_OK)
			return rc;
	}
	sqlite3_bind_int64(st, 1, op->run_id);
	edl_store_bind_text(st, 2, s->serial);
	sqlite3_bind_int64(st, 3, station_id);
	sqlite3_bind_int(st, 4, s->slot);
	edl_store_bind_text(st, 5, s->port);
	bind_optional_int(st, 6, package_id, s->package_hash != NULL);
	sqlite3_bind_int(st, 7, s->attempt > 0 ? s->attempt : 1);
	bind_optional_int(st, 8, s->retry_of, s->retry_of > 0);
	sqlite3_bind_int64(st, 9, s->start_ms);
	edl_store_bind_text(st, 10, s->transcript);
	edl_store_bind_text(st, 11, s->slot_label);
	edl_store_bind_text(st, 12, s->capture);
	edl_store_bind_text(st, 13, s->kind);
	edl_store_bind_text(st, 14, s->product);
	edl_store_bind_text(st, 15, s->lot);
	edl_store_bind_text(st, 16, s->work_order);
	edl_store_bind_text(st, 17, s->operator_name);
	rc = run_stmt(st);
	if (rc != SQLITE_OK)
		return edl_store_sqlite_error(err, r->db, rc, "recording the start of the run");
	return EDL_OK;
}

/* Says why a run could not be finished: unknown, or not running any more. */
static int explain_not_running(struct edl_store_recorder *r, int64_t run_id, struct edl_error *err)
{
	sqlite3_stmt *st = r->run_result;
	int rc;

	sqlite3_bind_int64(st, 1, run_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = edl_error_set(err, EDL_E_INVAL, "run %" PRId64 " is already finished (%s)",
		                   run_id, (const char *)sqlite3_column_text(st, 0));
	else if (rc == SQLITE_DONE)
		rc = edl_error_set(err, EDL_E_NOENT, "run %" PRId64 " does not exist", run_id);
	else
		rc = edl_store_sqlite_error(err, r->db, rc, "looking up the run");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

/* A memory-dump run (issue 15): the run's kind and its archive rows, in the
 * finish's transaction. Rare, so the statements are prepared here. */
static int apply_run_archives(struct edl_store_recorder *r, const struct edl_store_run_end *e,
                              struct edl_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = SQLITE_OK;

	if (e->kind != NULL) {
		rc = sqlite3_prepare_v2(r->db, "UPDATE run SET kind = ?2 WHERE id = ?1", -1, &st,
		                        NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_int64(st, 1, e->run_id);
			sqlite3_bind_text(st, 2, e->kind, -1, SQLITE_STATIC);
			rc = run_stmt(st);
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_OK)
			return edl_store_sqlite_error(err, r->db, rc, "recording the run's kind");
	}
	if (e->n_archives == 0)
		return EDL_OK;
	rc = sqlite3_prepare_v2(r->db,
	                        "INSERT INTO archive (run_id, serial, kind, label, path, bytes, "
	                        "sha256, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	                        -1, &st, NULL);
	for (size_t i = 0; rc == SQLITE_OK && i < e->n_archives; i++) {
		const struct edl_store_archive *a = &e->archives[i];

		sqlite3_bind_int64(st, 1, e->run_id);
		sqlite3_bind_text(st, 2, a->serial ? a->serial : "", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, a->kind ? a->kind : "dump", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, a->label ? a->label : "", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, a->path ? a->path : "", -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, a->bytes > INT64_MAX ? INT64_MAX : (int64_t)a->bytes);
		sqlite3_bind_text(st, 7, a->sha256 ? a->sha256 : "", -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 8, a->created_ms);
		rc = run_stmt(st);
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		return edl_store_sqlite_error(err, r->db, rc, "recording the run's archived files");
	return EDL_OK;
}

static int apply_run_finish(struct edl_store_recorder *r, const struct edl_store_oprec *op,
                            struct edl_error *err)
{
	const struct edl_store_run_end *e = &op->u.end;
	sqlite3_stmt *st = r->run_finish;
	double mbps = e->avg_mbps;
	int rc;

	if (mbps <= 0.0 && e->duration_ms > 0)
		mbps = (double)e->bytes_written / 1e6 / ((double)e->duration_ms / 1000.0);
	sqlite3_bind_int64(st, 1, e->run_id);
	sqlite3_bind_text(st, 2, edl_store_result_name(e->result), -1, SQLITE_STATIC);
	edl_store_bind_text(st, 3, e->stage);
	if (e->error_code != 0)
		sqlite3_bind_text(st, 4, edl_error_name(e->error_code), -1, SQLITE_STATIC);
	edl_store_bind_text(st, 5, e->message);
	sqlite3_bind_int64(st, 6, e->end_ms);
	sqlite3_bind_int64(st, 7, (int64_t)e->bytes_written);
	bind_optional_int(st, 8, e->duration_ms, e->duration_ms >= 0);
	if (e->duration_ms > 0)
		sqlite3_bind_double(st, 9, mbps);
	sqlite3_bind_int64(st, 10, e->payload);
	edl_store_bind_text(st, 11, e->functions);
	edl_store_bind_text(st, 12, e->warnings);
	if (e->error_code != 0)
		sqlite3_bind_text(st, 13, edl_error_class_name(edl_error_class(e->error_code)), -1,
		                  SQLITE_STATIC);
	rc = run_stmt(st);
	if (rc != SQLITE_OK)
		return edl_store_sqlite_error(err, r->db, rc, "recording the end of the run");
	if (sqlite3_changes(r->db) == 0) {
		/* Kept and applied again: a run already finished is not re-finished. */
		if (op->replay)
			return EDL_OK;
		return explain_not_running(r, e->run_id, err);
	}

	st = r->step_insert;
	for (size_t i = 0; i < e->n_steps; i++) {
		const struct edl_store_step *s = &e->steps[i];
		sqlite3_bind_int64(st, 1, e->run_id);
		sqlite3_bind_int64(st, 2, (int64_t)i);
		sqlite3_bind_text(st, 3, edl_store_step_kind_name(s->kind), -1, SQLITE_STATIC);
		edl_store_bind_text(st, 4, s->label);
		sqlite3_bind_int64(st, 5, s->lun);
		edl_store_bind_text(st, 6, s->start_sector);
		sqlite3_bind_int64(st, 7, (int64_t)s->sectors);
		sqlite3_bind_int64(st, 8, (int64_t)s->bytes);
		sqlite3_bind_int64(st, 9, s->duration_ms);
		sqlite3_bind_text(st, 10, edl_store_step_result_name(s->result), -1, SQLITE_STATIC);
		rc = run_stmt(st);
		if (rc != SQLITE_OK)
			return edl_store_sqlite_error(err, r->db, rc,
			                              "recording a step of the run");
	}
	st = r->log_insert;
	for (size_t i = 0; i < e->n_log_lines; i++) {
		sqlite3_bind_int64(st, 1, e->run_id);
		sqlite3_bind_int64(st, 2, (int64_t)i);
		sqlite3_bind_text(st, 3, e->log_lines[i] != NULL ? e->log_lines[i] : "", -1,
		                  SQLITE_STATIC);
		rc = run_stmt(st);
		if (rc != SQLITE_OK)
			return edl_store_sqlite_error(err, r->db, rc, "recording the device's log");
	}
	rc = apply_run_archives(r, e, err);
	if (rc != EDL_OK)
		return rc;
	/* issue 13: the MES hears of it, durably, in this very transaction. */
	if (e->mes_payload != NULL)
		return edl_store_mes_enqueue(r->db, e->run_id, e->mes_payload, e->end_ms, err);
	return EDL_OK;
}

/* Only while the run is running: a progress that arrives after the finish (or
 * for a run marked interrupted) changes nothing. */
static int apply_run_progress(struct edl_store_recorder *r, const struct edl_store_oprec *op,
                              struct edl_error *err)
{
	const struct edl_store_progress *p = &op->u.progress;
	sqlite3_stmt *st = r->run_progress;
	int rc;

	if (op->superseded)
		return EDL_OK;
	if (p->bytes_done > INT64_MAX || p->bytes_total > INT64_MAX)
		return edl_error_set(err, EDL_E_RANGE, "run %" PRId64 ": progress out of range",
		                     op->run_id);
	sqlite3_bind_int64(st, 1, op->run_id);
	edl_store_bind_text(st, 2, p->stage);
	sqlite3_bind_int64(st, 3, (int64_t)p->bytes_done);
	sqlite3_bind_int64(st, 4, (int64_t)p->bytes_total);
	sqlite3_bind_int64(st, 5, p->at_ms);
	rc = run_stmt(st);
	if (rc != SQLITE_OK)
		return edl_store_sqlite_error(err, r->db, rc, "recording the progress of the run");
	return EDL_OK;
}

/* The product and package the identity gate chose for the run. */
static int apply_run_route(struct edl_store_recorder *r, const struct edl_store_oprec *op,
                           struct edl_error *err)
{
	const struct edl_store_run_route *rt = &op->u.route;
	sqlite3_stmt *st = r->run_route;
	int rc;

	sqlite3_bind_int64(st, 1, op->run_id);
	edl_store_bind_text(st, 2, rt->product);
	edl_store_bind_text(st, 3, rt->package_hash);
	rc = run_stmt(st);
	if (rc != SQLITE_OK)
		return edl_store_sqlite_error(err, r->db, rc, "recording the product of the run");
	if (sqlite3_changes(r->db) == 0 && !op->replay)
		return edl_error_set(err, EDL_E_NOENT, "run %" PRId64 " does not exist",
		                     op->run_id);
	return EDL_OK;
}

static void bind_archive(sqlite3_stmt *st, const struct edl_store_archive *a)
{
	sqlite3_bind_int64(st, 1, a->run_id);
	edl_store_bind_text(st, 2, a->serial);
	edl_store_bind_text(st, 3, a->kind);
	edl_store_bind_text(st, 4, a->label);
	edl_store_bind_text(st, 5, a->path);
	sqlite3_bind_int64(st, 6, (int64_t)a->bytes);
	edl_store_bind_text(st, 7, a->sha256);
	bind_optional_int(st, 8, a->restored, a->restored >= 0);
	sqlite3_bind_int64(st, 9, a->created_ms);
}

static int apply_archive(struct edl_store_recorder *r, const struct edl_store_oprec *op,
                         struct edl_error *err)
{
	const struct edl_store_archive *a = &op->u.archive;
	int rc;

	bind_archive(r->archive_update, a);
	rc = run_stmt(r->archive_update);
	if (rc == SQLITE_OK && sqlite3_changes(r->db) == 0) {
		bind_archive(r->archive_insert, a);
		rc = run_stmt(r->archive_insert);
	}
	if (rc != SQLITE_OK)
		return edl_store_sqlite_error(err, r->db, rc, "recording an archived file");
	return EDL_OK;
}

int edl_store_recorder_apply(struct edl_store_recorder *r, const struct edl_store_oprec *op,
                             struct edl_error *err)
{
	switch (op->kind) {
	case EDL_STORE_OP_STATION:
		return apply_station(r, op, err);
	case EDL_STORE_OP_PACKAGE:
		return apply_package(r, op, err);
	case EDL_STORE_OP_DEVICE:
	case EDL_STORE_OP_RUN_IDENTIFY:
		return apply_device(r, op, err);
	case EDL_STORE_OP_RUN_START:
		return apply_run_start(r, op, err);
	case EDL_STORE_OP_RUN_FINISH:
		return apply_run_finish(r, op, err);
	case EDL_STORE_OP_RUN_PROGRESS:
		return apply_run_progress(r, op, err);
	case EDL_STORE_OP_RUN_ROUTE:
		return apply_run_route(r, op, err);
	case EDL_STORE_OP_RUN_MES:
	case EDL_STORE_OP_MES_MARK:
		return edl_store_mes_apply(r->db, op, err);
	case EDL_STORE_OP_ARCHIVE:
		return apply_archive(r, op, err);
	}
	assert(!"unknown store operation");
	return EDL_E_INTERNAL;
}
