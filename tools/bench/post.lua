-- wrk request script for tools/bench (report.lua is appended): the same form POST
-- every time, body $BENCH_BODY (e.g. grant_type=client_credentials); client
-- authentication comes from wrk -H.  No request() function: wrk formats the request
-- once and sends the same bytes each time (its fast path).

wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or ""
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
