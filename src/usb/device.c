/*
 * One EDL device on the USB transport: open and claim, async bulk and control
 * transfers with their completions delivered on the loop, and the two-phase
 * close that never frees a transfer whose cancellation has not completed.
 */
#include "usb_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "edlstation/capture.h"

struct xfer {
	struct libusb_transfer *t;
	struct edl_usb_dev *dev;
	edl_usb_done_fn cb;
	edl_usb_string_fn string_cb;
	void *user;
	size_t budget;  /* bytes taken from the station budget */
	bool cancelled; /* edl_usb_dev_cancel() asked for it */
	struct xfer *prev, *next;
	uint8_t control[LIBUSB_CONTROL_SETUP_SIZE + 256];
};

struct edl_usb_dev {
	struct edl_usb *usb;
	libusb_device_handle *handle;
	uint8_t ep_in, ep_out;
	uint16_t max_packet;
	uint8_t iproduct;
	bool claimed;
	bool closing;
	unsigned in_callback; /* nesting depth of completions running now */
	unsigned inflight;
	struct xfer *xfers;
	void (*closed)(void *user);
	void *closed_user;
	struct edl_usb_dev *reap_next;
	struct edl_capture *capture; /* the session's, while it records; NULL otherwise */
	uint16_t bus;                /* for the capture's usbmon headers */
	uint8_t devnum;
};

void edl_usb_dev_set_capture(struct edl_usb_dev *dev, struct edl_capture *capture)
{
	dev->capture = capture;
}

/* What usbmon would report for a completion. */
static int32_t usbmon_status(enum libusb_transfer_status s)
{
	switch (s) {
	case LIBUSB_TRANSFER_COMPLETED:
		return 0;
	case LIBUSB_TRANSFER_TIMED_OUT:
		return -ENOENT;
	case LIBUSB_TRANSFER_CANCELLED:
		return -ECONNRESET;
	case LIBUSB_TRANSFER_NO_DEVICE:
		return -ESHUTDOWN;
	case LIBUSB_TRANSFER_STALL:
		return -EPIPE;
	case LIBUSB_TRANSFER_OVERFLOW:
		return -EOVERFLOW;
	default:
		return -EPROTO;
	}
}

/*
 * One usbmon event of a transfer into the session's capture: its submission
 * (OUT data, control setup) or its completion (status, length, IN data).
 * The transfer's address is its URB id, as the kernel's URB pointer is.
 */
static void capture_event(struct edl_usb_dev *dev, const struct xfer *x, char type)
{
	const struct libusb_transfer *t = x->t;
	bool control = t->type == LIBUSB_TRANSFER_TYPE_CONTROL;
	bool in =
	        control ? (t->buffer[0] & LIBUSB_ENDPOINT_IN) : (t->endpoint & LIBUSB_ENDPOINT_IN);
	struct edl_capture_event ev = {
	        .urb_id = (uint64_t)(uintptr_t)x,
	        .type = type,
	        .xfer_type = control ? 2 : 3,
	        .endpoint = (uint8_t)(control ? (in ? 0x80 : 0) : t->endpoint),
	        .devnum = dev->devnum,
	        .bus = dev->bus,
	        .ts_us = edl_capture_now_us(),
	        /* As the kernel's URB has them: direction, and the ZLP libusb asks for. */
	        .xfer_flags = (in ? 0x0200u : 0) |
	                      (t->flags & LIBUSB_TRANSFER_ADD_ZERO_PACKET ? 0x0040u : 0),
	};

	if (type == 'S') {
		ev.status = -EINPROGRESS;
		ev.length = (uint32_t)(t->length - (control ? LIBUSB_CONTROL_SETUP_SIZE : 0));
		if (control) {
			ev.has_setup = true;
			memcpy(ev.setup, t->buffer, 8);
		}
		if (!in && !control) {
			ev.data = t->buffer;
			ev.data_len = ev.length;
		}
	} else {
		ev.status = usbmon_status(t->status);
		ev.length = (uint32_t)t->actual_length;
		if (in) {
			ev.data = control ? t->buffer + LIBUSB_CONTROL_SETUP_SIZE : t->buffer;
			ev.data_len = ev.length;
		}
	}
	edl_capture_write(dev->capture, &ev);
}

