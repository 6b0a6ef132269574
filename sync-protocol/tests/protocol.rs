//! The protocol between a simulated server and a device peer: convergence under lost,
//! duplicated and reordered messages, generations that erase what must disappear, read-only
//! section documents, intents that settle once, and the size of an incremental sync.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code.

use automerge::AutoCommit;
use automerge::sync;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use sync_protocol::items::{self, Items};
use sync_protocol::{
    DevicePeer, DocumentFrame, DocumentId, Event, Frame, Intent, IntentAction, IntentOutcome,
    OutcomeResult, Section, server,
};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Entry {
    term: String,
    date: String,
    author: String,
}

fn entry(n: usize) -> Entry {
    Entry {
        term: format!("Entry number {n} with a realistic length of clinical term text"),
        date: format!("2024-{:02}-{:02}", n % 12 + 1, n % 28 + 1),
        author: "Dr A Patel".to_owned(),
    }
}

fn items_of(range: impl Iterator<Item = usize>) -> Items {
    range
        .map(|n| (format!("item-{n}"), items::fields_of(&entry(n)).unwrap()))
        .collect()
}

/// The server side of one document for one device.
struct ServedDocument {
    id: DocumentId,
    generation: u32,
    doc: AutoCommit,
    state: sync::State,
}

impl ServedDocument {
    fn new(id: DocumentId, wanted: &Items) -> Self {
        let mut doc = AutoCommit::new();
        items::reconcile(&mut doc, wanted).unwrap();
        Self {
            id,
            generation: 0,
            doc,
            state: server::device_state(None, false),
        }
    }

    fn answer(&mut self, frame: &Frame) -> (Frame, usize) {
        let incoming = frame.documents.iter().find(|d| d.document == self.id);
        let answer = server::answer(
            self.id,
            self.generation,
            &mut self.doc,
            &mut self.state,
            false,
            incoming,
        )
        .unwrap();
        (
            Frame {
                documents: answer.frames,
                ..Frame::new()
            },
            answer.ignored_changes,
        )
    }

    /// Pushes what the device lacks since the persisted state, unprompted.
    fn push(&mut self) -> (Frame, usize) {
        self.answer(&Frame::new())
    }

    /// A new connection: the persisted state is all that survives.
    fn reconnect(&mut self) {
        self.state = server::device_state(Some(&self.state.encode()), false);
    }

    /// Starts a new generation from the currently permitted items.
    fn roll_over(&mut self, wanted: &Items) {
        self.generation += 1;
        self.doc = AutoCommit::new();
        items::reconcile(&mut self.doc, wanted).unwrap();
        self.state = server::device_state(None, false);
    }
}

/// Exchanges frames over a reliable connection until both sides are quiet.
fn settle(device: &mut DevicePeer, served: &mut ServedDocument) -> usize {
    device.reconnect();
    served.reconnect();
    let mut bytes = 0;
    for _ in 0..20 {
        let request = device.outgoing();
        let (reply, _) = served.answer(&request);
        bytes += request.encode().len() + reply.encode().len();
        let quiet = request.documents.is_empty() && reply.is_empty();
        device.receive(&reply).unwrap();
        if quiet {
            return bytes;
        }
    }
    panic!("no convergence within 20 round trips");
}

fn document() -> DocumentId {
    DocumentId::new(Uuid::from_u128(7), Section::Record)
}

#[test]
fn an_incremental_sync_after_one_new_item_is_well_under_a_kilobyte() {
    let id = document();
    let mut served = ServedDocument::new(id, &items_of(0..1500));
    let mut device = DevicePeer::new();
    device.follow(id);
    let initial = settle(&mut device, &mut served);
    assert_eq!(device.items(id).unwrap().len(), 1500);

    items::reconcile(&mut served.doc, &items_of(0..1501)).unwrap();
    let incremental = settle(&mut device, &mut served);
    assert_eq!(device.items(id).unwrap().len(), 1501);
    assert!(
        incremental < 1024,
        "incremental sync took {incremental} bytes (initial {initial})"
    );
}

