/*
 * `edlstation emulate [OPTIONS] -- COMMAND [ARGS...]`: runs COMMAND with an
 * emulated line of EDL devices visible to it (libusb, libudev and raw usbdevfs
 * programs such as lsusb and qdl, unmodified), and exits with COMMAND's status.
 * The devices live in this process (src/emulator: a umockdev testbed); COMMAND
 * runs under libumockdev-preload with UMOCKDEV_DIR pointing at the testbed.
 * SIGINT/SIGTERM/SIGHUP are passed on to COMMAND. Without COMMAND the line runs
 * until a signal, after printing the environment a host program needs.
 */
#include "edlstation/cli.h"
#include "edlstation/clock.h"
#include "edlstation/emulator.h"

#include <errno.h>
#include <getopt.h>
#include <glib-unix.h>
#include <glib.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_FAULTS 64
#define MAX_EVENTS 64
#define MAX_BAD_BLOCKS 256

/* "SECS:plug|unplug:PORT" */
struct emulate_event {
	struct emulate *em;
	guint *id; /* its timeout source, 0 once fired */
	double at;
	bool plug;
	char port[16];
};

struct emulate {
	struct edl_emu_line *line;
	GMainLoop *loop;
	GPid child;
	bool have_child;
	int status;
	gint wake_pending;
	bool verbose;
};

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: edlstation emulate [OPTIONS] [-- COMMAND [ARGS...]]\n"
	        "\n"
	        "Runs COMMAND with emulated EDL devices (05c6:9008) that libusb and usbdevfs\n"
	        "programs see as real ones, and exits with its status. Ports are 1-H.P (hubs\n"
	        "1-1, 1-2, ...). Without COMMAND, prints the environment a host program needs\n"
	        "(UMOCKDEV_DIR, LD_PRELOAD) and runs until interrupted.\n"
	        "\n"
	        "devices:\n"
	        "  --devices N            ports, one unit each at start (default 1, max %d)\n"
	        "  --hub-ports N          ports per hub (default 7)\n"
	        "  --serial HEX           serial of the first unit, +1 for each next (default "
	        "1a2b3c4d)\n"
	        "  --storage emmc|ufs|nand  storage kind (default ufs)\n"
	        "  --sector-size N, --sectors N, --luns N, --pages-per-block N\n"
	        "                         storage geometry (sectors per LUN; NAND: pages)\n"
	        "  --bad-blocks B[,B...]  NAND bad erase blocks of every unit\n"
	        "  --sahara-version 2|3   boot ROM's Sahara version (default 2)\n"
	        "  --max-payload BYTES    programmer's largest raw transfer (default 1M)\n"
	        "  --fault PORT:KIND[=ARG]  fault of the first unit on PORT (repeatable); kinds:\n"
	        "                         %s\n"
	        "  --empty PORT           leave PORT empty at start (repeatable)\n"
	        "  --at SECS:plug:PORT, --at SECS:unplug:PORT\n"
	        "                         plug a fresh unit in / pull the unit out at a time\n"
	        "line:\n"
	        "  --units N              production line: N units pass through the ports\n"
	        "  --swap-delay SECONDS   a port gets its next unit this long after one left "
	        "(0.5)\n"
	        "  --fail-hold SECONDS    a touched unit left idle this long is taken off (5)\n"
	        "  --reboot-delay SECONDS a unit reset to EDL comes back after this (0.2)\n"
	        "rates (MB = 10^6 bytes, 0 = unlimited):\n"
	        "  --rate MBPS            each device's link\n"
	        "  --hub-rate MBPS        shared by the devices of one hub\n"
	        "  --write-rate MBPS      storage speed (a program's final ACK waits for it)\n"
	        "host:\n"
	        "  --usbfs-memory-mb N    transfer memory in flight over all devices, as Linux's\n"
	        "                         usbfs_memory_mb: a submit beyond it fails with ENOMEM\n"
	        "                         (default 16, 0 = no limit)\n"
	        "output:\n"
	        "  --dump DIR             each unit's storage DIR/<serial>/lun<N>.img (sparse) "
	        "and\n"
	        "                         DIR/<serial>/unit.json; serial as 8 lower-case hex "
	        "digits\n"
	        "  -v, --verbose          one line per unit event on stderr, a summary at exit\n"
	        "  --product-suffix TEXT  appended to every unit's iProduct (hostile-descriptor "
	        "tests)\n",
	        EDL_EMU_MAX_PORTS, edl_target_fault_kinds());
}

