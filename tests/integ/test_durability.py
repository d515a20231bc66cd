"""Durability under kill -9 (issue 5): nothing acknowledged is lost, whichever processes
die and whenever.  Load threads issue, refresh and revoke tokens and create, change,
rotate and delete clients over keep-alive TLS connections, recording only what the server
acknowledged (durability_load.py); the server is then killed — all of it, only the store
process, only a worker, or during recovery itself — restarted on the same data directory
and compared with the record.

TESSERA_CRASH_ROUNDS (default 4) sets how many kill-everything rounds (and kills during
recovery) run; TESSERA_CRASH_SEED replays a run's random choices (printed with -s).
"""
import os
import random
import signal
import time

import pytest

from conftest import children, pid_alive, wait_for
from durability_load import (
    _ACCESS,
    Ledger,
    Load,
    blast_tokens,
    check,
    create_client,
    kill_all,
    pipelined,
    recovered_line,
    recovery_ms,
    revoke_request,
    seed_clients,
    validate_request,
    wait_store,
    worker_pids,
)

ROUNDS = int(os.environ.get("TESSERA_CRASH_ROUNDS", "4"))
RECOVERY_TOKENS = int(os.environ.get("TESSERA_RECOVERY_TOKENS", "60000"))
# A short drain: after the master alone dies its children stop on their own (PDEATHSIG,
# then the drain), and the restart waits for them.
CONFIG = {"server": {"drain_timeout": 2}}
LOAD_THREADS = 4


def _seed():
    seed = int(os.environ.get("TESSERA_CRASH_SEED") or time.time_ns() % 1_000_000_007)
    print(f"TESSERA_CRASH_SEED={seed}")
    return seed


def _restart(server, data, config=CONFIG):
    t0 = time.monotonic()
    srv = server(workers=2, config=config, data=data)
    return srv, time.monotonic() - t0


def _wait_acked(ledger, load, n, timeout=60):
    """Waits until the ledger holds n acknowledged changes (the load keeps going)."""
    def done():
        if not any(t.is_alive() for t in load.threads):
            raise AssertionError("every load thread stopped: "
                                 f"{load.errors()[:5]} {load.failures()[:5]}")
        return ledger.acked >= n
    wait_for(done, timeout, f"{n} acknowledged changes (have {ledger.acked})")


def _assert_checked(srv, ledger, what):
    problems, stats = check(srv, ledger)
    assert not problems, (f"{what}: {len(problems)} problems, first ones:\n"
                          + "\n".join(problems[:30]) + "\n--- stderr ---\n" + srv.stderr())
    return stats


@pytest.mark.parametrize("sync", ["batch", "always"])
def test_kill_everything_at_random_moments(server, sync):
    """SIGKILL of the master and every child at once (or one by one, master first) at a
    random point of the load, ROUNDS times on the same data directory; after each restart
    every acknowledged change of every round so far holds.  With [store] sync = batch
    (one fdatasync per loop turn) and always (one per record)."""
    rng = random.Random(_seed())
    config = {**CONFIG, "store": {"sync": sync}}
    srv = server(workers=2, config=config)
    ledger = Ledger()
    owned = seed_clients(srv, ledger, LOAD_THREADS)
    report = []
    for rnd in range(ROUNDS):
        load = Load(srv, ledger, LOAD_THREADS, seed=rng.random(), owned=owned).start()
        target = ledger.acked + rng.randint(30, 1200)
        _wait_acked(ledger, load, target)
        how = "group" if rnd % 2 == 0 else "each"
        kill_all(srv, how, drain=2, then=load.halt.set)
        load.stop()
        assert load.errors() == [], f"round {rnd}: unexpected answers: {load.errors()[:10]}"
        in_doubt = len(load.failures())
        srv, took = _restart(server, srv.data_dir, config)
        stats = _assert_checked(srv, ledger, f"round {rnd} (kill {how})")
        report.append(f"round {rnd}: kill {how} after {ledger.acked} acknowledged changes, "
                      f"{in_doubt} in doubt; restart {took:.2f} s, {recovered_line(srv)}; "
                      f"checked {stats}")
    print("\n".join(report))
    print(f"acknowledged by operation: {ledger.counts}")


