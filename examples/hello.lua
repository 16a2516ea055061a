-- The Lua side of examples/hello.cfg: an HTTP service answering by itself (no backend),
-- written against HAProxy's Lua API, so it runs unchanged under HAProxy 2.6 too.

local hits = 0

core.register_service("hello", "http", function(applet)
    hits = hits + 1
    local body = string.format(
        "Hello from %s! You asked for %s %s (request %d).\n",
        "Lua", applet.method, applet.path, hits)
    applet:set_status(200)
    applet:add_header("content-type", "text/plain")
    applet:add_header("content-length", tostring(#body))
    applet:start_response()
    applet:send(body)
end)
