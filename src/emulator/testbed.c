/*
 * The emulated USB bus: a umockdev testbed holding a root hub (usb1), hubs
 * 1-1, 1-2, ... below it and EDL devices (05c6:9008) on their ports, each with
 * the sysfs attributes and descriptors libudev and libusb read, an interface
 * child 1-H.P:1.0, and a device node /dev/bus/usb/001/NNN whose ioctls usbfs.c
 * answers. Plugging and unplugging send the "add"/"remove" uevents that drive
 * hotplug in the host.
 *
 * The order of operations matters (EMULATION.md): the ioctl handler is attached
 * before the sysfs device appears (the "add" uevent goes out at once), the node
 * is a FIFO rather than a regular file (so poll and epoll work, see usbfs.c),
 * and on unplug the interface child is removed before its device.
 */
#include "emu.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "edlstation/clock.h"

#define PCI_PATH "/devices/pci0000:00/0000:00:14.0"

static void put_le16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v & 0xff);
	p[1] = (uint8_t)(v >> 8);
}

/* A device descriptor: class, vendor, product, bcdDevice, string indexes. */
static void device_descriptor(uint8_t d[18], uint8_t cls, uint8_t proto, unsigned vid, unsigned pid,
                              unsigned bcd, uint8_t imanu, uint8_t iprod, uint8_t iserial)
{
	d[0] = 18;
	d[1] = 1; /* DEVICE */
	put_le16(d + 2, 0x0200);
	d[4] = cls;
	d[5] = 0;
	d[6] = proto;
	d[7] = 64; /* bMaxPacketSize0 */
	put_le16(d + 8, vid);
	put_le16(d + 10, pid);
	put_le16(d + 12, bcd);
	d[14] = imanu;
	d[15] = iprod;
	d[16] = iserial;
	d[17] = 1; /* bNumConfigurations */
}

size_t edl_emu_descriptors(uint8_t *out, size_t cap, uint16_t pid)
{
	/* EDL: one vendor-specific interface with bulk IN 0x81 and OUT 0x01 of 512 bytes. */
	static const uint8_t cfg[32] = {
	        9,    2,    32,   0,  1,
	        1,    0,    0x80, 50, /* configuration 1, bus powered */
	        9,    4,    0,    0,  2,
	        0xff, 0xff, 0xff, 0, /* interface 0: ff/ff/ff */
	        7,    5,    0x81, 2,  EDL_EMU_PACKET & 0xff,
	        2,    0, /* bulk IN 512 */
	        7,    5,    0x01, 2,  EDL_EMU_PACKET & 0xff,
	        2,    0, /* bulk OUT 512 */
	};

	if (cap < 18 + sizeof(cfg))
		return 0;
	/* iSerialNumber 0 like real units: the serial lives in iProduct. */
	device_descriptor(out, 0, 0, 0x05c6, pid, 0x0000, 1, 2, 0);
	memcpy(out + 18, cfg, sizeof(cfg));
	return 18 + sizeof(cfg);
}

/* A hub's descriptors: device + configuration with one interrupt endpoint. */
static size_t hub_descriptors(uint8_t *out, unsigned vid, unsigned pid, unsigned bcd, bool root)
{
	static const uint8_t cfg[25] = {
	        9, 2, 25,   0, 1, 1, 0,  0xe0, 0, /* self powered, remote wakeup */
	        9, 4, 0,    0, 1, 9, 0,  0,    0, /* hub interface */
	        7, 5, 0x81, 3, 4, 0, 12,          /* interrupt IN */
	};

	device_descriptor(out, 9, 1, vid, pid, bcd, root ? 3 : 0, root ? 2 : 1, root ? 1 : 0);
	memcpy(out + 18, cfg, sizeof(cfg));
	return 18 + sizeof(cfg);
}

static char *hex(const uint8_t *p, size_t n)
{
	GString *s = g_string_sized_new(n * 2 + 1);

	for (size_t i = 0; i < n; i++)
		g_string_append_printf(s, "%02X", p[i]);
	return g_string_free(s, FALSE);
}

static int alloc_devnum(struct edl_emu_bed *bed)
{
	/* Addresses go round like the kernel's: the next free one after the last. */
	for (int i = 1; i <= bed->max_devnum; i++) {
		int n = (bed->last_devnum + i - 1) % bed->max_devnum + 1;

		if (!bed->devnum_used[n]) {
			bed->devnum_used[n] = true;
			bed->last_devnum = n;
			return n;
		}
	}
	return -1;
}

