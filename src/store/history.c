/*
 * A unit's history for the RMA bench: every run of one serial, across packages
 * and stations, oldest first, with the stage, error and message of failures and
 * the device's own log lines. One indexed lookup (run_by_serial) plus one small
 * query per failed run, so it stays in milliseconds on a million-run database.
 *
 * Also here: finding the unit a person means from what they typed
 * (edl_store_find_unit): case, "0x", the USB serial, a unique prefix, and a
 * "did you mean" by edit distance when nothing matches.
 */
#include "store_internal.h"

#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct history_owner {
	struct edl_store_history pub;
	struct edl_arena arena;
	struct edl_store_history_run *runs; /* realloc'd while reading */
	size_t cap;
};

#define COPY(dst, st, col)                                                       \
	do {                                                                     \
		const char *v_ = (const char *)sqlite3_column_text((st), (col)); \
		(dst) = edl_arena_strdup(&o->arena, v_);                         \
		if (v_ != NULL && (dst) == NULL)                                 \
			goto nomem;                                              \
	} while (0)

static int read_device(struct history_owner *o, sqlite3 *db, struct edl_error *err)
{
	struct edl_store_history *h = &o->pub;
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db,
	                            "SELECT usb_serial, hw_id, msm_id, oem_id, model_id, pk_hash,"
	                            " first_seen_ms, last_seen_ms FROM device WHERE serial = ?1",
	                            -1, &st, NULL);

	if (rc != SQLITE_OK)
		goto fail;
	edl_store_bind_text(st, 1, h->serial);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		h->have_device = true;
		COPY(h->usb_serial, st, 0);
		COPY(h->hw_id, st, 1);
		COPY(h->msm_id, st, 2);
		COPY(h->oem_id, st, 3);
		COPY(h->model_id, st, 4);
		COPY(h->pk_hash, st, 5);
		h->first_seen_ms = sqlite3_column_int64(st, 6);
		h->last_seen_ms = sqlite3_column_int64(st, 7);
		rc = SQLITE_DONE;
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	return EDL_OK;
fail:
	rc = edl_store_sqlite_error(err, db, rc, "reading the device");
	sqlite3_finalize(st);
	return rc;
nomem:
	sqlite3_finalize(st);
	return edl_error_set(err, EDL_E_NOMEM, "reading the device");
}

/* issue 13: the MES's lot, work order and operator of each run read. */
static int read_mes_fields(struct history_owner *o, sqlite3 *db, struct edl_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT lot, work_order, operator FROM run WHERE id = ?1",
	                            -1, &st, NULL);

	for (size_t i = 0; rc == SQLITE_OK && i < o->pub.n_runs; i++) {
		struct edl_store_history_run *run = &o->runs[i];
		sqlite3_bind_int64(st, 1, run->id);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			COPY(run->lot, st, 0);
			COPY(run->work_order, st, 1);
			COPY(run->operator_name, st, 2);
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE) {
			rc = SQLITE_OK;
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		return edl_store_sqlite_error(err, db, rc, "reading the runs' MES data");
	return EDL_OK;
nomem:
	sqlite3_finalize(st);
	return edl_error_set(err, EDL_E_NOMEM, "reading the runs' MES data");
}

