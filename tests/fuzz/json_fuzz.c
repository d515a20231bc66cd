/*
 * Fuzz target of JSON request parameters (proto/oauth/params.c's JSON path: Aidbox-style bodies
 * of the token, introspection and revocation endpoints, read before the caller is
 * authenticated).  Byte 0, bit 0: the body goes through proto_oauth_params() with
 * Content-Type application/json (which also refuses repeated parameters), else straight
 * to proto_json_params_parse().  The rest is the body.
 *
 * Invariants: 0 or -EINVAL with a description that fits a JSON string unescaped; at most
 * PROTO_PARAMS_MAX parameters, each NUL-terminated at its length inside the part of the
 * arena the parser reserved; each parameter is what a second parse of the body says its
 * member is (a string as it is, an integer in decimal, scope's array of strings joined by
 * single spaces); and the parameters, form-encoded, come back the same from the form
 * path.
 */
#include "autoconfig.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "proto/oauth/client_auth.h"
#include "proto/oauth/client_policy.h"
#include "proto/oauth/oauth.h"
#include "proto/oauth/scope.h"
#include "proto/oauth/tokens.h"
#include "proto/oauth/params.h"
#include "proto/http/response.h"
#include "tests/fuzz/ctx.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_BODY_MAX 65536

static struct fuzz_worker fuzz_w;
static bool fuzz_made;

/* The member v of the body as parameter text into out (cap bytes); its length or -1 when
 * the member is no parameter (which fails the parse). */
static long fuzz_member_text(const char *name, json_t *v, char *out, size_t cap)
{
    size_t len = 0, i;
    json_t *e;

    if (json_is_string(v)) {
        len = json_string_length(v);
        FUZZ_CHECK(len < cap);
        memcpy(out, json_string_value(v), len);
        return (long)len;
    }
    if (json_is_integer(v))
        return snprintf(out, cap, "%lld", (long long)json_integer_value(v));
    if (!json_is_array(v) || strcmp(name, "scope") != 0)
        return -1;
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e))
            return -1;
        FUZZ_CHECK(len + 1 + json_string_length(e) < cap);
        if (i)
            out[len++] = ' ';
        memcpy(out + len, json_string_value(e), json_string_length(e));
        len += json_string_length(e);
    }
    return (long)len;
}

/* The parameters against a second parse of the body: same names, same values. */
static void fuzz_check_members(const uint8_t *body, size_t len, const struct proto_params *p)
{
    static char want[2 * FUZZ_BODY_MAX];
    json_t *root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, NULL), *v;
    const char *name;
    size_t k = 0;

    FUZZ_CHECK(root != NULL && json_is_object(root));
    json_object_foreach(root, name, v)
    {
        const struct proto_param *got = proto_params_get(p, name);
        long n = fuzz_member_text(name, v, want, sizeof(want));

        FUZZ_CHECK(n >= 0 && got != NULL && got->len == (size_t)n);
        FUZZ_CHECK(memcmp(got->value, want, (size_t)n) == 0 && got->value[n] == '\0');
        k++;
    }
    FUZZ_CHECK(k == p->n);
    json_decref(root);
}

/* Every parameter inside what params_begin() reserved: the values are never bounds-checked
 * one by one, so the reservation must cover them all. */
static void fuzz_check_arena(size_t body_len, const struct proto_params *p)
{
    const struct proto_buf *a = &fuzz_w.arena;
    size_t reserved = 2 * body_len + 64 + 2 * PROTO_PARAMS_MAX + 2;

    FUZZ_CHECK(a->len <= reserved && a->len <= a->cap);
    for (size_t i = 0; i < p->n; i++) {
        const struct proto_param *q = &p->p[i];

        FUZZ_CHECK(q->name >= a->data && q->name + strlen(q->name) < a->data + a->len);
        FUZZ_CHECK(q->value >= a->data && q->value + q->len < a->data + a->len);
        FUZZ_CHECK(q->value[q->len] == '\0');
    }
}

static size_t fuzz_form_encode(const char *s, size_t len, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out[o++] = (char)c;
        } else if (c == ' ') {
            out[o++] = '+';
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    return o;
}

/* The same parameters sent as a form. */
static void fuzz_check_form(const struct proto_params *p)
{
    static char form[6 * FUZZ_BODY_MAX + 4 * PROTO_PARAMS_MAX];
    static struct proto_buf arena;
    struct proto_params back = {.arena = &arena};
    size_t o = 0;

    for (size_t i = 0; i < p->n; i++) {
        if (i)
            form[o++] = '&';
        o += fuzz_form_encode(p->p[i].name, strlen(p->p[i].name), form + o);
        form[o++] = '=';
        o += fuzz_form_encode(p->p[i].value, p->p[i].len, form + o);
    }
    FUZZ_CHECK(proto_form_parse(form, o, &back) == 0);
    FUZZ_CHECK(back.n == p->n);
    for (size_t i = 0; i < p->n; i++) {
        FUZZ_CHECK(strcmp(back.p[i].name, p->p[i].name) == 0 && back.p[i].len == p->p[i].len);
        FUZZ_CHECK(memcmp(back.p[i].value, p->p[i].value, p->p[i].len) == 0);
    }
}

/* Through proto_oauth_params(), as the endpoints call it; 0 or -1. */
static int fuzz_oauth(const uint8_t *body, size_t len)
{
    static const char type[] = "application/json; charset=utf-8";
    const struct fuzz_header h = {"Content-Type", type, sizeof(type) - 1};
    struct proto_response res = {0};
    struct proto_request req;
    char *base = fuzz_request_make(&req, &h, 1, body, len);
    int rc = proto_oauth_params(&fuzz_w.ctx, &req, &res);

    FUZZ_CHECK(rc == 0 ? res.status == 0 : res.status == 400);
    proto_response_free(&res);
    free(base);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proto_params *p = &fuzz_w.params;
    int rc;

    if (size < 1 || size > FUZZ_BODY_MAX)
        return 0;
    if (!fuzz_made) {
        fuzz_worker_init(&fuzz_w, 64);
        fuzz_made = true;
    }
    if (data[0] & 1) {
        /* Its only refusal of its own, a repeated name, cannot happen in JSON: every
         * refusal is the parser's, with p->error. */
        rc = fuzz_oauth(data + 1, size - 1);
    } else {
        rc = proto_json_params_parse((const char *)data + 1, size - 1, p);
        FUZZ_CHECK(rc == 0 || rc == -EINVAL);
    }
    FUZZ_CHECK(p->n <= PROTO_PARAMS_MAX);
    if (rc < 0) {
        FUZZ_CHECK(p->error != NULL && p->error[0] != '\0' && fuzz_json_safe(p->error));
        return 0;
    }
    FUZZ_CHECK(p->error == NULL);
    fuzz_check_arena(size - 1, p);
    fuzz_check_members(data + 1, size - 1, p);
    fuzz_check_form(p);
    return 0;
}
