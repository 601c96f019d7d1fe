//! Calibrated integer noise: the discrete Laplace (two-sided geometric) mechanism.
//!
//! A count `c` with sensitivity 1 is released as `c + Z` where
//! `P(Z = z) = (1 − α) / (1 + α) · α^|z|` and `α = exp(−ε)`: ε-differentially private
//! for that count. `Z` is sampled as the difference of two geometric variables.
//!
//! Randomness comes from the operating system ([`NoiseSource::Os`], `OsRng`) in every
//! real run, and the draws are never stored or logged. Only tests and reproducible
//! evaluations use [`NoiseSource::Seeded`], whose stream per model is derived from the
//! seed and the model's key, so one model's noise never depends on which other models
//! the run builds.

use rand::rngs::OsRng;
use rand::{RngCore, SeedableRng, TryRngCore};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};

use crate::error::TrainingError;

/// Where a run's noise comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoiseSource {
    /// The operating system's secure randomness. Use this for every model that may
    /// be served.
    Os,
    /// A ChaCha20 stream derived from this seed and the model's key: reproducible, so
    /// for tests and published evaluations only. A seeded model's noise can be
    /// recomputed by anyone who knows the seed.
    Seeded(u64),
}

impl NoiseSource {
    /// How the manifest describes it (the seed itself is never recorded).
    pub fn describe(self) -> &'static str {
        match self {
            NoiseSource::Os => "os",
            NoiseSource::Seeded(_) => "seeded (tests and evaluations only)",
        }
    }

    /// The generator for one model, keyed by `model_key` (purpose, scope, workspace).
    pub(crate) fn generator(self, model_key: &str) -> NoiseRng {
        match self {
            NoiseSource::Os => NoiseRng::Os,
            NoiseSource::Seeded(seed) => {
                let mut h = Sha256::new();
                h.update(seed.to_be_bytes());
                h.update(model_key.as_bytes());
                let digest: [u8; 32] = h.finalize().into();
                NoiseRng::Seeded(Box::new(ChaCha20Rng::from_seed(digest)))
            }
        }
    }
}

/// One model's noise generator.
pub(crate) enum NoiseRng {
    Os,
    Seeded(Box<ChaCha20Rng>),
}

impl NoiseRng {
    fn next_u64(&mut self) -> Result<u64, TrainingError> {
        match self {
            NoiseRng::Os => OsRng.try_next_u64().map_err(|e| TrainingError::Randomness(e.to_string())),
            NoiseRng::Seeded(rng) => Ok(rng.next_u64()),
        }
    }

    /// Uniform in `(0, 1]` with 53 bits of precision.
    fn unit_open_closed(&mut self) -> Result<f64, TrainingError> {
        let bits = self.next_u64()? >> 11;
        Ok((bits + 1) as f64 / (1u64 << 53) as f64)
    }

    /// `P(G = g) = (1 − α) α^g`, `g ≥ 0`, by inversion.
    fn geometric(&mut self, alpha: f64) -> Result<i64, TrainingError> {
        let u = self.unit_open_closed()?;
        let g = (u.ln() / alpha.ln()).floor();
        // Astronomically unlikely tails are cut rather than overflowing.
        Ok(if g.is_finite() { g.min(1e12) as i64 } else { 0 })
    }

    /// A discrete Laplace draw for a sensitivity-1 count under `epsilon`.
    pub(crate) fn discrete_laplace(&mut self, epsilon: f64) -> Result<i64, TrainingError> {
        let alpha = (-epsilon).exp();
        if !(alpha > 0.0 && alpha < 1.0) {
            return Err(TrainingError::Config(format!("epsilon {epsilon} gives no usable noise")));
        }
        Ok(self.geometric(alpha)? - self.geometric(alpha)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_streams_are_reproducible_and_keyed() {
        let draw = |key: &str| {
            let mut rng = NoiseSource::Seeded(9).generator(key);
            (0..50).map(|_| rng.discrete_laplace(1.0).unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(draw("a"), draw("a"));
        assert_ne!(draw("a"), draw("b"));
    }

    #[test]
    fn discrete_laplace_has_the_calibrated_spread() {
        // Var = 2α / (1 − α)²; for ε = 1 that is ≈ 1.84, mean 0.
        let mut rng = NoiseSource::Seeded(1).generator("spread");
        let n = 20_000;
        let draws: Vec<i64> = (0..n).map(|_| rng.discrete_laplace(1.0).unwrap()).collect();
        let mean = draws.iter().sum::<i64>() as f64 / n as f64;
        let var = draws.iter().map(|&z| (z as f64 - mean).powi(2)).sum::<f64>() / n as f64;
        let alpha = (-1.0f64).exp();
        let expected = 2.0 * alpha / (1.0 - alpha).powi(2);
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert!((var - expected).abs() < 0.15, "var {var} vs {expected}");
        assert!(draws.iter().any(|&z| z != 0), "noise is not all zero");
    }

    #[test]
    fn os_noise_works_and_is_not_constant() {
        let mut rng = NoiseSource::Os.generator("os");
        let draws: Vec<i64> = (0..200).map(|_| rng.discrete_laplace(0.5).unwrap()).collect();
        assert!(draws.iter().any(|&z| z != draws[0]));
    }

    #[test]
    fn non_positive_epsilon_is_refused() {
        let mut rng = NoiseSource::Seeded(1).generator("x");
        assert!(rng.discrete_laplace(0.0).is_err());
    }
}
