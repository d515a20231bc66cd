/*
 * Clients as the admin API writes and reads them (see admin.h): a JSON body parsed with
 * jansson into a validated proto_client_input, whose every refusal names the field; a
 * client record written back as JSON with proto/jsonw.h; client ids in URL paths; list
 * cursors.  Pure: the only shared memory touched is the interned string table, through
 * the ctx.  Invariant: what proto_client_parse accepts fits the record and the interned
 * table's 280-byte strings, and ids are VSCHAR, so they are safe in headers and paths.
 */
#include "autoconfig.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto/admin/admin.h"
#include "proto/jose/jwt.h"
#include "proto/jsonw.h"
#include "proto/oauth/scope.h"
#include "proto/oauth/secret.h"
#include "shm/intern.h"
#include "shm/scope.h"

typedef int (*cj_field_fn)(json_t *v, const char *field, struct proto_client_input *in, char *why);

__attribute__((format(printf, 2, 3))) static int cj_fail(char *why, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, PROTO_CLIENT_WHY_MAX, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* Request text quoted in an error: printable ASCII only, and short. */
static void cj_quote(const char *s, char out[48])
{
    size_t i;

    for (i = 0; s[i] && i < 40; i++)
        out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    if (s[i])
        out[i++] = '.', out[i++] = '.', out[i++] = '.';
    out[i] = '\0';
}

/* Audiences are URIs or names: visible ASCII, no space (the list separator). */
static bool cj_audience_char(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e;
}

/* A JSON array of tokens into space-delimited text, each token once, at most
 * PROTO_SCOPE_MAX bytes in all. */
static int cj_list(json_t *v, const char *field, bool (*ok)(unsigned char),
                   char out[PROTO_SCOPE_MAX + 1], char *why)
{
    size_t o = 0;

    if (!json_is_array(v))
        return cj_fail(why, "%s must be an array of strings", field);
    out[0] = '\0';
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *e = json_array_get(v, i);
        const char *s = json_string_value(e);
        size_t n = json_string_length(e);

        if (s == NULL || n == 0)
            return cj_fail(why, "%s[%zu] must be a non-empty string", field, i);
        for (size_t k = 0; k < n; k++)
            if (!ok((unsigned char)s[k]))
                return cj_fail(why, "%s[%zu] holds a character that is not allowed%s", field, i,
                               ok == proto_scope_char_ok ? " (RFC 6749 section 3.3)" : "");
        if (proto_scope_has(out, o, s, n))
            continue;
        if (o + (o ? 1 : 0) + n > PROTO_SCOPE_MAX)
            return cj_fail(why, "%s is longer than %d bytes when joined by spaces", field,
                           PROTO_SCOPE_MAX);
        if (o)
            out[o++] = ' ';
        memcpy(out + o, s, n);
        o += n;
        out[o] = '\0';
    }
    return 0;
}

static int cj_scopes(json_t *v, const char *field, struct proto_client_input *in, char *why)
{
    return cj_list(v, field, proto_scope_char_ok, in->scopes, why);
}

static int cj_default_scopes(json_t *v, const char *field, struct proto_client_input *in, char *why)
{
    in->has_default_scopes = true;
    return cj_list(v, field, proto_scope_char_ok, in->default_scopes, why);
}

static int cj_audiences(json_t *v, const char *field, struct proto_client_input *in, char *why)
{
    return cj_list(v, field, cj_audience_char, in->audiences, why);
}

bool proto_client_id_valid(const char *s, size_t len)
{
    if (len == 0 || len >= SHM_CLIENT_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return false;
    return true;
}

static int cj_id(json_t *v, const char *field, struct proto_client_input *in, char *why)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);

    if (s == NULL)
        return cj_fail(why, "%s must be a string", field);
    if (!proto_client_id_valid(s, n))
        return cj_fail(why, "%s must be 1 to %d characters of %%x20-7E", field,
                       SHM_CLIENT_ID_MAX - 1);
    memcpy(in->id, s, n + 1);
    return 0;
}

