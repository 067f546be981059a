/*
 * Field evidence: a unit's USB conversation as a capture file that Wireshark,
 * tshark and tcpdump read, and back.
 *
 * Files are pcapng in the Linux usbmon format (LINKTYPE_USB_LINUX_MMAPPED,
 * 220: a 64-byte little-endian header before each packet's data), the link
 * type `tcpdump -i usbmonN` writes, so Wireshark's USB dissector opens them.
 * Every transfer is two packets as usbmon has them: its submission ('S', with
 * the data of an OUT transfer and the setup of a control one) and its
 * completion ('C', with the status, the length transferred and the data of an
 * IN transfer).
 *
 * The writer (src/capture/writer.c) is what the USB transport calls on every
 * submit and completion when a session records; the reader (reader.c) walks
 * pcapng and classic pcap files of link type 220 or 189 (LINKTYPE_USB_LINUX,
 * 48-byte headers); decode.c classifies and names the payloads (Sahara
 * packets, Firehose XML documents, raw data) for `edlstation capture show`;
 * replay.c turns one device's traffic into the script an emulated unit plays
 * back (`edlstation emulate --replay`).
 */
#ifndef EDLSTATION_CAPTURE_H
#define EDLSTATION_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "edlstation/error.h"
#include "edlstation/io.h"

#define EDL_CAPTURE_LINKTYPE_USB_LINUX 189         /* 48-byte usbmon header */
#define EDL_CAPTURE_LINKTYPE_USB_LINUX_MMAPPED 220 /* 64-byte usbmon header */

/* usbmon's transfer types (the header's xfer_type). */
enum edl_capture_xfer {
	EDL_CAPTURE_ISO = 0,
	EDL_CAPTURE_INTERRUPT = 1,
	EDL_CAPTURE_CONTROL = 2,
	EDL_CAPTURE_BULK = 3,
};

/* One usbmon event, as written or as read. */
struct edl_capture_event {
	uint64_t urb_id; /* pairs a submission with its completion */
	char type;       /* 'S' submit, 'C' complete, 'E' error */
	uint8_t xfer_type;
	uint8_t endpoint; /* with 0x80 for IN */
	uint8_t devnum;
	uint16_t bus;
	int32_t status;  /* 'S': -EINPROGRESS; 'C': 0 or -errno */
	uint32_t length; /* 'S': requested; 'C': transferred */
	bool has_setup;
	uint8_t setup[8];
	uint32_t xfer_flags; /* the URB's transfer_flags (URB_ZERO_PACKET 0x40, URB_DIR_IN 0x200) */
	int64_t ts_us;       /* microseconds since the epoch */
	const uint8_t *data; /* the captured bytes (data_len of length; may be fewer) */
	uint32_t data_len;
	const char
	        *comment; /* writer: an EPB comment, NULL none; reader: NUL-free, see comment_len */
	size_t comment_len;
};

/* ---- writer ------------------------------------------------------------------------- */

struct edl_capture;

struct edl_capture_options {
	const char *if_name;        /* "usbmon1"-like name of the interface */
	const char *if_description; /* free text: station, port, slot */
	/* The file stays about this size: past it, the payloads of raw data
	 * (program data, image chunks, read data) are elided (the header and
	 * lengths kept, marked with a comment); Sahara packets and XML documents
	 * are always kept whole. 0 = no bound. */
	uint64_t max_bytes;
};

/* Creates path (truncating it) and writes the section and interface blocks.
 * *out is the caller's: edl_capture_close() it. Returns EDL_OK, EDL_E_IO
 * (with path and errno's reason) or EDL_E_NOMEM. */
int edl_capture_open(struct edl_capture **out, const char *path,
                     const struct edl_capture_options *opt, struct edl_error *err);

/* Appends one event (ev->comment, data as given). Cheap: one buffered write;
 * the first write error is kept for edl_capture_close() and later events are
 * dropped. */
void edl_capture_write(struct edl_capture *c, const struct edl_capture_event *ev);

/* The file's current path; renames it (same directory or not) keeping it open.
 * Returns EDL_OK or EDL_E_IO. */
const char *edl_capture_path(const struct edl_capture *c);
int edl_capture_rename(struct edl_capture *c, const char *path, struct edl_error *err);

/* Bytes written so far, and raw payload bytes elided by max_bytes. */
uint64_t edl_capture_bytes(const struct edl_capture *c);
uint64_t edl_capture_elided(const struct edl_capture *c);

/* Flushes and closes; frees c (NULL is a no-op). Returns EDL_OK or the first
 * write error (EDL_E_IO naming the file). */
int edl_capture_close(struct edl_capture *c, struct edl_error *err);

/* Microseconds since the epoch, the timestamps the transport writes. */
int64_t edl_capture_now_us(void);

/* ---- reader ------------------------------------------------------------------------- */

#define EDL_CAPTURE_MAX_IF 32

