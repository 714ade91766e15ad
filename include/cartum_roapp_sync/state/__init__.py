"""The state database: store facts and cursors, id maps, run data and history, quarantine and
the shared rate limit's slots (tables in ``tables``)."""
