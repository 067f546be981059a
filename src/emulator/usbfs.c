/*
 * The usbdevfs driver of an emulated EDL device: a umockdev ioctl handler per
 * device node that answers what the Linux kernel would (SUBMITURB, REAPURB,
 * DISCARDURB, BULK, CONTROL, CLAIMINTERFACE, capabilities ...) with the
 * device's behaviour computed by its model (struct edl_emu_model_ops). libusb,
 * lsusb and raw usbdevfs programs such as qdl run unmodified against it.
 *
 * Bulk IN follows USB packet rules: a device transfer is cut into 512-byte
 * packets; a short packet (or the ZLP a model asks for after a transfer that is
 * a multiple of 512 bytes) ends the host's transfer, otherwise the next device
 * transfer continues to fill it. Each host OUT transfer (URB or BULK ioctl) is
 * fed to the model as one transfer, a zero-length one included (the model
 * sees the ZLP), followed by a zero-length one when the URB asks for a ZLP
 * (USBDEVFS_URB_ZERO_PACKET, what libusb sets for LIBUSB_TRANSFER_ADD_ZERO_PACKET
 * in libusb/os/linux_usbfs.c) and its length is a non-zero multiple of the
 * packet size: the host controller drivers add the ZLP only then (Linux
 * drivers/usb/host/ehci-q.c qh_urb_transaction, xhci-ring.c
 * queue_bulk_sg_tx's "need_zero_pkt"), since any other length ends in a short
 * packet already.
 *
 * A stalled device (the model's stalled() turns true, e.g. the stall-at fault:
 * firmware that hung with its OUT FIFO full) NAKs every OUT packet for ever:
 * OUT transfers stay pending, neither fed nor completed, until the host
 * discards them (DISCARDURB: completed as cancelled, -ECONNRESET as
 * usb_unlink_urb() reports in drivers/usb/core/devio.c proc_unlinkurb) or a
 * blocking BULK times out (-ETIMEDOUT, usb_bulk_msg()); IN transfers stay
 * pending too. The device stays attached and still answers control requests
 * on endpoint 0, as a hung unit on the bench does.
 *
 * The poll gate: libusb waits for POLLOUT on a usbfs fd to learn that URBs can
 * be reaped. umockdev's device nodes are regular files, always ready (libusb
 * would spin) and refused by epoll. The node is a FIFO instead that we keep
 * full, and drain a page of whenever something is reapable (or the device is
 * gone); so poll and epoll report exactly what the kernel would.
 *
 * The rate model: a device's link carries link_rate bytes/s and its hub's link
 * hub rate bytes/s shared by all devices of the hub; a transfer reaches the
 * model (OUT) or completes (IN) when both links have carried it. Link time is
 * reserved in submission order, so lateness of the timer never accumulates.
 *
 * Memory of host transfers (umockdev_ioctl_data_resolve costs a round trip
 * each): OUT payloads are resolved once at submit, IN buffers only for the
 * bytes returned, at reap. Capabilities announce scatter-gather and no packet
 * size limit so libusb sends one URB per transfer.
 */
#include "emu.h"

#include <errno.h>
#include <limits.h>
#include <sys/ioctl.h>
#include <linux/usbdevice_fs.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "edlstation/clock.h"

#ifndef USBDEVFS_GET_SPEED
#define USBDEVFS_GET_SPEED _IO('U', 31)
#endif
#define USB_SPEED_HIGH_VALUE 3 /* enum usb_device_speed */
/* dispatch(): the ioctl is answered later (or was answered already). */
#define ANSWERED_LATER INT_MAX

/* One device->host transfer not yet read by the host. */
struct edl_emu_msg {
	size_t len, off;
	bool zlp; /* end with a ZLP when len is a multiple of the packet size */
	uint8_t data[];
};

/* One open file of the device node (umockdev's client). */
struct edl_emu_client {
	struct edl_emu_dev *dev; /* valid while connected */
	struct edl_emu_bed *bed;
	UMockdevIoctlClient *cl; /* not owned */
	GQueue reapable;         /* struct edl_emu_urb *, completed */
	bool reap_waiting;       /* a blocking REAPURB waits (holds a ref on cl) */
	bool connected;
	size_t read_off; /* read() of the descriptors */
};

/* One host transfer: an async URB, or a blocking BULK ioctl (sync). */
struct edl_emu_urb {
	struct edl_emu_client *client;
	struct edl_emu_bed *bed;
	UMockdevIoctlData *urb;  /* async: struct usbdevfs_urb (owned ref) */
	UMockdevIoctlData *bulk; /* sync: struct usbdevfs_bulktransfer (owned ref) */
	UMockdevIoctlData *out;  /* OUT payload, resolved at submit (owned ref) */
	gulong addr;             /* async: the URB's address in the client */
	uint8_t ep;
	unsigned flags; /* USBDEVFS_URB_* */
	size_t len, actual;
	int status; /* 0 or -errno */
	uint8_t *in;
	size_t in_cap;
	bool sync;
	unsigned timeout_ms; /* sync: the BULK ioctl's timeout, 0 = none */
	int64_t due_us;
	GSource *timeout; /* sync IN with a timeout */
	size_t mem;       /* charged against the usbfs memory limit */
};

static const uint8_t gate_junk[4096];

void edl_emu_usbfs_gate_fill(struct edl_emu_dev *dev)
{
	while (write(dev->gate_fd, gate_junk, sizeof(gate_junk)) > 0)
		;
}

