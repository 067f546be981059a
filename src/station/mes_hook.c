/*
 * The MES hook runner (include/edlstation/mes.h): one command run off the
 * station's loop. uv_spawn starts it in a process group of its own (detached:
 * setsid), with three pipes: the unit's JSON document written to its stdin
 * (then closed), its stdout read up to a bound, its stderr's last line kept
 * for the reason. The loop never waits: the exit, the pipes' EOF and the
 * deadline each arrive as callbacks.
 *
 * States of one run, in order:
 *   RUNNING     spawned; stdin being written; stdout/stderr read.
 *   KILLING     timed out or printed too much: SIGTERM sent to the group,
 *               SIGKILL after the grace (a shell's children die with it, so
 *               no grandchild keeps a pipe open).
 *   ENDED       exited (or killed) and both pipes at EOF, or the deadline
 *               passed after the exit (the pipes are then closed anyway):
 *               the result is told once; the handles close; the last close
 *               frees the run.
 * A cancelled run kills the group at once and tells nothing.
 */
#include "edlstation/mes.h"

#include <errno.h>
#include <glib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "edlstation/clock.h"

#define ERR_KEEP 512 /* stderr bytes kept (the last line is taken from them) */

struct edl_mes_run {
	uv_loop_t *loop;
	uv_process_t proc;
	uv_pipe_t in, out, err;
	uv_timer_t timer;
	uv_write_t wreq;
	unsigned open; /* handles not yet closed */
	char name[32];
	char program[256];
	char *input;
	size_t input_len;
	struct edl_buf outb;
	size_t max_output;
	char errbuf[ERR_KEEP];
	size_t err_len;
	uint32_t timeout_ms, grace_ms;
	uint64_t start_ms;
	bool spawned, exited, out_eof, err_eof, in_closed;
	bool timed_out, overflow, term_sent, kill_sent, told, cancelled;
	int64_t exit_status;
	int term_signal;
	edl_mes_run_fn done;
	void *data;
	char readbuf[16384];
};

/* ---- commands ---------------------------------------------------------------------- */

int edl_mes_split_command(char ***argv, const char *cmd, char *why, size_t len)
{
	GError *gerr = NULL;
	gint argc = 0;
	gchar **v = NULL;

	*argv = NULL;
	if (cmd == NULL || cmd[0] == '\0') {
		snprintf(why, len, "give a command (a program and its arguments)");
		return EDL_E_CONFIG;
	}
	if (!g_shell_parse_argv(cmd, &argc, &v, &gerr)) {
		snprintf(why, len,
		         "cannot split it into words (%s): it is run without a shell — close the "
		         "quotes, or put pipes and redirections in a script",
		         gerr != NULL ? gerr->message : "bad quoting");
		g_clear_error(&gerr);
		return EDL_E_CONFIG;
	}
	*argv = v;
	return EDL_OK;
}

void edl_mes_argv_free(char **argv)
{
	g_strfreev(argv);
}

int edl_mes_check_command(const char *cmd, char *why, size_t len)
{
	char **argv = NULL;
	int rc = edl_mes_split_command(&argv, cmd, why, len);

	edl_mes_argv_free(argv);
	return rc;
}

int edl_mes_check_program(const char *program, char *why, size_t len)
{
	gchar *found;

	if (strchr(program, '/') != NULL) {
		if (access(program, X_OK) == 0)
			return EDL_OK;
		int e = errno;
		snprintf(why, len, "program %s %s", program,
		         e == ENOENT ? "does not exist" : "cannot be executed (chmod +x it?)");
		return e == ENOENT ? EDL_E_NOENT : EDL_E_PERM;
	}
	found = g_find_program_in_path(program);
	if (found != NULL) {
		g_free(found);
		return EDL_OK;
	}
	snprintf(why, len, "program '%s' is not in PATH: give its full path", program);
	return EDL_E_NOENT;
}

/* ---- the run ----------------------------------------------------------------------- */

