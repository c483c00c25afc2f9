/* nas_rng: xoshiro256** (Blackman & Vigna) seeded through splitmix64.
 *
 * Small, fast and fully deterministic across platforms: the same seed gives
 * the same stream everywhere, which is what reproducible splits, shuffles and
 * augmentation need. Not for cryptography. */
#include "core_impl.h"

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void nas_rng_seed(nas_rng *r, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
  /* splitmix64 is a bijection of its counter, so four consecutive outputs are
   * never all zero; keep the guard anyway: the all-zero state is a fixed point. */
  if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0) r->s[0] = 1;
}

uint64_t nas_rng_next(nas_rng *r) {
  uint64_t *s = r->s;
  const uint64_t result = rotl(s[1] * 5, 7) * 9;
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double nas_rng_uniform(nas_rng *r) {
  /* the top 53 bits as a multiple of 2^-53: exactly representable, in [0,1) */
  return (double)(nas_rng_next(r) >> 11) * 0x1.0p-53;
}

int64_t nas_rng_below(nas_rng *r, int64_t n) {
  if (n <= 1) return 0;
  /* Rejection below 2^64 mod n makes every residue equally likely
   * (the arc4random_uniform method); fewer than one retry on average. */
  const uint64_t un = (uint64_t)n;
  const uint64_t threshold = (0 - un) % un;
  for (;;) {
    uint64_t x = nas_rng_next(r);
    if (x >= threshold) return (int64_t)(x % un);
  }
}

void nas_rng_shuffle(nas_rng *r, int64_t *a, int64_t n) {
  /* Fisher-Yates (Durstenfeld), from the end. */
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = nas_rng_below(r, i + 1);
    int64_t t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}
