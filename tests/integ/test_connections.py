"""Connection-level defences: the open-file limit (raised at start, max_connections clamped
to it, accepting paused at EMFILE instead of spinning) with the repeated-line limit of the
log that keeps a failing loop from flooding the disk; header_timeout from accept; and the
limit of open connections per client address, shared by the workers."""
import contextlib
import os
import re
import resource
import signal
import socket
import ssl
import time

from conftest import Closed, HTTPConn, tls_context, wait_for
from test_http import assert_health

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cpu_share(pid, window=1.0):
    """The share of one core pid uses over a window of `window` seconds (a measurement,
    not a wait)."""
    before, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(window)
    return (cpu_seconds(pid) - before) / (time.monotonic() - t0)


def nofile_limits(pid):
    """(soft, hard) 'Max open files' of pid from /proc/PID/limits."""
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError("no 'Max open files' line")


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def flood(srv, n):
    """n TCP connections to the server's TLS port that send nothing: each takes a file
    descriptor in the worker once accepted."""
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            s.connect((srv.host, srv.port))
        socks.append(s)
    return socks


def close_all(socks):
    for s in socks:
        s.close()


def assert_calm_under_flood(srv, worker, socks):
    """While the flood holds every descriptor the worker may use: it does not spin, its
    log stays small, and once the flood is gone a new client is served at once."""
    log_before = srv.stderr_path.stat().st_size
    share = cpu_share(worker)
    grown = srv.stderr_path.stat().st_size - log_before
    assert share < 0.25, f"the worker burns {share:.0%} of a core while out of descriptors"
    assert grown < 16384, f"the log grew {grown} bytes in a second"
    close_all(socks)
    start = time.monotonic()
    wait_for(srv.probe, 5, "a new client to be served after the flood")
    assert time.monotonic() - start < 3.0


def test_soft_open_file_limit_is_raised_to_the_hard_limit(server):
    srv = server(workers=1, nofile=(256, 4096))
    (worker,) = srv.worker_pids()
    assert nofile_limits(worker) == (4096, 4096)
    assert nofile_limits(srv.pid) == (4096, 4096)
    assert srv.wait_log(r"master: open files: soft limit raised from 256 to 4096")


def test_max_connections_is_clamped_to_the_open_file_limit(server):
    """With soft = hard = 256 raising cannot help: max_connections (10,000) is lowered to
    what the descriptors allow, said once, and a flood of more connections than that waits
    in the backlog instead of making accept4() fail in a loop."""
    srv = server(workers=1, nofile=(256, 256))
    (worker,) = srv.worker_pids()
    line = srv.wait_log(r"master: limits\.max_connections lowered from 10000 to \d+")
    clamped = int(re.search(r" to (\d+):", line[0])[1])
    assert 64 <= clamped < 256
    socks = flood(srv, 400)
    try:
        wait_for(lambda: open_fds(worker) >= clamped, 10, "the worker to fill up")
        assert open_fds(worker) < 256
        assert_calm_under_flood(srv, worker, socks)
    finally:
        close_all(socks)
    assert len([x for x in srv.log_lines() if "max_connections lowered" in x]) == 1
    assert "accept4() failed" not in srv.stderr()


def test_accept_pauses_at_emfile_and_resumes(server):
    """A worker whose descriptors run out below max_connections (the limit lowered while it
    runs, as another consumer of descriptors would) stops polling its listeners, retries a
    little later, and resumes as soon as a connection closes."""
    srv = server(workers=1)
    (worker,) = srv.worker_pids()
    limit = open_fds(worker) + 40
    resource.prlimit(worker, resource.RLIMIT_NOFILE, (limit, limit))
    socks = flood(srv, 200)
    try:
        wait_for(lambda: "Too many open files" in srv.stderr(), 10, "accept4() to hit EMFILE")
        assert_calm_under_flood(srv, worker, socks)
    finally:
        close_all(socks)
    # Repeats of the accept error are limited (the retry timer runs a few times a second).
    errors = [x for x in srv.log_lines() if "accept4() failed" in x]
    assert 1 <= len(errors) < 40, len(errors)
    with srv.tls() as c:
        c.request("GET", "/healthz")
        assert_health(c.read_response())


# --- header_timeout runs from accept -------------------------------------------------------


SHORT_HEADER = {"limits": {"header_timeout": 1, "idle_timeout": 30}}


def test_silent_tls_connection_is_closed_at_header_timeout(server):
    """A client that completes the TLS handshake and sends nothing is held for
    header_timeout from accept (CONFIG.md), not for idle_timeout; it is closed cleanly."""
    srv = server(config=SHORT_HEADER)
    with srv.tls() as c:
        start = time.monotonic()
        assert c.read_eof(timeout=5) == b""
        assert time.monotonic() - start < 2.5
        assert c.eof == "clean", "a TLS connection is closed with close_notify"


def test_silent_plain_connection_is_closed_at_header_timeout(server):
    srv = server(config=SHORT_HEADER, plain=True)
    with srv.plain() as c:
        start = time.monotonic()
        assert c.read_eof(timeout=5) == b""
        assert time.monotonic() - start < 2.5


