//! An integration's User resource type: the core User schema, the Enterprise extension and
//! the extension schemas registered on the integration (none required). The SCIM API serves
//! exactly this type for the integration (normalisation, filters, projection, discovery), and
//! the planner and rule parser build the same one, so a rule can name a custom attribute.

use scim_core::extension::user_type_with;
use scim_core::schema::ResourceType;
use store::Integration;

/// The User type of `integration`. Its extension schemas were validated when they were
/// stored, so building the type cannot fail.
pub fn user_type(integration: &Integration) -> ResourceType {
    user_type_with(&integration.extension_schemas)
}
