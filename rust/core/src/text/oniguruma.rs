//! A pre-tokenizer regex read as Oniguruma (Hugging Face's engine) reads it, or refused.
//!
//! regex-syntax and Oniguruma share most of their syntax but not all of its meaning. A branch
//! is parsed by regex-syntax, every construct whose matches could differ under Oniguruma is
//! refused (the caller then keeps Hugging Face's tokenizer), and the rest is translated with
//! `^` and `$` as line anchors, which is what they are in Oniguruma. What differs, as
//! Hugging Face `tokenizers` (Oniguruma 6.9) matches it (`tests/test_regex_parity.py`):
//!
//! - `^` matches after every `\n` but not at the very end of the text (`"a\n"` has no line
//!   start after its `\n`), so it is kept only where nothing can have been matched before it
//!   in the same match (there, a match at the end is empty and splits nothing).
//! - `\w`, `\b`, `\B`: Oniguruma's word characters are letters, marks, all numbers and
//!   connector punctuation (`²` is one, a zero-width joiner is not); regex-syntax's differ.
//! - POSIX classes (`[[:alpha:]]`) are Unicode-wide in Oniguruma, ASCII in regex-syntax;
//!   `\pL` (no braces) is not a class in Oniguruma; `\p{Greek}`-style script names cover
//!   other characters; only general categories (`\p{L}`, `\p{Nd}` ...) are read.
//! - `\U0001F600` is a literal `U` then digits in Oniguruma; `\xE9` is a byte, not `é`.
//! - `a{2}?` is `(?:a{2})?` in Oniguruma, not a lazy `a{2}`; `a{ 2}` is literal text there; a
//!   repetition of a repetition (`a*+`, `a{2}+`) is possessive or nested there.
//! - A repetition of something that can match empty (`(a|)*`) stops on an empty iteration in
//!   Oniguruma (a backtracker), not in an automaton.
//! - `(?i)` folds ß to `ss`, `ﬆ` to `st` ... (multi-character folds) when the letters are
//!   next to each other: case-insensitive parts may hold ASCII literals only, without two
//!   letters that a ligature folds to (`ss`, `st`, `ff`, `fi`, `fl`) side by side.
//! - `(?i)` alone (not `(?i:...)`) runs to the end of the group and across `|` in Oniguruma;
//!   `(?m)` is dot-all there; `(?s)`, `(?x)`, `(?U)`, `(?R)`, `(?P<name>...)` are other
//!   things or errors: only the `i` flag in a `(?i:...)` group is read.
//! - Set differences in classes (`--`, `~~`) and counts over 100,000 are errors in Oniguruma.

use regex_syntax::ast::parse::ParserBuilder;
use regex_syntax::ast::{
    Assertion, AssertionKind, Ast, ClassBracketed, ClassPerlKind, ClassSet, ClassSetBinaryOpKind,
    ClassSetItem, ClassUnicode, ClassUnicodeKind, Flag, FlagsItemKind, GroupKind, HexLiteralKind,
    Literal, LiteralKind, RepetitionKind, RepetitionRange, SpecialLiteralKind,
};
use regex_syntax::hir::translate::TranslatorBuilder;
use regex_syntax::hir::Hir;

/// General categories, the one kind of `\p{...}` both engines read alike.
const GENERAL_CATEGORIES: &[&str] = &[
    "L", "Lu", "Ll", "Lt", "Lm", "Lo", "M", "Mn", "Mc", "Me", "N", "Nd", "Nl", "No", "P", "Pc",
    "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "S", "Sm", "Sc", "Sk", "So", "Z", "Zs", "Zl", "Zp", "C",
    "Cc", "Cf", "Co", "Cn",
];

/// ASCII letter pairs that a multi-character case folding produces (ß → ss, ẞ → ss, ﬅ/ﬆ → st,
/// ﬀ → ff, ﬁ → fi, ﬂ → fl, ﬃ → ffi, ﬄ → ffl): every other such folding needs a non-ASCII
/// character in the pattern.
const FOLDED_PAIRS: &[[char; 2]] = &[['s', 's'], ['s', 't'], ['f', 'f'], ['f', 'i'], ['f', 'l']];

/// Oniguruma's largest repetition count (`ONIG_MAX_REPEAT_NUM`): a larger one makes the file
/// unreadable to Hugging Face, so the native path does not read it either.
const MAX_REPEAT: u32 = 100_000;