/* C0 controls, DEL, and C1 controls (U+0080-U+009F, UTF-8 C2 80-9F). */
static bool cj_has_control(const char *s, size_t n)
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

static int cj_secret(json_t *v, const char *field, struct proto_client_input *in, char *why)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);

    if (s == NULL)
        return cj_fail(why, "%s must be a string", field);
    if (n == 0 || n > PROTO_CLIENT_SECRET_MAX || cj_has_control(s, n))
        return cj_fail(why, "%s must be 1 to %d bytes of UTF-8 without control characters", field,
                       PROTO_CLIENT_SECRET_MAX);
    memcpy(in->secret, s, n + 1);
    in->secret_len = n;
    in->has_secret = true;
    return 0;
}

static int cj_name(json_t *v, const char *field, struct proto_client_input *in, char *why)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);

    if (s == NULL)
        return cj_fail(why, "%s must be a string", field);
    if (n >= SHM_CLIENT_NAME_MAX || cj_has_control(s, n))
        return cj_fail(why, "%s must be at most %d bytes of UTF-8 without control characters",
                       field, SHM_CLIENT_NAME_MAX - 1);
    memcpy(in->name, s, n + 1);
    return 0;
}

static int cj_grant_types(json_t *v, const char *field, struct proto_client_input *in, char *why)
{
    if (!json_is_array(v))
        return cj_fail(why, "%s must be an array of strings", field);
    if (json_array_size(v) == 0)
        return cj_fail(why, "%s must name at least one grant type", field);
    in->grant_types = 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        const char *s = json_string_value(json_array_get(v, i));

        if (s && strcmp(s, "client_credentials") == 0)
            in->grant_types |= PROTO_GRANT_CLIENT_CREDENTIALS;
        else if (s && strcmp(s, "refresh_token") == 0)
            in->grant_types |= PROTO_GRANT_REFRESH_TOKEN;
        else
            return cj_fail(why, "%s[%zu] must be \"client_credentials\" or \"refresh_token\"",
                           field, i);
    }
    return 0;
}

static int cj_token_format(json_t *v, const char *field, struct proto_client_input *in, char *why)
{
    const char *s = json_string_value(v);

    if (s && strcmp(s, "opaque") == 0)
        in->token_format = PROTO_FORMAT_OPAQUE;
    else if (s && strcmp(s, "jwt") == 0)
        in->token_format = PROTO_FORMAT_JWT;
    else
        return cj_fail(why, "%s must be \"opaque\" or \"jwt\"", field);
    return 0;
}

static int cj_jwt_alg(json_t *v, const char *field, struct proto_client_input *in, char *why)
{
    const char *s = json_string_value(v);
    int alg = s ? proto_jwt_alg_parse(s) : -EINVAL;

    if (alg < 0)
        return cj_fail(why, "%s must be \"ES256\", \"EdDSA\" or \"RS256\"", field);
    in->jwt_alg = (uint32_t)alg;
    return 0;
}

static int cj_ttl(json_t *v, const char *field, uint32_t *out, char *why)
{
    json_int_t n = json_integer_value(v);

    if (!json_is_integer(v) || n < 1 || n > PROTO_CLIENT_TTL_MAX)
        return cj_fail(why, "%s must be a whole number of seconds from 1 to %d", field,
                       PROTO_CLIENT_TTL_MAX);
    *out = (uint32_t)n;
    return 0;
}

static int cj_access_ttl(json_t *v, const char *field, struct proto_client_input *in, char *why)
{
    return cj_ttl(v, field, &in->access_ttl, why);
}

static int cj_max_ttl(json_t *v, const char *field, struct proto_client_input *in, char *why)
{
    return cj_ttl(v, field, &in->max_access_ttl, why);
}

