"""Shared helpers for tools/bench/run and tools/bench/balance (python3 stdlib only).

Starts tesserad and nginx on free 127.0.0.1 ports, polls them with curl until they
answer, runs wrk with report.lua and parses its "BENCH ..." line, and stops every
process it started (process groups, SIGTERM then SIGKILL) on exit, errors, Ctrl-C
or SIGTERM.  Nothing here listens on or connects to anything but 127.0.0.1.
"""

import atexit
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.realpath(__file__))
TOP = os.path.dirname(os.path.dirname(BENCH_DIR))
REPORT_LUA = os.path.join(BENCH_DIR, "report.lua")
NGINX = "/usr/sbin/nginx"
HOST = "127.0.0.1"
HEALTHZ_BODY = '{"status":"ok"}'


class BenchError(Exception):
    """A failure that makes the measurement meaningless; reported, exit status 1."""


def log(msg=""):
    print(msg, flush=True)


def warn(msg):
    print("!!! " + msg, flush=True)


# ---------------------------------------------------------------------------
# Process bookkeeping and cleanup

_procs = []          # every Popen we started and have not reaped yet
_tmpdirs = []
_cleaned = False


_critical = 0       # > 0: inside spawn(), where an exception would leak the child
_pending = None


def _on_signal(signo, _frame):
    global _pending
    if _critical:
        _pending = signo   # raised when spawn() has registered the child
        return
    raise KeyboardInterrupt("signal %d" % signo)


@contextlib.contextmanager
def _deferred_signals():
    global _critical, _pending
    _critical += 1
    try:
        yield
    finally:
        _critical -= 1
        if not _critical and _pending is not None:
            signo, _pending = _pending, None
            raise KeyboardInterrupt("signal %d" % signo)


def install_cleanup():
    """Ctrl-C, SIGTERM and SIGHUP unwind the stack (finally blocks run), and cleanup()
    also runs at exit; call once at the start of a script."""
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _on_signal)
    atexit.register(cleanup)


def spawn(argv, stdout=None, stderr=None, own_group=True, env=None):
    """Starts argv; own_group puts it (and its children) in a new process group that
    stop() and cleanup() signal as a whole."""
    with _deferred_signals():  # a Ctrl-C now must not lose track of the child
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                             start_new_session=own_group, env=env)
        p.own_group = own_group
        _procs.append(p)
    return p


def _signal(p, signo, group=False):
    try:
        if group and p.own_group:
            os.killpg(p.pid, signo)   # pgid == pid: we made it a group leader
        else:
            p.send_signal(signo)
    except (ProcessLookupError, PermissionError):
        pass


def stop(p, grace=15.0, signo=signal.SIGTERM):
    """Sends signo to the process (a master stops its own workers), waits up to grace
    seconds, then SIGKILLs its whole group.  Returns (exit status, True if it stopped
    by itself in time)."""
    clean = True
    if p.poll() is None:
        _signal(p, signo)
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            clean = False
            _signal(p, signal.SIGKILL, group=True)
            p.wait()
    # Leftover group members (e.g. workers of a master that died): kill them too.
    _signal(p, signal.SIGKILL, group=True)
    if p in _procs:
        _procs.remove(p)
    return p.returncode, clean


