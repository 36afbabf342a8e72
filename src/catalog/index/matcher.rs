//! The name matcher the catalog checks candidates with: the same answers
//! as [`NamePattern::matches`], at a few nanoseconds a name. Anchored runs
//! are compared a word at a time; runs between stars are found by position
//! masks (one bit per byte of a short name, built with SSE2 compares), so
//! that checking a name takes no branch per byte or per run. Built once
//! per query from its pattern ([`NameMatcher::new`]); the measurements
//! behind each step are in docs/PERFORMANCE.md, "Substring searches
//! without cliffs".

use crate::domain::NamePattern;

/// A query's name pattern, ready to check folded names with.
#[derive(Debug, Clone)]
pub struct NameMatcher<'p> {
    parts: Vec<&'p str>,
    leading_star: bool,
    trailing_star: bool,
    middle: std::ops::Range<usize>,
    /// The middle runs as position masks, for names of up to 64 bytes;
    /// `None` when they have too many distinct bytes for it to pay.
    masks: Option<RunMasks>,
    /// Each run of `parts` of up to eight bytes as one word, compared to a
    /// name in one load.
    words: Vec<Option<Word>>,
}

impl<'p> NameMatcher<'p> {
    pub fn new(pattern: &'p NamePattern) -> Self {
        let parts: Vec<&str> = pattern.parts().collect();
        let middle = pattern.middle_range();
        NameMatcher {
            masks: RunMasks::of(&parts[middle.clone()]),
            words: parts.iter().map(|part| Word::of(part.as_bytes())).collect(),
            parts,
            leading_star: pattern.leading_star(),
            trailing_star: pattern.trailing_star(),
            middle,
        }
    }

    /// Whether the folded name `text[..len]` matches, where the bytes after
    /// it, whatever they are, may be read (not matched) so that a short
    /// name is read in whole 16-byte chunks: a caller holding names back to
    /// back passes the rest of its buffer.
    ///
    /// Anchored runs are compared in place, one word at a time. Several
    /// middle runs (`*s*t*t*`) are found by position masks, without a
    /// branch per byte or per run (see [`RunMasks`]); a single one
    /// (`*lear*`) where its first and last bytes lie the right distance
    /// apart, then compared in one word; in names longer than
    /// [`SHORT_NAME`], by [`find`].
    pub fn matches_in(&self, text: &[u8], len: usize) -> bool {
        // `*word*` alone, the commonest search, goes straight to its check:
        // nothing is anchored (docs/PERFORMANCE.md, "A lone `*word*`").
        if let ([run], true, true) = (self.parts.as_slice(), self.leading_star, self.trailing_star)
            && len <= SHORT_NAME
        {
            return one_run_within(text, len, 0..len, run.as_bytes(), self.words[0]);
        }
        let Some((start, end)) = self.anchored_span(text, len) else {
            return false;
        };
        if len <= SHORT_NAME {
            if let Some(masks) = &self.masks {
                return masks.in_order(text, len, start, end);
            }
            if self.middle.len() == 1 {
                let (run, word) = (self.parts[self.middle.start].as_bytes(), self.words[self.middle.start]);
                return one_run_within(text, len, start..end, run, word);
            }
        }
        self.middle_in_order(&text[..end], start)
    }

    /// [`NameMatcher::matches_in`] on a whole name.
    pub fn matches(&self, name: &[u8]) -> bool {
        self.matches_in(name, name.len())
    }

    /// Where the middle runs must lie in the name `text[..len]`, once the
    /// runs without a star before or after them have been checked at its
    /// start and end; `None` when those do not match.
    fn anchored_span(&self, text: &[u8], len: usize) -> Option<(usize, usize)> {
        let name = &text[..len];
        let Some((first, rest)) = self.parts.split_first() else {
            return Some((0, len));
        };
        if rest.is_empty() && !self.leading_star && !self.trailing_star {
            return (name == first.as_bytes()).then_some((0, 0));
        }
        let (mut start, mut end) = (0, len);
        let mut middle = self.parts.as_slice();
        if !self.leading_star {
            if len < first.len() || !run_at(text, 0, first.as_bytes(), self.words[0]) {
                return None;
            }
            start = first.len();
            middle = rest;
        }
        if !self.trailing_star
            && let Some(last) = middle.last()
        {
            if end - start < last.len()
                || !run_at(
                    text,
                    end - last.len(),
                    last.as_bytes(),
                    self.words[self.parts.len() - 1],
                )
            {
                return None;
            }
            end -= last.len();
        }
        Some((start, end))
    }

