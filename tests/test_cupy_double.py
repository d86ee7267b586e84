"""The CuPy double (emsm_np.testing.cupy_double) enforces CuPy's rules, and counts.

One test per rule, each failing if the double stopped enforcing it; then the
reference operations of emsm_np run on the double's arrays and agree with NumPy.
"""
import copy
import inspect
import json
import operator
import pathlib
import re
import sys

import numpy as np
import pytest

from emsm_np import backend
from emsm_np.functional import batch_norm, conv2d, dropout, linear, max_pool2d, prelu, relu
from emsm_np.testing import cupy_double as cp

NAMES = json.loads(pathlib.Path(cp.__file__).with_name("cupy_names.json").read_text())
IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. "
            "Please use `.get()` to construct a NumPy array explicitly.")
HOST_ARRAY = re.escape("Unsupported type <class 'numpy.ndarray'>")


@pytest.fixture
def a():
    return cp.asarray(np.arange(6, dtype=np.float32).reshape(2, 3))


@pytest.fixture
def host():
    return np.ones((2, 3), dtype=np.float32)


@pytest.fixture
def double():
    """The double installed as ``cupy``: emsm_np's get_array_module takes its arrays for CuPy's."""
    with cp.installed() as module:
        yield module


# --------------------------------------------------------------------------- its own arrays

def test_its_arrays_are_not_numpy_arrays(a):
    assert isinstance(a, cp.ndarray) and not isinstance(a, np.ndarray)


@pytest.mark.parametrize("convert", [np.asarray, np.array, lambda d: d.__array__(), lambda d: np.array([d, d])],
                         ids=["np.asarray", "np.array", "__array__", "np.array-of-list"])
def test_implicit_conversion_to_numpy_is_refused_with_cupys_message(a, convert):
    with pytest.raises(TypeError, match=re.escape(IMPLICIT)):
        convert(a)


# --------------------------------------------------------------------------- no host arrays in device work

@pytest.mark.parametrize("mix", [
    lambda d, h: cp.add(d, h),
    lambda d, h: np.add(h, d),  # NumPy's ufunc hands the call to the double, which refuses h
    lambda d, h: d + h,
    lambda d, h: h + d,
    lambda d, h: d * h,
    lambda d, h: d.__iadd__(h),
    lambda d, h: cp.matmul(d, h.T),
    lambda d, h: d @ h.T,
    lambda d, h: h @ d.T,
    lambda d, h: cp.concatenate([d, h]),
    lambda d, h: np.concatenate([d, h]),  # dispatched to cupy.concatenate
    lambda d, h: cp.stack([d, h]),
    lambda d, h: cp.where(d > 0, d, h),
], ids=["ufunc", "numpy-ufunc", "add", "radd", "mul", "iadd", "matmul", "@", "r@", "concatenate",
        "np.concatenate", "stack", "where"])
def test_a_host_array_in_device_work_is_refused(a, host, mix):
    with pytest.raises(TypeError, match=HOST_ARRAY):
        mix(a, host)


def test_a_0d_host_array_or_a_list_is_refused_as_an_operand_as_in_cupy(a):
    with pytest.raises(TypeError, match=HOST_ARRAY):
        cp.multiply(a, np.array(2.0))  # CuPy takes NumPy *scalars* only, not 0-d arrays
    with pytest.raises(TypeError, match=re.escape("Unsupported type <class 'list'>")):
        cp.add(a, [1.0, 2.0, 3.0])


@pytest.mark.parametrize("key", [Ellipsis, (slice(None), 0)], ids=["a[...]", "a[:, 0]"])
def test_assigning_a_host_array_is_refused_with_cupys_fill_error(a, host, key):
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray cannot be used for fill") as info:
        a[key] = host[key]
    assert isinstance(info.value, TypeError)  # a ValueError in CuPy, a type error all the same


def test_python_and_numpy_scalars_are_allowed_and_keep_the_dtype(a):
    assert (a + 2.0).dtype == np.float32 and (np.float32(2.0) * a).dtype == np.float32
    assert (a * np.float32(2.0)).get().tolist() == [[0, 2, 4], [6, 8, 10]]
    a[...] = 1.0
    a[0] = np.float32(3.0)
    a[1, 1] = np.array(5.0)  # a 0-d host array fills, as CuPy's fill() allows
    assert a.get().tolist() == [[3, 3, 3], [1, 5, 1]]
    assert cp.maximum(a, 2).get().min() == 2