/// Most character classes in one tokenizer's regexes: each becomes its list of ranges when
/// translated (up to about 9 KB for a union of general categories), before the automata's own
/// bound applies.
pub(crate) const MAX_CLASSES: usize = 1024;

/// The branch as Oniguruma matches it, or why not. `classes_left` is what remains of
/// [`MAX_CLASSES`], counted before translating.
pub(crate) fn translate(branch: &str, classes_left: &mut usize) -> Result<Hir, String> {
    let ast = ParserBuilder::new()
        .empty_min_range(true)
        .build()
        .parse(branch)
        .map_err(|error| error.kind().to_string())?;
    let mut walk = Walk {
        pattern: branch,
        classes_left: *classes_left,
        ..Walk::default()
    };
    walk.ast(&ast)?;
    *classes_left = walk.classes_left;
    TranslatorBuilder::new()
        .multi_line(true)
        .build()
        .translate(branch, &ast)
        .map_err(|error| error.kind().to_string())
}

/// What the walk knows at a point of the branch.
#[derive(Default)]
struct Walk<'p> {
    pattern: &'p str,
    classes_left: usize,
    case_insensitive: bool,
    /// Whether a character may have been matched before this point of the same match.
    consumed: bool,
    /// The case-insensitive literal just before, in the pattern's order.
    previous: Option<char>,
}

impl Walk<'_> {
    fn ast(&mut self, ast: &Ast) -> Result<(), String> {
        match ast {
            Ast::Empty(_) => Ok(()),
            Ast::Flags(_) => Err("a flag set alone, as (?i) (only (?i:...) is read)".into()),
            Ast::Literal(literal) => self.literal(literal),
            Ast::Dot(_) => self.consume(),
            Ast::Assertion(assertion) => self.assertion(assertion),
            Ast::ClassUnicode(class) => {
                unicode_class(class)?;
                self.class()
            }
            Ast::ClassPerl(class) if class.kind == ClassPerlKind::Word => {
                Err(r"\w (Oniguruma's word characters differ)".into())
            }
            Ast::ClassPerl(_) => self.class(),
            Ast::ClassBracketed(class) => {
                bracketed(class)?;
                self.class()
            }
            Ast::Repetition(repetition) => {
                let what = &repetition.op.kind;
                let at_most_once = matches!(
                    what,
                    RepetitionKind::ZeroOrOne
                        | RepetitionKind::Range(
                            RepetitionRange::Exactly(0 | 1) | RepetitionRange::Bounded(_, 0 | 1)
                        )
                );
                if self.case_insensitive {
                    return Err("a repetition under (?i)".into());
                }
                if matches!(*repetition.ast, Ast::Repetition(_)) {
                    return Err("a repetition of a repetition (possessive in Oniguruma)".into());
                }
                let span = &repetition.op.span;
                let written = self
                    .pattern
                    .get(span.start.offset..span.end.offset)
                    .unwrap_or_default();
                if written.contains(char::is_whitespace) {
                    return Err(format!("{written:?} (a literal in Oniguruma)"));
                }
                if let RepetitionKind::Range(
                    RepetitionRange::Exactly(count)
                    | RepetitionRange::AtLeast(count)
                    | RepetitionRange::Bounded(_, count),
                ) = what
                {
                    if *count > MAX_REPEAT {
                        return Err(format!("a count over {MAX_REPEAT} (an error in Oniguruma)"));
                    }
                }
                if !repetition.greedy
                    && matches!(what, RepetitionKind::Range(RepetitionRange::Exactly(_)))
                {
                    return Err("{n}? (optional, not lazy, in Oniguruma)".into());
                }
                if !at_most_once && can_be_empty(&repetition.ast) {
                    return Err("a repetition of something that can match empty".into());
                }
                let before = self.consumed;
                // From the second time round, the body's first item comes after a character.
                self.consumed |= !at_most_once;
                self.previous = None;
                self.ast(&repetition.ast)?;
                self.consumed |= before;
                self.previous = None;
                Ok(())
            }
            Ast::Group(group) => {
                let outer = self.case_insensitive;
                match &group.kind {
                    GroupKind::CaptureIndex(_) => {}
                    GroupKind::CaptureName { starts_with_p, .. } if !starts_with_p => {}
                    GroupKind::CaptureName { .. } => {
                        return Err("(?P<name>...) (not Oniguruma syntax)".into())
                    }
                    GroupKind::NonCapturing(flags) => {
                        let mut on = true;
                        for item in &flags.items {
                            match item.kind {
                                FlagsItemKind::Negation => on = false,
                                FlagsItemKind::Flag(Flag::CaseInsensitive) => {
                                    self.case_insensitive = on;
                                }
                                FlagsItemKind::Flag(_) => {
                                    return Err("a flag other than i (another meaning in \
                                                Oniguruma)"
                                        .into())
                                }
                            }
                        }
                    }
                }
                let result = self.ast(&group.ast);
                self.case_insensitive = outer;
                result
            }
            Ast::Alternation(alternation) => {
                let before = self.consumed;
                let mut after = before;
                for branch in &alternation.asts {
                    self.consumed = before;
                    self.previous = None;
                    self.ast(branch)?;
                    after |= self.consumed;
                }
                self.consumed = after;
                self.previous = None;
                Ok(())
            }
            Ast::Concat(concat) => concat.asts.iter().try_for_each(|item| self.ast(item)),
        }
    }

    fn consume(&mut self) -> Result<(), String> {
        self.consumed = true;
        self.previous = None;
        Ok(())
    }

    fn class(&mut self) -> Result<(), String> {
        if self.case_insensitive {
            return Err("a class under (?i) (Oniguruma folds other characters)".into());
        }
        self.classes_left = self
            .classes_left
            .checked_sub(1)
            .ok_or(format!("more than {MAX_CLASSES} character classes"))?;
        self.consume()
    }

    fn literal(&mut self, literal: &Literal) -> Result<(), String> {
        check_literal(literal)?;
        self.consumed = true;
        if !self.case_insensitive {
            self.previous = None;
            return Ok(());
        }
        let c = literal.c.to_ascii_lowercase();
        if !c.is_ascii() {
            return Err(format!(
                "{:?} under (?i) (Oniguruma folds it otherwise)",
                literal.c
            ));
        }
        if let Some(previous) = self.previous {
            if FOLDED_PAIRS.contains(&[previous, c]) {
                return Err(format!(
                    "{previous}{c} under (?i) (Oniguruma also matches a ligature)"
                ));
            }
        }
        self.previous = Some(c);
        Ok(())
    }

    fn assertion(&mut self, assertion: &Assertion) -> Result<(), String> {
        match assertion.kind {
            AssertionKind::StartLine if self.consumed => Err(
                "^ after a character of the same match (Oniguruma has no line start at \
                     the end of a text that ends with a newline)"
                    .into(),
            ),
            AssertionKind::StartLine
            | AssertionKind::EndLine
            | AssertionKind::StartText
            | AssertionKind::EndText => Ok(()),
            _ => Err("a word boundary (Oniguruma's word characters differ)".into()),
        }
    }
}

