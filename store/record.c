/*
 * The log record codec: struct store_record <-> one msgpack payload in a length + CRC32C
 * frame (the layout is in store/record.h).  msgpack-c does the msgpack; each record type is
 * a table of fields (kind, offset, size) that both directions walk, so the encoder and the
 * decoder cannot disagree on order.  Pure: no I/O, no globals; the decoder is fuzzed
 * (tests/fuzz/record_fuzz.c) and must hold on any bytes.
 */
#include "autoconfig.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <msgpack.h>

#include "store/crc.h"
#include "shm/token.h"
#include "store/record.h"

enum record_kind {
    RF_UINT, /* unsigned integer of `size` bytes */
    RF_NZ,   /* the same, never 0 (a client change's version) */
    RF_INT,  /* int64_t */
    RF_STR,  /* NUL-terminated text in char[size] */
    RF_BIN,  /* exactly `size` bytes */
    RF_VBIN, /* up to `size` bytes, their count in the uint16_t at len_off */
};

struct record_field {
    uint8_t kind;
    uint16_t off, size, len_off;
};

static_assert(sizeof(struct store_record) <= UINT16_MAX, "field offsets are 16 bits");

/* clang-format off */
#define RF_OFF(m) offsetof(struct store_record, m)
#define RF_SIZE(m) sizeof(((struct store_record *)0)->m)
#define F(kind, m) {kind, RF_OFF(m), RF_SIZE(m), 0}
#define FV(m, len) {RF_VBIN, RF_OFF(m), RF_SIZE(m), RF_OFF(len)}
/* clang-format on */
#define CL(m) u.client.client.m

/* After the version, which is read first and alone: a newer one may change the rest. */
static const struct record_field record_header[] = {F(RF_UINT, type), F(RF_UINT, writer),
                                                    F(RF_UINT, seq), F(RF_INT, time_ms)};
#define RECORD_HEADER_N (1 + sizeof(record_header) / sizeof(record_header[0]))

/* Version 1 ends at version; version 2 adds max_live_tokens. */
#define CLIENT_PUT_V1                                                                              \
    F(RF_STR, CL(id)), F(RF_STR, CL(name)), F(RF_UINT, CL(verifier_kind)),                         \
        F(RF_UINT, CL(token_format)), FV(CL(verifier), CL(verifier_len)),                          \
        F(RF_UINT, CL(grant_types)), F(RF_UINT, CL(flags)), F(RF_UINT, CL(access_ttl)),            \
        F(RF_UINT, CL(max_access_ttl)), F(RF_UINT, CL(refresh_ttl)), F(RF_UINT, CL(jwt_alg)),      \
        F(RF_INT, CL(created)), F(RF_INT, CL(updated)), F(RF_STR, u.client.scopes),                \
        F(RF_STR, u.client.default_scopes), F(RF_STR, u.client.audiences),                         \
        F(RF_STR, u.client.subject), F(RF_UINT, u.client.generation), F(RF_NZ, u.client.version)
static const struct record_field client_put_v1[] = {CLIENT_PUT_V1};
static const struct record_field client_put[] = {CLIENT_PUT_V1, F(RF_UINT, CL(max_live_tokens))};
static const struct record_field client_ref[] = {F(RF_STR, u.ref.id), F(RF_UINT, u.ref.generation),
                                                 F(RF_NZ, u.ref.version)};
/* Version 1 ends at jkt; version 2 adds scope_base and seq. */
#define TOKEN_ISSUED_V1                                                                            \
    F(RF_BIN, u.token.hash), F(RF_STR, u.token.client_id), F(RF_UINT, u.token.client_gen),         \
        F(RF_STR, u.token.scope), F(RF_STR, u.token.audience), F(RF_INT, u.token.iat),             \
        F(RF_INT, u.token.exp), F(RF_UINT, u.token.kind), F(RF_UINT, u.token.flags),               \
        F(RF_UINT, u.token.parent), F(RF_BIN, u.token.jkt)
static const struct record_field token_issued_v1[] = {TOKEN_ISSUED_V1};
static const struct record_field token_issued[] = {TOKEN_ISSUED_V1, F(RF_STR, u.token.scope_base),
                                                   F(RF_UINT, u.token.seq)};
static const struct record_field token_revoked[] = {F(RF_BIN, u.token_hash)};
static const struct record_field key_put[] = {F(RF_STR, u.key.kid), F(RF_UINT, u.key.alg),
                                              F(RF_INT, u.key.created), F(RF_INT, u.key.retired_at),
                                              FV(u.key.der, u.key.der_len)};
static const struct record_field key_delete[] = {F(RF_STR, u.kid)};
static const struct record_field account_put[] = {F(RF_STR, u.account.email),
                                                  F(RF_STR, u.account.webid),
                                                  FV(u.account.verifier, u.account.verifier_len)};
