#!/usr/bin/env python3
"""Parsers on log files as operators have them, through the real binary: nightly CSV exports whose
columns shift from file to file (mapped on two threads, resumed after a restart and after a reload in
the middle of a file), Java logs where nine lines in ten are not purchases, syslog times without a
year read around New Year, and `check --sample` on real lines.

Every expected event is computed here, independently of the agent: the CSV rows with Python's csv
module and each file's own header, regex lines with Python's re, times with datetime, and ids with
agentlib's implementation of docs/reference.md's event-id derivation. What the stand-in received from `run`,
and what `parse PATH` prints, must both equal it, line for line.
"""

import csv
import datetime
import glob
import io
import json
import os
import random
import re
import signal
import subprocess
import uuid

import agentlib
from agentlib import run_agent, wait_for

NS = "test-ns"
INPUT = "purchases"
TWO_THREADS = {"ONSIDE_TEST_MAP_THREADS": "1"}  # the caller and one thread map at once
NEW_YEAR_NOW = "2027-01-01T00:30:00Z"


metrics = agentlib.metrics


def file_lines(path):
    """(offset, line) of every complete line of the file, as docs/reference.md cuts them."""
    with open(path, "rb") as f:
        return agentlib.file_lines(f.read())


def first_line(path):
    with open(path, "rb") as f:
        return f.read().split(b"\n", 1)[0]


# --- CSV exports -------------------------------------------------------------------------------

