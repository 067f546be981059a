/*
 * Tests of the emulated USB bus (testbed.c, usbfs.c) in one process: a
 * umockdev testbed with devices driven by a small echo model, and libusb as the
 * host, the way the station and third-party tools see them. They assert on
 * what the host observes: descriptors and port paths, bytes and transfer
 * boundaries (short packets, ZLPs, overflow), timeouts, hotplug, the time
 * the rate model makes transfers take, the ZLPs the model is handed, and a
 * device that stalls (hangs with its OUT endpoint full).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <libusb.h>
#include <linux/usbdevice_fs.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emulator/emu.h"

/* ---- the echo model ---- */

struct echo {
	GQueue q;     /* GBytes *, device->host transfers */
	GBytes *last; /* the chunk handed out last */
	GQueue zlp;   /* parallel to q: GINT_TO_POINTER(zlp) */
	uint64_t sink_left, sunk;
	uint64_t late_at;
	unsigned transfers;
	GArray *fed;       /* size_t: the length of every transfer fed, ZLPs included */
	uint64_t total;    /* bytes fed */
	uint64_t stall_at; /* stalled once total reaches it; 0 = never */
};

static void echo_queue(struct echo *e, const void *data, size_t len, bool zlp)
{
	g_queue_push_tail(&e->q, g_bytes_new(data, len));
	g_queue_push_tail(&e->zlp, GINT_TO_POINTER(zlp));
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static int echo_feed(void *model, const uint8_t *data, size_t len, uint64_t now)
{
	struct echo *e = model;

	e->transfers++;
	e->total += len;
	g_array_append_val(e->fed, len);
	if (e->sink_left) {
		size_t n = len < e->sink_left ? len : (size_t)e->sink_left;

		e->sink_left -= n;
		e->sunk += n;
		if (!e->sink_left) {
			uint8_t r[12] = {'D', 'O', 'N', 'E'};

			for (int i = 0; i < 8; i++)
				r[4 + i] = (uint8_t)(e->sunk >> (8 * i));
			echo_queue(e, r, sizeof(r), true);
		}
		return 0;
	}
	if (len >= 4 && memcmp(data, "ECHO", 4) == 0)
		echo_queue(e, data, len, true);
	else if (len >= 4 && memcmp(data, "NOZL", 4) == 0)
		echo_queue(e, data, len, false);
	else if (len >= 12 && memcmp(data, "SINK", 4) == 0) {
		e->sink_left = le64(data + 4);
		e->sunk = 0;
	} else if (len >= 8 && memcmp(data, "LATE", 4) == 0)
		e->late_at = now + (data[4] | data[5] << 8);
	return 0;
}

static bool echo_next_in(void *model, struct edl_chunk *out, uint64_t now)
{
	struct echo *e = model;
	gsize n;

	(void)now;
	if (!e->q.length)
		return false;
	if (e->last)
		g_bytes_unref(e->last);
	e->last = g_queue_pop_head(&e->q);
	out->data = g_bytes_get_data(e->last, &n);
	out->len = n;
	out->zlp = GPOINTER_TO_INT(g_queue_pop_head(&e->zlp));
	return true;
}

static uint64_t echo_deadline(void *model)
{
	return ((struct echo *)model)->late_at;
}

static void echo_timeout(void *model, uint64_t now)
{
	struct echo *e = model;

	if (e->late_at && now >= e->late_at) {
		e->late_at = 0;
		echo_queue(e, "LATE", 4, true);
	}
}

static bool echo_stalled(void *model)
{
	struct echo *e = model;

	return e->stall_at && e->total >= e->stall_at;
}

static const struct edl_emu_model_ops echo_ops = {echo_feed, echo_next_in, echo_deadline,
                                                  echo_timeout, echo_stalled};

static struct echo *echo_new(uint32_t serial)
{
	struct echo *e = g_new0(struct echo, 1);
	uint8_t hello[48] = {'H', 'E', 'L', 'L', 'O'};

	g_queue_init(&e->q);
	g_queue_init(&e->zlp);
	e->fed = g_array_new(FALSE, FALSE, sizeof(size_t));
	snprintf((char *)hello + 8, 16, "%08X", serial);
	echo_queue(e, hello, sizeof(hello), true);
	return e;
}

static void echo_free(struct echo *e)
{
	GBytes *b;

	while ((b = g_queue_pop_head(&e->q)))
		g_bytes_unref(b);
	g_queue_clear(&e->zlp);
	g_array_free(e->fed, TRUE);
	if (e->last)
		g_bytes_unref(e->last);
	g_free(e);
}

/* ---- fixture ---- */

struct fixture {
	struct edl_emu_bed *bed;
	libusb_context *usb;
	struct edl_emu_dev *dev[8];
	struct echo *model[8];
	unsigned n;
};

static struct edl_emu_dev *plug(struct fixture *f, unsigned hub, unsigned port, uint32_t serial,
                                uint64_t rate)
{
	struct edl_error err;
	struct edl_emu_dev_config cfg = {hub, port, serial, &echo_ops, NULL, rate, NULL, 0x9008};
	unsigned i = f->n++;

	assert_true(i < 8);
	f->model[i] = echo_new(serial);
	cfg.model = f->model[i];
	assert_int_equal(edl_emu_dev_plug(&f->dev[i], f->bed, &cfg, &err), EDL_OK);
	return f->dev[i];
}

static int setup(void **state)
{
	struct fixture *f = g_new0(struct fixture, 1);
	struct edl_error err;

	assert_int_equal(edl_emu_bed_new(&f->bed, &err), EDL_OK);
	assert_int_equal(edl_emu_bed_add_hub(f->bed, 1, 7, 0, &err), EDL_OK);
	assert_int_equal(edl_emu_bed_add_hub(f->bed, 2, 4, 0, &err), EDL_OK);
	*state = f;
	return 0;
}

static void start_usb(struct fixture *f)
{
	assert_int_equal(libusb_init(&f->usb), 0);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->usb)
		libusb_exit(f->usb);
	edl_emu_bed_free(f->bed);
	for (unsigned i = 0; i < f->n; i++)
		echo_free(f->model[i]);
	g_free(f);
	return 0;
}

