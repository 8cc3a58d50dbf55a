"""Local MaskedMHCA against the public chunked form: bytes saved for backward and step time.

The public ActionFormer / OpenTAD ``LocalMaskedMHCA`` computes the window attention with
Longformer's chunked diagonals (``_sliding_chunks_query_key_matmul`` /
``_sliding_chunks_matmul_attn_probs_value``). :class:`PublicLocalMHCA` below re-implements that
form for this comparison only: it is :class:`~mmtad_ext.models.layers.MaskedMHCA` with the
local attention replaced, so both sides share the convolutions, norms, projections and weights
and differ only in how the window attention is computed.

For each of the attention layer and the whole ActionFormer block (pre-LN, MLP, affine drop
path) at the THUMOS14 I3D setting (batch 2, width 512, 2304 positions, 4 heads, window 19; the
second sequence padded after ``--valid`` positions), the table gives the peak bytes saved for
backward (:class:`~mmtad_ext.utils.measure.SavedTensorMeter`, parameters excluded), the median
training step (forward + backward, the two forms interleaved, ``--repeats`` each after a
warm-up) and the largest output difference.

    OMP_NUM_THREADS=2 python tools/analysis_tools/benchmark_masked_mhca.py --threads 2
    python tools/analysis_tools/benchmark_masked_mhca.py --device cuda
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from mmtad_ext.models.layers.actionformer_block import ActionFormerBlock
from mmtad_ext.models.layers.masked_mhca import MaskedMHCA
from mmtad_ext.utils.measure import SavedTensorMeter


def _overlapping_chunks(x, w):
    """(N, T, d) -> (N, T / w - 1, 2w, d): chunks of 2w rows starting every w rows (a view)."""
    n, t, d = x.shape
    return x.as_strided((n, t // w - 1, 2 * w, d), (t * d, w * d, d, 1))


def _chunked_band_scores(q, k, w):
    """Longformer's sliding-chunk q.k: (N, T, d) x2 -> (N, T, 2w + 1) band scores; column j is
    key t - w + j; keys before 0 / after T - 1 are -inf."""
    n, t, _ = q.shape
    chunks = t // w - 1
    # (N, chunks, 2w, 2w): every query of a chunk against every key of the same chunk
    full = torch.einsum('ncxd,ncyd->ncxy', _overlapping_chunks(q, w), _overlapping_chunks(k, w))
    # diagonals to columns: pad one row and reinterpret (N, chunks, 2w, 2w + 1)
    diag = F.pad(full, (0, 0, 0, 1)).view(n, chunks, 2 * w, 2 * w + 1)
    band = full.new_empty(n, chunks + 1, w, 2 * w + 1)
    band[:, :-1, :, w:] = diag[:, :, :w, :w + 1]  # self + following keys
    band[:, -1, :, w:] = diag[:, -1, w:, :w + 1]
    band[:, 1:, :, :w] = diag[:, :, -(w + 1):-1, w + 1:]  # preceding keys
    band[:, 0, 1:w, 1:w] = diag[:, 0, :w - 1, 1 - w:]
    band = band.view(n, t, 2 * w + 1)
    # keys outside the sequence (the first and last w queries): -inf
    edge = torch.ones(w, w + 1, dtype=torch.bool, device=q.device).tril().flip(0)
    band[:, :w, :w + 1].masked_fill_(edge, float('-inf'))
    band[:, -w:, -(w + 1):].masked_fill_(edge.flip(0, 1), float('-inf'))
    return band


def _chunked_probs_value(p, v, w):
    """Longformer's sliding-chunk probs.v: (N, T, 2w + 1), (N, T, d) -> (N, T, d)."""
    n, t, d = v.shape
    chunks = t // w
    # probabilities of w queries laid out on the 3w keys they reach: shift row i right by i
    p = F.pad(p.reshape(n, chunks, w, 2 * w + 1), (0, w + 1)).view(n, chunks, -1)
    p = p[:, :, :-w].view(n, chunks, w, 3 * w + 1)[..., :-1]  # (N, chunks, w, 3w)
    padded = F.pad(v, (0, 0, w, w), value=-1.0)  # (N, T + 2w, d)
    values = padded.as_strided((n, chunks, 3 * w, d), (padded.shape[1] * d, w * d, d, 1))
    return torch.einsum('ncwk,nckd->ncwd', p, values).reshape(n, t, d)


class PublicLocalMHCA(MaskedMHCA):
    """:class:`MaskedMHCA` whose local attention is the public chunked form (benchmark only).

    Needs the length divisible by the window size - 1, as the public code asserts.
    """

    def _local(self, q, k, v, kv_mask):
        b, h, t, d = q.shape
        w = self.half_window
        if t % (2 * w):
            raise ValueError(f'the public chunked form needs T % {2 * w} == 0, got T={t}')
        q, k, v = (x.reshape(b * h, t, d).contiguous() for x in (q, k, v))
        att = _chunked_band_scores(q, k, w).view(b, h, t, 2 * w + 1)
        # padded keys: -1e4 through the same chunked product (ones . mask)
        pad = torch.zeros(b, t, 1, dtype=q.dtype, device=q.device).masked_fill(
            ~kv_mask[..., None], -1e4)
        att = att + _chunked_band_scores(torch.ones_like(pad), pad, w)[:, None]
        att = att.softmax(-1).masked_fill(~kv_mask[:, None, :, None], 0.0)
        att = self.attn_drop(att)
        out = _chunked_probs_value(att.reshape(b * h, t, 2 * w + 1), v, w)
        return out.view(b, h, t, d)


