#!/usr/bin/env python3
"""The onside-agent benchmark: one command that builds, generates, measures and prints one table.

usage: python3 tests/bench/bench.py [--quick] [--only a,b,c,d,e,f,g,h] [--runs N] [--profile] [--no-build]
                                   [--baseline REV] [--fluent-bit PATH]

It builds the agent in Release mode into build-bench/ (and the C sink and json-c loop beside it, with
-O2 -Wall -Wextra -Werror), generates the data deterministically (tests/bench/gen_purchases.py), starts
tests/bench/sink.c on 127.0.0.1 and runs, each the median of --runs runs (at least 3):

  a  backfill: `run --once` over 1,000,000 JSON lines (plus one run against the validating sink)
  b  the same with the regex parser over the equivalent text lines
  c  follow mode: a writer appends 1,000 lines/s for 60 s, flush_interval 100ms; p50/p99 from the write
     (a "wt" field with CLOCK_MONOTONIC nanoseconds, mapped into the payload) to receipt at the sink
  d  follow mode over 1,000 files: every second one line is appended to each file, for 30 s
  e  idle: 100 watched files, no writes for 60 s: CPU seconds and context switches of the agent
  f  backfill of 1,000,000 lines with the default configuration (max_in_flight: auto) against a sink
     that holds every answer 50 ms (--delay-ms), as a link to a distant API would
  g  the same with a rate limit: at most 50 requests/s accepted, others answered 429 + Retry-After: 1
  h  the same over TLS: nginx (Debian's) in front of the sink, plain HTTP, TLS HTTP/1.1 and TLS h2

and in the same invocation the references: `cat FILE > /dev/null`, the json-c parse-only loop
(jsonc_loop.c) and syslog-ng (Debian's syslog-ng-core + syslog-ng-mod-http, tests/bench/syslog-ng.conf)
reading the same file and posting 1,000-event batches to the same sink. Every figure of the agent is also
given as a ratio to those references, since the absolute numbers depend on the machine and its load.
--baseline REV: also runs workload a with the agent built from REV, interleaved with this one (is the
change slower?). --fluent-bit PATH: also runs Fluent Bit (tests/bench/fluent-bit.conf) in f, g and h
with as many output workers as the agent reached requests in flight; without it there is no Fluent Bit
row (it is not packaged by Debian). --quick: 200,000 lines, 10 s follow/idle windows, 10 s for d (still
3 runs; f, g, h keep 1,000,000 lines: g is measured after its first 10 s). --profile: also runs
workload a under `perf record -g` (build-bench-prof, Release with frame pointers) and prints the top
functions by self cost. Python 3.9 standard library only.
"""
import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
EVENTS_PATH = "/attribution-api/v1/events"
CFLAGS = ["-std=c11", "-D_GNU_SOURCE", "-O2", "-Wall", "-Wextra", "-Werror"]
REGEX = (r"^(?<ts>\S+) (?<event>\S+) install=(?<install_id>\S+) order=(?<order_id>\S+) "
         r"currency=(?<currency>\S+) amount=(?<amount>\S+) sku=(?<sku>\S+)$")
PAYLOAD = ["order_id", "currency", "amount", "sku"]
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


# --- building ------------------------------------------------------------------------------------

def source_tree(args):
    """The work tree, or with --rev a clean export of that commit in <build>-src (so that uncommitted
    edits of others do not end up in, or break, the measured binary)."""
    if not args.rev:
        return TOP
    src = args.build.rstrip("/") + "-src"
    if getattr(args, "_src_done", False):
        return src
    shutil.rmtree(src, ignore_errors=True)
    os.makedirs(src)
    archive = subprocess.run(["git", "-C", TOP, "archive", "--format=tar", args.rev], check=True,
                             stdout=subprocess.PIPE).stdout
    subprocess.run(["tar", "-x", "-C", src], input=archive, check=True)
    args._src_done = True
    return src


def configure(src, bdir, extra):
    """cmake -S src -B bdir, starting the cache over when bdir was configured for another source."""
    cache = os.path.join(bdir, "CMakeCache.txt")
    if os.path.exists(cache):
        with open(cache) as f:
            home = [ln.split("=", 1)[1].strip() for ln in f if ln.startswith("CMAKE_HOME_DIRECTORY:")]
        if home and os.path.realpath(home[0]) != os.path.realpath(src):
            os.unlink(cache)
            shutil.rmtree(os.path.join(bdir, "CMakeFiles"), ignore_errors=True)
    sh(["cmake", "-S", src, "-B", bdir, "-DCMAKE_BUILD_TYPE=Release", "-DONSIDE_TESTS=OFF"] + extra,
       stdout=subprocess.DEVNULL)


def build(args):
    """The Release agent, the sink and the json-c loop. Returns (agent, sink, jsonc_loop)."""
    bdir = args.build
    out = os.path.join(bdir, "bench")
    if not args.no_build:
        log("building Release into %s from %s" % (bdir, args.rev or "the work tree"))
        configure(source_tree(args), bdir, [])
        sh(["cmake", "--build", bdir, "-j2", "--target", "onside-agent"], stdout=subprocess.DEVNULL)
        os.makedirs(out, exist_ok=True)
        jsonc = subprocess.run(["pkg-config", "--cflags", "--libs", "json-c"], check=True,
                               stdout=subprocess.PIPE, universal_newlines=True).stdout.split()
        for name in ("sink", "jsonc_loop"):
            sh(["cc"] + CFLAGS + ["-o", os.path.join(out, name), os.path.join(HERE, name + ".c")] + jsonc)
    return os.path.join(bdir, "onside-agent"), os.path.join(out, "sink"), os.path.join(out, "jsonc_loop")


def build_profile(args):
    """A Release agent with frame pointers and symbols for perf, in <build>-prof."""
    bdir = args.build.rstrip("/") + "-prof"
    configure(source_tree(args), bdir, ["-DCMAKE_C_FLAGS=-g -fno-omit-frame-pointer"])
    sh(["cmake", "--build", bdir, "-j2", "--target", "onside-agent"], stdout=subprocess.DEVNULL)
    return os.path.join(bdir, "onside-agent")


# --- processes and measurements ------------------------------------------------------------------

class Result:
    """One measured process: wall seconds, CPU seconds (user+sys), peak RSS in KiB, context switches."""

    def __init__(self, wall, ru, rc):
        self.wall = wall
        self.cpu = ru.ru_utime + ru.ru_stime
        self.rss_kb = ru.ru_maxrss
        self.csw = ru.ru_nvcsw + ru.ru_nivcsw
        self.rc = rc


def wait_rusage(proc, timeout):
    """Waits for proc with wait4 (so its own rusage is read) and kills it after timeout seconds."""
    timer = threading.Timer(timeout, lambda: proc.poll() is None and proc.kill())
    timer.start()
    try:
        while True:
            try:
                _, status, ru = os.wait4(proc.pid, 0)
                break
            except InterruptedError:
                continue
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") \
        else (-(status & 0x7f) if status & 0x7f else status >> 8)
    return ru, proc.returncode