static void run_free(struct edl_mes_run *r)
{
	edl_buf_free(&r->outb);
	free(r->input);
	free(r);
}

static void on_closed(uv_handle_t *h)
{
	struct edl_mes_run *r = h->data;
	if (--r->open == 0)
		run_free(r);
}

static void close_handle(struct edl_mes_run *r, uv_handle_t *h)
{
	if (h->data == NULL || uv_is_closing(h))
		return;
	uv_close(h, on_closed);
}

static void kill_group(struct edl_mes_run *r, int sig)
{
	if (!r->spawned || r->proc.pid <= 0)
		return;
	/* The group (setsid made the hook its leader): its children go too. */
	if (kill(-r->proc.pid, sig) != 0 && !r->exited)
		kill(r->proc.pid, sig);
}

/* The last non-empty line of what stderr said, cleaned for a message. */
static void err_tail(const struct edl_mes_run *r, char *out, size_t cap)
{
	size_t end = r->err_len, start;

	while (end > 0 && (r->errbuf[end - 1] == '\n' || r->errbuf[end - 1] == '\r' ||
	                   r->errbuf[end - 1] == ' '))
		end--;
	start = end;
	while (start > 0 && r->errbuf[start - 1] != '\n')
		start--;
	if (end - start > 200)
		start = end - 200;
	size_t n = 0;
	for (size_t i = start; i < end && n + 1 < cap; i++) {
		unsigned char c = (unsigned char)r->errbuf[i];
		out[n++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	out[n] = '\0';
}

static void close_all(struct edl_mes_run *r)
{
	uv_timer_stop(&r->timer);
	close_handle(r, (uv_handle_t *)&r->timer);
	close_handle(r, (uv_handle_t *)&r->in);
	close_handle(r, (uv_handle_t *)&r->out);
	close_handle(r, (uv_handle_t *)&r->err);
	if (r->exited || !r->spawned)
		close_handle(r, (uv_handle_t *)&r->proc);
}

static void tell(struct edl_mes_run *r)
{
	struct edl_mes_run_result res;
	char tail[256];

	if (r->told)
		return;
	r->told = true;
	memset(&res, 0, sizeof(res));
	err_tail(r, tail, sizeof(tail));
	res.exit_status = r->exited && r->term_signal == 0 ? (int)r->exit_status : -1;
	res.term_signal = r->term_signal;
	res.timed_out = r->timed_out;
	res.overflow = r->overflow;
	res.err_tail = tail;
	res.duration_ms = edl_clock_ms() - r->start_ms;
	if (edl_buf_append(&r->outb, "", 1) != EDL_OK) {
		res.out = "";
		res.out_len = 0;
	} else {
		res.out = (const char *)edl_buf_head(&r->outb);
		res.out_len = edl_buf_size(&r->outb) - 1;
	}
	res.code = EDL_E_MES_HOOK;
	if (r->timed_out)
		snprintf(res.detail, sizeof(res.detail),
		         "%s hook did not finish within %u ms: killed (SIGTERM to its process "
		         "group, SIGKILL %u ms later)",
		         r->name, r->timeout_ms, r->grace_ms);
	else if (r->overflow)
		snprintf(res.detail, sizeof(res.detail),
		         "%s hook printed more than %zu bytes on stdout: killed — it must print "
		         "one JSON object (send logs to stderr)",
		         r->name, r->max_output);
	else if (r->term_signal != 0)
		snprintf(res.detail, sizeof(res.detail), "%s hook was killed by signal %d (%s)%s%s",
		         r->name, r->term_signal, strsignal(r->term_signal), tail[0] ? ": " : "",
		         tail);
	else if (r->exit_status != 0)
		snprintf(res.detail, sizeof(res.detail), "%s hook exited with status %lld: %s",
		         r->name, (long long)r->exit_status,
		         tail[0] ? tail : "(nothing on stderr)");
	else
		res.code = EDL_OK;
	if (r->done != NULL)
		r->done(&res, r->data);
	close_all(r);
}

static void maybe_end(struct edl_mes_run *r)
{
	if (r->exited && r->out_eof && r->err_eof)
		tell(r);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
	struct edl_mes_run *r = p->data;

	r->exited = true;
	r->exit_status = status;
	r->term_signal = sig;
	close_handle(r, (uv_handle_t *)&r->proc);
	if (r->cancelled)
		return;
	maybe_end(r);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct edl_mes_run *r = h->data;
	(void)suggested;
	*buf = uv_buf_init(r->readbuf, sizeof(r->readbuf));
}

static void on_timer(uv_timer_t *t);

static void start_kill(struct edl_mes_run *r)
{
	if (r->term_sent)
		return;
	r->term_sent = true;
	kill_group(r, SIGTERM);
	uv_timer_start(&r->timer, on_timer, r->grace_ms, 0);
}

static void on_out(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct edl_mes_run *r = s->data;

	if (n > 0 && !r->overflow) {
		size_t room = r->max_output - edl_buf_size(&r->outb);
		if ((size_t)n > room) {
			r->overflow = true;
			start_kill(r);
		} else if (edl_buf_append(&r->outb, buf->base, (size_t)n) != EDL_OK) {
			r->overflow = true; /* no memory for it: as good as too much */
			start_kill(r);
		}
	}
	if (n < 0) {
		uv_read_stop(s);
		r->out_eof = true;
		close_handle(r, (uv_handle_t *)s);
		if (!r->cancelled)
			maybe_end(r);
	}
}

static void on_err(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct edl_mes_run *r = s->data;

	if (n > 0) {
		size_t k = (size_t)n;
		const char *p = buf->base;
		if (k >= ERR_KEEP) {
			p += k - ERR_KEEP;
			k = ERR_KEEP;
			r->err_len = 0;
		} else if (r->err_len + k > ERR_KEEP) {
			size_t drop = r->err_len + k - ERR_KEEP;
			memmove(r->errbuf, r->errbuf + drop, r->err_len - drop);
			r->err_len -= drop;
		}
		memcpy(r->errbuf + r->err_len, p, k);
		r->err_len += k;
	}
	if (n < 0) {
		uv_read_stop(s);
		r->err_eof = true;
		close_handle(r, (uv_handle_t *)s);
		if (!r->cancelled)
			maybe_end(r);
	}
}

/* The deadline: first SIGTERM, then SIGKILL; once killed (or exited) and
 * still not ended after another grace, the pipes are closed regardless (a
 * process that left the group holds them). */
static void on_timer(uv_timer_t *t)
{
	struct edl_mes_run *r = t->data;

	if (r->told || r->cancelled)
		return;
	if (!r->exited && !r->term_sent) {
		r->timed_out = true;
		start_kill(r);
		return;
	}
	if (!r->exited && !r->kill_sent) {
		r->kill_sent = true;
		kill_group(r, SIGKILL);
		uv_timer_start(&r->timer, on_timer, r->grace_ms, 0);
		return;
	}
	if (r->exited) {
		kill_group(r, SIGKILL);
		r->out_eof = r->err_eof = true;
		tell(r);
		return;
	}
	/* Not even SIGKILL ended it (cannot happen to a plain process): wait on. */
	uv_timer_start(&r->timer, on_timer, r->grace_ms, 0);
}

static void on_written(uv_write_t *w, int status)
{
	struct edl_mes_run *r = w->data;
	(void)status; /* a hook that does not read its stdin is its business */
	r->in_closed = true;
	close_handle(r, (uv_handle_t *)&r->in);
}

static void init_handle(struct edl_mes_run *r, uv_handle_t *h)
{
	h->data = r;
	r->open++;
}

int edl_mes_run_start(struct edl_mes_run **out, uv_loop_t *loop,
                      const struct edl_mes_run_options *o, edl_mes_run_fn done, void *data,
                      struct edl_error *err)
{
	static bool sigpipe_ignored;
	uv_process_options_t po;
	uv_stdio_container_t stdio[3];
	struct edl_mes_run *r;
	int rc;

	*out = NULL;
	if (!sigpipe_ignored) {
		/* A hook that exits without reading stdin must not kill the station
		 * with SIGPIPE; the write just fails. (libuv resets it in the child.) */
		signal(SIGPIPE, SIG_IGN);
		sigpipe_ignored = true;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return edl_error_set(err, EDL_E_NOMEM, "%s hook: out of memory", o->name);
	r->loop = loop;
	snprintf(r->name, sizeof(r->name), "%s", o->name ? o->name : "MES");
	snprintf(r->program, sizeof(r->program), "%s", o->argv[0]);
	r->timeout_ms = o->timeout_ms ? o->timeout_ms : 10000;
	r->grace_ms = o->kill_grace_ms ? o->kill_grace_ms : EDL_MES_KILL_GRACE_MS;
	r->max_output = o->max_output ? o->max_output : EDL_MES_OUTPUT_MAX;
	r->done = done;
	r->data = data;
	r->start_ms = edl_clock_ms();
	edl_buf_init(&r->outb);
	r->input = malloc(o->input_len + 1);
	if (r->input == NULL) {
		free(r);
		return edl_error_set(err, EDL_E_NOMEM, "%s hook: out of memory", o->name);
	}
	memcpy(r->input, o->input ? o->input : "", o->input_len);
	r->input_len = o->input_len;

	uv_pipe_init(loop, &r->in, 0);
	init_handle(r, (uv_handle_t *)&r->in);
	uv_pipe_init(loop, &r->out, 0);
	init_handle(r, (uv_handle_t *)&r->out);
	uv_pipe_init(loop, &r->err, 0);
	init_handle(r, (uv_handle_t *)&r->err);
	uv_timer_init(loop, &r->timer);
	init_handle(r, (uv_handle_t *)&r->timer);

	memset(&po, 0, sizeof(po));
	stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
	stdio[0].data.stream = (uv_stream_t *)&r->in;
	stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[1].data.stream = (uv_stream_t *)&r->out;
	stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[2].data.stream = (uv_stream_t *)&r->err;
	po.file = o->argv[0];
	po.args = (char **)o->argv;
	po.stdio = stdio;
	po.stdio_count = 3;
	po.exit_cb = on_exit_cb;
	po.flags = UV_PROCESS_DETACHED; /* setsid: its own process group */
	r->proc.data = r;
	rc = uv_spawn(loop, &r->proc, &po);
	init_handle(r, (uv_handle_t *)&r->proc);
	if (rc != 0) {
		edl_error_set(err, EDL_E_MES_HOOK, "%s hook: cannot run %s: %s", r->name,
		              r->program, uv_strerror(rc));
		r->told = true;
		close_all(r);
		return EDL_E_MES_HOOK;
	}
	r->spawned = true;
	uv_read_start((uv_stream_t *)&r->out, on_alloc, on_out);
	uv_read_start((uv_stream_t *)&r->err, on_alloc, on_err);
	uv_buf_t b = uv_buf_init(r->input, (unsigned)r->input_len);
	r->wreq.data = r;
	if (uv_write(&r->wreq, (uv_stream_t *)&r->in, &b, 1, on_written) != 0)
		close_handle(r, (uv_handle_t *)&r->in);
	uv_timer_start(&r->timer, on_timer, r->timeout_ms, 0);
	*out = r;
	return EDL_OK;
}

void edl_mes_run_cancel(struct edl_mes_run *r)
{
	if (r == NULL || r->cancelled || r->told)
		return;
	r->cancelled = true;
	r->told = true;
	if (!r->exited)
		kill_group(r, SIGKILL);
	/* The process handle closes in on_exit_cb once the kill is reaped. */
	uv_timer_stop(&r->timer);
	close_handle(r, (uv_handle_t *)&r->timer);
	close_handle(r, (uv_handle_t *)&r->in);
	close_handle(r, (uv_handle_t *)&r->out);
	close_handle(r, (uv_handle_t *)&r->err);
}