def build_pair(kind, embed_dims=512, num_heads=4, window_size=19, drop_path=0.1):
    """(ours, public): two modules of ``kind`` ('attention' or 'block') with the same weights."""
    torch.manual_seed(0)
    if kind == 'attention':
        ours = MaskedMHCA(embed_dims, num_heads, window_size=window_size)
        public = PublicLocalMHCA(embed_dims, num_heads, window_size=window_size)
        public.load_state_dict(ours.state_dict())
    elif kind == 'block':
        ours = ActionFormerBlock(embed_dims, num_heads, window_size=window_size,
                                 drop_path=drop_path)
        public = ActionFormerBlock(embed_dims, num_heads, window_size=window_size,
                                   drop_path=drop_path)
        public.attn = PublicLocalMHCA(embed_dims, num_heads, window_size=window_size)
        public.load_state_dict(ours.state_dict())
    else:
        raise ValueError(f'kind must be attention or block, got {kind!r}')
    return ours, public


def make_inputs(batch, channels, length, valid, device='cpu'):
    """Features (B, C, T) and a mask whose last sequence is padded after ``valid`` positions."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(batch, channels, length, generator=g)
    mask = torch.ones(batch, length, dtype=torch.bool)
    mask[-1, valid:] = False
    return x.to(device), mask.to(device)


def saved_bytes(module, x, mask):
    """Peak live bytes saved for backward by one training forward (parameters excluded)."""
    with SavedTensorMeter(module.parameters()) as meter:
        out, _ = module(x, mask)
    out.sum().backward()
    module.zero_grad(set_to_none=True)
    return meter.peak_bytes['total']


def step(module, x, mask):
    out, _ = module(x, mask)
    out.square().mean().backward()


def interleaved_ms(modules, x, mask, repeats, warmup=2):
    """Median ms of a forward + backward per module, the modules run in turn."""
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    times = [[] for _ in modules]
    for i in range(warmup + repeats):
        for m, ts in zip(modules, times):
            m.zero_grad(set_to_none=True)
            sync()
            t0 = time.perf_counter()
            step(m, x, mask)
            sync()
            if i >= warmup:
                ts.append((time.perf_counter() - t0) * 1e3)
    return [statistics.median(ts) for ts in times]


def compare(kind, args):
    """One table row: saved MiB, step ms and output / gradient differences of ``kind``."""
    ours, public = (m.to(args.device).train() for m in build_pair(
        kind, args.embed_dims, args.num_heads, args.window_size))
    x, mask = make_inputs(args.batch, args.embed_dims, args.length, args.valid, args.device)
    saved = [saved_bytes(m, x, mask) / 2**20 for m in (ours, public)]
    ms = interleaved_ms((ours, public), x, mask, args.repeats)
    outs, grads = [], []
    cotangent = None
    for m in (ours, public):
        m.eval().zero_grad(set_to_none=True)
        xg = x.clone().requires_grad_()
        out, _ = m(xg, mask)
        if cotangent is None:
            cotangent = torch.randn(out.shape, generator=torch.Generator().manual_seed(2))
            cotangent = cotangent.to(out.device)
        (out * cotangent).sum().backward()
        outs.append(out.detach())
        grads.append(xg.grad)
    diff = (outs[0] - outs[1]).abs().max().item()
    gdiff = (grads[0] - grads[1]).abs().max().item()
    return saved, ms, diff, gdiff


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--embed-dims', type=int, default=512)
    p.add_argument('--length', type=int, default=2304)
    p.add_argument('--valid', type=int, default=1800,
                   help='valid positions of the last sequence (the rest is padding)')
    p.add_argument('--num-heads', type=int, default=4)
    p.add_argument('--window-size', type=int, default=19)
    p.add_argument('--repeats', type=int, default=10)
    p.add_argument('--threads', type=int, default=None, help='torch threads (CPU)')
    p.add_argument('--device', default='cpu')
    return p.parse_args()


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f'local MaskedMHCA: batch {args.batch} x {args.embed_dims} x {args.length} '
          f'(last sequence valid {args.valid}), {args.num_heads} heads, window '
          f'{args.window_size}, {args.device}, torch threads {torch.get_num_threads()}, '
          f'fwd+bwd median of {args.repeats} interleaved')
    print('| module | saved MiB ours | public | ratio | step ms ours | public | ratio '
          '| max abs output diff | max abs input-grad diff |')
    print('|---|---|---|---|---|---|---|---|---|')
    for kind in ('attention', 'block'):
        saved, ms, diff, gdiff = compare(kind, args)
        print(f'| {kind} | {saved[0]:.1f} | {saved[1]:.1f} | {saved[0] / saved[1]:.3f} | '
              f'{ms[0]:.1f} | {ms[1]:.1f} | {ms[0] / ms[1]:.3f} | {diff:.2e} | {gdiff:.2e} |')


if __name__ == '__main__':
    main()