def run_measured(cmd, env=None, timeout=600):
    """Runs cmd (stdout to /dev/null) and measures it; raises if it fails. Peak RSS comes from GNU time's
    %M: the ru_maxrss that wait4 gives for a child forked from this Python process also counts the
    forked copy of Python before exec, so it never reads below Python's own RSS."""
    with tempfile.TemporaryFile() as err, open(os.devnull, "wb") as null, \
            tempfile.NamedTemporaryFile(prefix="rss-") as rss:
        wrapped = [GNU_TIME, "-f", "%M", "-o", rss.name] + cmd if GNU_TIME else cmd
        start = time.perf_counter()
        proc = subprocess.Popen(wrapped, stdout=null, stderr=err, env=env)
        ru, rc = wait_rusage(proc, timeout)
        wall = time.perf_counter() - start
        if rc != 0:
            err.seek(0)
            raise RuntimeError("%s exited %s: %s" % (" ".join(cmd), rc, err.read().decode(errors="replace")[-2000:]))
        res = Result(wall, ru, rc)
        res.rss_kb = float(rss.read().split()[-1]) if GNU_TIME else float("nan")
    return res


def peak_rss_kb(pid):
    """VmHWM of a running process (its peak RSS so far), in KiB."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1])
    except OSError:
        pass
    return float("nan")


def task_counters(pid):
    """(CPU seconds, [voluntary, involuntary] context switches) summed over every thread of pid, from
    /proc (schedstat has nanosecond CPU time; a voluntary switch is the thread going to sleep, so each
    one is a wake-up)."""
    cpu_ns, csw = 0, [0, 0]
    base = "/proc/%d/task" % pid
    for tid in os.listdir(base):
        try:
            with open(os.path.join(base, tid, "schedstat")) as f:
                cpu_ns += int(f.read().split()[0])
            with open(os.path.join(base, tid, "status")) as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches"):
                        csw[0] += int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches"):
                        csw[1] += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return cpu_ns / 1e9, csw


class Sink:
    """tests/bench/sink.c on 127.0.0.1 with an ephemeral port."""

    def __init__(self, binary, workdir, *flags):
        self.dir = tempfile.mkdtemp(prefix="sink-", dir=workdir)
        port_file = os.path.join(self.dir, "port")
        self.proc = subprocess.Popen([binary, "--port-file", port_file, "--stats-file",
                                      os.path.join(self.dir, "stats.json")] + list(flags))
        deadline = time.monotonic() + 10
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the sink did not start")
            time.sleep(0.01)
        with open(port_file) as f:
            self.port = int(f.read())
        self.url = "http://127.0.0.1:%d%s" % (self.port, EVENTS_PATH)

    def get(self, path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path), timeout=10) as r:
            return json.loads(r.read())

    def stats(self):
        return self.get("/_stats")

    def reset(self):
        self.get("/_reset")

    def wait_events(self, n, timeout, poll=0.02):
        """Polls until at least n events arrived; returns the stats (possibly short after timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            s = self.stats()
            if s["events"] >= n or time.monotonic() > deadline:
                return s
            time.sleep(poll)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def check(stats, expected):
    """'ok' when exactly the expected events arrived once each and none was invalid, else what failed."""
    bad = []
    if stats["unique"] != expected:
        bad.append("lost %d" % (expected - stats["unique"]) if stats["unique"] < expected
                   else "extra %d" % (stats["unique"] - expected))
    if stats["duplicates"]:
        bad.append("dup %d" % stats["duplicates"])
    if stats["invalid"] or stats["bad_requests"] or stats["oversize"]:
        bad.append("invalid %d/%d/%d" % (stats["invalid"], stats["bad_requests"], stats["oversize"]))
    return "ok" if not bad else ",".join(bad)


# --- configuration -------------------------------------------------------------------------------

def agent_config(path, url, state_dir, paths, parser=None, payload=PAYLOAD, batch=None, start_at="beginning"):
    """JSON-compatible YAML, as tests/integration/agentlib.py writes configs."""
    cfg = {
        "endpoint": {"url": url, "username": "bench", "password_env": "ONSIDE_BENCH_PASSWORD",
                     "allow_insecure_http": True, "timeout": "30s"},
        "agent": {"state_dir": state_dir, "id_namespace": "bench", "log_level": "warn"},
        "inputs": [{
            "name": "purchases", "paths": list(paths), "start_at": start_at,
            "parser": parser or {"type": "json"},
            "event": {"event_name": "${event}", "event_datetime": "${ts}", "installation_id": "${install_id}",
                      "payload": list(payload)},
        }],
    }
    if batch:
        cfg["batch"] = batch
    with open(path, "w") as f:
        json.dump(cfg, f, indent=1)
    os.makedirs(state_dir, exist_ok=True)
    return path


def agent_env():
    env = dict(os.environ)
    env["ONSIDE_BENCH_PASSWORD"] = "bench"
    return env


def syslog_ng_config(path, data, url, regex):
    with open(os.path.join(HERE, "syslog-ng.conf")) as f:
        text = f.read()
    if regex:
        parser = "regexp-parser(prefix(\"f.\") patterns('%s'));" % REGEX
    else:
        parser = 'json-parser(prefix("f."));'
    text = text.replace("@FILE@", data).replace("@URL@", url).replace("@PARSER@", parser)
    with open(path, "w") as f:
        f.write(text)
    return path


# --- data ----------------------------------------------------------------------------------------

def generate(workdir, lines, fmt):
    path = os.path.join(workdir, "purchases-%d.%s" % (lines, "log" if fmt == "json" else "txt"))
    if not os.path.exists(path):
        log("generating %d %s lines" % (lines, fmt))
        sh([sys.executable, os.path.join(HERE, "gen_purchases.py"), str(lines), path, "--format", fmt])
    return path


class LineMaker:
    """Deterministic JSON purchase lines in gen_purchases.py's shape plus "wt": the CLOCK_MONOTONIC
    nanoseconds of the write (time.monotonic_ns is CLOCK_MONOTONIC on Linux, as in the sink)."""

    def __init__(self, tag):
        self.tag = tag
        self.n = 0

    def line(self):
        self.n += 1
        i = self.n
        return ('{"ts":"2026-05-05T12:%02d:%02d.%03dZ","event":"purchase_completed",'
                '"install_id":"8f265c50-f8c7-4da0-8b27-d7e7c30603bd","order_id":"%s-%d","currency":"USD",'
                '"amount":"%d.%02d","sku":"sku-%04d-premium-annual","wt":%d}\n'
                % (i // 60 % 60, i % 60, i % 1000, self.tag, i, 1 + i % 500, i % 100, i % 50,
                   time.monotonic_ns())).encode()


# --- workloads -----------------------------------------------------------------------------------

def med(values):
    return statistics.median(values) if values else float("nan")


def backfill(args, tools, workdir, regex):
    """Workloads a and b with their references, interleaved run by run so that load changes hit all."""
    agent, sink_bin, jsonc_loop = tools
    key = "b" if regex else "a"
    n = args.lines
    data = generate(workdir, n, "text" if regex else "json")
    sink = Sink(sink_bin, workdir)
    rows = {"cat": [], "jsonc": [], "agent": [], "alt": [], "syslog-ng": []}
    checks = {"agent": [], "alt": [], "syslog-ng": []}
    requests = {"agent": [], "alt": [], "syslog-ng": []}
    sink_cpu = {"agent": [], "alt": [], "syslog-ng": []}
    # --agent PATH: that binary too, in the same runs, the order of the two alternating run by run
    agents = [("agent", agent)] + ([("alt", args.agent)] if args.agent else [])
    use_sng = not args.no_syslog_ng and shutil.which("syslog-ng")
    try:
        run_measured(["cat", data])  # warm the page cache
        for r in range(args.runs):
            log("%s: run %d/%d" % (key, r + 1, args.runs))
            rows["cat"].append(run_measured(["cat", data]))
            if not regex:
                rows["jsonc"].append(run_measured([jsonc_loop, data]))
            run_dir = tempfile.mkdtemp(prefix="%s-run-" % key, dir=workdir)
            for name, binary in (agents if r % 2 == 0 else agents[::-1]):
                cfg = agent_config(os.path.join(run_dir, name + ".yaml"), sink.url,
                                   os.path.join(run_dir, name + "-state"), [data],
                                   parser={"type": "regex", "pattern": REGEX} if regex else None)
                sink.reset()
                sink_cpu0 = task_counters(sink.proc.pid)[0]
                rows[name].append(run_measured([binary, "run", "--once", "-c", cfg], env=agent_env()))
                sink_cpu[name].append(task_counters(sink.proc.pid)[0] - sink_cpu0)
                s = sink.stats()
                checks[name].append(check(s, n))
                requests[name].append(s["requests"])
            if use_sng:
                sink.reset()
                sink_cpu0 = task_counters(sink.proc.pid)[0]
                res, s = run_syslog_ng(args, run_dir, data, sink, n, regex)
                sink_cpu["syslog-ng"].append(task_counters(sink.proc.pid)[0] - sink_cpu0)
                rows["syslog-ng"].append(res)
                checks["syslog-ng"].append(check(s, n))
                requests["syslog-ng"].append(s["requests"])
            shutil.rmtree(run_dir, ignore_errors=True)
    finally:
        sink.stop()
    out = []
    size = os.path.getsize(data)
    refs = {}
    for name, label in (("cat", "cat FILE > /dev/null"), ("jsonc", "json-c parse-only loop"),
                        ("agent", "onside-agent run --once"),
                        ("alt", "%s run --once (--agent)" % (args.agent or "")), ("syslog-ng", "syslog-ng")):
        rs = rows[name]
        if not rs:
            continue
        row = {
            "workload": "%s %s" % (key, label),
            "runs": len(rs),
            "wall": med([x.wall for x in rs]),
            "cpu": med([x.cpu for x in rs]),
            "rss_mb": med([x.rss_kb for x in rs]) / 1024.0,
            "events": n,
            "requests": med(requests[name]) if name in requests and requests[name] else None,
            "check": ";".join(sorted(set(checks[name]))) if name in checks else "",
            "mb_s": size / 1e6 / med([x.wall for x in rs]),
        }
        if sink_cpu.get(name):
            row["sink_cpu"] = med(sink_cpu[name])
        row["eps"] = n / row["wall"]
        row["cpu_us_ev"] = row["cpu"] / n * 1e6
        refs[name] = row
        out.append(row)
    ag = refs["agent"]
    ratios = {}
    if "cat" in refs:
        ratios["agent wall / cat wall"] = ag["wall"] / refs["cat"]["wall"]
    if "jsonc" in refs:
        ratios["agent CPU per event / json-c loop CPU per event"] = ag["cpu"] / refs["jsonc"]["cpu"]
        ratios["agent wall / json-c loop wall"] = ag["wall"] / refs["jsonc"]["wall"]
    if "alt" in refs:
        ratios["--agent events/s / agent events/s"] = refs["alt"]["eps"] / ag["eps"]
        ratios["--agent CPU per event / agent CPU per event"] = refs["alt"]["cpu"] / ag["cpu"]
        ratios["--agent peak RSS - agent peak RSS (MB)"] = refs["alt"]["rss_mb"] - ag["rss_mb"]
    if "syslog-ng" in refs:
        ratios["agent events/s / syslog-ng events/s"] = ag["eps"] / refs["syslog-ng"]["eps"]
        ratios["agent CPU / syslog-ng CPU"] = ag["cpu"] / refs["syslog-ng"]["cpu"]
        ratios["agent peak RSS / syslog-ng peak RSS"] = ag["rss_mb"] / refs["syslog-ng"]["rss_mb"]
    if not regex and not args.no_validate:
        out.append(validated_run(args, tools, workdir, data, n))
    return out, ratios, refs


def validated_run(args, tools, workdir, data, n):
    """One run of workload a against the sink in --validate mode (json-c parses every body)."""
    agent, sink_bin, _ = tools
    log("a: one run against the validating sink")
    sink = Sink(sink_bin, workdir, "--validate")
    run_dir = tempfile.mkdtemp(prefix="a-validate-", dir=workdir)
    try:
        cfg = agent_config(os.path.join(run_dir, "agent.yaml"), sink.url, os.path.join(run_dir, "state"), [data])
        res = run_measured([agent, "run", "--once", "-c", cfg], env=agent_env())
        s = sink.stats()
    finally:
        sink.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
    return {"workload": "a onside-agent, validating sink", "runs": 1, "wall": res.wall, "cpu": res.cpu,
            "rss_mb": res.rss_kb / 1024.0, "events": n, "requests": s["requests"], "check": check(s, n),
            "eps": n / res.wall, "cpu_us_ev": res.cpu / n * 1e6}


def run_syslog_ng(args, run_dir, data, sink, n, regex):
    """Starts syslog-ng on data with a fresh persist file, waits until the sink has n events, stops it.
    Wall time is from the start to the receipt of the last request (the sink's CLOCK_MONOTONIC)."""
    d = os.path.join(run_dir, "syslog-ng")
    os.makedirs(d)
    conf = syslog_ng_config(os.path.join(d, "syslog-ng.conf"), data, sink.url, regex)
    cmd = ["syslog-ng", "-F", "--no-caps", "-f", conf, "-R", os.path.join(d, "persist"),
           "-p", os.path.join(d, "pid"), "-c", os.path.join(d, "ctl")]
    t0 = time.monotonic_ns()
    with open(os.path.join(d, "stderr"), "wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    try:
        s = sink.wait_events(n, timeout=args.timeout)
        if s["events"] < n:
            log("syslog-ng delivered only %d of %d events within %ds" % (s["events"], n, args.timeout))
        wall = max(s["last_ns"] - t0, 1) / 1e9
        hwm = peak_rss_kb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        ru, _ = wait_rusage(proc, 30)
    res = Result(wall, ru, 0)
    res.rss_kb = hwm
    return res, s


def start_follow(agent, cfg):
    return subprocess.Popen([agent, "run", "-c", cfg], env=agent_env(), stdout=subprocess.DEVNULL,
                            stderr=open(cfg + ".stderr", "wb"))


def stop_follow(proc):
    """SIGTERM; returns (rusage, peak RSS in KiB read just before)."""
    hwm = peak_rss_kb(proc.pid)
    proc.send_signal(signal.SIGTERM)
    ru, rc = wait_rusage(proc, 30)
    return ru, hwm


def pace(writes_per_s, seconds, write):
    """Calls write(k) writes_per_s times a second for seconds, on a schedule (late calls catch up)."""
    total = int(writes_per_s * seconds)
    period = 1.0 / writes_per_s
    start = time.monotonic()
    for k in range(total):
        delay = start + k * period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        write(k)


def follow_one(args, tools, workdir, nfiles, rate_per_file_s, seconds, key):
    """One run of c (one file) or d (nfiles files): the agent follows, the writer appends, the sink
    measures write-to-receipt latency. Returns a dict of this run's figures."""
    agent, sink_bin, _ = tools
    sink = Sink(sink_bin, workdir, "--latency")
    run_dir = tempfile.mkdtemp(prefix="%s-run-" % key, dir=workdir)
    logs = os.path.join(run_dir, "logs")
    os.makedirs(logs)
    maker = LineMaker(key.upper())
    paths = [os.path.join(logs, "f%04d.log" % i) for i in range(nfiles)]
    fds = []
    proc = None
    try:
        # each file starts with one line, so the start-up delivery shows that every file is followed
        for p in paths:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.write(fd, maker.line())
            fds.append(fd)
        cfg = agent_config(os.path.join(run_dir, "agent.yaml"), sink.url, os.path.join(run_dir, "state"),
                           [os.path.join(logs, "*.log")], payload=PAYLOAD + ["wt"],
                           batch={"flush_interval": "100ms"})
        t0 = time.monotonic()
        proc = start_follow(agent, cfg)
        s = sink.wait_events(nfiles, timeout=60)
        startup = time.monotonic() - t0
        if s["events"] < nfiles:
            raise RuntimeError("%s: only %d of %d first lines delivered" % (key, s["events"], nfiles))
        sink.reset()
        cpu0, csw0 = task_counters(proc.pid)
        w0 = time.monotonic()
        if nfiles == 1:
            pace(rate_per_file_s, seconds, lambda k: os.write(fds[0], maker.line()))
        else:
            pace(rate_per_file_s, seconds, lambda k: [os.write(fd, maker.line()) for fd in fds])
        expected = int(rate_per_file_s * seconds) * nfiles
        s = sink.wait_events(expected, timeout=30)
        wall = time.monotonic() - w0
        cpu1, csw1 = task_counters(proc.pid)
        ru, hwm = stop_follow(proc)
        proc = None
    finally:
        for fd in fds:
            os.close(fd)
        if proc is not None:
            proc.kill()
            proc.wait()
        sink.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
    return {"wall": wall, "cpu": cpu1 - cpu0, "csw": sum(csw1) - sum(csw0), "rss_kb": hwm, "events": expected,
            "requests": s["requests"], "check": check(s, expected), "p50": s["latency_p50_ms"],
            "p99": s["latency_p99_ms"], "max": s["latency_max_ms"], "startup": startup}


def follow(args, tools, workdir, key):
    if key == "c":
        nfiles, rate, seconds, label = 1, 1000, args.follow_seconds, "follow 1,000 lines/s, 1 file"
    else:
        nfiles, rate, seconds, label = 1000, 1, args.many_seconds, "follow 1,000 files, 1 line/s each"
    runs = []
    for r in range(args.runs):
        log("%s: run %d/%d (%ds)" % (key, r + 1, args.runs, seconds))
        runs.append(follow_one(args, tools, workdir, nfiles, rate, seconds, key))
    n = runs[0]["events"]
    row = {"workload": "%s %s" % (key, label), "runs": len(runs), "wall": med([x["wall"] for x in runs]),
           "cpu": med([x["cpu"] for x in runs]), "rss_mb": med([x["rss_kb"] for x in runs]) / 1024.0,
           "events": n, "requests": med([x["requests"] for x in runs]),
           "check": ";".join(sorted(set(x["check"] for x in runs))),
           "p50": med([x["p50"] for x in runs]), "p99": med([x["p99"] for x in runs]),
           "max": med([x["max"] for x in runs]), "startup": med([x["startup"] for x in runs])}
    row["eps"] = n / row["wall"]
    row["cpu_us_ev"] = row["cpu"] / n * 1e6
    return row


def count_wakeups(pid, seconds):
    """Sleeps seconds while perf counts pid's returns from epoll_wait/epoll_pwait (each one is a wake-up
    of its event loop). None when perf or the syscall tracepoints are not available."""
    if not shutil.which("perf"):
        time.sleep(seconds)
        return None
    r = subprocess.run(["perf", "stat", "-x,", "-e", "syscalls:sys_exit_epoll_wait,syscalls:sys_exit_epoll_pwait",
                        "-p", str(pid), "--", "sleep", str(seconds)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, universal_newlines=True)
    total, seen = 0, False
    for line in r.stderr.splitlines():
        field = line.split(",")[0]
        if field.isdigit():
            total += int(field)
            seen = True
    return total if seen and r.returncode == 0 else None


def idle_one(args, tools, workdir):
    agent, sink_bin, _ = tools
    sink = Sink(sink_bin, workdir)
    run_dir = tempfile.mkdtemp(prefix="e-run-", dir=workdir)
    logs = os.path.join(run_dir, "logs")
    os.makedirs(logs)
    maker = LineMaker("E")
    proc = None
    try:
        for i in range(100):
            with open(os.path.join(logs, "f%03d.log" % i), "wb") as f:
                f.write(maker.line())
        # the production defaults (flush_interval 1s): idle is measured as shipped
        cfg = agent_config(os.path.join(run_dir, "agent.yaml"), sink.url, os.path.join(run_dir, "state"),
                           [os.path.join(logs, "*.log")])
        proc = start_follow(agent, cfg)
        s = sink.wait_events(100, timeout=60)
        if s["events"] < 100:
            raise RuntimeError("e: only %d of 100 first lines delivered" % s["events"])
        time.sleep(2)  # let the post-delivery checkpoint and metrics writes settle
        cpu0, csw0 = task_counters(proc.pid)
        wakeups = count_wakeups(proc.pid, args.idle_seconds)
        cpu1, csw1 = task_counters(proc.pid)
        ru, hwm = stop_follow(proc)
        proc = None
        s = sink.stats()
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        sink.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
    return {"cpu": cpu1 - cpu0, "wakeups": wakeups, "vcsw": csw1[0] - csw0[0], "ivcsw": csw1[1] - csw0[1], "rss_kb": hwm, "requests": s["requests"],
            "check": check(s, 100)}


def idle(args, tools, workdir):
    runs = []
    for r in range(args.runs):
        log("e: run %d/%d (%ds idle)" % (r + 1, args.runs, args.idle_seconds))
        runs.append(idle_one(args, tools, workdir))
    row = {"workload": "e idle, 100 files, %ds" % args.idle_seconds, "runs": len(runs),
           "wall": float(args.idle_seconds), "cpu": med([x["cpu"] for x in runs]),
           "rss_mb": med([x["rss_kb"] for x in runs]) / 1024.0, "events": 0,
           "requests": med([x["requests"] for x in runs]), "check": ";".join(sorted(set(x["check"] for x in runs))),
           "vcsw": med([x["vcsw"] for x in runs]), "ivcsw": med([x["ivcsw"] for x in runs])}
    row["eps"] = None
    row["cpu_us_ev"] = None
    row["cpu_per_min"] = row["cpu"] * 60.0 / args.idle_seconds
    loops = [x["wakeups"] for x in runs if x["wakeups"] is not None]
    row["loop_wakeups"] = med(loops) if len(loops) == len(runs) else None
    row["wakeups_s"] = (row["loop_wakeups"] if row["loop_wakeups"] is not None else row["vcsw"]) \
        / float(args.idle_seconds)
    return row


# --- network conditions: f, g, h ---------------------------------------------------------------

NET_WORKLOADS = {
    "f": "backfill, %g ms answers",
    "g": "backfill, %g ms answers, at most %d requests/s",
    "h": "backfill over TLS (nginx), %g ms answers",
}


def run_measured_log(cmd, env=None, timeout=600):
    """As run_measured, and also returns what cmd wrote to stderr (the agent's debug log)."""
    with tempfile.TemporaryFile() as err, open(os.devnull, "wb") as null, \
            tempfile.NamedTemporaryFile(prefix="rss-") as rss:
        wrapped = [GNU_TIME, "-f", "%M", "-o", rss.name] + cmd if GNU_TIME else cmd
        start = time.perf_counter()
        proc = subprocess.Popen(wrapped, stdout=null, stderr=err, env=env)
        ru, rc = wait_rusage(proc, timeout)
        wall = time.perf_counter() - start
        err.seek(0)
        text = err.read().decode(errors="replace")
        if rc != 0:
            raise RuntimeError("%s exited %s: %s" % (" ".join(cmd), rc, text[-2000:]))
        res = Result(wall, ru, rc)
        res.rss_kb = float(rss.read().split()[-1]) if GNU_TIME else float("nan")
    return res, text


def max_concurrency(log_text):
    """The highest concurrency limit the agent's debug log shows ("concurrency 3 -> 4: ..."), 1 if none."""
    best = 1
    for line in log_text.splitlines():
        if " concurrency " in line and " -> " in line:
            try:
                best = max(best, int(line.split(" -> ", 1)[1].split(":", 1)[0]))
            except ValueError:
                pass
    return best


def net_agent_config(path, url, state_dir, data, ca=None, batch=None):
    """agent_config's backfill configuration with the production defaults (max_in_flight: auto) and the
    debug log, which shows the concurrency limit move; ca: endpoint.ca_file for the TLS front."""
    agent_config(path, url, state_dir, [data], batch=batch)
    with open(path) as f:
        cfg = json.load(f)
    cfg["agent"]["log_level"] = "debug"
    if ca:
        cfg["endpoint"]["ca_file"] = ca
    with open(path, "w") as f:
        json.dump(cfg, f, indent=1)
    return path


def free_ports(n):
    """n ports free on 127.0.0.1 a moment ago (for nginx, which cannot report the port it took)."""
    import socket
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def children(pid):
    """The pids whose parent is pid (nginx's worker)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, IndexError, ValueError):
                continue
    return out


def make_cert(directory):
    """A self-signed certificate for 127.0.0.1 (its own CA), made with the openssl command."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    sh(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-addext", "basicConstraints=critical,CA:TRUE"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


class NginxFront:
    """nginx (tests/bench/nginx.conf) on 127.0.0.1 in front of a sink: plain HTTP, TLS with HTTP/1.1,
    and TLS offering h2 by ALPN, each on its own port; its access log counts connections (a TLS
    connection is one full handshake: no session resumption) and requests."""

    def __init__(self, nginx, workdir, sink_port):
        self.dir = tempfile.mkdtemp(prefix="nginx-", dir=workdir)
        for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(self.dir, d))
        self.cert, key = make_cert(self.dir)
        self.http_port, self.tls_port, self.h2_port = free_ports(3)
        with open(os.path.join(HERE, "nginx.conf")) as f:
            text = f.read()
        for k, v in (("@DIR@", self.dir), ("@CERT@", self.cert), ("@KEY@", key), ("@SINK_PORT@", sink_port),
                     ("@HTTP_PORT@", self.http_port), ("@TLS_PORT@", self.tls_port), ("@H2_PORT@", self.h2_port)):
            text = text.replace(k, str(v))
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(text)
        self.log = os.path.join(self.dir, "access.log")
        self.proc = subprocess.Popen([nginx, "-c", conf, "-e", os.path.join(self.dir, "error.log")],
                                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "stderr"), "wb"))
        import socket
        deadline = time.monotonic() + 10
        for port in (self.http_port, self.tls_port, self.h2_port):
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), 0.5).close()
                    break
                except OSError:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("nginx did not start: %s" % open(os.path.join(self.dir, "stderr")).read())
                    time.sleep(0.02)

    def url(self, mode):
        port = {"http": self.http_port, "tls": self.tls_port, "h2": self.h2_port}[mode]
        return "%s://127.0.0.1:%d%s" % ("http" if mode == "http" else "https", port, EVENTS_PATH)

    def reset_log(self):
        open(self.log, "w").close()  # nginx appends (O_APPEND): its next line goes at the new end

    def connections(self):
        """(connections, requests, protocols) of the API requests in the access log since reset_log."""
        conns, reqs, protos = set(), 0, set()
        with open(self.log) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 4:
                    conns.add(parts[0])
                    protos.add(parts[3])
                    reqs += 1
        return len(conns), reqs, sorted(protos)

    def cpu(self):
        return sum(task_counters(p)[0] for p in children(self.proc.pid))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: the workers finish and exit
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_fluent_bit(args, run_dir, data, sink, url, n, workers, ca=None):
    """Fluent Bit (tests/bench/fluent-bit.conf) on data with `workers` output workers; waits until the
    sink has n events, stops it. Wall time is from its start to the receipt of its last event."""
    d = os.path.join(run_dir, "fluent-bit")
    os.makedirs(os.path.join(d, "storage"))
    with open(os.path.join(HERE, "fluent-bit.conf")) as f:
        text = f.read()
    port = int(url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
    for k, v in (("@DIR@", d), ("@FILE@", data), ("@PORT@", port), ("@WORKERS@", workers),
                 ("@TLS@", "on" if url.startswith("https") else "off"), ("@CA@", ca or "/dev/null")):
        text = text.replace(k, str(v))
    conf = os.path.join(d, "fluent-bit.conf")
    with open(conf, "w") as f:
        f.write(text)
    with open(os.path.join(d, "parsers.conf"), "w") as f:
        f.write("[PARSER]\n    name   json\n    format json\n")
    shutil.copy(os.path.join(HERE, "fluent-bit.lua"), os.path.join(d, "fluent-bit.lua"))
    t0 = time.monotonic_ns()
    with open(os.path.join(d, "stderr"), "wb") as err:
        proc = subprocess.Popen([args.fluent_bit, "-c", conf], stdout=subprocess.DEVNULL, stderr=err)
    try:
        s = sink.wait_events(n, timeout=args.timeout)
        if s["events"] < n:
            log("fluent-bit delivered only %d of %d events within %ds" % (s["events"], n, args.timeout))
        wall = max(s["last_ns"] - t0, 1) / 1e9
        hwm = peak_rss_kb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        ru, _ = wait_rusage(proc, 30)
    res = Result(wall, ru, 0)
    res.rss_kb = hwm
    return res, s


def rate_figures(stats, allowed_eps, skip_s=10):
    """From the sink's per-second timeline: events/s after the first skip_s seconds (the last, partial
    second left out), the share of those seconds' requests answered 429, and the share overall."""
    tl = stats.get("timeline") or []
    steady = tl[skip_s:-1]
    req = sum(x[0] for x in steady)
    eps = sum(x[3] for x in steady) / len(steady) if steady else float("nan")
    share = sum(x[2] for x in steady) / req if req else float("nan")
    total = sum(x[0] for x in tl)
    share_all = sum(x[2] for x in tl) / total if total else float("nan")
    return {"steady_eps": eps, "steady_seconds": len(steady), "share_429": share, "share_429_all": share_all,
            "allowed_eps": allowed_eps}


def net_row(key, label, results, checks, requests, extra=None):
    n = results[0][1]
    rs = [r for r, _ in results]
    row = {"workload": "%s %s" % (key, label), "runs": len(rs), "wall": med([x.wall for x in rs]),
           "cpu": med([x.cpu for x in rs]), "rss_mb": med([x.rss_kb for x in rs]) / 1024.0, "events": n,
           "requests": med(requests), "check": ";".join(sorted(set(checks)))}
    row["eps"] = n / row["wall"]
    row["cpu_us_ev"] = row["cpu"] / n * 1e6
    row.update(extra or {})
    return row


def net_backfill(args, tools, workdir, key):
    """f (answers delayed by --delay-ms), g (and at most --rate requests/s accepted) or h (through the
    nginx TLS front: plain HTTP, TLS HTTP/1.1, TLS h2, and the sink directly), each the backfill of
    --net-lines lines with the default configuration; Fluent Bit beside the agent with --fluent-bit."""
    agent, sink_bin, _ = tools
    n = args.net_lines
    data = generate(workdir, n, "json")
    flags = ["--delay-ms", str(args.delay_ms)] + (["--rate", str(args.rate)] if key == "g" else [])
    sink = Sink(sink_bin, workdir, *flags)
    fb_sink = Sink(sink_bin, workdir, *(flags + ["--max-body", "8000000"])) if args.fluent_bit else None
    front = fb_front = None
    modes = [("direct", "plain HTTP, sink directly")]
    if key == "h":
        front = NginxFront(args.nginx, workdir, sink.port)
        if fb_sink:
            fb_front = NginxFront(args.nginx, workdir, fb_sink.port)
        modes = [("http", "plain HTTP/1.1 via nginx"), ("tls", "TLS, HTTP/1.1"), ("h2", "TLS, HTTP/2 (ALPN)"),
                 ("direct", "plain HTTP, sink directly")]
    runs = {m: [] for m, _ in modes}
    fb_runs = {m: [] for m, _ in modes}
    try:
        run_measured(["cat", data])
        for r in range(args.runs):
            for mode, _ in modes:
                log("%s: run %d/%d (%s)" % (key, r + 1, args.runs, mode))
                run_dir = tempfile.mkdtemp(prefix="%s-run-" % key, dir=workdir)
                url = sink.url if mode == "direct" else front.url(mode)
                cfg = net_agent_config(os.path.join(run_dir, "agent.yaml"), url, os.path.join(run_dir, "state"),
                                       data, ca=front.cert if front and mode != "direct" else None)
                sink.reset()
                if front:
                    front.reset_log()
                    ng0 = front.cpu()
                res, text = run_measured_log([agent, "run", "--once", "-c", cfg], env=agent_env())
                s = sink.stats()
                fig = {"stats": s, "check": check(s, n), "conc": max_concurrency(text)}
                if front and mode != "direct":
                    fig["conns"], fig["front_requests"], fig["protos"] = front.connections()
                    fig["nginx_cpu"] = front.cpu() - ng0
                runs[mode].append((res, fig))
                if args.fluent_bit:
                    fb_sink.reset()
                    fb_url = fb_sink.url if mode == "direct" else fb_front.url(mode)
                    res_fb, s_fb = run_fluent_bit(args, run_dir, data, fb_sink, fb_url, n, fig["conc"],
                                                  ca=fb_front.cert if fb_front and mode != "direct" else None)
                    fb_runs[mode].append((res_fb, {"stats": s_fb, "check": check(s_fb, n), "conc": fig["conc"]}))
                shutil.rmtree(run_dir, ignore_errors=True)
    finally:
        for x in (front, fb_front, sink, fb_sink):
            if x:
                x.stop()
    label = NET_WORKLOADS[key] % ((args.delay_ms, args.rate) if key == "g" else (args.delay_ms,))
    rows, refs = [], {}
    for mode, mlabel in modes:
        for who, rr in (("agent", runs[mode]), ("fluent-bit", fb_runs[mode])):
            if not rr:
                continue
            figs = [f for _, f in rr]
            extra = {"mode": mode, "conc": med([f["conc"] for f in figs]), "who": who}
            name = "onside-agent (default)" if who == "agent" else "fluent-bit (workers = agent's %d)" % extra["conc"]
            if key == "h":
                name += ", " + mlabel
            if "conns" in figs[0]:
                extra.update(conns=med([f["conns"] for f in figs]), protos=figs[0]["protos"],
                             nginx_cpu=med([f["nginx_cpu"] for f in figs]))
            if key == "g":
                rf = [rate_figures(f["stats"], args.rate * 1000) for f in figs]
                extra.update({k: med([x[k] for x in rf]) for k in rf[0]})
                extra["rate_limited"] = med([f["stats"]["rate_limited"] for f in figs])
            row = net_row(key, "%s: %s" % (label, name), [(r, n) for r, _ in rr], [f["check"] for f in figs],
                          [f["stats"]["requests"] for f in figs], extra)
            rows.append(row)
            refs[(who, mode)] = row
    return rows, refs


def net_notes(r):
    """The notes column of a row of f, g or h."""
    notes = []
    if "conc" in r:
        notes.append("concurrency up to %.0f" % r["conc"] if r["who"] == "agent" else "%.0f workers" % r["conc"])
    if "conns" in r:
        plural = "" if r["conns"] == 1 else "s"
        if r["mode"] == "http":
            notes.append("%.0f connection%s (no TLS)" % (r["conns"], plural))
        else:
            notes.append("%.0f connection%s = TLS handshake%s, %s" % (r["conns"], plural, plural,
                                                                      "/".join(r["protos"])))
        notes.append("nginx CPU %.2f s" % r["nginx_cpu"])
    if "steady_eps" in r:
        notes.append("after 10 s: %.0f events/s (%.1f%% of %d), %.2f%% answered 429 (%.2f%% overall, %.0f requests)"
                     % (r["steady_eps"], 100.0 * r["steady_eps"] / r["allowed_eps"], r["allowed_eps"],
                        100.0 * r["share_429"], 100.0 * r["share_429_all"], r["rate_limited"]))
    return notes


def net_targets(by_key, args):
    """The targets of f, g and h (ratios within the same run where they compare)."""
    t = []
    f = by_key.get("f")
    if f and ("agent", "direct") in f:
        ag = f[("agent", "direct")]
        ideal = 32 * 1000.0 / (args.delay_ms / 1000.0)
        t.append(("f: >= 250,000 events/s with the default configuration (%g ms answers)" % args.delay_ms,
                  "%.0f (%.0f%% of ceiling x 1,000 / RTT = %.0f)" % (ag["eps"], 100 * ag["eps"] / ideal, ideal),
                  ag["eps"] >= 250000))
        t.append(("f: nothing lost or duplicated", ag["check"], ag["check"] == "ok"))
    g = by_key.get("g")
    if g and ("agent", "direct") in g:
        ag = g[("agent", "direct")]
        ok = ag["steady_eps"] >= 0.9 * ag["allowed_eps"]
        t.append(("g: after 10 s >= 90%% of the allowed %d events/s" % ag["allowed_eps"],
                  "%.0f (%.1f%%)" % (ag["steady_eps"], 100.0 * ag["steady_eps"] / ag["allowed_eps"]), ok))
        t.append(("g: after 10 s <= 2% of requests answered 429", "%.2f%%" % (100 * ag["share_429"]),
                  ag["share_429"] <= 0.02))
        t.append(("g: nothing lost or duplicated", ag["check"], ag["check"] == "ok"))
    h = by_key.get("h")
    if h and ("agent", "http") in h:
        plain = h[("agent", "http")]
        for mode, name in (("tls", "TLS HTTP/1.1"), ("h2", "TLS HTTP/2")):
            if ("agent", mode) not in h:
                continue
            row = h[("agent", mode)]
            r = row["eps"] / plain["eps"]
            t.append(("h: %s events/s within 15%% of plain HTTP's (same nginx front)" % name, "%.2fx" % r, r >= 0.85))
            want = 1 if mode == "h2" else row["conc"]
            t.append(("h: %s one TLS handshake per kept-alive connection (<= %s)" %
                      (name, "1: multiplexed" if mode == "h2" else "peak concurrency"),
                      "%.0f handshakes, %.0f requests" % (row["conns"], row["requests"]), row["conns"] <= want))
            t.append(("h: %s nothing lost or duplicated" % name, row["check"], row["check"] == "ok"))
    return t


def baseline_compare(args, tools, workdir):
    """Workload a with this agent and with the agent built from --baseline (the same data, sink and
    default configuration), interleaved run by run, at least 9 runs each: is the change slower on
    loopback?"""
    agent, sink_bin, _ = tools
    old = build_baseline(args)
    n = args.lines
    data = generate(workdir, n, "json")
    sink = Sink(sink_bin, workdir)
    res = {"new": [], "old": []}
    checks = {"new": [], "old": []}
    runs = max(args.runs, 9)  # a run lasts a second; the medians of 3 swing by 20% on a shared machine
    try:
        run_measured(["cat", data])
        for r in range(runs):
            for who, binary in (("new", agent), ("old", old)):
                log("a (baseline %s): run %d/%d, %s binary" % (args.baseline, r + 1, runs, who))
                run_dir = tempfile.mkdtemp(prefix="a-base-", dir=workdir)
                cfg = agent_config(os.path.join(run_dir, "agent.yaml"), sink.url, os.path.join(run_dir, "state"),
                                   [data])
                sink.reset()
                res[who].append(run_measured([binary, "run", "--once", "-c", cfg], env=agent_env()))
                checks[who].append(check(sink.stats(), n))
                shutil.rmtree(run_dir, ignore_errors=True)
    finally:
        sink.stop()
    rows = []
    for who, name in (("new", "this build"), ("old", "baseline %s" % args.baseline)):
        row = net_row("a", "onside-agent run --once, %s, same run" % name, [(x, n) for x in res[who]],
                      checks[who], [0])
        row["requests"] = None
        rows.append(row)
    return rows


def build_baseline(args):
    """The agent of commit --baseline, built (Release) from a clean export in <build>-baseline."""
    src = args.build.rstrip("/") + "-baseline-src"
    bdir = args.build.rstrip("/") + "-baseline"
    shutil.rmtree(src, ignore_errors=True)
    os.makedirs(src)
    archive = subprocess.run(["git", "-C", TOP, "archive", "--format=tar", args.baseline], check=True,
                             stdout=subprocess.PIPE).stdout
    subprocess.run(["tar", "-x", "-C", src], input=archive, check=True)
    log("building the baseline %s into %s" % (args.baseline, bdir))
    configure(src, bdir, [])
    sh(["cmake", "--build", bdir, "-j2", "--target", "onside-agent"], stdout=subprocess.DEVNULL)
    return os.path.join(bdir, "onside-agent")


# --- profile -------------------------------------------------------------------------------------

def profile(args, tools, workdir):
    """perf record -g (DWARF unwinding, 400 Hz) of workload a with a frame-pointer build; prints the top
    functions by self cost, then the inclusive cost of the agent's own functions."""
    if not shutil.which("perf"):
        log("perf is not installed: no profile")
        return None
    agent = build_profile(args)
    _, sink_bin, _ = tools
    data = generate(workdir, args.lines, "json")
    sink = Sink(sink_bin, workdir)
    run_dir = tempfile.mkdtemp(prefix="profile-", dir=workdir)
    perf_data = os.path.join(args.build, "perf.data")
    try:
        cfg = agent_config(os.path.join(run_dir, "agent.yaml"), sink.url, os.path.join(run_dir, "state"), [data])
        log("profiling workload a with perf record -g")
        sh(["perf", "record", "-q", "--call-graph", "dwarf,16384", "-F", "400", "-o", perf_data, "--", agent, "run", "--once", "-c", cfg],
           env=agent_env(), stderr=subprocess.DEVNULL)
        report = subprocess.run(["perf", "report", "-i", perf_data, "--no-children", "--stdio", "-g", "none",
                                 "--percent-limit", "0.5", "-F", "overhead,sym,dso"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True).stdout
        incl = subprocess.run(["perf", "report", "-i", perf_data, "--children", "--stdio", "-g", "none",
                               "--percent-limit", "3", "--sort", "sym,dso"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True).stdout
    finally:
        sink.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
    lines = [ln for ln in report.splitlines() if ln.strip() and not ln.startswith("#")][:15]
    lines.append("inclusive cost (children, self), above 3%:")
    lines += [ln for ln in incl.splitlines() if ln.strip() and not ln.startswith("#")][:40]
    return lines


# --- the table -----------------------------------------------------------------------------------

def fmt(v, spec):
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    return spec % v


def print_table(rows, ratios, targets, meta):
    print()
    print("onside-agent benchmark, %s, agent at %s" % (meta["date"], meta["rev"]))
    print("machine: %s, %d cores (nproc), load average at start %s" % (meta["cpu"], meta["nproc"], meta["load"]))
    print("medians of %d runs; events/s = events delivered / wall seconds; CPU = user+sys of the process" %
          meta["runs"])
    print()
    head = ("workload", "runs", "wall s", "events/s", "CPU s", "CPU us/ev", "peak RSS MB", "requests",
            "check", "notes")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        notes = []
        if "p50" in r:
            notes.append("latency p50 %.1f ms, p99 %.1f ms, max %.1f ms" % (r["p50"], r["p99"], r["max"]))
            notes.append("start-up %.2f s" % r["startup"])
        if "wakeups_s" in r:
            notes.append("%.4f CPU s/min; %s event-loop wake-ups (%.2f/s); context switches %.0f voluntary + "
                         "%.0f involuntary" % (r["cpu_per_min"], fmt(r["loop_wakeups"], "%.0f"), r["wakeups_s"],
                                               r["vcsw"], r["ivcsw"]))
        if "mb_s" in r:
            notes.append("%.0f MB/s" % r["mb_s"])
        if "sink_cpu" in r:
            notes.append("sink CPU %.2f s" % r["sink_cpu"])
        notes += net_notes(r)
        print("| " + " | ".join([
            r["workload"], str(r["runs"]), fmt(r["wall"], "%.3f"), fmt(r.get("eps"), "%.0f"),
            fmt(r["cpu"], "%.3f"), fmt(r.get("cpu_us_ev"), "%.2f"), fmt(r["rss_mb"], "%.1f"),
            fmt(r.get("requests"), "%.0f"), r.get("check") or "-", "; ".join(notes) or "-"]) + " |")
    if ratios:
        print()
        print("| ratio (same run) | value |")
        print("|---|---|")
        for k, v in ratios:
            print("| %s | %.2f |" % (k, v))
    if targets:
        print()
        print("| target | measured | verdict |")
        print("|---|---|---|")
        for name, measured, ok in targets:
            print("| %s | %s | %s |" % (name, measured, "PASS" if ok else "FAIL"))
    print()


def targets_for(rows_by_key, ratios_by_key):
    t = []
    a = rows_by_key.get("a")
    if a:
        ag = a["agent"]
        t.append(("a: >= 1,200,000 events/s wall (counting sink)", "%.0f" % ag["eps"], ag["eps"] >= 1200000))
        if "jsonc" in a:
            r = ag["cpu"] / a["jsonc"]["cpu"]
            t.append(("a: agent CPU/event <= 1.6x json-c loop", "%.2fx" % r, r <= 1.6))
        t.append(("a: peak RSS <= 16 MB", "%.1f MB" % ag["rss_mb"], ag["rss_mb"] <= 16))
        if "syslog-ng" in a:
            r = ag["eps"] / a["syslog-ng"]["eps"]
            t.append(("a: events/s >= 5x syslog-ng", "%.2fx" % r, r >= 5))
        t.append(("a: nothing lost or duplicated", ag["check"], ag["check"] == "ok"))
        if "alt" in a:
            # the portable binary against the native one (packaging/README.md, "Speed")
            alt = a["alt"]
            r = alt["eps"] / ag["eps"]
            t.append(("a: --agent events/s >= 0.85x the agent's", "%.2fx" % r, r >= 0.85))
            r = alt["cpu"] / ag["cpu"]
            t.append(("a: --agent CPU/event <= 1.15x the agent's", "%.2fx" % r, r <= 1.15))
            d = alt["rss_mb"] - ag["rss_mb"]
            t.append(("a: --agent peak RSS <= the agent's + 2 MB", "%+.1f MB" % d, d <= 2))
            t.append(("a: --agent nothing lost or duplicated", alt["check"], alt["check"] == "ok"))
    b = rows_by_key.get("b")
    if b:
        t.append(("b: regex >= 1,000,000 lines/s", "%.0f" % b["agent"]["eps"], b["agent"]["eps"] >= 1000000))
    c = rows_by_key.get("c")
    if c:
        t.append(("c: p99 <= 150 ms", "%.1f ms" % c["p99"], c["p99"] <= 150))
    e = rows_by_key.get("e")
    if e:
        t.append(("e: <= 0.01 CPU s per idle minute", "%.4f" % e["cpu_per_min"], e["cpu_per_min"] <= 0.01))
        what = "epoll_wait returns" if e["loop_wakeups"] is not None else "voluntary context switches"
        t.append(("e: <= 1 wake-up per second (%s)" % what, "%.2f/s" % e["wakeups_s"], e["wakeups_s"] <= 1.0))
    return t


def revision():
    """The measured commit, and whether the work tree differs from it (when built from the work tree)."""
    try:
        rev = subprocess.run(["git", "-C", TOP, "rev-parse", "--short", "HEAD"], check=True,
                             stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", TOP, "status", "--porcelain", "--untracked-files=no", "--", "agent",
                                "parsers", "config", "CMakeLists.txt"], check=True, stdout=subprocess.PIPE,
                               universal_newlines=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + (" + uncommitted changes" if dirty else "")


def machine():
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": model, "nproc": os.cpu_count() or 0, "load": "%.2f %.2f %.2f" % os.getloadavg(),
            "date": time.strftime("%Y-%m-%d %H:%M %Z")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="200,000 lines, 10 s windows")
    ap.add_argument("--only", default="a,b,c,d,e,f,g,h", help="comma-separated workloads (a,b,c,d,e,f,g,h)")
    ap.add_argument("--runs", type=int, default=3, help="runs per workload; the median is reported (>= 3)")
    ap.add_argument("--lines", type=int, help="lines for a and b (default 1,000,000; --quick 200,000)")
    ap.add_argument("--build", default=os.path.join(TOP, "build-bench"))
    ap.add_argument("--workdir", help="where data and state go (default: a new temporary directory)")
    ap.add_argument("--no-build", action="store_true", help="use what is already in --build")
    ap.add_argument("--rev", help="build this commit (git archive into <build>-src) instead of the work tree")
    ap.add_argument("--no-syslog-ng", action="store_true")
    ap.add_argument("--no-validate", action="store_true", help="skip the run against the validating sink")
    ap.add_argument("--profile", action="store_true", help="also perf-profile workload a")
    ap.add_argument("--timeout", type=int, default=300, help="seconds one run may take")
    ap.add_argument("--json", help="also write the results to this file as JSON")
    ap.add_argument("--agent", help="also run workloads a and b with this onside-agent binary (e.g. the portable "
                                    "build-portable/onside-agent), interleaved with the built one, and compare")
    ap.add_argument("--baseline", metavar="REV", help="also run workload a with the agent of this commit")
    ap.add_argument("--fluent-bit", metavar="PATH", help="run this Fluent Bit beside the agent in f, g and h")
    ap.add_argument("--net-lines", type=int, default=1000000, help="lines for f, g and h (default 1,000,000)")
    ap.add_argument("--delay-ms", type=float, default=50, help="f, g, h: the sink holds each answer this long")
    ap.add_argument("--rate", type=int, default=50, help="g: requests the sink accepts per second")
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx",
                    help="nginx for workload h (Debian: apt-get install nginx-light)")
    args = ap.parse_args()
    if args.agent:
        args.agent = os.path.abspath(args.agent)
        if not os.access(args.agent, os.X_OK):
            ap.error("--agent %s is not an executable" % args.agent)
    if args.runs < 3:
        ap.error("--runs must be at least 3 (the table reports medians)")
    args.lines = args.lines or (200000 if args.quick else 1000000)
    args.follow_seconds = 10 if args.quick else 60
    args.many_seconds = 10 if args.quick else 30
    args.idle_seconds = 10 if args.quick else 60
    only = [w.strip() for w in args.only.split(",") if w.strip()]
    for w in only:
        if w not in "abcdefgh" or len(w) != 1:
            ap.error("unknown workload %r" % w)
    if "h" in only and not os.access(args.nginx, os.X_OK):
        log("nginx is not installed (apt-get install nginx-light): no workload h")
        only.remove("h")
    if args.fluent_bit and not os.access(args.fluent_bit, os.X_OK):
        ap.error("--fluent-bit %s: not an executable" % args.fluent_bit)
    if not args.no_syslog_ng and not shutil.which("syslog-ng"):
        log("syslog-ng is not installed (apt-get install syslog-ng-core syslog-ng-mod-http): no syslog-ng row")
        args.no_syslog_ng = True

    meta = machine()
    meta["runs"] = args.runs
    meta["rev"] = revision() if not args.rev else subprocess.run(
        ["git", "-C", TOP, "rev-parse", "--short", args.rev], check=True, stdout=subprocess.PIPE,
        universal_newlines=True).stdout.strip()
    tools = build(args)
    workdir = args.workdir or tempfile.mkdtemp(prefix="onside-bench-")
    os.makedirs(workdir, exist_ok=True)
    rows, ratios, by_key = [], [], {}
    try:
        for key in only:
            if key in "ab":
                out, rat, refs = backfill(args, tools, workdir, regex=(key == "b"))
                rows.extend(out)
                ratios.extend(("%s: %s" % (key, k), v) for k, v in rat.items())
                by_key[key] = refs
            elif key in "cd":
                row = follow(args, tools, workdir, key)
                rows.append(row)
                by_key[key] = row
            elif key in "fgh":
                out, refs = net_backfill(args, tools, workdir, key)
                rows.extend(out)
                by_key[key] = refs
            else:
                row = idle(args, tools, workdir)
                rows.append(row)
                by_key[key] = row
        if args.baseline and "a" in only:
            base = baseline_compare(args, tools, workdir)
            rows.extend(base)
            ratios.append(("a: events/s, this build / baseline %s (same run)" % args.baseline,
                           base[0]["eps"] / base[1]["eps"]))
            by_key["a-baseline"] = base
        prof = profile(args, tools, workdir) if args.profile else None
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    targets = targets_for(by_key, ratios) + net_targets(by_key, args)
    if "a-baseline" in by_key:
        new, old = by_key["a-baseline"]
        r = new["eps"] / old["eps"]
        targets.append(("a: not slower than %s (events/s ratio, medians, same run; >= 0.97: the noise)" %
                        args.baseline, "%.2fx" % r, r >= 0.97))
    print_table(rows, ratios, targets, meta)
    if prof:
        print("perf record -g, workload a (%d lines), self cost:" % args.lines)
        for ln in prof:
            print("    " + ln.strip())
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "rows": rows, "ratios": ratios,
                       "targets": [{"target": n, "measured": m, "pass": ok} for n, m, ok in targets],
                       "profile": prof}, f, indent=1)


if __name__ == "__main__":
    main()
