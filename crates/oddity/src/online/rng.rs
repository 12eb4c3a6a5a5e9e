//! A small random generator whose whole state is four words of plain data.
//!
//! Online detectors draw random numbers for as long as they learn, so the
//! generator's state is part of the model: it must serialize, and a model
//! restored from a checkpoint must draw exactly what the uninterrupted one
//! would have. rand's generators only serialize behind a feature this crate
//! does not enable, so this is xoshiro256++ (Blackman and Vigna), seeded
//! through SplitMix64 as its authors recommend.

use serde::{Deserialize, Serialize};

/// xoshiro256++: period 2^256 - 1, passes BigCrush, 4 words of state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct StreamRng {
    state: [u64; 4],
}

/// Scales the top 53 bits of a word to [0, 1).
const UNIT: f64 = 1.0 / (1u64 << 53) as f64;

impl StreamRng {
    /// A generator whose stream is a function of `seed` only.
    pub(super) fn seed_from_u64(seed: u64) -> StreamRng {
        let mut mix = seed;
        let mut next = || {
            mix = mix.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = mix;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        // SplitMix64 never yields four zero words in a row, so the
        // all-zero state (a fixed point of xoshiro) cannot occur.
        StreamRng {
            state: [next(), next(), next(), next()],
        }
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        let [s0, s1, s2, s3] = &mut self.state;
        let result = s0.wrapping_add(*s3).rotate_left(23).wrapping_add(*s0);
        let t = *s1 << 17;
        *s2 ^= *s0;
        *s3 ^= *s1;
        *s1 ^= *s2;
        *s0 ^= *s3;
        *s2 ^= t;
        *s3 = s3.rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    pub(super) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * UNIT
    }

    /// Uniform in (0, 1): safe to take the logarithm of, twice.
    pub(super) fn open_unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * UNIT
    }

    /// Whether the state is usable (not all zero).
    pub(super) fn is_valid(&self) -> bool {
        self.state != [0; 4]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_xoshiro256plusplus_stream() {
        // First outputs of the reference C implementation for state 1, 2, 3, 4.
        let mut rng = StreamRng {
            state: [1, 2, 3, 4],
        };
        let first: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        assert_eq!(first, [41_943_041, 58_720_359, 3_588_806_011_781_223]);
    }

    #[test]
    fn unit_draws_stay_in_their_intervals() {
        let mut rng = StreamRng::seed_from_u64(9);
        for _ in 0..10_000 {
            let closed = rng.unit();
            assert!((0.0..1.0).contains(&closed));
            let open = rng.open_unit();
            assert!(open > 0.0 && open < 1.0);
        }
    }
}