static int read_runs(struct history_owner *o, sqlite3 *db, struct edl_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(
	        db,
	        "SELECT r.id, s.name, r.slot, r.port, p.name, p.version, p.path, p.manifest_hash,"
	        " r.attempt, r.retry_of, r.start_ms, r.end_ms, r.result, r.stage, r.error,"
	        " r.message, r.bytes_written, r.duration_ms, r.avg_mbps, r.payload, r.transcript,"
	        " r.functions, r.warnings, r.slot_label, r.error_class, r.capture, r.kind,"
	        " r.product"
	        " FROM run r JOIN station s ON s.id = r.station_id"
	        " LEFT JOIN package p ON p.id = r.package_id"
	        " WHERE r.serial = ?1 ORDER BY r.start_ms, r.id",
	        -1, &st, NULL);

	if (rc != SQLITE_OK)
		goto fail;
	edl_store_bind_text(st, 1, o->pub.serial);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct edl_store_history_run *run;
		int result;

		if (o->pub.n_runs == o->cap) {
			size_t cap = o->cap == 0 ? 16 : o->cap * 2;
			void *runs = realloc(o->runs, cap * sizeof(*o->runs));
			if (runs == NULL)
				goto nomem;
			o->runs = runs;
			o->cap = cap;
		}
		run = &o->runs[o->pub.n_runs++];
		memset(run, 0, sizeof(*run));
		o->pub.runs = o->runs;
		run->id = sqlite3_column_int64(st, 0);
		COPY(run->station, st, 1);
		run->slot = sqlite3_column_int(st, 2);
		COPY(run->port, st, 3);
		COPY(run->package_name, st, 4);
		COPY(run->package_version, st, 5);
		COPY(run->package_path, st, 6);
		COPY(run->package_hash, st, 7);
		run->attempt = sqlite3_column_int(st, 8);
		run->retry_of = sqlite3_column_int64(st, 9);
		run->start_ms = sqlite3_column_int64(st, 10);
		run->end_ms = sqlite3_column_type(st, 11) == SQLITE_NULL
		                      ? -1
		                      : sqlite3_column_int64(st, 11);
		result = edl_store_result_parse((const char *)sqlite3_column_text(st, 12));
		run->result = result < 0 ? EDL_RESULT_RUNNING : (enum edl_store_result)result;
		COPY(run->stage, st, 13);
		COPY(run->error, st, 14);
		COPY(run->message, st, 15);
		run->bytes_written = (uint64_t)sqlite3_column_int64(st, 16);
		run->duration_ms = sqlite3_column_type(st, 17) == SQLITE_NULL
		                           ? -1
		                           : sqlite3_column_int64(st, 17);
		run->avg_mbps = sqlite3_column_type(st, 18) == SQLITE_NULL
		                        ? NAN
		                        : sqlite3_column_double(st, 18);
		run->payload = (uint32_t)sqlite3_column_int64(st, 19);
		COPY(run->transcript, st, 20);
		COPY(run->functions, st, 21);
		COPY(run->warnings, st, 22);
		COPY(run->slot_label, st, 23);
		if (run->slot_label == NULL || run->slot_label[0] == '\0')
			run->slot_label = run->port;
		if (run->slot_label == NULL || run->slot_label[0] == '\0') {
			char number[24];
			snprintf(number, sizeof(number), "#%d", run->slot);
			run->slot_label = edl_arena_strdup(&o->arena, number);
			if (run->slot_label == NULL)
				goto nomem;
		}
		if (run->result == EDL_RESULT_FAIL || run->result == EDL_RESULT_INTERRUPTED) {
			/* Both are static strings: nothing to copy. */
			edl_store_failure_words(run->error,
			                        (const char *)sqlite3_column_text(st, 24),
			                        &run->error_class, &run->action);
		}
		COPY(run->capture, st, 25);
		COPY(run->kind, st, 26);
		COPY(run->product, st, 27);
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	return EDL_OK;
fail:
	rc = edl_store_sqlite_error(err, db, rc, "reading the unit's runs");
	sqlite3_finalize(st);
	return rc;
nomem:
	sqlite3_finalize(st);
	return edl_error_set(err, EDL_E_NOMEM, "reading the unit's runs");
}

static int read_logs(struct history_owner *o, sqlite3_stmt *st, struct edl_store_history_run *run)
{
	const char **lines = NULL;
	size_t n = 0, cap = 0;
	int rc;

	sqlite3_bind_int64(st, 1, run->id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap == 0 ? 16 : cap * 2;
			const char **more = edl_arena_alloc(&o->arena, ncap * sizeof(*more));
			if (more == NULL)
				goto nomem;
			if (n > 0)
				memcpy(more, lines, n * sizeof(*more));
			lines = more;
			cap = ncap;
		}
		COPY(lines[n], st, 0);
		n++;
	}
	sqlite3_reset(st);
	run->log_lines = lines;
	run->n_log_lines = n;
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
nomem:
	sqlite3_reset(st);
	return SQLITE_NOMEM;
}

