/*
 * Internals of the emulated USB bus, shared by testbed.c (the umockdev testbed:
 * sysfs, device nodes, hubs, plugging and unplugging), usbfs.c (the ioctl
 * handler that plays the Linux usbdevfs driver for each device node) and line.c
 * (ports and units on top). Nothing outside src/emulator/ and its tests uses
 * this header; the public face is include/edlstation/emulator.h.
 *
 * Threads: umockdev runs every ioctl handler of every device on its one worker
 * thread. The model behind a device (struct edl_emu_model_ops) is only ever
 * called there, with the bed lock held. The caller's thread (the emulate
 * command's main loop) plugs and unplugs devices and reads their state under
 * the same lock; anything that must answer a client is marshalled onto the
 * worker thread.
 */
#ifndef EDLSTATION_EMULATOR_EMU_H
#define EDLSTATION_EMULATOR_EMU_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <umockdev.h>

#include "edlstation/error.h"
#include "edlstation/io.h"

/* Hubs below the root hub (ports 1-<hub>.<port>) and ports per hub. */
#define EDL_EMU_MAX_HUBS 15
#define EDL_EMU_MAX_HUB_PORTS 15
/* wMaxPacketSize of the bulk endpoints (high speed). */
#define EDL_EMU_PACKET 512
/* Device->host bytes pulled from a model ahead of the host's reads. */
#define EDL_EMU_IN_AHEAD (2u * 1024 * 1024)

/*
 * The device behind an emulated USB device, e.g. the emulated EDL target. All
 * callbacks run on umockdev's worker thread with the bed lock held; `now` is
 * edl_clock_ms(). feed() receives one host->device transfer (a zero-length one
 * is a ZLP); next_in() yields the device->host transfers in order (the chunk is
 * copied at once); deadline()/timeout() give the model time (0 = no deadline).
 */
struct edl_emu_model_ops {
	int (*feed)(void *model, const uint8_t *data, size_t len, uint64_t now);
	bool (*next_in)(void *model, struct edl_chunk *out, uint64_t now);
	uint64_t (*deadline)(void *model);
	void (*timeout)(void *model, uint64_t now);
	/* Optional: true once the device has hung with its OUT endpoint full (the
	 * stall fault). From then on usbfs.c neither feeds nor completes OUT
	 * transfers (they stay pending until discarded or timed out) and hands out
	 * no IN data; control requests are still answered. NULL = never. */
	bool (*stalled)(void *model);
};

struct edl_emu_hub {
	bool present;
	unsigned ports;
	int devnum;
	uint64_t rate;      /* bytes/s shared by the hub's devices; 0 = unlimited */
	int64_t free_at_us; /* the hub's link is busy until then (rate model) */
};

struct edl_emu_bed {
	UMockdevTestbed *tb;
	char *root;
	GRecMutex lock;
	GMainContext *worker; /* umockdev's worker context, learned from the first client */
	GPtrArray *devs;      /* every device ever plugged, freed with the bed */
	struct edl_emu_hub hubs[EDL_EMU_MAX_HUBS + 1];
	bool devnum_used[128];
	int last_devnum;
	int max_devnum;
	void (*worker_cleanup)(void); /* run on the worker thread before teardown */
	uint64_t usbfs_limit;         /* bytes of URBs in flight, as usbfs_memory_mb; 0 = none */
	uint64_t usbfs_used;
	bool closing; /* edl_emu_bed_free() has begun: no device is reaped any more */
};

struct edl_emu_dev {
	struct edl_emu_bed *bed;
	char port[16];     /* "1-2.3" */
	char syspath[96];  /* "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2.3" */
	char devnode[32];  /* "/dev/bus/usb/001/007" */
	char product[128]; /* "QUSB__BULK_SN:1A2B3C4D" (+ a test's suffix) */
	uint16_t pid;      /* idProduct: 0x9008, or 0x900e in memory-dump mode */
	unsigned hub, portno;
	int devnum;
	uint32_t serial;
	UMockdevIoctlBase *handler;
	int gate_fd;    /* the device node, a FIFO kept full unless something is reapable */
	bool gate_open; /* drained: clients see POLLOUT */
	bool gone;      /* unplugged: ioctls fail with ENODEV */
	bool attached;  /* the ioctl handler is attached to devnode */
	const struct edl_emu_model_ops *ops; /* NULL once unplugged */
	void *model;
	GList *clients;  /* struct edl_emu_client * */
	GQueue in_wait;  /* IN transfers waiting for device data, in submission order */
	GQueue out_due;  /* OUT transfers waiting for the link (rate model) */
	GQueue out_hung; /* OUT transfers the stalled device never takes */
	GQueue done_due; /* IN transfers filled, waiting for the link (rate model) */
	GQueue in_q;     /* struct edl_emu_msg *: device->host data not yet read */
	size_t in_q_bytes;
	uint64_t link_rate; /* bytes/s; 0 = unlimited */
	int64_t link_free_us;
	GSource *timer; /* on the worker context: rate model and model deadlines */
	/* Statistics, read under the lock. */
	uint64_t bytes_out, bytes_in, ioctls;
	int64_t last_activity_us; /* g_get_monotonic_time() of the last ioctl; 0 = none */
	bool claimed;             /* interface 0 was claimed at least once */
	int64_t plugged_us;
	/* Freeing a device that left (edl_emu_dev_forget): all three must hold. */
	bool disconnected; /* the worker failed what was pending (after gone) */
	bool forgotten;    /* its owner will not read it again */
	bool reap_queued;  /* a reap is scheduled on the worker */
};

