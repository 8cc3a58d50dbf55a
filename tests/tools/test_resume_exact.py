"""``tools/train.py --resume`` after a SIGKILL ends with the weights of an uninterrupted run,
bitwise (``torch.equal``), for every detector family: resumed at an epoch end and in the middle
of an epoch (an iteration checkpoint), with and without a persistent DataLoader worker."""
import os
import os.path as osp
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from _helpers.data import same_state
from _helpers.tiny_configs import (ACTIONFORMER_FEATURE, ACTIONFORMER_FEATURE_BASE,
                                   ETAD_FEATURE, ETAD_FEATURE_BASE, write_video_config)
from _helpers.tool_run import TRAIN, tool_env

pytestmark = pytest.mark.slow

# the tiny feature configs of tests/_helpers (8 training videos: 2 iterations an epoch; the 4
# others validate), then every epoch and every 3 iterations a checkpoint, none deleted;
# validation only at the end
SCHEDULE = '''
train_cfg = dict(max_epochs={epochs}, val_interval={epochs})
param_scheduler = [dict(type='MultiStepLR', begin=0, end={epochs}, by_epoch=True,
                        milestones=[{epochs} // 2], gamma=0.1)]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=-1))
custom_hooks = [dict(type='CheckpointHook', by_epoch=False, interval=3, max_keep_ckpts=-1)]
'''

PERSISTENT_WORKER = '''
train_dataloader['num_workers'] = 1
train_dataloader['persistent_workers'] = True
'''