static int read_steps(struct history_owner *o, sqlite3_stmt *st, struct edl_store_history_run *run)
{
	struct edl_store_history_step *steps = NULL;
	size_t n = 0, cap = 0;
	int rc;

	sqlite3_bind_int64(st, 1, run->id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct edl_store_history_step *s;
		if (n == cap) {
			size_t ncap = cap == 0 ? 16 : cap * 2;
			struct edl_store_history_step *more =
			        edl_arena_alloc(&o->arena, ncap * sizeof(*more));
			if (more == NULL)
				goto nomem;
			if (n > 0)
				memcpy(more, steps, n * sizeof(*more));
			steps = more;
			cap = ncap;
		}
		s = &steps[n++];
		COPY(s->kind, st, 0);
		COPY(s->label, st, 1);
		s->lun = (uint32_t)sqlite3_column_int64(st, 2);
		COPY(s->start_sector, st, 3);
		s->sectors = (uint64_t)sqlite3_column_int64(st, 4);
		s->bytes = (uint64_t)sqlite3_column_int64(st, 5);
		s->duration_ms = sqlite3_column_int64(st, 6);
		COPY(s->result, st, 7);
	}
	sqlite3_reset(st);
	run->steps = steps;
	run->n_steps = n;
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
nomem:
	sqlite3_reset(st);
	return SQLITE_NOMEM;
}

static int read_details(struct history_owner *o, sqlite3 *db, unsigned flags, struct edl_error *err)
{
	sqlite3_stmt *logs = NULL, *steps = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT text FROM run_log WHERE run_id = ?1 ORDER BY seq",
	                            -1, &logs, NULL);

	if (rc == SQLITE_OK && (flags & EDL_STORE_HISTORY_STEPS))
		rc = sqlite3_prepare_v2(db,
		                        "SELECT kind, label, lun, start_sector, sectors, bytes,"
		                        " duration_ms, result FROM run_step WHERE run_id = ?1"
		                        " ORDER BY idx",
		                        -1, &steps, NULL);
	for (size_t i = 0; rc == SQLITE_OK && i < o->pub.n_runs; i++) {
		struct edl_store_history_run *run = &o->runs[i];
		if (run->result != EDL_RESULT_PASS)
			rc = read_logs(o, logs, run);
		if (rc == SQLITE_OK && steps != NULL)
			rc = read_steps(o, steps, run);
	}
	if (rc != SQLITE_OK)
		rc = edl_store_sqlite_error(err, db, rc, "reading the runs' logs and steps");
	sqlite3_finalize(logs);
	sqlite3_finalize(steps);
	return rc;
}

/* issue 15: the unit's preserved partitions and dumps, oldest first. */
static int read_archives(struct history_owner *o, sqlite3 *db, struct edl_error *err)
{
	struct edl_store_history *h = &o->pub;
	struct edl_store_history_archive *a = NULL;
	size_t cap = 0;
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db,
	                            "SELECT run_id, kind, label, path, bytes, sha256, restored,"
	                            " created_ms FROM archive WHERE serial = ?1"
	                            " ORDER BY created_ms, id",
	                            -1, &st, NULL);

	if (rc != SQLITE_OK)
		goto fail;
	edl_store_bind_text(st, 1, h->serial);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (h->n_archives == cap) {
			size_t ncap = cap == 0 ? 8 : cap * 2;
			struct edl_store_history_archive *more =
			        edl_arena_alloc(&o->arena, ncap * sizeof(*more));
			if (more == NULL)
				goto nomem;
			if (h->n_archives > 0)
				memcpy(more, a, h->n_archives * sizeof(*more));
			a = more;
			cap = ncap;
			h->archives = a;
		}
		struct edl_store_history_archive *e = &a[h->n_archives++];
		memset(e, 0, sizeof(*e));
		e->run_id = sqlite3_column_int64(st, 0);
		COPY(e->kind, st, 1);
		COPY(e->label, st, 2);
		COPY(e->path, st, 3);
		e->bytes = (uint64_t)sqlite3_column_int64(st, 4);
		COPY(e->sha256, st, 5);
		e->restored =
		        sqlite3_column_type(st, 6) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 6);
		e->created_ms = sqlite3_column_int64(st, 7);
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	return EDL_OK;
fail:
	rc = edl_store_sqlite_error(err, db, rc, "reading the unit's archives");
	sqlite3_finalize(st);
	return rc;
