"""The TLS listener: versions, ALPN, the dev certificate, session resumption, and the
--dev banner's own instructions (curl, openssl s_client)."""
import json
import os
import re
import shlex
import ssl
import subprocess

import pytest

from conftest import CLIENT_ENV, HTTPConn, build_request
from test_http import assert_health



@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls12_and_tls13_work(server, version):
    srv = server()
    with srv.tls(minimum=version, maximum=version) as c:
        assert c.sock.version() == {"TLSv1_2": "TLSv1.2", "TLSv1_3": "TLSv1.3"}[version.name]
        for _ in range(3):
            c.request("GET", "/healthz")
            assert_health(c.read_response())


def test_tls13_is_preferred(server):
    srv = server()
    with srv.tls() as c:
        assert c.sock.version() == "TLSv1.3"


def test_tls11_is_refused_by_the_server(server):
    """The client offers only TLS 1.1 (at security level 0, so OpenSSL really sends it):
    the server must answer with a protocol_version alert."""
    srv = server()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(srv.cert))
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with pytest.warns(DeprecationWarning):
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    with srv.raw() as raw, pytest.raises(ssl.SSLError) as e:
        ctx.wrap_socket(raw, server_hostname="localhost")
    assert e.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION", e.value
    assert_health(srv.get())


def test_openssl_s_client_versions(server):
    srv = server()
    base = ["openssl", "s_client", "-connect", f"127.0.0.1:{srv.port}",
            "-servername", "localhost", "-CAfile", str(srv.cert), "-verify_return_error",
            "-ign_eof", "-alpn", "http/1.1"]
    request = build_request("GET", "/healthz", [("Connection", "close")])
    for flag, name in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
        p = subprocess.run(base + [flag], input=request, capture_output=True, timeout=10,
                           env=CLIENT_ENV)
        out = p.stdout.decode(errors="replace")
        assert p.returncode == 0, out + p.stderr.decode(errors="replace")
        assert f"Protocol  : {name}" in out
        assert "Verify return code: 0 (ok)" in out
        assert "ALPN protocol: http/1.1" in out
        assert "HTTP/1.1 200 OK\r\n" in out
        assert '\r\nConnection: close\r\n\r\n{"status":"ok"}' in out
    p = subprocess.run(base + ["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"], input=b"",
                       capture_output=True, timeout=10, env=CLIENT_ENV)
    assert p.returncode != 0
    assert "alert protocol version" in p.stderr.decode(errors="replace")


def test_min_version_13_refuses_tls12(server):
    srv = server(config={"tls": {"min_version": "1.3"}})
    with pytest.raises(ssl.SSLError) as e:
        srv.tls(maximum=ssl.TLSVersion.TLSv1_2)
    assert e.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION", e.value
    with srv.tls() as c:
        assert c.sock.version() == "TLSv1.3"


def test_alpn(server):
    srv = server()
    with srv.tls(alpn=("h2", "http/1.1")) as c:
        assert c.sock.selected_alpn_protocol() == "http/1.1"
        c.request("GET", "/healthz")
        assert_health(c.read_response())
    with srv.tls(alpn=None) as c:  # no ALPN at all is fine
        assert c.sock.selected_alpn_protocol() is None
        c.request("GET", "/healthz")
        assert_health(c.read_response())
    # Only protocols the server does not speak: no_application_protocol (RFC 7301 §3.2).
    with pytest.raises(ssl.SSLError) as e:
        srv.tls(alpn=("h2",))
    assert "alert no application protocol" in str(e.value), e.value


def test_dev_certificate_names(server):
    srv = server()
    for name in ("localhost", "127.0.0.1"):
        with srv.tls(server_hostname=name) as c:
            cert = c.sock.getpeercert()
            sans = {v for _, v in cert["subjectAltName"]}
            assert sans == {"localhost", "127.0.0.1", "0:0:0:0:0:0:0:1"}, cert
    with pytest.raises(ssl.SSLCertVerificationError):
        srv.tls(server_hostname="example.com")


def session_reuse(srv, version, n=12):
    """Connects n+1 times offering the first session; returns how many resumed."""
    ctx = ssl.create_default_context(cafile=str(srv.cert))
    ctx.minimum_version = ctx.maximum_version = version
    resumed, session = 0, None
    for i in range(n + 1):
        with srv.raw() as raw, ctx.wrap_socket(raw, server_hostname="localhost",
                                               session=session) as s:
            c = HTTPConn(s)
            c.request("GET", "/healthz")  # TLS 1.3 tickets arrive after the handshake
            assert_health(c.read_response())
            if session is None:
                session = s.session
                assert s.session_reused is False
            else:
                resumed += s.session_reused
    return resumed


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_sessions_resume_on_every_worker(server, version):
    """Ticket keys are made before fork: a ticket from one worker works on the other, so
    every reconnection resumes whichever worker the kernel picks."""
    srv = server(workers=2)
    assert session_reuse(srv, version) == 12


def test_banner_and_its_curl_command(server):
    srv = server()
    out = srv.stdout()
    cert = os.path.realpath(srv.cert)
    url = f"https://127.0.0.1:{srv.port}"
    assert re.search(rf"^  URL: +{re.escape(url)}$", out, re.M), out
    assert re.search(rf"^  certificate: +{re.escape(cert)}$", out, re.M), out
    m = re.search(r"^  (curl --cacert \S+ \S+/healthz)$", out, re.M)
    assert m, out
    cmd = shlex.split(m.group(1))
    assert cmd == ["curl", "--cacert", cert, url + "/healthz"]
    p = subprocess.run(cmd + ["-sS", "--fail", "-w", "\n%{http_code} %{http_version}"],
                       capture_output=True, text=True, timeout=10, env=CLIENT_ENV)
    assert p.returncode == 0, p.stderr
    body, status = p.stdout.rsplit("\n", 1)
    assert json.loads(body) == {"status": "ok"}
    assert status == "200 1.1"


def test_curl_keep_alive_reuses_the_connection(server):
    srv = server()
    url = f"{srv.url}/healthz"
    p = subprocess.run(
        ["curl", "-sS", "-v", "--cacert", str(srv.cert), url, url, url],
        capture_output=True, text=True, timeout=10, env=CLIENT_ENV,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout == '{"status":"ok"}' * 3
    assert p.stderr.count("Re-using existing connection") == 2, p.stderr
