/*
 * The Firehose host engine: one command at a time, sans-I/O. A command builds
 * its document (command.c), the driver pulls it with next_out(), device bytes
 * come back through feed() where the framer (framer.c) cuts them into documents
 * and the parser (response.c) turns each into logs and a response, and the
 * phase of the command decides what a response means. program and read have a
 * raw phase between the rawmode ACK and the final response: program hands out
 * chunks of the image (zero copy, except the padded tail), read switches the
 * framer off for exactly the range's bytes.
 *
 * Logs go to the running command; after its response (or with no command
 * running) they are kept for the next command, so a programmer that logs after
 * its ACK does not lose lines. Every log is also read for the function list of
 * the programmer's banner, whatever runs.
 *
 * Phases of a command (h->phase), and how each is left:
 *   IDLE          no command; -> any command's first phase when it starts
 *   DRAIN         silence, the drain limit, or a completed function list -> IDLE
 *   RESPONSE      ACK/NAK -> IDLE; configure: a new round or, on silence, the
 *                 same document again (resend window) -> RESPONSE
 *   RAWMODE       ACK rawmode="true" -> RAW_SEND (program) or RAW_RECV (read)
 *   RAW_SEND      last chunk pulled -> FINAL
 *   RAW_RECV      last byte received -> FINAL
 *   FINAL         ACK/NAK -> IDLE
 *   DIGEST_QUIET  getsha256digest ACKed without a digest: a digest log, or
 *                 silence (EDL_E_FH_DIGEST) -> IDLE
 * Any phase fails to IDLE on its deadline or a device error.
 * See include/edlstation/firehose.h.
 */
#include "firehose/fh_internal.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum fh_cmd {
	CMD_NONE = 0,
	CMD_DRAIN,
	CMD_CONFIGURE,
	CMD_PROGRAM,
	CMD_ERASE,
	CMD_PATCH,
	CMD_READ,
	CMD_STORAGE_INFO,
	CMD_DIGEST,
	CMD_SETBOOTABLE,
	CMD_NOP,
	CMD_POWER,
	CMD_VENDOR,
};

enum fh_phase {
	PH_IDLE = 0,     /* no command: logs kept for the next one, responses dropped */
	PH_DRAIN,        /* reading until drain_quiet_ms of silence */
	PH_RESPONSE,     /* waiting for the command's one response */
	PH_RAWMODE,      /* program/read: waiting for ACK rawmode="true" */
	PH_RAW_SEND,     /* program: the driver pulls raw chunks */
	PH_RAW_RECV,     /* read: raw bytes arrive, framing is off */
	PH_FINAL,        /* program/read: waiting for the response after the raw data */
	PH_DIGEST_QUIET, /* getsha256digest ACKed without a digest: late logs */
};

/* The last max_logs logs of a command, oldest first. */
struct log_ring {
	char **v;
	size_t cap, head, n, dropped;
};

struct edl_fh_host {
	struct edl_fh_config cfg;
	struct edl_fh_framer framer;
	struct edl_log *log;

	enum edl_engine_status status;
	struct edl_error err;
	enum fh_cmd cmd;
	enum fh_phase phase;
	char desc[192];   /* "program LUN 0 sector 256 (system)", for messages */
	char target[128]; /* "'system'" or "LUN 0 sector 256" */
	uint64_t now;     /* latest time the driver told us */
	uint64_t deadline;
	uint32_t wait_ms;   /* length of the current wait, for messages */
	uint64_t drain_end; /* drain ends here even if the device keeps talking */

	struct edl_buf out; /* the command document */
	bool out_pending;
	bool zlp;

	struct log_ring rings[2];
	int cur; /* rings[cur]: this command's logs; the other: logs for the next one */

	/* configure */
	struct edl_fh_configure conf;
	uint64_t offer;
	uint64_t payload;
	unsigned rounds;
	uint64_t round_start; /* first send of this round, for the resend window */
	unsigned attempts;    /* copies of this round's document queued */
	unsigned pulled;      /* copies of this round the driver took */
	unsigned owed;        /* copies sent whose answers are still to come */
	char answer_sig[40];  /* "ACK|8192": value and payload of the last answer */

	/* the programmer's function list */
	char *functions;        /* last complete list, NULL before */
	struct edl_buf fn_next; /* the list being collected */
	bool fn_collecting;     /* between "Supported Functions (N):" and its end */
	bool fn_banner_end;     /* set when "End of supported functions" arrived */
	char vendor_elem[40];   /* the element of a vendor entry, for messages */

	uint64_t bad_docs;
	char warning[EDL_ERROR_DETAIL_MAX];
	uint8_t raw_tail[128]; /* last bytes of a read's raw data, for messages */
	size_t raw_tail_len;

	/* program and read */
	uint64_t total;     /* bytes of the raw phase */
	uint64_t raw_done;  /* program: bytes handed out; read: bytes received */
	uint64_t prog_sent; /* raw bytes of the current/last program */
	const uint8_t *src;
	uint64_t src_len;
	bool fill;
	size_t chunk;
	uint8_t *tail_buf; /* the chunk holding the end of the data, zero-padded */
	uint8_t *zero_buf; /* chunks past the data */
	uint8_t *fill_buf; /* every chunk of a fill source */
	bool final_stamped;
	edl_fh_data_fn fn;
	void *user;

	struct edl_fh_storage_info si;
	uint8_t digest[32];
	bool digest_valid;
};

void edl_fh_config_default(struct edl_fh_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->timeout_ms = 10000;
	cfg->erase_timeout_ms = 30000;
	cfg->final_ack_timeout_ms = 120000;
	cfg->digest_timeout_ms = 60000;
	cfg->drain_quiet_ms = 200;
	cfg->digest_quiet_ms = 100;
	cfg->max_doc_bytes = 65536;
	cfg->max_logs = 256;
}

/* ---- logs ---- */

static void ring_clear(struct log_ring *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[(r->head + i) % r->cap]);
	r->head = r->n = r->dropped = 0;
}

static const char *ring_get(const struct log_ring *r, size_t i)
{
	return i < r->n ? r->v[(r->head + i) % r->cap] : NULL;
}

static int ring_push(struct log_ring *r, const char *s)
{
	char *c = strdup(s);
	if (c == NULL)
		return EDL_E_NOMEM;
	if (r->n == r->cap) {
		free(r->v[r->head]);
		r->v[r->head] = c;
		r->head = (r->head + 1) % r->cap;
		r->dropped++;
		return EDL_OK;
	}
	r->v[(r->head + r->n) % r->cap] = c;
	r->n++;
	return EDL_OK;
}

static struct log_ring *logs(struct edl_fh_host *h)
{
	return &h->rings[h->cur];
}
static const struct log_ring *clogs(const struct edl_fh_host *h)
{
	return &h->rings[h->cur];
}

