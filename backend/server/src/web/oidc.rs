//! Single sign-on with an OpenID Connect provider: authorization code flow with PKCE and a
//! nonce, started at `/auth/oidc/login`, finished at `/auth/oidc/callback`.

use std::time::{Duration, Instant};

use axum::{
    extract::{Query, Request, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};
use axum_extra::extract::cookie::CookieJar;
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
    core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims},
};
use secrecy::ExposeSecret;
use serde::Deserialize;
use steward_core::auth::{self, IdentityRefusal, PendingOidcLogin, ProviderIdentity};
use steward_frontend::pages::message;
use tokio::sync::RwLock;

use super::{
    UiError,
    session::{SESSION_COOKIE, client_info, cookie, removal},
};
use crate::{config::OidcConfig, state::AppState};

/// The cookie binding an OIDC sign-in to the browser that started it.
const STATE_COOKIE: &str = "steward_oidc_state";

/// How long discovered provider metadata (endpoints, signing keys) is reused.
const METADATA_TTL: Duration = Duration::from_secs(600);

/// A configured OpenID Connect provider.
#[derive(Debug)]
pub struct Oidc {
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: ClientSecret,
    redirect: RedirectUrl,
    button_label: String,
    http: openidconnect::reqwest::Client,
    metadata: RwLock<Option<(CoreProviderMetadata, Instant)>>,
}

/// Why single sign-on could not go ahead.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the identity provider's configuration could not be read: {0}")]
    Discovery(String),
    #[error("the identity provider did not complete the sign-in: {0}")]
    Exchange(String),
    #[error("the identity provider's answer could not be verified: {0}")]
    Verification(String),
}

impl Oidc {
    /// The provider from configuration, if single sign-on is configured.
    ///
    /// # Errors
    /// When the configuration cannot form valid URLs, or the HTTP client cannot be built.
    pub fn from_config(config: &OidcConfig, public_base: &str) -> anyhow::Result<Option<Self>> {
        let (Some(issuer), Some(client_id), Some(client_secret)) =
            (&config.issuer, &config.client_id, &config.client_secret)
        else {
            return Ok(None);
        };
        let http = openidconnect::reqwest::Client::builder()
            // Following redirects would let a provider send Steward's requests elsewhere.
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Some(Self {
            issuer: IssuerUrl::new(issuer.as_str().trim_end_matches('/').to_owned())?,
            client_id: ClientId::new(client_id.clone()),
            client_secret: ClientSecret::new(client_secret.expose_secret().to_owned()),
            redirect: RedirectUrl::new(format!("{public_base}/auth/oidc/callback"))?,
            button_label: config.button_label.clone(),
            http,
            metadata: RwLock::new(None),
        }))
    }

    pub fn button_label(&self) -> &str {
        &self.button_label
    }

    async fn metadata(&self) -> Result<CoreProviderMetadata, OidcError> {
        if let Some((metadata, fetched)) = self.metadata.read().await.as_ref()
            && fetched.elapsed() < METADATA_TTL
        {
            return Ok(metadata.clone());
        }
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|err| OidcError::Discovery(crate::error_chain(&err)))?;
        *self.metadata.write().await = Some((metadata.clone(), Instant::now()));
        Ok(metadata)
    }

    /// Where to send the browser, and what to remember until it comes back.
    async fn begin(&self) -> Result<(url::Url, CsrfToken, PendingOidcLogin), OidcError> {
        let client = CoreClient::from_provider_metadata(
            self.metadata().await?,
            self.client_id.clone(),
            Some(self.client_secret.clone()),
        )
        .set_redirect_uri(self.redirect.clone());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".to_owned()))
            .add_scope(Scope::new("profile".to_owned()))
            .set_pkce_challenge(challenge)
            .url();
        let pending = PendingOidcLogin {
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        };
        Ok((url, state, pending))
    }

    /// Exchanges the code and verifies the ID token (signature, issuer, audience, expiry,
    /// nonce).
    async fn finish(
        &self,
        code: String,
        pending: PendingOidcLogin,
    ) -> Result<ProviderIdentity, OidcError> {
        let client = CoreClient::from_provider_metadata(
            self.metadata().await?,
            self.client_id.clone(),
            Some(self.client_secret.clone()),
        )
        .set_redirect_uri(self.redirect.clone());
        let response = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|err| OidcError::Exchange(crate::error_chain(&err)))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|err| OidcError::Exchange(crate::error_chain(&err)))?;
        let id_token = response
            .id_token()
            .ok_or_else(|| OidcError::Verification("no ID token in the answer".to_owned()))?;
        let claims = id_token
            .claims(&client.id_token_verifier(), &Nonce::new(pending.nonce))
            .map_err(|err| OidcError::Verification(crate::error_chain(&err)))?;
        let mut identity = ProviderIdentity {
            issuer: claims.issuer().as_str().to_owned(),
            subject: claims.subject().as_str().to_owned(),
            email: claims.email().map(|email| email.as_str().to_owned()),
            email_verified: claims.email_verified() == Some(true),
            name: claims
                .name()
                .and_then(|name| name.get(None))
                .map(|name| name.as_str().to_owned()),
        };
        if identity.email.is_none() {
            // Many providers keep the ID token small in the code flow and serve the profile
            // from the UserInfo endpoint; its subject must be the ID token's.
            let user_info: CoreUserInfoClaims = client
                .user_info(
                    response.access_token().to_owned(),
                    Some(claims.subject().clone()),
                )
                .map_err(|err| OidcError::Verification(crate::error_chain(&err)))?
                .request_async(&self.http)
                .await
                .map_err(|err| OidcError::Verification(crate::error_chain(&err)))?;
            identity.email = user_info.email().map(|email| email.as_str().to_owned());
            identity.email_verified = user_info.email_verified() == Some(true);
            if identity.name.is_none() {
                identity.name = user_info
                    .name()
                    .and_then(|name| name.get(None))
                    .map(|name| name.as_str().to_owned());
            }
        }
        Ok(identity)
    }
}

