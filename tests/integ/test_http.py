"""HTTP/1.1 over TLS: routes, keep-alive and pipelining (API.md §7, §8)."""
import json
import os
import random
import signal
import socket
import subprocess
import time

from conftest import CLIENT_ENV, HTTPConn, build_request


def assert_health(r):
    assert (r.status, r.reason) == (200, "OK"), r
    assert r.version == "HTTP/1.1"
    assert r.header("Content-Type") == "application/json"
    assert r.header("Content-Length") == str(len(r.body))
    assert r.header("Connection") is None, "keep-alive responses must not say close"
    assert r.header("Date") and r.header("Date").endswith(" GMT"), r
    assert json.loads(r.body) == {"status": "ok"}


def assert_error(r, status, error):
    assert r.status == status, r
    assert r.header("Content-Type") == "application/json", r
    assert r.header("Cache-Control") == "no-store", r
    body = json.loads(r.body)
    assert body["error"] == error, body
    assert isinstance(body["error_description"], str) and body["error_description"], body
    assert set(body) == {"error", "error_description"}, body
    return body


def test_healthz_and_readyz_with_requests(server):
    srv = server()
    with srv.session() as s:
        r = s.get(srv.url + "/healthz", timeout=5)
        assert r.status_code == 200 and r.json() == {"status": "ok"}
        assert r.headers["Content-Type"] == "application/json"
        r = s.get(srv.url + "/readyz", timeout=5)
        assert r.status_code == 200 and r.json() == {"status": "ready"}
        r = s.head(srv.url + "/healthz", timeout=5)
        assert r.status_code == 200 and r.content == b""
        assert r.headers["Content-Length"] == "15"
        # requests keeps one connection for all of these: the server kept it alive.
        pool = s.get_adapter(srv.url).poolmanager.connection_from_url(srv.url)
        assert pool.num_connections == 1


def test_keep_alive_many_requests_on_one_tls_connection(server):
    srv = server()
    with srv.tls() as c:
        for path in ["/healthz", "/readyz", "/healthz", "/nope", "/healthz"]:
            c.request("GET", path)
            r = c.read_response()
            if path == "/healthz":
                assert_health(r)
            elif path == "/readyz":
                assert (r.status, json.loads(r.body)) == (200, {"status": "ready"})
            else:
                assert_error(r, 404, "not_found")
                assert r.header("Connection") is None, "a 404 keeps the connection"
        assert c.is_open_after(0.2)


def test_head_has_length_but_no_body_and_pipelines(server):
    srv = server()
    with srv.tls() as c:
        c.send(build_request("HEAD", "/healthz") + build_request("GET", "/healthz"))
        r = c.read_response(head=True)
        assert r.status == 200 and r.header("Content-Length") == "15"
        # A body after the HEAD response would be read as the next status line here.
        assert_health(c.read_response())
        assert c.buf == b""


def test_thousand_requests_pipelined_in_order(server):
    """1,000 requests on one connection, single ones and batches of up to 50 in one write,
    mixing paths so any reordering or loss shows in the statuses."""
    srv = server()
    rng = random.Random(1000)
    paths = {"/healthz": 200, "/readyz": 200, "/missing": 404}
    sent = 0
    with srv.tls() as c:
        while sent < 1000:
            batch = min(1000 - sent, rng.choice([1, 2, 7, 50]))
            reqs = [rng.choice(list(paths)) + f"?n={sent + i}" for i in range(batch)]
            c.send(b"".join(build_request("GET", p) for p in reqs))
            for p in reqs:
                r = c.read_response()
                want = paths[p.split("?")[0]]
                assert r.status == want, (p, r)
                assert len(r.body) == int(r.header("Content-Length"))
                if want == 200:
                    assert json.loads(r.body)["status"] in ("ok", "ready")
                assert r.header("Connection") is None
            sent += batch
        assert c.buf == b"", "no stray bytes after the last response"
        c.request("GET", "/healthz")
        assert_health(c.read_response())


