//! Lifecycles the collector enforces, as rules over values: when an
//! enrollment token still enrolls a device, and how a suggestion's status
//! may change. No I/O and no clock: the time is a parameter.

use crate::domain::rfc3339;

/// Why an enrollment token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    #[error("enrollment token not recognised: ask IT for a valid token")]
    Unknown,
    #[error("enrollment token expired at {expired_at}: ask IT for a new one")]
    Expired { expired_at: String },
    #[error("enrollment token used up ({max_uses} of {max_uses} uses): ask IT for a new one")]
    UsedUp { max_uses: i64 },
    #[error("enrollment token was revoked: ask IT for a new one")]
    Revoked,
}

/// What decides whether a known enrollment token still enrolls a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenState {
    pub expires_unix_ms: i64,
    /// `None`: unlimited.
    pub max_uses: Option<i64>,
    /// Devices enrolled with it so far.
    pub uses: i64,
    pub revoked: bool,
}

/// Why a known token cannot enroll a device at `now_unix_ms`; `None` when
/// it can. A revoked token is refused first, then one that expired at or
/// before `now_unix_ms`, then one whose uses reached its maximum.
#[must_use]
pub fn token_refusal(token: &TokenState, now_unix_ms: i64) -> Option<TokenRefusal> {
    if token.revoked {
        return Some(TokenRefusal::Revoked);
    }
    if token.expires_unix_ms <= now_unix_ms {
        return Some(TokenRefusal::Expired {
            expired_at: rfc3339(token.expires_unix_ms),
        });
    }
    match token.max_uses {
        Some(max_uses) if token.uses >= max_uses => Some(TokenRefusal::UsedUp { max_uses }),
        _ => None,
    }
}

/// Whether a suggestion's status may change from `from` to `to`: open →
/// accepted → done, or dismissed from open or accepted; a done suggestion
/// may be undone (back to accepted, with a reason: its avoided figures are
/// reversed in the ledger). Nothing leaves dismissed.
#[must_use]
pub fn transition_allowed(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("open", "accepted" | "dismissed")
            | ("accepted", "done" | "dismissed")
            | ("done", "accepted")
    )
}

/// Whether a suggestion's change from `from` to `to` lacks the reason it
/// needs: a dismissal, or undoing a suggestion done, needs one, and a blank
/// reason is none.
#[must_use]
pub fn reason_missing(from: &str, to: &str, reason: &str) -> bool {
    (to == "dismissed" || from == "done") && reason.trim().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-16 00:00 UTC.
    const NOW: i64 = 1_794_787_200_000;

    fn live() -> TokenState {
        TokenState {
            expires_unix_ms: NOW + 1,
            max_uses: Some(2),
            uses: 1,
            revoked: false,
        }
    }

    #[test]
    fn a_live_token_enrolls() {
        assert_eq!(token_refusal(&live(), NOW), None);
    }

    #[test]
    fn a_revoked_token_is_refused_whatever_else_holds() {
        let revoked = TokenState {
            revoked: true,
            ..live()
        };
        assert_eq!(token_refusal(&revoked, NOW), Some(TokenRefusal::Revoked));
        let revoked_expired_used_up = TokenState {
            expires_unix_ms: NOW,
            uses: 2,
            revoked: true,
            ..live()
        };
        assert_eq!(
            token_refusal(&revoked_expired_used_up, NOW),
            Some(TokenRefusal::Revoked)
        );
    }

    #[test]
    fn a_token_expires_at_its_expiry_time_not_after() {
        let token = live();
        assert_eq!(token_refusal(&token, token.expires_unix_ms - 1), None);
        assert_eq!(
            token_refusal(&token, token.expires_unix_ms),
            Some(TokenRefusal::Expired {
                expired_at: "2026-11-16T00:00:00.001Z".into()
            })
        );
        assert!(matches!(
            token_refusal(&token, token.expires_unix_ms + 1),
            Some(TokenRefusal::Expired { .. })
        ));
    }

    #[test]
    fn an_expired_token_is_refused_as_expired_before_used_up() {
        let token = TokenState {
            expires_unix_ms: NOW,
            uses: 2,
            ..live()
        };
        assert!(matches!(
            token_refusal(&token, NOW),
            Some(TokenRefusal::Expired { .. })
        ));
    }

    #[test]
    fn a_token_is_used_up_once_its_uses_reach_the_maximum() {
        let at = |uses| TokenState { uses, ..live() };
        assert_eq!(token_refusal(&at(1), NOW), None);
        assert_eq!(
            token_refusal(&at(2), NOW),
            Some(TokenRefusal::UsedUp { max_uses: 2 })
        );
        assert_eq!(
            token_refusal(&at(3), NOW),
            Some(TokenRefusal::UsedUp { max_uses: 2 })
        );
    }

    #[test]
    fn a_token_without_maximum_is_never_used_up() {
        let token = TokenState {
            max_uses: None,
            uses: i64::MAX,
            ..live()
        };
        assert_eq!(token_refusal(&token, NOW), None);
    }

    #[test]
    fn suggestions_go_from_open_to_accepted_to_done_or_to_dismissed() {
        let statuses = ["open", "accepted", "done", "dismissed"];
        let allowed = [
            ("open", "accepted"),
            ("open", "dismissed"),
            ("accepted", "done"),
            ("accepted", "dismissed"),
            ("done", "accepted"),
        ];
        for from in statuses {
            for to in statuses {
                assert_eq!(
                    transition_allowed(from, to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
        assert!(!transition_allowed("open", "reopened"));
        assert!(!transition_allowed("unknown", "accepted"));
    }

    #[test]
    fn a_dismissal_needs_a_reason_and_nothing_else_does() {
        assert!(reason_missing("open", "dismissed", ""));
        assert!(reason_missing("accepted", "dismissed", " \t\n"));
        assert!(!reason_missing("open", "dismissed", "already ordered"));
        assert!(!reason_missing("open", "accepted", ""));
        assert!(!reason_missing("accepted", "done", " "));
        // Undoing a suggestion done needs one too.
        assert!(reason_missing("done", "accepted", ""));
        assert!(!reason_missing("done", "accepted", "not done after all"));
    }

    #[test]
    fn an_expiry_shows_its_time_in_rfc3339_utc() {
        assert_eq!(rfc3339(NOW), "2026-11-16T00:00:00Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(NOW + 250), "2026-11-16T00:00:00.25Z");
        assert_eq!(rfc3339(i64::MAX), i64::MAX.to_string());
    }
}
