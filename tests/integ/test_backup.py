"""tesserad --backup DIR: a hot backup through the running server's store process while
tokens keep being issued, restored by starting a server on it (every token acknowledged
before the backup began validates there); an offline backup when no server runs; and the
refusals: a directory that is not empty, one inside the data directory."""
import json
import os
import stat
import threading

import requests

from admin_api import Admin, OAuth
from conftest import run_tesserad, wait_for

BACKUP_TIMEOUT = 120  # seconds for tesserad --backup: it copies the whole database


class Issuer(threading.Thread):
    """Issues tokens for one client until stopped; keeps each token acknowledged (200)."""

    def __init__(self, srv, client):
        super().__init__(daemon=True)
        self.srv, self.client = srv, client
        self.acked, self.failures = [], []
        self.done = threading.Event()

    def run(self):
        oauth = OAuth(self.srv)
        try:
            while not self.done.is_set():
                try:
                    r = oauth.token(self.client, grant_type="client_credentials")
                except requests.RequestException as e:
                    self.failures.append(repr(e))
                    return
                if r.status_code == 200:
                    self.acked.append(r.json()["access_token"])
                else:
                    self.failures.append((r.status_code, r.text))
        finally:
            oauth.close()

    def stop(self):
        self.done.set()
        self.join(timeout=30)
        assert not self.is_alive()


def backup(target, data_dir, cwd=None):
    return run_tesserad("--backup", str(target), "--data-dir", str(data_dir),
                        timeout=BACKUP_TIMEOUT, cwd=cwd)


def assert_backup_ok(p, target):
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    result = json.loads(p.stdout)
    assert result["backup"] == str(target), result
    assert result["segments"] >= 1 and result["files"] >= 1 and result["bytes"] > 0, result
    assert (target / "db").is_dir() and (target / "log").is_dir(), os.listdir(target)
    assert stat.S_IMODE((target / "keys").stat().st_mode) == 0o700
    assert any(f.suffix == ".pem" for f in (target / "keys").iterdir())
    assert (target / "admin.token").read_text() and (target / "dev-cert.pem").exists()
    assert not (target / "lock").exists() and not (target / "store.sock").exists()
    return result


def assert_all_valid(srv, tokens):
    oauth = OAuth(srv)
    try:
        bad = [t for t in tokens if oauth.validate(t).status_code != 200]
    finally:
        oauth.close()
    assert not bad, f"{len(bad)} of {len(tokens)} acknowledged tokens do not validate"


def test_hot_backup_while_issuing_restores(server, tmp_path):
    srv = server()
    admin = Admin(srv)
    client = admin.create(name="bk", scopes=["read"], grant_types=["client_credentials"])
    admin.close()
    load = Issuer(srv, client)
    load.start()
    wait_for(lambda: len(load.acked) >= 200 or load.failures, 60, "200 tokens issued")
    before = list(load.acked)  # acknowledged before the backup began
    target = tmp_path / "backup"
    p = backup(target, srv.data_dir)
    during = len(load.acked) - len(before)
    load.stop()
    assert not load.failures, load.failures[:5]
    assert during > 0, "the load stopped while the backup ran"
    assert_backup_ok(p, target)
    assert srv.stop() == 0, srv.stderr()
    srv.expect_exit = 0
    srv.wait_gone()

    restored = server(data=target)
    assert_all_valid(restored, before)
    admin = Admin(restored)
    assert admin.get(client["client_id"]).status_code == 200
    admin.close()
    oauth = OAuth(restored)
    assert oauth.validate(oauth.access(client)["access_token"]).status_code == 200
    oauth.close()


def test_relative_target_while_running(server, tmp_path):
    srv = server()
    oauth = OAuth(srv)
    admin = Admin(srv)
    client = admin.create(name="rel", scopes=["read"], grant_types=["client_credentials"])
    token = oauth.access(client)["access_token"]
    oauth.close()
    admin.close()
    p = backup("relative-backup", srv.data_dir, cwd=tmp_path)
    result = assert_backup_ok(p, tmp_path / "relative-backup")
    assert os.path.isabs(result["backup"])
    assert srv.stop() == 0
    srv.expect_exit = 0
    srv.wait_gone()
    assert_all_valid(server(data=tmp_path / "relative-backup"), [token])


def test_offline_backup(server, tmp_path):
    srv = server()
    admin = Admin(srv)
    client = admin.create(name="off", scopes=["read"], grant_types=["client_credentials"])
    admin.close()
    oauth = OAuth(srv)
    tokens = [oauth.access(client)["access_token"] for _ in range(20)]
    oauth.close()
    assert srv.stop() == 0
    srv.expect_exit = 0
    srv.wait_gone()

    target = tmp_path / "offline"
    assert_backup_ok(backup(target, srv.data_dir), target)
    # The data directory is left as it was: a server starts on it again, and so on the copy.
    assert_all_valid(server(data=srv.data_dir), tokens)
    assert_all_valid(server(data=target), tokens)


def test_refuses_a_directory_that_is_not_empty(server, tmp_path):
    srv = server()
    target = tmp_path / "full"
    target.mkdir()
    (target / "something").write_text("mine")
    p = backup(target, srv.data_dir)
    assert p.returncode == 1 and "not empty" in p.stderr, (p.returncode, p.stderr)
    assert os.listdir(target) == ["something"]
    assert (target / "something").read_text() == "mine"
    p = backup(srv.data_dir / "inside", srv.data_dir)
    assert p.returncode == 1 and "inside the data directory" in p.stderr, p.stderr
    assert not (srv.data_dir / "inside").exists()

    assert srv.stop() == 0  # and the same refusals without a server
    srv.expect_exit = 0
    srv.wait_gone()
    p = backup(target, srv.data_dir)
    assert p.returncode == 1 and "not empty" in p.stderr, p.stderr
    assert os.listdir(target) == ["something"]
    p = backup(tmp_path / "no" / "parent", srv.data_dir)
    assert p.returncode == 1 and "parent" in p.stderr, p.stderr
    p = backup(tmp_path / "x", tmp_path / "not-a-data-dir")
    assert p.returncode == 1 and "not-a-data-dir" in p.stderr, p.stderr