static void port_path(libusb_device *dev, char *buf, size_t len)
{
	uint8_t ports[8];
	int n = libusb_get_port_numbers(dev, ports, 8);
	int off = snprintf(buf, len, "%d", libusb_get_bus_number(dev));

	for (int i = 0; i < n; i++)
		off += snprintf(buf + off, len - (size_t)off, "%s%d", i ? "." : "-", ports[i]);
}

/* Opens the EDL device at a port, waiting up to 3 s for it to show up. */
static libusb_device_handle *open_port(struct fixture *f, const char *want)
{
	for (int tries = 0; tries < 300; tries++) {
		libusb_device **list;
		libusb_device_handle *h = NULL;
		ssize_t n = libusb_get_device_list(f->usb, &list);

		for (ssize_t i = 0; i < n && !h; i++) {
			struct libusb_device_descriptor dd;
			char path[32];

			libusb_get_device_descriptor(list[i], &dd);
			port_path(list[i], path, sizeof(path));
			if (dd.idVendor == 0x05c6 && dd.idProduct == 0x9008 &&
			    strcmp(path, want) == 0)
				assert_int_equal(libusb_open(list[i], &h), 0);
		}
		libusb_free_device_list(list, 1);
		if (h) {
			assert_int_equal(libusb_claim_interface(h, 0), 0);
			return h;
		}
		g_usleep(10000);
	}
	fail_msg("no EDL device at %s", want);
	return NULL;
}

static void close_handle(libusb_device_handle *h)
{
	libusb_release_interface(h, 0);
	libusb_close(h);
}

static int bulk_in(libusb_device_handle *h, uint8_t *buf, int len, unsigned timeout)
{
	int got = -1;
	int r = libusb_bulk_transfer(h, 0x81, buf, len, &got, timeout);

	return r < 0 ? r : got;
}

static void bulk_out(libusb_device_handle *h, const void *buf, int len)
{
	int done = -1;

	assert_int_equal(libusb_bulk_transfer(h, 0x01, (unsigned char *)buf, len, &done, 2000), 0);
	assert_int_equal(done, len);
}

/* ---- tests ---- */

