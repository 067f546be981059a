/*
 * The station: one libuv loop, the USB transport, and a session per attached
 * EDL device running the flash job; results recorded in the store; a live view.
 * `edlstation run` fills a struct edl_station_config (from an INI file and the
 * command line) and calls edl_station_run().
 */
#ifndef EDLSTATION_STATION_H
#define EDLSTATION_STATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "edlstation/error.h"
#include "edlstation/flash.h"
#include "edlstation/storage.h"

#define EDL_STATION_MAX_PORTS 128
#define EDL_STATION_MAX_LIST 32

struct edl_station_port {
	char port[32];  /* USB port path, "1-1.3" */
	char label[32]; /* slot label shown and recorded, "A3" */
	int slot;       /* slot number (1-based, in config order) */
};

enum edl_station_log_format {
	EDL_LOGFMT_AUTO = 0,    /* live view on a terminal, event lines otherwise */
	EDL_LOGFMT_TEXT = 1,    /* one line per event */
	EDL_LOGFMT_JSON = 2,    /* one JSON object per event */
	EDL_LOGFMT_JOURNAL = 3, /* one structured journal entry per event (auto under systemd) */
};

enum edl_running_policy {
	EDL_RUNNING_AUTO = 0,  /* reuse when iProduct gives the serial, else reset to EDL */
	EDL_RUNNING_REUSE = 1, /* always reuse a running programmer */
	EDL_RUNNING_RESET = 2, /* always reset it to EDL and identify on the fresh HELLO */
};

#define EDL_STATION_MAX_SOURCE (EDL_STATION_MAX_PORTS + 64)

/* Where each key of a config came from, so later checks (paths, permissions)
 * can name the line: filled by edl_station_config_load(); an option of the
 * command line that overrides a key records itself with line 0. */
struct edl_station_config_source {
	char path[512]; /* the INI file loaded; "" = none */
	struct edl_station_config_key {
		char section[16];
		char key[32];    /* port path for [ports] */
		unsigned line;   /* 1-based; 0 = set by an option */
		char option[24]; /* the option that set it ("--db"); "" = the file */
	} keys[EDL_STATION_MAX_SOURCE];
	size_t n_keys;
};

struct edl_station_config {
	char name[64]; /* station name recorded with every run */
	char package[1024];
	char rawprogram[EDL_STATION_MAX_LIST][256];
	size_t n_rawprogram;
	char programmer[256];
	bool storage_set;
	enum edl_storage_kind storage;
	char cache_dir[1024];
	char db[1024];      /* results database; "" = edlstation.db in the current directory */
	char log_dir[1024]; /* per-run transcripts; "" = none */
	/* issue 16: [station] record = DIR (run --record DIR): each run's USB traffic
	 * as DIR/SERIAL-RUNID.pcapng (usbmon); "" = off. record_max_mb bounds each
	 * file (raw data elided past it; Sahara and XML always kept); 0 = no bound. */
	char record_dir[1024];
	uint32_t record_max_mb;
	struct edl_station_port ports[EDL_STATION_MAX_PORTS];
	size_t n_ports;
	bool accept_unmapped; /* flash devices on ports not in the map */
	unsigned concurrency; /* sessions at once; 0 = unlimited */
	unsigned count;       /* stop after this many units finished; 0 = run until signalled */
	unsigned retries;     /* extra attempts after a failure while the device answers */
	enum edl_flash_verify verify; /* [flash] verify: auto|digest|readback|off */
	uint32_t reset_delay_s;       /* DelayInSeconds of the final power command */
	uint32_t flush_max_mb;        /* filler for a programmer found mid-raw-data (0 = none) */
	uint32_t progress_timeout_ms; /* no OUT byte accepted this long: the unit stalled */
	/* A unit reset to EDL that is not back this long after its reset_delay_s:
	 * its programmer knew only a plain reset, or it is dead (default 20000). */
	uint32_t reenumerate_ms;
	enum edl_running_policy running;
	/* [store] */
	uint64_t min_free_mb;    /* min_free_mb: reserve on the database's filesystem (64) */
	uint32_t store_retry_ms; /* retry_ms: kept results retried this often (1000) */
	/* [line] when to stop taking new units */
	unsigned stop_after;    /* stop_after: the same failure class this many units in a row (3; 0
	                           off) */
	unsigned stop_slots;    /* stop_slots: ... on this many different slots within
	                           stop_window_s (4; 0 off) */
	uint32_t stop_window_s; /* stop_window_s (60) */
	bool resume_auto;       /* resume = auto|operator: a line stopped by the store resumes
	                           by itself once it writes again (auto, default); stops for a
	                           failure class always wait for the operator (key or SIGUSR1) */
	bool dry_run;           /* run --dry-run: load, open, list devices, flash nothing */
	unsigned inflight;      /* OUT transfers in flight per device, 1..8 */
	bool zlp; /* zero-length packet after full-packet writes (ZlpAwareHost); off for chips that
	             break on it */
	uint64_t usbfs_budget; /* bytes in flight station-wide */
	uint64_t max_payload;  /* offered in configure */
	uint32_t hello_wait_ms, probe_wait_ms, packet_timeout_ms;
	uint32_t command_timeout_ms, erase_timeout_ms, final_ack_timeout_ms, digest_timeout_ms;
	uint32_t grace_s; /* after SIGINT/SIGTERM: time running sessions get to finish */
	enum edl_station_log_format log_format;
	bool verbose;
	bool identify_only; /* `edlstation identify`: no package, no store, Sahara command mode only
	                     */
	/* [factory] (issue 14): the factory database the station ships its runs to */
	char factory_database[1024];  /* database: PostgreSQL URI or key=value conninfo; "" = off */
	char factory_line[64];        /* line: the station's line, recorded with the station */
	uint32_t factory_batch;       /* batch: runs per PostgreSQL transaction (1000) */
	uint32_t factory_retry_max_s; /* retry_max_s: the backoff's cap while it is down (30) */
	uint32_t factory_timeout_s;   /* timeout_s: connect and statement timeout (10) */
	struct edl_station_config_source source;
};

