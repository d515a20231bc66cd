/*
 * Fuzz target of what the OAuth endpoints read before they know who calls:
 * form-urlencoded parameters (proto/oauth/params.c) and client authentication, Basic
 * (client_secret_basic: base64, split at the first ':', each part form-decoded) or
 * client_id/client_secret in the body (proto/oauth/oauth.c).  Byte 0 picks the mode (modulo 4):
 *   0  a form body or query string for proto_form_parse(): each parameter is what a
 *      reference decoder makes of its pair, names hold no NUL, at most PROTO_PARAMS_MAX,
 *      every refusal has a description that fits a JSON string; a scope parameter,
 *      normalised, normalises to itself and is a subset of the original both ways;
 *   1  one component for proto_form_decode(), against the reference decoder;
 *   2  byte 1 flags, then "<Authorization value>\n<body>": proto_oauth_params() and
 *      proto_client_authenticate() as the token endpoint calls them, in a region holding two
 *      clients with generated secrets.  An authentication that succeeds must name one of
 *      them with its own secret, found by decoding the request independently;
 *   3  the same, but the first line holds the raw credentials, which the target encodes
 *      into "Basic <base64>" (so that mutations reach the split and the form decoding),
 *      and the right credentials, sent alone, must be accepted.
 * Flags (byte 1): bit 0 the body is JSON; bit 1 the failure limits are zero (every
 * authentication is refused with 429); bit 2 the request comes from an address (rate
 * limited by address too); bit 3 no Authorization header.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto/oauth/client_auth.h"
#include "proto/oauth/client_policy.h"
#include "proto/oauth/oauth.h"
#include "proto/oauth/scope.h"
#include "proto/oauth/tokens.h"
#include "proto/oauth/params.h"
#include "proto/http/response.h"
#include "proto/oauth/secret.h"
#include "shm/client.h"
#include "tests/fuzz/ctx.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_CRED_MAX 512 /* oauth.c's CRED_MAX */

/* The clients registered, with their secrets (generated kind: one SHA-256 to verify). */
static const struct {
    const char *id, *secret;
} fuzz_clients[] = {
    {"svc", "s3cr3t-0123456789abcdefghijklmnopqrstuvwxyzAB"},
    {"app:1 x%", "p@ss w:rd+%&="},
};
#define FUZZ_NCLIENTS (sizeof(fuzz_clients) / sizeof(fuzz_clients[0]))

static struct fuzz_worker fuzz_w;
static bool fuzz_made;

static void fuzz_make(void)
{
    const struct shm_owner me = {0, 1};

    if (fuzz_made)
        return;
    fuzz_worker_init(&fuzz_w, 64);
    for (size_t i = 0; i < FUZZ_NCLIENTS; i++) {
        struct shm_client c = {0};

        snprintf(c.id, sizeof(c.id), "%s", fuzz_clients[i].id);
        c.grant_types = PROTO_GRANT_CLIENT_CREDENTIALS;
        c.created = FUZZ_NOW - 1000;
        FUZZ_CHECK(proto_secret_set(&c, fuzz_clients[i].secret, strlen(fuzz_clients[i].secret),
                                    true) == 0);
        FUZZ_CHECK(shm_client_create(&fuzz_w.region, &c, me, NULL) >= 0);
    }
    fuzz_made = true;
}

/* --- references -------------------------------------------------------------------- */

static int fuzz_hex(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Form decoding as RFC 6749 appendix B and the HTML specification say: '+' a space, %XX
 * a byte; -1 for a '%' not followed by two hex digits. */
static long fuzz_ref_decode(const uint8_t *s, size_t len, uint8_t *out)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            if (len - i < 3 || fuzz_hex(s[i + 1]) < 0 || fuzz_hex(s[i + 2]) < 0)
                return -1;
            out[o++] = (uint8_t)(fuzz_hex(s[i + 1]) << 4 | fuzz_hex(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i] == '+' ? ' ' : s[i];
        }
        if (out[o - 1] == 0)
            return -2; /* a decoded NUL is refused where it appears */
    }
    return (long)o;
}

static int fuzz_b64_value(uint8_t c)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c ? strchr(alphabet, c) : NULL;

    return p ? (int)(p - alphabet) : -1;
}

/* Standard base64 in blocks of four; what follows the last full byte is ignored. */
static long fuzz_ref_b64(const uint8_t *s, size_t n, uint8_t *out)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;

    if (n % 4)
        return -1;
    while (n && s[n - 1] == '=')
        n--;
    for (size_t i = 0; i < n; i++) {
        int v = fuzz_b64_value(s[i]);

        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return (long)o;
}

static void fuzz_b64_encode(const uint8_t *in, size_t n, char *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;

    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);

        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? alphabet[v & 63] : '=';
    }
    out[o] = '\0';
}

/* The registered client whose id and secret these are, or -1. */
static int fuzz_client_of(const uint8_t *id, size_t idlen, const uint8_t *secret, size_t slen)
{
    for (size_t i = 0; i < FUZZ_NCLIENTS; i++)
        if (strlen(fuzz_clients[i].id) == idlen && memcmp(fuzz_clients[i].id, id, idlen) == 0 &&
            strlen(fuzz_clients[i].secret) == slen &&
            memcmp(fuzz_clients[i].secret, secret, slen) == 0)
            return (int)i;
    return -1;
}

