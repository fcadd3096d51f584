use crate::common::tenant_with_integration;
use sea_orm::EntityTrait;
use store::entities::integrations;
use store::testing::test_stores;
use store::{MasterKey, Store, StoreError};

#[tokio::test]
async fn secrets_are_encrypted_at_rest() {
    for db in test_stores().await {
        let s = &db.store;
        let (_, i) = tenant_with_integration(s, "Acme").await;
        let raw = integrations::Entity::find_by_id(i.id.as_str())
            .one(s.db())
            .await
            .unwrap()
            .unwrap();
        assert!(raw.secrets.starts_with("v1:"), "{}", db.label);
        assert!(
            !raw.secrets.contains("SUPERSECRET"),
            "{}: plaintext at rest",
            db.label
        );
        assert!(!raw.settings.contains("SUPERSECRET"));
        assert!(!format!("{i:?}").contains("SUPERSECRET"));

        assert_eq!(
            s.integration_secrets(&i).unwrap()["api_key"],
            "sk-live-SUPERSECRET-123"
        );

        // The same database opened with another master key cannot decrypt.
        let other = Store::connect(&db.url, MasterKey::generate())
            .await
            .unwrap();
        let same = other
            .get_integration_unscoped(&i.id)
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(
            other.integration_secrets(&same),
            Err(StoreError::Crypto(_))
        ));
        // …and the right key can, from a new connection.
        let again = Store::connect(&db.url, db.key.clone()).await.unwrap();
        let same = again
            .get_integration_unscoped(&i.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.integration_secrets(&same).unwrap().len(), 1);
        other.close().await.unwrap();
        again.close().await.unwrap();

        // A sealed blob moved to another integration does not open there.
        let (_, j) = tenant_with_integration(s, "Other").await;
        let mut moved: integrations::ActiveModel = integrations::Entity::find_by_id(j.id.as_str())
            .one(s.db())
            .await
            .unwrap()
            .unwrap()
            .into();
        moved.secrets = sea_orm::Set(raw.secrets.clone());
        sea_orm::ActiveModelTrait::update(moved, s.db())
            .await
            .unwrap();
        let j = s.get_integration_unscoped(&j.id).await.unwrap().unwrap();
        assert!(matches!(
            s.integration_secrets(&j),
            Err(StoreError::Crypto(_))
        ));
    }
}
