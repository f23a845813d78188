//! The `chat-bench` command: flags, the open-file limit, the runtime, the
//! hard deadline, and printing the report (a table, then one JSON line).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use anyhow::{Context, bail};
use chat_bench::client::Endpoint;
use chat_bench::fleet::OpenPlan;
use chat_bench::floor::{self, FloorPlan};
use chat_bench::scenario::{self, Load, RunOptions, Scenario};
use chat_bench::search::{self, SearchPlan};
use chat_proto::{RoomName, UserName};
use clap::{Args, Parser, Subcommand};

/// File descriptors kept beside one per connection (runtime, stdio, /proc).
const SPARE_FDS: u64 = 128;
/// Deadline allowance for opening connections and stopping, on top of the
/// scenario's own window, when `--deadline` is not given.
const DEFAULT_DEADLINE_SLACK: Duration = Duration::from_secs(90);
/// How long past the deadline the watchdog waits for a wedged runtime.
const WATCHDOG_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Parser)]
#[command(name = "chat-bench", version, about = "Load generator for chat-server")]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct Common {
    /// The server's WebSocket endpoint.
    #[arg(long, global = true, default_value = "ws://127.0.0.1:8000/ws")]
    url: String,
    /// The server's pid: report its RSS (/proc/PID/status) and CPU time
    /// (/proc/PID/stat) over the measured window.
    #[arg(long, global = true)]
    server_pid: Option<u32>,
    /// Runtime worker threads; 1 runs everything on one thread (the bench
    /// shares the machine with the server it measures).
    #[arg(long, global = true, default_value_t = 1)]
    threads: usize,
    /// Connections opened per batch; each batch waits for the previous one.
    #[arg(long, global = true, default_value_t = 500)]
    batch: usize,
    /// Connection handshakes in flight at once.
    #[arg(long, global = true, default_value_t = 64)]
    concurrency: usize,
    /// Seconds allowed for each setup step (connect, handshake, welcome, joined).
    #[arg(long, global = true, default_value_t = 10.0)]
    step_timeout: f64,
    /// Hard limit on the whole run, in seconds (default: the scenario's
    /// window plus 90 s).
    #[arg(long, global = true)]
    deadline: Option<f64>,
    /// Run id in guest and room names (default: random), so runs never
    /// collide on guest names.
    #[arg(long, global = true)]
    run_id: Option<String>,
    /// Room names are `<prefix>-<n>` (default: `r<run id>`).
    #[arg(long, global = true)]
    room_prefix: Option<String>,
    /// Per-connection read buffer of the WebSocket layer, in bytes.
    /// tungstenite zero-fills it before every read, so a large one costs
    /// CPU per read as well as memory; 4 KiB holds dozens of frames.
    #[arg(long, global = true, default_value_t = 4096)]
    read_buffer: usize,
    /// Filler bytes added to each message text.
    #[arg(long, global = true, default_value_t = 0)]
    text_bytes: usize,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// N connections over R rooms held T seconds: time until all joined,
    /// server RSS per connection, then one probe message per room.
    Idle {
        #[arg(long, default_value_t = 1000)]
        connections: usize,
        #[arg(long, default_value_t = 10)]
        rooms: usize,
        /// Seconds to hold the connections.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Skip the probe message after the hold.
        #[arg(long)]
        no_probe: bool,
    },
    /// N clients over R rooms, S senders at a total rate or at --max.
    Fanout {
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        #[arg(long, default_value_t = 10)]
        rooms: usize,
        #[arg(long, default_value_t = 10)]
        senders: usize,
        /// Messages per second, in total over all senders.
        #[arg(long, required_unless_present = "max", conflicts_with = "max")]
        rate: Option<f64>,
        /// Send as fast as acknowledgements allow, --window in flight per sender.
        #[arg(long)]
        max: bool,
        #[arg(long, default_value_t = 16)]
        window: u32,
        /// Seconds to measure.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
    },
    /// Senders alone in their rooms, as fast as acknowledgements allow:
    /// stored and acknowledged messages per second.
    Persist {
        #[arg(long, default_value_t = 1)]
        senders: usize,
        /// Rooms the senders are spread over (default: one each).
        #[arg(long)]
        rooms: Option<usize>,
        #[arg(long, default_value_t = 64)]
        window: u32,
        /// Stop once this many messages are acknowledged (to fill a database).
        #[arg(long)]
        total: Option<u64>,
        /// Seconds to measure (at most, with --total).
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
    },
    /// Connections joining one room again and again: `joined` latency.
    Join {
        #[arg(long, default_value_t = 10)]
        connections: usize,
        /// The room to join (for example one filled by `persist --total`).
        #[arg(long)]
        room: String,
        /// History messages asked for in each `join`.
        #[arg(long)]
        limit: Option<u32>,
        /// Ask each `join` for the page after a random message id.
        #[arg(long)]
        random_since: bool,
        /// Joins per second in total, on timers (default: each connection
        /// sends its next `join` when the last one is answered).
        #[arg(long)]
        rate: Option<f64>,
        /// Seconds to measure.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
    },
    /// The kernel's floor, no server: N loopback TCP pairs, one thread
    /// writing one frame per write() to them in turn at R frames/s, one
    /// thread reading; the CPU each spends per delivery.
    Floor {
        #[arg(long, default_value_t = 1000)]
        connections: usize,
        /// Frames per second, in total over all connections.
        #[arg(long, required_unless_present = "max", conflicts_with = "max")]
        rate: Option<f64>,
        /// Write as fast as the sockets take the frames.
        #[arg(long)]
        max: bool,
        /// Bytes per frame (default: the WebSocket frame the server sends
        /// per delivery in `fanout` at 10,000 × 100 rooms, --text-bytes
        /// included).
        #[arg(long)]
        bytes: Option<usize>,
        /// Seconds to write.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
    },
    /// One guest seeds a room with --seed messages (three words each, from
    /// a fixed vocabulary; run the server without a rate limit), then asks
    /// `search` one at a time for --duration seconds: answer latency.
    Search {
        /// Messages to store first (0: search what the room already holds).
        #[arg(long, default_value_t = 10_000)]
        seed: u64,
        /// The room to seed and search (default: `<room prefix>-search`).
        #[arg(long)]
        room: Option<String>,
        /// Seeded messages in flight at once.
        #[arg(long, default_value_t = 64)]
        window: u32,
        /// Search every room the guest may read instead of the one room.
        #[arg(long)]
        everywhere: bool,
        /// Results asked for per search (the server allows 1 to 200).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Seconds to search.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
    },
    /// The reading side of `floor`, which starts it as a child process.
    #[command(hide = true)]
    FloorReader {
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long)]
        connections: usize,
    },
}

