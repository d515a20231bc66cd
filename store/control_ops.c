/*
 * The requests of the store's control socket (store/control.h): decoding a request line,
 * listing live sessions from Berkeley DB and running a hot backup, each answered with a
 * status and a JSON body.  Pure of sockets, so unit tests drive it directly; run by the
 * store process one request at a time.  A listing shows a session's public id (the first
 * 16 bytes of its token hash in base64url), never a token or a whole hash; it lists only
 * live sessions: not revoked, not expired, of a client that exists, issued under the
 * client's current generation.  Pages are bounded three ways: by `limit` rows, by
 * STORE_CONTROL_SCAN_MAX sessions visited, and by the reply's size; a page cut by the last two
 * carries a `next`.
 */
#include "autoconfig.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "shm/token.h"
#include "store/backup.h"
#include "store/bdb_listing.h"
#include "store/control.h"

#define ID_CHARS 22 /* base64url of STORE_BDB_ID_LEN bytes, unpadded */
/* Rows stop here, leaving room for the end of the body and the status line. */
#define BODY_BUDGET (STORE_CONTROL_REPLY_MAX - 4096)

/* --- output ------------------------------------------------------------------------------ */

struct obuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void ob_put(struct obuf *b, const char *s, size_t n)
{
    char *p;
    size_t cap = b->cap ? b->cap : 1024;

