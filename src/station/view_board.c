/*
 * The live board: what the operator reads from two metres while the line runs.
 * ncurses on the alternate screen (no scrollback leak); view.c redraws it at
 * most 4 times a second and on change. From the top: a title, the line-stop
 * banner when the line is stopped, the slots in the port map's order, the
 * totals, the sticky list of the last failures and the latest event. Each
 * slot carries a wide block per state (idle, RUNNING, PASS, FAIL, OPERATOR,
 * NOT RECORDED; coloured unless NO_COLOR is set), its serial and stage, % and
 * MB/s while running, and on failure the reason and what to do. The layout
 * never uses more lines or columns than the terminal has: two lines per slot
 * when they fit, else one, else a grid of tiles (32 slots on 80x24), else as
 * many tiles as fit and a count of the rest. SIGWINCH redraws at the new size;
 * a key pressed while the line is stopped asks to resume (view_take_resume).
 */
#include "station_internal.h"

#include <curses.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

enum board_pair {
	PAIR_PASS = 1,
	PAIR_FAIL,
	PAIR_OPERATOR,
	PAIR_NOT_RECORDED,
	PAIR_RUNNING,
	PAIR_TITLE,
};

struct view_board {
	struct station *st;
	SCREEN *screen;
	bool color;
	uv_poll_t keys;
	bool keys_on;
	unsigned empty_wakes; /* readable but no key: a hung-up terminal stops the poll */
	uv_signal_t winch;
};

/* ---- drawing primitives -------------------------------------------------------------- */

/* Writes s at (y, x), cut at the right edge (and short of the bottom-right
 * cell, which would scroll some terminals). */
static void put(int y, int x, attr_t attr, const char *s)
{
	if (y < 0 || y >= LINES || x < 0 || x >= COLS)
		return;
	int room = COLS - x - (y == LINES - 1 ? 1 : 0);
	if (room <= 0)
		return;
	attrset(attr);
	mvaddnstr(y, x, s, room);
	attrset(A_NORMAL);
}