/* The last few logs joined with " | ", for failure sentences. */
static const char *log_tail(const struct edl_fh_host *h, char *buf, size_t len, size_t count)
{
	const struct log_ring *r = clogs(h);
	size_t from = r->n > count ? r->n - count : 0;
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = from; i < r->n && off + 1 < len; i++) {
		int w = snprintf(buf + off, len - off, "%s%s", i > from ? " | " : "",
		                 ring_get(r, i));
		if (w < 0)
			break;
		off += (size_t)w;
	}
	return buf;
}

/* The logs as an array (oldest first) for the parsers; caller frees. */
static const char **log_array(const struct edl_fh_host *h, size_t *n)
{
	const struct log_ring *r = clogs(h);
	const char **a = calloc(r->n + 1, sizeof(*a));
	if (a == NULL)
		return NULL;
	for (size_t i = 0; i < r->n; i++)
		a[i] = ring_get(r, i);
	*n = r->n;
	return a;
}

/* ---- state ---- */

static void arm(struct edl_fh_host *h, uint32_t ms, uint64_t now)
{
	h->wait_ms = ms;
	h->deadline = now + ms;
}

static void finish(struct edl_fh_host *h)
{
	edl_log_debug(h->log, "firehose: %s done", h->desc);
	h->status = EDL_ENGINE_DONE;
	h->phase = PH_IDLE;
	h->deadline = 0;
	/* A configure copy queued for re-sending is not needed any more. */
	h->out_pending = false;
}

