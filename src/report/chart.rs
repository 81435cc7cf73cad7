//! PNG charts: plotters draws on an RGB buffer (pure Rust: ab_glyph text with the DejaVu
//! font, no system libraries), the png crate encodes it. Every chart has a title, labelled
//! axes with units, readable dates and a legend; series differ by line style and marker
//! shape as well as colour, so a grey-scale print keeps them apart.
//!
//! Three kinds: [`TimeChart`] (lines, markers, thresholds and shaded spans over time or
//! days), [`Heatmap`] (a grid of annotated cells) and [`BarChart`].

use std::ops::Range;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::FontStyle;

/// px: the default size of a chart (fits a laptop screen and an A4 page at 100 dpi)
pub const SIZE: (u32, u32) = (1100, 420);

const FONT: &str = "sans-serif";

/// Okabe–Ito colours: distinguishable with the common colour-vision deficiencies.
pub const BLACK: RGBColor = RGBColor(0, 0, 0);
pub const BLUE: RGBColor = RGBColor(0, 114, 178);
pub const ORANGE: RGBColor = RGBColor(230, 159, 0);
pub const RED: RGBColor = RGBColor(213, 94, 0);
pub const GREEN: RGBColor = RGBColor(0, 158, 115);
pub const SKY: RGBColor = RGBColor(86, 180, 233);
pub const PURPLE: RGBColor = RGBColor(204, 121, 167);
pub const GREY: RGBColor = RGBColor(120, 120, 120);

/// Colours in order, for series without a meaning of their own.
pub const PALETTE: [RGBColor; 8] = [BLUE, ORANGE, GREEN, RED, PURPLE, SKY, BLACK, GREY];
/// Dashes in order, paired with [`PALETTE`] so that neighbours differ in both.
pub const DASHES: [Dash; 3] = [Dash::Solid, Dash::Dashed, Dash::Dotted];

#[derive(Debug, thiserror::Error)]
#[error("chart {title:?}: {message}")]
pub struct ChartError {
    pub title: String,
    pub message: String,
}

/// Registers the DejaVu faces with plotters once per process: text drawing fails with
/// `FontUnavailable` without it.
pub fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Dash {
    Solid,
    Dashed,
    Dotted,
}

#[derive(Clone, Copy, Debug)]
pub struct Pen {
    pub colour: RGBColor,
    pub dash: Dash,
    /// px
    pub width: u32,
}

impl Pen {
    pub const fn new(colour: RGBColor, dash: Dash, width: u32) -> Pen {
        Pen {
            colour,
            dash,
            width,
        }
    }
}

