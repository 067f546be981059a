/*
 * `edlstation identify`: Sahara command mode on every EDL device attached now:
 * prints each unit's chip serial, HW id (MSM/OEM/model) and OEM PK hash, and
 * leaves it in EDL ready for flashing. It runs the station's own sessions in
 * identify-only mode, so it sees units exactly as `run` would.
 */
#include "edlstation/cli.h"
#include "edlstation/station.h"

#include <libusb.h>
#include <stdio.h>
#include <string.h>

#include "edlstation/usb.h"

static unsigned count_edl_devices(void)
{
	libusb_context *ctx = NULL;
	libusb_device **list = NULL;
	unsigned n = 0;

	if (libusb_init(&ctx) != 0)
		return 0;
	ssize_t count = libusb_get_device_list(ctx, &list);
	for (ssize_t i = 0; i < count; i++) {
		struct edl_usb_device_info info;
		edl_usb_fill_info(list[i], &info);
		if (edl_usb_is_edl(&info))
			n++;
	}
	if (count > 0)
		libusb_free_device_list(list, 1);
	libusb_exit(ctx);
	return n;
}

int edl_cli_identify(int argc, char **argv)
{
	struct edl_station_config cfg;
	struct edl_error err;

	edl_station_config_default(&cfg);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			if (edl_station_config_load(&cfg, argv[++i], &err) != EDL_OK) {
				fprintf(stderr, "edlstation identify: %s\n", err.detail);
				return EDL_EXIT_USAGE;
			}
		} else if (strcmp(argv[i], "--json") == 0) {
			cfg.log_format = EDL_LOGFMT_JSON;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: edlstation identify [--config FILE] [--json]\n");
			return EDL_EXIT_OK;
		} else {
			fprintf(stderr, "usage: edlstation identify [--config FILE] [--json]\n");
			return EDL_EXIT_USAGE;
		}
	}
	if (cfg.log_format == EDL_LOGFMT_AUTO)
		cfg.log_format = EDL_LOGFMT_TEXT;
	cfg.identify_only = true;
	cfg.retries = 0;
	cfg.count = count_edl_devices();
	if (cfg.count == 0) {
		printf("(no EDL devices)\n");
		return EDL_EXIT_OK;
	}
	struct edl_station_summary sum;
	int rc = edl_station_run(&cfg, &sum, &err);
	if (err.code != EDL_OK)
		fprintf(stderr, "edlstation identify: %s\n", err.detail);
	return edl_cli_station_exit(rc, &sum);
}
