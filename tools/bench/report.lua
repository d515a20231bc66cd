-- wrk reporting script for tools/bench: at the end of a run, done() prints ONE
-- machine-readable line starting with "BENCH " (key=value pairs) that tools/bench/run
-- and tools/bench/balance parse.  Latencies are in milliseconds.
--
-- errors = wrk's socket errors (connect, read, write, timeout) + responses whose
-- status is not 2xx.  wrk itself only counts statuses > 399; to also catch 1xx/3xx,
-- set BENCH_COUNT_NON2XX=1: a response() hook then counts every non-2xx status, at
-- the cost of wrk parsing each response in Lua (a few % of wrk's throughput).
--
-- With BENCH_EXPECT set (non-empty), a 2xx response whose body does not contain
-- that string counts as an error too ("unexpected"): e.g. '"active":true', so that a
-- benchmark of {"active":false} answers cannot pass.  This also turns the hook on.
--
-- A scenario's own request script is concatenated IN FRONT of this file by the
-- harness; it may define init()/request() (call init_report(args) from its own
-- init), but must not define setup(), response() or done().  setup() gives every
-- thread's script a global bench_thread (1, 2, ...) before its init() runs.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("bench_thread", #threads)
end

-- Per thread (running phase).  non2xx and unexpected are read back by done() via
-- thread:get().
non2xx = 0
unexpected = 0
local count_non2xx = os.getenv("BENCH_COUNT_NON2XX") == "1"
local expect = os.getenv("BENCH_EXPECT")
if expect == "" then
   expect = nil
end

function init_report(args)
   if not count_non2xx and not expect then
      response = nil -- wrk's fast path: headers and bodies are not handed to Lua
   end
end

if init == nil then
   init = init_report
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
   elseif expect and not string.find(body, expect, 1, true) then
      unexpected = unexpected + 1
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   local non2xx_total, unexpected_total = 0, 0
   for _, thread in ipairs(threads) do
      non2xx_total = non2xx_total + (thread:get("non2xx") or 0)
      unexpected_total = unexpected_total + (thread:get("unexpected") or 0)
   end
   -- wrk already counts statuses > 399 in e.status; only add the 1xx/3xx ones.
   -- With the hook off, non2xx_total is 0 and e.status is all we know.
   local other_non2xx = math.max(0, non2xx_total - e.status)
   local errors = e.connect + e.read + e.write + e.timeout + e.status + other_non2xx +
      unexpected_total
   local secs = summary.duration / 1e6
   local function ms(us) return us / 1000.0 end
   io.write(string.format(
      "BENCH requests=%d duration_s=%.3f rps=%.1f bytes=%d errors=%d" ..
      " connect_errors=%d read_errors=%d write_errors=%d timeout_errors=%d" ..
      " status_errors=%d non2xx=%d non2xx_checked=%d unexpected=%d" ..
      " p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f mean_ms=%.3f\n",
      summary.requests, secs, summary.requests / secs, summary.bytes, errors,
      e.connect, e.read, e.write, e.timeout,
      e.status, math.max(non2xx_total, e.status), count_non2xx and 1 or 0, unexpected_total,
      ms(latency:percentile(50)), ms(latency:percentile(90)), ms(latency:percentile(99)),
      ms(latency.max), ms(latency.mean)))
end
