//! The bodies of SPEC §6's writes: `POST /v3/customers` (a new customer)
//! and `PATCH /v3/customers/{id}` (a JSON merge patch, RFC 7396), checked
//! against one schema of the customer's fields, every problem named by its
//! JSON path.
//!
//! Both end in the import's own normaliser ([`CustomerRecord::from_json`]),
//! with the import's field rules: a customer written through the API is
//! validated, normalised and stored exactly as an imported one. What is
//! particular to writes is decided here: which fields a partner may give
//! (read-only ones not at all, non-editable ones only unchanged), which are
//! required, and the three-year-commitment requests of a PATCH.

use serde_json::{Map, Value, json};

use super::customer::{CustomerRecord, Rule, customer_uri, format_creation_date};
use super::status::Status;

/// Why a write's body is refused, in the order the checks run: one code per
/// answer (SPEC §6), every offending field named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyProblem {
    /// Not JSON, or JSON but not an object (1117).
    NotObject,
    /// Unknown or read-only fields (1121).
    Unexpected(Vec<String>),
    /// Required fields absent (1122).
    Missing(Vec<String>),
    /// Values of the wrong type, length or format (1117).
    Invalid(Vec<String>),
    /// Non-editable fields given another value (1119).
    NotEditable(Vec<String>),
}

impl BodyProblem {
    /// The `additionalDetails` lines.
    pub fn details(&self) -> Vec<String> {
        match self {
            BodyProblem::NotObject => vec!["body: must be a JSON object".into()],
            BodyProblem::Unexpected(details)
            | BodyProblem::Missing(details)
            | BodyProblem::Invalid(details)
            | BodyProblem::NotEditable(details) => details.clone(),
        }
    }
}

/// What a field may hold.
#[derive(Clone, Copy)]
enum Kind {
    Text(Rule),
    /// An array of strings.
    Texts,
    Flag,
    /// Any JSON value, kept as given.
    Anything,
    /// An array of objects, kept as given (`benefits` on a POST).
    Objects,
    Object(&'static [Field]),
    /// An array of objects with these fields.
    List(&'static [Field]),
}

/// Whether a POST must give the field.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    Optional,
    Required,
    /// A list with at least one element.
    NonEmpty,
}

/// What a partner may do with the field.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Editable,
    /// Set by POST, then fixed: a PATCH may repeat its value, not change it.
    Fixed,
    /// Set by Roster: a POST may not give it, a PATCH only repeat it.
    ReadOnly,
    /// `benefits`: three-year-commitment requests, read on their own by
    /// [`commitment_requests`] (SPEC §6).
    Requests,
}

struct Field {
    name: &'static str,
    kind: Kind,
    need: Need,
    access: Access,
}

const fn field(name: &'static str, kind: Kind, need: Need, access: Access) -> Field {
    Field {
        name,
        kind,
        need,
        access,
    }
}

use self::Access::{Editable, Fixed, ReadOnly, Requests};
use self::Kind::{Anything, Flag, List, Object, Objects, Text, Texts};
use self::Need::{NonEmpty, Optional, Required};

const ADDRESS: &[Field] = &[
    field("country", Text(Rule::Country), Required, Fixed),
    field("region", Text(Rule::MaxChars(250)), Required, Fixed),
    field("city", Text(Rule::MaxChars(250)), Required, Editable),
    field("addressLine1", Text(Rule::MaxChars(250)), Required, Editable),
    field("addressLine2", Text(Rule::MaxChars(250)), Optional, Editable),
    field("postalCode", Text(Rule::MaxChars(250)), Required, Editable),
    field("phoneNumber", Text(Rule::MaxChars(250)), Optional, Editable),
];

const CONTACT: &[Field] = &[
    field("firstName", Text(Rule::MaxChars(250)), Required, Editable),
    field("lastName", Text(Rule::MaxChars(250)), Required, Editable),
    field("email", Text(Rule::Email), Required, Editable),
    field("phoneNumber", Text(Rule::MaxChars(250)), Optional, Editable),
];

const DISCOUNT: &[Field] = &[
    field(
        "offerType",
        Text(Rule::OneOf(&["LICENSE", "CONSUMABLES"])),
        Required,
        Editable,
    ),
    field("level", Text(Rule::MaxChars(20)), Optional, Editable),
];

const PROFILE: &[Field] = &[
    field("companyName", Text(Rule::MaxChars(250)), Required, Fixed),
    field("preferredLanguage", Text(Rule::LanguageTag), Optional, Editable),
    field(
        "marketSegment",
        Text(Rule::OneOf(&["COM", "EDU", "GOV"])),
        Optional,
        Editable,
    ),
    field("marketSubSegments", Texts, Optional, Editable),
    field("address", Object(ADDRESS), Required, Editable),
    field("contacts", List(CONTACT), NonEmpty, Editable),
];

/// Every field of SPEC §1's customer, and `links`.
const CUSTOMER: &[Field] = &[
    field("externalReferenceId", Text(Rule::MaxChars(35)), Optional, Editable),
    field("customerId", Anything, Optional, ReadOnly),
    field("resellerId", Text(Rule::MaxChars(40)), Required, Fixed),
    field("status", Anything, Optional, ReadOnly),
    field("companyProfile", Object(PROFILE), Required, Editable),
    field("discounts", List(DISCOUNT), Optional, Editable),
    field("tags", Texts, Optional, Editable),
    field("cotermDate", Anything, Optional, ReadOnly),
    field("creationDate", Anything, Optional, ReadOnly),
    field("benefits", Objects, Optional, Requests),
    field("globalSalesEnabled", Flag, Optional, Editable),
    field("linkedMembership", Anything, Optional, Editable),
    field("links", Anything, Optional, ReadOnly),
];

/// Problems found so far, by kind.
#[derive(Default)]
struct Findings {
    unexpected: Vec<String>,
    missing: Vec<String>,
    invalid: Vec<String>,
    not_editable: Vec<String>,
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

/// The body as a JSON object.
fn object(body: &[u8]) -> Result<Map<String, Value>, BodyProblem> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(BodyProblem::NotObject),
    }
}

/// How a write treats required fields.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A POST: read-only fields are unexpected, absent required ones missing (1122).
    Create,
    /// A PATCH: fixed fields are compared later; a required field may not
    /// be removed, and a list given whole (contacts) must have what a POST
    /// needs, both as bad values (1117).
    Patch,
}