struct edl_usb_dev **edl_usb_dev_reap_next(struct edl_usb_dev *dev)
{
	return &dev->reap_next;
}

static int status_of(const struct edl_usb_dev *dev, const struct xfer *x,
                     enum libusb_transfer_status s)
{
	switch (s) {
	case LIBUSB_TRANSFER_COMPLETED:
		return EDL_OK;
	case LIBUSB_TRANSFER_TIMED_OUT:
		return EDL_E_TIMEOUT;
	case LIBUSB_TRANSFER_NO_DEVICE:
		return EDL_E_USB_GONE;
	case LIBUSB_TRANSFER_CANCELLED:
		/* libusb also reports CANCELLED for a device that vanished. */
		return dev->closing || x->cancelled ? EDL_E_INTERRUPTED : EDL_E_USB_GONE;
	default:
		return EDL_E_USB;
	}
}

void edl_usb_dev_finalize(struct edl_usb_dev *dev)
{
	void (*closed)(void *) = dev->closed;
	void *user = dev->closed_user;

	if (dev->claimed)
		libusb_release_interface(dev->handle, 0);
	if (dev->handle != NULL)
		libusb_close(dev->handle);
	free(dev);
	if (closed != NULL)
		closed(user);
}

static void unlink_xfer(struct edl_usb_dev *dev, struct xfer *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		dev->xfers = x->next;
	if (x->next)
		x->next->prev = x->prev;
	dev->inflight--;
}

static void LIBUSB_CALL on_transfer(struct libusb_transfer *t)
{
	struct xfer *x = t->user_data;
	struct edl_usb_dev *dev = x->dev;
	int status = status_of(dev, x, t->status);
	size_t n = (size_t)t->actual_length;

	unlink_xfer(dev, x);
	if (dev->capture != NULL)
		capture_event(dev, x, 'C');
	/* Raised before the budget callback: it pumps the sessions, and one of them
	 * may close this very device; the close must then wait for this callback
	 * to end instead of finalizing the device under it. */
	dev->in_callback++;
	if (x->budget)
		edl_usb_budget_release(dev->usb, x->budget, true);
	if (x->string_cb != NULL) {
		char text[128];
		size_t k = 0;
		const uint8_t *d = libusb_control_transfer_get_data(t);
		/* String descriptor: bLength, bDescriptorType, UTF-16LE; keep ASCII. */
		if (status == EDL_OK && n >= 2 && d[1] == LIBUSB_DT_STRING) {
			size_t len = d[0] < n ? d[0] : n;
			for (size_t i = 2; i + 1 < len && k + 1 < sizeof(text); i += 2)
				text[k++] = (d[i + 1] == 0 && d[i] >= 0x20 && d[i] < 0x7f)
				                    ? (char)d[i]
				                    : '?';
		} else if (status == EDL_OK) {
			status = EDL_E_USB;
		}
		text[k] = '\0';
		x->string_cb(dev, status, text, x->user);
	} else if (x->cb != NULL) {
		x->cb(dev, status, n, x->user);
	}
	dev->in_callback--;
	libusb_free_transfer(t);
	free(x);
	if (dev->closing && dev->inflight == 0 && dev->in_callback == 0)
		edl_usb_defer_finalize(dev->usb, dev);
}

static struct xfer *new_xfer(struct edl_usb_dev *dev)
{
	struct xfer *x = calloc(1, sizeof(*x));
	if (x == NULL)
		return NULL;
	x->t = libusb_alloc_transfer(0);
	if (x->t == NULL) {
		free(x);
		return NULL;
	}
	x->dev = dev;
	return x;
}

