/*
 * Fuzz target of the admin API's client documents (proto/admin/client_json.c).  Byte 0 picks
 * the mode (modulo 3); the rest is the input:
 *   0  a body for proto_client_parse().  What it accepts fits a client record (id VSCHAR,
 *      secret and lists within their limits, each list token once and of its allowed
 *      characters, default scopes a subset of scopes, lifetimes in range); a refusal's
 *      description is printable ASCII and comes back from jansson as it went into an
 *      answer.  An accepted client is built into the region (proto_client_build interns
 *      its lists), written with proto_client_json(), and that document parses to the same
 *      client (a GET answer can be PUT back);
 *   1  what follows "/admin/clients/" in a path, for proto_client_path_parse(): an id that
 *      parses is valid, and its proto_client_path_encode() parses to the same id;
 *   2  a list cursor for proto_client_cursor_decode(): one that decodes is the one
 *      proto_client_cursor_encode() writes for its slot.
 */
#include "autoconfig.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "proto/admin/admin.h"
#include "proto/oauth/client_policy.h"
#include "proto/oauth/scope.h"
#include "proto/jsonw.h"
#include "proto/jose/jwt.h"
#include "tests/fuzz/ctx.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_DEFAULT_TTL 3600

static struct fuzz_worker fuzz_w;
static bool fuzz_made;

static bool fuzz_scope_char(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

static bool fuzz_audience_char(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e;
}

/* A list as proto_client_input holds one: tokens of allowed characters, single spaces,
 * each token once, at most PROTO_SCOPE_MAX bytes. */
static void fuzz_check_list(const char *s, bool (*ok)(unsigned char))
{
    size_t len = strlen(s);

    FUZZ_CHECK(len <= PROTO_SCOPE_MAX);
    FUZZ_CHECK(len == 0 || (s[0] != ' ' && s[len - 1] != ' '));
    FUZZ_CHECK(strstr(s, "  ") == NULL);
    for (size_t i = 0; i < len;) {
        const char *sp = memchr(s + i, ' ', len - i);
        size_t j = sp ? (size_t)(sp - s) : len;

        for (size_t k = i; k < j; k++)
            FUZZ_CHECK(ok((unsigned char)s[k]));
        /* Not repeated later on. */
        for (size_t m = j + 1; m < len;) {
            const char *sp2 = memchr(s + m, ' ', len - m);
            size_t e = sp2 ? (size_t)(sp2 - s) : len;

            FUZZ_CHECK(e - m != j - i || memcmp(s + m, s + i, j - i) != 0);
            m = e + 1;
        }
        i = j + 1;
    }
}

static bool fuzz_has_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c == 0x7f ||
            (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
             (unsigned char)s[i + 1] <= 0x9f))
            return true;
    }
    return false;
}

static void fuzz_check_ttl(uint32_t v, bool zero_ok)
{
    FUZZ_CHECK((zero_ok && v == 0) || (v >= 1 && v <= PROTO_CLIENT_TTL_MAX));
}

