"""dist_test.sh / slurm_train.sh / slurm_test.sh: syntax, usage message, and the exact command
they launch (``srun`` and the Python interpreter replaced by stubs that record their argv)."""
import os
import os.path as osp
import stat
import subprocess

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(REPO, 'tools')
SCRIPTS = ['dist_train.sh', 'dist_test.sh', 'slurm_train.sh', 'slurm_test.sh']


def _stub(path, name):
    """An executable that writes ``name``, then its arguments one per line, to $ARGV_LOG."""
    path.write_text(f'#!/usr/bin/env bash\n{{ echo {name}; printf "%s\\n" "$@"; }} '
                    '>> "$ARGV_LOG"\n')
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def _run(script, args, tmp_path, **env):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(exist_ok=True)
    _stub(bin_dir / 'srun', 'srun')
    python = _stub(bin_dir / 'fake_python', 'python')
    log = tmp_path / 'argv.log'
    full_env = dict(os.environ, PATH=f'{bin_dir}:{os.environ["PATH"]}', PYTHON=python,
                    ARGV_LOG=str(log), **env)
    proc = subprocess.run(['bash', osp.join(TOOLS, script)] + args, env=full_env,
                          capture_output=True, text=True, timeout=30)
    return proc, (log.read_text().splitlines() if log.exists() else [])


@pytest.mark.parametrize('script', SCRIPTS)
def test_syntax(script):
    subprocess.run(['bash', '-n', osp.join(TOOLS, script)], check=True, timeout=30)


@pytest.mark.parametrize('script,args,usage', [
    ('dist_test.sh', ['cfg.py', 'ckpt.pth'], 'CONFIG CHECKPOINT GPUS'),
    ('slurm_train.sh', ['part', 'job', 'cfg.py'], 'PARTITION JOB_NAME CONFIG WORK_DIR'),
    ('slurm_test.sh', ['part', 'job', 'cfg.py'], 'PARTITION JOB_NAME CONFIG CHECKPOINT'),
])
def test_usage_when_arguments_are_missing(script, args, usage, tmp_path):
    proc, argv = _run(script, args, tmp_path)
    assert proc.returncode == 2
    assert 'Usage:' in proc.stderr and usage in proc.stderr
    assert argv == []  # nothing launched


def test_dist_test_command(tmp_path):
    proc, argv = _run('dist_test.sh', ['cfg.py', 'ckpt.pth', '2', '--dump', 'out.json'],
                      tmp_path, PORT='29777')
    assert proc.returncode == 0, proc.stderr
    assert argv == ['python', '-m', 'torch.distributed.run', '--nnodes=1', '--node_rank=0',
                    '--master_addr=127.0.0.1', '--nproc_per_node=2', '--master_port=29777',
                    osp.join(TOOLS, 'test.py'), 'cfg.py', 'ckpt.pth', '--launcher', 'pytorch',
                    '--dump', 'out.json']


def test_slurm_train_command(tmp_path):
    proc, argv = _run('slurm_train.sh', ['part', 'job', 'cfg.py', 'work_dirs/x', '--resume'],
                      tmp_path, GPUS='16', SRUN_ARGS='--quotatype=auto --mem=0')
    assert proc.returncode == 0, proc.stderr
    python = str(tmp_path / 'bin' / 'fake_python')
    # SRUN_ARGS is split into separate srun options
    assert argv == ['srun', '-p', 'part', '--job-name=job', '--gres=gpu:8', '--ntasks=16',
                    '--ntasks-per-node=8', '--cpus-per-task=5', '--kill-on-bad-exit=1',
                    '--quotatype=auto', '--mem=0', python, '-u', osp.join(TOOLS, 'train.py'),
                    'cfg.py', '--work-dir=work_dirs/x', '--launcher=slurm', '--resume']


def test_slurm_test_command(tmp_path):
    proc, argv = _run('slurm_test.sh', ['part', 'job', 'cfg.py', 'ckpt.pth', '--dump', 'o.json'],
                      tmp_path, GPUS='4', GPUS_PER_NODE='4', CPUS_PER_TASK='2')
    assert proc.returncode == 0, proc.stderr
    assert argv == ['srun', '-p', 'part', '--job-name=job', '--gres=gpu:4', '--ntasks=4',
                    '--ntasks-per-node=4', '--cpus-per-task=2', '--kill-on-bad-exit=1',
                    str(tmp_path / 'bin' / 'fake_python'), '-u', osp.join(TOOLS, 'test.py'),
                    'cfg.py', 'ckpt.pth', '--launcher=slurm', '--dump', 'o.json']