/// A line; NaN values break it (a liquidation price exists only while a position is open).
pub struct Line {
    pub label: String,
    pub points: Vec<(i64, f64)>,
    pub pen: Pen,
    /// shade the area between the line and zero (the underwater curve)
    pub fill: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shape {
    /// ▲ long entries
    Up,
    /// ▼ short entries
    Down,
    /// × exits
    Cross,
    /// ● liquidations
    Circle,
    /// ■ stops, halts
    Square,
    /// ◆ take-profits
    Diamond,
}

pub struct Marks {
    pub label: String,
    pub points: Vec<(i64, f64)>,
    pub shape: Shape,
    pub colour: RGBColor,
}

/// A horizontal threshold across the chart.
pub struct Level {
    pub label: String,
    pub y: f64,
    pub pen: Pen,
}

/// A shaded time interval with a label at its top.
pub struct Span {
    pub from: i64,
    pub to: i64,
    pub label: String,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum YScale {
    Linear,
    /// for curves whose range spans more than about a factor 10
    Log,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum YFormat {
    /// plain numbers with thousands kept short ("12.5k")
    Number,
    /// fractions shown as percent
    Percent,
    /// multiples ("3x")
    Times,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum XFormat {
    /// x is ms since the epoch: dates
    Date,
    /// x is ms since the start: days
    Days,
}

/// Lines, markers, thresholds and spans over time.
pub struct TimeChart {
    pub title: String,
    pub x_label: String,
    /// with its unit, e.g. "equity (USDT)"
    pub y_label: String,
    pub x_format: XFormat,
    pub y_format: YFormat,
    pub y_scale: YScale,
    /// fixed y range; otherwise from the data, padded
    pub y_range: Option<(f64, f64)>,
    pub lines: Vec<Line>,
    pub marks: Vec<Marks>,
    pub levels: Vec<Level>,
    pub spans: Vec<Span>,
    /// text at a point: (x, y, text)
    pub notes: Vec<(i64, f64, String)>,
}

impl TimeChart {
    pub fn new(title: &str, y_label: &str) -> TimeChart {
        TimeChart {
            title: title.into(),
            x_label: "date (UTC)".into(),
            y_label: y_label.into(),
            x_format: XFormat::Date,
            y_format: YFormat::Number,
            y_scale: YScale::Linear,
            y_range: None,
            lines: Vec::new(),
            marks: Vec::new(),
            levels: Vec::new(),
            spans: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn x_range(&self) -> Range<i64> {
        let xs = self
            .lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.0))
            .chain(self.marks.iter().flat_map(|m| m.points.iter().map(|p| p.0)));
        let (lo, hi) = xs.fold((i64::MAX, i64::MIN), |(a, b), x| (a.min(x), b.max(x)));
        if lo > hi {
            0..1
        } else if lo == hi {
            lo..lo + 1
        } else {
            lo..hi
        }
    }

    fn y_range(&self) -> Range<f64> {
        if let Some((a, b)) = self.y_range {
            return a..b;
        }
        let ys = self
            .lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .chain(self.marks.iter().flat_map(|m| m.points.iter().map(|p| p.1)))
            .chain(self.levels.iter().map(|l| l.y))
            .chain(self.lines.iter().filter(|l| l.fill).map(|_| 0.0))
            .filter(|y| y.is_finite() && (self.y_scale == YScale::Linear || *y > 0.0));
        let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
            (a.min(y), b.max(y))
        });
        if lo > hi {
            return 0.0..1.0;
        }
        match self.y_scale {
            YScale::Log => lo / 1.15..hi * 1.15,
            YScale::Linear => {
                let pad = if hi > lo {
                    (hi - lo) * 0.06
                } else {
                    lo.abs().max(1.0) * 0.05
                };
                lo - pad..hi + pad
            }
        }
    }
}

/// Draws `chart` and returns the PNG bytes.
pub fn time_chart(chart: &TimeChart, size: (u32, u32)) -> Result<Vec<u8>, ChartError> {
    render(&chart.title, size, |root| {
        let (x, y) = (chart.x_range(), chart.y_range());
        match chart.y_scale {
            YScale::Linear => draw_time(root, chart, x, y),
            YScale::Log => draw_time(root, chart, x, y.log_scale()),
        }
    })
}

/// A white RGB canvas of `size` handed to `draw`, then encoded as PNG.
fn render(
    title: &str,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, Shift>) -> Result<(), String>,
) -> Result<Vec<u8>, ChartError> {
    register_fonts();
    let fail = |message: String| ChartError {
        title: title.to_string(),
        message,
    };
    let mut buffer = vec![255u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
        draw(&root).map_err(fail)?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    encode(&buffer, size).map_err(fail)
}

fn draw_time<'a, DB, Y>(
    root: &'a DrawingArea<DB, Shift>,
    chart: &TimeChart,
    x: Range<i64>,
    y: Y,
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let span_ms = (x.end - x.start).max(1);
    // calendar ticks where they fit; otherwise plotters' own, without light lines
    let (bold, light) = match super::ticks::time_ticks(&x, chart.x_format, 8) {
        Some(t) => (t.bold, t.light),
        None => (
            plotters::coord::types::RangedCoordi64::from(x.clone()).key_points(8),
            Vec::new(),
        ),
    };
    let x_axis = x.clone().with_key_points(bold).with_light_points(light);
    let mut ctx = ChartBuilder::on(root)
        .caption(&chart.title, (FONT, 20, FontStyle::Bold))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(78)
        .build_cartesian_2d(x_axis, y)
        .map_err(e)?;
    let y_format = chart.y_format;
    let x_format = chart.x_format;
    let x_fmt = move |ms: &i64| format_x(*ms, span_ms, x_format);
    let y_fmt = move |v: &f64| format_y(*v, y_format);
    ctx.configure_mesh()
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .x_labels(8)
        .y_labels(8)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
        .map_err(e)?;
    let (y_lo, y_hi) = {
        let r = ctx.y_range();
        (r.start, r.end)
    };
    for s in &chart.spans {
        ctx.draw_series(std::iter::once(Rectangle::new(
            [(s.from, y_lo), (s.to, y_hi)],
            RGBColor(200, 200, 200).mix(0.35).filled(),
        )))
        .map_err(e)?;
        // the label sits just above the bottom, clear of the legend and the data's peaks
        let label_y = match chart.y_scale {
            YScale::Linear => y_lo + 0.1 * (y_hi - y_lo),
            YScale::Log => y_lo * (y_hi / y_lo).powf(0.1),
        };
        ctx.draw_series(std::iter::once(Text::new(
            s.label.clone(),
            (s.from, label_y),
            (FONT, 13).into_font().color(&BLACK),
        )))
        .map_err(e)?;
    }
    for line in &chart.lines {
        let style = ShapeStyle::from(&line.pen.colour).stroke_width(line.pen.width);
        if line.fill {
            for segment in segments(&line.points) {
                ctx.draw_series(AreaSeries::new(
                    segment.iter().copied(),
                    0.0,
                    line.pen.colour.mix(0.25).filled(),
                ))
                .map_err(e)?;
            }
        }
        let mut labelled = false;
        for segment in segments(&line.points) {
            let drawn = match line.pen.dash {
                Dash::Solid => ctx
                    .draw_series(LineSeries::new(segment.iter().copied(), style))
                    .map_err(e)?,
                Dash::Dashed => ctx
                    .draw_series(DashedLineSeries::new(segment.iter().copied(), 9, 5, style))
                    .map_err(e)?,
                Dash::Dotted => ctx
                    .draw_series(DashedLineSeries::new(segment.iter().copied(), 2, 4, style))
                    .map_err(e)?,
            };
            if !labelled && !line.label.is_empty() {
                let pen = line.pen;
                drawn
                    .label(line.label.clone())
                    .legend(move |(x, y)| legend_line(x, y, pen));
                labelled = true;
            }
        }
    }
    let (x_lo, x_hi) = (x.start, x.end);
    for level in &chart.levels {
        let style = ShapeStyle::from(&level.pen.colour).stroke_width(level.pen.width);
        let points = [(x_lo, level.y), (x_hi, level.y)];
        let drawn = match level.pen.dash {
            Dash::Solid => ctx.draw_series(LineSeries::new(points, style)).map_err(e)?,
            Dash::Dashed => ctx
                .draw_series(DashedLineSeries::new(points, 9, 5, style))
                .map_err(e)?,
            Dash::Dotted => ctx
                .draw_series(DashedLineSeries::new(points, 2, 4, style))
                .map_err(e)?,
        };
        let pen = level.pen;
        drawn
            .label(level.label.clone())
            .legend(move |(x, y)| legend_line(x, y, pen));
    }
    for m in &chart.marks {
        if m.points.is_empty() {
            continue;
        }
        let (shape, colour) = (m.shape, m.colour);
        let (x_range, y_range) = (ctx.x_range(), ctx.y_range());
        for &(t, v) in &m.points {
            let inside = x_range.contains(&t) || t == x_range.end;
            if inside && v.is_finite() && v >= y_range.start && v <= y_range.end {
                draw_marker(root, ctx.backend_coord(&(t, v)), shape, colour).map_err(e)?;
            }
        }
        ctx.draw_series(std::iter::empty::<PathElement<(i64, f64)>>())
            .map_err(e)?
            .label(m.label.clone())
            .legend(move |(x, y)| Polygon::new(marker_points(shape, x + 10, y), colour.filled()));
    }
    for (x, y, text) in &chart.notes {
        ctx.draw_series(std::iter::once(Text::new(
            text.clone(),
            (*x, *y),
            (FONT, 13, FontStyle::Bold).into_font().color(&BLACK),
        )))
        .map_err(e)?;
    }
    let corner = quiet_corner(chart, &x, (y_lo, y_hi));
    ctx.configure_series_labels()
        .position(corner)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .label_font((FONT, 13))
        .draw()
        .map_err(e)?;
    Ok(())
}

/// The corner of the plot with the fewest points of the lines and markers, for the legend.
fn quiet_corner(
    chart: &TimeChart,
    x: &Range<i64>,
    (y_lo, y_hi): (f64, f64),
) -> SeriesLabelPosition {
    let log = chart.y_scale == YScale::Log;
    let fy = |v: f64| {
        if log {
            (v.ln() - y_lo.ln()) / (y_hi.ln() - y_lo.ln())
        } else {
            (v - y_lo) / (y_hi - y_lo)
        }
    };
    let width = (x.end - x.start).max(1) as f64;
    // counts in the four corners (0.4 of the width, 0.45 of the height): UL, UR, LL, LR
    let mut counts = [0usize; 4];
    let mut count = |t: i64, v: f64| {
        if !v.is_finite() || (log && v <= 0.0) {
            return;
        }
        let (u, w) = ((t - x.start) as f64 / width, fy(v));
        let (left, right, top, bottom) = (u < 0.4, u > 0.6, w > 0.55, w < 0.45);
        for (i, inside) in [left && top, right && top, left && bottom, right && bottom]
            .into_iter()
            .enumerate()
        {
            counts[i] += usize::from(inside);
        }
    };
    // lines are sampled at even steps across the width (a flat line has few points but
    // covers the whole width); markers count once each
    const SAMPLES: i64 = 80;
    for line in &chart.lines {
        let mut j = 0;
        for k in 0..=SAMPLES {
            let t = x.start + (x.end - x.start) * k / SAMPLES;
            while j + 1 < line.points.len() && line.points[j + 1].0 <= t {
                j += 1;
            }
            if let Some(&(t0, v)) = line.points.get(j)
                && t0 <= t
                && line.points.last().is_some_and(|p| p.0 >= t)
            {
                count(t, v);
            }
        }
    }
    for &(t, v) in chart.marks.iter().flat_map(|m| m.points.iter()) {
        count(t, v);
    }
    let best = (0..4).min_by_key(|&i| counts[i]).unwrap_or(0);
    match best {
        1 => SeriesLabelPosition::UpperRight,
        2 => SeriesLabelPosition::LowerLeft,
        3 => SeriesLabelPosition::LowerRight,
        _ => SeriesLabelPosition::UpperLeft,
    }
}

/// The runs of non-NaN points.
fn segments(points: &[(i64, f64)]) -> Vec<&[(i64, f64)]> {
    points
        .split(|p| !p.1.is_finite())
        .filter(|s| !s.is_empty())
        .collect()
}

/// A legend sample of a pen: a short line with the pen's dashes.
fn legend_line(x: i32, y: i32, pen: Pen) -> DashedPathElement<std::vec::IntoIter<(i32, i32)>, i32> {
    let style = ShapeStyle::from(&pen.colour).stroke_width(pen.width.max(2));
    let (dash, gap) = match pen.dash {
        Dash::Solid => (22, 0),
        Dash::Dashed => (7, 3),
        Dash::Dotted => (2, 3),
    };
    DashedPathElement::new(vec![(x, y), (x + 22, y)], dash, gap, style)
}

/// A marker's outline in pixels around (x, y).
fn marker_points(shape: Shape, x: i32, y: i32) -> Vec<(i32, i32)> {
    let offsets: Vec<(i32, i32)> = match shape {
        Shape::Up => vec![(-6, 5), (6, 5), (0, -7)],
        Shape::Down => vec![(-6, -5), (6, -5), (0, 7)],
        Shape::Square => vec![(-5, -5), (5, -5), (5, 5), (-5, 5)],
        Shape::Diamond => vec![(0, -7), (6, 0), (0, 7), (-6, 0)],
        Shape::Circle => (0..12)
            .map(|k| {
                let a = k as f64 * std::f64::consts::PI / 6.0;
                (
                    (7.0 * a.cos()).round() as i32,
                    (7.0 * a.sin()).round() as i32,
                )
            })
            .collect(),
        // an × of width 4
        Shape::Cross => vec![
            (-6, -4),
            (-4, -6),
            (0, -2),
            (4, -6),
            (6, -4),
            (2, 0),
            (6, 4),
            (4, 6),
            (0, 2),
            (-4, 6),
            (-6, 4),
            (-2, 0),
        ],
    };
    offsets
        .into_iter()
        .map(|(dx, dy)| (x + dx, y + dy))
        .collect()
}

/// Draws one marker at pixel (x, y): filled, with a black edge so it shows on any line.
fn draw_marker<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (x, y): (i32, i32),
    shape: Shape,
    colour: RGBColor,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let points = marker_points(shape, x, y);
    area.draw(&Polygon::new(points.clone(), colour.filled()))?;
    let mut edge = points;
    edge.push(edge[0]);
    area.draw(&PathElement::new(
        edge,
        ShapeStyle::from(&BLACK).stroke_width(1),
    ))
}

