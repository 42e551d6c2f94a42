"""Stress test of the pre-flight video check: many fresh processes open the
same videos at the same moment.

Each process loads ``hprotopnet_mm/datasets/video_probe.py`` (what
``CheckedVideoDataset`` calls when it is built; the file alone, so that a
process stays small), reports that it is ready, waits until every process
is, and then checks every video with ``probe_videos``. FFmpeg sets up its
decoders on first use in each fresh process, which is where concurrent
opening used to abort. A process that ends by a signal (SIGABRT) or finds
a video unusable is a failure; the exit code is 1 if any failed.

    python tools/stress_preflight.py [--processes 200] [--videos DIR]
        [--workers N]

Without ``--videos`` it makes the toy dataset (seed 0, 2 training clips a
class, 1 validation and 1 test clip: 54 mp4 videos) in a temporary
folder.
"""
import argparse
import glob
import os
import os.path as osp
import signal
import subprocess
import sys
import tempfile
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PROBE = osp.join(REPO_ROOT, 'hprotopnet_mm', 'datasets', 'video_probe.py')
CHILD = r'''
import importlib.util, sys
spec = importlib.util.spec_from_file_location('video_probe', sys.argv[1])
probe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(probe)
import decord  # noqa: F401  (loaded before the start, like a training run)
workers = None if sys.argv[2] == 'default' else int(sys.argv[2])
paths = open(sys.argv[3]).read().split('\n')
print('ready', flush=True)
sys.stdin.read(1)
problems = probe.probe_videos(paths, workers=workers)
bad = [f'{p}: {x}' for p, x in zip(paths, problems) if x is not None]
print('\n'.join(bad) or f'{len(paths)} videos usable', flush=True)
sys.exit(1 if bad else 0)
'''


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--processes',
        type=int,
        default=200,
        help='fresh processes started together')
    parser.add_argument(
        '--videos',
        help='folder of videos (*.mp4, *.avi, '
        'searched recursively); default: the toy dataset')
    parser.add_argument(
        '--workers',
        default='default',
        help='probe worker processes per process (default: '
        "probe_videos' default; 0: open in the process)")
    return parser.parse_args(argv)


def toy_videos(folder):
    sys.path.insert(0, REPO_ROOT)
    from hprotopnet_mm.datasets import make_toy_dataset
    return make_toy_dataset(
        folder,
        seed=0,
        train_per_class=2,
        val_per_class=1,
        test_per_class=1,
        ambiguous_per_pair=1).video_root


def run(paths_file, count, workers):
    """Start ``count`` processes, release them together, wait for all.
    Returns [(exit code, output)]."""
    procs = []
    for _ in range(count):
        procs.append(
            subprocess.Popen(
                [sys.executable, '-c', CHILD, PROBE, workers, paths_file],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True))
    for proc in procs:  # every process has loaded decord
        proc.stdout.readline()
    for proc in procs:
        proc.stdin.write('x')
        proc.stdin.close()
    return [(proc.wait(), proc.stdout.read()) for proc in procs]


def describe(code):
    if code < 0:
        try:
            return f'killed by {signal.Signals(-code).name}'
        except ValueError:
            return f'killed by signal {-code}'
    return f'exit code {code}'


def main(argv=None):
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.videos or toy_videos(osp.join(tmp, 'toy'))
        paths = sorted(
            p for ext in ('mp4', 'avi', 'mkv', 'webm') for p in glob.glob(
                osp.join(root, '**', f'*.{ext}'), recursive=True))
        if not paths:
            sys.exit(f'stress_preflight.py: error: no videos under {root}')
        paths_file = osp.join(tmp, 'paths.txt')
        with open(paths_file, 'w') as f:
            f.write('\n'.join(paths))
        start = time.monotonic()
        results = run(paths_file, args.processes, args.workers)
        seconds = time.monotonic() - start
    failed = [(code, out) for code, out in results if code != 0]
    print(f'{args.processes} fresh processes, {len(paths)} videos each, '
          f'released together: {args.processes - len(failed)} passed, '
          f'{sum(code < 0 for code, _ in failed)} killed by a signal, '
          f'{sum(code > 0 for code, _ in failed)} found unusable videos '
          f'({seconds:.1f} s, {os.cpu_count()} CPUs)')
    for code, out in failed[:5]:
        print(f'--- {describe(code)}:\n{out.strip()[-2000:]}')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
