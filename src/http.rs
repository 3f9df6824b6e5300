//! The one HTTP agent every request goes through.
//!
//! It owns the policies users rely on without thinking about them: connect and read timeouts,
//! a `shipline/<version>` user agent, retries of idempotent requests on 429, 5xx and connection
//! errors with exponential backoff and jitter, `Retry-After` honoured, requests spaced out when
//! `RateLimit-Remaining` runs low (or, for GitHub, `x-ratelimit-remaining`: spread over the
//! time left until `x-ratelimit-reset`; a 403 with nothing remaining waits for the reset when
//! the deadline allows), a step deadline no wait may cross, and no secret in any
//! message: errors name the service, method and path, never a token or a pre-signed query.

use std::cell::Cell;
use std::fmt;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use ureq::Agent;

use crate::ci;
use crate::network;
use crate::tls;

/// The user agent sent with every request.
pub const USER_AGENT: &str = concat!("shipline/", env!("CARGO_PKG_VERSION"));

/// When fewer requests than this remain in the service's rate-limit window, requests are spaced
/// out so a deploy slows down instead of failing with 429.
const LOW_RATE_LIMIT: u64 = 20;

/// Whether a request may be sent again after a failure that might have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// GET, PUT, DELETE, or a POST whose repetition is harmless: retried on 429, 5xx and
    /// connection errors.
    Idempotent,
    /// A POST that creates something (a build, a release): retried only when the server said it
    /// did not process it (429). A 5xx or a dropped connection could mean it was done once.
    Once,
}

/// The body of a request.
pub enum Body<'a> {
    /// No body.
    Empty,
    /// A JSON document, sent with `Content-Type: application/json`.
    Json(&'a serde_json::Value),
    /// A file, streamed with an exact `Content-Length` and no `Content-Type` (pre-signed
    /// upload URLs are signed without one).
    File(&'a Path),
    /// Bytes already serialized, sent with this exact `Content-Type` (Slack wants
    /// `application/json; charset=utf-8`, and warns `missing_charset` without the charset).
    Bytes(&'a [u8], &'static str),
}

/// A request to a service.
pub struct Request<'a> {
    method: &'static str,
    target: String,
    headers: Vec<(&'static str, String)>,
    body: Body<'a>,
    retry: Retry,
    shown: Option<String>,
}

impl<'a> Request<'a> {
    /// A GET of `target` (a path under the service's base URL, or an absolute URL).
    pub fn get(target: impl Into<String>) -> Request<'a> {
        Request::new("GET", target, Retry::Idempotent)
    }

    /// A POST of `target`; `retry` says whether repeating it is harmless.
    pub fn post(target: impl Into<String>, retry: Retry) -> Request<'a> {
        Request::new("POST", target, retry)
    }

    /// A PUT of `target`.
    pub fn put(target: impl Into<String>) -> Request<'a> {
        Request::new("PUT", target, Retry::Idempotent)
    }

    fn new(method: &'static str, target: impl Into<String>, retry: Retry) -> Request<'a> {
        Request {
            method,
            target: target.into(),
            headers: Vec::new(),
            body: Body::Empty,
            retry,
            shown: None,
        }
    }

    /// Sets how messages and errors show the target, for a URL whose path is itself a secret
    /// (a Slack webhook): by default they show the target without its query string.
    pub fn shown_as(mut self, shown: impl Into<String>) -> Request<'a> {
        self.shown = Some(shown.into());
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Request<'a> {
        self.headers.push((name, value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: Body<'a>) -> Request<'a> {
        self.body = body;
        self
    }
}

/// A service's answer, whatever its status.
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    headers: Vec<(String, String)>,
    /// The body (API answers are small; streams use [`Client::open_stream`]).
    pub body: Vec<u8>,
    /// `METHOD path` of the request, for messages.
    pub request: String,
}

impl Reply {
    /// A reply made up for unit tests of response handling.
    #[cfg(test)]
    pub fn for_test(status: u16, body: &[u8], request: &str) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.to_vec(),
            request: request.to_string(),
        }
    }

    /// A response header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A failure to get any answer from a service (after retries).
