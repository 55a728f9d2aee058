#!/usr/bin/env python3
"""File names the agent does not choose, through the real binary: followed files whose names hold
invalid UTF-8, terminal escapes, C1 controls, a newline, quotes and backslashes. metrics.prom stays
valid UTF-8 and valid Prometheus text exposition format (parsed strictly here, as node_exporter's
textfile collector would refuse it), with one series per path; `status` shows every name escaped
(nothing reaches the terminal raw) and finds each file again (no false "(rotated)")."""

import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agentlib  # noqa: E402
from agentlib import append_lines, purchase_lines, run_agent, wait_for  # noqa: E402

NAMES = [
    b"plain.log",
    b"bad-\xff\xfe.log",
    b"esc-\x1b[2J\x1b]0;owned\x07.log",
    b"c1-\xc2\x9b31m.log",
    b"new\nline.log",
    b'quote-"-back\\slash.log',
    b"utf8-\xc3\xa9\xe2\x82\xac.log",
    b"tab\tand\rcr.log",
]

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def shown(name):
    """A name as the agent shows it (escape.c, written independently): printable ASCII as is but the
    backslash doubled, valid UTF-8 outside the C0, DEL and C1 controls as is, any other byte \\xHH."""
    out, i = [], 0
    while i < len(name):
        c = name[i]
        if 0x20 <= c < 0x7f:
            out.append("\\\\" if c == 0x5C else chr(c))
            i += 1
            continue
        k = 2 if 0xC2 <= c <= 0xDF else 3 if 0xE0 <= c <= 0xEF else 4 if 0xF0 <= c <= 0xF4 else 0
        try:
            ch = name[i:i + k].decode("utf-8") if k and i + k <= len(name) else None
        except UnicodeDecodeError:
            ch = None
        if ch is not None and not 0x80 <= ord(ch) <= 0x9F:
            out.append(ch)
            i += k
        else:
            out.append("\\x%02x" % c)
            i += 1
    return "".join(out)


def unshown(text):
    """The bytes behind an escaped name (the inverse of shown)."""
    out, i = bytearray(), 0
    while i < len(text):
        if text.startswith("\\\\", i):
            out += b"\\"
            i += 2
        elif text.startswith("\\x", i):
            out.append(int(text[i + 2:i + 4], 16))
            i += 4
        else:
            out += text[i].encode("utf-8")
            i += 1
    return bytes(out)


def parse_labels(s, where):
    """{name: value} of a {...} label set's inside (the exposition format's escapes: \\\\ \\" \\n)."""
    labels, i = {}, 0
    while i < len(s):
        eq = s.index("=", i)
        name = s[i:eq]
        if not LABEL_NAME.match(name) or name in labels or s[eq + 1:eq + 2] != '"':
            raise AssertionError("%s: bad label near %r" % (where, s[i:]))
        i, value = eq + 2, []
        while s[i] != '"':
            if s[i] == "\\":
                esc = {"\\": "\\", '"': '"', "n": "\n"}.get(s[i + 1])
                if esc is None:
                    raise AssertionError("%s: invalid escape \\%s" % (where, s[i + 1]))
                value.append(esc)
                i += 2
            else:
                value.append(s[i])
                i += 1
        labels[name] = "".join(value)
        i += 1
        if i < len(s):
            if s[i] != ",":
                raise AssertionError("%s: expected ',' at %r" % (where, s[i:]))
            i += 1
    return labels


