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
    /// A table that holds `capacity` edges at a load factor of at most one half.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        let size = (capacity * 2).next_power_of_two().max(2);
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
}
