/*
 * A small libusb host for the emulator's end-to-end tests, with no emulator
 * code inside: it runs under `edlstation emulate` like any third-party
 * program. It checks what a host sees of the emulated devices and talks to
 * them the way a flasher does (Sahara upload of a synthetic programmer, then
 * Firehose configure and one <program> whose raw data goes out as 1 MiB
 * transfers, several in flight), so the tests can measure throughput and
 * compare the dumped storage with what was written.
 *
 *   edl_host list N SERIAL         N EDL devices on ports 1-1.1.. (7 per hub) with
 *                                  serials SERIAL, +1 ...; reads each HELLO
 *   edl_host flash [--port P] [--mib M] [--inflight K] [--seed S]
 *                                  flash M MiB of pattern S at sector 0 of LUN 0 and
 *                                  reset; prints the raw data rate
 *   edl_host line UNITS [--mib M]  flash units as they arrive until UNITS distinct
 *                                  serials were flashed
 *   --power-delay S                (flash, line) reset with DelayInSeconds="S", as qdl
 *                                  and QFirehose do (10)
 *   edl_host reenum                upload, configure, <power value="reset_to_edl"/>; the
 *                                  same unit must come back on its port with a HELLO
 *   edl_host check-dump FILE M S   FILE starts with M MiB of pattern S
 *   edl_host mkprog FILE SIZE      write a synthetic programmer (ELF)
 *
 * Exit status: 0 success, 1 failure, 3 the device refused a command (NAK),
 * 4 the device went away.
 */
#include <errno.h>
#include <libusb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "edlstation/elf_image.h"

#define EXIT_NAK 3
#define EXIT_GONE 4
#define CHUNK (1024 * 1024)
#define SECTOR 4096

static unsigned power_delay; /* DelayInSeconds of the reset; 0 = none */

struct host {
	libusb_context *usb;
	libusb_device_handle *h;
	char port[32];
	char serial[16];
	uint8_t *prog;
	size_t prog_len;
	char rx[65536];
	size_t rx_len;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* The bytes at [off, off+len) of pattern seed (off and len multiples of 8). */
static void pattern(uint8_t *buf, size_t len, uint64_t off, uint64_t seed)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = mix((off + i) / 8 ^ seed << 40);

		memcpy(buf + i, &v, 8);
	}
}

static void port_path(libusb_device *dev, char *buf, size_t len)
{
	uint8_t ports[8];
	int n = libusb_get_port_numbers(dev, ports, 8);
	int off = snprintf(buf, len, "%d", libusb_get_bus_number(dev));

	for (int i = 0; i < n && off < (int)len; i++)
		off += snprintf(buf + off, len - (size_t)off, "%s%d", i ? "." : "-", ports[i]);
}

/* The serial from iProduct "QUSB__BULK_SN:1A2B3C4D". */
static int read_serial(libusb_device_handle *h, char *serial, size_t len)
{
	struct libusb_device_descriptor dd;
	char product[128];
	const char *sn;

	libusb_get_device_descriptor(libusb_get_device(h), &dd);
	if (libusb_get_string_descriptor_ascii(h, dd.iProduct, (unsigned char *)product,
	                                       sizeof(product)) < 0)
		return -1;
	sn = strstr(product, "_SN:");
	if (!sn || strncmp(product, "QUSB__BULK", 10) != 0)
		return -1;
	snprintf(serial, len, "%s", sn + 4);
	return 0;
}

static int bulk_in(struct host *s, uint8_t *buf, int len, unsigned timeout)
{
	int got = 0, r = libusb_bulk_transfer(s->h, 0x81, buf, len, &got, timeout);

	return r < 0 ? r : got;
}

static int bulk_out(struct host *s, const void *buf, int len)
{
	int done = 0, r = libusb_bulk_transfer(s->h, 0x01, (unsigned char *)buf, len, &done, 5000);

	if (r < 0)
		return r;
	return done == len ? 0 : LIBUSB_ERROR_IO;
}

static int usb_fail(struct host *s, const char *what, int r)
{
	fprintf(stderr, "edl_host: %s %s: %s: %s\n", s->port, s->serial, what,
	        libusb_error_name(r));
	return r == LIBUSB_ERROR_NO_DEVICE || r == LIBUSB_ERROR_PIPE ? EXIT_GONE : 1;
}

