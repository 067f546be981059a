#!/usr/bin/python3
"""Load for scripts/bench/web.sh: N clients, each streaming /api/v1/events and
polling /api/v1/state at RATE requests/s (keep-alive), from the station's
first answer until its server goes away or --seconds pass. Prints one JSON line: requests, errors,
p50/p99/max API latency (ms), events received per client, and the board
update delay (event "time" -> receipt, ms; p50/p99/max) over every client."""
import argparse
import datetime
import http.client
import json
import socket
import sys
import threading
import time


def parse_time(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


class Client:
    def __init__(self, port, rate, deadline):
        self.port, self.rate, self.deadline = port, rate, deadline
        self.latencies, self.delays, self.errors, self.events = [], [], 0, 0
        self.kinds = {}
        self.stream_error = None
        self.stop = False

    def poll(self):
        conn = None
        period = 1.0 / self.rate
        nxt = time.monotonic()
        while not self.stop and time.monotonic() < self.deadline:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                t0 = time.monotonic()
                conn.request("GET", "/api/v1/state")
                r = conn.getresponse()
                r.read()
                self.latencies.append((time.monotonic() - t0) * 1000)
                if r.status != 200:
                    self.errors += 1
            except (OSError, http.client.HTTPException) as e:
                if self.stop:
                    break  # the station stopped: not an error of a running server
                self.errors += 1
                self.kinds[type(e).__name__] = self.kinds.get(type(e).__name__, 0) + 1
                conn = None
                time.sleep(0.05)
            nxt += period
            time.sleep(max(0, nxt - time.monotonic()))

    def stream(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=30)
            s.sendall(b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n")
            f = s.makefile("rb")
            while True:
                line = f.readline()
                if not line:
                    break
                if line.startswith(b"data: "):
                    now = time.time()
                    e = json.loads(line[6:])
                    self.events += 1
                    if e.get("type") == "event" and "time" in e:
                        self.delays.append((now - parse_time(e["time"])) * 1000)
        except (OSError, ValueError) as e:
            self.stream_error = type(e).__name__
        self.stop = True


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, int(len(v) * p))], 2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--rate", type=float, default=10)
    ap.add_argument("--seconds", type=float, default=600)
    a = ap.parse_args()
    # The server is up and the station's start is over: the first answer
    # waits while the station opens its devices (under umockdev every ioctl is
    # a socket round trip on the loop thread), which is not the API's latency.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", a.port, timeout=10)
            c.request("GET", "/api/v1/state")
            c.getresponse().read()
            c.close()
            break
        except (OSError, http.client.HTTPException):
            time.sleep(0.02)
    deadline = time.monotonic() + a.seconds
    clients = [Client(a.port, a.rate, deadline) for _ in range(a.clients)]
    threads = []
    for c in clients:
        for fn in (c.stream, c.poll):
            t = threading.Thread(target=fn, daemon=True)
            t.start()
            threads.append(t)
    for t in threads:
        t.join()
    lat = [x for c in clients for x in c.latencies]
    dly = [x for c in clients for x in c.delays]
    print(json.dumps({
        "clients": a.clients, "rate": a.rate, "requests": len(lat),
        "errors": sum(c.errors for c in clients),
        "error_kinds": {k: sum(c.kinds.get(k, 0) for c in clients)
                        for k in set(k for c in clients for k in c.kinds)},
        "latency_ms": {"p50": pct(lat, 0.5), "p99": pct(lat, 0.99), "max": pct(lat, 1.0)},
        "events_per_client": min(c.events for c in clients),
        "stream_errors": [c.stream_error for c in clients if c.stream_error],
        "delay_ms": {"p50": pct(dly, 0.5), "p99": pct(dly, 0.99), "max": pct(dly, 1.0)},
    }))


if __name__ == "__main__":
    sys.exit(main())
