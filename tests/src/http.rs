//! Plain HTTP requests written by hand on a raw TCP socket (or any open
//! stream, TLS included), to check what the server answers to requests
//! that are not WebSocket upgrades.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};

/// The largest response head the tests read before giving up.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// A parsed HTTP response: the status code and everything received.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub raw: String,
}

impl HttpResponse {
    /// The body (after the blank line), as received so far.
    pub fn body(&self) -> &str {
        self.raw.split_once("\r\n\r\n").map_or("", |(_, body)| body)
    }
}

/// Sends `GET path` and reads the response until the connection closes or
/// the body announced by `Content-Length` has arrived.
pub async fn http_get(addr: SocketAddr, path: &str, limit: Duration) -> HttpResponse {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: chat-e2e\r\nConnection: close\r\n\r\n"
    );
    http_raw(addr, request.as_bytes(), limit).await
}

/// Sends raw bytes and parses whatever HTTP response comes back.
pub async fn http_raw(addr: SocketAddr, request: &[u8], limit: Duration) -> HttpResponse {
    let deadline = Instant::now() + limit;
    let mut stream = timeout(limit, TcpStream::connect(addr))
        .await
        .expect("TCP connect timed out")
        .expect("TCP connect to the server");
    exchange(&mut stream, request, deadline).await
}

/// Writes `request` on an open stream (plain or TLS) and reads the
/// response until it is complete or the stream ends, by `deadline`.
pub async fn exchange(
    stream: &mut (impl AsyncRead + AsyncWrite + Unpin),
    request: &[u8],
    deadline: Instant,
) -> HttpResponse {
    match timeout_at(deadline, stream.write_all(request)).await {
        Ok(written) => written.expect("request written"),
        Err(_) => panic!("writing the request blocked past the deadline"),
    }
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(response) = complete_response(&received) {
            return response;
        }
        assert!(
            received.len() < MAX_RESPONSE_BYTES,
            "response over {MAX_RESPONSE_BYTES} bytes"
        );
        match timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => panic!(
                "no complete HTTP response by the deadline; received {:?}",
                String::from_utf8_lossy(&received)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
    let raw = String::from_utf8_lossy(&received).into_owned();
    let status = parse_status(&raw).unwrap_or_else(|| {
        panic!("the server closed the connection without an HTTP response: {raw:?}")
    });
    HttpResponse { status, raw }
}

fn parse_status(raw: &str) -> Option<u16> {
    let line = raw.lines().next()?;
    let mut parts = line.split(' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    parts.next()?.parse().ok()
}

/// A response whose head and `Content-Length` body have fully arrived.
fn complete_response(received: &[u8]) -> Option<HttpResponse> {
    let text = String::from_utf8_lossy(received);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let length = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())
            .flatten()
    })?;
    if body.len() < length {
        return None;
    }
    Some(HttpResponse {
        status: parse_status(head)?,
        raw: text.into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_lines() {
        assert_eq!(parse_status("HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status("HTTP/1.0 404 Not Found\r\n"), Some(404));
        assert_eq!(parse_status("SSH-2.0\r\n"), None);
    }

    #[test]
    fn a_response_is_complete_once_its_body_arrived() {
        assert!(complete_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\no").is_none());
        let done = complete_response(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").unwrap();
        assert_eq!((done.status, done.body()), (200, "ok"));
    }
}
