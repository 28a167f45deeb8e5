//! The sandbox's Okta org over real HTTP, as an Okta connector will meet it: SSWS tokens,
//! `Link`-header paging, the `X-Rate-Limit-*` headers and 429 `E0000047`, lifecycle
//! suspend/unsuspend with Okta's refusals, clearing sessions, and the System Log.

use reqwest::{Method, StatusCode, header};
use serde_json::Value;
use steward_integrations::http::{RetryPolicy, VendorHttp};
use steward_sandbox::{Sandbox, SandboxCredentials, Scenario};
use uuid::Uuid;

struct Org {
    sandbox: Sandbox,
    tenant: Uuid,
    credentials: SandboxCredentials,
    base: String,
    client: reqwest::Client,
}

impl Org {
    async fn start() -> Self {
        let served =
            crate::support::serve(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0002)).await;
        let client = VendorHttp::new(RetryPolicy::default())
            .unwrap()
            .with_egress(crate::support::loopback_egress())
            .client()
            .clone();
        Self {
            base: served
                .url(&format!("okta/{}", served.credentials.okta_org))
                .to_string(),
            sandbox: served.sandbox,
            tenant: served.tenant,
            credentials: served.credentials,
            client,
        }
    }

    async fn call(
        &self,
        method: Method,
        url: &str,
        token: Option<&str>,
    ) -> (StatusCode, header::HeaderMap, Value) {
        let mut request = self.client.request(method, url);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("SSWS {token}"));
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    async fn get(&self, url: &str) -> (StatusCode, header::HeaderMap, Value) {
        self.call(Method::GET, url, Some(&self.credentials.okta_api_token))
            .await
    }
}

/// The `rel="next"` target of a `Link` header, if any.
fn next_link(headers: &header::HeaderMap) -> Option<String> {
    headers
        .get_all(header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.ends_with("rel=\"next\""))
        .map(|v| v[1..v.find('>').unwrap()].to_owned())
}

