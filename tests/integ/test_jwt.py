"""
Integration tests of JWT access tokens (RFC 9068), the signing keys and discovery
(RFC 8414): the token's shape, header and claims, its signature checked by `openssl`
against the published JWK (no Python crypto library needed), validation, introspection and
revocation of JWTs, key rotation (old tokens keep validating, both keys are published),
restarts with the same data directory (keys and kids survive, and a JWT issued before the
restart still validates: recovery brings it back into the token table), a validly signed JWT
the table does not know (refused unverified unless tokens.jwt_verify_unknown), and the files
under DATA_DIR/keys.

The --dev server has a JWT client, "demo-jwt" (ES256); EdDSA and RS256 clients are made
through the admin API (a failing admin API fails these tests: it is never a reason to skip).
"""
import base64
import json
import pathlib
import re
import shutil
import stat
import subprocess
import tempfile

import pytest

from conftest import run_tesserad

TIMEOUT = 10


# --- helpers ---------------------------------------------------------------------------


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64e(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt_parts(token):
    h, p, s = token.split(".")
    return json.loads(b64d(h)), json.loads(b64d(p)), b64d(s)


class Api:
    """A server's HTTP API with the demo clients' secrets and the admin token."""

    def __init__(self, srv):
        self.srv = srv
        self.s = srv.session()
        self.admin_token = srv.token_file.read_text().strip()
        self.secrets = {
            "demo": (srv.data_dir / "demo-client.secret").read_text().strip(),
            "demo-jwt": (srv.data_dir / "demo-jwt-client.secret").read_text().strip(),
        }

    def get(self, path, **kw):
        return self.s.get(self.srv.url + path, timeout=TIMEOUT, **kw)

    def post(self, path, **kw):
        return self.s.post(self.srv.url + path, timeout=TIMEOUT, **kw)

    def token(self, client="demo-jwt", **params):
        r = self.post("/oauth2/token", auth=(client, self.secrets[client]),
                      data={"grant_type": "client_credentials", **params})
        assert r.status_code == 200, r.text
        return r.json()

    def validate(self, token, query=""):
        return self.get("/oauth2/validate" + query, headers={"Authorization": f"Bearer {token}"})

    def introspect(self, token, client="demo-jwt"):
        r = self.post("/oauth2/introspect", auth=(client, self.secrets[client]),
                      data={"token": token})
        assert r.status_code == 200, r.text
        return r.json()

    def revoke(self, token, client="demo-jwt"):
        return self.post("/oauth2/revoke", auth=(client, self.secrets[client]),
                         data={"token": token})

    def rotate(self, alg=None, token=None):
        params = {"alg": alg} if alg else None
        return self.post("/admin/keys/rotate", params=params,
                         headers={"Authorization": f"Bearer {token or self.admin_token}"})

    def jwks(self):
        r = self.get("/oauth2/jwks")
        assert r.status_code == 200, r.text
        return {k["kid"]: k for k in r.json()["keys"]}

    def metadata(self):
        r = self.get("/.well-known/oauth-authorization-server")
        assert r.status_code == 200, r.text
        return r.json()

    def jwt_client(self, client_id, alg):
        """A JWT client of alg through the admin API, which must answer 201."""
        r = self.post("/admin/clients", headers={"Authorization": f"Bearer {self.admin_token}"},
                      json={"client_id": client_id, "scopes": ["read"],
                            "grant_types": ["client_credentials"], "token_format": "jwt",
                            "jwt_alg": alg, "access_token_ttl": 300})
        assert r.status_code == 201, r.text
        self.secrets[client_id] = r.json()["client_secret"]


@pytest.fixture
def api(server):
    return Api(server())


# --- signatures, checked by openssl against the published JWK ----------------------------


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def der(tag, body):
    return bytes([tag]) + der_len(len(body)) + body


def der_int(raw):
    raw = raw.lstrip(b"\0") or b"\0"
    return der(0x02, (b"\0" + raw) if raw[0] & 0x80 else raw)


def spki_pem(jwk):
    """The SubjectPublicKeyInfo PEM of a public JWK (EC P-256, Ed25519 or RSA)."""
    if jwk["kty"] == "EC":
        assert jwk["crv"] == "P-256"
        algo = der(0x30, bytes.fromhex("06072a8648ce3d0201" "06082a8648ce3d030107"))
        key = b"\x04" + b64d(jwk["x"]) + b64d(jwk["y"])
    elif jwk["kty"] == "OKP":
        assert jwk["crv"] == "Ed25519"
        algo = der(0x30, bytes.fromhex("06032b6570"))
        key = b64d(jwk["x"])
    else:
        algo = der(0x30, bytes.fromhex("06092a864886f70d010101" "0500"))
        key = der(0x30, der_int(b64d(jwk["n"])) + der_int(b64d(jwk["e"])))
    body = der(0x30, algo + der(0x03, b"\0" + key))
    text = base64.encodebytes(body).decode().replace("\n", "")
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    return "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"


def openssl_verifies(token, jwk):
    """True when openssl accepts the JWS signature of token under jwk."""
    header, _, sig = jwt_parts(token)
    signing_input = token.rsplit(".", 1)[0].encode()
    with tempfile.TemporaryDirectory() as d:
        d = pathlib.Path(d)
        (d / "pub.pem").write_text(spki_pem(jwk))
        (d / "data").write_bytes(signing_input)
        if header["alg"] == "ES256":
            assert len(sig) == 64, "ES256 signatures are r||s, 64 bytes (RFC 7518 §3.4)"
            sig = der(0x30, der_int(sig[:32]) + der_int(sig[32:]))
        (d / "sig").write_bytes(sig)
        if header["alg"] == "EdDSA":
            cmd = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", d / "pub.pem",
                   "-rawin", "-in", d / "data", "-sigfile", d / "sig"]
        else:
            cmd = ["openssl", "dgst", "-sha256", "-verify", d / "pub.pem", "-signature",
                   d / "sig", d / "data"]
        p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=10)
        return p.returncode == 0


