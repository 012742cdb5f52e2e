//! Small bar charts drawn server-side as SVG: counts per minute over the last hour. Only
//! presentation attributes (no inline `style`), so the strict CSP needs no exception.

use maud::{Markup, html};

pub const MINUTES: usize = 60;

/// `counts` of (minute since the epoch, n) → one bucket per minute ending at `now_minute`.
pub fn buckets(counts: &[(i64, i64)], now_minute: i64) -> Vec<i64> {
    let first = now_minute - (MINUTES as i64 - 1);
    let mut out = vec![0; MINUTES];
    for &(minute, n) in counts {
        if (first..=now_minute).contains(&minute) {
            out[(minute - first) as usize] += n;
        }
    }
    out
}

pub fn bars(title: &str, values: &[i64]) -> Markup {
    const W: i64 = 300;
    const H: i64 = 60;
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let total: i64 = values.iter().sum();
    let bar = W / values.len().max(1) as i64;
    html! {
        figure.chart {
            figcaption { (title) ": " strong { (total) } " in the last hour" }
            svg viewBox=(format!("0 0 {W} {H}")) width="100%" height="60" role="img"
                aria-label=(format!("{title} per minute, last hour")) {
                line x1="0" y1=(H - 1) x2=(W) y2=(H - 1) stroke="#bbb" stroke-width="1" {}
                @for (i, v) in values.iter().enumerate() {
                    @if *v > 0 {
                        @let h = (v * (H - 4) / max).max(2);
                        rect x=(i as i64 * bar) y=(H - 1 - h) width=((bar - 1).max(1)) height=(h)
                            fill="#2a6fdb" {
                            title { (v) }
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

    #[test]
    fn counts_land_in_their_minute_and_older_ones_are_dropped() {
        let b = buckets(&[(100, 3), (159, 2), (40, 9), (160, 1)], 159);
        assert_eq!(b.len(), MINUTES);
        assert_eq!(b[0], 3);
        assert_eq!(b[59], 2);
        assert_eq!(b.iter().sum::<i64>(), 5);
    }
}
