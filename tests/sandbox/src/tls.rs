//! Certificates made at test time, so the fakes can speak HTTPS and a client can be tested
//! with the trust settings a user would give it (`SSL_CERT_FILE`, `SSL_CERT_DIR`).
//!
//! - [`TestCa`]: a certificate authority of its own per test. Its certificate goes to a PEM
//!   file ([`TestCa::write_pem`], for `SSL_CERT_FILE`) or into a directory in OpenSSL's hashed
//!   layout ([`TestCa::write_cert_dir`], for `SSL_CERT_DIR`).
//! - [`ServerCert`]: a certificate and key a fake serves with. [`TestCa::server_cert`] is the
//!   good one (names `localhost`, `127.0.0.1` and `::1`, signed by the CA); the others fail a
//!   client's checks for one reason each:
//!   - [`ServerCert::unknown_ca`]: signed by a CA nobody trusts (rustls: `UnknownIssuer`);
//!   - [`ServerCert::self_signed`]: its own issuer (rustls: `UnknownIssuer`);
//!   - [`TestCa::server_cert_for`] with other names, e.g. `&["other.example"]`: signed by the
//!     trusted CA, but not for the host asked for (rustls: `NotValidForName`);
//!   - [`TestCa::expired_server_cert`]: signed by the trusted CA, valid for the right names,
//!     but expired on 2021-01-01 (rustls: `Expired`);
//!   - [`TestCa::chacha20_only_server_cert`]: the good certificate, on a server offering only
//!     ChaCha20-Poly1305, which a client offering AES-GCM alone cannot agree with (rustls: a
//!     `HandshakeFailure` alert).
//!
//! Every fake starts over HTTPS with a [`ServerCert`]: [`crate::Heroku::start_tls`],
//! [`crate::circleci::CircleCi::start_tls`], [`crate::GitHub::start_tls`],
//! [`crate::slack::Slack::start_tls`], [`crate::Target::start_tls`] (or their `Config`'s
//! `tls` field / `start_*_with` variant). Its `url()` is then `https://127.0.0.1:PORT`, and
//! every URL it hands out (Heroku's blob and output stream URLs, Slack's webhook) is
//! `https://` too. Plain HTTP stays the default. A failing certificate is just another
//! [`ServerCert`]: `Target::start_tls(&ca.expired_server_cert())` is a server whose
//! certificate has expired.
//!
//! The remaining failure, a client speaking TLS to a port that speaks plain HTTP, needs no
//! helper: start the fake without TLS and give the client its URL with `https://` in place of
//! `http://` (rustls: `received corrupt message of type InvalidContentType`).
//!
//! ```no_run
//! use shipline_sandbox::tls::TestCa;
//! use shipline_sandbox::Heroku;
//!
//! let ca = TestCa::new();
//! let dir = std::env::temp_dir();
//! let ca_file = dir.join("sandbox-ca.pem");
//! ca.write_pem(&ca_file).unwrap(); // SSL_CERT_FILE=<ca_file>
//! let heroku = Heroku::start_tls(&ca.server_cert());
//! assert!(heroku.url().starts_with("https://127.0.0.1:"));
//! ```
//!
//! Keys are ECDSA P-256, made with `rcgen` on `ring`; the server side is `rustls` with the
//! `ring` provider (TLS 1.2 and 1.3), the same stack shipline's client uses.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;

/// How the common name of [`TestCa::new`]'s certificate begins; 8 hex digits follow, so two
/// CAs never share a name (a client trusting one then rejects the other's certificates as
/// `UnknownIssuer`, not for a bad signature).
pub const CA_NAME: &str = "shipline sandbox test CA";
/// How the common name of the CA behind [`ServerCert::unknown_ca`] begins.
pub const UNKNOWN_CA_NAME: &str = "shipline sandbox unknown CA";
/// The names [`TestCa::server_cert`] is valid for.
pub const SERVER_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// A certificate authority made for one test. Not `Clone` (it holds its signing key); share
/// it by reference.
pub struct TestCa {
    name: String,
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
    pem: String,
}

impl fmt::Debug for TestCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCa").field("name", &self.name).finish()
    }
}

