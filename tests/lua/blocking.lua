-- A blocking call is fine while loading; at run time it is reported (or refused in strict mode).
local f = io.open("/dev/null", "r")
if f then f:close() end
core.register_task(function()
    for i = 1, 3 do
        local ok, err = pcall(io.open, "/dev/null", "r")   -- same call site three times
        core.Alert("blocking: open " .. tostring(ok) .. " " .. tostring(err))
        core.msleep(5)
    end
    core.Alert("blocking: done")
end)