/* ---- Sahara: upload the programmer ---- */

static int sahara_upload(struct host *s)
{
	uint8_t pkt[4096], resp[48];
	int n;

	n = bulk_in(s, pkt, sizeof(pkt), 3000);
	if (n < 0)
		return usb_fail(s, "reading HELLO", n);
	if (n != 48 || get_le32(pkt) != 1 || get_le32(pkt + 4) != 48) {
		fprintf(stderr, "edl_host: %s: expected a 48-byte HELLO, got %d bytes\n", s->port,
		        n);
		return 1;
	}
	memset(resp, 0, sizeof(resp));
	put_le32(resp, 2);
	put_le32(resp + 4, 48);
	put_le32(resp + 8, 2);
	put_le32(resp + 12, 1);
	if ((n = bulk_out(s, resp, 48)) < 0)
		return usb_fail(s, "sending HELLO_RESP", n);
	for (;;) {
		uint64_t off, len;
		uint32_t cmd;

		n = bulk_in(s, pkt, sizeof(pkt), 3000);
		if (n < 0)
			return usb_fail(s, "reading a Sahara request", n);
		if (n < 8)
			return fprintf(stderr, "edl_host: short Sahara packet\n"), 1;
		cmd = get_le32(pkt);
		if (cmd == 3 && n >= 20) {
			off = get_le32(pkt + 12);
			len = get_le32(pkt + 16);
		} else if (cmd == 0x12 && n >= 32) {
			off = get_le64(pkt + 16);
			len = get_le64(pkt + 24);
		} else if (cmd == 4 && n >= 16) {
			if (get_le32(pkt + 12) != 0) {
				fprintf(stderr, "edl_host: END_OF_IMAGE status %u\n",
				        get_le32(pkt + 12));
				return 1;
			}
			put_le32(resp, 5);
			put_le32(resp + 4, 8);
			if ((n = bulk_out(s, resp, 8)) < 0)
				return usb_fail(s, "sending DONE", n);
			n = bulk_in(s, pkt, sizeof(pkt), 3000);
			if (n < 12 || get_le32(pkt) != 6)
				return fprintf(stderr, "edl_host: no DONE_RESP\n"), 1;
			return 0;
		} else {
			fprintf(stderr, "edl_host: unexpected Sahara command %u\n", cmd);
			return 1;
		}
		if (off > s->prog_len || len > s->prog_len - off || len > INT32_MAX) {
			fprintf(stderr, "edl_host: READ_DATA outside the programmer\n");
			return 1;
		}
		if ((n = bulk_out(s, s->prog + off, (int)len)) < 0)
			return usb_fail(s, "sending programmer data", n);
	}
}

/* ---- Firehose ---- */

/* Reads device documents until a <response>; 1 = ACK, 0 = NAK, < 0 error. */
static int fh_response(struct host *s, char *attrs, size_t alen)
{
	for (int tries = 0; tries < 200; tries++) {
		char *end = NULL, *resp;
		int n;

		s->rx[s->rx_len] = '\0';
		while ((end = strstr(s->rx, "</data>"))) {
			size_t doc = (size_t)(end + 7 - s->rx);
			char save = s->rx[doc];

			s->rx[doc] = '\0';
			resp = strstr(s->rx, "<response");
			if (resp) {
				int ack = strstr(resp, "value=\"ACK\"") != NULL;

				snprintf(attrs, alen, "%s", resp);
				s->rx[doc] = save;
				memmove(s->rx, s->rx + doc, s->rx_len - doc + 1);
				s->rx_len -= doc;
				return ack;
			}
			if (getenv("EDL_HOST_VERBOSE"))
				fprintf(stderr, "edl_host: %s\n", s->rx);
			s->rx[doc] = save;
			memmove(s->rx, s->rx + doc, s->rx_len - doc + 1);
			s->rx_len -= doc;
		}
		if (s->rx_len + 4096 >= sizeof(s->rx))
			return -1;
		n = bulk_in(s, (uint8_t *)s->rx + s->rx_len, 4096, 10000);
		if (n < 0)
			return n;
		s->rx_len += (size_t)n;
	}
	return -1;
}