static void test_bus_enumerates_edl_devices_on_hub_ports(void **state)
{
	struct fixture *f = *state;
	libusb_device **list;
	unsigned seen = 0;

	plug(f, 1, 1, 0x1a2b3c4d, 0);
	plug(f, 1, 7, 0x1a2b3c4e, 0);
	plug(f, 2, 1, 0x1a2b3c4f, 0);
	start_usb(f);
	ssize_t n = libusb_get_device_list(f->usb, &list);

	for (ssize_t i = 0; i < n; i++) {
		struct libusb_device_descriptor dd;
		struct libusb_config_descriptor *cfg;
		libusb_device_handle *h;
		char path[32], product[64];

		libusb_get_device_descriptor(list[i], &dd);
		if (dd.idVendor != 0x05c6)
			continue;
		seen++;
		assert_int_equal(dd.idProduct, 0x9008);
		assert_int_equal(dd.iSerialNumber, 0);
		assert_int_equal(libusb_get_device_speed(list[i]), LIBUSB_SPEED_HIGH);
		port_path(list[i], path, sizeof(path));
		assert_int_equal(libusb_get_active_config_descriptor(list[i], &cfg), 0);
		const struct libusb_interface_descriptor *id = &cfg->interface[0].altsetting[0];
		assert_int_equal(id->bInterfaceClass, 0xff);
		assert_int_equal(id->bInterfaceSubClass, 0xff);
		assert_int_equal(id->bInterfaceProtocol, 0xff);
		assert_int_equal(id->bNumEndpoints, 2);
		assert_int_equal(id->endpoint[0].bEndpointAddress, 0x81);
		assert_int_equal(id->endpoint[0].wMaxPacketSize, 512);
		assert_int_equal(id->endpoint[1].bEndpointAddress, 0x01);
		libusb_free_config_descriptor(cfg);
		assert_int_equal(libusb_open(list[i], &h), 0);
		assert_true(libusb_get_string_descriptor_ascii(
		                    h, dd.iProduct, (unsigned char *)product, sizeof(product)) > 0);
		libusb_close(h);
		if (strcmp(path, "1-1.1") == 0)
			assert_string_equal(product, "QUSB__BULK_SN:1A2B3C4D");
		else if (strcmp(path, "1-1.7") == 0)
			assert_string_equal(product, "QUSB__BULK_SN:1A2B3C4E");
		else if (strcmp(path, "1-2.1") == 0)
			assert_string_equal(product, "QUSB__BULK_SN:1A2B3C4F");
		else
			fail_msg("unexpected port %s", path);
	}
	libusb_free_device_list(list, 1);
	assert_int_equal(seen, 3);
}

static void test_hello_waits_in_the_device_until_read(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[4096];

	plug(f, 1, 3, 0xdeadbeef, 0);
	start_usb(f);
	libusb_device_handle *h = open_port(f, "1-1.3");

	assert_int_equal(bulk_in(h, buf, sizeof(buf), 1000), 48);
	assert_memory_equal(buf, "HELLO", 5);
	assert_string_equal((char *)buf + 8, "DEADBEEF");
	/* Nothing more to say: an IN times out. */
	assert_int_equal(bulk_in(h, buf, sizeof(buf), 100), LIBUSB_ERROR_TIMEOUT);
	close_handle(h);
}

static void test_transfer_boundaries_follow_packet_rules(void **state)
{
	struct fixture *f = *state;
	uint8_t out[8192], buf[8192];

	plug(f, 1, 2, 1, 0);
	start_usb(f);
	libusb_device_handle *h = open_port(f, "1-1.2");

	assert_int_equal(bulk_in(h, buf, sizeof(buf), 1000), 48);
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 7);

	/* A short last packet ends the transfer. */
	memcpy(out, "ECHO", 4);
	bulk_out(h, out, 100);
	assert_int_equal(bulk_in(h, buf, sizeof(buf), 1000), 100);
	assert_memory_equal(buf, out, 100);

	/* A multiple of 512 with a ZLP ends too. */
	bulk_out(h, out, 1024);
	assert_int_equal(bulk_in(h, buf, sizeof(buf), 1000), 1024);
	assert_memory_equal(buf, out, 1024);

	/* Without the ZLP the next device transfer continues the host's. */
	memcpy(out, "NOZL", 4);
	bulk_out(h, out, 1024);
	memcpy(out + 1024, "ECHO", 4);
	bulk_out(h, out + 1024, 10);
	assert_int_equal(bulk_in(h, buf, sizeof(buf), 1000), 1034);
	assert_memory_equal(buf, out, 1034);

	/* A buffer filled exactly: the ZLP then completes the next read empty. */
	memcpy(out, "ECHO", 4);
	bulk_out(h, out, 4096);
	assert_int_equal(bulk_in(h, buf, 4096, 1000), 4096);
	assert_memory_equal(buf, out, 4096);
	assert_int_equal(bulk_in(h, buf, 4096, 1000), 0);

	/* A packet larger than the room left is babble. */
	bulk_out(h, out, 1000);
	assert_int_equal(bulk_in(h, buf, 700, 1000), LIBUSB_ERROR_OVERFLOW);
	close_handle(h);
}

