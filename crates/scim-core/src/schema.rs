//! Schemas as data (RFC 7643 §2 and §7): attribute definitions for the core User and Group
//! schemas, the Enterprise User extension, and extensions registered at run time. The
//! `/Schemas` and `/ResourceTypes` documents are generated from these definitions.

use serde::Serialize;

/// Core User schema URN.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Core Group schema URN.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Enterprise User extension URN.
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// The Microsoft group schema URN that Entra adds to `POST /Groups`; tolerated, never required.
pub const MS_ADSCIM_GROUP_SCHEMA: &str =
    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";

/// Attribute data types (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

/// Who may write an attribute (RFC 7643 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

/// When an attribute is returned (RFC 7643 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

/// Uniqueness of values (RFC 7643 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

/// One attribute definition, serialised exactly as `/Schemas` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeDef {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: AttrType,
    pub multi_valued: bool,
    pub description: String,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub canonical_values: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reference_types: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sub_attributes: Vec<AttributeDef>,
}

impl AttributeDef {
    /// A single-valued, optional, readWrite, case-insensitive attribute returned by default.
    pub fn new(name: &str, kind: AttrType) -> Self {
        Self {
            name: name.to_string(),
            kind,
            multi_valued: false,
            description: String::new(),
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: Vec::new(),
            reference_types: Vec::new(),
            sub_attributes: Vec::new(),
        }
    }
    /// A string attribute.
    pub fn string(name: &str) -> Self {
        Self::new(name, AttrType::String)
    }
    /// A boolean attribute.
    pub fn boolean(name: &str) -> Self {
        Self::new(name, AttrType::Boolean)
    }
    /// A complex attribute with sub-attributes.
    pub fn complex(name: &str, subs: Vec<AttributeDef>) -> Self {
        Self {
            sub_attributes: subs,
            ..Self::new(name, AttrType::Complex)
        }
    }
    /// A reference attribute to the given reference types.
    pub fn reference(name: &str, types: &[&str]) -> Self {
        Self {
            reference_types: types.iter().map(|s| s.to_string()).collect(),
            ..Self::new(name, AttrType::Reference)
        }
    }
    /// Sets the description.
    pub fn describe(mut self, d: &str) -> Self {
        self.description = d.to_string();
        self
    }
    /// Marks the attribute multi-valued.
    pub fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    /// Marks the attribute required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    /// Marks comparisons case-exact.
    pub fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    /// Sets mutability.
    pub fn mutability(mut self, m: Mutability) -> Self {
        self.mutability = m;
        self
    }
    /// Sets when the attribute is returned.
    pub fn returned(mut self, r: Returned) -> Self {
        self.returned = r;
        self
    }
    /// Sets uniqueness.
    pub fn uniqueness(mut self, u: Uniqueness) -> Self {
        self.uniqueness = u;
        self
    }
    /// Sets canonical values (e.g. `work`, `home`).
    pub fn canonical(mut self, values: &[&str]) -> Self {
        self.canonical_values = values.iter().map(|s| s.to_string()).collect();
        self
    }
    /// Finds a sub-attribute by name, case-insensitively.
    pub fn sub(&self, name: &str) -> Option<&AttributeDef> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
    /// True for multi-valued attributes of complex type.
    pub fn is_multi_complex(&self) -> bool {
        self.multi_valued && self.kind == AttrType::Complex
    }
}

/// A schema: URN, name and attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Schema {
    pub id: String,
    pub name: String,
    pub description: String,
    pub attributes: Vec<AttributeDef>,
}

impl Schema {
    /// Finds a top-level attribute by name, case-insensitively.
    pub fn attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// An extension of a resource type and whether it is required.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtensionRef {
    pub schema: Schema,
    pub required: bool,
}

/// A resource type (User, Group) with its core schema and extensions.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    pub id: String,
    pub name: String,
    pub endpoint: String,
    pub description: String,
    pub schema: Schema,
    pub extensions: Vec<ExtensionRef>,
}

impl ResourceType {
    /// The User resource type with the Enterprise extension.
    pub fn user() -> Self {
        Self {
            id: "User".into(),
            name: "User".into(),
            endpoint: "/Users".into(),
            description: "User Account".into(),
            schema: user_schema(),
            extensions: vec![ExtensionRef {
                schema: enterprise_user_schema(),
                required: false,
            }],
        }
    }

    /// The Group resource type.
    pub fn group() -> Self {
        Self {
            id: "Group".into(),
            name: "Group".into(),
            endpoint: "/Groups".into(),
            description: "Group".into(),
            schema: group_schema(),
            extensions: Vec::new(),
        }
    }

    /// Adds (or replaces) an extension schema.
    pub fn register_extension(&mut self, schema: Schema, required: bool) {
        self.extensions
            .retain(|e| !e.schema.id.eq_ignore_ascii_case(&schema.id));
        self.extensions.push(ExtensionRef { schema, required });
    }