static int fh_command(struct host *s, const char *body, char *attrs, size_t alen)
{
	char doc[1024];
	int n = snprintf(doc, sizeof(doc), "<?xml version=\"1.0\" ?><data>%s</data>", body);
	int r = bulk_out(s, doc, n);

	if (r < 0)
		return r;
	return fh_response(s, attrs, alen);
}

struct pipe {
	struct host *s;
	uint64_t total, submitted, done;
	uint64_t seed;
	int inflight, error;
	uint8_t *bufs;
};

static void LIBUSB_CALL pipe_cb(struct libusb_transfer *t)
{
	struct pipe *p = t->user_data;

	p->inflight--;
	if (t->status != LIBUSB_TRANSFER_COMPLETED || t->actual_length != t->length) {
		p->error = t->status == LIBUSB_TRANSFER_NO_DEVICE ? LIBUSB_ERROR_NO_DEVICE
		                                                  : LIBUSB_ERROR_IO;
		return;
	}
	p->done += (uint64_t)t->actual_length;
	if (p->submitted < p->total) {
		uint64_t len = p->total - p->submitted < CHUNK ? p->total - p->submitted : CHUNK;

		pattern(t->buffer, len, p->submitted, p->seed);
		t->length = (int)len;
		int r = libusb_submit_transfer(t);

		if (r == 0) {
			p->submitted += len;
			p->inflight++;
		} else {
			p->error = r;
		}
	}
}

/* Streams total bytes of the pattern with `inflight` transfers of 1 MiB. */
static int raw_stream(struct host *s, uint64_t total, int inflight, uint64_t seed)
{
	struct pipe p = {s, total, 0, 0, seed, 0, 0, NULL};
	struct libusb_transfer *t[16];
	int k;

	p.bufs = malloc((size_t)CHUNK * (size_t)inflight);
	if (!p.bufs)
		return LIBUSB_ERROR_NO_MEM;
	for (k = 0; k < inflight; k++) {
		uint64_t len = total - p.submitted < CHUNK ? total - p.submitted : CHUNK;

		t[k] = libusb_alloc_transfer(0);
		if (!len)
			continue;
		pattern(p.bufs + (size_t)k * CHUNK, len, p.submitted, seed);
		libusb_fill_bulk_transfer(t[k], s->h, 0x01, p.bufs + (size_t)k * CHUNK, (int)len,
		                          pipe_cb, &p, 10000);
		int r = libusb_submit_transfer(t[k]);

		if (r != 0) {
			p.error = r;
			break;
		}
		p.submitted += len;
		p.inflight++;
	}
	while (p.inflight > 0) {
		struct timeval tv = {1, 0};

		libusb_handle_events_timeout_completed(s->usb, &tv, NULL);
	}
	for (int i = 0; i < inflight; i++)
		libusb_free_transfer(t[i]);
	free(p.bufs);
	return p.error ? p.error : 0;
}

static int flash(struct host *s, uint64_t mib, int inflight, uint64_t seed, bool reset)
{
	char attrs[2048], body[512];
	uint64_t bytes = mib * 1024 * 1024;
	double t0, dt;
	int r;

	r = sahara_upload(s);
	if (r)
		return r;
	snprintf(body, sizeof(body),
	         "<configure MemoryName=\"ufs\" MaxPayloadSizeToTargetInBytes=\"%d\" "
	         "ZlpAwareHost=\"1\" SkipStorageInit=\"0\" Verbose=\"0\" />",
	         CHUNK);
	r = fh_command(s, body, attrs, sizeof(attrs));
	if (r != 1)
		goto fail_cmd;
	snprintf(body, sizeof(body),
	         "<program SECTOR_SIZE_IN_BYTES=\"%d\" num_partition_sectors=\"%llu\" "
	         "physical_partition_number=\"0\" start_sector=\"0\" filename=\"pattern.bin\" />",
	         SECTOR, (unsigned long long)(bytes / SECTOR));
	r = fh_command(s, body, attrs, sizeof(attrs));
	if (r != 1 || !strstr(attrs, "rawmode=\"true\""))
		goto fail_cmd;
	t0 = now_s();
	r = raw_stream(s, bytes, inflight, seed);
	if (r < 0)
		return usb_fail(s, "streaming raw data", r);
	r = fh_response(s, attrs, sizeof(attrs));
	dt = now_s() - t0;
	if (r != 1)
		goto fail_cmd;
	printf("flash %s %s: %llu MiB in %.3f s = %.1f MB/s (%d x 1 MiB in flight)\n", s->port,
	       s->serial, (unsigned long long)mib, dt, (double)bytes / dt / 1e6, inflight);
	if (reset) {
		char power[96];

		if (power_delay)
			snprintf(power, sizeof(power),
			         "<power value=\"reset\" DelayInSeconds=\"%u\" />", power_delay);
		else
			snprintf(power, sizeof(power), "<power value=\"reset\" />");
		r = fh_command(s, power, attrs, sizeof(attrs));
		if (r != 1)
			goto fail_cmd;
	}
	return 0;
fail_cmd:
	if (r < 0)
		return usb_fail(s, "Firehose command", r);
	fprintf(stderr, "edl_host: %s %s: refused: %s\n", s->port, s->serial, attrs);
	return EXIT_NAK;
}