static int parse_uint(const char *s, uint64_t max, int base, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !(v >= 0) || v > 1e6)
		return -1;
	*out = v;
	return 0;
}

static int parse_size(const char *s, uint64_t *out)
{
	uint64_t mult = 1, v;
	size_t n = strlen(s);
	char buf[32];

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n + 1);
	switch (buf[n - 1]) {
	case 'K':
	case 'k':
		mult = 1024;
		break;
	case 'M':
	case 'm':
		mult = 1024 * 1024;
		break;
	case 'G':
	case 'g':
		mult = 1024ull * 1024 * 1024;
		break;
	}
	if (mult > 1)
		buf[n - 1] = '\0';
	if (parse_uint(buf, UINT64_MAX / mult, 10, &v) < 0)
		return -1;
	*out = v * mult;
	return 0;
}

static int parse_event(struct emulate_event *ev, const char *s, unsigned hub_ports)
{
	const char *c1 = strchr(s, ':'), *c2;
	char secs[32];
	struct edl_emu_fault probe;
	struct edl_error err;

	if (!c1 || (size_t)(c1 - s) >= sizeof(secs))
		return -1;
	memcpy(secs, s, (size_t)(c1 - s));
	secs[c1 - s] = '\0';
	if (parse_seconds(secs, &ev->at) < 0)
		return -1;
	c2 = strchr(c1 + 1, ':');
	if (!c2)
		return -1;
	if ((size_t)(c2 - c1 - 1) == 4 && !strncmp(c1 + 1, "plug", 4))
		ev->plug = true;
	else if ((size_t)(c2 - c1 - 1) == 6 && !strncmp(c1 + 1, "unplug", 6))
		ev->plug = false;
	else
		return -1;
	if (strlen(c2 + 1) >= sizeof(ev->port) || !c2[1])
		return -1;
	strcpy(ev->port, c2 + 1);
	/* Validate the port's syntax the way faults do. */
	char spec[64];

	snprintf(spec, sizeof(spec), "%s:silent", ev->port);
	return edl_emu_fault_parse(&probe, spec, hub_ports, &err) == EDL_OK ? 0 : -1;
}

static int parse_bad_blocks(const char *s, uint32_t *out, size_t *n)
{
	char *copy = g_strdup(s), *save = NULL, *tok;
	int rc = 0;

	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint64_t v;

		if (*n >= MAX_BAD_BLOCKS || parse_uint(tok, UINT32_MAX, 10, &v) < 0) {
			rc = -1;
			break;
		}
		out[(*n)++] = (uint32_t)v;
	}
	g_free(copy);
	return rc;
}