/// An x tick: a date (with the time when the chart spans under 3 days), or days.
pub fn format_x(ms: i64, span_ms: i64, format: XFormat) -> String {
    match format {
        XFormat::Days => format!("{:.0}", ms as f64 / 86_400_000.0),
        XFormat::Date => {
            let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else {
                return String::new();
            };
            if span_ms < 3 * 86_400_000 {
                t.format("%m-%d %H:%M").to_string()
            } else {
                t.format("%Y-%m-%d").to_string()
            }
        }
    }
}

/// A y tick.
pub fn format_y(v: f64, format: YFormat) -> String {
    match format {
        YFormat::Percent => format!("{} %", trim(v * 100.0)),
        YFormat::Times => format!("{}x", trim(v)),
        YFormat::Number => short_number(v),
    }
}

/// 12500 → "12.5k", 0.25 → "0.25", 3 → "3".
pub fn short_number(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{}G", trim(v / 1e9))
    } else if a >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if a >= 1e4 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

/// At most 3 significant decimals, no trailing zeros, no "−0".
fn trim(v: f64) -> String {
    let digits = if v.abs() >= 100.0 {
        0
    } else if v.abs() >= 10.0 {
        1
    } else if v.abs() >= 1.0 {
        2
    } else {
        3
    };
    let s = format!("{v:.digits$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" { "0".into() } else { s }
}

/// A grid of cells coloured by value and annotated with their text.
pub struct Heatmap {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_ticks: Vec<String>,
    pub y_ticks: Vec<String>,
    /// `values[row][column]`; row 0 at the bottom; NaN: no data
    pub values: Vec<Vec<f64>>,
    pub texts: Vec<Vec<String>>,
    /// colour scale from the data's lowest to its highest; `reverse` when low is good
    /// (drawdown, probabilities)
    pub reverse: bool,
}

/// Draws `map` and returns the PNG bytes.
pub fn heatmap(map: &Heatmap, size: (u32, u32)) -> Result<Vec<u8>, ChartError> {
    render(&map.title, size, |root| draw_heatmap(root, map))
}

fn draw_heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    map: &Heatmap,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let (nx, ny) = (map.x_ticks.len().max(1), map.y_ticks.len().max(1));
    let (lo, hi) = map
        .values
        .iter()
        .flatten()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        });
    let mut ctx = ChartBuilder::on(root)
        .caption(&map.title, (FONT, 18, FontStyle::Bold))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(90)
        .build_cartesian_2d(0f64..nx as f64, 0f64..ny as f64)
        .map_err(e)?;
    let xt = map.x_ticks.clone();
    let yt = map.y_ticks.clone();
    let x_fmt = move |v: &f64| tick_name(&xt, *v);
    let y_fmt = move |v: &f64| tick_name(&yt, *v);
    ctx.configure_mesh()
        .disable_mesh()
        .x_desc(&map.x_label)
        .y_desc(&map.y_label)
        .x_labels(2 * nx + 1)
        .y_labels(2 * ny + 1)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()
        .map_err(e)?;
    for (r, row) in map.values.iter().enumerate() {
        for (c, &v) in row.iter().enumerate() {
            let (x0, y0) = (c as f64, r as f64);
            let colour = if v.is_finite() {
                let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
                viridis(if map.reverse { 1.0 - t } else { t })
            } else {
                RGBColor(235, 235, 235)
            };
            ctx.draw_series(std::iter::once(Rectangle::new(
                [(x0, y0), (x0 + 1.0, y0 + 1.0)],
                colour.filled(),
            )))
            .map_err(e)?;
            ctx.draw_series(std::iter::once(Rectangle::new(
                [(x0, y0), (x0 + 1.0, y0 + 1.0)],
                ShapeStyle::from(&WHITE).stroke_width(2),
            )))
            .map_err(e)?;
            let text = map
                .texts
                .get(r)
                .and_then(|t| t.get(c))
                .cloned()
                .unwrap_or_default();
            let ink = if luminance(colour) > 0.5 {
                BLACK
            } else {
                WHITE
            };
            let style = TextStyle::from((FONT, 14, FontStyle::Bold).into_font())
                .color(&ink)
                .pos(plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Center,
                ));
            ctx.draw_series(std::iter::once(Text::new(
                text,
                (x0 + 0.5, y0 + 0.5),
                style,
            )))
            .map_err(e)?;
        }
    }
    Ok(())
}