static void gate_update(struct edl_emu_dev *d)
{
	bool want = d->gone;
	uint8_t buf[sizeof(gate_junk)];

	if (d->gate_fd < 0)
		return;
	for (GList *l = d->clients; l && !want; l = l->next) {
		struct edl_emu_client *c = l->data;

		want = c->reapable.length > 0;
	}
	if (want && !d->gate_open) {
		if (read(d->gate_fd, buf, sizeof(buf)) < 0 && errno != EAGAIN)
			fprintf(stderr, "emulate: %s: draining the poll gate: %s\n", d->port,
			        g_strerror(errno));
		d->gate_open = true;
	} else if (!want && d->gate_open) {
		edl_emu_usbfs_gate_fill(d);
		d->gate_open = false;
	}
}

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

/* ---- transfers ---- */

/* What Linux charges a transfer against usbfs_memory_mb: its buffer and its URB. */
#define URB_OVERHEAD 200

static int charge(struct edl_emu_dev *d, struct edl_emu_urb *u)
{
	struct edl_emu_bed *bed = d->bed;
	size_t mem = u->len + URB_OVERHEAD;

	if (bed->usbfs_limit && bed->usbfs_used + mem > bed->usbfs_limit)
		return -ENOMEM;
	bed->usbfs_used += mem;
	u->bed = bed;
	u->mem = mem;
	return 0;
}

static void urb_free(struct edl_emu_urb *u)
{
	if (u->mem)
		u->bed->usbfs_used -= u->mem;
	if (u->timeout) {
		g_source_destroy(u->timeout);
		g_source_unref(u->timeout);
	}
	g_clear_object(&u->out);
	g_clear_object(&u->urb);
	g_clear_object(&u->bulk);
	g_free(u->in);
	g_free(u);
}

/* Makes room for more IN bytes (never beyond the host's buffer length). */
static void in_reserve(struct edl_emu_urb *u, size_t more)
{
	size_t need = u->actual + more;

	if (need <= u->in_cap)
		return;
	if (need < 4096)
		need = 4096;
	if (need < u->in_cap * 2)
		need = u->in_cap * 2;
	if (need > u->len)
		need = u->len;
	u->in = g_realloc(u->in, need);
	u->in_cap = need;
}

/* Reserves link time for n bytes; returns when they have been carried. */
static int64_t link_reserve(struct edl_emu_dev *d, size_t n, int64_t now)
{
	struct edl_emu_hub *hub = &d->bed->hubs[d->hub];
	int64_t due = now;

	if (d->link_rate) {
		int64_t start = d->link_free_us > now ? d->link_free_us : now;

		d->link_free_us = start + (int64_t)((uint64_t)n * 1000000u / d->link_rate);
		due = d->link_free_us;
	}
	if (hub->rate) {
		int64_t start = hub->free_at_us > now ? hub->free_at_us : now;

		hub->free_at_us = start + (int64_t)((uint64_t)n * 1000000u / hub->rate);
		if (hub->free_at_us > due)
			due = hub->free_at_us;
	}
	return due;
}

static bool rate_limited(const struct edl_emu_dev *d)
{
	return d->link_rate || d->bed->hubs[d->hub].rate;
}

static void do_reap(struct edl_emu_client *c, UMockdevIoctlClient *cl)
{
	UMockdevIoctlData *arg = umockdev_ioctl_client_get_arg(cl);
	struct edl_emu_urb *u = g_queue_pop_head(&c->reapable);
	struct usbdevfs_urb *urb = (struct usbdevfs_urb *)u->urb->data;
	UMockdevIoctlData *p;

	if ((u->ep & 0x80) && u->actual && u->in) {
		/* Only the bytes returned cross back to the client. */
		UMockdevIoctlData *b = umockdev_ioctl_data_resolve(
		        u->urb, G_STRUCT_OFFSET(struct usbdevfs_urb, buffer), u->actual, NULL);

		if (b) {
			memcpy(b->data, u->in, u->actual);
			g_object_unref(b);
		}
	}
	urb->actual_length = (int)u->actual;
	urb->status = u->status;
	p = umockdev_ioctl_data_resolve(arg, 0, sizeof(void *), NULL);
	if (p) {
		umockdev_ioctl_data_set_ptr(p, 0, u->urb);
		g_object_unref(p);
	}
	umockdev_ioctl_client_complete(cl, 0, 0);
	urb_free(u); /* the urb data lives on as a child of arg until the reply is sent */
}

/* The transfer is over (and the link has carried it): tell the client. */
static void finalize(struct edl_emu_dev *d, struct edl_emu_urb *u)
{
	struct edl_emu_client *c = u->client;

	if (u->sync) {
		UMockdevIoctlClient *cl = c->cl;

		if (u->status == 0 && (u->ep & 0x80)) {
			if (u->actual) {
				UMockdevIoctlData *b = umockdev_ioctl_data_resolve(
				        u->bulk,
				        G_STRUCT_OFFSET(struct usbdevfs_bulktransfer, data),
				        u->actual, NULL);

				if (b) {
					memcpy(b->data, u->in, u->actual);
					g_object_unref(b);
				}
			}
			umockdev_ioctl_client_complete(cl, (glong)u->actual, 0);
		} else if (u->status == 0) {
			umockdev_ioctl_client_complete(cl, (glong)u->len, 0);
		} else {
			umockdev_ioctl_client_complete(cl, -1, -u->status);
		}
		urb_free(u);
		g_object_unref(cl); /* taken when the ioctl was deferred */
		return;
	}
	g_queue_push_tail(&c->reapable, u);
	if (c->reap_waiting) {
		c->reap_waiting = false;
		do_reap(c, c->cl);
		g_object_unref(c->cl);
	}
	gate_update(d);
}