def cleanup():
    global _cleaned
    if _cleaned:
        return
    _cleaned = True
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
    try:
        for p in list(_procs):
            stop(p, grace=5.0)
        if os.environ.get("BENCH_KEEP_TMP") != "1":
            for d in _tmpdirs:
                shutil.rmtree(d, ignore_errors=True)
        else:
            for d in _tmpdirs:
                log("kept %s (BENCH_KEEP_TMP=1)" % d)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def make_tmpdir(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    _tmpdirs.append(d)
    return d


# ---------------------------------------------------------------------------
# Small utilities

def free_port(avoid=()):
    """A currently free 127.0.0.1 TCP port (the kernel picks it).  There is a small
    race until the server binds it; start_* retry on a bind failure."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if port not in avoid:
            return port


def need(tool):
    if shutil.which(tool) is None and not os.path.exists(tool):
        raise BenchError("%s is not installed (tools/setup-deps installs wrk and nginx-light)" % tool)


def tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def loadavg():
    try:
        return open("/proc/loadavg").read().split()[0]
    except OSError:
        return "?"


def tesserad_binary(tmp):
    """$TESSERAD or build/tesserad (built with tools/build when absent), copied into
    tmp so that a rebuild by someone else during the run cannot change it."""
    path = os.environ.get("TESSERAD")
    if not path:
        build = os.environ.get("BUILD_DIR", os.path.join(TOP, "build"))
        path = os.path.join(build, "tesserad")
        if not os.access(path, os.X_OK):
            log("%s is missing: running tools/build" % path)
            if subprocess.call([os.path.join(TOP, "tools", "build")]) != 0:
                raise BenchError("tools/build failed")
    if not os.access(path, os.X_OK):
        raise BenchError("no executable tesserad at %s" % path)
    copy = os.path.join(tmp, "tesserad")
    shutil.copy2(path, copy)
    version = subprocess.run([copy, "--version"], capture_output=True, text=True,
                             timeout=10).stdout.strip()
    mtime = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(path)))
    log("tesserad: %s (%s, built %s)" % (path, version or "?", mtime))
    return copy


# ---------------------------------------------------------------------------
# Servers

class Server:
    """A started server: name, Popen, port, stderr log path, certificate."""

    def __init__(self, name, proc, port, errlog, cafile):
        self.name, self.proc, self.port, self.errlog, self.cafile = name, proc, port, errlog, cafile

    def url(self, path="/healthz"):
        return "https://%s:%d%s" % (HOST, self.port, path)

    def alive(self):
        return self.proc.poll() is None

    def ensure_alive(self):
        if not self.alive():
            raise BenchError("%s exited with status %s; last log lines:\n%s"
                             % (self.name, self.proc.returncode, tail(self.errlog)))


def start_tesserad(binary, tmp, workers, reuseport=None, log_level="warn", tag="tesserad",
                   avoid_ports=(), extra_conf=""):
    """Starts `tesserad --dev` with a fresh data dir in tmp; returns a ready Server.
    reuseport None keeps tesserad's default accept mode; extra_conf is appended to the
    generated INI file (whole sections, e.g. "[tokens]\\ncapacity = 20000000\\n")."""
    conf = os.path.join(tmp, tag + ".ini")
    with open(conf, "w") as f:
        if reuseport is not None:
            f.write("[server]\nreuseport = %s\n\n" % ("true" if reuseport else "false"))
        f.write("[log]\nlevel = %s\n" % log_level)
        if extra_conf:
            f.write("\n" + extra_conf)
    data = os.path.join(tmp, tag + "-data")
    for attempt in range(3):
        port = free_port(avoid_ports)
        errlog = os.path.join(tmp, tag + ".log")
        with open(errlog, "w") as err, open(os.path.join(tmp, tag + ".out"), "w") as out:
            proc = spawn([binary, "--dev", "--data-dir", data, "--listen", "%s:%d" % (HOST, port),
                          "--workers", str(workers), "--config", conf], stdout=out, stderr=err)
        srv = Server(tag, proc, port, errlog, os.path.join(data, "dev-cert.pem"))
        if wait_ready(srv, retry_on_bind=attempt < 2):
            return srv
        stop(proc)
    raise BenchError("could not start tesserad")


def nginx_conf(tmp, port, workers, cert, key, locations=()):
    """Generates the nginx configuration: same certificate and key as tesserad,
    `location /` answers the /healthz body; locations adds (path, body) exact matches
    for scenarios whose tesserad response differs."""
    extra = "".join(
        "        location = %s { default_type application/json; return 200 '%s'; }\n"
        % (path, body.replace("\\", "\\\\").replace("'", "\\'")) for path, body in locations)
    temp = os.path.join(tmp, "nginx-temp")
    os.makedirs(temp, exist_ok=True)
    return f"""# generated by tools/bench: reference server for the tesserad benchmarks
daemon off;
master_process on;
worker_processes {workers};
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    server {{
        listen {HOST}:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
{extra}        location / {{
            default_type application/json;
            return 200 '{HEALTHZ_BODY}';
        }}
    }}
}}
"""


def start_nginx(tmp, workers, cert, key, locations=(), avoid_ports=()):
    need(NGINX)
    prefix = os.path.join(tmp, "nginx")
    os.makedirs(prefix, exist_ok=True)
    conf = os.path.join(prefix, "nginx.conf")
    errlog = os.path.join(tmp, "nginx-error.log")
    for attempt in range(3):
        port = free_port(avoid_ports)
        with open(conf, "w") as f:
            f.write(nginx_conf(tmp, port, workers, cert, key, locations))
        with open(os.path.join(tmp, "nginx.stderr"), "w") as err:
            # -e: the error log before the configuration is read (Debian's default is stderr).
            proc = spawn([NGINX, "-e", errlog, "-p", prefix + "/", "-c", conf],
                         stdout=err, stderr=err)
        srv = Server("nginx", proc, port, errlog, cert)
        if wait_ready(srv, retry_on_bind=attempt < 2):
            return srv
        stop(proc)
    raise BenchError("could not start nginx; see %s" % errlog)


def curl_get(srv, path="/healthz", extra=(), timeout=3):
    """One request with curl --cacert; returns (status, body, curl stderr)."""
    body_file = os.path.join(os.path.dirname(srv.errlog), "curl-body")
    try:
        r = subprocess.run(["curl", "-sS", "--cacert", srv.cafile, "--max-time", str(timeout),
                            "-o", body_file, "-w", "%{http_code}", *extra, srv.url(path)],
                           capture_output=True, text=True, timeout=timeout + 5)
    except subprocess.TimeoutExpired:
        return 0, b"", "curl hung"
    body = b""
    if os.path.exists(body_file):
        with open(body_file, "rb") as f:
            body = f.read()
        os.unlink(body_file)
    status = int(r.stdout) if r.returncode == 0 and r.stdout.isdigit() else 0
    return status, body, r.stderr.strip()


def wait_ready(srv, deadline=20.0, retry_on_bind=False):
    """Polls GET /healthz with curl until it answers 200 (True), the server exits
    (False when it failed to bind and retry_on_bind, else BenchError) or the deadline
    passes (BenchError)."""
    end = time.monotonic() + deadline
    last = ""
    while time.monotonic() < end:
        if not srv.alive():
            text = tail(srv.errlog) + tail(os.path.join(os.path.dirname(srv.errlog), "nginx.stderr"))
            if retry_on_bind and re.search(r"bind|in use", text, re.I):
                return False
            srv.ensure_alive()
        if os.path.exists(srv.cafile):
            status, _, last = curl_get(srv, timeout=2)
            if status == 200:
                return True
            last = last or "HTTP status %d" % status
        time.sleep(0.2)
    raise BenchError("%s did not answer %s within %.0f s (%s); log:\n%s"
                     % (srv.name, srv.url(), deadline, last, tail(srv.errlog)))


def tls_params(srv):
    """Negotiated protocol, cipher suite and key exchange group, via openssl s_client."""
    if shutil.which("openssl") is None:
        return "?"
    try:
        r = subprocess.run(["openssl", "s_client", "-brief", "-connect", "%s:%d" % (HOST, srv.port),
                            "-CAfile", srv.cafile], input="", capture_output=True, text=True,
                           timeout=10)
    except subprocess.TimeoutExpired:
        return "?"
    out = r.stdout + r.stderr
    fields = []
    for key in ("Protocol version", "Ciphersuite", "Negotiated TLS1.3 group", "Server Temp Key"):
        m = re.search(r"^%s: (.*)$" % re.escape(key), out, re.M)
        if m:
            fields.append(m.group(1).strip())
    return " / ".join(fields) or "?"


STOP_RE = re.compile(r"(worker/\d+)\[(\d+)\].*stopped after (\d+) connections and (\d+) requests")


def worker_stops(log_text):
    """[(worker name, pid, connections, requests)] from tesserad's info-level
    'stopped after N connections and M requests' lines."""
    return [(m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)))
            for m in STOP_RE.finditer(log_text)]


def problems_in_log(log_text):
    """tesserad's warn/error lines."""
    return [l for l in log_text.splitlines() if re.search(r" (warn|error|fatal) ", l)]


