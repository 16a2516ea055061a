-- Two tasks taking turns through core.msleep: A at 0, 100, 200 ms; B at 50, 150, 250 ms.
core.register_task(function()
    for i = 1, 3 do
        core.Info("turn A" .. i)
        core.msleep(100)
    end
end)
core.register_task(function()
    core.msleep(50)
    for i = 1, 3 do
        core.Info("turn B" .. i)
        core.msleep(100)
    end
end)
