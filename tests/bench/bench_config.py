#!/usr/bin/env python3
"""How long loading and validating a large configuration takes (`check`, and `run --once` from start
to exit with no log file), for the shapes that once were quadratic: 110,000 payload names in a list,
60,000 in a mapping of templates, 110,000 `match` fields, 6,000 inputs. Each file stays under the
1 MiB configuration limit. Prints the median of --runs runs per binary.

    python3 tests/bench/bench_config.py [--agent BINARY] [--baseline BINARY] [--runs N]

--agent defaults to build/onside-agent; --baseline (e.g. a build of an older commit) adds a column."""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def name(i):
    s = ""
    while True:
        s = ALPHABET[i % 36] + s
        i //= 36
        if i == 0:
            return "f" + s


def head(state, log):
    return ("endpoint:\n  username: u\n  password_env: BENCH_PASSWORD\n"
            "agent:\n  state_dir: %s\n  id_namespace: bench\n" % state)


def one_input(log, extra="", input_name="a"):
    return ("  - name: %s\n    paths: [%s]\n%s    event:\n      event_name: ${e}\n      event_datetime: ${t}\n"
            "      installation_id: ${i}\n" % (input_name, log, extra))


def shapes(state, log):
    yield "payload list, 110,000 names", head(state, log) + "inputs:\n" + one_input(log) + \
        "      payload: [" + ",".join(name(i) for i in range(110000)) + "]\n"
    yield "payload map, 60,000 names", head(state, log) + "inputs:\n" + one_input(log) + \
        "      payload: {" + ",".join("%s: '${a}'" % name(i) for i in range(60000)) + "}\n"
    yield "match, 110,000 fields", head(state, log) + "inputs:\n" + \
        one_input(log, "    match: {" + ",".join("%s: x" % name(i) for i in range(110000)) + "}\n")
    yield "6,000 inputs", head(state, log) + "inputs:\n" + "".join(
        "- {name: i%d, paths: [%s.%d], event: {event_name: e, event_datetime: t, installation_id: i}}\n"
        % (i, log, i) for i in range(6000))


def timed(cmd, env):
    t = time.monotonic()
    p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.monotonic() - t
    if p.returncode != 0:
        sys.exit("%s failed (%d): %s" % (" ".join(cmd), p.returncode, p.stderr.decode(errors="replace")[-500:]))
    return dt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agent", default=os.path.join(REPO, "build", "onside-agent"))
    ap.add_argument("--baseline")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    binaries = [("agent", a.agent)] + ([("baseline", a.baseline)] if a.baseline else [])
    env = dict(os.environ, BENCH_PASSWORD="bench")
    work = tempfile.mkdtemp(prefix="onside-bench-config-")
    try:
        print("%-30s %-18s" % ("configuration", "command") + "".join(" %12s" % b for b, _ in binaries))
        for label, text in shapes(os.path.join(work, "state"), os.path.join(work, "none.log")):
            cfg = os.path.join(work, "agent.yaml")
            with open(cfg, "w") as f:
                f.write(text)
            assert os.path.getsize(cfg) <= 1 << 20, label
            for cmd in (["check"], ["run", "--once"]):
                cells = []
                for _, exe in binaries:
                    runs = []
                    for _ in range(a.runs):
                        shutil.rmtree(os.path.join(work, "state"), ignore_errors=True)
                        runs.append(timed([exe] + cmd + ["-c", cfg], env))
                    cells.append(" %11.2fs" % statistics.median(runs))
                print("%-30s %-18s" % (label, " ".join(cmd)) + "".join(cells), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
