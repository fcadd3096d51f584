//! The worker against an in-memory target that has groups, many roles per user, a native
//! deactivate and no delete (the Pipedrive / SCIM-app shape), on SQLite and PostgreSQL:
//! groups named in rules are created in the target with their members, renamed and deleted
//! with the IdP's group; roles are added and removed one by one; an IdP delete deactivates.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use async_trait::async_trait;
use connector_api::{
    AccountIdentity, Capabilities, Connector, ConnectorError, Descriptor, DesiredUser, Page, Role,
    RoleCardinality, TargetGroup, TargetUser, Throttle, UserKey,
};
use provisioning::engine::{ConnectorRegistry, Worker, WorkerConfig};
use provisioning::{Directory, IntegrationScope};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use store::testing::test_stores;
use store::{Integration, IntegrationPolicies, IntegrationStatus, NewIntegration};

const CAPS: Capabilities = Capabilities {
    can_create: true,
    can_update: true,
    can_delete: false,
    can_deactivate: true,
    roles: RoleCardinality::Many,
    names_supported: true,
    key: UserKey::Id,
    groups: true,
    rotate_password: false,
    attributes: false,
};

static DESCRIPTOR: Descriptor = Descriptor {
    kind: "memory",
    title: "Memory",
    summary: "an in-memory target",
    fields: &[],
    capabilities: CAPS,
};

#[derive(Debug, Default)]
struct Account {
    users: BTreeMap<String, (String, BTreeSet<String>, bool)>, // id → (email, role ids, active)
    groups: BTreeMap<String, (String, BTreeSet<String>)>,      // id → (name, member ids)
    next: u32,
}

#[derive(Clone, Default)]
struct Memory(Arc<Mutex<Account>>);

impl Memory {
    fn id(a: &mut Account) -> String {
        a.next += 1;
        a.next.to_string()
    }
}

#[async_trait]
impl Connector for Memory {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }
    async fn test_connection(&self) -> connector_api::Result<AccountIdentity> {
        Ok(AccountIdentity {
            account: "memory".into(),
            user_id: "owner".into(),
            user_email: "owner@x".into(),
            user_name: "Owner".into(),
        })
    }
    async fn list_roles(&self) -> connector_api::Result<Vec<Role>> {
        Ok(["Sales", "Support", "Member"]
            .iter()
            .map(|r| Role {
                id: format!("r-{r}"),
                name: (*r).into(),
            })
            .collect())
    }
    async fn get_user(&self, _: &str) -> connector_api::Result<Option<TargetUser>> {
        Ok(None)
    }
    async fn find_user_by_email(&self, _: &str) -> connector_api::Result<Option<TargetUser>> {
        Ok(None)
    }
    async fn find_user_by_username(&self, _: &str) -> connector_api::Result<Option<TargetUser>> {
        Ok(None)
    }
    async fn list_users(&self, _: u64, _: u64) -> connector_api::Result<Page<TargetUser>> {
        Ok(Page {
            items: Vec::new(),
            total: 0,
        })
    }
    async fn create_user(&self, u: &DesiredUser) -> connector_api::Result<TargetUser> {
        let mut a = self.0.lock().unwrap();
        let id = Self::id(&mut a);
        a.users.insert(
            id.clone(),
            (u.email.clone(), u.roles.iter().cloned().collect(), true),
        );
        Ok(TargetUser {
            id,
            email: u.email.clone(),
            username: None,
            first_name: None,
            last_name: None,
            roles: u.roles.clone(),
            ..TargetUser::default()
        })
    }
    async fn update_user(&self, id: &str, u: &DesiredUser) -> connector_api::Result<TargetUser> {
        let mut a = self.0.lock().unwrap();
        let user = a
            .users
            .get_mut(id)
            .ok_or_else(|| ConnectorError::NotFound(id.into()))?;
        user.0 = u.email.clone();
        Ok(TargetUser {
            id: id.into(),
            email: u.email.clone(),
            username: None,
            first_name: None,
            last_name: None,
            roles: Vec::new(),
            ..TargetUser::default()
        })
    }
    async fn set_roles(&self, id: &str, roles: &[String]) -> connector_api::Result<()> {
        let mut a = self.0.lock().unwrap();
        a.users.get_mut(id).unwrap().1 = roles.iter().cloned().collect();
        Ok(())
    }
    async fn delete_user(&self, _: &str) -> connector_api::Result<()> {
        Err(ConnectorError::Permanent(
            "this target never deletes".into(),
        ))
    }
    async fn add_role(&self, id: &str, role: &str) -> connector_api::Result<()> {
        self.0
            .lock()
            .unwrap()
            .users
            .get_mut(id)
            .unwrap()
            .1
            .insert(role.into());
        Ok(())
    }
    async fn remove_role(&self, id: &str, role: &str) -> connector_api::Result<()> {
        self.0
            .lock()
            .unwrap()
            .users
            .get_mut(id)
            .unwrap()
            .1
            .remove(role);
        Ok(())
    }
    async fn deactivate_user(&self, id: &str) -> connector_api::Result<()> {
        self.0.lock().unwrap().users.get_mut(id).unwrap().2 = false;
        Ok(())
    }
    async fn reactivate_user(&self, id: &str) -> connector_api::Result<()> {
        self.0.lock().unwrap().users.get_mut(id).unwrap().2 = true;
        Ok(())
    }
    async fn create_group(&self, name: &str) -> connector_api::Result<TargetGroup> {
        let mut a = self.0.lock().unwrap();
        let id = format!("g{}", Self::id(&mut a));
        a.groups.insert(id.clone(), (name.into(), BTreeSet::new()));
        Ok(TargetGroup {
            id,
            name: name.into(),
        })
    }
    async fn rename_group(&self, id: &str, name: &str) -> connector_api::Result<()> {
        self.0.lock().unwrap().groups.get_mut(id).unwrap().0 = name.into();
        Ok(())
    }
    async fn add_group_members(&self, id: &str, users: &[String]) -> connector_api::Result<()> {
        let mut a = self.0.lock().unwrap();
        let g = a
            .groups
            .get_mut(id)
            .ok_or_else(|| ConnectorError::NotFound(id.into()))?;
        g.1.extend(users.iter().cloned());
        Ok(())
    }
    async fn remove_group_members(&self, id: &str, users: &[String]) -> connector_api::Result<()> {
        let mut a = self.0.lock().unwrap();
        if let Some(g) = a.groups.get_mut(id) {
            for u in users {
                g.1.remove(u);
            }
        }
        Ok(())
    }
    async fn delete_group(&self, id: &str) -> connector_api::Result<()> {
        self.0.lock().unwrap().groups.remove(id);
        Ok(())
    }
}

