/*
 * The station's INI configuration, parsed with inih: defaults, then the file,
 * then the command line (the CLI writes its options over the loaded struct).
 * Every problem names the file, the line, the key and the fix, and the line of
 * each key is kept (cfg->source) so later checks can name it too.
 */
#include "edlstation/station.h"
#include "edlstation/factory.h"
#include "edlstation/package.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void edl_station_config_default(struct edl_station_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->name, sizeof(cfg->name), "station");
	cfg->accept_unmapped = true;
	cfg->retries = 1;
	cfg->verify = EDL_VERIFY_AUTO;
	cfg->reset_delay_s = 10; /* qdl and QFirehose send DelayInSeconds="10" */
	cfg->flush_max_mb = 16;
	cfg->progress_timeout_ms = 10000;
	cfg->reenumerate_ms = 20000;
	cfg->running = EDL_RUNNING_AUTO;
	cfg->inflight = 4;
	cfg->zlp = true;
	cfg->usbfs_budget = 12u * 1024 * 1024;
	cfg->max_payload = 1024 * 1024;
	cfg->hello_wait_ms = 500;
	cfg->probe_wait_ms = 1000;
	cfg->packet_timeout_ms = 5000;
	cfg->command_timeout_ms = 10000;
	cfg->erase_timeout_ms = 30000;
	cfg->final_ack_timeout_ms = 120000;
	cfg->digest_timeout_ms = 60000;
	cfg->grace_s = 30;
	cfg->min_free_mb = 64;
	cfg->record_max_mb = 8; /* issue 16 */
	cfg->store_retry_ms = 1000;
	cfg->stop_after = 3;
	cfg->stop_slots = 4;
	cfg->stop_window_s = 60;
	cfg->resume_auto = true;
	cfg->factory_batch = 1000; /* issue 14 */
	cfg->factory_retry_max_s = 30;
	cfg->factory_timeout_s = 10;
}

void edl_station_package_options(const struct edl_station_config *cfg,
                                 struct edl_package_options *opt, const char **raw)
{
	edl_package_options_init(opt);
	opt->dir = cfg->package;
	for (size_t i = 0; i < cfg->n_rawprogram; i++)
		raw[i] = cfg->rawprogram[i];
	opt->rawprogram = raw;
	opt->n_rawprogram = cfg->n_rawprogram;
	opt->programmer = cfg->programmer[0] ? cfg->programmer : NULL;
	opt->storage_set = cfg->storage_set;
	opt->storage = cfg->storage;
	opt->cache_dir = cfg->cache_dir[0] ? cfg->cache_dir : NULL;
}

const struct edl_station_port *edl_station_config_port(const struct edl_station_config *cfg,
                                                       const char *port)
{
	for (size_t i = 0; i < cfg->n_ports; i++) {
		if (strcmp(cfg->ports[i].port, port) == 0)
			return &cfg->ports[i];
	}
	return NULL;
}

/*
 * Reading the file. Debian's inih reads lines into a fixed buffer
 * (INI_MAX_LINE, 200 bytes) and parses the tail of a longer line as a line of
 * its own: a long comment followed by "verify = no" turned verification off.
 * So inih never sees the file: reader() below walks the text itself, line by
 * line of any length, and hands inih one checked line at a time — comments and
 * blank lines as empty lines (line numbers stay right), sections and
 * "key = value" lines rebuilt without their comment. Everything else (a NUL,
 * a control character, text that is none of these, a key line too long for
 * inih's buffer) is a problem reported with its line and never reaches inih.
 * inih then only splits "key = value" and tracks the section.
 */

struct load {
	struct edl_station_config *cfg;
	const char *path;
	struct edl_error *err;
	edl_station_config_problem_fn problem;
	void *data;
	const char *p, *end; /* text not yet read */
	unsigned line;       /* line last handed to inih */
	unsigned problems;
};

