//! The customer resource of SPEC §1: validation of an imported record and the
//! one normalised JSON document Roster stores and then serves byte for byte.
//!
//! Normalising once, at import, is what lets a list request concatenate
//! stored documents instead of re-serialising customers.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::{Date, Time};

use super::pattern::fold;
use super::query::parse_date;
use super::status::Status;

/// A validated customer, ready for the store.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerRecord {
    pub customer_id: String,
    pub reseller_id: String,
    pub status: Status,
    /// `creationDate` as Unix seconds.
    pub created_at: i64,
    /// The simple-case-folded company name: the key of `companyName` sorting
    /// and `name` matching.
    pub name_key: String,
    /// The SPEC §1 JSON document, fields in order, defaults filled.
    pub doc: String,
}

/// Why a record was refused: `"<field path>: <why>"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError(pub String);

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

const ADDRESS_FIELDS: [&str; 7] = [
    "country",
    "region",
    "city",
    "addressLine1",
    "addressLine2",
    "postalCode",
    "phoneNumber",
];

impl CustomerRecord {
    /// Validates one imported JSON value and normalises it.
    pub fn from_json(value: Value) -> Result<Self, RecordError> {
        let Value::Object(input) = value else {
            return Err(RecordError("record: must be a JSON object".into()));
        };
        let mut fields = Fields::new(input, "");
        let mut doc = Map::new();

        let external_reference_id = fields.string("externalReferenceId", Rule::max(35))?;
        doc.insert("externalReferenceId".into(), external_reference_id.into());
        let customer_id = fields.required_string("customerId", 40)?;
        doc.insert("customerId".into(), customer_id.clone().into());
        let reseller_id = fields.required_string("resellerId", 40)?;
        doc.insert("resellerId".into(), reseller_id.clone().into());
        let status_code = fields.required_string("status", 4)?;
        let status = Status::parse(&status_code)
            .ok_or_else(|| RecordError("status: must be one of 1000, 1002, 1004, 1010, 1012, 1014, 1026".into()))?;
        doc.insert("status".into(), status_code.into());

        let profile_input = match fields.take("companyProfile") {
            Some(Value::Object(map)) => map,
            Some(_) => return Err(RecordError("companyProfile: must be an object".into())),
            None => return Err(RecordError("companyProfile.companyName: is required".into())),
        };
        let (profile, company_name) = company_profile(profile_input)?;
        doc.insert("companyProfile".into(), Value::Object(profile));

        let discounts = fields.array("discounts", |value, path| {
            let Value::Object(map) = value else {
                return Err(RecordError(format!("{path}: must be an object")));
            };
            let field_path = format!("{path}.");
            let mut discount = Fields::new(map, &field_path);
            let mut out = Map::new();
            let offer_type = discount.string("offerType", Rule::OneOf(&["LICENSE", "CONSUMABLES"]))?;
            if offer_type.is_empty() {
                return Err(RecordError(format!("{field_path}offerType: is required")));
            }
            out.insert("offerType".into(), offer_type.into());
            out.insert("level".into(), discount.string("level", Rule::max(20))?.into());
            out.extend(discount.rest());
            Ok(Value::Object(out))
        })?;
        doc.insert("discounts".into(), discounts);
        doc.insert("tags".into(), fields.string_array("tags")?);

        let coterm = fields.string("cotermDate", Rule::Date)?;
        doc.insert("cotermDate".into(), coterm.into());
        let creation = fields.required_string("creationDate", 20)?;
        let created_at = parse_creation_date(&creation)
            .ok_or_else(|| RecordError("creationDate: must be a UTC timestamp YYYY-MM-DDTHH:MM:SSZ".into()))?;
        doc.insert("creationDate".into(), creation.into());

        let benefits = fields.array("benefits", |value, path| match value {
            Value::Object(_) => Ok(value),
            _ => Err(RecordError(format!("{path}: must be an object"))),
        })?;
        doc.insert("benefits".into(), benefits);
        let global_sales = match fields.take("globalSalesEnabled") {
            None => false,
            Some(Value::Bool(b)) => b,
            Some(_) => return Err(RecordError("globalSalesEnabled: must be true or false".into())),
        };
        doc.insert("globalSalesEnabled".into(), global_sales.into());
        if let Some(linked) = fields.take("linkedMembership") {
            doc.insert("linkedMembership".into(), linked);
        }
        // Whatever else the record carries is kept, in its own order.
        doc.extend(fields.rest());

        Ok(CustomerRecord {
            customer_id,
            reseller_id,
            status,
            created_at,
            name_key: fold(&company_name),
            doc: Value::Object(doc).to_string(),
        })
    }
}

