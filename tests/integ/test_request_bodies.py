"""What the decoding layer accepts (API.md §1, §3, §4, §6, §8): no decoded parameter holds
a NUL byte, however it is spelled (%00 in a form or a query, \\u0000 in JSON, %00 in Basic
credentials), and a body is read only when its Content-Type says form or JSON.  Each case
goes to the real server over TLS, byte for byte."""
import base64
import json

from admin_api import basic, path_id
from test_oauth import assert_oauth_error, make_client

FORM = ("Content-Type", "application/x-www-form-urlencoded")
JSON = ("Content-Type", "application/json")


def send(srv, method, path, body=b"", headers=()):
    """One request with exactly these bytes as its body and these headers."""
    with srv.connect() as conn:
        conn.request(method, path, headers=list(headers), body=body)
        return conn.read_response()


def assert_refused(r, status=400, error="invalid_request", *words):
    assert r.status == status, r
    assert r.header("Content-Type") == "application/json", r
    body = json.loads(r.body)
    assert body["error"] == error, body
    for w in words:
        assert w in body["error_description"], body
    return body


def token_and_auth(admin, oauth):
    """An access token of a client that may introspect, and that client's Basic header."""
    c = make_client(admin, can_introspect=True)
    return oauth.access(c)["access_token"], ("Authorization", basic("cc", c["client_secret"]))


# --- NUL ----------------------------------------------------------------------------------


def test_nul_in_a_form_parameter_is_refused(api):
    """grant_type=client_credentials%00garbage used to pass for client_credentials (the
    value was compared as a C string) and got a token."""
    srv, admin, oauth = api
    c = make_client(admin)
    auth = ("Authorization", basic("cc", c["client_secret"]))
    for body in (b"grant_type=client_credentials%00garbage",
                 b"grant_type=client_credentials&scope=read%00",
                 b"grant_type=client_credentials&audience=https://api.example%00x",
                 b"grant_type=client_credentials\x00garbage",
                 b"grant%00_type=client_credentials"):
        assert_refused(send(srv, "POST", "/oauth2/token", body, [FORM, auth]), 400,
                       "invalid_request", "NUL")
    # client_secret_post with a NUL after the right secret
    body = f"grant_type=client_credentials&client_id=cc&client_secret={c['client_secret']}%00x"
    assert_refused(send(srv, "POST", "/oauth2/token", body.encode(), [FORM]), 400,
                   "invalid_request", "NUL")
    # the same requests without the NUL are fine
    r = send(srv, "POST", "/oauth2/token", b"grant_type=client_credentials", [FORM, auth])
    assert r.status == 200, r


def test_nul_in_basic_credentials_is_refused(api):
    srv, admin, oauth = api
    c = make_client(admin)
    for raw in (f"cc:{c['client_secret']}%00".encode(), f"cc%00x:{c['client_secret']}".encode(),
                b"cc:" + c["client_secret"].encode() + b"\x00"):
        auth = ("Authorization", "Basic " + base64.b64encode(raw).decode())
        assert_refused(send(srv, "POST", "/oauth2/token", b"grant_type=client_credentials",
                            [FORM, auth]), 400, "invalid_request", "NUL")


def test_nul_in_a_json_string_is_refused(api):
    srv, admin, oauth = api
    c = make_client(admin)
    auth = ("Authorization", basic("cc", c["client_secret"]))
    for body in (b'{"grant_type":"client_credentials\\u0000garbage"}',
                 b'{"grant_type":"client_credentials","scope":["read\\u0000"]}',
                 b'{"grant_type\\u0000":"client_credentials"}'):
        assert_refused(send(srv, "POST", "/oauth2/token", body, [JSON, auth]), 400,
                       "invalid_request", "NUL")


def test_nul_in_introspection_and_revocation(api):
    srv, admin, oauth = api
    t, auth = token_and_auth(admin, oauth)
    for path in ("/oauth2/introspect", "/oauth2/revoke"):
        r = send(srv, "POST", path, f"token={t}%00".encode(), [FORM, auth])
        assert_refused(r, 400, "invalid_request", "NUL")
    assert oauth.validate(t).status_code == 200, "nothing was revoked"
    r = send(srv, "GET", f"/oauth2/validate?scope=read%00",
             headers=[("Authorization", f"Bearer {t}")])
    assert r.status == 400, r


def test_nul_in_the_admin_api(api):
    srv, admin, oauth = api
    c = make_client(admin)
    bearer = ("Authorization", f"Bearer {admin.token}")
    r = send(srv, "POST", "/admin/clients", b'{"client_id":"x\\u0000y","scopes":["read"]}',
             [JSON, bearer])
    assert_refused(r, 400, "invalid_request", "NUL")
    r = send(srv, "POST", f"/admin/clients/{path_id('cc')}/secret?revoke_tokens=true%00",
             headers=[bearer])
    assert_refused(r, 400, "invalid_request")
    r = send(srv, "GET", "/admin/clients?limit=1%00", headers=[bearer])
    assert_refused(r, 400, "invalid_request")
    r = send(srv, "POST", "/admin/keys/rotate?alg=ES256%00", headers=[bearer])
    assert_refused(r, 400, "invalid_request")
    # the client's secret was not rotated by the refused call
    assert oauth.access(c)["access_token"]


# --- media types --------------------------------------------------------------------------


