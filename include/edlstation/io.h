/*
 * The sans-I/O contract shared by every protocol engine (Sahara host, Firehose
 * host, the emulated device target). An engine never reads, writes or sleeps:
 *
 *   - the driver hands it the bytes of one received transfer with *_feed();
 *   - the driver pulls what to send with *_next_out(), one chunk per USB
 *     transfer, and may keep several chunks in flight: a chunk's memory stays
 *     valid until the engine's current command completes (it points into the
 *     image, or into a buffer the engine owns);
 *   - the engine names its next deadline (absolute milliseconds on the driver's
 *     monotonic clock, 0 = none); when it passes the driver calls *_timeout();
 *   - *_status() says whether it is still running, done, or failed (with a
 *     struct edl_error naming the cause).
 *
 * The same engines run over the in-memory transport in tests and over libusb
 * in the station.
 */
#ifndef EDLSTATION_IO_H
#define EDLSTATION_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One transfer to send. */
struct edl_chunk {
	const uint8_t *data;
	size_t len;
	bool zlp; /* follow with a zero-length packet if len is a multiple of wMaxPacketSize */
};

enum edl_engine_status {
	EDL_ENGINE_RUNNING = 0, /* wants more events */
	EDL_ENGINE_DONE = 1,    /* finished its job successfully */
	EDL_ENGINE_FAILED = 2,  /* finished with an error */
};

#endif
