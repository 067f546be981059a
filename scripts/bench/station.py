#!/usr/bin/env python3
"""Station benchmark (scripts/bench.sh station). Every figure is measured in this
run, on this machine, through the same emulation (edlstation emulate, umockdev):

 (a) one device, 256 MiB: the station's program-phase MB/s next to a minimal async
     libusb writer (edl_host, 4 x 1 MiB in flight) — target ratio >= 0.9;
 (b) 8 devices x 64 MiB: aggregate MB/s next to 8 such writers at once — >= 0.9;
 (c) 16 devices, --rate 40 --hub-rate 160 (4 hubs of 4): achieved vs the modelled
     bound min(16 x 40, 4 x 160) — >= 0.95; also a lighter 10/20 MB/s variant;
 (d) 32 devices, 1 GiB package: station CPU seconds per GiB flashed and peak
     anonymous memory (RssAnon) — target <= 64 MB;
 (profiles) per device profile of `edlstation emulate --help`, one unit of it
     flashing a 64 MiB package of its storage kind at its real storage speed
     (--write-rate = the profile's write_rate_bps): the time from attach to PASS
     against the bound the rate model allows (Sahara upload time + bytes / write
     rate) — target ratio bound/measured >= 0.9; and Debian's qdl on the same
     profile and package where it runs (wall time of the qdl process).

usage: station.py BUILD_DIR OUT_JSON [--quick] [--only a,b,c,d,profiles]"""
import re
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

BUILD, OUT = sys.argv[1], sys.argv[2]
QUICK = "--quick" in sys.argv
ONLY = None
if "--only" in sys.argv:
    ONLY = set(sys.argv[sys.argv.index("--only") + 1].split(","))
HERE = os.path.dirname(os.path.abspath(__file__))
MKPKG = os.path.join(HERE, "../../tests/e2e/mkpkg.py")
EDL = os.path.abspath(os.path.join(BUILD, "src/cli/edlstation"))
HOST = os.path.abspath(os.path.join(BUILD, "tests/emulator/edl_host"))
W = tempfile.mkdtemp(prefix="edl-bench.", dir="/tmp")
ENV = dict(os.environ, TMPDIR=W)
MiB = 1024 * 1024


def make_package(name, mib):
    """A board-style UFS package: one programmer, one image of `mib` MiB at LUN 0."""
    d = os.path.join(W, name)
    os.makedirs(d)
    subprocess.run([HOST, "mkprog", os.path.join(d, "prog_firehose_ddr.elf"), str(384 * 1024)],
                   check=True)
    with open(os.path.join(d, "system.img"), "wb") as f:
        block = os.urandom(MiB)
        for i in range(mib):
            f.write(block[i % 7:] + block[: i % 7])
    sectors = mib * MiB // 4096
    with open(os.path.join(d, "rawprogram0.xml"), "w") as f:
        f.write('<?xml version="1.0" ?>\n<data>\n  <program SECTOR_SIZE_IN_BYTES="4096" '
                'file_sector_offset="0" filename="system.img" label="system" '
                'num_partition_sectors="%d" physical_partition_number="0" sparse="false" '
                'start_sector="256"/>\n</data>\n' % sectors)
    subprocess.run([EDL, "package", "check", d, "--storage", "ufs", "--cache-dir",
                    os.path.join(W, "cache")], check=True, stdout=subprocess.DEVNULL, env=ENV)
    return d