fn check_literal(literal: &Literal) -> Result<(), String> {
    match &literal.kind {
        LiteralKind::Verbatim | LiteralKind::Meta | LiteralKind::Superfluous => Ok(()),
        LiteralKind::Special(kind) if *kind != SpecialLiteralKind::Space => Ok(()),
        LiteralKind::HexFixed(HexLiteralKind::X) if literal.c.is_ascii() => Ok(()),
        LiteralKind::HexBrace(HexLiteralKind::X)
        | LiteralKind::HexFixed(HexLiteralKind::UnicodeShort) => Ok(()),
        _ => Err(format!(
            "the escape of {:?} (another character in Oniguruma)",
            literal.c
        )),
    }
}

fn unicode_class(class: &ClassUnicode) -> Result<(), String> {
    match &class.kind {
        ClassUnicodeKind::Named(name) if GENERAL_CATEGORIES.contains(&name.as_str()) => Ok(()),
        _ => Err("a Unicode class other than a general category such as \\p{L}".into()),
    }
}

fn bracketed(class: &ClassBracketed) -> Result<(), String> {
    match &class.kind {
        ClassSet::BinaryOp(op) if op.kind == ClassSetBinaryOpKind::Intersection => {
            class_set(&op.lhs)?;
            class_set(&op.rhs)
        }
        ClassSet::BinaryOp(_) => Err("a class difference (not Oniguruma syntax)".into()),
        ClassSet::Item(item) => class_item(item),
    }
}