/* "id:secret", form-encoded parts split at the first ':' (RFC 6749 §2.3.1), to the
 * registered client it names, or -1. */
static int fuzz_basic_client(const uint8_t *raw, size_t n)
{
    const uint8_t *colon = memchr(raw, ':', n);
    uint8_t id[3 * FUZZ_CRED_MAX], secret[3 * FUZZ_CRED_MAX];
    long a, b;

    if (colon == NULL || n > sizeof(id))
        return -1;
    a = fuzz_ref_decode(raw, (size_t)(colon - raw), id);
    b = fuzz_ref_decode(colon + 1, n - (size_t)(colon - raw) - 1, secret);
    return a < 0 || b < 0 ? -1 : fuzz_client_of(id, (size_t)a, secret, (size_t)b);
}

/* --- mode 0 and 1: decoding -------------------------------------------------------- */

static void fuzz_check_scope(const struct proto_param *scope)
{
    char once[PROTO_SCOPE_MAX + 1], twice[PROTO_SCOPE_MAX + 1];
    int n = proto_scope_normalize(scope->value, scope->len, once, sizeof(once));

    if (n < 0)
        return;
    FUZZ_CHECK((size_t)n == strlen(once) && (size_t)n < sizeof(once));
    FUZZ_CHECK(once[0] != ' ' && (n == 0 || once[n - 1] != ' ') && strstr(once, "  ") == NULL);
    FUZZ_CHECK(proto_scope_normalize(once, (size_t)n, twice, sizeof(twice)) == n);
    FUZZ_CHECK(memcmp(once, twice, (size_t)n + 1) == 0);
    FUZZ_CHECK(proto_scope_subset(once, (size_t)n, scope->value, scope->len));
    FUZZ_CHECK(proto_scope_subset(scope->value, scope->len, once, (size_t)n));
}

/* Each parameter against the reference decoding of its pair, in order. */
static void fuzz_check_pairs(const uint8_t *s, size_t len, const struct proto_params *p)
{
    static uint8_t want[65536];
    size_t i = 0, k = 0;

    FUZZ_CHECK(len <= sizeof(want));
    while (i < len) {
        const uint8_t *amp = memchr(s + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - s) : len;
        const uint8_t *eq = memchr(s + i, '=', end - i);
        size_t nlen = eq ? (size_t)(eq - s) - i : end - i;
        long n;

        if (end > i) {
            FUZZ_CHECK(k < p->n);
            n = fuzz_ref_decode(s + i, nlen, want);
            FUZZ_CHECK(n >= 0 && (size_t)n == strlen(p->p[k].name));
            FUZZ_CHECK(memcmp(want, p->p[k].name, (size_t)n) == 0);
            n = eq ? fuzz_ref_decode(eq + 1, end - i - nlen - 1, want) : 0;
            FUZZ_CHECK(n >= 0 && (size_t)n == p->p[k].len && p->p[k].value[n] == '\0');
            FUZZ_CHECK(memcmp(want, p->p[k].value, (size_t)n) == 0);
            k++;
        }
        i = end + 1;
    }
    FUZZ_CHECK(k == p->n);
}

static void fuzz_form(const uint8_t *data, size_t size)
{
    struct proto_params *p = &fuzz_w.params;
    const char *dup;
    int rc = proto_form_parse((const char *)data, size, p);

    FUZZ_CHECK(rc == 0 || rc == -EINVAL);
    FUZZ_CHECK(p->n <= PROTO_PARAMS_MAX);
    FUZZ_CHECK(fuzz_w.arena.len <= fuzz_w.arena.cap);
    if (rc < 0) {
        FUZZ_CHECK(p->error != NULL && p->error[0] != '\0' && fuzz_json_safe(p->error));
        return;
    }
    fuzz_check_pairs(data, size, p);
    dup = proto_params_check_single(p, NULL);
    for (size_t i = 0; i < p->n; i++) {
        FUZZ_CHECK(dup != NULL || proto_params_get(p, p->p[i].name) == &p->p[i]);
        if (strcmp(p->p[i].name, "scope") == 0)
            fuzz_check_scope(&p->p[i]);
    }
}

static void fuzz_decode(const uint8_t *data, size_t size)
{
    static char out[65536];
    static uint8_t want[65536];
    long n, m;

    FUZZ_CHECK(size <= sizeof(out));
    n = proto_form_decode((const char *)data, size, out);
    m = fuzz_ref_decode(data, size, want);
    FUZZ_CHECK(n == (m == -2 ? -EILSEQ : m < 0 ? -EINVAL : m));
    FUZZ_CHECK(n < 0 || memcmp(out, want, (size_t)n) == 0);
}

/* --- mode 2 and 3: client authentication -------------------------------------------- */

/* What an accepted request must have sent: the client's id and secret, in the
 * Authorization header or in the parameters. */
