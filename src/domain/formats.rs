//! Formats a customer's contact data must have when a partner writes it
//! (SPEC §6): country codes and email addresses.

/// The officially assigned ISO 3166-1 alpha-2 codes, sorted.
pub const COUNTRIES: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ", "BA", "BB", "BD",
    "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA",
    "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE",
    "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA",
    "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK",
    "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP",
    "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT",
    "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS",
    "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ",
    "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS",
    "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST",
    "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW",
    "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI", "VN", "VU", "WF", "WS", "YE", "YT", "ZA",
    "ZM", "ZW",
];

/// An assigned ISO 3166-1 alpha-2 code, in capitals (`US`, `DE`).
pub fn is_country(code: &str) -> bool {
    COUNTRIES.binary_search(&code).is_ok()
}

/// An RFC 5322 `addr-spec` without the obsolete forms, comments or folding
/// whitespace: a dot-atom or quoted local part, `@`, and a domain that is a
/// host name (labels of letters, digits and hyphens, no hyphen at either
/// end) or a bracketed address literal. Non-ASCII characters count as
/// letters (RFC 6532, internationalised domain names).
pub fn is_email(address: &str) -> bool {
    let Some(at) = address.rfind('@') else {
        return false;
    };
    let (local, domain) = (&address[..at], &address[at + 1..]);
    let local_ok = if local.len() >= 2 && local.starts_with('"') && local.ends_with('"') {
        quoted(&local[1..local.len() - 1])
    } else {
        dot_atom(local)
    };
    let domain_ok = if domain.starts_with('[') && domain.ends_with(']') && domain.len() >= 2 {
        domain[1..domain.len() - 1]
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '[' | ']' | '\\'))
    } else {
        host_name(domain)
    };
    local_ok && domain_ok && local.len() <= 64
}

fn host_name(domain: &str) -> bool {
    !domain.is_empty()
        && domain.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii())
        })
}

fn atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

fn dot_atom(text: &str) -> bool {
    !text.is_empty() && text.split('.').all(|atom| !atom.is_empty() && atom.chars().all(atext))
}

/// The inside of a quoted string: printable characters and spaces, `"` and
/// `\` only escaped.
fn quoted(text: &str) -> bool {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if !chars
                    .next()
                    .is_some_and(|e| e == ' ' || e == '\t' || e.is_ascii_graphic())
                {
                    return false;
                }
            }
            '"' => return false,
            c if c == ' ' || c == '\t' || c.is_ascii_graphic() || !c.is_ascii() => {}
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_are_the_assigned_codes_in_capitals() {
        assert!(COUNTRIES.windows(2).all(|pair| pair[0] < pair[1]), "sorted, no repeats");
        for ok in ["US", "DE", "GB", "AX", "ZW", "SS"] {
            assert!(is_country(ok), "{ok}");
        }
        for bad in ["us", "USA", "UK", "XX", "EU", "", "D"] {
            assert!(!is_country(bad), "{bad}");
        }
    }

    #[test]
    fn emails_are_addr_specs() {
        for ok in [
            "abc@xyz.com",
            "first.last+tag@sub.example.co.uk",
            "o'brien@example.ie",
            "user@localhost",
            "\"john doe\"@example.com",
            "\"a\\\"b\"@example.com",
            "x@[192.0.2.1]",
            "jörg@bücher.example",
        ] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in [
            "",
            "abc",
            "@xyz.com",
            "abc@",
            "a b@xyz.com",
            ".abc@xyz.com",
            "abc.@xyz.com",
            "a..b@xyz.com",
            "abc@xyz..com",
            "abc@-",
            "abc@xyz-.com",
            "abc@x_y.com",
            "a@b@c.com",
            "\"unclosed@example.com",
            "x@[a]b",
            &format!("{}@example.com", "a".repeat(65)),
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }
}
