//! Answering from a Slack message's buttons, as the Steward user linked to the Slack user.

use steward_domain::{
    ActionId, MspId, TenantId, UserId, actions::Action, integrations::SlackConnection,
    tenancy::RoleSide,
};

use crate::storage::{
    StorageError, TenantDirectory, TenantWork, UserDirectory, WorkError, WriteContext,
};

/// Why an answer from Slack was not taken.
#[derive(Debug, thiserror::Error)]
pub enum SlackAnswerError {
    #[error("this Slack user is not linked to a Steward user; ask an MSP admin to link them")]
    UnknownSlackUser,
    #[error("the Steward user linked to this Slack user cannot answer for this tenant")]
    NotAllowed,
    #[error(transparent)]
    Work(#[from] WorkError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Answers an action as the Steward user linked to `slack_user`, with that user's role checked
/// as for any answer (which also queues the update of the Slack messages).
///
/// # Errors
/// [`SlackAnswerError`] saying why the answer was not taken.
#[expect(
    clippy::too_many_arguments,
    reason = "each is one field of the button Slack reports"
)]
pub async fn answer_in_slack(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    connection: &SlackConnection,
    slack_user: &str,
    tenant_id: TenantId,
    action_id: ActionId,
    approve: bool,
    version: String,
) -> Result<Action, SlackAnswerError> {
    let user_id: UserId = *connection
        .users
        .get(slack_user)
        .ok_or(SlackAnswerError::UnknownSlackUser)?;
    let user = UserDirectory::new(ctx.txn, msp_id)
        .lookup(user_id)
        .await?
        .filter(steward_domain::tenancy::User::is_active)
        .ok_or(SlackAnswerError::NotAllowed)?;
    let confined = match user.role.side() {
        RoleSide::Msp => None,
        RoleSide::Customer => user.tenant_id,
    };
    let tenant = TenantDirectory::new(ctx.txn, msp_id, confined)
        .lookup(tenant_id)
        .await?
        .ok_or(SlackAnswerError::NotAllowed)?;
    let work = TenantWork::for_user(ctx, tenant, user.id, user.role);
    Ok(super::answer(
        &work,
        action_id,
        approve,
        version,
        Some("answered in Slack".to_owned()),
    )
    .await?)
}
