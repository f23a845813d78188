//! Issue 9, the network side: one address cannot fill the pending-handshake
//! pool or every session slot, a frame trickled too slowly is closed with
//! 1008, output per connection is bounded in bytes and a client that reads
//! nothing is dropped within two ping intervals even while a write to it
//! is blocked, a session over its rate is slowed rather than refused (and
//! keep-alive does not drop it meanwhile), and protocol violations get
//! their RFC 6455 close codes. Several 127.0.0.x source addresses stand in
//! for several peers.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use chat_e2e::metrics::{scrape, wait_for_metrics};
use chat_e2e::{ServerOptions, ServerProcess, TestClient, bulky_text, ids, message_burst};
use chat_proto::{ClientFrame, Message, ServerFrame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, timeout};

/// The loopback address standing for peer `n`.
fn peer(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

/// A TCP connection to `addr` from `source`.
async fn tcp_from(addr: SocketAddr, source: IpAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a TCP socket");
    socket
        .bind(SocketAddr::new(source, 0))
        .expect("bind a loopback source address");
    timeout(Duration::from_secs(5), socket.connect(addr))
        .await
        .expect("TCP connect timed out")
        .expect("TCP connect")
}

/// The head of a valid upgrade request.
fn upgrade_head(addr: SocketAddr) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
}

/// A client frame as it goes on the wire: `first` is FIN, RSV and opcode;
/// masked with a zero key, so the payload travels as it is.
fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![first];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= usize::from(u16::MAX) => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(payload);
    frame
}

/// A WebSocket connection driven byte by byte, for what a well-behaved
/// library never sends.
struct RawWs {
    stream: TcpStream,
}

