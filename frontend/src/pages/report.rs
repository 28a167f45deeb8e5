//! The outcome report as a page: the same data as the API's report, with the risk chart drawn
//! as inline SVG by Steward itself.

use leptos::prelude::*;
use steward_domain::reports::{OutcomeReport, RiskChange};

use crate::{Chrome, layout::render_document, parts::when};

/// Escapes text for SVG.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The entity's name cut to fit beside the bars; the full name is in the tables.
fn short_label(name: &str) -> String {
    const MAX: usize = 30;
    if name.chars().count() <= MAX {
        name.to_owned()
    } else {
        let mut short: String = name.chars().take(MAX - 1).collect();
        short.push('…');
        short
    }
}

/// A horizontal bar chart of each entity's risk at the start (grey) and end (blue) of the
/// period, on a 0-100 axis.
#[must_use]
pub fn risk_chart_svg(risk: &[RiskChange]) -> String {
    let rows: Vec<_> = risk.iter().take(12).collect();
    let label = 220.0;
    let scale = 3.6;
    let row = 30.0;
    let width = label + 100.0 * scale + 60.0;
    let height = row * rows.len() as f64 + 30.0;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}"><title>Risk before and after</title>"#
    );
    for (index, change) in rows.iter().enumerate() {
        let y = row * index as f64;
        let before = f64::from(change.before) * scale;
        let after = f64::from(change.after) * scale;
        svg.push_str(&format!(
            r##"<g class="risk-row"><text x="0" y="{}" font-size="12">{}</text><rect class="before" x="{label}" y="{}" width="{before}" height="10" fill="#a7adb8"><title>before: {}</title></rect><rect class="after" x="{label}" y="{}" width="{after}" height="10" fill="#2961b8"><title>after: {}</title></rect><text x="{}" y="{}" font-size="11">{} → {}</text></g>"##,
            y + 16.0,
            escape(&short_label(&change.entity_name)),
            y + 3.0,
            change.before,
            y + 14.0,
            change.after,
            label + before.max(after) + 6.0,
            y + 16.0,
            change.before,
            change.after,
        ));
    }
    svg.push_str(&format!(
        r#"<text x="{label}" y="{}" font-size="11">grey: start of the period · blue: end (0–100)</text></svg>"#,
        height - 6.0
    ));
    svg
}

/// A span of seconds for people: `45 s`, `12 min`, `3.5 h`.
#[must_use]
pub fn human_duration(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s => format!("{:.1} h", s as f64 / 3600.0),
    }
}

fn duration(seconds: Option<i64>) -> String {
    seconds.map_or_else(|| "—".to_owned(), human_duration)
}

/// Renders the report page; `pdf_href` downloads the same report as a PDF.
pub fn render(chrome: Chrome, report: OutcomeReport, pdf_href: String, back: String) -> String {
    let s = report.summary.clone();
    let chart = if report.risk.is_empty() {
        view! { <p>"No entity carried risk in this period."</p> }.into_any()
    } else {
        view! { <div class="chart-wrap" inner_html=risk_chart_svg(&report.risk)></div> }.into_any()
    };
    let incidents = report
        .incidents
        .iter()
        .map(|i| {
            view! {
                <tr>
                    <td>{i.title.clone()}</td>
                    <td>{i.status.as_str()}</td>
                    <td>{i.verdict.map(|v| v.as_str().replace('_', " ")).unwrap_or_default()}</td>
                    <td>{when(i.detected_at)}</td>
                    <td>{duration(Some(i.time_to_detect_seconds))}</td>
                    <td>{duration(i.time_to_respond_seconds)}</td>
                </tr>
            }
        })
        .collect_view();
    let actions = report
        .actions
        .iter()
        .map(|a| {
            let approvals = a
                .approvals
                .iter()
                .map(|x| if x.approved { "approved" } else { "rejected" })
                .collect::<Vec<_>>()
                .join(", ");
            view! {
                <tr>
                    <td>{a.kind.as_str().replace('_', " ")}</td>
                    <td>{a.target_name.clone()}</td>
                    <td>{a.status.as_str().replace('_', " ")}</td>
                    <td>{a.decision.reasons.join(", ")}</td>
                    <td>{approvals}</td>
                </tr>
            }
        })
        .collect_view();
    let title = format!("Outcome report: {}", report.tenant_name);
    let period = format!("{} to {}", when(report.from), when(report.to));
    let body = view! {
        <div class="title-row">
            <h1>{title.clone()}</h1>
            <a class="button" href=pdf_href>"Download PDF"</a>
            <a class="button button-secondary" href=back>"Back"</a>
        </div>
        <section class="card" id="summary">
            <p>{period}</p>
            <dl class="facts">
                <div><dt>"Incidents"</dt><dd>{format!("{} ({} contained, {} resolved)", s.incidents, s.incidents_contained, s.incidents_resolved)}</dd></div>
                <div><dt>"Mean time to detect"</dt><dd>{duration(s.mean_time_to_detect_seconds)}</dd></div>
                <div><dt>"Mean time to respond"</dt><dd>{duration(s.mean_time_to_respond_seconds)}</dd></div>
                <div><dt>"Actions"</dt><dd>{format!("{} ({} verified, {} rolled back)", s.actions, s.actions_verified, s.actions_rolled_back)}</dd></div>
                <div><dt>"Total risk"</dt><dd>{format!("{} → {}", s.total_risk_before, s.total_risk_after)}</dd></div>
            </dl>
        </section>
        <section class="card" id="risk-chart">
            <h2>"Risk before and after"</h2>
            {chart}
        </section>
        <section class="card">
            <h2>"Incidents"</h2>
            <div class="table-wrap"><table>
                <thead><tr><th>"Incident"</th><th>"Status"</th><th>"Verdict"</th><th>"Detected"</th><th>"Time to detect"</th><th>"Time to respond"</th></tr></thead>
                <tbody>{incidents}</tbody>
            </table></div>
        </section>
        <section class="card">
            <h2>"Actions"</h2>
            <div class="table-wrap"><table>
                <thead><tr><th>"Action"</th><th>"Target"</th><th>"Result"</th><th>"Policy reasons"</th><th>"Approvals"</th></tr></thead>
                <tbody>{actions}</tbody>
            </table></div>
        </section>
    };
    render_document(&title, Some(chrome), body)
}
