//! The browser client: its files embedded in the binary, the headers they
//! are served with, and the `Origin` check on the WebSocket upgrade.
//!
//! Everything here is pure (request facts in, answer out), so the HTTP
//! front door only routes to it: [`page`] for `GET /` and `/static/…`,
//! [`check_origin`] before it answers an upgrade.

/// One embedded file and the path it is served at.
#[derive(Debug, PartialEq, Eq)]
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// Every file of the client. The paths are fixed (no file system lookup),
/// so no request path can reach anything else.
const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: HTML,
        body: include_str!("../web/index.html"),
    },
    Asset {
        path: "/static/style.css",
        content_type: CSS,
        body: include_str!("../web/style.css"),
    },
    Asset {
        path: "/static/icon.svg",
        content_type: SVG,
        body: include_str!("../web/icon.svg"),
    },
    Asset {
        path: "/static/app.js",
        content_type: JS,
        body: include_str!("../web/app.js"),
    },
    Asset {
        path: "/static/net.js",
        content_type: JS,
        body: include_str!("../web/net.js"),
    },
    Asset {
        path: "/static/state.js",
        content_type: JS,
        body: include_str!("../web/state.js"),
    },
    Asset {
        path: "/static/storage.js",
        content_type: JS,
        body: include_str!("../web/storage.js"),
    },
    Asset {
        path: "/static/text.js",
        content_type: JS,
        body: include_str!("../web/text.js"),
    },
    Asset {
        path: "/static/view.js",
        content_type: JS,
        body: include_str!("../web/view.js"),
    },
];

/// The embedded file served at `path` (query string already removed).
pub fn asset(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.path == path)
}

/// A complete answer for a client file: status 200 with these headers.
#[derive(Debug, PartialEq, Eq)]
pub struct Page {
    pub content_type: &'static str,
    pub body: &'static str,
    /// Header name and value pairs besides `Content-Type` and
    /// `Content-Length`.
    pub headers: Vec<(&'static str, String)>,
}

impl Page {
    /// The headers as `Name: value\r\n` lines, as `http::respond` takes them.
    pub fn header_lines(&self) -> String {
        self.headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}\r\n"))
            .collect()
    }
}

/// The answer to `GET path` when `path` is a client file; `host` is the
/// request's `Host` header, which names the WebSocket endpoint in the CSP.
pub fn page(path: &str, host: Option<&str>) -> Option<Page> {
    let asset = asset(path)?;
    Some(Page {
        content_type: asset.content_type,
        body: asset.body,
        headers: security_headers(host),
    })
}

/// Headers that keep the client's page from running or loading anything
/// but its own files, and from being framed or sniffed into another type.
fn security_headers(host: Option<&str>) -> Vec<(&'static str, String)> {
    // Naming the host beside 'self' covers browsers that do not yet count
    // ws:/wss: to the same host as 'self'; a Host header that is not a
    // plain host[:port] is left out rather than echoed into the policy.
    let sockets = match host.filter(|h| is_plain_authority(h)) {
        Some(host) => format!(" ws://{host} wss://{host}"),
        None => String::new(),
    };
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'{sockets}; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    );
    vec![
        ("Content-Security-Policy", csp),
        ("X-Content-Type-Options", "nosniff".to_owned()),
        ("X-Frame-Options", "DENY".to_owned()),
        ("Referrer-Policy", "no-referrer".to_owned()),
        ("Cross-Origin-Opener-Policy", "same-origin".to_owned()),
        ("Cross-Origin-Resource-Policy", "same-origin".to_owned()),
        // The files change with the binary: always revalidate.
        ("Cache-Control", "no-cache".to_owned()),
    ]
}

/// `host` or `host:port` made only of the characters a DNS name, an IPv4
/// address or a bracketed IPv6 address use.
fn is_plain_authority(authority: &str) -> bool {
    !authority.is_empty()
        && authority.len() <= 261
        && authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b))
}

/// Why a WebSocket upgrade was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("origin {origin:?} is neither this server's own nor given to --allow-origin")]
pub struct ForeignOrigin {
    pub origin: String,
}

