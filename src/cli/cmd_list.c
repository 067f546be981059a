/*
 * `edlstation list`: the EDL devices attached now, with their port, slot (from
 * the station config's port map) and the serial their iProduct string carries.
 * A one-shot command: it may block on libusb; the station never does. The
 * listing itself (edl_cli_usb_list) is shared with `run --dry-run`, so both
 * show the devices the same way. A USB that cannot be used is a failure
 * (exit 1), never "no devices".
 */
#include "edlstation/cli.h"
#include "edlstation/station.h"
#include "edlstation/usb.h"

#include <libusb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_USAGE "[--config FILE]"

int edl_cli_usb_list(struct edl_cli_usb_device **out, size_t *n, struct edl_error *err)
{
	libusb_context *ctx = NULL;
	libusb_device **list = NULL;
	struct edl_cli_usb_device *devs = NULL;
	size_t found = 0;

	*out = NULL;
	*n = 0;
	int rc = libusb_init(&ctx);
	if (rc != 0)
		return edl_error_set(err, EDL_E_USB,
		                     "cannot start libusb: %s — check that usbfs is mounted "
		                     "(/dev/bus/usb) and that this user may open it (the udev rule "
		                     "edlstation udev-rule)",
		                     libusb_strerror(rc));
	ssize_t count = libusb_get_device_list(ctx, &list);
	if (count < 0) {
		libusb_exit(ctx);
		return edl_error_set(err, EDL_E_USB,
		                     "cannot list USB devices: %s — check /dev/bus/usb and "
		                     "/sys/bus/usb",
		                     libusb_strerror((int)count));
	}
	devs = calloc((size_t)count + 1, sizeof(*devs));
	if (devs == NULL) {
		libusb_free_device_list(list, 1);
		libusb_exit(ctx);
		return edl_error_set(err, EDL_E_NOMEM, "listing USB devices");
	}
	for (ssize_t i = 0; i < count; i++) {
		struct edl_usb_device_info info;
		edl_usb_fill_info(list[i], &info);
		if (!edl_usb_is_edl(&info))
			continue;
		struct edl_cli_usb_device *d = &devs[found++];
		struct libusb_device_descriptor desc;
		libusb_device_handle *h = NULL;

		snprintf(d->port, sizeof(d->port), "%s", info.port);
		snprintf(d->product, sizeof(d->product), "?");
		d->dump = info.pid == EDL_USB_PID_DUMP;
		if (libusb_get_device_descriptor(list[i], &desc) == 0 &&
		    libusb_open(list[i], &h) == 0) {
			if (libusb_get_string_descriptor_ascii(h, desc.iProduct,
			                                       (unsigned char *)d->product,
			                                       sizeof(d->product)) < 0)
				snprintf(d->product, sizeof(d->product), "?");
			libusb_close(h);
		}
		for (char *c = d->product; *c; c++) {
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?'; /* device text: never a control character on screen */
		}
		if (!edl_usb_product_serial(d->product, d->serial, NULL))
			snprintf(d->serial, sizeof(d->serial), "-");
	}
	libusb_free_device_list(list, 1);
	libusb_exit(ctx);
	*out = devs;
	*n = found;
	return EDL_OK;
}

int edl_cli_list(int argc, char **argv)
{
	struct edl_station_config *cfg = malloc(sizeof(*cfg));
	struct edl_cli_usb_device *devs = NULL;
	struct edl_error err;
	size_t n = 0;
	int code = EDL_EXIT_OK;

	if (cfg == NULL) {
		fprintf(stderr, "edlstation list: out of memory\n");
		return EDL_EXIT_FAILURE;
	}
	edl_station_config_default(cfg);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc) {
				code = edl_cli_usage_error("list", LIST_USAGE,
				                           "--config needs a file");
				goto out;
			}
			if (edl_station_config_load(cfg, argv[++i], &err) != EDL_OK) {
				fprintf(stderr, "edlstation list: %s\n", err.detail);
				code = EDL_EXIT_USAGE;
				goto out;
			}
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: edlstation list " LIST_USAGE "\n"
			       "  The EDL devices attached now: port, slot (from the config's "
			       "[ports]),\n"
			       "  mode (edl 9008, dump 900e), the USB serial of iProduct's SN:.\n"
			       "  Exit: 0 listed (also when there are none), 1 USB unusable, 2 "
			       "usage or\n"
			       "  config error.\n");
			goto out;
		} else if (argv[i][0] == '-') {
			code = edl_cli_usage_error("list", LIST_USAGE, "unknown option '%s'",
			                           argv[i]);
			goto out;
		} else {
			code = edl_cli_usage_error("list", LIST_USAGE, "unexpected argument '%s'",
			                           argv[i]);
			goto out;
		}
	}
	if (edl_cli_usb_list(&devs, &n, &err) != EDL_OK) {
		fprintf(stderr, "edlstation list: %s\n", err.detail);
		code = EDL_EXIT_FAILURE;
		goto out;
	}
	printf("%-10s %-8s %-6s %-10s %s\n", "PORT", "SLOT", "MODE", "USB-SERIAL", "PRODUCT");
	for (size_t i = 0; i < n; i++) {
		const struct edl_station_port *p = edl_station_config_port(cfg, devs[i].port);
		printf("%-10s %-8s %-6s %-10s %s\n", devs[i].port, p ? p->label : "-",
		       devs[i].dump ? "dump" : "edl", devs[i].serial, devs[i].product);
	}
	if (n == 0)
		printf("(no EDL devices)\n");
out:
	free(devs);
	free(cfg);
	return code;
}
