"""The ``mlgate`` command line: one module per domain, all calling the same services."""
