//! The write protocol of SPEC §6–§8, once for every backend. A batch of API
//! writes runs in one transaction; each write, inside a savepoint of its
//! own:
//!
//! 1. forgets its correlation id's answer if past the window, and is a
//!    [`WriteOutcome::Duplicate`] if one is remembered (SPEC §7);
//! 2. reads what its [`Target`] needs (the customer; or the reseller's
//!    namesakes and a fresh id);
//! 3. decides ([`Intent::decide`], a pure function of the domain);
//! 4. stores the record it decided on, bumping the generation once per
//!    batch;
//! 5. remembers its answer for its correlation id.
//!
//! Then the batch's generation is logged with the customers it changed
//! (the change log every server follows, SPEC §8) and old remembered
//! answers are trimmed. A backend supplies a [`Transaction`], whose methods
//! are one query each, and runs this inside its own `BEGIN … COMMIT`;
//! group commit and savepoints stay its own.

#[cfg(test)]
mod memory;

use anyhow::Result;

use super::{
    CHANGE_LOG_MAX_CUSTOMERS, CHANGE_LOG_RETENTION, Changes, Correlation, CustomerWrite, Generation, Retention,
    WriteOutcome, abandoned_write, new_customer_id,
};
use crate::domain::CustomerRecord;
use crate::domain::intent::{Answer, Decision, Seen, Target};

/// How many old generations, or remembered answers, one batch forgets at
/// most: the trim keeps up with writes without making any batch slow.
const TRIM_STEP: u32 = 256;

/// What a backend does inside one transaction, one query a method.
///
/// The futures of an embedded backend never wait (SQLite's calls block
/// on the thread that runs them); a networked one's do.
#[allow(async_fn_in_trait, reason = "the store's own trait; its callers need no Send bound")]
pub trait Transaction {
    /// Marks where one write of a batch starts, so that it can be taken
    /// back alone.
    async fn savepoint(&mut self) -> Result<()>;
    async fn release_savepoint(&mut self) -> Result<()>;
    async fn roll_back_to_savepoint(&mut self) -> Result<()>;

    /// The customer with this id, locked for the rest of the transaction
    /// where the backend locks rows.
    async fn customer(&mut self, customer_id: &str) -> Result<Option<CustomerRecord>>;
    /// The reseller's customers whose folded name is `name_key`, with the
    /// name locked against another transaction creating it at once.
    async fn namesakes(&mut self, reseller_id: &str, name_key: &str) -> Result<Vec<CustomerRecord>>;
    /// Whether some customer has this id.
    async fn id_taken(&mut self, customer_id: &str) -> Result<bool>;
    async fn insert_customer(&mut self, record: &CustomerRecord) -> Result<()>;
    async fn update_customer(&mut self, record: &CustomerRecord) -> Result<()>;

    /// Makes the next generation the current one, and returns it.
    async fn bump_generation(&mut self) -> Result<Generation>;
    /// Records a committed generation: when, how many customers it
    /// changed, and whether they are logged one by one.
    async fn insert_generation(
        &mut self,
        generation: Generation,
        committed_at: i64,
        changed: u64,
        logged: bool,
    ) -> Result<()>;
    /// Logs the (distinct) customers a generation changed.
    async fn log_changed(&mut self, generation: Generation, customer_ids: &[String]) -> Result<()>;
    /// Tells the other servers, as the transaction commits, that this
    /// generation did (a backend whose writes are found by polling does
    /// nothing).
    async fn announce(&mut self, generation: Generation) -> Result<()>;
    /// The oldest logged generations, with their commit times.
    async fn oldest_generations(&mut self, limit: u32) -> Result<Vec<(Generation, i64)>>;
    /// Forgets the log of every generation up to this one.
    async fn forget_generations_through(&mut self, generation: Generation) -> Result<()>;
    /// The current generation and the first one the log still covers.
    async fn log_bounds(&mut self) -> Result<(Generation, Generation)>;
    /// How many customers the generations after `after` changed, and
    /// whether all of them are logged.
    async fn log_totals(&mut self, after: Generation) -> Result<(u64, bool)>;
    /// Every customer logged after `after`: its id, and its record if it
    /// still exists.
    async fn logged_since(&mut self, after: Generation) -> Result<Vec<(String, Option<CustomerRecord>)>>;

