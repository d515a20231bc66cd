/*
 * JWT access tokens and signing keys (see jwt.h).
 */
#include "autoconfig.h"

#include <string.h>

#include "proto/jwt.h"

static const char *const jwt_algs[] = {"ES256", "EdDSA", "RS256"};

int proto_jwt_alg_parse(const char *name)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(name, jwt_algs[i]) == 0)
            return i;
    return -1;
}

const char *proto_jwt_alg_name(int alg)
{
    return alg >= 0 && alg < 3 ? jwt_algs[alg] : "ES256";
}

int proto_jwt_mint(const struct proto_ctx *ctx, int alg, const struct proto_jwt_claims *c,
                   struct proto_buf *out)
{
    return -1;
}
