//! The browser defences every response carries.
//!
//! Steward's pages are server-rendered and use no script at all, so the Content-Security-Policy
//! allows none: an injected `<script>` or event handler would not run even if escaping ever
//! failed. No page may be framed (`frame-ancestors 'none'` and `X-Frame-Options: DENY`), so an
//! approval card or link cannot be overlaid by a clickjacking page. Nothing is sniffed into
//! another type, no URL is sent on as a referrer (approval links carry their secret in the
//! path), and a deployment reached over https tells browsers to keep to it.

use axum::{
    extract::Request,
    http::{HeaderMap, HeaderValue, header},
    middleware::Next,
    response::Response,
};

/// The policy of every HTML page: its own stylesheet and images, forms posting back to
/// Steward, no scripts, plugins, frames or `<base>`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; \
     img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// How long browsers keep to https once told (a year).
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Adds the headers to a response; `https` says Steward is reached over https.
fn protect(headers: &mut HeaderMap, https: bool) {
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/html"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if html {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
}

/// The middleware: the state says whether Steward is reached over https.
pub async fn add(
    axum::extract::State(https): axum::extract::State<bool>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    protect(response.headers_mut(), https);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_type(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(content_type).unwrap(),
        );
        headers
    }

    #[test]
    fn pages_get_the_policy_and_every_answer_the_rest() {
        let mut page = with_type("text/html; charset=utf-8");
        protect(&mut page, false);
        assert_eq!(
            page[header::CONTENT_SECURITY_POLICY],
            CONTENT_SECURITY_POLICY
        );
        assert_eq!(page[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(page[header::REFERRER_POLICY], "no-referrer");
        assert!(!page.contains_key(header::STRICT_TRANSPORT_SECURITY));

        let mut json = with_type("application/json");
        protect(&mut json, true);
        assert_eq!(json[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(!json.contains_key(header::CONTENT_SECURITY_POLICY));
        assert_eq!(json[header::STRICT_TRANSPORT_SECURITY], HSTS);
    }
}
