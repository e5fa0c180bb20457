//! Charts drawn on the server as small inline SVG: no script, no request.
//! Each chart is decorative beside the data table that carries the same
//! figures for screen readers (`aria-hidden` on the drawing, the table
//! referenced by `aria-describedby` on the figure).

use std::fmt::Write;

/// Escapes text for an SVG (XML) text node or attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 12.0;

/// A round maximum for the axis: 1, 2 or 5 times a power of ten.
fn nice_max(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let power = 10_f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|&m| m >= max)
        .unwrap_or(10.0 * power)
}

fn axis(out: &mut String, max: f64, label: &dyn Fn(f64) -> String) {
    let plot_height = HEIGHT - TOP - BOTTOM;
    for step in 0..=4 {
        let value = max * f64::from(step) / 4.0;
        let y = HEIGHT - BOTTOM - plot_height * f64::from(step) / 4.0;
        let _ = write!(
            out,
            r#"<line x1="{LEFT}" y1="{y:.1}" x2="{WIDTH}" y2="{y:.1}" class="grid"/><text x="{x:.1}" y="{ty:.1}" class="tick" text-anchor="end">{}</text>"#,
            escape(&label(value)),
            x = LEFT - 4.0,
            ty = y + 4.0,
        );
    }
}

/// A bar chart of labelled values.
pub fn bars(bars: &[(String, f64)], label: &dyn Fn(f64) -> String) -> String {
    let max = nice_max(bars.iter().map(|b| b.1).fold(0.0, f64::max));
    let mut out = format!(
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="presentation" aria-hidden="true" focusable="false">"#
    );
    axis(&mut out, max, label);
    #[allow(clippy::cast_precision_loss)]
    let slot = (WIDTH - LEFT) / bars.len().max(1) as f64;
    let plot_height = HEIGHT - TOP - BOTTOM;
    for (i, (name, value)) in bars.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let x = LEFT + slot * i as f64;
        let h = plot_height * (value / max).clamp(0.0, 1.0);
        let _ = write!(
            out,
            r#"<rect x="{bx:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" class="bar"/><text x="{cx:.1}" y="{ly:.1}" class="tick" text-anchor="middle">{}</text>"#,
            escape(name),
            bx = x + slot * 0.15,
            y = HEIGHT - BOTTOM - h,
            w = slot * 0.7,
            cx = x + slot / 2.0,
            ly = HEIGHT - BOTTOM + 16.0,
        );
    }
    out.push_str("</svg>");
    out
}

/// A line chart of series over the same labelled points; a missing value
/// breaks the line.
pub fn lines(
    points: &[String],
    series: &[(String, Vec<Option<f64>>)],
    label: &dyn Fn(f64) -> String,
) -> String {
    let max = nice_max(
        series
            .iter()
            .flat_map(|s| s.1.iter().flatten())
            .fold(0.0, |a: f64, &b| a.max(b)),
    );
    let mut out = format!(
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="presentation" aria-hidden="true" focusable="false">"#,
        height = HEIGHT + 20.0
    );
    axis(&mut out, max, label);
    let plot_height = HEIGHT - TOP - BOTTOM;
    #[allow(clippy::cast_precision_loss)]
    let step = (WIDTH - LEFT - 20.0) / (points.len().max(2) - 1) as f64;
    #[allow(clippy::cast_precision_loss)]
    let x_of = |i: usize| LEFT + 10.0 + step * i as f64;
    for (i, point) in points.iter().enumerate() {
        let _ = write!(
            out,
            r#"<text x="{x:.1}" y="{y:.1}" class="tick" text-anchor="middle">{}</text>"#,
            escape(point),
            x = x_of(i),
            y = HEIGHT - BOTTOM + 16.0,
        );
    }
    for (n, (name, values)) in series.iter().enumerate() {
        let mut path = String::new();
        let mut pen_down = false;
        for (i, value) in values.iter().enumerate() {
            match value {
                Some(v) => {
                    let y = HEIGHT - BOTTOM - plot_height * (v / max).clamp(0.0, 1.0);
                    let _ = write!(
                        path,
                        "{}{:.1},{y:.1} ",
                        if pen_down { "L" } else { "M" },
                        x_of(i)
                    );
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        #[allow(clippy::cast_precision_loss)]
        let legend_x = LEFT + 150.0 * n as f64;
        let _ = write!(
            out,
            r#"<path d="{}" class="line s{n}"/><rect x="{legend_x:.1}" y="{ly:.1}" width="12" height="4" class="key s{n}"/><text x="{tx:.1}" y="{ty:.1}" class="tick">{}</text>"#,
            path.trim_end(),
            escape(name),
            ly = HEIGHT + 6.0,
            tx = legend_x + 16.0,
            ty = HEIGHT + 12.0,
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_bars_scale_to_a_round_maximum() {
        let svg = bars(&[("<b>".into(), 5.0), ("ok".into(), 10.0)], &|v| {
            format!("{v}")
        });
        assert!(svg.contains("&lt;b&gt;"));
        assert!(!svg.contains("<b>"));
        // 10 is the axis maximum: the second bar is full height (160).
        assert!(svg.contains(r#"height="160.0""#), "{svg}");
        assert!(svg.contains(r#"height="80.0""#), "{svg}");
        assert_eq!(nice_max(7.3), 10.0);
        assert_eq!(nice_max(130.0), 200.0);
        assert_eq!(nice_max(0.0), 1.0);
    }

    #[test]
    fn a_missing_point_breaks_the_line() {
        let svg = lines(
            &["W1".into(), "W2".into(), "W3".into()],
            &[("a".into(), vec![Some(1.0), None, Some(2.0)])],
            &|v| format!("{v}"),
        );
        assert_eq!(svg.matches('M').count(), 2, "{svg}");
        assert!(!svg.contains(" L"), "{svg}");
    }
}