int edl_emu_bed_new(struct edl_emu_bed **out, struct edl_error *err)
{
	struct edl_emu_bed *bed = g_new0(struct edl_emu_bed, 1);
	GError *gerr = NULL;
	uint8_t desc[64];
	size_t n = hub_descriptors(desc, 0x1d6b, 0x0002, 0x0601, true);
	char *h = hex(desc, n);
	char *rec;
	int rc = EDL_OK;

	*out = NULL;
	g_rec_mutex_init(&bed->lock);
	bed->devs = g_ptr_array_new();
	bed->max_devnum = 127;
	bed->usbfs_limit = 16u * 1024 * 1024;
	bed->devnum_used[1] = true; /* the root hub */
	bed->last_devnum = 1;
	bed->tb = umockdev_testbed_new();
	bed->root = umockdev_testbed_get_root_dir(bed->tb);
	if (!umockdev_in_mock_environment()) {
		rc = edl_error_set(err, EDL_E_INTERNAL,
		                   "the emulator is not running under libumockdev-preload: "
		                   "devices would not send uevents");
		goto out;
	}
	rec = g_strdup_printf("P: " PCI_PATH "/usb1\n"
	                      "N: bus/usb/001/001=%s\n"
	                      "E: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\nE: DRIVER=usb\n"
	                      "E: DEVNAME=/dev/bus/usb/001/001\nE: BUSNUM=001\nE: DEVNUM=001\n"
	                      "E: MAJOR=189\nE: MINOR=0\nE: PRODUCT=1d6b/2/601\nE: TYPE=9/0/1\n"
	                      "A: busnum=1\\n\nA: devnum=1\\n\nA: speed=480\\n\n"
	                      "A: bConfigurationValue=1\\n\nA: idVendor=1d6b\\n\n"
	                      "A: idProduct=0002\\n\nA: bcdDevice=0601\\n\nA: bDeviceClass=09\\n\n"
	                      "A: bNumInterfaces= 1\\n\nA: bNumConfigurations=1\\n\n"
	                      "A: bMaxPacketSize0=64\\n\nA: devpath=0\\n\nA: version= 2.00\\n\n"
	                      "A: maxchild=%d\\n\nA: dev=189:0\\n\n"
	                      "A: manufacturer=edlstation emulated bus\\n\n"
	                      "A: product=EHCI Host Controller\\n\nA: serial=0000:00:14.0\\n\n"
	                      "H: descriptors=%s\n",
	                      h, EDL_EMU_MAX_HUBS, h);
	if (!umockdev_testbed_add_from_string(bed->tb, rec, &gerr)) {
		rc = edl_error_set(err, EDL_E_IO, "adding the root hub to the umockdev testbed: %s",
		                   gerr->message);
		g_error_free(gerr);
	}
	g_free(rec);
out:
	g_free(h);
	if (rc != EDL_OK) {
		edl_emu_bed_free(bed);
		return rc;
	}
	*out = bed;
	return EDL_OK;
}

const char *edl_emu_bed_root(const struct edl_emu_bed *bed)
{
	return bed->root;
}

void edl_emu_bed_set_max_devnum(struct edl_emu_bed *bed, int max_devnum)
{
	if (max_devnum < 2 || max_devnum > 127)
		return;
	bed->max_devnum = max_devnum;
}

void edl_emu_bed_lock(struct edl_emu_bed *bed)
{
	g_rec_mutex_lock(&bed->lock);
}

void edl_emu_bed_unlock(struct edl_emu_bed *bed)
{
	g_rec_mutex_unlock(&bed->lock);
}

int edl_emu_bed_add_hub(struct edl_emu_bed *bed, unsigned hub, unsigned ports, uint64_t rate,
                        struct edl_error *err)
{
	struct edl_emu_hub *hb;
	GError *gerr = NULL;
	uint8_t desc[64];
	size_t n;
	char *h, *rec;
	int devnum, rc = EDL_OK;

