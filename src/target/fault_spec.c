/*
 * Fault specifications as operators and tests write them ("firehose-running",
 * "nak=program:2", "unplug-at=4M", "payload-max=16384", "firehose-busy=8M",
 * "stall-at=1M"), parsed onto struct
 * edl_target_faults. Shared by `edlstation memflash` and `edlstation emulate`.
 */
#include "edlstation/target.h"
#include "edlstation/pbl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A byte count with an optional K/M/G suffix (powers of 1024). */
static int parse_bytes(const char *s, uint64_t *out)
{
	char *end;
	uint64_t mult = 1;

	if (s == NULL || *s == '\0' || *s == '-')
		return EDL_E_INVAL;
	errno = 0;
	uint64_t v = strtoull(s, &end, 0);
	if (errno != 0)
		return EDL_E_RANGE;
	if (*end == 'K' || *end == 'k')
		mult = 1024;
	else if (*end == 'M' || *end == 'm')
		mult = 1024 * 1024;
	else if (*end == 'G' || *end == 'g')
		mult = 1024ull * 1024 * 1024;
	else if (*end != '\0')
		return EDL_E_INVAL;
	if (mult > 1 && end[1] != '\0')
		return EDL_E_INVAL;
	if (v > UINT64_MAX / mult)
		return EDL_E_RANGE;
	*out = v * mult;
	return EDL_OK;
}

const char *edl_target_fault_kinds(void)
{
	return "firehose-running, firehose-stale, firehose-busy[=BYTES] (programmer running "
	       "inside a program's raw data, BYTES still due, default 8M), silent, hello-consumed, "
	       "unplug-at=BYTES, stall-at=BYTES (OUT endpoint stops draining after BYTES), "
	       "nak=COMMAND[:N], corrupt, payload-max=BYTES, slow-ack=MS, write-rate=BYTES_PER_S, "
	       "xbl-refuse=CMD (the ROM refuses command-mode request CMD, then takes only RESET "
	       "and reboots into EDL), memory-dump[=real|hostile-names|bad-table] (crashed into "
	       "the boot ROM's memory-debug mode: serves a memory table and its regions), "
	       "preserve-read (a read of the seeded modemst1 is NAKed)";
}

/* What each kind takes after '=', for the message of a bad argument. */
static const struct {
	const char *kind;
	const char *form;
} arg_forms[] = {
        {"firehose-running", "no argument"},
        {"firehose-stale", "no argument"},
        {"firehose-busy", "no argument or =BYTES (above 0; K/M/G suffixes)"},
        {"stall-at", "=BYTES (above 0; K/M/G suffixes)"},
        {"xbl-refuse", "=CMD (a Sahara command-mode request, 1..31)"},
        {"silent", "no argument"},
        {"preserve-read", "no argument"},
        {"hello-consumed", "no argument"},
        {"corrupt", "no argument"},
        {"unplug-at", "=BYTES (above 0; K/M/G suffixes)"},
        {"payload-max", "=BYTES (512 to 64M; K/M/G suffixes)"},
        {"slow-ack", "=MS (0..3600000)"},
        {"write-rate", "=BYTES_PER_S (above 0; K/M/G suffixes)"},
        {"nak", "=COMMAND[:N] (a Firehose command, the N-th one, N from 1)"},
        {"memory-dump", "no argument or =real, =hostile-names, =bad-table"},
};

static const char *arg_form(const char *kind)
{
	for (size_t i = 0; i < sizeof(arg_forms) / sizeof(arg_forms[0]); i++)
		if (strcmp(arg_forms[i].kind, kind) == 0)
			return arg_forms[i].form;
	return NULL;
}

