"""The OAuth endpoints against clients made with the admin API (API.md §1, §3, §4): every
error code and status of the token endpoint, refresh rotation, revocation (also as seen
by every worker), introspection, validation, client authentication with odd
credentials, JSON bodies and the seed systems' token paths."""
import base64
import json
import time

import pytest

from admin_api import BASE64URL, Admin, OAuth, basic
from conftest import wait_for

TOKEN_PATHS = ["/oauth2/token", "/token", "/access_token", "/auth/token", "/.oidc/token"]


def make_client(admin, client_id="cc", **fields):
    """A client allowed read/write/admin (default read), one audience, both grants."""
    base = dict(client_id=client_id, scopes=["read", "write", "admin"],
                default_scopes=["read"], audiences=["https://api.example"],
                grant_types=["client_credentials", "refresh_token"], access_token_ttl=300,
                max_access_token_ttl=600)
    base.update(fields)
    return admin.create(**base)


def assert_oauth_error(r, status, error):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["Cache-Control"] == "no-store" and r.headers["Pragma"] == "no-cache"
    body = r.json()
    assert body["error"] == error, body
    assert isinstance(body["error_description"], str) and body["error_description"]
    return body


def raw_token_request(srv, body, headers=()):
    """A token request with a body sent byte for byte (requests would tidy it)."""
    with srv.connect() as conn:
        conn.request("POST", "/oauth2/token", body=body,
                     headers=[("Content-Type", "application/x-www-form-urlencoded"),
                              *headers])
        return conn.read_response()


# --- success ------------------------------------------------------------------------------


def test_token_response_shape_and_cache_headers(api):
    srv, admin, oauth = api
    c = make_client(admin)
    r = oauth.token(c, grant_type="client_credentials")
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store" and r.headers["Pragma"] == "no-cache"
    t = r.json()
    assert set(t) == {"access_token", "token_type", "expires_in", "scope", "refresh_token"}
    assert t["token_type"] == "Bearer" and t["expires_in"] == 300 and t["scope"] == "read"
    for tok in (t["access_token"], t["refresh_token"]):
        assert len(tok) >= 43 and set(tok) <= BASE64URL
    plain = make_client(admin, "plain", grant_types=["client_credentials"])
    assert "refresh_token" not in oauth.access(plain)


@pytest.mark.parametrize("path", TOKEN_PATHS)
def test_every_token_path(api, path):
    srv, admin, oauth = api
    c = make_client(admin)
    for auth in ("basic", "post"):
        r = oauth.token(c, path=path, auth=auth, grant_type="client_credentials", scope="write")
        assert r.status_code == 200, (path, auth, r.text)
        assert r.json()["scope"] == "write"
        assert oauth.validate(r.json()["access_token"]).status_code == 200


