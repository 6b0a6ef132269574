//! Receiving a peer's sync message so that a change the peer asks for again is sent again.
//!
//! automerge does not send a change twice in one session (`State::sent_hashes`), trusting the
//! peer to keep a change whose dependencies have not arrived yet. The server keeps no such
//! queue between requests: it loads the stored document for each frame, so a change that came
//! before its dependencies (a bloom filter's false positive made the device hold one back) is
//! dropped, and the server asks for it again in `need`. Without forgetting that it was sent,
//! the device would never send it again and the two would exchange the same messages for
//! ever. Both halves (the server's and the device's) receive through [`receive`].

use automerge::sync::{self, SyncDoc};
use automerge::{AutoCommit, AutomergeError};

/// Applies `message` to `doc` and `state`, then forgets having sent any change the peer says
/// it still needs, so the next message carries it again.
pub(crate) fn receive(
    doc: &mut AutoCommit,
    state: &mut sync::State,
    message: sync::Message,
) -> Result<(), AutomergeError> {
    doc.sync().receive_sync_message(state, message)?;
    if let Some(need) = &state.their_need {
        for hash in need {
            state.sent_hashes.remove(hash);
        }
    }
    Ok(())
}