def parse_exposition(data):
    """Strictly parses Prometheus text exposition format: UTF-8, every sample after its family's TYPE,
    families contiguous, no series twice. Returns {(name, ((label, value), ...)): value}."""
    text = data.decode("utf-8")  # strict: invalid UTF-8 raises
    if not text.endswith("\n"):
        raise AssertionError("no final newline")
    series, typed, done, current = {}, {}, set(), None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = "metrics.prom line %d" % n
        if not line or (line.startswith("#") and not line.startswith(("# HELP ", "# TYPE "))):
            continue
        if line.startswith("# HELP "):
            name = line[7:].split(" ", 1)[0]
            if not METRIC_NAME.match(name):
                raise AssertionError("%s: bad metric name %r" % (where, name))
            continue
        if line.startswith("# TYPE "):
            parts = line[7:].split(" ")
            if len(parts) != 2 or not METRIC_NAME.match(parts[0]) or parts[1] not in TYPES or parts[0] in typed:
                raise AssertionError("%s: bad TYPE line %r" % (where, line))
            typed[parts[0]] = parts[1]
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?\Z", line, re.S)
        if not m:
            raise AssertionError("%s: not a sample: %r" % (where, line))
        name = m.group(1)
        if name not in typed:
            raise AssertionError("%s: %s has no TYPE before it" % (where, name))
        if name != current:
            if name in done:
                raise AssertionError("%s: %s is not contiguous" % (where, name))
            if current:
                done.add(current)
            current = name
        float(m.group(4))
        key = (name, tuple(sorted(parse_labels(m.group(3) or "", where).items())))
        if key in series:
            raise AssertionError("%s: series %r twice" % (where, key))
        series[key] = float(m.group(4))
    return series


def lag_series(state):
    with open(os.path.join(state, "metrics.prom"), "rb") as f:
        series = parse_exposition(f.read())
    return {unshown(dict(labels)["path"]): v for (name, labels), v in series.items()
            if name == "onside_agent_file_lag_bytes"}


class HostileFileNames(agentlib.AgentTestCase):
    def make_logs(self):
        logs = self.path("logs")
        os.mkdir(logs)
        paths = []
        for k, name in enumerate(NAMES):
            p = os.path.join(os.fsencode(logs), name)
            append_lines(p, purchase_lines(2, seed=k, start=1 + 2 * k))
            paths.append(p)
        return logs, paths

    def test_metrics_stay_valid_exposition_format_and_name_every_file(self):
        logs, paths = self.make_logs()
        cfg = self.config(paths=[os.path.join(logs, "*.log")])
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(self.standin.events()), 2 * len(NAMES))
        lags = lag_series(self.path("state"))
        self.assertEqual(sorted(lags), sorted(paths))
        self.assertEqual(set(lags.values()), {0.0})

    def test_status_escapes_names_and_finds_every_file(self):
        logs, paths = self.make_logs()
        cfg = self.config(paths=[os.path.join(logs, "*.log")])
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        p = subprocess.run(agentlib.agent_command() + ["status", "-c", cfg], env=self.env(),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        out = p.stdout.decode("utf-8")  # strict
        self.assertTrue(out.endswith("\n"))
        _, _, rows = agentlib.status_lines(out)
        self.assertEqual(len(rows), len(NAMES))
        for row in rows:
            self.assertIsNone(re.search("[\x00-\x1f\x7f-\x9f]", row), repr(row))
        for path in paths:
            size = os.path.getsize(path)
            want = shown(path)
            row = [r for r in rows if r.startswith(want + " ")]
            self.assertEqual(len(row), 1, (want, rows))
            self.assertEqual(row[0][len(want):].split()[:3], [str(size), str(size), "0"], row[0])
            self.assertNotIn("(rotated)", row[0])


class OneSeriesPerPath(agentlib.AgentTestCase):
    def test_a_deleted_file_still_read_and_its_successor_are_one_series(self):
        self.standin.control(mode="down")
        log = self.write_log(purchase_lines(3, seed=20))
        cfg = self.config(paths=[log], input={"rotate_wait": "1h"})
        state = self.path("state")
        proc = self.start_agent(["run", "-c", cfg])
        wait_for(lambda: os.path.exists(os.path.join(state, "metrics.prom")) and
                 lag_series(state).get(os.fsencode(log)) == os.path.getsize(log), timeout=15,
                 message="the lag of the first file")
        first = os.path.getsize(log)
        os.unlink(log)  # deleted, still open: a renamed file would have taken its new name
        append_lines(log, purchase_lines(2, seed=21, start=4))
        second = os.path.getsize(log)
        wait_for(lambda: "reading it to its end" in agentlib.agent_stderr(proc) and
                 agentlib.agent_stderr(proc).count("following %s " % log) == 2, timeout=15,
                 message="the rotation followed")
        # nothing is delivered while the API is down: the path lags by both files
        wait_for(lambda: lag_series(state).get(os.fsencode(log)) == first + second, timeout=15,
                 message="one series with the lag of both files")
        self.assertEqual(agentlib.stop_agent(proc), 0)


if __name__ == "__main__":
    agentlib.main()
