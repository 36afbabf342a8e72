//! `application/x-www-form-urlencoded` as Roster reads it: query strings
//! (SPEC §2) and the token endpoint's body (SPEC §4).
//!
//! Stricter than a lossy decoder on purpose: a value whose escapes decode to
//! invalid UTF-8 is reported, not silently replaced by U+FFFD.

use percent_encoding::percent_decode;

/// A value whose percent-escapes do not decode to UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotUtf8;

/// One `key=value` pair, decoded (`+` is a space, then `%XX` escapes).
pub type FormPair = (String, Result<String, NotUtf8>);

/// Splits and decodes `raw` (without the leading `?`). Empty segments (`a=1&&b=2`)
/// are skipped; a segment without `=` has an empty value.
pub fn pairs(raw: &str) -> Vec<FormPair> {
    raw.split('&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            let (key, value) = segment.split_once('=').unwrap_or((segment, ""));
            let key = decode(key).unwrap_or_else(|bytes| String::from_utf8_lossy(&bytes).into_owned());
            (key, decode(value).map_err(|_| NotUtf8))
        })
        .collect()
}

/// Decodes one component; on invalid UTF-8 returns the raw bytes.
pub fn decode(component: &str) -> Result<String, Vec<u8>> {
    let plus_as_space = component.replace('+', " ");
    let bytes: Vec<u8> = percent_decode(plus_as_space.as_bytes()).collect();
    String::from_utf8(bytes).map_err(|e| e.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_and_escapes() {
        assert_eq!(
            pairs("name=Acme+%26+Co&limit=5&&flag"),
            vec![
                ("name".into(), Ok("Acme & Co".into())),
                ("limit".into(), Ok("5".into())),
                ("flag".into(), Ok(String::new())),
            ]
        );
        assert_eq!(pairs("a=%2B1"), vec![("a".into(), Ok("+1".into()))]);
        assert_eq!(pairs("name=%C3%9F"), vec![("name".into(), Ok("ß".into()))]);
    }

    #[test]
    fn reports_invalid_utf8() {
        assert_eq!(pairs("name=%FF"), vec![("name".into(), Err(NotUtf8))]);
    }
}