static int fail(struct edl_fh_host *h, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int fail(struct edl_fh_host *h, int code, const char *fmt, ...)
{
	va_list ap;

	h->err.code = code;
	va_start(ap, fmt);
	vsnprintf(h->err.detail, sizeof(h->err.detail), fmt, ap);
	va_end(ap);
	edl_log_debug(h->log, "firehose: %s failed: %s", h->desc, h->err.detail);
	h->status = EDL_ENGINE_FAILED;
	h->phase = PH_IDLE;
	h->deadline = 0;
	h->out_pending = false;
	return code;
}

/* The function-list name of the running command. */
static const char *cmd_function(const struct edl_fh_host *h)
{
	switch (h->cmd) {
	case CMD_CONFIGURE:
		return "configure";
	case CMD_PROGRAM:
		return "program";
	case CMD_ERASE:
		return "erase";
	case CMD_PATCH:
		return "patch";
	case CMD_READ:
		return "read";
	case CMD_STORAGE_INFO:
		return "getstorageinfo";
	case CMD_DIGEST:
		return "getsha256digest";
	case CMD_SETBOOTABLE:
		return "setbootablestoragedrive";
	case CMD_NOP:
		return "nop";
	case CMD_POWER:
		return "power";
	case CMD_VENDOR:
		return h->vendor_elem;
	case CMD_NONE:
	case CMD_DRAIN:
		break;
	}
	return NULL;
}

/* " (the programmer does not list X)" when its banner listed its functions
 * and X was not among them: the likeliest reason a command goes unanswered or
 * is refused (real programmers answer an unknown command with an error log and
 * a NAK, or not at all). */
static const char *unlisted_note(const struct edl_fh_host *h, char *buf, size_t len)
{
	const char *fn = cmd_function(h);

	buf[0] = '\0';
	if (fn != NULL && edl_fh_host_supports(h, fn) == EDL_FH_SUPPORT_NO)
		snprintf(buf, len, " (the programmer does not list %s)", fn);
	return buf;
}

/* A NAK: the command, the device's last words, and where in the raw phase. */
static void fail_nak(struct edl_fh_host *h, int code)
{
	char tail[384], where[96] = "", note[96];

	log_tail(h, tail, sizeof(tail), 3);
	if (h->cmd == CMD_PROGRAM && (h->phase == PH_RAW_SEND || h->phase == PH_FINAL))
		snprintf(where, sizeof(where), " (after %" PRIu64 " of %" PRIu64 " bytes)",
		         h->raw_done, h->total);
	fail(h, code, "%s: NAK: %s%s%s", h->desc, tail[0] ? tail : "(the device gave no log)",
	     where, unlisted_note(h, note, sizeof(note)));
}

static bool running(const struct edl_fh_host *h)
{
	return h->status == EDL_ENGINE_RUNNING;
}

/* Common start of every command: refuses while busy, starts a fresh result and
 * hands over the logs that arrived since the last command. */
static int start(struct edl_fh_host *h, enum fh_cmd cmd, uint64_t now)
{
	if (running(h))
		return EDL_E_BUSY;
	ring_clear(logs(h));
	h->cur ^= 1;
	h->cmd = cmd;
	h->now = now;
	h->status = EDL_ENGINE_RUNNING;
	h->phase = PH_IDLE;
	h->deadline = 0;
	h->out_pending = false;
	h->desc[0] = h->target[0] = '\0';
	h->warning[0] = '\0';
	h->attempts = 0;
	edl_error_clear(&h->err);
	return EDL_OK;
}

/* After the document was built: queue it and wait in phase ph. */
static int issue(struct edl_fh_host *h, int rc, enum fh_phase ph, uint32_t wait_ms, uint64_t now)
{
	if (rc != EDL_OK) {
		if (h->err.code != rc)
			edl_error_set(&h->err, rc, "%s: could not build the command", h->desc);
		char detail[EDL_ERROR_DETAIL_MAX];
		snprintf(detail, sizeof(detail), "%s", h->err.detail);
		return fail(h, rc, "%s", detail);
	}
	edl_log_debug(h->log, "firehose: -> %s", h->desc);
	h->out_pending = true;
	h->phase = ph;
	arm(h, wait_ms, now);
	return EDL_OK;
}

static void describe_range(struct edl_fh_host *h, const char *what, const struct edl_fh_range *r)
{
	const char *start = r->start_sector != NULL ? r->start_sector : "?";
	bool label = r->label != NULL && r->label[0] != '\0';

	snprintf(h->desc, sizeof(h->desc), "%s LUN %" PRIu32 " sector %s%s%s%s", what, r->lun,
	         start, label ? " (" : "", label ? r->label : "", label ? ")" : "");
	if (label)
		snprintf(h->target, sizeof(h->target), "'%s'", r->label);
	else
		snprintf(h->target, sizeof(h->target), "LUN %" PRIu32 " sector %s", r->lun, start);
}

/* ---- lifecycle ---- */

int edl_fh_host_new(struct edl_fh_host **out, const struct edl_fh_config *cfg)
{
	struct edl_fh_host *h = calloc(1, sizeof(*h));
	struct edl_fh_config def;

	if (h == NULL)
		return EDL_E_NOMEM;
	edl_fh_config_default(&def);
	h->cfg = cfg != NULL ? *cfg : def;
	/* Zero means "the default" for every field. */
	if (h->cfg.timeout_ms == 0)
		h->cfg.timeout_ms = def.timeout_ms;
	if (h->cfg.erase_timeout_ms == 0)
		h->cfg.erase_timeout_ms = def.erase_timeout_ms;
	if (h->cfg.final_ack_timeout_ms == 0)
		h->cfg.final_ack_timeout_ms = def.final_ack_timeout_ms;
	if (h->cfg.digest_timeout_ms == 0)
		h->cfg.digest_timeout_ms = def.digest_timeout_ms;
	if (h->cfg.drain_quiet_ms == 0)
		h->cfg.drain_quiet_ms = def.drain_quiet_ms;
	if (h->cfg.digest_quiet_ms == 0)
		h->cfg.digest_quiet_ms = def.digest_quiet_ms;
	if (h->cfg.max_doc_bytes == 0)
		h->cfg.max_doc_bytes = def.max_doc_bytes;
	if (h->cfg.max_logs == 0)
		h->cfg.max_logs = def.max_logs;
	if (h->cfg.max_doc_bytes < 256 || h->cfg.max_doc_bytes > 64u * 1024 * 1024 ||
	    h->cfg.max_logs > 1u << 20) {
		free(h);
		return EDL_E_INVAL;
	}
	for (int i = 0; i < 2; i++) {
		h->rings[i].cap = h->cfg.max_logs;
		h->rings[i].v = calloc(h->cfg.max_logs, sizeof(char *));
		if (h->rings[i].v == NULL) {
			edl_fh_host_free(h);
			return EDL_E_NOMEM;
		}
	}
	edl_fh_framer_init(&h->framer, h->cfg.max_doc_bytes);
	edl_buf_init(&h->out);
	edl_buf_init(&h->fn_next);
	h->status = EDL_ENGINE_DONE;
	h->zlp = true;
	edl_error_clear(&h->err);
	*out = h;
	return EDL_OK;
}

static void free_raw_buffers(struct edl_fh_host *h)
{
	free(h->tail_buf);
	free(h->zero_buf);
	free(h->fill_buf);
	h->tail_buf = h->zero_buf = h->fill_buf = NULL;
}

void edl_fh_host_free(struct edl_fh_host *h)
{
	if (h == NULL)
		return;
	for (int i = 0; i < 2; i++) {
		if (h->rings[i].v != NULL)
			ring_clear(&h->rings[i]);
		free(h->rings[i].v);
	}
	edl_fh_framer_free(&h->framer);
	edl_buf_free(&h->out);
	edl_buf_free(&h->fn_next);
	free(h->functions);
	free_raw_buffers(h);
	free(h);
}

void edl_fh_host_set_log(struct edl_fh_host *h, struct edl_log *log)
{
	h->log = log;
}

/* ---- responses ---- */

/* How long one configure document is waited for. */
static uint32_t configure_wait(const struct edl_fh_host *h)
{
	if (h->conf.window_ms == 0)
		return h->cfg.timeout_ms;
	return h->conf.resend_ms != 0 ? h->conf.resend_ms : 1000;
}

static void configure_round(struct edl_fh_host *h, uint64_t offer, uint64_t now)
{
	h->offer = offer;
	h->rounds++;
	h->round_start = now;
	h->attempts = 1;
	h->pulled = 0;
	snprintf(h->desc, sizeof(h->desc), "configure (%s, payload %" PRIu64 ", round %u)",
	         edl_storage_name(h->conf.storage), offer, h->rounds);
	issue(h, edl_fh_cmd_configure(&h->out, &h->conf, offer, &h->err), PH_RESPONSE,
	      configure_wait(h), now);
}

/* What identifies the answer to a configure document: its value and payload
 * attribute. Every configure answer seen in public logs carries
 * MaxPayloadSizeToTargetInBytes (SDX55, 9x55, SDM855, older Qualcomm code) and
 * no answer to another command does; without it, nothing is recognised. */
static void answer_sig(const struct edl_fh_item *it, char *buf, size_t len)
{
	const char *max = edl_fh_item_attr(it, "MaxPayloadSizeToTargetInBytes");

	buf[0] = '\0';
	if (max != NULL)
		snprintf(buf, len, "%.8s|%.24s", it->text, max);
}

/* An answer to a configure copy sent again, after another copy was answered:
 * the same answer again, which must not be taken for the next command's. */
static bool duplicate_answer(struct edl_fh_host *h, const struct edl_fh_item *it)
{
	char sig[sizeof(h->answer_sig)];

	if (h->owed == 0 || h->answer_sig[0] == '\0')
		return false;
	answer_sig(it, sig, sizeof(sig));
	if (strcmp(sig, h->answer_sig) != 0)
		return false;
	h->owed--;
	edl_log_debug(h->log, "firehose: dropped the answer (%s) to a configure sent again",
	              it->text);
	return true;
}

/* Payload negotiation: smaller when the device says so, larger (bounded) when
 * it supports more, at most three documents. */
static void on_configure(struct edl_fh_host *h, const struct edl_fh_item *it, bool ack,
                         uint64_t now)
{
	const char *max_attr = edl_fh_item_attr(it, "MaxPayloadSizeToTargetInBytes");
	const char *sup_attr = edl_fh_item_attr(it, "MaxPayloadSizeToTargetInBytesSupported");
	char tail[384];
	uint64_t next = 0, v;

	log_tail(h, tail, sizeof(tail), 3);
	if (ack) {
		uint64_t accepted = h->offer;
		if (edl_fh_parse_u64(max_attr, EDL_FH_PAYLOAD_MIN, EDL_FH_PAYLOAD_MAX, &v) &&
		    v < accepted)
			accepted = v;
		if (edl_fh_parse_u64(sup_attr, EDL_FH_PAYLOAD_MIN, EDL_FH_PAYLOAD_MAX, &v)) {
			if (v < accepted)
				next = v;
			else if (v > accepted && accepted < EDL_FH_PAYLOAD_UP_MAX)
				next = v < EDL_FH_PAYLOAD_UP_MAX ? v : EDL_FH_PAYLOAD_UP_MAX;
		}
		if (next == 0 || (next > accepted && h->rounds >= 3)) {
			/* Going up is a bonus: an ACKed size is a working one. */
			h->payload = accepted;
			finish(h);
			return;
		}
		if (h->rounds >= 3) {
			fail(h, EDL_E_FH_NEGOTIATE,
			     "%s: no agreement after %u rounds: ACK but only %" PRIu64
			     " bytes supported%s%s",
			     h->desc, h->rounds, next, tail[0] ? ": " : "", tail);
			return;
		}
	} else {
		if (!edl_fh_parse_u64(max_attr, EDL_FH_PAYLOAD_MIN, EDL_FH_PAYLOAD_MAX, &v) ||
		    v >= h->offer) {
			fail(h, EDL_E_FH_NEGOTIATE,
			     "%s: NAK without a usable MaxPayloadSizeToTargetInBytes (%s): %s",
			     h->desc, max_attr != NULL ? max_attr : "absent",
			     tail[0] ? tail : "(the device gave no log)");
			return;
		}
		if (h->rounds >= 3) {
			fail(h, EDL_E_FH_NEGOTIATE,
			     "%s: still refused after %u rounds (device asks for %" PRIu64
			     " bytes): %s",
			     h->desc, h->rounds, v, tail[0] ? tail : "(the device gave no log)");
			return;
		}
		next = v;
	}
	edl_log_debug(h->log, "firehose: %s: device takes %" PRIu64 " bytes, configuring again",
	              h->desc, next);
	configure_round(h, next, now);
}

/* The digest in the logs so far; true when found. */
static bool digest_from_logs(struct edl_fh_host *h)
{
	size_t n = 0;
	const char **a = log_array(h, &n);
	bool ok;

	if (a == NULL) {
		fail(h, EDL_E_NOMEM, "%s: out of memory", h->desc);
		return false;
	}
	ok = edl_fh_digest_parse(h->digest, a, n) == EDL_OK;
	free(a);
	h->digest_valid = ok;
	return ok;
}

/* A Digest="..." or SHA256="..." attribute of the response (qdl
 * firehose_sha256_parser takes either); names matched case-insensitively, as
 * Firehose programmers match theirs. */
static bool digest_from_attrs(struct edl_fh_host *h, const struct edl_fh_item *it)
{
	for (size_t i = 0; i < it->n_attrs; i++) {
		const char *name = it->attrs[i].name;
		if (strcasecmp(name, "Digest") != 0 && strcasecmp(name, "SHA256") != 0)
			continue;
		const char *one[1] = {it->attrs[i].value};
		if (edl_fh_digest_parse(h->digest, one, 1) == EDL_OK) {
			h->digest_valid = true;
			return true;
		}
	}
	return false;
}

static void fail_no_digest(struct edl_fh_host *h)
{
	char tail[384];

	log_tail(h, tail, sizeof(tail), 3);
	fail(h, EDL_E_FH_DIGEST,
	     "%s: ACK but no 64-hex-digit digest in the %zu device logs (none came within %" PRIu32
	     " ms after the ACK either)%s%s",
	     h->desc, clogs(h)->n, h->cfg.digest_quiet_ms, tail[0] ? ": " : "", tail);
}

/* An ACK to a command without raw phase: parse what the logs carry. */
static void on_ack(struct edl_fh_host *h, const struct edl_fh_item *it, uint64_t now)
{
	char tail[384];
	size_t n = 0;

	if (h->cmd == CMD_DIGEST) {
		if (digest_from_attrs(h, it) || digest_from_logs(h)) {
			finish(h);
		} else if (running(h)) {
			/* MSM8916 logs after its response (qdl firehose_read): read
			 * on for a short quiet period before giving up. */
			h->phase = PH_DIGEST_QUIET;
			arm(h, h->cfg.digest_quiet_ms, now);
			h->drain_end = now + h->cfg.timeout_ms;
		}
		return;
	}
	if (h->cmd != CMD_STORAGE_INFO) {
		finish(h);
		return;
	}
	const char **a = log_array(h, &n);
	if (a == NULL) {
		fail(h, EDL_E_NOMEM, "%s: out of memory", h->desc);
		return;
	}
	struct edl_fh_storage_info si;
	if (edl_fh_storage_info_parse(&si, a, n) == EDL_OK) {
		h->si = si;
	} else {
		/* Best effort: real programmers ACK without geometry (edl-ng #25,
		 * "Storage info JSON not found in logs, though command was ACKed")
		 * and nothing here needs it to flash. */
		log_tail(h, tail, sizeof(tail), 3);
		snprintf(h->warning, sizeof(h->warning),
		         "%.190s: ACK but no storage size in the %zu device logs%s%.200s", h->desc,
		         n, tail[0] ? ": " : "", tail);
		memset(&h->si, 0, sizeof(h->si));
		edl_log_debug(h->log, "firehose: %s", h->warning);
	}
	free(a);
	finish(h);
}

static void on_response(struct edl_fh_host *h, const struct edl_fh_item *it, uint64_t now)
{
	bool ack = strcasecmp(it->text, "ACK") == 0;
	bool nak = strcasecmp(it->text, "NAK") == 0;

	if (duplicate_answer(h, it))
		return;
	if (h->phase == PH_IDLE) {
		edl_log_debug(h->log, "firehose: dropped a response (%s) with no command running",
		              it->text);
		return;
	}
	if (h->phase == PH_DRAIN) {
		edl_log_debug(h->log, "firehose: drain swallowed a stray response (%s)", it->text);
		return;
	}
	if (h->phase == PH_DIGEST_QUIET) {
		edl_log_debug(h->log, "firehose: dropped a second response (%s) to %s", it->text,
		              h->desc);
		return;
	}
	if (h->out_pending && h->cmd == CMD_CONFIGURE && h->attempts > 1) {
		/* The answer to an earlier copy: the queued one is not needed. */
		h->out_pending = false;
	} else if (h->out_pending) {
		/* It cannot answer a document that has not been sent yet. */
		edl_log_debug(h->log,
		              "firehose: dropped a response (%s) that came before %s was sent",
		              it->text, h->desc);
		return;
	}
	edl_log_debug(h->log, "firehose: <- %s to %s", it->text, h->desc);
	if (!ack && !nak) {
		fail(h, EDL_E_FH_PROTOCOL, "%s: response value '%.32s' is neither ACK nor NAK",
		     h->desc, it->text);
		return;
	}
	switch (h->phase) {
	case PH_RESPONSE:
		if (h->cmd == CMD_CONFIGURE) {
			/* Copies sent but not answered will be answered later. */
			h->owed += h->pulled > 0 ? h->pulled - 1 : 0;
			h->pulled = 0;
			answer_sig(it, h->answer_sig, sizeof(h->answer_sig));
			on_configure(h, it, ack, now);
		} else if (nak) {
			fail_nak(h, EDL_E_FH_NAK);
		} else {
			on_ack(h, it, now);
		}
		return;
	case PH_RAWMODE: {
		const char *raw = edl_fh_item_attr(it, "rawmode");
		char tail[384];
		if (nak) {
			fail_nak(h, EDL_E_FH_NAK);
			return;
		}
		if (raw == NULL || strcasecmp(raw, "true") != 0) {
			log_tail(h, tail, sizeof(tail), 3);
			fail(h, EDL_E_FH_PROTOCOL, "%s: ACK without rawmode=\"true\"%s%s", h->desc,
			     tail[0] ? ": " : "", tail);
			return;
		}
		if (h->cmd == CMD_PROGRAM) {
			h->phase = PH_RAW_SEND;
			arm(h, h->cfg.final_ack_timeout_ms, now);
		} else {
			h->phase = PH_RAW_RECV;
			arm(h, h->cfg.timeout_ms, now);
		}
		return;
	}
	case PH_RAW_SEND:
		if (nak)
			fail_nak(h, EDL_E_FH_NAK);
		else
			fail(h, EDL_E_FH_PROTOCOL,
			     "%s: ACK after only %" PRIu64 " of %" PRIu64 " bytes of raw data",
			     h->desc, h->raw_done, h->total);
		return;
	case PH_RAW_RECV:
		fail(h, EDL_E_FH_PROTOCOL, "%s: a response inside the raw data", h->desc);
		return;
	case PH_FINAL:
		if (nak)
			fail_nak(h, EDL_E_FH_NAK);
		else
			finish(h);
		return;
	case PH_IDLE:
	case PH_DRAIN:
	case PH_DIGEST_QUIET:
		break;
	}
}

/* Waiting for a response of a command (not draining, not idle). */
static bool awaiting(const struct edl_fh_host *h)
{
	return running(h) && h->phase != PH_DRAIN && h->phase != PH_IDLE &&
	       h->phase != PH_DIGEST_QUIET;
}

/* ---- the function list ---- */

/* Past a level prefix such as "INFO: " and blanks. */
static const char *skip_level(const char *s)
{
	const char *p = s;

	while (*p == ' ' || *p == '\t')
		p++;
	const char *w = p;
	while (*p >= 'A' && *p <= 'Z')
		p++;
	if (p > w && *p == ':')
		s = p + 1;
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

static bool fn_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

/* Appends the function names in s (blank- or comma-separated) to fn_next;
 * returns how many. A word with other characters ends the list (it is prose,
 * not a name) and clears *clean. */
static size_t fn_append(struct edl_fh_host *h, const char *s, bool *clean)
{
	size_t count = 0;
	const char *p = s;

	*clean = false;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0') {
			*clean = true;
			return count;
		}
		const char *w = p;
		while (fn_char(*p))
			p++;
		if (p == w || (*p != '\0' && *p != ' ' && *p != '\t' && *p != ','))
			return count;
		if ((edl_buf_size(&h->fn_next) > 0 &&
		     edl_buf_append(&h->fn_next, " ", 1) != EDL_OK) ||
		    edl_buf_append(&h->fn_next, w, (size_t)(p - w)) != EDL_OK)
			return count;
		count++;
	}
}

