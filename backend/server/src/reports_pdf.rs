//! The outcome report as a PDF: text in the standard Helvetica fonts (nothing to embed or
//! download) and the risk chart drawn as vector bars.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use steward_domain::reports::OutcomeReport;

const PAGE_WIDTH: f32 = 595.0;
const PAGE_HEIGHT: f32 = 842.0;
const MARGIN: f32 = 50.0;
const REGULAR: Name<'static> = Name(b"F1");
const BOLD: Name<'static> = Name(b"F2");
/// Characters per line at 9 pt that fit between the margins.
const LINE_CHARS: usize = 105;

/// Lays out pages top to bottom.
struct Pages {
    done: Vec<Content>,
    current: Content,
    y: f32,
}

impl Pages {
    fn new() -> Self {
        Self {
            done: Vec::new(),
            current: Content::new(),
            y: PAGE_HEIGHT - MARGIN,
        }
    }

    /// Makes room for `height` points, starting a new page if needed.
    fn room(&mut self, height: f32) {
        if self.y - height < MARGIN {
            let full = std::mem::replace(&mut self.current, Content::new());
            self.done.push(full);
            self.y = PAGE_HEIGHT - MARGIN;
        }
    }

    fn text(&mut self, font: Name<'_>, size: f32, text: &str) {
        for line in wrap(text, if size > 10.0 { 70 } else { LINE_CHARS }) {
            self.room(size + 4.0);
            self.y -= size + 4.0;
            self.current
                .begin_text()
                .set_font(font, size)
                .next_line(MARGIN, self.y)
                .show(Str(line.as_bytes()))
                .end_text();
        }
    }

    fn gap(&mut self, height: f32) {
        self.y -= height;
    }

    fn heading(&mut self, text: &str) {
        self.gap(10.0);
        self.room(40.0);
        self.text(BOLD, 13.0, text);
        self.gap(2.0);
    }

    /// Two bars per entity: risk at the start (grey) and at the end (blue), on a 0-100 axis.
    fn risk_chart(&mut self, report: &OutcomeReport) {
        let rows: Vec<_> = report.risk.iter().take(12).collect();
        if rows.is_empty() {
            self.text(REGULAR, 9.0, "No entity carried risk in this period.");
            return;
        }
        let label_width = 170.0;
        let scale = (PAGE_WIDTH - 2.0 * MARGIN - label_width - 30.0) / 100.0;
        let row_height = 22.0;
        self.room(row_height * rows.len() as f32 + 30.0);
        for row in rows {
            self.y -= row_height;
            let x = MARGIN + label_width;
            self.current
                .begin_text()
                .set_font(REGULAR, 8.0)
                .next_line(MARGIN, self.y + 6.0)
                .show(Str(ascii(&truncate(&row.entity_name, 38)).as_bytes()))
                .end_text();
            self.current
                .set_fill_rgb(0.7, 0.7, 0.7)
                .rect(x, self.y + 10.0, f32::from(row.before) * scale, 8.0)
                .fill_nonzero();
            self.current
                .set_fill_rgb(0.16, 0.38, 0.72)
                .rect(x, self.y + 1.0, f32::from(row.after) * scale, 8.0)
                .fill_nonzero();
            self.current.set_fill_rgb(0.0, 0.0, 0.0);
            self.current
                .begin_text()
                .set_font(REGULAR, 7.0)
                .next_line(
                    x + f32::from(row.before.max(row.after)) * scale + 4.0,
                    self.y + 6.0,
                )
                .show(Str(format!("{} -> {}", row.before, row.after).as_bytes()))
                .end_text();
        }
        self.y -= 14.0;
        self.current
            .begin_text()
            .set_font(REGULAR, 7.0)
            .next_line(MARGIN + label_width, self.y)
            .show(Str(
                b"grey: risk at the start of the period; blue: at the end (0-100)",
            ))
            .end_text();
    }

    fn finish(mut self) -> Vec<Content> {
        self.done.push(self.current);
        self.done
    }
}

fn ascii(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{2014}' | '\u{2013}' => '-',
            '\u{2019}' | '\u{2018}' => '\'',
            c if c.is_ascii() && !c.is_ascii_control() => c,
            _ => '?',
        })
        .collect()
}

fn truncate(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(chars.saturating_sub(3)).collect();
        short.push_str("...");
        short
    }
}

/// Splits text into lines of at most `width` characters at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in ascii(text).split(' ') {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

fn duration(seconds: Option<i64>) -> String {
    seconds.map_or_else(
        || "n/a".to_owned(),
        steward_frontend::pages::report::human_duration,
    )
}

