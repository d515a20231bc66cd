"""Per-client limits on live tokens: a client with valid credentials that asks for a new
token on every call cannot fill the shared token table and leave every other client with
503.  At its limit (tokens.max_live_per_client, or its own max_live_tokens) a grant either
revokes the client's oldest live tokens, durably (tokens.limit_policy = evict), or is
answered 429 with Retry-After until one expires (refuse).  Other clients are unaffected;
an evicted token stays revoked after kill -9 and restart, and the order of what is left
survives it too."""
import json
import time

from admin_api import Admin, OAuth
from conftest import wait_for
from durability_load import kill_all, pipelined, token_request
from test_metrics import metrics


def limit_counts(srv):
    oauth = OAuth(srv)
    try:
        m = metrics(oauth, srv)
        return (m.get('tessera_client_limit_total{action="evict"}'),
                m.get('tessera_client_limit_total{action="refuse"}'))
    finally:
        oauth.close()


def active(oauth, token):
    r = oauth.validate(token)
    assert r.status_code in (200, 401), r.text
    return r.status_code == 200


def test_one_client_cannot_fill_the_table(server):
    """By default a client may hold a tenth of tokens.capacity: one asking for a token on
    every call keeps its newest hundred, and the table stays open to everyone."""
    srv = server(config={"tokens": {"capacity": 1000}})
    admin, oauth = Admin(srv), OAuth(srv)
    greedy = admin.create(client_id="greedy", scopes=["read"], grant_types=["client_credentials"])
    other = admin.create(client_id="other", scopes=["read"], grant_types=["client_credentials"])
    # One connection: the answers' order is the order the tokens were issued in.
    out = pipelined(srv, [token_request("greedy", greedy["client_secret"])] * 1500, conns=1)
    assert [st for st, _ in out] == [200] * 1500, [b for st, b in out if st != 200][:2]
    m = metrics(oauth, srv)
    assert m["tessera_tokens_live"] <= 100 + 10  # evicting frees the entries
    assert m['tessera_client_limit_total{action="evict"}'] == 1400
    newest = [json.loads(b)["access_token"] for _, b in out[-100:]]
    assert all(active(oauth, t) for t in newest)
    assert not active(oauth, json.loads(out[-101][1])["access_token"])
    assert active(oauth, oauth.access(other)["access_token"])
    admin.close()
    oauth.close()


def test_evict_the_oldest(server):
    srv = server()
    admin, oauth = Admin(srv), OAuth(srv)
    greedy = admin.create(client_id="greedy", scopes=["read"], max_live_tokens=3,
                          grant_types=["client_credentials"])
    assert admin.get("greedy").json()["max_live_tokens"] == 3
    other = admin.create(client_id="other", scopes=["read"], grant_types=["client_credentials"])
    assert admin.get("other").json()["max_live_tokens"] is None  # the server's
    theirs = [oauth.access(other)["access_token"] for _ in range(5)]
    mine = [oauth.access(greedy)["access_token"] for _ in range(5)]
    # Each grant past the third revoked the oldest of greedy's tokens, nobody else's.
    assert [active(oauth, t) for t in mine] == [False, False, True, True, True]
    assert all(active(oauth, t) for t in theirs)
    assert limit_counts(srv) == (2, 0)
    # A revocation makes room: no eviction for the next grant.
    assert oauth.revoke(greedy, mine[2]).status_code == 200
    mine.append(oauth.access(greedy)["access_token"])
    assert [active(oauth, t) for t in mine] == [False, False, False, True, True, True]
    assert limit_counts(srv) == (2, 0)

    kill_all(srv)
    srv = server(data=srv.data_dir)
    oauth.close()
    admin.close()
    admin, oauth = Admin(srv), OAuth(srv)
    assert admin.get("greedy").json()["max_live_tokens"] == 3
    assert [active(oauth, t) for t in mine] == [False, False, False, True, True, True]
    # The order survived the restart: the next grant evicts the oldest left, mine[3].
    mine.append(oauth.access(greedy)["access_token"])
    assert [active(oauth, t) for t in mine] == [False] * 4 + [True] * 3
    assert all(active(oauth, t) for t in theirs)
    # The limit can be lifted: back to the server's.
    body = admin.get("greedy").json()
    body["max_live_tokens"] = None
    assert admin.put("greedy", body).status_code == 200
    assert admin.get("greedy").json()["max_live_tokens"] is None
    mine.append(oauth.access(greedy)["access_token"])
    assert sum(active(oauth, t) for t in mine) == 4
    admin.close()
    oauth.close()