static int open_device(struct host *s, libusb_device *dev)
{
	int r = libusb_open(dev, &s->h);

	port_path(dev, s->port, sizeof(s->port));
	if (r < 0)
		return r;
	if (read_serial(s->h, s->serial, sizeof(s->serial)) < 0)
		snprintf(s->serial, sizeof(s->serial), "?");
	r = libusb_claim_interface(s->h, 0);
	if (r < 0) {
		libusb_close(s->h);
		s->h = NULL;
	}
	s->rx_len = 0;
	return r;
}

static void close_device(struct host *s)
{
	if (s->h) {
		libusb_release_interface(s->h, 0);
		libusb_close(s->h);
		s->h = NULL;
	}
}

static bool is_edl(libusb_device *dev)
{
	struct libusb_device_descriptor dd;

	return libusb_get_device_descriptor(dev, &dd) == 0 && dd.idVendor == 0x05c6 &&
	       dd.idProduct == 0x9008;
}

static int cmd_list(struct host *s, int want, uint32_t first)
{
	libusb_device **list;
	ssize_t n = libusb_get_device_list(s->usb, &list);
	int found = 0, bad = 0;

	for (ssize_t i = 0; i < n; i++) {
		char expect_port[32], expect_sn[16];
		uint8_t hello[4096];
		int r, idx;
		unsigned hub, port;

		if (!is_edl(list[i]))
			continue;
		found++;
		if (open_device(s, list[i]) < 0) {
			fprintf(stderr, "edl_host: cannot open %s\n", s->port);
			bad++;
			continue;
		}
		if (sscanf(s->port, "1-%u.%u", &hub, &port) != 2 || hub < 1 || port < 1 ||
		    port > 7) {
			fprintf(stderr, "edl_host: unexpected port path %s\n", s->port);
			bad++;
		} else {
			idx = (int)((hub - 1) * 7 + port - 1);
			snprintf(expect_port, sizeof(expect_port), "1-%u.%u", hub, port);
			snprintf(expect_sn, sizeof(expect_sn), "%08X", first + (uint32_t)idx);
			if (idx >= want || strcmp(s->serial, expect_sn) != 0) {
				fprintf(stderr, "edl_host: %s has serial %s, expected %s\n",
				        s->port, s->serial, expect_sn);
				bad++;
			}
		}
		r = bulk_in(s, hello, sizeof(hello), 2000);
		if (r != 48 || get_le32(hello) != 1 || get_le32(hello + 4) != 48) {
			fprintf(stderr, "edl_host: %s: no HELLO (%d)\n", s->port, r);
			bad++;
		} else {
			printf("%s %s HELLO version %u mode %u\n", s->port, s->serial,
			       get_le32(hello + 8), get_le32(hello + 20));
		}
		close_device(s);
	}
	libusb_free_device_list(list, 1);
	if (found != want) {
		fprintf(stderr, "edl_host: found %d EDL devices, expected %d\n", found, want);
		return 1;
	}
	return bad ? 1 : 0;
}