/// Renders the report as a PDF document.
#[must_use]
pub fn render(report: &OutcomeReport) -> Vec<u8> {
    let mut pages = Pages::new();
    pages.text(
        BOLD,
        18.0,
        &format!("Outcome report: {}", report.tenant_name),
    );
    pages.text(
        REGULAR,
        9.0,
        &format!(
            "Period {} to {} (UTC). Generated {}.",
            report.from.format("%Y-%m-%d %H:%M"),
            report.to.format("%Y-%m-%d %H:%M"),
            report.generated_at.format("%Y-%m-%d %H:%M")
        ),
    );
    let s = &report.summary;
    pages.heading("Summary");
    for line in [
        format!(
            "Incidents: {} ({} contained, {} resolved)",
            s.incidents, s.incidents_contained, s.incidents_resolved
        ),
        format!(
            "Mean time to detect: {}; mean time to respond: {}",
            duration(s.mean_time_to_detect_seconds),
            duration(s.mean_time_to_respond_seconds)
        ),
        format!(
            "Actions: {} ({} verified, {} rolled back, {} awaiting approval, {} denied or rejected)",
            s.actions,
            s.actions_verified,
            s.actions_rolled_back,
            s.actions_awaiting_approval,
            s.actions_not_taken
        ),
        format!(
            "Total risk: {} at the start, {} at the end",
            s.total_risk_before, s.total_risk_after
        ),
    ] {
        pages.text(REGULAR, 9.0, &line);
    }
    pages.heading("Risk before and after");
    pages.risk_chart(report);
    pages.heading("Incidents");
    if report.incidents.is_empty() {
        pages.text(REGULAR, 9.0, "No incidents in this period.");
    }
    for incident in &report.incidents {
        pages.text(BOLD, 9.0, &incident.title);
        pages.text(
            REGULAR,
            9.0,
            &format!(
                "Status {}{}; detected {} after the first activity; responded {}",
                incident.status,
                incident
                    .verdict
                    .map(|v| format!(" ({})", v.as_str().replace('_', " ")))
                    .unwrap_or_default(),
                duration(Some(incident.time_to_detect_seconds)),
                incident.time_to_respond_seconds.map_or_else(
                    || "not yet".to_owned(),
                    |s| format!("in {}", duration(Some(s)))
                )
            ),
        );
    }
    pages.heading("Actions");
    if report.actions.is_empty() {
        pages.text(REGULAR, 9.0, "No actions in this period.");
    }
    for action in &report.actions {
        let approvals = action
            .approvals
            .iter()
            .map(|a| {
                format!(
                    "{} by the {} side",
                    if a.approved { "approved" } else { "rejected" },
                    match a.side {
                        steward_domain::actions::ApproverSide::Technician => "MSP",
                        steward_domain::actions::ApproverSide::Customer => "customer",
                    }
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        pages.text(
            REGULAR,
            9.0,
            &format!(
                "{} on {}: {}; policy {:?} ({}){}",
                action.kind,
                action.target_name,
                action.status,
                action.decision.outcome,
                action.decision.reasons.join(", "),
                if approvals.is_empty() {
                    String::new()
                } else {
                    format!("; {approvals}")
                }
            ),
        );
    }
    assemble(report, pages.finish())
}

fn assemble(report: &OutcomeReport, contents: Vec<Content>) -> Vec<u8> {
    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let info = Ref::new(5);
    let mut next = 6;
    let mut ids = Vec::new();
    for _ in &contents {
        ids.push((Ref::new(next), Ref::new(next + 1)));
        next += 2;
    }
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(ids.iter().map(|(page, _)| *page))
        .count(i32::try_from(ids.len()).unwrap_or(i32::MAX));
    pdf.type1_font(regular).base_font(Name(b"Helvetica"));
    pdf.type1_font(bold).base_font(Name(b"Helvetica-Bold"));
    let title = format!("Outcome report: {}", report.tenant_name);
    pdf.document_info(info)
        .title(TextStr(&title))
        .producer(TextStr("Steward"));
    for ((page_id, content_id), content) in ids.into_iter().zip(contents) {
        let mut page = pdf.page(page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT))
            .parent(tree)
            .contents(content_id);
        page.resources()
            .fonts()
            .pair(REGULAR, regular)
            .pair(BOLD, bold);
        page.finish();
        pdf.stream(content_id, &content.finish());
    }
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn long_text_wraps_at_spaces_and_non_ascii_is_replaced() {
        let lines = wrap("one two three four", 9);
        assert_eq!(lines, ["one two", "three", "four"]);
        assert_eq!(wrap("Zürich — ok", 80), ["Z?rich - ok"]);
    }
}