static void fuzz_check_input(const struct proto_client_input *in)
{
    size_t idlen = strnlen(in->id, sizeof(in->id));

    FUZZ_CHECK(idlen < sizeof(in->id));
    FUZZ_CHECK(idlen == 0 || proto_client_id_valid(in->id, idlen));
    FUZZ_CHECK(in->has_secret == (in->secret_len > 0));
    FUZZ_CHECK(in->secret_len <= PROTO_CLIENT_SECRET_MAX && in->secret[in->secret_len] == '\0');
    FUZZ_CHECK(!fuzz_has_control(in->secret, in->secret_len));
    FUZZ_CHECK(strnlen(in->name, sizeof(in->name)) < sizeof(in->name));
    FUZZ_CHECK(!fuzz_has_control(in->name, strlen(in->name)));
    fuzz_check_list(in->scopes, fuzz_scope_char);
    fuzz_check_list(in->default_scopes, fuzz_scope_char);
    fuzz_check_list(in->audiences, fuzz_audience_char);
    FUZZ_CHECK(proto_scope_subset(in->default_scopes, strlen(in->default_scopes), in->scopes,
                                  strlen(in->scopes)));
    FUZZ_CHECK(in->grant_types != 0 &&
               (in->grant_types &
                ~(uint32_t)(PROTO_GRANT_CLIENT_CREDENTIALS | PROTO_GRANT_REFRESH_TOKEN)) == 0);
    FUZZ_CHECK((in->flags & ~(uint32_t)PROTO_CLIENT_CAN_INTROSPECT) == 0);
    FUZZ_CHECK(in->token_format == PROTO_FORMAT_OPAQUE || in->token_format == PROTO_FORMAT_JWT);
    FUZZ_CHECK(in->jwt_alg <= PROTO_JWT_RS256);
    fuzz_check_ttl(in->access_ttl, false);
    fuzz_check_ttl(in->max_access_ttl, true);
    fuzz_check_ttl(in->refresh_ttl, true);
    FUZZ_CHECK(in->max_access_ttl == 0 || in->max_access_ttl >= in->access_ttl);
}

/* A refusal's description, written as the admin API writes it, reads back the same. */
static void fuzz_check_why(const char *why)
{
    struct proto_buf b = {0};
    json_t *root, *v;

    FUZZ_CHECK(strnlen(why, PROTO_CLIENT_WHY_MAX) < PROTO_CLIENT_WHY_MAX && why[0] != '\0');
    for (const char *s = why; *s; s++)
        FUZZ_CHECK(*s >= 0x20 && *s < 0x7f);
    FUZZ_CHECK(proto_buf_append(&b, "{", 1) == 0);
    FUZZ_CHECK(proto_jsonw_kv_str(&b, "error_description", why, strlen(why)) == 0);
    FUZZ_CHECK(proto_buf_append(&b, "}", 1) == 0);
    root = json_loadb(b.data, b.len, 0, NULL);
    v = json_object_get(root, "error_description");
    FUZZ_CHECK(json_is_string(v) && strcmp(json_string_value(v), why) == 0);
    json_decref(root);
    proto_buf_free(&b);
}

/* Builds the client into the region; a full interned table is emptied and the build
 * retried, which must then succeed: every list fits an interned string. */
static void fuzz_build(const struct proto_client_input *in, struct shm_client *c)
{
    memset(c, 0, sizeof(*c));
    memcpy(c->id, in->id[0] ? in->id : "generated-id", in->id[0] ? sizeof(c->id) : 13);
    c->created = FUZZ_NOW - 10;
    c->updated = FUZZ_NOW;
    if (proto_client_build(&fuzz_w.ctx, in, c) == -ENOSPC) {
        fuzz_table_clear(&fuzz_w, fuzz_w.region.intern);
        atomic_store_explicit(&fuzz_w.region.intern_budget->used, 0, memory_order_relaxed);
        FUZZ_CHECK(proto_client_build(&fuzz_w.ctx, in, c) == 0);
    }
}

/* What parsing the written client gives, against what was parsed: the same but for the
 * secret (never written), the default scopes now explicit and the lifetimes written as
 * their effective values. */
static void fuzz_check_round_trip(const struct proto_client_input *a,
                                  const struct proto_client_input *b, const char *id)
{
    FUZZ_CHECK(strcmp(b->id, id) == 0 && !b->has_secret);
    FUZZ_CHECK(strcmp(a->name, b->name) == 0);
    FUZZ_CHECK(strcmp(a->scopes, b->scopes) == 0);
    FUZZ_CHECK(strcmp(a->default_scopes, b->default_scopes) == 0 && b->has_default_scopes);
    FUZZ_CHECK(strcmp(a->audiences, b->audiences) == 0);
    FUZZ_CHECK(a->grant_types == b->grant_types && a->flags == b->flags);
    FUZZ_CHECK(a->token_format == b->token_format && a->jwt_alg == b->jwt_alg);
    FUZZ_CHECK(a->access_ttl == b->access_ttl);
    FUZZ_CHECK(b->max_access_ttl == (a->max_access_ttl ? a->max_access_ttl : a->access_ttl));
    FUZZ_CHECK(b->refresh_ttl ==
               (a->refresh_ttl ? a->refresh_ttl : fuzz_w.cfg.default_refresh_ttl));
}

