"""Every error case of API.md §1 (token endpoint) and §3 (validation) made with curl, the
way users and the seed documents call tessera: status, JSON error body, and the
WWW-Authenticate, Cache-Control and Pragma headers a client relies on."""
import json
import subprocess

import pytest

from admin_api import Admin
from conftest import CLIENT_ENV


@pytest.fixture
def env(server):
    srv = server()
    admin = Admin(srv)
    cc = admin.create(client_id="curl-cc", scopes=["read", "write"], default_scopes=["read"],
                      audiences=["https://api.example"], access_token_ttl=300,
                      max_access_token_ttl=600)
    only_refresh = admin.create(client_id="curl-rt", scopes=["read"],
                                grant_types=["refresh_token"])
    yield srv, cc, only_refresh
    admin.close()


def curl(srv, path, *args):
    """Runs curl; returns (status, headers dict with lower-case names, body text)."""
    p = subprocess.run(
        ["curl", "-sS", "-D", "-", "--cacert", str(srv.cert), *args, srv.url + path],
        capture_output=True, timeout=30, env=CLIENT_ENV, check=True)
    head, _, body = p.stdout.decode().partition("\r\n\r\n")
    lines = head.split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def token(srv, client, *args):
    return curl(srv, "/oauth2/token", "-u", f"{client['client_id']}:{client['client_secret']}",
                *args)


def check_error(result, status, error):
    got_status, headers, body = result
    assert got_status == status, result
    doc = json.loads(body)
    assert doc["error"] == error, doc
    assert doc["error_description"]
    assert headers["content-type"] == "application/json"
    return headers


def check_token_error(result, status, error):
    headers = check_error(result, status, error)
    assert headers["cache-control"] == "no-store"
    assert headers["pragma"] == "no-cache"
    return headers


def test_missing_grant_type(env):
    srv, cc, _ = env
    check_token_error(token(srv, cc, "-d", "scope=read"), 400, "invalid_request")


def test_unsupported_grant_type(env):
    srv, cc, _ = env
    check_token_error(token(srv, cc, "-d", "grant_type=password"), 400,
                      "unsupported_grant_type")


def test_grant_not_allowed_to_the_client(env):
    srv, _, rt = env
    check_token_error(token(srv, rt, "-d", "grant_type=client_credentials"), 400,
                      "unauthorized_client")


def test_wrong_secret_with_basic_is_401_with_challenge(env):
    srv, cc, _ = env
    r = curl(srv, "/oauth2/token", "-u", "curl-cc:wrong", "-d", "grant_type=client_credentials")
    headers = check_token_error(r, 401, "invalid_client")
    assert headers["www-authenticate"] == 'Basic realm="tessera"'


def test_unknown_client_with_post_is_invalid_client(env):
    srv, _, _ = env
    r = curl(srv, "/oauth2/token", "-d",
             "grant_type=client_credentials&client_id=nobody&client_secret=x")
    check_token_error(r, 401, "invalid_client")


def test_no_client_authentication(env):
    srv, _, _ = env
    r = curl(srv, "/oauth2/token", "-d", "grant_type=client_credentials")
    check_token_error(r, 401, "invalid_client")


def test_two_authentication_methods(env):
    srv, cc, _ = env
    r = token(srv, cc, "-d", "grant_type=client_credentials&client_id=curl-cc"
              f"&client_secret={cc['client_secret']}")
    check_token_error(r, 400, "invalid_request")


def test_repeated_parameter(env):
    srv, cc, _ = env
    r = token(srv, cc, "-d", "grant_type=client_credentials&scope=read&scope=write")
    check_token_error(r, 400, "invalid_request")


def test_scope_not_allowed(env):
    srv, cc, _ = env
    check_token_error(token(srv, cc, "-d", "grant_type=client_credentials&scope=admin"), 400,
                      "invalid_scope")


def test_audience_not_allowed(env):
    srv, cc, _ = env
    r = token(srv, cc, "-d", "grant_type=client_credentials&audience=https://evil.example")
    check_token_error(r, 400, "invalid_target")


