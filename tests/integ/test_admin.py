"""The admin API for clients (API.md §6): create, read, list, replace, delete and rotate
the secret, behind the admin token; secrets shown once; what deleting a client or
rotating its secret does to its tokens, on every worker."""
import pytest

from admin_api import BASE64URL, basic, path_id

FIELDS = {"client_id", "name", "scopes", "default_scopes", "audiences", "grant_types",
          "token_format", "jwt_alg", "access_token_ttl", "max_access_token_ttl",
          "refresh_token_ttl", "can_introspect", "max_live_tokens", "created_at", "updated_at"}


def assert_admin_error(r, status, error, *words):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["Cache-Control"] == "no-store"
    body = r.json()
    assert body["error"] == error, body
    for w in words:
        assert w in body["error_description"], body
    return body


def assert_no_secret(r, *secrets):
    assert "client_secret" not in r.text and "verifier" not in r.text, r.text
    for s in secrets:
        assert s not in r.text


def active(oauth, token):
    return oauth.validate(token).status_code == 200


# --- create and read --------------------------------------------------------------------


def test_create_generates_base64url_credentials(api):
    srv, admin, oauth = api
    r = admin.call("POST", "/admin/clients", {"name": "gen", "scopes": ["read"]})
    assert r.status_code == 201, r.text
    assert r.headers["Cache-Control"] == "no-store" and r.headers["Pragma"] == "no-cache"
    c = r.json()
    assert set(c) == FIELDS | {"client_secret"}
    assert len(c["client_id"]) >= 22 and set(c["client_id"]) <= BASE64URL
    assert len(c["client_secret"]) >= 43 and set(c["client_secret"]) <= BASE64URL
    assert r.headers["Location"] == f"/admin/clients/{c['client_id']}"
    # Generated credentials work sent raw, form-encoded, and with every byte escaped.
    for enc in (False, True, "all"):
        t = oauth.token(headers={"Authorization": basic(c["client_id"], c["client_secret"],
                                                         enc)},
                        grant_type="client_credentials")
        assert t.status_code == 200, (enc, t.text)
    two = admin.create()
    assert two["client_id"] != c["client_id"] and two["client_secret"] != c["client_secret"]


def test_create_defaults(api):
    srv, admin, _ = api
    c = admin.create(client_id="plain")
    assert c["name"] == "" and c["scopes"] == [] and c["default_scopes"] == []
    assert c["audiences"] == [] and c["grant_types"] == ["client_credentials"]
    assert c["token_format"] == "opaque" and c["jwt_alg"] == "ES256"
    assert c["access_token_ttl"] == 3600 and c["max_access_token_ttl"] == 3600
    assert isinstance(c["refresh_token_ttl"], int) and c["refresh_token_ttl"] > 0
    assert c["can_introspect"] is False and c["max_live_tokens"] is None
    assert c["created_at"] == c["updated_at"] and abs(c["created_at"] - _now()) < 60


def _now():
    import time

    return int(time.time())


def test_create_every_field_then_get(api):
    srv, admin, _ = api
    body = {"client_id": "full", "client_secret": "chosen-secret", "name": "Full client",
            "scopes": ["read", "write", "read", "admin"], "default_scopes": ["read"],
            "audiences": ["https://api.example", "urn:x"],
            "grant_types": ["refresh_token", "client_credentials"], "token_format": "jwt",
            "jwt_alg": "EdDSA", "access_token_ttl": 60, "max_access_token_ttl": 600,
            "refresh_token_ttl": 7200, "can_introspect": True, "max_live_tokens": 50}
    c = admin.create(**body)
    assert c["client_secret"] == "chosen-secret"
    want = dict(body, scopes=["read", "write", "admin"],
                grant_types=["client_credentials", "refresh_token"])
    del want["client_secret"]
    got = admin.get("full")
    assert got.status_code == 200 and got.headers["Cache-Control"] == "no-store"
    assert_no_secret(got, "chosen-secret")
    g = got.json()
    assert set(g) == FIELDS
    assert {k: g[k] for k in want} == want
    # A GET answer can be PUT back unchanged.
    r = admin.put("full", g)
    assert r.status_code == 200, r.text
    assert {k: r.json()[k] for k in want} == want


def test_secret_never_shown_again(api):
    srv, admin, _ = api
    c = admin.create(client_id="once")
    chosen = admin.create(client_id="chosen", client_secret="my very own secret")
    for r in (admin.get("once"), admin.get("chosen"), admin.call("GET", "/admin/clients"),
              admin.put("once", {"name": "renamed"})):
        assert r.status_code == 200, r.text
        assert_no_secret(r, c["client_secret"], chosen["client_secret"])


