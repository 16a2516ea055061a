core.register_init(function()
    error("init boom")
end)