/* An IN transfer got its data: it completes once the link carried it. */
static void in_done(struct edl_emu_dev *d, struct edl_emu_urb *u, int64_t now)
{
	d->bytes_in += u->actual;
	if (rate_limited(d) && u->status == 0) {
		u->due_us = link_reserve(d, u->actual, now);
		if (u->due_us > now) {
			g_queue_push_tail(&d->done_due, u);
			return;
		}
	}
	finalize(d, u);
}

/* Fills u from the device's queued data; true when u is complete. */
static bool fill(struct edl_emu_dev *d, struct edl_emu_urb *u)
{
	struct edl_emu_msg *m;

	while ((m = g_queue_peek_head(&d->in_q))) {
		size_t rem = m->len - m->off, room = u->len - u->actual;

		if (m->len == 0) { /* a ZLP ends the transfer */
			g_free(g_queue_pop_head(&d->in_q));
			return true;
		}
		if (room == 0)
			return true;
		if (rem <= room) {
			in_reserve(u, rem);
			memcpy(u->in + u->actual, m->data + m->off, rem);
			u->actual += rem;
			d->in_q_bytes -= rem;
			g_queue_pop_head(&d->in_q);
			if (m->len % EDL_EMU_PACKET) { /* ended by a short packet */
				g_free(m);
				return true;
			}
			if (m->zlp) {
				if (u->actual == u->len) {
					/* Full: the ZLP goes to the next transfer. */
					struct edl_emu_msg *z = g_malloc0(sizeof(*z));

					g_queue_push_head(&d->in_q, z);
				}
				g_free(m);
				return true;
			}
			g_free(m);
			if (u->actual == u->len)
				return true;
			continue; /* no end marker: the next device transfer continues */
		}
		/* More than fits: whole packets, then a packet that does not fit. */
		size_t whole = room / EDL_EMU_PACKET * EDL_EMU_PACKET;

		in_reserve(u, room);
		memcpy(u->in + u->actual, m->data + m->off, whole);
		u->actual += whole;
		m->off += whole;
		d->in_q_bytes -= whole;
		if (whole < room) {
			size_t part = room - whole;
			size_t pkt = MIN((size_t)EDL_EMU_PACKET, m->len - m->off);

			/* Babble: the kernel reports -EOVERFLOW, the packet is lost. */
			memcpy(u->in + u->actual, m->data + m->off, part);
			u->actual += part;
			m->off += pkt;
			d->in_q_bytes -= pkt;
			u->status = -EOVERFLOW;
			if (m->off == m->len)
				g_free(g_queue_pop_head(&d->in_q));
		}
		return true;
	}
	return false;
}

static void deliver(struct edl_emu_dev *d, int64_t now)
{
	struct edl_emu_urb *u;

	while ((u = g_queue_peek_head(&d->in_wait)) && d->in_q.length) {
		if (!fill(d, u))
			break;
		g_queue_pop_head(&d->in_wait);
		if (u->timeout) {
			g_source_destroy(u->timeout);
			g_source_unref(u->timeout);
			u->timeout = NULL;
		}
		in_done(d, u, now);
	}
}

/* Pulls the model's output (up to EDL_EMU_IN_AHEAD bytes ahead) and hands it out. */
static void pump(struct edl_emu_dev *d, uint64_t now_ms, int64_t now)
{
	struct edl_chunk ch;

	for (;;) {
		bool pulled = false;

		while (d->ops && d->in_q_bytes < EDL_EMU_IN_AHEAD &&
		       d->ops->next_in(d->model, &ch, now_ms)) {
			struct edl_emu_msg *m = g_malloc(sizeof(*m) + ch.len);

			m->len = ch.len;
			m->off = 0;
			m->zlp = ch.zlp;
			if (ch.len)
				memcpy(m->data, ch.data, ch.len);
			g_queue_push_tail(&d->in_q, m);
			d->in_q_bytes += ch.len;
			pulled = true;
		}
		deliver(d, now);
		if (!pulled || d->in_q_bytes >= EDL_EMU_IN_AHEAD)
			break;
	}
}

static gboolean timer_dispatch(GSource *src, GSourceFunc cb, gpointer data)
{
	(void)src;
	return cb(data);
}

static GSourceFuncs timer_funcs = {NULL, NULL, timer_dispatch, NULL, NULL, NULL};

static gboolean timer_cb(gpointer data)
{
	struct edl_emu_dev *d = data;

	g_rec_mutex_lock(&d->bed->lock);
	if (d->timer)
		g_source_set_ready_time(d->timer, -1);
	if (!d->gone)
		edl_emu_usbfs_service(d);
	g_rec_mutex_unlock(&d->bed->lock);
	return G_SOURCE_CONTINUE;
}

static void arm(struct edl_emu_dev *d, int64_t when)
{
	if (!d->timer) {
		if (when < 0 || !d->bed->worker)
			return; /* no client yet: nobody could see a deadline pass */
		d->timer = g_source_new(&timer_funcs, sizeof(GSource));
		g_source_set_callback(d->timer, timer_cb, d, NULL);
		g_source_set_ready_time(d->timer, -1);
		g_source_attach(d->timer, d->bed->worker);
	}
	g_source_set_ready_time(d->timer, when);
}