def csv_rows(n, seed, start):
    """n purchases as dicts: ts (one second apart), event, install_id, order_id, currency, amount,
    coupon (one with a comma and a quote in it, which the CSV writer quotes)."""
    rng = random.Random(seed)
    base = datetime.datetime(2026, 5, 5, 12, 0, 0, tzinfo=datetime.timezone.utc)
    rows = []
    for k in range(start, start + n):
        rows.append({
            "ts": (base + datetime.timedelta(seconds=k)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "event": "purchase_completed" if k % 7 else "purchase_renewed",
            "install_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "order_id": "N-%d" % k,
            "currency": rng.choice(["EUR", "USD", "JPY"]),
            "amount": "%d.%02d" % (rng.randint(0, 300), rng.randint(0, 99)),
            "coupon": rng.choice(["", "SPRING", 'SAVE,10 "VIP"']),
        })
    return rows


def write_csv(path, columns, rows):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([r[c] for c in columns])
    with open(path, "a", newline="") as f:
        f.write(buf.getvalue())


def append_csv_rows(path, columns, rows):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for r in rows:
        w.writerow([r[c] for c in columns])
    with open(path, "a", newline="") as f:
        f.write(buf.getvalue())


def expected_csv(path):
    """{offset: event} for every data row of the file, mapped with the file's own header."""
    lines = file_lines(path)
    header = next(csv.reader([lines[0][1].decode()]))
    out = {}
    for off, line in lines[1:]:
        row = dict(zip(header, next(csv.reader([line.decode()]))))
        out[off] = {
            "event_name": row["event"],
            "payload": {"order_id": row["order_id"], "currency": row["currency"], "amount": row["amount"]},
            "event_datetime": row["ts"],
            "event_id": agentlib.event_id_pos(NS, INPUT, lines[0][1], off, line),
            "installation_id": row["install_id"],
        }
    return out


CSV_INPUT = {
    "parser": {"type": "csv", "header": True},
    "event": {"event_name": "${event}", "event_datetime": "${ts}", "installation_id": "${install_id}",
              "payload": ["order_id", "currency", "amount"]},
}

NIGHT1 = ["ts", "event", "install_id", "order_id", "currency", "amount"]
NIGHT2 = ["amount", "currency", "ts", "install_id", "event", "order_id"]          # reordered
NIGHT3 = ["ts", "coupon", "event", "install_id", "order_id", "currency", "amount"]  # one added


class Case(agentlib.AgentTestCase):
    def parse_objects(self, cfg, path, env=None):
        p = subprocess.run(agentlib.agent_command() + ["parse", "-c", cfg, path], env=env or self.env(),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        return [json.loads(x) for x in p.stdout.decode().splitlines()]

    def assert_parse_equals(self, cfg, path, expected, skipped_offsets=(), env=None):
        """parse PATH gives, line for line, the expected event or a skip for the header."""
        objs = self.parse_objects(cfg, path, env)
        lines = file_lines(path)
        self.assertEqual(len(objs), len(lines))
        for (off, line), obj in zip(lines, objs):
            if off in expected:
                self.assertEqual(obj, expected[off], "%s offset %d" % (path, off))
            else:
                self.assertIn(off, skipped_offsets, "%s offset %d: %r" % (path, off, obj))
                self.assertIn("skipped", obj)
                self.assertEqual(obj["line"], line.decode())

    def assert_received(self, expected_by_file):
        want = {}
        for exp in expected_by_file:
            for ev in exp.values():
                want[ev["event_id"]] = ev
        got = self.standin.events()
        self.assertEqual(len(got), len(want), "events received (duplicates or losses)")
        self.assertEqual({e["event_id"]: e for e in got}, want)


class CsvExports(Case):
    def test_nightly_exports_with_shifting_columns_on_two_threads(self):
        files = []
        for i, cols in enumerate((NIGHT1, NIGHT2, NIGHT3)):
            p = self.path("export-%d.csv" % (i + 1))
            write_csv(p, cols, csv_rows(6000, seed=i, start=i * 6000))
            files.append(p)
        cfg = self.config(paths=[self.path("export-*.csv")], input=CSV_INPUT)
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env(**TWO_THREADS), timeout=180)
        self.assertEqual(rc, 0, err)
        expected = [expected_csv(p) for p in files]
        self.assert_received(expected)
        self.assertEqual(agentlib.deadletters(self.path("state")), [])
        m = metrics(self.path("state"))
        self.assertEqual(m['onside_agent_events_skipped_total{reason="parser"}'], 3)  # the headers
        self.assertEqual(m["onside_agent_events_sent_total"], 18000)
        for p, exp in zip(files, expected):
            self.assert_parse_equals(cfg, p, exp, skipped_offsets=(0,))

    def test_restart_in_the_middle_of_a_file_reads_its_header_from_the_file(self):
        log = self.path("export.csv")
        rows = csv_rows(400, seed=7, start=0)
        write_csv(log, NIGHT2, rows[:150])
        cfg = self.config(paths=[log], input=CSV_INPUT)
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env(**TWO_THREADS))
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(self.standin.events()), 150)
        # the next run starts at row 151: its columns still come from the file's first line
        append_csv_rows(log, NIGHT2, rows[150:])
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env(**TWO_THREADS))
        self.assertEqual(rc, 0, err)
        self.assert_received([expected_csv(log)])
        self.assertEqual(agentlib.deadletters(self.path("state")), [])
        m = metrics(self.path("state"))
        self.assertEqual(m["onside_agent_lines_read_total"], 250)  # the second run's lines
        self.assertEqual(m['onside_agent_events_skipped_total{reason="parser"}'], 0)

    def test_reload_in_the_middle_of_a_file_keeps_its_header(self):
        log = self.path("export.csv")
        rows = csv_rows(300, seed=8, start=0)
        write_csv(log, NIGHT3, rows[:100])
        cfg = self.config(paths=[log], input=CSV_INPUT)
        proc = self.start_agent(["run", "-c", cfg], env=self.env(**TWO_THREADS))
        self.standin.wait_events(100, timeout=30)
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reloaded" in agentlib.agent_stderr(proc), timeout=20, message="the reload")
        # new parser instances: the rows that follow are still read with the file's header
        append_csv_rows(log, NIGHT3, rows[100:])
        self.standin.wait_events(300, timeout=30)
        self.assertEqual(agentlib.stop_agent(proc), 0, agentlib.agent_stderr(proc))
        self.assert_received([expected_csv(log)])
        self.assertEqual(agentlib.deadletters(self.path("state")), [])

    def test_parse_on_stdin_takes_the_first_line_read_as_the_header(self):
        log = self.path("export.csv")
        write_csv(log, NIGHT2, csv_rows(20, seed=12, start=0))
        cfg = self.config(paths=[log], input=CSV_INPUT)
        with open(log, "rb") as f:
            data = f.read()
        p = subprocess.run(agentlib.agent_command() + ["parse", "-c", cfg], env=self.env(), input=data,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual((p.returncode, p.stderr), (0, b""))
        objs = [json.loads(x) for x in p.stdout.decode().splitlines()]
        self.assertEqual(objs, self.parse_objects(cfg, log))
        self.assertEqual(objs[0], {"skipped": "parser skipped the line: csv header line",
                                   "line": ",".join(NIGHT2)})
        self.assertEqual({o["event_id"]: o for o in objs[1:]},
                         {e["event_id"]: e for e in expected_csv(log).values()})

    def test_a_short_row_is_rejected_naming_the_missing_field(self):
        log = self.path("export.csv")
        write_csv(log, NIGHT1, csv_rows(3, seed=9, start=0))
        with open(log, "a") as f:  # the export was cut short in its last row
            f.write("2026-05-05T13:00:00Z,purchase_completed,e3e70682-c209-4cac-a29f-6fbed82c07cd,N-99,EUR\n")
        cfg = self.config(paths=[log], input=CSV_INPUT)
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(self.standin.events()), 3)
        dl = agentlib.deadletters(self.path("state"))
        self.assertEqual([d["reason"] for d in dl], ["parse error: missing field amount (5 fields, 6 columns)"])
        self.assertEqual(dl[0]["offset"], file_lines(log)[4][0])