def read_new(path, offset):
    """Text appended to path since offset, and the new offset."""
    try:
        with open(path, errors="replace") as f:
            f.seek(offset)
            text = f.read()
            return text, f.tell()
    except OSError:
        return "", offset


# ---------------------------------------------------------------------------
# wrk

def build_tls_shim(tmp):
    """Compiles tlsshim.c (see there) into tmp; returns the .so path."""
    so = os.path.join(tmp, "tlsshim.so")
    if not os.path.exists(so):
        cc = os.environ.get("CC", "cc")
        r = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", so,
                            os.path.join(BENCH_DIR, "tlsshim.c"), "-ldl"],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise BenchError("cannot build tools/bench/tlsshim.c (needs cc and libssl-dev):\n"
                             + r.stderr)
    return so


def wrk(url, threads, conns, duration, headers=(), lua=None, tmp=None, tls=None,
        wrk_timeout="5s", env=None, expect=None):
    """Runs wrk (bounded by -d and by `timeout`) with report.lua, preceded by the
    scenario's own request script lua if any.  tls: None (keep-alive), "full" (a
    new connection per request must do a full handshake) or "resume" (... must resume
    the previous session); both load tlsshim.so to enforce/count that.  Returns the
    BENCH fields as a dict (floats), plus 'output' (wrk's output) and 'failed' (why
    the figures are not meaningful, or None).  env: extra environment for wrk (the
    scenario scripts read their parameters from it); expect: a string every 2xx
    response body must contain (report.lua counts the others as errors)."""
    need("wrk")
    script = REPORT_LUA
    if lua:
        script = os.path.join(tmp, "wrk-script.lua")
        with open(script, "w") as out:
            for part in (lua, REPORT_LUA):
                with open(part) as f:
                    out.write(f.read() + "\n")
    argv = ["timeout", "-k", "5", str(duration + 30), "wrk", "-t", str(threads),
            "-c", str(conns), "-d", "%ds" % duration, "--timeout", wrk_timeout, "-s", script]
    for h in headers:
        argv += ["-H", h]
    argv.append(url)
    env = dict(os.environ, **(env or {}))
    env.setdefault("BENCH_COUNT_NON2XX", "1")
    env["BENCH_EXPECT"] = expect or ""
    if tls:
        env["LD_PRELOAD"] = " ".join(filter(None, (build_tls_shim(tmp), env.get("LD_PRELOAD"))))
        env["BENCH_TLS_FULL"] = "1" if tls == "full" else "0"
    p = spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    hung = False
    try:
        output = p.communicate(timeout=duration + 45)[0]
    except subprocess.TimeoutExpired as e:  # `timeout` should have ended it long before
        hung, output = True, e.output or b""
    finally:
        stop(p, grace=2)
    output = output.decode(errors="replace")
    res = {"output": output, "failed": None}
    m = re.search(r"^BENCH (.*)$", output, re.M)
    if hung or p.returncode != 0 or not m:
        res["failed"] = "wrk %s%s" % (
            "hung" if hung else "exited with status %s" % p.returncode,
            "" if m else " without a BENCH line")
        return res
    for kv in m.group(1).split():
        k, v = kv.split("=", 1)
        res[k] = float(v)
    res.setdefault("unexpected", 0)
    problems = []
    if res["requests"] == 0:
        problems.append("no request completed")
    if res["errors"] > 0:
        problems.append("%d errors in %d requests (connect %d, read %d, write %d, timeout %d, "
                        "non-2xx %d, 2xx without %r in the body %d)"
                        % (res["errors"], res["requests"], res["connect_errors"],
                           res["read_errors"], res["write_errors"], res["timeout_errors"],
                           res["non2xx"], expect or "", res["unexpected"]))
    if tls:
        t = re.search(r"^TLSSHIM handshakes=(\d+) resumed=(\d+)", output, re.M)
        if not t:
            problems.append("no TLSSHIM line: handshakes not checked")
        else:
            hs, resumed = res["handshakes"], res["resumed"] = int(t.group(1)), int(t.group(2))
            if hs < 0.99 * res["requests"]:
                problems.append("%d handshakes for %d requests: connections were kept open "
                                "despite Connection: close" % (hs, res["requests"]))
            if tls == "full" and resumed:
                problems.append("%d of %d handshakes resumed a session" % (resumed, hs))
            if tls == "resume" and resumed < hs - 2 * conns:
                problems.append("only %d of %d handshakes resumed a session" % (resumed, hs))
    res["failed"] = "; ".join(problems) or None
    return res


