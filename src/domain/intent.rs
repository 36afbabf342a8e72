//! What a write through the API asks for (an [`Intent`]) and what it comes
//! to (a [`Decision`]): a pure function of the intent and of what the
//! write's transaction sees of the data ([`Seen`]), so that the store can
//! run it inside its transaction and the handler can run the same rules
//! against the catalog first, to refuse early and in SPEC §7's order.
//!
//! The answer a write gives is an [`Answer`], plain data (status, headers,
//! body): the store remembers it for the request's correlation id and
//! replays it as it was.

use super::customer::{CustomerRecord, customer_uri, etag, tag_matches, tag_of, with_links};
use super::refusal::{Code, Refusal};
use super::scope::ResellerScope;
use super::status::Status;
use super::write::{NewCustomer, Patch, first_email_of};

/// An answer as a write gives it and the store remembers it (SPEC §7):
/// status, the headers that belong to it (`Location`, `ETag`, …), body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// A refusal in SPEC §3's shape.
    pub fn refused(refusal: &Refusal) -> Self {
        Answer {
            status: refusal.code.status(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: refusal.body(),
        }
    }

    /// A customer as SPEC §6 answers with it: the record with `links`, and
    /// its ETag.
    pub fn customer(status: u16, record: &CustomerRecord) -> Self {
        Answer {
            status,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("etag".into(), etag(tag_of(record.doc.as_bytes()))),
            ],
            body: with_links(record.doc.as_bytes(), &record.customer_id),
        }
    }
}

/// A PATCH of one customer, with what it is conditional on.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchIntent {
    pub customer_id: String,
    pub patch: Patch,
    /// The `If-Match` header's value; one that is not text is `Some("")`,
    /// which matches nothing.
    pub if_match: Option<String>,
    /// The caller's scope: a customer outside it is unknown (1116).
    pub scope: ResellerScope,
}

/// What a write asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Intent {
    /// `POST /v3/customers`.
    Create(NewCustomer),
    /// `PATCH /v3/customers/{id}`.
    Patch(PatchIntent),
    /// Nothing to write: only remember this answer for the correlation id
    /// (a refusal found before the write).
    Remember(Answer),
}

/// Which customer a write is about: what its transaction must read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target<'a> {
    /// A new customer of this reseller with this folded name: the write
    /// sees the reseller's customers of that name, and a fresh id.
    New { reseller_id: &'a str, name_key: String },
    /// An existing customer, which the write sees as it is now (or not).
    Existing { customer_id: &'a str },
    /// None.
    Nothing,
}

/// What a write sees of the data, inside its transaction.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    /// The target customer as it is now ([`Target::Existing`]).
    pub current: Option<&'a CustomerRecord>,
    /// The reseller's customers with the same folded name ([`Target::New`]).
    pub namesakes: &'a [CustomerRecord],
    /// The id the new customer gets ([`Target::New`]): 10 random digits,
    /// no customer's yet.
    pub new_id: Option<&'a str>,
    /// Unix seconds, the transaction's now.
    pub now: i64,
}

/// What a write comes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Store this record (the target's, changed; or the new one) and answer so.
    Write { record: CustomerRecord, answer: Answer },
    /// Change nothing; answer so.
    Answer(Answer),
}

/// What a PATCH comes to for the customer as it is.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Refused(Refusal),
    /// It changes nothing: the customer as it is.
    Unchanged(Answer),
    Changed {
        record: CustomerRecord,
        answer: Answer,
    },
}

