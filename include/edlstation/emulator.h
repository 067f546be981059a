/*
 * The emulated production line: EDL devices (the emulated target of target.h)
 * behind emulated USB (umockdev), visible to libusb and raw usbdevfs programs
 * run under libumockdev-preload with UMOCKDEV_DIR set to the line's testbed.
 * `edlstation emulate` wraps this around a command; tests and benchmarks use it
 * the same way.
 *
 * Ports are 1-H.P: hubs 1-1, 1-2, ... below root hub usb1, hub_ports ports
 * each. A port holds one unit at a time. Each unit is a fresh emulated device
 * with the next serial (first_serial, +1, ...), its iProduct
 * "QUSB__BULK_SN:<serial as 8 upper-case hex digits>", and its storage in
 * sparse files (in dump_dir/<serial as 8 lower-case hex digits>/ when a dump
 * is asked for). A unit is the generic target of the line's storage, or a
 * real device family (a device profile, profile.h) chosen for the whole line
 * or per port; a port keeps its profile for every unit it gets. A unit whose
 * stall fault tripped hangs: its OUT transfers stay pending until the host
 * cancels them, it sends nothing, endpoint 0 still answers (usbfs.c). What a
 * unit does when its session ends:
 *   - reset or power off (<power value="reset"/"off">, Sahara RESET): it leaves
 *     EDL, so it is unplugged once the host has read the answer;
 *   - reset to EDL: unplugged and plugged again after reboot_delay with a fresh
 *     HELLO, same serial and storage, its injected faults cleared (they model
 *     one bad session);
 *   - gone (the unplug-at fault): unplugged at once;
 *   - the unplug-ms fault: pulled that long after it was plugged, whatever
 *     it is doing (attach, descriptors, Sahara, any Firehose stage);
 *   - line mode only: a unit whose programmer ACKed a <power> with a
 *     DelayInSeconds and whose host then closed it is pulled at once, as an
 *     operator does (the power change happens then, it counts as finished);
 *   - line mode only: a unit the host has touched and then left alone for
 *     fail_hold seconds is taken off the line.
 * In line mode (units > 0) a port whose unit left gets the next unit after
 * swap_delay seconds until `units` units have been plugged; otherwise the port
 * stays empty.
 *
 * Rates (MB = 10^6 bytes): rate_mbps per device link, hub_rate_mbps shared by
 * the devices of one hub, write_rate_mbps the storage speed (the final ACK of
 * a program waits for it). 0 = unlimited.
 *
 * Threads: the line object belongs to the caller's thread; umockdev serves the
 * devices on its own worker thread. edl_emu_line_tick() must be called often
 * (every 20 ms, and when the wake callback fires) to act on units.
 */
#ifndef EDLSTATION_EMULATOR_H
#define EDLSTATION_EMULATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edlstation/error.h"
#include "edlstation/profile.h"
#include "edlstation/storage.h"
#include "edlstation/target.h"

#define EDL_EMU_MAX_PORTS 105 /* 15 hubs x 7 ports */

struct edl_emu_line;

/* A fault for the first unit plugged into a port. */
struct edl_emu_fault {
	char port[16];                   /* "1-1.3" */
	struct edl_target_faults faults; /* merged with the other faults of the port */
	bool unplug_timed;               /* unplug-ms=MS: the unit is pulled ... */
	uint32_t unplug_ms;              /* ... MS ms after it was plugged (the line's fault) */
	char spec[64];                   /* as written, for unit.json */
};

/* A device profile (profile.h) for the units of one port. */
struct edl_emu_port_profile {
	char port[16]; /* "1-1.3" or a port number, as a fault's PORT */
	const struct edl_device_profile *profile;
};

/* Which of the line's storage options were given explicitly: with a profile
 * they win over its values; without one they configure the generic target. */
#define EDL_EMU_SET_STORAGE 0x1u /* storage: the kind, its default geometry */
#define EDL_EMU_SET_SAHARA 0x2u  /* sahara_version */
/* (a non-zero max_payload, sector_size, sectors, luns or pages_per_block always wins) */

