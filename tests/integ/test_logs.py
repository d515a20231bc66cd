"""The event log on stderr (one line per event: time level role[pid] module: message), the
log level, and what must never be logged: the admin token (docs/HACKING.md, Files, functions, errors)."""
import os
import re
import signal
import stat

from conftest import LOG_LINE, build_request
from test_http import assert_health


def parse_log(srv):
    lines = srv.log_lines()
    assert lines
    parsed = []
    for line in lines:
        m = LOG_LINE.match(line)
        assert m, f"not a log line: {line!r}"
        parsed.append(m)
    return parsed


def test_log_lines_have_the_format_and_true_pids(server):
    srv = server(workers=2)
    workers = srv.wait_workers(2)
    store = srv.store_pid()
    assert store
    assert_health(srv.get())
    srv.stop()
    srv.expect_exit = 0
    parsed = parse_log(srv)
    for m in parsed:
        pid = int(m["pid"])
        if m["role"] == "master":
            assert pid == srv.pid, m.group(0)
        elif m["role"] == "store":
            assert pid == store, m.group(0)
        else:
            assert pid in workers, m.group(0)
    roles = {m["role"] for m in parsed}
    assert roles == {"master", "store", "worker/0", "worker/1"}, roles
    messages = [(m["role"], m["module"], m["message"]) for m in parsed]
    assert ("master", "master", f"listening on https://127.0.0.1:{srv.port}") in messages
    for slot in (0, 1):
        assert (f"worker/{slot}", "worker", f"serving (slot {slot}, generation 1)") in messages
    assert parsed[-1]["message"] == "stopped" and parsed[-1]["role"] == "master"
    # Times are UTC and never go backwards within one process.
    by_pid = {}
    for m in parsed:
        by_pid.setdefault(m["pid"], []).append(m["time"])
    for times in by_pid.values():
        assert times == sorted(times)


def test_admin_token_never_logged_or_printed(server):
    srv = server(workers=2, plain=True, config={"log": {"level": "debug"}}, fresh=True)
    token = srv.token_file.read_text().strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token), token
    assert stat.S_IMODE(os.stat(srv.token_file).st_mode) == 0o600
    # Offer the token every way a careless log line could pick it up.
    with srv.tls() as c:
        c.request("GET", "/healthz", headers=[("Authorization", f"Bearer {token}")])
        assert c.read_response().status == 200
        c.request("GET", f"/admin/clients?token={token}",
                  headers=[("Authorization", f"Bearer {token}")])
        c.read_response()  # whatever the admin API answers, the token must not be logged
    with srv.tls() as c:
        c.send(f"{token} /{token} HTTP/1.1\r\nX-Token: {token}\r\n\r\n".encode())
        assert c.read_response().status == 400
    with srv.tls() as c:
        c.send(build_request("GET", "/healthz", [("X-Pad", token * 300)]))
        assert c.read_response().status == 431
    srv.signal(signal.SIGHUP)
    srv.wait_log("SIGHUP")
    srv.stop()
    srv.expect_exit = 0
    everything = srv.stdout() + srv.stderr()
    assert token not in everything
    assert token[:16] not in everything
    # The banner may show the demo client's secret on purpose; the log never.
    for secret in re.findall(r"-u demo:(\S+)", srv.stdout()):
        assert secret not in srv.stderr()
    assert str(srv.token_file.resolve()) in srv.stdout(), "the banner names the token's file"


def test_dev_files_and_modes(server):
    srv = server(fresh=True)
    d = srv.data_dir
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(d / "dev-key.pem").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(d / "admin.token").st_mode) == 0o600
    assert (d / "dev-cert.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert (d / "dev-key.pem").read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert not [p for p in os.listdir(d) if p.endswith(".tmp")]
    created = [m for m in parse_log(srv) if m["module"] == "dev"]
    messages = [m["message"] for m in created]
    assert messages.count(
        f"created a self-signed certificate for localhost, 127.0.0.1 and ::1: {d}/dev-cert.pem"
    ) == 1, messages
    assert messages.count(f"created the admin token: {d}/admin.token") == 1, messages


def test_log_level_warn_is_quiet(server):
    srv = server(workers=2, config={"log": {"level": "warn"}})
    srv.wait_workers(2)
    assert_health(srv.get())
    srv.stop()
    srv.expect_exit = 0
    assert srv.stderr() == "", "nothing at warn or above happened"


def test_log_level_debug_says_more(server):
    srv = server(workers=2, config={"log": {"level": "debug"}})
    parsed = parse_log(srv)
    assert any(m["level"] == "debug" for m in parsed), [m.group(0) for m in parsed]
