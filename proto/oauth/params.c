/*
 * Parameter decoding for the OAuth endpoints (see params.h).  Pure; jansson parses JSON.
 * Limits: PROTO_PARAMS_MAX parameters; the body limit of the HTTP layer bounds the rest.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "proto/oauth/params.h"

int proto_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -EINVAL;
}

/* A decoded NUL is refused here, where every form-encoded text passes (bodies, query
 * strings, Basic credentials): handlers compare values as C strings, so
 * "client_credentials%00garbage" would otherwise pass for "client_credentials". */
long proto_form_decode(const char *s, size_t len, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%') {
            int hi, lo;

            if (i + 2 >= len)
                return -EINVAL;
            hi = proto_hex_value(s[i + 1]);
            lo = proto_hex_value(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -EINVAL;
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
        if (out[o - 1] == '\0')
            return -EILSEQ;
    }
    return (long)o;
}

#define PARAMS_NUL "a parameter holds a NUL byte"

static int params_fail(struct proto_params *p, const char *why)
{
    p->error = why;
    return -EINVAL;
}

/* Reserves the arena so pointers into it stay valid while values are added. */
static int params_begin(struct proto_params *p, size_t len)
{
    p->n = 0;
    p->error = NULL;
    proto_buf_reset(p->arena);
    if (proto_buf_reserve(p->arena, len + 2 * PROTO_PARAMS_MAX + 2) < 0)
        return params_fail(p, "out of memory");
    return 0;
}

/* Appends bytes to the reserved arena with a NUL; returns where they start. */
static char *params_store(struct proto_params *p, const char *s, size_t len)
{
    char *at = p->arena->data + p->arena->len;

    memcpy(at, s, len);
    at[len] = '\0';
    p->arena->len += len + 1;
    return at;
}

static int params_add_form(struct proto_params *p, const char *s, size_t len)
{
    const char *eq = memchr(s, '=', len);
    size_t nlen = eq ? (size_t)(eq - s) : len;
    char *name = p->arena->data + p->arena->len, *value;
    long n;

    if (p->n == PROTO_PARAMS_MAX)
        return params_fail(p, "too many parameters");
    n = proto_form_decode(s, nlen, name);
    if (n < 0)
        return params_fail(p, n == -EILSEQ ? PARAMS_NUL
                                           : "malformed form encoding in a parameter name");
    name[n] = '\0';
    p->arena->len += (size_t)n + 1;
    value = p->arena->data + p->arena->len;
    n = eq ? proto_form_decode(eq + 1, len - nlen - 1, value) : 0;
    if (n < 0)
        return params_fail(p, n == -EILSEQ ? PARAMS_NUL
                                           : "malformed form encoding in a parameter value");
    value[n] = '\0';
    p->arena->len += (size_t)n + 1;
    p->p[p->n++] = (struct proto_param){name, value, (size_t)n};
    return 0;
}

int proto_form_parse(const char *s, size_t len, struct proto_params *p)
{
    size_t i = 0;

    if (params_begin(p, len) < 0)
        return -ENOMEM;
    while (i < len) {
        const char *amp = memchr(s + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - s) : len;

        /* RFC 6749 ignores empty pairs; parameters without a value are empty values. */
        if (end > i && params_add_form(p, s + i, end - i) < 0)
            return -EINVAL;
        i = end + 1;
    }
    return 0;
}

/* A JSON value as parameter text: strings as they are, integers in decimal, an array of
 * strings joined by spaces (scope only: API.md allows no other array, and a joined
 * grant_type or client_id would pass for a string).  Anything else is refused. */
static int params_add_json(struct proto_params *p, const char *name, json_t *v)
{
    char num[32];
    const char *text = NULL;
    size_t len = 0;

    if (p->n == PROTO_PARAMS_MAX)
        return params_fail(p, "too many parameters");
    if (json_is_string(v)) {
        text = json_string_value(v);
        len = json_string_length(v);
    } else if (json_is_integer(v)) {
        len = (size_t)snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        text = num;
    } else if (json_is_array(v) && strcmp(name, "scope") == 0) {
        size_t i;
        json_t *e;
        char *value;

        p->p[p->n].name = params_store(p, name, strlen(name));
        value = p->arena->data + p->arena->len;
        json_array_foreach(v, i, e)
        {
            if (!json_is_string(e))
                return params_fail(p, "array parameters must hold strings");
            if (i)
                value[len++] = ' ';
            memcpy(value + len, json_string_value(e), json_string_length(e));
            len += json_string_length(e);
        }
        value[len] = '\0';
        p->arena->len += len + 1;
        p->p[p->n].value = value;
        p->p[p->n].len = len;
        p->n++;
        return 0;
    } else {
        return params_fail(p, "parameters must be strings (scope may be an array of strings)");
    }
    p->p[p->n].name = params_store(p, name, strlen(name));
    p->p[p->n].value = params_store(p, text, len);
    p->p[p->n].len = len;
    p->n++;
    return 0;
}

json_t *proto_json_load(const char *s, size_t len, const char **why, json_error_t *jerr)
{
    /* Without JSON_ALLOW_NUL jansson refuses \u0000 in strings, and in names always. */
    json_t *root = json_loadb(s, len, JSON_REJECT_DUPLICATES, jerr);

    if (root)
        return root;
    switch (json_error_code(jerr)) {
    case json_error_null_character:
    case json_error_null_byte_in_key:
        *why = PARAMS_NUL " (\\u0000)";
        break;
    case json_error_duplicate_key:
        *why = "the JSON body repeats a name";
        break;
    default:
        *why = "the body is not valid JSON";
    }
    return NULL;
}

int proto_json_params_parse(const char *s, size_t len, struct proto_params *p)
{
    json_error_t jerr;
    json_t *root, *v;
    const char *name, *why;
    int rc = 0;

    /* Decoded JSON is no longer than its text, plus room for joined arrays and names. */
    if (params_begin(p, 2 * len + 64) < 0)
        return -ENOMEM;
    root = proto_json_load(s, len, &why, &jerr);
    if (root == NULL)
        return params_fail(p, why);
    if (!json_is_object(root)) {
        json_decref(root);
        return params_fail(p, "the JSON body must be an object");
    }
    json_object_foreach(root, name, v)
    {
        if (params_add_json(p, name, v) < 0) {
            rc = -EINVAL;
            break;
        }
    }
    json_decref(root);
    return rc;
}

const struct proto_param *proto_params_get(const struct proto_params *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->p[i].name, name) == 0)
            return &p->p[i];
    return NULL;
}

const char *proto_params_check_single(const struct proto_params *p, const char *const *repeatable)
{
    for (size_t i = 0; i < p->n; i++) {
        bool may = false;

        for (const char *const *r = repeatable; r && *r; r++)
            may |= strcmp(*r, p->p[i].name) == 0;
        if (may)
            continue;
        for (size_t j = i + 1; j < p->n; j++)
            if (strcmp(p->p[i].name, p->p[j].name) == 0)
                return p->p[i].name;
    }
    return NULL;
}
