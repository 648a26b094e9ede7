"""Do the scores mean what they say? Reliability, ECE, Brier, log loss, temperature scaling.

All of it is about P(real) against the label (1 = real), the model's own output.
Temperature scaling divides the logit by one number T fitted (by log loss) on one set of
predictions, to be applied to another: T > 1 softens an overconfident model.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest

EPS = 1e-7


@dataclass(frozen=True)
class Reliability:
    """Equal-width bins of P(real): per bin the mean score (``confidence``), the share
    of real images (``observed``), its 95 % Wilson interval (``low``, ``high``) and the
    ``count``; empty bins are dropped. A bin of three images can sit far from the diagonal
    by chance alone: the interval says how far."""

    edges: np.ndarray
    confidence: np.ndarray
    observed: np.ndarray
    count: np.ndarray
    ece: float
    low: np.ndarray
    high: np.ndarray


@dataclass(frozen=True)
class CalibrationScores:
    ece: float
    brier: float
    log_loss: float
    n: int


@dataclass(frozen=True)
class Temperature:
    """Fitted temperature and the log loss on the fitting set before and after."""

    temperature: float
    fitted_on: str
    log_loss_before: float
    log_loss_after: float

    def apply(self, p_real) -> np.ndarray:
        """P(real) after dividing the logit by the temperature."""
        return apply_temperature(p_real, self.temperature)


def _check(y_true, score):
    y = np.asarray(y_true, dtype=float).ravel()
    p = np.asarray(score, dtype=float).ravel()
    if y.shape != p.shape:
        raise ValueError(f"y_true and score differ in length: {y.shape} vs {p.shape}")
    if len(y) == 0:
        raise ValueError("calibration needs at least one prediction")
    if np.any((p < 0) | (p > 1)) or not np.all(np.isfinite(p)):
        raise ValueError("scores must be probabilities within [0, 1]")
    return y, p


def reliability(y_true, score, n_bins: int = 10) -> Reliability:
    """Reliability diagram data and expected calibration error (count-weighted mean
    |observed - confidence| over bins; the same bins as sklearn's calibration_curve)."""
    y, p = _check(y_true, score)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.searchsorted(edges[1:-1], p)  # sklearn calibration_curve bins
    count = np.bincount(which, minlength=n_bins)
    conf_sum = np.bincount(which, weights=p, minlength=n_bins)
    obs_sum = np.bincount(which, weights=y, minlength=n_bins)
    keep = count > 0
    conf, obs = conf_sum[keep] / count[keep], obs_sum[keep] / count[keep]
    ece = float(np.sum(count[keep] * np.abs(obs - conf)) / len(p))
    low, high = wilson_interval(obs_sum[keep], count[keep])
    return Reliability(edges=edges, confidence=conf, observed=obs, count=count[keep], ece=ece, low=low, high=high)


def wilson_interval(successes, trials, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Per-entry Wilson score interval of successes / trials (scipy's binomtest); it stays
    inside [0, 1] and is sound for the few-image bins of a small test set, where the normal
    approximation is not."""
    k, n = np.rint(np.asarray(successes, dtype=float)).astype(int), np.asarray(trials, dtype=int)
    cis = [binomtest(int(ki), int(ni)).proportion_ci(confidence_level=confidence, method="wilson") for ki, ni in zip(k, n)]
    return np.array([c.low for c in cis], dtype=float), np.array([c.high for c in cis], dtype=float)


def brier_score(y_true, score) -> float:
    y, p = _check(y_true, score)
    return float(np.mean((p - y) ** 2))


def log_loss(y_true, score) -> float:
    """Mean negative log-likelihood, scores clipped to [1e-7, 1 - 1e-7]."""
    y, p = _check(y_true, score)
    p = np.clip(p, EPS, 1 - EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def scores(y_true, score, n_bins: int = 10) -> CalibrationScores:
    """ECE, Brier score and log loss in one object."""
    return CalibrationScores(ece=reliability(y_true, score, n_bins).ece, brier=brier_score(y_true, score),
                             log_loss=log_loss(y_true, score), n=len(np.ravel(score)))


def _logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def apply_temperature(p_real, temperature: float) -> np.ndarray:
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    return 1.0 / (1.0 + np.exp(-_logit(p_real) / temperature))


def fit_temperature(y_true, score, fitted_on: str = "") -> Temperature:
    """Temperature minimising log loss on these predictions (bounded search over
    log T in [-5, 5]). Needs both classes: one class alone pushes T to a bound."""
    from scipy.optimize import minimize_scalar

    y, p = _check(y_true, score)
    if y.min() == y.max():
        raise ValueError("temperature scaling needs real and fake images in the fitting set")
    z = _logit(p)

    def nll(log_t):
        q = np.clip(1.0 / (1.0 + np.exp(-z / np.exp(log_t))), EPS, 1 - EPS)
        return -np.mean(y * np.log(q) + (1 - y) * np.log(1 - q))

    res = minimize_scalar(nll, bounds=(-5.0, 5.0), method="bounded", options={"xatol": 1e-6})
    t = float(np.exp(res.x))
    return Temperature(temperature=t, fitted_on=fitted_on, log_loss_before=log_loss(y, p),
                       log_loss_after=log_loss(y, apply_temperature(p, t)))


def stratified_halves(y_true, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint boolean masks splitting each class in half at random: fit a
    temperature on one, judge it on the other."""
    y = np.asarray(y_true).ravel()
    rng = np.random.default_rng(seed)
    first = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        first[idx[: len(idx) // 2]] = True
    return first, ~first
