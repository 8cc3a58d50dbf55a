"""Which errors are user errors, and run_cli's one-line output."""
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmtad_ext.datasets import AnnotationError
from mmtad_ext.registry import MODELS
from mmtad_ext.utils import CheckpointError, is_user_error, read_checkpoint, run_cli
from mmtad_ext.utils.errors import user_error_message


def _raised(fn):
    try:
        fn()
    except Exception as e:  # noqa: B902
        return e
    raise AssertionError('did not raise')


def test_user_errors(tmp_path):
    bad = tmp_path / 'bad.pth'
    bad.write_bytes(b'garbage')
    assert isinstance(_raised(lambda: read_checkpoint(str(bad))), CheckpointError)
    assert is_user_error(_raised(lambda: read_checkpoint(str(bad))))
    assert is_user_error(_raised(lambda: open(tmp_path / 'missing.txt')))
    assert is_user_error(AnnotationError('x'))
    # a config type not in the registry (KeyError raised by mmengine's registry)
    init_default_scope('mmtad_ext')
    assert is_user_error(_raised(lambda: MODELS.build(dict(type='NoSuchModel'))))
    # a keyword the class does not take (TypeError re-raised by mmengine's build)
    assert is_user_error(_raised(lambda: MODELS.build(dict(type='FocalLoss', nope=1))))
    cfg = tmp_path / 'broken_cfg.py'
    cfg.write_text('a = (\n')
    assert is_user_error(_raised(lambda: Config.fromfile(str(cfg))))


def test_bugs_are_not_user_errors(tmp_path):
    assert not is_user_error(_raised(lambda: {}['key']))  # raised here, not by our validation
    assert not is_user_error(_raised(lambda: 1 / 0))
    assert not is_user_error(_raised(lambda: None.foo))
    assert not is_user_error(KeyboardInterrupt())


def test_worker_traceback_is_cut_to_the_original_message():
    msg = ('Caught VideoDecodeError in DataLoader worker process 0.\nOriginal Traceback (most '
           'recent call last):\n  File "x.py", line 1, in f\nmmtad_ext.datasets.transforms.'
           'video_transforms.VideoDecodeError: cannot decode video file a.mp4\n')
    assert user_error_message(ValueError(msg)) == 'cannot decode video file a.mp4'


def test_run_cli_prints_one_line_and_exits_1(capsys, monkeypatch):
    def main():
        raise AnnotationError("video 'v' in a.json: \"duration\" must be a finite positive "
                              'number, got nan')

    monkeypatch.setattr('sys.argv', ['tool.py'])
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.splitlines() == ['tool.py: error: video \'v\' in a.json: "duration" must be a '
                                'finite positive number, got nan (--debug shows the traceback)']
    monkeypatch.setattr('sys.argv', ['tool.py', '--debug'])
    with pytest.raises(AnnotationError):
        run_cli(main)

    def bug():
        return {}['key']

    monkeypatch.setattr('sys.argv', ['tool.py'])
    with pytest.raises(KeyError):  # a bug keeps its traceback
        run_cli(bug)
