/*
 * The pending journal <db>.pending: where the writer keeps the operations it
 * could not commit (disk full, I/O error, below the free-space reserve), so
 * that a station killed while results are kept loses none of them.
 *
 * The file is append-only and preallocated at open (posix_fallocate), so that
 * appending still works when the disk is full: a record only overwrites blocks
 * the file already owns. Every append is fdatasync'ed before the writer says
 * "kept". Once the kept operations commit, the journal is rewound by bumping
 * the generation in its header: records of an older generation (and anything
 * after the first torn or foreign record) are ignored when the file is read,
 * so a rewind is one small write and the allocation is kept.
 *
 * Layout (little-endian): header "EDLPEND1" + u64 generation; then records
 * u32 magic, u32 payload length, u32 checksum of the payload, payload. The
 * payload starts with the generation, the operation kind, its run id and time,
 * then the record's fields; strings are u32 length (0xffffffff for NULL) and
 * their bytes with a NUL.
 */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_MAGIC "EDLPEND1"
#define HEADER_BYTES 16
#define RECORD_MAGIC 0x4450454eu /* "NEPD" */
#define RECORD_HEAD 12
#define PREALLOCATE (4u << 20)
#define MAX_RECORD (64u << 20)
#define NULL_STRING 0xffffffffu

/* ---- encoding --------------------------------------------------------------------------- */

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int enc_u64(struct edl_buf *b, uint64_t v)
{
	uint8_t p[8];

	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return edl_buf_append(b, p, 8);
}

static int enc_str(struct edl_buf *b, const char *s)
{
	uint8_t p[4];
	size_t n;

	if (s == NULL) {
		put_u32(p, NULL_STRING);
		return edl_buf_append(b, p, 4);
	}
	n = strlen(s) + 1;
	if (n >= NULL_STRING)
		return EDL_E_RANGE;
	put_u32(p, (uint32_t)n);
	if (edl_buf_append(b, p, 4) != EDL_OK)
		return EDL_E_NOMEM;
	return edl_buf_append(b, s, n);
}

/* One archived file (issue 15), as both its own operation and a finish carry
 * it. The run id is the record's. */
static int enc_archive(struct edl_buf *b, const struct edl_store_archive *a)
{
	int rc = enc_str(b, a->serial);
	rc = rc ? rc : enc_str(b, a->kind);
	rc = rc ? rc : enc_str(b, a->label);
	rc = rc ? rc : enc_str(b, a->path);
	rc = rc ? rc : enc_u64(b, a->bytes);
	rc = rc ? rc : enc_str(b, a->sha256);
	rc = rc ? rc : enc_u64(b, (uint64_t)(int64_t)a->restored);
	return rc ? rc : enc_u64(b, (uint64_t)a->created_ms);
}

