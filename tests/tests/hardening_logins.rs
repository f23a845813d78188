//! Logins under attack (issue 9, items 4, 5 and 9): failed passwords are
//! throttled per name and per address with growing delays while the owner
//! still logs in at once, a flood of logins from one address does not delay
//! another address's login, one address cannot register accounts without
//! bound, and one account cannot open sessions without bound.
//!
//! Every peer is on this machine: the tests connect to 127.0.0.1 from
//! several loopback source addresses (127.0.0.x) so the server sees several
//! addresses.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use chat_e2e::client::Ending;
use chat_e2e::metrics::scrape;
use chat_e2e::{ServerProcess, TestClient};
use chat_proto::{ClientFrame, ErrorCode, ServerFrame};
use tokio::sync::Mutex;
use tokio::time::{Instant, timeout};

/// The account owner's address, where it registered.
const OWNER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
/// The address a flood comes from.
const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// An address that never did anything wrong.
const STRANGER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
/// How long any one hello may wait for its answer, even under a flood.
const ANSWER_LIMIT: Duration = Duration::from_secs(10);
/// How long a whole flood may take.
const FLOOD_LIMIT: Duration = Duration::from_secs(90);
/// The server's defaults these tests rely on (README's flag table).
const FREE_FAILURES_PER_NAME: usize = 5;
const ACCOUNTS_PER_HOUR: usize = 20;
const SESSIONS_PER_ACCOUNT: usize = 32;

/// How the server answered one `hello`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Welcome {
        registered: bool,
    },
    AuthFailed,
    RateLimited {
        retry_after_ms: Option<u64>,
        message: String,
    },
    /// The connection ended without an answer (refused, or timed out).
    Ended(String),
}

/// Sends `hello` and reads its answer.
async fn hello(client: &mut TestClient, user: &str, password: &str) -> Answer {
    client
        .send(&ClientFrame::Hello {
            user: user.to_owned(),
            password: Some(password.to_owned()),
        })
        .await;
    match client.recv_or_end(ANSWER_LIMIT).await {
        Ok(ServerFrame::Welcome { registered, .. }) => Answer::Welcome { registered },
        Ok(ServerFrame::Error {
            code: ErrorCode::AuthFailed,
            ..
        }) => Answer::AuthFailed,
        Ok(ServerFrame::Error {
            code: ErrorCode::RateLimited,
            message,
            retry_after_ms,
            ..
        }) => Answer::RateLimited {
            retry_after_ms,
            message,
        },
        Ok(other) => panic!("{user}: unexpected answer to hello: {other:?}"),
        Err(Ending::Closed { code, reason }) => Answer::Ended(format!("closed {code} {reason}")),
        Err(Ending::Dropped(why)) => Answer::Ended(why),
    }
}

/// A new connection from `source` that says `hello`; its answer and the
/// time from `hello` to the answer.
async fn timed_hello(
    server: &ServerProcess,
    source: IpAddr,
    user: &str,
    password: &str,
) -> (TestClient, Answer, Duration) {
    let mut client = TestClient::connect_from(server.addr(), source).await;
    client.label_as(user);
    let started = Instant::now();
    let answer = hello(&mut client, user, password).await;
    (client, answer, started.elapsed())
}

/// How long the owner's login takes on a quiet server: the median of
/// three, each one password check.
async fn quiet_login_time(server: &ServerProcess, user: &str, password: &str) -> Duration {
    let mut times = Vec::new();
    for _ in 0..3 {
        let (client, answer, took) = timed_hello(server, OWNER, user, password).await;
        assert_eq!(answer, Answer::Welcome { registered: false });
        client.close().await;
        times.push(took);
    }
    times.sort();
    times[1]
}

/// "A fraction of a second" on this machine: a few password checks' time,
/// and never less than 0.8 s, which leaves room for a machine busy with
/// other builds (the flood's own hashes share its cores). A login that
/// waits behind a queue of a flood's hashes takes seconds (about 5 s before
/// the fair queue).
fn fraction_of_a_second(quiet: Duration) -> Duration {
    (quiet * 4).max(Duration::from_millis(800))
}