/// Checks a present, non-null value against its kind.
fn check_value(kind: Kind, value: &Value, path: &str, mode: Mode, findings: &mut Findings) {
    match (kind, value) {
        (Text(rule), Value::String(text)) => {
            if let Err(why) = rule.check(text) {
                findings.invalid.push(format!("{path}: {why}"));
            }
        }
        (Text(_), _) => findings.invalid.push(format!("{path}: must be a string")),
        (Texts, Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                if !item.is_string() {
                    findings.invalid.push(format!("{path}[{i}]: must be a string"));
                }
            }
        }
        (Texts, _) => findings.invalid.push(format!("{path}: must be an array of strings")),
        (Flag, Value::Bool(_)) | (Anything, _) => {}
        (Flag, _) => findings.invalid.push(format!("{path}: must be true or false")),
        (Objects, Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                if !item.is_object() {
                    findings.invalid.push(format!("{path}[{i}]: must be an object"));
                }
            }
        }
        (Objects, _) => findings.invalid.push(format!("{path}: must be an array")),
        (Object(fields), Value::Object(map)) => check_object(fields, map, path, mode, findings),
        (Object(_), _) => findings.invalid.push(format!("{path}: must be an object")),
        (List(fields), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{i}]");
                match item {
                    // A list item is given whole, in a PATCH too.
                    Value::Object(map) => check_whole(fields, map, &item_path, mode, findings),
                    _ => findings.invalid.push(format!("{item_path}: must be an object")),
                }
            }
        }
        (List(_), _) => findings.invalid.push(format!("{path}: must be an array")),
    }
}

/// Checks an object's members against `fields`.
fn check_object(fields: &[Field], map: &Map<String, Value>, prefix: &str, mode: Mode, findings: &mut Findings) {
    for (name, value) in map {
        let path = join(prefix, name);
        let Some(field) = fields.iter().find(|f| f.name == name) else {
            findings
                .unexpected
                .push(format!("{path}: is not a field of a customer"));
            continue;
        };
        match mode {
            Mode::Create if field.access == ReadOnly => {
                findings.unexpected.push(format!("{path}: is read-only"));
                continue;
            }
            // Commitment requests are checked on their own
            // (`commitment_requests`), and in a PATCH fixed fields are
            // compared with the customer's values later.
            _ if field.access == Requests => continue,
            Mode::Patch if matches!(field.access, Fixed | ReadOnly) => continue,
            Mode::Patch if value.is_null() && field.need == Required && !matches!(field.kind, Object(_)) => {
                findings.invalid.push(format!("{path}: must not be empty"));
                continue;
            }
            _ if value.is_null() => continue,
            _ => {}
        }
        check_value(field.kind, value, &path, mode, findings);
        if let (Text(_), Value::String(text)) = (field.kind, value)
            && text.is_empty()
            && field.need == Required
        {
            findings.invalid.push(format!("{path}: must not be empty"));
        }
    }
    if mode == Mode::Create {
        require(fields, map, prefix, &mut findings.missing);
    }
}

/// [`check_object`] for an object given whole (a list item): its required
/// fields must be there, whatever the mode.
fn check_whole(fields: &[Field], map: &Map<String, Value>, prefix: &str, mode: Mode, findings: &mut Findings) {
    check_object(fields, map, prefix, mode, findings);
    if mode == Mode::Patch {
        require(fields, map, prefix, &mut findings.invalid);
    }
}

/// Names each required field `map` lacks. An absent object's own required
/// fields are named instead of it, each by its full path, so that the
/// partner learns every field to send (`companyProfile.address.city`, not
/// `companyProfile`).
fn require(fields: &[Field], map: &Map<String, Value>, prefix: &str, problems: &mut Vec<String>) {
    for field in fields.iter().filter(|f| f.need != Optional) {
        let path = join(prefix, field.name);
        match map.get(field.name) {
            None | Some(Value::Null) if field.need == NonEmpty => {
                problems.push(format!("{path}: at least one is required"));
            }
            None | Some(Value::Null) => match field.kind {
                Object(inner) => require(inner, &Map::new(), &path, problems),
                _ => problems.push(format!("{path}: is required")),
            },
            Some(Value::Array(items)) if field.need == NonEmpty && items.is_empty() => {
                problems.push(format!("{path}: at least one is required"));
            }
            Some(_) => {}
        }
    }
}

impl Findings {
    /// The first kind of problem that applies, or none.
    fn verdict(self) -> Result<(), BodyProblem> {
        if !self.unexpected.is_empty() {
            Err(BodyProblem::Unexpected(self.unexpected))
        } else if !self.missing.is_empty() {
            Err(BodyProblem::Missing(self.missing))
        } else if !self.invalid.is_empty() {
            Err(BodyProblem::Invalid(self.invalid))
        } else if !self.not_editable.is_empty() {
            Err(BodyProblem::NotEditable(self.not_editable))
        } else {
            Ok(())
        }
    }
}

/// A valid `POST /v3/customers` body, before Roster gives it an id.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCustomer {
    body: Map<String, Value>,
    /// Its three-year-commitment requests, recorded as a PATCH records them.
    requests: Vec<CommitmentRequest>,
}

impl NewCustomer {
    /// Checks a POST body (SPEC §6): the problems of the first kind that
    /// applies, in the order unexpected fields, missing ones, bad values,
    /// then `benefits` entries a new customer cannot have (1119).
    pub fn parse(body: &[u8]) -> Result<Self, BodyProblem> {
        let body = object(body)?;
        let mut findings = Findings::default();
        check_object(CUSTOMER, &body, "", Mode::Create, &mut findings);
        let requests = match body.get("benefits") {
            None | Some(Value::Null) => Vec::new(),
            Some(benefits) => {
                let (requests, not_editable) = commitment_requests(benefits, Mode::Create, &mut findings);
                findings.not_editable.extend(not_editable);
                requests
            }
        };
        findings.verdict()?;
        Ok(NewCustomer { body, requests })
    }

    pub fn reseller_id(&self) -> &str {
        self.body["resellerId"]
            .as_str()
            .expect("a checked body has a resellerId")
    }

    /// The company name, simple-case-folded (the duplicate check compares it).
    pub fn name_key(&self) -> String {
        super::pattern::fold(
            self.body["companyProfile"]["companyName"]
                .as_str()
                .expect("a checked body has a companyName"),
        )
    }

    /// The first contact's email, compared without regard to ASCII case.
    pub fn first_email(&self) -> String {
        self.body["companyProfile"]["contacts"][0]["email"]
            .as_str()
            .expect("a checked body has a first contact with an email")
            .to_ascii_lowercase()
    }

