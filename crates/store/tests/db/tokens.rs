use crate::common::tenant_with_integration;
use store::testing::test_stores;

#[tokio::test]
async fn tokens_issue_authenticate_revoke_expire() {
    for db in test_stores().await {
        let s = &db.store;
        let (tenant, i) = tenant_with_integration(s, "Acme").await;
        let now = 1_000_000;
        let t1 = s.issue_token(&i.id, None, now).await.unwrap();
        assert!(t1.token.starts_with("scb_") && t1.token.starts_with(&t1.prefix));
        assert!(
            !format!("{t1:?}").contains(&t1.token),
            "Debug must not print the token"
        );

        let auth = s
            .authenticate_token(&t1.token, now + 1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(auth.integration_id, i.id);
        assert_eq!(auth.tenant_id, tenant.id);
        assert_eq!(auth.token_id, t1.id);
        assert!(
            s.authenticate_token("scb_wrong", now)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            s.authenticate_token(&t1.token[..t1.token.len() - 1], now)
                .await
                .unwrap()
                .is_none()
        );

        // Only the hash is stored.
        let listed = s.list_tokens(&i.id).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].prefix, t1.prefix);

        // Expiry is exclusive of the expiry instant.
        let t2 = s.issue_token(&i.id, Some(now + 100), now).await.unwrap();
        assert!(
            s.authenticate_token(&t2.token, now + 99)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            s.authenticate_token(&t2.token, now + 100)
                .await
                .unwrap()
                .is_none(),
            "{}",
            db.label
        );

        // Revocation by prefix, scoped to the integration.
        let (_, other) = tenant_with_integration(s, "Other").await;
        assert!(!s.revoke_token(&other.id, &t1.prefix, now).await.unwrap());
        assert!(
            s.authenticate_token(&t1.token, now)
                .await
                .unwrap()
                .is_some()
        );
        assert!(s.revoke_token(&i.id, &t1.prefix, now + 5).await.unwrap());
        assert!(
            !s.revoke_token(&i.id, &t1.prefix, now + 6).await.unwrap(),
            "already revoked"
        );
        assert!(
            s.authenticate_token(&t1.token, now + 10)
                .await
                .unwrap()
                .is_none()
        );

        s.touch_token_used(&t2.id, now + 50).await.unwrap();
        let t2_info = s
            .list_tokens(&i.id)
            .await
            .unwrap()
            .into_iter()
            .find(|t| t.id == t2.id);
        assert_eq!(t2_info.unwrap().last_used_at, Some(now + 50));
        let t1_info = s
            .list_tokens(&i.id)
            .await
            .unwrap()
            .into_iter()
            .find(|t| t.id == t1.id);
        assert_eq!(t1_info.unwrap().revoked_at, Some(now + 5));
    }
}
