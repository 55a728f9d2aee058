#!/usr/bin/env python3
"""Local times in IANA zones (agent/tzone.c reads the TZif files itself, so that each input can have
its own zone on every mapping thread) against zdump, the reference reader of the same files: every
transition of a set of zones from 2015 to 2030, the second before and the second of it, goes through
`onside-agent parse` as a local time and must come out as zdump's UT.

A local time that exists twice (clocks set back) is read as its earlier instant, as mktime does with
tm_isdst = -1 (documented in the man page): for zdump's line just after such a transition, the
expected instant is the one a "gmtoff" earlier. A local time in a gap does not appear in zdump's
output, so none is tested here (test_timefmt covers the rule)."""

import json
import os
import shutil
import subprocess
import tempfile
import unittest
from datetime import datetime, timedelta, timezone

import agentlib

ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",   # a 30-minute DST shift
    "America/Sao_Paulo",     # DST abolished in 2019
    "Asia/Kolkata",          # +05:30, no DST
    "Pacific/Chatham",       # +12:45 / +13:45
    "America/St_Johns",      # -03:30 / -02:30
    "Africa/Casablanca",     # DST suspended every Ramadan
    "Europe/Dublin",         # "negative DST" in the TZif data
]
IID = "550e8400-e29b-41d4-a716-446655440000"
FMT = "%Y-%m-%d %H:%M:%S"


def zdump_transitions(zone):
    """(local "Y-m-d H:M:S", expected UTC datetime) for zdump's lines of 2015..2030."""
    zdump = shutil.which("zdump") or "/usr/sbin/zdump"
    if not os.path.exists(zdump):
        raise unittest.SkipTest("zdump is not installed (libc-bin)")
    out = subprocess.run([zdump, "-v", "-c", "2015,2031", zone], stdout=subprocess.PIPE, check=True,
                         env=dict(os.environ, LC_ALL="C")).stdout.decode()
    rows = []
    for line in out.splitlines():
        # the boundary lines of the time range, outside 2015..2030: "= NULL" (older zdump); "(gmtime
        # failed)" and the year -2147481748 (Debian 13's)
        if line.endswith("= NULL") or "failed)" in line:
            continue
        # ZONE  Sun Mar 30 00:59:59 2025 UT = Sun Mar 30 01:59:59 2025 CET isdst=0 gmtoff=3600
        left, right = line.split(" UT = ")
        if not 2015 <= int(left.split()[-1]) <= 2031:
            continue
        ut = datetime.strptime(" ".join(left.split()[-5:]), "%a %b %d %H:%M:%S %Y").replace(tzinfo=timezone.utc)
        fields = right.split()
        local = datetime.strptime(" ".join(fields[:5]), "%a %b %d %H:%M:%S %Y")
        gmtoff = int(fields[-1].split("=")[1])
        rows.append((local, ut, gmtoff))
    expected = []
    for i, (local, ut, off) in enumerate(rows):
        if i % 2 == 1 and off < rows[i - 1][2]:
            # just after clocks were set back: this wall time happened first at the old offset
            ut = ut - timedelta(seconds=rows[i - 1][2] - off)
        expected.append((local.strftime(FMT), ut))
    return expected


class TimeZones(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="onside-tz-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def parse(self, zone, locals_):
        cfg = agentlib.write_config(os.path.join(self.tmp, "agent.yaml"), endpoint=None,
                                    input={"event": {"time_format": FMT, "timezone": zone}})
        lines = "".join(json.dumps({"event": "purchase", "ts": t, "install_id": IID, "order_id": str(i)}) + "\n"
                        for i, t in enumerate(locals_))
        p = subprocess.run(agentlib.agent_command() + ["parse", "-c", cfg], input=lines.encode(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                           env=agentlib.agent_env())
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        return [json.loads(l) for l in p.stdout.decode().splitlines()]

    def test_every_transition_matches_zdump(self):
        checked = 0
        for zone in ZONES:
            with self.subTest(zone=zone):
                rows = zdump_transitions(zone)
                if not rows:
                    continue
                out = self.parse(zone, [local for local, _ in rows])
                self.assertEqual(len(out), len(rows))
                for (local, ut), ev in zip(rows, out):
                    self.assertIn("event_datetime", ev, ev)
                    self.assertEqual(ev["event_datetime"], ut.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                     "%s %s" % (zone, local))
                    checked += 1
        self.assertGreater(checked, 300)


if __name__ == "__main__":
    agentlib.main()