	if (hub < 1 || hub > EDL_EMU_MAX_HUBS || ports < 1 || ports > EDL_EMU_MAX_HUB_PORTS)
		return edl_error_set(err, EDL_E_INVAL,
		                     "hub %u with %u ports: hubs are 1..%d with 1..%d ports", hub,
		                     ports, EDL_EMU_MAX_HUBS, EDL_EMU_MAX_HUB_PORTS);
	hb = &bed->hubs[hub];
	if (hb->present)
		return edl_error_set(err, EDL_E_EXISTS, "hub 1-%u exists", hub);
	g_rec_mutex_lock(&bed->lock);
	devnum = alloc_devnum(bed);
	g_rec_mutex_unlock(&bed->lock);
	if (devnum < 0)
		return edl_error_set(err, EDL_E_BUSY, "no USB address left for hub 1-%u", hub);

	n = hub_descriptors(desc, 0x1a40, 0x0201, 0x0100, false);
	h = hex(desc, n);
	rec = g_strdup_printf("P: " PCI_PATH "/usb1/1-%u\n"
	                      "N: bus/usb/001/%03d=%s\n"
	                      "E: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\nE: DRIVER=usb\n"
	                      "E: DEVNAME=/dev/bus/usb/001/%03d\nE: BUSNUM=001\nE: DEVNUM=%03d\n"
	                      "E: MAJOR=189\nE: MINOR=%d\nE: PRODUCT=1a40/201/100\nE: TYPE=9/0/1\n"
	                      "A: busnum=1\\n\nA: devnum=%d\\n\nA: speed=480\\n\n"
	                      "A: bConfigurationValue=1\\n\nA: idVendor=1a40\\n\n"
	                      "A: idProduct=0201\\n\nA: bcdDevice=0100\\n\nA: bDeviceClass=09\\n\n"
	                      "A: bDeviceSubClass=00\\n\nA: bDeviceProtocol=01\\n\n"
	                      "A: bNumInterfaces= 1\\n\nA: bNumConfigurations=1\\n\n"
	                      "A: bMaxPacketSize0=64\\n\nA: bmAttributes=e0\\n\n"
	                      "A: devpath=%u\\n\nA: version= 2.00\\n\nA: maxchild=%u\\n\n"
	                      "A: dev=189:%d\\n\nA: product=USB 2.0 Hub [MTT]\\n\n"
	                      "H: descriptors=%s\n",
	                      hub, devnum, h, devnum, devnum, devnum - 1, devnum, hub, ports,
	                      devnum - 1, h);
	if (!umockdev_testbed_add_from_string(bed->tb, rec, &gerr)) {
		rc = edl_error_set(err, EDL_E_IO, "adding hub 1-%u to the umockdev testbed: %s",
		                   hub, gerr->message);
		g_error_free(gerr);
		g_rec_mutex_lock(&bed->lock);
		bed->devnum_used[devnum] = false;
		g_rec_mutex_unlock(&bed->lock);
	} else {
		hb->present = true;
		hb->ports = ports;
		hb->devnum = devnum;
		hb->rate = rate;
		hb->free_at_us = 0;
	}
	g_free(rec);
	g_free(h);
	return rc;
}

static char *node_path(const struct edl_emu_bed *bed, const char *devnode)
{
	return g_build_filename(bed->root, devnode, NULL);
}

static char *socket_path(const struct edl_emu_bed *bed, const char *devnode)
{
	return g_build_filename(bed->root, "ioctl", devnode, NULL);
}

/*
 * /sys/dev/char/189:MINOR, the link from a device number to its sysfs
 * directory. umockdev (0.17) names the link from the "dev" attribute with its
 * newline when it removes a device, so the link outlives the device; the next
 * device at that address would then abort umockdev ("File exists"). The bed
 * removes it itself, so an address is free again only once nothing of its
 * previous device is left.
 */
static void remove_dev_link(const struct edl_emu_bed *bed, int devnum)
{
	char minor[32], *path;

	snprintf(minor, sizeof(minor), "189:%d", devnum - 1);
	path = g_build_filename(bed->root, "sys", "dev", "char", minor, NULL);
	(void)unlink(path);
	g_free(path);
}

