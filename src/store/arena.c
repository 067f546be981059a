/*
 * Memory helpers for the store's query results: an arena that hands out
 * strings and small arrays freed all at once with the report or history that
 * owns them, and a hash map from byte strings to dense indexes that the report
 * uses to aggregate a million runs per unit, per slot and per failure.
 */
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK 16384

struct edl_arena_block {
	struct edl_arena_block *next;
	size_t used;
	size_t cap;
	max_align_t data[];
};

void edl_arena_init(struct edl_arena *a)
{
	a->head = NULL;
}

void edl_arena_free(struct edl_arena *a)
{
	struct edl_arena_block *b = a->head;

	while (b != NULL) {
		struct edl_arena_block *next = b->next;
		free(b);
		b = next;
	}
	a->head = NULL;
}

void *edl_arena_alloc(struct edl_arena *a, size_t n)
{
	const size_t align = sizeof(max_align_t);
	struct edl_arena_block *b = a->head;
	size_t need = (n + align - 1) / align * align;
	void *p;

	if (need < n)
		return NULL;
	if (b == NULL || b->cap - b->used < need) {
		size_t cap = need > ARENA_BLOCK ? need : ARENA_BLOCK;
		b = malloc(sizeof(*b) + cap);
		if (b == NULL)
			return NULL;
		b->used = 0;
		b->cap = cap;
		/* A block bigger than the standard size goes behind the current one
		 * so the current block's free space is not wasted. */
		if (cap > ARENA_BLOCK && a->head != NULL) {
			b->next = a->head->next;
			a->head->next = b;
		} else {
			b->next = a->head;
			a->head = b;
		}
	}
	p = (char *)b->data + b->used;
	b->used += need;
	return p;
}

char *edl_arena_strndup(struct edl_arena *a, const char *s, size_t n)
{
	char *p;

	if (s == NULL || n == SIZE_MAX)
		return NULL;
	p = edl_arena_alloc(a, n + 1);
	if (p == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *edl_arena_strdup(struct edl_arena *a, const char *s)
{
	return s == NULL ? NULL : edl_arena_strndup(a, s, strlen(s));
}

void edl_keymap_init(struct edl_keymap *m)
{
	memset(m, 0, sizeof(*m));
	edl_arena_init(&m->arena);
}

void edl_keymap_free(struct edl_keymap *m)
{
	free(m->slots);
	free(m->keys);
	free(m->key_lens);
	free(m->hashes);
	edl_arena_free(&m->arena);
	memset(m, 0, sizeof(*m));
}

/* FNV-1a: short keys, no adversary who can see the table (keys come from our
 * own database), and a probe sequence that tolerates clustering. */
static uint32_t hash_bytes(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

static int grow(struct edl_keymap *m)
{
	size_t cap = m->cap == 0 ? 64 : m->cap * 2;
	uint32_t *slots = calloc(cap, sizeof(*slots));
	const uint8_t **keys = realloc(m->keys, cap * sizeof(*keys));
	size_t *lens;
	uint32_t *hashes;

	if (keys != NULL)
		m->keys = keys;
	lens = realloc(m->key_lens, cap * sizeof(*lens));
	if (lens != NULL)
		m->key_lens = lens;
	hashes = realloc(m->hashes, cap * sizeof(*hashes));
	if (hashes != NULL)
		m->hashes = hashes;
	if (slots == NULL || keys == NULL || lens == NULL || hashes == NULL) {
		free(slots);
		return EDL_E_NOMEM;
	}
	for (size_t i = 0; i < m->n; i++) {
		size_t j = m->hashes[i] & (cap - 1);
		while (slots[j] != 0)
			j = (j + 1) & (cap - 1);
		slots[j] = (uint32_t)i + 1;
	}
	free(m->slots);
	m->slots = slots;
	m->cap = cap;
	return EDL_OK;
}

int edl_keymap_intern(size_t *out_index, bool *out_added, struct edl_keymap *m, const void *key,
                      size_t len)
{
	uint32_t h = hash_bytes(key, len);
	size_t j;
	uint8_t *copy;

	*out_added = false;
	if (m->n + 1 > m->cap / 2) {
		if (m->n >= UINT32_MAX - 1 || grow(m) != EDL_OK)
			return EDL_E_NOMEM;
	}
	for (j = h & (m->cap - 1); m->slots[j] != 0; j = (j + 1) & (m->cap - 1)) {
		size_t i = m->slots[j] - 1;
		if (m->hashes[i] == h && m->key_lens[i] == len &&
		    memcmp(m->keys[i], key, len) == 0) {
			*out_index = i;
			return EDL_OK;
		}
	}
	copy = edl_arena_alloc(&m->arena, len == 0 ? 1 : len);
	if (copy == NULL)
		return EDL_E_NOMEM;
	memcpy(copy, key, len);
	m->keys[m->n] = copy;
	m->key_lens[m->n] = len;
	m->hashes[m->n] = h;
	m->slots[j] = (uint32_t)m->n + 1;
	*out_index = m->n++;
	*out_added = true;
	return EDL_OK;
}
