"""Nothing outside the data layer branches on a dataset's name: it asks the dataset's spec.

Adding a dataset is one module and one registry line (issue 11), which holds only while no other
layer compares `data.dataset` with a literal name. This reads every module of `src/ganlab`
outside `ganlab/data/` and lists each comparison (==, !=, in, not in, is) or `match` case that
has a registered dataset's name as a literal operand.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import ganlab
from ganlab.data.registry import DATASETS

PACKAGE = Path(ganlab.__file__).parent
DATA_LAYER = PACKAGE / "data"
NAMES = frozenset(DATASETS)


def _names_in(node: ast.AST) -> Iterator[str]:
    """The dataset names that `node` spells literally: a string, or an element or key of a literal."""
    if isinstance(node, ast.Constant) and node.value in NAMES:
        yield node.value
    elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        for element in node.elts:
            yield from _names_in(element)
    elif isinstance(node, ast.Dict):
        for key in node.keys:
            if key is not None:
                yield from _names_in(key)


def _patterns(pattern: ast.pattern) -> Iterator[ast.AST]:
    if isinstance(pattern, ast.MatchValue):
        yield pattern.value
    elif isinstance(pattern, ast.MatchOr):
        for alternative in pattern.patterns:
            yield from _patterns(alternative)


def name_comparisons(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, name) of each comparison or match case against a literal dataset name."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for operand in (node.left, *node.comparators):
                yield from ((node.lineno, name) for name in _names_in(operand))
        elif isinstance(node, ast.match_case):
            for value in _patterns(node.pattern):
                yield from ((node.pattern.lineno, name) for name in _names_in(value))


def test_the_check_finds_each_form_of_branch() -> None:
    source = (
        'if dataset == "mnist": pass\n'
        'if "ring" != name: pass\n'
        'if name in ("mnist", "ring"): pass\n'
        "match name:\n"
        '    case "ring" | "other": pass\n'
        'label = {"mnist": 1}["mnist"]\n'  # a lookup, not a comparison
        'if name == "mnistx": pass\n'
    )
    found = list(name_comparisons(ast.parse(source)))
    assert found == [(1, "mnist"), (2, "ring"), (3, "mnist"), (3, "ring"), (5, "ring")]


def test_no_module_outside_the_data_layer_compares_with_a_dataset_name() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {name!r}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if DATA_LAYER not in path.parents
        for line, name in sorted(name_comparisons(ast.parse(path.read_text(), filename=str(path))))
    ]
    assert not offenders, "ask the DatasetSpec instead of comparing names:\n" + "\n".join(offenders)
