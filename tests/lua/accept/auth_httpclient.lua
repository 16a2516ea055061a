-- Authentication sub-request with core.httpclient() (HAProxy 2.5+).
--
--   global
--       lua-load /etc/haproxy/auth_httpclient.lua
--   frontend fe
--       http-request lua.auth_httpclient http://127.0.0.1:8081/auth
--       http-request deny deny_status 503 if { var(txn.auth_status) -m int ge 500 }
--       http-request deny deny_status 401 unless { var(txn.auth_ok) -m bool }
--
-- The Authorization header of the client goes to the auth server; the answer's status is
-- kept in txn.auth_status (HAProxy's own 503 when the server refuses the connection, 504
-- when it does not answer within the timeout) and a 200 sets txn.auth_ok and passes the
-- user the auth server names (X-User) to the backend.

core.register_action("auth_httpclient", { "http-req" }, function(txn, url)
  local headers = {}
  local auth = txn.http:req_get_headers()["authorization"]
  if auth ~= nil then
    headers["Authorization"] = { auth[0] }
  end

  local httpclient = core.httpclient()
  local res = httpclient:get{ url = url, headers = headers, timeout = 1000 }

  txn:set_var("txn.auth_status", res.status)
  if res.status == 200 then
    txn:set_var("txn.auth_ok", true)
    local user = res.headers["x-user"]
    if user ~= nil then
      txn.http:req_set_header("X-User", user[0])
    end
  end
end, 1)