# --- discovery ---------------------------------------------------------------------------


def test_discovery_document(api):
    m = api.metadata()
    r = api.get("/.well-known/openid-configuration")
    assert r.status_code == 200
    assert r.json() == m
    assert "max-age" in r.headers["Cache-Control"]
    iss = api.srv.url
    assert m["issuer"] == iss
    assert m["token_endpoint"] == iss + "/oauth2/token"
    assert m["introspection_endpoint"] == iss + "/oauth2/introspect"
    assert m["revocation_endpoint"] == iss + "/oauth2/revoke"
    assert m["jwks_uri"] == iss + "/oauth2/jwks"
    auth = ["client_secret_basic", "client_secret_post"]
    assert m["grant_types_supported"] == ["client_credentials", "refresh_token"]
    assert m["token_endpoint_auth_methods_supported"] == auth
    assert m["introspection_endpoint_auth_methods_supported"] == auth
    assert m["revocation_endpoint_auth_methods_supported"] == auth
    assert m["dpop_signing_alg_values_supported"] == ["ES256", "EdDSA", "RS256"]
    assert m["response_types_supported"] == []
    assert "scopes_supported" not in m
    # Every URL it names answers.
    assert api.get("/oauth2/jwks").status_code == 200
    assert api.post("/oauth2/token").status_code in (400, 401)


