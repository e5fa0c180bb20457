//! Pseudonyms that a device cannot compute for others.
//!
//! A person's pseudonym is a verifiable oblivious pseudorandom function
//! (RFC 9497, suite ristretto255-SHA512, verifiable mode) of their
//! normalised login under a key that only the collector holds:
//!
//! 1. the agent blinds each login ([`Blinded::new`]) and sends the blinded
//!    elements (`Ingest.EvaluatePseudonyms`);
//! 2. the collector evaluates them with its key ([`PseudonymKey::evaluate`])
//!    without learning the logins, and proves with one batched DLEQ proof
//!    that it used the key whose public part every policy carries;
//! 3. the agent checks the proof, unblinds, and keeps the pseudonyms
//!    ([`Blinded::finalize`]).
//!
//! Unlike a keyed hash whose key every device holds, nobody can compute a
//! colleague's pseudonym without asking the collector, which bounds, audits
//! and rate-limits how many each device obtains. The proof keeps the
//! collector honest the other way: it cannot give one device pseudonyms
//! under another key (which would single it out).
//!
//! The pseudonym is the first 32 bytes of the VOPRF output, as 64
//! lowercase hex digits: the same shape as the keyed-hash ids before it.

use voprf::{
    BlindedElement, EvaluationElement, Group, Proof, Ristretto255, VoprfClient, VoprfServer,
};

type Suite = Ristretto255;

/// Domain separation of the key derived from the stored seed.
const KEY_INFO: &[u8] = b"sobrio.v1 pseudonyms";

/// Most logins in one evaluation (a shared device's bound is at most 50).
pub const MAX_BATCH: usize = 64;

/// What went wrong computing pseudonyms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PseudonymError {
    /// The key seed is not usable.
    Seed,
    /// The public key is not a valid ristretto255 point.
    PublicKey,
    /// Element `index` is not a valid encoding.
    Element { index: usize },
    /// No element, or more than [`MAX_BATCH`].
    BatchSize(usize),
    /// The answer holds another number of elements than were sent.
    Count { sent: usize, received: usize },
    /// The proof does not verify against the public key: the elements were
    /// not evaluated with the organisation's key.
    Proof,
    /// A login is empty or longer than 65,535 bytes.
    Login,
}

impl std::fmt::Display for PseudonymError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Seed => write!(f, "the pseudonym key seed is not usable"),
            Self::PublicKey => write!(f, "the pseudonym public key is not a ristretto255 point"),
            Self::Element { index } => write!(
                f,
                "element {index} is not a ristretto255 point in canonical encoding"
            ),
            Self::BatchSize(n) => write!(
                f,
                "{n} elements: send between 1 and {MAX_BATCH} in one evaluation"
            ),
            Self::Count { sent, received } => write!(
                f,
                "{sent} elements sent but {received} evaluated ones received"
            ),
            Self::Proof => write!(
                f,
                "the evaluation's proof does not verify against the policy's public key"
            ),
            Self::Login => write!(f, "a login is empty or too long"),
        }
    }
}

impl std::error::Error for PseudonymError {}

/// The form of a login that is pseudonymised: lower-cased, in
/// `user@domain` form when a domain is known and the login has none.
#[must_use]
pub fn normalise(login: &str, domain: Option<&str>) -> String {
    match domain {
        Some(domain) if !login.contains('@') => format!("{login}@{domain}"),
        _ => login.to_owned(),
    }
    .to_lowercase()
}

/// The collector's pseudonym key. Never leaves the collector.
pub struct PseudonymKey {
    server: VoprfServer<Suite>,
    /// Its public part, encoded once: every policy carries it.
    public_key: Vec<u8>,
}

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PseudonymKey")
            .field("public_key", &hex(&self.public_key))
            .finish_non_exhaustive()
    }
}

impl PseudonymKey {
    /// The key derived from `seed` (RFC 9497 DeriveKeyPair): the collector
    /// stores the seed, so that its replicas and restarts agree.
    ///
    /// # Errors
    /// When the seed is empty or too long.
    pub fn from_seed(seed: &[u8]) -> Result<Self, PseudonymError> {
        if seed.len() < 16 {
            return Err(PseudonymError::Seed);
        }
        let server = VoprfServer::<Suite>::new_from_seed(seed, KEY_INFO)
            .map_err(|_| PseudonymError::Seed)?;
        let public_key = Suite::serialize_elem(server.get_public_key()).to_vec();
        Ok(Self { server, public_key })
    }

