/*
 * The values of a client record's policy fields (struct shm_client): the grants it may
 * use, its flags, the format of its access tokens.  Set by the admin API
 * (proto/admin/client_json.c) and read by the endpoints.
 */
#ifndef PROTO_CLIENT_POLICY_H
#define PROTO_CLIENT_POLICY_H

/* grant_types: a bit per grant. */
#define PROTO_GRANT_CLIENT_CREDENTIALS 0x1
#define PROTO_GRANT_REFRESH_TOKEN 0x2
/* flags */
#define PROTO_CLIENT_CAN_INTROSPECT 0x1 /* may introspect any client's tokens */
/* token_format */
#define PROTO_FORMAT_OPAQUE 0
#define PROTO_FORMAT_JWT 1

#endif
