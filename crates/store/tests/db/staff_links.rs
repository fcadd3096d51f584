//! Staff management in the store: role changes, removal, the count of usable platform admins,
//! and the one-time invitation / password-reset links (hashed, expiring, used once).

use sea_orm::{ConnectionTrait, Statement};
use store::testing::test_stores;
use store::{NewStaffUser, StaffRole, StaffTokenPurpose, Store, StoreError};

async fn staff(s: &Store, email: &str, role: StaffRole, hash: &str) -> store::StaffUser {
    s.create_staff_user(NewStaffUser {
        email: email.into(),
        password_hash: hash.into(),
        role,
        tenant_id: None,
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn roles_change_accounts_go_and_usable_platform_admins_are_counted() {
    for db in test_stores().await {
        let s = &db.store;
        let t = s.create_tenant("Acme").await.unwrap();
        let a = staff(s, "a@x.test", StaffRole::PlatformAdmin, "h").await;
        let b = staff(s, "b@x.test", StaffRole::PlatformAdmin, "h").await;
        // Invited (no password yet) and disabled admins cannot sign in: not counted.
        let invited = staff(s, "c@x.test", StaffRole::PlatformAdmin, "").await;
        assert!(!invited.has_password() && a.has_password());
        let d = staff(s, "d@x.test", StaffRole::PlatformAdmin, "h").await;
        s.set_staff_disabled(&d.id, true).await.unwrap();
        assert_eq!(
            s.count_usable_platform_admins(None).await.unwrap(),
            2,
            "{}",
            db.label
        );
        assert_eq!(
            s.count_usable_platform_admins(Some(&a.id)).await.unwrap(),
            1
        );

        s.set_staff_role(&b.id, StaffRole::TenantAdmin, Some(&t.id))
            .await
            .unwrap();
        let got = s.get_staff_user(&b.id).await.unwrap().unwrap();
        assert_eq!(
            (got.role, got.tenant_id.as_deref()),
            (StaffRole::TenantAdmin, Some(t.id.as_str()))
        );
        assert_eq!(
            s.count_usable_platform_admins(Some(&a.id)).await.unwrap(),
            0
        );
        s.set_staff_role(&b.id, StaffRole::Support, None)
            .await
            .unwrap();
        let got = s.get_staff_user(&b.id).await.unwrap().unwrap();
        assert_eq!((got.role, got.tenant_id), (StaffRole::Support, None));
        assert!(matches!(
            s.set_staff_role("nope", StaffRole::Support, None).await,
            Err(StoreError::NotFound)
        ));

        // Removing an account takes its links with it.
        s.issue_staff_token(&b.id, StaffTokenPurpose::Reset, "tok-b", 1, 100)
            .await
            .unwrap();
        s.delete_staff_user(&b.id).await.unwrap();
        assert!(
            s.get_staff_user(&b.id).await.unwrap().is_none(),
            "{}",
            db.label
        );
        assert!(s.staff_token("tok-b", 2).await.unwrap().is_none());
        assert!(matches!(
            s.delete_staff_user(&b.id).await,
            Err(StoreError::NotFound)
        ));
    }
}

#[tokio::test]
async fn a_link_works_once_until_it_expires_and_a_new_one_replaces_it() {
    for db in test_stores().await {
        let s = &db.store;
        let u = staff(s, "new@x.test", StaffRole::Support, "").await;
        s.issue_staff_token(&u.id, StaffTokenPurpose::Invite, "first", 1_000, 5_000)
            .await
            .unwrap();
        let (who, purpose) = s.staff_token("first", 1_001).await.unwrap().unwrap();
        assert_eq!(
            (who.id.as_str(), purpose),
            (u.id.as_str(), StaffTokenPurpose::Invite)
        );
        assert_eq!(
            s.live_staff_tokens(1_001).await.unwrap(),
            vec![(u.id.clone(), StaffTokenPurpose::Invite)]
        );
        // Expired: neither shown nor usable.
        assert!(
            s.staff_token("first", 5_000).await.unwrap().is_none(),
            "{}",
            db.label
        );
        assert!(
            s.consume_staff_token("first", 5_000)
                .await
                .unwrap()
                .is_none()
        );
        // A new link replaces the old one.
        s.issue_staff_token(&u.id, StaffTokenPurpose::Reset, "second", 2_000, 9_000)
            .await
            .unwrap();
        assert!(s.staff_token("first", 2_001).await.unwrap().is_none());
        // Used once: the second use fails, also from a second store (another instance).
        let other = Store::connect(&db.url, db.key.clone()).await.unwrap();
        let (a, b) = tokio::join!(
            s.consume_staff_token("second", 2_002),
            other.consume_staff_token("second", 2_002)
        );
        let won: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
        assert_eq!(
            won,
            vec![(u.id.clone(), StaffTokenPurpose::Reset)],
            "{}",
            db.label
        );
        assert!(s.staff_token("second", 2_003).await.unwrap().is_none());
        assert!(s.live_staff_tokens(2_003).await.unwrap().is_empty());
        // Only the hash is stored.
        let conn = s.db();
        let rows = conn
            .query_all_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT token_hash FROM staff_tokens",
            ))
            .await
            .unwrap();
        for r in rows {
            let h: String = r.try_get("", "token_hash").unwrap();
            assert!(h.len() == 64 && !h.contains("second"), "{}: {h}", db.label);
        }
    }
}