    /// The public key, which policies carry (32 bytes).
    #[must_use]
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// Evaluates blinded elements; returns the evaluated elements, in order,
    /// and the batched proof.
    ///
    /// # Errors
    /// When the batch is empty or too large, or an element does not decode.
    pub fn evaluate(&self, blinded: &[Vec<u8>]) -> Result<(Vec<Vec<u8>>, Vec<u8>), PseudonymError> {
        if blinded.is_empty() || blinded.len() > MAX_BATCH {
            return Err(PseudonymError::BatchSize(blinded.len()));
        }
        let elements = blinded
            .iter()
            .enumerate()
            .map(|(index, bytes)| {
                BlindedElement::<Suite>::deserialize(bytes)
                    .map_err(|_| PseudonymError::Element { index })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let result = self
            .server
            .batch_blind_evaluate(&mut rand_core::OsRng, &elements)
            .map_err(|_| PseudonymError::BatchSize(blinded.len()))?;
        let evaluated = result
            .messages
            .iter()
            .map(|m| m.serialize().to_vec())
            .collect();
        Ok((evaluated, result.proof.serialize().to_vec()))
    }

    /// The pseudonym of `login`, computed directly (tests of the protocol).
    ///
    /// # Errors
    /// When the login is empty or too long.
    pub fn pseudonym_of(&self, login: &str) -> Result<String, PseudonymError> {
        let output = self
            .server
            .evaluate(login.as_bytes())
            .map_err(|_| PseudonymError::Login)?;
        Ok(hex(&output[..32]))
    }
}

/// Logins blinded for one evaluation, and what unblinds the answer.
pub struct Blinded {
    logins: Vec<Vec<u8>>,
    clients: Vec<VoprfClient<Suite>>,
    elements: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Blinded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blinded")
            .field("count", &self.logins.len())
            .finish_non_exhaustive()
    }
}

impl Blinded {
    /// Blinds each (already normalised) login with a fresh random scalar.
    ///
    /// # Errors
    /// When there are no logins or more than [`MAX_BATCH`], or one is empty
    /// or too long.
    pub fn new(logins: &[String]) -> Result<Self, PseudonymError> {
        if logins.is_empty() || logins.len() > MAX_BATCH {
            return Err(PseudonymError::BatchSize(logins.len()));
        }
        let mut clients = Vec::with_capacity(logins.len());
        let mut elements = Vec::with_capacity(logins.len());
        for login in logins {
            if login.is_empty() {
                return Err(PseudonymError::Login);
            }
            let blind = VoprfClient::<Suite>::blind(login.as_bytes(), &mut rand_core::OsRng)
                .map_err(|_| PseudonymError::Login)?;
            elements.push(blind.message.serialize().to_vec());
            clients.push(blind.state);
        }
        Ok(Self {
            logins: logins.iter().map(|l| l.as_bytes().to_vec()).collect(),
            clients,
            elements,
        })
    }

    /// The blinded elements to send, in the order of the logins.
    #[must_use]
    pub fn elements(&self) -> &[Vec<u8>] {
        &self.elements
    }

