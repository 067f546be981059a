/*
 * What getstorageinfo and getsha256digest answer lives in <log> texts, not in
 * attributes. Storage info comes in the forms real programmers log (Qualcomm
 * devprg storage code, bkerler/edl firehose.py parse_storage, edl-ng logs):
 * newer ones one JSON object `{"storage_info": {"total_blocks": N,
 * "block_size": N, ...}}` (flat: a small careful parser below reads it; nested
 * values are skipped), and "Device Total Logical Blocks: 0x1cb9800" style
 * lines; eMMC programmers also log SECTOR_SIZE_IN_BYTES=512,
 * num_physical_partitions=3 and MFR_ID=. Only those keys are read: the
 * "TOTAL_BLOCKS=" lines an earlier emulator printed exist on no real device.
 * JSON fields win over line fields; keys are case-insensitive.
 *
 * Geometry: total_blocks counts sectors of page_size (eMMC/UFS). On NAND it
 * counts erase blocks, and block_size is either bytes (>= page_size) or pages
 * per block; num_sectors is then pages. A reported num_sectors wins.
 */
#include "firehose/fh_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Fields as found, before the geometry is derived. */
struct si_fields {
	uint64_t total_blocks, block_size, page_size, num_physical, sector_size, mfr_id, serial;
	bool has_total_blocks, has_block_size, has_page_size, has_num_physical, has_sector_size,
	        has_mfr_id, has_serial, block_size_is_bytes;
	char mem_type[16];
	char prod_name[32];
	char fw_version[32];
};

enum si_key {
	K_NONE,
	K_TOTAL_BLOCKS,
	K_BLOCK_SIZE,
	K_BLOCK_SIZE_BYTES, /* the older "Device Block Size in Bytes": the sector size */
	K_PAGE_SIZE,
	K_NUM_PHYSICAL,
	K_SECTOR_SIZE,
	K_MFR_ID,
	K_SERIAL,
	K_MEM_TYPE,
	K_PROD_NAME,
	K_FW_VERSION,
};

struct key_name {
	const char *name;
	enum si_key key;
};

/* Normalised keys (lower case, blanks and dashes as '_') of the JSON object. */
static const struct key_name JSON_KEYS[] = {
        {"total_blocks", K_TOTAL_BLOCKS},
        {"block_size", K_BLOCK_SIZE},
        {"page_size", K_PAGE_SIZE},
        {"num_physical", K_NUM_PHYSICAL},
        {"manufacturer_id", K_MFR_ID},
        {"mfr_id", K_MFR_ID},
        {"serial_num", K_SERIAL},
        {"fw_version", K_FW_VERSION},
        {"mem_type", K_MEM_TYPE},
        {"prod_name", K_PROD_NAME},
        {NULL, K_NONE},
};

/* "Key: value" lines (Qualcomm devprg storage code; "Paritions" is how some
 * builds spell it). */
static const struct key_name COLON_KEYS[] = {
        {"device_total_logical_blocks", K_TOTAL_BLOCKS},
        {"device_block_size_in_bytes", K_BLOCK_SIZE_BYTES},
        {"device_total_physical_partitions", K_NUM_PHYSICAL},
        {"device_total_physical_paritions", K_NUM_PHYSICAL},
        {"device_manufacturer_id", K_MFR_ID},
        {"device_serial_number", K_SERIAL},
        {NULL, K_NONE},
};

/* KEY=value lines of eMMC programmers (bkerler/edl parse_storage). */
static const struct key_name EQ_KEYS[] = {
        {"sector_size_in_bytes", K_SECTOR_SIZE},
        {"num_physical_partitions", K_NUM_PHYSICAL},
        {"mfr_id", K_MFR_ID},
        {NULL, K_NONE},
};

static enum si_key lookup_key(const struct key_name *keys, const char *s, size_t n)
{
	char norm[48];
	size_t j = 0;

	while (n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	if (n == 0 || n >= sizeof(norm))
		return K_NONE;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		norm[j++] = (c == ' ' || c == '-' || c == '\t') ? '_' : (char)tolower(c);
	}
	norm[j] = '\0';
	for (size_t i = 0; keys[i].name != NULL; i++)
		if (strcmp(norm, keys[i].name) == 0)
			return keys[i].key;
	return K_NONE;
}