#[derive(Debug)]
pub struct TransportError {
    /// The service, e.g. `Heroku`.
    pub service: &'static str,
    /// `METHOD path`, without query string.
    pub request: String,
    /// What went wrong, e.g. `could not connect: Connection refused`.
    pub cause: String,
    /// How many attempts were made.
    pub attempts: u32,
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.service, self.request, self.cause)?;
        if self.attempts > 1 {
            write!(f, " (after {} attempts)", self.attempts)?;
        }
        Ok(())
    }
}

impl std::error::Error for TransportError {}

/// How retries are paced.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The first delay; each next one doubles, with jitter.
    pub first: Duration,
    /// The longest delay between two attempts.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            attempts: 5,
            first: Duration::from_millis(500),
            max: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The delay before attempt `attempt + 1` (`attempt` starts at 1), with ±25 % jitter so
    /// concurrent CI jobs do not retry in lockstep.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = self
            .first
            .saturating_mul(1u32 << (attempt.saturating_sub(1)).min(16));
        let base = exp.min(self.max);
        base.mul_f64(0.75 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

/// A client for one service: its base URL, default headers and credentials.
pub struct Client {
    service: &'static str,
    base: String,
    agent: Agent,
    headers: Vec<(&'static str, String)>,
    backoff: Backoff,
    deadline: Option<Instant>,
    remaining: Cell<Option<u64>>,
    /// GitHub's window: (`x-ratelimit-remaining`, `x-ratelimit-reset` unix seconds).
    window: Cell<Option<(u64, u64)>>,
    refill: Duration,
    slowed_down: Cell<bool>,
    seed: Cell<u64>,
}

impl Client {
    /// A client for `service` at `base` (no trailing slash needed). `refill` is how long the
    /// service takes to give back one rate-limit token (Heroku: 0.8 s).
    pub fn new(service: &'static str, base: &str, refill: Duration) -> Client {
        let network = network::get().ok();
        let config = agent_config(network, base)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .timeout_per_read(Some(Duration::from_secs(60)))
            .build();
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            ^ (u64::from(std::process::id()) << 32);
        Client {
            service,
            base: base.trim_end_matches('/').to_string(),
            agent: tls::agent(config, tls_of(network)),
            headers: Vec::new(),
            backoff: Backoff::default(),
            deadline: None,
            remaining: Cell::new(None),
            window: Cell::new(None),
            refill,
            slowed_down: Cell::new(false),
            seed: Cell::new(seed | 1),
        }
    }

    /// Adds a header sent with every request to the service's base URL (never to absolute URLs
    /// such as pre-signed uploads, which must not see credentials).
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Client {
        self.headers.push((name, value.into()));
        self
    }

    /// Sets the step's deadline: no retry delay or wait crosses it.
    pub fn with_deadline(mut self, deadline: Instant) -> Client {
        self.deadline = Some(deadline);
        self
    }

    fn jitter(&self) -> f64 {
        // xorshift64: enough to de-synchronise retries, no dependency needed.
        let mut x = self.seed.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    fn url(&self, target: &str) -> (String, bool) {
        if target.starts_with("http://") || target.starts_with("https://") {
            (target.to_string(), false)
        } else {
            (format!("{}{}", self.base, target), true)
        }
    }

    /// Sends a request, retrying as its [`Retry`] allows, and returns the final answer whatever
    /// its status. Only the absence of any answer is an error.
    pub fn send(&self, request: Request<'_>) -> Result<Reply> {
        let (url, to_base) = self.url(&request.target);
        let target = match &request.shown {
            Some(shown) => shown.clone(),
            None => display_target(&request.target),
        };
        let shown = format!("{} {target}", request.method);
        let mut attempt = 1;
        loop {
            // A cancelled job sends nothing more: what is in flight is recorded from what the
            // step already knows.
            crate::signal::check()?;
            self.pace()?;
            match self.attempt(&request, &url, to_base) {
                Ok(reply) => {
                    if let Some(n) = reply
                        .header("RateLimit-Remaining")
                        .and_then(|v| v.trim().parse::<u64>().ok())
                    {
                        self.remaining.set(Some(n));
                    }
                    let number = |name: &str| {
                        reply
                            .header(name)
                            .and_then(|v| v.trim().parse::<u64>().ok())
                    };
                    let window = number("x-ratelimit-remaining").zip(number("x-ratelimit-reset"));
                    if window.is_some() {
                        self.window.set(window);
                    }
                    let used_up = reply.status == 403 && window.is_some_and(|(left, _)| left == 0);
                    let retryable = match reply.status {
                        429 => true,
                        403 => used_up,
                        500..=599 => request.retry == Retry::Idempotent,
                        _ => false,
                    };
                    if !retryable || attempt >= self.backoff.attempts {
                        return Ok(Reply {
                            request: shown,
                            ..reply
                        });
                    }
                    let wait = retry_after(&reply)
                        .or_else(|| {
                            window.filter(|_| used_up).map(|(_, reset)| {
                                until(reset).max(self.backoff.delay(attempt, self.jitter()))
                            })
                        })
                        .unwrap_or_else(|| self.backoff.delay(attempt, self.jitter()));
                    let wait = if reply.status == 429 {
                        wait.max(self.backoff.delay(attempt, self.jitter()))
                    } else {
                        wait
                    };
                    if !self.fits_deadline(wait) {
                        return Ok(Reply {
                            request: shown,
                            ..reply
                        });
                    }
                    self.retry_after(&shown, &format!("answered {}", reply.status), wait, attempt)?;
                }
                Err(failure) => {
                    let may_retry = !failure.permanent
                        && (request.retry == Retry::Idempotent || failure.before_sending);
                    let wait = self.backoff.delay(attempt, self.jitter());
                    if !may_retry || attempt >= self.backoff.attempts || !self.fits_deadline(wait) {
                        return Err(anyhow!(TransportError {
                            service: self.service,
                            request: shown,
                            cause: failure.cause,
                            attempts: attempt,
                        }));
                    }
                    self.retry_after(&shown, &format!("failed: {}", failure.cause), wait, attempt)?;
                }
            }
            attempt += 1;
        }
    }

    /// Says why the request `shown` is tried again (`what` happened) and waits `wait` before
    /// attempt `attempt + 1`; a cancelled job stops the wait (and the retry).
    fn retry_after(&self, shown: &str, what: &str, wait: Duration, attempt: u32) -> Result<()> {
        ci::say(&format!(
            "{} {shown} {what}; retrying in {} (attempt {} of {})",
            self.service,
            crate::time::human(wait),
            attempt + 1,
            self.backoff.attempts
        ));
        crate::signal::sleep(wait)
    }

    fn fits_deadline(&self, wait: Duration) -> bool {
        self.deadline.is_none_or(|deadline| {
            Instant::now()
                .checked_add(wait)
                .is_some_and(|end| end < deadline)
        })
    }

    /// Spaces requests out while the rate-limit window is nearly used up: one token's refill
    /// time per request, which keeps the bucket from running dry.
    fn pace(&self) -> Result<()> {
        if let Some((left, reset)) = self.window.get() {
            self.pace_window(left, reset)?;
        }
        let Some(remaining) = self.remaining.get() else {
            return Ok(());
        };
        if remaining >= LOW_RATE_LIMIT {
            return Ok(());
        }
        if !self.slowed_down.replace(true) {
            ci::warn(&format!(
                "{} rate limit nearly used up ({remaining} requests left); slowing down to one request every {}",
                self.service,
                crate::time::human(self.refill)
            ));
        }
        if self.fits_deadline(self.refill) {
            crate::signal::sleep(self.refill)?;
        }
        Ok(())
    }

    /// GitHub's pacing: while fewer than [`LOW_RATE_LIMIT`] requests are left in the window,
    /// the time until it resets is shared out among them (at most a minute per request).
    fn pace_window(&self, left: u64, reset: u64) -> Result<()> {
        if left >= LOW_RATE_LIMIT {
            return Ok(());
        }
        let gap = until(reset)
            .div_f64(left.max(1) as f64)
            .min(Duration::from_secs(60));
        if gap.is_zero() {
            return Ok(());
        }
        if !self.slowed_down.replace(true) {
            ci::warn(&format!(
                "{} rate limit nearly used up ({left} requests left until it resets in {}); slowing down to one request every {}",
                self.service,
                crate::time::human(until(reset)),
                crate::time::human(gap)
            ));
        }
        if self.fits_deadline(gap) {
            crate::signal::sleep(gap)?;
        }
        Ok(())
    }

    fn attempt(&self, request: &Request<'_>, url: &str, to_base: bool) -> Result<Reply, Failure> {
        let mut builder = ureq::http::Request::builder()
            .method(request.method)
            .uri(url);
        if to_base {
            for (name, value) in &self.headers {
                builder = builder.header(*name, value);
            }
        }
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        let result = match &request.body {
            Body::Empty => {
                let req = builder.body(()).map_err(Failure::local)?;
                self.agent.run(req)
            }
            Body::Json(value) => {
                let bytes = serde_json::to_vec(value).map_err(Failure::local)?;
                let req = builder
                    .header("Content-Type", "application/json")
                    .body(bytes)
                    .map_err(Failure::local)?;
                self.agent.run(req)
            }
            Body::Bytes(bytes, content_type) => {
                let req = builder
                    .header("Content-Type", *content_type)
                    .body(bytes.to_vec())
                    .map_err(Failure::local)?;
                self.agent.run(req)
            }
            Body::File(path) => {
                let file = std::fs::File::open(path).map_err(|e| Failure {
                    cause: format!("could not open {}: {e}", path.display()),
                    before_sending: true,
                    permanent: false,
                })?;
                let req = builder.body(file).map_err(Failure::local)?;
                self.agent.run(req)
            }
        };
        let mut response = result.map_err(|e| Failure::from_ureq(e, url))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(32 * 1024 * 1024)
            .read_to_vec()
            .map_err(|e| Failure::from_ureq(e, url))?;
        Ok(Reply {
            status,
            headers,
            body,
            request: String::new(),
        })
    }

    /// Opens a long-lived text stream (build output) and returns its reader, or the status when
    /// the server answered something other than 200 (a release stream answers 404 until the
    /// release phase starts). A stream may stay open for the whole build, so only the gap
    /// between two reads is bounded, not the total.
    pub fn open_stream(&self, target: &str, idle: Duration) -> Result<Stream> {
        let (url, to_base) = self.url(target);
        let shown = format!("GET {}", display_target(target));
        let mut builder = self
            .agent
            .get(&url)
            .config()
            .timeout_recv_body(None)
            .timeout_per_read(Some(idle))
            .build();
        if to_base {
            for (name, value) in &self.headers {
                builder = builder.header(*name, value);
            }
        }
        let response = builder.call().map_err(|e| {
            anyhow!(TransportError {
                service: self.service,
                request: shown.clone(),
                cause: Failure::from_ureq(e, &url).cause,
                attempts: 1,
            })
        })?;
        let status = response.status().as_u16();
        if status != 200 {
            return Ok(Stream::Status(status));
        }
        Ok(Stream::Open(Box::new(response.into_body().into_reader())))
    }
}

/// What one endpoint check saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The endpoint answered.
    Answered {
        /// The HTTP status.
        status: u16,
        /// How long the answer took (headers and body).
        latency: Duration,
        /// The body, up to [`PROBE_BODY_LIMIT`] bytes, lossily decoded.
        body: String,
        /// `Location` of a redirect that was not followed.
        location: Option<String>,
    },
    /// No answer: the kind of failure and its detail.
    Unreachable {
        /// What kind of failure, in the user's words.
        kind: Unreachable,
        /// The underlying error.
        detail: String,
        /// How long until it failed.
        latency: Duration,
    },
}

/// Why an endpoint could not be reached; each has its own fix, so they are told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreachable {
    /// Nothing accepted the connection.
    Refused,
    /// No answer within the per-request timeout.
    TimedOut,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// The host name did not resolve.
    Dns,
    /// The connection broke in another way.
    Other,
}

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unreachable::Refused => "could not connect (connection refused)",
            Unreachable::TimedOut => "timed out",
            Unreachable::Tls => "TLS error",
            Unreachable::Dns => "host not found",
            Unreachable::Other => "connection error",
        })
    }
}

