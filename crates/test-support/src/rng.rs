//! The simulations' random numbers.

/// A small, fast, seeded generator (SplitMix64): stable across platforms and crate
/// versions, so a seed reproduces a run forever.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        splitmix(self.0)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }

    /// An index in `0..n` with probability ∝ `1 / (i + 1)^s`.
    pub fn zipf(&mut self, n: usize, s: f64) -> usize {
        let total: f64 = (1..=n).map(|i| (i as f64).powf(-s)).sum();
        let mut x = self.unit() * total;
        for i in 0..n {
            x -= ((i + 1) as f64).powf(-s);
            if x <= 0.0 {
                return i;
            }
        }
        n - 1
    }
}

/// SplitMix64's output mix (the same function `confab-recommend` hashes member ids
/// with; kept here so a seed reproduces a simulation whatever that crate does).
pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_reproducible_and_in_range() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let xs: Vec<usize> = (0..100).map(|_| a.below(10)).collect();
        let ys: Vec<usize> = (0..100).map(|_| b.below(10)).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|&x| x < 10) && xs.contains(&0) && xs.contains(&9));
        let zipf: Vec<usize> = (0..1000).map(|_| a.zipf(40, 1.0)).collect();
        let firsts = zipf.iter().filter(|&&x| x == 0).count();
        let lasts = zipf.iter().filter(|&&x| x == 39).count();
        assert!(firsts > 5 * lasts.max(1), "{firsts} {lasts}");
    }
}