def start(cfg, work, cwd, *extra):
    log = open(work + '.log', 'w')
    proc = subprocess.Popen([sys.executable, TRAIN, cfg, '--work-dir', work, *extra], cwd=cwd,
                            env=tool_env(), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    proc.log = log
    return proc


def finish(proc, work, timeout=900):
    proc.wait(timeout=timeout)
    proc.log.close()
    with open(work + '.log') as f:
        text = f.read()
    assert proc.returncode == 0, text[-3000:]
    return text


def kill_after(proc, work, checkpoint):
    """SIGKILL ``proc`` (its process group) once ``work/last_checkpoint`` names
    ``checkpoint`` (written after the checkpoint file is complete)."""
    last = osp.join(work, 'last_checkpoint')
    deadline = time.time() + 600
    while proc.poll() is None and time.time() < deadline:
        if osp.exists(last):
            with open(last) as f:  # may be read mid-write (empty): poll again
                if osp.basename(f.read().strip()) == checkpoint:
                    break
        time.sleep(0.02)
    assert proc.poll() is None, 'the run ended before it could be killed'
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.log.close()


def state(path):
    return torch.load(path, map_location='cpu', weights_only=False)['state_dict']


def check_resume_is_exact(cfg, tmp_path, epochs, iters_per_epoch, mid='iter_3.pth'):
    """An uninterrupted run; a run SIGKILLed after its ``mid`` checkpoint (in the middle of an
    epoch) and resumed from it; the same killed run resumed from its ``epoch_1.pth``: the three
    final checkpoints hold equal weights."""
    mid_iter = int(mid[len('iter_'):-len('.pth')])
    assert mid_iter % iters_per_epoch, 'the iteration checkpoint must be inside an epoch'
    cwd = str(tmp_path)
    full, killed = str(tmp_path / 'full'), str(tmp_path / 'killed')
    ref = start(cfg, full, cwd)  # alongside the run to kill (start-up dominates the time)
    try:
        kill_after(start(cfg, killed, cwd), killed, mid)
    finally:
        finish(ref, full)
    assert not osp.exists(osp.join(killed, f'epoch_{epochs}.pth')), 'not interrupted'
    final = state(osp.join(full, f'epoch_{epochs}.pth'))
    resumed = {}
    for ckpt in ('epoch_1.pth', mid):
        work = str(tmp_path / f'resumed_{ckpt[:-4]}')
        log = finish(start(cfg, work, cwd, '--resume', osp.join(killed, ckpt)), work)
        done = iters_per_epoch if ckpt == 'epoch_1.pth' else mid_iter
        assert f'resumed epoch: {done // iters_per_epoch}, iter: {done}' in log
        if ckpt == mid:
            assert (f'resuming in epoch {done // iters_per_epoch + 1} after '
                    f'{done % iters_per_epoch} of its {iters_per_epoch} iterations') in log
        resumed[ckpt] = state(osp.join(work, f'epoch_{epochs}.pth'))
    for ckpt, sd in resumed.items():
        assert same_state(sd, final), f'resumed from {ckpt}: other weights than the uninterrupted run'


@pytest.mark.parametrize('persistent', [False, True], ids=['main-process', 'persistent-worker'])
def test_etad_feature_resume_is_exact(tiny_data, tmp_path, persistent):
    """ETAD on features (8 videos, batch 4: 2 iterations an epoch), 6 epochs."""
    cfg = tmp_path / 'etad.py'
    cfg.write_text(ETAD_FEATURE.format(base=ETAD_FEATURE_BASE, root=tiny_data, epochs=6) +
                   SCHEDULE.format(epochs=6) + (PERSISTENT_WORKER if persistent else ''))
    check_resume_is_exact(str(cfg), tmp_path, epochs=6, iters_per_epoch=2)


def test_actionformer_feature_resume_is_exact(tiny_data, tmp_path):
    """ActionFormer on features (2 iterations an epoch), 6 epochs."""
    cfg = tmp_path / 'af.py'
    cfg.write_text(ACTIONFORMER_FEATURE.format(base=ACTIONFORMER_FEATURE_BASE, root=tiny_data) +
                   SCHEDULE.format(epochs=6))
    check_resume_is_exact(str(cfg), tmp_path, epochs=6, iters_per_epoch=2)


def test_etad_egs_raw_video_resume_is_exact(tiny_video_tad, tmp_path):
    """ETAD + EGS end to end on the tiny synthetic videos (random crops in the pipeline, EGS's
    random snippet choice; 4 windows, batch 2), 3 epochs, with a persistent DataLoader worker."""
    cfg = write_video_config(tmp_path / 'egs.py', tiny_video_tad,
                             tiny_video_tad + '/class_map.txt', num_classes=2)
    with open(cfg, 'a') as f:
        f.write(SCHEDULE.format(epochs=3) + PERSISTENT_WORKER)
    check_resume_is_exact(cfg, tmp_path, epochs=3, iters_per_epoch=2)


def truncate(path):
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])


def test_truncated_checkpoint_resume(tiny_data, tmp_path):
    """The newest checkpoint truncated (killed while saving): ``--resume`` falls back to the
    previous one with a WARNING naming both and still ends with the uninterrupted weights;
    ``--resume FILE`` on the truncated file stops with an error naming it and what to do."""
    cfg = tmp_path / 'etad.py'
    cfg.write_text(ETAD_FEATURE.format(base=ETAD_FEATURE_BASE, root=tiny_data, epochs=3) +
                   SCHEDULE.format(epochs=3))
    cwd, work = str(tmp_path), str(tmp_path / 'work')
    finish(start(str(cfg), work, cwd), work)
    last = osp.join(work, 'epoch_3.pth')
    final = state(last)
    truncate(last)
    log = finish(start(str(cfg), work, cwd, '--resume'), work)
    assert re.search(r'WARNING - cannot resume from \S*epoch_3\.pth .*resuming from the '
                     r'previous checkpoint \S*iter_6\.pth instead', log), log[-3000:]
    assert same_state(state(last), final)
    truncate(last)
    proc = subprocess.run([sys.executable, TRAIN, str(cfg), '--work-dir', work, '--resume', last],
                          cwd=cwd, env=tool_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert re.search(r'cannot resume: cannot read checkpoint file \S*epoch_3\.pth.*Resume from '
                     r'an earlier checkpoint', proc.stderr), proc.stderr[-3000:]
