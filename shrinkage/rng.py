"""R's default random number generator, reproduced in numpy.

R's ``set.seed(seed)`` followed by ``rnorm()`` and ``sample.int()`` gives the
same numbers as :class:`RStream` here, bit for bit (``tests/reference/rnorm_hex.txt``
holds R's own hexadecimal output to check it).  The pieces are:

* Mersenne-Twister seeded R's way: the integer seed is scrambled 50 times by
  the LCG ``seed = 69069 * seed + 1`` and then 625 more LCG steps fill the state
  (the first word is the position, reset to 624; the other 624 are the key).
* ``unif_rand()``: a 32-bit MT output times 2^-32 (``MT_genrand``), kept inside
  (0, 1) by ``fixup``.
* ``norm_rand()`` by inversion: two uniforms per draw, combined at 2^27 scale,
  mapped through Wichura's AS 241 quantile function, which is what ``qnorm``
  uses.
* ``R_unif_index()`` with R >= 3.6's rejection sampling, as used by
  ``sample.int``.

Sources: R's ``src/main/RNG.c``, ``src/nmath/snorm.c``, ``src/nmath/qnorm.c``
and ``src/main/random.c``.
"""

import math

import numpy as np

_MT_N = 624
_MT_SCALE = 2.3283064365386963e-10  # 2^-32: MT_genrand() maps a 32-bit word into [0, 1)
_FIXUP = 2.328306437080797e-10  # 1/(2^32 - 1), R's i2_32m1: fixup() moves 0 and 1 inside by half of it
_BIG = 134217728  # 2^27, the scale R's inversion method combines two uniforms at
_INT_MAX = 2**31 - 1


def _scrambled_state(seed):
    """Return the 624-word Mersenne-Twister key R derives from ``seed``."""
    value = seed & 0xFFFFFFFF
    for _ in range(50):
        value = (69069 * value + 1) & 0xFFFFFFFF
    words = np.empty(_MT_N + 1, dtype=np.uint32)
    for j in range(_MT_N + 1):
        value = (69069 * value + 1) & 0xFFFFFFFF
        words[j] = value
    # words[0] is R's position slot (dummy[0]), overwritten with N on seeding.
    return words[1:]


def qnorm(p):
    """Standard normal quantile by Wichura's AS 241, as R's ``qnorm(p)`` computes it.

    Parameters
    ----------
    p : array_like
        Probabilities strictly inside (0, 1).

    Returns
    -------
    numpy.ndarray
        The quantiles.
    """
    p = np.asarray(p, dtype=float)
    q = p - 0.5
    out = np.empty_like(p)

    central = np.abs(q) <= 0.425
    r = 0.180625 - q[central] * q[central]
    out[central] = q[central] * (((((((r * 2509.0809287301226727 +
                33430.575583588128105) * r + 67265.770927008700853) * r +
                45921.953931549871457) * r + 13731.693765509461125) * r +
                1971.5909503065514427) * r + 133.14166789178437745) * r +
                3.387132872796366608) / (((((((r * 5226.495278852854561 +
                28729.085735721942674) * r + 39307.89580009271061) * r +
                21213.794301586595867) * r + 5394.1960214247511077) * r +
                687.1870074920579083) * r + 42.313330701600911252) * r + 1.0)

    tail = ~central
    qt = q[tail]
    r = np.where(qt < 0, p[tail], 1.0 - p[tail])
    # The C library's log, as R calls it: numpy's vectorised log can differ in the last bit.
    r = np.sqrt(-np.fromiter(map(math.log, r), dtype=float, count=r.size))
    near = r <= 5.0
    val = np.empty_like(r)
    rn = r[near] - 1.6
    val[near] = (((((((rn * 7.7454501427834140764e-4 +
                .0227238449892691845833) * rn + .24178072517745061177) *
                rn + 1.27045825245236838258) * rn +
                3.64784832476320460504) * rn + 5.7694972214606914055) *
                rn + 4.6303378461565452959) * rn +
                1.42343711074968357734) / (((((((rn *
                1.05075007164441684324e-9 + 5.475938084995344946e-4) *
                rn + .0151986665636164571966) * rn +
                .14810397642748007459) * rn + .68976733498510000455) *
                rn + 1.6763848301838038494) * rn +
                2.05319162663775882187) * rn + 1.0)
    rf = r[~near] - 5.0
    val[~near] = (((((((rf * 2.01033439929228813265e-7 +
                2.71155556874348757815e-5) * rf +
                .0012426609473880784386) * rf + .026532189526576123093) *
                rf + .29656057182850489123) * rf +
                1.7848265399172913358) * rf + 5.4637849111641143699) *
                rf + 6.6579046435011037772) / (((((((rf *
                2.04426310338993978564e-15 + 1.4215117583164458887e-7) *
                rf + 1.8463183175100546818e-5) * rf +
                7.868691311456132591e-4) * rf + .0148753612908506148525)
                * rf + .13692988092273580531) * rf +
                .59983220655588793769) * rf + 1.0)
    out[tail] = np.where(qt < 0, -val, val)
    return out


