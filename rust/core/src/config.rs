use std::sync::Arc;

use crate::error::{Error, Result};

/// Largest `initial_vocab_size + max_codebook_size`: every id fits an `i32`.
pub const MAX_TOTAL_VOCAB: u64 = i32::MAX as u64;
/// Longest hypertoken, in base tokens, a config may ask for.
pub const MAX_SUBTOKENS_LIMIT: usize = u16::MAX as usize;

/// What a full codebook does with a new entry (see `docs/codec.md`, "Eviction").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Eviction {
    /// A full codebook is frozen: the paper authors' behaviour, and the only one their format
    /// can express.
    #[default]
    None,
    /// A new entry takes the slot of the least recently used leaf: the entry that has gone
    /// longest without being emitted (itself or an entry extending it) or created.
    Lru,
}

impl Eviction {
    /// Every policy, in the order their names are listed.
    pub const ALL: [Self; 2] = [Self::None, Self::Lru];

    /// The policy's name in configs and settings files.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Lru => "lru",
        }
    }

    /// The policy called `name`; unknown names are an [`Error::InvalidConfig`] listing the known.
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|policy| policy.name() == name)
            .ok_or_else(|| {
                let known: Vec<String> = Self::ALL
                    .iter()
                    .map(|policy| format!("{:?}", policy.name()))
                    .collect();
                let known = known.join(", ");
                Error::InvalidConfig(format!("eviction must be one of {known}; got {name:?}"))
            })
    }
}

impl std::fmt::Display for Eviction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The parameters of the codec. Immutable once validated; cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompressionConfig {
    initial_vocab_size: u32,
    max_codebook_size: u32,
    max_subtokens: usize,
    disabled_ids: Arc<[u32]>,
    pad_token_id: Option<u32>,
    eviction: Eviction,
    disabled_bits: Arc<[u64]>,
}

impl CompressionConfig {
    /// Validates and builds a config that never evicts (see [`Self::with_eviction`]).
    /// `pad_token_id` is always treated as disabled. `disabled_ids` may be in any order and
    /// contain repeats.
    pub fn new(
        initial_vocab_size: u32,
        max_codebook_size: u32,
        max_subtokens: usize,
        disabled_ids: impl IntoIterator<Item = u32>,
        pad_token_id: Option<u32>,
    ) -> Result<Self> {
        let invalid = |message: String| Err(Error::InvalidConfig(message));
        if initial_vocab_size == 0 {
            return invalid("initial_vocab_size must be at least 1".into());
        }
        let total = u64::from(initial_vocab_size) + u64::from(max_codebook_size);
        if total > MAX_TOTAL_VOCAB {
            return invalid(format!(
                "initial_vocab_size + max_codebook_size must be at most {MAX_TOTAL_VOCAB}, got {total}"
            ));
        }
        if !(1..=MAX_SUBTOKENS_LIMIT).contains(&max_subtokens) {
            return invalid(format!(
                "max_subtokens must be between 1 and {MAX_SUBTOKENS_LIMIT}, got {max_subtokens}"
            ));
        }
        let mut disabled_ids: Vec<u32> = disabled_ids.into_iter().collect();
        if let Some(index) = disabled_ids.iter().position(|&id| id >= initial_vocab_size) {
            let bad = disabled_ids[index];
            return invalid(format!(
                "disabled_ids[{index}] = {bad} is not a base id (initial_vocab_size is {initial_vocab_size})"
            ));
        }
        if let Some(pad) = pad_token_id {
            if pad >= initial_vocab_size {
                return invalid(format!(
                    "pad_token_id {pad} is not a base id (initial_vocab_size is {initial_vocab_size})"
                ));
            }
        }
        disabled_ids.sort_unstable();
        disabled_ids.dedup();
        let mut disabled_bits = vec![0u64; (initial_vocab_size as usize).div_ceil(64)];
        for id in disabled_ids.iter().copied().chain(pad_token_id) {
            disabled_bits[id as usize / 64] |= 1 << (id % 64);
        }
        Ok(Self {
            initial_vocab_size,
            max_codebook_size,
            max_subtokens,
            disabled_ids: disabled_ids.into(),
            pad_token_id,
            eviction: Eviction::None,
            disabled_bits: disabled_bits.into(),
        })
    }

    /// The same config with another eviction policy.
    pub fn with_eviction(self, eviction: Eviction) -> Self {
        Self { eviction, ..self }
    }

    /// `V`: the base vocabulary size; base ids are `0..V`.
    pub fn initial_vocab_size(&self) -> u32 {
        self.initial_vocab_size
    }

    /// `C`: how many hypertokens a codebook may hold; hypertoken ids are `V..V + C`.
    pub fn max_codebook_size(&self) -> u32 {
        self.max_codebook_size
    }

    /// `M`: the longest hypertoken, in base tokens.
    pub fn max_subtokens(&self) -> usize {
        self.max_subtokens
    }

    /// The ids never merged, sorted and without repeats (the pad id is kept apart).
    pub fn disabled_ids(&self) -> &[u32] {
        &self.disabled_ids
    }

    pub fn pad_token_id(&self) -> Option<u32> {
        self.pad_token_id
    }

    /// What a full codebook does with a new entry.
    pub fn eviction(&self) -> Eviction {
        self.eviction
    }

    /// `V + C`: every valid id is below this.
    pub fn total_vocab_size(&self) -> u32 {
        self.initial_vocab_size + self.max_codebook_size
    }

    /// Whether `id` (a base id) is never merged: a disabled id or the pad id.
    #[inline]
    pub fn is_disabled(&self, id: u32) -> bool {
        self.disabled_bits[id as usize / 64] & (1 << (id % 64)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_each_bad_field() {
        assert!(CompressionConfig::new(0, 1, 2, [], None).is_err());
        assert!(CompressionConfig::new(10, 1, 0, [], None).is_err());
        assert!(CompressionConfig::new(10, 1, 2, [10], None).is_err());
        assert!(CompressionConfig::new(10, 1, 2, [], Some(10)).is_err());
        assert!(CompressionConfig::new(u32::MAX, 1, 2, [], None).is_err());
        assert!(CompressionConfig::new(10, 0, 1, [], None).is_ok());
    }

    #[test]
    fn pad_and_disabled_ids_are_disabled() {
        let config = CompressionConfig::new(130, 4, 3, [129, 3, 3], Some(64)).unwrap();
        assert_eq!(config.disabled_ids(), &[3, 129]);
        let disabled: Vec<u32> = (0..130).filter(|&id| config.is_disabled(id)).collect();
        assert_eq!(disabled, vec![3, 64, 129]);
    }

    #[test]
    fn eviction_policies_have_names_and_default_to_none() {
        let config = CompressionConfig::new(10, 4, 3, [], None).unwrap();
        assert_eq!(config.eviction(), Eviction::None);
        let lru = config.clone().with_eviction(Eviction::Lru);
        assert_eq!(lru.eviction(), Eviction::Lru);
        assert_ne!(lru, config);
        for policy in Eviction::ALL {
            assert_eq!(Eviction::from_name(policy.name()).unwrap(), policy);
        }
        let error = Eviction::from_name("LRU").unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with(r#"eviction must be one of "none", "lru"; got "LRU""#),
            "{error}"
        );
    }
}
