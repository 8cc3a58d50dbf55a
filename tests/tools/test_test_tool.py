"""tools/test.py as a user runs it: unlabelled subsets, --no-eval, strict checkpoint loading."""
import json
import os.path as osp
import sys
from unittest import mock

import pytest
import torch
from mmengine.config import Config

from _helpers.tool_run import TEST, run, run_failing
from mmtad_ext.registry import MODELS
from mmtad_ext.utils import CheckpointError

pytestmark = pytest.mark.slow  # tool subprocesses


def untrained_checkpoint(cfg_path, path, cfg_options=None):
    """A runner-style checkpoint of the config's (untrained) model."""
    cfg = Config.fromfile(cfg_path)
    cfg.merge_from_dict(cfg_options or {})
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    torch.save(dict(meta=dict(epoch=0), state_dict=model.state_dict()), path)
    return str(path)


def test_unlabelled_subset_dumps_and_exits_0(tiny_config, tiny_data, tmp_path):
    with open(osp.join(tiny_data, 'annotations.json')) as f:
        db = json.load(f)['database']
    unlabelled = {v: dict(subset='test', duration=info['duration'])  # no "annotations" at all
                  for v, info in db.items() if info['subset'] == 'validation'}
    ann = tmp_path / 'unlabelled.json'
    ann.write_text(json.dumps(dict(database=unlabelled)))
    cfg = tiny_config()
    with open(cfg, 'a') as f:
        f.write('\ntest_dataloader = dict(val_dataloader, dataset=dict(val_dataloader["dataset"], '
                f'ann_file={str(ann)!r}, subset="testing"))\n')
    ckpt = untrained_checkpoint(cfg, tmp_path / 'untrained.pth')
    dump = tmp_path / 'submission.json'
    log = run([TEST, cfg, ckpt, '--work-dir', str(tmp_path / 'w'), '--dump', str(dump)],
              cwd=str(tmp_path))
    assert 'evaluation skipped' in log and 'mAP' not in log.split('evaluation skipped')[1]
    assert sorted(json.loads(dump.read_text())['results']) == sorted(unlabelled)
    assert 'is not installed' not in log  # mmengine's misleading registry warning


def test_no_eval_on_labelled_subset(tiny_config, tmp_path):
    cfg = tiny_config()
    ckpt = untrained_checkpoint(cfg, tmp_path / 'untrained.pth')
    dump = tmp_path / 'submission.json'
    log = run([TEST, cfg, ckpt, '--work-dir', str(tmp_path / 'w'), '--dump', str(dump),
               '--no-eval'], cwd=str(tmp_path))
    assert 'evaluation skipped (format_only)' in log and 'tad/average_mAP' not in log
    assert len(json.loads(dump.read_text())['results']) == 4


def in_process(load_tool, args):
    tool = load_tool('test')
    with mock.patch.object(sys, 'argv', ['test.py'] + args):
        tool.main()


def test_checkpoint_errors_name_the_file(tiny_config, tmp_path, load_tool):
    cfg = tiny_config()
    other = untrained_checkpoint(cfg, tmp_path / 'other.pth',
                                 {'model.cls_head.num_classes': 5})
    err = run_failing([TEST, cfg, other, '--work-dir', str(tmp_path / 'w')], cwd=str(tmp_path))
    assert 'other.pth does not match the model' in err
    assert 'of another shape (checkpoint vs model): cls_head.' in err
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    with pytest.raises(CheckpointError, match=r'empty\.pth is empty \(0 bytes\)'):
        in_process(load_tool, [cfg, str(empty)])
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        in_process(load_tool, [cfg, str(tmp_path / 'missing.pth')])
    with pytest.raises(ValueError, match='give --dump'):
        in_process(load_tool, [cfg, other, '--no-eval'])
