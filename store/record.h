/*
 * Durability records: every change to state, as one record of the per-worker log
 * (msgpack-encoded, framed with length + CRC32C) and as the unit the store process applies
 * to Berkeley DB.  Pure: encoding and decoding touch no file.  A record is applied
 * idempotently: applying it twice changes nothing.
 */
#ifndef STORE_RECORD_H
#define STORE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack/sbuffer.h>

#include "shm/client.h"

#define STORE_RECORD_VERSION 2
/* Frame: u32 little-endian payload length, u32 little-endian CRC32C of the payload. */
#define STORE_FRAME_HEADER 8
#define STORE_RECORD_MAX 8192 /* payload bytes; a larger frame is corrupt */

enum store_record_type {
    STORE_REC_CLIENT_PUT = 1,    /* create or replace a client (record and generation) */
    STORE_REC_CLIENT_DELETE = 2, /* by client id: struct store_client_ref */
    STORE_REC_CLIENT_REVOKE = 3, /* a new generation: every token of the client dies */
    STORE_REC_TOKEN_ISSUED = 4,  /* a token's hash and entry, never the token */
    STORE_REC_TOKEN_REVOKED = 5, /* by hash */
    STORE_REC_KEY_PUT = 6,       /* a signing key created (or retired: same record) */
    STORE_REC_KEY_DELETE = 7,    /* an expired signing key dropped */
    STORE_REC_ACCOUNT_PUT = 8,   /* self-service account (email, password verifier, webid) */
    STORE_REC_ACCOUNT_DELETE = 9,
};

struct store_token {
    uint8_t hash[32];
    char client_id[SHM_CLIENT_ID_MAX];
    uint32_t client_gen;
    char scope[288]; /* text, not an interned id: ids do not survive a restart */
    char audience[288];
    /* The client's allowed scopes at issue, canonical: the base the entry's scope bitmap
     * indexes, so recovery can rebuild the entry as it was after the client's list
     * changed; "" in records of version 1. */
    char scope_base[288];
    int64_t iat, exp;
    uint8_t kind, flags;
    uint64_t parent;
    uint8_t jkt[32];
    uint64_t seq; /* its client's issue sequence (shm/client_tokens.h); 0 in version 1 */
};

struct store_key {
    char kid[64];
    uint8_t alg;
    int64_t created, retired_at;
    uint16_t der_len;
    uint8_t der[2400]; /* PKCS#8 private key */
};

struct store_account {
    char email[256];
    char webid[512];
    uint16_t verifier_len;
    uint8_t verifier[SHM_CLIENT_VERIFIER_MAX]; /* Argon2id */
};

/* Client changes carry a version: a value of the server's one change clock (in shared
 * memory, monotonic, restarted above every value stored), taken under the client's lock.
 * Writers' segments are applied independently, in any interleaving; versions put each
 * client's changes back in the order they were made.  A generation is such a value too
 * (the version of the change that set it), so generations are never reused across clients
 * or instances of a client.  Version 0 is refused: it would lose to every stored state. */
struct store_client_rec {
    struct shm_client client; /* ids of interned strings are replaced by the texts below */
    char scopes[288], default_scopes[288], audiences[288], subject[512];
    uint32_t generation; /* tokens with another client_gen are dead */
    uint64_t version;    /* of this change; from 1 */
};

/* CLIENT_DELETE: generation is the value the deletion set (its version); CLIENT_REVOKE:
 * the client's new generation. */
struct store_client_ref {
    char id[SHM_CLIENT_ID_MAX];
    uint32_t generation;
    uint64_t version; /* of this change; from 1 */
};

