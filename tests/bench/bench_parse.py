#!/usr/bin/env python3
"""Benchmark of the line-to-event path: `onside-agent parse` over 1,000,000 generated JSON purchase
lines, median of 5 runs, beside `cat FILE > /dev/null` measured in the same run.

usage: tests/bench/bench_parse.py [--lines N] [--runs R] [--build DIR]
Builds a Release binary in DIR (default build-bench-parse; bench.py owns build-bench) first.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CONFIG = """inputs:
  - name: purchases
    paths: [/nonexistent/purchases.log]
    parser: {type: json}
    event:
      event_name: ${event}
      event_datetime: ${ts}
      installation_id: ${install_id}
      payload: [order_id, currency, amount, sku]
agent:
  id_namespace: bench
"""


def timed(cmd, stdin_path=None):
    """Wall seconds and CPU seconds (user+sys) of one run of cmd with stdout to /dev/null."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(os.devnull, "wb") as null:
        subprocess.run(cmd, stdout=null, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1000000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--build", default=os.path.join(TOP, "build-bench-parse"))
    args = ap.parse_args()

    subprocess.run(["cmake", "-S", TOP, "-B", args.build, "-DCMAKE_BUILD_TYPE=Release", "-DONSIDE_TESTS=OFF"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", args.build, "-j2", "--target", "onside-agent"], check=True,
                   stdout=subprocess.DEVNULL)
    agent = os.path.join(args.build, "onside-agent")
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "purchases.log")
        cfg = os.path.join(tmp, "agent.yaml")
        subprocess.run([sys.executable, os.path.join(TOP, "tests/bench/gen_purchases.py"), str(args.lines), data],
                       check=True)
        with open(cfg, "w") as f:
            f.write(CONFIG)
        size = os.path.getsize(data)
        rows = []
        for name, cmd in (("cat FILE > /dev/null", ["cat", data]),
                          ("onside-agent parse", [agent, "parse", "-c", cfg, data])):
            timed(cmd)  # warm the page cache
            runs = [timed(cmd) for _ in range(args.runs)]
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            rows.append((name, wall, cpu))
        print("%d lines, %.1f MB, median of %d runs" % (args.lines, size / 1e6, args.runs))
        print("%-24s %10s %10s %14s" % ("command", "wall s", "cpu s", "lines/s"))
        for name, wall, cpu in rows:
            print("%-24s %10.3f %10.3f %14.0f" % (name, wall, cpu, args.lines / wall))
        print("parse / cat wall ratio: %.1f" % (rows[1][1] / rows[0][1]))


if __name__ == "__main__":
    main()