#[test]
fn device_changes_to_a_server_written_document_are_ignored_and_counted() {
    let id = document();
    let mut served = ServedDocument::new(id, &items_of(0..3));
    let mut device = DevicePeer::new();
    device.follow(id);
    settle(&mut device, &mut served);

    // A compliant automerge peer never sends changes to a read-only one, so a tampered
    // client is simulated: it captures a sync message carrying its forged change (made
    // against a writable accomplice) and sends it to the server.
    use automerge::sync::SyncDoc;
    let mut forged = device.items(id).unwrap();
    forged.insert("forged".to_owned(), items::fields_of(&entry(99)).unwrap());
    let mut forger = AutoCommit::new();
    items::reconcile(&mut forger, &forged).unwrap();
    let mut accomplice = AutoCommit::new();
    let (mut forger_state, mut accomplice_state) = (sync::State::new(), sync::State::new());
    let hello = forger
        .sync()
        .generate_sync_message(&mut forger_state)
        .unwrap();
    accomplice
        .sync()
        .receive_sync_message(&mut accomplice_state, hello)
        .unwrap();
    let wants = accomplice
        .sync()
        .generate_sync_message(&mut accomplice_state)
        .unwrap();
    forger
        .sync()
        .receive_sync_message(&mut forger_state, wants)
        .unwrap();
    let with_changes = forger
        .sync()
        .generate_sync_message(&mut forger_state)
        .unwrap();
    assert!(!with_changes.changes.is_empty());
    let tampered = Frame {
        documents: vec![DocumentFrame {
            document: id,
            generation: 0,
            body: sync_protocol::DocumentBody::Sync(with_changes.encode()),
        }],
        ..Frame::new()
    };
    let (_, ignored) = served.answer(&tampered);
    assert!(ignored > 0, "the server counts what it ignored");
    assert!(
        !items::read_items(&served.doc)
            .unwrap()
            .contains_key("forged")
    );
}

#[test]
fn a_new_generation_erases_what_was_retracted_even_from_history() {
    let id = document();
    let mut wanted = items_of(0..5);
    let marker = "RETRACTED-MARKER-4b1d";
    wanted.insert(
        "retracted".to_owned(),
        items::fields_of(&Entry {
            term: marker.to_owned(),
            date: "2024-01-01".to_owned(),
            author: "x".to_owned(),
        })
        .unwrap(),
    );
    let mut served = ServedDocument::new(id, &wanted);
    let mut device = DevicePeer::new();
    device.follow(id);
    settle(&mut device, &mut served);
    assert!(device.items(id).unwrap().contains_key("retracted"));

    wanted.remove("retracted");
    served.roll_over(&wanted);
    let request = device.outgoing();
    let (reply, _) = served.answer(&request);
    let events = device.receive(&reply).unwrap();
    assert!(events.contains(&Event::Superseded(id)), "{events:?}");
    settle(&mut device, &mut served);
    assert_eq!(device.generation(id), Some(1));
    assert_eq!(device.items(id).unwrap(), wanted);
    // Nothing of generation 0 is left, not even in the new document's history.
    let saved = served.doc.save();
    assert!(!saved.windows(marker.len()).any(|w| w == marker.as_bytes()));
}

#[test]
fn intents_are_resent_until_settled_then_dropped() {
    let mut device = DevicePeer::new();
    let intent = Intent {
        key: "k-1".to_owned(),
        patient_id: Uuid::from_u128(7),
        action: IntentAction::BookAppointment {
            slot_id: Uuid::from_u128(9),
            reason: Some("Cough".to_owned()),
        },
    };
    device.queue(intent.clone());
    device.queue(intent.clone());
    assert_eq!(device.outgoing().intents, vec![intent.clone()]);
    assert_eq!(
        device.outgoing().intents,
        vec![intent],
        "re-sent until settled"
    );
    let outcome = IntentOutcome {
        key: "k-1".to_owned(),
        result: OutcomeResult::Rejected {
            code: "slot_taken".to_owned(),
        },
    };
    let reply = Frame {
        outcomes: vec![outcome.clone(), outcome.clone()],
        ..Frame::new()
    };
    let events = device.receive(&reply).unwrap();
    assert_eq!(events, vec![Event::Settled(outcome)]);
    assert!(device.outgoing().intents.is_empty());
}

#[test]
fn a_revoked_device_destroys_everything() {
    let id = document();
    let mut served = ServedDocument::new(id, &items_of(0..3));
    let mut device = DevicePeer::new();
    device.follow(id);
    settle(&mut device, &mut served);
    let events = device
        .receive(&Frame {
            revoked: true,
            ..Frame::new()
        })
        .unwrap();
    assert_eq!(events, vec![Event::Revoked]);
    assert!(device.items(id).unwrap().is_empty());
    assert_eq!(device.documents().count(), 0);
}