/// How much of an endpoint's body is kept for matching and reports.
pub const PROBE_BODY_LIMIT: u64 = 1024 * 1024;

/// What a path segment or a query value keeps as it is: RFC 3986's unreserved characters.
const ENCODED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// One path segment (or query value) of an API request, percent-encoded: a name from a flag
/// or an API answer can neither add a segment (`a/b`), a query (`?`), a fragment (`#`), nor
/// climb the API's path (`..`). The one function every client builds its paths with.
pub fn segment(text: &str) -> String {
    match text {
        "." => "%2E".into(),
        ".." => "%2E%2E".into(),
        _ => percent_encoding::utf8_percent_encode(text, ENCODED).to_string(),
    }
}

/// Checks a URL that a credential is sent to (a service's base URL, a webhook URL): `https://`,
/// or `http://` to this machine only (the sandbox, a local tunnel). A key never crosses a
/// network in cleartext. `Err` says why, for a configuration error naming `var`.
pub fn check_credential_url(var: &str, url: &str) -> Result<(), String> {
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Ok(());
    }
    let Some(rest) = lower.strip_prefix("http://") else {
        return Err(format!(
            "{var} must be an https:// URL; it does not start with https:// (its value is not shown)"
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(format!(
            "{var} is a plain http:// URL to {host}: shipline would send the credential unencrypted; use https:// (plain http is accepted only for this machine: localhost, 127.0.0.1, [::1])"
        ))
    }
}

/// The TLS configuration of the network settings, or Mozilla's roots alone without them.
fn tls_of(network: Option<&network::Network>) -> std::sync::Arc<rustls::ClientConfig> {
    network.map_or_else(tls::mozilla_only, network::Network::tls)
}

/// How many redirects `--follow-redirects` follows.
const MAX_REDIRECTS: usize = 10;

/// What every connection shipline makes shares: HTTP statuses as answers (not errors), its
/// user agent, redirects left to the caller, and the proxy for `url`'s scheme. The caller adds
/// its timeouts, and [`tls::agent`] the certificates to trust.
fn agent_config(
    network: Option<&network::Network>,
    url: &str,
) -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
    Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(USER_AGENT)
        .max_redirects(0)
        .proxy(
            network
                .and_then(|n| n.proxy_for_scheme(url))
                .map(|r| r.proxy.clone()),
        )
}

