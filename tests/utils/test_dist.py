"""utils/dist.py: re-wrapping after a structure change, rank 0's decisions, the in-sync
check; in 2 spawned CPU processes (gloo) and in one process (all no-ops)."""
import types

import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.runner import Runner
from torch import nn

from mmtad_ext.utils.dist import check_ranks_agree, from_rank0, rewrap_model

WORLD = 2
WRAPPER_CFG = dict(type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False,
                   find_unused_parameters=False)  # configure_cpu_distributed's wrapper


def _runner(module):
    """The parts of a Runner that ``rewrap_model`` uses, ``wrap_model`` being mmengine's."""
    runner = types.SimpleNamespace(cfg=Config(dict(model_wrapper_cfg=WRAPPER_CFG)),
                                   distributed=dist.is_initialized())
    runner.wrap_model = types.MethodType(Runner.wrap_model, runner)
    runner.model = runner.wrap_model(runner.cfg.model_wrapper_cfg, module)
    return runner


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 1))


def _change(module):
    """A structure change (a layer removed) and frozen weights (DDP must ignore them)."""
    del module[1]
    module[0].requires_grad_(False)


def _step(ddp, rank):
    x = torch.full((2, 4), float(rank + 1))
    ddp.zero_grad()
    ddp(x).sum().backward()


def _worker(rank, port, queue):
    import os
    import traceback
    os.environ['LOCAL_RANK'] = str(rank)  # as torchrun sets it (Runner.wrap_model reads it)
    try:
        out = _run(rank, port)
    except Exception:  # report it now rather than let the test wait for the queue
        out = dict(error=traceback.format_exc())
    queue.put((rank, out))


def _run(rank, port):
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
                            world_size=WORLD)
    out = {}
    try:
        out['from_rank0'] = from_rank0(dict(rank=rank))
        stale = _runner(_net())
        _step(stale.model, rank)
        _change(stale.model.module)
        _step(stale.model, rank)
        try:  # the wrapper built before the change still expects the removed layer's grads
            _step(stale.model, rank)
            out['stale'] = 'no error'
        except RuntimeError as e:
            out['stale'] = str(e)
        module = _net()
        runner = _runner(module)
        _step(runner.model, rank)
        _change(module)
        before = runner.model
        rewrap_model(runner)
        out['new_wrapper'] = runner.model is not before and runner.model.module is module
        for _ in range(2):
            _step(runner.model, rank)
        # DDP averaged the trainable gradient over the ranks' different inputs
        out['grad'] = module[1].weight.grad.tolist()  # no tensors through the queue
        out['frozen_has_grad'] = module[0].weight.grad is not None
        check_ranks_agree(module, 'synced')
        out['agree'] = 'ok'
        if rank == 1:
            with torch.no_grad():
                module[1].bias.add_(1.0)
        try:
            check_ranks_agree(module, 'perturbed')
            out['disagree'] = 'no error'
        except RuntimeError as e:
            out['disagree'] = str(e)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return out


@pytest.mark.slow  # spawned ranks
@pytest.mark.skipif(not dist.is_available(), reason='no torch.distributed')
def test_rewrap_from_rank0_and_check_under_two_processes(spawn_ranks):
    results = spawn_ranks(_worker, world=WORLD)
    # the reference gradient of the last layer: mean over the ranks' inputs (1s and 2s)
    ref = _net()
    _change(ref)
    grads = []
    for rank in range(WORLD):
        ref.zero_grad()
        ref(torch.full((2, 4), float(rank + 1))).sum().backward()
        grads.append(ref[1].weight.grad.clone())
    for rank, out in results.items():
        assert 'error' not in out, out.get('error')
        assert out['from_rank0'] == dict(rank=0), rank
        assert 'finished reduction' in out['stale'], out['stale']  # why re-wrapping is needed
        assert out['new_wrapper'] and not out['frozen_has_grad']
        torch.testing.assert_close(torch.tensor(out['grad']), (grads[0] + grads[1]) / 2)
        assert out['agree'] == 'ok'
        assert "perturbed: rank 1's parameters differ" in out['disagree']
        assert "'1.bias'" in out['disagree'] and "'1.weight'" not in out['disagree']


def test_one_process_is_untouched():
    module = nn.Linear(2, 2)
    runner = types.SimpleNamespace(model=module)
    rewrap_model(runner)
    assert runner.model is module
    obj = dict(a=1)
    assert from_rank0(obj) is obj
    check_ranks_agree(module, 'one process')  # no-op


def test_rewrap_refuses_a_wrapper_that_is_not_ddp():
    runner = types.SimpleNamespace(model=nn.DataParallel(nn.Linear(2, 2)))  # mmengine: a wrapper
    with pytest.raises(NotImplementedError, match='DataParallel'):
        rewrap_model(runner)