def test_jwks(api):
    r = api.get("/oauth2/jwks")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    cc = r.headers["Cache-Control"]
    assert cc.startswith("public, max-age=") and 60 <= int(cc.split("=")[1]) <= 900
    keys = r.json()["keys"]
    assert sorted(k["alg"] for k in keys) == ["ES256", "EdDSA", "RS256"]
    for k in keys:
        assert k["use"] == "sig"
        assert len(b64d(k["kid"])) == 32  # an RFC 7638 SHA-256 thumbprint
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(k)  # public members only
        if k["alg"] == "ES256":
            assert (k["kty"], k["crv"]) == ("EC", "P-256")
            assert len(b64d(k["x"])) == len(b64d(k["y"])) == 32
        elif k["alg"] == "EdDSA":
            assert (k["kty"], k["crv"]) == ("OKP", "Ed25519") and len(b64d(k["x"])) == 32
        else:
            assert k["kty"] == "RSA" and len(b64d(k["n"])) == 256 and k["e"] == "AQAB"


# --- tokens ----------------------------------------------------------------------------------


def test_jwt_shape_header_claims_and_signature(api):
    resp = api.token(scope="read write")
    token = resp["access_token"]
    assert token.count(".") == 2
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", part) for part in token.split("."))
    header, claims, sig = jwt_parts(token)
    assert header == {"alg": "ES256", "typ": "at+jwt", "kid": header["kid"]}
    jwks = api.jwks()
    assert header["kid"] in jwks and jwks[header["kid"]]["alg"] == "ES256"
    assert claims["iss"] == api.metadata()["issuer"]
    assert claims["sub"] == claims["client_id"] == "demo-jwt"
    assert claims["scope"] == "read write" == resp["scope"]
    assert claims["exp"] - claims["iat"] == resp["expires_in"]
    assert len(claims["jti"]) >= 22
    # RFC 9068 §3: no resource asked for and no audience configured: the issuer is aud.
    assert claims["aud"] == api.metadata()["issuer"]
    assert "cnf" not in claims
    assert resp["token_type"] == "Bearer"
    assert openssl_verifies(token, jwks[header["kid"]])
    # A signature over other bytes does not verify: the check above means something.
    h, p, s = token.split(".")
    forged = ".".join([h, b64e(json.dumps({**claims, "scope": "admin"}).encode()), s])
    assert not openssl_verifies(forged, jwks[header["kid"]])
    # Every token has its own jti; the opaque client still gets opaque tokens.
    assert jwt_parts(api.token()["access_token"])[1]["jti"] != claims["jti"]
    assert api.token("demo")["access_token"].count(".") == 0


def test_every_algorithm(api):
    jwks = api.jwks()
    for alg in ("EdDSA", "RS256"):
        api.jwt_client(f"jwt-{alg.lower()}", alg)
        token = api.token(f"jwt-{alg.lower()}")["access_token"]
        header, claims, sig = jwt_parts(token)
        assert header["alg"] == alg and header["typ"] == "at+jwt"
        assert jwks[header["kid"]]["alg"] == alg
        assert len(sig) == (64 if alg == "EdDSA" else 256)
        assert openssl_verifies(token, jwks[header["kid"]])
        assert claims["client_id"] == f"jwt-{alg.lower()}"
        assert api.validate(token).status_code == 200


def test_validate_and_introspect_a_jwt(api):
    token = api.token(scope="read write")["access_token"]
    _, claims, _ = jwt_parts(token)
    r = api.validate(token)
    assert r.status_code == 200, r.text
    assert r.json() == {"active": True, "client_id": "demo-jwt", "scope": "read write",
                        "exp": claims["exp"], "sub": "demo-jwt"}
    assert r.headers["Tessera-Client-Id"] == "demo-jwt"
    assert api.validate(token, "?scope=write").status_code == 200
    assert api.validate(token, "?scope=admin").status_code == 403
    i = api.introspect(token)
    assert i["active"] is True
    assert i["jti"] == claims["jti"]
    assert (i["iss"], i["sub"], i["client_id"]) == (claims["iss"], "demo-jwt", "demo-jwt")
    assert (i["iat"], i["exp"], i["token_type"]) == (claims["iat"], claims["exp"], "Bearer")
    # Tampered tokens are unknown, whatever their claims say.
    h, p, s = token.split(".")
    assert api.validate(f"{h}.{p}.{s[:-2]}AA").status_code == 401
    none = b64e(json.dumps({"alg": "none", "typ": "at+jwt"}).encode())
    assert api.validate(f"{none}.{p}.").status_code == 401
    assert api.validate(f"{h}.{b64e(json.dumps({**claims, 'scope': 'x'}).encode())}.{s}"
                        ).status_code == 401


