"""Listeners: the plain-HTTP one, IPv6, several at once, and a port already taken."""
import socket

import pytest

from conftest import free_port, ipv6_loopback_available, port_bindable
from test_http import assert_health


def test_plain_listener_serves_http(server):
    srv = server(plain=True)
    with srv.session() as s:
        r = s.get(srv.plain_url + "/healthz", timeout=5)
        assert r.status_code == 200 and r.json() == {"status": "ok"}
        assert s.get(srv.plain_url + "/nope", timeout=5).status_code == 404
        assert s.get(srv.url + "/healthz", timeout=5).status_code == 200
    with srv.plain() as c:
        for _ in range(3):
            c.request("GET", "/readyz")
            assert c.read_response().status == 200
    assert f"plain HTTP:   http://127.0.0.1:{srv.plain_port}" in srv.stdout()
    assert f"listening on http://127.0.0.1:{srv.plain_port}" in srv.stderr()


@pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback (::1)")
def test_ipv6_listener(server):
    srv = server(host="::1", plain=True)
    assert srv.url == f"https://[::1]:{srv.port}"
    with srv.session() as s:  # the dev certificate names ::1 too
        assert s.get(srv.url + "/healthz", timeout=5).json() == {"status": "ok"}
        assert s.get(srv.plain_url + "/healthz", timeout=5).json() == {"status": "ok"}
    with srv.tls(server_hostname="::1") as c:
        c.request("GET", "/healthz")
        assert_health(c.read_response())
    # v6-only: the same port on IPv4 is not ours.
    with socket.socket() as s:
        s.settimeout(2)
        assert s.connect_ex(("127.0.0.1", srv.port)) != 0
    assert f"https://[::1]:{srv.port}" in srv.stdout()


def test_several_listeners(server):
    extra = free_port()
    srv = server("--listen", f"127.0.0.1:{extra}", workers=2)
    for port in (srv.port, extra):
        with srv.session() as s:
            assert s.get(f"https://127.0.0.1:{port}/healthz", timeout=5).status_code == 200


def test_port_in_use_exits_1_with_a_message(server):
    """A taken port is an environment failure (exit 1), not a configuration error (2)."""
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        srv = server("--listen", f"127.0.0.1:{port}", wait=False)
        srv.expect_exit = 1
        assert srv.wait_exit(timeout=10) == 1
        assert f"bind(127.0.0.1:{port}) failed: Address already in use" in srv.stderr()
        srv.wait_gone()
    assert port_bindable(srv.port), "the listener opened before the failure was closed"
