core.register_task(function()
    error("task boom")
end)
