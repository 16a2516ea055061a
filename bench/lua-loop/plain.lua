-- bench/lua-loop: runs loop.lua under a plain Lua interpreter (`lua5.4 plain.lua loop.lua`).
--
-- Provides the three `core` functions loop.lua uses. A standalone interpreter has no
-- sub-second wall clock, so core.now() here is the process CPU time (os.clock()): for a single
-- thread that is never descheduled it is the wall time, and the loops per CPU second that
-- run.sh compares are the same figure either way.
core = {}
local tasks = {}

function core.now()
    local c = os.clock()
    return { sec = math.floor(c), usec = math.floor((c % 1) * 1e6) }
end

function core.Alert(msg)
    io.stderr:write("[alert] ", msg, "\n")
end

function core.register_task(fn)
    tasks[#tasks + 1] = fn
end

dofile(assert(arg[1], "usage: lua5.4 plain.lua loop.lua"))
for _, fn in ipairs(tasks) do
    fn()
end
