"""
The soak: a real tesserad under mixed legitimate and hostile load for a while, then a check
that it is back where it started.  Used by test_soak.py (about a minute, in make check) and
by tools/soak (`--minutes N`, figures printed).

Load, all at once, each kind in its own threads:
- legitimate clients (opaque and JWT) over keep-alive connections: issue, validate,
  introspect, revoke, and check that a revoked token is refused — every answer must be the
  one expected, or it is counted as a failed legitimate request;
- forged tokens: JWTs with a real kid and a bad signature (RS256, ES256 with r = 0 and with
  s >= n), garbage bearer strings, at validate, introspect and revoke;
- failed authentications with a real client id, from another loopback address, one at a
  time, which must be throttled: 429 once the minute's limit for the client id from that
  address is reached, and never more 401s in a minute than that limit;
- slow clients: headers sent a byte at a time, slower than header_timeout allows;
- connection floods: bursts of TCP connections that do nothing, or finish a TLS handshake
  and send nothing, then go away.

At the end, once the short-lived tokens have expired and been swept, every process must be
within a bound of where it was after the warm-up: anonymous memory (RssAnon), open file
descriptors, live tokens in the shared table, interned strings; no worker or store process
may have been replaced; and no legitimate request may have failed.
"""
import base64
import json
import os
import random
import re
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from admin_api import Admin, OAuth, basic  # noqa: E402
from conftest import tls_context, wait_for  # noqa: E402

TOKEN_TTL = 3  # seconds: short, so the table must empty again before the end
HEADER_TIMEOUT = 2
CONFIG = {
    "limits": {"header_timeout": HEADER_TIMEOUT, "idle_timeout": 5},
    "tokens": {"sweep_interval": 1},
    "store": {"purge_interval": 10},
    "log": {"level": "warn"},
}
# How far "back where it started" may be: anonymous memory may keep what allocators hold
# on to (buffers grown for the largest request, OpenSSL's caches), not what load piles up.
RSS_SLACK_KIB = 24 * 1024
# Under AddressSanitizer freed memory first waits in its quarantine (256 MiB a process by
# default) before reuse, so RSS grows by up to that much without a leak; leaks are
# LeakSanitizer's to find there.
ASAN_QUARANTINE_KIB = 256 * 1024
FD_SLACK = 4
TOKENS_SLACK = 8
INTERNED_SLACK = 8
AUTH_PAIR_LIMIT = 10  # limits.auth_failures_per_client_address, the default
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged_jwts(kids):
    """JWTs naming real kids whose signatures cannot verify."""
    now = int(time.time())
    claims = b64u(json.dumps({"iss": "x", "sub": "x", "exp": now + 600, "iat": now,
                              "jti": "x", "client_id": "x", "typ": "at+jwt"}))
    out = []
    for kid, alg in kids:
        head = b64u(json.dumps({"alg": alg, "typ": "at+jwt", "kid": kid}))
        if alg == "ES256":
            sigs = [bytes(32) + os.urandom(32), os.urandom(32) + P256_N.to_bytes(32, "big"),
                    os.urandom(64)]
        elif alg == "RS256":
            sigs = [os.urandom(256)]
        else:
            sigs = [os.urandom(64)]
        out += [f"{head}.{claims}.{b64u(s)}" for s in sigs]
    return out


