"""Imported by training subprocesses of the tests (``custom_imports``):
``StopAtLogLineHook`` makes the process stop itself (SIGSTOP) right after
it logs a line containing ``$HPROTO_TEST_STOP_AT``, so that a test kills it
exactly there, however slowly the test process itself is scheduled."""
import logging
import os
import signal

from mmengine.hooks import Hook

from mmaction.registry import HOOKS

STOP_AT = 'HPROTO_TEST_STOP_AT'


class _StopAtLine(logging.Handler):

    def __init__(self, text):
        super().__init__()
        self.text = text

    def emit(self, record):
        if self.text in record.getMessage():
            os.kill(os.getpid(), signal.SIGSTOP)


@HOOKS.register_module()
class StopAtLogLineHook(Hook):
    """Without ``$HPROTO_TEST_STOP_AT`` it does nothing."""

    priority = 'VERY_HIGH'

    def before_run(self, runner):
        text = os.environ.get(STOP_AT)
        if text:
            # after the console handler: the line is written first
            runner.logger.addHandler(_StopAtLine(text))
