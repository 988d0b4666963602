"""The `Asset` base dataclass and the registry of asset types. See docs/storage.md.

An asset is both a schema and a storage identity:
- subclasses declare typed fields (with defaults) and an `asset_key` class variable;
- `to_keyvalues()` / `from_keyvalues()` convert at the storage boundary only;
- writes are strict (`Asset.create(key, **values)` / `validate_keyvalues`: unknown keys or fields are
  rejected with the allowed ones listed), reads are graceful (unknown fields are kept in `extra`);
- fields ending in `_cid` are lineage links; the ones named in `companions` are also files that travel
  with the asset (a pgen's pvar and psam).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from prsgazer.errors import AssetError

#: Keys the store owns; they are not asset fields and may not be set by users.
RESERVED_KEYS = frozenset({"cid", "asset", "filename", "size", "created"})
#: Fields the computations set on their outputs (lineage of the computation, not user metadata).
COMPUTED_FIELDS = frozenset({"task_key", "metrics", "params", "code_version"})

_REGISTRY: dict[str, type[Asset]] = {}

JSONScalar = str | int | float | bool | None


@dataclass(kw_only=True)
class Asset:
    """Base of all stored things. `cid` identifies the bytes, `path` is where they are now (if anywhere)."""

    asset_key: ClassVar[str] = "asset"
    #: `*_cid` fields whose targets are files that belong beside this one (fetched together).
    companions: ClassVar[tuple[str, ...]] = ()
    #: Filename suffix used when a stored asset is materialized without its original name.
    suffix: ClassVar[str] = ""

    cid: str = ""
    path: Path | None = None
    filename: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    #: Set on task outputs: the cache key (task, input CIDs, parameters, engine version) that made it.
    task_key: str = ""
    #: Set on task outputs: duration, CPU and peak memory of the task that made it.
    metrics: dict[str, Any] = field(default_factory=dict)
    #: Set on computed outputs: the parameters that determined its content (prsgazer.ops.params).
    params: dict[str, Any] = field(default_factory=dict)
    #: Set on computed outputs: the version of the code that computed it (prsgazer.ops.runtime).
    code_version: str = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        key = cls.__dict__.get("asset_key")
        if key:
            if key in _REGISTRY and _REGISTRY[key].__qualname__ != cls.__qualname__:
                raise TypeError(f"asset key {key!r} already registered by {_REGISTRY[key].__qualname__}")
            _REGISTRY[key] = cls

    def __post_init__(self) -> None:
        if self.path is not None and not isinstance(self.path, Path):
            self.path = Path(self.path)

    # -- schema ---------------------------------------------------------------------------------
    @classmethod
    def field_types(cls) -> dict[str, Any]:
        """User-settable fields (name → resolved type), i.e. everything stored as keyvalues."""
        hints = typing.get_type_hints(cls)
        return {
            f.name: hints[f.name] for f in dataclasses.fields(cls) if f.name not in {"cid", "path", "filename", "extra"}
        }

    @classmethod
    def lineage_fields(cls) -> list[str]:
        """Fields that point at other assets by CID."""
        return [name for name in cls.field_types() if name.endswith(("_cid", "_cids"))]

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """A JSON-able description of this asset type: key, doc, fields with types."""
        return {
            "asset": cls.asset_key,
            "doc": (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "",
            "fields": {name: _type_name(tp) for name, tp in cls.field_types().items()},
            "companions": list(cls.companions),
        }

    # -- conversion -----------------------------------------------------------------------------
    def to_keyvalues(self) -> dict[str, Any]:
        """The storage form: `asset` plus every field that is set (empty values are left out)."""
        out: dict[str, Any] = {"asset": self.asset_key}
        for name in self.field_types():
            value = getattr(self, name)
            if value is None or value == "" or value == [] or value == {}:
                continue
            out[name] = _to_json(value)
        return out

    @classmethod
    def from_keyvalues(cls, keyvalues: dict[str, Any], *, cid: str = "", path: Path | None = None) -> Asset:
        """Graceful read: the registered class for `asset`, unknown fields kept in `extra`.

        Called on the base class it dispatches on the `asset` key; an unregistered key gives a plain
        `Asset` holding everything in `extra` (a newer writer's data is never lost or fatal).
        """
        key = str(keyvalues.get("asset") or "")
        target = _REGISTRY.get(key, cls) if cls is Asset else cls
        types_ = target.field_types()
        known: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for k, v in keyvalues.items():
            if k in RESERVED_KEYS:
                continue
            if k in types_:
                try:
                    known[k] = coerce(v, types_[k], k)
                except AssetError:
                    extra[k] = v
            else:
                extra[k] = v
        return target(
            cid=cid or keyvalues.get("cid", ""),
            path=path,
            filename=keyvalues.get("filename", ""),
            extra=extra,
            **known,
        )

    @classmethod
    def validate_keyvalues(cls, keyvalues: dict[str, Any]) -> dict[str, Any]:
        """Strict write check: every key must be a field of this type; values are coerced to its types."""
        types_ = cls.field_types()
        out: dict[str, Any] = {}
        for k, v in keyvalues.items():
            if k == "asset":
                if v != cls.asset_key:
                    raise AssetError(f"asset key {v!r} does not match type {cls.__name__} ({cls.asset_key!r})")
                continue
            if k in RESERVED_KEYS:
                raise AssetError(
                    f"'{k}' is set by the store and cannot be given",
                    field=k,
                    hint="drop it from the keyvalues",
                )
            if k not in types_:
                raise AssetError(
                    f"unknown field for asset '{cls.asset_key}'",
                    field=k,
                    hint=f"allowed fields: {', '.join(sorted(set(types_) - COMPUTED_FIELDS)) or '(none)'}",
                )
            out[k] = coerce(v, types_[k], k)
        return out

    def with_cid(self, cid: str) -> Asset:
        return dataclasses.replace(self, cid=cid)


def asset_class(key: str) -> type[Asset]:
    """The registered class for an asset key; unknown keys are an error listing the known ones."""
    try:
        return _REGISTRY[key]
    except KeyError:
        raise AssetError(
            f"unknown asset type {key!r}",
            field="asset",
            hint=f"allowed: {', '.join(sorted(_REGISTRY))}",
        ) from None


def asset_keys() -> list[str]:
    """All registered asset keys, sorted."""
    return sorted(_REGISTRY)


def create(key: str, **values: Any) -> Asset:
    """Strictly build an asset of type `key` from user-given values (strings are coerced)."""
    cls = asset_class(key)
    path = values.pop("path", None)
    return cls(path=Path(path) if path else None, **cls.validate_keyvalues(values))


# -- type coercion --------------------------------------------------------------------------------
def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        concrete = [a for a in typing.get_args(tp) if a is not type(None)]
        return " | ".join(_type_name(a) for a in concrete)
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(tp))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    return getattr(tp, "__name__", str(tp))


def _to_json(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    return value


_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


def coerce(value: Any, tp: Any, name: str = "") -> Any:
    """Convert `value` (possibly a CLI string) to type `tp`, or raise AssetError naming the field."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        concrete = [a for a in args if a is not type(None)]
        if len(concrete) == 1:
            return coerce(value, concrete[0], name)
        for arg in concrete:
            try:
                return coerce(value, arg, name)
            except AssetError:
                continue
        raise AssetError(f"value {value!r} fits none of {_type_name(tp)}", field=name)
    if origin in (list, tuple):
        (item,) = typing.get_args(tp)[:1] or (Any,)
        if isinstance(value, str):
            value = [v for v in (s.strip() for s in value.split(",")) if v]
        if not isinstance(value, (list, tuple)):
            raise AssetError(f"expected a list, got {value!r}", field=name)
        return [coerce(v, item, name) for v in value]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise AssetError(f"expected a mapping, got {value!r}", field=name)
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise AssetError(f"expected true/false, got {value!r}", field=name)
    if tp is int:
        if isinstance(value, bool):
            raise AssetError(f"expected an integer, got {value!r}", field=name)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise AssetError(f"expected an integer, got {value!r}", field=name)
    if tp is float:
        if isinstance(value, bool):
            raise AssetError(f"expected a number, got {value!r}", field=name)
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise AssetError(f"expected a number, got {value!r}", field=name)
    if tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise AssetError(f"expected text, got {value!r}", field=name)
    if tp is Path:
        return Path(value)
    if isinstance(value, tp):
        return value
    raise AssetError(f"cannot convert {value!r} to {_type_name(tp)}", field=name)
