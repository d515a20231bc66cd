/*
 * Unit tests of store/record.c: every record type round-trips with its largest and its
 * smallest values; frames refuse bad lengths and CRCs and ask for more bytes when cut; the
 * decoder refuses truncated and malformed payloads (-EPROTO) and newer versions
 * (-ENOTSUP); the encoder refuses what it cannot write (a client change without a version
 * too) and leaves its buffer as it was.
 * Payloads with one field changed are made by unpacking a good one with msgpack-c and
 * packing it again.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include <msgpack.h>

#include "store/crc.h"
#include "store/record.h"

#define TYPES 9 /* STORE_REC_CLIENT_PUT .. STORE_REC_ACCOUNT_DELETE */

static void text_fill(char *s, size_t cap, unsigned seed)
{
    for (size_t i = 0; i + 1 < cap; i++)
        s[i] = (char)(i % 7 == 6 ? 0xc3 : 'a' + (i + seed) % 26); /* bytes above 0x7f too */
    s[cap - 1] = '\0';
}

static void bytes_fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed + i * 31);
}

#define TEXT(f) text_fill((f), sizeof(f), __LINE__)
#define BYTES(f) bytes_fill((f), sizeof(f), __LINE__)

static void client_max(struct store_client_rec *c)
{
    TEXT(c->client.id);
    TEXT(c->client.name);
    c->client.verifier_kind = c->client.token_format = UINT8_MAX;
    c->client.verifier_len = sizeof(c->client.verifier);
    BYTES(c->client.verifier);
    c->client.grant_types = c->client.flags = c->client.access_ttl = UINT32_MAX;
    c->client.max_access_ttl = c->client.refresh_ttl = c->client.jwt_alg = UINT32_MAX;
    c->client.max_live_tokens = UINT32_MAX;
    c->client.created = c->client.updated = INT64_MAX;
    TEXT(c->scopes);
    TEXT(c->default_scopes);
    TEXT(c->audiences);
    TEXT(c->subject);
    c->generation = UINT32_MAX;
    c->version = UINT64_MAX;
}

static void token_max(struct store_token *t)
{
    BYTES(t->hash);
    TEXT(t->client_id);
    t->client_gen = UINT32_MAX;
    TEXT(t->scope);
    TEXT(t->audience);
    t->iat = t->exp = INT64_MAX;
    t->kind = t->flags = UINT8_MAX;
    t->parent = UINT64_MAX;
    BYTES(t->jkt);
    TEXT(t->scope_base);
    t->seq = UINT64_MAX;
}

/* Every field at its largest: full texts and byte fields, integers at their maximum. */
static void record_max(struct store_record *r, uint8_t type)
{
    memset(r, 0, sizeof(*r));
    r->type = type;
    r->version = STORE_RECORD_VERSION;
    r->writer = UINT16_MAX;
    r->seq = UINT64_MAX;
    r->time_ms = INT64_MAX;
    switch (type) {
    case STORE_REC_CLIENT_PUT:
        client_max(&r->u.client);
        break;
    case STORE_REC_CLIENT_DELETE:
    case STORE_REC_CLIENT_REVOKE:
        TEXT(r->u.ref.id);
        r->u.ref.generation = UINT32_MAX;
        r->u.ref.version = UINT64_MAX;
        break;
    case STORE_REC_TOKEN_ISSUED:
        token_max(&r->u.token);
        break;
    case STORE_REC_TOKEN_REVOKED:
        BYTES(r->u.token_hash);
        break;
    case STORE_REC_KEY_PUT:
        TEXT(r->u.key.kid);
        r->u.key.alg = UINT8_MAX;
        r->u.key.created = r->u.key.retired_at = INT64_MAX;
        r->u.key.der_len = sizeof(r->u.key.der);
        BYTES(r->u.key.der);
        break;
    case STORE_REC_KEY_DELETE:
        TEXT(r->u.kid);
        break;
    case STORE_REC_ACCOUNT_PUT:
        TEXT(r->u.account.email);
        TEXT(r->u.account.webid);
        r->u.account.verifier_len = sizeof(r->u.account.verifier);
        BYTES(r->u.account.verifier);
        break;
    default:
        TEXT(r->u.email);
        break;
    }
}