nomem:
	sqlite3_finalize(st);
	return edl_error_set(err, EDL_E_NOMEM, "reading the unit's archives");
}

int edl_store_history(struct edl_store_history **out, struct edl_store *s, const char *serial,
                      unsigned flags, struct edl_error *err)
{
	struct history_owner *o;
	int rc;

	*out = NULL;
	o = calloc(1, sizeof(*o));
	if (o == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "allocating the history");
	edl_arena_init(&o->arena);
	o->pub.serial = edl_arena_strdup(&o->arena, serial);
	if (o->pub.serial == NULL) {
		rc = edl_error_set(err, EDL_E_NOMEM, "allocating the history");
		goto out;
	}
	/* One read transaction: the runs and their logs from the same snapshot. */
	rc = edl_store_exec(s->db, "BEGIN", err);
	if (rc != EDL_OK)
		goto out;
	rc = read_device(o, s->db, err);
	if (rc == EDL_OK)
		rc = read_runs(o, s->db, err);
	if (rc == EDL_OK)
		rc = read_mes_fields(o, s->db, err); /* issue 13 */
	if (rc == EDL_OK)
		rc = read_details(o, s->db, flags, err);
	if (rc == EDL_OK)
		rc = read_archives(o, s->db, err);
	sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if (rc == EDL_OK && !o->pub.have_device && o->pub.n_runs == 0)
		rc = edl_error_set(err, EDL_E_NOENT, "no unit with this serial in the database");
out:
	if (rc != EDL_OK) {
		edl_store_history_free(&o->pub);
		return rc;
	}
	*out = &o->pub;
	return EDL_OK;
}

struct edl_store_history *edl_store_history_new(struct edl_arena **arena_out)
{
	struct history_owner *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return NULL;
	edl_arena_init(&o->arena);
	*arena_out = &o->arena;
	return &o->pub;
}

void edl_store_history_free(struct edl_store_history *h)
{
	struct history_owner *o;

	if (h == NULL)
		return;
	o = (struct history_owner *)((char *)h - offsetof(struct history_owner, pub));
	free(o->runs);
	edl_arena_free(&o->arena);
	free(o);
}

/* ---- finding a unit from what a person typed ---- */

#define FIND_TEXT_MAX 128

/* What the person typed, trimmed of blanks and of a leading 0x. */
size_t edl_store_typed_serial(char *out, size_t cap, const char *text, bool strip_hex)
{
	size_t n;

	while (*text == ' ' || *text == '\t')
		text++;
	if (strip_hex && text[0] == '0' && (text[1] == 'x' || text[1] == 'X') && text[2] != '\0')
		text += 2;
	n = strlen(text);
	while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\t' || text[n - 1] == '\n'))
		n--;
	if (n >= cap)
		n = cap - 1;
	memcpy(out, text, n);
	out[n] = '\0';
	return n;
}

/* Printable ASCII only, for messages: typed and stored serials may hold anything. */
void edl_store_printable(char *out, size_t cap, const char *s)
{
	size_t n = 0;

	for (; s != NULL && *s != '\0' && n + 1 < cap; s++)
		out[n++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	out[n] = '\0';
}

static bool prefix_nocase(const char *s, const char *prefix, size_t n)
{
	if (s == NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\0' ||
		    tolower((unsigned char)s[i]) != tolower((unsigned char)prefix[i]))
			return false;
	}
	return true;
}

