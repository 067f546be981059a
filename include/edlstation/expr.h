/*
 * Sector expressions of Qualcomm rawprogram/patch files: `NUM_DISK_SECTORS-33.`,
 * `(4096*NUM_DISK_SECTORS)-20480.`, `NUM_DISK_BLOCKS-1458.`, `CRC32(NUM_DISK_SECTORS-1.,92)`.
 *
 * Grammar (whitespace allowed between tokens):
 *   expr   := term (('+' | '-') term)*
 *   term   := factor (('*' | '/') factor)*
 *   factor := NUMBER | NUM_DISK_SECTORS | NUM_DISK_BLOCKS | '(' expr ')'
 *           | CRC32 '(' expr ',' expr ')'
 *   NUMBER := decimal digits with an optional trailing '.', or 0x hex digits
 *
 * The trailing '.' is Trace32's mark of a decimal number. Trace32 reads a number
 * without it as hex, but Firehose programmers and every host read these
 * attributes as decimal, so a dot-less number is decimal here too.
 *
 * An expression is parsed once into a small postfix program (struct edl_expr)
 * and evaluated when the device's geometry is known. Arithmetic is unsigned
 * 64-bit and checked: overflow, a negative result and division by zero are
 * errors, never wrapped values. CRC32(start, len) is the zlib CRC-32 of len bytes
 * from sector `start`; evaluating it needs the bytes, which the caller's
 * callback reads (the emulated programmer from its storage).
 */
#ifndef EDLSTATION_EXPR_H
#define EDLSTATION_EXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edlstation/error.h"

#define EDL_EXPR_MAX_NODES 32 /* postfix program length; real expressions use < 10 */
#define EDL_EXPR_MAX_TEXT 95  /* longest text accepted (fits EDL_PLAN_EXPR_MAX) */

enum edl_expr_op {
	EDL_EXPR_NUM = 0,     /* push value */
	EDL_EXPR_SECTORS = 1, /* push NUM_DISK_SECTORS */
	EDL_EXPR_BLOCKS = 2,  /* push NUM_DISK_BLOCKS */
	EDL_EXPR_ADD = 3,
	EDL_EXPR_SUB = 4,
	EDL_EXPR_MUL = 5,
	EDL_EXPR_DIV = 6,
	EDL_EXPR_CRC32 = 7, /* pop len, pop start sector, push CRC-32 */
};

/* Flags of what an expression needs to be evaluated. */
enum {
	EDL_EXPR_USES_SECTORS = 1u << 0,
	EDL_EXPR_USES_BLOCKS = 1u << 1,
	EDL_EXPR_USES_CRC32 = 1u << 2,
};

struct edl_expr_node {
	enum edl_expr_op op;
	uint64_t value; /* EDL_EXPR_NUM only */
};

struct edl_expr {
	size_t n;
	struct edl_expr_node node[EDL_EXPR_MAX_NODES];
	unsigned uses; /* EDL_EXPR_USES_* */
};

/* Reads the CRC-32 (zlib) of len bytes starting at sector `sector`; returns
 * EDL_OK or a negative code with err set. */
typedef int (*edl_expr_crc32_fn)(uint64_t sector, uint64_t len, uint32_t *out, void *data,
                                 struct edl_error *err);

/* What an evaluation may use. A missing variable or callback is an error naming it. */
struct edl_expr_env {
	bool have_sectors;
	uint64_t num_disk_sectors;
	bool have_blocks;
	uint64_t num_disk_blocks;
	edl_expr_crc32_fn crc32; /* NULL: CRC32() cannot be evaluated */
	void *crc32_data;
};

/*
 * Parses text into out. Returns EDL_OK, or EDL_E_PKG_EXPR with err naming the
 * text and the offset of the problem ("'NUM_DISK_SECTORS-' ends where a number
 * was expected (offset 17)").
 */
int edl_expr_parse(struct edl_expr *out, const char *text, struct edl_error *err);

/* Evaluates e in env into *out. Returns EDL_OK, EDL_E_PKG_EXPR (a variable or the
 * CRC callback missing, division by zero), EDL_E_PKG_GEOMETRY (negative result
 * or overflow: the geometry is too small for the expression) or the callback's code. */
int edl_expr_eval(uint64_t *out, const struct edl_expr *e, const struct edl_expr_env *env,
                  struct edl_error *err);

/* True when e uses no variable and no CRC32: its value is known at parse time. */
bool edl_expr_is_const(const struct edl_expr *e);

/* Parses a plain number attribute ("131072", "33.", "0x4000") into *out.
 * Returns EDL_OK or EDL_E_PKG_EXPR; no expression, sign or garbage accepted. */
int edl_expr_parse_number(uint64_t *out, const char *text);

/* CRC-32 as zlib's crc32(): start with crc = 0, feed pieces in order. */
uint32_t edl_crc32(uint32_t crc, const void *buf, size_t len);

/* The CRC-32 continued over n zero bytes, in O(log n) time. */
uint32_t edl_crc32_zeros(uint32_t crc, uint64_t n);

#endif