/* Every field at its smallest: empty texts and byte strings, zero or INT64_MIN (a client
 * change's version: 1). */
static void record_min(struct store_record *r, uint8_t type)
{
    memset(r, 0, sizeof(*r));
    r->type = type;
    r->version = STORE_RECORD_VERSION;
    r->seq = 1;
    r->time_ms = INT64_MIN;
    if (type == STORE_REC_CLIENT_PUT) {
        r->u.client.client.created = r->u.client.client.updated = INT64_MIN;
        r->u.client.version = 1;
    } else if (type == STORE_REC_CLIENT_DELETE || type == STORE_REC_CLIENT_REVOKE) {
        r->u.ref.version = 1;
    } else if (type == STORE_REC_TOKEN_ISSUED)
        r->u.token.iat = r->u.token.exp = INT64_MIN;
    else if (type == STORE_REC_KEY_PUT)
        r->u.key.created = r->u.key.retired_at = INT64_MIN;
}

/* Encodes r alone; returns the payload's length and points *payload into sb. */
static size_t encode_one(const struct store_record *r, msgpack_sbuffer *sb, const uint8_t **payload)
{
    uint32_t len;

    msgpack_sbuffer_clear(sb);
    assert_int_equal(store_record_encode(r, sb), 0);
    assert_int_equal(store_frame_check((const uint8_t *)sb->data, sb->size, &len), 0);
    assert_int_equal(sb->size, STORE_FRAME_HEADER + len);
    *payload = (const uint8_t *)sb->data + STORE_FRAME_HEADER;
    return len;
}

static void round_trip(const struct store_record *r)
{
    msgpack_sbuffer sb;
    const uint8_t *payload;
    struct store_record back;
    size_t len;

    msgpack_sbuffer_init(&sb);
    len = encode_one(r, &sb, &payload);
    assert_true(len <= STORE_RECORD_MAX);
    assert_int_equal(store_record_decode(payload, len, &back), 0);
    assert_memory_equal(&back, r, sizeof(*r));
    msgpack_sbuffer_destroy(&sb);
}

static void test_round_trip_max(void **state)
{
    struct store_record r;

    (void)state;
    for (uint8_t t = 1; t <= TYPES; t++) {
        record_max(&r, t);
        round_trip(&r);
    }
}

static void test_round_trip_min(void **state)
{
    struct store_record r;

    (void)state;
    for (uint8_t t = 1; t <= TYPES; t++) {
        record_min(&r, t);
        round_trip(&r);
    }
}

/* The interned ids of a client are not written: they come back as 0. */
static void test_client_interned_ids_dropped(void **state)
{
    msgpack_sbuffer sb;
    const uint8_t *payload;
    struct store_record r, back;
    size_t len;

    (void)state;
    record_max(&r, STORE_REC_CLIENT_PUT);
    r.u.client.client.scopes = r.u.client.client.audiences = 7;
    r.u.client.client.default_scopes = r.u.client.client.subject = 9;
    msgpack_sbuffer_init(&sb);
    len = encode_one(&r, &sb, &payload);
    assert_int_equal(store_record_decode(payload, len, &back), 0);
    assert_int_equal(back.u.client.client.scopes + back.u.client.client.audiences, 0);
    assert_int_equal(back.u.client.client.default_scopes + back.u.client.client.subject, 0);
    msgpack_sbuffer_destroy(&sb);
}