fn seconds(value: f64, flag: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value).with_context(|| format!("--{flag} {value}: not a duration"))
}

fn scenario_of(command: Command) -> anyhow::Result<Scenario> {
    Ok(match command {
        Command::Idle {
            connections,
            rooms,
            duration,
            no_probe,
        } => Scenario::Idle {
            connections,
            rooms: rooms.max(1),
            hold: seconds(duration, "duration")?,
            probe: !no_probe,
        },
        Command::Fanout {
            clients,
            rooms,
            senders,
            rate,
            max,
            window,
            duration,
        } => {
            let load = match (rate, max) {
                (_, true) => Load::Max {
                    window: window.max(1),
                },
                (Some(rate), false) if rate > 0.0 && rate.is_finite() => Load::Rate(rate),
                _ => bail!("--rate must be a positive number of messages per second"),
            };
            if senders > clients {
                bail!("--senders {senders} is more than --clients {clients}");
            }
            Scenario::Fanout {
                clients,
                rooms: rooms.max(1),
                senders: senders.max(1),
                load,
                duration: seconds(duration, "duration")?,
            }
        }
        Command::Persist {
            senders,
            rooms,
            window,
            total,
            duration,
        } => Scenario::Persist {
            senders: senders.max(1),
            rooms: rooms.unwrap_or(senders).max(1),
            window: window.max(1),
            total,
            duration: seconds(duration, "duration")?,
        },
        Command::Join {
            connections,
            room,
            limit,
            random_since,
            rate,
            duration,
        } => Scenario::Join {
            rate: match rate {
                Some(r) if !(r > 0.0 && r.is_finite()) => {
                    bail!("--rate must be a positive number of joins per second")
                }
                other => other,
            },
            connections: connections.max(1),
            room: RoomName::parse(&room)
                .with_context(|| format!("--room {room:?}"))?
                .into_string(),
            limit,
            random_since,
            duration: seconds(duration, "duration")?,
        },
        Command::Floor { .. } | Command::FloorReader { .. } | Command::Search { .. } => {
            bail!("the floor and search modes are not fleet scenarios")
        }
    })
}