fn refusal_page(status: StatusCode, title: &str, text: &str) -> Response {
    let page = message::render(None, title, text, ("/login", "Back to sign-in"));
    (status, Html(page)).into_response()
}

/// Sends the browser to the provider.
pub async fn start(State(state): State<AppState>, jar: CookieJar) -> Result<Response, UiError> {
    let Some(oidc) = state.web.oidc.as_ref() else {
        return Err(UiError::NotFound);
    };
    let (url, csrf_state, pending) = match oidc.begin().await {
        Ok(begun) => begun,
        Err(err) => {
            tracing::error!(error = %err, "single sign-on could not start");
            return Ok(refusal_page(
                StatusCode::BAD_GATEWAY,
                "Single sign-on is unavailable",
                &format!("{err}. Sign in with a password, or try again later."),
            ));
        }
    };
    auth::remember_oidc_login(
        &state.storage,
        state.clock.as_ref(),
        csrf_state.secret(),
        &pending,
    )
    .await?;
    let jar = jar.add(cookie(
        &state.web,
        STATE_COOKIE,
        csrf_state.secret().clone(),
    ));
    Ok((jar, Redirect::to(url.as_str())).into_response())
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Finishes the sign-in: the state must match this browser's cookie and a login Steward
/// started; the ID token must verify; the identity must belong to (or be linkable to) a user.
pub async fn callback(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(query): Query<CallbackQuery>,
    request: Request,
) -> Result<Response, UiError> {
    let Some(oidc) = state.web.oidc.as_ref() else {
        return Err(UiError::NotFound);
    };
    let jar_without_state = jar.clone().remove(removal(&state.web, STATE_COOKIE));
    if let Some(error) = query.error {
        let detail = query.error_description.unwrap_or_default();
        return Ok((
            jar_without_state,
            refusal_page(
                StatusCode::UNAUTHORIZED,
                "Sign-in cancelled",
                &format!("The identity provider did not sign you in ({error}). {detail}"),
            ),
        )
            .into_response());
    }
    let (Some(code), Some(returned_state)) = (query.code, query.state) else {
        return Err(UiError::BadForm(
            "the callback lacks its code or state".to_owned(),
        ));
    };
    let cookie_state = jar
        .get(STATE_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    if !auth::csrf_matches(&cookie_state, &returned_state) {
        return Ok(refusal_page(
            StatusCode::BAD_REQUEST,
            "Sign-in not recognized",
            "This sign-in was not started from this browser. Start again from the sign-in page.",
        ));
    }
    let Some(pending) =
        auth::take_oidc_login(&state.storage, state.clock.as_ref(), &returned_state).await?
    else {
        return Ok(refusal_page(
            StatusCode::BAD_REQUEST,
            "Sign-in expired",
            "This sign-in was already used or took too long. Start again from the sign-in page.",
        ));
    };
    let identity = match oidc.finish(code, pending).await {
        Ok(identity) => identity,
        Err(err) => {
            tracing::warn!(error = %err, "single sign-on refused");
            return Ok((
                jar_without_state,
                refusal_page(
                    StatusCode::UNAUTHORIZED,
                    "Single sign-on failed",
                    &err.to_string(),
                ),
            )
                .into_response());
        }
    };
    let user = match auth::resolve_identity(
        &state.storage,
        state.clock.as_ref(),
        &state.keys,
        &identity,
    )
    .await?
    {
        Ok(user) => user,
        Err(refusal) => {
            tracing::info!(issuer = %identity.issuer, subject = %identity.subject, %refusal, "single sign-on identity refused");
            let text = match &refusal {
                IdentityRefusal::UnknownUser(_) | IdentityRefusal::UnverifiedEmail => format!(
                    "{refusal}. Steward does not create accounts on its own; an MSP admin can add you."
                ),
                IdentityRefusal::Disabled => format!("{refusal}."),
            };
            return Ok((
                jar_without_state,
                refusal_page(
                    StatusCode::FORBIDDEN,
                    "No Steward account for this sign-in",
                    &text,
                ),
            )
                .into_response());
        }
    };
    let (parts, _) = request.into_parts();
    let session = auth::start_session(
        &state.storage,
        state.clock.as_ref(),
        &state.keys,
        &state.web.auth,
        &user,
        &client_info(&parts),
        "single sign-on",
    )
    .await?;
    let jar = jar_without_state.add(cookie(
        &state.web,
        SESSION_COOKIE,
        session.cookie_value().to_owned(),
    ));
    Ok((jar, Redirect::to("/")).into_response())
}