/* Makes the device node a FIFO kept full (see usbfs.c) and opens our end of it. */
static int make_gate(struct edl_emu_dev *dev, struct edl_error *err)
{
	char *path = node_path(dev->bed, dev->devnode);
	char *dir = g_path_get_dirname(path);
	int rc = EDL_OK;

	if (g_mkdir_with_parents(dir, 0755) < 0) {
		rc = edl_error_set(err, EDL_E_IO, "creating %s: %s", dir, g_strerror(errno));
		goto out;
	}
	(void)unlink(path);
	if (mkfifo(path, 0666) < 0) {
		rc = edl_error_set(err, EDL_E_IO, "creating the device node %s: %s", path,
		                   g_strerror(errno));
		goto out;
	}
	dev->gate_fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (dev->gate_fd < 0) {
		rc = edl_error_set(err, EDL_E_IO, "opening the device node %s: %s", path,
		                   g_strerror(errno));
		goto out;
	}
	edl_emu_usbfs_gate_fill(dev);
out:
	g_free(dir);
	g_free(path);
	return rc;
}

static char *device_record(const struct edl_emu_dev *dev)
{
	uint8_t desc[64];
	size_t n = edl_emu_descriptors(desc, sizeof(desc), dev->pid);
	char *h = hex(desc, n);
	const char *sys = dev->syspath + 4; /* without "/sys" */
	char product[sizeof(dev->product)];

	/* The sysfs attribute is a line of umockdev's record format: keep it one line. */
	for (size_t i = 0; i < sizeof(product); i++) {
		char c = dev->product[i];
		product[i] = (c == '\\' ||
		              (c != '\0' && ((unsigned char)c < 0x20 || (unsigned char)c > 0x7e)))
		                     ? '?'
		                     : c;
		if (c == '\0')
			break;
	}
	char *rec = g_strdup_printf(
	        "P: %s\n"
	        "E: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\nE: DRIVER=usb\n"
	        "E: DEVNAME=%s\nE: BUSNUM=001\nE: DEVNUM=%03d\n"
	        "E: MAJOR=189\nE: MINOR=%d\nE: PRODUCT=5c6/%x/0\nE: TYPE=0/0/0\n"
	        "E: ID_VENDOR_ID=05c6\nE: ID_MODEL_ID=%04x\n"
	        "A: busnum=1\\n\nA: devnum=%d\\n\nA: speed=480\\n\nA: bConfigurationValue=1\\n\n"
	        "A: idVendor=05c6\\n\nA: idProduct=%04x\\n\nA: bcdDevice=0000\\n\n"
	        "A: bDeviceClass=00\\n\nA: bDeviceSubClass=00\\n\nA: bDeviceProtocol=00\\n\n"
	        "A: bNumInterfaces= 1\\n\nA: bNumConfigurations=1\\n\nA: bMaxPacketSize0=64\\n\n"
	        "A: bmAttributes=80\\n\nA: bMaxPower=100mA\\n\nA: configuration=\\n\n"
	        "A: devpath=%u.%u\\n\nA: version= 2.00\\n\nA: maxchild=0\\n\nA: dev=189:%d\\n\n"
	        "A: manufacturer=Qualcomm CDMA Technologies MSM\\n\nA: product=%s\\n\n"
	        "A: removable=removable\\n\nA: rx_lanes=1\\n\nA: tx_lanes=1\\n\n"
	        "H: descriptors=%s\n"
	        "\n"
	        "P: %s:1.0\n"
	        "E: SUBSYSTEM=usb\nE: DEVTYPE=usb_interface\nE: PRODUCT=5c6/%x/0\n"
	        "E: TYPE=0/0/0\nE: INTERFACE=255/255/255\n"
	        "E: MODALIAS=usb:v05C6p%04Xd0000dc00dsc00dp00icFFiscFFipFFin00\n"
	        "A: bInterfaceNumber=00\\n\nA: bAlternateSetting= 0\\n\nA: bNumEndpoints=02\\n\n"
	        "A: bInterfaceClass=ff\\n\nA: bInterfaceSubClass=ff\\n\n"
	        "A: bInterfaceProtocol=ff\\n\nA: supports_autosuspend=1\\n\n"
	        "A: modalias=usb:v05C6p%04Xd0000dc00dsc00dp00icFFiscFFipFFin00\\n\n",
	        sys, dev->devnode, dev->devnum, dev->devnum - 1, dev->pid, dev->pid, dev->devnum,
	        dev->pid, dev->hub, dev->portno, dev->devnum - 1, product, h, sys, dev->pid,
	        dev->pid, dev->pid);

	g_free(h);
	return rec;
}

static bool port_taken(struct edl_emu_bed *bed, unsigned hub, unsigned port)
{
	for (guint i = 0; i < bed->devs->len; i++) {
		struct edl_emu_dev *d = g_ptr_array_index(bed->devs, i);

		if (!d->gone && d->hub == hub && d->portno == port)
			return true;
	}
	return false;
}

