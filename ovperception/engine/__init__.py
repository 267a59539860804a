"""Runner integration: hooks and safe checkpoint handling."""
from ovperception.engine.atomic_checkpoint import AtomicCheckpointHook
from ovperception.engine.distributed import OVDistributedWrapper
from ovperception.engine.few_shot import FewShotMemoryHook
from ovperception.engine.hooks import ProgressBarHook, SegVisualizationHook
from ovperception.engine.plain_checkpoint import PlainCheckpointHook
from ovperception.engine.schedulers import PolyWarmupLR
from ovperception.engine.set_test_loop import SetTestLoop
from ovperception.utils.safe_load import load_checkpoint_safely

__all__ = ['AtomicCheckpointHook', 'OVDistributedWrapper', 'FewShotMemoryHook', 'ProgressBarHook',
           'SegVisualizationHook', 'PlainCheckpointHook', 'PolyWarmupLR', 'SetTestLoop',
           'load_checkpoint_safely']