/* Several records appended to one buffer: a batch of consecutive frames. */
static void test_batch(void **state)
{
    msgpack_sbuffer sb;
    struct store_record r, back;
    size_t off = 0;

    (void)state;
    msgpack_sbuffer_init(&sb);
    for (uint8_t t = 1; t <= TYPES; t++) {
        record_max(&r, t);
        r.seq = t;
        assert_int_equal(store_record_encode(&r, &sb), 0);
    }
    for (uint8_t t = 1; t <= TYPES; t++) {
        const uint8_t *f = (const uint8_t *)sb.data + off;
        uint32_t len;

        assert_int_equal(store_frame_check(f, sb.size - off, &len), 0);
        assert_int_equal(store_record_decode(f + STORE_FRAME_HEADER, len, &back), 0);
        assert_int_equal(back.type, t);
        assert_int_equal(back.seq, t);
        off += STORE_FRAME_HEADER + len;
    }
    assert_int_equal(off, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

static void encode_refused(const struct store_record *r)
{
    msgpack_sbuffer sb;

    msgpack_sbuffer_init(&sb);
    assert_int_equal(msgpack_sbuffer_write(&sb, "abc", 3), 0);
    assert_int_equal(store_record_encode(r, &sb), -EINVAL);
    assert_int_equal(sb.size, 3);
    msgpack_sbuffer_destroy(&sb);
}

static void test_encode_refuses(void **state)
{
    struct store_record r;

    (void)state;
    record_min(&r, STORE_REC_CLIENT_DELETE);
    r.type = 0;
    encode_refused(&r);
    r.type = TYPES + 1;
    encode_refused(&r);
    record_min(&r, STORE_REC_CLIENT_DELETE);
    r.seq = 0;
    encode_refused(&r);
    record_max(&r, STORE_REC_CLIENT_DELETE);
    memset(r.u.ref.id, 'x', sizeof(r.u.ref.id)); /* no NUL */
    encode_refused(&r);
    record_min(&r, STORE_REC_CLIENT_REVOKE);
    r.u.ref.version = 0;
    encode_refused(&r);
    record_min(&r, STORE_REC_CLIENT_PUT);
    r.u.client.version = 0;
    encode_refused(&r);
    record_max(&r, STORE_REC_TOKEN_ISSUED);
    memset(r.u.token.audience, 'x', sizeof(r.u.token.audience));
    encode_refused(&r);
    record_max(&r, STORE_REC_KEY_PUT);
    r.u.key.der_len = sizeof(r.u.key.der) + 1;
    encode_refused(&r);
    record_max(&r, STORE_REC_CLIENT_PUT);
    r.u.client.client.verifier_len = SHM_CLIENT_VERIFIER_MAX + 1;
    encode_refused(&r);
}

/* --- frames -------------------------------------------------------------------------- */

static void test_frame_crc_mismatch(void **state)
{
    msgpack_sbuffer sb;
    struct store_record r;
    uint32_t len;

    (void)state;
    msgpack_sbuffer_init(&sb);
    record_max(&r, STORE_REC_TOKEN_ISSUED);
    assert_int_equal(store_record_encode(&r, &sb), 0);
    for (size_t i = 4; i < sb.size; i++) { /* the CRC and every payload byte */
        for (int bit = 0; bit < 8; bit += 3) {
            sb.data[i] ^= (char)(1 << bit);
            assert_int_equal(store_frame_check((uint8_t *)sb.data, sb.size, &len), -EBADMSG);
            sb.data[i] ^= (char)(1 << bit);
        }
    }
    assert_int_equal(store_frame_check((uint8_t *)sb.data, sb.size, &len), 0);
    msgpack_sbuffer_destroy(&sb);
}

static void test_frame_lengths(void **state)
{
    static uint8_t buf[STORE_FRAME_HEADER + STORE_RECORD_MAX + 1];
    msgpack_sbuffer sb;
    struct store_record r;
    uint32_t len;

    (void)state;
    /* 0 and STORE_RECORD_MAX + 1 bytes: refused before any CRC is read */
    assert_int_equal(store_frame_check(buf, sizeof(buf), &len), -EBADMSG);
    buf[0] = (STORE_RECORD_MAX + 1) & 0xff;
    buf[1] = (STORE_RECORD_MAX + 1) >> 8;
    assert_int_equal(store_frame_check(buf, sizeof(buf), &len), -EBADMSG);
    /* the largest payload is accepted */
    buf[0] = STORE_RECORD_MAX & 0xff;
    buf[1] = STORE_RECORD_MAX >> 8;
    uint32_t crc = store_crc32c(buf + STORE_FRAME_HEADER, STORE_RECORD_MAX);
    for (int i = 0; i < 4; i++)
        buf[4 + i] = (uint8_t)(crc >> (8 * i));
    assert_int_equal(store_frame_check(buf, sizeof(buf), &len), 0);
    assert_int_equal(len, STORE_RECORD_MAX);
    /* every cut of a frame asks for more */
    msgpack_sbuffer_init(&sb);
    record_max(&r, STORE_REC_ACCOUNT_PUT);
    assert_int_equal(store_record_encode(&r, &sb), 0);
    for (size_t n = 0; n < sb.size; n++)
        assert_int_equal(store_frame_check((uint8_t *)sb.data, n, &len), -EAGAIN);
    msgpack_sbuffer_destroy(&sb);
}

/* --- malformed payloads -------------------------------------------------------------- */

static void test_truncated_payloads(void **state)
{
    msgpack_sbuffer sb;
    const uint8_t *payload;
    struct store_record r, back;
    uint8_t longer[STORE_RECORD_MAX];

    (void)state;
    msgpack_sbuffer_init(&sb);
    for (uint8_t t = 1; t <= TYPES; t++) {
        record_max(&r, t);
        size_t len = encode_one(&r, &sb, &payload);

        for (size_t n = 0; n < len; n++)
            assert_int_equal(store_record_decode(payload, n, &back), -EPROTO);
        memcpy(longer, payload, len);
        longer[len] = 0xc0; /* a trailing nil */
        assert_int_equal(store_record_decode(longer, len + 1, &back), -EPROTO);
    }
    msgpack_sbuffer_destroy(&sb);
}

/* Payload of r with element i replaced by *with, or dropped (with == NULL), or, when i is
 * the element count, *with added at the end; then its last `cut` elements dropped.
 * Returns its length, written to out. */
static size_t payload_rewrite(const struct store_record *r, uint32_t i, const msgpack_object *with,
                              uint32_t cut, uint8_t *out)
{
    msgpack_sbuffer enc, sb;
    msgpack_unpacked u;
    msgpack_packer pk;
    const uint8_t *payload;
    size_t len, off = 0;

    msgpack_sbuffer_init(&enc);
    msgpack_sbuffer_init(&sb);
    msgpack_unpacked_init(&u);
    len = encode_one(r, &enc, &payload);
    assert_int_equal(msgpack_unpack_next(&u, (const char *)payload, len, &off),
                     MSGPACK_UNPACK_SUCCESS);
    msgpack_object_array a = u.data.via.array;
    size_t n = a.size;

    if (with == NULL)
        n--;
    else if (i == a.size)
        n++;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, n - cut);
    for (uint32_t k = 0, packed = 0; k <= a.size && packed < n - cut; k++) {
        const msgpack_object *o = k == i ? with : k < a.size ? &a.ptr[k] : NULL;

        if (o) {
            msgpack_pack_object(&pk, *o);
            packed++;
        }
    }
    len = sb.size;
    assert_true(len <= STORE_RECORD_MAX);
    memcpy(out, sb.data, len);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&enc);
    return len;
}

