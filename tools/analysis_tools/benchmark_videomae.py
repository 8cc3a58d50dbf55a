"""FLOPs and CPU latency of the VideoMAE encoder (VideoMAEEncoder vs mmaction2's
VisionTransformer) on one clip.

FLOPs come from mmengine's ``FlopAnalyzer`` (a multiply-add counts as one, as mmengine and the
papers count); the table shows where the qkv projection is attributed (``blocks.0.attn.qkv``
is 0 on mmaction2's attention, which reads ``qkv.weight`` directly). Latency: the two encoders
alternate, ``--repeats`` timed forwards each after a warm-up, median reported; same weights,
same input, one process.

    OMP_NUM_THREADS=2 python tools/analysis_tools/benchmark_videomae.py   # VideoMAE-S 16x160x160
"""
import argparse
import statistics
import time

import torch
from mmengine.analysis import FlopAnalyzer

import mmtad_ext  # noqa: F401  (first: its compat shims make mmaction.models importable)
from mmaction.models.backbones import VisionTransformer  # noqa: E402
from mmtad_ext.models.backbones import VideoMAEEncoder  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--embed-dims', type=int, default=384)
    p.add_argument('--depth', type=int, default=12)
    p.add_argument('--num-heads', type=int, default=6)
    p.add_argument('--frames', type=int, default=16)
    p.add_argument('--size', type=int, default=160)
    p.add_argument('--repeats', type=int, default=10)
    return p.parse_args()


def flops(model, x):
    fa = FlopAnalyzer(model, (x, ))
    fa.unsupported_ops_warnings(False)
    fa.uncalled_modules_warnings(False)
    return fa.total(), fa.by_module()


def main():
    args = parse_args()
    kw = dict(img_size=224, patch_size=16, embed_dims=args.embed_dims, depth=args.depth,
              num_heads=args.num_heads, num_frames=args.frames, tubelet_size=2)
    torch.manual_seed(0)
    stock = VisionTransformer(**kw).eval()
    ours = VideoMAEEncoder(**kw).eval()
    ours.load_state_dict(stock.state_dict(), strict=True)
    x = torch.randn(1, 3, args.frames, args.size, args.size)
    print(f'VideoMAE (width {args.embed_dims}, depth {args.depth}), input 1x3x{args.frames}x'
          f'{args.size}x{args.size}, torch threads {torch.get_num_threads()}')
    for name, model in (('mmaction2 VisionTransformer', stock), ('VideoMAEEncoder', ours)):
        total, by_module = flops(model, x)
        attn, qkv = by_module['blocks.0.attn'] / 1e6, by_module['blocks.0.attn.qkv'] / 1e6
        print(f'{name}: {total / 1e9:.2f} GFLOPs; blocks.0.attn {attn:.1f} M, '
              f'blocks.0.attn.qkv {qkv:.1f} M')
    with torch.no_grad():
        assert torch.equal(stock(x), ours(x))
        times = {'stock': [], 'ours': []}
        for _ in range(2):
            stock(x), ours(x)
        for _ in range(args.repeats):
            for key, model in (('stock', stock), ('ours', ours)):
                start = time.perf_counter()
                model(x)
                times[key].append(time.perf_counter() - start)
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    print(f'latency per clip (median of {args.repeats}): mmaction2 {med["stock"]:.0f} ms, '
          f'VideoMAEEncoder {med["ours"]:.0f} ms (ratio {med["ours"] / med["stock"]:.3f}); '
          'outputs identical')


if __name__ == '__main__':
    main()
