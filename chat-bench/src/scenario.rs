//! The scenarios: who joins which room, who sends how, how long the window
//! lasts, and how the fleet's totals and the server's `/proc` readings turn
//! into a [`Report`].

use std::time::Duration;

use tokio::time::Instant;

use crate::driver::{Pace, Phase, Role};
use crate::fleet::{Fleet, Member, OpenOutcome, OpenPlan, wait_for};
use crate::procfs::{self, MachineSample, ProcSample, Target};
use crate::report::Report;
use crate::stats::{Clock, LatencySummary, Totals};

/// How long the fleet may take to stop and hand back its counts.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How long the idle probe waits for every member to see its room's probe.
const PROBE_WAIT: Duration = Duration::from_secs(10);

/// What every scenario needs besides its own sizes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub plan: OpenPlan,
    pub run_id: String,
    /// Rooms are `<room_prefix>-<n>`.
    pub room_prefix: String,
    pub server_pid: Option<u32>,
}

impl RunOptions {
    fn room(&self, n: usize) -> String {
        format!("{}-{n}", self.room_prefix)
    }
}

/// One scenario with its sizes.
#[derive(Debug, Clone)]
pub enum Scenario {
    /// `connections` over `rooms`, held `hold`, then one probe message per
    /// room that every member must receive.
    Idle {
        connections: usize,
        rooms: usize,
        hold: Duration,
        probe: bool,
    },
    /// `clients` over `rooms`; the first `senders` send, at `Load`.
    Fanout {
        clients: usize,
        rooms: usize,
        senders: usize,
        load: Load,
        duration: Duration,
    },
    /// `senders` over `rooms` (nobody else there), each keeping `window`
    /// messages in flight; stops early once `total` are acknowledged.
    Persist {
        senders: usize,
        rooms: usize,
        window: u32,
        total: Option<u64>,
        duration: Duration,
    },
    /// `connections` in `room` joining it again and again, timing the
    /// `joined` reply: one `join` in flight each, or `rate` joins per second
    /// in total.
    Join {
        connections: usize,
        room: String,
        limit: Option<u32>,
        random_since: bool,
        rate: Option<f64>,
        duration: Duration,
    },
}

/// How fan-out senders send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// This many messages per second in total, spread over the senders.
    Rate(f64),
    /// As fast as acknowledgements allow, `window` in flight per sender.
    Max { window: u32 },
}

impl Scenario {
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Idle { .. } => "idle",
            Scenario::Fanout { .. } => "fanout",
            Scenario::Persist { .. } => "persist",
            Scenario::Join { .. } => "join",
        }
    }

    /// How many connections the scenario opens (for the open-file limit).
    pub fn connections(&self) -> usize {
        match self {
            Scenario::Idle { connections, .. } | Scenario::Join { connections, .. } => *connections,
            Scenario::Fanout { clients, .. } => *clients,
            Scenario::Persist { senders, .. } => *senders,
        }
    }

    /// The longest the measured part may take, for the overall deadline.
    pub fn window_bound(&self) -> Duration {
        match self {
            Scenario::Idle { hold, .. } => *hold + PROBE_WAIT,
            Scenario::Fanout { duration, .. }
            | Scenario::Persist { duration, .. }
            | Scenario::Join { duration, .. } => *duration,
        }
    }

    fn members(&self, options: &RunOptions) -> Vec<Member> {
        let listener = |room: String, role: Role| Member {
            room,
            role,
            join_limit: None,
        };
        match self {
            Scenario::Idle {
                connections, rooms, ..
            } => (0..*connections)
                .map(|i| {
                    // The first member of each room sends its probe.
                    let role = if i < *rooms {
                        Role::Probe
                    } else {
                        Role::Listener
                    };
                    listener(options.room(i % rooms.max(&1)), role)
                })
                .collect(),
            Scenario::Fanout {
                clients,
                rooms,
                senders,
                load,
                ..
            } => (0..*clients)
                .map(|i| {
                    let role = if i >= *senders {
                        Role::Listener
                    } else {
                        match *load {
                            Load::Max { window } => Role::Window {
                                window,
                                quota: None,
                            },
                            Load::Rate(rate) => Role::Rate(pace(rate, i, *senders)),
                        }
                    };
                    listener(options.room(i % rooms.max(&1)), role)
                })
                .collect(),
            Scenario::Persist {
                senders,
                rooms,
                window,
                total,
                ..
            } => (0..*senders)
                .map(|i| {
                    let quota = total.map(|t| {
                        let s = *senders as u64;
                        t / s + u64::from((i as u64) < t % s)
                    });
                    listener(
                        options.room(i % rooms.max(&1)),
                        Role::Window {
                            window: *window,
                            quota,
                        },
                    )
                })
                .collect(),
            Scenario::Join {
                connections,
                room,
                limit,
                random_since,
                rate,
                ..
            } => (0..*connections)
                .map(|i| Member {
                    room: room.clone(),
                    role: Role::Joiner {
                        limit: *limit,
                        random_since: *random_since,
                        pace: rate.map(|rate| pace(rate, i, *connections)),
                    },
                    // The setup join only needs `last_id`.
                    join_limit: Some(1),
                })
                .collect(),
        }
    }

    fn rooms_and_senders(&self) -> (u64, u64) {
        match self {
            Scenario::Idle { rooms, .. } => (*rooms as u64, 0),
            Scenario::Fanout { rooms, senders, .. } => (*rooms as u64, *senders as u64),
            Scenario::Persist { rooms, senders, .. } => (*rooms as u64, *senders as u64),
            Scenario::Join { connections, .. } => (1, *connections as u64),
        }
    }
}

