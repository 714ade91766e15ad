"""The state database: watermarks, id maps, run history, quarantine and the shared rate limit."""
