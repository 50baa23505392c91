use std::collections::HashMap;

use crate::child_table::{ChildTable, Vacant};
use crate::config::{CompressionConfig, Eviction};
use crate::error::{Error, Result};
use crate::limits::{check, MAX_RESULT_IDS};
use crate::recency::{order_when_full, Mark, Recency};

/// Tables start at most this big and double as entries arrive, so a huge `max_codebook_size`
/// costs nothing until a sequence really creates that many hypertokens.
const INITIAL_CAPACITY_LIMIT: usize = 4096;
/// Edges a full codebook's table has room for, per entry (the table holds twice as many
/// slots: a load factor of an eighth)...
const WIDE_ROOM: usize = 4;
/// ...up to this many edges (an 8 MiB table); larger codebooks keep a table of their own size.
const WIDE_ROOM_LIMIT: usize = 1 << 18;

/// The edges a full codebook of `entries` entries has room for.
pub(crate) fn wide_room(entries: usize) -> usize {
    entries
        .saturating_mul(WIDE_ROOM)
        .min(entries.max(WIDE_ROOM_LIMIT))
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    parent: u32,
    last: u32,
    first: u32,
    len: u16,
    slot: u32,
}

/// What an update changed in a codebook that may recycle slots, to undo it in place (a copy
/// of the codebook would cost far more than the few changes an update makes).
#[derive(Debug, Clone)]
struct Journal {
    len: usize,
    /// Where the use order stood, if the codebook kept one.
    recency: Option<Mark>,
    /// Each recycled slot and the entry it held, in order.
    replaced: Vec<(u32, Entry)>,
    /// Each entry touched in the use order and its previous stamp, in order.
    moved: Vec<(u32, u32)>,
}

/// An LZW dictionary: hypertoken `V + k` is entry `k`, stored as a trie edge from its prefix.
///
/// Every entry's prefix is a base token or another entry, so a whole entry is known from its
/// parent code and last token, and extending a known sequence by one token is one table probe.
/// Entries are created in slot order; once an evicting codebook is full, a new entry takes the
/// slot of an evicted leaf instead (see `docs/codec.md`, "Eviction").
#[derive(Debug, Clone)]
pub struct Codebook {
    initial_vocab_size: u32,
    max_codebook_size: u32,
    max_subtokens: usize,
    eviction: Eviction,
    entries: Vec<Entry>,
    children: ChildTable,
    /// False for a [`Self::snapshot`]: the table is empty and lookups scan the entries.
    indexed: bool,
    /// The order entries were last used in, kept from the moment an evicting codebook fills.
    recency: Option<Recency>,
    /// While an update that may recycle slots runs: how to undo it.
    journal: Option<Box<Journal>>,
}

impl Codebook {
    /// An empty codebook for `config`.
    pub fn new(config: &CompressionConfig) -> Self {
        Self::with_capacity(config, config.max_codebook_size() as usize)
    }

    /// A codebook whose table is sized for at most `expected_entries` (it never grows past
    /// `max_codebook_size`); sizing it to the input keeps short sequences cheap.
    pub(crate) fn with_capacity(config: &CompressionConfig, expected_entries: usize) -> Self {
        let max_codebook_size = config.max_codebook_size();
        let capacity = expected_entries
            .min(max_codebook_size as usize)
            .min(INITIAL_CAPACITY_LIMIT);
        Self {
            initial_vocab_size: config.initial_vocab_size(),
            max_codebook_size,
            max_subtokens: config.max_subtokens(),
            eviction: config.eviction(),
            entries: Vec::with_capacity(capacity),
            children: ChildTable::with_capacity(capacity),
            indexed: true,
            recency: None,
            journal: None,
        }
    }

