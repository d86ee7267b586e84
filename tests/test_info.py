"""``emsm info``: parameter counts and sizes against Table 3 of the paper, and its switch errors."""
import pathlib
import re

import pytest

from emsm_np.cli import main
from emsm_np.models import build_network
from emsm_np.training.info import format_info, network_info, size_mb

# Table 3 (model size in MB), the cells that emsm_np's networks reproduce: (switches, paper's MB).
TABLE_3 = [
    (["--network", "liunet-cifar10", "--ensemble", "1"], 15.1),  # CIFAR-10 LiuNet (Softmax)
    (["--network", "liunet-cifar10", "--ensemble", "1", "--width", "48"], 9.3),  # LiuNet(48)
    (["--network", "liunet-cifar10", "--ensemble", "1", "--width", "64"], 15.1),  # LiuNet(64)
    (["--network", "liunet-cifar10", "--ensemble", "1", "--width", "96"], 30.9),  # LiuNet(96)
    (["--network", "liunet-cifar10", "--ensemble", "2"], 15.2),  # EM-Softmax
    (["--network", "liunet-cifar100", "--ensemble", "1", "--width", "48"], 9.4),  # CIFAR-100 LiuNet(48)
    (["--network", "liunet-cifar100", "--ensemble", "1", "--width", "96"], 31.0),  # LiuNet(96)
    (["--network", "liunet-cifar100", "--ensemble", "2"], 31.1),  # EM-Softmax
]


def info_size(args, capsys):
    assert main(["info"] + args) == 0
    out = capsys.readouterr().out
    size = float(re.search(r"size: ([0-9.]+) MB", out).group(1))
    params = int(re.search(r"parameters: ([0-9,]+)", out).group(1).replace(",", ""))
    return size, params, out


@pytest.mark.parametrize("args,paper_mb", TABLE_3)
def test_emsm_info_gives_table_3s_model_sizes_to_the_papers_rounding(args, paper_mb, capsys):
    size, params, _ = info_size(args, capsys)
    exact = params * 4 / 1e6  # the printed size is this to two decimals
    assert size == round(exact, 2)
    assert round(exact, 1) == paper_mb, (args, exact)


def test_the_sizes_quoted_in_the_issue(capsys):
    """liunet-cifar10 V=2 15.16, width 48 9.32, width 96 30.9, liunet-cifar100 V=2 31.09 (two decimals)."""
    assert info_size(["--network", "liunet-cifar10"], capsys)[0] == 15.16
    assert info_size(["--network", "liunet-cifar10", "--width", "48", "--ensemble", "1"], capsys)[0] == 9.32
    assert info_size(["--network", "liunet-cifar10", "--width", "96", "--ensemble", "1"], capsys)[0] == 30.90
    assert info_size(["--network", "liunet-cifar100"], capsys)[0] == 31.09


# Every cell of Table 3's size comparison on docs/paper.md: the paper's number (Table 3 of its
# text) and the emsm info switches (network, width, V) of each data set's column.
ROOT = pathlib.Path(__file__).resolve().parents[1]
TABLE_3_PAPER = {  # row: (CIFAR-10 MB, CIFAR-100 MB), as printed in the paper's Table 3
    "LiuNet (Softmax)": (15.1, 15.7), "LiuNet(48)": (9.3, 9.4), "LiuNet(64)": (15.1, 15.3),
    "LiuNet(96)": (30.9, 31.0), "LiuNet(48+64+96)": (55.4, 55.7), "EM-Softmax": (15.2, 31.1),
}
TABLE_3_OURS = {  # row: ((network, width, V) for CIFAR-10, the same for CIFAR-100); None: the sum row
    "LiuNet (Softmax)": (("liunet-cifar10", None, 1), ("liunet-cifar10", None, 1)),
    "LiuNet(48)": (("liunet-cifar10", 48, 1), ("liunet-cifar10", 48, 1)),
    "LiuNet(64)": (("liunet-cifar10", 64, 1), ("liunet-cifar10", 64, 1)),
    "LiuNet(96)": (("liunet-cifar10", 96, 1), ("liunet-cifar10", 96, 1)),
    "LiuNet(48+64+96)": None,
    "EM-Softmax": (("liunet-cifar10", None, 2), ("liunet-cifar100", None, 2)),
}


def _our_size(row, column):
    dataset = ("cifar10", "cifar100")[column]
    if TABLE_3_OURS[row] is None:  # model averaging of the three widths: the sum of their sizes
        return sum(_our_size(f"LiuNet({w})", column) for w in (48, 64, 96))
    network, width, ensemble = TABLE_3_OURS[row][column]
    return network_info(network, dataset, ensemble, width)["size_mb"]


