//! Company-name matching (SPEC §2, "Wildcards in name"): Unicode simple case
//! folding, and `*` patterns with `\` escapes matched over the folded name.
//!
//! This is the pattern as parsed, and what matching it means
//! ([`NamePattern::matches`], plain and obviously right); the catalog
//! checks names against it with a matcher of its own, built for speed
//! (`catalog::index::matcher`).

use icu_casemap::CaseMapper;

/// Simple-case-folds `text` (Unicode `CaseFolding.txt`, statuses C and S).
///
/// Simple folding maps one character to one character, so a folded name keeps
/// its length and the sort order of SPEC §2 ("code-point order of its
/// simple-case-folded form") is the byte order of the folded UTF-8.
pub fn fold(text: &str) -> String {
    let mapper = CaseMapper::new();
    text.chars().map(|c| mapper.simple_fold(c)).collect()
}

/// A parsed `name` filter: literal runs (already folded) separated by stars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern {
    /// The literal runs between stars, in order; none of them is empty.
    parts: Vec<String>,
    leading_star: bool,
    trailing_star: bool,
}

/// What a pattern asks for, so the catalog can pick a range scan over a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternShape<'a> {
    /// Only stars: every name matches.
    Any,
    /// No star: the whole folded name equals this.
    Exact(&'a str),
    /// `literal*`: the folded name starts with this.
    Prefix(&'a str),
    /// `*literal*`: the folded name contains this.
    Contains(&'a str),
    /// Anything else; [`NamePattern::matches`] decides, after a substring
    /// pre-filter on [`NamePattern::needle`].
    General,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternError {
    /// The value ends with a `\` that escapes nothing.
    TrailingBackslash,
}

impl NamePattern {
    /// Parses the raw (already percent-decoded) value of `name`.
    pub fn parse(raw: &str) -> Result<Self, PatternError> {
        let mapper = CaseMapper::new();
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut leading_star = false;
        let mut trailing_star = false;
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            let literal_char = match c {
                '*' => {
                    if parts.is_empty() && literal.is_empty() {
                        leading_star = true;
                    }
                    if !literal.is_empty() {
                        parts.push(std::mem::take(&mut literal));
                    }
                    trailing_star = true;
                    continue;
                }
                '\\' => chars.next().ok_or(PatternError::TrailingBackslash)?,
                other => other,
            };
            trailing_star = false;
            literal.push(mapper.simple_fold(literal_char));
        }
        if !literal.is_empty() {
            parts.push(literal);
        }
        Ok(Self {
            parts,
            leading_star,
            trailing_star,
        })
    }

    pub fn shape(&self) -> PatternShape<'_> {
        match (self.parts.as_slice(), self.leading_star, self.trailing_star) {
            ([], _, _) => PatternShape::Any,
            ([only], false, false) => PatternShape::Exact(only),
            ([only], false, true) => PatternShape::Prefix(only),
            ([only], true, true) => PatternShape::Contains(only),
            _ => PatternShape::General,
        }
    }

    /// The literal runs between stars, folded, in order: every matching
    /// name contains each.
    pub fn parts(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().map(String::as_str)
    }

    /// Whether a star comes before the first run (or the pattern is stars only).
    pub fn leading_star(&self) -> bool {
        self.leading_star
    }

    /// Whether a star comes after the last run (or the pattern is stars only).
    pub fn trailing_star(&self) -> bool {
        self.trailing_star
    }

    /// Whether the first literal run must start the name (no `*` before it).
    pub fn starts_anchored(&self) -> bool {
        !self.parts.is_empty() && !self.leading_star
    }

    /// Whether the last literal run must end the name (no `*` after it).
    pub fn ends_anchored(&self) -> bool {
        !self.parts.is_empty() && !self.trailing_star
    }

    /// The longest literal run: every matching name contains it, which makes
    /// it the cheapest pre-filter for a scan.
    pub fn needle(&self) -> &str {
        self.parts
            .iter()
            .max_by_key(|part| part.len())
            .map_or("", String::as_str)
    }

    /// Where in [`NamePattern::parts`] the runs with a star on both sides are.
    pub fn middle_range(&self) -> std::ops::Range<usize> {
        let count = self.parts.len();
        let from = usize::from(!self.leading_star && count > 0);
        let to = count - usize::from(!self.trailing_star && count > from);
        from..to.max(from)
    }

    /// Whether an already folded name matches.
    ///
    /// Works on bytes: a literal run is whole characters and UTF-8 is
    /// self-synchronising, so a byte match is a character match, and `*` only
    /// ever spans whole characters. With stars as the only wildcard, taking
    /// each middle run at its leftmost occurrence never misses a match.
    pub fn matches(&self, folded_name: &str) -> bool {
        let mut name = folded_name.as_bytes();
        let (Some(first), Some(last)) = (self.parts.first(), self.parts.last()) else {
            return true;
        };
        if self.parts.len() == 1 && !self.leading_star && !self.trailing_star {
            return name == first.as_bytes();
        }
        if self.starts_anchored() {
            match name.strip_prefix(first.as_bytes()) {
                Some(rest) => name = rest,
                None => return false,
            }
        }
        if self.ends_anchored() {
            match name.strip_suffix(last.as_bytes()) {
                Some(rest) => name = rest,
                None => return false,
            }
        }
        for part in &self.parts[self.middle_range()] {
            let part = part.as_bytes();
            match name.windows(part.len()).position(|window| window == part) {
                Some(at) => name = &name[at + part.len()..],
                None => return false,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, name: &str) -> bool {
        NamePattern::parse(pattern).unwrap().matches(&fold(name))
    }

    #[test]
    fn folding_is_simple_case_folding() {
        assert_eq!(fold("ACME GmbH"), "acme gmbh");
        // Simple folding keeps one character for one: ß stays, ẞ becomes ß,
        // final sigma and the long s fold to their ordinary forms.
        assert_eq!(fold("STRAẞE"), "straße");
        assert_eq!(fold("ΟΔΟΣ ς"), "οδοσ σ");
        assert_eq!(fold("ſ"), "s");
        // U+0130 has only full (F) and Turkic (T) foldings: it stays itself.
        assert_eq!(fold("İ"), "İ");
        assert_eq!(fold("\u{212A}"), "k", "Kelvin sign folds to k");
    }

    #[test]
    fn exact_prefix_and_substring() {
        assert!(matches("Acme", "ACME"));
        assert!(matches("Acme", "acme"));
        assert!(!matches("Acme", "Acme Inc"));
        assert!(matches("Acme*", "Acme Inc"));
        assert!(!matches("Acme*", "The Acme"));
        assert!(matches("*acme*", "The ACME company"));
        assert!(matches("*", "anything"));
        assert!(matches("a*c", "abc"));
        assert!(matches("a*c", "ac"));
        assert!(!matches("a*a", "a"));
        assert!(matches("*a*a*", "banana"));
        assert!(!matches("*a*a*a*a*", "banana"));
        assert!(matches("straße*", "STRAẞE Bau"));
    }

    #[test]
    fn escapes_and_literal_specials() {
        assert!(matches(r"5\* Hotels", "5* Hotels"));
        assert!(!matches(r"5\* Hotels", "55 Hotels"));
        assert!(matches(r"back\\slash", r"back\slash"));
        assert!(matches("100%", "100%"));
        assert!(!matches("100%", "1000"));
        assert!(matches("a_c", "A_C"));
        assert!(!matches("a_c", "abc"));
        assert!(matches("a?c", "a?c"));
        assert!(!matches("a?c", "abc"));
        assert_eq!(NamePattern::parse(r"abc\"), Err(PatternError::TrailingBackslash));
    }

    #[test]
    fn shapes() {
        let shape = |p: &str| NamePattern::parse(p).unwrap();
        assert_eq!(shape("**").shape(), PatternShape::Any);
        assert_eq!(shape("ABC").shape(), PatternShape::Exact("abc"));
        assert_eq!(shape("ab**").shape(), PatternShape::Prefix("ab"));
        assert_eq!(shape(r"ab\*").shape(), PatternShape::Exact("ab*"));
        assert_eq!(shape("*ab").shape(), PatternShape::General);
        assert_eq!(shape("**Ab**").shape(), PatternShape::Contains("ab"));
        assert_eq!(shape("a*b*").shape(), PatternShape::General);
        assert_eq!(shape("*xy*abcd*").needle(), "abcd");
        assert_eq!(shape("ab*c*d*ef").middle_range(), 1..3);
        assert_eq!(shape("*c*").middle_range(), 0..1);
        assert_eq!(shape("abc").middle_range(), 1..1);
    }
}