struct edl_capture_reader {
	const uint8_t *buf; /* the whole file, the caller's */
	size_t len, off;
	const char *name; /* for messages */
	bool pcapng;
	bool swapped;        /* the section's byte order is big-endian */
	unsigned pcap_tsdiv; /* classic pcap: 1 (microseconds) or 1000 (nanoseconds) */
	size_t n_if;
	struct {
		uint16_t linktype;
		uint64_t ts_per_s; /* if_tsresol */
		char name[64];
		char description[256];
	} ifs[EDL_CAPTURE_MAX_IF];
};

/* A packet: its usbmon event (data pointing into the file) and where it is. */
struct edl_capture_packet {
	struct edl_capture_event ev;
	uint64_t offset; /* of its block (pcapng) or record (pcap) in the file */
	uint32_t ifindex;
	uint64_t index; /* 1-based packet number, as Wireshark counts */
};

/* Starts reading buf (a whole capture file, kept alive by the caller). Returns
 * EDL_OK, or EDL_E_IO when it is neither pcapng nor pcap, naming name. */
int edl_capture_reader_init(struct edl_capture_reader *r, const uint8_t *buf, size_t len,
                            const char *name, struct edl_error *err);

/* The next usbmon packet (blocks of other kinds are skipped). Returns 1 with
 * *out set, 0 at the end of the file, or EDL_E_IO for a truncated or
 * malformed file (the detail names the file and the byte offset), or
 * EDL_E_UNSUPPORTED for a link type other than 189/220. */
int edl_capture_reader_next(struct edl_capture_reader *r, struct edl_capture_packet *out,
                            struct edl_error *err);

/* Reads a whole file into *buf (the caller's: free()). EDL_OK or EDL_E_IO. */
int edl_capture_load(const char *path, uint8_t **buf, size_t *len, struct edl_error *err);

/* ---- decoding ----------------------------------------------------------------------- */

enum edl_capture_kind {
	EDL_CAPTURE_KIND_RAW = 0, /* image chunks, program data, read data */
	EDL_CAPTURE_KIND_SAHARA,  /* one Sahara packet (length field = the bytes) */
	EDL_CAPTURE_KIND_XML,     /* a Firehose XML document ("<?xml") */
};

/* What a bulk payload is (len: the transfer's length, data may hold fewer).
 * A payload captured without its data is raw. */
enum edl_capture_kind edl_capture_classify(const uint8_t *data, size_t captured, size_t len);

/* One line naming a Sahara packet: "HELLO version 2 compatible 1 max 1024
 * mode image-transfer-pending", "READ_DATA image 13 offset 0 length 80".
 * Returns out. */
const char *edl_capture_sahara_describe(const uint8_t *pkt, size_t len, char *out, size_t cap);

/* `edlstation capture show FILE`: writes the readable decode of every bulk
 * transfer (Sahara by name, XML documents, raw data as ranges) to f. Returns
 * EDL_OK or the reader's error. */
int edl_capture_show(FILE *f, const char *path, bool all_raw, struct edl_error *err);

/* ---- replay ------------------------------------------------------------------------- */

struct edl_replay;

/* Builds the script of the first device with bulk traffic in a capture file:
 * the host's writes to expect and the device's answers, in recorded order.
 * *out is the caller's (edl_replay_free). Returns EDL_OK, a reader error, or
 * EDL_E_INVAL when the file holds no bulk traffic. */
int edl_replay_open(struct edl_replay **out, const char *path, struct edl_error *err);
/* The same from a buffer (tests, fuzzing); buf is copied from as needed. */
int edl_replay_new(struct edl_replay **out, const uint8_t *buf, size_t len, const char *name,
                   struct edl_error *err);
void edl_replay_free(struct edl_replay *r);

/* The serial of iProduct ("QUSB__BULK_SN:1A2B3C4D") when the capture holds its
 * string descriptor: true and *serial set. */
bool edl_replay_serial(const struct edl_replay *r, uint32_t *serial);

/* The host wrote len bytes (one transfer; 0 = a ZLP, ignored). Matched against
 * the recording as a byte stream: any chunking of the same bytes matches, and
 * raw data matches any bytes of the same length. Returns EDL_OK, or EDL_E_INVAL
 * on the first departure (then every later call too; see edl_replay_report). */
int edl_replay_feed(struct edl_replay *r, const uint8_t *data, size_t len);

/* The device's next answer, once the host has written everything recorded
 * before it: true with *out (valid until the next call). */
bool edl_replay_next_in(struct edl_replay *r, struct edl_chunk *out);

/* True once every recorded write was matched and every answer given. */
bool edl_replay_finished(const struct edl_replay *r);
/* NULL while the host follows the recording; else where it departed: what was
 * expected, what came, the stream offset and the file offset. */
const char *edl_replay_report(const struct edl_replay *r);
/* "matched 1234 of 5678 host bytes, answered 12 of 40 device transfers" */
void edl_replay_progress(const struct edl_replay *r, char *out, size_t cap);

#endif
