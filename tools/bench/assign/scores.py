"""Score-like mentor x mentee weights for benchmarks (integers 0-100).

Uniform random integers make assignment degenerate (almost any row maximum is
optimal), so the benchmark data imitates Tandem's scores instead: a latent feature
overlap (cosine similarity of random interest vectors), a mentor popularity term that
makes everyone's top choices the same few mentors, and noise.
"""
import numpy as np

DIMS = 8


def participants(rng, n, dims=DIMS):
    f = rng.normal(size=(n, dims)).astype(np.float32)
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    return f


def popularity(rng, n):
    return rng.beta(2.0, 5.0, size=n).astype(np.float32)


def score_block(mentor_f, mentor_pop, mentee_f, rng):
    """Integer scores 0..100 for every (mentor, mentee) of the block."""
    overlap = (1.0 + mentor_f @ mentee_f.T) * 0.5
    noise = rng.normal(scale=0.06, size=overlap.shape).astype(np.float32)
    s = 0.55 * overlap + 0.45 * mentor_pop[:, None] + noise
    return np.clip(np.rint(100.0 * s), 0, 100).astype(np.int32)


def dense_matrix(seed, n_mentors, n_mentees):
    rng = np.random.default_rng(seed)
    mf, mp, ef = participants(rng, n_mentors), popularity(rng, n_mentors), participants(rng, n_mentees)
    return score_block(mf, mp, ef, rng)


def write_matrix(path, w):
    """The tandem-assign input: 'R C' then R lines of C weights."""
    with open(path, "w") as f:
        f.write(f"{w.shape[0]} {w.shape[1]}\n")
        for row in w:
            f.write(" ".join(map(str, row.tolist())))
            f.write("\n")