static size_t payload_edit(const struct store_record *r, uint32_t i, const msgpack_object *with,
                           uint8_t *out)
{
    return payload_rewrite(r, i, with, 0, out);
}

static int decode_edited(uint8_t type, uint32_t i, const msgpack_object *with)
{
    static uint8_t buf[STORE_RECORD_MAX];
    struct store_record r, back;

    record_max(&r, type);
    size_t len = payload_edit(&r, i, with, buf);
    int rc = store_record_decode(buf, len, &back);

    if (rc < 0) { /* a refused payload leaves nothing behind */
        static const struct store_record zero;
        assert_memory_equal(&back, &zero, sizeof(back));
    }
    return rc;
}

static msgpack_object obj_uint(uint64_t v)
{
    return (msgpack_object){.type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = v};
}

static msgpack_object obj_int(int64_t v)
{
    return (msgpack_object){.type = MSGPACK_OBJECT_NEGATIVE_INTEGER, .via.i64 = v};
}

static msgpack_object obj_str(const char *s, uint32_t n)
{
    return (msgpack_object){.type = MSGPACK_OBJECT_STR, .via.str = {n, s}};
}

static msgpack_object obj_bin(const char *s, uint32_t n)
{
    return (msgpack_object){.type = MSGPACK_OBJECT_BIN, .via.bin = {n, s}};
}

