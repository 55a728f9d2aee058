#!/usr/bin/env python3
"""Security checks through the real binary: TLS verification that cannot be turned off (a throwaway
CA made with openssl, an untrusted certificate, a wrong host name), http:// refused unless
allow_insecure_http, the password kept out of every output and state file, running as root versus
as an unprivileged user, file names never given to a shell, and plugins loaded only from their
configured, non-writable path. All traffic goes to the stand-in on 127.0.0.1."""

import base64
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agentlib  # noqa: E402
from agentlib import append_lines, deadletters, expected_pos_ids, purchase_lines, run_agent, wait_for  # noqa: E402

# Distinctive, so that finding it (or its Basic-auth encoding) in any output cannot be a coincidence.
SECRET = "Sx-onside-9dQ4vLw2-secret"
NOBODY = 65534
UNIT_FILE = os.path.join(agentlib.source_dir(), "packaging", "onside-agent.service")
# One log line as log.c writes it when stderr is not the journal: timestamp, level, component, message.
LOG_LINE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (error|warn|info|debug) [a-z0-9_.-]+: ")
WRAPPED = bool(os.environ.get("ONSIDE_AGENT_WRAPPER"))


def openssl(*args):
    exe = shutil.which("openssl")
    if exe is None:
        raise unittest.SkipTest("openssl is not installed")
    subprocess.run([exe] + list(args), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class ThrowawayCA:
    """A CA and server certificates signed by it, made with the openssl CLI in directory."""

    def __init__(self, directory):
        self.dir = directory
        self.cert = os.path.join(directory, "ca.crt")
        self.key = os.path.join(directory, "ca.key")
        # a configuration of our own: the system's would add a second basicConstraints under 1.1.1
        conf = agentlib.openssl_config(os.path.join(directory, "ca.cnf"), "onside-agent throwaway test CA", {
            "basicConstraints": "critical,CA:TRUE",
            "keyUsage": "critical,keyCertSign,cRLSign",
            "subjectKeyIdentifier": "hash"})
        openssl("req", "-x509", "-config", conf, "-newkey", "rsa:2048", "-nodes", "-keyout", self.key,
                "-out", self.cert, "-days", "2")

    def server(self, name, san):
        """A server certificate for the subjectAltName san (e.g. "DNS:localhost,IP:127.0.0.1"):
        returns (cert_path, key_path)."""
        cert = os.path.join(self.dir, name + ".crt")
        key = os.path.join(self.dir, name + ".key")
        csr = os.path.join(self.dir, name + ".csr")
        ext = os.path.join(self.dir, name + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,"
                    "keyEncipherment\nextendedKeyUsage=serverAuth\n" % san)
        conf = agentlib.openssl_config(os.path.join(self.dir, name + ".cnf"), name, {})
        openssl("req", "-config", conf, "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr)
        openssl("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key, "-CAcreateserial",
                "-out", cert, "-days", "2", "-extfile", ext)
        return cert, key


# Where agent/cabundle.c looks for the system's CA certificates after SSL_CERT_FILE and SSL_CERT_DIR,
# in order (packaging/README.md, "CA certificates"): (path, is a directory).
SYSTEM_CA_PLACES = [
    ("/etc/ssl/certs/ca-certificates.crt", False),
    ("/etc/pki/tls/certs/ca-bundle.crt", False),
    ("/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", False),
    ("/etc/ssl/ca-bundle.pem", False),
    ("/etc/ssl/cert.pem", False),
    ("/etc/ssl/certs", True),
    ("/var/lib/ca-certificates/openssl", True),
]


def system_ca_bundle():
    """The first usable place of SYSTEM_CA_PLACES on this system, or None."""
    for path, is_dir in SYSTEM_CA_PLACES:
        if is_dir and os.path.isdir(path) and os.access(path, os.R_OK | os.X_OK):
            return path
        if not is_dir and os.path.isfile(path) and os.path.getsize(path) > 0 and os.access(path, os.R_OK):
            return path
    return None


_PKI = {}


def pki():
    """The CA, a good server certificate (localhost, 127.0.0.1), one for another host name and a
    self-signed one nobody trusts; made once per process."""
    if not _PKI:
        d = tempfile.mkdtemp(prefix="onside-test-pki-")
        ca = ThrowawayCA(d)
        made = {"dir": d, "ca": ca.cert}
        made["good"] = ca.server("server", "DNS:localhost,IP:127.0.0.1")
        made["wrong_host"] = ca.server("wrong-host", "DNS:wrong-host.example.com")
        other = os.path.join(d, "untrusted")
        os.mkdir(other)
        made["untrusted"] = agentlib.make_tls_cert(other)
        _PKI.update(made)  # all or nothing: a failure above is reported by every test, not half-made
    return _PKI


def tearDownModule():
    if _PKI and not os.environ.get("ONSIDE_KEEP_TMP"):
        shutil.rmtree(_PKI["dir"], ignore_errors=True)


def read_checkpoint(state):
    p = os.path.join(state, "checkpoint.json")
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)


def secret_forms(secret=SECRET, user=agentlib.TEST_USER):
    """The password as it could leak: as is, as JSON-escaped text and inside a Basic-auth header."""
    return [secret.encode(), json.dumps(secret)[1:-1].encode(),
            base64.b64encode(("%s:%s" % (user, secret)).encode()),
            base64.b64encode(secret.encode())[:-4]]


class SecurityCase(agentlib.AgentTestCase):
    def once(self, cfg, env=None, timeout=120):
        rc, out, err = run_agent(["run", "--once", "-c", cfg], env=self.env() if env is None else env,
                                 timeout=timeout)
        self.assertEqual(rc, 0, err)
        return err

    def assert_no_secret(self, data, where, secret=SECRET):
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        for form in secret_forms(secret):
            self.assertNotIn(form, data, "the password (%r) appears in %s" % (form, where))

    def assert_state_has_no_secret(self, state, secret=SECRET):
        for root, _, names in os.walk(state):
            for name in names:
                with open(os.path.join(root, name), "rb") as f:
                    self.assert_no_secret(f.read(), os.path.join(root, name), secret)


# --- TLS ----------------------------------------------------------------------------------------

class Tls(SecurityCase):
    def tls_standin(self, cert):
        s = agentlib.StandIn(directory=self.path("tls-standin"), tls=cert)
        os.mkdir(s.dir)
        s.start()
        self.addCleanup(s.stop)
        return s

    def test_ca_file_trusts_a_private_ca(self):
        p = pki()
        s = self.tls_standin(p["good"])
        log = self.write_log(purchase_lines(25, seed=101))
        cfg = self.config(standin=s, paths=[log], endpoint={"ca_file": p["ca"]})
        self.once(cfg)
        self.assertEqual(s.event_ids(), expected_pos_ids(log))
        self.assertEqual(s.stats()["accepted_requests"], 1)

    def refused(self, s, log, ca_file, why):
        """Follows log against stand-in s for a few seconds: asserts that s received no request,
        that the agent logged why (a regex), kept running, and neither delivered nor dead-lettered
        any line."""
        state = self.path("state-%d" % len(self._agents))
        cfg = self.config(name="agent-%d.yaml" % len(self._agents), standin=s, paths=[log], state_dir=state,
                          endpoint={"ca_file": ca_file} if ca_file else {}, agent={"shutdown_timeout": "1s"})
        proc = self.start_agent(["run", "-c", cfg])
        wait_for(lambda: "delivery failed" in agentlib.agent_stderr(proc), timeout=30 if WRAPPED else 10,
                 message="a logged delivery failure")
        time.sleep(1.0)  # more attempts: still nothing may arrive
        self.assertIsNone(proc.poll(), "the agent exited")
        err = agentlib.agent_stderr(proc)
        failure = [ln for ln in err.splitlines() if "delivery failed" in ln][0]
        self.assertRegex(failure, why)
        stats = s.stats()
        self.assertEqual(stats["requests"], 0, stats)
        self.assertEqual(s.events(), [])
        self.assertEqual(agentlib.stop_agent(proc), 0, agentlib.agent_stderr(proc))
        cp = read_checkpoint(state)
        if cp is not None:
            self.assertTrue(all(f["offset"] == 0 for f in cp["files"]), cp)
        self.assertEqual(deadletters(state), [])
        return failure

    def test_untrusted_certificate_receives_nothing_and_the_error_says_why(self):
        p = pki()
        s = self.tls_standin(p["untrusted"])
        log = self.write_log(purchase_lines(5, seed=102))
        # neither the private CA nor the system's store trusts a self-signed certificate
        for ca_file in (p["ca"], None):
            with self.subTest(ca_file=ca_file):
                self.refused(s, log, ca_file, r"(?i)certificate|issuer")

    # -- CA certificates found at run time (agent/cabundle.c) --

    def ca_env(self, **extra):
        env = self.env(**extra)
        for var in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
            if var not in extra:
                env.pop(var, None)
        return env

    def check_summary(self, cfg, env):
        rc, out, err = run_agent(["check", "-c", cfg], env=env)
        self.assertEqual(rc, 0, out + err)
        return out

    def test_check_names_the_system_bundle_found_in_the_documented_order(self):
        cfg = self.config(url="https://127.0.0.1:9/attribution-api/v1/events")
        out = self.check_summary(cfg, self.ca_env())
        found = system_ca_bundle()
        if found is None:
            self.assertIn(", CA certificates none found", out)
        else:
            self.assertIn(", CA certificates %s (" % found, out)

    def test_ssl_cert_file_is_the_bundle_when_ca_file_is_not_set(self):
        p = pki()
        s = self.tls_standin(p["good"])
        log = self.write_log(purchase_lines(4, seed=107))
        cfg = self.config(standin=s, paths=[log])
        env = self.ca_env(SSL_CERT_FILE=p["ca"])
        self.assertIn(", CA certificates %s (SSL_CERT_FILE)\n" % p["ca"], self.check_summary(cfg, env))
        err = self.once(cfg, env=env)
        self.assertIn("CA certificates %s (SSL_CERT_FILE)" % p["ca"], err)
        self.assertEqual(s.event_ids(), expected_pos_ids(log))

    def test_ssl_cert_dir_of_hashed_certificates_is_used(self):
        p = pki()
        s = self.tls_standin(p["good"])
        d = self.path("certs")
        os.mkdir(d)
        h = subprocess.run([shutil.which("openssl"), "x509", "-hash", "-noout", "-in", p["ca"]], check=True,
                           stdout=subprocess.PIPE).stdout.decode().strip()
        shutil.copyfile(p["ca"], os.path.join(d, h + ".0"))
        log = self.write_log(purchase_lines(3, seed=108))
        cfg = self.config(standin=s, paths=[log])
        env = self.ca_env(SSL_CERT_DIR=d)
        self.assertIn(", CA certificates %s (SSL_CERT_DIR)\n" % d, self.check_summary(cfg, env))
        self.once(cfg, env=env)
        self.assertEqual(s.event_ids(), expected_pos_ids(log))

    def test_ca_file_is_used_instead_of_ssl_cert_file(self):
        p = pki()
        s = self.tls_standin(p["good"])
        log = self.write_log(purchase_lines(2, seed=109))
        cfg = self.config(standin=s, paths=[log], endpoint={"ca_file": p["ca"]})
        env = self.ca_env(SSL_CERT_FILE=p["untrusted"][0])
        self.assertIn(", CA certificates %s (endpoint.ca_file)\n" % p["ca"], self.check_summary(cfg, env))
        self.once(cfg, env=env)
        self.assertEqual(s.event_ids(), expected_pos_ids(log))

    def test_wrong_host_name_receives_nothing_and_the_error_says_why(self):
        p = pki()
        s = self.tls_standin(p["wrong_host"])
        log = self.write_log(purchase_lines(5, seed=103))
        self.refused(s, log, p["ca"], r"(?i)(host ?name|subject name|does not match).*127\.0\.0\.1"
                                      r"|127\.0\.0\.1.*(host ?name|subject name|does not match)")

    def test_a_ca_file_without_certificates_is_refused_before_anything_is_sent(self):
        # an empty file, or a key where the certificate belongs, would trust nothing and fail every
        # request: the loader reads the certificates, so check reports it and run refuses to start
        p = pki()
        s = self.tls_standin(p["good"])
        log = self.write_log(purchase_lines(5, seed=104))
        empty = self.path("empty-ca.pem")
        open(empty, "w").close()
        key = self.path("key-not-ca.pem")
        with open(p["good"][1]) as src, open(key, "w") as dst:
            dst.write(src.read())
        for ca in (empty, key):
            cfg = self.config(name="check.yaml", standin=s, paths=[log], endpoint={"ca_file": ca})
            for args in (["check", "-c", cfg], ["run", "--once", "-c", cfg]):
                rc, out, err = run_agent(args, env=self.env())
                self.assertEqual(rc, 2, "%s accepted %s:\n%s%s" % (args[0], ca, out, err))
                self.assertRegex(err, r"^%s:\d+:\d+: endpoint.ca_file: %s holds no certificate \(expected PEM: "
                                 r"-----BEGIN CERTIFICATE-----\)$" % (re.escape(cfg), re.escape(ca)))
        self.assertEqual(s.stats()["requests"], 0)
        self.assertEqual(s.events(), [])

    def test_a_missing_ca_file_is_reported_and_nothing_is_sent(self):
        p = pki()
        s = self.tls_standin(p["good"])
        missing = self.path("no-such-ca.pem")
        log = self.write_log(purchase_lines(5, seed=105))
        # the configuration loader validates what it points at (password_file, plugins, ca_file):
        # check reports it, and run refuses to start, so nothing is sent
        cfg = self.config(name="check.yaml", standin=s, paths=[log], endpoint={"ca_file": missing})
        for args in (["check", "-c", cfg], ["run", "--once", "-c", cfg]):
            rc, out, err = run_agent(args, env=self.env())
            self.assertEqual(rc, 2, "%s accepted a ca_file that does not exist:\n%s%s" % (args[0], out, err))
            self.assertIn(missing, err)
            self.assertRegex(err, r"^%s:\d+:\d+: endpoint.ca_file: cannot read " % re.escape(cfg))
        self.assertEqual(s.stats()["requests"], 0)
        self.assertEqual(s.events(), [])

    def test_verification_cannot_be_turned_off(self):
        p = pki()
        log = self.write_log(purchase_lines(3, seed=106))
        for key, value in (("insecure", True), ("verify", False), ("tls_verify", False), ("ssl_verify", False),
                           ("verify_peer", False), ("verify_host", False), ("skip_tls_verify", True),
                           ("tls", {"insecure": True})):
            with self.subTest(key=key):
                cfg = self.config(name="off.yaml", paths=[log], endpoint={key: value})
                rc, out, err = run_agent(["check", "-c", cfg], env=self.env())
                self.assertEqual(rc, 2, out + err)
                self.assertIn('unknown key "%s"' % key, err)
        # libcurl's and OpenSSL's environment cannot turn it off either
        s = self.tls_standin(p["untrusted"])
        env = self.env(CURL_SSL_NO_VERIFY="1", CURLOPT_SSL_VERIFYPEER="0", GIT_SSL_NO_VERIFY="1",
                       PYTHONHTTPSVERIFY="0", NODE_TLS_REJECT_UNAUTHORIZED="0")
        cfg = self.config(name="env.yaml", standin=s, paths=[log], state_dir=self.path("env-state"),
                          agent={"shutdown_timeout": "1s"})
        proc = self.start_agent(["run", "-c", cfg], env=env)
        wait_for(lambda: "delivery failed" in agentlib.agent_stderr(proc), timeout=30 if WRAPPED else 10,
                 message="a logged delivery failure")
        self.assertEqual(s.stats()["requests"], 0)
        self.assertEqual(agentlib.stop_agent(proc), 0, agentlib.agent_stderr(proc))


# --- http:// ------------------------------------------------------------------------------------

class InsecureHttp(SecurityCase):
    def http_config(self, url, allow, name="http.yaml", state=None):
        log = self.path("purchases.log")
        if not os.path.exists(log):
            self.write_log(purchase_lines(4, seed=110))
        return self.config(name=name, url=url, paths=[log], state_dir=state or self.path("state"),
                           endpoint={"allow_insecure_http": allow})

    def test_http_is_refused_by_check_and_run(self):
        for url in (self.standin.url, self.standin.url.replace("http://", "HTTP://"),
                    self.standin.url.replace("http://", "Http://")):
            with self.subTest(url=url):
                cfg = self.http_config(url, False)
                rc, out, err = run_agent(["check", "-c", cfg], env=self.env())
                self.assertEqual(rc, 2, out + err)
                self.assertRegex(err, r"%s:\d+:\d+: endpoint.url: .*allow_insecure_http" % re.escape(cfg))
                for args in (["run", "--once", "-c", cfg], ["run", "-c", cfg]):
                    rc, out, err = run_agent(args, env=self.env(), timeout=30)
                    self.assertEqual(rc, 2, out + err)
                    self.assertIn("allow_insecure_http", err)
        self.assertEqual(self.standin.stats()["requests"], 0)
        self.assertFalse(os.path.exists(self.path("state", "checkpoint.json")))

    def test_allow_insecure_http_permits_it(self):
        cfg = self.http_config(self.standin.url, True)
        rc, out, err = run_agent(["check", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        self.once(cfg)
        self.assertEqual(self.standin.event_ids(), expected_pos_ids(self.path("purchases.log")))

    def test_reload_to_http_is_refused_and_the_https_endpoint_stays(self):
        p = pki()
        s = agentlib.StandIn(directory=self.path("tls-standin"), tls=p["good"])
        os.mkdir(s.dir)
        s.start()
        self.addCleanup(s.stop)
        log = self.write_log(purchase_lines(3, seed=111))
        cfg = self.config(standin=s, paths=[log], endpoint={"ca_file": p["ca"]})
        proc = self.start_agent(["run", "-c", cfg])
        s.wait_events(3, timeout=30 if WRAPPED else 10)
        # the same file now names the plain-HTTP stand-in without allow_insecure_http
        self.config(url=self.standin.url, paths=[log], endpoint={"allow_insecure_http": False})
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in agentlib.agent_stderr(proc), timeout=30 if WRAPPED else 10,
                 message="the refused reload")
        self.assertIn("allow_insecure_http", agentlib.agent_stderr(proc))
        append_lines(log, purchase_lines(2, seed=112, start=4))
        s.wait_events(5, timeout=30 if WRAPPED else 10)
        self.assertEqual(agentlib.stop_agent(proc), 0)
        self.assertEqual(s.event_ids(), expected_pos_ids(log))
        self.assertEqual(self.standin.stats()["requests"], 0)


# --- the password --------------------------------------------------------------------------------

class Password(SecurityCase):
    standin_options = {"password": SECRET}

    def env(self, **extra):
        env = agentlib.agent_env(extra, password=SECRET)
        return env

    def lines_with_trouble(self):
        """Ten purchases, a line that is not JSON and one the server rejects (400 with an answer)."""
        lines = list(purchase_lines(10, seed=120))
        lines.insert(4, "not json at all " + "x" * 20)
        log = self.write_log(lines)
        ids = expected_pos_ids(log)
        self.standin.control(reject_ids=[ids[7]])
        return log, ids

    def exercise(self, cfg, log, ids, password_file=None):
        """Runs the agent at debug level through delivery, a retried 5xx/429/reset, a 400, wrong
        credentials (403), a refused and an accepted reload and SIGUSR1; then status, check and parse.
        Asserts the password is in none of their outputs nor in the state directory."""
        outputs = []
        self.standin.control(status_script=[503, 429, "reset"], retry_after=0)
        proc = self.start_agent(["run", "-c", cfg])
        wait_for(lambda: len(self.standin.events()) >= 9, timeout=60 if WRAPPED else 20,
                 message="9 delivered events")
        proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: "delivered 9" in agentlib.agent_stderr(proc), timeout=10, message="the summary")
        # the server stops accepting this password: 403, logged as wrong credentials
        self.standin.stop()
        self.standin.password = "another-password"
        self.standin.start()
        append_lines(log, purchase_lines(2, seed=121, start=20))
        wait_for(lambda: "credentials" in agentlib.agent_stderr(proc), timeout=30 if WRAPPED else 10,
                 message="the refused credentials")
        # an invalid configuration is refused on reload (the error sits on the password's line)
        with open(cfg) as f:
            good = f.read()
        with open(cfg, "w") as f:
            f.write(good.replace("  username:", "  password: {value: \"%s\"}\n  username:" % SECRET, 1)
                    .replace("log_level: \"debug\"", "log_level: \"chatty\""))
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in agentlib.agent_stderr(proc), timeout=10, message="refused reload")
        with open(cfg, "w") as f:
            f.write(good)
        self.standin.stop()
        self.standin.password = SECRET
        self.standin.start()
        proc.send_signal(signal.SIGHUP)
        self.standin.wait_events(11, timeout=60 if WRAPPED else 20)
        self.assertEqual(agentlib.stop_agent(proc), 0)
        outputs.append(("run stderr", agentlib.agent_stderr(proc)))
        with open(proc.stdout_path, "rb") as f:
            outputs.append(("run stdout", f.read()))
        for args in (["status", "-c", cfg], ["check", "-c", cfg], ["parse", "-c", cfg, log],
                     ["run", "--once", "-v", "-c", cfg]):
            rc, out, err = run_agent(args, env=self.env())
            self.assertEqual(rc, 0, "%s: %s" % (args, err))
            outputs.append((" ".join(args[:1]) + " stdout", out))
            outputs.append((" ".join(args[:1]) + " stderr", err))
        for where, data in outputs:
            self.assert_no_secret(data, where)
        self.assert_state_has_no_secret(self.path("state"))
        # the run really went through the paths above
        text = "\n".join(d if isinstance(d, str) else d.decode("utf-8", "replace") for _, d in outputs)
        self.assertIn("debug", text)
        self.assertIn("credentials", text)
        self.assertIn("reload refused", text)
        dl = deadletters(self.path("state"))
        with open(log, "rb") as f:
            offsets = [off for off, _ in agentlib.file_lines(f.read())]
        self.assertEqual(sorted(e["offset"] for e in dl), [offsets[4], offsets[7]])
        self.assertTrue(any(e.get("status") == 400 for e in dl), dl)

    def test_password_env_never_appears(self):
        log, ids = self.lines_with_trouble()
        cfg = self.config(paths=[log], agent={"log_level": "debug"})
        self.exercise(cfg, log, ids)

    def test_password_file_never_appears(self):
        pw = self.path("password")
        with open(pw, "w") as f:
            f.write(SECRET + "\n")
        os.chmod(pw, 0o600)
        log, ids = self.lines_with_trouble()
        cfg = self.config(paths=[log], agent={"log_level": "debug"},
                          endpoint={"password_env": None, "password_file": pw})
        self.exercise(cfg, log, ids)

    def test_inline_password_never_appears(self):
        log, ids = self.lines_with_trouble()
        cfg = self.config(paths=[log], agent={"log_level": "debug"},
                          endpoint={"password_env": None, "password": SECRET})
        os.chmod(cfg, 0o600)
        self.exercise(cfg, log, ids)

    def test_configuration_errors_around_the_password_never_echo_it(self):
        log = self.write_log(purchase_lines(2, seed=122))
        base = self.config(name="base.yaml", paths=[log], endpoint={"password_env": None, "password": SECRET})
        with open(base) as f:
            text = f.read()
        line = '  password: "%s"\n' % SECRET
        self.assertIn(line, text)
        broken = {
            "mapping": '  password: {value: "%s"}\n' % SECRET,
            "sequence": "  password: [%s]\n" % SECRET,
            "duplicate": line + line,
            "unterminated quote": '  password: "%s\n' % SECRET,
            "plain with colon": "  password: %s: x\n" % SECRET,
            "tag": '  password: !!binary "%s"\n' % SECRET,
            "unknown key": '  pasword: "%s"\n' % SECRET,
            "two sources": line + '  password_env: "%s"\n' % agentlib.PASSWORD_ENV,
            "bad indentation": '   password: "%s"\n' % SECRET,
            "anchor": '  password: &pw "%s"\n  password_file: *pw\n' % SECRET,
        }
        # every command refuses a broken configuration (2); a !!binary tag is not interpreted: the password
        # is its text, and works
        for what, replacement in broken.items():
            with self.subTest(what=what):
                cfg = self.path("broken.yaml")
                with open(cfg, "w") as f:
                    f.write(text.replace(line, replacement))
                os.chmod(cfg, 0o644)
                for args in (["check", "-c", cfg], ["run", "--once", "-c", cfg], ["status", "-c", cfg],
                             ["parse", "-c", cfg, log]):
                    rc, out, err = run_agent(args, env=self.env())
                    self.assert_no_secret(out + err, "%s of a config with %s" % (args[0], what))
                    self.assertEqual(rc, 0 if what == "tag" else 2,
                                     "%s of a config with %s: %s" % (args[0], what, err))

    def test_check_warns_about_a_password_file_readable_by_others(self):
        pw = self.path("password")
        with open(pw, "w") as f:
            f.write(SECRET + "\n")
        cfg = self.config(endpoint={"password_env": None, "password_file": pw})
        os.chmod(cfg, 0o644)
        for mode, warned in ((0o644, True), (0o604, True), (0o640, False), (0o600, False), (0o400, False)):
            with self.subTest(mode=oct(mode)):
                os.chmod(pw, mode)
                rc, out, err = run_agent(["check", "-c", cfg], env=self.env())
                self.assertEqual(rc, 0, err)
                self.assert_no_secret(out + err, "check output")
                if warned:
                    self.assertRegex(err, r"%s:\d+:\d+: .*%s.*readable by other" % (re.escape(cfg), re.escape(pw)))
                else:
                    self.assertNotIn("readable by other", err)

    def test_check_warns_about_an_inline_password_in_a_config_readable_by_others(self):
        cfg = self.config(endpoint={"password_env": None, "password": SECRET})
        for mode, warned in ((0o644, True), (0o604, True), (0o640, False), (0o600, False)):
            with self.subTest(mode=oct(mode)):
                os.chmod(cfg, mode)
                rc, out, err = run_agent(["check", "-c", cfg], env=self.env())
                self.assertEqual(rc, 0, err)
                self.assert_no_secret(out + err, "check output")
                self.assertIn("inline password", err)
                if warned:
                    self.assertRegex(err, r"%s: .*inline password.*readable by other" % re.escape(cfg))
                else:
                    self.assertNotIn("readable by other", err)
        # a config with no inline password may be world-readable without a warning
        plain = self.config(name="plain.yaml")
        os.chmod(plain, 0o644)
        rc, out, err = run_agent(["check", "-c", plain], env=self.env())
        self.assertEqual(rc, 0, err)
        self.assertNotIn("readable by other", err)