class Tally:
    """Counts of what happened, shared by the load threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.failures = {}
        self.bad_secret_401s = {}  # minute of the clock -> failed authentications answered 401

    def add(self, what, n=1):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + n

    def fail(self, what, counter="legit_failed"):
        """Counts a failure under counter and keeps how often each kind (what) occurred."""
        with self.lock:
            self.counts[counter] = self.counts.get(counter, 0) + 1
            key = f"{counter}: {what[:100]}"
            self.failures[key] = self.failures.get(key, 0) + 1


def legit_loop(srv, client, stop, tally):
    """Issue, validate, introspect, sometimes revoke: every answer is checked."""
    oauth = OAuth(srv)
    try:
        while not stop.is_set():
            try:
                r = oauth.token(client, grant_type="client_credentials")
                if r.status_code != 200:
                    tally.fail(f"token {r.status_code} {r.text[:120]}")
                    continue
                tok = r.json()["access_token"]
                v = oauth.validate(tok)
                if v.status_code != 200:
                    tally.fail(f"validate {v.status_code} {v.text[:120]}")
                i = oauth.introspect(client, tok)
                if i.status_code != 200 or not i.json().get("active"):
                    tally.fail(f"introspect {i.status_code} {i.text[:120]}")
                if random.random() < 0.3:
                    rv = oauth.revoke(client, tok)
                    v = oauth.validate(tok)
                    if rv.status_code != 200 or v.status_code != 401:
                        tally.fail(f"revoke {rv.status_code}, then validate {v.status_code}")
                tally.add("legit_rounds")
            except Exception as e:  # noqa: BLE001 — any error of a legitimate client counts
                tally.fail(f"{type(e).__name__}: {e}")
    finally:
        oauth.close()


def forged_loop(srv, client, forged, stop, tally):
    """Forged and garbage tokens at every endpoint that reads a token: always refused."""
    oauth = OAuth(srv)
    try:
        while not stop.is_set():
            tok = random.choice(forged + [b64u(os.urandom(32)), "x" * 4000, "a.b.c"])
            try:
                v = oauth.validate(tok)
                i = oauth.introspect(client, tok)
                rv = oauth.revoke(client, tok)
                ok = (v.status_code == 401 and i.status_code == 200
                      and i.json() == {"active": False} and rv.status_code in (200, 400))
                if ok:
                    tally.add("forged_ok")
                else:
                    tally.fail(f"validate {v.status_code}, introspect {i.status_code} "
                               f"{i.text[:60]}, revoke {rv.status_code}", "forged_unexpected")
            except Exception:  # noqa: BLE001 — the attacker's own errors do not count
                tally.add("forged_error")
                oauth.close()
                oauth = OAuth(srv)
    finally:
        oauth.close()


def bad_secret_loop(srv, client_id, stop, tally):
    """Wrong secrets for a real client id, from 127.0.0.2."""
    ctx = tls_context(srv.cert)
    body = b"grant_type=client_credentials"
    head = (f"POST /oauth2/token HTTP/1.1\r\nHost: localhost\r\n"
            f"Authorization: {basic(client_id, 'wrong-' + b64u(os.urandom(8)))}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    while not stop.is_set():
        try:
            raw = socket.create_connection((srv.host, srv.port), timeout=5,
                                           source_address=("127.0.0.2", 0))
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                sent = int(time.time()) // 60
                s.sendall(head + body)
                status = s.recv(64).split(b" ")[1:2]
                tally.add(f"bad_secret_{status[0].decode() if status else 'none'}")
                # Counted per minute as the server counts; an answer that may belong to
                # either of two minutes is left out.
                if status == [b"401"] and int(time.time()) // 60 == sent:
                    with tally.lock:
                        tally.bad_secret_401s[sent] = tally.bad_secret_401s.get(sent, 0) + 1
        except (OSError, ssl.SSLError):
            tally.add("bad_secret_error")


def slow_loop(srv, stop, tally):
    """Headers a byte at a time: the server must cut the sender off at header_timeout."""
    ctx = tls_context(srv.cert)
    request = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"y" * 200
    while not stop.is_set():
        started = time.monotonic()
        try:
            raw = socket.create_connection((srv.host, srv.port), timeout=5)
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.settimeout(0.5)
                for byte in request:
                    if stop.is_set():
                        break
                    s.sendall(bytes([byte]))
                    try:
                        s.recv(4096)
                        break  # the server answered (408) or closed
                    except socket.timeout:
                        continue
        except (OSError, ssl.SSLError):
            pass
        held = time.monotonic() - started
        tally.add("slow_cut" if held < HEADER_TIMEOUT + 3 else "slow_held_too_long")


def flood_loop(srv, stop, tally, burst=150):
    """Bursts of connections that never send a request, half of them after a handshake."""
    ctx = tls_context(srv.cert)
    while not stop.is_set():
        conns = []
        for n in range(burst):
            try:
                raw = socket.create_connection((srv.host, srv.port), timeout=5)
                if n % 2:
                    raw = ctx.wrap_socket(raw, server_hostname="localhost")
                conns.append(raw)
            except (OSError, ssl.SSLError):
                tally.add("flood_refused")
        tally.add("flood_conns", len(conns))
        stop.wait(0.5)
        for c in conns:
            c.close()


def metrics(srv):
    """Every unlabelled sample of GET /metrics as {name: value}."""
    text = srv.get("/metrics").body.decode()
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+) (\S+)$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def sanitized(pid):
    """True when the process runs with AddressSanitizer's runtime."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            return "libasan" in f.read()
    except OSError:
        return False


def proc_snapshot(pids):
    """{pid: (RssAnon in KiB, open fds)} of the given processes."""
    out = {}
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            anon = int(re.search(r"^RssAnon:\s+(\d+)", f.read(), re.M).group(1))
        out[pid] = (anon, len(os.listdir(f"/proc/{pid}/fd")))
    return out


def snapshot(srv):
    pids = srv.worker_pids() + [srv.store_pid()]
    m = metrics(srv)
    return {"procs": proc_snapshot(pids), "tokens": m["tessera_tokens_live"],
            "interned": m.get("tessera_interned_strings", 0.0)}


def quiet(srv, base, deadline):
    """Waits until live tokens, fds and interned strings are back within bounds of base."""

    def settled():
        now = snapshot(srv)
        fds_ok = all(now["procs"][p][1] <= base["procs"][p][1] + FD_SLACK
                     for p in base["procs"] if p in now["procs"])
        return now if (fds_ok and now["tokens"] <= base["tokens"] + TOKENS_SLACK
                       and now["interned"] <= base["interned"] + INTERNED_SLACK) else None

    try:
        return wait_for(settled, deadline, "the server to settle after the load", interval=0.5)
    except AssertionError:
        return snapshot(srv)