static void fuzz_body(const uint8_t *data, size_t size)
{
    static struct proto_client_input in, back;
    struct proto_buf doc = {0};
    struct shm_client c;
    char why[PROTO_CLIENT_WHY_MAX];
    int rc;

    memset(why, 0, sizeof(why));
    rc = proto_client_parse((const char *)data, size, FUZZ_DEFAULT_TTL, &in, why);
    FUZZ_CHECK(rc == 0 || rc == -EINVAL);
    if (rc < 0) {
        fuzz_check_why(why);
        return;
    }
    fuzz_check_input(&in);
    fuzz_build(&in, &c);
    FUZZ_CHECK(proto_buf_append(&doc, "{", 1) == 0);
    FUZZ_CHECK(proto_client_json(&fuzz_w.ctx, &c, &doc) == 0);
    FUZZ_CHECK(proto_buf_append(&doc, "}", 1) == 0);
    rc = proto_client_parse(doc.data, doc.len, FUZZ_DEFAULT_TTL, &back, why);
    if (rc != 0)
        fprintf(stderr, "%.*s\n%s\n", (int)doc.len, doc.data, why);
    FUZZ_CHECK(rc == 0);
    fuzz_check_round_trip(&in, &back, c.id);
    proto_buf_free(&doc);
    /* The next input finds the interned table as this one did. */
    fuzz_table_clear(&fuzz_w, fuzz_w.region.intern);
}

static void fuzz_path(const uint8_t *data, size_t size)
{
    char id[SHM_CLIENT_ID_MAX], again[SHM_CLIENT_ID_MAX];
    const char *suffix, *rest = (const char *)data;
    size_t suffix_len;
    struct proto_buf b = {0};
    int rc = proto_client_path_parse(rest, size, id, &suffix, &suffix_len);

    FUZZ_CHECK(rc == 0 || rc == -ENOENT || rc == -EINVAL);
    if (rc < 0)
        return;
    FUZZ_CHECK(proto_client_id_valid(id, strlen(id)));
    if (suffix) {
        FUZZ_CHECK(suffix > rest && suffix[-1] == '/' && suffix + suffix_len == rest + size);
        FUZZ_CHECK(memchr(rest, '/', (size_t)(suffix - rest - 1)) == NULL);
    } else {
        FUZZ_CHECK(suffix_len == 0 && memchr(rest, '/', size) == NULL);
    }
    FUZZ_CHECK(proto_client_path_encode(id, &b) == 0);
    for (size_t i = 0; i < b.len; i++)
        FUZZ_CHECK(b.data[i] != '/' && b.data[i] > 0x20 && b.data[i] < 0x7f);
    FUZZ_CHECK(proto_client_path_parse(b.data, b.len, again, &suffix, &suffix_len) == 0);
    FUZZ_CHECK(strcmp(id, again) == 0 && suffix == NULL);
    proto_buf_free(&b);
}

static void fuzz_cursor(const uint8_t *data, size_t size)
{
    char text[PROTO_CLIENT_CURSOR_MAX];
    uint64_t slot;

    if (proto_client_cursor_decode((const char *)data, size, &slot) < 0)
        return;
    proto_client_cursor_encode(slot, text);
    FUZZ_CHECK(strlen(text) == size && memcmp(text, data, size) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    if (!fuzz_made) {
        fuzz_worker_init(&fuzz_w, 64);
        fuzz_made = true;
    }
    switch (data[0] % 3) {
    case 0:
        fuzz_body(data + 1, size - 1);
        break;
    case 1:
        fuzz_path(data + 1, size - 1);
        break;
    default:
        fuzz_cursor(data + 1, size - 1);
        break;
    }
    return 0;
}