    /// The extension with this URN, case-insensitively.
    pub fn extension(&self, urn: &str) -> Option<&Schema> {
        self.extensions
            .iter()
            .map(|e| &e.schema)
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// True if `urn` is the core schema of this type.
    pub fn is_core_urn(&self, urn: &str) -> bool {
        self.schema.id.eq_ignore_ascii_case(urn)
    }

    /// Resolves a top-level attribute: `urn` None or the core URN → the core schema (or the
    /// common attributes `id`, `externalId`, `meta`); an extension URN → that extension.
    pub fn attribute(&self, urn: Option<&str>, name: &str) -> Option<&AttributeDef> {
        match urn {
            None => common_attribute(name).or_else(|| self.schema.attribute(name)),
            Some(u) if self.is_core_urn(u) => {
                common_attribute(name).or_else(|| self.schema.attribute(name))
            }
            Some(u) => self.extension(u)?.attribute(name),
        }
    }

    /// Every schema URN this type knows (core first).
    pub fn schema_urns(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.schema.id.as_str())
            .chain(self.extensions.iter().map(|e| e.schema.id.as_str()))
    }
}

/// `id`, `externalId` and `meta`, common to every resource (RFC 7643 §3.1).
pub fn common_attribute(name: &str) -> Option<&'static AttributeDef> {
    COMMON
        .get_or_init(common_attributes)
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
}

static COMMON: std::sync::OnceLock<Vec<AttributeDef>> = std::sync::OnceLock::new();

fn common_attributes() -> Vec<AttributeDef> {
    use Mutability::*;
    vec![
        AttributeDef::string("id")
            .describe("Unique identifier for the resource, assigned by the service provider.")
            .case_exact()
            .mutability(ReadOnly)
            .returned(Returned::Always)
            .uniqueness(Uniqueness::Server),
        AttributeDef::string("externalId")
            .describe("Identifier of the resource as defined by the provisioning client.")
            .case_exact(),
        AttributeDef::complex(
            "meta",
            vec![
                AttributeDef::string("resourceType")
                    .case_exact()
                    .mutability(ReadOnly),
                AttributeDef::new("created", AttrType::DateTime).mutability(ReadOnly),
                AttributeDef::new("lastModified", AttrType::DateTime).mutability(ReadOnly),
                AttributeDef::reference("location", &["uri"])
                    .case_exact()
                    .mutability(ReadOnly),
                AttributeDef::string("version")
                    .case_exact()
                    .mutability(ReadOnly),
            ],
        )
        .describe("Resource metadata, owned by the service provider.")
        .mutability(ReadOnly),
    ]
}

fn typed_multi(name: &str, value: AttributeDef, types: &[&str], desc: &str) -> AttributeDef {
    AttributeDef::complex(
        name,
        vec![
            value,
            AttributeDef::string("display")
                .describe("A human-readable name, primarily used for display purposes."),
            AttributeDef::string("type")
                .canonical(types)
                .describe("A label indicating the attribute's function."),
            AttributeDef::boolean("primary").describe(
                "Indicates the 'primary' or preferred attribute value for this attribute.",
            ),
        ],
    )
    .multi()
    .describe(desc)
}

