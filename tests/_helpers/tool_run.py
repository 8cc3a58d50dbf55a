"""Run the user tools (tools/train.py, tools/test.py, ...) as subprocesses, as a user does."""
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

from .paths import REPO, TOOLS

TRAIN = osp.join(TOOLS, 'train.py')
TEST = osp.join(TOOLS, 'test.py')


def tool_env():
    """Environment of a tool subprocess: one OpenMP thread, and the source tree first on
    ``PYTHONPATH`` so that the tool imports it, not the installed copy of mmtad_ext."""
    path = os.environ.get('PYTHONPATH')
    return dict(os.environ, OMP_NUM_THREADS='1',
                PYTHONPATH=REPO + (os.pathsep + path if path else ''))


def run(args, cwd, timeout=600):
    """``python *args`` in ``cwd``; fails the test unless it exits 0; returns stdout + stderr."""
    proc = subprocess.run([sys.executable] + args, cwd=cwd, env=tool_env(), capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def run_tool(name, args, cwd, timeout=600):
    """``python tools/<name>.py *args`` in ``cwd``; returns the ``CompletedProcess``
    (``returncode``, ``stdout``, ``stderr``) whatever the exit status (error-output tests)."""
    return subprocess.run([sys.executable, osp.join(TOOLS, f'{name}.py')] + list(args),
                          cwd=str(cwd), env=tool_env(), capture_output=True, text=True,
                          timeout=timeout)


def run_failing(args, cwd):
    """``python *args`` in ``cwd``; fails the test if it exits 0; returns its stderr."""
    proc = subprocess.run([sys.executable] + args, cwd=cwd, env=tool_env(), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode != 0, proc.stdout[-2000:]
    return proc.stderr


def train_then_kill(cfg, work, cwd, checkpoint=None):
    """Start tools/train.py and SIGKILL it (whole process group) once ``work/last_checkpoint``
    exists and, if ``checkpoint`` (a file name such as ``'epoch_3.pth'``) is given, names that
    checkpoint (the runner writes it after the checkpoint file is complete); fail if the run
    ended before that."""
    proc = subprocess.Popen([sys.executable, TRAIN, cfg, '--work-dir', work], cwd=cwd,
                            env=tool_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    last = osp.join(work, 'last_checkpoint')

    def reached():
        if not osp.exists(last):
            return False
        with open(last) as f:  # may be read mid-write (empty): poll again
            return checkpoint is None or osp.basename(f.read().strip()) == checkpoint

    deadline = time.time() + 300
    while not reached() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, 'the run ended before it could be killed'
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def block_drop_report(work):
    """``work/block_drop.json`` without its wall-clock fields (they differ between runs)."""
    with open(osp.join(work, 'block_drop.json')) as f:
        report = json.load(f)
    for s in report['stages']:
        for key in ('selection_s', 'recovery_s', 'eval_s', 'latency_ms'):
            s.pop(key, None)
    return report