def test_token_body_must_be_form_or_json(api):
    """A browser posts text/plain (or an untyped body) cross-site without a CORS preflight;
    such a body used to be parsed as a form and got a token."""
    srv, admin, oauth = api
    c = make_client(admin)
    form = f"grant_type=client_credentials&client_id=cc&client_secret={c['client_secret']}"
    for ctype in ("text/plain", "text/plain; charset=utf-8", None, "application/jsonx",
                  "application/x-www-form-urlencodedx", "multipart/form-data; boundary=x",
                  "application/json, application/x-www-form-urlencoded"):
        headers = [("Content-Type", ctype)] if ctype else []
        r = send(srv, "POST", "/oauth2/token", form.encode(), headers)
        body = assert_refused(r, 400, "invalid_request")
        assert "application/x-www-form-urlencoded" in body["error_description"], body
    for ctype in ("application/x-www-form-urlencoded", "APPLICATION/X-WWW-FORM-URLENCODED",
                  "application/x-www-form-urlencoded; charset=UTF-8",
                  "application/x-www-form-urlencoded ; charset=utf-8"):
        r = send(srv, "POST", "/oauth2/token", form.encode(), [("Content-Type", ctype)])
        assert r.status == 200, (ctype, r)
    js = json.dumps({"grant_type": "client_credentials", "client_id": "cc",
                     "client_secret": c["client_secret"]}).encode()
    for ctype in ("application/json", "Application/JSON;charset=utf-8",
                  "application/json ; charset=utf-8"):
        r = send(srv, "POST", "/oauth2/token", js, [("Content-Type", ctype)])
        assert r.status == 200, (ctype, r)
    r = send(srv, "POST", "/oauth2/token", js, [("Content-Type", "text/plain")])
    assert_refused(r, 400, "invalid_request")
    # two Content-Types, which readers would disagree on
    r = send(srv, "POST", "/oauth2/token", form.encode(),
             [("Content-Type", "application/x-www-form-urlencoded"),
              ("Content-Type", "text/plain")])
    assert_refused(r, 400, "invalid_request")


def test_no_body_needs_no_content_type(api):
    """An empty body without Content-Type carries no parameters: the endpoints answer as
    for any request missing them."""
    srv, admin, oauth = api
    c = make_client(admin)
    r = send(srv, "POST", "/oauth2/token", b"",
             [("Authorization", basic("cc", c["client_secret"]))])
    body = assert_refused(r, 400, "invalid_request")
    assert "grant_type" in body["error_description"], body


def test_introspection_and_revocation_bodies(api):
    srv, admin, oauth = api
    t, auth = token_and_auth(admin, oauth)
    for path in ("/oauth2/introspect", "/oauth2/revoke"):
        for headers in ([("Content-Type", "text/plain")], []):
            r = send(srv, "POST", path, f"token={t}".encode(), [auth, *headers])
            assert_refused(r, 400, "invalid_request")
    assert oauth.validate(t).status_code == 200, "the refused revocation revoked"
    r = send(srv, "POST", "/oauth2/introspect", json.dumps({"token": t}).encode(),
             [auth, ("Content-Type", "application/json")])
    assert r.status == 200 and json.loads(r.body)["active"] is True, r
    r = send(srv, "POST", "/oauth2/revoke", f"token={t}".encode(),
             [auth, ("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")])
    assert r.status == 200, r
    assert oauth.validate(t).status_code == 401


def test_admin_bodies_are_declared_json(api):
    srv, admin, oauth = api
    bearer = ("Authorization", f"Bearer {admin.token}")
    client = json.dumps({"client_id": "typed", "scopes": ["read"]}).encode()
    for headers in ([], [("Content-Type", "text/plain")], [("Content-Type", "application/jsonx")]):
        for method, path in (("POST", "/admin/clients"), ("PUT", "/admin/clients/typed")):
            r = send(srv, method, path, client, [bearer, *headers])
            assert_refused(r, 415, "invalid_request", "application/json")
    assert admin.get("typed").status_code == 404
    r = send(srv, "POST", "/admin/clients", client,
             [bearer, ("Content-Type", "Application/JSON; charset=utf-8")])
    assert r.status == 201, r
    r = send(srv, "PUT", "/admin/clients/typed", client,
             [bearer, ("Content-Type", "application/json ;charset=utf-8")])
    assert r.status == 200, r
    # a call that needs no body works without one, and without a Content-Type
    r = send(srv, "POST", "/admin/clients/typed/secret?revoke_tokens=false", b"", [bearer])
    assert r.status == 200 and json.loads(r.body)["client_secret"], r


def test_key_rotation_query_or_typed_body(api):
    srv, admin, oauth = api
    bearer = ("Authorization", f"Bearer {admin.token}")

    def algs(r):
        assert r.status == 200, r
        return {k["alg"] for k in json.loads(r.body)["keys"] if k["active"]}

    assert algs(send(srv, "POST", "/admin/keys/rotate?alg=ES256", b"", [bearer])) >= {"ES256"}
    r = send(srv, "POST", "/admin/keys/rotate", b"alg=ES256",
             [bearer, ("Content-Type", "application/x-www-form-urlencoded")])
    assert algs(r) >= {"ES256"}
    for headers in ([("Content-Type", "text/plain")], []):
        r = send(srv, "POST", "/admin/keys/rotate", b"alg=ES256", [bearer, *headers])
        assert_refused(r, 400, "invalid_request")
