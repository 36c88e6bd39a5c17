# tests/gen/fit_vecmath.py — fits the coefficients of the vector math in
# src/kernels/elementwise.h: exp, tanh and log by weighted least squares on
# Chebyshev nodes (plain Python), the GELU rationals by Lawson-reweighted
# linearised least squares (numpy + mpmath: /usr/bin/python3 on Debian with
# python3-numpy). Prints float32 coefficients; the kernels' error bounds are
# measured by tests/test_kernels_elementwise.c, not here.
import math
def solve(A, b):
    n = len(A); M = [row[:] + [bb] for row, bb in zip(A, b)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(M[r][c])); M[c], M[p] = M[p], M[c]
        for r in range(c + 1, n):
            f = M[r][c] / M[c][c]
            for k in range(c, n + 1): M[r][k] -= f * M[c][k]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (M[r][n] - sum(M[r][k] * x[k] for k in range(r + 1, n))) / M[r][r]
    return x
def lsq(f, w, lo, hi, deg, npts=400):
    # weighted least squares on Chebyshev nodes via normal equations in a scaled variable
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    pts = [mid + half * math.cos(math.pi * (k + 0.5) / npts) for k in range(npts)]
    # basis in s = (x - mid)/half for conditioning, then convert to monomials in x
    G = [[0.0] * (deg + 1) for _ in range(deg + 1)]; r = [0.0] * (deg + 1)
    for x in pts:
        s = (x - mid) / half; ww = w(x) ** 2; phi = [s ** i for i in range(deg + 1)]
        for i in range(deg + 1):
            r[i] += ww * phi[i] * f(x)
            for j in range(deg + 1): G[i][j] += ww * phi[i] * phi[j]
    cs = solve(G, r)
    # expand sum cs_i ((x-mid)/half)^i into monomials in x
    out = [0.0] * (deg + 1)
    for i, c in enumerate(cs):
        for k in range(i + 1):
            out[k] += c * math.comb(i, k) * (1 / half) ** i * (-mid) ** (i - k)
    return out
def horner(c, x):
    v = 0.0
    for cc in reversed(c): v = v * x + cc
    return v
import struct
def f32(v): return struct.unpack('f', struct.pack('f', v))[0]
def show(name, c):
    print(name, ', '.join('%.9e' % f32(v) for v in c))
# exp: e^r = 1 + r + r^2 P(r)
L = math.log(2) / 2
P = lsq(lambda r: (math.expm1(r) - r) / (r * r) if abs(r) > 1e-6 else 0.5 + r / 6, lambda r: r * r / math.exp(r), -L, L, 4)
show('exp', P); print(' maxrel', max(abs((1 + r + r*r*horner(P, r)) / math.exp(r) - 1) for r in [-L + 2*L*k/20000 for k in range(20001)]))
# tanh small: tanh x = x + x^3 Q(x^2), x in [0, 0.625]
T = 0.625
Q = lsq(lambda u: (math.tanh(math.sqrt(u)) - math.sqrt(u)) / u ** 1.5, lambda u: u ** 1.5 / math.tanh(math.sqrt(u)), 1e-8, T * T, 4)
show('tanh', Q); print(' maxrel', max(abs((x + x**3*horner(Q, x*x)) / math.tanh(x) - 1) for x in [T*k/20000 for k in range(1, 20001)]))
# log(1+f) = f - f^2/2 + f^3 R(f), f in [sqrt(.5)-1, sqrt(2)-1]
a, b = math.sqrt(0.5) - 1, math.sqrt(2) - 1
R = lsq(lambda f: (math.log1p(f) - f + f*f/2) / f**3 if abs(f) > 1e-4 else 1/3 - f/4, lambda f: abs(f)**3 / abs(math.log1p(f)) if f != 0 else 0.0, a, b, 6)
show('log', R); print(' maxrel', max(abs((f - f*f/2 + f**3*horner(R, f)) / math.log1p(f) - 1) for f in [a + (b-a)*k/20000 for k in range(20001)] if abs(f) > 1e-9))

# GELU (erf form): F(x) - 1/2 = x P(x^2) / Q(x^2), Q(0) = 1, for F = Phi and for
# GELU' = Phi + x phi (both F - 1/2 odd), fitted for minimax absolute error on
# [0, T] (Lawson's iteration on the linearised problem F Q - x P = 0, in a
# Chebyshev basis of u = x^2 for conditioning). The kernel evaluates
# (Q + x (2P)) / (2Q), so 2P is printed.
def fit_half_rational(F, T, p, q, npts=6000, iters=300):
    import numpy as np
    from numpy.polynomial import chebyshev as Ch, polynomial as Po
    k = np.arange(npts); xs = T * (0.5 + 0.5 * np.cos(np.pi * (k + 0.5) / npts))
    f = np.array([F(x) - 0.5 for x in xs]); s = T * T; t = 2 * xs * xs / s - 1
    Vp = Ch.chebvander(t, p); Vq = Ch.chebvander(t, q)
    lw = np.ones(npts) / npts; Qv = np.ones(npts); best = None
    for _ in range(iters):
        w = np.sqrt(lw) / np.abs(Qv)
        A = np.hstack([xs[:, None] * Vp, -f[:, None] * Vq[:, 1:]])
        sol, *_ = np.linalg.lstsq(A * w[:, None], f * w, rcond=None)
        a = sol[:p + 1]; b = np.concatenate([[1.0], sol[p + 1:]])
        Qv = Ch.chebval(t, b); err = xs * Ch.chebval(t, a) / Qv - f; m = np.max(np.abs(err))
        if best is None or m < best[2]: best = (a.copy(), b.copy(), m)
        lw = lw * np.abs(err) ** 0.5; lw /= lw.sum()
    a, b, m = best
    def monomials(c):  # Chebyshev series in t = 2u/s - 1 -> powers of u
        pc = Ch.cheb2poly(c); out = np.zeros(len(pc))
        for i, ci in enumerate(pc):
            term = Po.polypow([-1.0, 2 / s], i); out[:len(term)] += ci * term
        return out
    P = monomials(a); Q = monomials(b)
    return P / Q[0], Q / Q[0], m
try:
    import mpmath as mp
    mp.mp.dps = 30
    for name, F, T in [('gelu Phi (NB_GELU_P = 2P, NB_GELU_Q)', lambda x: float(mp.ncdf(x)), 5.5),
                       ("gelu' (NB_GELU_DP = 2P, NB_GELU_DQ)",
                        lambda x: float(mp.ncdf(x) + x * mp.npdf(x)), 6.0)]:
        P, Q, m = fit_half_rational(F, T, 5, 5)
        show(name + ' 2P', [2 * v for v in P]); show(name + ' Q', Q)
        print(' maxabs of the fit', m)
except ImportError as e:
    print('GELU rationals need numpy and mpmath:', e)
