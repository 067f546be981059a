/*
 * The capture writer: a pcapng file of usbmon events, written as the USB
 * transport submits and completes transfers. One Section Header, one
 * Interface Description (link type 220, if_name, if_description, microsecond
 * timestamps), then one Enhanced Packet Block per event, each holding the
 * 64-byte usbmon header (little-endian, as the section says) and the
 * captured data.
 *
 * Cheap when on: one buffered stdio write sequence per event, no copy of the
 * payload. Bounded: past max_bytes the payloads of raw data are elided, the
 * event kept with its lengths and an opt_comment marker; Sahara packets and
 * XML documents are always written whole, so the conversation stays readable
 * and replayable (raw data is matched by length).
 */
#include "edlstation/capture.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pcapng.h"

#define ELIDED_COMMENT "raw data elided: record_max_mb reached"

struct edl_capture {
	FILE *f;
	char *path;
	char *iobuf;
	uint64_t max_bytes;
	uint64_t bytes;  /* written so far */
	uint64_t elided; /* raw payload bytes left out */
	int error;       /* errno of the first failed write, 0 none */
};

int64_t edl_capture_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void put(struct edl_capture *c, const void *p, size_t n)
{
	if (c->error || n == 0)
		return;
	if (fwrite(p, 1, n, c->f) != n)
		c->error = errno ? errno : EIO;
	c->bytes += n;
}

/* Option code, length, value and padding into out; returns bytes used. */
static size_t option(uint8_t *out, uint16_t code, const void *val, size_t len)
{
	cap_wr16(out, code);
	cap_wr16(out + 2, (uint16_t)len);
	memcpy(out + 4, val, len);
	memset(out + 4 + len, 0, cap_pad4((uint32_t)len) - len);
	return 4 + cap_pad4((uint32_t)len);
}

static size_t string_option(uint8_t *out, uint16_t code, const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0)
		return 0;
	return option(out, code, s, n > max ? max : n);
}

static void write_headers(struct edl_capture *c, const struct edl_capture_options *o)
{
	uint8_t b[1024];
	size_t n = 0;
	uint8_t resol = 6;

	/* Section Header Block: little-endian, version 1.0, length unknown. */
	cap_wr32(b, PCAPNG_SHB);
	cap_wr32(b + 8, PCAPNG_BOM);
	cap_wr16(b + 12, 1);
	cap_wr16(b + 14, 0);
	cap_wr64(b + 16, UINT64_MAX);
	n = 24;
	n += string_option(b + n, PCAPNG_SHB_USERAPPL, "edlstation", 64);
	cap_wr32(b + n, 0); /* opt_endofopt */
	n += 4;
	cap_wr32(b + 4, (uint32_t)(n + 4));
	cap_wr32(b + n, (uint32_t)(n + 4));
	put(c, b, n + 4);

	/* Interface Description Block: usbmon, whole packets, microseconds. */
	cap_wr32(b, PCAPNG_IDB);
	cap_wr16(b + 8, EDL_CAPTURE_LINKTYPE_USB_LINUX_MMAPPED);
	cap_wr16(b + 10, 0);
	cap_wr32(b + 12, 0); /* snaplen: no limit */
	n = 16;
	n += string_option(b + n, PCAPNG_IF_NAME, o && o->if_name ? o->if_name : "usbmon0", 64);
	n += string_option(b + n, PCAPNG_IF_DESCRIPTION, o ? o->if_description : NULL, 512);
	n += option(b + n, PCAPNG_IF_TSRESOL, &resol, 1);
	cap_wr32(b + n, 0);
	n += 4;
	cap_wr32(b + 4, (uint32_t)(n + 4));
	cap_wr32(b + n, (uint32_t)(n + 4));
	put(c, b, n + 4);
}

int edl_capture_open(struct edl_capture **out, const char *path,
                     const struct edl_capture_options *opt, struct edl_error *err)
{
	struct edl_capture *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (c == NULL || (c->path = strdup(path)) == NULL ||
	    (c->iobuf = malloc(1u << 20)) == NULL) {
		if (c)
			free(c->path);
		free(c);
		return edl_error_set(err, EDL_E_NOMEM, "out of memory opening capture %s", path);
	}
	c->f = fopen(path, "wb");
	if (c->f == NULL) {
		int rc = edl_error_set(err, EDL_E_IO,
		                       "cannot create the capture %s: %s (check [station] record)",
		                       path, strerror(errno));
		free(c->iobuf);
		free(c->path);
		free(c);
		return rc;
	}
	setvbuf(c->f, c->iobuf, _IOFBF, 1u << 20);
	c->max_bytes = opt ? opt->max_bytes : 0;
	write_headers(c, opt);
	*out = c;
	return EDL_OK;
}

