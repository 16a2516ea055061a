-- Canary routing: a Lua fetch names the backend of each request.
--
--   frontend fe
--       use_backend %[lua.pick_backend(30)]
--
-- A user (X-User-Id, else the client address) is in the canary group when the CRC32 of
-- its id, modulo 100, is below the percentage; the cookie canary=always forces it and
-- canary=never keeps it out. When every server of the canary backend is down, everybody
-- goes to the stable one.

local function usable(name)
  local backend = core.backends[name]
  if backend == nil then return false end
  for _, server in pairs(backend.servers) do
    local status = server:get_stats()["status"]
    if status ~= "DOWN" and status ~= "MAINT" then return true end
  end
  return false
end

core.register_fetches("pick_backend", function(txn, percent)
  local forced = txn.f:req_cook("canary")
  if forced == "never" then return "stable" end
  local user = txn.f:req_hdr("x-user-id") or txn.f:src()
  local bucket = txn.c:crc32(user) % 100
  if (forced == "always" or bucket < tonumber(percent)) and usable("canary") then
    return "canary"
  end
  return "stable"
end)
