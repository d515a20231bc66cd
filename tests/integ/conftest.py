"""
Fixtures and helpers of tessera's integration tests: each test starts the real tesserad
(--dev, a throwaway data directory with its self-signed certificate, a free loopback port)
and talks to it over TLS or plain HTTP with requests, raw sockets, curl or openssl.

Rules (docs/HACKING.md, Tests): every test owns its port and directory; every wait polls a
condition against a deadline (stretched by TESSERA_TEST_SLOW: slow.py); teardown stops the
server with SIGTERM, expects exit status 0, and checks that no process of the server is left,
that no worker died unexpectedly and that no process wrote a sanitizer report.
A server's data directory is a copy of one --dev filled once per session (dev_template)
unless the test asks for a fresh one.  TESSERAD names the binary (make check sets it).
"""
import contextlib
import os
import pathlib
import re
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import time

import pytest
import requests

from admin_api import Admin, OAuth
from slow import slow

REPO = pathlib.Path(__file__).resolve().parents[2]
TESSERAD = os.environ.get("TESSERAD") or str(REPO / "build" / "tesserad")

# For curl and openssl: no proxy for loopback, no CA bundle overriding --cacert's.
CLIENT_ENV = {k: v for k, v in os.environ.items()
              if "proxy" not in k.lower() and k != "CURL_CA_BUNDLE"}

START_TIMEOUT = 10.0  # from exec to every worker serving
STOP_TIMEOUT = 15.0  # SIGTERM to exit; the default drain_timeout is 10 s
IO_TIMEOUT = 5.0  # one response on a healthy connection

# One log line: "2026-11-23T18:07:18.508Z info worker/0[6063] worker: serving (...)".
LOG_LINE = re.compile(
    r"^(?P<time>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z) "
    r"(?P<level>debug|info|warn|error) "
    r"(?P<role>master|store|worker/\d+)\[(?P<pid>\d+)\] "
    r"(?P<module>[a-z_]+): (?P<message>\S.*)$"
)


# --- waiting ------------------------------------------------------------------------


def wait_for(cond, timeout, what, interval=0.01):
    """Polls cond() until it returns a true value (returned) or timeout seconds (stretched
    by TESSERA_TEST_SLOW) pass."""
    timeout = slow(timeout)
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(interval)


# --- processes and ports ------------------------------------------------------------


def free_port(host="127.0.0.1"):
    """A port nothing listens on right now: bind port 0, read it, close."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_bindable(port, host="127.0.0.1"):
    """True when a new listener could bind host:port (so no process listens there)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            s.listen(1)
        except OSError:
            return False
    return True


def ipv6_loopback_available():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def _proc_stat(pid):
    """(state, ppid, pgid) of a process, or None when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2])


def pid_alive(pid):
    """True for a process that exists and is not a zombie."""
    st = _proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def children(pid):
    """Pids of the live (non-zombie) children of pid."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return []
    return [k for k in kids if pid_alive(k)]