static void fn_complete(struct edl_fh_host *h)
{
	char *list;

	h->fn_collecting = false;
	/* A header and an end with no name between them tell nothing. */
	if (edl_buf_size(&h->fn_next) == 0)
		return;
	list = malloc(edl_buf_size(&h->fn_next) + 1);
	if (list == NULL)
		return;
	memcpy(list, edl_buf_head(&h->fn_next), edl_buf_size(&h->fn_next));
	list[edl_buf_size(&h->fn_next)] = '\0';
	free(h->functions);
	h->functions = list;
	edl_log_debug(h->log, "firehose: the programmer lists: %s", list);
}

/* Reads one log for the banner's function list (either form). */
static void scan_functions(struct edl_fh_host *h, const char *text)
{
	const char *s = skip_level(text);
	const char *p;

	if (strncasecmp(s, "End of supported functions", 26) == 0) {
		if (h->fn_collecting)
			fn_complete(h);
		h->fn_banner_end = true;
		return;
	}
	p = strcasestr(s, "Supported Functions");
	if (p != NULL && p == s) {
		const char *colon = strchr(p, ':');
		edl_buf_reset(&h->fn_next);
		h->fn_collecting = false;
		if (colon == NULL)
			return;
		bool clean;
		if (fn_append(h, colon + 1, &clean) > 0)
			fn_complete(h); /* "Supported Functions: program read nop ..." */
		else
			h->fn_collecting = true; /* "Supported Functions (15):" */
		return;
	}
	if (h->fn_collecting) {
		/* One name per log; anything else in between is not part of it. */
		size_t before = edl_buf_size(&h->fn_next);
		bool clean;
		if (fn_append(h, s, &clean) != 1 || !clean)
			h->fn_next.len = h->fn_next.off + before;
	}
}

