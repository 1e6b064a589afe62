"""Local development services (Azurite, the simulator). Not deployed (see .funcignore)."""