def fmt_result(r):
    if "rps" not in r:
        return "FAILED: %s" % r["failed"]
    s = "%9.0f req/s  p50 %7.3f ms  p99 %7.3f ms  %4.0f B/resp" % (
        r["rps"], r["p50_ms"], r["p99_ms"], r["bytes"] / max(r["requests"], 1))
    if "handshakes" in r:
        s += "  %d handshakes, %d resumed" % (r["handshakes"], r["resumed"])
    if r["failed"]:
        s += "  !!! " + r["failed"]
    return s


# ---------------------------------------------------------------------------
# OAuth fixtures: admin API calls and pre-issued tokens

def https_json(srv, method, path, body=None, headers=None, timeout=10):
    """One HTTPS request to srv (its certificate trusted) with an optional JSON body;
    returns (status, parsed JSON or None, raw body).  Status 0: no answer."""
    import http.client
    import json
    import ssl
    ctx = ssl.create_default_context(cafile=srv.cafile)
    conn = http.client.HTTPSConnection(HOST, srv.port, context=ctx, timeout=timeout)
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        raw = r.read()
        status = r.status
    except (OSError, http.client.HTTPException) as e:
        return 0, None, str(e).encode()
    finally:
        conn.close()
    try:
        doc = json.loads(raw) if raw else None
    except ValueError:
        doc = None
    return status, doc, raw


