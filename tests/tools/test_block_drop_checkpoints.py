"""Every checkpoint a block-drop run writes loads where a user points it: ``tools/test.py``,
``tools/infer.py`` (the detector config) and ``init_detector`` with the run's mid-stage (LoRA)
and stage-end epoch checkpoints and its ``block_drop_stage{t}.pth``; a foreign checkpoint keeps
the clear error."""
import glob
import json
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.runner import Runner

from _helpers.paths import TOOLS
from _helpers.tiny_configs import block_drop_detector_config
from _helpers.tool_run import TEST, tool_env
from mmtad_ext.apis import init_detector
from mmtad_ext.utils import CheckpointError

pytest.importorskip('peft')
pytestmark = pytest.mark.slow
INFER = osp.join(TOOLS, 'infer.py')


def run_tool(args, cwd):
    return subprocess.run([sys.executable] + args, cwd=cwd, env=tool_env(), capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope='module')
def block_drop_run(block_drop_cfg, tmp_path_factory):
    """One stage of 2 epochs with mmengine's EMAHook: epoch_1 (LoRA unmerged), epoch_2 (stage
    end, merged, one block dropped), block_drop_stage1.pth (the averaged student)."""
    root = tmp_path_factory.mktemp('bd_ckpts')
    cfg = block_drop_cfg(str(root / 'work'), stage_epochs=2, max_drops=1, name='ck')
    cfg.custom_hooks.append(dict(type='EMAHook', momentum=0.2))
    cfg_path = str(root / 'bd.py')
    cfg.dump(cfg_path)
    runner = Runner.from_cfg(cfg)
    runner.train()
    return cfg_path, str(root / 'work'), runner.model.student_encoder.block_ids


def test_tools_test_accepts_the_runs_checkpoints(block_drop_run, tmp_path):
    cfg_path, work, kept = block_drop_run
    for name in ('epoch_1.pth', 'epoch_2.pth', 'block_drop_stage1.pth'):
        proc = run_tool([TEST, cfg_path, osp.join(work, name), '--work-dir',
                         str(tmp_path / name)], cwd=str(tmp_path))
        assert proc.returncode == 0, name + proc.stdout[-2000:] + proc.stderr[-2000:]
        assert 'acc/top1' in proc.stdout + proc.stderr, name


def test_init_detector_loads_them_with_their_structure(block_drop_run, tmp_path):
    cfg_path, work, kept = block_drop_run
    classes = [str(i) for i in range(4)]
    mid = init_detector(cfg_path, osp.join(work, 'epoch_1.pth'), classes=classes)
    assert mid.student_encoder.block_ids == kept
    assert any('lora_' in k for k in mid.state_dict())  # the unfinished stage's adapters
    end = init_detector(cfg_path, osp.join(work, 'epoch_2.pth'), classes=classes)
    stage = init_detector(cfg_path, osp.join(work, 'block_drop_stage1.pth'), classes=classes)
    assert type(stage).__name__ == 'Recognizer3D' and stage.backbone.block_ids == kept
    # the stage file is the stage's (averaged) student: the same weights as epoch_2's state_dict
    sd = stage.state_dict()
    assert all(torch.equal(v, sd[k]) for k, v in end.student.state_dict().items())
    x = torch.randn(1, 1, 3, 8, 32, 32)
    with torch.no_grad():
        assert torch.equal(end.student(x, mode='tensor'), stage(x, mode='tensor'))


def test_a_foreign_checkpoint_keeps_the_clear_error(block_drop_run, tmp_path):
    cfg_path, work, _ = block_drop_run
    ckpt = torch.load(osp.join(work, 'epoch_2.pth'), map_location='cpu', weights_only=False)
    ckpt['state_dict'].pop('student.cls_head.fc_cls.bias')
    bad = str(tmp_path / 'bad.pth')
    torch.save(ckpt, bad)
    with pytest.raises(CheckpointError, match=r'(?s)bad\.pth does not match.*fc_cls\.bias'):
        init_detector(cfg_path, bad, classes=['a', 'b', 'c', 'd'])
    proc = run_tool([TEST, cfg_path, bad], cwd=str(tmp_path))
    assert proc.returncode != 0 and 'bad.pth does not match' in proc.stderr
    assert 'student.cls_head.fc_cls.bias' in proc.stderr


@pytest.fixture(scope='module')
def detector_block_drop_run(tiny_video_tad, tmp_path_factory):
    """The tiny ActionFormer + VideoMAE block-drop config (shrunk to a 3-block width-32
    encoder) on ``tiny_video_tad``, one stage of 2 epochs with mmengine's EMAHook."""
    work = tmp_path_factory.mktemp('bd_detector')
    cfg = block_drop_detector_config(tiny_video_tad, str(work / 'work'), stage_epochs=2,
                                     max_drops=1)
    cfg.custom_hooks.append(dict(type='EMAHook', momentum=0.2))
    cfg_path = str(work / 'bd_detector.py')
    cfg.dump(cfg_path)
    runner = Runner.from_cfg(cfg)
    runner.train()
    return cfg_path, cfg.work_dir, osp.join(tiny_video_tad, 'videos')


def test_tools_infer_accepts_the_detector_runs_checkpoints(detector_block_drop_run, tmp_path):
    """``tools/infer.py`` with the run's mid-stage (LoRA), stage-end and stage checkpoints; the
    stage file (the averaged student) detects exactly what the stage-end checkpoint does."""
    cfg_path, work, videos = detector_block_drop_run
    video = sorted(glob.glob(osp.join(videos, '*.mp4')))[0]
    found = {}
    for name in ('epoch_1.pth', 'epoch_2.pth', 'block_drop_stage1.pth'):
        out = str(tmp_path / f'{name}.json')
        proc = run_tool([INFER, cfg_path, osp.join(work, name), video, '--out', out,
                         '--no-progress'], cwd=str(tmp_path))
        assert proc.returncode == 0, name + proc.stdout[-2000:] + proc.stderr[-2000:]
        with open(out) as f:
            found[name] = json.load(f)['results']
        vid = osp.splitext(osp.basename(video))[0]
        assert list(found[name]) == [vid] and len(found[name][vid]) > 0, name
    assert found['block_drop_stage1.pth'] == found['epoch_2.pth']
