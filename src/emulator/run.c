/*
 * The emulated line's run loop, behind `edlstation emulate` (the CLI only
 * parses options): it sets the line up in this process, starts COMMAND under
 * libumockdev-preload with UMOCKDEV_DIR pointing at the testbed, ticks the line
 * on a GLib main loop (every 20 ms and whenever a unit wakes it from umockdev's
 * worker thread), plays the timed plug/unplug events, passes
 * SIGINT/SIGTERM/SIGHUP on to COMMAND (and kills it when it outlives its grace
 * period), and tears the line down (writing the dump) once COMMAND has exited. Without COMMAND the
 * line runs until a signal, after printing the environment a host program needs.
 */
#include "edlstation/emulator.h"

#include <errno.h>
#include <glib-unix.h>
#include <glib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "edlstation/clock.h"

/* Exit statuses (cli.h's EDL_EXIT_FAILURE/USAGE, kept numeric: the emulator
 * library does not depend on the CLI). */
#define RUN_FAILURE 1
#define RUN_USAGE 2
#define RUN_CANNOT_EXEC 127

/* The line's regular tick. */
#define RUN_TICK_MS 20

struct run;

struct run_event {
	struct run *r;
	const struct edl_emu_event *ev;
	guint id; /* its timeout source, 0 once fired */
};

struct run {
	struct edl_emu_line *line;
	GMainLoop *loop;
	GPid child;
	bool have_child;
	int status;
	gint wake_pending;
	double grace_s;   /* a signalled COMMAND gets this long, then SIGKILL */
	guint grace_id;   /* the grace timer, 0 = none armed */
	guint soon_id;    /* a tick sooner than the regular one, 0 = none */
	int stop_signal;  /* the first SIGINT/SIGTERM/SIGHUP seen, for the message */
	const char *name; /* COMMAND's argv[0], for the message */
};

int edl_emu_event_parse(struct edl_emu_event *ev, const char *spec, unsigned hub_ports,
                        struct edl_error *err)
{
	const char *c1 = strchr(spec, ':'), *c2;
	char secs[32], probe_spec[64], *end;
	struct edl_emu_fault probe;
	struct edl_error inner;
	size_t n;

	memset(ev, 0, sizeof(*ev));
	if (!c1 || (size_t)(c1 - spec) >= sizeof(secs) || c1 == spec)
		goto bad;
	memcpy(secs, spec, (size_t)(c1 - spec));
	secs[c1 - spec] = '\0';
	errno = 0;
	ev->at = strtod(secs, &end);
	if (errno || *end || !(ev->at >= 0) || ev->at > 1e6)
		goto bad;
	c2 = strchr(c1 + 1, ':');
	if (!c2)
		goto bad;
	n = (size_t)(c2 - c1 - 1);
	if (n == 4 && !strncmp(c1 + 1, "plug", 4))
		ev->plug = true;
	else if (n == 6 && !strncmp(c1 + 1, "unplug", 6))
		ev->plug = false;
	else
		goto bad;
	if (!c2[1] || strlen(c2 + 1) >= sizeof(ev->port))
		goto bad;
	strcpy(ev->port, c2 + 1);
	/* The port's syntax is a fault's. */
	snprintf(probe_spec, sizeof(probe_spec), "%s:silent", ev->port);
	if (edl_emu_fault_parse(&probe, probe_spec, hub_ports, &inner) != EDL_OK)
		goto bad;
	return EDL_OK;
bad:
	return edl_error_set(err, EDL_E_USAGE,
	                     "--at '%s': expected SECS:plug:PORT or SECS:unplug:PORT", spec);
}

static gboolean soon_cb(gpointer data);

/* Ticks the line; when it needs the next tick before the regular one (a
 * timed unplug due in a few ms), a one-shot timer brings it then. */
static void run_tick(struct run *r)
{
	unsigned next;

	g_atomic_int_set(&r->wake_pending, 0);
	if (!r->line)
		return;
	next = edl_emu_line_tick(r->line, edl_clock_ms());
	if (next < RUN_TICK_MS && !r->soon_id)
		r->soon_id = g_timeout_add(next, soon_cb, r);
}

static gboolean tick_cb(gpointer data)
{
	run_tick(data);
	return G_SOURCE_CONTINUE;
}

static gboolean wake_cb(gpointer data)
{
	run_tick(data);
	return G_SOURCE_REMOVE;
}

static gboolean soon_cb(gpointer data)
{
	struct run *r = data;

	r->soon_id = 0;
	run_tick(r);
	return G_SOURCE_REMOVE;
}

