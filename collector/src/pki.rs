//! The collector's certificate authority.
//!
//! The CA signs the collector's server certificate and every device's client
//! certificate. It lives in the store, so replicas on one database share it,
//! unless certificate files are configured. A device's identity is the common
//! name of its certificate: the device id.

use std::path::Path;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use ring::rand::{SecureRandom, SystemRandom};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::OffsetDateTime;

use crate::store::{Store, StoreError};

/// Errors of the certificate authority.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("invalid certificate signing request: {0}")]
    InvalidCsr(String),
    #[error("cannot read {path}: {source}")]
    ReadFile {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid CA files: {0}")]
    InvalidCaFiles(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl crate::error::Coded for PkiError {
    fn code(&self) -> crate::error::ErrorCode {
        use crate::error::ErrorCode;
        match self {
            Self::InvalidCsr(_) => ErrorCode::InvalidArgument,
            Self::Store(error) => crate::error::Coded::code(error),
            Self::Generate(_) | Self::ReadFile { .. } | Self::InvalidCaFiles(_) => {
                ErrorCode::Internal
            }
        }
    }
}

/// A certificate the CA issued.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    pub certificate_pem: String,
    /// Serial number, lowercase hex.
    pub serial: String,
    pub not_after_unix_ms: i64,
}

/// The CA: its certificate and the means to sign with its key.
pub struct CertificateAuthority {
    certificate_pem: String,
    certificate_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("CertificateAuthority")
            .finish_non_exhaustive()
    }
}

/// Lifetime of a newly created CA.
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Lifetime of a server certificate (re-issued at every start).
const SERVER_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// Clock skew tolerated between devices and the collector.
const BACKDATE: Duration = Duration::from_secs(3600);

impl CertificateAuthority {
    /// Loads the CA from `files` (certificate, key) when given, otherwise from
    /// the store, creating it there on first start.
    ///
    /// # Errors
    /// When the files are unreadable or invalid, or the store fails.
    pub async fn load_or_create(
        store: &Store,
        files: Option<(&Path, &Path)>,
        now_unix_ms: i64,
    ) -> Result<Self, PkiError> {
        if let Some((certificate, key)) = files {
            let read = |path: &Path| {
                std::fs::read_to_string(path).map_err(|source| PkiError::ReadFile {
                    path: path.display().to_string(),
                    source,
                })
            };
            return Self::from_pem(&read(certificate)?, &read(key)?)
                .map_err(|e| PkiError::InvalidCaFiles(e.to_string()));
        }
        if let Some((certificate, key)) = store.certificate_authority().await? {
            return Self::from_pem(&certificate, &key);
        }
        let (certificate, key) = Self::generate()?;
        // Another replica may have created one meanwhile: use what is stored.
        let (certificate, key) = store
            .certificate_authority_or_insert(&certificate, &key, now_unix_ms)
            .await?;
        Self::from_pem(&certificate, &key)
    }

    /// Creates a new CA; returns its certificate and key, PEM.
    ///
    /// # Errors
    /// When generation fails.
    pub fn generate() -> Result<(String, String), PkiError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name("Sobrio collector CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - BACKDATE;
        params.not_after = now + CA_VALIDITY;
        params.serial_number = Some(random_serial());
        let certificate = params.self_signed(&key)?;
        Ok((certificate.pem(), key.serialize_pem()))
    }

    /// Loads a CA from its certificate and key, PEM.
    ///
    /// # Errors
    /// When either does not parse.
    pub fn from_pem(certificate_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(certificate_pem, key)?;
        let der = pem_certificates(certificate_pem)
            .into_iter()
            .next()
            .ok_or_else(|| PkiError::InvalidCaFiles("no certificate in CA PEM".into()))?;
        Ok(Self {
            certificate_pem: certificate_pem.to_owned(),
            certificate_der: der,
            issuer,
        })
    }