fn company_profile(input: Map<String, Value>) -> Result<(Map<String, Value>, String), RecordError> {
    let mut fields = Fields::new(input, "companyProfile.");
    let mut out = Map::new();
    let company_name = fields.required_string("companyName", 250)?;
    out.insert("companyName".into(), company_name.clone().into());
    out.insert(
        "preferredLanguage".into(),
        fields.string("preferredLanguage", Rule::LanguageTag)?.into(),
    );
    out.insert(
        "marketSegment".into(),
        fields
            .string("marketSegment", Rule::OneOf(&["COM", "EDU", "GOV"]))?
            .into(),
    );
    out.insert("marketSubSegments".into(), fields.string_array("marketSubSegments")?);

    let mut address = Map::new();
    match fields.take("address") {
        None => {
            for name in ADDRESS_FIELDS {
                address.insert(name.into(), "".into());
            }
        }
        Some(Value::Object(map)) => {
            let mut address_fields = Fields::new(map, "companyProfile.address.");
            for name in ADDRESS_FIELDS {
                address.insert(name.into(), address_fields.string(name, Rule::max(250))?.into());
            }
            address.extend(address_fields.rest());
        }
        Some(_) => return Err(RecordError("companyProfile.address: must be an object".into())),
    }
    out.insert("address".into(), Value::Object(address));

    let contacts = fields.array("contacts", |value, path| {
        let Value::Object(map) = value else {
            return Err(RecordError(format!("{path}: must be an object")));
        };
        let field_path = format!("{path}.");
        let mut contact = Fields::new(map, &field_path);
        let mut out = Map::new();
        for name in ["firstName", "lastName", "email"] {
            out.insert(name.into(), contact.string(name, Rule::max(250))?.into());
        }
        // A contact's phoneNumber appears only when the record has one.
        if contact.has("phoneNumber") {
            out.insert(
                "phoneNumber".into(),
                contact.string("phoneNumber", Rule::max(250))?.into(),
            );
        } else {
            contact.take("phoneNumber");
        }
        out.extend(contact.rest());
        Ok(Value::Object(out))
    })?;
    out.insert("contacts".into(), contacts);
    out.extend(fields.rest());
    Ok((out, company_name))
}

/// How a string field is checked: the rules imports and API writes share
/// (`super::write` uses them for the fields a partner writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rule {
    /// At most this many characters.
    MaxChars(usize),
    /// "" or one of these.
    OneOf(&'static [&'static str]),
    /// "" or `YYYY-MM-DD`.
    Date,
    /// "" or an IETF language tag such as `en-US`.
    LanguageTag,
    /// An ISO 3166-1 alpha-2 country code (API writes require it).
    Country,
    /// An email address: an RFC 5322 addr-spec, UTF-8 allowed (RFC 6532).
    Email,
}

impl Rule {
    const fn max(chars: usize) -> Self {
        Rule::MaxChars(chars)
    }

