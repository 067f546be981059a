/*
 * The composite emulated device: the boot ROM (pbl.c) until it has received a
 * programmer, then the Firehose programmer (programmer.c) on the same
 * endpoints, both over one storage model (storage.c, storage_nand.c). The
 * device-level faults are applied here: a programmer already running at power-on
 * (optionally with stale output queued), a ROM whose HELLO was lost, a device
 * that never answers. State changes that end the session (Sahara RESET, the
 * <power> command) take effect once their answer has been handed out, so the
 * host always receives it; the emulator then decides what the unit does next.
 *
 * The programmer prints its banner when the ROM jumps to it; one found running
 * at power-on (firehose_running, firehose_busy) printed it long ago. The stall
 * fault counts every byte the unit takes (Sahara and Firehose alike) and, once
 * tripped, the unit takes nothing more: its OUT endpoint no longer drains.
 */
#include "edlstation/target.h"

#include <stdlib.h>
#include <string.h>

#include "target/programmer.h"
#include "target/storage_model.h"

struct edl_target {
	struct edl_target_faults faults;
	struct edl_target_storage *st;
	struct edl_pbl *pbl; /* NULL when the programmer runs from power-on */
	struct edl_target_prog *prog;
	enum edl_target_state state;
	uint64_t received; /* bytes taken, for the stall fault */
	bool stalled;
	bool have_sha;
	uint8_t prog_sha[32];
};

void edl_target_config_default(struct edl_target_config *cfg, enum edl_storage_kind kind)
{
	memset(cfg, 0, sizeof(*cfg));
	edl_pbl_config_default(&cfg->pbl);
	edl_storage_config_default(&cfg->storage, kind);
	cfg->max_payload = EDL_TARGET_DEFAULT_PAYLOAD;
}

int edl_target_new(struct edl_target **out, const struct edl_target_config *cfg,
                   struct edl_error *err)
{
	struct edl_target *t;
	int rc;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "emulated device");
	t->faults = cfg->faults;
	t->faults.nak_command[sizeof(t->faults.nak_command) - 1] = '\0';
	rc = edl_target_storage_open(&t->st, &cfg->storage, err);
	if (rc != EDL_OK)
		goto out;
	if (cfg->seed_cal) {
		rc = edl_target_seed_cal(t->st, cfg->pbl.serial, err);
		if (rc != EDL_OK)
			goto out;
	}
	rc = edl_target_prog_new(&t->prog, t->st, cfg->max_payload, cfg->pbl.serial, &cfg->prog,
	                         &t->faults);
	if (rc != EDL_OK) {
		edl_error_set(err, rc, "emulated programmer");
		goto out;
	}
	if (t->faults.silent) {
		t->state = EDL_TARGET_SILENT;
	} else if (t->faults.firehose_running || t->faults.firehose_busy) {
		t->state = EDL_TARGET_FIREHOSE;
		if (t->faults.firehose_busy)
			edl_target_prog_start_busy(t->prog, t->faults.firehose_busy_bytes);
	} else {
		struct edl_pbl_config pc = cfg->pbl;
		pc.hello_consumed = pc.hello_consumed || t->faults.hello_consumed;
		if (t->faults.memory_dump) {
			pc.memory_dump = true;
			pc.dump_table = t->faults.dump_table;
		}
		if (t->faults.xbl_refuse != 0) {
			pc.quirks.refuse_exec_mask |= 1u << t->faults.xbl_refuse;
			pc.quirks.refusal_needs_reset = true;
		}
		rc = edl_pbl_new(&t->pbl, &pc);
		if (rc != EDL_OK) {
			rc = edl_error_set(err, rc == EDL_E_INVAL ? EDL_E_CONFIG : rc,
			                   "boot ROM configuration refused (Sahara version %u, PK "
			                   "hash of %zu bytes)",
			                   (unsigned)pc.sahara_version, pc.pk_hash_len);
			goto out;
		}
		t->state = EDL_TARGET_SAHARA;
	}
	*out = t;
	return EDL_OK;
out:
	edl_target_free(t);
	return rc;
}

void edl_target_free(struct edl_target *t)
{
	if (t == NULL)
		return;
	edl_pbl_free(t->pbl);
	edl_target_prog_free(t->prog);
	edl_target_storage_close(t->st);
	free(t);
}

void edl_target_start(struct edl_target *t, uint64_t now)
{
	(void)now;
	if (t->state == EDL_TARGET_SAHARA)
		edl_pbl_start(t->pbl);
	else if (t->state == EDL_TARGET_FIREHOSE && t->faults.firehose_stale_output)
		edl_target_prog_queue_stale(t->prog);
}

/* Follows the programmer's end of session into the device state. */
static void follow_programmer(struct edl_target *t)
{
	switch (edl_target_prog_end(t->prog)) {
	case EDL_TARGET_PROG_RUNNING:
		break;
	case EDL_TARGET_PROG_RESET:
		t->state = EDL_TARGET_RESET;
		break;
	case EDL_TARGET_PROG_OFF:
		t->state = EDL_TARGET_OFF;
		break;
	case EDL_TARGET_PROG_RESET_TO_EDL:
		t->state = EDL_TARGET_RESET_TO_EDL;
		break;
	case EDL_TARGET_PROG_GONE:
		t->state = EDL_TARGET_GONE;
		break;
	}
}