static void add_log(struct edl_fh_host *h, const char *text)
{
	/* With no command running the log belongs to the next one. */
	struct log_ring *r = h->phase == PH_IDLE ? &h->rings[h->cur ^ 1] : logs(h);
	edl_log_debug(h->log, "device: %s", text);
	if (h->cfg.on_device_log != NULL)
		h->cfg.on_device_log(text, h->cfg.device_log_data);
	if (ring_push(r, text) != EDL_OK && awaiting(h))
		fail(h, EDL_E_NOMEM, "%s: out of memory keeping a device log", h->desc);
	h->fn_banner_end = false;
	scan_functions(h, text);
	if (!running(h))
		return;
	if (h->phase == PH_DRAIN && h->fn_banner_end) {
		/* The banner is complete: what follows is the next command's. */
		finish(h);
	} else if (h->phase == PH_DIGEST_QUIET) {
		if (digest_from_logs(h)) {
			finish(h);
		} else if (running(h)) {
			arm(h, h->cfg.digest_quiet_ms, h->now);
			if (h->deadline > h->drain_end)
				h->deadline = h->drain_end;
		}
	}
}

static void on_doc(struct edl_fh_host *h, const char *xml, size_t len, uint64_t now)
{
	struct edl_fh_doc doc;
	struct edl_error perr;

	edl_error_clear(&perr);
	int rc = edl_fh_doc_parse(&doc, xml, len, h->cfg.max_doc_bytes, &perr);
	if (rc != EDL_OK) {
		/* A broken log costs nothing (edl's xmlparser skips what does not
		 * parse); a broken response is the answer lost. */
		bool answer = memmem(xml, len, "<response", 9) != NULL;
		if (awaiting(h) && (answer || rc == EDL_E_NOMEM)) {
			fail(h, rc, "%s: %s", h->desc, perr.detail);
		} else {
			h->bad_docs++;
			edl_log_debug(h->log, "firehose: skipped a bad document: %s", perr.detail);
		}
		goto out;
	}
	for (size_t i = 0; i < doc.n_items; i++) {
		const struct edl_fh_item *it = &doc.items[i];
		if (it->kind == EDL_FH_ITEM_LOG)
			add_log(h, it->text);
		else
			on_response(h, it, now);
	}
out:
	edl_fh_doc_free(&doc);
}

/* Keeps the last bytes of a read's data: a programmer that ends a read early
 * sends its response where the host expects data, and the message says so. */
static void raw_tail_add(struct edl_fh_host *h, const uint8_t *data, size_t n)
{
	size_t cap = sizeof(h->raw_tail);

	if (n >= cap) {
		memcpy(h->raw_tail, data + n - cap, cap);
		h->raw_tail_len = cap;
		return;
	}
	if (h->raw_tail_len + n > cap) {
		size_t drop = h->raw_tail_len + n - cap;
		memmove(h->raw_tail, h->raw_tail + drop, h->raw_tail_len - drop);
		h->raw_tail_len -= drop;
	}
	memcpy(h->raw_tail + h->raw_tail_len, data, n);
	h->raw_tail_len += n;
}

