"""Temporal action detection dataset over ActivityNet-format annotations.

Data regimes as in *ETAD: A Unified Framework for Efficient Temporal Action Detection*
(arXiv 2205.07134), sec. 4.
"""
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.dist import is_main_process
from mmengine.logging import print_log
from mmengine.utils import track_iter_progress

from mmtad_ext.registry import DATASETS, TRANSFORMS

from .annotation import (SUBSET_ALIASES, annotation_labels, check_positive_seconds,
                         check_video_annotation, load_annotation_json, load_name_list,
                         video_subset)
from .feature_io import FEATURE_EXTS, FeatureFileError, num_feature_snippets
from .transforms.random_trunc_tad import RandomTruncTAD
from .transforms.video_transforms import VideoDecodeError, probe_video

DURATION_CHECKS = ('warn', 'raise', 'ignore')
GRID_REGIMES = ('sliding', 'full')  # samples on each video's own snippet grid
PROGRESS_MIN_VIDEOS = 50  # raw-video mode shows a progress bar when probing more videos
# a sample whose file fails at read time with one of these is replaced (skip_invalid=True)
READ_ERRORS = (OSError, VideoDecodeError, FeatureFileError)
REPLACEMENT_SEED = 0  # replacement of sample i at attempt k: np.random.default_rng((0, i, k))


