//! Server-rendered SVG charts for the console's dashboards (no script): a line chart of one or
//! more series and a bar chart of one, over labelled points, with a value axis of round ticks,
//! axis labels, and an accessible name (`<title>`, `<desc>`) on the chart and on every point and
//! bar. Pure: the same data always gives the same markup.

use maud::{html, Markup};

/// Width of the drawing (SVG units; the chart scales to its box).
pub const WIDTH: i64 = 720;
/// Height of the drawing.
pub const HEIGHT: i64 = 260;
const LEFT: i64 = 72;
const RIGHT: i64 = 16;
const TOP: i64 = 16;
const BOTTOM: i64 = 44;
/// Most labels written under the x axis (others skipped evenly).
const MAX_X_LABELS: usize = 8;
/// Series colours, in order.
const COLOURS: [&str; 4] = ["#2563eb", "#dc2626", "#16a34a", "#9333ea"];

/// One series of values, one per label.
#[derive(Clone, Debug)]
pub struct Series<'a> {
    /// Its name (legend, titles).
    pub name: &'a str,
    /// Its values (as many as the chart's labels).
    pub values: &'a [i64],
}

/// What a chart shows.
#[derive(Clone, Debug)]
pub struct Chart<'a> {
    /// The element id (its title's and description's ids derive from it).
    pub id: &'a str,
    /// Accessible name, shown as the caption.
    pub title: &'a str,
    /// The x axis's name.
    pub x_label: &'a str,
    /// The value axis's name.
    pub y_label: &'a str,
    /// The points' labels (x axis).
    pub labels: &'a [String],
    /// The series (a bar chart draws the first).
    pub series: &'a [Series<'a>],
    /// How a value is written (ticks, titles).
    pub format: fn(i64) -> String,
}

/// The value axis: lowest and highest tick and the step between ticks, round numbers (1, 2 or
/// 5 times a power of ten) covering `min..=max` and zero, about four steps.
pub fn axis(min: i64, max: i64) -> (i64, i64, i64) {
    let (lo, hi) = (min.min(0), max.max(0));
    if lo == hi {
        return (0, 1, 1);
    }
    let rough = ((hi - lo) as f64 / 4.0).max(1.0);
    let pow = 10f64.powi(rough.log10().floor() as i32);
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * pow)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * pow)
        .max(1.0) as i64;
    let lo = lo.div_euclid(step) * step;
    let hi = -((-hi).div_euclid(step) * step);
    (lo, hi, step)
}

/// The plot's geometry for `n` points and a value axis.
struct Plot {
    n: usize,
    lo: i64,
    hi: i64,
}

impl Plot {
    fn width() -> i64 {
        WIDTH - LEFT - RIGHT
    }

    fn height() -> i64 {
        HEIGHT - TOP - BOTTOM
    }

    /// The y coordinate of a value.
    fn y(&self, v: i64) -> f64 {
        let span = (self.hi - self.lo).max(1) as f64;
        TOP as f64 + Self::height() as f64 * (1.0 - (v - self.lo) as f64 / span)
    }

    /// The x coordinate of point `i` on a line (ends on the axis ends).
    fn x_line(&self, i: usize) -> f64 {
        if self.n <= 1 {
            return LEFT as f64 + Self::width() as f64 / 2.0;
        }
        LEFT as f64 + Self::width() as f64 * i as f64 / (self.n - 1) as f64
    }

    /// The centre of band `i` (bars).
    fn x_band(&self, i: usize) -> f64 {
        let band = Self::width() as f64 / self.n.max(1) as f64;
        LEFT as f64 + band * (i as f64 + 0.5)
    }