    pub(super) fn check(self, value: &str) -> Result<(), String> {
        match self {
            // PostgreSQL's text cannot hold it, and no partner means it: it
            // is refused on both backends (docs/DECISIONS.md, "Hostile input").
            _ if value.contains('\0') => Err("must not contain the character U+0000".into()),
            Rule::Country if super::formats::is_country(value) => Ok(()),
            Rule::Country => Err("must be an ISO 3166-1 alpha-2 country code".into()),
            Rule::Email if value.chars().count() <= 250 && super::formats::is_email(value) => Ok(()),
            Rule::Email => Err("must be an email address".into()),
            Rule::MaxChars(max) if value.chars().count() > max => Err(format!("must be at most {max} characters")),
            Rule::MaxChars(_) => Ok(()),
            _ if value.is_empty() => Ok(()),
            Rule::OneOf(allowed) if allowed.contains(&value) => Ok(()),
            Rule::OneOf(allowed) => Err(format!("must be \"\" or one of {}", allowed.join(", "))),
            Rule::Date if parse_date(value).is_some() => Ok(()),
            Rule::Date => Err("must be \"\" or a date YYYY-MM-DD".into()),
            Rule::LanguageTag if is_language_tag(value) => Ok(()),
            Rule::LanguageTag => Err("must be an IETF language tag such as en-US".into()),
        }
    }
}

/// Takes named fields out of a JSON object; what is left afterwards is the
/// record's unknown data, still in its original order.
///
/// A list, not a map: objects have a handful of keys, so finding one by
/// comparing names beats hashing it, and taking one leaves a hole instead of
/// shifting the rest.
struct Fields<'a> {
    entries: Vec<(String, Option<Value>)>,
    /// Prefix of error paths, e.g. `companyProfile.`.
    path: &'a str,
}

impl<'a> Fields<'a> {
    fn new(object: Map<String, Value>, path: &'a str) -> Self {
        Fields {
            entries: object.into_iter().map(|(key, value)| (key, Some(value))).collect(),
            path,
        }
    }

    /// Whether `name` is present and not `null`.
    fn has(&self, name: &str) -> bool {
        self.entries
            .iter()
            .any(|(key, value)| key == name && value.as_ref().is_some_and(|v| !v.is_null()))
    }

    /// The fields nobody took, in their original order.
    fn rest(self) -> impl Iterator<Item = (String, Value)> {
        self.entries
            .into_iter()
            .filter_map(|(key, value)| value.map(|value| (key, value)))
    }

    fn error(&self, name: &str, why: &str) -> RecordError {
        RecordError(format!("{}{name}: {why}", self.path))
    }

    /// Removes `name`; an explicit `null` counts as absent.
    fn take(&mut self, name: &str) -> Option<Value> {
        self.entries
            .iter_mut()
            .find(|(key, _)| key == name)
            .and_then(|(_, value)| value.take())
            .filter(|v| !v.is_null())
    }

    fn string(&mut self, name: &str, rule: Rule) -> Result<String, RecordError> {
        match self.take(name) {
            None => Ok(String::new()),
            Some(Value::String(s)) => rule.check(&s).map(|()| s).map_err(|why| self.error(name, &why)),
            Some(_) => Err(self.error(name, "must be a string")),
        }
    }

    fn required_string(&mut self, name: &str, max_chars: usize) -> Result<String, RecordError> {
        if !self.has(name) {
            return Err(self.error(name, "is required"));
        }
        let value = self.string(name, Rule::max(max_chars))?;
        if value.is_empty() {
            return Err(self.error(name, "must not be empty"));
        }
        Ok(value)
    }

    fn array(
        &mut self,
        name: &str,
        mut each: impl FnMut(Value, String) -> Result<Value, RecordError>,
    ) -> Result<Value, RecordError> {
        match self.take(name) {
            None => Ok(Value::Array(Vec::new())),
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| each(item, format!("{}{name}[{i}]", self.path)))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Some(_) => Err(self.error(name, "must be an array")),
        }
    }

    fn string_array(&mut self, name: &str) -> Result<Value, RecordError> {
        self.array(name, |value, path| match value {
            Value::String(_) => Ok(value),
            _ => Err(RecordError(format!("{path}: must be a string"))),
        })
    }
}

/// A path segment's safe characters (RFC 3986 unreserved); the rest of a
/// customer id is percent-encoded in its URI.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The URI of a customer's own resource (SPEC §6), `/v3/customers/{id}`.
pub fn customer_uri(customer_id: &str) -> String {
    format!(
        "/v3/customers/{}",
        percent_encoding::utf8_percent_encode(customer_id, PATH_SEGMENT)
    )
}

