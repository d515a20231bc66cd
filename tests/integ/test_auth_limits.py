"""Failed-authentication limits (API.md §1, docs/CONFIG.md [limits]): a flood of failures
from one address for a client id refuses that address (429 with Retry-After), never the
real client at another address; a client whose secret a person chose (Argon2id) also has
a limit of its own client id, from every address together.  Attackers are real TLS
connections from other loopback addresses (127.0.0.2, 127.0.0.3), with the default
limits: 10 failures a minute per client id and address, 20 per chosen-secret client."""
import json
import socket
import time

from admin_api import Admin, basic
from conftest import HTTPConn, tls_context
from test_oauth import make_client

PAIR_LIMIT = 10   # limits.auth_failures_per_client_address
CLIENT_LIMIT = 20  # limits.auth_failures_per_client (chosen secrets)
GRANT = b"grant_type=client_credentials"
FORM = ("Content-Type", "application/x-www-form-urlencoded")


def connect_from(srv, source):
    """A TLS connection to srv whose client end is bound to the address `source`."""
    raw = socket.create_connection((srv.host, srv.port), timeout=10, source_address=(source, 0))
    try:
        return HTTPConn(tls_context(srv.cert).wrap_socket(raw, server_hostname=srv.host))
    except BaseException:
        raw.close()
        raise


def token(conn, client_id, secret):
    conn.request("POST", "/oauth2/token", [FORM, ("Authorization", basic(client_id, secret))],
                 GRANT)
    return conn.read_response()


def in_one_minute(scenario):
    """Runs scenario(run) until one run starts and ends in the same minute of the clock the
    server counts failures by (a run across a minute's end sees the counters restart):
    at most two runs.  The second uses other attacker addresses (attacker(run, i)) and
    client ids, so nothing the first counted is seen again."""
    for run in range(2):
        start = int(time.time()) // 60
        result = scenario(run)
        if int(time.time()) // 60 == start:
            return result
    raise AssertionError("two runs each crossed a minute boundary")


def attacker(run, i=0):
    return f"127.0.{run}.{2 + i}"


def flood(conn, client_id, n):
    """n failed authentications for client_id on conn; the statuses."""
    return [token(conn, client_id, "wrong-secret").status for _ in range(n)]


def test_attacker_flood_never_refuses_the_real_client(api):
    """An address that knows only the client id floods failures: it gets 429 with
    Retry-After, and the client at 127.0.0.1 keeps getting tokens (before, 20 failures a
    minute for the client id refused it too)."""
    srv, admin, oauth = api
    c = make_client(admin)
    secret = c["client_secret"]

    def scenario(run):
        with connect_from(srv, attacker(run)) as bad, connect_from(srv, "127.0.0.1") as real:
            for _ in range(3):  # well past every per-client-id limit
                statuses = flood(bad, "cc", PAIR_LIMIT)
                assert set(statuses) <= {401, 429}, statuses
                r = token(real, "cc", secret)
                assert r.status == 200, r
            r = token(bad, "cc", "wrong-secret")
            assert r.status == 429, r
            body = json.loads(r.body)
            assert body["error"] == "temporarily_unavailable", body
            retry = int(r.header("Retry-After"))
            assert 1 <= retry <= 60, retry
            # refused before the secret is looked at: the right one waits too
            assert token(bad, "cc", secret).status == 429
            # the attacker's failures never counted against the real client's address
            assert token(real, "cc", "wrong-secret").status == 401
            assert token(real, "cc", secret).status == 200
            return statuses

    statuses = in_one_minute(scenario)
    assert statuses.count(429) == PAIR_LIMIT  # the third round: refused throughout


def test_the_first_failures_are_answered_401(api):
    srv, admin, oauth = api
    make_client(admin)

    def scenario(run):
        with connect_from(srv, attacker(run)) as bad:
            return flood(bad, "cc", PAIR_LIMIT + 2)

    statuses = in_one_minute(scenario)
    assert statuses == [401] * PAIR_LIMIT + [429, 429], statuses


def test_chosen_secret_keeps_a_limit_of_its_client_id(api):
    """A secret a person chose can be guessed: failures for its client id from all
    addresses together are limited, and then the right secret waits too; a generated
    secret under the same flood is never refused."""
    srv, admin, oauth = api
    def scenario(run):
        human = make_client(admin, f"human{run}", client_secret="correct horse battery staple")
        machine = make_client(admin, f"machine{run}")
        with connect_from(srv, attacker(run, 0)) as a2, connect_from(srv, attacker(run, 1)) as a3, \
                connect_from(srv, "127.0.0.1") as real:
            for client_id in (human["client_id"], machine["client_id"]):
                assert flood(a2, client_id, PAIR_LIMIT) == [401] * PAIR_LIMIT
                assert flood(a3, client_id, PAIR_LIMIT) == [401] * PAIR_LIMIT
            r = token(real, machine["client_id"], machine["client_secret"])
            assert r.status == 200, r
            r = token(real, human["client_id"], human["client_secret"])
            assert r.status == 429, r
            assert 1 <= int(r.header("Retry-After")) <= 60

    in_one_minute(scenario)


def test_limits_are_configurable(server):
    """auth_failures_per_client_address and auth_failures_per_address."""
    srv = server(config={"limits": {"auth_failures_per_client_address": 2,
                                    "auth_failures_per_address": 5}})
    admin = Admin(srv)
    try:
        c = make_client(admin)

        def scenario(run):
            with connect_from(srv, attacker(run)) as bad, \
                    connect_from(srv, "127.0.0.1") as real:
                assert flood(bad, "cc", 3) == [401, 401, 429]
                # other client ids from the same address, up to the address's limit
                assert [token(bad, f"x{i}", "y").status for i in range(4)] == \
                    [401, 401, 401, 429]
                assert token(real, "cc", c["client_secret"]).status == 200

        in_one_minute(scenario)
    finally:
        admin.close()
