/*
 * The operational endpoints (API.md §7), for load balancers and monitoring, without
 * authentication: GET /healthz and /readyz (proto/ops/health.c) and GET /metrics
 * (proto/ops/metrics.c).
 */
#ifndef PROTO_OPS_H
#define PROTO_OPS_H

#include "proto/http/router.h"

/* GET /healthz: 200 whenever the worker answers. */
void proto_health_live(const struct proto_ctx *ctx, const struct proto_request *req,
                       struct proto_response *res);
/* GET /readyz: 200 once the server is ready, 503 before. */
void proto_health_ready(const struct proto_ctx *ctx, const struct proto_request *req,
                        struct proto_response *res);
/* GET /metrics: Prometheus text (durability lag, token table fill, events). */
void proto_metrics_endpoint(const struct proto_ctx *ctx, const struct proto_request *req,
                            struct proto_response *res);

#endif
