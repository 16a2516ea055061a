-- A JSON status endpoint for a monitoring system, made with lua-cjson from the servers'
-- statistics:  GET /status?backend=<name>
--
--   frontend fe
--       http-request use-service lua.status if { path /status }

local cjson = require "cjson"

core.register_service("status", "http", function(applet)
  local name = applet.qs:match("backend=([%w_.-]+)")
  local backend = name and core.backends[name]
  local code, doc = 200, nil
  if backend == nil then
    code, doc = 404, { error = "no such backend" }
  else
    local servers = {}
    for srv_name, server in pairs(backend.servers) do
      local stats = server:get_stats()
      servers[#servers + 1] = {
        name = srv_name,
        addr = server:get_addr(),
        status = stats.status,
        weight = server:get_weight(),
        sessions = stats.stot,
      }
    end
    table.sort(servers, function(a, b) return a.name < b.name end)
    doc = { backend = name, servers = servers, up = #servers > 0 }
  end
  local body = cjson.encode(doc)
  applet:set_status(code)
  applet:add_header("content-type", "application/json")
  applet:add_header("content-length", tostring(#body))
  applet:start_response()
  applet:send(body)
end)