fn header_number(headers: &header::HeaderMap, name: &str) -> i64 {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name}"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn only_the_orgs_ssws_token_is_accepted() {
    let org = Org::start().await;
    let users = format!("{}/api/v1/users", org.base);
    for token in [None, Some("not-the-token")] {
        let (status, _, body) = org.call(Method::GET, &users, token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["errorCode"], "E0000011");
        assert!(body["errorId"].as_str().unwrap().starts_with("oae"));
    }
    let (status, _, body) = org.get(&users).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = org
        .call(
            Method::GET,
            &users.replace("acme-dental", "someone-else"),
            Some(&org.credentials.okta_api_token),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn users_page_through_link_headers_with_rate_limit_headers_on_every_answer() {
    let org = Org::start().await;
    let mut url = Some(format!("{}/api/v1/users?limit=3", org.base));
    let mut seen = Vec::new();
    let mut remaining = Vec::new();
    while let Some(next) = url.take() {
        let (status, headers, page) = org.get(&next).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let page = page.as_array().unwrap();
        assert!(page.len() <= 3);
        for user in page {
            assert!(user["id"].as_str().unwrap().starts_with("00u"), "{user}");
            assert_eq!(user["status"], "ACTIVE");
            assert!(user["profile"]["login"].as_str().unwrap().contains('@'));
            seen.push(user["id"].as_str().unwrap().to_owned());
        }
        remaining.push(header_number(&headers, "x-rate-limit-remaining"));
        assert_eq!(header_number(&headers, "x-rate-limit-limit"), 600);
        url = next_link(&headers);
    }
    let state = org.sandbox.state(org.tenant).await.unwrap();
    assert_eq!(seen.len(), state.users.len(), "every user once: {seen:?}");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len());
    assert!(
        remaining.windows(2).all(|w| w[1] < w[0]),
        "the budget goes down: {remaining:?}"
    );
    let (status, _, body) = org.get(&format!("{}/api/v1/users?limit=0", org.base)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn past_the_budget_okta_answers_429_with_the_reset_epoch_and_no_retry_after() {
    let org = Org::start().await;
    org.sandbox.throttle_okta(org.tenant, 2);
    for _ in 0..2 {
        let (status, headers, body) = org.get(&format!("{}/api/v1/logs", org.base)).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(body["errorCode"], "E0000047");
        assert_eq!(header_number(&headers, "x-rate-limit-remaining"), 0);
        #[expect(clippy::disallowed_methods, reason = "the header is a real epoch")]
        let now = chrono::Utc::now().timestamp();
        let reset = header_number(&headers, "x-rate-limit-reset");
        assert!(reset > now && reset <= now + 61, "{reset} vs {now}");
        assert!(headers.get(header::RETRY_AFTER).is_none());
    }
    let (status, _, _) = org.get(&format!("{}/api/v1/logs", org.base)).await;
    assert_eq!(status, StatusCode::OK);
    // The System Log's own budget is 120 requests a minute.
    for _ in 0..119 {
        org.get(&format!("{}/api/v1/logs", org.base)).await;
    }
    let (status, _, body) = org.get(&format!("{}/api/v1/logs", org.base)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    // Other endpoints keep theirs.
    let (status, _, _) = org.get(&format!("{}/api/v1/users", org.base)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn suspending_and_clearing_sessions_change_the_user_and_okta_refuses_the_wrong_state() {
    let org = Org::start().await;
    let state = org.sandbox.state(org.tenant).await.unwrap();
    let user = state.users[3].clone();
    let token = org.credentials.okta_api_token.clone();
    let lifecycle = |verb: &str| {
        format!(
            "{}/api/v1/users/{}/lifecycle/{verb}",
            org.base, user.okta_id
        )
    };

    let (status, _, _) = org
        .call(Method::POST, &lifecycle("suspend"), Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, shown) = org
        .get(&format!("{}/api/v1/users/{}", org.base, user.okta_id))
        .await;
    assert_eq!(shown["status"], "SUSPENDED");
    let (status, _, body) = org
        .call(Method::POST, &lifecycle("suspend"), Some(&token))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errorCode"], "E0000001");
    assert_eq!(
        body["errorCauses"][0]["errorSummary"],
        "Cannot suspend a user that is not active"
    );
    let (status, _, _) = org
        .call(Method::POST, &lifecycle("unsuspend"), Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = org
        .call(Method::POST, &lifecycle("unsuspend"), Some(&token))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // The sandbox models no other lifecycle operation.
    let (status, _, body) = org
        .call(Method::POST, &lifecycle("deactivate"), Some(&token))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // Users are found by login too.
    let (status, _, shown) = org
        .get(&format!(
            "{}/api/v1/users/{}",
            org.base, user.user_principal_name
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["status"], "ACTIVE");

    let (status, _, _) = org
        .call(
            Method::DELETE,
            &format!("{}/api/v1/users/{}/sessions", org.base, user.okta_id),
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let after = org.sandbox.state(org.tenant).await.unwrap();
    let cleared = after.users.iter().find(|u| u.id == user.id).unwrap();
    assert!(cleared.sign_in_sessions_valid_from > user.sign_in_sessions_valid_from);
    let (status, _, body) = org
        .call(
            Method::POST,
            &format!("{}/api/v1/users/00unobody/lifecycle/suspend", org.base),
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["errorCode"], "E0000007");
}

#[tokio::test]
async fn the_system_log_has_sign_ins_and_polls_with_an_ever_present_next_link() {
    let org = Org::start().await;
    org.sandbox
        .run_scenario(org.tenant, Scenario::CompromisedAdmin)
        .await
        .unwrap();
    let since = "2000-01-01T00:00:00Z";
    let (status, headers, page) = org
        .get(&format!(
            "{}/api/v1/logs?since={since}&limit=1000",
            org.base
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let events = page.as_array().unwrap();
    assert!(!events.is_empty());
    assert!(
        events
            .iter()
            .all(|e| e["eventType"] == "user.session.start")
    );
    assert!(
        events
            .windows(2)
            .all(|w| w[0]["published"].as_str() <= w[1]["published"].as_str()),
        "oldest first"
    );
    let located = events
        .iter()
        .filter(|e| e["client"]["geographicalContext"]["geolocation"]["lat"].is_number())
        .count();
    assert_eq!(located, events.len(), "every event has its place");
    // Polling: the next link is there even with nothing new behind it.
    let next = next_link(&headers).expect("a polling request always links on");
    let (status, headers, page) = org.get(&next).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page.as_array().unwrap().len(), 0);
    assert!(next_link(&headers).is_some());
    // A bounded request links on only while there is more.
    let (_, headers, page) = org
        .get(&format!(
            "{}/api/v1/logs?since={since}&until=2100-01-01T00:00:00Z&limit=2",
            org.base
        ))
        .await;
    assert_eq!(page.as_array().unwrap().len(), 2);
    let mut pages = 1;
    let mut url = next_link(&headers);
    while let Some(next) = url.take() {
        let (_, headers, _) = org.get(&next).await;
        pages += 1;
        url = next_link(&headers);
    }
    assert_eq!(pages, events.len().div_ceil(2));
    let (status, _, body) = org
        .get(&format!("{}/api/v1/logs?since=yesterday", org.base))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[test]
fn every_operation_served_is_in_oktas_published_api() {
    let published = include_str!("../data/okta/management-operations.txt");
    for (method, path) in steward_sandbox::okta::OPERATIONS {
        let operation = format!("{method} {path}");
        assert!(
            published.lines().any(|line| line == operation),
            "{operation} is not in Okta's management API"
        );
    }
}
