"""Request limits and timeouts (API.md §8): each gives its status, a JSON error body, and
closes where HTTP requires it; each limit is configurable in [limits]."""
import ssl
import time

import pytest

from conftest import build_request, tls_context
from slow import slow
from test_http import assert_error, assert_health


def assert_refused_and_closed(c, status, error):
    r = c.read_response()
    body = assert_error(r, status, error)
    assert r.header("Connection") == "close", r
    assert c.read_eof() == b"", "nothing may follow the error response"
    return body


def padded_request(total, path="/healthz"):
    """A GET whose header block (request line to the blank line) is exactly total bytes."""
    base = build_request("GET", path, [("X-Pad", "")])
    pad = total - len(base)
    assert pad >= 0
    return build_request("GET", path, [("X-Pad", "p" * pad)])


def test_header_block_limit_default(server):
    srv = server()
    with srv.tls() as c:
        c.send(padded_request(8000))
        assert_health(c.read_response())
        c.send(padded_request(9000))
        body = assert_refused_and_closed(c, 431, "request_header_fields_too_large")
        assert "header" in body["error_description"]


def test_header_block_limit_huge_header_in_pieces(server):
    """A header line that keeps growing across many writes is cut off at the limit, not
    buffered without bound."""
    srv = server()
    with srv.tls() as c:
        c.send(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Long: ")
        for _ in range(20):  # 20 x 1 KiB > 8 KiB
            c.send(b"a" * 1024)
            if not c.is_open_after(0.005):
                break  # the answer arrived: stop sending
        assert_refused_and_closed(c, 431, "request_header_fields_too_large")


def test_header_count_limit_default(server):
    srv = server()
    with srv.tls() as c:
        # Host plus 63 more: 64 headers, the limit itself, is fine.
        c.request("GET", "/healthz", headers=[(f"X-H{i}", "v") for i in range(63)])
        assert_health(c.read_response())
        c.request("GET", "/healthz", headers=[(f"X-H{i}", "v") for i in range(64)])
        body = assert_refused_and_closed(c, 431, "request_header_fields_too_large")
        assert "headers" in body["error_description"]


def test_body_limit_default_refused_before_the_body(server):
    srv = server()
    with srv.tls() as c:
        c.request("POST", "/healthz", body=b"x" * 16384)  # the limit itself: read, routed
        r = c.read_response()
        assert_error(r, 405, "method_not_allowed")
        assert r.header("Connection") is None
        # Only the headers of an oversized request: the answer must not wait for the body.
        c.send(
            b"POST /healthz HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 16385\r\n\r\n"
        )
        assert_refused_and_closed(c, 413, "request_too_large")


def test_chunked_request_is_411(server):
    srv = server()
    with srv.tls() as c:
        c.send(
            b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n0\r\n\r\n"
        )
        assert_refused_and_closed(c, 411, "length_required")


@pytest.mark.parametrize(
    "raw",
    [
        b"HELLO WORLD\r\n\r\n",
        b"GET /healthz HTTP/1.x\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"\x00\x01\x02\x03garbage\r\n\r\n",
    ],
    ids=["request-line", "version", "header-syntax", "double-length", "negative-length",
         "binary"],
)
def test_malformed_request_is_400_then_close(server, raw):
    srv = server(workers=1)
    with srv.tls() as c:
        c.request("GET", "/healthz")
        assert_health(c.read_response())  # the same connection served a good one first
        c.send(raw)
        assert_refused_and_closed(c, 400, "invalid_request")
    assert_health(srv.get())


LIMITS = {"limits": {"header_bytes": 2048, "body_bytes": 2048, "headers": 10}}


def test_limits_are_configurable(server):
    srv = server(config=LIMITS)
    with srv.tls() as c:
        c.send(padded_request(2000))
        assert_health(c.read_response())
        c.request("POST", "/healthz", body=b"x" * 2048)
        assert_error(c.read_response(), 405, "method_not_allowed")
        c.request("GET", "/healthz", headers=[(f"X-H{i}", "v") for i in range(9)])
        assert_health(c.read_response())
    with srv.tls() as c:
        c.send(b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2049\r\n\r\n")
        assert_refused_and_closed(c, 413, "request_too_large")
    with srv.tls() as c:
        c.send(padded_request(2100))
        assert_refused_and_closed(c, 431, "request_header_fields_too_large")
    with srv.tls() as c:
        c.request("GET", "/healthz", headers=[(f"X-H{i}", "v") for i in range(10)])
        assert_refused_and_closed(c, 431, "request_header_fields_too_large")


TIMEOUTS = {"limits": {"header_timeout": 1, "idle_timeout": 1}}


def test_request_timeout_408_for_unfinished_headers(server):
    srv = server(config={"limits": {"header_timeout": 1}})
    with srv.tls() as c:
        start = time.monotonic()
        c.send(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        r = c.read_response(timeout=5)
        elapsed = time.monotonic() - start
        assert_error(r, 408, "request_timeout")
        assert r.header("Connection") == "close"
        assert 0.9 <= elapsed < slow(3.0), elapsed
        assert c.read_eof() == b""


def test_request_timeout_is_not_extended_by_a_trickle(server):
    """Slowloris: one byte every 0.2 s still gets 408 one second after the first byte."""
    srv = server(config={"limits": {"header_timeout": 1}})
    with srv.tls() as c:
        start = time.monotonic()
        request = build_request("GET", "/healthz", [("X-Slow", "z" * 100)])
        for byte in request[:-4]:
            c.send(bytes([byte]))
            if not c.is_open_after(0.2):
                break
            assert time.monotonic() - start < slow(3.0), "the trickle was never cut off"
        r = c.read_response()
        assert_error(r, 408, "request_timeout")
        assert time.monotonic() - start < slow(2.5)


def test_request_timeout_408_for_unfinished_body(server):
    srv = server(config={"limits": {"header_timeout": 1}})
    with srv.tls() as c:
        c.send(b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\n12345")
        assert_refused_and_closed(c, 408, "request_timeout")


def test_idle_timeout_closes_keep_alive_connection(server):
    srv = server(config=TIMEOUTS)
    with srv.tls() as c:
        c.request("GET", "/healthz")
        assert_health(c.read_response())
        start = time.monotonic()
        assert c.read_eof(timeout=5) == b""
        assert 0.9 <= time.monotonic() - start < slow(3.0)
        assert c.eof == "clean", "an idle TLS connection must be closed with close_notify"


def test_header_timeout_does_not_cut_idle_connections(server):
    srv = server(config={"limits": {"header_timeout": 1, "idle_timeout": 30}})
    with srv.tls() as c:
        c.request("GET", "/healthz")
        assert_health(c.read_response())
        assert c.is_open_after(1.6), "an idle connection is governed by idle_timeout"
        c.request("GET", "/healthz")
        assert_health(c.read_response())


def test_max_connections_pauses_accepting(server):
    """[limits] max_connections is per worker: at the limit the worker stops accepting
    (new clients wait in the backlog) and resumes as soon as a connection closes."""
    srv = server(workers=1, config={"limits": {"max_connections": 2}})
    first, second = srv.tls(), srv.tls()
    try:
        for c in (first, second):
            c.request("GET", "/healthz")
            assert_health(c.read_response())
        # A third client: the kernel completes its TCP handshake, but its ClientHello gets
        # no answer while the worker is at the limit...
        hello_out = ssl.MemoryBIO()
        tls = tls_context(srv.cert).wrap_bio(ssl.MemoryBIO(), hello_out,
                                            server_hostname="localhost")
        with pytest.raises(ssl.SSLWantReadError):
            tls.do_handshake()
        waiting = srv.raw()
        waiting.sendall(hello_out.read())
        waiting.settimeout(0.5)
        with pytest.raises(TimeoutError):
            waiting.recv(1)
        # ...and gets its ServerHello as soon as one of the two others leaves.
        first.close()
        waiting.settimeout(5)
        assert waiting.recv(65536)[:1] == b"\x16"
        waiting.close()
        second.request("GET", "/healthz")
        assert_health(second.read_response())
    finally:
        first.close()
        second.close()


def test_stalled_tls_handshake_is_closed_at_header_timeout(server):
    srv = server(config=TIMEOUTS)
    with srv.raw() as s:
        s.sendall(CLIENT_HELLO_START)
        start = time.monotonic()
        s.settimeout(5)
        assert s.recv(100) == b""
        assert 0.9 <= time.monotonic() - start < slow(3.0)


# The first bytes of a TLS 1.2 ClientHello record: the record header promises 512 bytes,
# the handshake header a ClientHello, then the version and part of the random.
CLIENT_HELLO_START = bytes.fromhex("16030102000100 01fc 0303") + b"\x11" * 16


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_oversized_request_sent_whole_still_gets_its_answer(server, scheme):
    """A client that sends an oversized body (or header block) in full before reading, as
    requests and curl do, must read the 413/431, not a reset or a TLS EOF: the server
    half-closes and keeps draining input for a while (RFC 9112 §9.6) instead of closing
    while the client still writes."""
    srv = server(plain=True)
    base = srv.url if scheme == "https" else srv.plain_url
    with srv.session() as s:
        for i in range(25):
            r = s.post(base + "/healthz", data=b"x" * (20000 + 4000 * i), timeout=10)
            assert r.status_code == 413, r
            assert r.json()["error"] == "request_too_large"
            assert r.headers["Connection"] == "close"
        for i in range(10):
            r = s.get(base + "/healthz", headers={"X-Big": "b" * (9000 + 5000 * i)}, timeout=10)
            assert r.status_code == 431, r
            assert r.json()["error"] == "request_header_fields_too_large"