    /// The customer Roster stores: `customerId`, status 1000, created at
    /// `created_at` (Unix seconds), no coterm date, `marketSegment` COM
    /// unless given; normalised like an imported record.
    pub fn record(&self, customer_id: &str, created_at: i64) -> CustomerRecord {
        let mut record = self.body.clone();
        record.insert("customerId".into(), customer_id.into());
        record.insert("status".into(), Status::ACTIVE.code().into());
        record.insert("creationDate".into(), format_creation_date(created_at).into());
        record.insert("cotermDate".into(), "".into());
        let profile = record
            .get_mut("companyProfile")
            .and_then(Value::as_object_mut)
            .expect("a checked body has a companyProfile");
        if profile.get("marketSegment").is_none_or(Value::is_null) {
            profile.insert("marketSegment".into(), "COM".into());
        }
        // The entries kept as given (LARGE_GOVERNMENT_AGENCY); the first
        // THREE_YEAR_COMMIT entry's place holds the benefit its requests are
        // recorded on.
        let mut benefits = Vec::new();
        for entry in record.get("benefits").and_then(Value::as_array).into_iter().flatten() {
            match entry["type"].as_str() {
                Some(THREE_YEAR_COMMIT) if benefits.iter().any(|b: &Value| b["type"] == THREE_YEAR_COMMIT) => {}
                Some(THREE_YEAR_COMMIT) => benefits.push(json!({"type": THREE_YEAR_COMMIT})),
                _ => benefits.push(entry.clone()),
            }
        }
        record.insert("benefits".into(), Value::Array(benefits));
        let mut invalid = Vec::new();
        record_requests(&self.requests, &mut record, &mut invalid);
        debug_assert!(
            invalid.is_empty(),
            "a new customer's requests are commitment requests: {invalid:?}"
        );
        CustomerRecord::from_json(Value::Object(record)).expect("a checked body normalises like an import")
    }
}

/// Which document [`json_schema`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaOf {
    /// A `POST /v3/customers` body.
    NewCustomer,
    /// A `PATCH /v3/customers/{id}` merge patch.
    Patch,
    /// A customer as the API returns it (imports may keep fields of their
    /// own, so others are allowed).
    Customer,
}

/// The JSON Schema (draft 2020-12, as OpenAPI 3.1 takes it) of `of`, made
/// from the field table that checks the bodies, so the published schema
/// and the checks cannot disagree. Rules a schema cannot say exactly
/// (country codes, email addresses, language tags) are loosened to their
/// type and length.
pub fn json_schema(of: SchemaOf) -> Value {
    object_schema(CUSTOMER, of)
}

fn object_schema(fields: &[Field], of: SchemaOf) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in fields {
        if of == SchemaOf::NewCustomer && field.access == ReadOnly {
            continue;
        }
        let mut schema = match field.access {
            Requests if of != SchemaOf::Customer => benefits_schema(of),
            _ => kind_schema(field.kind, field.need, of),
        };
        if of != SchemaOf::Customer && field.need == Required && schema["type"] == "string" {
            schema["minLength"] = json!(1);
        }
        if of == SchemaOf::Patch && field.need == Optional {
            // A merge patch removes an optional field with null.
            schema = json!({"anyOf": [schema, {"type": "null"}]});
        }
        properties.insert(field.name.to_owned(), schema);
        if of == SchemaOf::NewCustomer && field.need != Optional {
            required.push(field.name);
        }
    }
    let mut schema = json!({"type": "object", "properties": properties});
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    if of != SchemaOf::Customer {
        schema["additionalProperties"] = json!(false);
    }
    schema
}

fn kind_schema(kind: Kind, need: Need, of: SchemaOf) -> Value {
    match kind {
        Text(rule) => rule_schema(rule, of),
        Texts => json!({"type": "array", "items": {"type": "string"}}),
        Flag => json!({"type": "boolean"}),
        Anything => json!({}),
        Objects => json!({"type": "array", "items": {"type": "object"}}),
        Object(fields) => object_schema(fields, of),
        List(fields) => {
            // List items are given whole, in a patch too.
            let items = object_schema(
                fields,
                if of == SchemaOf::Patch {
                    SchemaOf::NewCustomer
                } else {
                    of
                },
            );
            let mut schema = json!({"type": "array", "items": items});
            if need == NonEmpty && of != SchemaOf::Customer {
                schema["minItems"] = json!(1);
            }
            schema
        }
    }
}

/// What a write may give in `benefits` ([`commitment_requests`]'s rules).
fn benefits_schema(of: SchemaOf) -> Value {
    let quantities = json!({"type": "array", "minItems": 1, "items": {"type": "object",
        "required": ["offerType", "quantity"], "additionalProperties": false, "properties": {
            "offerType": {"type": "string", "enum": ["LICENSE", "CONSUMABLES"]},
            "quantity": {"type": "integer", "minimum": 1}}}});
    let request = json!({"type": "object", "required": ["minimumQuantities"], "additionalProperties": false,
        "properties": {"minimumQuantities": quantities}});
    let commitment = |kind: &str| {
        json!({"type": "object", "required": ["type", kind], "additionalProperties": false, "properties": {
            "type": {"const": THREE_YEAR_COMMIT}, kind: request}})
    };
    let entries = match of {
        SchemaOf::NewCustomer => json!({"oneOf": [commitment("commitmentRequest"), {"type": "object",
            "required": ["type"], "additionalProperties": false,
            "properties": {"type": {"const": "LARGE_GOVERNMENT_AGENCY"}}}]}),
        _ => json!({"oneOf": [commitment("commitmentRequest"), commitment("recommitmentRequest")]}),
    };
    let mut schema = json!({"type": "array", "items": entries,
        "description": "Three-year-commitment requests, recorded on the customer's THREE_YEAR_COMMIT benefit \
            as {\"status\": \"REQUESTED\", \"minimumQuantities\": [...]}."});
    if of == SchemaOf::Patch {
        schema["description"] = json!(
            "Three-year-commitment requests (not a merge-patch array): each recorded \
            on the customer's THREE_YEAR_COMMIT benefit. A rule this document cannot express: a \
            recommitmentRequest only while the commitment's status is COMMITTED (else 400 1117)."
        );
    }
    schema
}

