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
# erfc(z) = t exp(-z^2 + g(t)), t = 1/(1 + z/2)
def g(t):
    z = 2 / t - 2
    return math.log(math.erfc(z) / t) + z * z
Gc = lsq(g, lambda t: 1.0, 0.15, 1.0, 9)
show('erfc', Gc); print(' maxabs', max(abs(horner(Gc, t) - g(t)) for t in [0.15 + 0.85*k/20000 for k in range(20001)]))
# log(1+f) = f - f^2/2 + f^3 R(f), f in [sqrt(.5)-1, sqrt(2)-1]
a, b = math.sqrt(0.5) - 1, math.sqrt(2) - 1
R = lsq(lambda f: (math.log1p(f) - f + f*f/2) / f**3 if abs(f) > 1e-4 else 1/3 - f/4, lambda f: abs(f)**3 / abs(math.log1p(f)) if f != 0 else 0.0, a, b, 6)
show('log', R); print(' maxrel', max(abs((f - f*f/2 + f**3*horner(R, f)) / math.log1p(f) - 1) for f in [a + (b-a)*k/20000 for k in range(20001)] if abs(f) > 1e-9))