static void test_version(void **state)
{
    msgpack_object v;

    (void)state;
    v = obj_uint(STORE_RECORD_VERSION);
    assert_int_equal(decode_edited(STORE_REC_KEY_DELETE, 0, &v), 0);
    v = obj_uint(STORE_RECORD_VERSION + 1);
    assert_int_equal(decode_edited(STORE_REC_KEY_DELETE, 0, &v), -ENOTSUP);
    v = obj_uint(UINT64_MAX);
    assert_int_equal(decode_edited(STORE_REC_TOKEN_ISSUED, 0, &v), -ENOTSUP);
    v = obj_uint(0);
    assert_int_equal(decode_edited(STORE_REC_KEY_DELETE, 0, &v), -EPROTO);
    v = obj_str("1", 1);
    assert_int_equal(decode_edited(STORE_REC_KEY_DELETE, 0, &v), -EPROTO);

    /* a newer version may change everything after its number */
    static const uint8_t newer[] = {0x92, STORE_RECORD_VERSION + 1, 0xa1, 'x'};
    static const uint8_t alone[] = {0x91, STORE_RECORD_VERSION + 1};
    struct store_record r;

    assert_int_equal(store_record_decode(newer, sizeof(newer), &r), -ENOTSUP);
    assert_int_equal(store_record_decode(alone, sizeof(alone), &r), -ENOTSUP);
}

/* The payload version 1 wrote for r: version 1, without the last `newer` fields (the ones
 * version 2 added). */
static size_t payload_v1(const struct store_record *r, uint32_t newer, uint8_t *out)
{
    msgpack_object one = {.type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = 1};

    return payload_rewrite(r, 0, &one, newer, out);
}

/* Records of version 1 are read: a token without its scope base and sequence, a client
 * without max_live_tokens, other types as they were; a version 1 record with version 2's
 * fields is refused. */
static void test_version_1(void **state)
{
    static uint8_t buf[STORE_RECORD_MAX];
    struct store_record r, back, want;
    size_t len;

    (void)state;
    for (uint8_t t = 1; t <= TYPES; t++) {
        uint32_t newer = t == STORE_REC_TOKEN_ISSUED ? 2 : t == STORE_REC_CLIENT_PUT ? 1 : 0;

        record_max(&r, t);
        want = r;
        want.version = 1;
        if (t == STORE_REC_TOKEN_ISSUED) {
            memset(want.u.token.scope_base, 0, sizeof(want.u.token.scope_base));
            want.u.token.seq = 0;
        } else if (t == STORE_REC_CLIENT_PUT) {
            want.u.client.client.max_live_tokens = 0;
        }
        len = payload_v1(&r, newer, buf);
        assert_int_equal(store_record_decode(buf, len, &back), 0);
        assert_memory_equal(&back, &want, sizeof(back));
        if (newer) {
            len = payload_v1(&r, 0, buf);
            assert_int_equal(store_record_decode(buf, len, &back), -EPROTO);
        }
    }
}

/* Element 1 is the type: on a KEY_DELETE's other fields, types whose one field is a text
 * decode too (not CLIENT_DELETE and CLIENT_REVOKE, whose text is followed by two numbers). */
static void test_header_fields(void **state)
{
    static const uint64_t types[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255, 256};
    msgpack_object v;

    (void)state;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        uint64_t t = types[i];
        int ok = t == STORE_REC_KEY_DELETE || t == STORE_REC_ACCOUNT_DELETE;

        v = obj_uint(t);
        assert_int_equal(decode_edited(STORE_REC_KEY_DELETE, 1, &v), ok ? 0 : -EPROTO);
    }
    v = obj_uint(UINT16_MAX + 1);
    assert_int_equal(decode_edited(STORE_REC_KEY_DELETE, 2, &v), -EPROTO); /* writer */
    v = obj_uint(0);
    assert_int_equal(decode_edited(STORE_REC_KEY_DELETE, 3, &v), -EPROTO); /* seq */
    v = obj_int(-1);
    assert_int_equal(decode_edited(STORE_REC_KEY_DELETE, 3, &v), -EPROTO);
    v = obj_int(INT64_MIN);
    assert_int_equal(decode_edited(STORE_REC_KEY_DELETE, 4, &v), 0); /* time_ms */
    v = obj_uint((uint64_t)INT64_MAX + 1);
    assert_int_equal(decode_edited(STORE_REC_KEY_DELETE, 4, &v), -EPROTO);
}