    /// The CA certificate, PEM: what agents pin.
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// The CA certificate, DER.
    pub fn certificate_der(&self) -> &CertificateDer<'static> {
        &self.certificate_der
    }

    /// When the CA certificate expires, Unix seconds.
    pub fn not_after_unix_secs(&self) -> Option<i64> {
        not_after_unix_secs(&self.certificate_der)
    }

    /// Issues a server certificate for `names` (DNS names or IP addresses),
    /// with a fresh key.
    ///
    /// # Errors
    /// When a name is invalid or signing fails.
    pub fn issue_server_certificate(
        &self,
        names: &[String],
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), PkiError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(names.to_vec())?;
        params.distinguished_name = distinguished_name("Sobrio collector");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - BACKDATE;
        params.not_after = now + SERVER_VALIDITY;
        params.serial_number = Some(random_serial());
        params.use_authority_key_identifier_extension = true;
        let certificate = params.signed_by(&key, &self.issuer)?;
        let chain = vec![certificate.der().clone(), self.certificate_der.clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((chain, key))
    }

    /// Signs a device's CSR. Only the CSR's public key is used: the subject is
    /// the device id, the usage client authentication, whatever the CSR asks.
    ///
    /// # Errors
    /// [`PkiError::InvalidCsr`] when the CSR does not parse or its signature
    /// is wrong.
    pub fn sign_device_csr(
        &self,
        csr_pem: &str,
        device_id: &str,
        validity: Duration,
    ) -> Result<IssuedCertificate, PkiError> {
        let csr = CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(|e| PkiError::InvalidCsr(e.to_string()))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(device_id);
        params.subject_alt_names = vec![SanType::URI(
            format!("urn:sobrio:device:{device_id}").try_into()?,
        )];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - BACKDATE;
        params.not_after = now + validity;
        let serial = random_serial();
        let serial_hex = crate::secret::to_hex(serial.as_ref());
        params.serial_number = Some(serial);
        params.use_authority_key_identifier_extension = true;
        let signed = CertificateSigningRequestParams {
            params,
            public_key: csr.public_key,
        }
        .signed_by(&self.issuer)?;
        let not_after_unix_ms =
            i64::try_from((now + validity).unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
        Ok(IssuedCertificate {
            certificate_pem: signed.pem(),
            serial: serial_hex,
            not_after_unix_ms,
        })
    }
}

/// The device id a verified client certificate names (its common name).
pub fn device_id_of(certificate: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate.as_ref()).ok()?;
    let common_name = parsed.subject().iter_common_name().next()?;
    common_name.as_str().ok().map(str::to_owned)
}

/// Parses every certificate of a PEM text.
/// When a certificate expires, Unix seconds; `None` if it does not parse.
pub fn not_after_unix_secs(certificate: &CertificateDer<'_>) -> Option<i64> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate.as_ref()).ok()?;
    Some(parsed.validity().not_after.timestamp())
}

pub fn pem_certificates(pem: &str) -> Vec<CertificateDer<'static>> {
    use rustls_pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .filter_map(Result::ok)
        .collect()
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "Sobrio");
    name.push(DnType::CommonName, common_name);
    name
}

fn random_serial() -> SerialNumber {
    let mut bytes = [0_u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random generator works");
    // Positive, and never starting with a zero byte (DER minimality).
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    SerialNumber::from_slice(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_certificate_names_the_device_whatever_the_csr_asks() {
        let (certificate, key) = CertificateAuthority::generate().unwrap();
        let ca = CertificateAuthority::from_pem(&certificate, &key).unwrap();
        let device_key = KeyPair::generate().unwrap();
        let mut csr_params = CertificateParams::new(vec!["evil.example".into()]).unwrap();
        csr_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let csr = csr_params
            .serialize_request(&device_key)
            .unwrap()
            .pem()
            .unwrap();
        let issued = ca
            .sign_device_csr(&csr, "0190-device", Duration::from_secs(3600))
            .unwrap();
        let der = pem_certificates(&issued.certificate_pem).remove(0);
        assert_eq!(device_id_of(&der).as_deref(), Some("0190-device"));
        let (_, parsed) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
        assert!(!parsed.is_ca());
        assert_eq!(issued.serial.len(), 32);
    }

    #[test]
    fn a_garbled_csr_is_refused() {
        let (certificate, key) = CertificateAuthority::generate().unwrap();
        let ca = CertificateAuthority::from_pem(&certificate, &key).unwrap();
        let error = ca
            .sign_device_csr("not a csr", "d", Duration::from_secs(60))
            .unwrap_err();
        assert!(matches!(error, PkiError::InvalidCsr(_)));
    }
}
