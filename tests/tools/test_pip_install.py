"""`pip install .` into an environment that already holds the stack adds only mmtad_ext."""
import os
import os.path as osp
import shutil
import subprocess
import sys
import sysconfig

import pytest

from _helpers.paths import REPO

pytestmark = pytest.mark.slow  # pip install into a fresh venv, then a tool subprocess


def test_pip_install_into_an_existing_environment_adds_only_mmtad_ext(tmp_path, tiny_config):
    """A fresh venv that sees this project's stack (a .pth file after its own site-packages):
    plain ``pip install .`` (dependencies checked, no index) installs only mmtad_ext, and
    tools/train.py runs against that install."""
    src = tmp_path / 'src'
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        '.venv', 'work_dirs', 'data', 'build', '*.egg-info', '.mim', '__pycache__', '.git',
        '.pytest_cache'))
    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True)
    py = str(venv / 'bin' / 'python')
    site = subprocess.run([py, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                          check=True, capture_output=True, text=True).stdout.strip()
    with open(osp.join(site, 'existing_stack.pth'), 'w') as f:
        f.write(sysconfig.get_paths()['purelib'] + '\n')
    env = {k: v for k, v in os.environ.items()
           if k not in ('PYTHONPATH', 'PIP_CONSTRAINT', 'PIP_NO_DEPS')}
    out = subprocess.run(
        [py, '-m', 'pip', 'install', '--no-index', '--no-build-isolation',
         '--disable-pip-version-check', '.'], cwd=src, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    installed = [ln for ln in out.stdout.splitlines() if ln.startswith('Successfully installed')]
    assert len(installed) == 1, out.stdout
    assert [n.rsplit('-', 1)[0] for n in installed[0].split()[2:]] == ['mmtad_ext'], installed
    where = subprocess.run([py, '-c', 'import mmtad_ext; print(mmtad_ext.__file__)'],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert where.stdout.strip().startswith(site)
    cfg = tiny_config(epochs=1)
    run = subprocess.run([py, osp.join(src, 'tools', 'train.py'), cfg, '--work-dir',
                          str(tmp_path / 'work')], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert osp.isfile(tmp_path / 'work' / 'epoch_1.pth')