/* Raw bytes of a read: to the callback, never to the framer. */
static size_t on_raw(struct edl_fh_host *h, const uint8_t *data, size_t len, uint64_t now)
{
	uint64_t want = h->total - h->raw_done;
	size_t n = len < want ? len : (size_t)want;
	int rc = h->fn(data, n, h->user);

	if (rc < 0) {
		fail(h, rc,
		     "%s: the data callback failed (%s) after %" PRIu64 " of %" PRIu64 " bytes",
		     h->desc, edl_strerror(rc), h->raw_done, h->total);
		return n;
	}
	h->raw_done += n;
	raw_tail_add(h, data, n);
	arm(h, h->cfg.timeout_ms, now);
	if (h->raw_done == h->total)
		h->phase = PH_FINAL;
	return n;
}

/* Every call that brings a time: a program's final-ACK wait starts at the first
 * one after the last chunk was pulled; while chunks are pulled it only re-arms. */
static void touch(struct edl_fh_host *h, uint64_t now)
{
	h->now = now;
	if (!running(h) || h->cmd != CMD_PROGRAM)
		return;
	if (h->phase == PH_RAW_SEND) {
		arm(h, h->cfg.final_ack_timeout_ms, now);
	} else if (h->phase == PH_FINAL && !h->final_stamped) {
		h->final_stamped = true;
		arm(h, h->cfg.final_ack_timeout_ms, now);
	}
}

int edl_fh_host_feed(struct edl_fh_host *h, const uint8_t *data, size_t len, uint64_t now)
{
	bool was_running = running(h);

	touch(h, now);
	if (len > 0 && running(h) && h->phase == PH_DRAIN) {
		arm(h, h->cfg.drain_quiet_ms, now);
		if (h->deadline > h->drain_end)
			h->deadline = h->drain_end;
	}
	while (len > 0) {
		size_t used = 0;
		if (running(h) && h->phase == PH_RAW_RECV) {
			used = on_raw(h, data, len, now);
			data += used;
			len -= used;
			continue;
		}
		int r = edl_fh_framer_push(&h->framer, data, len, &used);
		data += used;
		len -= used;
		if (r == 1) {
			size_t dl;
			const char *d = edl_fh_framer_doc(&h->framer, &dl);
			on_doc(h, d, dl, now);
		} else if (r == EDL_E_FH_TOO_LARGE) {
			if (awaiting(h))
				fail(h, r, "%s: the device sent a document over %zu bytes", h->desc,
				     h->cfg.max_doc_bytes);
			else
				edl_log_debug(h->log, "firehose: dropped a document over %zu bytes",
				              h->cfg.max_doc_bytes);
		} else if (r < 0) {
			/* Out of memory: framing cannot go on with this feed. */
			edl_fh_framer_free(&h->framer);
			edl_fh_framer_init(&h->framer, h->cfg.max_doc_bytes);
			if (running(h))
				fail(h, r, "%s: out of memory framing device data", h->desc);
			break;
		} else {
			assert(len == 0);
		}
	}
	if (was_running && h->status == EDL_ENGINE_FAILED)
		return h->err.code;
	return EDL_OK;
}

void edl_fh_host_timeout(struct edl_fh_host *h, uint64_t now)
{
	char tail[384], last[400] = "";

	if (!running(h) || h->deadline == 0)
		return;
	if (h->cmd == CMD_PROGRAM &&
	    (h->phase == PH_RAW_SEND || (h->phase == PH_FINAL && !h->final_stamped))) {
		touch(h, now);
		return;
	}
	h->now = now;
	if (now < h->deadline)
		return;
	if (log_tail(h, tail, sizeof(tail), 1)[0] != '\0')
		snprintf(last, sizeof(last), " (last log: %s)", tail);
	char note[96];
	unlisted_note(h, note, sizeof(note));
	switch (h->phase) {
	case PH_DRAIN:
		finish(h);
		return;
	case PH_DIGEST_QUIET:
		fail_no_digest(h);
		return;
	case PH_RESPONSE:
		if (h->cmd == CMD_CONFIGURE && h->conf.window_ms > 0) {
			if (now - h->round_start < h->conf.window_ms) {
				h->attempts++;
				h->out_pending = true;
				arm(h, configure_wait(h), now);
				edl_log_debug(h->log,
				              "firehose: no answer to %s within %" PRIu32
				              " ms, sending it again (attempt %u)",
				              h->desc, h->wait_ms, h->attempts);
				return;
			}
			fail(h, EDL_E_FH_TIMEOUT,
			     "no response to %s within %" PRIu64 " ms (%u attempts, %" PRIu32
			     " ms each)%s",
			     h->desc, now - h->round_start, h->attempts, h->wait_ms, last);
			return;
		}
		fail(h, EDL_E_FH_TIMEOUT, "no response to %s within %" PRIu32 " ms%s%s", h->desc,
		     h->wait_ms, last, note);
		return;
	case PH_RAWMODE:
		fail(h, EDL_E_FH_TIMEOUT, "no rawmode ACK for %s within %" PRIu32 " ms%s%s",
		     h->desc, h->wait_ms, last, note);
		return;
	case PH_RAW_RECV: {
		bool answer = memmem(h->raw_tail, h->raw_tail_len, "<response", 9) != NULL;
		fail(h, EDL_E_FH_TIMEOUT,
		     "%s: raw data stopped after %" PRIu64 " of %" PRIu64
		     " bytes (nothing for %" PRIu32 " ms)%s%s",
		     h->desc, h->raw_done, h->total, h->wait_ms,
		     answer ? " and the data ends like a Firehose response: the device ended the "
		              "read early"
		            : "",
		     last);
		return;
	}
	case PH_FINAL:
		if (h->cmd == CMD_PROGRAM)
			fail(h, EDL_E_FH_TIMEOUT,
			     "no final ACK for program of %s within %" PRIu32 " ms after %" PRIu64
			     " bytes%s",
			     h->target, h->wait_ms, h->raw_done, last);
		else
			fail(h, EDL_E_FH_TIMEOUT,
			     "no final response to %s within %" PRIu32 " ms after %" PRIu64
			     " bytes%s",
			     h->desc, h->wait_ms, h->raw_done, last);
		return;
	case PH_RAW_SEND:
	case PH_IDLE:
		return;
	}
}

/* ---- output ---- */

/* The raw chunk at raw_done: into the image when it lies inside it, else one of
 * the engine's prepared buffers (contents fixed for the whole command). */
static void program_chunk(struct edl_fh_host *h, struct edl_chunk *out)
{
	uint64_t off = h->raw_done;
	uint64_t left = h->total - off;
	size_t n = left < h->chunk ? (size_t)left : h->chunk;

	if (h->fill)
		out->data = h->fill_buf;
	else if (off + n <= h->src_len)
		out->data = h->src + off;
	else if (off < h->src_len)
		out->data = h->tail_buf;
	else
		out->data = h->zero_buf;
	assert(out->data != NULL);
	out->len = n;
	out->zlp = h->zlp;
	h->raw_done += n;
	h->prog_sent = h->raw_done;
	if (h->raw_done == h->total) {
		h->phase = PH_FINAL;
		h->final_stamped = false;
		arm(h, h->cfg.final_ack_timeout_ms, h->now);
	}
}

