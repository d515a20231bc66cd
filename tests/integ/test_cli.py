"""The command line and the configuration file (API.md §9): bad input exits 2 with one
line naming what is wrong, --test-config binds and writes nothing, layers override in the
order --dev defaults < file < flags."""
import os
import re
import subprocess

import pytest

from conftest import (
    TESSERAD,
    free_port,
    ini_text,
    port_bindable,
    process_group,
    run_tesserad,
)


@pytest.fixture(scope="module")
def keypair(tmp_path_factory):
    """A certificate and key made with the openssl tool, for configurations without --dev."""
    d = tmp_path_factory.mktemp("keypair")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-days", "2"],
        check=True, capture_output=True, timeout=30,
    )
    return cert, key


def assert_config_error(p, *needles):
    """Exit status 2, nothing on stdout, one line on stderr naming each needle."""
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert p.stdout == ""
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("tesserad: "), lines
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def write(tmp_path, text, name="t.ini"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def dev_args(tmp_path, port=None):
    return ["--dev", "--data-dir", str(tmp_path / "data"),
            "--listen", f"127.0.0.1:{port or free_port()}"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bogus"], "tesserad: unknown flag '--bogus' (see --help)"),
        (["--dev", "-x"], "tesserad: unknown flag '-x' (see --help)"),
        (["--dev", "-xy"], "tesserad: unknown flag '-x' (see --help)"),
        (["--dev=yes"], "tesserad: --dev takes no value"),
        (["--dev", "--workers"], "tesserad: --workers needs a value"),
        (["--dev", "--config"], "tesserad: --config needs a value"),
        (["--dev", "--workers", "abc"],
         "tesserad: --workers: 'abc' is not a whole number from 0 to 256"),
        (["--dev", "--workers", "257"],
         "tesserad: --workers: '257' is not a whole number from 0 to 256"),
        (["--dev", "--workers", "-1"],
         "tesserad: --workers: '-1' is not a whole number from 0 to 256"),
        (["--dev", "--workers", "2x"],
         "tesserad: --workers: '2x' is not a whole number from 0 to 256"),
        (["--dev", "serve"], "tesserad: unexpected argument 'serve' (see --help)"),
        (["--dev", "--listen", "127.0.0.1"],
         "tesserad: listen '127.0.0.1': expected HOST:PORT"),
        (["--dev", "--listen", "::1:80"],
         "tesserad: listen '::1:80': write IPv6 addresses in brackets: [::1]:PORT"),
        (["--dev", "--listen", "[::1]80"], "tesserad: listen '[::1]80': expected [IPV6]:PORT"),
        (["--dev", "--listen", ":8443"], "tesserad: listen ':8443': missing host"),
        (["--dev", "--listen", "127.0.0.1:0"],
         "tesserad: listen '127.0.0.1:0': port must be a number from 1 to 65535"),
        (["--dev", "--listen", "127.0.0.1:65536"],
         "tesserad: listen '127.0.0.1:65536': port must be a number from 1 to 65535"),
        (["--dev", "--listen-plain", "localhost:http"],
         "tesserad: listen_plain 'localhost:http': port must be a number from 1 to 65535"),
    ],
    ids=["unknown-long", "unknown-short", "short-cluster", "dev-with-value", "workers-missing",
         "config-missing", "workers-abc", "workers-257", "workers-negative", "workers-2x",
         "positional", "listen-no-port", "listen-v6-no-brackets", "listen-v6-no-colon",
         "listen-no-host", "listen-port-0", "listen-port-65536", "listen-plain-named-port"],
)
def test_bad_flags_exit_2(tmp_path, args, message):
    p = run_tesserad("--data-dir", str(tmp_path / "data"), *args)
    line = assert_config_error(p)
    assert line.startswith(message), line
    assert not (tmp_path / "data").exists(), "a refused configuration must write nothing"