def test_host_indices_are_copied_up_as_cupy_does_and_counted_as_uploads(a):
    with cp.counting() as c:
        rows = a[np.array([1, 0])]
        cols = a[:, [2, 0]]
        a[np.array([0, 1]), np.array([1, 2])] = np.array([7.0, 8.0])  # values through an array index: uploaded
    assert rows.get()[0].tolist() == [3, 4, 5] and cols.get()[0].tolist() == [2, 0]
    assert a.get()[0, 1] == 7 and a.get()[1, 2] == 8
    assert c.uploads == 3


# --------------------------------------------------------------------------- explicit transfers

def test_get_and_asnumpy_return_host_copies(a):
    for host in (a.get(), cp.asnumpy(a)):
        assert type(host) is np.ndarray and host.tolist() == [[0, 1, 2], [3, 4, 5]]
        host[0, 0] = 99  # a copy: the device array is untouched
    assert a[0, 0].item() == 0


def test_asarray_uploads_a_copy_of_host_data(host):
    with cp.counting() as c:
        d = cp.asarray(host)
        e = cp.array([[1.0, 2.0]])
    host[0, 0] = 5
    assert d.get()[0, 0] == 1 and e.shape == (1, 2)
    assert c.uploads == 2 and c.transfers == 0


def test_a_device_array_given_to_asarray_comes_back_as_is(a):
    with cp.counting() as c:
        assert cp.asarray(a) is a and a.astype(np.float32, copy=False) is a
    assert c.uploads == 0 and c.operations == 0


TRANSFERS = {
    "get": lambda d: d.get(),
    "asnumpy": cp.asnumpy,
    "float": lambda d: float(d[0, 0]),
    "int": lambda d: int(d[0, 1]),
    "bool": lambda d: bool(d[0, 1]),
    "complex": lambda d: complex(d[0, 0]),
    "item": lambda d: d[1, 1].item(),
    "tolist": lambda d: d.tolist(),
    "tobytes": lambda d: d.tobytes(),
    "repr": repr,
    "str": str,
    "format": lambda d: f"{d[0, 0]:.2f}",
    "mask index": lambda d: d[d > 2],  # CuPy copies the number of True values to the host
    "nonzero": lambda d: d.nonzero(),
}


@pytest.mark.parametrize("kind", TRANSFERS)
def test_each_kind_of_transfer_is_counted_once(a, kind):
    with cp.counting() as c:
        TRANSFERS[kind](a)
    assert (c.transfers, dict(c.transfer_kinds)) == (1, {kind: 1})
    (site,) = c.transfer_sites  # no emsm_np line asked: the first caller outside the double, in this file
    assert site.startswith("tests/test_cupy_double.py:")


def test_metadata_is_not_a_transfer(a):
    with cp.counting() as c:
        assert len(a) == 2 and a.shape == (2, 3) and a.ndim == 2 and a.size == 6 and a.dtype == np.float32
        assert a.itemsize == 4 and a.nbytes == 24 and a.strides == (12, 4) and a.flags.c_contiguous
        assert [row.shape for row in a] == [(3,), (3,)]
    assert c.transfers == 0


def test_cupy_arrays_have_no_index_so_the_double_has_none(a):
    assert "__index__" not in NAMES["ndarray.dunder"]
    with pytest.raises(TypeError):
        operator.index(a[0, 0].astype(np.int64))


def test_a_transfer_is_sited_at_the_emsm_np_line_that_asked_for_it(double):
    from emsm_np.losses import diversity
    from emsm_np.losses import em_softmax

    W = cp.asarray(np.random.default_rng(0).standard_normal((2, 4, 3)))
    with cp.counting() as c:
        diversity(W)
        here = sys._getframe().f_lineno + 1
        backend.asnumpy(W)  # emsm_np.backend only passes the copy along: the site is this line
    lines, start = inspect.getsourcelines(em_softmax.diversity)
    line = start + next(i for i, text in enumerate(lines) if "float(D)" in text)
    assert c.transfer_sites == {f"emsm_np/losses/em_softmax.py:{line}": 1, f"tests/test_cupy_double.py:{here}": 1}


# --------------------------------------------------------------------------- operations and counts

def test_ufuncs_operators_and_new_arrays_are_counted_as_operations_views_are_not(a):
    with cp.counting() as c:
        b = a + 1          # 1
        cp.exp(b)          # 2
        b.sum()            # 3
        b[np.array([0])]   # 4: an array index gathers
        cp.zeros((2, 2))   # 5
        b += 1             # 6
        b[...] = 0         # 7
        a.reshape(3, 2), a.T, a[0], a[:, 1:], a.ravel()  # views
    assert c.operations == 7


