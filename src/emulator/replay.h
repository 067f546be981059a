/*
 * A replayed unit (issue 16, `edlstation emulate --replay FILE`): the model
 * behind an emulated USB device that answers the host from a capture
 * (capture.h's replay script) instead of computing the answers. The line's
 * own unit model still runs beside it as a shadow fed with the host's
 * writes, so the unit's storage, state and dump are what the host's bytes
 * made of them; its own answers are dropped.
 */
#ifndef EDLSTATION_EMULATOR_REPLAY_H
#define EDLSTATION_EMULATOR_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "emu.h"

struct edl_emu_replay;

/* Reads the capture at path. *out is the caller's (edl_emu_replay_free).
 * Returns EDL_OK or the capture reader's error (naming file and offset). */
int edl_emu_replay_open(struct edl_emu_replay **out, const char *path, struct edl_error *err);
/* The serial of the recorded unit's iProduct, when the capture has it. */
bool edl_emu_replay_serial(const struct edl_emu_replay *r, uint32_t *serial);
/* The shadow model the host's writes also go to (the line's unit). */
void edl_emu_replay_wrap(struct edl_emu_replay *r, const struct edl_emu_model_ops *ops,
                         void *model);
/* Says how far the host followed the recording, when it neither finished nor
 * departed, and frees r (NULL: no-op). */
void edl_emu_replay_free(struct edl_emu_replay *r);

/* The model ops of a replayed unit; the model is the struct edl_emu_replay. */
extern const struct edl_emu_model_ops edl_emu_replay_ops;

#endif