static bool stalled(struct edl_emu_dev *d)
{
	return d->ops && d->ops->stalled && d->ops->stalled(d->model);
}

static void feed(struct edl_emu_dev *d, const uint8_t *data, size_t len, uint64_t now_ms)
{
	int rc;

	if (!d->ops)
		return;
	rc = d->ops->feed(d->model, data, len, now_ms);
	if (rc != EDL_OK)
		fprintf(stderr, "emulate: %s: the device model failed on a %zu-byte transfer: %s\n",
		        d->port, len, edl_strerror(rc));
}

static void hang_out(struct edl_emu_dev *d, struct edl_emu_urb *u);

/* An OUT transfer reaches the device. */
static void out_arrive(struct edl_emu_dev *d, struct edl_emu_urb *u, uint64_t now_ms)
{
	feed(d, u->out ? u->out->data : NULL, u->len, now_ms);
	if ((u->flags & USBDEVFS_URB_ZERO_PACKET) && u->len && u->len % EDL_EMU_PACKET == 0 &&
	    !stalled(d))
		feed(d, NULL, 0, now_ms);
	d->bytes_out += u->len;
	u->actual = u->len;
	u->status = 0;
	g_clear_object(&u->out);
	finalize(d, u);
}

void edl_emu_usbfs_service(struct edl_emu_dev *d)
{
	int64_t now = g_get_monotonic_time(), next = -1;
	uint64_t now_ms = edl_clock_ms(), dl;
	struct edl_emu_urb *u;

	if (d->gone || !d->ops)
		return;
	while ((u = g_queue_peek_head(&d->out_due)) && u->due_us <= now) {
		g_queue_pop_head(&d->out_due);
		if (stalled(d))
			hang_out(d, u);
		else
			out_arrive(d, u, now_ms);
	}
	for (int i = 0; i < 64 && d->ops; i++) {
		dl = d->ops->deadline(d->model);
		if (!dl || dl > now_ms)
			break;
		d->ops->timeout(d->model, now_ms);
	}
	if (!stalled(d))
		pump(d, now_ms, now); /* a hung device sends nothing: IN stays pending */
	while ((u = g_queue_peek_head(&d->done_due)) && u->due_us <= now) {
		g_queue_pop_head(&d->done_due);
		finalize(d, u);
	}

	if ((u = g_queue_peek_head(&d->out_due)))
		next = u->due_us;
	if ((u = g_queue_peek_head(&d->done_due)) && (next < 0 || u->due_us < next))
		next = u->due_us;
	dl = d->ops ? d->ops->deadline(d->model) : 0;
	if (dl && (next < 0 || (int64_t)(dl * 1000) < next))
		next = (int64_t)(dl * 1000);
	arm(d, next);
}

/* ---- control requests ---- */

static int string_descriptor(const struct edl_emu_dev *d, unsigned idx, uint8_t *out, size_t max)
{
	uint8_t buf[128];
	const char *s;
	size_t n = 2;

	if (idx == 0) {
		buf[0] = 4;
		buf[1] = 3;
		buf[2] = 0x09; /* English (US) */
		buf[3] = 0x04;
		n = 4;
	} else {
		if (idx == 1)
			s = "Qualcomm CDMA Technologies MSM";
		else if (idx == 2)
			s = d->product;
		else
			return -EPIPE;
		for (; *s && n + 2 <= sizeof(buf); s++) {
			buf[n++] = (uint8_t)*s;
			buf[n++] = 0;
		}
		buf[0] = (uint8_t)n;
		buf[1] = 3;
	}
	if (n > max)
		n = max;
	memcpy(out, buf, n);
	return (int)n;
}

/* Answers a standard request; returns the IN length, 0, or -errno (-EPIPE: stall). */
static int control(const struct edl_emu_dev *d, uint8_t type, uint8_t req, unsigned value,
                   unsigned length, uint8_t *data)
{
	uint8_t desc[64];
	size_t n;

	if ((type & 0x60) != 0) /* class and vendor requests stall */
		return -EPIPE;
	switch (req) {
	case 6: /* GET_DESCRIPTOR */
		n = edl_emu_descriptors(desc, sizeof(desc), d->pid);
		switch (value >> 8) {
		case 1:
			n = MIN(length, 18u);
			memcpy(data, desc, n);
			return (int)n;
		case 2:
			if ((value & 0xff) != 0)
				return -EPIPE;
			n = MIN((size_t)length, n - 18);
			memcpy(data, desc + 18, n);
			return (int)n;
		case 3:
			return string_descriptor(d, value & 0xff, data, length);
		default:
			return -EPIPE;
		}
	case 0: /* GET_STATUS */
		if (length < 2)
			return 0;
		data[0] = data[1] = 0;
		return 2;
	case 8: /* GET_CONFIGURATION */
		if (length < 1)
			return 0;
		data[0] = 1;
		return 1;
	case 10: /* GET_INTERFACE */
		if (length < 1)
			return 0;
		data[0] = 0;
		return 1;
	case 1:  /* CLEAR_FEATURE */
	case 3:  /* SET_FEATURE */
	case 9:  /* SET_CONFIGURATION */
	case 11: /* SET_INTERFACE */
		return 0;
	default:
		return -EPIPE;
	}
}

/* ---- clients ---- */

static struct edl_emu_client *client_of(UMockdevIoctlClient *cl)
{
	return g_object_get_data(G_OBJECT(cl), "edl-emu-client");
}

