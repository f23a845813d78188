//! The server's `GET /metrics` page: fetched over raw HTTP and parsed as
//! Prometheus text exposition (format 0.0.4) into samples keyed by name
//! and labels, with the format's own rules checked on the way.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use crate::http::http_get;

/// How long one scrape may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often [`wait_for_metrics`] looks again while it waits.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Labels of one sample, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// A line of the exposition that breaks the format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for ParseError {}

/// One `name{labels} value` line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Labels,
    pub value: f64,
}

/// A histogram family read back from its `_bucket`, `_sum` and `_count`
/// samples (buckets sorted by their upper bound, `+Inf` last).
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub buckets: Vec<(f64, f64)>,
    pub sum: f64,
    pub count: f64,
}

/// One parsed exposition.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    /// Family name -> `# TYPE` (counter, gauge, histogram, ...).
    pub types: BTreeMap<String, String>,
    /// Family name -> `# HELP` text.
    pub help: BTreeMap<String, String>,
    pub samples: Vec<Sample>,
}

const METRIC_TYPES: [&str; 5] = ["counter", "gauge", "histogram", "summary", "untyped"];

impl Scrape {
    /// Parses the text format, refusing what Prometheus would refuse:
    /// malformed names, labels or values, a `# TYPE` after its family's
    /// samples or given twice, and the same series twice.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut scrape = Scrape::default();
        let mut seen_series: BTreeMap<(String, Labels), usize> = BTreeMap::new();
        for (index, raw) in text.split('\n').enumerate() {
            let line_no = index + 1;
            let error = |reason: String| ParseError {
                line: line_no,
                reason,
            };
            let line = raw.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                scrape.comment(comment).map_err(error)?;
                continue;
            }
            let sample = parse_sample(line).map_err(error)?;
            let family = scrape.family_of(&sample.name).to_owned();
            if !scrape.types.contains_key(&family) {
                // Untyped samples are legal; later TYPE lines for them are not.
                scrape.types.insert(family.clone(), "untyped".to_owned());
            }
            let key = (sample.name.clone(), sample.labels.clone());
            if let Some(first) = seen_series.insert(key, line_no) {
                return Err(error(format!(
                    "series {} {:?} already given on line {first}",
                    sample.name, sample.labels
                )));
            }
            scrape.samples.push(sample);
        }
        Ok(scrape)
    }

    fn comment(&mut self, comment: &str) -> Result<(), String> {
        let mut words = comment.trim_start().splitn(3, ' ');
        let keyword = words.next().unwrap_or("");
        if keyword != "TYPE" && keyword != "HELP" {
            return Ok(()); // an ordinary comment
        }
        let name = words.next().unwrap_or("");
        if !is_metric_name(name) {
            return Err(format!("# {keyword} names no valid metric: {name:?}"));
        }
        let rest = words.next().unwrap_or("");
        if keyword == "HELP" {
            if self.help.insert(name.to_owned(), rest.to_owned()).is_some() {
                return Err(format!("a second # HELP for {name}"));
            }
            return Ok(());
        }
        if !METRIC_TYPES.contains(&rest) {
            return Err(format!("unknown metric type {rest:?} for {name}"));
        }
        if self.types.contains_key(name) {
            return Err(format!(
                "# TYPE for {name} after its samples or a second time"
            ));
        }
        self.types.insert(name.to_owned(), rest.to_owned());
        Ok(())
    }

    /// The family a sample name belongs to: itself, or for `_bucket`,
    /// `_sum` and `_count` the histogram or summary it is part of.
    fn family_of<'a>(&self, name: &'a str) -> &'a str {
        if self.types.contains_key(name) {
            return name;
        }
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = name.strip_suffix(suffix)
                && matches!(
                    self.types.get(base).map(String::as_str),
                    Some("histogram" | "summary")
                )
            {
                return base;
            }
        }
        name
    }

    /// The value of the series `name` with exactly `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: Labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == wanted)
            .map(|s| s.value)
    }

    /// The value of the unlabelled series `name`; fails the test, showing
    /// what is there, when it is missing.
    pub fn get(&self, name: &str) -> f64 {
        self.get_labelled(name, &[])
    }

    /// Like [`Scrape::get`] for a labelled series.
    pub fn get_labelled(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels).unwrap_or_else(|| {
            let names: Vec<String> = self
                .samples
                .iter()
                .map(|s| format!("{}{:?}", s.name, s.labels))
                .collect();
            panic!("/metrics has no series {name}{labels:?}; it has {names:?}")
        })
    }

    /// The declared type of a family.
    pub fn kind(&self, family: &str) -> Option<&str> {
        self.types.get(family).map(String::as_str)
    }

    /// Reads the histogram `family`, checking what makes it one: declared
    /// `histogram`, buckets with distinct `le` bounds ending at `+Inf`,
    /// cumulative counts, and `+Inf` equal to `_count`.
    pub fn histogram(&self, family: &str) -> Histogram {
        assert_eq!(
            self.kind(family),
            Some("histogram"),
            "{family} is not declared a histogram"
        );
        let bucket_name = format!("{family}_bucket");
        let mut buckets: Vec<(f64, f64)> = self
            .samples
            .iter()
            .filter(|s| s.name == bucket_name)
            .map(|s| {
                let le = s
                    .labels
                    .get("le")
                    .unwrap_or_else(|| panic!("{bucket_name} without an le label: {s:?}"));
                assert_eq!(s.labels.len(), 1, "unexpected labels on {s:?}");
                (parse_value(le).expect("le is a number"), s.value)
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(
            buckets.windows(2).all(|w| w[0].0 < w[1].0),
            "{family}: two buckets share a bound: {buckets:?}"
        );
        assert!(
            buckets.windows(2).all(|w| w[0].1 <= w[1].1),
            "{family}: bucket counts are not cumulative: {buckets:?}"
        );
        let last = buckets
            .last()
            .copied()
            .unwrap_or_else(|| panic!("{family} has no buckets"));
        assert_eq!(last.0, f64::INFINITY, "{family}: no +Inf bucket");
        let histogram = Histogram {
            buckets,
            sum: self.get(&format!("{family}_sum")),
            count: self.get(&format!("{family}_count")),
        };
        assert_eq!(
            last.1, histogram.count,
            "{family}: the +Inf bucket differs from _count"
        );
        histogram
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A sample value: a float, or `+Inf`, `-Inf`, `NaN`.
fn parse_value(raw: &str) -> Result<f64, String> {
    match raw {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => raw
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("{raw:?} is not a sample value")),
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err(format!("invalid metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Labels::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        let (parsed, after) = parse_labels(after_brace)?;
        labels = parsed;
        rest = after;
    }
    let mut fields = rest.split(' ').filter(|f| !f.is_empty());
    let value = parse_value(fields.next().ok_or("a sample without a value")?)?;
    if let Some(timestamp) = fields.next() {
        timestamp
            .parse::<i64>()
            .map_err(|_| format!("{timestamp:?} is not a timestamp"))?;
    }
    if let Some(extra) = fields.next() {
        return Err(format!("unexpected {extra:?} after the value"));
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// Parses `name="value",...}` and returns the labels and what follows `}`.
fn parse_labels(mut rest: &str) -> Result<(Labels, &str), String> {
    let mut labels = Labels::new();
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let (name, after_name) = rest
            .split_once('=')
            .ok_or_else(|| format!("a label without `=` in {rest:?}"))?;
        let name = name.trim();
        if !is_label_name(name) {
            return Err(format!("invalid label name {name:?}"));
        }
        let quoted = after_name
            .strip_prefix('"')
            .ok_or_else(|| format!("label {name} has no quoted value"))?;
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(format!("label {name}'s value is not closed")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("bad escape {other:?} in label {name}")),
                },
                Some((_, c)) => value.push(c),
            }
        };
        if labels.insert(name.to_owned(), value).is_some() {
            return Err(format!("label {name} given twice"));
        }
        rest = &quoted[end + 1..];
        rest = rest.trim_start();
        if let Some(after_comma) = rest.strip_prefix(',') {
            rest = after_comma;
        } else if !rest.starts_with('}') {
            return Err(format!("expected `,` or `}}` in {rest:?}"));
        }
    }
}

/// Fetches `GET /metrics` and parses it, failing the test if the answer is
/// not a 200 with Prometheus text.
pub async fn scrape(addr: SocketAddr) -> Scrape {
    let response = http_get(addr, "/metrics", SCRAPE_TIMEOUT).await;
    assert_eq!(response.status, 200, "GET /metrics: {}", response.raw);
    let head = response
        .raw
        .split_once("\r\n\r\n")
        .map_or("", |(head, _)| head);
    let content_type = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("content-type")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain"),
        "/metrics is served as {content_type:?}"
    );
    Scrape::parse(response.body()).unwrap_or_else(|e| {
        panic!(
            "/metrics is not valid Prometheus text ({e}):\n{}",
            response.body()
        )
    })
}

/// Scrapes until `ready` holds, at most for `limit`: for gauges the server
/// updates once a closed connection's task has finished.
pub async fn wait_for_metrics(
    addr: SocketAddr,
    limit: Duration,
    awaiting: &str,
    ready: impl Fn(&Scrape) -> bool,
) -> Scrape {
    let deadline = Instant::now() + limit;
    let mut ticks = tokio::time::interval(POLL_INTERVAL);
    loop {
        ticks.tick().await;
        let scraped = scrape(addr).await;
        if ready(&scraped) {
            return scraped;
        }
        assert!(
            Instant::now() < deadline,
            "/metrics did not show {awaiting} within {limit:?}; last scrape: {:?}",
            scraped.samples
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "# HELP up Whether it is up.\n# TYPE up gauge\nup 1\n\
        # TYPE req histogram\nreq_bucket{le=\"0.5\"} 2\nreq_bucket{le=\"+Inf\"} 3\n\
        req_sum 1.25\nreq_count 3\n\
        # a comment\nsessions{kind=\"guest\",note=\"a \\\"q\\\" \\\\ \\n\"} 4 1700000000000\n";

    #[test]
    fn parses_samples_labels_types_and_histograms() {
        let scrape = Scrape::parse(EXAMPLE).unwrap();
        assert_eq!(scrape.get("up"), 1.0);
        assert_eq!(scrape.kind("up"), Some("gauge"));
        assert_eq!(
            scrape.help.get("up").map(String::as_str),
            Some("Whether it is up.")
        );
        assert_eq!(
            scrape.value("sessions", &[("kind", "guest"), ("note", "a \"q\" \\ \n")]),
            Some(4.0)
        );
        assert_eq!(scrape.value("sessions", &[("kind", "guest")]), None);
        assert_eq!(scrape.kind("sessions"), Some("untyped"));
        let req = scrape.histogram("req");
        assert_eq!(req.buckets, vec![(0.5, 2.0), (f64::INFINITY, 3.0)]);
        assert_eq!((req.sum, req.count), (1.25, 3.0));
    }

    #[test]
    fn refuses_what_prometheus_refuses() {
        for (bad, line) in [
            ("9lives 1\n", 1),
            ("up one\n", 1),
            ("up\n", 1),
            ("up{kind=guest} 1\n", 1),
            ("up{kind=\"guest} 1\n", 1),
            ("up{kind=\"a\",kind=\"b\"} 1\n", 1),
            ("up 1\nup 2\n", 2),
            ("up 1\n# TYPE up gauge\n", 2),
            ("# TYPE up sometimes\n", 1),
            ("# TYPE up gauge\n# TYPE up gauge\n", 2),
            ("up 1 2 3\n", 1),
        ] {
            let error = Scrape::parse(bad).expect_err(bad);
            assert_eq!(error.line, line, "{bad:?}: {error}");
        }
    }

    #[test]
    #[should_panic(expected = "not cumulative")]
    fn a_histogram_must_be_cumulative() {
        let text = "# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n";
        Scrape::parse(text).unwrap().histogram("h");
    }
}