struct async_ctx {
	int done, status, actual;
};

static void LIBUSB_CALL async_cb(struct libusb_transfer *t)
{
	struct async_ctx *a = t->user_data;

	a->done++;
	a->status = t->status;
	a->actual = t->actual_length;
}

static void wait_done(struct fixture *f, struct async_ctx *a, int want)
{
	for (int i = 0; i < 500 && a->done < want; i++) {
		struct timeval tv = {0, 10000};

		libusb_handle_events_timeout_completed(f->usb, &tv, NULL);
	}
	assert_int_equal(a->done, want);
}

static void test_in_submitted_first_completes_after_the_out_and_deadline(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[512], late[8] = {'L', 'A', 'T', 'E', 150, 0};
	struct async_ctx a = {0};
	struct libusb_transfer *t = libusb_alloc_transfer(0);

	plug(f, 1, 4, 2, 0);
	start_usb(f);
	libusb_device_handle *h = open_port(f, "1-1.4");

	assert_int_equal(bulk_in(h, buf, sizeof(buf), 1000), 48);
	libusb_fill_bulk_transfer(t, h, 0x81, buf, sizeof(buf), async_cb, &a, 5000);
	assert_int_equal(libusb_submit_transfer(t), 0);
	gint64 t0 = g_get_monotonic_time();

	bulk_out(h, late, sizeof(late));
	wait_done(f, &a, 1);
	gint64 ms = (g_get_monotonic_time() - t0) / 1000;

	assert_int_equal(a.status, LIBUSB_TRANSFER_COMPLETED);
	assert_int_equal(a.actual, 4);
	assert_memory_equal(buf, "LATE", 4);
	assert_true(ms >= 140 && ms < 2000);
	libusb_free_transfer(t);
	close_handle(h);
}

struct pipe_ctx {
	int done, submitted, total, errors;
};

static void LIBUSB_CALL pipe_cb(struct libusb_transfer *t)
{
	struct pipe_ctx *p = t->user_data;

	p->done++;
	if (t->status != LIBUSB_TRANSFER_COMPLETED || t->actual_length != t->length)
		p->errors++;
	else if (p->submitted < p->total && libusb_submit_transfer(t) == 0)
		p->submitted++;
}

static void test_four_megabyte_transfers_in_flight_reach_the_model(void **state)
{
	struct fixture *f = *state;
	const int size = 1 << 20, depth = 4;
	uint8_t *bufs = g_malloc0((size_t)size * depth), cmd[12] = {'S', 'I', 'N', 'K'}, buf[512];
	struct libusb_transfer *t[4];
	struct pipe_ctx p = {0, 0, 16, 0};

	plug(f, 1, 5, 3, 0);
	start_usb(f);
	libusb_device_handle *h = open_port(f, "1-1.5");

	assert_int_equal(bulk_in(h, buf, sizeof(buf), 1000), 48);
	for (int i = 0; i < 8; i++)
		cmd[4 + i] = (uint8_t)((uint64_t)p.total * size >> (8 * i));
	bulk_out(h, cmd, sizeof(cmd));
	for (int i = 0; i < depth; i++) {
		t[i] = libusb_alloc_transfer(0);
		libusb_fill_bulk_transfer(t[i], h, 0x01, bufs + (size_t)i * size, size, pipe_cb, &p,
		                          5000);
		assert_int_equal(libusb_submit_transfer(t[i]), 0);
		p.submitted++;
	}
	for (int i = 0; i < 1000 && p.done < p.total && !p.errors; i++) {
		struct timeval tv = {0, 10000};

		libusb_handle_events_timeout_completed(f->usb, &tv, NULL);
	}
	assert_int_equal(p.errors, 0);
	assert_int_equal(p.done, p.total);
	assert_int_equal(bulk_in(h, buf, sizeof(buf), 2000), 12);
	assert_memory_equal(buf, "DONE", 4);
	assert_int_equal(le64(buf + 4), (uint64_t)p.total * size);
	for (int i = 0; i < depth; i++)
		libusb_free_transfer(t[i]);
	g_free(bufs);
	close_handle(h);
}

