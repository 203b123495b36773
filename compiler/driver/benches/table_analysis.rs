//! How long `covenant check` takes on large generated tables, analysis included.
//!
//! Run with `cargo bench -p covenant-driver --bench table_analysis`. It prints the median of
//! several runs for each table size; speed is measured here, never asserted in tests.

use std::fmt::Write;
use std::time::{Duration, Instant};

/// A `hit unique` table keyed by a cluster number, a service and a band of hours, with
/// `clusters × 4 × 10` rows and no overlaps (so the analysis must visit every row).
fn generate(clusters: usize) -> String {
    let mut text = String::from("enum Service { Floating, Outreach, Crisis, Recovery }\n");
    text.push_str("table rate(cluster: Int, service: Service, hours: Decimal) -> Money per hour hit unique {\n");
    for cluster in 0..clusters {
        for service in ["Floating", "Outreach", "Crisis", "Recovery"] {
            for band in 0..10 {
                let (low, high) = (band * 10, band * 10 + 10);
                let _ = writeln!(text, "  {cluster}, {service}, {low} to under {high} => £{cluster}.{band}0 per hour");
            }
        }
    }
    text.push_str("  otherwise => £0.00 per hour\n}\n");
    text
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn main() {
    println!("{:>8} {:>12} {:>14}", "rows", "median", "per row");
    for clusters in [1usize, 12, 125, 250] {
        let text = generate(clusters);
        let rows = clusters * 40;
        let mut runs = Vec::new();
        for _ in 0..7 {
            let start = Instant::now();
            let compilation = covenant_driver::compile_text("bench.cov", &text);
            runs.push(start.elapsed());
            assert!(!compilation.has_errors(), "the generated table must compile");
        }
        let m = median(runs);
        println!("{rows:>8} {:>10.1}ms {:>12.2}µs", m.as_secs_f64() * 1e3, m.as_secs_f64() * 1e6 / rows as f64);
    }
}