def test_counts_and_reset_counts(a):
    cp.reset_counts()
    a.get()
    cp.asarray(np.ones(2))
    a + a
    cp.cuda.Device().synchronize()
    counts = cp.counts()
    assert {k: counts[k] for k in ("transfers", "uploads", "operations", "syncs")} == \
        {"transfers": 1, "uploads": 1, "operations": 1, "syncs": 1}
    cp.reset_counts()
    assert cp.counts() == {"transfers": 0, "uploads": 0, "operations": 0, "syncs": 0,
                           "transfer_sites": {}, "transfer_kinds": {}}


def test_a_counting_block_counts_only_its_own_work(a):
    with cp.counting() as outer:
        a.get()
        with cp.counting() as inner:
            float(a[0, 0])
    assert (outer.transfers, inner.transfers) == (2, 1)


def test_results_stay_on_the_device_as_0d_arrays(a):
    for result in (a.sum(), a.max(), a.argmax(), a[0, 0], cp.allclose(a, a), np.sum(a), cp.exp(1.0)):
        assert isinstance(result, cp.ndarray) and result.shape == ()


# --------------------------------------------------------------------------- only CuPy's names

@pytest.mark.parametrize("name", ["insert", "geomspace", "errstate", "spacing", "block", "nanquantile"])
def test_a_numpy_name_cupy_lacks_is_refused(name):
    assert hasattr(np, name) and name not in NAMES["module"]
    with pytest.raises(AttributeError, match=f"module 'cupy' has no attribute '{name}'"):
        getattr(cp, name)


def test_a_numpy_function_cupy_lacks_cannot_be_reached_through_numpy_either(a):
    with pytest.raises(TypeError, match="no implementation found for 'numpy.insert'"):
        np.insert(a, 0, 1.0)


@pytest.mark.parametrize("name", ["exp", "matmul", "zeros_like", "pad", "stack", "where", "result_type", "float32",
                                  "inf", "newaxis", "ascontiguousarray", "einsum", "ndarray", "asnumpy"])
def test_names_cupy_has_work(name):
    assert name in NAMES["module"]
    getattr(cp, name)


def test_a_name_cupy_has_that_numpy_cannot_stand_in_for_says_so():
    assert "fft" in NAMES["module"]
    with pytest.raises(AttributeError, match="cupy.fft exists in CuPy .* does not implement it"):
        cp.fft  # noqa: B018


def test_array_methods_cupy_lacks_are_refused(a):
    assert hasattr(np.ndarray, "setflags") and "setflags" not in NAMES["ndarray"]
    with pytest.raises(AttributeError, match="no attribute 'setflags'"):
        a.setflags  # noqa: B018


def _public(namespace):
    return {n for n in vars(namespace) if not n.startswith("_")}


