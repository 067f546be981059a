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

/* Every string we write is ours (ports, state names, fault specs), but escape
 * anyway so a fault spec with a quote cannot break the document. */
static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

int edl_emu_dump_unit(const char *dir, const struct edl_emu_unit_report *r, struct edl_error *err)
{
	static const char *const names[EDL_EMU_N_COMMANDS] = {EDL_EMU_COMMANDS};
	char path[4096], tmp[4112];
	const char *sep = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/unit.json", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return edl_error_set(err, EDL_E_IO, "writing %s: %s", tmp, strerror(errno));
	fprintf(f, "{\n  \"serial\": \"%08x\",\n  \"usb_product\": ", r->serial);
	json_string(f, r->product);
	fprintf(f, ",\n  \"port\": ");
	json_string(f, r->port);
	fprintf(f, ",\n  \"profile\": ");
	if (r->profile)
		json_string(f, r->profile);
	else
		fputs("null", f);
	fprintf(f,
	        ",\n  \"storage\": {\"kind\": \"%s\", \"sector_size\": %u, \"luns\": %u, "
	        "\"sectors_per_lun\": %llu},\n",
	        edl_storage_name(r->storage), r->sector_size, r->luns,
	        (unsigned long long)r->sectors);
	fprintf(f, "  \"programmer_sha256\": ");
	if (r->have_programmer) {
		fputc('"', f);
		for (int i = 0; i < 32; i++)
			fprintf(f, "%02x", r->programmer_sha256[i]);
		fputc('"', f);
	} else {
		fputs("null", f);
	}
	fprintf(f, ",\n  \"commands\": {");
	for (int i = 0; i < EDL_EMU_N_COMMANDS; i++) {
		if (!r->commands[i])
			continue;
		fprintf(f, "%s\"%s\": %u", sep, names[i], r->commands[i]);
		sep = ", ";
	}
	fprintf(f,
	        "},\n  \"raw_bytes\": %llu,\n  \"usb_bytes_out\": %llu,\n"
	        "  \"usb_bytes_in\": %llu,\n",
	        (unsigned long long)r->raw_bytes, (unsigned long long)r->bytes_out,
	        (unsigned long long)r->bytes_in);
	fprintf(f, "  \"final_state\": ");
	json_string(f, r->final_state);
	fprintf(f, ",\n  \"end\": ");
	json_string(f, r->end);
	fprintf(f, ",\n  \"enumerations\": %u,\n  \"faults\": ", r->enumerations);
	json_string(f, r->faults);
	fprintf(f, ",\n  \"plugged_s\": %.3f,\n  \"left_s\": ", r->plugged_s);
	if (r->left_s < 0)
		fputs("null", f);
	else
		fprintf(f, "%.3f", r->left_s);
	fprintf(f, "\n}\n");
	if (ferror(f) | (fclose(f) != 0)) {
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
