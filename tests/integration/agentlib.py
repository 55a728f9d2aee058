"""Helpers for the integration tests: the Onside API stand-in, agent configs, running the agent, example
log lines and an independent implementation of the event-id derivation (docs/reference.md, "Event ids").

Python 3.9+ standard library only. Typical use:

    import agentlib
    class T(agentlib.AgentTestCase):
        def test_delivery(self):
            log = self.write_log(agentlib.purchase_lines(10))
            cfg = self.config(paths=[log])
            rc, out, err = agentlib.run_agent(["run", "--once", "-c", cfg], env=self.env())
            self.assertEqual(rc, 0, err)
            self.assertEqual(len(self.standin.events()), 10)
    if __name__ == "__main__":
        agentlib.main()
"""

import hashlib
import http.client
import json
import os
import random
import re
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
STANDIN = os.path.join(REPO, "tests", "standin", "standin.py")
EVENTS_PATH = "/attribution-api/v1/events"
PASSWORD_ENV = "ONSIDE_TEST_PASSWORD"
TEST_USER = "test-user"
TEST_PASSWORD = "test-password-Zq7"
ID_PREFIX = b"onside-agent:event-id:v1"


# --- locations -----------------------------------------------------------------------------------

def source_dir():
    """The source tree: $ONSIDE_SOURCE_DIR, else the repository holding this file."""
    return os.environ.get("ONSIDE_SOURCE_DIR") or REPO


def agent_binary():
    """The agent executable: $ONSIDE_AGENT (set by CTest), else the first build*/onside-agent in the
    source tree (for running a test file by hand). Raises FileNotFoundError when there is none."""
    path = os.environ.get("ONSIDE_AGENT")
    if path:
        if not os.access(path, os.X_OK):
            raise FileNotFoundError("ONSIDE_AGENT=%s is not an executable" % path)
        return path
    src = source_dir()
    for name in sorted(os.listdir(src)):
        candidate = os.path.join(src, name, "onside-agent")
        if name.startswith("build") and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError("no agent binary: set ONSIDE_AGENT or build into %s/build" % src)


def agent_command():
    """The agent's command line prefix: $ONSIDE_AGENT_WRAPPER (split like a shell would, e.g.
    "valgrind --leak-check=full") followed by agent_binary()."""
    wrapper = os.environ.get("ONSIDE_AGENT_WRAPPER", "")
    return shlex.split(wrapper) + [os.path.abspath(agent_binary())]


def plugin_dir():
    """Where the example parser plugins were built ($ONSIDE_PLUGIN_DIR), or None."""
    return os.environ.get("ONSIDE_PLUGIN_DIR")


# --- event ids (docs/reference.md contract v1), written independently of the C code -----------------------

def _b(x):
    return x.encode("utf-8") if isinstance(x, str) else bytes(x)


def uuid4_format(digest):
    """The first 16 bytes of digest as a lowercase UUIDv4 string (version and variant bits forced)."""
    b = bytearray(digest[:16])
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return "%s-%s-%s-%s-%s" % (h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])


def event_id(namespace, kind, key):
    """uuid4_format(SHA-256(PREFIX 0x00 NAMESPACE 0x00 KIND 0x00 KEY))."""
    data = ID_PREFIX + b"\0" + _b(namespace) + b"\0" + _b(kind) + b"\0" + _b(key)
    return uuid4_format(hashlib.sha256(data).digest())


def fingerprint(first_line):
    """Lowercase hex SHA-256 of a file's first line (bytes before the first LF, CR kept), at most its
    first 4096 bytes. A whole file's content may be passed: it is cut at the first LF."""
    first_line = _b(first_line).split(b"\n", 1)[0]
    return hashlib.sha256(first_line[:4096]).hexdigest()