/// `"links":{…}` of a customer (SPEC §6), as it closes a record or a summary.
pub fn links_member(customer_id: &str) -> String {
    // An id of letters and digits (Roster makes ten digits) needs neither
    // percent- nor JSON-escaping: it is copied in, without `format!` (GET
    // of one customer builds this on every request).
    if customer_id.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
        const HEAD: &str = r#""links":{"self":{"uri":"/v3/customers/"#;
        const TAIL: &str = r#"","method":"GET","headers":[]}}"#;
        let mut member = String::with_capacity(HEAD.len() + customer_id.len() + TAIL.len());
        member.push_str(HEAD);
        member.push_str(customer_id);
        member.push_str(TAIL);
        return member;
    }
    let uri = serde_json::to_string(&customer_uri(customer_id)).expect("a string serialises");
    format!(r#""links":{{"self":{{"uri":{uri},"method":"GET","headers":[]}}}}"#)
}

/// A hash of a stored document: its strong ETag, the same on every server.
pub fn tag_of(document: &[u8]) -> u64 {
    let digest = Sha256::digest(document);
    u64::from_be_bytes(digest[..8].try_into().expect("eight bytes"))
}

/// The strong ETag of a document's tag (SPEC §6), quoted.
pub fn etag(tag: u64) -> String {
    // By hand rather than `format!("\"{tag:016x}\"")`, which GET of one
    // customer paid on every request (docs/PERFORMANCE.md, "GET one customer against its ceiling").
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(18);
    text.push('"');
    for nibble in (0..16).rev() {
        text.push(char::from(HEX[(tag >> (nibble * 4)) as usize & 15]));
    }
    text.push('"');
    text
}

/// Whether an `If-Match` (`strong`) or `If-None-Match` (weak comparison)
/// header's value lists `etag`, or is `*` (RFC 9110 §13.1).
pub fn tag_matches(header: &str, etag: &str, strong: bool) -> bool {
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*"
            || match candidate.strip_prefix("W/") {
                Some(weak) => !strong && weak == etag,
                None => candidate == etag,
            }
    })
}

/// A stored document with `links` as its last member: the record as SPEC
/// §6 answers with it.
pub fn with_links(document: &[u8], customer_id: &str) -> Vec<u8> {
    let links = links_member(customer_id);
    let mut body = Vec::with_capacity(document.len() + links.len() + 1);
    body.extend_from_slice(&document[..document.len() - 1]);
    body.push(b',');
    body.extend_from_slice(links.as_bytes());
    body.push(b'}');
    body
}

/// The `2025-11` list item of a customer (SPEC §7): `externalReferenceId`,
/// `customerId`, `resellerId`, `status`, `companyProfile` with only
/// `companyName`, `creationDate` and `links`, in that order.
pub fn summary(record: &CustomerRecord) -> String {
    let head = summary_head(&record.doc).unwrap_or_else(|| {
        // Every document Roster stores starts with these five fields (see
        // `from_json`); this is for a document written some other way.
        let doc: Value = serde_json::from_str(&record.doc).unwrap_or_default();
        let field = |value: &Value| serde_json::to_string(value.as_str().unwrap_or_default()).expect("a string");
        format!(
            r#"{{"externalReferenceId":{},"customerId":{},"resellerId":{},"status":{},"companyProfile":{{"companyName":{}}}"#,
            field(&doc["externalReferenceId"]),
            field(&doc["customerId"]),
            field(&doc["resellerId"]),
            field(&doc["status"]),
            field(&doc["companyProfile"]["companyName"]),
        )
    });
    format!(
        r#"{head},"creationDate":"{}",{}}}"#,
        format_creation_date(record.created_at),
        links_member(&record.customer_id)
    )
}