struct edl_emu_line_config {
	unsigned devices;   /* ports, 1..EDL_EMU_MAX_PORTS */
	unsigned hub_ports; /* ports per hub, 1..15, default 7 */
	uint32_t first_serial;
	/* Every port's device profile (edl_profile_apply() on each unit's target,
	 * before its serial and faults); NULL = the generic target of `storage`. */
	const struct edl_device_profile *profile;
	const struct edl_emu_port_profile *port_profiles; /* override `profile` per port */
	size_t n_port_profiles;
	unsigned explicit_set; /* EDL_EMU_SET_*: options that win over a profile */
	enum edl_storage_kind storage;
	uint32_t sector_size; /* 0 = the kind's default */
	uint64_t sectors;     /* per LUN; 0 = default */
	uint32_t luns;        /* 0 = default */
	uint32_t pages_per_block;
	const uint32_t *bad_blocks; /* NAND erase blocks, every unit */
	size_t n_bad_blocks;
	uint32_t sahara_version; /* 2 or 3 */
	uint64_t max_payload;    /* programmer's largest raw transfer; 0 = 1 MiB */
	unsigned units;          /* line mode: units in total; 0 = one unit per port */
	double swap_delay;       /* seconds */
	double fail_hold;        /* seconds; 0 = never */
	double reboot_delay;     /* seconds a unit reset to EDL stays away */
	double rate_mbps, hub_rate_mbps, write_rate_mbps;
	unsigned max_address;     /* highest USB device address, 2..127 (0 = 127); lower
	                             values make addresses come round sooner (tests) */
	unsigned usbfs_memory_mb; /* host transfers in flight, all devices, as Linux's
	                             usbfs_memory_mb (a submit beyond: ENOMEM); 0 = no limit */
	const char *dump_dir;     /* NULL: no dump */
	const struct edl_emu_fault *faults;
	size_t n_faults;
	/* issue 16, --replay: port N's units answer from capture file replay[N]
	 * (src/emulator/replay.c); the line's unit model keeps their storage. */
	const char *const *replay;
	size_t n_replay;
	const char *const *empty_ports; /* ports left empty at start */
	size_t n_empty_ports;
	bool verbose;  /* one line per event on stderr */
	bool seed_cal; /* issue 15, --cal: units' calibration partitions (cal_seed.h) */
	const char
	        *product_suffix; /* appended to every unit's iProduct (hostile-descriptor tests) */
	/* Called from umockdev's worker thread when a unit needs attention before
	 * the next tick (e.g. it just went away); may be NULL. */
	void (*wake)(void *data);
	void *wake_data;
};

/* devices 1, hub_ports 7, serial 0x1a2b3c4d, ufs, Sahara 2, swap_delay 0.5 s,
 * fail_hold 5 s, reboot_delay 0.2 s, no rates, usbfs_memory_mb 16, no dump. */
void edl_emu_line_config_default(struct edl_emu_line_config *cfg);

/* Parses "PORT:KIND[=ARG]" into f. PORT is 1-H.P (hub H 1..15, port P 1..15)
 * or a 1-based port number N (1..105, the N-th port given hub_ports); only its
 * form is checked here, edl_emu_line_new() warns about a port its line lacks.
 * KIND[=ARG] is unplug-ms=MS (the line pulls the unit MS ms after plugging it)
 * or edl_target_fault_parse()'s (firehose-running, silent, unplug-at=BYTES,
 * nak=COMMAND[:N], corrupt, payload-max=BYTES, ...). Returns EDL_OK or
 * EDL_E_USAGE with a detail naming the spec and the valid forms. */
int edl_emu_fault_parse(struct edl_emu_fault *f, const char *spec, unsigned hub_ports,
                        struct edl_error *err);

/* Every fault kind of edl_emu_fault_parse(), for usage texts. */
const char *edl_emu_fault_kinds(void);

/* Parses "NAME" (port NULL: every port) or "PORT:NAME" (PORT as in
 * edl_emu_fault_parse; a port the line lacks gets a warning from
 * edl_emu_line_new()) into pp; *every is set when the spec names no port.
 * Returns EDL_OK or EDL_E_USAGE with a detail listing edl_profile_names(). */
int edl_emu_profile_parse(struct edl_emu_port_profile *pp, bool *every, const char *spec,
                          unsigned hub_ports, struct edl_error *err);

/* Port name "1-H.P" of the n-th port (0-based). */
void edl_emu_port_name(char out[16], unsigned n, unsigned hub_ports);

/* Creates the testbed (in $TMPDIR: keep it short), the hubs and ports, and
 * plugs the first units. The process must be linked with libumockdev-preload.
 * *out is the caller's (edl_emu_line_free); the configuration is read during the
 * call only. Returns EDL_OK, EDL_E_USAGE (bad configuration), EDL_E_IO or
 * EDL_E_NOMEM. */