/* Levenshtein distance ignoring case, giving up (returning limit + 1) once it
 * exceeds limit; strings are at most FIND_TEXT_MAX bytes. */
static unsigned edit_distance(const char *a, const char *b, unsigned limit)
{
	unsigned row[FIND_TEXT_MAX + 1];
	size_t la = strlen(a), lb = strlen(b);

	if (la > FIND_TEXT_MAX || lb > FIND_TEXT_MAX)
		return limit + 1;
	if ((la > lb ? la - lb : lb - la) > limit)
		return limit + 1;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned diag = row[0], best;
		row[0] = (unsigned)i;
		best = row[0];
		for (size_t j = 1; j <= lb; j++) {
			unsigned up = row[j];
			unsigned cost =
			        tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1])
			                ? 0
			                : 1;
			unsigned v = diag + cost;
			if (up + 1 < v)
				v = up + 1;
			if (row[j - 1] + 1 < v)
				v = row[j - 1] + 1;
			row[j] = v;
			diag = up;
			if (v < best)
				best = v;
		}
		if (best > limit)
			return limit + 1;
	}
	return row[lb];
}

/* Exact chip serial through the device table's key, in the forms it may be stored. */
static int find_exact_serial(char *found, size_t cap, bool *hit, sqlite3 *db, const char *norm,
                             const char *typed, struct edl_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db,
	                            "SELECT serial FROM device WHERE serial IN (?1, lower(?1), "
	                            "upper(?1), ?2) LIMIT 1",
	                            -1, &st, NULL);

	*hit = false;
	if (rc == SQLITE_OK) {
		edl_store_bind_text(st, 1, norm);
		edl_store_bind_text(st, 2, typed);
		rc = sqlite3_step(st);
	}
	if (rc == SQLITE_ROW) {
		snprintf(found, cap, "%s", (const char *)sqlite3_column_text(st, 0));
		*hit = true;
		rc = SQLITE_DONE;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return edl_store_sqlite_error(err, db, rc, "looking the serial up");
	return EDL_OK;
}

struct candidates {
	char listed[EDL_STORE_FIND_LISTED][FIND_TEXT_MAX];
	size_t n; /* distinct units matched, may exceed the listed ones */
	char usb_exact[FIND_TEXT_MAX];
	size_t n_usb_exact;
	char closest[FIND_TEXT_MAX];
	unsigned closest_distance;
};

static void add_candidate(struct candidates *c, const char *serial)
{
	for (size_t i = 0; i < c->n && i < EDL_STORE_FIND_LISTED; i++) {
		if (strcmp(c->listed[i], serial) == 0)
			return;
	}
	if (c->n < EDL_STORE_FIND_LISTED)
		snprintf(c->listed[c->n], FIND_TEXT_MAX, "%s", serial);
	c->n++;
}

static void consider_closest(struct candidates *c, const char *norm, const char *known)
{
	unsigned d;

	if (known == NULL || known[0] == '\0')
		return;
	d = edit_distance(norm, known, c->closest_distance - 1);
	if (d < c->closest_distance) {
		c->closest_distance = d;
		snprintf(c->closest, sizeof(c->closest), "%s", known);
	}
}

/* One pass over the device table: USB serials (exact and prefix), chip serial
 * prefixes, and the closest serial for "did you mean". */
static int scan_devices(struct candidates *c, sqlite3 *db, const char *norm, const char *typed,
                        struct edl_error *err)
{
	size_t n = strlen(norm), nt = strlen(typed);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT serial, usb_serial FROM device", -1, &st, NULL);

	/* Suggest only what is close: about one typo in four characters, at least one. */
	c->closest_distance = (unsigned)(n / 4 > 0 ? n / 4 : 1) + 1;
	while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *serial = (const char *)sqlite3_column_text(st, 0);
		const char *usb = (const char *)sqlite3_column_text(st, 1);