    /// Forgets this correlation's answer if it was remembered before
    /// `cutoff`; whether it did.
    async fn forget_correlation_before(&mut self, correlation: &Correlation, cutoff: i64) -> Result<bool>;
    /// Whether an answer is remembered for this correlation.
    async fn correlation_known(&mut self, correlation: &Correlation) -> Result<bool>;
    /// Remembers `answer`; `false` if another transaction remembered one
    /// for the same correlation first.
    async fn remember(&mut self, correlation: &Correlation, answer: &Answer, now: i64) -> Result<bool>;
    /// Forgets at most `limit` answers remembered before `cutoff`, oldest
    /// first; how many.
    async fn forget_correlations_before(&mut self, cutoff: i64, limit: u32) -> Result<u64>;
    /// Forgets the `count` oldest remembered answers; how many.
    async fn forget_oldest_correlations(&mut self, count: u64) -> Result<u64>;
    /// How many answers are remembered (a count kept beside them).
    async fn correlations_kept(&mut self) -> Result<i64>;
    /// Adds `delta` to that count.
    async fn count_correlations(&mut self, delta: i64) -> Result<()>;
}

/// Runs a batch of writes in `tx` (see the module's steps); the caller
/// commits. A write that fails is taken back alone (its own `Err`); the
/// others stand.
pub async fn write_batch(
    tx: &mut impl Transaction,
    writes: &[CustomerWrite],
    retention: Retention,
    now: i64,
) -> Result<Vec<Result<WriteOutcome>>> {
    let mut batch = Batch::default();
    let mut outcomes = Vec::with_capacity(writes.len());
    for write in writes {
        if write.abandoned.is_set() {
            outcomes.push(Err(abandoned_write()));
            continue;
        }
        tx.savepoint().await?;
        let before = (batch.generation, batch.changed.len());
        let outcome = write_one(tx, write, now, retention, &mut batch).await;
        if outcome
            .as_ref()
            .is_ok_and(|outcome| *outcome != WriteOutcome::Duplicate)
        {
            tx.release_savepoint().await?;
        } else {
            tx.roll_back_to_savepoint().await?;
            // The savepoint took back all this write did, its bump of the
            // generation included: the next write bumps it again.
            batch.generation = before.0;
            batch.changed.truncate(before.1);
        }
        outcomes.push(outcome);
    }
    if let Some(generation) = batch.generation {
        let written = batch.changed.len() as u64;
        batch.changed.sort_unstable();
        batch.changed.dedup();
        tx.log_changed(generation, &batch.changed).await?;
        close_generation(tx, generation, written, now).await?;
    }
    trim_remembered(tx, retention, now).await?;
    Ok(outcomes)
}

/// What a batch has changed so far.
#[derive(Default)]
struct Batch {
    generation: Option<Generation>,
    /// The ids of the customers written, in order, repeats included.
    changed: Vec<String>,
}

/// One write of a batch, inside its savepoint.
async fn write_one(
    tx: &mut impl Transaction,
    write: &CustomerWrite,
    now: i64,
    retention: Retention,
    batch: &mut Batch,
) -> Result<WriteOutcome> {
    if let Some(correlation) = &write.correlation {
        // An answer past the window is forgotten, even if not trimmed yet.
        let cutoff = now.saturating_sub(retention.window.as_secs() as i64);
        if tx.forget_correlation_before(correlation, cutoff).await? {
            tx.count_correlations(-1).await?;
        }
        if tx.correlation_known(correlation).await? {
            return Ok(WriteOutcome::Duplicate);
        }
    }
    let (current, namesakes, new_id) = match write.intent.target() {
        Target::Existing { customer_id } => (tx.customer(customer_id).await?, Vec::new(), None),
        Target::New { reseller_id, name_key } => {
            let namesakes = tx.namesakes(reseller_id, &name_key).await?;
            let new_id = loop {
                let candidate = new_customer_id();
                if !tx.id_taken(&candidate).await? {
                    break candidate;
                }
            };
            (None, namesakes, Some(new_id))
        }
        Target::Nothing => (None, Vec::new(), None),
    };
    let seen = Seen {
        current: current.as_ref(),
        namesakes: &namesakes,
        new_id: new_id.as_deref(),
        now,
    };
    let (outcome, answer) = match write.intent.decide(&seen) {
        Decision::Write { record, answer } => {
            match current {
                Some(_) => tx.update_customer(&record).await?,
                None => tx.insert_customer(&record).await?,
            }
            let generation = match batch.generation {
                Some(generation) => generation,
                None => *batch.generation.insert(tx.bump_generation().await?),
            };
            batch.changed.push(record.customer_id);
            let outcome = WriteOutcome::Written {
                answer: answer.clone(),
                generation,
            };
            (outcome, answer)
        }
        Decision::Answer(answer) => (WriteOutcome::Answered(answer.clone()), answer),
    };
    if let Some(correlation) = &write.correlation {
        if !tx.remember(correlation, &answer, now).await? {
            // Another server's write with this id committed first.
            return Ok(WriteOutcome::Duplicate);
        }
        tx.count_correlations(1).await?;
    }
    Ok(outcome)
}

