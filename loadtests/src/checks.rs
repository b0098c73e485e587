//! The limits a run must stay within, judged on goose's metrics.

use goose::metrics::GooseMetrics;

pub(crate) struct Limits {
    pub max_error_rate: Option<f64>,
    pub max_p99_ms: Option<u64>,
}

pub struct Verdict {
    pub passed: bool,
    pub lines: Vec<String>,
}

impl Limits {
    pub fn judge(&self, metrics: &GooseMetrics) -> Verdict {
        let mut lines = Vec::new();
        let mut passed = true;
        let (failed, total) = metrics
            .requests
            .values()
            .fold((0usize, 0usize), |(f, t), r| (f + r.fail_count, t + r.fail_count + r.success_count));
        let error_rate = if total == 0 { 1.0 } else { failed as f64 / total as f64 };
        lines.push(format!("requests: {total}, failed: {failed} ({:.3}%)", error_rate * 100.0));
        if total == 0 {
            passed = false;
            lines.push("FAIL: no requests were made".into());
        }
        if let Some(limit) = self.max_error_rate
            && error_rate > limit
        {
            passed = false;
            lines.push(format!("FAIL: error rate {:.3}% is over {:.3}%", error_rate * 100.0, limit * 100.0));
        }
        let mut names: Vec<&String> = metrics.requests.keys().collect();
        names.sort();
        for name in names {
            let request = &metrics.requests[name];
            let p50 = request.raw_data.percentile_us(0.5) as f64 / 1000.0;
            let p99 = request.raw_data.percentile_us(0.99) as f64 / 1000.0;
            lines.push(format!("{name}: {} requests, p50 {p50:.2} ms, p99 {p99:.2} ms", request.raw_data.counter));
            if let Some(limit) = self.max_p99_ms
                && p99 > limit as f64
            {
                passed = false;
                lines.push(format!("FAIL: {name} p99 {p99:.2} ms is over {limit} ms"));
            }
        }
        lines.push(if passed { "PASS".into() } else { "FAIL".into() });
        Verdict { passed, lines }
    }
}
