//! The pseudonyms of the people who use this device.
//!
//! A person's pseudonym is computed with the collector, obliviously
//! ([`sobrio_proto::pseudonym`]): the agent sends their login blinded, the
//! collector evaluates it without seeing it, and the agent verifies the
//! answer against the policy's public key. The agent keeps what it obtained
//! here (in the state directory, readable by the agent only), so that it
//! asks once per person: the collector gives each device only its bound of
//! people in 28 days.
//!
//! Collectors before oblivious pseudonyms sent a key with which devices
//! hashed logins. When the policy stops carrying that key, the agent keeps
//! it for 28 days and sends, with its reports, a link from each person's
//! earlier pseudonym to their new one, so that their history follows them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sobrio_proto::pseudonym::normalise;
use sobrio_proto::v1::{Policy, PseudonymLink};

/// How long an earlier key's links are sent.
pub const LEGACY_LINKS_MS: i64 = 28 * 86_400_000;
/// How long after a refusal a person's pseudonym is asked again (IT may
/// have raised the device's bound).
pub const RETRY_REFUSED_MS: i64 = 86_400_000;

/// How a person's rows can be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pseudonym {
    /// Under this pseudonym.
    Known(String),
    /// Not at all: the collector refused their pseudonym (the device's
    /// bound of people is reached); their days are not reported.
    Refused,
    /// Not yet: their pseudonym is still to be obtained; their days wait.
    Pending,
}

/// What the agent knows of its people's pseudonyms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PseudonymBook {
    /// The public key (hex) the pseudonyms were verified against; under
    /// another key they are obtained again.
    #[serde(default)]
    public_key: String,
    /// Normalised login → pseudonym.
    #[serde(default)]
    people: BTreeMap<String, String>,
    /// Normalised login → when the collector refused it (Unix ms).
    #[serde(default)]
    refused: BTreeMap<String, i64>,
    /// The earlier collectors' hashing key, while its links are sent.
    #[serde(default)]
    legacy: Option<LegacyKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LegacyKey {
    /// Hex.
    key: String,
    /// When the policy stopped carrying it (Unix ms).
    retired_unix_ms: i64,
}

impl PseudonymBook {
    /// How `login`'s rows can be sent under `policy`. A policy from a
    /// collector before oblivious pseudonyms carries a hashing key instead
    /// of a public key: its pseudonyms are computed here, as it expects.
    #[must_use]
    pub fn resolve(&self, policy: &Policy, login: &str, now_unix_ms: i64) -> Pseudonym {
        let name = normalise(login, None);
        if policy.pseudonym_public_key.is_empty() {
            return if policy.pseudonym_key.is_empty() {
                Pseudonym::Pending
            } else {
                Pseudonym::Known(keyed_hash(&policy.pseudonym_key, &name))
            };
        }
        if self.public_key != hex(&policy.pseudonym_public_key) {
            return Pseudonym::Pending;
        }
        if let Some(id) = self.people.get(&name) {
            return Pseudonym::Known(id.clone());
        }
        match self.refused.get(&name) {
            Some(at) if now_unix_ms - at < RETRY_REFUSED_MS => Pseudonym::Refused,
            _ => Pseudonym::Pending,
        }
    }

    /// The normalised logins among `logins` whose pseudonyms are to be
    /// asked for now, at most `max`.
    #[must_use]
    pub fn to_ask<'a>(
        &self,
        policy: &Policy,
        logins: impl IntoIterator<Item = &'a str>,
        now_unix_ms: i64,
        max: usize,
    ) -> Vec<String> {
        if policy.pseudonym_public_key.is_empty() {
            return Vec::new();
        }
        let mut ask: Vec<String> = logins
            .into_iter()
            .filter(|login| self.resolve(policy, login, now_unix_ms) == Pseudonym::Pending)
            .map(|login| normalise(login, None))
            .collect();
        ask.sort();
        ask.dedup();
        ask.truncate(max);
        ask
    }

    /// Keeps pseudonyms verified against `public_key`; those verified
    /// against another key are forgotten.
    pub fn learn(&mut self, public_key: &[u8], logins: &[String], ids: Vec<String>) {
        let public_key = hex(public_key);
        if self.public_key != public_key {
            self.people.clear();
            self.refused.clear();
            self.public_key = public_key;
        }
        for (login, id) in logins.iter().zip(ids) {
            self.refused.remove(login);
            self.people.insert(login.clone(), id);
        }
    }

    /// Notes that the collector refused these logins' pseudonyms.
    pub fn refuse(&mut self, public_key: &[u8], logins: &[String], now_unix_ms: i64) {
        let public_key = hex(public_key);
        if self.public_key != public_key {
            self.people.clear();
            self.refused.clear();
            self.public_key = public_key;
        }
        for login in logins {
            self.refused.insert(login.clone(), now_unix_ms);
        }
    }

    /// Called when a new policy replaces `previous`: when the earlier
    /// policy carried a hashing key and the new one does not, the key is
    /// kept for the links.
    pub fn policy_replaced(&mut self, previous: Option<&Policy>, new: &Policy, now_unix_ms: i64) {
        if let Some(previous) = previous
            && !previous.pseudonym_key.is_empty()
            && new.pseudonym_key.is_empty()
            && self.legacy.is_none()
        {
            self.legacy = Some(LegacyKey {
                key: hex(&previous.pseudonym_key),
                retired_unix_ms: now_unix_ms,
            });
        }
    }

    /// Links from each known person's earlier pseudonym to their current
    /// one, while the earlier key's links are sent; forgets the key after.
    pub fn links(&mut self, now_unix_ms: i64) -> Vec<PseudonymLink> {
        let Some(legacy) = &self.legacy else {
            return Vec::new();
        };
        if now_unix_ms - legacy.retired_unix_ms > LEGACY_LINKS_MS {
            self.legacy = None;
            return Vec::new();
        }
        let Some(key) = unhex(&legacy.key) else {
            self.legacy = None;
            return Vec::new();
        };
        self.people
            .iter()
            .map(|(login, id)| PseudonymLink {
                previous_id: keyed_hash(&key, login),
                person_id: id.clone(),
            })
            .collect()
    }
}

