//! Answering through an email's single-use link.

use steward_domain::actions::Action;

use crate::storage::{
    TenantWork, WorkError, WriteContext,
    approval_links::{LinkError, ResolvedLink, use_up},
};

/// Answers the link's action as its approver and uses the link up, in the context's
/// transaction: a refused answer leaves the link usable.
///
/// # Errors
/// [`LinkError::Used`] when another use of the link got there first; [`LinkError::Action`]
/// when the answer itself is refused.
pub async fn answer_link(
    ctx: &WriteContext<'_>,
    link: &ResolvedLink,
    approve: bool,
    comment: Option<String>,
) -> Result<Action, LinkError> {
    if !use_up(ctx, link).await? {
        return Err(LinkError::Used);
    }
    let work = TenantWork::for_user(ctx, link.tenant.clone(), link.user.id, link.user.role);
    super::answer(
        &work,
        link.action.id,
        approve,
        link.action.version.clone(),
        comment,
    )
    .await
    .map_err(|err| match err {
        WorkError::Action(action) => LinkError::Action(action),
        WorkError::Storage(storage) => LinkError::Storage(storage),
        _ => LinkError::NotAllowed,
    })
}
