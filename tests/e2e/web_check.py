#!/usr/bin/python3
"""Drives the station's web API during an emulated line (tests/e2e/web_api.sh).

Every answer is checked against the documented keys (web_api_schema.json,
which the README's web section must name key by key); the event stream is
read, cut, and resumed with Last-Event-ID (every seq exactly once); control
is tried without, with a wrong and with the right token; pause must stop new
units and resume take them; abort must fail that slot's unit with the reason
in the database; bad requests must get 4xx JSON while the line flashes on;
/metrics is parsed by prometheus_client and compared with the database.
Prints "ok: ..." / "FAIL: ..." lines; exits 1 on any failure.
"""
import argparse
import http.client
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

from prometheus_client.parser import text_string_to_metric_families

FAILS = []


def check(what, cond, detail=""):
    if cond:
        print("ok: " + what)
    else:
        print("FAIL: " + what + (" (" + str(detail) + ")" if detail != "" else ""))
        FAILS.append(what)
    return cond


class Api:
    def __init__(self, host, port, token):
        self.host, self.port, self.token = host, port, token

    def call(self, method, path, body=None, headers=None, timeout=10):
        c = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, r.getheader("content-type", ""), data
        finally:
            c.close()

    def json(self, method, path, **kw):
        status, ctype, data = self.call(method, path, **kw)
        try:
            return status, json.loads(data)
        except ValueError:
            return status, {"_not_json": data[:200].decode("latin-1")}

    def state(self):
        status, d = self.json("GET", "/api/v1/state")
        assert status == 200, (status, d)
        return d

    def auth(self, token=None):
        return {"Authorization": "Bearer " + (token if token is not None else self.token)}


# ---- the schema --------------------------------------------------------------------

TYPES = {"str": str, "int": int, "num": (int, float), "bool": bool, "obj": dict, "list": list}


def conforms(value, spec, schema, where, problems, optional=()):
    if isinstance(spec, str) and spec.startswith("@"):
        spec = schema[spec[1:]]
    if isinstance(spec, str):
        nullable = spec.endswith("?")
        t = TYPES[spec.rstrip("?")]
        if value is None:
            if not nullable:
                problems.append(where + ": null")
        elif isinstance(value, bool) and t is not bool:
            problems.append(where + ": a bool")
        elif not isinstance(value, t):
            problems.append("%s: %r is not %s" % (where, value, spec))
        return
    if isinstance(spec, list):
        if not isinstance(value, list):
            problems.append(where + ": not a list")
            return
        for i, item in enumerate(value):
            conforms(item, spec[0], schema, "%s[%d]" % (where, i), problems)
        return
    if not isinstance(value, dict):
        problems.append(where + ": not an object")
        return
    for k in spec:
        if k not in value and k not in optional:
            problems.append(where + ": key '%s' missing" % k)
    for k in value:
        if k not in spec:
            problems.append(where + ": key '%s' not documented" % k)
        else:
            conforms(value[k], spec[k], schema, where + "." + k, problems)


def check_schema(what, value, schema, name, optional=()):
    problems = []
    conforms(value, schema[name], schema, name, problems, optional)
    return check(what, not problems, "; ".join(problems[:5]))


def schema_keys(spec, schema, out):
    if isinstance(spec, str) and spec.startswith("@"):
        spec = schema[spec[1:]]
    if isinstance(spec, list):
        schema_keys(spec[0], schema, out)
    elif isinstance(spec, dict):
        for k, v in spec.items():
            out.add(k)
            schema_keys(v, schema, out)


# ---- the event stream --------------------------------------------------------------


