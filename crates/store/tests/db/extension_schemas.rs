use crate::common::{new_integration, tenant_with_integration};
use scim_core::extension::parse_schema;
use scim_core::schema::{AttributeDef, Schema, USER_SCHEMA, extension_schema};
use serde_json::json;
use store::StoreError;
use store::testing::test_stores;

const AT: &str = "urn:ietf:params:scim:schemas:extension:activtrak:2.0:User";

fn activtrak() -> Schema {
    parse_schema(&json!({
        "id": AT, "name": "ActivTrakUser",
        "attributes": [
            {"name": "userPrincipalNames", "type": "string", "multiValued": true},
            {"name": "tracking", "type": "boolean"}
        ]
    }))
    .unwrap()
}

#[tokio::test]
async fn extension_schemas_are_stored_read_back_and_scoped() {
    for db in test_stores().await {
        let s = &db.store;
        let (acme, ia) = tenant_with_integration(s, "Acme").await;
        let (globex, _ig) = tenant_with_integration(s, "Globex").await;
        assert!(
            ia.extension_schemas.is_empty(),
            "{}: default '[]'",
            db.label
        );

        let set = s
            .set_integration_extension_schemas(&acme.id, &ia.id, &[activtrak()])
            .await
            .unwrap();
        assert_eq!(set.extension_schemas, vec![activtrak()], "{}", db.label);
        assert!(set.updated_at >= ia.updated_at);
        let read = s.get_integration(&acme.id, &ia.id).await.unwrap().unwrap();
        assert_eq!(read.extension_schemas, vec![activtrak()], "{}", db.label);

        // The token path carries them, so the SCIM layer needs no other query.
        let now = chrono::Utc::now().timestamp_millis();
        let token = s.issue_token(&ia.id, None, now).await.unwrap();
        let auth = s
            .authenticate_token(&token.token, now)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(auth.extension_schemas, vec![activtrak()], "{}", db.label);

        // Another tenant cannot change them.
        assert!(matches!(
            s.set_integration_extension_schemas(&globex.id, &ia.id, &[])
                .await,
            Err(StoreError::NotFound)
        ));
        // Cleared again.
        let cleared = s
            .set_integration_extension_schemas(&acme.id, &ia.id, &[])
            .await
            .unwrap();
        assert!(cleared.extension_schemas.is_empty());
    }
}

#[tokio::test]
async fn invalid_extension_schemas_are_refused_before_writing() {
    for db in test_stores().await {
        let s = &db.store;
        let (acme, ia) = tenant_with_integration(s, "Acme").await;
        let reserved = extension_schema(USER_SCHEMA, "User", vec![AttributeDef::string("x")]);
        let err = s
            .set_integration_extension_schemas(&acme.id, &ia.id, std::slice::from_ref(&reserved))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::InvalidData(m) if m.contains("reserved")),
            "{}: {err}",
            db.label
        );
        let twice = s
            .set_integration_extension_schemas(&acme.id, &ia.id, &[activtrak(), activtrak()])
            .await;
        assert!(matches!(twice, Err(StoreError::InvalidData(_))));
        let read = s.get_integration(&acme.id, &ia.id).await.unwrap().unwrap();
        assert!(
            read.extension_schemas.is_empty(),
            "{}: nothing written",
            db.label
        );

        // Creating with schemas stores them; an invalid list creates nothing.
        let mut with = new_integration(&acme.id, "ActivTrak");
        with.extension_schemas = vec![activtrak()];
        let created = s.create_integration(with).await.unwrap();
        assert_eq!(created.extension_schemas, vec![activtrak()]);
        let mut bad = new_integration(&acme.id, "Bad");
        bad.extension_schemas = vec![reserved];
        assert!(s.create_integration(bad).await.is_err());
        assert_eq!(s.list_integrations(&acme.id).await.unwrap().len(), 2);
    }
}
