//! A pre-tokenizer regex compiled once, at load, without backtracking and in bounded memory.
//!
//! Hugging Face compiles these patterns with Oniguruma, a backtracking engine; they are
//! alternations whose branches are tried in order (leftmost-first). Each top-level branch is
//! read as Oniguruma reads it, or refused (`oniguruma.rs`), and the branches are compiled as a
//! `regex-automata` regex, which keeps their order and runs as a lazy DFA. The one lookaround
//! byte-level BPE patterns use, `\s+(?!\S)` (a whitespace run that leaves its last character
//! to the next piece when a non-space follows), becomes two patterns of a multi-pattern regex,
//! the way github/rust-gems' `bpe-openai` rewrites it: `\s+\z` (the run ends the text) and
//! `\s+\s`, whose match gives back its last character; the branches between them are one
//! pattern each run.
//!
//! A regex's automaton grows with its pattern, and the search state that `regex-automata`
//! allocates on each thread at its first search grows with the automaton times the number of
//! patterns (two slots per pattern for every automaton state: a regex of 30,000 one-word
//! branches, one pattern each, asked for 124 GB and aborted the process). So the branches are
//! few patterns, the regex keeps no slots for groups, and the automaton is built and measured
//! here, at load: a regex whose automaton or search state would exceed its bound is refused,
//! and Hugging Face runs it. The steps before the automaton are bounded too: the pattern's
//! length and its number of character classes. The bounds hold for all the regexes of a
//! tokenizer together ([`Budget`]).

use regex_automata::meta::{self, Regex};
use regex_automata::nfa::thompson::{self, WhichCaptures};
use regex_automata::Input;
use regex_syntax::hir::Hir;

use crate::text::oniguruma;

const LOOKAHEAD_WHITESPACE: &str = r"\s+(?!\S)";

/// Most bytes of a regex as written: parsed and translated, a pattern takes about 100 bytes per
/// byte before its automaton is built and measured (byte-level BPE patterns are under 1 KiB).
pub(crate) const MAX_PATTERN_BYTES: usize = 64 << 10;
/// Most bytes of the automata of one tokenizer's regexes together (`regex-automata`'s default
/// for one regex; the supported families' take under 1 MiB).
pub(crate) const MAX_AUTOMATON_BYTES: usize = 10 << 20;
/// Most bytes of the automaton search states of one tokenizer's regexes together on one thread
/// (the supported families' need under 0.5 MiB).
pub(crate) const MAX_SEARCH_STATE_BYTES: usize = 16 << 20;
/// Bytes of the lazy DFA's cache on one thread, forward and reverse each (`regex-automata`'s
/// default; when a search fills it too often, the automaton search takes over).
const LAZY_DFA_BYTES: usize = 2 << 20;
/// Most `\s+(?!\S)` branches in one regex (byte-level BPE patterns have one): each makes two
/// patterns, and the search state has two slots per pattern per automaton state.
const MAX_LOOKAHEADS: usize = 2;
/// Characters of a pattern quoted in a message.
const SHOWN_CHARS: usize = 80;

/// What the regexes of one tokenizer may still take, together: automaton bytes, search state
/// bytes per thread, character classes.
#[derive(Debug)]
pub(crate) struct Budget {
    automaton: usize,
    search_state: usize,
    classes: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            automaton: MAX_AUTOMATON_BYTES,
            search_state: MAX_SEARCH_STATE_BYTES,
            classes: oniguruma::MAX_CLASSES,
        }
    }
}

/// A compiled pre-tokenizer pattern.
#[derive(Debug)]
pub(crate) struct Pattern {
    regex: Regex,
    /// Per pattern: whether its match gives back its last character.
    gives_back: Vec<bool>,
}

