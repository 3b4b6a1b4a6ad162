"""Typed experiment configs: declared ranges, validation, CLI overrides and run hashes.

A paper's ``Config`` is a frozen dataclass deriving from :class:`ExperimentConfig`; each
field is declared with :func:`param`, which records its allowed range or choices and a
help text naming its source. Construction validates every field, so an invalid config
never reaches any work.

Example:
    >>> @dataclass(frozen=True)
    ... class Config(ExperimentConfig):
    ...     lr: float = param(0.1, low=0.0, low_inclusive=False, help="step size (paper, Sec. 4)")
    >>> Config(lr=-1.0)
    Traceback (most recent call last):
    ValueError: Config.lr=-1.0 is out of range: must be > 0.0
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from icml22dl.validation import in_range, range_text

if TYPE_CHECKING:
    from typing_extensions import Self

HASH_LENGTH = 12


def param(
    default: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    choices: Sequence[Any] | None = None,
    help: str = "",
) -> Any:
    """Declare a config field with its default, its allowed range or choices and its source.

    Args:
        default: the default value (immutable: use tuples, not lists).
        low, high: bounds for numbers (each element of a tuple is checked).
        low_inclusive, high_inclusive: whether the bounds are allowed values.
        choices: the allowed values, for categorical fields.
        help: one line: what the field is and where its value comes from.

    References:
        :func:`dataclasses.field` (PEP 557) with the range in its ``metadata``; the messages
        follow :mod:`icml22dl.validation`.

    Example:
        >>> @dataclass(frozen=True)
        ... class Config(ExperimentConfig):
        ...     steps: int = param(100, low=1, help="GD steps (paper, Fig. 2)")
        ...     form: str = param("ema", choices=("ema", "heavy_ball"), help="momentum form")
        >>> Config(steps=10).steps
        10
        >>> Config(form="nesterov")
        Traceback (most recent call last):
        ValueError: Config.form='nesterov' is not allowed: choose one of ['ema', 'heavy_ball']
    """
    meta = {
        "low": low,
        "high": high,
        "low_inclusive": low_inclusive,
        "high_inclusive": high_inclusive,
        "choices": tuple(choices) if choices is not None else None,
        "help": help,
    }
    return field(default=default, metadata=meta)


def _range_text(meta: Mapping[str, Any]) -> str:
    return range_text(
        meta.get("low"), meta.get("high"), low_inclusive=meta["low_inclusive"], high_inclusive=meta["high_inclusive"]
    )


def _in_range(value: float, meta: Mapping[str, Any]) -> bool:
    return in_range(
        value,
        meta.get("low"),
        meta.get("high"),
        low_inclusive=meta["low_inclusive"],
        high_inclusive=meta["high_inclusive"],
    )


@dataclass(frozen=True)
class ConfigBlock:
    """A frozen, validated group of config fields: a paper's ``Config`` or a block nested in one.

    Blocks shared by several papers (a network, an optimiser, the unconstrained-features
    model, the CVAE) are declared once and nested as fields: ``net: MNISTNet = param(MNISTNet())``.
    A nested block validates itself on construction, is set from the command line with a
    dotted name (``--set net.epochs=100``), listed by :meth:`describe` with dotted names,
    and hashed with its parent.

    References:
        Frozen dataclasses (PEP 557); the dotted ``--set block.field=value`` syntax of
        ``icml22dl run`` and ``icml22dl sweep --grid``.

    Example:
        >>> @dataclass(frozen=True)
        ... class Net(ConfigBlock):
        ...     width: int = param(16, low=1, help="hidden units")
        ...     epochs: int = param(10, low=1, help="training epochs")
        >>> @dataclass(frozen=True)
        ... class Config(ExperimentConfig):
        ...     lr: float = param(0.1, low=0.0, low_inclusive=False, help="step size")
        ...     net: Net = param(Net(width=32), help="the network")
        >>> config = Config().with_overrides(["net.epochs=100", "lr=0.05"])
        >>> config.net
        Net(width=32, epochs=100)
        >>> [row[0] for row in Config.describe()]
        ['lr', 'net.width', 'net.epochs']
        >>> config.config_hash() != Config().config_hash()
        True
        >>> Config().with_overrides(["net.epochs=0"])
        Traceback (most recent call last):
        ValueError: Config.net.epochs=0 is out of range: must be >= 1
    """

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field's type, range and choices, then :meth:`check` for cross-field rules.

        Raises:
            ValueError: naming the field, the bad value and the allowed range.
        """
        name = type(self).__name__
        hints = _type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            meta = f.metadata
            _check_type(name, f.name, value, hints[f.name])
            if isinstance(value, ConfigBlock):
                continue  # validated on its own construction
            choices = meta.get("choices")
            if choices is not None and value not in choices:
                raise ValueError(f"{name}.{f.name}={value!r} is not allowed: choose one of {list(choices)}")
            if meta.get("low") is not None or meta.get("high") is not None:
                items = value if isinstance(value, tuple) else (value,)
                for item in items:
                    if not _in_range(item, meta):
                        raise ValueError(f"{name}.{f.name}={value!r} is out of range: must be {_range_text(meta)}")
        self.check()

    def check(self) -> None:
        """Cross-field rules; override and raise ``ValueError`` naming the fields."""

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-ready dict (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def replace(self, **changes: Any) -> Self:
        """A validated copy with ``changes`` applied; unknown field names raise ``ValueError``."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"{type(self).__name__} has no field {unknown[0]!r}; fields: {sorted(known)}")
        return dataclasses.replace(self, **changes)

    def with_overrides(self, assignments: Sequence[str]) -> Self:
        """Apply CLI assignments ``["field=value", "block.field=value", ...]``, parsed by each field's type.

        Raises:
            ValueError: naming the field by its dotted path (``Config.net.epochs=-1 ...``).
        """
        owner = type(self).__name__
        hints = _type_hints(type(self))
        fields = {f.name for f in dataclasses.fields(self)}
        changes: dict[str, Any] = {}
        nested: dict[str, list[str]] = {}
        for assignment in assignments:
            key, sep, text = assignment.partition("=")
            key = key.strip().replace("-", "_")
            if not sep:
                raise ValueError(f"--set {assignment!r}: expected field=value")
            head, dot, rest = key.partition(".")
            if head not in fields:
                raise ValueError(f"{owner} has no field {head!r}; fields: {sorted(fields)}")
            block = getattr(self, head)
            if dot:
                if not isinstance(block, ConfigBlock):
                    raise ValueError(f"{owner}.{head} is not a block of fields: set it as {head}=value")
                nested.setdefault(head, []).append(f"{rest}={text}")
            elif isinstance(block, ConfigBlock):
                names = sorted(f"{head}.{f.name}" for f in dataclasses.fields(block))
                raise ValueError(f"{owner}.{head} is a block of fields: set one of {names}")
            else:
                changes[key] = parse_value(f"{owner}.{key}", text.strip(), hints[key])
        for head, items in nested.items():
            block = getattr(self, head)
            try:
                changes[head] = block.with_overrides(items)
            except ValueError as error:
                raise ValueError(_rename_owner(str(error), type(block).__name__, f"{owner}.{head}")) from None
        try:
            return self.replace(**changes)
        except ValueError as error:
            raise ValueError(str(error)) from None

    def flat_dict(self) -> dict[str, Any]:
        """Every leaf field by its dotted name (``{"lr": 0.1, "net.epochs": 10}``), nested blocks expanded."""
        flat: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, ConfigBlock):
                flat.update({f"{f.name}.{key}": item for key, item in value.flat_dict().items()})
            else:
                flat[f.name] = value
        return flat

    def field_type(self, name: str) -> Any:
        """The declared type of the field ``name`` (dotted for a nested block's field).

        Raises:
            ValueError: naming the owner and the unknown field, with the known ones.
        """
        owner = type(self).__name__
        head, dot, rest = name.partition(".")
        fields = {f.name for f in dataclasses.fields(self)}
        if head not in fields:
            raise ValueError(f"{owner} has no field {head!r}; fields: {sorted(fields)}")
        value = getattr(self, head)
        if not dot:
            return _type_hints(type(self))[head]
        if not isinstance(value, ConfigBlock):
            raise ValueError(f"{owner}.{head} is not a block of fields: set it as {head}=value")
        try:
            return value.field_type(rest)
        except ValueError as error:
            raise ValueError(_rename_owner(str(error), type(value).__name__, f"{owner}.{head}")) from None

    def config_hash(self) -> str:
        """The run-directory name: a hash of every field's value (see :func:`config_hash`)."""
        return config_hash(self)

    @classmethod
    def describe(cls, defaults: ConfigBlock | None = None) -> list[tuple[str, str, Any, str, str]]:
        """Rows ``(field, type, default, allowed, help)`` for ``icml22dl show``; nested blocks by dotted name.

        Args:
            defaults: the instance whose values are shown as defaults (a block's default in
                its parent); the class defaults when ``None``.
        """
        hints = _type_hints(cls)
        rows = []
        for f in dataclasses.fields(cls):
            meta = f.metadata
            default = getattr(defaults, f.name) if defaults is not None else f.default
            if isinstance(default, ConfigBlock):
                for sub in type(default).describe(default):
                    rows.append((f"{f.name}.{sub[0]}", *sub[1:]))
                continue
            allowed = "one of " + ", ".join(map(str, meta["choices"])) if meta.get("choices") else _range_text(meta)
            rows.append((f.name, _type_name(hints[f.name]), default, allowed, meta.get("help", "")))
        return rows


@dataclass(frozen=True)
class ExperimentConfig(ConfigBlock):
    """Base class of every paper's frozen top-level ``Config`` (a :class:`ConfigBlock`).

    A paper's ``Config`` holds every hyper-parameter of its experiment, each declared with
    :func:`param`; its presets (``quick``, ``paper``) are instances.

    References:
        The paper-module contract of ``docs/architecture.md`` (configs).

    Example:
        >>> @dataclass(frozen=True)
        ... class Config(ExperimentConfig):
        ...     lr: float = param(0.1, low=0.0, low_inclusive=False, help="step size (paper, Sec. 4)")
        >>> quick = Config(lr=0.5)
        >>> quick.to_dict(), quick.replace(lr=0.2).lr
        ({'lr': 0.5}, 0.2)
    """


def config_hash(config: ConfigBlock) -> str:
    """SHA-256 (first 12 hex digits) of the config's class name and every field's value.

    The hash names the run directory ``<root>/<slug>/<hash>/seed_<k>/``. Hashing only the
    fields that differ from the class defaults would let a changed default silently reuse
    results computed under the old default; hashing every field (nested blocks included)
    means a changed default (or a new field) always lands in a new directory, so a stored
    result always matches its config.

    References:
        SHA-256 (FIPS 180-4) of the canonical JSON (sorted keys, no spaces) of the config.

    Example:
        >>> @dataclass(frozen=True)
        ... class Config(ExperimentConfig):
        ...     lr: float = param(0.1)
        >>> len(config_hash(Config()))
        12
        >>> config_hash(Config(lr=0.2)) != config_hash(Config())
        True
    """
    payload = json.dumps(
        {"config": type(config).__qualname__, "fields": config.to_dict()},
        sort_keys=True,
        separators=(",", ":"),
        allow_nan=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:HASH_LENGTH]


def _rename_owner(text: str, prefix: str, path: str) -> str:
    """Rewrite a nested block's message ``Block.field=...`` as ``Config.block.field=...``."""
    if text.startswith(prefix + ".") or text.startswith(prefix + " "):
        return path + text[len(prefix) :]
    return text


def _type_hints(cls: type) -> dict[str, Any]:
    """The resolved field types of a config class.

    A class declared where its module's globals do not hold its blocks' names (inside a
    function, a doctest, a notebook cell importing blocks under other names) cannot resolve
    a string annotation such as ``"Net"``; the classes of its block defaults are then used.
    """
    try:
        return typing.get_type_hints(cls)
    except NameError:
        blocks = {}
        for klass in reversed(cls.__mro__):
            for f in dataclasses.fields(klass) if dataclasses.is_dataclass(klass) else ():
                if isinstance(f.default, ConfigBlock):
                    blocks[type(f.default).__name__] = type(f.default)
        module = sys.modules.get(cls.__module__)
        namespace = {**(vars(module) if module is not None else {}), **blocks}
        return typing.get_type_hints(cls, globalns=namespace)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _check_type(owner: str, name: str, value: Any, tp: Any) -> None:
    origin = typing.get_origin(tp)
    ok: bool
    if isinstance(tp, type) and issubclass(tp, ConfigBlock):
        ok = isinstance(value, tp)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp in (str, bool):
        ok = isinstance(value, tp)
    elif origin is tuple:
        ok = isinstance(value, tuple)
        if ok:
            (item_tp, *_rest) = typing.get_args(tp)
            for item in value:
                _check_type(owner, name, item, item_tp)
    elif origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        args = typing.get_args(tp)
        ok = any(_matches(value, arg) for arg in args)
    else:
        ok = True
    if not ok:
        raise ValueError(f"{owner}.{name}={value!r} has the wrong type: expected {_type_name(tp)}")


def _matches(value: Any, tp: Any) -> bool:
    try:
        _check_type("", "", value, tp)
    except ValueError:
        return False
    return True


def parse_value(name: str, text: str, tp: Any) -> Any:
    """Parse the text of ``--set name=text`` into the field's declared type."""
    origin = typing.get_origin(tp)
    try:
        if tp is bool:
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if tp is int:
            return int(text)
        if tp is float:
            return float(text)
        if tp is str:
            return text
        if origin is tuple:
            (item_tp, *_rest) = typing.get_args(tp)
            return tuple(parse_value(name, item, item_tp) for item in text.split(",") if item.strip())
        args = typing.get_args(tp)
        if args:
            if text.lower() == "none" and type(None) in args:
                return None
            for arg in args:
                if arg is type(None):
                    continue
                try:
                    return parse_value(name, text, arg)
                except ValueError:
                    continue
    except ValueError:
        pass
    raise ValueError(f"{name}={text!r} cannot be parsed as {_type_name(tp)}")