def proc_comm(pid):
    """The process's name (/proc/PID/comm): the store process calls itself tessera-store."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""


STORE_COMM = "tessera-store"


def _threads_alive(pid):
    """Whether a thread of pid has not finished exiting.  A killed process's leader shows
    as a zombie while its other threads (libuv's thread pool) still hold its files, and
    with them the data directory's lock."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except (FileNotFoundError, ProcessLookupError):
        return False
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                text = f.read()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if text[text.rindex(")") + 2 :].split()[0] not in ("Z", "X"):
            return True
    return False


def process_group(pgid):
    """Pids of processes in process group pgid (the server runs in its own group) with a
    thread still alive."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _proc_stat(int(entry))
            if st and st[2] == pgid and _threads_alive(int(entry)):
                pids.append(int(entry))
    return pids


# --- raw HTTP over sockets ------------------------------------------------------------


class Response:
    def __init__(self, version, status, reason, headers, body):
        self.version, self.status, self.reason = version, status, reason
        self.headers = headers  # list of (name, value) in order
        self.body = body

    def header(self, name):
        """The value of the only header called name (case-insensitive), None if absent."""
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        assert len(values) <= 1, f"header {name} repeated: {values}"
        return values[0] if values else None

    def json(self):
        import json

        assert self.header("Content-Type") == "application/json", self.headers
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.headers} {self.body[:200]!r}>"


class Closed(Exception):
    """The peer closed the connection before a complete response."""


class HTTPConn:
    """One client connection (plain or TLS) that reads responses by Content-Length."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.eof = None  # None, "clean", "ragged" (TLS EOF without close_notify), "reset"

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def request(self, method="GET", path="/healthz", headers=(), body=b"", version="1.1"):
        self.send(build_request(method, path, headers, body, version))

    def _recv(self, deadline):
        """Reads more bytes into buf; False at EOF. Raises TimeoutError at the deadline."""
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no data before the deadline")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError("no data before the deadline") from None
        except ssl.SSLEOFError:
            self.eof = "ragged"
            return False
        except ssl.SSLError as e:
            if e.reason != "UNEXPECTED_EOF_WHILE_READING":
                raise
            self.eof = "ragged"
            return False
        except ssl.SSLZeroReturnError:
            self.eof = "clean"
            return False
        except ConnectionResetError:
            self.eof = "reset"
            return False
        if not data:
            self.eof = "clean"
            return False
        self.buf += data
        return True

    def read_response(self, timeout=IO_TIMEOUT, head=False):
        deadline = time.monotonic() + slow(timeout)
        while b"\r\n\r\n" not in self.buf:
            if not self._recv(deadline):
                raise Closed(f"connection closed ({self.eof}) with {self.buf[:200]!r} unread")
        head_block, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head_block.decode("latin-1").split("\r\n")
        version, status, reason = lines[0].split(" ", 2)
        headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            assert sep and name == name.strip(), f"bad header line {line!r}"
            headers.append((name, value.strip()))
        lengths = [v for k, v in headers if k.lower() == "content-length"]
        assert len(lengths) == 1, f"want exactly one Content-Length: {headers}"
        assert re.fullmatch(r"\d+", lengths[0]), lengths
        n = 0 if head else int(lengths[0])
        while len(self.buf) < n:
            if not self._recv(deadline):
                raise Closed(f"connection closed ({self.eof}) in a body")
        body, self.buf = self.buf[:n], self.buf[n:]
        return Response(version, int(status), reason, headers, body)

    def read_eof(self, timeout=IO_TIMEOUT):
        """Waits for the peer to close; returns what arrived before the close."""
        deadline = time.monotonic() + slow(timeout)
        while self._recv(deadline):
            pass
        rest, self.buf = self.buf, b""
        return rest

    def is_open_after(self, seconds):
        """True when the peer neither sent anything nor closed within seconds."""
        try:
            self._recv(time.monotonic() + seconds)
        except TimeoutError:
            return True
        return False


def build_request(method="GET", path="/healthz", headers=(), body=b"", version="1.1"):
    lines = [f"{method} {path} HTTP/{version}", "Host: localhost"]
    lines += [f"{k}: {v}" for k, v in headers]
    if body and not any(k.lower() == "content-length" for k, _ in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def tls_context(cafile, alpn=("http/1.1",), minimum=None, maximum=None):
    ctx = ssl.create_default_context(cafile=str(cafile))
    # Report a TCP close without close_notify as such (Python ignores it by default).
    ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if minimum:
        ctx.minimum_version = minimum
    if maximum:
        ctx.maximum_version = maximum
    return ctx


def tls_socket(host, port, cafile, server_hostname=None, timeout=IO_TIMEOUT, **ctx_args):
    """A TLS connection with a completed handshake, verified against cafile."""
    ctx = tls_context(cafile, **ctx_args)
    raw = socket.create_connection((host, port), timeout=slow(timeout))
    try:
        return ctx.wrap_socket(
            raw, server_hostname=server_hostname or host, suppress_ragged_eofs=False
        )
    except BaseException:
        raw.close()
        raise


# --- the server -------------------------------------------------------------------------


def ini_text(config):
    """INI text from {"section": {"key": value}} (or a string, used as is)."""
    if isinstance(config, str):
        return config
    out = []
    for section, keys in config.items():
        out.append(f"[{section}]")
        out += [f"{k} = {v}" for k, v in keys.items()]
    return "\n".join(out) + "\n"


class Server:
    """One tesserad master (and its workers) in its own directory and process group."""

    def __init__(self, root, name):
        self.root = root / name
        self.root.mkdir(parents=True)
        self.data_dir = self.root / "data"
        self.cert = self.data_dir / "dev-cert.pem"
        self.token_file = self.data_dir / "admin.token"
        self.stdout_path = self.root / "stdout.txt"
        self.stderr_path = self.root / "stderr.txt"
        self.proc = None
        self.host = "127.0.0.1"
        self.port = None
        self.plain_port = None
        self.workers = None
        self.expect_worker_deaths = False  # set by tests that kill workers on purpose
        self.expect_exit = None  # exit status a test already took, or None
        self.args = []
        self.quiet = False  # the log level hides info lines
        self.nofile = None  # (soft, hard) RLIMIT_NOFILE tesserad starts with; None: ours

    # starting and stopping

    def start(self, *extra, config=None, workers=2, tls=True, plain=False, host="127.0.0.1",
              data=None, wait=True, nofile=None):
        """Runs tesserad --dev on free ports (data: another server's data directory to
        reuse; nofile: (soft, hard) RLIMIT_NOFILE to start it with); waits, unless
        wait=False, until every worker serves and /healthz answers.
        A port taken between free_port() and the server's bind (by another program on the
        machine) is retried with new ports, twice at most."""
        self.host = host
        if data is not None:
            self.data_dir = pathlib.Path(data)
            self.cert = self.data_dir / "dev-cert.pem"
            self.token_file = self.data_dir / "admin.token"
        if workers is not None:
            self.workers = workers
        if config is not None:
            text = ini_text(config)
            self.quiet = re.search(r"^level = (warn|error)$", text, re.M) is not None
            path = self.root / "tesserad.ini"
            path.write_text(text)
            extra = ("--config", str(path), *extra)
        self.nofile = nofile
        for attempt in range(3):
            self._launch(extra, tls, plain)
            if not wait:
                return self
            try:
                self.wait_ready()
                return self
            except AssertionError:
                ours = [f":{p}) failed: Address already in use"
                        for p in (self.port, self.plain_port) if p]
                if attempt == 2 or self.running() or not any(o in self.stderr() for o in ours):
                    raise
        raise AssertionError("unreachable")

    def _launch(self, extra, tls, plain):
        hp = f"[{self.host}]" if ":" in self.host else self.host
        args = [TESSERAD, "--dev", "--data-dir", str(self.data_dir)]
        if tls:
            self.port = free_port(self.host)
            args += ["--listen", f"{hp}:{self.port}"]
        if plain:
            self.plain_port = free_port(self.host)
            args += ["--listen-plain", f"{hp}:{self.plain_port}"]
        if self.workers is not None:
            args += ["--workers", str(self.workers)]
        self.args = args + list(extra)
        nofile = self.nofile
        limit = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, nofile)) if nofile else None
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                self.args, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                start_new_session=True, preexec_fn=limit,
            )

    def wait_ready(self, timeout=START_TIMEOUT):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"tesserad exited with {self.proc.returncode} while starting:\n"
                    + self.stderr()
                )
            if self.workers:
                # Every worker says it serves, unless the log level hides it.
                if self.quiet and len(self.worker_pids()) < self.workers:
                    return False
                if not self.quiet and len(self.serving_lines()) < self.workers:
                    return False
            return self.probe()

        wait_for(ready, timeout, "tesserad to serve /healthz")

    def probe(self):
        """One GET /healthz on a new connection: True when it answers 200."""
        try:
            with self.connect(timeout=1.0) as c:
                c.request("GET", "/healthz")
                return c.read_response(timeout=1.0).status == 200
        except (OSError, ssl.SSLError, Closed, TimeoutError):
            return False

    def probe_connects(self):
        """True when a TCP connection to the main port is accepted (by the kernel)."""
        try:
            with socket.create_connection((self.host, self.port or self.plain_port), 1):
                return True
        except OSError:
            return False

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, signo):
        self.proc.send_signal(signo)

    def wait_exit(self, timeout=STOP_TIMEOUT):
        try:
            return self.proc.wait(timeout=slow(timeout))
        except subprocess.TimeoutExpired:
            raise AssertionError(f"tesserad did not exit within {slow(timeout)} s") from None

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, then the exit status (which the caller asserts)."""
        self.signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def kill_everything(self):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)

    def leftovers(self):
        return process_group(self.pid)

    def wait_gone(self, timeout=5.0):
        """Waits until no process of the server's group is alive."""
        wait_for(lambda: not self.leftovers(), timeout, "every tesserad process to exit")

    # workers and logs

    def worker_pids(self):
        return sorted(p for p in children(self.pid) if proc_comm(p) != STORE_COMM)

    def store_pid(self):
        """The store process's pid, or None."""
        pids = [p for p in children(self.pid) if proc_comm(p) == STORE_COMM]
        return pids[0] if pids else None

    def wait_workers(self, n=None, exclude=(), timeout=START_TIMEOUT):
        """Waits for n live workers none of which is in exclude; returns their pids."""
        n = n or self.workers

        def check():
            pids = self.worker_pids()
            return pids if len(pids) == n and not set(pids) & set(exclude) else None

        return wait_for(check, timeout, f"{n} workers (not {sorted(exclude)})")

    def stdout(self):
        return self.stdout_path.read_text(errors="replace")

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def log_lines(self):
        return [line for line in self.stderr().splitlines() if line]

    def serving_lines(self):
        return [line for line in self.log_lines() if " worker: serving (" in line]

    def wait_log(self, pattern, timeout=IO_TIMEOUT):
        rx = re.compile(pattern)
        return wait_for(
            lambda: [line for line in self.log_lines() if rx.search(line)],
            timeout,
            f"a log line matching {pattern!r}",
        )

    # clients

    @property
    def url(self):
        hp = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{hp}:{self.port}"

    @property
    def plain_url(self):
        hp = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{hp}:{self.plain_port}"

    def session(self):
        """A requests Session that trusts only the dev certificate and ignores the
        environment (REQUESTS_CA_BUNDLE would otherwise override verify, and a proxy
        variable would send loopback traffic elsewhere)."""
        s = requests.Session()
        s.trust_env = False
        s.verify = str(self.cert)
        return s

    def tls(self, timeout=IO_TIMEOUT, server_hostname=None, **ctx_args):
        return HTTPConn(
            tls_socket(self.host, self.port, self.cert, server_hostname, timeout, **ctx_args)
        )

    def plain(self, timeout=IO_TIMEOUT):
        return HTTPConn(
            socket.create_connection((self.host, self.plain_port), timeout=slow(timeout))
        )

    def raw(self, port=None, timeout=IO_TIMEOUT):
        """A plain TCP socket to the TLS port (for bytes that are not TLS)."""
        return socket.create_connection((self.host, port or self.port), timeout=slow(timeout))

    def connect(self, timeout=IO_TIMEOUT):
        return self.tls(timeout) if self.port else self.plain(timeout)

    def get(self, path="/healthz", **kw):
        with self.connect() as c:
            c.request("GET", path, **kw)
            return c.read_response()

    # teardown

    def finish(self):
        """Stops the server if it still runs; returns a list of problems found."""
        problems = []
        if self.proc is None:
            return problems
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=slow(STOP_TIMEOUT))
                if rc != 0:
                    problems.append(f"tesserad exited {rc} after SIGTERM")
            except subprocess.TimeoutExpired:
                problems.append(f"tesserad ignored SIGTERM for {slow(STOP_TIMEOUT)} s")
                self.kill_everything()
        elif self.expect_exit is None:
            problems.append(f"tesserad exited by itself with {self.proc.returncode}")
        try:
            self.wait_gone()
        except AssertionError:
            problems.append(f"processes left behind: {self.leftovers()}")
            self.kill_everything()
        if not self.expect_worker_deaths:
            deaths = [
                line for line in self.log_lines()
                if re.search(r"worker/\d+ \(pid \d+\) (killed by signal|exited with)", line)
            ]
            if deaths:
                problems.append("unexpected worker deaths:\n" + "\n".join(deaths))
        return problems


