-- moonproxy prelude (src/lua/hook.rs, doc/lua-ffi.md section 8).
--
-- Wraps coroutine.resume and coroutine.wrap so that the preemption timer knows which
-- coroutine really runs (enter/leave), and so that a yield meant for the task (forced yield,
-- sleep, I/O) made inside a script's coroutine suspends the whole task instead of returning
-- to the script's resume.
local enter, leave = ...
if type(coroutine) ~= "table" then return end

local co_create, co_resume, co_yield = coroutine.create, coroutine.resume, coroutine.yield
local co_status, co_close = coroutine.status, coroutine.close
local error, type = error, type

local after

local function again(co, ...)
  return after(co, co_resume(enter(co), ...))
end

after = function(co, ok, ...)
  local action = leave(co)
  if action == 0 then
    return ok, ...
  elseif action == 1 then
    -- pass the task-level yield up; resume the inner coroutine with what the task gets back
    return again(co, co_yield())
  end
  -- a forced yield where the caller cannot yield: keep running the inner coroutine
  return again(co)
end

function coroutine.resume(co, ...)
  return again(co, ...)
end

local function wrap_results(co, ok, ...)
  if ok then
    return ...
  end
  local err = ...
  if co_status(co) == "dead" then
    co_close(co)
  end
  if type(err) == "string" then
    error(err, 2)
  end
  error(err, 0)
end

function coroutine.wrap(f)
  local co = co_create(f)
  return function(...)
    return wrap_results(co, again(co, ...))
  end
end
