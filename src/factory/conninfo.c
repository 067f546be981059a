/*
 * The factory database's connection string, as the station shows it: the
 * password never appears in a message, a log line, the status or the sync
 * cursor's name. libpq takes two forms, a URI
 * (postgresql://user:secret@host:port/db?password=secret&...) and key=value
 * pairs (host=h password='se cret'); both are scanned here by their grammar
 * (libpq's documentation, "Connection Strings"), without libpq, so a string
 * libpq refuses is still masked before it is quoted in the error. A key=value
 * dbname may itself be a URI or pairs (libpq expands it): masked too.
 */
#include "edlstation/factory.h"
#include "factory_internal.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define MASK "***"

/* A bounded output string: appends truncate, the result stays NUL-terminated. */
struct out {
	char *buf;
	size_t len;
	size_t used;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->len == 0)
		return;
	if (o->used + n >= o->len)
		n = o->len - 1 - o->used;
	memcpy(o->buf + o->used, s, n);
	o->used += n;
	o->buf[o->used] = '\0';
}

static void redact(struct out *o, const char *s, bool remove);

static bool is_uri(const char *s)
{
	return strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0;
}

/*
 * URI: the userspec ends at the last '@' before the query (libpq takes the
 * first '@' or '/'; the last '@' also covers a hostile password holding '/'),
 * its password after its first ':'. In the query, the value of password=.
 */
static void redact_uri(struct out *o, const char *s, bool remove)
{
	const char *body = strstr(s, "://") + 3;
	const char *query = strchr(body, '?');
	const char *end_auth = query != NULL ? query : body + strlen(body);
	const char *at = NULL;
	const char *p;

	for (p = body; p < end_auth; p++)
		if (*p == '@')
			at = p;
	put(o, s, (size_t)(body - s));
	if (at != NULL) {
		const char *colon = memchr(body, ':', (size_t)(at - body));
		if (colon != NULL) {
			put(o, body, (size_t)(colon - body));
			if (!remove) {
				put(o, ":", 1);
				put(o, MASK, strlen(MASK));
			}
			body = at;
		}
	}
	put(o, body, (size_t)(end_auth - body));
	if (query == NULL)
		return;
	/* ?a=1&password=x&b=2 */
	bool first = true;
	p = query + 1;
	while (true) {
		const char *amp = strchr(p, '&');
		const char *end = amp != NULL ? amp : p + strlen(p);
		bool is_password = (size_t)(end - p) >= 9 && strncmp(p, "password=", 9) == 0;
		bool is_dbname = (size_t)(end - p) >= 7 && strncmp(p, "dbname=", 7) == 0;
		if (!(is_password && remove)) {
			put(o, first ? "?" : "&", 1);
			first = false;
			if (is_password) {
				put(o, "password=" MASK, 9 + strlen(MASK));
			} else if (is_dbname && memchr(p, '=', (size_t)(end - p)) != NULL &&
			           (memchr(p + 7, '=', (size_t)(end - p - 7)) != NULL ||
			            memchr(p + 7, ':', (size_t)(end - p - 7)) != NULL)) {
				/* Percent-encoded pairs or a URI inside: no telling the
				 * password apart cheaply, so hide the whole value. */
				put(o, "dbname=" MASK, 7 + strlen(MASK));
			} else {
				put(o, p, (size_t)(end - p));
			}
		}
		if (amp == NULL)
			break;
		p = amp + 1;
	}
}

/* One value of the key=value form: quoted ('..' with \' and \\) or bare up to
 * white space. Returns its end; inner and inner_end bound its text without quotes. */
static const char *scan_value(const char *p, const char **inner, const char **inner_end)
{
	if (*p == '\'') {
		*inner = ++p;
		while (*p != '\0' && *p != '\'') {
			if (*p == '\\' && p[1] != '\0')
				p++;
			p++;
		}
		*inner_end = p;
		return *p == '\'' ? p + 1 : p;
	}
	*inner = p;
	while (*p != '\0' && !isspace((unsigned char)*p)) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		p++;
	}
	*inner_end = p;
	return p;
}

static void redact_pairs(struct out *o, const char *s, bool remove)
{
	const char *p = s;

	while (*p != '\0') {
		const char *ws = p;
		while (isspace((unsigned char)*p))
			p++;
		const char *key = p;
		while (*p != '\0' && *p != '=' && !isspace((unsigned char)*p))
			p++;
		size_t key_len = (size_t)(p - key);
		const char *after_key = p;
		while (isspace((unsigned char)*p))
			p++;
		if (*p != '=') {
			/* Not a pair: libpq refuses it. Whatever follows may be a
			 * password ("password secret"): show only what came before. */
			put(o, ws, (size_t)(key - ws));
			if (key_len > 0)
				put(o, MASK, strlen(MASK));
			return;
		}
		p++;
		while (isspace((unsigned char)*p))
			p++;
		const char *inner, *inner_end;
		const char *value = p;
		p = scan_value(p, &inner, &inner_end);
		bool is_password = key_len == 8 && strncmp(key, "password", 8) == 0;
		bool is_dbname = key_len == 6 && strncmp(key, "dbname", 6) == 0;
		if (is_password && remove)
			continue;
		if (o->used > 0 && ws == key)
			put(o, " ", 1); /* a quoted value right before the next key */
		else if (o->used > 0)
			put(o, ws, (size_t)(key - ws));
		put(o, key, (size_t)(after_key - key));
		put(o, "=", 1);
		if (is_password) {
			put(o, MASK, strlen(MASK));
		} else if (is_dbname && (memchr(inner, '=', (size_t)(inner_end - inner)) != NULL ||
		                         is_uri(inner))) {
			/* An expanded connection string: mask inside it. */
			char nested[1024];
			char copy[1024];
			size_t n = (size_t)(inner_end - inner);
			struct out sub = {nested, sizeof(nested), 0};
			if (n >= sizeof(copy))
				n = sizeof(copy) - 1;
			memcpy(copy, inner, n);
			copy[n] = '\0';
			nested[0] = '\0';
			redact(&sub, copy, remove);
			put(o, "'", 1);
			put(o, nested, sub.used);
			put(o, "'", 1);
		} else {
			put(o, value, (size_t)(p - value));
		}
	}
}