# --- privileges ----------------------------------------------------------------------------------

class Privileges(SecurityCase):
    def test_running_as_root_warns_and_names_the_packaged_user(self):
        if os.geteuid() != 0:
            self.skipTest("not running as root")
        log = self.write_log(purchase_lines(2, seed=130))
        err = self.once(self.config(paths=[log]))
        warn = [ln for ln in err.splitlines() if "root" in ln]
        self.assertEqual(len(warn), 1, err)
        self.assertRegex(warn[0], r"\bwarn\b")
        self.assertIn("onside-agent", warn[0].split(":", 3)[-1])

    def test_an_unprivileged_user_needs_only_to_read_logs_and_write_its_state(self):
        setpriv = shutil.which("setpriv")
        if os.geteuid() != 0 or setpriv is None:
            self.skipTest("needs root and setpriv to switch to an unprivileged user")
        os.chmod(self.tmp, 0o711)
        logs = self.path("logs")
        os.mkdir(logs, 0o755)
        log = os.path.join(logs, "purchases.log")
        append_lines(log, purchase_lines(30, seed=131))
        os.chmod(log, 0o644)  # owned by root, read-only for the agent, in a directory it cannot write
        state = self.path("state")
        os.mkdir(state, 0o700)
        os.chown(state, NOBODY, NOBODY)
        cfg = self.config(paths=[os.path.join(logs, "*.log")], state_dir=state)
        os.chmod(cfg, 0o644)
        cmd = [setpriv, "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups"] + agentlib.agent_command()
        p = subprocess.run(cmd + ["run", "--once", "-c", cfg], env=self.env(), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120, cwd="/")
        err = p.stderr.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, err)
        self.assertNotIn("root", err)
        self.assertEqual(self.standin.event_ids(), expected_pos_ids(log))
        for name in os.listdir(state):
            st = os.stat(os.path.join(state, name))
            self.assertEqual(st.st_uid, NOBODY, name)
            self.assertFalse(st.st_mode & stat.S_IWOTH, name)
        self.assertEqual(sorted(os.listdir(logs)), ["purchases.log"])

    def test_the_packaged_unit_never_runs_it_as_root(self):
        if not os.path.exists(UNIT_FILE):
            self.skipTest("no packaging/onside-agent.service")
        settings = {}
        section = None
        with open(UNIT_FILE) as f:
            for raw in f:
                line = raw.strip()
                if not line or line.startswith(("#", ";")):
                    continue
                if line.startswith("["):
                    section = line
                    continue
                k, _, v = line.partition("=")
                settings.setdefault((section, k.strip()), []).append(v.strip())
        svc = lambda k: settings.get(("[Service]", k), [])  # noqa: E731
        self.assertEqual(svc("User"), ["onside-agent"])
        self.assertNotIn(svc("Group"), (["root"], ["0"]))
        self.assertEqual(svc("NoNewPrivileges"), ["yes"])
        self.assertEqual(svc("CapabilityBoundingSet"), [""])
        self.assertEqual(svc("AmbientCapabilities"), [""])
        self.assertNotIn("yes", svc("PermissionsStartOnly"))
        for k in ("ExecStart", "ExecStartPre", "ExecReload", "ExecStop"):
            for v in svc(k):
                # "+" and "!" prefixes run a command with full privileges
                self.assertFalse(v.startswith(("+", "!", "-+", "@+")), "%s=%s" % (k, v))
        self.assertIn("/var/lib/onside-agent", " ".join(svc("ReadWritePaths") + svc("StateDirectory"))
                      + " " + " ".join("/var/lib/" + d for d in svc("StateDirectory")))