void edl_emu_bed_prune_listeners(struct edl_emu_bed *bed)
{
	GDir *dir = g_dir_open(bed->root, 0, NULL);
	const char *name;

	if (dir == NULL)
		return;
	while ((name = g_dir_read_name(dir)) != NULL) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		struct stat st;
		char *path;
		int fd;

		if (strncmp(name, "event", 5) != 0)
			continue;
		path = g_build_filename(bed->root, name, NULL);
		if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
		    strlen(path) < sizeof(sa.sun_path)) {
			memcpy(sa.sun_path, path, strlen(path) + 1);
			fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
			if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 &&
			    errno == ECONNREFUSED)
				(void)unlink(path);
			if (fd >= 0)
				close(fd);
		}
		g_free(path);
	}
	g_dir_close(dir);
}

int edl_emu_dev_plug(struct edl_emu_dev **out, struct edl_emu_bed *bed,
                     const struct edl_emu_dev_config *cfg, struct edl_error *err)
{
	struct edl_emu_dev *dev;
	GError *gerr = NULL;
	char *sock = NULL, *rec = NULL;
	int devnum, rc;

	*out = NULL;
	if (cfg->hub < 1 || cfg->hub > EDL_EMU_MAX_HUBS || !bed->hubs[cfg->hub].present ||
	    cfg->port < 1 || cfg->port > bed->hubs[cfg->hub].ports)
		return edl_error_set(err, EDL_E_INVAL, "no port 1-%u.%u on the emulated bus",
		                     cfg->hub, cfg->port);
	g_rec_mutex_lock(&bed->lock);
	if (port_taken(bed, cfg->hub, cfg->port)) {
		g_rec_mutex_unlock(&bed->lock);
		return edl_error_set(err, EDL_E_BUSY, "port 1-%u.%u already holds a device",
		                     cfg->hub, cfg->port);
	}
	devnum = alloc_devnum(bed);
	g_rec_mutex_unlock(&bed->lock);
	if (devnum < 0)
		return edl_error_set(err, EDL_E_BUSY, "no USB address left on bus 1");

	dev = g_new0(struct edl_emu_dev, 1);
	dev->bed = bed;
	dev->hub = cfg->hub;
	dev->portno = cfg->port;
	dev->devnum = devnum;
	dev->serial = cfg->serial;
	dev->pid = cfg->pid ? cfg->pid : 0x9008;
	dev->gate_fd = -1;
	dev->link_rate = cfg->link_rate;
	dev->plugged_us = g_get_monotonic_time();
	g_queue_init(&dev->in_wait);
	g_queue_init(&dev->out_due);
	g_queue_init(&dev->out_hung);
	g_queue_init(&dev->done_due);
	g_queue_init(&dev->in_q);
	snprintf(dev->port, sizeof(dev->port), "1-%u.%u", cfg->hub, cfg->port);
	snprintf(dev->syspath, sizeof(dev->syspath), "/sys" PCI_PATH "/usb1/1-%u/%s", cfg->hub,
	         dev->port);
	snprintf(dev->devnode, sizeof(dev->devnode), "/dev/bus/usb/001/%03d", devnum);
	snprintf(dev->product, sizeof(dev->product), "QUSB__BULK_SN:%08X%s", cfg->serial,
	         cfg->product_suffix ? cfg->product_suffix : "");

	dev->handler = umockdev_ioctl_base_new();
	edl_emu_usbfs_init(dev);

	/* 1. the ioctl socket (a stale one of an earlier device at this address goes first) */
	sock = socket_path(bed, dev->devnode);
	(void)unlink(sock);
	if (!umockdev_testbed_attach_ioctl(bed->tb, dev->devnode, dev->handler, &gerr)) {
		rc = edl_error_set(err, EDL_E_IO, "attaching the ioctl handler to %s: %s",
		                   dev->devnode, gerr->message);
		g_error_free(gerr);
		goto fail;
	}
	dev->attached = true;
	/* 2. the device node */
	rc = make_gate(dev, err);
	if (rc != EDL_OK)
		goto fail;

	g_rec_mutex_lock(&bed->lock);
	dev->ops = cfg->ops;
	dev->model = cfg->model;
	g_ptr_array_add(bed->devs, dev);
	edl_emu_usbfs_service(dev);
	g_rec_mutex_unlock(&bed->lock);

	/* 3. sysfs and the "add" uevent (to hosts still listening) */
	edl_emu_bed_prune_listeners(bed);
	rec = device_record(dev);
	if (!umockdev_testbed_add_from_string(bed->tb, rec, &gerr)) {
		rc = edl_error_set(err, EDL_E_IO, "adding %s to the umockdev testbed: %s",
		                   dev->port, gerr->message);
		g_error_free(gerr);
		g_free(rec);
		g_free(sock);
		edl_emu_dev_unplug(dev);
		return rc;
	}
	g_free(rec);
	g_free(sock);
	*out = dev;
	return EDL_OK;

fail:
	/* Not yet on the bus: undo by hand. */
	if (dev->attached)
		umockdev_testbed_detach_ioctl(bed->tb, dev->devnode, NULL);
	if (dev->gate_fd >= 0)
		close(dev->gate_fd);
	if (sock)
		(void)unlink(sock);
	g_free(sock);
	g_rec_mutex_lock(&bed->lock);
	bed->devnum_used[devnum] = false;
	g_rec_mutex_unlock(&bed->lock);
	g_object_unref(dev->handler);
	g_free(dev);
	return rc;
}