static void drop_queue(GQueue *q, struct edl_emu_client *c)
{
	GList *l = q->head;

	while (l) {
		GList *next = l->next;
		struct edl_emu_urb *u = l->data;

		if (u->client == c) {
			g_queue_delete_link(q, l);
			if (u->sync)
				g_object_unref(c->cl); /* the deferred ioctl's ref */
			urb_free(u);
		}
		l = next;
	}
}

/* The client went away (closed, or its process died): forget its transfers. */
static void client_drop(struct edl_emu_client *c)
{
	struct edl_emu_dev *d = c->dev;
	struct edl_emu_urb *u;

	if (!c->connected)
		return;
	c->connected = false;
	drop_queue(&d->in_wait, c);
	drop_queue(&d->out_due, c);
	drop_queue(&d->out_hung, c);
	drop_queue(&d->done_due, c);
	while ((u = g_queue_pop_head(&c->reapable)))
		urb_free(u);
	if (c->reap_waiting) {
		c->reap_waiting = false;
		g_object_unref(c->cl);
	}
	d->clients = g_list_remove(d->clients, c);
	gate_update(d);
	if (d->gone)
		edl_emu_dev_reap_if_done(d);
}

static void on_client_notify(UMockdevIoctlClient *cl, GParamSpec *ps, gpointer data)
{
	struct edl_emu_dev *d = data;
	struct edl_emu_client *c = client_of(cl);

	(void)ps;
	if (!c || umockdev_ioctl_client_get_connected(cl))
		return;
	g_rec_mutex_lock(&d->bed->lock);
	client_drop(c);
	g_rec_mutex_unlock(&d->bed->lock);
}

/* The IoctlClient is finalized, with or without a notify::connected before. */
static void client_free(gpointer data)
{
	struct edl_emu_client *c = data;
	struct edl_emu_bed *bed = c->bed; /* c->dev may be freed once c was dropped */

	g_rec_mutex_lock(&bed->lock);
	client_drop(c);
	g_rec_mutex_unlock(&bed->lock);
	g_free(c);
}

static void learn_worker(struct edl_emu_bed *bed)
{
	if (!bed->worker)
		bed->worker = g_main_context_ref_thread_default();
}

static void on_client_connected(UMockdevIoctlBase *h, UMockdevIoctlClient *cl, gpointer data)
{
	struct edl_emu_dev *d = data;
	struct edl_emu_client *c = g_new0(struct edl_emu_client, 1);

	(void)h;
	c->dev = d;
	c->bed = d->bed;
	c->cl = cl;
	c->connected = true;
	g_queue_init(&c->reapable);
	g_rec_mutex_lock(&d->bed->lock);
	learn_worker(d->bed);
	d->clients = g_list_append(d->clients, c);
	d->last_activity_us = g_get_monotonic_time();
	if (!d->gone)
		edl_emu_usbfs_service(d); /* arm a deadline the model had before anyone came */
	g_rec_mutex_unlock(&d->bed->lock);
	g_object_set_data_full(G_OBJECT(cl), "edl-emu-client", c, client_free);
	g_signal_connect(cl, "notify::connected", G_CALLBACK(on_client_notify), d);
}

/* ---- ioctls ---- */

static gboolean sync_timeout_cb(gpointer data)
{
	struct edl_emu_urb *u = data;
	struct edl_emu_dev *d = u->client->dev;

	g_rec_mutex_lock(&d->bed->lock);
	if (g_queue_remove(&d->in_wait, u) || g_queue_remove(&d->out_hung, u)) {
		g_source_unref(u->timeout);
		u->timeout = NULL;
		/* Linux returns ETIMEDOUT; bytes already received are lost. */
		u->status = -ETIMEDOUT;
		u->actual = 0;
		finalize(d, u);
	}
	g_rec_mutex_unlock(&d->bed->lock);
	return G_SOURCE_REMOVE;
}

static void arm_sync_timeout(struct edl_emu_dev *d, struct edl_emu_urb *u)
{
	if (u->sync && u->timeout_ms && !u->timeout) {
		u->timeout = g_timeout_source_new(u->timeout_ms);
		g_source_set_callback(u->timeout, sync_timeout_cb, u, NULL);
		g_source_attach(u->timeout, d->bed->worker);
	}
}

static void submit_in(struct edl_emu_dev *d, struct edl_emu_urb *u)
{
	g_queue_push_tail(&d->in_wait, u);
	arm_sync_timeout(d, u);
	edl_emu_usbfs_service(d);
}

/* The hung device never takes u: it waits for a discard, a timeout or the end. */
static void hang_out(struct edl_emu_dev *d, struct edl_emu_urb *u)
{
	g_queue_push_tail(&d->out_hung, u);
	arm_sync_timeout(d, u);
}

static void submit_out(struct edl_emu_dev *d, struct edl_emu_urb *u)
{
	int64_t now = g_get_monotonic_time();

	if (stalled(d) || d->out_hung.length) {
		hang_out(d, u);
		return;
	}

	if (rate_limited(d)) {
		u->due_us = link_reserve(d, u->len, now);
		if (u->due_us > now || d->out_due.length) {
			g_queue_push_tail(&d->out_due, u);
			edl_emu_usbfs_service(d);
			return;
		}
	}
	out_arrive(d, u, edl_clock_ms());
	edl_emu_usbfs_service(d);
}

