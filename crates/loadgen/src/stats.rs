//! Latency/outcome recording and summary formatting.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::Error;

/// Highest trackable latency: 10 minutes, in microseconds (larger values are clamped).
const MAX_TRACKABLE_US: u64 = 600_000_000;

/// Per-worker recorder; merged at the end so the hot path takes no locks.
#[derive(Debug, Clone)]
pub struct Recorder {
    hist: Histogram<u64>,
    ok: u64,
    errors: BTreeMap<String, u64>,
}

impl Recorder {
    pub fn new() -> Result<Self, Error> {
        let hist = Histogram::new_with_bounds(1, MAX_TRACKABLE_US, 3)
            .map_err(|e| Error::Histogram(e.to_string()))?;
        Ok(Self {
            hist,
            ok: 0,
            errors: BTreeMap::new(),
        })
    }

    fn record_latency(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.hist.saturating_record(us);
    }

    pub fn record_ok(&mut self, latency: Duration) {
        self.record_latency(latency);
        self.ok += 1;
    }

    /// Record a failed request under `key` (an HTTP status such as `"409"`, or a
    /// transport class such as `"timeout"`). Latency is recorded for failures too.
    pub fn record_err(&mut self, latency: Duration, key: &str) {
        self.record_latency(latency);
        *self.errors.entry(key.to_owned()).or_insert(0) += 1;
    }

    pub fn merge(&mut self, other: &Recorder) -> Result<(), Error> {
        self.hist
            .add(&other.hist)
            .map_err(|e| Error::Histogram(e.to_string()))?;
        self.ok += other.ok;
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_insert(0) += v;
        }
        Ok(())
    }

    pub fn ok(&self) -> u64 {
        self.ok
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn latency(&self) -> Latency {
        let h = &self.hist;
        if h.is_empty() {
            return Latency::default();
        }
        let ms = |us: u64| round3(us as f64 / 1000.0);
        Latency {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
            mean: round3(h.mean() / 1000.0),
        }
    }

    /// Build the final summary for a scenario.
    pub fn summarize(&self, meta: SummaryMeta) -> Summary {
        let requests = self.ok + self.error_count();
        let secs = meta.wall.as_secs_f64();
        let throughput = if secs > 0.0 {
            requests as f64 / secs
        } else {
            0.0
        };
        Summary {
            scenario: meta.scenario,
            concurrency: meta.concurrency,
            requests,
            ok: self.ok,
            errors: self.error_count(),
            errors_by_status: self.errors.clone(),
            error_samples: meta.error_samples,
            wall_secs: round3(secs),
            throughput_rps: round1(throughput),
            latency_ms: self.latency(),
            stopped_early: meta.stopped_early,
            page: None,
        }
    }
}

/// Inputs to [`Recorder::summarize`] that the recorder doesn't know itself.
#[derive(Debug, Clone, Default)]
pub struct SummaryMeta {
    pub scenario: String,
    pub concurrency: usize,
    pub wall: Duration,
    pub error_samples: Vec<String>,
    pub stopped_early: bool,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Latency percentiles in milliseconds (microsecond precision).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

/// Extra results of the `page` scenario.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PageInfo {
    pub page_size: u64,
    pub pages: u64,
    pub resources_seen: u64,
    pub unique_ids: u64,
    /// `totalResults` reported by the last page (or the first, if it was the only one).
    pub total_results: u64,
}

/// Result of one scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub concurrency: usize,
    pub requests: u64,
    pub ok: u64,
    pub errors: u64,
    pub errors_by_status: BTreeMap<String, u64>,
    /// The first few error bodies (truncated), as `"<status>: <body>"`.
    pub error_samples: Vec<String>,
    pub wall_secs: f64,
    pub throughput_rps: f64,
    pub latency_ms: Latency,
    /// True when `--duration-secs` ended the scenario before all requests were sent.
    pub stopped_early: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<PageInfo>,
}

/// Server memory read from `/proc/<pid>/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServerMem {
    pub pid: u32,
    pub vm_rss_kb: Option<u64>,
    pub vm_hwm_kb: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Everything a run produced; `--json` prints this as one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub scenarios: Vec<Summary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerMem>,
}

impl Report {
    pub fn total_errors(&self) -> u64 {
        self.scenarios.iter().map(|s| s.errors).sum()
    }

    /// Human-readable rendering: one table row per scenario, then details.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        out.push_str(&render_table(&self.scenarios));
        for s in &self.scenarios {
            out.push_str(&render_details(s));
        }
        if let Some(mem) = &self.server {
            out.push_str(&render_mem(mem));
        }
        out
    }
}