# --- no shell ------------------------------------------------------------------------------------

HOSTILE_NAMES = [
    "a;touch pwned-semicolon;.log",
    "$(touch pwned-dollar).log",
    "`touch pwned-backtick`.log",
    "b' || touch pwned-quote '.log",
    "c\" && touch pwned-dquote \".log",
    "d | touch pwned-pipe > e.log",
    "f&touch pwned-amp&.log",
    "-rf --no-preserve-root.log",
    "g *?[x] ~ # {a,b}.log",
]


class NoShell(SecurityCase):
    def hostile_tree(self):
        logs = self.path("logs $(touch pwned-dir)")
        os.mkdir(logs)
        paths = []
        for k, name in enumerate(HOSTILE_NAMES):
            p = os.path.join(logs, name)
            append_lines(p, purchase_lines(3, seed=140 + k, start=10 * k + 1))
            paths.append(p)
        state = self.path("state `touch pwned-state`")
        pw = self.path("pw; touch pwned-password")
        with open(pw, "w") as f:
            f.write(agentlib.TEST_PASSWORD + "\n")
        os.chmod(pw, 0o600)
        cfg = self.config(name="agent $(touch pwned-config).yaml", paths=[os.path.join(logs, "*.log")],
                          state_dir=state, endpoint={"password_env": None, "password_file": pw})
        return logs, paths, state, cfg

    def assert_no_pwned(self, cwd):
        found = []
        for top in (self.tmp, cwd):
            for root, dirs, names in os.walk(top):
                found += [os.path.join(root, n) for n in names + dirs if n.startswith("pwned")]
        self.assertEqual(found, [])

    def test_paths_and_globbed_names_never_reach_a_shell(self):
        logs, paths, state, cfg = self.hostile_tree()
        cwd = self.path("cwd")
        os.mkdir(cwd)
        prefix = []
        strace = shutil.which("strace")
        trace = self.path("execve.trace")
        env = self.env()
        if WRAPPED:
            agentlib.lost_check(self, "no execve or fork under strace: valgrind execs its tool itself")
        elif strace is None:
            agentlib.lost_check(self, "no execve or fork under strace: strace is not installed")
        else:
            probe = subprocess.run([strace, "-f", "-o", os.devnull, "true"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
            if probe.returncode == 0:
                prefix = [strace, "-f", "-qq", "-e", "trace=execve,execveat,fork,vfork", "-o", trace]
                # LeakSanitizer stops the process with ptrace at exit, which a traced process cannot
                # allow: leaks are looked for in every other run
                env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "detect_leaks=0"]))
            else:
                agentlib.lost_check(self, "no execve or fork under strace: strace cannot trace here")
        for args in (["check", "-c", cfg], ["run", "--once", "-c", cfg], ["status", "-c", cfg],
                     ["parse", "-c", cfg, paths[0]]):
            p = subprocess.run(prefix + agentlib.agent_command() + args, env=env, cwd=cwd,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=120)
            self.assertEqual(p.returncode, 0, "%s: %s" % (args[0], p.stderr.decode("utf-8", "replace")))
            if prefix:
                with open(trace) as f:
                    calls = [ln for ln in f if re.search(r"\b(execve|execveat|fork|vfork)\(", ln)]
                # one execve: strace starting the agent itself
                self.assertEqual(len(calls), 1, "".join(calls))
                self.assertIn(os.path.abspath(agentlib.agent_binary()), calls[0])
            if args[0] == "status":
                for path in paths:
                    self.assertIn(path, p.stdout.decode("utf-8", "replace"))
        self.assert_no_pwned(cwd)
        want = sorted(i for path in paths for i in expected_pos_ids(path))
        self.assertEqual(sorted(self.standin.event_ids()), want)
        cp = read_checkpoint(state)
        self.assertEqual(sorted(f["path"] for f in cp["files"]), sorted(paths))

    def test_a_file_name_cannot_forge_log_lines(self):
        logs = self.path("logs")
        os.mkdir(logs)
        name = "x\nerror agent: forged line\r\x1b[2Kinfo agent: forged too.log"
        p = os.path.join(logs, name)
        append_lines(p, purchase_lines(2, seed=150))
        state = self.path("state")
        cfg = self.config(paths=[os.path.join(logs, "*.log")], state_dir=state,
                          agent={"log_level": "debug"})
        err = self.once(cfg)
        self.assertEqual(sorted(self.standin.event_ids()), sorted(expected_pos_ids(p)))
        self.assertIn("forged", err)  # the name is logged (following ...), but escaped
        # JOURNAL_STREAM is unset: every line log.c starts has a timestamp; a forged one does not
        for line in err.split("\n")[:-1]:
            self.assertRegex(line, LOG_LINE_RE, "a log line that log.c did not start:\n%r" % err)
        self.assertNotIn("\x1b", err)
        self.assertNotIn("\r", err)
        # the dead-letter and checkpoint files keep the name exactly (JSON escapes it)
        self.assertEqual([f["path"] for f in read_checkpoint(state)["files"]], [p])


