"""GET /metrics (API.md §7), Prometheus text: the durability gauges (records synced by the
writers, applied by the store, the lag between them, apply passes), the token table's fill,
the interned strings, and the counters of refused unknown JWTs and of clients at their
limit of live tokens."""
import re

from conftest import wait_for

LINE = re.compile(r'^(tessera_[a-z_]+)(\{[a-z_]+="[a-z_]+"\})? (\d+)$')


def metrics(oauth, srv):
    """{name: value}, and {name{label="value"}: value} for labelled samples."""
    r = oauth.session.get(srv.url + "/metrics", timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    values, names, typed = {}, set(), set()
    for line in r.text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
        elif not line.startswith("# HELP "):
            m = LINE.match(line)
            assert m, f"not a sample line: {line!r}"
            values[m[1] + (m[2] or "")] = int(m[3])
            names.add(m[1])
    assert names == typed, (values, typed)
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


def test_every_metric_is_there(api):
    srv, admin, oauth = api
    m = metrics(oauth, srv)
    for name in ["tessera_interned_strings", "tessera_interned_strings_limit",
                 "tessera_jwt_unknown_refused_total", 'tessera_client_limit_total{action="evict"}',
                 'tessera_client_limit_total{action="refuse"}']:
        assert name in m, (name, m)
    assert 0 < m["tessera_interned_strings"] <= m["tessera_interned_strings_limit"] == 65536
