//! Fast hashers: a multiplicative one for dense `u32` ids and a seeded one for task keys.
//! Ids are not attacker-chosen; keys are, so their hasher is keyed with per-process secrets.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Rotate-xor-multiply hasher in the style of rustc's FxHasher, for integer keys.
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(buf));
        }
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // Fold the well-mixed high bits down: hashbrown reads both ends of the hash.
        self.hash ^ (self.hash >> 32)
    }
}

/// Builder for [`FxHasher`].
pub type FxBuild = BuildHasherDefault<FxHasher>;
/// A `HashMap` keyed by scheduler-assigned integers.
pub type FxMap<K, V> = HashMap<K, V, FxBuild>;
/// A `HashSet` of scheduler-assigned integers.
pub type FxSet<K> = HashSet<K, FxBuild>;

/// Seeded hasher for task keys (strings): folded 64x64->128 multiplies over 16-byte blocks,
/// with two per-process random secrets so that colliding keys cannot be precomputed.
#[derive(Clone, Copy)]
pub struct KeyHasher {
    s: u64,
    k0: u64,
}

/// Builder for [`KeyHasher`], holding the per-process secrets.
#[derive(Clone, Copy, Debug)]
pub struct KeyBuild {
    k0: u64,
    k1: u64,
}

impl Default for KeyBuild {
    fn default() -> Self {
        use std::hash::BuildHasher;
        let r = std::collections::hash_map::RandomState::new();
        KeyBuild {
            k0: r.hash_one(0x5eed_u64) | 1,
            k1: r.hash_one(0xf00d_u64),
        }
    }
}

impl std::hash::BuildHasher for KeyBuild {
    type Hasher = KeyHasher;

    #[inline]
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher {
            s: self.k1,
            k0: self.k0,
        }
    }
}

#[inline]
fn mum(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

const P0: u64 = 0xa076_1d64_78bd_642f;
const P1: u64 = 0xe703_7ed1_a0b4_28db;

impl Hasher for KeyHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut s = self.s ^ (bytes.len() as u64).wrapping_mul(P1);
        let mut blocks = bytes.chunks_exact(16);
        for b in &mut blocks {
            let (lo, hi) = b.split_at(8);
            let a = u64::from_le_bytes(lo.try_into().unwrap_or_default());
            let c = u64::from_le_bytes(hi.try_into().unwrap_or_default());
            s = mum(a ^ self.k0, c ^ s ^ P0);
        }
        let rest = blocks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 16];
            buf[..rest.len()].copy_from_slice(rest);
            let (lo, hi) = buf.split_at(8);
            let a = u64::from_le_bytes(lo.try_into().unwrap_or_default());
            let c = u64::from_le_bytes(hi.try_into().unwrap_or_default());
            s = mum(a ^ self.k0, c ^ s ^ P0);
        }
        self.s = s;
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.s = mum(self.s ^ u64::from(i) ^ P1, self.k0);
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.s = mum(self.s ^ i ^ P1, self.k0);
    }

    #[inline]
    fn finish(&self) -> u64 {
        mum(self.s ^ P0, self.k0 ^ P1)
    }
}