static int ioctl_bulk(struct edl_emu_dev *d, struct edl_emu_client *c, UMockdevIoctlClient *cl,
                      UMockdevIoctlData *arg)
{
	UMockdevIoctlData *bt =
	        umockdev_ioctl_data_resolve(arg, 0, sizeof(struct usbdevfs_bulktransfer), NULL);
	struct usbdevfs_bulktransfer *t;
	struct edl_emu_urb *u;

	if (!bt)
		return -EFAULT;
	t = (struct usbdevfs_bulktransfer *)bt->data;
	if ((t->ep & 0x7f) != 1) {
		g_object_unref(bt);
		return -ENOENT;
	}
	u = g_new0(struct edl_emu_urb, 1);
	u->client = c;
	u->sync = true;
	u->bulk = bt;
	u->ep = (uint8_t)t->ep;
	u->len = t->len;
	u->timeout_ms = t->timeout;
	if (charge(d, u) < 0) {
		urb_free(u);
		return -ENOMEM;
	}
	if (!(u->ep & 0x80) && u->len) {
		u->out = umockdev_ioctl_data_resolve(
		        bt, G_STRUCT_OFFSET(struct usbdevfs_bulktransfer, data), u->len, NULL);
		if (!u->out) {
			urb_free(u);
			return -EFAULT;
		}
	}
	/* Answered later (or now, by finalize): keep the client alive until then. */
	g_object_ref(cl);
	if (u->ep & 0x80)
		submit_in(d, u);
	else
		submit_out(d, u);
	return ANSWERED_LATER;
}

static int ioctl_submit(struct edl_emu_dev *d, struct edl_emu_client *c, UMockdevIoctlData *arg)
{
	UMockdevIoctlData *ud =
	        umockdev_ioctl_data_resolve(arg, 0, sizeof(struct usbdevfs_urb), NULL);
	struct usbdevfs_urb *urb;
	struct edl_emu_urb *u;

	if (!ud)
		return -EFAULT;
	urb = (struct usbdevfs_urb *)ud->data;
	if (urb->buffer_length < 0) {
		g_object_unref(ud);
		return -EINVAL;
	}
	u = g_new0(struct edl_emu_urb, 1);
	u->client = c;
	u->urb = ud;
	u->addr = ud->client_addr;
	u->ep = urb->endpoint;
	u->flags = urb->flags;
	u->len = (size_t)urb->buffer_length;
	if (charge(d, u) < 0) {
		urb_free(u);
		return -ENOMEM;
	}

	if (urb->type == USBDEVFS_URB_TYPE_CONTROL) {
		UMockdevIoctlData *b;
		int r;

		if (u->len < 8) {
			urb_free(u);
			return -EINVAL;
		}
		b = umockdev_ioctl_data_resolve(ud, G_STRUCT_OFFSET(struct usbdevfs_urb, buffer),
		                                u->len, NULL);
		if (!b) {
			urb_free(u);
			return -EFAULT;
		}
		r = control(d, b->data[0], b->data[1], get_le16(b->data + 2),
		            MIN((size_t)get_le16(b->data + 6), u->len - 8), b->data + 8);
		g_object_unref(b); /* stays a child of ud: written back at reap */
		u->status = r < 0 ? r : 0;
		u->actual = r < 0 ? 0 : (size_t)r;
		u->ep = 0; /* data already in place */
		finalize(d, u);
		return 0;
	}
	if (urb->type != USBDEVFS_URB_TYPE_BULK || (urb->endpoint & 0x7f) != 1) {
		urb_free(u);
		return -EINVAL;
	}
	if (u->ep & 0x80) {
		submit_in(d, u);
	} else {
		if (u->len) {
			u->out = umockdev_ioctl_data_resolve(
			        ud, G_STRUCT_OFFSET(struct usbdevfs_urb, buffer), u->len, NULL);
			if (!u->out) {
				urb_free(u);
				return -EFAULT;
			}
		}
		submit_out(d, u);
	}
	return 0;
}

static bool discard_in(struct edl_emu_dev *d, GQueue *q, struct edl_emu_client *c, gulong addr)
{
	for (GList *l = q->head; l; l = l->next) {
		struct edl_emu_urb *u = l->data;

		if (!u->sync && u->client == c && u->addr == addr) {
			g_queue_delete_link(q, l);
			if (q != &d->done_due) {
				/* Cancelled: an IN keeps what it received, an OUT never left.
				 * usbfs unlinks (usb_unlink_urb): -ECONNRESET, which libusb
				 * reports as LIBUSB_TRANSFER_CANCELLED. */
				u->status = -ECONNRESET;
				if (!(u->ep & 0x80))
					u->actual = 0;
			}
			finalize(d, u);
			return true;
		}
	}
	return false;
}

static int ioctl_control(struct edl_emu_dev *d, UMockdevIoctlData *arg)
{
	UMockdevIoctlData *ct =
	        umockdev_ioctl_data_resolve(arg, 0, sizeof(struct usbdevfs_ctrltransfer), NULL);
	struct usbdevfs_ctrltransfer *t;
	UMockdevIoctlData *b = NULL;
	uint8_t tmp[256];
	int r;

	if (!ct)
		return -EFAULT;
	t = (struct usbdevfs_ctrltransfer *)ct->data;
	if (t->wLength) {
		b = umockdev_ioctl_data_resolve(
		        ct, G_STRUCT_OFFSET(struct usbdevfs_ctrltransfer, data), t->wLength, NULL);
		if (!b) {
			g_object_unref(ct);
			return -EFAULT;
		}
	}
	r = control(d, t->bRequestType, t->bRequest, t->wValue, MIN(t->wLength, sizeof(tmp)), tmp);
	if (r > 0 && b && (t->bRequestType & 0x80))
		memcpy(b->data, tmp, (size_t)r);
	if (r >= 0 && !(t->bRequestType & 0x80))
		r = t->wLength;
	if (b)
		g_object_unref(b);
	g_object_unref(ct);
	return r;
}