static void problem(struct load *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Every problem, prefixed with FILE:LINE; the first also goes into err. */
static void problem(struct load *l, const char *fmt, ...)
{
	char msg[EDL_ERROR_DETAIL_MAX];
	va_list ap;
	int n = snprintf(msg, sizeof(msg), "%s:%u: ", l->path, l->line);

	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	if (l->problems++ == 0)
		edl_error_set(l->err, EDL_E_CONFIG, "%s", msg);
	if (l->problem != NULL)
		l->problem(msg, l->data);
}

/* A value as a message shows it: at most 60 bytes. */
static const char *shown(const char *v, char *buf, size_t len)
{
	if (strlen(v) <= 60)
		return v;
	snprintf(buf, len, "%.57s...", v);
	return buf;
}

static int bad(struct load *l, const char *section, const char *key, const char *value,
               const char *fix)
{
	char b[64];
	problem(l, "[%s] %s: '%s' is not accepted — %s", section, key, shown(value, b, sizeof(b)),
	        fix);
	return 1; /* reported here: inih must not count it again */
}

static int bad_key(struct load *l, const char *section, const char *key, const char *what,
                   const char *fix)
{
	problem(l, "[%s] %s: %s — %s", section, key, what, fix);
	return 1;
}

/* The keys of each section, for "did you mean". */
static const char *const known_keys[][16] = {
        {"station", "name", "concurrency", "accept_unmapped", "count", "grace_seconds"},
        {"package", "dir", "rawprogram", "programmer", "storage", "cache_dir"},
        {"results", "database", "log_dir"},
        {"ports"},
        {"flash", "verify", "reset_delay_s", "flush_max_mb", "retries", "running_programmer", "zlp",
         "inflight", "max_payload", "usbfs_budget_mb"},
        {"timeouts", "hello_ms", "probe_ms", "sahara_ms", "command_ms", "erase_ms", "final_ack_ms",
         "digest_ms", "progress_ms", "reenumerate_ms"},
        {"store", "min_free_mb", "retry_ms"},
        {"line", "stop_after", "stop_slots", "stop_window_s", "resume"},
        {"factory", "database", "line", "batch", "retry_max_s", "timeout_s"},
};
#define N_SECTIONS (sizeof(known_keys) / sizeof(known_keys[0]))

static bool known_section(const char *name)
{
	for (size_t i = 0; i < N_SECTIONS; i++) {
		if (!strcmp(known_keys[i][0], name))
			return true;
	}
	return false;
}

/* Edit distance of two short names, capped at 9 (names over 31 bytes: 9). */
static unsigned distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned row[33];

	if (la > 31 || lb > 31)
		return 9;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned diag = row[0];
		row[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned up = row[j];
			unsigned cost =
			        tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1])
			                ? 0
			                : 1;
			unsigned best = diag + cost;
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb] > 9 ? 9 : row[lb];
}

/* A key (or, with key NULL, a section) this loader does not know. */
static int unknown(struct load *l, const char *section, const char *key)
{
	const char *best = NULL;
	unsigned best_d = 3;

	for (size_t i = 0; i < N_SECTIONS; i++) {
		if (key == NULL) {
			unsigned d = distance(section, known_keys[i][0]);
			if (d < best_d)
				best = known_keys[i][0], best_d = d;
			continue;
		}
		if (strcmp(known_keys[i][0], section) != 0)
			continue;
		for (size_t k = 1; k < 16 && known_keys[i][k] != NULL; k++) {
			unsigned d = distance(key, known_keys[i][k]);
			if (d < best_d)
				best = known_keys[i][k], best_d = d;
		}
	}
	char b[64];
	if (key == NULL && best != NULL)
		problem(l, "[%s]: unknown section — did you mean [%s]?",
		        shown(section, b, sizeof(b)), best);
	else if (key == NULL)
		problem(l,
		        "[%s]: unknown section — the sections are [station], [package], "
		        "[results], [ports], [flash], [timeouts], [store], [line], [factory]",
		        shown(section, b, sizeof(b)));
	else if (best != NULL)
		problem(l, "[%s] %s: unknown key — did you mean %s?", section,
		        shown(key, b, sizeof(b)), best);
	else {
		char keys[256] = "";
		for (size_t i = 0; i < N_SECTIONS; i++) {
			if (strcmp(known_keys[i][0], section) != 0)
				continue;
			for (size_t k = 1; k < 16 && known_keys[i][k] != NULL; k++)
				snprintf(keys + strlen(keys), sizeof(keys) - strlen(keys), "%s%s",
				         k > 1 ? ", " : "", known_keys[i][k]);
		}
		problem(l, "[%s] %s: unknown key — remove it; the keys of [%s] are %s", section,
		        shown(key, b, sizeof(b)), section, keys);
	}
	return 1;
}