fn rule_schema(rule: Rule, of: SchemaOf) -> Value {
    if of == SchemaOf::Customer {
        return json!({"type": "string"});
    }
    match rule {
        // No U+0000 (docs/DECISIONS.md, "Hostile input").
        Rule::MaxChars(max) => json!({"type": "string", "maxLength": max, "pattern": "^[^\\u0000]*$"}),
        Rule::OneOf(allowed) => {
            let values: Vec<&str> = std::iter::once("").chain(allowed.iter().copied()).collect();
            json!({"type": "string", "enum": values})
        }
        Rule::Date => json!({"type": "string", "description": "\"\" or a date YYYY-MM-DD"}),
        Rule::LanguageTag => json!({"type": "string", "pattern": "^([A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*)?$",
            "description": "\"\" or an IETF language tag such as en-US"}),
        Rule::Country => {
            json!({"type": "string", "enum": super::formats::COUNTRIES.as_slice(), "description": "an ISO 3166-1 alpha-2 code"})
        }
        Rule::Email => {
            json!({"type": "string", "format": "email", "maxLength": 250,
                "description": "an email address (RFC 5322 addr-spec)"})
        }
    }
}

/// The first contact's email of a stored customer, for the duplicate check.
pub fn first_email_of(record: &CustomerRecord) -> Option<String> {
    let doc: Value = serde_json::from_str(&record.doc).ok()?;
    Some(
        doc["companyProfile"]["contacts"][0]["email"]
            .as_str()?
            .to_ascii_lowercase(),
    )
}

/// A three-year-commitment request of a PATCH (SPEC §6).
#[derive(Debug, Clone, PartialEq)]
struct CommitmentRequest {
    /// `commitmentRequest` or `recommitmentRequest`.
    kind: &'static str,
    minimum_quantities: Vec<Value>,
    path: String,
}

/// A valid `PATCH /v3/customers/{id}` body: a JSON merge patch.
#[derive(Debug, Clone, PartialEq)]
pub struct Patch {
    body: Map<String, Value>,
    requests: Vec<CommitmentRequest>,
    /// Problems with `benefits` that only show once the target is known to
    /// exist (1119 comes after the target's checks).
    not_editable: Vec<String>,
}

impl Patch {
    /// Checks what can be checked without the customer: unknown fields
    /// (1121), then bad values (1117).
    pub fn parse(body: &[u8]) -> Result<Self, BodyProblem> {
        let body = object(body)?;
        let mut findings = Findings::default();
        check_object(CUSTOMER, &body, "", Mode::Patch, &mut findings);
        let (requests, not_editable) = match body.get("benefits") {
            None | Some(Value::Null) => (Vec::new(), Vec::new()),
            Some(benefits) => commitment_requests(benefits, Mode::Patch, &mut findings),
        };
        findings.verdict()?;
        Ok(Patch {
            body,
            requests,
            not_editable,
        })
    }

    /// The customer after the patch, or `None` if it changes nothing.
    /// `Err` for non-editable fields given another value (1119) and for
    /// values only wrong for this customer (1117).
    pub fn apply(&self, current: &CustomerRecord) -> Result<Option<CustomerRecord>, BodyProblem> {
        let Ok(Value::Object(mut doc)) = serde_json::from_str::<Value>(&current.doc) else {
            return Err(BodyProblem::Invalid(vec![
                "customer: the stored record is not an object".into(),
            ]));
        };
        let mut not_editable = self.not_editable.clone();
        let links = json!({"self": {"uri": customer_uri(&current.customer_id), "method": "GET", "headers": []}});
        fixed_unchanged(CUSTOMER, &self.body, &doc, &links, "", &mut not_editable);
        contact_names_kept(&self.body, &doc, &mut not_editable);
        if !not_editable.is_empty() {
            return Err(BodyProblem::NotEditable(not_editable));
        }
        merge(CUSTOMER, &self.body, &mut doc);
        let mut invalid = Vec::new();
        record_requests(&self.requests, &mut doc, &mut invalid);
        let profile = &self.body.get("companyProfile");
        if profile.is_some_and(|p| p.is_null() || p.get("contacts").is_some())
            && doc["companyProfile"]["contacts"].as_array().is_none_or(Vec::is_empty)
        {
            invalid.push("companyProfile.contacts: at least one contact must remain".into());
        }
        if !invalid.is_empty() {
            return Err(BodyProblem::Invalid(invalid));
        }
        let record = CustomerRecord::from_json(Value::Object(doc)).map_err(|e| BodyProblem::Invalid(vec![e.0]))?;
        Ok((record.doc != current.doc).then_some(record))
    }
}

/// Records each commitment request on the customer's THREE_YEAR_COMMIT
/// benefit (created if absent; its other fields kept), as SPEC §6 says:
/// `{"status": "REQUESTED", "minimumQuantities": [...]}`.
fn record_requests(requests: &[CommitmentRequest], doc: &mut Map<String, Value>, invalid: &mut Vec<String>) {
    if requests.is_empty() {
        return;
    }
    let benefits = doc.entry("benefits").or_insert_with(|| json!([]));
    if !benefits.is_array() {
        *benefits = json!([]);
    }
    let benefits = benefits.as_array_mut().expect("an array");
    let at = match benefits.iter().position(|b| b["type"] == THREE_YEAR_COMMIT) {
        Some(at) => at,
        None => {
            benefits.push(json!({"type": THREE_YEAR_COMMIT}));
            benefits.len() - 1
        }
    };
    for request in requests {
        let benefit = &mut benefits[at];
        if request.kind == "recommitmentRequest" && benefit["commitment"]["status"] != "COMMITTED" {
            invalid.push(format!(
                "{}.recommitmentRequest: allowed only while the commitment's status is COMMITTED",
                request.path
            ));
            continue;
        }
        benefit.as_object_mut().expect("a benefit is an object").insert(
            request.kind.into(),
            json!({"status": "REQUESTED", "minimumQuantities": request.minimum_quantities}),
        );
    }
}

/// The benefit type whose commitments a partner may request (SPEC §6).
const THREE_YEAR_COMMIT: &str = "THREE_YEAR_COMMIT";

