"""The benchmark's report: the machine, and the table of figures."""
import os
import platform
import re
import subprocess
from typing import Dict, List

import torch


def machine_info(device: str) -> Dict:
    model_name = None
    try:
        out = subprocess.run(['lscpu'], capture_output=True, text=True)
        match = re.search(r'^Model name:\s*(.+)$', out.stdout, re.M)
        model_name = match.group(1).strip() if match else None
    except FileNotFoundError:
        pass  # no lscpu: fall back to the platform string below
    info = dict(
        cpu=model_name or platform.processor() or platform.machine(),
        cpu_count=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        device=device,
        python=platform.python_version(),
        torch=torch.__version__,
        platform=f'{platform.system()} {platform.release()}')
    if device == 'cuda':
        info['gpu'] = torch.cuda.get_device_name()
    return info


def format_value(value: float, unit: str) -> str:
    if unit == 's':
        return f'{value * 1e3:.2f} ms' if value < 1 else f'{value:.3f} s'
    return f'{value / 1024:.2f} MiB'


def print_table(figures: Dict[str, Dict], targets: List[Dict]) -> None:
    limits = {t['figure']: t for t in targets}
    rows = [('figure', 'value', 'baseline', 'ratio', 'wall ratio', 'target',
             'status')]
    for name, figure in figures.items():
        target = limits.get(name)
        wall = figure.get('wall_ratio')
        rows.append((name, format_value(figure['value'], figure['unit']),
                     format_value(figure['baseline_value'],
                                  figure['unit']), f'{figure["ratio"]:.3f}',
                     '-' if wall is None else f'{wall:.3f}',
                     f'<= {target["limit"]:.2f}' if target else '-',
                     target['status'] if target else '-'))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print('  '.join(cell.ljust(width) for cell, width in zip(row, widths)))
        if i == 0:
            print('  '.join('-' * width for width in widths))
    print()
    for name, figure in figures.items():
        print(f'{name}: {figure["what"]} / {figure["baseline"]}')