impl Default for TestCa {
    fn default() -> TestCa {
        TestCa::new()
    }
}

impl TestCa {
    /// A new CA named `shipline sandbox test CA <8 hex digits>` with a fresh key (a few
    /// milliseconds).
    pub fn new() -> TestCa {
        TestCa::named(&unique(CA_NAME))
    }

    /// A new CA with this common name (printable ASCII, as [`TestCa::subject_hash`] assumes).
    pub fn named(common_name: &str) -> TestCa {
        let key = KeyPair::generate().expect("sandbox: cannot generate a CA key");
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params
            .self_signed(&key)
            .expect("sandbox: cannot sign the CA certificate");
        TestCa {
            name: common_name.to_string(),
            der: cert.der().clone(),
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// The CA's common name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The CA certificate, PEM (`-----BEGIN CERTIFICATE-----` …), what `SSL_CERT_FILE` holds.
    pub fn cert_pem(&self) -> &str {
        &self.pem
    }

    /// The CA certificate, DER, e.g. for a client's root store
    /// (`ureq::tls::Certificate::from_der`).
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.der.clone()
    }

    /// Writes the CA certificate as PEM to `path` (for `SSL_CERT_FILE`).
    pub fn write_pem(&self, path: &Path) -> io::Result<()> {
        std::fs::write(path, &self.pem)
    }

    /// Fills `dir` (created if needed) for `SSL_CERT_DIR`: the certificate as
    /// `<subject hash>.pem` and again under OpenSSL's hashed name `<subject hash>.0`
    /// ([`TestCa::subject_hash`]; `.1`, `.2`, … when another certificate holds that name), so
    /// both readers that load every file and OpenSSL's lookup by hash find it. Several CAs
    /// can share a directory. Returns the hashed file's path.
    pub fn write_cert_dir(&self, dir: &Path) -> io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let hash = self.subject_hash();
        std::fs::write(dir.join(format!("{hash}.pem")), &self.pem)?;
        for n in 0.. {
            let hashed = dir.join(format!("{hash}.{n}"));
            match std::fs::read_to_string(&hashed) {
                Ok(text) if text != self.pem => continue,
                Ok(_) => return Ok(hashed),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    std::fs::write(&hashed, &self.pem)?;
                    return Ok(hashed);
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("an unbounded range ends")
    }

    /// OpenSSL's subject name hash of the certificate (`openssl x509 -hash`), 8 hex digits.
    pub fn subject_hash(&self) -> String {
        openssl_name_hash(&self.name)
    }

    /// A server certificate for `localhost`, `127.0.0.1` and `::1`, signed by this CA: the one
    /// a client trusting this CA accepts.
    pub fn server_cert(&self) -> ServerCert {
        self.server_cert_for(&SERVER_NAMES)
    }

    /// A server certificate for these names only (DNS names or IP addresses), signed by this
    /// CA. `&["other.example"]` makes a certificate a client reaching `127.0.0.1` or
    /// `localhost` rejects for its name.
    pub fn server_cert_for(&self, names: &[&str]) -> ServerCert {
        ServerCert::signed(&self.issuer, names, false, "signed by the test CA")
    }

    /// A server certificate for the right names, signed by this CA, valid from 2020-01-01 to
    /// 2021-01-01 only: a client rejects it as expired.
    pub fn expired_server_cert(&self) -> ServerCert {
        ServerCert::signed(&self.issuer, &SERVER_NAMES, true, "expired")
    }

    /// The good certificate, served by a server that offers ChaCha20-Poly1305 alone (TLS 1.2
    /// and 1.3): a client without those suites gets a handshake-failure alert. No real
    /// service is configured so; it stands for any server with nothing in common with a client.
    pub fn chacha20_only_server_cert(&self) -> ServerCert {
        let mut cert = self.server_cert();
        use rustls::crypto::ring::cipher_suite::{
            TLS13_CHACHA20_POLY1305_SHA256, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        };
        let provider = rustls::crypto::CryptoProvider {
            cipher_suites: vec![
                TLS13_CHACHA20_POLY1305_SHA256,
                TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            ],
            ..rustls::crypto::ring::default_provider()
        };
        let config = ServerConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .expect("sandbox: rustls protocol versions")
            .with_no_client_auth()
            .with_cert_resolver(cert.config.cert_resolver.clone());
        cert.config = Arc::new(config);
        cert.kind = "served with ChaCha20-Poly1305 only";
        cert
    }
}

/// A server's certificate chain and key, ready for a fake to serve with; cheap to clone.
#[derive(Clone)]
pub struct ServerCert {
    config: Arc<ServerConfig>,
    chain: Vec<CertificateDer<'static>>,
    names: Vec<String>,
    kind: &'static str,
}

impl fmt::Debug for ServerCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerCert")
            .field("names", &self.names)
            .field("kind", &self.kind)
            .finish()
    }
}