    /// This pattern as [`SingleBytes`], when it is two to eight one-byte
    /// runs between stars and nothing else.
    pub fn single_bytes(&self) -> Option<SingleBytes> {
        let singles = self.leading_star
            && self.trailing_star
            && (2..=MAX_SINGLES).contains(&self.parts.len())
            && self.parts.iter().all(|part| part.len() == 1);
        singles.then(|| {
            let mut bytes = [0u8; MAX_SINGLES];
            for (byte, part) in bytes.iter_mut().zip(&self.parts) {
                *byte = part.as_bytes()[0];
            }
            SingleBytes {
                bytes,
                count: self.parts.len(),
            }
        })
    }

    /// Whether two or more runs have a star on both sides (`*s*t*t*`,
    /// `ab*c*d*`): whether a name matches is then least predictable from
    /// the gram sets (they do not keep order), and short names are checked
    /// by position masks unless the runs hold too many distinct bytes.
    pub fn has_several_middle_runs(&self) -> bool {
        self.middle.len() >= 2
    }

    /// Whether the middle runs occur in `name[start..]` in order, each
    /// taken at its leftmost place after the one before. With stars as the
    /// only wildcard, leftmost never misses a match.
    fn middle_in_order(&self, name: &[u8], mut start: usize) -> bool {
        for part in &self.parts[self.middle.clone()] {
            match find(&name[start..], part.as_bytes()) {
                Some(at) => start += at + part.len(),
                None => return false,
            }
        }
        true
    }
}

/// A literal run of one to eight bytes as a little-endian word and the
/// mask of its bytes: compared to a name in one load, where a call to
/// `memcmp` costs more than the compare (`*inc`, `*co. kg*`: thousands of
/// candidates per query, each checked once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Word {
    bits: u64,
    mask: u64,
}

impl Word {
    fn of(run: &[u8]) -> Option<Word> {
        let mut bytes = [0u8; 8];
        bytes
            .get_mut(..run.len())
            .filter(|_| !run.is_empty())?
            .copy_from_slice(run);
        Some(Word {
            bits: u64::from_le_bytes(bytes),
            mask: u64::MAX >> (64 - 8 * run.len()),
        })
    }

    /// Whether `text[at..]` starts with the run; `None` when fewer than
    /// eight bytes follow `at`.
    fn at(self, text: &[u8], at: usize) -> Option<bool> {
        let eight: [u8; 8] = text.get(at..at.checked_add(8)?)?.try_into().ok()?;
        Some((u64::from_le_bytes(eight) ^ self.bits) & self.mask == 0)
    }
}

/// Whether `text[at..]` starts with `run` (whose word is `word`): the
/// caller has checked that the name holds `run.len()` bytes from `at`.
fn run_at(text: &[u8], at: usize, run: &[u8], word: Option<Word>) -> bool {
    match word.and_then(|word| word.at(text, at)) {
        Some(equal) => equal,
        None => text[at..].starts_with(run),
    }
}