struct store_record {
    uint8_t type;    /* enum store_record_type */
    uint8_t version; /* STORE_RECORD_VERSION when written */
    uint16_t writer; /* worker slot (or the master's/store's owner slot) */
    uint64_t seq;    /* per-writer sequence number, from 1, never reused */
    int64_t time_ms; /* when the change was made */
    union {
        struct store_client_rec client; /* CLIENT_PUT */
        struct store_client_ref ref;    /* CLIENT_DELETE, CLIENT_REVOKE */
        struct store_token token;       /* TOKEN_ISSUED */
        uint8_t token_hash[32];         /* TOKEN_REVOKED */
        struct store_key key;           /* KEY_PUT */
        char kid[64];                   /* KEY_DELETE */
        struct store_account account;   /* ACCOUNT_PUT */
        char email[256];                /* ACCOUNT_DELETE */
    } u;
};

/*
 * Frame (all integers little endian), STORE_FRAME_HEADER + n bytes:
 *   u32 n                payload bytes, 1..STORE_RECORD_MAX
 *   u32 crc              CRC32C of the payload (store/crc.h)
 *   u8  payload[n]       one msgpack array, nothing after it
 * Payload, version 2: [version, type, writer, seq, time_ms, fields of the type...]; integers
 * as msgpack ints (any width that holds the value), texts as str (no NUL, shorter than
 * their field), bytes as bin.  Fields by type, in order:
 *   CLIENT_PUT      id, name, verifier_kind, token_format, verifier (bin, verifier_len),
 *                   grant_types, flags, access_ttl, max_access_ttl, refresh_ttl, jwt_alg,
 *                   created, updated, scopes, default_scopes, audiences, subject, generation,
 *                   version, max_live_tokens (the interned ids of struct shm_client are not
 *                   written: read back as 0)
 *   CLIENT_DELETE, CLIENT_REVOKE   client_id
 *   TOKEN_ISSUED    hash (bin 32), client_id, client_gen, scope, audience, iat, exp, kind,
 *                   flags, parent, jkt (bin 32), scope_base, seq
 *   TOKEN_REVOKED   token_hash (bin 32)
 *   KEY_PUT         kid, alg, created, retired_at, der (bin, der_len)
 *   KEY_DELETE      kid
 *   ACCOUNT_PUT     email, webid, verifier (bin, verifier_len)
 *   ACCOUNT_DELETE  email
 * A later version may change everything after the version number.  Version 1 is version 2
 * without CLIENT_PUT's max_live_tokens and TOKEN_ISSUED's scope_base and seq; both are read.
 */

struct shm_token;
/* A token entry to its durable form and back: the fields both have (hash, client_gen,
 * times, kind, flags, parent, jkt, seq).  The texts (client id, scope, audience) and the shared
 * memory's ids and slots are the caller's to fill. */
void store_token_from_shm(struct store_token *out, const struct shm_token *t);
void store_token_to_shm(struct shm_token *out, const struct store_token *s);

/* Appends r to out as one frame (a batch is several calls on one buffer), writing version
 * STORE_RECORD_VERSION whatever r->version says.  Returns 0; -EINVAL for an unknown type,
 * seq 0, a client change of version 0, a text without its NUL inside its field or a byte
 * count above its field; -ENOMEM.
 * On failure out is left as it was.  Called by the writers of the log. */
int store_record_encode(const struct store_record *r, msgpack_sbuffer *out);

/* Decodes one payload (the bytes after the frame header) into *out, zeroing it first.
 * Returns 0; -ENOTSUP for a version above STORE_RECORD_VERSION; -EPROTO for anything else
 * that is not a record this version writes (bad msgpack, trailing bytes, unknown type, seq 0,
 * client version 0, wrong field count or kind, a value out of its field's range).  Safe on
 * any bytes. */
int store_record_decode(const uint8_t *payload, size_t len, struct store_record *out);

/* Checks the frame starting at buf, of which avail bytes exist.  Returns 0 with
 * *payload_len when it is whole and its CRC matches; -EAGAIN when its header or payload
 * goes past avail; -EBADMSG for a length out of 1..STORE_RECORD_MAX or a CRC mismatch.
 * Called by the segment reader. */
int store_frame_check(const uint8_t *buf, size_t avail, uint32_t *payload_len);

#endif
