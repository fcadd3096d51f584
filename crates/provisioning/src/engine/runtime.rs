//! What the worker knows about one integration, refreshed when its settings change or after
//! `cache_ttl`: the integration, its parsed rules and policies, the connector, the target's
//! role list and the key owner.

use super::{JobError, Worker};
use crate::inputs::{InputError, load_rules};
use crate::planner::IntegrationRules;
use crate::throttle::AccountLimiter;
use connector_api::{Capabilities, Connector, Role};
use std::sync::Arc;
use std::time::Instant;
use store::{Integration, IntegrationMode};

pub(crate) struct Runtime {
    pub integration: Integration,
    pub rules: IntegrationRules,
    pub caps: Capabilities,
    /// `None` in dry run.
    pub connector: Option<Arc<dyn Connector>>,
    /// The target's roles, fetched on first use.
    pub roles: Option<Vec<Role>>,
    /// The user that owns the credentials, fetched on first use.
    pub owner_id: Option<String>,
    loaded: Instant,
}

pub(crate) type Slot = Arc<tokio::sync::Mutex<Option<Runtime>>>;

impl Worker {
    /// The cached runtime of an integration (None inside if it was deleted). Jobs of one
    /// integration hold its slot while they run, so they run one at a time per process.
    pub(crate) async fn runtime(&self, integration_id: &str) -> Result<Slot, JobError> {
        let slot = {
            let mut map = self
                .runtimes
                .lock()
                .map_err(|_| JobError::Permanent("worker cache poisoned".into()))?;
            Arc::clone(map.entry(integration_id.to_string()).or_default())
        };
        let mut guard = slot.lock().await;
        let mut fresh = guard
            .as_ref()
            .is_some_and(|r| r.loaded.elapsed() < self.config.cache_ttl);
        if fresh {
            // An admin's edit (rules, default role, policy, mode) applies to the next job,
            // not after the cache period: compare the cheap `updated_at` stamp.
            let current = self.store.integration_updated_at(integration_id).await?;
            fresh = guard
                .as_ref()
                .is_some_and(|r| Some(r.integration.updated_at) == current);
        }
        if !fresh {
            *guard = self.load(integration_id).await?;
        }
        drop(guard);
        Ok(slot)
    }

    async fn load(&self, integration_id: &str) -> Result<Option<Runtime>, JobError> {
        let Some(integration) = self.store.get_integration_unscoped(integration_id).await? else {
            return Ok(None);
        };
        let rules = load_rules(&self.store, &integration)
            .await
            .map_err(|e| match e {
                InputError::Store(e) => JobError::from(e),
                InputError::Invalid(e) => JobError::Permanent(e),
            })?;
        let caps = self.registry.capabilities_of(&integration).ok_or_else(|| {
            JobError::Permanent(format!(
                "unknown connector '{}'",
                integration.connector_kind
            ))
        })?;
        let connector = match integration.mode {
            IntegrationMode::DryRun => None,
            IntegrationMode::Live => {
                let secrets = self.store.integration_secrets(&integration)?;
                let (key, gap) = self.registry.rate_limit(&integration);
                let limiter = Arc::new(
                    AccountLimiter::new(self.store.clone(), key, gap)
                        .with_budget(self.registry.budget(&integration))
                        .with_clock(Arc::clone(&self.config.clock)),
                );
                Some(
                    self.registry
                        .connect(&integration, &secrets, limiter)
                        .map_err(JobError::Permanent)?,
                )
            }
        };
        Ok(Some(Runtime {
            integration,
            rules,
            caps,
            connector,
            roles: None,
            owner_id: None,
            loaded: Instant::now(),
        }))
    }
}