def _paper_page_table_3():
    """{row: [(paper's number, our printed number, mark), per column]} from docs/paper.md."""
    text = (ROOT / "docs" / "paper.md").read_text(encoding="utf-8")
    block = text.split("<!-- table3-cells")[1].split("\n\n")[0]
    rows = {}
    for line in block.splitlines()[3:]:  # the marker, the header, the rule
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        ours = [re.fullmatch(r"([0-9.]+) (✓|✗)", c) for c in (cells[3], cells[5])]
        assert all(ours), line
        rows[cells[0]] = [(float(cells[2]), ours[0].group(1), ours[0].group(2)),
                          (float(cells[4]), ours[1].group(1), ours[1].group(2))]
    return rows


def test_every_table_3_cell_on_the_paper_page_is_computed_and_marked_right():
    """Each cell docs/paper.md compares: the paper's number is Table 3's, ours is what the
    networks give (two decimals), and it is marked a match exactly when it rounds to the paper's."""
    page = _paper_page_table_3()
    assert set(page) == set(TABLE_3_PAPER)
    matches = 0
    for row, cells in page.items():
        for column, (paper, ours, mark) in enumerate(cells):
            exact = _our_size(row, column)
            assert paper == TABLE_3_PAPER[row][column], (row, column)
            assert ours == f"{exact:.2f}", (row, column, exact)
            match = round(exact, 1) == paper
            assert mark == ("✓" if match else "✗"), (row, column, exact, paper)
            matches += match
    # The three CIFAR-100 cells that do not match: LiuNet (15.7), LiuNet(64) (15.3), their sum (55.7).
    assert matches == 9
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "it reproduces 9 to the paper's rounding" in " ".join(readme.split())


def test_mib_would_not_reproduce_table_3():
    n = build_network("liunet-cifar10", num_classes=10, ensemble=1).num_parameters()
    assert round(size_mb(n), 1) == 15.1
    assert round(n * 4 / 2**20, 1) != 15.1  # 14.4: Table 3 counts 10^6 bytes


def test_info_counts_every_parameter_of_the_built_network():
    info = network_info("liunet-cifar10", dataset="cifar100", ensemble=3, width=48)
    net = build_network("liunet-cifar10", num_classes=100, ensemble=3, width=48, in_channels=3, input_size=32)
    assert info["parameters"] == net.num_parameters()
    assert info["head_parameters"] == 3 * 256 * 100
    assert info["feature_parameters"] + info["head_parameters"] == info["parameters"]
    assert info["widths"] == [48, 48, 96, 192] and info["num_classes"] == 100


def test_info_defaults_the_dataset_from_the_network_and_v_to_2():
    assert network_info("liunet-cifar100")["dataset"] == "cifar100"
    assert network_info("liunet-cifar10")["dataset"] == "cifar10"
    info = network_info("lenet")
    assert (info["dataset"], info["in_channels"], info["input_size"], info["ensemble"]) == ("mnist", 1, 28, 2)


def test_info_output_names_the_network_widths_and_unit(capsys):
    _, _, out = info_size(["--network", "liunet-cifar10", "--width", "96", "--dataset", "cifar10+"], capsys)
    assert "liunet-cifar10 for cifar10+" in out and "96/96/192/384" in out and "V = 2" in out
    assert "1 MB = 10^6 bytes" in out
    assert out.strip() == format_info(network_info("liunet-cifar10", "cifar10+", 2, 96))


@pytest.mark.parametrize(
    "args,message",
    [
        (["--network", "resnet"], "--network must be one of"),
        (["--network", "lenet", "--ensemble", "0"], "--ensemble must be >= 1, got 0"),
        (["--network", "lenet", "--width", "0"], "--width must be >= 1, got 0"),
        (["--network", "lenet", "--dataset", "svhn"], "--dataset must be one of"),
        (["--network", "lenet", "--feature-dim", "0"], "--feature-dim must be >= 1, got 0"),
        (["--network", "lenet", "--activation", "tanh"], "--activation must be one of"),
    ],
)
def test_bad_info_switches_exit_2_with_one_line_naming_the_switch(args, message, capsys):
    assert main(["info"] + args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("args,switch", [([], "--network"), (["--network", "lenet", "--ensemble", "two"], "--ensemble")])
def test_missing_or_malformed_info_switches_exit_2_naming_the_switch(args, switch, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["info"] + args)
    assert exc.value.code == 2 and switch in capsys.readouterr().err
