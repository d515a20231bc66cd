"""
Load, bookkeeping and checks for the durability tests (test_durability.py,
test_corruption.py, test_growth.py).

- The processes of a running tesserad: the store process is the child holding files of
  DATA_DIR/db open; the workers are the other children.
- A ledger of what the server acknowledged.  Every client is owned by one load thread, so
  its history is sequential and exact: a change is recorded only once its 200/201 arrived.
  The one request of a thread that was in flight when the server died (or that got an
  unexpected answer) may or may not have taken effect: what it touched becomes "maybe" and
  is settled by what the restarted server shows, which must then hold after later crashes.
- Fast pipelined HTTP over TLS (many requests per write, responses read in order), for
  issuing and validating tens of thousands of tokens from Python; also a command line
  (`python3 durability_load.py blast ...`) so several processes can issue at once.
"""
import argparse
import base64
import json
import os
import random
import re
import signal
import socket
import sys
import threading
import urllib.parse

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import (  # noqa: E402
    build_request,
    children,
    tls_context,
    wait_for,
)
from slow import slow  # noqa: E402

TIMEOUT = slow(10)  # seconds per request of the load


# --- processes -----------------------------------------------------------------------


def _fd_targets(pid):
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return []
    out = []
    for n in names:
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{n}"))
        except OSError:
            pass
    return out


def store_pid(srv):
    """The store process: the master's child with a file of DATA_DIR/db open (Berkeley DB
    is opened by the store process only); None when there is none right now."""
    db = str(srv.data_dir.resolve() / "db") + "/"
    for pid in children(srv.pid):
        if any(t.startswith(db) for t in _fd_targets(pid)):
            return pid
    return None


def worker_pids(srv):
    """The master's children other than the store process."""
    st = store_pid(srv)
    return sorted(p for p in children(srv.pid) if p != st)


def wait_store(srv, exclude=(), timeout=15.0):
    """Waits for a store process whose pid is not in exclude; returns its pid."""
    def check():
        p = store_pid(srv)
        return p if p and p not in exclude else None

    return wait_for(check, timeout, f"a store process (not {sorted(exclude)})")


def kill_all(srv, how="group", drain=5.0, then=None):
    """SIGKILLs the master and every child.  how="group": one kill(-pgid) (all at once);
    "each": the master first, then every child one by one, as listed a moment before.
    Waits until no process of the server is left (a child forked between the listing and
    the master's death exits by PDEATHSIG, within the drain timeout).  then() runs right
    after the kill, before the waiting."""
    pids = [srv.pid] + children(srv.pid)
    if how == "group":
        os.killpg(srv.pid, signal.SIGKILL)
    else:
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    if then:
        then()
    rc = srv.wait_exit(timeout=5)
    srv.expect_exit = rc
    srv.wait_gone(timeout=drain + 5)
    return pids


def recovered_line(srv):
    lines = [ln for ln in srv.log_lines() if " store: recovered in " in ln]
    return lines[-1] if lines else None


def recovery_ms(srv):
    line = recovered_line(srv)
    m = re.search(r"recovered in (\d+) ms", line or "")
    return int(m.group(1)) if m else None


# --- sizes ------------------------------------------------------------------------------


def dir_bytes(path, pattern=None):
    """Sum of the sizes of the regular files in path (whose names match pattern)."""
    total = 0
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return 0
    for n in names:
        if pattern and not re.search(pattern, n):
            continue
        p = os.path.join(path, n)
        try:
            st = os.stat(p)
        except FileNotFoundError:
            continue
        if os.path.isfile(p):
            total += st.st_size
    return total


def data_sizes(data_dir):
    """{"db": *.db bytes, "db_logs": Berkeley DB log.* bytes, "log": segment bytes,
    "segments": count}."""
    d = str(data_dir)
    segs = [n for n in os.listdir(os.path.join(d, "log")) if n.endswith(".seg")]
    return {
        "db": dir_bytes(os.path.join(d, "db"), r"\.db$"),
        "db_logs": dir_bytes(os.path.join(d, "db"), r"^log\.\d+$"),
        "log": dir_bytes(os.path.join(d, "log"), r"\.seg$"),
        "segments": len(segs),
    }


# --- log segments (store/segment.h) ---------------------------------------------------