/// Whether a generation that changed `customers` logs them one by one (a
/// larger one makes every server build its catalog afresh).
pub fn logs_each(customers: u64) -> bool {
    customers <= CHANGE_LOG_MAX_CUSTOMERS
}

/// Records a generation whose changed customers are logged (if
/// [`logs_each`]), announces it, and trims the change log.
pub async fn close_generation(tx: &mut impl Transaction, generation: Generation, changed: u64, now: i64) -> Result<()> {
    tx.insert_generation(generation, now, changed, logs_each(changed))
        .await?;
    tx.announce(generation).await?;
    trim_change_log(tx, now).await
}

/// Forgets the change log's generations older than its retention, a
/// bounded number per write (each write adds one).
async fn trim_change_log(tx: &mut impl Transaction, now: i64) -> Result<()> {
    let cutoff = now - CHANGE_LOG_RETENTION.as_secs() as i64;
    let last = tx
        .oldest_generations(TRIM_STEP)
        .await?
        .into_iter()
        .take_while(|(_, committed_at)| *committed_at < cutoff)
        .map(|(generation, _)| generation)
        .last();
    match last {
        Some(last) => tx.forget_generations_through(last).await,
        None => Ok(()),
    }
}

/// Forgets remembered answers past the window, and the oldest past the
/// capacity: a bounded number per batch, so a batch's cost stays small.
async fn trim_remembered(tx: &mut impl Transaction, retention: Retention, now: i64) -> Result<()> {
    let cutoff = now.saturating_sub(retention.window.as_secs() as i64);
    let mut forgotten = tx.forget_correlations_before(cutoff, TRIM_STEP).await?;
    let kept = tx.correlations_kept().await?;
    let over = (kept - forgotten as i64 - retention.capacity as i64).clamp(0, i64::from(TRIM_STEP));
    if over > 0 {
        forgotten += tx.forget_oldest_correlations(over as u64).await?;
    }
    if forgotten > 0 {
        tx.count_correlations(-(forgotten as i64)).await?;
    }
    Ok(())
}