void edl_emu_dev_unplug(struct edl_emu_dev *dev)
{
	struct edl_emu_bed *bed = dev->bed;
	char *ifpath, *path;

	g_rec_mutex_lock(&bed->lock);
	if (dev->gone) {
		g_rec_mutex_unlock(&bed->lock);
		return;
	}
	edl_emu_usbfs_disconnect(dev);
	g_rec_mutex_unlock(&bed->lock);

	/* The "remove" uevents go to hosts still listening. The interface child
	 * first: removing the device alone leaves its /sys/bus link dangling and
	 * a later device on this port aborts umockdev. */
	edl_emu_bed_prune_listeners(bed);
	ifpath = g_strdup_printf("%s:1.0", dev->syspath);
	umockdev_testbed_uevent(bed->tb, ifpath, "remove");
	umockdev_testbed_remove_device(bed->tb, ifpath);
	g_free(ifpath);
	umockdev_testbed_uevent(bed->tb, dev->syspath, "remove");
	umockdev_testbed_remove_device(bed->tb, dev->syspath);
	remove_dev_link(bed, dev->devnum);

	path = node_path(bed, dev->devnode);
	(void)unlink(path);
	g_free(path);
	if (dev->attached) {
		umockdev_testbed_detach_ioctl(bed->tb, dev->devnode, NULL);
		dev->attached = false;
	}
	path = socket_path(bed, dev->devnode);
	(void)unlink(path);
	g_free(path);

	g_rec_mutex_lock(&bed->lock);
	bed->devnum_used[dev->devnum] = false;
	g_rec_mutex_unlock(&bed->lock);
}

/* Frees a device that left for good; bed lock held, on the worker thread (or
 * on the caller's when no client ever came, so no worker is involved). */
static void dev_free(struct edl_emu_dev *d)
{
	g_ptr_array_remove_fast(d->bed->devs, d);
	edl_emu_usbfs_release(d);
	g_signal_handlers_disconnect_matched(d->handler, G_SIGNAL_MATCH_DATA, 0, 0, NULL, NULL, d);
	g_object_unref(d->handler);
	g_free(d);
}

static bool reapable(const struct edl_emu_dev *d)
{
	return d->gone && d->disconnected && d->forgotten && d->clients == NULL && !d->bed->closing;
}

static gboolean reap_cb(gpointer data)
{
	struct edl_emu_dev *d = data;
	struct edl_emu_bed *bed = d->bed;

	g_rec_mutex_lock(&bed->lock);
	d->reap_queued = false;
	if (reapable(d))
		dev_free(d);
	g_rec_mutex_unlock(&bed->lock);
	return G_SOURCE_REMOVE;
}

void edl_emu_dev_reap_if_done(struct edl_emu_dev *d)
{
	GSource *src;

	if (!reapable(d) || d->reap_queued)
		return;
	if (!d->bed->worker) {
		dev_free(d);
		return;
	}
	/* An idle source, not g_main_context_invoke(): on the worker that would
	 * free the device inside the caller, which still holds it. */
	d->reap_queued = true;
	src = g_idle_source_new();
	g_source_set_priority(src, G_PRIORITY_DEFAULT);
	g_source_set_callback(src, reap_cb, d, NULL);
	g_source_attach(src, d->bed->worker);
	g_source_unref(src);
}

