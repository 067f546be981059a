/*
 * What a captured payload is and how to say it: Sahara packets by name with
 * their fields, Firehose XML documents as text, everything else as raw data
 * ranges. Behind `edlstation capture show`, for RMA technicians who do not
 * use Wireshark; the classifier also tells the writer what it may elide and
 * the replay what it may match by length only.
 */
#include "edlstation/capture.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "edlstation/sahara.h"

enum edl_capture_kind edl_capture_classify(const uint8_t *data, size_t captured, size_t len)
{
	if (data == NULL || captured == 0)
		return EDL_CAPTURE_KIND_RAW;
	if (captured >= 5 && memcmp(data, "<?xml", 5) == 0)
		return EDL_CAPTURE_KIND_XML;
	/* A Sahara packet: a known command id and a length field equal to the
	 * transfer (the largest is HELLO's 0x30 bytes). */
	if (len >= 8 && len <= 0x40 && captured >= 8) {
		uint32_t cmd = edl_sahara_get_le32(data), plen = edl_sahara_get_le32(data + 4);

		if (cmd >= EDL_SAHARA_HELLO && cmd <= EDL_SAHARA_RESET_STATE_MACHINE && plen == len)
			return EDL_CAPTURE_KIND_SAHARA;
	}
	return EDL_CAPTURE_KIND_RAW;
}

const char *edl_capture_sahara_describe(const uint8_t *p, size_t len, char *out, size_t cap)
{
	uint32_t cmd = len >= 4 ? edl_sahara_get_le32(p) : 0;
	const char *name = edl_sahara_cmd_name(cmd);
#define U32(off) (len >= (off) + 4 ? edl_sahara_get_le32(p + (off)) : 0)
#define U64(off) (len >= (off) + 8 ? edl_sahara_get_le64(p + (off)) : 0)

	switch (cmd) {
	case EDL_SAHARA_HELLO:
	case EDL_SAHARA_HELLO_RESP:
		if (cmd == EDL_SAHARA_HELLO)
			snprintf(out, cap, "%s version %u compatible %u max-command %u mode %s",
			         name, U32(8), U32(12), U32(16), edl_sahara_mode_name(U32(20)));
		else
			snprintf(out, cap, "%s version %u compatible %u status %u mode %s", name,
			         U32(8), U32(12), U32(16), edl_sahara_mode_name(U32(20)));
		break;
	case EDL_SAHARA_READ_DATA:
		snprintf(out, cap, "%s image %u offset %u length %u", name, U32(8), U32(12),
		         U32(16));
		break;
	case EDL_SAHARA_READ_DATA64:
		snprintf(out, cap, "%s image %" PRIu64 " offset %" PRIu64 " length %" PRIu64, name,
		         U64(8), U64(16), U64(24));
		break;
	case EDL_SAHARA_END_OF_IMAGE:
		snprintf(out, cap, "%s image %u status %u (%s)", name, U32(8), U32(12),
		         edl_sahara_status_name(U32(12)));
		break;
	case EDL_SAHARA_DONE_RESP:
		snprintf(out, cap, "%s image-tx-status %u (%s)", name, U32(8),
		         U32(8) ? "complete" : "pending");
		break;
	case EDL_SAHARA_SWITCH_MODE:
		snprintf(out, cap, "%s mode %s", name, edl_sahara_mode_name(U32(8)));
		break;
	case EDL_SAHARA_EXECUTE:
	case EDL_SAHARA_EXECUTE_DATA:
		snprintf(out, cap, "%s client-command %u", name, U32(8));
		break;
	case EDL_SAHARA_EXECUTE_RESP:
		snprintf(out, cap, "%s client-command %u data-length %u", name, U32(8), U32(12));
		break;
	case EDL_SAHARA_MEMORY_DEBUG:
	case EDL_SAHARA_MEMORY_READ:
		snprintf(out, cap, "%s address 0x%x length %u", name, U32(8), U32(12));
		break;
	case EDL_SAHARA_MEMORY_DEBUG64:
	case EDL_SAHARA_MEMORY_READ64:
		snprintf(out, cap, "%s address 0x%" PRIx64 " length %" PRIu64, name, U64(8),
		         U64(16));
		break;
	default:
		snprintf(out, cap, "%s", name);
		break;
	}
#undef U32
#undef U64
	return out;
}

/* Raw transfers in a row, shown as one range. */
struct raw_run {
	bool open;
	bool in;
	uint64_t first, bytes, elided;
	unsigned transfers;
	double t;
};

struct direction {
	uint64_t stream; /* bulk bytes so far in this direction */
};