# --- Java logs where most lines are not purchases -----------------------------------------------

PURCHASE_RE = (r"^(?<ts>\S+ \S+) INFO  \[\S+\] \S+ - purchase completed user=(?<iid>\S+) order=(?<order>\S+) "
               r"amount=(?<amount>\S+) currency=(?<currency>\S+)$")
JAVA_INPUT = {
    "parser": {"type": "regex", "pattern": PURCHASE_RE},
    "event": {"event_name": "purchase", "event_datetime": "${ts}", "installation_id": "${iid}",
              "time_format": "%Y-%m-%d %H:%M:%S,%f", "id_fields": ["order"],
              "payload": {"order_id": "${order}", "amount": "${amount}", "currency": "${currency}"}},
}


def java_log(n, seed):
    """n lines of which one in ten is a purchase; returns the lines (str)."""
    rng = random.Random(seed)
    base = datetime.datetime(2026, 5, 5, 12, 0, 0)
    noise = ["c.a.shop.Cart - item added sku=%d", "c.a.http.Access - GET /cart 200 %dms",
             "c.a.db.Pool - connections active=%d", "c.a.shop.Checkout - payment page shown for cart %d"]
    out = []
    for k in range(n):
        ts = (base + datetime.timedelta(milliseconds=1500 * k + rng.randint(0, 999))).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
        if k % 10 == 3:
            iid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            out.append("%s INFO  [http-%d] c.a.shop.Checkout - purchase completed user=%s order=J-%d amount=%d.%02d "
                       "currency=%s" % (ts, rng.randint(1, 8), iid, k, rng.randint(1, 99), rng.randint(0, 99),
                                        rng.choice(["EUR", "GBP"])))
        else:
            out.append("%s INFO  [http-%d] %s" % (ts, rng.randint(1, 8), rng.choice(noise) % rng.randint(1, 999)))
    return out


def expected_java(path):
    pat = re.compile(PURCHASE_RE.replace("(?<", "(?P<"))
    out = {}
    for off, line in file_lines(path):
        m = pat.match(line.decode())
        if not m:
            continue
        ts = datetime.datetime.strptime(m["ts"], "%Y-%m-%d %H:%M:%S,%f")
        out[off] = {
            "event_name": "purchase",
            "payload": {"order_id": m["order"], "amount": m["amount"], "currency": m["currency"]},
            "event_datetime": ts.strftime("%Y-%m-%dT%H:%M:%S.") + m["ts"][-3:] + "Z",
            "event_id": agentlib.event_id_key(NS, "purchase", [m["order"]]),
            "installation_id": m["iid"],
        }
    return out