/// What the network does to one message.
#[derive(Debug, Clone, Copy)]
enum Fate {
    Deliver,
    Lose,
    Duplicate,
    Delay,
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        4 => Just(Fate::Deliver),
        1 => Just(Fate::Lose),
        1 => Just(Fate::Duplicate),
        1 => Just(Fate::Delay),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// Server updates interleaved with a faulty network (lost, duplicated, reordered frames in
    /// both directions) always converge once a clean connection follows.
    #[test]
    fn converges_despite_lost_duplicated_and_reordered_messages(
        updates in proptest::collection::vec((0usize..40, 0usize..40), 1..6),
        fates in proptest::collection::vec(fate(), 10..60),
    ) {
        let id = document();
        let mut wanted = items_of(0..10);
        let mut served = ServedDocument::new(id, &wanted);
        let mut device = DevicePeer::new();
        device.follow(id);
        let mut fates = fates.into_iter().cycle();
        let mut delayed_to_server: Vec<Frame> = Vec::new();
        let mut delayed_to_device: Vec<Frame> = Vec::new();
        for (add, remove) in updates {
            wanted.insert(format!("item-{}", 100 + add), items::fields_of(&entry(100 + add)).unwrap());
            wanted.remove(&format!("item-{remove}"));
            items::reconcile(&mut served.doc, &wanted).unwrap();
            for _ in 0..4 {
                let request = device.outgoing();
                let mut to_server = Vec::new();
                match fates.next().unwrap_or(Fate::Deliver) {
                    Fate::Deliver => to_server.push(request),
                    Fate::Lose => {}
                    Fate::Duplicate => { to_server.push(request.clone()); to_server.push(request); }
                    Fate::Delay => delayed_to_server.push(request),
                }
                if !delayed_to_server.is_empty() && to_server.len() == 1 {
                    to_server.append(&mut delayed_to_server);
                }
                for frame in to_server {
                    let (reply, _) = served.answer(&frame);
                    match fates.next().unwrap_or(Fate::Deliver) {
                        Fate::Deliver => { device.receive(&reply).unwrap(); }
                        Fate::Lose => {}
                        Fate::Duplicate => { device.receive(&reply).unwrap(); device.receive(&reply).unwrap(); }
                        Fate::Delay => delayed_to_device.push(reply),
                    }
                    for late in delayed_to_device.drain(..) {
                        device.receive(&late).unwrap();
                    }
                }
            }
        }
        settle(&mut device, &mut served);
        prop_assert_eq!(device.items(id).unwrap(), wanted);
    }
}

#[test]
fn frames_carry_only_the_document_the_device_follows() {
    let id = document();
    let other = DocumentId::new(Uuid::from_u128(8), Section::Results);
    let mut device = DevicePeer::new();
    device.follow(id);
    let frame = device.outgoing();
    assert!(
        frame
            .documents
            .iter()
            .all(|d: &DocumentFrame| d.document == id)
    );
    assert!(!frame.documents.iter().any(|d| d.document == other));
}

#[test]
fn an_up_to_date_device_is_answered_nothing() {
    let id = document();
    let mut served = ServedDocument::new(id, &items_of(0..50));
    let mut device = DevicePeer::new();
    device.follow(id);
    settle(&mut device, &mut served);
    // A new connection from both sides' persisted states: the device knows its copy is in
    // sync, so its frame is empty ("anything new?") and the server has nothing to say.
    device.reconnect();
    served.reconnect();
    let request = device.outgoing();
    assert!(request.is_empty(), "{request:?}");
    let (reply, _) = served.answer(&request);
    assert!(reply.is_empty(), "{reply:?}");

    // A peer that names its heads from its persisted state, as automerge does by default, is
    // answered nothing too: they are the server's.
    use automerge::sync::SyncDoc;
    let mut copy = device.document(id).unwrap().clone();
    let mut state = sync::State::new();
    state.shared_heads = copy.get_heads();
    let message = copy.sync().generate_sync_message(&mut state).unwrap();
    assert_eq!(message.heads, copy.get_heads());
    served.reconnect();
    let (reply, _) = served.answer(&Frame {
        documents: vec![DocumentFrame {
            document: id,
            generation: 0,
            body: sync_protocol::DocumentBody::Sync(message.encode()),
        }],
        ..Frame::new()
    });
    assert!(reply.is_empty(), "{reply:?}");
}

