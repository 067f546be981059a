#!/usr/bin/python3
"""End-to-end test of the web board, report and unit pages in Debian's chromium.

Drives the real station on an emulated line: 4 ports (port map A1, <b>A2</b>,
A3, A4: a label that is markup must read as text), units plugged a few seconds
after the start, a NAK on program on A3. The board must show every slot in
the port map's order, RUN while flashing, then PASS and FAIL within 1 s of the
station's event (MutationObserver timestamps in the page against the SSE
event's receipt, and against the event's own time in the station's log), the
failure's reason and action on the failed tile, the totals and the failures
list; the report page a Pareto bar per entry and a bar per slot, its filters
in the URL; the unit page the unit's runs. Then the station is killed: the
"connection lost" banner shows; a new station on the same port: the page
reconnects by itself and follows the new unit to PASS. Screenshots go to the
artefact directory. Exit 0 pass, 1 fail, 77 skip (no chromium/selenium).

usage: web_board.py EDLSTATION WORKDIR WEB_DIR ARTIFACT_DIR [line|slots32]
(slots32: 32 slots on one screen, every tile whole and legible.)
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
except ImportError:
    print("SKIP: python3-selenium is not installed (apt-get install python3-selenium)")
    sys.exit(77)

EDL, W, WEB, ART = sys.argv[1:5]
MODE = sys.argv[5] if len(sys.argv) > 5 else "line"
os.makedirs(ART, exist_ok=True)
FAILS = []
PORTS = [("1-1.1", "A1"), ("1-1.2", "<b>A2</b>"), ("1-1.3", "A3"), ("1-1.4", "A4")]
if MODE == "slots32":  # 4 hubs of 8: A1-A8 on 1-1, ... D1-D8 on 1-4
    PORTS = [(f"1-{h}.{p}", f"{'ABCD'[h - 1]}{p}") for h in range(1, 5) for p in range(1, 9)]
FAILED_PORT = "1-1.3"


def check(what, ok, detail=""):
    if ok:
        print(f"ok: {what}")
    else:
        print(f"FAIL: {what}{': ' + str(detail) if detail != '' else ''}")
        FAILS.append(what)
    return ok


def wait_for(what, cond, seconds, step=0.05):
    """Polls cond() until it gives a true value (returned) or the deadline passes."""
    end = time.monotonic() + seconds
    last = None
    while time.monotonic() < end:
        try:
            last = cond()
        except Exception as e:  # a page between loads: try again
            last = None
            err = e
        if last:
            print(f"ok: {what}")
            return last
        time.sleep(step)
    check(f"{what} (within {seconds} s)", False, "timed out")
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORT = free_port()
TOKEN = "web-board-test-token"
BASE = f"http://127.0.0.1:{PORT}"
PKG = os.path.join(W, "pkg")
DB = os.path.join(W, "results.db")
INI = os.path.join(W, "station.ini")
with open(INI, "w") as f:
    f.write("[station]\nname = web-test\n[ports]\n")
    for port, label in PORTS:
        f.write(f"{port} = {label}\n")
    f.write(f"[web]\nlisten = 127.0.0.1:{PORT}\nstatic_dir = {WEB}\ntoken = {TOKEN}\n")
    f.write("[line]\nstop_after = 0\nstop_slots = 0\n")

subprocess.run([EDL, "mkpackage", PKG, "--storage", "nand", "--size", "8"], check=True,
               stdout=subprocess.DEVNULL)

stations = []


def start_station(tag, emulate_args):
    """emulate ... -- run: the station's pid is written by a shell that execs it."""
    pidfile = os.path.join(W, f"{tag}.pid")
    log = open(os.path.join(W, f"{tag}.log"), "w")
    cmd = [EDL, "emulate", "--storage", "nand", "--write-rate", "3", *emulate_args, "--",
           "sh", "-c", 'echo $$ >"$0"; exec "$@"', pidfile,
           EDL, "run", "--config", INI, "--package", PKG, "--db", DB, "--cache-dir",
           os.path.join(W, "cache"), "--log-format", "json", "--reset-delay", "0",
           "--retries", "0"]
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    stations.append(p)
    pid = wait_for(f"{tag}: the station started", lambda: os.path.exists(pidfile) and
                   open(pidfile).read().strip(), 10)
    return p, int(pid) if pid else None, log.name


