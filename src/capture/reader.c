/*
 * The capture reader: pcapng (any number of sections and interfaces, either
 * byte order) and classic pcap (microsecond or nanosecond, either byte
 * order), link types 220 (usbmon, 64-byte headers: our files, tcpdump's
 * pcapng) and 189 (48-byte headers: older tcpdump). Works on the whole file in
 * memory and checks every length against what is left, so a truncated or
 * damaged file is an error naming the byte offset where it breaks, never a
 * read past the end.
 */
#include "edlstation/capture.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pcapng.h"

int edl_capture_load(const char *path, uint8_t **buf, size_t *len, struct edl_error *err)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b = NULL;
	size_t n = 0, cap = 0;

	*buf = NULL;
	*len = 0;
	if (f == NULL)
		return edl_error_set(err, EDL_E_IO, "cannot open the capture %s: %s", path,
		                     strerror(errno));
	for (;;) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 1u << 16;
			uint8_t *nb = realloc(b, ncap);

			if (nb == NULL) {
				free(b);
				fclose(f);
				return edl_error_set(err, EDL_E_NOMEM, "out of memory reading %s",
				                     path);
			}
			b = nb;
			cap = ncap;
		}
		size_t got = fread(b + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		free(b);
		fclose(f);
		return edl_error_set(err, EDL_E_IO, "reading the capture %s failed", path);
	}
	fclose(f);
	*buf = b;
	*len = n;
	return EDL_OK;
}

int edl_capture_reader_init(struct edl_capture_reader *r, const uint8_t *buf, size_t len,
                            const char *name, struct edl_error *err)
{
	uint32_t m;

	memset(r, 0, sizeof(*r));
	r->buf = buf;
	r->len = len;
	r->name = name;
	if (len < 4)
		return edl_error_set(
		        err, EDL_E_IO,
		        "%s: %zu bytes: too short for a pcap or pcapng file (truncated "
		        "at byte %zu)",
		        name, len, len);
	m = cap_rd32(buf, false);
	if (m == PCAPNG_SHB) {
		r->pcapng = true;
		return EDL_OK; /* the section header is read as the first block */
	}
	if (len < 24)
		return edl_error_set(err, EDL_E_IO,
		                     "%s: pcap file header truncated at byte %zu (24 needed)", name,
		                     len);
	if (m == PCAP_MAGIC_US || m == PCAP_MAGIC_NS) {
		r->swapped = false;
	} else if (cap_rd32(buf, true) == PCAP_MAGIC_US || cap_rd32(buf, true) == PCAP_MAGIC_NS) {
		r->swapped = true;
		m = cap_rd32(buf, true);
	} else {
		return edl_error_set(err, EDL_E_IO,
		                     "%s: not a capture file (neither pcapng nor pcap: magic %08x "
		                     "at byte 0)",
		                     name, m);
	}
	r->pcap_tsdiv = m == PCAP_MAGIC_NS ? 1000 : 1;
	r->n_if = 1;
	r->ifs[0].linktype = (uint16_t)cap_rd32(buf + 20, r->swapped);
	r->ifs[0].ts_per_s = m == PCAP_MAGIC_NS ? 1000000000u : 1000000u;
	r->off = 24;
	return EDL_OK;
}

/* Decodes a usbmon header and its data (pkt: caplen bytes of one packet). */
static int usbmon(struct edl_capture_reader *r, struct edl_capture_packet *out, const uint8_t *pkt,
                  uint32_t caplen, uint32_t orig, uint16_t linktype, struct edl_error *err)
{
	size_t hl = linktype == EDL_CAPTURE_LINKTYPE_USB_LINUX_MMAPPED ? USBMON_HDR_MMAPPED
	                                                               : USBMON_HDR_LINUX;
	struct edl_capture_event *ev = &out->ev;
	bool be = r->swapped;
	(void)orig;

	if (linktype != EDL_CAPTURE_LINKTYPE_USB_LINUX &&
	    linktype != EDL_CAPTURE_LINKTYPE_USB_LINUX_MMAPPED)
		return edl_error_set(
		        err, EDL_E_UNSUPPORTED,
		        "%s: packet %llu at byte %llu: link type %u is not Linux usbmon "
		        "(189 or 220): capture with tcpdump -i usbmonN",
		        r->name, (unsigned long long)out->index, (unsigned long long)out->offset,
		        linktype);
	if (caplen < hl)
		return edl_error_set(err, EDL_E_IO,
		                     "%s: packet %llu at byte %llu: %u bytes, shorter than the "
		                     "%zu-byte usbmon header",
		                     r->name, (unsigned long long)out->index,
		                     (unsigned long long)out->offset, caplen, hl);
	memset(ev, 0, sizeof(*ev));
	ev->urb_id = cap_rd64(pkt, be);
	ev->type = (char)pkt[8];
	ev->xfer_type = pkt[9];
	ev->endpoint = pkt[10];
	ev->devnum = pkt[11];
	ev->bus = cap_rd16(pkt + 12, be);
	ev->has_setup = pkt[14] == 0;
	/* Wrapping arithmetic: a hostile header's seconds must not overflow (the
	 * time is only shown, never trusted). */
	ev->ts_us = (int64_t)(cap_rd64(pkt + 16, be) * UINT64_C(1000000) +
	                      (uint64_t)(int64_t)(int32_t)cap_rd32(pkt + 24, be));
	ev->status = (int32_t)cap_rd32(pkt + 28, be);
	ev->length = cap_rd32(pkt + 32, be);
	uint32_t len_cap = cap_rd32(pkt + 36, be);
	if (ev->has_setup)
		memcpy(ev->setup, pkt + 40, 8);
	if (hl == USBMON_HDR_MMAPPED)
		ev->xfer_flags = cap_rd32(pkt + 56, be);
	/* The data is what follows the header, at most len_cap of it. */
	uint32_t avail = caplen - (uint32_t)hl;
	ev->data = pkt + hl;
	ev->data_len = len_cap < avail ? len_cap : avail;
	if (pkt[15] != 0)
		ev->data_len = 0;
	return 1;
}

