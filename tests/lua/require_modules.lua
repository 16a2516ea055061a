-- Modules shipped inside the binary, and Debian's cjson through lua-prepend-path ... cpath.
local codec = require("moonproxy.codec")
core.Alert("codec: crc32=" .. codec.crc32("123456789") .. " b64=" .. codec.base64("moon"))
local want_cjson = ...
if want_cjson == "cjson" then
    local cjson = require("cjson")
    local doc = cjson.decode('{"a":[1,2,3],"b":"x"}')
    core.Alert("cjson: " .. doc.b .. " " .. #doc.a .. " " .. cjson.encode({k = "v"}))
end
