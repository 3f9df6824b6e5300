//! TLS for every connection, on a rustls configuration shipline builds itself: Mozilla's roots
//! as trust anchors (compiled in, ready to use) plus the certificate authorities the network
//! settings add ([`crate::network`]).
//!
//! ureq's own rustls layer takes its roots as certificates and turns each into an anchor on
//! first use; with Mozilla's ~150 roots that meant carrying the whole certificates (127 KB in
//! the binary) and parsing them in every process that made a request. This layer sits where
//! ureq's would in its chain (after the proxy's CONNECT and the TCP connection) and does the
//! same handshake, with the same timeouts and errors.
//!
//! The cryptography is ring's, narrowed to what the web PKI and the services use (see
//! [`provider`]), so the code for the rest is not in the binary.

use std::io::{Read, Write};
use std::sync::{Arc, OnceLock};

use rustls::crypto::ring::{cipher_suite, kx_group};
use rustls::crypto::{
    CryptoProvider, GetRandomFailed, KeyProvider, SecureRandom, WebPkiSupportedAlgorithms,
};
use rustls::pki_types::{PrivateKeyDer, ServerName};
use rustls::sign::SigningKey;
use rustls::{ClientConfig, ClientConnection, RootCertStore, SignatureScheme, StreamOwned};
use ureq::config::Config;
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout,
    TcpConnector, Transport, TransportAdapter,
};
use ureq::Agent;
use webpki::ring as alg;

/// Mozilla's roots, as trust anchors; the network settings add their authorities to them
/// (`RootCertStore::add_parsable_certificates`).
pub fn mozilla_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// A rustls client configuration trusting `roots`.
pub fn client_config(roots: RootCertStore) -> Arc<ClientConfig> {
    let config = ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .expect("the provider has suites for TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// ring's rustls provider, less what no server shipline talks to needs:
///
/// - AES-GCM only, no ChaCha20-Poly1305. TLS 1.3 makes TLS_AES_128_GCM_SHA256 mandatory for
///   every server, and the ECDHE AES-GCM suites are what every TLS 1.2 server and intercepting
///   proxy offers; ChaCha20 is a speed choice for clients without AES instructions.
/// - No Ed25519 certificate signatures: no authority of the web PKI issues them (Mozilla's
///   roots hold none), so a chain could not use them anyway.
/// - No private keys: shipline never authenticates with a client certificate.
///
/// Dropping them keeps about 100 KB of ring's assembly, tables and signing code out of the
/// binary. Key exchange is unchanged: X25519, P-256 and P-384.
pub fn provider() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: vec![
            cipher_suite::TLS13_AES_256_GCM_SHA384,
            cipher_suite::TLS13_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ],
        kx_groups: vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1],
        signature_verification_algorithms: SIGNATURES,
        secure_random: &SystemRandom,
        key_provider: &NoClientKeys,
    }
}

/// The certificate signatures shipline verifies: ECDSA on P-256 and P-384, and RSA (PKCS#1 v1.5
/// and PSS), each with the hashes TLS pairs it with.
static SIGNATURES: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[
        alg::ECDSA_P256_SHA256,
        alg::ECDSA_P256_SHA384,
        alg::ECDSA_P384_SHA256,
        alg::ECDSA_P384_SHA384,
        alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
        alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
        alg::RSA_PKCS1_2048_8192_SHA256,
        alg::RSA_PKCS1_2048_8192_SHA384,
        alg::RSA_PKCS1_2048_8192_SHA512,
        alg::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
        alg::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
        alg::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
    ],
    // In TLS 1.2 an ECDSA scheme does not fix the curve; in TLS 1.3 it does.
    mapping: &[
        (
            SignatureScheme::ECDSA_NISTP384_SHA384,
            &[alg::ECDSA_P384_SHA384, alg::ECDSA_P256_SHA384],
        ),
        (
            SignatureScheme::ECDSA_NISTP256_SHA256,
            &[alg::ECDSA_P256_SHA256, alg::ECDSA_P384_SHA256],
        ),
        (
            SignatureScheme::RSA_PSS_SHA512,
            &[alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PSS_SHA384,
            &[alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PSS_SHA256,
            &[alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA512,
            &[alg::RSA_PKCS1_2048_8192_SHA512],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA384,
            &[alg::RSA_PKCS1_2048_8192_SHA384],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA256,
            &[alg::RSA_PKCS1_2048_8192_SHA256],
        ),
    ],
};

/// The operating system's random numbers, through ring, for handshake nonces and key shares.
#[derive(Debug)]
struct SystemRandom;

impl SecureRandom for SystemRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        use ring::rand::SecureRandom as _;
        ring::rand::SystemRandom::new()
            .fill(buf)
            .map_err(|_| GetRandomFailed)
    }
}