impl Pattern {
    /// Compiles an Oniguruma-style pattern within what is left of `budget`; `Err` names what
    /// can not be reproduced exactly, or the bound it would exceed.
    pub(crate) fn new(pattern: &str, budget: &mut Budget) -> Result<Self, String> {
        let refused = |why: String| format!("regex {} ({why})", shown(pattern));
        if pattern.len() > MAX_PATTERN_BYTES {
            return Err(refused(format!(
                "{} bytes long, more than the {MAX_PATTERN_BYTES} bytes allowed",
                pattern.len()
            )));
        }
        let mut patterns = Vec::new();
        let mut gives_back = Vec::new();
        let mut run = Vec::new();
        for branch in top_level_branches(pattern) {
            if branch == LOOKAHEAD_WHITESPACE {
                if gives_back.iter().filter(|&&back| back).count() == MAX_LOOKAHEADS {
                    return Err(refused(format!(
                        "more than {MAX_LOOKAHEADS} branches {LOOKAHEAD_WHITESPACE}"
                    )));
                }
                if !run.is_empty() {
                    patterns.push(Hir::alternation(std::mem::take(&mut run)));
                    gives_back.push(false);
                }
                for (rewritten, back) in [(r"\s+\z", false), (r"\s+\s", true)] {
                    patterns.push(
                        oniguruma::translate(rewritten, &mut budget.classes).map_err(refused)?,
                    );
                    gives_back.push(back);
                }
            } else if ["(?=", "(?!", "(?<=", "(?<!", "(?>"]
                .iter()
                .any(|look| branch.contains(look))
            {
                return Err(format!("regex branch {} (lookaround)", shown(branch)));
            } else {
                let hir = oniguruma::translate(branch, &mut budget.classes)
                    .map_err(|why| format!("regex branch {} ({why})", shown(branch)))?;
                run.push(hir);
            }
        }
        if !run.is_empty() || patterns.is_empty() {
            patterns.push(Hir::alternation(run));
            gives_back.push(false);
        }
        Ok(Self {
            regex: compile(&patterns, budget).map_err(refused)?,
            gives_back,
        })
    }

    /// A pattern matching `literal` exactly (Hugging Face escapes it into a regex).
    pub(crate) fn literal(literal: &str, budget: &mut Budget) -> Result<Self, String> {
        let regex = compile(&[Hir::literal(literal.as_bytes())], budget)
            .map_err(|why| format!("split string {} ({why})", shown(literal)))?;
        Ok(Self {
            regex,
            gives_back: vec![false],
        })
    }

    /// Calls `piece` with every match and every gap between matches, in order, skipping empty
    /// ones (Hugging Face's `Split` with the `Isolated` behaviour).
    pub(crate) fn split<'t>(&self, text: &'t str, piece: &mut dyn FnMut(&'t str)) {
        let mut start = 0;
        let mut last = 0;
        while start <= text.len() {
            let Some(found) = self.regex.search(&Input::new(text).range(start..)) else {
                break;
            };
            let mut end = found.end();
            if self.gives_back[found.pattern().as_usize()] {
                end -= text[..end].chars().next_back().map_or(0, char::len_utf8);
            }
            if found.start() > last {
                piece(&text[last..found.start()]);
            }
            if end > found.start() {
                piece(&text[found.start()..end]);
                start = end;
            } else {
                // An empty match: move on by one character.
                start = end + text[end..].chars().next().map_or(1, char::len_utf8);
            }
            last = end.max(last);
        }
        if last < text.len() {
            piece(&text[last..]);
        }
    }
}

/// `patterns` as one leftmost-first regex within what is left of `budget`, or why not.
fn compile(patterns: &[Hir], budget: &mut Budget) -> Result<Regex, String> {
    let over = |_| {
        format!("its automaton takes the tokenizer's regexes over the {MAX_AUTOMATON_BYTES} bytes allowed")
    };
    // The automaton alone first: its size bounds the search state before anything allocates it.
    let nfa = thompson::Compiler::new()
        .configure(
            thompson::Config::new()
                .nfa_size_limit(Some(budget.automaton))
                .which_captures(WhichCaptures::Implicit),
        )
        .build_many_from_hir(patterns)
        .map_err(|error| error.size_limit().map_or_else(|| error.to_string(), over))?;
    let search_state = search_state_bytes(nfa.states().len(), patterns.len());
    if search_state > budget.search_state {
        return Err(format!(
            "its search state, about {search_state} bytes, takes the tokenizer's regexes over \
             the {MAX_SEARCH_STATE_BYTES} bytes allowed per thread"
        ));
    }
    let config = meta::Config::new()
        // Only where a match is: no slots for the pattern's groups in the search state.
        .which_captures(WhichCaptures::Implicit)
        .nfa_size_limit(Some(budget.automaton))
        .hybrid_cache_capacity(LAZY_DFA_BYTES)
        .onepass_size_limit(Some(1 << 20))
        .dfa_size_limit(Some(40 << 10));
    let regex = meta::Builder::new()
        .configure(config)
        .build_many_from_hir(patterns)
        .map_err(|error| error.size_limit().map_or_else(|| error.to_string(), over))?;
    // The regex holds more than this automaton (its reverse, prefilters): all of it counts.
    budget.automaton = budget.automaton.saturating_sub(regex.memory_usage());
    budget.search_state -= search_state;
    Ok(regex)
}

