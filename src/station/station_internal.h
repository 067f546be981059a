/*
 * Internals of the station shared by station.c (the loop, hotplug, slots, the
 * per-serial lock, stopping), session.c (one device: USB pump, attempts,
 * recording) and view.c (what the operator sees).
 */
#ifndef EDLSTATION_STATION_INTERNAL_H
#define EDLSTATION_STATION_INTERNAL_H

#include <stdio.h>
#include <uv.h>

#include "edlstation/clock.h"
#include "edlstation/flash.h"
#include "edlstation/package.h"
#include "edlstation/station.h"
#include "edlstation/store.h"
#include "edlstation/unit.h"
#include "edlstation/usb.h"

#define SESSION_IN_BUF (64 * 1024)
#define SESSION_PROGRESS_MS 2000 /* a running run's progress persisted at most this often */

struct station;

/*
 * One attached device: the libusb/libuv plumbing of one unit. The unit core
 * (include/edlstation/unit.h) decides everything; the session carries its
 * actions out (transfers, the timer, the store, the view) and feeds it the
 * completions. Owned by the station's list; freed by station_session_ended()
 * once the timers and the device are closed.
 */
struct session {
	struct station *st;
	struct session *next;
	libusb_device *udev; /* referenced: unref in session_free */
	struct edl_usb_dev *dev;
	struct edl_unit *unit;
	struct edl_unit_env env; /* the station's, with this session as data */
	char port[32];
	char slot_label[32];
	int slot;
	FILE *transcript;
	char transcript_path[1100];
	struct edl_capture *capture; /* issue 16: [station] record (session.c) */
	bool capture_has_run;        /* the capture was named after a run already */
	uv_timer_t timer;            /* the unit's one deadline */
	uv_timer_t defer;            /* completions that must not run inside an action */
	unsigned open_timers;
	bool closing;
	int defer_commit; /* a commit the writer refused: delivered from `defer` */
	bool defer_pending;
	uint8_t *inbuf;

	/* For the view (copied from the unit's actions). */
	char serial[16];
	int attempt;
	char stage[24];
	uint64_t bytes_done, bytes_total;
	/* The progress last persisted (session.c). */
	char progress_stage[24];
	uint64_t progress_at;
};

/* What a slot shows, from the port map's order (view_init makes one per mapped
 * port, empty until a unit comes; unmapped ports are appended as they appear). */
enum slot_state {
	SLOT_IDLE = 0,     /* no unit, or the last one taken away */
	SLOT_RUNNING,      /* a unit is being flashed */
	SLOT_PASS,         /* the last unit passed (committed) */
	SLOT_FAIL,         /* the last unit failed: reason and action kept until the next unit */
	SLOT_OPERATOR,     /* needs the operator now (power-cycle, re-seat, set aside) */
	SLOT_NOT_RECORDED, /* flashed, result not committed yet (store fault) */
};

struct slot_view {
	char port[32];
	char label[32];
	char serial[16];
	char stage[24];
	char result[16];
	uint64_t bytes_done, bytes_total;
	uint64_t start_ms, end_ms;
	bool active;
	enum slot_state state;
	int64_t run_id;
	int error_code;           /* last failure's code (0: none) */
	enum edl_error_class cls; /* its class */
	char reason[256];         /* last failure in words (escaped when drawn) */
	char action[200];         /* what the operator does (edl_error_action) */
	uint64_t result_of_start; /* start_ms of the unit the shown result is of: a slot
	                             whose start_ms differs has its next unit (RUNNING) */
	int attempt;              /* of the unit running or last shown */
	char fail_stage[24];      /* the stage at the unit's "fail" event */
};

/* A failure for the sticky list under the board. */
struct view_failure {
	char label[32];
	char serial[16];
	char stage[24];
	char reason[256];
	char action[200];
	enum edl_error_class cls;
	int error_code;
	int64_t run_id;
	uint64_t at_ms;
};

#define VIEW_FAILURES 64 /* kept for the end summary; the board shows the last few */

/* A unit reset to come back in EDL (returns.c). */
struct station_return {
	char serial[24];
	char port[32];
	char label[32];
	int slot;
	int64_t run_id;        /* the interrupted run */
	uint32_t refused_exec; /* command-mode requests its ROM refused (not asked again) */
	uint64_t deadline;
};

