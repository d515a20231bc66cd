/*
 * Discovery and keys over HTTP: the authorization server metadata (RFC 8414) at
 * /.well-known/oauth-authorization-server and /.well-known/openid-configuration, the JWK
 * Set at /oauth2/jwks.
 */
#ifndef PROTO_DISCOVERY_H
#define PROTO_DISCOVERY_H

#include "proto/buf.h"
#include "proto/http/router.h"

/* Cache lifetimes (seconds) of the public documents. */
#define PROTO_METADATA_MAX_AGE "3600"
#define PROTO_JWKS_MAX_AGE "300"

/* Appends the metadata document of cfg to out: every URL is the issuer (without a
 * trailing '/') followed by the endpoint's path.  0, -EINVAL (an issuer JSON would have to
 * escape) or -ENOMEM.  The master builds it once. */
int proto_discovery_build(const struct proto_config *cfg, struct proto_buf *out);

void proto_discovery_endpoint(const struct proto_ctx *ctx, const struct proto_request *req,
                              struct proto_response *res);
void proto_jwks_endpoint(const struct proto_ctx *ctx, const struct proto_request *req,
                         struct proto_response *res);
#endif
