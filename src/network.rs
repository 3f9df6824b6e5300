//! The network as a runner's administrators set it up: which certificate authorities to trust
//! and which proxy to go through. Read once from the environment, the way curl, git and
//! OpenSSL-based tools read it, and applied to every request (the API clients, the upload and
//! output streams, the health checks).
//!
//! - **Trust.** Mozilla's roots (compiled in) always; `SSL_CERT_FILE` (a PEM bundle) and
//!   `SSL_CERT_DIR` (directories of PEM files, `:`-separated) add to them, for a private CA
//!   (GitHub Enterprise Server, CircleCI server, a TLS-inspecting proxy);
//!   `SHIPLINE_CA_STORE=system` adds the operating system's bundle, where administrators put
//!   their CA with `update-ca-certificates`.
//! - **Proxies.** `https://` URLs go through `HTTPS_PROXY`, `http://` ones through
//!   `HTTP_PROXY`, either falling back to `ALL_PROXY` (each in upper or lower case); hosts in
//!   `NO_PROXY` go direct. A proxy's credentials are registered as secrets and never shown.
//! - **Failures that say what to do.** [`explain_tls`] turns a certificate error into one line
//!   naming the host, what was wrong and the fix; such an error cannot heal by itself, so the
//!   HTTP client does not retry it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::pki_types::CertificateDer;
use rustls::ClientConfig;
use ureq::tls::{Certificate, PemItem};
use ureq::Proxy;

use crate::ci;

/// The system bundles `SHIPLINE_CA_STORE=system` reads, the first that exists: Debian and
/// Ubuntu, RHEL and Fedora, Alpine, openSUSE.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

/// A proxy and where it was configured.
#[derive(Debug, Clone)]
pub struct ProxyRoute {
    /// The proxy, with `NO_PROXY` applied.
    pub proxy: Proxy,
    /// The variable that named it (`HTTPS_PROXY`, `https_proxy`, `ALL_PROXY`, …).
    pub var: &'static str,
    /// `scheme://host:port`, without credentials, for messages.
    pub shown: String,
}

/// Where certificate authorities are added from.
#[derive(Debug, Clone)]
enum RootSource {
    /// A PEM bundle, and the variable that named it.
    File(&'static str, PathBuf),
    /// A directory of PEM files.
    Dir(PathBuf),
}

/// What every request is configured from. The settings are checked when read (a missing CA
/// file is found before the step does anything), but the certificates are parsed only when
/// the first TLS connection needs them: a step that makes no request, and every step on a
/// machine whose `SSL_CERT_DIR` holds hundreds of files, pays nothing for them.
#[derive(Debug)]
pub struct Network {
    sources: Vec<RootSource>,
    tls: OnceLock<Arc<ClientConfig>>,
    https: Option<ProxyRoute>,
    http: Option<ProxyRoute>,
}

static NETWORK: OnceLock<Result<Network, String>> = OnceLock::new();

/// The network configuration, read from the environment on first use. `Err` is a
/// configuration error (a CA file that cannot be read, a proxy URL that is not one), to be
/// reported before the step does anything.
pub fn get() -> Result<&'static Network, String> {
    NETWORK
        .get_or_init(|| Network::from_env(|name| std::env::var(name).ok()))
        .as_ref()
        .map_err(Clone::clone)
}

