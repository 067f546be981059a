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
#include "edlstation/usb.h"

#define SESSION_IN_BUF (64 * 1024)
#define SESSION_LOG_KEEP 64 /* device log lines kept for a failed run's record */

struct station;

enum session_phase {
	SESSION_OPENING,    /* reading iProduct */
	SESSION_RUNNING,    /* an attempt's job runs */
	SESSION_RETRY_WAIT, /* between attempts */
	SESSION_RECORDING,  /* the final result is being committed */
	SESSION_CLOSING,    /* transfers being cancelled, handle closing */
};

struct session {
	struct station *st;
	struct session *next;
	libusb_device *udev;
	struct edl_usb_dev *dev;
	enum session_phase phase;
	char port[32];
	char slot_label[32];
	int slot;
	char usb_serial[16];             /* from iProduct _SN:, lower-case hex; "" when absent */
	char usb_descriptor_serial[128]; /* the _SN: token as the descriptor has it */
	char serial[16];                 /* chip serial (Sahara) or usb_serial; "" until known */
	bool identity_checked;
	struct edl_log log;
	FILE *transcript;
	char transcript_path[1100];

	struct edl_flash_job *job;
	int attempt;
	int64_t run_id;
	int64_t prev_run_id;
	uint64_t attempt_start_ms;
	int64_t attempt_start_wall;
	enum edl_flash_stage last_stage;
	uv_timer_t timer; /* job deadlines and the retry pause */
	bool timer_open;

	uint8_t *inbuf;
	bool in_pending;
	unsigned out_inflight;
	uint64_t out_bytes; /* bytes of the OUT transfers in flight */
	size_t out_len[16]; /* their lengths, in submission order (they complete in order) */
	unsigned out_head, out_tail;
	struct edl_chunk pending; /* pulled from the job, refused by the budget */
	bool have_pending;
	bool gone;                /* unplugged */
	bool aborted;             /* stopped by the station (grace over) */
	struct edl_error usb_err; /* a transfer the USB stack refused */

	char *device_logs[SESSION_LOG_KEEP];
	size_t n_device_logs, device_log_head;

	/* Per plan step of the current attempt: when it ended (0 = not yet). */
	uint64_t *step_end_ms;
	size_t step_seen; /* steps known finished */
	uint64_t plan_start_ms;

	/* For the view. */
	uint64_t bytes_done, bytes_total;
	char result[16];
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
};

struct station {
	const struct edl_station_config *cfg;
	uv_loop_t *loop;
	struct edl_usb *usb;
	struct edl_store_writer *store;
	struct edl_package *pkg;
	const struct edl_plan *plan;
	struct edl_sahara_image image;
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
	unsigned finished, passed, failed, interrupted;
	int exit_code;
	struct edl_error err;
	/* View */
	bool tty;
	enum edl_station_log_format format;
	struct slot_view slots[EDL_STATION_MAX_PORTS];
	size_t n_slots;
	unsigned lines_drawn;
	/* Devices waiting for a free session (concurrency limit). */
	libusb_device *waiting[EDL_STATION_MAX_PORTS];
	size_t n_waiting;
};

/* session.c */
int session_new(struct station *st, libusb_device *udev, const struct edl_usb_device_info *info);
void session_on_leave(struct session *s);
void session_pump(struct session *s);
void session_abort(struct session *s);
void session_free(struct session *s);

/* station.c */
void station_session_ended(struct station *st, struct session *s);
void station_unit_finished(struct station *st, struct session *s, enum edl_store_result r);
struct session *station_serial_owner(struct station *st, const char *serial, struct session *self);

/* view.c */
void view_init(struct station *st);
void view_event(struct station *st, struct session *s, const char *event, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
void view_progress(struct station *st, struct session *s);
void view_final(struct station *st);
struct slot_view *view_slot(struct station *st, const char *port, const char *label);

#endif