static void run_tick(struct emulate *em)
{
	g_atomic_int_set(&em->wake_pending, 0);
	if (em->line)
		edl_emu_line_tick(em->line, edl_clock_ms());
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

/* From umockdev's worker thread: a unit needs a tick now. */
static void wake(void *data)
{
	struct emulate *em = data;

	if (g_atomic_int_compare_and_exchange(&em->wake_pending, 0, 1))
		g_main_context_invoke(NULL, wake_cb, em);
}

static gboolean event_cb(gpointer data)
{
	struct emulate_event *ev = data;
	struct edl_error err;
	int rc = ev->plug ? edl_emu_line_plug(ev->em->line, ev->port, &err)
	                  : edl_emu_line_unplug(ev->em->line, ev->port, &err);

	if (rc != EDL_OK)
		fprintf(stderr, "emulate: --at %.3f:%s:%s: %s\n", ev->at,
		        ev->plug ? "plug" : "unplug", ev->port, err.detail);
	*ev->id = 0;
	return G_SOURCE_REMOVE;
}

static void on_child(GPid pid, gint status, gpointer data)
{
	struct emulate *em = data;

	(void)pid;
	if (WIFEXITED(status))
		em->status = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		em->status = 128 + WTERMSIG(status);
	else
		em->status = EDL_EXIT_FAILURE;
	em->have_child = false;
	g_spawn_close_pid(pid);
	g_main_loop_quit(em->loop);
}

/*
 * SIGINT/SIGTERM/SIGHUP arrive through a signalfd (blocked in every thread).
 * One sent by a process (kill, timeout) is passed on to COMMAND; one the
 * terminal sent (Ctrl-C: si_code SI_KERNEL) reached COMMAND's process group
 * already, and a second copy would turn a graceful stop into an abort.
 */
static gboolean on_signalfd(gint fd, GIOCondition cond, gpointer data)
{
	struct emulate *em = data;
	struct signalfd_siginfo si;

	(void)cond;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (!em->have_child)
			g_main_loop_quit(em->loop);
		else if (si.ssi_code != SI_KERNEL)
			kill(em->child, (int)si.ssi_signo);
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
		_exit(127);
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

int edl_cli_emulate(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"devices", required_argument, NULL, 'n'},
	        {"hub-ports", required_argument, NULL, 'H'},
	        {"serial", required_argument, NULL, 's'},
	        {"storage", required_argument, NULL, 'S'},
	        {"sector-size", required_argument, NULL, 'z'},
	        {"sectors", required_argument, NULL, 'c'},
	        {"luns", required_argument, NULL, 'l'},
	        {"pages-per-block", required_argument, NULL, 'p'},
	        {"bad-blocks", required_argument, NULL, 'b'},
	        {"sahara-version", required_argument, NULL, 'V'},
	        {"max-payload", required_argument, NULL, 'm'},
	        {"fault", required_argument, NULL, 'f'},
	        {"empty", required_argument, NULL, 'e'},
	        {"at", required_argument, NULL, 'a'},
	        {"units", required_argument, NULL, 'u'},
	        {"swap-delay", required_argument, NULL, 'w'},
	        {"fail-hold", required_argument, NULL, 'F'},
	        {"reboot-delay", required_argument, NULL, 'B'},
	        {"rate", required_argument, NULL, 'r'},
	        {"hub-rate", required_argument, NULL, 'R'},
	        {"write-rate", required_argument, NULL, 'W'},
	        {"usbfs-memory-mb", required_argument, NULL, 'M'},
	        {"dump", required_argument, NULL, 'd'},
	        {"verbose", no_argument, NULL, 'v'},
	        {"product-suffix", required_argument, NULL, 'P'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	struct edl_emu_line_config cfg;
	struct edl_emu_fault faults[MAX_FAULTS];
	struct emulate_event events[MAX_EVENTS];
	const char *event_specs[MAX_EVENTS];
	guint event_ids[MAX_EVENTS];
	const char *empty[EDL_EMU_MAX_PORTS];
	const char *fault_specs[MAX_FAULTS];
	uint32_t bad_blocks[MAX_BAD_BLOCKS];
	size_t n_faults = 0, n_events = 0, n_empty = 0, n_bad = 0;
	struct emulate em;
	struct edl_error err;
	char *orig_tmpdir = NULL, **env = NULL;
	GError *gerr = NULL;
	guint tick_id = 0, sig_id = 0;
	sigset_t sigs, old_sigs;
	int sig_fd = -1;
	bool masked = false;
	uint64_t v;
	double d;
	int opt, li = 0, rc = EDL_EXIT_USAGE;

	memset(&em, 0, sizeof(em));
	memset(event_ids, 0, sizeof(event_ids));
	edl_emu_line_config_default(&cfg);
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+vh", opts, &li)) != -1) {
		switch (opt) {
		case 'n':
			if (parse_uint(optarg, EDL_EMU_MAX_PORTS, 10, &v) < 0 || v < 1)
				goto bad;
			cfg.devices = (unsigned)v;
			break;
		case 'H':
			if (parse_uint(optarg, 15, 10, &v) < 0 || v < 1)
				goto bad;
			cfg.hub_ports = (unsigned)v;
			break;
		case 's':
			if (parse_uint(optarg, UINT32_MAX, 16, &v) < 0)
				goto bad;
			cfg.first_serial = (uint32_t)v;
			break;
		case 'S':
			if (edl_storage_parse(optarg, &cfg.storage) != EDL_OK)
				goto bad;
			break;
		case 'z':
			if (parse_uint(optarg, 65536, 10, &v) < 0 || v < 512)
				goto bad;
			cfg.sector_size = (uint32_t)v;
			break;
		case 'c':
			if (parse_uint(optarg, 1ull << 40, 10, &v) < 0 || v < 1)
				goto bad;
			cfg.sectors = v;
			break;
		case 'l':
			if (parse_uint(optarg, 8, 10, &v) < 0 || v < 1)
				goto bad;
			cfg.luns = (uint32_t)v;
			break;
		case 'p':
			if (parse_uint(optarg, 4096, 10, &v) < 0 || v < 1)
				goto bad;
			cfg.pages_per_block = (uint32_t)v;
			break;
		case 'b':
			if (parse_bad_blocks(optarg, bad_blocks, &n_bad) < 0)
				goto bad;
			break;
		case 'V':
			if (parse_uint(optarg, 3, 10, &v) < 0 || v < 2)
				goto bad;
			cfg.sahara_version = (uint32_t)v;
			break;
		case 'm':
			if (parse_size(optarg, &v) < 0 || v < 512 || v > 64ull * 1024 * 1024)
				goto bad;
			cfg.max_payload = v;
			break;
		case 'f':
			if (n_faults >= MAX_FAULTS)
				goto bad;
			fault_specs[n_faults++] = optarg;
			break;
		case 'e':
			if (n_empty >= EDL_EMU_MAX_PORTS)
				goto bad;
			empty[n_empty++] = optarg;
			break;
		case 'a':
			if (n_events >= MAX_EVENTS)
				goto bad;
			event_specs[n_events++] = optarg; /* parsed once --hub-ports is known */
			break;
		case 'u':
			if (parse_uint(optarg, 1000000, 10, &v) < 0)
				goto bad;
			cfg.units = (unsigned)v;
			break;
		case 'w':
			if (parse_seconds(optarg, &cfg.swap_delay) < 0)
				goto bad;
			break;
		case 'F':
			if (parse_seconds(optarg, &cfg.fail_hold) < 0)
				goto bad;
			break;
		case 'B':
			if (parse_seconds(optarg, &cfg.reboot_delay) < 0)
				goto bad;
			break;
		case 'r':
		case 'R':
		case 'W':
			if (parse_seconds(optarg, &d) < 0)
				goto bad;
			if (opt == 'r')
				cfg.rate_mbps = d;
			else if (opt == 'R')
				cfg.hub_rate_mbps = d;
			else
				cfg.write_rate_mbps = d;
			break;
		case 'M':
			if (parse_uint(optarg, 1u << 20, 10, &v) < 0)
				goto bad;
			cfg.usbfs_memory_mb = (unsigned)v;
			break;
		case 'd':
			cfg.dump_dir = optarg;
			break;
		case 'P':
			if (strlen(optarg) > 80) {
				fprintf(stderr,
				        "emulate: --product-suffix: at most 80 bytes (a string "
				        "descriptor holds 126 characters)\n");
				return 2;
			}
			cfg.product_suffix = optarg;
			break;
		case 'v':
			cfg.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return EDL_EXIT_OK;
		default:
			fprintf(stderr,
			        "edlstation emulate: unknown option or missing value '%s'\n\n",
			        argv[optind - 1]);
			usage(stderr);
			return EDL_EXIT_USAGE;
		}
	}
	for (size_t i = 0; i < n_faults; i++) {
		if (edl_emu_fault_parse(&faults[i], fault_specs[i], cfg.hub_ports, &err) !=
		    EDL_OK) {
			fprintf(stderr, "edlstation emulate: %s\n", err.detail);
			return EDL_EXIT_USAGE;
		}
	}
	for (size_t i = 0; i < n_events; i++) {
		memset(&events[i], 0, sizeof(events[i]));
		if (parse_event(&events[i], event_specs[i], cfg.hub_ports) < 0) {
			fprintf(stderr,
			        "edlstation emulate: --at '%s': expected SECS:plug:PORT or "
			        "SECS:unplug:PORT\n",
			        event_specs[i]);
			return EDL_EXIT_USAGE;
		}
		events[i].em = &em;
		events[i].id = &event_ids[i];
	}
	cfg.faults = faults;
	cfg.n_faults = n_faults;
	cfg.empty_ports = empty;
	cfg.n_empty_ports = n_empty;
	cfg.bad_blocks = bad_blocks;
	cfg.n_bad_blocks = n_bad;
	cfg.wake = wake;
	cfg.wake_data = &em;
	em.verbose = cfg.verbose;

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
	masked = true;
	sig_fd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sig_fd < 0) {
		fprintf(stderr, "edlstation emulate: signalfd: %s\n", strerror(errno));
		rc = EDL_EXIT_FAILURE;
		goto out;
	}

	if (edl_emu_line_new(&em.line, &cfg, &err) != EDL_OK) {
		fprintf(stderr, "edlstation emulate: %s\n", err.detail);
		rc = err.code == EDL_E_USAGE ? EDL_EXIT_USAGE : EDL_EXIT_FAILURE;
		goto out;
	}
	em.loop = g_main_loop_new(NULL, FALSE);
	tick_id = g_timeout_add(20, tick_cb, &em);
	sig_id = g_unix_fd_add(sig_fd, G_IO_IN, on_signalfd, &em);
	for (size_t i = 0; i < n_events; i++)
		event_ids[i] = g_timeout_add((guint)(events[i].at * 1000.0), event_cb, &events[i]);

	if (optind < argc) {
		env = child_env(orig_tmpdir);
		if (!g_spawn_async(NULL, argv + optind, env,
		                   G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
		                           G_SPAWN_CHILD_INHERITS_STDIN,
		                   child_setup, GINT_TO_POINTER((int)getpid()), &em.child, &gerr)) {
			fprintf(stderr, "edlstation emulate: cannot run %s: %s\n", argv[optind],
			        gerr->message);
			g_error_free(gerr);
			rc = 127;
			goto out;
		}
		em.have_child = true;
		g_child_watch_add(em.child, on_child, &em);
	} else {
		printf("UMOCKDEV_DIR=%s\nLD_PRELOAD=libumockdev-preload.so.0\n",
		       edl_emu_line_root(em.line));
		fflush(stdout);
	}
	g_main_loop_run(em.loop);
	rc = em.status;
	if (em.verbose) {
		struct edl_emu_line_stats st;

		edl_emu_line_tick(em.line, edl_clock_ms());
		edl_emu_line_stats(em.line, &st);
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
	for (size_t i = 0; i < n_events; i++)
		if (event_ids[i])
			g_source_remove(event_ids[i]);
	edl_emu_line_free(em.line);
	em.line = NULL;
	/* Wakes queued by the worker thread meanwhile find no line and do nothing. */
	while (g_main_context_iteration(NULL, FALSE))
		;
	if (em.loop)
		g_main_loop_unref(em.loop);
	g_strfreev(env);
	if (sig_fd >= 0) {
		struct signalfd_siginfo si;

		/* Signals that came too late to matter are dropped, not acted on. */
		while (read(sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			;
		close(sig_fd);
	}
	if (masked)
		pthread_sigmask(SIG_SETMASK, &old_sigs, NULL);
	if (orig_tmpdir)
		setenv("TMPDIR", orig_tmpdir, 1);
	g_free(orig_tmpdir);
	return rc;
bad:
	fprintf(stderr, "edlstation emulate: bad value '%s' for --%s\n\n", optarg, opts[li].name);
	usage(stderr);
	return EDL_EXIT_USAGE;
}
