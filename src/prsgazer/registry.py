"""The registry of runnable tasks and workflows, discovered from `prsgazer.tasks` and `prsgazer.workflows`.

See docs/workflows.md and docs/mcp.md. Every Flyte task defined at module level in those packages is
listed with its parameters (types, defaults, descriptions from the docstring), so a new task appears
in `prsgazer run`, the MCP server and the notebook with no edit there. Asset parameters are bound
from the store: a CID, or key/value filters that must match exactly one asset (a list parameter
takes every match).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import types
import typing
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from prsgazer.assets import Asset
from prsgazer.assets.base import coerce
from prsgazer.errors import InputError, NotFoundError


@dataclass
class Param:
    name: str
    type: str
    required: bool
    default: Any = None
    description: str = ""
    #: asset key when the parameter is an asset (or a list of assets)
    asset: str | None = None
    is_list: bool = False

    def as_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "type": self.type, "required": self.required, "description": self.description}
        if not self.required:
            out["default"] = self.default
        if self.asset:
            out["asset"] = self.asset
        return out


@dataclass
class Entry:
    """One runnable: a task or a workflow."""

    name: str
    kind: str  # "task" | "workflow"
    category: str
    summary: str
    description: str
    params: list[Param]
    output: str
    task: Any = field(repr=False)
    module: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "category": self.category,
            "summary": self.summary,
            "params": [p.as_dict() for p in self.params],
            "output": self.output,
        }


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is not None:
        return f"{getattr(origin, '__name__', origin)}[{', '.join(_type_name(a) for a in typing.get_args(tp))}]"
    if tp is type(None):
        return "None"
    return getattr(tp, "__name__", str(tp))


def _asset_of(tp: Any) -> tuple[type[Asset] | None, bool]:
    """(asset class, is_list) of a parameter type, or (None, False)."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        for a in typing.get_args(tp):
            if a is not type(None):
                return _asset_of(a)
    if origin is list:
        (item,) = typing.get_args(tp)
        cls, _ = _asset_of(item)
        return cls, cls is not None
    if isinstance(tp, type) and issubclass(tp, Asset):
        return tp, False
    return None, False


def _arg_docs(doc: str) -> dict[str, str]:
    """Google-style `Args:` descriptions."""
    out: dict[str, str] = {}
    m = re.search(r"\n\s*Args:\n(.*?)(\n\s*\n|\n\s*Returns:|\Z)", doc, re.S)
    if not m:
        return out
    current: list[str] = []
    for line in m.group(1).splitlines():
        # `name: text`, or several names sharing one text: `coverage, min_overlap: exactly as given to score`
        hit = re.match(r"\s{4,8}(\w+(?:\s*[,/]\s*\w+)*):\s*(.*)", line)
        if hit and len(line) - len(line.lstrip()) <= 8:
            current = [n.strip() for n in re.split(r"[,/]", hit.group(1))]
            for name in current:
                out[name] = hit.group(2).strip()
        elif current:
            for name in current:
                out[name] += " " + line.strip()
    return out


def _default_description(asset: str | None, is_list: bool) -> str:
    """What an undocumented asset parameter takes (every parameter an agent sees says something)."""
    if asset is None:
        return ""
    if is_list:
        return f"stored {asset} assets: a list of CIDs, or one {{key: value}} filter object (every match is used)."
    return f"a stored {asset} asset: its CID, or a {{key: value}} filter object matching exactly one."


def _entry(task: Any, kind: str, module: str) -> Entry:
    func = task.func
    hints = typing.get_type_hints(func)
    sig = inspect.signature(func)
    doc = inspect.getdoc(func) or ""
    arg_docs = _arg_docs("\n" + doc)
    params = []
    for name, p in sig.parameters.items():
        tp = hints.get(name, Any)
        cls, is_list = _asset_of(tp)
        required = p.default is inspect.Parameter.empty
        params.append(
            Param(
                name=name,
                type=_type_name(tp),
                required=required,
                default=None if required else p.default,
                description=arg_docs.get(name) or _default_description(cls.asset_key if cls else None, is_list),
                asset=cls.asset_key if cls else None,
                is_list=is_list,
            )
        )
    return Entry(
        name=func.__name__,
        kind=kind,
        category=module.rsplit(".", 1)[-1],
        summary=doc.split("\n\n")[0].replace("\n", " ") if doc else "",
        description=doc,
        params=params,
        output=_type_name(hints.get("return", Any)),
        task=task,
        module=module,
    )


