use sea_orm::{ConnectionTrait, Statement};
use store::testing::test_stores;
use store::{NewStaffUser, StaffRole, StoreError};

/// Staff TOTP storage: the secret is sealed at rest, a pending enrolment can be replaced but an
/// enabled one cannot, a step is accepted once and never an older one, a recovery code once.
#[tokio::test]
async fn totp_secrets_steps_and_recovery_codes() {
    for db in test_stores().await {
        let s = &db.store;
        let t = s.create_tenant("Acme").await.unwrap();
        let staff = s
            .create_staff_user(NewStaffUser {
                email: "ta@example.com".into(),
                password_hash: "h".into(),
                role: StaffRole::TenantAdmin,
                tenant_id: Some(t.id.clone()),
            })
            .await
            .unwrap();
        let id = staff.id.as_str();
        assert!(s.totp_secret(id).await.unwrap().is_none());
        s.begin_totp_enrolment(id, b"first-secret-20bytes", 1)
            .await
            .unwrap();
        s.begin_totp_enrolment(id, b"other-secret-20bytes", 2)
            .await
            .unwrap();
        let pending = s.totp_secret(id).await.unwrap().unwrap();
        assert_eq!(
            (pending.secret.as_slice(), pending.enabled),
            (&b"other-secret-20bytes"[..], false)
        );
        assert!(!s.totp_enabled(id).await.unwrap());
        // Not enabled yet: no step is accepted.
        assert!(!s.accept_totp_step(id, 5).await.unwrap());
        let hashes: Vec<String> = (0..3).map(|i| format!("{i:064}")).collect();
        assert!(s.confirm_totp(id, 10, &hashes, 3).await.unwrap());
        assert!(
            !s.confirm_totp(id, 11, &hashes, 3).await.unwrap(),
            "{}",
            db.label
        );
        assert!(s.totp_enabled(id).await.unwrap());
        let err = s
            .begin_totp_enrolment(id, b"third-secret-20bytes", 4)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
        // Sealed at rest.
        let raw = s
            .db()
            .query_one_raw(Statement::from_string(
                s.db().get_database_backend(),
                "SELECT secret_enc FROM staff_totp".to_string(),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<String>("", "secret_enc")
            .unwrap();
        assert!(
            raw.starts_with("v1:") && !raw.contains("other-secret"),
            "{raw}"
        );
        // Steps: the enrolment step is spent; newer once; never older.
        assert!(!s.accept_totp_step(id, 10).await.unwrap());
        assert!(s.accept_totp_step(id, 11).await.unwrap());
        assert!(!s.accept_totp_step(id, 11).await.unwrap());
        assert!(!s.accept_totp_step(id, 9).await.unwrap());
        // Recovery codes: once each, only for their owner.
        assert_eq!(s.unused_recovery_codes(id).await.unwrap(), 3);
        assert!(
            !s.use_recovery_code("someone-else", &hashes[0], 5)
                .await
                .unwrap()
        );
        assert!(s.use_recovery_code(id, &hashes[0], 5).await.unwrap());
        assert!(!s.use_recovery_code(id, &hashes[0], 6).await.unwrap());
        assert_eq!(s.unused_recovery_codes(id).await.unwrap(), 2);
        s.replace_recovery_codes(id, &[format!("{:064}", 9)])
            .await
            .unwrap();
        assert!(!s.use_recovery_code(id, &hashes[1], 7).await.unwrap());
        assert_eq!(s.unused_recovery_codes(id).await.unwrap(), 1);
        // Requirements: platform-wide or per tenant.
        assert!(!s.totp_required(Some(&t.id)).await.unwrap());
        s.set_totp_required(&t.id, true, 8).await.unwrap();
        assert!(s.totp_required(Some(&t.id)).await.unwrap());
        assert!(!s.totp_required(None).await.unwrap());
        s.set_totp_required(store::PLATFORM_SCOPE, true, 8)
            .await
            .unwrap();
        assert!(s.totp_required(None).await.unwrap());
        s.set_totp_required(&t.id, false, 9).await.unwrap();
        assert_eq!(
            s.totp_required_scopes().await.unwrap(),
            vec!["platform".to_string()]
        );
        // Reset removes everything.
        assert!(s.delete_totp(id).await.unwrap());
        assert!(!s.delete_totp(id).await.unwrap());
        assert!(s.totp_secret(id).await.unwrap().is_none());
        assert_eq!(s.unused_recovery_codes(id).await.unwrap(), 0);
    }
}
