/*
 * The replay script: one device's bulk conversation from a capture, as the
 * host's writes to expect and the device's answers to give, and the matcher
 * that checks a live host against it (sans-I/O: feed the host's bytes, ask for
 * the next answer).
 *
 * The script is the device's bulk transfers in causal order: an OUT transfer
 * counts from its submission (the device had its bytes from then on, its
 * length from the completion), an IN transfer from its completion. An answer
 * is given once every write recorded before it has been matched, so the host
 * sees the device answer what it wrote, in the recorded order.
 *
 * Matching treats the recorded writes as one byte stream: the host may cut it
 * into transfers differently. Sahara packets and XML documents must match
 * byte for byte; raw data (programmer image chunks, program data) matches any
 * bytes of the same length, so a different image of the same size replays.
 * The first byte that does not match stops the replay with a report: what
 * the recording expected, what came, the host stream offset, and the packet
 * and file offset of the recorded transfer.
 */
#include "edlstation/capture.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define REPLAY_PACKET 512      /* wMaxPacketSize of the emulated bulk endpoints */
#define REPLAY_PAIR_SCAN 65536 /* packets searched for a transfer's other half */

struct item {
	bool in;
	enum edl_capture_kind kind;
	uint8_t *data; /* OUT: exact kinds only; IN: always (zeros when elided) */
	size_t len;
	bool zlp;            /* IN: a ZLP ended the recorded transfer */
	uint64_t stream_off; /* OUT: offset of its first byte in the host's stream */
	uint64_t file_off;   /* of its packet block */
	uint64_t packet;     /* Wireshark's packet number */
};

struct edl_replay {
	char *name;
	struct item *items;
	size_t n_items;
	size_t out_cur;   /* first OUT item not fully matched (n_items: none left) */
	size_t out_off;   /* bytes of it matched */
	size_t in_next;   /* next item to look at for an answer */
	uint64_t matched; /* host bytes matched */
	uint64_t out_total;
	size_t n_in, in_given;
	bool have_serial;
	uint32_t serial;
	char *report;
};

static void advance_out(struct edl_replay *r)
{
	while (r->out_cur < r->n_items &&
	       (r->items[r->out_cur].in || r->out_off >= r->items[r->out_cur].len)) {
		r->out_cur++;
		r->out_off = 0;
	}
}

/* The largest bulk transfer a capture may claim (usbfs's per-URB ceiling). */
#define REPLAY_MAX_TRANSFER (16u << 20)

static int push(struct edl_replay *r, size_t *cap, const struct item *it)
{
	if (r->n_items == *cap) {
		size_t ncap = *cap ? *cap * 2 : 256;
		struct item *n = realloc(r->items, ncap * sizeof(*n));
		if (n == NULL)
			return EDL_E_NOMEM;
		r->items = n;
		*cap = ncap;
	}
	r->items[r->n_items++] = *it;
	return EDL_OK;
}

/* iProduct's "_SN:" followed by 8 hex digits, from a string descriptor. */
static void learn_serial(struct edl_replay *r, const uint8_t *d, size_t n)
{
	char s[128];
	size_t k = 0;

	if (r->have_serial || n < 2 || d[1] != 3)
		return;
	for (size_t i = 2; i + 1 < n && k + 1 < sizeof(s); i += 2)
		s[k++] = (char)d[i];
	s[k] = '\0';
	const char *sn = strstr(s, "_SN:");
	if (sn == NULL)
		return;
	char *end;
	unsigned long v = strtoul(sn + 4, &end, 16);
	if (end == sn + 12) {
		r->serial = (uint32_t)v;
		r->have_serial = true;
	}
}

void edl_replay_free(struct edl_replay *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_items; i++)
		free(r->items[i].data);
	free(r->items);
	free(r->report);
	free(r->name);
	free(r);
}

int edl_replay_new(struct edl_replay **out, const uint8_t *buf, size_t len, const char *name,
                   struct edl_error *err)
{
	struct edl_capture_reader rd;
	struct edl_capture_packet *pk = NULL, p = {0};
	size_t n = 0, cap = 0, icap = 0;
	struct edl_replay *r = calloc(1, sizeof(*r));
	bool have_dev = false, edl_dev = false;
	uint16_t bus = 0;
	uint8_t devnum = 0;
	int rc;

