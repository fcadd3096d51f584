use crate::common::{new_integration, tenant_with_integration};
use store::testing::test_stores;
use store::{
    IntegrationStatus, IntegrationUpdate, NewRoleRule, NewStaffUser, RuleSourceKind, StaffRole,
    StoreError,
};

#[tokio::test]
async fn staff_accounts() {
    for db in test_stores().await {
        let s = &db.store;
        assert_eq!(s.count_staff_users().await.unwrap(), 0);
        let t = s.create_tenant("Acme").await.unwrap();
        let admin = s
            .create_staff_user(NewStaffUser {
                email: " Admin@Example.COM ".into(),
                password_hash: "$argon2id$v=19$…".into(),
                role: StaffRole::TenantAdmin,
                tenant_id: Some(t.id.clone()),
            })
            .await
            .unwrap();
        assert_eq!(admin.email, "admin@example.com");
        let dup = s
            .create_staff_user(NewStaffUser {
                email: "ADMIN@example.com".into(),
                password_hash: "x".into(),
                role: StaffRole::Support,
                tenant_id: None,
            })
            .await
            .unwrap_err();
        assert!(
            matches!(&dup, StoreError::Conflict { what } if what == "email"),
            "{dup:?}"
        );

        let found = s
            .find_staff_by_email("admin@EXAMPLE.com")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (found.id.as_str(), found.role),
            (admin.id.as_str(), StaffRole::TenantAdmin)
        );
        s.set_staff_password(&admin.id, "new-hash").await.unwrap();
        s.touch_staff_login(&admin.id, 42).await.unwrap();
        let got = s.get_staff_user(&admin.id).await.unwrap().unwrap();
        assert_eq!(
            (got.password_hash.as_str(), got.last_login_at),
            ("new-hash", Some(42))
        );
        assert!(!got.disabled);
        assert!(matches!(
            s.set_staff_password("nope", "h").await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(s.count_staff_users().await.unwrap(), 1);
        assert_eq!(s.list_staff_users().await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn integrations_are_scoped_by_tenant() {
    for db in test_stores().await {
        let s = &db.store;
        let (acme, ia) = tenant_with_integration(s, "Acme").await;
        let (globex, ig) = tenant_with_integration(s, "Globex").await;

        assert!(s.get_integration(&acme.id, &ia.id).await.unwrap().is_some());
        assert!(
            s.get_integration(&acme.id, &ig.id).await.unwrap().is_none(),
            "{}",
            db.label
        );
        assert!(
            s.get_integration(&globex.id, &ia.id)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            s.get_integration_unscoped(&ig.id)
                .await
                .unwrap()
                .unwrap()
                .tenant_id,
            globex.id
        );

        let mine: Vec<_> = s
            .list_integrations(&acme.id)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect();
        assert_eq!(mine, vec![ia.id.clone()]);

        // Another tenant can neither change nor delete it.
        let upd = IntegrationUpdate {
            name: Some("hijacked".into()),
            ..Default::default()
        };
        assert!(matches!(
            s.update_integration_settings(&globex.id, &ia.id, upd).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            s.set_integration_status(&globex.id, &ia.id, IntegrationStatus::Active)
                .await,
            Err(StoreError::NotFound)
        ));
        assert!(!s.delete_integration(&globex.id, &ia.id).await.unwrap());
        assert_eq!(
            s.get_integration(&acme.id, &ia.id)
                .await
                .unwrap()
                .unwrap()
                .name,
            ia.name
        );

        s.set_integration_status(&acme.id, &ia.id, IntegrationStatus::Active)
            .await
            .unwrap();
        let mut settings = serde_json::Map::new();
        settings.insert("base_url".into(), "https://other.example".into());
        let upd = IntegrationUpdate {
            settings: Some(settings.clone()),
            default_role: Some(None),
            ..Default::default()
        };
        let updated = s
            .update_integration_settings(&acme.id, &ia.id, upd)
            .await
            .unwrap();
        assert_eq!(updated.status, IntegrationStatus::Active);
        assert_eq!(
            (&updated.settings, &updated.default_role),
            (&settings, &None)
        );
        // Secrets survive an update that does not touch them.
        assert_eq!(
            s.integration_secrets(&updated).unwrap()["api_key"],
            "sk-live-SUPERSECRET-123"
        );

        assert_eq!(s.list_tenants().await.unwrap().len(), 2);
        assert_eq!(s.get_tenant(&acme.id).await.unwrap().unwrap().name, "Acme");
        // An integration for a tenant that does not exist is refused by the foreign key.
        assert!(
            s.create_integration(new_integration("no-such-tenant", "x"))
                .await
                .is_err()
        );
    }
}

#[tokio::test]
async fn role_rules_are_replaced_atomically_and_ordered() {
    for db in test_stores().await {
        let s = &db.store;
        let (_, i) = tenant_with_integration(s, "Acme").await;
        let rule = |priority, kind, value: &str, role: &str| NewRoleRule {
            priority,
            source_kind: kind,
            source_value: value.into(),
            target_role: role.into(),
        };
        s.replace_role_rules(
            &i.id,
            vec![rule(5, RuleSourceKind::Group, "Sales", "Sales")],
        )
        .await
        .unwrap();
        s.replace_role_rules(
            &i.id,
            vec![
                rule(20, RuleSourceKind::Filter, "department = IT", "Admin"),
                rule(10, RuleSourceKind::AppRole, "Admin", "Admin"),
            ],
        )
        .await
        .unwrap();
        let rules = s.list_role_rules(&i.id).await.unwrap();
        let got: Vec<_> = rules.iter().map(|r| (r.priority, r.source_kind)).collect();
        assert_eq!(
            got,
            [(10, RuleSourceKind::AppRole), (20, RuleSourceKind::Filter)],
            "{}",
            db.label
        );
        s.replace_role_rules(&i.id, vec![]).await.unwrap();
        assert!(s.list_role_rules(&i.id).await.unwrap().is_empty());
    }
}