/// Sends one GET to an endpoint being verified: no retries (the verify loop retries with its
/// own deadline), redirects followed only when asked, and every failure classified.
///
/// Redirects are followed here rather than by the HTTP library, so that the user's
/// `--check-header` values (often API keys) go only to the origin they were given for: a
/// redirect to another scheme, host or port gets the request without them.
pub fn probe(
    url: &str,
    headers: &[(String, String)],
    follow_redirects: bool,
    timeout: Duration,
) -> Probe {
    let network = network::get().ok();
    let agent_for = |url: &str| -> Agent {
        tls::agent(
            agent_config(network, url)
                .timeout_global(Some(timeout))
                .build(),
            tls_of(network),
        )
    };
    let started = Instant::now();
    let origin = origin_of(url);
    let mut current = url.to_string();
    let mut hops = 0;
    loop {
        let agent = agent_for(&current);
        let mut request = agent.get(&current);
        if origin_of(&current) == origin {
            for (name, value) in headers {
                request = request.header(name.as_str(), value.as_str());
            }
        }
        let probe = answer(request.call(), &current, started);
        let next = match &probe {
            Probe::Answered {
                status,
                location: Some(location),
                ..
            } if follow_redirects && (300..400).contains(status) && hops < MAX_REDIRECTS => {
                resolve(&current, location)
            }
            _ => None,
        };
        match next {
            Some(next) => {
                current = next;
                hops += 1;
            }
            None => return probe,
        }
    }
}

