"""Every docstring example in the package runs and prints what it says (``doctest``)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import rnnstudy


def modules() -> list[str]:
    names = [rnnstudy.__name__]
    for info in pkgutil.walk_packages(rnnstudy.__path__, prefix="rnnstudy."):
        names.append(info.name)
    return sorted(names)


def test_the_package_has_doctests():
    found = 0
    for name in modules():
        finder = doctest.DocTestFinder()
        found += sum(len(t.examples) for t in finder.find(importlib.import_module(name)))
    assert found >= 20, found


@pytest.mark.parametrize("name", modules())
def test_docstring_examples(name: str):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