/* BUS-PORT[.PORT...]: numbers as the kernel names a USB port path. */
static bool port_path_ok(const char *s)
{
	int parts = 0;
	bool dash = false;

	while (*s) {
		if (!isdigit((unsigned char)*s))
			return false;
		while (isdigit((unsigned char)*s))
			s++;
		parts++;
		if (*s == '\0')
			break;
		if (*s == '-' && !dash && parts == 1)
			dash = true;
		else if (*s != '.' || !dash)
			return false;
		s++;
		if (*s == '\0')
			return false;
	}
	return dash && parts >= 2;
}

static void remember(struct load *l, const char *section, const char *key)
{
	struct edl_station_config_source *src = &l->cfg->source;

	for (size_t i = 0; i < src->n_keys; i++) {
		if (!strcmp(src->keys[i].section, section) && !strcmp(src->keys[i].key, key)) {
			src->keys[i].line = l->line;
			src->keys[i].option[0] = '\0';
			return;
		}
	}
	if (src->n_keys == EDL_STATION_MAX_SOURCE ||
	    strlen(section) >= sizeof(src->keys[0].section) ||
	    strlen(key) >= sizeof(src->keys[0].key))
		return;
	struct edl_station_config_key *k = &src->keys[src->n_keys++];
	snprintf(k->section, sizeof(k->section), "%s", section);
	snprintf(k->key, sizeof(k->key), "%s", key);
	k->line = l->line;
	k->option[0] = '\0';
}

static const struct edl_station_config_key *find_key(const struct edl_station_config *cfg,
                                                     const char *section, const char *key)
{
	for (size_t i = 0; i < cfg->source.n_keys; i++) {
		if (!strcmp(cfg->source.keys[i].section, section) &&
		    !strcmp(cfg->source.keys[i].key, key))
			return &cfg->source.keys[i];
	}
	return NULL;
}

unsigned edl_station_config_line(const struct edl_station_config *cfg, const char *section,
                                 const char *key)
{
	const struct edl_station_config_key *k = find_key(cfg, section, key);
	return k != NULL ? k->line : 0;
}

void edl_station_config_set_by(struct edl_station_config *cfg, const char *section, const char *key,
                               const char *option)
{
	struct load l = {.cfg = cfg, .line = 0};
	remember(&l, section, key);
	struct edl_station_config_key *k =
	        (struct edl_station_config_key *)find_key(cfg, section, key);
	if (k != NULL)
		snprintf(k->option, sizeof(k->option), "%s", option);
}

