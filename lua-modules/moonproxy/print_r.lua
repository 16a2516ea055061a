-- moonproxy.print_r: a readable dump of any Lua value (tables recursively), for debugging.
--
--   local print_r = require("moonproxy.print_r")
--   print_r(value [, color [, display]])    -- writes the dump through display(text)
--   local text = print_r.tostring(value [, color])
--
-- Table keys are sorted (numbers, then strings, then the rest), strings are quoted with %q,
-- a table met again on the current path is shown as <cycle>, one already shown elsewhere as
-- <seen>. Userdata and tables with a metatable show the names in the metatable's __index table
-- (the methods of HAProxy classes such as TXN, HTTP or Channel).
--
-- The default display writes to stdout: that blocks, so at run time (actions, fetches,
-- services, tasks) pass a logging function instead, e.g. print_r(t, false, core.Debug), or
-- log print_r.tostring(t).

local M = {}

local type, tostring, pairs, ipairs, next, getmetatable = type, tostring, pairs, ipairs, next, getmetatable
local format, rep, concat, sort = string.format, string.rep, table.concat, table.sort

local COLORS = {
  ["nil"] = "\27[35m", boolean = "\27[35m", number = "\27[36m", string = "\27[32m",
  table = "\27[34m", ["function"] = "\27[33m", userdata = "\27[31m", thread = "\27[31m",
}
local RESET = "\27[0m"

local TYPE_RANK = { number = 1, string = 2 }

local function key_less(a, b)
  local ta, tb = type(a), type(b)
  local ra, rb = TYPE_RANK[ta] or 3, TYPE_RANK[tb] or 3
  if ra ~= rb then return ra < rb end
  if ra == 3 then return tostring(a) < tostring(b) end
  return a < b
end

local function scalar(v)
  if type(v) == "string" then return format("%q", v) end
  return tostring(v)
end

local function label(v, color)
  local t = type(v)
  local text = "(" .. t .. ") " .. scalar(v)
  if color then return (COLORS[t] or "") .. text .. RESET end
  return text
end

-- The method names reachable through the metatable's __index table, sorted.
local function methods(v)
  local mt = getmetatable(v)
  if type(mt) ~= "table" or type(mt.__index) ~= "table" then return nil end
  local names = {}
  for k, f in pairs(mt.__index) do
    if type(k) == "string" and type(f) == "function" then names[#names + 1] = k end
  end
  if #names == 0 then return nil end
  sort(names)
  return names
end

local function dump(out, v, color, indent, path, seen)
  local t = type(v)
  if t ~= "table" and t ~= "userdata" then
    out[#out + 1] = label(v, color)
    return
  end
  if path[v] then out[#out + 1] = label(v, color) .. " <cycle>"; return end
  if seen[v] then out[#out + 1] = label(v, color) .. " <seen>"; return end
  seen[v] = true
  local names = methods(v)
  if t == "userdata" and not names then out[#out + 1] = label(v, color); return end
  if t == "table" and not names and next(v) == nil then out[#out + 1] = label(v, color) .. " {}"; return end
  path[v] = true
  out[#out + 1] = label(v, color) .. " {"
  local pad = rep("  ", indent + 1)
  if t == "table" then
    local keys = {}
    for k in next, v do keys[#keys + 1] = k end
    sort(keys, key_less)
    for _, k in ipairs(keys) do
      out[#out + 1] = "\n" .. pad .. "[" .. scalar(k) .. "] = "
      dump(out, v[k], color, indent + 1, path, seen)
    end
  end
  if names then
    out[#out + 1] = "\n" .. pad .. "methods: " .. concat(names, ", ")
  end
  out[#out + 1] = "\n" .. rep("  ", indent) .. "}"
  path[v] = nil
end

--- The dump of `value` as a string (no I/O: usable at run time).
function M.tostring(value, color)
  local out = {}
  dump(out, value, color, 0, {}, {})
  return concat(out)
end

local function stdout(text)
  io.stdout:write(text, "\n")
end

--- Writes the dump of `value` through `display(text)` (default: stdout, blocking).
function M.print_r(value, color, display)
  (display or stdout)(M.tostring(value, color))
end

return setmetatable(M, {
  __call = function(_, value, color, display) return M.print_r(value, color, display) end,
})