impl Network {
    /// Reads the configuration through `var` (an environment lookup): every file and
    /// directory named must be there and readable.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Network, String> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let mut sources = Vec::new();
        if let Some(file) = var("SSL_CERT_FILE") {
            std::fs::File::open(&file).map_err(|e| {
                format!("SSL_CERT_FILE names {file}, which cannot be read ({e}); point it at a PEM file of CA certificates, or unset it")
            })?;
            sources.push(RootSource::File("SSL_CERT_FILE", file.into()));
        }
        if let Some(dirs) = var("SSL_CERT_DIR") {
            for dir in dirs.split(':').filter(|d| !d.is_empty()) {
                std::fs::read_dir(dir).map_err(|e| {
                    format!("SSL_CERT_DIR names {dir}, which cannot be read ({e}); point it at a directory of PEM CA certificates, or unset it")
                })?;
                sources.push(RootSource::Dir(dir.into()));
            }
        }
        match var("SHIPLINE_CA_STORE").as_deref().map(str::trim) {
            None | Some("mozilla") => {}
            Some("system") => {
                let bundle = SYSTEM_BUNDLES
                    .iter()
                    .find(|p| Path::new(p).is_file())
                    .ok_or_else(|| {
                        format!(
                            "SHIPLINE_CA_STORE=system, but none of the system's CA bundles exists ({}); install the ca-certificates package, or use SSL_CERT_FILE",
                            SYSTEM_BUNDLES.join(", ")
                        )
                    })?;
                sources.push(RootSource::File("SHIPLINE_CA_STORE=system", bundle.into()));
            }
            Some(other) => {
                return Err(format!(
                    "SHIPLINE_CA_STORE is `{other}`: use mozilla (the default: Mozilla's roots) or system (those and the operating system's CA bundle)"
                ))
            }
        }
        let no_proxy = var("NO_PROXY").or_else(|| var("no_proxy"));
        let route = |names: &[&'static str]| -> Result<Option<ProxyRoute>, String> {
            let Some((name, value)) = names.iter().find_map(|n| Some((*n, var(n)?))) else {
                return Ok(None);
            };
            proxy_route(name, &value, no_proxy.as_deref()).map(Some)
        };
        Ok(Network {
            sources,
            tls: OnceLock::new(),
            https: route(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"])?,
            http: route(&["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])?,
        })
    }

    /// The TLS configuration: Mozilla's roots and the ones added, parsed on first use. A
    /// source that holds no usable certificate is said, and the others are used.
    pub fn tls(&self) -> Arc<ClientConfig> {
        self.tls
            .get_or_init(|| {
                let mut roots = crate::tls::mozilla_roots();
                for source in &self.sources {
                    let (name, path, found) = match source {
                        RootSource::File(var, path) => (*var, path, pem_certificates(path)),
                        RootSource::Dir(path) => ("SSL_CERT_DIR", path, dir_certificates(path)),
                    };
                    let added = found.and_then(|certs| {
                        let ders = certs.iter().map(|c| CertificateDer::from(c.der()));
                        match roots.add_parsable_certificates(ders) {
                            (0, _) => Err("holds no certificate usable as a CA".to_string()),
                            _ => Ok(()),
                        }
                    });
                    if let Err(why) = added {
                        ci::warn(&format!(
                            "{name}: {} {why}; its certificates are not trusted",
                            path.display()
                        ));
                    }
                }
                crate::tls::client_config(roots)
            })
            .clone()
    }

    /// The proxy for requests to `url`'s scheme (`NO_PROXY` is applied per host by the proxy
    /// itself; [`Network::route_for`] says whether a given URL goes through it).
    pub fn proxy_for_scheme(&self, url: &str) -> Option<&ProxyRoute> {
        if url
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
        {
            self.https.as_ref()
        } else {
            self.http.as_ref()
        }
    }

    /// The proxy a request to `url` goes through, if any.
    pub fn route_for(&self, url: &str) -> Option<&ProxyRoute> {
        let route = self.proxy_for_scheme(url)?;
        let uri: ureq::http::Uri = url.parse().ok()?;
        (!route.proxy.is_no_proxy(&uri)).then_some(route)
    }
}

/// Parses a proxy URL from `var`, with `NO_PROXY`'s hosts going direct.
fn proxy_route(
    var: &'static str,
    value: &str,
    no_proxy: Option<&str>,
) -> Result<ProxyRoute, String> {
    let parsed = Proxy::new(value.trim()).map_err(|e| {
        format!(
            "{var} is not a proxy URL such as http://proxy.example:3128 ({e}; its value is not shown: it may hold credentials)"
        )
    })?;
    let scheme = parsed.protocol();
    if !matches!(
        scheme,
        ureq::ProxyProtocol::Http | ureq::ProxyProtocol::Https
    ) {
        return Err(format!(
            "{var} names a {scheme:?} proxy; shipline goes through HTTP(S) proxies (http://host:port, with CONNECT for https)"
        ));
    }
    let mut builder = Proxy::builder(scheme)
        .host(parsed.host())
        .port(parsed.port());
    if let Some(user) = parsed.username() {
        ci::register_secret(user);
        builder = builder.username(user);
    }
    if let Some(password) = parsed.password() {
        ci::register_secret(password);
        builder = builder.password(password);
    }
    for host in no_proxy
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
    {
        builder = builder.no_proxy(host);
    }
    let proxy = builder
        .build()
        .map_err(|e| format!("{var} is not a usable proxy URL ({e})"))?;
    let shown = format!(
        "{}://{}:{}",
        if scheme == ureq::ProxyProtocol::Https {
            "https"
        } else {
            "http"
        },
        parsed.host(),
        parsed.port()
    );
    Ok(ProxyRoute { proxy, var, shown })
}

/// Every certificate of a PEM file; `Err` says what is wrong with it.
fn pem_certificates(path: &Path) -> Result<Vec<Certificate<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot be read ({e})"))?;
    let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&bytes)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(cert)) => Some(cert),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into());
    }
    Ok(certs)
}