static void flush_raw(FILE *f, struct raw_run *rr)
{
	if (!rr->open)
		return;
	fprintf(f,
	        "%12.6f  %-3s  raw data: bytes %" PRIu64 "..%" PRIu64 " of the %s stream (%" PRIu64
	        " bytes in %u transfer%s",
	        rr->t, rr->in ? "IN" : "OUT", rr->first, rr->first + rr->bytes - 1,
	        rr->in ? "IN" : "OUT", rr->bytes, rr->transfers, rr->transfers == 1 ? "" : "s");
	if (rr->elided)
		fprintf(f, ", %" PRIu64 " elided from the capture", rr->elided);
	fprintf(f, ")\n");
	rr->open = false;
}

static void print_xml(FILE *f, const uint8_t *d, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i;

		while (j < n && d[j] != '\n')
			j++;
		size_t e = j;
		while (e > i && (d[e - 1] == '\r' || d[e - 1] == ' ' || d[e - 1] == '\t'))
			e--;
		if (e > i) {
			fputs("                    ", f);
			for (size_t k = i; k < e; k++)
				fputc(d[k] >= 0x20 && d[k] < 0x7f ? d[k] : '.', f);
			fputc('\n', f);
		}
		i = j + 1;
	}
}

static const char *status_name(int32_t s)
{
	switch (s) {
	case 0:
		return "ok";
	case -2:
		return "ENOENT: unlinked (timeout or cancel)";
	case -104:
		return "ECONNRESET: cancelled";
	case -108:
		return "ESHUTDOWN: device gone";
	case -19:
		return "ENODEV: device gone";
	case -32:
		return "EPIPE: stall";
	case -71:
		return "EPROTO: protocol error";
	case -75:
		return "EOVERFLOW: babble";
	case -110:
		return "ETIMEDOUT";
	default:
		return "error";
	}
}