static const struct record_field account_delete[] = {F(RF_STR, u.email)};

struct record_schema {
    const struct record_field *f;
    size_t n;
};

/* clang-format off */
#define SCHEMA(t) {t, sizeof(t) / sizeof(t[0])}
/* clang-format on */
static const struct record_schema record_schemas[] = {
    [STORE_REC_CLIENT_PUT] = SCHEMA(client_put),
    [STORE_REC_CLIENT_DELETE] = SCHEMA(client_ref),
    [STORE_REC_CLIENT_REVOKE] = SCHEMA(client_ref),
    [STORE_REC_TOKEN_ISSUED] = SCHEMA(token_issued),
    [STORE_REC_TOKEN_REVOKED] = SCHEMA(token_revoked),
    [STORE_REC_KEY_PUT] = SCHEMA(key_put),
    [STORE_REC_KEY_DELETE] = SCHEMA(key_delete),
    [STORE_REC_ACCOUNT_PUT] = SCHEMA(account_put),
    [STORE_REC_ACCOUNT_DELETE] = SCHEMA(account_delete),
};
#define RECORD_TYPES (sizeof(record_schemas) / sizeof(record_schemas[0]))

/* The schema of a type as records of `version` write it: the current one, but for what
 * version 1 wrote differently. */
static const struct record_schema *record_schema_of(uint64_t version, uint64_t type)
{
    static const struct record_schema token_v1 = SCHEMA(token_issued_v1);
    static const struct record_schema client_v1 = SCHEMA(client_put_v1);

    if (type >= RECORD_TYPES || record_schemas[type].n == 0)
        return NULL;
    if (version == 1 && type == STORE_REC_TOKEN_ISSUED)
        return &token_v1;
    if (version == 1 && type == STORE_REC_CLIENT_PUT)
        return &client_v1;
    return &record_schemas[type];
}

static uint64_t record_uint_get(const uint8_t *p, size_t size)
{
    uint8_t v8;
    uint16_t v16;
    uint32_t v32;
    uint64_t v64;

    switch (size) {
    case 1:
        memcpy(&v8, p, 1);
        return v8;
    case 2:
        memcpy(&v16, p, 2);
        return v16;
    case 4:
        memcpy(&v32, p, 4);
        return v32;
    default:
        memcpy(&v64, p, 8);
        return v64;
    }
}

/* Stores v, known to fit, into an unsigned field of size bytes. */
static void record_uint_set(uint8_t *p, size_t size, uint64_t v)
{
    uint8_t v8 = (uint8_t)v;
    uint16_t v16 = (uint16_t)v;
    uint32_t v32 = (uint32_t)v;

    switch (size) {
    case 1:
        memcpy(p, &v8, 1);
        break;
    case 2:
        memcpy(p, &v16, 2);
        break;
    case 4:
        memcpy(p, &v32, 4);
        break;
    default:
        memcpy(p, &v, 8);
        break;
    }
}

static uint64_t record_uint_max(size_t size)
{
    return size >= 8 ? UINT64_MAX : (UINT64_C(1) << (8 * size)) - 1;
}

/* --- encoding ------------------------------------------------------------------------ */

static int record_field_pack(msgpack_packer *pk, const struct store_record *r,
                             const struct record_field *f)
{
    const uint8_t *p = (const uint8_t *)r + f->off;
    size_t n;
    int64_t i;

    switch (f->kind) {
    case RF_UINT:
    case RF_NZ:
        if (f->kind == RF_NZ && record_uint_get(p, f->size) == 0)
            return -EINVAL;
        return msgpack_pack_uint64(pk, record_uint_get(p, f->size)) < 0 ? -ENOMEM : 0;
    case RF_INT:
        memcpy(&i, p, sizeof(i));
        return msgpack_pack_int64(pk, i) < 0 ? -ENOMEM : 0;
    case RF_STR:
        n = strnlen((const char *)p, f->size);
        if (n == f->size)
            return -EINVAL;
        return msgpack_pack_str_with_body(pk, p, n) < 0 ? -ENOMEM : 0;
    case RF_BIN:
        return msgpack_pack_bin_with_body(pk, p, f->size) < 0 ? -ENOMEM : 0;
    default:
        n = record_uint_get((const uint8_t *)r + f->len_off, sizeof(uint16_t));
        if (n > f->size)
            return -EINVAL;
        return msgpack_pack_bin_with_body(pk, p, n) < 0 ? -ENOMEM : 0;
    }
}

static int record_fields_pack(msgpack_packer *pk, const struct store_record *r,
                              const struct record_field *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = record_field_pack(pk, r, &f[i]);

        if (rc < 0)
            return rc;
    }
    return 0;
}

