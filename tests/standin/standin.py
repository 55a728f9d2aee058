#!/usr/bin/env python3
"""Local stand-in of the Onside server-to-server attribution events API.

It enforces the request rules of the Onside API (see README.md beside this file), records
every accepted event as one JSON line, injects faults on demand and exposes a small control API for
tests. Python 3.9+ standard library only; it listens on 127.0.0.1 only.
"""

import argparse
import base64
import binascii
import datetime
import email.utils
import hmac
import http.server
import json
import math
import os
import random
import re
import signal
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time

EVENTS_PATH = "/attribution-api/v1/events"
CONTROL_PATHS = ("/_stats", "/_control", "/_events")
MAX_BODY = 1000000          # the body must be strictly below this many bytes
MAX_EVENTS = 1000
READ_CAP = 16 * 1024 * 1024  # bodies above this are not even read: 413 and the connection is closed
EVENT_KEYS = ("event_name", "payload", "event_datetime", "event_id", "installation_id")
FAULT_STATUSES = (500, 502, 503)

UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
UUID4_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}")
# RFC 3339 date-time (the profile of ISO 8601 the API documents): a full date, "T", a full time with
# optional fractional seconds, and a mandatory offset ("Z" or +hh:mm / -hh:mm).
DATETIME_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?"
    r"([Zz]|[+-]([0-9]{2}):([0-9]{2}))")
CONTENT_TYPE_RE = re.compile(r"\s*application/json\s*(;\s*charset\s*=\s*\"?utf-8\"?\s*)?", re.IGNORECASE)