int edl_target_feed(struct edl_target *t, const uint8_t *data, size_t len, uint64_t now)
{
	int rc = EDL_OK;

	/* A ZLP means nothing to the programmer; a boot ROM may break on one
	 * mid-transfer (pbl.h zlp_breaks_transfer), so it sees them. */
	if (t->stalled || (len == 0 && t->state != EDL_TARGET_SAHARA))
		return EDL_OK;
	if (t->faults.stall_at_bytes != 0) {
		uint64_t room = t->faults.stall_at_bytes - t->received;
		if (len >= room) {
			/* Raw data is taken up to the limit (the programmer's read
			 * completes with what arrived); a Sahara packet or a command
			 * document that does not fit is never completed at all. */
			t->stalled = true;
			if (len > room &&
			    !(t->state == EDL_TARGET_FIREHOSE && edl_target_prog_in_raw(t->prog)))
				return EDL_OK;
			len = (size_t)room;
			if (len == 0)
				return EDL_OK;
		}
		t->received += len;
	}
	switch (t->state) {
	case EDL_TARGET_SAHARA:
		rc = edl_pbl_feed(t->pbl, data, len);
		if (edl_pbl_state(t->pbl) == EDL_PBL_LOADED) {
			/* The ROM jumps to the programmer: what comes next is Firehose. */
			edl_pbl_image_sha256(t->pbl, t->prog_sha);
			t->have_sha = true;
			t->state = EDL_TARGET_FIREHOSE;
			if (rc == EDL_OK)
				rc = edl_target_prog_banner(t->prog);
		}
		break;
	case EDL_TARGET_FIREHOSE:
		rc = edl_target_prog_feed(t->prog, data, len, now);
		follow_programmer(t);
		break;
	default:
		break; /* the session is over, or the device never answers */
	}
	return rc;
}

bool edl_target_next_out(struct edl_target *t, struct edl_chunk *out, uint64_t now)
{
	if (t->state == EDL_TARGET_SILENT || t->state == EDL_TARGET_GONE)
		return false;
	/* The ROM's last answers (DONE_RESP, RESET_RESP) go out before anything else. */
	if (t->pbl != NULL && edl_pbl_next_out(t->pbl, out))
		return true;
	if (t->state == EDL_TARGET_SAHARA && edl_pbl_state(t->pbl) == EDL_PBL_RESET) {
		/* A unit held in EDL (the xbl-refuse fault's) reboots into it. */
		t->state = t->faults.xbl_refuse != 0 ? EDL_TARGET_RESET_TO_EDL : EDL_TARGET_RESET;
		return false;
	}
	if (t->state != EDL_TARGET_FIREHOSE)
		return false;
	bool got = edl_target_prog_next_out(t->prog, out, now);
	follow_programmer(t);
	return got;
}

uint64_t edl_target_deadline(const struct edl_target *t)
{
	return t->state == EDL_TARGET_FIREHOSE ? edl_target_prog_deadline(t->prog) : 0;
}

void edl_target_timeout(struct edl_target *t, uint64_t now)
{
	if (t->state != EDL_TARGET_FIREHOSE)
		return;
	edl_target_prog_timeout(t->prog, now);
	follow_programmer(t);
}

enum edl_target_state edl_target_state(const struct edl_target *t)
{
	return t->state;
}

const char *edl_target_state_name(enum edl_target_state s)
{
	switch (s) {
	case EDL_TARGET_SAHARA:
		return "SAHARA";
	case EDL_TARGET_FIREHOSE:
		return "FIREHOSE";
	case EDL_TARGET_RESET:
		return "RESET";
	case EDL_TARGET_OFF:
		return "OFF";
	case EDL_TARGET_RESET_TO_EDL:
		return "RESET_TO_EDL";
	case EDL_TARGET_GONE:
		return "GONE";
	case EDL_TARGET_SILENT:
		return "SILENT";
	}
	return "?";
}

void edl_target_programmer_sha256(const struct edl_target *t, uint8_t out[32])
{
	if (t->have_sha)
		memcpy(out, t->prog_sha, 32);
	else
		memset(out, 0, 32);
}

unsigned edl_target_commands_seen(const struct edl_target *t, const char *command)
{
	return edl_target_prog_commands_seen(t->prog, command);
}

uint64_t edl_target_raw_bytes(const struct edl_target *t)
{
	return edl_target_prog_raw_bytes(t->prog);
}

int edl_target_read_storage(struct edl_target *t, uint32_t lun, uint64_t sector, uint64_t count,
                            uint8_t *buf)
{
	return edl_target_storage_read_raw(t->st, lun, sector, count, buf, NULL);
}

const char *edl_target_storage_path(struct edl_target *t, uint32_t lun)
{
	return edl_target_storage_file(t->st, lun);
}

bool edl_target_stalled(const struct edl_target *t)
{
	return t->stalled;
}