/* Parses the options of an IDB (or reads an EPB's comment). */
static void read_if_options(struct edl_capture_reader *r, const uint8_t *p, size_t n, size_t ifi)
{
	while (n >= 4) {
		uint16_t code = cap_rd16(p, r->swapped), len = cap_rd16(p + 2, r->swapped);
		size_t step = 4 + cap_pad4(len);

		if (code == PCAPNG_OPT_END || step > n)
			break;
		if (code == PCAPNG_IF_NAME || code == PCAPNG_IF_DESCRIPTION) {
			char *dst =
			        code == PCAPNG_IF_NAME ? r->ifs[ifi].name : r->ifs[ifi].description;
			size_t cap = code == PCAPNG_IF_NAME ? sizeof(r->ifs[0].name)
			                                    : sizeof(r->ifs[0].description);
			size_t k = len < cap - 1 ? len : cap - 1;
			memcpy(dst, p + 4, k);
			dst[k] = '\0';
		} else if (code == PCAPNG_IF_TSRESOL && len >= 1) {
			uint8_t v = p[4];
			uint64_t per = 1;
			unsigned e = v & 0x7f;
			if (e > 18)
				e = 18;
			for (unsigned i = 0; i < e; i++)
				per *= (v & 0x80) ? 2 : 10;
			r->ifs[ifi].ts_per_s = per;
		}
		p += step;
		n -= step;
	}
}

static void read_comment(struct edl_capture_reader *r, const uint8_t *p, size_t n,
                         struct edl_capture_event *ev)
{
	while (n >= 4) {
		uint16_t code = cap_rd16(p, r->swapped), len = cap_rd16(p + 2, r->swapped);
		size_t step = 4 + cap_pad4(len);

		if (code == PCAPNG_OPT_END || step > n)
			break;
		if (code == PCAPNG_OPT_COMMENT) {
			ev->comment = (const char *)p + 4;
			ev->comment_len = len;
			return;
		}
		p += step;
		n -= step;
	}
}

static int next_pcap(struct edl_capture_reader *r, struct edl_capture_packet *out,
                     struct edl_error *err)
{
	size_t left = r->len - r->off;
	const uint8_t *p = r->buf + r->off;

	if (left == 0)
		return 0;
	out->offset = r->off;
	out->index++;
	if (left < 16)
		return edl_error_set(err, EDL_E_IO,
		                     "%s: truncated at byte %zu: record %llu at byte %zu needs a "
		                     "16-byte header, %zu bytes left",
		                     r->name, r->len, (unsigned long long)out->index, r->off, left);
	uint32_t sec = cap_rd32(p, r->swapped), sub = cap_rd32(p + 4, r->swapped);
	uint32_t incl = cap_rd32(p + 8, r->swapped), orig = cap_rd32(p + 12, r->swapped);
	if (incl > left - 16)
		return edl_error_set(err, EDL_E_IO,
		                     "%s: truncated at byte %zu: record %llu at byte %zu holds %u "
		                     "bytes, only %zu left",
		                     r->name, r->len, (unsigned long long)out->index, r->off, incl,
		                     left - 16);
	r->off += 16 + incl;
	out->ifindex = 0;
	int rc = usbmon(r, out, p + 16, incl, orig, r->ifs[0].linktype, err);
	(void)sec;
	(void)sub;
	return rc;
}

