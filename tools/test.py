"""Test a recognizer: MMAction2's ``tools/test.py`` command-line interface.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--dump FILE.pkl]
        [--cfg-options k=v ...] [--launcher pytorch]

Prints every metric as a table and writes them to ``<work_dir>/metrics.json``.
``--dump`` saves the per-clip predictions (with video file names) as a pickle
that ``tools/analyze_results.py`` reads to recompute the metrics offline.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import Config, DictAction  # noqa: E402

import hprotopnet_mm  # noqa: E402,F401
from hprotopnet_mm.compat.cpu_distributed import \
    init_cpu_distributed  # noqa: E402
from hprotopnet_mm.datasets import AnnotationError  # noqa: E402
from hprotopnet_mm.engine import build_runner  # noqa: E402
from hprotopnet_mm.engine.preflight import MissingPathError  # noqa: E402
from hprotopnet_mm.engine.preflight import check_config_paths
from hprotopnet_mm.evaluation import dump_metrics_json  # noqa: E402
from hprotopnet_mm.evaluation import format_metrics_table


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='MMAction2 test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics')
    parser.add_argument(
        '--dump',
        type=str,
        help='dump predictions to a pickle file for offline evaluation')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.')
    parser.add_argument(
        '--show-dir',
        help='directory where the visualization images will be saved.')
    parser.add_argument(
        '--show',
        action='store_true',
        help='whether to display the prediction results in a window.')
    parser.add_argument(
        '--interval',
        type=int,
        default=1,
        help='visualize per interval samples.')
    parser.add_argument(
        '--wait-time',
        type=float,
        default=2,
        help='display time of every window. (second)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_args(cfg, args):
    """Apply the command-line flags to the config."""
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.show or args.show_dir:
        visualization_hook = cfg.default_hooks.get('visualization')
        if visualization_hook is None:
            raise ValueError('--show/--show-dir need default_hooks.'
                             'visualization in the config')
        visualization_hook.enable = True
        visualization_hook.show = args.show
        visualization_hook.wait_time = args.wait_time
        visualization_hook.out_dir = args.show_dir
        visualization_hook.interval = args.interval
    if args.dump is not None:
        if not args.dump.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--dump must end with .pkl, got {args.dump}')
        dump_metric = dict(type='DumpResults', out_file_path=args.dump)
        evaluator = cfg.test_evaluator
        if isinstance(evaluator, (list, tuple)):
            cfg.test_evaluator = [*evaluator, dump_metric]
        else:
            cfg.test_evaluator = [evaluator, dump_metric]
    cfg.load_from = args.checkpoint
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = merge_args(Config.fromfile(args.config), args)
    check_config_paths(cfg, args.config, mode='test')
    if not osp.isfile(args.checkpoint) and '://' not in args.checkpoint:
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    if args.launcher == 'pytorch':
        init_cpu_distributed(cfg)
    runner = build_runner(cfg)
    metrics = runner.test()
    if runner.rank == 0:
        print(format_metrics_table(metrics))
        out = osp.join(runner.work_dir, 'metrics.json')
        dump_metrics_json(metrics, out)
        print(f'metrics written to {out}')
    return metrics


if __name__ == '__main__':
    try:
        main()
    except (MissingPathError, AnnotationError) as err:
        sys.exit(f'{osp.basename(__file__)}: error: {err}')