	*out = NULL;
	if (r == NULL || (r->name = strdup(name)) == NULL) {
		free(r);
		return edl_error_set(err, EDL_E_NOMEM, "out of memory");
	}
	rc = edl_capture_reader_init(&rd, buf, len, name, err);
	if (rc != EDL_OK)
		goto fail;
	/* Every packet first: pairing a submission with its completion looks ahead. */
	while ((rc = edl_capture_reader_next(&rd, &p, err)) == 1) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 1024;
			struct edl_capture_packet *np = realloc(pk, ncap * sizeof(*np));
			if (np == NULL) {
				rc = edl_error_set(err, EDL_E_NOMEM, "out of memory reading %s",
				                   name);
				goto fail;
			}
			pk = np;
			cap = ncap;
		}
		pk[n++] = p;
		/* The EDL device of a bus capture (tcpdump -i usbmonN holds the hubs and
		 * every other device too): the first to send Sahara or Firehose XML,
		 * else the first with bulk traffic. */
		if (!edl_dev && p.ev.xfer_type == EDL_CAPTURE_BULK &&
		    (!have_dev || (p.ev.type == 'C' && (p.ev.endpoint & 0x80) &&
		                   edl_capture_classify(p.ev.data, p.ev.data_len, p.ev.length) !=
		                           EDL_CAPTURE_KIND_RAW))) {
			have_dev = true;
			edl_dev = p.ev.type == 'C' && (p.ev.endpoint & 0x80) &&
			          edl_capture_classify(p.ev.data, p.ev.data_len, p.ev.length) !=
			                  EDL_CAPTURE_KIND_RAW;
			bus = p.ev.bus;
			devnum = p.ev.devnum;
		}
	}
	if (rc < 0)
		goto fail;
	if (!have_dev) {
		rc = edl_error_set(
		        err, EDL_E_INVAL,
		        "%s: no bulk transfers in %zu packets: nothing to replay (capture "
		        "the EDL device's bus while it is flashed)",
		        name, n);
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		const struct edl_capture_event *ev = &pk[i].ev;
		struct item it = {0};

		if (ev->bus != bus || ev->devnum != devnum)
			continue;
		if (ev->xfer_type == EDL_CAPTURE_CONTROL && ev->type == 'C' && ev->data_len)
			learn_serial(r, ev->data, ev->data_len);
		if (ev->xfer_type != EDL_CAPTURE_BULK)
			continue;
		if (ev->length > REPLAY_MAX_TRANSFER) {
			/* No EDL transfer is this large (usbfs caps one at 16 MiB): a
			 * damaged or hostile header, never an allocation of its size. */
			rc = edl_error_set(err, EDL_E_INVAL,
			                   "%s: packet %u at byte %llu claims a %u-byte transfer, "
			                   "more than usbfs allows (%u): the capture is damaged",
			                   name, (unsigned)pk[i].index,
			                   (unsigned long long)pk[i].offset, ev->length,
			                   (unsigned)REPLAY_MAX_TRANSFER);
			goto fail;
		}
		it.in = ev->endpoint & 0x80;
		it.file_off = pk[i].offset;
		it.packet = pk[i].index;
		if (!it.in && ev->type == 'S') {
			uint32_t actual = ev->length;
			/* Its completion says how much the device took. */
			for (size_t j = i + 1; j < n && j < i + REPLAY_PAIR_SCAN; j++) {
				if (pk[j].ev.urb_id == ev->urb_id && pk[j].ev.type != 'S' &&
				    pk[j].ev.endpoint == ev->endpoint) {
					actual = pk[j].ev.status == 0 || pk[j].ev.length < actual
					                 ? pk[j].ev.length
					                 : actual;
					break;
				}
			}
			if (actual == 0)
				continue;
			uint32_t have = ev->data_len < actual ? ev->data_len : actual;
			it.len = actual;
			it.kind = edl_capture_classify(ev->data, have, actual);
			if (it.kind != EDL_CAPTURE_KIND_RAW) {
				if (have < actual)
					it.kind = EDL_CAPTURE_KIND_RAW;
				else if ((it.data = malloc(actual)) == NULL)
					goto nomem;
				else
					memcpy(it.data, ev->data, actual);
			}
			it.stream_off = r->out_total;
			r->out_total += actual;
		} else if (it.in && ev->type == 'C') {
			if (ev->length == 0 && ev->status != 0)
				continue; /* cancelled or timed out: the device said nothing */
			uint32_t requested = 0;
			for (size_t j = i; j-- > 0 && j + REPLAY_PAIR_SCAN > i;) {
				if (pk[j].ev.urb_id == ev->urb_id && pk[j].ev.type == 'S') {
					requested = pk[j].ev.length;
					break;
				}
			}
			it.len = ev->length;
			it.zlp = it.len % REPLAY_PACKET == 0 && requested > it.len;
			if (it.len > 0) {
				it.data = calloc(1, it.len);
				if (it.data == NULL)
					goto nomem;
				memcpy(it.data, ev->data,
				       ev->data_len < it.len ? ev->data_len : it.len);
			}
			it.kind = edl_capture_classify(it.data, it.len, it.len);
			r->n_in++;
		} else {
			continue;
		}
		if (push(r, &icap, &it) != EDL_OK) {
			free(it.data);
			goto nomem;
		}
	}
	free(pk);
	advance_out(r);
	*out = r;
	return EDL_OK;
nomem:
	rc = edl_error_set(err, EDL_E_NOMEM, "out of memory reading %s", name);
fail:
	free(pk);
	edl_replay_free(r);
	return rc;
}

int edl_replay_open(struct edl_replay **out, const char *path, struct edl_error *err)
{
	uint8_t *buf;
	size_t len;
	int rc = edl_capture_load(path, &buf, &len, err);

	if (rc != EDL_OK)
		return rc;
	rc = edl_replay_new(out, buf, len, path, err);
	free(buf);
	return rc;
}

