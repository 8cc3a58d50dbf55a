"""tools/analysis_tools/analyze_logs.py on a small hand-written mmengine scalar log."""
import json
import sys

import pytest
from PIL import Image


@pytest.fixture(scope='module')
def analyze_logs(load_tool):
    return load_tool('analysis_tools/analyze_logs')


# two epochs of 3 logged training records, validation after each epoch (step = epoch)
LINES = [
    dict(lr=0.01, loss=3.0, time=1.0, epoch=1, iter=10, step=10),
    dict(lr=0.01, loss=2.5, time=0.2, epoch=1, iter=20, step=20),
    dict(lr=0.01, loss=2.0, time=0.4, epoch=1, iter=30, step=30),
    {'tad/average_mAP': 10.0, 'tad/mAP@0.5': 20.0, 'time': 0.1, 'step': 1},
    dict(lr=0.001, loss=1.5, time=0.5, epoch=2, iter=40, step=40),
    dict(lr=0.001, loss=1.2, time=0.5, epoch=2, iter=50, step=50),
    dict(lr=0.001, loss=1.0, time=0.7, epoch=2, iter=60, step=60),
    {'tad/average_mAP': 15.0, 'tad/mAP@0.5': 30.0, 'time': 0.1, 'step': 2},
]


@pytest.fixture
def log(tmp_path):
    path = tmp_path / 'vis_data' / 'scalars.json'
    path.parent.mkdir()
    path.write_text('\n'.join(json.dumps(line) for line in LINES) + '\n')
    return str(path)


def test_plot_curve_writes_png_with_the_logged_points(analyze_logs, log, tmp_path):
    out = str(tmp_path / 'curves.png')
    points = analyze_logs.plot_curve([log], ['loss', 'tad/average_mAP'], out)
    with open(out, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    with Image.open(out) as img:
        img.verify()
    with Image.open(out) as img:
        assert img.format == 'PNG' and img.size[1] > img.size[0] / 2  # two stacked panels
    xs, ys = points['loss'][log]
    assert xs.tolist() == [10, 20, 30, 40, 50, 60]
    assert ys.tolist() == [3.0, 2.5, 2.0, 1.5, 1.2, 1.0]
    xs, ys = points['tad/average_mAP'][log]
    assert xs.tolist() == [1, 2] and ys.tolist() == [10.0, 15.0]


def test_validation_keys_are_by_epoch_training_keys_by_iteration(analyze_logs, log):
    records = analyze_logs.load_json_log(log)
    assert analyze_logs.curve(records, 'lr')[2] == 'iter'
    assert analyze_logs.curve(records, 'tad/mAP@0.5')[2] == 'epoch'


def test_unknown_key_names_it_and_the_available_keys(analyze_logs, log, tmp_path, monkeypatch):
    with pytest.raises(KeyError) as err:
        analyze_logs.plot_curve([log], ['loss', 'mAP'], str(tmp_path / 'x.png'))
    msg = err.value.args[0]
    assert "key 'mAP' is not in" in msg and log in msg
    assert "training ['loss', 'lr', 'time']" in msg
    assert "validation ['tad/average_mAP', 'tad/mAP@0.5', 'time']" in msg
    monkeypatch.setattr(sys, 'argv', ['analyze_logs.py', 'plot_curve', log, '--keys', 'mAP',
                                      '--out', str(tmp_path / 'x.png')])
    with pytest.raises(SystemExit) as exit_:
        analyze_logs.main()
    assert "error: key 'mAP' is not in" in str(exit_.value.code)


def test_cal_train_time(analyze_logs, log, monkeypatch, capsys):
    t = analyze_logs.cal_train_time(log)
    # the first record of each epoch is left out: epoch 1 (0.2, 0.4), epoch 2 (0.5, 0.7)
    assert t['epoch_times'] == pytest.approx({1: 0.3, 2: 0.6})
    assert (t['slowest'], t['fastest']) == (2, 1)
    assert t['std'] == pytest.approx(0.15) and t['mean'] == pytest.approx(0.45)
    assert analyze_logs.cal_train_time(log, include_outliers=True)['epoch_times'] == \
        pytest.approx({1: 1.6 / 3, 2: 1.7 / 3})
    monkeypatch.setattr(sys, 'argv', ['analyze_logs.py', 'cal_train_time', log])
    analyze_logs.main()
    assert 'average iter time: 0.4500 s/iter' in capsys.readouterr().out


def test_bad_logs(analyze_logs, tmp_path):
    with pytest.raises(FileNotFoundError, match='scalars.json'):
        analyze_logs.load_json_log(str(tmp_path / 'missing.json'))
    bad = tmp_path / 'bad.json'
    bad.write_text('{"loss": 1.0, "iter": 1}\nnot json\n')
    with pytest.raises(ValueError, match=r'bad.json:2: not a JSON line'):
        analyze_logs.load_json_log(str(bad))
