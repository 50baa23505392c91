//! The least-recently-used order of a full codebook's entries, for `Eviction::Lru`: a log of
//! uses, oldest first, in which each entry's last item is its current place (its *stamp* is
//! that item's index). Using an entry is two writes (its stamp, one item appended); the items a
//! use leaves behind are stale and skipped, dropped as they reach the front, and the log is
//! rewritten without them once it holds about five times as many items as entries (amortized
//! O(1) per use, no pointer chasing).
//!
//! The codebook keeps every entry older than its ancestors (an entry's use is a use of each of
//! its prefixes, touched after it), so the oldest entry is always a leaf: evicting it leaves
//! the trie whole.

/// The log is rewritten once it holds `len + min(EXTRA × len, MAX_EXTRA) + SLACK` items: each
/// rewrite reads every item, so a longer log rewrites less often (4 × len: 1.25 reads per use
/// instead of 2 at 1 × len). Its length bounds every stamp: outside an undoable update at most
/// `C + 2^30 + 64`, and an update appends at most a few items per base token (updates expand to
/// at most 2^26), so stamps stay below `2^32` for any `C < 2^31`.
const EXTRA: usize = 4;
const SLACK: usize = 64;
const MAX_EXTRA: usize = 1 << 30;

/// The use order of a codebook of `len` entries at the moment it fills, oldest first: by
/// creation, an entry counting as used when its newest descendant was created, and older than
/// its ancestors (`parent(k)`: the entry that entry `k` extends, `None` for a base token).
pub(crate) fn order_when_full(len: usize, parent: impl Fn(usize) -> Option<u32>) -> Vec<u32> {
    let mut newest_below: Vec<u32> = (0..len as u32).collect();
    for k in (0..len).rev() {
        if let Some(p) = parent(k) {
            let p = p as usize;
            newest_below[p] = newest_below[p].max(newest_below[k]);
        }
    }
    // Sorted by (newest descendant, longest first) without a sort: the entries whose newest
    // descendant is `v` are `v` and the ancestors it is the newest descendant of, a chain
    // that walking up from `v` lists longest first.
    let mut order = Vec::with_capacity(len);
    for v in 0..len as u32 {
        let mut k = v;
        while newest_below[k as usize] == v {
            order.push(k);
            match parent(k as usize) {
                Some(p) => k = p,
                None => break,
            }
        }
    }
    order
}

/// Where the log stood, to take it back there (see [`Recency::rewind`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    head: usize,
    len: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct Recency {
    /// `stamps[k]`: the index in `log` of entry `k`'s last use.
    stamps: Vec<u32>,
    /// Entries in the order they were used (oldest first), stale items included.
    log: Vec<u32>,
    /// Items before `head` are all stale.
    head: usize,
    /// The log's length that triggers a rewrite.
    rewrite_at: usize,
}

impl Recency {
    /// The order `oldest_first` lists (a permutation of `0..len`).
    pub(crate) fn from_order(oldest_first: &[u32]) -> Self {
        let len = oldest_first.len();
        let rewrite_at = len + len.saturating_mul(EXTRA).min(MAX_EXTRA) + SLACK;
        let mut stamps = vec![0; len];
        for (rank, &k) in oldest_first.iter().enumerate() {
            stamps[k as usize] = rank as u32;
        }
        let mut log = Vec::with_capacity(rewrite_at);
        log.extend_from_slice(oldest_first);
        Self {
            stamps,
            log,
            head: 0,
            rewrite_at,
        }
    }

    #[inline]
    fn is_current(&self, index: usize) -> bool {
        self.stamps[self.log[index] as usize] as usize == index
    }