@lru_cache(maxsize=1)
def entries() -> dict[str, Entry]:
    """All tasks and workflows by name (imports the two packages on first use)."""
    from flyte import TaskTemplate

    found: dict[str, Entry] = {}
    for pkg_name, kind in (("prsgazer.tasks", "task"), ("prsgazer.workflows", "workflow")):
        pkg = importlib.import_module(pkg_name)
        for info in pkgutil.iter_modules(pkg.__path__):
            mod = importlib.import_module(f"{pkg_name}.{info.name}")
            for obj in vars(mod).values():
                func = getattr(obj, "func", None)  # a TaskTemplate's Python function (not in its type)
                if isinstance(obj, TaskTemplate) and getattr(func, "__module__", "") == mod.__name__:
                    e = _entry(obj, kind, mod.__name__)
                    found[e.name] = e
    return dict(sorted(found.items()))


def get(name: str) -> Entry:
    """The entry called `name`; an unknown name is an error listing the known ones."""
    all_ = entries()
    if name not in all_:
        raise NotFoundError(f"no task or workflow named {name!r}", field="name", hint=f"known: {', '.join(all_)}")
    return all_[name]


def bind(entry: Entry, inputs: dict[str, Any], store: Any = None) -> dict[str, Any]:
    """Turn user inputs (strings, numbers, lists, CIDs, filter dicts) into the task's typed arguments.

    Asset parameters take a CID, a `{key: value}` filter dict matching exactly one stored asset (several
    matches are an error listing them), or an asset object; list-of-asset parameters take a list of
    those or one filter dict (every match). Unknown inputs and missing required ones are errors.
    """
    from prsgazer.storage import default_store

    known = {p.name: p for p in entry.params}
    unknown = sorted(set(inputs) - set(known))
    if unknown:
        raise InputError(
            f"{entry.name} has no parameter {unknown[0]!r}", field=unknown[0], hint=f"parameters: {', '.join(known)}"
        )
    hints = typing.get_type_hints(entry.task.func)
    out: dict[str, Any] = {}
    for name, p in known.items():
        if name not in inputs or inputs[name] is None:
            if p.required:
                raise InputError(f"{entry.name} needs {name!r} ({p.type})", field=name, hint=p.description or None)
            continue
        value = inputs[name]
        if p.asset:
            store = store or default_store()
            out[name] = _bind_assets(store, p, value) if p.is_list else _bind_asset(store, p, value)
        else:
            try:
                out[name] = coerce(value, hints[name], name)
            except InputError as exc:
                raise InputError(exc.reason, field=name, hint=p.description or None) from None
    return out


def _bind_asset(store: Any, p: Param, value: Any) -> Asset:
    from prsgazer.ops.runtime import portable

    if isinstance(value, Asset):
        return portable(value)
    if isinstance(value, str):
        asset = store.get(value)
    elif isinstance(value, dict):
        asset = store.one(**{"asset": p.asset, **value})
    else:
        raise InputError(f"expected a CID or a filter object, got {value!r}", field=p.name)
    if asset.asset_key != p.asset:
        raise InputError(f"{asset.cid} is a {asset.asset_key}, {p.name} needs a {p.asset}", field=p.name)
    return portable(asset)


def _bind_assets(store: Any, p: Param, value: Any) -> list[Asset]:
    from prsgazer.ops.runtime import portable

    if isinstance(value, dict):
        found = store.query(**{"asset": p.asset, **value})
        if not found:
            raise NotFoundError(f"no {p.asset} matches {value}", field=p.name)
        return [portable(a) for a in found]
    if isinstance(value, str):
        value = [v for v in value.split(",") if v]
    if not isinstance(value, list):
        raise InputError(f"expected a list of CIDs or a filter object, got {value!r}", field=p.name)
    return [_bind_asset(store, p, v) for v in value]
