"""Pretrained models shipped with microgen and lookup of user model directories."""

from __future__ import annotations

import json
import os
from pathlib import Path

from microgen.engine import DSDModel

#: folder holding the pretrained model directories (installed as the package ``microgen.pretrained``)
_SOURCE_TREE = Path(__file__).resolve().parents[2] / "pretrained"


def pretrained_root() -> Path:
    try:
        from microgen import pretrained  # installed wheel: package data

        return Path(pretrained.__file__).parent
    except ImportError:
        return _SOURCE_TREE


def available() -> dict[str, Path]:
    """Names of the pretrained models present, mapped to their directories."""
    root = pretrained_root()
    if not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir()) if (p / "config.json").is_file()}


#: former pretrained names and the model that answers to them now (session 37: the weights
#: shipped as ``ketton-fast`` read closer to the data than the former ``ketton`` and became it)
ALIASES = {"ketton-fast": "ketton"}


def _current(name) -> str:
    """``name`` as a string, a former pretrained name replaced by the current one."""
    return ALIASES.get(str(name), str(name))


def is_pretrained(name) -> bool:
    """Whether ``name`` is a pretrained model's name (or a former name of one)."""
    return _current(name) in available()


def resolve(name_or_path: str | os.PathLike) -> Path:
    """A pretrained name (or former name, :data:`ALIASES`) or a model directory -> the directory;
    ``ValueError`` names the choices."""
    models = available()
    name = _current(name_or_path)
    if name in models:
        return models[name]
    path = Path(name_or_path)
    if (path / "config.json").is_file():
        return path
    raise ValueError(
        f"unknown model {str(name_or_path)!r}: available pretrained models are {sorted(models) or 'none'}; "
        "or pass the directory of a model trained with `microgen train` (e.g. for a rock we have no data "
        "for, such as Savonnieres or Massangis: microgen train --data scan.tif --kind rock --out DIR)"
    )


#: suffix of a pretrained model's dedicated inpainting companion (trained with ``--holes``)
INPAINT_SUFFIX = "-inpaint"


def inpainting_companion(name_or_path) -> str | None:
    """``"<name>-inpaint"`` where ``name_or_path`` is a pretrained name that ships one, else None."""
    name = _current(name_or_path)
    models = available()
    if name in models and not name.endswith(INPAINT_SUFFIX) and name + INPAINT_SUFFIX in models:
        return name + INPAINT_SUFFIX
    return None


def load(name_or_path, device="cpu") -> DSDModel:
    model = DSDModel.load(resolve(name_or_path), device=device)
    model.meta.setdefault("name", Path(resolve(name_or_path)).name)
    return model


def card(name_or_path) -> dict:
    """The model card (``card.json``) if present, else an empty dict."""
    path = resolve(name_or_path) / "card.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def reference(name_or_path, size: int | None = None) -> dict:
    """The reference statistics stored with a model (``reference.json``) for ``size x size`` images
    (default: the first size stored): ``{size, phases, n, A, B, counts}``, where A holds the
    descriptors of held-out crops and B those of training crops matched to them in fractions."""
    path = resolve(name_or_path) / "reference.json"
    if not path.is_file():
        raise ValueError(f"model {str(name_or_path)!r} ships no reference statistics (reference.json)")
    data = json.loads(path.read_text())
    sets = {int(s["size"]): s for s in data.get("sets", [data])}  # older files hold one set
    if size is None:
        return next(iter(sets.values()))
    if int(size) not in sets:
        raise ValueError(
            f"the stored statistics of {str(name_or_path)!r} are for {' or '.join(f'{s}x{s}' for s in sets)} "
            f"images; got {size}x{size} (crop or generate at a stored size, or pass a reference volume)"
        )
    return sets[int(size)]
