"""Network configurations as data, each citing its source.

A configuration lists convolution *stages*: ``(channels, n_convs)``; every
convolution is 3x3 with padding 1, followed by batch norm and the activation;
stage 0 has no pooling after it, every later stage ends with 2x2 max pooling
(stride 2, ceil mode, so MNIST goes 28 -> 14 -> 7 -> 4). Then an FC feature
layer (``feature_dim``) and the EM-Softmax head (no bias).

Sources
-------
- L-Softmax: Liu, Wen, Yu, Yang, "Large-Margin Softmax Loss for Convolutional
  Neural Networks", ICML 2016, Table 1; released prototxts at
  github.com/wy1iu/LargeMargin_Softmax_Loss (``myexamples/``).
- EM-Softmax: Wang et al., IJCAI 2018, Sec. 4.1 ("we follow L-Softmax"),
  with PReLU and a 256-D feature layer; Table 3 reports a 15.1 MB CIFAR-10 model,
  which is what the CIFAR-10 stages below with FC 256 give in float32.
"""

LIUNET = {
    "liunet-mnist": {
        "source": "L-Softmax released MNIST prototxt (conv widths 64, 64x3, 128x3, 256x3)",
        "in_channels": 1,
        "input_size": 28,
        "stages": [(64, 1), (64, 3), (128, 3), (256, 3)],
    },
    "liunet-mnist-paper": {
        "source": "L-Softmax paper Table 1, MNIST column (every conv 64 wide)",
        "in_channels": 1,
        "input_size": 28,
        "stages": [(64, 1), (64, 3), (64, 3), (64, 3)],
    },
    "liunet-cifar10": {
        "source": "L-Softmax paper Table 1, CIFAR-10 column; 15.1 MB with FC 256 (EM-Softmax Table 3)",
        "in_channels": 3,
        "input_size": 32,
        "stages": [(64, 1), (64, 4), (128, 4), (256, 4)],
    },
    "liunet-cifar100": {
        "source": "L-Softmax paper Table 1, CIFAR-100 column (wider: 96, 96x4, 192x4, 384x4)",
        "in_channels": 3,
        "input_size": 32,
        "stages": [(96, 1), (96, 4), (192, 4), (384, 4)],
    },
}

LENET = {
    "lenet": {
        "source": "emsm_np's small CNN for tutorials and quick CPU runs "
                  "(conv 5x5x32 - pool - conv 5x5x64 - pool - FC)",
        "in_channels": 1,
        "input_size": 28,
        "convs": [(32, 5), (64, 5)],
    },
}

NETWORKS = sorted(list(LIUNET) + list(LENET))