/// About the most bytes the automaton search (`regex-automata`'s PikeVM, which the regex falls
/// back to when the lazy DFA gives up) allocates on a thread at its first search: two sets of
/// states, each with an 8-byte index and two 8-byte slots per pattern for every state, and a
/// stack of at most one 16-byte entry per state.
fn search_state_bytes(states: usize, patterns: usize) -> usize {
    states.saturating_mul(2 * (8 + 16 * patterns) + 16)
}

/// `pattern` for a message: its first characters and its length when it is long.
fn shown(pattern: &str) -> String {
    match pattern.char_indices().nth(SHOWN_CHARS) {
        Some((end, _)) => format!(
            "{:?}... ({} characters)",
            &pattern[..end],
            pattern.chars().count()
        ),
        None => format!("{pattern:?}"),
    }
}

/// The branches of a pattern's top-level alternation (the whole pattern if it has none).
fn top_level_branches(pattern: &str) -> Vec<&str> {
    let bytes = pattern.as_bytes();
    let mut branches = Vec::new();
    let (mut depth, mut class, mut start, mut i) = (0usize, 0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'[' => {
                class += 1;
                // A `]` right after `[` or `[^` is a literal.
                if bytes.get(i + 1) == Some(&b'^') {
                    i += 1;
                }
                if bytes.get(i + 1) == Some(&b']') {
                    i += 1;
                }
            }
            b']' if class > 0 => class -= 1,
            b'(' if class == 0 => depth += 1,
            b')' if class == 0 => depth = depth.saturating_sub(1),
            b'|' if class == 0 && depth == 0 => {
                branches.push(&pattern[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    branches.push(&pattern[start..]);
    branches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(pattern: &str, text: &str) -> Vec<String> {
        let pattern = Pattern::new(pattern, &mut Budget::default()).expect("pattern compiles");
        let mut out = Vec::new();
        pattern.split(text, &mut |piece| out.push(piece.to_string()));
        out
    }

    const GPT2: &str =
        r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    #[test]
    fn branches_ignore_bars_in_classes_groups_and_escapes() {
        assert_eq!(
            top_level_branches(r"a|[|\]]|(b|c)|\||d"),
            [r"a", r"[|\]]", r"(b|c)", r"\|", "d"]
        );
        assert_eq!(top_level_branches(r"[]|]|x"), [r"[]|]", "x"]);
    }

    #[test]
    fn whitespace_lookahead_leaves_the_last_space_to_the_word() {
        assert_eq!(pieces(GPT2, "a   b"), ["a", "  ", " b"]);
        assert_eq!(pieces(GPT2, "a   "), ["a", "   "]);
        assert_eq!(pieces(GPT2, "a \n b"), ["a", " \n", " b"]);
        assert_eq!(pieces(GPT2, " x"), [" x"]);
        assert_eq!(pieces(GPT2, "it's 12"), ["it", "'s", " 12"]);
    }

    #[test]
    fn line_anchors_match_at_every_line_as_in_oniguruma() {
        assert_eq!(pieces(r"^ +", " a\n  b"), [" ", "a\n", "  ", "b"]);
        assert_eq!(pieces(r"a$", "a\na\r\na"), ["a", "\na\r\n", "a"]);
        assert_eq!(pieces(r"\Aa|a\z", "a\na\na"), ["a", "\na\n", "a"]);
    }

    #[test]
    fn other_lookarounds_are_refused() {
        assert!(Pattern::new(r"a(?=b)|c", &mut Budget::default()).is_err());
        assert!(Pattern::new(r"(?<!x)y", &mut Budget::default()).is_err());
    }

    #[test]
    fn literal_patterns_match_themselves() {
        assert_eq!(pieces_literal("a.b", "xa.bya+b"), ["x", "a.b", "ya+b"]);
    }

    fn pieces_literal(literal: &str, text: &str) -> Vec<String> {
        let pattern = Pattern::literal(literal, &mut Budget::default()).expect("literal compiles");
        let mut out = Vec::new();
        pattern.split(text, &mut |piece| out.push(piece.to_string()));
        out
    }
}