def station(pkg, devices, emu_args=(), run_args=(), sample=False):
    """Runs the station on `devices` emulated UFS units; returns (db, wall s, cpu s, rss_anon kB)."""
    db = os.path.join(W, "r%d.db" % time.monotonic_ns())
    cmd = [EDL, "emulate", "--storage", "ufs", "--devices", str(devices), "--sectors",
           str(4 * 1024 * 1024), "--usbfs-memory-mb", "0", *emu_args, "--",
           EDL, "run", "--package", pkg, "--db", db, "--count", str(devices), "--storage", "ufs",
           "--cache-dir", os.path.join(W, "cache"), "--log-format", "text", *run_args]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak, cpu, station_pid = 0, 0.0, None
    tick = os.sysconf("SC_CLK_TCK")
    while p.poll() is None:
        if sample:
            if station_pid is None:
                r = subprocess.run(["pgrep", "-f", "edlstation run --package " + pkg],
                                   capture_output=True, text=True)
                station_pid = int(r.stdout.split()[0]) if r.stdout.split() else None
            if station_pid is not None:
                try:
                    with open("/proc/%d/status" % station_pid) as f:
                        for line in f:
                            if line.startswith("RssAnon:"):
                                peak = max(peak, int(line.split()[1]))
                    with open("/proc/%d/stat" % station_pid) as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                        cpu = (int(fields[11]) + int(fields[12])) / tick
                except (FileNotFoundError, ProcessLookupError, IndexError):
                    pass
        time.sleep(0.05)
    out = p.stdout.read()
    wall = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit("station run failed (%d):\n%s" % (p.returncode, out[-3000:]))
    return db, wall, cpu, peak


def program_mbps(db):
    """Per-run program-phase MB/s from the station's own step records, and the aggregate."""
    c = sqlite3.connect(db)
    rows = c.execute("select r.id, sum(s.bytes), sum(s.duration_ms) from run r join run_step s "
                     "on s.run_id = r.id where s.kind = 'program' and r.result = 'pass' "
                     "group by r.id").fetchall()
    span = c.execute("select sum(bytes_written), (max(end_ms) - min(start_ms)) from run "
                     "where result = 'pass'").fetchone()
    per_run = [b / (ms / 1000) / 1e6 for _, b, ms in rows if ms]
    return per_run, span[0] / (span[1] / 1000) / 1e6


