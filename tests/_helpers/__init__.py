"""Shared test helpers (not test modules): tiny configs, tool subprocesses, test data files.

``tests/`` is on ``sys.path`` (``pythonpath`` in pytest.ini), so test modules import these as
``from _helpers.tool_run import run``; no test module imports another test module.
"""