/// Whether `run` occurs within `span` of the name `text[..len]` (at most
/// [`SHORT_NAME`] bytes): the places where its first byte is followed, at
/// the run's length, by its last are found by position masks, and each
/// (rarely more than one) compared whole.
///
/// Kept out of line, and [`positions`] inlined into both its callers: the
/// other way round was slower (docs/PERFORMANCE.md, "Figures the code refers to", "Name matching").
#[inline(never)]
fn one_run_within(text: &[u8], len: usize, span: std::ops::Range<usize>, run: &[u8], word: Option<Word>) -> bool {
    let (Some(&first), Some(&last)) = (run.first(), run.last()) else {
        return true;
    };
    let Some(latest) = span.end.checked_sub(run.len()).filter(|&latest| latest >= span.start) else {
        return false;
    };
    let mut found = [0u64; 2];
    positions(text, len, &[first, last], &mut found);
    // Starts from span.start to latest (both below 64, as latest < len).
    let allowed = (u64::MAX << span.start) & (u64::MAX >> (63 - latest));
    let mut starts = found[0] & (found[1] >> (run.len() - 1)) & allowed;
    while starts != 0 {
        let at = starts.trailing_zeros() as usize;
        if run.len() <= 2 || run_at(text, at, run, word) {
            return true;
        }
        starts &= starts - 1;
    }
    false
}

/// The most runs [`SingleBytes`] takes.
const MAX_SINGLES: usize = 8;

/// A pattern of two to eight one-byte runs, each with a star on both
/// sides (`*a*e*`, `*s*t*t*`): the shape whose candidates are most often
/// not matches (names with an a and an e, in either order), so the one
/// whose check decides its cost. Checked in the catalog's loop itself, by
/// one position mask per run and the lowest bit of each above the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SingleBytes {
    bytes: [u8; MAX_SINGLES],
    count: usize,
}

impl SingleBytes {
    /// Whether the name `text[..len]` holds the bytes in order; `None`
    /// for a name longer than [`SHORT_NAME`] (ask
    /// [`NameMatcher::matches_in`]). Reads `text` past `len` as that does.
    #[inline(always)]
    pub fn matches_in(&self, text: &[u8], len: usize) -> Option<bool> {
        if len > SHORT_NAME {
            return None;
        }
        let mut found = [0u64; MAX_SINGLES];
        positions(text, len, &self.bytes[..self.count], &mut found[..self.count]);
        // Without an early exit, as in [`RunMasks::in_order`]: a byte not
        // found sends `from` past every position.
        let mut from = 0u32;
        for &mask in &found[..self.count] {
            from = (mask & u64::MAX.checked_shl(from).unwrap_or(0)).trailing_zeros() + 1;
        }
        Some(from <= len as u32)
    }
}

/// Names up to this many bytes are matched by position masks (one bit per
/// byte of the name in a `u64`); longer ones, rare among company names, by
/// [`find`].
const SHORT_NAME: usize = 64;

/// Patterns whose runs have more distinct bytes than this are matched by
/// [`find`]: each distinct byte costs a pass over the name's words.
const MAX_MASKED_BYTES: usize = 12;

/// A pattern's middle runs, found in a short name by position masks: where
/// each of the runs' bytes occurs in the name is one bit mask, where a run
/// starts the AND of its bytes' masks shifted by their places, and each
/// run is taken at its leftmost start after the previous run's end (the
/// lowest set bit above it).
#[derive(Debug, Clone, PartialEq, Eq)]
struct RunMasks {
    /// The distinct bytes of the runs.
    bytes: Vec<u8>,
    /// Each run as indices into `bytes`.
    runs: Vec<Vec<u8>>,
}

impl RunMasks {
    /// For two or more middle runs: a single one is found faster by [`find`].
    fn of(parts: &[&str]) -> Option<Self> {
        if parts.len() < 2 {
            return None;
        }
        let mut bytes: Vec<u8> = parts.iter().flat_map(|part| part.bytes()).collect();
        bytes.sort_unstable();
        bytes.dedup();
        if bytes.len() > MAX_MASKED_BYTES || parts.iter().any(|part| part.len() > SHORT_NAME) {
            return None;
        }
        let index = |byte: u8| bytes.binary_search(&byte).expect("a byte of the runs") as u8;
        let runs = parts.iter().map(|part| part.bytes().map(index).collect()).collect();
        Some(RunMasks { bytes, runs })
    }

