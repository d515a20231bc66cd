/*
 * The admin API's authorisation, checked first by every /admin/ handler: the admin token
 * of the configuration (only its SHA-256 is kept), presented as `Authorization: Bearer`
 * and compared in constant time.  Pure.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdint.h>

#include <openssl/crypto.h>

#include "proto/admin/admin.h"
#include "proto/oauth/secret.h"

int proto_admin_check(const struct proto_ctx *ctx, const struct proto_request *req,
                      struct proto_response *res)
{
    uint8_t h[32];
    size_t len;
    /* Bearer only (RFC 6750): the admin token is bound to no key, so a DPoP scheme
     * carrying it would claim a proof of possession that nothing checks. */
    const char *token = proto_request_credentials(req, "Bearer", &len);

    if (ctx->cfg->admin_enabled && token) {
        proto_sha256(token, len, h);
        if (CRYPTO_memcmp(h, ctx->cfg->admin_token_hash, 32) == 0)
            return 0;
    }
    proto_response_error(res, 401, "invalid_token", "the admin token is missing or wrong");
    proto_response_header(res, "WWW-Authenticate", "Bearer realm=\"tessera-admin\"");
    return -EACCES;
}