# --- sanitizer reports ------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def sanitizer_reports(tmp_path_factory):
    """The directory where every tesserad process the tests start writes the report of an
    AddressSanitizer, LeakSanitizer or UndefinedBehaviorSanitizer finding, as asan.PID or
    ubsan.PID (builds without sanitizers ignore the variables).  On stderr alone a report
    of a worker could go unseen: the test may pass while the worker is respawned."""
    d = tmp_path_factory.mktemp("sanitizer")
    supp = pathlib.Path(__file__).with_name("lsan.supp")
    for var, extra in (("ASAN_OPTIONS", f"log_path={d / 'asan'}"),
                       ("UBSAN_OPTIONS", f"print_stacktrace=1:log_path={d / 'ubsan'}"),
                       ("LSAN_OPTIONS", f"suppressions={supp}:print_suppressions=0")):
        os.environ[var] = ":".join(o for o in (os.environ.get(var, ""), extra) if o)
    return d


@pytest.fixture(autouse=True)
def no_sanitizer_report(sanitizer_reports):
    """Fails the test when a process wrote a sanitizer report during it (checked after the
    servers it started have stopped, so leaks found at exit count too)."""
    before = set(sanitizer_reports.iterdir())
    yield
    new = sorted(set(sanitizer_reports.iterdir()) - before)
    if new:
        pytest.fail("sanitizer report of a tesserad process:\n" + "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[:20000]}" for p in new))


