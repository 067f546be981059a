/*
 * The hashing pass: every package file not served by the hash cache is read
 * once and hashed with OpenSSL's EVP MD5 and SHA-256, together with the SHA-256
 * of each program step's bytes (a "segment": a slice of the file, zero-padded to
 * whole sectors; a sparse RAW chunk) and of each sparse FILL step, on worker
 * threads (pthreads).
 *
 * One read pass, two hashers: MD5 and SHA-256 of a large file each take a core
 * (MD5 is the slower), so a file is hashed by two "lanes" on two threads that
 * share one ring of 1 MiB blocks: whichever lane reaches an unread block reads
 * it with pread(), both hash it, and a slot is reused only when both lanes are
 * done with it. The bytes are read from disk once and memory stays at
 * NSLOT x 1 MiB per file in flight, whatever the image size. Small files, and
 * every file when only one thread is available, are hashed by one lane doing
 * both. Jobs are taken in order, a file's two lanes side by side, largest file
 * first; a lane waits only for its sibling, which is always running or next in
 * the queue, so the pool cannot deadlock.
 */
#include "internal.h"

#include "edlstation/sparse.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define BLOCK (1u << 20)
#define NSLOT 8
#define SPLIT_MIN (4u * BLOCK) /* files smaller than this use one lane */
#define MAX_THREADS 16

enum lane {
	LANE_SHA = 0,  /* SHA-256 of the file and its segments */
	LANE_MD5 = 1,  /* MD5 of the file */
	LANE_BOTH = 2, /* both, alone */
};

/* One file's shared read pass. */
struct pass {
	struct pkg_file *f;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint8_t *slot[NSLOT];
	size_t slot_len[NSLOT];
	uint64_t nblocks;
	uint64_t nread;       /* blocks read so far */
	uint64_t consumed[2]; /* blocks each lane is done with; UINT64_MAX: no such lane */
	bool reading;         /* a lane is reading block nread */
	bool started;
	int lanes_left;
	bool failed;
	char error[256];
};

enum job_kind {
	JOB_LANE = 0,
	JOB_FILL = 1,
	JOB_CRC = 2,
};

struct job {
	enum job_kind kind;
	struct pass *pass;
	enum lane lane;
	size_t fill;
	struct pkg_file *f;
};

struct pool {
	struct edl_package *pkg;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool ready; /* jobs are set: workers may start */
	struct job *jobs;
	size_t n_jobs;
	size_t next;
	EVP_MD *md5;
	EVP_MD *sha256;
};

static const uint8_t zeros[65536];

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool feed_zeros(EVP_MD_CTX *ctx, uint64_t n)
{
	while (n > 0) {
		size_t k = n < sizeof(zeros) ? (size_t)n : sizeof(zeros);
		if (EVP_DigestUpdate(ctx, zeros, k) != 1)
			return false;
		n -= k;
	}
	return true;
}

static void pass_fail(struct pass *p, const char *fmt, const char *what)
{
	/* Called with p->mu held. */
	if (!p->failed) {
		p->failed = true;
		snprintf(p->error, sizeof(p->error), fmt, what);
	}
	pthread_cond_broadcast(&p->cv);
}

static uint64_t min_consumed(const struct pass *p)
{
	return p->consumed[0] < p->consumed[1] ? p->consumed[0] : p->consumed[1];
}

