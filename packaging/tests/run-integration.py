#!/usr/bin/env python3
"""Runs every tests/integration/test_*.py against one agent binary, the way CTest would but without
CTest (for roots that hold nothing but the binary and Python), and fails unless every test file passed
and every skipped test gave a reason matching --allow-skip.

    python3 packaging/tests/run-integration.py --agent build-portable/onside-agent \
        --allow-skip 'statically linked \\(the portable build\\): it cannot load parser plugins'

Prints one line per test file (exit code, passed, failed, skipped, seconds), then every distinct skip
reason with its count, then "integration: N passed, M failed, K skipped (all for allowed reasons)".
Output of each file goes to --logs DIR. Python 3.9 standard library only."""
import argparse
import collections
import glob
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agent", required=True, help="the onside-agent binary (ONSIDE_AGENT)")
    ap.add_argument("--wrapper", default="", help="ONSIDE_AGENT_WRAPPER, e.g. packaging/tests/oldkernel")
    ap.add_argument("--allow-skip", action="append", default=[], help="a regex a skip reason may match")
    ap.add_argument("--logs", default="/tmp/onside-integration-logs")
    ap.add_argument("--plugin-dir", help="ONSIDE_PLUGIN_DIR (example plugins of a native build)")
    ap.add_argument("files", nargs="*", help="test files (default: every tests/integration/test_*.py)")
    args = ap.parse_args()
    os.makedirs(args.logs, exist_ok=True)
    env = dict(os.environ, ONSIDE_AGENT=os.path.abspath(args.agent), ONSIDE_SOURCE_DIR=TOP)
    if args.wrapper:
        env["ONSIDE_AGENT_WRAPPER"] = args.wrapper
    if args.plugin_dir:
        env["ONSIDE_PLUGIN_DIR"] = os.path.abspath(args.plugin_dir)
    files = args.files or sorted(glob.glob(os.path.join(TOP, "tests", "integration", "test_*.py")))
    totals = collections.Counter()
    reasons = collections.Counter()
    bad_files = []
    for f in files:
        name = os.path.basename(f)[:-3]
        log = os.path.join(args.logs, name + ".log")
        start = time.monotonic()
        with open(log, "wb") as out:
            rc = subprocess.run([sys.executable, f], env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=TOP).returncode
        secs = time.monotonic() - start
        text = open(log, encoding="utf-8", errors="replace").read()
        m = re.search(r"^(\d+) passed, (\d+) failed$", text, re.M)
        passed, failed = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        skips = re.findall(r"\.\.\. skipped '(.*)'$", text, re.M)
        for s in skips:
            reasons[s] += 1
        totals.update(passed=passed, failed=failed, skipped=len(skips))
        if rc != 0 or not m:
            bad_files.append(name)
        print("%-16s exit %d  %3d passed  %d failed  %2d skipped  %5.1f s" % (name, rc, passed, failed, len(skips),
                                                                              secs), flush=True)
    disallowed = [r for r in reasons if not any(re.search(a, r) for a in args.allow_skip)]
    for r, n in sorted(reasons.items()):
        print("skipped %2dx: %s%s" % (n, r, "" if r not in disallowed else "   <- not an allowed reason"))
    print("integration: %d passed, %d failed, %d skipped (%s); logs in %s" % (
        totals["passed"], totals["failed"], totals["skipped"],
        "all for allowed reasons" if not disallowed else "%d for reasons not allowed" % len(disallowed), args.logs))
    if bad_files:
        print("failed: %s" % " ".join(bad_files))
    return 1 if bad_files or disallowed else 0


if __name__ == "__main__":
    sys.exit(main())