    /// A copy of the entries without the lookup table: a fraction of the memory, for codebooks
    /// that are read (listed, expanded, compared) rather than extended. [`Self::child`] on it
    /// scans the entries; growing it (or resuming an encoder from it) rebuilds the table.
    pub fn snapshot(&self) -> Self {
        Self {
            initial_vocab_size: self.initial_vocab_size,
            max_codebook_size: self.max_codebook_size,
            max_subtokens: self.max_subtokens,
            eviction: self.eviction,
            entries: self.entries.clone(),
            children: ChildTable::with_capacity(0),
            indexed: false,
            recency: self.recency.clone(),
            journal: None,
        }
    }

    /// [`Self::snapshot`], consuming the codebook.
    pub fn into_snapshot(self) -> Self {
        Self {
            children: ChildTable::with_capacity(0),
            indexed: false,
            journal: None,
            ..self
        }
    }

    /// Rebuilds the lookup table of a snapshot (a no-op on an indexed codebook), as wide as a
    /// full codebook's where this one is full.
    pub(crate) fn reindex(&mut self) {
        if !self.indexed {
            let room = if self.is_full() {
                wide_room(self.entries.len())
            } else {
                self.entries.len()
            };
            self.children = ChildTable::with_capacity(room.max(1));
            self.indexed = true;
            self.rebuild_table();
        }
    }

    /// Rebuilds a codebook from its entries' base tokens in creation order (as [`Self::iter`]
    /// lists them): each must extend a base token or an earlier entry by one base token. A
    /// codebook that has evicted needs its use order too: see [`Self::from_slots`].
    pub fn from_entries<E: AsRef<[u32]>>(
        config: &CompressionConfig,
        entries: &[E],
    ) -> Result<Self> {
        let invalid = |index: usize, why: String| {
            Err(Error::InvalidCodebook(format!("entry {index}: {why}")))
        };
        let (vocab, max_codebook_size) = (config.initial_vocab_size(), config.max_codebook_size());
        if entries.len() > max_codebook_size as usize {
            return Err(Error::InvalidCodebook(format!(
                "{} entries exceed max_codebook_size {max_codebook_size}",
                entries.len()
            )));
        }
        let max_subtokens = config.max_subtokens();
        let mut codebook = Self::with_capacity(config, entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let tokens = entry.as_ref();
            if tokens.len() < 2 || tokens.len() > max_subtokens {
                let len = tokens.len();
                return invalid(
                    index,
                    format!("its length is {len}, not between 2 and max_subtokens {max_subtokens}"),
                );
            }
            if let Some(&token) = tokens.iter().find(|&&token| token >= vocab) {
                return invalid(
                    index,
                    format!("subtoken {token} is not a base id (initial_vocab_size is {vocab})"),
                );
            }
            let (prefix, last) = tokens.split_at(tokens.len() - 1);
            let mut parent = prefix[0];
            for &token in &prefix[1..] {
                match codebook.child(parent, token) {
                    Some(code) => parent = code,
                    None => return invalid(index, "its prefix is not an earlier entry".into()),
                }
            }
            if codebook.child(parent, last[0]).is_some() {
                return invalid(index, "it repeats an earlier entry".into());
            }
            codebook.insert(parent, last[0]);
        }
        Ok(codebook)
    }

