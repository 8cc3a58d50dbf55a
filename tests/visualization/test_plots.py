"""mmtad_ext.visualization: every plot writes a PNG; importing the package imports no matplotlib."""
import os
import subprocess
import sys

from PIL import Image

from mmtad_ext.visualization import (plot_block_drop_stages, plot_budget_table, plot_curves,
                                     plot_timeline)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _png(path):
    with Image.open(path) as im:
        assert im.format == 'PNG' and im.size[0] > 100 and im.size[1] > 100


def test_importing_the_package_does_not_import_matplotlib():
    code = 'import sys, mmtad_ext, mmtad_ext.visualization; print("matplotlib" in sys.modules)'
    env = dict(os.environ, PYTHONPATH=REPO)
    out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == 'False'


def test_timeline(tmp_path):
    dets = [dict(label='jump', score=0.9, segment=[1.0, 3.0]),
            dict(label='run', score=0.2, segment=[2.0, 6.0])]
    gt = [dict(label='jump', segment=[1.2, 2.8])]
    rows = plot_timeline(str(tmp_path / 't.png'), 'v', 8.0, dets, gt)
    assert rows == ['jump', 'run']
    _png(tmp_path / 't.png')


def test_block_drop_stages_budget_table_and_curves(tmp_path):
    records = [dict(stage=0, metric_before=None, metric_after=0.9, macs=4e9),
               dict(stage=1, metric_before=0.8, metric_after=0.88, macs=3e9)]
    plot_block_drop_stages(records, str(tmp_path / 'bd.png'), 'acc/top1')
    rows = [dict(gamma_w=w, gamma_s=1.0, gamma_t=1.0, gmacs=g, latency_ms=l, top1=t)
            for w, g, l, t in ((0.5, 1.0, 2.0, 0.6), (1.0, 4.0, 6.0, 0.8))]
    plot_budget_table(rows, str(tmp_path / 'budget.png'))
    plot_curves({'loss': {'run': ([1, 2, 3], [3.0, 2.0, 1.0], 'iter')}},
                str(tmp_path / 'curves.png'), title='t')
    for name in ('bd.png', 'budget.png', 'curves.png'):
        _png(tmp_path / name)