    /// Verifies the answer against `public_key` and unblinds it: the
    /// pseudonyms, in the order of the logins.
    ///
    /// # Errors
    /// When the answer is malformed or its proof does not verify.
    pub fn finalize(
        &self,
        evaluated: &[Vec<u8>],
        proof: &[u8],
        public_key: &[u8],
    ) -> Result<Vec<String>, PseudonymError> {
        if evaluated.len() != self.clients.len() {
            return Err(PseudonymError::Count {
                sent: self.clients.len(),
                received: evaluated.len(),
            });
        }
        let public_key =
            Suite::deserialize_elem(public_key).map_err(|_| PseudonymError::PublicKey)?;
        let messages = evaluated
            .iter()
            .enumerate()
            .map(|(index, bytes)| {
                EvaluationElement::<Suite>::deserialize(bytes)
                    .map_err(|_| PseudonymError::Element { index })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let proof = Proof::<Suite>::deserialize(proof).map_err(|_| PseudonymError::Proof)?;
        let outputs =
            VoprfClient::batch_finalize(&self.logins, &self.clients, &messages, &proof, public_key)
                .map_err(|_| PseudonymError::Proof)?;
        outputs
            .map(|output| {
                output
                    .map(|o| hex(&o[..32]))
                    .map_err(|_| PseudonymError::Login)
            })
            .collect()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> PseudonymKey {
        PseudonymKey::from_seed(&[seed; 32]).unwrap()
    }

    fn round_trip(key: &PseudonymKey, logins: &[&str]) -> Result<Vec<String>, PseudonymError> {
        let logins: Vec<String> = logins.iter().map(|l| normalise(l, None)).collect();
        let blinded = Blinded::new(&logins)?;
        let (evaluated, proof) = key.evaluate(blinded.elements())?;
        blinded.finalize(&evaluated, &proof, key.public_key())
    }

    #[test]
    fn the_oblivious_evaluation_gives_the_key_s_pseudonym_of_each_login() {
        let key = key(7);
        let ids = round_trip(&key, &["Alice", "bob"]).unwrap();
        assert_eq!(ids[0], key.pseudonym_of("alice").unwrap());
        assert_eq!(ids[1], key.pseudonym_of("bob").unwrap());
        assert_eq!(ids[0].len(), 64);
        assert!(
            ids[0]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_ne!(ids[0], ids[1]);
        // Blinding is random, the pseudonym is not: a second device agrees.
        assert_eq!(round_trip(&key, &["ALICE"]).unwrap()[0], ids[0]);
    }

    #[test]
    fn the_collector_sees_neither_the_login_nor_the_same_element_twice() {
        let login = normalise("alice", None);
        let a = Blinded::new(std::slice::from_ref(&login)).unwrap();
        let b = Blinded::new(std::slice::from_ref(&login)).unwrap();
        assert_ne!(a.elements()[0], b.elements()[0], "fresh blinding each time");
        assert_eq!(a.elements()[0].len(), 32);
        assert!(!a.elements()[0].windows(5).any(|w| w == b"alice"));
    }

    #[test]
    fn another_key_or_a_tampered_answer_fails_the_proof() {
        let (honest, other) = (key(1), key(2));
        let blinded = Blinded::new(&["alice".to_owned()]).unwrap();
        let (evaluated, proof) = other.evaluate(blinded.elements()).unwrap();
        assert_eq!(
            blinded.finalize(&evaluated, &proof, honest.public_key()),
            Err(PseudonymError::Proof)
        );
        let (mut evaluated, proof) = honest.evaluate(blinded.elements()).unwrap();
        evaluated[0] = other.evaluate(blinded.elements()).unwrap().0[0].clone();
        assert_eq!(
            blinded.finalize(&evaluated, &proof, honest.public_key()),
            Err(PseudonymError::Proof)
        );
        assert_eq!(
            blinded.finalize(&[], &proof, honest.public_key()),
            Err(PseudonymError::Count {
                sent: 1,
                received: 0
            })
        );
    }

    #[test]
    fn malformed_requests_are_refused_with_their_place() {
        let key = key(3);
        assert_eq!(key.evaluate(&[]), Err(PseudonymError::BatchSize(0)));
        let good = Blinded::new(&["alice".to_owned()]).unwrap().elements()[0].clone();
        assert_eq!(
            key.evaluate(&[good.clone(), vec![0xff; 32]]),
            Err(PseudonymError::Element { index: 1 })
        );
        assert_eq!(
            key.evaluate(&[good.clone(), vec![1; 3]]),
            Err(PseudonymError::Element { index: 1 })
        );
        assert_eq!(
            key.evaluate(&vec![good; MAX_BATCH + 1]),
            Err(PseudonymError::BatchSize(MAX_BATCH + 1))
        );
        assert_eq!(
            Blinded::new(&[String::new()]).err(),
            Some(PseudonymError::Login)
        );
        assert_eq!(
            PseudonymKey::from_seed(b"short")
                .err()
                .map(|e| e.to_string()),
            Some("the pseudonym key seed is not usable".into())
        );
    }

    #[test]
    fn the_key_follows_the_seed() {
        assert_eq!(key(9).public_key(), key(9).public_key());
        assert_ne!(key(9).public_key(), key(10).public_key());
        assert_eq!(normalise("Jean", Some("Example.ORG")), "jean@example.org");
        assert_eq!(normalise("jean@corp", Some("example.org")), "jean@corp");
    }
}