/// Raises this process's open-file limit to fit `wanted` descriptors,
/// lifting the hard limit too when allowed (as root).
fn raise_fd_limit(wanted: u64) -> anyhow::Result<u64> {
    let (soft, hard) = rlimit::Resource::NOFILE
        .get()
        .context("reading RLIMIT_NOFILE")?;
    if soft >= wanted {
        return Ok(soft);
    }
    if hard < wanted && rlimit::setrlimit(rlimit::Resource::NOFILE, wanted, wanted).is_ok() {
        return Ok(wanted);
    }
    let now = rlimit::increase_nofile_limit(wanted).context("raising RLIMIT_NOFILE")?;
    if now < wanted {
        bail!(
            "open-file limit is {now} (hard {hard}); this run needs {wanted}: raise `ulimit -Hn`"
        );
    }
    Ok(now)
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("chat-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Ends the process if the run outlives `deadline` even though the run's
/// own timeouts should have fired (a wedged runtime or a blocked thread);
/// sending on the returned channel disarms it.
fn arm_watchdog(deadline: Duration) -> std_mpsc::Sender<()> {
    let (disarm_tx, disarm_rx) = std_mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std_mpsc::RecvTimeoutError::Timeout) =
            disarm_rx.recv_timeout(deadline + WATCHDOG_GRACE)
        {
            eprintln!("chat-bench: watchdog: run exceeded its deadline; exiting");
            std::process::exit(3);
        }
    });
    disarm_tx
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Floor {
            connections,
            rate,
            max,
            bytes,
            duration,
        } => {
            let rate = match (rate, max) {
                (_, true) => None,
                (Some(rate), false) if rate > 0.0 && rate.is_finite() => Some(rate),
                _ => bail!("--rate must be a positive number of frames per second"),
            };
            let plan = FloorPlan {
                connections: connections.max(1),
                rate,
                bytes: bytes.unwrap_or_else(|| floor::fanout_frame_bytes(cli.common.text_bytes)),
                duration: seconds(duration, "duration")?,
                setup_timeout: seconds(cli.common.step_timeout, "step-timeout")?,
            };
            run_floor(&cli.common, &plan)
        }
        Command::FloorReader { addr, connections } => {
            raise_fd_limit(connections as u64 + SPARE_FDS)?;
            let timeout = seconds(cli.common.step_timeout, "step-timeout")?;
            let mut stdout = std::io::stdout().lock();
            let figures =
                floor::read_side(addr, connections, timeout, std::io::stdin(), &mut stdout)?;
            println!("{}", serde_json::to_string(&figures)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Search {
            seed,
            room,
            window,
            everywhere,
            limit,
            duration,
        } => {
            let run_id = cli
                .common
                .run_id
                .clone()
                .unwrap_or_else(|| format!("{:08x}", rand::random::<u32>()));
            let prefix = cli
                .common
                .room_prefix
                .clone()
                .unwrap_or_else(|| format!("r{run_id}"));
            let room = room.unwrap_or_else(|| format!("{prefix}-search"));
            let room = RoomName::parse(&room)
                .with_context(|| format!("--room {room:?}"))?
                .into_string();
            let plan = SearchPlan {
                endpoint: Endpoint::parse(
                    &cli.common.url,
                    seconds(cli.common.step_timeout, "step-timeout")?,
                    cli.common.read_buffer.max(4096),
                )?,
                user: format!("b{run_id}-search"),
                room,
                seed,
                window: window.max(1),
                in_room: !everywhere,
                limit,
                duration: seconds(duration, "duration")?,
            };
            run_search(&cli.common, &plan)
        }
        command => run_scenario(cli.common, command),
    }
}

