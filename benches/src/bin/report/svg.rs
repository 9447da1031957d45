//! The report's picture: peer time ÷ ipc time per group, as an SVG bar chart.

use std::fmt::Write as _;

use crate::fmt::fmt_ratio;
use crate::markdown::Doc;
use crate::table::SECTIONS;

impl Doc<'_> {
    /// `benches/report/ratios.svg`: each peer's time ÷ ipc's reference, per group, as bars on a
    /// log scale.
    pub(crate) fn svg(&self) -> String {
        // (section title, peer, ratio)
        let mut bars: Vec<(String, String, f64)> = Vec::new();
        for sec in SECTIONS {
            let Some(reference) = self.reference(sec) else {
                continue;
            };
            for b in self.rows(sec.group) {
                if std::ptr::eq(b, reference)
                    || b.function.starts_with("ipc_core")
                    || b.function.starts_with("host_runtime")
                {
                    continue;
                }
                bars.push((
                    format!("{} (vs {})", sec.group, reference.function),
                    b.function.clone(),
                    b.per_elem() / reference.per_elem(),
                ));
            }
        }
        let (lo, hi) = (0.02f64, 1000.0f64);
        let width = 980.0;
        let label_w = 430.0;
        let plot_w = width - label_w - 80.0;
        let bar_h = 14.0;
        let mut y = 50.0;
        let x_of = |r: f64| {
            label_w + (r.clamp(lo, hi).log10() - lo.log10()) / (hi.log10() - lo.log10()) * plot_w
        };
        let mut body = String::new();
        let mut last_group = String::new();
        for (group, peer, r) in &bars {
            if *group != last_group {
                y += 8.0;
                let _ = writeln!(
                    body,
                    r#"<text x="4" y="{:.0}" class="g">{}</text>"#,
                    y + 10.0,
                    esc(group)
                );
                y += 16.0;
                last_group = group.clone();
            }
            let x1 = x_of(1.0);
            let x2 = x_of(*r);
            let (x, w, class) = if x2 >= x1 {
                (x1, x2 - x1, "fast")
            } else {
                (x2, x1 - x2, "slow")
            };
            let _ = writeln!(
                body,
                r#"<text x="{:.0}" y="{:.0}" class="l">{}</text>"#,
                label_w - 6.0,
                y + 11.0,
                esc(peer)
            );
            let _ = writeln!(
                body,
                r#"<rect x="{x:.1}" y="{y:.0}" width="{:.1}" height="{bar_h}" class="{class}"/>"#,
                w.max(1.0)
            );
            let (tx, anchor) = if x2 >= x1 {
                (x2 + 4.0, "start")
            } else {
                (x2 - 4.0, "end")
            };
            let _ = writeln!(
                body,
                r#"<text x="{tx:.0}" y="{:.0}" class="v" text-anchor="{anchor}">{}</text>"#,
                y + 11.0,
                fmt_ratio(*r)
            );
            y += bar_h + 3.0;
        }
        let height = y + 30.0;
        let mut grid = String::new();
        for t in [0.1, 0.5, 1.0, 2.0, 10.0, 100.0, 1000.0] {
            let x = x_of(t);
            let _ = writeln!(
                grid,
                r#"<line x1="{x:.1}" y1="40" x2="{x:.1}" y2="{:.0}" class="{}"/>"#,
                height - 20.0,
                if t == 1.0 { "one" } else { "grid" }
            );
            let _ = writeln!(grid, r#"<text x="{x:.1}" y="34" class="t">{}×</text>"#, t);
        }
        format!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0}" viewBox="0 0 {width} {height:.0}" font-family="sans-serif" font-size="11">
<style>
.g {{ font-weight: bold; fill: #222; }} .l {{ text-anchor: end; fill: #333; }} .v {{ fill: #333; }}
.t {{ text-anchor: middle; fill: #555; }} .fast {{ fill: #3a7d44; }} .slow {{ fill: #c0392b; }}
.grid {{ stroke: #ddd; }} .one {{ stroke: #000; }}
</style>
<rect width="100%" height="100%" fill="white"/>
<text x="4" y="16" font-size="13" font-weight="bold">Peer time ÷ ipc time, per group (log scale; green, right of 1×: ipc faster; red: the peer is faster)</text>
{grid}{body}</svg>
"##
        )
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
