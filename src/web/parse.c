/*
 * The web module's pure parts: the [web] defaults, listen addresses, query
 * strings (percent-decoding, unknown keys), whole numbers and the
 * constant-time token comparison. No sockets, no station: tested by
 * tests/web/test_web.c byte by byte.
 */
#include "edlstation/web.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

void edl_web_config_default(struct edl_web_config *c)
{
	memset(c, 0, sizeof(*c));
	c->max_clients = EDL_WEB_MAX_CLIENTS_DEFAULT;
	c->max_header_bytes = EDL_WEB_MAX_HEADER_DEFAULT;
	c->max_body_bytes = EDL_WEB_MAX_BODY_DEFAULT;
	c->sse_buffer_kb = 8192; /* more than a full ring: a resume never cut short */
}

int edl_web_parse_u64(const char *text, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -1;
		unsigned d = (unsigned)(text[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int edl_web_parse_listen(const char *text, struct sockaddr_storage *out, char *why, size_t n)
{
	char host[64];
	const char *port;
	uint64_t p;

	memset(out, 0, sizeof(*out));
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (close == NULL || close[1] != ':' ||
		    (size_t)(close - text - 1) >= sizeof(host)) {
			snprintf(why, n,
			         "write an IPv6 address as [ADDRESS]:PORT, e.g. [::1]:8080");
			return -1;
		}
		memcpy(host, text + 1, (size_t)(close - text - 1));
		host[close - text - 1] = '\0';
		port = close + 2;
	} else {
		const char *colon = strrchr(text, ':');
		if (colon == NULL || (size_t)(colon - text) >= sizeof(host) ||
		    strchr(text, ':') != colon) {
			snprintf(why, n,
			         "write HOST:PORT with an IPv4 address (127.0.0.1:8080) or "
			         "[IPv6]:PORT ([::1]:8080)");
			return -1;
		}
		memcpy(host, text, (size_t)(colon - text));
		host[colon - text] = '\0';
		port = colon + 1;
	}
	if (edl_web_parse_u64(port, strlen(port), &p) != 0 || p == 0 || p > 65535) {
		snprintf(why, n, "the port must be a number from 1 to 65535");
		return -1;
	}
	if (text[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)p);
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) {
			snprintf(why, n, "'%s' is not an IPv6 address (e.g. [::1]:8080, [::]:8080)",
			         host);
			return -1;
		}
		return 0;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)out;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)p);
	if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
		snprintf(why, n,
		         "'%s' is not an IPv4 address: give a numeric address such as 127.0.0.1 "
		         "or 0.0.0.0 (host names are not looked up)",
		         host);
		return -1;
	}
	return 0;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes one query value (text, len) into out; -1 when malformed or too long. */
static int decode(const char *text, size_t len, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			if (i + 2 >= len)
				return -1;
			int hi = hex_value(text[i + 1]);
			int lo = hex_value(text[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = c;
	}
	if (cap == 0)
		return -1;
	out[o] = '\0';
	return 0;
}

int edl_web_query_get(const char *query, size_t len, const char *key, char *out, size_t cap)
{
	size_t klen = strlen(key);
	size_t i = 0;

	while (i < len) {
		size_t end = i;
		while (end < len && query[end] != '&')
			end++;
		const char *eq = memchr(query + i, '=', end - i);
		size_t name_len = eq ? (size_t)(eq - (query + i)) : end - i;
		if (name_len == klen && memcmp(query + i, key, klen) == 0) {
			const char *v = eq ? eq + 1 : query + end;
			size_t vlen = (size_t)(query + end - v);
			return decode(v, vlen, out, cap) == 0 ? 1 : -1;
		}
		i = end + 1;
	}
	return 0;
}

bool edl_web_query_keys_known(const char *query, size_t len, const char *const *keys,
                              const char **bad, size_t *bad_len)
{
	size_t i = 0;

	while (i < len) {
		size_t end = i;
		while (end < len && query[end] != '&')
			end++;
		const char *eq = memchr(query + i, '=', end - i);
		size_t name_len = eq ? (size_t)(eq - (query + i)) : end - i;
		bool known = name_len == 0; /* "a=1&&b=2": an empty piece is harmless */
		for (size_t k = 0; keys[k] != NULL && !known; k++)
			known = strlen(keys[k]) == name_len &&
			        memcmp(keys[k], query + i, name_len) == 0;
		if (!known) {
			*bad = query + i;
			*bad_len = name_len;
			return false;
		}
		i = end + 1;
	}
	return true;
}

bool edl_web_token_equal(const char *given, size_t given_len, const char *expected)
{
	size_t elen = strlen(expected);
	unsigned char diff = given_len != elen;

	/* Every byte of the expected token is looked at, whatever matches. */
	for (size_t i = 0; i < elen; i++)
		diff |= (unsigned char)(expected[i] ^ (i < given_len ? given[i] : 0));
	return elen > 0 && diff == 0;
}

/* ---- the control body: {"reason": "..."} ------------------------------------------ */

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

/* A JSON string at p (after its quote) into out; returns the byte after the
 * closing quote, or NULL. Escapes: \" \\ \/ \b \f \n \r \t and \u00XX..\u007F
 * (control characters and non-ASCII escapes are refused: a reason is words). */
static const char *json_string(const char *p, const char *end, char *out, size_t cap)
{
	size_t o = 0;

	while (p < end && *p != '"') {
		char c = *p++;
		if ((unsigned char)c < 0x20)
			return NULL;
		if (c == '\\') {
			if (p >= end)
				return NULL;
			char e = *p++;
			switch (e) {
			case '"':
			case '\\':
			case '/':
				c = e;
				break;
			case 'n':
			case 't':
			case 'r':
			case 'b':
			case 'f':
				c = ' ';
				break;
			case 'u': {
				if (end - p < 4)
					return NULL;
				int v = 0;
				for (int i = 0; i < 4; i++) {
					int h = hex_value(p[i]);
					if (h < 0)
						return NULL;
					v = v * 16 + h;
				}
				if (v < 0x20 || v > 0x7e)
					return NULL;
				c = (char)v;
				p += 4;
				break;
			}
			default:
				return NULL;
			}
		}
		if (o + 1 >= cap)
			return NULL;
		out[o++] = c;
	}
	if (p >= end)
		return NULL;
	out[o] = '\0';
	return p + 1;
}

int edl_web_json_reason(const char *body, size_t len, char *reason, size_t cap)
{
	const char *p = body, *end = body + len;
	char key[32];

	reason[0] = '\0';
	p = skip_ws(p, end);
	if (p >= end || *p++ != '{')
		return -1;
	p = skip_ws(p, end);
	if (p < end && *p == '}')
		return skip_ws(p + 1, end) == end ? 0 : -1;
	for (;;) {
		if (p >= end || *p++ != '"' || (p = json_string(p, end, key, sizeof(key))) == NULL)
			return -1;
		p = skip_ws(p, end);
		if (p >= end || *p++ != ':')
			return -1;
		p = skip_ws(p, end);
		if (strcmp(key, "reason") != 0 || p >= end || *p++ != '"')
			return -1;
		if ((p = json_string(p, end, reason, cap)) == NULL)
			return -1;
		p = skip_ws(p, end);
		if (p < end && *p == ',') {
			p = skip_ws(p + 1, end);
			continue;
		}
		if (p >= end || *p++ != '}')
			return -1;
		return skip_ws(p, end) == end ? 0 : -1;
	}
}
