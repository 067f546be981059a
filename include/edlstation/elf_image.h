/*
 * A minimal ELF32/ELF64 program-header reader, as a boot ROM needs it to pull
 * a programmer segment by segment, and a generator of synthetic programmers
 * (valid ELF64 files whose loadable segments cover the whole file after the
 * headers) for tests, the demo and the emulator. Everything is bounds-checked:
 * the bytes come from a file or a host and are never trusted.
 */
#ifndef EDLSTATION_ELF_IMAGE_H
#define EDLSTATION_ELF_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edlstation/error.h"

#define EDL_ELF32_EHDR_SIZE 52
#define EDL_ELF64_EHDR_SIZE 64
#define EDL_ELF32_PHDR_SIZE 32
#define EDL_ELF64_PHDR_SIZE 56
#define EDL_ELF_MAX_PHDRS 128 /* more is refused: no programmer comes close */

#define EDL_ELF_PT_NULL 0
#define EDL_ELF_PT_LOAD 1

struct edl_elf_header {
	bool is64;
	uint16_t type;
	uint16_t machine;
	uint64_t entry;
	uint64_t phoff;
	uint16_t phentsize;
	uint16_t phnum;
};

struct edl_elf_phdr {
	uint32_t type;
	uint32_t flags;
	uint64_t offset;
	uint64_t vaddr;
	uint64_t paddr;
	uint64_t filesz;
	uint64_t memsz;
	uint64_t align;
};

/*
 * Parses the ELF header from the first len bytes of a file (52 are enough for
 * ELF32, 64 for ELF64). Checks magic, class, little-endian data, version,
 * phentsize and 1 <= phnum <= EDL_ELF_MAX_PHDRS, and that the program header
 * table's end does not overflow. Returns EDL_OK or EDL_E_ELF with a detail.
 */
int edl_elf_parse_header(struct edl_elf_header *out, const uint8_t *buf, size_t len,
                         struct edl_error *err);

/* Size in bytes of the program header table (phnum * phentsize). */
uint64_t edl_elf_phdr_table_size(const struct edl_elf_header *eh);

/*
 * Parses entry index of the program header table held in table[0..len).
 * Checks that the entry lies in the buffer and that offset + filesz does not
 * overflow. Returns EDL_OK or EDL_E_ELF.
 */
int edl_elf_parse_phdr(struct edl_elf_phdr *out, const struct edl_elf_header *eh,
                       const uint8_t *table, size_t len, size_t index, struct edl_error *err);

/*
 * Parses a whole file in memory: header and up to max_phdrs program headers
 * into phdrs (*n set to phnum), checking that the table and every segment's
 * file range lie inside the file. Returns EDL_OK, EDL_E_ELF or EDL_E_RANGE
 * (more headers than max_phdrs).
 */
int edl_elf_parse_file(struct edl_elf_header *eh, struct edl_elf_phdr *phdrs, size_t max_phdrs,
                       size_t *n, const uint8_t *buf, size_t len, struct edl_error *err);

/*
 * Builds a synthetic programmer: a valid ELF64 (AArch64, ET_EXEC) file of
 * max(size, a small minimum) bytes with a PT_NULL header and 2-3 PT_LOAD
 * segments whose file ranges together cover every byte after the headers, so
 * the bytes a boot ROM requests reassemble the whole file. The segments are
 * listed out of file order, so a ROM reads the file non-sequentially. Contents
 * are pseudo-random from seed (deterministic). *out is malloc'd: the caller
 * frees it. Returns EDL_OK, EDL_E_INVAL (size above 1 GiB) or EDL_E_NOMEM.
 */
int edl_elf_make_programmer(uint8_t **out, size_t *len, size_t size, uint32_t seed);

#endif
