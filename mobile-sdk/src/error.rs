//! The SDK's one public error: few variants an app can act on, and messages that never carry
//! personal data (no item contents, names or tokens; at most a server's stable code or the
//! kind of failure).

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum SdkError {
    /// The server could not be reached (or answered "try again later"); nothing was lost.
    #[error("network: {reason}")]
    Network {
        /// The kind of failure (no personal data).
        reason: String,
    },
    /// Not signed in, or the sign-in ceremony failed: sign in again.
    #[error("unauthorised")]
    Unauthorised,
    /// The session ended for good (the device was revoked, signed out elsewhere, or a refresh
    /// token was reused): the store has been wiped.
    #[error("revoked")]
    Revoked,
    /// The server refused the request with a stable code (`slot_taken`, `not_found`, …).
    #[error("refused: {code}")]
    Refused {
        /// The server's stable problem code.
        code: String,
    },
    /// The local store could not be read or written (or the host key does not open it).
    #[error("storage: {reason}")]
    Storage {
        /// The kind of failure (no personal data).
        reason: String,
    },
    /// Anything else: bad input to the SDK, an unexpected answer.
    #[error("{reason}")]
    Other {
        /// What happened (no personal data).
        reason: String,
    },
}

impl SdkError {
    /// A storage failure.
    pub(crate) fn storage(reason: impl std::fmt::Display) -> Self {
        Self::Storage {
            reason: reason.to_string(),
        }
    }

    /// Any other failure.
    pub(crate) fn other(reason: impl std::fmt::Display) -> Self {
        Self::Other {
            reason: reason.to_string(),
        }
    }

    /// A network failure.
    pub(crate) fn network(reason: impl std::fmt::Display) -> Self {
        Self::Network {
            reason: reason.to_string(),
        }
    }
}

impl From<std::io::Error> for SdkError {
    fn from(error: std::io::Error) -> Self {
        // An io::Error names a kind and at most a path inside the store, whose file names are
        // random.
        Self::storage(error.kind())
    }
}

impl From<reqwest::Error> for SdkError {
    fn from(error: reqwest::Error) -> Self {
        // reqwest's message may name the URL; the kind is enough.
        let reason = if error.is_timeout() {
            "timeout"
        } else if error.is_connect() {
            "connect"
        } else if error.is_decode() {
            "decode"
        } else {
            "request"
        };
        Self::network(reason)
    }
}

/// The SDK's result.
pub type Result<T, E = SdkError> = std::result::Result<T, E>;
