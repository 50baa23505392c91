//! Added tokens (special or not) cut out of the text before anything else, as Hugging Face's
//! `AddedVocabulary` does: first the tokens marked `normalized: false`, matched on the raw
//! text; then, in each remaining stretch once normalized, the tokens marked `normalized: true`.
//! Both passes take the leftmost-longest match.

use aho_corasick::{AhoCorasick, MatchKind};

/// One set of added tokens matched together.
#[derive(Debug)]
pub(crate) struct AddedSet {
    matcher: Option<AhoCorasick>,
    ids: Vec<u32>,
}

/// A stretch of text, or an added token found in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Segment<'t> {
    Text(&'t str),
    Token(u32),
}

impl AddedSet {
    pub(crate) fn new(tokens: Vec<(String, u32)>) -> Result<Self, String> {
        if tokens.is_empty() {
            return Ok(Self {
                matcher: None,
                ids: Vec::new(),
            });
        }
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(tokens.iter().map(|(content, _)| content.as_str()))
            .map_err(|error| format!("added tokens ({error})"))?;
        Ok(Self {
            matcher: Some(matcher),
            ids: tokens.into_iter().map(|(_, id)| id).collect(),
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
        let mut last = 0;
        for found in matcher.find_iter(text) {
            if found.start() > last {
                segment(Segment::Text(&text[last..found.start()]));
            }
            segment(Segment::Token(self.ids[found.pattern().as_usize()]));
            last = found.end();
        }
        if last < text.len() {
            segment(Segment::Text(&text[last..]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftmost_longest_tokens_split_the_text() {
        let set = AddedSet::new(vec![
            ("<a>".into(), 7),
            ("<a><b>".into(), 8),
            ("b".into(), 9),
        ])
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
}