def test_refresh_tokens_count(server):
    srv = server()
    admin, oauth = Admin(srv), OAuth(srv)
    c = admin.create(client_id="pairs", scopes=["read"], max_live_tokens=4,
                     grant_types=["client_credentials", "refresh_token"])
    first, second = oauth.access(c), oauth.access(c)
    # A third pair makes room by evicting the first: its refresh token is gone too.
    third = oauth.access(c)
    assert not active(oauth, first["access_token"])
    r = oauth.token(c, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    # A refresh at the limit uses its own token for room and evicts the oldest other one,
    # never the refresh token it was given.
    r = oauth.token(c, grant_type="refresh_token", refresh_token=second["refresh_token"])
    assert r.status_code == 200, r.text
    assert not active(oauth, second["access_token"])
    assert active(oauth, third["access_token"]) and active(oauth, r.json()["access_token"])
    assert limit_counts(srv) == (3, 0)
    admin.close()
    oauth.close()


def test_refuse_until_one_expires(server):
    srv = server(config={"tokens": {"limit_policy": "refuse", "max_live_per_client": 2}})
    admin, oauth = Admin(srv), OAuth(srv)
    c = admin.create(client_id="polite", scopes=["read"], access_token_ttl=3,
                     grant_types=["client_credentials"])
    big = admin.create(client_id="big", scopes=["read"], max_live_tokens=5,
                       grant_types=["client_credentials"])
    mine = [oauth.access(c)["access_token"] for _ in range(2)]
    t0 = time.monotonic()
    r = oauth.token(c, grant_type="client_credentials")
    assert r.status_code == 429, r.text
    assert r.json()["error"] == "temporarily_unavailable" and r.json()["error_description"]
    assert 1 <= int(r.headers["Retry-After"]) <= 3
    assert all(active(oauth, t) for t in mine)  # refusing harms nothing
    assert limit_counts(srv) == (0, 1)
    # Another client has its own limit, above the server's.
    assert len([oauth.access(big) for _ in range(5)]) == 5
    assert oauth.token(big, grant_type="client_credentials").status_code == 429
    # Once the oldest has expired, the client gets a token again (no sweep needed).
    fresh = wait_for(lambda: (r := oauth.token(c, grant_type="client_credentials")).status_code
                     == 200 and r.json(), 10, "the client's oldest token to expire")
    assert time.monotonic() - t0 < 8 and active(oauth, fresh["access_token"])
    admin.close()
    oauth.close()


def test_evicted_jwts_stay_revoked_and_count_for_nothing(server):
    """An evicted JWT comes back from a restart as a revoked entry, so that even where
    unknown JWTs are verified its signature never makes it valid again; that entry holds
    no room of its client's."""
    srv = server()
    admin, oauth = Admin(srv), OAuth(srv)
    c = admin.create(client_id="signed", scopes=["read"], token_format="jwt", max_live_tokens=2,
                     grant_types=["client_credentials"])
    mine = [oauth.access(c)["access_token"] for _ in range(4)]
    assert [active(oauth, t) for t in mine] == [False, False, True, True]
    admin.close()
    oauth.close()
    kill_all(srv)
    srv = server(data=srv.data_dir)
    oauth = OAuth(srv)
    assert [active(oauth, t) for t in mine] == [False, False, True, True]
    mine.append(oauth.access(c)["access_token"])  # one eviction: the revoked hold nothing
    assert [active(oauth, t) for t in mine] == [False, False, False, True, True]
    assert limit_counts(srv) == (1, 0)
    oauth.close()
    kill_all(srv)
    srv = server(data=srv.data_dir, config={"tokens": {"jwt_verify_unknown": "true"}})
    oauth = OAuth(srv)
    assert [active(oauth, t) for t in mine] == [False, False, False, True, True]
    # Here a revoked JWT must keep its entry, so evicting one frees no room: refused.
    r = oauth.token(c, grant_type="client_credentials")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1, r.text
    oauth.close()