static void test_link_rate_limits_throughput(void **state)
{
	struct fixture *f = *state;
	uint8_t *data = g_malloc0(1 << 20), buf[512];

	plug(f, 1, 6, 4, 20 * 1000 * 1000);
	start_usb(f);
	libusb_device_handle *h = open_port(f, "1-1.6");

	assert_int_equal(bulk_in(h, buf, sizeof(buf), 1000), 48);
	gint64 t0 = g_get_monotonic_time();

	for (int i = 0; i < 4; i++)
		bulk_out(h, data, 1 << 20);
	gint64 ms = (g_get_monotonic_time() - t0) / 1000;

	/* 4 MiB at 20 MB/s: 210 ms. */
	assert_true(ms >= 200);
	assert_true(ms < 1500);
	g_free(data);
	close_handle(h);
}

static void test_hub_rate_is_shared_by_the_hub_devices(void **state)
{
	struct fixture *f = *state;
	struct edl_error err;
	uint8_t *data = g_malloc0(1 << 20), buf[512];
	struct libusb_transfer *t[2];
	struct async_ctx a = {0};

	assert_int_equal(edl_emu_bed_add_hub(f->bed, 3, 2, 10 * 1000 * 1000, &err), EDL_OK);
	plug(f, 3, 1, 6, 0);
	plug(f, 3, 2, 7, 0);
	start_usb(f);
	libusb_device_handle *h1 = open_port(f, "1-3.1"), *h2 = open_port(f, "1-3.2");

	assert_int_equal(bulk_in(h1, buf, sizeof(buf), 1000), 48);
	assert_int_equal(bulk_in(h2, buf, sizeof(buf), 1000), 48);
	gint64 t0 = g_get_monotonic_time();

	for (int i = 0; i < 2; i++) {
		t[i] = libusb_alloc_transfer(0);
		libusb_fill_bulk_transfer(t[i], i ? h2 : h1, 0x01, data, 1 << 20, async_cb, &a,
		                          5000);
		assert_int_equal(libusb_submit_transfer(t[i]), 0);
	}
	wait_done(f, &a, 2);
	gint64 ms = (g_get_monotonic_time() - t0) / 1000;

	/* 2 MiB through one 10 MB/s hub: 210 ms, though each link is unlimited. */
	assert_int_equal(a.status, LIBUSB_TRANSFER_COMPLETED);
	assert_true(ms >= 200);
	assert_true(ms < 1500);
	for (int i = 0; i < 2; i++)
		libusb_free_transfer(t[i]);
	g_free(data);
	close_handle(h1);
	close_handle(h2);
}

static void test_usbfs_memory_limit_refuses_submits_with_enomem(void **state)
{
	struct fixture *f = *state;
	uint8_t *data = g_malloc0(1 << 20), buf[512];
	struct libusb_transfer *t[2];
	struct async_ctx a = {0};

	edl_emu_bed_set_usbfs_limit(f->bed, 2u << 20);
	plug(f, 1, 1, 8, 20 * 1000 * 1000);
	start_usb(f);
	libusb_device_handle *h = open_port(f, "1-1.1");

	assert_int_equal(bulk_in(h, buf, sizeof(buf), 1000), 48);
	for (int i = 0; i < 2; i++) {
		t[i] = libusb_alloc_transfer(0);
		libusb_fill_bulk_transfer(t[i], h, 0x01, data, 1 << 20, async_cb, &a, 5000);
	}
	/* The first 1 MiB fits in 2 MiB; a second one in flight does not. */
	assert_int_equal(libusb_submit_transfer(t[0]), 0);
	assert_int_equal(libusb_submit_transfer(t[1]), LIBUSB_ERROR_NO_MEM);
	wait_done(f, &a, 1);
	assert_int_equal(a.status, LIBUSB_TRANSFER_COMPLETED);
	/* Reaped: the memory is back. */
	assert_int_equal(libusb_submit_transfer(t[1]), 0);
	wait_done(f, &a, 2);
	assert_int_equal(a.status, LIBUSB_TRANSFER_COMPLETED);
	for (int i = 0; i < 2; i++)
		libusb_free_transfer(t[i]);
	g_free(data);
	close_handle(h);
}

