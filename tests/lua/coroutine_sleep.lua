-- core.msleep deep in a script coroutine suspends the whole task (doc/lua-ffi.md rule Y3):
-- the script's coroutine.resume never sees that yield, and other tasks run meanwhile.
core.register_task(function()
    local co = coroutine.wrap(function()
        core.msleep(150)
        coroutine.yield("inner value")
    end)
    core.Info("inner returned " .. co())
end)
core.register_task(function()
    core.msleep(50)
    core.Info("other task ran")
end)