/// Logs in (or registers) `user` from `source`, failing the test unless
/// welcomed.
async fn log_in_from(
    server: &ServerProcess,
    source: IpAddr,
    user: &str,
    password: &str,
) -> TestClient {
    let (client, answer, _) = timed_hello(server, source, user, password).await;
    assert!(
        matches!(answer, Answer::Welcome { .. }),
        "{user} from {source}: expected welcome, got {answer:?}"
    );
    client
}

/// Lines of the server log naming `address` and containing `what`, once
/// one was logged: the log reaches the test through a pipe, so the first
/// is waited for.
async fn log_lines_about(server: &ServerProcess, address: IpAddr, what: &str) -> usize {
    server.wait_for_log(what, 0, ANSWER_LIMIT).await;
    let address = address.to_string();
    server
        .log()
        .lines()
        .filter(|line| line.contains(&format!("{address}:")) && line.contains(what))
        .count()
}

/// What a flood of wrong guesses got back.
#[derive(Debug, Default)]
struct GuessTally {
    auth_failed: usize,
    rate_limited: usize,
    /// Every `retry_after_ms` the flood was given.
    retry_after_ms: Vec<u64>,
    /// Connections the server refused or ended without an answer.
    ended: usize,
}

/// One attacker connection after another from `source`, guessing `user`'s
/// password as fast as answers come, until `attempts` reaches `total`. A
/// refused guess keeps its connection (the server leaves it open); an
/// `auth_failed` one is closed by the server, so the next guess reconnects.
async fn guess_passwords(
    server_addr: std::net::SocketAddr,
    source: IpAddr,
    user: &'static str,
    attempts: Arc<AtomicUsize>,
    total: usize,
    tally: Arc<Mutex<GuessTally>>,
) {
    let mut client: Option<TestClient> = None;
    loop {
        let n = attempts.fetch_add(1, Ordering::SeqCst);
        if n >= total {
            break;
        }
        if client.is_none() {
            match TestClient::try_connect_from(server_addr, source).await {
                Ok(connected) => client = Some(connected),
                Err(_) => {
                    tally.lock().await.ended += 1;
                    continue;
                }
            }
        }
        let Some(connection) = client.as_mut() else {
            continue;
        };
        let answer = hello(connection, user, &format!("guess {n}")).await;
        let mut tally = tally.lock().await;
        match answer {
            Answer::AuthFailed => {
                tally.auth_failed += 1;
                if let Some(closed) = client.take() {
                    closed.abort();
                }
                // Today's server checks every guess: stop early rather
                // than hash hundreds of them.
                if tally.auth_failed > 4 * FREE_FAILURES_PER_NAME {
                    attempts.store(total, Ordering::SeqCst);
                }
            }
            Answer::RateLimited { retry_after_ms, .. } => {
                tally.rate_limited += 1;
                let wait = retry_after_ms.unwrap_or_else(|| {
                    panic!("a throttled guess at {user} carries no retry_after_ms")
                });
                tally.retry_after_ms.push(wait);
            }
            Answer::Ended(_) => {
                tally.ended += 1;
                client = None;
            }
            Answer::Welcome { .. } => panic!("a wrong guess at {user} was welcomed"),
        }
    }
}

