"""
Helpers of the admin and OAuth integration tests (test_admin.py, test_oauth.py): an admin
API client holding the server's admin token, and the client authentication forms of
RFC 6749 §2.3.1 (client_secret_basic with form-urlencoding before base64, and
client_secret_post), over requests sessions that trust only the dev certificate.
"""
import base64
import urllib.parse

from slow import slow

BASE64URL = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
TIMEOUT = slow(10)  # seconds per request; Argon2id secrets cost ~20 ms each


def basic(client_id, secret, encode=True):
    """An Authorization: Basic value: each part form-urlencoded (RFC 6749 §2.3.1) unless
    encode is False (raw, as the WSO2 and Aidbox seeds send it)."""
    if encode == "all":  # every byte as %XX, as oauth4webapi does even for '-'
        enc = lambda s: "".join(f"%{b:02X}" for b in s.encode())  # noqa: E731
    elif encode:
        enc = lambda s: urllib.parse.quote_plus(s, safe="")  # noqa: E731
    else:
        enc = lambda s: s  # noqa: E731
    raw = f"{enc(client_id)}:{enc(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def path_id(client_id):
    """A client id as one path segment: '/' and every other reserved byte escaped."""
    return urllib.parse.quote(client_id, safe="")


class Admin:
    """The admin API of one server, authenticated with its admin token."""

    def __init__(self, srv):
        self.srv = srv
        self.session = srv.session()
        self.token = srv.token_file.read_text().strip()

    def close(self):
        self.session.close()

    def call(self, method, path, body=None, token=None, headers=None, **kw):
        h = {"Authorization": f"Bearer {token or self.token}"}
        h.update(headers or {})
        if token is False:
            del h["Authorization"]
        return self.session.request(method, self.srv.url + path, json=body, headers=h,
                                    timeout=TIMEOUT, **kw)

    def create(self, **fields):
        """POST /admin/clients; asserts 201; returns the answer (with client_secret)."""
        r = self.call("POST", "/admin/clients", fields)
        assert r.status_code == 201, (r.status_code, r.text)
        return r.json()

    def get(self, client_id):
        return self.call("GET", f"/admin/clients/{path_id(client_id)}")

    def put(self, client_id, body):
        return self.call("PUT", f"/admin/clients/{path_id(client_id)}", body)

    def delete(self, client_id):
        return self.call("DELETE", f"/admin/clients/{path_id(client_id)}")

    def rotate(self, client_id, revoke=None):
        q = "" if revoke is None else f"?revoke_tokens={'true' if revoke else 'false'}"
        return self.call("POST", f"/admin/clients/{path_id(client_id)}/secret{q}")


class OAuth:
    """The OAuth endpoints of one server."""

    def __init__(self, srv):
        self.srv = srv
        self.session = srv.session()

    def close(self):
        self.session.close()

    def token(self, client=None, path="/oauth2/token", auth="basic", headers=None, json=None,
              **params):
        """POST a token request; client is (client_id, secret) or a create() answer."""
        h = dict(headers or {})
        data = dict(params)
        if isinstance(client, dict):
            client = (client["client_id"], client["client_secret"])
        if client and auth == "basic":
            h["Authorization"] = basic(*client)
        elif client and auth == "post":
            data.update(client_id=client[0], client_secret=client[1])
        if json is not None:
            body = dict(json)
            if client and auth == "post":
                body.update(client_id=client[0], client_secret=client[1])
            return self.session.post(self.srv.url + path, json=body, headers=h, timeout=TIMEOUT)
        return self.session.post(self.srv.url + path, data=data, headers=h, timeout=TIMEOUT)

    def access(self, client, **params):
        """A granted token answer (asserts 200)."""
        r = self.token(client, grant_type="client_credentials", **params)
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()

    def validate(self, token, query=""):
        return self.session.get(self.srv.url + "/oauth2/validate" + query,
                                headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT)

    def introspect(self, client, token, **params):
        return self.session.post(self.srv.url + "/oauth2/introspect",
                                 data={"token": token, **params},
                                 headers={"Authorization": basic(*client_pair(client))},
                                 timeout=TIMEOUT)

    def revoke(self, client, token, **params):
        return self.session.post(self.srv.url + "/oauth2/revoke",
                                 data={"token": token, **params},
                                 headers={"Authorization": basic(*client_pair(client))},
                                 timeout=TIMEOUT)


def client_pair(client):
    if isinstance(client, dict):
        return client["client_id"], client["client_secret"]
    return client
