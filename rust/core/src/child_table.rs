//! Open-addressing map from (parent code, next base token) to the child code: the trie edges
//! of an LZW dictionary, one probe per lookup, no allocation after construction.
//!
//! A slot packs `key + 1` in its low 64 bits (0 marks an empty slot, so a fresh table is a
//! zeroed allocation) and the child code in its high bits.

const FIBONACCI: u64 = 0x9E37_79B9_7F4A_7C15;

/// Where a missing edge would be stored; valid until the table next changes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Vacant {
    index: usize,
    tag: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct ChildTable {
    slots: Vec<u128>,
    shift: u32,
}

#[inline]
fn tag(parent: u32, token: u32) -> u64 {
    ((u64::from(parent) << 32) | u64::from(token)) + 1
}

impl ChildTable {
    /// A table that holds `capacity` edges at a load factor of at most one half, and one edge
    /// more for a moment (recycling a slot inserts the new edge before removing the old): at
    /// least 4 slots, so that an empty slot always ends a probe.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        let size = (capacity * 2).next_power_of_two().max(4);
        Self {
            slots: vec![0; size],
            shift: 64 - size.trailing_zeros(),
        }
    }

    /// How many edges fit before the table must grow.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len() / 2
    }

    #[inline]
    fn home(&self, tag: u64) -> usize {
        (tag.wrapping_mul(FIBONACCI) >> self.shift) as usize
    }

    #[inline]
    pub(crate) fn get(&self, parent: u32, token: u32) -> Option<u32> {
        self.find(parent, token).ok()
    }

    /// The child of `(parent, token)`, or the empty slot where that edge would go.
    #[inline]
    pub(crate) fn find(&self, parent: u32, token: u32) -> Result<u32, Vacant> {
        let tag = tag(parent, token);
        let mask = self.slots.len() - 1;
        let mut index = self.home(tag);
        loop {
            let slot = self.slots[index];
            let slot_tag = slot as u64;
            if slot_tag == tag {
                return Ok((slot >> 64) as u32);
            }
            if slot_tag == 0 {
                return Err(Vacant { index, tag });
            }
            index = (index + 1) & mask;
        }
    }

    /// Fills the slot [`Self::find`] reported for an edge; returns the slot.
    #[inline]
    pub(crate) fn fill(&mut self, vacant: Vacant, child: u32) -> u32 {
        self.slots[vacant.index] = (u128::from(child) << 64) | u128::from(vacant.tag);
        vacant.index as u32
    }

    /// Inserts an edge that is not present yet; returns the slot it landed in.
    #[inline]
    pub(crate) fn insert(&mut self, parent: u32, token: u32, child: u32) -> u32 {
        let tag = tag(parent, token);
        let mask = self.slots.len() - 1;
        let mut index = self.home(tag);
        while self.slots[index] != 0 {
            index = (index + 1) & mask;
        }
        self.slots[index] = (u128::from(child) << 64) | u128::from(tag);
        index as u32
    }

    /// Empties a slot. Exact only when slots are freed in the reverse order of their insertion.
    #[inline]
    pub(crate) fn free(&mut self, slot: u32) {
        self.slots[slot as usize] = 0;
    }

    /// Removes the edge `(parent, token)`, if present, in any order: later edges of its probe
    /// run move back into the hole (backward-shift deletion, no tombstones), so the slots that
    /// [`Self::insert`] reported earlier may no longer hold their edges.
    #[inline]
    pub(crate) fn remove(&mut self, parent: u32, token: u32) {
        let Ok(mut hole) = self.position(tag(parent, token)) else {
            return;
        };
        let mask = self.slots.len() - 1;
        let mut index = hole;
        loop {
            index = (index + 1) & mask;
            let slot = self.slots[index];
            if slot as u64 == 0 {
                break;
            }
            // The edge may fill the hole when the hole lies on its probe path (home ..= index).
            let home = self.home(slot as u64);
            if index.wrapping_sub(home) & mask >= index.wrapping_sub(hole) & mask {
                self.slots[hole] = slot;
                hole = index;
            }
        }
        self.slots[hole] = 0;
    }

    /// Removes every edge.
    pub(crate) fn clear(&mut self) {
        self.slots.fill(0);
    }

    fn position(&self, tag: u64) -> Result<usize, usize> {
        let mask = self.slots.len() - 1;
        let mut index = self.home(tag);
        loop {
            let slot_tag = self.slots[index] as u64;
            if slot_tag == tag {
                return Ok(index);
            }
            if slot_tag == 0 {
                return Err(index);
            }
            index = (index + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_in_any_order_keeps_every_other_edge_reachable() {
        // A small table and many edges: long probe runs that wrap around the end.
        let mut table = ChildTable::with_capacity(64);
        let edges: Vec<(u32, u32)> = (0..64u32).map(|i| (i % 7, i * 13 % 29)).collect();
        let mut present: Vec<(u32, u32, u32)> = Vec::new();
        for (child, &(parent, token)) in edges.iter().enumerate() {
            if table.get(parent, token).is_none() {
                table.insert(parent, token, child as u32);
                present.push((parent, token, child as u32));
            }
        }
        let mut seed = 7u64;
        while !present.is_empty() {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let (parent, token, _) = present.swap_remove((seed >> 33) as usize % present.len());
            table.remove(parent, token);
            assert_eq!(table.get(parent, token), None);
            for &(parent, token, child) in &present {
                assert_eq!(table.get(parent, token), Some(child));
            }
        }
        assert!(table.slots.iter().all(|&slot| slot == 0));
    }
}
