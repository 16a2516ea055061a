-- Two tasks taking turns through core.msleep: A at 0, 200, 400 ms; B at 100, 300, 500 ms.
core.register_task(function()
    for i = 1, 3 do
        core.Info("turn A" .. i)
        core.msleep(200)
    end
end)
core.register_task(function()
    core.msleep(100)
    for i = 1, 3 do
        core.Info("turn B" .. i)
        core.msleep(200)
    end
end)