/// The timer of sender `index` of `senders` sharing `rate` per second,
/// spread evenly over one period.
fn pace(rate: f64, index: usize, senders: usize) -> Pace {
    let period = Duration::from_secs_f64(senders as f64 / rate);
    let offset = period.mul_f64(index as f64 / senders as f64);
    Pace { offset, period }
}

/// Readings taken when the sending window opens (every connection has
/// joined; the senders are told to send right after) and when it closes,
/// so the window's server CPU leaves connection setup out.
struct Window {
    opened_at: Instant,
    machine: Option<MachineSample>,
    server: Option<ProcSample>,
    bench: Option<ProcSample>,
}

impl Window {
    fn open(server_pid: Option<u32>) -> Self {
        Self {
            opened_at: Instant::now(),
            machine: procfs::machine().ok(),
            server: server_pid.and_then(|pid| procfs::sample(Target::Pid(pid)).ok()),
            bench: procfs::sample(Target::Myself).ok(),
        }
    }
}

struct WindowFigures {
    secs: f64,
    /// Cores busy on the whole machine over the window.
    machine_busy_cores: Option<f64>,
    server_before: Option<ProcSample>,
    server_after: Option<ProcSample>,
    bench_cpu: Duration,
}

fn close_window(window: Window, server_pid: Option<u32>) -> WindowFigures {
    let wall = window.opened_at.elapsed();
    let secs = wall.as_secs_f64();
    let machine_busy_cores = match (window.machine, procfs::machine().ok()) {
        (Some(before), Some(after)) => Some(after.busy_cores_since(&before, wall)),
        _ => None,
    };
    let server_after = server_pid.and_then(|pid| procfs::sample(Target::Pid(pid)).ok());
    let bench_after = procfs::sample(Target::Myself).ok();
    let bench_cpu = match (window.bench, bench_after) {
        (Some(before), Some(after)) => after.cpu.saturating_sub(before.cpu),
        _ => Duration::ZERO,
    };
    WindowFigures {
        secs,
        machine_busy_cores,
        server_before: window.server,
        server_after,
        bench_cpu,
    }
}

/// Runs a scenario against the server and reports what it measured.
pub async fn run(options: &RunOptions, scenario: &Scenario) -> Report {
    let clock = Clock::new();
    let load_average = procfs::load_average().ok();
    let members = scenario.members(options);
    let asked = members.len() as u64;
    let before_setup = options
        .server_pid
        .and_then(|pid| procfs::sample(Target::Pid(pid)).ok());

    let (mut fleet, outcome) = Fleet::open(&options.plan, clock, members).await;
    for (n, why) in &outcome.failures {
        eprintln!("chat-bench: setup failure {n}: {why}");
    }
    eprintln!(
        "chat-bench: {} of {asked} connections joined in {:.3} s",
        outcome.opened,
        outcome.elapsed.as_secs_f64()
    );

    let window = Window::open(options.server_pid);
    fleet.set_phase(Phase::Measure);
    let mut extra_errors: Vec<(String, u64)> = Vec::new();
    let figures = match scenario {
        Scenario::Idle { hold, probe, .. } => {
            tokio::time::sleep(*hold).await;
            let figures = close_window(window, options.server_pid);
            if *probe {
                fleet.set_phase(Phase::Probe);
                // Every member of a room whose probe sender joined receives
                // that probe; count against all members only when all joined.
                let expected = outcome.opened;
                let seen = wait_for(&mut fleet.probe_rx, expected, PROBE_WAIT).await;
                if outcome.failed == 0 && seen < expected {
                    extra_errors.push(("probe_missing".into(), expected - seen));
                }
            }
            figures
        }
        Scenario::Persist {
            senders,
            total: Some(_),
            duration,
            ..
        } => {
            wait_for(&mut fleet.quota_done_rx, *senders as u64, *duration).await;
            close_window(window, options.server_pid)
        }
        Scenario::Fanout { duration, .. }
        | Scenario::Persist { duration, .. }
        | Scenario::Join { duration, .. } => {
            tokio::time::sleep(*duration).await;
            close_window(window, options.server_pid)
        }
    };
    let recorder = fleet.latency.clone();
    let mut totals = fleet.stop(STOP_GRACE).await;
    let after_run = options
        .server_pid
        .and_then(|pid| procfs::sample(Target::Pid(pid)).ok());
    for (kind, n) in extra_errors {
        *totals.errors.entry(kind).or_default() += n;
    }
    let measured = Measured {
        load_average,
        asked,
        before_setup,
        after_run,
        outcome,
        totals,
        figures,
        latency: recorder.summary(),
    };
    build_report(options, scenario, measured)
}