    /// Rebuilds a full codebook of an evicting config from its entries' base tokens by slot (as
    /// [`Self::iter`] lists them) and the order they were last used in ([`Self::recency_order`]:
    /// ids, least recently used first). Each entry must extend a base token or another entry by
    /// one base token, and be used before every entry it extends.
    pub fn from_slots<E: AsRef<[u32]>>(
        config: &CompressionConfig,
        entries: &[E],
        oldest_first: &[u32],
    ) -> Result<Self> {
        let invalid = |why: String| Err(Error::InvalidCodebook(why));
        let (vocab, size) = (config.initial_vocab_size(), config.max_codebook_size());
        if config.eviction() == Eviction::None {
            return invalid("a use order is kept only by an evicting codebook".into());
        }
        if entries.len() != size as usize {
            return invalid(format!(
                "a use order is kept only by a full codebook: {} entries, max_codebook_size {size}",
                entries.len()
            ));
        }
        let max_subtokens = config.max_subtokens();
        let mut slots: HashMap<&[u32], u32> = HashMap::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let tokens = entry.as_ref();
            if tokens.len() < 2 || tokens.len() > max_subtokens {
                let len = tokens.len();
                return invalid(format!(
                    "entry {index}: its length is {len}, not between 2 and max_subtokens {max_subtokens}"
                ));
            }
            if let Some(&token) = tokens.iter().find(|&&token| token >= vocab) {
                return invalid(format!(
                    "entry {index}: subtoken {token} is not a base id (initial_vocab_size is {vocab})"
                ));
            }
            if slots.insert(tokens, index as u32).is_some() {
                return invalid(format!("entry {index}: it repeats another entry"));
            }
        }
        let mut codebook = Self::with_capacity(config, entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let tokens = entry.as_ref();
            let (prefix, last) = tokens.split_at(tokens.len() - 1);
            let parent = match prefix {
                [token] => *token,
                _ => match slots.get(prefix) {
                    Some(&slot) => vocab + slot,
                    None => return invalid(format!("entry {index}: its prefix is not an entry")),
                },
            };
            codebook.entries.push(Entry {
                parent,
                last: last[0],
                first: tokens[0],
                len: tokens.len() as u16,
                slot: 0,
            });
        }
        let mut position = vec![usize::MAX; entries.len()];
        for (rank, &id) in oldest_first.iter().enumerate() {
            match id.checked_sub(vocab).filter(|&k| k < size) {
                Some(k) if position[k as usize] == usize::MAX => position[k as usize] = rank,
                _ => {
                    return invalid(format!(
                        "recency[{rank}] = {id} is not a hypertoken id, or repeats one"
                    ))
                }
            }
        }
        if oldest_first.len() != entries.len() {
            return invalid(format!(
                "the recency order lists {} ids, not every one of the {} entries",
                oldest_first.len(),
                entries.len()
            ));
        }
        for (k, entry) in codebook.entries.iter().enumerate() {
            if let Some(parent) = entry.parent.checked_sub(vocab) {
                if position[parent as usize] < position[k] {
                    return invalid(format!(
                        "entry {k} is used after the entry it extends ({parent})"
                    ));
                }
            }
        }
        let order: Vec<u32> = oldest_first.iter().map(|&id| id - vocab).collect();
        codebook.recency = Some(Recency::from_order(&order));
        codebook.widen();
        Ok(codebook)
    }

    /// The codebook the lean lru codec holds ([`crate::lru_codec::LruCodec::codebook`]), as a
    /// [`Self::snapshot`] (no lookup table: [`Self::into_indexed`] builds one): entry `k`
    /// extends `edges[k].0` by the base token `edges[k].1`; a full codebook's use order is
    /// `oldest_first` (entry indices), a codebook that never filled has none.
    pub(crate) fn from_lean(
        config: &CompressionConfig,
        edges: &[(u32, u32)],
        oldest_first: Option<&[u32]>,
    ) -> Self {
        let mut codebook = Self::with_capacity(config, 0).into_snapshot();
        let vocab = config.initial_vocab_size();
        codebook.entries.reserve_exact(edges.len());
        for &(parent, last) in edges {
            // A recycled slot may extend a later one: walk up to the base token.
            let (mut first, mut len) = (parent, 2);
            while let Some(k) = first.checked_sub(vocab) {
                first = edges[k as usize].0;
                len += 1;
            }
            codebook.entries.push(Entry {
                parent,
                last,
                first,
                len,
                slot: 0,
            });
        }
        codebook.recency = oldest_first.map(Recency::from_order);
        codebook
    }

    /// This codebook with its lookup table (built here for a snapshot).
    pub(crate) fn into_indexed(mut self) -> Self {
        self.reindex();
        self
    }

    pub fn initial_vocab_size(&self) -> u32 {
        self.initial_vocab_size
    }

    pub fn max_codebook_size(&self) -> u32 {
        self.max_codebook_size
    }

    pub fn max_subtokens(&self) -> usize {
        self.max_subtokens
    }

    /// What this codebook does with a new entry once full.
    pub fn eviction(&self) -> Eviction {
        self.eviction
    }

    /// For a full evicting codebook, every hypertoken id from the least to the most recently
    /// used; `None` before it fills or when it never evicts.
    pub fn recency_order(&self) -> Option<Vec<u32>> {
        let order = self.recency.as_ref()?.order();
        Some(
            order
                .into_iter()
                .map(|k| self.initial_vocab_size + k)
                .collect(),
        )
    }

    /// Whether a new entry takes an evicted entry's slot (an evicting codebook that is full).
    #[inline]
    pub(crate) fn recycles(&self) -> bool {
        self.recency.is_some()
    }

    /// Number of hypertokens held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.max_codebook_size as usize
    }

    /// `V + len`: every id below it exists. While the codebook has room, it is the id the next
    /// created hypertoken gets.
    pub fn next_id(&self) -> u32 {
        self.initial_vocab_size + self.entries.len() as u32
    }

    /// Whether `code` is a base id or a hypertoken that exists.
    pub fn contains(&self, code: u32) -> bool {
        code < self.next_id()
    }

    /// The code of `code`'s sequence extended by `token`, if that sequence is an entry.
    #[inline]
    pub fn child(&self, code: u32, token: u32) -> Option<u32> {
        if self.indexed {
            return self.children.get(code, token);
        }
        let k = self
            .entries
            .iter()
            .position(|entry| entry.parent == code && entry.last == token)?;
        Some(self.initial_vocab_size + k as u32)
    }

    /// The child of `code` by `token`, or where it would be stored (for [`Self::insert_at`]).
    #[inline]
    pub(crate) fn find_child(&self, code: u32, token: u32) -> Result<u32, Vacant> {
        debug_assert!(self.indexed, "encoders only hold indexed codebooks");
        self.children.find(code, token)
    }

    /// [`Self::insert`] into the slot [`Self::find_child`] just reported (no second probe).
    #[inline]
    pub(crate) fn insert_at(&mut self, code: u32, token: u32, vacant: Vacant) -> u32 {
        if self.entries.len() >= self.children.capacity() {
            return self.insert(code, token);
        }
        let id = self.next_id();
        let slot = self.children.fill(vacant, id);
        self.push_entry(code, token, slot);
        id
    }

    /// Creates the entry `code`'s sequence + `token`; the caller ensures it is new and fits.
    #[inline]
    pub(crate) fn insert(&mut self, code: u32, token: u32) -> u32 {
        self.reindex();
        if self.entries.len() >= self.children.capacity() {
            self.grow();
        }
        let id = self.next_id();
        let slot = self.children.insert(code, token, id);
        self.push_entry(code, token, slot);
        id
    }

    #[inline]
    fn push_entry(&mut self, code: u32, token: u32, slot: u32) {
        let entry = self.new_entry(code, token, slot);
        self.entries.push(entry);
        if self.is_full() {
            match self.eviction {
                Eviction::None => self.widen(),
                Eviction::Lru => self.start_recency(),
            }
        }
    }

    #[inline]
    fn new_entry(&self, code: u32, token: u32, slot: u32) -> Entry {
        let (first, len) = if code < self.initial_vocab_size {
            (code, 2)
        } else {
            let parent = self.entries[(code - self.initial_vocab_size) as usize];
            (parent.first, parent.len + 1)
        };
        Entry {
            parent: code,
            last: token,
            first,
            len,
            slot,
        }
    }

    /// The use order an evicting codebook starts with when it fills: by creation, an entry
    /// counting as used when its newest descendant was created, and below its ancestors.
    #[cold]
    fn start_recency(&mut self) {
        let vocab = self.initial_vocab_size;
        let order = order_when_full(self.entries.len(), |k| {
            self.entries[k].parent.checked_sub(vocab)
        });
        self.recency = Some(Recency::from_order(&order));
        self.widen();
    }

    /// Gives a full codebook's table [`wide_room`] (a load factor of an eighth: 256 KiB for
    /// 2,048 entries): a probe that ends at its first slot predicts well, and a full codebook
    /// is probed for every base token left in the sequence. Section (g)'s streams, C = 2048,
    /// Rust only: frozen, 212 Mtok/s encoding and 199 decoding against 112 and 104 at a half;
    /// recycling (each recycled slot deletes an edge by shifting back the rest of its probe
    /// run), 44 and 41 against 37 and 35 at a quarter.
    fn widen(&mut self) {
        self.make_room(wide_room(self.entries.len()));
    }

    /// Gives the table room for at least `edges` edges (nothing to do on a snapshot, or when
    /// it has that room).
    pub(crate) fn make_room(&mut self, edges: usize) {
        if self.indexed && edges > self.children.capacity() {
            self.children = ChildTable::with_capacity(edges);
            self.rebuild_table();
        }
    }

    /// Marks an emitted code, and every entry it extends, as just used (a no-op unless the
    /// codebook recycles slots).
    #[inline]
    pub(crate) fn touch(&mut self, code: u32) {
        if let Some(recency) = &mut self.recency {
            let mut code = code;
            while let Some(k) = code.checked_sub(self.initial_vocab_size) {
                let stamp = recency.touch(k);
                if let Some(journal) = &mut self.journal {
                    journal.moved.push((k, stamp));
                }
                code = self.entries[k as usize].parent;
            }
            recency.tidy(self.journal.is_none());
        }
    }

    /// The entry whose slot a new entry extending `pending` would take: the least recently
    /// used entry that `pending` does not extend (a leaf, as every entry is used before the
    /// entries it extends); `None` when `pending` extends them all, or nothing is evicted.
    pub(crate) fn victim(&self, pending: u32) -> Option<u32> {
        let recency = self.recency.as_ref()?;
        let vocab = self.initial_vocab_size;
        // Entries `pending` extends are older than none of its ancestors, so walking from the
        // oldest they come up deepest first: `next_on_path` is the next one expected.
        let mut next_on_path = pending;
        for k in recency.oldest_first() {
            if vocab + k != next_on_path {
                return Some(vocab + k);
            }
            next_on_path = self.entries[k as usize].parent;
        }
        None
    }

    /// For a recycling codebook, on the emission of `pending` followed by `token` (not an
    /// entry; `vacant` is where [`Self::find_child`] found room for it): marks `pending` used,
    /// then creates `pending + token` in the slot of [`Self::victim`], used just before
    /// `pending`. Returns the id it took, if any.
    pub(crate) fn recycle(&mut self, pending: u32, token: u32, vacant: Vacant) -> Option<u32> {
        let victim = self.victim(pending);
        self.replace(victim, pending, token, vacant);
        victim
    }

    /// [`Self::recycle`] with the victim already found (`None`: only marks `pending` used).
    #[inline]
    pub(crate) fn replace(
        &mut self,
        victim: Option<u32>,
        pending: u32,
        token: u32,
        vacant: Vacant,
    ) {
        let Some(victim) = victim else {
            self.touch(pending);
            return;
        };
        let k = victim - self.initial_vocab_size;
        // The new edge goes where the lookup found room, before anything moves in the table.
        let slot = self.children.fill(vacant, victim);
        let old = self.entries[k as usize];
        self.children.remove(old.parent, old.last);
        if let Some(journal) = &mut self.journal {
            journal.replaced.push((k, old));
        }
        self.entries[k as usize] = self.new_entry(pending, token, slot);
        // Used just before `pending`: touched first, then `pending` and its prefixes.
        if let Some(recency) = &mut self.recency {
            let stamp = recency.touch(k);
            if let Some(journal) = &mut self.journal {
                journal.moved.push((k, stamp));
            }
        }
        self.touch(pending);
    }

    /// Starts recording changes, so that [`Self::undo`] can take the codebook back to now.
    pub(crate) fn start_journal(&mut self) {
        self.journal = Some(Box::new(Journal {
            len: self.entries.len(),
            recency: self.recency.as_ref().map(Recency::mark),
            replaced: Vec::new(),
            moved: Vec::new(),
        }));
    }

    /// Stops recording changes and keeps them.
    pub(crate) fn drop_journal(&mut self) {
        self.journal = None;
    }

    /// Takes the codebook back to where [`Self::start_journal`] was called (a no-op without
    /// a journal), and stops recording.
    pub(crate) fn undo(&mut self) {
        let Some(journal) = self.journal.take() else {
            return;
        };
        match (&mut self.recency, journal.recency) {
            (Some(recency), Some(mark)) => recency.rewind(mark, &journal.moved),
            _ => self.recency = None,
        }
        for &(k, entry) in journal.replaced.iter().rev() {
            self.entries[k as usize] = entry;
        }
        if !journal.replaced.is_empty() {
            // Recycling moved edges around the table: the slots the entries recorded are stale.
            self.entries.truncate(journal.len);
            self.children.clear();
            self.rebuild_table();
        } else if self.entries.len() > journal.len {
            // Only appended (a full codebook appends nothing): the use order is gone with the
            // entries that filled it, and the table frees their slots in reverse.
            self.truncate(journal.len);
        }
    }

    /// Doubles the table, re-inserting edges in creation order (which keeps LIFO removal exact).
    #[cold]
    fn grow(&mut self) {
        self.children = ChildTable::with_capacity(self.children.capacity() * 2);
        self.rebuild_table();
    }

    /// Inserts every entry into the (empty) table, in creation order.
    fn rebuild_table(&mut self) {
        for (k, entry) in self.entries.iter_mut().enumerate() {
            entry.slot =
                self.children
                    .insert(entry.parent, entry.last, self.initial_vocab_size + k as u32);
        }
    }

    /// Drops every entry created after the first `len`, restoring the codebook as it was then
    /// (for a codebook that has recycled slots, only `len == 0` means that).
    pub(crate) fn truncate(&mut self, len: usize) {
        if self.recency.is_some() {
            // Evictions removed edges out of order: the slots the entries recorded are stale.
            self.entries.truncate(len);
            self.recency = None;
            self.children.clear();
            if self.indexed {
                self.rebuild_table();
            }
            return;
        }
        while self.entries.len() > len {
            if let Some(entry) = self.entries.pop() {
                if self.indexed {
                    self.children.free(entry.slot);
                }
            }
        }
    }

    /// Length in base tokens of an existing code.
    #[inline]
    pub fn code_len(&self, code: u32) -> usize {
        match code.checked_sub(self.initial_vocab_size) {
            None => 1,
            Some(k) => usize::from(self.entries[k as usize].len),
        }
    }

    /// First base token of an existing code.
    #[inline]
    pub fn first_token(&self, code: u32) -> u32 {
        match code.checked_sub(self.initial_vocab_size) {
            None => code,
            Some(k) => self.entries[k as usize].first,
        }
    }

    /// Appends the base tokens of an existing code to `out`.
    #[inline]
    pub fn extend_subtokens(&self, code: u32, out: &mut Vec<u32>) {
        // Last token first, walking up the parents, then put in order (cheaper than zeroing
        // the room first: most codes are 2 to 4 tokens).
        let start = out.len();
        out.reserve(self.code_len(code));
        let mut code = code;
        while let Some(k) = code.checked_sub(self.initial_vocab_size) {
            let entry = self.entries[k as usize];
            out.push(entry.last);
            code = entry.parent;
        }
        out.push(code);
        out[start..].reverse();
    }

    /// The base tokens of hypertoken `id`, or `None` when `id` is not an existing hypertoken.
    pub fn subtokens(&self, id: u32) -> Option<Vec<u32>> {
        if id < self.initial_vocab_size || !self.contains(id) {
            return None;
        }
        let mut out = Vec::with_capacity(self.code_len(id));
        self.extend_subtokens(id, &mut out);
        Some(out)
    }

    /// Hypertoken ids with their base tokens, in slot order (creation order until an evicting
    /// codebook recycles a slot).
    pub fn iter(&self) -> impl Iterator<Item = (u32, Vec<u32>)> + '_ {
        (0..self.entries.len() as u32).map(|k| {
            let id = self.initial_vocab_size + k;
            let mut tokens = Vec::new();
            self.extend_subtokens(id, &mut tokens);
            (id, tokens)
        })
    }

    /// Entries `from..` as a dense row-major `(n, max_subtokens)` matrix, padded with `fill`;
    /// refused when it would exceed [`crate::limits::MAX_RESULT_IDS`] cells.
    pub fn dense_rows<T: Copy + From<u32>>(&self, from: usize, fill: T) -> Result<Vec<T>> {
        let mut out = Vec::new();
        self.extend_dense_rows(from, fill, &mut out)?;
        Ok(out)
    }

    /// [`Self::dense_rows`] appended to `out`.
    pub(crate) fn extend_dense_rows<T: Copy + From<u32>>(
        &self,
        from: usize,
        fill: T,
        out: &mut Vec<T>,
    ) -> Result<()> {
        let width = self.max_subtokens;
        let rows = self.entries.len().saturating_sub(from);
        check(
            || format!("a matrix of {rows} entries × max_subtokens {width}"),
            out.len() as u128 + rows as u128 * width as u128,
            MAX_RESULT_IDS,
        )?;
        let ids = (from..self.entries.len()).map(|k| self.initial_vocab_size + k as u32);
        self.fill_rows(ids, fill, out);
        Ok(())
    }

    /// The base tokens of hypertokens `ids` (existing), padded rows of `max_subtokens` appended
    /// to `out`; refused beyond [`crate::limits::MAX_RESULT_IDS`] cells.
    pub(crate) fn extend_rows_of<T: Copy + From<u32>>(
        &self,
        ids: &[u32],
        fill: T,
        out: &mut Vec<T>,
    ) -> Result<()> {
        let width = self.max_subtokens;
        check(
            || format!("a matrix of {} entries × max_subtokens {width}", ids.len()),
            out.len() as u128 + ids.len() as u128 * width as u128,
            MAX_RESULT_IDS,
        )?;
        self.fill_rows(ids.iter().copied(), fill, out);
        Ok(())
    }

    fn fill_rows<T: Copy + From<u32>>(
        &self,
        ids: impl ExactSizeIterator<Item = u32>,
        fill: T,
        out: &mut Vec<T>,
    ) {
        let width = self.max_subtokens;
        let start = out.len();
        out.resize(start + ids.len() * width, fill);
        let out = &mut out[start..];
        let mut tokens = Vec::with_capacity(width);
        for (row, id) in ids.enumerate() {
            tokens.clear();
            self.extend_subtokens(id, &mut tokens);
            for (cell, &token) in out[row * width..].iter_mut().zip(&tokens) {
                *cell = T::from(token);
            }
        }
    }
}

