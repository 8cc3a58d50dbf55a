"""End-to-end A3D: tools/train.py, then tools/a3d_budget_table.py, then set_budget at deploy."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from _helpers.paths import TOOLS
from _helpers.tiny_configs import write_a3d_config
from _helpers.tool_run import TEST, TRAIN, run, train_then_kill
from mmtad_ext.datasets.synthetic import make_clip_dataset
from mmtad_ext.registry import MODELS

pytestmark = pytest.mark.slow  # tool subprocesses: trainings, kill/resume, torchrun

TABLE = osp.join(TOOLS, 'a3d_budget_table.py')


def test_train_budget_table_and_deploy(tmp_path):
    data = str(tmp_path / 'clips')
    make_clip_dataset(data, dict(train=8, val=4), num_classes=10, num_frames=16, size=32)
    cfg_path = write_a3d_config(tmp_path / 'a3d_tiny.py', data, epochs=1)
    work = str(tmp_path / 'work')
    run([TRAIN, cfg_path, '--work-dir', work], cwd=str(tmp_path))
    out = str(tmp_path / 'table')
    log = run([TABLE, cfg_path, osp.join(work, 'epoch_1.pth'), '--out-dir', out,
               '--widths', '0.5', '1', '--spatial', '0.57', '1', '--temporal', '0.5', '1',
               '--calib-batches', '1', '--latency-runs', '1'], cwd=str(tmp_path))
    assert '8 sub-networks' in log
    with open(osp.join(out, 'budget_table.json')) as f:
        table = json.load(f)
    rows = table['rows']
    assert len(rows) == 8 and osp.exists(osp.join(out, 'budget_table.png'))
    flops = {(r['gamma_w'], r['gamma_s'], r['gamma_t']): r['gmacs'] for r in rows}
    # counted FLOPs: the full network is the most expensive, the smallest the cheapest
    assert max(flops, key=flops.get) == (1.0, 1.0, 1.0)
    assert min(flops, key=flops.get) == (0.5, 0.57, 0.5)

    # deploy: a fresh model from the deploy checkpoint switches by budget, without data
    init_default_scope('mmtad_ext')
    model = MODELS.build(Config.fromfile(cfg_path).model)
    deploy = torch.load(osp.join(out, 'a3d_deploy.pth'), map_location='cpu', weights_only=False)
    model.load_state_dict(deploy['state_dict'])
    model.eval()
    assert len(model.bn_bank) == 8 and len(model.budget_table) == 8  # every sub-network
    budget = sorted(flops.values())[3] * 1.0001
    row = model.set_budget(gmacs=budget)
    fits = [r for r in rows if r['gmacs'] <= budget]
    assert row['top1'] == max(r['top1'] for r in fits) and row['gmacs'] <= budget
    subnet = (row['gamma_w'], row['gamma_s'], row['gamma_t'])
    assert model.active_subnet == subnet
    bn = model.backbone.conv1.bn
    stats = model.bn_bank[subnet]['backbone.conv1.bn']
    c = stats['mean'].numel()
    torch.testing.assert_close(bn.running_mean[:c], stats['mean'])
    torch.testing.assert_close(bn.running_var[:c], stats['var'])

    # tools/test.py and init_detector take the checkpoint with its BN bank (a3d_state.bank.*):
    # the bank is restored before the strict key check
    assert any(k.startswith('a3d_state.bank.') for k in deploy['state_dict'])
    log = run([TEST, str(cfg_path), osp.join(out, 'a3d_deploy.pth'), '--work-dir',
               str(tmp_path / 'test')], cwd=str(tmp_path))
    assert 'acc/top1' in log
    from mmtad_ext.apis import init_detector
    loaded = init_detector(str(cfg_path), osp.join(out, 'a3d_deploy.pth'),
                           classes=list('abcdefghij'))
    assert set(loaded.bn_bank) == set(model.bn_bank)


def test_mutual_training_resumes_after_kill(tmp_path):
    """Kill A3D training after its first checkpoint, resume it; the sub-network sampling
    continues where the checkpoint left it (its generator state is in the checkpoint)."""
    data = str(tmp_path / 'clips')
    make_clip_dataset(data, dict(train=8, val=4), num_classes=10, num_frames=16, size=32)
    epochs = 30  # 2 iterations each: the run must still be going when it is killed
    cfg_path = write_a3d_config(tmp_path / 'a3d_tiny.py', data, epochs=epochs)
    work = str(tmp_path / 'work')
    train_then_kill(cfg_path, work, str(tmp_path))
    last = osp.join(work, f'epoch_{epochs}.pth')
    assert not osp.exists(last), 'the run was not interrupted'
    log = run([TRAIN, cfg_path, '--work-dir', work, '--resume'], cwd=str(tmp_path))
    assert 'resumed epoch:' in log
    final = torch.load(last, map_location='cpu', weights_only=False)
    assert final['meta']['epoch'] == epochs
    # an uninterrupted run draws 2 sandwiches per epoch from the seeded generator
    init_default_scope('mmtad_ext')
    ref = MODELS.build(Config.fromfile(cfg_path).model)
    for _ in range(2 * epochs):
        ref.sample_subnets()
    assert torch.equal(final['state_dict']['a3d_state.generator'], ref._generator.get_state())


def test_torchrun_two_processes_runs_mutual_training(tmp_path, free_port):
    """Under torchrun the A3D config's DelegatingDistributedDataParallel runs the sandwich."""
    data = str(tmp_path / 'clips')
    make_clip_dataset(data, dict(train=8, val=4), num_classes=10, num_frames=16, size=32)
    cfg_path = write_a3d_config(tmp_path / 'a3d_tiny.py', data, epochs=1)
    work = str(tmp_path / 'work')
    log = run(['-m', 'torch.distributed.run', '--nproc_per_node=2',
               f'--master_port={free_port}', TRAIN, cfg_path, '--launcher', 'pytorch',
               '--work-dir', work], cwd=str(tmp_path))
    assert 'loss_kl_min' in log and 'loss_kl_rand1' in log  # the three passes ran under DDP
    ckpt = torch.load(osp.join(work, 'epoch_1.pth'), map_location='cpu', weights_only=False)
    assert 'a3d_state.generator' in ckpt['state_dict']