int edl_capture_show(FILE *f, const char *path, bool all_raw, struct edl_error *err)
{
	struct edl_capture_reader r;
	struct edl_capture_packet p = {0};
	struct raw_run rr = {0};
	struct direction dir[2] = {{0}, {0}};
	uint8_t *buf = NULL;
	size_t len = 0, shown_if = 0;
	int64_t t0 = -1;
	uint64_t packets = 0, bulk = 0;
	struct {
		uint64_t image, offset, length;
	} sahara_read = {0, 0, 0};
	bool exec_pending = false;
	uint32_t exec_cmd = 0;
	int rc;

	rc = edl_capture_load(path, &buf, &len, err);
	if (rc != EDL_OK)
		return rc;
	rc = edl_capture_reader_init(&r, buf, len, path, err);
	if (rc != EDL_OK)
		goto out;
	fprintf(f, "%s: %s, %zu bytes\n", path, r.pcapng ? "pcapng" : "pcap", len);
	while ((rc = edl_capture_reader_next(&r, &p, err)) == 1) {
		const struct edl_capture_event *ev = &p.ev;
		bool in = ev->endpoint & 0x80;
		char line[256];

		packets++;
		for (; shown_if < r.n_if; shown_if++)
			fprintf(f, "interface %zu: %s%s%s (link type %u)\n", shown_if,
			        r.ifs[shown_if].name[0] ? r.ifs[shown_if].name : "(unnamed)",
			        r.ifs[shown_if].description[0] ? ": " : "",
			        r.ifs[shown_if].description, r.ifs[shown_if].linktype);
		if (t0 < 0)
			t0 = ev->ts_us;
		double t = (double)(ev->ts_us - t0) / 1e6;

		if (ev->xfer_type == EDL_CAPTURE_CONTROL) {
			if (ev->type == 'C' && in && ev->data_len >= 2 && ev->data[1] == 3) {
				size_t k = 0;
				for (size_t i = 2; i + 1 < ev->data_len && k + 1 < sizeof(line);
				     i += 2)
					line[k++] = ev->data[i] >= 0x20 && ev->data[i] < 0x7f
					                    ? (char)ev->data[i]
					                    : '?';
				line[k] = '\0';
				flush_raw(f, &rr);
				fprintf(f, "%12.6f  CTL  string descriptor \"%s\" (device %u:%u)\n",
				        t, line, ev->bus, ev->devnum);
			}
			continue;
		}
		if (ev->xfer_type != EDL_CAPTURE_BULK)
			continue;
		/* OUT data is in the submission, IN data in the completion. */
		if (ev->type == 'C' && ev->status != 0 && ev->length == 0) {
			flush_raw(f, &rr);
			fprintf(f, "%12.6f  %-3s  transfer ended without data: status %d (%s)\n", t,
			        in ? "IN" : "OUT", ev->status, status_name(ev->status));
			continue;
		}
		if (in ? ev->type != 'C' : ev->type != 'S')
			continue;
		if (ev->length == 0) {
			flush_raw(f, &rr);
			fprintf(f, "%12.6f  %-3s  zero-length packet\n", t, in ? "IN" : "OUT");
			continue;
		}
		bulk++;
		enum edl_capture_kind kind =
		        edl_capture_classify(ev->data, ev->data_len, ev->length);
		uint64_t at = dir[in].stream;
		dir[in].stream += ev->length;
		/* Sahara's raw answers, named by the request they answer: the image
		 * bytes a READ_DATA asked for, a command-mode EXECUTE's data. */
		if (kind == EDL_CAPTURE_KIND_RAW && !in && sahara_read.length == ev->length) {
			flush_raw(f, &rr);
			fprintf(f,
			        "%12.6f  OUT  Sahara image %" PRIu64 " data: offset %" PRIu64
			        ", %u bytes\n",
			        t, sahara_read.image, sahara_read.offset, ev->length);
			sahara_read.length = 0;
			continue;
		}
		if (kind == EDL_CAPTURE_KIND_RAW && in && exec_pending) {
			flush_raw(f, &rr);
			exec_pending = false;
			fprintf(f,
			        "%12.6f  IN   Sahara command-mode data for client-command %u (%s), "
			        "%u bytes:",
			        t, exec_cmd,
			        exec_cmd == 1    ? "serial"
			        : exec_cmd == 2  ? "MSM HW id"
			        : exec_cmd == 3  ? "OEM PK hash"
			        : exec_cmd == 7  ? "SBL version"
			        : exec_cmd == 10 ? "chip id (v3)"
			                         : "other",
			        ev->length);
			for (uint32_t i = 0; i < ev->data_len && i < 48; i++)
				fprintf(f, "%s%02x", i % 4 ? "" : " ", ev->data[i]);
			fprintf(f, "%s\n", ev->data_len > 48 ? " ..." : "");
			continue;
		}
		sahara_read.length = 0;
		exec_pending = false;
		if (kind == EDL_CAPTURE_KIND_SAHARA && ev->data_len >= 8) {
			uint32_t cmd = edl_sahara_get_le32(ev->data);
			if (in && cmd == EDL_SAHARA_READ_DATA && ev->data_len >= 20) {
				sahara_read.image = edl_sahara_get_le32(ev->data + 8);
				sahara_read.offset = edl_sahara_get_le32(ev->data + 12);
				sahara_read.length = edl_sahara_get_le32(ev->data + 16);
			} else if (in && cmd == EDL_SAHARA_READ_DATA64 && ev->data_len >= 32) {
				sahara_read.image = edl_sahara_get_le64(ev->data + 8);
				sahara_read.offset = edl_sahara_get_le64(ev->data + 16);
				sahara_read.length = edl_sahara_get_le64(ev->data + 24);
			} else if (!in && cmd == EDL_SAHARA_EXECUTE_DATA && ev->data_len >= 12) {
				exec_pending = true;
				exec_cmd = edl_sahara_get_le32(ev->data + 8);
			}
		}
		if (kind == EDL_CAPTURE_KIND_RAW && !all_raw) {
			if (rr.open && (rr.in != in || rr.first + rr.bytes != at))
				flush_raw(f, &rr);
			if (!rr.open) {
				rr = (struct raw_run){.open = true, .in = in, .first = at, .t = t};
			}
			rr.bytes += ev->length;
			rr.elided += ev->length - ev->data_len;
			rr.transfers++;
			continue;
		}
		flush_raw(f, &rr);
		if (kind == EDL_CAPTURE_KIND_SAHARA) {
			fprintf(f, "%12.6f  %-3s  Sahara %s\n", t, in ? "IN" : "OUT",
			        edl_capture_sahara_describe(ev->data, ev->data_len, line,
			                                    sizeof(line)));
		} else if (kind == EDL_CAPTURE_KIND_XML) {
			fprintf(f, "%12.6f  %-3s  Firehose XML, %u bytes:\n", t, in ? "IN" : "OUT",
			        ev->length);
			print_xml(f, ev->data, ev->data_len);
		} else {
			fprintf(f,
			        "%12.6f  %-3s  raw data: bytes %" PRIu64 "..%" PRIu64
			        " (%u bytes)\n",
			        t, in ? "IN" : "OUT", at, at + ev->length - 1, ev->length);
		}
	}
	flush_raw(f, &rr);
	if (rc == 0) {
		fprintf(f,
		        "%" PRIu64 " packets, %" PRIu64 " bulk transfers with data; OUT %" PRIu64
		        " bytes, IN %" PRIu64 " bytes\n",
		        packets, bulk, dir[0].stream, dir[1].stream);
		rc = EDL_OK;
	}
out:
	free(buf);
	return rc;
}
