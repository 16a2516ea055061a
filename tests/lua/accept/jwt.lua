-- JWT (HS256) verification in Lua with lua-cjson, as blog posts show it for HAProxy 2.x.
--
--   global
--       lua-prepend-path /usr/lib/x86_64-linux-gnu/lua/5.3/?.so cpath
--       setenv JWT_KEY_B64 c2VjcmV0          # the HMAC key, base64 (hmac converter's form)
--       lua-load /etc/haproxy/jwt.lua
--   frontend fe
--       http-request lua.jwt_verify
--       http-request return status 401 content-type text/plain lf-string "%[var(txn.jwt_error)]" unless { var(txn.jwt_ok) -m bool }
--
-- The token comes from "Authorization: Bearer <jwt>". Its header and payload are
-- base64url-decoded here and parsed with cjson; the signature is checked with HAProxy's
-- hmac(sha256,<key>) converter through txn.c when JWT_KEY_B64 is set; `exp` (and `nbf`
-- when present) are checked against core.now(). The claims `sub` and `scope` and the
-- `roles` array go to the backend as X-JWT-* headers. The converter lua.jwt_claim(<name>)
-- reads one claim of a token without checking it (for logs and routing):
--       http-request set-var(txn.tenant) req.hdr(authorization),word(2,' '),lua.jwt_claim(tenant)

local cjson = require "cjson"

local key_b64 = os.getenv("JWT_KEY_B64")

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local sextet = {}
for i = 1, #alphabet do
  sextet[alphabet:byte(i)] = i - 1
end

-- base64url without padding (RFC 7515 section 2); nil on a character outside the alphabet.
local function b64url_decode(s)
  local out, acc, nbits = {}, 0, 0
  for i = 1, #s do
    local v = sextet[s:byte(i)]
    if v == nil then return nil end
    acc = (acc << 6) | v
    nbits = nbits + 6
    if nbits >= 8 then
      nbits = nbits - 8
      out[#out + 1] = string.char((acc >> nbits) & 0xFF)
      acc = acc & ((1 << nbits) - 1)
    end
  end
  return table.concat(out)
end

local function decode_json_part(part)
  local raw = b64url_decode(part)
  if raw == nil then return nil end
  local ok, value = pcall(cjson.decode, raw)
  if not ok or type(value) ~= "table" then return nil end
  return value
end

local function reject(txn, why)
  txn:set_var("txn.jwt_error", why)
  return act.CONTINUE
end

core.register_action("jwt_verify", { "http-req" }, function(txn)
  txn:set_var("txn.jwt_ok", false)
  local auth = txn.http:req_get_headers()["authorization"]
  if auth == nil then return reject(txn, "no token") end
  local token = auth[0]:match("^[Bb]earer%s+(%S+)$")
  if token == nil then return reject(txn, "not a bearer token") end

  local h64, p64, s64 = token:match("^([%w_-]+)%.([%w_-]+)%.([%w_-]*)$")
  if h64 == nil then return reject(txn, "malformed token") end
  local header, payload = decode_json_part(h64), decode_json_part(p64)
  if header == nil or payload == nil then return reject(txn, "bad JSON") end
  if header.alg ~= "HS256" then return reject(txn, "unsupported alg") end

  if key_b64 ~= nil then
    local expected = txn.c:hmac(h64 .. "." .. p64, "sha256", key_b64)
    if expected == nil or expected ~= b64url_decode(s64) then
      return reject(txn, "bad signature")
    end
  end

  local now = core.now().sec
  if type(payload.exp) ~= "number" or payload.exp <= now then
    return reject(txn, "expired")
  end
  if type(payload.nbf) == "number" and payload.nbf > now then
    return reject(txn, "not yet valid")
  end

  txn.http:req_set_header("X-JWT-Sub", tostring(payload.sub))
  if payload.scope ~= nil and payload.scope ~= cjson.null then
    txn.http:req_set_header("X-JWT-Scope", tostring(payload.scope))
  end
  if type(payload.roles) == "table" then
    txn.http:req_set_header("X-JWT-Roles", table.concat(payload.roles, ","))
  end
  txn:set_var("txn.jwt_ok", true)
  return act.CONTINUE
end)

core.register_converters("jwt_claim", function(token, name)
  local p64 = token:match("^[%w_-]+%.([%w_-]+)%.")
  local payload = p64 and decode_json_part(p64)
  -- An empty string when absent: HAProxy 2.6 turns a nil result into the boolean false
  -- (a found sample that prints "0").
  if payload == nil or payload[name] == nil or payload[name] == cjson.null then
    return ""
  end
  return tostring(payload[name])
end)
