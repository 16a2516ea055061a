//! A `slab::Slab` whose keys carry a generation.
//!
//! Every insertion takes the next value of a global (per slab) counter as the entry's
//! generation. Lookups with a [`Key`] whose generation differs from the stored one
//! fail, so stale tokens and timers for a recycled slot are ignored.

use super::token::{Key, MAX_SLOT};

pub struct GenSlab<T> {
    inner: slab::Slab<(u32, T)>,
    next_gen: u32,
}

impl<T> Default for GenSlab<T> {
    fn default() -> Self {
        GenSlab { inner: slab::Slab::new(), next_gen: 0 }
    }
}

impl<T> GenSlab<T> {
    pub fn with_capacity(n: usize) -> Self {
        GenSlab { inner: slab::Slab::with_capacity(n), next_gen: 0 }
    }

    /// The key the next [`insert`](Self::insert) will return (lets the value know
    /// its own key, e.g. to register its sockets, before it is stored).
    pub fn vacant_key(&self) -> Key {
        Key { slot: self.inner.vacant_key(), gen: self.next_gen }
    }

    /// Stores `value`; `None` when the slot index would not fit in a token.
    pub fn insert(&mut self, value: T) -> Option<Key> {
        if self.inner.vacant_key() > MAX_SLOT {
            return None;
        }
        let gen = self.next_gen;
        self.next_gen = self.next_gen.wrapping_add(1);
        let slot = self.inner.insert((gen, value));
        Some(Key { slot, gen })
    }

    pub fn get(&self, key: Key) -> Option<&T> {
        match self.inner.get(key.slot) {
            Some((g, v)) if *g == key.gen => Some(v),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        match self.inner.get_mut(key.slot) {
            Some((g, v)) if *g == key.gen => Some(v),
            _ => None,
        }
    }

    pub fn remove(&mut self, key: Key) -> Option<T> {
        match self.inner.get(key.slot) {
            Some((g, _)) if *g == key.gen => Some(self.inner.remove(key.slot).1),
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        self.inner.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    pub fn keys(&self) -> Vec<Key> {
        self.inner.iter().map(|(slot, (gen, _))| Key { slot, gen: *gen }).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = (Key, &T)> {
        self.inner.iter().map(|(slot, (gen, v))| (Key { slot, gen: *gen }, v))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (Key, &mut T)> {
        self.inner.iter_mut().map(|(slot, (gen, v))| (Key { slot, gen: *gen }, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recycled_slot_rejects_old_key() {
        let mut s = GenSlab::default();
        let a = s.insert("a").unwrap();
        assert_eq!(s.remove(a), Some("a"));
        let b = s.insert("b").unwrap();
        assert_eq!(a.slot, b.slot, "slab reuses the slot");
        assert_ne!(a.gen, b.gen);
        assert!(s.get(a).is_none());
        assert!(s.remove(a).is_none());
        assert_eq!(s.get(b), Some(&"b"));
    }

    #[test]
    fn vacant_key_predicts_insert() {
        let mut s = GenSlab::default();
        let k = s.vacant_key();
        assert_eq!(s.insert(1).unwrap(), k);
    }
}