def test_first_request_deadline_runs_from_accept(server):
    """The first request's deadline starts at accept: a client that waits, then starts a
    request, has only what is left of header_timeout to finish it."""
    srv = server(config={"limits": {"header_timeout": 3, "idle_timeout": 30}})
    with srv.tls() as c:
        start = time.monotonic()
        assert c.is_open_after(2.0)
        c.send(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        r = c.read_response(timeout=5)
        assert r.status == 408, r
        assert time.monotonic() - start < 4.2  # 5 s if the deadline ran from the first byte


# --- connections per address ---------------------------------------------------------------


def tls_from(srv, source, timeout=5):
    """An HTTPConn over TLS from the loopback address `source` (127.0.0.2: another client
    address on the same machine)."""
    raw = socket.create_connection((srv.host, srv.port), timeout=timeout,
                                   source_address=(source, 0))
    try:
        return HTTPConn(tls_context(srv.cert).wrap_socket(
            raw, server_hostname=srv.host, suppress_ragged_eofs=False))
    except BaseException:
        raw.close()
        raise


def served_from(srv, source):
    """A new connection from source answered /healthz (kept open), or None when the server
    closed it unanswered."""
    try:
        c = tls_from(srv, source)
    except (OSError, ssl.SSLError):
        return None
    try:
        c.request("GET", "/healthz")
        assert_health(c.read_response())
        return c
    except (OSError, ssl.SSLError, Closed):
        c.close()
        return None


def fill(srv, source, n):
    """n connections from source, each served; asserts they all are."""
    conns = []
    for i in range(n):
        c = served_from(srv, source)
        assert c is not None, f"connection {i + 1} of {n} from {source} was refused"
        conns.append(c)
    return conns


def fill_eventually(srv, source, n, timeout=5):
    """n served connections from source, taken as places become free (the server releases
    a place when it sees a close, a moment after the client's)."""
    conns = []

    def top_up():
        while len(conns) < n:
            c = served_from(srv, source)
            if c is None:
                return False
            conns.append(c)
        return True

    try:
        wait_for(top_up, timeout, f"{n} connections from {source}")
    except AssertionError:
        for c in conns:
            c.close()
        raise
    return conns


def metrics_from(srv, source):
    with tls_from(srv, source) as c:
        c.request("GET", "/metrics")
        r = c.read_response()
        assert r.status == 200, r
    return {m[1]: int(m[2]) for m in re.finditer(r"^(tessera_[a-z_]+) (\d+)$",
                                                 r.body.decode(), re.M)}


PER_ADDRESS = {"limits": {"max_connections_per_address": 20}}


def test_connections_per_address_are_limited_across_workers(server):
    """20 connections from 127.0.0.1, spread over both workers, are the limit: the 21st is
    closed at accept while 127.0.0.2 is served; a place freed is a place to take."""
    srv = server(config=PER_ADDRESS)
    conns = fill(srv, "127.0.0.1", 20)
    try:
        assert served_from(srv, "127.0.0.1") is None
        other = served_from(srv, "127.0.0.2")
        assert other is not None, "another address must be served"
        other.close()
        assert metrics_from(srv, "127.0.0.2")["tessera_connections_refused_per_address"] >= 1
        srv.wait_log(r"refused a connection from 127\.0\.0\.1: 20 are open from there")
        conns.pop().close()
        conns.append(wait_for(lambda: served_from(srv, "127.0.0.1"), 5,
                              "the freed place to be taken"))
        assert served_from(srv, "127.0.0.1") is None
    finally:
        for c in conns:
            c.close()


def test_killed_worker_releases_its_connections(server):
    srv = server(config=PER_ADDRESS)
    srv.expect_worker_deaths = True
    conns = fill(srv, "127.0.0.1", 20)
    victim = srv.worker_pids()[0]
    try:
        assert served_from(srv, "127.0.0.1") is None
        os.kill(victim, signal.SIGKILL)
        srv.wait_workers(exclude=[victim])
        srv.wait_log(r"worker/\d+ had \d+ connections: taken off the per-address counts")
    finally:
        for c in conns:
            c.close()
    # Every place is free again once the survivors' connections close: 20 fit, not 21.
    conns = fill_eventually(srv, "127.0.0.1", 20)
    try:
        assert served_from(srv, "127.0.0.1") is None
    finally:
        for c in conns:
            c.close()


def test_slow_keep_alive_connections_still_meet_idle_timeout(server):
    """A client that holds its places with requests far apart is closed at idle_timeout
    between them, which frees its places for the address."""
    srv = server(config={"limits": {"max_connections_per_address": 3, "idle_timeout": 1,
                                    "header_timeout": 1}})
    conns = fill(srv, "127.0.0.1", 3)
    try:
        assert served_from(srv, "127.0.0.1") is None
        start = time.monotonic()
        for c in conns:
            assert c.read_eof(timeout=5) == b""
        assert time.monotonic() - start < 3.0
        conns = fill_eventually(srv, "127.0.0.1", 3)
    finally:
        for c in conns:
            c.close()