		rc = SQLITE_OK;
		if (serial == NULL)
			continue;
		if (usb != NULL && (strcasecmp(usb, norm) == 0 || strcasecmp(usb, typed) == 0)) {
			if (c->n_usb_exact++ == 0)
				snprintf(c->usb_exact, sizeof(c->usb_exact), "%s", serial);
		}
		if (prefix_nocase(serial, norm, n) || prefix_nocase(usb, norm, n) ||
		    prefix_nocase(usb, typed, nt))
			add_candidate(c, serial);
		else if (c->n == 0) {
			consider_closest(c, norm, serial);
			consider_closest(c, norm, usb);
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return edl_store_sqlite_error(err, db, rc, "looking the serial up");
	return EDL_OK;
}

static int found(char *serial_out, size_t len, const char *serial, struct edl_error *err)
{
	if (strlen(serial) >= len)
		return edl_error_set(err, EDL_E_RANGE, "serial longer than %zu bytes", len - 1);
	memcpy(serial_out, serial, strlen(serial) + 1);
	return EDL_OK;
}

int edl_store_find_unit(char *serial_out, size_t len, struct edl_store *s, const char *text,
                        struct edl_error *err)
{
	char norm[FIND_TEXT_MAX], typed[FIND_TEXT_MAX], shown[FIND_TEXT_MAX], exact[FIND_TEXT_MAX];
	struct candidates *c = NULL;
	bool hit;
	int rc;

	assert(serial_out != NULL && len > 0);
	serial_out[0] = '\0';
	if (text == NULL || edl_store_typed_serial(norm, sizeof(norm), text, true) == 0)
		return edl_error_set(err, EDL_E_INVAL, "no serial given");
	edl_store_typed_serial(typed, sizeof(typed), text, false);
	edl_store_printable(shown, sizeof(shown), typed);
	rc = edl_store_exec(s->db, "BEGIN", err);
	if (rc != EDL_OK)
		return rc;
	rc = find_exact_serial(exact, sizeof(exact), &hit, s->db, norm, typed, err);
	if (rc == EDL_OK && hit) {
		rc = found(serial_out, len, exact, err);
		goto out;
	}
	if (rc != EDL_OK)
		goto out;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		rc = edl_error_set(err, EDL_E_NOMEM, "looking the serial up");
		goto out;
	}
	rc = scan_devices(c, s->db, norm, typed, err);
	if (rc != EDL_OK)
		goto out;
	if (c->n_usb_exact == 1) {
		rc = found(serial_out, len, c->usb_exact, err);
	} else if (c->n == 1) {
		rc = found(serial_out, len, c->listed[0], err);
	} else if (c->n > 1) {
		char list[EDL_STORE_FIND_LISTED * (FIND_TEXT_MAX + 2)] = "";
		size_t at = 0;
		for (size_t i = 0; i < c->n && i < EDL_STORE_FIND_LISTED; i++) {
			char one[FIND_TEXT_MAX];
			edl_store_printable(one, sizeof(one), c->listed[i]);
			at += (size_t)snprintf(list + at, sizeof(list) - at, "%s%s",
			                       i > 0 ? ", " : "", one);
		}
		rc = edl_error_set(err, EDL_E_AGAIN,
		                   "ambiguous: %zu units %s %s: %s%s; type more of the serial",
		                   c->n, c->n_usb_exact > 1 ? "have or start with" : "start with",
		                   shown, list, c->n > EDL_STORE_FIND_LISTED ? ", ..." : "");
	} else if (c->closest[0] != '\0') {
		char near[FIND_TEXT_MAX];
		edl_store_printable(near, sizeof(near), c->closest);
		rc = edl_error_set(err, EDL_E_NOENT, "no unit %s; did you mean %s?", shown, near);
	} else {
		rc = edl_error_set(err, EDL_E_NOENT,
		                   "no unit %s in the database (chip or USB serial, or its start)",
		                   shown);
	}
out:
	sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	free(c);
	return rc;
}