bool edl_replay_serial(const struct edl_replay *r, uint32_t *serial)
{
	if (r->have_serial)
		*serial = r->serial;
	return r->have_serial;
}

/* "Sahara HELLO_RESP version 2 ...", "XML \"<?xml ...\"", "raw data, 4096 bytes: 00 01 ..." */
static void describe(char *out, size_t cap, enum edl_capture_kind kind, const uint8_t *d, size_t n,
                     size_t whole)
{
	char tmp[200];
	size_t k = 0;

	if (kind == EDL_CAPTURE_KIND_SAHARA && d != NULL) {
		snprintf(out, cap, "Sahara %s",
		         edl_capture_sahara_describe(d, n, tmp, sizeof(tmp)));
		return;
	}
	if (kind == EDL_CAPTURE_KIND_XML && d != NULL) {
		for (size_t i = 0; i < n && k + 1 < 160; i++)
			tmp[k++] = d[i] >= 0x20 && d[i] < 0x7f ? (char)d[i] : ' ';
		tmp[k] = '\0';
		snprintf(out, cap, "XML (%zu bytes) \"%s%s\"", whole, tmp, n > 159 ? "..." : "");
		return;
	}
	if (d == NULL) {
		snprintf(out, cap, "raw data, %zu bytes", whole);
		return;
	}
	for (size_t i = 0; i < n && i < 16; i++)
		k += (size_t)snprintf(tmp + k, sizeof(tmp) - k, " %02x", d[i]);
	tmp[k] = '\0';
	snprintf(out, cap, "%zu bytes:%s%s", whole, tmp, n > 16 ? " ..." : "");
}

/* The host's bytes, described as what they look like. */
static void describe_host(char *out, size_t cap, const uint8_t *d, size_t n)
{
	describe(out, cap, edl_capture_classify(d, n, n), d, n, n);
}

static int depart(struct edl_replay *r, const struct item *it, size_t at_in_item,
                  const uint8_t *came, size_t came_len, uint64_t host_off)
{
	char want[400], got[400];
	size_t len;

	if (it == NULL) {
		describe_host(got, sizeof(got), came, came_len);
		len = 1024;
		r->report = malloc(len);
		if (r->report)
			snprintf(r->report, len,
			         "replay %s: the host departs from the recording at host byte "
			         "%" PRIu64
			         ": expected nothing more (the recording ends after %" PRIu64
			         " host bytes), came %s",
			         r->name, host_off, r->out_total, got);
		return EDL_E_INVAL;
	}
	describe(want, sizeof(want), it->kind, it->data, it->len, it->len);
	describe_host(got, sizeof(got), came, came_len);
	len = 2048;
	r->report = malloc(len);
	if (r->report)
		snprintf(r->report, len,
		         "replay %s: the host departs from the recording at host byte %" PRIu64
		         " (byte %zu of the write recorded as packet %" PRIu64
		         " at file offset %" PRIu64 "): expected %s; came %s",
		         r->name, host_off, at_in_item, it->packet, it->file_off, want, got);
	return EDL_E_INVAL;
}

int edl_replay_feed(struct edl_replay *r, const uint8_t *data, size_t len)
{
	size_t done = 0;

	if (r->report)
		return EDL_E_INVAL;
	while (done < len) {
		advance_out(r);
		if (r->out_cur >= r->n_items)
			return depart(r, NULL, 0, data + done, len - done, r->matched);
		struct item *it = &r->items[r->out_cur];
		size_t want = it->len - r->out_off, take = len - done < want ? len - done : want;

		if (it->kind != EDL_CAPTURE_KIND_RAW &&
		    memcmp(it->data + r->out_off, data + done, take) != 0) {
			size_t k = 0;
			while (it->data[r->out_off + k] == data[done + k])
				k++;
			r->matched += k;
			return depart(r, it, r->out_off + k, data + done, len - done, r->matched);
		}
		r->out_off += take;
		r->matched += take;
		done += take;
	}
	advance_out(r);
	return EDL_OK;
}

bool edl_replay_next_in(struct edl_replay *r, struct edl_chunk *out)
{
	if (r->report)
		return false;
	while (r->in_next < r->n_items && !r->items[r->in_next].in)
		r->in_next++;
	if (r->in_next >= r->n_items || r->out_cur < r->in_next)
		return false;
	const struct item *it = &r->items[r->in_next++];
	out->data = it->data;
	out->len = it->len;
	out->zlp = it->zlp;
	r->in_given++;
	return true;
}

bool edl_replay_finished(const struct edl_replay *r)
{
	return r->report == NULL && r->out_cur >= r->n_items && r->in_given == r->n_in;
}

const char *edl_replay_report(const struct edl_replay *r)
{
	return r->report;
}

void edl_replay_progress(const struct edl_replay *r, char *out, size_t cap)
{
	snprintf(out, cap,
	         "matched %" PRIu64 " of %" PRIu64 " recorded host bytes, gave %zu of %zu recorded "
	         "device transfers",
	         r->matched, r->out_total, r->in_given, r->n_in);
}
