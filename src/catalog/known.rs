//! Which resellers exist (SPEC §3, 1115): a reseller is known if it has
//! customers or some client's scope names it. The second is the store's to
//! say, and is kept a short while, so that a new reseller asked for on
//! every request does not cost a query each time.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::Catalog;
use crate::domain::ResellerScope;

/// How long the store's "some scope names this reseller" is trusted. A
/// client changed to stop naming it reaches every instance within this
/// time, as client changes do (SPEC §5 allows 5 s).
const NAMED_TTL: Duration = Duration::from_secs(2);
/// Bound on those remembered resellers.
const NAMED_MAX: usize = 65_536;

impl Catalog {
    /// Whether the reseller has customers or some client's scope names it
    /// (SPEC §3, 1115), asked by a caller whose scope is `scope`.
    ///
    /// Only a caller whose scope is `*` needs the store for a reseller
    /// without customers (a scoped caller got here because its own scope
    /// names it). A new reseller, named before its first customer arrives,
    /// is then polled by such callers on every request, so the store's
    /// "named" is kept for [`NAMED_TTL`]. "Not named" is asked again each
    /// time: a client created for a new reseller makes it known at once.
    pub async fn reseller_known(&self, reseller_id: &str, scope: &ResellerScope) -> Result<bool> {
        if self.reseller_size(reseller_id) > 0 || scope.names(reseller_id) {
            return Ok(true);
        }
        let fresh = |read_at: &Instant| read_at.elapsed() < NAMED_TTL;
        if self
            .inner
            .named
            .lock()
            .expect("named lock")
            .get(reseller_id)
            .is_some_and(fresh)
        {
            return Ok(true);
        }
        let named = self.inner.store.reseller_in_any_scope(reseller_id).await?;
        if named {
            let mut remembered = self.inner.named.lock().expect("named lock");
            if remembered.len() >= NAMED_MAX {
                remembered.retain(|_, read_at| fresh(read_at));
                if remembered.len() >= NAMED_MAX {
                    remembered.clear();
                }
            }
            remembered.insert(reseller_id.into(), Instant::now());
        }
        Ok(named)
    }
}