static void record_le32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t record_le32_get(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int store_record_encode(const struct store_record *r, msgpack_sbuffer *out)
{
    static const uint8_t zero[STORE_FRAME_HEADER];
    const struct record_schema *s = record_schema_of(STORE_RECORD_VERSION, r->type);
    size_t start = out->size, len;
    msgpack_packer pk;
    uint8_t *frame;
    int rc;

    if (s == NULL || r->seq == 0)
        return -EINVAL;
    if (msgpack_sbuffer_write(out, (const char *)zero, sizeof(zero)) < 0)
        return -ENOMEM;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    rc = msgpack_pack_array(&pk, RECORD_HEADER_N + s->n) < 0 ? -ENOMEM : 0;
    if (rc == 0)
        rc = msgpack_pack_uint64(&pk, STORE_RECORD_VERSION) < 0 ? -ENOMEM : 0;
    if (rc == 0)
        rc = record_fields_pack(&pk, r, record_header, RECORD_HEADER_N - 1);
    if (rc == 0)
        rc = record_fields_pack(&pk, r, s->f, s->n);
    if (rc < 0) {
        out->size = start;
        return rc;
    }
    /* Every field is bounded; the largest record (a key) is well under the limit. */
    len = out->size - start - STORE_FRAME_HEADER;
    assert(len <= STORE_RECORD_MAX);
    frame = (uint8_t *)out->data + start;
    record_le32_put(frame, (uint32_t)len);
    record_le32_put(frame + 4, store_crc32c(frame + STORE_FRAME_HEADER, len));
    return 0;
}

/* --- decoding ------------------------------------------------------------------------ */

/* What a value's first byte b says about the rest of it: lenbytes of big-endian count
 * follow, then `fixed` bytes, then `count` more bytes (COUNT_BYTES) or values (COUNT_VALUES,
 * twice that for COUNT_PAIRS). */
enum record_count { COUNT_BYTES, COUNT_VALUES, COUNT_PAIRS };
struct record_head {
    uint8_t lenbytes, fixed, count_is;
    uint8_t count; /* when lenbytes is 0 */
};

static bool record_head_of(uint8_t b, struct record_head *h)
{
    static const uint8_t widths[4] = {1, 2, 4, 8};

    *h = (struct record_head){0, 0, COUNT_BYTES, 0};
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return true;
    if (b <= 0x9f) { /* fixmap, fixarray */
        *h = (struct record_head){0, 0, b <= 0x8f ? COUNT_PAIRS : COUNT_VALUES, b & 0x0f};
        return true;
    }
    if (b <= 0xbf) {
        h->count = b & 0x1f;
        return true;
    }
    if (b >= 0xc4 && b <= 0xc9) /* bin, ext: 1, 2, 4 length bytes; ext adds its type */
        *h = (struct record_head){(uint8_t)(1 << ((b - 0xc4) % 3)), b >= 0xc7, COUNT_BYTES, 0};
    else if (b >= 0xca && b <= 0xd3) /* float, double, uint and int of 1..8 bytes */
        h->fixed = b <= 0xcb ? (uint8_t)(4 << (b - 0xca)) : widths[(b - 0xcc) % 4];
    else if (b >= 0xd4 && b <= 0xd8) /* fixext: type byte and 1..16 bytes */
        h->fixed = (uint8_t)(1 + (1 << (b - 0xd4)));
    else if (b >= 0xd9 && b <= 0xdb) /* str8, str16, str32 */
        h->lenbytes = (uint8_t)(1 << (b - 0xd9));
    else if (b >= 0xdc) /* array16, array32, map16, map32 */
        *h = (struct record_head){(uint8_t)(2 << ((b - 0xdc) % 2)), 0,
                                  b <= 0xdd ? COUNT_VALUES : COUNT_PAIRS, 0};
    else
        return false; /* 0xc1, never used */
    return true;
}

/* msgpack-c allocates a container's elements as soon as it reads the count, unchecked
 * ("FIXME security guard" in its unpack_template.h): five bytes could ask for 128 GiB.
 * Every value takes at least a byte, so this walks the value headers and refuses a payload
 * whose containers promise more values than bytes remain.  It only reads headers; the
 * decoding itself is msgpack-c's. */
static bool record_counts_fit(const uint8_t *p, size_t len)
{
    uint64_t pending = 1; /* values still to come */
    size_t off = 0;

    while (pending > 0) {
        struct record_head h;
        uint64_t count = 0;

        if (off >= len || !record_head_of(p[off++], &h) || len - off < h.lenbytes)
            return false;
        for (unsigned i = 0; i < h.lenbytes; i++)
            count = count << 8 | p[off++];
        count = h.lenbytes ? count : h.count;
        pending--;
        if (h.count_is == COUNT_BYTES) {
            if (len - off < h.fixed + count)
                return false;
            off += h.fixed + count;
        } else {
            pending += h.count_is == COUNT_PAIRS ? 2 * count : count;
            if (pending > len - off)
                return false;
        }
    }
    return true;
}

static int record_field_unpack(const msgpack_object *o, struct store_record *r,
                               const struct record_field *f)
{
    uint8_t *p = (uint8_t *)r + f->off;
    int64_t i;

    switch (f->kind) {
    case RF_UINT:
    case RF_NZ:
        if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > record_uint_max(f->size) ||
            (f->kind == RF_NZ && o->via.u64 == 0))
            return -EPROTO;
        record_uint_set(p, f->size, o->via.u64);
        return 0;
    case RF_INT:
        if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            i = o->via.i64;
        else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX)
            i = (int64_t)o->via.u64;
        else
            return -EPROTO;
        memcpy(p, &i, sizeof(i));
        return 0;
    case RF_STR: /* *r was zeroed: the text ends with a NUL inside its field */
        if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= f->size ||
            (o->via.str.size > 0 && memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL))
            return -EPROTO;
        if (o->via.str.size > 0)
            memcpy(p, o->via.str.ptr, o->via.str.size);
        return 0;
    case RF_BIN:
        if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size != f->size)
            return -EPROTO;
        memcpy(p, o->via.bin.ptr, f->size);
        return 0;
    default:
        if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size > f->size)
            return -EPROTO;
        if (o->via.bin.size > 0)
            memcpy(p, o->via.bin.ptr, o->via.bin.size);
        record_uint_set((uint8_t *)r + f->len_off, sizeof(uint16_t), o->via.bin.size);
        return 0;
    }
}

