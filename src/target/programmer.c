/*
 * The emulated Firehose programmer. Each host->device transfer is one XML
 * command document, parsed with hardened libxml2 (no network, no DTDs, no
 * entities, at most MAX_XML bytes); a transfer that is not a document gets a
 * "XML not formed correctly" log and a NAK, which is how a real programmer
 * answers a stray Sahara packet or junk. Answers are whole documents, one per
 * device->host transfer: "Calling handler for X", the command's <log>
 * documents, then the <response> (late_logs moves the last log after it). A
 * programmer started by the ROM first prints its banner; a command its banner
 * does not list is an unknown tag, logged and ACKed as processNextXMLTag does.
 *
 * program/read switch to raw mode after ACK rawmode="true": program takes
 * exactly num_partition_sectors * sector_size bytes over any number of
 * transfers of any size (USB splits a large one over the programmer's
 * payload-sized reads), read streams the sectors back in payload-sized chunks
 * from a small ring of buffers. Ranges may be expressions of NUM_DISK_SECTORS,
 * evaluated with the LUN's size. Under firehose_busy the programmer starts
 * inside such a raw phase.
 *
 * Real programmers differ (struct edl_prog_quirks, chosen by a device profile);
 * each behaviour names its public source where it is implemented. The texts are
 * those of Qualcomm's deviceprogrammer_firehose.c (MSM8909-era, public in
 * ele7enxxh/msm8909w-law-2-0_amss_standard_oem) and of device logs quoted in
 * qfirehose, bkerler/edl and EDLTests issues (../shared/REAL-DEVICES.md §2).
 *
 * Faults (struct edl_target_faults) act here: an injected NAK of the Nth command
 * of a kind, a smaller payload, a flipped bit in the first program, an unplug
 * after N raw bytes, and delayed final ACKs (a fixed delay, and the storage
 * write-rate model: the final ACK of a program comes no earlier than
 * bytes/rate after the program command).
 */
#include "target/programmer.h"
#include "edlstation/cal_seed.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "edlstation/buf.h"

#define MAX_XML 4096          /* MaxXMLSizeInBytes: larger transfers are not commands */
#define LOG_TEXT_MAX 1024     /* longest log text */
#define HASH_CHUNK (1u << 20) /* bytes read at once for digests and CRCs */
#define CRC_MAX (64u << 20)   /* longest CRC32(start,len) range */
#define POWER_DELAY_MAX 3600  /* DelayInSeconds */
#define XML_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)
#define DIGEST_LOG_EVERY 16384  /* handleGetDigest: "N sectors more to hash" period */
#define BUSY_DEFAULT (8u << 20) /* firehose_busy: raw bytes still due by default */
/* The build stamp of the emulated programmer, in the shapes the SDX55 banner
 * ("Binary build date: Apr 19 2020 @ 17:49:11") and configure ACK (DateTime="Apr
 * 19 2020 - 17:49:11") use (qfirehose logs, REAL-DEVICES.md §2). */
#define BUILD_DATE "Apr 19 2020 @ 17:49:11"
#define BUILD_DATETIME "Apr 19 2020 - 17:49:11"

enum cmd_id {
	CMD_CONFIGURE,
	CMD_PROGRAM,
	CMD_ERASE,
	CMD_PATCH,
	CMD_READ,
	CMD_GETSTORAGEINFO,
	CMD_GETSHA256DIGEST,
	CMD_SETBOOTABLE,
	CMD_NOP,
	CMD_POWER,
	CMD_COUNT,
};

enum out_kind {
	OUT_DOC,   /* a finished transfer */
	OUT_READ,  /* raw data of a <read>, produced when the host pulls it */
	OUT_POWER, /* the ACK of <power>: handing it out starts the power change */
};

struct out_item {
	struct out_item *next;
	enum out_kind kind;
	uint8_t *data;
	size_t len;
	uint64_t ready_at; /* 0: now; else not before this time */
	bool is_resp;      /* a <response> that ends a command (late_logs reorders) */
	/* OUT_READ */
	struct edl_target_range range;
	uint64_t sent; /* sectors handed out */
	int read_rc;
	char read_error[EDL_ERROR_DETAIL_MAX];
	/* OUT_POWER */
	enum edl_target_prog_end power;
	uint64_t delay_ms;
};

struct edl_target_prog {
	struct edl_target_storage *st;
	struct edl_target_faults faults;
	struct edl_prog_quirks q;
	uint32_t serial;
	bool zlp; /* ZLPs after packet-sized answers; configure ZlpAwareHost="0" clears it */
	/* memory_name_lenient: configure named another storage and was ACKed; every
	 * storage access fails with the texts of that storage's driver. */
	bool mem_wrong;
	enum edl_storage_kind mem_asked;
	uint32_t ss;
	uint64_t max_payload; /* the most it takes */
	uint64_t payload;     /* negotiated by configure */

	struct out_item *head, *tail; /* queued answers */
	struct out_item *retired;     /* handed out; freed at the next feed */
	uint8_t *ring[EDL_TARGET_READ_RING];
	size_t ring_cap[EDL_TARGET_READ_RING];
	unsigned ring_next;

	/* program's raw data phase */
	bool raw;
	struct edl_target_range prog;
	uint64_t prog_bytes, prog_received, prog_index, prog_start;
	uint8_t *sector; /* a partial sector */
	size_t fill;
	bool corrupt_now, corrupt_done;
	int prog_rc;
	char prog_error[EDL_ERROR_DETAIL_MAX];

	unsigned seen[CMD_COUNT];
	uint64_t raw_bytes;
	int bootable;
	enum edl_target_prog_end end;
	bool power_armed;
	enum edl_target_prog_end power_end;
	uint64_t power_at;
	bool nomem;
};

struct cmd {
	xmlNodePtr node;
	const char *name;
	xmlChar *owned[32]; /* attribute values fetched, freed after the command */
	size_t n_owned;
};

/* ---- output queue ---- */

static void free_item(struct out_item *it)
{
	free(it->data);
	free(it);
}

static void free_list(struct out_item *it)
{
	while (it != NULL) {
		struct out_item *next = it->next;
		free_item(it);
		it = next;
	}
}

static struct out_item *push(struct edl_target_prog *p, enum out_kind kind, uint8_t *data,
                             size_t len, uint64_t ready_at)
{
	struct out_item *it = calloc(1, sizeof(*it));
	if (it == NULL) {
		free(data);
		p->nomem = true;
		return NULL;
	}
	it->kind = kind;
	it->data = data;
	it->len = len;
	it->ready_at = ready_at;
	if (p->tail != NULL)
		p->tail->next = it;
	else
		p->head = it;
	p->tail = it;
	return it;
}

/* Appends text with XML attribute escaping. Control characters become spaces and
 * non-ASCII bytes '?': a log may quote a cut-off piece of the host's input, and
 * the answer must stay well-formed UTF-8 whatever the input was. */
static int escape_into(struct edl_buf *b, const char *s)
{
	int rc = EDL_OK;

	for (; *s != '\0' && rc == EDL_OK; s++) {
		unsigned char ch = (unsigned char)*s;
		switch (ch) {
		case '&':
			rc = edl_buf_append(b, "&amp;", 5);
			break;
		case '<':
			rc = edl_buf_append(b, "&lt;", 4);
			break;
		case '>':
			rc = edl_buf_append(b, "&gt;", 4);
			break;
		case '"':
			rc = edl_buf_append(b, "&quot;", 6);
			break;
		case '\'':
			rc = edl_buf_append(b, "&apos;", 6);
			break;
		default:
			if (ch < 0x20 || ch == 0x7f)
				ch = ' ';
			else if (ch > 0x7f)
				ch = '?';
			rc = edl_buf_append(b, &ch, 1);
		}
	}
	return rc;
}

static const char doc_head[] = "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n";
static const char doc_tail[] = "\n</data>";

/* Queues the document built in b (as `kind`); rc is how building it went. */
static struct out_item *push_buf(struct edl_target_prog *p, struct edl_buf *b, int rc,
                                 enum out_kind kind, uint64_t ready_at)
{
	if (rc != EDL_OK) {
		edl_buf_free(b);
		p->nomem = true;
		return NULL;
	}
	size_t n = edl_buf_size(b);
	uint8_t *data = b->data;
	b->data = NULL;
	edl_buf_free(b);
	return push(p, kind, data, n, ready_at);
}