/// [`super::Store::changes_since`], read in `tx` (one consistent snapshot).
pub async fn changes_since(tx: &mut impl Transaction, after: Generation, max_customers: u64) -> Result<Changes> {
    let (current, log_start) = tx.log_bounds().await?;
    if current == after {
        return Ok(Changes::Since {
            generation: current,
            changed: Vec::new(),
            removed: Vec::new(),
        });
    }
    // Behind the log's start, or ahead of the database (a restored backup).
    if after < log_start || after > current {
        return Ok(Changes::Rebuild);
    }
    let (changed, all_logged) = tx.log_totals(after).await?;
    if !all_logged || changed > max_customers {
        return Ok(Changes::Rebuild);
    }
    let (mut changed, mut removed) = (Vec::new(), Vec::new());
    for (customer_id, record) in tx.logged_since(after).await? {
        match record {
            Some(record) => changed.push(record),
            None => removed.push(customer_id),
        }
    }
    Ok(Changes::Since {
        generation: current,
        changed,
        removed,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::memory::MemoryTransaction;
    use super::*;
    use crate::domain::intent::{Intent, PatchIntent};
    use crate::domain::refusal::Code;
    use crate::domain::write::{NewCustomer, Patch};
    use crate::domain::{ResellerScope, Status};
    use crate::store::{Abandoned, Correlation};

    const NOW: i64 = 1_764_000_000;
    const RETENTION: Retention = Retention {
        window: Duration::from_secs(600),
        capacity: 1_000,
    };

    fn create(name: &str) -> Intent {
        let body = json!({"resellerId": "R1", "companyProfile": {"companyName": name,
            "address": {"country": "DE", "region": "BE", "city": "Berlin", "addressLine1": "Linden 1",
                        "postalCode": "10117"},
            "contacts": [{"firstName": "Ada", "lastName": "Lovelace", "email": "ada@acme.example"}]}});
        Intent::Create(NewCustomer::parse(body.to_string().as_bytes()).unwrap())
    }

    fn patch(customer_id: &str, body: serde_json::Value) -> Intent {
        Intent::Patch(PatchIntent {
            customer_id: customer_id.into(),
            patch: Patch::parse(body.to_string().as_bytes()).unwrap(),
            if_match: None,
            scope: ResellerScope::All,
        })
    }

    fn write(intent: Intent, correlation_id: Option<&str>) -> CustomerWrite {
        CustomerWrite {
            intent,
            correlation: correlation_id.map(|id| Correlation {
                client_id: "client".into(),
                correlation_id: id.into(),
                fingerprint: id.as_bytes().to_vec(),
            }),
            abandoned: Abandoned::default(),
        }
    }

    /// Runs one batch and returns each write's outcome, with errors as text.
    async fn run(tx: &mut MemoryTransaction, writes: &[CustomerWrite]) -> Vec<Result<WriteOutcome, String>> {
        write_batch(tx, writes, RETENTION, NOW)
            .await
            .unwrap()
            .into_iter()
            .map(|outcome| outcome.map_err(|error| error.to_string()))
            .collect()
    }

    fn written(outcome: &Result<WriteOutcome, String>) -> (Answer, Generation) {
        match outcome {
            Ok(WriteOutcome::Written { answer, generation }) => (answer.clone(), *generation),
            other => panic!("not written: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_batch_writes_each_intent_under_one_generation_and_logs_what_it_changed() {
        let mut tx = MemoryTransaction::default();
        let outcomes = run(
            &mut tx,
            &[write(create("Acme"), Some("c1")), write(create("Acme"), None)],
        )
        .await;
        let (created, generation) = written(&outcomes[0]);
        assert_eq!((created.status, generation), (201, 1));
        // The second create sees the first's namesake: 1127, nothing written.
        assert_eq!(
            outcomes[1],
            Ok(WriteOutcome::Answered(Answer::refused(&Code::AlreadyExists.into())))
        );
        let customer_id = tx.only_customer_id();
        assert_eq!(tx.generation, 1);
        assert_eq!(tx.generations, vec![(1, NOW, 1, true)]);
        assert_eq!(tx.logged, vec![(1, customer_id.clone())]);
        assert_eq!(tx.remembered("c1"), Some(created));
        assert_eq!(tx.correlations_counted, 1);

        // The next batch: two patches of one customer, one generation,
        // the customer logged once; a patch that changes nothing answers
        // without bumping anything.
        let outcomes = run(
            &mut tx,
            &[
                write(patch(&customer_id, json!({"tags": ["a"]})), None),
                write(patch(&customer_id, json!({"tags": ["b"]})), None),
                write(patch(&customer_id, json!({})), None),
            ],
        )
        .await;
        assert_eq!(written(&outcomes[0]).1, 2);
        assert_eq!(written(&outcomes[1]).1, 2);
        assert!(matches!(&outcomes[2], Ok(WriteOutcome::Answered(answer)) if answer.status == 200));
        assert_eq!(tx.generations.last(), Some(&(2, NOW, 2, true)));
        assert_eq!(tx.logged.last(), Some(&(2, customer_id.clone())));
        assert_eq!(tx.logged.len(), 2);
        assert!(tx.customers[&customer_id].doc.contains(r#""tags":["b"]"#));
    }

    #[tokio::test]
    async fn a_remembered_correlation_is_a_duplicate_and_writes_nothing() {
        let mut tx = MemoryTransaction::default();
        run(&mut tx, &[write(create("Acme"), Some("c1"))]).await;
        let outcomes = run(&mut tx, &[write(create("Other"), Some("c1"))]).await;
        assert_eq!(outcomes, vec![Ok(WriteOutcome::Duplicate)]);
        assert_eq!((tx.customers.len(), tx.generation), (1, 1));
        // Past the window it is forgotten, and the id may be used again.
        let later = NOW + RETENTION.window.as_secs() as i64 + 1;
        let outcomes = write_batch(&mut tx, &[write(create("Other"), Some("c1"))], RETENTION, later)
            .await
            .unwrap();
        assert!(matches!(outcomes[0], Ok(WriteOutcome::Written { generation: 2, .. })));
        assert_eq!((tx.customers.len(), tx.correlations_counted), (2, 1));
    }

    #[tokio::test]
    async fn a_failing_write_is_taken_back_alone_with_its_generation() {
        let mut tx = MemoryTransaction {
            fail_remembering: Some("c-bad".into()),
            ..MemoryTransaction::default()
        };
        let outcomes = run(
            &mut tx,
            &[write(create("Acme"), Some("c-bad")), write(create("Other"), None)],
        )
        .await;
        assert_eq!(outcomes[0], Err("the disk is full".to_owned()));
        // Only the second customer stands, in the generation it bumped
        // again after the first was taken back.
        assert_eq!(written(&outcomes[1]).1, 1);
        assert_eq!((tx.customers.len(), tx.generation), (1, 1));
        assert_eq!(tx.generations, vec![(1, NOW, 1, true)]);
        assert_eq!(tx.remembered("c-bad"), None);
    }

    #[tokio::test]
    async fn an_abandoned_write_is_skipped_and_a_remembered_answer_stored() {
        let mut tx = MemoryTransaction::default();
        let abandoned = write(create("Acme"), None);
        abandoned.abandoned.set();
        let refusal = Answer::refused(&Code::MissingFields.into());
        let outcomes = run(
            &mut tx,
            &[abandoned, write(Intent::Remember(refusal.clone()), Some("c2"))],
        )
        .await;
        assert_eq!(outcomes[0], Err(abandoned_write().to_string()));
        assert_eq!(outcomes[1], Ok(WriteOutcome::Answered(refusal.clone())));
        assert!(tx.customers.is_empty());
        assert_eq!(
            (tx.generation, tx.generations.len()),
            (0, 0),
            "nothing changed, nothing logged"
        );
        assert_eq!(tx.remembered("c2"), Some(refusal));
    }

    #[tokio::test]
    async fn remembered_answers_past_the_capacity_are_trimmed_oldest_first() {
        let mut tx = MemoryTransaction::default();
        let small = Retention {
            window: RETENTION.window,
            capacity: 2,
        };
        for (i, id) in ["a", "b", "c"].into_iter().enumerate() {
            let answer = Answer::refused(&Code::MissingFields.into());
            write_batch(
                &mut tx,
                &[write(Intent::Remember(answer), Some(id))],
                small,
                NOW + i as i64,
            )
            .await
            .unwrap();
        }
        assert_eq!(tx.remembered("a"), None);
        assert!(tx.remembered("b").is_some() && tx.remembered("c").is_some());
        assert_eq!(tx.correlations_counted, 2);
    }

    #[tokio::test]
    async fn the_follower_reads_the_logged_customers_as_they_are_now() {
        let mut tx = MemoryTransaction::default();
        run(&mut tx, &[write(create("Acme"), None)]).await;
        let customer_id = tx.only_customer_id();
        run(&mut tx, &[write(patch(&customer_id, json!({"tags": ["x"]})), None)]).await;
        let Changes::Since {
            generation,
            changed,
            removed,
        } = changes_since(&mut tx, 0, 100).await.unwrap()
        else {
            panic!("the log covers generation 0");
        };
        assert_eq!((generation, changed.len(), removed.len()), (2, 1, 0));
        assert_eq!(changed[0].status, Status::ACTIVE);
        assert!(changed[0].doc.contains(r#""tags":["x"]"#));
        assert!(matches!(changes_since(&mut tx, 0, 1).await.unwrap(), Changes::Rebuild));
        assert!(matches!(
            changes_since(&mut tx, 3, 100).await.unwrap(),
            Changes::Rebuild
        ));
        assert!(matches!(
            changes_since(&mut tx, 2, 100).await.unwrap(),
            Changes::Since { generation: 2, ref changed, .. } if changed.is_empty()
        ));
    }
}
