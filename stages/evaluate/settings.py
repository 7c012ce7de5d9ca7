"""The evaluate section of params.yaml."""

from typing import Annotated

from pydantic import Field

from stages.shared.params import Section, Unit


class Evaluate(Section):
    """How the shipped model is scored, and what is drawn."""

    batch_size: Annotated[
        int,
        Field(
            ge=1,
            le=2**31 - 1,
            description="Images per ONNX Runtime call; results do not depend on it.",
        ),
    ]
    samples: Annotated[
        int,
        Field(
            ge=1,
            le=100,
            description="Test images drawn in the samples figure, and mistakes in the "
            "misclassified figure.",
        ),
        Unit("an image count"),
    ]
