"""``evaluate`` runs where the model lives, and checks its arguments."""
import numpy as np
import pytest

from emsm_np.backend import asnumpy
from emsm_np.layers.flatten import Flatten
from emsm_np.layers.linear import Linear
from emsm_np.layers.sequential import Sequential
from emsm_np.losses import EMSoftmax
from emsm_np.models.network import Network
from emsm_np.training.evaluate import evaluate


def small_network():
    features = Sequential(Flatten(), Linear(16, 5, dtype=np.float64, rng=0))
    return Network(features, EMSoftmax(5, 3, ensemble=2, dtype=np.float64, rng=1))


def data(n=23, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 4, 4)), rng.integers(0, 3, n)


def expected_accuracies(net, x, y):
    """Accuracy and weak accuracies in one batch, on the CPU."""
    pred = asnumpy(net.logits(x)).argmax(axis=1)
    weak = asnumpy(net.weak_logits(x)).argmax(axis=2)
    return (pred == y).mean(), (weak == y[None]).mean(axis=1), (weak == weak[:1]).all(axis=0).mean()


def test_evaluate_in_batches_equals_one_pass_over_the_data():
    net, (x, y) = small_network(), data()
    accuracy, weak, agreement = expected_accuracies(net, x, y)
    result = evaluate(net, x, y, batch_size=5)  # 23 = 4 * 5 + 3: a last partial batch
    assert result["accuracy"] == pytest.approx(accuracy)
    np.testing.assert_allclose(result["weak_accuracy"], weak)
    assert result["agreement"] == pytest.approx(agreement)


def test_evaluate_runs_on_the_device_of_the_model_by_default(xp):
    net, (x, y) = small_network(), data()
    on_cpu = evaluate(net, x, y, batch_size=8)
    if xp is not np:
        net.to("gpu")
    assert evaluate(net, x, y, batch_size=8) == on_cpu  # NumPy x and y, moved per batch
    assert evaluate(net, xp.asarray(x), xp.asarray(y), batch_size=8) == on_cpu


def test_evaluate_rejects_a_device_other_than_the_models():
    net, (x, y) = small_network(), data()
    with pytest.raises(ValueError, match=r"device='gpu' but the model's parameters are on the cpu; move the model"):
        evaluate(net, x, y, device="gpu")
    assert evaluate(net, x, y, device="cpu") == evaluate(net, x, y)


def test_evaluate_rejects_an_unknown_device_naming_it():
    net, (x, y) = small_network(), data()
    with pytest.raises(ValueError, match=r"device must be None \(the model's device\), 'cpu' or 'gpu', got 'cuda'"):
        evaluate(net, x, y, device="cuda")


@pytest.mark.parametrize("batch_size, exc, message", [
    (0, ValueError, r"batch_size must be >= 1, got 0"),
    (-5, ValueError, r"batch_size must be >= 1, got -5"),
    (2.5, TypeError, r"batch_size must be an integer, got 2.5"),
    (True, TypeError, r"batch_size must be an integer, got True"),
])
def test_evaluate_rejects_a_batch_size_below_one_or_not_an_integer_naming_batch_size(batch_size, exc, message):
    net, (x, y) = small_network(), data()
    with pytest.raises(exc, match=message):
        evaluate(net, x, y, batch_size=batch_size)


def test_evaluate_rejects_x_and_y_of_different_lengths():
    net, (x, y) = small_network(), data()
    with pytest.raises(ValueError, match=r"x and y must have the same length, got 23 images and 22 labels"):
        evaluate(net, x, y[:-1])


def test_evaluate_rejects_empty_data():
    net, (x, y) = small_network(), data()
    with pytest.raises(ValueError, match=r"x and y are empty"):
        evaluate(net, x[:0], y[:0])


def test_agreement_is_the_fraction_where_every_weak_classifier_predicts_the_same_class():
    from emsm_np.models import build_network

    net = build_network("lenet", num_classes=10, ensemble=3, width=2, feature_dim=4, seed=0)
    W = net.head.params["weight"]
    W[1] = W[0]  # classifiers 0 and 1 always agree; classifier 2 keeps its own weights
    rng = np.random.default_rng(0)
    x = rng.random((300, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 300)
    weak = net.weak_logits(x).argmax(axis=2)  # (3, n)
    expected = float(np.mean((weak[0] == weak[1]) & (weak[1] == weak[2])))
    assert 0 < expected < 1  # some samples split the ensemble, some do not
    ev = evaluate(net, x, y, batch_size=64)
    assert ev["agreement"] == pytest.approx(expected)
    assert ev["weak_accuracy"] == pytest.approx([float(np.mean(w == y)) for w in weak])
