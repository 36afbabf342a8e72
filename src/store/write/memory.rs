//! A [`Transaction`] over plain collections, for driving the write protocol
//! (`super::write`) in unit tests without a database: what each backend's
//! SQL must do, said in a screen of Rust.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

use super::super::{Correlation, Generation};
use super::Transaction;
use crate::domain::CustomerRecord;
use crate::domain::intent::Answer;

/// Everything a database would hold, in memory; a savepoint is a copy.
#[derive(Debug, Clone, Default)]
pub struct MemoryTransaction {
    pub customers: BTreeMap<String, CustomerRecord>,
    pub generation: Generation,
    pub log_start: Generation,
    /// (generation, committed_at, changed, logged), in order.
    pub generations: Vec<(Generation, i64, u64, bool)>,
    /// (generation, customer id).
    pub logged: Vec<(Generation, String)>,
    /// (client, correlation id) → (answer, remembered at).
    pub correlations: BTreeMap<(String, String), (Answer, i64)>,
    pub correlations_counted: i64,
    /// Remembering this correlation id fails, as a full disk would.
    pub fail_remembering: Option<String>,
    pub saved: Option<Box<MemoryTransaction>>,
}

impl MemoryTransaction {
    pub fn remembered(&self, correlation_id: &str) -> Option<Answer> {
        self.correlations
            .iter()
            .find(|((_, id), _)| id == correlation_id)
            .map(|(_, (answer, _))| answer.clone())
    }

    /// The id of the one customer there is.
    pub fn only_customer_id(&self) -> String {
        assert_eq!(self.customers.len(), 1);
        self.customers.keys().next().unwrap().clone()
    }

    fn key(correlation: &Correlation) -> (String, String) {
        (correlation.client_id.clone(), correlation.correlation_id.clone())
    }
}

impl Transaction for MemoryTransaction {
    async fn savepoint(&mut self) -> Result<()> {
        self.saved = Some(Box::new(MemoryTransaction {
            saved: None,
            ..self.clone()
        }));
        Ok(())
    }

    async fn release_savepoint(&mut self) -> Result<()> {
        self.saved = None;
        Ok(())
    }

    async fn roll_back_to_savepoint(&mut self) -> Result<()> {
        let saved = self.saved.take().expect("a savepoint");
        *self = *saved;
        Ok(())
    }

    async fn customer(&mut self, customer_id: &str) -> Result<Option<CustomerRecord>> {
        Ok(self.customers.get(customer_id).cloned())
    }

    async fn namesakes(&mut self, reseller_id: &str, name_key: &str) -> Result<Vec<CustomerRecord>> {
        Ok(self
            .customers
            .values()
            .filter(|c| c.reseller_id == reseller_id && c.name_key == name_key)
            .cloned()
            .collect())
    }

    async fn id_taken(&mut self, customer_id: &str) -> Result<bool> {
        Ok(self.customers.contains_key(customer_id))
    }

    async fn insert_customer(&mut self, record: &CustomerRecord) -> Result<()> {
        if self.customers.contains_key(&record.customer_id) {
            bail!("customer {} exists", record.customer_id);
        }
        self.customers.insert(record.customer_id.clone(), record.clone());
        Ok(())
    }

    async fn update_customer(&mut self, record: &CustomerRecord) -> Result<()> {
        match self.customers.get_mut(&record.customer_id) {
            Some(stored) => *stored = record.clone(),
            None => bail!("no customer {}", record.customer_id),
        }
        Ok(())
    }

    async fn bump_generation(&mut self) -> Result<Generation> {
        self.generation += 1;
        Ok(self.generation)
    }

    async fn insert_generation(&mut self, generation: Generation, at: i64, changed: u64, logged: bool) -> Result<()> {
        self.generations.push((generation, at, changed, logged));
        Ok(())
    }

    async fn log_changed(&mut self, generation: Generation, customer_ids: &[String]) -> Result<()> {
        self.logged
            .extend(customer_ids.iter().map(|id| (generation, id.clone())));
        Ok(())
    }

