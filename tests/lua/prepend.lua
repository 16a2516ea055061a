-- Found through lua-prepend-path; registered twice (HAProxy 2.6 warns and keeps the last).
local m = require("prepended")
core.Alert("required answer " .. m.answer)
core.register_fetches("f", function() return 1 end)
core.register_fetches("f", function() return 2 end)
