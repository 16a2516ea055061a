-- An ACME http-01 challenge responder (RFC 8555 section 8.3) as a Lua HTTP service.
--
--   global
--       setenv ACME_MAP /etc/haproxy/acme.map
--       lua-load /etc/haproxy/acme.lua
--   frontend http
--       http-request use-service lua.acme if { path_beg /.well-known/acme-challenge/ }
--
-- The map file holds "<token> <key authorization>" lines, which the ACME client changes
-- at run time through the acme_admin service (PUT or DELETE /acme-admin/<token>, the
-- key authorization as the body), kept to local clients by the configuration:
--
--       http-request use-service lua.acme_admin if { path_beg /acme-admin/ } { src 127.0.0.1 }
-- Tokens issued before the start can also come from a
-- plain file (ACME_TOKENS, same format), read once by an init function into a Lua table.

local map_file = os.getenv("ACME_MAP")
local challenges = Map.new(map_file, Map._str)
local preloaded = {}

core.register_init(function()
  local path = os.getenv("ACME_TOKENS")
  local f = path and io.open(path)
  if f == nil then return end
  local n = 0
  for line in f:lines() do
    local token, key_auth = line:match("^%s*([%w_-]+)%s+(%S+)")
    if token then
      preloaded[token] = key_auth
      n = n + 1
    end
  end
  f:close()
  core.Info("acme: " .. n .. " preloaded tokens")
end)

local function answer(applet, status, body, content_type)
  applet:set_status(status)
  applet:add_header("Content-Type", content_type)
  applet:add_header("Content-Length", tostring(#body))
  applet:add_header("Cache-Control", "no-store")
  applet:start_response()
  applet:send(body)
end

core.register_service("acme", "http", function(applet)
  local token = applet.path:match("^/%.well%-known/acme%-challenge/([%w_-]+)$")
  local key_auth = nil
  if token ~= nil then
    key_auth = preloaded[token] or challenges:lookup(token)
  end
  if key_auth == nil or applet.method ~= "GET" then
    return answer(applet, 404, "no such challenge\n", "text/plain")
  end
  answer(applet, 200, key_auth, "application/octet-stream")
end)

core.register_service("acme_admin", "http", function(applet)
  local token = applet.path:match("^/acme%-admin/([%w_-]+)$")
  if token == nil then
    return answer(applet, 400, "bad token\n", "text/plain")
  end
  if applet.method == "PUT" then
    local key_auth = applet:receive()
    if key_auth == nil or not key_auth:match("^[%w_.-]+$") then
      return answer(applet, 400, "bad key authorization\n", "text/plain")
    end
    core.set_map(map_file, token, key_auth)
    return answer(applet, 201, "added " .. token .. "\n", "text/plain")
  elseif applet.method == "DELETE" then
    core.del_map(map_file, token)
    return answer(applet, 200, "removed " .. token .. "\n", "text/plain")
  end
  answer(applet, 405, "PUT or DELETE\n", "text/plain")
end)