/// The pseudonym collectors before oblivious pseudonyms expected:
/// HMAC-SHA256 of the normalised login with the key they sent, hex.
#[must_use]
pub fn keyed_hash(key: &[u8], normalised_login: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    hex(ring::hmac::sign(&key, normalised_login.as_bytes()).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    text.len()
        .is_multiple_of(2)
        .then(|| {
            (0..text.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
                .collect()
        })
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy_with(public_key: &[u8]) -> Policy {
        Policy {
            pseudonym_public_key: public_key.to_vec(),
            ..Policy::default()
        }
    }

    #[test]
    fn a_person_is_pending_until_learned_and_refusals_are_retried_a_day_later() {
        let policy = policy_with(b"public key one");
        let mut book = PseudonymBook::default();
        assert_eq!(book.resolve(&policy, "Alice", 0), Pseudonym::Pending);
        assert_eq!(
            book.to_ask(&policy, ["Alice", "alice", "bob"], 0, 10),
            vec!["alice".to_owned(), "bob".to_owned()]
        );
        book.learn(b"public key one", &["alice".into()], vec!["a".repeat(64)]);
        book.refuse(b"public key one", &["bob".into()], 1_000);
        assert_eq!(
            book.resolve(&policy, "ALICE", 0),
            Pseudonym::Known("a".repeat(64))
        );
        assert_eq!(book.resolve(&policy, "bob", 2_000), Pseudonym::Refused);
        assert!(book.to_ask(&policy, ["alice", "bob"], 2_000, 10).is_empty());
        assert_eq!(
            book.to_ask(&policy, ["alice", "bob"], 1_000 + RETRY_REFUSED_MS, 10),
            vec!["bob".to_owned()]
        );
        // Another collector key: everything is asked again.
        let other = policy_with(b"public key two");
        assert_eq!(book.resolve(&other, "alice", 0), Pseudonym::Pending);
        book.learn(b"public key two", &["carol".into()], vec!["c".repeat(64)]);
        assert_eq!(book.resolve(&other, "alice", 0), Pseudonym::Pending);
    }

    #[test]
    fn an_earlier_collector_s_key_gives_the_hash_it_expects() {
        let policy = Policy {
            pseudonym_key: b"organisation key".to_vec(),
            ..Policy::default()
        };
        let book = PseudonymBook::default();
        assert_eq!(
            book.resolve(&policy, "Alice", 0),
            Pseudonym::Known(keyed_hash(b"organisation key", "alice"))
        );
        assert!(book.to_ask(&policy, ["alice"], 0, 10).is_empty());
        assert_eq!(
            PseudonymBook::default().resolve(&Policy::default(), "alice", 0),
            Pseudonym::Pending,
            "no policy key at all: wait"
        );
    }

    #[test]
    fn links_follow_the_retired_key_for_28_days() {
        let old = Policy {
            pseudonym_key: b"organisation key".to_vec(),
            ..Policy::default()
        };
        let new = policy_with(b"public key");
        let mut book = PseudonymBook::default();
        book.policy_replaced(Some(&old), &new, 1_000);
        book.learn(b"public key", &["alice".into()], vec!["a".repeat(64)]);
        let links = book.links(2_000);
        assert_eq!(links.len(), 1);
        assert_eq!(
            links[0].previous_id,
            keyed_hash(b"organisation key", "alice")
        );
        assert_eq!(links[0].person_id, "a".repeat(64));
        // A later policy change keeps the first retirement time.
        book.policy_replaced(Some(&new), &new, 5_000);
        assert_eq!(book.links(1_000 + LEGACY_LINKS_MS).len(), 1);
        assert!(book.links(1_001 + LEGACY_LINKS_MS).is_empty());
        assert!(book.legacy.is_none(), "the key is forgotten");
        let json = serde_json::to_string(&book).unwrap();
        assert!(!json.contains(&hex(b"organisation key")));
    }
}