COLLECT_LUA = os.path.join(BENCH_DIR, "collect.lua")
COLLECT_RE = re.compile(r"^COLLECT ok=(\d+) bad=(\d+) socket_errors=(\d+)$", re.M)


def issue_tokens(srv, headers, body, want, out, threads=2, conns=64, deadline=180.0):
    """Pre-issues `want` access tokens: wrk with collect.lua POSTs `body` to
    /oauth2/token (headers: client authentication) as fast as tesserad answers, each
    thread appending the access_token of every 200 answer to out.N; once the files
    hold `want` complete tokens wrk is stopped (SIGINT) and the first `want` distinct
    ones go to `out`, one a line.  Any non-200 answer, socket error or a shortfall
    raises BenchError.  Returns (tokens written, seconds taken)."""
    need("wrk")
    part = out + ".part"
    argv = ["wrk", "-t", str(threads), "-c", str(conns), "-d", "%ds" % int(deadline + 10),
            "--timeout", "5s", "-s", COLLECT_LUA]
    for h in headers:
        argv += ["-H", h]
    argv.append(srv.url("/oauth2/token"))
    env = dict(os.environ, BENCH_COLLECT_OUT=part, BENCH_BODY=body)
    start = time.monotonic()
    p = spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    files = [part + ".%d" % (i + 1) for i in range(threads)]

    def lines():
        n = 0
        for f in files:
            try:
                with open(f, "rb") as fh:
                    n += fh.read().count(b"\n")
            except OSError:
                pass
        return n

    try:
        while p.poll() is None and lines() < want and time.monotonic() - start < deadline:
            time.sleep(0.25)
        if p.poll() is None:
            p.send_signal(signal.SIGINT)   # wrk stops its threads and runs done()
        output = p.communicate(timeout=30)[0].decode(errors="replace")
    except subprocess.TimeoutExpired:
        output = "(wrk did not stop on SIGINT)"
    finally:
        stop(p, grace=2)
    took = time.monotonic() - start
    m = COLLECT_RE.search(output)
    if not m:
        raise BenchError("token issuance: no COLLECT line from wrk (status %s):\n%s"
                         % (p.returncode, output.strip()[-2000:]))
    ok, bad, sock = (int(x) for x in m.groups())
    if bad or sock:
        last = re.search(r"^COLLECT_LAST_BAD (.*)$", output, re.M)
        raise BenchError("token issuance: %d non-200 answers and %d socket errors besides %d "
                         "tokens (last bad answer: %s)"
                         % (bad, sock, ok, last.group(1) if last else "-"))
    seen, tokens = set(), []
    tok_re = re.compile(rb"^[A-Za-z0-9_.~+/=-]+$")
    for f in files:
        try:
            with open(f, "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        for line in data.split(b"\n")[:-1]:   # the last piece may be a partial write
            if tok_re.match(line) and line not in seen:
                seen.add(line)
                tokens.append(line)
        os.unlink(f)
    if len(tokens) < want:
        raise BenchError("token issuance: only %d of %d tokens in %.0f s (%d issued)"
                         % (len(tokens), want, took, ok))
    with open(out, "wb") as fh:
        fh.write(b"\n".join(tokens[:want]) + b"\n")
    return want, took