def api_up():
    try:
        with urllib.request.urlopen(BASE + "/api/v1/state", timeout=1) as r:
            return r.status == 200
    except Exception:
        return False


def control(what):
    req = urllib.request.Request(BASE + "/api/v1/line/" + what, method="POST", data=b"",
                                 headers={"Authorization": "Bearer " + TOKEN})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.status


def station_events(path):
    out = []
    for line in open(path, errors="replace"):
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def iso_ms(iso):
    from datetime import datetime
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000


def cli_json(*args):
    r = subprocess.run([EDL, *args, "--db", DB, "--format", "json"], capture_output=True, text=True)
    return json.loads(r.stdout) if r.returncode == 0 else None


# The browser first (it takes longest), then the station.
opts = webdriver.ChromeOptions()
for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
          "--window-size=1920,1080", "--user-data-dir=" + os.path.join(W, "chrome")]:
    opts.add_argument(a)
opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
try:
    drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
except Exception as e:
    print(f"FAIL: chromium did not start: {e}")
    sys.exit(1)
# Exactly 1920x1080 of page (the window's frame is not the page).
drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                    {"width": 1920, "height": 1080, "deviceScaleFactor": 1, "mobile": False})


def shot(name):
    drv.save_screenshot(os.path.join(ART, name))


def js(script, *args):
    return drv.execute_script(script, *args)


def loaded():
    return js("return document.body && document.body.dataset.loaded") == "yes"


OBSERVE = """
window.__t = [];
const box = document.getElementById('tiles');
new MutationObserver((list) => {
  const t = performance.now(), wall = Date.now();
  for (const m of list) {
    if (m.type !== 'attributes' || m.attributeName !== 'data-state') continue;
    const v = m.target.getAttribute('data-state');
    if (v !== m.oldValue)
      window.__t.push({port: m.target.dataset.port, state: v, old: m.oldValue,
                       serial: m.target.dataset.serial, t, wall});
  }
}).observe(box, {attributes: true, attributeOldValue: true, subtree: true,
                 attributeFilter: ['data-state']});
return true;
"""

TILES = """
return Array.from(document.querySelectorAll('#tiles .tile')).map((n) => ({
  port: n.dataset.port, state: n.dataset.state, serial: n.dataset.serial,
  label: n.querySelector('.label').textContent, word: n.querySelector('.word').textContent,
  reason: n.querySelector('.reason').textContent, action: n.querySelector('.action').textContent,
  markup: n.querySelectorAll('.label *').length}));
"""

# Whether the board fits the screen: page size, the smallest state word, words
# spilling out of their tile, tiles off the screen.
FIT = """
  const d = document.documentElement, words = [...document.querySelectorAll('#tiles .word')];
  const tiles = [...document.querySelectorAll('#tiles .tile')];
  return {w: d.scrollWidth, h: d.scrollHeight,
          px: Math.min(...words.map((n) => parseFloat(getComputedStyle(n).fontSize))),
          spill: words.filter((n) => n.getBoundingClientRect().right >
                                      n.closest('.tile').getBoundingClientRect().right).length,
          offscreen: tiles.filter((n) => n.getBoundingClientRect().bottom > innerHeight ||
                                         n.getBoundingClientRect().right > innerWidth).length};
"""