#[test]
fn a_push_carries_the_change_in_one_frame_and_the_acknowledgement_ends_it() {
    let id = document();
    let mut served = ServedDocument::new(id, &items_of(0..1500));
    let mut device = DevicePeer::new();
    device.follow(id);
    settle(&mut device, &mut served);

    // Nothing changed: a push from the persisted state says nothing.
    served.reconnect();
    let (nothing, _) = served.push();
    assert!(nothing.is_empty(), "{nothing:?}");

    items::reconcile(&mut served.doc, &items_of(0..1501)).unwrap();
    served.reconnect();
    let (push, _) = served.push();
    assert_eq!(push.documents.len(), 1, "one document frame down");
    let events = device.receive(&push).unwrap();
    assert_eq!(events, vec![Event::Changed(id)]);
    assert_eq!(
        device.items(id).unwrap().len(),
        1501,
        "the push carried the change"
    );
    let acknowledgement = device.outgoing();
    let (reply, _) = served.answer(&acknowledgement);
    assert!(reply.is_empty(), "the acknowledgement ends it: {reply:?}");
    assert!(device.outgoing().is_empty());
    let bytes = push.encode().len() + acknowledgement.encode().len();
    // Measured: 361 B down (about 220 B of them the item's change) and 174 B up.
    assert!(
        bytes < 600,
        "push and acknowledgement took {bytes} bytes ({} + {})",
        push.encode().len(),
        acknowledgement.encode().len()
    );
}

#[test]
fn a_new_device_after_a_rollover_gets_the_current_generation_directly() {
    let id = document();
    let wanted = items_of(0..20);
    let mut served = ServedDocument::new(id, &wanted);
    served.roll_over(&wanted);
    served.roll_over(&wanted);
    let mut device = DevicePeer::new();
    device.follow(id);
    let request = device.outgoing();
    let (reply, _) = served.answer(&request);
    assert!(
        reply
            .documents
            .iter()
            .all(|d| matches!(d.body, sync_protocol::DocumentBody::Sync(_))),
        "no supersede notice for an empty copy: {reply:?}"
    );
    let events = device.receive(&reply).unwrap();
    assert_eq!(events, vec![Event::Changed(id)]);
    assert_eq!(device.generation(id), Some(2));
    assert_eq!(device.items(id).unwrap(), wanted, "in one round trip");
}

#[test]
fn a_device_that_edited_a_read_only_document_starts_again_and_goes_quiet() {
    use automerge::sync::SyncDoc;
    let id = document();
    let wanted = items_of(0..5);
    let mut served = ServedDocument::new(id, &wanted);
    // A non-compliant device: a bare automerge document that edits what it was given.
    let mut doc = AutoCommit::new();
    let mut state = sync::State::new();
    let mut exchange = |doc: &mut AutoCommit, state: &mut sync::State| -> (usize, Vec<String>) {
        let mut codes = Vec::new();
        for round in 0..10 {
            let mut request = Frame::new();
            if let Some(message) = doc.sync().generate_sync_message(state) {
                request.documents.push(DocumentFrame {
                    document: id,
                    generation: 0,
                    body: sync_protocol::DocumentBody::Sync(message.encode()),
                });
            }
            let (reply, _) = served.answer(&request);
            if request.is_empty() && reply.is_empty() {
                return (round, codes);
            }
            for frame in reply.documents {
                match frame.body {
                    sync_protocol::DocumentBody::Rejected { code } => {
                        codes.push(code);
                        *doc = AutoCommit::new();
                        *state = sync::State::new();
                    }
                    sync_protocol::DocumentBody::Sync(bytes) => doc
                        .sync()
                        .receive_sync_message(state, sync::Message::decode(&bytes).unwrap())
                        .unwrap(),
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        panic!("no quiescence within 10 rounds");
    };
    exchange(&mut doc, &mut state);
    let mut edited = items::read_items(&doc).unwrap();
    edited.insert("mine".to_owned(), items::fields_of(&entry(77)).unwrap());
    items::reconcile(&mut doc, &edited).unwrap();
    let (rounds, codes) = exchange(&mut doc, &mut state);
    assert_eq!(codes, vec![server::READ_ONLY.to_owned()]);
    assert!(rounds <= 3, "quiet after {rounds} rounds");
    assert_eq!(
        items::read_items(&doc).unwrap(),
        wanted,
        "the server's copy again"
    );
}
