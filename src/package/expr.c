/*
 * The sector expression language of rawprogram/patch files (grammar in
 * include/edlstation/expr.h): a recursive-descent parser that emits a postfix
 * program, and a checked evaluator over it. Parsing happens once at package load
 * (malformed text is a validation error naming file and line); evaluation
 * happens when a device's geometry is known (`package check --sectors`, the
 * station after getstorageinfo, the emulated programmer).
 */
#include "edlstation/expr.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 16

struct parser {
	const char *text;
	const char *p;
	struct edl_expr *out;
	struct edl_error *err;
	int depth;
};

static int fail(struct parser *ps, const char *what)
{
	size_t off = (size_t)(ps->p - ps->text);

	if (*ps->p == '\0')
		return edl_error_set(ps->err, EDL_E_PKG_EXPR, "'%s' ends where %s was expected",
		                     ps->text, what);
	return edl_error_set(ps->err, EDL_E_PKG_EXPR, "'%s': %s expected at offset %zu, found '%c'",
	                     ps->text, what, off, *ps->p);
}

static void skip_space(struct parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t')
		ps->p++;
}

static int emit(struct parser *ps, enum edl_expr_op op, uint64_t value)
{
	if (ps->out->n >= EDL_EXPR_MAX_NODES)
		return edl_error_set(ps->err, EDL_E_PKG_EXPR, "'%s' is too long an expression",
		                     ps->text);
	ps->out->node[ps->out->n].op = op;
	ps->out->node[ps->out->n].value = value;
	ps->out->n++;
	return EDL_OK;
}

/* Reads a number at *pp: decimal with optional trailing '.', or 0x hex. */
static int read_number(const char **pp, uint64_t *out)
{
	const char *p = *pp;
	uint64_t v = 0;
	int base = 10;
	int digits = 0;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	for (;; p++) {
		int d;
		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (base == 16 && isxdigit((unsigned char)*p))
			d = tolower((unsigned char)*p) - 'a' + 10;
		else
			break;
		if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
			return EDL_E_RANGE;
		v = v * (uint64_t)base + (uint64_t)d;
		digits++;
	}
	if (digits == 0)
		return EDL_E_PKG_EXPR;
	if (base == 10 && *p == '.')
		p++;
	*pp = p;
	*out = v;
	return EDL_OK;
}

static bool match_word(struct parser *ps, const char *word)
{
	size_t n = strlen(word);

	if (strncmp(ps->p, word, n) != 0)
		return false;
	if (isalnum((unsigned char)ps->p[n]) || ps->p[n] == '_')
		return false;
	ps->p += n;
	return true;
}

static int parse_expr(struct parser *ps);

static int expect(struct parser *ps, char c, const char *what)
{
	skip_space(ps);
	if (*ps->p != c)
		return fail(ps, what);
	ps->p++;
	return EDL_OK;
}

static int parse_factor(struct parser *ps)
{
	int rc;

	skip_space(ps);
	if (*ps->p >= '0' && *ps->p <= '9') {
		uint64_t v;
		rc = read_number(&ps->p, &v);
		if (rc == EDL_E_RANGE)
			return edl_error_set(ps->err, EDL_E_PKG_EXPR,
			                     "'%s': number too large at offset %zu", ps->text,
			                     (size_t)(ps->p - ps->text));
		if (rc != EDL_OK)
			return fail(ps, "a number");
		return emit(ps, EDL_EXPR_NUM, v);
	}
	if (*ps->p == '(') {
		ps->p++;
		if (++ps->depth > MAX_DEPTH)
			return edl_error_set(ps->err, EDL_E_PKG_EXPR, "'%s' nests too deeply",
			                     ps->text);
		rc = parse_expr(ps);
		if (rc != EDL_OK)
			return rc;
		ps->depth--;
		return expect(ps, ')', "')'");
	}
	if (match_word(ps, "NUM_DISK_SECTORS")) {
		ps->out->uses |= EDL_EXPR_USES_SECTORS;
		return emit(ps, EDL_EXPR_SECTORS, 0);
	}
	if (match_word(ps, "NUM_DISK_BLOCKS")) {
		ps->out->uses |= EDL_EXPR_USES_BLOCKS;
		return emit(ps, EDL_EXPR_BLOCKS, 0);
	}
	if (match_word(ps, "CRC32")) {
		ps->out->uses |= EDL_EXPR_USES_CRC32;
		if (++ps->depth > MAX_DEPTH)
			return edl_error_set(ps->err, EDL_E_PKG_EXPR, "'%s' nests too deeply",
			                     ps->text);
		if ((rc = expect(ps, '(', "'(' after CRC32")) != EDL_OK ||
		    (rc = parse_expr(ps)) != EDL_OK || (rc = expect(ps, ',', "','")) != EDL_OK ||
		    (rc = parse_expr(ps)) != EDL_OK || (rc = expect(ps, ')', "')'")) != EDL_OK)
			return rc;
		ps->depth--;
		return emit(ps, EDL_EXPR_CRC32, 0);
	}
	return fail(ps, "a number, NUM_DISK_SECTORS, NUM_DISK_BLOCKS, CRC32 or '('");
}