def test_kill_store_process_under_load(server):
    """The store process killed under load: the server keeps answering (every change is
    durable in the workers' logs), the master respawns the store, which applies on; a
    graceful restart then finds everything."""
    rng = random.Random(_seed())
    srv = server(workers=2, config=CONFIG)
    ledger = Ledger()
    owned = seed_clients(srv, ledger, LOAD_THREADS)
    load = Load(srv, ledger, LOAD_THREADS, seed=rng.random(), owned=owned).start()
    _wait_acked(ledger, load, 300)
    old = wait_store(srv)
    killed_at = time.monotonic()
    os.kill(old, signal.SIGKILL)
    at_kill = ledger.acked
    new = wait_store(srv, exclude=[old], timeout=15)
    respawn = time.monotonic() - killed_at
    _wait_acked(ledger, load, at_kill + 500)
    load.stop()
    assert load.errors() == [] and load.failures() == [], (load.errors()[:10],
                                                           load.failures()[:10])
    srv.wait_log(rf"\(pid {old}\) killed by signal 9")
    assert pid_alive(new) and new in children(srv.pid)
    # The new store process applies: tokens issued now reach Berkeley DB, where the
    # session listing (answered by the store process) finds them.
    c = create_client(srv, {"client_id": "after-respawn", "scopes": ["read"],
                            "grant_types": ["client_credentials"]})
    issued = blast_tokens(srv.host, srv.port, srv.cert, "after-respawn", c["client_secret"],
                          3, conns=1)
    assert issued["statuses"] == {200: 3}, issued
    admin = srv.session()
    headers = {"Authorization": f"Bearer {srv.token_file.read_text().strip()}"}

    def listed():
        r = admin.get(srv.url + "/admin/sessions?client_id=after-respawn", headers=headers,
                      timeout=10)
        assert r.status_code == 200, (r.status_code, r.text)
        return len(r.json()["sessions"]) == 3

    wait_for(listed, 10, "the respawned store to apply the new tokens")
    admin.close()
    _assert_checked(srv, ledger, "after the store's respawn, live")
    assert srv.stop() == 0, srv.stderr()
    srv.expect_exit = 0
    srv.wait_gone()
    srv, took = _restart(server, srv.data_dir)
    stats = _assert_checked(srv, ledger, "after a graceful restart")
    print(f"store respawned {respawn:.2f} s after the kill; restart {took:.2f} s; "
          f"{recovered_line(srv)}; checked {stats}; {ledger.counts}")


def test_kill_one_worker_under_load(server):
    """One worker SIGKILLed under load: only requests in flight on it are in doubt, the
    master replaces it, the load goes on; a kill of everything afterwards loses nothing."""
    rng = random.Random(_seed())
    srv = server(workers=2, config=CONFIG)
    srv.expect_worker_deaths = True
    ledger = Ledger()
    owned = seed_clients(srv, ledger, LOAD_THREADS)
    load = Load(srv, ledger, LOAD_THREADS, seed=rng.random(), owned=owned).start()
    _wait_acked(ledger, load, 300)
    before = worker_pids(srv)
    assert len(before) == 2, before
    victim = rng.choice(before)
    os.kill(victim, signal.SIGKILL)
    at_kill = ledger.acked
    wait_for(lambda: len(worker_pids(srv)) == 2 and victim not in worker_pids(srv), 10,
             "the killed worker to be replaced")
    _wait_acked(ledger, load, at_kill + 500)
    load.stop()
    assert load.errors() == [], load.errors()[:10]
    assert len(load.failures()) <= LOAD_THREADS, load.failures()
    _assert_checked(srv, ledger, "after the worker's respawn, live")
    kill_all(srv, "group")
    srv, took = _restart(server, srv.data_dir)
    stats = _assert_checked(srv, ledger, "after killing everything")
    print(f"{len(load.failures())} requests in doubt; restart {took:.2f} s; "
          f"{recovered_line(srv)}; checked {stats}")


def test_kill_during_recovery(server, tmp_path):
    """Many tokens (and revocations) so that recovery takes a moment; the store process,
    the master or everything is SIGKILLed while the store recovers, again and again; the
    final start still has every token and every revocation."""
    rng = random.Random(_seed())
    srv = server(workers=2, config=CONFIG)
    c = create_client(srv, {"client_id": "bulk", "grant_types": ["client_credentials"],
                            "scopes": ["read"], "access_token_ttl": 3600})
    t0 = time.monotonic()
    res = blast_tokens(srv.host, srv.port, srv.cert, "bulk", c["client_secret"],
                       RECOVERY_TOKENS, conns=2, keep_tokens=True)
    assert res["errors"] == [] and res["statuses"] == {200: RECOVERY_TOKENS}, res["statuses"]
    tokens = res["tokens"]
    revoked = set(tokens[::7])
    out = pipelined(srv, [revoke_request("bulk", c["client_secret"], t) for t in revoked])
    assert {st for st, _ in out} == {200}
    issued_in = time.monotonic() - t0
    kill_all(srv, "group")

    kills = []
    est = None  # ms the last complete recovery took
    plan = ["store", "full"] + [rng.choice(["store", "master", "all"])
                                for _ in range(max(ROUNDS, 2))]
    data = srv.data_dir
    for what in plan:
        s = server(workers=2, config=CONFIG, data=data, wait=False)
        # Until recovery is over the store process is the master's only child.
        store = wait_for(lambda: children(s.pid) or s.proc.poll() is not None, 10,
                         "the store process to start")
        assert s.proc.poll() is None, s.stderr()
        store = store[0]
        t_store = time.monotonic()
        if what == "full":
            s.wait_log(r" store: recovered in ", timeout=30)
            est = recovery_ms(s)
            target, victim = "all", "all"
        else:
            delay = 0.0 if est is None else rng.uniform(0.05, 0.95) * est / 1000
            wait_for(lambda: time.monotonic() >= t_store + delay or recovered_line(s), 30,
                     "the kill point")
            target, victim = what, what
        during = recovered_line(s) is None
        if victim == "store":
            os.kill(store, signal.SIGKILL)
        elif victim == "master":
            os.kill(s.pid, signal.SIGKILL)
        else:
            os.killpg(s.pid, signal.SIGKILL)
        kills.append((target, during, round(time.monotonic() - t_store, 3)))
        if victim == "store" and not during:
            # Recovery was over: the master respawns the store and serves on.
            kill_all(s, "group")
        else:
            rc = s.wait_exit(timeout=10)
            s.expect_exit = rc
            if victim == "store":
                assert rc == 1, (rc, s.stderr())
                assert "killed by signal 9 while recovering" in s.stderr(), s.stderr()
            s.wait_gone(timeout=10)
    final, took = _restart(server, data)
    results = pipelined(final, [validate_request(t) for t in tokens], want_body=False)
    wrong = [(i, st) for i, ((st, _), t) in enumerate(zip(results, tokens))
             if st != (401 if t in revoked else 200)]
    assert not wrong, (f"{len(wrong)} of {len(tokens)} tokens wrong after recovery "
                       f"(index, status): {wrong[:20]}\n" + final.stderr())
    print(f"{RECOVERY_TOKENS} tokens issued and {len(revoked)} revoked in {issued_in:.1f} s; "
          f"recovery took {est} ms; kills (target, during recovery, s after the store "
          f"started): {kills}; final start {took:.2f} s: {recovered_line(final)}")
    assert sum(1 for _, during, _ in kills if during) >= 2, kills


