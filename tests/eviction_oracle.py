"""A plain-Python greedy LZW with eviction, the oracle for the native codec's eviction policies
(``docs/codec.md``, "Eviction"), the way the reference compressor is the oracle of the frozen
codebook.

Written from the rules, not from the native data structures: entries are tuples of base ids in
a dict, and the least recently used entry is found by scanning timestamps. ``LZW(..., "lru")``
is the policy the codec implements; ``benches/bench_long_context.py`` also measures the other
policies here, which the codec does not implement (see the results it writes).

Imported as a top-level module (``conftest.py`` puts this folder on ``sys.path``).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

POLICIES = ("none", "lru", "lfu", "fifo", "clock")


class LZW:
    """Greedy LZW over base ids ``0 .. vocab`` with at most ``size`` entries of at most
    ``subtokens`` base ids; entry ``k`` is hypertoken ``vocab + k``.

    ``policy``: what a full codebook does when a match is emitted and ``match + next token`` is
    not an entry. ``"none"``: nothing (frozen). Otherwise the new entry takes the slot of a
    leaf (an entry no other entry extends) that the pending match does not extend, if any:

    - ``"lru"``: the leaf whose last use is oldest. An entry is used when it is created and when
      it, or an entry extending it, is emitted (except at the very end of the input); uses are
      counted from the moment the codebook fills, when each entry counts as used when its newest
      extension was created. The new entry counts as used just before the pending match.
    - ``"lfu"``: the leaf used least often (its emissions, and those of entries extending it),
      the oldest on a tie; counts halve each time ``size`` entries have been recycled.
    - ``"fifo"``: the leaf created first (uses do not count).
    - ``"clock"``: second chance. Each entry has a bit, set when the entry itself is emitted
      (its prefixes keep theirs) and cleared when it is created. A hand goes round the slots
      (at slot 0, every bit clear, when the codebook fills): the new entry takes the first leaf
      from the hand whose bit is clear, clearing the bits of the leaves it passes on the way
      (after a whole turn every bit it met is clear, so the first leaf from the hand), and the
      hand moves past that slot.
    """

    def __init__(
        self,
        vocab: int,
        size: int,
        subtokens: int,
        disabled: Iterable[int] = (),
        policy: str = "lru",
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
        self.vocab, self.size, self.subtokens = vocab, size, subtokens
        self.disabled = frozenset(disabled)
        self.policy = policy
        self.entries: list[tuple[int, ...]] = []
        self.index: dict[tuple[int, ...], int] = {}
        self.children: list[int] = []
        # Times of last use ("lru", "lfu" ties) and use counts ("lfu"), once full.
        self.stamps: list[int] | None = None
        self.counts: list[int] = []
        self.time = 0
        self.recycled = 0
        # "clock": each entry's bit, and the slot the hand is at.
        self.referenced: list[bool] = []
        self.hand = 0
        self.buffer: list[int] = []
        # Every id assigned to a new entry, in order (a recycled slot again each time).
        self.created: list[int] = []

    # ------------------------------------------------------------------------------ queries

    def code_of(self, tokens: Sequence[int]) -> int | None:
        if len(tokens) == 1:
            return tokens[0]
        return self.index.get(tuple(tokens))

    def is_full(self) -> bool:
        return len(self.entries) >= self.size

    def victim(self, pending: Sequence[int]) -> int | None:
        """The slot a new entry extending ``pending`` takes in a full codebook, if any."""
        if self.stamps is None:
            return None
        stamps = self.stamps
        candidates = [
            k
            for k, entry in enumerate(self.entries)
            if self.children[k] == 0 and entry != tuple(pending)
        ]
        if not candidates:
            return None
        if self.policy == "clock":
            return self._clock_victim(candidates)
        if self.policy == "lfu":
            return min(candidates, key=lambda k: (self.counts[k], stamps[k]))
        return min(candidates, key=lambda k: stamps[k])

    def _clock_victim(self, candidates: list[int]) -> int:
        """The first of ``candidates`` (leaves, in slot order) from the hand with a clear bit;
        the first from the hand when every one has its bit set."""
        from_hand = sorted(candidates, key=lambda k: (k < self.hand, k))
        return next((k for k in from_hand if not self.referenced[k]), from_hand[0])

    def _clock_pass(self, victim: int, pending: Sequence[int]) -> None:
        """Clears the bits of the leaves the hand passes on its way to ``victim`` (every
        leaf's, after a whole turn, when ``victim``'s own bit is set) and moves it past."""
        passed = (
            range(len(self.entries))
            if self.referenced[victim]
            else [k % len(self.entries) for k in range(self.hand, self.hand + len(self.entries))]
        )
        for k in passed:
            if k == victim and not self.referenced[victim]:
                break
            if self.children[k] == 0 and self.entries[k] != tuple(pending):
                self.referenced[k] = False
        self.hand = (victim + 1) % len(self.entries)

    def next_id(self) -> int | None:
        """The id the next created entry gets."""
        if not self.is_full():
            return self.vocab + len(self.entries)
        if not self.buffer:
            return None
        k = self.victim(self.buffer)
        return None if k is None else self.vocab + k

    def kwkwk(self) -> tuple[int, tuple[int, ...]] | None:
        """LZW's KwKwK case: the next id and the entry it stands for, when feeding it is
        valid (a match is pending, and match + its first token is new and gets a slot)."""
        if not self.buffer:
            return None
        tokens = (*self.buffer, self.buffer[0])
        next_id = self.next_id()
        if self.code_of(tokens) is not None or next_id is None:
            return None
        return next_id, tokens

    def resolve(self, id_: int) -> tuple[int, ...] | None:
        """The base ids ``id_`` stands for if fed now; ``None`` when invalid here. The KwKwK
        meaning of an id wins over the entry its slot holds until the new entry recycles it."""
        if 0 <= id_ < self.vocab:
            return (id_,)
        kwkwk = self.kwkwk()
        if kwkwk is not None and kwkwk[0] == id_:
            return kwkwk[1]
        k = id_ - self.vocab
        return self.entries[k] if 0 <= k < len(self.entries) else None

    def recency_order(self) -> list[int] | None:
        """Every id, least recently used first (an entry before the entries it extends on a
        tie), once an ``"lru"`` codebook is full."""
        if self.stamps is None or self.policy != "lru":
            return None
        stamps = self.stamps
        order = sorted(range(len(self.entries)), key=lambda k: (stamps[k], -len(self.entries[k])))
        return [self.vocab + k for k in order]

    # ------------------------------------------------------------------------------ feeding

    def _used(self, tokens: Sequence[int]) -> None:
        """An emitted match: a use of it and of every entry it extends."""
        if self.stamps is None or self.policy == "fifo":
            return
        if self.policy == "clock":
            if len(tokens) > 1:
                self.referenced[self.index[tuple(tokens)] - self.vocab] = True
            return
        self.time += 1
        for length in range(2, len(tokens) + 1):
            k = self.index[tuple(tokens[:length])] - self.vocab
            self.stamps[k] = self.time
            self.counts[k] += 1

    def _emit(self, tokens: Sequence[int], out: list[int]) -> None:
        code = self.code_of(tokens)
        assert code is not None
        out.append(code)
        self._used(tokens)

    def _link(self, k: int, tokens: tuple[int, ...], delta: int) -> None:
        if len(tokens) > 2:
            self.children[self.index[tokens[:-1]] - self.vocab] += delta

    def _create(self, tokens: tuple[int, ...]) -> None:
        if not self.is_full():
            k = len(self.entries)
            self.entries.append(tokens)
            self.children.append(0)
            self.referenced.append(False)
        elif self.policy == "none":
            return
        else:
            victim = self.victim(tokens[:-1])
            if victim is None:
                return
            k = victim
            if self.policy == "clock":
                self._clock_pass(victim, tokens[:-1])
                self.referenced[k] = False
            self._link(k, self.entries[k], -1)
            del self.index[self.entries[k]]
            self.entries[k] = tokens
            assert self.stamps is not None
            self.time += 1
            self.stamps[k] = self.time
            self.counts[k] = 0
            self._age()
        self.index[tokens] = self.vocab + k
        self._link(k, tokens, 1)
        self.created.append(self.vocab + k)
        if self.stamps is None and self.policy != "none" and self.is_full():
            self._start_stamps()

    def _start_stamps(self) -> None:
        if self.policy == "fifo":
            self.stamps = list(range(len(self.entries)))
        else:
            self.stamps = [
                max(
                    j for j in range(k, len(self.entries)) if self.entries[j][: len(entry)] == entry
                )
                for k, entry in enumerate(self.entries)
            ]
        self.counts = [0] * len(self.entries)
        self.time = len(self.entries)

    def _age(self) -> None:
        self.recycled += 1
        if self.policy == "lfu" and self.recycled % self.size == 0:
            self.counts = [count // 2 for count in self.counts]

    def push(self, token: int, out: list[int]) -> None:
        if token in self.disabled:
            if self.buffer:
                self._emit(self.buffer, out)
                self.buffer = []
            out.append(token)
            return
        self.buffer.append(token)
        if self.code_of(self.buffer) is None:
            tokens = tuple(self.buffer)
            self.buffer = [token]
            self._create(tokens)
            self._emit(tokens[:-1], out)
        if len(self.buffer) == self.subtokens:
            self._emit(self.buffer, out)
            self.buffer = []

    def finish(self, out: list[int]) -> None:
        """The end of the input emits the pending match, not counting it as a use."""
        if self.buffer:
            code = self.code_of(self.buffer)
            assert code is not None
            out.append(code)
            self.buffer = []

    def feed_id(self, id_: int) -> tuple[int, ...]:
        """Feeds the base ids of ``id_`` (valid here) and returns them."""
        tokens = self.resolve(id_)
        assert tokens is not None, id_
        for token in tokens:
            self.push(token, [])
        return tokens

    def encode(self, ids: Iterable[int]) -> list[int]:
        out: list[int] = []
        for token in ids:
            self.push(token, out)
        self.finish(out)
        return out

    def codebook(self) -> dict[int, list[int]]:
        """``{id: base ids}`` by slot, as ``Codebook.to_dict`` lists it."""
        return {self.vocab + k: list(entry) for k, entry in enumerate(self.entries)}


def last_occurrences(ids: Sequence[int]) -> list[int]:
    """``ids`` listed once each, where they last occur."""
    seen: set[int] = set()
    out: list[int] = []
    for id_ in reversed(ids):
        if id_ not in seen:
            seen.add(id_)
            out.append(id_)
    return out[::-1]


def segmentation(lzw: LZW, ids: Sequence[int], rnd: random.Random) -> list[int]:
    """A random valid (generally non-canonical) id stream for ``ids``, fed to ``lzw`` (fresh):
    at each step the base token, or a hypertoken valid there whose base ids come next."""
    stream: list[int] = []
    position = 0
    while position < len(ids):
        ahead = tuple(ids[position : position + lzw.subtokens])
        kwkwk = lzw.kwkwk()
        possible = {lzw.index.get(ahead[:length]) for length in range(2, len(ahead) + 1)}
        possible.add(None if kwkwk is None else kwkwk[0])
        candidates = sorted(
            id_
            for id_ in possible
            if id_ is not None
            and (tokens := lzw.resolve(id_)) is not None
            and ahead[: len(tokens)] == tokens
        )
        choice = rnd.choice(candidates) if candidates and rnd.random() < 0.7 else ids[position]
        position += len(lzw.feed_id(choice))
        stream.append(choice)
    return stream
