-- Lua scenarios of bench/run.sh (-m lua): the same script runs in moonproxy and HAProxy 2.6.

-- An http-request action setting a header (and a variable the response rule shows).
core.register_action("set_hdr", { "http-req" }, function(txn)
    txn.http:req_set_header("x-lua", "1")
    txn:set_var("txn.lua", "action")
end)

-- A fetch used in a rule.
core.register_fetches("fetch_val", function(txn)
    return "fetched"
end)

-- An HTTP service answering 64 bytes.
local body64 = string.rep("x", 63) .. "\n"
core.register_service("hello64", "http", function(applet)
    applet:set_status(200)
    applet:add_header("content-type", "text/plain")
    applet:add_header("content-length", "64")
    applet:start_response()
    applet:send(body64)
end)

-- A service that computes before answering 64 bytes (-m lua-cpu): the proxy's CPU, not the
-- load generator's, limits the rate, which is what thread scaling needs to show.
core.register_service("work64", "http", function(applet)
    local x = 0
    for i = 1, 20000 do
        x = (x * 31 + i) % 1000003
    end
    applet:set_status(200)
    applet:add_header("content-type", "text/plain")
    applet:add_header("content-length", "64")
    applet:add_header("x-work", tostring(x))
    applet:start_response()
    applet:send(body64)
end)

-- An action that opens a connection to the backend per request (a sub-request).
core.register_action("subreq", { "http-req" }, function(txn, port)
    local s = core.tcp()
    s:settimeout(5)
    if not s:connect("127.0.0.1", tonumber(port)) then
        txn:set_var("txn.sub", "connect-failed")
        return
    end
    s:send("GET /64 HTTP/1.1\r\nhost: b\r\ncontent-length: 0\r\n\r\n")
    local line = s:receive("*l")
    s:close()
    txn:set_var("txn.sub", line and line:sub(10, 12) or "none")
end, 1)