def test_revoking_a_jwt(api):
    a = api.token()["access_token"]
    b = api.token()["access_token"]
    # Another client cannot revoke it (and hears 200 all the same, RFC 7009).
    r = api.revoke(a, client="demo")
    assert r.status_code == 200 and r.content == b""
    assert api.validate(a).status_code == 200
    r = api.revoke(a)
    assert r.status_code == 200 and r.content == b""
    r = api.validate(a)
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    assert api.introspect(a) == {"active": False}
    # DELETE /Session (Aidbox) revokes the bearer's own token.
    r = api.s.delete(api.srv.url + "/Session", headers={"Authorization": f"Bearer {b}"},
                     timeout=TIMEOUT)
    assert r.status_code == 200
    assert api.validate(b).status_code == 401


def key_files(srv):
    return sorted(p.name for p in (srv.data_dir / "keys").glob("*.pem"))


def test_key_files(api):
    d = api.srv.data_dir / "keys"
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    files = key_files(api.srv)
    assert sorted(f[:-4] for f in files) == sorted(api.jwks())
    for f in files:
        path = d / f
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        text = path.read_text()
        assert "-----BEGIN PRIVATE KEY-----" in text
        # The file is the key: openssl reads it and derives the published public key.
        p = subprocess.run(["openssl", "pkey", "-in", str(path), "-pubout"], capture_output=True,
                           text=True, timeout=10)
        assert p.returncode == 0, p.stderr
        assert p.stdout == spki_pem(api.jwks()[f[:-4]])


def test_rotation_keeps_old_tokens_valid(api):
    old = api.token()["access_token"]
    old_kid = jwt_parts(old)[0]["kid"]
    assert api.rotate(token="wrong-token-0123456789").status_code == 401
    assert api.rotate(alg="HS256").status_code == 400
    r = api.rotate()
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    listed = r.json()["keys"]
    assert len(listed) == 6 and sum(k["active"] for k in listed) == 3
    retired = [k for k in listed if not k["active"]]
    assert old_kid in {k["kid"] for k in retired}
    for k in retired:
        assert k["published"] is True
        # Published until every token the key signed has expired: the longest a token may
        # live (tokens.max_access_ttl, 86400 by default) plus a minute of clock skew.
        assert k["published_until"] == k["retired_at"] + 86400 + 60
    jwks = api.jwks()
    assert len(jwks) == 6 and old_kid in jwks
    new = api.token()["access_token"]
    new_kid = jwt_parts(new)[0]["kid"]
    assert new_kid != old_kid and new_kid in jwks
    assert openssl_verifies(new, jwks[new_kid]) and openssl_verifies(old, jwks[old_kid])
    for t in (old, new):
        assert api.validate(t).status_code == 200
        assert api.introspect(t)["active"] is True
    # Every worker signs with the new key at once (tokens over several connections).
    for _ in range(6):
        api.s.close()
        assert jwt_parts(api.token()["access_token"])[0]["kid"] == new_kid
    # One algorithm only; the files follow.
    r = api.rotate(alg="ES256")
    assert r.status_code == 200
    assert len(api.jwks()) == 7
    assert sorted(f[:-4] for f in key_files(api.srv)) == sorted(api.jwks())