@pytest.mark.parametrize(
    "text, message",
    [
        ("[server]\nworkers = 2\nnope = 1\n", ":3: unknown key 'nope' in section [server]"),
        ("[bogus]\nkey = 1\n", ":2: unknown key 'key' in section [bogus]"),
        ("[server]\nreuseport = maybe\n",
         ":2: [server] reuseport: 'maybe' is not a boolean (true or false)"),
        ("[limits]\nheader_bytes = 10\n",
         ":2: [limits] header_bytes: '10' is not a whole number from 1024 to 65536"),
        ("[limits]\nheader_timeout = 1s\n",
         ":2: [limits] header_timeout: '1s' is not a whole number from 1 to 600"),
        ("[server]\nissuer =\n", ":2: [server] issuer: empty value"),
        ("[server]\njust some words\n", ":2: not 'key = value' or '[section]'"),
        ("[server\nworkers = 1\n", ":1: not 'key = value' or '[section]'"),
        # The first error is the one reported, its line and its message together.
        ("[server]\nnope = 1\n[tls]\nbad = 2\n", ":2: unknown key 'nope' in section [server]"),
        ("[server]\nworkers = x\nbad line\n",
         ":2: [server] workers: 'x' is not a whole number from 0 to 256"),
        ("[server]\nbad line\nworkers = x\n", ":2: not 'key = value' or '[section]'"),
        # inih reads 199 characters a line: a longer one must not be split in two.
        ("[tls]\ncertificate = /" + "c" * 300 + "\n", ":2: line longer than 199 characters"),
    ],
    ids=["unknown-key", "unknown-section", "bad-bool", "uint-range", "uint-suffix",
         "empty-value", "not-key-value", "unclosed-section", "first-of-two-keys",
         "key-before-syntax", "syntax-before-key", "line-too-long"],
)
def test_bad_config_file_exits_2(tmp_path, text, message):
    path = write(tmp_path, text)
    p = run_tesserad(*dev_args(tmp_path), "--config", path)
    assert_config_error(p, f"tesserad: config {path}{message}")
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    "section, key, value, message",
    [
        ("tls", "min_version", "1.1", "[tls] min_version '1.1': must be 1.2 or 1.3"),
        ("log", "level", "loud", "[log] level 'loud': must be debug, info, warn or error"),
        ("server", "listen", "localhost", "listen 'localhost': expected HOST:PORT"),
        ("tokens", "limit_policy", "drop", "[tokens] limit_policy 'drop': must be evict or refuse"),
    ],
    ids=["min-version", "log-level", "listen", "limit-policy"],
)
def test_bad_config_values_exit_2(tmp_path, section, key, value, message):
    path = write(tmp_path, f"[{section}]\n{key} = {value}\n")
    p = run_tesserad("--dev", "--data-dir", str(tmp_path / "data"), "--config", path)
    assert_config_error(p, message)


def test_unreadable_config_exits_2(tmp_path):
    missing = tmp_path / "missing.ini"
    p = run_tesserad(*dev_args(tmp_path), "--config", str(missing))
    assert_config_error(p, f"config {missing}: cannot open: No such file or directory")
    # A directory opens but does not read: it must not pass for an empty configuration.
    p = run_tesserad(*dev_args(tmp_path), "--config", str(tmp_path))
    assert_config_error(p, f"config {tmp_path}: cannot read: Is a directory")
    assert not (tmp_path / "data").exists()


def test_no_listener_and_no_certificate_exit_2(tmp_path, keypair):
    p = run_tesserad("--data-dir", str(tmp_path), "--test-config")
    assert_config_error(p, "no listener")
    p = run_tesserad("--listen", f"127.0.0.1:{free_port()}", "--test-config")
    assert_config_error(p, "TLS listener without a certificate", "[tls] certificate")
    cert, key = keypair
    cfg = write(tmp_path, ini_text({"server": {"listen": f"127.0.0.1:{free_port()}"},
                                    "tls": {"certificate": str(tmp_path / "nope.pem"),
                                            "private_key": str(key)}}))
    p = run_tesserad("--config", cfg, "--test-config")
    assert p.returncode == 2, p.stderr
    assert f"cannot load certificate {tmp_path / 'nope.pem'}" in p.stderr
    cfg = write(tmp_path, ini_text({"server": {"listen": f"127.0.0.1:{free_port()}"},
                                    "tls": {"certificate": str(cert),
                                            "private_key": str(cert)}}))
    p = run_tesserad("--config", cfg, "--test-config")
    assert p.returncode == 2, p.stderr
    assert f"cannot load private key {cert}" in p.stderr


def test_bad_configuration_at_start_binds_nothing(tmp_path, port, data_dir):
    path = write(tmp_path, "[limits]\nbody_bytes = huge\n")
    p = run_tesserad("--dev", "--data-dir", str(data_dir), "--listen", f"127.0.0.1:{port}",
                     "--config", path)
    assert_config_error(p, "[limits] body_bytes: 'huge' is not a whole number")
    assert port_bindable(port)
    assert not data_dir.exists()


