"""End-to-end: tools/train.py and tools/test.py as a user runs them (subprocesses)."""
import glob
import json
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from mmengine.runner.checkpoint import _load_checkpoint

from _helpers.tool_run import TEST, TRAIN, block_drop_report, run, tool_env, train_then_kill

pytestmark = pytest.mark.slow  # tool subprocesses: trainings, kill/resume, torchrun


def test_train_then_test_with_dump(tiny_config, tmp_path):
    cfg = tiny_config(epochs=2)
    work = str(tmp_path / 'work')
    log = run([TRAIN, cfg, '--work-dir', work], cwd=str(tmp_path))
    assert 'tad/average_mAP' in log  # validation ran after the last epoch
    ckpt = osp.join(work, 'epoch_2.pth')
    dump = str(tmp_path / 'submission.json')
    log = run([TEST, cfg, ckpt, '--work-dir', work, '--dump', dump], cwd=str(tmp_path))
    assert 'tad/mAP@0.5' in log and 'tad/average_mAP' in log
    with open(dump) as f:
        sub = json.load(f)
    assert len(sub['results']) == 4  # every validation video
    det = next(iter(sub['results'].values()))[0]
    assert set(det) >= {'label', 'score', 'segment'}
    ck = _load_checkpoint(ckpt, map_location='cpu')  # compat: loads under weights_only
    assert ck['meta']['epoch'] == 2


def test_resume_after_kill(tiny_config, tmp_path):
    """Kill a run after its first checkpoint, resume it, and finish from that epoch."""
    epochs = 60  # tiny epochs: the run must still be going when it is killed
    cfg = tiny_config(epochs=epochs)
    work = str(tmp_path / 'work')
    train_then_kill(cfg, work, str(tmp_path))
    first = osp.join(work, 'last_checkpoint')
    last = osp.join(work, f'epoch_{epochs}.pth')
    assert osp.exists(first) and not osp.exists(last), 'the run was not interrupted'
    assert not osp.exists(osp.join(work, f'epoch_{epochs - 1}.pth'))
    with open(osp.join(work, 'last_checkpoint')) as f:
        resumed_from = int(osp.basename(f.read().strip())[len('epoch_'):-len('.pth')])
    log = run([TRAIN, cfg, '--work-dir', work, '--resume'], cwd=str(tmp_path))
    assert f'resumed epoch: {resumed_from}' in log
    final = torch.load(last, map_location='cpu', weights_only=False)
    assert final['meta']['epoch'] == epochs