# --- plugins -------------------------------------------------------------------------------------

KV_LINE = "|".join("%s:%s" % kv for kv in (
    ("ts", "2026-05-05T12:00:00Z"), ("event", "purchase_completed"),
    ("install_id", "e3e70682-c209-4cac-a29f-6fbed82c07cd"), ("order_id", "A-1"), ("currency", "USD"),
    ("amount", "1.00")))


class Plugins(SecurityCase):
    def built_plugin(self):
        agentlib.skip_unless_plugins_load()
        d = agentlib.plugin_dir()
        so = os.path.join(os.path.abspath(d), "libonside-kv.so") if d else None
        if not so or not os.path.exists(so):
            self.skipTest("no libonside-kv.so in $ONSIDE_PLUGIN_DIR")
        return so

    def plugin_config(self, path, name="plugin.yaml"):
        log = self.path("kv.log")
        if not os.path.exists(log):
            append_lines(log, [KV_LINE])
        return self.config(name=name, paths=[log], input={"parser": {"type": "plugin", "path": path}})

    def assert_refused(self, cfg, path, why):
        """check exits 2 naming path and why; run refuses to start and sends nothing; parse refuses."""
        rc, out, err = run_agent(["check", "-c", cfg], env=self.env())
        self.assertEqual(rc, 2, out + err)
        self.assertIn(path, err)
        self.assertRegex(err, why)
        rc, out, err = run_agent(["run", "--once", "-c", cfg], env=self.env(), timeout=30)
        self.assertEqual(rc, 2, err)
        self.assertIn(path, err)
        rc, out, err = run_agent(["parse", "-c", cfg], env=self.env(), input=KV_LINE + "\n")
        self.assertEqual(rc, 2, out + err)
        self.assertEqual(out, "")
        self.assertEqual(self.standin.stats()["requests"], 0)

    def copy_plugin(self, name="libmine.so", mode=0o755):
        copy = self.path(name)
        shutil.copyfile(self.built_plugin(), copy)
        os.chmod(copy, mode)
        return copy

    def test_a_private_copy_loads(self):
        copy = self.copy_plugin()
        cfg = self.plugin_config(copy)
        rc, out, err = run_agent(["check", "-c", cfg], env=self.env())
        self.assertEqual(rc, 0, err)
        self.once(cfg)
        self.assertEqual(len(self.standin.events()), 1)

    def test_a_plugin_writable_by_others_or_group_is_refused(self):
        for mode in (0o757, 0o646, 0o666, 0o775, 0o664):
            with self.subTest(mode=oct(mode)):
                copy = self.copy_plugin(mode=mode)
                self.assert_refused(self.plugin_config(copy), copy, r"(?i)writable")

    def test_a_symlink_to_a_writable_plugin_is_refused(self):
        copy = self.copy_plugin(mode=0o666)
        link = self.path("libfine.so")
        os.symlink(copy, link)
        self.assert_refused(self.plugin_config(link), link, r"(?i)writable")

    def test_a_plugin_owned_by_another_user_is_refused(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to give the file away")
        copy = self.copy_plugin()
        os.chown(copy, NOBODY, NOBODY)
        self.assert_refused(self.plugin_config(copy), copy, r"(?i)owned by|owner|uid")

    def test_plugins_load_only_from_the_configured_path(self):
        so = self.built_plugin()
        # a bare or relative name would let dlopen search LD_LIBRARY_PATH, the cache or the cwd
        for path in ("libonside-kv.so", "./libonside-kv.so", "plugins/../libonside-kv.so"):
            with self.subTest(path=path):
                cfg = self.plugin_config(path, name="rel.yaml")
                env = self.env(LD_LIBRARY_PATH=os.path.dirname(so))
                rc, out, err = run_agent(["check", "-c", cfg], env=env)
                self.assertEqual(rc, 2, out + err)
                self.assertIn(path, err)
                rc, out, err = subprocess_run_in(self, ["parse", "-c", cfg], env, os.path.dirname(so))
                self.assertEqual(rc, 2, out + err)
        # an absolute path that does not exist is not resolved elsewhere, even with the same
        # file name in LD_LIBRARY_PATH and in the working directory
        missing = self.path("lib", "libonside-kv.so")
        cfg = self.plugin_config(missing, name="missing.yaml")
        env = self.env(LD_LIBRARY_PATH=os.path.dirname(so))
        rc, out, err = run_agent(["check", "-c", cfg], env=env)
        self.assertEqual(rc, 2, out + err)
        self.assertIn(missing, err)
        rc, out, err = subprocess_run_in(self, ["run", "--once", "-c", cfg], env, os.path.dirname(so))
        self.assertEqual(rc, 2, err)
        self.assertEqual(self.standin.stats()["requests"], 0)


def subprocess_run_in(case, args, env, cwd, input=KV_LINE + "\n"):
    p = subprocess.run(agentlib.agent_command() + args, env=env, cwd=cwd, input=input.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


if __name__ == "__main__":
    agentlib.main()
