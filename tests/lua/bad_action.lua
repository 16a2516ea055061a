core.register_action("a", {"foo"}, function() end)