def event_id_pos(namespace, input_name, first_line, offset, line):
    """The `pos` id of a line: LINE without its LF and without one CR directly before that LF."""
    line = _b(line)
    if line.endswith(b"\n"):
        line = line[:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
    key = _b(input_name) + b"\0" + fingerprint(first_line).encode("ascii") + b"\0" \
        + str(int(offset)).encode("ascii") + b"\0" + line
    return event_id(namespace, "pos", key)


def event_id_key(namespace, event_name, values):
    """The `key` id: lowercase-ASCII(event_name) 0x00 VALUE1 0x1F VALUE2 ..."""
    key = _b(event_name).lower() + b"\0" + b"\x1f".join(_b(v) for v in values)
    return event_id(namespace, "key", key)


def file_lines(content):
    """(offset, line bytes without LF/CRLF) of each complete (LF-terminated) line of content."""
    content = _b(content)
    out, pos = [], 0
    while True:
        nl = content.find(b"\n", pos)
        if nl < 0:
            return out
        line = content[pos:nl]
        if line.endswith(b"\r"):
            line = line[:-1]
        out.append((pos, line))
        pos = nl + 1


def expected_pos_ids(content_or_path, namespace="test-ns", input_name="purchases"):
    """The `pos` ids of every complete line of a file, in order: content as bytes, or a path as str."""
    if isinstance(content_or_path, str):
        with open(content_or_path, "rb") as f:
            content = f.read()
    else:
        content = bytes(content_or_path)
    first = content.split(b"\n", 1)[0]  # the fingerprint's input, cut once (not per line)
    return [event_id_pos(namespace, input_name, first, off, line) for off, line in file_lines(content)]


# --- example purchase lines ----------------------------------------------------------------------

def purchase_lines(n, seed=0, start=1, event="purchase_completed", currencies=("USD",)):
    """Yields n deterministic JSON purchase lines (without LF) like
    {"ts":"2026-05-05T12:00:00Z","event":"purchase_completed","install_id":"<uuid4>","order_id":"A-1",
     "currency":"USD","amount":"9.99"}
    ts advances one second per line from 2026-05-05T12:00:00Z (line `start` is at 12:00:00 + start-1),
    order_id is A-<k> for k = start..start+n-1, install_id and amount come from random.Random(seed)."""
    rng = random.Random(seed)
    base = 1777982400  # 2026-05-05T12:00:00Z
    for k in range(start, start + n):
        t = time.gmtime(base + k - 1)
        iid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        amount = "%d.%02d" % (rng.randint(0, 499), rng.randint(0, 99))
        currency = currencies[rng.randrange(len(currencies))] if len(currencies) > 1 else currencies[0]
        yield json.dumps({"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", t), "event": event, "install_id": iid,
                          "order_id": "A-%d" % k, "currency": currency, "amount": amount},
                         separators=(",", ":"))


def append_lines(path, lines, crlf=False):
    """Appends lines (str or bytes, LF added) to path in one write; returns the new file size."""
    eol = b"\r\n" if crlf else b"\n"
    data = b"".join(_b(line) + eol for line in lines)
    with open(path, "ab") as f:
        f.write(data)
    return os.path.getsize(path)


# --- YAML config ---------------------------------------------------------------------------------

def _yaml_scalar(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, dict) and not v:
        return "{}"
    if isinstance(v, (list, tuple)) and not v:
        return "[]"
    raise TypeError("cannot write %r as YAML" % (v,))


def _yaml_key(k):
    k = str(k)
    plain = k and (k[0].isalpha() or k[0] == "_") and all(c.isalnum() or c in "_.-" for c in k) \
        and k.isascii()
    return k if plain else json.dumps(k, ensure_ascii=False)


def _is_scalar(v):
    return not isinstance(v, (dict, list, tuple)) or not v


def _yaml_lines(obj, indent):
    pad = " " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if _is_scalar(v):
                out.append("%s%s: %s" % (pad, _yaml_key(k), _yaml_scalar(v)))
            else:
                out.append("%s%s:" % (pad, _yaml_key(k)))
                out.extend(_yaml_lines(v, indent + 2))
    else:
        for item in obj:
            if _is_scalar(item):
                out.append("%s- %s" % (pad, _yaml_scalar(item)))
            else:
                sub = _yaml_lines(item, indent + 2)
                sub[0] = pad + "- " + sub[0][indent + 2:]
                out.extend(sub)
    return out


def to_yaml(obj):
    """Block-style YAML for dicts, lists and scalars (strings always double-quoted)."""
    if _is_scalar(obj):
        return _yaml_scalar(obj) + "\n"
    return "\n".join(_yaml_lines(obj, 0)) + "\n"


def _merge(base, over):
    """Deep merge: dicts merge recursively, a None value deletes the key, anything else replaces."""
    for k, v in over.items():
        if v is None:
            base.pop(k, None)
        elif isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v
    return base


def default_input(paths, name="purchases"):
    """A json input with the mapping of the example purchase line."""
    return {
        "name": name,
        "paths": list(paths),
        "start_at": "beginning",
        "parser": {"type": "json"},
        "event": {
            "event_name": "${event}",
            "event_datetime": "${ts}",
            "installation_id": "${install_id}",
            "payload": ["order_id", "currency", "amount"],
        },
    }