class Stream(threading.Thread):
    """Reads /api/v1/events; stops after `limit` events (None: until EOF)."""

    def __init__(self, api, path, headers=None, limit=None):
        super().__init__(daemon=True)
        self.api, self.path, self.headers, self.limit = api, path, headers or {}, limit
        self.events, self.ids, self.eof, self.error = [], [], False, None
        self.status = None
        self.ready = threading.Event()

    def run(self):
        try:
            s = socket.create_connection((self.api.host, self.api.port), timeout=60)
            req = "GET %s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n" % self.path
            for k, v in self.headers.items():
                req += "%s: %s\r\n" % (k, v)
            s.sendall((req + "\r\n").encode())
            f = s.makefile("rb")
            status = f.readline()
            self.status = int(status.split()[1])
            chunked = False
            while True:
                h = f.readline()
                if h in (b"\r\n", b""):
                    break
                if h.lower().startswith(b"transfer-encoding:") and b"chunked" in h.lower():
                    chunked = True
            self.ready.set()
            buf = b""
            cur_id = None
            while True:
                if chunked:
                    size_line = f.readline()
                    if not size_line:
                        self.eof = True
                        break
                    size = int(size_line.strip() or b"0", 16)
                    if size == 0:
                        self.eof = True
                        break
                    buf += f.read(size)
                    f.readline()
                else:
                    more = f.read1(65536)
                    if not more:
                        self.eof = True
                        break
                    buf += more
                while b"\n\n" in buf:
                    block, buf = buf.split(b"\n\n", 1)
                    cur_id, data = None, None
                    for line in block.split(b"\n"):
                        if line.startswith(b"id: "):
                            cur_id = int(line[4:])
                        elif line.startswith(b"data: "):
                            data = json.loads(line[6:])
                    if data is not None:
                        self.events.append(data)
                        self.ids.append(cur_id)
                        if self.limit is not None and len(self.events) >= self.limit:
                            s.close()
                            return
            s.close()
        except Exception as e:  # noqa: BLE001 - reported as a failure
            self.error = repr(e)
        finally:
            self.ready.set()


def poll(what, fn, seconds):
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (OSError, http.client.HTTPException, AssertionError) as e:
            last = e
        time.sleep(0.05)
    check(what, False, "still not after %ss: %r" % (seconds, last))
    return None


