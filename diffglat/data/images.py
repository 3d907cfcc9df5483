"""Image captioning data: the Karpathy split of MS-COCO and precomputed image features.

The captions come from a Karpathy-split JSON (`dataset_coco.json`: {"images": [{"cocoid", "split",
"sentences": [{"raw"}, ...]}, ...]}; splits train, restval, val, test); the features are one array
per image id, [regions, F] (bottom-up region features) or [H, W, F] (a grid, read as H x W regions),
found under the configured `features` path as

  a folder of <id>.npy or <id>.npz files   (an .npz: its only array, or the one named feat / features)
  one .npz archive                          (an array named <id>)
  one .h5 / .hdf5 file                      (a dataset named <id> or <id>_features; needs h5py)

Prepared, a split's source side is an indexed.FeatureArray (every image's regions back to back).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

IMAGE = "image"  # the source "language" and file side of a captioning benchmark
FEATURE_KEYS = ("feat", "features")  # the array of a per-image .npz with several


# ---- the Karpathy split ----------------------------------------------------------------------
def read_karpathy(path: Path) -> dict[str, list[tuple[int, list[str]]]]:
    """Karpathy split name -> [(image id, raw captions)], in file order; problems name the file and image."""
    try:
        loaded = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: cannot be read: {err}") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    images = loaded.get("images") if isinstance(loaded, dict) else None
    if not isinstance(images, list):
        raise ValueError(f"{path}: a Karpathy split is a JSON object with a list 'images' (as dataset_coco.json)")
    splits: dict[str, list[tuple[int, list[str]]]] = {}
    for i, image in enumerate(images):
        where = f"{path}: images[{i}]"
        if not isinstance(image, dict):
            raise ValueError(f"{where}: not an object")
        image_id = image.get("cocoid", image.get("id"))
        if not isinstance(image_id, int) or not isinstance(image.get("split"), str):
            raise ValueError(f"{where}: needs an integer 'cocoid' (or 'id') and a 'split'")
        sentences = image.get("sentences")
        if not isinstance(sentences, list) or not all(isinstance(s, dict) and isinstance(s.get("raw"), str)
                                                      for s in sentences):
            raise ValueError(f"{where} (image {image_id}): 'sentences' must be a list of {{'raw': caption}}")
        splits.setdefault(image["split"], []).append((image_id, [re.sub(r"\s+", " ", s["raw"]).strip()
                                                                 for s in sentences]))
    return splits


# ---- the features ----------------------------------------------------------------------------
class FeatureStore:
    """The features of one image id, [regions, F] float16 (as prepare stores them), from a folder, an
    .npz or an HDF5 file. Every problem is a ValueError naming the file and the image."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._archive = None
        if self.path.is_dir():
            self.kind = "folder"
        elif self.path.suffix in (".npz", ".h5", ".hdf5"):
            self.kind = "npz" if self.path.suffix == ".npz" else "hdf5"
            try:
                if self.kind == "npz":
                    self._archive = np.load(self.path)
                else:
                    import h5py  # only HDF5 features need it
                    self._archive = h5py.File(self.path, "r")
            except ImportError:
                raise ValueError(f"{self.path}: reading HDF5 features needs h5py (pip install h5py)") from None
            except Exception as err:  # BadZipFile, OSError, ValueError: a damaged archive
                raise ValueError(f"{self.path}: cannot be read: {type(err).__name__}: {err}") from None
        else:
            raise ValueError(f"{self.path}: image features are a folder of <id>.npy/.npz files, an .npz or an "
                             ".h5/.hdf5 file")

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _raw(self, image_id: int):
        if self.kind == "folder":
            for suffix in (".npy", ".npz"):
                file = self.path / f"{image_id}{suffix}"
                if file.is_file():
                    return file, _array_of(file)
            raise ValueError(f"{self.path}: no features of image {image_id} ({image_id}.npy or {image_id}.npz)")
        names = (str(image_id), f"{image_id}_features")
        for name in names:
            if name in self._archive:
                try:
                    return f"{self.path}[{name}]", self._archive[name][()]
                except Exception as err:  # a damaged member
                    raise ValueError(f"{self.path}[{name}]: cannot be read: {type(err).__name__}: {err}") from None
        raise ValueError(f"{self.path}: no features of image {image_id} (an array named {' or '.join(names)})")

    def __call__(self, image_id: int) -> np.ndarray:
        where, array = self._raw(image_id)
        array = np.asarray(array)
        if array.ndim == 3:  # a grid [H, W, F]
            array = array.reshape(-1, array.shape[-1])
        if array.ndim != 2 or not np.issubdtype(array.dtype, np.floating) or not len(array):
            raise ValueError(f"{where}: image features must be a float array [regions, F] or [H, W, F], "
                             f"got {array.dtype} {list(array.shape)}")
        # float16 here, so that the zero-row and finiteness checks see what the model will read
        with np.errstate(over="ignore"):  # an overflow is reported below, as inf
            stored = array.astype(np.float16)
        if not np.isfinite(stored).all():
            raise ValueError(f"{where}: holds NaN, infinite or float16-overflowing values (beyond 65504)")
        return stored


def _array_of(file: Path) -> np.ndarray:
    try:  # np.load raises ValueError, OSError, EOFError or zipfile.BadZipFile on a damaged file
        if file.suffix == ".npy":
            return np.load(file)
        with np.load(file) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except Exception as err:
        raise ValueError(f"{file}: cannot be read: {type(err).__name__}: {err}") from None
    chosen = next(iter(arrays)) if len(arrays) == 1 else next((k for k in FEATURE_KEYS if k in arrays), None)
    if chosen is None:
        raise ValueError(f"{file}: holds {sorted(arrays)}; name its features one of {', '.join(FEATURE_KEYS)}")
    return arrays[chosen]


def real_regions(features: np.ndarray) -> np.ndarray:
    """The regions that are not all zero (in float16, as stored): a zero row is what padding looks
    like to the model (models.transformer.source_pad), and it carries no information."""
    return features[~(features == 0).all(-1)]
