"""Shared test set-up: every test imports the package (registers modules, applies compat)."""
import queue as queue_module
import socket

import pytest
import torch.multiprocessing as mp

import mmtad_ext  # noqa: F401


@pytest.fixture
def spawn_ranks():
    """``spawn_ranks(target, world=2)`` runs ``target(rank, port, queue)`` in ``world`` spawned
    processes (a free TCP port for ``init_process_group``) and returns ``{rank: result}`` from
    the ``(rank, result)`` pairs they put on the queue; fails if one of them fails."""

    def run(target, world=2, timeout=240):
        with socket.socket() as sock:
            sock.bind(('127.0.0.1', 0))
            port = sock.getsockname()[1]
        ctx = mp.get_context('spawn')
        results = ctx.Queue()
        procs = [ctx.Process(target=target, args=(r, port, results)) for r in range(world)]
        for p in procs:
            p.start()
        try:
            out = dict(results.get(timeout=timeout) for _ in range(world))
        except queue_module.Empty:
            out = None
        for p in procs:
            p.join(timeout=60)
        assert out is not None and all(p.exitcode == 0 for p in procs), \
            f'spawned ranks failed, exit codes {[p.exitcode for p in procs]}'
        return out

    return run