def line_test():
    # ---- phase 1: units plugged after the page is up ------------------------------------
    plug = []
    for port, _ in PORTS:
        plug += ["--empty", port]
    for i, (port, _) in enumerate(PORTS):
        plug += ["--at", f"{5 + 0.2 * i}:plug:{port}"]
    emu, pid, log1 = start_station("first", ["--devices", "4", "--fault", f"{FAILED_PORT}:nak=program",
                                             *plug])
    wait_for("the station serves the API", api_up, 10)
    drv.get(BASE + "/")
    wait_for("the board loads", loaded, 10)
    js(OBSERVE)
    tiles = js(TILES)
    check("a tile per slot, in the port map's order",
          [t["port"] for t in tiles] == [p for p, _ in PORTS], tiles)
    check("a slot label that is markup reads as text",
          tiles[1]["label"] == "<b>A2</b>" and tiles[1]["markup"] == 0, tiles[1])
    check("every slot idle before its unit comes", all(t["state"] == "idle" for t in tiles), tiles)
    check("the connection banner is hidden while connected",
          js("return document.getElementById('offline').hidden"))
    shot("board-idle.png")

    running = wait_for("a tile shows RUN with its %",
                       lambda: [t for t in js(TILES) if t["state"] == "running" and
                                t["word"].startswith("RUN ") and t["word"].endswith("%")], 15)
    first = running[0]

    def pct_of(word):
        return int(word[4:-1]) if word[4:-1].isdigit() else -1

    def risen():
        t = next((x for x in js(TILES) if x["port"] == first["port"]), {})
        return t.get("state") == "running" and pct_of(t["word"]) > pct_of(first["word"]) and t

    # Progress is live too: the same unit's % goes up while it runs (slot events).
    wait_for(f"{first['port']}: the running tile's % rises", risen, 5)
    shot("board-running.png")
    done = wait_for("every tile shows PASS or FAIL",
                    lambda: (lambda ts: ts if all(t["state"] in ("pass", "fail") for t in ts)
                             else None)(js(TILES)), 30)
    wait_for("the totals follow (4 finished)",
             lambda: js("return document.getElementById('t-finished').textContent") == "4", 5)
    shot("board-results.png")
    # Readable from 3 m on 1080p: nothing scrolls or spills, the state words are
    # big (at least 48 px with 4 slots) and whole inside their tiles.
    fit = js(FIT)
    check("the board fits 1920x1080 without scrolling", fit["w"] <= 1920 and fit["h"] <= 1080, fit)
    check("the state words are at least 48 px and inside their tiles",
          fit["px"] >= 48 and fit["spill"] == 0, fit)
    tiles = js(TILES)
    by_port = {t["port"]: t for t in tiles}
    check("the NAK unit's tile says FAIL", by_port[FAILED_PORT]["word"] == "FAIL", by_port[FAILED_PORT])
    check("the other tiles say PASS", all(by_port[p]["word"] == "PASS" for p, _ in PORTS
                                          if p != FAILED_PORT), tiles)

    # The failed tile's reason and action are the run's, as recorded.
    failed_serial = by_port[FAILED_PORT]["serial"]
    hist = cli_json("history", failed_serial)
    run = hist["runs"][-1] if hist and hist.get("runs") else {}
    check("the failed unit's run is recorded as failed", run.get("result") == "fail", run)
    check("the failed tile gives the reason",
          run.get("message") and run["message"][:40] in by_port[FAILED_PORT]["reason"],
          (by_port[FAILED_PORT]["reason"], run.get("message")))
    check("the failed tile says what to do", run.get("action") and
          by_port[FAILED_PORT]["action"] == "do: " + run["action"],
          (by_port[FAILED_PORT]["action"], run.get("action")))
    totals = js("return ['t-passed','t-failed'].map((i) => document.getElementById(i).textContent)")
    check("totals: 3 passed, 1 failed", totals == ["3", "1"], totals)
    flist = js("return Array.from(document.querySelectorAll('#failures .f-serial')).map((n) => n.textContent)")
    check("the last failures list the failed unit", failed_serial in flist, flist)

    # Within 1 s of the station's event: each PASS/FAIL transition against the
    # first event announcing it (a slot event with that state, else the
    # station's own pass / action line), as received by the page, and against
    # the event's time in the station's log.
    trans = js("return window.__t")
    recv = js("return window.edlLive.received.map((r) => ({t: r.t, wall: r.wall, type: r.type, data: r.data}))")
    log_events = station_events(log1)
    delays, log_delays = [], []
    for port, _ in PORTS:
        tr = next((x for x in trans if x["port"] == port and x["state"] in ("pass", "fail")), None)
        if not check(f"{port}: the observer saw the tile turn to its result", tr is not None, trans):
            continue
        want = tr["state"]

        def announces(d):
            # A tile in that state (slot and station events carry it), or the
            # station's own line: "pass" once committed, "action" for a failure.
            if not isinstance(d, dict):
                return False
            tile = d.get("tile") if isinstance(d.get("tile"), dict) else {}
            if tile.get("port") == port and tile.get("state") == want:
                return True
            return d.get("port") == port and d.get("event") == ("pass" if want == "pass" else "action")

        ev = next((r for r in recv if announces(r["data"])), None)
        if check(f"{port}: the page received the event announcing {want.upper()}", ev is not None,
                 [r["data"] for r in recv if isinstance(r["data"], dict) and
                  (r["data"].get("port") == port)][-5:]):
            d = tr["t"] - ev["t"]
            delays.append(d)
            check(f"{port}: {want.upper()} shown {d:.0f} ms after the event's receipt (< 1000)", d < 1000)
        le = next((e for e in log_events if e.get("port") == port and
                   e.get("event") == ("pass" if want == "pass" else "action")), None)
        if check(f"{port}: the station logged the {want} event", le is not None):
            d = tr["wall"] - iso_ms(le["time"])
            log_delays.append(d)
            check(f"{port}: {want.upper()} shown {d:.0f} ms after the station's event time (< 1000)",
                  d < 1000)
    if delays:
        print(f"figure: board update delay after the event's receipt: max {max(delays):.0f} ms, "
              f"after the station's event time: max {max(log_delays or [0]):.0f} ms")

    # The line paused through the API: the board's banner says so, and goes on resume.
    check("the API pauses the line", control("pause") == 200)
    wait_for("the line-stop banner shows", lambda: not js("return document.getElementById('line-stop').hidden"), 5)
    text = js("return document.getElementById('line-reason').textContent")
    check("the banner gives the reason", text.startswith("LINE STOPPED: ") and "paused by API" in text, text)
    shot("board-line-stopped.png")
    check("the API resumes the line", control("resume") == 200)
    wait_for("the line-stop banner goes", lambda: js("return document.getElementById('line-stop').hidden"), 5)

    # ---- the report page ------------------------------------------------------------------
    rep = cli_json("report")
    drv.get(BASE + "/report")
    wait_for("the report page loads", loaded, 15)
    shot("report.png")
    api_rep = js("return window.edlReport")
    n_pareto = len(rep["failure_pareto"]) if rep else -1
    bars = js("return document.querySelectorAll('#pareto svg rect.pareto-bar').length")
    check("the report's Pareto has entries", n_pareto >= 1, rep)
    check(f"a Pareto bar per entry ({n_pareto})", bars == n_pareto and
          len(api_rep["failure_pareto"]) == n_pareto, (bars, n_pareto))
    dots = js("return document.querySelectorAll('#pareto svg .line-dots circle').length")
    check("the cumulative line has a point per entry", dots == n_pareto, dots)
    slot_bars = js("return document.querySelectorAll('#slots svg rect.slot-bar').length")
    check("a failure-rate bar per slot", rep and slot_bars == len(rep["by_slot"]) >= 4,
          (slot_bars, rep and len(rep["by_slot"])))
    width = js("return document.documentElement.scrollWidth")
    check("the report fits 1920 px wide (long messages wrap)", width <= 1920, width)
    failed_links = js("return Array.from(document.querySelectorAll('#failed a')).map((a) => a.textContent)")
    check("the failed units table links the failed unit", failed_serial in failed_links, failed_links)
    drv.get(BASE + "/report?slot=A3")
    wait_for("the filtered report loads", loaded, 15)
    got = js("return [document.querySelector('#filters [name=slot]').value, window.edlReport.units]")
    check("the slot filter from the URL: the form shows it, 1 unit", got == ["A3", 1], got)

    drv.get(BASE + "/report?since=not-a-time")
    wait_for("a report with a bad filter ends", lambda: js("return document.body.dataset.loaded") == "error", 10)
    text = js("return document.getElementById('error').hidden ? '' : document.getElementById('error-text').textContent")
    check("a bad filter is named on the page (400)", "/api/v1/report" in text and "400" in text, text)

    # ---- the unit page -------------------------------------------------------------------------
    drv.get(BASE + "/unit/" + failed_serial.upper())
    wait_for("the unit page loads", loaded, 15)
    shot("unit.png")
    ids = js("return Array.from(document.querySelectorAll('#runs .run')).map((n) => n.dataset.runId)")
    want_ids = [str(r["id"]) for r in hist["runs"]] if hist else []
    check("the unit page lists the unit's runs", ids == want_ids and len(ids) >= 1, (ids, want_ids))
    check("the failed run shows its device log",
          js("return document.querySelectorAll('#runs pre.log').length") >= 1)

    drv.get(BASE + "/unit/fedcba98")
    wait_for("an unknown unit's page ends", lambda: js("return document.body.dataset.loaded") == "error", 10)
    text = js("return document.getElementById('error-text').textContent")
    check("an unknown unit is named on the page (404)", "404" in text, text)

    # ---- kill the station: banner; a new one: the page reconnects --------------------------------
    drv.get(BASE + "/")
    wait_for("the board loads again", loaded, 10)
    opens = js("return window.edlLive.opens")
    os.kill(pid, signal.SIGKILL)
    emu.wait(timeout=20)
    wait_for("the connection lost banner shows",
             lambda: not js("return document.getElementById('offline').hidden"), 10)
    text = js("return document.getElementById('offline').textContent")
    check("the banner says the connection is lost", "CONNECTION LOST" in text, text)
    shot("board-offline.png")
    emu2, pid2, log2 = start_station("second", ["--devices", "1", "--serial", "2b000001", "--empty", "1-1.1",
                                                 "--at", "1:plug:1-1.1"])
    wait_for("the page reconnects by itself (banner gone)",
             lambda: js("return document.getElementById('offline').hidden") and
             js("return window.edlLive.opens") > opens, 20)
    wait_for("after the reconnect, the new unit shows PASS on A1",
             lambda: any(t["port"] == "1-1.1" and t["serial"] == "2b000001" and t["state"] == "pass"
                         for t in js(TILES)), 20)
    wait_for("after the reconnect, the totals are the new station's (1 passed)",
             lambda: js("return document.getElementById('t-passed').textContent") == "1", 10)
    shot("board-reconnected.png")
    # Script errors only: the 4xx asked for above and the refused connections
    # while the station was down are the network's, and expected.
    errors = [l for l in drv.get_log("browser") if l.get("level") == "SEVERE" and
              l.get("source") != "network" and "ERR_CONNECTION_REFUSED" not in l.get("message", "")]
    check("no script errors in the pages", not errors, errors)

    # SIGINT with the board still connected: the station ends by itself, with its summary.
    emu2.send_signal(signal.SIGINT)
    try:
        rc = emu2.wait(timeout=20)
    except subprocess.TimeoutExpired:
        rc = None
    check("SIGINT with a board connected: the station exits 0", rc == 0, rc)
    check("and prints its summary", any(e.get("event") == "summary" for e in station_events(log2)))