static void copy_text(char *dst, size_t dst_len, const char *s, size_t n)
{
	size_t j = 0;
	for (size_t i = 0; i < n && j + 1 < dst_len; i++) {
		unsigned char c = (unsigned char)s[i];
		dst[j++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	dst[j] = '\0';
}

/* Records one field. Keeps what is already set unless override (JSON wins). */
static void set_field(struct si_fields *f, enum si_key key, const char *val, size_t n,
                      bool override)
{
	char num[32];
	uint64_t v;

	if (key == K_MEM_TYPE || key == K_PROD_NAME || key == K_FW_VERSION) {
		char *dst = key == K_MEM_TYPE    ? f->mem_type
		            : key == K_PROD_NAME ? f->prod_name
		                                 : f->fw_version;
		size_t len = key == K_MEM_TYPE    ? sizeof(f->mem_type)
		             : key == K_PROD_NAME ? sizeof(f->prod_name)
		                                  : sizeof(f->fw_version);
		if (override || dst[0] == '\0')
			copy_text(dst, len, val, n);
		return;
	}
	if (key == K_NONE || n == 0 || n >= sizeof(num))
		return;
	memcpy(num, val, n);
	num[n] = '\0';
	if (!edl_fh_parse_u64(
	            num, 0, key == K_TOTAL_BLOCKS || key == K_SERIAL ? UINT64_MAX : UINT32_MAX, &v))
		return;
	switch (key) {
#define SET(field)                         \
	if (override || !f->has_##field) { \
		f->field = v;              \
		f->has_##field = true;     \
	}                                  \
	break;
	case K_TOTAL_BLOCKS:
		SET(total_blocks)
	case K_BLOCK_SIZE:
		SET(block_size)
	case K_BLOCK_SIZE_BYTES:
		if (override || !f->has_block_size) {
			f->block_size = v;
			f->has_block_size = true;
			f->block_size_is_bytes = true;
		}
		break;
	case K_PAGE_SIZE:
		SET(page_size)
	case K_NUM_PHYSICAL:
		SET(num_physical)
	case K_SECTOR_SIZE:
		SET(sector_size)
	case K_MFR_ID:
		SET(mfr_id)
	case K_SERIAL:
		SET(serial)
#undef SET
	default:
		break;
	}
}

/* ---- the JSON form ---- */

struct json {
	const char *p, *end;
};

static void json_ws(struct json *j)
{
	while (j->p < j->end && isspace((unsigned char)*j->p))
		j->p++;
}

/* A string into buf (escapes decoded; \u to '?'); false if malformed. */
static bool json_string(struct json *j, char *buf, size_t buf_len, size_t *out_len)
{
	size_t n = 0;

	if (j->p >= j->end || *j->p != '"')
		return false;
	j->p++;
	while (j->p < j->end && *j->p != '"') {
		char c = *j->p++;
		if (c == '\\') {
			if (j->p >= j->end)
				return false;
			char e = *j->p++;
			switch (e) {
			case 'n':
			case 'r':
			case 't':
			case 'b':
			case 'f':
				c = ' ';
				break;
			case 'u':
				for (int k = 0; k < 4; k++, j->p++)
					if (j->p >= j->end || !isxdigit((unsigned char)*j->p))
						return false;
				c = '?';
				break;
			default:
				c = e;
				break;
			}
		}
		if (n + 1 < buf_len)
			buf[n++] = c;
	}
	if (j->p >= j->end)
		return false;
	j->p++;
	if (buf_len > 0)
		buf[n] = '\0';
	*out_len = n;
	return true;
}

/* Skips a nested object or array, strings included; false if malformed. */
static bool json_skip_nested(struct json *j)
{
	int depth = 0;
	do {
		if (j->p >= j->end)
			return false;
		char c = *j->p;
		if (c == '"') {
			size_t n;
			if (!json_string(j, NULL, 0, &n))
				return false;
			continue;
		}
		if (c == '{' || c == '[') {
			if (++depth > 32)
				return false;
		} else if (c == '}' || c == ']') {
			depth--;
		}
		j->p++;
	} while (depth > 0);
	return true;
}

static bool json_object(struct json *j, struct si_fields *f)
{
	json_ws(j);
	if (j->p >= j->end || *j->p != '{')
		return false;
	j->p++;
	json_ws(j);
	if (j->p < j->end && *j->p == '}') {
		j->p++;
		return true;
	}
	for (;;) {
		char key[48], val[64];
		size_t klen, vlen;

		json_ws(j);
		if (!json_string(j, key, sizeof(key), &klen))
			return false;
		json_ws(j);
		if (j->p >= j->end || *j->p != ':')
			return false;
		j->p++;
		json_ws(j);
		if (j->p >= j->end)
			return false;
		enum si_key k = lookup_key(JSON_KEYS, key, klen);
		if (*j->p == '"') {
			if (!json_string(j, val, sizeof(val), &vlen))
				return false;
			set_field(f, k, val, vlen, true);
		} else if (*j->p == '{' || *j->p == '[') {
			if (!json_skip_nested(j))
				return false;
		} else {
			const char *s = j->p;
			while (j->p < j->end && (isalnum((unsigned char)*j->p) || *j->p == '-' ||
			                         *j->p == '+' || *j->p == '.'))
				j->p++;
			if (j->p == s)
				return false;
			set_field(f, k, s, (size_t)(j->p - s), true);
		}
		json_ws(j);
		if (j->p >= j->end)
			return false;
		if (*j->p == '}') {
			j->p++;
			return true;
		}
		if (*j->p != ',')
			return false;
		j->p++;
	}
}

/* Joins the logs from the first one naming "storage_info" (the object may be
 * split over several logs) and reads the object after the key. */
static bool parse_json(struct si_fields *f, const char *const *logs, size_t n)
{
	struct edl_buf joined;
	bool ok = false;
	size_t first = n;

	for (size_t i = 0; i < n; i++) {
		if (strstr(logs[i], "\"storage_info\"") != NULL) {
			first = i;
			break;
		}
	}
	if (first == n)
		return false;
	edl_buf_init(&joined);
	for (size_t i = first; i < n && edl_buf_size(&joined) < 65536; i++)
		if (edl_buf_append(&joined, logs[i], strlen(logs[i])) != EDL_OK)
			goto out;
	const char *text = (const char *)edl_buf_head(&joined);
	size_t len = edl_buf_size(&joined);
	const char *key = memmem(text, len, "\"storage_info\"", 14);
	if (key == NULL)
		goto out;
	struct json j = {key + 14, text + len};
	json_ws(&j);
	if (j.p >= j.end || *j.p != ':')
		goto out;
	j.p++;
	ok = json_object(&j, f);
out:
	edl_buf_free(&joined);
	return ok;
}

/* ---- the key=value and "key: value" lines ---- */

static void parse_line(struct si_fields *f, const char *line)
{
	size_t len = strlen(line);
	const char *eq = memchr(line, '=', len);

	if (eq != NULL) {
		/* Possibly several "KEY=value" tokens on one line. */
		const char *p = line;
		while (p < line + len) {
			while (p < line + len && (isspace((unsigned char)*p) || *p == ','))
				p++;
			const char *tok = p;
			while (p < line + len && !isspace((unsigned char)*p) && *p != ',')
				p++;
			const char *e = memchr(tok, '=', (size_t)(p - tok));
			if (e == NULL)
				continue;
			const char *k = tok;
			/* "INFO:TOTAL_BLOCKS=1": the key starts after the last ':'. */
			for (const char *c = tok; c < e; c++)
				if (*c == ':')
					k = c + 1;
			set_field(f, lookup_key(EQ_KEYS, k, (size_t)(e - k)), e + 1,
			          (size_t)(p - e - 1), false);
		}
		return;
	}
	/* "INFO: Device Total Logical Blocks: 0x1d5a000": the key sits between the
	 * last two colons. */
	const char *last = NULL, *prev = NULL;
	for (const char *c = line; *c != '\0'; c++) {
		if (*c == ':') {
			prev = last;
			last = c;
		}
	}
	if (last == NULL)
		return;
	const char *k = prev != NULL ? prev + 1 : line;
	const char *v = last + 1;
	while (isspace((unsigned char)*v))
		v++;
	size_t vlen = strlen(v);
	while (vlen > 0 && isspace((unsigned char)v[vlen - 1]))
		vlen--;
	set_field(f, lookup_key(COLON_KEYS, k, (size_t)(last - k)), v, vlen, false);
}

int edl_fh_storage_info_parse(struct edl_fh_storage_info *out, const char *const *logs, size_t n)
{
	struct si_fields f;

	memset(&f, 0, sizeof(f));
	memset(out, 0, sizeof(*out));
	parse_json(&f, logs, n);
	for (size_t i = 0; i < n; i++)
		parse_line(&f, logs[i]);

	out->total_blocks = f.total_blocks;
	out->block_size = (uint32_t)f.block_size;
	out->page_size = (uint32_t)f.page_size;
	out->num_physical = (uint32_t)f.num_physical;
	snprintf(out->mem_type, sizeof(out->mem_type), "%s", f.mem_type);
	snprintf(out->prod_name, sizeof(out->prod_name), "%s", f.prod_name);
	snprintf(out->fw_version, sizeof(out->fw_version), "%s", f.fw_version);
	out->manufacturer_id = (uint32_t)f.mfr_id;
	out->serial_num = f.serial;
	if (f.has_sector_size)
		out->sector_size = (uint32_t)f.sector_size;
	else if (f.has_page_size)
		out->sector_size = (uint32_t)f.page_size;
	else if (f.block_size_is_bytes)
		out->sector_size = (uint32_t)f.block_size;

	if (strncasecmp(f.mem_type, "nand", 4) == 0 && f.page_size > 0 && f.block_size > 0) {
		uint64_t per_block = f.block_size >= f.page_size && f.block_size % f.page_size == 0
		                             ? f.block_size / f.page_size
		                             : f.block_size;
		if (f.total_blocks <= UINT64_MAX / per_block)
			out->num_sectors = f.total_blocks * per_block;
	} else {
		out->num_sectors = f.total_blocks;
	}
	out->valid = out->num_sectors > 0;
	return out->valid ? EDL_OK : EDL_E_FH_STORAGE_INFO;
}

/* ---- getsha256digest ---- */

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (unsigned char)tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The first run of exactly 64 hex digits in s. */
static bool find_digest(const char *s, uint8_t out[32])
{
	const char *p = s;
	while (*p != '\0') {
		if (hexval((unsigned char)*p) < 0) {
			p++;
			continue;
		}
		const char *run = p;
		while (hexval((unsigned char)*p) >= 0)
			p++;
		if (p - run == 64) {
			for (int i = 0; i < 32; i++)
				out[i] = (uint8_t)(hexval((unsigned char)run[2 * i]) << 4 |
				                   hexval((unsigned char)run[2 * i + 1]));
			return true;
		}
	}
	return false;
}

static bool mentions_digest(const char *s)
{
	return strcasestr(s, "digest") != NULL || strcasestr(s, "sha256") != NULL ||
	       strcasestr(s, "sha-256") != NULL;
}

/* The run of hex digits that ends s (blanks after it allowed); its length. */
static size_t trailing_hex(const char *s, const char **run)
{
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	size_t end = n;
	while (n > 0 && hexval((unsigned char)s[n - 1]) >= 0)
		n--;
	*run = s + n;
	return end - n;
}

/* s when it is nothing but hex digits (level prefix and blanks aside), else
 * NULL; *len is the number of digits. */
static const char *only_hex(const char *s, size_t *len)
{
	const char *p = s;
	while (isspace((unsigned char)*p))
		p++;
	const char *w = p;
	while (*p >= 'A' && *p <= 'Z')
		p++;
	/* "INFO:" holds an F: skip the level word before looking at digits. */
	if (p > w && *p == ':')
		w = p + 1;
	while (isspace((unsigned char)*w))
		w++;
	p = w;
	while (hexval((unsigned char)*p) >= 0)
		p++;
	*len = (size_t)(p - w);
	while (isspace((unsigned char)*p))
		p++;
	return *p == '\0' && *len > 0 ? w : NULL;
}

/* A digest whose text was cut between two logs: the first ends with fewer
 * than 64 hex digits, the next is the rest of them. */
static bool joined_digest(const char *a, const char *b, uint8_t out[32])
{
	const char *ra, *rb;
	size_t na = trailing_hex(a, &ra), nb;
	char hex[65];

	if (na == 0 || na >= 64)
		return false;
	rb = only_hex(b, &nb);
	if (rb == NULL || na + nb != 64)
		return false;
	memcpy(hex, ra, na);
	memcpy(hex + na, rb, nb);
	hex[64] = '\0';
	return find_digest(hex, out);
}

int edl_fh_digest_parse(uint8_t out[32], const char *const *logs, size_t n)
{
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n; i++)
			if ((pass == 1 || mentions_digest(logs[i])) && find_digest(logs[i], out))
				return EDL_OK;
	for (size_t i = 0; i + 1 < n; i++)
		if (mentions_digest(logs[i]) && joined_digest(logs[i], logs[i + 1], out))
			return EDL_OK;
	return EDL_E_FH_DIGEST;
}