def db_rows(db, q, args=()):
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
    try:
        return c.execute(q, args).fetchall()
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--edl", required=True)
    ap.add_argument("--schema", required=True)
    ap.add_argument("--readme", required=True)
    ap.add_argument("--units", type=int, required=True)
    ap.add_argument("--max-clients", type=int, required=True)
    ap.add_argument("--pidfile", required=True)
    a = ap.parse_args()
    schema = json.load(open(a.schema))
    api = Api("127.0.0.1", a.port, a.token)

    st = poll("the API answers", lambda: api.state(), 30)
    if st is None:
        return 1

    # The README documents every key of the schema.
    readme = open(a.readme).read()
    m = re.search(r"^## The web board, API and metrics\n(.*?)(?=^## )", readme, re.S | re.M)
    check("the README has the web section", m is not None)
    keys = set()
    for name in ("state", "package", "slot", "event", "gap", "error", "abort"):
        schema_keys(schema[name], schema, keys)
    missing = sorted(k for k in keys if m is None or ("`%s`" % k) not in m.group(1))
    check("the README names every documented key", not missing, missing)

    # A client that never reads its event stream (a tiny receive window).
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    stuck.connect(("127.0.0.1", a.port))
    stuck.sendall(b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n")

    check_schema("/api/v1/state has the documented keys", st, schema, "state")
    check("slots in the port map's order", [s["label"] for s in st["slots"]][:4] ==
          ["A1", "A2", "A3", "A4"], [s["label"] for s in st["slots"]])
    status, pkg = api.json("GET", "/api/v1/package")
    check("/api/v1/package is 200", status == 200, status)
    check_schema("/api/v1/package has the documented keys", pkg, schema, "package")
    check("the package is the one in use", pkg.get("manifest_hash") == st["package"]["manifest_hash"])

    # The pages: "/" is index.html from static_dir, as bytes on disk.
    status, ctype, data = api.call("GET", "/")
    index = open(os.path.join(os.path.dirname(a.readme), "web", "index.html"), "rb").read()
    check("/ serves web/index.html as text/html", status == 200 and
          ctype.startswith("text/html") and data == index, (status, ctype))

    # The stream: the first reader from seq 0, cut after 12 events.
    first = Stream(api, "/api/v1/events?after=0", limit=12)
    first.start()
    first.join(30)
    check("the first event reader got 12 events", len(first.events) == 12 and first.error is None,
          (len(first.events), first.error))
    last_id = first.ids[-1] if first.ids else 0
    second = Stream(api, "/api/v1/events", headers={"Last-Event-ID": str(last_id)})
    second.start()
    second.ready.wait(10)
    check("resumed stream answers 200 text/event-stream", second.status == 200, second.status)

    # A position from the future (another station run's numbers): a gap first.
    gap = Stream(api, "/api/v1/events?after=999999999", limit=1)
    gap.start()
    gap.join(10)
    check("a position the ring does not hold gets a gap event first",
          gap.events and gap.events[0].get("type") == "gap", gap.events[:1])
    if gap.events:
        check_schema("the gap event has the documented keys", gap.events[0], schema, "gap")

    # Control without, with a wrong, with the right token.
    status, body = api.json("POST", "/api/v1/line/pause")
    check("pause without a token: 401", status == 401, (status, body))
    check_schema("the 401 is a JSON error", body, schema, "error")
    status, body = api.json("POST", "/api/v1/line/pause", headers=api.auth("wrong-token-xx"))
    check("pause with a wrong token: 401", status == 401, (status, body))
    status, body = api.json("POST", "/api/v1/line/pause",
                            headers={"Authorization": "Basic " + a.token})
    check("pause with another scheme: 401", status == 401, (status, body))

    # Bad requests get 4xx JSON.
    bad = [
        ("GET", "/api/v1/nope", None, {}, 404),
        ("GET", "/api/v2/state", None, {}, 404),
        ("PUT", "/api/v1/state", b"x", {}, 405),
        ("DELETE", "/api/v1/line/pause", None, api.auth(), 405),
        ("POST", "/api/v1/slots/A1/abort", b"{\"reason\": ", api.auth(), 400),
        ("POST", "/api/v1/slots/A1/abort", b"[1,2]", api.auth(), 400),
        ("POST", "/api/v1/slots/NOSUCH/abort", None, api.auth(), 404),
        ("POST", "/api/v1/line/jump", None, api.auth(), 404),
        ("GET", "/api/v1/report?sinse=1h", None, {}, 400),
        ("GET", "/api/v1/report?since=yesterday", None, {}, 400),
        ("GET", "/api/v1/events?after=abc", None, {}, 400),
        ("GET", "/api/v1/events?bogus=1", None, {}, 400),
        ("GET", "/api/v1/units/NO-SUCH-UNIT", None, {}, 404),
        ("GET", "/api/v1/state", None, {"X-Big": "a" * 20000}, 431),
        ("POST", "/api/v1/line/pause", b"a" * 100000, api.auth(), 413),
        ("GET", "/no-such-page.js", None, {}, 404),
        ("GET", "/.hidden", None, {}, 404),
    ]
    for method, path, body, headers, want in bad:
        status, ctype, data = api.call(method, path, body=body, headers=headers)
        ok = status == want and ctype.startswith("application/json")
        if ok:
            try:
                d = json.loads(data)
                ok = set(d) == {"error", "detail"} and d["error"] != ""
            except ValueError:
                ok = False
        check("%s %s: %d with a JSON error" % (method, path[:40], want), ok,
              (status, ctype, data[:120]))
    # Garbage that is not HTTP: h2o answers 400 and closes; the station goes on.
    s = socket.create_connection(("127.0.0.1", a.port), timeout=5)
    s.sendall(b"\x16\x03\x01garbage\r\n\r\n")
    reply = s.recv(200)
    s.close()
    check("bytes that are not HTTP get a 4xx", reply.startswith(b"HTTP/1.1 4"), reply[:60])

    # Beyond max_clients new connections are closed at once.
    held, closed = [], 0
    for _ in range(a.max_clients + 4):
        c = socket.create_connection(("127.0.0.1", a.port), timeout=5)
        held.append(c)
    time.sleep(0.3)
    for c in held:
        c.settimeout(0.5)
        try:
            c.sendall(b"GET /api/v1/package HTTP/1.1\r\nHost: x\r\n\r\n")
            r = c.recv(20)
            closed += r == b""
        except (ConnectionResetError, BrokenPipeError):
            closed += 1
        except socket.timeout:
            pass
    for c in held:
        c.close()
    check("connections beyond max_clients are closed at accept", closed >= 4, closed)
    st2 = poll("the API answers again once they are gone", lambda: api.state(), 10)

    # Abort: a unit well inside its program phase.
    def flashing_slot():
        for s in api.state()["slots"]:
            if s["state"] == "running" and s["percent"] and 5 < s["percent"] < 70:
                return s
        return None

    victim = poll("a unit is flashing", flashing_slot, 30)
    if victim:
        status, body = api.json("POST", "/api/v1/slots/%s/abort" % victim["label"].lower(),
                                body=json.dumps({"reason": "web test abort"}),
                                headers=api.auth())
        check("abort with the token: 202", status == 202, (status, body))
        check_schema("the abort answer has the documented keys", body, schema, "abort")
        rows = poll("the aborted unit's run is failed with the reason in the database",
                    lambda: db_rows(a.db, "select serial, slot_label, error from run where "
                                    "result = 'fail' and message like '%web test abort%'"),
                    20)
        if rows:
            check("it is that slot's unit", rows[0][0] == victim["serial"] and
                  rows[0][1] == victim["label"], (rows, victim["serial"]))
            check("recorded as an abort (EDL_E_ABORTED), not a station fault",
                  rows[0][2] == "EDL_E_ABORTED", rows)
        tile = poll("the slot shows the failure with the reason",
                    lambda: [s for s in api.state()["slots"] if s["label"] == victim["label"]
                             and s["state"] == "fail" and "web test abort" in (s["message"] or "")],
                    10)
        if tile:
            check_schema("the failed tile has the documented keys", tile[0], schema, "slot")
        status, body = api.json("POST", "/api/v1/slots/%s/abort" % victim["label"],
                                headers=api.auth())
        check("abort of a slot with no unit flashing: 409", status in (409, 202), status)

    # Pause: units on the slots finish, no new unit starts; resume takes them.
    status, body = api.json("POST", "/api/v1/line/pause", headers=api.auth(),
                            body=b'{"reason": "web test pause"}')
    check("pause with the token: 200", status == 200, (status, body))
    check("the state says stopped, paused by API",
          body.get("line", {}).get("state") == "stopped" and
          "paused by API" in (body.get("line", {}).get("reason") or ""), body.get("line"))
    poll("running units finish while paused", lambda: api.state()["totals"]["in_flight"] == 0, 60)
    runs = db_rows(a.db, "select count(*) from run")[0][0]
    finished = api.state()["totals"]["finished"]
    quiet = True
    for _ in range(15):  # 1.5 s of watching: nothing may start
        s = api.state()
        quiet = quiet and s["totals"]["in_flight"] == 0 and s["line"]["state"] == "stopped"
        time.sleep(0.1)
    check("no new unit starts while paused", quiet and
          db_rows(a.db, "select count(*) from run")[0][0] == runs)
    if finished < a.units:
        status, body = api.json("POST", "/api/v1/line/resume", headers=api.auth())
        check("resume with the token: 200", status == 200, (status, body))
        poll("resume takes the waiting units",
             lambda: db_rows(a.db, "select count(*) from run")[0][0] > runs, 20)
    status, body = api.json("POST", "/api/v1/line/resume", headers=api.auth())
    check("resume of a running line: 409", status == 409, (status, body))

    poll("every unit finished", lambda: api.state()["totals"]["finished"] == a.units, 90)
    st = api.state()
    check_schema("the final state has the documented keys", st, schema, "state")
    check("the state's failures list the aborted unit",
          any("web test abort" in f["message"] for f in st["failures"]), st["failures"][:2])
    check("the series counts every unit", sum(h["units"] for h in st["series"]) == a.units,
          st["series"])

    # /metrics against the database.
    status, ctype, data = api.call("GET", "/metrics")
    check("/metrics is 200 text/plain 0.0.4", status == 200 and "version=0.0.4" in ctype, ctype)
    samples = {}
    for fam in text_string_to_metric_families(data.decode()):
        for smp in fam.samples:
            samples[(smp.name, tuple(sorted(smp.labels.items())))] = smp.value
    by_result = dict(db_rows(a.db, "select result, count(*) from run group by result"))
    got = lambda n, **l: samples.get((n, tuple(sorted(l.items()))))
    check("units passed = passed runs in the database",
          got("edlstation_units_total", result="pass") == by_result.get("pass", 0),
          (got("edlstation_units_total", result="pass"), by_result))
    check("units failed = failed runs in the database",
          got("edlstation_units_total", result="fail") == by_result.get("fail", 0),
          (got("edlstation_units_total", result="fail"), by_result))
    by_class = dict(db_rows(a.db, "select error_class, count(*) from run where result = 'fail' "
                            "group by error_class"))
    for cls, n in by_class.items():
        check("failures of class %s = the database's" % cls,
              got("edlstation_unit_failures_total", **{"class": cls}) == n,
              got("edlstation_unit_failures_total", **{"class": cls}))
    by_slot = dict(db_rows(a.db, "select slot_label, count(*) from run where result = 'fail' "
                           "group by slot_label"))
    for slot, n in by_slot.items():
        check("failures on slot %s = the database's" % slot,
              got("edlstation_slot_failures_total", slot=slot) == n,
              got("edlstation_slot_failures_total", slot=slot))
    check("the duration histogram counts every unit",
          got("edlstation_flash_duration_seconds_count") == a.units,
          got("edlstation_flash_duration_seconds_count"))
    written = db_rows(a.db, "select sum(bytes_written) from run")[0][0]
    check("bytes written = the database's", got("edlstation_bytes_written_total") == written,
          (got("edlstation_bytes_written_total"), written))
    check("the client that never read its stream was dropped",
          got("edlstation_web_event_clients_dropped_total") >= 1,
          (got("edlstation_web_event_clients_dropped_total"), "events so far", st["seq"]))
    stuck.close()
    check("nothing in flight, line running, store backlog 0",
          got("edlstation_units_in_flight") == 0 and got("edlstation_line_stopped") == 0 and
          got("edlstation_store_backlog") == 0)

    # The report and a unit's history: the same JSON as the commands.
    q = "since=2000-01-01&until=2100-01-01&by=hour"
    status, rep = api.json("GET", "/api/v1/report?" + q)
    cli = json.loads(subprocess.run([a.edl, "report", "--db", a.db, "--since", "2000-01-01",
                                     "--until", "2100-01-01", "--by", "hour", "--format",
                                     "json"], capture_output=True, check=True).stdout)
    check("/api/v1/report = edlstation report --format json", status == 200 and rep == cli,
          status)
    status, rep = api.json("GET", "/api/v1/report?slot=%s&failed=1" % (victim or {}).get("label", "A1"))
    check("the report filters by slot", status == 200 and rep.get("filter", {}).get("slot"), rep.get("filter"))
    serial = db_rows(a.db, "select serial from run order by id limit 1")[0][0]
    status, hist = api.json("GET", "/api/v1/units/" + serial.upper())
    cli = json.loads(subprocess.run([a.edl, "history", "--db", a.db, "--steps", "--format", "json",
                                     serial], capture_output=True, check=True).stdout)
    check("/api/v1/units/SERIAL = edlstation history --steps --format json",
          status == 200 and hist == cli, status)

    # Stop the station: the resumed stream ends, and together with the first
    # reader it saw every event exactly once.
    last_seq = api.state()["seq"]
    # One more client that reads nothing, with the whole ring to replay: the
    # station must not wait for it to stop.
    stuck2 = socket.socket()
    stuck2.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    stuck2.connect(("127.0.0.1", a.port))
    stuck2.sendall(b"GET /api/v1/events?after=0 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.3)
    pid = int(open(a.pidfile).read())
    t_stop = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    second.join(20)
    check("the event stream ends when the station stops", second.eof and second.error is None,
          (second.eof, second.error))
    gone = poll("the station ends despite a client that reads nothing",
                lambda: not os.path.exists("/proc/%d" % pid) or
                open("/proc/%d/stat" % pid).read().split()[2] == "Z", 15)
    check("within the 2 s grace and a little", gone and time.monotonic() - t_stop < 8,
          time.monotonic() - t_stop)
    stuck2.close()
    ids = first.ids + [i for i in second.ids if i is not None]
    check("cut and resumed, every seq exactly once, in order",
          ids == list(range(1, len(ids) + 1)), ids[:5] + ["..."] + ids[-5:])
    check("up to the last seq the state reported", ids and ids[-1] >= last_seq,
          (ids[-1:] , last_seq))
    for e in first.events + second.events:
        name = "slot_event" if e.get("type") == "slot" else "event"
        if not check_schema("event %s has the documented keys" % e.get("seq"), e, schema, name,
                            schema["event_optional"] if name == "event" else ()):
            break
    passes = [e for e in first.events + second.events if e.get("event") == "pass"]
    check("a pass event carries its tile in state pass",
          passes and all(e["tile"]["state"] == "pass" for e in passes), passes[:1])
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
