-- Request body validation: JSON bodies must parse and must not try to set privileged
-- fields. Needs the body buffered before the rules run:
--
--   frontend api
--       option http-buffer-request
--       http-request lua.json_guard if { method POST PUT PATCH }
--
-- A body that is not JSON or that sets "role" or "is_admin" is refused with a 400 or 403
-- JSON error made with cjson; a valid one goes on with the number of its fields in
-- X-Json-Fields.

local cjson = require "cjson"

local FORBIDDEN = { role = true, is_admin = true }

local function refuse(txn, status, message)
  local body = cjson.encode({ error = message })
  txn:done(txn:reply{
    status = status,
    headers = { ["content-type"] = { "application/json" } },
    body = body,
  })
end

core.register_action("json_guard", { "http-req" }, function(txn)
  local content_type = txn.f:req_hdr("content-type") or ""
  if not content_type:find("application/json", 1, true) then
    return
  end
  local ok, doc = pcall(cjson.decode, txn.f:req_body() or "")
  if not ok or type(doc) ~= "table" then
    return refuse(txn, 400, "invalid JSON")
  end
  local fields = 0
  for key in pairs(doc) do
    if FORBIDDEN[key] then
      return refuse(txn, 403, "field '" .. key .. "' is not allowed")
    end
    fields = fields + 1
  end
  txn.http:req_set_header("X-Json-Fields", tostring(fields))
end)
