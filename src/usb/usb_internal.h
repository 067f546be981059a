/*
 * Internals of the USB transport shared by context.c (libusb on the loop,
 * hotplug, budget) and device.c (one device: open, transfers, teardown).
 */
#ifndef EDLSTATION_USB_INTERNAL_H
#define EDLSTATION_USB_INTERNAL_H

#include "edlstation/usb.h"

/* Linux's usbfs default limit is 16 MiB; stay below it with room for IN buffers. */
#define EDL_USB_DEFAULT_BUDGET (12u * 1024 * 1024)

struct pollfd_watch;
struct hotplug_event;

struct edl_usb {
	uv_loop_t *loop;
	libusb_context *ctx;
	uv_timer_t timer;         /* libusb's next timeout */
	uv_timer_t hotplug_timer; /* dispatches queued hotplug events from the loop */
	uv_timer_t reap_timer;    /* finalizes closed devices outside libusb's event handling */
	struct edl_usb_dev *reap; /* devices waiting for that */
	struct pollfd_watch *watches;
	struct hotplug_event *events;
	libusb_hotplug_callback_handle hotplug[2];
	int n_hotplug;
	unsigned open_handles; /* uv handles still to close before freeing */
	bool closing;
	edl_usb_arrive_fn arrive;
	edl_usb_leave_fn leave;
	edl_usb_budget_fn budget_cb;
	void *cb_data;
	uint64_t budget;
	uint64_t budget_used;
};

bool edl_usb_budget_take(struct edl_usb *usb, size_t n);
/* libusb_close() must not run inside libusb's event handling (it takes the lock
 * the handler holds): a device whose transfers are all back is queued and
 * finalized from the loop. */
void edl_usb_defer_finalize(struct edl_usb *usb, struct edl_usb_dev *dev);
void edl_usb_dev_finalize(struct edl_usb_dev *dev);
struct edl_usb_dev **edl_usb_dev_reap_next(struct edl_usb_dev *dev);
/* Gives n bytes back; notify wakes the sessions waiting for budget (never on
 * a failed submit: the submitter would be called back before it learns). */
void edl_usb_budget_release(struct edl_usb *usb, size_t n, bool notify);

#endif
