/*
 * ELF program headers for the emulated boot ROM, and the synthetic programmer
 * generator. Only what a ROM looks at is parsed: the identification bytes, the
 * program header table's place and shape, and each entry's file range. Every
 * field is read with the little-endian helpers and checked before use.
 */
#include "edlstation/elf_image.h"
#include "edlstation/sahara.h"

#include <stdlib.h>
#include <string.h>

static const uint8_t elf_magic[4] = {0x7f, 'E', 'L', 'F'};

int edl_elf_parse_header(struct edl_elf_header *out, const uint8_t *buf, size_t len,
                         struct edl_error *err)
{
	uint16_t want;

	memset(out, 0, sizeof(*out));
	if (len < 16 || memcmp(buf, elf_magic, 4) != 0)
		return edl_error_set(err, EDL_E_ELF, "no ELF magic in the first %zu bytes", len);
	if (buf[4] != 1 && buf[4] != 2)
		return edl_error_set(err, EDL_E_ELF, "ELF class %u is neither 32 nor 64 bit",
		                     buf[4]);
	if (buf[5] != 1)
		return edl_error_set(err, EDL_E_ELF, "ELF data encoding %u is not little-endian",
		                     buf[5]);
	if (buf[6] != 1)
		return edl_error_set(err, EDL_E_ELF, "ELF version %u is not 1", buf[6]);
	out->is64 = buf[4] == 2;
	if (len < (out->is64 ? EDL_ELF64_EHDR_SIZE : EDL_ELF32_EHDR_SIZE))
		return edl_error_set(err, EDL_E_ELF, "ELF%d header needs %d bytes, %zu given",
		                     out->is64 ? 64 : 32,
		                     out->is64 ? EDL_ELF64_EHDR_SIZE : EDL_ELF32_EHDR_SIZE, len);
	out->type = edl_sahara_get_le16(buf + 16);
	out->machine = edl_sahara_get_le16(buf + 18);
	if (out->is64) {
		out->entry = edl_sahara_get_le64(buf + 24);
		out->phoff = edl_sahara_get_le64(buf + 32);
		out->phentsize = edl_sahara_get_le16(buf + 54);
		out->phnum = edl_sahara_get_le16(buf + 56);
		want = EDL_ELF64_PHDR_SIZE;
	} else {
		out->entry = edl_sahara_get_le32(buf + 24);
		out->phoff = edl_sahara_get_le32(buf + 28);
		out->phentsize = edl_sahara_get_le16(buf + 42);
		out->phnum = edl_sahara_get_le16(buf + 44);
		want = EDL_ELF32_PHDR_SIZE;
	}
	if (out->phentsize != want)
		return edl_error_set(err, EDL_E_ELF, "program header size %u, ELF%d needs %u",
		                     out->phentsize, out->is64 ? 64 : 32, want);
	if (out->phnum == 0 || out->phnum > EDL_ELF_MAX_PHDRS)
		return edl_error_set(err, EDL_E_ELF, "%u program headers (1 to %d accepted)",
		                     out->phnum, EDL_ELF_MAX_PHDRS);
	if (out->phoff == 0 || out->phoff > UINT64_MAX - edl_elf_phdr_table_size(out))
		return edl_error_set(err, EDL_E_ELF, "program header table offset 0x%llx invalid",
		                     (unsigned long long)out->phoff);
	return EDL_OK;
}

uint64_t edl_elf_phdr_table_size(const struct edl_elf_header *eh)
{
	return (uint64_t)eh->phnum * eh->phentsize;
}

int edl_elf_parse_phdr(struct edl_elf_phdr *out, const struct edl_elf_header *eh,
                       const uint8_t *table, size_t len, size_t index, struct edl_error *err)
{
	const uint8_t *p;

	memset(out, 0, sizeof(*out));
	if (index >= eh->phnum || len < (index + 1) * (size_t)eh->phentsize)
		return edl_error_set(err, EDL_E_ELF,
		                     "program header %zu is outside the %zu-byte table", index,
		                     len);
	p = table + index * eh->phentsize;
	out->type = edl_sahara_get_le32(p);
	if (eh->is64) {
		out->flags = edl_sahara_get_le32(p + 4);
		out->offset = edl_sahara_get_le64(p + 8);
		out->vaddr = edl_sahara_get_le64(p + 16);
		out->paddr = edl_sahara_get_le64(p + 24);
		out->filesz = edl_sahara_get_le64(p + 32);
		out->memsz = edl_sahara_get_le64(p + 40);
		out->align = edl_sahara_get_le64(p + 48);
	} else {
		out->offset = edl_sahara_get_le32(p + 4);
		out->vaddr = edl_sahara_get_le32(p + 8);
		out->paddr = edl_sahara_get_le32(p + 12);
		out->filesz = edl_sahara_get_le32(p + 16);
		out->memsz = edl_sahara_get_le32(p + 20);
		out->flags = edl_sahara_get_le32(p + 24);
		out->align = edl_sahara_get_le32(p + 28);
	}
	if (out->offset > UINT64_MAX - out->filesz)
		return edl_error_set(
		        err, EDL_E_ELF, "program header %zu: offset 0x%llx + size 0x%llx overflows",
		        index, (unsigned long long)out->offset, (unsigned long long)out->filesz);
	return EDL_OK;
}

