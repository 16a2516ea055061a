-- moonproxy.redis_ratelimit: a fixed-window rate limiter whose counters live in Redis, so
-- that every moonproxy (or HAProxy) process and machine in front of a service counts the
-- same requests. See doc/operations.md, "Several machines".
--
--   local ratelimit = require("moonproxy.redis_ratelimit")
--   ratelimit.register({
--       name = "ratelimit",            -- the action: `http-request lua.ratelimit`
--       server = "127.0.0.1:6379",     -- Redis: "ip:port", "[v6]:port" or "unix@/path"
--       limit = 100,                   -- requests allowed per key and window
--       window = 10,                   -- the window, in seconds
--       -- optional:
--       key = function(txn) return txn.f:src() end, -- what is counted (default: client address)
--       var = "txn.ratelimit",         -- sets <var>_count (integer) and <var>_over (boolean)
--       prefix = "ratelimit:",         -- Redis key prefix
--       timeout = 0.2,                 -- seconds, for connect and each reply
--       pool = 8,                      -- idle Redis connections kept per thread
--   })
--
-- and in a frontend:
--
--   http-request lua.ratelimit
--   http-request deny deny_status 429 if { var(txn.ratelimit_over) -m bool }
--
-- Each request sends `INCR <prefix><key>:<window number>` and `EXPIRE` (two windows) in one
-- write (pipelined) and reads both replies. The window number is the Unix time divided by
-- the window, so all processes agree on it as long as their clocks do (NTP).
--
-- When Redis cannot be reached or answers an error, the request is let through (failing
-- open: the limiter protects the service, it must not take it down) and a warning is
-- logged, at most once a second with the number of requests let through meanwhile.
--
-- Only HAProxy's Lua API is used (core.tcp, core.now, core.register_action, TXN:set_var),
-- so the same file runs on HAProxy 2.6 from `package.path`.

local M = {}

-- One command in RESP, Redis's protocol: an array of bulk strings.
local function command(...)
    local args = { ... }
    local out = { "*" .. #args .. "\r\n" }
    for _, a in ipairs(args) do
        a = tostring(a)
        out[#out + 1] = "$" .. #a .. "\r\n" .. a .. "\r\n"
    end
    return table.concat(out)
end

-- Reads one reply that must be an integer (":<n>"); an error reply ("-ERR ...") or anything
-- else is an error.
local function read_integer(sock)
    local line, err = sock:receive("*l")
    if not line then
        return nil, err or "connection closed"
    end
    line = line:gsub("\r$", "")
    local kind, rest = line:sub(1, 1), line:sub(2)
    if kind == ":" and tonumber(rest) then
        return tonumber(rest)
    elseif kind == "-" then
        return nil, "Redis replied: " .. rest
    end
    return nil, "unexpected reply: " .. line
end

local Limiter = {}
Limiter.__index = Limiter

local function check(cond, message)
    if not cond then
        error("redis_ratelimit: " .. message, 3)
    end
end

-- A limiter without an action: `limiter:hit(key)` returns the key's count in the current
-- window, or nil and an error message.
function M.new(opts)
    check(type(opts) == "table", "options must be a table")
    check(type(opts.server) == "string", "'server' (\"ip:port\") is required")
    check(math.type(opts.limit) == "integer" and opts.limit >= 0, "'limit' must be an integer >= 0")
    check(math.type(opts.window) == "integer" and opts.window > 0, "'window' must be a positive integer (seconds)")
    check(opts.key == nil or type(opts.key) == "function", "'key' must be a function(txn)")
    local self = setmetatable({
        server = opts.server,
        limit = opts.limit,
        window = opts.window,
        key = opts.key or function(txn) return txn.f:src() end,
        var = opts.var or "txn.ratelimit",
        prefix = opts.prefix or "ratelimit:",
        timeout = opts.timeout or 0.2,
        pool = opts.pool or 8,
        idle = {},         -- per thread (core.thread): connected sockets, ready for reuse
        failures = 0,      -- requests let through since the last warning
        last_warning = nil,
    }, Limiter)
    return self
end

-- The idle connections of this thread. A socket belongs to the thread that made it (HAProxy
-- refuses to use it from another one when `lua-load` shares a state between threads).
function Limiter:idle_here()
    local idle = self.idle[core.thread]
    if not idle then
        idle = {}
        self.idle[core.thread] = idle
    end
    return idle
end

-- An idle connection, or a new one (second result true).
function Limiter:take()
    local sock = table.remove(self:idle_here())
    if sock then
        return sock, false
    end
    sock = core.tcp()
    sock:settimeout(self.timeout)
    local ok, err = sock:connect(self.server)
    if not ok then
        sock:close()
        return nil, err or "Can't connect"
    end
    return sock, true
end

function Limiter:give(sock)
    local idle = self:idle_here()
    if #idle < self.pool then
        idle[#idle + 1] = sock
    else
        sock:close()
    end
end

-- Sends the pipelined commands and reads INCR's count (EXPIRE's reply is read and dropped).
local function exchange(sock, payload)
    if sock:send(payload) ~= #payload then
        return nil, "connection closed"
    end
    local count, err = read_integer(sock)
    if not count then
        return nil, err
    end
    local _, err2 = read_integer(sock)
    if err2 then
        return nil, err2
    end
    return count
end

function Limiter:hit(key)
    local rkey = string.format("%s%s:%d", self.prefix, key, core.now().sec // self.window)
    local payload = command("INCR", rkey) .. command("EXPIRE", rkey, 2 * self.window)
    -- An idle connection may have been closed by Redis meanwhile: then once more on a new
    -- one. (If Redis counted before the connection broke, that request counts twice.)
    while true do
        local sock, fresh = self:take()
        if not sock then
            return nil, fresh
        end
        -- pcall: HAProxy raises an error for a socket made by another thread (a state
        -- shared by threads, `lua-load` with nbthread > 1); such a socket is dropped.
        local ok, count, err = pcall(exchange, sock, payload)
        if ok and count then
            self:give(sock)
            return count
        end
        pcall(sock.close, sock)
        if fresh then
            return nil, ok and err or tostring(count)
        end
    end
end

-- Logs that requests pass unchecked, at most once a second.
function Limiter:fail_open(err)
    self.failures = self.failures + 1
    local now = core.now().sec
    if self.last_warning ~= now then
        core.Warning(string.format(
            "redis_ratelimit: Redis at %s: %s: %d request(s) let through unchecked (failing open)",
            self.server, err, self.failures))
        self.failures = 0
        self.last_warning = now
    end
end

-- Counts the request and sets <var>_count and <var>_over; on a Redis failure sets nothing.
function Limiter:check(txn)
    local key = self.key(txn)
    if key == nil or key == "" then
        return
    end
    local count, err = self:hit(key)
    if not count then
        self:fail_open(err)
        return
    end
    txn:set_var(self.var .. "_count", count)
    txn:set_var(self.var .. "_over", count > self.limit)
end

-- Creates a limiter and registers it as the action `lua.<opts.name>` (default
-- "ratelimit") for `http-request` and `tcp-request content` rules. Returns the limiter.
function M.register(opts)
    local limiter = M.new(opts)
    local name = opts.name or "ratelimit"
    core.register_action(name, { "http-req", "tcp-req" }, function(txn)
        limiter:check(txn)
    end, 0)
    return limiter
end

-- Exposed for tests and for scripts that speak RESP themselves.
M.command = command

return M
