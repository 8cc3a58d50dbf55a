"""Checkpoint loading: strict by default, every error names the file; resuming from an unreadable
checkpoint names it, and an automatic resume falls back to the previous one with a warning."""
import logging
import os
import re
import time

import pytest
import torch
from torch import nn

from mmtad_ext.utils import checkpoint as checkpoint_module
from mmtad_ext.utils import (CheckpointError, check_checkpoint_matches, check_resume_checkpoint,
                             find_resume_checkpoint, load_detector_checkpoint, read_checkpoint)


class Net(nn.Module):

    def __init__(self, width=4, extra=False):
        super().__init__()
        self.fc = nn.Linear(3, width)
        if extra:
            self.head = nn.Linear(width, 2)


def save(tmp_path, model, name='ok.pth', prefix=''):
    path = tmp_path / name
    torch.save(dict(meta=dict(epoch=1),
                    state_dict={prefix + k: v for k, v in model.state_dict().items()}), path)
    return str(path)


def test_loads_own_checkpoint_and_ddp_prefix(tmp_path):
    src = Net()
    for prefix in ('', 'module.'):
        dst = Net()
        ckpt = load_detector_checkpoint(dst, save(tmp_path, src, prefix=prefix))
        assert ckpt['meta']['epoch'] == 1
        assert torch.equal(dst.fc.weight, src.fc.weight)


def test_other_model_is_an_error_naming_keys(tmp_path):
    path = save(tmp_path, Net(width=5, extra=True))
    model = Net(width=4)
    before = model.fc.weight.clone()
    with pytest.raises(CheckpointError) as info:
        load_detector_checkpoint(model, path)
    msg = str(info.value)
    assert 'ok.pth' in msg
    assert '2 key(s) in the checkpoint but not in the model: head.bias, head.weight' in msg
    assert 'fc.weight (5, 3) vs (4, 3)' in msg and 'fc.bias (5,) vs (4,)' in msg
    assert torch.equal(model.fc.weight, before)  # nothing half-loaded
    with pytest.raises(CheckpointError, match='1 key.*missing from the checkpoint: head.bias'):
        check_checkpoint_matches(Net(extra=True), dict(state_dict={
            k: v for k, v in Net(extra=True).state_dict().items() if k != 'head.bias'}), 'x.pth')
    load_detector_checkpoint(Net(width=4, extra=True), save(tmp_path, Net(width=4)),
                             strict=False)  # non-strict on request: the shared keys load


def test_unreadable_files_name_the_file(tmp_path):
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    noise = tmp_path / 'noise.pth'
    noise.write_bytes(os.urandom(4096))
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(open(save(tmp_path, Net()), 'rb').read()[:300])
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        read_checkpoint(str(tmp_path / 'missing.pth'))
    with pytest.raises(CheckpointError, match=r'empty\.pth is empty \(0 bytes\)'):
        read_checkpoint(str(empty))
    for bad in (noise, truncated):
        with pytest.raises(CheckpointError, match=rf'cannot read checkpoint file .*{bad.name}') \
                as info:
            read_checkpoint(str(bad))
        assert 'weights_only' not in str(info.value)
    tensor = tmp_path / 'tensor.pth'
    torch.save(torch.zeros(2), tensor)
    with pytest.raises(CheckpointError, match='holds a Tensor'):
        read_checkpoint(str(tensor))


def truncate(path):
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])


def test_resume_from_a_truncated_file_names_it_and_what_to_do(tmp_path):
    path = save(tmp_path, Net(), 'epoch_3.pth')
    check_resume_checkpoint(path)  # readable: no error
    truncate(path)
    with pytest.raises(CheckpointError, match=r'cannot resume: .*epoch_3\.pth.*Resume from an '
                       r'earlier checkpoint .*epoch_N\.pth.*--resume without a path'):
        check_resume_checkpoint(path)
    with pytest.raises(CheckpointError, match=r'missing\.pth'):
        check_resume_checkpoint(str(tmp_path / 'missing.pth'))


def point(work, name):
    (work / 'last_checkpoint').write_text(str(work / name))


def test_automatic_resume_falls_back_to_the_previous_checkpoint(tmp_path, monkeypatch):
    work = tmp_path / 'work'
    work.mkdir()
    assert find_resume_checkpoint(str(work)) is None  # nothing to resume yet
    for i, name in enumerate(('epoch_1.pth', 'iter_30.pth', 'epoch_2.pth')):
        path = save(work, Net(), name)
        os.utime(path, (time.time() - 100 + i, time.time() - 100 + i))  # saved in this order
    point(work, 'epoch_2.pth')
    assert find_resume_checkpoint(str(work)) == str(work / 'epoch_2.pth')
    truncate(work / 'epoch_2.pth')
    logged = []
    monkeypatch.setattr(checkpoint_module, 'print_log',
                        lambda msg, logger=None, level=None: logged.append((level, msg)))
    assert find_resume_checkpoint(str(work)) == str(work / 'iter_30.pth')
    (level, warning), = logged
    assert level == logging.WARNING
    assert re.search(r'cannot resume from .*epoch_2\.pth.*resuming from the previous '
                     r'checkpoint .*iter_30\.pth instead', warning)
    point(work, 'epoch_9.pth')  # named but never written
    assert find_resume_checkpoint(str(work)) == str(work / 'iter_30.pth')
    (work / 'last_checkpoint').write_text('')  # killed while writing the pointer
    assert find_resume_checkpoint(str(work)) == str(work / 'iter_30.pth')
    truncate(work / 'iter_30.pth')
    truncate(work / 'epoch_1.pth')
    point(work, 'epoch_2.pth')
    with pytest.raises(CheckpointError, match=r'cannot resume from .*epoch_2\.pth.*no earlier '
                       r'readable.*Start the run again without --resume'):
        find_resume_checkpoint(str(work))
