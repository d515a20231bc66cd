-- wrk request script for tools/bench (report.lua is appended): every request carries
-- one of many pre-issued tokens, taken in turn from $BENCH_TOKENS (one a line), each
-- thread starting at a different place in the list.  $BENCH_TOKEN_IN says where:
--   bearer  GET (or the URL's method) with "Authorization: Bearer <token>"
--   form    POST with the body "token=<token>" (RFC 7662 introspection, RFC 7009
--           revocation); client authentication comes from wrk -H
-- The request is built from a prefix and suffix made once by wrk.format() (so -H
-- headers and Host are kept), leaving one string concatenation per request.

local tokens, n, i = {}, 0, 0
local build

function init(args)
   init_report(args)
   local path = os.getenv("BENCH_TOKENS")
   for line in io.lines(path) do
      if #line > 0 then
         n = n + 1
         tokens[n] = line
      end
   end
   assert(n > 0, "no tokens in " .. tostring(path))
   -- Spread the threads' starting points over the list (golden-ratio steps).
   i = math.floor(n * (((bench_thread or 1) * 0.6180339887) % 1))

   local headers = {}
   for k, v in pairs(wrk.headers) do
      headers[k] = v
   end
   local mode = os.getenv("BENCH_TOKEN_IN") or "bearer"
   if mode == "bearer" then
      local mark = "@@BENCH-TOKEN@@"
      headers["Authorization"] = "Bearer " .. mark
      local req = wrk.format(nil, nil, headers, nil)
      local a, b = string.find(req, mark, 1, true)
      local pre, post = string.sub(req, 1, a - 1), string.sub(req, b + 1)
      build = function(t) return pre .. t .. post end
   elseif mode == "form" then
      headers["Content-Type"] = "application/x-www-form-urlencoded"
      -- Without a body wrk.format() ends with the blank line: drop it and add our own
      -- Content-Length (tokens may differ in length).
      local req = wrk.format("POST", nil, headers, nil)
      local pre = string.sub(req, 1, -3) .. "Content-Length: "
      build = function(t)
         return pre .. (6 + #t) .. "\r\n\r\ntoken=" .. t
      end
   else
      error("BENCH_TOKEN_IN must be bearer or form, not " .. mode)
   end
end

function request()
   i = i + 1
   if i > n then
      i = 1
   end
   return build(tokens[i])
end
