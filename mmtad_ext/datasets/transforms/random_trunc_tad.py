"""Random truncation of a whole-video sample into a training window (OpenTAD's ``RandomTrunc`` /
``LoadFrames(method='random_trunc')``, the training regime of its THUMOS14 configs)."""
import numpy as np
from mmcv.transforms import BaseTransform

from mmtad_ext.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomTruncTAD(BaseTransform):
    """Cut a random window of at most ``temporal_dim`` grid positions from a whole-video sample.

    Input: a sample of ``TADDataset(regime='full')``: the video's grid of ``L = valid_length``
    positions (snippets or strided frames) starting at ``window_start`` seconds, ``window_duration
    = L * d`` seconds, ground truth normalised to that span. Drawn every time the sample is
    loaded (every epoch), with NumPy's global generator (seeded per epoch and sample by
    ``EpochSeedHook``):

    - ``L > temporal_dim``: a window of ``temporal_dim`` positions at a uniformly random start,
      redrawn (at most ``max_trials`` times) until at least one action has ``trunc_thresh`` of
      its length inside; the last draw is kept if none does;
    - ``L <= temporal_dim``: with ``crop_ratio=(lo, hi)``, a window of ``randint(round(lo * L),
      round(hi * L))`` positions (inclusive), placed as above; the whole video when that length
      is ``L`` or ``crop_ratio`` is None.

    Actions with at least ``trunc_thresh`` of their length inside are kept, clipped to the
    window; the others are dropped. Output: the window as a sliding-regime sample
    (``window_start_snippet``, ``window_start``, ``window_duration = temporal_dim * d``, the
    positions past ``valid_length`` padded), ground truth normalised to it, so
    ``DecodeTADSnippets`` / ``SlidingWindowTADFeatures`` read the window and the detector maps
    its outputs back to seconds as for any window.

    Args:
        trunc_thresh (float): Share of an action's length that must lie inside the window for
            it to be kept (OpenTAD's THUMOS14 end-to-end configs: 0.75, feature configs 0.5).
            Defaults to 0.5.
        crop_ratio (tuple[float, float], optional): Length range of the window of a video not
            longer than ``temporal_dim``, as shares of its length. Defaults to (0.9, 1.0).
        max_trials (int): Draws of the window start. Defaults to 200 (OpenTAD).
    """

    def __init__(self, trunc_thresh: float = 0.5, crop_ratio=(0.9, 1.0),
                 max_trials: int = 200) -> None:
        if not 0.0 < trunc_thresh <= 1.0:
            raise ValueError(f'RandomTruncTAD: trunc_thresh must be in (0, 1], got '
                             f'{trunc_thresh}')
        if crop_ratio is not None:
            crop_ratio = tuple(float(r) for r in crop_ratio)
            if len(crop_ratio) != 2 or not 0.0 < crop_ratio[0] <= crop_ratio[1] <= 1.0:
                raise ValueError('RandomTruncTAD: crop_ratio must be (lo, hi) with 0 < lo <= hi '
                                 f'<= 1, or None, got {crop_ratio}')
        if int(max_trials) < 1:
            raise ValueError(f'RandomTruncTAD: max_trials must be >= 1, got {max_trials}')
        self.trunc_thresh = float(trunc_thresh)
        self.crop_ratio = crop_ratio
        self.max_trials = int(max_trials)

    def _length(self, num: int, size: int) -> int:
        """Positions of the window for a video of ``num`` positions."""
        if num > size:
            return size
        if self.crop_ratio is None:
            return num
        lo = max(int(round(self.crop_ratio[0] * num)), 1)
        hi = min(int(round(self.crop_ratio[1] * num)), num)
        return int(np.random.randint(lo, hi + 1))

    def transform(self, results: dict) -> dict:
        if not results.get('full_video'):
            raise ValueError(
                f'RandomTruncTAD: sample of video {results.get("video_name")!r} is not a whole '
                "video; use it in the pipeline of TADDataset(regime='full') (one sample per "
                'video on its snippet grid)')
        num = int(results['valid_length'])  # L positions of the video
        size = int(results['temporal_dim'])
        step = float(results['window_duration']) / num  # seconds per position
        gt = np.asarray(results['gt_segments'], np.float64).reshape(-1, 2) * num  # positions
        labels = np.asarray(results['gt_labels']).reshape(-1)
        length = self._length(num, size)
        start, keep = 0, np.ones(len(gt), dtype=bool)
        if length < num:
            area = np.maximum(gt[:, 1] - gt[:, 0], 1e-8)
            for _ in range(self.max_trials):
                start = int(np.random.randint(0, num - length + 1))
                inter = (np.minimum(gt[:, 1], start + length)
                         - np.maximum(gt[:, 0], start)).clip(min=0)
                keep = inter / area >= self.trunc_thresh
                if keep.any():
                    break
        seg = gt[keep].clip(start, start + length) - start  # (K', 2) positions in the window
        results.update(
            window_start_snippet=int(results.get('window_start_snippet', 0)) + start,
            window_start=float(results['window_start']) + start * step,
            window_duration=size * step, valid_length=length,
            gt_segments=(seg / size).astype(np.float32), gt_labels=labels[keep],
            full_video=False)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(trunc_thresh={self.trunc_thresh}, '
                f'crop_ratio={self.crop_ratio}, max_trials={self.max_trials})')
