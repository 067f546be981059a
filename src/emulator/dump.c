/*
 * The emulator's dump (--dump DIR): each unit's storage already lives in
 * DIR/<serial>/lun<N>.img (sparse files the emulated device writes directly);
 * this file adds DIR/<serial>/unit.json, what a test needs to judge the unit:
 * identity, the SHA-256 of the programmer it received, the Firehose commands it
 * saw, and how its time on the line ended. Written atomically (temporary file,
 * then rename), so a reader never sees half a file.
 */
#include "line.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "edlstation/json.h"

int edl_emu_dump_unit(const char *dir, const struct edl_emu_unit_report *r, struct edl_error *err)
{
	static const char *const names[EDL_EMU_N_COMMANDS] = {EDL_EMU_COMMANDS};
	char path[4096], tmp[4112];
	struct edl_json j;
	FILE *f;

	snprintf(path, sizeof(path), "%s/unit.json", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return edl_error_set(err, EDL_E_IO, "writing %s: %s", tmp, strerror(errno));
	/* Top-level members one a line (tests/emulator/e2e.sh reads them with
	 * sed), nested objects on one line. The strings are ours (ports, state
	 * names, fault specs), but a fault spec is typed by a user. */
	edl_json_init_file(&j, f, 1);
	edl_json_object_begin(&j);
	edl_json_key(&j, "serial");
	edl_json_stringf(&j, "%08x", r->serial);
	edl_json_key(&j, "usb_product");
	edl_json_string(&j, r->product);
	edl_json_key(&j, "port");
	edl_json_string(&j, r->port);
	edl_json_key(&j, "profile");
	edl_json_string(&j, r->profile); /* NULL: null */
	edl_json_key(&j, "storage");
	edl_json_object_begin(&j);
	edl_json_key(&j, "kind");
	edl_json_string(&j, edl_storage_name(r->storage));
	edl_json_key(&j, "sector_size");
	edl_json_uint(&j, r->sector_size);
	edl_json_key(&j, "luns");
	edl_json_uint(&j, r->luns);
	edl_json_key(&j, "sectors_per_lun");
	edl_json_uint(&j, r->sectors);
	edl_json_object_end(&j);
	edl_json_key(&j, "programmer_sha256");
	if (r->have_programmer) {
		char hex[65];

		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", r->programmer_sha256[i]);
		edl_json_string(&j, hex);
	} else {
		edl_json_null(&j);
	}
	edl_json_key(&j, "commands");
	edl_json_object_begin(&j);
	for (int i = 0; i < EDL_EMU_N_COMMANDS; i++) {
		if (!r->commands[i])
			continue;
		edl_json_key(&j, names[i]);
		edl_json_uint(&j, r->commands[i]);
	}
	edl_json_object_end(&j);
	edl_json_key(&j, "raw_bytes");
	edl_json_uint(&j, r->raw_bytes);
	edl_json_key(&j, "usb_bytes_out");
	edl_json_uint(&j, r->bytes_out);
	edl_json_key(&j, "usb_bytes_in");
	edl_json_uint(&j, r->bytes_in);
	edl_json_key(&j, "final_state");
	edl_json_string(&j, r->final_state);
	edl_json_key(&j, "end");
	edl_json_string(&j, r->end);
	edl_json_key(&j, "enumerations");
	edl_json_uint(&j, r->enumerations);
	edl_json_key(&j, "faults");
	edl_json_string(&j, r->faults);
	edl_json_key(&j, "plugged_s");
	edl_json_fixed(&j, r->plugged_s, 3);
	edl_json_key(&j, "left_s");
	if (r->left_s < 0)
		edl_json_null(&j);
	else
		edl_json_fixed(&j, r->left_s, 3);
	edl_json_object_end(&j);
	if ((edl_json_finish(&j) != EDL_OK) | (fclose(f) != 0)) {
		(void)unlink(tmp);
		return edl_error_set(err, EDL_E_IO, "writing %s failed", tmp);
	}
	if (rename(tmp, path) != 0) {
		int e = errno;

		(void)unlink(tmp);
		return edl_error_set(err, EDL_E_IO, "renaming %s to %s: %s", tmp, path,
		                     strerror(e));
	}
	return EDL_OK;
}