/// The core User schema (RFC 7643 §4.1, §8.7.1).
pub fn user_schema() -> Schema {
    use AttributeDef as A;
    let attributes = vec![
        A::string("userName")
            .describe("Unique identifier for the User, typically used to authenticate directly with the service provider.")
            .required()
            .uniqueness(Uniqueness::Server),
        A::complex(
            "name",
            vec![
                A::string("formatted").describe("The full name, formatted for display."),
                A::string("familyName").describe("The family name of the User."),
                A::string("givenName").describe("The given name of the User."),
                A::string("middleName").describe("The middle name(s) of the User."),
                A::string("honorificPrefix").describe("The honorific prefix(es) of the User."),
                A::string("honorificSuffix").describe("The honorific suffix(es) of the User."),
            ],
        )
        .describe("The components of the user's real name."),
        A::string("displayName").describe("The name of the User, suitable for display to end-users."),
        A::string("nickName").describe("The casual way to address the user in real life."),
        A::reference("profileUrl", &["external"]).describe("A fully qualified URL pointing to a page representing the User's online profile."),
        A::string("title").describe("The user's title, such as \"Vice President\"."),
        A::string("userType").describe("Used to identify the relationship between the organization and the user."),
        A::string("preferredLanguage").describe("Indicates the User's preferred written or spoken language."),
        A::string("locale").describe("Used to indicate the User's default location for localization."),
        A::string("timezone").describe("The User's time zone in the 'Olson' time zone database format."),
        A::boolean("active").describe("A Boolean value indicating the User's administrative status."),
        A::string("password")
            .describe("The User's cleartext password; never returned.")
            .mutability(Mutability::WriteOnly)
            .returned(Returned::Never),
        typed_multi("emails", A::string("value").describe("Email address for the User."), &["work", "home", "other"], "Email addresses for the user."),
        typed_multi("phoneNumbers", A::string("value").describe("Phone number of the User."), &["work", "home", "mobile", "fax", "pager", "other"], "Phone numbers for the User."),
        typed_multi("ims", A::string("value").describe("Instant messaging address for the User."), &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"], "Instant messaging addresses for the User."),
        typed_multi("photos", A::reference("value", &["external"]).describe("URL of a photo of the User."), &["photo", "thumbnail"], "URLs of photos of the User."),
        A::complex(
            "addresses",
            vec![
                A::string("formatted").describe("The full mailing address, formatted for display."),
                A::string("streetAddress").describe("The full street address component."),
                A::string("locality").describe("The city or locality component."),
                A::string("region").describe("The state or region component."),
                A::string("postalCode").describe("The zip code or postal code component."),
                A::string("country").describe("The country name component."),
                A::string("type").canonical(&["work", "home", "other"]).describe("A label indicating the attribute's function."),
                A::boolean("primary").describe("Indicates the 'primary' or preferred address."),
            ],
        )
        .multi()
        .describe("A physical mailing address for this User."),
        A::complex(
            "groups",
            vec![
                A::string("value").describe("The identifier of the User's group.").mutability(Mutability::ReadOnly),
                A::reference("$ref", &["User", "Group"]).describe("The URI of the corresponding 'Group' resource.").mutability(Mutability::ReadOnly),
                A::string("display").describe("A human-readable name.").mutability(Mutability::ReadOnly),
                A::string("type").canonical(&["direct", "indirect"]).describe("Direct or indirect membership.").mutability(Mutability::ReadOnly),
            ],
        )
        .multi()
        .mutability(Mutability::ReadOnly)
        .describe("A list of groups to which the user belongs."),
        typed_multi("entitlements", A::string("value").describe("The value of an entitlement."), &[], "A list of entitlements for the User."),
        typed_multi("roles", A::string("value").describe("The value of a role."), &[], "A list of roles for the User."),
        typed_multi("x509Certificates", A::new("value", AttrType::Binary).describe("The value of an X.509 certificate."), &[], "A list of certificates issued to the User."),
    ];
    Schema {
        id: USER_SCHEMA.into(),
        name: "User".into(),
        description: "User Account".into(),
        attributes,
    }
}

/// The core Group schema (RFC 7643 §4.2). `displayName` is required here because groups are
/// matched and kept unique by it.
pub fn group_schema() -> Schema {
    use AttributeDef as A;
    let attributes = vec![
        A::string("displayName")
            .describe("A human-readable name for the Group.")
            .required()
            .uniqueness(Uniqueness::Server),
        A::complex(
            "members",
            vec![
                A::string("value")
                    .describe("Identifier of the member of this Group.")
                    .mutability(Mutability::Immutable),
                A::reference("$ref", &["User", "Group"])
                    .describe("The URI of the member resource.")
                    .mutability(Mutability::Immutable),
                A::string("type")
                    .canonical(&["User", "Group"])
                    .describe("The type of the member.")
                    .mutability(Mutability::Immutable),
                A::string("display")
                    .describe("A human-readable name of the member.")
                    .mutability(Mutability::ReadOnly),
            ],
        )
        .multi()
        .describe("A list of members of the Group."),
    ];
    Schema {
        id: GROUP_SCHEMA.into(),
        name: "Group".into(),
        description: "Group".into(),
        attributes,
    }
}

/// The Enterprise User extension (RFC 7643 §4.3).
pub fn enterprise_user_schema() -> Schema {
    use AttributeDef as A;
    let attributes = vec![
        A::string("employeeNumber")
            .describe("Numeric or alphanumeric identifier assigned to a person."),
        A::string("costCenter").describe("Identifies the name of a cost center."),
        A::string("organization").describe("Identifies the name of an organization."),
        A::string("division").describe("Identifies the name of a division."),
        A::string("department").describe("Identifies the name of a department."),
        A::complex(
            "manager",
            vec![
                A::string("value")
                    .describe("The id of the SCIM resource representing the User's manager."),
                A::reference("$ref", &["User"]).describe("The URI of the manager's User resource."),
                A::string("displayName")
                    .describe("The displayName of the User's manager.")
                    .mutability(Mutability::ReadOnly),
            ],
        )
        .describe("The User's manager."),
    ];
    Schema {
        id: ENTERPRISE_USER_SCHEMA.into(),
        name: "EnterpriseUser".into(),
        description: "Enterprise User".into(),
        attributes,
    }
}

/// Builds an extension schema from attributes (for run-time registration).
pub fn extension_schema(urn: &str, name: &str, attributes: Vec<AttributeDef>) -> Schema {
    Schema {
        id: urn.into(),
        name: name.into(),
        description: format!("{name} extension"),
        attributes,
    }
}
