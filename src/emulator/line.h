/*
 * What the line records about a unit for the dump (dump.c writes it as
 * DIR/<serial>/unit.json beside the unit's storage files).
 */
#ifndef EDLSTATION_EMULATOR_LINE_H
#define EDLSTATION_EMULATOR_LINE_H

#include <stdbool.h>
#include <stdint.h>

#include "edlstation/error.h"
#include "edlstation/storage.h"

/* Firehose commands whose counts the dump lists. */
#define EDL_EMU_COMMANDS                                                                       \
	"configure", "program", "read", "erase", "patch", "getstorageinfo", "getsha256digest", \
	        "setbootablestoragedrive", "nop", "power", "benchmark", "peek", "poke"
#define EDL_EMU_N_COMMANDS 13

struct edl_emu_unit_report {
	uint32_t serial;
	const char *port;
	const char *product; /* iProduct */
	const char *profile; /* device profile's name; NULL = the generic target */
	enum edl_storage_kind storage;
	uint32_t sector_size;
	uint32_t luns;
	uint64_t sectors; /* per LUN */
	bool have_programmer;
	uint8_t programmer_sha256[32];
	unsigned commands[EDL_EMU_N_COMMANDS];
	uint64_t raw_bytes;
	uint64_t bytes_out, bytes_in; /* USB traffic, both directions */
	const char *final_state;      /* edl_target_state_name() */
	const char *end;          /* "reset", "off", "gone", "fail-hold", "unplugged", "present" */
	unsigned enumerations;    /* 1 + times it came back after a reset to EDL */
	const char *faults;       /* specs as given, "" for none */
	double plugged_s, left_s; /* seconds since the line started; left_s < 0: present */
};

/* Writes dir/unit.json (dir exists). Returns EDL_OK or EDL_E_IO with a detail. */
int edl_emu_dump_unit(const char *dir, const struct edl_emu_unit_report *r, struct edl_error *err);

#endif