static uint32_t element_count(uint8_t type)
{
    msgpack_sbuffer sb;
    msgpack_unpacked u;
    const uint8_t *payload;
    struct store_record r;
    size_t len, off = 0;
    uint32_t n;

    msgpack_sbuffer_init(&sb);
    msgpack_unpacked_init(&u);
    record_max(&r, type);
    len = encode_one(&r, &sb, &payload);
    assert_int_equal(msgpack_unpack_next(&u, (const char *)payload, len, &off),
                     MSGPACK_UNPACK_SUCCESS);
    n = u.data.via.array.size;
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    return n;
}

static void test_field_counts(void **state)
{
    static const uint8_t empty[] = {0x90}, map[] = {0x81, 0x01, 0x01}, nil[] = {0xc0};
    static const uint32_t fields[TYPES + 1] = {0, 20, 3, 3, 13, 1, 5, 1, 3, 1};
    msgpack_object v = obj_uint(1);
    struct store_record r;

    (void)state;
    for (uint8_t t = 1; t <= TYPES; t++) {
        uint32_t n = element_count(t);

        assert_int_equal(n, 5 + fields[t]);
        assert_int_equal(decode_edited(t, n - 1, NULL), -EPROTO); /* one field short */
        assert_int_equal(decode_edited(t, n, &v), -EPROTO);       /* one too many */
        assert_int_equal(decode_edited(t, 1, NULL), -EPROTO);     /* no type */
    }
    assert_int_equal(store_record_decode(empty, sizeof(empty), &r), -EPROTO);
    assert_int_equal(store_record_decode(map, sizeof(map), &r), -EPROTO);
    assert_int_equal(store_record_decode(nil, sizeof(nil), &r), -EPROTO);
}

/* Field kinds and bounds, on a TOKEN_ISSUED: 5 hash, 6 client_id, 7 client_gen, 9 audience,
 * 10 iat, 12 kind, 15 jkt; and a KEY_PUT's der (element 9). */
static void test_field_bounds(void **state)
{
    static char big[4096];
    msgpack_object v;

    (void)state;
    memset(big, 'a', sizeof(big));
    v = obj_bin(big, 31);
    assert_int_equal(decode_edited(STORE_REC_TOKEN_ISSUED, 5, &v), -EPROTO);
    v = obj_bin(big, 33);
    assert_int_equal(decode_edited(STORE_REC_TOKEN_ISSUED, 15, &v), -EPROTO);
    v = obj_str(big, 32);
    assert_int_equal(decode_edited(STORE_REC_TOKEN_ISSUED, 5, &v), -EPROTO);
    v = obj_str(big, SHM_CLIENT_ID_MAX - 1);
    assert_int_equal(decode_edited(STORE_REC_TOKEN_ISSUED, 6, &v), 0);
    v = obj_str(big, SHM_CLIENT_ID_MAX);
    assert_int_equal(decode_edited(STORE_REC_TOKEN_ISSUED, 6, &v), -EPROTO);
    v = obj_str("a\0b", 3);
    assert_int_equal(decode_edited(STORE_REC_TOKEN_ISSUED, 9, &v), -EPROTO);
    v = obj_bin(big, 3);
    assert_int_equal(decode_edited(STORE_REC_TOKEN_ISSUED, 9, &v), -EPROTO);
    v = obj_uint((uint64_t)UINT32_MAX + 1);
    assert_int_equal(decode_edited(STORE_REC_TOKEN_ISSUED, 7, &v), -EPROTO);
    v = obj_uint(256);
    assert_int_equal(decode_edited(STORE_REC_TOKEN_ISSUED, 12, &v), -EPROTO);
    v = obj_int(-1);
    assert_int_equal(decode_edited(STORE_REC_TOKEN_ISSUED, 12, &v), -EPROTO);
    v = (msgpack_object){.type = MSGPACK_OBJECT_FLOAT64, .via.f64 = 1.0};
    assert_int_equal(decode_edited(STORE_REC_TOKEN_ISSUED, 10, &v), -EPROTO);
    v = obj_bin(big, 2400);
    assert_int_equal(decode_edited(STORE_REC_KEY_PUT, 9, &v), 0);
    v = obj_bin(big, 2401);
    assert_int_equal(decode_edited(STORE_REC_KEY_PUT, 9, &v), -EPROTO);
}

