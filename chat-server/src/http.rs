//! The HTTP side of a new connection: reads the request head, answers
//! `/healthz`, `/metrics` and every non-WebSocket request itself, and
//! completes the WebSocket upgrade at `/ws`. Doing the upgrade here, rather
//! than inside the WebSocket library, is what lets a plain request get a
//! proper HTTP answer instead of a dropped connection.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::limits::MAX_REQUEST_HEAD_BYTES;
use crate::web;

/// The most headers a request may have.
const MAX_HEADERS: usize = 32;

/// What the request asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// A valid WebSocket upgrade at `/ws`: the client's key, and any bytes
    /// it sent after the head (the start of its first frame).
    Upgrade {
        key: String,
        leftover: Vec<u8>,
        /// The `Origin` and `Host` headers, for [`web::check_origin`].
        origin: Option<String>,
        host: Option<String>,
    },
    /// A file of the browser client.
    Page(web::Page),
    Health,
    Metrics,
    /// Anything else: answered with this status and message, then closed.
    Refuse {
        status: u16,
        reason: &'static str,
        message: &'static str,
        upgrade_hint: bool,
    },
}

/// Why no request head could be read.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    #[error("connection closed before a full request head")]
    Closed,
    #[error("request head over {MAX_REQUEST_HEAD_BYTES} bytes")]
    TooLarge,
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("reading the request: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one request head and decides its route.
pub async fn read_request(stream: &mut TcpStream) -> Result<Route, HeadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(HeadError::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buf) {
            Ok(httparse::Status::Complete(head_len)) => {
                return Ok(route(
                    &request,
                    buf.get(head_len..).unwrap_or_default().to_vec(),
                ));
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_REQUEST_HEAD_BYTES => {}
            Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => {
                return Err(HeadError::TooLarge);
            }
            Err(e) => return Err(HeadError::Malformed(e.to_string())),
        }
    }
}

fn header<'a>(request: &'a httparse::Request<'_, '_>, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .map(str::trim)
}

fn has_token(value: Option<&str>, token: &str) -> bool {
    value.is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

fn route(request: &httparse::Request<'_, '_>, leftover: Vec<u8>) -> Route {
    let path = request.path.unwrap_or("/").split('?').next().unwrap_or("/");
    let method = request.method.unwrap_or("");
    let refuse = |status, reason, message, upgrade_hint| Route::Refuse {
        status,
        reason,
        message,
        upgrade_hint,
    };
    match (method, path) {
        ("GET" | "HEAD", "/healthz") => Route::Health,
        ("GET" | "HEAD", "/metrics") => Route::Metrics,
        ("GET", "/ws") => {
            let upgrade = has_token(header(request, "connection"), "upgrade")
                && has_token(header(request, "upgrade"), "websocket");
            if !upgrade {
                return refuse(
                    426,
                    "Upgrade Required",
                    "this endpoint speaks WebSocket only\n",
                    true,
                );
            }
            if header(request, "sec-websocket-version") != Some("13") {
                return refuse(
                    426,
                    "Upgrade Required",
                    "WebSocket version 13 is required\n",
                    true,
                );
            }
            match header(request, "sec-websocket-key") {
                Some(key) if !key.is_empty() => Route::Upgrade {
                    key: key.to_owned(),
                    leftover,
                    origin: header(request, "origin").map(str::to_owned),
                    host: header(request, "host").map(str::to_owned),
                },
                _ => refuse(400, "Bad Request", "missing Sec-WebSocket-Key\n", false),
            }
        }
        (_, "/ws" | "/healthz" | "/metrics") => {
            refuse(405, "Method Not Allowed", "method not allowed\n", false)
        }
        _ => match web::page(path, header(request, "host")) {
            Some(page) if method == "GET" => Route::Page(page),
            _ => refuse(
                404,
                "Not Found",
                "not found: the chat endpoint is /ws\n",
                false,
            ),
        },
    }
}

/// Writes a complete plain-text response and closes the write side.
pub async fn respond(
    stream: &mut TcpStream,
    status: u16,
    reason: &str,
    content_type: &str,
    body: &str,
    extra_headers: &str,
) -> std::io::Result<()> {
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n{extra_headers}\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// Answers a refused route.
pub async fn refuse(stream: &mut TcpStream, route: &Route) -> std::io::Result<()> {
    if let Route::Refuse {
        status,
        reason,
        message,
        upgrade_hint,
    } = route
    {
        let extra = if *upgrade_hint {
            "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        } else {
            ""
        };
        respond(
            stream,
            *status,
            reason,
            "text/plain; charset=utf-8",
            message,
            extra,
        )
        .await?;
    }
    Ok(())
}

/// Completes the WebSocket upgrade.
pub async fn accept_upgrade(stream: &mut TcpStream, key: &str) -> std::io::Result<()> {
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    );
    stream.write_all(response.as_bytes()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Route {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        let head_len = match request.parse(raw.as_bytes()).unwrap() {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => panic!("partial"),
        };
        route(&request, raw.as_bytes()[head_len..].to_vec())
    }

    #[test]
    fn routes_requests() {
        assert_eq!(
            parse("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
            Route::Health
        );
        assert_eq!(parse("GET /metrics?x=1 HTTP/1.1\r\n\r\n"), Route::Metrics);
        assert!(matches!(
            parse("GET /?room=lobby HTTP/1.1\r\nHost: x\r\n\r\n"),
            Route::Page(web::Page { body, .. }) if body.contains("message-list")
        ));
        assert!(matches!(
            parse("GET /index.html HTTP/1.1\r\n\r\n"),
            Route::Refuse { status: 404, .. }
        ));
        assert!(matches!(
            parse("POST /ws HTTP/1.1\r\n\r\n"),
            Route::Refuse { status: 405, .. }
        ));
        assert!(matches!(
            parse("GET /ws HTTP/1.1\r\n\r\n"),
            Route::Refuse { status: 426, .. }
        ));
        let upgrade = "GET /ws HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\n\
                       Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\nX";
        assert_eq!(
            parse(upgrade),
            Route::Upgrade {
                key: "dGhlIHNhbXBsZSBub25jZQ==".into(),
                leftover: b"X".to_vec(),
                origin: None,
                host: None,
            }
        );
        let old_version = upgrade.replace("Version: 13", "Version: 8");
        assert!(matches!(
            parse(&old_version),
            Route::Refuse { status: 426, .. }
        ));
    }
}