impl Intent {
    pub fn target(&self) -> Target<'_> {
        match self {
            Intent::Create(new) => Target::New {
                reseller_id: new.reseller_id(),
                name_key: new.name_key(),
            },
            Intent::Patch(patch) => Target::Existing {
                customer_id: &patch.customer_id,
            },
            Intent::Remember(_) => Target::Nothing,
        }
    }

    /// The decision, from what the transaction sees. Pure: it may run more
    /// than once (a new customer's id may collide).
    pub fn decide(&self, seen: &Seen<'_>) -> Decision {
        match self {
            Intent::Create(new) => match judge_create(new, seen.namesakes) {
                Err(refusal) => Decision::Answer(Answer::refused(&refusal)),
                Ok(()) => {
                    let record = new.record(seen.new_id.expect("a new customer gets an id"), seen.now);
                    let mut answer = Answer::customer(201, &record);
                    answer
                        .headers
                        .push(("location".into(), customer_uri(&record.customer_id)));
                    Decision::Write { record, answer }
                }
            },
            Intent::Patch(patch) => match judge_patch(patch, seen.current) {
                Verdict::Refused(refusal) => Decision::Answer(Answer::refused(&refusal)),
                Verdict::Unchanged(answer) => Decision::Answer(answer),
                Verdict::Changed { record, answer } => Decision::Write { record, answer },
            },
            Intent::Remember(answer) => Decision::Answer(answer.clone()),
        }
    }
}

/// SPEC §6's duplicate rule: a customer of the reseller with the same folded
/// company name and the same first-contact email (without ASCII case) → 1127.
pub fn judge_create(new: &NewCustomer, namesakes: &[CustomerRecord]) -> Result<(), Refusal> {
    let email = new.first_email();
    let duplicate = namesakes
        .iter()
        .any(|record| first_email_of(record).is_some_and(|other| other == email));
    if duplicate {
        Err(Code::AlreadyExists.into())
    } else {
        Ok(())
    }
}