/// Whether a WebSocket upgrade may go ahead. Allowed: no `Origin` at all
/// (programs such as chat-tui, which a page cannot pretend to be: a
/// browser always sends one), an origin equal to the server's own (from
/// `Host`, over http or https), or one listed in `allowed` (values made by
/// [`parse_origin`]).
pub fn check_origin(
    origin: Option<&str>,
    host: Option<&str>,
    allowed: &[String],
) -> Result<(), ForeignOrigin> {
    let Some(raw) = origin else {
        return Ok(());
    };
    let refused = || ForeignOrigin {
        origin: raw.to_owned(),
    };
    let origin = parse_origin(raw).map_err(|_| refused())?;
    if allowed.contains(&origin) {
        return Ok(());
    }
    let own = host.filter(|h| is_plain_authority(h)).is_some_and(|host| {
        let (scheme, authority) = origin.split_once("://").unwrap_or_default();
        authority == without_default_port(scheme, &host.to_ascii_lowercase())
    });
    if own { Ok(()) } else { Err(refused()) }
}

/// An origin (`http://host[:port]` or `https://…`) in the one spelling
/// that [`check_origin`] compares: lower case, no default port, no
/// trailing slash. Also the parser of `--allow-origin`.
pub fn parse_origin(raw: &str) -> Result<String, String> {
    let lower = raw.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix('/').unwrap_or(&lower);
    let Some((scheme, authority)) = lower.split_once("://") else {
        return Err(format!(
            "{raw:?} is not an origin like http://chat.example.org:8000"
        ));
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!("{raw:?}: an origin is http:// or https://"));
    }
    if !is_plain_authority(authority) {
        return Err(format!(
            "{raw:?}: an origin is a scheme and host[:port], with no path"
        ));
    }
    Ok(format!(
        "{scheme}://{}",
        without_default_port(scheme, authority)
    ))
}