static int cj_refresh_ttl(json_t *v, const char *field, struct proto_client_input *in, char *why)
{
    return cj_ttl(v, field, &in->refresh_ttl, why);
}

static int cj_can_introspect(json_t *v, const char *field, struct proto_client_input *in, char *why)
{
    if (!json_is_boolean(v))
        return cj_fail(why, "%s must be true or false", field);
    in->flags = json_is_true(v) ? in->flags | PROTO_CLIENT_CAN_INTROSPECT
                                : in->flags & ~(uint32_t)PROTO_CLIENT_CAN_INTROSPECT;
    return 0;
}

static int cj_max_live(json_t *v, const char *field, struct proto_client_input *in, char *why)
{
    json_int_t n = json_integer_value(v);

    if (!json_is_integer(v) || n < 1 || n > PROTO_CLIENT_LIVE_MAX)
        return cj_fail(why, "%s must be a whole number from 1 to %d (or null: the server's)", field,
                       PROTO_CLIENT_LIVE_MAX);
    in->max_live_tokens = (uint32_t)n;
    return 0;
}

/* Read-only fields of a GET answer: accepted so that it can be PUT back, then ignored. */
static int cj_read_only(json_t *v, const char *field, struct proto_client_input *in, char *why)
{
    if (!json_is_integer(v))
        return cj_fail(why, "%s must be a number (it is ignored)", field);
    return 0;
}

static const struct cj_field {
    const char *name;
    cj_field_fn parse;
} cj_fields[] = {
    {"client_id", cj_id},
    {"client_secret", cj_secret},
    {"name", cj_name},
    {"scopes", cj_scopes},
    {"default_scopes", cj_default_scopes},
    {"audiences", cj_audiences},
    {"grant_types", cj_grant_types},
    {"token_format", cj_token_format},
    {"jwt_alg", cj_jwt_alg},
    {"access_token_ttl", cj_access_ttl},
    {"max_access_token_ttl", cj_max_ttl},
    {"refresh_token_ttl", cj_refresh_ttl},
    {"can_introspect", cj_can_introspect},
    {"max_live_tokens", cj_max_live},
    {"created_at", cj_read_only},
    {"updated_at", cj_read_only},
};

static int cj_member(const char *name, json_t *v, struct proto_client_input *in, char *why)
{
    char quoted[48];

    for (size_t i = 0; i < sizeof(cj_fields) / sizeof(cj_fields[0]); i++) {
        if (strcmp(name, cj_fields[i].name) != 0)
            continue;
        return json_is_null(v) ? 0 : cj_fields[i].parse(v, cj_fields[i].name, in, why);
    }
    cj_quote(name, quoted);
    return cj_fail(why, "unknown field \"%s\"", quoted);
}

static void cj_defaults(struct proto_client_input *in, uint32_t default_access_ttl)
{
    memset(in, 0, sizeof(*in));
    in->grant_types = PROTO_GRANT_CLIENT_CREDENTIALS;
    in->token_format = PROTO_FORMAT_OPAQUE;
    in->jwt_alg = PROTO_JWT_ES256;
    in->access_ttl = default_access_ttl;
}

/* The checks that involve more than one field. */
static int cj_finish(struct proto_client_input *in, char *why)
{
    if (!in->has_default_scopes)
        memcpy(in->default_scopes, in->scopes, sizeof(in->scopes));
    else if (!proto_scope_subset(in->default_scopes, strlen(in->default_scopes), in->scopes,
                                 strlen(in->scopes)))
        return cj_fail(why, "default_scopes must be a subset of scopes");
    if (in->max_access_ttl && in->max_access_ttl < in->access_ttl)
        return cj_fail(why, "max_access_token_ttl must be at least access_token_ttl (%u)",
                       in->access_ttl);
    return 0;
}

int proto_client_parse(const char *body, size_t len, uint32_t default_access_ttl,
                       struct proto_client_input *in, char *why)
{
    json_error_t jerr;
    json_t *root;
    const char *what;
    char quoted[48];
    int rc = 0;