/// The tick name at a cell's centre (x.5), nothing elsewhere.
fn tick_name(names: &[String], v: f64) -> String {
    let i = v - 0.5;
    if (i - i.round()).abs() < 1e-6 && i >= 0.0 {
        names.get(i.round() as usize).cloned().unwrap_or_default()
    } else {
        String::new()
    }
}

/// Viridis at t ∈ [0, 1]: its lightness rises steadily, so it reads in grey-scale too.
pub fn viridis(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 6] = [
        (68.0, 1.0, 84.0),
        (65.0, 68.0, 135.0),
        (42.0, 120.0, 142.0),
        (34.0, 168.0, 132.0),
        (122.0, 209.0, 81.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let mix = |a: f64, b: f64| (a + (b - a) * f).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn luminance(c: RGBColor) -> f64 {
    (0.299 * c.0 as f64 + 0.587 * c.1 as f64 + 0.114 * c.2 as f64) / 255.0
}

/// Vertical bars, one per named category.
pub struct BarChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub names: Vec<String>,
    pub values: Vec<f64>,
    /// bars drawn in the accent colour (e.g. those that break a constraint)
    pub accent: Vec<bool>,
}

/// Draws `bars` and returns the PNG bytes.
pub fn bar_chart(bars: &BarChart, size: (u32, u32)) -> Result<Vec<u8>, ChartError> {
    render(&bars.title, size, |root| draw_bars(root, bars))
}

fn draw_bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    bars: &BarChart,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let n = bars.names.len().max(1);
    let top = bars
        .values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let top = if top > 0.0 { top * 1.12 } else { 1.0 };
    let mut ctx = ChartBuilder::on(root)
        .caption(&bars.title, (FONT, 18, FontStyle::Bold))
        .margin(12)
        .x_label_area_size(60)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..n as f64, 0f64..top)
        .map_err(e)?;
    let names = bars.names.clone();
    let x_fmt = move |v: &f64| tick_name(&names, *v);
    let every = n.div_ceil(30);
    let x_labels = if every > 1 { 0 } else { 2 * n + 1 };
    ctx.configure_mesh()
        .disable_x_mesh()
        .x_desc(&bars.x_label)
        .y_desc(&bars.y_label)
        .x_labels(x_labels)
        .x_label_formatter(&x_fmt)
        // counts: whole numbers only
        .y_label_formatter(&|v: &f64| {
            if v.fract() == 0.0 {
                short_number(*v)
            } else {
                String::new()
            }
        })
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 14))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(e)?;
    for (i, &v) in bars.values.iter().enumerate() {
        if !v.is_finite() {
            continue;
        }
        let accent = bars.accent.get(i).copied().unwrap_or(false);
        let colour = if accent { RED } else { BLUE };
        let x0 = i as f64 + 0.15;
        ctx.draw_series(std::iter::once(Rectangle::new(
            [(x0, 0.0), (x0 + 0.7, v)],
            colour.filled(),
        )))
        .map_err(e)?;
        if accent {
            // hatch the accent bars so they differ in grey-scale too
            ctx.draw_series(std::iter::once(Rectangle::new(
                [(x0, 0.0), (x0 + 0.7, v)],
                ShapeStyle::from(&BLACK).stroke_width(2),
            )))
            .map_err(e)?;
        }
        if n <= 40 && v > 0.0 {
            let style = TextStyle::from((FONT, 12).into_font()).pos(
                plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Bottom,
                ),
            );
            ctx.draw_series(std::iter::once(Text::new(
                short_number(v),
                (i as f64 + 0.5, v),
                style,
            )))
            .map_err(e)?;
        }
    }
    Ok(())
}