class JavaLogs(Case):
    def test_nine_in_ten_lines_not_purchases_are_skipped_not_dead_lettered(self):
        log = self.write_log(java_log(3000, seed=1), name="app.log")
        cfg = self.config(paths=[log], input=dict(JAVA_INPUT, parser=dict(JAVA_INPUT["parser"], on_mismatch="skip")))
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env(**TWO_THREADS))
        self.assertEqual(rc, 0, err)
        exp = expected_java(log)
        self.assertEqual(len(exp), 300)
        self.assert_received([exp])
        self.assertEqual(agentlib.deadletters(self.path("state")), [])
        m = metrics(self.path("state"))
        self.assertEqual(m['onside_agent_events_skipped_total{reason="on_mismatch"}'], 2700)
        self.assert_parse_equals(cfg, log, exp, skipped_offsets=[o for o, _ in file_lines(log) if o not in exp])

    def test_include_lines_skips_the_rest_and_a_truncated_purchase_names_its_missing_field(self):
        lines = java_log(1000, seed=2)
        cut = [i for i, l in enumerate(lines) if "purchase completed" in l][:2]
        for i in cut:  # the writer died in the middle of these lines
            lines[i] = lines[i][:lines[i].index(" currency=")]
        log = self.write_log(lines, name="app.log")
        cfg = self.config(paths=[log], input=dict(JAVA_INPUT, include_lines=["purchase completed"]))
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        exp = expected_java(log)
        self.assertEqual(len(exp), 98)
        self.assert_received([exp])
        dl = agentlib.deadletters(self.path("state"))
        self.assertEqual([d["line"] for d in dl], [lines[i] for i in cut])
        self.assertEqual([d["reason"] for d in dl],
                         ["parse error: missing field currency (the line ends at byte %d)" % len(lines[i])
                          for i in cut])
        m = metrics(self.path("state"))
        self.assertEqual(m['onside_agent_events_skipped_total{reason="include_lines"}'], 900)
        self.assertEqual(m['onside_agent_events_rejected_total{reason="parse"}'], 2)

    def test_optional_part_that_fails_names_the_field_that_made_it_fail(self):
        # the old work-around: a pattern that matches every line, its purchase part optional
        pattern = (r"^(?<ts>\S+ \S+) INFO  \[\S+\] \S+ - (?<msg>purchase completed|.*?)(?: user=(?<iid>\S+) "
                   r"order=(?<order>\S+) amount=(?<amount>\S+) currency=(?<currency>\S+))?$")
        lines = java_log(40, seed=3)
        i = next(k for k, l in enumerate(lines) if "purchase completed" in l)
        lines[i] = lines[i][:lines[i].index(" currency=")]
        log = self.write_log(lines, name="app.log")
        cfg = self.config(paths=[log], input=dict(JAVA_INPUT, parser={"type": "regex", "pattern": pattern},
                                                  match={"msg": "^purchase completed"}))
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        dl = agentlib.deadletters(self.path("state"))
        self.assertEqual(len(dl), 1)
        self.assertEqual(dl[0]["reason"],
                         "missing field currency (the line ends at byte %d), so iid is unset" % len(lines[i]))


# --- syslog times without a year ----------------------------------------------------------------

SYSLOG_RE = (r"^(?<ts>\w{3} [ \d]\d \d\d:\d\d:\d\d) \S+ shop\[\d+\]: purchase user=(?<iid>\S+) "
             r"amount=(?<amount>\S+) currency=(?<currency>\S+)$")
SYSLOG_INPUT = {
    "parser": {"type": "regex", "pattern": SYSLOG_RE, "on_mismatch": "skip"},
    "event": {"event_name": "purchase", "event_datetime": "${ts}", "installation_id": "${iid}",
              "time_format": ["iso8601", "%b %e %H:%M:%S"], "timezone": "Europe/Berlin",
              "payload": ["amount", "currency"]},
}


def syslog_year(month_day_time, now):
    """The year rule, written from docs/reference.md: the latest year whose date exists and puts the time at
    most a day past now. Times are Berlin local time; now is UTC."""
    from zoneinfo import ZoneInfo
    berlin = ZoneInfo("Europe/Berlin")
    for year in range(now.year + 1, now.year - 9, -1):
        try:
            t = datetime.datetime.strptime("%d %s" % (year, month_day_time), "%Y %b %d %H:%M:%S")
        except ValueError:
            continue
        utc = t.replace(tzinfo=berlin).astimezone(datetime.timezone.utc)
        if utc <= now + datetime.timedelta(days=1):
            return utc
    raise AssertionError("no year for %r" % month_day_time)