const char *edl_station_config_where(const struct edl_station_config *cfg, const char *section,
                                     const char *key, char *buf, size_t len)
{
	const struct edl_station_config_key *k = find_key(cfg, section, key);

	if (k != NULL && k->option[0])
		snprintf(buf, len, "%s", k->option);
	else if (k != NULL && k->line > 0)
		snprintf(buf, len, "%s:%u: [%s] %s", cfg->source.path, k->line, section, key);
	else
		snprintf(buf, len, "[%s] %s", section, key);
	return buf;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * One line of the file into str (num bytes, inih's buffer): "\n" for a blank
 * line, a comment or a refused line; "[name]\n"; "key = value\n". Comments: a
 * line whose first non-blank character is ';' or '#', and from a ';' that
 * follows a blank to the end of a line (so "a;b" is a value, "a ;b" is "a").
 */
static char *reader(char *str, int num, void *stream)
{
	struct load *l = stream;

	if (l->p >= l->end || num < 8)
		return NULL;
	const char *start = l->p;
	const char *nl = memchr(start, '\n', (size_t)(l->end - start));
	const char *stop = nl != NULL ? nl : l->end;
	l->p = nl != NULL ? nl + 1 : l->end;
	l->line++;
	str[0] = '\n';
	str[1] = '\0';

	size_t len = (size_t)(stop - start);
	const char *nul = memchr(start, '\0', len);
	if (nul != NULL) {
		problem(l, "NUL byte at column %zu — the file must be plain text: remove it",
		        (size_t)(nul - start) + 1);
		return str;
	}
	if (len > 0 && start[len - 1] == '\r')
		len--; /* CRLF */
	if (l->line == 1 && len >= 3 && !memcmp(start, "\xef\xbb\xbf", 3))
		start += 3, len -= 3; /* UTF-8 BOM */
	const char *s = start, *e = start + len;
	while (s < e && blank(*s))
		s++;
	if (s == e || *s == ';' || *s == '#')
		return str;
	/* The inline comment: ';' after a blank. */
	for (const char *c = s + 1; c < e; c++) {
		if (*c == ';' && blank(c[-1])) {
			e = c;
			break;
		}
	}
	while (e > s && blank(e[-1]))
		e--;
	for (const char *c = s; c < e; c++) {
		if ((unsigned char)*c < 0x20 && *c != '\t') {
			problem(l, "control character 0x%02x at column %zu — remove it",
			        (unsigned char)*c, (size_t)(c - start) + 1);
			return str;
		}
		if (*c == 0x7f) {
			problem(l, "control character 0x7f at column %zu — remove it",
			        (size_t)(c - start) + 1);
			return str;
		}
	}
	size_t n = (size_t)(e - s);
	size_t longest = (size_t)num - 3; /* inih's own rule: \r, \n and NUL */
	if (n > longest) {
		problem(l,
		        "line is %zu bytes, the longest a key line may be is %zu (a comment after "
		        "' ;' does not count) — shorten it",
		        n, longest);
		return str;
	}
	if (*s == '[') {
		if (e[-1] != ']' || n < 2) {
			problem(l, "a section line must be [name] alone — write it as [name] (a "
			           "comment may follow after ' ;')");
			return str;
		}
		const char *a = s + 1, *b = e - 1;
		while (a < b && blank(*a))
			a++;
		while (b > a && blank(b[-1]))
			b--;
		if (a == b || memchr(a, ']', (size_t)(b - a)) || memchr(a, '[', (size_t)(b - a))) {
			problem(l, "'%.*s' is not a section name — write [station], [package], ...",
			        (int)(n > 60 ? 60 : n), s);
			return str;
		}
		if ((size_t)(b - a) >= 50) { /* inih keeps 50 bytes of a section name */
			problem(l,
			        "section name of %zu bytes — the sections are [station], "
			        "[package], [results], [ports], [flash], [timeouts], [store], "
			        "[line]",
			        (size_t)(b - a));
			return str;
		}
		snprintf(str, (size_t)num, "[%.*s]\n", (int)(b - a), a);
		return str;
	}
	const char *eq = memchr(s, '=', n);
	const char *colon = memchr(s, ':', n);
	if (eq == NULL || (colon != NULL && colon < eq)) {
		problem(l,
		        "'%.*s%s' is not a [section], a key = value line or a comment — write "
		        "key = value, or start the line with ; to make it a comment",
		        (int)(n > 60 ? 60 : n), s, n > 60 ? "..." : "");
		return str;
	}
	const char *ke = eq;
	while (ke > s && blank(ke[-1]))
		ke--;
	if (ke == s) {
		problem(l, "no key before '=' — write key = value");
		return str;
	}
	const char *v = eq + 1;
	while (v < e && blank(*v))
		v++;
	snprintf(str, (size_t)num, "%.*s = %.*s\n", (int)(ke - s), s, (int)(e - v), v);
	return str;
}

static int get_bool(const char *v, bool *out)
{
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1") ||
	    !strcasecmp(v, "on"))
		*out = true;
	else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0") ||
	         !strcasecmp(v, "off"))
		*out = false;
	else
		return -1;
	return 0;
}

