#!/usr/bin/env python3
"""Fault-injection soak: the agent follows three rotating inputs while the stand-in fails on purpose.

    python3 tests/soak/soak.py [--duration 600] [--seed 1] [--rate 200] [--keep]

For --duration seconds a writer appends purchase lines (about --rate a second) to
  - app/app.log, rotated every few seconds, alternately by rename (app.log -> app.log.1 -> ... -> .3,
    the oldest deleted) and by delete-and-recreate;
  - shop/*.purchases.log, a new dated-style file every few seconds, files three generations old deleted;
  - link/current.log, a symlink switched atomically to a new target file every few seconds;
while the stand-in answers 20% of requests with 5xx, 10% with 429 and Retry-After, resets 5% of
connections and answers 5% slower than the agent's timeout (so those batches are recorded and then
resent: duplicates on the wire). Then it waits for the agent to catch up, stops it with SIGTERM and
checks: every line written is delivered, no event was invented, every id is the one derived from
its file and offset (docs/reference.md, "Event ids"), nothing was dead-lettered, the agent exited 0 and its
RSS at the end is within a few MiB of its RSS after warm-up. It prints lines, requests, retries,
duplicates and RSS at start and end; exit status 0 when every check passed.

The agent is $ONSIDE_AGENT (else the first build*/onside-agent), optionally behind
$ONSIDE_AGENT_WRAPPER. tests/integration/test_faults.py runs the same soak for about a minute in CI.
"""

import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import agentlib  # noqa: E402

NAMESPACE = "soak-ns"
FAULTS = {"fault_5xx": 0.20, "fault_429": 0.10, "retry_after": 1, "fault_reset": 0.05, "fault_slow": 0.05}
TIMEOUT_S = 1.0        # the agent's endpoint.timeout
SLOW_S = 1.6           # slow answers take longer than that
RSS_SLACK_KIB = 4096   # "flat": the end may exceed the start by at most this much


class Generation:
    """One physical log file: its input, the bytes written to it (in order) and where it is now."""

    def __init__(self, input_name, path):
        self.input = input_name
        self.path = path
        self.content = bytearray()


class Writer(threading.Thread):
    """Appends deterministic purchase lines (unique order ids S-<n>) and rotates the files."""

    def __init__(self, root, seed, rate, rotate_every):
        super().__init__(daemon=True)
        self.root = root
        self.rng = random.Random(seed)
        self.rate = rate
        self.rotate_every = rotate_every
        self.stop_event = threading.Event()
        self.gens = []
        self.lines = 0
        self.rotations = {"rename": 0, "delete": 0, "new_file": 0, "symlink": 0}
        self.seq = 1
        self.error = None
        for d in ("app", "shop", "link"):
            os.makedirs(os.path.join(root, d), exist_ok=True)
        self.app = self.new_gen("app", os.path.join(root, "app", "app.log"))
        self.shop_n = 0
        self.shop = self.new_gen("shop", self.shop_path(0))
        self.link_n = 0
        self.link = self.new_gen("link", self.link_target(0))
        os.symlink(os.path.basename(self.link.path), os.path.join(root, "link", "current.log"))

    def paths(self):
        """(input name, path or glob) of each input."""
        return [("app", os.path.join(self.root, "app", "app.log")),
                ("shop", os.path.join(self.root, "shop", "*.purchases.log")),
                ("link", os.path.join(self.root, "link", "current.log"))]

    def shop_path(self, n):
        return os.path.join(self.root, "shop", "2026-05-%04d.purchases.log" % n)

    def link_target(self, n):
        return os.path.join(self.root, "link", "data-%04d.log" % n)

    def new_gen(self, input_name, path):
        g = Generation(input_name, path)
        with open(path, "wb"):
            pass
        self.gens.append(g)
        return g

    def append(self, gen, n, via=None):
        lines = list(agentlib.purchase_lines(n, seed=self.rng.getrandbits(32), start=self.seq,
                                             currencies=("USD", "EUR", "GBP")))
        lines = [ln.replace('"order_id":"A-', '"order_id":"S-') for ln in lines]
        self.seq += n
        data = b"".join(ln.encode() + b"\n" for ln in lines)
        with open(via or gen.path, "ab") as f:
            f.write(data)  # whole lines in one write: a reader never sees half of one at rotation
        gen.content += data
        self.lines += n

    def rotate_app(self):
        d = os.path.join(self.root, "app")
        if self.rotations["rename"] <= self.rotations["delete"]:
            oldest = os.path.join(d, "app.log.3")
            if os.path.exists(oldest):
                os.unlink(oldest)
            for k in (2, 1):
                src = os.path.join(d, "app.log.%d" % k)
                if os.path.exists(src):
                    os.rename(src, os.path.join(d, "app.log.%d" % (k + 1)))
                    self.moved(src, os.path.join(d, "app.log.%d" % (k + 1)))
            os.rename(self.app.path, os.path.join(d, "app.log.1"))
            self.app.path = os.path.join(d, "app.log.1")
            self.rotations["rename"] += 1
        else:
            os.unlink(self.app.path)
            self.app.path = None
            self.rotations["delete"] += 1
        self.app = self.new_gen("app", os.path.join(d, "app.log"))

    def moved(self, src, dst):
        for g in self.gens:
            if g.path == src:
                g.path = dst

    def rotate_shop(self):
        self.shop_n += 1
        old = self.shop_path(self.shop_n - 3)
        if os.path.exists(old):
            os.unlink(old)
        self.shop = self.new_gen("shop", self.shop_path(self.shop_n))
        self.rotations["new_file"] += 1

    def rotate_link(self):
        self.link_n += 1
        d = os.path.join(self.root, "link")
        self.link = self.new_gen("link", self.link_target(self.link_n))
        tmp = os.path.join(d, ".current.tmp")
        os.symlink(os.path.basename(self.link.path), tmp)
        os.rename(tmp, os.path.join(d, "current.log"))  # atomic switch
        old = self.link_target(self.link_n - 3)
        if os.path.exists(old):
            os.unlink(old)
        self.rotations["symlink"] += 1

    def run(self):
        try:
            tick = 0.05
            per_tick = self.rate * tick
            carry = 0.0
            start = time.monotonic()
            nxt = {"app": start + self.rotate_every, "shop": start + self.rotate_every * 1.5,
                   "link": start + self.rotate_every * 2.0}
            while not self.stop_event.is_set():
                carry += per_tick
                n, carry = int(carry), carry - int(carry)
                for _ in range(n):
                    which = self.rng.random()
                    if which < 0.4:
                        self.append(self.app, 1)
                    elif which < 0.7:
                        self.append(self.shop, 1)
                    else:
                        self.append(self.link, 1, via=os.path.join(self.root, "link", "current.log"))
                now = time.monotonic()
                if now >= nxt["app"]:
                    self.rotate_app()
                    nxt["app"] = now + self.rotate_every
                if now >= nxt["shop"]:
                    self.rotate_shop()
                    nxt["shop"] = now + self.rotate_every * 1.5
                if now >= nxt["link"]:
                    self.rotate_link()
                    nxt["link"] = now + self.rotate_every * 2.0
                time.sleep(tick)
        except Exception as e:  # reported by the soak, never swallowed
            self.error = e

    def expected(self):
        """{event_id: order_id} for every line written."""
        out = {}
        for g in self.gens:
            content = bytes(g.content)
            for (off, line), eid in zip(agentlib.file_lines(content),
                                        agentlib.expected_pos_ids(content, NAMESPACE, g.input)):
                out[eid] = json.loads(line)["order_id"]
        return out