    fn band(&self) -> f64 {
        Self::width() as f64 / self.n.max(1) as f64
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

/// Which labels are written: every k-th, so at most [`MAX_X_LABELS`].
fn label_every(n: usize) -> usize {
    n.div_ceil(MAX_X_LABELS).max(1)
}

/// The frame: value ticks and grid, axis names, x labels at `xs`.
fn frame(c: &Chart, plot: &Plot, xs: &[f64], step: i64) -> Markup {
    let every = label_every(c.labels.len());
    let mut ticks = Vec::new();
    let mut t = plot.lo;
    while t <= plot.hi {
        ticks.push(t);
        t += step;
    }
    html! {
        g.axis font-size="11" fill="#555" {
            @for t in &ticks {
                line x1=(LEFT) x2=(WIDTH - RIGHT) y1=(fmt(plot.y(*t))) y2=(fmt(plot.y(*t)))
                    stroke=(if *t == 0 { "#999" } else { "#e5e7eb" }) stroke-width="1" {}
                text x=(LEFT - 6) y=(fmt(plot.y(*t) + 4.0)) text-anchor="end" { ((c.format)(*t)) }
            }
            @for (i, x) in xs.iter().enumerate() {
                @if i % every == 0 {
                    text.x-label x=(fmt(*x)) y=(HEIGHT - BOTTOM + 16) text-anchor="middle" { (c.labels[i]) }
                }
            }
            text.x-axis-name x=(LEFT + Plot::width() / 2) y=(HEIGHT - 6) text-anchor="middle" { (c.x_label) }
            text.y-axis-name x="12" y=(TOP + Plot::height() / 2) text-anchor="middle"
                transform={ "rotate(-90 12 " (TOP + Plot::height() / 2) ")" } { (c.y_label) }
        }
    }
}

fn value_range(c: &Chart, only_first: bool) -> (i64, i64) {
    let take = if only_first { 1 } else { c.series.len() };
    let values = c.series.iter().take(take).flat_map(|s| s.values.iter());
    values.fold((0, 0), |(lo, hi), v| (lo.min(*v), hi.max(*v)))
}

fn description(c: &Chart) -> String {
    let names: Vec<&str> = c.series.iter().map(|s| s.name).collect();
    match (c.labels.first(), c.labels.last()) {
        (Some(first), Some(last)) => format!(
            "{}: {} ({} – {}, {} points)",
            c.y_label,
            names.join(", "),
            first,
            last,
            c.labels.len()
        ),
        _ => format!("{}: no data", c.y_label),
    }
}

/// A line chart: one polyline (and a dot with a `<title>` per point) per series, a legend when
/// there is more than one series.
pub fn line_chart(c: &Chart) -> Markup {
    let (min, max) = value_range(c, false);
    let (lo, hi, step) = axis(min, max);
    let plot = Plot {
        n: c.labels.len(),
        lo,
        hi,
    };
    let xs: Vec<f64> = (0..plot.n).map(|i| plot.x_line(i)).collect();
    html! {
        figure.chart id=(c.id) {
            svg.line-chart viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } width="100%" role="img"
                aria-labelledby={ (c.id) "-title " (c.id) "-desc" } xmlns="http://www.w3.org/2000/svg" {
                title id={ (c.id) "-title" } { (c.title) }
                desc id={ (c.id) "-desc" } { (description(c)) }
                (frame(c, &plot, &xs, step))
                @for (k, s) in c.series.iter().enumerate() {
                    @let colour = COLOURS[k % COLOURS.len()];
                    @let points: Vec<String> = s.values.iter().take(plot.n).enumerate()
                        .map(|(i, v)| format!("{},{}", fmt(xs[i]), fmt(plot.y(*v)))).collect();
                    g.series data-series=(s.name) {
                        polyline points=(points.join(" ")) fill="none" stroke=(colour) stroke-width="2" {}
                        @for (i, v) in s.values.iter().take(plot.n).enumerate() {
                            circle.point cx=(fmt(xs[i])) cy=(fmt(plot.y(*v))) r="3" fill=(colour)
                                data-label=(c.labels[i]) data-value=(v) {
                                title { (s.name) " " (c.labels[i]) ": " ((c.format)(*v)) }
                            }
                        }
                    }
                }
            }
            @if c.series.len() > 1 {
                figcaption.legend {
                    @for (k, s) in c.series.iter().enumerate() {
                        span.chip { span style={ "color:" (COLOURS[k % COLOURS.len()]) } { "■ " } (s.name) }
                    }
                }
            }
        }
    }
}

/// A bar chart of the first series: one bar (with a `<title>`) per label.
pub fn bar_chart(c: &Chart) -> Markup {
    let (min, max) = value_range(c, true);
    let (lo, hi, step) = axis(min, max);
    let plot = Plot {
        n: c.labels.len(),
        lo,
        hi,
    };
    let xs: Vec<f64> = (0..plot.n).map(|i| plot.x_band(i)).collect();
    let width = plot.band() * 0.7;
    let empty: &[i64] = &[];
    let (name, values) = c
        .series
        .first()
        .map(|s| (s.name, s.values))
        .unwrap_or(("", empty));
    html! {
        figure.chart id=(c.id) {
            svg.bar-chart viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } width="100%" role="img"
                aria-labelledby={ (c.id) "-title " (c.id) "-desc" } xmlns="http://www.w3.org/2000/svg" {
                title id={ (c.id) "-title" } { (c.title) }
                desc id={ (c.id) "-desc" } { (description(c)) }
                (frame(c, &plot, &xs, step))
                g.series data-series=(name) {
                    @for (i, v) in values.iter().take(plot.n).enumerate() {
                        @let (y0, y1) = (plot.y(0), plot.y(*v));
                        rect.bar x=(fmt(xs[i] - width / 2.0)) y=(fmt(y0.min(y1))) width=(fmt(width))
                            height=(fmt((y0 - y1).abs())) fill=(COLOURS[0])
                            data-label=(c.labels[i]) data-value=(v) {
                            title { (c.labels[i]) ": " ((c.format)(*v)) }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(v: i64) -> String {
        v.to_string()
    }

    #[test]
    fn axes_are_round_and_cover_the_values() {
        assert_eq!(axis(0, 0), (0, 1, 1));
        assert_eq!(axis(0, 100), (0, 100, 50));
        assert_eq!(axis(0, 937), (0, 1000, 500));
        assert_eq!(axis(-30, 120), (-50, 150, 50));
        assert_eq!(axis(5, 5), (0, 6, 2));
        assert_eq!(axis(0, 40), (0, 40, 10));
    }

    #[test]
    fn a_line_chart_has_a_point_with_a_title_per_value() {
        let labels: Vec<String> = ["a", "b", "c"].iter().map(|s| (*s).to_owned()).collect();
        let values = [10, 0, 40];
        let series = [Series {
            name: "GMV",
            values: &values,
        }];
        let html = line_chart(&Chart {
            id: "gmv",
            title: "GMV per day",
            x_label: "Day",
            y_label: "Yuan",
            labels: &labels,
            series: &series,
            format: plain,
        })
        .into_string();
        assert!(html.contains("<title id=\"gmv-title\">GMV per day</title>"));
        assert!(html.contains("aria-labelledby=\"gmv-title gmv-desc\""));
        assert_eq!(html.matches("<circle").count(), 3);
        assert!(html.contains("<title>GMV b: 0</title>"));
        // Top tick 40 at y = TOP, zero on the axis's foot, first point on the left end.
        let foot = HEIGHT - BOTTOM;
        assert!(html.contains(&format!("cy=\"{foot}.0\"")));
        assert!(html.contains(&format!("cx=\"{LEFT}.0\"")));
        assert!(html.contains(&format!("cy=\"{TOP}.0\"")));
        assert!(html.contains(">Day</text>") && html.contains(">Yuan</text>"));
    }

    #[test]
    fn a_bar_chart_draws_a_bar_per_label_and_handles_no_data() {
        let labels: Vec<String> = vec!["SH001".into(), "SH002".into()];
        let values = [300, 100];
        let series = [Series {
            name: "GMV",
            values: &values,
        }];
        let chart = Chart {
            id: "stores",
            title: "GMV by store",
            x_label: "Store",
            y_label: "Yuan",
            labels: &labels,
            series: &series,
            format: plain,
        };
        let html = bar_chart(&chart).into_string();
        assert_eq!(html.matches("<rect").count(), 2);
        assert!(html.contains("<title>SH002: 100</title>"));
        // The higher bar reaches the top of the plot.
        assert!(html.contains(&format!("y=\"{TOP}.0\"")));
        let none = bar_chart(&Chart {
            labels: &[],
            series: &[],
            ..chart
        })
        .into_string();
        assert!(none.contains("no data") && !none.contains("<rect"));
    }

    #[test]
    fn many_labels_are_thinned() {
        assert_eq!(label_every(7), 1);
        assert_eq!(label_every(31), 4);
        assert_eq!(label_every(366), 46);
    }
}
