//! The least-recently-used order of a full codebook's entries, for `Eviction::Lru`: a doubly
//! linked list over entry indices, so that using an entry, evicting the oldest and placing a
//! new entry are each a few writes.
//!
//! The codebook keeps every entry older than its ancestors (an entry's use is a use of each of
//! its prefixes, touched after it), so the oldest entry is always a leaf: evicting it leaves
//! the trie whole.

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Recency {
    /// `newer[k]` / `older[k]`: entry `k`'s neighbours, `NIL` past either end.
    newer: Vec<u32>,
    older: Vec<u32>,
    newest: u32,
    oldest: u32,
}

impl Recency {
    /// The order `oldest_first` lists (a permutation of `0..len`).
    pub(crate) fn from_order(oldest_first: &[u32]) -> Self {
        let len = oldest_first.len();
        let mut recency = Self {
            newer: vec![NIL; len],
            older: vec![NIL; len],
            newest: NIL,
            oldest: NIL,
        };
        for &k in oldest_first {
            recency.link_newest(k);
        }
        recency
    }

    fn some(k: u32) -> Option<u32> {
        (k != NIL).then_some(k)
    }

    pub(crate) fn oldest(&self) -> Option<u32> {
        Self::some(self.oldest)
    }

    /// The entry used just after `k`.
    pub(crate) fn newer(&self, k: u32) -> Option<u32> {
        Self::some(self.newer[k as usize])
    }

    /// The entry used just before `k`.
    pub(crate) fn older(&self, k: u32) -> Option<u32> {
        Self::some(self.older[k as usize])
    }

    /// Every entry, oldest first.
    pub(crate) fn order(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.newer.len());
        let mut k = self.oldest();
        while let Some(entry) = k {
            out.push(entry);
            k = self.newer(entry);
        }
        out
    }

    fn unlink(&mut self, k: u32) {
        let (newer, older) = (self.newer[k as usize], self.older[k as usize]);
        match newer {
            NIL => self.newest = older,
            newer => self.older[newer as usize] = older,
        }
        match older {
            NIL => self.oldest = newer,
            older => self.newer[older as usize] = newer,
        }
    }

    fn link_newest(&mut self, k: u32) {
        self.newer[k as usize] = NIL;
        self.older[k as usize] = self.newest;
        match self.newest {
            NIL => self.oldest = k,
            newest => self.newer[newest as usize] = k,
        }
        self.newest = k;
    }

    /// Marks `k` as just used.
    #[inline]
    pub(crate) fn make_newest(&mut self, k: u32) {
        if self.newest != k {
            self.unlink(k);
            self.link_newest(k);
        }
    }

    /// Moves `k` to just older than `anchor` (another entry).
    pub(crate) fn place_below(&mut self, k: u32, anchor: u32) {
        self.unlink(k);
        let older = self.older[anchor as usize];
        self.newer[k as usize] = anchor;
        self.older[k as usize] = older;
        self.older[anchor as usize] = k;
        match older {
            NIL => self.oldest = k,
            older => self.newer[older as usize] = k,
        }
    }

    /// Moves `k` to just newer than `older` (to the oldest end for `None`): undoes the last
    /// move of `k`, made when `older` was the entry used just before it.
    pub(crate) fn restore(&mut self, k: u32, older: Option<u32>) {
        self.unlink(k);
        let newer = match older {
            Some(older) => self.newer[older as usize],
            None => self.oldest,
        };
        self.older[k as usize] = older.unwrap_or(NIL);
        self.newer[k as usize] = newer;
        match older {
            Some(older) => self.newer[older as usize] = k,
            None => self.oldest = k,
        }
        match newer {
            NIL => self.newest = k,
            newer => self.older[newer as usize] = k,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_keep_a_consistent_order() {
        let mut recency = Recency::from_order(&[3, 0, 2, 1]);
        assert_eq!(recency.order(), [3, 0, 2, 1]);
        recency.make_newest(0);
        assert_eq!(recency.order(), [3, 2, 1, 0]);
        recency.make_newest(3);
        assert_eq!(recency.order(), [2, 1, 0, 3]);
        recency.make_newest(3);
        assert_eq!(recency.order(), [2, 1, 0, 3]);
        recency.place_below(2, 3);
        assert_eq!(recency.order(), [1, 0, 2, 3]);
        recency.place_below(3, 1);
        assert_eq!(recency.order(), [3, 1, 0, 2]);
        assert_eq!(recency.oldest(), Some(3));
        assert_eq!(recency.newer(0), Some(2));
        assert_eq!(recency.newer(2), None);
        recency.restore(3, None);
        assert_eq!(recency.order(), [3, 1, 0, 2]);
        recency.restore(2, Some(3));
        assert_eq!(recency.order(), [3, 2, 1, 0]);
        recency.restore(3, Some(0));
        assert_eq!(recency.order(), [2, 1, 0, 3]);
        assert_eq!(recency.older(1), Some(2));
        assert_eq!(recency.older(2), None);
        let mut single = Recency::from_order(&[0]);
        single.restore(0, None);
        assert_eq!(single.order(), [0]);
        single.make_newest(0);
        assert_eq!(single.order(), [0]);
    }
}
