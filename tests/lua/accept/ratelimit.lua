-- A per-client request counter kept in a Lua table shared by every stream, with a task
-- that empties it at the end of each window (a fixed-window rate limiter).
--
--   global
--       setenv RATE_WINDOW_MS 1000
--       lua-load /etc/haproxy/ratelimit.lua
--   frontend fe
--       http-request lua.ratelimit 3
--       http-request deny deny_status 429 if { var(txn.rate_exceeded) -m bool }
--       http-response set-header X-RateLimit-Remaining %[lua.rate_remaining(3)]
--
-- At most <limit> requests per source address and window; the count the request got is
-- passed to the backend as X-Rate-Count, and the fetch lua.rate_remaining(<limit>) tells
-- how many are left in the window.

local window_ms = tonumber(os.getenv("RATE_WINDOW_MS") or "1000")
local hits = {}

core.register_action("ratelimit", { "http-req" }, function(txn, limit)
  local client = txn.f:src()
  local count = (hits[client] or 0) + 1
  hits[client] = count
  txn.http:req_set_header("X-Rate-Count", tostring(count))
  txn:set_var("txn.rate_exceeded", count > tonumber(limit))
end, 1)

core.register_fetches("rate_remaining", function(txn, limit)
  local left = tonumber(limit) - (hits[txn.f:src()] or 0)
  if left < 0 then left = 0 end
  return left
end)

core.register_task(function()
  while true do
    core.msleep(window_ms)
    hits = {}
  end
end)