/// `scheme://host:port` of a URL, lowercased: where a header may go.
fn origin_of(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return String::new();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    let scheme = scheme.to_ascii_lowercase();
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()));
    let authority = authority.to_ascii_lowercase();
    if has_port {
        format!("{scheme}://{authority}")
    } else {
        format!("{scheme}://{authority}{default_port}")
    }
}

/// Where a `Location` points, from the URL that answered it: absolute, scheme-relative,
/// absolute-path or relative-path forms.
fn resolve(base: &str, location: &str) -> Option<String> {
    let location = location.trim();
    if location.starts_with("http://") || location.starts_with("https://") {
        return Some(location.to_string());
    }
    let (scheme, rest) = base.split_once("://")?;
    if let Some(rest) = location.strip_prefix("//") {
        return Some(format!("{scheme}://{rest}"));
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let root = format!("{scheme}://{}", &rest[..authority_end]);
    if location.starts_with('/') {
        return Some(format!("{root}{location}"));
    }
    let path = rest[authority_end..]
        .split(['?', '#'])
        .next()
        .unwrap_or_default();
    let dir = match path.rfind('/') {
        Some(at) => &path[..=at],
        None => "/",
    };
    Some(format!("{root}{dir}{location}"))
}

/// Reads an answer (or classifies the failure), timing it from `started`.
fn answer(
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    url: &str,
    started: Instant,
) -> Probe {
    let unreachable = |e: ureq::Error, started: Instant| {
        use ureq::Error as E;
        let kind = match &e {
            E::Timeout(_) => Unreachable::TimedOut,
            E::HostNotFound => Unreachable::Dns,
            E::ConnectionFailed => Unreachable::Refused,
            _ if tls_error(&e).is_some() => Unreachable::Tls,
            E::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => Unreachable::Refused,
            E::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => Unreachable::TimedOut,
            E::Tls(_) => Unreachable::Tls,
            _ => Unreachable::Other,
        };
        Probe::Unreachable {
            kind,
            detail: describe(&e, url),
            latency: started.elapsed(),
        }
    };
    let mut response = match result {
        Ok(response) => response,
        Err(e) => return unreachable(e, started),
    };
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut bytes = Vec::new();
    let read = response
        .body_mut()
        .with_config()
        .limit(u64::MAX)
        .reader()
        .take(PROBE_BODY_LIMIT)
        .read_to_end(&mut bytes);
    if let Err(e) = read {
        return Probe::Unreachable {
            kind: if e.kind() == std::io::ErrorKind::TimedOut {
                Unreachable::TimedOut
            } else {
                Unreachable::Other
            },
            detail: format!("the body broke off: {e}"),
            latency: started.elapsed(),
        };
    }
    let body = String::from_utf8_lossy(&bytes).into_owned();
    Probe::Answered {
        status,
        latency: started.elapsed(),
        body,
        location,
    }
}

/// An opened output stream.
pub enum Stream {
    /// The stream's body, read as it arrives.
    Open(Box<dyn Read + Send>),
    /// The server's status when it was not 200.
    Status(u16),
}

/// A failed attempt, before any status was received.
struct Failure {
    cause: String,
    /// The request certainly did not reach the server (e.g. connection refused), so even a
    /// non-idempotent request may be sent again.
    before_sending: bool,
    /// Trying again cannot help (a certificate the server will present again): no retry.
    permanent: bool,
}

impl Failure {
    fn local(e: impl fmt::Display) -> Failure {
        Failure {
            cause: format!("could not build the request: {e}"),
            before_sending: true,
            permanent: false,
        }
    }

    /// What went wrong with a request to `url`, in the user's words: a TLS failure says what
    /// to do and is not retried; a failure reaching a proxy names the variable that set it.
    fn from_ureq(e: ureq::Error, url: &str) -> Failure {
        let permanent = tls_error(&e).is_some();
        let before_sending = matches!(
            &e,
            ureq::Error::HostNotFound
                | ureq::Error::ConnectionFailed
                | ureq::Error::Rustls(_)
                | ureq::Error::Tls(_)
        ) || matches!(&e, ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused);
        Failure {
            cause: describe(&e, url),
            before_sending,
            permanent,
        }
    }
}

/// One line for a failed request to `url`: a TLS failure says what to do (see
/// [`network::explain_tls`]); a failure on the way through a proxy names the variable that set
/// it. Never a credential.
fn describe(e: &ureq::Error, url: &str) -> String {
    use ureq::Error as E;
    let host = host_of(url);
    if let Some(tls) = tls_error(e) {
        return ci::redact(&network::explain_tls(&host, tls));
    }
    let cause = match e {
        E::Timeout(t) => format!("timed out ({t})"),
        E::HostNotFound => "host not found".to_string(),
        E::ConnectionFailed => "could not connect".to_string(),
        E::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!("could not connect: {io}")
        }
        E::Io(io) => format!("connection error: {io}"),
        E::Tls(t) => format!("TLS error with {host}: {t}"),
        other => other.to_string(),
    };
    let mut cause = scrub_urls(&cause);
    let connecting = matches!(
        e,
        E::HostNotFound | E::ConnectionFailed | E::ConnectProxyFailed(_) | E::Timeout(_)
    ) || matches!(e, E::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused);
    if let Some(route) = network::get().ok().and_then(|n| n.route_for(url)) {
        if connecting {
            cause = format!(
                "{cause}, through the proxy {} that {} names: check that it is up and lets this runner through, or add {host} to NO_PROXY",
                route.shown, route.var
            );
        }
    }
    ci::redact(&cause)
}