/// Reads the `benefits` of a POST or a PATCH (SPEC §6), the one validation
/// both share: each entry a THREE_YEAR_COMMIT request, a
/// `commitmentRequest` (or, on a PATCH, a `recommitmentRequest`) of
/// minimum quantities; on a POST also `{"type": "LARGE_GOVERNMENT_AGENCY"}`.
/// Bad values are 1117 (in `findings`); any other entry or field is not
/// editable, returned for the caller to report (a PATCH reports it only
/// once the customer is known, SPEC §7's order).
fn commitment_requests(benefits: &Value, mode: Mode, findings: &mut Findings) -> (Vec<CommitmentRequest>, Vec<String>) {
    let mut requests = Vec::new();
    let mut not_editable = Vec::new();
    let Some(entries) = benefits.as_array() else {
        findings.invalid.push("benefits: must be an array".into());
        return (requests, not_editable);
    };
    for (i, entry) in entries.iter().enumerate() {
        let path = format!("benefits[{i}]");
        let Some(entry) = entry.as_object() else {
            findings.invalid.push(format!("{path}: must be an object"));
            continue;
        };
        let others = |allowed: &[&str]| -> Vec<String> {
            entry
                .keys()
                .filter(|name| !allowed.contains(&name.as_str()))
                .map(|name| format!("{path}.{name}: is not editable"))
                .collect()
        };
        match entry.get("type").and_then(Value::as_str) {
            Some(THREE_YEAR_COMMIT) => {}
            Some("LARGE_GOVERNMENT_AGENCY") if mode == Mode::Create => {
                not_editable.extend(others(&["type"]));
                continue;
            }
            _ => {
                let allowed = match mode {
                    Mode::Create => "only THREE_YEAR_COMMIT requests and LARGE_GOVERNMENT_AGENCY can be given",
                    Mode::Patch => "only THREE_YEAR_COMMIT requests can be made",
                };
                not_editable.push(format!("{path}.type: {allowed}"));
                continue;
            }
        }
        let kinds: Vec<&'static str> = ["commitmentRequest", "recommitmentRequest"]
            .into_iter()
            .filter(|kind| entry.contains_key(*kind))
            .collect();
        let extra = others(&["type", "commitmentRequest", "recommitmentRequest"]);
        let named_others = !extra.is_empty();
        not_editable.extend(extra);
        let kind = match kinds.as_slice() {
            ["recommitmentRequest", ..] | [_, "recommitmentRequest"] if mode == Mode::Create => {
                findings.invalid.push(format!(
                    "{path}.recommitmentRequest: a new customer has no commitment to renew"
                ));
                continue;
            }
            [kind] => *kind,
            // Fields of its own that may not be given say enough (1119).
            [] if named_others => continue,
            [] => {
                findings.invalid.push(format!(
                    "{path}: must hold a commitmentRequest or a recommitmentRequest"
                ));
                continue;
            }
            _ => {
                findings.invalid.push(format!(
                    "{path}: must hold a commitmentRequest or a recommitmentRequest, not both"
                ));
                continue;
            }
        };
        let request_path = format!("{path}.{kind}");
        let Some(request) = entry[kind].as_object() else {
            findings.invalid.push(format!("{request_path}: must be an object"));
            continue;
        };
        for name in request.keys().filter(|k| *k != "minimumQuantities") {
            not_editable.push(format!("{request_path}.{name}: is not editable"));
        }
        let quantities_path = format!("{request_path}.minimumQuantities");
        let Some(quantities) = request.get("minimumQuantities").and_then(Value::as_array) else {
            findings.invalid.push(format!("{quantities_path}: must be an array"));
            continue;
        };
        if quantities.is_empty() {
            findings
                .invalid
                .push(format!("{quantities_path}: must list at least one quantity"));
        }
        for (j, quantity) in quantities.iter().enumerate() {
            let quantity_path = format!("{quantities_path}[{j}]");
            let Some(quantity) = quantity.as_object() else {
                findings.invalid.push(format!("{quantity_path}: must be an object"));
                continue;
            };
            for name in quantity.keys().filter(|k| *k != "offerType" && *k != "quantity") {
                not_editable.push(format!("{quantity_path}.{name}: is not editable"));
            }
            if !matches!(
                quantity.get("offerType").and_then(Value::as_str),
                Some("LICENSE" | "CONSUMABLES")
            ) {
                findings
                    .invalid
                    .push(format!("{quantity_path}.offerType: must be LICENSE or CONSUMABLES"));
            }
            if !quantity.get("quantity").is_some_and(is_positive_integer) {
                findings
                    .invalid
                    .push(format!("{quantity_path}.quantity: must be an integer of 1 or more"));
            }
        }
        requests.push(CommitmentRequest {
            kind,
            minimum_quantities: quantities.clone(),
            path,
        });
    }
    (requests, not_editable)
}

/// Whether `value` is a whole number of 1 or more, however JSON writes it
/// (`10`, `10.0`, `1e1`, or more digits than 64 bits hold), as JSON
/// Schema's `integer` says.
fn is_positive_integer(value: &Value) -> bool {
    let Value::Number(number) = value else {
        return false;
    };
    let text = number.to_string();
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.bytes().any(|b| b != b'0');
    }
    number
        .as_f64()
        .is_some_and(|n| n.is_finite() && n >= 1.0 && n.fract() == 0.0)
}

/// A contact whose email matches one of the customer's keeps its name
/// (SPEC §6: contact names cannot be changed through the API): each
/// `firstName` or `lastName` of such a contact the patch gives another
/// value is named. Emails match without regard to ASCII case.
fn contact_names_kept(patch: &Map<String, Value>, current: &Map<String, Value>, not_editable: &mut Vec<String>) {
    let Some(given) = patch
        .get("companyProfile")
        .and_then(|profile| profile.get("contacts"))
        .and_then(Value::as_array)
    else {
        return;
    };
    let existing = current
        .get("companyProfile")
        .and_then(|profile| profile.get("contacts"))
        .and_then(Value::as_array);
    for (i, contact) in given.iter().enumerate() {
        let Some(wanted) = contact["email"].as_str() else {
            continue;
        };
        let Some(same) = existing.into_iter().flatten().find(|known| {
            known["email"]
                .as_str()
                .is_some_and(|email| email.eq_ignore_ascii_case(wanted))
        }) else {
            continue;
        };
        for name in ["firstName", "lastName"] {
            if contact[name] != same[name] {
                not_editable.push(format!(
                    "companyProfile.contacts[{i}].{name}: is not editable (a contact's name cannot be changed)"
                ));
            }
        }
    }
}

/// Names each fixed or read-only field the patch gives a value other than
/// the customer's (`links` compares with the customer's own links).
fn fixed_unchanged(
    fields: &[Field],
    patch: &Map<String, Value>,
    current: &Map<String, Value>,
    links: &Value,
    prefix: &str,
    not_editable: &mut Vec<String>,
) {
    for field in fields {
        let Some(given) = patch.get(field.name) else {
            continue;
        };
        let path = join(prefix, field.name);
        let now = if field.name == "links" && prefix.is_empty() {
            links
        } else {
            current.get(field.name).unwrap_or(&Value::Null)
        };
        match (field.access, field.kind) {
            (Fixed | ReadOnly, _) if given != now => not_editable.push(format!("{path}: is not editable")),
            (Editable, Object(children)) => {
                // A null container removes its fixed members too.
                let empty = Map::new();
                let given = given.as_object().map_or_else(
                    || children.iter().map(|c| (c.name.to_owned(), Value::Null)).collect(),
                    Map::clone,
                );
                fixed_unchanged(
                    children,
                    &given,
                    now.as_object().unwrap_or(&empty),
                    links,
                    &path,
                    not_editable,
                );
            }
            _ => {}
        }
    }
}