static void fuzz_check_accepted(const struct proto_client *who, const uint8_t *auth, size_t alen,
                                bool basic)
{
    const struct proto_params *p = &fuzz_w.params;
    const struct proto_param *id = proto_params_get(p, "client_id");
    const struct proto_param *secret = proto_params_get(p, "client_secret");
    static uint8_t raw[3 * FUZZ_CRED_MAX];
    int k;

    if (basic) {
        size_t skip = 6;
        long n;

        FUZZ_CHECK(who->method == PROTO_AUTH_BASIC && secret == NULL);
        while (skip < alen && auth[skip] == ' ')
            skip++;
        n = alen - skip <= 4 * sizeof(raw) / 3 ? fuzz_ref_b64(auth + skip, alen - skip, raw) : -1;
        FUZZ_CHECK(n >= 0);
        k = fuzz_basic_client(raw, (size_t)n);
        FUZZ_CHECK(k >= 0);
        FUZZ_CHECK(id == NULL || (id->len == strlen(fuzz_clients[k].id) &&
                                  memcmp(id->value, fuzz_clients[k].id, id->len) == 0));
    } else {
        FUZZ_CHECK(who->method == PROTO_AUTH_POST && id && secret);
        k = fuzz_client_of((const uint8_t *)id->value, id->len, (const uint8_t *)secret->value,
                           secret->len);
        FUZZ_CHECK(k >= 0);
    }
    FUZZ_CHECK(strcmp(who->rec.id, fuzz_clients[k].id) == 0);
}

/* Runs the request; returns the status of the refusal, or 200 when the client was
 * authenticated. */
static int fuzz_auth_run(uint8_t flags, const uint8_t *auth, size_t alen, const uint8_t *body,
                         size_t blen)
{
    static const uint8_t peer_key[32] = {1, 2, 3};
    struct fuzz_header h[2] = {
        {"Content-Type", flags & 1 ? "application/json" : "application/x-www-form-urlencoded",
         flags & 1 ? 16 : 33},
        {"Authorization", auth, alen},
    };
    struct proto_response res = {0};
    struct proto_request req;
    struct proto_client who;
    bool basic = !(flags & 8) && alen > 6 && strncasecmp((const char *)auth, "Basic ", 6) == 0;
    char *base = fuzz_request_make(&req, h, flags & 8 ? 1 : 2, body, blen);
    int status = 200;

    fuzz_w.cfg.auth_fail_per_client = fuzz_w.cfg.auth_fail_per_address =
        fuzz_w.cfg.auth_fail_per_client_address = flags & 2 ? 0 : UINT32_MAX;
    fuzz_w.ctx.peer_key = flags & 4 ? peer_key : NULL;
    if (proto_oauth_params(&fuzz_w.ctx, &req, &res) < 0) {
        FUZZ_CHECK(res.status == 400);
    } else if (proto_client_authenticate(&fuzz_w.ctx, &req, &who, &res) < 0) {
        FUZZ_CHECK(res.status == 400 || res.status == 401 || res.status == 429);
        FUZZ_CHECK(res.status != 429 || (flags & 2));
    } else {
        /* Limits of zero refuse every request from a known address; without one, only a
         * client with a chosen secret is limited (generated secrets cannot be guessed). */
        FUZZ_CHECK(!((flags & 2) && (flags & 4)));
        fuzz_check_accepted(&who, auth, alen, basic);
    }
    if (res.status) {
        status = res.status;
        FUZZ_CHECK(res.body.len > 0 && res.body.data[res.body.len - 1] == '}');
    }
    proto_response_free(&res);
    free(base);
    return status;
}

static void fuzz_auth(const uint8_t *data, size_t size, bool encode)
{
    static char header[6 + 4 * FUZZ_CRED_MAX + 1];
    const uint8_t *body, *colon;
    size_t alen, blen;
    uint8_t flags;
    int status;

    if (size < 1)
        return;
    flags = data[0];
    fuzz_split(data + 1, size - 1, &body, &alen, &blen);
    if (!encode) {
        fuzz_auth_run(flags, data + 1, alen, body, blen);
        return;
    }
    if (alen > 3 * FUZZ_CRED_MAX)
        return;
    memcpy(header, "Basic ", 6);
    fuzz_b64_encode(data + 1, alen, header + 6);
    flags &= (uint8_t)~8;
    status = fuzz_auth_run(flags, (const uint8_t *)header, strlen(header), body, blen);
    /* The right credentials, not rate limited, each part within the limit before decoding:
     * accepted, or the request is malformed otherwise (400), never 401. */
    colon = memchr(data + 1, ':', alen);
    if (fuzz_basic_client(data + 1, alen) >= 0 && !(flags & 2) &&
        (size_t)(colon - data - 1) < FUZZ_CRED_MAX && alen - (size_t)(colon - data) < FUZZ_CRED_MAX)
        FUZZ_CHECK(status == 200 || status == 400);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    fuzz_make();
    switch (data[0] & 3) {
    case 0:
        fuzz_form(data + 1, size - 1);
        break;
    case 1:
        fuzz_decode(data + 1, size - 1);
        break;
    default:
        fuzz_auth(data + 1, size - 1, (data[0] & 3) == 3);
        break;
    }
    return 0;
}
