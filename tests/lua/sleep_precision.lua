-- Logs how long core.msleep(100) and core.sleep(1) really took, in milliseconds.
local function ms()
    local n = core.now()
    return n.sec * 1000 + n.usec // 1000
end
core.register_task(function()
    local t0 = ms()
    core.msleep(100)
    local t1 = ms()
    core.sleep(1)
    local t2 = ms()
    core.Info(string.format("slept msleep=%d sleep=%d", t1 - t0, t2 - t1))
end)