/// Loads no private key: shipline authenticates to services with tokens, never with a client
/// certificate, so ring's signing code stays out of the binary.
#[derive(Debug)]
struct NoClientKeys;

impl KeyProvider for NoClientKeys {
    fn load_private_key(
        &self,
        _key: PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn SigningKey>, rustls::Error> {
        Err(rustls::Error::General(
            "shipline does not use client certificates".into(),
        ))
    }
}

/// Mozilla's roots alone, for a connection made without network settings.
pub fn mozilla_only() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| client_config(mozilla_roots()))
        .clone()
}

/// An agent with `config`'s settings whose HTTPS connections use `tls`: through the proxy
/// `config` names (HTTP CONNECT), else straight over TCP.
pub fn agent(config: Config, tls: Arc<ClientConfig>) -> Agent {
    let chain =
        ().chain(ConnectProxyConnector::default())
            .chain(TcpConnector::default())
            .chain(TlsConnector { config: tls });
    Agent::with_parts(config, chain, DefaultResolver::default())
}

/// Wraps an `https://` connection in TLS; an `http://` one passes through.
#[derive(Debug)]
struct TlsConnector {
    config: Arc<ClientConfig>,
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Err(ureq::Error::ConnectionFailed);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details.uri.host().unwrap_or_default();
        // An IPv6 literal comes bracketed in a URL, bare in a certificate.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host)
            .map_err(|_| ureq::Error::Tls("the host is not a valid TLS server name"))?
            .to_owned();
        let mut conn = ClientConnection::new(self.config.clone(), name)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock)?;
        Ok(Some(Either::B(TlsTransport {
            buffers: LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            ),
            stream: StreamOwned { conn, sock },
        })))
    }
}

/// A TLS session over the transport below it.
struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTransport")
            .field("chained", &self.stream.sock.inner())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::{ProtocolVersion, ServerConnection};
    use shipline_sandbox::tls::TestCa;

    /// Runs a handshake in memory between `client` and the sandbox's rustls server (ring's full
    /// default provider, TLS 1.2 and 1.3), returning the client once both are done.
    fn handshake(client: Arc<ClientConfig>, ca: &TestCa) -> ClientConnection {
        let name = ServerName::try_from("localhost").unwrap();
        let mut client = ClientConnection::new(client, name).unwrap();
        let mut server = ServerConnection::new(ca.server_cert().server_config()).unwrap();
        for _ in 0..10 {
            if !client.is_handshaking() && !server.is_handshaking() {
                return client;
            }
            let mut wire = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut wire).unwrap();
            }
            server.read_tls(&mut wire.as_slice()).unwrap();
            server.process_new_packets().unwrap();
            let mut wire = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut wire).unwrap();
            }
            client.read_tls(&mut wire.as_slice()).unwrap();
            client.process_new_packets().unwrap();
        }
        panic!("the handshake did not finish");
    }

    #[test]
    fn handshakes_on_tls_1_2_and_1_3_with_aes_gcm() {
        let ca = TestCa::new();
        for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
            let mut roots = RootCertStore::empty();
            roots.add(ca.cert_der()).unwrap();
            let config = ClientConfig::builder_with_provider(Arc::new(provider()))
                .with_protocol_versions(&[version])
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
            let client = handshake(Arc::new(config), &ca);
            assert_eq!(client.protocol_version(), Some(version.version));
            let suite = format!("{:?}", client.negotiated_cipher_suite().unwrap().suite());
            assert!(suite.contains("AES_256_GCM"), "{version:?}: {suite}");
        }
    }

    #[test]
    fn the_defaults_handshake_at_tls_1_3() {
        let ca = TestCa::new();
        let mut roots = mozilla_roots();
        roots.add(ca.cert_der()).unwrap();
        let client = handshake(client_config(roots), &ca);
        assert_eq!(client.protocol_version(), Some(ProtocolVersion::TLSv1_3));
    }

    #[test]
    fn verifies_every_signature_scheme_of_ring_but_ed25519() {
        let ring = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        let expected: Vec<_> = ring
            .mapping
            .iter()
            .filter(|(scheme, _)| *scheme != SignatureScheme::ED25519)
            .map(|(scheme, algs)| (*scheme, algs.len()))
            .collect();
        let ours: Vec<_> = SIGNATURES
            .mapping
            .iter()
            .map(|(scheme, algs)| (*scheme, algs.len()))
            .collect();
        assert_eq!(ours, expected);
        assert_eq!(SIGNATURES.all.len(), ring.all.len() - 1);
    }

    #[test]
    fn loads_no_client_key() {
        let key = PrivateKeyDer::Pkcs8(vec![0x30, 0x00].into());
        let err = provider().key_provider.load_private_key(key).unwrap_err();
        assert!(err.to_string().contains("client certificates"), "{err}");
    }
}
