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
- EM-Softmax: Wang et al., IJCAI 2018, Sec. 4.3 ("we strictly follow all
  experimental settings in [L-Softmax], including the CNN architectures
  (LiuNet)"). Its text names no activation and no feature-layer width; Sec. 4.7
  names filter widths only for its model-averaging variants CNN(48), CNN(64),
  CNN(96) (48/48/96/192, 64/64/128/256, 96/96/192/382). Its Table 3 model sizes
  fit FC 256 (float32, 1 MB = 1e6 bytes): CIFAR-10 Softmax LiuNet 15.1 MB and
  EM-Softmax 15.2 MB against 15.15 and 15.16 here (V = 1, 2); LiuNet(48) 9.3 and
  LiuNet(96) 30.9 against 9.32 and 30.90 (``width`` 48, 96); CIFAR-100
  EM-Softmax 31.1 against 31.09 (``liunet-cifar100``, V = 2). With FC 512 the
  CIFAR-10 network would be 19.36 MB (the L-Softmax paper's text is reported to use
  256, its prototxts use 512). PReLU (the LiuNet default) is the L-Softmax paper's as
  reported; the prototxts use ReLU (docs/paper.md, "The L-Softmax paper against its
  prototxts").
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
        "source": "L-Softmax paper Table 1, CIFAR-10 column; with FC 256, 15.15 MB (V=1) and "
                  "15.16 MB (V=2), EM-Softmax Table 3: 15.1 (Softmax) and 15.2 (EM-Softmax)",
        "in_channels": 3,
        "input_size": 32,
        "stages": [(64, 1), (64, 4), (128, 4), (256, 4)],
    },
    "liunet-cifar100": {
        "source": "L-Softmax paper Table 1, CIFAR-100 column (wider: 96, 96x4, 192x4, 384x4); "
                  "with FC 256 and V=2, 31.09 MB, EM-Softmax Table 3: 31.1 (EM-Softmax, CIFAR-100)",
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
