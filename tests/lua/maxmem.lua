-- One task grows a table until tune.lua.maxmem stops it; the other keeps ticking.
core.register_task(function()
    core.msleep(20)
    local hog = {}
    for i = 1, 100000000 do
        hog[i] = string.rep("x", 64) .. i
    end
end)
core.register_task(function()
    local n = 0
    while true do
        n = n + 1
        local t = {}
        for i = 1, 100 do t[i] = tostring(i) end
        core.Info("tick " .. n)
        core.msleep(30)
    end
end)