def test_block_drop_killed_mid_stage_2_resumes_like_an_uninterrupted_run(block_drop_cfg,
                                                                         tmp_path):
    """A block-drop run (2 stages x 2 epochs, tiny VideoMAE classifier) SIGKILLed
    once its mid-stage-2 checkpoint (epoch 3: block 2 dropped, LoRA unmerged) is written and
    resumed with --resume drops the same blocks, records the same stages and ends with the
    same weights (exactly: same ops in the same order on the CPU, one thread) as a run that
    was never interrupted."""
    cfg = block_drop_cfg(str(tmp_path / 'unused'), stage_epochs=2, max_drops=2, name='kill')
    cfg_path = str(tmp_path / 'block_drop_tiny.py')
    cfg.dump(cfg_path)
    full, killed = str(tmp_path / 'full'), str(tmp_path / 'killed')
    # the uninterrupted run goes alongside the one to kill (tool start-up dominates the time)
    with open(str(tmp_path / 'full.log'), 'w') as log:
        proc = subprocess.Popen([sys.executable, TRAIN, cfg_path, '--work-dir', full],
                                cwd=str(tmp_path), env=tool_env(), stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            train_then_kill(cfg_path, killed, str(tmp_path), checkpoint='epoch_3.pth')
        finally:
            proc.wait(timeout=600)
    with open(str(tmp_path / 'full.log')) as log:
        assert proc.returncode == 0, log.read()[-3000:]
    assert not osp.exists(osp.join(killed, 'epoch_4.pth')), 'the run was not interrupted'
    with open(osp.join(killed, 'block_drop.json')) as f:  # written at stage 1's end only
        assert [s['stage'] for s in json.load(f)['stages']] == [0, 1]
    log = run([TRAIN, cfg_path, '--work-dir', killed, '--resume'], cwd=str(tmp_path))
    assert 'resumed epoch: 3' in log and 'BlockDropHook: loaded stage 2' in log

    reports = [block_drop_report(work) for work in (full, killed)]  # without wall-clock fields
    assert len(reports[0]['dropped']) == 2 and reports[0]['stopped']
    assert reports[1] == reports[0]  # same drops, candidate scores, metrics, MACs
    sd, sd_r = (_load_checkpoint(osp.join(w, 'epoch_4.pth'), map_location='cpu')['state_dict']
                for w in (full, killed))
    assert set(sd_r) == set(sd) and not any('lora_' in k for k in sd)
    assert all(torch.equal(sd[k], sd_r[k]) for k in sd)


@pytest.mark.skipif(not torch.distributed.is_available(), reason='no torch.distributed')
def test_block_drop_under_torchrun_two_processes_then_resume(block_drop_cfg, tmp_path,
                                                             free_port):
    """Block drop data-parallel (torchrun, 2 CPU processes, gloo): 2 stages x 2 epochs (2
    iterations per stage, so a DDP wrapper that missed a structure change fails), selection by
    ``block_mse`` (each rank scores its shard; the sums are added over the ranks). Both ranks
    drop the same blocks (their own log files, ``log_level='DEBUG'``), rank 0 writes one
    report, the final checkpoint's encoder is 2 blocks shorter and loads strictly. Then a run
    resumed under torchrun from the mid-stage-2 checkpoint (epoch 3, LoRA unmerged) records the
    same stages and ends with the same weights."""
    from mmengine.registry import init_default_scope

    from mmtad_ext.registry import MODELS
    cfg = block_drop_cfg(str(tmp_path / 'unused'), stage_epochs=2, max_drops=2, name='ddp',
                         criterion='block_mse')
    cfg.log_level = 'DEBUG'  # mmengine then writes one log file per rank
    cfg_path = str(tmp_path / 'block_drop_ddp.py')
    cfg.dump(cfg_path)
    torchrun = ['-m', 'torch.distributed.run', '--nproc_per_node=2',
                f'--master_port={free_port}', TRAIN, cfg_path, '--launcher', 'pytorch']
    full, resumed = str(tmp_path / 'full'), str(tmp_path / 'resumed')
    run(torchrun + ['--work-dir', full], cwd=str(tmp_path))

    report = block_drop_report(full)
    assert [s['stage'] for s in report['stages']] == [0, 1, 2] and report['stopped']
    assert [s['depth'] for s in report['stages']] == [4, 3, 2]
    for s in report['stages'][1:]:  # rank 0's choice: the best of its recorded scores
        assert s['criterion'] == 'block_mse' and len(s['scores']) == s['depth'] + 1
        assert str(s['dropped']) == max(s['scores'], key=lambda k: (s['scores'][k], -int(k)))
    drops = {}
    for rank in (0, 1):
        (log, ) = glob.glob(osp.join(full, '*', f'*_rank{rank}.log'))
        with open(log) as f:
            drops[rank] = [int(b) for b in re.findall(
                r'BlockDropHook: stage \d+ \([^)]*\): drop block (\d+)', f.read())]
    assert drops[0] == drops[1] == report['dropped']
    assert glob.glob(osp.join(full, '**', 'block_drop.json'), recursive=True) == [
        osp.join(full, 'block_drop.json')]

    sd = _load_checkpoint(osp.join(full, 'epoch_4.pth'), map_location='cpu')['state_dict']
    assert sd['student.backbone.kept_blocks'].tolist() == report['stages'][2]['kept']
    assert not any('lora_' in k for k in sd)
    init_default_scope('mmtad_ext')
    model = MODELS.build(cfg.model)  # full depth; kept_blocks shortens it on load
    model.load_state_dict(sd, strict=True)
    assert len(model.student_encoder.blocks) == 2 and len(model.teacher_encoder.blocks) == 4

    log = run(torchrun + ['--work-dir', resumed, '--resume', osp.join(full, 'epoch_3.pth')],
              cwd=str(tmp_path))
    assert 'resumed epoch: 3' in log and 'BlockDropHook: loaded stage 2' in log
    assert block_drop_report(resumed) == report
    sd_r = _load_checkpoint(osp.join(resumed, 'epoch_4.pth'), map_location='cpu')['state_dict']
    assert set(sd_r) == set(sd) and all(torch.equal(sd[k], sd_r[k]) for k in sd)


def test_external_project_inherits_package_config(tiny_config, tmp_path):
    """A config outside the repo with _base_ = 'mmtad_ext::...' trains (installed package)."""
    cfg = tiny_config(base='mmtad_ext::etad/etad_lstm_1xb8-16e_synthetic-tad-feature.py',
                      epochs=1, name='downstream.py')
    with open(cfg, 'a') as f:
        f.write("\ncustom_imports = dict(imports=['mmtad_ext'], allow_failed_imports=False)\n")
    work = str(tmp_path / 'work')
    run([TRAIN, cfg, '--work-dir', work, '--no-validate'], cwd=str(tmp_path))
    assert osp.exists(osp.join(work, 'epoch_1.pth'))


def test_paramwise_cfg_logs_one_line_per_rule(tiny_config, tmp_path):
    """mmengine logs every parameter's options at INFO; the package's constructor summarises."""
    cfg = tiny_config(epochs=1, name='paramwise.py')
    with open(cfg, 'a') as f:
        f.write("optim_wrapper = dict(constructor='SummaryOptimWrapperConstructor', "
                "paramwise_cfg=dict(bias_decay_mult=0.0, custom_keys={'neck': "
                "dict(lr_mult=0.1)}))\n")
    work = str(tmp_path / 'work')
    log = run([TRAIN, cfg, '--work-dir', work, '--no-validate'], cwd=str(tmp_path))
    assert 'paramwise_options' not in log
    assert "paramwise_cfg: custom key 'neck' {'lr_mult': 0.1}: " in log
    assert "paramwise_cfg: other parameters {'bias_decay_mult': 0.0}: " in log


@pytest.mark.skipif(not torch.distributed.is_available(), reason='no torch.distributed')
def test_torchrun_two_processes_gloo(tiny_config, tmp_path, free_port):
    cfg = tiny_config(epochs=1)
    work = str(tmp_path / 'work')
    log = run(['-m', 'torch.distributed.run', '--nproc_per_node=2',
               f'--master_port={free_port}', TRAIN, cfg, '--launcher', 'pytorch',
               '--work-dir', work], cwd=str(tmp_path))
    assert 'Distributed launcher: pytorch' in log or 'launcher: pytorch' in log
    assert 'tad/average_mAP' in log  # validation gathered over both ranks
    ckpt = _load_checkpoint(osp.join(work, 'epoch_1.pth'), map_location='cpu')
    assert ckpt['meta']['epoch'] == 1 and 'state_dict' in ckpt