    /// Every entry, oldest first.
    #[inline]
    pub(crate) fn oldest_first(&self) -> impl Iterator<Item = u32> + '_ {
        (self.head..self.log.len())
            .filter(|&index| self.is_current(index))
            .map(|index| self.log[index])
    }

    /// Every entry, oldest first.
    pub(crate) fn order(&self) -> Vec<u32> {
        self.oldest_first().collect()
    }

    /// Marks `k` as just used; returns its previous stamp (for [`Self::rewind`]).
    #[inline]
    pub(crate) fn touch(&mut self, k: u32) -> u32 {
        let stamp = self.log.len() as u32;
        self.log.push(k);
        std::mem::replace(&mut self.stamps[k as usize], stamp)
    }

    /// Drops the stale items at the front, and rewrites the log without stale items once it
    /// is long enough (never while an update that may be undone runs: `rewrite` false).
    #[inline]
    pub(crate) fn tidy(&mut self, rewrite: bool) {
        // Ends at the oldest entry's item (a codebook of no entries has no items).
        while self.head < self.log.len() && !self.is_current(self.head) {
            self.head += 1;
        }
        if rewrite && self.log.len() >= self.rewrite_at {
            self.rewrite();
        }
    }

    #[cold]
    fn rewrite(&mut self) {
        // In place: an entry's current item is its last, so restamping it can not make a later
        // item look current, and the write index never passes the read index.
        let mut kept = 0;
        for index in self.head..self.log.len() {
            let k = self.log[index];
            if self.stamps[k as usize] as usize == index {
                self.stamps[k as usize] = kept as u32;
                self.log[kept] = k;
                kept += 1;
            }
        }
        self.log.truncate(kept);
        self.head = 0;
    }

    /// Where the log stands now.
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            head: self.head,
            len: self.log.len(),
        }
    }

    /// Takes the order back to `mark`, given each touch since (entry and previous stamp, in
    /// order) and no rewrite in between.
    pub(crate) fn rewind(&mut self, mark: Mark, touched: &[(u32, u32)]) {
        for &(k, stamp) in touched.iter().rev() {
            self.stamps[k as usize] = stamp;
        }
        self.log.truncate(mark.len);
        self.head = mark.head;
    }
}

impl PartialEq for Recency {
    /// The same order, however the logs got there.
    fn eq(&self, other: &Self) -> bool {
        self.stamps.len() == other.stamps.len() && self.oldest_first().eq(other.oldest_first())
    }
}

impl Eq for Recency {}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The order as a plain list, moved the way the codebook moves entries.
    fn touched(order: &mut Vec<u32>, k: u32) {
        order.retain(|&e| e != k);
        order.push(k);
    }

    #[test]
    fn touches_move_an_entry_to_the_newest_end() {
        let mut recency = Recency::from_order(&[3, 0, 2, 1]);
        assert_eq!(recency.order(), [3, 0, 2, 1]);
        recency.touch(0);
        assert_eq!(recency.order(), [3, 2, 1, 0]);
        recency.touch(3);
        recency.touch(3);
        recency.tidy(true);
        assert_eq!(recency.order(), [2, 1, 0, 3]);
        assert_eq!(recency.oldest_first().next(), Some(2));
    }

    proptest! {
        /// Long random touch sequences on tiny orders cross many rewrites (every 4 len + 64
        /// items) and rewinds; the order always equals a plain list's.
        #[test]
        fn the_order_matches_a_plain_list(
            len in 1usize..6,
            steps in prop::collection::vec((0u32..6, 0u8..8), 0..600),
        ) {
            let mut expected: Vec<u32> = (0..len as u32).rev().collect();
            let mut recency = Recency::from_order(&expected);
            // An update that may be undone: where it started, its touches, the order before.
            type Open = (Mark, Vec<(u32, u32)>, Vec<u32>);
            let mut open: Option<Open> = None;
            for (k, action) in steps {
                let k = k % len as u32;
                match action {
                    0 if open.is_none() => {
                        open = Some((recency.mark(), Vec::new(), expected.clone()));
                    }
                    1 => {
                        if let Some((mark, log, before)) = open.take() {
                            recency.rewind(mark, &log);
                            expected = before;
                        }
                    }
                    2 => open = None,
                    _ => {
                        let stamp = recency.touch(k);
                        if let Some((_, log, _)) = &mut open {
                            log.push((k, stamp));
                        }
                        touched(&mut expected, k);
                        recency.tidy(open.is_none());
                    }
                }
                prop_assert_eq!(recency.order(), expected.clone());
                prop_assert_eq!(recency.oldest_first().next(), expected.first().copied());
                prop_assert!(recency.log.len() <= recency.rewrite_at + 600);
            }
            prop_assert_eq!(&recency, &Recency::from_order(&expected));
        }
    }
}