/// RGB buffer → PNG bytes.
fn encode(rgb: &[u8], (w, h): (u32, u32)) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(rgb.len() / 8);
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgb).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats() {
        assert_eq!(short_number(12_500.0), "12.5k");
        assert_eq!(short_number(0.25), "0.25");
        assert_eq!(short_number(3.0), "3");
        assert_eq!(short_number(-0.0001), "0");
        assert_eq!(format_y(-0.25, YFormat::Percent), "-25 %");
        assert_eq!(format_y(3.0, YFormat::Times), "3x");
        // 2024-03-01 00:00 UTC
        assert_eq!(
            format_x(1_709_251_200_000, 90 * 86_400_000, XFormat::Date),
            "2024-03-01"
        );
        assert_eq!(format_x(3 * 86_400_000, 0, XFormat::Days), "3");
    }

    #[test]
    fn viridis_gets_lighter() {
        let l: Vec<f64> = (0..=10)
            .map(|i| luminance(viridis(i as f64 / 10.0)))
            .collect();
        assert!(l.windows(2).all(|w| w[0] < w[1]), "{l:?}");
    }

    #[test]
    fn a_time_chart_is_a_png_of_its_size() {
        let mut c = TimeChart::new("test", "equity (USDT)");
        c.lines.push(Line {
            label: "a".into(),
            points: (0..100)
                .map(|i| (i * 3_600_000, 100.0 + i as f64))
                .collect(),
            pen: Pen::new(BLUE, Dash::Solid, 2),
            fill: false,
        });
        c.marks.push(Marks {
            label: "m".into(),
            points: vec![(50 * 3_600_000, 150.0)],
            shape: Shape::Circle,
            colour: RED,
        });
        let png = time_chart(&c, (400, 200)).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        // IHDR: width and height, big-endian, at bytes 16..24
        assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 400);
        assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), 200);
    }
}