void edl_capture_write(struct edl_capture *c, const struct edl_capture_event *ev)
{
	uint8_t b[28 + USBMON_HDR_MMAPPED];
	uint8_t opts[128];
	static const uint8_t zero[4];
	uint32_t cap = ev->data ? ev->data_len : 0;
	size_t no = 0;
	const char *comment = ev->comment;
	uint64_t ts = (uint64_t)ev->ts_us;

	if (c == NULL || c->error)
		return;
	if (cap > 0 && c->max_bytes && c->bytes + cap > c->max_bytes &&
	    edl_capture_classify(ev->data, cap, ev->length) == EDL_CAPTURE_KIND_RAW) {
		c->elided += cap;
		cap = 0;
		comment = ELIDED_COMMENT;
	}
	if (comment != NULL) {
		no += string_option(opts, PCAPNG_OPT_COMMENT, comment, 100);
		cap_wr32(opts + no, 0);
		no += 4;
	}
	uint32_t plen = USBMON_HDR_MMAPPED + cap;
	uint32_t total = 28 + cap_pad4(plen) + (uint32_t)no + 4;

	cap_wr32(b, PCAPNG_EPB);
	cap_wr32(b + 4, total);
	cap_wr32(b + 8, 0); /* interface 0 */
	cap_wr32(b + 12, (uint32_t)(ts >> 32));
	cap_wr32(b + 16, (uint32_t)ts);
	cap_wr32(b + 20, plen);
	cap_wr32(b + 24, plen);

	/* The usbmon header (struct usbmon_packet of Documentation/usb/usbmon.rst). */
	uint8_t *h = b + 28;
	memset(h, 0, USBMON_HDR_MMAPPED);
	cap_wr64(h, ev->urb_id);
	h[8] = (uint8_t)ev->type;
	h[9] = ev->xfer_type;
	h[10] = ev->endpoint;
	h[11] = ev->devnum;
	cap_wr16(h + 12, ev->bus);
	h[14] = ev->has_setup ? 0 : '-';
	/* flag_data: 0 when data follows; '<' for an IN submission, '>' for an OUT
	 * completion (usbmon's "no data" markers); '=' otherwise (elided or empty). */
	h[15] = cap                                         ? 0
	        : ev->type == 'S' && (ev->endpoint & 0x80)  ? '<'
	        : ev->type == 'C' && !(ev->endpoint & 0x80) ? '>'
	                                                    : '=';
	cap_wr64(h + 16, (uint64_t)(ev->ts_us / 1000000));
	cap_wr32(h + 24, (uint32_t)(ev->ts_us % 1000000));
	cap_wr32(h + 28, (uint32_t)ev->status);
	cap_wr32(h + 32, ev->length);
	cap_wr32(h + 36, cap);
	if (ev->has_setup)
		memcpy(h + 40, ev->setup, 8);
	/* interval 0, start_frame 0, xfer_flags, ndesc 0 */
	cap_wr32(h + 56, ev->xfer_flags);
	put(c, b, sizeof(b));
	put(c, ev->data, cap);
	put(c, zero, cap_pad4(plen) - plen);
	put(c, opts, no);
	cap_wr32(b, total);
	put(c, b, 4);
}

const char *edl_capture_path(const struct edl_capture *c)
{
	return c->path;
}

int edl_capture_rename(struct edl_capture *c, const char *path, struct edl_error *err)
{
	char *copy = strdup(path);

	if (copy == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "out of memory");
	if (rename(c->path, path) != 0) {
		int rc = edl_error_set(err, EDL_E_IO, "cannot rename the capture %s to %s: %s",
		                       c->path, path, strerror(errno));
		free(copy);
		return rc;
	}
	free(c->path);
	c->path = copy;
	return EDL_OK;
}

uint64_t edl_capture_bytes(const struct edl_capture *c)
{
	return c->bytes;
}

uint64_t edl_capture_elided(const struct edl_capture *c)
{
	return c->elided;
}

int edl_capture_close(struct edl_capture *c, struct edl_error *err)
{
	int rc = EDL_OK;

	if (c == NULL)
		return EDL_OK;
	if (fclose(c->f) != 0 && !c->error)
		c->error = errno ? errno : EIO;
	if (c->error)
		rc = edl_error_set(err, EDL_E_IO, "writing the capture %s failed: %s", c->path,
		                   strerror(c->error));
	free(c->iobuf);
	free(c->path);
	free(c);
	return rc;
}