/// Waits (bounded) until `counter` reaches `at_least`.
async fn wait_for_count(counter: &AtomicUsize, at_least: usize, awaiting: &str) {
    let deadline = Instant::now() + FLOOD_LIMIT;
    while counter.load(Ordering::SeqCst) < at_least {
        assert!(Instant::now() < deadline, "never saw {awaiting}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Guesses `user`'s password from `source` once the server lets that
/// address try again, and returns the wait the server then announces for
/// the guess after it.
async fn patient_guess(server: &ServerProcess, source: IpAddr, user: &str) -> u64 {
    let deadline = Instant::now() + FLOOD_LIMIT;
    let mut client = TestClient::connect_from(server.addr(), source).await;
    loop {
        assert!(
            Instant::now() < deadline,
            "the throttle never let a guess through"
        );
        match hello(&mut client, user, "patient guess").await {
            Answer::RateLimited {
                retry_after_ms: Some(wait),
                ..
            } => tokio::time::sleep(Duration::from_millis(wait)).await,
            Answer::AuthFailed => break,
            Answer::Ended(_) => client = TestClient::connect_from(server.addr(), source).await,
            other => panic!("a patient guess got {other:?}"),
        }
    }
    client.abort();
    let mut client = TestClient::connect_from(server.addr(), source).await;
    match hello(&mut client, user, "too soon").await {
        Answer::RateLimited {
            retry_after_ms: Some(wait),
            ..
        } => wait,
        other => panic!("the guess right after a failure got {other:?}"),
    }
}

#[tokio::test]
async fn wrong_guesses_are_throttled_per_name_while_the_owner_logs_in_at_once() {
    const GUESSES: usize = 571;
    let server = ServerProcess::start_default().await;
    log_in_from(&server, OWNER, "alice", "correct horse")
        .await
        .close()
        .await;
    log_in_from(&server, STRANGER, "bob", "bob's own")
        .await
        .close()
        .await;
    let quiet = quiet_login_time(&server, "alice", "correct horse").await;
    let bound = fraction_of_a_second(quiet);

    let attempts = Arc::new(AtomicUsize::new(0));
    let tally = Arc::new(Mutex::new(GuessTally::default()));
    let attackers: Vec<_> = (0..8)
        .map(|_| {
            tokio::spawn(guess_passwords(
                server.addr(),
                ATTACKER,
                "alice",
                attempts.clone(),
                GUESSES,
                tally.clone(),
            ))
        })
        .collect();
    // The owner logs in while the guesses pour in.
    wait_for_count(&attempts, 100, "100 guesses").await;
    let (owner, answer, took) = timed_hello(&server, OWNER, "alice", "correct horse").await;
    assert_eq!(answer, Answer::Welcome { registered: false });
    assert!(
        took <= bound,
        "the owner's login took {took:?} during the guessing (quiet: {quiet:?})"
    );
    owner.close().await;
    for attacker in attackers {
        timeout(FLOOD_LIMIT, attacker)
            .await
            .expect("the guessing ends in time")
            .expect("an attacker task does not panic");
    }

    let tally = Arc::try_unwrap(tally)
        .expect("attackers are done")
        .into_inner();
    assert!(
        tally.auth_failed <= FREE_FAILURES_PER_NAME + 4,
        "{} of {GUESSES} guesses had their password checked: {tally:?}",
        tally.auth_failed
    );
    assert!(
        tally.rate_limited >= GUESSES - tally.auth_failed - tally.ended,
        "every other guess is refused with rate_limited: {tally:?}"
    );
    assert!(
        tally
            .retry_after_ms
            .iter()
            .all(|wait| (1..=5 * 60 * 1000).contains(wait)),
        "retry_after_ms within 5 minutes: {tally:?}"
    );
    // The delays grow: each failure past the free ones doubles the wait.
    let first = patient_guess(&server, ATTACKER, "alice").await;
    let second = patient_guess(&server, ATTACKER, "alice").await;
    assert!(
        second > first && second >= 1500,
        "the wait grows from {first} ms to {second} ms"
    );

    // Right after a failure, the name is throttled from anywhere but the
    // owner's address...
    let (_, answer, _) = timed_hello(&server, STRANGER, "alice", "correct horse").await;
    assert!(
        matches!(
            answer,
            Answer::RateLimited {
                retry_after_ms: Some(_),
                ..
            }
        ),
        "a new address guessing alice is throttled too: {answer:?}"
    );
    // ...the stranger's own account is not, and the owner still gets in.
    log_in_from(&server, STRANGER, "bob", "bob's own")
        .await
        .close()
        .await;
    let (_, answer, took) = timed_hello(&server, OWNER, "alice", "correct horse").await;
    assert_eq!(answer, Answer::Welcome { registered: false });
    assert!(
        took <= bound,
        "the owner's login took {took:?} after the guessing"
    );

    let metrics = scrape(server.addr()).await;
    // A guess is refused by the throttle, or (in the first burst, while
    // the free guesses are being checked) by the address's hashing share.
    let refused = ["failed_logins", "hashes_per_address"]
        .map(|limit| metrics.get_labelled("chat_hellos_refused_total", &[("limit", limit)]))
        .iter()
        .sum::<f64>();
    assert!(
        refused >= (tally.rate_limited + 1) as f64,
        "/metrics counts the refused guesses: {refused} < {}",
        tally.rate_limited + 1
    );
    assert!(metrics.get("chat_logins_failed_total") >= (tally.auth_failed + 2) as f64);
    assert_eq!(
        log_lines_about(&server, ATTACKER, "failed logins").await,
        1,
        "the attacker's address is logged once, not per guess:\n{}",
        server.log()
    );
}

#[tokio::test]
async fn an_address_guessing_many_names_is_throttled_across_them() {
    let server = ServerProcess::start_default().await;
    let names = ["ann", "ben", "cat", "dan", "eve"];
    for name in names {
        log_in_from(&server, OWNER, name, "their own")
            .await
            .close()
            .await;
    }
    // Five failures for each of four names: each name's free ones, and
    // together the address's (four times a name's).
    let guesser = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 4));
    for name in &names[..4] {
        for n in 0..FREE_FAILURES_PER_NAME {
            let (client, answer, _) = timed_hello(&server, guesser, name, &format!("no {n}")).await;
            assert_eq!(answer, Answer::AuthFailed, "guess {n} at {name}");
            client.abort();
        }
    }
    let (_, answer, _) = timed_hello(&server, guesser, "eve", "their own").await;
    assert!(
        matches!(
            answer,
            Answer::RateLimited {
                retry_after_ms: Some(_),
                ..
            }
        ),
        "the address is throttled even for a name it never guessed: {answer:?}"
    );
    // Another address logs in to that name at once.
    let other = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 5));
    log_in_from(&server, other, "eve", "their own")
        .await
        .close()
        .await;
}

