"""Reference tables generated from the code when the site is built (an mkdocs hook).

A page that holds a marker on a line of its own gets the table in its place, so the
reference cannot drift from the code:

- ``<!-- generated: lineage -->``: every public constant of ``mlflow_retrain/lineage.py``
  (tag and metric keys, statuses, aliases, dataset contexts) with its ``#:`` comment;
- ``<!-- generated: config -->``: every ``retrain.yaml`` key of the frozen dataclasses in
  ``mlflow_retrain/config.py``, with its type, default, allowed range (read from the
  ``_check_range`` calls of ``__post_init__``) and its ``Attributes:`` docstring.

Where the code says less than a reader needs, ``CONSTANT_NOTES`` and ``KEY_NOTES`` add a
sentence; a note for a name the code no longer has fails the build.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

LINEAGE_MARKER = "<!-- generated: lineage -->"
CONFIG_MARKER = "<!-- generated: config -->"

#: Extra words for constants: added to the constant's own ``#:`` comment; in place of a comment
#: it only shares with the assignment above it.
CONSTANT_NOTES: dict[str, str] = {
    "TAG_PREFIX": "Every key this package writes starts with it.",
    "TAG_STEP": (
        "Values: `drift`, `retrain`, `compare`, `shadow` (one call), `shadow-test` (a "
        "challenger's accumulating shadow run), `trial` (an Optuna trial), `run` (a cycle), "
        "`replay`."
    ),
    "TAG_MODEL_NAME": "The registered model the cycle keeps fresh.",
    "TAG_BATCH_DIGEST": "On a cycle's run: the digest of its batch (a batch is processed once).",
    "TAG_CYCLE": "On a cycle's run: its key; a cycle that resumes a died one keeps that key.",
    "TAG_RETRAINED": "On a cycle's run: `true` when it registered a challenger, else `false`.",
    "TAG_OUTCOME": (
        "On a cycle's run: `no_change`, `held`, `promoted`, `rejected`, `inconclusive`, "
        "`challenger_in_shadow`, `already_processed` or `busy`."
    ),
    "TAG_TRIGGER_REASON": "On a cycle's run: why the trigger fired (or did not).",
    "STATUS_CANDIDATE": "Registered by `retrain`, waiting for its decision.",
    "STATUS_SHADOW": "Scored beside the champion on live batches (`shadow`).",
    "STATUS_PROMOTED": "Moved to `champion` by the gate.",
    "STATUS_REJECTED": "Not promoted: `compare` or `shadow` rejected it.",
    "STATUS_RETIRED": "The champion a promotion replaced.",
    "STATUS_ROLLED_BACK": "The champion a rollback replaced.",
    "ALIAS_CHAMPION": "The version in production; moved only through the promotion gate.",
    "ALIAS_CHALLENGER": "The newest registered candidate.",
    "ALIAS_PREVIOUS_CHAMPION": "The champion before the last move; the gate maintains it.",
    "METRIC_DRIFT_SHARE": "Share of feature columns that drifted.",
    "METRIC_DRIFT_N_DRIFTED": "Number of drifted feature columns.",
    "METRIC_DRIFT_N_FEATURES": "Number of feature columns tested.",
    "METRIC_DRIFT_DETECTED": "1 when the dataset drifted, else 0.",
}

#: Extra words for ``retrain.yaml`` keys, where the docstring leaves something out.
KEY_NOTES: dict[str, str] = {
    "policy": (
        "Same keys as a [policy file](commands/policy.md#the-policy-file); empty means the task's "
        "default policy."
    ),
    "drift.columns": (
        "Without an override, numeric dtypes are numeric, booleans and text categorical."
    ),
    "tuning.estimators": "`linear` is logistic regression (classification) or ridge (regression).",
    "tuning.storage": (
        "Prefer the environment variable `MLFLOW_RETRAIN_TUNING__STORAGE`, so a database "
        "password stays off command lines and files."
    ),
    "tuning.study_name": "Unset: `retrain-<run id>`.",
    "tuning.threads": (
        "`LOKY_MAX_CPU_COUNT` lowers the core count `auto` sees. A `tune-worker` on another "
        "machine uses its own `MLFLOW_RETRAIN_TUNING__THREADS` if set. On windows of tens of "
        "thousands of rows, `1` is at least as fast on idle cores and many times faster on busy "
        "ones (OpenMP threads spin waiting for a descheduled sibling): both examples set it."
    ),
    "triggers.decay_tolerance": (
        "The reference is an estimate too: the batch's interval must lie worse than the "
        "interval of the champion's own gate-split value by more than this."
    ),
    "triggers.decay_confidence": "The level of both intervals, the batch's and the reference's.",
    "model_name": "`--model` overrides it.",
}


# --------------------------------------------------------------------------------------------
# Lineage constants
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Constant:
    """One public constant of ``lineage.py``.

    Attributes:
        name: The Python name (``TAG_STEP``).
        value: Its value (``mlflow_retrain.step``).
        description: Its ``#:`` comment (shared by the adjacent assignments it heads), plus
            any note from ``CONSTANT_NOTES``.
    """

    name: str
    value: Any
    description: str


def lineage_constants() -> list[Constant]:
    """Every public constant of ``mlflow_retrain.lineage``, in source order.

    Raises:
        ValueError: If ``CONSTANT_NOTES`` names a constant that is not public.
    """
    from mlflow_retrain import lineage

    source = Path(inspect.getfile(lineage)).read_text(encoding="utf-8")
    lines = source.splitlines()
    public = {name for name in lineage.__all__ if name.isupper()}
    stale = sorted(set(CONSTANT_NOTES) - public)
    if stale:
        raise ValueError(
            f"docs/reference.py: CONSTANT_NOTES names {', '.join(stale)}, which "
            "mlflow_retrain.lineage no longer exports. Remove or rename the note."
        )
    found: list[Constant] = []
    previous_end, previous_text = -1, ""
    for node in ast.parse(source).body:
        # `NAME = ...` or an annotated `NAME: Final = ...`.
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name = node.target.id
        elif (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            name = node.targets[0].id
        else:
            continue
        own = _doc_comment(lines, node.lineno)
        # A comment heads the assignments that follow it directly ("#: Target column and
        # task." above TAG_TARGET and TAG_TASK), as far as the next comment or blank line.
        text = own or (previous_text if node.lineno == previous_end + 1 else "")
        previous_end, previous_text = node.end_lineno or node.lineno, text
        if name not in public:
            continue
        note = CONSTANT_NOTES.get(name, "")
        # A note adds to the constant's own comment, and replaces one it only shares with
        # the assignment above (STATUS_PROMOTED below STATUS_SUPERSEDED's comment).
        parts = (_rst_to_md(text), note) if own or not note else (note,)
        description = " ".join(part for part in parts if part)
        found.append(Constant(name, getattr(lineage, name), description))
    missing = sorted(public - {c.name for c in found})
    if missing:  # pragma: no cover - a constant built some other way than `NAME = ...`
        raise ValueError(f"docs/reference.py cannot find the assignment of {', '.join(missing)}.")
    return found


def _doc_comment(lines: list[str], lineno: int) -> str:
    """The ``#:`` comment lines directly above line ``lineno`` (1-based), joined."""
    parts: list[str] = []
    index = lineno - 2
    while index >= 0 and lines[index].lstrip().startswith("#:"):
        parts.insert(0, lines[index].lstrip()[2:].strip())
        index -= 1
    return " ".join(parts)


