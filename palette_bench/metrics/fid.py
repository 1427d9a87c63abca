"""Fréchet distance between Gaussians fitted to features (FID, Heusel et al. 2017), and its bootstrap."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np


def statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (unbiased, as torch-fidelity and TF's FID use) of an [N, D] feature matrix."""
    f = np.asarray(features, dtype=np.float64)
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _sqrt_psd(sigma: np.ndarray) -> np.ndarray:
    """Symmetric square root of a PSD matrix through its eigendecomposition (tiny negative eigenvalues clipped)."""
    w, v = np.linalg.eigh(sigma)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def trace_sqrt_product(sqrt1: np.ndarray, sqrt2: np.ndarray) -> float:
    """tr (sigma1 sigma2)^(1/2) as the nuclear norm of sqrt(sigma1) sqrt(sigma2).

    The eigenvalues of sigma1 sigma2 are the squared singular values of S1 S2, so no square root
    is taken of a tiny, noisy eigenvalue: FID of a set against itself comes out 0 to rounding even
    when the covariances are singular (fewer images than feature dimensions), where the usual
    sqrt(eig(sigma1 sigma2)) (scipy's sqrtm, torch-fidelity) is off by ~1e-3.
    """
    return float(np.linalg.svd(sqrt1 @ sqrt2, compute_uv=False).sum())


def _trace_sqrt_product_fast(sqrt_ref: np.ndarray, sigma: np.ndarray) -> float:
    """tr (sigma sigma_ref)^(1/2) = sum sqrt(eig(S sigma S)), S = sqrt(sigma_ref): one symmetric eigensolve.

    About 3x cheaper than `trace_sqrt_product` and accurate to ~1e-6 relative on non-degenerate
    sets; used for bootstrap replicates, where it runs hundreds of times.
    """
    m = sqrt_ref @ sigma @ sqrt_ref
    return float(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))."""
    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    tr = trace_sqrt_product(_sqrt_psd(np.asarray(sigma1, np.float64)), _sqrt_psd(np.asarray(sigma2, np.float64)))
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr)


class FrechetToReference:
    """FID of feature sets against one fixed reference; the reference's square root is computed once."""

    def __init__(self, mu_ref: np.ndarray, sigma_ref: np.ndarray):
        self.mu_ref = np.asarray(mu_ref, np.float64)
        self.sigma_ref = np.asarray(sigma_ref, np.float64)
        self.sqrt_ref = _sqrt_psd(self.sigma_ref)
        self.trace_ref = float(np.trace(self.sigma_ref))

    def _distance(self, features: np.ndarray, trace_sqrt) -> float:
        mu, sigma = statistics(features)
        diff = mu - self.mu_ref
        return float(diff @ diff + np.trace(sigma) + self.trace_ref - 2 * trace_sqrt(sigma))

    def __call__(self, features: np.ndarray) -> float:
        return self._distance(features, lambda sigma: trace_sqrt_product(_sqrt_psd(sigma), self.sqrt_ref))

    def fast(self, features: np.ndarray) -> float:
        """The same distance by the cheaper route, for bootstrap replicates.

        With fewer inputs than dimensions, sigma = A^T A (A: centred features / sqrt(n-1)) and the
        non-zero eigenvalues of sigma @ sigma_ref are those of the small n x n matrix A sigma_ref A^T.
        """
        x = np.asarray(features, np.float64)
        n, d = x.shape
        if n > d:
            return self._distance(x, lambda sigma: _trace_sqrt_product_fast(self.sqrt_ref, sigma))
        mu = x.mean(axis=0)
        a = (x - mu) / np.sqrt(n - 1)
        m = a @ self.sigma_ref @ a.T
        tr_sqrt = float(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum())
        diff = mu - self.mu_ref
        return float(diff @ diff + (a * a).sum() + self.trace_ref - 2 * tr_sqrt)


class FrechetReplicates:
    """FID against a fixed reference of bootstrap replicates of one feature set, from how often each replicate draws each input.

    A replicate drawing input i w_i times (sum w_i = n) has mean m = sum_i w_i x_i / n and unbiased
    covariance sigma = sum_i w_i (x_i - m)(x_i - m)^T / (n - 1): exactly np.cov of the resampled
    rows, without copying them, and the ~37% of inputs a replicate does not draw are left out of its
    covariance product. With S = sigma_ref^(1/2) and Y = (X - mean) S computed once,
    tr (sigma sigma_ref)^(1/2) is the sum of the square roots of the eigenvalues of Z^T Z / (n - 1),
    Z = sqrt(w) (Y - mean of Y): one matrix product and one symmetric eigensolve of the smaller of
    Z^T Z and Z Z^T per replicate, in float64. The same numbers as `FrechetToReference.fast` on the
    resampled rows: tested to 1e-12 relative, and to 1e-7 with fewer inputs than dimensions, where
    square roots of eigenvalues at rounding level carry the difference.

    Every step runs in torch, on a CUDA device when one is available. On the CPU too: one
    threading runtime (numpy's products between torch's eigensolves left each library's threads
    waiting on the other's), and MKL's eigensolve on one thread beat numpy's (OpenBLAS) on two
    shared cores (benchmarks/report_scaling.py measures the routes).
    """

    def __init__(self, features: np.ndarray, mu_ref: np.ndarray, sigma_ref: np.ndarray, device: str | None = None, sqrt_ref: np.ndarray | None = None):
        import torch

        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))

        def tensor(a):
            return torch.as_tensor(np.asarray(a, np.float64), device=self.device)

        x = tensor(features)
        self.n = len(x)
        # centred on the full set's mean: a replicate's mean is then a small offset, and no large
        # mean is subtracted from a large second moment
        center = x.mean(dim=0)
        self.xc = x - center
        self.diff_center = center - tensor(mu_ref)
        self.trace_ref = float(np.trace(sigma_ref))
        self.squares = (self.xc * self.xc).sum(dim=1)
        self.y = self.xc @ tensor(_sqrt_psd(np.asarray(sigma_ref, np.float64)) if sqrt_ref is None else sqrt_ref)

    def __call__(self, counts: np.ndarray) -> np.ndarray:
        """FID of each replicate; counts: [replicates, n], how often each replicate draws each input."""
        import torch

        counts = torch.as_tensor(np.atleast_2d(counts), dtype=torch.float64, device=self.device)
        if self.device.type != "cpu":
            return np.array([self._one(w) for w in counts])
        # On the CPU each replicate runs on one thread, as many side by side as torch has threads:
        # the eigensolve's tridiagonal reduction gains little from a second thread, and its barriers,
        # one per column, stall whenever another process holds a core (on 2 shared cores a replicate
        # at d = 2048 took 2.3x longer on 2 threads than on 1: benchmarks/report_scaling.py).
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(threads) as pool:
                return np.array(list(pool.map(self._one, counts)))
        finally:
            torch.set_num_threads(threads)

    def _one(self, w) -> float:
        import torch

        n = self.n
        offset = w @ self.xc / n  # the replicate's mean minus the full set's
        tr_sigma = (w @ self.squares - n * offset @ offset) / (n - 1)
        keep = w.nonzero().squeeze(1)
        wk, yk = w[keep], self.y[keep]
        z = wk.sqrt()[:, None] * (yk - wk @ yk / n)
        gram = z.T @ z if len(keep) >= z.shape[1] else z @ z.T
        tr_sqrt = (torch.linalg.eigvalsh(gram) / (n - 1)).clamp(min=0).sqrt().sum()
        diff = self.diff_center + offset
        return float(diff @ diff + tr_sigma + self.trace_ref - 2 * tr_sqrt)