class ValidationError(Exception):
    """A request the API refuses: status and message for the JSON error body."""

    def __init__(self, status, message, index=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.index = index


def valid_datetime(s):
    """True if s is an RFC 3339 date-time naming a real instant (leap second :60 allowed)."""
    m = DATETIME_RE.fullmatch(s)
    if not m:
        return False
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    if hour > 23 or minute > 59 or second > 60:
        return False
    if m.group(9) is not None and (int(m.group(9)) > 23 or int(m.group(10)) > 59):
        return False
    return True


def _reject_constant(name):
    raise ValueError("invalid JSON constant %s" % name)


def _pairs_no_duplicates(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise ValueError("duplicate key %s" % json.dumps(k))
        obj[k] = v
    return obj


def describe(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def validate_event(i, ev, reject_ids):
    """Raises ValidationError(400) naming events[i] and the problem."""
    where = "events[%d]" % i
    if not isinstance(ev, dict):
        raise ValidationError(400, "%s is %s, not an object" % (where, describe(ev)), i)
    for key in EVENT_KEYS:
        if key not in ev:
            raise ValidationError(400, "%s is missing %s" % (where, key), i)
    for key in ev:
        if key not in EVENT_KEYS:
            raise ValidationError(400, "%s has an unknown key %s" % (where, json.dumps(key)), i)
    name = ev["event_name"]
    if not isinstance(name, str):
        raise ValidationError(400, "%s.event_name is %s, not a string" % (where, describe(name)), i)
    if name == "":
        raise ValidationError(400, "%s.event_name is empty" % where, i)
    if not isinstance(ev["payload"], dict):
        raise ValidationError(400, "%s.payload is %s, not an object" % (where, describe(ev["payload"])), i)
    dt = ev["event_datetime"]
    if not isinstance(dt, str):
        raise ValidationError(400, "%s.event_datetime is %s, not a string" % (where, describe(dt)), i)
    if not valid_datetime(dt):
        raise ValidationError(400, "%s.event_datetime is not an ISO 8601 date-time: %s"
                              % (where, json.dumps(dt)[:80]), i)
    eid = ev["event_id"]
    if not isinstance(eid, str) or not UUID4_RE.fullmatch(eid):
        raise ValidationError(400, "%s.event_id is not a UUIDv4" % where, i)
    if eid.lower() in reject_ids:
        raise ValidationError(400, "%s.event_id %s is rejected by the server" % (where, eid.lower()), i)
    iid = ev["installation_id"]
    if not isinstance(iid, str) or not UUID_RE.fullmatch(iid):
        raise ValidationError(400, "%s.installation_id is not a UUID" % where, i)


def validate_body(body, reject_ids):
    """Parses and checks a request body; returns the list of events or raises ValidationError."""
    if len(body) >= MAX_BODY:
        raise ValidationError(413, "request body is %d bytes, the limit is below %d" % (len(body), MAX_BODY))
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValidationError(400, "body is not valid UTF-8 (byte %d)" % e.start)
    try:
        doc = json.loads(text, object_pairs_hook=_pairs_no_duplicates, parse_constant=_reject_constant)
    except ValueError as e:  # json.JSONDecodeError is a ValueError
        raise ValidationError(400, "malformed JSON: %s" % e)
    except RecursionError:
        raise ValidationError(400, "malformed JSON: nested too deeply")
    if not isinstance(doc, dict):
        raise ValidationError(400, "body is %s, not an object" % describe(doc))
    if "events" not in doc:
        raise ValidationError(400, "body has no \"events\" key")
    extra = [k for k in doc if k != "events"]
    if extra:
        raise ValidationError(400, "body has an unknown key %s" % json.dumps(extra[0]))
    events = doc["events"]
    if not isinstance(events, list):
        raise ValidationError(400, "events is %s, not an array" % describe(events))
    if not events:
        raise ValidationError(400, "events is empty")
    if len(events) > MAX_EVENTS:
        raise ValidationError(413, "events holds %d events, at most %d are allowed" % (len(events), MAX_EVENTS))
    for i, ev in enumerate(events):
        validate_event(i, ev, reject_ids)
    return events


def check_probability(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError("%s must be a number from 0 to 1" % name)
    return float(value)


def check_seconds(name, value, allow_negative=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) \
            or (value < 0 and not allow_negative):
        raise ValueError("%s must be a number of seconds" % name)
    return value


def check_script_entry(entry):
    if isinstance(entry, str) and entry in ("reset", "slow", "normal"):
        return entry
    # 2xx other than 204: what a proxy, captive portal or wrong URL answers (not an acceptance)
    if isinstance(entry, int) and not isinstance(entry, bool) and (200 <= entry <= 299 or 400 <= entry <= 599):
        return entry
    raise ValueError("status_script entries are 204 (normal handling), statuses 200..299 or 400..599, "
                     "\"reset\", \"slow\" or \"normal\"")


class State:
    """Behaviour settings and counters, shared by all handler threads (guarded by self.lock)."""

    def __init__(self, args):
        self.lock = threading.Lock()
        self.record_lock = threading.Lock()
        self.log_lock = threading.Lock()
        self.user = args.user
        self.password = args.password
        self.rng = random.Random(args.seed)
        self.mode = "up"
        self.fault_5xx = args.fault_5xx
        self.fault_429 = args.fault_429
        self.fault_reset = args.fault_reset
        self.fault_slow = args.fault_slow
        self.slow_seconds = args.slow_seconds
        self.retry_after = args.retry_after
        self.retry_after_date = args.retry_after_date
        self.retry_after_value = None  # a Retry-After sent as is (a past date, garbage), set by /_control
        self.reject_ids = set(x.strip().lower() for x in args.reject_ids.split(",") if x.strip())
        self.status_script = []
        self.track_ids = not args.no_track_ids
        self.record_path = args.record
        self.record = open(args.record, "a", encoding="utf-8")
        self.log = open(args.log, "a", encoding="utf-8", buffering=1) if args.log else sys.stderr
        self.sockets_open = 0
        self.reset_counters()

    def reset_counters(self):
        self.sockets = 0      # every accepted socket
        self.connections = 0  # accepted sockets that carried at least one API (non-control) request
        self.requests = 0
        self.accepted_requests = 0
        self.accepted_events = 0
        self.by_status = {}
        self.faults = {"5xx": 0, "429": 0, "reset": 0, "slow": 0, "down": 0, "scripted": 0}
        self.bytes_received = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.seen_ids = set()
        self.duplicate_events = 0

    def settings(self):
        return {
            "mode": self.mode, "fault_5xx": self.fault_5xx, "fault_429": self.fault_429,
            "fault_reset": self.fault_reset, "fault_slow": self.fault_slow,
            "slow_seconds": self.slow_seconds, "retry_after": self.retry_after,
            "retry_after_date": self.retry_after_date, "retry_after_value": self.retry_after_value,
            "reject_ids": sorted(self.reject_ids),
            "status_script": list(self.status_script),
        }

    def stats(self):
        with self.lock:
            return {
                "requests": self.requests,
                "accepted_requests": self.accepted_requests,
                "accepted_events": self.accepted_events,
                "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
                "connections": self.connections,
                "sockets": self.sockets,
                "open_sockets": self.sockets_open,
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "bytes_received": self.bytes_received,
                "faults": dict(self.faults),
                "unique_events": len(self.seen_ids) if self.track_ids else None,
                "duplicate_events": self.duplicate_events if self.track_ids else None,
                "mode": self.mode,
            }

    def apply_control(self, doc):
        """Validates the whole control document first, then applies it; raises ValueError."""
        if not isinstance(doc, dict):
            raise ValueError("the control body must be a JSON object")
        new = {}
        for key, value in doc.items():
            if key == "mode":
                if value not in ("up", "down", "reset"):
                    raise ValueError("mode must be \"up\", \"down\" or \"reset\"")
                new[key] = value
            elif key in ("fault_5xx", "fault_429", "fault_reset", "fault_slow"):
                new[key] = check_probability(key, value)
            elif key == "slow_seconds":
                new[key] = check_seconds(key, value)
            elif key == "retry_after":
                new[key] = check_seconds(key, value, allow_negative=True)
            elif key == "retry_after_value":
                if value is not None and (not isinstance(value, str) or not value.isprintable()):
                    raise ValueError("retry_after_value must be a string of printable characters or null")
                new[key] = value
            elif key in ("retry_after_date", "reset_stats"):
                if not isinstance(value, bool):
                    raise ValueError("%s must be true or false" % key)
                new[key] = value
            elif key in ("reject_ids", "add_reject_ids"):
                if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                    raise ValueError("%s must be an array of strings" % key)
                new[key] = set(x.strip().lower() for x in value)
            elif key == "status_script":
                if not isinstance(value, list):
                    raise ValueError("status_script must be an array")
                new[key] = [check_script_entry(x) for x in value]
            elif key == "seed":
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ValueError("seed must be an integer")
                new[key] = value
            else:
                raise ValueError("unknown control key %s" % json.dumps(key))
        with self.lock:
            for key, value in new.items():
                if key == "reject_ids":
                    self.reject_ids = value
                elif key == "add_reject_ids":
                    self.reject_ids = self.reject_ids | value
                elif key == "seed":
                    self.rng = random.Random(value)
                elif key == "reset_stats":
                    if value:
                        self.reset_counters()
                else:
                    setattr(self, key, value)
            return self.settings()

    def decide(self):
        """Chooses what happens to one events request before validation: None (normal), "slow",
        "reset", or a status code. The random draws are the same for every request (five numbers) so
        a seed gives one sequence whatever the probabilities are."""
        with self.lock:
            r5xx, r429, rreset, rslow = (self.rng.random() for _ in range(4))
            status_5xx = FAULT_STATUSES[self.rng.randrange(len(FAULT_STATUSES))]
            if self.status_script:
                self.faults["scripted"] += 1
                entry = self.status_script.pop(0)
                return None if entry in ("normal", 204) else entry
            if self.mode == "down":
                self.faults["down"] += 1
                return 503
            if self.mode == "reset":
                self.faults["reset"] += 1
                return "reset"
            if rreset < self.fault_reset:
                self.faults["reset"] += 1
                return "reset"
            if r5xx < self.fault_5xx:
                self.faults["5xx"] += 1
                return status_5xx
            if r429 < self.fault_429:
                self.faults["429"] += 1
                return 429
            if rslow < self.fault_slow:
                self.faults["slow"] += 1
                return "slow"
            return None

    def retry_after_header(self):
        with self.lock:
            seconds, as_date, raw = self.retry_after, self.retry_after_date, self.retry_after_value
        if raw is not None:
            return raw
        if seconds < 0:
            return None
        if as_date:
            return email.utils.formatdate(math.ceil(time.time() + seconds), usegmt=True)
        return str(int(math.ceil(seconds)))

    def record_events(self, events):
        lines = "".join(json.dumps(ev, separators=(",", ":")) + "\n" for ev in events)
        with self.record_lock:
            self.record.write(lines)
            self.record.flush()
        with self.lock:
            self.accepted_requests += 1
            self.accepted_events += len(events)
            if self.track_ids:
                for ev in events:
                    key = int(ev["event_id"].replace("-", ""), 16)
                    if key in self.seen_ids:
                        self.duplicate_events += 1
                    else:
                        self.seen_ids.add(key)

    def read_record(self):
        with self.record_lock:
            self.record.flush()
            with open(self.record_path, "r", encoding="utf-8") as f:
                data = f.read()
        return [json.loads(line) for line in data.splitlines() if line.strip()]

    def write_log(self, line):
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with self.log_lock:
            try:
                self.log.write("%s %s\n" % (stamp, line))
                self.log.flush()
            except (OSError, ValueError):
                pass

    def close(self):
        with self.record_lock:
            self.record.close()


class ResetConnection(Exception):
    """Raised inside a handler to drop the connection with a TCP RST."""


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "onside-standin/1"
    timeout = 60  # idle keep-alive connections are closed after this many seconds

    # --- plumbing -------------------------------------------------------------------------------

    def setup(self):
        self.conn_id = self.server.take_conn_id(self.request)
        self.counted = False
        self.timeout = self.server.idle_timeout
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.timeout)
            self.request.do_handshake()
        super().setup()

    def log_request(self, code="-", size="-"):
        pass  # one line per request is written by finish_log instead

    def log_message(self, fmt, *args):
        self.server.state.write_log("%s error %s" % (self.client_address[0], fmt % args))

    def respond(self, status, body=None, headers=None):
        """Sends a complete response: JSON body (or none) with Content-Length (none on 204)."""
        data = b""
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode("utf-8")
        self.close_api_request(status)
        self.send_response(status)
        if status != 204:
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()
        self._status = status

    def reset_connection(self):
        """Closes the socket abruptly: SO_LINGER 0 makes close() send a RST instead of a FIN."""
        self.close_connection = True
        sock = self.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.rfile.close()  # the makefile holds a reference: close it so close() really closes
        except OSError:
            pass
        try:
            sock.close()
        except OSError:
            pass

    def read_body(self):
        """Reads the request body (Content-Length or chunked). Returns bytes, or None after answering
        an error (the connection is then closed)."""
        te = self.headers.get("Transfer-Encoding")
        if te is not None:
            if te.strip().lower() != "chunked":
                self.close_connection = True
                self.respond(501, {"error": "unsupported Transfer-Encoding %s" % te})
                return None
            return self.read_chunked()
        cl = self.headers.get("Content-Length")
        if cl is None:
            self.close_connection = True
            self.respond(411, {"error": "Content-Length is required"})
            return None
        if not cl.strip().isdigit():
            self.close_connection = True
            self.respond(400, {"error": "invalid Content-Length"})
            return None
        n = int(cl)
        if n > READ_CAP:
            self.close_connection = True
            self.respond(413, {"error": "request body is %d bytes, the limit is below %d" % (n, MAX_BODY)})
            return None
        data = self.rfile.read(n)
        if len(data) != n:
            self.close_connection = True
            return None
        return data

    def read_chunked(self):
        parts, total = [], 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                self.respond(400, {"error": "invalid chunk size"})
                return None
            if size == 0:
                while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                    pass  # trailer fields
                return b"".join(parts)
            total += size
            if total > READ_CAP:
                self.close_connection = True
                self.respond(413, {"error": "request body is over %d bytes" % READ_CAP})
                return None
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                self.close_connection = True
                return None
            parts.append(chunk)
            self.rfile.readline(8)

    # --- dispatch -------------------------------------------------------------------------------

    def handle_any(self):
        self._status = None
        self._api_open = False
        self._events = 0
        self._bytes = 0
        self._note = ""
        path = self.path.split("?", 1)[0]
        try:
            if path in CONTROL_PATHS:
                self.handle_control(path)
            else:
                self.handle_events(path)
        except ResetConnection:
            self.reset_connection()
            self._note = " fault=reset"
        except (ConnectionError, socket.timeout, ssl.SSLError) as e:
            self.close_connection = True
            self._note = " client-gone=%s" % type(e).__name__
        self.server.state.write_log("%s %s %s status=%s events=%d bytes=%d conn=%d%s" % (
            self.client_address[0], self.command, path, self._status if self._status else "-",
            self._events, self._bytes, self.conn_id, self._note))

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = handle_any

    def handle_control(self, path):
        state = self.server.state
        if not self.client_address[0].startswith("127."):
            self.respond(403, {"error": "the control API is for loopback clients only"})
            return
        if path == "/_control" and self.command == "POST":
            body = self.read_body()
            if body is None:
                return
            try:
                doc = json.loads(body.decode("utf-8") or "{}")
                settings = state.apply_control(doc)
            except (ValueError, UnicodeDecodeError) as e:
                self.respond(400, {"error": str(e)})
                return
            self._note = " control=%s" % json.dumps(doc, separators=(",", ":"))[:200]
            self.respond(200, settings)
        elif path == "/_control" and self.command == "GET":
            with state.lock:
                settings = state.settings()
            self.respond(200, settings)
        elif path == "/_stats" and self.command == "GET":
            self.respond(200, state.stats())
        elif path == "/_events" and self.command == "GET":
            self.respond(200, state.read_record())
        else:
            self.respond(405, {"error": "method not allowed"}, {"Allow": "POST" if path == "/_control" else "GET"})

    def handle_events(self, path):
        state = self.server.state
        with state.lock:
            if not self.counted:
                self.counted = True
                state.connections += 1
            state.requests += 1
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
        self._api_open = True
        try:
            self.serve_events(path)
        finally:
            self.close_api_request(None)

    def close_api_request(self, status):
        """Counts the end of an API request once: before its answer is written (so a client that has
        the answer sees it in /_stats), or after a reset or a vanished client (status None)."""
        if not self._api_open:
            return
        self._api_open = False
        state = self.server.state
        with state.lock:
            state.in_flight -= 1
            if status is not None:
                state.by_status[status] = state.by_status.get(status, 0) + 1

    def serve_events(self, path):
        state = self.server.state
        if path != EVENTS_PATH:
            body = self.read_body() if self.command in ("POST", "PUT", "PATCH") else b""
            if body is not None:
                self.respond(404, {"error": "no such endpoint: %s" % path})
            return
        if self.command != "POST":
            self.respond(405, {"error": "only POST is allowed"}, {"Allow": "POST"})
            return
        body = self.read_body()
        if body is None:
            return
        self._bytes = len(body)
        with state.lock:
            state.bytes_received += len(body)

        decision = state.decide()
        if decision == "reset":
            raise ResetConnection()
        if decision == "slow":
            self._note = " fault=slow"
            time.sleep(state.slow_seconds)
        elif decision is not None:
            self._note = " fault=%s" % decision
            headers = {}
            if decision == 429:
                value = state.retry_after_header()
                if value is not None:
                    headers["Retry-After"] = value
                message = "rate limited"
            elif decision >= 500:
                message = "service unavailable (injected fault)"
            else:
                message = "injected status %d" % decision
            self.respond(decision, {"error": message}, headers)
            return

        if not self.check_auth():
            return
        try:
            ctype = self.headers.get("Content-Type")
            if ctype is None or not CONTENT_TYPE_RE.fullmatch(ctype):
                raise ValidationError(400, "Content-Type must be application/json, got %s"
                                      % json.dumps(ctype))
            with state.lock:
                reject_ids = state.reject_ids
            events = validate_body(body, reject_ids)
        except ValidationError as e:
            err = {"error": e.message}
            if e.index is not None:
                err["index"] = e.index
            self._note += " error=%s" % json.dumps(e.message)[:160]
            self.respond(e.status, err)
            return
        state.record_events(events)
        self._events = len(events)
        self.respond(204)

    def check_auth(self):
        """401 (with WWW-Authenticate) for missing or malformed credentials, 403 for wrong ones."""
        state = self.server.state
        challenge = {"WWW-Authenticate": 'Basic realm="onside", charset="UTF-8"'}
        auth = self.headers.get("Authorization")
        if auth is None:
            self.respond(401, {"error": "authentication required"}, challenge)
            return False
        parts = auth.strip().split(None, 1)
        if len(parts) != 2 or parts[0].lower() != "basic":
            self.respond(401, {"error": "malformed Authorization header: Basic expected"}, challenge)
            return False
        try:
            decoded = base64.b64decode(parts[1].strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            self.respond(401, {"error": "malformed Basic credentials"}, challenge)
            return False
        if ":" not in decoded:
            self.respond(401, {"error": "malformed Basic credentials"}, challenge)
            return False
        user, password = decoded.split(":", 1)
        ok_user = hmac.compare_digest(user.encode("utf-8"), state.user.encode("utf-8"))
        ok_pass = hmac.compare_digest(password.encode("utf-8"), state.password.encode("utf-8"))
        if not (ok_user and ok_pass):
            self.respond(403, {"error": "invalid credentials"})
            return False
        return True


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, state, tls_context, idle_timeout):
        self.state = state
        self.tls_context = tls_context
        self.idle_timeout = idle_timeout
        super().__init__(address, Handler)

    def get_request(self):
        sock, addr = super().get_request()
        with self.state.lock:
            self.state.sockets += 1
            self.state.sockets_open += 1
            conn_id = self.state.sockets
        if self.tls_context is not None:
            sock = self.tls_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self.state.lock:
            self._conn_ids[id(sock)] = conn_id
        return sock, addr

    def take_conn_id(self, sock):
        with self.state.lock:
            return self._conn_ids.pop(id(sock), 0)

    def server_activate(self):
        self._conn_ids = {}
        super().server_activate()

    def close_request(self, request):
        with self.state.lock:
            self.state.sockets_open -= 1
        super().close_request(request)

    def handle_error(self, request, client_address):
        e = sys.exc_info()[1]
        self.state.write_log("%s error connection: %s: %s" % (client_address[0], type(e).__name__, e))


def write_port_file(path, port):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".port-", dir=d)
    with os.fdopen(fd, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, path)


def probability(text):
    try:
        return check_probability("a fault probability", float(text))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))