/// RFC 7396 over the editable fields: a null removes the member (it then
/// takes its default), an object merges, anything else replaces.
fn merge(fields: &[Field], patch: &Map<String, Value>, target: &mut Map<String, Value>) {
    for field in fields.iter().filter(|f| f.access == Editable) {
        let Some(given) = patch.get(field.name) else {
            continue;
        };
        match (field.kind, given) {
            (_, Value::Null) => {
                if let Object(children) = field.kind
                    && let Some(Value::Object(inner)) = target.get_mut(field.name)
                {
                    // Only the editable members go; fixed ones stay.
                    for child in children.iter().filter(|c| c.access == Editable) {
                        inner.remove(child.name);
                    }
                } else {
                    target.remove(field.name);
                }
            }
            (Object(children), Value::Object(inner_patch)) => {
                let inner = target.entry(field.name).or_insert_with(|| Value::Object(Map::new()));
                if !inner.is_object() {
                    *inner = Value::Object(Map::new());
                }
                merge(children, inner_patch, inner.as_object_mut().expect("an object"));
            }
            // `contacts: []` leaves the contacts as they are (SPEC §6, as the
            // family's own three-year-commit samples send it).
            (List(_), Value::Array(items)) if items.is_empty() && field.need == NonEmpty => {}
            (_, value) => {
                target.insert(field.name.to_owned(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Value {
        json!({
            "resellerId": "R1",
            "companyProfile": {
                "companyName": "Acme GmbH",
                "address": {"country": "DE", "region": "BE", "city": "Berlin", "addressLine1": "Unter den Linden 1",
                            "postalCode": "10117"},
                "contacts": [{"firstName": "Ada", "lastName": "Lovelace", "email": "ada@acme.example"}]
            }
        })
    }

    fn post(value: Value) -> Result<NewCustomer, BodyProblem> {
        NewCustomer::parse(value.to_string().as_bytes())
    }

    /// An absent object is not one problem: each required field it would
    /// hold is named by its path, as SPEC §6 lists them.
    #[test]
    fn an_absent_object_names_every_required_field_it_would_hold() {
        assert_eq!(
            post(json!({})),
            Err(BodyProblem::Missing(vec![
                "resellerId: is required".into(),
                "companyProfile.companyName: is required".into(),
                "companyProfile.address.country: is required".into(),
                "companyProfile.address.region: is required".into(),
                "companyProfile.address.city: is required".into(),
                "companyProfile.address.addressLine1: is required".into(),
                "companyProfile.address.postalCode: is required".into(),
                "companyProfile.contacts: at least one is required".into(),
            ]))
        );
        let mut body = valid();
        body["companyProfile"]["address"] = Value::Null;
        assert_eq!(
            post(body),
            Err(BodyProblem::Missing(vec![
                "companyProfile.address.country: is required".into(),
                "companyProfile.address.region: is required".into(),
                "companyProfile.address.city: is required".into(),
                "companyProfile.address.addressLine1: is required".into(),
                "companyProfile.address.postalCode: is required".into(),
            ]))
        );
    }

    #[test]
    fn a_valid_post_becomes_a_normalised_active_record() {
        let new = post(valid()).unwrap();
        assert_eq!(
            (new.reseller_id(), new.name_key(), new.first_email()),
            ("R1", "acme gmbh".into(), "ada@acme.example".into())
        );
        let record = new.record("1234567890", 1_764_000_000);
        assert_eq!(record.status, Status::ACTIVE);
        assert_eq!(
            record.doc,
            concat!(
                r#"{"externalReferenceId":"","customerId":"1234567890","resellerId":"R1","status":"1000","#,
                r#""companyProfile":{"companyName":"Acme GmbH","preferredLanguage":"","marketSegment":"COM","#,
                r#""marketSubSegments":[],"address":{"country":"DE","region":"BE","city":"Berlin","#,
                r#""addressLine1":"Unter den Linden 1","addressLine2":"","postalCode":"10117","phoneNumber":""},"#,
                r#""contacts":[{"firstName":"Ada","lastName":"Lovelace","email":"ada@acme.example"}]},"#,
                r#""discounts":[],"tags":[],"cotermDate":"","creationDate":"2025-11-24T16:00:00Z","benefits":[],"#,
                r#""globalSalesEnabled":false}"#
            )
        );
    }

    #[test]
    fn post_problems_come_one_kind_at_a_time_each_field_named() {
        assert_eq!(NewCustomer::parse(b"[1]"), Err(BodyProblem::NotObject));
        assert_eq!(NewCustomer::parse(b"{nope"), Err(BodyProblem::NotObject));
        let mut body = valid();
        body["customerId"] = json!("X");
        body["companyProfile"]["nickname"] = json!("A");
        body["companyProfile"]["contacts"][0]["role"] = json!("admin");
        body.as_object_mut().unwrap().remove("resellerId");
        // In the order the body gives its members (removing resellerId
        // moved customerId, the last member, to the front).
        assert_eq!(
            post(body.clone()),
            Err(BodyProblem::Unexpected(vec![
                "customerId: is read-only".into(),
                "companyProfile.contacts[0].role: is not a field of a customer".into(),
                "companyProfile.nickname: is not a field of a customer".into(),
            ]))
        );
        body.as_object_mut().unwrap().remove("customerId");
        body["companyProfile"].as_object_mut().unwrap().remove("nickname");
        body["companyProfile"]["contacts"][0]
            .as_object_mut()
            .unwrap()
            .remove("role");
        body["companyProfile"]["address"]
            .as_object_mut()
            .unwrap()
            .remove("country");
        body["companyProfile"]["contacts"] = json!([]);
        assert_eq!(
            post(body.clone()),
            Err(BodyProblem::Missing(vec![
                "companyProfile.address.country: is required".into(),
                "companyProfile.contacts: at least one is required".into(),
                "resellerId: is required".into(),
            ]))
        );
        let mut body = valid();
        body["companyProfile"]["address"]["country"] = json!("XX");
        body["companyProfile"]["contacts"][0]["email"] = json!("not an email");
        body["companyProfile"]["companyName"] = json!("");
        body["tags"] = json!(["a", 1]);
        body["globalSalesEnabled"] = json!("yes");
        assert_eq!(
            post(body),
            Err(BodyProblem::Invalid(vec![
                "companyProfile.companyName: must not be empty".into(),
                "companyProfile.address.country: must be an ISO 3166-1 alpha-2 country code".into(),
                "companyProfile.contacts[0].email: must be an email address".into(),
                "tags[1]: must be a string".into(),
                "globalSalesEnabled: must be true or false".into(),
            ]))
        );
    }

    fn stored(value: Value) -> CustomerRecord {
        post(value).unwrap().record("1234567890", 1_764_000_000)
    }

    fn patch(current: &CustomerRecord, body: Value) -> Result<Option<Value>, BodyProblem> {
        let patch = Patch::parse(body.to_string().as_bytes())?;
        Ok(patch.apply(current)?.map(|r| serde_json::from_str(&r.doc).unwrap()))
    }

    #[test]
    fn patches_merge_the_editable_fields() {
        let current = stored(valid());
        let after = patch(
            &current,
            json!({
                "externalReferenceId": "ext-7",
                "tags": ["gold"],
                "companyProfile": {"address": {"city": "Potsdam", "addressLine2": null}, "marketSegment": "EDU"},
                "linkedMembership": {"type": "STANDARD"},
                "resellerId": "R1",
                "customerId": "1234567890",
                "companyProfile.unused": null
            }),
        );
        assert_eq!(
            after,
            Err(BodyProblem::Unexpected(vec![
                "companyProfile.unused: is not a field of a customer".into()
            ]))
        );
        let after = patch(
            &current,
            json!({
                "externalReferenceId": "ext-7",
                "tags": ["gold"],
                "companyProfile": {"address": {"city": "Potsdam", "addressLine2": null}, "marketSegment": "EDU"},
                "linkedMembership": {"type": "STANDARD"},
                "resellerId": "R1",
                "customerId": "1234567890",
                "links": {"self": {"uri": "/v3/customers/1234567890", "method": "GET", "headers": []}}
            }),
        )
        .unwrap()
        .unwrap();
        assert_eq!(after["externalReferenceId"], "ext-7");
        assert_eq!(after["tags"], json!(["gold"]));
        assert_eq!(after["companyProfile"]["address"]["city"], "Potsdam");
        assert_eq!(after["companyProfile"]["address"]["country"], "DE");
        assert_eq!(after["companyProfile"]["marketSegment"], "EDU");
        assert_eq!(after["linkedMembership"], json!({"type": "STANDARD"}));
        assert_eq!(after["creationDate"], "2025-11-24T16:00:00Z");
        assert_eq!(patch(&current, json!({})), Ok(None), "an empty patch changes nothing");
        assert_eq!(
            patch(&current, json!({"tags": []})),
            Ok(None),
            "neither does the same value"
        );
    }

    #[test]
    fn non_editable_fields_may_repeat_their_value_only() {
        let current = stored(valid());
        assert_eq!(
            patch(
                &current,
                json!({"resellerId": "R2", "status": "1004", "companyProfile": {"companyName": "Other", "address": {"region": "BE"}}})
            ),
            Err(BodyProblem::NotEditable(vec![
                "resellerId: is not editable".into(),
                "status: is not editable".into(),
                "companyProfile.companyName: is not editable".into(),
            ]))
        );
        assert_eq!(
            patch(&current, json!({"companyProfile": null})),
            Err(BodyProblem::NotEditable(vec![
                "companyProfile.companyName: is not editable".into(),
                "companyProfile.address.country: is not editable".into(),
                "companyProfile.address.region: is not editable".into(),
            ]))
        );
        assert_eq!(
            patch(&current, json!({"companyProfile": {"contacts": null}})),
            Err(BodyProblem::Invalid(vec![
                "companyProfile.contacts: at least one contact must remain".into()
            ]))
        );
        assert_eq!(
            patch(&current, json!({"companyProfile": {"contacts": [{"firstName": "A"}]}})),
            Err(BodyProblem::Invalid(vec![
                "companyProfile.contacts[0].lastName: is required".into(),
                "companyProfile.contacts[0].email: is required".into()
            ]))
        );
        assert_eq!(
            patch(
                &current,
                json!({"companyProfile": {"address": {"city": null, "postalCode": ""}}})
            ),
            Err(BodyProblem::Invalid(vec![
                "companyProfile.address.city: must not be empty".into(),
                "companyProfile.address.postalCode: must not be empty".into()
            ]))
        );
    }

    #[test]
    fn commitment_requests_are_recorded_on_the_benefit() {
        // A commitment comes by import (its life happens outside Roster).
        let mut imported = serde_json::from_str::<Value>(&stored(valid()).doc).unwrap();
        imported["benefits"] =
            json!([{"type": "THREE_YEAR_COMMIT", "commitment": {"status": "COMMITTED", "endDate": "2027-01-01"}}]);
        let current = CustomerRecord::from_json(imported).unwrap();
        let request = json!({"benefits": [{"type": "THREE_YEAR_COMMIT", "recommitmentRequest":
            {"minimumQuantities": [{"offerType": "LICENSE", "quantity": 30}]}}]});
        let after = patch(&current, request.clone()).unwrap().unwrap();
        assert_eq!(
            after["benefits"],
            json!([{"type": "THREE_YEAR_COMMIT", "commitment": {"status": "COMMITTED", "endDate": "2027-01-01"},
                    "recommitmentRequest": {"status": "REQUESTED", "minimumQuantities": [{"offerType": "LICENSE", "quantity": 30}]}}])
        );
        // Without a COMMITTED commitment, a recommitment is refused...
        let fresh = stored(valid());
        assert_eq!(
            patch(&fresh, request),
            Err(BodyProblem::Invalid(vec![
                "benefits[0].recommitmentRequest: allowed only while the commitment's status is COMMITTED".into()
            ]))
        );
        // ...and a first commitment creates the benefit.
        let after = patch(
            &fresh,
            json!({"benefits": [{"type": "THREE_YEAR_COMMIT", "commitmentRequest":
                {"minimumQuantities": [{"offerType": "CONSUMABLES", "quantity": 1}]}}]}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            after["benefits"],
            json!([{"type": "THREE_YEAR_COMMIT", "commitmentRequest": {"status": "REQUESTED",
                    "minimumQuantities": [{"offerType": "CONSUMABLES", "quantity": 1}]}}])
        );
        assert_eq!(
            patch(
                &fresh,
                json!({"benefits": [{"type": "OTHER"}, {"type": "THREE_YEAR_COMMIT", "commitment": {}}]})
            ),
            Err(BodyProblem::NotEditable(vec![
                "benefits[0].type: only THREE_YEAR_COMMIT requests can be made".into(),
                "benefits[1].commitment: is not editable".into()
            ])),
            "a field other than the requests is 1119, whatever else the entry lacks"
        );
        assert_eq!(
            patch(&fresh, json!({"benefits": [{"type": "THREE_YEAR_COMMIT"}]})),
            Err(BodyProblem::Invalid(vec![
                "benefits[0]: must hold a commitmentRequest or a recommitmentRequest".into()
            ]))
        );
        assert_eq!(
            patch(&fresh, json!({"benefits": [{"type": "LARGE_GOVERNMENT_AGENCY"}]})),
            Err(BodyProblem::NotEditable(vec![
                "benefits[0].type: only THREE_YEAR_COMMIT requests can be made".into()
            ])),
            "a PATCH makes requests; it does not add benefits"
        );
        assert_eq!(
            patch(&fresh, json!({"benefits": [{"type": "OTHER"}]})),
            Err(BodyProblem::NotEditable(vec![
                "benefits[0].type: only THREE_YEAR_COMMIT requests can be made".into()
            ]))
        );
        assert_eq!(
            patch(
                &fresh,
                json!({"benefits": [{"type": "THREE_YEAR_COMMIT", "commitmentRequest": {"minimumQuantities": [{"offerType": "X", "quantity": 0}]}}]})
            ),
            Err(BodyProblem::Invalid(vec![
                "benefits[0].commitmentRequest.minimumQuantities[0].offerType: must be LICENSE or CONSUMABLES".into(),
                "benefits[0].commitmentRequest.minimumQuantities[0].quantity: must be an integer of 1 or more".into(),
            ]))
        );
    }

    /// SPEC §6: a POST's benefits are validated as a PATCH's requests and
    /// recorded the same way; LARGE_GOVERNMENT_AGENCY is kept as given.
    #[test]
    fn a_post_records_its_three_year_commitment_request() {
        let mut body = valid();
        body["benefits"] = json!([
            {"type": "LARGE_GOVERNMENT_AGENCY"},
            {"type": "THREE_YEAR_COMMIT", "commitmentRequest": {"minimumQuantities":
                [{"offerType": "LICENSE", "quantity": 10}, {"offerType": "CONSUMABLES", "quantity": 1000}]}}
        ]);
        let record = post(body).unwrap().record("1234567890", 1_764_000_000);
        let doc: Value = serde_json::from_str(&record.doc).unwrap();
        assert_eq!(
            doc["benefits"],
            json!([
                {"type": "LARGE_GOVERNMENT_AGENCY"},
                {"type": "THREE_YEAR_COMMIT", "commitmentRequest": {"status": "REQUESTED", "minimumQuantities":
                    [{"offerType": "LICENSE", "quantity": 10}, {"offerType": "CONSUMABLES", "quantity": 1000}]}}
            ])
        );
        let refused = |benefits: Value| {
            let mut body = valid();
            body["benefits"] = benefits;
            post(body).unwrap_err()
        };
        assert_eq!(
            refused(json!([{"type": "THREE_YEAR_COMMIT", "commitmentRequest":
                {"minimumQuantities": [{"offerType": "BOGUS", "quantity": 0}]}}])),
            BodyProblem::Invalid(vec![
                "benefits[0].commitmentRequest.minimumQuantities[0].offerType: must be LICENSE or CONSUMABLES".into(),
                "benefits[0].commitmentRequest.minimumQuantities[0].quantity: must be an integer of 1 or more".into(),
            ])
        );
        assert_eq!(
            refused(json!([{"type": "ANYTHING"}, {"type": "LARGE_GOVERNMENT_AGENCY", "since": "2020"}])),
            BodyProblem::NotEditable(vec![
                "benefits[0].type: only THREE_YEAR_COMMIT requests and LARGE_GOVERNMENT_AGENCY can be given".into(),
                "benefits[1].since: is not editable".into(),
            ])
        );
        assert_eq!(
            refused(json!([{"type": "THREE_YEAR_COMMIT", "commitment": {"status": "COMMITTED"}}])),
            BodyProblem::NotEditable(vec!["benefits[0].commitment: is not editable".into()]),
            "a new customer cannot claim a commitment"
        );
        assert_eq!(
            refused(json!([{"type": "THREE_YEAR_COMMIT", "recommitmentRequest":
                {"minimumQuantities": [{"offerType": "LICENSE", "quantity": 5}]}}])),
            BodyProblem::Invalid(vec![
                "benefits[0].recommitmentRequest: a new customer has no commitment to renew".into()
            ])
        );
        assert_eq!(
            refused(json!({"type": "THREE_YEAR_COMMIT"})),
            BodyProblem::Invalid(vec!["benefits: must be an array".into()])
        );
    }

    #[test]
    fn a_quantity_is_a_whole_number_of_one_or_more_however_written() {
        let number = |text: &str| serde_json::from_str::<Value>(text).unwrap();
        for yes in ["1", "10", "10.0", "1e1", "123456789012345678901234567890"] {
            assert!(is_positive_integer(&number(yes)), "{yes}");
        }
        for no in ["0", "0.0", "-1", "1.5", "\"1\"", "null", "1e-1"] {
            assert!(!is_positive_integer(&number(no)), "{no}");
        }
    }

    /// SPEC §6: `contacts: []` keeps the contacts; a contact whose email
    /// is known keeps its name.
    #[test]
    fn contacts_keep_their_names_and_an_empty_list_keeps_them() {
        let current = stored(valid());
        assert_eq!(patch(&current, json!({"companyProfile": {"contacts": []}})), Ok(None));
        let renamed = json!({"companyProfile": {"contacts": [
            {"firstName": "Ada", "lastName": "Byron", "email": "ADA@acme.example"}]}});
        assert_eq!(
            patch(&current, renamed),
            Err(BodyProblem::NotEditable(vec![
                "companyProfile.contacts[0].lastName: is not editable (a contact's name cannot be changed)".into()
            ]))
        );
        let after = patch(
            &current,
            json!({"companyProfile": {"contacts": [
                {"firstName": "Ada", "lastName": "Lovelace", "email": "ada@acme.example", "phoneNumber": "+44 1"},
                {"firstName": "Charles", "lastName": "Babbage", "email": "charles@acme.example"}]}}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            after["companyProfile"]["contacts"],
            json!([{"firstName": "Ada", "lastName": "Lovelace", "email": "ada@acme.example", "phoneNumber": "+44 1"},
                   {"firstName": "Charles", "lastName": "Babbage", "email": "charles@acme.example"}])
        );
    }
}
