-- bench/lua-loop: the tight loop of the forced-yield table (doc/performance.md, "Lua").
--
-- One task spins a numeric `for` loop for LUA_LOOP_SECONDS seconds (default 5) of process CPU
-- time (os.clock()) and logs how many iterations it ran, with the CPU time and the time that
-- core.now() saw pass. Loaded as is by HAProxy 2.6 and moonproxy (`lua-load`), and by plain Lua
-- through plain.lua, which provides the three `core` functions used here. Only portable calls:
-- core.register_task, core.now, core.Alert, os.getenv (at load time) and os.clock.
--
-- Why CPU time and not core.now(): HAProxy 2.6's core.now() is its scheduler's cached date, which
-- a task that keeps yielding does not refresh (at forced-yield 100000 it advanced 0.2 s per
-- second of CPU, and at 1000000 a 2-second deadline was not reached in 30 s). CPU time also
-- makes the count independent of how much of a CPU the process got on a shared machine.
local seconds = tonumber(os.getenv("LUA_LOOP_SECONDS") or "") or 5
-- Iterations between two looks at the clock: small enough to stop within a few ms of the
-- deadline at forced-yield 10, large enough that the clock costs nothing (one C call per
-- 200,000 VM instructions).
local CHUNK = 100000

local function wall_ms()
    local t = core.now()
    return t.sec * 1000 + t.usec / 1000
end

core.register_task(function()
    local x, loops = 0, 0
    local w0, c0 = wall_ms(), os.clock()
    core.Alert("lua-loop: start")
    repeat
        -- The loop under test: two VM instructions per iteration (ADD, FORLOOP).
        for i = 1, CHUNK do
            x = x + i
        end
        loops = loops + CHUNK
    until os.clock() - c0 >= seconds
    core.Alert(string.format("lua-loop: done loops=%d cpu_ms=%.0f now_ms=%.0f check=%d",
        loops, (os.clock() - c0) * 1000, wall_ms() - w0, x % 1000))
end)