@pytest.fixture
def data_dir(tmp_path):
    """A data directory path of the test's own (not created: tesserad --dev makes it)."""
    return tmp_path / "data"


@pytest.fixture
def port():
    """A free loopback port of the test's own."""
    return free_port()


@pytest.fixture(scope="session")
def dev_template(tmp_path_factory):
    """A data directory --dev filled once (certificate, key, admin token, signing keys,
    demo clients), for servers to start from a copy of: key generation (RSA) costs more
    than the rest of a start, and a copy behaves as a second start on the same directory,
    which --dev supports.  Each test still owns its copy."""
    s = Server(tmp_path_factory.mktemp("template"), "dev")
    s.start(workers=1)
    assert s.stop() == 0, s.stderr()
    s.wait_gone()
    return s.data_dir


@pytest.fixture
def server(tmp_path, dev_template):
    """Factory: server(*extra_args, config=..., workers=2, plain=False, host=..., data=...,
    fresh=False, wait=True) starts a tesserad and returns its Server; all are stopped and
    checked at teardown.  The data directory is a copy of dev_template unless fresh=True
    (the test sees --dev create everything) or data= names one to reuse."""
    started = []

    def start(*extra, fresh=False, **kw):
        s = Server(tmp_path, f"server{len(started)}")
        started.append(s)
        if not fresh and kw.get("data") is None:
            shutil.copytree(dev_template, s.data_dir)
        return s.start(*extra, **kw)

    yield start
    problems = []
    for s in started:
        problems += s.finish()
    if problems:
        pytest.fail("; ".join(problems) + "\n--- stderr of the server ---\n"
                    + "\n".join(s.stderr() for s in started if s.proc))


def run_tesserad(*args, timeout=10, cwd=None):
    """Runs tesserad to completion (for flags that exit); returns CompletedProcess."""
    return subprocess.run(
        [TESSERAD, *args], capture_output=True, text=True, timeout=slow(timeout), cwd=cwd,
        start_new_session=True, stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def api(server):
    """A default server with admin and OAuth clients (admin_api.py): (srv, admin, oauth)."""
    srv = server()
    admin, oauth = Admin(srv), OAuth(srv)
    yield srv, admin, oauth
    admin.close()
    oauth.close()
