"""The data directory does not grow without bound (issue 5): many short-lived tokens
grow the log and the database while they live; once they have expired, the store's purge
(`[store] purge_interval`), compaction and the trimming of applied log segments bring the
sizes back near where they started.

TESSERA_GROWTH_TOKENS sets how many tokens (default 200,000: issued in 7–10 s here,
pipelined over two connections, about 26,000/s; the whole test takes 35–45 s on this
2-core VM, most of it waiting for the tokens to expire and for the store's 10 s
trim/purge timer).
"""
import os
import re
import time

from conftest import wait_for
from durability_load import blast_tokens, create_client, data_sizes

TOKENS = int(os.environ.get("TESSERA_GROWTH_TOKENS", "200000"))
# Seconds each token lives: long enough that the store's checkpoint (every 10 s, with its
# trimming) writes the sessions into the .db files before they expire — with a TTL of 2 s
# they were applied and purged inside Berkeley DB's cache and the files never grew past
# 1.2 MiB, which would not test the purge of data on disk.
TTL = 12
SEGMENT_MIB = 1  # [store] segment_size: small, so that applied segments can be deleted
MIB = 1 << 20


def fmt(sizes):
    return ", ".join(f"{k} {v / MIB:.2f} MiB" if k != "segments" else f"{v} segments"
                     for k, v in sizes.items())


def purged(srv):
    return sum(int(m.group(1)) for m in
               (re.search(r"store: purged (\d+) expired sessions", ln) for ln in srv.log_lines())
               if m)


def test_expired_tokens_leave_no_growth(server):
    srv = server(workers=2, config={"store": {"purge_interval": 1, "segment_size": SEGMENT_MIB},
                                    "tokens": {"sweep_interval": 1}})
    c = create_client(srv, {"client_id": "short", "grant_types": ["client_credentials"],
                            "scopes": ["read"], "access_token_ttl": TTL})
    start = data_sizes(srv.data_dir)

    t0 = time.monotonic()
    res = blast_tokens(srv.host, srv.port, srv.cert, "short", c["client_secret"], TOKENS,
                       conns=2)
    issued_in = time.monotonic() - t0
    assert res["errors"] == [] and res["statuses"] == {200: TOKENS}, res
    expired_at = time.monotonic() + TTL + 1
    peak = data_sizes(srv.data_dir)
    print(f"{TOKENS} tokens in {issued_in:.1f} s ({TOKENS / issued_in:.0f}/s)")
    print(f"start: {fmt(start)}")
    print(f"after issuing: {fmt(peak)}")

    # "Near the start": the database files within 2x their size at the start or 1 MiB
    # more, whichever is larger (compaction gives back free pages, the B-tree's shape
    # need not return byte for byte); the log segments within one segment per worker
    # slot (each writer keeps its last segment, and a purge is itself logged); Berkeley
    # DB's own transaction log within three of its 4 MiB files.
    db_limit = max(2 * start["db"], start["db"] + MIB)
    log_limit = start["log"] + 2 * SEGMENT_MIB * MIB
    db_logs_limit = 3 * 4 * MIB

    def near():
        nonlocal peak
        now = data_sizes(srv.data_dir)
        peak = {k: max(peak[k], now[k]) for k in now}
        ok = (time.monotonic() >= expired_at and purged(srv) >= TOKENS
              and now["db"] <= db_limit and now["log"] <= log_limit
              and now["db_logs"] <= db_logs_limit)
        return now if ok else None

    t1 = time.monotonic()
    try:
        end = wait_for(near, 60, "the purge to bring the sizes back", interval=0.2)
    finally:
        last = data_sizes(srv.data_dir)
        print(f"peak: {fmt(peak)}")
        print(f"{time.monotonic() - t1:.1f} s later: {fmt(last)}; purged {purged(srv)}; "
              f"limits: db {db_limit / MIB:.2f} MiB, log {log_limit / MIB:.2f} MiB, "
              f"db_logs {db_logs_limit / MIB:.2f} MiB")
    assert end["db"] <= db_limit and end["log"] <= log_limit
    # The sessions did reach the files (about 180 bytes a token across sessions.db and
    # its index), so the purge and compaction were tested on data on disk.
    assert peak["db"] >= 20 * TOKENS, f"the database peaked at {peak['db']} bytes only"
    assert srv.probe()