static int parse_term(struct parser *ps)
{
	int rc = parse_factor(ps);

	while (rc == EDL_OK) {
		char op;
		skip_space(ps);
		op = *ps->p;
		if (op != '*' && op != '/')
			break;
		ps->p++;
		rc = parse_factor(ps);
		if (rc == EDL_OK)
			rc = emit(ps, op == '*' ? EDL_EXPR_MUL : EDL_EXPR_DIV, 0);
	}
	return rc;
}

static int parse_expr(struct parser *ps)
{
	int rc = parse_term(ps);

	while (rc == EDL_OK) {
		char op;
		skip_space(ps);
		op = *ps->p;
		if (op != '+' && op != '-')
			break;
		ps->p++;
		rc = parse_term(ps);
		if (rc == EDL_OK)
			rc = emit(ps, op == '+' ? EDL_EXPR_ADD : EDL_EXPR_SUB, 0);
	}
	return rc;
}

int edl_expr_parse(struct edl_expr *out, const char *text, struct edl_error *err)
{
	struct parser ps = {.text = text, .p = text, .out = out, .err = err};
	int rc;

	memset(out, 0, sizeof(*out));
	if (text == NULL)
		return edl_error_set(err, EDL_E_PKG_EXPR, "missing expression");
	if (strlen(text) > EDL_EXPR_MAX_TEXT)
		return edl_error_set(err, EDL_E_PKG_EXPR,
		                     "expression of %zu characters is too long", strlen(text));
	rc = parse_expr(&ps);
	if (rc != EDL_OK)
		return rc;
	skip_space(&ps);
	if (*ps.p != '\0')
		return fail(&ps, "an operator or the end");
	return EDL_OK;
}

bool edl_expr_is_const(const struct edl_expr *e)
{
	return e->uses == 0;
}

int edl_expr_parse_number(uint64_t *out, const char *text)
{
	const char *p = text;
	uint64_t v;

	if (text == NULL)
		return EDL_E_PKG_EXPR;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!(*p >= '0' && *p <= '9'))
		return EDL_E_PKG_EXPR;
	if (read_number(&p, &v) != EDL_OK)
		return EDL_E_PKG_EXPR;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '\0')
		return EDL_E_PKG_EXPR;
	*out = v;
	return EDL_OK;
}

int edl_expr_eval(uint64_t *out, const struct edl_expr *e, const struct edl_expr_env *env,
                  struct edl_error *err)
{
	uint64_t stack[EDL_EXPR_MAX_NODES];
	size_t sp = 0;
	int rc;

	for (size_t i = 0; i < e->n; i++) {
		const struct edl_expr_node *nd = &e->node[i];
		uint64_t a, b, r = 0;

		switch (nd->op) {
		case EDL_EXPR_NUM:
			stack[sp++] = nd->value;
			continue;
		case EDL_EXPR_SECTORS:
			if (!env->have_sectors)
				return edl_error_set(err, EDL_E_PKG_EXPR,
				                     "NUM_DISK_SECTORS is not known yet");
			stack[sp++] = env->num_disk_sectors;
			continue;
		case EDL_EXPR_BLOCKS:
			if (!env->have_blocks)
				return edl_error_set(err, EDL_E_PKG_EXPR,
				                     "NUM_DISK_BLOCKS is not known yet");
			stack[sp++] = env->num_disk_blocks;
			continue;
		default:
			break;
		}
		/* Binary operators: a well-formed program always has two operands. */
		if (sp < 2)
			return edl_error_set(err, EDL_E_INTERNAL, "expression program is corrupt");
		b = stack[--sp];
		a = stack[--sp];
		switch (nd->op) {
		case EDL_EXPR_ADD:
			if (__builtin_add_overflow(a, b, &r))
				return edl_error_set(err, EDL_E_PKG_GEOMETRY,
				                     "%llu+%llu overflows 64 bits",
				                     (unsigned long long)a, (unsigned long long)b);
			break;
		case EDL_EXPR_SUB:
			if (b > a)
				return edl_error_set(err, EDL_E_PKG_GEOMETRY,
				                     "%llu-%llu is negative", (unsigned long long)a,
				                     (unsigned long long)b);
			r = a - b;
			break;
		case EDL_EXPR_MUL:
			if (__builtin_mul_overflow(a, b, &r))
				return edl_error_set(err, EDL_E_PKG_GEOMETRY,
				                     "%llu*%llu overflows 64 bits",
				                     (unsigned long long)a, (unsigned long long)b);
			break;
		case EDL_EXPR_DIV:
			if (b == 0)
				return edl_error_set(err, EDL_E_PKG_EXPR, "division by zero");
			r = a / b;
			break;
		case EDL_EXPR_CRC32: {
			uint32_t crc = 0;
			if (env->crc32 == NULL)
				return edl_error_set(err, EDL_E_PKG_EXPR,
				                     "CRC32(%llu,%llu) needs the device's bytes",
				                     (unsigned long long)a, (unsigned long long)b);
			rc = env->crc32(a, b, &crc, env->crc32_data, err);
			if (rc != EDL_OK)
				return rc;
			r = crc;
			break;
		}
		default:
			return edl_error_set(err, EDL_E_INTERNAL, "unknown expression op %d",
			                     (int)nd->op);
		}
		stack[sp++] = r;
	}
	if (sp != 1)
		return edl_error_set(err, EDL_E_INTERNAL, "expression program is corrupt");
	*out = stack[0];
	return EDL_OK;
}