def test_kill_everything_during_pipelined_issuing(server):
    """Big group commits: two connections pipeline token requests (128 unanswered at a
    time) and a third revokes tokens just issued, when everything is SIGKILLed; every token
    whose answer arrived validates after the restart, every acknowledged revocation holds.
    ROUNDS rounds on the same data directory, each checking every round so far."""
    import threading

    from durability_load import PipeConn, token_request

    rng = random.Random(_seed())
    srv = server(workers=2, config=CONFIG)
    c = create_client(srv, {"client_id": "piped", "grant_types": ["client_credentials"],
                            "scopes": ["read"], "access_token_ttl": 3600})
    secret = c["client_secret"]
    live, revoked, doubt = [], set(), set()
    report = []
    for rnd in range(ROUNDS):
        halt = threading.Event()
        issued = []  # this round's acknowledged tokens, in order
        errors = []

        def issue():
            req = token_request("piped", secret)
            try:
                conn = PipeConn(srv.host, srv.port, srv.cert)
            except OSError as e:
                errors.append(repr(e))
                return
            try:
                while not halt.is_set():
                    def got(i, st, body):
                        if st != 200:
                            errors.append(f"token -> {st} {body[:200]!r}")
                        else:
                            issued.append(_ACCESS.search(body).group(1).decode())
                    conn.run([req] * 256, window=128, on_response=got)
            except (OSError, ConnectionError, ValueError):
                if not halt.is_set():
                    errors.append("an issuing connection failed before the kill")
            finally:
                conn.close()

        def revoke():
            try:
                conn = PipeConn(srv.host, srv.port, srv.cert)
            except OSError as e:
                errors.append(repr(e))
                return
            done = 0
            try:
                while not halt.is_set():
                    batch = issued[done:done + 32:3]
                    done += 32
                    if len(batch) < 10:
                        done -= 32
                        if halt.wait(0.005):
                            break
                        continue
                    doubt.update(batch)

                    def got(i, st, body, batch=batch):
                        if st != 200:
                            errors.append(f"revoke -> {st} {body[:200]!r}")
                        else:
                            revoked.add(batch[i])
                            doubt.discard(batch[i])
                    conn.run([revoke_request("piped", secret, t) for t in batch], window=32,
                             on_response=got)
            except (OSError, ConnectionError, ValueError):
                if not halt.is_set():
                    errors.append("the revoking connection failed before the kill")
            finally:
                conn.close()

        threads = [threading.Thread(target=f, daemon=True) for f in (issue, issue, revoke)]
        for t in threads:
            t.start()
        target = rng.randint(500, 15000)
        wait_for(lambda: len(issued) >= target or errors, 60, f"{target} tokens issued")
        kill_all(srv, "group", drain=2, then=halt.set)
        for t in threads:
            t.join(timeout=15)
            assert not t.is_alive()
        assert not errors, errors[:10]
        live += issued
        srv, took = _restart(server, srv.data_dir)
        check = [t for t in live if t not in doubt]
        res = pipelined(srv, [validate_request(t) for t in check], want_body=False)
        wrong = [(i, st) for i, ((st, _), t) in enumerate(zip(res, check))
                 if st != (401 if t in revoked else 200)]
        assert not wrong, (f"round {rnd}: {len(wrong)} of {len(check)} tokens wrong "
                           f"(index, status): {wrong[:20]}\n" + srv.stderr())
        report.append(f"round {rnd}: killed after {len(issued)} tokens; {len(revoked)} "
                      f"revoked so far, {len(doubt)} revocations in doubt; restart "
                      f"{took:.2f} s: {recovered_line(srv)}")
    print("\n".join(report))