/// The summary's fields up to `companyProfile`, copied (escapes and all)
/// from the first five members of a stored document.
fn summary_head(doc: &str) -> Option<String> {
    let mut rest = doc;
    let mut head = String::with_capacity(160);
    head.push('{');
    for (i, key) in ["externalReferenceId", "customerId", "resellerId", "status"]
        .iter()
        .enumerate()
    {
        rest = rest.strip_prefix(if i == 0 { "{\"" } else { ",\"" })?;
        rest = rest.strip_prefix(key)?.strip_prefix("\":")?;
        let (string, after) = json_string_token(rest)?;
        if i > 0 {
            head.push(',');
        }
        head.push('"');
        head.push_str(key);
        head.push_str("\":");
        head.push_str(string);
        rest = after;
    }
    rest = rest.strip_prefix(r#","companyProfile":{"companyName":"#)?;
    let (name, _) = json_string_token(rest)?;
    head.push_str(r#","companyProfile":{"companyName":"#);
    head.push_str(name);
    head.push('}');
    Some(head)
}

/// The JSON string token at the start of `text` (quotes included) and
/// what follows it.
fn json_string_token(text: &str) -> Option<(&str, &str)> {
    let bytes = text.as_bytes();
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(text.split_at(i + 1)),
            _ => i += 1,
        }
    }
    None
}