struct edl_emu_dev_config {
	unsigned hub;  /* 1-based hub number, added with edl_emu_bed_add_hub() */
	unsigned port; /* 1-based port on that hub */
	uint32_t serial;
	const struct edl_emu_model_ops *ops;
	void *model;
	uint64_t link_rate; /* bytes/s of the device's link, both directions; 0 = unlimited */
	const char *
	        product_suffix; /* appended to iProduct (tests of hostile descriptors); NULL none */
	uint16_t pid;           /* idProduct: 0x9008 (0 = that), 0x900e for a unit in
	                           memory-dump mode */
};

/* Creates the testbed (in $TMPDIR, keep it short: socket paths must stay under
 * 108 bytes) with a root hub usb1. The calling process must run under
 * libumockdev-preload (linked in) for uevents to work. Returns EDL_OK or
 * EDL_E_IO. */
int edl_emu_bed_new(struct edl_emu_bed **out, struct edl_error *err);

/* Tears the testbed down: unplugs what is left and frees every device. Call
 * when no client process is left. */
void edl_emu_bed_free(struct edl_emu_bed *bed);

/* The testbed's root directory: the host side needs UMOCKDEV_DIR set to it. */
const char *edl_emu_bed_root(const struct edl_emu_bed *bed);

/* Removes the uevent sockets (umockdev's preload names them event<N> in the
 * testbed) of hosts that no longer listen: umockdev aborts when a uevent meets
 * one ("sendmsg failed: Connection refused"), e.g. after the station exited or
 * was killed. Called before every uevent the bed sends. */
void edl_emu_bed_prune_listeners(struct edl_emu_bed *bed);

/* Highest device address handed out (default 127); lower values make tests
 * reuse addresses sooner. */
void edl_emu_bed_set_max_devnum(struct edl_emu_bed *bed, int max_devnum);

/* fn runs on umockdev's worker thread when the bed is freed, for per-thread
 * state that libraries used by the models keep there (e.g. OpenSSL's). */
void edl_emu_bed_set_worker_cleanup(struct edl_emu_bed *bed, void (*fn)(void));

/* Limits the memory of host transfers in flight over all devices, like
 * Linux's usbfs_memory_mb (default 16 MiB): a submit beyond it fails with
 * ENOMEM. 0 = no limit. */
void edl_emu_bed_set_usbfs_limit(struct edl_emu_bed *bed, uint64_t bytes);

/* Adds hub 1-<hub> with `ports` ports sharing `rate` bytes/s (0 = unlimited). */
int edl_emu_bed_add_hub(struct edl_emu_bed *bed, unsigned hub, unsigned ports, uint64_t rate,
                        struct edl_error *err);

void edl_emu_bed_lock(struct edl_emu_bed *bed);
void edl_emu_bed_unlock(struct edl_emu_bed *bed);

/* Plugs a device into a free port: sysfs, device node, "add" uevent. *out stays
 * owned by the bed. Returns EDL_OK, EDL_E_BUSY (port taken or no address
 * left), EDL_E_INVAL (no such hub/port) or EDL_E_IO. */
int edl_emu_dev_plug(struct edl_emu_dev **out, struct edl_emu_bed *bed,
                     const struct edl_emu_dev_config *cfg, struct edl_error *err);

/* Unplugs: pending transfers end with "no device", the "remove" uevent goes
 * out, the model is never called again (the caller may free it on return). The
 * struct stays valid (clients may still hold it) until edl_emu_bed_free(). */
void edl_emu_dev_unplug(struct edl_emu_dev *dev);

/* The caller is done with an unplugged device (it reads none of its fields
 * again): the bed frees it once no client holds it and the worker has let go,
 * so a long line keeps no memory per device that left. Without this call a
 * device is freed with the bed. */
void edl_emu_dev_forget(struct edl_emu_dev *dev);

/* Frees dev if it is forgotten, disconnected and has no client, on the
 * worker thread (deferred: never inside the caller). Bed lock held. */
void edl_emu_dev_reap_if_done(struct edl_emu_dev *dev);

/* Runs the model once more (pull its output, re-arm its deadline): for changes
 * made to the model outside the callbacks. Any thread. */
void edl_emu_dev_kick(struct edl_emu_dev *dev);

/* --- usbfs.c, used by testbed.c --- */

/* Connects the ioctl handler's signals for dev. */
void edl_emu_usbfs_init(struct edl_emu_dev *dev);
/* Marks dev gone and fails what is pending (on the worker thread when known). */
void edl_emu_usbfs_disconnect(struct edl_emu_dev *dev);
/* Fills the gate FIFO (called once after creating it). */
void edl_emu_usbfs_gate_fill(struct edl_emu_dev *dev);
/* Pulls model output and arms the timer; bed lock held. */
void edl_emu_usbfs_service(struct edl_emu_dev *dev);
/* Frees queues of a device at bed teardown; bed lock held. */
void edl_emu_usbfs_release(struct edl_emu_dev *dev);

/* The 18-byte device descriptor followed by the configuration descriptor. */
size_t edl_emu_descriptors(uint8_t *out, size_t cap, uint16_t pid);

#endif