def segment_frames(path):
    """[(offset, payload length)] of the whole frames at the start of a segment file."""
    data = open(path, "rb").read()
    out, off = [], 0
    while off + 8 <= len(data):
        n = int.from_bytes(data[off:off + 4], "little")
        if off + 8 + n > len(data):
            break
        out.append((off, n))
        off += 8 + n
    return out


def segments(data_dir):
    """{slot: [file names sorted by first sequence number]}."""
    out = {}
    for n in os.listdir(os.path.join(str(data_dir), "log")):
        m = re.fullmatch(r"w(\d+)-([0-9a-f]{16})\.seg", n)
        if m:
            out.setdefault(int(m.group(1)), []).append((int(m.group(2), 16), n))
    return {k: [n for _, n in sorted(v)] for k, v in out.items()}


# --- pipelined HTTP -----------------------------------------------------------------------


_CL = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.I)


class PipeConn:
    """One TLS connection that sends requests in windows and reads the responses in order,
    parsing in place (no copy per response)."""

    def __init__(self, host, port, cafile, timeout=30.0):
        raw = socket.create_connection((host, port), timeout=timeout)
        ctx = tls_context(cafile)
        self.sock = ctx.wrap_socket(raw, server_hostname=host)
        self.sock.settimeout(timeout)
        self.buf = bytearray()
        self.pos = 0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _more(self):
        data = self.sock.recv(262144)
        if not data:
            raise ConnectionError("the server closed the connection")
        if self.pos > 1 << 20:
            del self.buf[:self.pos]
            self.pos = 0
        self.buf += data

    def read(self, want_body=True):
        """(status, body) of the next response."""
        while True:
            he = self.buf.find(b"\r\n\r\n", self.pos)
            if he >= 0:
                m = _CL.search(self.buf, self.pos, he + 2)
                if m is None:
                    raise AssertionError(f"no Content-Length: {bytes(self.buf[self.pos:he])!r}")
                end = he + 4 + int(m.group(1))
                if end <= len(self.buf):
                    status = int(self.buf[self.pos + 9:self.pos + 12])
                    body = bytes(self.buf[he + 4:end]) if want_body else None
                    self.pos = end
                    return status, body
            self._more()

    def run(self, reqs, window=64, want_body=True, on_response=None):
        """Sends every request of reqs (bytes each), at most window unanswered at a time;
        returns [(status, body)] in order.  on_response(i, status, body) is called as each
        arrives (to record what was acknowledged before a failure)."""
        out = []
        sent = 0
        n = len(reqs)
        while len(out) < n:
            if sent < n and sent - len(out) < window // 2 + 1:
                upto = min(n, len(out) + window)
                self.sock.sendall(b"".join(reqs[sent:upto]))
                sent = upto
            st, body = self.read(want_body)
            if on_response:
                on_response(len(out), st, body)
            out.append((st, body))
        return out


