-- Custom metrics in the Prometheus text format: a response action counts answers by
-- method and status class in a Lua table, a service renders them.
--
--   frontend fe
--       http-request use-service lua.metrics if { path /metrics }
--       http-response lua.count_response

local counts = {}   -- "<method> <class>" -> number

core.register_action("count_response", { "http-res" }, function(txn)
  local class = (txn.f:status() // 100) .. "xx"
  local key = txn.f:method() .. " " .. class
  counts[key] = (counts[key] or 0) + 1
end)

core.register_service("metrics", "http", function(applet)
  local keys = {}
  for key in pairs(counts) do keys[#keys + 1] = key end
  table.sort(keys)
  local lines = { "# TYPE http_responses_total counter" }
  for _, key in ipairs(keys) do
    local method, class = key:match("^(%S+) (%S+)$")
    lines[#lines + 1] = string.format('http_responses_total{method="%s",code="%s"} %d',
                                      method, class, counts[key])
  end
  local body = table.concat(lines, "\n") .. "\n"
  applet:set_status(200)
  applet:add_header("content-type", "text/plain; version=0.0.4")
  applet:add_header("content-length", #body)
  applet:start_response()
  applet:send(body)
end)
