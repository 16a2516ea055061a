-- An ACME http-01 challenge responder (RFC 8555 section 8.3) as a Lua HTTP service.
--
--   global
--       setenv ACME_MAP /etc/haproxy/acme.map
--       lua-load /etc/haproxy/acme.lua
--   frontend http
--       http-request use-service lua.acme if { path_beg /.well-known/acme-challenge/ }
--
-- The map file holds "<token> <key authorization>" lines, which an ACME client can change
-- at run time (`add map` on the CLI). Tokens issued before the start can also come from a
-- plain file (ACME_TOKENS, same format), read once by an init function into a Lua table.

local challenges = Map.new(os.getenv("ACME_MAP"), Map._str)
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