static int submit(struct edl_usb_dev *dev, struct xfer *x)
{
	int rc = libusb_submit_transfer(x->t);
	if (rc != 0) {
		if (x->budget)
			edl_usb_budget_release(dev->usb, x->budget, false);
		libusb_free_transfer(x->t);
		free(x);
		return edl_error_from_libusb(rc);
	}
	x->next = dev->xfers;
	if (dev->xfers)
		dev->xfers->prev = x;
	dev->xfers = x;
	dev->inflight++;
	if (dev->capture != NULL)
		capture_event(dev, x, 'S');
	return EDL_OK;
}

int edl_usb_dev_open(struct edl_usb *usb, libusb_device *device, struct edl_usb_dev **out,
                     struct edl_error *err)
{
	struct libusb_config_descriptor *cfg = NULL;
	struct libusb_device_descriptor dd;
	char port[32];
	int rc;

	edl_usb_port_path(device, port, sizeof(port));
	struct edl_usb_dev *dev = calloc(1, sizeof(*dev));
	if (dev == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "out of memory");
	dev->usb = usb;
	dev->bus = libusb_get_bus_number(device);
	dev->devnum = libusb_get_device_address(device);
	rc = libusb_open(device, &dev->handle);
	if (rc != 0) {
		edl_error_set(err, edl_error_from_libusb(rc), "cannot open USB device at %s: %s%s",
		              port, libusb_strerror(rc),
		              rc == LIBUSB_ERROR_ACCESS ? " (install the udev rule: edlstation "
		                                          "udev-rule, or add the user to plugdev)"
		                                        : "");
		goto fail;
	}
	libusb_get_device_descriptor(device, &dd);
	dev->iproduct = dd.iProduct;
	rc = libusb_get_active_config_descriptor(device, &cfg);
	if (rc != 0) {
		edl_error_set(err, edl_error_from_libusb(rc),
		              "USB device at %s: no configuration: %s", port, libusb_strerror(rc));
		goto fail;
	}
	if (cfg->bNumInterfaces < 1 || cfg->interface[0].num_altsetting < 1) {
		edl_error_set(err, EDL_E_USB, "USB device at %s has no interface 0", port);
		goto fail;
	}
	const struct libusb_interface_descriptor *ifd = &cfg->interface[0].altsetting[0];
	for (int i = 0; i < ifd->bNumEndpoints; i++) {
		const struct libusb_endpoint_descriptor *ep = &ifd->endpoint[i];
		if ((ep->bmAttributes & 3) != LIBUSB_TRANSFER_TYPE_BULK)
			continue;
		if (ep->bEndpointAddress & LIBUSB_ENDPOINT_IN) {
			dev->ep_in = ep->bEndpointAddress;
		} else {
			dev->ep_out = ep->bEndpointAddress;
			dev->max_packet = ep->wMaxPacketSize;
		}
	}
	libusb_free_config_descriptor(cfg);
	cfg = NULL;
	if (dev->ep_in == 0 || dev->ep_out == 0) {
		edl_error_set(err, EDL_E_USB, "USB device at %s has no bulk IN/OUT endpoint pair",
		              port);
		goto fail;
	}
	if (dev->max_packet == 0)
		dev->max_packet = 512;
	if (libusb_kernel_driver_active(dev->handle, 0) == 1) {
		/* qcserial binds to some EDL devices; we need the interface. */
		rc = libusb_detach_kernel_driver(dev->handle, 0);
		if (rc != 0 && rc != LIBUSB_ERROR_NOT_FOUND) {
			edl_error_set(err, edl_error_from_libusb(rc),
			              "USB device at %s: cannot detach the kernel driver: %s", port,
			              libusb_strerror(rc));
			goto fail;
		}
	}
	rc = libusb_claim_interface(dev->handle, 0);
	if (rc != 0) {
		edl_error_set(err, edl_error_from_libusb(rc),
		              "USB device at %s: cannot claim interface 0: %s%s", port,
		              libusb_strerror(rc),
		              rc == LIBUSB_ERROR_BUSY ? " (another program has it open)" : "");
		goto fail;
	}
	dev->claimed = true;
	*out = dev;
	return EDL_OK;
fail:
	if (cfg != NULL)
		libusb_free_config_descriptor(cfg);
	if (dev->handle != NULL)
		libusb_close(dev->handle);
	free(dev);
	return err ? err->code : EDL_E_USB;
}