int edl_elf_parse_file(struct edl_elf_header *eh, struct edl_elf_phdr *phdrs, size_t max_phdrs,
                       size_t *n, const uint8_t *buf, size_t len, struct edl_error *err)
{
	uint64_t tsize;
	size_t i;
	int rc;

	*n = 0;
	rc = edl_elf_parse_header(eh, buf, len, err);
	if (rc != EDL_OK)
		return rc;
	tsize = edl_elf_phdr_table_size(eh);
	if (eh->phoff > len || tsize > len - eh->phoff)
		return edl_error_set(err, EDL_E_ELF,
		                     "program header table at 0x%llx (%llu bytes) is outside the "
		                     "%zu-byte file",
		                     (unsigned long long)eh->phoff, (unsigned long long)tsize, len);
	if (eh->phnum > max_phdrs)
		return edl_error_set(err, EDL_E_RANGE, "%u program headers, room for %zu",
		                     eh->phnum, max_phdrs);
	for (i = 0; i < eh->phnum; i++) {
		rc = edl_elf_parse_phdr(&phdrs[i], eh, buf + eh->phoff, (size_t)tsize, i, err);
		if (rc != EDL_OK)
			return rc;
		if (phdrs[i].filesz > 0 &&
		    (phdrs[i].offset > len || phdrs[i].filesz > len - phdrs[i].offset))
			return edl_error_set(err, EDL_E_ELF,
			                     "segment %zu at 0x%llx (%llu bytes) is outside the "
			                     "%zu-byte file",
			                     i, (unsigned long long)phdrs[i].offset,
			                     (unsigned long long)phdrs[i].filesz, len);
	}
	*n = eh->phnum;
	return EDL_OK;
}

static uint32_t xorshift32(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

#define GEN_BASE 0x14680000u /* load address of the synthetic programmer */
#define GEN_MAX_SIZE ((size_t)1 << 30)

static void put_phdr64(uint8_t *p, uint32_t type, uint32_t flags, uint64_t off, uint64_t filesz,
                       uint64_t memsz)
{
	uint64_t addr = type == EDL_ELF_PT_LOAD ? GEN_BASE + off : 0;

	edl_sahara_put_le32(p, type);
	edl_sahara_put_le32(p + 4, flags);
	edl_sahara_put_le64(p + 8, off);
	edl_sahara_put_le64(p + 16, addr);
	edl_sahara_put_le64(p + 24, addr);
	edl_sahara_put_le64(p + 32, filesz);
	edl_sahara_put_le64(p + 40, memsz);
	edl_sahara_put_le64(p + 48, type == EDL_ELF_PT_LOAD ? 0x1000 : 0);
}

int edl_elf_make_programmer(uint8_t **out, size_t *len, size_t size, uint32_t seed)
{
	uint32_t rng = seed ? seed : 0x9e3779b9u;
	size_t k = 2 + seed % 2; /* PT_LOAD segments */
	size_t nph = k + 1;
	size_t start = EDL_ELF64_EHDR_SIZE + nph * EDL_ELF64_PHDR_SIZE;
	size_t total, payload, seg_off[3], seg_len[3], i, order;
	uint8_t *f;

	*out = NULL;
	*len = 0;
	if (size > GEN_MAX_SIZE)
		return EDL_E_INVAL;
	total = size > start + 16 * k ? size : start + 16 * k;
	f = malloc(total);
	if (f == NULL)
		return EDL_E_NOMEM;

	/* Cut the payload into k parts of roughly equal size, each at least 1 byte. */
	payload = total - start;
	seg_off[0] = start;
	for (i = 0; i < k; i++) {
		size_t even = payload / k, jitter = even / 4;

		if (i == k - 1)
			seg_len[i] = total - seg_off[i];
		else
			seg_len[i] = even - jitter + (jitter ? xorshift32(&rng) % (2 * jitter) : 0);
		if (i + 1 < k)
			seg_off[i + 1] = seg_off[i] + seg_len[i];
	}

	memset(f, 0, start);
	memcpy(f, elf_magic, 4);
	f[4] = 2;                         /* ELFCLASS64 */
	f[5] = 1;                         /* little-endian */
	f[6] = 1;                         /* EV_CURRENT */
	edl_sahara_put_le16(f + 16, 2);   /* ET_EXEC */
	edl_sahara_put_le16(f + 18, 183); /* EM_AARCH64 */
	edl_sahara_put_le32(f + 20, 1);
	edl_sahara_put_le64(f + 24, GEN_BASE + seg_off[0]);
	edl_sahara_put_le64(f + 32, EDL_ELF64_EHDR_SIZE); /* e_phoff */
	edl_sahara_put_le16(f + 52, EDL_ELF64_EHDR_SIZE);
	edl_sahara_put_le16(f + 54, EDL_ELF64_PHDR_SIZE);
	edl_sahara_put_le16(f + 56, (uint16_t)nph);

	/* A PT_NULL first as in signed images, then the segments, last one first. */
	put_phdr64(f + EDL_ELF64_EHDR_SIZE, EDL_ELF_PT_NULL, 0, 0, 0, 0);
	for (i = 0; i < k; i++) {
		order = (i + k - 1) % k;
		put_phdr64(f + EDL_ELF64_EHDR_SIZE + (i + 1) * EDL_ELF64_PHDR_SIZE, EDL_ELF_PT_LOAD,
		           order == 0 ? 5 : 6, seg_off[order], seg_len[order],
		           seg_len[order] + (order == k - 1 ? 0x1000 : 0));
	}
	for (i = start; i < total; i++)
		f[i] = (uint8_t)(xorshift32(&rng) >> 24);
	*out = f;
	*len = total;
	return EDL_OK;
}