static int ioctl_u32_out(UMockdevIoctlData *arg, size_t size, uint32_t value)
{
	UMockdevIoctlData *v = umockdev_ioctl_data_resolve(arg, 0, size, NULL);

	if (!v)
		return -EFAULT;
	memset(v->data, 0, size);
	memcpy(v->data, &value, sizeof(value));
	g_object_unref(v);
	return 0;
}

static int ioctl_int_in(UMockdevIoctlData *arg, int *value)
{
	UMockdevIoctlData *v = umockdev_ioctl_data_resolve(arg, 0, sizeof(int), NULL);

	if (!v)
		return -EFAULT;
	memcpy(value, v->data, sizeof(int));
	g_object_unref(v);
	return 0;
}

/* Returns the ioctl's result (>= 0), -errno, or ANSWERED_LATER. */
static int dispatch(struct edl_emu_dev *d, struct edl_emu_client *c, UMockdevIoctlClient *cl,
                    unsigned long req, UMockdevIoctlData *arg)
{
	int r, ifno;

	switch (req) {
	case USBDEVFS_GET_CAPABILITIES:
		return ioctl_u32_out(arg, sizeof(uint32_t),
		                     USBDEVFS_CAP_ZERO_PACKET | USBDEVFS_CAP_BULK_CONTINUATION |
		                             USBDEVFS_CAP_NO_PACKET_SIZE_LIM |
		                             USBDEVFS_CAP_BULK_SCATTER_GATHER |
		                             USBDEVFS_CAP_REAP_AFTER_DISCONNECT);
	case USBDEVFS_GET_SPEED:
		return USB_SPEED_HIGH_VALUE;
	case USBDEVFS_CONNECTINFO: {
		UMockdevIoctlData *v = umockdev_ioctl_data_resolve(
		        arg, 0, sizeof(struct usbdevfs_connectinfo), NULL);

		if (!v)
			return -EFAULT;
		((struct usbdevfs_connectinfo *)v->data)->devnum = (unsigned)d->devnum;
		((struct usbdevfs_connectinfo *)v->data)->slow = 0;
		g_object_unref(v);
		return 0;
	}
	case USBDEVFS_CLAIMINTERFACE:
	case USBDEVFS_RELEASEINTERFACE:
		r = ioctl_int_in(arg, &ifno);
		if (r < 0)
			return r;
		if (ifno != 0)
			return -EINVAL;
		if (req == USBDEVFS_CLAIMINTERFACE)
			d->claimed = true;
		return 0;
	case USBDEVFS_DISCONNECT_CLAIM:
		d->claimed = true;
		return 0;
	case USBDEVFS_SETINTERFACE:
	case USBDEVFS_SETCONFIGURATION:
	case USBDEVFS_CLEAR_HALT:
	case USBDEVFS_RESETEP:
	case USBDEVFS_RESET:
	case USBDEVFS_CLAIM_PORT:
	case USBDEVFS_RELEASE_PORT:
		return 0;
	case USBDEVFS_GETDRIVER:
	case USBDEVFS_IOCTL: /* e.g. detaching a kernel driver: none is bound */
		return -ENODATA;
	case USBDEVFS_CONTROL:
		return ioctl_control(d, arg);
	case USBDEVFS_BULK:
		return ioctl_bulk(d, c, cl, arg);
	case USBDEVFS_SUBMITURB:
		return ioctl_submit(d, c, arg);
	case USBDEVFS_REAPURB:
	case USBDEVFS_REAPURBNDELAY:
		if (c->reapable.length) {
			do_reap(c, cl);
			gate_update(d);
			return ANSWERED_LATER;
		}
		if (req == USBDEVFS_REAPURBNDELAY)
			return -EAGAIN;
		g_object_ref(cl); /* completed by finalize() */
		c->reap_waiting = true;
		return ANSWERED_LATER;
	case USBDEVFS_DISCARDURB: {
		gulong addr = arg->data_len >= (gint)sizeof(gulong) ? *(gulong *)arg->data : 0;

		if (discard_in(d, &d->in_wait, c, addr) || discard_in(d, &d->out_due, c, addr) ||
		    discard_in(d, &d->out_hung, c, addr) || discard_in(d, &d->done_due, c, addr))
			return 0;
		return -EINVAL;
	}
	default:
		return -ENOTTY;
	}
}