/// The TLS failure behind an error, wherever ureq carries it: its own variant, or inside the
/// I/O error of the connection (how a handshake failure usually arrives).
fn tls_error(e: &ureq::Error) -> Option<&rustls::Error> {
    match e {
        ureq::Error::Rustls(t) => Some(t),
        ureq::Error::Io(io) => io.get_ref()?.downcast_ref::<rustls::Error>(),
        _ => None,
    }
}

/// The host (and port) of a URL, for messages.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    authority
        .rsplit('@')
        .next()
        .unwrap_or(authority)
        .to_string()
}

/// Shows a request target without its query string (a pre-signed URL's signature is a
/// credential) and without user info.
pub fn display_target(target: &str) -> String {
    let without_query = target.split(['?', '#']).next().unwrap_or(target);
    match without_query.split_once("://") {
        Some((scheme, rest)) => {
            let rest = rest.rsplit_once('@').map(|(_, r)| r).unwrap_or(rest);
            format!("{scheme}://{rest}")
        }
        None => without_query.to_string(),
    }
}

/// Registers the query string of a pre-signed URL as a secret: whoever holds it can read or
/// overwrite the object until it expires.
pub fn register_url_secret(url: &str) {
    if let Some((_, query)) = url.split_once('?') {
        ci::register_secret(query);
    }
}

