"""Helpers for the file-following tests (test_rotation.py, test_restarts.py, test_many_files.py): a
writer that appends lines like an application and knows each written line's id (docs/reference.md),
logrotate runs, and the verifier that compares what arrived at the stand-in with what was written.

The writer computes each line's id from where its bytes really landed: it writes with O_APPEND and
reads its descriptor's offset after the write, so a copytruncate between two lines (the next line lands
at offset 0 and becomes the first line) is seen exactly."""

import gzip
import os
import shutil
import subprocess
import threading
import time
import unittest

import agentlib
from agentlib import event_id_pos, expected_pos_ids

NS = "test-ns"
INPUT = "purchases"


class Writer(threading.Thread):
    """Appends lines to path at a steady pace (one every interval seconds) until stop(). Holds its
    descriptor like an application; when the path names another file (or none) it reopens the path
    (as an application told by postrotate would), unless reopen=False. ids: the id of every line
    written, in order."""

    def __init__(self, path, count=100000, seed=0, interval=0.002, reopen=True):
        super().__init__(daemon=True)
        self.path, self.interval, self.reopen = path, interval, reopen
        self.lines = [line.encode() for line in agentlib.purchase_lines(count, seed=seed)]
        self.ids = []
        self.lock = threading.Lock()
        self._halt = threading.Event()
        self._paused = threading.Event()
        self.fd = None
        self.first = None

    def _open(self):
        if self.fd is not None:
            os.close(self.fd)
        self.fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        self.first = None

    def _replaced(self):
        try:
            return os.stat(self.path).st_ino != os.fstat(self.fd).st_ino
        except FileNotFoundError:
            return False  # between a rename and the create: go on writing the old file

    def write_one(self):
        """Writes the next line and records its id; returns False when the lines ran out."""
        k = len(self.ids)
        if k >= len(self.lines):
            return False
        if self.fd is None or (self.reopen and self._replaced()):
            self._open()
        data = self.lines[k] + b"\n"
        os.write(self.fd, data)
        off = os.lseek(self.fd, 0, os.SEEK_CUR) - len(data)
        if off == 0:
            self.first = self.lines[k]
        elif self.first is None:
            self.first = os.pread(self.fd, 4096, 0).split(b"\n", 1)[0]
        with self.lock:
            self.ids.append(event_id_pos(NS, INPUT, self.first, off, self.lines[k]))
        return True

    def run(self):
        while not self._halt.is_set():
            if not self._paused.is_set() and not self.write_one():
                break
            time.sleep(self.interval)

    def written(self):
        with self.lock:
            return len(self.ids)

    def wait_written(self, n, timeout=30):
        agentlib.wait_for(lambda: self.written() >= n, timeout, message="%d lines written" % n)

    def stop(self):
        self._halt.set()
        self.join(10)
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        return list(self.ids)


def file_ids(directory):
    """The ids of every complete line of every file in directory (gzip files decompressed)."""
    ids = []
    for name in sorted(os.listdir(directory)):
        p = os.path.join(directory, name)
        if not os.path.isfile(p) or name.endswith(".state") or name.endswith(".conf"):
            continue
        if name.endswith(".gz"):
            with gzip.open(p, "rb") as f:
                ids += expected_pos_ids(f.read(), NS, INPUT)
        else:
            ids += expected_pos_ids(p, NS, INPUT)
    return ids


def logrotate_binary():
    path = shutil.which("logrotate") or ("/usr/sbin/logrotate" if os.path.exists("/usr/sbin/logrotate") else None)
    if path is None:
        raise unittest.SkipTest("logrotate is not installed (scripts/deps.sh installs it)")
    return path


class Logrotate:
    """logrotate with its own config and state file in workdir, forced on every run()."""

    def __init__(self, workdir, log, directives):
        self.binary = logrotate_binary()
        self.conf = os.path.join(workdir, "logrotate.conf")
        self.state = os.path.join(workdir, "logrotate.state")
        with open(self.conf, "w") as f:
            f.write("%s {\n    rotate 50\n    missingok\n    nomail\n%s\n}\n"
                    % (log, "\n".join("    " + d for d in directives)))

    def run(self):
        p = subprocess.run([self.binary, "-s", self.state, "-f", self.conf], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        if p.returncode != 0:
            raise AssertionError("logrotate failed: %s" % p.stdout.decode(errors="replace"))


def figures(case, written, arrived, accepted, lost=0):
    """One line for the report: lines written, delivered (distinct ids that arrived), duplicated on
    the wire (accepted events beyond the first of each id) and lost in copytruncate's window."""
    line = "FIGURES %s: written %d, delivered %d, duplicated %d, lost in the copytruncate window %d" % (
        case, written, len(set(arrived)), accepted - len(set(arrived)), lost)
    print(line, flush=True)
    out = os.environ.get("ONSIDE_FIGURES")
    if out:
        with open(out, "a") as f:
            f.write(line + "\n")


def verify(test, case, written_ids, standin, present_ids=None, window_ok=False):
    """Every written line arrived with its id; nothing else arrived. With window_ok (copytruncate),
    a written line may be missing only if it is in no file on disk (logrotate truncated it away
    between copy and truncate). Returns the figures."""
    arrived = standin.event_ids()
    written = set(written_ids)
    test.assertEqual(len(written), len(written_ids), "the writer produced duplicate ids")
    invented = set(arrived) - written
    test.assertFalse(invented, "%d ids arrived that no written line has" % len(invented))
    lost = written - set(arrived)
    if window_ok:
        present = set(present_ids or [])
        test.assertFalse(lost & present, "%d lines still on disk never arrived" % len(lost & present))
    else:
        test.assertFalse(lost, "%d written lines never arrived" % len(lost))
    figures(case, len(written_ids), arrived, standin.stats()["accepted_events"], len(lost))
    return arrived