impl ServerCert {
    /// A certificate for `localhost`, `127.0.0.1` and `::1` signed by a fresh CA
    /// ([`UNKNOWN_CA_NAME`]) that no client trusts.
    pub fn unknown_ca() -> ServerCert {
        let other = TestCa::named(&unique(UNKNOWN_CA_NAME));
        ServerCert::signed(
            &other.issuer,
            &SERVER_NAMES,
            false,
            "signed by an unknown CA",
        )
    }

    /// A self-signed certificate for `localhost`, `127.0.0.1` and `::1` (a leaf, its own
    /// issuer), which no client trusts.
    pub fn self_signed() -> ServerCert {
        let key = KeyPair::generate().expect("sandbox: cannot generate a key");
        let params = leaf_params(&SERVER_NAMES, false);
        let cert = params
            .self_signed(&key)
            .expect("sandbox: cannot sign a certificate");
        ServerCert::new(vec![cert.der().clone()], &key, &SERVER_NAMES, "self-signed")
    }

    fn signed(
        issuer: &Issuer<'_, KeyPair>,
        names: &[&str],
        expired: bool,
        kind: &'static str,
    ) -> ServerCert {
        let key = KeyPair::generate().expect("sandbox: cannot generate a key");
        let cert = leaf_params(names, expired)
            .signed_by(&key, issuer)
            .expect("sandbox: cannot sign a certificate");
        ServerCert::new(vec![cert.der().clone()], &key, names, kind)
    }

    fn new(
        chain: Vec<CertificateDer<'static>>,
        key: &KeyPair,
        names: &[&str],
        kind: &'static str,
    ) -> ServerCert {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("sandbox: rustls protocol versions")
            .with_no_client_auth()
            .with_single_cert(chain.clone(), key)
            .expect("sandbox: rustls refused the server certificate");
        ServerCert {
            config: Arc::new(config),
            chain,
            names: names.iter().map(|n| n.to_string()).collect(),
            kind,
        }
    }

    /// The names (DNS names and IP addresses) the certificate is valid for.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// What kind of certificate this is, for messages (`signed by the test CA`, `expired`,
    /// `signed by an unknown CA`, `self-signed`).
    pub fn kind(&self) -> &str {
        self.kind
    }

    /// The chain the server sends, leaf first, DER.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The chain the server sends, leaf first, PEM (e.g. for `openssl verify`).
    pub fn chain_pem(&self) -> String {
        self.chain.iter().map(|der| pem(der.as_ref())).collect()
    }

    /// The rustls server configuration (ring provider, no client authentication).
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.config.clone()
    }
}

/// `prefix` and 8 random hex digits.
fn unique(prefix: &str) -> String {
    format!("{prefix} {}", &crate::util::uuid()[..8])
}

/// A certificate as PEM, 64 base64 characters a line.
fn pem(der: &[u8]) -> String {
    let b64 = crate::proxy::base64(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

fn leaf_params(names: &[&str], expired: bool) -> CertificateParams {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names.clone()).expect("sandbox: invalid name");
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        names.first().cloned().unwrap_or_default(),
    );
    params.distinguished_name = dn;
    params.is_ca = IsCa::NoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    params
}