@pytest.mark.parametrize("value", ["abc", "0", "-5", "1.5"])
def test_bad_validity_period(env, value):
    srv, cc, _ = env
    r = token(srv, cc, "-d", f"grant_type=client_credentials&validity_period={value}")
    check_token_error(r, 400, "invalid_request")


def test_validity_period_is_clamped_to_the_client_maximum(env):
    srv, cc, _ = env
    status, headers, body = token(srv, cc, "-d",
                                  "grant_type=client_credentials&validity_period=100000")
    assert status == 200, body
    assert json.loads(body)["expires_in"] == 600
    assert headers["cache-control"] == "no-store" and headers["pragma"] == "no-cache"


def test_unknown_refresh_token(env):
    srv, _, rt = env
    r = token(srv, rt, "-d", "grant_type=refresh_token&refresh_token=not-a-token")
    check_token_error(r, 400, "invalid_grant")


def test_malformed_body_encoding(env):
    srv, cc, _ = env
    r = token(srv, cc, "-d", "grant_type=client_credentials&scope=%zz")
    check_token_error(r, 400, "invalid_request")


def test_malformed_json_body(env):
    srv, cc, _ = env
    r = token(srv, cc, "-H", "Content-Type: application/json", "-d", '{"grant_type":')
    check_token_error(r, 400, "invalid_request")


def test_full_token_table_is_503(server):
    # One client may fill the table only when its limit of live tokens is above it.
    srv = server(config={"tokens": {"capacity": 1000, "max_live_per_client": 100000}})
    admin = Admin(srv)
    cc = admin.create(client_id="filler", scopes=["read"])
    admin.close()
    statuses = []
    with srv.session() as s:  # fill the table over one keep-alive connection
        for _ in range(1300):
            r = s.post(srv.url + "/oauth2/token", data={"grant_type": "client_credentials"},
                       auth=("filler", cc["client_secret"]), timeout=10)
            statuses.append(r.status_code)
            if r.status_code != 200:
                break
    r = token(srv, cc, "-d", "grant_type=client_credentials")
    check_token_error(r, 503, "temporarily_unavailable")
    assert statuses.count(200) >= 900  # the table held about its capacity first


def test_validate_without_token_is_401_with_bearer_challenge(env):
    srv, _, _ = env
    status, headers, _ = curl(srv, "/oauth2/validate")
    assert status == 401
    assert headers["www-authenticate"].startswith("Bearer realm=")


def test_validate_unknown_token(env):
    srv, _, _ = env
    r = curl(srv, "/oauth2/validate", "-H", "Authorization: Bearer nope")
    headers = check_error(r, 401, "invalid_token")
    assert 'error="invalid_token"' in headers["www-authenticate"]


def test_validate_revoked_token(env):
    srv, cc, _ = env
    _, _, body = token(srv, cc, "-d", "grant_type=client_credentials")
    t = json.loads(body)["access_token"]
    status, _, _ = curl(srv, "/oauth2/revoke", "-u", f"curl-cc:{cc['client_secret']}",
                        "-d", f"token={t}")
    assert status == 200
    r = curl(srv, "/oauth2/validate", "-H", f"Authorization: Bearer {t}")
    check_error(r, 401, "invalid_token")


def test_validate_missing_scope_or_audience_is_403(env):
    srv, cc, _ = env
    _, _, body = token(srv, cc, "-d",
                       "grant_type=client_credentials&scope=read&audience=https://api.example")
    t = json.loads(body)["access_token"]
    auth = ("-H", f"Authorization: Bearer {t}")
    status, headers, doc = curl(srv, "/oauth2/validate?scope=read&audience=https%3A%2F%2Fapi.example",
                                *auth)
    assert status == 200, doc
    assert headers["tessera-client-id"] == "curl-cc"
    assert headers["tessera-scope"] == "read"
    for query in ("scope=write", "scope=read%20write", "audience=https%3A%2F%2Fother"):
        r = curl(srv, f"/oauth2/validate?{query}", *auth)
        headers = check_error(r, 403, "insufficient_scope")
        assert 'error="insufficient_scope"' in headers["www-authenticate"]