def test_json_bodies_aidbox_style(api):
    srv, admin, oauth = api
    c = make_client(admin)
    body = {"grant_type": "client_credentials", "client_id": "cc",
            "client_secret": c["client_secret"], "scope": ["read", "write"]}
    r = oauth.session.post(srv.url + "/auth/token", json=body, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == "read write" and isinstance(r.json()["expires_in"], int)
    assert r.headers["Cache-Control"] == "no-store"
    # Basic with a JSON body, scope as a string, and a charset parameter.
    r = oauth.session.post(srv.url + "/auth/token",
                           data=json.dumps({"grant_type": "client_credentials",
                                            "scope": "admin"}),
                           headers={"Content-Type": "application/json; charset=utf-8",
                                    "Authorization": basic("cc", c["client_secret"])},
                           timeout=10)
    assert r.status_code == 200 and r.json()["scope"] == "admin", r.text
    # A refresh grant in JSON.
    t = r.json()
    r = oauth.token(c, path="/auth/token", json={"grant_type": "refresh_token",
                                                 "refresh_token": t["refresh_token"]})
    assert r.status_code == 200, r.text
    for bad in ('{"grant_type":"client_credentials"', '["grant_type"]',
                '{"grant_type":"client_credentials","grant_type":"client_credentials"}',
                '{"grant_type":{"x":1}}', '{"grant_type":["client_credentials"]}',
                '{"grant_type":"client_credentials","client_id":["cc"]}'):
        r = oauth.session.post(srv.url + "/auth/token", data=bad,
                               headers={"Content-Type": "application/json",
                                        "Authorization": basic("cc", c["client_secret"])},
                               timeout=10)
        assert_oauth_error(r, 400, "invalid_request")


# --- request errors -----------------------------------------------------------------------


def test_missing_grant_type(api):
    srv, admin, oauth = api
    c = make_client(admin)
    assert_oauth_error(oauth.token(c, scope="read"), 400, "invalid_request")
    assert_oauth_error(oauth.token(None, scope="read"), 400, "invalid_request")


def test_two_authentication_methods(api):
    srv, admin, oauth = api
    c = make_client(admin)
    r = oauth.token(c, grant_type="client_credentials", client_secret=c["client_secret"])
    assert_oauth_error(r, 400, "invalid_request")
    r = oauth.token(c, grant_type="client_credentials", client_id="someone-else")
    assert_oauth_error(r, 400, "invalid_request")
    # The same client_id in the body as in Basic is not a second method.
    assert oauth.token(c, grant_type="client_credentials", client_id="cc").status_code == 200


def test_duplicate_parameters(api):
    srv, admin, oauth = api
    c = make_client(admin)
    auth = [("Authorization", basic("cc", c["client_secret"]))]
    for body in (b"grant_type=client_credentials&grant_type=client_credentials",
                 b"grant_type=client_credentials&scope=read&scope=write",
                 b"grant_type=client_credentials&audience=a&audience=a"):
        r = raw_token_request(srv, body, auth)
        assert r.status == 400 and r.json()["error"] == "invalid_request", (body, r)
    r = raw_token_request(srv, b"grant_type=client_credentials&resource=https%3A%2F%2Fapi.example"
                               b"&resource=https%3A%2F%2Fapi.example", auth)
    assert r.status == 200, r


def test_invalid_client(api):
    srv, admin, oauth = api
    c = make_client(admin)
    cases = [oauth.token(("cc", "wrong"), grant_type="client_credentials"),
             oauth.token(("nobody", c["client_secret"]), grant_type="client_credentials"),
             oauth.token(None, grant_type="client_credentials",
                         headers={"Authorization": "Basic !!!notbase64"}),
             oauth.token(None, grant_type="client_credentials",
                         headers={"Authorization": "Basic "
                                  + base64.b64encode(b"no-colon").decode()})]
    for r in cases:
        assert_oauth_error(r, 401, "invalid_client")
        assert r.headers["WWW-Authenticate"] == 'Basic realm="tessera"'
    for r in (oauth.token(("cc", "wrong"), auth="post", grant_type="client_credentials"),
              oauth.token(None, grant_type="client_credentials"),
              oauth.token(None, grant_type="client_credentials", client_id="cc")):
        assert_oauth_error(r, 401, "invalid_client")


def test_unsupported_grant_type(api):
    srv, admin, oauth = api
    c = make_client(admin)
    for gt in ("password", "authorization_code", "urn:ietf:params:oauth:grant-type:jwt-bearer",
               "", "CLIENT_CREDENTIALS"):
        assert_oauth_error(oauth.token(c, grant_type=gt), 400, "unsupported_grant_type")


def test_unauthorized_client(api):
    srv, admin, oauth = api
    cc_only = make_client(admin, "cc-only", grant_types=["client_credentials"])
    rt_only = make_client(admin, "rt-only", grant_types=["refresh_token"])
    r = oauth.token(cc_only, grant_type="refresh_token", refresh_token="x")
    assert_oauth_error(r, 400, "unauthorized_client")
    r = oauth.token(rt_only, grant_type="client_credentials")
    assert_oauth_error(r, 400, "unauthorized_client")


def test_scopes(api):
    srv, admin, oauth = api
    c = make_client(admin)
    for scope in ("delete", "read delete", 'read"', "read\\x", "caf\u00e9"):
        assert_oauth_error(oauth.token(c, grant_type="client_credentials", scope=scope), 400,
                           "invalid_scope")
    # Canonical (RFC 6749 §3.3: order is not significant): sorted, each scope once.
    assert oauth.access(c, scope="write  read read")["scope"] == "read write"
    assert oauth.access(c)["scope"] == "read"  # the defaults
    assert oauth.access(c, scope="")["scope"] == ""


def test_audience_and_resource(api):
    srv, admin, oauth = api
    c = make_client(admin)
    t = oauth.access(c, audience="https://api.example")["access_token"]
    assert oauth.validate(t, "?audience=https%3A%2F%2Fapi.example").status_code == 200
    assert oauth.validate(t, "?audience=https%3A%2F%2Fother").status_code == 403
    assert oauth.introspect(c, t).json()["aud"] == "https://api.example"
    assert oauth.access(c, resource="https://api.example")["access_token"]
    for params in ({"audience": "https://other"}, {"resource": "https://other"},
                   {"audience": "https://api.example", "resource": "https://other"},
                   {"audience": ""}):
        r = oauth.token(c, grant_type="client_credentials", **params)
        assert_oauth_error(r, 400, "invalid_target")


def test_validity_period(api):
    srv, admin, oauth = api
    c = make_client(admin)
    for bad in ("abc", "0", "-5", "", "1e3", "10 ", " 10", "+10", "0x10", "10%00"):
        if "%" in bad:
            r = raw_token_request(srv, b"grant_type=client_credentials&validity_period=10%00",
                                  [("Authorization", basic("cc", c["client_secret"]))])
            assert r.status == 400 and r.json()["error"] == "invalid_request", r
            continue
        r = oauth.token(c, grant_type="client_credentials", validity_period=bad)
        assert_oauth_error(r, 400, "invalid_request")
    assert oauth.access(c, validity_period="10")["expires_in"] == 10
    assert oauth.access(c, validity_period="600")["expires_in"] == 600
    assert oauth.access(c, validity_period="100000")["expires_in"] == 600  # the client's max
    assert oauth.access(c, validity_period="99999999999999999999999")["expires_in"] == 600
    t = oauth.access(c, validity_period="42")
    assert oauth.introspect(c, t["access_token"]).json()["exp"] - \
        oauth.introspect(c, t["access_token"]).json()["iat"] == 42


# --- refresh ------------------------------------------------------------------------------


def test_refresh_rotation(api):
    srv, admin, oauth = api
    c = make_client(admin)
    first = oauth.access(c, scope="read write")
    r = oauth.token(c, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store" and r.headers["Pragma"] == "no-cache"
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == "read write" and second["expires_in"] == 300
    # The used refresh token stops working; the access token it came with stays valid.
    r = oauth.token(c, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert_oauth_error(r, 400, "invalid_grant")
    assert oauth.validate(first["access_token"]).status_code == 200
    assert oauth.validate(second["access_token"]).status_code == 200
    # Narrowing the scope is allowed, widening it is not.
    r = oauth.token(c, grant_type="refresh_token", refresh_token=second["refresh_token"],
                    scope="admin")
    assert_oauth_error(r, 400, "invalid_scope")
    r = oauth.token(c, grant_type="refresh_token", refresh_token=second["refresh_token"],
                    scope="write")
    assert r.status_code == 200 and r.json()["scope"] == "write", r.text


def test_refresh_invalid_grant(api):
    srv, admin, oauth = api
    a = make_client(admin, "a")
    b = make_client(admin, "b")
    ta, tb = oauth.access(a), oauth.access(b)
    for token in ("unknown-refresh-token", tb["refresh_token"], ta["access_token"]):
        r = oauth.token(a, grant_type="refresh_token", refresh_token=token)
        assert_oauth_error(r, 400, "invalid_grant")
    # Trying b's refresh token as a did not use it up.
    r = oauth.token(b, grant_type="refresh_token", refresh_token=tb["refresh_token"])
    assert r.status_code == 200, r.text
    assert_oauth_error(oauth.token(a, grant_type="refresh_token"), 400, "invalid_request")
    # Revoked.
    assert oauth.revoke(a, ta["refresh_token"]).status_code == 200
    r = oauth.token(a, grant_type="refresh_token", refresh_token=ta["refresh_token"])
    assert_oauth_error(r, 400, "invalid_grant")


FILL_TTL = 8  # seconds the tokens that fill the table live


def test_refresh_with_a_full_token_table_keeps_the_grant(server):
    """A refresh that cannot issue because the token table is full is a 503 that does not
    use the refresh token up (it used to be revoked first, and the grant was lost with the
    tokens that could not be issued): once tokens expire and leave room, it works."""
    srv = server(config={"tokens": {"capacity": 1000, "sweep_interval": 1}})
    admin, oauth = Admin(srv), OAuth(srv)
    try:
        c = make_client(admin)
        # The filler may hold the whole table (the default per-client limit, a tenth of it,
        # would evict its own oldest tokens instead of filling it).
        filler = make_client(admin, "filler", grant_types=["client_credentials"],
                             access_token_ttl=FILL_TTL, max_live_tokens=2000)
        first = oauth.access(c)
        # An insert fails only when its key's whole probe range is full: fill until a
        # great many in a row have failed, so the refresh's two inserts fail too.
        started, filled, misses = time.monotonic(), 0, 0
        while misses < 200 and time.monotonic() - started < FILL_TTL:
            r = oauth.token(filler, grant_type="client_credentials")
            if r.status_code == 200:
                filled, misses = filled + 1, 0
            else:
                assert_oauth_error(r, 503, "temporarily_unavailable")
                misses += 1
        assert filled >= 990 and time.monotonic() - started < FILL_TTL, filled
        for _ in range(3):
            r = oauth.token(c, grant_type="refresh_token", refresh_token=first["refresh_token"])
            assert_oauth_error(r, 503, "temporarily_unavailable")
            r = oauth.introspect(c, first["refresh_token"])
            assert r.status_code == 200 and r.json()["active"] is True, r.text

        def refreshed():
            r = oauth.token(c, grant_type="refresh_token", refresh_token=first["refresh_token"])
            return None if r.status_code == 503 else r

        r = wait_for(refreshed, FILL_TTL + 30, "expired tokens to leave room", interval=0.2)
        assert r.status_code == 200, r.text
        assert oauth.validate(r.json()["access_token"]).status_code == 200
        assert oauth.introspect(c, first["refresh_token"]).json() == {"active": False}
    finally:
        admin.close()
        oauth.close()


def test_refresh_after_the_client_lost_a_scope_or_audience(api):
    srv, admin, oauth = api
    c = make_client(admin)
    t = oauth.access(c, scope="read write", audience="https://api.example")
    policy = dict(scopes=["read"], grant_types=["client_credentials", "refresh_token"],
                  audiences=["https://api.example"])
    assert admin.put("cc", policy).status_code == 200
    # The old access token stays valid (the generation is kept) ...
    assert oauth.validate(t["access_token"]).status_code == 200
    # ... but a refresh may not grant what the client lost; the failed try used nothing up.
    r = oauth.token(c, grant_type="refresh_token", refresh_token=t["refresh_token"])
    assert_oauth_error(r, 400, "invalid_scope")
    r = oauth.token(c, grant_type="refresh_token", refresh_token=t["refresh_token"],
                    scope="read")
    assert r.status_code == 200 and r.json()["scope"] == "read", r.text
    assert admin.put("cc", dict(policy, audiences=[])).status_code == 200
    r = oauth.token(c, grant_type="refresh_token", refresh_token=r.json()["refresh_token"])
    assert_oauth_error(r, 400, "invalid_target")


def test_refresh_of_a_jwt_client_without_audiences(api):
    """Its JWTs carry the issuer as aud (RFC 9068 §3): a refresh keeps that default."""
    srv, admin, oauth = api
    c = make_client(admin, "jwt-noaud", audiences=[], token_format="jwt")
    t = oauth.access(c)
    r = oauth.token(c, grant_type="refresh_token", refresh_token=t["refresh_token"])
    assert r.status_code == 200, r.text
    assert oauth.validate(r.json()["access_token"]).status_code == 200


# --- revocation -------------------------------------------------------------------------


def test_revoking_a_refresh_token_revokes_its_access_tokens(api):
    srv, admin, oauth = api
    c = make_client(admin)
    first = oauth.access(c)
    second = oauth.token(c, grant_type="refresh_token",
                         refresh_token=first["refresh_token"]).json()
    other = oauth.access(c)  # another grant
    r = oauth.revoke(c, second["refresh_token"], token_type_hint="refresh_token")
    assert r.status_code == 200 and r.content == b"", r.text
    for t in (first["access_token"], second["access_token"]):
        assert oauth.validate(t).status_code == 401
    r = oauth.token(c, grant_type="refresh_token", refresh_token=second["refresh_token"])
    assert_oauth_error(r, 400, "invalid_grant")
    assert oauth.validate(other["access_token"]).status_code == 200
    r = oauth.token(c, grant_type="refresh_token", refresh_token=other["refresh_token"])
    assert r.status_code == 200


def test_revocation(api):
    srv, admin, oauth = api
    a = make_client(admin, "a")
    b = make_client(admin, "b")
    ta, tb = oauth.access(a), oauth.access(b)
    r = oauth.revoke(a, ta["access_token"], token_type_hint="access_token")
    assert r.status_code == 200 and r.content == b""
    assert r.headers["Cache-Control"] == "no-store"
    assert oauth.validate(ta["access_token"]).status_code == 401
    assert oauth.validate(ta["refresh_token"]).status_code == 401  # never an access token
    # Unknown and already revoked tokens: 200, empty.
    for token in ("never-issued", ta["access_token"]):
        r = oauth.revoke(a, token)
        assert r.status_code == 200 and r.content == b""
    # Another client's token: 200, and nothing happens to it.
    r = oauth.revoke(a, tb["access_token"])
    assert r.status_code == 200 and r.content == b""
    assert oauth.validate(tb["access_token"]).status_code == 200
    r = oauth.revoke(a, tb["refresh_token"])
    assert r.status_code == 200
    assert oauth.token(b, grant_type="refresh_token",
                       refresh_token=tb["refresh_token"]).status_code == 200
    # The caller must authenticate and name a token.
    r = oauth.session.post(srv.url + "/oauth2/revoke", data={"token": tb["access_token"]},
                           timeout=10)
    assert_oauth_error(r, 401, "invalid_client")
    r = oauth.session.post(srv.url + "/oauth2/revoke", data={},
                           headers={"Authorization": basic("a", a["client_secret"])},
                           timeout=10)
    assert_oauth_error(r, 400, "invalid_request")


def test_revocation_seen_by_every_worker(api):
    srv, admin, oauth = api
    c = make_client(admin)
    token = oauth.access(c)["access_token"]
    auth = [("Authorization", f"Bearer {token}")]
    # Separate connections, opened before the revocation: SO_REUSEPORT spreads them over
    # the two workers; each keeps its connection, so each worker answers some of them.
    conns = [srv.connect() for _ in range(12)]
    try:
        for conn in conns:
            conn.request("GET", "/oauth2/validate", headers=auth)
            assert conn.read_response().status == 200
        assert oauth.revoke(c, token).status_code == 200
        for conn in conns:
            conn.request("GET", "/oauth2/validate", headers=auth)
            r = conn.read_response()
            assert r.status == 401, r
            assert 'error="invalid_token"' in r.header("WWW-Authenticate")
    finally:
        for conn in conns:
            conn.close()
    # The same through Aidbox's DELETE /Session, on fresh connections.
    token = oauth.access(c)["access_token"]
    r = oauth.session.delete(srv.url + "/Session",
                             headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200
    for _ in range(8):
        with srv.connect() as conn:
            conn.request("GET", "/oauth2/validate", headers=[("Authorization",
                                                                f"Bearer {token}")])
            assert conn.read_response().status == 401


# --- introspection and validation -------------------------------------------------------


def test_introspection(api):
    srv, admin, oauth = api
    a = make_client(admin, "a")
    b = make_client(admin, "b")
    boss = make_client(admin, "boss", can_introspect=True)
    ta, tb = oauth.access(a, scope="read write"), oauth.access(b)
    r = oauth.introspect(a, ta["access_token"], token_type_hint="access_token")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    i = r.json()
    assert i["active"] is True and i["client_id"] == "a" and i["sub"] == "a"
    assert i["scope"] == "read write" and i["token_type"] == "Bearer"
    assert i["exp"] - i["iat"] == 300 and i["iss"].startswith("https://")
    assert len(i["jti"]) == 22 and set(i["jti"]) <= BASE64URL
    body = oauth.introspect(a, ta["refresh_token"]).json()
    assert body["token_use"] == "refresh_token" and "token_type" not in body
    # Another client's token: inactive to a, visible to a client with can_introspect.
    assert oauth.introspect(a, tb["access_token"]).json() == {"active": False}
    assert oauth.introspect(boss, tb["access_token"]).json()["client_id"] == "b"
    assert oauth.introspect(a, "never-issued").json() == {"active": False}
    oauth.revoke(a, ta["access_token"])
    assert oauth.introspect(a, ta["access_token"]).json() == {"active": False}
    assert oauth.introspect(boss, ta["access_token"]).json() == {"active": False}
    assert_oauth_error(oauth.introspect(("a", "wrong"), tb["access_token"]), 401,
                       "invalid_client")
    r = oauth.session.post(srv.url + "/oauth2/introspect", data={},
                           headers={"Authorization": basic("a", a["client_secret"])},
                           timeout=10)
    assert_oauth_error(r, 400, "invalid_request")


def test_validate(api):
    srv, admin, oauth = api
    c = make_client(admin)
    t = oauth.access(c, scope="read write")
    r = oauth.validate(t["access_token"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["active"] is True and body["client_id"] == "cc" and body["sub"] == "cc"
    assert body["scope"] == "read write" and isinstance(body["exp"], int)
    assert r.headers["Tessera-Client-Id"] == "cc"
    assert r.headers["Tessera-Scope"] == "read write"
    assert r.headers["Tessera-Subject"] == "cc"
    assert oauth.validate(t["access_token"], "?scope=read").status_code == 200
    assert oauth.validate(t["access_token"], "?scope=write%20read").status_code == 200
    assert oauth.validate(t["access_token"], "?scope=write+read").status_code == 200
    for query in ("?scope=admin", "?scope=read%20admin", "?audience=https%3A%2F%2Fapi.example"):
        r = oauth.validate(t["access_token"], query)
        assert r.status_code == 403, (query, r.text)
        assert r.json()["error"] == "insufficient_scope"
        assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
    for token in ("garbage", t["refresh_token"]):
        r = oauth.validate(token)
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    r = oauth.session.get(srv.url + "/oauth2/validate", timeout=10)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")


# --- client authentication with odd credentials ------------------------------------------


@pytest.mark.parametrize("client_id,secret", [
    ("id:with:colons", "se:cret"),
    ("id%with%percent", "100%sure"),
    ("id+with+plus", "a+b c"),
    ("odd :%+/&=?#", "p\u00e4ss w\u00f6rd: %41+\u00e9\u20ac"),
])
def test_basic_with_odd_credentials(api, client_id, secret):
    srv, admin, oauth = api
    admin.create(client_id=client_id, client_secret=secret)  # chosen: Argon2id
    r = oauth.token((client_id, secret), grant_type="client_credentials")
    assert r.status_code == 200, r.text
    r = oauth.token((client_id, secret), auth="post", grant_type="client_credentials")
    assert r.status_code == 200, r.text
    r = oauth.token(None, grant_type="client_credentials",
                    headers={"Authorization": basic(client_id, secret, "all")})
    assert r.status_code == 200, r.text
    # Sent raw (not form-encoded), these would decode to other credentials.
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    r = oauth.token(None, grant_type="client_credentials",
                    headers={"Authorization": f"Basic {raw}"})
    assert_oauth_error(r, 401, "invalid_client")