def syslog_lines():
    rng = random.Random(5)
    stamps = ["Dec 31 23:58:10", "Dec 31 23:59:59", "Jan  1 00:00:00", "Jan  1 00:10:00", "Jan  1 01:29:00",
              "Jan  2 01:30:00", "Jan  2 01:30:01", "Feb 29 12:00:00", "Jun 15 08:00:00"]
    out = []
    for s in stamps:
        out.append("%s web1 shop[%d]: purchase user=%s amount=%d.00 currency=EUR"
                   % (s, rng.randint(100, 999), uuid.UUID(int=rng.getrandbits(128), version=4), rng.randint(1, 50)))
        out.append("%s web1 sshd[22]: session opened for user deploy" % s)
    return out


class YearlessTimes(Case):
    def test_syslog_times_around_new_year_take_the_nearest_year(self):
        log = self.write_log(syslog_lines(), name="syslog")
        cfg = self.config(paths=[log], input=SYSLOG_INPUT)
        env = self.env(ONSIDE_TEST_NOW=NEW_YEAR_NOW)
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=env)
        self.assertEqual(rc, 0, err)
        now = datetime.datetime(2027, 1, 1, 0, 30, tzinfo=datetime.timezone.utc)
        pat = re.compile(SYSLOG_RE.replace("(?<", "(?P<"))
        exp = {}
        first = first_line(log)
        for off, line in file_lines(log):
            m = pat.match(line.decode())
            if m:
                ts = " ".join(m["ts"].split())  # "Jan  1" -> "Jan 1" for strptime
                exp[off] = {"event_name": "purchase", "payload": {"amount": m["amount"], "currency": m["currency"]},
                            "event_datetime": syslog_year(ts, now).strftime("%Y-%m-%dT%H:%M:%SZ"),
                            "event_id": agentlib.event_id_pos(NS, INPUT, first, off, line),
                            "installation_id": m["iid"]}
        years = sorted(e["event_datetime"][:10] for e in exp.values())
        # Dec 31 is last year; Jan 1 and 2 in Berlin up to a day ahead are this year (Jan 1 before
        # 01:00 is still Dec 31 in UTC); a second more is last year; Feb 29 the last leap year
        self.assertEqual(years, ["2024-02-29", "2026-01-02", "2026-06-15", "2026-12-31", "2026-12-31",
                                 "2026-12-31", "2026-12-31", "2027-01-01", "2027-01-02"])
        self.assert_received([exp])
        self.assertEqual(agentlib.deadletters(self.path("state")), [])
        self.assert_parse_equals(cfg, log, exp, skipped_offsets=[o for o, _ in file_lines(log) if o not in exp],
                                 env=env)


# --- plugins see each line's file -----------------------------------------------------------------

class PluginSource(Case):
    def test_an_abi_2_plugin_gets_each_lines_own_first_line(self):
        agentlib.skip_unless_plugins_load()
        so = os.path.join(agentlib.plugin_dir() or "", "libonside-source.so")
        if not os.path.exists(so):
            self.skipTest("the test plugins are not built")
        files = []
        for i in range(2):
            p = self.path("f%d.log" % i)
            with open(p, "w") as f:
                f.write("".join("file %d line %d\n" % (i, k) for k in range(3000)))
            files.append(p)
        cfg = self.config(paths=[self.path("f*.log")], input={
            "parser": {"type": "plugin", "path": os.path.abspath(so)},
            "event": {"event_name": "seen", "event_datetime": "2026-05-05T12:00:00Z",
                      "installation_id": "e3e70682-c209-4cac-a29f-6fbed82c07cd", "payload": ["first", "offset"]}})
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=self.env(**TWO_THREADS), timeout=120)
        self.assertEqual(rc, 0, err)
        got = {e["event_id"]: e["payload"] for e in self.standin.events()}
        for p in files:
            first = first_line(p)
            for off, line in file_lines(p):
                eid = agentlib.event_id_pos(NS, INPUT, first, off, line)
                self.assertEqual(got.pop(eid), {"first": first.decode(), "offset": off})
        self.assertEqual(got, {})