static void qlog(struct edl_target_prog *p, uint64_t ready_at, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void qlog(struct edl_target_prog *p, uint64_t ready_at, const char *fmt, ...)
{
	char text[LOG_TEXT_MAX];
	struct edl_buf b;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	edl_buf_init(&b);
	rc = edl_buf_append(&b, doc_head, sizeof(doc_head) - 1);
	if (rc == EDL_OK)
		rc = edl_buf_append(&b, "<log value=\"", 12);
	if (rc == EDL_OK)
		rc = escape_into(&b, text);
	if (rc == EDL_OK)
		rc = edl_buf_append(&b, "\" />", 4);
	if (rc == EDL_OK)
		rc = edl_buf_append(&b, doc_tail, sizeof(doc_tail) - 1);
	push_buf(p, &b, rc, OUT_DOC, ready_at);
}

/* Queues <response value="ACK|NAK" rawmode="..." extra/>; extra holds only
 * attributes built from numbers and fixed names (nothing to escape). */
static struct out_item *qresp(struct edl_target_prog *p, uint64_t ready_at, bool ack, bool rawmode,
                              enum out_kind kind, const char *extra)
{
	struct edl_buf b;

	edl_buf_init(&b);
	int rc = edl_buf_printf(&b, "%s<response value=\"%s\" rawmode=\"%s\"%s%s />%s", doc_head,
	                        ack ? "ACK" : "NAK", rawmode ? "true" : "false",
	                        extra[0] ? " " : "", extra, doc_tail);
	struct out_item *it = push_buf(p, &b, rc, kind, ready_at);
	if (it != NULL)
		it->is_resp = !rawmode;
	return it;
}

/* A <response> without rawmode: configure's answer carries only its own
 * attributes (SDX55 ACK, REAL-DEVICES.md §2; handleConfigure's
 * sendResponseFields). */
static void qresp_plain(struct edl_target_prog *p, bool ack, const char *extra)
{
	struct edl_buf b;

	edl_buf_init(&b);
	int rc = edl_buf_printf(&b, "%s<response value=\"%s\" %s />%s", doc_head,
	                        ack ? "ACK" : "NAK", extra, doc_tail);
	struct out_item *it = push_buf(p, &b, rc, OUT_DOC, 0);
	if (it != NULL)
		it->is_resp = true;
}

static void ack(struct edl_target_prog *p)
{
	qresp(p, 0, true, false, OUT_DOC, "");
}

/* An "ERROR: ..." log and a NAK. */
static void fail(struct edl_target_prog *p, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void fail(struct edl_target_prog *p, const char *fmt, ...)
{
	char text[LOG_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	qlog(p, 0, "ERROR: %s", text);
	qresp(p, 0, false, false, OUT_DOC, "");
}

static void release_ring(struct edl_target_prog *p)
{
	for (unsigned i = 0; i < EDL_TARGET_READ_RING; i++) {
		free(p->ring[i]);
		p->ring[i] = NULL;
		p->ring_cap[i] = 0;
	}
}

/* The unplug fault: nothing more comes out, ever. */
static void go_gone(struct edl_target_prog *p)
{
	free_list(p->head);
	p->head = p->tail = NULL;
	p->raw = false;
	p->power_armed = false;
	p->end = EDL_TARGET_PROG_GONE;
}

/* ---- numbers and expressions ---- */

static const char *skip_space(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* Parses a decimal number (or 0x hex) at s, with an optional trailing '.' (the
 * rawprogram files' mark for "decimal"). *end points after it. */
static bool parse_number_at(const char *s, uint64_t *out, const char **end)
{
	char *e;
	int base = 10;

	s = skip_space(s);
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		if (!isxdigit((unsigned char)s[2]))
			return false;
	} else if (!isdigit((unsigned char)s[0])) {
		return false;
	}
	errno = 0;
	unsigned long long v = strtoull(s, &e, base);
	if (errno == ERANGE || e == s)
		return false;
	if (*e == '.' && base == 10)
		e++;
	*out = v;
	*end = skip_space(e);
	return true;
}

static bool parse_number(const char *s, uint64_t *out)
{
	const char *end;
	return parse_number_at(s, out, &end) && *end == '\0';
}

/* N, N., NUM_DISK_SECTORS, NUM_DISK_SECTORS-N[.], NUM_DISK_SECTORS+N[.]. */
static bool eval_sectors(const char *s, uint64_t disk_sectors, uint64_t *out)
{
	static const char key[] = "NUM_DISK_SECTORS";
	uint64_t n;

	s = skip_space(s);
	if (strncmp(s, key, sizeof(key) - 1) != 0)
		return parse_number(s, out);
	s = skip_space(s + sizeof(key) - 1);
	if (*s == '\0') {
		*out = disk_sectors;
		return true;
	}
	if ((*s != '-' && *s != '+') || !parse_number(s + 1, &n))
		return false;
	if (*s == '-') {
		if (n > disk_sectors)
			return false;
		*out = disk_sectors - n;
	} else {
		if (n > UINT64_MAX - disk_sectors)
			return false;
		*out = disk_sectors + n;
	}
	return true;
}

/* ---- commands ---- */

static const char *attr(struct cmd *c, const char *name)
{
	xmlChar *v = xmlGetProp(c->node, (const xmlChar *)name);
	if (v == NULL)
		return NULL;
	assert(c->n_owned < sizeof(c->owned) / sizeof(c->owned[0]));
	c->owned[c->n_owned++] = v;
	return (const char *)v;
}

/* A numeric attribute; NAKs and returns false when missing (and required) or malformed. */
static bool get_uint(struct edl_target_prog *p, struct cmd *c, const char *name, bool required,
                     uint64_t dflt, uint64_t *out)
{
	const char *v = attr(c, name);

	if (v == NULL) {
		if (!required) {
			*out = dflt;
			return true;
		}
		fail(p, "%s: attribute '%s' is missing", c->name, name);
		return false;
	}
	if (!parse_number(v, out)) {
		fail(p, "%s: attribute %s='%s' is not a number", c->name, name, v);
		return false;
	}
	return true;
}

static bool get_lun(struct edl_target_prog *p, struct cmd *c, uint32_t *lun)
{
	uint64_t v;
	uint32_t luns = edl_target_storage_luns(p->st);

	if (!get_uint(p, c, "physical_partition_number", false, 0, &v))
		return false;
	if (v >= luns) {
		fail(p,
		     "%s: physical_partition_number %" PRIu64 " does not exist (the %s has %" PRIu32
		     " LUN%s)",
		     c->name, v, edl_storage_name(edl_target_storage_kind(p->st)), luns,
		     luns == 1 ? "" : "s");
		return false;
	}
	*lun = (uint32_t)v;
	return true;
}

static bool check_sector_size(struct edl_target_prog *p, struct cmd *c)
{
	uint64_t ss;

	if (!get_uint(p, c, "SECTOR_SIZE_IN_BYTES", true, 0, &ss))
		return false;
	if (ss != p->ss) {
		fail(p,
		     "%s: SECTOR_SIZE_IN_BYTES %" PRIu64
		     " does not match the %s sector size %" PRIu32,
		     c->name, ss, edl_storage_name(edl_target_storage_kind(p->st)), p->ss);
		return false;
	}
	return true;
}

/*
 * The addressing attributes of program/erase/read/getsha256digest. `check`
 * asks the storage whether the range fits (with NAND's bad-block mapping).
 */
static bool get_range(struct edl_target_prog *p, struct cmd *c, bool check,
                      struct edl_target_range *r)
{
	bool nand = edl_target_storage_kind(p->st) == EDL_STORAGE_NAND;
	struct edl_error err;
	const char *v;
	uint64_t ppb;

	if (!check_sector_size(p, c) || !get_lun(p, c, &r->lun) ||
	    !get_uint(p, c, "num_partition_sectors", true, 0, &r->count))
		return false;
	uint64_t disk = edl_target_storage_sectors(p->st, r->lun);
	v = attr(c, "start_sector");
	if (v == NULL) {
		fail(p, "%s: attribute 'start_sector' is missing", c->name);
		return false;
	}
	if (!eval_sectors(v, disk, &r->start)) {
		fail(p,
		     "%s: start_sector='%s' is not a number or NUM_DISK_SECTORS-N. (LUN %" PRIu32
		     " has %" PRIu64 " sectors)",
		     c->name, v, r->lun, disk);
		return false;
	}
	r->last = UINT64_MAX;
	if (nand) {
		if (!get_uint(p, c, "PAGES_PER_BLOCK", false,
		              edl_target_storage_pages_per_block(p->st), &ppb))
			return false;
		if (ppb != edl_target_storage_pages_per_block(p->st)) {
			fail(p,
			     "%s: attribute 'PAGES_PER_BLOCK'=%" PRIu64
			     " must be equal to disk pages per block %" PRIu32,
			     c->name, ppb, edl_target_storage_pages_per_block(p->st));
			return false;
		}
		v = attr(c, "last_sector");
		if (v != NULL && v[0] != '\0' && !eval_sectors(v, disk, &r->last)) {
			fail(p, "%s: last_sector='%s' is not a number or NUM_DISK_SECTORS-N.",
			     c->name, v);
			return false;
		}
	}
	if (check && edl_target_storage_check(p->st, r, &err) != EDL_OK) {
		fail(p, "%s: %s", c->name, err.detail);
		return false;
	}
	return true;
}

/* How the programmer names a storage in configure answers and logs: "Storage
 * type set to value nand" (SDX55), "... value UFS" / "eMMC" (EDLTests, edl). */
static const char *mem_type(enum edl_storage_kind kind)
{
	switch (kind) {
	case EDL_STORAGE_EMMC:
		return "eMMC";
	case EDL_STORAGE_UFS:
		return "UFS";
	case EDL_STORAGE_NAND:
		return "nand";
	}
	return "?";
}

/*
 * The storage driver's complaint when configure named another storage and a
 * memory_name_lenient programmer ACKed it: bkerler/edl retries configure with
 * the next memory type on exactly these texts (REAL-DEVICES.md §5 item 3).
 * True (and the NAK queued) when the access must fail.
 */
static bool storage_refused(struct edl_target_prog *p)
{
	if (!p->mem_wrong)
		return false;
	switch (p->mem_asked) {
	case EDL_STORAGE_EMMC:
		qlog(p, 0, "ERROR: Failed to open the SDCC Device slot 0 partition 0");
		break;
	case EDL_STORAGE_UFS:
		qlog(p, 0,
		     "ERROR: Failed to initialize (open whole lun) UFS Device slot 0 partition 0");
		break;
	case EDL_STORAGE_NAND:
		break;
	}
	qlog(p, 0, "ERROR: Failed to set the IO options");
	qresp(p, 0, false, false, OUT_DOC, "");
	return true;
}

/*
 * configure. The answer is the SDX55's (REAL-DEVICES.md §2): logs "Storage type
 * set to value nand", then MemoryName, MinVersionSupported, Version, the payload
 * sizes, MaxXMLSizeInBytes and DateTime; TargetName only where a programmer
 * names one (9x55, old handleConfigure). More than the maximum: NAK with the
 * SDM855 warning and the programmer's own size (EDLTests log), or with
 * payload_ack_own_size an ACK with it (SDX55). ZlpAwareHost="0" turns the
 * device's ZLPs off (handleConfigure: qusb_al_bulk_set_zlp_mode(FALSE)).
 */
static void cmd_configure(struct edl_target_prog *p, struct cmd *c, uint64_t now)
{
	enum edl_storage_kind kind = edl_target_storage_kind(p->st);
	enum edl_storage_kind asked = kind;
	const char *mem = attr(c, "MemoryName");
	const char *zlp = attr(c, "ZlpAwareHost");
	const char *name = mem_type(kind);
	uint64_t want;
	char extra[512], target[80] = "";
	bool ok = true;

	(void)now;
	if (mem != NULL && (edl_storage_parse(mem, &asked) != EDL_OK || asked != kind)) {
		if (!p->q.memory_name_lenient) {
			/* A text edl recognises (REAL-DEVICES.md §5 item 3). */
			fail(p, "Not support configure MemoryName %.32s", mem);
			return;
		}
		/* Old handleConfigure ignores MemoryName and always answers "eMMC"; the
		 * storage driver fails later (storage_refused). */
		p->mem_wrong = edl_storage_parse(mem, &asked) == EDL_OK;
		p->mem_asked = asked;
		name = "eMMC";
	} else {
		p->mem_wrong = false;
	}
	if (!get_uint(p, c, "MaxPayloadSizeToTargetInBytes", false, p->max_payload, &want))
		return;
	if (want == 0) {
		/* handleConfigure: "Host's payload to target size is zero" + NAK */
		fail(p, "Host's payload to target size is zero");
		return;
	}
	p->zlp = !(zlp != NULL && zlp[0] == '0');
	qlog(p, 0, "INFO: Storage type set to value %s", name);
	if (want > p->max_payload) {
		if (!p->q.payload_ack_own_size) {
			qlog(p, 0,
			     "WARN: NAK: MaxPayloadSizeToTargetInBytes sent by host %" PRIu64
			     " larger than supported %" PRIu64,
			     want, p->max_payload);
			ok = false;
		}
		want = p->max_payload;
	}
	if (ok)
		p->payload = want;
	if (p->q.target_name != NULL)
		snprintf(target, sizeof(target), " TargetName=\"%.64s\"", p->q.target_name);
	snprintf(extra, sizeof(extra),
	         "MemoryName=\"%s\" MinVersionSupported=\"1\" Version=\"1\" "
	         "MaxPayloadSizeToTargetInBytes=\"%" PRIu64
	         "\" MaxPayloadSizeToTargetInBytesSupported=\"%" PRIu64
	         "\" MaxXMLSizeInBytes=\"%d\" DateTime=\"%s\"%s",
	         name, want, p->max_payload, MAX_XML, BUILD_DATETIME, target);
	qresp_plain(p, ok, extra);
}

static void cmd_program(struct edl_target_prog *p, struct cmd *c, uint64_t now)
{
	struct edl_target_range r;
	struct edl_error err;

	if (storage_refused(p) || !get_range(p, c, true, &r))
		return;
	if (edl_target_storage_check_erased(p->st, &r, &err) != EDL_OK) {
		fail(p, "program: Failed to program NAND: %s", err.detail);
		return;
	}
	p->raw = true;
	p->prog = r;
	p->prog_bytes = r.count * p->ss;
	p->prog_received = 0;
	p->prog_index = 0;
	p->prog_start = now;
	p->fill = 0;
	p->prog_rc = EDL_OK;
	p->prog_error[0] = '\0';
	if (p->faults.corrupt && !p->corrupt_done) {
		p->corrupt_now = true;
		p->corrupt_done = true;
	}
	qresp(p, 0, true, true, OUT_DOC, "");
}

/* Erases sectors start..start+count-1 of a LUN and answers it, in the SDX55's
 * words ("Erasing start sector N, num sectors M", REAL-DEVICES.md §2). */
static void erase_range(struct edl_target_prog *p, const struct edl_target_range *r)
{
	struct edl_error err;

	qlog(p, 0, "INFO: Erasing start sector %" PRIu64 ", num sectors %" PRIu64, r->start,
	     r->count);
	if (edl_target_storage_erase(p->st, r, &err) != EDL_OK) {
		fail(p, "erase: %s", err.detail);
		return;
	}
	ack(p);
}

static void erase_whole(struct edl_target_prog *p, uint32_t lun)
{
	struct edl_target_range r = {.lun = lun,
	                             .start = 0,
	                             .count = edl_target_storage_sectors(p->st, lun),
	                             .last = UINT64_MAX};
	erase_range(p, &r);
}

/*
 * Quectel's vendor erase, <erase a_rawdata_start_sector="6528"
 * b_rawdata_num_sector="640" c_project_name="RG500QEA_VH" d_project_type="STD"
 * vendor="quectel"/> (xhikarishii/openwrt-ipq #3: "Calling handler for erase",
 * "[harden] proje..." and ACK; fwupd fu_qc_firehose_impl_erase). A Quectel
 * programmer erases exactly that raw range of LUN 0 (in pages).
 */
static void vendor_erase(struct edl_target_prog *p, struct cmd *c)
{
	struct edl_target_range r = {.lun = 0, .last = UINT64_MAX};
	const char *project = attr(c, "c_project_name");
	const char *type = attr(c, "d_project_type");
	struct edl_error err;

	if (!get_uint(p, c, "a_rawdata_start_sector", true, 0, &r.start) ||
	    !get_uint(p, c, "b_rawdata_num_sector", true, 0, &r.count))
		return;
	qlog(p, 0,
	     "INFO: [harden] project %.32s type %.16s erase raw data start %" PRIu64
	     " num %" PRIu64,
	     project ? project : "", type ? type : "", r.start, r.count);
	if (r.count == 0 || edl_target_storage_check(p->st, &r, &err) != EDL_OK) {
		fail(p, "erase: raw data range %" PRIu64 "+%" PRIu64 " is outside the storage",
		     r.start, r.count);
		return;
	}
	erase_range(p, &r);
}

/*
 * erase. Without a range (num_partition_sectors missing or 0) a programmer
 * erases the whole physical partition (Sony's Firehose doc: <erase
 * StorageDrive="0"/>; qdl #193/#244); so does the old handleErase, which reads
 * only physical_partition_number (erase_whole_lun). A vendor="..." erase that
 * the programmer does not know is a range-less erase: its attributes are
 * ignored and LUN 0 is wiped (fwupd PR #9204, "complete device erasure").
 * MDM9607 refuses a NAND erase that does not start on a block (erase_needs_alignment).
 */
static void cmd_erase(struct edl_target_prog *p, struct cmd *c, uint64_t now)
{
	bool nand = edl_target_storage_kind(p->st) == EDL_STORAGE_NAND;
	struct edl_target_range r;
	uint64_t count;
	uint32_t lun;

	(void)now;
	if (storage_refused(p))
		return;
	if (attr(c, "vendor") != NULL) {
		if (p->q.vendor_erase)
			vendor_erase(p, c);
		else
			erase_whole(p, 0);
		return;
	}
	if (attr(c, "SECTOR_SIZE_IN_BYTES") != NULL && !check_sector_size(p, c))
		return;
	if (!get_lun(p, c, &lun) || !get_uint(p, c, "num_partition_sectors", false, 0, &count))
		return;
	if (count == 0 || p->q.erase_whole_lun) {
		erase_whole(p, lun);
		return;
	}
	if (!get_range(p, c, false, &r))
		return;
	if (nand && p->q.erase_needs_alignment &&
	    r.start % edl_target_storage_pages_per_block(p->st) != 0) {
		fail(p, "start_sector unaligned");
		return;
	}
	erase_range(p, &r);
}

/* CRC32(start,len): zlib's CRC-32 of len bytes from sector start. */
static bool eval_crc(struct edl_target_prog *p, uint32_t lun, const char *v, uint64_t *out)
{
	uint64_t disk = edl_target_storage_sectors(p->st, lun), start, len;
	char inner[128];
	struct edl_error err;
	const char *open = strchr(v, '(');
	const char *close = strrchr(v, ')');

	if (open == NULL || close == NULL || close < open ||
	    (size_t)(close - open - 1) >= sizeof(inner) || *skip_space(close + 1) != '\0') {
		fail(p, "patch: value '%s' is not CRC32(start,len)", v);
		return false;
	}
	memcpy(inner, open + 1, (size_t)(close - open - 1));
	inner[close - open - 1] = '\0';
	char *comma = strrchr(inner, ',');
	if (comma == NULL) {
		fail(p, "patch: value '%s' is not CRC32(start,len)", v);
		return false;
	}
	*comma = '\0';
	if (!eval_sectors(inner, disk, &start) || !parse_number(comma + 1, &len)) {
		fail(p,
		     "patch: value '%s' is not CRC32(start,len) with numbers or "
		     "NUM_DISK_SECTORS-N.",
		     v);
		return false;
	}
	if (len > CRC_MAX || start > UINT64_MAX / p->ss) {
		fail(p, "patch: %s covers more than %u bytes or starts beyond the disk", v,
		     CRC_MAX);
		return false;
	}
	uint8_t *buf = malloc(len < HASH_CHUNK ? (size_t)len + 1 : HASH_CHUNK);
	if (buf == NULL) {
		p->nomem = true;
		return false;
	}
	uLong crc = crc32(0L, Z_NULL, 0);
	uint64_t off = start * p->ss, done = 0;
	bool ok = true;
	while (done < len) {
		uint64_t part = len - done < HASH_CHUNK ? len - done : HASH_CHUNK;
		if (edl_target_storage_pread(p->st, lun, off + done, buf, part, &err) != EDL_OK) {
			fail(p, "patch: %s: %s", v, err.detail);
			ok = false;
			break;
		}
		crc = crc32(crc, buf, (uInt)part);
		done += part;
	}
	free(buf);
	*out = crc;
	return ok;
}

static void cmd_patch(struct edl_target_prog *p, struct cmd *c, uint64_t now)
{
	uint64_t off, size, start, value;
	uint32_t lun;
	uint8_t le[8];
	struct edl_error err;
	const char *file, *sv, *vv;

	(void)now;
	file = attr(c, "filename");
	if (p->q.patch_file_silent &&
	    (file == NULL || strcasecmp(file, "DISK") != 0 || attr(c, "byte_offset") == NULL ||
	     attr(c, "physical_partition_number") == NULL || attr(c, "size_in_bytes") == NULL)) {
		/* Old handlePatch returns without any response for a file patch and
		 * for missing attributes (REAL-DEVICES.md §2): the host times out. */
		return;
	}
	if (!check_sector_size(p, c))
		return;
	if (file == NULL || strcmp(file, "DISK") != 0) {
		qlog(p, 0, "INFO: patch of file '%s' ignored: this target only patches DISK",
		     file ? file : "");
		ack(p);
		return;
	}
	if (storage_refused(p))
		return;
	if (edl_target_storage_kind(p->st) == EDL_STORAGE_NAND) {
		fail(p, "patch: patching DISK is not supported on NAND (patch the file instead)");
		return;
	}
	if (!get_lun(p, c, &lun) || !get_uint(p, c, "byte_offset", true, 0, &off) ||
	    !get_uint(p, c, "size_in_bytes", true, 0, &size))
		return;
	if (size == 0 || size > 8) {
		fail(p, "patch: size_in_bytes %" PRIu64 " is not in 1..8", size);
		return;
	}
	uint64_t disk = edl_target_storage_sectors(p->st, lun);
	sv = attr(c, "start_sector");
	vv = attr(c, "value");
	if (sv == NULL || vv == NULL) {
		fail(p, "patch: attribute '%s' is missing", sv == NULL ? "start_sector" : "value");
		return;
	}
	if (!eval_sectors(sv, disk, &start)) {
		fail(p, "patch: start_sector='%s' is not a number or NUM_DISK_SECTORS-N.", sv);
		return;
	}
	if (strncmp(skip_space(vv), "CRC32", 5) == 0) {
		if (!eval_crc(p, lun, vv, &value))
			return;
	} else if (!eval_sectors(vv, disk, &value)) {
		fail(p,
		     "patch: value='%s' is not a number, NUM_DISK_SECTORS-N. or CRC32(start,len)",
		     vv);
		return;
	}
	if (size < 8 && (value >> (8 * size)) != 0) {
		fail(p, "patch: value 0x%" PRIx64 " does not fit in %" PRIu64 " bytes", value,
		     size);
		return;
	}
	if (start >= disk || off > UINT64_MAX - start * p->ss) {
		fail(p,
		     "patch: start_sector %" PRIu64 " is outside LUN %" PRIu32 " of %" PRIu64
		     " sectors",
		     start, lun, disk);
		return;
	}
	for (uint64_t i = 0; i < size; i++)
		le[i] = (uint8_t)(value >> (8 * i));
	if (edl_target_storage_pwrite(p->st, lun, start * p->ss + off, le, size, &err) != EDL_OK) {
		fail(p, "patch: %s", err.detail);
		return;
	}
	qlog(p, 0,
	     "INFO: Patched sector %" PRIu64 " byte_offset %" PRIu64 " of LUN %" PRIu32
	     " with %" PRIu64 " bytes of 0x%" PRIx64,
	     start, off, lun, size, value);
	ack(p);
}

/* The preserve-read fault: whether r overlaps the seeded modemst1 (cal_seed.h). */
static bool touches_modemst1(const struct edl_target_prog *p, const struct edl_target_range *r)
{
	uint32_t ss = edl_target_storage_sector_size(p->st);
	uint64_t first, count = (uint64_t)edl_cal_layout[0].blocks * EDL_CAL_BLOCK_BYTES / ss;

	if (edl_target_storage_kind(p->st) == EDL_STORAGE_NAND)
		first = (uint64_t)(EDL_CAL_NAND_REGION_BLOCK + edl_cal_layout[0].block) *
		        (EDL_CAL_BLOCK_BYTES / ss);
	else
		first = (EDL_CAL_REGION_BYTE +
		         (uint64_t)edl_cal_layout[0].block * EDL_CAL_BLOCK_BYTES) /
		        ss;
	return r->start < first + count && r->start + r->count > first;
}

static void cmd_read(struct edl_target_prog *p, struct cmd *c, uint64_t now)
{
	struct edl_target_range r;

	(void)now;
	if (storage_refused(p) || !get_range(p, c, true, &r))
		return;
	if (p->faults.preserve_read && r.lun == 0 && touches_modemst1(p, &r)) {
		fail(p, "Read failed: storage error reading sector %" PRIu64 " (LUN %" PRIu32 ")",
		     r.start, r.lun);
		return;
	}
	qresp(p, 0, true, true, OUT_DOC, "");
	struct out_item *it = push(p, OUT_READ, NULL, 0, 0);
	if (it != NULL)
		it->range = r;
}

/* The emulated part's identity in getstorageinfo. UFS: the SDM855 unit's
 * Toshiba part (EDLTests log: manufacturer 0x198, fw "300"); eMMC: Samsung's
 * JEDEC id 0x15; NAND: Micron's ONFI id 0x2c (a guess: no public NAND sample). */
static void part_identity(enum edl_storage_kind kind, uint32_t *mfr, const char **fw,
                          const char **prod)
{
	switch (kind) {
	case EDL_STORAGE_UFS:
		*mfr = 0x198;
		*fw = "300";
		*prod = "THGAF8T0T43BAIRB0300";
		return;
	case EDL_STORAGE_EMMC:
		*mfr = 0x15;
		*fw = "7";
		*prod = "KLMAG1JETD";
		return;
	case EDL_STORAGE_NAND:
		break;
	}
	*mfr = 0x2c;
	*fw = "1";
	*prod = "MT29F4G08ABBFA";
}

/*
 * getstorageinfo, as the SDM855 UFS programmer answers it (EDLTests log,
 * REAL-DEVICES.md §2): "Device Total Logical Blocks: 0x1cb9800", "Device Block
 * Size in Bytes: 0x1000", "Device Total Physical Partitions: 0x6", "Device
 * Manufacturer ID: 0x198", "Device Serial Number: 0x48494241", then the JSON
 * object; eMMC programmers add key=value lines (SECTOR_SIZE_IN_BYTES=512,
 * num_physical_partitions=N). An invalid LUN is logged and ACKed (edl-ng #25).
 * NAND: no public sample exists; this answers the same shape with erase blocks
 * as blocks and mem_type "NAND" — a guess.
 */
static void cmd_getstorageinfo(struct edl_target_prog *p, struct cmd *c, uint64_t now)
{
	enum edl_storage_kind kind = edl_target_storage_kind(p->st);
	uint32_t luns = edl_target_storage_luns(p->st);
	uint64_t total_blocks, block_size, lun;
	const char *fw, *prod;
	uint32_t mfr;

	(void)now;
	if (storage_refused(p) || !get_uint(p, c, "physical_partition_number", false, 0, &lun))
		return;
	if (lun >= luns) {
		qlog(p, 0, "ERROR: Invalid physical partition %" PRIu64, lun);
		ack(p);
		return;
	}
	uint64_t sectors = edl_target_storage_sectors(p->st, (uint32_t)lun);
	if (kind == EDL_STORAGE_NAND) {
		uint32_t ppb = edl_target_storage_pages_per_block(p->st);
		total_blocks = sectors / ppb;
		block_size = (uint64_t)ppb * p->ss;
	} else {
		total_blocks = sectors;
		block_size = p->ss;
	}
	part_identity(kind, &mfr, &fw, &prod);
	qlog(p, 0, "INFO: Device Total Logical Blocks: 0x%" PRIx64, total_blocks);
	qlog(p, 0, "INFO: Device Block Size in Bytes: 0x%" PRIx64, block_size);
	qlog(p, 0, "INFO: Device Total Physical Partitions: 0x%" PRIx32, luns);
	qlog(p, 0, "INFO: Device Manufacturer ID: 0x%" PRIx32, mfr);
	qlog(p, 0, "INFO: Device Serial Number: 0x%" PRIx32, p->serial);
	qlog(p, 0,
	     "INFO: {\"storage_info\": {\"total_blocks\":%" PRIu64 ", \"block_size\":%" PRIu64
	     ", \"page_size\":%" PRIu32 ", \"num_physical\":%" PRIu32
	     ", \"manufacturer_id\":%" PRIu32 ", \"serial_num\":%" PRIu32
	     ", \"fw_version\":\"%s\",\"mem_type\":\"%s\",\"prod_name\":\"%s\"}}",
	     total_blocks, block_size, p->ss, luns, mfr, p->serial, fw,
	     kind == EDL_STORAGE_NAND ? "NAND" : mem_type(kind), prod);
	if (kind == EDL_STORAGE_EMMC) {
		qlog(p, 0, "SECTOR_SIZE_IN_BYTES=%" PRIu32, p->ss);
		qlog(p, 0, "num_physical_partitions=%" PRIu32, luns);
	}
	ack(p);
}

/*
 * getsha256digest, as Qualcomm's handleGetDigest answers it: the range is
 * hashed in payload-sized reads with "N sectors more to hash" every 16384
 * sectors, then "Hash start sector S num sectors N" and "Digest <64 upper-case
 * hex>", ACK. A start beyond the partition fails its parse ("Parsed value
 * exceeds size of partition in sectors", "Failed to parse start sector", NAK);
 * a read that fails (the range runs off the end) logs "emmc read failed" and
 * ACKs without a digest.
 */
static void cmd_getsha256digest(struct edl_target_prog *p, struct cmd *c, uint64_t now)
{
	struct edl_target_range r;
	struct edl_error err;
	uint8_t md[32];
	unsigned int mdlen = 0;
	char hex[65];
	uint8_t *buf = NULL;
	EVP_MD_CTX *ctx = NULL;
	bool ok = true;

	(void)now;
	if (storage_refused(p) || !get_range(p, c, false, &r))
		return;
	uint64_t disk = edl_target_storage_sectors(p->st, r.lun);
	if (r.start > disk) {
		qlog(p, 0, "ERROR: Parsed value exceeds size of partition in sectors");
		fail(p, "Failed to parse start sector");
		return;
	}
	bool fits = edl_target_storage_check(p->st, &r, &err) == EDL_OK;
	uint64_t per = p->payload / p->ss ? p->payload / p->ss : 1;
	if (per > HASH_CHUNK / p->ss && HASH_CHUNK / p->ss > 0)
		per = HASH_CHUNK / p->ss;
	buf = malloc((size_t)(per * p->ss));
	ctx = EVP_MD_CTX_new();
	if (buf == NULL || ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		p->nomem = true;
		goto out;
	}
	uint64_t done_since_log = 0;
	for (uint64_t i = 0; i < r.count; i += per) {
		uint64_t n = r.count - i < per ? r.count - i : per;
		if (!fits || edl_target_storage_read(p->st, &r, i, buf, n, &err) != EDL_OK) {
			qlog(p, 0, "ERROR: emmc read failed");
			ok = false;
			break;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)(n * p->ss));
		done_since_log += n;
		if (done_since_log >= DIGEST_LOG_EVERY) {
			done_since_log = 0;
			if (i + n < r.count)
				qlog(p, 0, "INFO: %" PRIu64 " sectors more to hash",
				     r.count - i - n);
		}
	}
	if (ok) {
		EVP_DigestFinal_ex(ctx, md, &mdlen);
		for (unsigned i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02X", md[i]);
		qlog(p, 0, "INFO: Hash start sector %" PRIu64 " num sectors %" PRIu64, r.start,
		     r.count);
		qlog(p, 0, "INFO: Digest %s", hex);
	}
	ack(p);
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
}

static void cmd_setbootable(struct edl_target_prog *p, struct cmd *c, uint64_t now)
{
	uint64_t v;
	uint32_t luns = edl_target_storage_luns(p->st);

	(void)now;
	if (!get_uint(p, c, "value", true, 0, &v))
		return;
	if (v >= luns) {
		fail(p,
		     "setbootablestoragedrive: drive %" PRIu64 " does not exist (%" PRIu32
		     " LUN%s)",
		     v, luns, luns == 1 ? "" : "s");
		return;
	}
	p->bootable = (int)v;
	/* handleSetBootableStorageDrive: "Set bootable drive to %d." */
	qlog(p, 0, "INFO: Set bootable drive to %" PRIu64 ".", v);
	ack(p);
}

/* nop: old handleNop answers a bare ACK (nop_bare_ack); newer programmers log
 * their build date with it (edl's nop probe). */
static void cmd_nop(struct edl_target_prog *p, struct cmd *c, uint64_t now)
{
	(void)c;
	(void)now;
	if (!p->q.nop_bare_ack)
		qlog(p, 0, "INFO: Binary build date: " BUILD_DATE);
	ack(p);
}

/*
 * power. The ACK comes first, then the programmer's last words ("Will issue
 * reset/power off 100 useconds, if this hangs check if watchdog is enabled",
 * "bsp_target_reset() 1", REAL-DEVICES.md §2); the state changes DelayInSeconds
 * after the last of them has gone out. Old handlePower (power_prefix_only)
 * matches only the "reset"/"off" prefixes, so reset_to_edl is a plain reset,
 * and answers nothing at all to other values.
 */
static void cmd_power(struct edl_target_prog *p, struct cmd *c, uint64_t now)
{
	const char *v = attr(c, "value");
	enum edl_target_prog_end end;
	uint64_t delay;

	(void)now;
	if (v == NULL && p->q.power_prefix_only)
		return;
	if (v == NULL) {
		fail(p, "power: attribute 'value' is missing");
		return;
	}
	if (p->q.power_prefix_only) {
		if (strncasecmp(v, "reset", 5) == 0)
			end = EDL_TARGET_PROG_RESET;
		else if (strncasecmp(v, "off", 3) == 0)
			end = EDL_TARGET_PROG_OFF;
		else
			return;
	} else if (strcasecmp(v, "reset") == 0) {
		end = EDL_TARGET_PROG_RESET;
	} else if (strcasecmp(v, "off") == 0) {
		end = EDL_TARGET_PROG_OFF;
	} else if (strcasecmp(v, "reset_to_edl") == 0 || strcasecmp(v, "reset-to-edl") == 0) {
		end = EDL_TARGET_PROG_RESET_TO_EDL;
	} else {
		fail(p, "power: value '%s' is not reset, off or reset_to_edl", v);
		return;
	}
	if (!get_uint(p, c, "DelayInSeconds", false, 0, &delay))
		return;
	if (delay > POWER_DELAY_MAX) {
		fail(p, "power: DelayInSeconds %" PRIu64 " is more than %d", delay,
		     POWER_DELAY_MAX);
		return;
	}
	ack(p);
	qlog(p, 0,
	     "INFO: Will issue reset/power off 100 useconds, if this hangs check if watchdog is "
	     "enabled");
	struct edl_buf b;
	edl_buf_init(&b);
	int rc = edl_buf_printf(&b, "%s<log value=\"INFO: %s\" />%s", doc_head,
	                        end == EDL_TARGET_PROG_OFF ? "bsp_target_poweroff() 1"
	                                                   : "bsp_target_reset() 1",
	                        doc_tail);
	struct out_item *it = push_buf(p, &b, rc, OUT_POWER, 0);
	if (it != NULL) {
		it->power = end;
		it->delay_ms = delay * 1000;
	}
}

static const struct {
	const char *name;
	void (*fn)(struct edl_target_prog *p, struct cmd *c, uint64_t now);
} handlers[CMD_COUNT] = {
        [CMD_CONFIGURE] = {"configure", cmd_configure},
        [CMD_PROGRAM] = {"program", cmd_program},
        [CMD_ERASE] = {"erase", cmd_erase},
        [CMD_PATCH] = {"patch", cmd_patch},
        [CMD_READ] = {"read", cmd_read},
        [CMD_GETSTORAGEINFO] = {"getstorageinfo", cmd_getstorageinfo},
        [CMD_GETSHA256DIGEST] = {"getsha256digest", cmd_getsha256digest},
        [CMD_SETBOOTABLE] = {"setbootablestoragedrive", cmd_setbootable},
        [CMD_NOP] = {"nop", cmd_nop},
        [CMD_POWER] = {"power", cmd_power},
};

static int find_cmd(const char *name)
{
	for (int i = 0; i < CMD_COUNT; i++)
		if (strcasecmp(handlers[i].name, name) == 0)
			return i;
	return -1;
}

/* The banner's function list when a profile gives none: what the emulator
 * implements, in the order of the real SDX55 list (qfirehose logs). */
static const char *const default_functions[] = {
        "program",         "read",      "nop",
        "patch",           "configure", "setbootablestoragedrive",
        "erase",           "power",     "getstorageinfo",
        "getsha256digest", NULL,
};

static const char *const *functions(const struct edl_target_prog *p)
{
	return p->q.functions != NULL ? p->q.functions : default_functions;
}

static bool supported(const struct edl_target_prog *p, const char *name)
{
	for (const char *const *f = functions(p); *f != NULL; f++)
		if (strcasecmp(*f, name) == 0)
			return true;
	return false;
}

/*
 * late_logs (MSM8916: "<log/> messages can arrive after the <response/>", qdl
 * firehose_read): the last log a command queued before its final response goes
 * out after it. `before` is the queue's tail before the command ran.
 */
static void late_reorder(struct edl_target_prog *p, struct out_item *before)
{
	struct out_item *prev = NULL, *lg = NULL, *lg_prev = NULL;
	struct out_item *it = before != NULL ? before->next : p->head;

	for (prev = before; it != NULL; prev = it, it = it->next) {
		if (it->kind != OUT_DOC)
			return;
		if (it->is_resp) {
			if (lg == NULL || lg->next != it || it->next != NULL)
				return;
			/* prev..: lg_prev -> lg -> it  ==>  lg_prev -> it -> lg */
			if (lg_prev != NULL)
				lg_prev->next = it;
			else
				p->head = it;
			lg->next = NULL;
			it->next = lg;
			p->tail = lg;
			return;
		}
		lg = it;
		lg_prev = prev;
	}
}

/* "ERROR: XML not formed correctly" + NAK, naming the transfer's size and first bytes. */
static void nak_xml(struct edl_target_prog *p, const uint8_t *data, size_t len, const char *why)
{
	char head[3 * 8 + 1] = "";
	char why_clean[256];
	size_t n = len < 8 ? len : 8, j = 0;

	for (size_t i = 0, at = 0; i < n; i++)
		at += (size_t)snprintf(head + at, sizeof(head) - at, "%s%02x", i ? " " : "",
		                       data[i]);
	for (const char *s = why; *s != '\0' && j + 1 < sizeof(why_clean); s++)
		why_clean[j++] = (*s == '\n' || *s == '\r') ? ' ' : *s;
	while (j > 0 && why_clean[j - 1] == ' ')
		j--;
	why_clean[j] = '\0';
	fail(p, "XML not formed correctly (transfer of %zu bytes starting %s): %s", len, head,
	     why_clean);
}

static void command(struct edl_target_prog *p, const uint8_t *data, size_t len, uint64_t now)
{
	xmlParserCtxtPtr ctxt = NULL;
	xmlDocPtr doc = NULL;
	struct cmd c = {0};

	if (len > MAX_XML) {
		char why[96];
		snprintf(why, sizeof(why), "larger than MaxXMLSizeInBytes %d", MAX_XML);
		nak_xml(p, data, len, why);
		return;
	}
	if (memmem(data, len, "<!DOCTYPE", 9) != NULL || memmem(data, len, "<!ENTITY", 8) != NULL) {
		nak_xml(p, data, len, "document type declarations are not accepted");
		return;
	}
	ctxt = xmlNewParserCtxt();
	if (ctxt == NULL) {
		p->nomem = true;
		return;
	}
	doc = xmlCtxtReadMemory(ctxt, (const char *)data, (int)len, "command.xml", NULL,
	                        XML_OPTIONS);
	if (doc == NULL) {
		xmlErrorPtr e = xmlCtxtGetLastError(ctxt);
		nak_xml(p, data, len, e != NULL && e->message != NULL ? e->message : "no document");
		goto out;
	}
	xmlNodePtr root = xmlDocGetRootElement(doc);
	if (root == NULL || strcmp((const char *)root->name, "data") != 0) {
		char why[96];
		snprintf(why, sizeof(why), "the root element is <%.40s>, not <data>",
		         root ? (const char *)root->name : "");
		nak_xml(p, data, len, why);
		goto out;
	}
	for (c.node = root->children; c.node != NULL; c.node = c.node->next)
		if (c.node->type == XML_ELEMENT_NODE)
			break;
	if (c.node == NULL) {
		fail(p, "<data> holds no command");
		goto out;
	}
	c.name = (const char *)c.node->name;
	int id = find_cmd(c.name);
	if (id >= 0)
		p->seen[id]++;
	if (id < 0 || !supported(p, c.name)) {
		/* processNextXMLTag (deviceprogrammer_firehose.c): an unknown tag is
		 * logged and ACKed, so a host that sends a command the banner did not
		 * list believes it done. */
		qlog(p, 0, "WARNING: Ignoring unrecognized tag '%.64s'. Continuing.", c.name);
		ack(p);
		goto out;
	}
	struct out_item *before = p->tail, *called = NULL;
	if (!(id == CMD_NOP && p->q.nop_bare_ack)) {
		qlog(p, 0, "INFO: Calling handler for %s", handlers[id].name);
		called = p->tail != before ? p->tail : NULL;
	}
	if (p->faults.nak_nth != 0 && strcasecmp(p->faults.nak_command, c.name) == 0 &&
	    p->seen[id] == p->faults.nak_nth)
		fail(p, "injected failure on %s #%u", handlers[id].name, p->seen[id]);
	else
		handlers[id].fn(p, &c, now);
	if (called != NULL && p->tail == called) {
		/* The handler answered nothing (old code's silent returns): the old
		 * code that does that logs nothing either. */
		if (before != NULL)
			before->next = NULL;
		else
			p->head = NULL;
		p->tail = before;
		free_item(called);
	}
	if (p->q.late_logs)
		late_reorder(p, before);
out:
	for (size_t i = 0; i < c.n_owned; i++)
		xmlFree(c.owned[i]);
	xmlFreeDoc(doc);
	xmlFreeParserCtxt(ctxt);
}

/* ---- program's raw data ---- */

static void write_sectors(struct edl_target_prog *p, const uint8_t *data, uint64_t n)
{
	struct edl_error err;

	if (p->prog_rc == EDL_OK &&
	    edl_target_storage_write(p->st, &p->prog, p->prog_index, data, n, &err) != EDL_OK) {
		p->prog_rc = err.code;
		snprintf(p->prog_error, sizeof(p->prog_error), "%s", err.detail);
	}
	p->prog_index += n;
}

static void consume(struct edl_target_prog *p, const uint8_t *data, size_t n)
{
	while (n > 0) {
		if (p->fill > 0 || n < p->ss || p->corrupt_now) {
			size_t take = p->ss - p->fill < n ? p->ss - p->fill : n;
			memcpy(p->sector + p->fill, data, take);
			if (p->corrupt_now && p->fill == 0) {
				p->sector[0] ^= 0x01;
				p->corrupt_now = false;
			}
			p->fill += take;
			data += take;
			n -= take;
			if (p->fill == p->ss) {
				write_sectors(p, p->sector, 1);
				p->fill = 0;
			}
		} else {
			uint64_t k = n / p->ss;
			write_sectors(p, data, k);
			data += k * p->ss;
			n -= (size_t)(k * p->ss);
		}
	}
}

/* When the final ACK of a program may go out: after the storage has absorbed
 * the bytes at write_rate_bps since the command, plus the fixed slow-ACK delay. */
static uint64_t final_ack_time(const struct edl_target_prog *p, uint64_t now)
{
	uint64_t t = now;

	if (p->faults.write_rate_bps != 0) {
		uint64_t ms =
		        p->prog_bytes / p->faults.write_rate_bps * 1000 +
		        p->prog_bytes % p->faults.write_rate_bps * 1000 / p->faults.write_rate_bps;
		if (p->prog_start + ms > t)
			t = p->prog_start + ms;
	}
	t += p->faults.slow_final_ack_ms;
	return t > now ? t : 0;
}

/* Raw data of a <program>. A host transfer larger than the payload is taken
 * whole: the programmer posts payload-sized reads and USB splits the transfer
 * over them (REAL-DEVICES.md §4 item 8), so size never matters here. */
static void raw_feed(struct edl_target_prog *p, const uint8_t *data, size_t len, uint64_t now)
{
	uint64_t left = p->prog_bytes - p->prog_received;
	size_t take = len < left ? len : (size_t)left;
	bool unplug = false;
	if (p->faults.unplug_at_bytes != 0 && p->raw_bytes + take >= p->faults.unplug_at_bytes) {
		take = (size_t)(p->faults.unplug_at_bytes - p->raw_bytes);
		unplug = true;
	}
	consume(p, data, take);
	p->raw_bytes += take;
	p->prog_received += take;
	if (unplug) {
		go_gone(p);
		return;
	}
	if (p->prog_received < p->prog_bytes)
		return;
	p->raw = false;
	uint64_t ready = final_ack_time(p, now);
	if (len > take)
		qlog(p, ready, "WARN: %zu bytes after the end of the raw data were ignored",
		     len - take);
	if (p->prog_rc != EDL_OK) {
		qlog(p, ready, "ERROR: Failed to write sectors %" PRIu64 "..%" PRIu64 ": %s",
		     p->prog.start, p->prog.start + p->prog.count - 1, p->prog_error);
		qresp(p, ready, false, false, OUT_DOC, "");
		return;
	}
	qlog(p, ready, "INFO: Finished sector address %" PRIu64, p->prog.start + p->prog.count);
	qresp(p, ready, true, false, OUT_DOC, "");
}

/* ---- public ---- */

int edl_target_prog_new(struct edl_target_prog **out, struct edl_target_storage *storage,
                        uint64_t max_payload, uint32_t serial, const struct edl_prog_quirks *quirks,
                        const struct edl_target_faults *faults)
{
	struct edl_target_prog *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (p == NULL)
		return EDL_E_NOMEM;
	xmlInitParser(); /* once, before any parse (idempotent) */
	p->st = storage;
	p->faults = *faults;
	p->faults.nak_command[sizeof(p->faults.nak_command) - 1] = '\0';
	if (quirks != NULL)
		p->q = *quirks;
	p->serial = serial;
	p->zlp = true;
	p->ss = edl_target_storage_sector_size(storage);
	p->max_payload = faults->payload_max ? faults->payload_max
	                 : max_payload       ? max_payload
	                                     : EDL_TARGET_DEFAULT_PAYLOAD;
	p->payload = p->max_payload;
	p->bootable = -1;
	p->sector = malloc(p->ss);
	if (p->sector == NULL) {
		free(p);
		return EDL_E_NOMEM;
	}
	*out = p;
	return EDL_OK;
}

void edl_target_prog_free(struct edl_target_prog *p)
{
	if (p == NULL)
		return;
	free_list(p->head);
	free_list(p->retired);
	release_ring(p);
	free(p->sector);
	free(p);
}

int edl_target_prog_queue_stale(struct edl_target_prog *p)
{
	struct edl_buf b;

	edl_buf_init(&b);
	int rc = edl_buf_printf(&b,
	                        "%s<log value=\"INFO: Finished sector address 262144\" />%s"
	                        "%s<response value=\"ACK\" rawmode=\"false\" />%s",
	                        doc_head, doc_tail, doc_head, doc_tail);
	push_buf(p, &b, rc, OUT_DOC, 0);
	if (p->nomem) {
		p->nomem = false;
		return EDL_E_NOMEM;
	}
	return EDL_OK;
}

int edl_target_prog_banner(struct edl_target_prog *p)
{
	const char *const *fn = functions(p);
	unsigned n = 0;

	/* SDX55 / SDM855 banners (qfirehose logs, EDLTests): the build date twice,
	 * the chip serial, then the functions. */
	qlog(p, 0, "INFO: Binary build date: " BUILD_DATE);
	qlog(p, 0, "INFO: Binary build date: " BUILD_DATE);
	if (p->q.chip_serial_log != NULL)
		qlog(p, 0, "INFO: %s", p->q.chip_serial_log);
	else
		qlog(p, 0, "INFO: Chip serial num: %" PRIu32 " (0x%" PRIx32 ")", p->serial,
		     p->serial);
	while (fn[n] != NULL)
		n++;
	if (p->q.banner_one_line) {
		/* "Supported Functions: a b c" (fwupd parses both forms). */
		struct edl_buf line;
		int rc = EDL_OK;
		edl_buf_init(&line);
		for (unsigned i = 0; i < n && rc == EDL_OK; i++)
			rc = edl_buf_printf(&line, " %s", fn[i]);
		if (rc == EDL_OK)
			rc = edl_buf_append(&line, "", 1);
		if (rc == EDL_OK)
			qlog(p, 0, "INFO: Supported Functions:%.*s", LOG_TEXT_MAX - 32,
			     (const char *)edl_buf_head(&line));
		else
			p->nomem = true;
		edl_buf_free(&line);
	} else {
		qlog(p, 0, "INFO: Supported Functions (%u):", n);
		for (unsigned i = 0; i < n; i++)
			qlog(p, 0, "INFO: %s", fn[i]);
		qlog(p, 0, "INFO: End of supported functions %u", n);
	}
	if (p->nomem) {
		p->nomem = false;
		return EDL_E_NOMEM;
	}
	return EDL_OK;
}

int edl_target_prog_start_busy(struct edl_target_prog *p, uint64_t bytes)
{
	uint64_t disk = edl_target_storage_sectors(p->st, 0);

	if (bytes == 0)
		bytes = BUSY_DEFAULT;
	/* The interrupted <program> wrote LUN 0 from sector 0; the range is the
	 * whole sectors that hold the bytes still due, and the bytes of its first
	 * sector already received are taken as zeros. */
	uint64_t count = (bytes + p->ss - 1) / p->ss;
	if (count > disk) {
		count = disk;
		bytes = disk * p->ss;
	}
	p->raw = true;
	p->prog =
	        (struct edl_target_range){.lun = 0, .start = 0, .count = count, .last = UINT64_MAX};
	p->prog_bytes = count * p->ss;
	p->prog_received = p->prog_bytes - bytes;
	p->prog_index = 0;
	p->prog_start = 0;
	p->fill = (size_t)p->prog_received;
	memset(p->sector, 0, p->ss);
	p->prog_rc = EDL_OK;
	p->prog_error[0] = '\0';
	return EDL_OK;
}

bool edl_target_prog_in_raw(const struct edl_target_prog *p)
{
	return p->raw;
}

int edl_target_prog_feed(struct edl_target_prog *p, const uint8_t *data, size_t len, uint64_t now)
{
	bool reading = false;

	free_list(p->retired);
	p->retired = NULL;
	for (struct out_item *it = p->head; it != NULL; it = it->next)
		reading |= it->kind == OUT_READ;
	if (!reading)
		release_ring(p);
	if (p->end != EDL_TARGET_PROG_RUNNING || len == 0)
		return EDL_OK;
	if (p->raw)
		raw_feed(p, data, len, now);
	else
		command(p, data, len, now);
	if (p->nomem) {
		p->nomem = false;
		return EDL_E_NOMEM;
	}
	return EDL_OK;
}

static void retire_head(struct edl_target_prog *p)
{
	struct out_item *it = p->head;
	p->head = it->next;
	if (p->head == NULL)
		p->tail = NULL;
	it->next = p->retired;
	p->retired = it;
}

/* The read is done: its final documents take the marker's place. */
static void finish_read(struct edl_target_prog *p)
{
	struct out_item *marker = p->head, *rest = marker->next;
	struct edl_target_range r = marker->range;
	int rc = marker->read_rc;
	char error[EDL_ERROR_DETAIL_MAX];

	snprintf(error, sizeof(error), "%s", marker->read_error);
	/* Detach the marker and everything after it, queue the final documents,
	 * then put the rest back behind them. */
	p->head = p->tail = NULL;
	free_item(marker);
	if (rc != EDL_OK) {
		qlog(p, 0, "ERROR: Failed to read sectors %" PRIu64 "..%" PRIu64 ": %s", r.start,
		     r.start + r.count - 1, error);
		qresp(p, 0, false, false, OUT_DOC, "");
	} else {
		qlog(p, 0, "INFO: Finished sector address %" PRIu64, r.start + r.count);
		qresp(p, 0, true, false, OUT_DOC, "");
	}
	if (rest != NULL) {
		struct out_item *last = rest;
		while (last->next != NULL)
			last = last->next;
		if (p->tail != NULL)
			p->tail->next = rest;
		else
			p->head = rest;
		p->tail = last;
	}
}

/* The next chunk of a <read>'s raw data, in a ring buffer. */
static bool read_chunk(struct edl_target_prog *p, struct out_item *it, struct edl_chunk *out)
{
	struct edl_error err;
	uint64_t per = p->payload / p->ss ? p->payload / p->ss : 1;
	uint64_t n = it->range.count - it->sent < per ? it->range.count - it->sent : per;
	size_t bytes = (size_t)(n * p->ss);
	unsigned slot = p->ring_next;

	if (p->ring_cap[slot] < bytes) {
		free(p->ring[slot]);
		p->ring[slot] = malloc(bytes);
		p->ring_cap[slot] = p->ring[slot] ? bytes : 0;
		if (p->ring[slot] == NULL)
			return false;
	}
	p->ring_next = (slot + 1) % EDL_TARGET_READ_RING;
	if (it->read_rc == EDL_OK && edl_target_storage_read(p->st, &it->range, it->sent,
	                                                     p->ring[slot], n, &err) != EDL_OK) {
		it->read_rc = err.code;
		snprintf(it->read_error, sizeof(it->read_error), "%s", err.detail);
	}
	if (it->read_rc != EDL_OK)
		memset(p->ring[slot], 0, bytes);
	it->sent += n;
	out->data = p->ring[slot];
	out->len = bytes;
	out->zlp = p->zlp;
	return true;
}

bool edl_target_prog_next_out(struct edl_target_prog *p, struct edl_chunk *out, uint64_t now)
{
	while (p->end == EDL_TARGET_PROG_RUNNING && p->head != NULL) {
		struct out_item *it = p->head;
		if (it->ready_at > now)
			return false;
		if (it->kind == OUT_READ) {
			if (it->sent < it->range.count)
				return read_chunk(p, it, out);
			finish_read(p);
			continue;
		}
		retire_head(p);
		out->data = it->data;
		out->len = it->len;
		out->zlp = p->zlp;
		if (it->kind == OUT_POWER) {
			p->power_end = it->power;
			p->power_at = now + it->delay_ms;
			p->power_armed = it->delay_ms != 0;
			if (!p->power_armed)
				p->end = it->power;
		}
		return true;
	}
	return false;
}

uint64_t edl_target_prog_deadline(const struct edl_target_prog *p)
{
	uint64_t d = 0;

	if (p->end != EDL_TARGET_PROG_RUNNING)
		return 0;
	if (p->head != NULL && p->head->ready_at != 0)
		d = p->head->ready_at;
	if (p->power_armed && (d == 0 || p->power_at < d))
		d = p->power_at;
	return d;
}

void edl_target_prog_timeout(struct edl_target_prog *p, uint64_t now)
{
	for (struct out_item *it = p->head; it != NULL; it = it->next)
		if (it->ready_at != 0 && it->ready_at <= now)
			it->ready_at = 0;
	if (p->power_armed && p->power_at <= now) {
		p->power_armed = false;
		p->end = p->power_end;
	}
}

enum edl_target_prog_end edl_target_prog_end(const struct edl_target_prog *p)
{
	return p->end;
}

unsigned edl_target_prog_commands_seen(const struct edl_target_prog *p, const char *command)
{
	int id = find_cmd(command);
	return id < 0 ? 0 : p->seen[id];
}

uint64_t edl_target_prog_raw_bytes(const struct edl_target_prog *p)
{
	return p->raw_bytes;
}

uint64_t edl_target_prog_payload(const struct edl_target_prog *p)
{
	return p->payload;
}

int edl_target_prog_bootable(const struct edl_target_prog *p)
{
	return p->bootable;
}
