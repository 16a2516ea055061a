-- A task that never yields by itself: only preemption gives the reactor back.
core.register_task(function()
    core.Info("spin: started")
    while true do end
end)