/// Every certificate of the PEM files of a directory (OpenSSL's hashed `*.0` links and
/// `*.pem`/`*.crt` files alike); files that hold none are passed over.
fn dir_certificates(dir: &Path) -> Result<Vec<Certificate<'static>>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot be read ({e})"))?;
    let mut certs = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_file() {
            if let Ok(found) = pem_certificates(&path) {
                certs.extend(found);
            }
        }
    }
    if certs.is_empty() {
        return Err("holds no PEM certificate".into());
    }
    Ok(certs)
}

/// One line for a TLS failure talking to `host`: what was wrong and what to do. A certificate
/// error is permanent, so the caller does not retry it.
pub fn explain_tls(host: &str, error: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match error {
        rustls::Error::InvalidCertificate(cert) => match cert {
            C::UnknownIssuer => format!(
                "the TLS certificate of {host} is signed by an authority shipline does not trust: add your CA's certificate (PEM) with SSL_CERT_FILE or SSL_CERT_DIR, or SHIPLINE_CA_STORE=system when it is in the system's store"
            ),
            C::NotValidForName | C::NotValidForNameContext { .. } => format!(
                "the TLS certificate of {host} is not for {host}: check the URL's host name (a certificate names the hosts it serves)"
            ),
            C::Expired | C::ExpiredContext { .. } => format!(
                "the TLS certificate of {host} has expired: renew it on the server (or check this machine's clock)"
            ),
            C::NotValidYet | C::NotValidYetContext { .. } => format!(
                "the TLS certificate of {host} is not valid yet: check this machine's clock, or the certificate's start date"
            ),
            #[allow(deprecated)]
            C::UnsupportedSignatureAlgorithm
            | C::UnsupportedSignatureAlgorithmContext { .. }
            | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => format!(
                "the TLS certificate of {host} is signed with an algorithm shipline does not accept: it takes ECDSA (P-256, P-384) and RSA signatures, as every public authority issues; have the server's certificate reissued with one of them"
            ),
            other => format!("the TLS certificate of {host} was refused ({other:?}): check the server's certificate chain"),
        },
        rustls::Error::PeerIncompatible(_)
        | rustls::Error::AlertReceived(
            rustls::AlertDescription::HandshakeFailure
            | rustls::AlertDescription::ProtocolVersion
            | rustls::AlertDescription::InsufficientSecurity,
        ) => format!(
            "{host} and shipline have no TLS version or cipher suite in common ({error}): shipline speaks TLS 1.2 and 1.3 with AES-GCM; a server or intercepting proxy that offers only older TLS must be upgraded"
        ),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => format!(
            "{host} does not speak TLS on this port (a plain-HTTP server?): use the https:// port of the service, or http:// only for this machine"
        ),
        other => format!("TLS with {host} failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ci::testing::env;

    #[test]
    fn proxies_follow_the_scheme_and_no_proxy() {
        let net = Network::from_env(env(&[
            ("HTTPS_PROXY", "http://user:pa55word@proxy.corp:3128"),
            ("http_proxy", "http://plain.corp:8080"),
            ("NO_PROXY", "127.0.0.1, .internal.corp"),
        ]))
        .unwrap();
        let https = net.route_for("https://api.heroku.com/apps").unwrap();
        assert_eq!(
            (https.var, https.shown.as_str()),
            ("HTTPS_PROXY", "http://proxy.corp:3128")
        );
        let http = net.route_for("http://example.com/health").unwrap();
        assert_eq!(
            (http.var, http.shown.as_str()),
            ("http_proxy", "http://plain.corp:8080")
        );
        assert!(net.route_for("https://git.internal.corp/api").is_none());
        assert!(net.route_for("http://127.0.0.1:8080/x").is_none());
        let all = Network::from_env(env(&[("ALL_PROXY", "http://all.corp:1")])).unwrap();
        assert_eq!(
            all.route_for("https://slack.com/api").unwrap().var,
            "ALL_PROXY"
        );
        assert!(Network::from_env(env(&[]))
            .unwrap()
            .route_for("https://x/")
            .is_none());
    }

    #[test]
    fn configuration_errors_name_the_variable_never_the_credentials() {
        let err = Network::from_env(env(&[("HTTPS_PROXY", "http://u:s3cr3t@")])).unwrap_err();
        assert!(
            err.starts_with("HTTPS_PROXY") && !err.contains("s3cr3t"),
            "{err}"
        );
        let err = Network::from_env(env(&[("SSL_CERT_FILE", "/nonexistent/ca.pem")])).unwrap_err();
        assert!(
            err.contains("SSL_CERT_FILE names /nonexistent/ca.pem"),
            "{err}"
        );
        let err = Network::from_env(env(&[("SHIPLINE_CA_STORE", "windows")])).unwrap_err();
        assert!(err.contains("SHIPLINE_CA_STORE"), "{err}");
    }

    #[test]
    fn the_system_store_adds_the_operating_systems_bundle() {
        let Some(bundle) = SYSTEM_BUNDLES.iter().find(|p| Path::new(p).is_file()) else {
            return; // no ca-certificates here: the error case is tested above
        };
        let net = Network::from_env(env(&[("SHIPLINE_CA_STORE", "system")])).unwrap();
        assert!(matches!(&net.sources[..], [RootSource::File(_, p)] if p == Path::new(bundle)));
        let added = pem_certificates(Path::new(bundle)).unwrap().len();
        assert!(added > 10, "{bundle} holds {added} certificates");
        let mozilla = Network::from_env(env(&[])).unwrap();
        assert!(
            mozilla.sources.is_empty(),
            "Mozilla's roots alone by default"
        );
    }

    #[test]
    fn certificate_errors_say_what_to_do() {
        use rustls::CertificateError as C;
        let line = |e| explain_tls("ghe.corp", &rustls::Error::InvalidCertificate(e));
        assert!(line(C::UnknownIssuer).contains("SSL_CERT_FILE"));
        assert!(line(C::NotValidForName).contains("not for ghe.corp"));
        assert!(line(C::Expired).contains("expired"));
        assert!(line(C::UnsupportedSignatureAlgorithmContext {
            signature_algorithm_id: vec![],
            supported_algorithms: vec![],
        })
        .contains("ECDSA (P-256, P-384) and RSA"));
    }

    #[test]
    fn a_server_with_nothing_in_common_is_told_apart() {
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        let old = rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::ServerDoesNotSupportTls12Or13,
        );
        for error in [alert, old] {
            let line = explain_tls("proxy.corp", &error);
            assert!(
                line.starts_with("proxy.corp and shipline have no TLS version"),
                "{line}"
            );
            assert!(line.contains("TLS 1.2 and 1.3 with AES-GCM"), "{line}");
        }
    }
}