class RStream:
    """A stream of R's random numbers after ``set.seed(seed)``.

    Parameters
    ----------
    seed : int
        The seed, as passed to R's ``set.seed``: an integer in
        [-2147483647, 2147483647].

    Examples
    --------
    >>> stream = RStream(888)
    >>> x = stream.rnorm(1000)          # R: set.seed(888); x = rnorm(1000)
    """

    def __init__(self, seed):
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        if not -_INT_MAX <= seed <= _INT_MAX:
            raise ValueError(
                f"seed must be in [-{_INT_MAX}, {_INT_MAX}] (R's integer range), got {seed}")
        self._bits = np.random.MT19937()
        self._bits.state = {"bit_generator": "MT19937",
                            "state": {"key": _scrambled_state(int(seed)), "pos": _MT_N}}

    def unif_rand(self, n):
        """Return ``n`` uniforms as R's ``unif_rand()`` draws them, in order."""
        words = self._bits.random_raw(n).astype(float)
        u = words * _MT_SCALE
        # R's fixup keeps draws strictly inside (0, 1).
        u[u <= 0.0] = 0.5 * _FIXUP
        u[1.0 - u <= 0.0] = 1.0 - 0.5 * _FIXUP
        return u

    def norm_rand(self, n):
        """Return ``n`` standard normals as R's ``norm_rand()`` (inversion) draws them."""
        u = self.unif_rand(2 * n)
        combined = np.floor(_BIG * u[0::2]) + u[1::2]
        return qnorm(combined / _BIG)

    def rnorm(self, n, sd=1.0):
        """Return R's ``rnorm(n, mean = 0, sd = sd)``.

        R returns the mean without drawing when ``sd`` is 0, so no random
        numbers are consumed then.
        """
        if sd == 0:
            return np.zeros(n)
        return sd * self.norm_rand(n)

    def sample_int(self, n, size):
        """Return R's ``sample.int(n, size)`` (without replacement), 1-based.

        Parameters
        ----------
        n : int
            Population size, at most 1e7 (beyond that R switches to a hashing
            algorithm that is not reproduced here).
        size : int
            Number of draws, at most ``n``.

        Notes
        -----
        Draw ``i`` is R's ``R_unif_index(n - i)``: rejection sampling of
        ``bits = ceil(log2(n - i))`` random bits, taken as 16-bit chunks
        ``(int)(unif_rand() * 65536)``: one chunk per attempt while at most 2^15
        values remain, two beyond.  ``unif_rand()`` is a 32-bit word times 2^-32 (exact in a
        double), so a chunk is the word's top 16 bits; ``fixup`` only moves a
        zero word, whose top bits are zero either way.  The words are drawn
        ahead in blocks and the stream is then left just after the last one
        used, as if they had been drawn one at a time.
        """
        if n > 10_000_000:
            raise ValueError(f"sample_int supports n up to 1e7, got {n}")
        start = self._bits.state
        chunks = []  # the words' top 16 bits, in order
        used = 0
        pool = list(range(1, n + 1))
        out = []
        remaining = n
        for _ in range(size):
            bits = (remaining - 1).bit_length()  # ceil(log2(remaining)) for remaining >= 1
            mask = (1 << bits) - 1
            while True:
                if used + 2 > len(chunks):  # at least two more, enough for any attempt
                    block = min(max(1024, 2 * size), 65536)
                    chunks.extend((self._bits.random_raw(block) >> 16).tolist())
                if bits < 16:
                    value = chunks[used] & mask
                    used += 1
                else:
                    value = (65536 * chunks[used] + chunks[used + 1]) & mask
                    used += 2
                if value < remaining:
                    break
            remaining -= 1
            out.append(pool[value])
            pool[value] = pool[remaining]
        self._bits.state = start
        if used:
            self._bits.random_raw(used)
        return np.array(out, dtype=np.int64)
