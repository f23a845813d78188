//! The HTTP side of a new connection: reads the request head, decides the
//! answer to `/healthz`, `/metrics` and every non-WebSocket request in one
//! pure function ([`response`]) and writes it, and completes the WebSocket
//! upgrade at `/ws`. Doing the upgrade here, rather
//! than inside the WebSocket library, is what lets a plain request get a
//! proper HTTP answer instead of a dropped connection.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
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
pub async fn read_request(stream: &mut (impl AsyncRead + Unpin)) -> Result<Route, HeadError> {
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

/// A complete HTTP response, sent before the connection closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: &'static str,
    pub content_type: &'static str,
    /// Header lines beyond the fixed ones, each ending in CRLF.
    pub extra_headers: String,
    pub body: String,
}

impl Response {
    fn text(status: u16, reason: &'static str, body: impl Into<String>) -> Self {
        Self {
            status,
            reason,
            content_type: "text/plain; charset=utf-8",
            extra_headers: String::new(),
            body: body.into(),
        }
    }

    /// 403 for a WebSocket upgrade from a page whose origin is not allowed
    /// ([`web::check_origin`]).
    pub fn forbidden_origin() -> Self {
        Self::text(
            403,
            "Forbidden",
            "this page's origin may not open the chat WebSocket\n",
        )
    }

    /// The response as it goes on the wire.
    pub fn encode(&self) -> String {
        let Self {
            status,
            reason,
            content_type,
            extra_headers,
            body,
        } = self;
        format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
             Connection: close\r\n{extra_headers}\r\n{body}",
            body.len()
        )
    }
}

/// The HTTP answer to a request head that does not become a session, or
/// `None` when there is nobody to answer. An upgrade answered here is one
/// the server has no session slot for; `/healthz` fails (503) while
/// `storage_fault` says why storage refuses writes. Pure: the caller reads
/// the head, renders the metrics only when asked, and writes what comes
/// back.
pub fn response(
    head: &Result<Route, HeadError>,
    metrics: impl FnOnce() -> String,
    storage_fault: Option<&str>,
) -> Option<Response> {
    let route = match head {
        Ok(route) => route,
        Err(HeadError::Closed | HeadError::Io(_)) => return None,
        Err(e @ HeadError::TooLarge) => {
            return Some(Response {
                content_type: "text/plain",
                ..Response::text(431, "Request Header Fields Too Large", format!("{e}\n"))
            });
        }
        Err(e @ HeadError::Malformed(_)) => {
            return Some(Response {
                content_type: "text/plain",
                ..Response::text(400, "Bad Request", format!("{e}\n"))
            });
        }
    };
    Some(match route {
        Route::Health => match storage_fault {
            None => Response::text(200, "OK", "ok\n"),
            Some(fault) => Response::text(
                503,
                "Service Unavailable",
                format!("storage fault: {fault}\n"),
            ),
        },
        Route::Metrics => Response {
            content_type: "text/plain; version=0.0.4",
            ..Response::text(200, "OK", metrics())
        },
        Route::Page(page) => Response {
            content_type: page.content_type,
            extra_headers: page.header_lines(),
            ..Response::text(200, "OK", page.body)
        },
        Route::Upgrade { .. } => Response {
            extra_headers: "Retry-After: 5\r\n".to_owned(),
            ..Response::text(
                503,
                "Service Unavailable",
                "the server is full; try again later\n",
            )
        },
        Route::Refuse {
            status,
            reason,
            message,
            upgrade_hint,
        } => Response {
            extra_headers: if *upgrade_hint {
                "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n".to_owned()
            } else {
                String::new()
            },
            ..Response::text(*status, reason, *message)
        },
    })
}

/// Writes a response and closes the write side.
pub async fn write_response(
    stream: &mut (impl AsyncWrite + Unpin),
    response: &Response,
) -> std::io::Result<()> {
    stream.write_all(response.encode().as_bytes()).await?;
    stream.shutdown().await
}

/// Completes the WebSocket upgrade.
pub async fn accept_upgrade(
    stream: &mut (impl AsyncWrite + Unpin),
    key: &str,
) -> std::io::Result<()> {
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

    fn answer(head: Result<Route, HeadError>) -> Response {
        response(&head, || "chat_frames_in_total 3\n".to_owned(), None).expect("an answer")
    }

    #[test]
    fn each_route_gets_its_response() {
        assert_eq!(
            answer(Ok(Route::Health)).encode(),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n\
             Connection: close\r\n\r\nok\n"
        );
        let metrics = answer(Ok(Route::Metrics));
        assert_eq!(
            (metrics.status, metrics.content_type, metrics.body.as_str()),
            (200, "text/plain; version=0.0.4", "chat_frames_in_total 3\n")
        );
        let full = answer(Ok(Route::Upgrade {
            key: "k".into(),
            leftover: Vec::new(),
            origin: None,
            host: None,
        }));
        assert_eq!(
            full.encode(),
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 36\r\nConnection: close\r\nRetry-After: 5\r\n\r\n\
             the server is full; try again later\n"
        );
        let refused = answer(Ok(parse("GET /ws HTTP/1.1\r\n\r\n")));
        assert_eq!(refused.status, 426);
        assert_eq!(
            refused.extra_headers,
            "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        );
        assert_eq!(refused.body, "this endpoint speaks WebSocket only\n");
        let missing = answer(Ok(parse("GET /nope HTTP/1.1\r\n\r\n")));
        assert_eq!((missing.status, missing.extra_headers.as_str()), (404, ""));
        let page = answer(Ok(parse("GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n")));
        assert_eq!(
            (page.status, page.content_type),
            (200, "text/html; charset=utf-8")
        );
        assert!(
            page.extra_headers.contains("Content-Security-Policy: "),
            "{page:?}"
        );
        assert!(page.body.contains("data-test=\"message-list\""), "{page:?}");
    }

    #[test]
    fn health_fails_while_storage_has_a_fault() {
        let failing =
            response(&Ok(Route::Health), String::new, Some("the disk is full")).expect("an answer");
        assert_eq!(
            (failing.status, failing.body.as_str()),
            (503, "storage fault: the disk is full\n")
        );
    }

    #[test]
    fn a_bad_head_gets_a_plain_error_or_nothing() {
        let too_large = answer(Err(HeadError::TooLarge));
        assert_eq!(
            (too_large.status, too_large.content_type),
            (431, "text/plain")
        );
        assert_eq!(too_large.body, format!("{}\n", HeadError::TooLarge));
        let malformed = answer(Err(HeadError::Malformed("invalid token".into())));
        assert_eq!(malformed.status, 400);
        assert_eq!(malformed.body, "malformed request: invalid token\n");
        let unasked = |head| response(&head, || panic!("metrics rendered unasked"), None);
        assert_eq!(unasked(Err(HeadError::Closed)), None);
        assert_eq!(
            unasked(Err(HeadError::Io(
                std::io::ErrorKind::ConnectionReset.into()
            ))),
            None
        );
        assert!(unasked(Ok(Route::Health)).is_some());
    }
}
