/*
 * A replayed unit on the emulated line: the device side of a recorded
 * conversation. The host's writes are matched against the capture's (any
 * chunking; raw data by length), the recorded answers are handed out once
 * the writes recorded before them have come, and the first departure stops
 * the unit with a report on stderr: what was expected, what came, where.
 * When the host has followed the recording to its end the replay says PASS.
 *
 * The writes also reach the shadow model (the line's own emulated unit of the
 * configured profile), which keeps the storage and the session state the
 * line acts on (reset, unplug, dump); what the shadow would answer is
 * dropped. Runs on umockdev's worker thread with the bed lock held, like
 * every model.
 */
#include "replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edlstation/capture.h"

struct edl_emu_replay {
	struct edl_replay *script;
	char *path;
	const struct edl_emu_model_ops *shadow_ops;
	void *shadow;
	bool said; /* PASS or the departure was reported */
};

int edl_emu_replay_open(struct edl_emu_replay **out, const char *path, struct edl_error *err)
{
	struct edl_emu_replay *r = calloc(1, sizeof(*r));
	int rc;

	*out = NULL;
	if (r == NULL || (r->path = strdup(path)) == NULL) {
		free(r);
		return edl_error_set(err, EDL_E_NOMEM, "out of memory");
	}
	rc = edl_replay_open(&r->script, path, err);
	if (rc != EDL_OK) {
		free(r->path);
		free(r);
		return rc;
	}
	*out = r;
	return EDL_OK;
}

bool edl_emu_replay_serial(const struct edl_emu_replay *r, uint32_t *serial)
{
	return edl_replay_serial(r->script, serial);
}

void edl_emu_replay_wrap(struct edl_emu_replay *r, const struct edl_emu_model_ops *ops, void *model)
{
	r->shadow_ops = ops;
	r->shadow = model;
}

static void say_if_finished(struct edl_emu_replay *r)
{
	char p[160];

	if (r->said || !edl_replay_finished(r->script))
		return;
	r->said = true;
	edl_replay_progress(r->script, p, sizeof(p));
	fprintf(stderr,
	        "emulate: replay %s: PASS: the host followed the recording to its end (%s)\n",
	        r->path, p);
}

static int replay_feed(void *model, const uint8_t *data, size_t len, uint64_t now)
{
	struct edl_emu_replay *r = model;

	if (edl_replay_report(r->script) != NULL)
		return EDL_OK; /* stopped: the host's bytes go nowhere */
	if (edl_replay_feed(r->script, data, len) != EDL_OK) {
		r->said = true;
		fprintf(stderr, "emulate: %s\n", edl_replay_report(r->script));
		return EDL_OK;
	}
	if (r->shadow_ops != NULL)
		(void)r->shadow_ops->feed(r->shadow, data, len, now);
	say_if_finished(r);
	return EDL_OK;
}

static bool replay_next_in(void *model, struct edl_chunk *out, uint64_t now)
{
	struct edl_emu_replay *r = model;
	struct edl_chunk dropped;

	/* The shadow's own answers are dropped: the recording answers. */
	if (r->shadow_ops != NULL)
		for (int i = 0; i < 1024 && r->shadow_ops->next_in(r->shadow, &dropped, now); i++)
			;
	if (!edl_replay_next_in(r->script, out))
		return false;
	say_if_finished(r);
	return true;
}

static uint64_t replay_deadline(void *model)
{
	struct edl_emu_replay *r = model;

	return r->shadow_ops && r->shadow_ops->deadline ? r->shadow_ops->deadline(r->shadow) : 0;
}

static void replay_timeout(void *model, uint64_t now)
{
	struct edl_emu_replay *r = model;

	if (r->shadow_ops && r->shadow_ops->timeout)
		r->shadow_ops->timeout(r->shadow, now);
}

const struct edl_emu_model_ops edl_emu_replay_ops = {replay_feed, replay_next_in, replay_deadline,
                                                     replay_timeout, NULL};

void edl_emu_replay_free(struct edl_emu_replay *r)
{
	char p[160];

	if (r == NULL)
		return;
	if (!r->said) {
		edl_replay_progress(r->script, p, sizeof(p));
		fprintf(stderr,
		        "emulate: replay %s: the host stopped before the end of the recording "
		        "(%s)\n",
		        r->path, p);
	}
	edl_replay_free(r->script);
	free(r->path);
	free(r);
}