static int LIBUSB_CALL hotplug_cb(libusb_context *ctx, libusb_device *dev, libusb_hotplug_event ev,
                                  void *data)
{
	int *counts = data;

	(void)ctx;
	(void)dev;
	counts[ev == LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED ? 0 : 1]++;
	return 0;
}

static void test_hotplug_arrival_and_unplug_mid_transfer(void **state)
{
	struct fixture *f = *state;
	int counts[2] = {0, 0};
	libusb_hotplug_callback_handle cb;
	struct async_ctx a = {0};
	uint8_t buf[512];
	struct libusb_transfer *t = libusb_alloc_transfer(0);

	start_usb(f);
	assert_int_equal(
	        libusb_hotplug_register_callback(
	                f->usb,
	                LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED | LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT, 0,
	                0x05c6, 0x9008, LIBUSB_HOTPLUG_MATCH_ANY, hotplug_cb, counts, &cb),
	        0);
	struct edl_emu_dev *d = plug(f, 2, 3, 5, 0);

	for (int i = 0; i < 300 && counts[0] < 1; i++) {
		struct timeval tv = {0, 10000};

		libusb_handle_events_timeout_completed(f->usb, &tv, NULL);
	}
	assert_int_equal(counts[0], 1);
	libusb_device_handle *h = open_port(f, "1-2.3");

	assert_int_equal(bulk_in(h, buf, sizeof(buf), 1000), 48);
	libusb_fill_bulk_transfer(t, h, 0x81, buf, sizeof(buf), async_cb, &a, 0);
	assert_int_equal(libusb_submit_transfer(t), 0);
	edl_emu_dev_unplug(d);
	wait_done(f, &a, 1);
	assert_int_equal(a.status, LIBUSB_TRANSFER_NO_DEVICE);
	for (int i = 0; i < 300 && counts[1] < 1; i++) {
		struct timeval tv = {0, 10000};

		libusb_handle_events_timeout_completed(f->usb, &tv, NULL);
	}
	assert_int_equal(counts[1], 1);
	libusb_free_transfer(t);
	libusb_close(h);
	libusb_hotplug_deregister_callback(f->usb, cb);
}

static void test_ports_and_addresses_are_reused_after_unplug(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[512];

	/* Root hub 1, hubs 2 and 3: devices alternate between addresses 4 and 5. */
	edl_emu_bed_set_max_devnum(f->bed, 5);
	start_usb(f);
	for (unsigned i = 0; i < 6; i++) {
		struct edl_emu_dev *d = plug(f, 1, 1, 0x100 + i, 0);
		libusb_device_handle *h = open_port(f, "1-1.1");
		char want[16];

		assert_int_equal(libusb_get_device_address(libusb_get_device(h)), 4 + (int)i % 2);
		assert_int_equal(bulk_in(h, buf, sizeof(buf), 1000), 48);
		snprintf(want, sizeof(want), "%08X", 0x100 + i);
		assert_string_equal((char *)buf + 8, want);
		close_handle(h);
		edl_emu_dev_unplug(d);
		if (f->n == 8) {
			/* keep the fixture's arrays bounded: models of gone devices are done */
			for (unsigned k = 0; k < f->n; k++)
				echo_free(f->model[k]);
			f->n = 0;
		}
	}
}

static void test_an_address_moves_to_another_port_and_left_devices_are_freed(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[512];

	/* Addresses 4 and 5 only; the port changes every second device, so an
	 * address comes back on the other port. umockdev keeps the old
	 * /sys/dev/char link of an address unless the bed removes it, and the
	 * next device there aborted the process ("File exists"). */
	edl_emu_bed_set_max_devnum(f->bed, 5);
	start_usb(f);
	for (unsigned i = 0; i < 12; i++) {
		char port[16], want[16];
		unsigned p = (i / 2) % 2 + 1;
		struct edl_emu_dev *d = plug(f, 1, p, 0x200 + i, 0);
		libusb_device_handle *h;

		snprintf(port, sizeof(port), "1-1.%u", p);
		h = open_port(f, port);
		assert_non_null(h);
		assert_int_equal(bulk_in(h, buf, sizeof(buf), 1000), 48);
		snprintf(want, sizeof(want), "%08X", 0x200 + i);
		assert_string_equal((char *)buf + 8, want);
		close_handle(h);
		edl_emu_dev_unplug(d);
		edl_emu_dev_forget(d);
		if (f->n == 8) {
			for (unsigned k = 0; k < f->n; k++)
				echo_free(f->model[k]);
			f->n = 0;
		}
	}
	/* Every device left, was forgotten and has no client: the bed frees them. */
	for (int i = 0; i < 200; i++) {
		guint left;

		edl_emu_bed_lock(f->bed);
		left = f->bed->devs->len;
		edl_emu_bed_unlock(f->bed);
		if (left == 0)
			break;
		g_usleep(10000);
	}
	edl_emu_bed_lock(f->bed);
	assert_int_equal(f->bed->devs->len, 0);
	edl_emu_bed_unlock(f->bed);
}

