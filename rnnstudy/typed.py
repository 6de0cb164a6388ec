"""The pydantic building blocks of the config tree (``rnnstudy.config`` and every task's config
in ``rnnstudy.tasks``): a strict base class and positive numbers. Torch-free."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]


class Strict(BaseModel):
    """A config section: unknown fields are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
