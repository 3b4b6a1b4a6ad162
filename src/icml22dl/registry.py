"""One registry class for every family (optimizers, models, data sets, papers...).

A :class:`Registry` maps names to objects, read-only from outside except through
:meth:`Registry.register`, which refuses a name already taken by another object and can
check what it is given. The CLI, the README table and the conformance tests read them.
"""

from __future__ import annotations

from collections.abc import Callable, ItemsView, Iterator, ValuesView
from typing import Generic, TypeVar, overload

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Named objects of one kind (iterable over names; ``registry[name]`` and ``get``).

    Args:
        kind: what the objects are, for error messages ("optimizer", "model"...).
        check: called on every object registered; raises ``ValueError`` if it is not of
            the right kind.

    References:
        The registry pattern (a name -> factory map, as in timm's ``create_model``);
        the package registries: ``icml22dl.optim.OPTIMIZERS``, ``icml22dl.nn.MODELS``,
        ``icml22dl.attacks.ATTACKS``, ``icml22dl.data.DATASETS``, ``icml22dl.papers.PAPERS``.

    Example:
        >>> MODELS = Registry("model")
        >>> @MODELS.register("tiny")
        ... def tiny() -> int:
        ...     return 1
        >>> MODELS.get("tiny")()
        1
    """

    def __init__(self, kind: str, check: Callable[[T], None] | None = None) -> None:
        self.kind = kind
        self._check = check
        self._items: dict[str, T] = {}

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, obj: T) -> T: ...

    def register(self, name: str, obj: T | None = None) -> T | Callable[[T], T]:
        """Register ``obj`` under ``name``; a decorator when ``obj`` is omitted.

        Registering the same object twice under one name is a no-op; another object under a
        taken name raises ``ValueError`` naming both.

        References:
            The registry pattern (see :class:`Registry`).

        Example:
            >>> optimizers = Registry("optimizer")
            >>> import torch
            >>> optimizers.register("sgd", torch.optim.SGD) is torch.optim.SGD
            True
            >>> optimizers.register("sgd", torch.optim.Adam)
            Traceback (most recent call last):
            ValueError: optimizer name 'sgd' is already registered to <class 'torch.optim.sgd.SGD'>
        """

        def add(item: T) -> T:
            if self._check is not None:
                self._check(item)
            taken = self._items.get(name, item)
            if taken is not item:
                raise ValueError(f"{self.kind} name {name!r} is already registered to {taken!r}")
            self._items[name] = item
            return item

        return add if obj is None else add(obj)

    def get(self, name: str) -> T:
        """The object registered as ``name``; unknown names raise ``ValueError`` listing the known ones.

        References:
            The registry pattern (see :class:`Registry`).

        Example:
            >>> from icml22dl.optim import get_optimizer
            >>> get_optimizer("adai").__name__
            'Adai'
            >>> datasets = Registry("data set")
            >>> _ = datasets.register("mnist", object())
            >>> datasets.get("imagenet")
            Traceback (most recent call last):
            ValueError: unknown data set 'imagenet'; registered: mnist
        """
        if name not in self._items:
            raise ValueError(f"unknown {self.kind} {name!r}; registered: {', '.join(self.list())}")
        return self._items[name]

    def list(self) -> list[str]:
        """The registered names, sorted.

        References:
            The registry pattern (see :class:`Registry`).

        Example:
            >>> from icml22dl.optim import list_optimizers
            >>> "adai" in list_optimizers() and list_optimizers() == sorted(list_optimizers())
            True
        """
        return sorted(self._items)

    def items(self) -> ItemsView[str, T]:
        return self._items.items()

    def values(self) -> ValuesView[T]:
        return self._items.values()

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __getitem__(self, name: str) -> T:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
