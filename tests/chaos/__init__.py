"""The chaos run: a store syncs through many runs while both sandboxes inject faults,
Cartum changes between runs and workers are killed with SIGKILL; at the end RO App is
compared with what Cartum's data alone says it should hold (``oracle``). ``scenario``
drives it, ``test_chaos`` is the short version in the test suite, ``run`` the long one
(``scripts/chaos.sh``)."""