/* What the model was fed, from the worker thread's side: under the bed lock. */
static GArray *fed_lengths(struct fixture *f, struct echo *e)
{
	GArray *copy;

	edl_emu_bed_lock(f->bed);
	copy = g_array_copy(e->fed);
	g_array_set_size(e->fed, 0);
	edl_emu_bed_unlock(f->bed);
	return copy;
}

static void assert_fed(struct fixture *f, struct echo *e, const size_t *want, unsigned n)
{
	GArray *got = fed_lengths(f, e);

	assert_int_equal(got->len, n);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(g_array_index(got, size_t, i), want[i]);
	g_array_free(got, TRUE);
}

static void submit_out_async(libusb_device_handle *h, struct libusb_transfer *t, uint8_t *buf,
                             int len, uint8_t flags, struct async_ctx *a)
{
	libusb_fill_bulk_transfer(t, h, 0x01, buf, len, async_cb, a, 0);
	t->flags = flags;
	assert_int_equal(libusb_submit_transfer(t), 0);
}

static void test_zero_length_packets_reach_the_model(void **state)
{
	struct fixture *f = *state;
	struct libusb_transfer *t = libusb_alloc_transfer(0);
	struct async_ctx a = {0};
	uint8_t buf[2048] = {'X'};
	int done = -1;

	plug(f, 1, 5, 9, 0);
	start_usb(f);
	libusb_device_handle *h = open_port(f, "1-1.5");
	struct echo *e = f->model[0];

	assert_int_equal(bulk_in(h, buf, sizeof(buf), 1000), 48);
	memset(buf, 'X', sizeof(buf));
	/* LIBUSB_TRANSFER_ADD_ZERO_PACKET on a multiple of 512: libusb sets
	 * USBDEVFS_URB_ZERO_PACKET, the controller sends the data, then a ZLP. */
	submit_out_async(h, t, buf, 1024, LIBUSB_TRANSFER_ADD_ZERO_PACKET, &a);
	wait_done(f, &a, 1);
	assert_int_equal(a.status, LIBUSB_TRANSFER_COMPLETED);
	assert_int_equal(a.actual, 1024);
	assert_fed(f, e, (const size_t[]){1024, 0}, 2);
	/* Another length ends in a short packet already: no ZLP. */
	submit_out_async(h, t, buf, 700, LIBUSB_TRANSFER_ADD_ZERO_PACKET, &a);
	wait_done(f, &a, 2);
	assert_fed(f, e, (const size_t[]){700}, 1);
	/* Without the flag a multiple of 512 goes alone. */
	submit_out_async(h, t, buf, 512, 0, &a);
	wait_done(f, &a, 3);
	assert_fed(f, e, (const size_t[]){512}, 1);
	/* A zero-length transfer is a ZLP the model sees (sync and async alike). */
	assert_int_equal(libusb_bulk_transfer(h, 0x01, buf, 0, &done, 1000), 0);
	assert_int_equal(done, 0);
	submit_out_async(h, t, buf, 0, 0, &a);
	wait_done(f, &a, 4);
	assert_int_equal(a.status, LIBUSB_TRANSFER_COMPLETED);
	assert_fed(f, e, (const size_t[]){0, 0}, 2);
	libusb_free_transfer(t);
	close_handle(h);
}

/* Runs libusb's events for ms milliseconds. */
static void spin(struct fixture *f, int ms)
{
	gint64 end = g_get_monotonic_time() + ms * 1000;

	while (g_get_monotonic_time() < end) {
		struct timeval tv = {0, 10000};

		libusb_handle_events_timeout_completed(f->usb, &tv, NULL);
	}
}

