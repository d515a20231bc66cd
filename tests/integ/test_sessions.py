"""GET /admin/sessions (API.md §6): live tokens, listed by the store process from Berkeley DB
through its control socket, never a token or its hash: one client's or all, paged with
limit and after; revoked, expired and dead-generation tokens are not listed; the admin
token; bad parameters.  The store applies the log every store.apply_interval_ms, so a
listing follows issuing and revoking a moment later: every check polls."""
import base64
import hashlib
import json
import time

import pytest

from admin_api import BASE64URL
from conftest import build_request, wait_for

LAG = 10.0  # seconds a change may take to show in a listing (20 ms by default, unloaded)


def session_id(token):
    """A session's public id: the first 16 bytes of the token's SHA-256, base64url."""
    digest = hashlib.sha256(token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def page(admin, **query):
    r = admin.call("GET", "/admin/sessions", params=query)
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["Cache-Control"] == "no-store"
    body = r.json()
    assert set(body) == {"sessions", "next"}, body
    return body


def list_all(admin, limit, **query):
    """Every row over as many pages as it takes; and the number of pages."""
    rows, after, pages = [], None, 0
    while True:
        q = dict(query, limit=limit)
        if after:
            q["after"] = after
        body = page(admin, **q)
        pages += 1
        assert len(body["sessions"]) <= limit
        rows += body["sessions"]
        after = body["next"]
        if after is None:
            return rows, pages
        assert len(after) == 22 and set(after) <= BASE64URL, after
        assert pages < 1000


def ids(rows):
    return {r["id"] for r in rows}


def wait_ids(admin, want, absent=(), client_id=None, limit=1000):
    """Waits until the listing holds every id of want and none of absent; its rows."""
    q = {"client_id": client_id} if client_id else {}

    def check():
        rows, _ = list_all(admin, limit, **q)
        got = ids(rows)
        return rows if set(want) <= got and not got & set(absent) else None

    return wait_for(check, LAG, f"the listing to show {len(want)} and hide {len(absent)} ids",
                    interval=0.05)


def make_client(admin, **fields):
    fields.setdefault("scopes", ["read", "write"])
    fields.setdefault("grant_types", ["client_credentials"])
    return admin.create(**fields)


def assert_error(r, status, error):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert body["error"] == error, body
    assert body["error_description"], body
    return body


# --- listing ---------------------------------------------------------------------------


def test_lists_each_clients_live_tokens(api):
    srv, admin, oauth = api
    a = make_client(admin, name="a", grant_types=["client_credentials", "refresh_token"],
                    access_token_ttl=600)
    b = make_client(admin, name="b")
    a_answers = [oauth.access(a, scope="read") for _ in range(3)]
    b_tokens = [oauth.access(b)["access_token"] for _ in range(2)]
    a_access = {session_id(t["access_token"]): t for t in a_answers}
    a_refresh = {session_id(t["refresh_token"]) for t in a_answers if "refresh_token" in t}
    b_ids = {session_id(t) for t in b_tokens}

    rows = wait_ids(admin, set(a_access) | a_refresh, client_id=a["client_id"])
    assert ids(rows) == set(a_access) | a_refresh  # nothing of b
    now = time.time()
    for r in rows:
        assert set(r) == {"id", "client_id", "kind", "scope", "aud", "iat", "exp"}, r
        assert r["client_id"] == a["client_id"]
        assert isinstance(r["iat"], int) and isinstance(r["exp"], int)
        assert r["iat"] <= now + 5 and r["exp"] > now
        assert isinstance(r["scope"], str) and isinstance(r["aud"], str)
        if r["id"] in a_access:
            assert r["kind"] == "access"
            assert r["scope"] == "read"
            assert r["exp"] - r["iat"] == 600
        else:
            assert r["kind"] == "refresh"
    rows = wait_ids(admin, b_ids, client_id=b["client_id"])
    assert ids(rows) == b_ids
    everything = wait_ids(admin, set(a_access) | a_refresh | b_ids)
    assert {r["client_id"] for r in everything} >= {a["client_id"], b["client_id"]}


def test_pages_with_limit_until_next_is_null(api):
    srv, admin, oauth = api
    c = make_client(admin, name="paged")
    want = {session_id(oauth.access(c)["access_token"]) for _ in range(5)}
    wait_ids(admin, want, client_id=c["client_id"])

    rows, pages = list_all(admin, 2, client_id=c["client_id"])
    assert pages == 3  # 2, 2, 1
    assert len(rows) == 5 and ids(rows) == want
    # Pages go in id order, each after the last: no row twice.
    first = page(admin, client_id=c["client_id"], limit=2)
    second = page(admin, client_id=c["client_id"], limit=2, after=first["next"])
    assert first["next"] == first["sessions"][-1]["id"]
    assert not ids(first["sessions"]) & ids(second["sessions"])
    # A full last page has a next; the page after it is empty and ends the listing.
    rows, pages = list_all(admin, 5, client_id=c["client_id"])
    assert len(rows) == 5 and pages == 2
    # The default limit is 100.
    assert len(page(admin, client_id=c["client_id"])["sessions"]) == 5
    # An unknown client has no sessions.
    assert page(admin, client_id="nobody-has-this-id") == {"sessions": [], "next": None}


def test_never_shows_a_token_or_its_hash(api):
    srv, admin, oauth = api
    c = make_client(admin, name="secretive", token_format="jwt")
    o = make_client(admin, name="opaque")
    tokens = [oauth.access(c)["access_token"], oauth.access(o)["access_token"]]
    wait_ids(admin, {session_id(t) for t in tokens})
    r = admin.call("GET", "/admin/sessions", params={"limit": 1000})
    text = r.text
    for t in tokens:
        digest = hashlib.sha256(t.encode()).digest()
        assert t not in text
        assert digest.hex() not in text
        assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() not in text
        assert base64.b64encode(digest).decode() not in text
    assert "hash" not in text and "token\"" not in text


def test_revoked_expired_and_dead_tokens_are_not_listed(api):
    srv, admin, oauth = api
    c = make_client(admin, name="rev")
    short = make_client(admin, name="short", access_token_ttl=1)
    rotated = make_client(admin, name="rotated")
    gone = make_client(admin, name="gone")
    keep, revoke = oauth.access(c)["access_token"], oauth.access(c)["access_token"]
    brief = oauth.access(short)["access_token"]
    old = oauth.access(rotated)["access_token"]
    deleted = oauth.access(gone)["access_token"]
    wait_ids(admin, {session_id(t) for t in (keep, revoke, old, deleted)})

    assert oauth.revoke(c, revoke).status_code == 200
    r = admin.rotate(rotated["client_id"], revoke=True)
    assert r.status_code == 200, r.text
    assert admin.delete(gone["client_id"]).status_code in (200, 204)
    # The one-second token expires while this polls.
    wait_ids(admin, {session_id(keep)},
             absent={session_id(t) for t in (revoke, brief, old, deleted)})
    assert page(admin, client_id=short["client_id"])["sessions"] == []
    assert page(admin, client_id=gone["client_id"])["sessions"] == []


def test_admin_token_required(api):
    srv, admin, oauth = api
    r = admin.call("GET", "/admin/sessions", token=False)
    assert_error(r, 401, "invalid_token")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert_error(admin.call("GET", "/admin/sessions", token="x" * 32), 401, "invalid_token")
    # The token is checked before the query: a bad query without it is still a 401.
    assert_error(admin.call("GET", "/admin/sessions?limit=0", token=False), 401, "invalid_token")


@pytest.mark.parametrize("query", [
    "limit=0", "limit=1001", "limit=abc", "limit=", "limit=2&limit=3",
    "after=abc", "after=AAAAAAAAAAAAAAAAAAAAAB", "after=AAAAAAAAAAAAAAAAAAAAAA%3D%3D",
    "client_id=", "client_id=a%00b", "client_id=x&client_id=y", "token=x", "a=%zz",
])
def test_bad_parameters(api, query):
    srv, admin, oauth = api
    r = admin.call("GET", f"/admin/sessions?{query}")
    assert_error(r, 400, "invalid_request")
    assert r.headers["Cache-Control"] == "no-store"


def test_pipelined_behind_a_listing(api):
    """A listing is answered by the store process; requests pipelined behind it on the
    same connection are answered after it, in order."""
    srv, admin, oauth = api
    auth = [("Authorization", f"Bearer {admin.token}")]
    with srv.connect() as conn:
        conn.send(build_request("GET", "/admin/sessions?limit=1", auth)
                  + build_request("GET", "/healthz")
                  + build_request("HEAD", "/admin/sessions", auth)
                  + build_request("GET", "/admin/sessions?limit=0", auth))
        first = conn.read_response()
        assert first.status == 200 and set(first.json()) == {"sessions", "next"}
        assert conn.read_response().status == 200
        head = conn.read_response(head=True)
        assert head.status == 200 and head.body == b""
        assert int(head.header("Content-Length")) > 0
        bad = conn.read_response()
        assert bad.status == 400 and json.loads(bad.body)["error"] == "invalid_request"
        conn.request("GET", "/healthz")  # the connection stays usable
        assert conn.read_response().status == 200
