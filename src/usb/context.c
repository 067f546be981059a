/*
 * libusb on the libuv loop: one uv_poll per libusb file descriptor (following
 * libusb's pollfd notifiers), a uv timer for libusb's own timeouts, hotplug
 * events queued and dispatched from the loop, and the station-wide budget of
 * in-flight OUT bytes.
 */
#include "usb_internal.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pollfd_watch {
	uv_poll_t poll;
	int fd;
	struct edl_usb *usb;
	struct pollfd_watch *next;
};

struct hotplug_event {
	libusb_device *dev;
	bool arrived;
	struct hotplug_event *next;
};

static void on_handle_closed(uv_handle_t *h);

static void handle_events(struct edl_usb *usb);

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct pollfd_watch *w = (struct pollfd_watch *)p;
	(void)status;
	(void)events;
	handle_events(w->usb);
}

static void on_libusb_timer(uv_timer_t *t)
{
	struct edl_usb *usb = (struct edl_usb *)((char *)t - offsetof(struct edl_usb, timer));
	handle_events(usb);
}

static void watch_fd(struct edl_usb *usb, int fd, short events)
{
	struct pollfd_watch *w;
	int uvev = 0;

	for (w = usb->watches; w != NULL; w = w->next) {
		if (w->fd == fd)
			break;
	}
	if (events & POLLIN)
		uvev |= UV_READABLE;
	if (events & POLLOUT)
		uvev |= UV_WRITABLE;
	if (w == NULL) {
		w = calloc(1, sizeof(*w));
		if (w == NULL)
			return;
		if (uv_poll_init(usb->loop, &w->poll, fd) != 0) {
			/* epoll refuses regular files; usbfs nodes and libusb's pipes are fine. */
			fprintf(stderr, "usb: cannot watch fd %d with the event loop\n", fd);
			free(w);
			return;
		}
		w->fd = fd;
		w->usb = usb;
		w->next = usb->watches;
		usb->watches = w;
		usb->open_handles++;
	}
	uv_poll_start(&w->poll, uvev, on_poll);
}

static void unwatch_fd(struct edl_usb *usb, int fd)
{
	for (struct pollfd_watch **pp = &usb->watches; *pp != NULL; pp = &(*pp)->next) {
		struct pollfd_watch *w = *pp;
		if (w->fd != fd)
			continue;
		*pp = w->next;
		uv_poll_stop(&w->poll);
		uv_close((uv_handle_t *)&w->poll, on_handle_closed);
		return;
	}
}

static void LIBUSB_CALL pollfd_added(int fd, short events, void *data)
{
	watch_fd(data, fd, events);
}

static void LIBUSB_CALL pollfd_removed(int fd, void *data)
{
	unwatch_fd(data, fd);
}

static void arm_timer(struct edl_usb *usb)
{
	struct timeval tv;

	if (usb->closing)
		return;
	if (libusb_get_next_timeout(usb->ctx, &tv) == 1) {
		uint64_t ms = (uint64_t)tv.tv_sec * 1000 + (uint64_t)(tv.tv_usec + 999) / 1000;
		uv_timer_start(&usb->timer, on_libusb_timer, ms, 0);
	} else {
		uv_timer_stop(&usb->timer);
	}
}

static void dispatch_hotplug(uv_timer_t *t)
{
	struct edl_usb *usb =
	        (struct edl_usb *)((char *)t - offsetof(struct edl_usb, hotplug_timer));
	struct hotplug_event *list = usb->events, *prev = NULL;

	usb->events = NULL;
	/* Events were pushed at the head: reverse to arrival order. */
	while (list != NULL) {
		struct hotplug_event *next = list->next;
		list->next = prev;
		prev = list;
		list = next;
	}
	for (struct hotplug_event *e = prev; e != NULL;) {
		struct hotplug_event *next = e->next;
		if (!usb->closing) {
			if (e->arrived && usb->arrive != NULL) {
				struct edl_usb_device_info info;
				edl_usb_fill_info(e->dev, &info);
				usb->arrive(usb, e->dev, &info, usb->cb_data);
			} else if (!e->arrived && usb->leave != NULL) {
				usb->leave(usb, e->dev, usb->cb_data);
			}
		}
		libusb_unref_device(e->dev);
		free(e);
		e = next;
	}
}

static int LIBUSB_CALL on_hotplug(libusb_context *ctx, libusb_device *dev,
                                  libusb_hotplug_event event, void *data)
{
	struct edl_usb *usb = data;
	struct hotplug_event *e = calloc(1, sizeof(*e));

	(void)ctx;
	if (e == NULL)
		return 0;
	e->dev = libusb_ref_device(dev);
	e->arrived = event == LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED;
	e->next = usb->events;
	usb->events = e;
	if (!usb->closing)
		uv_timer_start(&usb->hotplug_timer, dispatch_hotplug, 0, 0);
	return 0;
}

static void on_reap(uv_timer_t *t)
{
	struct edl_usb *usb = (struct edl_usb *)((char *)t - offsetof(struct edl_usb, reap_timer));

	while (usb->reap != NULL) {
		struct edl_usb_dev *dev = usb->reap;
		usb->reap = *edl_usb_dev_reap_next(dev);
		edl_usb_dev_finalize(dev);
	}
}

void edl_usb_defer_finalize(struct edl_usb *usb, struct edl_usb_dev *dev)
{
	*edl_usb_dev_reap_next(dev) = usb->reap;
	usb->reap = dev;
	uv_timer_start(&usb->reap_timer, on_reap, 0, 0);
}

static void handle_events(struct edl_usb *usb)
{
	struct timeval zero = {0, 0};

	libusb_handle_events_timeout_completed(usb->ctx, &zero, NULL);
	arm_timer(usb);
}

