-- core.proxies, core.frontends and core.backends (src/lua/api/world.rs).
--
-- As in HAProxy 2.6, each object is a table holding its private reference at [0], with
-- its fields (Proxy: name, uuid, servers, listeners; Server: name, puid) and a metatable
-- whose __index holds the class's methods. The three tables are built at their first
-- use once the configuration is loaded (nil in lua-load bodies, as in 2.6), then kept
-- until a server is added or deleted at run time (the CLI's `add server`/`del server`):
-- the next use then builds them again, with the servers of the moment (HAProxy 2.6
-- keeps its first tables, without the servers added since; doc/cli.md).
local prim = __moonproxy_world
__moonproxy_world = nil

local Proxy = { __index = prim.Proxy, __tostring = function() return "HAProxy class Proxy" end }
local Server = { __index = prim.Server, __tostring = function() return "HAProxy class Server" end }
local Listener = { __index = prim.Listener, __tostring = function() return "HAProxy class Listener" end }

-- StickTable (src/lua/api/stktable.rs): dump's filter, a list of at most 4
-- {col, op, val} triplets, is checked here and passed flat.
local stkdump = prim.stkdump
prim.StickTable.dump = function(t, filter)
    local flat = {}
    if filter ~= nil then
        if #filter > 4 then
            return nil, "Filter table too large (len > 4)"
        end
        for i, f in ipairs(filter) do
            if type(f) ~= "table" or #f ~= 3 then
                return nil, 'Filter table entry must be a triplet: {"data_col", "op", val} (entry #' .. i .. ')'
            end
            local n = #flat
            flat[n + 1] = f[1]
            flat[n + 2] = f[2]
            flat[n + 3] = f[3]
        end
    end
    return stkdump(t, table.unpack(flat))
end
local StickTable = { __index = prim.StickTable, __tostring = function() return "HAProxy class StickTable" end }

local function build()
    local proxies, frontends, backends = {}, {}, {}
    for i = 1, prim.count() do
        local name, uuid, fe, be, nsrv, nli = prim.proxy(i)
        local servers, listeners = {}, {}
        for j = 1, nsrv do
            local sname, puid = prim.server(i, j)
            if sname then
                servers[sname] = setmetatable({ [0] = prim.ref(2, i, j), name = sname, puid = puid }, Server)
            end
        end
        for k = 1, nli do
            listeners[prim.listener(i, k)] = setmetatable({ [0] = prim.ref(3, i, k) }, Listener)
        end
        local st = prim.stktable(name)
        local p = setmetatable({ [0] = prim.ref(1, i, 0), name = name, uuid = uuid,
            servers = servers, listeners = listeners,
            stktable = st and setmetatable({ [0] = st }, StickTable) }, Proxy)
        -- A frontend and a backend sharing a name: the later one stays in core.proxies.
        proxies[name] = p
        if fe then frontends[name] = p end
        if be then backends[name] = p end
    end
    return proxies, frontends, backends
end

local which = { proxies = 1, frontends = 2, backends = 3 }

local built, built_gen = nil, nil

setmetatable(core, { __index = function(_, k)
    local n = which[k]
    if not n then
        return nil
    end
    local ready, gen = prim.ready()
    if not ready then
        return nil
    end
    if built_gen ~= gen then
        built, built_gen = { build() }, gen
    end
    return built[n]
end })