def setup(srv):
    """Clients for the load and the forged tokens; returns (clients, forged)."""
    admin = Admin(srv)
    try:
        clients = [admin.create(client_id=f"soak-{fmt}", scopes=["read", "write"],
                                grant_types=["client_credentials"], token_format=fmt,
                                access_token_ttl=TOKEN_TTL, can_introspect=True)
                   for fmt in ("opaque", "jwt")]
        keys = admin.session.get(srv.url + "/oauth2/jwks", timeout=10).json()["keys"]
    finally:
        admin.close()
    return clients, forged_jwts([(k["kid"], k["alg"]) for k in keys])


def run(srv, seconds, warmup=5.0, log=print):
    """Runs the soak against a started server; returns (report, problems)."""
    clients, forged = setup(srv)
    stop, tally = threading.Event(), Tally()
    pids = (srv.worker_pids(), srv.store_pid())
    threads = [threading.Thread(target=legit_loop, args=(srv, c, stop, tally))
               for c in clients * 2]
    threads += [threading.Thread(target=forged_loop, args=(srv, clients[0], forged, stop, tally)),
                threading.Thread(target=bad_secret_loop,
                                 args=(srv, clients[0]["client_id"], stop, tally)),
                threading.Thread(target=slow_loop, args=(srv, stop, tally)),
                threading.Thread(target=slow_loop, args=(srv, stop, tally)),
                threading.Thread(target=flood_loop, args=(srv, stop, tally))]
    for t in threads:
        t.daemon = True
        t.start()
    stop.wait(warmup)
    base = snapshot(srv)
    peak_tokens = base["tokens"]
    end = time.monotonic() + max(seconds - warmup, 1)
    while time.monotonic() < end:
        stop.wait(min(5.0, max(end - time.monotonic(), 0)))
        peak_tokens = max(peak_tokens, snapshot(srv)["tokens"])
        log(f"soak: {int(end - time.monotonic())} s left, {dict(sorted(tally.counts.items()))}")
    stop.set()
    for t in threads:
        t.join(timeout=30)
    # The warm-up baseline was taken with tokens alive; the end must drain below it.
    base["tokens"] = min(base["tokens"], peak_tokens)
    final = quiet(srv, {**base, "tokens": 0}, TOKEN_TTL + 15)
    problems = check(srv, pids, base, final, tally, threads)
    report = {"counts": dict(sorted(tally.counts.items())), "base": base, "final": final,
              "peak_tokens": peak_tokens, "failures": tally.failures}
    return report, problems


def check_throttled(tally):
    """The failed-authentication flood was throttled, not merely survived."""
    problems = []
    if not tally.counts.get("bad_secret_429"):
        problems.append(f"failed authentications were never refused with 429: {tally.counts}")
    over = {m: n for m, n in tally.bad_secret_401s.items() if n > AUTH_PAIR_LIMIT}
    if over:
        problems.append(f"more than {AUTH_PAIR_LIMIT} failed authentications a minute answered "
                        f"401 (minute: count): {over}")
    return problems


def check(srv, pids, base, final, tally, threads):
    problems = []
    if any(t.is_alive() for t in threads):
        problems.append("a load thread did not stop")
    if (srv.worker_pids(), srv.store_pid()) != pids:
        problems.append(f"processes replaced: {pids} -> {(srv.worker_pids(), srv.store_pid())}")
    if tally.counts.get("legit_failed"):
        problems.append(f"{tally.counts['legit_failed']} legitimate requests failed")
    if tally.counts.get("legit_rounds", 0) < 20:
        problems.append(f"too little legitimate load got through: {tally.counts}")
    for what in ("forged_unexpected", "slow_held_too_long"):
        if tally.counts.get(what):
            problems.append(f"{what}: {tally.counts[what]}")
    problems += check_throttled(tally)
    problems += [f"  {n} x {what}" for what, n in tally.failures.items()]
    for pid, (anon, fds) in base["procs"].items():
        now = final["procs"].get(pid)
        if now is None:
            continue
        slack = RSS_SLACK_KIB + (ASAN_QUARANTINE_KIB if sanitized(pid) else 0)
        if now[0] > anon + slack:
            problems.append(f"pid {pid}: RssAnon {anon} -> {now[0]} KiB")
        if now[1] > fds + FD_SLACK:
            problems.append(f"pid {pid}: open fds {fds} -> {now[1]}")
    if final["tokens"] > TOKENS_SLACK:
        problems.append(f"live tokens did not drain: {final['tokens']}")
    if final["interned"] > base["interned"] + INTERNED_SLACK:
        problems.append(f"interned strings {base['interned']} -> {final['interned']}")
    return problems