def slots32_test():
    """32 slots on one screen: every tile whole, words inside, still legible."""
    emu, pid, log = start_station("slots32", ["--devices", "32", "--hub-ports", "8"])
    wait_for("the station serves the API", api_up, 10)
    drv.get(BASE + "/")
    wait_for("the board loads", loaded, 10)
    wait_for("all 32 tiles show PASS", lambda: (lambda ts: len(ts) == 32 and
                                                all(t["word"] == "PASS" for t in ts))(js(TILES)), 60)
    tiles = js(TILES)
    check("32 tiles in the port map's order", [t["port"] for t in tiles] == [p for p, _ in PORTS],
          [t["port"] for t in tiles])
    fit = js(FIT)
    check("32 slots fit 1920x1080 without scrolling", fit["w"] <= 1920 and fit["h"] <= 1080, fit)
    check("every tile is on the screen", fit["offscreen"] == 0, fit)
    check("state words at least 20 px and inside their tiles", fit["px"] >= 20 and fit["spill"] == 0,
          fit)
    shot("board-32.png")
    emu.send_signal(signal.SIGINT)
    check("the station exits 0", emu.wait(timeout=20) == 0)


try:
    slots32_test() if MODE == "slots32" else line_test()
finally:
    try:
        drv.quit()
    except Exception:
        pass
    for p in stations:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
print(f"screenshots: {ART}")
sys.exit(1 if FAILS else 0)