def run_test_config(tmp_path, *args):
    """--test-config in its own process group: exits, and leaves nothing behind."""
    proc = subprocess.Popen(
        [TESSERAD, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    out, err = proc.communicate(timeout=10)
    assert process_group(proc.pid) == [], "--test-config left processes behind"
    return proc.returncode, out, err


def test_test_config_valid_dev_binds_and_writes_nothing(tmp_path):
    port = free_port()
    rc, out, err = run_test_config(tmp_path, *dev_args(tmp_path, port), "--workers", "2",
                                   "--test-config")
    assert (rc, out, err) == (0, "", "tesserad: configuration OK\n")
    assert port_bindable(port)
    assert not (tmp_path / "data").exists()


def test_test_config_valid_file(tmp_path, keypair):
    cert, key = keypair
    port, plain = free_port(), free_port()
    path = write(tmp_path, ini_text({
        "server": {"listen": f"127.0.0.1:{port}", "listen_plain": f"127.0.0.1:{plain}",
                   "workers": 3, "data_dir": str(tmp_path / "state"), "reuseport": "no",
                   "issuer": "https://auth.example", "drain_timeout": 5},
        "tls": {"certificate": str(cert), "private_key": str(key), "min_version": "1.3"},
        "limits": {"header_bytes": 4096, "body_bytes": 4096, "headers": 32,
                   "header_timeout": 5, "idle_timeout": 30, "max_connections": 100},
        "admin": {"token_file": str(tmp_path / "admin.token")},
        "log": {"level": "warn"},
    }) + "; a comment\n# another\n")
    rc, out, err = run_test_config(tmp_path, "--config", path, "--test-config")
    assert (rc, out, err) == (0, "", "tesserad: configuration OK\n")
    assert port_bindable(port) and port_bindable(plain)
    assert sorted(os.listdir(tmp_path)) == ["t.ini"]


def test_test_config_bad_exits_2(tmp_path):
    path = write(tmp_path, "[limits]\nheaders = 1000\n")
    rc, out, err = run_test_config(tmp_path, *dev_args(tmp_path), "--config", path,
                                   "--test-config")
    assert rc == 2 and out == ""
    assert err.startswith(f"tesserad: config {path}:2: [limits] headers: '1000' is not a "
                          "whole number from 8 to "), err


def test_version_and_help(tmp_path):
    p = run_tesserad("--version")
    assert p.returncode == 0 and p.stderr == ""
    assert re.fullmatch(r"tesserad \d+\.\d+(\.\d+)?\S*\n", p.stdout), p.stdout
    p = run_tesserad("--help")
    assert p.returncode == 0 and p.stderr == ""
    assert p.stdout.startswith("usage: tesserad ")
    for flag in ("--config FILE", "--dev", "--data-dir DIR", "--listen HOST:PORT",
                 "--listen-plain HOST:PORT", "--workers N", "--test-config", "--version",
                 "--help"):
        assert flag in p.stdout, flag
    # --help wins over a configuration that would not validate, and binds nothing.
    p = run_tesserad("--help", "--listen", "nonsense")
    assert p.returncode == 0 and p.stdout.startswith("usage: tesserad ")


# --- layering: --dev defaults < file < flags ------------------------------------------


def test_file_beats_dev_defaults_and_flags_beat_file(server, tmp_path):
    file_port = free_port()
    srv = server(workers=2, config={"server": {"workers": 3, "listen": f"127.0.0.1:{file_port}"}})
    # The flags (--listen PORT, --workers 2) won over the file's listen and workers.
    assert len(srv.wait_workers(2)) == 2
    assert port_bindable(file_port), "the file's listen must be replaced by --listen"
    assert srv.probe()

    srv2 = server(workers=None, tls=False, wait=False,
                  config={"server": {"workers": 3, "listen": f"127.0.0.1:{file_port}"}})
    # No flags this time: the file's listen replaced the --dev default 127.0.0.1:8443 and
    # its workers count applies.
    srv2.port, srv2.workers = file_port, 3
    srv2.wait_ready()
    assert len(srv2.wait_workers(3)) == 3
    assert f"listening on https://127.0.0.1:{file_port}" in srv2.stderr()
    assert "8443" not in srv2.stderr()
