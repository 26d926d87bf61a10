"""Running the shipped reference classifier (:mod:`app.nets.classifier`) on images."""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable

import numpy as np
import torch

from app.pipelines.netrun import fixed_threads


class Top5Classifier(abc.ABC):
    """A reference classifier of ``edms eval --task``: class probabilities of an image, and
    the top-5 class indices the accuracy is counted on (DeepSIC's Table I)."""

    @abc.abstractmethod
    def __init__(self, config: str = "lite") -> None:
        """Load the network of ``config``."""

    @abc.abstractmethod
    def probabilities(self, image: np.ndarray) -> np.ndarray:
        """Class probabilities (or scores in their order) for an HxWx3 uint8 image."""

    def top5(self, image: np.ndarray) -> list[int]:
        """The five most likely class indices, most likely first."""
        return [int(i) for i in np.argsort(-self.probabilities(image), kind="stable")[:5]]


@functools.cache
def shared(kind: type[Top5Classifier], config: str = "lite") -> Top5Classifier:
    """One ``kind`` network per configuration, loaded once."""
    return kind(config)


class ReferenceClassifier(Top5Classifier):
    """``classifier-<config>`` from ``models/``."""

    def __init__(self, config: str = "lite") -> None:
        from app.nets import zoo

        self.model, self.manifest = zoo.load_model("classifier", config)

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        """Softmax over the classes for an HxWx3 uint8 image."""
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
        with fixed_threads():
            return torch.softmax(self.model(x.float() / 255.0), dim=1)[0].numpy()


def classifier_reference(config: str = "lite") -> Callable[[np.ndarray], list[int]]:
    """The ``classifier`` reference network (its top-5 class indices)."""
    return shared(ReferenceClassifier, config).top5