/* FNV-1a over the payload: catches torn and stale records, not adversaries. */
static uint32_t checksum(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

static int encode_op(struct edl_buf *b, uint64_t generation, const struct edl_store_oprec *op)
{
	int rc = enc_u64(b, generation);

	rc = rc ? rc : enc_u64(b, (uint64_t)op->kind);
	rc = rc ? rc : enc_u64(b, (uint64_t)op->run_id);
	rc = rc ? rc : enc_u64(b, (uint64_t)op->at_ms);
	if (rc != EDL_OK)
		return rc;
	switch (op->kind) {
	case EDL_STORE_OP_STATION:
		rc = enc_str(b, op->u.station.name);
		rc = rc ? rc : enc_str(b, op->u.station.host);
		break;
	case EDL_STORE_OP_PACKAGE: {
		const struct edl_store_package *p = &op->u.package;
		rc = enc_str(b, p->manifest_hash);
		rc = rc ? rc : enc_str(b, p->path);
		rc = rc ? rc : enc_str(b, p->name);
		rc = rc ? rc : enc_str(b, p->version);
		rc = rc ? rc : enc_str(b, p->storage);
		rc = rc ? rc : enc_u64(b, p->bytes);
		break;
	}
	case EDL_STORE_OP_DEVICE:
	case EDL_STORE_OP_RUN_IDENTIFY: {
		const struct edl_store_device *d = &op->u.device;
		rc = enc_str(b, d->serial);
		rc = rc ? rc : enc_str(b, d->usb_serial);
		rc = rc ? rc : enc_str(b, d->hw_id);
		rc = rc ? rc : enc_str(b, d->msm_id);
		rc = rc ? rc : enc_str(b, d->oem_id);
		rc = rc ? rc : enc_str(b, d->model_id);
		rc = rc ? rc : enc_str(b, d->pk_hash);
		rc = rc ? rc : enc_u64(b, (uint64_t)d->seen_ms);
		break;
	}
	case EDL_STORE_OP_RUN_START: {
		const struct edl_store_run_start *s = &op->u.start;
		rc = enc_str(b, s->serial);
		rc = rc ? rc : enc_str(b, s->station);
		rc = rc ? rc : enc_str(b, s->package_hash);
		rc = rc ? rc : enc_u64(b, (uint64_t)(int64_t)s->slot);
		rc = rc ? rc : enc_str(b, s->slot_label);
		rc = rc ? rc : enc_str(b, s->port);
		rc = rc ? rc : enc_u64(b, (uint64_t)(int64_t)s->attempt);
		rc = rc ? rc : enc_u64(b, (uint64_t)s->retry_of);
		rc = rc ? rc : enc_u64(b, (uint64_t)s->start_ms);
		rc = rc ? rc : enc_str(b, s->transcript);
		rc = rc ? rc : enc_str(b, s->capture);
		rc = rc ? rc : enc_str(b, s->kind);
		rc = rc ? rc : enc_str(b, s->product);
		rc = rc ? rc : enc_str(b, s->lot);
		rc = rc ? rc : enc_str(b, s->work_order);
		rc = rc ? rc : enc_str(b, s->operator_name);
		break;
	}
	case EDL_STORE_OP_RUN_FINISH: {
		const struct edl_store_run_end *e = &op->u.end;
		uint64_t mbps;
		memcpy(&mbps, &e->avg_mbps, sizeof(mbps));
		rc = enc_u64(b, (uint64_t)e->result);
		rc = rc ? rc : enc_str(b, e->stage);
		rc = rc ? rc : enc_u64(b, (uint64_t)(int64_t)e->error_code);
		rc = rc ? rc : enc_str(b, e->message);
		rc = rc ? rc : enc_u64(b, (uint64_t)e->end_ms);
		rc = rc ? rc : enc_u64(b, e->bytes_written);
		rc = rc ? rc : enc_u64(b, (uint64_t)e->duration_ms);
		rc = rc ? rc : enc_u64(b, mbps);
		rc = rc ? rc : enc_u64(b, e->payload);
		rc = rc ? rc : enc_str(b, e->functions);
		rc = rc ? rc : enc_str(b, e->warnings);
		rc = rc ? rc : enc_u64(b, e->n_steps);
		for (size_t i = 0; rc == EDL_OK && i < e->n_steps; i++) {
			const struct edl_store_step *s = &e->steps[i];
			rc = enc_u64(b, (uint64_t)s->kind);
			rc = rc ? rc : enc_str(b, s->label);
			rc = rc ? rc : enc_u64(b, s->lun);
			rc = rc ? rc : enc_str(b, s->start_sector);
			rc = rc ? rc : enc_u64(b, s->sectors);
			rc = rc ? rc : enc_u64(b, s->bytes);
			rc = rc ? rc : enc_u64(b, (uint64_t)s->duration_ms);
			rc = rc ? rc : enc_u64(b, (uint64_t)s->result);
		}
		rc = rc ? rc : enc_u64(b, e->n_log_lines);
		for (size_t i = 0; rc == EDL_OK && i < e->n_log_lines; i++)
			rc = enc_str(b, e->log_lines[i] != NULL ? e->log_lines[i] : "");
		/* v6 (issue 15): the run's kind and its archived files. */
		rc = rc ? rc : enc_str(b, e->kind);
		rc = rc ? rc : enc_u64(b, e->n_archives);
		for (size_t i = 0; rc == EDL_OK && i < e->n_archives; i++)
			rc = enc_archive(b, &e->archives[i]);
		rc = rc ? rc : enc_str(b, e->mes_payload); /* issue 13 */
		break;
	}
	case EDL_STORE_OP_RUN_MES: { /* issue 13 */
		const struct edl_store_run_mes *m = &op->u.mes;
		rc = enc_str(b, m->lot);
		rc = rc ? rc : enc_str(b, m->work_order);
		rc = rc ? rc : enc_str(b, m->operator_name);
		break;
	}
	case EDL_STORE_OP_MES_MARK: { /* issue 13 */
		const struct edl_store_mes_mark *m = &op->u.mes_mark;
		rc = enc_u64(b, m->delivered ? 1 : 0);
		rc = rc ? rc : enc_u64(b, (uint64_t)m->at_ms);
		rc = rc ? rc : enc_u64(b, (uint64_t)m->next_ms);
		rc = rc ? rc : enc_str(b, m->error);
		break;
	}
	case EDL_STORE_OP_RUN_PROGRESS: {
		const struct edl_store_progress *p = &op->u.progress;
		rc = enc_str(b, p->stage);
		rc = rc ? rc : enc_u64(b, p->bytes_done);
		rc = rc ? rc : enc_u64(b, p->bytes_total);
		rc = rc ? rc : enc_u64(b, (uint64_t)p->at_ms);
		break;
	}
	case EDL_STORE_OP_RUN_ROUTE:
		rc = enc_str(b, op->u.route.product);
		rc = rc ? rc : enc_str(b, op->u.route.package_hash);
		break;
	case EDL_STORE_OP_ARCHIVE:
		rc = enc_archive(b, &op->u.archive);
		break;
	}
	return rc;
}

/* ---- decoding --------------------------------------------------------------------------- */

struct reader {
	const uint8_t *p, *end;
	bool bad;
};

static uint64_t dec_u64(struct reader *r)
{
	uint64_t v = 0;

	if (r->end - r->p < 8) {
		r->bad = true;
		return 0;
	}
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += 8;
	return v;
}

static const char *dec_str(struct reader *r)
{
	uint32_t n;
	const char *s;

	if (r->end - r->p < 4) {
		r->bad = true;
		return NULL;
	}
	n = get_u32(r->p);
	r->p += 4;
	if (n == NULL_STRING)
		return NULL;
	if (n == 0 || (size_t)(r->end - r->p) < n || r->p[n - 1] != '\0') {
		r->bad = true;
		return NULL;
	}
	s = (const char *)r->p;
	r->p += n;
	return s;
}

/* The twin of enc_archive(); false when the record is bad or a required
 * field is missing. */
static bool dec_archive(struct reader *r, int64_t run_id, struct edl_store_archive *a)
{
	a->run_id = run_id;
	a->serial = dec_str(r);
	a->kind = dec_str(r);
	a->label = dec_str(r);
	a->path = dec_str(r);
	a->bytes = dec_u64(r);
	a->sha256 = dec_str(r);
	a->restored = (int)(int64_t)dec_u64(r);
	a->created_ms = (int64_t)dec_u64(r);
	return !r->bad && a->serial && a->kind && a->label && a->path && a->sha256 &&
	       a->restored >= -1 && a->restored <= 1;
}

/* Rebuilds one operation from a checked payload; NULL when it does not parse. */
static struct edl_store_oprec *decode_op(struct reader *r)
{
	struct edl_store_oprec *op = NULL;
	uint64_t kind = dec_u64(r);
	int64_t run_id = (int64_t)dec_u64(r);
	int64_t at_ms = (int64_t)dec_u64(r);

	switch (kind) {
	case EDL_STORE_OP_STATION: {
		struct edl_store_station s;
		s.name = dec_str(r);
		s.host = dec_str(r);
		if (!r->bad && s.name != NULL)
			op = edl_store_oprec_station(&s);
		break;
	}
	case EDL_STORE_OP_PACKAGE: {
		struct edl_store_package p;
		memset(&p, 0, sizeof(p));
		p.manifest_hash = dec_str(r);
		p.path = dec_str(r);
		p.name = dec_str(r);
		p.version = dec_str(r);
		p.storage = dec_str(r);
		p.bytes = dec_u64(r);
		if (!r->bad && p.manifest_hash != NULL)
			op = edl_store_oprec_package(&p);
		break;
	}
	case EDL_STORE_OP_DEVICE:
	case EDL_STORE_OP_RUN_IDENTIFY: {
		struct edl_store_device d;
		memset(&d, 0, sizeof(d));
		d.serial = dec_str(r);
		d.usb_serial = dec_str(r);
		d.hw_id = dec_str(r);
		d.msm_id = dec_str(r);
		d.oem_id = dec_str(r);
		d.model_id = dec_str(r);
		d.pk_hash = dec_str(r);
		d.seen_ms = (int64_t)dec_u64(r);
		if (!r->bad && d.serial != NULL)
			op = edl_store_oprec_device((enum edl_store_op)kind, &d);
		break;
	}
	case EDL_STORE_OP_RUN_START: {
		struct edl_store_run_start s;
		memset(&s, 0, sizeof(s)); /* fields the record does not carry stay NULL */
		s.serial = dec_str(r);
		s.station = dec_str(r);
		s.package_hash = dec_str(r);
		s.slot = (int)(int64_t)dec_u64(r);
		s.slot_label = dec_str(r);
		s.port = dec_str(r);
		s.attempt = (int)(int64_t)dec_u64(r);
		s.retry_of = (int64_t)dec_u64(r);
		s.start_ms = (int64_t)dec_u64(r);
		s.transcript = dec_str(r);
		s.capture = dec_str(r);
		if (r->p < r->end) { /* v6 fields; a v5 journal ends here */
			s.kind = dec_str(r);
			s.product = dec_str(r);
			s.lot = dec_str(r);
			s.work_order = dec_str(r);
			s.operator_name = dec_str(r);
		}
		if (!r->bad && s.station != NULL)
			op = edl_store_oprec_run_start(&s);
		break;
	}
	case EDL_STORE_OP_RUN_FINISH: {
		struct edl_store_run_end e;
		struct edl_store_step *steps = NULL;
		const char **lines = NULL;
		struct edl_store_archive *archives = NULL;
		uint64_t mbps, n;

		memset(&e, 0, sizeof(e));
		e.run_id = run_id;
		e.result = (enum edl_store_result)dec_u64(r);
		e.stage = dec_str(r);
		e.error_code = (int)(int64_t)dec_u64(r);
		e.message = dec_str(r);
		e.end_ms = (int64_t)dec_u64(r);
		e.bytes_written = dec_u64(r);
		e.duration_ms = (int64_t)dec_u64(r);
		mbps = dec_u64(r);
		memcpy(&e.avg_mbps, &mbps, sizeof(mbps));
		e.payload = (uint32_t)dec_u64(r);
		e.functions = dec_str(r);
		e.warnings = dec_str(r);
		n = dec_u64(r);
		/* Each step takes at least 56 bytes: a count beyond the record is bad. */
		if (r->bad || n > (uint64_t)(r->end - r->p) / 56)
			break;
		steps = calloc(n > 0 ? n : 1, sizeof(*steps));
		if (steps == NULL)
			break;
		for (uint64_t i = 0; i < n; i++) {
			steps[i].kind = (enum edl_plan_step_kind)dec_u64(r);
			steps[i].label = dec_str(r);
			steps[i].lun = (uint32_t)dec_u64(r);
			steps[i].start_sector = dec_str(r);
			steps[i].sectors = dec_u64(r);
			steps[i].bytes = dec_u64(r);
			steps[i].duration_ms = (int64_t)dec_u64(r);
			steps[i].result = (enum edl_store_step_result)dec_u64(r);
		}
		e.steps = steps;
		e.n_steps = n;
		n = dec_u64(r);
		if (!r->bad && n <= (uint64_t)(r->end - r->p) / 4)
			lines = calloc(n > 0 ? n : 1, sizeof(*lines));
		if (lines != NULL) {
			for (uint64_t i = 0; i < n; i++)
				lines[i] = dec_str(r);
			e.log_lines = lines;
			e.n_log_lines = n;
		}
		if (lines != NULL && !r->bad && r->p < r->end) { /* v6; a v5 journal ends here */
			e.kind = dec_str(r);
			n = dec_u64(r);
			/* Each archive takes at least 44 bytes (5 strings, 3 numbers): a count
			 * beyond the record is bad. */
			if (r->bad || n > (uint64_t)(r->end - r->p) / 44)
				r->bad = true;
			else if ((archives = calloc(n > 0 ? n : 1, sizeof(*archives))) == NULL)
				r->bad = true;
			/* A finish's archives are taken as written (a bad record still fails
			 * below): the recorder stands in for a missing field, as before. */
			for (uint64_t i = 0; archives != NULL && i < n; i++)
				(void)dec_archive(r, run_id, &archives[i]);
			e.archives = archives;
			e.n_archives = archives != NULL ? n : 0;
		}
		if (lines != NULL && !r->bad &&
		    r->p < r->end) /* issue 13; older journals end here */
			e.mes_payload = dec_str(r);
		if (lines != NULL && !r->bad && (unsigned)e.result <= EDL_RESULT_INTERRUPTED)
			op = edl_store_oprec_run_end(&e);
		free(steps);
		free(lines);
		free(archives);
		break;
	}
	case EDL_STORE_OP_RUN_PROGRESS: {
		struct edl_store_progress p;
		p.run_id = run_id;
		p.stage = dec_str(r);
		p.bytes_done = dec_u64(r);
		p.bytes_total = dec_u64(r);
		p.at_ms = (int64_t)dec_u64(r);
		if (!r->bad)
			op = edl_store_oprec_progress(&p);
		break;
	}
	case EDL_STORE_OP_RUN_ROUTE: {
		struct edl_store_run_route rt = {.run_id = run_id};
		rt.product = dec_str(r);
		rt.package_hash = dec_str(r);
		if (!r->bad)
			op = edl_store_oprec_route(&rt);
		break;
	}
	case EDL_STORE_OP_RUN_MES: { /* issue 13 */
		struct edl_store_run_mes m = {.run_id = run_id};
		m.lot = dec_str(r);
		m.work_order = dec_str(r);
		m.operator_name = dec_str(r);
		if (!r->bad)
			op = edl_store_oprec_run_mes(&m);
		break;
	}
	case EDL_STORE_OP_MES_MARK: { /* issue 13 */
		struct edl_store_mes_mark m = {.run_id = run_id};
		m.delivered = dec_u64(r) != 0;
		m.at_ms = (int64_t)dec_u64(r);
		m.next_ms = (int64_t)dec_u64(r);
		m.error = dec_str(r);
		if (!r->bad)
			op = edl_store_oprec_mes_mark(&m);
		break;
	}

	case EDL_STORE_OP_ARCHIVE: {
		struct edl_store_archive a;
		if (dec_archive(r, run_id, &a))
			op = edl_store_oprec_archive(&a);
		break;
	}
	default:
		break;
	}
	if (op != NULL) {
		op->run_id = run_id;
		op->at_ms = at_ms;
	}
	return op;
}

/* ---- the file --------------------------------------------------------------------------- */

static int write_all(int fd, const void *data, size_t n, uint64_t at)
{
	const uint8_t *p = data;

	while (n > 0) {
		ssize_t k = pwrite(fd, p, n, (off_t)at);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? errno : EIO;
		p += k;
		n -= (size_t)k;
		at += (uint64_t)k;
	}
	return 0;
}

static int write_header(struct edl_store_journal *j)
{
	uint8_t h[HEADER_BYTES];
	int e;

	memcpy(h, HEADER_MAGIC, 8);
	for (int i = 0; i < 8; i++)
		h[8 + i] = (uint8_t)(j->generation >> (8 * i));
	e = write_all(j->fd, h, sizeof(h), 0);
	if (e == 0 && fdatasync(j->fd) != 0)
		e = errno;
	return e;
}

/* Reads the records of the header's generation into *out (in order). */
static int read_records(struct edl_store_journal *j, struct edl_store_oprec **out,
                        int64_t *max_run_id, struct edl_error *err)
{
	struct edl_store_oprec *head = NULL, **tail = &head;
	struct stat sb;
	uint8_t *data = NULL;
	uint64_t at = HEADER_BYTES, size;
	ssize_t got;
	int rc = EDL_OK;

	*out = NULL;
	if (fstat(j->fd, &sb) != 0)
		return edl_error_set(err, EDL_E_IO, "reading %s: %s", j->path, strerror(errno));
	size = (uint64_t)sb.st_size;
	j->allocated = size;
	if (size < HEADER_BYTES)
		return EDL_OK; /* new (or torn before its header): nothing kept */
	if (size > SIZE_MAX / 2 || (data = malloc(size)) == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "reading %s", j->path);
	got = pread(j->fd, data, size, 0);
	if (got != (ssize_t)size) {
		rc = edl_error_set(err, EDL_E_IO, "reading %s: %s", j->path,
		                   got < 0 ? strerror(errno) : "short read");
		goto out;
	}
	if (memcmp(data, HEADER_MAGIC, 8) != 0) {
		rc = edl_error_set(err, EDL_E_DB_CORRUPT,
		                   "%s is not an edlstation pending journal: move it away",
		                   j->path);
		goto out;
	}
	for (int i = 0; i < 8; i++)
		j->generation |= (uint64_t)data[8 + i] << (8 * i);
	while (size - at >= RECORD_HEAD) {
		uint32_t len = get_u32(data + at + 4);
		struct reader r;
		struct edl_store_oprec *op;

		if (get_u32(data + at) != RECORD_MAGIC || len < 32 || len > size - at - RECORD_HEAD)
			break;
		if (checksum(data + at + RECORD_HEAD, len) != get_u32(data + at + 8))
			break;
		r.p = data + at + RECORD_HEAD;
		r.end = r.p + len;
		r.bad = false;
		if (dec_u64(&r) != j->generation)
			break;
		op = decode_op(&r);
		if (op == NULL) {
			rc = edl_error_set(err, EDL_E_NOMEM, "reading %s", j->path);
			goto out;
		}
		if (op->kind == EDL_STORE_OP_RUN_START && op->run_id > *max_run_id)
			*max_run_id = op->run_id;
		*tail = op;
		tail = &op->next;
		j->entries++;
		at += RECORD_HEAD + len;
	}
	j->write_at = at;
out:
	free(data);
	if (rc != EDL_OK) {
		while (head != NULL) {
			struct edl_store_oprec *next = head->next;
			edl_store_oprec_free(head);
			head = next;
		}
		return rc;
	}
	*out = head;
	return EDL_OK;
}

int edl_store_journal_open(struct edl_store_journal *j, const char *db_path,
                           struct edl_store_oprec **out_ops, int64_t *max_run_id,
                           struct edl_error *err)
{
	int rc;

	memset(j, 0, sizeof(*j));
	j->fd = -1;
	*out_ops = NULL;
	if (snprintf(j->path, sizeof(j->path), "%s.pending", db_path) >= (int)sizeof(j->path))
		return edl_error_set(err, EDL_E_INVAL, "results database %s: path too long",
		                     db_path);
	j->fd = open(j->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (j->fd < 0)
		return edl_error_set(err, edl_error_from_errno(errno), "opening %s: %s", j->path,
		                     strerror(errno));
	rc = read_records(j, out_ops, max_run_id, err);
	if (rc != EDL_OK) {
		close(j->fd);
		j->fd = -1;
		return rc;
	}
	if (j->allocated < HEADER_BYTES) {
		j->generation = 1;
		j->write_at = HEADER_BYTES;
		if (write_header(j) != 0) {
			/* No room even for the header: kept operations stay in memory. */
			close(j->fd);
			unlink(j->path);
			j->fd = -1;
			return edl_error_set(err, EDL_E_DB_FULL, "creating %s: %s", j->path,
			                     strerror(errno));
		}
	}
	/* Best effort: on a full disk the journal keeps what it already owns. */
	if (j->allocated < PREALLOCATE && posix_fallocate(j->fd, 0, PREALLOCATE) == 0)
		j->allocated = PREALLOCATE;
	if (j->allocated < j->write_at)
		j->allocated = j->write_at;
	return EDL_OK;
}

int edl_store_journal_append(struct edl_store_journal *j, const struct edl_store_oprec *first,
                             struct edl_error *err)
{
	struct edl_buf b;
	int rc = EDL_OK, e;

	if (j->fd < 0)
		return edl_error_set(err, EDL_E_IO, "the pending journal could not be created");
	edl_buf_init(&b);
	for (const struct edl_store_oprec *op = first; op != NULL; op = op->next) {
		size_t at = edl_buf_size(&b);
		uint8_t head[RECORD_HEAD] = {0};
		size_t len;

		if (edl_buf_append(&b, head, sizeof(head)) != EDL_OK ||
		    encode_op(&b, j->generation, op) != EDL_OK) {
			rc = edl_error_set(err, EDL_E_NOMEM, "writing %s", j->path);
			goto out;
		}
		len = edl_buf_size(&b) - at - RECORD_HEAD;
		if (len > MAX_RECORD) {
			rc = edl_error_set(err, EDL_E_RANGE, "writing %s: record too large",
			                   j->path);
			goto out;
		}
		/* The buffer may have moved: patch the header through its head. */
		put_u32((uint8_t *)edl_buf_head(&b) + at, RECORD_MAGIC);
		put_u32((uint8_t *)edl_buf_head(&b) + at + 4, (uint32_t)len);
		put_u32((uint8_t *)edl_buf_head(&b) + at + 8,
		        checksum(edl_buf_head(&b) + at + RECORD_HEAD, len));
	}
	if (j->write_at + edl_buf_size(&b) > j->allocated) {
		uint64_t want = j->allocated * 2;
		while (want < j->write_at + edl_buf_size(&b))
			want *= 2;
		if (posix_fallocate(j->fd, 0, (off_t)want) == 0)
			j->allocated = want;
	}
	e = write_all(j->fd, edl_buf_head(&b), edl_buf_size(&b), j->write_at);
	if (e == 0 && fdatasync(j->fd) != 0)
		e = errno;
	if (e != 0) {
		rc = edl_error_set(err, e == ENOSPC ? EDL_E_DB_FULL : EDL_E_IO, "writing %s: %s",
		                   j->path, strerror(e));
		goto out;
	}
	j->write_at += edl_buf_size(&b);
	for (const struct edl_store_oprec *op = first; op != NULL; op = op->next)
		j->entries++;
out:
	edl_buf_free(&b);
	return rc;
}

int edl_store_journal_rewind(struct edl_store_journal *j, struct edl_error *err)
{
	int e;

	if (j->fd < 0 || j->entries == 0)
		return EDL_OK;
	j->generation++;
	e = write_header(j);
	if (e != 0)
		return edl_error_set(err, EDL_E_IO, "rewinding %s: %s", j->path, strerror(e));
	j->write_at = HEADER_BYTES;
	j->entries = 0;
	return EDL_OK;
}

void edl_store_journal_close(struct edl_store_journal *j)
{
	if (j->fd < 0)
		return;
	close(j->fd);
	j->fd = -1;
	/* Nothing kept: the next writer preallocates a fresh one. */
	if (j->entries == 0)
		unlink(j->path);
}