static void putf(int y, int x, attr_t attr, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void putf(int y, int x, attr_t attr, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	put(y, x, attr, line);
}

/* A whole-width line in attr (the banner). */
static void put_bar(int y, attr_t attr, const char *s)
{
	char line[1024];
	int w = COLS < (int)sizeof(line) ? COLS : (int)sizeof(line) - 1;

	snprintf(line, sizeof(line), "%-*.*s", w, w, s);
	put(y, 0, attr, line);
}

static attr_t state_attr(const struct view_board *b, enum slot_state s)
{
	if (!b->color) {
		/* NO_COLOR: the words carry it; reverse marks what wants a look. */
		switch (s) {
		case SLOT_FAIL:
		case SLOT_OPERATOR:
		case SLOT_NOT_RECORDED:
			return A_REVERSE | A_BOLD;
		case SLOT_PASS:
			return A_BOLD;
		default:
			return A_NORMAL;
		}
	}
	switch (s) {
	case SLOT_PASS:
		return COLOR_PAIR(PAIR_PASS) | A_BOLD;
	case SLOT_FAIL:
		return COLOR_PAIR(PAIR_FAIL) | A_BOLD;
	case SLOT_OPERATOR:
		return COLOR_PAIR(PAIR_OPERATOR) | A_BOLD;
	case SLOT_NOT_RECORDED:
		return COLOR_PAIR(PAIR_NOT_RECORDED) | A_BOLD;
	case SLOT_RUNNING:
		return COLOR_PAIR(PAIR_RUNNING);
	case SLOT_IDLE:
		break;
	}
	return A_DIM;
}

/* The state's block: 12 columns wide in rows, 6 in tiles. */
static const char *glyph(const struct slot_view *v, double pct, bool wide, char *buf, size_t cap)
{
	switch (v->state) {
	case SLOT_RUNNING:
		if (wide)
			snprintf(buf, cap, " RUN  %3.0f%%  ", pct);
		else
			snprintf(buf, cap, " %3.0f%% ", pct);
		return buf;
	case SLOT_PASS:
		return wide ? "    PASS    " : " PASS ";
	case SLOT_FAIL:
		return wide ? "    FAIL    " : " FAIL ";
	case SLOT_OPERATOR:
		return wide ? "  OPERATOR  " : " OPER ";
	case SLOT_NOT_RECORDED:
		return wide ? "NOT RECORDED" : "NO REC";
	case SLOT_IDLE:
		break;
	}
	return wide ? "    idle    " : " idle ";
}

static bool failed(const struct slot_view *v)
{
	return v->state == SLOT_FAIL || v->state == SLOT_OPERATOR || v->state == SLOT_NOT_RECORDED;
}

struct slot_numbers {
	double pct, mbps, secs;
};

static struct slot_numbers numbers(const struct slot_view *v, uint64_t now)
{
	struct slot_numbers n = {0};
	uint64_t end = v->state == SLOT_RUNNING || v->end_ms == 0 ? now : v->end_ms;

	n.secs = v->start_ms && end > v->start_ms ? (double)(end - v->start_ms) / 1000.0 : 0;
	n.pct = v->bytes_total ? 100.0 * (double)v->bytes_done / (double)v->bytes_total : 0;
	if (n.pct > 100)
		n.pct = 100;
	n.mbps = n.secs > 0 ? (double)v->bytes_done / 1e6 / n.secs : 0;
	return n;
}

/* ---- the parts of the board ---------------------------------------------------------- */

static int label_width(const struct station *st, int cap)
{
	int w = 2;
	for (size_t i = 0; i < st->n_slots; i++) {
		int n = (int)strlen(st->slots[i].label);
		w = n > w ? n : w;
	}
	return w < cap ? w : cap;
}

/* One slot as a row: label, block, serial, stage, then % and MB/s, or the
 * reason (and, when one line is all there is, the action). */
static void draw_row(int y, int lw, const struct view_board *b, const struct slot_view *v,
                     uint64_t now, bool two_lines)
{
	char label[160], serial[80], stage[120], reason[1100], g[32];
	struct slot_numbers n = numbers(v, now);

	view_escape_ascii(label, sizeof(label), v->label);
	view_escape_ascii(serial, sizeof(serial), v->serial[0] ? v->serial : "-");
	view_escape_ascii(stage, sizeof(stage), v->stage[0] ? v->stage : "-");
	view_escape_ascii(reason, sizeof(reason), v->reason);
	putf(y, 0, A_BOLD, "%-*.*s", lw, lw, label);
	put(y, lw + 1, state_attr(b, v->state), glyph(v, n.pct, true, g, sizeof(g)));
	int x = lw + 1 + 12 + 1;
	if (v->state == SLOT_IDLE && v->serial[0] == '\0') {
		putf(y, x, A_DIM, "%s", v->port);
		return;
	}
	putf(y, x, A_NORMAL, "%-8.8s %-11.11s", serial, stage);
	x += 8 + 1 + 11 + 1;
	if (v->state == SLOT_RUNNING) {
		putf(y, x, A_NORMAL, "%5.1f MB/s %5.0fs", n.mbps, n.secs);
		if (two_lines) {
			int w = COLS - (lw + 1) - 8;
			char bar[512];
			if (w > (int)sizeof(bar) - 1)
				w = (int)sizeof(bar) - 1;
			if (w > 0) {
				int full = (int)(n.pct / 100.0 * w);
				memset(bar, '#', (size_t)full);
				memset(bar + full, '.', (size_t)(w - full));
				bar[w] = '\0';
				putf(y + 1, lw + 1, A_NORMAL, "[%s]", bar);
			}
		}
	} else if (failed(v)) {
		if (two_lines) {
			put(y, x, A_BOLD, reason);
			putf(y + 1, lw + 1, A_BOLD, "do: %s", v->action);
		} else {
			/* One line: the action whole, the reason in what is left. */
			int room = COLS - x - (int)strlen(v->action) - 6;
			putf(y, x, A_BOLD, "%-*.*s  do: %s", room > 20 ? room : 20,
			     room > 20 ? room : 20, reason, v->action);
		}
	} else if (v->state == SLOT_PASS) {
		putf(y, x, A_NORMAL, "written and verified in %.0fs", n.secs);
	}
}

/* One slot as a tile of tw columns and th (1 or 2) lines. */
static void draw_tile(int y, int x, int tw, int th, int lw, const struct view_board *b,
                      const struct slot_view *v, uint64_t now)
{
	char label[160], serial[80], stage[120], g[32];
	struct slot_numbers n = numbers(v, now);
	int room = tw - 1; /* a column between tiles */
	char line[256];

	view_escape_ascii(label, sizeof(label), v->label);
	view_escape_ascii(serial, sizeof(serial), v->serial);
	view_escape_ascii(stage, sizeof(stage), v->stage[0] ? v->stage : "-");
	if (room < 1)
		return;
	if (room > (int)sizeof(line) - 1)
		room = (int)sizeof(line) - 1;
	snprintf(line, sizeof(line), "%-*.*s", lw, lw, label);
	line[room < lw ? room : lw] = '\0';
	put(y, x, A_BOLD, line);
	if (lw + 1 < room) {
		snprintf(line, sizeof(line), "%s", glyph(v, n.pct, false, g, sizeof(g)));
		line[room - lw - 1 < 6 ? room - lw - 1 : 6] = '\0';
		put(y, x + lw + 1, state_attr(b, v->state), line);
	}
	int sx = lw + 1 + 6 + 1;
	if (sx < room) {
		snprintf(line, sizeof(line), "%.*s", room - sx, serial);
		put(y, x + sx, A_NORMAL, line);
	}
	if (th < 2)
		return;
	if (v->state == SLOT_RUNNING)
		snprintf(line, sizeof(line), "%-.*s %.1fMB/s", room > 9 ? room - 9 : 1, stage,
		         n.mbps);
	else if (failed(v))
		snprintf(line, sizeof(line), "%s", edl_error_class_name(v->cls));
	else if (v->state == SLOT_PASS)
		snprintf(line, sizeof(line), "ok %.0fs", n.secs);
	else
		snprintf(line, sizeof(line), "%s", v->port);
	line[room] = '\0';
	put(y + 1, x, failed(v) ? A_BOLD : A_DIM, line);
}

static void draw_failures(const struct station *st, int y, int lines)
{
	if (lines <= 0)
		return;
	if (st->failures_total == 0) {
		put(y, 0, A_DIM, "failures: none");
		return;
	}
	putf(y, 0, A_BOLD,
	     "last failures (%zu in all; slot, serial, class, what to do):", st->failures_total);
	size_t shown = 0;
	for (int i = 1; i < lines && shown < st->n_failures; i++, shown++) {
		size_t idx = (st->failures_total - 1 - shown) % VIEW_FAILURES;
		const struct view_failure *f = &st->failures[idx];
		char label[160], serial[80];
		view_escape_ascii(label, sizeof(label), f->label);
		view_escape_ascii(serial, sizeof(serial), f->serial[0] ? f->serial : "-");
		putf(y + i, 0, A_NORMAL, "  %-4s %-8s %-16s %s", label, serial,
		     edl_error_class_name(f->cls), f->action);
	}
}

static void draw_totals(const struct station *st, int y)
{
	unsigned units = st->passed + st->failed;
	double hours = (double)(edl_clock_ms() - st->start_ms) / 3.6e6;
	char fpy[16] = "-";

	if (units > 0)
		snprintf(fpy, sizeof(fpy), "%.1f%%", 100.0 * st->first_pass / units);
	putf(y, 0, A_BOLD, "passed %u  failed %u  FPY %s  good/h %.0f  units/h %.0f  running %u%s",
	     st->passed, st->failed, fpy, hours > 0 ? st->passed / hours : 0,
	     hours > 0 ? st->finished / hours : 0, st->active, st->stopping ? "  (stopping)" : "");
}

/* Station, package (its name and version, else the directory's name), slots. */
static void draw_title(const struct station *st, int y)
{
	char name[160], pkg[600], version[160] = "", dir[1100];
	const char *pname = st->pkg != NULL ? edl_package_name(st->pkg) : "";
	const char *pversion = st->pkg != NULL ? edl_package_version(st->pkg) : "";

	snprintf(dir, sizeof(dir), "%s", st->cfg->package);
	for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/'; n--)
		dir[n - 1] = '\0';
	const char *base = strrchr(dir, '/');
	view_escape_ascii(name, sizeof(name), st->cfg->name);
	view_escape_ascii(pkg, sizeof(pkg), pname && pname[0] ? pname : base ? base + 1 : dir);
	if (pversion && pversion[0])
		view_escape_ascii(version, sizeof(version), pversion);
	put_bar(y, A_REVERSE | A_BOLD, "");
	putf(y, 0, A_REVERSE | A_BOLD, " edlstation %s  package %s%s%s  slots %zu", name, pkg,
	     version[0] ? " " : "", version, st->n_slots);
}

enum layout { LAYOUT_ROWS2, LAYOUT_ROWS1, LAYOUT_TILES2, LAYOUT_TILES1 };

void board_draw(struct station *st)
{
	struct view_board *b = st->board;
	uint64_t now = edl_clock_ms();
	int H = LINES, W = COLS, y = 0;
	char text[1100];

	if (b == NULL)
		return;
	st->view_dirty = false;
	for (size_t i = 0; i < st->n_slots; i++)
		view_refresh_slot(&st->slots[i]);
	erase();
	draw_title(st, y++);
	if (st->line_stopped) {
		attr_t a = b->color ? COLOR_PAIR(PAIR_FAIL) | A_BOLD : A_REVERSE | A_BOLD;
		char words[600];
		snprintf(text, sizeof(text), " LINE STOPPED: %s",
		         view_escape_ascii(words, sizeof(words), st->line_reason));
		put_bar(y++, a, text);
		snprintf(text, sizeof(text), " check: %s",
		         st->line_check[0] ? view_escape_ascii(words, sizeof(words), st->line_check)
		                           : "the failures listed below");
		put_bar(y++, a, text);
		put_bar(y++, a, " press any key or send SIGUSR1 to resume");
	}
	int avail = H - y - 1; /* the totals line */
	int n = (int)st->n_slots;
	int fail_min = st->failures_total ? 2 : 1;
	int lw = label_width(st, 8);
	int tw = W >= 120 ? 24 : 20, cols = W / tw > 0 ? W / tw : 1;
	int tile_rows = (n + cols - 1) / cols;
	enum layout layout;
	int slot_lines;

	if (2 * n + fail_min <= avail) {
		layout = LAYOUT_ROWS2;
		slot_lines = 2 * n;
	} else if (n + fail_min <= avail) {
		layout = LAYOUT_ROWS1;
		slot_lines = n;
	} else if (2 * tile_rows + fail_min <= avail) {
		layout = LAYOUT_TILES2;
		slot_lines = 2 * tile_rows;
	} else {
		layout = LAYOUT_TILES1;
		slot_lines = tile_rows < avail - fail_min ? tile_rows : avail - fail_min;
		if (slot_lines < 1)
			slot_lines = avail > 0 ? avail : 0;
	}
	if (layout == LAYOUT_ROWS2 || layout == LAYOUT_ROWS1) {
		int per = layout == LAYOUT_ROWS2 ? 2 : 1;
		for (int i = 0; i < n; i++)
			draw_row(y + per * i, lw, b, &st->slots[i], now, per == 2);
	} else {
		int th = layout == LAYOUT_TILES2 ? 2 : 1;
		int tlw = lw < tw - 16 ? lw : tw - 16;
		int fit = (slot_lines / th) * cols;
		if (fit < n && fit > 0)
			fit--; /* the last tile says how many are not shown */
		for (int i = 0; i < n && i < fit; i++)
			draw_tile(y + (i / cols) * th, (i % cols) * tw, tw, th, tlw, b,
			          &st->slots[i], now);
		if (fit < n)
			putf(y + (fit / cols) * th, (fit % cols) * tw, A_BOLD, "+%d more", n - fit);
	}
	y += slot_lines;
	draw_totals(st, y++);
	int rest = H - y;
	int fl = st->failures_total ? 1 + (int)(st->n_failures < 8 ? st->n_failures : 8) : 1;
	if (fl > rest - (rest > fl ? 1 : 0))
		fl = rest;
	draw_failures(st, y, fl);
	y += fl;
	if (y < H && st->view_last_event[0]) {
		view_escape_ascii(text, sizeof(text), st->view_last_event);
		put(H - 1, 0, A_DIM, text);
	}
	refresh();
}

/* ---- terminal and keys --------------------------------------------------------------- */

static void on_key(uv_poll_t *h, int status, int events)
{
	struct view_board *b = h->data;
	struct station *st = b->st;
	int ch, keys = 0;
	(void)events;

	if (status < 0) {
		uv_poll_stop(h);
		return;
	}
	while ((ch = getch()) != ERR) {
		keys++;
		if (ch == KEY_RESIZE)
			clearok(curscr, TRUE);
		else if (st->line_stopped)
			st->view_resume = true;
	}
	if (keys == 0 && ++b->empty_wakes > 50)
		uv_poll_stop(h); /* the terminal hung up: stop spinning */
	else if (keys > 0)
		b->empty_wakes = 0;
	if (keys > 0)
		board_draw(st);
}

static void on_winch(uv_signal_t *h, int signum)
{
	struct view_board *b = h->data;
	struct winsize ws;
	(void)signum;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
		resizeterm(ws.ws_row, ws.ws_col);
	/* The terminal moved or cut what was there: repaint it all. */
	clearok(curscr, TRUE);
	board_draw(b->st);
}

bool board_open(struct station *st)
{
	struct view_board *b = calloc(1, sizeof(*b));
	const char *no_color = getenv("NO_COLOR");

	if (b == NULL)
		return false;
	b->st = st;
	/* Our SIGWINCH handler first: ncurses then leaves the signal alone. */
	uv_signal_init(st->loop, &b->winch);
	b->winch.data = b;
	uv_signal_start(&b->winch, on_winch, SIGWINCH);
	b->screen = newterm(NULL, stdout, stdin);
	if (b->screen == NULL) {
		uv_close((uv_handle_t *)&b->winch, NULL);
		uv_run(st->loop, UV_RUN_NOWAIT); /* the close completes; b is then free */
		free(b);
		return false;
	}
	set_term(b->screen);
	const char *cup = tigetstr("cup");
	if (cup == NULL || cup == (const char *)-1) {
		/* A terminal that cannot place the cursor (TERM=dumb): lines. */
		endwin();
		delscreen(b->screen);
		uv_close((uv_handle_t *)&b->winch, NULL);
		uv_run(st->loop, UV_RUN_NOWAIT);
		free(b);
		return false;
	}
	cbreak();
	noecho();
	nonl();
	nodelay(stdscr, TRUE);
	keypad(stdscr, TRUE);
	curs_set(0);
	b->color = (no_color == NULL || no_color[0] == '\0') && has_colors();
	if (b->color) {
		start_color();
		use_default_colors();
		init_pair(PAIR_PASS, COLOR_BLACK, COLOR_GREEN);
		init_pair(PAIR_FAIL, COLOR_WHITE, COLOR_RED);
		init_pair(PAIR_OPERATOR, COLOR_BLACK, COLOR_YELLOW);
		init_pair(PAIR_NOT_RECORDED, COLOR_WHITE, COLOR_MAGENTA);
		init_pair(PAIR_RUNNING, COLOR_BLACK, COLOR_CYAN);
		init_pair(PAIR_TITLE, COLOR_WHITE, COLOR_BLUE);
	}
	if (isatty(STDIN_FILENO) && uv_poll_init(st->loop, &b->keys, STDIN_FILENO) == 0) {
		b->keys_on = true;
		b->keys.data = b;
		uv_poll_start(&b->keys, UV_READABLE, on_key);
	}
	st->board = b;
	return true;
}

void board_close_handles(struct station *st, uv_close_cb cb)
{
	struct view_board *b = st->board;

	uv_signal_stop(&b->winch);
	uv_close((uv_handle_t *)&b->winch, cb);
	if (b->keys_on) {
		uv_poll_stop(&b->keys);
		uv_close((uv_handle_t *)&b->keys, cb);
		b->keys_on = false;
	}
}

void board_end(struct station *st)
{
	struct view_board *b = st->board;

	endwin();
	delscreen(b->screen);
	st->board = NULL;
	free(b);
}