static int cmd_flash(struct host *s, const char *port, uint64_t mib, int inflight, uint64_t seed)
{
	libusb_device **list;
	ssize_t n;
	int r = 1;

	for (int tries = 0; tries < 300 && r == 1; tries++) {
		n = libusb_get_device_list(s->usb, &list);
		for (ssize_t i = 0; i < n; i++) {
			char path[32];

			port_path(list[i], path, sizeof(path));
			if (!is_edl(list[i]) || (port && strcmp(path, port) != 0))
				continue;
			r = open_device(s, list[i]);
			if (r < 0) {
				r = 1;
				continue;
			}
			r = flash(s, mib, inflight, seed, true);
			close_device(s);
			break;
		}
		libusb_free_device_list(list, 1);
		if (r == 1 && !s->port[0])
			usleep(10000);
		else
			break;
	}
	return r;
}

static int cmd_line(struct host *s, int units, uint64_t mib)
{
	char seen[256][16];
	int n_seen = 0;
	double deadline = now_s() + 120;

	while (n_seen < units && now_s() < deadline) {
		libusb_device **list;
		ssize_t n = libusb_get_device_list(s->usb, &list);

		for (ssize_t i = 0; i < n && n_seen < units; i++) {
			bool known = false;
			int r;

			if (!is_edl(list[i]) || open_device(s, list[i]) < 0)
				continue;
			for (int k = 0; k < n_seen; k++)
				known |= strcmp(seen[k], s->serial) == 0;
			if (known) {
				close_device(s);
				continue;
			}
			r = flash(s, mib, 2, 1, true);
			close_device(s);
			if (r) {
				libusb_free_device_list(list, 1);
				return r;
			}
			snprintf(seen[n_seen++], sizeof(seen[0]), "%s", s->serial);
		}
		libusb_free_device_list(list, 1);
		usleep(20000);
	}
	printf("line: %d units flashed\n", n_seen);
	return n_seen == units ? 0 : 1;
}

/* Finds the EDL device at port (any when NULL), waiting up to 3 s; opens it. */
static int open_port(struct host *s, const char *port)
{
	for (int tries = 0; tries < 300; tries++) {
		libusb_device **list;
		ssize_t n = libusb_get_device_list(s->usb, &list);
		int r = -1;

		for (ssize_t i = 0; i < n && r < 0; i++) {
			char path[32];

			port_path(list[i], path, sizeof(path));
			if (is_edl(list[i]) && (!port || !strcmp(path, port)))
				r = open_device(s, list[i]);
		}
		libusb_free_device_list(list, 1);
		if (r == 0)
			return 0;
		usleep(10000);
	}
	return -1;
}

static int cmd_reenum(struct host *s)
{
	char attrs[2048], port[32], serial[16];
	uint8_t hello[4096];
	int addr, r;

	if (open_port(s, NULL) < 0)
		return fprintf(stderr, "edl_host: no EDL device\n"), 1;
	snprintf(port, sizeof(port), "%s", s->port);
	snprintf(serial, sizeof(serial), "%s", s->serial);
	addr = libusb_get_device_address(libusb_get_device(s->h));
	r = sahara_upload(s);
	if (!r && fh_command(s,
	                     "<configure MemoryName=\"ufs\" MaxPayloadSizeToTargetInBytes="
	                     "\"1048576\" ZlpAwareHost=\"1\" />",
	                     attrs, sizeof(attrs)) != 1)
		r = 1;
	if (!r && fh_command(s, "<power value=\"reset_to_edl\" />", attrs, sizeof(attrs)) != 1)
		r = 1;
	close_device(s);
	if (r)
		return r;
	/* The old address goes away, the unit comes back at another. */
	for (int tries = 0; tries < 300; tries++) {
		if (open_port(s, port) == 0) {
			if (libusb_get_device_address(libusb_get_device(s->h)) != addr)
				break;
			close_device(s);
		}
		usleep(10000);
	}
	if (!s->h)
		return fprintf(stderr, "edl_host: %s did not come back\n", port), 1;
	r = bulk_in(s, hello, sizeof(hello), 2000);
	if (r != 48 || get_le32(hello) != 1 || strcmp(s->serial, serial) != 0) {
		fprintf(stderr, "edl_host: %s came back as %s with %d bytes, not a HELLO of %s\n",
		        port, s->serial, r, serial);
		close_device(s);
		return 1;
	}
	printf("%s %s came back at address %d with a HELLO\n", port, serial,
	       libusb_get_device_address(libusb_get_device(s->h)));
	close_device(s);
	return 0;
}