def test_big_pipelined_burst_larger_than_input_buffer(server):
    """300 requests (~30 KiB) in one write: more than the server's input cap
    (header_bytes + body_bytes + 1 KiB), so it must answer as it goes."""
    srv = server(plain=True)
    burst = b"".join(
        build_request("GET", f"/healthz?pad={'x' * 40}&n={i}") for i in range(300)
    )
    assert len(burst) > 8192 + 16384 + 1024
    for conn in (srv.tls, srv.plain):
        with conn() as c:
            c.send(burst)
            for i in range(300):
                assert_health(c.read_response())
            assert c.is_open_after(0.1)


def test_body_is_consumed_before_next_request(server):
    srv = server()
    body = b'{"x":"' + b"y" * 3000 + b'"}'
    with srv.tls() as c:
        c.send(
            build_request("POST", "/healthz", [("Content-Type", "application/json")], body)
            + build_request("GET", "/healthz")
        )
        r = c.read_response()
        assert_error(r, 405, "method_not_allowed")
        assert r.header("Connection") is None
        assert_health(c.read_response())


def test_not_found_and_method_not_allowed(server):
    srv = server()
    with srv.session() as s:
        r = s.get(srv.url + "/oauth2/nothing-here", timeout=5)
        assert r.status_code == 404
        assert r.json()["error"] == "not_found" and r.json()["error_description"]
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            r = s.request(method, srv.url + "/healthz", timeout=5)
            assert r.status_code == 405, method
            assert r.headers["Allow"] == "GET, HEAD"
            assert r.json()["error"] == "method_not_allowed"
        r = s.post(srv.url + "/readyz", data=b"a=b", timeout=5)
        assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD"


def test_query_string_does_not_change_the_route(server):
    srv = server()
    assert_health(srv.get("/healthz?verbose=1&x=%20"))
    assert_error(srv.get("/healthzx"), 404, "not_found")
    assert_error(srv.get("/healthz/"), 404, "not_found")


def test_connection_close_is_honoured(server):
    srv = server()
    with srv.tls() as c:
        c.request("GET", "/healthz", headers=[("Connection", "close")])
        r = c.read_response()
        assert r.status == 200 and r.header("Connection") == "close"
        assert c.read_eof() == b""
        assert c.eof == "clean", "TLS close must send close_notify"


def test_http10_closes_unless_keep_alive(server):
    srv = server()
    with srv.tls() as c:
        c.request("GET", "/healthz", version="1.0")
        r = c.read_response()
        assert r.status == 200 and r.header("Connection") == "close"
        assert c.read_eof() == b""
    with srv.tls() as c:
        c.request("GET", "/healthz", headers=[("Connection", "keep-alive")], version="1.0")
        assert c.read_response().status == 200
        c.request("GET", "/readyz", headers=[("Connection", "keep-alive")], version="1.0")
        assert c.read_response().status == 200