    cj_defaults(in, default_access_ttl);
    root = proto_json_load(body, len, &what, &jerr);
    if (root == NULL) {
        cj_quote(jerr.text, quoted);
        return cj_fail(why, "%s: %s", what, quoted);
    }
    if (!json_is_object(root)) {
        rc = cj_fail(why, "the body must be a JSON object");
        goto done;
    }
    for (void *it = json_object_iter(root); it; it = json_object_iter_next(root, it)) {
        rc = cj_member(json_object_iter_key(it), json_object_iter_value(it), in, why);
        if (rc < 0)
            goto done;
    }
    rc = cj_finish(in, why);
done:
    json_decref(root);
    return rc;
}

int proto_client_build(const struct proto_ctx *ctx, const struct proto_client_input *in,
                       struct shm_client *out)
{
    struct shm_region *r = ctx->region;
    char base[PROTO_SCOPE_MAX + 1];
    int n = shm_scope_canon(in->scopes, strlen(in->scopes), base, sizeof(base));
    int64_t scopes = shm_intern_put(r, in->scopes, strlen(in->scopes), ctx->owner);
    int64_t defaults =
        shm_intern_put(r, in->default_scopes, strlen(in->default_scopes), ctx->owner);
    int64_t audiences = shm_intern_put(r, in->audiences, strlen(in->audiences), ctx->owner);
    /* The same string as scopes (no new one) when the list was given sorted. */
    int64_t scope_base = n < 0 ? -EINVAL : shm_intern_put(r, base, (size_t)n, ctx->owner);

    if (scopes < 0 || defaults < 0 || audiences < 0 || scope_base < 0)
        return -ENOSPC;
    memcpy(out->name, in->name, sizeof(out->name));
    out->scopes = (uint32_t)scopes;
    out->default_scopes = (uint32_t)defaults;
    out->audiences = (uint32_t)audiences;
    out->scope_base = (uint32_t)scope_base;
    out->grant_types = in->grant_types;
    out->flags = in->flags;
    out->token_format = in->token_format;
    out->jwt_alg = in->jwt_alg;
    out->access_ttl = in->access_ttl;
    out->max_access_ttl = in->max_access_ttl;
    out->refresh_ttl = in->refresh_ttl;
    out->max_live_tokens = in->max_live_tokens;
    return 0;
}

static int cj_write_grants(struct proto_buf *b, uint32_t grants)
{
    int rc = proto_jsonw_kv_raw(b, "grant_types", "[");

    if (rc == 0 && (grants & PROTO_GRANT_CLIENT_CREDENTIALS))
        rc = proto_buf_append_str(b, "\"client_credentials\"");
    if (rc == 0 && (grants & PROTO_GRANT_REFRESH_TOKEN))
        rc = proto_buf_append_str(b, grants & PROTO_GRANT_CLIENT_CREDENTIALS ? ",\"refresh_token\""
                                                                             : "\"refresh_token\"");
    return rc == 0 ? proto_buf_append(b, "]", 1) : -ENOMEM;
}

