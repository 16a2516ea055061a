-- Authentication sub-request over a raw TCP socket, the way HAProxy 2.x users wrote it
-- before core.httpclient() existed.
--
--   global
--       lua-load /etc/haproxy/auth_tcp.lua
--   frontend fe
--       http-request lua.auth_tcp auth_servers /auth
--       http-request deny deny_status 401 unless { var(txn.auth_ok) -m bool }
--   backend auth_servers
--       server auth1 127.0.0.1:8081 check
--
-- The auth server is the first server of the backend named in the rule that is not down
-- (core.backends, Server:get_addr()); the request goes to the path given after it.
-- The client's Authorization header goes to the auth server (GET <path>); a 200 answer
-- lets the request through, with the user the server names in X-User passed to the
-- backend. A 401 from the auth server is answered at once with its WWW-Authenticate
-- challenge, a 403 with a page naming the user (txn:done with a reply); an auth server
-- that cannot be reached denies the request (act.DENY, HAProxy's 403).

-- "ip:port" of the first server of backend `name` that is not down, or nil.
local function pick_server(name)
  local backend = core.backends[name]
  if backend == nil then return nil end
  for _, server in pairs(backend.servers) do
    if server:get_stats()["status"] ~= "DOWN" then
      return server:get_addr()
    end
  end
  return nil
end

core.register_action("auth_tcp", { "http-req" }, function(txn, backend, path)
  txn:set_var("txn.auth_ok", false)
  local hdrs = txn.http:req_get_headers()
  if hdrs["authorization"] == nil then
    return act.CONTINUE
  end

  local addr = pick_server(backend)
  if addr == nil then
    core.Warning("auth_tcp: no server in backend " .. backend)
    return act.DENY
  end
  local sock = core.tcp()
  sock:settimeout(2)
  local ok = sock:connect(addr)
  if not ok then
    core.Warning("auth_tcp: cannot reach the auth server at " .. addr)
    return act.DENY
  end
  sock:send("GET " .. path .. " HTTP/1.0\r\n" ..
            "Host: auth\r\n" ..
            "Authorization: " .. hdrs["authorization"][0] .. "\r\n" ..
            "\r\n")

  local status_line = sock:receive("*l")
  if status_line == nil then
    sock:close()
    return act.DENY
  end
  local status = tonumber(status_line:match("^HTTP/%d%.%d (%d%d%d)"))

  -- The response headers, up to the empty line.
  local headers = {}
  while true do
    local line = sock:receive("*l")
    if line == nil or line == "" then break end
    local name, value = line:match("^([^:]+):%s*(.-)%s*$")
    if name then headers[name:lower()] = value end
  end
  sock:close()

  if status == 200 then
    txn:set_var("txn.auth_ok", true)
    if headers["x-user"] then
      txn.http:req_set_header("X-User", headers["x-user"])
    end
  elseif status == 401 then
    -- A reply built from a table (HAProxy's documentation shows both forms).
    txn:done(txn:reply{
      status = 401,
      reason = "Unauthorized",
      headers = {
        ["www-authenticate"] = { headers["www-authenticate"] or 'Basic realm="app"' },
        ["content-type"] = { "text/plain" },
      },
      body = "authentication required\n",
    })
  elseif status == 403 then
    local reply = txn:reply()
    reply:set_status(403, "Forbidden")
    reply:add_header("Content-Type", "text/plain")
    reply:set_body("forbidden for " .. (headers["x-user"] or "?") .. "\n")
    txn:done(reply)
  end
  return act.CONTINUE
end, 2)