    if (b->oom)
        return;
    while (cap - b->len <= n) /* <=: room for the NUL */
        cap *= 2;
    if (cap != b->cap) {
        if ((p = realloc(b->p, cap)) == NULL) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void ob_cstr(struct obuf *b, const char *s)
{
    ob_put(b, s, strlen(s));
}

/* A JSON string literal of s (RFC 8259 escaping; bytes >= 0x80 pass through). */
static void ob_json_str(struct obuf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const char *run = s;
    char esc[7];

    ob_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        ob_put(b, run, (size_t)(s - run));
        run = s + 1;
        if (c == '"' || c == '\\')
            esc[0] = '\\', esc[1] = (char)c, esc[2] = '\0';
        else
            snprintf(esc, sizeof(esc), "\\u00%c%c", hex[c >> 4], hex[c & 15]);
        ob_cstr(b, esc);
    }
    ob_put(b, run, (size_t)(s - run));
    ob_put(b, "\"", 1);
}

static void ob_int(struct obuf *b, int64_t v)
{
    char n[24];

    ob_put(b, n, (size_t)snprintf(n, sizeof(n), "%" PRId64, v));
}

static void reply_take(struct store_control_reply *out, int status, struct obuf *b)
{
    out->status = b->oom ? 500 : status;
    out->body = b->oom ? NULL : b->p;
    out->len = b->oom ? 0 : b->len;
    if (b->oom)
        free(b->p);
}

static void reply_error(struct store_control_reply *out, int status, const char *error,
                        const char *description)
{
    struct obuf b = {0};

    ob_cstr(&b, "{\"error\":");
    ob_json_str(&b, error);
    ob_cstr(&b, ",\"error_description\":");
    ob_json_str(&b, description);
    ob_put(&b, "}", 1);
    reply_take(out, status, &b);
}

void store_control_reply_free(struct store_control_reply *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

/* --- public ids ---------------------------------------------------------------------------- */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void id_encode(const uint8_t id[STORE_BDB_ID_LEN], char out[ID_CHARS + 1])
{
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;

    for (size_t i = 0; i < STORE_BDB_ID_LEN; i++) {
        acc = acc << 8 | id[i];
        for (bits += 8; bits >= 6; bits -= 6)
            out[n++] = b64url[(acc >> (bits - 6)) & 63];
    }
    out[n++] = b64url[(acc << (6 - bits)) & 63];
    out[n] = '\0';
}

/* Only the spelling id_encode writes (22 characters, the last one's unused bits zero):
 * one id, one cursor.  0 or -EINVAL. */
static int id_decode(const char *s, size_t len, uint8_t id[STORE_BDB_ID_LEN])
{
    char again[ID_CHARS + 1];
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;

    if (len != ID_CHARS)
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        const char *p = s[i] ? strchr(b64url, s[i]) : NULL;

        if (p == NULL)
            return -EINVAL;
        acc = acc << 6 | (uint32_t)(p - b64url);
        if ((bits += 6) >= 8 && n < STORE_BDB_ID_LEN)
            id[n++] = (uint8_t)(acc >> (bits -= 8));
    }
    id_encode(id, again);
    return memcmp(again, s, ID_CHARS) == 0 ? 0 : -EINVAL;
}

/* --- listing ------------------------------------------------------------------------------- */

enum stop { STOP_NONE, STOP_FULL = 1, STOP_SCANNED, STOP_BYTES };

struct listing {
    struct store_bdb *db;
    int64_t now;
    size_t limit, rows, visited;
    struct obuf *b;
    uint8_t last_row[STORE_BDB_ID_LEN];  /* the last id listed */
    uint8_t last_seen[STORE_BDB_ID_LEN]; /* the last id visited */
    char gen_client[SHM_CLIENT_ID_MAX];  /* whose generation gen_rc/gen hold */
    int gen_rc;                          /* store_bdb_client_generation()'s answer */
    uint32_t gen;
    enum stop stop;
};

/* Not revoked, not expired, its client exists and it was issued under the client's
 * current generation: what recovery loads into shared memory as valid (store/bdb.h). */
static int session_live(struct listing *l, const struct store_session *s)
{
    const struct store_token *t = &s->token;

    if (s->revoked || t->exp <= l->now ||
        (t->kind != SHM_TOKEN_ACCESS && t->kind != SHM_TOKEN_REFRESH))
        return 0;
    if (l->gen_client[0] == '\0' || strcmp(l->gen_client, t->client_id) != 0) {
        snprintf(l->gen_client, sizeof(l->gen_client), "%s", t->client_id);
        l->gen_rc = store_bdb_client_generation(l->db, t->client_id, &l->gen);
        if (l->gen_rc < 0) {
            l->gen_client[0] = '\0';
            return l->gen_rc;
        }
    }
    return l->gen_rc == 1 && l->gen == t->client_gen;
}

static void row_write(struct obuf *b, const char *id, const struct store_token *t)
{
    if (b->p[b->len - 1] == '}')
        ob_put(b, ",", 1);
    ob_cstr(b, "{\"id\":\"");
    ob_cstr(b, id);
    ob_cstr(b, "\",\"client_id\":");
    ob_json_str(b, t->client_id);
    ob_cstr(b, t->kind == SHM_TOKEN_REFRESH ? ",\"kind\":\"refresh\"" : ",\"kind\":\"access\"");
    ob_cstr(b, ",\"scope\":");
    ob_json_str(b, t->scope);
    ob_cstr(b, ",\"aud\":");
    ob_json_str(b, t->audience);
    ob_cstr(b, ",\"iat\":");
    ob_int(b, t->iat);
    ob_cstr(b, ",\"exp\":");
    ob_int(b, t->exp);
    ob_put(b, "}", 1);
}

static int on_session(const uint8_t id[STORE_BDB_ID_LEN], const struct store_session *s, void *arg)
{
    struct listing *l = arg;
    char text[ID_CHARS + 1];
    size_t before = l->b->len;
    int live;

    if (l->visited++ == STORE_CONTROL_SCAN_MAX)
        return l->stop = STOP_SCANNED;
    memcpy(l->last_seen, id, STORE_BDB_ID_LEN);
    if ((live = session_live(l, s)) <= 0)
        return live;
    id_encode(id, text);
    row_write(l->b, text, &s->token);
    if (l->b->len > BODY_BUDGET) { /* this row goes to the next page */
        l->b->len = before;
        l->b->p[before] = '\0';
        return l->stop = STOP_BYTES;
    }
    memcpy(l->last_row, id, STORE_BDB_ID_LEN);
    return ++l->rows == l->limit ? (int)(l->stop = STOP_FULL) : 0;
}

/* {"sessions":[…],"next":…} for a decoded request. */
static void sessions_list(struct store_bdb *db, int64_t now, const char *client_id,
                          const uint8_t *after, size_t limit, struct store_control_reply *out)
{
    struct obuf b = {0};
    struct listing l = {.db = db, .now = now, .limit = limit, .b = &b};
    char next[ID_CHARS + 1];
    int rc;

    ob_cstr(&b, "{\"sessions\":[");
    rc = b.oom ? 0 : store_bdb_sessions_walk(db, client_id, after, on_session, &l);
    if (rc < 0) {
        free(b.p);
        reply_error(out, 500, "server_error", store_bdb_error(db));
        return;
    }
    ob_cstr(&b, "],\"next\":");
    if (l.stop == STOP_NONE) {
        ob_cstr(&b, "null}");
    } else {
        id_encode(l.stop == STOP_SCANNED ? l.last_seen : l.last_row, next);
        ob_put(&b, "\"", 1);
        ob_cstr(&b, next);
        ob_cstr(&b, "\"}");
    }
    reply_take(out, 200, &b);
}

/* --- requests ------------------------------------------------------------------------------ */

/* Every member of req is one of `known` (NULL-terminated).  0, or -1 with a 400 written. */
static int members_known(json_t *req, const char *const *known, struct store_control_reply *out)
{
    const char *key;
    json_t *v;

    json_object_foreach(req, key, v)
    {
        const char *const *k = known;

        while (*k && strcmp(*k, key) != 0)
            k++;
        if (*k == NULL) {
            reply_error(out, 400, "invalid_request",
                        "the request has a member its op does not take");
            return -1;
        }
    }
    return 0;
}

/* A string member without NUL bytes, or NULL (absent or null); *bad when of another type. */
static const char *member_str(json_t *req, const char *name, bool *bad)
{
    json_t *v = json_object_get(req, name);

    if (v == NULL || json_is_null(v))
        return NULL;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
        *bad = true;
        return NULL;
    }
    return json_string_value(v);
}

