-- The Lua side of examples/redis-ratelimit.cfg: one shared limiter, registered as the
-- action `lua.ratelimit`. Options: lua-modules/moonproxy/redis_ratelimit.lua.

require("moonproxy.redis_ratelimit").register({
    name = "ratelimit",
    server = "127.0.0.1:6379",
    limit = 100,
    window = 10,
})