void edl_emu_dev_forget(struct edl_emu_dev *dev)
{
	struct edl_emu_bed *bed = dev->bed;

	g_rec_mutex_lock(&bed->lock);
	dev->forgotten = true;
	edl_emu_dev_reap_if_done(dev);
	g_rec_mutex_unlock(&bed->lock);
}

static gboolean kick_cb(gpointer data)
{
	struct edl_emu_dev *dev = data;

	g_rec_mutex_lock(&dev->bed->lock);
	if (!dev->gone)
		edl_emu_usbfs_service(dev);
	g_rec_mutex_unlock(&dev->bed->lock);
	return G_SOURCE_REMOVE;
}

void edl_emu_dev_kick(struct edl_emu_dev *dev)
{
	GMainContext *worker;

	/* Servicing may answer clients, which only the worker thread may do. */
	g_rec_mutex_lock(&dev->bed->lock);
	worker = dev->bed->worker;
	g_rec_mutex_unlock(&dev->bed->lock);
	if (worker)
		g_main_context_invoke(worker, kick_cb, dev);
	else
		kick_cb(dev);
}

void edl_emu_bed_set_usbfs_limit(struct edl_emu_bed *bed, uint64_t bytes)
{
	g_rec_mutex_lock(&bed->lock);
	bed->usbfs_limit = bytes;
	g_rec_mutex_unlock(&bed->lock);
}

void edl_emu_bed_set_worker_cleanup(struct edl_emu_bed *bed, void (*fn)(void))
{
	bed->worker_cleanup = fn;
}

struct barrier {
	gint done;
	void (*fn)(void);
};

static gboolean barrier_cb(gpointer data)
{
	struct barrier *b = data;

	if (b->fn)
		b->fn();
	g_atomic_int_set(&b->done, 1);
	return G_SOURCE_REMOVE;
}

/* Waits until the worker thread has run everything queued so far, then fn. */
static void worker_barrier(struct edl_emu_bed *bed, void (*fn)(void))
{
	struct barrier b = {0, fn};

	if (!bed->worker)
		return;
	g_main_context_invoke(bed->worker, barrier_cb, &b);
	for (int i = 0; i < 2000 && !g_atomic_int_get(&b.done); i++)
		g_usleep(1000);
}

static bool clients_left(struct edl_emu_bed *bed)
{
	bool left = false;

	g_rec_mutex_lock(&bed->lock);
	for (guint i = 0; i < bed->devs->len && !left; i++) {
		struct edl_emu_dev *d = g_ptr_array_index(bed->devs, i);

		left = d->clients != NULL;
	}
	g_rec_mutex_unlock(&bed->lock);
	return left;
}

void edl_emu_bed_free(struct edl_emu_bed *bed)
{
	bool leak_devs;

	if (!bed)
		return;
	g_rec_mutex_lock(&bed->lock);
	bed->closing = true;
	g_rec_mutex_unlock(&bed->lock);
	for (guint i = 0; i < bed->devs->len; i++)
		edl_emu_dev_unplug(g_ptr_array_index(bed->devs, i));
	/* Clients of processes that exited vanish once the worker sees their
	 * sockets close; a client still connected could call into a freed device. */
	for (int i = 0; i < 200 && clients_left(bed); i++)
		g_usleep(10000);
	worker_barrier(bed, bed->worker_cleanup);
	leak_devs = clients_left(bed);

	/* Ends umockdev's worker loop: nothing queued after the barrier runs. */
	g_clear_object(&bed->tb);
	for (guint i = 0; i < bed->devs->len; i++) {
		struct edl_emu_dev *d = g_ptr_array_index(bed->devs, i);

		if (leak_devs)
			continue;
		g_rec_mutex_lock(&bed->lock);
		edl_emu_usbfs_release(d);
		g_rec_mutex_unlock(&bed->lock);
		g_object_unref(d->handler);
		g_free(d);
	}
	g_ptr_array_free(bed->devs, TRUE);
	if (bed->worker)
		g_main_context_unref(bed->worker);
	g_free(bed->root);
	if (!leak_devs) {
		g_rec_mutex_clear(&bed->lock);
		g_free(bed);
	}
}
