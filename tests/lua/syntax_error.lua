core.Info("never printed")
local x =