def baseline(devices, mib):
    """edl_host: Sahara upload, configure, one program of `mib` MiB with 4 x 1 MiB in flight."""
    script = " ".join("%s flash --port 1-%d.%d --mib %d --inflight 4 &" %
                      (HOST, 1 + i // 7, 1 + i % 7, mib) for i in range(devices)) + " wait"
    # Several host processes under one emulation now and then lose one of them
    # (it prints nothing); such a round is run again, at most 5 times.
    for _ in range(5):
        t0 = time.monotonic()
        r = subprocess.run([EDL, "emulate", "--storage", "ufs", "--devices", str(devices),
                            "--sectors", str(4 * 1024 * 1024), "--usbfs-memory-mb", "0", "--",
                            "sh", "-c", script], env=ENV, capture_output=True, text=True)
        wall = time.monotonic() - t0
        rates = [float(l.split("=")[1].split()[0]) for l in r.stdout.splitlines() if "MB/s" in l]
        if len(rates) == devices:
            return rates, wall
    sys.exit("baseline failed:\n" + r.stdout + r.stderr)


def want(case):
    return ONLY is None or case in ONLY


def profiles():
    """(name, kind, sector size, write rate in MB/s) of every profile `emulate --help` lists."""
    out = subprocess.run([EDL, "emulate", "--help"], capture_output=True, text=True).stdout
    found, seen = [], False
    for line in out.splitlines():
        if line.startswith("profiles"):
            seen = True
            continue
        m = re.match(r"\s+(\S+)\s.*; (\w+), (\d+)-byte sectors, write-rate ([0-9.]+) MB/s", line)
        if seen and m:
            found.append((m.group(1), m.group(2), int(m.group(3)), float(m.group(4))))
    return found


def profile_package(name, kind, sector, mib):
    """mkpackage's NAND (4 KiB pages) package of about `mib` MiB, reshaped for the kind."""
    src = os.path.join(W, "pkg-%s-src" % name)
    subprocess.run([EDL, "mkpackage", src, "--storage", "nand", "--size", str(mib)], check=True,
                   stdout=subprocess.DEVNULL, env=ENV)
    if kind == "nand" and sector == 4096:
        return src, [os.path.join(src, "update/firehose/rawprogram_nand_p4K_b256K_update.xml")]
    dst = os.path.join(W, "pkg-%s" % name)
    r = subprocess.run(["python3", MKPKG, src, dst, kind, str(sector)], check=True,
                       capture_output=True, text=True)
    return dst, r.stdout.split()


def stamp(out, what):
    """Time (s) of the station's first text event `what` (e.g. 'attach', 'pass')."""
    m = re.search(r"^\s*([0-9.]+) \[[^]]*\] %s:" % what, out, re.M)
    return float(m.group(1)) if m else None


def profile_run(name, kind, sector, rate):
    pkg, raws = profile_package(name, kind, sector, 16 if QUICK else 64)
    db = os.path.join(W, "p-%s.db" % name)
    emu = [EDL, "emulate", "--profile", name, "--write-rate", str(rate), "--usbfs-memory-mb", "0"]
    cmd = emu + ["--", EDL, "run", "--package", pkg, "--db", db, "--count", "1",
                 "--cache-dir", os.path.join(W, "cache"), "--log-format", "text", "--no-verify"]
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=900)
    res = {"kind": kind, "sector_size": sector, "write_rate_mbps": rate, "station_ok": False}
    attach, passed = stamp(r.stdout, "attach"), stamp(r.stdout, "pass")
    sahara = firehose = None  # the upload: from "stage: sahara" to the next stage
    m = re.findall(r"^\s*([0-9.]+) \[[^]]*\] stage: (\w+)", r.stdout, re.M)
    for t, st in m:
        if st == "sahara":
            sahara = float(t)
        elif sahara is not None and firehose is None and st != "sahara":
            firehose = float(t)
    if r.returncode == 0 and attach is not None and passed is not None:
        c = sqlite3.connect(db)
        written = c.execute("select sum(bytes_written) from run where result='pass'").fetchone()[0]
        upload = (firehose - sahara) if sahara is not None and firehose is not None else 0.0
        bound = upload + written / (rate * 1e6)
        res.update(station_ok=True, attach_to_pass_s=passed - attach, upload_s=upload,
                   bytes=written, bound_s=bound, ratio=bound / (passed - attach))
    else:
        res["station_error"] = (r.stdout + r.stderr)[-1500:]
    # Debian's qdl on the same profile and package, where it runs.
    if shutil.which("qdl"):
        base = os.path.dirname(raws[0])  # the programmer lies beside the XML in both layouts
        # Quectel's XML names images "..\\tz.mbn"; Debian's qdl opens names as given and
        # skips what it cannot open ("...ignoring"), so its copy gets '/'.
        for raw in raws:
            with open(raw) as f:
                text = f.read()
            with open(raw, "w") as f:
                f.write(text.replace("..\\", "../"))
        progpath = os.path.join(base, next(f for f in sorted(os.listdir(base))
                                           if f.startswith("prog_")))
        patches = [os.path.join(base, f) for f in sorted(os.listdir(base)) if f.startswith("patch")]
        qcmd = emu + ["--", "qdl", "--storage", kind, "--include", base, progpath, *raws, *patches]
        t0 = time.monotonic()
        try:
            q = subprocess.run(qcmd, env=ENV, capture_output=True, text=True, timeout=900, cwd=base)
            res["qdl_ok"] = q.returncode == 0
            res["qdl_wall_s"] = time.monotonic() - t0
            if q.returncode != 0:
                res["qdl_error"] = (q.stdout + q.stderr)[-600:]
        except subprocess.TimeoutExpired:
            res["qdl_ok"] = False
            res["qdl_error"] = "timed out"
    return res


results = {}
rows = []

# (a) one device, 256 MiB
if want("a"):
    mib_a = 64 if QUICK else 256
    pkg_a = make_package("a", mib_a)
    base_rates, _ = baseline(1, mib_a)
    db, wall, _, _ = station(pkg_a, 1, run_args=["--no-verify"])
    st_rates, _ = program_mbps(db)
    results["a"] = {"mib": mib_a, "station_program_mbps": st_rates[0], "baseline_mbps": base_rates[0],
                    "ratio": st_rates[0] / base_rates[0]}
    rows.append(("(a) 1 device, %d MiB, program phase" % mib_a, st_rates[0], base_rates[0],
                 st_rates[0] / base_rates[0], ">= 0.9"))

# (b) 8 devices x 64 MiB
if want("b"):
    mib_b = 16 if QUICK else 64
    pkg_b = make_package("b", mib_b)
    base_rates, base_wall = baseline(8, mib_b)
    db, wall, _, _ = station(pkg_b, 8, run_args=["--no-verify"])
    # Aggregates: all bytes over the span from the first run's start to the last one's
    # end (station, Sahara and configure included), and over the slowest writer's
    # raw phase (baseline: its Sahara and configure are left out, in its favour).
    _, st_agg = program_mbps(db)
    base_agg = 8 * mib_b * MiB / 1e6 / max(mib_b * MiB / 1e6 / r for r in base_rates)
    results["b"] = {"mib": mib_b, "station_aggregate_mbps": st_agg, "baseline_aggregate_mbps": base_agg,
                    "ratio": st_agg / base_agg}
    rows.append(("(b) 8 devices x %d MiB, aggregate" % mib_b, st_agg, base_agg, st_agg / base_agg,
                 ">= 0.9"))

# (c) 16 devices behind 4 hubs with a rate model
if want("c"):
    for rate, hub in ((40, 160), (10, 20)):
        mib_c = 8 if QUICK else 32
        pkg_c = make_package("c%d" % rate, mib_c)
        db, wall, _, _ = station(pkg_c, 16, emu_args=["--hub-ports", "4", "--rate", str(rate),
                                                      "--hub-rate", str(hub)],
                                 run_args=["--no-verify"])
        _, achieved = program_mbps(db)
        bound = min(16 * rate, 4 * hub)
        results["c_%d_%d" % (rate, hub)] = {"achieved_mbps": achieved, "bound_mbps": bound,
                                            "ratio": achieved / bound}
        rows.append(("(c) 16 devices, --rate %d --hub-rate %d" % (rate, hub), achieved, bound,
                     achieved / bound, ">= 0.95"))

# (d) 32 devices, 1 GiB package: CPU per GiB, peak RssAnon
if want("d"):
    mib_d = 64 if QUICK else 1024
    pkg_d = make_package("d", mib_d)
    db, wall, cpu, peak = station(pkg_d, 32, sample=True)
    gib = 32 * mib_d / 1024
    results["d"] = {"devices": 32, "mib": mib_d, "cpu_s": cpu, "cpu_s_per_gib": cpu / gib,
                    "rss_anon_peak_kb": peak, "wall_s": wall}
    rows.append(("(d) 32 devices x %d MiB (verify on): CPU s per GiB" % mib_d, cpu / gib, None, None, ""))
    rows.append(("(d) peak RssAnon of the station, MB", peak / 1024, 64, peak / 1024 / 64, "<= 1.0"))

# (profiles) one unit per device profile at its real storage speed, and qdl beside it
if want("profiles"):
    for name, kind, sector, rate in profiles():
        if rate <= 0:
            results["profile_" + name] = {"skipped": "no write rate known"}
            continue
        res = profile_run(name, kind, sector, rate)
        results["profile_" + name] = res
        if res["station_ok"]:
            rows.append(("(profiles) %s %s, attach to PASS vs bound, s" % (name, kind),
                         res["attach_to_pass_s"], res["bound_s"], res["ratio"], ">= 0.95"))
        else:
            rows.append(("(profiles) %s %s: the station FAILED" % (name, kind), 0.0, None, None,
                         ">= 0.95"))
        if "qdl_ok" in res:
            rows.append(("(profiles) %s qdl wall time, s%s" % (name, "" if res["qdl_ok"] else
                                                              " (qdl FAILED)"),
                         res.get("qdl_wall_s", 0.0), None, None, ""))

print("%-52s %10s %10s %7s  %s" % ("station benchmark", "measured", "baseline", "ratio", "target"))
for name, m, b, r, t in rows:
    print("%-52s %10.2f %10s %7s  %s" % (name, m, "-" if b is None else "%.2f" % b,
                                         "-" if r is None else "%.2f" % r, t))
with open(OUT, "w") as f:
    json.dump(results, f, indent=2)
print("json: " + OUT)
subprocess.run(["rm", "-rf", W])
