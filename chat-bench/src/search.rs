//! The `search` mode: one guest fills a room with `seed` messages made of
//! words from a fixed vocabulary (through the server, so its index is
//! built as in use), then asks `search` over and over, one at a time, and
//! reports the answers' latency and how many messages they found.

use std::time::{Duration, Instant};

use chat_proto::{ClientFrame, ServerFrame, encode};
use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::client::{self, Endpoint, SetupError, Ws};
use crate::stats::LatencySummary;

/// The words seeded messages are made of; each message holds three.
const VOCABULARY: [&str; 32] = [
    "release", "notes", "storage", "engine", "latency", "budget", "deploy", "rollback", "meeting",
    "agenda", "lunch", "coffee", "review", "patch", "kernel", "socket", "index", "query",
    "cluster", "replica", "backup", "restore", "metrics", "alert", "ticket", "sprint", "design",
    "draft", "launch", "window", "network", "router",
];

/// What a `search` run does.
#[derive(Debug, Clone)]
pub struct SearchPlan {
    pub endpoint: Endpoint,
    pub user: String,
    pub room: String,
    /// Messages to store first (0: search what the room holds).
    pub seed: u64,
    /// Seeded messages in flight at once.
    pub window: u32,
    /// Search the one room (`room`), or every room (`false`).
    pub in_room: bool,
    pub limit: u32,
    pub duration: Duration,
}

/// What a `search` run measured.
#[derive(Debug, Clone)]
pub struct SearchReport {
    pub seeded: u64,
    pub seed_secs: f64,
    pub latency: LatencySummary,
    /// Messages in all answers, and answers cut at the limit.
    pub found: u64,
    pub cut: u64,
}

impl SearchReport {
    pub fn table(&self) -> String {
        let l = &self.latency;
        format!(
            "seeded     {} messages in {:.1} s\nsearches   {}\nfound      {} messages ({} answers cut at the limit)\nlatency us p50 {} p90 {} p99 {} max {}\n",
            self.seeded,
            self.seed_secs,
            l.count,
            self.found,
            self.cut,
            l.p50_us,
            l.p90_us,
            l.p99_us,
            l.max_us
        )
    }

    pub fn json_line(&self) -> String {
        let l = &self.latency;
        json!({
            "mode": "search",
            "seeded": self.seeded,
            "seed_secs": self.seed_secs,
            "searches": l.count,
            "found": self.found,
            "cut": self.cut,
            "p50_us": l.p50_us,
            "p90_us": l.p90_us,
            "p99_us": l.p99_us,
            "max_us": l.max_us,
        })
        .to_string()
    }
}

/// The text of seeded message `n`: three vocabulary words and its number.
pub fn seed_text(n: u64) -> String {
    let word = |k: u64| VOCABULARY[(k % VOCABULARY.len() as u64) as usize];
    format!("{} {} {} #{n}", word(n), word(n / 3 + 7), word(n / 11 + 13))
}

/// The `n`th query: one word, two words that occur together in a seeded
/// message, or a three-letter prefix.
pub fn query(n: u64) -> String {
    let word = VOCABULARY[(n % VOCABULARY.len() as u64) as usize];
    match n % 3 {
        0 => word.to_owned(),
        1 => seed_text(n)
            .split(' ')
            .take(2)
            .collect::<Vec<_>>()
            .join(" "),
        _ => word.chars().take(3).collect(),
    }
}

pub async fn run(plan: &SearchPlan) -> Result<SearchReport, SetupError> {
    let mut ws = client::connect(&plan.endpoint, &plan.user).await?;
    client::join(&mut ws, &plan.endpoint, &plan.room, Some(1)).await?;
    let started = Instant::now();
    seed(&mut ws, plan).await?;
    let seed_secs = started.elapsed().as_secs_f64();
    let mut samples = Vec::new();
    let (mut found, mut cut) = (0, 0);
    let end = Instant::now() + plan.duration;
    let mut n = 0;
    while Instant::now() < end {
        let frame = ClientFrame::Search {
            query: query(n),
            room: plan.in_room.then(|| plan.room.clone()),
            limit: Some(plan.limit),
            before: None,
            before_ts: None,
            reference: None,
        };
        let asked = Instant::now();
        ws.send(WsMessage::text(encode(&frame))).await?;
        let (messages, more) = answer(&mut ws, &plan.endpoint).await?;
        samples.push(u64::try_from(asked.elapsed().as_micros()).unwrap_or(u64::MAX));
        found += messages;
        cut += u64::from(more);
        n += 1;
    }
    // A close handshake, so the server logs a normal end.
    let _ = ws.close(None).await;
    Ok(SearchReport {
        seeded: plan.seed,
        seed_secs,
        latency: summary(&samples),
        found,
        cut,
    })
}

/// Percentiles of latencies in microseconds (exact: one run asks a few
/// thousand searches at most).
fn summary(samples: &[u64]) -> LatencySummary {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let at = |q: f64| {
        let index = ((sorted.len() as f64 * q).ceil() as usize).saturating_sub(1);
        sorted.get(index).copied().unwrap_or(0)
    };
    LatencySummary {
        count: sorted.len() as u64,
        p50_us: at(0.50),
        p90_us: at(0.90),
        p99_us: at(0.99),
        max_us: sorted.last().copied().unwrap_or(0),
    }
}

/// Stores `plan.seed` messages, `plan.window` in flight at once.
async fn seed(ws: &mut Ws, plan: &SearchPlan) -> Result<(), SetupError> {
    let (mut sent, mut acked) = (0, 0);
    while acked < plan.seed {
        while sent < plan.seed && sent - acked < u64::from(plan.window.max(1)) {
            let frame =
                ClientFrame::message(&plan.room, &seed_text(sent), Some(format!("s{sent}")));
            ws.send(WsMessage::text(encode(&frame))).await?;
            sent += 1;
        }
        match client::next_frame(ws, plan.endpoint.step_timeout, "a seeded message").await? {
            ServerFrame::Message(m) if m.reference.is_some() => acked += 1,
            ServerFrame::Error { code, message, .. } => {
                return Err(SetupError::Refused { code, message });
            }
            _ => {}
        }
    }
    Ok(())
}

/// The next `search` answer: (messages, more).
async fn answer(ws: &mut Ws, endpoint: &Endpoint) -> Result<(u64, bool), SetupError> {
    loop {
        match client::next_frame(ws, endpoint.step_timeout, "search").await? {
            ServerFrame::Search { messages, more, .. } => {
                return Ok((messages.len() as u64, more));
            }
            ServerFrame::Error { code, message, .. } => {
                return Err(SetupError::Refused { code, message });
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_of_the_samples() {
        let s = summary(&(1..=100).collect::<Vec<_>>());
        assert_eq!(
            (s.count, s.p50_us, s.p90_us, s.p99_us, s.max_us),
            (100, 50, 90, 99, 100)
        );
        assert_eq!(summary(&[]).count, 0);
    }

    #[test]
    fn seeded_texts_and_queries_use_the_vocabulary() {
        assert_eq!(seed_text(0), "release rollback patch #0");
        assert!(query(0) == "release" && query(1) == "notes rollback" && query(2) == "sto");
        // Every query finds something among the first few hundred texts.
        let texts: Vec<String> = (0..300).map(seed_text).collect();
        for n in 0..30 {
            let q = query(n);
            assert!(
                texts
                    .iter()
                    .any(|t| q.split(' ').all(|w| t.split(' ').any(|x| x.starts_with(w)))),
                "{q}"
            );
        }
    }
}