def pipelined(srv, reqs, conns=2, window=64, want_body=True):
    """Runs reqs over conns connections at once (threads, contiguous shares); returns the
    [(status, body)] in the order of reqs."""
    if not reqs:
        return []
    conns = max(1, min(conns, len(reqs)))
    share = (len(reqs) + conns - 1) // conns
    parts = [reqs[i:i + share] for i in range(0, len(reqs), share)]
    results = [None] * len(parts)
    errors = []

    def go(k):
        c = PipeConn(srv.host, srv.port, srv.cert)
        try:
            results[k] = c.run(parts[k], window=window, want_body=want_body)
        except Exception as e:  # noqa: BLE001 -- reported by the caller
            errors.append(repr(e))
        finally:
            c.close()

    threads = [threading.Thread(target=go, args=(k,)) for k in range(len(parts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise AssertionError(f"pipelined requests failed: {errors}")
    return [r for part in results for r in part]


def basic(client_id, secret):
    raw = f"{urllib.parse.quote_plus(client_id, safe='')}:" \
          f"{urllib.parse.quote_plus(secret, safe='')}"
    return "Basic " + base64.b64encode(raw.encode()).decode()


def token_request(client_id, secret, body=b"grant_type=client_credentials"):
    return build_request("POST", "/oauth2/token", [
        ("Authorization", basic(client_id, secret)),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ], body)


def validate_request(token):
    return build_request("GET", "/oauth2/validate", [("Authorization", f"Bearer {token}")])


def introspect_request(client_id, secret, token):
    return build_request("POST", "/oauth2/introspect", [
        ("Authorization", basic(client_id, secret)),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ], b"token=" + urllib.parse.quote_plus(token).encode())


def revoke_request(client_id, secret, token):
    return build_request("POST", "/oauth2/revoke", [
        ("Authorization", basic(client_id, secret)),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ], b"token=" + urllib.parse.quote_plus(token).encode())


_ACCESS = re.compile(rb'"access_token":"([^"]+)"')


def blast_tokens(host, port, cafile, client_id, secret, count, conns=2, window=128,
                 keep_tokens=False):
    """Issues count client_credentials tokens over conns pipelined connections (threads of
    this process).  Returns {"statuses": {status: n}, "tokens": [...] if keep_tokens}."""
    req = token_request(client_id, secret)
    statuses, tokens, errors = {}, [], []
    lock = threading.Lock()
    share = [count // conns + (1 if k < count % conns else 0) for k in range(conns)]

    def go(k):
        local, toks = {}, []
        c = None
        try:
            c = PipeConn(host, port, cafile)
            n, got = share[k], 0
            batch = 4096
            while got < n:
                m = min(batch, n - got)
                for st, body in c.run([req] * m, window=window, want_body=keep_tokens):
                    local[st] = local.get(st, 0) + 1
                    if keep_tokens and st == 200:
                        toks.append(_ACCESS.search(body).group(1).decode())
                got += m
        except Exception as e:  # noqa: BLE001 -- reported to the caller
            errors.append(repr(e))
        finally:
            if c:
                c.close()
            with lock:
                for st, v in local.items():
                    statuses[st] = statuses.get(st, 0) + v
                tokens.extend(toks)

    threads = [threading.Thread(target=go, args=(k,)) for k in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out = {"statuses": statuses, "errors": errors}
    if keep_tokens:
        out["tokens"] = tokens
    return out


def blast_processes(srv, client_id, secret, count, procs=2, conns=2, tokens_dir=None):
    """Runs blast_tokens in procs processes at once (Python alone is slower than the
    server); returns the merged {"statuses", "errors", "tokens" (when tokens_dir)}."""
    import subprocess

    per = [count // procs + (1 if k < count % procs else 0) for k in range(procs)]
    running = []
    for k in range(procs):
        out = os.path.join(str(tokens_dir), f"tokens-{k}.txt") if tokens_dir else ""
        args = [sys.executable, os.path.abspath(__file__), "blast", "--host", srv.host,
                "--port", str(srv.port), "--ca", str(srv.cert), "--client-id", client_id,
                "--secret", secret, "--count", str(per[k]), "--conns", str(conns)]
        if out:
            args += ["--tokens-out", out]
        running.append((subprocess.Popen(args, stdout=subprocess.PIPE, text=True,
                                         stdin=subprocess.DEVNULL), out))
    merged = {"statuses": {}, "errors": [], "tokens": []}
    for p, out in running:
        text, _ = p.communicate(timeout=600)
        res = json.loads(text)
        for st, v in res["statuses"].items():
            merged["statuses"][int(st)] = merged["statuses"].get(int(st), 0) + v
        merged["errors"] += res["errors"]
        if out:
            with open(out) as f:
                merged["tokens"] += f.read().split()
    return merged


# --- the ledger of acknowledged changes -------------------------------------------------


VALID, DEAD, MAYBE = "valid", "dead", "maybe"


class Tok:
    __slots__ = ("text", "kind", "family", "state", "client")

    def __init__(self, text, kind, family, client):
        self.text, self.kind, self.family, self.state = text, kind, family, VALID
        self.client = client


class ClientM:
    """One instance of a client (a deletion and re-creation under the same id is a new
    instance): what the server acknowledged about it."""

    def __init__(self, cid, secret, refresh, jwt, name):
        self.id, self.secret, self.refresh, self.jwt = cid, secret, refresh, jwt
        self.secret_known = True
        self.old_secrets = []  # acknowledged as replaced: must fail
        self.exists = VALID  # VALID (exists), DEAD (deleted), MAYBE
        self.names = {name}
        self.tokens = []
        self.retired = False  # no more load on it (a change of it is in doubt, or deleted)
        self.superseded = False  # a later instance with the same id exists
        self.version = 0  # PUTs so far

    def body(self, name):
        grants = ["client_credentials"] + (["refresh_token"] if self.refresh else [])
        body = {"name": name, "scopes": ["read", "write"], "default_scopes": ["read"],
                "grant_types": grants, "token_format": "jwt" if self.jwt else "opaque",
                "access_token_ttl": 3600}
        if self.jwt:
            # Without an allowed audience a JWT's aud is the issuer, and the refresh grant
            # then fails with invalid_target ("no longer allowed the audience of this
            # grant"): a bug of its own, reported apart, kept out of these tests.
            body["audiences"] = ["https://api.example"]
        return body

    def live(self, kind):
        return [t for t in self.tokens if t.kind == kind and t.state == VALID]


class Ledger:
    def __init__(self):
        self.lock = threading.Lock()
        self.clients = []  # every instance ever created or attempted
        self.acked = 0  # acknowledged changes
        self.counts = {}  # per operation, acknowledged
        self.numbers = 0  # for new client ids

    def add_client(self, c):
        with self.lock:
            for old in self.clients:
                if old.id == c.id:
                    old.superseded = True
            self.clients.append(c)

    def next_number(self):
        with self.lock:
            self.numbers += 1
            return self.numbers

    def ack(self, op):
        with self.lock:
            self.acked += 1
            self.counts[op] = self.counts.get(op, 0) + 1

    def tokens(self):
        return [t for c in self.clients for t in c.tokens]


class Unexpected(Exception):
    """The server answered, but not with the acknowledgement the operation expects."""


class LoadThread(threading.Thread):
    """Changes the state of its own clients as fast as it can, one request at a time over
    a keep-alive session, recording what is acknowledged in the ledger.  On a failed
    request the effects of that request become "maybe"; then the thread stops when halt is
    set, else (a worker was killed) goes on with a new connection."""

    OPS = (("issue", 50), ("refresh", 10), ("revoke", 14), ("put", 5), ("rotate", 4),
           ("rotate_revoke", 2), ("delete", 3), ("create", 4))

    def __init__(self, srv, ledger, name, seed, halt, admin_token, mine):
        super().__init__(daemon=True, name=name)
        self.srv, self.ledger, self.halt = srv, ledger, halt
        self.rng = random.Random(seed)
        self.admin_token = admin_token
        self.mine = mine  # ClientM instances this thread owns
        self.errors = []  # unexpected answers (the server was alive)
        self.failures = []  # requests without an answer
        self.session = None

    # plumbing

    def _session(self):
        if self.session is None:
            s = requests.Session()
            s.trust_env = False
            s.verify = str(self.srv.cert)
            self.session = s
        return self.session

    def _drop_session(self):
        if self.session is not None:
            self.session.close()
            self.session = None

    def _admin(self, method, path, body=None):
        return self._session().request(
            method, self.srv.url + path, json=body, timeout=TIMEOUT,
            headers={"Authorization": f"Bearer {self.admin_token}"})

    def _oauth(self, path, c, data):
        return self._session().post(self.srv.url + path, data=data, timeout=TIMEOUT,
                                    headers={"Authorization": basic(c.id, c.secret)})

    @staticmethod
    def _expect(r, status):
        if r.status_code != status:
            raise Unexpected(f"{r.request.method} {r.request.path_url} -> "
                             f"{r.status_code} {r.text[:200]}")

    # operations: each does its request and, once acknowledged, records it; undo() says
    # what a request in doubt may have changed

    def usable(self):
        return [c for c in self.mine if not c.retired and c.exists == VALID]

    def op_issue(self, c):
        def doubt():
            pass

        def go():
            r = self._oauth("/oauth2/token", c, {"grant_type": "client_credentials"})
            self._expect(r, 200)
            t = r.json()
            fam = t.get("refresh_token")
            c.tokens.append(Tok(t["access_token"], "access", fam, c))
            if fam:
                c.tokens.append(Tok(fam, "refresh", fam, c))
        return go, doubt

    def op_refresh(self, c):
        live = c.live("refresh")
        if not live:
            return self.op_issue(c)
        old = self.rng.choice(live)

        def doubt():
            old.state = MAYBE

        def go():
            r = self._oauth("/oauth2/token", c, {"grant_type": "refresh_token",
                                                 "refresh_token": old.text})
            self._expect(r, 200)
            t = r.json()
            old.state = DEAD  # rotated: the used refresh token stops working
            c.tokens.append(Tok(t["access_token"], "access", old.family, c))
            c.tokens.append(Tok(t["refresh_token"], "refresh", old.family, c))
        return go, doubt

    def _family(self, c, tok):
        if tok.kind == "refresh":
            return [t for t in c.tokens if t.family == tok.family]
        return [tok]

    def op_revoke(self, c):
        live = [t for t in c.tokens if t.state == VALID]
        if not live:
            return self.op_issue(c)
        tok = self.rng.choice(live)

        def doubt():
            for t in self._family(c, tok):
                if t.state == VALID:
                    t.state = MAYBE

        def go():
            r = self._oauth("/oauth2/revoke", c, {"token": tok.text})
            self._expect(r, 200)
            for t in self._family(c, tok):
                t.state = DEAD
        return go, doubt

    def op_put(self, c):
        name = f"{c.id} v{c.version + 1}"

        def doubt():
            c.names.add(name)

        def go():
            r = self._admin("PUT", f"/admin/clients/{urllib.parse.quote(c.id, safe='')}",
                            c.body(name))
            self._expect(r, 200)
            c.version += 1
            c.names = {name}
        return go, doubt

    def _rotate(self, c, revoke):
        def doubt():
            c.secret_known = False
            c.retired = True
            if revoke:
                for t in c.tokens:
                    if t.state == VALID:
                        t.state = MAYBE

        def go():
            q = "?revoke_tokens=true" if revoke else ""
            r = self._admin("POST", f"/admin/clients/{urllib.parse.quote(c.id, safe='')}"
                                    f"/secret{q}")
            self._expect(r, 200)
            c.old_secrets.append(c.secret)
            c.secret = r.json()["client_secret"]
            if revoke:
                for t in c.tokens:
                    t.state = DEAD
        return go, doubt

    def op_rotate(self, c):
        return self._rotate(c, False)

    def op_rotate_revoke(self, c):
        return self._rotate(c, True)

    def op_delete(self, c):
        def doubt():
            c.exists = MAYBE
            c.retired = True
            for t in c.tokens:
                if t.state == VALID:
                    t.state = MAYBE

        def go():
            r = self._admin("DELETE", f"/admin/clients/{urllib.parse.quote(c.id, safe='')}")
            self._expect(r, 200)
            c.exists = DEAD
            c.retired = True
            for t in c.tokens:
                t.state = DEAD
            # Half the time the same id comes back as a new client (which must not
            # inherit the old tokens).
            if self.rng.random() < 0.5:
                self.pending_create = c.id
        return go, doubt

    def op_create(self, cid=None):
        cid = cid or f"{self.name}-c{self.ledger.next_number()}"
        c = ClientM(cid, None, self.rng.random() < 0.6, self.rng.random() < 0.25, f"{cid} v0")
        c.secret_known = False

        def doubt():
            c.exists = MAYBE
            c.retired = True
            self.ledger.add_client(c)

        def go():
            body = c.body(f"{cid} v0")
            body["client_id"] = cid
            r = self._admin("POST", "/admin/clients", body)
            self._expect(r, 201)
            c.secret = r.json()["client_secret"]
            c.secret_known = True
            self.ledger.add_client(c)
            self.mine.append(c)
        return go, doubt

    def step(self):
        if getattr(self, "pending_create", None):
            cid, self.pending_create = self.pending_create, None
            return "create", self.op_create(cid)
        usable = self.usable()
        op = self.rng.choices([o for o, _ in self.OPS], [w for _, w in self.OPS])[0]
        if op == "create" or not usable:
            return "create", self.op_create()
        c = self.rng.choice(usable)
        if op == "delete" and len(usable) < 2:
            op = "issue"
        if op == "refresh" and not c.refresh:
            op = "issue"
        return op, getattr(self, f"op_{op}")(c)

    def run(self):
        while not self.halt.is_set():
            op, (go, doubt) = self.step()
            try:
                go()
            except Unexpected as e:
                doubt()
                self.errors.append(str(e))
                self._drop_session()
                if self.halt.wait(0.05):
                    break
                continue
            except (requests.RequestException, OSError, ValueError) as e:
                doubt()
                self.failures.append(f"{op}: {type(e).__name__}")
                self._drop_session()
                # A dead server: the test sets halt right after the kill.  A dead worker:
                # go on once the halt did not come.
                if self.halt.wait(0.05):
                    break
                continue
            self.ledger.ack(op)
        self._drop_session()


class Load:
    """threads LoadThreads over the ledger's clients (each thread keeps the clients it
    owned in earlier rounds)."""

    def __init__(self, srv, ledger, threads=4, seed=0, owned=None):
        self.halt = threading.Event()
        token = srv.token_file.read_text().strip()
        owned = owned or {}
        self.threads = [
            LoadThread(srv, ledger, f"t{k}", f"{seed}-{k}", self.halt, token,
                       owned.setdefault(f"t{k}", []))
            for k in range(threads)
        ]
        self.owned = owned

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.halt.set()
        for t in self.threads:
            t.join(timeout=2 * TIMEOUT + 5)
            assert not t.is_alive(), f"load thread {t.name} did not stop"

    def errors(self):
        return [e for t in self.threads for e in t.errors]

    def failures(self):
        return [e for t in self.threads for e in t.failures]


# --- checking a restarted server against the ledger ------------------------------------


def check(srv, ledger, max_bad_auth=60):
    """Compares what srv serves with everything the ledger says was acknowledged; settles
    "maybe" states to what is seen.  Returns (problems, stats)."""
    problems = []
    stats = {"clients": 0, "access": 0, "refresh": 0, "dead": 0, "maybe": 0}
    admin = srv.session()
    token = srv.token_file.read_text().strip()
    H = {"Authorization": f"Bearer {token}"}
    bad_auth = 0

    def say(msg):
        if len(problems) < 200:
            problems.append(msg)

    try:
        # Clients: existence and name (the latest instance of each id).
        for c in ledger.clients:
            if c.superseded:
                if c.exists == MAYBE:
                    c.exists = DEAD  # a later create of the id was acknowledged
                continue
            stats["clients"] += 1
            r = admin.get(f"{srv.url}/admin/clients/{urllib.parse.quote(c.id, safe='')}",
                          headers=H, timeout=TIMEOUT)
            if c.exists == MAYBE:
                c.exists = VALID if r.status_code == 200 else DEAD
                if r.status_code not in (200, 404):
                    say(f"client {c.id}: GET -> {r.status_code} {r.text[:200]}")
            if c.exists == VALID:
                if r.status_code != 200:
                    say(f"client {c.id} (acknowledged) is gone: GET -> {r.status_code}")
                    continue
                name = r.json().get("name")
                if name not in c.names:
                    say(f"client {c.id}: name {name!r}, acknowledged {sorted(c.names)}")
                else:
                    c.names = {name}
            elif r.status_code != 404:
                say(f"client {c.id} was deleted (acknowledged) but GET -> {r.status_code}")
        # Secrets: the acknowledged one works, the replaced and deleted ones do not.
        for c in ledger.clients:
            if c.exists == VALID and not c.superseded and c.secret_known:
                r = admin.post(f"{srv.url}/oauth2/token", timeout=TIMEOUT,
                               data={"grant_type": "client_credentials"},
                               headers={"Authorization": basic(c.id, c.secret)})
                if r.status_code != 200:
                    say(f"client {c.id}: its acknowledged secret -> {r.status_code} {r.text}")
                else:
                    t = r.json()
                    c.tokens.append(Tok(t["access_token"], "access", t.get("refresh_token"), c))
                    if t.get("refresh_token"):
                        c.tokens.append(Tok(t["refresh_token"], "refresh",
                                            t["refresh_token"], c))
            olds = list(c.old_secrets[-1:])
            if c.exists == DEAD and c.secret_known and not c.superseded:
                olds.append(c.secret)
            for s in olds:
                if bad_auth >= max_bad_auth:  # stay under the failed-authentication limits
                    break
                bad_auth += 1
                r = admin.post(f"{srv.url}/oauth2/token", timeout=TIMEOUT,
                               data={"grant_type": "client_credentials"},
                               headers={"Authorization": basic(c.id, s)})
                if r.status_code != 401:
                    say(f"client {c.id}: a replaced or deleted secret -> {r.status_code}")
        # Access tokens, all of them, pipelined.
        acc = [t for t in ledger.tokens() if t.kind == "access"]
        res = pipelined(srv, [validate_request(t.text) for t in acc], conns=2, want_body=False)
        for t, (st, _) in zip(acc, res):
            stats["access"] += 1
            if t.state == MAYBE:
                stats["maybe"] += 1
                if st == 200 and t.client.exists == DEAD:
                    say(f"access token of {t.client.id}, a deleted client, -> 200")
                elif st in (200, 401):
                    t.state = VALID if st == 200 else DEAD
                else:
                    say(f"access token of {t.client.id}: validate -> {st}")
            elif t.state == VALID and st != 200:
                say(f"access token of {t.client.id} (acknowledged) -> {st}, not 200")
            elif t.state == DEAD and st != 401:
                say(f"revoked access token of {t.client.id} (acknowledged) -> {st}, not 401")
            if t.state == DEAD:
                stats["dead"] += 1
        # Refresh tokens: introspected by their own client, when it exists with a known
        # secret (a deleted client's refresh tokens cannot be used by anyone).
        ref = [t for t in ledger.tokens() if t.kind == "refresh" and t.client.exists == VALID
               and not t.client.superseded and t.client.secret_known]
        res = pipelined(srv, [introspect_request(t.client.id, t.client.secret, t.text)
                              for t in ref], conns=2)
        for t, (st, body) in zip(ref, res):
            stats["refresh"] += 1
            if st != 200:
                say(f"introspecting a refresh token of {t.client.id} -> {st} {body[:200]!r}")
                continue
            active = json.loads(body).get("active")
            if t.state == MAYBE:
                stats["maybe"] += 1
                t.state = VALID if active else DEAD
            elif t.state == VALID and not active:
                say(f"refresh token of {t.client.id} (acknowledged) is not active")
            elif t.state == DEAD and active:
                say(f"revoked or used refresh token of {t.client.id} (acknowledged) is active")
        # A deleted client's tokens are all dead, also those in doubt.
        for c in ledger.clients:
            if c.exists == DEAD:
                for t in c.tokens:
                    if t.kind == "refresh":
                        t.state = DEAD
    finally:
        admin.close()
    return problems, stats


def seed_clients(srv, ledger, load_threads=4, per_thread=3, owned=None):
    """Creates per_thread clients for each load thread (a mix: refresh or not, opaque or
    JWT); returns {thread name: [ClientM]} for Load(owned=...)."""
    owned = owned if owned is not None else {}
    s = srv.session()
    token = srv.token_file.read_text().strip()
    try:
        for k in range(load_threads):
            mine = owned.setdefault(f"t{k}", [])
            for j in range(per_thread):
                cid = f"t{k}-s{j}"
                c = ClientM(cid, None, refresh=j != 1, jwt=j == 2, name=f"{cid} v0")
                body = c.body(f"{cid} v0")
                body["client_id"] = cid
                r = s.post(srv.url + "/admin/clients", json=body, timeout=TIMEOUT,
                           headers={"Authorization": f"Bearer {token}"})
                assert r.status_code == 201, r.text
                c.secret = r.json()["client_secret"]
                ledger.add_client(c)
                mine.append(c)
    finally:
        s.close()
    return owned


def create_client(srv, body):
    """POST /admin/clients with the admin token; returns the 201 answer."""
    s = srv.session()
    try:
        r = s.post(srv.url + "/admin/clients", json=body, timeout=TIMEOUT,
                   headers={"Authorization": f"Bearer {srv.token_file.read_text().strip()}"})
        assert r.status_code == 201, (r.status_code, r.text)
        return r.json()
    finally:
        s.close()


# --- command line: blast ----------------------------------------------------------------


def main(argv):
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("blast", help="issue tokens as fast as possible, pipelined")
    b.add_argument("--host", default="127.0.0.1")
    b.add_argument("--port", type=int, required=True)
    b.add_argument("--ca", required=True)
    b.add_argument("--client-id", required=True)
    b.add_argument("--secret", required=True)
    b.add_argument("--count", type=int, required=True)
    b.add_argument("--conns", type=int, default=2)
    b.add_argument("--tokens-out", default="")
    a = p.parse_args(argv)
    res = blast_tokens(a.host, a.port, a.ca, a.client_id, a.secret, a.count, conns=a.conns,
                       keep_tokens=bool(a.tokens_out))
    if a.tokens_out:
        with open(a.tokens_out, "w") as f:
            f.write("\n".join(res.pop("tokens")) + "\n")
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