static gboolean on_ioctl(UMockdevIoctlBase *h, UMockdevIoctlClient *cl, gpointer data)
{
	struct edl_emu_dev *d = data;
	unsigned long req = umockdev_ioctl_client_get_request(cl);
	UMockdevIoctlData *arg = umockdev_ioctl_client_get_arg(cl);
	struct edl_emu_client *c = client_of(cl);
	int r;

	(void)h;
	g_rec_mutex_lock(&d->bed->lock);
	learn_worker(d->bed);
	d->ioctls++;
	d->last_activity_us = g_get_monotonic_time();
	if (!c) {
		g_rec_mutex_unlock(&d->bed->lock);
		return FALSE;
	}
	if (d->gone) {
		if ((req == USBDEVFS_REAPURB || req == USBDEVFS_REAPURBNDELAY) &&
		    c->reapable.length) {
			do_reap(c, cl);
			gate_update(d);
			r = ANSWERED_LATER;
		} else {
			r = -ENODEV;
		}
	} else {
		r = dispatch(d, c, cl, req, arg);
	}
	if (r < 0)
		umockdev_ioctl_client_complete(cl, -1, -r);
	else if (r != ANSWERED_LATER)
		umockdev_ioctl_client_complete(cl, r, 0);
	g_rec_mutex_unlock(&d->bed->lock);
	return TRUE;
}

/* read() on the node returns the descriptors, as on usbfs. */
static gboolean on_read(UMockdevIoctlBase *h, UMockdevIoctlClient *cl, gpointer data)
{
	struct edl_emu_dev *d = data;
	UMockdevIoctlData *arg = umockdev_ioctl_client_get_arg(cl);
	struct edl_emu_client *c = client_of(cl);
	uint8_t desc[64];
	size_t total = edl_emu_descriptors(desc, sizeof(desc), d->pid), n = 0;

	(void)h;
	g_rec_mutex_lock(&d->bed->lock);
	if (c && c->read_off < total && arg->data_len > 0) {
		n = MIN((size_t)arg->data_len, total - c->read_off);
		memcpy(arg->data, desc + c->read_off, n);
		c->read_off += n;
	}
	g_rec_mutex_unlock(&d->bed->lock);
	umockdev_ioctl_client_complete(cl, (glong)n, 0);
	return TRUE;
}

static gboolean on_write(UMockdevIoctlBase *h, UMockdevIoctlClient *cl, gpointer data)
{
	(void)h;
	(void)data;
	umockdev_ioctl_client_complete(cl, -1, EINVAL);
	return TRUE;
}

void edl_emu_usbfs_init(struct edl_emu_dev *dev)
{
	g_signal_connect(dev->handler, "handle-ioctl", G_CALLBACK(on_ioctl), dev);
	g_signal_connect(dev->handler, "handle-read", G_CALLBACK(on_read), dev);
	g_signal_connect(dev->handler, "handle-write", G_CALLBACK(on_write), dev);
	g_signal_connect(dev->handler, "client-connected", G_CALLBACK(on_client_connected), dev);
}

/* ---- unplugging ---- */

static void fail_queue(struct edl_emu_dev *d, GQueue *q, bool keep_status)
{
	struct edl_emu_urb *u;

	while ((u = g_queue_pop_head(q))) {
		if (u->timeout) {
			g_source_destroy(u->timeout);
			g_source_unref(u->timeout);
			u->timeout = NULL;
		}
		if (!keep_status) {
			/* libusb reads ESHUTDOWN as "no device"; a blocking BULK gets ENODEV. */
			u->status = u->sync ? -ENODEV : -ESHUTDOWN;
			if (!(u->ep & 0x80))
				u->actual = 0;
		}
		finalize(d, u);
	}
}

static gboolean disconnect_in_worker(gpointer data)
{
	struct edl_emu_dev *d = data;
	struct edl_emu_msg *m;

	g_rec_mutex_lock(&d->bed->lock);
	fail_queue(d, &d->done_due, true);
	fail_queue(d, &d->in_wait, false);
	fail_queue(d, &d->out_due, false);
	fail_queue(d, &d->out_hung, false);
	for (GList *l = d->clients; l; l = l->next) {
		struct edl_emu_client *c = l->data;

		if (c->reap_waiting && !c->reapable.length) {
			c->reap_waiting = false;
			umockdev_ioctl_client_complete(c->cl, -1, ENODEV);
			g_object_unref(c->cl);
		}
	}
	while ((m = g_queue_pop_head(&d->in_q)))
		g_free(m);
	d->in_q_bytes = 0;
	/* Leave the gate open for good: clients reap, see ENODEV and let go. */
	gate_update(d);
	if (d->gate_fd >= 0) {
		close(d->gate_fd);
		d->gate_fd = -1;
	}
	d->disconnected = true;
	edl_emu_dev_reap_if_done(d);
	g_rec_mutex_unlock(&d->bed->lock);
	return G_SOURCE_REMOVE;
}

void edl_emu_usbfs_disconnect(struct edl_emu_dev *d)
{
	d->gone = true;
	d->ops = NULL;
	d->model = NULL;
	if (d->timer) {
		g_source_destroy(d->timer);
		g_source_unref(d->timer);
		d->timer = NULL;
	}
	if (d->bed->worker)
		g_main_context_invoke(d->bed->worker, disconnect_in_worker, d);
	else
		disconnect_in_worker(d);
}

void edl_emu_usbfs_release(struct edl_emu_dev *d)
{
	struct edl_emu_msg *m;
	struct edl_emu_urb *u;

	while ((u = g_queue_pop_head(&d->in_wait)))
		urb_free(u);
	while ((u = g_queue_pop_head(&d->out_due)))
		urb_free(u);
	while ((u = g_queue_pop_head(&d->out_hung)))
		urb_free(u);
	while ((u = g_queue_pop_head(&d->done_due)))
		urb_free(u);
	while ((m = g_queue_pop_head(&d->in_q)))
		g_free(m);
	if (d->gate_fd >= 0) {
		close(d->gate_fd);
		d->gate_fd = -1;
	}
}