/// `authority` without `:80` for http or `:443` for https, as a browser
/// writes an `Origin`.
fn without_default_port<'a>(scheme: &str, authority: &'a str) -> &'a str {
    let default = if scheme == "https" { ":443" } else { ":80" };
    authority.strip_suffix(default).unwrap_or(authority)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_the_client_files_with_their_types() {
        let index = page("/", Some("127.0.0.1:8000")).unwrap();
        assert_eq!(index.content_type, HTML);
        assert!(index.body.contains("data-test=\"message-list\""));
        assert!(index.body.contains("/static/app.js"));
        assert_eq!(page("/static/app.js", None).unwrap().content_type, JS);
        assert_eq!(page("/static/style.css", None).unwrap().content_type, CSS);
        assert_eq!(page("/static/icon.svg", None).unwrap().content_type, SVG);
        for missing in [
            "/index.html",
            "/static/",
            "/static/../src/web.rs",
            "/ws",
            "",
        ] {
            assert_eq!(page(missing, None), None, "{missing}");
        }
    }

    #[test]
    fn every_module_the_client_imports_is_served() {
        for asset in ASSETS {
            for line in asset.body.lines() {
                let Some((_, rest)) = line.split_once(" from \"./") else {
                    continue;
                };
                let file = rest.split('"').next().unwrap();
                let path = format!("/static/{file}");
                assert!(
                    self::asset(&path).is_some(),
                    "{} imports {path}, which is not embedded",
                    asset.path
                );
            }
        }
    }

    #[test]
    fn pages_carry_a_strict_policy() {
        let headers = page("/", Some("chat.example.org:8000")).unwrap().headers;
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        let csp = get("Content-Security-Policy");
        assert!(
            csp.starts_with("default-src 'none'; script-src 'self';"),
            "{csp}"
        );
        assert!(
            csp.contains(
                "connect-src 'self' ws://chat.example.org:8000 wss://chat.example.org:8000;"
            ),
            "{csp}"
        );
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(get("X-Content-Type-Options"), "nosniff");
        assert_eq!(get("X-Frame-Options"), "DENY");
        let lines = page("/", None).unwrap().header_lines();
        assert!(lines.contains("connect-src 'self'; base-uri"), "{lines}");
        assert!(lines.ends_with("\r\n") && lines.contains("Referrer-Policy: no-referrer\r\n"));
    }

    #[test]
    fn an_https_page_may_open_wss_to_its_own_host() {
        // The policy is the same over http and https (the page picks ws or
        // wss from its own scheme); what matters for TLS is wss://HOST,
        // for the IP-and-port hosts a self-signed set-up uses too.
        for host in ["127.0.0.1:8443", "[::1]:8443", "chat.example.org"] {
            let lines = page("/", Some(host)).unwrap().header_lines();
            let csp = lines
                .lines()
                .find_map(|l| l.strip_prefix("Content-Security-Policy: "))
                .unwrap();
            let connect = csp
                .split("; ")
                .find_map(|d| d.strip_prefix("connect-src "))
                .unwrap();
            let sources: Vec<&str> = connect.split(' ').collect();
            assert!(sources.contains(&format!("wss://{host}").as_str()), "{csp}");
            assert!(sources.contains(&"'self'"), "{csp}");
        }
    }

    #[test]
    fn a_host_header_cannot_write_into_the_policy() {
        let page = page("/", Some("evil.example; script-src *")).unwrap();
        let lines = page.header_lines();
        assert!(!lines.contains("evil"), "{lines}");
        assert!(!lines.contains("script-src *"), "{lines}");
    }

    #[test]
    fn upgrades_without_an_origin_or_from_the_own_origin_are_allowed() {
        let host = Some("127.0.0.1:8000");
        assert_eq!(check_origin(None, host, &[]), Ok(()));
        assert_eq!(check_origin(None, None, &[]), Ok(()));
        assert_eq!(
            check_origin(Some("http://127.0.0.1:8000"), host, &[]),
            Ok(())
        );
        assert_eq!(
            check_origin(Some("https://127.0.0.1:8000"), host, &[]),
            Ok(())
        );
        assert_eq!(
            check_origin(
                Some("HTTP://Chat.Example.org"),
                Some("chat.example.ORG:80"),
                &[]
            ),
            Ok(())
        );
        assert_eq!(
            check_origin(
                Some("https://chat.example.org"),
                Some("chat.example.org:443"),
                &[]
            ),
            Ok(())
        );
    }

    #[test]
    fn upgrades_from_other_origins_are_refused_unless_listed() {
        let host = Some("127.0.0.1:8000");
        for foreign in [
            "http://127.0.0.1:8001",
            "http://localhost:8000",
            "http://evil.example",
            "null",
            "",
            "ftp://127.0.0.1:8000",
            "http://127.0.0.1:8000/path",
        ] {
            assert_eq!(
                check_origin(Some(foreign), host, &[]),
                Err(ForeignOrigin {
                    origin: foreign.to_owned()
                }),
                "{foreign}"
            );
        }
        assert!(check_origin(Some("http://127.0.0.1:8000"), None, &[]).is_err());
        assert!(check_origin(Some("http://x"), Some("x; y"), &[]).is_err());
        let allowed = vec![parse_origin("https://app.example.org/").unwrap()];
        assert_eq!(
            check_origin(Some("https://app.example.org"), host, &allowed),
            Ok(())
        );
        assert!(check_origin(Some("http://app.example.org"), host, &allowed).is_err());
        assert!(check_origin(Some("https://app.example.org:8443"), host, &allowed).is_err());
    }

    #[test]
    fn allowed_origins_are_parsed_to_one_spelling() {
        assert_eq!(
            parse_origin("HTTPS://App.Example.org:443/"),
            Ok("https://app.example.org".to_owned())
        );
        assert_eq!(
            parse_origin("http://127.0.0.1:8080"),
            Ok("http://127.0.0.1:8080".to_owned())
        );
        assert_eq!(
            parse_origin("http://[::1]:80"),
            Ok("http://[::1]".to_owned())
        );
        for bad in ["app.example.org", "ws://x", "http://", "http://x/chat", "*"] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }
}
