"""Atomic checkpoints: one ``.npz`` holding model, optimiser and loop state.

Written to a temporary file in the same directory, flushed to disk, then
renamed over the old checkpoint (``os.replace`` is atomic on POSIX), so a run
killed at any moment leaves either the previous or the new checkpoint, never
a half-written one.
"""
import json
import os
import tempfile
import zipfile

import numpy as np


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated or not an emsm_np checkpoint."""


def save_checkpoint(path, model_state, optim_state, meta):
    """Write ``{model.*, optim.*}`` arrays and the JSON ``meta`` atomically to ``path``."""
    arrays = {f"model/{k}": v for k, v in model_state.items()}
    scalars = {}
    for k, v in optim_state.items():
        if isinstance(v, np.ndarray):
            arrays[f"optim/{k}"] = v
        else:
            scalars[k] = v
    meta = dict(meta, optim_scalars=scalars, format="emsm_np-checkpoint-1")
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".checkpoint-", suffix=".npz.tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path):
    """Return ``(model_state, optim_state, meta)`` from :func:`save_checkpoint`'s file."""
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path} does not exist")
    # NumPy's own message for a file that is not an archive is advice to unpickle it
    # (allow_pickle=True), the one thing not to do with a file of unknown origin: not repeated.
    corrupted = (f"checkpoint {path} is corrupted or truncated (not a whole .npz archive written by emsm); "
                 "it cannot be resumed or evaluated: train the run again, with another --run-dir")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise CheckpointError(corrupted) from exc
    if "meta" not in data:
        raise CheckpointError(f"{path} is not an emsm_np checkpoint (no 'meta' entry)")
    try:
        meta = json.loads(bytes(data.pop("meta")).decode())
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise CheckpointError(corrupted) from exc
    if meta.get("format") != "emsm_np-checkpoint-1":
        raise CheckpointError(f"{path} has unknown checkpoint format {meta.get('format')!r}")
    model = {k[len("model/"):]: v for k, v in data.items() if k.startswith("model/")}
    optim = {k[len("optim/"):]: v for k, v in data.items() if k.startswith("optim/")}
    optim.update(meta.pop("optim_scalars"))
    return model, optim, meta


def load_model_state(net, model_state, path):
    """``net.load_state_dict(model_state)``; a state that does not fit the network (a key
    missing or extra, a shape changed: a checkpoint of another configuration) is a
    :class:`CheckpointError` naming the file, not a traceback."""
    try:
        net.load_state_dict(model_state)
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: the checkpoint does not fit the network that its config.json "
                              f"describes: {exc.args[0]}") from exc