/// What a flood of logins to the flood's own accounts got back.
#[derive(Debug, Default)]
struct FloodTally {
    welcomed: AtomicUsize,
    refused: AtomicUsize,
}

/// Logs in to `user` from `source` again and again, each on a new
/// connection closed right after its welcome, until `stop`; a refusal is
/// retried after the wait it announces.
async fn flood_logins(
    server_addr: std::net::SocketAddr,
    source: IpAddr,
    user: String,
    stop: Arc<AtomicBool>,
    tally: Arc<FloodTally>,
) {
    let deadline = Instant::now() + FLOOD_LIMIT;
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        let Ok(mut client) = TestClient::try_connect_from(server_addr, source).await else {
            tally.refused.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        loop {
            match hello(&mut client, &user, "flood").await {
                Answer::Welcome { .. } => {
                    tally.welcomed.fetch_add(1, Ordering::SeqCst);
                    client.abort();
                    break;
                }
                Answer::RateLimited { retry_after_ms, .. } => {
                    tally.refused.fetch_add(1, Ordering::SeqCst);
                    let wait = retry_after_ms.unwrap_or(100).min(2_000);
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                }
                Answer::AuthFailed => panic!("{user}: the flood's own password failed"),
                Answer::Ended(_) => break,
            }
        }
    }
}