void edl_usb_port_path(libusb_device *dev, char *buf, size_t len)
{
	uint8_t ports[8];
	int n = libusb_get_port_numbers(dev, ports, (int)sizeof(ports));
	size_t off;

	off = (size_t)snprintf(buf, len, "%u", libusb_get_bus_number(dev));
	for (int i = 0; i < n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%c%u", i == 0 ? '-' : '.', ports[i]);
}

void edl_usb_fill_info(libusb_device *dev, struct edl_usb_device_info *info)
{
	struct libusb_device_descriptor d;

	memset(info, 0, sizeof(*info));
	edl_usb_port_path(dev, info->port, sizeof(info->port));
	info->bus = libusb_get_bus_number(dev);
	info->address = libusb_get_device_address(dev);
	if (libusb_get_device_descriptor(dev, &d) == 0) {
		info->vid = d.idVendor;
		info->pid = d.idProduct;
	}
}

int edl_usb_new(struct edl_usb **out, uv_loop_t *loop, uint64_t inflight_budget,
                struct edl_error *err)
{
	struct edl_usb *usb = calloc(1, sizeof(*usb));
	int rc;

	if (usb == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "out of memory");
	usb->loop = loop;
	usb->budget = inflight_budget ? inflight_budget : EDL_USB_DEFAULT_BUDGET;
	rc = libusb_init(&usb->ctx);
	if (rc != 0) {
		free(usb);
		return edl_error_set(err, edl_error_from_libusb(rc), "libusb_init: %s",
		                     libusb_strerror(rc));
	}
	uv_timer_init(loop, &usb->timer);
	uv_timer_init(loop, &usb->hotplug_timer);
	uv_timer_init(loop, &usb->reap_timer);
	usb->open_handles = 3;
	libusb_set_pollfd_notifiers(usb->ctx, pollfd_added, pollfd_removed, usb);
	const struct libusb_pollfd **fds = libusb_get_pollfds(usb->ctx);
	for (size_t i = 0; fds != NULL && fds[i] != NULL; i++)
		watch_fd(usb, fds[i]->fd, fds[i]->events);
	libusb_free_pollfds(fds);
	*out = usb;
	return EDL_OK;
}

int edl_usb_watch(struct edl_usb *usb, edl_usb_arrive_fn arrive, edl_usb_leave_fn leave,
                  edl_usb_budget_fn budget, void *data, struct edl_error *err)
{
	static const int pids[] = {EDL_USB_PID_EDL, EDL_USB_PID_DUMP};

	usb->arrive = arrive;
	usb->leave = leave;
	usb->budget_cb = budget;
	usb->cb_data = data;
	if (!libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG))
		return edl_error_set(err, EDL_E_UNSUPPORTED, "this libusb has no hotplug support");
	for (size_t i = 0; i < sizeof(pids) / sizeof(pids[0]); i++) {
		int rc = libusb_hotplug_register_callback(
		        usb->ctx,
		        LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED | LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT,
		        LIBUSB_HOTPLUG_ENUMERATE, EDL_USB_VID, pids[i], LIBUSB_HOTPLUG_MATCH_ANY,
		        on_hotplug, usb, &usb->hotplug[i]);
		if (rc != LIBUSB_SUCCESS)
			return edl_error_set(err, edl_error_from_libusb(rc),
			                     "cannot watch USB hotplug: %s", libusb_strerror(rc));
		usb->n_hotplug++;
	}
	arm_timer(usb);
	return EDL_OK;
}

uint64_t edl_usb_budget_used(const struct edl_usb *usb)
{
	return usb->budget_used;
}

bool edl_usb_budget_take(struct edl_usb *usb, size_t n)
{
	/* A transfer larger than the whole budget may go alone. */
	if (usb->budget_used > 0 && usb->budget_used + n > usb->budget)
		return false;
	usb->budget_used += n;
	return true;
}

void edl_usb_budget_release(struct edl_usb *usb, size_t n, bool notify)
{
	usb->budget_used -= n;
	if (!notify)
		return;
	if (usb->budget_cb != NULL && !usb->closing)
		usb->budget_cb(usb, usb->cb_data);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct edl_usb *usb;

	if (h->type == UV_POLL) {
		struct pollfd_watch *w = (struct pollfd_watch *)h;
		usb = w->usb;
		free(w);
	} else {
		usb = h->data;
	}
	if (--usb->open_handles == 0) {
		libusb_exit(usb->ctx);
		free(usb);
	}
}

void edl_usb_close(struct edl_usb *usb)
{
	if (usb == NULL)
		return;
	usb->closing = true;
	for (int i = 0; i < usb->n_hotplug; i++)
		libusb_hotplug_deregister_callback(usb->ctx, usb->hotplug[i]);
	/* Events still queued are dropped with their references. */
	for (struct hotplug_event *e = usb->events; e != NULL;) {
		struct hotplug_event *next = e->next;
		libusb_unref_device(e->dev);
		free(e);
		e = next;
	}
	usb->events = NULL;
	libusb_set_pollfd_notifiers(usb->ctx, NULL, NULL, NULL);
	while (usb->watches != NULL)
		unwatch_fd(usb, usb->watches->fd);
	/* Devices still queued for finalizing are closed now, outside libusb. */
	on_reap(&usb->reap_timer);
	usb->timer.data = usb;
	usb->hotplug_timer.data = usb;
	usb->reap_timer.data = usb;
	uv_close((uv_handle_t *)&usb->reap_timer, on_handle_closed);
	uv_close((uv_handle_t *)&usb->timer, on_handle_closed);
	uv_close((uv_handle_t *)&usb->hotplug_timer, on_handle_closed);
}
