/*
 * Monotonic time in milliseconds for deadlines. Engines never call it: the
 * driver passes `now` in, so tests can run on a fake clock.
 */
#ifndef EDLSTATION_CLOCK_H
#define EDLSTATION_CLOCK_H

#include <stdint.h>

uint64_t edl_clock_ms(void);

#endif
