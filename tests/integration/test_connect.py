#!/usr/bin/env python3
"""`onside-agent check --connect`, what `check` verifies beyond the file, and endpoint.proxy, through
the real binary against the API stand-in (and a forward proxy in this file), on 127.0.0.1 only.

- check --connect resolves, connects, verifies TLS and POSTs {"events":[]} with the credentials: the
  stand-in's 400 (it authenticates first, then refuses an empty batch) confirms the URL and the
  credentials (exit 0); 401/403 say the credentials are refused, 404 the URL is wrong, a TLS failure
  names endpoint.ca_file, a proxy from the environment is named without its credentials (exit 1).
- check, run as root, tries what the configuration points at as the service's user (a stand-in user
  here): the password file, the state directory, each matched log file; it warns about a password with
  a CR or surrounding whitespace without showing it; unknown keys get "did you mean"; a tab in the
  indentation is called a tab.
- endpoint.proxy (credentials never logged), the environment's http_proxy, and proxy: "" for none.
"""

import base64
import http.server
import json
import os
import pwd
import re
import socket
import stat
import sys
import threading
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agentlib  # noqa: E402
from agentlib import expected_pos_ids, purchase_lines, run_agent  # noqa: E402

PROXY_USER = "proxy-user"
PROXY_SECRET = "Px-s3cret-9Qw"
PROXY_VARS = ("http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY")
PROBE_BODY = b'{"events":[]}'