/// Everything a run gathered, before it becomes a report.
struct Measured {
    load_average: Option<f64>,
    asked: u64,
    /// The server before any connection was opened.
    before_setup: Option<ProcSample>,
    /// The server once every connection was stopped and closed.
    after_run: Option<ProcSample>,
    outcome: OpenOutcome,
    totals: Totals,
    figures: WindowFigures,
    latency: LatencySummary,
}

fn build_report(options: &RunOptions, scenario: &Scenario, measured: Measured) -> Report {
    let Measured {
        load_average,
        asked,
        before_setup,
        after_run,
        outcome,
        totals,
        figures,
        latency,
    } = measured;
    // An idle run's only deliveries are its probes, sent after the window:
    // no rate or cost per delivery means anything there.
    let rates_apply = !matches!(scenario, Scenario::Idle { .. });
    let (rooms, senders) = scenario.rooms_and_senders();
    let per_sec = |n: u64| {
        if rates_apply && figures.secs > 0.0 {
            n as f64 / figures.secs
        } else {
            0.0
        }
    };
    let per_delivery = |cpu: Duration| {
        (rates_apply && totals.deliveries > 0)
            .then(|| cpu.as_secs_f64() * 1e6 / totals.deliveries as f64)
    };
    let server_cpu = match (figures.server_before, figures.server_after) {
        (Some(before), Some(after)) => Some(after.cpu.saturating_sub(before.cpu)),
        _ => None,
    };
    let server_run_cpu = match (before_setup, after_run) {
        (Some(before), Some(after)) => Some(after.cpu.saturating_sub(before.cpu)),
        _ => None,
    };
    let rss_before = before_setup.map(|s| s.rss_kib);
    let setup_cpu = match (before_setup, figures.server_before) {
        (Some(before), Some(after)) => Some(after.cpu.saturating_sub(before.cpu).as_secs_f64()),
        _ => None,
    };
    let rss_after = figures.server_after.map(|s| s.rss_kib);
    let rss_per_conn = match (rss_before, rss_after) {
        (Some(before), Some(after)) if totals.opened > 0 => {
            Some((after as f64 - before as f64) * 1024.0 / outcome.opened.max(1) as f64)
        }
        _ => None,
    };
    Report {
        scenario: scenario.name().into(),
        run_id: options.run_id.clone(),
        url: options.plan.endpoint.url.clone(),
        connections: asked,
        connections_opened: outcome.opened,
        connections_failed: outcome.failed,
        rooms,
        senders,
        setup_secs: outcome.elapsed.as_secs_f64(),
        setup_p50_us: outcome.setup_latency.p50_us,
        setup_p99_us: outcome.setup_latency.p99_us,
        setup_max_us: outcome.setup_latency.max_us,
        join_reply_p50_us: outcome.join_latency.p50_us,
        join_reply_p99_us: outcome.join_latency.p99_us,
        server_setup_cpu_secs: setup_cpu,
        window_secs: figures.secs,
        frames_sent: totals.frames_sent,
        deliveries: totals.deliveries,
        deliveries_per_sec: per_sec(totals.deliveries),
        acks: totals.acks,
        acks_per_sec: per_sec(totals.acks),
        presence_frames: totals.presence,
        latency_samples: latency.count,
        latency_p50_us: latency.p50_us,
        latency_p90_us: latency.p90_us,
        latency_p99_us: latency.p99_us,
        latency_max_us: latency.max_us,
        errors: totals.error_count(),
        error_kinds: totals.errors.clone(),
        server_pid: options.server_pid,
        server_rss_kib_before: rss_before,
        server_rss_kib: rss_after,
        server_peak_rss_kib: figures.server_after.map(|s| s.peak_rss_kib),
        server_rss_per_conn_bytes: rss_per_conn,
        server_cpu_secs: server_cpu.map(|c| c.as_secs_f64()),
        server_cpu_cores: server_cpu.map(|c| c.as_secs_f64() / figures.secs.max(1e-9)),
        server_cpu_us_per_delivery: server_cpu.and_then(per_delivery),
        server_run_cpu_secs: server_run_cpu.map(|c| c.as_secs_f64()),
        server_run_cpu_us_per_delivery: server_run_cpu.and_then(per_delivery),
        bench_cpu_secs: figures.bench_cpu.as_secs_f64(),
        bench_cpu_cores: figures.bench_cpu.as_secs_f64() / figures.secs.max(1e-9),
        machine_busy_cores: figures.machine_busy_cores,
        load_average_at_start: load_average,
        bench_cpu_us_per_delivery: per_delivery(figures.bench_cpu),
    }
}