/// A PATCH's checks in SPEC §6's order for the customer as it is
/// (`current`): the customer in scope (1116), `If-Match` (412), its status
/// (1125), then the patch itself (1119, 1117).
pub fn judge_patch(intent: &PatchIntent, current: Option<&CustomerRecord>) -> Verdict {
    let Some(current) = current.filter(|current| intent.scope.contains(&current.reseller_id)) else {
        return Verdict::Refused(Code::UnknownCustomer.into());
    };
    if let Some(tags) = &intent.if_match
        && !tag_matches(tags, &etag(tag_of(current.doc.as_bytes())), true)
    {
        return Verdict::Refused(Code::PreconditionFailed.into());
    }
    if [Status::PENDING, Status::BLOCKED].contains(&current.status) {
        return Verdict::Refused(Code::UpdateBlocked.into());
    }
    match intent.patch.apply(current) {
        Err(problem) => Verdict::Refused(problem.into()),
        Ok(None) => Verdict::Unchanged(Answer::customer(200, current)),
        Ok(Some(record)) => {
            let answer = Answer::customer(200, &record);
            Verdict::Changed { record, answer }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn new_customer(name: &str, email: &str) -> NewCustomer {
        let body = json!({
            "resellerId": "R1",
            "companyProfile": {
                "companyName": name,
                "address": {"country": "DE", "region": "BE", "city": "Berlin", "addressLine1": "Linden 1",
                            "postalCode": "10117"},
                "contacts": [{"firstName": "Ada", "lastName": "Lovelace", "email": email}]
            }
        });
        NewCustomer::parse(body.to_string().as_bytes()).unwrap()
    }

    fn patch_of(customer_id: &str, body: Value, if_match: Option<&str>) -> PatchIntent {
        PatchIntent {
            customer_id: customer_id.into(),
            patch: Patch::parse(body.to_string().as_bytes()).unwrap(),
            if_match: if_match.map(str::to_owned),
            scope: ResellerScope::Only(["R1".to_owned()].into()),
        }
    }

    fn seen<'a>(current: Option<&'a CustomerRecord>, namesakes: &'a [CustomerRecord]) -> Seen<'a> {
        Seen {
            current,
            namesakes,
            new_id: Some("1234567890"),
            now: 1_764_000_000,
        }
    }

    #[test]
    fn a_create_is_written_with_its_new_id_unless_it_duplicates_a_namesake() {
        let intent = Intent::Create(new_customer("Acme", "Ada@Acme.example"));
        assert_eq!(
            intent.target(),
            Target::New {
                reseller_id: "R1",
                name_key: "acme".into()
            }
        );
        let Decision::Write { record, answer } = intent.decide(&seen(None, &[])) else {
            panic!("a new customer is written");
        };
        assert_eq!((record.customer_id.as_str(), answer.status), ("1234567890", 201));
        assert_eq!(
            answer.headers,
            vec![
                ("content-type".to_owned(), "application/json".to_owned()),
                ("etag".to_owned(), etag(tag_of(record.doc.as_bytes()))),
                ("location".to_owned(), "/v3/customers/1234567890".to_owned()),
            ]
        );
        // The same name and first email, in another case: 1127.
        let namesake = new_customer("ACME", "ada@acme.EXAMPLE").record("1111111111", 0);
        assert_eq!(
            intent.decide(&seen(None, std::slice::from_ref(&namesake))),
            Decision::Answer(Answer::refused(&Code::AlreadyExists.into()))
        );
        // Another email is another customer.
        let other = new_customer("Acme", "bob@acme.example").record("1111111111", 0);
        assert!(matches!(
            intent.decide(&seen(None, std::slice::from_ref(&other))),
            Decision::Write { .. }
        ));
    }

    #[test]
    fn a_patch_is_judged_in_spec_6s_order() {
        let current = new_customer("Acme", "ada@acme.example").record("1234567890", 0);
        let tag = etag(tag_of(current.doc.as_bytes()));
        let refused = |code: Code| Decision::Answer(Answer::refused(&code.into()));
        let decide =
            |intent: PatchIntent, current: Option<&CustomerRecord>| Intent::Patch(intent).decide(&seen(current, &[]));
        let change = json!({"tags": ["gold"]});
        assert_eq!(
            decide(patch_of("1234567890", change.clone(), None), None),
            refused(Code::UnknownCustomer)
        );
        let mut foreign = current.clone();
        foreign.reseller_id = "R2".into();
        assert_eq!(
            decide(patch_of("1234567890", change.clone(), None), Some(&foreign)),
            refused(Code::UnknownCustomer),
            "out of scope answers as unknown"
        );
        assert_eq!(
            decide(patch_of("1234567890", change.clone(), Some("\"0\"")), Some(&current)),
            refused(Code::PreconditionFailed)
        );
        assert_eq!(
            decide(patch_of("1234567890", change.clone(), Some("")), Some(&current)),
            refused(Code::PreconditionFailed),
            "an If-Match that is not text matches nothing"
        );
        let mut blocked = current.clone();
        blocked.status = Status::BLOCKED;
        assert_eq!(
            decide(patch_of("1234567890", change.clone(), None), Some(&blocked)),
            refused(Code::UpdateBlocked)
        );
        assert_eq!(
            decide(
                patch_of("1234567890", json!({"resellerId": "R9"}), None),
                Some(&current)
            ),
            Decision::Answer(Answer::refused(&Refusal::new(
                Code::NotEditable,
                vec!["resellerId: is not editable".into()]
            )))
        );
        assert_eq!(
            decide(patch_of("1234567890", json!({}), Some(&tag)), Some(&current)),
            Decision::Answer(Answer::customer(200, &current)),
            "a patch that changes nothing answers the customer as it is"
        );
        let Decision::Write { record, answer } = decide(patch_of("1234567890", change, Some(&tag)), Some(&current))
        else {
            panic!("a change is written");
        };
        assert_eq!(answer, Answer::customer(200, &record));
        assert!(record.doc.contains(r#""tags":["gold"]"#), "{}", record.doc);
    }

    #[test]
    fn remembering_writes_nothing_and_answers_as_told() {
        let answer = Answer::refused(&Code::MissingFields.into());
        let intent = Intent::Remember(answer.clone());
        assert_eq!(intent.target(), Target::Nothing);
        assert_eq!(intent.decide(&seen(None, &[])), Decision::Answer(answer));
    }
}