/* Reads block i into its slot (p->mu not held). Returns bytes read or -1. */
static ssize_t read_block(struct pass *p, uint64_t i, char *why, size_t cap)
{
	uint8_t *buf = p->slot[i % NSLOT];
	uint64_t off = i * BLOCK;
	size_t want = p->f->size - off < BLOCK ? (size_t)(p->f->size - off) : BLOCK;
	size_t got = 0;

	while (got < want) {
		ssize_t n = pread(p->f->fd, buf + got, want - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(why, cap, "%s", strerror(errno));
			return -1;
		}
		if (n == 0) {
			snprintf(why, cap, "file shrank while being hashed");
			return -1;
		}
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* Waits until block i is available to this lane; returns its slot or -1 on failure. */
static int get_block(struct pass *p, uint64_t i)
{
	char why[160];
	int rc = -1;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		if (p->failed)
			break;
		if (i < p->nread) {
			rc = (int)(i % NSLOT);
			break;
		}
		if (!p->reading && p->nread - min_consumed(p) < NSLOT) {
			uint64_t b = p->nread;
			ssize_t n;
			p->reading = true;
			pthread_mutex_unlock(&p->mu);
			n = read_block(p, b, why, sizeof(why));
			pthread_mutex_lock(&p->mu);
			p->reading = false;
			if (n < 0) {
				pass_fail(p, "%s", why);
				break;
			}
			p->slot_len[b % NSLOT] = (size_t)n;
			p->nread++;
			pthread_cond_broadcast(&p->cv);
			continue;
		}
		pthread_cond_wait(&p->cv, &p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

static void put_block(struct pass *p, enum lane lane, uint64_t i)
{
	pthread_mutex_lock(&p->mu);
	p->consumed[lane == LANE_MD5 ? 1 : 0] = i + 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* State of the segment digests of one SHA lane. */
struct segs {
	struct pkg_file *f;
	size_t *order; /* segment indices sorted by offset */
	EVP_MD_CTX **ctx;
	bool *closed;
	size_t first; /* first not-closed position in order */
	const EVP_MD *md;
};

static bool seg_whole(const struct pkg_file *f, const struct pkg_segment *s)
{
	return s->off == 0 && s->len == f->size;
}

static bool seg_close(struct segs *st, size_t k)
{
	struct pkg_segment *s = &st->f->segs[k];
	unsigned int n = 0;
	bool ok = true;

	if (st->ctx[k] == NULL) {
		st->ctx[k] = EVP_MD_CTX_new();
		ok = st->ctx[k] != NULL && EVP_DigestInit_ex(st->ctx[k], st->md, NULL) == 1;
	}
	ok = ok && feed_zeros(st->ctx[k], s->total - s->len) &&
	     EVP_DigestFinal_ex(st->ctx[k], s->sha256, &n) == 1;
	EVP_MD_CTX_free(st->ctx[k]);
	st->ctx[k] = NULL;
	st->closed[k] = true;
	s->done = ok;
	return ok;
}

static int cmp_seg_off(const void *a, const void *b, void *data)
{
	const struct pkg_file *f = data;
	const struct pkg_segment *x = &f->segs[*(const size_t *)a];
	const struct pkg_segment *y = &f->segs[*(const size_t *)b];

	if (x->off != y->off)
		return x->off < y->off ? -1 : 1;
	return 0;
}

/* Feeds bytes [a, a+n) of the file to the segments that cover them. */
static bool segs_feed(struct segs *st, uint64_t a, const uint8_t *data, size_t n)
{
	const struct pkg_file *f = st->f;

	for (size_t j = st->first; j < f->n_segs; j++) {
		size_t k = st->order[j];
		const struct pkg_segment *s = &f->segs[k];
		uint64_t end = s->off + s->len, lo, hi;

		if (s->off >= a + n)
			break;
		if (st->closed[k] || seg_whole(f, s))
			continue;
		lo = s->off > a ? s->off : a;
		hi = end < a + n ? end : a + n;
		if (lo < hi) {
			if (st->ctx[k] == NULL) {
				st->ctx[k] = EVP_MD_CTX_new();
				if (st->ctx[k] == NULL ||
				    EVP_DigestInit_ex(st->ctx[k], st->md, NULL) != 1)
					return false;
			}
			if (EVP_DigestUpdate(st->ctx[k], data + (lo - a), (size_t)(hi - lo)) != 1)
				return false;
		}
		if (end <= a + n && !seg_close(st, k))
			return false;
	}
	while (st->first < f->n_segs &&
	       (st->closed[st->order[st->first]] || seg_whole(f, &f->segs[st->order[st->first]])))
		st->first++;
	return true;
}

static void run_lane(struct pool *pool, struct pass *p, enum lane lane)
{
	struct pkg_file *f = p->f;
	EVP_MD_CTX *md5 = NULL, *sha = NULL;
	struct segs st = {.f = f, .md = pool->sha256};
	bool do_md5 = lane != LANE_SHA, do_sha = lane != LANE_MD5;
	bool ok = true;
	unsigned int n = 0;

	pthread_mutex_lock(&p->mu);
	if (!p->started) {
		p->started = true;
		for (size_t i = 0; i < NSLOT && i < p->nblocks; i++) {
			p->slot[i] = malloc(BLOCK);
			if (p->slot[i] == NULL)
				pass_fail(p, "%s", "out of memory");
		}
		posix_fadvise(f->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	}
	pthread_mutex_unlock(&p->mu);

	if (do_md5) {
		md5 = EVP_MD_CTX_new();
		ok = md5 != NULL && EVP_DigestInit_ex(md5, pool->md5, NULL) == 1;
	}
	if (do_sha) {
		sha = EVP_MD_CTX_new();
		ok = ok && sha != NULL && EVP_DigestInit_ex(sha, pool->sha256, NULL) == 1;
		st.order = calloc(f->n_segs + 1, sizeof(*st.order));
		st.ctx = calloc(f->n_segs + 1, sizeof(*st.ctx));
		st.closed = calloc(f->n_segs + 1, sizeof(*st.closed));
		ok = ok && st.order != NULL && st.ctx != NULL && st.closed != NULL;
		if (ok) {
			for (size_t k = 0; k < f->n_segs; k++)
				st.order[k] = k;
			qsort_r(st.order, f->n_segs, sizeof(*st.order), cmp_seg_off, f);
		}
	}
	if (!ok) {
		pthread_mutex_lock(&p->mu);
		pass_fail(p, "%s", "cannot start the digests");
		pthread_mutex_unlock(&p->mu);
	}

	for (uint64_t i = 0; ok && i < p->nblocks; i++) {
		int slot = get_block(p, i);
		const uint8_t *data;
		size_t len;

		if (slot < 0) {
			ok = false;
			break;
		}
		data = p->slot[slot];
		len = p->slot_len[slot];
		if (do_md5 && EVP_DigestUpdate(md5, data, len) != 1)
			ok = false;
		if (do_sha && (EVP_DigestUpdate(sha, data, len) != 1 ||
		               !segs_feed(&st, i * BLOCK, data, len)))
			ok = false;
		put_block(p, lane, i);
	}

	if (ok && do_md5)
		ok = EVP_DigestFinal_ex(md5, f->md5, &n) == 1;
	if (ok && do_sha) {
		/* Whole-file segments continue from the file's own digest: the bytes
		 * are not hashed twice. */
		for (size_t k = 0; ok && k < f->n_segs; k++) {
			if (!seg_whole(f, &f->segs[k]))
				continue;
			st.ctx[k] = EVP_MD_CTX_new();
			ok = st.ctx[k] != NULL && EVP_MD_CTX_copy_ex(st.ctx[k], sha) == 1 &&
			     seg_close(&st, k);
		}
		for (size_t k = 0; ok && k < f->n_segs; k++) {
			if (!st.closed[k])
				ok = seg_close(&st, k);
		}
		ok = ok && EVP_DigestFinal_ex(sha, f->sha256, &n) == 1;
	}
	if (st.ctx != NULL) {
		for (size_t k = 0; k < f->n_segs; k++)
			EVP_MD_CTX_free(st.ctx[k]);
	}
	free(st.order);
	free(st.ctx);
	free(st.closed);
	EVP_MD_CTX_free(md5);
	EVP_MD_CTX_free(sha);

	pthread_mutex_lock(&p->mu);
	if (!ok)
		pass_fail(p, "%s", "digest failed");
	/* A lane that stops early must not hold its sibling back. */
	p->consumed[lane == LANE_MD5 ? 1 : 0] = UINT64_MAX;
	if (lane == LANE_BOTH)
		p->consumed[1] = UINT64_MAX;
	pthread_cond_broadcast(&p->cv);
	if (--p->lanes_left == 0) {
		for (size_t i = 0; i < NSLOT; i++) {
			free(p->slot[i]);
			p->slot[i] = NULL;
		}
		f->hashed = !p->failed;
	}
	pthread_mutex_unlock(&p->mu);
}

static void run_fill(struct pool *pool, struct pkg_fill *fl)
{
	uint8_t pattern[65536];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;
	uint64_t left = fl->total;
	bool ok = ctx != NULL && EVP_DigestInit_ex(ctx, pool->sha256, NULL) == 1;

	for (size_t i = 0; i < sizeof(pattern); i += 4) {
		pattern[i] = (uint8_t)fl->value;
		pattern[i + 1] = (uint8_t)(fl->value >> 8);
		pattern[i + 2] = (uint8_t)(fl->value >> 16);
		pattern[i + 3] = (uint8_t)(fl->value >> 24);
	}
	while (ok && left > 0) {
		size_t k = left < sizeof(pattern) ? (size_t)left : sizeof(pattern);
		ok = EVP_DigestUpdate(ctx, pattern, k) == 1;
		left -= k;
	}
	fl->done = ok && EVP_DigestFinal_ex(ctx, fl->sha256, &n) == 1;
	EVP_MD_CTX_free(ctx);
}

static void run_crc(struct pkg_file *f)
{
	struct edl_error err;

	edl_error_clear(&err);
	f->crc_rc = edl_sparse_check_crc(f->map, f->size, &err);
	snprintf(f->crc_detail, sizeof(f->crc_detail), "%s", err.detail);
	f->crc_ok = f->crc_rc == EDL_OK;
	/* The check touched every page of the mapping: give the memory back. */
	if (f->map != NULL)
		madvise((void *)f->map, (size_t)f->size, MADV_DONTNEED);
}

static void *worker(void *arg)
{
	struct pool *pool = arg;

	pthread_mutex_lock(&pool->mu);
	while (!pool->ready)
		pthread_cond_wait(&pool->cv, &pool->mu);
	for (;;) {
		struct job j;
		if (pool->next >= pool->n_jobs)
			break;
		j = pool->jobs[pool->next++];
		pthread_mutex_unlock(&pool->mu);
		switch (j.kind) {
		case JOB_LANE:
			run_lane(pool, j.pass, j.lane);
			break;
		case JOB_FILL:
			run_fill(pool, &pool->pkg->fills[j.fill]);
			break;
		case JOB_CRC:
			run_crc(j.f);
			break;
		}
		pthread_mutex_lock(&pool->mu);
	}
	pthread_mutex_unlock(&pool->mu);
	return NULL;
}

static int cmp_size_desc(const void *a, const void *b, void *data)
{
	const struct pkg_file *files = data;
	const struct pkg_file *x = &files[*(const size_t *)a];
	const struct pkg_file *y = &files[*(const size_t *)b];

	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	return 0;
}

int pkg_verify_run(struct edl_package *pkg, unsigned threads, struct edl_error *err)
{
	struct pool pool;
	pthread_t tid[MAX_THREADS];
	unsigned started = 0;
	struct pass *passes = NULL;
	size_t *order = NULL;
	size_t n_pass = 0;
	uint64_t t0 = now_ms();
	int rc = EDL_OK;

	memset(&pool, 0, sizeof(pool));
	pool.pkg = pkg;
	pthread_mutex_init(&pool.mu, NULL);
	pthread_cond_init(&pool.cv, NULL);
	pool.md5 = EVP_MD_fetch(NULL, "MD5", NULL);
	pool.sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (pool.md5 == NULL || pool.sha256 == NULL) {
		rc = edl_error_set(err, EDL_E_INTERNAL, "OpenSSL has no MD5 or SHA-256");
		goto out;
	}
	if (threads == 0)
		threads = 1;
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;

	passes = calloc(pkg->n_files + 1, sizeof(*passes));
	order = calloc(pkg->n_files + 1, sizeof(*order));
	pool.jobs = calloc(2 * pkg->n_files + 2 * pkg->n_fills + 1, sizeof(*pool.jobs));
	if (passes == NULL || order == NULL || pool.jobs == NULL) {
		rc = edl_error_set(err, EDL_E_NOMEM, "no memory for the hashing jobs");
		goto out;
	}

	/* Workers first: the lane split depends on how many really run. */
	for (unsigned i = 0; i + 1 < threads; i++) {
		if (pthread_create(&tid[started], NULL, worker, &pool) != 0)
			break;
		started++;
	}

	for (size_t i = 0; i < pkg->n_files; i++)
		order[i] = i;
	qsort_r(order, pkg->n_files, sizeof(*order), cmp_size_desc, pkg->files);
	for (size_t oi = 0; oi < pkg->n_files; oi++) {
		struct pkg_file *f = &pkg->files[order[oi]];
		struct pass *p;
		bool split;

		if (f->from_cache || f->hashed)
			continue;
		p = &passes[n_pass++];
		p->f = f;
		pthread_mutex_init(&p->mu, NULL);
		pthread_cond_init(&p->cv, NULL);
		p->nblocks = (f->size + BLOCK - 1) / BLOCK;
		split = started >= 1 && f->size >= SPLIT_MIN;
		if (split) {
			p->lanes_left = 2;
			pool.jobs[pool.n_jobs++] =
			        (struct job){.kind = JOB_LANE, .pass = p, .lane = LANE_SHA};
			pool.jobs[pool.n_jobs++] =
			        (struct job){.kind = JOB_LANE, .pass = p, .lane = LANE_MD5};
		} else {
			p->lanes_left = 1;
			p->consumed[1] = UINT64_MAX;
			pool.jobs[pool.n_jobs++] =
			        (struct job){.kind = JOB_LANE, .pass = p, .lane = LANE_BOTH};
		}
		pkg->stats.files_hashed++;
		pkg->stats.bytes_hashed += f->size;
	}
	for (size_t i = 0; i < pkg->n_files; i++) {
		struct pkg_file *f = &pkg->files[i];
		if (f->sparse_crc && !f->from_cache)
			pool.jobs[pool.n_jobs++] = (struct job){.kind = JOB_CRC, .f = f};
	}
	for (size_t i = 0; i < pkg->n_fills; i++) {
		if (!pkg->fills[i].done)
			pool.jobs[pool.n_jobs++] = (struct job){.kind = JOB_FILL, .fill = i};
	}

	pthread_mutex_lock(&pool.mu);
	pool.ready = true;
	pthread_cond_broadcast(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
	worker(&pool);
	for (unsigned i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	pkg->stats.threads = started + 1;

	for (size_t i = 0; i < n_pass; i++) {
		if (passes[i].failed)
			pkg_diag(pkg, EDL_DIAG_ERROR, EDL_E_IO, passes[i].f->path, 0,
			         "cannot hash: %s", passes[i].error);
		pthread_mutex_destroy(&passes[i].mu);
		pthread_cond_destroy(&passes[i].cv);
	}
out:
	pkg->stats.hash_ms = now_ms() - t0;
	EVP_MD_free(pool.md5);
	EVP_MD_free(pool.sha256);
	pthread_mutex_destroy(&pool.mu);
	pthread_cond_destroy(&pool.cv);
	free(pool.jobs);
	free(passes);
	free(order);
	return rc;
}