@DATASETS.register_module()
class TADDataset(BaseDataset):
    """ActivityNet-format TAD dataset over pre-extracted snippet features or raw videos.

    With ``modality='video'`` every sample points at ``<data_prefix['video']>/<name><video_ext>``
    (``name = filename_tmpl.format(video_id)``; ``filename``, ``total_frames``);
    ``DecodeTADSnippets`` then decodes a grid of ``temporal_dim`` snippets (the whole video in
    the resize regime, one window of snippets ``snippet_stride`` frames apart in the sliding
    regime) and mmaction2's transforms
    resize/crop them. Each video is opened with decord while indexing, so a missing, corrupt or
    truncated video raises an error naming the file (or is skipped and counted with
    ``skip_invalid=True``); the annotated duration is checked against the file
    (``duration_check``) and videos shorter than one snippet are reported. Subset names are
    normalised (``train`` -> ``training``...) in the config and in the annotation file alike,
    and a dataset left without any sample is an error naming the subset. Annotations are
    handled exactly as in the feature modality.

    Each sample is one video (``regime='resize'``: the features are later resized to
    ``temporal_dim`` snippets, ActivityNet practice) or one window of ``temporal_dim`` snippets
    (``regime='sliding'``, stride ``window_stride``: THUMOS practice) or one video on its
    snippet grid (``regime='full'``, for training: a ``RandomTruncTAD`` in the pipeline cuts a
    random window of at most ``temporal_dim`` snippets every epoch, OpenTAD's truncation
    regime). Ground truth is stored in
    seconds and, per sample, normalised to the sample's time span ``[window_start,
    window_start + window_duration]``; predictions are mapped back with the same span and the
    windows of a video are merged by ``TADMetric`` before NMS.

    Labels listed in ``ignore_labels`` (THUMOS "Ambiguous") are never a class: they are not
    training targets but stay in the ground truth handed to the metric, where detections on them
    are not counted as false positives.

    Args:
        ann_file (str): ActivityNet-format annotation JSON.
        subset (str | Sequence[str]): Subset(s) to use (``'training'``, ``'validation'``...;
            aliases train/val/test). Defaults to ``'training'``.
        pipeline (list): Transforms. Defaults to ``[]``.
        data_prefix (dict): ``feature=<folder>`` holding ``<video_id><feature_ext>`` files.
        feature_ext (str): One of ``.npy``, ``.pt``, ``.csv``. Defaults to ``'.npy'``.
        class_map (str | Sequence[str], optional): Class names in label order (list, .json list
            or text file). Defaults to the sorted labels of the whole annotation file.
        blocked_videos (str | Sequence[str], optional): Videos to exclude (ActivityNet's
            blocked.json or a list). Defaults to None.
        ignore_labels (Sequence[str]): Labels that are never a class. Defaults to
            ``('Ambiguous',)``.
        regime (str): ``'resize'``, ``'sliding'`` or ``'full'`` (the sliding regime's snippet
            grid, one sample per whole video; needs ``RandomTruncTAD`` in the pipeline).
            Defaults to ``'resize'``.
        temporal_dim (int): Snippets per sample (resized length or window size).
            Defaults to 128.
        window_stride (int): Stride of the sliding windows, in snippets. Defaults to 64.
        snippet_duration (float, optional): Seconds per feature snippet for the sliding regime
            (e.g. 16 frames / 30 fps). Defaults to None: ``duration / num_snippets``.
        min_gt_overlap (float): In the sliding regime an action enters a window's targets if at
            least this fraction of it lies inside. Defaults to 0.5.
        drop_empty_windows (bool): Drop sliding windows without any target (training only).
            Defaults to True.
        skip_invalid (bool): Skip (and count in the log) videos whose feature or video file is
            missing or unreadable instead of raising: at indexing (the file is missing or its
            header cannot be read) the video is left out; at read time (a header that reads
            but frames that do not decode) a training sample is replaced by another sample,
            drawn by a generator seeded with the sample's index and the attempt (the same
            replacement in every run), and the sample's ``unreadable_videos`` metainfo names
            the video, so that ``SkippedVideosHook`` lists it at the end of the epoch and of
            the run. ``skipped_videos`` holds ``{video: reason}`` as seen by this process. In
            ``test_mode`` a read-time failure is an error (an evaluation without the video
            would count its actions as missed). Defaults to False.
        modality (str): ``'feature'`` or ``'video'`` (raw videos, ``data_prefix=dict(video=
            <folder>)``). Defaults to ``'feature'``.
        video_ext (str | Sequence[str]): Extension(s) of the video files; with several, the
            first that exists is used (``('.mp4', '.mkv', '.webm')``). Defaults to ``'.mp4'``.
        filename_tmpl (str): File name (without extension) of a video id, e.g. ``'v_{}'`` for
            ActivityNet's ``v_<youtube id>`` files; used for feature files as well.
            Defaults to ``'{}'``.
        offset_frames (float, optional): Feature modality, sliding regime, with
            ``snippet_stride``: feature snippet ``t`` of a video is centred at frame
            ``snippet_stride * t + offset_frames``, i.e. at ``(snippet_stride * t +
            offset_frames) / fps`` seconds with the video's own fps (annotation ``"fps"``, else
            ``"frame" / "duration"`` as OpenTAD). THUMOS14 I3D features (OpenTAD): stride 4,
            offset 8. Defaults to None: ``snippet_stride / 2`` with ``snippet_stride``.
        snippet_stride (int, optional): Frames between consecutive snippets of a video, for the
            sliding regime of the video modality (required there). Defaults to None.
        annotation_tolerance (float): Seconds an annotation may extend past the video before it
            is an error; smaller overshoots are clipped. Defaults to 1.0.
        duration_check (str): Video modality: what to do when the annotated ``duration`` and
            the file's (frames / fps) differ by more than ``duration_tolerance`` (labels would
            land on the wrong frames): ``'warn'`` (one warning listing the videos),
            ``'raise'`` or ``'ignore'``. Defaults to ``'warn'``.
        duration_tolerance (float): Seconds of difference allowed by ``duration_check``.
            Defaults to 1.0.
        **kwargs: Passed to :class:`mmengine.dataset.BaseDataset` (``test_mode``...).
    """

    def __init__(self,
                 ann_file: str,
                 subset: Union[str, Sequence[str]] = 'training',
                 pipeline: Sequence = (),
                 data_prefix: dict = dict(feature=''),
                 feature_ext: str = '.npy',
                 class_map: Union[None, str, Sequence[str]] = None,
                 blocked_videos: Union[None, str, Sequence[str]] = None,
                 ignore_labels: Sequence[str] = ('Ambiguous', ),
                 regime: str = 'resize',
                 temporal_dim: int = 128,
                 window_stride: int = 64,
                 snippet_duration: Optional[float] = None,
                 min_gt_overlap: float = 0.5,
                 drop_empty_windows: bool = True,
                 skip_invalid: bool = False,
                 annotation_tolerance: float = 1.0,
                 modality: str = 'feature',
                 video_ext: Union[str, Sequence[str]] = '.mp4',
                 snippet_stride: Optional[int] = None,
                 offset_frames: Optional[float] = None,
                 filename_tmpl: str = '{}',
                 duration_check: str = 'warn',
                 duration_tolerance: float = 1.0,
                 **kwargs):
        if modality not in ('feature', 'video'):
            raise ValueError(f"TADDataset: modality must be 'feature' or 'video', got {modality!r}")
        if modality == 'video' and regime in GRID_REGIMES and (snippet_stride or 0) < 1:
            raise ValueError(f'TADDataset: the {regime} regime of the video modality needs '
                             f'snippet_stride (frames between snippets) >= 1, got {snippet_stride}')
        if offset_frames is not None and not (modality == 'feature' and snippet_stride):
            raise ValueError('TADDataset: offset_frames applies to the feature modality with '
                             'snippet_stride (frames between feature snippets); set both, or '
                             'remove offset_frames')
        if modality == 'feature' and snippet_stride is not None:
            if regime not in GRID_REGIMES or snippet_stride < 1:
                raise ValueError('TADDataset: snippet_stride for features sets a per-video '
                                 "snippet grid of the sliding regime; use regime='sliding' (or "
                                 f"'full') and snippet_stride >= 1 (got {regime!r}, "
                                 f'{snippet_stride})')
            if snippet_duration is not None:
                raise ValueError('TADDataset: give either snippet_duration (one fixed grid) or '
                                 'snippet_stride (+ offset_frames, each video its own fps) for '
                                 'features, not both')
        self.offset_frames = (None if offset_frames is None else float(offset_frames))
        if duration_check not in DURATION_CHECKS:
            raise ValueError(f'TADDataset: duration_check must be one of {DURATION_CHECKS}, got '
                             f'{duration_check!r}')
        if not isinstance(filename_tmpl, str) or filename_tmpl.count('{}') != 1:
            raise ValueError("TADDataset: filename_tmpl must contain '{}' once (the video id), "
                             f'got {filename_tmpl!r}')
        self.modality = modality
        self.video_exts = (video_ext, ) if isinstance(video_ext, str) else tuple(video_ext)
        self.filename_tmpl = filename_tmpl
        self.duration_check = duration_check
        self.duration_tolerance = float(duration_tolerance)
        self.snippet_stride = snippet_stride
        if regime not in ('resize', ) + GRID_REGIMES:
            raise ValueError("TADDataset: regime must be 'resize', 'sliding' or 'full', got "
                             f'{regime!r}')
        if feature_ext not in FEATURE_EXTS:
            raise ValueError(f'TADDataset: feature_ext must be one of {FEATURE_EXTS}, '
                             f'got {feature_ext!r}')
        if temporal_dim < 1 or window_stride < 1:
            raise ValueError('TADDataset: temporal_dim and window_stride must be >= 1, got '
                             f'{temporal_dim} and {window_stride}')
        subsets = [subset] if isinstance(subset, str) else list(subset)
        self.subsets = [SUBSET_ALIASES.get(s, s) for s in subsets]
        self.feature_ext = feature_ext
        self.regime = regime
        self.temporal_dim = int(temporal_dim)
        self.window_stride = int(window_stride)
        self.snippet_duration = snippet_duration
        self.min_gt_overlap = min_gt_overlap
        self.drop_empty_windows = drop_empty_windows
        self.skip_invalid = skip_invalid
        self.skipped_videos: Dict[str, str] = {}
        self.annotation_tolerance = annotation_tolerance
        self.ignore_labels = tuple(ignore_labels)
        self._class_map = class_map
        self._blocked = blocked_videos
        # build in our scope, so that the transforms resolve without a runner's default scope
        pipeline = [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in pipeline]
        if regime == 'full' and not any(isinstance(t, RandomTruncTAD) for t in pipeline):
            raise ValueError("TADDataset(regime='full') yields whole videos on their snippet grid; "
                             "its pipeline needs a RandomTruncTAD before decoding / loading (or "
                             "use regime='sliding')")
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, pipeline=pipeline, **kwargs)

    # -- annotation ---------------------------------------------------------------------------
    def _classes(self, database: dict) -> List[str]:
        names = load_name_list(self._class_map, 'class_map')
        if names is None:
            names = annotation_labels(database, self.ann_file, self.ignore_labels)
        if not names:
            raise ValueError(f'no action class found in {self.ann_file} (and no class_map given)')
        return names

    def _check_video(self, vid: str, info: dict, classes: List[str]) -> dict:
        """Validate one video's annotation (:func:`check_video_annotation`); return it with
        segments clipped to the video."""
        return check_video_annotation(vid, info, self.ann_file, classes, self.ignore_labels,
                                      self.annotation_tolerance)

    def _file_path(self, vid: str) -> str:
        """The feature or video file of ``vid`` (the first existing video extension)."""
        name = self.filename_tmpl.format(vid)
        if self.modality == 'feature':
            return osp.join(self.data_prefix.get('feature', ''), name + self.feature_ext)
        paths = [osp.join(self.data_prefix.get('video', ''), name + ext)
                 for ext in self.video_exts]
        found = [p for p in paths if osp.isfile(p)]
        if not found:
            raise FileNotFoundError('video file not found: ' + ' or '.join(paths))
        return found[0]

    def _snippet_frames(self) -> int:
        """Frames of one snippet of the pipeline's ``DecodeTADSnippets`` (1 without one, or
        with ``sampling='frames'``: one frame per read)."""
        for t in getattr(self.pipeline, 'transforms', []):
            if getattr(t, 'sampling', 'snippets') == 'frames':
                return 1
            if hasattr(t, 'clip_len') and hasattr(t, 'frame_interval'):
                return int(t.clip_len) * int(t.frame_interval)
        return 1

    def _report_video_checks(self, mismatched: List[tuple], short: List[str]) -> None:
        """One warning per kind of suspicious video (see ``duration_check``)."""
        if mismatched and self.duration_check == 'warn':
            print_log(
                f'TADDataset: {len(mismatched)} video(s) whose annotated duration differs from '
                f'the file (frames / fps) by more than {self.duration_tolerance} s; their labels '
                'may land on the wrong frames (duration_check=\'raise\' to stop), e.g. '
                + ', '.join(f'{v!r}: {a:g} s annotated, {f:.2f} s in the file'
                            for v, a, f in mismatched[:5]), logger='current', level=30)
        if short:
            print_log(
                f'TADDataset: {len(short)} video(s) shorter than one snippet '
                f'({self._snippet_frames()} frames): their snippets repeat frames, e.g. '
                f'{short[:5]}', logger='current', level=30)

    def load_data_list(self) -> List[dict]:
        database = load_annotation_json(self.ann_file)
        classes = self._classes(database)
        blocked = set(load_name_list(self._blocked, 'blocked_videos') or [])
        self._metainfo.update(classes=tuple(classes), ground_truth={})
        ground_truth = self._metainfo['ground_truth']
        data_list, skipped = [], []
        vids = [v for v in sorted(database)
                if video_subset(v, database[v], self.ann_file) in self.subsets
                and v not in blocked]
        num_vids, mismatched, short = len(vids), [], []
        snippet_frames = self._snippet_frames()
        if (self.modality == 'video' and len(vids) > PROGRESS_MIN_VIDEOS
                and is_main_process()):  # probing every video takes a while: show it
            print_log(f'TADDataset: probing {len(vids)} videos', logger='current')
            vids = track_iter_progress(vids, file=sys.stdout)  # current stdout
        for vid in vids:
            info = self._check_video(vid, database[vid], classes)
            try:
                path = self._file_path(vid)
                num_snippets, video_meta = self._probe(path)
            except (OSError, ValueError) as e:
                if not self.skip_invalid:
                    raise type(e)(f'video {vid!r}: {e} (set skip_invalid=True to skip such '
                                  'videos)') from e
                skipped.append(vid)
                self.skipped_videos[vid] = str(e)
                continue
            if video_meta is not None:
                file_duration = video_meta['num_frames'] / video_meta['fps']
                if abs(file_duration - info['duration']) > self.duration_tolerance:
                    if self.duration_check == 'raise':
                        raise ValueError(
                            f'video {vid!r}: annotated duration {info["duration"]:g} s in '
                            f'{self.ann_file} but {file_duration:.2f} s in {path} '
                            f'({video_meta["num_frames"]} frames at {video_meta["fps"]:g} fps); '
                            'fix the annotation or the file, or set duration_check=\'warn\'')
                    mismatched.append((vid, info['duration'], file_duration))
                if video_meta['num_frames'] < snippet_frames:
                    short.append(vid)
            ground_truth[vid] = dict(subset=info['subset'], duration=info['duration'],
                                     annotations=info['annotations'])
            data_list.extend(self._samples(vid, info, path, classes, num_snippets, video_meta))
        if skipped:
            print_log(f'TADDataset: skipped {len(skipped)} video(s) with a missing or unreadable '
                      f'{self.modality} file, e.g. {skipped[:5]}', logger='current', level=30)
        self._report_video_checks(mismatched, short)
        if not data_list:
            raise ValueError(
                f'TADDataset: no sample in subset(s) {self.subsets} of {self.ann_file}: '
                f'{num_vids} video(s) in the subset (after blocked_videos), {len(skipped)} '
                'video(s) skipped as missing or unreadable'
                + (', every sliding window without a target dropped (drop_empty_windows)'
                   if self.regime in GRID_REGIMES and not self.test_mode else ''))
        return data_list

    def __getitem__(self, idx: int) -> dict:
        """The ``idx``-th sample after the pipeline (mmengine's ``BaseDataset``), where with
        ``skip_invalid=True`` a training sample whose file cannot be read is replaced by
        another (see ``skip_invalid``)."""
        if not self.skip_invalid:
            return super().__getitem__(idx)
        if not self._fully_initialized:
            self.full_init()
        first, unreadable = idx, []
        for attempt in range(self.max_refetch + 1):
            try:
                data = self.prepare_data(idx)
            except READ_ERRORS as e:
                vid = self.get_data_info(idx)['video_name']
                if self.test_mode:
                    raise type(e)(
                        f'{e}; the video was indexed (its header reads) but cannot be decoded. '
                        'skip_invalid replaces such videos in training only (an evaluation '
                        'without it would count its actions as missed): remove it from the '
                        'annotation file or list it in blocked_videos') from e
                self._report_unreadable(vid, e)
                if vid not in unreadable:
                    unreadable.append(vid)
                idx = self._replacement(first, attempt)
                continue
            if data is None:  # a transform rejected the sample (BaseDataset's contract)
                if self.test_mode:
                    raise ValueError(f'TADDataset: the test pipeline returned None for sample '
                                     f'{idx} ({self.get_data_info(idx)["video_name"]!r})')
                idx = self._replacement(first, attempt)
                continue
            if unreadable:
                samples = data.get('data_samples') if isinstance(data, dict) else None
                if hasattr(samples, 'set_metainfo'):
                    samples.set_metainfo(dict(unreadable_videos=unreadable))
                else:
                    data['unreadable_videos'] = unreadable
            return data
        raise RuntimeError(f'TADDataset: no readable sample found in {self.max_refetch} '
                           f'replacements of sample {first} (unreadable: {unreadable[:10]}); '
                           'are most files of the dataset broken?')

    def _replacement(self, idx: int, attempt: int) -> int:
        """The sample that replaces sample ``idx`` at ``attempt`` (seeded: the same in every
        run and worker, and no draw from the global random state of the augmentations)."""
        rng = np.random.default_rng((REPLACEMENT_SEED, idx, attempt))
        return int(rng.integers(len(self)))

    def _feature_grid(self) -> bool:
        return self.modality == 'feature' and bool(self.snippet_stride)

    def _video_fps(self, vid: str, info: dict) -> float:
        """A video's frame rate: annotation ``"fps"``, else ``"frame" / "duration"``."""
        if info.get('fps'):
            return float(info['fps'])
        if info.get('frame') and info.get('duration'):
            return float(info['frame']) / float(info['duration'])
        raise ValueError(f'{self.ann_file}: video {vid!r} has neither "fps" nor "frame" (frame '
                         'count), needed by snippet_stride / offset_frames of the feature '
                         'modality; add "fps" to the annotation or set snippet_duration instead')

    def _report_unreadable(self, vid: str, error: Exception) -> None:
        """Log (once per process) a video whose file fails at read time."""
        if vid in self.skipped_videos:
            return
        self.skipped_videos[vid] = str(error)
        print_log(f'TADDataset: skipped video {vid!r} that cannot be read ({error}); its samples '
                  'are replaced by other samples (skip_invalid=True)', logger='current',
                  level=30)

    def _probe(self, path: str) -> tuple:
        """``(num_snippets, video_meta)`` of one video file (raises if unreadable).

        ``num_snippets`` is None in the resize regime; ``video_meta`` (:func:`probe_video`) is
        None in the feature modality.
        """
        video_meta = None
        if self.modality == 'video':
            video_meta = probe_video(path)
            num_snippets = (-(-video_meta['num_frames'] // self.snippet_stride)
                            if self.regime in GRID_REGIMES else None)
        else:
            num_snippets = (num_feature_snippets(path) if self.regime in GRID_REGIMES
                            else None)
        if self.regime == 'resize' and not osp.isfile(path):
            raise FileNotFoundError(f'feature file not found: {path}')
        return num_snippets, video_meta

    def video_samples(self, path: str, video_name: Optional[str] = None,
                      duration: Optional[float] = None,
                      fps: Optional[float] = None) -> List[dict]:
        """The samples (data infos, before the pipeline) that cover one unlabelled video.

        The same windows and metainfo (``window_start``, ``window_duration``, ``duration``,
        ``total_frames``...) as :meth:`load_data_list` makes for an annotated video, with no
        ground truth and no window dropped; inference (:func:`mmtad_ext.apis.
        inference_detector`) runs the pipeline on each of them.

        Args:
            path (str): Video file (``modality='video'``) or feature file.
            video_name (str, optional): Defaults to the file name without extension.
            duration (float, optional): Seconds. Defaults to the file's: ``num_frames / fps``
                for a video, ``num_snippets * snippet_duration`` for features (features in the
                resize regime or without ``snippet_duration`` need it).
            fps (float, optional): The video's frame rate, for features with ``snippet_stride``
                (their per-video snippet grid). Defaults to None.

        Returns:
            list[dict]: One data info per window, in time order.
        """
        vid = video_name or osp.splitext(osp.basename(path))[0]
        num_snippets, video_meta = self._probe(path)
        if self._feature_grid() and not fps:
            raise ValueError(f'feature file {path}: this dataset places snippets by frame '
                             '(snippet_stride / offset_frames); give fps=<the video\'s frame '
                             'rate>')
        if duration is None:
            if video_meta is not None:
                duration = video_meta['num_frames'] / video_meta['fps']
            elif num_snippets is not None and self.snippet_duration:
                duration = num_snippets * self.snippet_duration
            elif num_snippets is not None and self._feature_grid() and fps:
                duration = num_snippets * self.snippet_stride / fps
            else:
                raise ValueError(f'feature file {path}: the duration of the video is unknown '
                                 '(give duration=<seconds>, or snippet_duration in the dataset '
                                 'config for the sliding regime)')
        duration = check_positive_seconds(duration, f'{path}: the duration')
        info = dict(duration=duration, annotations=[], fps=fps)
        return self._samples(vid, info, path, [], num_snippets, video_meta, keep_empty=True)

    def _samples(self, vid: str, info: dict, path: str, classes: List[str],
                 num_snippets: Optional[int], video_meta: Optional[dict] = None,
                 keep_empty: bool = False) -> List[dict]:
        anns = [a for a in info['annotations'] if a['label'] not in self.ignore_labels]
        seg = np.array([a['segment'] for a in anns], dtype=np.float32).reshape(-1, 2)
        labels = np.array([classes.index(a['label']) for a in anns], dtype=np.int64)
        base = dict(video_name=vid, feature_path=path, duration=info['duration'],
                    fps=info.get('fps'), temporal_dim=self.temporal_dim)
        if video_meta is not None:  # raw video: decoded by DecodeTADSnippets
            base.update(filename=path, total_frames=video_meta['num_frames'],
                        height=video_meta['height'], width=video_meta['width'],
                        fps=info.get('fps') or video_meta['fps'])
        if self.regime == 'resize':
            return [dict(base, window_start=0.0, window_duration=info['duration'],
                         gt_segments=seg / info['duration'], gt_labels=labels)]
        snippet = self.snippet_duration or info['duration'] / num_snippets
        origin = 0.0  # seconds where the window of snippet 0 starts
        if video_meta is not None:  # snippets are snippet_stride frames apart
            base['snippet_stride'] = self.snippet_stride
            snippet = self.snippet_stride / video_meta['fps']
        elif self._feature_grid():  # snippet t centred at (stride * t + offset) / fps
            fps = self._video_fps(vid, info)
            snippet = self.snippet_stride / fps
            offset = (self.snippet_stride / 2 if self.offset_frames is None
                      else self.offset_frames)
            origin = offset / fps - snippet / 2
            base['fps'] = fps
        size, stride = self.temporal_dim, self.window_stride
        if self.regime == 'full':  # one window: the whole video (RandomTruncTAD cuts it)
            size, base['full_video'] = num_snippets, True
        starts = list(range(0, max(num_snippets - size, 0) + 1, stride))
        if starts[-1] + size < num_snippets:  # cover the tail
            starts.append(num_snippets - size)
        samples = []
        for w0 in starts:
            t0, span = origin + w0 * snippet, size * snippet
            norm = (seg - t0) / span
            clipped = norm.clip(0, 1)
            inside = (clipped[:, 1] - clipped[:, 0]) / np.maximum(norm[:, 1] - norm[:, 0], 1e-8)
            keep = inside >= self.min_gt_overlap
            if (not keep.any() and self.drop_empty_windows and not self.test_mode
                    and not keep_empty):
                continue
            samples.append(dict(base, window_start=t0, window_duration=span,
                                window_start_snippet=w0, num_snippets=num_snippets,
                                valid_length=min(size, num_snippets - w0),
                                gt_segments=clipped[keep], gt_labels=labels[keep]))
        return samples