/* A client change's version (a CLIENT_PUT's element 23, a CLIENT_DELETE's or
 * CLIENT_REVOKE's 7) is from 1 to UINT64_MAX; a reference's generation (6) is 32 bits. */
static void test_client_versions(void **state)
{
    msgpack_object v;

    (void)state;
    v = obj_uint(0);
    assert_int_equal(decode_edited(STORE_REC_CLIENT_PUT, 23, &v), -EPROTO);
    assert_int_equal(decode_edited(STORE_REC_CLIENT_DELETE, 7, &v), -EPROTO);
    assert_int_equal(decode_edited(STORE_REC_CLIENT_REVOKE, 7, &v), -EPROTO);
    assert_int_equal(decode_edited(STORE_REC_CLIENT_REVOKE, 6, &v), 0);
    v = obj_int(-1);
    assert_int_equal(decode_edited(STORE_REC_CLIENT_PUT, 23, &v), -EPROTO);
    v = obj_uint(1);
    assert_int_equal(decode_edited(STORE_REC_CLIENT_PUT, 23, &v), 0);
    assert_int_equal(decode_edited(STORE_REC_CLIENT_DELETE, 7, &v), 0);
    v = obj_uint((uint64_t)UINT32_MAX + 1);
    assert_int_equal(decode_edited(STORE_REC_CLIENT_DELETE, 6, &v), -EPROTO);
    assert_int_equal(decode_edited(STORE_REC_CLIENT_PUT, 22, &v), -EPROTO); /* generation */
    v = obj_str("1", 1);
    assert_int_equal(decode_edited(STORE_REC_CLIENT_DELETE, 7, &v), -EPROTO);
}

/* Container counts no payload could hold are refused before msgpack-c allocates for them;
 * so are nesting deeper than msgpack-c's stack, the unused byte 0xc1 and oversized input. */
static void test_hostile_msgpack(void **state)
{
    static const uint8_t arr32[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t map32[] = {0x95, 0x01, 0x01, 0x00, 0x01, 0xdf, 0x7f, 0xff, 0xff, 0xff};
    static const uint8_t arr16[] = {0x91, 0xdc, 0x00, 0x05, 0x01, 0x02, 0x03, 0x04};
    static const uint8_t bin32[] = {0x91, 0xc6, 0xff, 0xff, 0xff, 0xff, 0x00};
    static const uint8_t unused[] = {0x92, 0x01, 0xc1};
    static uint8_t deep[64], big[STORE_RECORD_MAX + 1];
    struct store_record r;

    (void)state;
    assert_int_equal(store_record_decode(arr32, sizeof(arr32), &r), -EPROTO);
    assert_int_equal(store_record_decode(map32, sizeof(map32), &r), -EPROTO);
    assert_int_equal(store_record_decode(arr16, sizeof(arr16), &r), -EPROTO);
    assert_int_equal(store_record_decode(bin32, sizeof(bin32), &r), -EPROTO);
    assert_int_equal(store_record_decode(unused, sizeof(unused), &r), -EPROTO);
    memset(deep, 0x91, sizeof(deep));
    deep[sizeof(deep) - 1] = 0x01;
    assert_int_equal(store_record_decode(deep, sizeof(deep), &r), -EPROTO);
    memset(big, 0, sizeof(big));
    big[0] = 0xc5; /* bin16 of STORE_RECORD_MAX - 2 bytes: one byte over the limit */
    big[1] = (STORE_RECORD_MAX - 2) >> 8;
    big[2] = (STORE_RECORD_MAX - 2) & 0xff;
    assert_int_equal(store_record_decode(big, sizeof(big), &r), -EPROTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_max),
        cmocka_unit_test(test_round_trip_min),
        cmocka_unit_test(test_client_interned_ids_dropped),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_encode_refuses),
        cmocka_unit_test(test_frame_crc_mismatch),
        cmocka_unit_test(test_frame_lengths),
        cmocka_unit_test(test_truncated_payloads),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_version_1),
        cmocka_unit_test(test_header_fields),
        cmocka_unit_test(test_field_counts),
        cmocka_unit_test(test_field_bounds),
        cmocka_unit_test(test_client_versions),
        cmocka_unit_test(test_hostile_msgpack),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