def test_declined_upgrade_keeps_the_connection_http(server):
    """A request asking to switch protocols (h2c, websocket) is answered in HTTP/1.1, which
    declines the upgrade (RFC 9110 §7.8); so is a CONNECT, answered with an error, which
    opens no tunnel (§9.3.6).  Either way the connection stays HTTP/1.1 and the next
    request on it is served (curl --http2 and Java's HttpClient send h2c upgrades)."""
    srv = server(plain=True)
    for conn in (srv.tls, srv.plain):
        with conn() as c:
            c.request("GET", "/healthz", headers=[
                ("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
                ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")])
            assert_health(c.read_response())
            c.send(build_request("GET", "/readyz", [("Connection", "Upgrade"),
                                                    ("Upgrade", "websocket")])
                   + build_request("GET", "/healthz"))
            r = c.read_response()
            assert (r.status, r.header("Connection")) == (200, None), r
            assert_health(c.read_response())
            c.send(b"CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\n\r\n")
            r = c.read_response()
            assert r.status in (404, 405) and r.header("Connection") is None, r
            c.request("GET", "/healthz")
            assert_health(c.read_response())


def test_connect_with_a_body_is_not_smuggled(server):
    """llhttp reads no body for CONNECT; as the connection stays HTTP, bytes framed as its
    body must not become a request of their own (a proxy in front would disagree on where
    requests start): 400 and close, and nothing else answered."""
    srv = server()
    smuggled = build_request("GET", "/readyz")
    with srv.tls() as c:
        c.send(b"CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\n"
               + f"Content-Length: {len(smuggled)}\r\n\r\n".encode() + smuggled)
        assert_error(c.read_response(), 400, "invalid_request")
        assert c.read_eof() == b"", "the smuggled request was answered"


def test_curl_h2c_upgrade_then_reuse(server):
    srv = server(plain=True)
    url = f"{srv.plain_url}/healthz"
    p = subprocess.run(["curl", "-sS", "-v", "--http2", url, url], capture_output=True,
                       text=True, timeout=10, env=CLIENT_ENV)
    assert p.returncode == 0, p.stderr
    assert p.stdout == '{"status":"ok"}' * 2, p.stdout
    assert "Upgrade: h2c" in p.stderr  # curl did offer the upgrade


def test_expect_100_continue_is_answered_before_the_body(server):
    """RFC 9110 §10.1.1: curl waits a second for "100 Continue" before sending bodies over
    1 KiB; the server says it at once, then answers the request."""
    srv = server()
    body = b"grant_type=client_credentials"
    with srv.tls() as c:
        c.send(f"POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
               "Content-Type: application/x-www-form-urlencoded\r\n"
               "Expect: 100-continue\r\n\r\n".encode())
        deadline = time.monotonic() + 5
        while b"\r\n\r\n" not in c.buf:
            assert c._recv(deadline), c.eof
        interim, c.buf = c.buf.split(b"\r\n\r\n", 1)
        assert interim == b"HTTP/1.1 100 Continue"
        c.send(body)
        r = c.read_response()
        assert r.status == 401  # no client authentication: the final answer came
    p = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{time_total}",
                        "--cacert", str(srv.cert), "-H", "Expect: 100-continue",
                        "--data-binary", "x" * 2048, srv.url + "/oauth2/token"],
                       capture_output=True, text=True, timeout=30, env=CLIENT_ENV)
    assert float(p.stdout) < 0.9, p.stdout  # curl did not sit out its 1 s wait


def test_http10_keep_alive_is_announced(server):
    srv = server()
    with srv.tls() as c:
        for _ in range(3):
            c.request("GET", "/healthz", headers=[("Connection", "keep-alive")], version="1.0")
            r = c.read_response()
            assert r.status == 200 and r.header("Connection") == "keep-alive", r
        c.request("GET", "/healthz", version="1.0")
        r = c.read_response()
        assert r.header("Connection") == "close", r
        c.read_eof()


def test_half_closed_client_gets_its_answers(server):
    """A client may shut its sending side once its requests are out (HTTP/1.0 tools do):
    every request sent is still answered, one deferred to the store process included,
    and then the connection closes."""
    srv = server(plain=True, workers=1)
    auth = [("Authorization", f"Bearer {srv.token_file.read_text().strip()}")]
    with srv.plain() as c:
        c.send(build_request("GET", "/healthz"))
        c.sock.shutdown(socket.SHUT_WR)
        assert_health(c.read_response())
        assert c.read_eof() == b"" and c.eof == "clean"
    store = srv.store_pid()
    os.kill(store, signal.SIGSTOP)  # the listing's answer comes after the EOF is read
    try:
        c = HTTPConn(socket.create_connection((srv.host, srv.plain_port), timeout=10))
        c.send(build_request("GET", "/healthz") + build_request("GET", "/admin/sessions", auth))
        c.sock.shutdown(socket.SHUT_WR)
        assert_health(c.read_response())
        assert c.is_open_after(0.2)
    finally:
        os.kill(store, signal.SIGCONT)
    with c:
        r = c.read_response(timeout=10)
        assert r.status == 200 and set(r.json()) == {"sessions", "next"}, r
        assert r.header("Connection") == "close"
        assert c.read_eof() == b"" and c.eof == "clean"