/// A fixed-width table, one row per scenario.
pub fn render_table(rows: &[Summary]) -> String {
    let header = [
        "scenario", "conc", "sent", "ok", "errors", "wall s", "req/s", "p50 ms", "p90 ms",
        "p99 ms", "max ms",
    ];
    let cells: Vec<[String; 11]> = rows
        .iter()
        .map(|s| {
            [
                if s.stopped_early {
                    format!("{}*", s.scenario)
                } else {
                    s.scenario.clone()
                },
                s.concurrency.to_string(),
                s.requests.to_string(),
                s.ok.to_string(),
                s.errors.to_string(),
                format!("{:.3}", s.wall_secs),
                format!("{:.1}", s.throughput_rps),
                format!("{:.3}", s.latency_ms.p50),
                format!("{:.3}", s.latency_ms.p90),
                format!("{:.3}", s.latency_ms.p99),
                format!("{:.3}", s.latency_ms.max),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = String::new();
    let mut line = |cols: Vec<&str>| {
        let parts: Vec<String> = cols
            .iter()
            .zip(widths.iter())
            .enumerate()
            .map(|(i, (c, w))| {
                if i == 0 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in &cells {
        line(row.iter().map(String::as_str).collect());
    }
    if rows.iter().any(|s| s.stopped_early) {
        out.push_str("* stopped early by --duration-secs\n");
    }
    out
}

/// Per-scenario detail lines: error breakdown, error samples, paging results.
pub fn render_details(s: &Summary) -> String {
    let mut out = String::new();
    if s.errors > 0 {
        let by: Vec<String> = s
            .errors_by_status
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let _ = writeln!(out, "[{}] errors by status: {}", s.scenario, by.join(", "));
        for sample in &s.error_samples {
            let _ = writeln!(out, "[{}]   {sample}", s.scenario);
        }
    }
    if let Some(p) = &s.page {
        let verdict = if s.errors > 0 || s.stopped_early {
            "INCOMPLETE"
        } else if p.resources_seen == p.total_results && p.unique_ids == p.total_results {
            "OK"
        } else {
            "MISMATCH"
        };
        let _ = writeln!(
            out,
            "[{}] page size {}: {} pages, {} resources seen ({} unique) vs totalResults {} -> {}",
            s.scenario,
            p.page_size,
            p.pages,
            p.resources_seen,
            p.unique_ids,
            p.total_results,
            verdict
        );
    }
    out
}

fn render_mem(mem: &ServerMem) -> String {
    let fmt = |kb: Option<u64>| match kb {
        Some(kb) => format!("{kb} kB ({:.1} MB)", kb as f64 / 1024.0),
        None => "n/a".to_owned(),
    };
    match &mem.error {
        Some(e) => format!("server pid {}: {e}\n", mem.pid),
        None => format!(
            "server pid {}: VmRSS {}, VmHWM {}\n",
            mem.pid,
            fmt(mem.vm_rss_kb),
            fmt(mem.vm_hwm_kb)
        ),
    }
}

/// Parse `VmRSS` / `VmHWM` (kB) out of the text of `/proc/<pid>/status`.
pub fn parse_proc_status(text: &str) -> (Option<u64>, Option<u64>) {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
            .and_then(|n| n.parse().ok())
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Read the server's memory usage from `/proc/<pid>/status`.
pub fn read_server_mem(pid: u32) -> ServerMem {
    let path = format!("/proc/{pid}/status");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let (vm_rss_kb, vm_hwm_kb) = parse_proc_status(&text);
            ServerMem {
                pid,
                vm_rss_kb,
                vm_hwm_kb,
                error: None,
            }
        }
        Err(e) => ServerMem {
            pid,
            error: Some(format!("cannot read {path}: {e}")),
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn percentiles_and_merge() {
        let mut a = Recorder::new().unwrap();
        let mut b = Recorder::new().unwrap();
        for i in 1..=50 {
            a.record_ok(ms(i));
        }
        for i in 51..=99 {
            b.record_ok(ms(i));
        }
        b.record_err(ms(1000), "500");
        a.merge(&b).unwrap();
        assert_eq!(a.ok(), 99);
        assert_eq!(a.error_count(), 1);
        let l = a.latency();
        // hdrhistogram with 3 significant digits: within 0.1 %.
        assert!((l.p50 - 50.0).abs() < 0.1, "{l:?}");
        assert!((l.p90 - 90.0).abs() < 0.1, "{l:?}");
        assert!((l.p99 - 99.0).abs() < 0.1, "{l:?}");
        assert!((l.max - 1000.0).abs() < 1.0, "{l:?}");
    }

    #[test]
    fn microsecond_precision_and_clamping() {
        let mut r = Recorder::new().unwrap();
        r.record_ok(Duration::from_micros(1234));
        assert_eq!(r.latency().p50, 1.234);
        r.record_ok(Duration::from_secs(3600)); // clamped, not an error
        assert_eq!(r.ok(), 2);
        assert_eq!(Recorder::new().unwrap().latency(), Latency::default());
    }

    fn sample_summary() -> Summary {
        let mut r = Recorder::new().unwrap();
        for _ in 0..8 {
            r.record_ok(ms(2));
        }
        r.record_err(ms(3), "409");
        r.record_err(ms(3), "timeout");
        r.summarize(SummaryMeta {
            scenario: "create".into(),
            concurrency: 4,
            wall: ms(500),
            error_samples: vec!["409: {\"detail\":\"uniqueness\"}".into()],
            stopped_early: false,
        })
    }

    #[test]
    fn summary_numbers() {
        let s = sample_summary();
        assert_eq!(s.requests, 10);
        assert_eq!(s.ok, 8);
        assert_eq!(s.errors, 2);
        assert_eq!(s.errors_by_status.get("409"), Some(&1));
        assert_eq!(s.errors_by_status.get("timeout"), Some(&1));
        assert_eq!(s.wall_secs, 0.5);
        assert_eq!(s.throughput_rps, 20.0);
        assert_eq!(s.latency_ms.p50, 2.0);
        assert!((s.latency_ms.max - 3.0).abs() < 0.01, "{:?}", s.latency_ms);
    }

    #[test]
    fn text_rendering() {
        let mut s = sample_summary();
        let mut p = s.clone();
        p.scenario = "page".into();
        p.errors = 0;
        p.errors_by_status.clear();
        p.error_samples.clear();
        s.stopped_early = true;
        p.page = Some(PageInfo {
            page_size: 100,
            pages: 3,
            resources_seen: 250,
            unique_ids: 250,
            total_results: 250,
        });
        s.latency_ms.p99 = 12.5;
        let report = Report {
            url: "http://x".into(),
            run_id: Some("r".into()),
            scenarios: vec![s, p],
            server: Some(ServerMem {
                pid: 7,
                vm_rss_kb: Some(20480),
                vm_hwm_kb: Some(30720),
                error: None,
            }),
        };
        let text = report.render_text();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("scenario  conc  sent  ok  errors"),
            "{text}"
        );
        assert!(lines[0].ends_with("max ms"), "{text}");
        assert!(lines[1].starts_with("create* "), "{text}");
        assert!(lines[1].contains(" 20.0 "), "{text}");
        assert!(lines[1].contains(" 12.500 "), "{text}");
        assert!(lines[2].starts_with("page "), "{text}");
        // Columns line up: every table row has the same width as the header.
        assert_eq!(lines[0].len(), lines[1].len(), "{text}");
        assert!(
            text.contains("* stopped early by --duration-secs"),
            "{text}"
        );
        assert!(
            text.contains("[create] errors by status: 409: 1, timeout: 1"),
            "{text}"
        );
        assert!(
            text.contains("[create]   409: {\"detail\":\"uniqueness\"}"),
            "{text}"
        );
        assert!(
            text.contains("250 resources seen (250 unique) vs totalResults 250 -> OK"),
            "{text}"
        );
        assert!(text.contains("server pid 7: VmRSS 20480 kB (20.0 MB), VmHWM 30720 kB (30.0 MB)"));
        assert!(!text.contains("[page] errors"), "{text}");
        assert_eq!(report.total_errors(), 2);
    }

    #[test]
    fn incomplete_paging_is_flagged() {
        let mut s = sample_summary();
        s.scenario = "page".into();
        s.page = Some(PageInfo {
            page_size: 10,
            pages: 1,
            resources_seen: 10,
            ..Default::default()
        });
        let text = render_details(&s);
        assert!(
            text.contains("10 resources seen (0 unique) vs totalResults 0 -> INCOMPLETE"),
            "{text}"
        );
        s.errors = 0;
        assert!(render_details(&s).ends_with("-> MISMATCH\n"));
    }

    #[test]
    fn json_rendering() {
        let report = Report {
            url: "http://x".into(),
            run_id: None,
            scenarios: vec![sample_summary()],
            server: None,
        };
        let v = serde_json::to_value(&report).unwrap();
        assert_eq!(v["scenarios"][0]["scenario"], "create");
        assert_eq!(v["scenarios"][0]["errors_by_status"]["409"], 1);
        assert_eq!(v["scenarios"][0]["latency_ms"]["p50"], 2.0);
        assert!(v.get("server").is_none());
        assert!(v["scenarios"][0].get("page").is_none());
    }

    #[test]
    fn proc_status_parsing() {
        let text =
            "Name:\tscimbridge\nVmPeak:\t  999 kB\nVmHWM:\t   40960 kB\nVmRSS:\t   35000 kB\n";
        assert_eq!(parse_proc_status(text), (Some(35000), Some(40960)));
        assert_eq!(parse_proc_status("Name: x\n"), (None, None));
        let own = read_server_mem(std::process::id());
        assert!(own.error.is_none());
        assert!(own.vm_rss_kb.unwrap_or(0) > 0);
        assert!(read_server_mem(u32::MAX).error.is_some());
    }
}