static void redact(struct out *o, const char *s, bool remove)
{
	if (is_uri(s))
		redact_uri(o, s, remove);
	else
		redact_pairs(o, s, remove);
}

char *edl_factory_conninfo_mask(char *out, size_t len, const char *conninfo)
{
	struct out o = {out, len, 0};

	if (len > 0)
		out[0] = '\0';
	if (conninfo != NULL)
		redact(&o, conninfo, false);
	return out;
}

char *edl_factory_conninfo_target(char *out, size_t len, const char *conninfo)
{
	struct out o = {out, len, 0};

	if (len > 0)
		out[0] = '\0';
	if (conninfo != NULL)
		redact(&o, conninfo, true);
	return out;
}

static void hide_secret_quotes(char *out, size_t len, const char *why, size_t n, const char *masked)
{
	struct out o = {out, len, 0};
	const char *p = why;
	const char *end = why + n;

	if (len > 0)
		out[0] = '\0';
	while (p < end) {
		const char *open = memchr(p, '"', (size_t)(end - p));
		const char *close =
		        open != NULL ? memchr(open + 1, '"', (size_t)(end - open - 1)) : NULL;
		if (close == NULL) {
			put(&o, p, (size_t)(end - p));
			break;
		}
		put(&o, p, (size_t)(open + 1 - p));
		char piece[256];
		snprintf(piece, sizeof(piece), "%.*s", (int)(close - open - 1), open + 1);
		if (strstr(masked, piece) != NULL)
			put(&o, piece, strlen(piece));
		else
			put(&o, MASK, strlen(MASK));
		put(&o, "\"", 1);
		p = close + 1;
	}
}

int edl_factory_conninfo_check(const char *conninfo, struct edl_error *err)
{
	char masked[512];
	char *why = NULL;
	PQconninfoOption *opts;

	edl_factory_conninfo_mask(masked, sizeof(masked), conninfo != NULL ? conninfo : "");
	if (conninfo == NULL || conninfo[0] == '\0')
		return edl_error_set(err, EDL_E_CONFIG,
		                     "factory database: empty connection string (write "
		                     "postgresql://user@host/dbname or host=... dbname=...)");
	opts = PQconninfoParse(conninfo, &why);
	if (opts == NULL) {
		size_t n = why != NULL ? strlen(why) : 0;
		while (n > 0 && (why[n - 1] == '\n' || why[n - 1] == ' '))
			n--;
		/* libpq's reason quotes the text it stumbled on ("missing "=" after
		 * "b""), which may be a piece of the password: a quoted piece that
		 * the masked string does not show is masked in the reason too. */
		char reason[256];
		hide_secret_quotes(reason, sizeof(reason), why != NULL ? why : "", n, masked);
		PQfreemem(why);
		return edl_error_set(err, EDL_E_CONFIG, "factory database %s: %s", masked,
		                     n > 0 ? reason : "libpq cannot parse it (out of memory?)");
	}
	PQconninfoFree(opts);
	return EDL_OK;
}

char *edl_factory_redact(char *out, size_t len, const char *text, const char *conninfo)
{
	struct out o = {out, len, 0};
	char secret[256] = "";
	PQconninfoOption *opts;

	if (len > 0)
		out[0] = '\0';
	if (text == NULL)
		return out;
	/* The password as libpq reads it (a URI's percent-decoded, a quoted one
	 * unquoted): the text a message could quote. */
	opts = conninfo != NULL ? PQconninfoParse(conninfo, NULL) : NULL;
	for (PQconninfoOption *opt = opts; opt != NULL && opt->keyword != NULL; opt++) {
		if (strcmp(opt->keyword, "password") == 0 && opt->val != NULL)
			snprintf(secret, sizeof(secret), "%s", opt->val);
	}
	PQconninfoFree(opts);
	size_t n = strlen(secret);
	for (const char *p = text; *p != '\0';) {
		if (n > 0 && strncmp(p, secret, n) == 0) {
			put(&o, MASK, strlen(MASK));
			p += n;
		} else {
			put(&o, p, 1);
			p++;
		}
	}
	return out;
}