@pytest.mark.parametrize("namespace, listed", [
    (cp.random, "random"), (cp.random.RandomState, "random.RandomState"), (cp.cuda, "cuda"),
    (cp.cuda.runtime, "cuda.runtime"), (cp.cuda.Device, "cuda.Device"), (cp.ndarray, "ndarray"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_every_name_the_double_offers_is_one_cupy_has(namespace, listed):
    assert _public(namespace) <= set(NAMES[listed])


def test_every_module_name_is_cupys_or_the_doubles_own_api():
    assert _public(cp) <= set(NAMES["module"]) | set(cp._DOUBLE_ONLY)
    assert not set(cp._DOUBLE_ONLY) & set(NAMES["module"])
    implementation = {"__module__", "__qualname__", "__doc__", "__slots__", "__getattr__", "__firstlineno__",
                      "__static_attributes__", "__dict__", "__weakref__"}
    dunders = {n for n in vars(cp.ndarray) if n.startswith("__")}
    assert dunders - implementation <= set(NAMES["ndarray.dunder"])


def test_random_state_draws_on_the_device_by_cupys_seeding_rules(double):
    rs = cp.random.RandomState(7, method=cp.cuda.curand.CURAND_RNG_PSEUDO_PHILOX4_32_10)
    draws = [rs.random_sample((2, 3)), rs.random_sample((2, 3), dtype=np.float32), cp.random.random_sample((2, 3))]
    assert all(isinstance(d, cp.ndarray) and d.shape == (2, 3) for d in draws)
    assert draws[1].dtype == np.float32 and rs.random_sample().shape == ()
    rs.seed(3)
    first = rs.random_sample(4).get()
    rs.seed(3)
    assert np.array_equal(rs.random_sample(4).get(), first)
    with pytest.raises(ValueError, match="method must be one of cuRAND's"):
        cp.random.RandomState(0, method=7)
    with pytest.raises(TypeError, match="Seed must be an integer"):
        rs.seed(0.5)
    with pytest.raises(AttributeError, match="'RandomState' object has no attribute 'integers'"):
        rs.integers  # noqa: B018 - numpy.random.Generator's, not RandomState's


@pytest.mark.parametrize("path", ["cuda.Stream", "cuda.get_current_stream", "random.Generator", "random.default_rng",
                                  "random.XORWOW", "random.MRG32k3a", "lib", "RandomState.uniform", "a.real",
                                  "a.base"])
def test_what_cupy_has_and_emsm_np_never_calls_says_the_double_lacks_it(a, path):
    """Cut from the double (emsm_np calls none of it): still CuPy's names, so each says it is missing here."""
    owner, name = path.rsplit(".", 1) if "." in path else ("", path)
    target = {"": cp, "cuda": cp.cuda, "random": cp.random, "a": a,
              "RandomState": cp.random.RandomState(0)}[owner]
    with pytest.raises(AttributeError, match="exists in CuPy .* but the CuPy double .* does not implement it"):
        getattr(target, name)


# --------------------------------------------------------------------------- module, devices

def test_get_array_module(a, host):
    assert cp.get_array_module(a) is cp and cp.get_array_module(host, a) is cp
    assert cp.get_array_module(host, 1.0) is np


def test_cuda_has_one_device_that_names_itself_and_counts_syncs():
    """What benchmarks/gpu_check.py and tutorial 07 ask of cupy.cuda."""
    assert cp.cuda.is_available() and cp.is_available()
    assert cp.cuda.Device().id == cp.cuda.Device(0).id == 0
    with cp.counting() as c:
        cp.cuda.Device().synchronize()
    assert c.syncs == 1
    assert cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)["name"] == b"CuPy double (NumPy)"
    with pytest.raises(NotImplementedError, match="one device, 0"):
        cp.cuda.Device(1)


def test_version_names_the_cupy_whose_names_it_follows():
    assert cp.__version__ == NAMES["cupy_version"] + "+double"


def test_installed_makes_emsm_np_take_its_arrays_for_cupys_and_then_restores(a):
    before = sys.modules.get("cupy")
    with cp.installed():
        import cupy

        assert cupy is cp and backend.get_array_module(a) is cp and backend.device_of(a) == "gpu"
        assert backend.gpu_available()
    assert sys.modules.get("cupy") is before


def test_copies_and_pickles(a):
    import pickle

    assert copy.deepcopy(a).get().tolist() == a.get().tolist()
    with cp.counting() as c:
        assert pickle.loads(pickle.dumps(a)).get().tolist() == a.get().tolist()
    assert c.transfer_kinds["pickle"] == 1


# --------------------------------------------------------------------------- emsm_np on the double

def _relu(xp, rng):
    x = xp.asarray(rng.standard_normal((4, 5)))
    out, cache = relu.relu_forward(x)
    return out, relu.relu_backward(xp.asarray(rng.standard_normal((4, 5))), cache)


def _linear(xp, rng):
    x, w, b = (xp.asarray(rng.standard_normal(s)) for s in ((4, 3), (3, 2), (2,)))
    out, cache = linear.linear_forward(x, w, b)
    return (out, *linear.linear_backward(xp.asarray(rng.standard_normal((4, 2))), cache))


def _conv2d(xp, rng):
    x, w, b = (xp.asarray(rng.standard_normal(s)) for s in ((2, 3, 6, 5), (4, 3, 3, 2), (4,)))
    out, cache = conv2d.conv2d_forward(x, w, b, stride=(2, 1), padding=1)
    return (out, *conv2d.conv2d_backward(xp.asarray(rng.standard_normal(out.shape)), cache))


def _max_pool2d(xp, rng):
    x = xp.asarray(rng.permutation(2 * 3 * 5 * 5).reshape(2, 3, 5, 5).astype(np.float64))  # no ties
    out, cache = max_pool2d.max_pool2d_forward(x, 3, stride=2, padding=1, ceil_mode=True)
    return out, max_pool2d.max_pool2d_backward(xp.asarray(rng.standard_normal(out.shape)), cache)


def _batch_norm(xp, rng, train=True):
    x, g, b, m = (xp.asarray(rng.standard_normal(s)) for s in ((4, 3, 2, 2), (3,), (3,), (3,)))
    v = xp.asarray(rng.uniform(0.5, 2.0, 3))
    out, cache, running = batch_norm.batch_norm_forward(x, g, b, m, v, train=train)
    return (out, *running, *batch_norm.batch_norm_backward(xp.asarray(rng.standard_normal(out.shape)), cache))


def _prelu(xp, rng):
    x, w = xp.asarray(rng.standard_normal((4, 3, 2))), xp.asarray(rng.uniform(0.1, 0.3, 3))
    out, cache = prelu.prelu_forward(x, w)
    return (out, *prelu.prelu_backward(xp.asarray(rng.standard_normal(out.shape)), cache))


def _dropout(xp, rng):
    x, mask = xp.asarray(rng.standard_normal((4, 5))), xp.asarray(rng.random((4, 5)) > 0.3)
    out, cache = dropout.dropout_forward(x, mask, 0.3)
    return out, dropout.dropout_backward(xp.asarray(rng.standard_normal((4, 5))), cache)


OPERATIONS = {"relu": _relu, "linear": _linear, "conv2d": _conv2d, "max_pool2d": _max_pool2d,
              "batch_norm-train": _batch_norm, "batch_norm-eval": lambda xp, rng: _batch_norm(xp, rng, False),
              "prelu": _prelu, "dropout": _dropout}


@pytest.mark.parametrize("name", OPERATIONS)
def test_reference_operations_run_on_the_double_without_a_transfer_and_match_numpy(double, name):
    expected = OPERATIONS[name](np, np.random.default_rng(0))
    with cp.counting() as c:
        got = OPERATIONS[name](cp, np.random.default_rng(0))
    assert c.transfers == 0, dict(c.transfer_sites)  # forward and backward never stop the GPU
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert isinstance(g, cp.ndarray) and g.dtype == e.dtype
        np.testing.assert_allclose(g.get(), e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("margin, lam, ensemble", [(0.0, 0.0, 1), (0.5, 0.1, 3)], ids=["softmax", "em-softmax"])
def test_em_softmax_loss_runs_on_the_double_and_matches_numpy(double, margin, lam, ensemble):
    from emsm_np.losses import em_softmax_loss

    rng = np.random.default_rng(0)
    x, W, y = rng.standard_normal((8, 4)), rng.standard_normal((ensemble, 4, 5)), np.arange(8) % 5
    loss, dx, dW = em_softmax_loss(x, W, y, margin=margin, lam=lam)
    got = em_softmax_loss(cp.asarray(x), cp.asarray(W), cp.asarray(y), margin=margin, lam=lam)
    assert type(got[0]) is float and got[0] == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(got[1].get(), dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got[2].get(), dW, rtol=1e-12, atol=1e-12)


def test_the_dropout_layer_draws_its_gpu_mask_with_cupys_philox_random_state(double):
    from emsm_np.layers.dropout import Dropout

    layer = Dropout(0.5, rng=0)
    out = layer.forward(cp.ones((64, 64), dtype=np.float32))
    kept = float((out != 0).mean())
    assert isinstance(out, cp.ndarray) and 0.4 < kept < 0.6 and set(np.unique(out.get())) <= {0.0, 2.0}


# --------------------------------------------------------------------------- installing it, explicitly

@pytest.mark.parametrize("value, asked", [("1", True), ("true", True), ("yes", True), ("0", False), ("", False),
                                          (None, False)])
def test_the_tests_switch_is_emsm_cupy_double(value, asked):
    from emsm_np.testing import double_asked

    assert double_asked({} if value is None else {"EMSM_CUPY_DOUBLE": value}) is asked


SHOW = "import cupy, os, sys; print(cupy.__name__, os.environ.get('EMSM_CUPY_DOUBLE'), sys.argv[1:])"


@pytest.mark.parametrize("form", ["script", "-m"])
def test_run_with_double_runs_a_script_or_a_module_with_the_double_as_cupy(tmp_path, form):
    import os
    import subprocess

    (tmp_path / "show_cupy.py").write_text(SHOW + "\n")
    target = [str(tmp_path / "show_cupy.py")] if form == "script" else ["-m", "show_cupy"]
    env = {k: v for k, v in os.environ.items() if k != "EMSM_CUPY_DOUBLE"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path)] + [p for p in [env.get("PYTHONPATH")] if p])
    proc = subprocess.run([sys.executable, "-m", "emsm_np.testing.run_with_double", *target, "a", "--b"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["emsm_np.testing.cupy_double", "1", "['a',", "'--b']"]
    assert "'cupy' is emsm_np.testing.cupy_double" in proc.stderr  # said, once
    assert proc.stderr.count("not a GPU") == 1


def test_run_with_double_runs_emsm_on_the_gpu(tmp_path):
    """The command line on "gpu" without a GPU: `python -m emsm_np.testing.run_with_double emsm train --device gpu`."""
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "EMSM_CUPY_DOUBLE"}
    run = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "emsm_np.testing.run_with_double", "emsm", "train", "--device", "gpu",
                           "--run-dir", str(run), "--max-iter", "2", "--eval-every", "2", "--width", "4",
                           "--feature-dim", "8", "--no-progress"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert json.loads((run / "config.json").read_text())["device"] == "gpu"
    refused = subprocess.run([sys.executable, "-m", "emsm_np.testing.run_with_double", "no-such-command"],
                             capture_output=True, text=True, env=env, timeout=120)
    assert refused.returncode == 2 and "is not a file, nor a command" in refused.stderr


# --------------------------------------------------------------------------- cupy.fuse

def test_a_fused_call_is_one_operation_however_many_elementwise_steps(a):
    @cp.fuse(kernel_name="scaled_where")
    def f(x, y, s):
        return cp.where(x > 2, x * s + y, (y - x).astype(x.dtype))

    b = a * 2.0
    with cp.counting() as c:
        out = f(a, b, 0.5)
    assert c.operations == 1 and c.transfers == 0 and c.uploads == 0
    expected = np.where(a.get() > 2, a.get() * 0.5 + b.get(), b.get() - a.get())
    assert type(out) is cp.ndarray and out.dtype == np.float32
    np.testing.assert_array_equal(out.get(), expected)


def test_a_fused_function_updates_its_arguments_in_place_as_cupys_fusion_does(a):
    @cp.fuse()
    def momentum(w, v, g, lr, mu):
        v *= mu
        v += g
        w -= lr * v

    w, v, g = a.copy(), a * 0.0 + 1.0, a * 0.1
    with cp.counting() as c:
        assert momentum(w, v, g, 0.5, 0.9) is None
    assert c.operations == 1
    np.testing.assert_allclose(v.get(), 0.9 + 0.1 * a.get(), rtol=1e-6)
    np.testing.assert_allclose(w.get(), a.get() - 0.5 * (0.9 + 0.1 * a.get()), rtol=1e-6)


def test_a_fused_function_on_host_arrays_is_the_plain_python_function(host):
    f = cp.fuse(lambda x: x * 2 + 1)
    out = f(host)
    assert type(out) is np.ndarray and out.tolist() == (host * 2 + 1).tolist()


@pytest.mark.parametrize("body", [
    lambda x: x.sum(),          # a reduction: emsm_np keeps them out of fused functions
    lambda x: cp.add.reduce(x),
    lambda x: x[0] + 1,         # indexing
    lambda x: float(x[0, 0]),   # a transfer
    lambda x: cp.matmul(x, x.T),  # not elementwise
])
def test_what_is_not_an_elementwise_chain_is_refused_inside_fuse(a, body):
    with pytest.raises(TypeError, match="fused function"):
        cp.fuse(body)(a)


def test_a_host_array_beside_a_device_array_is_refused_by_fuse(a, host):
    with pytest.raises(TypeError, match="Unsupported type"):
        cp.fuse(lambda x, y: x + y)(a, host)


def test_a_fused_function_may_assign_a_whole_argument_as_cupys_fusion_allows(a):
    @cp.fuse()
    def running(mean, new):
        new[...] = 0.9 * mean + 0.1  # cast to new's dtype
        return mean * 2

    new = cp.zeros((2, 3), dtype=np.float64)
    with cp.counting() as c:
        doubled = running(a, new)
    assert c.operations == 1
    np.testing.assert_allclose(new.get(), 0.9 * a.get() + 0.1, rtol=1e-6)
    np.testing.assert_array_equal(doubled.get(), a.get() * 2)
    with pytest.raises(TypeError, match="fused function"):
        cp.fuse(lambda x: x.__setitem__(0, 1.0))(a)
