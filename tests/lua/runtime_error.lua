core.Info("body starts")
error("boom")
