"""Running the shipped reference classifier (:mod:`app.nets.classifier`) on images."""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import torch

from app.pipelines.netrun import fixed_threads


class ReferenceClassifier:
    """``classifier-<config>`` from ``models/``, loaded once."""

    def __init__(self, config: str = "lite") -> None:
        from app.nets import zoo

        self.model, self.manifest = zoo.load_model("classifier", config)

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        """Softmax over the classes for an HxWx3 uint8 image."""
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
        with fixed_threads():
            return torch.softmax(self.model(x.float() / 255.0), dim=1)[0].numpy()

    def top5(self, image: np.ndarray) -> list[int]:
        """The five most likely class indices, most likely first."""
        return [int(i) for i in np.argsort(-self.probabilities(image), kind="stable")[:5]]


@functools.cache
def shared_classifier(config: str = "lite") -> ReferenceClassifier:
    return ReferenceClassifier(config)


def classifier_reference(config: str = "lite") -> Callable[[np.ndarray], list[int]]:
    """The ``classifier`` reference network (its top-5 class indices)."""
    return shared_classifier(config).top5