/* From umockdev's worker thread: a unit needs a tick now. */
static void wake(void *data)
{
	struct run *r = data;

	if (g_atomic_int_compare_and_exchange(&r->wake_pending, 0, 1))
		g_main_context_invoke(NULL, wake_cb, r);
}

static gboolean event_cb(gpointer data)
{
	struct run_event *re = data;
	const struct edl_emu_event *ev = re->ev;
	struct edl_error err;
	int rc = ev->plug ? edl_emu_line_plug(re->r->line, ev->port, &err)
	                  : edl_emu_line_unplug(re->r->line, ev->port, &err);

	if (rc != EDL_OK)
		fprintf(stderr, "emulate: --at %.3f:%s:%s: %s\n", ev->at,
		        ev->plug ? "plug" : "unplug", ev->port, err.detail);
	re->id = 0;
	return G_SOURCE_REMOVE;
}

static void on_child(GPid pid, gint status, gpointer data)
{
	struct run *r = data;

	(void)pid;
	if (WIFEXITED(status))
		r->status = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		r->status = 128 + WTERMSIG(status);
	else
		r->status = RUN_FAILURE;
	r->have_child = false;
	g_spawn_close_pid(pid);
	g_main_loop_quit(r->loop);
}

/* COMMAND outlived its grace period after a stop signal: it is killed, so that
 * the emulator never waits for ever on a child that ignores signals. */
static gboolean grace_cb(gpointer data)
{
	struct run *r = data;

	r->grace_id = 0;
	if (r->have_child) {
		fprintf(stderr,
		        "edlstation emulate: %s still running %.1f s after SIG%s: killing it "
		        "(SIGKILL; --grace sets the wait)\n",
		        r->name, r->grace_s, sigabbrev_np(r->stop_signal));
		kill(r->child, SIGKILL);
	}
	return G_SOURCE_REMOVE;
}

/*
 * SIGINT/SIGTERM/SIGHUP arrive through a signalfd (blocked in every thread).
 * One sent by a process (kill, timeout) is passed on to COMMAND; one the
 * terminal sent (Ctrl-C: si_code SI_KERNEL) reached COMMAND's process group
 * already, and a second copy would turn a graceful stop into an abort. Either
 * way the first one starts COMMAND's grace period.
 */
static gboolean on_signalfd(gint fd, GIOCondition cond, gpointer data)
{
	struct run *r = data;
	struct signalfd_siginfo si;

	(void)cond;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (!r->have_child) {
			g_main_loop_quit(r->loop);
			continue;
		}
		if (si.ssi_code != SI_KERNEL)
			kill(r->child, (int)si.ssi_signo);
		if (!r->stop_signal) {
			r->stop_signal = (int)si.ssi_signo;
			r->grace_id = g_timeout_add((guint)(r->grace_s * 1000.0), grace_cb, r);
		}
	}
	return G_SOURCE_CONTINUE;
}

/* In COMMAND, before exec: the devices die with this process, so does COMMAND
 * (a test harness that kills the emulator leaves no orphan behind). */
static void child_setup(gpointer data)
{
	pid_t parent = (pid_t)GPOINTER_TO_INT(data);
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	(void)sigprocmask(SIG_UNBLOCK, &set, NULL);
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != parent)
		_exit(RUN_CANNOT_EXEC);
}

/* The child's environment: under the preload, with the caller's TMPDIR. */
static char **child_env(const char *tmpdir)
{
	char **env = g_get_environ();
	const char *pre = g_environ_getenv(env, "LD_PRELOAD");
	const char *asan = g_environ_getenv(env, "ASAN_OPTIONS");
	char *v;

	v = pre && *pre ? g_strdup_printf("libumockdev-preload.so.0:%s", pre)
	                : g_strdup("libumockdev-preload.so.0");
	env = g_environ_setenv(env, "LD_PRELOAD", v, TRUE);
	g_free(v);
	/* An ASan-built COMMAND would refuse a preload ahead of its runtime. */
	v = asan && *asan ? g_strdup_printf("%s:verify_asan_link_order=0", asan)
	                  : g_strdup("verify_asan_link_order=0");
	env = g_environ_setenv(env, "ASAN_OPTIONS", v, TRUE);
	g_free(v);
	if (tmpdir)
		env = g_environ_setenv(env, "TMPDIR", tmpdir, TRUE);
	else
		env = g_environ_unsetenv(env, "TMPDIR");
	return env;
}

