# AnomalyDINO-S, 1-shot on VisA (dammsi/AnomalyDINO, 'agnostic' preprocessing, 448 px):
#   python run_anomalydino.py --dataset VisA --shots 1 --num_seeds 3 --preprocess agnostic
# Protocol as the MVTec AD config; on VisA the 'agnostic' preset masks every object.
# Published: no VisA number verified here (the paper's tables were not available as text);
# none is recorded.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.visa import *
    from .._base_.models.anomalydino_vits14 import *

test_dataloader.dataset.update(pipeline=anomalydino_pipeline)
test_evaluator.update(anomalydino_metrics)
model.head.update(masking=True)
custom_hooks.append(anomalydino_shots)
