-- Task arguments, a task registered by a task, core.yield, and core.done (which pcall cannot
-- catch: the task ends there).
core.register_task(function(a, b)
    core.Info("args " .. a .. " " .. b)
    core.register_task(function() core.Info("child task ran") end)
    core.yield()
    pcall(core.done)
    core.Info("after done")
end, "x", 42)
core.register_task(function()
    core.msleep(200)
    core.Info("marker")
end)
