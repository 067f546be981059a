/*
 * `edlstation list`: the EDL devices attached now, with their port, slot (from
 * the station config's port map) and the serial their iProduct string carries.
 * A one-shot command: it may block on libusb; the station never does.
 */
#include "edlstation/cli.h"
#include "edlstation/station.h"
#include "edlstation/usb.h"

#include <libusb.h>
#include <stdio.h>
#include <string.h>

int edl_cli_list(int argc, char **argv)
{
	struct edl_station_config cfg;
	struct edl_error err;
	libusb_context *ctx = NULL;
	libusb_device **list = NULL;
	int n_found = 0;

	edl_station_config_default(&cfg);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			if (edl_station_config_load(&cfg, argv[++i], &err) != EDL_OK) {
				fprintf(stderr, "edlstation list: %s\n", err.detail);
				return EDL_EXIT_USAGE;
			}
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: edlstation list [--config FILE]\n");
			return EDL_EXIT_OK;
		} else {
			fprintf(stderr, "usage: edlstation list [--config FILE]\n");
			return EDL_EXIT_USAGE;
		}
	}
	int rc = libusb_init(&ctx);
	if (rc != 0) {
		fprintf(stderr, "edlstation list: libusb: %s\n", libusb_strerror(rc));
		return EDL_EXIT_FAILURE;
	}
	ssize_t count = libusb_get_device_list(ctx, &list);
	printf("%-10s %-8s %-6s %-10s %s\n", "PORT", "SLOT", "MODE", "USB-SERIAL", "PRODUCT");
	for (ssize_t i = 0; i < count; i++) {
		struct edl_usb_device_info info;
		edl_usb_fill_info(list[i], &info);
		if (!edl_usb_is_edl(&info))
			continue;
		char product[128] = "?", serial[9];
		struct libusb_device_descriptor d;
		libusb_device_handle *h = NULL;
		if (libusb_get_device_descriptor(list[i], &d) == 0 &&
		    libusb_open(list[i], &h) == 0) {
			if (libusb_get_string_descriptor_ascii(
			            h, d.iProduct, (unsigned char *)product, sizeof(product)) < 0)
				snprintf(product, sizeof(product), "?");
			libusb_close(h);
		}
		if (!edl_usb_product_serial(product, serial, NULL))
			snprintf(serial, sizeof(serial), "-");
		const struct edl_station_port *p = edl_station_config_port(&cfg, info.port);
		printf("%-10s %-8s %-6s %-10s %s\n", info.port, p ? p->label : "-",
		       info.pid == EDL_USB_PID_DUMP ? "dump" : "edl", serial, product);
		n_found++;
	}
	if (count > 0)
		libusb_free_device_list(list, 1);
	libusb_exit(ctx);
	if (n_found == 0)
		printf("(no EDL devices)\n");
	return EDL_EXIT_OK;
}