#[tokio::test]
async fn a_login_flood_from_one_address_does_not_delay_another_address() {
    const FLOOD_CONNECTIONS: usize = 64;
    let server = ServerProcess::start_default().await;
    log_in_from(&server, OWNER, "alice", "correct horse")
        .await
        .close()
        .await;
    let flood_accounts: Vec<String> = (0..4).map(|n| format!("mallory{n}")).collect();
    for account in &flood_accounts {
        log_in_from(&server, ATTACKER, account, "flood")
            .await
            .close()
            .await;
    }
    let quiet = quiet_login_time(&server, "alice", "correct horse").await;
    let bound = fraction_of_a_second(quiet);

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(FloodTally::default());
    let flood: Vec<_> = (0..FLOOD_CONNECTIONS)
        .map(|n| {
            tokio::spawn(flood_logins(
                server.addr(),
                ATTACKER,
                flood_accounts[n % flood_accounts.len()].clone(),
                stop.clone(),
                tally.clone(),
            ))
        })
        .collect();
    // The flood is running once it has been answered a few times.
    let deadline = Instant::now() + FLOOD_LIMIT;
    while tally.welcomed.load(Ordering::SeqCst) + tally.refused.load(Ordering::SeqCst) < 8 {
        assert!(Instant::now() < deadline, "the flood got no answers");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut took = Vec::new();
    for _ in 0..3 {
        let (owner, answer, time) = timed_hello(&server, OWNER, "alice", "correct horse").await;
        assert_eq!(answer, Answer::Welcome { registered: false });
        owner.close().await;
        took.push(time);
    }
    stop.store(true, Ordering::SeqCst);
    for task in flood {
        timeout(FLOOD_LIMIT, task)
            .await
            .expect("the flood stops in time")
            .expect("a flood task does not panic");
    }
    assert!(
        took.iter().all(|time| *time <= bound),
        "the owner's logins took {took:?} during the flood (quiet: {quiet:?}, bound {bound:?})"
    );
    // The flood was served too, only not ahead of others, and most of it
    // was refused at once rather than queued.
    assert!(tally.welcomed.load(Ordering::SeqCst) > 0, "{tally:?}");
    assert!(tally.refused.load(Ordering::SeqCst) > 0, "{tally:?}");
    let metrics = scrape(server.addr()).await;
    assert!(
        metrics.get_labelled(
            "chat_hellos_refused_total",
            &[("limit", "hashes_per_address")]
        ) > 0.0
    );
    assert_eq!(
        log_lines_about(&server, ATTACKER, "queued password hashes").await,
        1
    );
}

#[tokio::test]
async fn registrations_from_one_address_stop_at_the_hourly_cap() {
    const ATTEMPTS: usize = 1_050;
    let server = ServerProcess::start_default().await;
    let next_name = Arc::new(AtomicUsize::new(0));
    let registered = Arc::new(Mutex::new(Vec::new()));
    let capped = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (next_name, registered, capped) =
                (next_name.clone(), registered.clone(), capped.clone());
            let addr = server.addr();
            tokio::spawn(async move {
                let mut client: Option<TestClient> = None;
                let mut name = None;
                loop {
                    let user = match name.take() {
                        Some(user) => user,
                        None => {
                            let n = next_name.fetch_add(1, Ordering::SeqCst);
                            if n >= ATTEMPTS {
                                break;
                            }
                            format!("newbie{n}")
                        }
                    };
                    let connection = match client.as_mut() {
                        Some(connection) => connection,
                        None => client.insert(TestClient::connect_from(addr, ATTACKER).await),
                    };
                    match hello(connection, &user, "fresh").await {
                        Answer::Welcome { registered: true } => {
                            let mut registered = registered.lock().await;
                            registered.push(user);
                            assert!(
                                registered.len() <= ACCOUNTS_PER_HOUR,
                                "more than {ACCOUNTS_PER_HOUR} accounts from one address"
                            );
                            if let Some(done) = client.take() {
                                done.abort();
                            }
                        }
                        Answer::RateLimited {
                            retry_after_ms: Some(wait),
                            ..
                        } if wait >= 60_000 => capped.lock().await.push((user, wait)),
                        // Too many of this address's hashes queued at once:
                        // the same name again, after the announced wait.
                        Answer::RateLimited {
                            retry_after_ms: Some(wait),
                            ..
                        } => {
                            tokio::time::sleep(Duration::from_millis(wait)).await;
                            name = Some(user);
                        }
                        Answer::Ended(_) => {
                            client = None;
                            name = Some(user);
                        }
                        other => panic!("registering {user}: {other:?}"),
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        timeout(FLOOD_LIMIT, worker)
            .await
            .expect("the registrations end in time")
            .expect("a registering task does not panic");
    }
    let registered = registered.lock().await.clone();
    let capped = capped.lock().await.clone();
    assert_eq!(registered.len(), ACCOUNTS_PER_HOUR, "{registered:?}");
    assert_eq!(capped.len(), ATTEMPTS - ACCOUNTS_PER_HOUR);
    // The wait is until the first of the hour's accounts stops counting.
    assert!(
        capped
            .iter()
            .all(|(_, wait)| (59 * 60 * 1000..=60 * 60 * 1000).contains(wait)),
        "retry_after_ms is just under an hour: {:?}",
        &capped[..3]
    );
    for user in &registered {
        assert!(
            chat_e2e::db::stored_account(server.db_path(), user)
                .await
                .unwrap()
                .is_some()
        );
    }
    for (user, _) in capped.iter().take(20) {
        assert!(
            chat_e2e::db::stored_account(server.db_path(), user)
                .await
                .unwrap()
                .is_none(),
            "{user} was refused but stored"
        );
    }
    // Another address registers as usual.
    let (_, answer, _) = timed_hello(&server, OWNER, "latecomer", "fresh").await;
    assert_eq!(answer, Answer::Welcome { registered: true });
    let metrics = scrape(server.addr()).await;
    assert_eq!(
        metrics.get_labelled(
            "chat_hellos_refused_total",
            &[("limit", "accounts_per_hour")]
        ),
        capped.len() as f64
    );
    assert_eq!(
        log_lines_about(&server, ATTACKER, "new accounts per hour").await,
        1
    );
}

#[tokio::test]
async fn the_33rd_session_of_one_account_is_refused_until_one_closes() {
    let server = ServerProcess::start_default().await;
    let mut sessions = Vec::new();
    // From several addresses: the cap is per account, wherever it logs in.
    for n in 0..SESSIONS_PER_ACCOUNT {
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (n % 4) as u8));
        sessions.push(log_in_from(&server, source, "alice", "correct horse").await);
    }
    let late = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9));
    let (mut extra, answer, _) = timed_hello(&server, late, "alice", "correct horse").await;
    match &answer {
        Answer::RateLimited {
            retry_after_ms: None,
            message,
        } => assert!(
            message.contains(&SESSIONS_PER_ACCOUNT.to_string()) && message.contains("sessions"),
            "the refusal says why: {message:?}"
        ),
        other => panic!("the 33rd session was not refused with rate_limited: {other:?}"),
    }
    // Other accounts are not affected.
    log_in_from(&server, late, "bob", "bob's own")
        .await
        .close()
        .await;
    // The refused connection stays open; once a session closes, the same
    // connection gets in.
    sessions.pop().expect("32 sessions").close().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match hello(&mut extra, "alice", "correct horse").await {
            Answer::Welcome { registered: false } => break,
            Answer::RateLimited { .. } if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("after a session closed, alice's hello got {other:?}"),
        }
    }
    let metrics = scrape(server.addr()).await;
    assert!(
        metrics.get_labelled(
            "chat_hellos_refused_total",
            &[("limit", "sessions_per_account")]
        ) >= 1.0
    );
    assert_eq!(
        log_lines_about(&server, late, "sessions per account").await,
        1
    );
}