_LINEAGE_GROUPS: tuple[tuple[str, str, str], ...] = (
    ("TAG_", "Tag keys", "Run, model-version and registered-model tags."),
    ("STATUS_", "Statuses", "Values of the version tag `mlflow_retrain.status`."),
    ("ALIAS_", "Aliases", "Aliases of the registered model (their defaults)."),
    ("METRIC_", "Metric keys", "Dataset-level drift metrics of a drift run."),
    ("CONTEXT_", "Dataset contexts", "Contexts of the datasets logged with `mlflow.log_input`."),
    ("", "Other constants", "Limits and keys used internally."),
)


def render_lineage() -> str:
    """Markdown tables of every public constant of ``lineage.py``, grouped by kind."""
    constants = lineage_constants()
    out: list[str] = []
    taken: set[str] = set()
    for prefix, title, intro in _LINEAGE_GROUPS:
        group = [c for c in constants if c.name.startswith(prefix) and c.name not in taken]
        if not group:
            continue
        taken.update(c.name for c in group)
        out += [f"### {title}", "", intro, "", "| constant | value | description |"]
        out.append("| --- | --- | --- |")
        for c in group:
            out.append(f"| `{c.name}` | `{c.value}` | {_cell(c.description)} |")
        out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# retrain.yaml keys
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """One ``retrain.yaml`` key.

    Attributes:
        key: Dotted path (``drift.numeric.min_effect``).
        type: Its type in words.
        default: Its default, as YAML would spell it.
        range: The allowed range, or empty.
        description: The ``Attributes:`` entry of its dataclass, plus any ``KEY_NOTES`` note.
    """

    key: str
    type: str
    default: str
    range: str
    description: str