def test_admin_token_required(api):
    srv, admin, _ = api
    admin.create(client_id="guarded")
    calls = [("GET", "/admin/clients", None), ("POST", "/admin/clients", {}),
             ("GET", "/admin/clients/guarded", None), ("PUT", "/admin/clients/guarded", {}),
             ("DELETE", "/admin/clients/guarded", None),
             ("POST", "/admin/clients/guarded/secret", None),
             ("GET", "/admin/clients/nope", None)]
    for method, path, body in calls:
        for token in (False, "wrong-token-of-the-right-length-xxxxxxxxx", admin.token + "x"):
            r = admin.call(method, path, body, token=token)
            assert_admin_error(r, 401, "invalid_token")
            assert r.headers["WWW-Authenticate"].startswith("Bearer"), r.headers
        r = admin.call(method, path, body, headers={"Authorization": f"Basic {admin.token}"})
        assert r.status_code == 401
    assert admin.get("guarded").status_code == 200  # nothing happened


def test_admin_scheme_is_bearer_only(api):
    """The admin token is a bearer token (RFC 6750): `DPoP <admin token>` (or any other
    scheme) is refused on every admin call; the scheme name is case-insensitive."""
    srv, admin, _ = api
    admin.create(client_id="guarded")
    calls = [("GET", "/admin/clients", None), ("POST", "/admin/clients", {"client_id": "new"}),
             ("GET", "/admin/clients/guarded", None),
             ("PUT", "/admin/clients/guarded", {"scopes": ["x"]}),
             ("DELETE", "/admin/clients/guarded", None),
             ("POST", "/admin/clients/guarded/secret", None),
             ("GET", "/admin/sessions", None), ("POST", "/admin/keys/rotate", None)]
    for method, path, body in calls:
        for scheme in ("DPoP", "dpop", "Token", "BearerX"):
            r = admin.call(method, path, body,
                           headers={"Authorization": f"{scheme} {admin.token}"})
            assert_admin_error(r, 401, "invalid_token")
            assert r.headers["WWW-Authenticate"].startswith("Bearer"), r.headers
    assert admin.get("guarded").status_code == 200  # nothing happened
    assert admin.get("new").status_code == 404
    for scheme in ("bearer", "BEARER", "Bearer  "):
        r = admin.call("GET", "/admin/clients/guarded",
                       headers={"Authorization": f"{scheme} {admin.token}"})
        assert r.status_code == 200, (scheme, r.text)


def test_duplicate_id_conflict(api):
    srv, admin, _ = api
    admin.create(client_id="dup")
    r = admin.call("POST", "/admin/clients", {"client_id": "dup", "name": "other"})
    assert_admin_error(r, 409, "conflict", "client_id")
    assert admin.get("dup").json()["name"] == ""
    assert admin.call("POST", "/admin/clients", {"client_id": "demo"}).status_code == 409


@pytest.mark.parametrize("body,words", [
    ({"scope": ["read"]}, ['unknown field "scope"']),
    ({"scopes": "read"}, ["scopes must be an array"]),
    ({"scopes": ["a b"]}, ["scopes[0]"]),
    ({"scopes": ["a"], "default_scopes": ["b"]}, ["default_scopes", "subset"]),
    ({"grant_types": ["password"]}, ["grant_types[0]"]),
    ({"token_format": "paseto"}, ["token_format"]),
    ({"jwt_alg": "none"}, ["jwt_alg"]),
    ({"access_token_ttl": 0}, ["access_token_ttl"]),
    ({"access_token_ttl": 100, "max_access_token_ttl": 10}, ["max_access_token_ttl"]),
    ({"can_introspect": "yes"}, ["can_introspect"]),
    ({"client_id": "caf\u00e9"}, ["client_id"]),
    ({"client_id": "x" * 128}, ["client_id"]),
    ({"name": "n" * 128}, ["name"]),
    ({"client_secret": ""}, ["client_secret"]),
    ({"audiences": ["a b"]}, ["audiences[0]"]),
    ({"scopes": ["s" * 200, "t" * 100]}, ["scopes", "280"]),
])
def test_validation_names_the_field(api, body, words):
    srv, admin, _ = api
    r = admin.call("POST", "/admin/clients", body)
    assert_admin_error(r, 400, "invalid_request", *words)