static int cmd_check_dump(const char *file, uint64_t mib, uint64_t seed)
{
	FILE *f = fopen(file, "rb");
	uint8_t *got = malloc(CHUNK), *want = malloc(CHUNK);
	int rc = 0;

	if (!f || !got || !want) {
		fprintf(stderr, "edl_host: cannot read %s: %s\n", file, strerror(errno));
		rc = 1;
		goto out;
	}
	for (uint64_t off = 0; off < mib * CHUNK; off += CHUNK) {
		if (fread(got, 1, CHUNK, f) != CHUNK) {
			fprintf(stderr, "edl_host: %s is short at %llu\n", file,
			        (unsigned long long)off);
			rc = 1;
			break;
		}
		pattern(want, CHUNK, off, seed);
		if (memcmp(got, want, CHUNK) != 0) {
			fprintf(stderr, "edl_host: %s differs in the MiB at %llu\n", file,
			        (unsigned long long)off);
			rc = 1;
			break;
		}
	}
	if (!rc)
		printf("%s: %llu MiB match\n", file, (unsigned long long)mib);
out:
	if (f)
		fclose(f);
	free(got);
	free(want);
	return rc;
}

static int cmd_mkprog(const char *file, uint64_t size)
{
	uint8_t *buf;
	size_t len;
	FILE *f;

	if (edl_elf_make_programmer(&buf, &len, (size_t)size, 7) != EDL_OK)
		return 1;
	f = fopen(file, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
		free(buf);
		return 1;
	}
	free(buf);
	return 0;
}

static uint64_t num(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || end == s) {
		fprintf(stderr, "edl_host: bad number '%s'\n", s);
		exit(1);
	}
	return v;
}

int main(int argc, char **argv)
{
	struct host s;
	const char *port = NULL;
	uint64_t mib = 16, seed = 1;
	int inflight = 4, rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&s, 0, sizeof(s));
	if (argc >= 2 && !strcmp(argv[1], "check-dump") && argc == 5)
		return cmd_check_dump(argv[2], num(argv[3]), num(argv[4]));
	if (argc >= 2 && !strcmp(argv[1], "mkprog") && argc == 4)
		return cmd_mkprog(argv[2], num(argv[3]));
	for (int i = 2; i + 1 < argc; i++) {
		if (!strcmp(argv[i], "--port"))
			port = argv[++i];
		else if (!strcmp(argv[i], "--mib"))
			mib = num(argv[++i]);
		else if (!strcmp(argv[i], "--inflight"))
			inflight = (int)num(argv[++i]);
		else if (!strcmp(argv[i], "--seed"))
			seed = num(argv[++i]);
		else if (!strcmp(argv[i], "--power-delay"))
			power_delay = (unsigned)num(argv[++i]);
	}
	if (inflight < 1 || inflight > 16)
		inflight = 4;
	if (edl_elf_make_programmer(&s.prog, &s.prog_len, 96 * 1024, 7) != EDL_OK)
		return 1;
	if (libusb_init(&s.usb) < 0) {
		free(s.prog);
		return 1;
	}
	if (argc >= 4 && !strcmp(argv[1], "list"))
		rc = cmd_list(&s, (int)num(argv[2]), (uint32_t)strtoul(argv[3], NULL, 16));
	else if (argc >= 2 && !strcmp(argv[1], "flash"))
		rc = cmd_flash(&s, port, mib, inflight, seed);
	else if (argc >= 2 && !strcmp(argv[1], "reenum"))
		rc = cmd_reenum(&s);
	else if (argc >= 3 && !strcmp(argv[1], "line"))
		rc = cmd_line(&s, (int)num(argv[2]), mib);
	else {
		fprintf(stderr, "usage: see the comment at the top of edl_host.c\n");
		rc = 1;
	}
	libusb_exit(s.usb);
	free(s.prog);
	return rc;
}