    async fn announce(&mut self, _generation: Generation) -> Result<()> {
        Ok(())
    }

    async fn oldest_generations(&mut self, limit: u32) -> Result<Vec<(Generation, i64)>> {
        Ok(self
            .generations
            .iter()
            .take(limit as usize)
            .map(|&(generation, at, _, _)| (generation, at))
            .collect())
    }

    async fn forget_generations_through(&mut self, generation: Generation) -> Result<()> {
        self.generations.retain(|&(g, ..)| g > generation);
        self.logged.retain(|&(g, _)| g > generation);
        self.log_start = self.log_start.max(generation);
        Ok(())
    }

    async fn log_bounds(&mut self) -> Result<(Generation, Generation)> {
        Ok((self.generation, self.log_start))
    }

    async fn log_totals(&mut self, after: Generation) -> Result<(u64, bool)> {
        let later = self.generations.iter().filter(|&&(g, ..)| g > after);
        Ok(later.fold((0, true), |(sum, all), &(_, _, changed, logged)| {
            (sum + changed, all && logged)
        }))
    }

    async fn logged_since(&mut self, after: Generation) -> Result<Vec<(String, Option<CustomerRecord>)>> {
        let mut ids: Vec<&String> = self
            .logged
            .iter()
            .filter(|(g, _)| *g > after)
            .map(|(_, id)| id)
            .collect();
        ids.sort();
        ids.dedup();
        Ok(ids
            .into_iter()
            .map(|id| (id.clone(), self.customers.get(id).cloned()))
            .collect())
    }

    async fn forget_correlation_before(&mut self, correlation: &Correlation, cutoff: i64) -> Result<bool> {
        let key = Self::key(correlation);
        let expired = self.correlations.get(&key).is_some_and(|(_, at)| *at < cutoff);
        if expired {
            self.correlations.remove(&key);
        }
        Ok(expired)
    }

    async fn correlation_known(&mut self, correlation: &Correlation) -> Result<bool> {
        Ok(self.correlations.contains_key(&Self::key(correlation)))
    }

    async fn remember(&mut self, correlation: &Correlation, answer: &Answer, now: i64) -> Result<bool> {
        if self.fail_remembering.as_deref() == Some(correlation.correlation_id.as_str()) {
            bail!("the disk is full");
        }
        let key = Self::key(correlation);
        if self.correlations.contains_key(&key) {
            return Ok(false);
        }
        self.correlations.insert(key, (answer.clone(), now));
        Ok(true)
    }

    async fn forget_correlations_before(&mut self, cutoff: i64, limit: u32) -> Result<u64> {
        let expired: Vec<_> = self.oldest_correlations(limit as usize, |at| at < cutoff);
        for key in &expired {
            self.correlations.remove(key);
        }
        Ok(expired.len() as u64)
    }

    async fn forget_oldest_correlations(&mut self, count: u64) -> Result<u64> {
        let oldest = self.oldest_correlations(count as usize, |_| true);
        for key in &oldest {
            self.correlations.remove(key);
        }
        Ok(oldest.len() as u64)
    }

    async fn correlations_kept(&mut self) -> Result<i64> {
        Ok(self.correlations_counted)
    }

    async fn count_correlations(&mut self, delta: i64) -> Result<()> {
        self.correlations_counted += delta;
        Ok(())
    }
}

impl MemoryTransaction {
    /// At most `limit` remembered answers whose time passes `keep`, oldest first.
    fn oldest_correlations(&self, limit: usize, keep: impl Fn(i64) -> bool) -> Vec<(String, String)> {
        let mut found: Vec<_> = self
            .correlations
            .iter()
            .filter(|(_, (_, at))| keep(*at))
            .map(|(key, (_, at))| (*at, key.clone()))
            .collect();
        found.sort();
        found.into_iter().take(limit).map(|(_, key)| key).collect()
    }
}
