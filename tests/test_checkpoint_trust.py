import os
import subprocess
import sys

import pytest
import torch

from conftest import REPO_ROOT
from hprotopnet_mm.engine.checkpoint_trust import (UntrustedCheckpointError,
                                                   load_trusted_checkpoint,
                                                   load_untrusted_checkpoint)


class _RunsCode:
    """Unpickling this object creates a directory: proof that code ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.makedirs, (self.path, )


def _malicious_checkpoint(tmp_path):
    marker = str(tmp_path / 'code_ran')
    path = str(tmp_path / 'evil.pth')
    torch.save(
        {
            'state_dict': {
                'w': torch.ones(2)
            },
            'payload': _RunsCode(marker)
        }, path)
    return path, marker


def test_untrusted_load_refuses_pickled_code_and_names_the_file(tmp_path):
    path, marker = _malicious_checkpoint(tmp_path)
    with pytest.raises(UntrustedCheckpointError, match='evil.pth'):
        load_untrusted_checkpoint(path)
    assert not os.path.exists(marker)


def test_untrusted_load_accepts_plain_weights(tmp_path):
    path = str(tmp_path / 'plain.pth')
    torch.save({'state_dict': {'w': torch.arange(3.)}}, path)
    loaded = load_untrusted_checkpoint(path)
    assert torch.equal(loaded['state_dict']['w'], torch.arange(3.))


def test_trusted_load_reads_full_pickles(tmp_path):
    from mmengine.logging import HistoryBuffer
    path = str(tmp_path / 'own.pth')
    buffer = HistoryBuffer()
    buffer.update(1.5)
    torch.save({'message_hub': {'loss': buffer}}, path)
    with pytest.raises(UntrustedCheckpointError):
        load_untrusted_checkpoint(path)
    loaded = load_trusted_checkpoint(path)
    assert loaded['message_hub']['loss'].current() == 1.5


def test_convert_checkpoint_needs_trust_and_then_loads_weights_only(tmp_path):
    path, marker = _malicious_checkpoint(tmp_path)
    tool = os.path.join(REPO_ROOT, 'tools', 'convert_checkpoint.py')
    out = str(tmp_path / 'converted.pth')
    refused = subprocess.run([sys.executable, tool, path, out],
                             capture_output=True,
                             text=True)
    assert refused.returncode != 0 and '--trust' in refused.stderr
    assert not os.path.exists(marker) and not os.path.exists(out)
    subprocess.run([sys.executable, tool, path, out, '--trust'],
                   check=True,
                   capture_output=True)
    converted = load_untrusted_checkpoint(out)
    assert torch.equal(converted['state_dict']['w'], torch.ones(2))
    assert set(converted) == {'state_dict', 'meta'}