static int next_pcapng(struct edl_capture_reader *r, struct edl_capture_packet *out,
                       struct edl_error *err)
{
	for (;;) {
		size_t left = r->len - r->off;
		const uint8_t *p = r->buf + r->off;
		uint64_t at = r->off;

		if (left == 0)
			return 0;
		if (left < 12)
			return edl_error_set(
			        err, EDL_E_IO,
			        "%s: truncated at byte %zu: a block starts at byte %llu "
			        "but only %zu bytes are left (12 needed)",
			        r->name, r->len, (unsigned long long)at, left);
		uint32_t type = cap_rd32(p, false);
		if (type == PCAPNG_SHB) {
			uint32_t bom = cap_rd32(p + 8, false);
			if (bom == PCAPNG_BOM)
				r->swapped = false;
			else if (cap_rd32(p + 8, true) == PCAPNG_BOM)
				r->swapped = true;
			else
				return edl_error_set(
				        err, EDL_E_IO,
				        "%s: section header at byte %llu has no byte-order "
				        "magic",
				        r->name, (unsigned long long)at);
			r->n_if = 0; /* interfaces are per section */
		} else {
			type = cap_rd32(p, r->swapped);
		}
		uint32_t total = cap_rd32(p + 4, r->swapped);
		if (total < 12 || total % 4)
			return edl_error_set(
			        err, EDL_E_IO,
			        "%s: block at byte %llu has a bad length %u (damaged file)",
			        r->name, (unsigned long long)at, total);
		if (total > left)
			return edl_error_set(
			        err, EDL_E_IO,
			        "%s: truncated at byte %zu: the block at byte %llu is %u "
			        "bytes, only %zu are left",
			        r->name, r->len, (unsigned long long)at, total, left);
		if (cap_rd32(p + total - 4, r->swapped) != total)
			return edl_error_set(err, EDL_E_IO,
			                     "%s: block at byte %llu: trailing length differs from "
			                     "its leading length %u (damaged file)",
			                     r->name, (unsigned long long)at, total);
		r->off += total;
		const uint8_t *body = p + 8;
		size_t blen = total - 12;

		if (type == PCAPNG_IDB) {
			if (blen < 8)
				return edl_error_set(
				        err, EDL_E_IO,
				        "%s: interface block at byte %llu is too short", r->name,
				        (unsigned long long)at);
			if (r->n_if >= EDL_CAPTURE_MAX_IF)
				return edl_error_set(
				        err, EDL_E_UNSUPPORTED,
				        "%s: more than %d interfaces in one section (at "
				        "byte %llu)",
				        r->name, EDL_CAPTURE_MAX_IF, (unsigned long long)at);
			size_t i = r->n_if++;
			memset(&r->ifs[i], 0, sizeof(r->ifs[i]));
			r->ifs[i].linktype = cap_rd16(body, r->swapped);
			r->ifs[i].ts_per_s = 1000000;
			read_if_options(r, body + 8, blen - 8, i);
			continue;
		}
		if (type != PCAPNG_EPB && type != PCAPNG_SPB)
			continue; /* section header, statistics, name resolution, ... */
		out->offset = at;
		out->index++;
		uint32_t ifi = 0, caplen, orig;
		const uint8_t *pkt;
		if (type == PCAPNG_EPB) {
			if (blen < 20)
				return edl_error_set(err, EDL_E_IO,
				                     "%s: packet block at byte %llu is too short",
				                     r->name, (unsigned long long)at);
			ifi = cap_rd32(body, r->swapped);
			/* The usbmon header carries its own timestamp: the block's is
			 * not needed. */
			caplen = cap_rd32(body + 12, r->swapped);
			orig = cap_rd32(body + 16, r->swapped);
			pkt = body + 20;
			if (caplen > blen - 20)
				return edl_error_set(
				        err, EDL_E_IO,
				        "%s: packet block at byte %llu claims %u bytes of "
				        "data in a %u-byte block (damaged file)",
				        r->name, (unsigned long long)at, caplen, total);
		} else {
			if (blen < 4)
				return edl_error_set(err, EDL_E_IO,
				                     "%s: packet block at byte %llu is too short",
				                     r->name, (unsigned long long)at);
			orig = cap_rd32(body, r->swapped);
			pkt = body + 4;
			caplen = (uint32_t)(blen - 4) < orig ? (uint32_t)(blen - 4) : orig;
		}
		if (ifi >= r->n_if)
			return edl_error_set(
			        err, EDL_E_IO,
			        "%s: packet block at byte %llu names interface %u, not "
			        "described before it",
			        r->name, (unsigned long long)at, ifi);
		out->ifindex = ifi;
		int rc = usbmon(r, out, pkt, caplen, orig, r->ifs[ifi].linktype, err);
		if (rc == 1 && type == PCAPNG_EPB) {
			size_t used = 20 + cap_pad4(caplen);
			if (used < blen)
				read_comment(r, body + used, blen - used, &out->ev);
		}
		return rc;
	}
}

int edl_capture_reader_next(struct edl_capture_reader *r, struct edl_capture_packet *out,
                            struct edl_error *err)
{
	uint64_t index = out->index;

	memset(out, 0, sizeof(*out));
	out->index = index;
	return r->pcapng ? next_pcapng(r, out, err) : next_pcap(r, out, err);
}
