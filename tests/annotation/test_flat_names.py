"""Flat names (YOLO / VOC file stems) are unique by construction, case-insensitively,
video frames included, and stable across reruns (issue #23, item 2).

A property test over generated names (seeded; ``hypothesis`` is not a dependency): random
folders, stems, extensions, case variants, frame-like names and names that look like the
numbered form of another."""
from __future__ import annotations

import random

import pytest

from ovperception.annotation.records import frame_stem, unique_names

FOLDERS = ['', 'a/', 'A/', 'b/', 'a/b/', 'a__b/', 'c/']
STEMS = ['x', 'X', 'y', 'y_jpg', 'y_jpg_1', 'y_jpg_2', 'clip', 'Clip', 'clip__000000',
         'clip__000001', 'clip_mp4', 'clip_mp4__000000', 'a__x', 'x_png', 'x_2', 'é', 'É',
         '猫', 'v__1000000', 'v']
EXTENSIONS = ['.jpg', '.JPG', '.png', '.PNG', '.jpeg', '.mp4', '.MP4', '.avi']
FRAMES = (0, 1, 2, 999999, 1000000)


def random_inputs(rng: random.Random) -> tuple[list[str], set[str]]:
    paths = sorted({rng.choice(FOLDERS) + rng.choice(STEMS) + rng.choice(EXTENSIONS)
                    for _ in range(rng.randint(1, 25))})
    return paths, {p for p in paths if p.lower().endswith(('.mp4', '.avi'))}


def all_flat_names(paths: list[str], videos: set[str], stems: list[str]) -> list[str]:
    """Every file stem the datasets hold: each image's, each frame's of each video."""
    names = []
    for path, stem in zip(paths, stems):
        names += [frame_stem(stem, i) for i in FRAMES] if path in videos else [stem]
    return names


def assert_unique(names: list[str]) -> None:
    folded = [n.casefold() for n in names]
    duplicates = sorted({n for n in folded if folded.count(n) > 1})
    assert not duplicates, duplicates


@pytest.mark.parametrize('seed', range(20))
def test_flat_names_unique_case_insensitively_and_stable_on_rerun(seed):
    rng = random.Random(seed)
    for _ in range(25):
        paths, videos = random_inputs(rng)
        stems = unique_names(paths, videos)
        assert len(stems) == len(paths) and all(stems)
        assert_unique(all_flat_names(paths, videos, stems))
        assert unique_names(paths, videos) == stems  # deterministic (every rank agrees)
        # rerun with some inputs removed and others added: recorded names are kept
        recorded = dict(zip(paths, stems))
        more, more_videos = random_inputs(rng)
        kept = [p for p in paths if rng.random() < 0.6]
        rerun = sorted(set(kept) | set(more))
        rerun_videos = {p for p in rerun if p in videos or p in more_videos} | videos
        again = unique_names(rerun, rerun_videos, recorded)
        for path, stem in zip(rerun, again):
            if path in recorded:
                assert stem == recorded[path], path
        everything = dict(recorded, **dict(zip(rerun, again)))
        assert_unique(all_flat_names(list(everything), rerun_videos,
                                     list(everything.values())))


def test_the_reported_collisions():
    # (a) a video next to an image named like its first frame
    paths = ['clip.mp4', 'clip__000000.png']
    video, image = unique_names(paths, {'clip.mp4'})
    assert frame_stem(video, 0).casefold() != image.casefold()
    # (b) case variants and a name like the numbered form of another
    stems = unique_names(['c/y.jpg', 'c/y.JPG', 'c/y_jpg_1.png', 'c/y_jpg_2.png'])
    assert len({s.casefold() for s in stems}) == 4