    /// Whether the runs occur in order within `start..end` of the name
    /// `text[..len]` (at most [`SHORT_NAME`] bytes).
    fn in_order(&self, text: &[u8], len: usize, start: usize, end: usize) -> bool {
        let mut found = [0u64; MAX_MASKED_BYTES];
        positions(text, len, &self.bytes, &mut found[..self.bytes.len()]);
        let starts = |run: &[u8]| {
            run.iter()
                .enumerate()
                .fold(u64::MAX, |starts, (k, &byte)| starts & (found[usize::from(byte)] >> k))
        };
        // Without early exits: a run with no start left puts `from` past
        // every position (the lowest bit of nothing is 64), and so past
        // `end`. Which run fails is as good as random from name to name,
        // and a mispredicted branch costs more than the remaining runs.
        let mut from = start;
        for run in &self.runs {
            let later = starts(run) & u64::MAX.checked_shl(from as u32).unwrap_or(0);
            from = later.trailing_zeros() as usize + run.len();
        }
        from <= end
    }
}

/// For each of `bytes`, the positions in the name `text[..len]` (at most
/// [`SHORT_NAME`] bytes) that hold it, as bits, into `found`. No step
/// branches on the name's contents or, for most names, on its length:
/// whether a name is 12 or 20 bytes long is as unpredictable as its
/// letters, and a mispredicted branch costs as much as the test.
#[inline(always)]
fn positions(text: &[u8], len: usize, bytes: &[u8], found: &mut [u64]) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        let within = u64::MAX.checked_shr(64 - len as u32).unwrap_or(0);
        let wide = if len <= 32 {
            text.get(..32).map(|chunks| chunk_positions::<2>(chunks, bytes, found))
        } else {
            text.get(..64).map(|chunks| chunk_positions::<4>(chunks, bytes, found))
        };
        if wide.is_some() {
            found.iter_mut().for_each(|found| *found &= within);
            return;
        }
    }
    word_positions(&text[..len], bytes, found);
}

/// [`positions`] in `text`'s first `CHUNKS` × 16 bytes, sixteen at a time
/// with SSE2 (part of every x86-64 CPU): one compare and one mask move per
/// sixteen bytes and wanted byte.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
fn chunk_positions<const CHUNKS: usize>(text: &[u8], bytes: &[u8], found: &mut [u64]) {
    use std::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
    let chunks: [__m128i; CHUNKS] = std::array::from_fn(|i| {
        let sixteen: &[u8; 16] = text[i * 16..i * 16 + 16].try_into().expect("sixteen bytes");
        // SAFETY: `sixteen` is sixteen readable bytes, and an unaligned load
        // reads exactly those; SSE2 is in every build for this target.
        #[expect(unsafe_code, reason = "an SSE2 load of sixteen bytes we hold a reference to")]
        unsafe {
            _mm_loadu_si128(sixteen.as_ptr().cast())
        }
    });
    for (found, &byte) in found.iter_mut().zip(bytes) {
        // SAFETY: SSE2 is in every build for this target.
        #[expect(unsafe_code, reason = "SSE2 compares in an SSE2 build")]
        let bits = unsafe {
            let wanted = _mm_set1_epi8(byte as i8);
            chunks.iter().enumerate().fold(0, |bits, (i, &chunk)| {
                bits | u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(chunk, wanted)) as u16) << (i * 16)
            })
        };
        *found = bits;
    }
}

/// [`positions`] in `name` itself, eight bytes at a time (the last word
/// overlapping the one before it), each byte found in a word with a
/// carry-free zero-byte test; for names at the very end of a buffer.
fn word_positions(name: &[u8], bytes: &[u8], found: &mut [u64]) {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const ONES: u64 = 0x0101_0101_0101_0101;
    /// Moves bit 8i (i = 0..8) to bit 56 + i: no two partial products
    /// share a bit, so nothing carries.
    const GATHER: u64 = 0x0102_0408_1020_4080;
    let in_word = |word: u64, byte: u8| {
        let x = word ^ (u64::from(byte) * ONES);
        let zero = !(((x & LOW7) + LOW7) | x | LOW7);
        (zero >> 7).wrapping_mul(GATHER) >> 56
    };
    let n = name.len();
    if n < 8 {
        for (found, &byte) in found.iter_mut().zip(bytes) {
            *found = name
                .iter()
                .enumerate()
                .fold(0, |bits, (i, &b)| bits | u64::from(b == byte) << i);
        }
        return;
    }
    // One byte at a time, so each mask builds up in a register.
    for (found, &byte) in found.iter_mut().zip(bytes) {
        let mut bits = 0;
        let mut at = 0;
        while at < n {
            let at_word = at.min(n - 8);
            let word = u64::from_le_bytes(name[at_word..at_word + 8].try_into().expect("eight bytes"));
            bits |= in_word(word, byte) << at_word;
            at += 8;
        }
        *found = bits;
    }
}