int edl_usb_dev_read_product(struct edl_usb_dev *dev, edl_usb_string_fn cb, void *user)
{
	struct xfer *x;

	if (dev->closing)
		return EDL_E_INTERRUPTED;
	if (dev->iproduct == 0)
		return EDL_E_NOENT;
	x = new_xfer(dev);
	if (x == NULL)
		return EDL_E_NOMEM;
	libusb_fill_control_setup(x->control, LIBUSB_ENDPOINT_IN, LIBUSB_REQUEST_GET_DESCRIPTOR,
	                          (uint16_t)((LIBUSB_DT_STRING << 8) | dev->iproduct), 0x0409,
	                          sizeof(x->control) - LIBUSB_CONTROL_SETUP_SIZE);
	libusb_fill_control_transfer(x->t, dev->handle, x->control, on_transfer, x, 2000);
	x->string_cb = cb;
	x->user = user;
	return submit(dev, x);
}

int edl_usb_dev_submit_out(struct edl_usb_dev *dev, const uint8_t *data, size_t len, bool zlp,
                           edl_usb_done_fn cb, void *user)
{
	struct xfer *x;

	if (dev->closing)
		return EDL_E_INTERRUPTED;
	if (!edl_usb_budget_take(dev->usb, len))
		return EDL_E_AGAIN;
	x = new_xfer(dev);
	if (x == NULL) {
		edl_usb_budget_release(dev->usb, len, false);
		return EDL_E_NOMEM;
	}
	x->budget = len;
	/* libusb does not write through the buffer of an OUT transfer. */
	libusb_fill_bulk_transfer(x->t, dev->handle, dev->ep_out, (unsigned char *)(uintptr_t)data,
	                          (int)len, on_transfer, x, 0);
	if (zlp && len > 0 && len % dev->max_packet == 0)
		x->t->flags |= LIBUSB_TRANSFER_ADD_ZERO_PACKET;
	x->cb = cb;
	x->user = user;
	return submit(dev, x);
}

int edl_usb_dev_submit_in(struct edl_usb_dev *dev, uint8_t *buf, size_t len, unsigned timeout_ms,
                          edl_usb_done_fn cb, void *user)
{
	struct xfer *x;

	if (dev->closing)
		return EDL_E_INTERRUPTED;
	x = new_xfer(dev);
	if (x == NULL)
		return EDL_E_NOMEM;
	libusb_fill_bulk_transfer(x->t, dev->handle, dev->ep_in, buf, (int)len, on_transfer, x,
	                          timeout_ms);
	x->cb = cb;
	x->user = user;
	return submit(dev, x);
}

unsigned edl_usb_dev_inflight(const struct edl_usb_dev *dev)
{
	return dev->inflight;
}
uint16_t edl_usb_dev_max_packet(const struct edl_usb_dev *dev)
{
	return dev->max_packet;
}

void edl_usb_dev_cancel(struct edl_usb_dev *dev)
{
	if (dev == NULL)
		return;
	for (struct xfer *x = dev->xfers; x != NULL; x = x->next) {
		if (!x->cancelled) {
			x->cancelled = true;
			libusb_cancel_transfer(x->t);
		}
	}
}

void edl_usb_dev_close(struct edl_usb_dev *dev, void (*closed)(void *user), void *user)
{
	if (dev == NULL || dev->closing)
		return;
	dev->closing = true;
	dev->closed = closed;
	dev->closed_user = user;
	for (struct xfer *x = dev->xfers; x != NULL; x = x->next)
		libusb_cancel_transfer(x->t);
	if (dev->inflight == 0 && dev->in_callback == 0)
		edl_usb_defer_finalize(dev->usb, dev);
}
