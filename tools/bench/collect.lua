-- wrk script for tools/bench (benchlib.issue_tokens): pre-issues access tokens.
-- POSTs $BENCH_BODY (form) to the URL's path as fast as the server answers (client
-- authentication comes from wrk -H), and each thread appends the access_token of
-- every 200 answer to $BENCH_COLLECT_OUT.<thread number>, one a line, flushed every
-- 256 tokens.  The harness counts the lines and stops wrk (SIGINT) once it has enough;
-- done() prints "COLLECT ok=N bad=M socket_errors=E" and, when an answer was not a
-- 200 with a token, "COLLECT_LAST_BAD <status> <body>".  Standalone: report.lua is
-- not appended to this script.

wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("collect_id", #threads)
end

-- Per thread, read back by done() with thread:get().
ok, bad, last_bad = 0, 0, ""
local out

function init(args)
   local path = os.getenv("BENCH_COLLECT_OUT") .. "." .. collect_id
   out = assert(io.open(path, "w"))
   out:setvbuf("full", 1048576) -- only whole lines reach the file, at the flushes below
end

function response(status, headers, body)
   if status == 200 then
      local token = string.match(body, '"access_token":"([^"]+)"')
      if token then
         out:write(token, "\n")
         ok = ok + 1
         if ok % 256 == 0 then
            out:flush()
         end
         return
      end
   end
   bad = bad + 1
   last_bad = (status .. " " .. string.sub(body, 1, 300)):gsub("[\r\n]", " ")
end

function done(summary, latency, requests)
   local n_ok, n_bad, last = 0, 0, ""
   for _, thread in ipairs(threads) do
      n_ok = n_ok + (thread:get("ok") or 0)
      n_bad = n_bad + (thread:get("bad") or 0)
      local l = thread:get("last_bad")
      if l and l ~= "" then
         last = l
      end
   end
   local e = summary.errors
   io.write(string.format("COLLECT ok=%d bad=%d socket_errors=%d\n", n_ok, n_bad,
                          e.connect + e.read + e.write + e.timeout))
   if last ~= "" then
      io.write("COLLECT_LAST_BAD ", last, "\n")
   end
end
