/*
 * Synthetic plans for tests: seeded random images placed on each storage kind,
 * with the SHA-256 of each padded range so the flash job verifies them.
 */
#include "testplan.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void testplan_sha256(const uint8_t *data, size_t len, uint64_t padded_len, uint8_t out[32])
{
	static const uint8_t zeros[4096];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 32;

	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, data, len);
	for (uint64_t left = padded_len - len; left > 0;) {
		size_t k = left < sizeof(zeros) ? (size_t)left : sizeof(zeros);
		EVP_DigestUpdate(ctx, zeros, k);
		left -= k;
	}
	EVP_DigestFinal_ex(ctx, out, &n);
	EVP_MD_CTX_free(ctx);
}

static uint8_t *random_bytes(size_t n, uint32_t *state)
{
	uint8_t *p = malloc(n);
	for (size_t i = 0; i < n; i++) {
		uint32_t x = *state;
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		*state = x;
		p[i] = (uint8_t)(x >> 11);
	}
	return p;
}

static struct edl_plan_step *add_step(struct testplan *tp)
{
	struct edl_plan_step *s = &tp->steps[tp->plan.n_steps++];
	memset(s, 0, sizeof(*s));
	return s;
}

void testplan_build(struct testplan *tp, enum edl_storage_kind kind, uint32_t seed)
{
	testplan_build_sector(tp, kind, kind == EDL_STORAGE_EMMC ? 512 : 4096, seed);
}

void testplan_build_sector(struct testplan *tp, enum edl_storage_kind kind, uint32_t sector,
                           uint32_t seed)
{
	static const char *const labels[] = {"sbl", "boot", "system"};
	uint32_t state = seed ? seed : 1;

	memset(tp, 0, sizeof(*tp));
	tp->plan.storage = kind;
	tp->plan.steps = tp->steps;
	tp->n_images = 3;
	for (size_t i = 0; i < tp->n_images; i++) {
		/* 3 sectors + a ragged tail, then larger images. */
		size_t len = (size_t)sector * (3 + 40 * i) + 123 + 7 * i;
		uint64_t num = (len + sector - 1) / sector;
		tp->images[i] = random_bytes(len, &state);
		tp->image_len[i] = len;
		tp->image_lun[i] = kind == EDL_STORAGE_UFS ? (uint32_t)(i == 2 ? 4 : i) : 0;
		/* NAND: each image in its own 64-page block range. */
		tp->image_sector[i] = kind == EDL_STORAGE_NAND ? 64 * 4 * i : 256 + 1024 * i;

		if (kind == EDL_STORAGE_NAND) {
			struct edl_plan_step *e = add_step(tp);
			e->kind = EDL_STEP_ERASE;
			e->lun = 0;
			e->sector_size = sector;
			snprintf(e->start_sector, sizeof(e->start_sector), "%llu",
			         (unsigned long long)tp->image_sector[i]);
			e->num_sectors = 64 * 4;
			e->pages_per_block = 64;
			snprintf(e->label, sizeof(e->label), "%s", labels[i]);
		}
		struct edl_plan_step *s = add_step(tp);
		s->kind = EDL_STEP_PROGRAM;
		s->lun = tp->image_lun[i];
		s->sector_size = sector;
		snprintf(s->start_sector, sizeof(s->start_sector), "%llu",
		         (unsigned long long)tp->image_sector[i]);
		s->num_sectors = num;
		if (kind == EDL_STORAGE_NAND) {
			s->pages_per_block = 64;
			snprintf(s->last_sector, sizeof(s->last_sector), "%llu",
			         (unsigned long long)(tp->image_sector[i] + 64 * 4 - 1));
		}
		snprintf(s->label, sizeof(s->label), "%s", labels[i]);
		snprintf(s->filename, sizeof(s->filename), "%s.img", labels[i]);
		s->data = tp->images[i];
		s->data_len = len;
		s->verify = true;
		testplan_sha256(s->data, len, num * sector, s->sha256);
		tp->plan.total_bytes += num * sector;
	}
}

void testplan_free(struct testplan *tp)
{
	for (size_t i = 0; i < tp->n_images; i++)
		free(tp->images[i]);
	memset(tp, 0, sizeof(*tp));
}