bool edl_fh_host_next_out(struct edl_fh_host *h, struct edl_chunk *out)
{
	if (h->out_pending) {
		h->out_pending = false;
		if (h->cmd == CMD_CONFIGURE)
			h->pulled++;
		out->data = edl_buf_head(&h->out);
		out->len = edl_buf_size(&h->out);
		out->zlp = h->zlp;
		return true;
	}
	if (running(h) && h->phase == PH_RAW_SEND && h->raw_done < h->total) {
		program_chunk(h, out);
		return true;
	}
	return false;
}

uint64_t edl_fh_host_deadline(const struct edl_fh_host *h)
{
	return running(h) ? h->deadline : 0;
}

enum edl_engine_status edl_fh_host_status(const struct edl_fh_host *h)
{
	return h->status;
}

const struct edl_error *edl_fh_host_error(const struct edl_fh_host *h)
{
	return &h->err;
}

/* ---- commands ---- */

int edl_fh_host_drain(struct edl_fh_host *h, uint64_t now)
{
	int rc = start(h, CMD_DRAIN, now);
	if (rc != EDL_OK)
		return rc;
	snprintf(h->desc, sizeof(h->desc), "drain");
	h->phase = PH_DRAIN;
	arm(h, h->cfg.drain_quiet_ms, now);
	h->drain_end = now + (h->cfg.timeout_ms > h->cfg.drain_quiet_ms ? h->cfg.timeout_ms
	                                                                : h->cfg.drain_quiet_ms);
	return EDL_OK;
}

int edl_fh_host_configure(struct edl_fh_host *h, const struct edl_fh_configure *c, uint64_t now)
{
	int rc = start(h, CMD_CONFIGURE, now);
	if (rc != EDL_OK)
		return rc;
	h->conf = *c;
	h->zlp = c->zlp_aware;
	h->payload = 0;
	h->rounds = 0;
	/* Answers owed to an earlier configure are not told apart from this one's. */
	h->owed = 0;
	h->answer_sig[0] = '\0';
	configure_round(h, c->max_payload != 0 ? c->max_payload : EDL_FH_DEFAULT_PAYLOAD, now);
	return running(h) ? EDL_OK : h->err.code;
}

/* Validates a program's source and prepares the buffers of its raw phase. */
static int prepare_program(struct edl_fh_host *h, const struct edl_fh_range *r,
                           const struct edl_fh_source *src)
{
	uint64_t payload = h->payload != 0 ? h->payload : EDL_FH_DEFAULT_PAYLOAD;

	free_raw_buffers(h);
	if (r->sector_size == 0 || r->num_sectors == 0 ||
	    r->num_sectors > UINT64_MAX / r->sector_size)
		return edl_error_set(&h->err, EDL_E_INVAL,
		                     "%s: %" PRIu64 " sectors of %" PRIu32 " bytes is not a size",
		                     h->desc, r->num_sectors, r->sector_size);
	h->total = r->num_sectors * r->sector_size;
	h->chunk = (size_t)(payload - payload % r->sector_size);
	if (h->chunk == 0)
		return edl_error_set(&h->err, EDL_E_INVAL,
		                     "%s: payload %" PRIu64 " is smaller than a sector of %" PRIu32,
		                     h->desc, payload, r->sector_size);
	h->fill = src->fill;
	h->src = src->data;
	h->src_len = src->fill ? 0 : src->len;
	if (!src->fill && src->len > 0 && src->data == NULL)
		return edl_error_set(&h->err, EDL_E_INVAL, "%s: no data", h->desc);
	if (h->src_len > h->total)
		return edl_error_set(&h->err, EDL_E_INVAL,
		                     "%s: %" PRIu64 " bytes of data exceed the range of %" PRIu64
		                     " bytes",
		                     h->desc, h->src_len, h->total);
	if (h->fill) {
		if (r->sector_size % 4 != 0)
			return edl_error_set(&h->err, EDL_E_INVAL,
			                     "%s: fill needs sectors of whole 32-bit words",
			                     h->desc);
		h->fill_buf = malloc(h->chunk);
		if (h->fill_buf == NULL)
			return edl_error_set(&h->err, EDL_E_NOMEM, "%s: out of memory", h->desc);
		for (size_t i = 0; i < h->chunk; i += 4) {
			h->fill_buf[i] = (uint8_t)(src->fill_value);
			h->fill_buf[i + 1] = (uint8_t)(src->fill_value >> 8);
			h->fill_buf[i + 2] = (uint8_t)(src->fill_value >> 16);
			h->fill_buf[i + 3] = (uint8_t)(src->fill_value >> 24);
		}
		return EDL_OK;
	}
	uint64_t part = h->src_len % h->chunk;
	uint64_t data_end =
	        h->src_len - part + (part ? h->chunk : 0); /* end of the chunks with data */
	if (part != 0 && h->src_len < h->total) {
		h->tail_buf = calloc(1, h->chunk);
		if (h->tail_buf == NULL)
			return edl_error_set(&h->err, EDL_E_NOMEM, "%s: out of memory", h->desc);
		memcpy(h->tail_buf, h->src + (h->src_len - part), (size_t)part);
	}
	if (h->total > data_end) {
		h->zero_buf = calloc(1, h->chunk);
		if (h->zero_buf == NULL)
			return edl_error_set(&h->err, EDL_E_NOMEM, "%s: out of memory", h->desc);
	}
	return EDL_OK;
}

int edl_fh_host_program(struct edl_fh_host *h, const struct edl_fh_range *r,
                        const struct edl_fh_source *src, uint64_t now)
{
	int rc = start(h, CMD_PROGRAM, now);
	if (rc != EDL_OK)
		return rc;
	describe_range(h, "program", r);
	h->raw_done = 0;
	h->prog_sent = 0;
	h->total = 0;
	rc = prepare_program(h, r, src);
	if (rc == EDL_OK)
		rc = edl_fh_cmd_program(&h->out, r, &h->err);
	return issue(h, rc, PH_RAWMODE, h->cfg.timeout_ms, now);
}

int edl_fh_host_erase(struct edl_fh_host *h, const struct edl_fh_range *r, uint64_t now)
{
	int rc = start(h, CMD_ERASE, now);
	if (rc != EDL_OK)
		return rc;
	describe_range(h, "erase", r);
	return issue(h, edl_fh_cmd_erase(&h->out, r, &h->err), PH_RESPONSE, h->cfg.erase_timeout_ms,
	             now);
}