def test_restart_keeps_keys_and_jwts(server):
    # A fixed issuer: each start listens on a new port, and iss must stay the same.
    config = {"server": {"issuer": "https://tessera.test"}}
    first = server(config=config)
    api = Api(first)
    assert api.metadata()["issuer"] == "https://tessera.test"
    kids = set(api.jwks())
    token = api.token(scope="write")["access_token"]
    revoked = api.token()["access_token"]
    assert first.stop() == 0
    first.expect_exit = 0

    second = server(data=first.data_dir, config=config)
    api = Api(second)
    assert set(api.jwks()) == kids  # same keys, same kids
    # Recovery brought the JWT back into the token table.
    for _ in range(2):
        r = api.validate(token)
        assert r.status_code == 200, r.text
        assert r.json()["scope"] == "write"
    assert api.introspect(token)["active"] is True
    assert jwt_parts(api.token()["access_token"])[0]["kid"] in kids
    # Revoking such a JWT survives the next restart too (below).
    assert api.revoke(revoked).status_code == 200
    assert api.validate(revoked).status_code == 401
    assert api.introspect(revoked) == {"active": False}
    # A rotation survives the next restart: the new key signs, the old stays published.
    assert api.rotate(alg="ES256").status_code == 200
    active = jwt_parts(api.token()["access_token"])[0]["kid"]
    assert second.stop() == 0
    second.expect_exit = 0

    third = server(data=first.data_dir, config=config)
    api = Api(third)
    assert jwt_parts(api.token()["access_token"])[0]["kid"] == active
    assert set(api.jwks()) == kids | {active}
    assert api.validate(token).status_code == 200
    assert api.validate(revoked).status_code == 401


def jwt_unknown_refused(api):
    r = api.get("/metrics")
    assert r.status_code == 200, r.text
    return int(re.search(r"^tessera_jwt_unknown_refused_total (\d+)$", r.text, re.M)[1])


def test_a_signed_jwt_the_table_does_not_know(server):
    """Every JWT this server issued is in its token table, so a JWT the table does not
    know — here one issued before the log and database were wiped, with the signing keys
    kept — is refused without verifying it, and counted; tokens.jwt_verify_unknown (for
    servers sharing keys) verifies it instead."""
    config = {"server": {"issuer": "https://tessera.test"}}
    first = server(config=config)
    token = Api(first).token(scope="write")["access_token"]
    assert first.stop() == 0
    first.expect_exit = 0
    shutil.rmtree(first.data_dir / "log")
    shutil.rmtree(first.data_dir / "db")

    second = server(data=first.data_dir, config=config)
    api = Api(second)
    for _ in range(2):
        r = api.validate(token)
        assert r.status_code == 401, r.text
        assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    assert api.introspect(token) == {"active": False}
    assert jwt_unknown_refused(api) == 3
    assert second.stop() == 0
    second.expect_exit = 0

    third = server(data=first.data_dir, config={**config, "tokens": {"jwt_verify_unknown": "true"}})
    api = Api(third)
    r = api.validate(token)
    assert r.status_code == 200 and r.json()["scope"] == "write", r.text
    assert jwt_unknown_refused(api) == 0


def test_configured_lifetimes_and_scopes(server, tmp_path):
    srv = server(config={"tokens": {"access_ttl": 60, "max_access_ttl": 120},
                         "server": {"scopes_supported": "read write"}})
    api = Api(srv)
    assert api.metadata()["scopes_supported"] == ["read", "write"]
    resp = api.token(validity_period="100000")
    claims = jwt_parts(resp["access_token"])[1]
    assert resp["expires_in"] == claims["exp"] - claims["iat"] <= 120
    listed = api.rotate(alg="EdDSA").json()["keys"]
    retired = [k for k in listed if not k["active"]]
    assert [k["published_until"] - k["retired_at"] for k in retired] == [180]
    # access_ttl may not exceed max_access_ttl.
    ini = tmp_path / "bad.ini"
    ini.write_text("[tokens]\naccess_ttl = 7200\nmax_access_ttl = 3600\n")
    p = run_tesserad("--config", str(ini), "--listen-plain", "127.0.0.1:1", "--test-config")
    assert p.returncode == 2
    assert "max_access_ttl" in p.stderr
