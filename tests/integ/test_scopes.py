"""Granted scopes (RFC 6749 §3.3: a set, its order not significant) are canonical — sorted,
each once — and kept as a bitmap over the client's allowed scopes, so no request interns a
string: a client asking for every ordering of every subset of its scopes cannot fill the
interned string table and keep others out, and a restart after kill -9 brings every token
back with the scope it was granted, even when its client has lost some of those scopes."""
import json
import random
import urllib.parse

from admin_api import Admin, OAuth
from durability_load import kill_all, pipelined, token_request, validate_request
from test_metrics import metrics

SCOPES = [f"s{i}" for i in range(1, 9)]
BUDGET = 64  # tokens.interned_strings: the smallest allowed
CONFIG = {"tokens": {"interned_strings": BUDGET}}


def canonical(scope):
    return " ".join(sorted(set(scope.split())))


def orderings(n, rng):
    """n distinct orderings (space-joined) of non-empty subsets of SCOPES."""
    seen = set()
    while len(seen) < n:
        seen.add(" ".join(rng.sample(SCOPES, rng.randint(1, len(SCOPES)))))
    return sorted(seen)


def interned(srv):
    oauth = OAuth(srv)
    try:
        return metrics(oauth, srv).get("tessera_interned_strings")
    finally:
        oauth.close()


def test_scope_orderings_do_not_fill_the_interned_table(server):
    srv = server(config=CONFIG)
    admin, oauth = Admin(srv), OAuth(srv)
    greedy = admin.create(client_id="greedy", scopes=SCOPES, grant_types=["client_credentials"])
    other = admin.create(client_id="other", scopes=["read", "write", "admin"],
                         grant_types=["client_credentials"])
    before = interned(srv)
    asked = orderings(10 * BUDGET, random.Random(6749))
    out = pipelined(srv, [token_request("greedy", greedy["client_secret"],
                                        b"grant_type=client_credentials&scope="
                                        + urllib.parse.quote(s).encode()) for s in asked])
    assert [st for st, _ in out] == [200] * len(asked), [b for st, b in out if st != 200][:3]
    granted = {}
    for s, (_, body) in zip(asked, out):
        answer = json.loads(body)
        assert answer["scope"] == canonical(s), (s, answer["scope"])
        granted[answer["access_token"]] = answer["scope"]
    # Not one string was interned for them...
    assert interned(srv) == before
    # ...so another client gets scopes never asked for before, and the admin adds a client.
    for s in ["admin", "write read", "admin write read"]:
        assert oauth.access(other, scope=s)["scope"] == canonical(s)
    late = admin.create(client_id="late", scopes=["y", "x"], grant_types=["client_credentials"])
    assert oauth.access(late)["scope"] == "x y"
    held = interned(srv)
    assert held <= before + 3  # late's list as given, its canonical form, and nothing else

    kill_all(srv)
    srv = server(config=CONFIG, data=srv.data_dir)
    assert interned(srv) <= held
    tokens = sorted(granted)
    out = pipelined(srv, [validate_request(t) for t in tokens])
    assert [st for st, _ in out] == [200] * len(tokens)
    assert [json.loads(b)["scope"] for _, b in out] == [granted[t] for t in tokens]
    oauth.close()
    oauth = OAuth(srv)
    assert oauth.access(greedy, scope="s8 s2")["scope"] == "s2 s8"
    admin.close()
    oauth.close()


def test_a_token_keeps_the_scope_its_client_lost(server):
    srv = server(config=CONFIG)
    admin, oauth = Admin(srv), OAuth(srv)
    c = admin.create(client_id="narrowed", scopes=["read", "write", "admin"],
                     grant_types=["client_credentials", "refresh_token"])
    wide = oauth.access(c, scope="write admin read")
    assert wide["scope"] == "admin read write"
    body = admin.get("narrowed").json()
    body.update(scopes=["read"], default_scopes=["read"])
    assert admin.put("narrowed", body).status_code == 200
    # The token keeps what it was granted; its refresh token may only narrow to what the
    # client is still allowed (and a refused refresh does not use it up).
    assert oauth.validate(wide["access_token"]).json()["scope"] == "admin read write"
    r = oauth.token(c, grant_type="refresh_token", refresh_token=wide["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope", r.text
    r = oauth.token(c, grant_type="refresh_token", refresh_token=wide["refresh_token"],
                    scope="read")
    assert r.status_code == 200 and r.json()["scope"] == "read", r.text
    narrow = r.json()
    other = oauth.access(c, scope="read")
    held = interned(srv)

    kill_all(srv)
    srv = server(config=CONFIG, data=srv.data_dir)
    assert interned(srv) <= held
    oauth.close()
    oauth = OAuth(srv)
    for token, scope in [(wide["access_token"], "admin read write"),
                         (narrow["access_token"], "read"), (other["access_token"], "read")]:
        r = oauth.validate(token)
        assert r.status_code == 200 and r.json()["scope"] == scope, (scope, r.text)
    r = oauth.token(c, grant_type="refresh_token", refresh_token=narrow["refresh_token"])
    assert r.status_code == 200 and r.json()["scope"] == "read", r.text
    admin.close()
    oauth.close()


def jwt_claims(token):
    import base64
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_jwt_scope_claim_is_canonical(server):
    srv = server()
    admin, oauth = Admin(srv), OAuth(srv)
    c = admin.create(client_id="signer", scopes=["write", "read", "admin"], token_format="jwt",
                     grant_types=["client_credentials"])
    t = oauth.access(c, scope="write read write")
    assert t["scope"] == "read write" == jwt_claims(t["access_token"])["scope"]
    assert oauth.introspect(c, t["access_token"]).json()["scope"] == "read write"
    r = oauth.validate(t["access_token"])
    assert r.json()["scope"] == r.headers["Tessera-Scope"] == "read write"
    admin.close()
    oauth.close()


def test_a_spent_budget_fails_only_the_request_that_needs_a_string(server):
    """The admin API spends the budget with new scope lists until it is refused (503);
    every client still gets tokens for any subset of its scopes, in any order, and the
    server restarts with everything."""
    srv = server(config=CONFIG)
    admin, oauth = Admin(srv), OAuth(srv)
    c = admin.create(client_id="steady", scopes=SCOPES, grant_types=["client_credentials"])
    created = 0
    while True:
        r = admin.call("POST", "/admin/clients", {"scopes": [f"only{created}"]})
        if r.status_code != 201:
            break
        created += 1
        assert created < BUDGET, "the budget was never spent"
    assert r.status_code == 503 and r.json()["error"] == "temporarily_unavailable", r.text
    assert interned(srv) == BUDGET
    tokens = {oauth.access(c, scope=s)["access_token"]: canonical(s)
              for s in orderings(50, random.Random(7))}
    # The same list as an existing client's needs no new string.
    assert admin.call("POST", "/admin/clients", {"scopes": ["only0"]}).status_code == 201
    kill_all(srv)
    srv = server(config=CONFIG, data=srv.data_dir)
    out = pipelined(srv, [validate_request(t) for t in tokens])
    assert [json.loads(b)["scope"] for _, b in out] == list(tokens.values())
    assert interned(srv) <= BUDGET
    admin.close()
    oauth.close()