int edl_fh_host_patch(struct edl_fh_host *h, const struct edl_fh_patch *p, uint64_t now)
{
	int rc = start(h, CMD_PATCH, now);
	if (rc != EDL_OK)
		return rc;
	snprintf(h->desc, sizeof(h->desc),
	         "patch LUN %" PRIu32 " sector %s byte_offset %" PRIu64 " (%s)", p->lun,
	         p->start_sector != NULL ? p->start_sector : "?", p->byte_offset,
	         p->filename != NULL ? p->filename : "?");
	return issue(h, edl_fh_cmd_patch(&h->out, p, &h->err), PH_RESPONSE, h->cfg.timeout_ms, now);
}

int edl_fh_host_read(struct edl_fh_host *h, const struct edl_fh_range *r, edl_fh_data_fn fn,
                     void *user, uint64_t now)
{
	int rc = start(h, CMD_READ, now);
	if (rc != EDL_OK)
		return rc;
	describe_range(h, "read", r);
	h->raw_done = 0;
	h->total = 0;
	h->fn = fn;
	h->user = user;
	h->raw_tail_len = 0;
	if (fn == NULL || r->sector_size == 0 || r->num_sectors == 0 ||
	    r->num_sectors > UINT64_MAX / r->sector_size)
		rc = edl_error_set(&h->err, EDL_E_INVAL,
		                   "%s: needs a callback and a size (%" PRIu64
		                   " sectors of %" PRIu32 " bytes)",
		                   h->desc, r->num_sectors, r->sector_size);
	else
		h->total = r->num_sectors * r->sector_size;
	if (rc == EDL_OK)
		rc = edl_fh_cmd_read(&h->out, r, &h->err);
	return issue(h, rc, PH_RAWMODE, h->cfg.timeout_ms, now);
}

int edl_fh_host_getstorageinfo(struct edl_fh_host *h, uint32_t lun, uint64_t now)
{
	int rc = start(h, CMD_STORAGE_INFO, now);
	if (rc != EDL_OK)
		return rc;
	memset(&h->si, 0, sizeof(h->si));
	snprintf(h->desc, sizeof(h->desc), "getstorageinfo LUN %" PRIu32, lun);
	return issue(h, edl_fh_cmd_getstorageinfo(&h->out, lun, &h->err), PH_RESPONSE,
	             h->cfg.timeout_ms, now);
}

int edl_fh_host_getsha256digest(struct edl_fh_host *h, const struct edl_fh_range *r, uint64_t now)
{
	int rc = start(h, CMD_DIGEST, now);
	if (rc != EDL_OK)
		return rc;
	h->digest_valid = false;
	describe_range(h, "getsha256digest", r);
	return issue(h, edl_fh_cmd_getsha256digest(&h->out, r, &h->err), PH_RESPONSE,
	             h->cfg.digest_timeout_ms, now);
}

int edl_fh_host_setbootable(struct edl_fh_host *h, uint32_t lun, uint64_t now)
{
	int rc = start(h, CMD_SETBOOTABLE, now);
	if (rc != EDL_OK)
		return rc;
	snprintf(h->desc, sizeof(h->desc), "setbootablestoragedrive %" PRIu32, lun);
	return issue(h, edl_fh_cmd_setbootable(&h->out, lun, &h->err), PH_RESPONSE,
	             h->cfg.timeout_ms, now);
}

int edl_fh_host_nop(struct edl_fh_host *h, uint64_t now)
{
	int rc = start(h, CMD_NOP, now);
	if (rc != EDL_OK)
		return rc;
	snprintf(h->desc, sizeof(h->desc), "nop");
	return issue(h, edl_fh_cmd_nop(&h->out, &h->err), PH_RESPONSE, h->cfg.timeout_ms, now);
}

int edl_fh_host_vendor(struct edl_fh_host *h, const char *element, const char *const *attrs,
                       size_t n_pairs, uint64_t now)
{
	int rc = start(h, CMD_VENDOR, now);
	if (rc != EDL_OK)
		return rc;
	snprintf(h->vendor_elem, sizeof(h->vendor_elem), "%s", element != NULL ? element : "?");
	snprintf(h->desc, sizeof(h->desc), "vendor entry <%s>", h->vendor_elem);
	return issue(h, edl_fh_cmd_vendor(&h->out, element, attrs, n_pairs, &h->err), PH_RESPONSE,
	             h->cfg.erase_timeout_ms, now);
}

int edl_fh_host_power(struct edl_fh_host *h, const char *value, uint32_t delay_s, uint64_t now)
{
	int rc = start(h, CMD_POWER, now);
	if (rc != EDL_OK)
		return rc;
	snprintf(h->desc, sizeof(h->desc), "power %s", value != NULL ? value : "?");
	return issue(h, edl_fh_cmd_power(&h->out, value, delay_s, &h->err), PH_RESPONSE,
	             h->cfg.timeout_ms, now);
}

/* ---- results ---- */

size_t edl_fh_host_log_count(const struct edl_fh_host *h)
{
	return clogs(h)->n;
}

const char *edl_fh_host_log(const struct edl_fh_host *h, size_t i)
{
	return ring_get(clogs(h), i);
}

size_t edl_fh_host_logs_dropped(const struct edl_fh_host *h)
{
	return clogs(h)->dropped;
}

uint64_t edl_fh_host_payload(const struct edl_fh_host *h)
{
	return h->payload;
}

unsigned edl_fh_host_configure_rounds(const struct edl_fh_host *h)
{
	return h->rounds;
}

const struct edl_fh_storage_info *edl_fh_host_storage_info(const struct edl_fh_host *h)
{
	return &h->si;
}

const uint8_t *edl_fh_host_digest(const struct edl_fh_host *h)
{
	return h->digest_valid ? h->digest : NULL;
}

uint64_t edl_fh_host_raw_sent(const struct edl_fh_host *h)
{
	return h->prog_sent;
}

uint64_t edl_fh_host_skipped(const struct edl_fh_host *h)
{
	return h->framer.skipped;
}

uint64_t edl_fh_host_bad_docs(const struct edl_fh_host *h)
{
	return h->bad_docs;
}

const char *edl_fh_host_warning(const struct edl_fh_host *h)
{
	return h->warning[0] != '\0' ? h->warning : NULL;
}

enum edl_fh_support edl_fh_host_supports(const struct edl_fh_host *h, const char *function)
{
	size_t n = function != NULL ? strlen(function) : 0;

	if (h->functions == NULL)
		return EDL_FH_SUPPORT_UNKNOWN;
	if (n == 0)
		return EDL_FH_SUPPORT_NO;
	for (const char *p = h->functions; *p != '\0';) {
		const char *w = p;
		while (*p != '\0' && *p != ' ')
			p++;
		if ((size_t)(p - w) == n && strncasecmp(w, function, n) == 0)
			return EDL_FH_SUPPORT_YES;
		while (*p == ' ')
			p++;
	}
	return EDL_FH_SUPPORT_NO;
}

const char *edl_fh_host_functions(const struct edl_fh_host *h)
{
	return h->functions;
}