/// OpenSSL's `X509_NAME_hash` of a name made of one common name: SHA-1 of the name's
/// canonical encoding (each RDN set, without the outer SEQUENCE; the value as a UTF8String,
/// lower-cased, whitespace collapsed), first four bytes as a little-endian number.
fn openssl_name_hash(common_name: &str) -> String {
    let canon: String = common_name
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase();
    let value = der(0x0c, canon.as_bytes());
    let oid = der(0x06, &[0x55, 0x04, 0x03]);
    let set = der(0x31, &der(0x30, &[oid, value].concat()));
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &set);
    let d = digest.as_ref();
    format!("{:08x}", u32::from_le_bytes([d[0], d[1], d[2], d[3]]))
}

/// One DER element (definite length, short or long form).
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_use_short_and_long_forms() {
        assert_eq!(der(0x04, &[1, 2]), [0x04, 2, 1, 2]);
        let long = der(0x04, &[0; 200]);
        assert_eq!(&long[..3], &[0x04, 0x81, 200]);
        assert_eq!(long.len(), 203);
    }

    #[test]
    fn pem_is_what_rcgen_writes() {
        let key = KeyPair::generate().unwrap();
        let cert = leaf_params(&["localhost"], false)
            .self_signed(&key)
            .unwrap();
        assert_eq!(pem(cert.der()), cert.pem().replace("\r\n", "\n"));
    }

    #[test]
    fn every_ca_has_a_name_of_its_own() {
        let (a, b) = (TestCa::new(), TestCa::new());
        assert!(a.name().starts_with(CA_NAME), "{}", a.name());
        assert_ne!(a.name(), b.name());
        assert_ne!(a.subject_hash(), b.subject_hash());
    }

    #[test]
    fn several_cas_share_a_cert_dir_and_rewriting_one_is_harmless() {
        let dir = std::env::temp_dir().join(format!("sandbox-tls-dir-{}", std::process::id()));
        let a = TestCa::named("same name");
        let b = TestCa::named("Same  Name"); // the same hash: OpenSSL canonicalises names
        assert_eq!(a.subject_hash(), b.subject_hash());
        let first = a.write_cert_dir(&dir).unwrap();
        let second = b.write_cert_dir(&dir).unwrap();
        let again = a.write_cert_dir(&dir).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(first.to_string_lossy().ends_with(".0"), "{first:?}");
        assert!(second.to_string_lossy().ends_with(".1"), "{second:?}");
        assert_eq!(again, first);
    }

    /// OpenSSL, when installed, finds the CA by its hashed name and checks the server
    /// certificates with it as a client would.
    #[test]
    fn openssl_finds_the_ca_in_the_cert_dir_when_it_is_installed() {
        let ca = TestCa::new();
        let dir = std::env::temp_dir().join(format!("sandbox-tls-hash-{}", std::process::id()));
        let hashed = ca.write_cert_dir(&dir).unwrap();
        let openssl = |args: &[&str], cert: &str| {
            let file = dir.join("leaf.crt");
            std::fs::write(&file, cert).unwrap();
            std::process::Command::new("openssl")
                .args(args)
                .arg(&file)
                .output()
        };
        let hash = openssl(&["x509", "-noout", "-subject_hash", "-in"], ca.cert_pem());
        let good = openssl(
            &[
                "verify",
                "-CApath",
                dir.to_str().unwrap(),
                "-purpose",
                "sslserver",
            ],
            &ca.server_cert().chain_pem(),
        );
        let expired = openssl(
            &["verify", "-CApath", dir.to_str().unwrap()],
            &ca.expired_server_cert().chain_pem(),
        );
        let _ = std::fs::remove_dir_all(&dir);
        let (Ok(hash), Ok(good), Ok(expired)) = (hash, good, expired) else {
            return; // no openssl here: nothing to compare with
        };
        assert_eq!(
            String::from_utf8_lossy(&hash.stdout).trim(),
            ca.subject_hash()
        );
        assert!(hashed
            .to_string_lossy()
            .ends_with(&format!("{}.0", ca.subject_hash())));
        assert!(good.status.success(), "{good:?}");
        assert!(!expired.status.success(), "{expired:?}");
        assert!(
            String::from_utf8_lossy(&expired.stdout).contains("expired")
                || String::from_utf8_lossy(&expired.stderr).contains("expired"),
            "{expired:?}"
        );
    }
}