fn run_search(common: &Common, plan: &SearchPlan) -> anyhow::Result<ExitCode> {
    let deadline = match common.deadline {
        Some(secs) => seconds(secs, "deadline")?,
        None => plan.duration + DEFAULT_DEADLINE_SLACK,
    };
    let disarm_tx = arm_watchdog(deadline);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the runtime")?;
    let report = runtime
        .block_on(async { tokio::time::timeout(deadline, search::run(plan)).await })
        .map_err(|_| {
            anyhow::anyhow!(
                "run exceeded its deadline of {:.0} s",
                deadline.as_secs_f64()
            )
        })?
        .context("search run")?;
    let _ = disarm_tx.send(());
    print!("{}", report.table());
    println!("{}", report.json_line());
    Ok(if report.latency.count == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn run_floor(common: &Common, plan: &FloorPlan) -> anyhow::Result<ExitCode> {
    if plan.bytes == 0 {
        bail!("--bytes must be at least 1");
    }
    raise_fd_limit(plan.connections as u64 + SPARE_FDS)?;
    let deadline = match common.deadline {
        Some(secs) => seconds(secs, "deadline")?,
        None => plan.duration + DEFAULT_DEADLINE_SLACK,
    };
    let disarm_tx = arm_watchdog(deadline);
    let exe = std::env::current_exe().context("finding this program to start the reader")?;
    let report = floor::run(plan, &exe)?;
    let _ = disarm_tx.send(());
    print!("{}", report.table());
    println!("{}", report.json_line());
    Ok(if report.deliveries == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn run_scenario(common: Common, command: Command) -> anyhow::Result<ExitCode> {
    let scenario = scenario_of(command)?;

    let run_id = common
        .run_id
        .unwrap_or_else(|| format!("{:08x}", rand::random::<u32>()));
    let user_prefix = format!("b{run_id}");
    let room_prefix = common.room_prefix.unwrap_or_else(|| format!("r{run_id}"));
    // The longest names a run makes must follow the protocol's rules.
    let last = scenario.connections();
    UserName::parse(&format!("{user_prefix}-{last}"))
        .with_context(|| format!("--run-id {run_id:?} makes bad guest names"))?;
    let canonical_rooms = RoomName::parse(&format!("{room_prefix}-{last}"))
        .with_context(|| format!("--room-prefix {room_prefix:?} makes bad room names"))?;
    if !canonical_rooms.as_str().starts_with(&room_prefix) {
        bail!("--room-prefix {room_prefix:?} must be lower case");
    }

    raise_fd_limit(scenario.connections() as u64 + SPARE_FDS)?;

    let endpoint = Endpoint::parse(
        &common.url,
        seconds(common.step_timeout, "step-timeout")?,
        common.read_buffer.max(4096),
    )?;
    let options = RunOptions {
        plan: OpenPlan {
            endpoint,
            batch: common.batch.max(1),
            concurrency: common.concurrency.max(1),
            user_prefix,
            text_pad: common.text_bytes,
        },
        run_id,
        room_prefix,
        server_pid: common.server_pid,
    };
    let deadline = match common.deadline {
        Some(secs) => seconds(secs, "deadline")?,
        None => scenario.window_bound() + DEFAULT_DEADLINE_SLACK,
    };

    // The runtime's own deadline is below; the watchdog is for when even
    // that cannot fire.
    let disarm_tx = arm_watchdog(deadline);

    let runtime = if common.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(common.threads)
            .enable_all()
            .build()
    }
    .context("building the runtime")?;

    let report = runtime.block_on(async {
        tokio::time::timeout(deadline, scenario::run(&options, &scenario)).await
    });
    let _ = disarm_tx.send(());
    let Ok(report) = report else {
        bail!(
            "run exceeded its deadline of {:.0} s",
            deadline.as_secs_f64()
        );
    };
    print!("{}", report.table());
    println!("{}", report.json_line());
    // Leave the remaining tasks (closing sockets) to the runtime's drop.
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(if report.connections_opened == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