class Soak:
    def __init__(self, workdir, duration, seed=1, rate=200, rotate_every=None):
        self.dir = workdir
        self.duration = duration
        self.seed = seed
        self.rate = rate
        self.rotate_every = rotate_every or (5.0 if duration <= 120 else 10.0)
        self.figures = {}
        self.problems = []

    def config(self, standin, writer):
        inputs = []
        for name, glob in writer.paths():
            inp = agentlib.default_input([glob], name=name)
            inp["rotate_wait"] = "2s"
            inputs.append(inp)
        return agentlib.write_config(
            os.path.join(self.dir, "agent.yaml"), standin=standin, inputs=inputs,
            endpoint={"timeout": "%dms" % int(TIMEOUT_S * 1000)},
            agent={"id_namespace": NAMESPACE, "shutdown_timeout": "10s"},
            batch={"max_events": 200, "flush_interval": "200ms", "max_in_flight": 4},
            retry={"initial_backoff": "100ms", "max_backoff": "2s"})

    def run(self):
        standin_dir = os.path.join(self.dir, "standin")
        os.makedirs(standin_dir, exist_ok=True)
        standin = agentlib.StandIn(directory=standin_dir, seed=self.seed, slow_seconds=SLOW_S, **FAULTS)
        standin.start()
        proc = None
        try:
            writer = Writer(os.path.join(self.dir, "logs"), self.seed, self.rate, self.rotate_every)
            cfg = self.config(standin, writer)
            proc = agentlib.start_agent(["run", "-c", cfg], stderr_path=os.path.join(self.dir, "agent.stderr"))
            started = time.monotonic()
            writer.start()
            warm = min(60.0, self.duration * 0.25)
            rss = []
            next_sample = started
            while time.monotonic() - started < self.duration:
                if proc.poll() is not None:
                    self.problems.append("the agent exited with %s while running" % proc.returncode)
                    break
                if time.monotonic() >= next_sample:
                    rss.append((time.monotonic() - started, agentlib.proc_status_kib(proc.pid)))
                    next_sample += 5.0
                time.sleep(0.2)
            writer.stop_event.set()
            writer.join()
            if writer.error:
                self.problems.append("the writer failed: %r" % (writer.error,))
            expected = writer.expected()
            drain_limit = max(30.0, self.duration * 0.1)
            drained = time.monotonic()
            while proc.poll() is None and time.monotonic() - drained < drain_limit:
                if set(expected) <= set(standin.event_ids()):
                    break
                time.sleep(0.5)
            drain = time.monotonic() - drained
            end_rss = agentlib.proc_status_kib(proc.pid) if proc.poll() is None else 0
            rss.append((time.monotonic() - started, end_rss))
            rc = agentlib.stop_agent(proc, timeout=30)
            if rc != 0:
                self.problems.append("the agent exited with %s after SIGTERM" % rc)
            self.check(standin, writer, expected, rss, warm, drain, rc)
        finally:
            if proc is not None and proc.poll() is None:
                agentlib.stop_agent(proc, signal.SIGKILL)
            standin.stop()
        return self.problems

    def check(self, standin, writer, expected, rss, warm, drain, rc):
        events = standin.events()
        stats = standin.stats()
        got_ids = [e["event_id"] for e in events]
        unique = set(got_ids)
        missing = set(expected) - unique
        invented = unique - set(expected)
        mismatched = [e for e in events if e["event_id"] in expected
                      and e["payload"].get("order_id") != expected[e["event_id"]]]
        dl_path = os.path.join(self.dir, "state", "dead-letter.jsonl")
        dead = open(dl_path).read().splitlines() if os.path.exists(dl_path) else []
        retries = None
        metrics = os.path.join(self.dir, "state", "metrics.prom")
        if os.path.exists(metrics):
            for line in open(metrics):
                if line.startswith("onside_agent_retries_total "):
                    retries = int(float(line.split()[1]))
        start_rss = [k for t, k in rss if t >= warm and k]
        start_rss = start_rss[0] if start_rss else 0
        end_rss = rss[-1][1]
        self.figures = {
            "duration_s": self.duration,
            "lines": writer.lines,
            "files": len(writer.gens),
            "rotations": dict(writer.rotations),
            "events_recorded": len(events),
            "unique_events": len(unique),
            "duplicates_sent": len(events) - len(unique),
            "requests": stats["requests"],
            "accepted_requests": stats["accepted_requests"],
            "failed_requests": stats["requests"] - stats["accepted_requests"],
            "retries": retries,
            "faults": stats["faults"],
            "by_status": stats["by_status"],
            "drain_s": round(drain, 1),
            "rss_start_kib": start_rss,
            "rss_end_kib": end_rss,
            "rss_samples_kib": [k for _, k in rss],
            "exit": rc,
        }
        if missing:
            self.problems.append("%d lines never delivered, e.g. %s" % (len(missing), sorted(missing)[:3]))
        if invented:
            self.problems.append("%d events invented (no such line), e.g. %s" % (len(invented), sorted(invented)[:3]))
        if mismatched:
            self.problems.append("%d events whose id belongs to another line, e.g. %s" % (len(mismatched), mismatched[:1]))
        if dead:
            self.problems.append("%d dead-letter entries, e.g. %s" % (len(dead), dead[0][:300]))
        if writer.lines < self.rate * self.duration * 0.5:
            self.problems.append("the writer wrote only %d lines" % writer.lines)
        for kind in ("5xx", "429", "reset", "slow"):
            if not stats["faults"].get(kind):
                self.problems.append("no %s fault was injected" % kind)
        asan = agentlib.sanitized(agentlib.agent_binary())
        if not start_rss or not end_rss:
            self.problems.append("no RSS samples (start %d, end %d KiB)" % (start_rss, end_rss))
        elif end_rss - start_rss > RSS_SLACK_KIB:
            msg = "RSS grew from %d KiB to %d KiB" % (start_rss, end_rss)
            if asan or os.environ.get("ONSIDE_AGENT_WRAPPER"):
                self.figures["rss_note"] = msg + " (sanitizer or wrapper: not judged)"
            else:
                self.problems.append(msg)

    def report(self):
        f = self.figures
        lines = [
            "soak: %(duration_s)ss, %(lines)d lines in %(files)d files" % f,
            "  rotations: %s" % f["rotations"],
            "  requests %(requests)d (accepted %(accepted_requests)d, failed %(failed_requests)d), "
            "retries %(retries)s" % f,
            "  faults injected: %s" % f["faults"],
            "  events recorded %(events_recorded)d, unique %(unique_events)d, duplicates sent %(duplicates_sent)d"
            % f,
            "  drain after the writer stopped: %(drain_s)ss; agent exit status %(exit)s" % f,
            "  RSS start %(rss_start_kib)d KiB, end %(rss_end_kib)d KiB" % f,
            "  RSS samples (KiB, every 5s): %s" % f["rss_samples_kib"],
        ]
        if f.get("rss_note"):
            lines.append("  " + f["rss_note"])
        lines.append("  result: " + ("OK" if not self.problems else "FAILED: " + "; ".join(self.problems)))
        return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=600.0, help="seconds of writing (default 600)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rate", type=float, default=200.0, help="lines per second (default 200)")
    ap.add_argument("--keep", action="store_true", help="keep the working directory")
    args = ap.parse_args(argv)
    work = tempfile.mkdtemp(prefix="onside-soak-")
    soak = Soak(work, args.duration, seed=args.seed, rate=args.rate)
    try:
        soak.run()
        print(soak.report())
        print(json.dumps(soak.figures, sort_keys=True))
    finally:
        if args.keep or soak.problems:
            print("working directory kept: %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if soak.problems else 0


if __name__ == "__main__":
    sys.exit(main())
