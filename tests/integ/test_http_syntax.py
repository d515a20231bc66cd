"""HTTP/1.1 message syntax that RFC 9112 forbids and nginx refuses (API.md §8): whitespace
before a header's colon, obs-fold, a missing or repeated Host, HTTP versions other than
1.x (505); and the absolute-form target RFC 9112 §3.2.2 says a server must accept.  Raw
bytes over TLS to the real server; a refusal is a JSON error, Connection: close, and
nothing after it is answered."""
import pytest

from conftest import build_request
from test_http import assert_error, assert_health

SMUGGLED = build_request("GET", "/readyz")


def assert_refused_alone(c, status, error):
    """The refusal, then the close: no request after it (a smuggled one) is answered."""
    r = c.read_response()
    assert_error(r, status, error)
    assert r.header("Connection") == "close", r
    assert c.read_eof() == b"", "a request after the refused one was answered"


def framed(head):
    """A request head with Content-Length spelt in `head`, followed by SMUGGLED, which is
    its body when that Content-Length counts and a request of its own when it does not."""
    return head.replace(b"{n}", str(len(SMUGGLED)).encode()) + SMUGGLED


@pytest.mark.parametrize("raw", [
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Forwarded-For : 192.0.2.1\r\n\r\n" + SMUGGLED,
    framed(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length : {n}\r\n\r\n"),
    framed(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length\t: {n}\r\n\r\n"),
    framed(b"GET /healthz HTTP/1.1\r\nHost : x\r\nContent-Length: {n}\r\n\r\n"),
    framed(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n {n}\r\n\r\n"),
    framed(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\t{n}\r\n\r\n"),
    framed(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n"
           b"Content-Length: {n}\r\n\r\n"),
    b"GET /healthz HTTP/1.1\r\nHost: x\r\n: nameless\r\n\r\n" + SMUGGLED,
], ids=["ws-before-colon", "ws-before-colon-length", "tab-before-colon", "ws-before-colon-host", "obs-fold-empty-first",
        "obs-fold-tab", "obs-fold", "empty-name"])
def test_header_syntax_is_400(server, raw):
    """Before: "X-Forwarded-For : …" was kept as a header named "X-Forwarded-For " and
    ignored (llhttp refused the blank only after the names that frame a message), and
    "Content-Length:\\r\\n N" was read as a length of N, where a proxy in front may
    frame the message otherwise."""
    srv = server()
    with srv.tls() as c:
        c.request("GET", "/healthz")
        assert_health(c.read_response())
        c.send(raw)
        assert_refused_alone(c, 400, "invalid_request")
    assert_health(srv.get())


@pytest.mark.parametrize("raw", [
    b"GET /healthz HTTP/1.1\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nX-Host: x\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n",
    b"GET /healthz HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: a/b\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: user@a\r\n\r\n",
], ids=["none", "none-but-x-host", "two", "two-cases", "two-http10", "slash", "userinfo"])
def test_host_missing_repeated_or_invalid_is_400(server, raw):
    """RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host and to
    any request with more than one, or with an invalid one."""
    srv = server()
    with srv.tls() as c:
        c.send(raw + SMUGGLED)
        body = assert_error(c.read_response(), 400, "invalid_request")
        assert "Host" in body["error_description"], body
        assert c.read_eof() == b""


def test_host_forms_that_are_fine(server):
    srv = server()
    with srv.tls() as c:
        for host in ("localhost", f"127.0.0.1:{srv.port}", "[::1]:8443", "LOCALHOST"):
            c.send(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            assert_health(c.read_response())
        # HTTP/1.0 may omit it (RFC 9112 §3.2 requires it of HTTP/1.1)
        c.send(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.header("Connection") == "keep-alive", r


@pytest.mark.parametrize("version", [b"2.0", b"3.0", b"0.9", b"9.9"])
def test_other_http_versions_are_505(server, version):
    """Before: "HTTP/2.0" was parsed and answered as HTTP/1.1 (and 3.0 or 9.9 got 400)."""
    srv = server()
    with srv.tls() as c:
        c.request("GET", "/healthz")
        assert_health(c.read_response())
        c.send(b"GET /healthz HTTP/" + version + b"\r\nHost: x\r\n\r\n" + SMUGGLED)
        r = c.read_response()
        assert (r.status, r.reason) == (505, "HTTP Version Not Supported"), r
        assert r.version == "HTTP/1.1"
        assert_error(r, 505, "http_version_not_supported")
        assert r.header("Connection") == "close"
        assert c.read_eof() == b""


def test_http2_preface_and_simple_request_are_505(server):
    srv = server(plain=True)
    for conn in (srv.tls, srv.plain):
        for raw in (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"GET /healthz\r\n\r\n"):
            with conn() as c:
                c.send(raw)
                assert_refused_alone(c, 505, "http_version_not_supported")


def test_absolute_form_is_routed_by_its_path(server):
    """RFC 9112 §3.2.2: "GET https://host/healthz" is accepted and routed as /healthz
    (it was 404: the whole URL was taken for the path); its authority, like Host, names
    nothing the server acts on."""
    srv = server()
    with srv.tls() as c:
        c.request("GET", f"https://localhost:{srv.port}/healthz")
        assert_health(c.read_response())
        c.request("GET", "HTTPS://other.example/healthz?verbose=1")
        assert_health(c.read_response())
        c.request("HEAD", f"http://127.0.0.1:{srv.port}/readyz")
        r = c.read_response(head=True)
        assert r.status == 200, r
        c.request("GET", "https://localhost/nothing-here")
        assert_error(c.read_response(), 404, "not_found")
        c.request("GET", "https://localhost")
        assert_error(c.read_response(), 404, "not_found")
        c.request("POST", "https://localhost/healthz")
        r = c.read_response()
        assert_error(r, 405, "method_not_allowed")
        assert r.header("Allow") == "GET, HEAD"
        assert c.is_open_after(0.1)
