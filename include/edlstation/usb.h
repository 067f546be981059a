/*
 * The USB transport: libusb-1.0 driven from a libuv loop. libusb's file
 * descriptors are watched with uv_poll (and follow libusb's pollfd notifiers as
 * they come and go), its timeouts with a uv timer; every transfer is async;
 * nothing blocks the loop and there is no thread per device. Hotplug arrivals and
 * departures of EDL devices (05c6:9008, and 05c6:900e in memory-dump mode) are
 * reported to the station, devices already attached at start included.
 *
 * In-flight OUT bytes are budgeted across the whole station so that Linux's
 * usbfs memory limit (usbfs_memory_mb, 16 MB by default) is never hit by us; if
 * usbfs still refuses memory, the error names usbfs_memory_mb and how to raise it.
 *
 * Teardown is two-phase: edl_usb_dev_close() cancels every transfer and frees the
 * device only when the last cancelled transfer has come back.
 */
#ifndef EDLSTATION_USB_H
#define EDLSTATION_USB_H

#include <libusb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "edlstation/error.h"

#define EDL_USB_VID 0x05c6
#define EDL_USB_PID_EDL 0x9008
#define EDL_USB_PID_DUMP 0x900e

struct edl_usb;
struct edl_usb_dev;

struct edl_usb_device_info {
	char port[32]; /* "1-1.3": bus, then port numbers */
	uint8_t bus;
	uint8_t address;
	uint16_t vid, pid;
};

/* A device arrived (dev is referenced for the duration of the call only; take
 * libusb_ref_device to keep it) or left. Called on the loop. */
typedef void (*edl_usb_arrive_fn)(struct edl_usb *usb, libusb_device *dev,
                                  const struct edl_usb_device_info *info, void *data);
typedef void (*edl_usb_leave_fn)(struct edl_usb *usb, libusb_device *dev, void *data);
/* Budgeted bytes were released: sessions waiting for budget may go on. */
typedef void (*edl_usb_budget_fn)(struct edl_usb *usb, void *data);

/* Opens libusb on loop (which must outlive it) with a station-wide budget of
 * in-flight OUT bytes. *out is the caller's: edl_usb_close() it once every
 * device was closed. Returns EDL_OK, EDL_E_USB or EDL_E_NOMEM. */
int edl_usb_new(struct edl_usb **out, uv_loop_t *loop, uint64_t inflight_budget,
                struct edl_error *err);
/* Starts hotplug for EDL devices; arrivals of devices already present follow
 * from the loop (never from inside this call). */
int edl_usb_watch(struct edl_usb *usb, edl_usb_arrive_fn arrive, edl_usb_leave_fn leave,
                  edl_usb_budget_fn budget, void *data, struct edl_error *err);
/* Whether the device is an EDL device (05c6:9008, or 05c6:900e in memory-dump mode). */
bool edl_usb_is_edl(const struct edl_usb_device_info *info);

/* The chip serial in an iProduct string ("QUSB__BULK_SN:1A2B3C4D"): true and hex
 * set (8 lower-case digits) when exactly 8 hex digits follow "_SN:"; hex is ""
 * otherwise. token (may be NULL) gets the text after "_SN:" as the descriptor has
 * it, or NULL when there is none. */
bool edl_usb_product_serial(const char *product, char hex[9], const char **token);
/* Stops hotplug and closes the libusb context; every device must be closed
 * (its closed callback called) before. Frees usb when its handles are closed. */
void edl_usb_close(struct edl_usb *usb);
uint64_t edl_usb_budget_used(const struct edl_usb *usb);

/* The info of a device (port path, bus, address, ids). */
void edl_usb_fill_info(libusb_device *dev, struct edl_usb_device_info *info);

/* Port path of a device ("1-1.3"). */
void edl_usb_port_path(libusb_device *dev, char *buf, size_t len);

/* Opens dev: detaches a bound kernel driver (qcserial), claims interface 0,
 * finds the bulk endpoints. */
int edl_usb_dev_open(struct edl_usb *usb, libusb_device *dev, struct edl_usb_dev **out,
                     struct edl_error *err);

/* Completion of a transfer: status EDL_OK, EDL_E_TIMEOUT, EDL_E_USB_GONE, EDL_E_INTERRUPTED
 * (cancelled) or another EDL_E_USB*; n bytes transferred. */
typedef void (*edl_usb_done_fn)(struct edl_usb_dev *dev, int status, size_t n, void *user);

/* Reads the iProduct string asynchronously (e.g. "QUSB__BULK_SN:1A2B3C4D"). */
typedef void (*edl_usb_string_fn)(struct edl_usb_dev *dev, int status, const char *text,
                                  void *user);
int edl_usb_dev_read_product(struct edl_usb_dev *dev, edl_usb_string_fn cb, void *user);

/* Bulk OUT of len bytes from data (not copied: keep it alive until cb). With
 * zlp, a transfer that is a multiple of wMaxPacketSize is followed by a
 * zero-length packet. Takes len from the station budget: EDL_E_AGAIN when the
 * budget is exhausted (retry after the budget callback). */
int edl_usb_dev_submit_out(struct edl_usb_dev *dev, const uint8_t *data, size_t len, bool zlp,
                           edl_usb_done_fn cb, void *user);
/* Bulk IN into buf (at most len bytes); timeout_ms 0 = none. */
int edl_usb_dev_submit_in(struct edl_usb_dev *dev, uint8_t *buf, size_t len, unsigned timeout_ms,
                          edl_usb_done_fn cb, void *user);
unsigned edl_usb_dev_inflight(const struct edl_usb_dev *dev);
uint16_t edl_usb_dev_max_packet(const struct edl_usb_dev *dev);

/* Cancels every transfer in flight, the device staying open: each still
 * completes, with status EDL_E_INTERRUPTED (or its own, had it finished). For a
 * unit whose OUT endpoint stopped draining: its transfers never come back
 * otherwise (OUT transfers have no timeout; the flash job's deadline decides). */
void edl_usb_dev_cancel(struct edl_usb_dev *dev);

struct edl_capture;
/* Records every later submission and completion of dev's transfers into
 * capture (capture.h: usbmon events), or stops recording (NULL). The capture
 * stays the caller's: set NULL before closing it. */
void edl_usb_dev_set_capture(struct edl_usb_dev *dev, struct edl_capture *capture);

/* Cancels everything in flight; when the last transfer is back, releases the
 * interface, closes the handle, frees dev and calls closed(user). The done
 * callbacks of cancelled transfers still run (status EDL_E_INTERRUPTED or
 * EDL_E_USB_GONE) before closed. */
void edl_usb_dev_close(struct edl_usb_dev *dev, void (*closed)(void *user), void *user);

#endif
