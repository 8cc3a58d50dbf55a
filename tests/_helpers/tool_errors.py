"""Run a user tool as a subprocess and return how it ended (for the error-output tests)."""
import os
import os.path as osp
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(REPO, 'tools')


def run_tool(name, args, cwd, timeout=600):
    """``python tools/<name>.py *args`` in ``cwd`` with the source tree first on
    ``PYTHONPATH``; returns the ``CompletedProcess`` (``returncode``, ``stdout``, ``stderr``)."""
    path = os.environ.get('PYTHONPATH')
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=REPO + (os.pathsep + path if path else ''))
    return subprocess.run([sys.executable, osp.join(TOOLS, f'{name}.py')] + list(args),
                          cwd=str(cwd), env=env, capture_output=True, text=True,
                          timeout=timeout)