int edl_emu_run(const struct edl_emu_run_config *cfg, struct edl_error *err)
{
	struct edl_emu_line_config lc = cfg->line;
	struct run_event *events = g_new0(struct run_event, cfg->n_events + 1);
	struct run r;
	char *orig_tmpdir = NULL, **env = NULL;
	GError *gerr = NULL;
	guint tick_id = 0, sig_id = 0;
	sigset_t sigs, old_sigs;
	int sig_fd, rc;

	memset(&r, 0, sizeof(r));
	r.grace_s = cfg->grace_s;
	r.name = cfg->command && cfg->command[0] ? cfg->command[0] : "COMMAND";
	lc.wake = wake;
	lc.wake_data = &r;

	/* umockdev's sockets live under the testbed in $TMPDIR: their paths must
	 * stay under 108 bytes, so a long TMPDIR is replaced for this process. */
	if (getenv("TMPDIR"))
		orig_tmpdir = g_strdup(getenv("TMPDIR"));
	if (!orig_tmpdir || strlen(orig_tmpdir) > 40)
		setenv("TMPDIR", "/tmp", 1);
	/* The preload sleeps after every emulated ioctl: a fine timer slack keeps
	 * that short here and in COMMAND (it is inherited). */
	(void)prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);

	/* Before any thread exists, so that every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, &old_sigs);
	sig_fd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sig_fd < 0) {
		edl_error_set(err, EDL_E_IO, "signalfd: %s", strerror(errno));
		rc = RUN_FAILURE;
		goto out;
	}

	if (edl_emu_line_new(&r.line, &lc, err) != EDL_OK) {
		rc = err->code == EDL_E_USAGE ? RUN_USAGE : RUN_FAILURE;
		goto out;
	}
	r.loop = g_main_loop_new(NULL, FALSE);
	tick_id = g_timeout_add(RUN_TICK_MS, tick_cb, &r);
	sig_id = g_unix_fd_add(sig_fd, G_IO_IN, on_signalfd, &r);
	for (size_t i = 0; i < cfg->n_events; i++) {
		events[i].r = &r;
		events[i].ev = &cfg->events[i];
		events[i].id =
		        g_timeout_add((guint)(cfg->events[i].at * 1000.0), event_cb, &events[i]);
	}

	if (cfg->command && cfg->command[0]) {
		env = child_env(orig_tmpdir);
		if (!g_spawn_async(NULL, (char **)cfg->command, env,
		                   G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
		                           G_SPAWN_CHILD_INHERITS_STDIN,
		                   child_setup, GINT_TO_POINTER((int)getpid()), &r.child, &gerr)) {
			edl_error_set(err, EDL_E_IO, "cannot run %s: %s", cfg->command[0],
			              gerr->message);
			g_error_free(gerr);
			rc = RUN_CANNOT_EXEC;
			goto out;
		}
		r.have_child = true;
		g_child_watch_add(r.child, on_child, &r);
	} else {
		printf("UMOCKDEV_DIR=%s\nLD_PRELOAD=libumockdev-preload.so.0\n",
		       edl_emu_line_root(r.line));
		fflush(stdout);
	}
	g_main_loop_run(r.loop);
	rc = r.status;
	if (lc.verbose) {
		struct edl_emu_line_stats st;

		edl_emu_line_tick(r.line, edl_clock_ms());
		edl_emu_line_stats(r.line, &st);
		fprintf(stderr,
		        "emulate: %u units plugged, %u left after a reset, %u otherwise, %u "
		        "present; %.1f MB to the devices, %.1f MB from them\n",
		        st.plugged, st.finished, st.failed, st.present, (double)st.bytes_out / 1e6,
		        (double)st.bytes_in / 1e6);
	}
out:
	if (sig_id)
		g_source_remove(sig_id);
	if (tick_id)
		g_source_remove(tick_id);
	if (r.grace_id)
		g_source_remove(r.grace_id);
	if (r.soon_id)
		g_source_remove(r.soon_id);
	for (size_t i = 0; i < cfg->n_events; i++)
		if (events[i].id)
			g_source_remove(events[i].id);
	edl_emu_line_free(r.line);
	r.line = NULL;
	/* Wakes queued by the worker thread meanwhile find no line and do nothing. */
	while (g_main_context_iteration(NULL, FALSE))
		;
	if (r.loop)
		g_main_loop_unref(r.loop);
	g_strfreev(env);
	if (sig_fd >= 0) {
		struct signalfd_siginfo si;

		/* Signals that came too late to matter are dropped, not acted on. */
		while (read(sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			;
		close(sig_fd);
	}
	pthread_sigmask(SIG_SETMASK, &old_sigs, NULL);
	if (orig_tmpdir)
		setenv("TMPDIR", orig_tmpdir, 1);
	else
		unsetenv("TMPDIR");
	g_free(orig_tmpdir);
	g_free(events);
	return rc;
}