/// Where `needle` first occurs in `haystack`. Company names are short, and
/// for them looking for the needle's first byte with `memchr`, then
/// comparing, beats building a `memmem` searcher per call (which checking
/// thousands of candidates per query did).
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let Some((&first, rest)) = needle.split_first() else {
        return Some(0);
    };
    if haystack.len() > 256 {
        return memchr::memmem::find(haystack, needle);
    }
    let mut from = 0;
    while let Some(at) = memchr::memchr(first, &haystack[from..]) {
        let at = from + at;
        if haystack.len() - at < needle.len() {
            return None;
        }
        if &haystack[at + 1..at + needle.len()] == rest {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::domain::fold;

    fn matches(pattern: &str, name: &str) -> bool {
        let pattern = NamePattern::parse(pattern).unwrap();
        NameMatcher::new(&pattern).matches(fold(name).as_bytes())
    }

    #[test]
    fn finding_a_run_in_a_short_or_long_name() {
        assert_eq!(find(b"banana", b"an"), Some(1));
        assert_eq!(find(b"banana", b"nan"), Some(2));
        assert_eq!(find(b"banana", b"ba"), Some(0));
        assert_eq!(find(b"banana", b"na"), Some(2));
        assert_eq!(find(b"banana", b"nab"), None);
        assert_eq!(find(b"banana", b""), Some(0));
        assert_eq!(find(b"ban", b"bana"), None);
        let long = format!("{}needle", "x".repeat(300));
        assert_eq!(find(long.as_bytes(), b"needle"), Some(300));
    }

    #[test]
    fn positions_are_exact_at_every_length() {
        for n in 0..=SHORT_NAME {
            // Bytes that differ from a wanted one only in the high bit
            // (0xE1 against b'a') must not count.
            let name: Vec<u8> = (0..n)
                .map(|i| [b'a', 0xE1, b'c', b'a', 0x7F, 0xFF, 0xE3][(i * 5 + n) % 7])
                .collect();
            let bytes = [b'a', b'c', 0xFF];
            let expected: Vec<u64> = bytes
                .iter()
                .map(|&byte| (0..n).filter(|&i| name[i] == byte).fold(0u64, |bits, i| bits | 1 << i))
                .collect();
            // The name alone, and followed by bytes that must not count.
            let mut followed = name.clone();
            followed.extend(std::iter::repeat_n(b'a', 64));
            for text in [&name, &followed] {
                let mut found = [u64::MAX; 3];
                positions(text, n, &bytes, &mut found);
                assert_eq!(found.to_vec(), expected, "a name of {n} bytes in {} bytes", text.len());
            }
        }
    }

    proptest::proptest! {
        /// A name followed by more text matches as the name alone does.
        #[test]
        fn what_follows_a_name_is_never_matched(
            pattern in r"[ab*]{0,6}",
            name in "[ab]{0,40}",
            after in "[ab]{0,70}",
        ) {
            let pattern = NamePattern::parse(&pattern).unwrap();
            let matcher = NameMatcher::new(&pattern);
            let text = format!("{name}{after}");
            proptest::prop_assert_eq!(
                matcher.matches_in(text.as_bytes(), name.len()),
                matcher.matches(name.as_bytes())
            );
        }
    }

    #[test]
    fn long_names_and_many_bytes_take_the_general_path() {
        let masks = |raw: &str| NameMatcher::new(&NamePattern::parse(raw).unwrap()).masks.is_some();
        assert!(!masks("*abcdefg*hijklm*"));
        assert!(!masks("*abc*"), "one middle run");
        assert!(masks("ab*c*d*ef"));
        let long = format!("{}acme{}", "x".repeat(70), "y".repeat(10));
        assert!(matches("*acme*y", &long));
        assert!(!matches("*acme*x", &long));
    }

    /// `*` globbing by dynamic programming over characters: slow, plain,
    /// and sharing no code with the matcher.
    fn glob(raw: &str, name: &str) -> Option<bool> {
        let mut tokens = Vec::new();
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' => None,
                '\\' => Some(chars.next()?),
                other => Some(other),
            });
        }
        let name: Vec<char> = name.chars().collect();
        // ok[j]: the tokens so far match name[..j].
        let mut ok = vec![false; name.len() + 1];
        ok[0] = true;
        for token in tokens {
            let mut next = vec![false; name.len() + 1];
            for j in 0..=name.len() {
                next[j] = match token {
                    None => ok[j] || (j > 0 && next[j - 1]),
                    Some(c) => j > 0 && ok[j - 1] && name[j - 1] == c,
                };
            }
            ok = next;
        }
        Some(ok[name.len()])
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]
        /// Every pattern shape over names that often hold its runs: the
        /// matcher (masks, `find`, anchors) answers like plain globbing.
        #[test]
        fn matching_agrees_with_plain_globbing(
            // Runs between stars first, so that several middle runs are
            // common; then anything, escapes included.
            raw in r"\*?([abé]{1,2}\*){1,3}[ab*\\é]{0,3}",
            // Short names meet a pattern's edges often; long ones cross
            // the 16-byte chunks and the 64-byte limit of position masks.
            name in "[abé]{0,12}|[abé ]{20,70}",
        ) {
            if let (Ok(pattern), Some(expected)) = (NamePattern::parse(&raw), glob(&raw, &name)) {
                proptest::prop_assert_eq!(NameMatcher::new(&pattern).matches(name.as_bytes()), expected, "{:?}", pattern);
                proptest::prop_assert_eq!(pattern.matches(&name), expected, "the plain matcher: {:?}", pattern);
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]
        /// One-byte runs between stars (`*a*e*`), checked by
        /// [`SingleBytes`] in the catalog's own loop: like plain globbing,
        /// whatever follows the name in its buffer, and long names left to
        /// the general matcher.
        #[test]
        fn single_bytes_agree_with_plain_globbing(
            raw in r"\*([ab ]\*){1,9}",
            name in "[ab ]{0,12}|[ab ]{20,70}",
            after in "[ab]{0,64}",
        ) {
            let pattern = NamePattern::parse(&raw).unwrap();
            let pattern = NameMatcher::new(&pattern);
            let expected = glob(&raw, &name).unwrap();
            let mut text = name.clone().into_bytes();
            text.extend_from_slice(after.as_bytes());
            let runs = raw.matches('*').count() - 1;
            match pattern.single_bytes() {
                Some(singles) => proptest::prop_assert_eq!(
                    singles.matches_in(&text, name.len()),
                    (name.len() <= SHORT_NAME).then_some(expected)
                ),
                None => proptest::prop_assert!(runs == 1 || runs > MAX_SINGLES, "{raw}"),
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]
        /// Longer runs, compared a word at a time up to eight bytes and
        /// found by their first and last bytes: over two letters, so that
        /// names often hold them, and across the end of a name.
        #[test]
        fn long_runs_agree_with_plain_globbing(
            raw in r"\*?[ab]{1,11}(\*[ab]{3,10})?\*?",
            name in "[ab]{0,16}|[ab ]{20,70}",
            after in "[ab]{0,12}",
        ) {
            if let (Ok(pattern), Some(expected)) = (NamePattern::parse(&raw), glob(&raw, &name)) {
                let text = format!("{name}{after}");
                proptest::prop_assert_eq!(NameMatcher::new(&pattern).matches_in(text.as_bytes(), name.len()), expected);
            }
        }
    }
}
