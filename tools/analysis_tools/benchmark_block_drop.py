"""Latency of a block-dropped VideoMAE vs its FLOPs, and block drop vs MLP-width pruning.

Run (VideoMAE-S, 16x160x160, batch 1, CPU; a few minutes on 2 cores)::

    python tools/analysis_tools/benchmark_block_drop.py --out docs/benchmarks/block_drop.md

For 0..``--max-drops`` dropped blocks it builds the encoder physically shorter
(:meth:`VideoMAEEncoder.remove_blocks`) and, for every drop count > 0, an encoder of full depth
whose MLP hidden width is narrowed until its MACs equal the block-dropped one's (the
"channel pruning at equal MACs" comparison of *Temporal Action Detection Model Compression by
Progressive Block Drop*, arXiv 2503.16916, Table 4: 1.29x vs 1.09x on a GPU at 218 G MACs).
MACs are mmengine's ``FlopAnalyzer`` counts (one multiply-add = one); latency is the median of
``--rounds`` eval-mode forwards, the models timed round-robin in one process (so machine load
hits every model alike). Weights are random: latency does not depend on them.

The block-dropped encoders are the recovered models as the hook leaves them: LoRA (peft, rank
``embed_dims / 4`` on every kept ``attn.qkv`` / ``attn.proj``, non-zero B) injected and merged.
Each is also timed against a stock mmaction2 ``VisionTransformer`` of the same depth (a model
trained at that depth from the start; what ``tools/export_block_drop.py`` loads into).
"""
import argparse
import os
import os.path as osp
import platform
import statistics
import sys
from typing import Dict, List

import torch

import mmtad_ext  # noqa: F401  (registers modules, applies compat)
from mmtad_ext.models.backbones import VideoMAEEncoder
from mmtad_ext.models.layers.lora import inject_lora, lora_layers, merge_lora
from mmtad_ext.utils.measure import count_macs, measure_latency_ms


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Block drop latency benchmark')
    parser.add_argument('--embed-dims', type=int, default=384)
    parser.add_argument('--depth', type=int, default=12)
    parser.add_argument('--num-heads', type=int, default=6)
    parser.add_argument('--frames', type=int, default=16)
    parser.add_argument('--size', type=int, default=160)
    parser.add_argument('--max-drops', type=int, default=4)
    parser.add_argument('--rounds', type=int, default=5, help='timed forwards per model')
    parser.add_argument('--threads', type=int, default=None, help='torch threads')
    parser.add_argument('--out', default=None, help='markdown file to write')
    return parser.parse_args(argv)


def build(args, depth_drop: int = 0, mlp_hidden: int = None) -> VideoMAEEncoder:
    mlp_ratio = 4.0 if mlp_hidden is None else mlp_hidden / args.embed_dims
    enc = VideoMAEEncoder(img_size=args.size, patch_size=16, embed_dims=args.embed_dims,
                          depth=args.depth, num_heads=args.num_heads, mlp_ratio=mlp_ratio,
                          num_frames=args.frames, tubelet_size=2).eval()
    if depth_drop:
        enc.remove_blocks(range(args.depth - depth_drop, args.depth))
    return enc


def merged_lora(enc: VideoMAEEncoder, rank: int) -> VideoMAEEncoder:
    """``enc`` after a LoRA recovery: adapters injected, B made non-zero, merged."""
    inject_lora(enc, rank)
    with torch.no_grad():
        for _, layer in lora_layers(enc):
            layer.lora_B['default'].weight.normal_(std=0.02)
    merge_lora(enc)
    return enc.eval()


def stock_vit(args, depth: int) -> torch.nn.Module:
    """mmaction2's ``VisionTransformer`` (VideoMAE) built at ``depth`` from the start."""
    from mmaction.models.backbones import VisionTransformer
    return VisionTransformer(img_size=args.size, patch_size=16, embed_dims=args.embed_dims,
                             depth=depth, num_heads=args.num_heads, mlp_ratio=4.0,
                             num_frames=args.frames, tubelet_size=2).eval()


