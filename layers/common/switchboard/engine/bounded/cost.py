"""Static cost of a node's computations: is its work linear in the data it reads, and how big is it?

Each function looks at a template, a JMESPath expression or a JSON Schema alone (cached by its text) and
answers its *size* (its syntax nodes, plus the values of its literals), or ``None`` when the work can grow
faster than the data: loops inside loops, ``range()``, calls, ``*``/``**``/``%``, ``{% set %}`` and macros
in a template; a multi-select whose result is fed to more evaluation in JMESPath (chained, each one can
double the data); ``$ref``, ``uniqueItems`` and ``unevaluated*`` in a schema. The work of a linear
computation is then at most ``size * weight(data)`` units (``tasks``), which decides where it runs.

The templating and JMESPath libraries are imported on first use: the management function validates
definitions without them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from switchboard.engine.bounded.sizes import weight

_UNLIMITED = 1 << 62

LINEAR_FILTERS = frozenset(
    {
        "abs", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first", "float",
        "forceescape", "int", "items", "join", "last", "length", "list", "lower", "max", "min", "reverse",
        "round", "safe", "sort", "string", "title", "tojson", "trim", "truncate", "unique", "upper",
        "urlencode", "wordcount",
    }
)  # fmt: skip
"""Filters whose work is linear in their input and whose output is no bigger than it plus their arguments
(not ``center``, ``indent``, ``format``, ``replace``, ``wordwrap``: their output grows with a number; not
``map``, ``select`` …: they apply other filters by name; not ``sum``: it can add lists quadratically)."""
LINEAR_TESTS = frozenset(
    {
        "!=", "<", "<=", "==", ">", ">=", "boolean", "defined", "divisibleby", "eq", "equalto", "escaped",
        "even", "false", "float", "ge", "greaterthan", "gt", "in", "integer", "iterable", "le", "lessthan",
        "lower", "lt", "mapping", "ne", "none", "number", "odd", "sameas", "sequence", "string", "true",
        "undefined", "upper",
    }
)  # fmt: skip
LINEAR_METHODS = frozenset(
    {
        "capitalize", "endswith", "get", "items", "keys", "lower", "lstrip", "rsplit", "rstrip", "split",
        "splitlines", "startswith", "strip", "title", "upper", "values",
    }
)  # fmt: skip
"""Methods a template may call and stay linear: the string and mapping methods that do not build text
from a number."""
_SCHEMA_UNBOUNDED = frozenset(
    {"$ref", "$dynamicRef", "$recursiveRef", "unevaluatedProperties", "unevaluatedItems"}
)
"""A reference can apply a subschema many times over (exponentially with ``anyOf``); ``unevaluated*``
evaluates subschemas again."""
_REGEX_BYTES_PER_UNIT = 32
"""RE2 runs about 32 program steps per byte in the time of one unit (about 30 ns of Python work)."""


@dataclass(frozen=True)
class Size:
    """A linear computation's size; ``per_item``: a template loop, whose body may touch all of the data for
    each item (its work is ``nodes * weight**2``)."""

    nodes: int
    per_item: bool = False

    def units(self, data: Any, budget: int) -> int:
        """The most work it may do over ``data``; measuring stops once the result passes ``budget``."""
        if self.per_item:
            limit = int((budget // self.nodes) ** 0.5) + 1
            measured = weight(data, limit)
            return self.nodes * measured * measured
        return self.nodes * weight(data, budget // self.nodes + 1)


@lru_cache(maxsize=512)
def template(source: str) -> Size | None:
    from jinja2 import TemplateSyntaxError

    from switchboard.engine.templating import parse

    if "{" not in source:
        return Size(1)
    try:
        tree = parse(source)
    except TemplateSyntaxError:
        return Size(1)  # rendering fails at once (template_error)
    return _template_size(tree)


def _template_size(tree: Any) -> Size | None:
    from jinja2 import nodes

    linear = (
        nodes.Template, nodes.Output, nodes.TemplateData, nodes.Const, nodes.Name, nodes.Getattr,
        nodes.Getitem, nodes.Slice, nodes.If, nodes.CondExpr, nodes.Compare, nodes.Operand, nodes.And,
        nodes.Or, nodes.Not, nodes.Neg, nodes.Pos, nodes.Concat, nodes.Add, nodes.Sub, nodes.Div,
        nodes.FloorDiv, nodes.List, nodes.Tuple, nodes.Dict, nodes.Pair, nodes.Keyword,
    )  # fmt: skip
    count, loops = 0, False
    pending: list[tuple[Any, bool]] = [(tree, False)]
    while pending:
        node, in_loop = pending.pop()
        count += 1
        if isinstance(node, nodes.For):
            if in_loop or node.recursive or not _data_path(node.iter):
                return None
            pending.append((node.iter, False))
            body = [node.target, *node.body, *node.else_, *([node.test] if node.test else [])]
            passes = [*node.body, *([node.test] if node.test else [])]  # ``else_`` runs at most once
            loops = loops or not _item_only(node.target, passes)
            pending.extend((child, True) for child in body)
            continue
        if isinstance(node, nodes.Filter | nodes.Test):
            allowed = LINEAR_FILTERS if isinstance(node, nodes.Filter) else LINEAR_TESTS
            if node.name not in allowed or node.dyn_args is not None or node.dyn_kwargs is not None:
                return None
        elif isinstance(node, nodes.Call):
            if not _linear_call(node):
                return None
        elif not isinstance(node, linear):
            return None
        pending.extend((child, in_loop) for child in node.iter_child_nodes())
    return Size(count, per_item=loops)


def _item_only(target: Any, body: list[Any]) -> bool:
    """Whether a loop's body reads nothing but its item (and ``loop``): then each pass costs that item's
    size, and the whole loop is linear in the data rather than ``items * data``."""
    from jinja2 import nodes

    def names(part: Any) -> set[str]:
        found = {name.name for name in part.find_all(nodes.Name)}
        return found | {part.name} if isinstance(part, nodes.Name) else found

    own = names(target) | {"loop"}
    return all(names(part) <= own for part in body)


def _linear_call(node: Any) -> bool:
    from jinja2 import nodes

    return (
        isinstance(node.node, nodes.Getattr)
        and node.node.attr in LINEAR_METHODS
        and node.dyn_args is None
        and node.dyn_kwargs is None
    )


def _data_path(node: Any) -> bool:
    """A loop goes over a part of the data (``items``, ``a.b[0]``, ``d | dictsort``, ``d.items()``), never
    over a value the template computes, so it has at most as many items as the data has values."""
    from jinja2 import nodes

    while True:
        if isinstance(node, nodes.Name):
            return True
        if isinstance(node, nodes.Getattr | nodes.Getitem) or (
            isinstance(node, nodes.Filter) and node.name in LINEAR_FILTERS and node.node is not None
        ):
            node = node.node
        elif isinstance(node, nodes.Call) and _linear_call(node) and not node.args:
            method: Any = node.node
            node = method.node
        else:
            return False


@lru_cache(maxsize=512)
def jmespath(expression: str) -> Size | None:
    import jmespath as library
    from jmespath.exceptions import JMESPathError

    try:
        tree = library.compile(expression).parsed
    except JMESPathError:
        return Size(1)  # evaluation fails at once (expression_error)
    count = 0
    for node, consumed in _jmespath_nodes(cast("dict[str, Any]", tree)):
        if node["type"] in {"multi_select_list", "multi_select_dict"} and consumed:
            return None
        count += 1
        if node["type"] == "literal":
            count += weight(node.get("value"), _UNLIMITED)
    return Size(count)


_PROJECTIONS = frozenset({"projection", "value_projection", "filter_projection"})
_PASS_THROUGH = frozenset(
    {"multi_select_list", "multi_select_dict", "key_val_pair", "or_expression", "and_expression"}
)
"""Nodes whose value is (a container of) their children's values, unchanged."""