# --- check --sample ------------------------------------------------------------------------------

class CheckSample(Case):
    def test_check_sample_finds_a_misspelt_field_at_its_position(self):
        log = self.path("export.csv")
        write_csv(log, NIGHT1, csv_rows(50, seed=11, start=0))
        with open(log, "a") as f:
            f.write("2026-05-05T13:00:00Z,purchase_completed,not-a-uuid,N-98,EUR,1.00\n")
            f.write("2026-05-05T13:00:01Z,purchase_completed,e3e70682-c209-4cac-a29f-6fbed82c07cd,N-99,EUR\n")
        inp = dict(CSV_INPUT, match={"event": "^purchase_completed$"},
                   event=dict(CSV_INPUT["event"], payload={"currency": "${curr}", "amount": "${amount}"}))
        cfg = self.config(paths=[log], input=inp)
        with open(cfg) as f:
            text = f.read().split("\n")
        row = next(i for i, l in enumerate(text) if '"${curr}"' in l)
        col = text[row].index('"${curr}"') + 2  # 1-based, past the quote
        rc, out, err = run_agent(["check", "-c", cfg, "--sample", "30"], env=self.env())
        self.assertEqual(rc, 0, err)
        self.assertIn("%s:%d:%d: inputs[0].event.payload.currency: no sampled line has the field \"curr\" ("
                      % (cfg, row + 1, col), err)
        self.assertNotIn("amount\"", err)  # the field that is there is not reported
        # the last 30 lines: 28 rows of the export (one renewal in seven skipped by match), two bad
        data = file_lines(log)[-30:]
        skipped = sum(1 for _, l in data if b"purchase_renewed" in l)
        self.assertIn("input purchases: 30 lines sampled from 1 file: %d events, %d skipped, 2 rejected\n"
                      % (28 - skipped, skipped), out)
        self.assertIn("  skipped (match): %d\n" % skipped, out)
        self.assertIn("  rejected (installation_id (field install_id) is not a UUID): 1, first at %s offset %d\n"
                      % (log, data[-2][0]), out)
        self.assertIn("  rejected (parse error: missing field amount): 1, first at %s offset %d\n"
                      % (log, data[-1][0]), out)
        self.assertFalse(os.path.exists(self.path("state")), "check created the state directory")

    def test_the_bundled_examples_are_valid(self):
        # config/agent.yaml's commented inputs, uncommented, pass check (with a test password source)
        with open(os.path.join(agentlib.source_dir(), "config", "agent.yaml")) as f:
            text = f.read()
        head, tail = text.split("  # More shapes", 1)
        extra = [l[4:] for l in tail.split("\n") if l.startswith("  #   ") or l.startswith("  # - ")]
        text = head + "\n".join("  " + l for l in extra) + "\n"
        text = text.replace("password_file: /etc/onside-agent/password", "password_env: " + agentlib.PASSWORD_ENV)
        text = text.replace("/var/lib/onside-agent", self.path("state"))
        cfg = self.path("bundled.yaml")
        with open(cfg, "w") as f:
            f.write(text)
        rc, out, err = run_agent(["check", "-c", cfg], env=self.env())
        # their globs name files this machine does not have: warned about, not refused
        globs = ["/var/log/shop/purchases.log", "/srv/exports/*.csv", "/var/log/shop/app.log", "/var/log/shop/syslog",
                 "/var/log/nginx/access.ltsv.log"]
        want = "".join('%s: inputs[%d].paths[0]: "%s" matches no file now (run follows files that appear)\n'
                       % (cfg, i, g) for i, g in enumerate(globs) if not glob.glob(g))
        self.assertEqual((rc, err), (0, want))
        self.assertIn("valid: 5 inputs", out)

    def test_check_sample_usage(self):
        cfg = self.config()
        for bad in ("0", "-3", "x", "2000000"):
            rc, _, err = run_agent(["check", "-c", cfg, "--sample", bad], env=self.env())
            self.assertEqual(rc, 2, bad)
            self.assertIn("--sample takes a number of lines from 1 to 1000000", err)


if __name__ == "__main__":
    agentlib.main()
