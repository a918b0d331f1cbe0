"""The kinds of failure a sample's evidence can show, without pydantic.

``FailureType`` is the ``Literal`` the records use (``models.FailureType`` is this one) and
``FAILURE_TYPES`` its values in order, which the command line offers as choices
(``cli.options``) without importing pydantic, so that ``--help`` stays light.
"""

from __future__ import annotations

from typing import Literal, get_args

FailureType = Literal[
    "planning_error",
    "integration_error",
    "scope_error",
    "architecture_error",
    "config_error",
    "wrong_pattern",
    "test_failure",
    "other",
]
FAILURE_TYPES: tuple[str, ...] = get_args(FailureType)