static int record_fields_unpack(const msgpack_object *v, struct store_record *r,
                                const struct record_field *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = record_field_unpack(&v[i], r, &f[i]);

        if (rc < 0)
            return rc;
    }
    return 0;
}

static int record_from_object(const msgpack_object *o, struct store_record *r)
{
    const struct record_schema *s;
    const msgpack_object *v;
    int rc;

    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size == 0)
        return -EPROTO;
    v = o->via.array.ptr;
    if (v[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || v[0].via.u64 == 0)
        return -EPROTO;
    if (v[0].via.u64 > STORE_RECORD_VERSION)
        return -ENOTSUP;
    r->version = (uint8_t)v[0].via.u64;
    if (o->via.array.size < RECORD_HEADER_N)
        return -EPROTO;
    rc = record_fields_unpack(v + 1, r, record_header, RECORD_HEADER_N - 1);
    if (rc < 0)
        return rc;
    s = record_schema_of(r->version, r->type);
    if (s == NULL || r->seq == 0 || o->via.array.size != RECORD_HEADER_N + s->n)
        return -EPROTO;
    return record_fields_unpack(v + RECORD_HEADER_N, r, s->f, s->n);
}

int store_record_decode(const uint8_t *payload, size_t len, struct store_record *out)
{
    msgpack_unpacked u;
    size_t off = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    if (len > STORE_RECORD_MAX || !record_counts_fit(payload, len))
        return -EPROTO;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, (const char *)payload, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != len)
        rc = -EPROTO;
    else
        rc = record_from_object(&u.data, out);
    msgpack_unpacked_destroy(&u);
    if (rc < 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

int store_frame_check(const uint8_t *buf, size_t avail, uint32_t *payload_len)
{
    uint32_t len;

    if (avail < STORE_FRAME_HEADER)
        return -EAGAIN;
    len = record_le32_get(buf);
    if (len == 0 || len > STORE_RECORD_MAX)
        return -EBADMSG;
    if (avail - STORE_FRAME_HEADER < len)
        return -EAGAIN;
    if (store_crc32c(buf + STORE_FRAME_HEADER, len) != record_le32_get(buf + 4))
        return -EBADMSG;
    *payload_len = len;
    return 0;
}

void store_token_from_shm(struct store_token *out, const struct shm_token *t)
{
    memcpy(out->hash, t->hash, sizeof(out->hash));
    out->client_gen = t->client_gen;
    out->iat = t->iat;
    out->exp = t->exp;
    out->kind = t->kind;
    out->flags = t->flags;
    out->parent = t->parent;
    memcpy(out->jkt, t->jkt, sizeof(out->jkt));
    out->seq = t->seq;
}

void store_token_to_shm(struct shm_token *out, const struct store_token *s)
{
    memcpy(out->hash, s->hash, sizeof(out->hash));
    out->client_gen = s->client_gen;
    out->iat = s->iat;
    out->exp = s->exp;
    out->kind = s->kind;
    out->flags = s->flags;
    out->parent = s->parent;
    memcpy(out->jkt, s->jkt, sizeof(out->jkt));
    out->seq = s->seq & SHM_TOKEN_SEQ_MAX;
}
