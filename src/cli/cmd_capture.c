/*
 * `edlstation capture show [--raw] FILE`: a readable decode of a unit's USB
 * capture (ours from `run --record`, or `tcpdump -i usbmonN -w FILE` of a real
 * device): Sahara packets by name, Firehose XML documents, raw data as ranges
 * (--raw: one line per raw transfer). The decoding is src/capture's.
 */
#include "edlstation/capture.h"
#include "edlstation/cli.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: edlstation capture show [--raw] FILE\n"
	        "\n"
	        "Decodes a USB capture (pcapng or pcap, Linux usbmon link type 220 or 189:\n"
	        "`edlstation run --record DIR` files, `tcpdump -i usbmonN -w FILE`): one line per\n"
	        "Sahara packet by name with its fields, each Firehose XML document as text, raw\n"
	        "data (image chunks, program data) as byte ranges of its direction's stream.\n"
	        "  --raw    one line per raw transfer instead of ranges\n"
	        "Exit 0; 1 when the file is unreadable, truncated (the offset is named) or not\n"
	        "usbmon; 2 on a usage error.\n");
}

int edl_cli_capture(int argc, char **argv)
{
	const char *file = NULL;
	bool raw = false;
	struct edl_error err;

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return EDL_EXIT_OK;
	}
	if (argc < 2 || strcmp(argv[1], "show") != 0) {
		fprintf(stderr, "edlstation capture: expected 'show FILE'\n\n");
		usage(stderr);
		return EDL_EXIT_USAGE;
	}
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--raw")) {
			raw = true;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return EDL_EXIT_OK;
		} else if (argv[i][0] == '-' || file != NULL) {
			fprintf(stderr, "edlstation capture show: unexpected argument '%s'\n\n",
			        argv[i]);
			usage(stderr);
			return EDL_EXIT_USAGE;
		} else {
			file = argv[i];
		}
	}
	if (file == NULL) {
		fprintf(stderr, "edlstation capture show: name the capture FILE\n\n");
		usage(stderr);
		return EDL_EXIT_USAGE;
	}
	err.detail[0] = '\0';
	if (edl_capture_show(stdout, file, raw, &err) != EDL_OK) {
		fflush(stdout);
		fprintf(stderr, "edlstation capture: %s\n", err.detail);
		return EDL_EXIT_FAILURE;
	}
	return EDL_EXIT_OK;
}