impl RawWs {
    /// Upgrades a connection from `source`; the status line when the
    /// server answers anything but 101.
    async fn connect_from(addr: SocketAddr, source: IpAddr) -> Result<Self, String> {
        let mut stream = tcp_from(addr, source).await;
        stream
            .write_all(upgrade_head(addr).as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match timeout(Duration::from_secs(5), stream.read(&mut byte)).await {
                Ok(Ok(1)) => head.push(byte[0]),
                Ok(Ok(_)) => return Err(String::from_utf8_lossy(&head).into_owned()),
                Ok(Err(e)) => return Err(e.to_string()),
                Err(_) => panic!("no upgrade answer within 5 s"),
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        if head.starts_with("HTTP/1.1 101") {
            Ok(Self { stream })
        } else {
            Err(head.lines().next().unwrap_or_default().to_owned())
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("raw write");
    }

    /// Reads server frames until a close frame, within `limit`: its code
    /// (1005 when it has none), or `None` when the connection just ended.
    async fn close_code(&mut self, limit: Duration) -> Option<u16> {
        let read = async {
            loop {
                let mut header = [0u8; 2];
                self.stream.read_exact(&mut header).await.ok()?;
                let len = match header[1] & 0x7f {
                    126 => u64::from(self.stream.read_u16().await.ok()?),
                    127 => self.stream.read_u64().await.ok()?,
                    n => u64::from(n),
                };
                let mut payload = vec![0u8; usize::try_from(len).ok()?];
                self.stream.read_exact(&mut payload).await.ok()?;
                if header[0] & 0x0f == 0x8 {
                    return Some(
                        payload
                            .get(..2)
                            .map_or(1005, |code| u16::from_be_bytes([code[0], code[1]])),
                    );
                }
            }
        };
        timeout(limit, read)
            .await
            .unwrap_or_else(|_| panic!("no close within {limit:?}"))
    }
}

/// A guest `hello` as a raw text frame.
fn hello_frame(user: &str) -> Vec<u8> {
    client_frame(
        0x81,
        format!(r#"{{"type":"hello","user":"{user}"}}"#).as_bytes(),
    )
}

// ----- item 1: pending handshakes --------------------------------------

#[tokio::test]
async fn one_address_cannot_fill_the_pending_handshake_pool() {
    /// More than the server-wide pool of 4,096 pending handshakes.
    const STALLED: usize = 4_300;
    /// Default `--address-share` 10 % of the default pool.
    const SHARE: usize = 409;
    let server = ServerProcess::start(ServerOptions {
        // The stalls must outlive the test, as an attacker's renewed ones do.
        handshake_timeout: Some(120),
        ..ServerOptions::default()
    })
    .await;
    let head = upgrade_head(server.addr());
    let half = &head.as_bytes()[..head.len() / 2];
    let mut stalled = Vec::with_capacity(STALLED);
    for _ in 0..STALLED {
        let mut stream = tcp_from(server.addr(), peer(2)).await;
        // A reset connection is the server refusing it already.
        let _ = stream.write_all(half).await;
        stalled.push(stream);
    }

    // Another address is served as if nothing happened.
    let mut carol = TestClient::connect_from(server.addr(), peer(3)).await;
    carol.hello("carol", None).await;
    carol.join("lobby").await;
    carol.say("lobby", "served").await;

    // The attacker keeps at most its share; the rest was closed at once.
    let deadline = Instant::now() + Duration::from_secs(10);
    let open = loop {
        let open = stalled
            .iter()
            .filter(|stream| {
                let mut probe = [0u8; 1];
                matches!(stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            })
            .count();
        if open <= SHARE || Instant::now() >= deadline {
            break open;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        open <= SHARE,
        "{open} of one address's {STALLED} stalled handshakes are still pending"
    );
    let metrics = scrape(server.addr()).await;
    let refused = metrics.get_labelled(
        "chat_address_share_refused_total",
        &[("pool", "pending_handshakes")],
    );
    assert!(
        refused >= (STALLED - SHARE) as f64,
        "{refused} refusals counted"
    );
    // The offending address is named in the log.
    server
        .wait_for_log("127.0.0.2", 0, Duration::from_secs(10))
        .await;
}

// ----- items 1 and 8: session slots and half-sent frames ---------------

#[tokio::test]
async fn one_address_parking_half_sent_frames_cannot_take_every_session_slot() {
    const MAX_CONNECTIONS: usize = 100;
    let server = ServerProcess::start(ServerOptions {
        max_connections: Some(MAX_CONNECTIONS as u32),
        ..ServerOptions::default()
    })
    .await;
    // One address tries for every slot, each with half a frame sent.
    let mut parked = Vec::new();
    let mut refused = 0;
    for n in 0..MAX_CONNECTIONS {
        match RawWs::connect_from(server.addr(), peer(2)).await {
            Ok(mut ws) => {
                ws.send(&hello_frame(&format!("parker{n}"))).await;
                let frame = client_frame(0x81, &[b' '; 10 * 1024]);
                ws.send(&frame[..frame.len() / 2]).await;
                parked.push(ws);
            }
            Err(status) => {
                assert!(status.starts_with("HTTP/1.1 503"), "refused with {status}");
                refused += 1;
            }
        }
    }
    assert!(
        parked.len() <= MAX_CONNECTIONS / 10,
        "one address holds {} of {MAX_CONNECTIONS} session slots",
        parked.len()
    );
    // Everybody else still gets in.
    for n in 3..6 {
        let mut other = TestClient::connect_from(server.addr(), peer(n)).await;
        other.hello(&format!("other{n}"), None).await;
        other.join("lobby").await;
    }
    let metrics = scrape(server.addr()).await;
    assert_eq!(
        metrics.get_labelled(
            "chat_address_share_refused_total",
            &[("pool", "connections")]
        ),
        f64::from(refused)
    );
}

#[tokio::test]
async fn a_frame_trickled_past_the_frame_timeout_is_closed_with_1008() {
    const FRAME_TIMEOUT: Duration = Duration::from_secs(1);
    let server = ServerProcess::start(ServerOptions {
        extra_args: vec!["--frame-timeout".into(), "1".into()],
        ..ServerOptions::default()
    })
    .await;
    let mut bob = server.guest("bob").await;
    bob.join("lobby").await;

    let mut ws = RawWs::connect_from(server.addr(), peer(2))
        .await
        .expect("upgraded");
    ws.send(&hello_frame("trickler")).await;
    // A 10 KiB message at a byte every 20 ms would take over 3 minutes.
    let payload = format!(
        r#"{{"type":"message","room":"lobby","text":"{}"}}"#,
        "t".repeat(10 * 1024)
    );
    let frame = client_frame(0x81, payload.as_bytes());
    let (mut reader, mut writer) = ws.stream.into_split();
    let started = Instant::now();
    let trickle = tokio::spawn(async move {
        for byte in frame {
            if writer.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let mut raw = Vec::new();
    let closed = timeout(Duration::from_secs(10), async {
        let mut chunk = [0u8; 4096];
        while let Ok(n @ 1..) = reader.read(&mut chunk).await {
            raw.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    let took = started.elapsed();
    trickle.abort();
    assert!(
        closed.is_ok(),
        "the trickled frame was still being read after 10 s"
    );
    // The welcome, then the close frame: 0x88, length, code.
    let close = raw
        .windows(4)
        .rev()
        .find(|w| w[0] == 0x88)
        .map(|w| u16::from_be_bytes([w[2], w[3]]));
    assert_eq!(close, Some(1008), "close frame after {took:?}: {raw:?}");
    assert!(
        took >= FRAME_TIMEOUT && took < FRAME_TIMEOUT + Duration::from_secs(3),
        "closed after {took:?}"
    );
    assert_eq!(
        scrape(server.addr()).await.get("chat_frame_timeouts_total"),
        1.0
    );
    // A client that idled between frames all along is not affected.
    bob.say("lobby", "still here").await;
}

// ----- item 3: output bounded in bytes, keep-alive through writes ------

/// Fills `room` with `count` messages of 4,000 bytes, as `writer`.
async fn fill_room(writer: &mut TestClient, room: &str, count: usize) -> Vec<Message> {
    let text = "l".repeat(4_000);
    let mut acks = Vec::with_capacity(count);
    for _ in 0..count / 50 {
        acks.extend(
            writer
                .say_all(&message_burst(room, 50, |_| text.clone()))
                .await,
        );
    }
    acks
}

#[tokio::test]
async fn a_client_that_reads_nothing_is_dropped_within_two_ping_intervals_mid_write() {
    const PING: Duration = Duration::from_secs(1);
    let server = ServerProcess::start(ServerOptions {
        ping_interval: Some(PING.as_secs()),
        ..ServerOptions::unthrottled()
    })
    .await;
    let mut alice = server.guest("alice").await;
    alice.join("long").await;
    fill_room(&mut alice, "long", 500).await;

    // It asks for three pages of 2 MB each, then reads nothing, ever.
    let mut mute = TestClient::connect_with_small_receive_buffer(server.addr()).await;
    mute.hello("mute", None).await;
    let pages: Vec<ClientFrame> = (0..3)
        .map(|_| ClientFrame::Join {
            room: "long".into(),
            since: None,
            limit: Some(500),
        })
        .collect();
    mute.send_all(&pages).await;
    let asked = Instant::now();
    alice.expect_join("long", "mute").await;
    alice
        .expect_leave_within(2 * PING + Duration::from_secs(2), "long", "mute")
        .await;
    let took = asked.elapsed();
    assert!(
        took >= 2 * PING - Duration::from_millis(100),
        "dropped after {took:?}"
    );
    let metrics = scrape(server.addr()).await;
    assert_eq!(metrics.get("chat_unresponsive_dropped_total"), 1.0);
    server.serve_fresh_client("fresh", "long").await;
}

#[tokio::test]
async fn a_member_that_does_not_read_is_dropped_after_its_outbox_bytes_not_its_frame_count() {
    const OUTBOX_BYTES: usize = 256 * 1024;
    const BATCH: usize = 8;
    /// The default `--outbox` of 1,024 frames is far more than this: the
    /// old count-only bound let a silent member hold 16 MiB of them.
    const MAX_SENT: usize = 600;
    let server = ServerProcess::start(ServerOptions {
        extra_args: vec!["--outbox-bytes".into(), OUTBOX_BYTES.to_string()],
        ..ServerOptions::unthrottled()
    })
    .await;
    let mut olga = server.guest("olga").await;
    olga.join("flood").await;
    let mut sam = TestClient::connect_with_small_receive_buffer(server.addr()).await;
    sam.hello("sam", None).await;
    sam.join("flood").await;
    olga.expect_join("flood", "sam").await;

    let text = bulky_text();
    let mut got: Vec<Message> = Vec::new();
    let mut sent = 0;
    let mut sam_left = false;
    while !sam_left && sent < 2 * MAX_SENT {
        olga.send_all(&message_burst("flood", BATCH, |_| text.clone()))
            .await;
        sent += BATCH;
        while got.len() < sent {
            match olga.recv().await {
                ServerFrame::Message(m) => got.push(m),
                ServerFrame::Leave { user, .. } if user == "sam" => sam_left = true,
                other => panic!("olga: unexpected {other:?}"),
            }
        }
    }
    if !sam_left {
        olga.expect_leave("flood", "sam").await;
    }
    eprintln!("the silent member was dropped after {sent} frames of 16 KiB");
    assert!(
        sent <= MAX_SENT,
        "the silent member was kept through {sent} frames of 16 KiB"
    );
    assert!(got.windows(2).all(|w| w[0].id < w[1].id));
    let metrics = scrape(server.addr()).await;
    assert_eq!(metrics.get("chat_slow_consumers_dropped_total"), 1.0);
}

// ----- item 13: slowed, not refused ------------------------------------

#[tokio::test]
async fn sixty_pasted_lines_at_the_default_rate_limit_all_arrive_in_order() {
    const LINES: usize = 60;
    let server = chat_e2e::start_server().await;
    let mut bob = server.guest("bob").await;
    bob.join("lobby").await;
    let mut alice = server.guest("alice").await;
    alice.join("lobby").await;
    bob.expect_join("lobby", "alice").await;

    let paste: Vec<ClientFrame> = (0..LINES)
        .map(|n| ClientFrame::message("lobby", &format!("line {n}"), Some(format!("p{n}"))))
        .collect();
    let started = Instant::now();
    alice.send_all(&paste).await;
    let mut acks = Vec::with_capacity(LINES);
    for n in 0..LINES {
        match alice.recv().await {
            ServerFrame::Message(ack) => {
                assert_eq!(ack.reference.as_deref(), Some(format!("p{n}").as_str()));
                assert_eq!(ack.text, format!("line {n}"));
                acks.push(ack);
            }
            other => panic!("line {n} was answered with {other:?}"),
        }
    }
    let took = started.elapsed();
    eprintln!("{LINES} lines over the burst were served in {took:?}");
    // 40 banked, one spent on the join, then 20 a second: slowed, not cut.
    assert!(took >= Duration::from_millis(500), "not slowed: {took:?}");
    let received: Vec<Message> = bob.messages(LINES).await;
    assert_eq!(ids(&received), ids(&acks), "everyone got the whole paste");
    bob.barrier().await;
    let metrics = scrape(server.addr()).await;
    assert_eq!(metrics.get("chat_sessions_throttled_total"), 1.0);
}

#[tokio::test]
async fn keep_alive_does_not_drop_sessions_the_server_slows_and_the_log_names_them_once() {
    const SESSIONS: u8 = 2;
    const EACH: usize = 4;
    // One frame a second against pings every 0.4 s: each held frame keeps
    // the session unread for over two ping intervals.
    let server = ServerProcess::start(ServerOptions {
        rate_limit: Some(1),
        rate_burst: Some(1),
        extra_args: vec!["--ping-interval".into(), "0.4".into()],
        ..ServerOptions::default()
    })
    .await;
    let slowed = (0..SESSIONS).map(|n| {
        let addr = server.addr();
        async move {
            let mut client = TestClient::connect_from(addr, peer(4)).await;
            client.hello(&format!("paster{n}"), None).await;
            let room = format!("room{n}");
            client.join(&room).await;
            let acks = client
                .say_all(&message_burst(&room, EACH, |k| format!("line {k}")))
                .await;
            let texts: Vec<String> = acks.into_iter().map(|m| m.text).collect();
            let expected: Vec<String> = (0..EACH).map(|k| format!("line {k}")).collect();
            assert_eq!(
                texts, expected,
                "{room}: the burst arrived whole and in order"
            );
            client.barrier().await;
        }
    });
    timeout(
        Duration::from_secs(30),
        futures_util::future::join_all(slowed),
    )
    .await
    .expect("the slowed sessions were served");
    let metrics = wait_for_metrics(
        server.addr(),
        Duration::from_secs(5),
        "both throttled",
        |m| m.get("chat_sessions_throttled_total") == f64::from(SESSIONS),
    )
    .await;
    assert_eq!(metrics.get("chat_unresponsive_dropped_total"), 0.0);
    server
        .wait_for_log("slowing a session down", 0, Duration::from_secs(10))
        .await;
    let log = server.log();
    let named: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("slowing a session down"))
        .collect();
    assert_eq!(named.len(), 1, "one line for the address: {named:?}");
    assert!(named[0].contains("127.0.0.4"), "{}", named[0]);
}

// ----- item 14: RFC 6455 close codes -----------------------------------

#[tokio::test]
async fn protocol_violations_are_closed_with_their_rfc_6455_codes() {
    let server = ServerProcess::start_default().await;
    let cases: [(&str, Vec<u8>, u16); 4] = [
        ("reserved bit set", client_frame(0x81 | 0x40, b"{}"), 1002),
        ("unknown opcode", client_frame(0x83, b"{}"), 1002),
        (
            "continuation with nothing to continue",
            client_frame(0x80, b"x"),
            1002,
        ),
        (
            "text that is not UTF-8",
            client_frame(0x81, &[0xff, 0xfe, 0x22]),
            1007,
        ),
    ];
    for (n, (what, frame, code)) in cases.into_iter().enumerate() {
        let mut ws = RawWs::connect_from(server.addr(), peer(2))
            .await
            .expect("upgraded");
        ws.send(&hello_frame(&format!("rude{n}"))).await;
        ws.send(&frame).await;
        assert_eq!(
            ws.close_code(Duration::from_secs(5)).await,
            Some(code),
            "{what}"
        );
    }
    let metrics = scrape(server.addr()).await;
    assert_eq!(metrics.get("chat_protocol_violations_total"), 4.0);
    server.serve_fresh_client("fresh", "lobby").await;
}