struct station {
	const struct edl_station_config *cfg;
	uv_loop_t *loop;
	struct edl_usb *usb;
	struct edl_store_writer *store;
	struct edl_package *pkg;
	const struct edl_plan *plan;
	struct edl_sahara_image image;
	struct edl_unit_env env; /* what every unit gets; sessions copy it */
	char package_hash[65];
	struct session *sessions;
	unsigned active;
	size_t budget_rr; /* round-robin start of the budget wake-ups */
	bool stopping;
	bool stop_done;
	uv_signal_t sigint, sigterm;
	uv_timer_t grace;
	uv_timer_t view_timer;
	uint64_t start_ms;
	unsigned finished, passed, failed, interrupted, not_recorded;
	/* The line stop (policy.c decides, station.c applies, view.c shows). */
	bool line_stopped;
	bool line_stop_by_store;     /* stopped because results cannot be written */
	char line_reason[256];       /* "3 units in a row failed: wrong package" */
	char line_check[256];        /* what to check before resuming */
	uv_signal_t sigusr1;         /* resume */
	struct edl_line_guard guard; /* when failures alike stop the line (policy.c) */
	uv_timer_t line_timer;       /* while stopped: the resume key, the store's recovery */
	uint64_t line_checked_ms;    /* when the store was last asked while stopped */
	bool line_ready;             /* the view is up: line changes are shown */
	/* Units shown "flashed, NOT RECORDED" whose result is not known committed:
	 * kept by the store (committed once it writes again), or lost. */
	unsigned unrecorded_kept, unrecorded_lost;
	/* Failures for the board's sticky list and the end summary (oldest dropped). */
	struct view_failure failures[VIEW_FAILURES];
	size_t n_failures, failures_total;
	int exit_code;
	struct edl_error err;
	/* View */
	bool tty;                 /* the live board is on (format auto, stdout a terminal) */
	struct view_board *board; /* the ncurses board (view_board.c); NULL: lines */
	bool view_dirty;          /* something changed since the board was drawn */
	bool view_resume;         /* a key was pressed while the line was stopped */
	unsigned first_pass;      /* units that passed on their first attempt (FPY) */
	char view_last_event[256];
	enum edl_station_log_format format;
	struct slot_view slots[EDL_STATION_MAX_PORTS];
	size_t n_slots;
	unsigned lines_drawn;
	/* Units reset to EDL that are expected back (returns.c). */
	struct station_return returns[EDL_STATION_MAX_PORTS];
	size_t n_returns;
	/* What units that came back had refused, by serial: not asked again. */
	struct {
		char serial[24];
		uint32_t mask;
	} refusals[EDL_STATION_MAX_PORTS];
	size_t n_refusals, refusals_next;
	uv_timer_t returns_timer;
	/* Devices waiting for a free session (concurrency limit). */
	libusb_device *waiting[EDL_STATION_MAX_PORTS];
	size_t n_waiting;
	struct station_factory *factory; /* [factory] database's sync (factory_link.c); NULL: off */
};

/* session.c */
int session_new(struct station *st, libusb_device *udev, const struct edl_usb_device_info *info);
void session_on_leave(struct session *s);
void session_budget_freed(struct session *s);
void session_abort(struct session *s);
void session_free(struct session *s);

/* station.c */
void station_session_ended(struct station *st, struct session *s);
/* The unit's FINISHED action: shown, counted, fed to the line guard. */
void station_unit_finished(struct station *st, struct session *s, const struct edl_unit_action *a);
/* Counts a finished unit (and stops at the unit count). */
void station_count_finished(struct station *st, enum edl_store_result r);

/* factory_link.c (issue 14): the factory sync, when [factory] database is set. */
struct edl_factory_sync;
/* Starts the sync worker on the results database (after the store opened). */
int station_factory_start(struct station *st, const char *db_path, struct edl_error *err);
/* A run's result was committed: the worker looks now. */
void station_factory_notify(struct station *st);
/* The worker, for the board and metrics (edl_factory_sync_backlog); NULL: off. */
const struct edl_factory_sync *station_factory_sync(const struct station *st);
/* After the store's last commit: flushes (bounded), stops the worker. */
void station_factory_stop(struct station *st);

/* returns.c */
void returns_init(struct station *st);
void returns_close(struct station *st, uv_close_cb cb);
void returns_expect(struct station *st, const char *serial, const char *port, const char *label,
                    int slot, int64_t run_id, uint32_t refused_exec);
/* What not to ask the returning unit with this serial in command mode (data: the
 * asking session). */
uint32_t returns_skip_exec(const char *usb_serial, void *data);
/* The unit with this serial is back: true when one was expected. */
bool returns_arrived(struct station *st, const char *serial);

/* view.c */
void view_init(struct station *st);
void view_event(struct station *st, struct session *s, const char *event, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
void view_progress(struct station *st, struct session *s);
void view_final(struct station *st);
/* A unit's result is final (station_unit_finished): the slot shows it; a
 * failure (code != 0) joins the sticky list with its class and action. stage
 * and reason may be NULL. */
void view_unit_result(struct station *st, struct session *s, enum edl_store_result r, int code,
                      const char *stage, const char *reason);
/* st->line_stopped / line_reason / line_check changed: redraw, and say it. */
void view_line(struct station *st);
/* A key press on the terminal resumes a stopped line (view.c reads stdin when it
 * is a terminal); returns true when the operator asked to resume since the last
 * call. */
bool view_take_resume(struct station *st);
struct slot_view *view_slot(struct station *st, const char *port, const char *label);
/* A slot whose start_ms moved on has its next unit (RUNNING: the last result
 * goes); a slot left without a result is idle. */
void view_refresh_slot(struct slot_view *v);
/* The station stops (finish_stop): the view's handles are closed with cb. */
void view_close(struct station *st, uv_close_cb cb);

/* view_text.c: event lines, JSON objects and the end summary. */
/* Copies in to out (cap bytes, always terminated) with control characters,
 * DEL, bytes >= 0x80 and backslashes written as \xNN / \\: a string from a
 * device or a package can never move the cursor or fake a line. Returns out. */
char *view_escape(char *out, size_t cap, const char *in);
/* The same with every byte outside printable ASCII escaped (the board). */
char *view_escape_ascii(char *out, size_t cap, const char *in);
/* ISO-8601 UTC wall time with milliseconds, "2026-12-01T13:46:43.123Z". */
void view_wall_time(char *out, size_t cap);
void view_text_event(struct station *st, struct session *s, const char *event, const char *msg);
/* code: the failure's code for "error", "class", "action" (0: none). */
void view_json_event(struct station *st, struct session *s, const char *event, const char *msg,
                     int code);
/* The summary line and every failed unit (slot, serial, stage, reason, action). */
void view_text_summary(struct station *st, FILE *out);
void view_json_summary(struct station *st);

/* view_board.c: the live board (ncurses on the alternate screen). */
/* Opens the board on the terminal; false (nothing changed) when it cannot. */
bool board_open(struct station *st);
void board_draw(struct station *st);
void board_close_handles(struct station *st, uv_close_cb cb);
/* Leaves the alternate screen and frees the board (after the loop has ended). */
void board_end(struct station *st);

#endif
