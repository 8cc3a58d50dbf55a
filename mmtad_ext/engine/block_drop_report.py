"""Cost measurements and the per-stage report of block drop (FLOP counting, timing, plotting).

Kept out of ``models/`` (models do not count FLOPs, time or plot); used by
:class:`~mmtad_ext.engine.hooks.BlockDropHook` and ``tools/analysis_tools/
benchmark_block_drop.py``.
"""
import os.path as osp
import statistics
import time
from typing import Dict, List, Sequence, Tuple

import torch
from torch import nn

from mmtad_ext.models.utils import eval_mode


def encoder_input_shape(encoder: nn.Module, batch: int = 1) -> Tuple[int, ...]:
    """(B, 3, T, H, W) clip shape a VideoMAE encoder was built for (its position embedding)."""
    proj = encoder.patch_embed.projection  # Conv3d: kernel (tubelet, patch, patch)
    tubelet, patch = proj.kernel_size[0], proj.kernel_size[1]
    gh, gw = encoder.grid_size
    num_t = encoder.pos_embed.shape[1] // (gh * gw)
    return (batch, proj.in_channels, num_t * tubelet, gh * patch, gw * patch)


@torch.no_grad()
def count_macs(module: nn.Module, inputs: Tuple[torch.Tensor, ...]) -> int:
    """Multiply-accumulates of one forward, by :class:`mmengine.analysis.FlopAnalyzer`.

    mmengine (like fvcore) counts one fused multiply-add as one "flop", so its total is the MAC
    count that papers report as FLOPs/MACs.
    """
    from mmengine.analysis import FlopAnalyzer
    with eval_mode(module):
        analyzer = FlopAnalyzer(module, inputs)
        analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return int(analyzer.total())


@torch.no_grad()
def measure_latency(module: nn.Module, inputs: Tuple[torch.Tensor, ...], repeats: int = 5,
                    warmup: int = 1) -> float:
    """Median wall-clock seconds of one eval-mode forward (synchronised on CUDA)."""
    sync = torch.cuda.synchronize if inputs[0].is_cuda else (lambda: None)
    with eval_mode(module):
        for _ in range(warmup):
            module(*inputs)
        times = []
        for _ in range(repeats):
            sync()
            t0 = time.perf_counter()
            module(*inputs)
            sync()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)


def format_stage_table(records: Sequence[Dict]) -> str:
    """Plain-text table of block-drop stage records (one row per stage)."""
    head = ('stage', 'dropped', 'depth', 'before', 'after', 'GMACs', 'latency ms', 'select s',
            'recover s', 'kept')
    rows: List[Tuple] = [head]
    for r in records:
        rows.append((r['stage'], '-' if r.get('dropped') is None else r['dropped'], r['depth'],
                     _fmt(r.get('metric_before')), _fmt(r.get('metric_after')),
                     _fmt(None if r.get('macs') is None else r['macs'] / 1e9, 4),
                     _fmt(None if r.get('latency_s') is None else r['latency_s'] * 1e3, 2),
                     _fmt(r.get('selection_s'), 1), _fmt(r.get('recovery_s'), 1),
                     'yes' if r.get('accepted', True) else 'no'))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
    return '\n'.join('  '.join(str(v).rjust(w) for v, w in zip(row, widths)) for row in rows)


def _fmt(value, digits: int = 4) -> str:
    return '-' if value is None else f'{value:.{digits}f}'


def plot_stages(records: Sequence[Dict], path: str, metric_name: str = 'metric') -> str:
    """PNG of the recovered metric and the MACs per stage (two y axes); returns ``path``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    stages = [r['stage'] for r in records]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(stages, [r.get('metric_after') for r in records], 'o-', color='tab:blue',
            label=f'{metric_name} (recovered)')
    ax.plot(stages, [r.get('metric_before') for r in records], 'x--', color='tab:blue',
            alpha=0.5, label=f'{metric_name} (after drop)')
    ax.set_xlabel('stage (blocks dropped)')
    ax.set_ylabel(metric_name)
    ax.set_xticks(stages)
    ax2 = ax.twinx()
    ax2.plot(stages, [(r.get('macs') or 0) / 1e9 for r in records], 's-', color='tab:red',
             label='GMACs')
    ax2.set_ylabel('encoder GMACs')
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=7, loc='lower left')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return osp.abspath(path)