/// Removes query strings from any URL quoted inside an error text.
fn scrub_urls(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            if word.contains("://") {
                display_target(word)
            } else {
                word.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The time from now until unix second `reset` (zero when past), at most an hour.
fn until(reset: u64) -> Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Duration::from_secs(reset)
        .saturating_sub(now)
        .min(Duration::from_secs(3600))
}

/// `Retry-After` in seconds (the HTTP-date form is not used by the services shipline talks to),
/// falling back to `RateLimit-Reset` seconds (the IETF RateLimit fields draft); an hour at
/// most. GitHub's `x-ratelimit-reset` is a unix time, read with the window it closes
/// ([`until`]).
fn retry_after(reply: &Reply) -> Option<Duration> {
    let seconds = |name: &str| {
        reply.header(name).and_then(|v| {
            let hour = Duration::from_secs(3600);
            match crate::time::decimal(v.trim(), Duration::from_secs(1), hour) {
                Ok(wait) => Some(wait),
                Err(crate::time::TOO_LONG) => Some(hour),
                Err(_) => None,
            }
        })
    };
    seconds("Retry-After").or_else(|| seconds("RateLimit-Reset"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let b = Backoff {
            attempts: 5,
            first: Duration::from_secs(1),
            max: Duration::from_secs(5),
        };
        assert_eq!(b.delay(1, 0.5), Duration::from_secs(1));
        assert_eq!(b.delay(2, 0.5), Duration::from_secs(2));
        assert_eq!(b.delay(3, 0.5), Duration::from_secs(4));
        assert_eq!(b.delay(4, 0.5), Duration::from_secs(5));
        assert_eq!(b.delay(2, 0.0), Duration::from_millis(1500));
        assert_eq!(b.delay(2, 1.0), Duration::from_millis(2500));
        assert_eq!(b.delay(40, 0.5), Duration::from_secs(5));
    }

    #[test]
    fn targets_are_shown_without_secrets() {
        assert_eq!(
            display_target("https://s3.example/bucket/key?X-Amz-Signature=abc&X-Amz-Credential=x"),
            "https://s3.example/bucket/key"
        );
        assert_eq!(
            display_target("https://user:pass@hooks.example/T0/B0"),
            "https://hooks.example/T0/B0"
        );
        assert_eq!(display_target("/apps/demo"), "/apps/demo");
        assert_eq!(
            scrub_urls("error sending to http://h/p?sig=1 now"),
            "error sending to http://h/p now"
        );
    }

    #[test]
    fn redirects_resolve_and_headers_stay_with_their_origin() {
        for (url, origin) in [
            ("https://Shop.example/health", "https://shop.example:443"),
            ("https://shop.example:443/x", "https://shop.example:443"),
            ("http://127.0.0.1:8080?q", "http://127.0.0.1:8080"),
            ("http://user:pw@h/x", "http://h:80"),
        ] {
            assert_eq!(origin_of(url), origin, "{url}");
        }
        assert_ne!(
            origin_of("http://shop.example/"),
            origin_of("https://shop.example/")
        );
        for (base, location, target) in [
            (
                "https://shop.example/api/v1/health?x=1",
                "https://other.example/a",
                "https://other.example/a",
            ),
            (
                "https://shop.example/api/v1/health?x=1",
                "//cdn.example/a",
                "https://cdn.example/a",
            ),
            (
                "https://shop.example/api/v1/health?x=1",
                "/login",
                "https://shop.example/login",
            ),
            (
                "https://shop.example/api/v1/health?x=1",
                "ready",
                "https://shop.example/api/v1/ready",
            ),
            ("http://h:1", "x", "http://h:1/x"),
        ] {
            assert_eq!(
                resolve(base, location).as_deref(),
                Some(target),
                "{location}"
            );
        }
    }

    #[test]
    fn segments_cannot_leave_their_place_in_the_path() {
        for (name, encoded) in [
            ("my-app", "my-app"),
            ("shop.js", "shop.js"),
            ("a/b c?d#e", "a%2Fb%20c%3Fd%23e"),
            ("feature/a b+c", "feature%2Fa%20b%2Bc"),
            ("..", "%2E%2E"),
            (".", "%2E"),
            ("ünï", "%C3%BCn%C3%AF"),
        ] {
            assert_eq!(segment(name), encoded, "{name}");
        }
    }

    #[test]
    fn credentials_go_over_https_or_stay_on_this_machine() {
        for ok in [
            "https://api.heroku.com",
            "http://127.0.0.1:4000",
            "http://127.1.2.3/x",
            "http://localhost:80/api",
            "http://[::1]:9000",
            "HTTPS://Slack.com/api",
        ] {
            assert_eq!(check_credential_url("X_URL", ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://api.heroku.com",
            "http://10.0.0.5:8080",
            "http://localhost.evil.example/",
            "http://127.0.0.1.nip.io/",
            "ftp://x",
            "api.heroku.com",
        ] {
            let why = check_credential_url("X_URL", bad).unwrap_err();
            assert!(why.starts_with("X_URL "), "{why}");
        }
    }

    #[test]
    fn retry_after_reads_seconds() {
        let reply = |header: &str, value: &str| Reply {
            status: 429,
            headers: vec![(header.into(), value.into())],
            body: vec![],
            request: String::new(),
        };
        let wait = |value| retry_after(&reply("retry-after", value));
        assert_eq!(wait("3"), Some(Duration::from_secs(3)));
        assert_eq!(wait(" 0.5 "), Some(Duration::from_millis(500)));
        assert_eq!(
            wait("86400"),
            Some(Duration::from_secs(3600)),
            "an hour at most"
        );
        assert_eq!(
            wait("99999999999999999999999999999"),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(wait("-1"), None);
        assert_eq!(wait("Wed, 21 Oct 2026 07:28:00 GMT"), None);
        let reset = retry_after(&reply("ratelimit-reset", "12"));
        assert_eq!(reset, Some(Duration::from_secs(12)));
    }

    #[test]
    fn connection_refused_is_reported_as_such() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let mut client = Client::new(
            "Heroku",
            &format!("http://127.0.0.1:{port}"),
            Duration::ZERO,
        );
        client.backoff = Backoff {
            attempts: 2,
            first: Duration::from_millis(1),
            max: Duration::from_millis(1),
        };
        let err = client.send(Request::get("/apps/demo")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("Heroku GET /apps/demo: could not connect"),
            "{text}"
        );
        assert!(text.contains("after 2 attempts"), "{text}");
    }
}