def build_config(url, state_dir, paths, **overrides):
    """The config dict. Each keyword overrides or adds a top-level section: a dict is deep-merged
    (None values delete keys), anything else replaces. `input={...}` is deep-merged into the first
    input; `inputs=[...]` replaces the list."""
    cfg = {
        "endpoint": {
            "url": url,
            "username": TEST_USER,
            "password_env": PASSWORD_ENV,
            "timeout": "5s",
            "allow_insecure_http": url.startswith("http:"),
        },
        "agent": {
            "state_dir": state_dir,
            "id_namespace": "test-ns",
            "shutdown_timeout": "5s",
            "log_level": "info",
        },
        "batch": {"flush_interval": "100ms"},
        "retry": {"initial_backoff": "50ms", "max_backoff": "1s"},
        "inputs": [default_input(paths)],
    }
    input_over = overrides.pop("input", None)
    if input_over is not None:
        _merge(cfg["inputs"][0], input_over)
    return _merge(cfg, overrides)


def write_config(path, standin=None, url=None, state_dir=None, paths=None, **overrides):
    """Writes an agent config (YAML) to path and returns path. The endpoint is standin.url (or url, or
    an unused local port); state_dir defaults to <dir of path>/state, paths to
    [<dir of path>/purchases.log]. Other keywords as build_config."""
    d = os.path.dirname(os.path.abspath(path))
    if url is None:
        url = standin.url if standin is not None else "http://127.0.0.1:9%s" % EVENTS_PATH
    if state_dir is None:
        state_dir = os.path.join(d, "state")
    if paths is None:
        paths = [os.path.join(d, "purchases.log")]
    cfg = build_config(url, state_dir, paths, **overrides)
    with open(path, "w", encoding="utf-8") as f:
        f.write("# written by tests/integration/agentlib.py\n")
        f.write(to_yaml(cfg))
    return path


# --- running the agent ---------------------------------------------------------------------------

def agent_env(extra=None, password=TEST_PASSWORD):
    """os.environ plus the test password in ONSIDE_TEST_PASSWORD (and extra)."""
    env = dict(os.environ)
    env[PASSWORD_ENV] = password
    env.pop("JOURNAL_STREAM", None)
    if extra:
        env.update(extra)
    return env