def equal_mac_width(args, target: int, x: torch.Tensor) -> int:
    """MLP hidden width (a multiple of 8) whose full-depth encoder has ``target`` MACs.

    MACs are affine in the hidden width: two counts give the line.
    """
    full = 4 * args.embed_dims
    m_full = count_macs(build(args), (x, ))
    m_half = count_macs(build(args, mlp_hidden=full // 2), (x, ))
    per_unit = (m_full - m_half) / (full - full // 2)
    width = full - (m_full - target) / per_unit
    return max(8, int(round(width / 8)) * 8)


def run(args) -> List[Dict]:
    if args.threads:
        torch.set_num_threads(args.threads)
    x = torch.randn(1, 3, args.frames, args.size, args.size)
    rows = []
    for k in range(args.max_drops + 1):
        enc = build(args, depth_drop=k)
        if k:
            enc = merged_lora(enc, args.embed_dims // 4)
        rows.append(dict(method='block drop (LoRA merged)' if k else 'uncompressed', drops=k,
                         depth=args.depth - k, width=None, model=enc,
                         macs=count_macs(enc, (x, ))))
    for k in range(1, args.max_drops + 1):
        vit = stock_vit(args, args.depth - k)
        rows.append(dict(method='stock ViT at that depth', drops=k, depth=args.depth - k,
                         width=None, model=vit, macs=count_macs(vit, (x, ))))
    for k in range(1, args.max_drops + 1):
        width = equal_mac_width(args, rows[k]['macs'], x)
        enc = build(args, mlp_hidden=width)
        rows.append(dict(method='MLP-width pruning', drops=k, depth=args.depth, width=width,
                         model=enc, macs=count_macs(enc, (x, ))))
    for r in rows:  # warm-up
        measure_latency_ms(r['model'], (x, ), repeats=1, warmup=1)
        r['times'] = []
    for _ in range(args.rounds):  # round-robin: load changes hit every model alike
        for r in rows:
            r['times'].append(measure_latency_ms(r['model'], (x, ), repeats=1, warmup=0))
    base = rows[0]
    base_latency = statistics.median(base['times'])
    for r in rows:
        r['latency_ms'] = statistics.median(r['times'])
        r['mac_ratio'] = base['macs'] / r['macs']
        r['speedup'] = base_latency / r['latency_ms']
        r['efficiency'] = r['speedup'] / r['mac_ratio']
        del r['model']
    return rows


def to_markdown(rows: List[Dict], args, command: str) -> str:
    head = (f'VideoMAE encoder (embed {args.embed_dims}, depth {args.depth}, heads '
            f'{args.num_heads}), input 1x3x{args.frames}x{args.size}x{args.size}, batch 1, '
            f'CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} '
            f'threads, {os.cpu_count()} cores), torch {torch.__version__}, median of '
            f'{args.rounds} round-robin forwards.\n\nCommand: `{command}`\n')
    lines = ['| method | drops (MAC-equivalent) | depth | MLP width | GMACs | MAC ratio | '
             'latency ms | speed-up | speed-up / MAC ratio |',
             '|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['drops']} | {r['depth']} | "
            f"{r['width'] or 4 * args.embed_dims} | {r['macs'] / 1e9:.2f} | "
            f"{r['mac_ratio']:.3f} | {r['latency_ms']:.1f} | {r['speedup']:.3f} | "
            f"{r['efficiency']:.3f} |")
    stock = {r['depth']: r for r in rows if r['method'].startswith('stock')}
    merged = ', '.join(f"depth {r['depth']}: {r['latency_ms'] / stock[r['depth']]['latency_ms']:.3f}"
                       for r in rows if r['method'].startswith('block drop'))
    lines.append(f'\nLatency of the LoRA-merged block-dropped encoder / a stock ViT built at '
                 f'that depth: {merged}.')
    return head + '\n' + '\n'.join(lines) + '\n'


def main(argv=None):
    args = parse_args(argv)
    rows = run(args)
    command = 'python tools/analysis_tools/benchmark_block_drop.py ' + ' '.join(
        sys.argv[1:] if argv is None else argv)
    text = to_markdown(rows, args, command)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            f.write(text)
    from mmengine.logging import print_log
    print_log('\n' + text, logger='current')
    return rows


if __name__ == '__main__':
    main()
