-- An IP blocklist kept up to date by a task: every few seconds it downloads the list
-- (one address or CIDR-less IPv4 per line, # comments) with core.httpclient() and swaps
-- the table the action reads. A failed download keeps the previous list.
--
--   global
--       setenv BLOCKLIST_URL http://127.0.0.1:9000/blocklist.txt
--       lua-load /etc/haproxy/blocklist.lua
--   frontend fe
--       http-request lua.check_blocklist
--       http-request deny deny_status 403 if { var(txn.blocked) -m bool }

local url = os.getenv("BLOCKLIST_URL")
local refresh_ms = tonumber(os.getenv("BLOCKLIST_REFRESH_MS") or "5000")
local blocked = {}
local generation = 0

local function parse(text)
  local set = {}
  for line in text:gmatch("[^\r\n]+") do
    local addr = line:match("^%s*([%d%.:a-fA-F]+)%s*$")
    if addr then set[addr] = true end
  end
  return set
end

core.register_task(function()
  while true do
    local res = core.httpclient():get{ url = url, timeout = 2000 }
    if res and res.status == 200 then
      blocked = parse(res.body)
      generation = generation + 1
    else
      core.Warning("blocklist: download failed (" .. tostring(res and res.status) .. "), keeping the old list")
    end
    core.msleep(refresh_ms)
  end
end)

core.register_action("check_blocklist", { "http-req" }, function(txn)
  -- A proxy in front of us says who the client is; else the connection's source.
  local client = txn.f:req_hdr("x-forwarded-for") or txn.f:src()
  txn:set_var("txn.blocked", blocked[client] == true)
  txn:set_var("txn.blocklist_gen", generation)
end)
