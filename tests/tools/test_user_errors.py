"""User errors of the tools: one clear line on stderr, no traceback, exit status 1; --debug
shows the traceback."""
import json
import os.path as osp
import shutil

import pytest

from _helpers.paths import REPO
from _helpers.tool_run import run_tool

pytestmark = pytest.mark.slow

ETAD = osp.join(REPO, 'configs', 'etad', 'etad_lstm_1xb8-16e_synthetic-tad-feature.py')
BLOCK_DROP = osp.join(REPO, 'configs', 'block_drop',
                      'block-drop_actionformer-videomae-tiny_1xb4-3x4e_synthetic-tad-rgb.py')
A3D = osp.join(REPO, 'configs', 'a3d', 'a3d-0.016-1_slowonly-tiny_1xb16-8x2x1-16e_synthetic-'
               'clips-rgb.py')
RECOGNIZER = osp.join(REPO, 'configs', 'recognition', 'slowonly',
                      'slowonly_r18-tiny_1xb16-4x3x1-20e_synthetic-clips-rgb.py')


def _one_clear_line(proc, *fragments):
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert 'Traceback' not in proc.stdout + proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert ': error: ' in last and last.endswith('(--debug shows the traceback)'), last
    for fragment in fragments:
        assert fragment in last, last
    return last


@pytest.mark.parametrize('tool,args,fragment', [
    ('train', ['missing_config.py'], 'missing_config.py'),
    ('test', [ETAD, 'missing.pth'], 'checkpoint file not found: missing.pth'),
    ('infer', [ETAD, 'missing.pth', 'video.npy'], 'checkpoint file not found: missing.pth'),
    ('extract_features', [RECOGNIZER, 'none', '--video-dir', 'missing_dir', '--out-dir', 'o'],
     '--video-dir not found: missing_dir'),
    ('export_block_drop', [BLOCK_DROP, 'missing.pth', 'out'], 'missing.pth'),
    ('a3d_budget_table', [A3D, 'missing.pth'], 'missing.pth'),
], ids=lambda x: x if isinstance(x, str) and '/' not in x and ' ' not in x else '')
def test_bad_path_is_one_line(tool, args, fragment, tmp_path):
    _one_clear_line(run_tool(tool, args, tmp_path), fragment)


@pytest.mark.parametrize('tool,args', [('train', ['missing_config.py']),
                                       ('test', [ETAD, 'missing.pth'])])
def test_debug_shows_the_traceback(tool, args, tmp_path):
    proc = run_tool(tool, args + ['--debug'], tmp_path)
    assert proc.returncode == 1
    assert 'Traceback (most recent call last)' in proc.stderr
    assert 'FileNotFoundError' in proc.stderr


def test_bad_config_value(tmp_path):
    proc = run_tool('train', [ETAD, '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                              'model.type=NoSuchDetector'], tmp_path)
    _one_clear_line(proc, 'NoSuchDetector is not in the mmtad_ext::model registry')


def test_bad_checkpoint(tmp_path):
    bad = tmp_path / 'bad.pth'
    bad.write_bytes(b'not a checkpoint')
    proc = run_tool('test', [ETAD, str(bad), '--work-dir', str(tmp_path / 'w')], tmp_path)
    _one_clear_line(proc, f'cannot read checkpoint file {bad}')


def test_bad_annotation(tiny_config, tiny_data, tmp_path):
    """A NaN segment bound in the annotation file stops training with the video, field and
    file named."""
    root = tmp_path / 'data'
    shutil.copytree(tiny_data, root)
    with open(root / 'annotations.json') as f:
        data = json.load(f)
    # the tiny config trains and validates on its validation subset
    vid = sorted(v for v, e in data['database'].items() if e['subset'] == 'validation')[0]
    data['database'][vid]['annotations'][0]['segment'][1] = float('nan')
    (root / 'annotations.json').write_text(json.dumps(data))
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(open(tiny_config(epochs=1)).read().replace(tiny_data, str(root)))
    proc = run_tool('train', [str(cfg), '--work-dir', str(tmp_path / 'w')], tmp_path)
    _one_clear_line(proc, f"video '{vid}' in {root}/annotations.json: annotations[0].segment "
                    'must be finite seconds')