void edl_station_config_default(struct edl_station_config *cfg);

/* Reads an INI file onto cfg (keys and the INI rules documented in
 * config/station.ini). Returns EDL_OK or EDL_E_CONFIG with err holding the first
 * problem as "FILE:LINE: [section] key: problem — fix". */
int edl_station_config_load(struct edl_station_config *cfg, const char *path,
                            struct edl_error *err);

/* Told every problem of a config, one finished message at a time. */
typedef void (*edl_station_config_problem_fn)(const char *message, void *data);

/* As edl_station_config_load(), and every problem goes to problem (NULL: none)
 * besides the first in err. */
int edl_station_config_load_all(struct edl_station_config *cfg, const char *path,
                                edl_station_config_problem_fn problem, void *data,
                                struct edl_error *err);

/* Parses INI text of len bytes (any bytes: NULs and long lines are problems,
 * never crashes) named name in messages. */
int edl_station_config_parse(struct edl_station_config *cfg, const char *name, const char *text,
                             size_t len, edl_station_config_problem_fn problem, void *data,
                             struct edl_error *err);

/* The line a key was read from (0: not in the file, or set by an option). */
unsigned edl_station_config_line(const struct edl_station_config *cfg, const char *section,
                                 const char *key);

/* Records that the command-line option overrode [section] key. */
void edl_station_config_set_by(struct edl_station_config *cfg, const char *section, const char *key,
                               const char *option);

/* Where a key was set, for a message: "FILE:LINE: [section] key", "--db", or
 * "[section] key" (the default). Returns buf. */
const char *edl_station_config_where(const struct edl_station_config *cfg, const char *section,
                                     const char *key, char *buf, size_t len);

struct edl_package_options;
/* The package options a station config asks for (dir, rawprogram choice,
 * programmer, storage, cache dir): the one place run, --dry-run and config
 * check build them. raw holds the rawprogram pointers (at least
 * EDL_STATION_MAX_LIST); it and cfg must outlive opt. */
void edl_station_package_options(const struct edl_station_config *cfg,
                                 struct edl_package_options *opt, const char **raw);

/* Slot of a port path; NULL when unmapped. */
const struct edl_station_port *edl_station_config_port(const struct edl_station_config *cfg,
                                                       const char *port);

/* What the station's units came to. */
struct edl_station_summary {
	unsigned finished; /* units with a final result (pass or fail) */
	unsigned passed;
	unsigned failed;      /* a failed commit counts here: it was not shown as PASS */
	unsigned interrupted; /* stopped by a signal (not finished) */
	/* Units shown "flashed, NOT RECORDED" whose result was still not committed
	 * when the station exited (kept in <db>.pending for the next start, or lost);
	 * station faults, in failed too. Exit code 4 (edl_cli_station_exit). */
	unsigned not_recorded;
};

/*
 * Runs the station until cfg->count units have finished or a signal stops it.
 * sum (the caller's) is filled when it returns. Returns EDL_OK when the station
 * ran (units may have failed: see sum), else the error that kept it from
 * running (err says which): EDL_E_USAGE, a package error (EDL_E_PKG_*),
 * EDL_E_BUSY (the database is another station's), EDL_E_DB*, EDL_E_USB*.
 * The CLI maps these to exit codes (edl_cli_station_exit()).
 */
int edl_station_run(const struct edl_station_config *cfg, struct edl_station_summary *sum,
                    struct edl_error *err);

#endif