impl PartialEq for Codebook {
    fn eq(&self, other: &Self) -> bool {
        self.initial_vocab_size == other.initial_vocab_size
            && self.max_codebook_size == other.max_codebook_size
            && self.max_subtokens == other.max_subtokens
            && self.eviction == other.eviction
            && self.recency == other.recency
            && self.entries.len() == other.entries.len()
            && self
                .entries
                .iter()
                .zip(&other.entries)
                .all(|(a, b)| a.parent == b.parent && a.last == b.last)
    }
}

impl Eq for Codebook {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::encode;
    use crate::encoder::Encoder;

    fn config(eviction: Eviction) -> CompressionConfig {
        CompressionConfig::new(8, 64, 4, [], None)
            .expect("a valid config")
            .with_eviction(eviction)
    }

    fn long_ids() -> Vec<u32> {
        let mut seed = 99u64;
        (0..2_000)
            .map(|_| {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                ((seed >> 33) % 8) as u32
            })
            .collect()
    }

    #[test]
    fn wide_tables_are_four_times_the_entries_up_to_a_limit() {
        assert_eq!(wide_room(2048), 8192);
        assert_eq!(wide_room(WIDE_ROOM_LIMIT / 2), WIDE_ROOM_LIMIT);
        assert_eq!(wide_room(WIDE_ROOM_LIMIT * 2), WIDE_ROOM_LIMIT * 2);
    }

