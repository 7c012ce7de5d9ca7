"""The predict section of params.yaml."""

from typing import Annotated

from pydantic import Field

from stages.shared.params import Section, Unit


class Predict(Section):
    """Which test images are classified."""

    count: Annotated[
        int,
        Field(ge=1, le=100, description="Classify the first `count` test images."),
        Unit("an image count"),
    ]
