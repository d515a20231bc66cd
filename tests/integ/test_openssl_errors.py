"""OpenSSL's error queue is per thread, and a worker's one thread serves every connection:
an error a failed signature verification leaves there must not reach the next SSL_read or
SSL_write of another connection (SSL_get_error() reads the queue, and a stale entry turns
"want more bytes" into a fatal error that drops a healthy keep-alive connection).

Forged JWTs are the unauthenticated way to make OpenSSL fail: a real kid with a bad RS256
signature, ES256 signatures with r = 0 or r >= n.  They reach OpenSSL when the server
verifies the signatures of JWTs its table does not know; a server that can be told not to
(tokens.jwt_verify_unknown) is told to, so the error path is driven either way."""
import base64
import json
import os
import time

from conftest import ini_text, run_tesserad
from test_http import assert_health

CONNECTIONS = 100
ROUNDS = 12


def b64e(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def forged(kid, alg, signature):
    header = {"alg": alg, "typ": "at+jwt", "kid": kid}
    now = int(time.time())
    claims = {"iss": "https://forged.example", "sub": "demo-jwt", "client_id": "demo-jwt",
              "aud": "x", "exp": now + 600, "iat": now, "jti": b64e(os.urandom(12))}
    body = b64e(json.dumps(header).encode()) + "." + b64e(json.dumps(claims).encode())
    return body + "." + b64e(signature)


def forged_tokens(srv):
    with srv.session() as s:
        keys = s.get(srv.url + "/oauth2/jwks", timeout=10).json()["keys"]
    kid = {k["alg"]: k["kid"] for k in keys}
    modulus = len(base64.urlsafe_b64decode(
        next(k for k in keys if k["alg"] == "RS256")["n"] + "=="))
    p256_n = bytes.fromhex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")
    return [
        forged(kid["RS256"], "RS256", os.urandom(modulus)),  # a wrong RSA signature
        forged(kid["ES256"], "ES256", bytes(32) + (1).to_bytes(32, "big")),  # r = 0
        forged(kid["ES256"], "ES256", p256_n + (1).to_bytes(32, "big")),  # r = n
        forged(kid["ES256"], "ES256", b"\xff" * 32 + (1).to_bytes(32, "big")),  # r > n
        forged(kid["ES256"], "ES256", (1).to_bytes(32, "big") + p256_n),  # s = n
    ]


def verify_unknown_config(tmp_path):
    """{"tokens": {"jwt_verify_unknown": "true"}} when this tesserad has the key."""
    cfg = {"tokens": {"jwt_verify_unknown": "true"}}
    path = tmp_path / "probe.ini"
    path.write_text(ini_text(cfg))
    r = run_tesserad("--dev", "--test-config", "--config", str(path),
                     "--data-dir", str(tmp_path / "probe-data"))
    return cfg if r.returncode == 0 else None


def test_forged_jwts_do_not_break_other_connections(server, tmp_path):
    srv = server(config=verify_unknown_config(tmp_path))
    tokens = forged_tokens(srv)
    conns = [srv.tls(timeout=10) for _ in range(CONNECTIONS)]
    try:
        for c in conns:
            c.request("GET", "/healthz")
            assert_health(c.read_response())
        for rnd in range(ROUNDS):
            # Forged tokens on some of the connections themselves, and on new ones that
            # close after the answer (so no later read of theirs takes the error off the
            # queue), so that every worker verifies some.
            for i, token in enumerate(tokens):
                c = conns[(rnd * len(tokens) + i) % CONNECTIONS]
                c.request("GET", "/oauth2/validate", headers=[("Authorization", f"Bearer {token}")])
                assert c.read_response().status == 401
                with srv.tls() as fresh:
                    fresh.request("DELETE", "/Session", headers=[
                        ("Authorization", f"Bearer {token}"), ("Connection", "close")])
                    assert fresh.read_response().status in (200, 401), token
            broken = []
            for n, c in enumerate(conns):
                try:
                    c.request("GET", "/healthz")
                    assert_health(c.read_response())
                except Exception as e:  # noqa: BLE001 - any failure is a broken connection
                    broken.append((n, repr(e)))
            assert not broken, f"round {rnd}: {len(broken)} connections broke: {broken[:3]}"
    finally:
        for c in conns:
            c.close()
