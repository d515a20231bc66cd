"""Damaged data (issue 5): a torn record at the tail of a slot's last log segment — what a
crash leaves — is cut off at the start with a warning naming the file, and nothing
acknowledged is lost; a bad record anywhere else, or a damaged Berkeley DB file, stops
the start with exit status 2 and a message naming the file (and the offset, for the log).
`tesserad --check-data` says the same without starting and without changing a byte."""
import hashlib
import os
import re
import signal
import subprocess

import pytest

from conftest import TESSERAD
from durability_load import (
    blast_tokens,
    create_client,
    kill_all,
    pipelined,
    revoke_request,
    segment_frames,
    segments,
    validate_request,
)

TOKENS = 600


def check_data(data_dir, timeout=60):
    """tesserad --check-data on data_dir: (status, stdout, stderr).  A binary that does not
    know the flag would start serving: killed with its group at the timeout."""
    p = subprocess.Popen([TESSERAD, "--check-data", "--dev", "--data-dir", str(data_dir)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise AssertionError(f"--check-data did not exit within {timeout} s") from None
    return p.returncode, out, err


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def log_digest(data_dir):
    """Hashes of the log segments, to see that --check-data (or a failed start) changed
    none.  The database is left out: --check-data opens Berkeley DB with recovery, like a
    start, and after a crash that recovery rewrites pages of the .db files and appends to
    Berkeley DB's own log — the same data, other bytes."""
    d = os.path.join(str(data_dir), "log")
    return {n: digest(os.path.join(d, n)) for n in sorted(os.listdir(d))}


def filled(server, stop, tokens=TOKENS, config=None):
    """A server with a client, tokens and every fifth token revoked, then stopped with
    SIGTERM or SIGKILL.  Returns (srv, secret, tokens, revoked)."""
    srv = server(workers=2, config=config)
    c = create_client(srv, {"client_id": "victim", "grant_types": ["client_credentials"],
                            "scopes": ["read"], "access_token_ttl": 3600})
    res = blast_tokens(srv.host, srv.port, srv.cert, "victim", c["client_secret"], tokens,
                       conns=2, keep_tokens=True)
    assert res["statuses"] == {200: tokens}, res
    toks = res["tokens"]
    revoked = set(toks[::5])
    out = pipelined(srv, [revoke_request("victim", c["client_secret"], t) for t in revoked])
    assert {st for st, _ in out} == {200}
    if stop == "sigterm":
        assert srv.stop() == 0, srv.stderr()
        srv.expect_exit = 0
        srv.wait_gone()
    else:
        kill_all(srv, "group")
    return srv, c["client_secret"], toks, revoked


def assert_all_there(srv, toks, revoked):
    res = pipelined(srv, [validate_request(t) for t in toks], want_body=False)
    wrong = [(i, st) for i, ((st, _), t) in enumerate(zip(res, toks))
             if st != (401 if t in revoked else 200)]
    assert not wrong, f"{len(wrong)} tokens wrong (index, status): {wrong[:20]}"


def busiest_last_segment(data_dir):
    """The path of the last segment of the worker slot whose last segment has most
    frames (slot 255 is the master's)."""
    best = None
    for slot, names in segments(data_dir).items():
        path = os.path.join(str(data_dir), "log", names[-1])
        n = len(segment_frames(path))
        if best is None or n > best[0]:
            best = (n, path)
    return best[1]


def start_fails(server, data_dir):
    """Starts on data_dir and expects exit status 2; returns the server's stderr."""
    s = server(workers=2, data=data_dir, wait=False)
    rc = s.wait_exit(timeout=30)
    s.expect_exit = rc
    s.wait_gone()
    assert rc == 2, f"exit status {rc}, not 2:\n{s.stderr()}"
    return s.stderr()


# --- a torn tail --------------------------------------------------------------------------


GARBAGE = {
    # three bytes of a frame header
    "header": b"\x40\x00\x00",
    # a header announcing 100 bytes, 20 of them written
    "payload": (100).to_bytes(4, "little") + b"\x12\x34\x56\x78" + b"\x93" * 20,
    # a whole frame whose checksum does not match
    "checksum": (24).to_bytes(4, "little") + b"\xde\xad\xbe\xef" + b"\x81\xa1x\x01" * 6,
}


@pytest.mark.parametrize("garbage,stop", [("header", "sigterm"), ("payload", "sigkill"),
                                          ("checksum", "sigterm")])
def test_torn_tail_is_cut_with_a_warning(server, garbage, stop):
    srv, secret, toks, revoked = filled(server, stop)
    path = busiest_last_segment(srv.data_dir)
    name = os.path.basename(path)
    size = os.path.getsize(path)
    with open(path, "ab") as f:
        f.write(GARBAGE[garbage])
    torn = os.path.getsize(path)

    before = log_digest(srv.data_dir)
    rc, out, err = check_data(srv.data_dir)
    assert rc == 0, (rc, out, err)
    assert re.search(rf"warning: .*{re.escape(name)}: a torn record at offset {size}\b", err), err
    assert "torn tail" in out, out
    assert log_digest(srv.data_dir) == before, "--check-data changed the data"

    again = server(workers=2, data=srv.data_dir)
    lines = again.wait_log(rf"warn store\[\d+\] store: .*{re.escape(name)}: cutting a torn "
                           rf"record off at offset {size} ")
    assert os.path.getsize(path) == size, (size, torn, os.path.getsize(path), lines)
    assert_all_there(again, toks, revoked)
    print(lines[0])


# --- corruption -----------------------------------------------------------------------------


def test_bad_record_in_the_middle_stops_the_start(server):
    srv, secret, toks, revoked = filled(server, "sigkill")
    path = busiest_last_segment(srv.data_dir)
    frames = segment_frames(path)
    assert len(frames) >= 3, (path, frames)
    off, n = frames[len(frames) // 2]
    data = bytearray(open(path, "rb").read())
    data[off + 8 + n // 2] ^= 0x10
    open(path, "wb").write(data)
    name = os.path.basename(path)
    before = log_digest(srv.data_dir)

    rc, out, err = check_data(srv.data_dir)
    assert rc == 2, (rc, out, err)
    assert re.search(rf"{re.escape(name)}: corrupt log: .* at offset {off}\b", err), err
    assert log_digest(srv.data_dir) == before, "--check-data changed the data"

    err = start_fails(server, srv.data_dir)
    assert re.search(rf"{re.escape(name)}: corrupt log: .* at offset {off}\b", err), err
    assert open(path, "rb").read() == bytes(data), "a failed start changed the segment"
    print(f"{name} at {off}: " + [ln for ln in err.splitlines() if "corrupt log" in ln][0])


def test_torn_record_in_a_segment_not_the_last_stops_the_start(server):
    """Only a slot's last segment may end torn (a full one is synced before the next is
    made): an earlier segment cut short is corruption, not a crash's tail."""
    srv, secret, toks, revoked = filled(server, "sigkill", tokens=24000,
                                        config={"store": {"segment_size": 1}})
    multi = {slot: names for slot, names in segments(srv.data_dir).items() if len(names) >= 2}
    assert multi, f"no slot with two segments: {segments(srv.data_dir)}"
    slot, names = sorted(multi.items())[0]
    path = os.path.join(str(srv.data_dir), "log", names[-2])
    off, n = segment_frames(path)[-1]
    with open(path, "r+b") as f:
        f.truncate(off + 8 + n // 2)
    name = os.path.basename(path)

    rc, out, err = check_data(srv.data_dir)
    assert rc == 2, (rc, out, err)
    assert name in err and str(off) in err, err
    err = start_fails(server, srv.data_dir)
    assert name in err and str(off) in err, err
    print([ln for ln in err.splitlines() if name in ln][0])


def test_damaged_database_stops_the_start(server):
    srv, secret, toks, revoked = filled(server, "sigterm", tokens=5000)
    path = os.path.join(str(srv.data_dir), "db", "sessions.db")
    size = os.path.getsize(path)
    assert size >= 16 * 4096, f"sessions.db has only {size} bytes"
    off = (size // 2) // 4096 * 4096 + 1000
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(b"\xa5" * 64)

    rc, out, err = check_data(srv.data_dir)
    assert rc == 2, (rc, out, err)
    assert "sessions.db" in err, err
    err = start_fails(server, srv.data_dir)
    assert "sessions.db" in err, err
    print(f"sessions.db ({size} bytes) damaged at {off}: "
          + [ln for ln in err.splitlines() if "sessions.db" in ln][0])


def test_check_data_refuses_a_running_servers_directory(server):
    srv = server(workers=1)
    rc, out, err = check_data(srv.data_dir)
    assert rc == 2, (rc, out, err)
    assert srv.running() and srv.probe()
    print(err.strip())