struct Registry(Memory);

impl ConnectorRegistry for Registry {
    fn connect(
        &self,
        _: &Integration,
        _: &BTreeMap<String, String>,
        _: Arc<dyn Throttle>,
    ) -> Result<Arc<dyn Connector>, String> {
        Ok(Arc::new(self.0.clone()))
    }
    fn rate_limit(&self, _: &Integration) -> (String, Duration) {
        ("memory".into(), Duration::ZERO)
    }
    fn capabilities(&self, kind: &str) -> Option<Capabilities> {
        (kind == "memory").then_some(CAPS)
    }
}

/// Polls the target until `cond` holds.
async fn until(m: &Memory, what: &str, cond: impl Fn(&Account) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        {
            let a = m.0.lock().unwrap();
            if cond(&a) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out: {what}\n{a:#?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn group_named<'a>(a: &'a Account, name: &str) -> Option<&'a (String, BTreeSet<String>)> {
    a.groups.values().find(|g| g.0 == name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_roles_and_deactivation_reach_a_group_capable_target() {
    for db in test_stores().await {
        let store = db.store.clone();
        let tenant = store.create_tenant("Acme").await.unwrap();
        let integration = store
            .create_integration(NewIntegration {
                tenant_id: tenant.id.clone(),
                name: "Memory".into(),
                connector_kind: "memory".into(),
                settings: serde_json::Map::new(),
                secrets: BTreeMap::new(),
                default_role: Some("Member".into()),
                deprovision_policy: "delete".into(),
                policies: IntegrationPolicies {
                    group_push: Some("ruled".into()),
                    ..IntegrationPolicies::default()
                },
                extension_schemas: Vec::new(),
                mode: store::IntegrationMode::Live,
                status: IntegrationStatus::Active,
            })
            .await
            .unwrap();
        store
            .replace_role_rules(
                &integration.id,
                vec![
                    store::NewRoleRule {
                        priority: 0,
                        source_kind: store::RuleSourceKind::Group,
                        source_value: "Sales".into(),
                        target_role: "Sales".into(),
                    },
                    store::NewRoleRule {
                        priority: 1,
                        source_kind: store::RuleSourceKind::Group,
                        source_value: "Support".into(),
                        target_role: "Support".into(),
                    },
                ],
            )
            .await
            .unwrap();
        let memory = Memory::default();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let worker = Worker::new(
            store.clone(),
            Arc::new(Registry(memory.clone())),
            WorkerConfig {
                poll: Duration::from_millis(20),
                guard_settle: Duration::ZERO,
                seed: Some(7),
                ..WorkerConfig::default()
            },
        );
        let running = tokio::spawn(worker.run(stopped));
        let dir = Directory::new(store.clone());
        let scope = IntegrationScope::new(
            tenant.id.clone(),
            integration.id.clone(),
            "http://scim".into(),
        );
        let user =
            |name: &str| json!({"userName": name, "emails": [{"value": name, "primary": true}]});
        let ann = dir.create_user(&scope, &user("ann@x"), "c1").await.unwrap();
        let ann_id = ann.body["id"].as_str().unwrap().to_string();
        let ops = |v| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": v});
        let sales = dir
            .create_group(&scope, &json!({"displayName": "Sales"}), "c2")
            .await
            .unwrap();
        let sales_id = sales.body["id"].as_str().unwrap().to_string();
        let other = dir
            .create_group(&scope, &json!({"displayName": "Unmapped"}), "c3")
            .await
            .unwrap();
        let support = dir
            .create_group(&scope, &json!({"displayName": "Support"}), "c4")
            .await
            .unwrap();
        let support_id = support.body["id"].as_str().unwrap().to_string();
        for g in [&sales_id, &support_id, other.body["id"].as_str().unwrap()] {
            dir.patch_group(
                &scope,
                g,
                &ops(json!([{"op": "add", "path": "members", "value": [{"value": ann_id}]}])),
                None,
                "c5",
            )
            .await
            .unwrap();
        }
        until(&memory, "ann in Sales and Support, with both roles", |a| {
            let Some((uid, u)) = a.users.iter().next() else {
                return false;
            };
            u.1 == BTreeSet::from(["r-Sales".to_string(), "r-Support".to_string()])
                && group_named(a, "Sales").is_some_and(|g| g.1.contains(uid))
                && group_named(a, "Support").is_some_and(|g| g.1.contains(uid))
                && group_named(a, "Unmapped").is_none()
        })
        .await;
        // Leaves Support: that role and that membership go, one by one.
        dir.patch_group(
            &scope,
            &support_id,
            &ops(json!([{"op": "remove", "path": format!("members[value eq \"{ann_id}\"]")}])),
            None,
            "c6",
        )
        .await
        .unwrap();
        until(&memory, "Support role and membership removed", |a| {
            let (uid, u) = a.users.iter().next().unwrap();
            u.1 == BTreeSet::from(["r-Sales".to_string()])
                && group_named(a, "Support").is_some_and(|g| !g.1.contains(uid))
        })
        .await;
        // Renamed in the IdP, with a rule for the new name too: renamed in the target.
        store
            .replace_role_rules(
                &integration.id,
                vec![store::NewRoleRule {
                    priority: 0,
                    source_kind: store::RuleSourceKind::Group,
                    source_value: "Sales EMEA".into(),
                    target_role: "Sales".into(),
                }],
            )
            .await
            .unwrap();
        dir.patch_group(
            &scope,
            &sales_id,
            &ops(json!([{"op": "replace", "path": "displayName", "value": "Sales EMEA"}])),
            None,
            "c7",
        )
        .await
        .unwrap();
        until(&memory, "group renamed", |a| {
            group_named(a, "Sales EMEA").is_some() && group_named(a, "Sales").is_none()
        })
        .await;
        // Deleted in the IdP: the group goes in the target; the user, whom this target
        // cannot delete, is deactivated when deleted.
        dir.delete_group(&scope, &sales_id, None, "c8")
            .await
            .unwrap();
        until(&memory, "group deleted", |a| {
            group_named(a, "Sales EMEA").is_none()
        })
        .await;
        dir.delete_user(&scope, &ann_id, None, "c9").await.unwrap();
        until(&memory, "ann deactivated, not deleted", |a| {
            a.users.len() == 1 && a.users.values().all(|u| !u.2)
        })
        .await;
        stop.send(true).unwrap();
        running.await.unwrap();
        assert!(
            store
                .list_failed_jobs(&integration.id)
                .await
                .unwrap()
                .is_empty(),
            "{}",
            db.label
        );
    }
}
