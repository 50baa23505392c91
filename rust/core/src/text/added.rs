//! Added tokens (special or not) cut out of the text before anything else, as Hugging Face's
//! `AddedVocabulary` does: first the tokens marked `normalized: false`, matched on the raw
//! text; then, in each remaining stretch once normalized, the tokens marked `normalized: true`.
//! Both passes take the leftmost-longest match, then apply each token's flags as Hugging Face
//! does: `single_word` drops a match touching a word character, `lstrip` / `rstrip` take the
//! whitespace on that side into the token.

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, MatchKind};
use regex_automata::meta::Regex;

/// An added token as the matcher needs it.
#[derive(Debug, Clone)]
pub(crate) struct AddedToken {
    pub(crate) content: String,
    pub(crate) id: u32,
    pub(crate) single_word: bool,
    pub(crate) lstrip: bool,
    pub(crate) rstrip: bool,
}

/// One set of added tokens matched together.
#[derive(Debug)]
pub(crate) struct AddedSet {
    matcher: Option<AhoCorasick>,
    tokens: Vec<AddedToken>,
}

/// Hugging Face's own tests for the flags (`regex` crate semantics, as here).
struct Edges {
    starts_with_word: Regex,
    ends_with_word: Regex,
    trailing_space: Regex,
    leading_space: Regex,
}

fn edges() -> &'static Edges {
    static EDGES: OnceLock<Edges> = OnceLock::new();
    EDGES.get_or_init(|| {
        let build = |pattern| Regex::new(pattern).expect("a fixed, valid pattern");
        Edges {
            starts_with_word: build(r"^\w"),
            ends_with_word: build(r"\w$"),
            trailing_space: build(r"\s*$"),
            leading_space: build(r"^\s*"),
        }
    })
}

/// A stretch of text, or an added token found in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Segment<'t> {
    Text(&'t str),
    Token(u32),
}

impl AddedSet {
    pub(crate) fn new(tokens: Vec<AddedToken>) -> Result<Self, String> {
        if tokens.is_empty() {
            return Ok(Self {
                matcher: None,
                tokens,
            });
        }
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(tokens.iter().map(|token| token.content.as_str()))
            .map_err(|error| format!("added tokens ({error})"))?;
        Ok(Self {
            matcher: Some(matcher),
            tokens,
        })
    }

    /// Calls `segment` with the stretches of `text` and the tokens between them, in order
    /// (empty stretches are skipped).
    pub(crate) fn split<'t>(&self, text: &'t str, segment: &mut dyn FnMut(Segment<'t>)) {
        let Some(matcher) = &self.matcher else {
            if !text.is_empty() {
                segment(Segment::Text(text));
            }
            return;
        };
        let edges = edges();
        let mut last = 0;
        for found in matcher.find_iter(text) {
            let token = &self.tokens[found.pattern().as_usize()];
            let (mut start, mut end) = (found.start(), found.end());
            if token.single_word
                && ((start > 0 && edges.ends_with_word.is_match(&text[..start]))
                    || (end < text.len() && edges.starts_with_word.is_match(&text[end..])))
            {
                continue;
            }
            if token.lstrip {
                let spaces = edges.trailing_space.find(&text[..start]);
                start = spaces.map_or(start, |m| m.start()).max(last);
            }
            if token.rstrip {
                end += edges
                    .leading_space
                    .find(&text[end..])
                    .map_or(0, |m| m.end());
            }
            if start > last {
                segment(Segment::Text(&text[last..start]));
            }
            segment(Segment::Token(token.id));
            last = end;
        }
        if last < text.len() {
            segment(Segment::Text(&text[last..]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(content: &str, id: u32, single_word: bool, lstrip: bool, rstrip: bool) -> AddedToken {
        AddedToken {
            content: content.into(),
            id,
            single_word,
            lstrip,
            rstrip,
        }
    }

    #[test]
    fn leftmost_longest_tokens_split_the_text() {
        let plain = |content: &str, id| token(content, id, false, false, false);
        let set = AddedSet::new(vec![plain("<a>", 7), plain("<a><b>", 8), plain("b", 9)])
            .expect("builds");
        let mut out = Vec::new();
        set.split("x<a><b>y<a>b", &mut |s| out.push(s));
        assert_eq!(
            out,
            [
                Segment::Text("x"),
                Segment::Token(8),
                Segment::Text("y"),
                Segment::Token(7),
                Segment::Token(9)
            ]
        );
    }

    #[test]
    fn flags_strip_spaces_and_keep_single_words() {
        let set = AddedSet::new(vec![
            token("<m>", 1, false, true, false),
            token("[r]", 2, false, false, true),
            token("w", 3, true, false, false),
        ])
        .expect("builds");
        let mut out = Vec::new();
        set.split("a  <m>[r]  b w xw", &mut |s| out.push(s));
        assert_eq!(
            out,
            [
                Segment::Text("a"),
                Segment::Token(1),
                Segment::Token(2),
                Segment::Text("b "),
                Segment::Token(3),
                Segment::Text(" xw"),
            ]
        );
    }
}