fn class_set(set: &ClassSet) -> Result<(), String> {
    match set {
        ClassSet::Item(item) => class_item(item),
        ClassSet::BinaryOp(op) if op.kind == ClassSetBinaryOpKind::Intersection => {
            class_set(&op.lhs)?;
            class_set(&op.rhs)
        }
        ClassSet::BinaryOp(_) => Err("a class difference (not Oniguruma syntax)".into()),
    }
}

fn class_item(item: &ClassSetItem) -> Result<(), String> {
    match item {
        ClassSetItem::Empty(_) => Ok(()),
        ClassSetItem::Literal(literal) => check_literal(literal),
        ClassSetItem::Range(range) => {
            check_literal(&range.start)?;
            check_literal(&range.end)
        }
        ClassSetItem::Ascii(_) => Err("a POSIX class (Unicode-wide in Oniguruma)".into()),
        ClassSetItem::Unicode(class) => unicode_class(class),
        ClassSetItem::Perl(class) if class.kind == ClassPerlKind::Word => {
            Err(r"\w (Oniguruma's word characters differ)".into())
        }
        ClassSetItem::Perl(_) => Ok(()),
        ClassSetItem::Bracketed(class) => bracketed(class),
        ClassSetItem::Union(union) => union.items.iter().try_for_each(class_item),
    }
}

/// Whether `ast` can match the empty string (classes never do, even an empty one).
fn can_be_empty(ast: &Ast) -> bool {
    match ast {
        Ast::Empty(_) | Ast::Flags(_) | Ast::Assertion(_) => true,
        Ast::Literal(_)
        | Ast::Dot(_)
        | Ast::ClassUnicode(_)
        | Ast::ClassPerl(_)
        | Ast::ClassBracketed(_) => false,
        Ast::Repetition(repetition) => {
            let min = match repetition.op.kind {
                RepetitionKind::ZeroOrOne | RepetitionKind::ZeroOrMore => 0,
                RepetitionKind::OneOrMore => 1,
                RepetitionKind::Range(
                    RepetitionRange::Exactly(min)
                    | RepetitionRange::AtLeast(min)
                    | RepetitionRange::Bounded(min, _),
                ) => min,
            };
            min == 0 || can_be_empty(&repetition.ast)
        }
        Ast::Group(group) => can_be_empty(&group.ast),
        Ast::Alternation(alternation) => alternation.asts.iter().any(can_be_empty),
        Ast::Concat(concat) => concat.asts.iter().all(can_be_empty),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_families_patterns_are_read() {
        for branch in [
            r"(?i:'s|'t|'re|'ve|'m|'ll|'d)",
            r"[^\r\n\p{L}\p{N}]?\p{L}+",
            r"\p{N}{1,3}",
            r" ?[^\s\p{L}\p{N}]+[\r\n]*",
            r"\s*[\r\n]+",
            r"[!\x22#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+",
            r"[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+",
            r"[一-龥぀-ゟ゠-ヿ]+",
            r"^\s+|\n$|\A\d\z|x{,2}|y{100000}",
        ] {
            assert!(translate(branch, &mut { MAX_CLASSES }).is_ok(), "{branch}");
        }
    }

    #[test]
    fn classes_are_counted_before_translating() {
        let mut left = 3;
        assert!(translate(r"\p{L}[a-c]\d", &mut left).is_ok());
        assert_eq!(left, 0);
        let refused = translate(r"\s", &mut left);
        assert!(refused.is_err_and(|why| why.contains("more than 1024 character classes")));
    }

    #[test]
    fn what_oniguruma_reads_otherwise_is_refused() {
        for branch in [
            r"\n^",
            r"(?:a|b)^",
            r"x*^",
            r"\w+",
            r"\bx",
            r"[[:alpha:]]",
            r"\pL",
            r"\p{Greek}",
            r"\U000000E9",
            r"a{2}?",
            r"a{ 2}",
            r"a{2 ,3}",
            r"a{100001}",
            r"a{1,100001}",
            r"(a|)*",
            r"(?i:ss)",
            r"(?i:s(?:t))",
            r"(?i:é)",
            r"(?i:[a-z])",
            r"(?i:a+)",
            r"(?i)a",
            r"(?m:a)",
            r"(?s:.)",
            r"(?P<n>a)",
            r"[a--b]",
        ] {
            assert!(translate(branch, &mut { MAX_CLASSES }).is_err(), "{branch}");
        }
    }
}
