-- Request and response rewriting of the kind people move from nginx to HAProxy with:
--
--   frontend fe
--       http-request lua.api_rewrite if { path_beg /api/ }
--       http-response lua.harden
--
-- /api/v1/<x> goes to the backend as /<x> (prefix stripped, query kept, a version header
-- added); a session cookie is removed from the Cookie header before the backend sees it;
-- the X-Debug header is only kept for internal clients. On the way back the Server header
-- goes, security headers come, and the backend's version header is renamed.

core.register_action("api_rewrite", { "http-req" }, function(txn)
  local path = txn.sf:path()
  local version, rest = path:match("^/api/(v%d+)(/.*)$")
  if version == nil then
    version, rest = "v1", path:sub(5)
  end
  txn.http:req_set_path(rest)
  txn.http:req_set_header("X-API-Version", version)
  if txn.sf:query() ~= "" then
    txn.http:req_set_query(txn.sf:query() .. "&via=haproxy")
  end
  -- Remove tracking_id=... from every Cookie header. As `replace-header`, the regex (a
  -- PCRE, not a Lua pattern) must match the whole value, which the replacement rebuilds.
  txn.http:req_rep_header("Cookie", "^(.*?)tracking_id=[^;]*(; )?(.*)$", "\\1\\3")
  if not txn.f:src():match("^127%.") then
    txn.http:req_del_header("X-Debug")
  end
end)

core.register_action("harden", { "http-res" }, function(txn)
  txn.http:res_del_header("Server")
  txn.http:res_set_header("Strict-Transport-Security", "max-age=63072000")
  txn.http:res_set_header("X-Content-Type-Options", "nosniff")
  local backend_version = txn.http:res_get_headers()["x-app-version"]
  if backend_version ~= nil then
    txn.http:res_del_header("X-App-Version")
    txn.http:res_add_header("X-Version", backend_version[0])
  end
  if txn.f:status() == 404 then  -- txn.sf would give the string "404"
    txn.http:res_set_status(410, "Gone For Good")
  end
end)