int proto_client_json(const struct proto_ctx *ctx, const struct shm_client *c, struct proto_buf *b)
{
    char text[PROTO_SCOPE_MAX + 1];
    const char *format = c->token_format == PROTO_FORMAT_JWT ? "jwt" : "opaque";
    const char *alg = proto_jwt_alg_name((int)c->jwt_alg);
    int rc = 0;

    rc |= proto_jsonw_kv_str(b, "client_id", c->id, strnlen(c->id, sizeof(c->id)));
    rc |= proto_jsonw_kv_str(b, "name", c->name, strnlen(c->name, sizeof(c->name)));
    rc |= proto_scope_list_json(b, "scopes", proto_interned(ctx, c->scopes, text, sizeof(text)));
    rc |= proto_scope_list_json(b, "default_scopes",
                                proto_interned(ctx, c->default_scopes, text, sizeof(text)));
    rc |= proto_scope_list_json(b, "audiences",
                                proto_interned(ctx, c->audiences, text, sizeof(text)));
    rc |= cj_write_grants(b, c->grant_types);
    rc |= proto_jsonw_kv_str(b, "token_format", format, strlen(format));
    rc |= proto_jsonw_kv_str(b, "jwt_alg", alg, strlen(alg));
    rc |= proto_jsonw_kv_int(b, "access_token_ttl", c->access_ttl);
    /* The effective values: 0 means "as access_token_ttl" and "the server's default". */
    rc |= proto_jsonw_kv_int(b, "max_access_token_ttl",
                             c->max_access_ttl ? c->max_access_ttl : c->access_ttl);
    rc |= proto_jsonw_kv_int(b, "refresh_token_ttl",
                             c->refresh_ttl ? c->refresh_ttl : ctx->cfg->default_refresh_ttl);
    rc |= proto_jsonw_kv_bool(b, "can_introspect", (c->flags & PROTO_CLIENT_CAN_INTROSPECT) != 0);
    /* Its own limit, or null: it follows tokens.max_live_per_client (so a GET PUT back
     * does not pin today's default on it). */
    rc |= c->max_live_tokens ? proto_jsonw_kv_int(b, "max_live_tokens", c->max_live_tokens)
                             : proto_jsonw_kv_raw(b, "max_live_tokens", "null");
    rc |= proto_jsonw_kv_int(b, "created_at", c->created);
    rc |= proto_jsonw_kv_int(b, "updated_at", c->updated);
    return rc ? -ENOMEM : 0;
}

int proto_client_path_parse(const char *rest, size_t len, char id[SHM_CLIENT_ID_MAX],
                            const char **suffix, size_t *suffix_len)
{
    const char *slash = memchr(rest, '/', len);
    size_t n = slash ? (size_t)(slash - rest) : len, o = 0;

    if (n == 0)
        return -ENOENT;
    for (size_t i = 0; i < n; i++) {
        char c = rest[i];

        if (o == SHM_CLIENT_ID_MAX - 1)
            return -EINVAL;
        if (c == '%') {
            if (i + 2 >= n || proto_hex_value(rest[i + 1]) < 0 || proto_hex_value(rest[i + 2]) < 0)
                return -EINVAL;
            c = (char)(proto_hex_value(rest[i + 1]) << 4 | proto_hex_value(rest[i + 2]));
            i += 2;
        }
        id[o++] = c;
    }
    id[o] = '\0';
    if (!proto_client_id_valid(id, o))
        return -EINVAL;
    *suffix = slash ? slash + 1 : NULL;
    *suffix_len = slash ? len - n - 1 : 0;
    return 0;
}

int proto_client_path_encode(const char *id, struct proto_buf *b)
{
    static const char hex[] = "0123456789ABCDEF";

    for (const char *p = id; *p; p++) {
        unsigned char c = (unsigned char)*p;
        char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
        bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '.' || c == '_' || c == '~';

        if (proto_buf_append(b, plain ? (const char *)p : esc, plain ? 1 : 3) < 0)
            return -ENOMEM;
    }
    return 0;
}

void proto_client_cursor_encode(uint64_t slot, char out[PROTO_CLIENT_CURSOR_MAX])
{
    uint8_t raw[8];

    for (int i = 0; i < 8; i++)
        raw[i] = (uint8_t)(slot >> (56 - 8 * i));
    proto_b64url_encode(raw, sizeof(raw), out);
}

int proto_client_cursor_decode(const char *s, size_t len, uint64_t *slot)
{
    uint8_t raw[8];

    if (len != 11 || proto_b64url_decode(s, len, raw, sizeof(raw)) != 8)
        return -EINVAL;
    *slot = 0;
    for (int i = 0; i < 8; i++)
        *slot = *slot << 8 | raw[i];
    return 0;
}