    /// Every entry's edge leads back to it.
    fn finds_every_entry(codebook: &Codebook) -> bool {
        codebook.entries.iter().enumerate().all(|(k, entry)| {
            codebook.child(entry.parent, entry.last) == Some(codebook.initial_vocab_size + k as u32)
        })
    }

    #[test]
    fn a_full_codebook_widens_its_table_under_either_policy() {
        for eviction in [Eviction::None, Eviction::Lru] {
            let config = config(eviction);
            let mut encoder = Encoder::with_capacity(&config, 16);
            let ids = long_ids();
            for &id in &ids[..40] {
                encoder.push(id, |_| {});
            }
            let codebook = encoder.codebook();
            assert!(!codebook.is_full());
            assert!(codebook.children.capacity() < wide_room(64), "{eviction:?}");
            for &id in &ids[40..] {
                encoder.push(id, |_| {});
            }
            let codebook = encoder.codebook();
            assert!(codebook.is_full(), "{eviction:?}");
            assert!(
                codebook.children.capacity() >= wide_room(64),
                "{eviction:?}"
            );
            assert!(finds_every_entry(codebook), "{eviction:?}");
        }
    }

    #[test]
    fn a_full_snapshot_resumes_with_a_wide_table_and_a_partial_one_with_a_tight_one() {
        let config = config(Eviction::None);
        let ids = long_ids();
        let (_, full) = encode(&config, &ids).expect("base ids");
        let (_, partial) = encode(&config, &ids[..30]).expect("base ids");
        for (codebook, wide) in [(full, true), (partial, false)] {
            let mut resumed = codebook.snapshot();
            resumed.reindex();
            assert_eq!(resumed, codebook);
            let room = wide_room(resumed.entries.len());
            assert_eq!(resumed.children.capacity() >= room, wide);
            assert!(finds_every_entry(&resumed));
        }
    }

