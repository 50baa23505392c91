//! A pre-tokenizer regex compiled once, without backtracking.
//!
//! Hugging Face compiles these patterns with Oniguruma, a backtracking engine; they are
//! alternations whose branches are tried in order (leftmost-first). We compile each top-level
//! branch as one pattern of a `regex-automata` multi-pattern regex, which keeps that order
//! and runs as a lazy DFA. The one lookaround byte-level BPE patterns use, `\s+(?!\S)` (a
//! whitespace run that leaves its last character to the next piece when a non-space follows),
//! becomes two branches, the way github/rust-gems' `bpe-openai` rewrites it: `\s+\z` (the run
//! ends the text) and `\s+\s`, whose match gives back its last character.

use regex_automata::meta::Regex;
use regex_automata::Input;

const LOOKAHEAD_WHITESPACE: &str = r"\s+(?!\S)";

/// A compiled pre-tokenizer pattern.
#[derive(Debug)]
pub(crate) struct Pattern {
    regex: Regex,
    /// Per branch: whether its match gives back its last character.
    gives_back: Vec<bool>,
}

impl Pattern {
    /// Compiles an Oniguruma-style pattern; `Err` names what can not be reproduced exactly.
    pub(crate) fn new(pattern: &str) -> Result<Self, String> {
        let mut branches = Vec::new();
        let mut gives_back = Vec::new();
        for branch in top_level_branches(pattern) {
            if branch == LOOKAHEAD_WHITESPACE {
                branches.extend([r"\s+\z", r"\s+\s"]);
                gives_back.extend([false, true]);
            } else if ["(?=", "(?!", "(?<=", "(?<!", "(?>"]
                .iter()
                .any(|look| branch.contains(look))
            {
                return Err(format!("regex branch {branch:?} (lookaround)"));
            } else {
                branches.push(branch);
                gives_back.push(false);
            }
        }
        let regex =
            Regex::new_many(&branches).map_err(|error| format!("regex {pattern:?} ({error})"))?;
        Ok(Self { regex, gives_back })
    }

    /// A pattern matching `literal` exactly.
    pub(crate) fn literal(literal: &str) -> Result<Self, String> {
        Self::new(&escape(literal))
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

fn escape(literal: &str) -> String {
    let mut out = String::with_capacity(literal.len());
    for ch in literal.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(ch) {
            out.push('\\');
        }
        out.push(ch);
    }
    out
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
        let pattern = Pattern::new(pattern).expect("pattern compiles");
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
    fn other_lookarounds_are_refused() {
        assert!(Pattern::new(r"a(?=b)|c").is_err());
        assert!(Pattern::new(r"(?<!x)y").is_err());
    }

    #[test]
    fn literal_patterns_match_themselves() {
        assert_eq!(pieces_literal("a.b", "xa.bya+b"), ["x", "a.b", "ya+b"]);
    }

    fn pieces_literal(literal: &str, text: &str) -> Vec<String> {
        let pattern = Pattern::literal(literal).expect("literal compiles");
        let mut out = Vec::new();
        pattern.split(text, &mut |piece| out.push(piece.to_string()));
        out
    }
}