/// Strict `YYYY-MM-DDTHH:MM:SSZ`, as Unix seconds.
pub fn parse_creation_date(value: &str) -> Option<i64> {
    let bytes = value.as_bytes();
    if bytes.len() != 20 || bytes[10] != b'T' || bytes[19] != b'Z' || bytes[13] != b':' || bytes[16] != b':' {
        return None;
    }
    let date: Date = parse_date(&value[..10])?;
    let two = |at: usize| -> Option<u8> {
        let digits = &value[at..at + 2];
        digits
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let time = Time::from_hms(two(11)?, two(14)?, two(17)?).ok()?;
    Some(date.with_time(time).assume_utc().unix_timestamp())
}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_creation_date(seconds: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(seconds).expect("a stored creation date is in range");
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// A BCP 47 tag in its common shape: a 2–8 letter language, then subtags of
/// 1–8 letters or digits (`en`, `en-US`, `zh-Hant-TW`, `es-419`).
fn is_language_tag(value: &str) -> bool {
    let mut subtags = value.split('-');
    let language_ok = subtags
        .next()
        .is_some_and(|l| (2..=8).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic()));
    language_ok && subtags.all(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_tags_compare_as_rfc_9110_says() {
        assert_eq!(etag(u64::MAX - 0x0f), "\"fffffffffffffff0\"");
        assert_eq!(etag(0x0123_4567_89ab_cdef), "\"0123456789abcdef\"");
        let etag = etag(0xabc);
        assert_eq!(etag, "\"0000000000000abc\"");
        assert!(tag_matches("\"0000000000000abc\"", &etag, true));
        assert!(tag_matches("\"x\", \"0000000000000abc\"", &etag, true));
        assert!(tag_matches("*", &etag, true));
        assert!(
            !tag_matches("W/\"0000000000000abc\"", &etag, true),
            "If-Match is strong"
        );
        assert!(
            tag_matches("W/\"0000000000000abc\"", &etag, false),
            "If-None-Match is weak"
        );
        assert!(!tag_matches("\"0000000000000abd\"", &etag, false));
        assert!(!tag_matches("", &etag, true));
    }
    use serde_json::json;

    fn minimal() -> Value {
        json!({
            "customerId": "C1",
            "resellerId": "R1",
            "status": "1000",
            "companyProfile": {"companyName": "Acme GmbH"},
            "creationDate": "2025-07-29T10:42:31Z"
        })
    }

    #[test]
    fn fills_defaults_in_spec_order() {
        let record = CustomerRecord::from_json(minimal()).unwrap();
        assert_eq!(
            record.doc,
            concat!(
                r#"{"externalReferenceId":"","customerId":"C1","resellerId":"R1","status":"1000","#,
                r#""companyProfile":{"companyName":"Acme GmbH","preferredLanguage":"","marketSegment":"","#,
                r#""marketSubSegments":[],"address":{"country":"","region":"","city":"","addressLine1":"","#,
                r#""addressLine2":"","postalCode":"","phoneNumber":""},"contacts":[]},"discounts":[],"#,
                r#""tags":[],"cotermDate":"","creationDate":"2025-07-29T10:42:31Z","benefits":[],"#,
                r#""globalSalesEnabled":false}"#
            )
        );
        assert_eq!(record.name_key, "acme gmbh");
        assert_eq!(record.created_at, 1_753_785_751);
        assert_eq!(format_creation_date(record.created_at), "2025-07-29T10:42:31Z");
    }

    #[test]
    fn keeps_unknown_data_after_named_fields() {
        let mut value = minimal();
        value["zeta"] = json!(1);
        value["alpha"] = serde_json::from_str(r#"{"nested": [1.50, 12345678901234567890123]}"#).unwrap();
        value["linkedMembership"] = json!({"type": "STANDARD", "id": "L1"});
        value["companyProfile"]["contacts"] =
            json!([{"email": "a@b.c", "phoneNumber": "+1 555", "role": "admin"}, {"firstName": "Jo"}]);
        value["companyProfile"]["extra"] = json!(true);
        value["benefits"] = json!([{"type": "THREE_YEAR_COMMIT", "commitment": {"minimumQuantities": [{"offerType": "LICENSE", "quantity": 10}]}}]);
        value["discounts"] = json!([{"level": "02", "offerType": "LICENSE", "note": "x"}]);
        let doc: Value = serde_json::from_str(&CustomerRecord::from_json(value).unwrap().doc).unwrap();
        let top: Vec<_> = doc.as_object().unwrap().keys().cloned().collect();
        assert_eq!(top[10..], ["globalSalesEnabled", "linkedMembership", "zeta", "alpha"]);
        assert!(
            CustomerRecord::from_json(serde_json::from_str(&doc.to_string()).unwrap())
                .unwrap()
                .doc
                .contains(r#""alpha":{"nested":[1.50,12345678901234567890123]}"#),
            "numbers are kept as written"
        );
        assert_eq!(
            doc["companyProfile"]["contacts"],
            json!([
                {"firstName": "", "lastName": "", "email": "a@b.c", "phoneNumber": "+1 555", "role": "admin"},
                {"firstName": "Jo", "lastName": "", "email": ""}
            ])
        );
        assert_eq!(
            doc["discounts"],
            json!([{"offerType": "LICENSE", "level": "02", "note": "x"}])
        );
        assert_eq!(
            doc["companyProfile"].as_object().unwrap().keys().next_back().unwrap(),
            "extra"
        );
    }

    #[test]
    fn refuses_bad_records_with_the_reason() {
        let refuse = |edit: fn(&mut Value)| {
            let mut value = minimal();
            edit(&mut value);
            CustomerRecord::from_json(value).unwrap_err().0
        };
        assert_eq!(refuse(|v| v["customerId"] = Value::Null), "customerId: is required");
        assert_eq!(refuse(|v| v["customerId"] = json!("")), "customerId: must not be empty");
        assert_eq!(
            refuse(|v| v["customerId"] = json!("x".repeat(41))),
            "customerId: must be at most 40 characters"
        );
        assert_eq!(refuse(|v| v["status"] = json!(1000)), "status: must be a string");
        assert_eq!(
            refuse(|v| v["status"] = json!("1001")),
            "status: must be one of 1000, 1002, 1004, 1010, 1012, 1014, 1026"
        );
        assert_eq!(
            refuse(|v| v["creationDate"] = json!("2025-07-29 10:42:31")),
            "creationDate: must be a UTC timestamp YYYY-MM-DDTHH:MM:SSZ"
        );
        assert_eq!(
            refuse(|v| v["creationDate"] = json!("2025-02-30T10:42:31Z")),
            "creationDate: must be a UTC timestamp YYYY-MM-DDTHH:MM:SSZ"
        );
        assert_eq!(
            refuse(|v| v["companyProfile"]["companyName"] = json!("é".repeat(251))),
            "companyProfile.companyName: must be at most 250 characters"
        );
        assert_eq!(
            refuse(|v| v["companyProfile"]["marketSegment"] = json!("BIZ")),
            "companyProfile.marketSegment: must be \"\" or one of COM, EDU, GOV"
        );
        assert_eq!(
            refuse(|v| v["companyProfile"]["contacts"] = json!([{"email": 5}])),
            "companyProfile.contacts[0].email: must be a string"
        );
        assert_eq!(
            refuse(|v| v["discounts"] = json!([{"offerType": "GIFT"}])),
            "discounts[0].offerType: must be \"\" or one of LICENSE, CONSUMABLES"
        );
        assert_eq!(refuse(|v| v["tags"] = json!(["a", 1])), "tags[1]: must be a string");
        assert_eq!(
            refuse(|v| v["cotermDate"] = json!("2025-13-01")),
            "cotermDate: must be \"\" or a date YYYY-MM-DD"
        );
        assert_eq!(refuse(|v| *v = json!([1])), "record: must be a JSON object");
    }

    #[test]
    fn links_name_the_customer_s_own_uri_escaped_where_needed() {
        let links = |id: &str| serde_json::from_str::<Value>(&format!("{{{}}}", links_member(id))).unwrap();
        assert_eq!(
            links("1000717074"),
            json!({"links": {"self": {"uri": "/v3/customers/1000717074", "method": "GET", "headers": []}}})
        );
        assert_eq!(
            links("C-1.x_~"),
            json!({"links": {"self": {"uri": "/v3/customers/C-1.x_~", "method": "GET", "headers": []}}})
        );
        assert_eq!(
            links("a\"b/é"),
            json!({"links": {"self": {"uri": "/v3/customers/a%22b%2F%C3%A9", "method": "GET", "headers": []}}})
        );
    }

    #[test]
    fn summaries_copy_five_fields_and_add_the_date_and_links() {
        let mut value = minimal();
        value["externalReferenceId"] = json!("ext \"1\" \\ é");
        value["customerId"] = json!("C 1/é");
        value["companyProfile"]["companyName"] = json!("Ünïcode \u{1} \"Co\"");
        let record = CustomerRecord::from_json(value).unwrap();
        let expected = json!({
            "externalReferenceId": "ext \"1\" \\ é",
            "customerId": "C 1/é",
            "resellerId": "R1",
            "status": "1000",
            "companyProfile": {"companyName": "Ünïcode \u{1} \"Co\""},
            "creationDate": "2025-07-29T10:42:31Z",
            "links": {"self": {"uri": "/v3/customers/C%201%2F%C3%A9", "method": "GET", "headers": []}}
        });
        let fast = summary(&record);
        assert_eq!(serde_json::from_str::<Value>(&fast).unwrap(), expected);
        // A document that does not start as Roster writes them takes the
        // slow path, with the same result.
        let slow = CustomerRecord {
            doc: serde_json::to_string(
                &serde_json::from_str::<serde_json::Map<String, Value>>(&record.doc)
                    .unwrap()
                    .into_iter()
                    .rev()
                    .collect::<serde_json::Map<_, _>>(),
            )
            .unwrap(),
            ..record.clone()
        };
        assert!(summary_head(&slow.doc).is_none());
        assert_eq!(summary(&slow), fast);
        let top: Vec<String> = serde_json::from_str::<serde_json::Map<String, Value>>(&fast)
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(
            top,
            [
                "externalReferenceId",
                "customerId",
                "resellerId",
                "status",
                "companyProfile",
                "creationDate",
                "links"
            ]
        );
    }

    #[test]
    fn language_tags() {
        for ok in ["en", "en-US", "zh-Hant-TW", "es-419"] {
            assert!(is_language_tag(ok), "{ok}");
        }
        for bad in ["e", "en_US", "en-", "-US", "toolonglanguage"] {
            assert!(!is_language_tag(bad), "{bad}");
        }
    }
}
