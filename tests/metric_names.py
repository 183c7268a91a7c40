"""The names of the metrics code emits, read from the source (ast), for tests that must not drift
from the code: the metric catalogue (docs/metrics.md) and the dashboards' and alarms' metrics.

A metric is emitted by `add_metric(name=...)` or `single_metric(name=...)` (Powertools). Its name
is a string literal, one of two literals (`a if x else b`), or made at run time:

* a parameter of a small helper (`def _count(name): metrics.add_metric(name=name, ...)`,
  `job_or_none(..., metric=...)`): the names are the helper's arguments wherever it is called;
* an f-string (`f"TeamSyncRun{_pascal(report.status)}"`): a pattern, its literal parts kept and
  module-level string constants put in (`f"{METRIC_PREFIX}Run..."` with METRIC_PREFIX =
  "Reconciliation"), every other part a PascalCase word.

`emitted_metric_names()` gives the literal names, `emitted_metric_patterns()` the patterns, and
`is_emitted(name)` says whether code emits a name (literally or by a pattern).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: Where metrics are emitted: the shared layer and the functions.
SOURCE_DIRS = (REPO / "layers" / "calbridge" / "calbridge", REPO / "functions")
_EMITTERS = frozenset({"add_metric", "single_metric"})
#: What a computed part of an f-string stands for: one or more PascalCase words.
_WORDS = "(?:[A-Z][a-z0-9]*)+"


@dataclass(frozen=True)
class EmittedName:
    """One name an emitter or a helper's caller gives: `literal`, or a `pattern` (f-string)."""

    file: Path
    line: int
    literal: str | None = None
    pattern: str | None = None


def source_files() -> list[Path]:
    return sorted(p for d in SOURCE_DIRS for p in d.rglob("*.py") if "__pycache__" not in p.parts)


def emitted_metric_names() -> set[str]:
    """Every metric name code emits as a literal (helpers' arguments included)."""
    return {n.literal for n in _emitted() if n.literal is not None}


def emitted_metric_patterns() -> set[str]:
    """Regular expressions (full match) of the names code builds at run time (f-strings)."""
    return {n.pattern for n in _emitted() if n.pattern is not None}


def is_emitted(name: str) -> bool:
    """True when code emits `name`: a literal name, or one an f-string builds."""
    return name in emitted_metric_names() or any(re.fullmatch(p, name) for p in emitted_metric_patterns())


def unresolved_emitters() -> list[str]:
    """Emitters whose name this scanner cannot read (`file:line`): a test keeps this empty, so a new
    way of naming a metric is taught here rather than silently missed."""
    return list(_scan()[1])


@cache
def _emitted() -> tuple[EmittedName, ...]:
    return _scan()[0]


@cache
def _scan() -> tuple[tuple[EmittedName, ...], tuple[str, ...]]:
    trees = {path: ast.parse(path.read_text(encoding="utf-8"), filename=str(path)) for path in source_files()}
    # A helper whose emitter (add_metric, single_metric or another helper) names its metric by one
    # of the helper's parameters: helper name -> (parameter, its position among a call's arguments).
    helpers: dict[str, tuple[str, int]] = {}
    while True:  # helpers of helpers (observability.timed -> add_metric_by -> single_metric)
        found: list[EmittedName] = []
        unresolved: list[str] = []
        new_helpers: dict[str, tuple[str, int]] = {}
        for path, tree in trees.items():
            constants = _module_constants(tree)
            for function, call in _calls(tree):
                called = _called_name(call)
                if called in _EMITTERS:
                    name = _keyword(call, "name") or (call.args[0] if call.args else None)
                elif called in helpers:
                    parameter, index = helpers[called]
                    name = _keyword(call, parameter)
                    if name is None and 0 <= index < len(call.args):
                        name = call.args[index]
                else:
                    continue
                parameter = _parameter_named(function, name)
                if parameter is not None:
                    new_helpers[function.name] = parameter  # type: ignore[union-attr]
                    continue
                names = _names_of(name, path, constants)
                if names is None:
                    unresolved.append(f"{path.relative_to(REPO)}:{call.lineno}")
                found.extend(names or [])
        if new_helpers.keys() <= helpers.keys():
            return tuple(found), tuple(unresolved)
        helpers |= new_helpers


def _calls(tree: ast.AST) -> Iterator[tuple[ast.FunctionDef | ast.AsyncFunctionDef | None, ast.Call]]:
    """Each call with the function it is in (None at module level)."""

    def walk(node: ast.AST, function: ast.FunctionDef | ast.AsyncFunctionDef | None) -> Iterator:
        for child in ast.iter_child_nodes(node):
            inner = child if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else function
            if isinstance(child, ast.Call):
                yield function, child
            yield from walk(child, inner)

    yield from walk(tree, None)


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _parameter_named(
    function: ast.FunctionDef | ast.AsyncFunctionDef | None, name: ast.expr | None
) -> tuple[str, int] | None:
    """(parameter, position) when the metric's name is one of the enclosing function's parameters;
    the position among a call's arguments (a method's `self`/`cls` is not passed), -1 for a
    keyword-only parameter."""
    if function is None or not isinstance(name, ast.Name):
        return None
    arguments = function.args
    positional = [a.arg for a in arguments.posonlyargs + arguments.args]
    if positional and positional[0] in {"self", "cls"}:
        positional = positional[1:]
    if name.id in positional:
        return name.id, positional.index(name.id)
    if name.id in {a.arg for a in arguments.kwonlyargs}:
        return name.id, -1
    return None


def _module_constants(tree: ast.Module) -> dict[str, str]:
    """Module-level `NAME = "text"` assignments."""
    constants: dict[str, str] = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and (isinstance(node.value.value, str))
        ):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    constants[target.id] = node.value.value
    return constants


def _names_of(node: ast.expr | None, path: Path, constants: dict[str, str]) -> list[EmittedName] | None:
    """The name(s) an expression gives, or None when it cannot be read."""
    line = getattr(node, "lineno", 0)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [EmittedName(path, line, literal=node.value)]
    if isinstance(node, ast.IfExp):
        body, orelse = _names_of(node.body, path, constants), _names_of(node.orelse, path, constants)
        return None if body is None or orelse is None else body + orelse
    if isinstance(node, ast.JoinedStr):
        parts: list[str] = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(re.escape(str(value.value)))
            elif _constant_name(value, constants):
                parts.append(re.escape(constants[value.value.id]))  # type: ignore[attr-defined]
            else:
                parts.append(_WORDS)
        if all(isinstance(v, ast.Constant) or _constant_name(v, constants) for v in node.values):
            return [EmittedName(path, line, literal=_unescaped(parts))]
        return [EmittedName(path, line, pattern="".join(parts))]
    return None


def _constant_name(value: ast.expr, constants: dict[str, str]) -> bool:
    """An f-string part that is a module-level string constant (`{METRIC_PREFIX}`)."""
    return (
        isinstance(value, ast.FormattedValue)
        and isinstance(value.value, ast.Name)
        and value.value.id in constants
    )


def _unescaped(parts: list[str]) -> str:
    """The text of an f-string whose parts are all known (re.escape undone)."""
    return re.sub(r"\\(.)", r"\1", "".join(parts))
