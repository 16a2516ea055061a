-- OAuth 2.0 token introspection (RFC 7662) with core.httpclient() and lua-cjson, with the
-- answers cached in a Lua table for a minute (or until the token expires), so that the
-- authorization server sees one request per token, not one per client request.
--
--   global
--       lua-prepend-path /usr/lib/x86_64-linux-gnu/lua/5.3/?.so cpath
--       lua-load /etc/haproxy/introspect.lua
--   frontend api
--       http-request lua.introspect http://127.0.0.1:9000/introspect
--       http-request deny deny_status 401 unless { var(txn.token_active) -m bool }
--       http-request deny deny_status 403 unless { var(txn.scope) -m sub write } || { method GET HEAD }

local cjson = require "cjson"

local CACHE_SECONDS = 60
local cache = {}   -- token -> { expires = <s>, claims = <table> }

local function introspect(url, token)
  local now = core.now().sec
  local hit = cache[token]
  if hit ~= nil and hit.expires > now then
    return hit.claims
  end
  local res = core.httpclient():post{
    url = url,
    headers = { ["content-type"] = { "application/x-www-form-urlencoded" } },
    body = "token=" .. token,
    timeout = 2000,
  }
  if res == nil or res.status ~= 200 then
    return nil  -- not cached: the next request asks again
  end
  local ok, claims = pcall(cjson.decode, res.body)
  if not ok or type(claims) ~= "table" then
    return nil
  end
  local expires = now + CACHE_SECONDS
  if type(claims.exp) == "number" and claims.exp < expires then
    expires = claims.exp
  end
  cache[token] = { expires = expires, claims = claims }
  return claims
end

core.register_action("introspect", { "http-req" }, function(txn, url)
  txn:set_var("txn.token_active", false)
  local auth = txn.sf:req_hdr("authorization")
  local token = auth:match("^Bearer%s+([%w._~+/-]+=*)$")
  if token == nil then return end
  local claims = introspect(url, token)
  if claims == nil or claims.active ~= true then return end
  txn:set_var("txn.token_active", true)
  txn:set_var("txn.scope", claims.scope or "")
  txn.http:req_set_header("X-Client-Id", tostring(claims.client_id))
end, 1)