def _jmespath_nodes(tree: dict[str, Any]) -> Iterator[tuple[dict[str, Any], bool]]:
    """Every node of the syntax tree, and whether its value is fed to further evaluation (``consumed``)
    rather than being (part of) the result."""
    pending: list[tuple[dict[str, Any], bool]] = [(tree, False)]
    while pending:
        node, consumed = pending.pop()
        yield node, consumed
        kind, children = node["type"], node.get("children", [])
        for index, child in enumerate(children):
            if not isinstance(child, dict):
                continue
            if kind == "subexpression":
                feeds = consumed or index < len(children) - 1
            elif kind == "pipe" or kind in _PROJECTIONS:
                feeds = consumed or index != 1
            elif kind in _PASS_THROUGH:
                feeds = consumed
            else:
                feeds = True
            pending.append((child, feeds))


def schema(document: Any) -> Size | None:
    """The size of a JSON Schema (every keyword and value in it, its patterns by their RE2 programs), or
    None when it has a keyword whose work is not linear."""
    from switchboard.engine import regexes

    count = 0
    pending = [document]
    while pending:
        item = pending.pop()
        count += 1
        if isinstance(item, str):
            count += len(item)
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            if _SCHEMA_UNBOUNDED.intersection(item) or item.get("uniqueItems") is True:
                return None
            for pattern in _patterns(item):
                try:
                    count += regexes.program_size(pattern) // _REGEX_BYTES_PER_UNIT
                except regexes.RegexError:  # the check refuses it when it runs
                    count += 1
            count += sum(len(str(key)) for key in item)
            pending.extend(item.values())
    return Size(count)


def _patterns(schema_object: dict[str, Any]) -> list[str]:
    found = [schema_object["pattern"]] if isinstance(schema_object.get("pattern"), str) else []
    properties = schema_object.get("patternProperties")
    if isinstance(properties, dict):
        found.extend(str(key) for key in properties)
    return found


def regex(pattern: str, text: str) -> int:
    """RE2's work matching ``text``, in units: its program's size per byte, and the copy of the text."""
    from switchboard.engine import regexes

    try:
        program = regexes.program_size(pattern)
    except regexes.RegexError:  # the match refuses it at once
        return 0
    return len(text) * program // _REGEX_BYTES_PER_UNIT + len(text) // _REGEX_BYTES_PER_UNIT