    #[test]
    fn whole_sequence_calls_index_their_codebooks_and_the_pool_hands_out_snapshots() {
        let ids = long_ids();
        for eviction in [Eviction::None, Eviction::Lru] {
            let config = config(eviction);
            let (codes, codebook) = encode(&config, &ids).expect("base ids");
            let (_, decoded) = crate::codec::decode(&config, &codes).expect("valid ids");
            assert!(codebook.indexed && decoded.indexed, "{eviction:?}");
            assert!(
                codebook.is_full() && finds_every_entry(&codebook),
                "{eviction:?}"
            );
            let pool = crate::EncoderPool::new(&config);
            let mut out: Vec<u32> = Vec::new();
            let pooled = pool
                .encode_with_codebook_into(&ids, &mut out)
                .expect("base ids");
            assert!(!pooled.indexed, "{eviction:?}");
            assert_eq!(pooled, codebook);
            assert_eq!(
                pooled.into_indexed().children.capacity(),
                codebook.children.capacity()
            );
        }
    }

    #[test]
    fn pooled_encoders_start_wide_and_stay_exact_when_reused() {
        let config = config(Eviction::None);
        let mut pooled = Encoder::pooled(&config);
        assert!(pooled.codebook().children.capacity() >= wide_room(64));
        let ids = long_ids();
        for end in [ids.len(), 50, ids.len()] {
            let mut out: Vec<u32> = Vec::new();
            crate::codec::encode_with(&mut pooled, &ids[..end], &mut out).expect("base ids");
            let (expected, codebook) = encode(&config, &ids[..end]).expect("base ids");
            assert_eq!(out, expected);
            assert_eq!(pooled.codebook(), &codebook);
        }
    }
}