def test_bad_bodies(api):
    srv, admin, _ = api
    for raw in (b"", b"not json", b"[]", b'{"name":"a","name":"b"}'):
        r = admin.call("POST", "/admin/clients", data=raw,
                       headers={"Content-Type": "application/json"})
        assert_admin_error(r, 400, "invalid_request")
    r = admin.call("POST", "/admin/clients", data=b"name=x",
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_admin_error(r, 415, "invalid_request", "application/json")


# --- replace ------------------------------------------------------------------------------


def test_put_creates_then_replaces(api):
    srv, admin, oauth = api
    r = admin.put("p1", {"scopes": ["read", "write"], "grant_types": ["client_credentials"]})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["client_id"] == "p1" and set(created["client_secret"]) <= BASE64URL
    assert r.headers["Location"] == "/admin/clients/p1"
    token = oauth.access(created, scope="write")["access_token"]
    r = admin.put("p1", {"name": "replaced", "scopes": ["read"], "access_token_ttl": 120})
    assert r.status_code == 200 and "client_secret" not in r.json(), r.text
    got = admin.get("p1").json()
    assert got["name"] == "replaced" and got["scopes"] == ["read"]
    assert got["access_token_ttl"] == 120 and got["created_at"] == created["created_at"]
    # The secret is kept, and so is the generation: the earlier token still validates.
    assert active(oauth, token)
    t = oauth.access(created)
    assert t["expires_in"] == 120 and t["scope"] == "read"
    # Replacing is idempotent.
    assert admin.put("p1", {"name": "replaced", "scopes": ["read"],
                            "access_token_ttl": 120}).status_code == 200
    assert admin.get("p1").json()["name"] == "replaced"


def test_put_with_a_secret_replaces_it(api):
    srv, admin, oauth = api
    c = admin.create(client_id="p2")
    r = admin.put("p2", {"client_secret": "a new secret: chosen"})
    assert r.status_code == 200 and "client_secret" not in r.json()
    assert oauth.token(c, grant_type="client_credentials").status_code == 401
    assert oauth.token(("p2", "a new secret: chosen"),
                       grant_type="client_credentials").status_code == 200


def test_put_id_must_match_the_path(api):
    srv, admin, _ = api
    r = admin.put("p3", {"client_id": "other"})
    assert_admin_error(r, 400, "invalid_request", "client_id")
    assert admin.get("p3").status_code == 404 and admin.get("other").status_code == 404
    assert admin.put("p3", {"client_id": "p3"}).status_code == 201


# --- list ---------------------------------------------------------------------------------


def test_list_pages_every_client_once(api):
    srv, admin, _ = api
    # --dev makes demo clients of its own; count them in.
    made = {c["client_id"] for c in admin.call("GET", "/admin/clients").json()["clients"]}
    assert "demo" in made and len(made) < 9
    new = {f"list-{i}" for i in range(9 - len(made))}
    for i in new:
        admin.create(client_id=i)
    ids = made | new  # nine: three pages of three
    seen, after, pages = [], None, 0
    while True:
        q = "?limit=3" + (f"&after={after}" if after else "")
        r = admin.call("GET", "/admin/clients" + q)
        assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store", r.text
        body = r.json()
        assert set(body) == {"clients", "next"} and len(body["clients"]) <= 3
        assert all(set(c) == FIELDS for c in body["clients"])
        seen += [c["client_id"] for c in body["clients"]]
        pages += 1
        after = body["next"]
        if after is None:
            break
        assert set(after) <= BASE64URL
    assert sorted(seen) == sorted(ids) and pages == 3
    # The default page holds them all.
    r = admin.call("GET", "/admin/clients").json()
    assert len(r["clients"]) == len(ids) and r["next"] is None


def test_list_refuses_bad_arguments(api):
    srv, admin, _ = api
    for q in ("limit=0", "limit=1001", "limit=x", "limit=-1", "after=zzz", "lmit=3",
              "limit=2&limit=3"):
        assert_admin_error(admin.call("GET", f"/admin/clients?{q}"), 400, "invalid_request")
    assert admin.call("GET", "/admin/clients?limit=1000").status_code == 200


# --- ids in paths --------------------------------------------------------------------------


def test_ids_with_reserved_characters(api):
    srv, admin, oauth = api
    odd = "a/b:c%d+e f?g#h"
    c = admin.create(client_id=odd)
    assert c["client_id"] == odd
    assert admin.call("POST", "/admin/clients", {"client_id": odd}).status_code == 409
    g = admin.get(odd)
    assert g.status_code == 200 and g.json()["client_id"] == odd
    assert oauth.access(c)["token_type"] == "Bearer"
    # An unescaped '/' starts another path segment: not the client.
    assert admin.call("GET", "/admin/clients/a/b").status_code == 404
    # requests would re-quote a bad escape: send these raw.
    for bad in ("/admin/clients/a%zz", "/admin/clients/a%0Ab", "/admin/clients/a%2"):
        with srv.connect() as conn:
            conn.request("GET", bad, headers=[("Authorization", f"Bearer {admin.token}")])
            r = conn.read_response()
            assert r.status == 400 and r.json()["error"] == "invalid_request", (bad, r)
    assert admin.rotate(odd).status_code == 200
    assert admin.delete(odd).status_code == 200
    assert admin.get(odd).status_code == 404


def test_unknown_clients_and_methods(api):
    srv, admin, _ = api
    assert_admin_error(admin.get("ghost"), 404, "not_found")
    assert_admin_error(admin.delete("ghost"), 404, "not_found")
    assert_admin_error(admin.rotate("ghost"), 404, "not_found")
    r = admin.call("PATCH", "/admin/clients/ghost", {})
    assert r.status_code == 405
    r = admin.call("POST", "/admin/clients/demo", {})
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD, PUT, DELETE"
    r = admin.call("GET", "/admin/clients/demo/secret")
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    assert admin.call("GET", "/admin/clients/demo/other").status_code == 404


# --- what happens to tokens ----------------------------------------------------------------


def _connections_see(srv, token, status, n=8):
    """Validates on n separate connections (the kernel spreads them over the workers)."""
    for _ in range(n):
        with srv.connect() as conn:
            conn.request("GET", "/oauth2/validate",
                         headers=[("Authorization", f"Bearer {token}")])
            r = conn.read_response()
            assert r.status == status, r


def test_delete_ends_every_token_at_once(api):
    srv, admin, oauth = api
    c = admin.create(client_id="doomed", scopes=["read"],
                     grant_types=["client_credentials", "refresh_token"])
    t = oauth.access(c)
    _connections_see(srv, t["access_token"], 200)
    r = admin.delete("doomed")
    assert r.status_code == 200 and r.json()["client_id"] == "doomed"
    assert_no_secret(r, c["client_secret"])
    _connections_see(srv, t["access_token"], 401)
    assert oauth.token(c, grant_type="refresh_token",
                       refresh_token=t["refresh_token"]).status_code == 401
    assert admin.get("doomed").status_code == 404
    assert admin.delete("doomed").status_code == 404
    # The same id can be created again; the old tokens stay dead.
    again = admin.create(client_id="doomed")
    _connections_see(srv, t["access_token"], 401, n=2)
    assert oauth.token(again, grant_type="client_credentials").status_code == 200


def test_rotate_keeps_tokens(api):
    srv, admin, oauth = api
    c = admin.create(client_id="rot")
    token = oauth.access(c)["access_token"]
    r = admin.rotate("rot")
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store" and r.headers["Pragma"] == "no-cache"
    new = r.json()
    assert set(new) == {"client_id", "client_secret"} and new["client_id"] == "rot"
    assert set(new["client_secret"]) <= BASE64URL and new["client_secret"] != c["client_secret"]
    assert oauth.token(c, grant_type="client_credentials").status_code == 401
    assert oauth.token(new, grant_type="client_credentials").status_code == 200
    _connections_see(srv, token, 200, n=4)
    assert admin.rotate("rot", revoke=False).status_code == 200
    _connections_see(srv, token, 200, n=2)
    assert_no_secret(admin.get("rot"), new["client_secret"])


def test_rotate_with_revoke_tokens_ends_them(api):
    srv, admin, oauth = api
    c = admin.create(client_id="rot2", grant_types=["client_credentials", "refresh_token"])
    t = oauth.access(c)
    r = admin.rotate("rot2", revoke=True)
    assert r.status_code == 200
    _connections_see(srv, t["access_token"], 401)
    new = r.json()
    assert oauth.token(new, grant_type="refresh_token",
                       refresh_token=t["refresh_token"]).json()["error"] == "invalid_grant"
    fresh = oauth.access(new)["access_token"]
    _connections_see(srv, fresh, 200, n=2)
    assert_admin_error(admin.call("POST", "/admin/clients/rot2/secret?revoke_tokens=yes"),
                       400, "invalid_request", "revoke_tokens")
    assert_admin_error(admin.call("POST", "/admin/clients/rot2/secret?other=1"),
                       400, "invalid_request")
    assert_admin_error(admin.call("POST", "/admin/clients/rot2/secret?revoke_tokens=true%00"),
                       400, "invalid_request", "NUL")
    _connections_see(srv, fresh, 200, n=2)


def test_head_of_a_client(api):
    srv, admin, _ = api
    r = admin.call("HEAD", f"/admin/clients/{path_id('demo')}")
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["Content-Length"]) == len(admin.get("demo").content)