static void test_a_stalled_device_holds_transfers_until_cancelled(void **state)
{
	struct fixture *f = *state;
	struct libusb_transfer *out = libusb_alloc_transfer(0), *in = libusb_alloc_transfer(0);
	struct async_ctx ao = {0}, ai = {0};
	uint8_t buf[1024], inbuf[512];
	unsigned char product[64];
	int done = -1;

	plug(f, 1, 6, 0x5a11, 0);
	f->model[0]->stall_at = 1000;
	start_usb(f);
	libusb_device_handle *h = open_port(f, "1-1.6");
	struct echo *e = f->model[0];

	assert_int_equal(bulk_in(h, buf, sizeof(buf), 1000), 48);
	memset(buf, 'Y', sizeof(buf));
	bulk_out(h, buf, 600); /* 600 of 1000 */
	memcpy(buf, "ECHO", 4);
	bulk_out(h, buf, 600); /* fed whole: the device hangs after it */
	assert_fed(f, e, (const size_t[]){600, 600}, 2);

	/* OUT: neither fed nor completed. IN: the echo the device owes stays inside. */
	submit_out_async(h, out, buf, 512, 0, &ao);
	libusb_fill_bulk_transfer(in, h, 0x81, inbuf, sizeof(inbuf), async_cb, &ai, 0);
	assert_int_equal(libusb_submit_transfer(in), 0);
	spin(f, 300);
	assert_int_equal(ao.done, 0);
	assert_int_equal(ai.done, 0);
	assert_fed(f, e, NULL, 0);

	/* Endpoint 0 still answers, the device stays on the bus. */
	assert_true(libusb_get_string_descriptor_ascii(h, 2, product, sizeof(product)) > 0);
	assert_string_equal((char *)product, "QUSB__BULK_SN:00005A11");

	/* A blocking write times out (libusb cancels the URB it submitted). */
	assert_int_equal(libusb_bulk_transfer(h, 0x01, buf, 512, &done, 200), LIBUSB_ERROR_TIMEOUT);
	assert_int_equal(done, 0);

	/* Cancelling completes them as cancelled, nothing sent. */
	assert_int_equal(libusb_cancel_transfer(out), 0);
	assert_int_equal(libusb_cancel_transfer(in), 0);
	wait_done(f, &ao, 1);
	wait_done(f, &ai, 1);
	assert_int_equal(ao.status, LIBUSB_TRANSFER_CANCELLED);
	assert_int_equal(ao.actual, 0);
	assert_int_equal(ai.status, LIBUSB_TRANSFER_CANCELLED);
	assert_int_equal(ai.actual, 0);
	assert_fed(f, e, NULL, 0);
	libusb_free_transfer(out);
	libusb_free_transfer(in);
	close_handle(h);

	/* A raw blocking USBDEVFS_BULK write (QFirehose's way) times out with
	 * ETIMEDOUT after its timeout, as usb_bulk_msg() does. */
	int fd = open(f->dev[0]->devnode, O_RDWR);
	unsigned ifno = 0;
	struct usbdevfs_bulktransfer bt = {0x01, 512, 150, buf};

	assert_true(fd >= 0);
	assert_int_equal(ioctl(fd, USBDEVFS_CLAIMINTERFACE, &ifno), 0);
	gint64 t0 = g_get_monotonic_time();

	assert_int_equal(ioctl(fd, USBDEVFS_BULK, &bt), -1);
	assert_int_equal(errno, ETIMEDOUT);
	assert_true(g_get_monotonic_time() - t0 >= 140000);
	close(fd);
	assert_fed(f, e, NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_bus_enumerates_edl_devices_on_hub_ports, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_hello_waits_in_the_device_until_read, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_transfer_boundaries_follow_packet_rules, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(
	                test_in_submitted_first_completes_after_the_out_and_deadline, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(
	                test_four_megabyte_transfers_in_flight_reach_the_model, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_link_rate_limits_throughput, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_hub_rate_is_shared_by_the_hub_devices, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_usbfs_memory_limit_refuses_submits_with_enomem,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_hotplug_arrival_and_unplug_mid_transfer, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(
	                test_an_address_moves_to_another_port_and_left_devices_are_freed, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(test_ports_and_addresses_are_reused_after_unplug,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_zero_length_packets_reach_the_model, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(
	                test_a_stalled_device_holds_transfers_until_cancelled, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