static bool client_id_ok(const char *s)
{
    size_t n = strlen(s);

    if (n < 1 || n >= SHM_CLIENT_ID_MAX)
        return false;
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e)
            return false;
    return true;
}

/* The decoded arguments of a sessions request: 0, or -1 with a 400 written. */
static int sessions_args(json_t *req, const char **client, uint8_t after[STORE_BDB_ID_LEN],
                         bool *has_after, size_t *limit, struct store_control_reply *out)
{
    static const char *const known[] = {"op", "client_id", "after", "limit", NULL};
    json_t *lim = json_object_get(req, "limit");
    json_int_t n = STORE_CONTROL_LIST_DEFAULT;
    bool bad = false;
    const char *cursor = member_str(req, "after", &bad);
    const char *why = NULL;

    *client = member_str(req, "client_id", &bad);
    if (lim && !json_is_null(lim))
        n = json_is_integer(lim) ? json_integer_value(lim) : 0;
    if (members_known(req, known, out) < 0)
        return -1;
    if (bad)
        why = "client_id and after must be strings";
    else if (*client && !client_id_ok(*client))
        why = "client_id is not a valid client id";
    else if (cursor && id_decode(cursor, strlen(cursor), after) < 0)
        why = "after is not a session id";
    else if (n < 1 || n > STORE_CONTROL_LIST_MAX)
        why = "limit must be a number from 1 to 1000";
    if (why) {
        reply_error(out, 400, "invalid_request", why);
        return -1;
    }
    *has_after = cursor != NULL;
    *limit = (size_t)n;
    return 0;
}

static void op_sessions(struct store_bdb *db, int64_t now, json_t *req,
                        struct store_control_reply *out)
{
    uint8_t after[STORE_BDB_ID_LEN];
    const char *client;
    bool has_after;
    size_t limit;

    if (sessions_args(req, &client, after, &has_after, &limit, out) == 0)
        sessions_list(db, now, client, has_after ? after : NULL, limit, out);
}

static void backup_answer(const char *dir, const struct store_backup_stats *st,
                          struct store_control_reply *out)
{
    struct obuf b = {0};

    ob_cstr(&b, "{\"backup\":");
    ob_json_str(&b, dir);
    ob_cstr(&b, ",\"segments\":");
    ob_int(&b, (int64_t)st->segments);
    ob_cstr(&b, ",\"files\":");
    ob_int(&b, (int64_t)st->files);
    ob_cstr(&b, ",\"bytes\":");
    ob_int(&b, (int64_t)st->bytes);
    ob_put(&b, "}", 1);
    reply_take(out, 200, &b);
}

static void op_backup(struct store_bdb *db, const char *data_dir, json_t *req,
                      struct store_control_reply *out)
{
    static const char *const known[] = {"op", "dir", NULL};
    struct store_backup_stats st;
    bool bad = false;
    const char *dir = member_str(req, "dir", &bad);
    char err[1024];

    if (members_known(req, known, out) < 0)
        return;
    if (bad || dir == NULL || dir[0] != '/')
        reply_error(out, 400, "invalid_request", "dir must be an absolute path");
    else if (store_backup_target_check(data_dir, dir, err, sizeof(err)) < 0)
        reply_error(out, 400, "invalid_request", err);
    else if (store_backup_run(db, data_dir, dir, &st, err, sizeof(err)) < 0)
        reply_error(out, 500, "server_error", err);
    else
        backup_answer(dir, &st, out);
}

void store_control_handle(struct store_bdb *db, const char *data_dir, int64_t now, const char *req,
                          size_t len, struct store_control_reply *out)
{
    json_error_t jerr;
    json_t *root;
    const char *op;

    memset(out, 0, sizeof(*out));
    if (len > 0 && req[len - 1] == '\n')
        len--;
    if (len > STORE_CONTROL_REQUEST_MAX) {
        reply_error(out, 413, "request_too_large", "a request is one line of at most 4096 bytes");
        return;
    }
    root = json_loadb(req, len, JSON_REJECT_DUPLICATES, &jerr);
    op = json_is_object(root) ? json_string_value(json_object_get(root, "op")) : NULL;
    if (!json_is_object(root))
        reply_error(out, 400, "invalid_request", "the request is not one JSON object");
    else if (op == NULL)
        reply_error(out, 400, "invalid_request", "the request has no op");
    else if (strcmp(op, "sessions") == 0)
        op_sessions(db, now, root, out);
    else if (strcmp(op, "backup") == 0)
        op_backup(db, data_dir, root, out);
    else
        reply_error(out, 400, "invalid_request", "unknown op");
    json_decref(root);
}