@dataclass(frozen=True)
class Section:
    """The keys of one config dataclass.

    Attributes:
        path: Dotted path of the section (empty for the top level).
        summary: First line of the dataclass docstring.
        keys: Its plain keys (nested sections are sections of their own).
    """

    path: str
    summary: str
    keys: tuple[Key, ...]


def config_sections() -> list[Section]:
    """Every section of ``RetrainConfig``, depth first, in field order.

    Raises:
        ValueError: If ``KEY_NOTES`` names a key that does not exist.
    """
    from mlflow_retrain.config import RetrainConfig

    ranges = config_ranges()
    sections = list(_walk(RetrainConfig, "", ranges))
    known = {k.key for s in sections for k in s.keys}
    stale = sorted(set(KEY_NOTES) - known)
    if stale:
        raise ValueError(
            f"docs/reference.py: KEY_NOTES names {', '.join(stale)}, which retrain.yaml no "
            "longer has. Remove or rename the note."
        )
    return sections


def config_keys() -> list[str]:
    """Every dotted ``retrain.yaml`` key (leaves only)."""
    return [k.key for s in config_sections() for k in s.keys]


def _walk(cls: type[Any], path: str, ranges: Mapping[str, str]) -> Iterator[Section]:
    hints = typing.get_type_hints(cls)
    attributes = _attributes(cls)
    keys: list[Key] = []
    nested: list[tuple[type[Any], str]] = []
    for f in dataclasses.fields(cls):
        dotted = f"{path}.{f.name}" if path else f.name
        hint = hints[f.name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            nested.append((hint, dotted))
            continue
        note = KEY_NOTES.get(dotted, "")
        description = " ".join(p for p in (attributes.get(f.name, ""), note) if p)
        keys.append(
            Key(dotted, _type_words(hint), _default(f), ranges.get(dotted, ""), description)
        )
    doc = inspect.getdoc(cls) or ""
    yield Section(path, _rst_to_md(doc.splitlines()[0] if doc else ""), tuple(keys))
    for child, dotted in nested:
        yield from _walk(child, dotted, ranges)


def _attributes(cls: type[Any]) -> dict[str, str]:
    """The ``Attributes:`` entries of a Google-style docstring, one line each."""
    doc = inspect.getdoc(cls) or ""
    found: dict[str, str] = {}
    inside, current = False, ""
    for line in doc.splitlines():
        if line.strip() == "Attributes:":
            inside = True
            continue
        if not inside:
            continue
        entry = re.match(r"^ {4}(\w+): ?(.*)$", line)
        if entry:
            current = entry.group(1)
            found[current] = entry.group(2).strip()
        elif line.startswith(" " * 8) and current:
            found[current] += " " + line.strip()
        elif line.strip():
            inside = False
    return {name: _rst_to_md(text) for name, text in found.items()}


_WORDS = {bool: "true or false", int: "whole number", float: "number", str: "text"}


def _type_words(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return _one_of([f"`{a}`" for a in args])
    if origin in (Union, types.UnionType):
        words = [_type_words(a) for a in args if a is not type(None)]
        if type(None) in args:
            words.append("`null`")
        return _one_of(words)
    if origin is tuple:
        return f"list of {_type_words(args[0])}"
    if origin in (Mapping, dict) or hint is Mapping:
        if len(args) == 2 and typing.get_origin(args[1]) is Literal:
            return f"mapping of text to {_type_words(args[1])}"
        return "mapping"
    return _WORDS.get(hint, getattr(hint, "__name__", str(hint)))


def _one_of(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _default(f: dataclasses.Field[Any]) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:  # pragma: no cover - every config field has a default
        return ""
    return f"`{_yaml(value)}`"


def _yaml(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    return str(value)


def config_ranges() -> dict[str, str]:
    """The allowed range of each key, read from the ``_check_range`` calls in ``config.py``.

    Handles the forms the module uses: a literal key, an f-string over a ``for`` loop of
    literal names, and ``[{i}]`` over ``enumerate(...)`` (every item of a list).
    """
    from mlflow_retrain import config

    tree = ast.parse(Path(inspect.getfile(config)).read_text(encoding="utf-8"))
    ranges: dict[str, str] = {}
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        for fn in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
            if fn.name == "__post_init__":
                _collect_ranges(fn.body, {}, ranges)
    return ranges


def _collect_ranges(
    body: list[ast.stmt], loops: dict[str, list[str] | None], ranges: dict[str, str]
) -> None:
    for stmt in body:
        for node in ast.walk(stmt) if not isinstance(stmt, ast.For) else [stmt.iter]:
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "_check_range"
            ):
                for key, each in _keys(node.args[0], loops):
                    ranges[key] = ("each " if each else "") + _bounds(node, key)
        if isinstance(stmt, ast.For):
            _collect_ranges(stmt.body, {**loops, **_loop_names(stmt)}, ranges)


def _loop_names(loop: ast.For) -> dict[str, list[str] | None]:
    """Loop variables: literal names (``for name in ("a", "b")``) or ``None`` (an index)."""
    if isinstance(loop.iter, ast.Tuple) and isinstance(loop.target, ast.Name):
        return {loop.target.id: [ast.literal_eval(e) for e in loop.iter.elts]}
    if (
        isinstance(loop.iter, ast.Call)
        and isinstance(loop.iter.func, ast.Name)
        and loop.iter.func.id == "enumerate"
        and isinstance(loop.target, ast.Tuple)
        and isinstance(loop.target.elts[0], ast.Name)
    ):
        return {loop.target.elts[0].id: None}
    return {}


def _keys(node: ast.expr, loops: Mapping[str, list[str] | None]) -> list[tuple[str, bool]]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [(node.value, False)]
    if not isinstance(node, ast.JoinedStr):
        return []
    keys: list[tuple[str, bool]] = [("", False)]
    for part in node.values:
        if isinstance(part, ast.Constant):
            keys = [(k + str(part.value), each) for k, each in keys]
        elif isinstance(part, ast.FormattedValue) and isinstance(part.value, ast.Name):
            names = loops.get(part.value.id, [])
            if names is None:
                keys = [(k + "*", True) for k, _ in keys]
            else:
                keys = [(k + n, each) for k, each in keys for n in names]
    return [(k.removesuffix("[*]"), each) for k, each in keys]


def _bounds(call: ast.Call, key: str) -> str:
    options = {kw.arg: kw.value for kw in call.keywords}
    section = key.rsplit(".", 1)[0]

    def bound(name: str) -> str | None:
        node = options.get(name)
        if node is None:
            return None
        if isinstance(node, ast.Attribute):  # another key of the section: high=self.drift_n
            return f"`{section}.{node.attr}`"
        value = ast.literal_eval(node)
        return f"{value:g}" if isinstance(value, float) else str(value)

    low, high = bound("low"), bound("high")
    flag = options.get("inclusive")
    inclusive = not (isinstance(flag, ast.Constant) and flag.value is False)
    if low is not None and high is not None:
        return f"[{low}, {high}]" if inclusive else f"({low}, {high})"
    if low is not None:
        return f"≥ {low}" if inclusive else f"> {low}"
    return f"≤ {high}" if inclusive else f"< {high}"


def render_config() -> str:
    """Markdown tables of every ``retrain.yaml`` key, one per section."""
    out: list[str] = []
    for section in config_sections():
        if not section.keys:
            continue
        title = f"`{section.path}`" if section.path else "Top level"
        env = "MLFLOW_RETRAIN_" + "".join(f"{p.upper()}__" for p in section.path.split(".") if p)
        out += [f"### {title}", "", section.summary, ""]
        out += [f"Environment variables: `{env}<KEY>`.", ""]
        out += ["| key | type, range | default | meaning |", "| --- | --- | --- | --- |"]
        for k in section.keys:
            kind = f"{k.type}, {k.range}" if k.range else k.type
            cells = (f"`{k.key}`", kind, k.default, k.description)
            out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# Formatting and the hook
# --------------------------------------------------------------------------------------------


def _rst_to_md(text: str) -> str:
    """Docstring markup to markdown: ``x`` and :class:`x` become `x`."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


RENDERERS: dict[str, Callable[[], str]] = {
    LINEAGE_MARKER: render_lineage,
    CONFIG_MARKER: render_config,
}


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """mkdocs hook: replace each marker that stands on a line of its own with its table.

    A marker quoted inside a sentence (`` `<!-- generated: config -->` ``) stays as it is.
    """
    for marker, render in RENDERERS.items():
        line = re.compile(rf"^{re.escape(marker)}[ \t]*$", flags=re.MULTILINE)
        found = line.search(markdown)
        if found is not None:
            table = render()
            while found is not None:
                markdown = markdown[: found.start()] + table + markdown[found.end() :]
                found = line.search(markdown, found.start() + len(table))
    return markdown