def free_port():
    """A port nothing listens on (bound and closed again)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class ForwardProxy:
    """A plain HTTP forward proxy on 127.0.0.1 that wants Basic proxy credentials: it relays each
    request for an absolute http:// URL and counts what it relayed."""

    def __init__(self, user=PROXY_USER, password=PROXY_SECRET):
        want = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Proxy-Authorization") != want:
                    proxy.refused += 1
                    self.send_response(407)
                    self.send_header("Proxy-Authenticate", 'Basic realm="proxy"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                url = urllib.parse.urlsplit(self.path)
                import http.client
                conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-authorization",
                                                                                     "proxy-connection")}
                conn.request("POST", url.path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                conn.close()
                proxy.relayed.append((self.path, r.status))
                self.send_response(r.status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.relayed = []
        self.refused = 0
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, user=PROXY_USER, password=PROXY_SECRET):
        return "http://%s:%s@127.0.0.1:%d" % (user, password, self.port)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Case(agentlib.AgentTestCase):
    def env(self, **extra):
        env = agentlib.agent_env(extra)
        for v in PROXY_VARS:
            if v not in extra:
                env.pop(v, None)
        return env

    def connect(self, cfg, env=None):
        return run_agent(["check", "--connect", "-c", cfg], env=self.env() if env is None else env)

    def requests(self):
        """(status, events, bytes) of each request the stand-in served."""
        return [(int(m.group(1)), int(m.group(2)), int(m.group(3)))
                for m in re.finditer(r"status=(\d+) events=(\d+) bytes=(\d+)", self.standin.log())]

    def served(self):
        """requests(), once there is one: the stand-in logs a request after it answered it, so the
        agent may have read the answer and exited before the line is written."""
        return agentlib.wait_for(self.requests, timeout=10, message="the stand-in's log of the request")

    def probe_lines(self, out):
        return [ln for ln in out.splitlines() if ln.startswith("  ") or ln.startswith("connect: ")]


class Connect(Case):
    def test_right_credentials_and_url_are_confirmed_by_one_request_without_events(self):
        cfg = self.config(paths=[self.path("a.log")], state_dir=self.path("state"))
        rc, out, err = self.connect(cfg)
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(self.probe_lines(out), [
            "connect: %s" % self.standin.url,
            "  proxy:    none (no proxy variable in the environment)",
            "  resolve:  127.0.0.1: 127.0.0.1",
            self.probe_lines(out)[3],
            '  request:  POST {"events":[]} as user "%s": HTTP 400, answer: {"error":"events is empty"}'
            % agentlib.TEST_USER,
            "  result:   the URL and the credentials are right (the API accepted the credentials and refused "
            "the batch without events, as it refuses every one)"])
        self.assertRegex(self.probe_lines(out)[3], r"^  connect:  ok, \d+ ms$")
        self.assertEqual(self.served(), [(400, 0, len(PROBE_BODY))])
        self.assertEqual(self.standin.events(), [])
        self.assertFalse(os.path.exists(self.path("state")), "check --connect wrote state")

    def test_refused_credentials_are_named_with_the_fix(self):
        cfg = self.config(paths=[self.path("a.log")])
        env = self.env()
        env[agentlib.PASSWORD_ENV] = "Wrong-pass-77"
        rc, out, err = self.connect(cfg, env)
        self.assertEqual(rc, 1)
        self.assertIn("  result:   FAILED: the credentials are refused (HTTP 403)\n"
                      '  fix:      check endpoint.username ("%s") and the password (endpoint.password_env)\n'
                      % agentlib.TEST_USER, out)
        self.assertIn("the connection test failed", err)
        self.assertNotIn("Wrong-pass-77", out + err)
        self.assertEqual(self.served(), [(403, 0, len(PROBE_BODY))])

    def test_a_wrong_url_is_named_with_the_fix(self):
        url = self.standin.base_url + "/attribution-api/v1/event"
        cfg = self.config(paths=[self.path("a.log")], url=url)
        rc, out, err = self.connect(cfg)
        self.assertEqual(rc, 1)
        self.assertIn("  result:   FAILED: wrong URL: HTTP 404 (not found) for %s\n"
                      "  fix:      endpoint.url must be the events endpoint, such as "
                      "https://onside.io/attribution-api/v1/events\n" % url, out)

    def test_nothing_listening_is_a_failed_connection(self):
        cfg = self.config(paths=[self.path("a.log")], url="http://127.0.0.1:%d/attribution-api/v1/events"
                          % free_port())
        rc, out, err = self.connect(cfg)
        self.assertEqual(rc, 1)
        self.assertRegex(out, r"\n  connect:  FAILED: [^\n]*\n  fix:      nothing accepts connections at 127\.0\.0\.1: "
                              r"check endpoint.url \(host and port\) and the firewall, or set endpoint.proxy")

    def test_an_invalid_configuration_is_not_probed(self):
        cfg = self.config(paths=[self.path("a.log")], batch={"max_events": 0})
        rc, out, err = self.connect(cfg)
        self.assertEqual(rc, 2)
        self.assertNotIn("connect:", out)
        self.assertEqual(self.requests(), [])


class ConnectTls(Case):
    def tls_standin(self):
        d = self.path("pki")
        os.mkdir(d)
        cert, key = agentlib.make_tls_cert(d)
        s = agentlib.StandIn(directory=self.path("tls-standin"), tls=(cert, key))
        os.mkdir(s.dir)
        s.start()
        self.addCleanup(s.stop)
        return s, cert

    def test_the_right_ca_file_verifies_the_server(self):
        s, cert = self.tls_standin()
        cfg = self.config(standin=s, paths=[self.path("a.log")], endpoint={"ca_file": cert})
        rc, out, err = self.connect(cfg)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("  ca:       %s (endpoint.ca_file)\n" % cert, out)
        self.assertRegex(out, r"\n  tls:      certificate of 127\.0\.0\.1 verified, \d+ ms\n")
        self.assertIn("the URL and the credentials are right", out)

    def test_a_wrong_ca_names_ca_file_as_the_fix(self):
        s, _ = self.tls_standin()
        other = self.path("other")
        os.mkdir(other)
        wrong, _ = agentlib.make_tls_cert(other, name="other")
        for ca in (wrong, None):  # another CA, and the system's CA certificates
            cfg = self.config(standin=s, paths=[self.path("a.log")], endpoint={"ca_file": ca} if ca else {})
            rc, out, err = self.connect(cfg)
            self.assertEqual(rc, 1, out)
            self.assertRegex(out, r"\n  tls:      FAILED: [^\n]*certificate[^\n]*\n  fix:      the server's certificate "
                                  r"is not verified by the CA certificates [^\n]*: if the endpoint uses a private "
                                  r"CA, set endpoint.ca_file to its certificate \(PEM\)\n")
        self.assertEqual(s.stats()["requests"], 0)


class ConnectProxy(Case):
    def test_a_proxy_from_the_environment_is_named_without_its_credentials(self):
        port = free_port()
        cfg = self.config(paths=[self.path("a.log")])
        env = self.env(http_proxy="http://%s:%s@127.0.0.1:%d" % (PROXY_USER, PROXY_SECRET, port))
        rc, out, err = self.connect(cfg, env)
        self.assertEqual(rc, 1)
        self.assertIn("  proxy:    http://127.0.0.1:%d (http_proxy in the environment, with credentials)\n"
                      "  resolve:  left to the proxy\n" % port, out)
        self.assertIn("  fix:      the proxy http://127.0.0.1:%d cannot be reached: check it, or unset it\n" % port,
                      out)
        self.assertNotIn(PROXY_SECRET, out + err)
        self.assertNotIn(PROXY_USER, out + err)

    def test_no_proxy_sends_the_endpoint_past_the_environments_proxy(self):
        cfg = self.config(paths=[self.path("a.log")])
        env = self.env(http_proxy="http://127.0.0.1:%d" % free_port(), no_proxy="example.com,127.0.0.1")
        rc, out, err = self.connect(cfg, env)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("  proxy:    none (no_proxy in the environment names 127.0.0.1)\n", out)

    def test_the_configured_proxy_is_used_and_its_password_never_shown(self):
        proxy = ForwardProxy()
        self.addCleanup(proxy.close)
        cfg = self.config(paths=[self.path("a.log")], endpoint={"proxy": proxy.url()})
        rc, out, err = self.connect(cfg)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("  proxy:    http://127.0.0.1:%d (endpoint.proxy, with credentials)\n" % proxy.port, out)
        self.assertRegex(out, r"\n  connect:  through the proxy, \d+ ms\n")
        self.assertEqual(proxy.relayed, [(self.standin.url, 400)])
        self.assertNotIn(PROXY_SECRET, out + err)

    def test_wrong_proxy_credentials_are_a_407(self):
        proxy = ForwardProxy()
        self.addCleanup(proxy.close)
        cfg = self.config(paths=[self.path("a.log")], endpoint={"proxy": proxy.url(password="nope-x")})
        rc, out, err = self.connect(cfg)
        self.assertEqual(rc, 1)
        self.assertIn("  result:   FAILED: the proxy http://127.0.0.1:%d wants credentials, or refused them "
                      "(HTTP 407)\n" % proxy.port, out)
        self.assertEqual((proxy.refused, proxy.relayed), (1, []))


class ProxyDelivery(Case):
    def test_events_go_through_the_configured_proxy_and_its_password_is_never_logged(self):
        proxy = ForwardProxy()
        self.addCleanup(proxy.close)
        log = self.write_log(purchase_lines(30, seed=31))
        cfg = self.config(paths=[log], endpoint={"proxy": proxy.url()}, batch={"max_events": 10})
        rc, out, err = run_agent(["run", "--once", "-vv", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        self.assertEqual(sorted(self.standin.event_ids()), sorted(expected_pos_ids(log)))
        self.assertEqual(proxy.relayed, [(self.standin.url, 204)] * 3)
        self.assertNotIn(PROXY_SECRET, out + err)
        self.assertIn("info agent: proxy http://127.0.0.1:%d (endpoint.proxy, with credentials)" % proxy.port, err)

    def test_the_environments_proxy_is_used_unless_proxy_is_empty(self):
        proxy = ForwardProxy()
        self.addCleanup(proxy.close)
        log = self.write_log(purchase_lines(5, seed=32))
        env = self.env(http_proxy=proxy.url())
        cfg = self.config(paths=[log], state_dir=self.path("s1"))
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=env)
        self.assertEqual(rc, 0, err)
        self.assertEqual(proxy.relayed, [(self.standin.url, 204)])
        # proxy: "" goes direct, whatever the environment says
        cfg = self.config(name="direct.yaml", paths=[log], state_dir=self.path("s2"), endpoint={"proxy": ""})
        rc, _, err = run_agent(["run", "--once", "-c", cfg], env=env)
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(proxy.relayed), 1)
        self.assertEqual(len(self.standin.events()), 10)

    def test_a_proxy_that_is_not_a_url_is_refused_without_echoing_it(self):
        for value, why in (("ftp://u:Pz-77@host:21", "unsupported scheme (expected http, https, socks4, socks4a, "
                                                      "socks5 or socks5h)"),
                           ("u:Pz-77@host:3128", 'expected "" or a URL such as http://proxy.example:3128')):
            cfg = self.config(paths=[self.path("a.log")], endpoint={"proxy": value})
            rc, out, err = run_agent(["check", "-c", cfg], env=self.env())
            self.assertEqual(rc, 2)
            self.assertRegex(err, r"%s:\d+:\d+: endpoint.proxy: %s\n" % (re.escape(cfg), re.escape(why)))
            self.assertNotIn("Pz-77", err)


def service_user():
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        return None


class CheckAsServiceUser(Case):
    def setUp(self):
        super().setUp()
        if os.geteuid() != 0 or service_user() is None:
            self.skipTest("needs root and the user nobody")
        os.chmod(self.tmp, 0o755)

    def test_what_the_service_cannot_read_or_write_is_named_with_the_fix(self):
        nobody = service_user()
        pw = self.path("password")
        with open(pw, "w") as f:
            f.write("Svc-pass-41\n")
        os.chmod(pw, 0o600)
        log = self.write_log(purchase_lines(2, seed=33))
        os.chmod(log, 0o600)
        state = self.path("state")
        os.mkdir(state, 0o750)
        cfg = self.config(paths=[log], state_dir=state,
                          endpoint={"password_env": None, "password_file": pw})
        os.chmod(cfg, 0o644)
        env = self.env(ONSIDE_TEST_SERVICE_USER="nobody")
        rc, out, err = run_agent(["check", "-c", cfg], env=env)
        self.assertEqual(rc, 2, out + err)
        group = __import__("grp").getgrgid(nobody.pw_gid).gr_name
        self.assertEqual(err.splitlines(), [
            "%s: endpoint.password_file: user nobody cannot read %s: Permission denied; make it root:%s 0640 "
            "(readable by the service's group)" % (cfg, pw, group),
            "%s: agent.state_dir: user nobody cannot write %s: Permission denied; it must belong to the service's "
            "user (chown)" % (cfg, state),
            "%s: warning: inputs[0] (purchases): user nobody cannot read %s: Permission denied; the service reads "
            "logs as its user and the group adm" % (cfg, log)])
        self.assertEqual(out, "")
        # fixed as the messages say: valid, and said for whom
        os.chown(pw, 0, nobody.pw_gid)
        os.chmod(pw, 0o640)
        os.chown(state, nobody.pw_uid, nobody.pw_gid)
        os.chmod(log, 0o644)
        rc, out, err = run_agent(["check", "-c", cfg], env=env)
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(out.splitlines()[1], "%s: checked as user nobody (the service's): the configuration, its "
                                              "secrets and the state directory are usable" % cfg)
        self.assertNotIn("Svc-pass-41", out + err)

    def check_as_nobody(self, cfg):
        os.chmod(cfg, 0o644)
        return run_agent(["check", "-c", cfg], env=self.env(ONSIDE_TEST_SERVICE_USER="nobody"))

    def test_files_a_root_run_left_in_the_state_dir_are_named_with_the_fix(self):
        nobody = service_user()
        state = self.path("state")
        os.mkdir(state, 0o755)
        os.chown(state, nobody.pw_uid, nobody.pw_gid)
        log = self.write_log(purchase_lines(1, seed=34))
        os.chmod(log, 0o644)
        cfg = self.config(paths=[log], state_dir=state)
        for name in ("agent.lock", "checkpoint.json"):
            with open(os.path.join(state, name), "w") as f:
                f.write("{}" if name.endswith(".json") else "")
            os.chmod(os.path.join(state, name), 0o644)
        rc, out, err = self.check_as_nobody(cfg)
        self.assertEqual((rc, out), (2, ""), err)
        self.assertEqual(err.splitlines(), [
            "%s: agent.state_dir: user nobody cannot write %s/%s: Permission denied; left by an agent run as "
            "another user? chown it to the service's user" % (cfg, state, name)
            for name in ("agent.lock", "checkpoint.json")])
        # chowned as said: usable
        for name in ("agent.lock", "checkpoint.json"):
            os.chown(os.path.join(state, name), nobody.pw_uid, nobody.pw_gid)
        rc, out, err = self.check_as_nobody(cfg)
        self.assertEqual((rc, err), (0, ""))
        self.assertIn("checked as user nobody (the service's)", out)

    def test_a_state_dir_not_made_yet_needs_a_parent_the_user_can_write(self):
        nobody = service_user()
        parent = self.path("var")
        os.mkdir(parent, 0o755)
        log = self.write_log(purchase_lines(1, seed=35))
        os.chmod(log, 0o644)
        state = os.path.join(parent, "onside")
        cfg = self.config(paths=[log], state_dir=state)
        rc, out, err = self.check_as_nobody(cfg)
        self.assertEqual((rc, out), (2, ""), err)
        self.assertEqual(err, "%s: agent.state_dir: user nobody cannot write %s: Permission denied\n" % (cfg, parent))
        self.assertFalse(os.path.exists(state), "check made the state directory")
        os.chown(parent, nobody.pw_uid, nobody.pw_gid)
        rc, out, err = self.check_as_nobody(cfg)
        self.assertEqual((rc, err), (0, ""))

    def test_an_unreadable_configuration_include_or_ca_file_is_an_error(self):
        nobody = service_user()
        group = __import__("grp").getgrgid(nobody.pw_gid).gr_name
        state = self.path("state")
        os.mkdir(state, 0o755)
        os.chown(state, nobody.pw_uid, nobody.pw_gid)
        log = self.write_log(purchase_lines(1, seed=36))
        os.chmod(log, 0o644)
        cert, _ = agentlib.make_tls_cert(self.tmp)
        os.chmod(cert, 0o600)
        inc = self.path("more.yaml")
        with open(inc, "w") as f:
            f.write(agentlib.to_yaml({"inputs": [agentlib.default_input([self.path("more.log")], name="more")]}))
        os.chmod(inc, 0o600)
        cfg = self.config(paths=[log], state_dir=state, endpoint={"ca_file": cert}, include=[inc])
        rc, out, err = self.check_as_nobody(cfg)
        os.chmod(cfg, 0o600)
        rc2, out2, err2 = run_agent(["check", "-c", cfg], env=self.env(ONSIDE_TEST_SERVICE_USER="nobody"))
        self.assertEqual((rc, out), (2, ""), err)
        fix = "make it root:%s 0640 (readable by the service's group)" % group
        self.assertEqual(err.splitlines(), [
            "%s: include: user nobody cannot read %s: Permission denied; %s" % (cfg, inc, fix),
            "%s: endpoint.ca_file: user nobody cannot read %s: Permission denied" % (cfg, cert)])
        self.assertEqual((rc2, out2), (2, ""), err2)
        self.assertEqual(err2.splitlines()[0],
                         "%s: the configuration: user nobody cannot read %s: Permission denied; %s" % (cfg, cfg, fix))

    def test_a_log_in_a_directory_the_user_cannot_search_is_a_warning(self):
        nobody = service_user()
        state = self.path("state")
        os.mkdir(state, 0o755)
        os.chown(state, nobody.pw_uid, nobody.pw_gid)
        logs = self.path("logs")
        os.mkdir(logs, 0o700)
        log = self.write_log(purchase_lines(1, seed=37), name="logs/app.log")
        os.chmod(log, 0o644)
        cfg = self.config(paths=[os.path.join(logs, "*.log")], state_dir=state)
        rc, out, err = self.check_as_nobody(cfg)
        # a warning: `run` keeps trying the file, so the configuration is valid
        self.assertEqual(rc, 0, err)
        self.assertEqual(err, "%s: warning: inputs[0] (purchases): user nobody cannot read %s: Permission denied; "
                              "the service reads logs as its user and the group adm\n" % (cfg, log))
        self.assertIn("checked as user nobody (the service's)", out)

    def test_without_the_service_user_the_tries_are_made_as_this_user(self):
        state = self.path("state")
        log = self.write_log(purchase_lines(1, seed=38))
        os.chmod(log, 0o600)
        cfg = self.config(paths=[log], state_dir=state)
        os.chmod(cfg, 0o600)
        rc, out, err = run_agent(["check", "-c", cfg], env=self.env(ONSIDE_TEST_SERVICE_USER="no-such-user-17"))
        self.assertEqual((rc, err), (0, ""))
        self.assertTrue(out.startswith("%s: valid:" % cfg), out)
        self.assertNotIn("checked as", out)


class CheckWarnsAndSuggests(Case):
    def test_a_password_with_a_cr_or_surrounding_whitespace_is_warned_about_without_showing_it(self):
        for content, what in (("Cr-pass-5\r\n", "holds a carriage return (a file saved with Windows line ends?)"),
                              (" Sp-pass-5\n", "begins or ends with whitespace (or has more than one trailing "
                                               "newline)"),
                              ("Nl-pass-5\n\n", "begins or ends with whitespace (or has more than one trailing "
                                                "newline)")):
            pw = self.path("pw")
            with open(pw, "w", newline="") as f:
                f.write(content)
            os.chmod(pw, 0o600)
            cfg = self.config(paths=[self.path("a.log")], endpoint={"password_env": None, "password_file": pw})
            rc, out, err = run_agent(["check", "-c", cfg], env=self.env())
            self.assertEqual(rc, 0, err)
            self.assertRegex(err, r"(?m)^%s:\d+:\d+: endpoint.password_file: %s %s, which is sent as part of the "
                                  r"password$" % (re.escape(cfg), re.escape(pw), re.escape(what)))
            self.assertNotIn(content.strip(), out + err)

    def test_unknown_keys_get_the_nearest_known_key(self):
        cfg = self.path("typos.yaml")
        with open(cfg, "w") as f:
            f.write("endpoint:\n  url: %s\n  allow_insecure_http: true\n  username: u\n  password_env: X\n"
                    "  timout: 5s\ninput:\n  - name: a\n" % self.standin.url)
        rc, out, err = run_agent(["check", "-c", cfg], env=self.env(X="Pass-x-1"))
        self.assertEqual(rc, 2)
        self.assertIn('%s:6:3: unknown key "timout" in endpoint; did you mean "timeout"?\n' % cfg, err)
        self.assertIn('%s:7:1: unknown key "input" at the top level; did you mean "inputs"?\n' % cfg, err)

    def test_a_parser_option_typo_gets_the_parsers_own_option(self):
        cfg = self.config(paths=[self.path("a.log")], input={"parser": {"type": "regex", "pattren": "^(?<a>.)"}})
        rc, out, err = run_agent(["check", "-c", cfg], env=self.env())
        self.assertEqual(rc, 2)
        self.assertRegex(err, r'unknown key "pattren" in inputs\[0\].parser; did you mean "pattern"\? '
                              r'\(type regex takes: type, on_mismatch, pattern\)')

    def test_a_tab_in_the_indentation_is_called_a_tab(self):
        cfg = self.path("tab.yaml")
        with open(cfg, "w") as f:
            f.write("endpoint:\n  url: %s\n\tusername: u\n" % self.standin.url)
        rc, out, err = run_agent(["check", "-c", cfg], env=self.env())
        self.assertEqual(rc, 2)
        self.assertRegex(err, r"^%s:3:1: a tab in the indentation: YAML indents with spaces only \(.*\)\n$"
                         % re.escape(cfg))


if __name__ == "__main__":
    agentlib.main()
