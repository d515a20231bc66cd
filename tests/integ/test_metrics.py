"""GET /metrics (API.md §7), Prometheus text: the durability gauges (records synced by the
writers, applied by the store, the lag between them, apply passes) and the token table's
fill."""
import re

from conftest import wait_for

LINE = re.compile(r"^(tessera_[a-z_]+) (\d+)$")


def metrics(oauth, srv):
    r = oauth.session.get(srv.url + "/metrics", timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    values, typed = {}, set()
    for line in r.text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
        elif not line.startswith("# HELP "):
            m = LINE.match(line)
            assert m, f"not a sample line: {line!r}"
            values[m[1]] = int(m[2])
    assert set(values) == typed, (values, typed)
    return values


def test_durability_gauges_follow_issuing(api):
    srv, admin, oauth = api
    before = wait_for(lambda: (m := metrics(oauth, srv))["tessera_store_apply_lag_records"] == 0
                      and m, 10, "no apply lag at start")
    c = admin.create(scopes=["read"], grant_types=["client_credentials"])
    for _ in range(5):
        oauth.access(c)
    # The client and five tokens are six records, synced before their answers came.
    after = metrics(oauth, srv)
    assert after["tessera_log_synced_records"] >= before["tessera_log_synced_records"] + 6
    assert after["tessera_tokens_live"] >= before["tessera_tokens_live"] + 5
    # The store applies them: the lag returns to 0 and the applied count catches up.
    done = wait_for(lambda: (m := metrics(oauth, srv))["tessera_store_apply_lag_records"] == 0
                    and m, 10, "the store to apply the new records")
    assert done["tessera_store_applied_records"] >= after["tessera_log_synced_records"]
    assert done["tessera_store_apply_passes"] > before["tessera_store_apply_passes"]