def run_agent(args, env=None, timeout=60, input=None):
    """Runs the agent to completion: returns (rc, stdout, stderr) as str (invalid UTF-8 replaced).
    input: bytes or str for stdin (default: /dev/null). Raises subprocess.TimeoutExpired (after
    killing it) when it runs longer than timeout seconds."""
    if isinstance(input, str):
        input = input.encode("utf-8")
    p = subprocess.run(agent_command() + list(args), env=agent_env() if env is None else env,
                       input=input, stdin=None if input is not None else subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return (p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"))


def start_agent(args, env=None, stderr_path=None, stdout_path=None, rlimits=None, prefix=None):
    """Starts the agent in the background and returns the Popen. Its stderr (and stdout) go to files,
    never pipes, so a long run cannot block on a full pipe: proc.stderr_path / proc.stdout_path
    (temporary files unless given). rlimits: {resource.RLIMIT_X: value} set in the child (as systemd's
    Limit*= settings do). prefix: a command that runs the agent's command line (its arguments), e.g.
    unshare. Stop it with stop_agent(proc)."""
    def set_limits():
        import resource
        for which, value in (rlimits or {}).items():
            resource.setrlimit(which, (value, value))

    if stderr_path is None:
        fd, stderr_path = tempfile.mkstemp(prefix="onside-agent-", suffix=".stderr")
        os.close(fd)
    if stdout_path is None:
        fd, stdout_path = tempfile.mkstemp(prefix="onside-agent-", suffix=".stdout")
        os.close(fd)
    with open(stderr_path, "ab") as err, open(stdout_path, "ab") as out:
        proc = subprocess.Popen(list(prefix or []) + agent_command() + list(args),
                                env=agent_env() if env is None else env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                preexec_fn=set_limits if rlimits else None)
    proc.stderr_path = stderr_path
    proc.stdout_path = stdout_path
    return proc


def agent_stderr(proc):
    """What a start_agent process has written to stderr so far."""
    with open(proc.stderr_path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def stop_agent(proc, sig=signal.SIGTERM, timeout=15):
    """Sends sig and waits up to timeout seconds; kills it after that. Returns the exit status
    (negative for a signal, as Popen reports it)."""
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def proc_status_kib(pid, key="VmRSS"):
    """A kB figure from /proc/PID/status (VmRSS, VmHWM, ...), or 0 when the process is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def sanitized(binary=None):
    """True when the agent binary is built with AddressSanitizer: its RSS holds the sanitizer's
    quarantine, and its leak check cannot run under ptrace."""
    with open(binary or agent_binary(), "rb") as f:
        return b"__asan_init" in f.read()


def statically_linked(binary=None):
    """True when the agent binary is a static ELF executable (no PT_INTERP program header): the
    portable build, which cannot dlopen() parser plugins."""
    import struct
    with open(binary or agent_binary(), "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:  # ELF64 little-endian only
            return False
        phoff, = struct.unpack_from("<Q", head, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != 3 for i in range(phnum))  # PT_INTERP


def skip_unless_plugins_load():
    """Skips the calling test when the agent binary cannot load parser plugins (statically linked)."""
    if statically_linked():
        raise unittest.SkipTest("the agent binary %s is statically linked (the portable build): it cannot "
                                "load parser plugins" % agent_binary())


def metrics(state):
    """metrics.prom of state as {name with labels: value} (comments and blank lines left out)."""
    out = {}
    with open(os.path.join(state, "metrics.prom")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def deadletters(state):
    """The records of state's dead-letter file, oldest first ([] when there is none)."""
    p = os.path.join(state, "dead-letter.jsonl")
    if not os.path.exists(p):
        return []
    with open(p) as f:
        return [json.loads(line) for line in f]


def status_lines(out):
    """`onside-agent status` output as (head, header, rows): the lines above the table (whether the
    agent runs, its delivery), the table's header, and its rows (a last line in parentheses, the note
    on rotated files left out, is not a row)."""
    lines = out.splitlines()
    at = [i for i, line in enumerate(lines) if line.startswith("PATH ")][0]
    return lines[:at], lines[at], [line for line in lines[at + 1:] if not line.startswith("(")]


def wait_for(predicate, timeout=10.0, interval=0.05, message="condition"):
    """Polls predicate() until it returns a true value (returned) or raises AssertionError at timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, message))
        time.sleep(interval)


# --- the stand-in --------------------------------------------------------------------------------

def openssl_config(path, subject, extensions):
    """Writes an openssl req configuration that makes exactly the given X.509v3 extensions (a dict) and
    the distinguished name CN=subject, whatever the system's openssl.cnf holds: OpenSSL 1.1.1's req
    adds the default config's v3_ca extensions to those of -addext, and a certificate with two
    basicConstraints is rejected ("unable to get local issuer certificate")."""
    with open(path, "w") as f:
        f.write("[req]\nprompt = no\ndistinguished_name = dn\nx509_extensions = ext\n"
                "[dn]\nCN = %s\n[ext]\n" % subject)
        for k, v in extensions.items():
            f.write("%s = %s\n" % (k, v))
    return path


def make_tls_cert(directory, name="localhost"):
    """A self-signed certificate for 127.0.0.1 and localhost made with the openssl CLI (1.1.1 or 3.x):
    returns (cert_path, key_path); the certificate is its own CA (use it as endpoint.ca_file). Raises
    unittest.SkipTest when openssl is not installed."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise unittest.SkipTest("openssl is not installed")
    cert = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    conf = openssl_config(os.path.join(directory, name + ".cnf"), name, {
        "subjectAltName": "DNS:localhost,IP:127.0.0.1",
        "basicConstraints": "critical,CA:TRUE",
        "subjectKeyIdentifier": "hash"})
    subprocess.run([openssl, "req", "-x509", "-config", conf, "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return cert, key


class StandIn:
    """The Onside API stand-in (tests/standin/standin.py) in a child process.

    StandIn(fault_5xx=0.2, seed=3, reject_ids=[...], retry_after_date=True, ...) takes the command-line
    options as keywords (underscores for dashes; True for a flag; a list is comma-joined). Use as a
    context manager or call start()/stop(). Files live in self.dir (a new temporary directory unless
    directory= is given; a created one is removed by close() unless ONSIDE_KEEP_TMP is set):
    record.jsonl, standin.log, port."""

    def __init__(self, directory=None, user=TEST_USER, password=TEST_PASSWORD, port=0, tls=None, **options):
        self._own_dir = directory is None
        self.dir = directory or tempfile.mkdtemp(prefix="onside-standin-")
        self.user, self.password = user, password
        self.port = port
        self.tls = tls  # None, or (cert_path, key_path)
        self.options = options
        self.record_path = os.path.join(self.dir, "record.jsonl")
        self.log_path = os.path.join(self.dir, "standin.log")
        self.port_file = os.path.join(self.dir, "port")
        self.proc = None

    def command(self):
        cmd = [sys.executable, STANDIN, "--port", str(self.port), "--port-file", self.port_file,
               "--user", self.user, "--password", self.password, "--record", self.record_path,
               "--log", self.log_path]
        if self.tls:
            cmd += ["--tls-cert", self.tls[0], "--tls-key", self.tls[1]]
        for k, v in self.options.items():
            flag = "--" + k.replace("_", "-")
            if v is True:
                cmd.append(flag)
            elif v is False or v is None:
                continue
            elif isinstance(v, (list, tuple)):
                cmd += [flag, ",".join(str(x) for x in v)]
            else:
                cmd += [flag, str(v)]
        return cmd

    def start(self, timeout=10.0):
        """Starts it and waits (up to timeout seconds) for the port file. After a stop(), start()
        listens on the same port again and appends to the same record."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        try:
            os.unlink(self.port_file)
        except FileNotFoundError:
            pass
        with open(os.path.join(self.dir, "standin.stderr"), "ab") as err:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=err)
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None:
                raise RuntimeError("the stand-in exited with %s:\n%s" % (self.proc.returncode, self.diagnostics()))
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the stand-in did not start within %.0fs:\n%s" % (timeout, self.diagnostics()))
            time.sleep(0.02)
        with open(self.port_file) as f:
            self.port = int(f.read().strip())
        return self

    def stop(self, timeout=5.0):
        """SIGTERM, then SIGKILL after timeout seconds. Returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def restart(self):
        self.stop()
        return self.start()

    def close(self):
        self.stop()
        if self._own_dir and not os.environ.get("ONSIDE_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def diagnostics(self):
        text = []
        for name in ("standin.stderr", "standin.log"):
            p = os.path.join(self.dir, name)
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    text.append(f.read()[-4000:])
        return "\n".join(text)

    @property
    def scheme(self):
        return "https" if self.tls else "http"

    @property
    def base_url(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.port)

    @property
    def url(self):
        """The events endpoint, for endpoint.url."""
        return self.base_url + EVENTS_PATH

    def connection(self, timeout=10):
        """A new http.client connection to it (TLS without verification: loopback test use)."""
        if self.tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=ctx)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None):
        """One request on a new connection: returns (status, headers dict, body bytes)."""
        conn = self.connection()
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode("utf-8")
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def stats(self):
        """GET /_stats as a dict."""
        status, _, body = self.request("GET", "/_stats")
        if status != 200:
            raise RuntimeError("/_stats answered %d: %r" % (status, body))
        return json.loads(body)

    def control(self, settings=None, **kw):
        """POST /_control with settings (and keywords), e.g. control(mode="down") or
        control({"status_script": [503, 204]}). Returns the resulting settings."""
        doc = dict(settings or {})
        doc.update(kw)
        status, _, body = self.request("POST", "/_control", doc, {"Content-Type": "application/json"})
        if status != 200:
            raise RuntimeError("/_control answered %d: %r" % (status, body))
        return json.loads(body)

    def events(self):
        """Every recorded event (a list of dicts), read from the record file; works after stop() too.
        A last line still being written is left out."""
        try:
            with open(self.record_path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in data.split(b"\n")[:-1] if line.strip()]

    def event_ids(self):
        return [e["event_id"] for e in self.events()]

    def wait_events(self, n, timeout=10.0):
        """Waits until at least n events are recorded; returns them all."""
        return wait_for(lambda: (lambda ev: ev if len(ev) >= n else None)(self.events()), timeout,
                        message="%d recorded events (have %d)" % (n, len(self.events())))

    def log(self):
        """The stand-in's request log so far."""
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def api_requests(self):
        """Every API request answered so far, from the request log, in the order they were answered: a
        dict with time (unix seconds, when the answer was sent), status (None for a reset), events and
        bytes (the body's size)."""
        import datetime
        out = []
        for m in re.finditer(r"^(\S+) \S+ POST %s status=(\S+) events=(\d+) bytes=(\d+) " % re.escape(EVENTS_PATH),
                             self.log(), re.M):
            when = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ")
            out.append({"time": when.replace(tzinfo=datetime.timezone.utc).timestamp(),
                        "status": int(m.group(2)) if m.group(2).isdigit() else None,
                        "events": int(m.group(3)), "bytes": int(m.group(4))})
        return out

    def post(self, body, user=None, password=None, content_type="application/json", headers=None):
        """POSTs body (dict/list as JSON, or bytes) to the events endpoint with Basic auth: returns
        (status, headers, body bytes)."""
        import base64
        h = {"Content-Type": content_type} if content_type else {}
        cred = "%s:%s" % (self.user if user is None else user, self.password if password is None else password)
        h["Authorization"] = "Basic " + base64.b64encode(cred.encode("utf-8")).decode("ascii")
        h.update(headers or {})
        return self.request("POST", EVENTS_PATH, body, h)


# --- unittest glue -------------------------------------------------------------------------------

class AgentTestCase(unittest.TestCase):
    """Each test gets self.tmp (a temporary directory), self.standin (started; options from
    standin_options) and helpers. Set keep_tmp/ONSIDE_KEEP_TMP to keep the files."""

    standin_options = {}

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="onside-test-")
        self.standin = StandIn(directory=os.path.join(self.tmp, "standin"), **self.standin_options)
        os.mkdir(self.standin.dir)
        self.standin.start()
        self._agents = []

    def tearDown(self):
        for proc in self._agents:
            stop_agent(proc, signal.SIGKILL, 5)
        self.standin.stop()
        if not os.environ.get("ONSIDE_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, *names):
        return os.path.join(self.tmp, *names)

    def env(self, **extra):
        return agent_env(extra)

    def write_log(self, lines, name="purchases.log", crlf=False):
        """Appends lines to <tmp>/<name>; returns its path."""
        p = self.path(name)
        append_lines(p, lines, crlf)
        return p

    def config(self, name="agent.yaml", **overrides):
        """Writes <tmp>/<name> pointing at self.standin (keywords as write_config); returns its path."""
        overrides.setdefault("standin", self.standin)
        return write_config(self.path(name), **overrides)

    def start_agent(self, args, env=None, rlimits=None, prefix=None):
        """start_agent, stopped (SIGKILL) at tearDown if still running."""
        proc = start_agent(args, env=self.env() if env is None else env,
                           stderr_path=self.path("agent-%d.stderr" % len(self._agents)), rlimits=rlimits,
                           prefix=prefix)
        self._agents.append(proc)
        return proc


def lost_check(test, what):
    """Says in the test's output that one of its checks is not made in this run, and why (under ASan or
    valgrind the process's memory is the tool's, ...): a line "LOST CHECK <test id>: <what>" on stdout,
    which scripts/test.sh lists at the end of the suite."""
    print("LOST CHECK %s: %s" % (test.id(), what), flush=True)


def main(argv=None):
    """Runs the tests of __main__ (or the test names given as arguments, e.g. "T.test_x") and prints the
    final line "N passed, M failed"; exits 0 only when nothing failed and at least one test ran. Each
    skipped test gets a line "SKIP <test id>: <reason>" on stdout (scripts/test.sh fails on a skip whose
    reason is not in its allow-list); skips are not failures here."""
    argv = sys.argv[1:] if argv is None else argv
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules["__main__"])
    if argv:
        suite = unittest.defaultTestLoader.loadTestsFromNames(argv, sys.modules["__main__"])
    result = unittest.TextTestRunner(stream=sys.stderr, verbosity=2).run(suite)
    # a test counts once however many of its subtests failed or were skipped
    def whole(t):
        return getattr(t, "test_case", t).id()
    failed = len({whole(t) for t, _ in result.failures + result.errors} |
                 {whole(t) for t in result.unexpectedSuccesses})
    skipped = len({whole(t) for t, _ in result.skipped})
    passed = max(0, result.testsRun - failed - skipped - len(result.expectedFailures))
    sys.stderr.flush()
    for test, reason in result.skipped:
        print("SKIP %s: %s" % (test.id(), " ".join(str(reason).split())))
    if skipped:
        print("%d skipped" % skipped)
    print("%d passed, %d failed" % (passed, failed))
    if result.testsRun == 0:
        print("no tests collected: nothing was checked")
    sys.stdout.flush()
    sys.exit(1 if failed or result.testsRun == 0 else 0)
