"""GPU probe (first run on a real GPU, 2026-11-30): training-step time of emsm_np on CuPy against the same network in PyTorch CUDA, and where a step first synchronises.

Run on a CUDA machine from the repository root: ``PYTHONPATH=. python3 benchmarks/gpu_probe.py``.
Superseded by ``benchmarks/gpu_check.py`` once that exists.
"""
import sys, time, traceback
sys.path.insert(0, "benchmarks"); sys.path.insert(0, ".")
import numpy as np, cupy as cp, cupyx, torch
from emsm_np.models import build_network
from emsm_np.optim import SGD
import bench_train_step as B

def sync(): cp.cuda.Device().synchronize()

for name in ["lenet", "liunet-mnist"]:
    for batch in [64, 256]:
        try:
            rng = np.random.default_rng(0)
            net = build_network(name, num_classes=10, **B.HEAD, seed=0)
            x = rng.random((batch, 1, 28, 28), dtype=np.float32); y = rng.integers(0, 10, batch)
            tf = B.torch_features(torch, net.features).cuda()
            tW = torch.nn.Parameter(torch.from_numpy(net.head.params["weight"].copy()).cuda())
            tx, ty = torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda()
            topt = torch.optim.SGD(list(tf.parameters()) + [tW], lr=0.01, momentum=0.9, weight_decay=5e-4)
            net.to("gpu")
            opt = SGD(net.params, net.grads, lr=0.01, momentum=0.9, weight_decay=5e-4, no_decay=net.no_decay())
            gx, gy = cp.asarray(x), cp.asarray(y)
            def ours():
                net.loss(gx, gy); net.backward(); opt.step()
            def theirs():
                topt.zero_grad(set_to_none=True)
                l = B.torch_head_loss(torch, tf(tx), tW, ty, 0.3, 0.01); l.backward(); topt.step()
            for f in (ours, theirs):
                for _ in range(3): f()
            res = {}
            for lab, f, s in (("ours", ours, sync), ("torch", theirs, torch.cuda.synchronize)):
                s(); ts = []
                for _ in range(20):
                    t0 = time.perf_counter(); f(); s(); ts.append(time.perf_counter() - t0)
                res[lab] = np.median(ts)
            print(f"STEP {name} b{batch}: ours {1e3*res['ours']:.2f} ms torch {1e3*res['torch']:.2f} ms ratio {res['ours']/res['torch']:.2f}", flush=True)
            # first sync point in a step
            try:
                with cupyx.allow_synchronize(False):
                    ours()
                print("SYNC: none in a step")
            except Exception as e:
                tb = traceback.extract_tb(e.__traceback__)
                print("SYNC first at:", type(e).__name__, " <- ".join(f"{t.filename.split('/')[-1]}:{t.lineno}" for t in tb[-4:]))
        except Exception:
            print(f"FAIL {name} b{batch}"); traceback.print_exc()