def parse_args(argv):
    p = argparse.ArgumentParser(description="Local stand-in of the Onside attribution events API.")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free port)")
    p.add_argument("--port-file", help="write the bound port here (atomically) once listening")
    p.add_argument("--user", required=True, help="Basic auth user name")
    p.add_argument("--password", required=True, help="Basic auth password")
    p.add_argument("--record", required=True, help="append each accepted event here as a JSON line")
    p.add_argument("--tls-cert", help="serve HTTPS with this certificate chain (PEM)")
    p.add_argument("--tls-key", help="private key for --tls-cert (PEM)")
    p.add_argument("--seed", type=int, default=0, help="seed of the fault random generator (default 0)")
    p.add_argument("--fault-5xx", type=probability, default=0.0, help="probability of a 500/502/503")
    p.add_argument("--fault-429", type=probability, default=0.0, help="probability of a 429")
    p.add_argument("--retry-after", type=float, default=1.0,
                   help="Retry-After seconds sent with 429 (negative: no Retry-After header)")
    p.add_argument("--retry-after-date", action="store_true",
                   help="send Retry-After as an HTTP date --retry-after seconds ahead")
    p.add_argument("--fault-reset", type=probability, default=0.0,
                   help="probability of dropping the connection with a RST instead of answering")
    p.add_argument("--fault-slow", type=probability, default=0.0,
                   help="probability of sleeping --slow-seconds before handling the request")
    p.add_argument("--slow-seconds", type=float, default=5.0)
    p.add_argument("--reject-ids", default="", help="comma-separated event ids answered with 400")
    p.add_argument("--idle-timeout", type=float, default=60.0,
                   help="close keep-alive connections idle this long (seconds)")
    p.add_argument("--no-track-ids", action="store_true",
                   help="do not keep accepted ids in memory (no unique/duplicate counts in /_stats)")
    p.add_argument("--log", help="log file, one line per request (default stderr)")
    args = p.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    if args.slow_seconds < 0:
        p.error("--slow-seconds must not be negative")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    tls = None
    if args.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    state = State(args)
    server = Server(("127.0.0.1", args.port), state, tls, args.idle_timeout)
    port = server.server_address[1]

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    if args.port_file:
        write_port_file(args.port_file, port)
    state.write_log("listening on %s://127.0.0.1:%d%s" % ("https" if tls else "http", port, EVENTS_PATH))
    while not stop.wait(1.0):
        pass
    server.shutdown()
    server.server_close()
    state.write_log("stopped: %s" % json.dumps(state.stats(), separators=(",", ":")))
    state.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
