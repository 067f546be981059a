/*
 * `edlstation udev-rule`: prints the udev rule that gives EDL devices to the
 * plugdev group (and to the user at the seat, uaccess), to install by hand
 * where the Debian package is not used. The text is config/70-edlstation.rules,
 * compiled in at build time (one source: the package installs the same file).
 */
#include "edlstation/cli.h"

#include <stdio.h>
#include <string.h>

#include "udev_rule.h"

int edl_cli_udev_rule(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: edlstation udev-rule\n\n"
		       "Prints the udev rule for EDL devices (05c6:9008, 05c6:900e). Install it:\n"
		       "  edlstation udev-rule | sudo tee /etc/udev/rules.d/70-edlstation.rules\n"
		       "  sudo udevadm control --reload && sudo udevadm trigger "
		       "--subsystem-match=usb\n");
		return EDL_EXIT_OK;
	}
	if (argc > 1) {
		fprintf(stderr,
		        "edlstation udev-rule: unexpected argument '%s'\n"
		        "usage: edlstation udev-rule\n",
		        argv[1]);
		return EDL_EXIT_USAGE;
	}
	fputs(EDL_UDEV_RULE, stdout);
	return fflush(stdout) == 0 ? EDL_EXIT_OK : EDL_EXIT_FAILURE;
}