static int get_u64(const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	if (*v == '-' || *v == '\0')
		return -1;
	errno = 0;
	uint64_t x = strtoull(v, &end, 10);
	if (errno || *end || x < min || x > max)
		return -1;
	*out = x;
	return 0;
}

static int copy(char *dst, size_t len, const char *v)
{
	if (strlen(v) >= len)
		return -1;
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int on_key(void *data, const char *section, const char *name, const char *value);

/* Every key passes here: the section must be known and a key not set twice. */
static int on_line(void *data, const char *section, const char *name, const char *value)
{
	struct load *l = data;

	if (!known_section(section)) {
		/* Told once per section: at its first key. */
		if (section[0] == '\0')
			return bad_key(l, "", name, "key before any [section]",
			               "put it under its section ([station], [flash], ...)");
		for (size_t i = 0; i < l->cfg->source.n_keys; i++) {
			if (!strcmp(l->cfg->source.keys[i].section, section))
				return 1;
		}
		remember(l, section, "");
		return unknown(l, section, NULL);
	}
	unsigned first = edl_station_config_line(l->cfg, section, name);
	bool repeatable = !strcmp(section, "package") && !strcmp(name, "rawprogram");
	if (first > 0 && !repeatable) {
		char fix[96];
		snprintf(fix, sizeof(fix), "remove one of the two (it is also on line %u)", first);
		return bad_key(l, section, name, "set twice", fix);
	}
	unsigned before = l->problems;
	on_key(data, section, name, value);
	if (l->problems == before)
		remember(l, section, name);
	return 1;
}

#define U32(field, min, max)                                                     \
	do {                                                                     \
		uint64_t x_;                                                     \
		if (get_u64(value, (min), (max), &x_) != 0)                      \
			return bad(l, section, name, value,                      \
			           "set a whole number from " #min " to " #max); \
		cfg->field = (uint32_t)x_;                                       \
	} while (0)

/* [factory] (issue 14): the factory database. Its value is never shown as
 * written: a conninfo may hold a password (edl_factory_conninfo_mask). */
static int factory_key(struct load *l, const char *section, const char *name, const char *value)
{
	struct edl_station_config *cfg = l->cfg;

	if (!strcmp(name, "database")) {
		struct edl_error e;
		if (copy(cfg->factory_database, sizeof(cfg->factory_database), value))
			return bad_key(l, section, name, "connection string longer than 1023 bytes",
			               "shorten it");
		if (value[0] != '\0' && edl_factory_conninfo_check(value, &e) != EDL_OK) {
			cfg->factory_database[0] = '\0';
			return bad_key(l, section, name, e.detail,
			               "write postgresql://user@host:port/dbname or host=... "
			               "dbname=... (libpq's connection string)");
		}
	} else if (!strcmp(name, "line")) {
		if (copy(cfg->factory_line, sizeof(cfg->factory_line), value) || !*value)
			return bad(l, section, name, value, "set 1 to 63 characters");
	} else if (!strcmp(name, "batch")) {
		uint64_t x;
		if (get_u64(value, 1, 100000, &x) != 0)
			return bad(l, section, name, value, "set a whole number from 1 to 100000");
		cfg->factory_batch = (uint32_t)x;
	} else if (!strcmp(name, "retry_max_s")) {
		uint64_t x;
		if (get_u64(value, 1, 3600, &x) != 0)
			return bad(l, section, name, value, "set a whole number from 1 to 3600");
		cfg->factory_retry_max_s = (uint32_t)x;
	} else if (!strcmp(name, "timeout_s")) {
		uint64_t x;
		if (get_u64(value, 1, 600, &x) != 0)
			return bad(l, section, name, value, "set a whole number from 1 to 600");
		cfg->factory_timeout_s = (uint32_t)x;
	} else {
		return unknown(l, section, name);
	}
	return 1;
}

static int on_key(void *data, const char *section, const char *name, const char *value)
{
	struct load *l = data;
	struct edl_station_config *cfg = l->cfg;
	bool b;
	uint64_t x;

	if (!strcmp(section, "station")) {
		if (!strcmp(name, "name")) {
			if (copy(cfg->name, sizeof(cfg->name), value) || !*value)
				return bad(l, section, name, value, "set 1 to 63 characters");
		} else if (!strcmp(name, "concurrency")) {
			U32(concurrency, 0, 1024);
		} else if (!strcmp(name, "accept_unmapped")) {
			if (get_bool(value, &b))
				return bad(l, section, name, value, "set yes or no");
			cfg->accept_unmapped = b;
		} else if (!strcmp(name, "count")) {
			U32(count, 0, 100000000);
		} else if (!strcmp(name, "grace_seconds")) {
			U32(grace_s, 0, 3600);
		} else if (!strcmp(name, "record")) { /* issue 16 */
			if (copy(cfg->record_dir, sizeof(cfg->record_dir), value))
				return bad(l, section, name, value, "use a shorter path");
		} else if (!strcmp(name, "record_max_mb")) {
			U32(record_max_mb, 0, 1048576);
		} else {
			return unknown(l, section, name);
		}
	} else if (!strcmp(section, "package")) {
		if (!strcmp(name, "dir")) {
			if (copy(cfg->package, sizeof(cfg->package), value))
				return bad(l, section, name, value, "use a shorter path");
		} else if (!strcmp(name, "rawprogram")) {
			if (cfg->n_rawprogram == EDL_STATION_MAX_LIST ||
			    copy(cfg->rawprogram[cfg->n_rawprogram], 256, value))
				return bad(l, section, name, value,
				           "at most 32 rawprogram files, each path shorter than "
				           "256 bytes");
			cfg->n_rawprogram++;
		} else if (!strcmp(name, "programmer")) {
			if (copy(cfg->programmer, sizeof(cfg->programmer), value))
				return bad(l, section, name, value, "use a shorter path");
		} else if (!strcmp(name, "storage")) {
			if (edl_storage_parse(value, &cfg->storage) != EDL_OK)
				return bad(l, section, name, value, "set emmc, ufs or nand");
			cfg->storage_set = true;
		} else if (!strcmp(name, "cache_dir")) {
			if (copy(cfg->cache_dir, sizeof(cfg->cache_dir), value))
				return bad(l, section, name, value, "use a shorter path");
		} else {
			return unknown(l, section, name);
		}
	} else if (!strcmp(section, "results")) {
		if (!strcmp(name, "database")) {
			if (copy(cfg->db, sizeof(cfg->db), value))
				return bad(l, section, name, value, "use a shorter path");
		} else if (!strcmp(name, "log_dir")) {
			if (copy(cfg->log_dir, sizeof(cfg->log_dir), value))
				return bad(l, section, name, value, "use a shorter path");
		} else {
			return unknown(l, section, name);
		}
	} else if (!strcmp(section, "ports")) {
		/* port path = slot label */
		if (cfg->n_ports == EDL_STATION_MAX_PORTS)
			return bad(l, section, name, value, "at most 128 ports");
		if (!port_path_ok(name))
			return bad_key(l, section, name, "is not a USB port path",
			               "write BUS-PORT[.PORT...] as lsusb -t and `edlstation list` "
			               "show it, e.g. 1-1.3 = A3");
		struct edl_station_port *p = &cfg->ports[cfg->n_ports];
		if (copy(p->port, sizeof(p->port), name) ||
		    copy(p->label, sizeof(p->label), value) || !*value)
			return bad(
			        l, section, name, value,
			        "give a slot label of 1 to 31 characters (port path at most 31)");
		for (size_t i = 0; i < cfg->n_ports; i++) {
			if (!strcmp(cfg->ports[i].label, value)) {
				char fix[96];
				snprintf(fix, sizeof(fix),
				         "give each port its own slot label (port %s has it)",
				         cfg->ports[i].port);
				return bad(l, section, name, value, fix);
			}
		}
		p->slot = (int)cfg->n_ports + 1;
		cfg->n_ports++;
	} else if (!strcmp(section, "flash")) {
		if (!strcmp(name, "verify")) {
			/* yes/no stay as aliases of auto/off (configs written before the
			 * verify modes). */
			if (!strcmp(value, "auto") || !strcasecmp(value, "yes"))
				cfg->verify = EDL_VERIFY_AUTO;
			else if (!strcmp(value, "digest"))
				cfg->verify = EDL_VERIFY_DIGEST;
			else if (!strcmp(value, "readback"))
				cfg->verify = EDL_VERIFY_READBACK;
			else if (!strcmp(value, "off") || !strcasecmp(value, "no"))
				cfg->verify = EDL_VERIFY_OFF;
			else
				return bad(l, section, name, value,
				           "set auto, digest, readback or off");
		} else if (!strcmp(name, "reset_delay_s")) {
			U32(reset_delay_s, 0, 600);
		} else if (!strcmp(name, "flush_max_mb")) {
			U32(flush_max_mb, 0, 4096);
		} else if (!strcmp(name, "retries")) {
			U32(retries, 0, 10);
		} else if (!strcmp(name, "running_programmer")) {
			if (!strcmp(value, "auto"))
				cfg->running = EDL_RUNNING_AUTO;
			else if (!strcmp(value, "reuse"))
				cfg->running = EDL_RUNNING_REUSE;
			else if (!strcmp(value, "reset"))
				cfg->running = EDL_RUNNING_RESET;
			else
				return bad(l, section, name, value, "set auto, reuse or reset");
		} else if (!strcmp(name, "zlp")) {
			if (get_bool(value, &b))
				return bad(l, section, name, value, "set yes or no");
			cfg->zlp = b;
		} else if (!strcmp(name, "inflight")) {
			U32(inflight, 1, 8);
		} else if (!strcmp(name, "max_payload")) {
			if (get_u64(value, 4096, 16u * 1024 * 1024, &x))
				return bad(l, section, name, value, "set 4096 to 16777216 bytes");
			cfg->max_payload = x;
		} else if (!strcmp(name, "usbfs_budget_mb")) {
			if (get_u64(value, 1, 1024, &x))
				return bad(l, section, name, value, "set 1 to 1024 MB");
			cfg->usbfs_budget = x * 1024 * 1024;
		} else {
			return unknown(l, section, name);
		}
	} else if (!strcmp(section, "timeouts")) {
		if (!strcmp(name, "hello_ms"))
			U32(hello_wait_ms, 10, 600000);
		else if (!strcmp(name, "probe_ms"))
			U32(probe_wait_ms, 10, 600000);
		else if (!strcmp(name, "sahara_ms"))
			U32(packet_timeout_ms, 10, 600000);
		else if (!strcmp(name, "command_ms"))
			U32(command_timeout_ms, 10, 3600000);
		else if (!strcmp(name, "erase_ms"))
			U32(erase_timeout_ms, 10, 3600000);
		else if (!strcmp(name, "final_ack_ms"))
			U32(final_ack_timeout_ms, 10, 3600000);
		else if (!strcmp(name, "digest_ms"))
			U32(digest_timeout_ms, 10, 3600000);
		else if (!strcmp(name, "progress_ms"))
			U32(progress_timeout_ms, 100, 3600000);
		else if (!strcmp(name, "reenumerate_ms"))
			U32(reenumerate_ms, 100, 3600000);
		else
			return unknown(l, section, name);
	} else if (!strcmp(section, "store")) {
		if (!strcmp(name, "min_free_mb")) {
			if (get_u64(value, 0, 1u << 30, &x) != 0)
				return bad(l, section, name, value, "set a whole number of MiB");
			cfg->min_free_mb = x;
		} else if (!strcmp(name, "retry_ms")) {
			U32(store_retry_ms, 10, 600000);
		} else {
			return unknown(l, section, name);
		}
	} else if (!strcmp(section, "line")) {
		if (!strcmp(name, "stop_after"))
			U32(stop_after, 0, 100000);
		else if (!strcmp(name, "stop_slots"))
			U32(stop_slots, 0, 1024);
		else if (!strcmp(name, "stop_window_s"))
			U32(stop_window_s, 1, 86400);
		else if (!strcmp(name, "resume")) {
			if (!strcmp(value, "auto"))
				cfg->resume_auto = true;
			else if (!strcmp(value, "operator"))
				cfg->resume_auto = false;
			else
				return bad(l, section, name, value, "set auto or operator");
		} else
			return unknown(l, section, name);
	} else if (!strcmp(section, "factory")) {
		return factory_key(l, section, name, value);
	} else {
		return unknown(l, section, NULL);
	}
	return 1;
}

int edl_station_config_parse(struct edl_station_config *cfg, const char *name, const char *text,
                             size_t len, edl_station_config_problem_fn problem_fn, void *data,
                             struct edl_error *err)
{
	struct load l = {.cfg = cfg,
	                 .path = name,
	                 .err = err,
	                 .problem = problem_fn,
	                 .data = data,
	                 .p = text,
	                 .end = text + len};

	edl_error_clear(err);
	snprintf(cfg->source.path, sizeof(cfg->source.path), "%s", name);
	int rc = ini_parse_stream(reader, &l, on_line, &l);
	if (rc != 0 && l.problems == 0) {
		/* The reader hands inih only lines it can take: this is a bug here. */
		if (rc > 0)
			l.line = (unsigned)rc;
		problem(&l, "not INI syntax — write [section] and key = value lines");
	}
	return l.problems ? EDL_E_CONFIG : EDL_OK;
}

/* Larger than any config: a file this big is not one. */
#define CONFIG_MAX_BYTES (16u * 1024 * 1024)

int edl_station_config_load_all(struct edl_station_config *cfg, const char *path,
                                edl_station_config_problem_fn problem_fn, void *data,
                                struct edl_error *err)
{
	char msg[EDL_ERROR_DETAIL_MAX];
	char *text = NULL;
	size_t len = 0;
	int rc = EDL_E_CONFIG;
	FILE *f = fopen(path, "rb");

	edl_error_clear(err);
	if (f == NULL) {
		snprintf(msg, sizeof(msg),
		         "%s: cannot read the config: %s — give the path of "
		         "an INI file (config/station.ini is an example)",
		         path, strerror(errno));
		goto out;
	}
	text = malloc(CONFIG_MAX_BYTES + 1);
	if (text == NULL) {
		snprintf(msg, sizeof(msg), "%s: out of memory reading the config", path);
		goto out;
	}
	len = fread(text, 1, CONFIG_MAX_BYTES + 1, f);
	if (ferror(f)) {
		snprintf(msg, sizeof(msg), "%s: cannot read the config: %s", path, strerror(errno));
		goto out;
	}
	if (len > CONFIG_MAX_BYTES) {
		snprintf(msg, sizeof(msg), "%s: more than %u MiB — this is not a station config",
		         path, CONFIG_MAX_BYTES >> 20);
		goto out;
	}
	rc = edl_station_config_parse(cfg, path, text, len, problem_fn, data, err);
	free(text);
	fclose(f);
	return rc;
out:
	free(text);
	if (f != NULL)
		fclose(f);
	edl_error_set(err, EDL_E_CONFIG, "%s", msg);
	if (problem_fn != NULL)
		problem_fn(msg, data);
	return rc;
}

int edl_station_config_load(struct edl_station_config *cfg, const char *path, struct edl_error *err)
{
	return edl_station_config_load_all(cfg, path, NULL, NULL, err);
}
