-- lua-load passes the words after the file name as `...`.
core.Alert("args: " .. select("#", ...) .. " " .. table.concat({...}, ","))
core.register_init(function() core.Alert("init function ran") end)