int edl_target_fault_parse(struct edl_target_faults *f, const char *spec, struct edl_error *err)
{
	char kind[32];
	const char *arg = strchr(spec, '=');
	size_t klen = arg ? (size_t)(arg - spec) : strlen(spec);
	uint64_t v = 0;

	if (klen == 0 || klen >= sizeof(kind))
		return edl_error_set(err, EDL_E_INVAL, "fault '%s': no such fault (known: %s)",
		                     spec, edl_target_fault_kinds());
	memcpy(kind, spec, klen);
	kind[klen] = '\0';
	if (arg)
		arg++;

	if (strcmp(kind, "firehose-running") == 0 && !arg) {
		f->firehose_running = true;
	} else if (strcmp(kind, "firehose-stale") == 0 && !arg) {
		f->firehose_running = true;
		f->firehose_stale_output = true;
	} else if (strcmp(kind, "firehose-busy") == 0) {
		if (arg && (parse_bytes(arg, &v) != EDL_OK || v == 0))
			goto bad_arg;
		f->firehose_busy = true;
		f->firehose_busy_bytes = arg ? v : 8ull * 1024 * 1024;
	} else if (strcmp(kind, "stall-at") == 0 && arg) {
		if (parse_bytes(arg, &v) != EDL_OK || v == 0)
			goto bad_arg;
		f->stall_at_bytes = v;
	} else if (strcmp(kind, "xbl-refuse") == 0 && arg) {
		if (parse_bytes(arg, &v) != EDL_OK || v == 0 || v > 31)
			goto bad_arg;
		f->xbl_refuse = (uint32_t)v;
	} else if (strcmp(kind, "preserve-read") == 0 && !arg) {
		f->preserve_read = true;
	} else if (strcmp(kind, "silent") == 0 && !arg) {
		f->silent = true;
	} else if (strcmp(kind, "hello-consumed") == 0 && !arg) {
		f->hello_consumed = true;
	} else if (strcmp(kind, "corrupt") == 0 && !arg) {
		f->corrupt = true;
	} else if (strcmp(kind, "unplug-at") == 0 && arg) {
		if (parse_bytes(arg, &v) != EDL_OK || v == 0)
			goto bad_arg;
		f->unplug_at_bytes = v;
	} else if (strcmp(kind, "payload-max") == 0 && arg) {
		if (parse_bytes(arg, &v) != EDL_OK || v < 512 || v > 64ull * 1024 * 1024)
			goto bad_arg;
		f->payload_max = v;
	} else if (strcmp(kind, "slow-ack") == 0 && arg) {
		if (parse_bytes(arg, &v) != EDL_OK || v > 3600 * 1000)
			goto bad_arg;
		f->slow_final_ack_ms = (uint32_t)v;
	} else if (strcmp(kind, "write-rate") == 0 && arg) {
		if (parse_bytes(arg, &v) != EDL_OK || v == 0)
			goto bad_arg;
		f->write_rate_bps = v;
	} else if (strcmp(kind, "nak") == 0 && arg) {
		const char *colon = strchr(arg, ':');
		size_t clen = colon ? (size_t)(colon - arg) : strlen(arg);
		if (clen == 0 || clen >= sizeof(f->nak_command))
			goto bad_arg;
		memcpy(f->nak_command, arg, clen);
		f->nak_command[clen] = '\0';
		f->nak_nth = 1;
		if (colon) {
			if (parse_bytes(colon + 1, &v) != EDL_OK || v == 0 || v > UINT32_MAX)
				goto bad_arg;
			f->nak_nth = (uint32_t)v;
		}
	} else if (strcmp(kind, "memory-dump") == 0) {
		if (arg == NULL || strcmp(arg, "real") == 0)
			f->dump_table = EDL_PBL_DUMP_REAL;
		else if (strcmp(arg, "hostile-names") == 0)
			f->dump_table = EDL_PBL_DUMP_HOSTILE_NAMES;
		else if (strcmp(arg, "bad-table") == 0)
			f->dump_table = EDL_PBL_DUMP_BAD_TABLE;
		else
			goto bad_arg;
		f->memory_dump = true;
	} else if (arg_form(kind) == NULL) {
		return edl_error_set(err, EDL_E_INVAL, "fault '%s': no such fault (known: %s)",
		                     spec, edl_target_fault_kinds());
	} else {
		goto bad_arg;
	}
	return EDL_OK;
bad_arg:
	if (arg == NULL)
		return edl_error_set(err, EDL_E_INVAL, "fault '%s': %s takes %s", spec, kind,
		                     arg_form(kind));
	return edl_error_set(err, EDL_E_INVAL, "fault '%s': bad argument '%s': %s takes %s", spec,
	                     arg, kind, arg_form(kind));
}