int edl_emu_line_new(struct edl_emu_line **out, const struct edl_emu_line_config *cfg,
                     struct edl_error *err);

/* Unplugs everything, writes the dump (unit.json of units still plugged) and
 * removes the testbed and temporary storage. */
void edl_emu_line_free(struct edl_emu_line *line);

/* The testbed directory: host programs need UMOCKDEV_DIR set to it (and
 * LD_PRELOAD=libumockdev-preload.so.0). */
const char *edl_emu_line_root(const struct edl_emu_line *line);

/* Acts on units: unplugs those whose session ended, re-plugs units reset to
 * EDL, swaps units in line mode. now is edl_clock_ms(). Returns the number of
 * milliseconds until the next tick is needed at the latest. */
unsigned edl_emu_line_tick(struct edl_emu_line *line, uint64_t now);

/* Operator actions on a port (name "1-H.P" or number): plug a fresh unit into
 * an empty port, or pull the unit out. Returns EDL_OK, EDL_E_USAGE (no such
 * port), EDL_E_BUSY (port not empty / already empty) or an error of plugging. */
int edl_emu_line_plug(struct edl_emu_line *line, const char *port, struct edl_error *err);
int edl_emu_line_unplug(struct edl_emu_line *line, const char *port, struct edl_error *err);

struct edl_emu_line_stats {
	unsigned plugged;             /* units plugged so far (each once) */
	unsigned present;             /* units on the bus now */
	unsigned finished;            /* units that left after a reset or power off */
	unsigned failed;              /* units that left otherwise (gone, fail-hold, pulled) */
	uint64_t bytes_out, bytes_in; /* host->device and device->host over all units */
};

void edl_emu_line_stats(struct edl_emu_line *line, struct edl_emu_line_stats *out);

/* An operator's action at a time: plug a fresh unit into PORT, or pull it. */
struct edl_emu_event {
	double at; /* seconds after the line started */
	bool plug; /* false: unplug */
	char port[16];
};

/* Parses "SECS:plug:PORT" or "SECS:unplug:PORT" (PORT as in
 * edl_emu_fault_parse). Returns EDL_OK or EDL_E_USAGE with a detail. */
int edl_emu_event_parse(struct edl_emu_event *ev, const char *spec, unsigned hub_ports,
                        struct edl_error *err);

struct edl_emu_run_config {
	struct edl_emu_line_config line; /* its wake/wake_data are the run loop's own */
	const struct edl_emu_event *events;
	size_t n_events;
	/* argv of COMMAND, NULL-terminated; NULL or empty: print UMOCKDEV_DIR and
	 * LD_PRELOAD on stdout and run until SIGINT/SIGTERM/SIGHUP. */
	char *const *command;
	/* After the first SIGINT/SIGTERM/SIGHUP, COMMAND gets this many seconds
	 * to exit, then it is killed (SIGKILL); 0 = at once. */
	double grace_s;
};

/* The grace period of `edlstation emulate --grace` when none is given. */
#define EDL_EMU_DEFAULT_GRACE_S 10.0

/*
 * The emulated line around a command (src/emulator/run.c): sets the line up
 * (TMPDIR is replaced by /tmp for this process when longer than 40 bytes,
 * COMMAND keeps the caller's), runs COMMAND under libumockdev-preload with
 * UMOCKDEV_DIR set, ticks the line and plays the events until COMMAND exits,
 * passes SIGINT/SIGTERM/SIGHUP sent by other processes on to it (and kills it
 * with SIGKILL when it is still running grace_s seconds later), then frees
 * the line (writing the dump). Returns COMMAND's exit status (128 + signal
 * when killed, 0 without COMMAND), 127 with err set when it cannot be run, 2
 * (bad line configuration) or 1 (setup failed) with err set.
 */
int edl_emu_run(const struct edl_emu_run_config *cfg, struct edl_error *err);

/* `edlstation emulate [options] -- COMMAND [ARGS...]` (src/cli/cmd_emulate.c; also
 * declared in cli.h): argv[0] is "emulate". Returns COMMAND's exit status (128 +
 * signal when killed), 127 when it cannot be run, 2 on a usage error, 1 when the
 * line could not be set up. */
int edl_cli_emulate(int argc, char **argv);

#endif
