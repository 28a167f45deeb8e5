//! What the authority policy sees: `input` of `data.steward.authority.decision`, defined in
//! [`steward_domain::authority`], and its JSON Schema.

pub use steward_domain::authority::{
    ActionInput, AuthorityInput, GuardrailsInput, MaintenanceInput, ProposerInput, RiskFactorInput,
    RiskInput, TargetInput, TenantInput,
};

/// The JSON Schema of [`AuthorityInput`], pretty-printed with a trailing newline, as kept in
/// `policies/schema/authority_input.json`.
///
/// # Panics
/// Never: the schema is plain JSON.
#[must_use]
pub fn authority_input_schema() -> String {
    let schema = schemars::schema_for!(AuthorityInput);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    text.push('\n');
    text
}
